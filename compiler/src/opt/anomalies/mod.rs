//! Rule anomalies, reported as warnings, per program:
//!
//! * **shadowed** (`sockc::shadowed`): an earlier rule that always ends the program
//!   (`allow`, `drop`, `pass` or `redirect`, without a socket condition) matches every
//!   packet the rule matches, so it never matches; a `count` rule too (it never
//!   counts). The warning names the earliest such rule.
//! * **redundant** (`sockc::redundant`): a rule that always ends the program and whose
//!   removal changes no verdict: the nearest later rule with the same action covers it
//!   and no rule in between that may decide otherwise (another action, a socket
//!   condition, a redirect) overlaps it; or no later rule that may decide otherwise
//!   overlaps it and the block's default has its verdict. A shadowed rule is not also
//!   called redundant. Removing a redundant rule can change counters, never verdicts.
//!
//! A rule that matches nothing (an address set with no element of its family) is
//! skipped: it is neither reported nor in anybody's way. The pass changes nothing.
//!
//! Invariant: only certainties are reported. "Covers" is exact for every field of a
//! [`RuleMatch`] (family, IP-only, protocol, addresses as per-family interval lists,
//! so a set covers a prefix exactly when its members do, port ranges, TCP flags,
//! ICMP type and code) or errs towards "does not cover"; "may overlap" errs towards
//! "overlaps". Nothing is reported about a rule whose search was cut short.
//!
//! Large programs are not compared pairwise. Every rule gets a key per family and
//! address (its prefix, `*`, or the smallest prefix holding a set's members); the rules
//! that always or may end the program are indexed under their keys ([`FamIndex`]),
//! so the rules covering a rule are found on the chains of prefixes enclosing its
//! keys, and the rules overlapping it there or among the prefixes inside its keys.
//! Each search has a budget of work ([`BUDGET`]); a rule whose search runs out is
//! counted in one `sockc::anomalies_partial` warning, never dropped silently. Past
//! [`MAX_LISTED`] rules of a kind in a program, one warning counts the rest.

use cranelift_entity::EntityRef;
use ipnet::IpNet;

use crate::{
    diag::Diagnostic,
    ir::{Action, AddrMatch, Module, PortMatch, Program, Rule, RuleMatch},
    syntax::ast::{Family, Verdict},
};

/// Work units (index nodes visited plus candidate rules checked, plus the intervals
/// walked when a check compares two address sets) one rule's searches may spend.
pub const BUDGET: u32 = 1024;

/// Between a rule and its covering rule, up to this many rules are scanned one by
/// one instead of searching the index.
pub const LINEAR_SCAN: usize = 48;

/// How much searching one rule may take.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// See [`BUDGET`].
    budget: u32,
    /// See [`LINEAR_SCAN`].
    linear: usize,
    /// See [`SMALL_NODE`].
    small: usize,
}

const LIMITS: Limits = Limits {
    budget: BUDGET,
    linear: LINEAR_SCAN,
    small: SMALL_NODE,
};

const NIL: u32 = u32::MAX;

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
struct Key {
    net: u128,
    len: u8,
}

impl Key {
    const ROOT: Key = Key { net: 0, len: 0 };

    fn contains(self, other: Key, w: u32) -> bool {
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
enum Addr {
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
struct Shape<'m> {
    /// No match at all: every frame, IP or not.
    all: bool,
    /// Bit 0: some IPv4 packet may match; bit 1: some IPv6 packet.
    fams: u8,
    proto: Option<u8>,
    flags: Option<(u8, u8)>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    sport: Option<&'m [(u16, u16)]>,
    dport: Option<&'m [(u16, u16)]>,
    src: Addr,
    dst: Addr,
}

impl Shape<'_> {
    /// A placeholder for rules that match nothing.
    const NOTHING: Shape<'static> = Shape {
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
    fn needs_icmp(&self) -> bool {
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
struct Ctx {
    sets: Vec<SetView>,
}

impl Ctx {
    fn new(module: &Module) -> Ctx {
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
    fn key(&self, a: &Addr, f: usize) -> Key {
        match *a {
            Addr::Any => Key::ROOT,
            Addr::Prefix { len, net, .. } => Key {
                net: (u128::from(net[0]) << 64) | u128::from(net[1]),
                len,
            },
            Addr::Set(s) => self.sets[s as usize].hull[f],
        }
    }

    fn shape<'m>(&self, m: &'m RuleMatch) -> Option<Shape<'m>> {
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
    fn covers(&self, a: &Shape, b: &Shape, work: &mut u32) -> bool {
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
    fn may_overlap(&self, a: &Shape, b: &Shape, work: &mut u32) -> bool {
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

// ---- the index -------------------------------------------------------------------

/// A rule in the index, with what a quick test needs so that most candidates are
/// ruled out without looking at the rule. For a *plain* rule (literal prefixes or
/// `*`, at most one range per port match, no TCP flags, no ICMP fields, not the
/// empty match) it is the whole rule apart from its addresses, which the index
/// itself compares exactly (a plain rule's keys are its addresses).
#[derive(Clone, Copy, Debug)]
struct Entry {
    rule: u32,
    class: u16,
    /// The protocol, or [`ANY_PROTO`].
    proto: u16,
    /// The smallest ranges holding its port ranges (the whole range for any port).
    sport: (u16, u16),
    dport: (u16, u16),
    /// [`PLAIN`], [`SPORT`], [`DPORT`], and the families it may match times [`FAMS`].
    bits: u8,
}

const ANY_PROTO: u16 = 0x100;
const PLAIN: u8 = 1;
/// Has a source port match.
const SPORT: u8 = 2;
/// Has a destination port match.
const DPORT: u8 = 4;
const FAMS: u8 = 8;

impl Entry {
    fn new(rule: u32, class: u16, s: &Shape) -> Entry {
        let hull = |p: Option<&[(u16, u16)]>| match p {
            Some(r) if !r.is_empty() => (r[0].0, r[r.len() - 1].1),
            _ => (0, u16::MAX),
        };
        let plain = !s.all
            && !matches!(s.src, Addr::Set(_))
            && !matches!(s.dst, Addr::Set(_))
            && s.sport.is_none_or(|r| r.len() == 1)
            && s.dport.is_none_or(|r| r.len() == 1)
            && s.flags.is_none()
            && !s.needs_icmp();
        Entry {
            rule,
            class,
            proto: s.proto.map_or(ANY_PROTO, u16::from),
            sport: hull(s.sport),
            dport: hull(s.dport),
            bits: u8::from(plain) * PLAIN
                + u8::from(s.sport.is_some()) * SPORT
                + u8::from(s.dport.is_some()) * DPORT
                + s.fams * FAMS,
        }
    }

    fn fams(&self) -> u8 {
        self.bits / FAMS
    }

    fn plain(&self, b: &Entry) -> bool {
        self.bits & b.bits & PLAIN != 0
    }

    /// False when `self` cannot cover `b` (a necessary condition of [`Ctx::covers`]);
    /// exact when both are plain and `self`'s addresses hold `b`'s.
    fn may_cover(&self, b: &Entry) -> bool {
        let port = |bit: u8, a: (u16, u16), x: (u16, u16)| {
            self.bits & bit == 0 || (b.bits & bit != 0 && a.0 <= x.0 && x.1 <= a.1)
        };
        (self.proto == ANY_PROTO || self.proto == b.proto)
            && b.fams() & !self.fams() == 0
            && port(SPORT, self.sport, b.sport)
            && port(DPORT, self.dport, b.dport)
    }

    /// False when `self` and `b` cannot overlap (a necessary condition of
    /// [`Ctx::may_overlap`]); exact when both are plain and their addresses overlap
    /// in a family both have.
    fn may_meet(&self, b: &Entry) -> bool {
        let ports = |e: &Entry| e.bits & (SPORT | DPORT) != 0;
        let tcp_udp = |p: u16| p == ANY_PROTO || p == 6 || p == 17;
        (self.proto == ANY_PROTO || b.proto == ANY_PROTO || self.proto == b.proto)
            && (!ports(self) || tcp_udp(b.proto))
            && (!ports(b) || tcp_udp(self.proto))
            && self.sport.0 <= b.sport.1
            && b.sport.0 <= self.sport.1
            && self.dport.0 <= b.dport.1
            && b.dport.0 <= self.dport.1
    }
}

/// Stable LSD radix sort of `items` by the low `bits` bits of `key`.
fn radix_sort<T: Copy>(items: &mut Vec<T>, bits: u32, key: impl Fn(&T) -> u64) {
    const DIGIT: u32 = 14;
    let mut tmp = items.clone();
    let mut shift = 0;
    while shift < bits {
        let mut count = vec![0u32; (1 << DIGIT) + 1];
        for it in items.iter() {
            count[((key(it) >> shift) & ((1 << DIGIT) - 1)) as usize + 1] += 1;
        }
        if count[1..].iter().any(|&c| c as usize == items.len()) {
            shift += DIGIT;
            continue;
        }
        for k in 1..count.len() {
            count[k] += count[k - 1];
        }
        for it in items.iter() {
            let at = &mut count[((key(it) >> shift) & ((1 << DIGIT) - 1)) as usize];
            tmp[*at as usize] = *it;
            *at += 1;
        }
        std::mem::swap(items, &mut tmp);
        shift += DIGIT;
    }
}

/// The distinct keys of one family and dimension, numbered in (network, length)
/// order, so that the keys inside a key come right after it: `parent` is the nearest
/// enclosing key, `end` the first key after the ones inside; `order` lists the rules
/// by key.
#[derive(Default)]
struct Keys {
    parent: Vec<u32>,
    end: Vec<u32>,
    order: Vec<u32>,
}

/// Numbers the keys of `pairs` (key, rule), sorted by key, into `ids` (per rule)
/// and links them; `contains(a, b)`: key `a` holds key `b`.
fn key_table<K: PartialEq + Copy>(
    pairs: &[(K, u32)],
    contains: impl Fn(K, K) -> bool,
    ids: &mut [u32],
) -> Keys {
    let mut keys = Keys {
        order: pairs.iter().map(|p| p.1).collect(),
        ..Keys::default()
    };
    let mut distinct: Vec<K> = Vec::new();
    let mut stack: Vec<u32> = Vec::new();
    for &(k, rule) in pairs {
        if distinct.last() != Some(&k) {
            let id = distinct.len() as u32;
            while let Some(&top) = stack.last() {
                if contains(distinct[top as usize], k) {
                    break;
                }
                keys.end[top as usize] = id;
                stack.pop();
            }
            keys.parent.push(stack.last().copied().unwrap_or(NIL));
            keys.end.push(NIL);
            stack.push(id);
            distinct.push(k);
        }
        ids[rule as usize] = distinct.len() as u32 - 1;
    }
    for top in stack {
        keys.end[top as usize] = distinct.len() as u32;
    }
    keys
}

/// One (primary key, secondary key) pair of a [`Dim`]: the secondary key id, the end
/// of the keys inside it, the nearest enclosing node of the same primary key, where
/// its entries start and where its [`Run`]s start (both end where the next node's
/// start).
#[derive(Clone, Copy, Debug)]
struct Node {
    sec: u32,
    sec_end: u32,
    parent: u32,
    start: u32,
    runs: u32,
}

/// The entries of a node with one class and protocol (a node of one entry has
/// none): first the ones with a single destination port, by (port, index), up to
/// `mid`; then the others, by index, up to `end`. A run starts where the previous
/// one ends (the first at the node's start).
#[derive(Clone, Copy, Debug)]
struct Run {
    class: u16,
    proto: u16,
    mid: u32,
    end: u32,
}

/// How a node sorts its entries (see [`Run`]).
fn run_order(e: &Entry) -> (u16, u16, bool, u16, u32) {
    let ranged = e.dport.0 != e.dport.1;
    (
        e.class,
        e.proto,
        ranged,
        if ranged { 0 } else { e.dport.0 },
        e.rule,
    )
}

/// The terminating rules whose primary dimension is this one, two levels deep: per
/// primary key id, its nodes (from `first[k]` to `first[k + 1]`) by secondary key
/// id; per node, its entries by (class, protocol, index). `up` skips from a key to
/// the nearest enclosing key that has nodes.
#[derive(Default)]
struct Dim {
    first: Vec<u32>,
    up: Vec<u32>,
    /// One more than there are nodes: the last only marks where entries and runs end.
    nodes: Vec<Node>,
    runs: Vec<Run>,
    entries: Vec<Entry>,
}

/// Nodes with more entries than this are searched run by run rather than scanned.
const SMALL_NODE: usize = 12;

impl Dim {
    /// The first key with nodes among `k` and the keys enclosing it.
    fn chain_start(&self, k: u32) -> u32 {
        if self.first[k as usize] < self.first[k as usize + 1] {
            k
        } else {
            self.up[k as usize]
        }
    }

    /// The runs of `node`, each with where it starts.
    fn runs(&self, node: u32) -> impl Iterator<Item = (u32, Run)> + '_ {
        let (a, b) = (
            self.nodes[node as usize].runs,
            self.nodes[node as usize + 1].runs,
        );
        let mut start = self.nodes[node as usize].start;
        self.runs[a as usize..b as usize].iter().map(move |r| {
            let s = start;
            start = r.end;
            (s, *r)
        })
    }

    fn entries(&self, node: u32) -> &[Entry] {
        let (a, b) = (
            self.nodes[node as usize].start,
            self.nodes[node as usize + 1].start,
        );
        &self.entries[a as usize..b as usize]
    }

    /// The deepest node of key `k` whose secondary key holds `bs`; its `parent`s
    /// are the others.
    fn enclosing(&self, k: u32, bs: u32) -> u32 {
        let (a, b) = (self.first[k as usize], self.first[k as usize + 1]);
        let mut j = if b - a == 1 {
            if self.nodes[a as usize].sec > bs {
                return NIL;
            }
            a
        } else {
            let p = self.nodes[a as usize..b as usize].partition_point(|n| n.sec <= bs);
            if p == 0 {
                return NIL;
            }
            a + p as u32 - 1
        };
        while j != NIL && self.nodes[j as usize].sec_end <= bs {
            j = self.nodes[j as usize].parent;
        }
        j
    }

    /// The nodes of key `k` whose secondary key is strictly inside `bs` (ids in
    /// `(bs, be)`): a contiguous run, given as the run of their entries.
    fn inside(&self, k: u32, bs: u32, be: u32) -> &[Entry] {
        let (a, b) = (self.first[k as usize], self.first[k as usize + 1]);
        let run = &self.nodes[a as usize..b as usize];
        let lo = run.partition_point(|n| n.sec <= bs);
        let hi = lo + run[lo..].partition_point(|n| n.sec < be);
        let (x, y) = (
            self.nodes[a as usize + lo].start,
            self.nodes[a as usize + hi].start,
        );
        &self.entries[x as usize..y as usize]
    }
}

/// The rules of one family. Every rule with something in the family has a key id
/// per dimension (0: source, 1: destination). Every rule that may end the program is an
/// [`Entry`] of the [`Dim`] of its longer key (its primary dimension; the source on a
/// tie). A rule `a` whose keys both hold rule `b`'s keys is therefore under a key on
/// the chain enclosing `b`'s key in `a`'s primary dimension, in a node whose secondary
/// key holds `b`'s other key; a rule whose keys overlap `b`'s is under such a key or
/// a key inside `b`'s (one contiguous run of nodes), in a node whose secondary key
/// holds `b`'s other key or lies inside it.
#[derive(Default)]
struct FamIndex {
    keys: [Keys; 2],
    /// Per dimension, the rules of the family by key.
    walk: [Vec<Walk>; 2],
    dims: [Dim; 2],
}

impl FamIndex {
    fn build(prep: &Prep, f: usize) -> FamIndex {
        let n = prep.rules.len();
        let members: Vec<u32> = (0..n as u32)
            .filter(|&i| prep.fams[i as usize] & (1 << f) != 0)
            .collect();
        if members.is_empty() {
            return FamIndex::default();
        }
        let mut ix = FamIndex::default();
        let mut ids = [vec![NIL; n], vec![NIL; n]];
        let mut lens = [vec![0u8; n], vec![0u8; n]];
        for d in 0..2 {
            ix.keys[d] = if f == 0 {
                // IPv4 keys packed as (network << 8 | length): ordered as `Key` orders.
                let mut pairs: Vec<(u64, u32)> = members
                    .iter()
                    .map(|&i| (prep.keys4[i as usize][d], i))
                    .collect();
                for p in &pairs {
                    lens[d][p.1 as usize] = p.0 as u8;
                }
                radix_sort(&mut pairs, 40, |p| p.0);
                let unpack = |p: u64| Key {
                    net: u128::from(p >> 8),
                    len: p as u8,
                };
                key_table(
                    &pairs,
                    |a, b| unpack(a).contains(unpack(b), 32),
                    &mut ids[d],
                )
            } else {
                let mut pairs: Vec<(Key, u32)> = members
                    .iter()
                    .map(|&i| (prep.keys6[i as usize][d], i))
                    .collect();
                for p in &pairs {
                    lens[d][p.1 as usize] = p.0.len;
                }
                pairs.sort_unstable();
                key_table(&pairs, |a, b| a.contains(b, 128), &mut ids[d])
            };
        }
        for d in 0..2 {
            ix.walk[d] = ix.keys[d]
                .order
                .iter()
                .map(|&i| {
                    let sec = ids[1 - d][i as usize];
                    let own = prep.terminating(i);
                    Walk {
                        q: prep.quick[i as usize],
                        key: ids[d][i as usize],
                        sec,
                        sec_end: ix.keys[1 - d].end[sec as usize],
                        own,
                        fams: prep.fams[i as usize],
                        // The longer key is the primary one (the source on a tie).
                        primary: usize::from(lens[0][i as usize] < lens[1][i as usize]) == d,
                    }
                })
                .collect();
        }
        for d in 0..2 {
            let nkeys = ix.keys[d].parent.len();
            let dim = &mut ix.dims[d];
            dim.first = vec![0; nkeys + 1];
            // The walk is by key, then by rule: a key's entries are together.
            let mut w = 0;
            let walk = &ix.walk[d];
            let mut items: Vec<(u32, u32, Entry)> = Vec::new();
            let mut stack: Vec<u32> = Vec::new();
            while w < walk.len() {
                let k = walk[w].key;
                let mut group = w + 1;
                while group < walk.len() && walk[group].key == k {
                    group += 1;
                }
                items.clear();
                items.extend(
                    walk[w..group]
                        .iter()
                        .filter(|x| x.primary && x.q.class != NO_CLASS)
                        .map(|x| (x.sec, x.sec_end, x.q)),
                );
                w = group;
                if items.is_empty() {
                    continue;
                }
                // By secondary key, then rule.
                if items.len() > 1 {
                    items.sort_unstable_by_key(|t| (t.0, t.2.rule));
                }
                stack.clear();
                let mut prev = NIL;
                for &(sec, sec_end, e) in &items {
                    if sec != prev {
                        while let Some(&top) = stack.last() {
                            if sec < dim.nodes[top as usize].sec_end {
                                break;
                            }
                            stack.pop();
                        }
                        dim.first[k as usize + 1] += 1;
                        dim.nodes.push(Node {
                            sec,
                            sec_end,
                            parent: stack.last().copied().unwrap_or(NIL),
                            start: dim.entries.len() as u32,
                            runs: 0,
                        });
                        stack.push(dim.nodes.len() as u32 - 1);
                        prev = sec;
                    }
                    dim.entries.push(e);
                }
            }
            dim.nodes.push(Node {
                sec: NIL,
                sec_end: NIL,
                parent: NIL,
                start: dim.entries.len() as u32,
                runs: 0,
            });
            for k in 1..dim.first.len() {
                dim.first[k] += dim.first[k - 1];
            }
            for j in 0..dim.nodes.len() {
                dim.nodes[j].runs = dim.runs.len() as u32;
                if j + 1 == dim.nodes.len() {
                    break;
                }
                let (a, b) = (dim.nodes[j].start as usize, dim.nodes[j + 1].start as usize);
                if b - a > 1 {
                    let g = &mut dim.entries[a..b];
                    g.sort_unstable_by_key(run_order);
                    let mut k = 0;
                    while k < g.len() {
                        let (class, proto) = (g[k].class, g[k].proto);
                        let same = g[k..].partition_point(|e| (e.class, e.proto) == (class, proto));
                        let run = &g[k..k + same];
                        let exact = run.partition_point(|e| e.dport.0 == e.dport.1);
                        dim.runs.push(Run {
                            class,
                            proto,
                            mid: (a + k + exact) as u32,
                            end: (a + k + same) as u32,
                        });
                        k += same;
                    }
                }
            }
            // Keys come after the keys enclosing them, so `up` of a parent is known.
            dim.up = vec![NIL; nkeys];
            for k in 0..nkeys {
                let p = ix.keys[d].parent[k];
                if p != NIL {
                    dim.up[k] = if dim.first[p as usize] < dim.first[p as usize + 1] {
                        p
                    } else {
                        dim.up[p as usize]
                    };
                }
            }
        }
        ix
    }
}

// ---- the pass --------------------------------------------------------------------

/// Per program, at most this many rules of each kind are listed one by one; the
/// others are counted in one more warning (a list of thousands helps nobody, and
/// each listed warning costs time to build and to print).
pub const MAX_LISTED: usize = 100;

/// Finds shadowed and redundant rules in every program of `module`.
pub fn run(module: &Module) -> Vec<Diagnostic> {
    let ctx = Ctx::new(module);
    let mut diags = Vec::new();
    let mut partial = 0usize;
    let mut first_partial = None;
    for prog in module.programs.values() {
        let found = check_program(&ctx, prog, LIMITS);
        report(prog, &found, MAX_LISTED, &mut diags);
        if let Some(&first) = found.unchecked.first() {
            partial += found.unchecked.len();
            first_partial.get_or_insert(prog.rules[first].span);
        }
    }
    if let Some(span) = first_partial {
        diags.push(
            Diagnostic::warning(
                "sockc::anomalies_partial",
                format!(
                    "anomaly check incomplete: {partial} rule{} not fully checked \
                     (search budget of {BUDGET} per rule exceeded)",
                    if partial == 1 { " was" } else { "s were" }
                ),
            )
            .label(span, "the first of them")
            .help("shadowed or redundant rules among them are not reported"),
        );
    }
    diags
}

/// What the search found in one program.
#[derive(Debug, Default)]
struct Found {
    /// (rule, the earlier rule covering it).
    shadowed: Vec<(usize, usize)>,
    /// (rule, the later rule deciding the same, or `None` for the default).
    redundant: Vec<(usize, Option<usize>)>,
    /// Rules whose search ran out of budget.
    unchecked: Vec<usize>,
}

/// The warnings for what was found, in rule order; past `max` of a kind, one
/// warning counts the rest.
fn report(prog: &Program, found: &Found, max: usize, diags: &mut Vec<Diagnostic>) {
    let rules = &prog.rules;
    let shadowed = found.shadowed.iter().take(max).map(|&(i, a)| {
        let (r, a) = (&rules[i], &rules[a]);
        let d = Diagnostic::warning(
            "sockc::shadowed",
            format!("rule never matches: covered by line {}", a.line),
        )
        .label(r.span, "never matches")
        .label(a.span, "this rule matches every packet it would")
        .help(format!(
            "remove it, or move it above line {} if it should take effect",
            a.line
        ));
        (i, d)
    });
    let redundant = found.redundant.iter().take(max).map(|&(i, c)| {
        let r = &rules[i];
        let d = match c {
            Some(c) => {
                let c = &rules[c];
                Diagnostic::warning(
                    "sockc::redundant",
                    format!(
                        "rule is redundant: line {} decides the same for every packet it matches",
                        c.line
                    ),
                )
                .label(r.span, "removing this rule changes no verdict")
                .label(c.span, "this rule decides the same")
            }
            None => Diagnostic::warning(
                "sockc::redundant",
                format!(
                    "rule is redundant: the default (line {}) decides the same for every \
                     packet it matches",
                    prog.default_line
                ),
            )
            .label(r.span, "removing this rule changes no verdict")
            .label(prog.default_span, "the default decides the same"),
        };
        (i, d.help("remove it (only its counter would change)"))
    });
    let mut listed: Vec<(usize, Diagnostic)> = shadowed.chain(redundant).collect();
    listed.sort_by_key(|x| x.0);
    diags.extend(listed.into_iter().map(|x| x.1));
    let more = |code: &'static str, what: &str, first: usize, count: usize| {
        Diagnostic::warning(
            code,
            format!(
                "{count} more rule{} {what} (not listed one by one)",
                if count == 1 { "" } else { "s" }
            ),
        )
        .label(rules[first].span, "the first of them")
    };
    if found.shadowed.len() > max {
        let first = found.shadowed[max].0;
        diags.push(more(
            "sockc::shadowed",
            "never match",
            first,
            found.shadowed.len() - max,
        ));
    }
    if found.redundant.len() > max {
        let first = found.redundant[max].0;
        diags.push(more(
            "sockc::redundant",
            "are redundant",
            first,
            found.redundant.len() - max,
        ));
    }
}

fn terminates(r: &Rule) -> bool {
    r.action != Action::Count && r.cond.is_none()
}

/// True when a rule with this action and condition, matching, may end the program
/// otherwise than `action` would.
fn decides_otherwise(a: Action, cond: bool, action: Action) -> bool {
    a != Action::Count && (cond || matches!(a, Action::Redirect(_)) || a != action)
}

fn same_as_default(a: Action, v: Verdict) -> bool {
    matches!(
        (a, v),
        (Action::Allow, Verdict::Allow)
            | (Action::Drop, Verdict::Drop)
            | (Action::Pass, Verdict::Pass)
    )
}

/// Class of a rule that is not in the index (a `count` rule, or one matching nothing).
const NO_CLASS: u16 = u16::MAX;

/// What the searches need of every rule.
struct Prep<'m> {
    rules: &'m [Rule],
    /// Per rule, its IPv4 keys (source, destination) packed as (network << 8 | length).
    keys4: Vec<[u64; 2]>,
    /// Per rule, its IPv6 keys (empty when no rule has IPv6).
    keys6: Vec<[Key; 2]>,
    /// Families it may match (0: matches nothing).
    fams: Vec<u8>,
    /// Its quick form; the class (index into `classes`: action, has a condition) is
    /// [`NO_CLASS`] unless the rule may end the program.
    quick: Vec<Entry>,
    classes: Vec<(Action, bool)>,
    /// Per class, the classes (below 64) whose rules decide otherwise, as bits.
    block_masks: Vec<u64>,
}

impl Prep<'_> {
    /// True when a rule of class `c`, matching, may end the program otherwise than
    /// one of class `own` would.
    fn blocks(&self, own: u16, c: u16) -> bool {
        match self.block_masks.get(own as usize) {
            Some(mask) if c < 64 => mask >> c & 1 != 0,
            _ => {
                let (a, cond) = self.classes[c as usize];
                decides_otherwise(a, cond, self.classes[own as usize].0)
            }
        }
    }

    /// The class of rule `i` if it always ends the program when it matches.
    fn terminating(&self, i: u32) -> u16 {
        let c = self.quick[i as usize].class;
        if c != NO_CLASS && !self.classes[c as usize].1 {
            c
        } else {
            NO_CLASS
        }
    }
}

/// A rule in the order of its key in one dimension, with its key ids and what the
/// searches read of it (so that a walk in key order reads memory in order).
#[derive(Clone, Copy, Debug)]
struct Walk {
    q: Entry,
    key: u32,
    /// Its key id in the other dimension, and the end of the keys inside that.
    sec: u32,
    sec_end: u32,
    /// Its class if it always ends the program when it matches, else [`NO_CLASS`].
    own: u16,
    fams: u8,
    /// True when this dimension is the rule's primary one (see [`FamIndex`]).
    primary: bool,
}

/// The search state of one rule.
#[derive(Clone, Copy, Debug)]
struct State {
    shadow: u32,
    cover: u32,
    /// The earliest later rule found that overlaps it and decides otherwise.
    blocker: u32,
    /// The covering walk did not look at every rule that decides otherwise.
    partial: bool,
    work: u32,
    done: Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Searching,
    /// Redundant: nothing in between decides otherwise.
    Redundant,
    /// Shadowed, not a candidate for redundancy, or decided either way.
    Yes,
    OutOfBudget,
}

/// The anomalies of one program. Each rule's searches go through the index one
/// dimension at a time, the rules taken in the order of their key in that
/// dimension, so that neighbours share the keys and nodes they walk.
fn check_program(ctx: &Ctx, prog: &Program, limits: Limits) -> Found {
    let budget = limits.budget;
    let rules = &prog.rules;
    let n = rules.len();
    let mut classes: Vec<(Action, bool)> = Vec::new();
    let mut keys4: Vec<[u64; 2]> = Vec::with_capacity(n);
    let mut keys6: Vec<[Key; 2]> = Vec::new();
    let quick: Vec<Entry> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let Some(s) = ctx.shape(&r.m) else {
                keys4.push([0; 2]);
                return Entry::new(i as u32, NO_CLASS, &Shape::NOTHING);
            };
            let k4 = |a: &Addr| {
                let k = ctx.key(a, 0);
                ((k.net as u64) << 8) | u64::from(k.len)
            };
            keys4.push(if s.fams & 1 != 0 {
                [k4(&s.src), k4(&s.dst)]
            } else {
                [0; 2]
            });
            if s.fams & 2 != 0 {
                keys6.resize(n, [Key::ROOT; 2]);
                keys6[i] = [ctx.key(&s.src, 1), ctx.key(&s.dst, 1)];
            }
            let c = (r.action, r.cond.is_some());
            let class = if r.action == Action::Count {
                NO_CLASS
            } else {
                match classes.iter().position(|x| *x == c) {
                    Some(k) => k as u16,
                    None => {
                        classes.push(c);
                        (classes.len() - 1) as u16
                    }
                }
            };
            Entry::new(i as u32, class, &s)
        })
        .collect();
    let block_masks = classes
        .iter()
        .map(|&(own, _)| {
            classes
                .iter()
                .take(64)
                .enumerate()
                .filter(|(_, &(a, cond))| decides_otherwise(a, cond, own))
                .fold(0u64, |m, (c, _)| m | 1 << c)
        })
        .collect();
    let prep = Prep {
        rules,
        keys4,
        keys6,
        block_masks,
        fams: quick.iter().map(Entry::fams).collect(),
        quick,
        classes,
    };
    let shape = |i: u32| ctx.shape(&rules[i as usize].m).expect("indexed");
    let index = [FamIndex::build(&prep, 0), FamIndex::build(&prep, 1)];
    let mut state: Vec<State> = (0..n)
        .map(|i| State {
            shadow: i as u32,
            cover: n as u32,
            blocker: n as u32,
            partial: false,
            work: 0,
            done: if prep.fams[i] == 0 {
                Done::Yes
            } else {
                Done::Searching
            },
        })
        .collect();

    // Covering rules: the earliest terminating one before (shadowed) and the nearest
    // later one with the same action (redundant if nothing in between decides
    // otherwise), among the rules whose keys hold the rule's keys (in its first
    // family: a covering rule covers every family). The same walk notes the
    // earliest later rule among them that decides otherwise (they all overlap it).
    for (f, ix) in index.iter().enumerate() {
        for (d, dim) in ix.dims.iter().enumerate() {
            for w in &ix.walk[d] {
                let (i, q, own) = (w.q.rule, w.q, w.own);
                if usize::from(w.fams & 1 == 0) != f {
                    continue;
                }
                let mut st = state[i as usize];
                let st = &mut st;
                let blocks = |c: u16| own != NO_CLASS && prep.blocks(own, c);
                let block = |e: &Entry, st: &mut State| {
                    if e.rule > i && e.rule < st.blocker && blocks(e.class) && e.may_meet(&q) {
                        st.work += 1;
                        if e.plain(&q) || {
                            st.work += 4;
                            ctx.may_overlap(&shape(e.rule), &shape(i), &mut st.work)
                        } {
                            st.blocker = e.rule;
                        }
                    }
                };
                let covers = |e: &Entry, st: &mut State| {
                    st.work += 1;
                    e.plain(&q) || {
                        st.work += 4;
                        ctx.covers(&shape(e.rule), &shape(i), &mut st.work)
                    }
                };
                let visit = |e: &Entry, st: &mut State| {
                    if e.rule < i {
                        if e.rule < st.shadow
                            && !prep.classes[e.class as usize].1
                            && e.may_cover(&q)
                            && covers(e, st)
                        {
                            st.shadow = e.rule;
                        }
                        return;
                    }
                    if e.rule == i {
                        return;
                    }
                    if e.class == own && e.rule < st.cover && e.may_cover(&q) && covers(e, st) {
                        st.cover = e.rule;
                        return;
                    }
                    block(e, st);
                };
                let bs = w.sec;
                let mut k = dim.chain_start(w.key);
                while k != NIL {
                    let mut node = dim.enclosing(k, bs);
                    while node != NIL {
                        let g = dim.entries(node);
                        st.work += 1;
                        if g.len() <= limits.small.max(1) {
                            st.work += g.len() as u32 / 4;
                            for e in g {
                                visit(e, st);
                            }
                        } else {
                            // Run by run: earlier rules ascend from the start of a
                            // part, later ones from just after this rule.
                            for (start, run) in dim.runs(node) {
                                let p = run.proto;
                                // Overlapping needs compatible protocols, covering a
                                // protocol that holds this rule's.
                                if !(p == ANY_PROTO || q.proto == ANY_PROTO || p == q.proto) {
                                    continue;
                                }
                                let blocking = blocks(run.class);
                                let holds = p == ANY_PROTO || p == q.proto;
                                let shadows = holds && !prep.classes[run.class as usize].1;
                                let covers = holds && run.class == own;
                                if !(blocking || shadows || covers) {
                                    continue;
                                }
                                st.work += 1;
                                // Single ports, by port: those inside this rule's ports
                                // may overlap it; only its own port may cover it.
                                let exact = &dim.entries[start as usize..run.mid as usize];
                                let (lo, hi) = if q.dport == (0, u16::MAX) {
                                    (0, exact.len())
                                } else {
                                    let lo = exact.partition_point(|e| e.dport.0 < q.dport.0);
                                    (
                                        lo,
                                        lo + exact[lo..]
                                            .partition_point(|e| e.dport.0 <= q.dport.1),
                                    )
                                };
                                let single = q.dport.0 == q.dport.1;
                                // The others, by index: earlier rules from the start,
                                // later ones from just after this rule.
                                let ranged = &dim.entries[run.mid as usize..run.end as usize];
                                let from = ranged.partition_point(|e| e.rule <= i);
                                if blocking {
                                    // Many: left for the search of rules in between.
                                    if hi - lo > 16 {
                                        st.partial = true;
                                    } else {
                                        for e in &exact[lo..hi] {
                                            block(e, st);
                                        }
                                    }
                                    for e in &ranged[from..] {
                                        if e.rule >= st.blocker {
                                            break;
                                        }
                                        block(e, st);
                                    }
                                }
                                let own_port: &[Entry] = if single { &exact[lo..hi] } else { &[] };
                                for part in [own_port, ranged] {
                                    if shadows {
                                        let mut j = 0;
                                        while j < part.len() && part[j].rule < st.shadow {
                                            st.work += 1;
                                            visit(&part[j], st);
                                            j += 1;
                                        }
                                    }
                                }
                                if covers {
                                    for e in own_port {
                                        if e.rule > i && e.rule < st.cover {
                                            st.work += 1;
                                            visit(e, st);
                                        }
                                    }
                                    for e in &ranged[from..] {
                                        if e.rule >= st.cover {
                                            break;
                                        }
                                        st.work += 1;
                                        visit(e, st);
                                    }
                                }
                            }
                        }
                        node = dim.nodes[node as usize].parent;
                    }
                    k = dim.up[k as usize];
                }
                state[i as usize] = *st;
            }
        }
    }

    let mut found = Found::default();
    for (i, r) in rules.iter().enumerate() {
        let st = &mut state[i];
        if st.done != Done::Searching {
            continue;
        }
        if st.work > budget {
            st.done = Done::OutOfBudget;
            continue;
        }
        if (st.shadow as usize) < i {
            found.shadowed.push((i, st.shadow as usize));
            st.done = Done::Yes;
            continue;
        }
        let cover = st.cover as usize;
        if !terminates(r)
            || (cover == n && !same_as_default(r.action, prog.default))
            || st.blocker < st.cover
        {
            st.done = Done::Yes;
            continue;
        }
        // Few rules in between: look at each.
        if cover - i - 1 <= limits.linear {
            let b = shape(i as u32);
            let blocked = (i + 1..cover).any(|j| {
                st.work += 1;
                let x = &rules[j];
                decides_otherwise(x.action, x.cond.is_some(), r.action)
                    && prep.fams[j] != 0
                    && prep.quick[j].may_meet(&prep.quick[i])
                    && ctx.may_overlap(&shape(j as u32), &b, &mut st.work)
            });
            st.done = if blocked {
                Done::Yes
            } else if st.work > budget {
                Done::OutOfBudget
            } else {
                Done::Searching
            };
            // Searching still: nothing decides otherwise.
            if st.done == Done::Searching {
                st.done = Done::Redundant;
            }
        }
    }

    // Rules that may decide otherwise in between (or after, for the default): among
    // the rules whose keys overlap the rule's keys, in every family it has.
    let mut pending: Vec<u64> = vec![0; n.div_ceil(64)];
    for (i, st) in state.iter().enumerate() {
        if st.done == Done::Searching {
            pending[i / 64] |= 1 << (i % 64);
        }
    }
    // Stage 0: the keys holding the rule's key (few, and the most likely to overlap);
    // stage 1: the keys inside it, in the dimension with fewer of them; stage 2: in
    // the other dimension.
    for stage in 0..3 {
        for (f, ix) in index.iter().enumerate() {
            for (d, dim) in ix.dims.iter().enumerate() {
                for w in &ix.walk[d] {
                    let (i, q) = (w.q.rule, w.q);
                    if pending[i as usize / 64] & (1 << (i % 64)) == 0 {
                        continue;
                    }
                    let (bs, be, own_key) = (w.sec, w.sec_end, w.key);
                    let end = ix.keys[d].end[own_key as usize];
                    let inside = dim.first[own_key as usize + 1]..dim.first[end as usize];
                    if stage > 0 {
                        let other = &ix.dims[1 - d];
                        let theirs = other.first[be as usize] - other.first[bs as usize + 1];
                        let mine = inside.len() as u32;
                        // Ties: the source first.
                        let smaller = mine < theirs || (mine == theirs && d == 0);
                        if smaller != (stage == 1) {
                            continue;
                        }
                    }
                    let st = &mut state[i as usize];
                    let blocks = |c: u16| prep.blocks(q.class, c);
                    let hit = |e: &Entry, st: &mut State| -> bool {
                        if e.rule <= i || e.rule >= st.cover || !blocks(e.class) || !e.may_meet(&q)
                        {
                            return false;
                        }
                        st.work += 1;
                        // `may_meet` was exact (the index found their addresses nested).
                        e.plain(&q) || {
                            st.work += 4;
                            ctx.may_overlap(&shape(e.rule), &shape(i), &mut st.work)
                        }
                    };
                    // Entries of several nodes (not in index order).
                    let scan_any = |g: &[Entry], st: &mut State| -> bool {
                        st.work = st.work.saturating_add(1 + g.len() as u32 / 8);
                        g.iter().any(|e| hit(e, st))
                    };
                    // One node's entries: by class and protocol, within the index window.
                    let scan_node = |node: u32, st: &mut State| -> bool {
                        let g = dim.entries(node);
                        if g.len() <= limits.small.max(1) {
                            return scan_any(g, st);
                        }
                        for (start, run) in dim.runs(node) {
                            let p = run.proto;
                            if !blocks(run.class)
                                || !(p == ANY_PROTO || q.proto == ANY_PROTO || p == q.proto)
                            {
                                continue;
                            }
                            st.work += 1;
                            // Single ports inside this rule's ports, by port.
                            let exact = &dim.entries[start as usize..run.mid as usize];
                            let lo = exact.partition_point(|e| e.dport.0 < q.dport.0);
                            let hi = lo + exact[lo..].partition_point(|e| e.dport.0 <= q.dport.1);
                            st.work = st.work.saturating_add((hi - lo) as u32 / 8);
                            for e in &exact[lo..hi] {
                                if hit(e, st) {
                                    return true;
                                }
                            }
                            // The others, by index.
                            let ranged = &dim.entries[run.mid as usize..run.end as usize];
                            let from = ranged.partition_point(|e| e.rule <= i);
                            for e in &ranged[from..] {
                                if e.rule >= st.cover {
                                    break;
                                }
                                if hit(e, st) {
                                    return true;
                                }
                            }
                        }
                        false
                    };
                    let mut blocked = false;
                    // Keys holding its key: nodes holding its other key (the covering
                    // walk looked at those in the rule's first family) or inside it
                    // (none when nothing is inside its other key).
                    let walked = usize::from(w.fams & 1 == 0) == f && !st.partial;
                    let mut k = if stage == 0 && (!walked || be > bs + 1) {
                        dim.chain_start(own_key)
                    } else {
                        NIL
                    };
                    'keys: while k != NIL {
                        let mut node = if walked { NIL } else { dim.enclosing(k, bs) };
                        while node != NIL {
                            if scan_node(node, st) {
                                blocked = true;
                                break 'keys;
                            }
                            node = dim.nodes[node as usize].parent;
                        }
                        if be > bs + 1 && scan_any(dim.inside(k, bs, be), st) {
                            blocked = true;
                            break 'keys;
                        }
                        if st.work > budget {
                            break 'keys;
                        }
                        k = dim.up[k as usize];
                    }
                    // Keys inside its key: every node whose other key is nested with its.
                    if stage > 0 && !blocked && st.work <= budget {
                        for j in inside {
                            st.work += 1;
                            let nd = dim.nodes[j as usize];
                            let nested =
                                (nd.sec <= bs && bs < nd.sec_end) || (bs <= nd.sec && nd.sec < be);
                            if nested && scan_node(j, st) {
                                blocked = true;
                                break;
                            }
                            if st.work > budget {
                                break;
                            }
                        }
                    }
                    if blocked {
                        st.done = Done::Yes;
                    } else if st.work > budget {
                        st.done = Done::OutOfBudget;
                    }
                    if st.done != Done::Searching {
                        pending[i as usize / 64] &= !(1 << (i % 64));
                    }
                }
            }
        }
    }
    for (i, st) in state.iter().enumerate() {
        match st.done {
            Done::Searching | Done::Redundant => found
                .redundant
                .push((i, (st.cover < n as u32).then_some(st.cover as usize))),
            Done::OutOfBudget => found.unchecked.push(i),
            Done::Yes => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        diag::{LineIndex, Span},
        eval::{self, IpHeader, L4Fields},
        ir::{AddrSet, SetId, SockId, Step},
        syntax::ast::SockCond,
    };

    fn module(src: &str) -> Module {
        let (ast, diags) = crate::syntax::parse(src);
        assert!(diags.is_empty(), "{diags:?}");
        let (m, diags) = crate::sema::check(&ast, src, &Default::default());
        assert!(!crate::diag::has_errors(&diags), "{diags:?}");
        m.unwrap()
    }

    /// (code, line of the first label, line of the second) of every finding.
    fn findings(src: &str, m: &Module) -> Vec<(&'static str, usize, usize)> {
        let lines = LineIndex::new(src);
        run(m)
            .iter()
            .map(|d| {
                assert_eq!(d.severity, crate::diag::Severity::Warning);
                assert_eq!(d.labels.len(), 2, "{d:?}");
                (
                    d.code,
                    lines.line(d.labels[0].span),
                    lines.line(d.labels[1].span),
                )
            })
            .collect()
    }

    /// The findings of an XDP block holding `body` (rules start on line 2 of the
    /// block; lines are numbered from the first line of `sets`).
    fn lint(sets: &str, body: &str) -> Vec<(&'static str, usize, usize)> {
        let src = format!("{sets}xdp on eth0 {{\n{body}}}\n");
        findings(&src, &module(&src))
    }

    const SHADOWED: &str = "sockc::shadowed";
    const REDUNDANT: &str = "sockc::redundant";

    #[test]
    fn a_wider_earlier_rule_shadows() {
        let body = "drop tcp to 10.0.0.0/8\nallow tcp to 10.1.0.0/16:22\ndefault allow\n";
        assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
        // The earliest covering rule is named.
        let body = "drop tcp\ndrop tcp to 10.0.0.0/8\nallow tcp to 10.1.0.0/16:22\ndefault allow\n";
        assert_eq!(lint("", body), [(SHADOWED, 3, 2), (SHADOWED, 4, 2)]);
    }

    #[test]
    fn the_message_names_both_rules() {
        let src = "xdp on eth0 {\ndrop tcp\ncount tcp to *:80\ndefault allow\n}\n";
        let d = run(&module(src));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "rule never matches: covered by line 2");
        assert_eq!(d[0].labels[0].text, "never matches");
        assert_eq!(
            &src[d[0].labels[0].span.start..d[0].labels[0].span.end],
            "count tcp to *:80"
        );
        assert_eq!(
            &src[d[0].labels[1].span.start..d[0].labels[1].span.end],
            "drop tcp"
        );
    }

    #[test]
    fn count_rules_neither_shadow_nor_end_anything() {
        // A count rule never ends the program, so it shadows nothing ...
        assert_eq!(lint("", "count tcp\ndrop tcp to *:22\ndefault allow\n"), []);
        // ... but can be shadowed (it never counts).
        assert_eq!(
            lint("", "allow udp\ncount udp to *:53\ndefault drop\n"),
            [(SHADOWED, 3, 2)]
        );
        // And it does not stand between a rule and the one that decides the same.
        assert_eq!(
            lint("", "drop tcp to *:22\ncount tcp\ndrop tcp\ndefault allow\n"),
            [(REDUNDANT, 2, 4)]
        );
    }

    #[test]
    fn partial_overlap_is_no_anomaly() {
        let body = "drop tcp to 10.0.0.0/24\nallow tcp to 10.0.0.0/16\ndefault drop\n";
        assert_eq!(lint("", body), []);
        let body = "drop tcp to *:1-100\nallow tcp to *:50-200\ndefault drop\n";
        assert_eq!(lint("", body), []);
        let body = "drop tcp from 10.0.0.0/8\nallow tcp to 10.0.0.0/8\ndefault drop\n";
        assert_eq!(lint("", body), []);
    }

    /// Only the shadowed findings of [`lint`].
    fn shadows(sets: &str, body: &str) -> Vec<(&'static str, usize, usize)> {
        let mut all = lint(sets, body);
        all.retain(|f| f.0 == SHADOWED);
        all
    }

    #[test]
    fn families_must_be_covered_one_by_one() {
        // ip4 does not cover a rule of both families, nor IPv6 an IPv4 one.
        assert_eq!(shadows("", "drop ip4\ndrop tcp\ndefault allow\n"), []);
        assert_eq!(shadows("", "drop ip6\ndrop ip4 tcp\ndefault allow\n"), []);
        assert_eq!(
            shadows("", "drop ip4\ndrop ip4 tcp\ndefault allow\n"),
            [(SHADOWED, 3, 2)]
        );
        // `any` is both families, not every frame; a rule with no match is every frame.
        assert_eq!(
            shadows("", "drop any\ndrop ip6 udp\ndefault allow\n"),
            [(SHADOWED, 3, 2)]
        );
        assert_eq!(shadows("", "drop any\ncount\ndefault allow\n"), []);
        assert_eq!(
            shadows("", "count\ndrop\ndrop any\ndefault allow\n"),
            [(SHADOWED, 4, 3)]
        );
        // icmp means IPv4 only.
        assert_eq!(
            shadows("", "drop ip4\nallow icmp\ndefault allow\n"),
            [(SHADOWED, 3, 2)]
        );
        assert_eq!(shadows("", "drop ip6\nallow icmp\ndefault allow\n"), []);
        // A rule of both families is redundant only if both are decided the same.
        assert_eq!(lint("", "drop tcp\ndrop ip4\ndefault allow\n"), []);
        assert_eq!(
            lint("", "drop ip4 tcp\ndrop ip4\ndefault allow\n"),
            [(REDUNDANT, 2, 3)]
        );
    }

    #[test]
    fn sets_cover_by_their_members() {
        // Two halves of a /24 cover the /24, though neither does alone.
        let sets = "set halves = { 10.0.0.0/25, 10.0.0.128/25 }\n";
        let body = "drop from @halves\nallow from 10.0.0.0/24\ndefault allow\n";
        assert_eq!(shadows(sets, body), [(SHADOWED, 4, 3)]);
        let sets = "set gap = { 10.0.0.0/25, 10.0.1.0/25 }\n";
        let body = "drop from @gap\nallow from 10.0.0.0/24\ndefault allow\n";
        assert_eq!(shadows(sets, body), []);
        // A set covers a set element by element, per family.
        let sets =
            "set a = { 10.0.0.0/8, 2001:db8::/32 }\nset b = { 10.1.0.0/16, 2001:db8:1::/48 }\n\
                    set c = { 10.1.0.0/16, 2001:db9::/48 }\n";
        let body = "drop to @a\nallow to @b\nallow to @c\ndefault allow\n";
        assert_eq!(shadows(sets, body), [(SHADOWED, 6, 5)]);
        // A set with no IPv6 element does not cover the IPv6 side of a rule.
        let sets = "set v4 = { 10.0.0.0/8 }\nset mixed = { 10.1.0.0/16, 2001:db8::/32 }\n";
        let body = "drop from @v4\ndrop from @mixed\ndefault allow\n";
        assert_eq!(lint(sets, body), []);
        // A prefix covers a set whose members are all inside it, and the other way.
        let sets = "set s = { 10.1.0.0/16, 10.2.0.0/16 }\n";
        let body = "drop from 10.0.0.0/8\nallow from @s\ndefault allow\n";
        assert_eq!(shadows(sets, body), [(SHADOWED, 4, 3)]);
        let body = "drop from 10.1.2.0/24\nallow from 10.3.0.0/16\ndrop from @s\ndefault allow\n";
        assert_eq!(lint(sets, body), [(REDUNDANT, 3, 5), (REDUNDANT, 4, 6)]);
        // The same set is the same addresses.
        let sets = "set s = { 10.1.0.0/16, 2001:db8::/32 }\n";
        let body = "drop from @s\ndrop tcp from @s\ndefault allow\n";
        assert_eq!(shadows(sets, body), [(SHADOWED, 4, 3)]);
    }

    #[test]
    fn a_rule_that_matches_nothing_is_skipped() {
        // @v4 has no IPv6 element: `ip6 from @v4` matches nothing; it neither covers
        // nor is reported, and does not stand in the way.
        let sets = "set v4 = { 10.0.0.0/8 }\n";
        let body = "drop ip6 from @v4\ndrop ip6 tcp\nallow ip6 from @v4\ndefault allow\n";
        assert_eq!(lint(sets, body), []);
        let body = "drop ip6 tcp to *:22\nallow ip6 from @v4\ndrop ip6 tcp\ndefault allow\n";
        assert_eq!(lint(sets, body), [(REDUNDANT, 3, 5)]);
    }

    #[test]
    fn tcp_flags() {
        let body = "drop tcp syn\ndrop tcp syn !ack\ndefault allow\n";
        assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
        // The narrower rule first: it is redundant (the later one decides the same).
        let body = "drop tcp syn !ack\ndrop tcp syn\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 3)]);
        let body = "drop tcp syn !ack\nallow tcp syn ack\ndefault allow\n";
        assert_eq!(shadows("", body), []);
        let body = "drop tcp syn\nallow tcp to *:80\ndefault drop\n";
        assert_eq!(lint("", body), []);
        // Contradicting flags: the allow cannot overlap, so the first drop is redundant.
        let body = "drop tcp syn !ack\nallow tcp ack\ndrop tcp syn\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 4)]);
        // Flags that may hold together do overlap.
        let body = "drop tcp syn !ack\nallow tcp fin\ndrop tcp syn\ndefault allow\n";
        assert_eq!(lint("", body), []);
    }

    #[test]
    fn icmp_type_and_code() {
        let body = "allow icmp type echo-request\ndrop icmp type 8 code 0\ndefault drop\n";
        assert_eq!(shadows("", body), [(SHADOWED, 3, 2)]);
        let body = "allow icmp type 8\ndrop icmp type 0\ndefault allow\n";
        assert_eq!(shadows("", body), []);
        let body = "allow icmp code 1\ndrop icmp type 3 code 2\ndefault allow\n";
        assert_eq!(shadows("", body), []);
        let body =
            "drop icmp type 8 code 0\nallow icmp type 8 code 1\ndrop icmp type 8\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 4)]);
        let body = "drop icmp type 8 code 0\nallow icmp code 0\ndrop icmp type 8\ndefault allow\n";
        assert_eq!(lint("", body), []);
    }

    #[test]
    fn ports_and_protocols() {
        let body = "drop tcp to *:1-1024\ndrop tcp to *:22\ndefault allow\n";
        assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
        // A port without a protocol means tcp or udp: covers tcp, is not covered by it.
        let body = "drop to *:22\nallow tcp to *:22\ndefault drop\n";
        assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
        let body = "allow tcp to *:22\ndrop to *:22\ndefault allow\n";
        assert_eq!(lint("", body), []);
        // A port set covers each of its ranges.
        let sets = "set web = { 80, 443, 8000-8080 }\n";
        let body = "allow tcp to *:@web\ndrop tcp to *:8001\ndrop tcp to *:81\ndefault drop\n";
        assert_eq!(lint(sets, body), [(SHADOWED, 4, 3), (REDUNDANT, 5, 6)]);
        // Ports need tcp or udp: an icmp rule cannot overlap a port rule.
        let body = "drop to *:53\nallow icmp\ndrop to *:1-100\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 4), (REDUNDANT, 3, 5)]);
        let body = "drop to *:53\nallow proto 47\ndrop to *:1-100\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 4), (REDUNDANT, 3, 5)]);
        let body = "drop to *:53\nallow any\ndrop to *:1-100\ndefault allow\n";
        assert_eq!(lint("", body), [(SHADOWED, 4, 3)]);
    }

    #[test]
    fn redundant_when_a_later_rule_decides_the_same() {
        let body = "drop tcp to 10.1.0.0/16\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 3)]);
        // A rule in between that decides otherwise but cannot overlap changes nothing.
        let body = "drop tcp to 10.1.0.0/16\nallow tcp to 10.2.0.0/16\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 4)]);
        // One that may overlap does.
        let body = "drop tcp to 10.1.0.0/16\nallow tcp from 192.0.2.0/24\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
        assert_eq!(lint("", body), []);
        let body =
            "drop tcp to 10.1.0.0/16\nallow to *:80\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
        assert_eq!(lint("", body), []);
        // The nearest such rule is named.
        let body = "drop tcp to 10.1.0.0/16\ndrop tcp to 10.0.0.0/8\ndrop tcp\ndefault allow\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 3), (REDUNDANT, 3, 4)]);
    }

    #[test]
    fn redundant_when_the_default_decides_the_same() {
        let src = "xdp on eth0 {\nallow tcp to *:80\ndefault allow\n}\n";
        let d = run(&module(src));
        assert_eq!(
            d[0].message,
            "rule is redundant: the default (line 3) decides the same for every packet it matches"
        );
        assert_eq!(
            &src[d[0].labels[1].span.start..d[0].labels[1].span.end],
            "default allow"
        );
        // Not when the default differs, or a later rule may decide otherwise.
        assert_eq!(lint("", "allow tcp to *:80\ndefault drop\n"), []);
        assert_eq!(lint("", "allow tcp to *:80\ndrop tcp\ndefault allow\n"), []);
        // Later rules with the same action or count rules do not stand in the way.
        assert_eq!(
            lint(
                "",
                "allow tcp to *:80\nallow udp\ncount tcp\ndefault allow\n"
            ),
            [(REDUNDANT, 2, 5), (REDUNDANT, 3, 5)]
        );
    }

    #[test]
    fn a_shadowed_rule_is_not_also_redundant() {
        let body = "drop tcp\ndrop tcp to *:22\ndefault drop\n";
        assert_eq!(lint("", body), [(REDUNDANT, 2, 4), (SHADOWED, 3, 2)]);
    }

    /// Sets `cond` on rule `i` of the first program (sema does not accept socket
    /// conditions yet).
    fn with_cond(mut m: Module, i: usize, cond: SockCond) -> Module {
        m.programs.values_mut().next().unwrap().rules[i].cond = Some(cond);
        m
    }

    #[test]
    fn socket_conditions() {
        // A rule with a condition does not always end the program: it shadows nothing.
        let src = "xdp on eth0 {\ndrop tcp\ndrop tcp to *:22\ndefault allow\n}\n";
        let m = with_cond(module(src), 0, SockCond::Exists);
        assert_eq!(findings(src, &m), []);
        // It can itself be shadowed.
        let m = with_cond(module(src), 1, SockCond::Exists);
        assert_eq!(findings(src, &m), [(SHADOWED, 3, 2)]);
        // It stands in the way of redundancy even with the same action, and is never
        // redundant itself.
        let src =
            "xdp on eth0 {\ndrop tcp to *:22\ndrop tcp to *:20-30\ndrop tcp\ndefault allow\n}\n";
        assert_eq!(
            findings(src, &module(src)),
            [(REDUNDANT, 2, 3), (REDUNDANT, 3, 4)]
        );
        let m = with_cond(module(src), 1, SockCond::NoSocket);
        assert_eq!(findings(src, &m), []);
        let src = "xdp on eth0 {\ndrop tcp to *:22\ndefault drop\n}\n";
        let m = with_cond(module(src), 0, SockCond::Listening);
        assert_eq!(findings(src, &m), []);
    }

    /// An sk_lookup program (sema does not accept those yet): an XDP block whose
    /// actions are replaced, `None` keeping the rule's own.
    fn sk_lookup(src: &str, actions: &[Option<Action>], default: Verdict) -> Module {
        let mut m = module(src);
        let p = m.programs.values_mut().next().unwrap();
        p.hook = crate::hooks::HookKind::SkLookup;
        p.default = default;
        for (r, a) in p.rules.iter_mut().zip(actions) {
            if let Some(a) = a {
                r.action = *a;
            }
        }
        m
    }

    #[test]
    fn redirects() {
        let (a, b) = (
            Some(Action::Redirect(Some(SockId::new(0)))),
            Some(Action::Redirect(Some(SockId::new(1)))),
        );
        let src = "xdp on eth0 {\ndrop tcp to 10.0.0.1:80\ndrop tcp from 192.0.2.0/24 to 10.0.0.0/24:80\n\
                   drop tcp to 10.0.0.0/8:80\ndefault allow\n}\n";
        // A redirect to another socket in between stands in the way ...
        let m = sk_lookup(src, &[a, b, a], Verdict::Pass);
        assert_eq!(findings(src, &m), []);
        // ... and so does one to the same socket: a redirect is never passed over ...
        let m = sk_lookup(src, &[a, a, a], Verdict::Pass);
        assert_eq!(findings(src, &m), [(REDUNDANT, 3, 4)]);
        let m = sk_lookup(src, &[a, None, a], Verdict::Pass);
        assert_eq!(findings(src, &m), []);
        // ... but the covering redirect itself is the same verdict.
        let src = "xdp on eth0 {\ndrop tcp to 10.0.0.1:80\ndrop tcp to 10.0.0.0/24:80\n\
                   default allow\n}\n";
        let m = sk_lookup(src, &[a, a], Verdict::Pass);
        assert_eq!(findings(src, &m), [(REDUNDANT, 2, 3)]);
        let m = sk_lookup(src, &[a, b], Verdict::Pass);
        assert_eq!(findings(src, &m), []);
        let src = "xdp on eth0 {\ndrop tcp to 10.0.0.1:80\ndrop tcp to 10.0.0.0/8:80\n\
                   allow tcp to 10.0.0.0/8\ndrop tcp to 10.1.0.0/16:80\ndefault allow\n}\n";
        let m = sk_lookup(src, &[a, a, Some(Action::Pass), b], Verdict::Pass);
        assert_eq!(findings(src, &m), [(REDUNDANT, 2, 3), (SHADOWED, 5, 3)]);
        // A redirect is never the default's verdict; a pass rule can be.
        let src = "xdp on eth0 {\nallow udp\ndrop tcp\ndefault allow\n}\n";
        let m = sk_lookup(src, &[Some(Action::Pass), a], Verdict::Pass);
        assert_eq!(findings(src, &m), [(REDUNDANT, 2, 4)]);
    }

    #[test]
    fn the_cap_is_reported() {
        let src = "xdp on eth0 {\ndrop tcp to 10.0.0.0/24\ndrop tcp to 10.0.1.0/24\nallow udp\n\
                   drop tcp to 10.0.0.0/8\ndefault allow\n}\n";
        let m = module(src);
        let ctx = Ctx::new(&m);
        let prog = m.programs.values().next().unwrap();
        let full = check_program(&ctx, prog, LIMITS);
        assert_eq!(full.redundant.len(), 3);
        assert!(full.unchecked.is_empty());
        let capped = check_program(
            &ctx,
            prog,
            Limits {
                budget: 0,
                linear: 0,
                small: 0,
            },
        );
        assert!(capped.redundant.is_empty() && capped.shadowed.is_empty());
        assert_eq!(capped.unchecked, [0, 1, 2, 3]);
    }

    // ---- random programs: the index against a pairwise reference, and the
    // ---- findings against the evaluator -----------------------------------------

    /// The findings as (code, rule, other rule or `None` for the default), pairwise.
    fn reference(ctx: &Ctx, prog: &Program) -> Vec<(&'static str, usize, Option<usize>)> {
        let shapes: Vec<Option<Shape>> = prog.rules.iter().map(|r| ctx.shape(&r.m)).collect();
        let mut w = 0;
        let mut out = Vec::new();
        for (i, r) in prog.rules.iter().enumerate() {
            let Some(b) = &shapes[i] else { continue };
            let shadow = (0..i).find(|&a| {
                terminates(&prog.rules[a])
                    && shapes[a].as_ref().is_some_and(|s| ctx.covers(s, b, &mut w))
            });
            if let Some(a) = shadow {
                out.push((SHADOWED, i, Some(a)));
                continue;
            }
            if !terminates(r) {
                continue;
            }
            let mut verdict = None;
            for (j, x) in prog.rules.iter().enumerate().skip(i + 1) {
                let Some(s) = &shapes[j] else { continue };
                if terminates(x) && x.action == r.action && ctx.covers(s, b, &mut w) {
                    verdict = Some(Some(j));
                    break;
                }
                if decides_otherwise(x.action, x.cond.is_some(), r.action)
                    && ctx.may_overlap(s, b, &mut w)
                {
                    verdict = Some(None);
                    break;
                }
            }
            match verdict {
                Some(Some(j)) => out.push((REDUNDANT, i, Some(j))),
                None if same_as_default(r.action, prog.default) => out.push((REDUNDANT, i, None)),
                _ => {}
            }
        }
        out
    }

    fn as_findings(
        prog: &Program,
        diags: &[Diagnostic],
    ) -> Vec<(&'static str, usize, Option<usize>)> {
        let at = |s: Span| prog.rules.iter().position(|r| r.span == s);
        diags
            .iter()
            .map(|d| (d.code, at(d.labels[0].span).unwrap(), at(d.labels[1].span)))
            .collect()
    }

    const V4BASE: u128 = 0x0a00_0000;
    const V6BASE: u128 = 0x2001_0db8 << 96;

    /// A prefix in a 16-address corner of family `f`, or now and then the whole space.
    fn prefix(f: usize) -> impl Strategy<Value = IpNet> {
        (0u128..16, 0u8..=5).prop_map(move |(a, l)| {
            let (w, base) = if f == 0 {
                (32u8, V4BASE)
            } else {
                (128u8, V6BASE)
            };
            let len = if l == 0 { 0 } else { w - l + 1 };
            let addr = base | a;
            let net: IpNet = if f == 0 {
                ipnet::Ipv4Net::new((addr as u32).into(), len)
                    .unwrap()
                    .into()
            } else {
                ipnet::Ipv6Net::new(addr.into(), len).unwrap().into()
            };
            net.trunc()
        })
    }

    fn port_ranges() -> impl Strategy<Value = PortMatch> {
        prop_oneof![
            2 => Just(PortMatch::Any),
            1 => proptest::collection::btree_set(0u16..8, 1..4).prop_map(|ports| {
                let mut out: Vec<(u16, u16)> = Vec::new();
                for p in ports {
                    match out.last_mut() {
                        Some(last) if last.1 + 1 == p => last.1 = p,
                        _ => out.push((p, p)),
                    }
                }
                PortMatch::Ranges(out)
            }),
            1 => (0u16..8, 0u16..4).prop_map(|(lo, n)| PortMatch::Ranges(vec![(lo, lo + n)])),
        ]
    }

    #[derive(Clone, Debug)]
    struct RawRule {
        action: u8,
        cond: Option<u8>,
        family: u8,
        proto: u8,
        src: (u8, IpNet, IpNet, u8),
        dst: (u8, IpNet, IpNet, u8),
        sport: PortMatch,
        dport: PortMatch,
        flags: Option<(u8, u8)>,
        icmp: (Option<u8>, Option<u8>),
        empty: bool,
    }

    fn raw_rule() -> impl Strategy<Value = RawRule> {
        let addr = || (0u8..4, prefix(0), prefix(1), 0u8..3);
        (
            (0u8..6, prop::option::weighted(0.1, 0u8..4), 0u8..3, 0u8..7),
            (addr(), addr()),
            (port_ranges(), port_ranges()),
            (
                prop::option::of((0u8..4, 0u8..4)),
                prop::option::of(0u8..3),
                prop::option::of(0u8..2),
            ),
            prop::bool::weighted(0.03),
        )
            .prop_map(
                |(
                    (action, cond, family, proto),
                    (src, dst),
                    (sport, dport),
                    (flags, t, c),
                    empty,
                )| RawRule {
                    action,
                    cond,
                    family,
                    proto,
                    src,
                    dst,
                    sport,
                    dport,
                    flags: flags.map(|(m, v)| (m, v & m)),
                    icmp: (t, c),
                    empty,
                },
            )
    }

    /// A rule as sema would build it (consistent family, protocol and fields).
    fn build_rule(r: &RawRule, i: usize, sets: usize, sk_lookup: bool) -> Rule {
        let mut m = RuleMatch {
            ip_only: true,
            ..Default::default()
        };
        let mut family = match r.family {
            1 => Some(Family::V4),
            2 => Some(Family::V6),
            _ => None,
        };
        m.proto = [
            None,
            Some(6),
            Some(17),
            Some(1),
            Some(58),
            Some(47),
            Some(6),
        ][r.proto as usize];
        match m.proto {
            Some(1) => family = Some(Family::V4),
            Some(58) => family = Some(Family::V6),
            _ => {}
        }
        let addr =
            |(kind, p4, p6, set): (u8, IpNet, IpNet, u8), family: &mut Option<Family>| match kind {
                1 | 2 => match *family {
                    Some(Family::V6) => AddrMatch::Prefix(p6),
                    Some(Family::V4) => AddrMatch::Prefix(p4),
                    None if kind == 1 => {
                        *family = Some(Family::V4);
                        AddrMatch::Prefix(p4)
                    }
                    None => {
                        *family = Some(Family::V6);
                        AddrMatch::Prefix(p6)
                    }
                },
                3 => AddrMatch::Set(SetId::new(set as usize % sets)),
                _ => AddrMatch::Any,
            };
        m.src = addr(r.src, &mut family);
        m.dst = addr(r.dst, &mut family);
        m.family = family;
        if matches!(m.proto, None | Some(6) | Some(17)) {
            m.sport = r.sport.clone();
            m.dport = r.dport.clone();
        }
        if m.proto == Some(6) {
            m.tcp_flags = r.flags;
        }
        if matches!(m.proto, Some(1) | Some(58)) {
            (m.icmp_type, m.icmp_code) = r.icmp;
        }
        if r.empty {
            m = RuleMatch::default();
        }
        let action = match r.action {
            0 | 1 => Action::Allow,
            2 | 3 => Action::Drop,
            4 => Action::Count,
            _ if sk_lookup => Action::Redirect(Some(SockId::new((i / 3) % 2))),
            _ => Action::Drop,
        };
        let cond = if matches!(m.proto, Some(6) | Some(17)) {
            r.cond.map(|c| {
                [
                    SockCond::Exists,
                    SockCond::NoSocket,
                    SockCond::Listening,
                    SockCond::Established,
                ][c as usize]
            })
        } else {
            None
        };
        Rule {
            counter: i as u32,
            line: i + 2,
            span: Span::new(i * 10, i * 10 + 5),
            text: String::new(),
            action,
            m,
            cond,
        }
    }

    fn set_strategy() -> impl Strategy<Value = AddrSet> {
        (
            proptest::collection::vec(prefix(0), 0..4),
            proptest::collection::vec(prefix(1), 0..3),
        )
            .prop_map(|(a, b)| AddrSet {
                name: "s".into(),
                v4: a
                    .into_iter()
                    .map(|n| match n {
                        IpNet::V4(n) => n,
                        _ => unreachable!(),
                    })
                    .collect(),
                v6: b
                    .into_iter()
                    .map(|n| match n {
                        IpNet::V6(n) => n,
                        _ => unreachable!(),
                    })
                    .collect(),
            })
    }

    fn program_strategy(max_rules: usize) -> impl Strategy<Value = Module> {
        (
            proptest::collection::vec(set_strategy(), 1..4),
            proptest::collection::vec(raw_rule(), 1..max_rules),
            any::<bool>(),
            0u8..3,
        )
            .prop_map(|(sets, raws, sk_lookup, default)| {
                let mut m = Module::default();
                let nsets = sets.len();
                for s in sets {
                    m.sets.push(s);
                }
                for name in ["a", "b"] {
                    m.sockets.push(crate::ir::Socket {
                        name: name.into(),
                        proto: crate::syntax::ast::SockProto::Tcp,
                        addr: None,
                    });
                }
                let rules: Vec<Rule> = raws
                    .iter()
                    .enumerate()
                    .map(|(i, r)| build_rule(r, i, nsets, sk_lookup))
                    .collect();
                let n = rules.len();
                let default = match default {
                    0 => Verdict::Allow,
                    1 => Verdict::Drop,
                    _ if sk_lookup => Verdict::Pass,
                    _ => Verdict::Allow,
                };
                m.programs.push(Program {
                    hook: if sk_lookup {
                        crate::hooks::HookKind::SkLookup
                    } else {
                        crate::hooks::HookKind::Xdp
                    },
                    attach_to: String::new(),
                    symbol: "p".into(),
                    steps: (0..n).map(Step::Rule).collect(),
                    rules,
                    default,
                    default_line: n + 2,
                    default_span: Span::new(n * 10, n * 10 + 5),
                    default_counter: n as u32,
                    span: Span::new(0, n * 10 + 5),
                });
                m
            })
    }

    fn header() -> impl Strategy<Value = eval::Headers> {
        let ip = (
            any::<bool>(),
            0u128..18,
            0u128..18,
            0usize..6,
            (0u16..9, 0u16..9, 0u8..16, 0u8..4, 0u8..3),
            0u8..5,
        )
            .prop_map(|(v6, s, d, p, (sp, dp, fl, ty, code), l4)| {
                let addr = |a: u128| -> std::net::IpAddr {
                    if v6 {
                        std::net::Ipv6Addr::from(V6BASE | a).into()
                    } else {
                        std::net::Ipv4Addr::from((V4BASE | a) as u32).into()
                    }
                };
                let proto = [6u8, 17, 1, 58, 47, 6][p];
                let l4 = match proto {
                    _ if l4 == 0 => L4Fields::Absent,
                    6 => L4Fields::Ports {
                        sport: sp,
                        dport: dp,
                        tcp_flags: Some(fl),
                    },
                    17 => L4Fields::Ports {
                        sport: sp,
                        dport: dp,
                        tcp_flags: None,
                    },
                    1 | 58 => L4Fields::Icmp { ty, code },
                    _ => L4Fields::Absent,
                };
                IpHeader {
                    src: addr(s),
                    dst: addr(d),
                    proto,
                    l4,
                }
            });
        prop::option::weighted(0.95, ip).prop_map(|ip| eval::Headers { len: 64, ip })
    }

    /// What decides a packet: (rule index or `None` for the default, action).
    fn decide(m: &Module, rules: &[Rule], h: &eval::Headers, socket: u8) -> Option<Action> {
        for r in rules {
            let holds = r.cond.is_none_or(|c| match c {
                SockCond::Exists => socket != 0,
                SockCond::NoSocket => socket == 0,
                SockCond::Listening => socket == 1,
                SockCond::Established => socket == 2,
            });
            if r.action != Action::Count && holds && eval::packet_matches(m, &r.m, h) {
                return Some(r.action);
            }
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The indexed search finds exactly what comparing every pair finds, whether
        /// the rules between are scanned or searched.
        #[test]
        fn index_agrees_with_pairwise(m in program_strategy(60)) {
            let ctx = Ctx::new(&m);
            let prog = m.programs.values().next().unwrap();
            let want = reference(&ctx, prog);
            for (linear, small) in [(0, 0), (3, 1), (LINEAR_SCAN, SMALL_NODE), (0, SMALL_NODE)] {
                let limits = Limits { budget: u32::MAX - 1, linear, small };
                let found = check_program(&ctx, prog, limits);
                prop_assert!(found.unchecked.is_empty());
                let mut d = Vec::new();
                report(prog, &found, usize::MAX, &mut d);
                prop_assert_eq!(&as_findings(prog, &d), &want, "{:?}", limits);
            }
        }

        /// What the pass reports is true of every packet: a shadowed rule's packets
        /// all match the covering rule; removing a redundant rule changes no verdict.
        #[test]
        fn findings_hold_for_packets(
            m in program_strategy(25),
            packets in proptest::collection::vec(header(), 200),
        ) {
            let prog = m.programs.values().next().unwrap();
            let found = as_findings(prog, &run(&m));
            for (code, i, other) in found {
                let rule = &prog.rules[i];
                if code == SHADOWED {
                    let a = &prog.rules[other.unwrap()];
                    for h in &packets {
                        prop_assert!(!eval::packet_matches(&m, &rule.m, h) || eval::packet_matches(&m, &a.m, h),
                            "rule {} not covered by {} for {:?}", i, other.unwrap(), h);
                    }
                } else {
                    let mut without = prog.rules.clone();
                    without.remove(i);
                    for h in &packets {
                        for socket in 0..3 {
                            let before = decide(&m, &prog.rules, h, socket).ok_or(prog.default);
                            let after = decide(&m, &without, h, socket).ok_or(prog.default);
                            let same = match (before, after) {
                                (Ok(a), Ok(b)) => a == b,
                                (Err(a), Err(b)) => a == b,
                                (Ok(a), Err(v)) | (Err(v), Ok(a)) => same_as_default(a, v),
                            };
                            prop_assert!(same, "removing rule {} changes {:?}", i, h);
                        }
                    }
                }
            }
        }

        /// `covers` and `may_overlap` against packets, for any two rules.
        #[test]
        fn predicates_hold_for_packets(
            m in program_strategy(8),
            packets in proptest::collection::vec(header(), 300),
        ) {
            let ctx = Ctx::new(&m);
            let prog = m.programs.values().next().unwrap();
            let mut w = 0;
            for a in &prog.rules {
                for b in &prog.rules {
                    let (Some(sa), Some(sb)) = (ctx.shape(&a.m), ctx.shape(&b.m)) else {
                        // A rule with no shape matches no packet.
                        for r in [a, b] {
                            if ctx.shape(&r.m).is_none() {
                                prop_assert!(packets.iter().all(|h| !eval::packet_matches(&m, &r.m, h)));
                            }
                        }
                        continue;
                    };
                    let covers = ctx.covers(&sa, &sb, &mut w);
                    let overlap = ctx.may_overlap(&sa, &sb, &mut w);
                    for h in &packets {
                        let (ma, mb) = (eval::packet_matches(&m, &a.m, h), eval::packet_matches(&m, &b.m, h));
                        prop_assert!(!covers || !mb || ma, "covers wrong: {:?} {:?} {:?}", a.m, b.m, h);
                        prop_assert!(overlap || !(ma && mb), "overlap wrong: {:?} {:?} {:?}", a.m, b.m, h);
                    }
                }
            }
        }
    }

    /// CPU time of this thread (the machine may be shared: wall time is not the
    /// pass's time).
    fn cpu_time() -> std::time::Duration {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
        let ns = stat
            .split_whitespace()
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        std::time::Duration::from_nanos(ns)
    }

    /// The time this pass takes on the 100k ClassBench files (`/tmp/cb`, see the
    /// README of bench/classbench), with what it finds:
    /// `cargo test --release -p sockc-compiler --lib classbench_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn classbench_timing() {
        let only = std::env::var("SOCKC_CB").unwrap_or_default();
        for set in ["acl1", "fw1", "ipc1"] {
            for n in [1000, 10000, 100000] {
                if !format!("{set}_{n}").contains(only.as_str()) {
                    continue;
                }
                let path = format!("/tmp/cb/{set}_{n}.sk");
                let Ok(src) = std::fs::read_to_string(&path) else {
                    println!("{path}: missing, skipped");
                    continue;
                };
                // Parse and check, for scale: the pass's time is best read as a ratio
                // to this on a shared machine.
                let mut front = std::time::Duration::MAX;
                let mut m = Module::default();
                for _ in 0..3 {
                    let c = cpu_time();
                    m = module(&src);
                    front = front.min(cpu_time() - c);
                }
                let t = std::time::Instant::now();
                crate::opt::normalize::run(&mut m);
                let normalize = t.elapsed();
                let mut best = std::time::Duration::MAX;
                let mut best_cpu = std::time::Duration::MAX;
                let mut diags = Vec::new();
                let runs = std::env::var("SOCKC_CB_RUNS").map_or(10, |r| r.parse().unwrap_or(10));
                for _ in 0..runs {
                    let t = std::time::Instant::now();
                    let c = cpu_time();
                    diags = run(&m);
                    best = best.min(t.elapsed());
                    best_cpu = best_cpu.min(cpu_time() - c);
                }
                let ctx = Ctx::new(&m);
                let (mut shadowed, mut redundant, mut by_default) = (0, 0, 0);
                for prog in m.programs.values() {
                    let found = check_program(&ctx, prog, LIMITS);
                    shadowed += found.shadowed.len();
                    redundant += found.redundant.len();
                    by_default += found.redundant.iter().filter(|r| r.1.is_none()).count();
                }
                let partial = diags
                    .iter()
                    .find(|d| d.code == "sockc::anomalies_partial")
                    .map_or(String::new(), |d| d.message.clone());
                println!(
                    "{set}_{n}: {} rules, parse+sema {:.1} ms cpu, anomalies {:.2} ms wall, \
                     {:.2} ms cpu (best of {runs}), \
                     normalize {:.2} ms: {shadowed} shadowed, {redundant} redundant \
                     ({by_default} to the default), {} warnings; {partial}",
                    m.programs.values().map(|p| p.rules.len()).sum::<usize>(),
                    front.as_secs_f64() * 1e3,
                    best.as_secs_f64() * 1e3,
                    best_cpu.as_secs_f64() * 1e3,
                    normalize.as_secs_f64() * 1e3,
                    diags.len(),
                );
            }
        }
    }
}
