//! Removing an install ([`flush`]): its hooks off, then its pins and records, also
//! when a record is lost or damaged or interrupted work cannot be finished.
//!
//! Invariants: a flush only ever goes forward: once its journal is in place, every
//! later command finishes it — hooks off, then the pins, the manifest, the journal and
//! the directory in that order ([`super::take_off`](mod@super::take_off)) — and nothing re-attaches a hook
//! of a flushed install; a leftover it cannot remove does not stop it: every hook comes
//! off, the directory stays holding only that, and the flush says what stayed
//! ([`Flushed::stayed`]). A damaged bulk record (`crate::store`) never keeps an install
//! from being taken off: interrupted work whose target's record is damaged cannot be
//! finished, so the flush gives it up (its hooks off first, then a flush's journal in
//! its place), as it gives up any interrupted work that cannot be finished.

use super::{
    leftovers::Leftover,
    recover::{abandon, recover_locked, Recovery},
    take_off::{flush_locked, write_flush_journal},
    InstallError,
};
use crate::{
    error_text::error_chain,
    fault::point,
    store::{pending::Pending, Manifest, Store, StoreError},
};

/// What [`flush`] did.
#[derive(Debug)]
pub struct Flushed {
    /// The install removed (`None` when the flush found an interrupted flush of it, or
    /// debris, and finished or removed that).
    pub manifest: Option<Manifest>,
    /// Hooks that held one of the install's attachments (its link, filter or map
    /// slot) until the flush, running its program, one put there behind its back, or
    /// (a dispatcher's emptied slot) nothing: each was taken off.
    pub detached: usize,
    pub recovered: Option<Recovery>,
    /// What the flush left that is worth saying: an anchor table that holds what
    /// sockc did not make.
    pub notices: Vec<String>,
    /// The change that was pending confirmation, cancelled by the flush.
    pub cancelled: Option<Pending>,
    /// What the flush could not remove (a mount on it, a file system that refuses):
    /// the install's directory stays holding only that, and no hook runs anything of
    /// the install ([`super::leftovers::stayed_note`] says it and the fix).
    pub stayed: Vec<Leftover>,
}

/// Detaches and removes everything installed under `name`; where a record was lost,
/// also the clsact filters that run its programs ([`sweep_stray_filters`]).
pub fn flush(store: &Store, name: &str) -> Result<Flushed, InstallError> {
    let mut flushed = flush_recorded(store, name)?;
    flushed.detached += sweep_stray_filters(&mut flushed.recovered);
    Ok(flushed)
}

/// Deletes the clsact filters running the programs of an install whose records were
/// lost (`recovered` says so), which nothing else names. After the committed
/// generation's own hooks came off, so that those count as detached as in any flush;
/// the pins are gone by then, but a filter keeps the program it runs, so its id
/// still names that program. Returns how many were deleted: hooks that ran one of the
/// install's programs, counted as detached.
fn sweep_stray_filters(recovered: &mut Option<Recovery>) -> usize {
    if let Some(
        Recovery::JournalReplaced { programs, filters }
        | Recovery::Unrecorded {
            programs, filters, ..
        },
    ) = recovered
    {
        point("delete stray clsact filters");
        *filters = super::stray_filters::remove(programs);
        return filters.len();
    }
    0
}

/// Moves what `recovered` could not remove into `stayed`, where a flush says it once
/// with what its own removal could not remove (the same paths, met again); a
/// collection with nothing else to say is then no recovery.
fn take_stuck(recovered: Option<Recovery>, stayed: &mut Vec<Leftover>) -> Option<Recovery> {
    match recovered {
        Some(Recovery::Collected { removed, stuck }) => {
            stayed.extend(stuck);
            (!removed.is_empty()).then_some(Recovery::Collected {
                removed,
                stuck: Vec::new(),
            })
        }
        Some(Recovery::Debris { removed, stuck }) if !removed.is_empty() => {
            stayed.extend(stuck);
            Some(Recovery::Debris {
                removed,
                stuck: Vec::new(),
            })
        }
        Some(Recovery::Debris { stuck, .. }) => {
            stayed.extend(stuck);
            None
        }
        Some(Recovery::Flushed { stayed: s }) => {
            stayed.extend(s);
            Some(Recovery::Flushed { stayed: Vec::new() })
        }
        Some(Recovery::Then(first, then)) => match take_stuck(Some(*then), stayed) {
            Some(then) => Some(Recovery::Then(first, Box::new(then))),
            None => Some(*first),
        },
        other => other,
    }
}

fn flush_recorded(store: &Store, name: &str) -> Result<Flushed, InstallError> {
    let mut notices = Vec::new();
    let mut given_up = 0;
    let mut stayed = Vec::new();
    let recovered = match recover_locked(store, name, &mut notices) {
        // A leftover that cannot be removed does not stop a flush: "flushed" means no
        // hook of the install runs any more, which a leftover does not hold up (no
        // hook runs it); the directory stays holding it, and the flush says so.
        Ok(r) => take_stuck(r, &mut stayed),
        // Work in flight that is not known: a flush's journal in its place; the
        // committed generation's hooks come off below, and every pin with the install.
        Err(InstallError::UnreadableRecord {
            what: "journal",
            programs,
            ..
        }) => {
            write_flush_journal(store, name, Vec::new())?;
            Some(Recovery::JournalReplaced {
                programs,
                filters: Vec::new(),
            })
        }
        // Pins no record names: what is known of them is taken off with them.
        Err(
            InstallError::Unrecorded { programs, .. }
            | InstallError::UnreadableRecord { programs, .. },
        ) => {
            given_up = store.detach_unrecorded_links(name);
            let r = store.remove_install(name)?;
            stayed.extend(Leftover::all(r.stuck, 0));
            Some(Recovery::Unrecorded {
                name: name.to_string(),
                removed: r.removed,
                programs,
                filters: Vec::new(),
            })
        }
        // Interrupted work that cannot be finished (a damaged record of its target, a
        // pin it needs gone): given up, its hooks taken off.
        Err(e) => match store.journal_without_bulk(name)? {
            Some(journal) if journal.op.target().is_some() => {
                let (recovery, detached) =
                    abandon(store, name, journal, (error_chain(&e), &mut notices))?;
                given_up = detached;
                Some(recovery)
            }
            _ => return Err(e),
        },
    };
    // A damaged bulk record (set entries, rule text) does not keep an install from
    // being taken off: flushing is how one starts over.
    let manifest = match store.manifest(name) {
        Err(StoreError::Bulk { .. }) => store.manifest_without_bulk(name),
        read => read,
    };
    let Some(manifest) = manifest? else {
        if matches!(
            recovered,
            Some(Recovery::Abandoned { .. } | Recovery::JournalReplaced { .. })
        ) {
            // A first apply given up: its flush journal and objects go.
            stayed.extend(Leftover::all(store.remove_install(name)?.stuck, 0));
        }
        let something = !stayed.is_empty()
            || matches!(
                recovered,
                Some(
                    Recovery::Flushed { .. }
                        | Recovery::Debris { .. }
                        | Recovery::Abandoned { .. }
                        | Recovery::JournalReplaced { .. }
                        | Recovery::Unrecorded { .. }
                )
            );
        if something {
            return Ok(Flushed {
                manifest: None,
                detached: given_up,
                recovered,
                notices,
                cancelled: None,
                stayed: once_each(stayed),
            });
        }
        return Err(InstallError::NotInstalled(name.to_string()));
    };
    let (attached, cancelled, left) = flush_locked(store, &manifest, &mut notices)?;
    stayed.extend(left);
    Ok(Flushed {
        manifest: Some(manifest),
        detached: given_up.max(attached),
        recovered,
        notices,
        cancelled,
        stayed: once_each(stayed),
    })
}

/// `stayed` with each path once (recovery and the removal meet the same leftover).
fn once_each(mut stayed: Vec<Leftover>) -> Vec<Leftover> {
    let mut seen = std::collections::HashSet::new();
    stayed.retain(|l| seen.insert(l.stuck.path.clone()));
    stayed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::{leftovers::tests::stuck, recover::tests::collected};

    /// A flush says each leftover once, in its `stayed`, however many recoveries met
    /// it; a collection that only met leftovers is no recovery of its own then.
    #[test]
    fn a_flush_says_what_stayed_once() {
        let mut stayed = Vec::new();
        let only_stuck = Some(Recovery::Collected {
            removed: Vec::new(),
            stuck: vec![stuck("g9", 2)],
        });
        assert_eq!(take_stuck(only_stuck, &mut stayed), None);
        let kept = take_stuck(collected(vec![stuck("g8", 2)]), &mut stayed);
        assert_eq!(kept, collected(Vec::new()));
        let debris = Some(Recovery::Debris {
            removed: Vec::new(),
            stuck: vec![stuck("g7", 0)],
        });
        assert_eq!(take_stuck(debris, &mut stayed), None);
        stayed.push(stuck("g9", 2));
        let files: Vec<String> = once_each(stayed)
            .into_iter()
            .map(|l| l.stuck.file)
            .collect();
        assert_eq!(files, ["g9", "g8", "g7"]);
    }
}
