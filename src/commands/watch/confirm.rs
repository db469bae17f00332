//! `--confirm` and `--probe` of the agent: every change a round makes is a
//! commit-confirmed change (`crate::shared::confirmation`), armed before it is
//! installed with a deadline [`GRACE`] past the window and the agent's probes, so a
//! watcher of its own runs the probes and rolls the change back when one fails, or at
//! the deadline. The agent confirms each change whose probes held for the whole
//! window, reports the ones the watcher rolled back, and rolls them back itself when a
//! signal comes during the window.
//!
//! Invariant: the agent never holds the store's lock during the window; killed there
//! (`kill -9`, a node drained), it confirms nothing, and the watchers put back the
//! rules each install ran before the round at the deadline.

use std::time::{Duration, Instant};

use serde_json::Value;
use sockc_runtime::store::{pending::Pending, Store};

use super::{
    events::Events,
    installer::Installer,
    report::{log, now, Entry, Outcome, Report},
};
use crate::shared::{
    confirmation::{self, Settled, Window},
    probe::{self, Probe},
    store::open_store,
};

/// How long past the agent's window the deadline of a change is: the time the agent
/// has to confirm it once the window has passed.
pub const GRACE: Duration = Duration::from_secs(5);

/// What the agent arms each change with: its window plus [`GRACE`], its probes.
pub fn window<'a>(confirm: Option<Duration>, probes: &'a [Probe]) -> Window<'a> {
    Window {
        duration: confirm.map(|w| w + GRACE),
        probes,
    }
}

/// The commit-confirmed step of a round: waits for the window, watching for changes
/// the watchers roll back, then confirms the rest. `Some(signal)` when the agent was
/// stopped during the window (the changes were rolled back first).
pub fn confirm_or_roll_back(
    installer: &Installer,
    report: &mut Report,
    mut pending: Vec<String>,
    (probes, window): (&[Probe], Duration),
    events: &mut Events,
) -> Option<&'static str> {
    let probing: Vec<String> = probes.iter().map(|p| p.to_string()).collect();
    log(&format!(
        "{}: probing {} for {window:?} before confirming",
        pending.join(", "),
        if probing.is_empty() {
            "nothing".to_string()
        } else {
            probing.join(", ")
        }
    ));
    // The agent probes too, at a pace its window allows (the watcher's own probes
    // are for when the agent is gone).
    let period = (window / 5).clamp(Duration::from_millis(500), Duration::from_secs(5));
    let timeout = period.min(Duration::from_secs(2));
    let end = Instant::now() + window;
    loop {
        pending.retain(|name| !reported_rolled_back(installer, report, name));
        if let Some(why) = probe::first_failing(probes, timeout) {
            roll_back(installer, report, &pending, &format!("probe failed: {why}"));
            return None;
        }
        let left = end.saturating_duration_since(Instant::now());
        if pending.is_empty() || left.is_zero() {
            break;
        }
        if let Some(sig) = events.sleep(left.min(period)) {
            let why = format!("{sig} came before the change was confirmed");
            roll_back(installer, report, &pending, &why);
            return Some(sig);
        }
    }
    confirm_all(installer, report, &pending, window);
    None
}

/// Whether install `name`'s change was rolled back by its watcher (then reported).
fn reported_rolled_back(installer: &Installer, report: &mut Report, name: &str) -> bool {
    let records = sockc_runtime::store::pending::Records::new(
        &sockc_runtime::store::pending::state_dir(&installer.target.bpffs),
    );
    match records.read(name) {
        Ok(Some(p)) if !p.is_pending() => {
            record_rollback(report, name, &p);
            true
        }
        _ => false,
    }
}

/// Confirms every change still pending (`sockc confirm`'s step, under the lock).
fn confirm_all(installer: &Installer, report: &mut Report, names: &[String], window: Duration) {
    let Ok(store) = open_store(&installer.target) else {
        log("cannot confirm: the store cannot be opened (said above); the changes roll back at their deadline");
        return;
    };
    for name in names {
        match store.pending().read(name) {
            Ok(Some(p)) if p.is_pending() => match store.pending().remove(name) {
                Ok(()) => log(&format!(
                    "{name}: confirmed (every probe held for {window:?})"
                )),
                Err(e) => log(&format!(
                    "{name}: could not be confirmed ({}); it rolls back at its deadline",
                    sockc_runtime::error_chain(&e)
                )),
            },
            Ok(Some(p)) => record_rollback(report, name, &p),
            _ => {}
        }
    }
}

/// Rolls every change of `names` back now, with `reason`, and records it.
fn roll_back(installer: &Installer, report: &mut Report, names: &[String], reason: &str) {
    let store = open_store(&installer.target);
    for name in names {
        let settled = match &store {
            Ok(store) => put_back(store, name, reason),
            Err(_) => Err("the store cannot be opened (said above)".into()),
        };
        match settled {
            Ok(p) => record_rollback(report, name, &p),
            Err(why) => log(&format!(
                "{name}: could not be rolled back now ({why}); it rolls back at its deadline"
            )),
        }
    }
}

/// Settles install `name`'s change at once (`reason`); its record after.
fn put_back(store: &Store, name: &str, reason: &str) -> Result<Pending, String> {
    let settlement = confirmation::settle(store, name, Some(reason))?;
    for r in &settlement.recovered {
        log(&format!("{name}: {r}"));
    }
    match settlement.settled {
        Settled::RolledBack(_) | Settled::Discarded | Settled::Nothing => {}
    }
    store
        .pending()
        .read(name)
        .map_err(|e| sockc_runtime::error_chain(&e))?
        .ok_or_else(|| "its record is gone".to_string())
}

/// Records install `name`'s rolled-back change `p` in the report, once.
fn record_rollback(report: &mut Report, name: &str, p: &Pending) {
    let Some(r) = &p.rolled_back else {
        return;
    };
    let already = report
        .entries
        .get(name)
        .is_some_and(|e| e.outcome == Outcome::RolledBack && e.unix >= r.at_unix);
    if already {
        return;
    }
    let message = match (&p.previous, r.generation) {
        (Some(prev), Some(now)) => format!(
            "rolled back to the rules of generation {} (now generation {now}): {}",
            prev.generation, r.reason
        ),
        _ => format!(
            "rolled back: flushed (nothing was installed before): {}{}",
            r.reason,
            confirmation::stayed_words(r)
        ),
    };
    let (file, sha256) = report
        .entries
        .get(name)
        .map_or_else(Default::default, |e| (e.file.clone(), e.sha256.clone()));
    report.record(Entry {
        name: name.to_string(),
        file,
        outcome: Outcome::RolledBack,
        message,
        reason: Some(r.reason.clone()),
        diagnostics: Value::Array(Vec::new()),
        generation: r.generation,
        good: r.generation.is_some() && p.previous.is_some(),
        sha256,
        unix: now(),
    });
}
