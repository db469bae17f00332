//! Classifier tables replaced in place (`runtime/src/table_update.rs`): a rule added,
//! removed or changed inside a classified run is planned as a table update
//! (`plan::plan_compiled` refits the file to the installed counter slots and map
//! sizes), and switching the tables changes the verdicts of every packet at once
//! while the counters of the other rules stay where they are.
//!
//! `a_one_rule_change_switches_tables_in_place` works on ClassBench sets loaded with
//! `LoadedObject` (the 1k sets; `SOCKC_CLASSBENCH=all` adds 10k and 100k): before and
//! after each change (flip one rule's action, flip it back, remove a rule, add one in
//! front), sampled trace headers run through the kernel (`BPF_PROG_TEST_RUN`) and must
//! get the reference evaluator's verdict for the file now installed, and the counter
//! of a rule the change left alone must keep counting from where it was.
//! `apply_switches_tables_without_reloading` does it through `sockc apply` on a veth
//! in a network namespace with real datagrams: same program id, generation + 1,
//! counters kept, the changed port's datagrams switch from dropped to delivered.
//! A switch that fails zeroes no counter (new rules' slots are zeroed after it).
//! Kernel tests; they need root (see `tests/common`).

use crate::common;
use crate::netns;

use sockc_compiler::{
    hooks,
    ir::{Action, Program},
    Compiled,
};
use sockc_runtime::{
    plan::{plan_compiled, ApplyPath, Snapshot},
    table_update::switch_loaded,
    LoadedObject,
};
use sockc_testkit::{
    classbench::{self, ActionPolicy, ConvertOptions, Filter, TraceHeader},
    classbench_data,
    eval::{self, Decider, Facts},
};

fn program(c: &Compiled) -> &Program {
    c.module.programs.values().next().expect("one program")
}

fn compile(src: &str) -> Compiled {
    let (c, d) = sockc_compiler::compile(src, &Default::default());
    c.unwrap_or_else(|| panic!("does not compile: {:?}", d.first()))
}

/// The rule file of `filters` as the ClassBench tests convert it.
fn to_sk(filters: &[Filter]) -> String {
    classbench::to_sk(
        filters,
        &ConvertOptions {
            hook: "xdp on eth0".into(),
            policy: ActionPolicy::Alternate,
            default: "drop",
        },
    )
}

/// The rule lines of a converted file (the block between its first `{` line and
/// the default), as (line index, text).
fn rule_lines(src: &str) -> Vec<usize> {
    src.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("    allow ") || l.starts_with("    drop "))
        .map(|(i, _)| i)
        .collect()
}

fn with_line(src: &str, at: usize, f: impl FnOnce(&str) -> Option<String>) -> String {
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    match f(&lines[at]) {
        Some(l) => lines[at] = l,
        None => {
            lines.remove(at);
        }
    }
    lines.join("\n") + "\n"
}

/// Runs `headers` through the loaded program and the evaluator of `c` (the file the
/// program's tables now hold); panics on a disagreement.
fn check_sample(obj: &LoadedObject, c: &Compiled, headers: &[&TraceHeader], when: &str) {
    let prog = program(c);
    let spec = hooks::spec(prog.hook);
    for h in headers {
        let frame = h.packet().build();
        let e = eval::evaluate(&c.module, prog, &frame, &Facts::default());
        let run = obj.test_run(&prog.symbol, &frame, 1).expect("test run");
        let want = match e.decider {
            Decider::Rule(r) => match prog.rules[r].action {
                Action::Allow => spec.verdicts.allow,
                Action::Drop => spec.verdicts.drop,
                a => panic!("a converted ClassBench rule does not {a}"),
            },
            Decider::Default => spec.verdict_code(prog.default),
        };
        assert_eq!(
            Some(run.retval as i32),
            want,
            "{when}: {} decided by {:?}",
            h.packet(),
            e.decider
        );
    }
}

#[test]
fn a_one_rule_change_switches_tables_in_place() {
    if !common::kernel() {
        return;
    }
    let all = std::env::var("SOCKC_CLASSBENCH").as_deref() == Ok("all");
    let sizes: &[&str] = if all {
        &["1000", "10000", "100000"]
    } else {
        &["1000"]
    };
    let dir = classbench_data::dir(None, &common::root());
    for size in sizes {
        for set in ["acl1", "fw1", "ipc1"] {
            let name = format!("{set}_{size}");
            let read = |suffix: &str| {
                classbench_data::read(&dir, &format!("{name}.rules{suffix}"))
                    .unwrap_or_else(|e| panic!("{e}"))
            };
            let filters = classbench::parse_filters(&read("")).expect("filters");
            let headers = classbench::parse_trace(&read("_trace")).expect("trace");
            let expected = classbench::parse_expected(&read("_trace.expected")).expect("expected");
            one_set(&name, &filters, &headers, &expected);
        }
    }
}

fn one_set(name: &str, filters: &[Filter], headers: &[TraceHeader], expected: &[Option<usize>]) {
    let src = to_sk(filters);
    let lines = rule_lines(&src);
    let installed = compile(&src);
    let elf = installed.to_elf().expect("object");
    let obj = LoadedObject::load(&elf).expect("load");
    // A rule in the middle of the trace's decisions to change, another to watch.
    let decided: Vec<(usize, &TraceHeader)> = headers
        .iter()
        .zip(expected)
        .filter_map(|(h, e)| e.map(|r| (r, h)))
        .collect();
    let (changed, changed_header) = decided[decided.len() / 2];
    let (watched, watched_header) = *decided
        .iter()
        .find(|(r, _)| *r != changed && *r + 1 != changed && *r != changed + 1)
        .expect("a second decided rule");
    let step = (headers.len() / 400).max(1);
    let mut sample: Vec<&TraceHeader> = headers.iter().step_by(step).collect();
    sample.extend([changed_header, watched_header]);
    check_sample(&obj, &installed, &sample, &format!("{name} as loaded"));

    let flip = |l: &str| {
        Some(if let Some(rest) = l.strip_prefix("    allow ") {
            format!("    drop {rest}")
        } else {
            format!(
                "    allow {}",
                l.trim_start().strip_prefix("drop ").unwrap()
            )
        })
    };
    let removed = if changed > 0 {
        changed - 1
    } else {
        changed + 1
    };
    let steps: Vec<(&str, String)> = vec![
        ("flip", with_line(&src, lines[changed], flip)),
        ("flip back", src.clone()),
        ("remove", with_line(&src, lines[removed], |_| None)),
        (
            "add in front",
            with_line(&src, lines[0], |l| {
                let h = changed_header;
                Some(format!(
                    "    allow ip4 proto {} from {}/32 to {}/32\n{l}",
                    h.proto, h.src, h.dst
                ))
            }),
        ),
    ];
    let mut live = installed;
    for (what, new_src) in steps {
        let when = format!("{name}, {what}");
        let new = compile(&new_src);
        let (plan, fitted, _) = plan_compiled(Some(&Snapshot::of(&live)), &new);
        assert_eq!(
            plan.path(),
            ApplyPath::TablesInPlace,
            "{when}: {}",
            plan.render("a", "b")
        );
        let fitted = fitted.expect("a refitted file");
        if what == "flip" {
            // The flipped rule takes its old slot back, zeroed for it; a switch that
            // fails (a table map the object lacks) must not have zeroed it: the
            // installed tables still decide, and count, the old rule there.
            let slot = program(&live).rules[changed].counter;
            assert!(
                plan.fresh_slots.contains(&slot),
                "{when}: {:?}",
                plan.fresh_slots
            );
            let count = obj.counter(slot).expect("counter");
            assert!(count.0 > 0, "{when}: the sample counted the changed rule");
            let mut broken = fitted.clone();
            broken.metadata.tables[0].map = "no_such_map".into();
            assert!(switch_loaded(&obj, &broken, &plan.fresh_slots).is_err());
            assert_eq!(
                obj.counter(slot).expect("counter"),
                count,
                "{when}: a failed switch zeroed the old rule's counter"
            );
        }
        let watched_slot = program(&live).rules[watched].counter;
        let before = obj.counter(watched_slot).expect("counter");
        let done = switch_loaded(&obj, &fitted, &plan.fresh_slots).expect("switch");
        check_sample(&obj, &fitted, &sample, &when);
        // The watched rule kept its slot and its counts: the sample ran its header once.
        let text = &program(&live).rules[watched].text;
        let now = program(&fitted)
            .rules
            .iter()
            .find(|r| &r.text == text)
            .expect("the watched rule is still there");
        assert_eq!(now.counter, watched_slot, "{when}: the watched rule moved");
        let after = obj.counter(watched_slot).expect("counter");
        let p = program(&fitted);
        let runs_here = sample
            .iter()
            .filter(|h| {
                let e = eval::evaluate(&fitted.module, p, &h.packet().build(), &Facts::default());
                matches!(e.decider, Decider::Rule(r) if &p.rules[r].text == text)
            })
            .count() as u64;
        assert_eq!(after.0, before.0 + runs_here, "{when}: watched counter");
        println!(
            "{when}: tables switched to half {} in {:.2} ms ({} KiB), {} fresh slots",
            done.to,
            done.took.as_secs_f64() * 1e3,
            done.bytes / 1024,
            plan.fresh_slots.len()
        );
        live = fitted;
    }
}

/// An XDP block on `a` of 2,000 classified drops with two rules for `b` in its middle
/// (`allow` to port 9001, `changed` to port 9002), then `tail` before its close: a
/// change of `changed` stays inside the classified run.
fn classified_run(a: &str, b: impl std::fmt::Display, changed: &str, tail: &str) -> String {
    classified_run_of(2000, a, b, changed, tail)
}

/// [`classified_run`] of `n` classified drops (the two rules for `b` after the 1,001st).
fn classified_run_of(
    n: u32,
    a: &str,
    b: impl std::fmt::Display,
    changed: &str,
    tail: &str,
) -> String {
    let mut src = format!("xdp on {a} {{\n");
    for i in 0..n {
        src.push_str(&format!(
            "    drop udp from 10.{}.{}.0/24 to *:{}\n",
            i / 256,
            i % 256,
            1000 + i % 1000
        ));
        if i == 1000 {
            src.push_str(&format!("    allow udp from {b} to *:9001\n"));
            src.push_str(&format!("    {changed} udp from {b} to *:9002\n"));
        }
    }
    src.push_str(tail);
    src.push_str("}\n");
    src
}

/// `sockc apply` over an install whose change stays inside a classified run: the
/// same program keeps running (same id, no new `g<N>`), the generation goes up, the
/// changed rule's datagrams switch from dropped to delivered, and an unchanged rule's
/// counter keeps its count.
#[test]
fn apply_switches_tables_without_reloading() {
    if !common::kernel() {
        return;
    }
    let lab = netns::Lab::new("tables", 40);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let file = |name: &str, changed: &str| {
        let tail = format!("    drop udp from {b} to *:9001-9003\n    default allow\n");
        lab.rules(name, &classified_run(a, b, changed, &tail))
    };
    let (gen1, gen2) = (file("gen1.sk", "drop"), file("gen2.sk", "allow"));
    lab.apply_ok(&gen1);
    lab.expect_verdicts(
        "generation 1",
        &[(9001, true), (9002, false), (9003, false)],
    );
    let s1 = lab.status_attached();
    let prog = s1["hooks"][0]["prog_id"].as_u64().expect("prog_id");
    let counted = |stats: &serde_json::Value, text: &str| -> u64 {
        let rules = stats["rules"].as_array().expect("rules");
        let r: Vec<&serde_json::Value> = rules.iter().filter(|r| r["text"] == text).collect();
        assert_eq!(r.len(), 1, "one rule `{text}`");
        r[0]["packets"].as_u64().expect("packets")
    };
    let kept = format!("allow udp from {b} to *:9001");
    let before = counted(&lab.stats(), &kept);
    assert_eq!(before, 20, "generation 1 counted the datagrams to 9001");

    let dry = lab.apply(&gen2, &["--dry-run", "--details"]);
    assert!(
        dry.stdout
            .contains("path: map update in place: classifier tables"),
        "the dry run names the path:\n{dry}"
    );
    let out = lab.apply_ok(&gen2);
    assert!(
        out.stderr.contains("classifier tables switched in place"),
        "apply says how the tables changed:\n{out}"
    );
    let s2 = lab.status_attached();
    assert_eq!(s2["generation"], 2, "{s2:#}");
    assert_eq!(
        s2["hooks"][0]["prog_id"].as_u64(),
        Some(prog),
        "no reload: {s2:#}"
    );
    assert!(
        !lab.pins().iter().any(|p| p.starts_with("g2/")),
        "no new objects were pinned"
    );
    lab.expect_verdicts("generation 2", &[(9001, true), (9002, true), (9003, false)]);
    assert_eq!(
        counted(&lab.stats(), &kept),
        before + 20,
        "the unchanged rule kept its count and went on counting"
    );
    assert_eq!(
        counted(&lab.stats(), &format!("allow udp from {b} to *:9002")),
        20
    );
}

/// The new tables are written into the half no packet reads beside the journal, and
/// switched to only once the journal is in place: a re-apply whose journal cannot be
/// written (strace fails the rename that puts it in place) switches nothing — the old
/// verdicts stand, the committed rules' counters keep their counts (a new rule's slot
/// is zeroed only after the switch), no journal is left — and the same re-apply run
/// again writes the unread half whole and switches to it. Killed before the half is
/// written or after it (as the journal is renamed into place), the same.
#[test]
fn a_journal_that_cannot_be_written_switches_no_table() {
    if !common::kernel() {
        return;
    }
    let lab = netns::Lab::new("tbljrnl", 8);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let file = |name: &str, changed: &str| {
        lab.rules(name, &classified_run(a, b, changed, "    default allow\n"))
    };
    let (gen1, gen2) = (file("gen1.sk", "drop"), file("gen2.sk", "allow"));
    lab.apply_ok(&gen1);
    lab.expect_verdicts("generation 1", &[(9001, true), (9002, false)]);
    let counts = || -> Vec<(String, u64)> {
        let stats = lab.stats();
        let mut c: Vec<(String, u64)> = stats["rules"]
            .as_array()
            .expect("rules")
            .iter()
            // The probes' rules (not the default: the veth's own traffic counts there).
            .filter(|r| {
                r["text"]
                    .as_str()
                    .is_some_and(|t| t.contains(&b.to_string()))
            })
            .map(|r| {
                (
                    r["text"].to_string(),
                    r["packets"].as_u64().expect("packets"),
                )
            })
            .collect();
        c.sort();
        c
    };
    let counted = counts();
    assert_eq!(
        counted.len(),
        2,
        "9001's and 9002's rules counted: {counted:?}"
    );

    let journal_new = lab.pin_dir().join("journal_new");
    let failed = netns::run(
        std::process::Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-P"])
            .arg(&journal_new)
            .args([
                "-e",
                "trace=rename,renameat,renameat2",
                "-e",
                "inject=rename,renameat,renameat2:error=EIO",
            ])
            .arg(netns::sockc_bin())
            .args(lab.apply_args(&gen2, &lab.name, &[])),
    );
    assert_ne!(failed.code, 0, "{failed}");
    assert!(failed.stderr.contains("journal"), "{failed}");
    assert!(!lab.pin_dir().join("journal").exists(), "{:?}", lab.pins());
    let st = netns::sockc(&["status", "--name", &lab.name]);
    assert_eq!(st.code, 0, "{st}");
    assert_eq!(lab.status_attached()["generation"], 1);
    assert_eq!(counts(), counted, "no committed counter was zeroed");
    lab.expect_verdicts("journal failed", &[(9001, true), (9002, false)]);

    let out = lab.apply_ok(&gen2);
    assert!(
        out.stderr.contains("classifier tables switched in place"),
        "{out}"
    );
    lab.expect_verdicts("generation 2", &[(9001, true), (9002, true)]);

    // Killed before the half is written, and after it, as the journal is put in place
    // (a fault test writes the half first): the same, once the next command has run.
    let back = lab.apply_args(&gen1, &lab.name, &["-q"]);
    let traced = netns::sockc_fault(&back, "SOCKC_FAULT_TRACE", "1").ok();
    let journal_rename = format!("rename {} to journal", journal_new.display());
    for step in [
        "write classifier tables into the half no packet reads",
        &journal_rename,
    ] {
        // Undone by hand: the update is killed at the same step below.
        lab.apply_ok(&gen2);
        let generation = lab.status_attached()["generation"].clone();
        let counted = counts();
        let at = netns::point_of(&traced, step, 0);
        let killed = netns::sockc_fault(&back, "SOCKC_FAULT_KILL_AT", &at);
        assert_eq!(killed.code, -1, "{step}: {killed}");
        let st = netns::sockc(&["status", "--name", &lab.name]);
        assert_eq!(st.code, 0, "{step}: {st}");
        assert_eq!(lab.status_attached()["generation"], generation, "{step}");
        assert_eq!(counts(), counted, "{step}: no committed counter was zeroed");
        lab.expect_verdicts(step, &[(9001, true), (9002, true)]);
    }
    lab.apply_ok(&gen1);
    lab.expect_verdicts("back", &[(9001, true), (9002, false)]);
}

/// A table update of 12,000 rules has its program record made beside its plan
/// (`install::update::in_place::beside_plan`) and pinned by its journal. Killed as
/// that record is pinned, or as the journal is put in place, the install stays at its
/// generation with its verdicts, and the same update then switches in place; `show`
/// reads back the rules the committed records hold.
#[test]
fn a_large_update_whose_records_are_made_beside_its_plan_survives_kills() {
    if !common::kernel() {
        return;
    }
    let lab = netns::Lab::new("tblbig", 50);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let file = |name: &str, changed: &str| {
        let src = classified_run_of(12_000, a, b, changed, "    default allow\n");
        lab.rules(name, &src)
    };
    let (gen1, gen2) = (file("gen1.sk", "drop"), file("gen2.sk", "allow"));
    lab.apply_ok(&gen1);
    lab.expect_verdicts("generation 1", &[(9001, true), (9002, false)]);
    let forth = lab.apply_args(&gen2, &lab.name, &["-q"]);
    let traced = netns::sockc_fault(&forth, "SOCKC_FAULT_TRACE", "1").ok();
    // The program record is the last record pinned before the journal (the rule
    // text's, already there, is not pinned again).
    let pins: Vec<&str> = netns::fault_steps(&traced)
        .into_iter()
        .filter(|step| step.starts_with("pin ") && step.contains("/bulk_"))
        .collect();
    let record = pins.last().expect("a record pinned").to_string();
    let journal_rename = format!(
        "rename {} to journal",
        lab.pin_dir().join("journal_new").display()
    );
    // Undone: back to generation 1 before each kill.
    for step in [record.as_str(), &journal_rename] {
        lab.apply_ok(&gen1);
        let generation = lab.status_attached()["generation"].clone();
        let at = netns::point_of(&traced, step, 0);
        let killed = netns::sockc_fault(&forth, "SOCKC_FAULT_KILL_AT", &at);
        assert_eq!(killed.code, -1, "{step}: {killed}");
        let st = netns::sockc(&["status", "--name", &lab.name]);
        assert_eq!(st.code, 0, "{step}: {st}");
        assert_eq!(lab.status_attached()["generation"], generation, "{step}");
        lab.expect_verdicts(step, &[(9001, true), (9002, false)]);
        let out = lab.apply(&gen2, &["--timings"]).ok();
        assert!(
            out.stderr.contains("classifier tables switched in place")
                && out.stderr.contains("programs' records (beside the plan)"),
            "{step}: {out}"
        );
        lab.expect_verdicts(step, &[(9001, true), (9002, true)]);
        let shown = netns::sockc(&["show", "--name", &lab.name]);
        assert_eq!(shown.code, 0, "{step}: {shown}");
        assert!(
            shown
                .stdout
                .contains(&format!("allow udp from {b} to *:9002")),
            "{step}: {shown}"
        );
    }
}

/// `log` on rules of a run updated in place: the rates (`log_limits`, an array map
/// indexed by counter slot) follow the rules. A rule added inside the run renumbers
/// the later slots in a fresh compile; refitted, the logging rules keep theirs and
/// must keep logging (and nothing else must start). Removing `log` from one rule then
/// resets its rate in place: an array element cannot be deleted (the kernel answers
/// EINVAL), and an update that tried left its journal behind, so that every later
/// command failed.
#[test]
fn log_rates_follow_their_rules_through_updates_in_place() {
    if !common::kernel() {
        return;
    }
    let lab = netns::Lab::new("tablog", 45);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let file = |name: &str, extra: bool, second_log: &str| {
        let mut src = format!("xdp on {a} {{\n");
        for i in 0..2000u32 {
            if extra && i == 500 {
                src.push_str("    drop udp from 10.250.0.0/16 to *:7\n");
            }
            src.push_str(&format!(
                "    drop udp from 10.{}.{}.0/24 to *:{}\n",
                i / 256,
                i % 256,
                1000 + i % 1000
            ));
        }
        src.push_str(&format!("    drop udp from {b} to *:9001 log 1000/s\n"));
        src.push_str(&format!("    drop udp from {b} to *:9002{second_log}\n"));
        src.push_str("    default allow\n}\n");
        lab.rules(name, &src)
    };
    // Datagrams to 9001, 9002 and 9003 (the default), then what `sockc trace` shows:
    // (port, rule text) per logged datagram.
    let logged = |when: &str| -> Vec<(u64, String)> {
        let r = netns::trace_during(&["--name", &lab.name, "--json", "--timeout", "3"], || {
            lab.expect_verdicts(when, &[(9001, false), (9002, false), (9003, true)])
        })
        .ok();
        let mut out: Vec<(u64, String)> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
            .map(|e| {
                let port = e["packet"]["dport"].as_u64().expect("dport");
                (port, e["rule"]["text"].as_str().expect("text").to_string())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let (gen1, gen2, gen3) = (
        file("gen1.sk", false, " log"),
        file("gen2.sk", true, " log"),
        file("gen3.sk", true, ""),
    );
    let both = vec![
        (9001, format!("drop udp from {b} to *:9001 log 1000/s")),
        (9002, format!("drop udp from {b} to *:9002 log")),
    ];
    lab.apply_ok(&gen1);
    assert_eq!(logged("generation 1"), both);
    let out = lab.apply_ok(&gen2);
    assert!(
        out.stderr.contains("classifier tables switched in place"),
        "a rule added in the run is an update in place:\n{out}"
    );
    assert_eq!(logged("a rule added in the run"), both);
    let out = lab.apply_ok(&gen3);
    assert!(
        out.stdout.contains("path: map update in place"),
        "log removed from a rule is an update in place:\n{out}"
    );
    assert_eq!(logged("log removed from one rule"), both[..1]);
    // Nothing was left half done: the next commands work.
    lab.apply_ok(&gen3);
    lab.status_attached();
}

/// A table larger than the window `fill_both_halves` maps at a time (256 KiB) lands
/// whole in both halves of its map: a literal and a repeated run that straddle window
/// edges, the rest of each half zeroed over what was there, the second half at the
/// kernel's stride (a half of a size that is not a multiple of 8).
#[test]
fn a_table_larger_than_the_mapped_window_lands_whole_in_both_halves() {
    use std::os::fd::AsFd;
    if !common::kernel() {
        return;
    }
    let value_size: u32 = 700_004;
    let literal: Vec<u32> = (0..70_001u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let mut encoded = Vec::new();
    let mut expected = Vec::new();
    encoded.extend_from_slice(&(literal.len() as u32).to_le_bytes());
    for w in &literal {
        encoded.extend_from_slice(&w.to_le_bytes());
        expected.extend_from_slice(&w.to_le_bytes());
    }
    encoded.extend_from_slice(&(0x8000_0000u32 | 60_000).to_le_bytes());
    encoded.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    for _ in 0..60_000 {
        expected.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    }
    encoded.extend_from_slice(&3u32.to_le_bytes());
    for w in [1u32, 2, 3] {
        encoded.extend_from_slice(&w.to_le_bytes());
        expected.extend_from_slice(&w.to_le_bytes());
    }
    let fd = sockc_runtime::sys::create_map_with_flags(
        aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        "t_window",
        4,
        value_size,
        2,
        aya_obj::generated::BPF_F_MMAPABLE,
    )
    .expect("an mmapable array map");
    for key in 0u32..2 {
        let old = vec![0xffu8; value_size as usize];
        sockc_runtime::sys::map_update(fd.as_fd(), &key.to_ne_bytes(), &old, 0).unwrap();
    }
    let t = sockc_compiler::bpf::maps::TableData {
        map: "t_window".into(),
        offset: 0,
        stored: encoded.len() as u64,
        len: expected.len() as u64,
        value_size,
        digest: String::new(),
        steps: Vec::new(),
    };
    sockc_runtime::table_update::fill_both_halves(fd.as_fd(), &t, &encoded).unwrap();
    for key in 0u32..2 {
        let v = sockc_runtime::sys::map_lookup(fd.as_fd(), &key.to_ne_bytes(), value_size as usize)
            .unwrap()
            .expect("both halves");
        assert!(v[..expected.len()] == expected[..], "half {key}: the table");
        assert!(
            v[expected.len()..].iter().all(|&b| b == 0),
            "half {key}: zero past the table"
        );
    }
}
