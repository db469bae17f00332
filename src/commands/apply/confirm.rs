//! What `apply` does about commit-confirmed changes (`--confirm`, `--probe`,
//! `--unattended`; `crate::shared::confirmation` does the work): before anything, an
//! expired change of the install is rolled back and the probes are tried; an
//! unattended apply of rules that were rolled back unconfirmed installs the rules
//! before them instead; around the install, the change is armed (or joins the pending
//! one) and, after it, kept pending or forgotten.
//!
//! Invariant: a change that `--confirm` arms is armed — its record written and its
//! watcher started — before the apply touches the kernel, so no moment exists at which
//! the new rules run and nothing would roll them back.

use std::{process::ExitCode, time::Duration};

use sha2::Digest;
use sockc_runtime::store::pending::{Pending, PendingState};

use super::{session::Session, ApplyArgs};
use crate::shared::stderr::errln;
use crate::shared::{
    confirmation::{self, Armed, Window},
    json::sockc_error,
    probe,
    settings::quiet,
    stdout::outln,
    time,
};

/// Before the file compiles on: the install's expired change rolled back (said on
/// stderr), and with `--confirm` every probe tried (a probe that fails before the
/// change would roll back any change: refused, exit 2).
pub fn before(args: &ApplyArgs, session: &Session) -> Result<(), ExitCode> {
    confirmation::settle_and_say(&session.store, Some(&session.name));
    if args.dry_run || args.confirm.is_none() {
        return Ok(());
    }
    if let Some(why) = probe::first_failing(&args.probes, Duration::from_secs(2)) {
        sockc_error!("a probe fails before the change, so any change would be rolled back: {why}");
        return Err(ExitCode::from(2));
    }
    Ok(())
}

/// SHA-256 of a rule file's text, as manifests and records name it.
pub fn text_sha256(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `--unattended`: when a change of the install to other rules than `src` is pending
/// confirmation, nothing is applied; when its last change, whose rules were `src`, was
/// rolled back unconfirmed, the rules before it are installed instead of `src`; the
/// exit code then. `None`: apply `src`.
pub fn unattended_instead(args: &ApplyArgs, session: &Session, src: &str) -> Option<ExitCode> {
    if !args.unattended || args.dry_run {
        return None;
    }
    let (store, name) = (&session.store, session.name.as_str());
    let record = store.pending().read(name).ok().flatten()?;
    let same_rules = record.change_sha256 == text_sha256(src);
    if record.state == PendingState::Pending && !same_rules {
        // A change of other rules awaits its confirmation (`settle_and_say` ended an
        // expired one): the unattended apply (a boot unit's, a udev rule's on a new
        // interface) of the file it replaces would join it and put the old rules in its
        // place, which `sockc confirm` would then keep. The change's own rules are
        // applied (a hook on an interface made again is attached).
        outln!(
            "{name}: not applied: a change of other rules is pending confirmation (deadline \
             {}); an unattended apply leaves it alone",
            time::local_time(record.deadline_unix)
        );
        return Some(ExitCode::SUCCESS);
    }
    let rolled = record.rolled_back.as_ref()?;
    if record.state != PendingState::RolledBack || !same_rules {
        return None;
    }
    let netns = session.netns_text();
    match confirmation::install_previous(store, name, netns.as_deref(), record.previous.as_ref()) {
        Ok(put) => {
            confirmation::say_recovered(name, &put.recovered);
            if let Some(stayed) = &put.stayed {
                errln!("warning: {name}: every hook is off, but {stayed}");
            }
            let generation = put.generation;
            outln!(
                "{name}: not applied: {} holds the rules that were rolled back unconfirmed {} ({}); {}",
                args.file.display(),
                time::local_time(rolled.at_unix),
                rolled.reason,
                match generation {
                    Some(g) => format!("the rules before them are installed (generation {g}); apply the file by hand to try it again"),
                    None => "nothing was installed before them, and nothing is; apply the file by hand to try it again".into(),
                }
            );
            Some(ExitCode::SUCCESS)
        }
        Err(why) => {
            sockc_error!(
                "{name}: the rules before a rolled-back change could not be installed: {why}"
            );
            Some(ExitCode::from(3))
        }
    }
}

/// Arms (or joins) the confirmation of this apply before it changes anything; the exit
/// code when that fails (nothing was changed).
pub fn arm(args: &ApplyArgs, session: &Session, src: &str) -> Result<Option<Armed>, ExitCode> {
    if args.dry_run {
        return Ok(None);
    }
    let window = Window {
        duration: args.confirm,
        probes: &args.probes,
    };
    // The change's digest names a record only a window arms (`confirmation::arm`
    // reads it for nothing else): not hashed otherwise, a megabyte at 10k rules.
    let sha = args.confirm.map(|_| text_sha256(src)).unwrap_or_default();
    let change = (sha, args.label.as_deref());
    confirmation::arm(
        &session.store,
        &session.name,
        &window,
        (&change.0, change.1),
    )
    .map_err(|why| {
        // A plain apply arms nothing, but reads the record all the same (a change it
        // would join): say which it could not do.
        let what = match args.confirm {
            Some(_) => "the change could not be armed for confirmation",
            None => "the install's pending-confirmation record could not be checked",
        };
        sockc_error!("{}: {what} (nothing was changed): {why}", session.name);
        ExitCode::from(3)
    })
}

/// After the apply: the change kept pending (returned) or its fresh record removed
/// when no rule changed; an interactive apply also ends the record of a change rolled
/// back before (the operator applies on purpose).
pub fn after(
    args: &ApplyArgs,
    session: &Session,
    armed: Option<Armed>,
    changed_rules: bool,
    src: &str,
) -> Option<Pending> {
    let store = &session.store;
    let name = session.name.as_str();
    if args.dry_run {
        return None;
    }
    let Some(armed) = armed else {
        if !args.unattended {
            let _ = forget_rolled_back(session);
        }
        return None;
    };
    let joined = armed.joined;
    let sha = text_sha256(src);
    match confirmation::after_apply(store, armed, changed_rules, (&sha, args.label.as_deref())) {
        Ok(Some(p)) => {
            if joined && args.confirm.is_none() && !quiet() {
                errln!(
                    "notice: {name}: this apply joins the change pending confirmation: `sockc confirm {name}` keeps both, or both are rolled back"
                );
            }
            Some(p)
        }
        Ok(None) => None,
        Err(why) => {
            sockc_error!("{name}: {why}");
            None
        }
    }
}

/// After a failed apply: its change kept pending when it may have reached the kernel
/// (said on stderr), its fresh record removed when nothing was committed.
pub fn after_failure(session: &Session, armed: Option<Armed>) {
    // A joined change was pending before this apply: it stays as it was, unsaid.
    let Some(armed) = armed.filter(|a| !a.joined) else {
        return;
    };
    let name = session.name.as_str();
    match confirmation::after_failed_apply(&session.store, armed) {
        Ok(Some(p)) => errln!(
            "{name}: the change may have reached the kernel before the apply failed: it stays \
             pending confirmation, and is rolled back at {} unless `sockc confirm {name}` keeps it",
            time::local_time(p.deadline_unix)
        ),
        Ok(None) => {}
        Err(why) => sockc_error!(
            "{name}: after the failed apply, whether its change reached the kernel is not known \
             ({why}): it stays pending confirmation"
        ),
    }
}

/// Removes the record of a change rolled back before, if the install has one.
fn forget_rolled_back(session: &Session) -> Result<(), String> {
    let records = session.store.pending();
    match records.read(&session.name) {
        Ok(Some(r)) if r.state == PendingState::RolledBack => records
            .remove(&session.name)
            .map_err(|e| sockc_runtime::error_chain(&e)),
        _ => Ok(()),
    }
}
