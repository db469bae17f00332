//! The dimensions of the header space, as data: one row of [`DIMS`] per per-packet
//! input a rule can test, with its domain, the values a witness prefers, and when the
//! input means something for a packet ([`DimSpec::relevant`]); and [`Point`], one
//! value per dimension.
//!
//! Invariant: a dimension's relevance depends only on dimensions before it in
//! [`Dim::ALL`] (the frame before the protocol, the protocol before the transport
//! fields), which is what lets subtraction keep boxes closed under the irrelevant
//! coordinates (see the module docs of [`super`]). A new input is one variant of
//! [`Dim`] and one row of [`DIMS`], placed after the dimensions its relevance reads.
//! The inputs from outside the packet (what a socket lookup finds, the conntrack
//! state, the routing class, the devices, which limits' buckets are out of room) are
//! dimensions like the header fields: the diff asks
//! for which packet *and* facts the verdict differs, as `sockc test` takes them.

use std::ops::{Index, IndexMut};

use crate::{
    ir::flow::fact,
    syntax::{
        ast::SockCond,
        ct::{CtState, CtStates},
        ct_entry::STATUS_BITS,
        route::RouteClass,
    },
};

/// One input of the header space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// What the frame is: [`frame::NON_IP`], [`frame::V4`] or [`frame::V6`] (an IP
    /// packet whose fixed header is complete).
    Frame,
    /// A non-IP frame's EtherType after at most one VLAN tag (an IP packet's is its
    /// family's); below 0x0600 (an 802.3 length, or cut short) rules cannot tell apart.
    EtherType,
    /// The outer VLAN tag: [`vlan::UNTAGGED`], or the VLAN id plus one.
    Vlan,
    /// IPv4 protocol or IPv6 next header.
    Proto,
    /// Whether the transport header a rule can test (TCP, UDP, ICMP, ICMPv6) is there in
    /// full: [`l4::ABSENT`] for a cut-short header or a later IPv4 fragment.
    L4,
    /// IPv4 source address (a number below 2^32).
    Src4,
    Dst4,
    /// IPv6 source address.
    Src6,
    Dst6,
    Sport,
    Dport,
    /// The 8 TCP flag bits as one number (FIN = 0x01 … CWR = 0x80).
    TcpFlags,
    IcmpType,
    IcmpCode,
    /// What a socket lookup finds for the packet: [`socket::NONE`] …
    /// [`socket::TIMEWAIT`].
    Socket,
    /// Whether the IP packet is a fragment (`frag`): 0 or 1.
    Frag,
    /// The packet's connection-tracking state (`ct state`): a [`ct`] value.
    Ct,
    /// The class the host's routing gives the packet (`route`): a [`route`] value.
    Route,
    /// The device the packet came in on (`in on`, netfilter): a [`super::dev`] value,
    /// 0 for none.
    InDev,
    /// The device it goes out of (`out on`).
    OutDev,
    /// The packet's mark (`mark`, netfilter): a 32-bit number.
    Mark,
    /// The IPv4 TTL or the IPv6 hop limit (`ttl`, `hoplimit`): 0 to 255.
    HopLimit,
    /// The DSCP of the IPv4 TOS byte or the IPv6 traffic class (`dscp`): 0 to 63.
    Dscp,
    /// The ECN of the same byte (`ecn`): 0 to 3.
    Ecn,
    /// Which of the block's `limit` buckets have no room for the packet: bit `7 - i`
    /// for the diff's bucket `i` (see `semdiff::buckets`), so the first bucket's
    /// values are one interval. Rules without a `limit` leave it whole.
    Over,
    /// The user owning the packet's socket (`owner uid`): a uid, or
    /// [`NO_OWNER`](crate::syntax::owner::NO_OWNER) for a packet no socket owns.
    Uid,
    /// The group owning it (`owner gid`), the same way.
    Gid,
    /// The conntrack entry's status bits a rule can name (`ct status`), packed: bit
    /// `i` of the value is [`STATUS_BITS`]`[i]` (see [`ct_status`]). Like the two
    /// below, it means something only for a packet with an entry ([`Dim::Ct`]
    /// `new`, `established` or `related`).
    CtStatus,
    /// Which way the packet goes along its connection (`ct direction`): 0 original,
    /// 1 reply.
    CtDir,
    /// The entry's mark (`ct mark`): a 32-bit number.
    CtMark,
    /// The command name of the process making a socket call (`comm`): its 16
    /// NUL-padded bytes as one big-endian number (`syntax::comm::value`); 0 is the
    /// empty name, which no rule names.
    Comm,
}

/// The number of dimensions.
pub const NDIMS: usize = 31;

impl Dim {
    /// Every dimension, in the order of [`DIMS`] (a dimension's relevance reads only
    /// the ones before it).
    pub const ALL: [Dim; NDIMS] = [
        Dim::Frame,
        Dim::EtherType,
        Dim::Vlan,
        Dim::Proto,
        Dim::L4,
        Dim::Src4,
        Dim::Dst4,
        Dim::Src6,
        Dim::Dst6,
        Dim::Sport,
        Dim::Dport,
        Dim::TcpFlags,
        Dim::IcmpType,
        Dim::IcmpCode,
        Dim::Socket,
        Dim::Frag,
        Dim::Ct,
        Dim::Route,
        Dim::InDev,
        Dim::OutDev,
        Dim::Mark,
        Dim::HopLimit,
        Dim::Dscp,
        Dim::Ecn,
        Dim::Over,
        Dim::Uid,
        Dim::Gid,
        Dim::CtStatus,
        Dim::CtDir,
        Dim::CtMark,
        Dim::Comm,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn spec(self) -> &'static DimSpec {
        &DIMS[self.index()]
    }

    /// The largest value of the domain `0..=max`.
    pub fn max_value(self) -> u128 {
        self.spec().max
    }
}

/// What the table says about one dimension.
pub struct DimSpec {
    pub dim: Dim,
    /// Its name in listings.
    pub name: &'static str,
    /// The domain is `0..=max`.
    pub max: u128,
    /// Values a witness takes, first one the set holds, before falling back to the
    /// set's lowest value (a readable example packet: TCP before protocol 0).
    pub prefer: &'static [u128],
    /// Whether the dimension means something for a packet with these values (it reads
    /// only the dimensions before this one). Where it does not, the packet is the same
    /// whatever the value, and the dimension is not printed.
    pub relevant: fn(&Point) -> bool,
}

/// The values of [`Dim::Frame`].
pub mod frame {
    pub const NON_IP: u128 = 0;
    pub const V4: u128 = 1;
    pub const V6: u128 = 2;
}

/// The values of [`Dim::Vlan`].
pub mod vlan {
    pub const UNTAGGED: u128 = 0;
    /// The largest value: VLAN id 4095.
    pub const MAX: u128 = 4096;
}

/// The values of [`Dim::L4`].
pub mod l4 {
    pub const ABSENT: u128 = 0;
    pub const PRESENT: u128 = 1;
}

/// The values of [`Dim::Socket`]: the facts of `ir::flow::fact`, less one.
pub mod socket {
    use super::{fact, SockCond};

    pub const NONE: u128 = (fact::NONE - 1) as u128;
    pub const LISTENING: u128 = (fact::LISTENING - 1) as u128;
    pub const ESTABLISHED: u128 = (fact::ESTABLISHED - 1) as u128;
    /// TCP TIME_WAIT: a socket exists, neither listening nor established.
    pub const TIMEWAIT: u128 = (fact::OTHER - 1) as u128;

    /// Whether `cond` holds for a packet whose lookup found `v`.
    pub fn holds(cond: SockCond, v: u128) -> bool {
        v <= TIMEWAIT && fact::holds(cond, v as u8 + 1)
    }

    /// The name `sockc test --socket` takes.
    pub fn name(v: u128) -> &'static str {
        match v {
            NONE => "none",
            LISTENING => "listening",
            ESTABLISHED => "established",
            _ => "timewait",
        }
    }
}

/// The values of [`Dim::Ct`]: a [`CtState`]'s value less one.
pub mod ct {
    use super::{CtState, CtStates};

    /// The largest value (`untracked`).
    pub const MAX: u128 = CtState::Untracked as u128 - 1;

    pub fn value(s: CtState) -> u128 {
        u128::from(s.value() - 1)
    }

    /// The state a value stands for.
    pub fn state(v: u128) -> CtState {
        u8::try_from(v + 1)
            .ok()
            .and_then(CtState::from_value)
            .expect("a value of the ct dimension")
    }

    /// The values of the states in `set`.
    pub fn values(set: CtStates) -> impl Iterator<Item = u128> {
        set.iter().map(value)
    }
}

/// The values of [`Dim::CtStatus`]: the bits of [`STATUS_BITS`], packed.
pub mod ct_status {
    use super::STATUS_BITS;

    /// The largest value (every bit).
    pub const MAX: u128 = (1 << STATUS_BITS.len()) - 1;

    /// The status word a value stands for.
    pub fn word(v: u128) -> u32 {
        STATUS_BITS
            .iter()
            .enumerate()
            .filter(|(i, _)| v & (1 << i) != 0)
            .fold(0, |w, (_, (_, bit))| w | bit)
    }

    /// The values whose word passes `test`.
    pub fn values(test: impl Fn(u32) -> bool) -> impl Iterator<Item = u128> {
        (0..=MAX).filter(move |&v| test(word(v)))
    }
}

/// The values of [`Dim::Over`].
pub mod over {
    /// The most buckets a block's diff tells apart (the bits of the dimension).
    pub const BUCKETS: usize = 8;
    /// The largest value (every bucket over).
    pub const MAX: u128 = (1 << BUCKETS) - 1;

    /// The bit of bucket `i`.
    pub fn bit(i: usize) -> u128 {
        1 << (BUCKETS - 1 - i)
    }
}

/// The values of [`Dim::Route`]: a [`RouteClass`]'s value less one.
pub mod route {
    use super::RouteClass;

    /// The largest value (`unroutable`).
    pub const MAX: u128 = RouteClass::Unroutable as u128 - 1;
    /// `local`: what `sockc test` assumes when a packet names no class.
    pub const LOCAL: u128 = RouteClass::Local as u128 - 1;

    pub fn value(c: RouteClass) -> u128 {
        u128::from(c.value() - 1)
    }

    /// The class a value stands for.
    pub fn class(v: u128) -> RouteClass {
        RouteClass::ALL
            .into_iter()
            .find(|&c| value(c) == v)
            .expect("a value of the route dimension")
    }
}

const IP_PROTO_ICMP: u128 = 1;
const IP_PROTO_TCP: u128 = 6;
const IP_PROTO_UDP: u128 = 17;
const IP_PROTO_ICMPV6: u128 = 58;

fn always(_: &Point) -> bool {
    true
}

fn non_ip(p: &Point) -> bool {
    p[Dim::Frame] == frame::NON_IP
}

fn ip(p: &Point) -> bool {
    p[Dim::Frame] != frame::NON_IP
}

/// A packet conntrack has an entry for.
fn tracked(p: &Point) -> bool {
    ip(p)
        && matches!(
            ct::state(p[Dim::Ct]),
            CtState::New | CtState::Established | CtState::Related
        )
}

fn v4(p: &Point) -> bool {
    p[Dim::Frame] == frame::V4
}

fn v6(p: &Point) -> bool {
    p[Dim::Frame] == frame::V6
}

/// An IP packet of a protocol whose transport header rules read.
fn has_transport(p: &Point) -> bool {
    ip(p)
        && matches!(
            p[Dim::Proto],
            IP_PROTO_ICMP | IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMPV6
        )
}

/// A complete TCP or UDP header: ports, and a socket to look up.
fn ports(p: &Point) -> bool {
    ip(p) && matches!(p[Dim::Proto], IP_PROTO_TCP | IP_PROTO_UDP) && p[Dim::L4] == l4::PRESENT
}

fn tcp(p: &Point) -> bool {
    ip(p) && p[Dim::Proto] == IP_PROTO_TCP && p[Dim::L4] == l4::PRESENT
}

fn icmp(p: &Point) -> bool {
    ip(p) && matches!(p[Dim::Proto], IP_PROTO_ICMP | IP_PROTO_ICMPV6) && p[Dim::L4] == l4::PRESENT
}

const V4_MAX: u128 = u32::MAX as u128;

/// The dimension table, in [`Dim::ALL`] order.
pub const DIMS: [DimSpec; NDIMS] = [
    DimSpec {
        dim: Dim::Frame,
        name: "frame",
        max: frame::V6,
        prefer: &[frame::V4, frame::V6],
        relevant: always,
    },
    DimSpec {
        dim: Dim::EtherType,
        name: "ethertype",
        max: u16::MAX as u128,
        prefer: &[0x0806],
        relevant: non_ip,
    },
    DimSpec {
        dim: Dim::Vlan,
        name: "vlan",
        max: vlan::MAX,
        prefer: &[vlan::UNTAGGED],
        relevant: always,
    },
    DimSpec {
        dim: Dim::Proto,
        name: "proto",
        max: 255,
        // (The witness puts the family's own ICMP first; see `Region::witness`.)
        prefer: &[IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_ICMP, IP_PROTO_ICMPV6],
        relevant: ip,
    },
    DimSpec {
        dim: Dim::L4,
        name: "l4",
        max: l4::PRESENT,
        prefer: &[l4::PRESENT],
        relevant: has_transport,
    },
    DimSpec {
        dim: Dim::Src4,
        name: "src4",
        max: V4_MAX,
        prefer: &[],
        relevant: v4,
    },
    DimSpec {
        dim: Dim::Dst4,
        name: "dst4",
        max: V4_MAX,
        prefer: &[],
        relevant: v4,
    },
    DimSpec {
        dim: Dim::Src6,
        name: "src6",
        max: u128::MAX,
        prefer: &[],
        relevant: v6,
    },
    DimSpec {
        dim: Dim::Dst6,
        name: "dst6",
        max: u128::MAX,
        prefer: &[],
        relevant: v6,
    },
    DimSpec {
        dim: Dim::Sport,
        name: "sport",
        max: u16::MAX as u128,
        prefer: &[],
        relevant: ports,
    },
    DimSpec {
        dim: Dim::Dport,
        name: "dport",
        max: u16::MAX as u128,
        prefer: &[],
        relevant: ports,
    },
    DimSpec {
        dim: Dim::TcpFlags,
        name: "tcpflags",
        max: 255,
        prefer: &[],
        relevant: tcp,
    },
    DimSpec {
        dim: Dim::IcmpType,
        name: "icmptype",
        max: 255,
        prefer: &[],
        relevant: icmp,
    },
    DimSpec {
        dim: Dim::IcmpCode,
        name: "icmpcode",
        max: 255,
        prefer: &[],
        relevant: icmp,
    },
    DimSpec {
        dim: Dim::Socket,
        name: "socket",
        max: socket::TIMEWAIT,
        prefer: &[socket::NONE],
        relevant: ports,
    },
    DimSpec {
        dim: Dim::Frag,
        name: "frag",
        max: 1,
        prefer: &[0],
        relevant: ip,
    },
    DimSpec {
        dim: Dim::Ct,
        name: "ct",
        max: ct::MAX,
        // (The witness takes the state a packet without a conntrack entry has when
        // the box allows it; see `Region::witness`.)
        prefer: &[],
        relevant: ip,
    },
    DimSpec {
        dim: Dim::Route,
        name: "route",
        max: route::MAX,
        prefer: &[route::LOCAL],
        relevant: ip,
    },
    DimSpec {
        dim: Dim::InDev,
        name: "in",
        max: u128::MAX,
        // (The witness takes a value `sockc test` can name; see `Region::witness`.)
        prefer: &[],
        relevant: always,
    },
    DimSpec {
        dim: Dim::OutDev,
        name: "out",
        max: u128::MAX,
        prefer: &[],
        relevant: always,
    },
    DimSpec {
        dim: Dim::Mark,
        name: "mark",
        max: u32::MAX as u128,
        prefer: &[0],
        relevant: always,
    },
    DimSpec {
        dim: Dim::HopLimit,
        name: "hoplimit",
        max: 255,
        // What a test packet has unless it says otherwise (`ttl N` in its text).
        prefer: &[64],
        relevant: ip,
    },
    // A test packet's TOS byte is 0 unless its text says `dscp N` or `ecn N`.
    DimSpec {
        dim: Dim::Dscp,
        name: "dscp",
        max: 63,
        prefer: &[0],
        relevant: ip,
    },
    DimSpec {
        dim: Dim::Ecn,
        name: "ecn",
        max: 3,
        prefer: &[0],
        relevant: ip,
    },
    DimSpec {
        dim: Dim::Over,
        name: "over",
        max: over::MAX,
        prefer: &[0],
        relevant: always,
    },
    // No owner first: what a test run's socket buffer has.
    DimSpec {
        dim: Dim::Uid,
        name: "uid",
        max: u32::MAX as u128,
        prefer: &[crate::syntax::owner::NO_OWNER as u128],
        relevant: always,
    },
    DimSpec {
        dim: Dim::Gid,
        name: "gid",
        max: u32::MAX as u128,
        prefer: &[crate::syntax::owner::NO_OWNER as u128],
        relevant: always,
    },
    // A fresh entry: no status bit, the original direction, mark 0.
    DimSpec {
        dim: Dim::CtStatus,
        name: "ct-status",
        max: ct_status::MAX,
        prefer: &[0],
        relevant: tracked,
    },
    DimSpec {
        dim: Dim::CtDir,
        name: "ct-direction",
        max: 1,
        prefer: &[0],
        relevant: tracked,
    },
    DimSpec {
        dim: Dim::CtMark,
        name: "ct-mark",
        max: u32::MAX as u128,
        prefer: &[0],
        relevant: tracked,
    },
    // The empty name first: what a test call has unless it says `comm NAME`.
    DimSpec {
        dim: Dim::Comm,
        name: "comm",
        max: u128::MAX,
        prefer: &[0],
        relevant: always,
    },
];

/// One value per dimension: a packet (and what its socket lookup finds), with
/// arbitrary values in the dimensions that are not relevant to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Point(pub [u128; NDIMS]);

impl Index<Dim> for Point {
    type Output = u128;
    fn index(&self, d: Dim) -> &u128 {
        &self.0[d.index()]
    }
}

impl IndexMut<Dim> for Point {
    fn index_mut(&mut self, d: Dim) -> &mut u128 {
        &mut self.0[d.index()]
    }
}

impl Point {
    /// Whether dimension `d` means something for this packet.
    pub fn relevant(&self, d: Dim) -> bool {
        (d.spec().relevant)(self)
    }

    /// The [`Dim::Ct`] value of an IP packet conntrack has no entry for
    /// (`ct::without_entry`), read from the dimensions before [`Dim::Ct`]: what
    /// `sockc test` assumes when the packet names no state.
    pub fn ct_without_entry(&self) -> u128 {
        let complete = self.relevant(Dim::L4) && self[Dim::L4] == l4::PRESENT;
        let flags = if self.relevant(Dim::TcpFlags) {
            self[Dim::TcpFlags] as u8
        } else {
            0
        };
        let ty = if self.relevant(Dim::IcmpType) {
            self[Dim::IcmpType] as u8
        } else {
            0
        };
        ct::value(crate::syntax::ct::without_entry(
            self[Dim::Proto] as u8,
            complete,
            flags,
            ty,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_follows_the_enum() {
        for (i, (d, spec)) in Dim::ALL.iter().zip(&DIMS).enumerate() {
            assert_eq!((d.index(), spec.dim), (i, *d));
            assert!(spec.prefer.iter().all(|&v| v <= spec.max));
        }
    }

    #[test]
    fn relevance_reads_only_earlier_dimensions() {
        // Changing a later dimension never changes an earlier one's relevance.
        let samples: Vec<Point> = (0..3u128)
            .flat_map(|f| [0u128, 1, 6, 17, 47, 58].map(move |p| (f, p)))
            .flat_map(|(f, p)| [0u128, 1].map(move |l| (f, p, l)))
            .map(|(f, p, l)| {
                let mut x = Point([0; NDIMS]);
                (x[Dim::Frame], x[Dim::Proto], x[Dim::L4]) = (f, p, l);
                x
            })
            .collect();
        for p in &samples {
            for d in Dim::ALL {
                for later in Dim::ALL.iter().filter(|&&e| e >= d) {
                    let mut q = *p;
                    q[*later] = later.max_value();
                    assert_eq!(p.relevant(d), q.relevant(d), "{d:?} reads {later:?}");
                }
            }
        }
    }

    #[test]
    fn socket_values_follow_the_facts() {
        assert!(socket::holds(SockCond::NoSocket, socket::NONE));
        assert!(socket::holds(SockCond::Exists, socket::TIMEWAIT));
        assert!(!socket::holds(SockCond::Listening, socket::ESTABLISHED));
        assert_eq!(socket::name(socket::LISTENING), "listening");
    }

    #[test]
    fn ct_and_route_values_name_every_state_once() {
        for s in CtState::ALL {
            assert_eq!(ct::state(ct::value(s)), s);
            assert!(ct::value(s) <= ct::MAX);
        }
        for c in RouteClass::ALL {
            assert_eq!(route::class(route::value(c)), c);
            assert!(route::value(c) <= route::MAX);
        }
        assert_eq!(route::class(route::LOCAL), RouteClass::Local);
    }
}
