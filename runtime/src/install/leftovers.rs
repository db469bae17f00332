//! Leftovers of an interrupted command that recovery's garbage collection could not
//! remove ([`Leftover`]: a mount on a stray directory, a file system that refuses),
//! and whether a command may go on beside one ([`Leftover::passable`];
//! `recover::refuse_changes` decides for a command).
//!
//! Invariant: a command that only reads (`status`, `show`, `diff --installed`, `stats`,
//! `trace`; `stats --reset` too, which changes no pin) goes on and says them as a
//! warning; a command that changes the install goes on only beside
//! a leftover it can never write into or take up (a generation directory whose number
//! no later generation takes, [`Leftover::passable`]), and otherwise stops before its
//! first change with `InstallError::Leftovers`, which names each leftover's path,
//! says what an interrupted command left, and how to remove it. A flush goes on beside
//! every one: it takes every hook off and removes all else, and the directory stays
//! holding only what could not go, which it names with the fix ([`stayed_note`]); the
//! next command finds that directory as debris it cannot remove, and a new install
//! under the name stops beside it as beside any other leftover.

use std::fmt;

use crate::store::{Litter, Stuck};

/// A leftover that could not be removed, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    pub stuck: Stuck,
    /// What it is by its name (the store's one reading, [`Litter::of`]); `None`: a
    /// pin or directory of the install that a flush could not remove.
    kind: Option<Litter>,
    /// The generation committed when it was found (0: none).
    committed: u64,
}

impl Leftover {
    /// `stuck`, found beside committed generation `committed`.
    pub(crate) fn new(stuck: Stuck, committed: u64) -> Leftover {
        Leftover {
            kind: Litter::of(&stuck.file),
            stuck,
            committed,
        }
    }

    /// Each of `stuck` (what a removal could not remove), beside committed generation
    /// `committed`.
    pub(crate) fn all(stuck: Vec<Stuck>, committed: u64) -> Vec<Leftover> {
        stuck
            .into_iter()
            .map(|s| Leftover::new(s, committed))
            .collect()
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
        matches!(self.kind, Some(Litter::Generation(n)) if n <= self.committed)
    }

    /// What it is, in words.
    pub fn what(&self) -> &'static str {
        match self.kind {
            Some(Litter::HalfWritten) => "a record an interrupted command wrote half",
            Some(Litter::Generation(_)) => "objects of a generation no record names",
            Some(Litter::SharedMap) => "a socket map no record keeps",
            Some(Litter::Bulk) => "set entries or rule text no record names",
            None => "a pin of the install no record names",
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

/// What `sockc status` shows beside `stuck`: the install, or (found with no install,
/// what a flush or an undone first apply left) only the leftover.
pub(crate) fn what_status_shows(stuck: &[Leftover]) -> &'static str {
    if stuck.iter().all(|l| l.committed == 0) {
        "nothing is installed under the name, and `sockc status` says what stays"
    } else {
        "`sockc status` still shows the install"
    }
}

/// What stayed after a flush (or on the way to one), and the fix: `stuck`, each named,
/// in the install's directory, and how to remove it by hand; the next command's
/// collection removes the rest.
pub fn stayed_note(stuck: &[Leftover]) -> String {
    format!(
        "sockc could not remove {}, and the install's directory stays holding it \
         (nothing of it runs on any hook). Remove it by hand ({}): until then a new \
         install under this name may refuse",
        list(stuck),
        how_to_remove(stuck)
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
        assert!(stuck("g0", 0).passable(), "no generation 0 is ever made");
        assert!(!stuck("g1", 0).passable(), "a first apply's");
        for file in [
            "manifest_new",
            "journal_new",
            "keep_socks_x",
            "bulk_ab12",
            "link_x",
            "g",
        ] {
            assert!(!stuck(file, 3).passable(), "{file}");
        }
    }
}
