//! What installing a compiled rule file takes besides the runtime's
//! `install::apply`, shared by `apply` and `watch` (which installs the files of a
//! directory the same way, in process): the network namespace a name or path means,
//! conntrack switched on or off for `ct state` rules, whether an apply changed
//! anything, and the line that says what it did.
//!
//! Invariant: both commands install through the same steps in the same order —
//! `install::apply`, then (not on a dry run) the conntrack anchor, which never runs
//! before the install is committed.

use std::path::{Path, PathBuf};

use sockc_compiler::Compiled;
use sockc_runtime::{
    conntrack_anchor::{self, Outcome},
    install::ApplyReport,
    plan::ProgramAction,
    stages,
};

/// `--netns`: a path (it has a `/`), or a name under `/run/netns`.
pub fn netns_path(n: &str) -> PathBuf {
    if n.contains('/') {
        PathBuf::from(n)
    } else {
        Path::new("/run/netns").join(n)
    }
}

/// Creates or removes the nft table that keeps conntrack on for `ct state` rules,
/// noting what it did in `report`; when it cannot, `warn_no_conntrack` says why.
pub fn switch_conntrack(
    name: &str,
    compiled: &Compiled,
    report: &mut ApplyReport,
    warn_no_conntrack: &dyn Fn(&str),
) {
    let _t = stages::stage("conntrack anchor");
    let rules = compiled
        .metadata
        .programs
        .iter()
        .flat_map(|p| p.rules.iter());
    let needed = conntrack_anchor::needed_by(rules.map(|r| &*r.text));
    match conntrack_anchor::after_apply(name, needed) {
        Outcome::Created(n) | Outcome::Removed(n) | Outcome::Shared(n) => report.notices.push(n),
        Outcome::Failed(why) => warn_no_conntrack(&why),
        Outcome::Nothing => {}
    }
}

/// Whether the apply changed (or, dry, would change) something: the plan, hooks
/// attached again, or set maps rewritten.
pub fn changes(report: &ApplyReport) -> bool {
    report.plan.has_changes() || !report.drift.is_empty() || !report.set_drift.is_empty()
}

/// The last line of `sockc apply`: a dry run, no changes, a repair, or the
/// generation applied with what happened to the programs.
pub fn outcome_line(name: &str, dry_run: bool, report: &ApplyReport) -> String {
    let generation = report.generation.unwrap_or(0);
    if dry_run {
        return "dry run: nothing was changed".into();
    }
    if !changes(report) {
        return format!("{name}: no changes (generation {generation})");
    }
    if !report.plan.has_changes() {
        let sets = match report.set_drift.len() {
            0 => String::new(),
            n => format!(", {n} set maps rewritten"),
        };
        return format!(
            "{name}: repaired generation {generation} ({} hooks attached again{sets})",
            report.drift.len()
        );
    }
    let count = |a: ProgramAction| {
        report
            .plan
            .programs
            .iter()
            .filter(|p| p.action == a)
            .count()
    };
    format!(
        "{name}: generation {generation} applied ({} attached, {} replaced, {} detached{})",
        count(ProgramAction::Attach),
        count(ProgramAction::Reload) + count(ProgramAction::ReloadSameCode),
        count(ProgramAction::Detach),
        if report.plan.maps_only {
            ", sets updated in place, no reload"
        } else {
            ""
        }
    )
}
