//! What threading knows about a packet at a point of the program: possible values of
//! each byte field of the flow record, possible ports, the prefixes each address is
//! known to be in or out of, and the answers of set lookups; see the module docs of
//! [`super`] for the rules. Invariant: knowledge is exact or forgets (never claims more
//! than every path into a point proves); dropping knowledge is always safe.

use ipnet::IpNet;

use crate::{
    hooks::Context,
    ir::{
        flow::{fact, Test},
        SetId,
    },
    syntax::ast::Family,
};

/// Byte fields of the flow record that tests read.
pub(super) const L3: usize = 0;
pub(super) const PROTO: usize = 1;
pub(super) const L4_OK: usize = 2;
pub(super) const TCP_FLAGS: usize = 3;
pub(super) const ICMP_TYPE: usize = 4;
pub(super) const ICMP_CODE: usize = 5;
/// The socket fact (what the lookup found, [`fact`]) is a
/// function of the packet like the others: threading may reuse a condition's answer
/// (the lookup ran when the first condition was tested, on every path to the second).
pub(super) const SOCK: usize = 6;
/// Whether the packet is a fragment (0 or 1).
pub(super) const FRAG: usize = 7;
/// The connection-tracking state (`syntax::ct::CtState` values), derived like the
/// socket fact by the first `ct state` test and a function of the packet likewise.
pub(super) const CT: usize = 8;
/// The route class (`syntax::route::RouteClass` values), looked up by the first
/// `route` test and a function of the packet (and the FIB, read once) likewise.
pub(super) const ROUTE: usize = 9;
pub(super) const BYTE_FIELDS: usize = 10;

/// The 16-bit fields: source and destination port, then the frame's EtherType and
/// outer VLAN tag (as the flow record holds them).
pub(super) const ETHER_TYPE: usize = 2;
pub(super) const VLAN: usize = 3;

/// How many exclusions (prefixes, set answers) knowledge keeps per field, and how many
/// port ranges before it widens them to their hull; beyond that it forgets, which is
/// always safe.
pub(super) const MAX_LIST: usize = 16;

/// A set of byte values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bytes(pub(super) [u64; 4]);

impl Bytes {
    pub(super) const ALL: Bytes = Bytes([u64::MAX; 4]);

    pub(super) fn from_fn(f: impl Fn(u8) -> bool) -> Bytes {
        let mut b = [0u64; 4];
        for v in 0..=255u8 {
            if f(v) {
                b[usize::from(v / 64)] |= 1 << (v % 64);
            }
        }
        Bytes(b)
    }
    pub(super) fn and(self, o: Bytes) -> Bytes {
        Bytes(std::array::from_fn(|i| self.0[i] & o.0[i]))
    }
    pub(super) fn or(self, o: Bytes) -> Bytes {
        Bytes(std::array::from_fn(|i| self.0[i] | o.0[i]))
    }
    pub(super) fn not(self) -> Bytes {
        Bytes(self.0.map(|w| !w))
    }
    pub(super) fn is_empty(self) -> bool {
        self.0 == [0; 4]
    }
}

/// A set of port values: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Ports(pub(super) Vec<(u32, u32)>);

impl Ports {
    pub(super) fn all() -> Ports {
        Ports(vec![(0, u32::from(u16::MAX))])
    }
    pub(super) fn of(ranges: &[(u16, u16)]) -> Ports {
        Ports(
            ranges
                .iter()
                .map(|&(lo, hi)| (u32::from(lo), u32::from(hi)))
                .collect(),
        )
        .normalized()
    }
    pub(super) fn normalized(mut self) -> Ports {
        self.0.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for (lo, hi) in self.0 {
            match out.last_mut() {
                Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ports(out)
    }
    /// Possible values kept as knowledge: widened to their hull past `MAX_LIST` ranges
    /// (a superset of the possible values is still true).
    pub(super) fn capped(self) -> Ports {
        match self.0.as_slice() {
            [first, .., last] if self.0.len() > MAX_LIST => Ports(vec![(first.0, last.1)]),
            _ => self,
        }
    }
    pub(super) fn and(&self, o: &Ports) -> Ports {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            for &(c, d) in &o.0 {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        Ports(out).normalized()
    }
    pub(super) fn not(&self) -> Ports {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi + 1;
        }
        if next <= u32::from(u16::MAX) {
            out.push((next, u32::from(u16::MAX)));
        }
        Ports(out)
    }
    pub(super) fn or(&self, o: &Ports) -> Ports {
        Ports(self.0.iter().chain(&o.0).copied().collect()).normalized()
    }
    /// Every value is in `o` (both sorted and disjoint; no allocation, as `decide`
    /// runs this for every rule a threaded edge looks at).
    pub(super) fn within(&self, o: &Ports) -> bool {
        let mut theirs = o.0.iter().peekable();
        self.0.iter().all(|&(lo, hi)| {
            while theirs.next_if(|r| r.1 < lo).is_some() {}
            theirs.peek().is_some_and(|r| r.0 <= lo && hi <= r.1)
        })
    }
    /// No value is in `o`.
    pub(super) fn disjoint(&self, o: &Ports) -> bool {
        let (mut a, mut b) = (self.0.iter().peekable(), o.0.iter().peekable());
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            if x.1 < y.0 {
                a.next();
            } else if y.1 < x.0 {
                b.next();
            } else {
                return false;
            }
        }
        true
    }
}

/// A prefix, left-aligned in 128 bits (an IPv4 address in the top 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Net {
    pub(super) bits: u128,
    pub(super) len: u8,
}

impl Net {
    pub(super) fn of(net: &IpNet) -> Net {
        let (bits, len) = match net {
            IpNet::V4(n) => (u128::from(u32::from(n.network())) << 96, n.prefix_len()),
            IpNet::V6(n) => (u128::from(n.network()), n.prefix_len()),
        };
        Net { bits, len }
    }
    pub(super) fn mask(len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        }
    }
    /// Every address in `other` is in `self`.
    pub(super) fn contains(self, other: Net) -> bool {
        self.len <= other.len && (self.bits ^ other.bits) & Net::mask(self.len) == 0
    }
    /// The smallest prefix holding both.
    pub(super) fn common(self, other: Net) -> Net {
        let len = ((self.bits ^ other.bits).leading_zeros() as u8)
            .min(self.len)
            .min(other.len);
        Net {
            bits: self.bits & Net::mask(len),
            len,
        }
    }
}

/// What is known of one address field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Addr {
    /// The address is in this prefix.
    pub(super) within: Option<Net>,
    /// The address is in none of these (each inside `within`, none inside another).
    pub(super) outside: Vec<Net>,
}

impl Addr {
    pub(super) fn decide(&self, q: Net) -> Option<bool> {
        if let Some(w) = self.within {
            if q.contains(w) {
                return Some(true);
            }
            if !w.contains(q) {
                // Prefixes are nested or disjoint: these are disjoint.
                return Some(false);
            }
        }
        if self.outside.iter().any(|e| e.contains(q)) {
            return Some(false);
        }
        None
    }
    pub(super) fn assume(&mut self, q: Net, passed: bool) {
        if passed {
            let w = match self.within {
                Some(w) if q.contains(w) => w,
                _ => q,
            };
            self.within = Some(w);
            // Exclusions disjoint from the prefix now follow from it.
            self.outside.retain(|e| w.contains(*e));
        } else {
            if self.outside.iter().any(|e| e.contains(q)) {
                return;
            }
            self.outside.retain(|e| !q.contains(*e));
            if self.outside.len() == MAX_LIST {
                self.outside.remove(0);
            }
            self.outside.push(q);
        }
    }
    pub(super) fn meet(&self, o: &Addr) -> Addr {
        let within = match (self.within, o.within) {
            (Some(a), Some(b)) => Some(a.common(b)).filter(|n| n.len > 0),
            _ => None,
        };
        // An exclusion holds on both sides when the other side proves it too.
        let mut outside: Vec<Net> = Vec::new();
        for (mine, other) in [(self, o), (o, self)] {
            for e in &mine.outside {
                if other.decide(*e) == Some(false) && !outside.iter().any(|x| x.contains(*e)) {
                    outside.retain(|x| !e.contains(*x));
                    outside.push(*e);
                }
            }
        }
        outside.truncate(MAX_LIST);
        Addr { within, outside }
    }
}

/// A set lookup, identified by everything its answer depends on besides the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SetKey {
    pub(super) set: SetId,
    pub(super) src: bool,
    pub(super) family: Option<Family>,
}

/// A test as the knowledge it reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum View {
    Byte(usize, Bytes),
    Port(usize, Ports),
    Addr(usize, Net),
    Set(SetKey),
    /// A test whose answer no other test implies and that implies nothing (`limit`:
    /// it depends on the traffic before, and taking from the bucket is part of it).
    Opaque,
}

impl View {
    pub(super) fn of(t: &Test) -> View {
        let byte = |field, v: u8| View::Byte(field, Bytes::from_fn(|x| x == v));
        match t {
            Test::Family(Family::V4) => byte(L3, 4),
            Test::Family(Family::V6) => byte(L3, 6),
            Test::Ip => View::Byte(L3, Bytes::from_fn(|x| x != 0)),
            Test::Proto(p) => byte(PROTO, *p),
            Test::TcpOrUdp => View::Byte(PROTO, Bytes::from_fn(|x| x == 6 || x == 17)),
            Test::L4Ok => View::Byte(L4_OK, Bytes::from_fn(|x| x != 0)),
            Test::Flags { mask, value } => {
                let (mask, value) = (*mask, *value);
                View::Byte(TCP_FLAGS, Bytes::from_fn(|x| x & mask == value))
            }
            Test::IcmpType(v) => byte(ICMP_TYPE, *v),
            Test::IcmpCode(v) => byte(ICMP_CODE, *v),
            Test::Frag => View::Byte(FRAG, Bytes::from_fn(|x| x != 0)),
            Test::EtherType(v) => View::Port(ETHER_TYPE, Ports::of(&[(*v, *v)])),
            Test::Vlan(v) => {
                let tag = 0x1000 | *v;
                View::Port(VLAN, Ports::of(&[(tag, tag)]))
            }
            Test::Socket { cond, .. } => {
                let cond = *cond;
                View::Byte(SOCK, Bytes::from_fn(|x| fact::holds(cond, x)))
            }
            Test::Ct { states, .. } => {
                let states = *states;
                View::Byte(CT, Bytes::from_fn(|x| states.holds(x)))
            }
            Test::Route(class) => byte(ROUTE, class.value()),
            // Not a field of the flow record: read from the hook state by each test.
            Test::Limit(_)
            | Test::Iface(_)
            | Test::Mark(_)
            | Test::Owner(_)
            | Test::Cgroup(_)
            | Test::Comm(_)
            | Test::CtEntry(_) => View::Opaque,
            // A flow record byte, but one this pass has no view of yet.
            Test::Field(_) => View::Opaque,
            Test::Ports { src, ranges } => View::Port(usize::from(!*src), Ports::of(ranges)),
            Test::Prefix { src, net } => {
                let v6 = matches!(net, IpNet::V6(_));
                View::Addr(usize::from(!*src) + 2 * usize::from(v6), Net::of(net))
            }
            Test::Set { set, src, family } => View::Set(SetKey {
                set: *set,
                src: *src,
                family: *family,
            }),
        }
    }
}

/// What is known about the packet at a point of the program; see the module docs.
/// The default knows nothing; programs start from [`Knowledge::flow_record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knowledge {
    /// Possible values of each byte field.
    pub(super) bytes: [Bytes; BYTE_FIELDS],
    /// Possible source and destination ports, EtherType and VLAN tag.
    pub(super) ports: [Ports; 4],
    /// Source and destination, IPv4 then IPv6.
    pub(super) addrs: [Addr; 4],
    /// Answers of set lookups.
    pub(super) sets: Vec<(SetKey, bool)>,
}

impl Default for Knowledge {
    fn default() -> Self {
        Knowledge {
            bytes: [Bytes::ALL; BYTE_FIELDS],
            ports: [Ports::all(), Ports::all(), Ports::all(), Ports::all()],
            addrs: Default::default(),
            sets: Vec::new(),
        }
    }
}

impl Knowledge {
    /// What the prologue guarantees of every flow record (see
    /// [`crate::bpf::flow`]; a test in [`crate::bpf::lower`] checks the
    /// prologue against it): `L3` is 0 (not IP), 4 or 6, and `L4_OK` is 0 or 1. So
    /// `L3 != 0` and `L3 != 4` make `L3 == 6` pass. The socket fact is one of the
    /// lookup's four answers.
    pub fn flow_record() -> Knowledge {
        let mut k = Knowledge::default();
        k.bytes[L3] = Bytes::from_fn(|x| matches!(x, 0 | 4 | 6));
        k.bytes[L4_OK] = Bytes::from_fn(|x| x <= 1);
        k.bytes[FRAG] = Bytes::from_fn(|x| x <= 1);
        k.bytes[SOCK] = Bytes::from_fn(fact::is_fact);
        k.bytes[CT] = Bytes::from_fn(|x| crate::syntax::ct::CtState::from_value(x).is_some());
        k.bytes[ROUTE] =
            Bytes::from_fn(|x| crate::syntax::route::RouteClass::from_value(x).is_some());
        k
    }

    /// What the prologue of a program of this context guarantees: for packets, what
    /// [`Knowledge::flow_record`] says; for sk_lookup also that `L3` is 4 or 6 and
    /// `L4_OK` is 1 (a lookup always has a family and both ports; a test in
    /// `bpf::lower::sk_lookup` checks the prologue against it).
    pub fn for_context(ctx: Context) -> Knowledge {
        let mut k = Knowledge::flow_record();
        match ctx {
            // The socket layer's prologue leaves L3 0 for a socket of another family
            // (sockets in a socket map are TCP over IPv4 or IPv6, but the record is
            // filled defensively), so only the general facts hold.
            Context::Packet(_)
            | Context::SkMsg(_)
            | Context::SkSkb(_)
            | Context::SockOps { .. }
            | Context::Dispatch
            | Context::Netfilter => {}
            // A socket call's address is IPv4 in an IPv4 program; IPv6, or the IPv4
            // an IPv4-mapped address reaches, in an IPv6 one (`bpf::lower::sock_addr`).
            // Its ports are there for TCP and UDP only.
            Context::SockAddr { ipv6 } => {
                k.bytes[L3] = Bytes::from_fn(move |x| x == 4 || (ipv6 && x == 6));
            }
            Context::SkLookup => {
                k.bytes[L3] = Bytes::from_fn(|x| matches!(x, 4 | 6));
                k.bytes[L4_OK] = Bytes::from_fn(|x| x == 1);
            }
        }
        k
    }

    /// `Some(answer)` when the test's answer follows from what is known.
    pub(super) fn decide(&self, v: &View) -> Option<bool> {
        match v {
            View::Byte(f, values) => {
                let possible = self.bytes[*f];
                if possible.and(values.not()).is_empty() {
                    Some(true)
                } else if possible.and(*values).is_empty() {
                    Some(false)
                } else {
                    None
                }
            }
            View::Port(f, values) => {
                let possible = &self.ports[*f];
                if possible.within(values) {
                    Some(true)
                } else if possible.disjoint(values) {
                    Some(false)
                } else {
                    None
                }
            }
            View::Addr(f, net) => self.addrs[*f].decide(*net),
            View::Set(key) => self
                .sets
                .iter()
                .find(|(k, _)| k == key)
                .map(|&(_, answer)| answer),
            View::Opaque => None,
        }
    }

    /// The knowledge after the test answered `passed`; only asked when
    /// [`Self::decide`] does not know the answer already.
    pub(super) fn assume(&self, v: &View, passed: bool) -> Knowledge {
        let mut k = self.clone();
        match v {
            View::Byte(f, values) => {
                let values = if passed { *values } else { values.not() };
                k.bytes[*f] = k.bytes[*f].and(values);
            }
            View::Port(f, values) => {
                let values = if passed { values.clone() } else { values.not() };
                k.ports[*f] = k.ports[*f].and(&values).capped();
            }
            View::Addr(f, net) => k.addrs[*f].assume(*net, passed),
            View::Set(key) => {
                if k.sets.len() == MAX_LIST {
                    k.sets.remove(0);
                }
                k.sets.push((*key, passed));
            }
            View::Opaque => {}
        }
        k
    }

    /// What holds both here and in `o` (the meet of two incoming edges).
    pub(super) fn meet(&self, o: &Knowledge) -> Knowledge {
        Knowledge {
            bytes: std::array::from_fn(|i| self.bytes[i].or(o.bytes[i])),
            ports: std::array::from_fn(|i| self.ports[i].or(&o.ports[i]).capped()),
            addrs: std::array::from_fn(|i| self.addrs[i].meet(&o.addrs[i])),
            sets: self
                .sets
                .iter()
                .filter(|s| o.sets.contains(s))
                .copied()
                .collect(),
        }
    }
}
