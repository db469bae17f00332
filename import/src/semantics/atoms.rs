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
            AtomKind::Iif(_) | AtomKind::Oif(_) => Some(Feature::Interface),
            AtomKind::InSet { .. } => None,
            AtomKind::Cgroup(_) => Some(Feature::Owner),
            AtomKind::Opaque { feature, .. } => Some(*feature),
        }
    }
}

/// Whether interface `name` matches the pattern netfilter was given.
pub fn iface_matches(pattern: &str, name: &str) -> bool {
    match pattern
        .strip_suffix('+')
        .or_else(|| pattern.strip_suffix('*'))
    {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
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
            _ => None,
        }
    }
}
