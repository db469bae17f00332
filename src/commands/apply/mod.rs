//! `sockc apply FILE`: compile a rule file and install it — load, verify, pin under
//! BPFFS/sockc/NAME and attach, or on a re-apply swap programs atomically (or only
//! update set maps). The CLI face of `sockc_runtime::install::apply`.
//!
//! The steps: the file is read and through sema ([`check_read_digested`]; a small one
//! on this thread alone, [`ALONE_BELOW`]); the install is
//! opened ([`session::begin`]: capabilities, network namespace, the store's lock) and
//! a first install's interface hooks are made ready ([`session::start_ahead`]) while
//! the rest compiles; then [`install::run`] applies it and says what happened
//! ([`report`]): the plan, listed up to [`LISTED_PLAN_LINES`] lines of rules, set
//! entries and bytecode and counted past them (`--details` lists it whole, `--summary`
//! counts it), and one line of outcome; `-q`, nothing on success but a change left
//! pending confirmation. `--dry-run` leads with the semantic diff against the install (which
//! packets change their verdict), shows the plan with `--details`, and exits 0 unless
//! `--exit-code` is given (then 4 when something would change), as `git diff` does,
//! so `sockc apply --dry-run f.sk && sockc apply f.sk` works. `--timings` prints the
//! stages ([`timings`]).
//!
//! Invariant: everything new is built and verified before the first hook changes; any
//! error before the swap leaves the installed generation as it was. Exit codes: 1 rule
//! errors, 2 usage, 3 kernel, permission or lock failure, and hooks left behind.

mod confirm;
mod install;
mod report;
mod session;
mod timings;

#[cfg(test)]
pub use report::LISTED_PLAN_LINES;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Args;
use sockc_compiler::Lints;
use sockc_runtime::stages;

use crate::shared::{
    build::{
        check_read_digested, finish_deferred_fitted_when, finish_deferred_shed, print_diagnostics,
        Hooks,
    },
    confirmation::parse_window,
    input::read_rule_text,
    memory::{purge_at_once, release_freed_memory},
    probe::Probe,
    store::Target,
};

#[derive(Args)]
pub struct ApplyArgs {
    /// the rule file (`-` reads standard input, and needs --name)
    pub file: PathBuf,
    #[command(flatten)]
    pub target: Target,
    /// attach in this network namespace: a path such as /run/netns/NAME, or NAME
    #[arg(long, value_name = "PATH")]
    pub netns: Option<String>,
    /// say which packets would change their verdict and run the new programs through
    /// the verifier; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// the whole plan, however long: every rule, set entry and bytecode line that
    /// changes (without it an apply lists a plan of at most 50 such lines and gives a
    /// longer one as counts, and a dry run shows no plan)
    #[arg(long, alias = "bytecode", overrides_with = "summary")]
    pub details: bool,
    /// with --dry-run: exit 4 when the apply would change something (else 0)
    #[arg(long)]
    pub exit_code: bool,
    /// print the plan and result as JSON on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
    /// the plan as counts, however short: rules and set entries added and removed,
    /// changed bytecode lines (with --dry-run: after the semantic diff)
    #[arg(long, conflicts_with = "json", overrides_with = "details")]
    pub summary: bool,
    /// how TC programs attach: TCX links, the clsact qdisc (netlink filters), or TCX
    /// where the kernel has it (6.6+) and clsact otherwise
    #[arg(long, value_enum, default_value = "auto")]
    pub tc_attach: TcAttachArg,
    /// apply a file without hook blocks, which detaches every hook of the install
    #[arg(long)]
    pub allow_empty: bool,
    /// print how long each stage took (compile, plan, map creation, each program's
    /// verification, records, each attach, commit) on stderr when done
    #[arg(long)]
    pub timings: bool,
    /// commit-confirmed: unless `sockc confirm NAME` runs within DURATION (30s, 5m,
    /// 1h 30m, or seconds), the rules installed now are put back — by a watcher of its
    /// own that outlives this command and the session it ran in, or by the next sockc
    /// command; a first install is flushed. Confirm from a new connection
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    pub confirm: Option<Duration>,
    /// with --confirm: a TCP connection that must be accepted until the deadline, or
    /// the change rolls back at once (tcp:HOST:PORT, repeatable; from the install's
    /// network namespace; each must hold before the change too)
    #[arg(long = "probe", value_name = "tcp:HOST:PORT", requires = "confirm")]
    pub probes: Vec<Probe>,
    /// the name of these rules as the operator knows them (e.g. ansible:files/edge.sk),
    /// recorded and shown by status and show beside the file they were read from
    #[arg(long, value_name = "NAME", value_parser = parse_label)]
    pub label: Option<String>,
    /// an apply nobody watches (the boot unit, udev): a file holding rules that were
    /// rolled back unconfirmed is not installed again — the rules before them are, as
    /// the rollback left them
    #[arg(long)]
    pub unattended: bool,
}

/// `--label`: printable text of at most 200 characters.
fn parse_label(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err("a label is 1 to 200 printable characters".into());
    }
    Ok(s.to_string())
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TcAttachArg {
    Auto,
    Tcx,
    Clsact,
}

/// `sockc apply`, with its stages timed under `--timings`.
pub fn run(args: &ApplyArgs) -> ExitCode {
    if args.timings {
        stages::record();
    }
    let code = compile_and_install(args);
    if args.timings {
        timings::print();
    }
    code
}

/// Rule files shorter than this (about 2,000 rules) are applied on one thread: no
/// read ahead, nothing handed beside ([`sockc_compiler::beside::keep_to_this_thread`])
/// but a plan's rule diff against a large installed generation (`plan::beside`).
/// A second thread's start, heap and TLB shootdowns cost more than the work it takes
/// over: the 1k re-apply took 5.53 ms on one thread against 5.73 ms (1,500 rules 5.59
/// against 5.87, 2,000 6.45 against 6.68; 2,500 7.28 against 7.06), docs/benchmarks.md,
/// "The 1k re-apply, fourteenth pass".
const ALONE_BELOW: usize = 128 << 10;

/// Compiles the file (without the optimizer's lints, which `check` shows;
/// docs/errors.md) and installs it. The installed manifest of a file of at least
/// [`ALONE_BELOW`] bytes is read ahead on another thread meanwhile (from when the
/// front end leaves the second core idle), and taken before the compile lowers, once
/// the store is locked, only if it is still the one committed ([`session::read_ahead`]).
/// Once the file has passed sema, the install is opened (capabilities, namespace,
/// lock), and a first install's interface hooks are made ready while the rest
/// compiles (`install::start_ahead`: the kernel waits for an RCU grace period in
/// making those hooks).
fn compile_and_install(args: &ApplyArgs) -> ExitCode {
    let started = Instant::now();
    let src = match read_rule_text(&args.file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let alone = src.len() < ALONE_BELOW;
    if alone {
        sockc_compiler::beside::keep_to_this_thread();
    }
    let installed = session::installed(args);
    // A re-apply reads its installed generation ahead on another thread, from when
    // the front end leaves the second core idle: as a large set file's read starts
    // (the time that read takes), or, for a large file, as sema's thread is done with
    // the second half of a long block (the core is idle until the classifiers' builds;
    // read beside the front end, the installed generation made it 5-9 ms slower at
    // 100,000 rules); else once the front end is done. The compile takes it before
    // it lowers.
    let (hook, ahead_slot) = installed
        .then(|| session::read_ahead_hook(args))
        .flatten()
        .unzip();
    let hooks = Hooks {
        large_set_file: hook.clone(),
        second_core_free: hook.filter(|_| !alone),
    };
    // Freed pages handed back at once keep a first install's peak (the end of its
    // compile) low. Not on a re-apply, whose peak RSS no goal bounds: there every page
    // handed back is faulted in again by what comes next (the trie builds, the plan,
    // the journal: acl1_100000 with one rule added faulted 42.8k pages, now 32.5k).
    // A dry run reads the installed rules back beside the new ones: it keeps it.
    if args.dry_run || !installed {
        purge_at_once();
    }
    // The source's digest, which the install records, is hashed beside the front end.
    let (checked, digest) = match check_read_digested(&args.file, src, Lints::Skip, hooks) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let front_end = checked.checked.timings().len();
    stages::ended(timings::front_end_stage(&checked.checked), started);
    let ahead_read = match (alone, ahead_slot.and_then(session::take_ahead)) {
        (_, Some(read)) => Some(read),
        (false, None) if installed => session::read_ahead(args),
        _ => None,
    };
    let session = match session::begin(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(code) = confirm::before(args, &session) {
        return code;
    }
    if let Some(code) = confirm::unattended_instead(args, &session, checked.source()) {
        return code;
    }
    let ahead = session::start_ahead(args, &session, &checked.checked.module);
    let resumed = Instant::now();
    let mut fit = None;
    // A first install is never refitted: it sheds what only a refit reads as it
    // compiles (`install::kept_by_first_install`). A re-apply is fitted to its
    // installed generation, read (or the read ahead taken) once the passes have run.
    let built = match ahead {
        Some(_) => finish_deferred_shed(checked, &install::kept_by_first_install),
        None => {
            let (slot, session) = (&mut fit, &session);
            finish_deferred_fitted_when(checked, move || {
                let fit_ahead = session::adopt(session, ahead_read);
                *slot = session::installed_fit(session, fit_ahead);
                let fitted: &Option<_> = slot;
                fitted.as_ref().map(|(_, refit)| refit)
            })
        }
    };
    let mut b = match built {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut session = session;
    session.fitted_to = fit
        .as_ref()
        .filter(|_| b.compiled.fitted.is_some())
        .map(|(g, _)| *g);
    stages::ended(timings::back_end_stage(&b.compiled, front_end), resumed);
    // The memory the compile freed is handed back before a first install or a dry run
    // goes on: their peaks come later (the load; the installed rules read back). Not
    // before a re-apply of a file compiled fitted: an update in place allocates less
    // than the compile freed and reuses it, and a new generation hands it back itself
    // before it loads (`ApplyRequest::release_freed_memory`). Handed back here, those
    // pages would only be faulted in again (and at 100k rules the `madvise`s took
    // milliseconds).
    if session.fitted_to.is_none() || args.dry_run {
        release_freed_memory();
    }
    let t = stages::stage("print warnings");
    let (held, shown) = install::hold_ct_warning(args, b.warnings);
    print_diagnostics(&shown, &b.name, &b.src);
    drop(t);
    // Shared, not copied, with the manifest that records it (6 MB at 100,000 rules).
    let src = Arc::new(std::mem::take(&mut b.src));
    let warn = |why: &str| print_diagnostics(&install::with_reason(&held, why), &b.name, &src);
    let source = (&src, digest.as_str());
    // A dry run's peak comes later (the installed rules read back beside the new
    // ones, `install::run`): its refit is freed before, not kept until exit.
    let fit = fit.filter(|_| !args.dry_run);
    let code = install::run(args, session, &mut b.compiled, source, &warn, ahead);
    // Not freed one allocation at a time: the process ends now (`main`). The refit
    // too (every installed rule's text, 1.4 ms to free at 100,000 rules, which the
    // re-apply spent before its plan).
    std::mem::forget((b.compiled, src, fit));
    code
}
