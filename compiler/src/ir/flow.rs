//! Rules as decisions on the flow record: the [`Test`]s a rule's match and condition
//! come down to, in the order lowering emits them, and the values a socket
//! condition's lookup leaves behind ([`fact`]).
//!
//! This is the vocabulary the threading pass (`opt::thread`) reasons in and the rule
//! walk of every lowering (`bpf::lower::rules`) emits code for; keeping it here lets
//! both depend on the IR instead of on each other. Invariant: [`rule_tests`] lists exactly what a
//! rule's match tests, so a rule's tests all pass for a packet exactly when the rule
//! matches it (a socket condition included).

use ipnet::IpNet;

use super::{AddrMatch, PortMatch, RuleMatch, SetId};
use crate::syntax::ast::{Family, SockCond};

/// What a socket condition's lookup found for a packet, as the lowering stores it in
/// the flow record (0 there means "not looked up yet"); threading reasons about these
/// values like any other byte of the record.
pub(crate) mod fact {
    use crate::syntax::ast::SockCond;

    /// No socket: `if no socket` holds.
    pub const NONE: u8 = 1;
    /// A TCP listener, or an unconnected (bound) UDP socket.
    pub const LISTENING: u8 = 2;
    /// A TCP socket in a connected state (SYN_SENT through CLOSING, request sockets
    /// included), or a connected UDP socket.
    pub const ESTABLISHED: u8 = 3;
    /// A socket that is neither: TCP TIME_WAIT (or CLOSE).
    pub const OTHER: u8 = 4;

    /// True for a value the lookup stores.
    pub fn is_fact(x: u8) -> bool {
        (NONE..=OTHER).contains(&x)
    }

    /// Whether `cond` holds for a packet whose lookup found `x`.
    pub fn holds(cond: SockCond, x: u8) -> bool {
        match cond {
            SockCond::Exists => x != NONE,
            SockCond::NoSocket => x == NONE,
            SockCond::Listening => x == LISTENING,
            SockCond::Established => x == ESTABLISHED,
        }
    }
}

/// A linear rule's port list of more ranges than this is tested with one bitmap
/// lookup (`bpf::maps::PORTS_MAP`) instead of a chain of compares: a chain of
/// thousands of conditional jumps is what the verifier refuses ("The sequence of 8193
/// jumps is too complex"), and a lookup costs about as much as eight ranges.
pub(crate) const PORT_CHAIN_MAX: usize = 8;

/// One decision of a rule on the flow record; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// `L3 == 4` (IPv4) or `L3 == 6` (IPv6).
    Family(Family),
    /// `L3 != 0`: an IP packet whose header was complete.
    Ip,
    /// `PROTO == p`.
    Proto(u8),
    /// `PROTO in {6, 17}`: a port match without a protocol.
    TcpOrUdp,
    /// `L4_OK != 0`: the TCP/UDP/ICMP header was there in full.
    L4Ok,
    /// The source (or destination) address is in a literal prefix of nonzero length,
    /// compared as masked 32-bit words of the record.
    Prefix { src: bool, net: IpNet },
    /// Longest-prefix lookup of the source (or destination) address in an address
    /// set: in the given family's map, or, for `None`, in the map of the packet's
    /// family.
    Set {
        set: SetId,
        src: bool,
        family: Option<Family>,
    },
    /// The source (or destination) port is in one of the ranges (inclusive, sorted,
    /// disjoint).
    Ports { src: bool, ranges: Vec<(u16, u16)> },
    /// `TCP_FLAGS & mask == value`.
    Flags { mask: u8, value: u8 },
    /// `ICMP_TYPE == t`.
    IcmpType(u8),
    /// `ICMP_CODE == c`.
    IcmpCode(u8),
    /// `FRAG != 0`: the packet is a fragment.
    Frag,
    /// `ETHER_TYPE == t`.
    EtherType(u16),
    /// `VLAN == 0x1000 | id`: the frame has an outer tag with this id.
    Vlan(u16),
    /// A socket condition: the socket lookup's answer for this packet (looked up by
    /// the first socket test a packet reaches, then reused; see
    /// `bpf::socket`). `proto` (6 or 17) picks the lookup helper and
    /// `family` the tuple (`None`: the packet's family).
    Socket {
        cond: SockCond,
        proto: u8,
        family: Option<Family>,
    },
    /// `ct state ...`: the packet's connection-tracking state (derived by the first
    /// such test a packet reaches, then reused; see `bpf::ct`) is in `states`.
    /// `family` picks the lookup tuple (`None`: the packet's family).
    Ct {
        states: crate::syntax::ct::CtStates,
        family: Option<Family>,
    },
    /// `route local|forward`: the packet's route class (looked up by the first such
    /// test a packet reaches, then reused; see `bpf::route`).
    Route(crate::syntax::route::RouteClass),
    /// `limit ...`: the packet fits the rule's bucket (`over`: does not), which the
    /// test also updates. Its answer is not a function of the packet: nothing may
    /// assume it, reuse it or skip it.
    Limit(super::RuleLimit),
    /// `in on ...` / `out on ...`: the name of the packet's device (read from the
    /// netfilter hook state by each such test; see `bpf::iface`).
    Iface(crate::syntax::iface::IfaceMatch),
    /// `mark VALUE/MASK`: the packet's mark (read from the socket buffer by each such
    /// test; see `bpf::mark`).
    Mark(crate::syntax::mark::MarkTest),
    /// `ttl ...`, `hoplimit ...`: an IP header field the prologue copied into the flow
    /// record (after the family test that makes it the field's header).
    Field(crate::syntax::ipfield::FieldTest),
    /// `owner ...`: who owns the packet's socket (read through the socket buffer by
    /// each such test; see `bpf::owner`).
    Owner(crate::syntax::owner::OwnerMatch),
    /// `cgroup "PATH"`: the cgroup of the packet's socket (or the calling process),
    /// against the level and id in its slot of the `cgroups` map (`bpf::cgroup_match`).
    Cgroup(crate::syntax::cgroup_match::CgroupMatch),
    /// `comm ...`: the command name of the process making the call (copied by each
    /// such test; see `bpf::comm`).
    Comm(crate::syntax::comm::CommMatch),
    /// `ct status|direction|mark ...`: the packet's conntrack entry (read through the
    /// socket buffer by each such test; see `bpf::ct_entry`).
    CtEntry(crate::syntax::ct_entry::CtEntryTests),
}

/// The tests of one rule's match and condition, in the order lowering emits them (a
/// rule with no match has none and always matches). A `/0` prefix tests nothing and
/// is left out. A socket condition comes last, after every packet test, so a packet
/// that fails the match never costs a lookup; it needs the ports, so it comes after
/// `L4_OK` (a packet without a complete TCP/UDP header matches no conditioned rule).
/// The `in on`/`out on` tests come after `ct state` and `route`.
/// A `ct state` test comes after the packet tests too (before a socket condition);
/// it does not need `L4_OK`: a packet whose transport header is cut short is
/// `invalid`. A `route` test comes after them too; a `limit` test comes last of all,
/// so only a packet the rest of the rule matches takes from the bucket (as nft and
/// iptables evaluate a rule's matches in order).
pub(crate) fn rule_tests(m: &RuleMatch, cond: Option<SockCond>) -> Vec<Test> {
    let mut t = Vec::new();
    if let Some(v) = m.rare().vlan {
        t.push(Test::Vlan(v));
    }
    if let Some(e) = m.rare().ether_type {
        t.push(Test::EtherType(e));
    }
    if m.ip_only || m.family.is_some() {
        t.push(match m.family {
            Some(f) => Test::Family(f),
            None => Test::Ip,
        });
    }
    if let Some(p) = m.proto {
        t.push(Test::Proto(p));
    } else if m.needs_ports() {
        t.push(Test::TcpOrUdp);
    }
    if m.needs_l4() || cond.is_some() {
        t.push(Test::L4Ok);
    }
    for (a, src) in [(&m.src, true), (&m.dst, false)] {
        match a {
            AddrMatch::Any => {}
            AddrMatch::Prefix(net) if net.prefix_len() == 0 => {}
            AddrMatch::Prefix(net) => t.push(Test::Prefix { src, net: *net }),
            AddrMatch::Set(set) => t.push(Test::Set {
                set: *set,
                src,
                family: m.family,
            }),
        }
    }
    for (p, src) in [(&m.sport, true), (&m.dport, false)] {
        if let PortMatch::Ranges(ranges) = p {
            t.push(Test::Ports {
                src,
                ranges: ranges.to_vec(),
            });
        }
    }
    if let Some((mask, value)) = m.tcp_flags {
        t.push(Test::Flags { mask, value });
    }
    if let Some(v) = m.icmp_type {
        t.push(Test::IcmpType(v));
    }
    if let Some(v) = m.icmp_code {
        t.push(Test::IcmpCode(v));
    }
    if m.frag {
        t.push(Test::Frag);
    }
    if let Some(states) = m.ct {
        t.push(Test::Ct {
            states,
            family: m.family,
        });
    }
    if let Some(e) = &m.rare().ct_entry {
        t.push(Test::CtEntry((**e).clone()));
    }
    if let Some(class) = m.route {
        t.push(Test::Route(class));
    }
    for m in [&m.rare().iif, &m.rare().oif].into_iter().flatten() {
        t.push(Test::Iface((**m).clone()));
    }
    if let Some(mark) = m.rare().mark {
        t.push(Test::Mark(mark));
    }
    for f in &m.rare().fields {
        t.push(Test::Field(f.clone()));
    }
    if let Some(owner) = &m.rare().owner {
        t.push(Test::Owner((**owner).clone()));
    }
    if let Some(c) = &m.rare().cgroup {
        t.push(Test::Cgroup((**c).clone()));
    }
    if let Some(comm) = &m.rare().comm {
        t.push(Test::Comm((**comm).clone()));
    }
    if let Some(cond) = cond {
        t.push(Test::Socket {
            cond,
            proto: m
                .proto
                .expect("sema lets a socket condition through with tcp or udp only"),
            family: m.family,
        });
    }
    // Last: only a packet that matches everything else takes a token.
    if let Some(l) = m.limit() {
        t.push(Test::Limit(l));
    }
    t
}
