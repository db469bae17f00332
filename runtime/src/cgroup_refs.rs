//! The `cgroups` map of an object whose rules have `cgroup "PATH"` matches
//! (`sockc_compiler::bpf::cgroup_match`): each named cgroup's level and id, read from
//! its directory ([`crate::cgroup::level_and_id`]) when the object is loaded and when
//! an install is repaired, and compared with the directory now by `status`
//! ([`drifted`]): a cgroup removed, or re-created under its path (a restarted
//! systemd unit gets a new cgroup, with a new id), is drift until a repair or
//! re-apply writes the new id.
//!
//! Invariant: [`write`] reads every directory before it writes any slot, so a
//! missing cgroup leaves the map as it was (an apply fails with nothing applied).
//! Each slot is one map update, a fault point of its own: a repair killed between two
//! leaves the slots not yet written stale, which `status` still reports and the next
//! repair writes.

use std::{io, os::fd::BorrowedFd, path::PathBuf};

use sockc_compiler::bpf::cgroup_match::CgroupRef;

/// A slot that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error(
        "cgroup {cgroup:?} of a `cgroup` match ({dir}): {source}{advice}",
        dir = .dir.display(),
        advice = advice(.source)
    )]
    Cgroup {
        cgroup: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the levels and ids of the named cgroups (map `cgroups`): {source}")]
    Map {
        #[source]
        source: io::Error,
    },
}

/// What to do about a named cgroup that cannot be read: only a missing one is to be
/// made; a file, a cgroup v1 directory or a mount seen from a cgroup namespace say
/// what is wrong themselves.
fn advice(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => {
            "; create it (or start the service) before applying, or change the rule file"
        }
        _ => "",
    }
}

/// The level and id of the cgroup a `cgroup` match names (a path or `unit:NAME`), now.
pub fn resolve(cgroup: &str) -> Result<CgroupRef, RefError> {
    let dir = crate::cgroup::dir_of(cgroup);
    let (level, id) = crate::cgroup::level_and_id(&dir).map_err(|source| RefError::Cgroup {
        cgroup: cgroup.into(),
        dir: dir.clone(),
        source,
    })?;
    Ok(CgroupRef { id, level })
}

/// Writes every cgroup's level and id into its slot of `map` (slot `i` for
/// `cgroups[i]`), after reading them all; returns what it wrote. With
/// `missing_empty`, a cgroup that cannot be read leaves its slot empty (id 0: a
/// cgroup nothing is in) instead of failing.
pub fn write(
    map: BorrowedFd<'_>,
    cgroups: &[String],
    missing_empty: bool,
) -> Result<Vec<CgroupRef>, RefError> {
    let refs = cgroups
        .iter()
        .map(|c| match resolve(c) {
            Err(RefError::Cgroup { .. }) if missing_empty => Ok(CgroupRef { id: 0, level: 0 }),
            r => r,
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (slot, r) in refs.iter().enumerate() {
        crate::fault::point(&format!(
            "write cgroup {:?}'s id into slot {slot}",
            cgroups[slot]
        ));
        crate::sys::map_update(map, &(slot as u32).to_ne_bytes(), &r.to_bytes(), 0)
            .map_err(|source| RefError::Map { source })?;
    }
    Ok(refs)
}

/// Writes again the slot of each of `cgroups` whose path names another cgroup than
/// the slot holds (re-created under its path); a cgroup that is gone keeps its slot,
/// the id of a cgroup no longer there (cgroup ids are not reused), which no process
/// is in, as none is in the path.
pub fn rewrite_stale(map: BorrowedFd<'_>, cgroups: &[String]) -> Result<Rewritten, RefError> {
    let mut out = Rewritten::default();
    for s in stale(map, cgroups).map_err(|source| RefError::Map { source })? {
        match s.now {
            Ok(now) => {
                let slot = s.slot;
                crate::fault::point(&format!("write cgroup {:?}'s id into slot {slot}", s.name));
                crate::sys::map_update(map, &slot.to_ne_bytes(), &now.to_bytes(), 0)
                    .map_err(|source| RefError::Map { source })?;
                out.written.push(s.name.to_string());
            }
            Err(e) => out.gone.push((s.name.to_string(), gone(&e))),
        }
    }
    Ok(out)
}

/// What [`rewrite_stale`] did: the cgroups written, and the gone ones with why.
#[derive(Debug, Default)]
pub struct Rewritten {
    pub written: Vec<String>,
    pub gone: Vec<(String, String)>,
}

/// What slot `slot` of `map` holds.
pub fn read(map: BorrowedFd<'_>, slot: u32) -> io::Result<CgroupRef> {
    let bytes = crate::sys::map_lookup(map, &slot.to_ne_bytes(), CgroupRef::SIZE)?
        .unwrap_or_else(|| vec![0; CgroupRef::SIZE]);
    let id = u64::from_ne_bytes(bytes[..8].try_into().expect("8 bytes"));
    let level = u32::from_ne_bytes(bytes[8..12].try_into().expect("4 bytes"));
    Ok(CgroupRef { id, level })
}

/// Each named cgroup whose slot in `map` is not what its directory says now, with
/// why: gone, or re-created (another id).
pub fn drifted(map: BorrowedFd<'_>, cgroups: &[String]) -> io::Result<Vec<(String, String)>> {
    Ok(stale(map, cgroups)?
        .into_iter()
        .map(|s| {
            let why = match s.now {
                Ok(now) => format!(
                    "re-created: its id is {} now, the programs match id {}",
                    now.id, s.held.id
                ),
                Err(e) => gone(&e),
            };
            (s.name.to_string(), why)
        })
        .collect())
}

/// A named cgroup whose slot holds another cgroup than its path names now.
struct Stale<'c> {
    slot: u32,
    name: &'c str,
    held: CgroupRef,
    /// What the path names now, or why it names nothing.
    now: Result<CgroupRef, RefError>,
}

/// The named cgroups of `map`'s slots whose slot is stale, in slot order: what
/// [`drifted`] reports and [`rewrite_stale`] writes.
fn stale<'c>(map: BorrowedFd<'_>, cgroups: &'c [String]) -> io::Result<Vec<Stale<'c>>> {
    let mut out = Vec::new();
    for (slot, name) in cgroups.iter().enumerate() {
        let slot = slot as u32;
        let held = read(map, slot)?;
        let now = resolve(name);
        if now.as_ref().is_ok_and(|n| *n == held) {
            continue;
        }
        out.push(Stale {
            slot,
            name,
            held,
            now,
        });
    }
    Ok(out)
}

/// Why a named cgroup cannot be read, for a drift line that already names it (the
/// error's own text names it again and says what to do before an apply).
fn gone(e: &RefError) -> String {
    match e {
        RefError::Cgroup { source, .. } => format!("gone: {source}"),
        e => format!("gone: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_cgroup_is_to_be_created() {
        if crate::cgroup::cgroup2_root().is_none() {
            return; // every path is refused for want of cgroup v2 there
        }
        let missing = resolve("/sys/fs/cgroup/sockc-no-such-cgroup-here").expect_err("not there");
        assert!(missing.to_string().contains("create it"), "{missing}");
        let file = std::env::temp_dir().join(format!("sockc-cgroup-refs-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let not_dir = resolve(&file.display().to_string()).expect_err("a file");
        let _ = std::fs::remove_file(&file);
        assert!(!not_dir.to_string().contains("create it"), "{not_dir}");
    }

    #[test]
    fn a_gone_cgroup_is_named_once_in_its_drift_line() {
        let e = resolve("/sys/fs/cgroup/sockc-no-such-cgroup-here").expect_err("not there");
        let why = gone(&e);
        assert!(why.starts_with("gone: "), "{why}");
        assert!(!why.contains("sockc-no-such-cgroup-here"), "{why}");
        assert!(!why.contains("before applying"), "{why}");
    }
}
