//! `sockc apply`: install a compiled rule set, or bring an installed one to a new
//! file — a new generation, a set-only update of the live maps, or a repair of hooks
//! that no longer run what the manifest says — each as a journaled operation (see the
//! module docs of [`super`]).
//!
//! Invariants: nothing installed changes before the new generation is loaded, verified
//! and pinned, its socket slots are filled, and the hooks it adds are on; a failure up
//! to there is undone and leaves the installed generation exactly as it was. From the
//! first swap on, the operation is finished even if some hook fails (that hook is
//! reported, and stays drift for `status` and the next `apply`). "No changes" is said
//! only when every hook runs what the manifest says and every set map holds what it
//! says (a set changed behind sockc's back is rewritten, as `repair` does).
//!
//! The phases, one file each: `checks.rs` (refusals before anything loads),
//! `ahead.rs` (a first install's hooks made ready meanwhile), `in_place.rs` (a
//! maps-only plan), `generation.rs` (a new generation, loaded by `load.rs`, its
//! counters carried over by `carry.rs`). This file holds the request and report and
//! decides which phase runs.

use std::sync::Arc;

use sockc_compiler::Compiled;

use crate::{
    attach::{AttachOptions, LinkState},
    error_text::error_chain,
    install::{
        recover::{collect_kept_by, collect_locked, recover_in_flight, InFlight, Recovery},
        repair::repair_locked,
        slot_registry, InstallError,
    },
    loaded::{LoadOptions, LoadedObject, LoadedProgram},
    netns,
    plan::{self, Plan, Snapshot},
    stages,
    store::{Known, Manifest, Remembered, Store, SETS_FROM_MAPS_FORMAT},
};

mod ahead;
mod answer_limits;
mod carry;
mod checks;
mod generation;
mod in_place;
mod load;

pub use ahead::{start_ahead, StartedAhead};

pub struct ApplyRequest<'a> {
    pub compiled: &'a Compiled,
    pub name: &'a str,
    pub source_file: &'a str,
    pub source: &'a str,
    /// `source` itself as the caller holds it, shared, when it does: a manifest that
    /// records the text as it is then shares it rather than copying it (6 MB at 100,000
    /// rules, faulted in on the calling thread). Used only when it is the very
    /// `source` (the same bytes at the same address). `None`: copied.
    pub shared_source: Option<&'a Arc<String>>,
    /// Recorded in the manifest; the caller has already entered it.
    pub netns: Option<&'a str>,
    pub dry_run: bool,
    pub attach: AttachOptions,
    /// Apply a file without hook blocks (which detaches every hook) on purpose.
    pub allow_empty: bool,
    /// What the caller started for a first install while the file was still
    /// compiling ([`start_ahead`]); `None`: a first install starts it itself.
    pub ahead: Option<&'a StartedAhead>,
    /// Hands the memory freed so far back to the kernel: called before the new
    /// generation is loaded, and once it is loaded and journaled, before its hooks
    /// are attached (an attach waits for the kernel, with the process at its
    /// largest). The binary's allocator knows how; `|| {}` where peak memory does not
    /// matter.
    pub release_freed_memory: fn(),
    /// The name the operator gives these rules (`apply --label`), recorded in the
    /// manifest; `None` records none.
    pub label: Option<&'a str>,
    /// The instance the install gets when it has none yet (a first install, or one an
    /// older sockc made): a pending confirmation armed before the apply names it.
    /// `None`: a new random one. An install that has one keeps it.
    pub instance: Option<&'a str>,
    /// The file's residual made for this install (the CLI reads and checks it with
    /// the import's readers), installed beside the netfilter programs.
    pub residual: Option<crate::store::ResidualRecord>,
    /// The installed generation `compiled` was compiled fitted to
    /// (`driver::finish_fitted`, read before recovery); `None`: compiled as it is.
    pub fitted_to: Option<u64>,
    /// The SHA-256 (hex) of `source` when the caller hashed it already (`apply`
    /// hashes it beside its front end); `None`: hashed here when a manifest records it.
    pub source_sha256: Option<&'a str>,
}

impl<'a> ApplyRequest<'a> {
    /// A plain apply of `compiled` as install `name` in the caller's namespace: no
    /// dry run, default attach options, no label, residual or work started ahead.
    pub fn new(
        compiled: &'a Compiled,
        name: &'a str,
        source_file: &'a str,
        source: &'a str,
    ) -> Self {
        ApplyRequest {
            compiled,
            name,
            source_file,
            source,
            shared_source: None,
            netns: None,
            dry_run: false,
            attach: AttachOptions::default(),
            allow_empty: false,
            ahead: None,
            release_freed_memory: || {},
            label: None,
            instance: None,
            residual: None,
            fitted_to: None,
            source_sha256: None,
        }
    }

    /// This request with `compiled` in place of its own.
    fn with_compiled<'b>(&self, compiled: &'b Compiled) -> ApplyRequest<'b>
    where
        'a: 'b,
    {
        ApplyRequest {
            compiled,
            residual: self.residual.clone(),
            ..*self
        }
    }

    /// The SHA-256 (hex) of the source, as `source_sha256` records it: the caller's,
    /// or hashed now.
    fn source_digest(&self) -> String {
        match self.source_sha256 {
            Some(d) => {
                debug_assert_eq!(d, sha256_hex(self.source), "the digest is the source's");
                d.to_string()
            }
            None => sha256_hex(self.source),
        }
    }

    /// The instance the install has after this apply: the installed one's, else the
    /// request's, else a new one.
    fn instance_after(&self, old: Option<&Manifest>) -> String {
        match old.map(|m| m.instance.as_str()).filter(|i| !i.is_empty()) {
            Some(i) => i.to_string(),
            None => self
                .instance
                .map_or_else(crate::store::new_instance, str::to_string),
        }
    }
}

#[derive(Default)]
pub struct ApplyReport {
    pub plan: Plan,
    /// The generation installed when the call returns (`None`: nothing is).
    pub generation: Option<u64>,
    /// True when something in the kernel changed.
    pub changed: bool,
    pub notices: Vec<String>,
    /// Programs loaded through the verifier (the new ones; on dry runs, unattached).
    pub verified: Vec<LoadedProgram>,
    /// Interrupted work this call found and finished or undid first.
    pub recovered: Option<Recovery>,
    /// Hooks that did not run what the manifest says, with what they ran: attached
    /// again (or, on a dry run, to be).
    pub drift: Vec<(String, LinkState)>,
    /// Hooks this call could not bring to the new generation (they stay drift).
    pub failed: Vec<String>,
    /// Set maps of the installed generation that differed from its manifest: rewritten
    /// from it (or, on a dry run, to be).
    pub set_drift: Vec<String>,
    /// The declared sockets were looked for before the new generation was attached.
    looked_for_sockets: bool,
    /// The installed generation's manifest as this call read it, handed over rather
    /// than read and copied again or dropped here: on a dry run, for what the caller
    /// compares with it next (`apply --dry-run`'s semantic diff); after an update in
    /// place, the generation it replaced (its rule text left unread), so that a caller
    /// about to exit need not free it (100,000 rules' entries, 12 M instructions to
    /// free). `None` otherwise.
    pub installed: Option<Manifest>,
}

/// The SHA-256 (hex) of the rule text `s`, as `source_sha256` records it.
pub(super) fn sha256_hex(s: &str) -> String {
    sockc_compiler::bpf::maps::sha256_hex(s.as_bytes())
}

/// The SHA-256 (hex) of the rule text `target` records when that text is the applied
/// source itself, whose digest its `source_sha256` holds already: the text's record is
/// then named without hashing megabytes of text a second time. `None` when the text
/// differs from the source (sets written out into it).
pub(super) fn recorded_text_digest<'m>(
    req: &ApplyRequest<'_>,
    target: &'m Manifest,
) -> Option<&'m str> {
    let text = target.source_text.as_deref()?;
    (is_the_source(req, text) || text.as_str() == req.source)
        .then_some(target.source_sha256.as_str())
}

/// Whether `text` is `req.source` itself (shared, not a copy): then it is the same
/// without comparing its megabytes.
fn is_the_source(req: &ApplyRequest<'_>, text: &str) -> bool {
    std::ptr::eq(text.as_ptr(), req.source.as_ptr()) && text.len() == req.source.len()
}

/// The rule text a manifest of `format` keeps: the applied source, with its `file`
/// sets written out before format 5 and, from 5, only those no set map holds (the
/// others are written out from the maps' records when read back,
/// `Manifest::rule_text`: a million-element set is not written as 14 MB of text at
/// every apply). Only a set with elements can be written out: without one the source
/// is kept as it is, not parsed a second time (about 6% of a 10k-rule apply's CPU
/// samples), and shared with the caller when it holds it so
/// ([`ApplyRequest::shared_source`]).
pub(super) fn recorded_source(req: &ApplyRequest<'_>, format: u32) -> Arc<String> {
    let module = &req.compiled.module;
    if module
        .sets
        .values()
        .all(|s| s.v4.is_empty() && s.v6.is_empty())
    {
        return match req.shared_source.filter(|s| is_the_source(req, s)) {
            Some(shared) => Arc::clone(shared),
            None => Arc::new(req.source.to_string()),
        };
    }
    Arc::new(if format >= SETS_FROM_MAPS_FORMAT {
        let maps = &req.compiled.metadata.map_contents;
        sockc_compiler::standalone::sets_without_maps_written_out(req.source, module, maps)
    } else {
        sockc_compiler::standalone::sets_written_out(req.source, module)
    })
}

/// Installs `req.compiled` under `req.name` in `store`; see the module docs. Then
/// (not on a dry run) registers every declared socket whose slot is empty and that is
/// found bound to its address, and says which are still missing.
pub fn apply(store: &Store, req: &ApplyRequest<'_>) -> Result<ApplyReport, InstallError> {
    let mut report = apply_rules(store, req)?;
    // A file that declares no socket has none to register (the manifest committed,
    // or kept, is this file's): not read back, a copy of every rule at 10k rules.
    if !req.dry_run && !req.compiled.metadata.sockets.is_empty() {
        let _t = stages::stage("register declared sockets");
        if let Some(m) = store.manifest(req.name)? {
            // Said once: what is still missing after the commit.
            let lines = slot_registry::register_declared(store, &m);
            if report.looked_for_sockets {
                report
                    .notices
                    .extend(lines.into_iter().filter(|l| !l.contains(": registered, ")));
            } else {
                report.notices.extend(lines);
            }
        }
    }
    Ok(report)
}

/// The apply itself, before the declared sockets are registered: recovery, the
/// checks, the plan, then the one phase the plan calls for.
fn apply_rules(store: &Store, req: &ApplyRequest<'_>) -> Result<ApplyReport, InstallError> {
    let mut report = ApplyReport::default();
    let (old, here, collect) = read_installed(store, req, &mut report)?;
    let (old, unread_text) = match old {
        Some(r) => (Some(r.manifest), r.unread_text),
        None => (None, None),
    };
    let t = stages::stage("check other installs' hooks");
    let hooks = ahead::program_hooks(
        req.compiled
            .metadata
            .programs
            .iter()
            .map(|p| (p.hook, &*p.attach_to)),
    );
    checks::check_other_installs(
        store,
        (req.name, req.netns),
        &hooks,
        here,
        &mut report.notices,
    )?;
    checks::cgroup_blocks_beside_netns(req.netns, &hooks, &mut report.notices);
    drop(t);
    // A first install loads (unless it is refused below): its interface hooks are
    // made ready while it plans and verifies (unless the caller made them ready
    // already), as the kernel's wait there is the longest. Dropped unused, hooks are
    // taken off with their descriptors.
    let first = old.is_none() && !req.dry_run && !req.compiled.programs.is_empty();
    let own = (first && req.ahead.is_none())
        .then(|| ahead::started(&hooks, req.attach))
        .flatten();
    let ready = req
        .ahead
        .or(own.as_ref())
        .filter(|_| first)
        .map(|a| &a.hooks);
    // The plan may refit the file to the installed generation (its counter slots and
    // map sizes), which turns a change inside classifier tables into an update in
    // place; what is installed is then the refitted file. Recovery's garbage
    // collection and the installed hooks' states are read beside it.
    let ((plan, refitted, new_snapshot, ahead), beside) =
        plan_beside(store, req, old.as_ref(), collect);
    report.plan = plan;
    if let Some(collected) = beside.collected {
        report.recovered = refuse_leftovers(req, collected?)?;
    }
    report.generation = old.as_ref().map(|m| m.generation);

    // Checks that need no kernel objects come first.
    checks::check_targets_exist(&report.plan, req.netns)?;
    checks::check_cgroups_distinct(&report.plan)?;
    report.drift = checks::kept_drift(beside.drifting, &report.plan);
    // A residual that changed needs the whole sequence of a new generation (its
    // `full` mode while the programs are loaded again), even when the programs did not.
    let residual_changed = old.as_ref().map(|m| m.residual.as_ref().map(|r| &r.text))
        != Some(req.residual.as_ref().map(|r| &r.text))
        && !(old.is_none() && req.residual.is_none());
    let changes = report.plan.has_changes() || residual_changed;
    if residual_changed {
        report.plan.maps_only = false;
    }
    // What is installed: the file as planned, lowered unfitted when it loads anew.
    let unfitted = (changes && !report.plan.maps_only && refitted.is_none())
        .then(|| req.compiled.unfitted().and_then(Result::ok))
        .flatten();
    let compiled = refitted
        .as_ref()
        .or(unfitted.as_ref())
        .unwrap_or(req.compiled);
    // Made beside the plan of the file as compiled: of no use for another.
    let ahead = ahead.filter(|_| std::ptr::eq(compiled, req.compiled));
    let relowered;
    let req = if std::ptr::eq(compiled, req.compiled) {
        req
    } else {
        relowered = req.with_compiled(compiled);
        &relowered
    };
    if residual_changed && old.is_some() {
        report
            .notices
            .push("the residual (netfilter, beside the programs) changes: installed with a new generation".into());
    }
    // The installed set maps matter when the plan updates them in place, or keeps
    // them. Kept unchanged, every entry is compared with the manifest (an apply of the
    // same file repairs); updated in place, only the changed keys are written and read
    // back (`sets::update_sets`), so the cost follows the change, not the set's size.
    let sets_kept = !changes || report.plan.maps_only;
    if let (Some(m), false) = (&old, changes) {
        report.set_drift = super::sets::drift_quick(store, m);
    }
    let old = with_old_text(store, req, &report, old, unread_text)?;

    if !changes && !req.dry_run {
        if let Some(m) = &old {
            match crate::residual::repair(m) {
                Ok(Some(what)) => {
                    report.notices.push(what);
                    report.changed = true;
                }
                Ok(None) => {}
                Err(e) => report.failed.push(error_chain(&InstallError::Residual(e))),
            }
            refresh_answer_limits(store, m, req, &mut report);
        }
    }
    if req.dry_run {
        if changes && !report.plan.maps_only {
            report.verified = verify_unattached(req)?;
        }
        report.installed = old;
        return Ok(report);
    }
    if !changes && report.drift.is_empty() && report.set_drift.is_empty() {
        keep_text_in_step(store, req, old, new_snapshot)?;
        return Ok(report);
    }
    let old = repair_kept(store, req, old, sets_kept, &mut report)?;
    if !changes {
        return Ok(report);
    }
    if report.plan.maps_only {
        let old = old.expect("a maps-only plan has an installed generation");
        let mut report =
            in_place::update_in_place(store, req, compiled, &old, (new_snapshot, ahead), report)?;
        refresh_answer_limits(store, &old, req, &mut report);
        // Handed over, not dropped here: the caller decides when to free it.
        report.installed = Some(old);
        return Ok(report);
    }
    let first = old.is_none();
    let new = generation::NewGeneration {
        snapshot: new_snapshot,
        here,
        ready,
    };
    let result = generation::install_generation(store, req, old, new, &mut report);
    if result.is_err() && first {
        generation::forget_failed_first_install(store, req.name);
    }
    result?;
    Ok(report)
}

/// [`answer_limits::refresh`] of the live generation, said in the report (a failure as
/// a notice: the rules are installed, their answers limited as they were).
fn refresh_answer_limits(
    store: &Store,
    m: &Manifest,
    req: &ApplyRequest<'_>,
    report: &mut ApplyReport,
) {
    match answer_limits::refresh(store, m, &req.compiled.metadata) {
        Ok(Some(what)) => {
            report.notices.push(what);
            report.changed = true;
        }
        Ok(None) => {}
        Err(e) => report.notices.push(format!(
            "reject's answer limits could not be read again: {e}"
        )),
    }
}

/// The plan of `req` over the installed generation `old`, the file to install when it
/// is not `req.compiled` (also when its programs' symbols, under which their hooks'
/// links are pinned, are not those of `old`'s programs on the same hooks: renamed to
/// them), and the snapshot the install records: fitted already when
/// `req` was compiled fitted to `old` ([`plan::plan_fitted`]), else refitted here
/// ([`plan::plan_compiled`], of the file lowered unfitted when it was fitted to
/// another generation, which recovery replaced). With them, what an update in place
/// needs when it was made beside the plan ([`in_place::beside_plan`]).
fn plan_request(
    old: Option<&Manifest>,
    req: &ApplyRequest<'_>,
) -> (Plan, Option<Compiled>, Snapshot, Option<in_place::Ahead>) {
    let Some(m) = old else {
        return plan_as_compiled(old, req);
    };
    // A file compiled unfitted (a rollback's, a recovery's, the agent's) is named as the
    // installed generation names its programs before anything is planned; a file
    // compiled fitted (an apply's) is named so already, and lowered unfitted
    // (`unfitted`, below) keeps those names.
    match req
        .compiled
        .with_symbols_fitted(&plan::symbols_of(&m.snapshot))
    {
        None => plan_as_compiled(old, req),
        Some(named) => {
            // As `plan_as_compiled` plans a file fitted to another generation: lowered
            // unfitted (its names stay), then refitted to this one.
            let direct = match named.unfitted() {
                Some(Ok(direct)) => direct,
                _ => named,
            };
            let (p, refitted, snapshot) = plan::plan_compiled(Some(&m.snapshot), &direct);
            (p, Some(refitted.unwrap_or(direct)), snapshot, None)
        }
    }
}

/// [`plan_request`] of the file as it was compiled, its symbols maybe not the
/// installed generation's (a file compiled unfitted: a rollback's, a recovery's).
fn plan_as_compiled(
    old: Option<&Manifest>,
    req: &ApplyRequest<'_>,
) -> (Plan, Option<Compiled>, Snapshot, Option<in_place::Ahead>) {
    if let Some(m) = old.filter(|m| req.fitted_to == Some(m.generation)) {
        let mut ahead = None;
        let (p, refitted, snapshot) = plan::plan_fitted_with(&m.snapshot, req.compiled, |s| {
            let (p, made) = in_place::beside_plan(req, m, s);
            ahead = made;
            p
        });
        return (p, refitted, snapshot, ahead);
    }
    let old = old.map(|m| &m.snapshot);
    let (p, refitted, snapshot) = match req.compiled.unfitted() {
        Some(Ok(direct)) => {
            let (p, refitted, snapshot) = plan::plan_compiled(old, &direct);
            (p, Some(refitted.unwrap_or(direct)), snapshot)
        }
        _ => plan::plan_compiled(old, req.compiled),
    };
    (p, refitted, snapshot, None)
}

/// Finishes or undoes what an interrupted command left, then reads the installed
/// generation (if any) and the namespace this apply runs in, and refuses an apply
/// from another namespace than the install's, or of a file without hook blocks
/// unless asked for. True as the third: recovery's garbage collection is still to
/// run (nothing was in flight and the manifest read), which [`plan_beside`] runs
/// beside the plan with the manifest in hand, before anything changes; an apply
/// refused before its plan (another namespace, no hook blocks, a hook another install
/// holds) leaves that garbage to the next command's recovery.
fn read_installed(
    store: &Store,
    req: &ApplyRequest<'_>,
    report: &mut ApplyReport,
) -> Result<(Option<Remembered>, netns::Identity, bool), InstallError> {
    let t = stages::stage("finish or undo an interrupted command");
    let in_flight = recover_in_flight(store, req.name, &mut report.notices)?;
    drop(t);
    let here = netns::current().map_err(|source| InstallError::Netns {
        path: "/proc/thread-self/ns/net".into(),
        source,
    })?;
    let t = stages::stage("read the installed generation");
    // Taken, not copied: this apply is its last reader (the commit remembers the
    // manifest it writes). Its rule text is read only if the apply hands the manifest
    // on or writes it back ([`with_old_text`]).
    let read = store.take_manifest_but_text(req.name);
    drop(t);
    let collect = matches!((&in_flight, &read), (InFlight::Nothing, Ok(Some(_))));
    if let InFlight::Recovered(r) = in_flight {
        // A flush finished here may have left what it could not remove, which this
        // apply would pin into (its first generation, its links).
        report.recovered = refuse_leftovers(req, r)?;
    } else if !collect {
        // No manifest to collect beside (debris), or none read: recovery as it ran
        // before the read, with its own errors first.
        report.recovered = refuse_leftovers(req, collect_locked(store, req.name)?)?;
    }
    let old = read?;
    if let Some(r) = &old {
        checks::check_same_netns(&r.manifest, req, here)?;
    }
    // A file of a residual alone (an import whose every rule netfilter keeps) holds
    // rules: it is not empty.
    if req.compiled.programs.is_empty() && req.residual.is_none() && !req.allow_empty {
        return Err(InstallError::Empty {
            name: req.name.to_string(),
        });
    }
    Ok((old, here, collect))
}

/// Recovery's garbage collection `collected` for `req`: an apply stops beside a
/// leftover it could not remove and cannot go on beside (`recover::refuse_changes`);
/// a dry run, which changes nothing, goes on and says it.
fn refuse_leftovers(
    req: &ApplyRequest<'_>,
    collected: Option<Recovery>,
) -> Result<Option<Recovery>, InstallError> {
    if req.dry_run {
        return Ok(collected);
    }
    super::recover::refuse_changes(req.name, collected)
}

/// The plan, the refitted file, the new snapshot and the records made beside the
/// plan ([`plan_request`]).
type Planned = (Plan, Option<Compiled>, Snapshot, Option<in_place::Ahead>);

/// What [`plan_beside`] read beside the plan.
struct ReadBeside {
    /// Recovery's garbage collection, when it was left to run there.
    collected: Option<Result<Option<Recovery>, InstallError>>,
    /// The hooks of the installed generation that do not run what its manifest says
    /// (`reconcile::drifting`).
    drifting: Vec<(String, LinkState)>,
}

/// The plan of `req` over the installed generation `old` ([`plan_request`]), and on
/// another thread meanwhile what reads only the store and `old` (a few hundred
/// microseconds of system calls at 1,000 rules, which the plan's CPU work hides):
/// recovery's garbage collection when `collect` ([`collect_kept_by`]), and the
/// states of `old`'s hooks. Neither changes what the plan reads; nothing is changed
/// before both are back (the collection removes only what no record names).
fn plan_beside(
    store: &Store,
    req: &ApplyRequest<'_>,
    old: Option<&Manifest>,
    collect: bool,
) -> (Planned, ReadBeside) {
    let plan = || {
        let _t = stages::stage("plan");
        plan_request(old, req)
    };
    let Some(m) = old else {
        let nothing = ReadBeside {
            collected: None,
            drifting: Vec::new(),
        };
        return (plan(), nothing);
    };
    let read = || {
        let _t = stages::stage(if sockc_compiler::beside::alone() {
            "collect garbage, read the hooks' states"
        } else {
            "collect garbage, read the hooks' states (another thread)"
        });
        ReadBeside {
            collected: collect.then(|| collect_kept_by(store, req.name, m)),
            drifting: super::reconcile::drifting(store, m),
        }
    };
    let (read, planned) = crate::fault::beside_unless_counted(read, plan);
    (planned, read)
}

/// The installed manifest `old`, its rule text read from its record (`unread_text`
/// names it) when this apply hands it on (a dry run's semantic diff reads it) or may
/// write it back (a repair of drift commits the installed generation again); left
/// unread otherwise: an in-place update, a new generation and a manifest kept in step
/// with moved text each record the new file's text, never the old one.
fn with_old_text(
    store: &Store,
    req: &ApplyRequest<'_>,
    report: &ApplyReport,
    old: Option<Manifest>,
    unread_text: Option<String>,
) -> Result<Option<Manifest>, InstallError> {
    let needed = req.dry_run || !report.drift.is_empty() || !report.set_drift.is_empty();
    match (old, unread_text) {
        (Some(manifest), Some(digest)) if needed => {
            let r = Remembered {
                manifest,
                unread_text: Some(digest),
            };
            Ok(Some(store.with_text(req.name, r)?))
        }
        (old, _) => Ok(old),
    }
}

/// Nothing to change: same code and maps, but the text may have moved (comments,
/// blank lines), so the manifest's lines and source are kept in step for `stats`.
fn keep_text_in_step(
    store: &Store,
    req: &ApplyRequest<'_>,
    old: Option<Manifest>,
    new_snapshot: Snapshot,
) -> Result<(), InstallError> {
    let moved = |m: &Manifest| m.snapshot != new_snapshot || m.label.as_deref() != req.label;
    if let Some(old) = old.filter(|m| moved(m) && !req.dry_run) {
        let mut m = Manifest {
            source_file: req.source_file.to_string(),
            source_sha256: req.source_digest(),
            source_text: Some(recorded_source(req, old.format)),
            snapshot: new_snapshot,
            label: req.label.map(str::to_string),
            instance: req.instance_after(Some(&old)),
            ..old
        };
        let digest = recorded_text_digest(req, &m).map(str::to_string);
        let known = digest
            .as_deref()
            .map_or(Known::Nothing, Known::SourceDigest);
        store.write_manifest_recorded(&mut m, known)?;
    }
    Ok(())
}

/// A dry run's load: the new programs through the verifier, unattached, as an apply
/// loads them (the metadata in hand, not parsed back out).
fn verify_unattached(req: &ApplyRequest<'_>) -> Result<Vec<LoadedProgram>, InstallError> {
    let elf = req
        .compiled
        .to_loadable_elf()
        .map_err(InstallError::Object)?;
    let meta = req.compiled.metadata.without_rules();
    let opts = LoadOptions {
        tables: Some(&req.compiled.tables),
        // A dry run says what the apply would: a missing cgroup fails it.
        require_cgroups: true,
        ..Default::default()
    };
    Ok(LoadedObject::load_described(&elf, meta, &opts)?
        .programs()
        .to_vec())
}

/// What the installed generation keeps, brought back to its manifest: set maps that
/// drifted are rewritten and, when nothing is to be loaded, hooks that drifted get
/// its own pinned programs back. Returns the installed manifest as it now is.
fn repair_kept(
    store: &Store,
    req: &ApplyRequest<'_>,
    mut old: Option<Manifest>,
    sets_kept: bool,
    report: &mut ApplyReport,
) -> Result<Option<Manifest>, InstallError> {
    if sets_kept && !report.set_drift.is_empty() {
        let m = old
            .as_ref()
            .expect("set drift is of an installed generation");
        super::repair::restore_sets(store, m)?;
        report.changed = true;
    }
    if !report.drift.is_empty() && sets_kept {
        // Nothing to load: the installed generation's own programs go back on.
        let m = old.take().expect("drift is of an installed generation");
        let (repaired, failed) =
            repair_locked(store, &m, (&req.attach, true), &mut report.notices)?;
        report.failed.extend(failed.iter().map(|e| error_chain(e)));
        report.changed = true;
        old = Some(repaired);
    }
    Ok(old)
}

#[cfg(test)]
mod tests;
