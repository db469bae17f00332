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
//! A large file's update of classifier tables (as a guess made before its plan says it
//! will be one) has its programs' records made on a thread beside the plan, where the
//! second core is mostly idle ([`beside_plan`]); the journal then pins them. Unpinned
//! maps until then, they go with the process if the apply stops before.
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

use sockc_compiler::beside::beside;

use super::{recorded_source, recorded_text_digest, ApplyReport, ApplyRequest};
use crate::{
    fault::{self, point},
    install::{now_unix, recover::commit_over, sets::update_sets, InstallError},
    netns,
    plan::{self, Plan, SetChange, Snapshot},
    stages,
    store::{
        journal::{Journal, Operation, Phase},
        Against, BulkRefs, Known, Manifest, Prepared, Store,
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
    (snapshot, ahead): (Snapshot, Option<Ahead>),
    mut report: ApplyReport,
) -> Result<ApplyReport, InstallError> {
    let records = ahead.and_then(|a| a.records);
    let dir = store.objects_dir(&old.name, &old.objects_dir);
    let tables_from = if report.plan.table_changes.is_empty() {
        None
    } else {
        Some(table_update::live_half_pinned(&dir).map_err(InstallError::Tables)?)
    };
    let changes = report.plan.set_changes.clone();
    let write_tables = || {
        tables_from.map(|_| {
            point("write classifier tables into the half no packet reads");
            let _t = stages::stage("write classifier tables (unread half)");
            table_update::write_pinned(&dir, compiled)
        })
    };
    let journal = || {
        let next = (next_target(req, old, snapshot), tables_from);
        journaled(store, req, next, &changes, records.as_ref())
    };
    // The tables are written beside the whole of the journal's making and writing
    // (the next manifest's copy of the rule text included); under a fault test first.
    let (written, journaled) = if tables_from.is_none() {
        (None, journal())
    } else {
        fault::beside_unless_counted(write_tables, journal)
    };
    // A journal that failed switches nothing: the written half stays unread.
    let (target, recorded) = journaled?;
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
    // Over `old`, the committed manifest as this apply read it: the journal is all
    // that was written since.
    commit_over(store, target, Some(old), None, Some(&recorded))?;
    report.changed = true;
    Ok(report)
}

/// What an update of classifier tables in place needs, made beside its plan
/// ([`beside_plan`]): the programs' records, unpinned.
pub(super) struct Ahead {
    records: Option<Prepared>,
}

/// From this many rules in the new file the programs' records of an update of
/// classifier tables in place are made beside its plan ([`beside_plan`]): at 100,000
/// rules a record of 7.8 MB encoded, hashed and written, where the plan leaves the
/// second core idle for milliseconds; a thread costs tens of microseconds.
const BESIDE_PLAN_FROM: usize = 10_000;

/// `new`'s plan over the installed `old` and, when the update will likely switch
/// classifier tables in place ([`plan::tables_likely_in_place`]) of a large file, the
/// programs' records its journal names, made on a thread beside the plan (or here,
/// when no thread starts). Unpinned ([`Prepared`]): records an apply does not
/// journal go with their descriptors. Not on a dry run.
pub(super) fn beside_plan(
    req: &ApplyRequest<'_>,
    old: &Manifest,
    new: &Snapshot,
) -> (Plan, Option<Ahead>) {
    let worth = !req.dry_run
        && new.rule_count() >= BESIDE_PLAN_FROM
        && plan::tables_likely_in_place(&old.snapshot, new);
    if !worth {
        return (plan::plan(Some(&old.snapshot), new), None);
    }
    std::thread::scope(|s| {
        let records = beside(s, || {
            let _t = stages::stage("programs' records (beside the plan)");
            Prepared::programs(&new.programs)
        });
        let p = plan::plan(Some(&old.snapshot), new);
        let records = records.join();
        (p, Some(Ahead { records }))
    })
}

/// The journal of the update to `target` (the tables switched from the half
/// `tables_from` names, when they are) with the set `changes`, written: `target` back
/// and the references to its records, which the commit names. Its records: the rule
/// text's named by the digest `source_sha256` holds (the same bytes, not hashed
/// again), a large set's as a delta over the committed one's, the programs' made
/// ahead when they were (`records`).
fn journaled(
    store: &Store,
    req: &ApplyRequest<'_>,
    (target, tables_from): (Manifest, Option<u32>),
    changes: &[SetChange],
    records: Option<&Prepared>,
) -> Result<(Manifest, BulkRefs), InstallError> {
    let digest = recorded_text_digest(req, &target).map(str::to_string);
    // The committed references are read only when a set changed (not for a table
    // switch).
    let shared: Vec<(&str, (usize, usize))> = changes
        .iter()
        .filter_map(|c| Some((c.map.as_str(), c.shared.0?)))
        .collect();
    let old_refs = match shared.is_empty() {
        true => Default::default(),
        false => store.committed_bulk_refs(&target.name)?,
    };
    let against = Against {
        old: &old_refs,
        shared: &shared,
    };
    let known = Known::InPlace(digest.as_deref(), against, records);
    // The journal holds the target itself (moved in and back out, not cloned), and
    // the manifest reuses the digests of the records the journal wrote.
    let mut journal = Journal {
        op: Operation::SetUpdate {
            target: Box::new(target),
            changes: changes.to_vec(),
            tables_from,
        },
        phase: Phase::Swapping,
        pid: std::process::id(),
        started_unix: now_unix(),
        qdiscs_absent: Vec::new(),
    };
    let recorded = {
        let _t = stages::stage("journal: the update and its records");
        store.write_journal(req.name, &mut journal, known)?
    };
    let Operation::SetUpdate { target, .. } = journal.op else {
        unreachable!("built as a set update just above")
    };
    Ok((*target, recorded))
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
