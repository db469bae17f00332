//! What a rule matches, in the header space: [`rule_region`] (a rule's match and
//! condition as a [`Region`]), [`MatchShape`] (the same region of a match in factored
//! form, borrowed from the rule, with exact [`AddrSets::covers`] and
//! [`AddrSets::overlaps`] that allocate nothing: the fast path of the anomaly search),
//! and [`hook_universe`] (the packets a hook's programs see).
//!
//! A rule's match denotes, per frame kind, one box: the reference evaluator's
//! reading of `docs/language.md`, dimension by dimension. The empty match is every
//! frame; any other match is IP packets only, of its family; a protocol, and what the
//! other fields imply (ports: TCP or UDP with a complete header; TCP flags: TCP with a
//! complete header; ICMP type or code: ICMP or ICMPv6 with a complete header) restrict
//! [`Dim::Proto`] and [`Dim::L4`]; addresses restrict the address dimensions of their
//! family (a set: its members of that family; a literal prefix: nothing of the other
//! family); `frag` restricts [`Dim::Frag`]; a socket condition needs a complete TCP
//! or UDP header and restricts [`Dim::Socket`].
//!
//! Invariant: `shape_region(shape(m))` contains exactly the packets `m` matches, with
//! no approximation in either direction, and `covers`/`overlaps` of two shapes answer
//! exactly what the same operations on their regions answer (the tests check both,
//! the first against the evaluator). Shape comparisons charge `work` for the address
//! intervals they walk, the anomaly search's budget unit; the other dimensions are
//! walked free (protocols and flags are one or two values; port lists are not
//! charged because the search's budget was set without them, and charging them
//! changes which searches of a large file run out of budget).

use cranelift_entity::EntityRef;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{
    dims::{ct, frame, l4, route, socket, vlan, Dim},
    header_box::HeaderBox,
    region::Region,
    set::{self, Iv, ValueSet},
};
use crate::{
    hooks::{Context, HookKind},
    ir::{AddrMatch, Module, PortMatch, RuleMatch},
    syntax::ast::{Family, SockCond, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN},
    syntax::ipfield::Field,
};

/// The address width of family index `f`.
pub fn family_width(f: usize) -> u32 {
    if f == 0 {
        32
    } else {
        128
    }
}

/// The whole address space of family index `f`.
fn all_addresses(f: usize) -> &'static [Iv] {
    const V4: [Iv; 1] = [(0, u32::MAX as u128)];
    const V6: [Iv; 1] = [(0, u128::MAX)];
    if f == 0 {
        &V4
    } else {
        &V6
    }
}

/// The addresses of a prefix as an interval.
pub fn prefix_interval(net: &IpNet) -> (usize, Iv) {
    match net {
        IpNet::V4(n) => (
            0,
            (
                u32::from(n.network()).into(),
                u32::from(n.broadcast()).into(),
            ),
        ),
        IpNet::V6(n) => (1, (n.network().into(), n.broadcast().into())),
    }
}

/// The address sets of a module, resolved: per set and family, its members as one
/// interval list.
#[derive(Clone, Debug, Default)]
pub struct AddrSets {
    sets: Vec<[Vec<Iv>; 2]>,
}

impl AddrSets {
    pub fn new(module: &Module) -> AddrSets {
        AddrSets {
            sets: module
                .sets
                .values()
                .map(|s| resolve(&s.v4, &s.v6))
                .collect(),
        }
    }

    /// The members of set `set` (its index) in family index `f`.
    pub fn members(&self, set: usize, f: usize) -> &[Iv] {
        &self.sets[set][f]
    }

    /// The intervals `a` matches in family index `f` (empty: nothing of that family);
    /// `one` holds the interval of a literal prefix.
    pub fn addresses<'a>(&'a self, a: &Addr, f: usize, one: &'a mut [Iv; 1]) -> &'a [Iv] {
        match *a {
            Addr::Any => all_addresses(f),
            Addr::Prefix { fam, len, .. } => {
                if usize::from(fam) != f {
                    return &[];
                }
                let first = a.first().expect("a prefix");
                let host_bits = family_width(f) - u32::from(len);
                let host = if host_bits == 0 {
                    0
                } else {
                    u128::MAX >> (128 - host_bits)
                };
                one[0] = (first, first | host);
                &one[..]
            }
            Addr::Set(s) => self.members(s as usize, f),
        }
    }
}

fn resolve(v4: &[Ipv4Net], v6: &[Ipv6Net]) -> [Vec<Iv>; 2] {
    let list = |nets: &mut dyn Iterator<Item = IpNet>| {
        ValueSet::from_intervals(nets.map(|n| prefix_interval(&n).1)).into_intervals()
    };
    [
        list(&mut v4.iter().map(|&n| IpNet::V4(n))),
        list(&mut v6.iter().map(|&n| IpNet::V6(n))),
    ]
}

/// An address match, resolved for comparisons.
#[derive(Clone, Copy, Debug)]
pub enum Addr {
    Any,
    /// A literal prefix of family index `fam`: `len` bits of network `net` (its high
    /// and low halves: a shape stays small, and shapes are made in the anomaly
    /// search's inner loop).
    Prefix {
        fam: u8,
        len: u8,
        net: [u64; 2],
    },
    /// An address set, by index.
    Set(u32),
}

impl Addr {
    /// The first address of a literal prefix.
    pub fn first(&self) -> Option<u128> {
        match *self {
            Addr::Prefix { net, .. } => Some((u128::from(net[0]) << 64) | u128::from(net[1])),
            _ => None,
        }
    }

    pub fn new(a: &AddrMatch) -> Addr {
        match a {
            AddrMatch::Any => Addr::Any,
            AddrMatch::Prefix(net) => {
                let (fam, first) = match net {
                    IpNet::V4(n) => (0, u32::from(n.network()).into()),
                    IpNet::V6(n) => (1, u128::from(n.network())),
                };
                Addr::Prefix {
                    fam,
                    len: net.prefix_len(),
                    net: [(first >> 64) as u64, first as u64],
                }
            }
            AddrMatch::Set(s) => Addr::Set(s.index() as u32),
        }
    }
}

/// The IP protocols a match allows: any, or a sorted list of at most two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protos {
    ivs: [(u8, u8); 2],
    len: u8,
}

impl Protos {
    const ANY: Protos = Protos::of(&[(0, 255)]);
    const NONE: Protos = Protos::of(&[]);
    const TCP_UDP: Protos = Protos::of(&[(6, 6), (17, 17)]);
    const TCP: Protos = Protos::of(&[(6, 6)]);
    const ICMP: Protos = Protos::of(&[(1, 1), (58, 58)]);

    const fn of(list: &[(u8, u8)]) -> Protos {
        let mut ivs = [(0, 0); 2];
        let mut i = 0;
        while i < list.len() {
            ivs[i] = list[i];
            i += 1;
        }
        Protos {
            ivs,
            len: list.len() as u8,
        }
    }

    pub fn intervals(&self) -> &[(u8, u8)] {
        &self.ivs[..usize::from(self.len)]
    }

    /// As a value set of [`Dim::Proto`].
    pub fn values(&self) -> ValueSet {
        ValueSet::from_intervals(self.intervals().iter().map(|&(a, b)| (a.into(), b.into())))
    }

    /// The protocols of a match: the one written, if any, among those its fields need
    /// (ports: TCP or UDP; TCP flags: TCP; ICMP fields: ICMP or ICMPv6).
    fn of_match(proto: Option<u8>, ports: bool, flags: bool, icmp: bool) -> Protos {
        let needed = match (flags, ports, icmp) {
            (true, _, false) => Protos::TCP,
            (false, true, false) => Protos::TCP_UDP,
            (false, false, true) => Protos::ICMP,
            (false, false, false) => Protos::ANY,
            (_, _, true) => Protos::NONE,
        };
        match proto {
            None => needed,
            Some(p) if set::contains(needed.intervals(), p) => Protos::of(&[(p, p)]),
            Some(_) => Protos::NONE,
        }
    }
}

/// What one match matches, in factored form: which frames (all, or the IP families in
/// `fams`), and per dimension its values, borrowed from the rule and the sets. The
/// region is, per family in `fams`, one box (plus the non-IP frames when `all`); see
/// [`AddrSets::shape_region`].
#[derive(Clone, Debug)]
pub struct MatchShape<'m> {
    /// The empty match: every frame, IP or not.
    pub all: bool,
    /// Bit 0: some IPv4 packet may match; bit 1: some IPv6 packet.
    pub fams: u8,
    /// The protocol as written (what the anomaly index files rules by).
    pub proto: Option<u8>,
    /// The protocols it allows, the implied ones included.
    pub protos: Protos,
    /// It needs a complete transport header (ports, TCP flags, ICMP fields).
    pub needs_l4: bool,
    pub flags: Option<(u8, u8)>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// Only fragments (`frag`).
    pub frag: bool,
    pub sport: Option<&'m [(u16, u16)]>,
    pub dport: Option<&'m [(u16, u16)]>,
    pub src: Addr,
    pub dst: Addr,
    /// `arp`, `ether type`: the frame's EtherType (for IP packets, `fams` says it).
    pub ether: Option<u16>,
    /// `vlan`: the outer tag's id.
    pub vlan: Option<u16>,
}

fn ports(p: &PortMatch) -> Option<&[(u16, u16)]> {
    match p {
        PortMatch::Any => None,
        PortMatch::Ranges(r) => Some(r),
    }
}

const ALL_PORTS: [(u16, u16); 1] = [(0, u16::MAX)];

impl MatchShape<'_> {
    /// A placeholder for rules that match nothing.
    pub const NOTHING: MatchShape<'static> = MatchShape {
        all: false,
        fams: 0,
        proto: None,
        protos: Protos::ANY,
        needs_l4: false,
        flags: None,
        icmp_type: None,
        icmp_code: None,
        frag: false,
        sport: None,
        dport: None,
        src: Addr::Any,
        dst: Addr::Any,
        ether: None,
        vlan: None,
    };

    /// Matches only packets with a complete ICMP header.
    pub fn needs_icmp(&self) -> bool {
        self.icmp_type.is_some() || self.icmp_code.is_some()
    }
}

impl AddrSets {
    /// The shape of `m`, `None` when it matches no packet (an address set with no
    /// member of any family the rule applies to, or fields no protocol has together).
    pub fn shape<'m>(&self, m: &'m RuleMatch) -> Option<MatchShape<'m>> {
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
            Addr::Set(s) => !self.members(s as usize, f).is_empty(),
        };
        for f in 0..2 {
            if !some(&src, f) || !some(&dst, f) {
                fams &= !(1 << f);
            }
        }
        // An IP packet's EtherType is its family's.
        fams &= match m.rare().ether_type {
            None => 3,
            Some(ETHERTYPE_IPV4) => 1,
            Some(ETHERTYPE_IPV6) => 2,
            Some(_) => 0,
        };
        let all = m.tests_only_frame();
        let (sport, dport) = (ports(&m.sport), ports(&m.dport));
        let needs_icmp = m.icmp_type.is_some() || m.icmp_code.is_some();
        let has_ports = sport.is_some() || dport.is_some();
        let protos = Protos::of_match(m.proto, has_ports, m.tcp_flags.is_some(), needs_icmp);
        let flags_ok = m.tcp_flags.is_none_or(|(mask, value)| value & !mask == 0);
        ((all || fams != 0) && protos.len != 0 && flags_ok).then(|| MatchShape {
            all,
            fams,
            proto: m.proto,
            protos,
            needs_l4: has_ports || m.tcp_flags.is_some() || needs_icmp,
            flags: m.tcp_flags,
            icmp_type: m.icmp_type,
            icmp_code: m.icmp_code,
            frag: m.frag,
            sport,
            dport,
            src,
            dst,
            ether: m.rare().ether_type,
            vlan: m.rare().vlan,
        })
    }

    /// True when every packet `b` matches, `a` matches too. Exact: per dimension, `a`'s
    /// values hold `b`'s (one box per family on each side).
    pub fn covers(&self, a: &MatchShape, b: &MatchShape, work: &mut u32) -> bool {
        if a.vlan.is_some_and(|v| b.vlan != Some(v)) {
            return false;
        }
        if a.all {
            // Every IP packet of its families, and the non-IP frames of its EtherType.
            let frames = !b.all || a.ether.is_none_or(|t| b.ether == Some(t));
            return frames && b.fams & !a.fams == 0;
        }
        if b.all
            || b.fams & !a.fams != 0
            || !set::covers(a.protos.intervals(), b.protos.intervals(), &mut 0)
            || (a.needs_l4 && !b.needs_l4)
        {
            return false;
        }
        let ports_cover = |x: Option<&[(u16, u16)]>, y: Option<&[(u16, u16)]>| {
            x.is_none_or(|x| set::covers(x, y.unwrap_or(&ALL_PORTS), &mut 0))
        };
        if !ports_cover(a.sport, b.sport) || !ports_cover(a.dport, b.dport) {
            return false;
        }
        if let Some((ma, va)) = a.flags {
            let (mb, vb) = b.flags.unwrap_or((0, 0));
            if ma & !mb != 0 || vb & ma != va {
                return false;
            }
        }
        if a.icmp_type.is_some_and(|t| b.icmp_type != Some(t))
            || a.icmp_code.is_some_and(|c| b.icmp_code != Some(c))
            || (a.frag && !b.frag)
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
                set::covers(
                    self.addresses(a, f, &mut x),
                    self.addresses(b, f, &mut y),
                    work,
                )
            }
        }
    }

    /// True when some packet matches both. Exact: per dimension, the values meet (in a
    /// family both have).
    pub fn overlaps(&self, a: &MatchShape, b: &MatchShape, work: &mut u32) -> bool {
        if matches!((a.vlan, b.vlan), (Some(x), Some(y)) if x != y) {
            return false;
        }
        let ethers_meet = !matches!((a.ether, b.ether), (Some(x), Some(y)) if x != y);
        if a.all && b.all && ethers_meet {
            return true;
        }
        let fams = a.fams & b.fams;
        if fams != 0 && (a.all || b.all) {
            return true;
        }
        if fams == 0 || !set::overlaps(a.protos.intervals(), b.protos.intervals(), &mut 0) {
            return false;
        }
        let ports_meet = |x: Option<&[(u16, u16)]>, y: Option<&[(u16, u16)]>| {
            x.zip(y).is_none_or(|(x, y)| set::overlaps(x, y, &mut 0))
        };
        if !ports_meet(a.sport, b.sport) || !ports_meet(a.dport, b.dport) {
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
                set::overlaps(
                    self.addresses(a, f, &mut x),
                    self.addresses(b, f, &mut y),
                    work,
                )
            }
        }
    }

    /// The packets a shape stands for: one box per family it has (every frame for the
    /// empty match).
    pub fn shape_region(&self, s: &MatchShape) -> Region {
        if s.all && s.ether.is_none() && s.vlan.is_none() {
            return Region::full();
        }
        let tagged = |b: HeaderBox| match s.vlan {
            Some(v) => b.with(Dim::Vlan, ValueSet::single(u128::from(v) + 1)),
            None => b,
        };
        if s.all {
            let mut frames = HeaderBox::full().with(Dim::Frame, ValueSet::single(frame::NON_IP));
            if let Some(t) = s.ether {
                frames = frames.with(Dim::EtherType, ValueSet::single(t.into()));
            }
            let ip = (0..2).filter(|f| s.fams & (1 << f) != 0).map(|f| {
                let fam = if f == 0 { frame::V4 } else { frame::V6 };
                tagged(HeaderBox::full().with(Dim::Frame, ValueSet::single(fam)))
            });
            return Region::from_disjoint(std::iter::once(tagged(frames)).chain(ip));
        }
        let list = |l: Option<&[(u16, u16)]>| {
            l.map(|l| ValueSet::from_intervals(l.iter().map(|&(a, b)| (a.into(), b.into()))))
        };
        let mut common = HeaderBox::full().with(Dim::Proto, s.protos.values());
        if s.needs_l4 {
            common = common.with(Dim::L4, ValueSet::single(l4::PRESENT));
        }
        if s.frag {
            common = common.with(Dim::Frag, ValueSet::single(1));
        }
        for (d, values) in [
            (Dim::Sport, list(s.sport)),
            (Dim::Dport, list(s.dport)),
            (
                Dim::TcpFlags,
                s.flags
                    .map(|(m, v)| ValueSet::masked(m.into(), v.into(), 255)),
            ),
            (
                Dim::IcmpType,
                s.icmp_type.map(|t| ValueSet::single(t.into())),
            ),
            (
                Dim::IcmpCode,
                s.icmp_code.map(|c| ValueSet::single(c.into())),
            ),
        ] {
            if let Some(values) = values {
                common = common.with(d, values);
            }
        }
        let boxes = (0..2).filter(|f| s.fams & (1 << f) != 0).map(|f| {
            let (frame, src, dst) = if f == 0 {
                (frame::V4, Dim::Src4, Dim::Dst4)
            } else {
                (frame::V6, Dim::Src6, Dim::Dst6)
            };
            let addresses = |a: &Addr| {
                let mut one = [(0, 0)];
                ValueSet::from_intervals(self.addresses(a, f, &mut one).iter().copied())
            };
            tagged(common.clone())
                .with(Dim::Frame, ValueSet::single(frame))
                .with(src, addresses(&s.src))
                .with(dst, addresses(&s.dst))
        });
        Region::from_disjoint(boxes)
    }
}

/// The packets for which a socket condition holds: a complete TCP or UDP header (the
/// lookup needs the ports) and a lookup result that satisfies it.
pub fn cond_box(cond: SockCond) -> HeaderBox {
    let states = (socket::NONE..=socket::TIMEWAIT).filter(|&v| socket::holds(cond, v));
    HeaderBox::full()
        .with(
            Dim::Frame,
            ValueSet::from_intervals([(frame::V4, frame::V6)]),
        )
        .with(Dim::Proto, Protos::TCP_UDP.values())
        .with(Dim::L4, ValueSet::single(l4::PRESENT))
        .with(
            Dim::Socket,
            ValueSet::from_intervals(states.map(|v| (v, v))),
        )
}

/// The packets whose conntrack state, routing class, devices and mark `m`'s `ct
/// state`, `route`, `in on`, `out on` and `mark` accept (the whole space when it tests none). Such a match is IP only, which
/// its shape already says.
fn facts_box(m: &RuleMatch) -> HeaderBox {
    let mut b = HeaderBox::full();
    if let Some(states) = m.ct {
        b = b.with(
            Dim::Ct,
            ValueSet::from_intervals(ct::values(states).map(|v| (v, v))),
        );
    }
    if let Some(class) = m.route {
        b = b.with(Dim::Route, ValueSet::single(route::value(class)));
    }
    for (d, dev) in [(Dim::InDev, &m.rare().iif), (Dim::OutDev, &m.rare().oif)] {
        if let Some(dev) = dev {
            b = b.with(d, super::dev::of_match(dev));
        }
    }
    if let Some(mark) = m.rare().mark {
        // Sema lets a mark test through only when its intervals are few.
        let iv = mark.intervals().unwrap_or_default();
        b = b.with(
            Dim::Mark,
            ValueSet::from_intervals(iv.into_iter().map(|(lo, hi)| (lo.into(), hi.into()))),
        );
    }
    for t in &m.rare().fields {
        // The rule's family (set by sema from the field) says whose header it is; a
        // field both headers have is one dimension for both.
        let dim = match t.field {
            Field::Ttl | Field::HopLimit => Dim::HopLimit,
            Field::Dscp => Dim::Dscp,
            Field::Ecn => Dim::Ecn,
            // One dimension per family: [`length_box`].
            Field::Length => continue,
        };
        let iv = t.ranges.iter().map(|&(lo, hi)| (lo.into(), hi.into()));
        b = b.with(dim, ValueSet::from_intervals(iv));
    }
    if let Some(owner) = &m.rare().owner {
        b = b.with(owner_dim(owner.kind()), owner_values(owner));
    }
    if let Some(e) = &m.rare().ct_entry {
        b = ct_entry_box(b, e);
    }
    if let Some(c) = &m.rare().comm {
        let names = ValueSet::from_intervals(c.values().map(|v| (v, v)));
        b = b.with(
            Dim::Comm,
            if c.negated {
                ValueSet::full(u128::MAX).subtract(&names, &mut 0)
            } else {
                names
            },
        );
    }
    b
}

/// `b` narrowed to the packets with an entry that `t` accepts.
fn ct_entry_box(b: HeaderBox, t: &crate::syntax::ct_entry::CtEntryTests) -> HeaderBox {
    use crate::syntax::ct::CtState;
    let tracked = [CtState::New, CtState::Established, CtState::Related];
    let states = b.get(Dim::Ct).clone();
    let tracked = ValueSet::from_intervals(tracked.map(|s| (ct::value(s), ct::value(s))));
    let mut b = b.with(Dim::Ct, states.intersect(&tracked, &mut 0));
    if let Some(s) = t.status {
        let v = super::dims::ct_status::values(|w| s.matches(w)).map(|v| (v, v));
        b = b.with(Dim::CtStatus, ValueSet::from_intervals(v));
    }
    if let Some(d) = t.direction {
        let v = u128::from(d == crate::syntax::ct_entry::CtDir::Reply);
        b = b.with(Dim::CtDir, ValueSet::single(v));
    }
    if let Some(m) = &t.mark {
        // Sema lets a mark test through only when its intervals are few.
        let iv = m.intervals().unwrap_or_default();
        let iv = iv.into_iter().map(|(lo, hi)| (lo.into(), hi.into()));
        b = b.with(Dim::CtMark, ValueSet::from_intervals(iv));
    }
    b
}

fn owner_dim(kind: crate::syntax::ids::IdKind) -> Dim {
    match kind {
        crate::syntax::ids::IdKind::Uid => Dim::Uid,
        crate::syntax::ids::IdKind::Gid => Dim::Gid,
    }
}

/// The owners `owner` admits, [`NO_OWNER`](crate::syntax::owner::NO_OWNER) among them
/// where a packet without a socket matches.
fn owner_values(owner: &crate::syntax::owner::OwnerMatch) -> ValueSet {
    let none = crate::syntax::owner::NO_OWNER;
    let extra = owner.socketless.then_some((none, none));
    let all = owner.ids.ranges.iter().copied().chain(extra);
    ValueSet::from_intervals(all.map(|(lo, hi)| (lo.into(), hi.into())))
}

/// The packets for which bucket `bucket` (a bit of [`Dim::Over`]) has room
/// (`over: false`) or has none (`over: true`): what a rule's `limit` (or `limit over`)
/// adds to its region, once the diff has numbered the block's buckets.
pub fn limit_box(bucket: usize, over: bool) -> HeaderBox {
    let bit = super::dims::over::bit(bucket);
    let value = if over { bit } else { 0 };
    HeaderBox::full().with(
        Dim::Over,
        ValueSet::masked(bit, value, super::dims::over::MAX),
    )
}

/// The packets a rule with match `m` and condition `cond` matches, exactly, but for
/// its `limit`: whether a bucket has room is [`Dim::Over`], whose bits the caller
/// numbers ([`limit_box`]); here every state of the buckets is taken.
pub fn rule_region(sets: &AddrSets, m: &RuleMatch, cond: Option<SockCond>) -> Region {
    let Some(shape) = sets.shape(m) else {
        return Region::empty();
    };
    let mut facts = facts_box(m);
    if let Some(c) = cond {
        facts = match facts.intersect(&cond_box(c), &mut 0) {
            Some(b) => b,
            None => return Region::empty(),
        };
    }
    let region = sets.shape_region(&shape);
    Region::from_disjoint(
        region
            .boxes()
            .iter()
            .filter_map(|b| b.intersect(&facts, &mut 0))
            .filter_map(|b| length_box(b, m)),
    )
}

/// `b` (a box of one frame kind, as [`AddrSets::shape_region`] makes them) narrowed
/// to the lengths `m`'s `length` test passes, in [`Dim::Length`]'s units (an IPv6
/// packet's payload length is 40 less than its length); `None` when no packet
/// of the box's kind passes (a non-IP frame has no length).
fn length_box(b: HeaderBox, m: &RuleMatch) -> Option<HeaderBox> {
    let Some(t) = m.rare().fields.iter().find(|t| t.field == Field::Length) else {
        return Some(b);
    };
    let frame = b.get(Dim::Frame);
    let v6 = match (frame.contains(frame::V4), frame.contains(frame::V6)) {
        (true, false) => false,
        (false, true) => true,
        // A non-IP box: a rule with a `length` test matches IP packets only.
        (false, false) => return None,
        (true, true) => unreachable!("rule boxes are of one family"),
    };
    let base = if v6 {
        crate::syntax::ipfield::V6_LENGTH_MIN
    } else {
        0
    };
    let iv = t.family_ranges(v6).into_iter();
    let set = ValueSet::from_intervals(iv.map(|(lo, hi)| ((lo - base).into(), (hi - base).into())));
    (!set.is_empty()).then(|| b.with(Dim::Length, set))
}

/// The packets the programs of `hook` see: every frame at XDP and TC, IP packets at
/// netfilter and cgroup hooks; IP TCP or UDP (the hook's protocols) with complete ports at the socket hooks (an
/// sk_lookup program sees a lookup, never a cut-short header); nothing at the
/// programs sockc adds (they have no rules).
pub fn hook_universe(hook: HookKind) -> Region {
    let spec = hook.spec();
    let protos = if spec.caps.protocols.is_empty() {
        Protos::TCP_UDP.values().intervals().to_vec()
    } else {
        spec.caps
            .protocols
            .iter()
            .map(|&p| (p.into(), p.into()))
            .collect()
    };
    match spec.context {
        // A cgroup_skb program sees only the IP packets of sockets.
        Context::Packet(ctx) if ctx.protocol.is_some() => ip_packets(),
        Context::Packet(_) => frames(),
        Context::SkLookup | Context::SkMsg(_) | Context::SkSkb(_) => Region::from_box(
            HeaderBox::full()
                .with(
                    Dim::Frame,
                    ValueSet::from_intervals([(frame::V4, frame::V6)]),
                )
                .with(Dim::Proto, ValueSet::from_intervals(protos))
                .with(Dim::L4, ValueSet::single(l4::PRESENT)),
        ),
        // Netfilter runs after L2: IP packets only, any protocol. A socket call has an
        // IPv4 or IPv6 address and any protocol (ping sockets connect too); an IPv4
        // program sees IPv4 calls only (an IPv6 one also the IPv4-mapped addresses).
        Context::Netfilter | Context::SockAddr { ipv6: true } => ip_packets(),
        Context::SockAddr { ipv6: false } => {
            Region::from_box(HeaderBox::full().with(Dim::Frame, ValueSet::single(frame::V4)))
        }
        Context::SockOps { .. } | Context::Dispatch => Region::empty(),
    }
}

/// The points no packet is, whatever the hook: a UDP packet whose socket lookup finds
/// a time-wait socket. A UDP socket is unconnected or connected (`bpf::socket` reads
/// it as listening or established), so only TCP has the fourth state.
/// Made once: [`packets_of`] asks for it for every piece a diff decides.
pub fn never_a_packet() -> &'static HeaderBox {
    static NEVER: std::sync::LazyLock<HeaderBox> = std::sync::LazyLock::new(|| {
        HeaderBox::full()
            .with(Dim::Proto, ValueSet::single(17))
            .with(Dim::L4, ValueSet::single(l4::PRESENT))
            .with(Dim::Socket, ValueSet::single(socket::TIMEWAIT))
    });
    &NEVER
}

/// `b` without [`never_a_packet`]'s points: `None` when every point of `b` is one of
/// them; `b` narrowed in one dimension when that leaves exactly its packets (and the
/// dimension is not a socket test `b` does not make, which would print one); else `b`
/// as it is (its packets and some points no packet is: what it says stays true of
/// every packet, and its example is a packet, as [`HeaderBox::witness`] prefers no socket).
pub fn packets_of(b: HeaderBox) -> Option<HeaderBox> {
    let never = never_a_packet();
    let work = &mut 0;
    if !b.overlaps(never, work) {
        return Some(b);
    }
    let wider: Vec<Dim> = [Dim::Proto, Dim::L4, Dim::Socket]
        .into_iter()
        .filter(|&d| !never.get(d).covers(b.get(d), work))
        .collect();
    match wider[..] {
        [] => None,
        [d] if d != Dim::Socket || !b.get(d).is_full(d.max_value()) => {
            let narrowed = b.get(d).subtract(never.get(d), work);
            Some(b.with(d, narrowed))
        }
        _ => Some(b),
    }
}

/// The EtherTypes of a VLAN tag (802.1Q, 802.1ad), which the prologue reads as a tag.
const TAG_TYPES: [Iv; 2] = [
    (ETHERTYPE_VLAN as u128, ETHERTYPE_VLAN as u128),
    (0x88a8, 0x88a8),
];

/// Every frame an XDP or TC program can see: all but the untagged non-IP frames of a
/// tag's EtherType. A frame of that type is tagged, or (its tag cut short) has no
/// EtherType (`bpf::packet`, the evaluator alike): left in, an `ether type vlan` rule
/// would change the verdict of frames no program meets, and the diff print one as its
/// example (an untagged `ether 0x8100`, which a program reads as tagged).
fn frames() -> Region {
    let untagged_tag_type = HeaderBox::full()
        .with(Dim::Frame, ValueSet::single(frame::NON_IP))
        .with(Dim::Vlan, ValueSet::single(vlan::UNTAGGED))
        .with(Dim::EtherType, ValueSet::from_intervals(TAG_TYPES));
    Region::from_disjoint(HeaderBox::full().subtract(&untagged_tag_type, &mut 0))
}

/// Every IP packet, any protocol: what a hook after the link layer sees (netfilter,
/// cgroup_skb).
fn ip_packets() -> Region {
    Region::from_box(HeaderBox::full().with(
        Dim::Frame,
        ValueSet::from_intervals([(frame::V4, frame::V6)]),
    ))
}
