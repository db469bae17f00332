//! `sockc apply`, `status`, `stats`, `repair` and `flush`: the CLI face of
//! `sockc_runtime::install`.
//!
//! Every one of them checks its capabilities, opens the store (the lock only root can
//! take, waited for at most `--lock-timeout`), lets the runtime finish or undo work a
//! killed sockc left, says so, and then does its own. Exit codes follow the rest of
//! the CLI: 1 rule errors or nothing installed, 2 usage, 3 kernel, permission or lock
//! failure, and drift (hooks that do not run what the manifest says). `apply
//! --dry-run` leads with the semantic diff against the install (which packets change
//! their verdict; see `diff_cmd`), shows the plan with `--details`, and exits 0
//! unless `--exit-code` is given (then 4 when something would change), as `git diff`
//! does, so `sockc apply --dry-run f.sk && sockc apply f.sk` works.

use crate::shared::stdout::{out, outln};
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;
use serde_json::json;
use sockc_runtime::{
    attach::{AttachOptions, TcAttach},
    conntrack_anchor::{self, Outcome},
    install::{self, ApplyRequest, InstallError, StatusOptions},
    netns,
    plan::ProgramAction,
    stages,
    store::Store,
};

use sockc_compiler::{diag::Diagnostic, ir::Module, semdiff};

use crate::shared::{
    privileges,
    store::{check_name, fail, open_store, resolve_name, Target},
};

/// Exit code of a dry run or diff that found changes.
pub const CHANGES: u8 = 4;

#[derive(Args)]
pub struct ApplyArgs {
    /// the rule file (`-` reads standard input, and needs --name)
    pub file: PathBuf,
    #[command(flatten)]
    pub target: Target,
    /// attach in this network namespace: a path such as /run/netns/NAME, or NAME
    #[arg(long, value_name = "PATH")]
    pub netns: Option<String>,
    /// say which packets would change their verdict and run the new programs through
    /// the verifier; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// with --dry-run: also the plan (rule text diff, set entries, programs to reload,
    /// bytecode diff)
    #[arg(long, alias = "bytecode")]
    pub details: bool,
    /// with --dry-run: exit 4 when the apply would change something (else 0)
    #[arg(long)]
    pub exit_code: bool,
    /// print the plan and result as JSON on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
    /// show the plan as counts instead of listings (rules and set entries added and
    /// removed, changed bytecode lines), for large changes
    #[arg(long, conflicts_with = "json")]
    pub summary: bool,
    /// how TC programs attach: TCX links, the clsact qdisc (netlink filters), or TCX
    /// where the kernel has it (6.6+) and clsact otherwise
    #[arg(long, value_enum, default_value = "auto")]
    pub tc_attach: TcAttachArg,
    /// apply a file without hook blocks, which detaches every hook of the install
    #[arg(long)]
    pub allow_empty: bool,
    /// print how long each stage took (compile, plan, map creation, each program's
    /// verification, records, each attach, commit) on stderr when done
    #[arg(long)]
    pub timings: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TcAttachArg {
    Auto,
    Tcx,
    Clsact,
}

/// The rule file as the manifest records it: absolute, so that `status` and `stats`
/// name it usefully from any directory (standard input stays `-`).
fn manifest_path(file: &Path) -> String {
    if crate::shared::input::is_stdin(file) {
        return file.display().to_string();
    }
    std::path::absolute(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string()
}

/// The compiler's `sockc::ct-needs-conntrack` warnings, held back from a real apply
/// (which switches conntrack on itself and says so), and the warnings to print now.
pub fn hold_ct_warning(
    args: &ApplyArgs,
    warnings: Vec<Diagnostic>,
) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    warnings
        .into_iter()
        .partition(|d| !args.dry_run && d.code == "sockc::ct-needs-conntrack")
}

/// The held-back warnings, their help saying why apply could not switch conntrack on.
pub fn with_reason(held: &[Diagnostic], why: &str) -> Vec<Diagnostic> {
    held.iter().map(|d| d.clone().help(why)).collect()
}

/// An apply's install opened ([`begin`]): its name, the store under its lock, and the
/// network namespace this process entered for it.
pub struct Session {
    name: String,
    store: Store,
    netns: Option<PathBuf>,
}

impl Session {
    /// The namespace as the manifest records it.
    fn netns_text(&self) -> Option<String> {
        self.netns.as_ref().map(|p| p.display().to_string())
    }
}

/// Opens the install of `sockc apply`: its name checked, the capabilities, its
/// network namespace entered, the store locked; says what failed and gives the exit
/// code otherwise.
pub fn begin(args: &ApplyArgs) -> Result<Session, ExitCode> {
    let name = install_name(args)?;
    check_name(&name).and_then(|_| privileges::require("apply", privileges::INSTALL))?;
    let netns = args.netns.as_ref().map(|n| {
        if n.contains('/') {
            PathBuf::from(n)
        } else {
            Path::new("/run/netns").join(n)
        }
    });
    if let Some(ns) = &netns {
        let _t = stages::stage("enter the network namespace");
        if let Err(source) = netns::enter_for_good(ns) {
            return Err(fail(InstallError::Netns {
                path: ns.clone(),
                source,
            }));
        }
    }
    let t = stages::stage("open and lock the store");
    let store = open_store(&args.target)?;
    drop(t);
    Ok(Session { name, store, netns })
}

fn attach_options(args: &ApplyArgs) -> AttachOptions {
    AttachOptions {
        tc: match args.tc_attach {
            TcAttachArg::Auto => TcAttach::Auto,
            TcAttachArg::Tcx => TcAttach::Tcx,
            TcAttachArg::Clsact => TcAttach::Clsact,
        },
    }
}

/// What a first install starts while the rest of `module`'s file compiles (not on a
/// dry run): its interface hooks made ready; see `install::start_ahead`.
pub fn start_ahead(
    args: &ApplyArgs,
    session: &Session,
    module: &Module,
) -> Option<install::StartedAhead> {
    if args.dry_run {
        return None;
    }
    let hooks = module
        .programs
        .values()
        .map(|p| (p.hook, p.attach_to.clone()));
    let netns = session.netns_text();
    install::start_ahead(
        &session.store,
        (&session.name, netns.as_deref()),
        hooks,
        attach_options(args),
    )
}

/// `sockc apply` of `compiled` into the install [`begin`] opened; `ahead` is what was
/// started for it while it compiled; `warn_no_conntrack` prints the held-back `ct state`
/// warning with the reason when the conntrack anchor cannot be created.
pub fn run_apply(
    args: &ApplyArgs,
    session: Session,
    compiled: &sockc_compiler::Compiled,
    source: &str,
    warn_no_conntrack: &dyn Fn(&str),
    ahead: Option<install::StartedAhead>,
) -> ExitCode {
    let (name, store) = (session.name.as_str(), &session.store);
    let netns_text = session.netns_text();
    let file = manifest_path(&args.file);
    let req = ApplyRequest {
        compiled,
        name,
        source_file: &file,
        source,
        netns: netns_text.as_deref(),
        dry_run: args.dry_run,
        attach: attach_options(args),
        allow_empty: args.allow_empty,
        ahead: ahead.as_ref(),
        release_freed_memory: crate::shared::memory::release_freed_memory,
    };
    let spinner = crate::shared::progress::Spinner::start(format!("applying {}", file), args.json);
    let applied = install::apply(store, &req);
    // What the apply did not take comes off while the store is still locked.
    drop(ahead);
    drop(spinner);
    let mut report = match applied {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if !args.dry_run {
        let _t = stages::stage("conntrack anchor");
        let rules = compiled.metadata.programs.iter().flat_map(|p| &p.rules);
        let needed = conntrack_anchor::needed_by(rules.map(|r| &*r.text));
        match conntrack_anchor::after_apply(name, needed) {
            Outcome::Created(n) | Outcome::Removed(n) => report.notices.push(n),
            Outcome::Failed(why) => warn_no_conntrack(&why),
            Outcome::Nothing => {}
        }
    }
    if let Some(r) = &report.recovered {
        crate::shared::json::sockc_error!("{name}: {r}");
    }
    if !crate::shared::settings::quiet() {
        for n in &report.notices {
            eprintln!("notice: {n}");
        }
    }
    let changes =
        report.plan.has_changes() || !report.drift.is_empty() || !report.set_drift.is_empty();
    let semantic = args
        .dry_run
        .then(|| installed_module(store, name).map(|m| semdiff::diff(&m, &compiled.module)));
    let installed = format!("installed {name}");
    if args.json {
        let sem = semantic.as_ref().map(|s| match s {
            Ok(d) => semdiff::to_json(d, &crate::shared::semantic_diff::options(&installed, &file)),
            Err(why) => json!({ "unavailable": why }),
        });
        print_apply_json(name, args, &report, sem);
    } else {
        if let Some(s) = &semantic {
            match s {
                Ok(d) => out!(
                    "{}",
                    crate::shared::semantic_diff::semantic_text(d, &installed, &file, args.summary)
                ),
                Err(why) => outln!("which packets change their verdict: not known ({why})"),
            }
        }
        print_apply_text(name, &file, args, &report, changes);
    }
    if !report.failed.is_empty() {
        for f in &report.failed {
            crate::shared::json::sockc_error!("not brought to the new generation: {f}");
        }
        crate::shared::json::sockc_error!("{name}: some hooks do not run the installed rules; `sockc status` shows them, `sockc apply` or `sockc repair` tries again");
        return ExitCode::from(3);
    }
    if args.dry_run && args.exit_code && changes {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--name`, or the rule file's name without its extension (standard input has none).
fn install_name(args: &ApplyArgs) -> Result<String, ExitCode> {
    match &args.target.name {
        Some(n) => Ok(n.clone()),
        None if crate::shared::input::is_stdin(&args.file) => {
            crate::shared::json::sockc_error!("apply - (standard input) needs --name");
            Err(ExitCode::from(2))
        }
        None => Ok(args
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()),
    }
}

/// The rules the install `name` runs ([`crate::shared::installed`]); an empty module when
/// nothing is installed; why they cannot be had otherwise.
fn installed_module(store: &Store, name: &str) -> Result<Module, String> {
    Ok(crate::shared::installed::read(store, name)?
        .map_or_else(Module::default, |i| i.compiled.module))
}

/// `sockc apply --json`: the plan and what became of it (docs/json.md); with
/// `--dry-run` the semantic diff against the install.
fn print_apply_json(
    name: &str,
    args: &ApplyArgs,
    report: &install::ApplyReport,
    semantic: Option<serde_json::Value>,
) {
    crate::shared::json::emit(json!({
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
fn print_apply_text(
    name: &str,
    file: &str,
    args: &ApplyArgs,
    report: &install::ApplyReport,
    changes: bool,
) {
    let old = format!("installed {name}");
    if !args.dry_run || args.details || args.summary {
        out!(
            "{}",
            if args.summary {
                report.plan.render_summary(&old, file)
            } else {
                report.plan.render(&old, file)
            }
        );
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
    outln!("{}", outcome_line(name, args.dry_run, report, changes));
}

/// The last line of `sockc apply`: a dry run, no changes, a repair, or the
/// generation applied with what happened to the programs.
fn outcome_line(name: &str, dry_run: bool, report: &install::ApplyReport, changes: bool) -> String {
    let generation = report.generation.unwrap_or(0);
    if dry_run {
        return "dry run: nothing was changed".into();
    }
    if !changes {
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

pub fn run_status(target: &Target, json: bool, deep: bool) -> ExitCode {
    if let Err(code) = privileges::require("status", privileges::READ) {
        return code;
    }
    if let Some(n) = &target.name {
        if let Err(code) = check_name(n) {
            return code;
        }
    }
    let store = match open_store(target) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match install::status(&store, target.name.as_deref(), StatusOptions { deep }) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    for c in &report.cleaned {
        eprintln!("sockc: {}: {}", c.name, c.recovered);
    }
    if let (Some(n), true) = (&target.name, report.installs.is_empty()) {
        // Only debris or an interrupted flush was there: removed, and said above.
        return fail(InstallError::NotInstalled(n.clone()));
    }
    let all = &report.installs;
    let drift = all.iter().any(|s| !s.drift.is_empty());
    if json {
        let mut v = serde_json::to_value(all).expect("json");
        if let Some(list) = v.as_array_mut() {
            for (item, s) in list.iter_mut().zip(all) {
                item["applied_at"] = json!(crate::shared::time::rfc3339(s.applied_unix));
            }
        }
        crate::shared::json::emit(json!({ "installs": v, "cleaned": report.cleaned }));
    } else {
        if all.is_empty() {
            outln!("nothing installed under {}/sockc", target.bpffs.display());
        }
        for s in all {
            print_status(s);
        }
    }
    if drift {
        crate::shared::json::sockc_error!("some hooks, sockets or sets are not as the manifest says (see `drift`); `sockc apply` or `sockc repair` re-attaches hooks and rewrites sets, `sockc register` fills a socket's slot, `sockc flush` removes the install");
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

/// One install as `sockc status` prints it: the header, its hooks and maps, then its
/// sockets (socket maps, declared sockets) and drift.
fn print_status(s: &install::Status) {
    if let Some(r) = &s.recovered {
        crate::shared::json::sockc_error!("{}: {r}", s.name);
    }
    if s.generation == 0 {
        // Generations start at 1: this is an install whose records this sockc could
        // not read (`install::status`), with nothing known but its name and why.
        outln!("{}: records that cannot be read (why below)", s.name);
        for d in &s.drift {
            outln!("  {d}");
        }
        return;
    }
    outln!(
        "{}: generation {} from {} (sha256 {}), applied {}{}",
        s.name,
        s.generation,
        s.source_file,
        &s.source_sha256[..12.min(s.source_sha256.len())],
        crate::shared::time::local_time(s.applied_unix),
        s.netns
            .as_ref()
            .map(|n| format!(", netns {n}"))
            .unwrap_or_default()
    );
    for line in crate::shared::table::lines(&hooks_table(&s.hooks), "  ") {
        outln!("{line}");
    }
    outln!("  maps: {}", s.maps.join(", "));
    print_sockets(s);
    if let Some(c) = &s.conntrack {
        outln!("  conntrack: nft table {} {}", c.table, c.state);
    }
    for d in &s.drift {
        outln!("  drift: {d}");
    }
}

/// An install's hooks as a table: where each is, how it is attached, its program and
/// link. Borderless, the columns as wide as their widest cell.
fn hooks_table(hooks: &[install::HookStatus]) -> comfy_table::Table {
    let mut table =
        crate::shared::table::new(["hook", "mode", "prog", "tag", "state", "link"], &[]);
    for h in hooks {
        // Interface and cgroup hooks name where they are; sk_lookup is on the
        // install's network namespace (the header names it).
        let at = if h.attach_to.is_empty() {
            format!("{} netns", h.hook)
        } else {
            h.hook.spec().label(&h.attach_to)
        };
        table.add_row([
            at,
            h.attach_mode.map_or("-".to_string(), |m| m.to_string()),
            h.prog_id.to_string(),
            h.tag.to_string(),
            h.state.to_string(),
            h.link
                .clone()
                .unwrap_or_else(|| "netlink filter, no link".into()),
        ]);
    }
    table
}

/// An install's socket maps (connections and named sockets in each) and declared
/// sockets (state, drops, who bound them).
fn print_sockets(s: &install::Status) {
    for g in &s.sockmaps {
        match (g.sockets, g.named) {
            (Some(n), Some(named)) => outln!(
                "  socket map {} of cgroup {}: {n} connections, {named} named sockets",
                g.map,
                g.cgroup
            ),
            _ => outln!(
                "  socket map {} of cgroup {}: unreadable ({})",
                g.map,
                g.cgroup,
                g.error.as_deref().unwrap_or("?")
            ),
        }
    }
    for slot in &s.sockets {
        let drops = match (slot.dropped_unregistered, slot.dropped_refused) {
            (0, 0) => String::new(),
            (u, 0) => format!("; {u} dropped while empty"),
            (u, r) => format!("; {u} dropped while empty, {r} refused by the kernel"),
        };
        outln!(
            "  socket {} = {} (slot {}): {}{drops}",
            slot.socket,
            slot.declared,
            slot.slot,
            slot.state
        );
        for b in &slot.bindings {
            outln!("    bound by {b}");
        }
    }
}

pub fn run_repair(target: &Target, json: bool) -> ExitCode {
    if let Err(code) = privileges::require("repair", privileges::INSTALL) {
        return code;
    }
    if let Some(n) = &target.name {
        if let Err(code) = check_name(n) {
            return code;
        }
    }
    let store = match open_store(target) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let all = match install::repair(&store, target.name.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let failed = all.iter().any(|r| !r.failed.is_empty());
    if json {
        let v: Vec<_> = all
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "recovered": r.recovered.as_ref().map(|x| x.to_string()),
                    "drift": r.drift.iter().map(|(at, s)| json!({"hook": at, "state": s.to_string()})).collect::<Vec<_>>(),
                    "sets": r.sets,
                    "failed": r.failed,
                    "notices": r.notices,
                })
            })
            .collect();
        crate::shared::json::emit(json!({ "installs": v }));
    } else {
        for r in &all {
            if let Some(x) = &r.recovered {
                outln!("{}: {x}", r.name);
            }
            // Under -q: only what was done and what failed, no "ok" lines or notices.
            let quiet = crate::shared::settings::quiet();
            if r.drift.is_empty() && r.sets.is_empty() && r.recovered.is_none() && !quiet {
                outln!("{}: every hook runs the installed rules", r.name);
            }
            for set in &r.sets {
                outln!("{}: {set}: rewritten from the manifest", r.name);
            }
            for (at, state) in &r.drift {
                if r.failed.is_empty() {
                    outln!("{}: {at}: {state}: attached again", r.name);
                } else {
                    outln!("{}: {at}: {state}", r.name);
                }
            }
            for n in r.notices.iter().filter(|_| !quiet) {
                outln!("{}: {n}", r.name);
            }
            for f in &r.failed {
                crate::shared::json::sockc_error!("{}: could not repair: {f}", r.name);
            }
        }
    }
    if failed {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn run_flush(target: &Target, json: bool) -> ExitCode {
    if let Err(code) = privileges::require("flush", privileges::INSTALL) {
        return code;
    }
    let store = match open_store(target) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let name = match resolve_name(target, &store) {
        Ok(n) => n,
        Err(code) => return code,
    };
    match install::flush(&store, &name) {
        Ok(f) => {
            if let Some(r) = &f.recovered {
                crate::shared::json::sockc_error!("{name}: {r}");
            }
            if json {
                crate::shared::json::emit(json!({
                    "name": name,
                    "generation": f.manifest.as_ref().map(|m| m.generation),
                    "detached": f.detached,
                    "recovered": f.recovered.as_ref().map(|r| r.to_string()),
                }));
                return ExitCode::SUCCESS;
            }
            match &f.manifest {
                Some(m) => outln!(
                    "{name}: flushed generation {} ({} hooks detached)",
                    m.generation,
                    f.detached
                ),
                None => outln!("{name}: flushed"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `apply --timings`: the stages kept by [`sockc_runtime::stages`], on stderr.
pub fn print_timings() {
    let (stages, total) = stages::take();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    eprintln!("timings (ms from the start of the command; a stage on another thread overlaps the others):");
    eprintln!("  {:>8} {:>8}  stage", "start", "took");
    for t in &stages {
        eprintln!("  {:>8.1} {:>8.1}  {}", ms(t.start), ms(t.took), t.name);
    }
    eprintln!("  total {:.1} until output", ms(total));
}
