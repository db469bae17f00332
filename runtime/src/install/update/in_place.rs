//! A maps-only plan applied in place: the installed generation's classifier tables
//! switched (when they changed) and its set maps updated, journaled as one set update,
//! then committed as the next generation over the same objects.
//!
//! A large set's record is written as a delta over the committed one's (the store's
//! `set_delta`): the few entries that changed, not the whole set again.
//!
//! The new classifier tables are written into the halves no packet reads on another
//! thread while the journal is written (`table_update::write_pinned`); only once the
//! journal is in place does one store switch every classifier to them, and are the
//! new rules' counter slots zeroed.
//!
//! Invariant: the journal holds the target before the first map changes that a packet
//! or the committed generation can see — the live word, a counter, a set. The only
//! writes that may precede it are the unread halves of the table maps: no live word
//! names them, so a kill or an error before the journal leaves the committed
//! generation as it was (no journal: nothing to recover), and one after it, before
//! the switch, is rolled back by recovery (the live word still names the recorded
//! half), the next update writing the unread half whole again. A kill from the
//! switch on is rolled forward; no program is loaded or attached.

use sockc_compiler::Compiled;

use super::{recorded_source, recorded_text_digest, ApplyReport, ApplyRequest};
use crate::{
    fault::{self, point},
    install::{now_unix, recover::commit_recorded, sets::update_sets, InstallError},
    netns,
    plan::Snapshot,
    stages,
    store::{
        journal::{Journal, Operation, Phase},
        Against, Known, Manifest, Store,
    },
    table_update,
};

/// A maps-only plan: the installed generation's classifier tables switched in place
/// (when they changed) and its set maps updated, journaled as one set update, then
/// committed as the next generation over the same objects.
pub(super) fn update_in_place(
    store: &Store,
    req: &ApplyRequest<'_>,
    compiled: &Compiled,
    old: &Manifest,
    snapshot: Snapshot,
    mut report: ApplyReport,
) -> Result<ApplyReport, InstallError> {
    let target = next_target(req, old, snapshot);
    // The rule text's record named by the digest `source_sha256` holds (the same
    // bytes), not hashed again.
    let digest = recorded_text_digest(req, &target).map(str::to_string);
    let changes = report.plan.set_changes.clone();
    // A large set's record written as a delta over the committed one's (the
    // committed references read only when a set changed: not for a table switch).
    let shared: Vec<(&str, (usize, usize))> = changes
        .iter()
        .filter_map(|c| Some((c.map.as_str(), c.shared.0?)))
        .collect();
    let old_refs = match shared.is_empty() {
        true => Default::default(),
        false => store.committed_bulk_refs(&old.name)?,
    };
    let against = Against {
        old: &old_refs,
        shared: &shared,
    };
    let known = Known::InPlace(digest.as_deref(), against);
    let dir = store.objects_dir(&old.name, &old.objects_dir);
    let tables_from = if report.plan.table_changes.is_empty() {
        None
    } else {
        Some(table_update::live_half_pinned(&dir).map_err(InstallError::Tables)?)
    };
    // The journal holds the target itself (moved in and back out, not cloned), and
    // the manifest reuses the digests of the records the journal wrote.
    let mut journal = Journal {
        op: Operation::SetUpdate {
            target: Box::new(target),
            changes: changes.clone(),
            tables_from,
        },
        phase: Phase::Swapping,
        pid: std::process::id(),
        started_unix: now_unix(),
        qdiscs_absent: Vec::new(),
    };
    let write_tables = || {
        tables_from.map(|_| {
            point("write classifier tables into the half no packet reads");
            let _t = stages::stage("write classifier tables (unread half)");
            table_update::write_pinned(&dir, compiled)
        })
    };
    let write_journal = |journal: &mut Journal| {
        let _t = stages::stage("journal: the update and its records");
        store.write_journal(req.name, journal, known)
    };
    // Under a fault test the tables go first, so that every step keeps its number.
    let (written, recorded) = if tables_from.is_none() || fault::counting() {
        let written = write_tables();
        (written, write_journal(&mut journal))
    } else {
        // On a thread when one starts; else here first, as under a fault test.
        std::thread::scope(|s| {
            let tables = sockc_compiler::beside::beside(s, write_tables);
            let recorded = write_journal(&mut journal);
            (tables.join(), recorded)
        })
    };
    // A journal that failed switches nothing: the written half stays unread.
    let recorded = recorded?;
    let Operation::SetUpdate { target, .. } = journal.op else {
        unreachable!("built as a set update just above")
    };
    let target = *target;
    if let Some(written) = written {
        // One store switches every classifier to the written half, then the new
        // rules' counter slots are zeroed (`crate::table_update`). A failed write
        // leaves the journal for recovery to roll back (the live half unchanged).
        let _t = stages::stage("switch classifier tables");
        point("switch classifier tables");
        let done = written
            .and_then(|w| w.switch(&report.plan.fresh_slots))
            .map_err(InstallError::Tables)?;
        report.notices.push(format!(
            "classifier tables switched in place: {} KiB written to half {}, {:.1} ms",
            done.bytes / 1024,
            done.to,
            done.took.as_secs_f64() * 1e3
        ));
    }
    update_sets(store, &target, &changes)?;
    report.generation = Some(target.generation);
    let _t = stages::stage("commit");
    commit_recorded(store, target, None, Some(&recorded))?;
    report.changed = true;
    Ok(report)
}

/// The manifest of the next generation over `old`'s objects, with the plan's
/// `snapshot` and `req`'s file; the install's namespace cookie recorded if `old` has
/// none yet.
fn next_target(req: &ApplyRequest<'_>, old: &Manifest, snapshot: Snapshot) -> Manifest {
    // Every field named (no `..old.clone()`): the old snapshot's set entries and rule
    // text, a million elements each, are replaced, so they are not copied first.
    let mut target = Manifest {
        format: old.format,
        name: old.name.clone(),
        generation: old.generation + 1,
        objects_dir: old.objects_dir.clone(),
        source_file: req.source_file.to_string(),
        source_sha256: req.source_digest(),
        applied_unix: now_unix(),
        netns: old.netns.clone(),
        netns_ino: old.netns_ino,
        netns_cookie: old.netns_cookie,
        programs: old.programs.clone(),
        snapshot,
        socket_slots: old.socket_slots.clone(),
        source_text: None,
        label: req.label.map(str::to_string),
        instance: req.instance_after(Some(old)),
        residual: old.residual.clone(),
    };
    if target.netns_cookie == 0 {
        // Checked to be the install's namespace (`check_same_netns`): recorded now, in
        // the format that keeps it.
        if let Ok(id) = netns::current() {
            (target.netns_ino, target.netns_cookie) = (id.ino, id.cookie);
        }
    }
    if target.netns_cookie != 0 {
        // Recorded in the current format (its set entries in binary records).
        target.format = crate::store::format_for(target.residual.is_some());
    }
    target.source_text = Some(recorded_source(req, target.format));
    target
}
