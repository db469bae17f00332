//! `sockc bench`: -O0 against -O2 on a 10-rule set and the ClassBench sets, in one run.
//!
//! Per rule set and level: compile time (median of several compiles), bytecode and
//! xlated instruction counts, verifier load time, map memory, and the kernel-measured
//! cost per packet (`BPF_PROG_TEST_RUN` with a large repeat, median of several runs)
//! for a packet that the first rules decide (early), one that the last rules decide
//! (late) and one that no rule matches (never; in a set that ends in wide filters
//! that match every packet, one that only those match). The baseline row is the header parse
//! plus one LPM lookup (and the counter update every program does): the rule
//! `allow ip4 to @dsts` over the set's destination prefixes of /8 and longer (the
//! wider ones would cover, and so collapse, the rest), compiled at -O0.
//! Figures are printed as a Markdown table; ratios are within this run only.
//!
//! For `-O2` rows three more columns: the whole `sockc compile FILE -o OUT` process
//! (this binary run as a child, median of 5: parse, check, lints, classify, lower,
//! write), the node reads of the classifier walks on the slowest path (each trie's
//! unrolled steps, summed over the program's classifiers; the walk's depth, whatever
//! the packet), and one rule changed in the middle of the first classified run (its
//! action flipped): the time to switch the loaded object's tables in place
//! (`table_update::switch_loaded`, counters of new rules zeroed), with the refit and
//! plan time in brackets, or the path the plan takes when it is not in place.
//!
//! A third table prices sk_lookup steering per lookup at 10 and 10,000 bindings (see
//! `bench_sk_lookup.rs`); a fourth (`bench_sockmap.rs`) compares TCP between two local
//! processes with and without `redirect local`: round-trip latency and throughput.
//!
//! A second table prices socket conditions per hook (XDP, TC ingress, TC egress) and
//! protocol: the same one-rule program with and without `if socket exists`, on the
//! same packet, run in a private network namespace ([`SocketNetns`]) with no socket,
//! a listener, or a connected socket for the packet. The condition's cost is the
//! lookup (plus the state read and the reference release).

use std::{
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use clap::Args;
use sockc_compiler::{driver, hooks, opt::OptLevel, Compiled};
use sockc_runtime::LoadedObject;
use sockc_testkit::eval::SocketState;
use sockc_testkit::{
    classbench::{self, ActionPolicy, ConvertOptions, Filter, TraceHeader},
    packet::{PacketSpec, L4},
    socket_fixture::{Endpoints, SocketNetns},
};

#[derive(Args)]
pub struct BenchArgs {
    /// ClassBench directory (default: $SOCKC_CLASSBENCH_DIR, ../shared/bench/classbench,
    /// then the vendored bench/classbench)
    #[arg(long)]
    pub classbench: Option<PathBuf>,
    /// ClassBench seeds to run
    #[arg(long, value_delimiter = ',', default_value = "acl1,fw1,ipc1")]
    pub sets: Vec<String>,
    /// Rule counts to run
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub sizes: Vec<usize>,
    /// Test-run repeat count per measurement
    #[arg(long, default_value_t = 1_000_000)]
    pub repeat: u32,
    /// Measurements per packet; the median is reported
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Also write the report here
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Only the socket-condition table (no rule-set rows)
    #[arg(long)]
    pub sockets_only: bool,
    /// Skip the socket-condition table
    #[arg(long, conflicts_with = "sockets_only")]
    pub no_sockets: bool,
    /// Binding counts of the sk_lookup table (sockc against SK_PASS only and a
    /// tubular-style LPM program)
    #[arg(long, value_delimiter = ',', default_value = "10,10000")]
    pub sk_lookup_sizes: Vec<usize>,
    /// Skip the sk_lookup table
    #[arg(long)]
    pub no_sk_lookup: bool,
    /// Only the socket-layer table (TCP with and without `redirect local`)
    #[arg(long, conflicts_with_all = ["sockets_only", "no_sockmap"])]
    pub sockmap_only: bool,
    /// Skip the socket-layer table
    #[arg(long)]
    pub no_sockmap: bool,
    /// Socket layer: ping-pong round trips per run
    #[arg(long, default_value_t = 100_000)]
    pub round_trips: u64,
    /// Socket layer: bytes per ping-pong message
    #[arg(long, default_value_t = 64)]
    pub message: usize,
    /// Socket layer: MB per bulk transfer in 1 MiB writes
    #[arg(long, default_value_t = 1000)]
    pub bulk_mb: u64,
    /// Socket layer: MB per transfer in 100-byte writes
    #[arg(long, default_value_t = 50)]
    pub small_mb: u64,
}

struct Case {
    name: String,
    rules: usize,
    source: String,
    /// (label, packet)
    packets: Vec<(&'static str, Option<PacketSpec>)>,
    dsts: Vec<String>,
}

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

pub fn run(args: &BenchArgs) -> ExitCode {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("sockc bench: needs root (BPF_PROG_LOAD, BPF_PROG_TEST_RUN)");
        return ExitCode::from(3);
    }
    let rule_sets = !args.sockets_only && !args.sockmap_only;
    let mut cases = if rule_sets {
        vec![ten_rules()]
    } else {
        Vec::new()
    };
    let dir = classbench_dir(args.classbench.as_deref()).filter(|_| rule_sets);
    for &size in args.sizes.iter().filter(|_| rule_sets) {
        for set in &args.sets {
            match dir.as_deref().map(|d| classbench_case(d, set, size)) {
                Some(Ok(c)) => cases.push(c),
                Some(Err(e)) => eprintln!("sockc bench: {set}_{size}: skipped: {e}"),
                None => eprintln!("sockc bench: no ClassBench directory found"),
            }
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "sockc bench: {} repeats per measurement, median of {} runs, rule sets at XDP, {}\n\n",
        args.repeat,
        args.runs,
        kernel_release()
    ));
    if !cases.is_empty() {
        out.push_str("| set | rules | level | compile ms | insns | xlated | load ms | maps KiB | early ns | late ns | never ns | process ms | node reads (tries) | 1-rule update ms (refit+plan) |\n");
        out.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    print!("{out}");
    let mut summary = Vec::new();
    for case in &cases {
        let mut rows = Vec::new();
        for (label, level, src) in [
            ("-O0", OptLevel::O0, case.source.clone()),
            ("-O2", OptLevel::O2, case.source.clone()),
            ("baseline", OptLevel::O0, baseline_source(&case.dsts)),
        ] {
            let row = measure(&src, level, &case.packets, args, label == "-O2");
            let line = format_row(&case.name, case.rules, label, &row);
            print!("{line}");
            out.push_str(&line);
            rows.push(row);
        }
        summary.push((case.name.clone(), rows));
    }
    if !summary.is_empty() {
        let ratios = ratios(&summary);
        print!("{ratios}");
        out.push_str(&ratios);
    }
    if !args.no_sockets && !args.sockmap_only {
        match socket_table(args) {
            Ok(t) => out.push_str(&t),
            Err(e) => {
                eprintln!("sockc bench: socket conditions: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if !args.no_sk_lookup && !args.sk_lookup_sizes.is_empty() && !args.sockmap_only {
        match crate::bench_sk_lookup::table(args.repeat, args.runs, &args.sk_lookup_sizes) {
            Ok(t) => out.push_str(&t),
            Err(e) => {
                eprintln!("sockc bench: sk_lookup: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if !args.no_sockmap && !args.sockets_only {
        let knobs = crate::bench_sockmap::Knobs {
            runs: args.runs,
            round_trips: args.round_trips,
            message: args.message,
            bulk_mb: args.bulk_mb,
            small_mb: args.small_mb,
        };
        match crate::bench_sockmap::table(&knobs) {
            Ok(t) => out.push_str(&t),
            Err(e) => {
                eprintln!("sockc bench: socket layer: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if let Some(path) = &args.output {
        if let Err(e) = std::fs::write(path, &out) {
            eprintln!("sockc bench: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

/// The socket-condition table; see the module docs. Printed as it goes, and returned.
fn socket_table(args: &BenchArgs) -> Result<String, String> {
    let mut out = String::from(
        "\nSocket conditions (ns per packet; the rule matches the packet; private netns):\n\n\
         | hook | proto | no condition | `if socket exists`, no socket | listener | connected | lookup cost (no socket) |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    print!("{out}");
    let packet_hooks = hooks::HOOKS
        .iter()
        .filter(|h| h.caps.socket_conditions && h.unsupported.is_none());
    for spec in packet_hooks {
        let (hook, head) = (spec.name, spec.label("lo"));
        for proto in ["tcp", "udp"] {
            let packet = format!("{proto} 10.0.0.1:40000 -> 10.0.0.2:80");
            let frame = sockc_testkit::packet::parse_packet(&packet)
                .map_err(|e| e.to_string())?
                .build();
            let load = |cond: &str| -> Result<(LoadedObject, String), String> {
                let src = format!(
                    "{head} {{\n    allow {proto} to 10.0.0.2:80{cond}\n    default drop\n}}\n"
                );
                let c = compile(&src, OptLevel::O2)?;
                let elf = c.to_elf().map_err(|e| e.to_string())?;
                let obj = LoadedObject::load(&elf).map_err(|e| e.to_string())?;
                let symbol = obj.programs()[0].symbol.clone();
                Ok((obj, symbol))
            };
            let (plain, plain_sym) = load("")?;
            let (cond, cond_sym) = load(" if socket exists")?;
            let ends = Endpoints::of_frame(&frame, spec.egress).ok_or("no endpoints")?;
            let time = |obj: &LoadedObject, symbol: &str, state: SocketState| {
                let ns = SocketNetns::new().map_err(|e| e.to_string())?;
                let want = (state != SocketState::None).then_some((&ends, state));
                ns.run(want, || kernel_ns(obj, symbol, &frame, args))
                    .map_err(|e| e.to_string())
            };
            let base = time(&plain, &plain_sym, SocketState::None)?;
            let none = time(&cond, &cond_sym, SocketState::None)?;
            let listening = time(&cond, &cond_sym, SocketState::Listening)?;
            let connected = time(&cond, &cond_sym, SocketState::Established)?;
            let line = format!(
                "| {hook} | {proto} | {base:.1} | {none:.1} | {listening:.1} | {connected:.1} | +{:.1} ({:.2}x) |\n",
                none - base,
                none / base
            );
            print!("{line}");
            out.push_str(&line);
        }
    }
    Ok(out)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_default()
}

fn classbench_dir(arg: Option<&Path>) -> Option<PathBuf> {
    let candidates = [
        arg.map(Path::to_path_buf),
        std::env::var_os("SOCKC_CLASSBENCH_DIR").map(PathBuf::from),
        Some(PathBuf::from("../shared/bench/classbench")),
        Some(PathBuf::from("bench/classbench")),
    ];
    candidates.into_iter().flatten().find(|d| d.is_dir())
}

/// Ten rules on distinct /24 sources and ports; early = rule 1, late = rule 10.
fn ten_rules() -> Case {
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..10 {
        let action = if i % 2 == 0 { "drop" } else { "allow" };
        src.push_str(&format!(
            "    {action} tcp from 10.0.{i}.0/24 to *:{}\n",
            8000 + i
        ));
    }
    src.push_str("    default allow\n}\n");
    let pkt = |i: u8, port: u16| {
        PacketSpec::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, i, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            L4::Tcp {
                sport: 40000,
                dport: port,
                flags: 0x02,
            },
        )
    };
    Case {
        name: "10 rules".into(),
        rules: 10,
        source: src,
        packets: vec![
            ("early", Some(pkt(0, 8000))),
            ("late", Some(pkt(9, 8009))),
            ("never", Some(pkt(200, 80))),
        ],
        dsts: vec!["192.0.2.0/24".into()],
    }
}

fn classbench_case(dir: &Path, set: &str, size: usize) -> Result<Case, String> {
    let read = |suffix: &str| {
        let p = dir.join(format!("{set}_{size}.rules{suffix}"));
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let filters = classbench::parse_filters(&read("")?).map_err(|e| e.to_string())?;
    let headers = classbench::parse_trace(&read("_trace")?).map_err(|e| e.to_string())?;
    let expected =
        classbench::parse_expected(&read("_trace.expected")?).map_err(|e| e.to_string())?;
    let source = classbench::to_sk(
        &filters,
        &ConvertOptions {
            hook: "xdp on eth0".into(),
            policy: ActionPolicy::Alternate,
            default: "drop",
        },
    );
    // Early and late: the trace headers decided by the first and the last filter
    // that any header hits.
    let decided: Vec<(usize, &TraceHeader)> = headers
        .iter()
        .zip(&expected)
        .filter_map(|(h, e)| e.map(|i| (i, h)))
        .collect();
    let early = decided
        .iter()
        .min_by_key(|(i, _)| *i)
        .map(|(_, h)| h.packet());
    let late = decided
        .iter()
        .max_by_key(|(i, _)| *i)
        .map(|(_, h)| h.packet());
    let never = never_matching(&filters).map(|h| h.packet());
    // Only prefixes of /8 and longer: the wide ones (`0.0.0.0/0`, `0.0.0.0/1` +
    // `128.0.0.0/1`) cover every other element, and the set (and its trie) would
    // shrink to them.
    let mut dsts: Vec<String> = filters
        .iter()
        .filter(|f| f.dst.prefix_len() >= 8)
        .map(|f| f.dst.to_string())
        .collect();
    dsts.sort();
    dsts.dedup();
    Ok(Case {
        name: format!("{set}_{size}"),
        rules: filters.len(),
        source,
        packets: vec![("early", early), ("late", late), ("never", never)],
        dsts,
    })
}

/// A header no filter matches, if the set has one that is easy to find. Most
/// ClassBench sets end in wide filters (any protocol and port, both prefixes /8 or
/// shorter) that together match every packet (`0.0.0.0/0 0.0.0.0/0 0 : 65535 0 :
/// 65535 0x00/0x00`, or halves and quarters such as `0.0.0.0/1 0.0.0.0/0`): there, a
/// header that no filter before that tail matches (the tail decides it, after every
/// other rule failed).
fn never_matching(filters: &[Filter]) -> Option<TraceHeader> {
    let mut filters = filters;
    while let Some((last, rest)) = filters.split_last() {
        if !is_wide(last) {
            break;
        }
        filters = rest;
    }
    let mut x: u32 = 0x9e37_79b9;
    (0..4096)
        .find_map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let h = TraceHeader {
                src: Ipv4Addr::from(x),
                dst: Ipv4Addr::from(x.rotate_left(11)),
                sport: (x >> 3) as u16,
                dport: (x >> 7) as u16,
                proto: [6, 17, 47][i % 3],
            };
            classbench::first_match(filters, &h).is_none().then_some(h)
        })
        .or_else(|| outside_wildcard_filters(filters))
}

/// A filter of the wide tail most ClassBench sets end in: any protocol and port,
/// both prefixes /8 or shorter.
fn is_wide(f: &Filter) -> bool {
    f.src.prefix_len() <= 8
        && f.dst.prefix_len() <= 8
        && f.sport == (0, u16::MAX)
        && f.dport == (0, u16::MAX)
        && f.proto.is_none()
}

/// A header random tries miss: a protocol no filter names, and a source and
/// destination pair that no filter taking any protocol covers (for each candidate
/// source, the lowest destination outside the destination prefixes of the filters
/// whose source prefix holds it).
fn outside_wildcard_filters(filters: &[Filter]) -> Option<TraceHeader> {
    use ipnet::Ipv4Net;
    let proto = [47u8, 50, 132, 253]
        .into_iter()
        .find(|p| filters.iter().all(|f| f.proto != Some(*p)))?;
    let span = |n: &Ipv4Net| (u32::from(n.network()), u32::from(n.broadcast()));
    let any_proto: Vec<((u32, u32), (u32, u32))> = filters
        .iter()
        .filter(|f| f.proto.is_none())
        .map(|f| (span(&f.src), span(&f.dst)))
        .collect();
    // The lowest address outside every range, if they leave one.
    let gap = |mut ranges: Vec<(u32, u32)>| -> Option<u32> {
        ranges.sort_unstable();
        let mut next = 0u64;
        for (lo, hi) in ranges {
            if u64::from(lo) > next {
                break;
            }
            next = next.max(u64::from(hi) + 1);
        }
        u32::try_from(next).ok()
    };
    // Candidate sources: where a source prefix starts or ends (the covering filters
    // change only there), at most 4,096 of them.
    let mut sources: Vec<u32> = any_proto
        .iter()
        .flat_map(|((lo, hi), _)| [*lo, hi.saturating_add(1)])
        .collect();
    sources.sort_unstable();
    sources.dedup();
    let stride = sources.len().div_ceil(4096).max(1);
    sources.into_iter().step_by(stride).find_map(|src| {
        let dsts = any_proto
            .iter()
            .filter(|((lo, hi), _)| (*lo..=*hi).contains(&src))
            .map(|(_, d)| *d)
            .collect();
        let h = TraceHeader {
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::from(gap(dsts)?),
            sport: 40_000,
            dport: 40_000,
            proto,
        };
        classbench::first_match(filters, &h).is_none().then_some(h)
    })
}

/// The baseline: parse, one LPM lookup over the destinations, count.
fn baseline_source(dsts: &[String]) -> String {
    format!(
        "set dsts = {{ {} }}\nxdp on eth0 {{\n    allow ip4 to @dsts\n    default allow\n}}\n",
        dsts.join(", ")
    )
}

pub(crate) fn compile(src: &str, level: OptLevel) -> Result<Compiled, String> {
    let opts = driver::Options {
        opt: level,
        ..Default::default()
    };
    let (c, diags) = sockc_compiler::compile(src, &opts);
    c.ok_or_else(|| {
        diags
            .iter()
            .find(|d| d.is_error())
            .or(diags.first())
            .map(|d| d.message.clone())
            .unwrap_or_else(|| "does not compile".into())
    })
}

/// The kernel's ns per run of `symbol` on `frame`: `args.repeat` repeats per
/// measurement, median of `args.runs` measurements (NaN for a failed run).
fn kernel_ns(obj: &LoadedObject, symbol: &str, frame: &[u8], args: &BenchArgs) -> f64 {
    median(
        (0..args.runs)
            .map(|_| {
                obj.test_run(symbol, frame, args.repeat)
                    .map(|r| r.duration.as_nanos() as f64)
                    .unwrap_or(f64::NAN)
            })
            .collect(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn measure(
    src: &str,
    level: OptLevel,
    packets: &[(&str, Option<PacketSpec>)],
    args: &BenchArgs,
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
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    row.map_kib = c
        .maps
        .iter()
        .map(|m| {
            let per = f64::from(m.key.size() + m.value.size()) * f64::from(m.max_entries);
            let percpu =
                m.map_type == aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32;
            if percpu {
                per * ncpu
            } else if m.map_type == aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_ARRAY as u32 {
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
        / 1024.0;
    let elf = match c.to_elf() {
        Ok(e) => e,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    let obj = match LoadedObject::load(&elf) {
        Ok(o) => o,
        Err(e) => {
            let text = e.to_string();
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
                .unwrap_or(&text)
                .to_string();
            row.error = Some(format!(
                "verifier: {}",
                reason.chars().take(60).collect::<String>()
            ));
            return row;
        }
    };
    let p = &obj.programs()[0];
    row.xlated = p.xlated_insns;
    row.load_ms = Some(p.load_time.as_secs_f64() * 1e3);
    let symbol = p.symbol.clone();
    for (_, pkt) in packets {
        let ns = pkt
            .as_ref()
            .map(|pkt| kernel_ns(&obj, &symbol, &pkt.build(), args));
        row.ns.push(ns);
    }
    if extra {
        row.process_ms = process_compile_ms(src);
        row.reads = node_reads(&c);
        row.update = Some(one_rule_update(src, &c, &obj));
    }
    row
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
            if let sockc_compiler::ir::Step::Classify(cl) = step {
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
            sockc_compiler::ir::Step::Classify(cl) if !cl.counts => Some((p, cl.rules.clone())),
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

/// The targets of issue 5 as ratios of this run's figures.
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
    for set in ["acl1", "fw1", "ipc1"] {
        let find = |n: usize| {
            summary
                .iter()
                .find(|(name, _)| *name == format!("{set}_{n}"))
                .and_then(|(_, rows)| worst(&rows[1]))
        };
        if let (Some(small), Some(big)) = (find(1000), find(100000)) {
            s.push_str(&format!(
                "- {set}: -O2 slowest packet at 100k / at 1k {:.2}x\n",
                big / small
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ClassBench set found gets a "never" packet: one that no filter matches,
    /// or (in a set ending in filters that match every packet) only that tail.
    #[test]
    fn every_set_has_a_never_matching_packet() {
        let dir = classbench_dir(None).expect("a ClassBench directory");
        let mut checked = 0;
        for set in ["acl1", "fw1", "ipc1"] {
            for size in [1000, 10000, 100000] {
                let path = dir.join(format!("{set}_{size}.rules"));
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let filters = classbench::parse_filters(&text).expect("parses");
                let h = never_matching(&filters)
                    .unwrap_or_else(|| panic!("{set}_{size}: no never-matching header"));
                // The tail: wide filters and nothing else after them.
                let first = classbench::first_match(&filters, &h);
                assert!(
                    first.is_none_or(|i| filters[i..].iter().all(is_wide)),
                    "{set}_{size}: {h:?} is matched by filter {first:?}"
                );
                checked += 1;
            }
        }
        assert!(
            checked >= 3,
            "only {checked} sets found in {}",
            dir.display()
        );
    }
}
