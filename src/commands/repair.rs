//! `sockc repair`: attach again every hook that does not run what its install's
//! manifest says (link removed, interface re-created, filter deleted), rewrite set maps
//! that differ from it, from the pins alone, and finish interrupted work; for every
//! install, or one.
//!
//! Invariant: under `-q` only what was done and what failed is printed; a hook that
//! could not be repaired is exit 3.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use sockc_runtime::install::{self, Repaired};

use crate::shared::stderr::errln;
use crate::shared::{
    confirmation,
    json::{self, sockc_error},
    privileges,
    settings::quiet,
    stdout::outln,
    store::{fail, open_for, Target},
};

#[derive(Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub target: Target,
    /// print what was repaired as JSON on stdout
    #[arg(short, long)]
    pub json: bool,
}

pub fn run(args: &RepairArgs) -> ExitCode {
    let target = &args.target;
    let store = match open_for("repair", privileges::INSTALL, target) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let settled = confirmation::settle_and_say(&store, target.name.as_deref());
    let all = match install::repair(&store, target.name.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if args.json {
        print_json(&all);
    } else {
        all.iter().for_each(print_text);
    }
    for r in &all {
        if let Ok(Some(p)) = store.pending().read(&r.name) {
            if p.is_pending() && !quiet() {
                errln!(
                    "notice: {}: repaired as it is now, with a change pending confirmation; {}",
                    r.name,
                    confirmation::pending_line(&r.name, &p)
                );
            }
        }
    }
    if !settled || all.iter().any(|r| !r.failed.is_empty()) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// `repair --json`: every install and what was done to it.
fn print_json(all: &[Repaired]) {
    let v: Vec<_> = all
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "recovered": r.recovered.as_ref().map(|x| x.to_string()),
                "drift": r.drift.iter().map(|(at, s)| json!({"hook": at, "state": s.to_string()})).collect::<Vec<_>>(),
                "sets": r.sets,
                "failed": r.failed,
                "notices": r.notices,
            })
        })
        .collect();
    json::emit(json!({ "installs": v }));
}

/// One install's repair as text: what was finished, rewritten and attached again,
/// its notices, and what failed.
fn print_text(r: &Repaired) {
    if let Some(x) = &r.recovered {
        outln!("{}: {x}", r.name);
    }
    // Under -q: only what was done and what failed, no "ok" lines or notices.
    let is_quiet = quiet();
    let nothing_done = r.drift.is_empty() && r.sets.is_empty() && r.recovered.is_none();
    if nothing_done && r.failed.is_empty() && !is_quiet {
        outln!("{}: every hook runs the installed rules", r.name);
    }
    for set in &r.sets {
        outln!("{}: {set}: rewritten from the manifest", r.name);
    }
    for (at, state) in &r.drift {
        if r.failed.is_empty() {
            outln!("{}: {at}: {state}: attached again", r.name);
        } else {
            outln!("{}: {at}: {state}", r.name);
        }
    }
    for n in r.notices.iter().filter(|_| !is_quiet) {
        outln!("{}: {n}", r.name);
    }
    for f in &r.failed {
        sockc_error!("{}: could not repair: {f}", r.name);
    }
}
