//! Leftovers of an interrupted command that recovery's garbage collection could not
//! remove ([`Leftover`]: a mount on a stray directory, a file system that refuses),
//! and whether a command may go on beside one ([`Leftover::passable`];
//! `recover::refuse_changes` decides for a command).
//!
//! Invariant: a command that only reads (`status`, `show`, `diff --installed`) goes on
//! and says them as a warning; a command that changes the install goes on only beside
//! a leftover it can never write into or take up (a generation directory whose number
//! no later generation takes, [`Leftover::passable`]), and otherwise stops before its
//! first change with `InstallError::Leftovers`, which names each leftover's path,
//! says what an interrupted command left, and how to remove it. A flush stops beside
//! every one: it removes the install's whole directory, which the leftover keeps.

use std::fmt;

use crate::store::Stuck;

/// A leftover that could not be removed, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    pub stuck: Stuck,
    kind: Kind,
    /// The generation committed when it was found.
    committed: u64,
}

/// What a leftover is, by its name in the install's directory (the names
/// `Store::collect_garbage` collects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `*_new`: a record written half (the manifest, the journal, a bulk record).
    HalfWritten,
    /// `gN`: a generation's objects that no record names.
    Generation(u64),
    /// `keep_*`: a sockmap group's shared map that the manifest does not keep.
    SharedMap,
    /// `bulk_*`: set entries or rule text that no record names.
    Bulk,
}

impl Leftover {
    /// `stuck`, found beside committed generation `committed`.
    pub(crate) fn new(stuck: Stuck, committed: u64) -> Leftover {
        let file = stuck.file.as_str();
        let kind = if file.ends_with("_new") {
            Kind::HalfWritten
        } else if let Some(n) = file.strip_prefix('g').and_then(|n| n.parse().ok()) {
            Kind::Generation(n)
        } else if file.starts_with("keep_") {
            Kind::SharedMap
        } else {
            Kind::Bulk
        };
        Leftover {
            stuck,
            kind,
            committed,
        }
    }

    /// Whether a command that changes the install (but does not remove it) can go on
    /// beside this leftover without touching it.
    ///
    /// - A generation directory numbered at most the committed generation: a
    ///   generation replaced (its programs swapped off every hook before the manifest
    ///   stopped naming it) or one rolled back; no hook runs its programs, and a new
    ///   generation is always numbered past the committed one, so no command pins
    ///   into it. One numbered past it (what an apply killed before its journal
    ///   leaves) is the very directory the next new generation is made in: no.
    /// - A half-written record: every record is written under that name and renamed
    ///   into place; one that stays makes the command's own writes fail, the
    ///   manifest's at its commit after hooks changed among them: no.
    /// - A sockmap group's shared map: an apply whose file has that group again
    ///   takes up the pinned map, and the sockets still in it, as its own: no.
    /// - A bulk record: a record of the same digest is written beside it and renamed
    ///   over it, which fails where it cannot be removed: no.
    pub fn passable(&self) -> bool {
        matches!(self.kind, Kind::Generation(n) if n <= self.committed)
    }

    /// What it is, in words.
    fn what(&self) -> &'static str {
        match self.kind {
            Kind::HalfWritten => "a record an interrupted command wrote half",
            Kind::Generation(_) => "objects of a generation no record names",
            Kind::SharedMap => "a socket map no record keeps",
            Kind::Bulk => "set entries or rule text no record names",
        }
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.stuck.path.display(),
            self.what(),
            self.stuck.why
        )
    }
}

/// Each leftover as [`Leftover`]'s text, joined.
pub(crate) fn list(stuck: &[Leftover]) -> String {
    let items: Vec<String> = stuck.iter().map(Leftover::to_string).collect();
    items.join("; ")
}

/// How to remove `stuck` by hand: the shell commands, every path named (what makes a
/// pin or directory on bpffs unremovable for root is a mount on it, the usual case, or
/// something the file system refuses, for which `rm` says why).
pub(crate) fn how_to_remove(stuck: &[Leftover]) -> String {
    let paths: Vec<String> = stuck
        .iter()
        .map(|l| l.stuck.path.display().to_string())
        .collect();
    let paths = paths.join(" ");
    // Once nothing is mounted on it, the next command's collection removes it.
    format!(
        "`umount {paths}` if something is mounted on it (`mountpoint` says), else \
         `rm -r --one-file-system {paths}`"
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;

    pub(crate) fn stuck(file: &str, committed: u64) -> Leftover {
        let s = Stuck {
            file: file.to_string(),
            path: PathBuf::from("/sys/fs/bpf/sockc/x").join(file),
            why: "Device or resource busy (os error 16)".to_string(),
        };
        Leftover::new(s, committed)
    }

    /// Only a generation numbered at most the committed one lets a change go on.
    #[test]
    fn only_an_old_generation_is_passable() {
        assert!(stuck("g3", 3).passable());
        assert!(stuck("g1", 3).passable());
        assert!(
            !stuck("g4", 3).passable(),
            "the next generation's directory"
        );
        assert!(!stuck("g99", 1).passable());
        for file in [
            "manifest_new",
            "journal_new",
            "keep_sockmap_x_conns",
            "bulk_ab12",
        ] {
            assert!(!stuck(file, 3).passable(), "{file}");
        }
    }
}
