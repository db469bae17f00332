//! The control-plane figures as data: each a value, the same-run baseline it is divided
//! by, their ratio and the goal it is held to; written as the `sockc.bench/1` JSON
//! document (docs/schemas/sockc.bench.1.json), read back, and compared with a
//! committed baseline document ([`compare`]), the regression guard CI runs.
//!
//! Invariant: only ratios are compared, never absolute times (the machine is shared and
//! noisy: a figure and its baseline are measured in the same rounds, so a slow machine
//! moves both), and only between documents of the same build profile.

use serde_json::{json, Value};

/// The schema name and version of the document.
pub const SCHEMA: &str = "sockc.bench/1";

/// One figure: `value` (median over the rounds) against `baseline_value` (the median
/// of its baseline in the same rounds).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Stable name, e.g. `reapply/acl1_10000`: what the comparison matches on.
    pub key: String,
    pub what: String,
    pub unit: &'static str,
    pub value: f64,
    /// What the value is divided by, in words.
    pub baseline: String,
    pub baseline_value: f64,
    /// The least CPU time (user and system) of the rounds over the baseline's least
    /// (for a peak RSS or an in-process time, the ratio): what the regression guard
    /// compares, as other work on a shared machine moves CPU time far less than wall
    /// time, and only ever adds to it.
    pub cpu_ratio: f64,
    /// The goal: the most the value may be (`unit`), or the ratio.
    pub goal: Option<Goal>,
}

/// A goal a figure is held to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// The value is at most this (in the figure's unit).
    AtMost(f64),
    /// The ratio is at most this.
    RatioAtMost(f64),
}

impl Figure {
    pub fn ratio(&self) -> f64 {
        if self.baseline_value > 0.0 {
            self.value / self.baseline_value
        } else {
            f64::NAN
        }
    }

    /// Whether the goal is met (`None` without one).
    pub fn met(&self) -> Option<bool> {
        self.goal.map(|g| match g {
            Goal::AtMost(max) => self.value <= max,
            Goal::RatioAtMost(max) => self.ratio() <= max,
        })
    }

    /// The goal in words, e.g. `≤ 200 ms`, `ratio ≤ 1`.
    pub fn goal_text(&self) -> String {
        match self.goal {
            Some(Goal::AtMost(max)) => format!("≤ {max} {}", self.unit),
            Some(Goal::RatioAtMost(max)) => format!("ratio ≤ {max}"),
            None => String::new(),
        }
    }

    fn to_json(&self) -> Value {
        let ratio = self.ratio();
        json!({
            "key": self.key,
            "what": self.what,
            "unit": self.unit,
            "value": round(self.value),
            "baseline": self.baseline,
            "baseline_value": round(self.baseline_value),
            "ratio": finite(ratio),
            "cpu_ratio": finite(self.cpu_ratio),
            "goal": self.goal_text(),
            "met": self.met(),
        })
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn finite(v: f64) -> Value {
    if v.is_finite() {
        json!(round(v))
    } else {
        Value::Null
    }
}

/// The whole document.
pub struct Document {
    /// `release` or `debug`: the build that measured (ratios of one build only compare
    /// with the same build's).
    pub profile: &'static str,
    pub rounds: usize,
    /// The load averages (1, 5, 15 minutes) at the start and at the end of the run.
    pub load_before: [f64; 3],
    pub load_after: [f64; 3],
    pub machine: String,
    pub sockc: String,
    pub figures: Vec<Figure>,
}

impl Document {
    pub fn to_json(&self) -> Value {
        json!({
            "schema": SCHEMA,
            "profile": self.profile,
            "rounds": self.rounds,
            "load_average": { "before": self.load_before, "after": self.load_after },
            "machine": self.machine,
            "sockc": self.sockc,
            "figures": self.figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
        })
    }
}

/// The build profile this code was compiled in.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// One figure's compared ratio in a document, by key: its CPU-time ratio.
fn ratios(doc: &Value) -> Result<Vec<(String, f64)>, String> {
    if doc["schema"] != SCHEMA {
        return Err(format!(
            "not a {SCHEMA} document (schema {})",
            doc["schema"]
        ));
    }
    let figures = doc["figures"].as_array().ok_or("no `figures` array")?;
    Ok(figures
        .iter()
        .filter_map(|f| Some((f["key"].as_str()?.to_string(), f["cpu_ratio"].as_f64()?)))
        .collect())
}

/// What a comparison found.
#[derive(Debug, Default)]
pub struct Comparison {
    /// One line per figure compared, in the baseline's order.
    pub lines: Vec<String>,
    /// Figures whose ratio grew by more than the tolerance, or that are missing.
    pub regressions: Vec<String>,
}

/// The tolerance of a comparison with a baseline measured on another machine (another
/// kernel build or CPU count): the same build's ratios moved up to 1.96x between two
/// kernel builds of one machine kind (the set's first install, whose time is the
/// kernel's map updates, against `iptables-legacy-restore`), with no change in sockc.
pub const OTHER_MACHINE: f64 = 2.5;

/// Compares the ratios of `new` with those of `baseline` (each figure's least CPU time
/// over its baseline's, `cpu_ratio`): a figure regresses when its
/// ratio is over `tolerance` times the baseline's (`tolerance` 1.5: half as slow
/// again, relative to its same-run baseline), or when `new` lacks a figure the
/// baseline has. Figures only `new` has are listed and never fail.
pub fn compare(baseline: &Value, new: &Value, tolerance: f64) -> Result<Comparison, String> {
    if baseline["profile"] != new["profile"] {
        return Err(format!(
            "the baseline was measured with a {} build and these figures with a {} build: \
             their ratios do not compare",
            baseline["profile"], new["profile"]
        ));
    }
    let mut out = Comparison::default();
    let tolerance = if baseline["machine"] == new["machine"] {
        tolerance
    } else {
        out.lines.push(format!(
            "measured on another machine ({} here, {} in the baseline): tolerance {}x",
            new["machine"],
            baseline["machine"],
            tolerance.max(OTHER_MACHINE)
        ));
        tolerance.max(OTHER_MACHINE)
    };
    let (old, new) = (ratios(baseline)?, ratios(new)?);
    for (key, was) in &old {
        let Some((_, now)) = new.iter().find(|(k, _)| k == key) else {
            out.lines
                .push(format!("{key}: missing (baseline ratio {was:.3})"));
            out.regressions.push(format!("{key}: not measured"));
            continue;
        };
        let change = now / was;
        let bad = change > tolerance;
        out.lines.push(format!(
            "{key}: ratio {now:.3} against {was:.3} in the baseline ({change:.2}x){}",
            if bad { "  REGRESSION" } else { "" }
        ));
        if bad {
            out.regressions.push(format!(
                "{key}: ratio {now:.3} is {change:.2}x the baseline's {was:.3} (tolerance {tolerance}x)"
            ));
        }
    }
    for (key, now) in new.iter().filter(|(k, _)| !old.iter().any(|(o, _)| o == k)) {
        out.lines
            .push(format!("{key}: ratio {now:.3} (new: not in the baseline)"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(figures: &[(&str, f64, f64)]) -> Value {
        Document {
            profile: "release",
            rounds: 3,
            load_before: [1.0, 1.0, 1.0],
            load_after: [1.0, 1.0, 1.0],
            machine: "test".into(),
            sockc: "test".into(),
            figures: figures
                .iter()
                .map(|&(key, value, baseline_value)| Figure {
                    key: key.into(),
                    what: key.into(),
                    unit: "ms",
                    value,
                    baseline: "iptables-legacy-restore".into(),
                    baseline_value,
                    cpu_ratio: value / baseline_value,
                    goal: Some(Goal::RatioAtMost(1.0)),
                })
                .collect(),
        }
        .to_json()
    }

    #[test]
    fn a_slower_machine_is_no_regression_but_a_slower_sockc_is() {
        let base = doc(&[
            ("reapply/acl1_1000", 10.0, 8.0),
            ("diff/acl1_1000", 50.0, 8.0),
        ]);
        // Everything twice as slow, baselines too: the ratios stay.
        let slow_machine = doc(&[
            ("reapply/acl1_1000", 20.0, 16.0),
            ("diff/acl1_1000", 100.0, 16.0),
        ]);
        let c = compare(&base, &slow_machine, 1.5).unwrap();
        assert!(c.regressions.is_empty(), "{c:?}");
        // The injected regression: the re-apply alone twice as slow.
        let slow_sockc = doc(&[
            ("reapply/acl1_1000", 20.0, 8.0),
            ("diff/acl1_1000", 50.0, 8.0),
        ]);
        let c = compare(&base, &slow_sockc, 1.5).unwrap();
        assert_eq!(c.regressions.len(), 1, "{c:?}");
        assert!(c.regressions[0].starts_with("reapply/acl1_1000"), "{c:?}");
        // Within the tolerance: 1.4x.
        let noisy = doc(&[
            ("reapply/acl1_1000", 14.0, 8.0),
            ("diff/acl1_1000", 50.0, 8.0),
        ]);
        assert!(compare(&base, &noisy, 1.5).unwrap().regressions.is_empty());
    }

    #[test]
    fn another_machine_widens_the_tolerance() {
        let base = doc(&[("set_full/100000", 20.0, 8.0)]);
        let mut twice = doc(&[("set_full/100000", 40.0, 8.0)]);
        assert_eq!(compare(&base, &twice, 1.5).unwrap().regressions.len(), 1);
        twice["machine"] = json!("2 CPUs, Linux 6.18.44-other");
        let c = compare(&base, &twice, 1.5).unwrap();
        assert!(c.regressions.is_empty(), "{c:?}");
        assert!(
            c.lines[0].starts_with("measured on another machine"),
            "{c:?}"
        );
        let mut thrice = doc(&[("set_full/100000", 60.0, 8.0)]);
        thrice["machine"] = json!("2 CPUs, Linux 6.18.44-other");
        assert_eq!(compare(&base, &thrice, 1.5).unwrap().regressions.len(), 1);
    }

    #[test]
    fn a_missing_figure_fails_and_a_new_one_does_not() {
        let base = doc(&[("reapply/acl1_1000", 10.0, 8.0)]);
        let other = doc(&[("diff/acl1_1000", 10.0, 8.0)]);
        let c = compare(&base, &other, 1.5).unwrap();
        assert_eq!(c.regressions, ["reapply/acl1_1000: not measured"]);
        assert!(c
            .lines
            .iter()
            .any(|l| l.contains("new: not in the baseline")));
    }

    #[test]
    fn builds_of_another_profile_do_not_compare() {
        let base = doc(&[("reapply/acl1_1000", 10.0, 8.0)]);
        let mut debug = base.clone();
        debug["profile"] = json!("debug");
        assert!(compare(&base, &debug, 1.5).is_err());
        assert!(compare(&json!({"profile": "release"}), &base, 1.5).is_err());
    }

    #[test]
    fn goals_are_held_to_the_value_or_the_ratio() {
        let mut f = Figure {
            key: "k".into(),
            what: "w".into(),
            unit: "ms",
            value: 150.0,
            baseline: "b".into(),
            baseline_value: 100.0,
            cpu_ratio: 1.5,
            goal: Some(Goal::AtMost(200.0)),
        };
        assert_eq!(f.met(), Some(true));
        f.goal = Some(Goal::RatioAtMost(1.0));
        assert_eq!(f.met(), Some(false));
        assert_eq!(f.goal_text(), "ratio ≤ 1");
    }
}
