//! Wall-clock stages of one command, for `sockc apply --timings`: each stage's name,
//! when it started (from [`record`]'s call) and how long it took, kept in the order
//! the stages ended. Any thread may time a stage (the counters map is made beside the
//! tables), so stages may overlap; the printed table says so by their start times.
//!
//! Invariant: until [`record`] is called nothing is kept, and a stage costs one
//! relaxed atomic load; the timings never change what a command does.

use std::{
    borrow::Cow,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

/// One timed stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub name: String,
    /// From [`record`]'s call to the stage's start.
    pub start: Duration,
    pub took: Duration,
}

static ON: AtomicBool = AtomicBool::new(false);
static ORIGIN: OnceLock<Instant> = OnceLock::new();
static KEPT: Mutex<Vec<Timed>> = Mutex::new(Vec::new());

/// Starts keeping stages, timed from now (or from the first call's time).
pub fn record() {
    ORIGIN.get_or_init(Instant::now);
    ON.store(true, Ordering::Relaxed);
}

/// A stage running from now until the value is dropped; `name` is only built when
/// stages are kept.
#[must_use = "a stage is timed until it is dropped"]
pub struct Stage {
    started: Option<(Cow<'static, str>, Instant)>,
}

/// Times the stage `name` until the returned value is dropped.
pub fn stage(name: impl Into<Cow<'static, str>>) -> Stage {
    Stage {
        started: ON
            .load(Ordering::Relaxed)
            .then(|| (name.into(), Instant::now())),
    }
}

/// Times `name` as a stage that began at `started` and ended now (work timed before
/// its name was known, or measured by the caller).
pub fn ended(name: impl Into<Cow<'static, str>>, started: Instant) {
    if ON.load(Ordering::Relaxed) {
        keep(name.into(), started, Instant::now());
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some((name, started)) = self.started.take() {
            keep(name, started, Instant::now());
        }
    }
}

fn keep(name: Cow<'static, str>, started: Instant, now: Instant) {
    let origin = *ORIGIN.get_or_init(|| started);
    let timed = Timed {
        name: name.into_owned(),
        start: started.saturating_duration_since(origin),
        took: now.saturating_duration_since(started),
    };
    // A poisoned lock only means another thread panicked while pushing: keep going.
    KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(timed);
}

/// The stages kept so far, by start time, and the time since [`record`].
pub fn take() -> (Vec<Timed>, Duration) {
    let mut kept = std::mem::take(&mut *KEPT.lock().unwrap_or_else(|e| e.into_inner()));
    kept.sort_by_key(|t| t.start);
    let total = ORIGIN.get().map_or(Duration::ZERO, |o| o.elapsed());
    (kept, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the switch is process-wide. Other tests of this crate may time
    // stages of their own meanwhile, so only this test's names are looked at.
    #[test]
    fn nothing_is_kept_until_recording_then_stages_in_start_order() {
        let mine = |kept: Vec<Timed>| -> Vec<Timed> {
            kept.into_iter()
                .filter(|t| t.name.starts_with("stages test"))
                .collect()
        };
        drop(stage("stages test before"));
        assert!(mine(take().0).is_empty());
        record();
        let outer = stage("stages test outer");
        std::thread::sleep(Duration::from_millis(2));
        drop(stage(format!("stages test inner {}", 1)));
        drop(outer);
        let (kept, total) = take();
        let kept = mine(kept);
        let names: Vec<_> = kept.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["stages test outer", "stages test inner 1"]);
        assert!(kept[0].took >= Duration::from_millis(2));
        assert!(kept[1].start >= kept[0].start + Duration::from_millis(2));
        assert!(total >= kept[0].start + kept[0].took);
        assert!(mine(take().0).is_empty(), "taken once");
    }
}
