//! The boolean tests a cube can carry besides its fields ([`crate::algebra::AtomId`]):
//! interface names, named-set lookups, and the matches the import keeps opaque. One
//! table per import interns them, so equal tests are one atom.
//!
//! Invariant: an atom's meaning depends only on its [`AtomKind`]; [`Atoms::decide`]
//! says what a placement knows about it (the input interface at an ingress hook),
//! and everything it does not know stays an atom.

use std::collections::HashMap;

use crate::{
    algebra::{AtomId, Dim},
    features::Feature,
    model::{CgroupTest, SetId},
};

/// What an atom tests.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AtomKind {
    /// The input interface matches this name (`+`/`*` at the end: a prefix).
    Iif(String),
    /// The output interface matches this name.
    Oif(String),
    /// The input interface has this index (nft's `iif`/`meta iif` with a number, or
    /// with `"lo"`: the loopback's index, 1 in every namespace).
    IifIndex(u32),
    /// The output interface has this index.
    OifIndex(u32),
    /// The field's value is in the named set.
    InSet { dim: Dim, set: SetId },
    /// The packet's socket's cgroup ([`CgroupTest`]): atoms of cgroups above and
    /// below each other are not independent, which `lower::cgroup` works out.
    Cgroup(CgroupTest),
    /// A match the import does not decompose; `key` is its normalized text.
    Opaque { feature: Feature, key: String },
}

impl AtomKind {
    /// What the language would need to express it (`None`: it can be written today).
    pub fn feature(&self) -> Option<Feature> {
        match self {
            AtomKind::Iif(_) | AtomKind::Oif(_) | AtomKind::IifIndex(_) | AtomKind::OifIndex(_) => {
                Some(Feature::Interface)
            }
            AtomKind::InSet { .. } => None,
            AtomKind::Cgroup(_) => Some(Feature::Owner),
            AtomKind::Opaque { feature, .. } => Some(*feature),
        }
    }
}

/// Whether interface `name` matches `pattern` ([`iface_pattern`]).
pub fn iface_matches(pattern: &str, name: &str) -> bool {
    match iface_pattern(pattern) {
        (stem, true) => name.starts_with(&stem),
        (literal, false) => literal == name,
    }
}

/// An interface name test as the import keeps it, in nft's spelling whatever the
/// format read: a trailing `*` makes it a prefix, a `\` makes the character after it
/// literal (`eth\*` is the device named `eth*`). Returns the name (unescaped) and
/// whether it is a prefix. iptables' own spelling (a trailing `+` is the prefix, a
/// `*` literal) is turned into this one as a rule is read (`names::iptables_iface`): each
/// format's wildcard is its own, and the other's character is part of a name.
pub fn iface_pattern(pattern: &str) -> (String, bool) {
    let mut name = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.extend(chars.next()),
            '*' if chars.peek().is_none() => return (name, true),
            c => name.push(c),
        }
    }
    (name, false)
}

/// The index nft compares for `iif`/`oif` written with `value`, when the import knows
/// it: a number is the index nft stored; `lo` is the loopback device, whose index is
/// 1 (`LOOPBACK_IFINDEX`) in every namespace. `None` for other names: nft looked them
/// up when the rule was loaded.
pub fn known_index(value: &str) -> Option<u32> {
    use sockc_compiler::syntax::iface::{LOOPBACK_IFINDEX, MAX_IFINDEX};
    if value == "lo" {
        return Some(LOOPBACK_IFINDEX);
    }
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| value.parse::<u32>().ok())
        .flatten()
        .filter(|n| (1..=MAX_IFINDEX).contains(n))
}

/// The index of the device named `name` where the import knows it ([`known_index`]
/// of `lo`), for deciding an index atom at a placement that knows only the name.
fn index_of_name(name: &str) -> Option<u32> {
    (name == "lo").then_some(sockc_compiler::syntax::iface::LOOPBACK_IFINDEX)
}

/// The interning table.
#[derive(Clone, Debug, Default)]
pub struct Atoms {
    kinds: Vec<AtomKind>,
    index: HashMap<AtomKind, AtomId>,
}

impl Atoms {
    pub fn intern(&mut self, kind: AtomKind) -> AtomId {
        if let Some(id) = self.index.get(&kind) {
            return *id;
        }
        let id = self.kinds.len() as AtomId;
        self.kinds.push(kind.clone());
        self.index.insert(kind, id);
        id
    }

    pub fn kind(&self, id: AtomId) -> &AtomKind {
        &self.kinds[id as usize]
    }

    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The truth value of `id` where the input interface is `iif` and the output
    /// interface `oif` (each `None` when the placement does not know it).
    pub fn decide(&self, id: AtomId, iif: Option<&str>, oif: Option<&str>) -> Option<bool> {
        match self.kind(id) {
            AtomKind::Iif(p) => iif.map(|name| iface_matches(p, name)),
            AtomKind::Oif(p) => oif.map(|name| iface_matches(p, name)),
            // Index 1 is the loopback's: any other named device's index is not 1.
            AtomKind::IifIndex(n) => iif.and_then(|name| decide_index(*n, name)),
            AtomKind::OifIndex(n) => oif.and_then(|name| decide_index(*n, name)),
            _ => None,
        }
    }
}

/// Whether the device called `name` has index `n`, where the import can tell: the
/// loopback is index 1 and no other device is.
fn decide_index(n: u32, name: &str) -> Option<bool> {
    match index_of_name(name) {
        Some(ix) => Some(ix == n),
        None => (n == sockc_compiler::syntax::iface::LOOPBACK_IFINDEX).then_some(false),
    }
}

#[cfg(test)]
mod iface_tests {
    use super::{iface_matches, iface_pattern};
    use crate::names::iptables_iface;

    /// Each format's wildcard is its own: nft's trailing `*` (and `\*` a literal
    /// star), iptables' trailing `+`; the other format's character is part of a name.
    #[test]
    fn each_format_keeps_its_own_wildcard() {
        assert_eq!(iface_pattern("eth*"), ("eth".into(), true));
        assert_eq!(iface_pattern("eth+"), ("eth+".into(), false));
        assert_eq!(iface_pattern("eth\\*"), ("eth*".into(), false));
        assert_eq!(iface_pattern("*"), ("".into(), true));
        assert_eq!(iptables_iface("eth+"), "eth*");
        assert_eq!(iptables_iface("eth*"), "eth\\*");
        assert_eq!(iptables_iface("+"), "*");
        assert_eq!(iptables_iface("a\\b"), "a\\\\b");
        for (pattern, name, matches) in [
            ("eth*", "eth0", true),
            ("eth+", "eth0", false),
            ("eth+", "eth+", true),
            ("eth\\*", "eth*", true),
            ("eth\\*", "eth0", false),
        ] {
            assert_eq!(iface_matches(pattern, name), matches, "{pattern} {name}");
        }
        for (arg, name, matches) in [
            ("eth+", "eth0", true),
            ("eth*", "eth0", false),
            ("eth*", "eth*", true),
        ] {
            assert_eq!(
                iface_matches(&iptables_iface(arg), name),
                matches,
                "{arg} {name}"
            );
        }
    }
}
