//! sockc-bench: `sockc bench`, the benchmark of the compiled programs, in one run.
//!
//! Six Markdown tables, each printed as it is measured and all written to `-o`:
//! -O0 against -O2 on a 10-rule set and the ClassBench sets, in IPv4 and carried over
//! to IPv6, with a parse-plus-one-LPM baseline ([`rule_sets`], its cases from [`cases`]
//! and [`ipv6_cases`]); the cost of a socket condition
//! per hook and protocol ([`socket_conditions`]); the IPv6 extension-header walk and
//! `frag` per hook ([`ext_headers`]); each construct's cost (reject, limit, `ct
//! state`, route, the extension-header walk, frame rules) with and without it
//! ([`constructs`]); sk_lookup steering per lookup against
//! an SK_PASS-only and a tubular-style program ([`sk_lookup`], the latter built by
//! [`tubular`]); and TCP between two local processes with and without `redirect local`
//! ([`sockmap`]). Ratios are within the run only.
//!
//! The crate uses the compiler through its public API only: `compile` and what it
//! returns, the optimization levels, the hook table, the IR's classifier steps (node
//! reads, the one-rule update), and for the hand-built tubular-style program the
//! instruction encoder (`bpf::insn`, `bpf::buffer`), the map and metadata types and
//! the object writer. The runtime loads, test-runs and installs. Invariant: the
//! figures come from the kernel (`BPF_PROG_TEST_RUN`, real sockets); nothing is
//! estimated.
//!
//! It runs inside the `sockc` binary: the whole-process compile column runs that
//! binary's `sockc compile`, and the socket-layer table starts `sockc-peer`
//! (`testkit/peer`) from beside it.

mod cases;
mod cgroup;
mod constructs;
mod control;
mod ext_headers;
mod ipv6_cases;
mod measure;
mod peer;
mod plot;
mod reject_sets;
mod rule_sets;
mod sk_lookup;
mod socket_conditions;
mod sockmap;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use clap::Args;

use measure::TestRuns;
use sockc_testkit::classbench_data;

#[derive(Args)]
pub struct BenchArgs {
    /// ClassBench directory (default: $SOCKC_CLASSBENCH_DIR, else the repository's
    /// bench/classbench, which holds the 1k, 10k and 100k sets)
    #[arg(long)]
    pub classbench: Option<PathBuf>,
    /// ClassBench seeds to run
    #[arg(long, value_delimiter = ',', default_value = "acl1,fw1,ipc1")]
    pub sets: Vec<String>,
    /// ClassBench seeds also run carried over to IPv6 (a.b.c.d -> 2001:db8:ab:cd::,
    /// /n -> /(32+n)); empty for none
    #[arg(long, value_delimiter = ',', default_value = "acl1")]
    pub v6_sets: Vec<String>,
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
    /// Also write the rule-set table's figures here as CSV (one line per set and
    /// level)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Also plot the rule-set table here as SVG: the late packet's ns against rule
    /// count, a line per set and level (-O0, -O2, baseline)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
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
    /// Only the head-to-head against nftables and iptables on real frames over a veth
    /// pair (`--sizes`, `--peer-sets`; see docs/benchmarks.md)
    #[arg(long)]
    pub peer: bool,
    /// Head-to-head: ClassBench seeds
    #[arg(long, value_delimiter = ',', default_value = "acl1")]
    pub peer_sets: Vec<String>,
    /// Head-to-head: rounds (every contender at every size once per round)
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Head-to-head: contenders (baseline, sockc-xdp, sockc-tc, nft-linear, nft-sets,
    /// iptables-legacy, iptables-nft)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baseline,sockc-xdp,sockc-tc,nft-linear,nft-sets,iptables-legacy,iptables-nft"
    )]
    pub contenders: Vec<String>,
    /// Head-to-head: measured window per packet case, ms
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// Head-to-head: generator time before each window, ms
    #[arg(long, default_value_t = 200)]
    pub warmup_ms: u64,
    /// Head-to-head: trace headers checked per contender before timing
    #[arg(long, default_value_t = 200)]
    pub sample: usize,
    /// Head-to-head: keep the generator and the receiver's NAPI thread under the
    /// normal scheduler (by default they run under SCHED_FIFO, so that other work on
    /// a shared machine does not decide how often the receiver polls)
    #[arg(long)]
    pub no_realtime: bool,
    /// Head-to-head: where peer.md, peer.csv and peer.svg go
    #[arg(long, default_value = "bench/peer")]
    pub peer_dir: PathBuf,
    /// Head-to-head and control plane: the sockc binary whose `apply` is timed (by
    /// default this one), to compare two builds' load times and memory
    #[arg(long)]
    pub peer_sockc: Option<PathBuf>,
    /// Only the control plane: first apply, re-apply, `apply --dry-run`, `diff`,
    /// compile, peak RSS and set updates against `iptables-legacy-restore` and other
    /// baselines of the same rounds (`--sizes`, the first of `--peer-sets`,
    /// `--rounds`, `--set-elements`; see docs/benchmarks.md)
    #[arg(long, conflicts_with = "peer")]
    pub control: bool,
    /// Control plane: addresses in the set of the set-update rows (0: no set rows)
    #[arg(long, default_value_t = 1_000_000)]
    pub set_elements: u32,
    /// Control plane: also write the figures here as JSON (schema sockc.bench/1); with
    /// --cgroup, its figures (schema sockc.bench.cgroup/1)
    #[arg(long, value_name = "FILE")]
    pub figures: Option<PathBuf>,
    /// Control plane: compare the figures' ratios with this committed document and exit
    /// 1 when one grew by more than `--tolerance` times, or is missing
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Control plane: how many times its baseline's ratio a figure's may grow before
    /// `--baseline` calls it a regression
    #[arg(long, default_value_t = 1.5)]
    pub tolerance: f64,
    /// Only policy on a cgroup: a `cgroup egress` block's cost per datagram sent by a
    /// process in the cgroup, against nft output chains that test the socket and no
    /// filter (`--cgroup-sizes`, the first of `--peer-sets`, `--rounds`, `--window-ms`,
    /// `--warmup-ms`, `--datagram`), and `connect()` latency under a `cgroup connect`
    /// block, a systemd-style `IPAddressDeny=` with the same prefixes and none
    /// (`--connect-rules`, `--connects`); see docs/benchmarks.md
    #[arg(long, conflicts_with_all = ["peer", "control"])]
    pub cgroup: bool,
    /// Policy on a cgroup: rule counts of the per-datagram table
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub cgroup_sizes: Vec<usize>,
    /// Policy on a cgroup: UDP payload bytes per timed datagram
    #[arg(long, default_value_t = 16)]
    pub datagram: usize,
    /// Policy on a cgroup: `drop to PREFIX` rules of the connect block (distinct
    /// prefixes of the set's 10k filters, destinations and sources)
    #[arg(long, default_value_t = 1000)]
    pub connect_rules: usize,
    /// Policy on a cgroup: timed connects per contender and round (TCP, then UDP)
    #[arg(long, default_value_t = 20_000)]
    pub connects: u64,
    /// Compare this figures document (as `--figures` writes it) with `--baseline` instead
    /// of measuring (needs no root)
    #[arg(long, value_name = "FILE", requires = "baseline")]
    pub compare: Option<PathBuf>,
}

impl BenchArgs {
    fn test_runs(&self) -> TestRuns {
        TestRuns {
            repeat: self.repeat,
            runs: self.runs,
        }
    }
}

/// `sockc bench`: every table the arguments ask for, printed as it goes; exits 3
/// without root, 1 when a table fails or the report cannot be written.
pub fn run(args: &BenchArgs) -> ExitCode {
    if let Some(figures) = &args.compare {
        return compare_files(figures, args);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("sockc bench: needs root (BPF_PROG_LOAD, BPF_PROG_TEST_RUN)");
        return ExitCode::from(3);
    }
    if args.peer {
        return run_peer(args);
    }
    if args.control {
        return run_control(args);
    }
    if args.cgroup {
        return run_cgroup(args);
    }
    let rule_sets = !args.sockets_only && !args.sockmap_only;
    let cases = if rule_sets {
        let v6: Vec<String> = args
            .v6_sets
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        cases::all(args.classbench.as_deref(), &args.sets, &v6, &args.sizes)
    } else {
        Vec::new()
    };
    let header = format!(
        "sockc bench: {} repeats per measurement, median of {} runs, rule sets at XDP, {}\n\n",
        args.repeat,
        args.runs,
        kernel_release()
    );
    print!("{header}");
    let mut out = header;
    let (table, measured) = rule_sets::table(&cases, args.test_runs());
    out.push_str(&table);
    if let Err(e) = rule_set_files(args, &measured) {
        eprintln!("sockc bench: {e}");
        return ExitCode::from(1);
    }
    match reject_sets::table(&cases, args.test_runs()) {
        Ok(t) => out.push_str(&t),
        Err(e) => {
            eprintln!("sockc bench: reject against drop: {e}");
            return ExitCode::from(1);
        }
    }
    if let Err(code) = other_tables(args, &mut out) {
        return code;
    }
    if let Some(path) = &args.output {
        if let Err(e) = sockc_compiler::output::replace_file(path, out.as_bytes()) {
            eprintln!("sockc bench: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

/// The rule-set table's CSV and SVG, where `--csv` and `--svg` ask for them.
fn rule_set_files(args: &BenchArgs, measured: &[rule_sets::Measured]) -> Result<(), String> {
    if let Some(path) = &args.csv {
        sockc_compiler::output::replace_file(path, rule_sets::csv(measured).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        rule_sets::svg(measured, path)?;
    }
    Ok(())
}

/// The socket-condition, sk_lookup and socket-layer tables the arguments ask for,
/// appended to `out`; the first that fails ends the run.
fn other_tables(args: &BenchArgs, out: &mut String) -> Result<(), ExitCode> {
    let fail = |what: &str, e: String| {
        eprintln!("sockc bench: {what}: {e}");
        ExitCode::from(1)
    };
    if !args.no_sockets && !args.sockmap_only {
        let t =
            socket_conditions::table(args.test_runs()).map_err(|e| fail("socket conditions", e))?;
        out.push_str(&t);
    }
    if !args.sockmap_only && !args.sockets_only {
        let t = ext_headers::table(args.test_runs()).map_err(|e| fail("extension headers", e))?;
        out.push_str(&t);
        let t = constructs::table(args.test_runs()).map_err(|e| fail("constructs", e))?;
        out.push_str(&t);
    }
    if !args.no_sk_lookup && !args.sk_lookup_sizes.is_empty() && !args.sockmap_only {
        let t = sk_lookup::table(args.test_runs(), &args.sk_lookup_sizes)
            .map_err(|e| fail("sk_lookup", e))?;
        out.push_str(&t);
    }
    if !args.no_sockmap && !args.sockets_only {
        let knobs = sockmap::Knobs {
            runs: args.runs,
            round_trips: args.round_trips,
            message: args.message,
            bulk_mb: args.bulk_mb,
            small_mb: args.small_mb,
        };
        let t = sockmap::table(&knobs).map_err(|e| fail("socket layer", e))?;
        out.push_str(&t);
    }
    Ok(())
}

/// `sockc bench --peer`: the head-to-head, its report printed and written to
/// `--peer-dir` (and `-o`).
fn run_peer(args: &BenchArgs) -> ExitCode {
    let fail = |e: String| {
        eprintln!("sockc bench --peer: {e}");
        ExitCode::from(1)
    };
    let contenders: Result<Vec<_>, String> = args
        .contenders
        .iter()
        .map(|k| peer::Contender::from_key(k).ok_or_else(|| format!("unknown contender `{k}`")))
        .collect();
    let classbench = classbench_data::dir(args.classbench.as_deref(), Path::new(""));
    if !classbench.is_dir() {
        return fail(format!(
            "no ClassBench directory at {} (run from the repository's root, or give \
             --classbench DIR or $SOCKC_CLASSBENCH_DIR)",
            classbench.display()
        ));
    }
    let sockc = match args
        .peer_sockc
        .clone()
        .map_or_else(std::env::current_exe, Ok)
    {
        Ok(p) => p,
        Err(e) => return fail(format!("the sockc binary: {e}")),
    };
    let options = match contenders {
        Ok(contenders) => peer::PeerOptions {
            classbench,
            sets: args.peer_sets.clone(),
            sizes: args.sizes.clone(),
            rounds: args.rounds.max(1),
            contenders,
            warmup: Duration::from_millis(args.warmup_ms),
            window: Duration::from_millis(args.window_ms),
            sample: args.sample,
            out_dir: args.peer_dir.clone(),
            sockc,
            realtime: !args.no_realtime,
        },
        Err(e) => return fail(e),
    };
    match peer::run(&options) {
        Ok(md) => {
            print!("{md}");
            if let Some(path) = &args.output {
                if let Err(e) = sockc_compiler::output::replace_file(path, md.as_bytes()) {
                    return fail(format!("cannot write {}: {e}", path.display()));
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `sockc bench --control`: the control-plane table, printed and written to `-o`, its
/// figures to `--figures`, compared with `--baseline`.
fn run_control(args: &BenchArgs) -> ExitCode {
    let fail = |e: String| {
        eprintln!("sockc bench --control: {e}");
        ExitCode::from(1)
    };
    let classbench = classbench_data::dir(args.classbench.as_deref(), Path::new(""));
    let sockc = match args
        .peer_sockc
        .clone()
        .map_or_else(std::env::current_exe, Ok)
    {
        Ok(p) => p,
        Err(e) => return fail(format!("the sockc binary: {e}")),
    };
    let options = control::ControlOptions {
        classbench,
        set: args
            .peer_sets
            .first()
            .cloned()
            .unwrap_or_else(|| "acl1".into()),
        sizes: args.sizes.clone(),
        rounds: args.rounds.max(1),
        set_elements: args.set_elements,
        sockc,
    };
    let (md, doc) = match control::run(&options) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    print!("{md}");
    let json = serde_json::to_string_pretty(&doc.to_json()).expect("JSON") + "\n";
    if let Err(e) = write_outputs(args, &md, &json) {
        return fail(e);
    }
    match &args.baseline {
        Some(base) => compare_with(base, &doc.to_json(), args.tolerance),
        None => ExitCode::SUCCESS,
    }
}

/// The Markdown to `-o` and the figures' JSON to `--figures`, where given.
fn write_outputs(args: &BenchArgs, md: &str, json: &str) -> Result<(), String> {
    for (path, bytes) in [(&args.output, md), (&args.figures, json)] {
        if let Some(path) = path {
            sockc_compiler::output::replace_file(path, bytes.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// `sockc bench --cgroup`: both tables, printed and written to `-o`, the figures to
/// `--figures`.
fn run_cgroup(args: &BenchArgs) -> ExitCode {
    let fail = |e: String| {
        eprintln!("sockc bench --cgroup: {e}");
        ExitCode::from(1)
    };
    let options = cgroup::CgroupOptions {
        classbench: classbench_data::dir(args.classbench.as_deref(), Path::new("")),
        set: args
            .peer_sets
            .first()
            .cloned()
            .unwrap_or_else(|| "acl1".into()),
        sizes: args.cgroup_sizes.clone(),
        rounds: args.rounds.max(1),
        warmup: Duration::from_millis(args.warmup_ms),
        window: Duration::from_millis(args.window_ms.max(1)),
        datagram: args.datagram,
        connect_rules: args.connect_rules.max(1),
        connects: args.connects.max(1),
    };
    let (md, doc) = match cgroup::run(&options) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    print!("{md}");
    let json = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
    if let Err(e) = write_outputs(args, &md, &json) {
        return fail(e);
    }
    ExitCode::SUCCESS
}

/// `sockc bench --compare FILE --baseline BASE`.
fn compare_files(figures: &Path, args: &BenchArgs) -> ExitCode {
    let base = args.baseline.as_deref().expect("clap requires --baseline");
    match read_json(figures) {
        Ok(new) => compare_with(base, &new, args.tolerance),
        Err(e) => {
            eprintln!("sockc bench --compare: {e}");
            ExitCode::from(1)
        }
    }
}

/// Compares `new` with the baseline document at `base`; prints every figure's line
/// and exits 1 on a regression.
fn compare_with(base: &Path, new: &serde_json::Value, tolerance: f64) -> ExitCode {
    let compared = read_json(base).and_then(|b| control::figures::compare(&b, new, tolerance));
    match compared {
        Ok(c) => {
            println!("against {} (tolerance {tolerance}x):", base.display());
            for line in &c.lines {
                println!("  {line}");
            }
            if c.regressions.is_empty() {
                println!("no regression");
                ExitCode::SUCCESS
            } else {
                for r in &c.regressions {
                    eprintln!("sockc bench: regression: {r}");
                }
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("sockc bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_default()
}
