//! A rule's matches as a region: the disjoint cubes of packets the rule admits.
//! Each test becomes its field's values together with what it depends on (an IPv4
//! address implies IPv4, a TCP port implies TCP); a negation is the complement of the
//! test alone — readers add the dependencies nft and iptables imply as separate,
//! positive matches, exactly as the kernel evaluates them.
//!
//! nft's `th sport`/`th dport` are the exception: nft adds no protocol to them, so they
//! read the first four bytes of any transport header (an ICMP packet's type, code and
//! checksum too). The ports of the protocols that have them are fields; on any other
//! protocol the test is an atom ([`Converter::other_transport`]).
//!
//! Invariant: the region admits exactly the packets the matches admit, under the
//! model's reading of each key; what cannot be decomposed into fields is an atom, and
//! what would take more than [`MAX_CUBES`] cubes or a weight over [`MAX_WEIGHT`] is
//! refused (the rule is then reported, never approximated here).

use super::atoms::{AtomKind, Atoms};
use crate::{
    algebra::{disjoint_union, subtract_all, Cube, Dim, Ivs, MAX_WEIGHT},
    model::{IpVersion, Key, Match, MatchKind, NamedSet, Rhs, SetContent, Value},
};

/// The most cubes one rule's region may take.
pub const MAX_CUBES: usize = 4096;

/// Why a region could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooComplex(pub String);

/// Protocols whose header has ports at the usual place (TCP, UDP, UDP-Lite, SCTP, DCCP).
pub const PORT_PROTOS: [u128; 5] = [6, 17, 33, 132, 136];

pub struct Converter<'a> {
    pub atoms: &'a mut Atoms,
    pub sets: &'a [NamedSet],
}

fn fam(v: IpVersion) -> u128 {
    match v {
        IpVersion::V4 => 4,
        IpVersion::V6 => 6,
    }
}

/// The cube every value of `key` lives in (its dependencies), and the field it sets.
fn key_base(key: &Key) -> (Cube, Option<Dim>) {
    let c = Cube::all();
    let single = |c: Cube, d: Dim, v: u128| c.with(d, &Ivs::single(v)).expect("non-empty");
    match key {
        Key::NfProto => (c, Some(Dim::Family)),
        Key::L4Proto => (c, Some(Dim::Proto)),
        Key::IpProtocol => (single(c, Dim::Family, 4), Some(Dim::Proto)),
        Key::Saddr(v) => {
            let d = if *v == IpVersion::V4 {
                Dim::Src4
            } else {
                Dim::Src6
            };
            (single(c, Dim::Family, fam(*v)), Some(d))
        }
        Key::Daddr(v) => {
            let d = if *v == IpVersion::V4 {
                Dim::Dst4
            } else {
                Dim::Dst6
            };
            (single(c, Dim::Family, fam(*v)), Some(d))
        }
        Key::Sport(p) | Key::Dport(p) => {
            let protos = match p {
                Some(p) => Ivs::single(*p as u128),
                None => Ivs::from_ranges(PORT_PROTOS.iter().map(|p| (*p, *p)).collect()),
            };
            let d = if matches!(key, Key::Sport(_)) {
                Dim::SrcPort
            } else {
                Dim::DstPort
            };
            (c.with(Dim::Proto, &protos).expect("non-empty"), Some(d))
        }
        Key::TcpFlags => (single(c, Dim::Proto, 6), Some(Dim::TcpFlags)),
        Key::IcmpType(v) | Key::IcmpCode(v) => {
            let proto = if *v == IpVersion::V4 { 1 } else { 58 };
            let c = single(single(c, Dim::Family, fam(*v)), Dim::Proto, proto);
            let d = if matches!(key, Key::IcmpType(_)) {
                Dim::IcmpType
            } else {
                Dim::IcmpCode
            };
            (c, Some(d))
        }
        Key::CtState => (c, Some(Dim::CtState)),
        Key::HopLimit(v) => (single(c, Dim::Family, fam(*v)), Some(Dim::HopLimit)),
        Key::Dscp(v) => (single(c, Dim::Family, fam(*v)), Some(Dim::Dscp)),
        Key::Ecn(v) => (single(c, Dim::Family, fam(*v)), Some(Dim::Ecn)),
        Key::Length(None) => (c, Some(Dim::Length)),
        Key::Length(Some(v)) => (single(c, Dim::Family, fam(*v)), Some(Dim::Length)),
        // Its values were read as the packet's length (`nft::expr`).
        Key::Ip6PayloadLength => (single(c, Dim::Family, 6), Some(Dim::Length)),
        Key::Iifname | Key::Oifname | Key::Iif | Key::Oif => (c, None),
        Key::SkUid => (c, Some(Dim::Uid)),
        Key::SkGid => (c, Some(Dim::Gid)),
        Key::CtStatus => (tracked(c), Some(Dim::CtStatus)),
        Key::CtDirection => (tracked(c), Some(Dim::CtDir)),
        Key::CtMark => (tracked(c), Some(Dim::CtMark)),
        Key::Mark => (c, Some(Dim::Mark)),
    }
}

/// nft's `th sport`/`th dport`: the ports of any transport protocol.
fn is_th(k: &Key) -> bool {
    matches!(k, Key::Sport(None) | Key::Dport(None))
}

/// Whether a test reads `th` ports (alone or in a concatenation).
fn any_transport(keys: &[Key]) -> bool {
    keys.iter().any(is_th)
}

/// A test's values as nft writes them (`53`, `1-1023`, `icmp . 53` as numbers), for an
/// atom's name.
fn rhs_text(rhs: &Rhs) -> String {
    let value = |v: &Value| match v {
        Value::Range(lo, hi) if lo == hi => lo.to_string(),
        Value::Range(lo, hi) => format!("{lo}-{hi}"),
        Value::Name(n) => n.clone(),
    };
    match rhs {
        Rhs::Elements(elems) => {
            let elems: Vec<String> = elems
                .iter()
                .map(|e| e.iter().map(value).collect::<Vec<_>>().join(" . "))
                .collect();
            format!("{{ {} }}", elems.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// `c` with a conntrack entry (what every test of the entry implies).
fn tracked(c: Cube) -> Cube {
    use crate::model::{CT_NEW, CT_RELATED};
    c.with(Dim::CtState, &Ivs::range(CT_NEW, CT_RELATED))
        .expect("non-empty")
}

impl Converter<'_> {
    /// The region of a conjunction of matches.
    pub fn conjunction(&mut self, matches: &[Match]) -> Result<Vec<Cube>, TooComplex> {
        let mut region = vec![Cube::all()];
        for m in matches {
            let r = self.matched(m)?;
            region = intersect(&region, &r)?;
            if region.is_empty() {
                break;
            }
        }
        Ok(region)
    }

    fn matched(&mut self, m: &Match) -> Result<Vec<Cube>, TooComplex> {
        let positive = match &m.kind {
            MatchKind::Test { keys, rhs } if any_transport(keys) => {
                let mut region = self.test(keys, rhs)?;
                region.extend(self.other_transport(keys, rhs)?);
                disjoint_union(region, MAX_CUBES).ok_or_else(too_many)?
            }
            MatchKind::Test { keys, rhs } => self.test(keys, rhs)?,
            MatchKind::Any(alternatives) => {
                let mut all = Vec::new();
                for alt in alternatives {
                    all.extend(self.conjunction(alt)?);
                }
                disjoint_union(all, MAX_CUBES).ok_or_else(too_many)?
            }
            MatchKind::Cgroup(test) => {
                let a = self.atoms.intern(AtomKind::Cgroup(test.clone()));
                vec![Cube::all().with_atom(a, true).expect("fresh cube")]
            }
            MatchKind::Opaque { feature, key } => {
                let a = self.atoms.intern(AtomKind::Opaque {
                    feature: *feature,
                    key: key.clone(),
                });
                vec![Cube::all().with_atom(a, true).expect("fresh cube")]
            }
        };
        if !m.negated {
            return Ok(positive);
        }
        let refs: Vec<&Cube> = positive.iter().collect();
        subtract_all(vec![Cube::all()], &refs, MAX_CUBES).ok_or_else(too_many)
    }

    fn test(&mut self, keys: &[Key], rhs: &Rhs) -> Result<Vec<Cube>, TooComplex> {
        match rhs {
            Rhs::Elements(elems) => {
                // One field: one cube with every element's values (a port list stays
                // one rule, written with a set).
                if let ([key], (base, Some(d))) = (keys, key_base(&keys[0])) {
                    let ranges: Option<Vec<(u128, u128)>> = elems
                        .iter()
                        .map(|e| match e.as_slice() {
                            [Value::Range(lo, hi)] => Some((*lo, *hi)),
                            _ => None,
                        })
                        .collect();
                    if let Some(r) = ranges {
                        let _ = key;
                        return Ok(base.with(d, &Ivs::from_ranges(r)).into_iter().collect());
                    }
                }
                let mut cubes = Vec::new();
                for e in elems {
                    if let Some(c) = self.element(keys, e)? {
                        cubes.push(c);
                    }
                }
                disjoint_union(cubes, MAX_CUBES).ok_or_else(too_many)
            }
            // A named set or a mask reads the payload length's own values.
            _ if keys.contains(&Key::Ip6PayloadLength) => Err(TooComplex(
                "`ip6 length` against a named set or under a mask".into(),
            )),
            Rhs::Set(id) => self.set_lookup(keys, *id),
            Rhs::Masked { mask, value } => self.masked(keys, |v| v & mask == *value),
            Rhs::AnyBit(mask) => self.masked(keys, |v| v & mask != 0),
        }
    }

    /// Where a test of `th` ports (with the other `keys` of a concatenation) holds on a
    /// protocol without ports: the other keys' values, every such protocol and an atom
    /// that stands for the bytes nft reads there (named by the test, so that two tests
    /// of the same bytes are one atom). Elements whose protocol has ports add nothing.
    fn other_transport(&mut self, keys: &[Key], rhs: &Rhs) -> Result<Vec<Cube>, TooComplex> {
        let ports = Ivs::from_ranges(PORT_PROTOS.iter().map(|p| (*p, *p)).collect());
        let atom = self.atoms.intern(AtomKind::Opaque {
            feature: crate::features::Feature::L4Header,
            key: format!(
                "{} {} on a protocol without ports (nft's `th` reads any transport header)",
                keys.iter()
                    .map(Key::describe)
                    .collect::<Vec<_>>()
                    .join(" . "),
                match rhs {
                    Rhs::Set(id) => format!("@{}", self.sets[*id].name),
                    other => rhs_text(other),
                }
            ),
        });
        let base = Cube::all()
            .with(Dim::Proto, &ports.complement_within(0, 255))
            .and_then(|c| c.with_atom(atom, true))
            .expect("a fresh cube");
        let elems = match rhs {
            Rhs::Elements(elems) => elems.clone(),
            Rhs::Set(id) => match &self.sets[*id].content {
                SetContent::Known(elems) => elems.clone(),
                SetContent::External => return Ok(vec![base]),
            },
            _ => return Ok(vec![base]),
        };
        let others: Vec<Key> = keys.iter().filter(|k| !is_th(k)).cloned().collect();
        let mut out = Vec::new();
        for e in &elems {
            let values: Vec<Value> = keys
                .iter()
                .zip(e)
                .filter(|(k, _)| !is_th(k))
                .map(|(_, v)| v.clone())
                .collect();
            let region = match others.is_empty() {
                true => Some(Cube::all()),
                false => self.element(&others, &values)?,
            };
            out.extend(region.and_then(|c| c.intersect(&base)));
        }
        Ok(out)
    }

    /// One element of a set or list: a value per key; `None` if it admits nothing.
    fn element(&mut self, keys: &[Key], values: &[Value]) -> Result<Option<Cube>, TooComplex> {
        if keys.len() != values.len() {
            return Err(TooComplex(format!(
                "an element has {} values for {} keys",
                values.len(),
                keys.len()
            )));
        }
        let mut cube = Cube::all();
        for (key, value) in keys.iter().zip(values) {
            let (base, dim) = key_base(key);
            let Some(c) = cube.intersect(&base) else {
                return Ok(None);
            };
            cube = c;
            let next = match (dim, value) {
                (Some(d), Value::Range(lo, hi)) => cube.with(d, &Ivs::range(*lo, *hi)),
                (None, Value::Name(n)) => {
                    let index = matches!(key, Key::Iif | Key::Oif)
                        .then(|| super::atoms::known_index(n))
                        .flatten();
                    let kind = match (key, index) {
                        (Key::Iif, Some(ix)) => AtomKind::IifIndex(ix),
                        (Key::Oif, Some(ix)) => AtomKind::OifIndex(ix),
                        (Key::Iifname | Key::Iif, _) => AtomKind::Iif(n.clone()),
                        _ => AtomKind::Oif(n.clone()),
                    };
                    let a = self.atoms.intern(kind);
                    cube.with_atom(a, true)
                }
                _ => {
                    return Err(TooComplex(format!(
                        "a value of the wrong kind for {}",
                        key.describe()
                    )))
                }
            };
            match next {
                Some(c) => cube = c,
                None => return Ok(None),
            }
        }
        Ok(Some(cube))
    }

    /// `(key & mask) op value` over a field of at most 256 values, by enumeration.
    fn masked(
        &mut self,
        keys: &[Key],
        keep: impl Fn(u128) -> bool,
    ) -> Result<Vec<Cube>, TooComplex> {
        let [key] = keys else {
            return Err(TooComplex("a bitmask on a concatenation".into()));
        };
        let (base, Some(d)) = key_base(key) else {
            return Err(TooComplex(format!("a bitmask on {}", key.describe())));
        };
        if d.highest() > 255 {
            return Err(TooComplex(format!("a bitmask on {}", key.describe())));
        }
        let values: Vec<(u128, u128)> = (d.lowest()..=d.highest())
            .filter(|v| keep(*v))
            .map(|v| (v, v))
            .collect();
        Ok(base
            .with(d, &Ivs::from_ranges(values))
            .into_iter()
            .collect())
    }

    /// `key @set`: an address or port set stays a set (an atom naming it); other sets
    /// are expanded into their elements.
    fn set_lookup(&mut self, keys: &[Key], id: usize) -> Result<Vec<Cube>, TooComplex> {
        let set = &self.sets[id];
        if let [key] = keys {
            let (base, dim) = key_base(key);
            if matches!(
                dim,
                Some(Dim::Src4 | Dim::Dst4 | Dim::Src6 | Dim::Dst6 | Dim::SrcPort | Dim::DstPort)
            ) {
                let a = self.atoms.intern(AtomKind::InSet {
                    dim: dim.expect("matched"),
                    set: id,
                });
                return Ok(base.with_atom(a, true).into_iter().collect());
            }
        }
        match &set.content {
            SetContent::Known(elems) => {
                let elems = elems.clone();
                self.test(keys, &Rhs::Elements(elems))
            }
            SetContent::External => {
                Err(TooComplex(format!("set {} of unknown contents", set.name)))
            }
        }
    }
}

fn too_many() -> TooComplex {
    TooComplex(format!(
        "it takes more than {MAX_CUBES} cubes or {MAX_WEIGHT} ranges"
    ))
}

/// The pairwise intersection of two regions (disjoint in, disjoint out).
pub fn intersect(a: &[Cube], b: &[Cube]) -> Result<Vec<Cube>, TooComplex> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let mut weight = 0;
    for x in a {
        for y in b {
            if let Some(c) = x.intersect(y) {
                weight += c.weight();
                out.push(c);
                if out.len() > MAX_CUBES || weight > MAX_WEIGHT {
                    return Err(too_many());
                }
            }
        }
    }
    Ok(out)
}
