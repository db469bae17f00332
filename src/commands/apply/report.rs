//! What `sockc apply` prints: with `--dry-run` first the semantic diff against the
//! install (which packets change their verdict), then the plan (listed, or counted
//! when its listing is longer than [`LISTED_PLAN_LINES`]), the hooks attached again,
//! what the verifier accepted and one line saying what the apply did; or all of it as
//! one JSON document (docs/json.md). With `-q` nothing on success, but the line of a
//! change pending confirmation: unless someone confirms it, it is rolled back.

use std::fmt::Write as _;

use serde_json::{json, Value};
use sockc_compiler::semdiff::{self, SemDiff};
use sockc_runtime::{install::ApplyReport, plan::Plan, store::pending::Pending};

use super::ApplyArgs;
use crate::shared::{
    confirmation,
    installing::outcome_line,
    json,
    semantic_diff::{options, semantic_text},
    settings::quiet,
    stdout::{out, outln},
};

/// The longest listing of a plan (rules, set entries and bytecode lines that change)
/// an apply prints without `--details`; a longer one is given as counts.
pub const LISTED_PLAN_LINES: usize = 50;

/// The apply's report, as text or JSON; `semantic` is the dry run's semantic diff
/// against the install (or why it is not known).
pub fn print(
    args: &ApplyArgs,
    name: &str,
    file: &str,
    report: &ApplyReport,
    semantic: Option<&Result<SemDiff, String>>,
    pending: Option<&Pending>,
) {
    let installed = format!("installed {name}");
    if args.json {
        let sem = semantic.map(|s| match s {
            Ok(d) => semdiff::to_json(d, &options(&installed, file)),
            Err(why) => json!({ "unavailable": why }),
        });
        print_apply_json(name, args, report, sem, pending);
        return;
    }
    if quiet() {
        // Success says nothing; a change pending confirmation is rolled back unless
        // someone confirms it, so the operator still reads when and how.
        if let Some(p) = pending {
            outln!("{}", confirmation::pending_line(name, p));
        }
        return;
    }
    if let Some(s) = semantic {
        match s {
            Ok(d) => out!("{}", semantic_text(d, &installed, file, args.summary)),
            Err(why) => outln!("which packets change their verdict: not known ({why})"),
        }
    }
    print_apply_text(name, file, args, report);
    if let Some(p) = pending {
        outln!("{}", confirmation::pending_line(name, p));
    }
}

/// `sockc apply --json`: the plan and what became of it (docs/json.md); with
/// `--dry-run` the semantic diff against the install.
fn print_apply_json(
    name: &str,
    args: &ApplyArgs,
    report: &ApplyReport,
    semantic: Option<Value>,
    pending: Option<&Pending>,
) {
    json::emit(json!({
        "confirmation": pending.map(confirmation::pending_json),
        "label": args.label,
        "semantic": semantic,
        "name": name,
        "dry_run": args.dry_run,
        "changed": report.changed,
        "generation": report.generation,
        "plan": report.plan.to_json(),
        "drift": report.drift.iter().map(|(at, s)| json!({"hook": at, "state": s.to_string()})).collect::<Vec<_>>(),
        "set_drift": report.set_drift,
        "failed": report.failed,
        "recovered": report.recovered.as_ref().map(|r| r.to_string()),
        "verified": report.verified.iter().map(|p| json!({
            "symbol": p.symbol, "hook": p.hook, "xlated_insns": p.xlated_insns,
            "verified_insns": p.verified_insns, "load_ms": p.load_time.as_secs_f64() * 1e3,
        })).collect::<Vec<_>>(),
        "notices": report.notices,
    }));
}

/// `sockc apply`'s text: the plan (or its summary), the hooks attached again, what
/// the verifier accepted, and one line saying what the apply did.
fn print_apply_text(name: &str, file: &str, args: &ApplyArgs, report: &ApplyReport) {
    let old = format!("installed {name}");
    if let Some(text) = plan_text(args, &report.plan, &old, file) {
        out!("{text}");
    }
    for (at, state) in &report.drift {
        outln!(
            "{} {at}: {state}",
            if args.dry_run {
                "would attach again"
            } else {
                "attached again"
            }
        );
    }
    for set in &report.set_drift {
        outln!(
            "{} {set}",
            if args.dry_run {
                "would rewrite from the manifest:"
            } else {
                "rewritten from the manifest:"
            }
        );
    }
    for p in &report.verified {
        outln!(
            "verifier: {} accepted ({} insns, {:.1} ms){}",
            p.symbol,
            p.xlated_insns.unwrap_or(0),
            p.load_time.as_secs_f64() * 1e3,
            if args.dry_run { ", not attached" } else { "" }
        );
    }
    outln!("{}", outcome_line(name, args.dry_run, report));
}

/// The plan as an apply prints it: listed with `--details` or when its listing is at
/// most [`LISTED_PLAN_LINES`], counted with `--summary` or past that (with a line
/// saying how to list it); a dry run's only when asked for.
fn plan_text(args: &ApplyArgs, plan: &Plan, old: &str, file: &str) -> Option<String> {
    if args.dry_run && !args.details && !args.summary {
        return None;
    }
    let listing = plan.listing_lines();
    if args.details || (!args.summary && listing <= LISTED_PLAN_LINES) {
        return Some(plan.render(old, file));
    }
    let mut text = plan.render_summary(old, file);
    if !args.summary {
        let _ = writeln!(
            text,
            "(a listing of {listing} lines, more than {LISTED_PLAN_LINES}: --details prints it)"
        );
    }
    Some(text)
}
