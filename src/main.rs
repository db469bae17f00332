//! The `sockc` command line: a thin layer over `sockc-compiler` and `sockc-runtime`.
//! This file parses the command line ([`cli`]), sets what the global flags say, and
//! dispatches to the command's module ([`commands`]); the helpers the commands share
//! are in [`shared`]. Nothing else is defined here.
//!
//! Exit codes (nft/bpftool habits): 0 ok, 1 errors in the rules (diagnostics, a rule
//! file that is not UTF-8 text), 2 usage (bad arguments, an input file that cannot
//! be read or is refused by a limit, an output file that cannot be written), 3
//! kernel, permission or verifier failure, 4 changes found (diff: some packet changes
//! its verdict; apply --dry-run --exit-code: the apply would change something).
//! Every file named on the command line is read within the limits of
//! `sockc_compiler::limits`, which the global `--max-*` flags change.
//!
//! On Linux with glibc the process starts at C's `main` below, not at std's start
//! (`shared::start` says what that one did and what is kept of it).

// Not in unit tests, whose harness brings its own `main`. Only where glibc hands the
// program's arguments to std before `main` (its `.init_array` calls get them); on
// another C library `std::env::args` would be empty without std's start.
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod cli;
mod commands;
mod shared;

use std::process::ExitCode;

use clap::FromArgMatches;
use cli::{Cli, Cmd};
use commands::{
    apply, check, classbench, compile, completions, confirm, deadline, diff, flush, import, man,
    register, repair, show, stats, status, systemd, test, trace, unregister, watch,
};
use shared::{
    json,
    memory::{self, exit_now},
    settings::{self, Settings},
    stdout,
};

/// The process's entry. A panic ends it with 101, as std's start ended it; the
/// panic's message is printed by std's hook before.
#[cfg(all(not(test), target_os = "linux", target_env = "gnu"))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    shared::start::standard_fds_open();
    match std::panic::catch_unwind(run_command_line) {
        Err(_) => shared::start::exit_after_panic(),
    }
}

/// The process's entry where std's start runs first.
#[cfg(all(not(test), not(all(target_os = "linux", target_env = "gnu"))))]
fn main() {
    run_command_line()
}

#[cfg_attr(test, allow(dead_code))]
fn run_command_line() -> ! {
    memory::one_glibc_arena();
    stdout::end_quietly_on_sigpipe();
    let parsed = cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (m, c)));
    let (matches, cli) = match parsed {
        Ok(x) => x,
        Err(e) => {
            // `--help` and `--version` are output like any other (a full disk or a
            // reader gone is an error, `stdout::failed`); a usage error that cannot
            // be written to standard error still exits 2.
            if let (Err(err), false) = (e.print(), e.use_stderr()) {
                stdout::failed(&err)
            }
            exit_now(if e.use_stderr() { 2 } else { 0 })
        }
    };
    let everywhere = cli.everywhere.with_command(&matches);
    settings::set_quiet(everywhere.quiet);
    if let Some(schema) = cli::json_schema(&cli.cmd) {
        json::enable(schema);
    }
    settings::set(Settings {
        opt: cli::opt_level(&matches),
        limits: cli.bounds.limits(&matches),
        set_dirs: everywhere.set_dirs,
    });
    let code = run(cli.cmd);
    let n = (0..=255u8)
        .find(|n| ExitCode::from(*n) == code)
        .unwrap_or(1);
    if json::enabled().is_some() {
        json::finish(n);
    }
    // Every command's work is done, written and dropped inside `run` (an apply leaves
    // its compiled file unfreed, `commands::apply`); what is left to free is the parsed
    // command line, and the exit handlers would have mimalloc hand its pages back one
    // `madvise` at a time and std unmap the signal stack — work the kernel does anyway.
    exit_now(i32::from(n))
}

fn run(cmd: Cmd) -> ExitCode {
    match cmd {
        Cmd::Compile(args) => compile::run(&args),
        Cmd::Check(args) => check::run(&args),
        Cmd::Test(args) => test::run(&args),
        Cmd::Bench(args) => sockc_bench::run(&args),
        Cmd::Apply(args) => apply::run(&args),
        Cmd::Diff(args) => diff::run(&args),
        Cmd::Show(args) => show::run(&args),
        Cmd::Status(args) => status::run(&args),
        Cmd::Systemd(args) => systemd::run(&args),
        Cmd::Stats(args) => stats::run(&args),
        Cmd::Register(args) => register::run(&args),
        Cmd::Unregister(args) => unregister::run(&args),
        Cmd::Flush(args) => flush::run(&args),
        Cmd::Confirm(args) => confirm::run(&args),
        Cmd::Deadline(args) => deadline::run(&args),
        Cmd::Repair(args) => repair::run(&args),
        Cmd::Watch(args) => watch::run(&args),
        Cmd::Import(args) => import::run(&args),
        Cmd::Classbench(args) => classbench::run(&args),
        Cmd::Trace(args) => trace::run(&args),
        Cmd::Completions(args) => completions::run(&args, cli::command()),
        Cmd::Man(args) => man::run(&args, cli::command()),
    }
}
