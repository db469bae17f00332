//! `sockc show NAME`: the rules an install runs, printed back as a rule file (the
//! text its manifest records, `file` sets written out), with its generation, and the
//! proof that the kernel runs what that text compiles to.
//!
//! The proof ([`sockc_runtime::install::check_programs`]): the text compiled afresh and
//! loaded through the verifier as `apply` loaded it gives, for every program, the same
//! kernel tag as the program the live generation pins; and every hook runs that
//! program (`status`). A difference is printed as a `# MISMATCH` line above the text
//! and said on stderr, and the exit code is 3, as for `status`'s drift. Every header
//! and counter line is a `#` comment, so `sockc show NAME > f.sk` is a rule file that
//! compiles to the install (`sockc diff f.sk ORIGINAL.sk` says nothing changes). An
//! install with a residual (docs/import.md) has it printed after the rules, as
//! comment lines, as the install made it.

use std::{fmt::Write as _, process::ExitCode};

use clap::Args;
use serde_json::json;
use sockc_compiler::diag::escaped;
use sockc_runtime::{
    install::{self, ProgramCheck, RuleStats, StatusOptions},
    store::Store,
};

use crate::shared::stderr::errln;
use crate::shared::{
    confirmation,
    installed::{self, Installed},
    json::{self, sockc_error},
    privileges,
    settings::quiet,
    stdout,
    store::{fail, open_for, resolve_name, Target},
    time,
};

/// Version of the JSON `show` prints (docs/json.md).
pub const SCHEMA: &str = "sockc.show/1";

#[derive(Args)]
#[command(
    long_about = "Print the rules an install runs, as a rule file: the text `sockc apply` \
recorded in the install's manifest (sets read from files are written out as lists), \
headed by `#` comment lines with the install's generation and the check that every \
program the kernel runs for it is the one this text compiles to (compiled now, loaded \
through the verifier without attaching, and compared by kernel tag with the pinned \
programs; every hook must run its pinned program). The output compiles on its own: \
`sockc show NAME > f.sk && sockc diff f.sk NEW.sk` compares a file with the live \
install, as `sockc diff --installed NAME NEW.sk` does.\n\n\
Exit codes: 0 the kernel runs what the text compiles to, 1 nothing installed or the \
recorded rules cannot be read, 2 usage, 3 a mismatch (printed as `# MISMATCH` lines \
and on stderr), a kernel or permission failure."
)]
pub struct ShowArgs {
    /// the install (default: --name, or the only install there is)
    pub install: Option<String>,
    #[command(flatten)]
    pub target: Target,
    /// each rule's counters beside it, as a `#` comment at the end of its line
    #[arg(long)]
    pub stats: bool,
    /// print the text, the program check and (with --stats) the counters as JSON on
    /// stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
}

/// What `show` found: the check of each program and of each hook.
struct Findings {
    programs: Vec<ProgramCheck>,
    /// Hooks that do not run the install's pinned program, with what they run.
    hooks: Vec<String>,
    stats: Option<Vec<RuleStats>>,
}

impl Findings {
    fn mismatches(&self) -> Vec<String> {
        let programs = self.programs.iter().filter_map(|p| {
            p.problem.as_ref().map(|why| {
                format!(
                    "{} ({}): {why}",
                    p.hook.spec().label(&p.attach_to),
                    p.symbol
                )
            })
        });
        programs.chain(self.hooks.iter().cloned()).collect()
    }
}

pub fn run(args: &ShowArgs) -> ExitCode {
    let (store, name) = match open(args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (inst, found) = match examine(store, &name, args.stats) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mismatches = found.mismatches();
    if args.json {
        json::emit(to_json(&inst, &found));
    } else {
        stdout::text(&render(&inst, &found));
    }
    if mismatches.is_empty() {
        return ExitCode::SUCCESS;
    }
    for m in &mismatches {
        errln!("sockc: {name}: {m}");
    }
    sockc_error!("{name}: the kernel does not run what the install's recorded rules compile to");
    ExitCode::from(3)
}

/// The store, locked, and the install to show: the argument, `--name`, or the only
/// install there is.
fn open(args: &ShowArgs) -> Result<(Store, String), ExitCode> {
    let target = Target {
        name: args.install.clone().or_else(|| args.target.name.clone()),
        bpffs: args.target.bpffs.clone(),
        lock_timeout: args.target.lock_timeout,
    };
    // Loading the rules through the verifier is what the check needs.
    let store = open_for("show", privileges::INSTALL, &target)?;
    let name = resolve_name(&target, &store)?;
    confirmation::settle_and_say(&store, Some(&name));
    Ok((store, name))
}

/// The install's recorded rules, and the check of each program and hook against them
/// (with `stats`, its counters); the store is let go when done.
fn examine(store: Store, name: &str, stats: bool) -> Result<(Installed, Findings), ExitCode> {
    // Status first: it finishes interrupted work, and reads what each hook runs.
    let status = install::status(&store, Some(name), StatusOptions::default()).map_err(fail)?;
    // What recovery did (or could not do: a leftover that stays) is said, as `status` says it.
    for s in &status.installs {
        if let Some(r) = &s.recovered {
            errln!("sockc: {}: {r}", s.name);
        }
    }
    let inst = match installed::read(&store, name) {
        Ok(Some(i)) => i,
        Ok(None) => return Err(fail(install::InstallError::NotInstalled(name.into()))),
        Err(why) => {
            sockc_error!("{why}");
            return Err(ExitCode::from(1));
        }
    };
    let programs = install::check_programs(&store, &inst.manifest, &inst.compiled).map_err(fail)?;
    let hooks = status
        .installs
        .iter()
        .flat_map(|s| &s.hooks)
        .filter(|h| h.state.is_drift() || !h.state.runs())
        .map(|h| format!("{}: {}", h.hook.spec().label(&h.attach_to), h.state))
        .collect();
    let stats = stats.then(|| read_stats(&store, name)).flatten();
    drop(store);
    let found = Findings {
        programs,
        hooks,
        stats,
    };
    Ok((inst, found))
}

/// The counters per rule, or `None` with a warning when they cannot be read.
fn read_stats(store: &Store, name: &str) -> Option<Vec<RuleStats>> {
    match install::stats(store, name) {
        Ok((_, rules, warnings)) => {
            if !quiet() {
                for w in warnings {
                    errln!("warning: {name}: {w}");
                }
            }
            Some(rules)
        }
        Err(e) => {
            errln!(
                "warning: {name}: no counters: {}",
                sockc_runtime::error_chain(&e)
            );
            None
        }
    }
}

/// The header comments and the text, each rule's counters at the end of its line.
fn render(inst: &Installed, found: &Findings) -> String {
    let m = &inst.manifest;
    let mut out = format!(
        "# sockc show {}: generation {}, applied {} from {}{}\n",
        m.name,
        m.generation,
        time::rfc3339(m.applied_unix),
        // one line each, whatever they hold: the header stays a `#` comment
        escaped(&m.source_file),
        m.label
            .as_deref()
            .map(|l| format!(" (label {})", escaped(l)))
            .unwrap_or_default()
    );
    let mismatches = found.mismatches();
    if mismatches.is_empty() {
        let _ = writeln!(
            out,
            "# the kernel runs what these rules compile to ({} programs, same tags)",
            found.programs.len()
        );
    }
    for line in mismatches {
        let _ = writeln!(out, "# MISMATCH: {line}");
    }
    out.push_str(&with_counters(&inst.text, found.stats.as_deref()));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if let Some(r) = &m.residual {
        push_residual(&mut out, r);
    }
    out
}

/// The residual installed beside the blocks (docs/import.md, "The residual"), as the
/// install made it, each line a comment so that the output stays a rule file.
fn push_residual(out: &mut String, r: &sockc_runtime::store::ResidualRecord) {
    let _ = writeln!(
        out,
        "\n# the residual installed beside these blocks ({}; {}):",
        r.format,
        r.owned.join(", ")
    );
    for line in r.text.lines() {
        let _ = writeln!(out, "#   {line}");
    }
}

/// `text` with `# N packets, B bytes` after each rule's line (several rules on a line
/// are named).
fn with_counters(text: &str, stats: Option<&[RuleStats]>) -> String {
    let Some(stats) = stats else {
        return text.to_string();
    };
    let mut by_line: std::collections::BTreeMap<usize, Vec<&RuleStats>> = Default::default();
    for r in stats {
        by_line.entry(r.line).or_default().push(r);
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(body);
        if let Some(rules) = by_line.get(&(i + 1)) {
            let counts: Vec<String> = rules
                .iter()
                .map(|r| {
                    let n = format!("{} packets, {} bytes", r.packets, r.bytes);
                    if rules.len() > 1 {
                        format!("{}: {n}", r.text)
                    } else {
                        n
                    }
                })
                .collect();
            let _ = write!(out, "  # {}", counts.join("; "));
        }
        out.push_str(end);
    }
    out
}

fn to_json(inst: &Installed, found: &Findings) -> serde_json::Value {
    let m = &inst.manifest;
    let mut v = json!({
        "name": m.name,
        "generation": m.generation,
        "source_file": m.source_file,
        "label": m.label,
        "source_sha256": m.source_sha256,
        "applied_at": time::rfc3339(m.applied_unix),
        "text": inst.text,
        "same": found.mismatches().is_empty(),
        "programs": found.programs,
        "hooks_drift": found.hooks,
    });
    if let Some(stats) = &found.stats {
        v["rules"] = json!(stats
            .iter()
            .map(|r| json!({
                "id": r.id, "hook": r.hook, "attach_to": r.attach_to, "line": r.line,
                "text": r.text, "packets": r.packets, "bytes": r.bytes,
            }))
            .collect::<Vec<_>>());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(line: usize, text: &str, packets: u64) -> RuleStats {
        RuleStats {
            id: "x".into(),
            hook: sockc_compiler::hooks::HookKind::Xdp,
            attach_to: "eth0".into(),
            line,
            text: text.into(),
            packets,
            bytes: packets * 60,
        }
    }

    #[test]
    fn counters_go_at_the_end_of_their_rule_line() {
        let text = "xdp on eth0 {\n  drop udp\n  count tcp; default allow\n}";
        let stats = [
            rule(2, "drop udp", 3),
            rule(3, "count tcp", 1),
            rule(3, "default allow", 9),
        ];
        assert_eq!(
            with_counters(text, Some(&stats)),
            "xdp on eth0 {\n  drop udp  # 3 packets, 180 bytes\n  count tcp; default allow  # count tcp: 1 packets, 60 bytes; default allow: 9 packets, 540 bytes\n}"
        );
        assert_eq!(with_counters(text, None), text);
    }
}
