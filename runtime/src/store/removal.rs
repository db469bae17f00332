//! What leaves the store, and in which order: an install's directory removed whole,
//! a generation's objects, one pin, the journal once its work is done, and the
//! garbage a killed command left (half-written records, generations and shared maps
//! no record names, bulk records neither record names).
//!
//! Invariant: an install is removed in one order ([`Store::remove_install`]:
//! generations, attachments and other pins, the manifest, its bulk records, the
//! journal last, then the directory), so a removal cut short leaves either the journal
//! that says to finish it or a directory with no record at all, which is debris every
//! command removes; nothing is removed through a symbolic link, and a link in an
//! install's place is no install. The garbage collection tries every leftover and
//! returns those it could not remove ([`Stuck`]): whether a command may go on beside
//! one is the install's to decide (`install::leftovers`), not the store's. What is
//! garbage is decided by name in one place ([`Litter::of`]), which also tells the
//! install what a leftover is. Removing an install goes on past a pin or directory it
//! cannot remove (a mount on it) and returns it ([`Removed::stuck`]): every other file
//! goes, records last, so that a flush beside a stuck leftover leaves a directory that
//! holds nothing but what it could not remove. A link's pin or a sockmap group's map
//! is no such leftover: one that stays stops the removal with the records kept (it may
//! still hold a hook).

use std::{
    os::{fd::AsFd, unix::fs::MetadataExt},
    path::Path,
};

use super::{
    bulk,
    error::{io_err, StoreError},
    pinned_record::{parse_record, read_record},
    pins::{is_mount_root, remove_tree, unlink, Stuck},
    Store,
};
use crate::{fault::point, sys};

/// What a file of an install's directory is, by its name, among the names a command
/// killed before it recorded them leaves ([`Store::collect_garbage`] and the bulk
/// collection remove those no record names); `None` for every other name, which no
/// collection touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Litter {
    /// `*_new`: a record written half (the manifest, the journal, a bulk record).
    HalfWritten,
    /// `gN` (one digit or more): a generation's objects.
    Generation(u64),
    /// `keep_*` of a sockmap group's map: a shared socket map.
    SharedMap,
    /// `bulk_*`: set entries or rule text.
    Bulk,
}

impl Litter {
    /// The kind of `file` (a name in an install's directory), if it is one a killed
    /// command can leave. A generation number past `u64` is still a generation
    /// (the largest, which no command reaches); a bare `g` is no name sockc makes.
    pub fn of(file: &str) -> Option<Litter> {
        if file.ends_with("_new") {
            return Some(Litter::HalfWritten);
        }
        if let Some(n) = file.strip_prefix('g') {
            let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            return digits.then(|| Litter::Generation(n.parse().unwrap_or(u64::MAX)));
        }
        // Kept maps of sockmap groups only (the sk_lookup socket map is the install's
        // for as long as it exists).
        let shared = file
            .strip_prefix("keep_")
            .is_some_and(|m| sockc_compiler::ir::sockmap::MapRole::of_map(m).is_some());
        if shared {
            return Some(Litter::SharedMap);
        }
        file.starts_with(bulk::PREFIX).then_some(Litter::Bulk)
    }
}

/// What [`Store::remove_install`] did: the files it removed besides the records, and
/// those it could not remove (then the directory stays, holding only those).
#[derive(Debug, Default)]
pub struct Removed {
    pub removed: Vec<String>,
    pub stuck: Vec<Stuck>,
}

impl Store {
    /// Removes the directory of a generation's objects, pin by pin.
    pub fn remove_objects(&self, name: &str, dir: &str) -> Result<(), StoreError> {
        remove_tree(&self.objects_dir(name, dir))
    }

    /// Removes one pin of an install's directory.
    pub fn remove_pin(&self, path: &Path) -> Result<(), StoreError> {
        unlink(path)
    }

    /// What install `name`'s directory holds that only a recorded install has: its
    /// generations' directories (`g<N>/`) and its hooks' links (`link_*`), sorted, with
    /// the ids of the programs pinned in those generations. A first apply killed
    /// before its journal has pinned neither, and [`Store::remove_install`] takes them
    /// off before the records that name them: a directory that holds them with neither
    /// record had its manifest removed by something else. Something mounted on such a
    /// name is not counted: sockc never pins across a mount, so it holds nothing of
    /// sockc's (a leftover a flush could not remove, [`Removed::stuck`]); nor is an
    /// empty generation directory (such a leftover once unmounted).
    pub fn unrecorded_objects(&self, name: &str) -> (Vec<String>, Vec<u32>) {
        let Ok(entries) = std::fs::read_dir(self.dir(name)) else {
            return (Vec::new(), Vec::new());
        };
        let (mut held, mut programs) = (Vec::new(), Vec::new());
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if is_mount_root(&e.path()) {
                continue;
            }
            let is_generation = e.file_type().is_ok_and(|t| t.is_dir())
                && matches!(Litter::of(&file), Some(Litter::Generation(_)));
            if is_generation {
                let mut pins = 0;
                for p in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                    pins += 1;
                    if !p.file_name().to_string_lossy().starts_with("prog_") {
                        continue;
                    }
                    let info = sys::obj_get(&p.path()).and_then(|fd| sys::prog_info(fd.as_fd()));
                    programs.extend(info.map(|i| i.id));
                }
                // An empty one holds nothing a hook could run (what stays of a mount
                // once it is unmounted): debris like any other.
                if pins > 0 {
                    held.push(format!("{file}/"));
                }
            } else if file.starts_with("link_") {
                held.push(file);
            }
        }
        held.sort();
        programs.sort();
        (held, programs)
    }

    /// Takes off the hooks of install `name`'s `link_*` pins (each a link of its own:
    /// an XDP dispatcher is the install's too, its slot pinned beside its link), so
    /// that a flush of an install no record names stops filtering when it returns,
    /// not when the kernel gets round to freeing a link whose last pin went. Returns
    /// how many were taken off.
    pub fn detach_unrecorded_links(&self, name: &str) -> usize {
        let Ok(entries) = std::fs::read_dir(self.dir(name)) else {
            return 0;
        };
        let mut detached = 0;
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().starts_with("link_") {
                continue;
            }
            // A slot's program array is pinned as `link_*_slot`: not a link, so the
            // kernel refuses to detach it.
            let Ok(fd) = sys::obj_get(&e.path()) else {
                continue;
            };
            if sys::link_detach(fd.as_fd()).is_ok() {
                detached += 1;
            }
        }
        detached
    }

    /// Removes install `name`'s directory in the one order that a kill at any point
    /// leaves recoverable (see the module docs): each generation directory's pins and
    /// the directory; the other pins (links, kept maps, the registry, half-written
    /// records); the manifest; the journal; the directory. Returns what was there
    /// besides the records, and what could not be removed but for the records (a mount
    /// on it, a file system that refuses): the rest still goes, and the directory stays
    /// holding only that, which the next command's recovery finds as debris it cannot
    /// remove. A record that cannot be removed stops it (the journal stays, and says to
    /// finish), and so does a link's pin or a sockmap group's map
    /// ([`StoreError::HookPinStuck`]): a mount on it also hid it from the caller's
    /// detach, so its hook may still run the install's program, which no "flushed"
    /// may leave unsaid. Nothing of the install is attached by it: hooks are taken off first by
    /// the caller, and pins held by nothing else go with their files.
    pub fn remove_install(&self, name: &str) -> Result<Removed, StoreError> {
        let dir = self.dir(name);
        // Never through a link: the files of the directory it leads to are not sockc's.
        if let Ok(m) = std::fs::symlink_metadata(&dir) {
            if !m.is_dir() {
                return Err(StoreError::Unsafe {
                    path: dir,
                    uid: m.uid(),
                    mode: m.mode() & 0o7777,
                });
            }
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Removed::default());
        };
        let mut files: Vec<(String, bool)> = entries
            .flatten()
            .map(|e| {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                (e.file_name().to_string_lossy().into_owned(), is_dir)
            })
            .collect();
        // Generations first, then other pins, then the manifest, then the journal.
        // Bulk records after the manifest that names them, before the journal.
        let rank = |(f, is_dir): &(String, bool)| match (f.as_str(), is_dir) {
            (_, true) => 0,
            ("manifest", _) => 2,
            (f, _) if f.starts_with(bulk::PREFIX) => 3,
            ("journal", _) => 4,
            _ => 1,
        };
        files.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.0.cmp(&b.0)));
        let mut out = Removed::default();
        for (file, is_dir) in &files {
            let path = dir.join(file);
            // A record, or a pin that holds a hook: one that stays stops the removal
            // (a mount on such a pin also hid it from the detach before: its hook may
            // still run the install's program).
            let stops = matches!(file.as_str(), "manifest" | "journal") || holds_a_hook(file);
            let gone = if *is_dir {
                remove_tree(&path)
            } else {
                unlink(&path)
            };
            match gone {
                Err(e) if !stops => out.stuck.push(Stuck::new(file.clone(), path, &e)),
                Err(StoreError::Io { path, source }) if holds_a_hook(file) => {
                    return Err(StoreError::HookPinStuck { path, source })
                }
                Err(e) => return Err(e),
                Ok(()) if *is_dir => out.removed.push(format!("{file}/")),
                Ok(())
                    if !matches!(file.as_str(), "manifest" | "journal")
                        && !file.starts_with(bulk::PREFIX) =>
                {
                    out.removed.push(file.clone())
                }
                Ok(()) => {}
            }
        }
        if !out.stuck.is_empty() {
            // The directory is not empty: it stays, holding only what is stuck.
            return Ok(out);
        }
        point(&format!("rmdir {}", dir.display()));
        match std::fs::remove_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(out),
        }
    }

    /// Removes the journal: the work it recorded is done or undone. Bulk records that
    /// stay are garbage the next collection says.
    pub fn clear_journal(&self, name: &str) -> Result<(), StoreError> {
        let path = self.dir(name).join("journal");
        if path.exists() {
            unlink(&path)?;
        }
        self.collect_bulk(name).map(|_| ())
    }

    /// Removes the bulk records of install `name` that no record names: those of an
    /// apply that failed before its journal named them. Best effort: what stays is
    /// garbage the next journal's end collects.
    pub fn collect_unnamed_bulk(&self, name: &str) {
        let _ = self.collect_bulk(name);
    }

    /// Removes the bulk records neither the manifest nor the journal names (those of
    /// a generation replaced or rolled back); nothing when one cannot be read.
    fn collect_bulk(&self, name: &str) -> Result<(Vec<String>, Vec<Stuck>), StoreError> {
        match self.bulk_in_use(name) {
            Some(refs) => bulk::collect(&self.dir(name), &refs),
            None => Ok((Vec::new(), Vec::new())),
        }
    }

    /// The bulk references the install's manifest and journal records hold, read
    /// without their bulk (the manifest's as this command remembers them while its pin
    /// is the one it read or wrote: `Store::manifest_refs`); `None` if one of them
    /// cannot be read.
    fn bulk_in_use(&self, name: &str) -> Option<Vec<bulk::BulkRefs>> {
        let mut refs = Vec::from_iter(self.manifest_refs(name).ok()?);
        let path = self.dir(name).join("journal");
        if let Some(bytes) = read_record(&path, "journal").ok()? {
            refs.push(
                parse_record::<bulk::WithBulk>(&bytes, "journal", &path)
                    .ok()?
                    .bulk,
            );
        }
        Some(refs)
    }

    /// Removes half-written records (`*_new`), generation directories that neither
    /// the manifest nor the journal names, and shared maps (`keep_*`) not in
    /// `keep_maps`: what a killed command left behind before it recorded anything.
    /// Returns what it removed and what it could not (each leftover is tried).
    pub fn collect_garbage(
        &self,
        name: &str,
        keep: &[&str],
        keep_maps: &[String],
    ) -> Result<(Vec<String>, Vec<Stuck>), StoreError> {
        let dir = self.dir(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let (mut removed, mut stuck) = (Vec::new(), Vec::new());
        for e in entries {
            let e = e.map_err(io_err(&dir))?;
            let file = e.file_name().to_string_lossy().into_owned();
            if !is_garbage(&file, keep, keep_maps) {
                continue;
            }
            // A link under such a name goes itself, never what it leads to.
            match remove_tree(&e.path()) {
                Ok(()) => removed.push(file),
                Err(err) => stuck.push(Stuck::new(file, e.path(), &err)),
            }
        }
        let (bulk_removed, bulk_stuck) = self.collect_bulk(name)?;
        removed.extend(bulk_removed);
        stuck.extend(bulk_stuck);
        Ok((removed, stuck))
    }
}

/// Whether `file` of an install's directory is a pin through which the install's
/// programs hold a hook: one of its links (`BPF_LINK_DETACH` through it takes the
/// hook off, and the link goes when its pin does), or a sockmap group's map (its
/// verdict programs are taken out through it, and the sockets in it keep running them
/// while it lives).
fn holds_a_hook(file: &str) -> bool {
    file.starts_with("link_") || Litter::of(file) == Some(Litter::SharedMap)
}

/// Whether `file` of an install's directory is what a killed command left: a
/// half-written record, a generation directory `keep` does not name, or a sockmap
/// group's shared map `keep_maps` does not name (bulk records are the bulk
/// collection's, which reads the records for the digests they name).
fn is_garbage(file: &str, keep: &[&str], keep_maps: &[String]) -> bool {
    match Litter::of(file) {
        Some(Litter::HalfWritten) => true,
        Some(Litter::Generation(_)) => !keep.contains(&file),
        Some(Litter::SharedMap) => !keep_maps.iter().any(|k| k == file),
        Some(Litter::Bulk) | None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One reading of a name: what the collection removes is what the install is
    /// told it is; a bare `g` or an unknown name is neither.
    #[test]
    fn litter_is_read_from_the_name_once() {
        let sockmap = "keep_socks_web";
        assert_eq!(Litter::of(sockmap), Some(Litter::SharedMap));
        assert_eq!(Litter::of("keep_sk_lookup"), None, "the install's own");
        assert_eq!(Litter::of("manifest_new"), Some(Litter::HalfWritten));
        assert_eq!(Litter::of("bulk_ab12_new"), Some(Litter::HalfWritten));
        assert_eq!(Litter::of("g7"), Some(Litter::Generation(7)));
        assert_eq!(
            Litter::of("g99999999999999999999999"),
            Some(Litter::Generation(u64::MAX))
        );
        assert_eq!(Litter::of("bulk_ab12"), Some(Litter::Bulk));
        for other in ["g", "gx1", "manifest", "journal", "link_x", "registry"] {
            assert_eq!(Litter::of(other), None, "{other}");
            assert!(!is_garbage(other, &[], &[]), "{other}");
        }
        assert!(is_garbage("g7", &["g6"], &[]));
        assert!(!is_garbage("g7", &["g7"], &[]));
        assert!(!is_garbage("bulk_ab12", &[], &[]), "the bulk collection's");
        assert!(!is_garbage(sockmap, &[], &[sockmap.to_string()]));
        assert!(is_garbage(sockmap, &[], &[]));
    }

    /// A private bpffs with a store on it, and the mounts a test put on its pins, all
    /// gone when dropped.
    struct Scratch {
        bpffs: std::path::PathBuf,
        mounts: Vec<std::path::PathBuf>,
    }

    impl Scratch {
        fn new() -> Scratch {
            let bpffs =
                std::env::temp_dir().join(format!("sockc-unit-removal-{}", std::process::id()));
            std::fs::create_dir(&bpffs).expect("mount point");
            let s = Scratch {
                bpffs,
                mounts: Vec::new(),
            };
            s.mount(&["-t", "bpf", "bpf"], &s.bpffs.clone());
            s
        }

        fn mount(&self, args: &[&str], on: &Path) {
            let ok = std::process::Command::new("mount")
                .args(args)
                .arg(on)
                .status()
                .expect("mount");
            assert!(ok.success(), "mount {args:?} {}", on.display());
        }

        /// `/dev/null` bound over the pin at `path`.
        fn busy(&mut self, path: &Path) {
            self.mount(&["--bind", "/dev/null"], path);
            self.mounts.push(path.to_path_buf());
        }

        /// A tmpfs mounted over the directory at `path`.
        fn busy_dir(&mut self, path: &Path) {
            self.mount(&["-t", "tmpfs", "sockc-unit-busy"], path);
            self.mounts.push(path.to_path_buf());
        }

        fn pin(path: &Path) {
            let map = crate::sys::create_array("unit", 4, 1).expect("a map");
            crate::sys::obj_pin(map.as_fd(), path).expect("pinned");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            for m in self.mounts.iter().rev().chain([&self.bpffs]) {
                let _ = std::process::Command::new("umount").arg(m).status();
            }
            let _ = std::fs::remove_dir(&self.bpffs);
        }
    }

    /// A link's pin or a sockmap group's map that cannot be removed (a mount on it,
    /// which also hid it from the detach before) stops the removal with the install
    /// still recorded, and says the path and the fix: its hook may still run the
    /// install's program, so a flush must not say every hook is off. Anything else
    /// that stays (a generation directory) does not. Root only (it mounts).
    #[test]
    fn a_pin_holding_a_hook_that_stays_stops_the_removal_with_the_records_kept() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        let mut scratch = Scratch::new();
        let store = Store::open(&scratch.bpffs, std::time::Duration::from_secs(5)).expect("store");
        for held in ["link_cg_out_x", "keep_socks_web"] {
            let (dir, pin) = (store.dir(held), store.dir(held).join(held));
            std::fs::create_dir(&dir).expect("install directory");
            for p in ["manifest", held, "registry"] {
                Scratch::pin(&dir.join(p));
            }
            scratch.busy(&pin);
            let err = store
                .remove_install(held)
                .expect_err("a pin holding a hook stays");
            let text = err.to_string();
            assert!(matches!(err, StoreError::HookPinStuck { .. }), "{text}");
            assert!(
                text.contains(&format!("`umount {}`", pin.display())),
                "{text}"
            );
            assert!(dir.join("manifest").exists(), "the install stays recorded");
        }
        let dir = store.dir("g");
        std::fs::create_dir_all(dir.join("g9")).expect("a generation directory");
        Scratch::pin(&dir.join("manifest"));
        scratch.busy_dir(&dir.join("g9"));
        let removed = store.remove_install("g").expect("goes on beside it");
        assert_eq!(removed.stuck.len(), 1, "{removed:?}");
        assert!(!dir.join("manifest").exists(), "the records went");
    }
}
