//! `sockc diff OLD NEW`: which packets installing NEW over OLD would treat
//! differently, offline; with `--details`, what the install would change.
//!
//! The answer comes first: the compiler's semantic diff
//! ([`sockc_compiler::semdiff`]), "no packet changes its verdict" or "N regions change
//! verdict" with a table of regions (deciding rule before and after, an example
//! packet in `sockc test` syntax), then what changes counting alone. `--details` (or
//! `--bytecode`) adds the plan of [`sockc_runtime::plan`] (NEW refitted to OLD's
//! counter slots and map sizes, as `sockc apply` would over an install of OLD):
//! programs to attach, reload or detach, the path the change takes, the rule diff, set
//! entries added and removed, bytecode diffs and the counters that would carry over.
//! Nothing touches the kernel. Exit code 0 when no packet changes its verdict (even
//! when text, sets or bytecode differ), 4 when some packet does (1 stays "rule
//! errors").
//!
//! `diff --installed NAME NEW` takes OLD from the install: the rules its manifest
//! records, compiled ([`installed`], what `apply --dry-run` compares with), and the plan
//! starts from its manifest's snapshot, as `apply` would. Since that answer is about
//! the records, the install is first checked as `apply --dry-run` checks it: a hook
//! NEW keeps that runs another program or none, or a set map whose entries differ
//! (`install::records_drift`), is drift: named after the answer, exit 3.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use serde_json::json;
use sockc_compiler::{
    diag::Diagnostic,
    ir::Module,
    semdiff::{self, SemDiff},
    Compiled, Lints,
};
use sockc_runtime::{
    install::{self, InstallError, RecordsDrift},
    plan::{plan_compiled, Snapshot},
};

use crate::shared::{
    build::{analyze_deferred, build_deferred, print_diagnostics},
    confirmation, installed,
    json::{self, sockc_error},
    privileges,
    semantic_diff::{options, semantic_text},
    settings::{diff_budget, quiet},
    stderr::errln,
    stdout::{self, outln},
    store::{check_name, fail, open_store, Target},
    time::stages_ms,
};

/// Exit code when some packet changes its verdict (0 and 1 to 3 mean what they mean
/// elsewhere).
const DIFFERENT: u8 = 4;

#[derive(Args)]
pub struct DiffArgs {
    /// the rule file taken as installed; with --installed, the only file: the one
    /// that would replace the install
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// the rule file that would replace it
    #[arg(value_name = "NEW", required_unless_present = "installed")]
    pub new: Option<PathBuf>,
    /// compare the one file given with what install NAME runs (the rules its manifest
    /// records, as `sockc show NAME` prints them) instead of with a file; a hook it
    /// keeps that runs another program or none, or a set that differs, is drift (exit 3)
    #[arg(long, value_name = "NAME", conflicts_with = "new")]
    pub installed: Option<String>,
    /// with --installed: where bpffs is mounted
    #[arg(long, default_value = "/sys/fs/bpf", value_name = "PATH")]
    pub bpffs: PathBuf,
    /// with --installed: how long to wait for another sockc that holds the lock, in
    /// seconds
    #[arg(long, default_value = "60", value_name = "SECS")]
    pub lock_timeout: u64,
    /// print the semantic diff and the plan as JSON on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
    /// counts instead of listings: regions that change verdict, counting changes, and
    /// of the plan rules and set entries added and removed, changed bytecode lines
    #[arg(long, conflicts_with = "json")]
    pub summary: bool,
    /// after the answer, the plan an apply would follow: rule text diff, set entries,
    /// programs to reload, bytecode diff, counters carried over
    #[arg(long)]
    pub details: bool,
    /// the same as --details
    #[arg(long)]
    pub bytecode: bool,
    /// print on stderr how long reading each file took, stage by stage (without
    /// --details, --summary or --json a diff stops at the rules' meaning: no code is
    /// planned or lowered)
    #[arg(long)]
    pub timings: bool,
}

/// The side a diff compares against: its name in the output, its rules, the
/// installed generation a plan starts from, and (an install's) what the kernel runs
/// that its records do not say.
struct Old {
    name: String,
    module: Module,
    snapshot: Snapshot,
    drift: Option<RecordsDrift>,
    /// The compile's stages (none for an install's records).
    timings: Vec<(&'static str, Duration)>,
}

/// `sockc diff --installed NAME`'s OLD: the install's recorded rules and its snapshot.
fn installed_side(args: &DiffArgs, name: &str) -> Result<Old, ExitCode> {
    check_name(name)?;
    privileges::require("diff --installed", privileges::READ)?;
    let store = open_store(&Target {
        name: Some(name.to_string()),
        bpffs: args.bpffs.clone(),
        lock_timeout: args.lock_timeout,
    })?;
    // What recovery did (or could not do: a leftover that stays) is said; the diff goes on.
    for (n, r) in install::recover(&store, Some(name)).map_err(fail)? {
        errln!("sockc: {n}: {r}");
    }
    confirmation::settle_and_say(&store, Some(name));
    match installed::read(&store, name) {
        Ok(Some(i)) => Ok(Old {
            name: format!("installed {name}"),
            drift: Some(install::records_drift(&store, &i.manifest)),
            module: i.compiled.module,
            snapshot: i.manifest.snapshot,
            timings: Vec::new(),
        }),
        Ok(None) => Err(fail(InstallError::NotInstalled(name.to_string()))),
        Err(why) => {
            sockc_error!("{why}");
            Err(ExitCode::from(1))
        }
    }
}

/// `sockc diff`: OLD read from the install with `--installed`, from a file otherwise.
pub fn run(args: &DiffArgs) -> ExitCode {
    let installed = match &args.installed {
        Some(name) => match installed_side(args, name) {
            Ok(old) => Some(old),
            Err(code) => return code,
        },
        None => None,
    };
    compare(args, installed)
}

/// Whether the answer includes the plan (`--details`, `--summary`, `--json`), which
/// needs both files compiled whole; without it only their rules' meaning is read.
fn needs_plan(args: &DiffArgs) -> bool {
    args.details || args.bytecode || args.summary || args.json
}

/// Compiles both sides (OLD from the install with `--installed`: `installed`), prints
/// NEW's warnings once after the answer, and exits as [`answer`] says. A diff of two
/// files without the plan reads them only as far as [`compare_rules`] needs.
fn compare(args: &DiffArgs, installed: Option<Old>) -> ExitCode {
    let (old, new_file) = match installed {
        Some(old) => (old, args.old.as_path()),
        None if !needs_plan(args) => return compare_rules(args),
        // OLD's warnings are never printed: its lints need not run.
        None => match build_deferred(&args.old, Lints::Skip) {
            Ok(b) => (
                Old {
                    name: args.old.display().to_string(),
                    snapshot: Snapshot::of(&b.compiled),
                    timings: b.compiled.timings,
                    module: b.compiled.module,
                    drift: None,
                },
                new_file(args),
            ),
            Err(code) => return code,
        },
    };
    let new = match build_deferred(new_file, Lints::Run) {
        Ok(b) => b,
        Err(code) => return code,
    };
    // NEW's warnings only, once, after the answer (in the document under --json,
    // which is printed whole).
    if args.json {
        print_diagnostics(&new.warnings, &new.name, &new.src);
    }
    let code = answer(args, &old, &new_file.display().to_string(), &new.compiled);
    if args.timings {
        print_timings(&old.timings, &new.compiled.timings);
    }
    if !args.json {
        warnings_after_answer(&new.warnings, &new.name, &new.src);
    }
    code
}

/// NEW without `--installed` (clap requires it then).
fn new_file(args: &DiffArgs) -> &std::path::Path {
    args.new
        .as_deref()
        .expect("clap requires NEW without --installed")
}

/// `sockc diff OLD NEW` without the plan: the semantic diff reads only the rules, so
/// both files go through sema and the passes that shape the rules
/// ([`analyze_deferred`]), never lowering, maps or tables, and OLD not through the
/// lints (its warnings are never printed). The same answer, warnings and exit code as
/// a full compile gives, but for what only lowering finds.
fn compare_rules(args: &DiffArgs) -> ExitCode {
    let new_file = new_file(args);
    // OLD's text and warnings are never shown: only its rules are kept.
    let old = match analyze_deferred(&args.old, Lints::Skip) {
        Ok(a) => a.analyzed,
        Err(code) => return code,
    };
    let new = match analyze_deferred(new_file, Lints::Run) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let start = std::time::Instant::now();
    let sem = semantic(&old.module, &new.analyzed.module);
    let compared = start.elapsed();
    let old_name = args.old.display().to_string();
    let text = semantic_text(&sem, &old_name, &new_file.display().to_string(), false);
    stdout::text(&text);
    if args.timings {
        print_timings(&old.timings, &new.analyzed.timings);
        print_diff_work(&sem, compared);
    }
    warnings_after_answer(&new.warnings, &new.name, &new.src);
    verdict_code(&sem)
}

/// NEW's warnings after a text answer.
fn warnings_after_answer(warnings: &[Diagnostic], name: &str, src: &str) {
    // A blank line between the answer (stdout) and the warnings (stderr): on a
    // terminal the first warning's code would read as the answer's last line.
    if !quiet() && !warnings.is_empty() {
        errln!("");
    }
    print_diagnostics(warnings, name, src);
}

/// `--timings`: each file's stages, on stderr.
fn print_timings(old: &[(&str, Duration)], new: &[(&str, Duration)]) {
    errln!(
        "timings (ms): OLD: {}; NEW: {}",
        stages_ms(old),
        stages_ms(new)
    );
}

/// `--timings`: the semantic diff's time and its work per block pair that differs
/// (the count its budget, `--max-diff-work`'s, bounds), on stderr.
fn print_diff_work(sem: &SemDiff, took: Duration) {
    let work: Vec<String> = (sem.blocks.iter())
        .map(|b| format!("{} {}", b.hook.spec().label(&b.attach_to), b.work))
        .collect();
    let budget = diff_budget();
    errln!(
        "timings (ms): semantic diff {:.1}; its work (of {} per block pair, {} more to \
         list what a cut candidate region holds): {}",
        took.as_secs_f64() * 1e3,
        budget.work,
        budget.listing,
        work.join(", ")
    );
}

/// The semantic diff of the two sides' rules, and the note on their residuals.
fn semantic(old: &Module, new: &Module) -> SemDiff {
    let sem = semdiff::diff_within(old, new, diff_budget());
    if let Some(note) = residual_note(old, new) {
        if !quiet() {
            errln!("sockc: note: {note}");
        }
    }
    sem
}

/// 4 when some packet changes its verdict, else 0.
fn verdict_code(sem: &SemDiff) -> ExitCode {
    if sem.changes_verdicts() {
        ExitCode::from(DIFFERENT)
    } else {
        ExitCode::SUCCESS
    }
}

/// The semantic diff (with `--details` or `--summary` the plan), as text or JSON; exit
/// 4 when some packet changes its verdict.
fn answer(args: &DiffArgs, old: &Old, new_name: &str, new: &Compiled) -> ExitCode {
    let sem = semantic(&old.module, &new.module);
    let (old_name, new_name) = (old.name.as_str(), new_name);
    let details = args.details || args.bytecode;
    let drift = old.drift.as_ref().map(|d| kept(d, new));
    let text = if args.json {
        let (plan, _, _) = plan_compiled(Some(&old.snapshot), new);
        let mut v = plan.to_json();
        v["semantic"] = semdiff::to_json(&sem, &options(old_name, new_name));
        if let Some(d) = &drift {
            v["drift"] = json!(drift_lines(d));
            v["set_drift"] = json!(d.sets);
        }
        json::emit(v);
        String::new()
    } else {
        let mut text = semantic_text(&sem, old_name, new_name, args.summary);
        if details || args.summary {
            let (plan, _, _) = plan_compiled(Some(&old.snapshot), new);
            if !args.summary {
                text.push('\n');
            }
            text.push_str(&if args.summary {
                plan.render_summary(old_name, new_name)
            } else {
                plan.render(old_name, new_name)
            });
        }
        text
    };
    stdout::text(&text);
    if let Some(d) = drift.filter(|d| !d.is_empty()) {
        return drifted(args, old_name, &d);
    }
    verdict_code(&sem)
}

/// `drift` without the hooks NEW drops (an apply takes those off, whatever they
/// run), as `apply --dry-run` counts it.
fn kept(drift: &RecordsDrift, new: &Compiled) -> RecordsDrift {
    let labels: Vec<String> = new
        .metadata
        .programs
        .iter()
        .map(|p| p.hook.spec().label(&p.attach_to))
        .collect();
    RecordsDrift {
        hooks: drift
            .hooks
            .iter()
            .filter(|(at, _)| labels.contains(at))
            .cloned()
            .collect(),
        ..drift.clone()
    }
}

/// The hooks of `d` (and the namespace's problem) as `{hook, state}` objects.
fn drift_lines(d: &RecordsDrift) -> Vec<serde_json::Value> {
    let netns = d
        .netns
        .iter()
        .map(|p| json!({"hook": "network namespace", "state": p}));
    let hooks = d
        .hooks
        .iter()
        .map(|(at, state)| json!({"hook": at, "state": state.to_string()}));
    netns.chain(hooks).collect()
}

/// What the install runs that its records do not say, after the answer (which is
/// about the records): each difference, then why the exit code is 3.
fn drifted(args: &DiffArgs, old_name: &str, d: &RecordsDrift) -> ExitCode {
    if !args.json {
        if let Some(p) = &d.netns {
            outln!("drift: {p}");
        }
        for (at, state) in &d.hooks {
            outln!("drift: {at}: {state}");
        }
        for set in &d.sets {
            outln!("drift: {set}");
        }
    }
    sockc_error!(
        "{old_name} does not run what its records say (see `drift`): the answer above \
         compares with the records, not with what the kernel runs; `sockc repair` (or an \
         apply) brings the kernel back to the records"
    );
    ExitCode::from(3)
}

/// What the diff says of the files' residuals (docs/import.md, "The residual"): the
/// semantic diff compares the blocks only, so a residual on either side is named as
/// not compared, and whether its text changed.
fn residual_note(old: &Module, new: &Module) -> Option<String> {
    let (a, b) = (old.residual.as_ref(), new.residual.as_ref());
    let changed = match (a, b) {
        (None, None) => return None,
        (Some(a), Some(b)) if a.text == b.text && a.mark == b.mark => "unchanged",
        (Some(_), Some(_)) => "changed",
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
    };
    Some(format!(
        "the residual (what stays in netfilter) is not compared packet by packet, only \
         its blocks' rules are; its text is {changed}"
    ))
}
