//! `sockc status` (`sockc list`): what is installed, read back from the kernel —
//! generation, source, hooks, program ids, attach modes, sockets — and every
//! difference from the manifest (drift, exit 3), for every install or one.
//!
//! Invariant: reading finishes interrupted work first (`install::status`), and says
//! what it cleaned; `--deep` also reads every set map back and compares it entry by
//! entry.

use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use sockc_runtime::install::{self, InstallError, StatusOptions};

use crate::shared::stderr::errln;
use crate::shared::{
    confirmation,
    json::{self, sockc_error},
    privileges,
    stdout::outln,
    store::{fail, open_for, Target},
    table, time,
};

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// print the installs as JSON on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
    /// also read every set map back and compare it entry by entry
    #[arg(long)]
    pub deep: bool,
}

pub fn run(args: &StatusArgs) -> ExitCode {
    let target = &args.target;
    let store = match open_for("status", privileges::READ, target) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // An unconfirmed change whose deadline passed is rolled back first (said on stderr).
    confirmation::settle_and_say(&store, target.name.as_deref());
    let options = StatusOptions { deep: args.deep };
    let report = match install::status(&store, target.name.as_deref(), options) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    for c in &report.cleaned {
        errln!("sockc: {}: {}", c.name, c.recovered);
    }
    if let (Some(n), true) = (&target.name, report.installs.is_empty()) {
        // Only debris or an interrupted flush was there: removed, and said above.
        return fail(InstallError::NotInstalled(n.clone()));
    }
    let all = &report.installs;
    if args.json {
        json::emit(json!({ "installs": installs_json(all), "cleaned": report.cleaned }));
    } else {
        if all.is_empty() {
            outln!("nothing installed under {}/sockc", target.bpffs.display());
        }
        for s in all {
            print_status(s);
        }
    }
    if all.iter().any(|s| !s.drift.is_empty()) {
        sockc_error!("some hooks, sockets or sets are not as the manifest says (see `drift`); `sockc apply` or `sockc repair` re-attaches hooks and rewrites sets, `sockc register` fills a socket's slot, `sockc flush` removes the install");
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

/// The installs as `status --json` lists them, each with its RFC 3339 `applied_at`.
fn installs_json(all: &[install::Status]) -> Value {
    let mut v = serde_json::to_value(all).expect("json");
    if let Some(list) = v.as_array_mut() {
        for (item, s) in list.iter_mut().zip(all) {
            item["applied_at"] = json!(time::rfc3339(s.applied_unix));
            let p = s.pending.as_ref();
            item["confirmation"] =
                json!(p.filter(|p| p.is_pending()).map(confirmation::pending_json));
            item["last_rollback"] = json!(p
                .filter(|p| !p.is_pending())
                .map(confirmation::rollback_json));
        }
    }
    v
}

/// One install as `sockc status` prints it: the header, its hooks and maps, then its
/// sockets (socket maps, declared sockets) and drift.
fn print_status(s: &install::Status) {
    if let Some(r) = &s.recovered {
        sockc_error!("{}: {r}", s.name);
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
        "{}: generation {} from {}{} (sha256 {}), applied {}{}",
        s.name,
        s.generation,
        s.source_file,
        s.label
            .as_deref()
            .map(|l| format!(" (label {l})"))
            .unwrap_or_default(),
        &s.source_sha256[..12.min(s.source_sha256.len())],
        time::local_time(s.applied_unix),
        s.netns
            .as_ref()
            .map(|n| format!(", netns {n}"))
            .unwrap_or_default()
    );
    for line in table::lines(&hooks_table(&s.hooks), "  ") {
        outln!("{line}");
    }
    outln!("  maps: {}", s.maps.join(", "));
    print_sockets(s);
    if let Some(c) = &s.conntrack {
        outln!("  conntrack: nft table {} {}", c.table, c.state);
    }
    for n in &s.shared_priorities {
        outln!("  {n}");
    }
    if let Some(r) = &s.residual {
        outln!(
            "  residual: {} ({}) {}",
            r.tables.join(", "),
            r.format,
            r.state
        );
    }
    print_confirmation(s);
    for d in &s.drift {
        outln!("  drift: {d}");
    }
}

/// The install's pending confirmation, or its last change rolled back.
fn print_confirmation(s: &install::Status) {
    match &s.pending {
        Some(p) if p.is_pending() => outln!("  {}", confirmation::pending_line(&s.name, p)),
        Some(p) => {
            if let Some(line) = confirmation::rollback_line(p) {
                outln!("  {line}");
            }
        }
        None => {}
    }
}

/// An install's hooks as a table: where each is, how it is attached, its program and
/// link. Borderless, the columns as wide as their widest cell.
fn hooks_table(hooks: &[install::HookStatus]) -> table::Table {
    let mut table = table::new(["hook", "mode", "prog", "tag", "state", "link"], &[]);
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
/// sockets (state, drops, who bound them, who owns the socket in the slot).
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
        match (&slot.owner, &slot.owner_unknown) {
            (Some(o), _) => match &o.refused {
                None => outln!("    owner: {o}"),
                Some(why) => outln!("    owner: {o}: NOT TRUSTED by the declaration: {why}"),
            },
            (None, Some(why)) => outln!("    owner: unknown ({why})"),
            (None, None) => {}
        }
        for b in &slot.bindings {
            outln!("    bound by {b}");
        }
    }
}
