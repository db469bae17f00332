//! The command line's definition: the top-level flags ([`Cli`]: `-q`, `--set-dir`,
//! the `--max-*` limits), the commands ([`Cmd`], each with the `Args` its module in
//! `crate::commands` defines), and what the clap derive does not say by itself: the
//! `-O` flag on exactly the commands that compile, help text that depends on the
//! command (`--name`'s default), the limits listed once, `-q` and `--set-dir` copied
//! into the command that runs only ([`Everywhere`]), and each command's JSON schema.
//!
//! Invariant: parsing, shell completions and the man pages all use the one
//! [`command`] built here (`main` hands it to `completions` and `man`).

use std::path::PathBuf;

use clap::{builder::Resettable, Arg, ArgMatches, Command, CommandFactory, Parser, Subcommand};
use sockc_compiler::{
    limits::{Limit, Limits},
    opt::OptLevel,
};

use crate::commands::{
    apply, check, classbench, compile, completions, confirm, deadline, diff, flush, import, man,
    register, repair, show, stats, status, systemd, test, trace, unregister, watch,
};

#[derive(Parser)]
#[command(
    name = "sockc",
    version,
    about = "Compile socket-aware firewall rules to eBPF",
    long_about = "sockc compiles a rule file (see docs/language.md) directly to eBPF bytecode \
for XDP, TC, netfilter, sk_lookup and SOCKMAP (sk_msg, sk_skb) hooks, with BTF-defined maps, and \
loads it with a thin runtime that pins, journals and atomically replaces it.\n\n\
Exit codes: 0 ok, 1 errors in the rules, 2 usage (including an input file that cannot be \
read and an output file that cannot be written), 3 kernel/permission/verifier failure, \
4 changes found (diff: some packet changes its verdict; apply --dry-run --exit-code)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
    /// Given before the command or after it ([`Everywhere::with_command`]).
    #[command(flatten)]
    pub everywhere: Everywhere,
    /// Every command takes the limits, and only `sockc --help` lists them (a
    /// subcommand's help names them in one line: [`command`]).
    #[command(flatten, next_help_heading = LIMITS_HEADING)]
    pub bounds: Bounds,
}

/// The flags every command takes and lists, `-q` and `--set-dir`. Not clap's `global`,
/// which copies them into all 22 commands whenever the top level is built (about 20
/// of `sockc --version`'s page faults, docs/benchmarks.md, "The process's start and
/// end"): [`args`] gives the command that is built copies of its own ([`everywhere`]),
/// in the place and display order `global` gave them.
#[derive(clap::Args)]
pub struct Everywhere {
    /// Print errors and data only: no warnings, notices or "ok" lines; apply prints
    /// nothing on success but a change left pending confirmation
    #[arg(short, long)]
    pub quiet: bool,
    /// Also read `file "..."` sets from this directory's tree (repeatable); by default
    /// set files must lie in the rule file's directory tree. Lines of files read from
    /// here are never quoted in messages
    #[arg(long = "set-dir", value_name = "DIR")]
    pub set_dirs: Vec<PathBuf>,
}

impl Everywhere {
    /// The flags given before the command (`self`) or after it (`m`'s subcommand), as
    /// clap's `global` merged them: `-q` at either level; `--set-dir` after the command
    /// replaces those before it.
    pub fn with_command(mut self, m: &ArgMatches) -> Everywhere {
        let Some((_, sub)) = m.subcommand() else {
            return self;
        };
        if sub.try_get_one::<bool>("quiet").ok().flatten() == Some(&true) {
            self.quiet = true;
        }
        if let Ok(Some(dirs)) = sub.try_get_many::<PathBuf>("set_dirs") {
            self.set_dirs = dirs.cloned().collect();
        }
        self
    }
}
/// Where `sockc --help` lists the limits ([`Bounds`]).
const LIMITS_HEADING: &str = "Limits (every command takes them)";

/// The limits on what sockc reads and reports (`sockc_compiler::limits`); each flag
/// also reads its environment variable.
#[derive(clap::Args)]
pub struct Bounds {
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
    /// Most steps of work a semantic diff (`diff`, `apply --dry-run`) takes per pair of
    /// blocks before it stops and says so; its cap of packet classes grows with it, and
    /// so do its time and memory (the default is about a second) [default: 50000000]
    #[arg(long, value_name = "N", env = "SOCKC_MAX_DIFF_WORK")]
    max_diff_work: Option<u64>,
}

impl Bounds {
    /// The limits given before the command or after it (`sockc status --max-... N`).
    pub fn limits(&self, matches: &ArgMatches) -> Limits {
        let mut l = Limits::default();
        let given = [
            (Limit::SourceBytes, self.max_source_bytes),
            (Limit::SetFileBytes, self.max_set_file_bytes),
            (Limit::SetElements, self.max_set_elements),
            (Limit::Diagnostics, self.max_diagnostics),
            (Limit::PacketsFileBytes, self.max_packets_file_bytes),
            (Limit::DiffWork, self.max_diff_work),
        ];
        for ((limit, top), id) in given.into_iter().zip(LIMITS) {
            if let Some(v) = subcommand_limit(matches, id).or(top) {
                l.set(limit, v);
            }
        }
        l
    }
}

// Deferred: a command's arguments are built only when it runs (or for help, completions
// and the man page, which build them all), and [`command`] finishes each as it is built
// ([`ARGS`]).
#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Compile a rule file to an eBPF object (-o) or print it (--emit)
    Compile(compile::CompileArgs),
    /// Parse and check a rule file; print diagnostics; write nothing
    Check(check::CheckArgs),
    /// Show what the rules do to packets: verdict, deciding rule and its line.
    ///
    /// As root, each packet also runs through the compiled program in the kernel
    /// (BPF_PROG_TEST_RUN) and the two answers are compared; a disagreement exits 3.
    /// Without root the reference evaluator answers alone, and says so. For an
    /// sk_lookup block a TCP or UDP packet is a lookup (source = remote end): which
    /// registered socket it goes to, or pass/drop. For a sockmap block it is a
    /// message: verdict and redirect target, from the evaluator only (the kernel
    /// cannot test-run sk_msg/sk_skb programs).
    Test(test::TestArgs),
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
    /// and load times (peer.md, peer.csv and peer.svg in --peer-dir). --cgroup runs
    /// policy on a cgroup: a `cgroup egress` block against nft output chains that test
    /// the socket, per datagram sent from the cgroup, and connect() latency under a
    /// `cgroup connect` block against a systemd-style IPAddressDeny= with the same
    /// prefixes (--figures writes its JSON). -o writes the
    /// Markdown to a file; --csv and --svg the rule-set table as CSV and as a plot of
    /// ns per packet against rule count (-O0, -O2, baseline).
    // Boxed: the bench has many more options than any other command.
    Bench(Box<sockc_bench::BenchArgs>),
    /// Install a rule file: load, verify, pin under BPFFS/sockc/NAME and attach;
    /// a re-apply swaps programs atomically (or only updates set maps)
    ///
    /// Everything new is built and verified before the first hook changes; any error
    /// before the swap leaves the installed generation as it was. Prints the plan —
    /// listed when it changes at most 50 lines of rules, set entries and bytecode,
    /// else as counts (`--details` lists it whole, `--summary` counts it) — and one line
    /// saying what was done; `-q` nothing on success. `--dry-run` says which packets
    /// would change their verdict (`--details` or `--summary`: and the plan) and runs
    /// the verifier, changing nothing; it exits 0, or with `--exit-code` 4 when
    /// something would change (with `-q` it prints nothing: `--exit-code` answers).
    Apply(apply::ApplyArgs),
    /// Keep a change applied with `apply --confirm`; without it, the change is rolled
    /// back at its deadline
    ///
    /// Run it from a new connection to the host once the change is applied: if the
    /// change cut you off, nothing confirms it and the host puts the rules before it
    /// back by itself. Says `confirmed`, or `rolled-back` with the reason (exit 3: too
    /// late), or that nothing was pending.
    Confirm(confirm::ConfirmArgs),
    /// The watcher `apply --confirm` starts: waits for the deadline, runs the probes,
    /// rolls the change back unless confirmed
    #[command(hide = true)]
    Deadline(deadline::DeadlineArgs),
    /// Compare two rule files offline: which packets change their verdict (exit 0
    /// none, 4 some), and with --details the rules, set entries, bytecode and the plan
    /// an apply would follow; with --installed, hooks or sets of the install that do
    /// not run its records are drift (exit 3)
    Diff(diff::DiffArgs),
    /// Print the rules an install runs, as a rule file, with its generation and the
    /// check that the kernel runs what they compile to (exit 3 when it does not);
    /// --stats puts each rule's counters beside it
    Show(show::ShowArgs),
    /// Show what is installed, read back from the kernel: generation, source, hooks,
    /// program ids, attach modes, and every difference from the manifest (drift, exit 3);
    /// also what else runs at a netfilter block's hook and priority
    #[command(visible_alias = "list")]
    Status(status::StatusArgs),
    /// Per-rule packet and byte counters of every install (or one), next to the source
    /// lines and stable rule ids
    ///
    /// `--watch` prints them again every --interval seconds with per-rule rates;
    /// `--prometheus [-o FILE]` writes the Prometheus text format (node_exporter's
    /// textfile collector); `--reset` zeroes them after printing, while the rules keep
    /// running.
    Stats(stats::StatsArgs),
    /// Put a service's socket into an install's socket map, so that sk_lookup rules
    /// `redirect ... to sock NAME` reach it
    ///
    /// The socket comes from `--pid PID [--fd N]` (pidfd_getfd: CAP_SYS_PTRACE, or the
    /// same user); without --pid from systemd socket activation when LISTEN_FDS is set
    /// (ExecStartPost=sockc register NAME with PassFileDescriptorsToExec=yes); otherwise
    /// it is found bound to the declared address in the install's network namespace.
    /// It must fit the declaration: protocol, a TCP listener or an unconnected UDP
    /// socket, family, address; and the declaration must trust it: created in its
    /// `cgroup "PATH"` (or below), or else owned by its `owner` (root when it names
    /// none) — whatever process holds it now. `apply` and `repair` also register every
    /// declared socket they find bound to its address, and take out one the
    /// declaration does not trust.
    Register(register::RegisterArgs),
    /// Take a socket out of an install's socket map: redirects to it drop (and count)
    /// until one is registered again
    Unregister(unregister::UnregisterArgs),
    /// Print, write (--write), compare (--check) or remove (--remove) the systemd
    /// drop-ins that keep an install's `unit` blocks on their units across restarts
    ///
    /// One file per unit, ROOT/etc/systemd/system/UNIT.d/50-sockc-NAME.conf, whose
    /// IPIngressFilterPath=/IPEgressFilterPath= (BPFProgram= for other cgroup hooks)
    /// name the programs the install pins for the unit: systemd attaches them to the
    /// unit's new cgroup on every start. A drop-in missing, changed or left over is
    /// drift (--check, exit 3). After --write or --remove, `systemctl daemon-reload`
    /// runs where systemd is PID 1 and ROOT is /.
    Systemd(systemd::SystemdArgs),
    /// Detach and remove everything of an install (of a conntrack anchor table that
    /// also holds what sockc did not make, only sockc's chain: the rest stays, and is
    /// named), its systemd drop-ins under /etc/systemd/system included
    Flush(flush::FlushArgs),
    /// Attach again every hook that does not run what its install's manifest says
    /// (link removed, interface re-created, filter deleted), from the pins alone, and
    /// finish interrupted work; for every install, or one
    Repair(repair::RepairArgs),
    /// Apply every NAME.sk of a directory as the install NAME whenever it changes: the
    /// node agent of a Kubernetes DaemonSet (a ConfigMap volume's `..data` swap)
    ///
    /// A file that does not compile is refused and its install keeps its rules; with
    /// --confirm, a round's changes are rolled back unless every --probe held for the
    /// window. Reports one line per event on stderr, and per install in --status-file
    /// (JSON, sockc.watch/1), --ready-file and --termination-log. SIGTERM ends it, exit 0;
    /// the rules stay installed. See docs/deploy.md, "Kubernetes".
    Watch(watch::WatchArgs),
    /// Import a netfilter ruleset (iptables-save, ip6tables-save, nft list ruleset,
    /// nft -j list ruleset) as a rule file, with a report rule by rule
    ///
    /// Each source rule is a comment above what it became; a rule that is approximate
    /// (written stricter than the original) or unsupported (left out) says why, on
    /// stderr too. `-q` keeps only the summary line; `--report-json` writes the report
    /// as data. Exit 0 when the rule file was written, 1 when the input cannot be
    /// parsed (or, with --strict, when any rule is not exact), 2 usage and I/O errors.
    /// The default --hook is netfilter: a `netfilter HOOK priority N` block where the
    /// source ran each base chain; xdp and tc need --interface.
    Import(import::ImportArgs),
    /// Convert a ClassBench filter file to a rule file (rule i = filter i)
    ///
    /// ClassBench filters (`@SA/len DA/len SPlo : SPhi DPlo : DPhi 0xPP/0xMM flags`)
    /// carry no action and TCP flags are ignored; every rule gets `ip4`.
    Classbench(classbench::ClassbenchArgs),
    /// Show live packets that rules with `log` decided: time, install, hook, verdict,
    /// the rule (line, stable id, text) and the packet
    ///
    /// Reads the installs' ring buffers (rules written `drop tcp to *:22 log`, at most
    /// 100 packets a second per CPU and rule, or `log N/s`); follows an install across
    /// re-applies. Every install with a logging rule, or one (--name).
    Trace(trace::TraceArgs),
    /// Print a shell completion script on stdout
    ///
    /// bash: `sockc completions bash > /etc/bash_completion.d/sockc`; zsh: into a
    /// directory of $fpath as `_sockc`; fish: `~/.config/fish/completions/sockc.fish`.
    Completions(completions::CompletionsArgs),
    /// Print the sockc(1) man page (roff) on stdout, or write one page per command
    ///
    /// `sockc man | man -l -` reads it; `sockc man --dir /usr/local/share/man/man1`
    /// installs sockc.1 and sockc-COMMAND.1.
    Man(man::ManArgs),
}

/// The commands that compile a rule file, and so take `-O`.
const COMPILING: &[&str] = &["compile", "check", "test", "apply", "diff"];

fn opt_arg() -> Arg {
    Arg::new("opt")
        .short('O')
        .value_name("LEVEL")
        .default_value("2")
        .value_parser(["0", "2"])
        .help(
            "Optimization level: 0 lowers each rule on its own (the baseline), 2 runs all \
             optimizer passes",
        )
}

/// The full command line: the derive's [`Cli`] plus, on each command, `-O` when it
/// compiles, its help of `--name` and the limits ([`finish`]). Parsing, completions
/// and the man page all use this one definition. Each command's arguments are made
/// only when it is built ([`ARGS`]): a command line builds the one it runs (clap
/// building all 22 was about a fifth of `sockc --version`'s CPU); help, completions
/// and the man page build them all.
pub fn command() -> Command {
    let mut cmd = Cli::command();
    // In place: `mut_subcommand` takes each command out of the list and pushes it back
    // (the commands after it moved down, then the whole command line moved twice),
    // which was most of `sockc --version`'s instructions.
    for c in cmd.get_subcommands_mut() {
        if let Some((_, args)) = ARGS.iter().find(|(name, _)| *name == c.get_name()) {
            *c = std::mem::take(c).defer(*args);
        }
    }
    cmd
}

/// What makes a command's arguments, given the command ([`ARGS`]).
type MakeArgs = fn(Command) -> Command;

/// Each command's arguments and what [`finish`] adds to them, made when the command is
/// built: in place of the derive's own deferred `augment_args` of the same type
/// (`command_args_are_the_derives` checks that every command has its own here).
const ARGS: &[(&str, MakeArgs)] = &[
    ("compile", args::<compile::CompileArgs, 0>),
    ("check", args::<check::CheckArgs, 1>),
    ("test", args::<test::TestArgs, 2>),
    ("bench", args::<Box<sockc_bench::BenchArgs>, 3>),
    ("apply", args::<apply::ApplyArgs, 4>),
    ("confirm", args::<confirm::ConfirmArgs, 5>),
    ("deadline", args::<deadline::DeadlineArgs, 6>),
    ("diff", args::<diff::DiffArgs, 7>),
    ("show", args::<show::ShowArgs, 8>),
    ("status", args::<status::StatusArgs, 9>),
    ("stats", args::<stats::StatsArgs, 10>),
    ("register", args::<register::RegisterArgs, 11>),
    ("unregister", args::<unregister::UnregisterArgs, 12>),
    ("systemd", args::<systemd::SystemdArgs, 13>),
    ("flush", args::<flush::FlushArgs, 14>),
    ("repair", args::<repair::RepairArgs, 15>),
    ("watch", args::<watch::WatchArgs, 16>),
    ("import", args::<import::ImportArgs, 17>),
    ("classbench", args::<classbench::ClassbenchArgs, 18>),
    ("trace", args::<trace::TraceArgs, 19>),
    ("completions", args::<completions::CompletionsArgs, 20>),
    ("man", args::<man::ManArgs, 21>),
];

/// The arguments of command `ARGS[I]` (`A`, as the derive makes them), [`finish`]ed.
/// Its about texts stay the ones its variant's doc comment gives: made after them, `A`'s
/// own doc comment would replace them. By index, not by `c`'s name: the man page
/// renames a command (`sockc-apply`) before it is built.
fn args<A: clap::Args, const I: usize>(c: Command) -> Command {
    let about = c.get_about().cloned();
    let long_about = c.get_long_about().cloned();
    let c = A::augment_args(everywhere(c))
        .about(about.map_or(Resettable::Reset, Resettable::Value))
        .long_about(long_about.map_or(Resettable::Reset, Resettable::Value));
    finish(c, ARGS[I].0)
}

/// Command `c` with copies of the top level's [`Everywhere`] flags, made before its own
/// arguments: first in its list, as clap's `global` puts them (completions and man pages
/// list arguments in that order), with the top level's display order (after its 22
/// commands, which [`Cli`] makes first: help lists them after the command's own flags),
/// and the command's own numbered from 0 as before.
fn everywhere(c: Command) -> Command {
    let top = Command::new("sockc").next_display_order(ARGS.len());
    let top = <Everywhere as clap::Args>::augment_args(top);
    c.args(top.get_arguments().cloned()).next_display_order(0)
}

/// What the derive does not say of command `c`, `name` (its arguments made): `-O` when
/// it compiles ([`COMPILING`]), its own help of `--name` ([`NAME_HELP`]), and the
/// limits ([`limits_listed_once`]).
fn finish(mut c: Command, name: &str) -> Command {
    if COMPILING.contains(&name) {
        c = c.arg(opt_arg());
    }
    if let Some((_, help)) = NAME_HELP.iter().find(|(sub, _)| *sub == name) {
        c = c.mut_arg("name", |a| a.help(*help));
    }
    limits_listed_once(c)
}

/// The help of `--name` by command (it names another thing in each).
const NAME_HELP: [(&str, &str); 10] = [
    (
        "status",
        "the install to show (default: every install under BPFFS/sockc)",
    ),
    (
        "stats",
        "the install whose counters to show (default: every install under BPFFS/sockc)",
    ),
    (
        "repair",
        "the install to repair (default: every install under BPFFS/sockc)",
    ),
    (
        "trace",
        "the install to trace (default: every install with a rule that logs)",
    ),
    (
        "flush",
        "the install to remove (default: the only install there is; refused when there \
         are several)",
    ),
    (
        "apply",
        "the install's name: its pins live in BPFFS/sockc/NAME/ (default: the rule \
         file's name without its extension; needed with `-`)",
    ),
    (
        "register",
        "the install (default: the only install that declares SOCKET)",
    ),
    (
        "unregister",
        "the install (default: the only install that declares SOCKET)",
    ),
    (
        "show",
        "the install to show, as INSTALL (which wins when both are given; default: the only install there is)",
    ),
    (
        "confirm",
        "the install, as NAME (given both, they must be the same)",
    ),
];

/// The ids of the global `--max-*` limits ([`Bounds`]).
const LIMITS: [&str; 6] = [
    "max_source_bytes",
    "max_set_file_bytes",
    "max_set_elements",
    "max_diagnostics",
    "max_packets_file_bytes",
    "max_diff_work",
];

/// Every command takes the limits, but only the top-level help (and sockc.1) lists
/// them: each subcommand (`c`) gets hidden copies of them (the same flags and
/// environment variables, as [`Cli`] flattens them) and names them in one line of its
/// help instead of repeating ten lines of flags. [`Bounds::limits`] takes a value from
/// either level.
fn limits_listed_once(c: Command) -> Command {
    let top = Command::new("sockc").next_help_heading(LIMITS_HEADING);
    let top = <Bounds as clap::Args>::augment_args(top);
    let copies = top.get_arguments().map(|a| a.clone().hide(true));
    let note = "Limits: --max-source-bytes, --max-set-file-bytes, --max-set-elements, \
                --max-diagnostics, --max-packets-file-bytes, --max-diff-work (every \
                command takes them; see sockc --help)";
    c.args(copies).after_help(note)
}

/// The value of a limit given to the subcommand that matched (`limits_listed_once`).
fn subcommand_limit(m: &ArgMatches, id: &str) -> Option<u64> {
    let (_, sub) = m.subcommand()?;
    sub.try_get_one::<u64>(id).ok().flatten().copied()
}

/// The `-O` level given to the subcommand that matched (2 when it takes none).
pub fn opt_level(m: &ArgMatches) -> OptLevel {
    let level = m
        .subcommand()
        .and_then(|(_, sub)| sub.try_get_one::<String>("opt").ok().flatten().cloned());
    match level.as_deref() {
        Some("0") => OptLevel::O0,
        _ => OptLevel::O2,
    }
}

/// The JSON schema of the command when it was given `--json` (docs/json.md).
pub fn json_schema(cmd: &Cmd) -> Option<&'static str> {
    let (json, schema) = match cmd {
        Cmd::Compile(a) => (a.json, "sockc.compile/1"),
        Cmd::Check(a) => (a.json, "sockc.check/1"),
        Cmd::Test(a) => (a.json, "sockc.test/1"),
        Cmd::Apply(a) => (a.json, "sockc.apply/1"),
        Cmd::Diff(a) => (a.json, "sockc.diff/1"),
        Cmd::Status(a) => (a.json, "sockc.status/1"),
        Cmd::Show(a) => (a.json, show::SCHEMA),
        Cmd::Stats(a) => (a.json, stats::SCHEMA),
        Cmd::Repair(a) => (a.json, "sockc.repair/1"),
        Cmd::Flush(a) => (a.json, "sockc.flush/1"),
        Cmd::Confirm(a) => (a.json, "sockc.confirm/1"),
        Cmd::Register(a) => (a.json, "sockc.register/1"),
        Cmd::Unregister(a) => (a.json, "sockc.unregister/1"),
        Cmd::Trace(a) => (a.json, trace::SCHEMA),
        Cmd::Bench(_)
        | Cmd::Import(_)
        | Cmd::Classbench(_)
        | Cmd::Completions(_)
        | Cmd::Man(_)
        | Cmd::Deadline(_)
        | Cmd::Watch(_)
        | Cmd::Systemd(_) => (false, ""),
    };
    json.then_some(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_consistent() {
        command().debug_assert();
    }

    /// [`command`] built whole: every command's arguments made ([`ARGS`]).
    fn built() -> Command {
        let mut cmd = command();
        cmd.build();
        cmd
    }

    /// Every command's arguments are made by its own type ([`ARGS`] names each
    /// command once, with the type its variant holds): the same ids as the derive's
    /// own deferred `augment_args` makes, plus `-O` where it compiles and the limits.
    #[test]
    fn command_args_are_the_derives() {
        let ids = |c: &Command| -> Vec<String> {
            let mut v: Vec<String> = c
                .get_arguments()
                .map(|a| a.get_id().to_string())
                .filter(|id| id != "opt" && !LIMITS.contains(&id.as_str()))
                .filter(|id| id != "quiet" && id != "set_dirs")
                .collect();
            v.sort();
            v
        };
        let mut derived = Cli::command();
        derived.build();
        let ours = built();
        let mut names = Vec::new();
        for d in derived.get_subcommands().filter(|c| c.get_name() != "help") {
            let name = d.get_name();
            names.push(name);
            let o = ours.find_subcommand(name).expect("the same commands");
            assert_eq!(ids(o), ids(d), "{name}");
            assert!(
                !ids(d).is_empty() || name == "completions",
                "{name} has arguments"
            );
            let opt = o.get_arguments().any(|a| a.get_id() == "opt");
            assert_eq!(opt, COMPILING.contains(&name), "{name}: -O");
            let limits = o
                .get_arguments()
                .filter(|a| LIMITS.contains(&a.get_id().as_str()));
            assert!(
                limits.filter(|a| a.is_hide_set()).count() == LIMITS.len(),
                "{name}"
            );
        }
        let table: Vec<&str> = ARGS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, table);
    }

    /// Every command's copies of `-q` and `--set-dir` ([`everywhere`]) are the top
    /// level's: the same display order, first in its list of arguments, and not listed
    /// twice.
    #[test]
    fn every_command_has_the_top_levels_flags() {
        let top = command();
        let order = |c: &Command, id: &str| {
            let a = c.get_arguments().find(|a| a.get_id() == id);
            a.map(|a| a.get_display_order())
        };
        let cmd = built();
        for c in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
            for id in ["quiet", "set_dirs"] {
                assert_eq!(order(c, id), order(&top, id), "{} {id}", c.get_name());
                let n = c.get_arguments().filter(|a| a.get_id() == id).count();
                assert_eq!(n, 1, "{} {id}", c.get_name());
            }
            let first: Vec<_> = c.get_arguments().take(2).map(|a| a.get_id()).collect();
            assert_eq!(first, ["quiet", "set_dirs"], "{}", c.get_name());
        }
    }

    /// `-q` and `--set-dir` merge as clap's `global` merged them: `-q` at either level,
    /// `--set-dir` after the command replacing those before it.
    #[test]
    fn the_top_levels_flags_merge_as_global_did() {
        use clap::FromArgMatches;
        let given = |args: &[&str]| {
            let argv = ["sockc"].iter().chain(args).chain(&["f.sk"]);
            let m = command().try_get_matches_from(argv).unwrap();
            let cli = Cli::from_arg_matches(&m).unwrap();
            let e = cli.everywhere.with_command(&m);
            let dirs: Vec<String> = e.set_dirs.iter().map(|d| d.display().to_string()).collect();
            (e.quiet, dirs.join(","))
        };
        assert_eq!(given(&["check"]), (false, String::new()));
        assert_eq!(given(&["-q", "check"]), (true, String::new()));
        assert_eq!(given(&["check", "-q"]), (true, String::new()));
        assert_eq!(given(&["--set-dir", "a", "check"]), (false, "a".into()));
        assert_eq!(given(&["check", "--set-dir", "b"]), (false, "b".into()));
        let both = [
            "--set-dir",
            "a",
            "--set-dir",
            "c",
            "check",
            "--set-dir",
            "b",
        ];
        assert_eq!(given(&both), (false, "b".into()));
        assert_eq!(
            given(&["--set-dir", "a", "--set-dir", "c", "apply"]),
            (false, "a,c".into())
        );
    }

    /// Every argument of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        let cmd = built();
        let mut missing = Vec::new();
        let mut walk = vec![cmd];
        while let Some(c) = walk.pop() {
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() {
                    missing.push(format!("{} {id}", c.get_name()));
                }
            }
            walk.extend(c.get_subcommands().cloned());
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    /// A byte count as the help texts write it: `16 MiB`, or the number.
    fn bytes_shown(n: u64) -> String {
        const MIB: u64 = 1024 * 1024;
        if n >= MIB && n.is_multiple_of(MIB) {
            format!("{} MiB", n / MIB)
        } else {
            n.to_string()
        }
    }

    /// The defaults help texts state by hand, where clap cannot show one (an `Option`
    /// whose absence means the default), by command and argument id: what the code
    /// takes when the argument is absent.
    fn code_default(command: &str, arg: &str) -> Option<String> {
        let limits = Limits::default();
        let limit = |l: Limit| limits.get(l);
        Some(match (command, arg) {
            ("sockc", "max_source_bytes") => bytes_shown(limit(Limit::SourceBytes)),
            ("sockc", "max_set_file_bytes") => bytes_shown(limit(Limit::SetFileBytes)),
            ("sockc", "max_set_elements") => limit(Limit::SetElements).to_string(),
            ("sockc", "max_diagnostics") => limit(Limit::Diagnostics).to_string(),
            ("sockc", "max_packets_file_bytes") => bytes_shown(limit(Limit::PacketsFileBytes)),
            ("sockc", "max_diff_work") => limit(Limit::DiffWork).to_string(),
            ("import", "hook") => sockc_import::Hook::default().name().to_string(),
            _ => return None,
        })
    }

    /// What a help text says an argument's default is: `[default: X]`, or `the default
    /// --ARG is X` in a command's long help.
    fn stated(text: &str) -> Vec<(Option<String>, String)> {
        let mut out = Vec::new();
        for (i, _) in text.match_indices("[default: ") {
            let rest = &text[i + "[default: ".len()..];
            out.push((None, rest[..rest.find(']').unwrap()].to_string()));
        }
        for (i, _) in text.match_indices("default --") {
            let rest = &text[i + "default --".len()..];
            let mut words = rest.split([' ', ':', ',', '.', ';']);
            let arg = words.next().unwrap().replace('-', "_");
            if words.next() == Some("is") {
                out.push((Some(arg), words.next().unwrap_or("").to_string()));
            }
        }
        out
    }

    /// Issue 47 item 11: every default a help text states is the one the code takes.
    /// A default clap knows (`default_value`) it prints itself, so a help text must not
    /// state one beside it; a default written by hand (`[default: X]`, `the default
    /// --ARG is X`) must be the code's ([`code_default`]), and one not listed there
    /// fails until it is checked there.
    #[test]
    fn documented_defaults_are_the_code_defaults() {
        let mut walk = vec![built()];
        let mut wrong = Vec::new();
        let mut checked = 0;
        while let Some(c) = walk.pop() {
            let name = c.get_name().to_string();
            let about = c
                .get_long_about()
                .map(|s| s.to_string())
                .unwrap_or_default();
            for (arg, value) in stated(&about) {
                let arg = arg.expect("a long help names its argument");
                let clap_default = c
                    .get_arguments()
                    .find(|a| a.get_id() == arg.as_str())
                    .and_then(|a| a.get_default_values().first())
                    .map(|v| v.to_string_lossy().into_owned());
                let code = clap_default.or_else(|| code_default(&name, &arg));
                checked += 1;
                if code.as_deref() != Some(value.as_str()) {
                    wrong.push(format!(
                        "{name}: help says --{arg} is {value}, the code {code:?}"
                    ));
                }
            }
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                let id = a.get_id().as_str();
                let help = a.get_help().map(|s| s.to_string()).unwrap_or_default();
                for (_, value) in stated(&help) {
                    checked += 1;
                    if !a.get_default_values().is_empty() {
                        wrong.push(format!("{name} --{id}: a default beside clap's own"));
                    }
                    let code = code_default(&name, id);
                    if code.as_deref() != Some(value.as_str()) {
                        wrong.push(format!(
                            "{name} --{id}: help says {value}, the code {code:?}"
                        ));
                    }
                }
            }
            walk.extend(c.get_subcommands().cloned());
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert!(checked >= 7, "only {checked} stated defaults found");
    }

    /// `apply --details` and the apply's long help name the longest plan listed
    /// without it.
    #[test]
    fn apply_help_names_the_listed_plan_length() {
        let cmd = built();
        let apply = cmd.find_subcommand("apply").unwrap();
        let details = apply
            .get_arguments()
            .find(|a| a.get_id() == "details")
            .and_then(|a| a.get_help())
            .unwrap()
            .to_string();
        let limit = format!("at most {}", apply::LISTED_PLAN_LINES);
        assert!(details.contains(&limit), "{details}");
        let about = apply.get_long_about().unwrap().to_string();
        assert!(about.contains(&limit), "{about}");
    }
}
