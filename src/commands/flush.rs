//! `sockc flush`: detach and remove everything of an install (`--name`, or the only
//! install there is; refused when there are several).
//!
//! Invariant: an interrupted earlier change is finished or undone first, and said;
//! the number of hooks detached counts every hook that held one of the install's
//! attachments when the flush began (whatever it ran by then), all of which are off
//! after it; what the flush left because it is not sockc's (an anchor table holding
//! somebody's chain) is said, and is no failure: exit 0. So is what it could not
//! remove from the install's directory (a mount on a leftover): every hook is off all
//! the same, and a warning names each path that stayed and the fix (`stayed` in
//! JSON). The install's systemd drop-ins (`sockc systemd`) go too: they name pins
//! that are gone now.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use sockc_runtime::install::{self, Flushed};

use crate::shared::stderr::errln;
use crate::shared::{
    json::{self, sockc_error},
    privileges,
    settings::quiet,
    stdout::outln,
    store::{fail, open_store, resolve_name, Target},
    systemd,
};

#[derive(Args)]
pub struct FlushArgs {
    #[command(flatten)]
    pub target: Target,
    /// print what was removed as JSON on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
}

pub fn run(args: &FlushArgs) -> ExitCode {
    if let Err(code) = privileges::require("flush", privileges::INSTALL) {
        return code;
    }
    let store = match open_store(&args.target) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let name = match resolve_name(&args.target, &store) {
        Ok(n) => n,
        Err(code) => return code,
    };
    match install::flush(&store, &name) {
        Ok(f) => {
            print(&name, &f, args.json);
            // systemd refuses to start a unit whose drop-in names a pin that is gone.
            match systemd::remove(std::path::Path::new("/"), &name) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    sockc_error!("{name}: {e}: the unit fails to start until it is removed");
                    ExitCode::from(3)
                }
            }
        }
        Err(e) => fail(e),
    }
}

/// What was removed, as text or JSON.
fn print(name: &str, f: &Flushed, as_json: bool) {
    if let Some(r) = &f.recovered {
        sockc_error!("{name}: {r}");
    }
    if let Some(p) = &f.cancelled {
        errln!(
            "notice: {name}: the change pending confirmation is cancelled: nothing will be put back{}",
            p.previous
                .as_ref()
                .map(|prev| format!(" (it would have restored generation {})", prev.generation))
                .unwrap_or_default()
        );
    }
    for n in f.notices.iter().filter(|_| !quiet()) {
        errln!("notice: {n}");
    }
    if !f.stayed.is_empty() {
        errln!(
            "warning: {name}: every hook is off, but {}",
            install::stayed_note(&f.stayed)
        );
    }
    if as_json {
        json::emit(json!({
            "cancelled_confirmation": f.cancelled.is_some(),
            "name": name,
            "generation": f.manifest.as_ref().map(|m| m.generation),
            "detached": f.detached,
            "recovered": f.recovered.as_ref().map(|r| r.to_string()),
            "notices": f.notices,
            "stayed": f.stayed.iter().map(|l| json!({
                "path": l.stuck.path,
                "what": l.what(),
                "why": l.stuck.why,
            })).collect::<Vec<_>>(),
        }));
        return;
    }
    // `-q`: the "ok" line goes; what went wrong above still says so.
    if quiet() {
        return;
    }
    match &f.manifest {
        Some(m) => outln!(
            "{name}: flushed generation {} ({} hooks detached)",
            m.generation,
            f.detached
        ),
        None if f.detached > 0 => outln!("{name}: flushed ({} hooks detached)", f.detached),
        None => outln!("{name}: flushed"),
    }
}
