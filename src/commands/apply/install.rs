//! The install itself, once the file compiled: the request handed to
//! `sockc_runtime::install::apply`, conntrack switched on or off for `ct state` rules,
//! and the exit code; [`super::report`] prints what happened.
//!
//! Invariant: what was started ahead for the install comes off while the store is
//! still locked; the `sockc::ct-needs-conntrack` warning is printed only when the
//! apply could not switch conntrack on itself ([`hold_ct_warning`]).

use std::{path::Path, process::ExitCode, sync::Arc};

use sockc_compiler::{
    diag::{Code, Diagnostic},
    ir::Module,
    semdiff, Compiled,
};
use sockc_runtime::{
    install::{self, ApplyReport, ApplyRequest, InstallError, StartedAhead},
    store::Manifest,
};

use super::{confirm, report, session::Session, ApplyArgs};
use crate::shared::stderr::errln;
use crate::shared::{
    input::is_stdin,
    installed, installing,
    json::sockc_error,
    memory::release_freed_memory,
    progress::Spinner,
    settings::{diff_budget, quiet},
    store::fail,
};

/// Exit code of a dry run that found changes (with `--exit-code`).
const CHANGES: u8 = 4;

/// The compiler's `sockc::ct-needs-conntrack` warnings, held back from a real apply
/// (which switches conntrack on itself and says so), and the warnings to print now.
pub fn hold_ct_warning(
    args: &ApplyArgs,
    warnings: Vec<Diagnostic>,
) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    warnings
        .into_iter()
        .partition(|d| !args.dry_run && d.code == Code::CtNeedsConntrack)
}

/// The held-back warnings, their help saying why apply could not switch conntrack on.
pub fn with_reason(held: &[Diagnostic], why: &str) -> Vec<Diagnostic> {
    held.iter().map(|d| d.clone().help(why)).collect()
}

/// `sockc apply` of `compiled` into the install [`super::session::begin`] opened;
/// `ahead` is what was started for it while it compiled; `warn_no_conntrack` prints
/// the held-back `ct state` warning with the reason when the conntrack anchor cannot
/// be created. `source` is shared with the manifest that records it.
pub fn run(
    args: &ApplyArgs,
    session: Session,
    compiled: &mut Compiled,
    (source, digest): (&Arc<String>, &str),
    warn_no_conntrack: &dyn Fn(&str),
    ahead: Option<StartedAhead>,
) -> ExitCode {
    let name = session.name.as_str();
    let file = manifest_path(&args.file);
    let armed = match confirm::arm(args, &session, source) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let instance = armed.as_ref().map(|a| a.record.instance.clone());
    let mut report = match apply(
        args,
        &session,
        (compiled, (source, digest), &file),
        ahead,
        instance.as_deref(),
    ) {
        Ok(r) => r,
        Err(e) => {
            if !args.dry_run {
                confirm::after_failure(&session, armed);
            }
            return fail(e);
        }
    };
    if !args.dry_run {
        installing::switch_conntrack(name, compiled, &mut report, warn_no_conntrack);
    }
    if let Some(r) = &report.recovered {
        sockc_error!("{name}: {r}");
    }
    if !quiet() {
        for n in &report.notices {
            errln!("notice: {n}");
        }
    }
    let changes = installing::changes(&report);
    let semantic = args.dry_run.then(|| {
        // Only the new file's IR is compared: its tables and bytecode (28 MB at
        // 100,000 rules) go before the installed rules are read back beside it.
        shed_all_but_module(compiled);
        let budget = diff_budget();
        installed_module(report.installed.take())
            .map(|m| semdiff::diff_within(&m, &compiled.module, budget))
    });
    let pending = confirm::after(args, &session, armed, report.plan.has_changes(), source);
    report::print(
        args,
        name,
        &file,
        &report,
        semantic.as_ref(),
        pending.as_ref(),
    );
    let code = exit_code(args, name, &report, changes);
    // Not freed one allocation at a time: the process ends now (a first install's
    // plan holds every rule's text, 100,000 of them, which took milliseconds to let
    // go of). The session's store too: it remembers the manifest just committed,
    // whose snapshot lists every rule (1.3-2 ms to free at 100,000 rules, a first
    // apply's and a re-apply's alike); its lock goes with the process a moment later.
    std::mem::forget((report, session));
    code
}

/// Hands the request to the runtime, a spinner on stderr while it works; `instance`
/// names a first install (the one a confirmation armed for it expects); `digest` is
/// the SHA-256 (hex) of `source`.
fn apply(
    args: &ApplyArgs,
    session: &Session,
    (compiled, (source, digest), file): (&Compiled, (&Arc<String>, &str), &str),
    ahead: Option<StartedAhead>,
    instance: Option<&str>,
) -> Result<ApplyReport, InstallError> {
    let netns_text = session.netns_text();
    let req = ApplyRequest {
        compiled,
        name: &session.name,
        source_file: file,
        source,
        shared_source: Some(source),
        netns: netns_text.as_deref(),
        dry_run: args.dry_run,
        attach: super::session::attach_options(args),
        allow_empty: args.allow_empty,
        ahead: ahead.as_ref(),
        release_freed_memory,
        label: args.label.as_deref(),
        instance,
        residual: residual_record(compiled, &session.name)?,
        fitted_to: session.fitted_to,
        source_sha256: Some(digest),
    };
    let spinner = Spinner::start(format!("applying {}", file), args.json);
    let applied = install::apply(&session.store, &req);
    // What the apply did not take comes off while the store is still locked.
    drop(ahead);
    drop(spinner);
    applied
}

/// The file's residual as this install records it.
fn residual_record(
    compiled: &Compiled,
    name: &str,
) -> Result<Option<sockc_runtime::store::ResidualRecord>, InstallError> {
    crate::shared::residual::record(compiled, name)
        .map_err(|e| InstallError::Residual(std::io::Error::other(e)))
}

/// 3 when hooks were left behind; 4 for a dry run with `--exit-code` that would
/// change something; 0 otherwise.
fn exit_code(args: &ApplyArgs, name: &str, report: &ApplyReport, changes: bool) -> ExitCode {
    if !report.failed.is_empty() {
        for f in &report.failed {
            sockc_error!("not brought to the new generation: {f}");
        }
        sockc_error!("{name}: some hooks do not run the installed rules; `sockc status` shows them, `sockc apply` or `sockc repair` tries again");
        return ExitCode::from(3);
    }
    if args.dry_run && args.exit_code && changes {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    }
}

/// The rule file as the manifest records it: absolute, so that `status` and `stats`
/// name it usefully from any directory (standard input stays `-`).
fn manifest_path(file: &Path) -> String {
    if is_stdin(file) {
        return file.display().to_string();
    }
    std::path::absolute(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string()
}

/// The rules a first install's compile keeps when it sheds what only lowering the file
/// again reads (`driver::finish_shed`; a first install is never refitted): those that
/// name a port set, which the plan's snapshot reads (`sockc_runtime::plan::port_sets`).
/// The classifier tries and every other rule go.
pub fn kept_by_first_install(r: &sockc_compiler::ir::Rule) -> bool {
    r.text.contains('@')
}

/// `c` with only its IR left (what a semantic diff reads): its tables, bytecode, maps
/// and their contents dropped.
fn shed_all_but_module(c: &mut Compiled) {
    c.tables = Vec::new();
    c.programs = Vec::new();
    c.maps = Vec::new();
    c.metadata.map_contents = Vec::new();
    c.metadata.programs = Vec::new();
}

/// The rules of the installed generation a dry run read (`manifest`,
/// [`installed::module_of`]); an empty module when nothing is installed; why they
/// cannot be had otherwise.
fn installed_module(manifest: Option<Manifest>) -> Result<Module, String> {
    manifest.map_or_else(|| Ok(Module::default()), installed::module_of)
}

#[cfg(test)]
mod tests {
    use sockc_runtime::plan::Snapshot;

    /// What a first install records (its plan's snapshot) is the same with the
    /// rules shed as without: port sets, classifier tables and code included; and the
    /// same shed after the compile as during it.
    #[test]
    fn a_shed_first_install_snapshots_as_compiled() {
        let mut src = String::from("set web = { 80, 443, 8000-8080 }\nxdp on eth0 {\n");
        for i in 0..200 {
            let verdict = if i % 2 == 0 { "allow" } else { "drop" };
            let net = format!("10.{}.{}.0/24", i / 250, i % 250);
            src.push_str(&format!(
                "    {verdict} ip4 tcp from {net} to *:{}\n",
                1000 + i
            ));
        }
        src.push_str("    drop ip4 tcp to 192.0.2.1:@web\n    allow ip4 udp from *:@web\n");
        src.push_str("    default allow\n}\n");
        let (c, diags) = sockc_compiler::compile(&src, &Default::default());
        let c = c.unwrap_or_else(|| panic!("{diags:?}"));
        assert_eq!(c.metadata.tables.len(), 1, "the file has a classifier");
        let mut shed = c.clone();
        shed.shed_lowering(super::kept_by_first_install);
        let programs = shed.module.programs.values();
        assert!(programs
            .into_iter()
            .all(|p| p.rules.len() == 2 && p.steps.is_empty()));
        let full = Snapshot::of(&c);
        assert_eq!(full.port_sets.as_ref().map(|p| p.len()), Some(1));
        assert_eq!(full, Snapshot::of(&shed));
        assert!(shed.refit(&Default::default()).is_err());
        let opts = Default::default();
        let checked = sockc_compiler::driver::check(&src, &opts).expect("checks");
        let (during, _) =
            sockc_compiler::driver::finish_shed(checked, &opts, &super::kept_by_first_install);
        let during = during.expect("compiles");
        assert_eq!(Snapshot::of(&during), full);
        assert_eq!(during.to_elf().unwrap(), shed.to_elf().unwrap());
    }
}
