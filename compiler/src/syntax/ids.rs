//! Users and groups as the language names them (`uid 1001`, `gid 100-199`, `uid { 0,
//! 1001 }`, `user "www-data"`, `group { "a", "b" }`): as written ([`IdMatch`], with a
//! span per item, what the parser builds), and resolved to numbers ([`IdSet`], what
//! sema makes of it once names are looked up, what the IR, the object's metadata and
//! the runtime keep). Today `socket ... owner IDS` uses them (who may own a socket
//! that is registered for sk_lookup); rule conditions on a socket's user or group can
//! share both types, the grammar's `id_match` and sema's resolution.
//!
//! Invariant: an [`IdSet`]'s ranges are sorted, disjoint, not adjacent, and never
//! hold `u32::MAX` (`(uid_t)-1`, which names no user: the kernel's "no change" and
//! the overflow id of a user namespace are 65534, not it).

use serde::{Deserialize, Serialize};

use crate::diag::Span;

/// User ids or group ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Uid,
    Gid,
}

impl IdKind {
    /// `uid` or `gid`.
    pub fn number_word(self) -> &'static str {
        match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        }
    }

    /// `user` or `group`.
    pub fn name_word(self) -> &'static str {
        match self {
            IdKind::Uid => "user",
            IdKind::Gid => "group",
        }
    }
}

/// One item as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdItem {
    /// `1001` (`lo == hi`) or `1000-1999`, unchecked.
    Numbers { lo: u64, hi: u64, span: Span },
    /// `"www-data"`, looked up when the file is compiled.
    Name { name: String, span: Span },
}

/// `uid ...`, `gid ...`, `user ...` or `group ...`, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMatch {
    pub kind: IdKind,
    /// Written with `user`/`group` (names), not `uid`/`gid` (numbers).
    pub by_name: bool,
    pub items: Vec<IdItem>,
    pub span: Span,
}

/// Ids resolved to numbers, and how they were written (for messages).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdSet {
    pub kind: IdKind,
    /// Inclusive ranges; see the module's invariant.
    pub ranges: Vec<(u32, u32)>,
    /// As the file wrote it, names with the numbers they resolved to: `user
    /// "www-data" (uid 33)`, `uid 1000-1999`.
    pub written: String,
}

impl IdSet {
    /// What a socket declaration with neither `cgroup` nor `owner` accepts: sockets
    /// of uid 0.
    pub fn root() -> IdSet {
        IdSet {
            kind: IdKind::Uid,
            ranges: vec![(0, 0)],
            written: "uid 0 (root: the declaration names no `owner` and no `cgroup`)".to_string(),
        }
    }

    /// Builds a set from unordered, possibly overlapping ranges (merged here).
    pub fn new(kind: IdKind, mut ranges: Vec<(u32, u32)>, written: String) -> IdSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        IdSet {
            kind,
            ranges: merged,
            written,
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= id && id <= hi)
    }
}

impl std::fmt::Display for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges are merged when they overlap or touch; membership is by range.
    #[test]
    fn ranges_merge_and_contain() {
        let s = IdSet::new(
            IdKind::Uid,
            vec![(10, 20), (0, 0), (21, 30), (15, 16), (40, 40)],
            String::new(),
        );
        assert_eq!(s.ranges, [(0, 0), (10, 30), (40, 40)]);
        for (id, inside) in [(0, true), (1, false), (10, true), (30, true), (31, false)] {
            assert_eq!(s.contains(id), inside, "{id}");
        }
        assert!(IdSet::root().contains(0) && !IdSet::root().contains(65534));
    }
}
