//! `sockc diff OLD NEW`: what installing NEW over OLD would change, offline.
//!
//! Both files are compiled and compared with [`sockc_runtime::plan`] (NEW refitted to
//! OLD's counter slots and map sizes, as `sockc apply` would over an install of OLD):
//! programs to attach, reload or detach, the path the change takes (set maps or
//! classifier tables updated in place, or a reload), the rule diff, set entries added
//! and removed, bytecode diffs and the counters that would carry over. Nothing touches the kernel. Exit code 0 when the files install the same
//! thing, 4 when they differ (like `diff`, but 1 stays "rule errors").

use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use sockc_compiler::Compiled;
use sockc_runtime::plan::{plan_compiled, Snapshot};

/// Exit code when the files differ (0 and 1 to 3 mean what they mean elsewhere).
const DIFFERENT: u8 = 4;

#[derive(Args)]
pub struct DiffArgs {
    /// the rule file taken as installed
    pub old: PathBuf,
    /// the rule file that would replace it
    pub new: PathBuf,
    /// print the plan as JSON on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
    /// counts instead of listings: rules and set entries added and removed, changed
    /// bytecode lines (for large changes)
    #[arg(long, conflicts_with = "json")]
    pub summary: bool,
}

pub fn run(args: &DiffArgs, old: &Compiled, new: &Compiled) -> ExitCode {
    let (plan, _, _) = plan_compiled(Some(&Snapshot::of(old)), new);
    let text = if args.json {
        crate::json::emit(plan.to_json());
        String::new()
    } else if args.summary {
        plan.render_summary(
            &args.old.display().to_string(),
            &args.new.display().to_string(),
        )
    } else {
        plan.render(
            &args.old.display().to_string(),
            &args.new.display().to_string(),
        )
    };
    crate::stdout::bytes(text.as_bytes());
    if plan.has_changes() {
        ExitCode::from(DIFFERENT)
    } else {
        ExitCode::SUCCESS
    }
}
