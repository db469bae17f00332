//! `sockc bench`'s rule-set table: -O0 against -O2 on each rule set ([`Case`]), with
//! a baseline row.
//!
//! Per rule set and level: compile time (median of several compiles), bytecode and
//! xlated instruction counts, verifier load time, map memory, and the kernel-measured
//! cost per packet (`BPF_PROG_TEST_RUN` with a large repeat, median of several runs)
//! for the case's early, late and never-matching packets. The baseline row is the
//! header parse plus one LPM lookup (and the counter update every program does):
//! [`baseline_source`] over the case's destination prefixes, compiled at -O0.
//! Figures are printed as a Markdown table, then ratios within this run.
//!
//! For `-O2` rows three more columns: the whole `sockc compile FILE -o OUT` process
//! (the running binary, `sockc`, as a child, median of 5: parse, check, lints,
//! classify, lower, write), the node reads of the classifier walks on the slowest path
//! (each trie's unrolled steps, summed over the program's classifiers; the walk's
//! depth, whatever the packet), and one rule changed in the middle of the first
//! classified run (its action flipped): the time to switch the loaded object's tables
//! in place (`table_update::switch_loaded`, counters of new rules zeroed), with the
//! refit and plan time in brackets, or the path the plan takes when it is not in place.

use std::time::Instant;

use aya_obj::generated::bpf_map_type;
use sockc_compiler::{ir::Step, opt::OptLevel, Compiled};
use sockc_runtime::LoadedObject;
use sockc_testkit::packet::PacketSpec;

use crate::{
    cases::{baseline_source, case_name, Case, Family},
    measure::{compile, kernel_ns, median, TestRuns},
};

#[derive(Default, Clone)]
struct Row {
    compile_ms: f64,
    insns: usize,
    xlated: Option<u32>,
    load_ms: Option<f64>,
    map_kib: f64,
    ns: Vec<Option<f64>>,
    error: Option<String>,
    /// -O2 only: whole-process compile ms, node reads (tries), one-rule update.
    process_ms: Option<f64>,
    reads: Option<String>,
    update: Option<String>,
}

/// One row of the table: a rule set at one level (-O0, -O2, baseline).
pub struct Measured {
    case: String,
    rules: usize,
    level: &'static str,
    row: Row,
}

/// The table and its ratios for `cases` (nothing without cases), printed as it goes,
/// and returned with the rows behind it (for [`csv`] and [`svg`]).
pub fn table(cases: &[Case], runs: TestRuns) -> (String, Vec<Measured>) {
    let mut measured = Vec::new();
    if cases.is_empty() {
        return (String::new(), measured);
    }
    let mut out = String::from(
        "| set | rules | level | compile ms | insns | xlated | load ms | maps KiB | early ns | late ns | never ns | process ms | node reads (tries) | 1-rule update ms (refit+plan) |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    print!("{out}");
    let mut summary = Vec::new();
    for case in cases {
        let mut rows = Vec::new();
        for (label, level, src) in [
            ("-O0", OptLevel::O0, case.source.clone()),
            ("-O2", OptLevel::O2, case.source.clone()),
            (
                "baseline",
                OptLevel::O0,
                baseline_source(&case.dsts, case.family),
            ),
        ] {
            let row = measure(&src, level, &case.packets, runs, label == "-O2");
            let line = format_row(&case.name, case.rules, label, &row);
            print!("{line}");
            out.push_str(&line);
            measured.push(Measured {
                case: case.name.clone(),
                rules: case.rules,
                level: label,
                row: row.clone(),
            });
            rows.push(row);
        }
        summary.push((case.name.clone(), rows));
    }
    let ratios = ratios(&summary);
    print!("{ratios}");
    out.push_str(&ratios);
    (out, measured)
}

/// The table's figures as CSV, one line per row: no thousands separators, an empty
/// field where the Markdown says `n/a` or `?`, the refusal in the last column.
pub fn csv(measured: &[Measured]) -> String {
    let mut out = String::from(
        "set,rules,level,compile_ms,insns,xlated,load_ms,map_kib,early_ns,late_ns,never_ns,error\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
    for m in measured {
        let r = &m.row;
        let ns = |i: usize| opt(r.ns.get(i).copied().flatten());
        // The refusal is free text: quoted, its quotes doubled (RFC 4180).
        let error = r
            .error
            .as_ref()
            .map_or(String::new(), |e| format!("\"{}\"", e.replace('"', "\"\"")));
        out.push_str(&format!(
            "{},{},{},{:.3},{},{},{},{:.1},{},{},{},{error}\n",
            m.case,
            m.rules,
            m.level,
            r.compile_ms,
            r.insns,
            r.xlated.map_or(String::new(), |x| x.to_string()),
            opt(r.load_ms),
            r.map_kib,
            ns(0),
            ns(1),
            ns(2),
        ));
    }
    out
}

/// The late packet's kernel-measured ns against rule count, a line per rule set
/// (ClassBench seed and family) and level, written as SVG to `path`.
pub fn svg(measured: &[Measured], path: &std::path::Path) -> Result<(), String> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for m in measured {
        let label = format!("{} {}", set_of(&m.case), m.level);
        let point = (
            m.rules as f64,
            m.row.ns.get(1).copied().flatten().unwrap_or(f64::NAN),
        );
        match series.iter_mut().find(|(l, _)| *l == label) {
            Some((_, pts)) => pts.push(point),
            None => series.push((label, vec![point])),
        }
    }
    let labels = crate::plot::Labels {
        caption: "Kernel-measured cost of the late packet (BPF_PROG_TEST_RUN at XDP)",
        x: "rules",
        y: "ns per packet",
    };
    crate::plot::log_log(path, &labels, &series)
}

/// A case's rule set without its size: `acl1_1000 IPv6` is `acl1 IPv6`.
fn set_of(case: &str) -> String {
    match case.split_once('_') {
        Some((set, rest)) => format!(
            "{set}{}",
            rest.trim_start_matches(|c: char| c.is_ascii_digit())
        ),
        None => case.to_string(),
    }
}

/// One row: `src` compiled at `level` (median of three compiles), loaded, and timed
/// on each packet; with `extra` (the -O2 rows) the three more columns.
fn measure(
    src: &str,
    level: OptLevel,
    packets: &[(&str, Option<PacketSpec>)],
    runs: TestRuns,
    extra: bool,
) -> Row {
    let mut row = Row::default();
    let mut times = Vec::new();
    let mut compiled = None;
    for _ in 0..3 {
        let t = Instant::now();
        match compile(src, level) {
            Ok(c) => compiled = Some(c),
            Err(e) => {
                row.error = Some(e);
                return row;
            }
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let c = compiled.expect("compiled three times");
    row.compile_ms = median(times);
    row.insns = c.programs.iter().map(|p| p.code.insns.len()).sum();
    row.map_kib = map_kib(&c);
    let obj = match c.to_elf() {
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
        Ok(elf) => match LoadedObject::load(&elf) {
            Ok(o) => o,
            Err(e) => {
                row.error = Some(refusal(&e.to_string()));
                return row;
            }
        },
    };
    let p = &obj.programs()[0];
    row.xlated = p.xlated_insns;
    row.load_ms = Some(p.load_time.as_secs_f64() * 1e3);
    let symbol = p.symbol.clone();
    for (_, pkt) in packets {
        let ns = pkt
            .as_ref()
            .map(|pkt| kernel_ns(&obj, &symbol, &pkt.build(), runs));
        row.ns.push(ns);
    }
    if extra {
        row.process_ms = process_compile_ms(src);
        row.reads = node_reads(&c);
        row.update = Some(one_rule_update(src, &c, &obj));
    }
    row
}

/// The memory of the program's maps in KiB, as the kernel allocates it.
fn map_kib(c: &Compiled) -> f64 {
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    c.maps
        .iter()
        .map(|m| {
            let per = f64::from(m.key.size() + m.value.size()) * f64::from(m.max_entries);
            if m.map_type == bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32 {
                per * ncpu
            } else if m.map_type == bpf_map_type::BPF_MAP_TYPE_ARRAY as u32 {
                // Classifier tables (both halves) and the live-half word, as allocated.
                f64::from(m.value.size().next_multiple_of(8)) * f64::from(m.max_entries)
            } else {
                // Sets: the tries are not preallocated; count the entries inserted.
                let n = c
                    .metadata
                    .map_contents
                    .iter()
                    .find(|mc| mc.map == m.name)
                    .map_or(0, |mc| mc.entries.len());
                f64::from(m.key.size() + m.value.size()) * n as f64
            }
        })
        .sum::<f64>()
        / 1024.0
}

/// A load failure as a table cell: the verifier's last line that says why, cut short.
fn refusal(text: &str) -> String {
    let reason = text
        .lines()
        .rev()
        .find(|l| {
            let l = l.trim();
            !l.is_empty()
                && !l.starts_with("verification time")
                && !l.starts_with("processed ")
                && !l.starts_with("verifier log")
        })
        .unwrap_or(text);
    format!("verifier: {}", reason.chars().take(60).collect::<String>())
}

/// The whole `sockc compile FILE -o OUT` process, median of 5 runs (`None` if it fails).
fn process_compile_ms(src: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let dir = std::env::temp_dir().join(format!("sockc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join("rules.sk");
    std::fs::write(&file, src).ok()?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let status = std::process::Command::new(&exe)
            .arg("compile")
            .arg(&file)
            .arg("-o")
            .arg(dir.join("rules.o"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Some(median(times))
}

/// Node reads of the classifier walks on the slowest path and the tries walked.
fn node_reads(c: &Compiled) -> Option<String> {
    let mut reads = 0;
    let mut tries = 0;
    for p in c.module.programs.values() {
        for step in &p.steps {
            if let Step::Classify(cl) = step {
                tries += cl.tries.len();
                reads += cl
                    .tries
                    .iter()
                    .map(sockc_compiler::bpf::classify::steps)
                    .sum::<usize>();
            }
        }
    }
    (tries > 0).then(|| format!("{reads} ({tries})"))
}

/// One rule in the middle of the first classified run with its action flipped:
/// switched in place on the loaded object; see the module docs.
fn one_rule_update(src: &str, c: &Compiled, obj: &LoadedObject) -> String {
    use sockc_runtime::plan::{plan_compiled, Snapshot};
    let Some((p, run)) = c.module.programs.values().find_map(|p| {
        p.steps.iter().find_map(|s| match s {
            Step::Classify(cl) if !cl.counts => Some((p, cl.rules.clone())),
            _ => None,
        })
    }) else {
        return "n/a (no classifier)".into();
    };
    let rule = &p.rules[(run.start + run.end) / 2];
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    let Some(line) = lines.get_mut(rule.line - 1) else {
        return "n/a".into();
    };
    let flipped = if line.trim_start().starts_with("allow") {
        line.replacen("allow", "drop", 1)
    } else if line.trim_start().starts_with("drop") {
        line.replacen("drop", "allow", 1)
    } else {
        return "n/a (not allow/drop)".into();
    };
    *line = flipped;
    let new_src = lines.join("\n") + "\n";
    let t = Instant::now();
    let Ok(new) = compile(&new_src, c.level) else {
        return "n/a (does not compile)".into();
    };
    let (plan, fitted, _) = plan_compiled(Some(&Snapshot::of(c)), &new);
    let planned = t.elapsed().as_secs_f64() * 1e3;
    let Some(fitted) = fitted.filter(|_| plan.maps_only) else {
        return format!("reload ({:?})", plan.path());
    };
    match sockc_runtime::table_update::switch_loaded(obj, &fitted, &plan.fresh_slots) {
        Ok(done) => format!("{:.2} ({planned:.0})", done.took.as_secs_f64() * 1e3),
        Err(e) => format!("failed: {e}"),
    }
}

fn format_row(set: &str, rules: usize, label: &str, r: &Row) -> String {
    if let Some(e) = &r.error {
        return format!(
            "| {set} | {rules} | {label} | {:.1} | {} | rejected: {e} | | | | | | | | |\n",
            r.compile_ms, r.insns
        );
    }
    let opt = |v: Option<f64>, p: usize| v.map_or("n/a".to_string(), |v| format!("{v:.p$}"));
    format!(
        "| {set} | {rules} | {label} | {:.1} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
        r.compile_ms,
        r.insns,
        r.xlated.map_or("?".into(), |x| x.to_string()),
        opt(r.load_ms, 1),
        r.map_kib,
        opt(r.ns.first().copied().flatten(), 1),
        opt(r.ns.get(1).copied().flatten(), 1),
        opt(r.ns.get(2).copied().flatten(), 1),
        opt(r.process_ms, 1),
        r.reads.as_deref().unwrap_or(""),
        r.update.as_deref().unwrap_or(""),
    )
}

/// What the benchmark is for, as ratios of this run's figures: -O2 against -O0 and
/// against the baseline per set, and the slowest packet at 100k rules against 1k.
fn ratios(summary: &[(String, Vec<Row>)]) -> String {
    let mut s = String::from("\nRatios (this run):\n\n");
    let worst = |r: &Row| {
        r.ns.iter()
            .flatten()
            .copied()
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    for (name, rows) in summary {
        let (o0, o2, base) = (&rows[0], &rows[1], &rows[2]);
        let mut parts = Vec::new();
        if o0.error.is_none() && o2.error.is_none() {
            if let (Some(a), Some(b)) = (worst(o2), worst(o0)) {
                parts.push(format!("-O2/-O0 slowest packet {:.2}x", a / b));
            }
            parts.push(format!(
                "-O2/-O0 insns {:.2}x",
                o2.insns as f64 / o0.insns as f64
            ));
        }
        if let (Some(a), Some(b)) = (worst(o2), worst(base)) {
            parts.push(format!("-O2 slowest packet / baseline {:.2}x", a / b));
        }
        s.push_str(&format!("- {name}: {}\n", parts.join(", ")));
    }
    for family in [Family::V4, Family::V6] {
        for set in ["acl1", "fw1", "ipc1"] {
            let find = |n: usize| {
                summary
                    .iter()
                    .find(|(name, _)| *name == case_name(set, n, family))
                    .and_then(|(_, rows)| worst(&rows[1]))
            };
            if let (Some(small), Some(big)) = (find(1000), find(100000)) {
                let label = case_name(set, 0, family).replace("_0", "");
                s.push_str(&format!(
                    "- {label}: -O2 slowest packet at 100k / at 1k {:.2}x\n",
                    big / small
                ));
            }
        }
    }
    s
}
