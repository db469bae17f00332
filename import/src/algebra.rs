//! Header-space cubes: the packets a condition admits, as one set of values per field
//! ([`Dim`]) and a set of boolean [`AtomId`]s for tests the import does not decompose
//! (interfaces, set lookups, rate limits, ...). Intersection is exact; subtraction
//! splits a cube into disjoint cubes; complements and unions are built from those.
//!
//! Invariants:
//! - A field that depends on another is constrained only together with it: an IPv4
//!   address only in cubes whose [`Dim::Family`] is IPv4 alone, a port only with a
//!   [`Dim::Proto`] of protocols that have ports, ICMP fields with ICMP, TCP flags
//!   with TCP. [`Cube::subtract`] keeps this by splitting fields in [`Dim`] order
//!   (family before addresses, protocol before ports): every cube stands for whole
//!   packets, never for "an IPv6 packet whose IPv4 source is ...".
//! - Atoms are independent booleans. Two atoms with related meanings (two rate
//!   limits, `-i eth+` and `-i eth0`) are not known to be related: an intersection
//!   may keep a cube that admits no real packet, never lose one that does.
//! - Interval sets are sorted, disjoint, non-adjacent and non-empty; an absent field
//!   means every value.

use std::cmp::Ordering;

/// A field of the packet (or of the state netfilter keeps about it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// 4 or 6.
    Family,
    /// The transport protocol (`meta l4proto`).
    Proto,
    Src4,
    Dst4,
    Src6,
    Dst6,
    SrcPort,
    DstPort,
    /// The TCP flags byte (FIN = bit 0 ... CWR = bit 7).
    TcpFlags,
    IcmpType,
    IcmpCode,
    /// conntrack state, [`crate::model::CT_NEW`] .. [`crate::model::CT_UNTRACKED`].
    CtState,
    /// The IPv4 TTL or the IPv6 hop limit (which one: [`Dim::Family`], which every cube
    /// constraining it holds to one version).
    HopLimit,
    /// The DSCP and the ECN of the IPv4 TOS byte or IPv6 traffic class (one field each
    /// for both versions, as sockc's `dscp` and `ecn`).
    Dscp,
    Ecn,
    /// The IP packet's length as xt_length reads it (sockc's `length`): the IPv4 total
    /// length, the IPv6 payload length plus 40. Values no packet of the cube's version
    /// has (an IPv4 one over 65535, an IPv6 one under 40) admit nothing; the writer
    /// leaves them out (`lower::cube`).
    Length,
    /// The sending socket's owner, a uid or gid, [`crate::model::NO_OWNER`] for none.
    Uid,
    Gid,
    /// The conntrack entry's status bits, packed ([`crate::model::Key::CtStatus`]),
    /// its direction and its mark; 0 for a packet without an entry.
    CtStatus,
    CtDir,
    CtMark,
    /// The packet's mark.
    Mark,
}

impl Dim {
    pub const ALL: [Dim; 22] = [
        Dim::Family,
        Dim::Proto,
        Dim::Src4,
        Dim::Dst4,
        Dim::Src6,
        Dim::Dst6,
        Dim::SrcPort,
        Dim::DstPort,
        Dim::TcpFlags,
        Dim::IcmpType,
        Dim::IcmpCode,
        Dim::CtState,
        Dim::HopLimit,
        Dim::Dscp,
        Dim::Ecn,
        Dim::Length,
        Dim::Uid,
        Dim::Gid,
        Dim::CtStatus,
        Dim::CtDir,
        Dim::CtMark,
        Dim::Mark,
    ];

    /// The largest value of the field.
    pub fn highest(self) -> u128 {
        match self {
            Dim::Family => 6,
            Dim::Proto | Dim::TcpFlags | Dim::IcmpType | Dim::IcmpCode | Dim::HopLimit => 255,
            Dim::Src4 | Dim::Dst4 => u32::MAX as u128,
            Dim::Src6 | Dim::Dst6 => u128::MAX,
            Dim::SrcPort | Dim::DstPort => 65535,
            Dim::CtState => crate::model::CT_UNTRACKED,
            Dim::Uid | Dim::Gid => crate::model::NO_OWNER,
            Dim::Dscp => 63,
            Dim::Ecn => 3,
            Dim::Length => u128::from(sockc_compiler::syntax::ipfield::Field::Length.max()),
            Dim::CtStatus => (1 << sockc_compiler::syntax::ct_entry::STATUS_BITS.len()) - 1,
            Dim::CtDir => 1,
            Dim::CtMark | Dim::Mark => u32::MAX as u128,
        }
    }

    /// The smallest value (families are 4 and 6).
    pub fn lowest(self) -> u128 {
        if self == Dim::Family {
            4
        } else {
            0
        }
    }
}

/// A set of values of one field: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ivs(Vec<(u128, u128)>);

impl Ivs {
    pub fn empty() -> Ivs {
        Ivs(Vec::new())
    }

    pub fn range(lo: u128, hi: u128) -> Ivs {
        if lo <= hi {
            Ivs(vec![(lo, hi)])
        } else {
            Ivs::empty()
        }
    }

    pub fn single(v: u128) -> Ivs {
        Ivs(vec![(v, v)])
    }

    /// The union of arbitrary ranges.
    pub fn from_ranges(mut r: Vec<(u128, u128)>) -> Ivs {
        r.retain(|(lo, hi)| lo <= hi);
        r.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(r.len());
        for (lo, hi) in r {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ivs(out)
    }

    /// The values `v` in `0..=255` with `v & mask == value` (flag bytes).
    pub fn masked_byte(mask: u8, value: u8) -> Ivs {
        let r = (0u16..=255).filter(|v| (*v as u8) & mask == value & mask);
        Ivs::from_ranges(r.map(|v| (v as u128, v as u128)).collect())
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, v: u128) -> bool {
        self.0
            .binary_search_by(|(lo, hi)| {
                if *hi < v {
                    Ordering::Less
                } else if *lo > v {
                    Ordering::Greater
                } else {
                    Ordering::Equal
                }
            })
            .is_ok()
    }

    /// How many values (saturating).
    pub fn count(&self) -> u128 {
        self.0.iter().fold(0u128, |n, (lo, hi)| {
            n.saturating_add(hi - lo).saturating_add(1)
        })
    }

    pub fn intersect(&self, other: &Ivs) -> Ivs {
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ivs(out)
    }

    /// The values in `lo..=hi` that are not in `self`.
    pub fn complement_within(&self, lo: u128, hi: u128) -> Ivs {
        let mut out = Vec::new();
        let mut next = Some(lo);
        for &(a, b) in &self.0 {
            let Some(n) = next else { break };
            if b < n {
                continue;
            }
            if a > hi {
                break;
            }
            if a > n {
                out.push((n, (a - 1).min(hi)));
            }
            next = b.checked_add(1);
        }
        if let Some(n) = next {
            if n <= hi {
                out.push((n, hi));
            }
        }
        Ivs(out)
    }

    pub fn subtract(&self, other: &Ivs) -> Ivs {
        let Some(&(lo, _)) = self.0.first() else {
            return Ivs::empty();
        };
        let hi = self.0.last().map_or(lo, |r| r.1);
        self.intersect(&other.complement_within(lo, hi))
    }

    pub fn is_subset(&self, other: &Ivs) -> bool {
        self.subtract(other).is_empty()
    }
}

/// An interned boolean test (see [`crate::semantics::atoms`]).
pub type AtomId = u32;

/// A cube: the packets whose every constrained field is in its set and whose atoms
/// have the given truth values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cube {
    /// Sorted by [`Dim`]; a field not listed admits every value.
    dims: Vec<(Dim, Ivs)>,
    /// Sorted by atom; `true`: the atom must hold, `false`: it must not.
    atoms: Vec<(AtomId, bool)>,
}

impl Cube {
    /// Every packet.
    pub fn all() -> Cube {
        Cube::default()
    }

    pub fn dims(&self) -> &[(Dim, Ivs)] {
        &self.dims
    }

    pub fn atoms(&self) -> &[(AtomId, bool)] {
        &self.atoms
    }

    /// The cube's size: one, plus its ranges and atoms. What it holds in memory and
    /// what an operation on it walks are both proportional to it.
    pub fn weight(&self) -> usize {
        1 + self.atoms.len() + self.dims.iter().map(|(_, v)| v.0.len()).sum::<usize>()
    }

    pub fn get(&self, d: Dim) -> Option<&Ivs> {
        self.dims.iter().find(|(x, _)| *x == d).map(|(_, v)| v)
    }

    pub fn atom(&self, a: AtomId) -> Option<bool> {
        self.atoms.iter().find(|(x, _)| *x == a).map(|(_, v)| *v)
    }

    /// Constrains `d` to `v` (intersecting with what it had); `None` if that is empty.
    pub fn with(mut self, d: Dim, v: &Ivs) -> Option<Cube> {
        let full = Ivs::range(d.lowest(), d.highest());
        let v = v.intersect(&full);
        match self.dims.binary_search_by(|(x, _)| x.cmp(&d)) {
            Ok(i) => {
                let n = self.dims[i].1.intersect(&v);
                if n.is_empty() {
                    return None;
                }
                self.dims[i].1 = n;
            }
            Err(i) => {
                if v.is_empty() {
                    return None;
                }
                self.dims.insert(i, (d, v));
            }
        }
        Some(self)
    }

    /// Sets `d` to exactly `v` (or removes the constraint when `v` is every value).
    fn set_dim(&mut self, d: Dim, v: Ivs) {
        let full = v == Ivs::range(d.lowest(), d.highest());
        match self.dims.binary_search_by(|(x, _)| x.cmp(&d)) {
            Ok(i) if full => {
                self.dims.remove(i);
            }
            Ok(i) => self.dims[i].1 = v,
            Err(_) if full => {}
            Err(i) => self.dims.insert(i, (d, v)),
        }
    }

    /// Requires atom `a` to be `value`; `None` if the cube requires the opposite.
    pub fn with_atom(mut self, a: AtomId, value: bool) -> Option<Cube> {
        match self.atoms.binary_search_by(|(x, _)| x.cmp(&a)) {
            Ok(i) if self.atoms[i].1 != value => None,
            Ok(_) => Some(self),
            Err(i) => {
                self.atoms.insert(i, (a, value));
                Some(self)
            }
        }
    }

    /// Forgets atom `a` (it is known to hold, or the caller drops it on purpose).
    pub fn without_atom(mut self, a: AtomId) -> Cube {
        self.atoms.retain(|(x, _)| *x != a);
        self
    }

    /// Forgets the constraint on `d`.
    pub fn without_dim(mut self, d: Dim) -> Cube {
        self.dims.retain(|(x, _)| *x != d);
        self
    }

    pub fn intersect(&self, other: &Cube) -> Option<Cube> {
        let mut out = self.clone();
        for (d, v) in &other.dims {
            out = out.with(*d, v)?;
        }
        for (a, v) in &other.atoms {
            out = out.with_atom(*a, *v)?;
        }
        Some(out)
    }

    pub fn intersects(&self, other: &Cube) -> bool {
        // Cheap checks first: most pairs differ on one field.
        for (d, v) in &other.dims {
            if let Some(mine) = self.get(*d) {
                if mine.intersect(v).is_empty() {
                    return false;
                }
            }
        }
        for (a, v) in &other.atoms {
            if self.atom(*a) == Some(!*v) {
                return false;
            }
        }
        true
    }

    /// Whether every packet of `self` is in `other`.
    pub fn is_subset(&self, other: &Cube) -> bool {
        other
            .dims
            .iter()
            .all(|(d, v)| self.get(*d).is_some_and(|mine| mine.is_subset(v)))
            && other.atoms.iter().all(|(a, v)| self.atom(*a) == Some(*v))
    }

    /// `self` minus `other`, as disjoint cubes (at most one per field and atom of
    /// `other`). Fields are split in [`Dim`] order, so dependent fields are only ever
    /// constrained in pieces already narrowed to what they depend on.
    pub fn subtract(&self, other: &Cube) -> Vec<Cube> {
        if !self.intersects(other) {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        let mut cur = self.clone();
        for (d, v) in &other.dims {
            let mine = cur
                .get(*d)
                .cloned()
                .unwrap_or_else(|| Ivs::range(d.lowest(), d.highest()));
            let outside = mine.subtract(v);
            if !outside.is_empty() {
                let mut piece = cur.clone();
                piece.set_dim(*d, outside);
                out.push(piece);
            }
            cur.set_dim(*d, mine.intersect(v));
        }
        for (a, v) in &other.atoms {
            if cur.atom(*a).is_none() {
                if let Some(piece) = cur.clone().with_atom(*a, !*v) {
                    out.push(piece);
                }
                cur = match cur.with_atom(*a, *v) {
                    Some(c) => c,
                    None => break,
                };
            }
        }
        out
    }
}

/// The most [`Cube::weight`] one region (a rule's condition, or what is left of it
/// after the exclusions) may have: a set of a million elements fits four times.
pub const MAX_WEIGHT: usize = 1 << 22;

/// `cubes` minus every cube of `minus`, as disjoint cubes; `None` if that takes more
/// than `budget` cubes, or a weight over [`MAX_WEIGHT`], at any step.
pub fn subtract_all(cubes: Vec<Cube>, minus: &[&Cube], budget: usize) -> Option<Vec<Cube>> {
    let mut cur = cubes;
    for m in minus {
        if !cur.iter().any(|c| c.intersects(m)) {
            continue;
        }
        let mut next = Vec::with_capacity(cur.len());
        let mut weight = 0;
        for c in &cur {
            for piece in c.subtract(m) {
                weight += piece.weight();
                next.push(piece);
            }
            if next.len() > budget || weight > MAX_WEIGHT {
                return None;
            }
        }
        cur = next;
    }
    Some(cur)
}

/// The total [`Cube::weight`] of `cubes`.
pub fn weight_of(cubes: &[Cube]) -> usize {
    cubes.iter().map(Cube::weight).sum()
}

/// The union of `cubes` as disjoint cubes (each later cube minus the earlier ones).
pub fn disjoint_union(cubes: Vec<Cube>, budget: usize) -> Option<Vec<Cube>> {
    let mut out: Vec<Cube> = Vec::with_capacity(cubes.len());
    for c in cubes {
        let refs: Vec<&Cube> = out.iter().collect();
        let pieces = subtract_all(vec![c], &refs, budget)?;
        out.extend(pieces);
        if out.len() > budget || weight_of(&out) > MAX_WEIGHT {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
