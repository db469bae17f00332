//! `sockc apply`, `status`, `stats` and `flush`: the CLI face of
//! `sockc_runtime::{apply, status}`.
//!
//! Exit codes follow the rest of the CLI (1 rule errors, 2 usage, 3 kernel or
//! permission failure); `apply --dry-run` exits 0 when nothing would change and 4 when
//! something would, like `sockc diff`.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;
use serde_json::json;
use sockc_runtime::{
    apply::{self, ApplyError, ApplyRequest},
    attach::{AttachOptions, TcAttach},
    plan::ProgramAction,
    status,
};

/// Exit code of a dry run or diff that found changes.
pub const CHANGES: u8 = 4;

#[derive(Args)]
pub struct Target {
    /// the install's name: its pins live in BPFFS/sockc/NAME/
    #[arg(long)]
    pub name: Option<String>,
    /// where bpffs is mounted
    #[arg(long, default_value = "/sys/fs/bpf", value_name = "PATH")]
    pub bpffs: PathBuf,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// the rule file
    pub file: PathBuf,
    #[command(flatten)]
    pub target: Target,
    /// attach in this network namespace: a path such as /run/netns/NAME, or NAME
    #[arg(long, value_name = "PATH")]
    pub netns: Option<String>,
    /// show the plan and run the new programs through the verifier; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// print the plan and result as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// how TC programs attach: TCX links, the clsact qdisc (netlink filters), or TCX
    /// where the kernel has it (6.6+) and clsact otherwise
    #[arg(long, value_enum, default_value = "auto")]
    pub tc_attach: TcAttachArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TcAttachArg {
    Auto,
    Tcx,
    Clsact,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_name(n: &str) -> Result<(), ExitCode> {
    if valid_name(n) {
        Ok(())
    } else {
        eprintln!("sockc: `{n}` is not a valid name (1-64 of a-z A-Z 0-9 _ -)");
        Err(ExitCode::from(2))
    }
}

/// Prints the error with its causes; "nothing installed" is a user error (1), the
/// rest are kernel or permission failures (3).
fn fail(e: ApplyError) -> ExitCode {
    eprintln!("sockc: {}", apply::error_chain(&e));
    ExitCode::from(if matches!(e, ApplyError::NotInstalled(_)) {
        1
    } else {
        3
    })
}

fn needs_root(what: &str) -> Result<(), ExitCode> {
    if !crate::is_root() {
        eprintln!("sockc: {what} needs root (CAP_BPF, CAP_NET_ADMIN and access to bpffs)");
        return Err(ExitCode::from(3));
    }
    Ok(())
}

pub fn run_apply(args: &ApplyArgs, compiled: &sockc_compiler::Compiled, source: &str) -> ExitCode {
    let name = match &args.target.name {
        Some(n) => n.clone(),
        None => args
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if let Err(code) = check_name(&name).and_then(|_| needs_root("apply")) {
        return code;
    }
    let netns = args.netns.as_ref().map(|n| {
        if n.contains('/') {
            PathBuf::from(n)
        } else {
            Path::new("/run/netns").join(n)
        }
    });
    if let Some(ns) = &netns {
        if let Err(e) = apply::enter_netns(ns) {
            return fail(e);
        }
    }
    let netns_text = netns.as_ref().map(|p| p.display().to_string());
    let file = args.file.display().to_string();
    let req = ApplyRequest {
        compiled,
        name: &name,
        bpffs: &args.target.bpffs,
        source_file: &file,
        source,
        netns: netns_text.as_deref(),
        dry_run: args.dry_run,
        attach: AttachOptions {
            tc: match args.tc_attach {
                TcAttachArg::Auto => TcAttach::Auto,
                TcAttachArg::Tcx => TcAttach::Tcx,
                TcAttachArg::Clsact => TcAttach::Clsact,
            },
        },
    };
    let report = match apply::apply(&req) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for n in &report.notices {
        eprintln!("notice: {n}");
    }
    let changes = report.plan.has_changes();
    if args.json {
        let v = json!({
            "name": name,
            "dry_run": args.dry_run,
            "changed": report.changed,
            "generation": report.generation,
            "plan": report.plan.to_json(),
            "verified": report.verified.iter().map(|p| json!({
                "symbol": p.symbol, "hook": p.hook, "xlated_insns": p.xlated_insns,
                "verified_insns": p.verified_insns, "load_ms": p.load_time.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>(),
            "notices": report.notices,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        print!(
            "{}",
            report.plan.render(&format!("installed {name}"), &file)
        );
        for p in &report.verified {
            println!(
                "verifier: {} accepted ({} insns, {:.1} ms){}",
                p.symbol,
                p.xlated_insns.unwrap_or(0),
                p.load_time.as_secs_f64() * 1e3,
                if args.dry_run { ", not attached" } else { "" }
            );
        }
        if args.dry_run {
            println!("dry run: nothing was changed");
        } else if !changes {
            println!(
                "{name}: no changes (generation {})",
                report.generation.unwrap_or(0)
            );
        } else {
            let count = |a: ProgramAction| {
                report
                    .plan
                    .programs
                    .iter()
                    .filter(|p| p.action == a)
                    .count()
            };
            println!(
                "{name}: generation {} applied ({} attached, {} replaced, {} detached{})",
                report.generation.unwrap_or(0),
                count(ProgramAction::Attach),
                count(ProgramAction::Reload) + count(ProgramAction::ReloadSameCode),
                count(ProgramAction::Detach),
                if report.plan.maps_only {
                    ", sets updated in place, no reload"
                } else {
                    ""
                }
            );
        }
    }
    if args.dry_run && changes {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    }
}

/// The name to act on: the given one, or the only install there is.
fn resolve_name(target: &Target) -> Result<String, ExitCode> {
    if let Some(n) = &target.name {
        check_name(n)?;
        return Ok(n.clone());
    }
    let all = status::installed_names(&target.bpffs).map_err(fail)?;
    match all.as_slice() {
        [one] => Ok(one.clone()),
        [] => {
            eprintln!("sockc: nothing is installed");
            Err(ExitCode::from(1))
        }
        many => {
            eprintln!(
                "sockc: several installs ({}); pick one with --name",
                many.join(", ")
            );
            Err(ExitCode::from(2))
        }
    }
}

pub fn run_status(target: &Target, json: bool) -> ExitCode {
    if let Err(code) = needs_root("status") {
        return code;
    }
    if let Some(n) = &target.name {
        if let Err(code) = check_name(n) {
            return code;
        }
    }
    let all = match status::status(&target.bpffs, target.name.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&all).expect("json"));
        return ExitCode::SUCCESS;
    }
    if all.is_empty() {
        println!("nothing installed under {}/sockc", target.bpffs.display());
    }
    let mut drift = false;
    for s in &all {
        println!(
            "{}: generation {} from {} (sha256 {}), applied at unix time {}{}",
            s.name,
            s.generation,
            s.source_file,
            &s.source_sha256[..12.min(s.source_sha256.len())],
            s.applied_unix,
            s.netns
                .as_ref()
                .map(|n| format!(", netns {n}"))
                .unwrap_or_default()
        );
        for h in &s.hooks {
            drift |= h.state.is_drift();
            println!(
                "  {:<11} on {:<10} {:<12} prog {} tag {}  {}  ({})",
                h.hook, h.attach_to, h.attach_mode, h.prog_id, h.tag, h.state, h.link
            );
        }
        println!("  maps: {}", s.maps.join(", "));
    }
    if drift {
        eprintln!("sockc: some hooks are not as the manifest says; re-apply or flush");
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

pub fn run_stats(target: &Target, json: bool) -> ExitCode {
    if let Err(code) = needs_root("stats") {
        return code;
    }
    let name = match resolve_name(target) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let (manifest, rules) = match status::stats(&target.bpffs, &name) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if json {
        let v = json!({ "name": name, "generation": manifest.generation, "rules": rules });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return ExitCode::SUCCESS;
    }
    println!(
        "{name}: generation {} from {}",
        manifest.generation, manifest.source_file
    );
    let mut last = None;
    for r in &rules {
        let hook = (r.hook, r.attach_to.as_str());
        if last != Some(hook) {
            println!("{} on {}:", r.hook, r.attach_to);
            println!("  {:>12} {:>14}  line  rule", "packets", "bytes");
            last = Some(hook);
        }
        println!(
            "  {:>12} {:>14}  {:>4}  {}",
            r.packets, r.bytes, r.line, r.text
        );
    }
    ExitCode::SUCCESS
}

pub fn run_flush(target: &Target) -> ExitCode {
    if let Err(code) = needs_root("flush") {
        return code;
    }
    let name = match resolve_name(target) {
        Ok(n) => n,
        Err(code) => return code,
    };
    match apply::flush(&target.bpffs, &name) {
        Ok(m) => {
            println!(
                "{name}: flushed generation {} ({} hooks detached)",
                m.generation,
                m.programs.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
