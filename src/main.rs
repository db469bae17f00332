//! The `sockc` command line: a thin layer over `sockc-compiler` and `sockc-runtime`.
//!
//! Exit codes (nft/bpftool habits): 0 ok, 1 errors in the rules (diagnostics, a rule
//! file that is not UTF-8 text), 2 usage (bad arguments, an input file that cannot
//! be read or is refused by a limit, an output file that cannot be written), 3
//! kernel, permission or verifier failure, 4 changes found (diff: some packet changes
//! its verdict; apply --dry-run --exit-code: the apply would change something).
//! Every file named on the command line is read within the limits of
//! `sockc_compiler::limits`, which the global `--max-*` flags change.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand, ValueEnum};
use shared::{
    build::build,
    input::{read_input, shown},
    json::{self, sockc_error},
    memory::exit_now,
    output::write_replacing,
    settings::{self, Settings},
    stdout::{self, out},
    time::stages_ms,
};
use sockc_compiler::{
    limits::{Limit, Limits},
    Compiled,
};

mod commands;
mod conventions;
mod shared;

#[derive(Parser)]
#[command(
    name = "sockc",
    version,
    about = "Compile socket-aware firewall rules to eBPF",
    long_about = "sockc compiles a rule file (see docs/language.md) directly to eBPF bytecode \
for XDP, TC, sk_lookup and SOCKMAP (sk_msg, sk_skb) hooks, with BTF-defined maps, and \
loads it with a thin runtime that pins, journals and atomically replaces it.\n\n\
Exit codes: 0 ok, 1 errors in the rules, 2 usage (including an input file that cannot be \
read and an output file that cannot be written), 3 kernel/permission/verifier failure, \
4 changes found (diff: some packet changes its verdict; apply --dry-run --exit-code)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Print errors and data only: no warnings, notices or "ok" lines on stderr
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Also read `file "..."` sets from this directory's tree (repeatable); by default
    /// set files must lie in the rule file's directory tree. Lines of files read from
    /// here are never quoted in messages
    #[arg(long = "set-dir", global = true, value_name = "DIR")]
    set_dirs: Vec<PathBuf>,
    /// Every command takes the limits, and only `sockc --help` lists them (a
    /// subcommand's help names them in one line: `conventions::command`).
    #[command(flatten, next_help_heading = "Limits (every command takes them)")]
    bounds: Bounds,
}
/// The limits on what sockc reads and reports (`sockc_compiler::limits`); each flag
/// also reads its environment variable.
#[derive(clap::Args)]
struct Bounds {
    /// Largest rule file read, in bytes [default: 16 MiB]
    #[arg(long, value_name = "N", env = "SOCKC_MAX_SOURCE_BYTES")]
    max_source_bytes: Option<u64>,
    /// Most bytes of `file "..."` sets read for one rule file, all together [default:
    /// 64 MiB]
    #[arg(long, value_name = "N", env = "SOCKC_MAX_SET_FILE_BYTES")]
    max_set_file_bytes: Option<u64>,
    /// Most elements in the sets of one rule file, all together [default: 1048576]
    #[arg(long, value_name = "N", env = "SOCKC_MAX_SET_ELEMENTS")]
    max_set_elements: Option<u64>,
    /// Most errors, and most warnings, kept and shown per file; the rest are counted
    /// [default: 100]
    #[arg(long, value_name = "N", env = "SOCKC_MAX_DIAGNOSTICS")]
    max_diagnostics: Option<u64>,
    /// Largest `sockc test --packets` file read, in bytes [default: 64 MiB]
    #[arg(long, value_name = "N", env = "SOCKC_MAX_PACKETS_FILE_BYTES")]
    max_packets_file_bytes: Option<u64>,
}

impl Bounds {
    /// The limits given before the command or after it (`sockc status --max-... N`).
    fn limits(&self, matches: &clap::ArgMatches) -> Limits {
        let mut l = Limits::default();
        let given = [
            (Limit::SourceBytes, self.max_source_bytes),
            (Limit::SetFileBytes, self.max_set_file_bytes),
            (Limit::SetElements, self.max_set_elements),
            (Limit::Diagnostics, self.max_diagnostics),
            (Limit::PacketsFileBytes, self.max_packets_file_bytes),
        ];
        for ((limit, top), id) in given.into_iter().zip(conventions::LIMITS) {
            if let Some(v) = conventions::subcommand_limit(matches, id).or(top) {
                l.set(limit, v);
            }
        }
        l
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Emit {
    /// ELF object (needs -o)
    Obj,
    /// bytecode in bpftool `dump xlated` syntax, each rule marked with its source line
    Asm,
    /// the checked intermediate representation
    Ir,
    /// metadata, programs and instruction counts as JSON
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile a rule file to an eBPF object (-o) or print it (--emit)
    Compile {
        /// the rule file (`-` reads standard input)
        file: PathBuf,
        /// write the ELF object here
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// what to print on stdout (default: asm when no -o is given)
        #[arg(long, value_enum)]
        emit: Option<Emit>,
        /// print diagnostics as JSON on stderr
        #[arg(short, long)]
        json: bool,
        /// print how long each stage took (ms) on stderr
        #[arg(long)]
        timings: bool,
    },
    /// Parse and check a rule file; print diagnostics; write nothing
    Check {
        /// the rule file (`-` reads standard input)
        file: PathBuf,
        /// also load every program through the kernel verifier (root), without attaching
        #[arg(long)]
        verify: bool,
        /// with --verify: when the verifier refuses a program, write its whole log here
        /// (the message shows its reason and last lines)
        #[arg(long, value_name = "FILE", requires = "verify")]
        verifier_log: Option<PathBuf>,
        /// print diagnostics as JSON on stdout
        #[arg(short, long)]
        json: bool,
    },
    /// Show what the rules do to packets: verdict, deciding rule and its line.
    ///
    /// As root, each packet also runs through the compiled program in the kernel
    /// (BPF_PROG_TEST_RUN) and the two answers are compared; a disagreement exits 3.
    /// Without root the reference evaluator answers alone, and says so. For an
    /// sk_lookup block a TCP or UDP packet is a lookup (source = remote end): which
    /// registered socket it goes to, or pass/drop. For a sockmap block it is a
    /// message: verdict and redirect target, from the evaluator only (the kernel
    /// cannot test-run sk_msg/sk_skb programs).
    Test(commands::test::TestArgs),
    /// Measure sockc in the kernel (root) and print Markdown tables: -O0 against -O2,
    /// socket conditions, sk_lookup, the socket layer, or (--peer) against nftables and
    /// iptables
    ///
    /// By default, four tables: (1) -O0 against -O2 on a 10-rule set and the ClassBench
    /// sets (compile ms, instructions, verifier ms, map memory, kernel ns per packet
    /// for early, late and never-matching packets) against a parse-plus-one-LPM-lookup
    /// baseline; (2) the cost of a socket condition per hook and protocol (no socket,
    /// listener, connected); (3) sk_lookup ns per lookup at --sk-lookup-sizes bindings
    /// against an SK_PASS-only and a tubular-style LPM program; (4) TCP between two
    /// local processes (sockc-peer, found beside sockc; sockperf when installed)
    /// through the stack, with sockets in a sockmap only, and with `redirect local`:
    /// round trips, bulk and small-write throughput. --sockets-only, --no-sockets,
    /// --no-sk-lookup, --sockmap-only and --no-sockmap choose tables. --peer instead
    /// runs the head-to-head of docs/benchmarks.md: the same ClassBench rules in sockc
    /// (XDP, TC), nftables and iptables, real frames over a veth pair, ns per packet
    /// and load times (peer.md, peer.csv and peer.svg in --peer-dir). -o writes the
    /// Markdown to a file; --csv and --svg the rule-set table as CSV and as a plot of
    /// ns per packet against rule count (-O0, -O2, baseline).
    // Boxed: the bench has many more options than any other command.
    Bench(Box<sockc_bench::BenchArgs>),
    /// Install a rule file: load, verify, pin under BPFFS/sockc/NAME and attach;
    /// a re-apply swaps programs atomically (or only updates set maps)
    ///
    /// Everything new is built and verified before the first hook changes; any error
    /// before the swap leaves the installed generation as it was. `--dry-run` says which
    /// packets would change their verdict (`--details`: the plan, rule diff, set
    /// changes, bytecode diff) and runs the verifier, changing nothing; it exits 0,
    /// or with `--exit-code` 4 when something would change.
    Apply(commands::apply::ApplyArgs),
    /// Compare two rule files offline: which packets change their verdict (exit 0
    /// none, 4 some), and with --details the rules, set entries, bytecode and the plan
    /// an apply would follow
    Diff(commands::diff::DiffArgs),
    /// Print the rules an install runs, as a rule file, with its generation and the
    /// check that the kernel runs what they compile to (exit 3 when it does not);
    /// --stats puts each rule's counters beside it
    Show(commands::show::ShowArgs),
    /// Show what is installed, read back from the kernel: generation, source, hooks,
    /// program ids, attach modes, and every difference from the manifest (drift, exit 3)
    #[command(visible_alias = "list")]
    Status(commands::status::StatusArgs),
    /// Per-rule packet and byte counters of every install (or one), next to the source
    /// lines and stable rule ids
    ///
    /// `--watch` prints them again every --interval seconds with per-rule rates;
    /// `--prometheus [-o FILE]` writes the Prometheus text format (node_exporter's
    /// textfile collector); `--reset` zeroes them after printing, while the rules keep
    /// running.
    Stats(commands::stats::StatsArgs),
    /// Put a service's socket into an install's socket map, so that sk_lookup rules
    /// `redirect ... to sock NAME` reach it
    ///
    /// The socket comes from `--pid PID [--fd N]` (pidfd_getfd: CAP_SYS_PTRACE, or the
    /// same user); without --pid from systemd socket activation when LISTEN_FDS is set
    /// (ExecStartPost=sockc register NAME with PassFileDescriptorsToExec=yes); otherwise
    /// it is found bound to the declared address in the install's network namespace.
    /// It must fit the declaration: protocol, a TCP listener or an unconnected UDP
    /// socket, family, address. `apply` and `repair` also register every declared
    /// socket they find bound to its address.
    Register(commands::register::RegisterArgs),
    /// Take a socket out of an install's socket map: redirects to it drop (and count)
    /// until one is registered again
    Unregister(commands::unregister::UnregisterArgs),
    /// Detach and remove everything of an install
    Flush(commands::flush::FlushArgs),
    /// Attach again every hook that does not run what its install's manifest says
    /// (link removed, interface re-created, filter deleted), from the pins alone, and
    /// finish interrupted work; for every install, or one
    Repair(commands::repair::RepairArgs),
    /// Import a netfilter ruleset (iptables-save, ip6tables-save, nft list ruleset,
    /// nft -j list ruleset) as a rule file, with a report rule by rule
    ///
    /// Each source rule is a comment above what it became; a rule that is approximate
    /// (written stricter than the original) or unsupported (left out) says why, on
    /// stderr too. `-q` keeps only the summary line; `--report-json` writes the report
    /// as data. Exit 0 when the rule file was written, 1 when the input cannot be
    /// parsed (or, with --strict, when any rule is not exact), 2 usage and I/O errors.
    /// The default --hook is xdp until the language has netfilter hook blocks.
    Import(commands::import::ImportArgs),
    /// Convert a ClassBench filter file to a rule file (rule i = filter i)
    ///
    /// ClassBench filters (`@SA/len DA/len SPlo : SPhi DPlo : DPhi 0xPP/0xMM flags`)
    /// carry no action and TCP flags are ignored; every rule gets `ip4`.
    Classbench {
        /// the `.rules` file
        filters: PathBuf,
        /// write the rule file here instead of stdout
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// the block the rules go into
        #[arg(long, default_value = "xdp on eth0")]
        hook: String,
        /// which action each filter gets
        #[arg(long, value_enum, default_value = "alternate")]
        actions: ActionsArg,
        /// the block's default verdict
        #[arg(long, value_enum, default_value = "drop")]
        default: DefaultArg,
        /// also convert this `.rules_trace` header trace into a `sockc test --packets`
        /// file (one packet per header, in order), written to --trace-out
        #[arg(long, value_name = "TRACE", requires = "trace_out")]
        trace: Option<PathBuf>,
        /// where the converted trace goes
        #[arg(long, value_name = "FILE", requires = "trace")]
        trace_out: Option<PathBuf>,
    },
    /// Show live packets that rules with `log` decided: time, install, hook, verdict,
    /// the rule (line, stable id, text) and the packet
    ///
    /// Reads the installs' ring buffers (rules written `drop tcp to *:22 log`, at most
    /// 100 packets a second per CPU and rule, or `log N/s`); follows an install across
    /// re-applies. Every install with a logging rule, or one (--name).
    Trace(commands::trace::TraceArgs),
    /// Print a shell completion script on stdout
    ///
    /// bash: `sockc completions bash > /etc/bash_completion.d/sockc`; zsh: into a
    /// directory of $fpath as `_sockc`; fish: `~/.config/fish/completions/sockc.fish`.
    Completions {
        /// the shell to complete for
        #[arg(value_enum)]
        shell: conventions::Shell,
    },
    /// Print the sockc(1) man page (roff) on stdout, or write one page per command
    ///
    /// `sockc man | man -l -` reads it; `sockc man --dir /usr/local/share/man/man1`
    /// installs sockc.1 and sockc-COMMAND.1.
    Man {
        /// write sockc.1 and one sockc-COMMAND.1 per command into this directory
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ActionsArg {
    /// filter i allows if i is even, drops if odd
    Alternate,
    Allow,
    Drop,
}

#[derive(Clone, Copy, ValueEnum)]
enum DefaultArg {
    Allow,
    Drop,
}

fn main() -> ExitCode {
    stdout::end_quietly_on_sigpipe();
    use clap::FromArgMatches;
    let parsed = conventions::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (m, c)));
    let (matches, cli) = match parsed {
        Ok(x) => x,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    settings::set_quiet(cli.quiet);
    if let Some(schema) = json_schema(&cli.cmd) {
        json::enable(schema);
    }
    settings::set(Settings {
        opt: conventions::opt_level(&matches),
        limits: cli.bounds.limits(&matches),
        set_dirs: cli.set_dirs.clone(),
    });
    let ends_at_once = matches!(cli.cmd, Cmd::Apply(_));
    let code = run(cli.cmd);
    let n = (0..=255u8)
        .find(|n| ExitCode::from(*n) == code)
        .unwrap_or(1);
    if json::enabled().is_some() {
        json::finish(n);
    }
    if ends_at_once {
        // An apply's work is done and written (its compiled file was left unfreed,
        // `Cmd::Apply`): handing the allocator's pages back one `madvise` at a time
        // would only delay the exit (a few % of a 10k-rule apply's CPU).
        exit_now(i32::from(n))
    }
    code
}

/// The JSON schema of the command when it was given `--json` (docs/json.md).
fn json_schema(cmd: &Cmd) -> Option<&'static str> {
    let (json, schema) = match cmd {
        Cmd::Compile { json, .. } => (*json, "sockc.compile/1"),
        Cmd::Check { json, .. } => (*json, "sockc.check/1"),
        Cmd::Test(a) => (a.json, "sockc.test/1"),
        Cmd::Apply(a) => (a.json, "sockc.apply/1"),
        Cmd::Diff(a) => (a.json, "sockc.diff/1"),
        Cmd::Status(a) => (a.json, "sockc.status/1"),
        Cmd::Show(a) => (a.json, commands::show::SCHEMA),
        Cmd::Stats(a) => (a.json, commands::stats::SCHEMA),
        Cmd::Repair(a) => (a.json, "sockc.repair/1"),
        Cmd::Flush(a) => (a.json, "sockc.flush/1"),
        Cmd::Register(a) => (a.json, "sockc.register/1"),
        Cmd::Unregister(a) => (a.json, "sockc.unregister/1"),
        Cmd::Trace(a) => (a.json, commands::trace::SCHEMA),
        Cmd::Bench(_)
        | Cmd::Import(_)
        | Cmd::Classbench { .. }
        | Cmd::Completions { .. }
        | Cmd::Man { .. } => (false, ""),
    };
    json.then_some(schema)
}

fn run(cmd: Cmd) -> ExitCode {
    match cmd {
        Cmd::Compile {
            file,
            output,
            emit,
            json,
            timings,
        } => cmd_compile(&file, output.as_deref(), emit, json, timings),
        Cmd::Check {
            file,
            verify,
            verifier_log,
            json,
        } => cmd_check(&file, verify, verifier_log.as_deref(), json),
        Cmd::Classbench {
            filters,
            output,
            hook,
            actions,
            default,
            trace,
            trace_out,
        } => match (trace, trace_out) {
            (Some(trace), Some(out)) => match cmd_classbench_trace(&trace, &out) {
                ExitCode::SUCCESS => {
                    cmd_classbench(&filters, output.as_deref(), hook, actions, default)
                }
                code => code,
            },
            _ => cmd_classbench(&filters, output.as_deref(), hook, actions, default),
        },
        Cmd::Import(args) => commands::import::run(&args),
        Cmd::Apply(args) => commands::apply::run(&args),
        Cmd::Diff(args) => commands::diff::run(&args),
        Cmd::Show(args) => commands::show::run(&args),
        Cmd::Status(args) => commands::status::run(&args),
        Cmd::Repair(args) => commands::repair::run(&args),
        Cmd::Stats(args) => commands::stats::run(&args),
        Cmd::Flush(args) => commands::flush::run(&args),
        Cmd::Register(args) => commands::register::run(&args),
        Cmd::Unregister(args) => commands::unregister::run(&args),
        Cmd::Bench(args) => sockc_bench::run(&args),
        Cmd::Trace(args) => commands::trace::run(&args),
        Cmd::Completions { shell } => conventions::run_completions(shell),
        Cmd::Man { dir } => conventions::run_man(dir.as_deref()),
        Cmd::Test(args) => commands::test::run(&args),
    }
}

/// Programs of a compiled file with their rules and stable rule ids (`--emit json`
/// and `compile --json`).
fn programs_json(c: &Compiled) -> Vec<serde_json::Value> {
    c.programs
        .iter()
        .zip(&c.metadata.programs)
        .map(|(p, m)| {
            let ids = sockc_runtime::rule_id::block_ids(
                m.hook.spec().name,
                &m.attach_to,
                m.rules.iter().map(|r| &*r.text),
            );
            let rules: Vec<_> = m
                .rules
                .iter()
                .zip(ids)
                .map(|(r, id)| {
                    serde_json::json!({"id": id, "counter": r.counter, "line": r.line, "text": r.text})
                })
                .collect();
            let u = sockc_compiler::bpf::limits::measure(&p.code);
            serde_json::json!({
                "symbol": p.symbol, "section": p.section, "hook": m.hook,
                "attach_to": m.attach_to, "insns": p.code.insns.len(), "rules": rules,
                "limits": {
                    "insns": u.insns, "jump_sequence": u.jump_sequence,
                    "processed_estimate": u.processed, "stack": u.stack, "maps": u.maps,
                    "simulated_jumps": sockc_compiler::bpf::limits::simulated_jump_sequence(&p.code.insns),
                },
            })
        })
        .collect()
}

fn cmd_compile(
    file: &Path,
    output: Option<&Path>,
    emit: Option<Emit>,
    json: bool,
    timings: bool,
) -> ExitCode {
    let start = std::time::Instant::now();
    let c = match build(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut stages: Vec<(&str, std::time::Duration)> = c.timings.clone();
    let built = std::time::Instant::now();
    stages.insert(
        0,
        (
            "read, diagnostics",
            (built - start).saturating_sub(c.compile_time),
        ),
    );
    // Under --json nothing but the document goes to stdout: asm only when asked for.
    let emit = emit.or(if output.is_none() && !json {
        Some(Emit::Asm)
    } else {
        None
    });
    if emit == Some(Emit::Obj) && output.is_none() {
        sockc_error!("--emit obj needs -o FILE");
        return ExitCode::from(2);
    }
    if let Some(out) = output {
        let t = std::time::Instant::now();
        let elf = match c.to_elf() {
            Ok(e) => e,
            Err(e) => {
                sockc_error!("internal error writing the object: {e}");
                return ExitCode::from(1);
            }
        };
        stages.push(("object", t.elapsed()));
        let t = std::time::Instant::now();
        if let Err(code) = write_replacing(out, &elf) {
            return code;
        }
        stages.push(("write", t.elapsed()));
    }
    if timings {
        eprintln!(
            "timings (ms): {}; total {:.1}",
            stages_ms(&stages),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    let emitted_json = || {
        serde_json::json!({
            "programs": programs_json(&c),
            "maps": c.maps.iter().map(|m| serde_json::json!({
                "name": m.name, "type": m.map_type, "key_size": m.key.size(),
                "value_size": m.value.size(), "max_entries": m.max_entries,
            })).collect::<Vec<_>>(),
            "map_contents": c.metadata.map_contents,
        })
    };
    if json {
        json::emit(serde_json::json!({
            "file": file.display().to_string(),
            "output": output.map(|o| o.display().to_string()),
            "programs": programs_json(&c),
            "emitted": match emit {
                Some(Emit::Asm) => serde_json::Value::String(c.asm()),
                Some(Emit::Ir) => serde_json::Value::String(c.module.to_string()),
                Some(Emit::Json) => emitted_json(),
                Some(Emit::Obj) | None => serde_json::Value::Null,
            },
        }));
        return ExitCode::SUCCESS;
    }
    let text = match emit {
        Some(Emit::Asm) => c.asm(),
        Some(Emit::Ir) => c.module.to_string(),
        Some(Emit::Json) => serde_json::to_string_pretty(&emitted_json()).expect("json") + "\n",
        Some(Emit::Obj) | None => String::new(),
    };
    stdout::bytes(text.as_bytes());
    // The process ends here: freeing a large rule set's IR and tables one allocation
    // at a time, and the allocator handing its pages back at exit, would only delay
    // it (~5 ms at 10,000 rules, more than the whole parse).
    exit_now(0)
}

fn cmd_check(file: &Path, verify: bool, verifier_log: Option<&Path>, json: bool) -> ExitCode {
    let c = match build(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut verified = None;
    if verify {
        let elf = match c.to_elf() {
            Ok(e) => e,
            Err(e) => {
                sockc_error!("internal error writing the object: {e}");
                return ExitCode::from(1);
            }
        };
        match sockc_runtime::LoadedObject::load(&elf) {
            Ok(obj) => {
                let mut list = Vec::new();
                for p in obj.programs() {
                    if !json && !settings::quiet() {
                        eprintln!(
                            "verified {} ({} insns, {} processed by the verifier, {:.1} ms)",
                            p.symbol,
                            p.xlated_insns.unwrap_or(0),
                            p.verified_insns.unwrap_or(0),
                            p.load_time.as_secs_f64() * 1e3
                        );
                    }
                    list.push(serde_json::json!({
                        "symbol": p.symbol, "hook": p.hook,
                        "xlated_insns": p.xlated_insns, "verified_insns": p.verified_insns,
                        "load_ms": p.load_time.as_secs_f64() * 1e3,
                    }));
                }
                verified = Some(list);
            }
            Err(e) => {
                sockc_error!("{}", sockc_runtime::error_chain(&e));
                if let (Some(path), Some(log)) = (verifier_log, e.verifier_log()) {
                    match sockc_compiler::output::replace_file(path, log.as_bytes()) {
                        Ok(()) => {
                            eprintln!("sockc: the whole verifier log is in {}", shown(path))
                        }
                        Err(w) => eprintln!("sockc: cannot write {}: {w}", shown(path)),
                    }
                }
                return ExitCode::from(3);
            }
        }
    }
    let name = if shared::input::is_stdin(file) {
        shared::input::STDIN_NAME.to_string()
    } else {
        shown(file)
    };
    if json {
        json::emit(serde_json::json!({ "file": name, "ok": true, "verified": verified }));
    } else if !settings::quiet() {
        eprintln!("{name}: ok");
    }
    ExitCode::SUCCESS
}

/// Writes a ClassBench header trace as a `sockc test --packets` file.
fn cmd_classbench_trace(trace: &Path, out: &Path) -> ExitCode {
    let text = match read_input(trace, Limit::PacketsFileBytes) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let headers = match sockc_testkit::classbench::parse_trace(&text) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("sockc: {}: {e}", shown(trace));
            return ExitCode::from(1);
        }
    };
    let mut packets = String::new();
    for h in &headers {
        packets.push_str(&h.packet().to_string());
        packets.push('\n');
    }
    if let Err(code) = write_replacing(out, packets.as_bytes()) {
        return code;
    }
    eprintln!("{}: {} packets", shown(out), headers.len());
    ExitCode::SUCCESS
}

fn cmd_classbench(
    filters: &Path,
    output: Option<&Path>,
    hook: String,
    actions: ActionsArg,
    default: DefaultArg,
) -> ExitCode {
    use sockc_testkit::classbench::{parse_filters, to_sk, ActionPolicy, ConvertOptions};
    let text = match read_input(filters, Limit::SourceBytes) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let parsed = match parse_filters(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("sockc: {}: {e}", shown(filters));
            return ExitCode::from(1);
        }
    };
    let opts = ConvertOptions {
        hook,
        policy: match actions {
            ActionsArg::Alternate => ActionPolicy::Alternate,
            ActionsArg::Allow => ActionPolicy::AllAllow,
            ActionsArg::Drop => ActionPolicy::AllDrop,
        },
        default: match default {
            DefaultArg::Allow => "allow",
            DefaultArg::Drop => "drop",
        },
    };
    let sk = to_sk(&parsed, &opts);
    match output {
        Some(out) => {
            if let Err(code) = write_replacing(out, sk.as_bytes()) {
                return code;
            }
            eprintln!("{}: {} rules", shown(out), parsed.len());
        }
        None => out!("{sk}"),
    }
    ExitCode::SUCCESS
}
