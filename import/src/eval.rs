//! A reference evaluator for flat lists: the verdict a list gives a packet, and packets
//! chosen at the edges of every cube of some lists. The tests compare two imports of
//! the same ruleset (text and JSON, iptables and its nft translation) with it, and
//! compare a list with the sockc program written from it.
//!
//! Invariant: a packet's verdict is the first terminal flat rule whose cube admits it
//! (accept when none does), with atoms decided from the packet: interfaces by name,
//! set lookups by the set's contents, and everything opaque by a hash of the atom's
//! text and the packet's seed — so two lists that name the same opaque test see the
//! same truth value for the same packet.

use std::hash::{Hash, Hasher};

use crate::{
    algebra::{Cube, Dim},
    model::{NamedSet, SetContent, Value},
    semantics::{
        atoms::{iface_matches, AtomKind, Atoms},
        flatten::{FlatAction, FlatList},
    },
};

/// A packet as the flat model sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    /// 4 or 6.
    pub family: u8,
    pub proto: u8,
    pub src: u128,
    pub dst: u128,
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub ct_state: u8,
    /// The IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// The IPv4 TOS byte or IPv6 traffic class (DSCP << 2 | ECN).
    pub tos: u8,
    /// The IP packet's length (IPv4 total length, IPv6 payload length plus 40);
    /// `None`: the length of the packet the other fields make, when no rule reads it.
    pub length: Option<u32>,
    pub iif: String,
    pub oif: String,
    /// Decides the opaque atoms.
    pub seed: u64,
}

impl Packet {
    /// The packet's value of field `d`, if it has that field.
    pub fn field(&self, d: Dim) -> Option<u128> {
        let v4 = self.family == 4;
        let ports = matches!(self.proto, 6 | 17 | 33 | 132 | 136);
        let icmp = (self.proto == 1 && v4) || (self.proto == 58 && !v4);
        Some(match d {
            Dim::Family => self.family as u128,
            Dim::Proto => self.proto as u128,
            Dim::Src4 if v4 => self.src,
            Dim::Dst4 if v4 => self.dst,
            Dim::Src6 if !v4 => self.src,
            Dim::Dst6 if !v4 => self.dst,
            Dim::SrcPort if ports => self.sport as u128,
            Dim::DstPort if ports => self.dport as u128,
            Dim::TcpFlags if self.proto == 6 => self.tcp_flags as u128,
            Dim::IcmpType if icmp => self.icmp_type as u128,
            Dim::IcmpCode if icmp => self.icmp_code as u128,
            Dim::CtState => self.ct_state as u128,
            Dim::HopLimit => self.hop_limit as u128,
            Dim::Dscp => (self.tos >> 2) as u128,
            Dim::Ecn => (self.tos & 3) as u128,
            Dim::Length => self.length? as u128,
            // The probes are sent by no socket.
            Dim::Uid | Dim::Gid => crate::model::NO_OWNER,
            // The probes' entries are fresh ones (no status bit sockc names, original,
            // mark 0), and a packet without one has these canonical values too.
            Dim::CtStatus | Dim::CtDir | Dim::CtMark => 0,
            // No rule the import runs sets a mark; the probes are sent unmarked.
            Dim::Mark => 0,
            _ => return None,
        })
    }
}

/// What a list decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accept,
    Drop,
    Reject,
    /// A verdict the import does not carry (queue, NAT in a filter chain).
    Other,
}

/// The index of a packet's device, from its name: none (`""`) 0, `lo` 1 (the
/// loopback's, in every namespace), any other name one of 2 to 5 by its bytes, so the
/// fuzz's devices have indexes that both imports of a ruleset see alike.
pub fn device_index(name: &str) -> u32 {
    match name {
        "" => 0,
        "lo" => 1,
        _ => {
            2 + name
                .bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
                % 4
        }
    }
}

/// The truth of an atom for `p`.
pub fn atom_holds(kind: &AtomKind, sets: &[NamedSet], p: &Packet) -> bool {
    match kind {
        AtomKind::Iif(pat) => iface_matches(pat, &p.iif),
        AtomKind::Oif(pat) => iface_matches(pat, &p.oif),
        AtomKind::IifIndex(n) => device_index(&p.iif) == *n,
        AtomKind::OifIndex(n) => device_index(&p.oif) == *n,
        AtomKind::InSet { dim, set } => {
            let Some(v) = p.field(*dim) else { return false };
            match &sets[*set].content {
                SetContent::Known(elems) => elems.iter().any(
                    |e| matches!(e.first(), Some(Value::Range(lo, hi)) if *lo <= v && v <= *hi),
                ),
                SetContent::External => coin(&sets[*set].name, p.seed),
            }
        }
        // The probes are sent by no socket, and no cgroup test matches without one.
        AtomKind::Cgroup(_) => false,
        AtomKind::Opaque { key, .. } => coin(key, p.seed),
    }
}

fn coin(key: &str, seed: u64) -> bool {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    seed.hash(&mut h);
    h.finish() & 1 == 1
}

/// Whether `cube` admits `p`.
pub fn admits(cube: &Cube, atoms: &Atoms, sets: &[NamedSet], p: &Packet) -> bool {
    cube.dims()
        .iter()
        .all(|(d, v)| p.field(*d).is_some_and(|x| v.contains(x)))
        && cube
            .atoms()
            .iter()
            .all(|(a, want)| atom_holds(atoms.kind(*a), sets, p) == *want)
}

/// The verdict `list` gives `p`.
pub fn verdict(list: &FlatList, atoms: &Atoms, sets: &[NamedSet], p: &Packet) -> Outcome {
    for r in &list.rules {
        if !r.action.is_terminal() || !admits(&r.cube, atoms, sets, p) {
            continue;
        }
        return match r.action {
            FlatAction::Accept => Outcome::Accept,
            FlatAction::Drop => Outcome::Drop,
            FlatAction::Reject(_) => Outcome::Reject,
            _ => Outcome::Other,
        };
    }
    Outcome::Accept
}

/// A seeded generator (`fastrand`'s), so the tests are reproducible from their seed.
pub struct Rng(fastrand::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n.max(1))
    }
}

/// Packets at the edges of every cube of `lists` (each field's interval ends and the
/// values just outside them), mixed at random, plus interfaces from `ifaces`.
pub fn edge_packets(lists: &[&FlatList], ifaces: &[&str], n: usize, seed: u64) -> Vec<Packet> {
    let mut cand: Vec<Vec<u128>> = Dim::ALL
        .iter()
        .map(|d| vec![d.lowest(), d.highest()])
        .collect();
    let mut tested = [false; Dim::ALL.len()];
    for l in lists {
        for r in &l.rules {
            for (d, v) in r.cube.dims() {
                let at = Dim::ALL.iter().position(|x| x == d).expect("a dim");
                tested[at] = true;
                let c = &mut cand[at];
                for &(lo, hi) in v.ranges() {
                    c.extend([
                        lo,
                        hi,
                        lo.saturating_sub(1),
                        hi.saturating_add(1).min(d.highest()),
                    ]);
                }
            }
        }
    }
    for c in &mut cand {
        c.sort_unstable();
        c.dedup();
    }
    let pick = |rng: &mut Rng, d: Dim| -> u128 {
        let c = &cand[Dim::ALL.iter().position(|x| *x == d).expect("a dim")];
        c[rng.below(c.len())]
    };
    let mut rng = Rng::new(seed);
    let protos = [6u8, 17, 1, 58, 132, 47];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let family = if rng.below(2) == 0 { 4 } else { 6 };
        let proto = if rng.below(3) == 0 {
            protos[rng.below(protos.len())]
        } else {
            pick(&mut rng, Dim::Proto) as u8
        };
        let (sd, dd) = if family == 4 {
            (Dim::Src4, Dim::Dst4)
        } else {
            (Dim::Src6, Dim::Dst6)
        };
        let iface = |rng: &mut Rng| {
            ifaces
                .get(rng.below(ifaces.len() + 1))
                .map_or("other0".to_string(), |s| s.to_string())
        };
        out.push(Packet {
            family,
            proto,
            src: pick(&mut rng, sd),
            dst: pick(&mut rng, dd),
            sport: pick(&mut rng, Dim::SrcPort) as u16,
            dport: pick(&mut rng, Dim::DstPort) as u16,
            tcp_flags: pick(&mut rng, Dim::TcpFlags) as u8,
            icmp_type: pick(&mut rng, Dim::IcmpType) as u8,
            icmp_code: pick(&mut rng, Dim::IcmpCode) as u8,
            ct_state: pick(&mut rng, Dim::CtState) as u8,
            hop_limit: pick(&mut rng, Dim::HopLimit) as u8,
            tos: ((pick(&mut rng, Dim::Dscp) << 2) | pick(&mut rng, Dim::Ecn)) as u8,
            // A length the family's packets can have, where a rule reads it.
            length: tested[Dim::ALL
                .iter()
                .position(|x| *x == Dim::Length)
                .expect("a dim")]
            .then(|| match family {
                4 => pick(&mut rng, Dim::Length).min(65535),
                _ => pick(&mut rng, Dim::Length).max(40),
            } as u32),
            iif: iface(&mut rng),
            oif: iface(&mut rng),
            seed: rng.next_u64(),
        });
    }
    out
}
