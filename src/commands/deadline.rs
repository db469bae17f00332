//! `sockc deadline NAME --token T` (hidden): the watcher `apply --confirm` starts in a
//! session of its own. It sleeps until the change's deadline, running the change's
//! probes meanwhile, and then (or at the first probe that fails) takes the store's lock
//! and rolls the change back (`shared::confirmation::settle`) unless `sockc confirm`
//! came first.
//!
//! Invariant: it acts only on the record that carries its token (a change armed again
//! has a new watcher, and this one stops), and only under the lock; it never holds the
//! lock while it waits. What it did goes into the record, which `status` and `sockc
//! confirm` read: it has no terminal to print to.

use std::{process::ExitCode, time::Duration};

use clap::Args;
use sockc_runtime::store::{pending::Pending, Store};

use crate::shared::stderr::errln;
use crate::shared::{
    confirmation::{self, Settled},
    probe::{self, Probe},
    store::{check_name, open_store, Target},
};

#[derive(Args)]
pub struct DeadlineArgs {
    /// the install whose pending change to watch
    #[arg(value_name = "NAME")]
    pub install: String,
    /// the token of the record this watcher may act on
    #[arg(long)]
    pub token: String,
    #[command(flatten)]
    pub target: Target,
}

/// How often the record is read again and the probes run.
const PERIOD: Duration = Duration::from_secs(1);
/// How long a failed rollback is tried again before the watcher leaves it to the next
/// sockc command (`sockc-repair.timer`, or whoever comes).
const GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

pub fn run(args: &DeadlineArgs) -> ExitCode {
    let name = args.install.as_str();
    if let Err(code) = check_name(name) {
        return code;
    }
    let records = sockc_runtime::store::pending::Records::new(
        &sockc_runtime::store::pending::state_dir(&args.target.bpffs),
    );
    let started = std::time::Instant::now();
    let mut last_failure = None;
    loop {
        let record = match records.read(name) {
            Ok(Some(r)) if r.is_pending() && r.token == args.token => r,
            // Confirmed, rolled back, cancelled by a flush, or armed again with
            // another watcher: nothing left to do here.
            _ => return ExitCode::SUCCESS,
        };
        let failed = failing_probe(&record);
        if failed.is_some() || record.expired() {
            match act(args, name, failed.as_deref(), &mut last_failure) {
                Some(code) => return code,
                None if started.elapsed() > GIVE_UP_AFTER => return ExitCode::from(3),
                None => std::thread::sleep(PERIOD * 5),
            }
            continue;
        }
        let left = Duration::from_secs_f64(record.remaining_secs());
        std::thread::sleep(PERIOD.min(left.max(Duration::from_millis(50))));
    }
}

/// The first of the record's probes that fails, with why.
fn failing_probe(record: &Pending) -> Option<String> {
    let probes: Vec<Probe> = record
        .probes
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    probe::first_failing(&probes, Duration::from_secs(2)).map(|why| format!("probe failed: {why}"))
}

/// Takes the lock and settles the record (`force`: a probe failed); `None` when that
/// must be tried again.
fn act(
    args: &DeadlineArgs,
    name: &str,
    force: Option<&str>,
    last_failure: &mut Option<String>,
) -> Option<ExitCode> {
    let store: Store = open_store(&args.target).ok()?;
    // Under the lock, only while the record is still this watcher's.
    match store.pending().read(name) {
        Ok(Some(r)) if r.is_pending() && r.token == args.token => {}
        _ => return Some(ExitCode::SUCCESS),
    }
    let settled = confirmation::settle(&store, name, force).map(|s| {
        // Its stderr is the watcher's log, if any: the record keeps what a rollback's
        // recovery did for `status` and `sockc confirm`.
        confirmation::say_recovered(name, &s.recovered);
        if let Settled::RolledBack(r) = &s.settled {
            errln!("sockc: {name}: {}", confirmation::rolled_back_words(r));
        }
        s.settled
    });
    match settled {
        Ok(Settled::RolledBack(_) | Settled::Discarded) => Some(ExitCode::SUCCESS),
        // Not yet (the deadline moved): keep watching.
        Ok(Settled::Nothing) => None,
        Err(why) => {
            if let Some(line) = failure_line(name, last_failure, why) {
                errln!("{line}");
            }
            None
        }
    }
}

/// The log line for a failed rollback, `None` when it failed for the same reason last
/// time: the watcher tries again every few seconds for an hour, and its log says each
/// reason once, not once a try.
fn failure_line(name: &str, last: &mut Option<String>, why: String) -> Option<String> {
    if last.as_deref() == Some(why.as_str()) {
        return None;
    }
    let line = format!("sockc: {name}: the rollback failed (tried again every 5 s): {why}");
    *last = Some(why);
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::failure_line;

    #[test]
    fn a_failed_rollback_is_said_once_per_reason() {
        let mut last = None;
        let first = failure_line("web", &mut last, "busy".into());
        assert_eq!(
            first.as_deref(),
            Some("sockc: web: the rollback failed (tried again every 5 s): busy")
        );
        assert_eq!(failure_line("web", &mut last, "busy".into()), None);
        assert!(failure_line("web", &mut last, "gone".into()).is_some());
        assert!(failure_line("web", &mut last, "busy".into()).is_some());
    }
}
