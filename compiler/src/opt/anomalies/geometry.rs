//! What a rule matches, resolved for comparisons ([`Shape`], addresses as
//! per-family interval lists), and the two questions the searches ask of two rules:
//! does one cover the other ([`Ctx::covers`]), may they overlap
//! ([`Ctx::may_overlap`]).
//!
//! Invariant: `covers` is exact for every field of a [`RuleMatch`] or errs towards
//! "does not cover"; `may_overlap` errs towards "overlaps". Interval lists are
//! sorted, disjoint and non-adjacent. Comparisons add the intervals they walk to
//! `work`.

use cranelift_entity::EntityRef;
use ipnet::IpNet;

use crate::{
    ir::{AddrMatch, Module, PortMatch, RuleMatch},
    syntax::ast::Family,
};

/// An inclusive interval of addresses (IPv4 addresses as numbers below 2^32).
type Iv = (u128, u128);

/// The whole address space of family index `f`.
fn full(f: usize) -> &'static [Iv] {
    const V4: [Iv; 1] = [(0, u32::MAX as u128)];
    const V6: [Iv; 1] = [(0, u128::MAX)];
    if f == 0 {
        &V4
    } else {
        &V6
    }
}

/// Address width of family index `f` (0: IPv4, 1: IPv6).
fn width(f: usize) -> u32 {
    if f == 0 {
        32
    } else {
        128
    }
}

/// The network bits of a `len`-bit prefix in a `w`-bit space.
fn mask(w: u32, len: u8) -> u128 {
    let len = u32::from(len);
    if len == 0 {
        0
    } else {
        let all = if w == 128 {
            u128::MAX
        } else {
            (1u128 << w) - 1
        };
        (u128::MAX << (w - len)) & all
    }
}

/// A prefix as an index key; sorting by (network, length) puts every prefix right
/// before the prefixes inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) net: u128,
    pub(super) len: u8,
}

impl Key {
    pub(super) const ROOT: Key = Key { net: 0, len: 0 };

    pub(super) fn contains(self, other: Key, w: u32) -> bool {
        self.len <= other.len && other.net & mask(w, self.len) == self.net
    }

    /// The last address inside.
    fn last(self, w: u32) -> u128 {
        let host = !mask(w, self.len)
            & if w == 128 {
                u128::MAX
            } else {
                (1u128 << w) - 1
            };
        self.net | host
    }
}

/// An address set's members per family: sorted, disjoint, non-adjacent intervals, and
/// the smallest prefix holding them all.
struct SetView {
    ivs: [Vec<Iv>; 2],
    hull: [Key; 2],
}

fn set_view(v4: &[ipnet::Ipv4Net], v6: &[ipnet::Ipv6Net]) -> SetView {
    let mut ivs: [Vec<Iv>; 2] = [
        v4.iter()
            .map(|n| {
                (
                    u32::from(n.network()).into(),
                    u32::from(n.broadcast()).into(),
                )
            })
            .collect(),
        v6.iter()
            .map(|n| (u128::from(n.network()), u128::from(n.broadcast())))
            .collect(),
    ];
    let mut hull = [Key::ROOT; 2];
    for (f, list) in ivs.iter_mut().enumerate() {
        list.sort_unstable();
        let mut merged: Vec<Iv> = Vec::with_capacity(list.len());
        for &(lo, hi) in list.iter() {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        *list = merged;
        if let (Some(first), Some(last)) = (list.first(), list.last()) {
            let w = width(f);
            let diff = first.0 ^ last.1;
            let len = if diff == 0 {
                w
            } else {
                diff.leading_zeros() - (128 - w)
            } as u8;
            hull[f] = Key {
                net: first.0 & mask(w, len),
                len,
            };
        }
    }
    SetView { ivs, hull }
}

/// An address match, resolved for comparisons.
#[derive(Clone, Copy, Debug)]
pub(super) enum Addr {
    Any,
    /// A literal prefix of family index `fam`, its network split in two halves.
    Prefix {
        fam: u8,
        len: u8,
        net: [u64; 2],
    },
    Set(u32),
}

impl Addr {
    fn new(a: &AddrMatch) -> Addr {
        let split = |n: u128| [(n >> 64) as u64, n as u64];
        match a {
            AddrMatch::Any => Addr::Any,
            AddrMatch::Prefix(IpNet::V4(n)) => Addr::Prefix {
                fam: 0,
                len: n.prefix_len(),
                net: split(u32::from(n.network()).into()),
            },
            AddrMatch::Prefix(IpNet::V6(n)) => Addr::Prefix {
                fam: 1,
                len: n.prefix_len(),
                net: split(n.network().into()),
            },
            AddrMatch::Set(s) => Addr::Set(s.index() as u32),
        }
    }
}

/// What one rule matches, in the terms the comparisons need.
#[derive(Clone, Debug)]
pub(super) struct Shape<'m> {
    /// No match at all: every frame, IP or not.
    pub(super) all: bool,
    /// Bit 0: some IPv4 packet may match; bit 1: some IPv6 packet.
    pub(super) fams: u8,
    pub(super) proto: Option<u8>,
    pub(super) flags: Option<(u8, u8)>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    pub(super) sport: Option<&'m [(u16, u16)]>,
    pub(super) dport: Option<&'m [(u16, u16)]>,
    pub(super) src: Addr,
    pub(super) dst: Addr,
}

impl Shape<'_> {
    /// A placeholder for rules that match nothing.
    pub(super) const NOTHING: Shape<'static> = Shape {
        all: false,
        fams: 0,
        proto: None,
        flags: None,
        icmp_type: None,
        icmp_code: None,
        sport: None,
        dport: None,
        src: Addr::Any,
        dst: Addr::Any,
    };

    /// Matches only packets with complete TCP or UDP headers.
    fn needs_ports(&self) -> bool {
        self.sport.is_some() || self.dport.is_some() || self.flags.is_some()
    }
    /// Matches only packets with a complete ICMP header.
    pub(super) fn needs_icmp(&self) -> bool {
        self.icmp_type.is_some() || self.icmp_code.is_some()
    }
    /// True when no packet of protocol `p` can match, whatever the protocol field says.
    fn excludes_proto(&self, p: u8) -> bool {
        (self.flags.is_some() && p != 6)
            || (self.needs_ports() && p != 6 && p != 17)
            || (self.needs_icmp() && p != 1 && p != 58)
    }
}

fn ports(p: &PortMatch) -> Option<&[(u16, u16)]> {
    match p {
        PortMatch::Any => None,
        PortMatch::Ranges(r) => Some(r),
    }
}

/// Everything the comparisons read: the resolved address sets.
pub(super) struct Ctx {
    sets: Vec<SetView>,
}

impl Ctx {
    pub(super) fn new(module: &Module) -> Ctx {
        Ctx {
            sets: module
                .sets
                .values()
                .map(|s| set_view(&s.v4, &s.v6))
                .collect(),
        }
    }

    /// The intervals `a` matches in family `f` (empty: none of that family); `one`
    /// holds the interval of a literal prefix.
    fn ivs<'a>(&'a self, a: &Addr, f: usize, one: &'a mut [Iv; 1]) -> &'a [Iv] {
        match *a {
            Addr::Any => full(f),
            Addr::Prefix { fam, len, net } => {
                if usize::from(fam) != f {
                    return &[];
                }
                let k = Key {
                    net: (u128::from(net[0]) << 64) | u128::from(net[1]),
                    len,
                };
                one[0] = (k.net, k.last(width(f)));
                &one[..]
            }
            Addr::Set(s) => &self.sets[s as usize].ivs[f],
        }
    }

    /// The index key of `a` in family `f`: a prefix holding everything it matches there.
    pub(super) fn key(&self, a: &Addr, f: usize) -> Key {
        match *a {
            Addr::Any => Key::ROOT,
            Addr::Prefix { len, net, .. } => Key {
                net: (u128::from(net[0]) << 64) | u128::from(net[1]),
                len,
            },
            Addr::Set(s) => self.sets[s as usize].hull[f],
        }
    }

    pub(super) fn shape<'m>(&self, m: &'m RuleMatch) -> Option<Shape<'m>> {
        let src = Addr::new(&m.src);
        let dst = Addr::new(&m.dst);
        let mut fams = match m.family {
            Some(Family::V4) => 1,
            Some(Family::V6) => 2,
            None => 3,
        };
        let some = |a: &Addr, f: usize| match *a {
            Addr::Any => true,
            Addr::Prefix { fam, .. } => usize::from(fam) == f,
            Addr::Set(s) => !self.sets[s as usize].ivs[f].is_empty(),
        };
        for f in 0..2 {
            if !some(&src, f) || !some(&dst, f) {
                fams &= !(1 << f);
            }
        }
        (fams != 0).then(|| Shape {
            all: *m == RuleMatch::default(),
            fams,
            proto: m.proto,
            sport: ports(&m.sport),
            dport: ports(&m.dport),
            flags: m.tcp_flags,
            icmp_type: m.icmp_type,
            icmp_code: m.icmp_code,
            src,
            dst,
        })
    }

    /// True when every packet `b` matches, `a` matches too (exact, or false when unsure).
    pub(super) fn covers(&self, a: &Shape, b: &Shape, work: &mut u32) -> bool {
        if a.all {
            return true;
        }
        if b.all || b.fams & !a.fams != 0 {
            return false;
        }
        if a.proto.is_some() && a.proto != b.proto {
            return false;
        }
        if !ports_cover(a.sport, b.sport) || !ports_cover(a.dport, b.dport) {
            return false;
        }
        if let Some((ma, va)) = a.flags {
            match b.flags {
                Some((mb, vb)) if ma & !mb == 0 && vb & ma == va => {}
                _ => return false,
            }
        }
        if a.icmp_type.is_some_and(|t| b.icmp_type != Some(t))
            || a.icmp_code.is_some_and(|c| b.icmp_code != Some(c))
        {
            return false;
        }
        (0..2).filter(|f| b.fams & (1 << f) != 0).all(|f| {
            self.addr_covers(&a.src, &b.src, f, work) && self.addr_covers(&a.dst, &b.dst, f, work)
        })
    }

    fn addr_covers(&self, a: &Addr, b: &Addr, f: usize, work: &mut u32) -> bool {
        match (a, b) {
            (Addr::Any, _) => true,
            (Addr::Set(x), Addr::Set(y)) if x == y => true,
            _ => {
                let (mut x, mut y) = ([(0, 0)], [(0, 0)]);
                ivs_cover(self.ivs(a, f, &mut x), self.ivs(b, f, &mut y), work)
            }
        }
    }

    /// False only when no packet can match both (true when unsure).
    pub(super) fn may_overlap(&self, a: &Shape, b: &Shape, work: &mut u32) -> bool {
        if a.all || b.all {
            return true;
        }
        let fams = a.fams & b.fams;
        if fams == 0 {
            return false;
        }
        match (a.proto, b.proto) {
            (Some(p), Some(q)) if p != q => return false,
            (Some(p), _) if b.excludes_proto(p) => return false,
            (_, Some(q)) if a.excludes_proto(q) => return false,
            _ => {}
        }
        if (a.needs_ports() && b.needs_icmp()) || (a.needs_icmp() && b.needs_ports()) {
            return false;
        }
        if !ports_overlap(a.sport, b.sport) || !ports_overlap(a.dport, b.dport) {
            return false;
        }
        if let (Some((ma, va)), Some((mb, vb))) = (a.flags, b.flags) {
            if (va ^ vb) & ma & mb != 0 {
                return false;
            }
        }
        if matches!((a.icmp_type, b.icmp_type), (Some(x), Some(y)) if x != y)
            || matches!((a.icmp_code, b.icmp_code), (Some(x), Some(y)) if x != y)
        {
            return false;
        }
        (0..2).filter(|f| fams & (1 << f) != 0).any(|f| {
            self.addr_overlap(&a.src, &b.src, f, work) && self.addr_overlap(&a.dst, &b.dst, f, work)
        })
    }

    fn addr_overlap(&self, a: &Addr, b: &Addr, f: usize, work: &mut u32) -> bool {
        match (a, b) {
            (Addr::Any, _) | (_, Addr::Any) => true,
            (Addr::Set(x), Addr::Set(y)) if x == y => true,
            _ => {
                let (mut x, mut y) = ([(0, 0)], [(0, 0)]);
                ivs_overlap(self.ivs(a, f, &mut x), self.ivs(b, f, &mut y), work)
            }
        }
    }
}

fn ports_cover(a: Option<&[(u16, u16)]>, b: Option<&[(u16, u16)]>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => {
            let mut j = 0;
            b.iter().all(|&(lo, hi)| {
                while j < a.len() && a[j].1 < lo {
                    j += 1;
                }
                j < a.len() && a[j].0 <= lo && hi <= a[j].1
            })
        }
    }
}

fn ports_overlap(a: Option<&[(u16, u16)]>, b: Option<&[(u16, u16)]>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return true;
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].1 < b[j].0 {
            i += 1;
        } else if b[j].1 < a[i].0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}

/// Every interval of `b` lies inside one interval of `a` (`a` sorted, disjoint and
/// non-adjacent, so that is the same as inside their union).
fn ivs_cover(a: &[Iv], b: &[Iv], work: &mut u32) -> bool {
    if b.len() <= 4 {
        *work = work.saturating_add(b.len() as u32);
        return b.iter().all(|&(lo, hi)| {
            let j = a.partition_point(|x| x.1 < lo);
            j < a.len() && a[j].0 <= lo && hi <= a[j].1
        });
    }
    *work = work.saturating_add((a.len() + b.len()) as u32);
    let mut j = 0;
    b.iter().all(|&(lo, hi)| {
        while j < a.len() && a[j].1 < lo {
            j += 1;
        }
        j < a.len() && a[j].0 <= lo && hi <= a[j].1
    })
}

fn ivs_overlap(a: &[Iv], b: &[Iv], work: &mut u32) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() <= 4 {
        *work = work.saturating_add(small.len() as u32);
        return small.iter().any(|&(lo, hi)| {
            let j = large.partition_point(|x| x.1 < lo);
            j < large.len() && large[j].0 <= hi
        });
    }
    *work = work.saturating_add((a.len() + b.len()) as u32);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].1 < b[j].0 {
            i += 1;
        } else if b[j].1 < a[i].0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}
