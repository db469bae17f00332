//! Packets drawn against a rule set: recipes relative to the set's pools (prefix
//! edges, port-range ends, flag tests, ICMP type and code ±1, protocols), malformed
//! variants (truncation, tags, options, fragments, patched bytes), and the case
//! strategies that pair a rule set with its packets.

use std::{fmt, net::IpAddr};

use proptest::{
    collection::vec,
    option,
    prelude::*,
    sample::select,
    strategy::{NewTree, ValueTree},
    test_runner::TestRunner,
};
use sockc_testkit::packet::{Ext6, PacketSpec, L4};

use crate::{
    classifier::classifier_rule_set,
    rules::{Addr, Family, Literal, Port, Prefix, RuleSet},
    strategies::rule_set,
};

/// Packet recipes pick prefixes, ports, flag tests and protocols by an index in
/// `0..PICKS`, taken modulo the pool's length: enough to reach every value of a
/// classifier rule set's pools.
const PICKS: usize = 4096;

/// The values a rule set tests, which packets are drawn around.
#[derive(Debug, Default)]
pub struct Pools {
    prefixes: Vec<Prefix>,
    /// Ends of every port range and the ports just outside them.
    ports: Vec<u16>,
    /// (mask, value) of every TCP flag test.
    flag_tests: Vec<(u8, u8)>,
    /// (type, code) of every ICMP test.
    icmp_tests: Vec<(Option<u8>, Option<u8>)>,
    protocols: Vec<u8>,
}

impl Pools {
    pub fn of(set: &RuleSet) -> Pools {
        let mut pools = Pools {
            ports: vec![0, 65535],
            ..Pools::default()
        };
        let mut ranges: Vec<(u16, u16)> = set.port_sets.iter().flatten().copied().collect();
        pools
            .prefixes
            .extend(set.addr_sets.iter().flatten().map(Literal::prefix));
        for r in set.rules() {
            for e in r.src.iter().chain(r.dst.iter()) {
                if let Addr::Literal(l) = e.addr {
                    pools.prefixes.push(l.prefix());
                }
                if let Some(Port::Range(lo, hi)) = e.port {
                    ranges.push((lo, hi));
                }
            }
            pools.flag_tests.extend(r.flag_test());
            if let Some(f) = r.icmp_family() {
                pools
                    .icmp_tests
                    .push((r.icmp_type.map(|t| t.number(f)), r.icmp_code));
            }
            pools.protocols.extend(r.protocol());
        }
        for (lo, hi) in ranges {
            pools.ports.extend(lo.checked_sub(1));
            pools.ports.extend([lo, hi]);
            pools.ports.extend(hi.checked_add(1));
        }
        pools.prefixes.sort();
        pools.prefixes.dedup();
        pools.ports.sort();
        pools.ports.dedup();
        pools
    }

    fn prefixes_of(&self, family: Family) -> Vec<Prefix> {
        self.prefixes
            .iter()
            .copied()
            .filter(|p| p.family == family)
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Edge {
    Network,
    Last,
    BeforeFirst,
    AfterLast,
    Inside,
}

#[derive(Clone, Copy, Debug)]
enum AddrPick {
    /// Near one of the rule set's prefixes of the packet's family.
    Edge {
        prefix: usize,
        at: Edge,
        noise: u128,
    },
    Random(u128),
}

#[derive(Clone, Copy, Debug)]
enum L4Pick {
    Tcp,
    Udp,
    Icmp,
    /// One of the protocols the rules name.
    RuleProtocol(usize),
    /// A bare IP protocol number: no transport header is written, the payload follows
    /// the IP header (so `proto 6` with a short payload has no ports).
    Other(u8),
}

#[derive(Clone, Copy, Debug)]
enum PortPick {
    Edge(usize),
    Random(u16),
}

#[derive(Clone, Copy, Debug)]
enum FlagPick {
    /// A rule's flag value, other bits from `noise`.
    Match {
        rule: usize,
        noise: u8,
    },
    /// A rule's flag value with one of its tested bits flipped.
    Miss {
        rule: usize,
        bit: u8,
        noise: u8,
    },
    Random(u8),
}

#[derive(Clone, Copy, Debug)]
enum IcmpPick {
    /// A rule's type and code, each moved by -1, 0 or +1 (random where it tests none).
    Near {
        rule: usize,
        type_delta: i8,
        code_delta: i8,
        noise: (u8, u8),
    },
    Random(u8, u8),
}

/// Where to cut the frame.
#[derive(Clone, Copy, Debug)]
enum Truncation {
    /// One of [`header_boundaries`], moved by -1, 0 or +1.
    Boundary {
        index: usize,
        delta: i8,
    },
    At(u16),
}

/// A raw edit of the built frame, for what a [`PacketSpec`] cannot say.
#[derive(Clone, Copy, Debug)]
pub enum Patch {
    /// The EtherType naming the layer-3 protocol (the inner one behind a tag).
    EtherType(u16),
    /// An 802.1ad service tag instead of 802.1Q (forces a tag).
    ServiceTag,
    /// The first IP header byte (version and IHL).
    IpFirstByte(u8),
}

impl fmt::Display for Patch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Patch::EtherType(t) => write!(f, "EtherType set to {t:#06x}"),
            Patch::ServiceTag => f.write_str("tag TPID set to 0x88a8"),
            Patch::IpFirstByte(b) => write!(f, "IP version/IHL byte set to {b:#04x}"),
        }
    }
}

/// How to build one packet against a rule set: every choice is relative to the set's
/// [`Pools`], so the same recipe lands near the boundaries of whatever set it meets.
#[derive(Clone, Debug)]
pub struct PacketRecipe {
    /// Family when neither address picks a prefix.
    v6: bool,
    src: AddrPick,
    dst: AddrPick,
    l4: L4Pick,
    sport: PortPick,
    dport: PortPick,
    flags: FlagPick,
    icmp: IcmpPick,
    vlan: Option<u16>,
    ipv4_options: u8,
    fragment_offset: u16,
    more_fragments: bool,
    /// IPv6 extension headers (ignored for IPv4); one fragment header at most is kept.
    ipv6_ext: Vec<Ext6>,
    payload: Vec<u8>,
    truncation: Option<Truncation>,
    patch: Option<Patch>,
    /// The IPv4 TTL or IPv6 hop limit.
    ttl: u8,
    /// The IPv4 TOS byte or IPv6 traffic class.
    tos: u8,
    /// The IP length field, when not the packet's own: longer pads the payload,
    /// shorter (than the headers) says less than is there (IPv6: at least 40).
    length: Option<u32>,
}

/// A packet ready to run.
pub struct Packet {
    pub spec: PacketSpec,
    pub patch: Option<Patch>,
    pub frame: Vec<u8>,
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.spec)?;
        if let Some(p) = self.patch {
            write!(f, " [{p}]")?;
        }
        Ok(())
    }
}

/// Offsets where a header ends or a tested field starts.
fn header_boundaries(spec: &PacketSpec) -> [usize; 14] {
    let (l3, l4) = (spec.l3_offset(), spec.l4_offset());
    [
        14,
        18,
        34,
        38,
        54,
        58,
        l3 + 20,
        l3 + 40,
        l3 + 48,
        l3 + 56,
        l4 + 4,
        l4 + 8,
        l4 + 14,
        l4 + 20,
    ]
}

/// `BPF_PROG_TEST_RUN` on SCHED_CLS refuses (EINVAL) an IPv4 or IPv6 EtherType frame
/// shorter than the fixed IP header.
pub fn tc_refuses(frame: &[u8]) -> bool {
    sockc_testkit::packet::tc_test_run_refuses(frame).is_some()
}

impl PacketRecipe {
    pub fn resolve(&self, pools: &Pools, tc_only: bool) -> Packet {
        let family = [self.src, self.dst]
            .iter()
            .find_map(|pick| match pick {
                AddrPick::Edge { prefix, .. } if !pools.prefixes.is_empty() => {
                    Some(pools.prefixes[prefix % pools.prefixes.len()].family)
                }
                _ => None,
            })
            .unwrap_or(if self.v6 { Family::V6 } else { Family::V4 });
        let v6 = family == Family::V6;
        let prefixes = pools.prefixes_of(family);
        let address = |pick: AddrPick| -> IpAddr {
            let value = match pick {
                AddrPick::Edge { prefix, at, noise } if !prefixes.is_empty() => {
                    let p = prefixes[prefix % prefixes.len()];
                    match at {
                        Edge::Network => p.network,
                        Edge::Last => p.last(),
                        Edge::BeforeFirst => p.network.wrapping_sub(1),
                        Edge::AfterLast => p.last().wrapping_add(1),
                        Edge::Inside => p.network | (noise & p.host_mask()),
                    }
                }
                AddrPick::Edge { noise, .. } | AddrPick::Random(noise) => noise,
            };
            family.address(value & family.all_ones())
        };
        let port = |pick: PortPick| match pick {
            PortPick::Edge(i) => pools.ports[i % pools.ports.len()],
            PortPick::Random(p) => p,
        };
        let (sport, dport) = (port(self.sport), port(self.dport));
        let flags = match self.flags {
            FlagPick::Match { rule, noise } if !pools.flag_tests.is_empty() => {
                let (mask, value) = pools.flag_tests[rule % pools.flag_tests.len()];
                value | (noise & !mask)
            }
            FlagPick::Miss { rule, bit, noise } if !pools.flag_tests.is_empty() => {
                let (mask, value) = pools.flag_tests[rule % pools.flag_tests.len()];
                let tested: Vec<u8> = (0..8).filter(|b| mask & (1 << b) != 0).collect();
                let flip = 1 << tested[usize::from(bit) % tested.len()];
                (value ^ flip) | (noise & !mask)
            }
            FlagPick::Match { noise, .. }
            | FlagPick::Miss { noise, .. }
            | FlagPick::Random(noise) => noise,
        };
        let (ty, code) = match self.icmp {
            IcmpPick::Near {
                rule,
                type_delta,
                code_delta,
                noise,
            } if !pools.icmp_tests.is_empty() => {
                let (t, c) = pools.icmp_tests[rule % pools.icmp_tests.len()];
                (
                    t.map_or(noise.0, |t| t.wrapping_add_signed(type_delta)),
                    c.map_or(noise.1, |c| c.wrapping_add_signed(code_delta)),
                )
            }
            IcmpPick::Near { noise, .. } => noise,
            IcmpPick::Random(t, c) => (t, c),
        };
        let number = match self.l4 {
            L4Pick::Tcp => 6,
            L4Pick::Udp => 17,
            L4Pick::Icmp => {
                if v6 {
                    58
                } else {
                    1
                }
            }
            L4Pick::RuleProtocol(i) if !pools.protocols.is_empty() => {
                pools.protocols[i % pools.protocols.len()]
            }
            L4Pick::RuleProtocol(_) => 6,
            L4Pick::Other(n) => n,
        };
        let l4 = match (self.l4, number) {
            (L4Pick::Other(n), _) => L4::Other { proto: n },
            (_, 6) => L4::Tcp {
                sport,
                dport,
                flags,
            },
            (_, 17) => L4::Udp { sport, dport },
            (_, 1) if !v6 => L4::Icmp { ty, code },
            (_, 58) if v6 => L4::Icmp { ty, code },
            (_, n) => L4::Other { proto: n },
        };
        let vlan = match self.patch {
            Some(Patch::ServiceTag) => self.vlan.or(Some(1)),
            _ => self.vlan,
        };
        let ipv6_ext: Vec<Ext6> = if v6 {
            let mut seen_fh = false;
            self.ipv6_ext
                .iter()
                .copied()
                .filter(|e| *e != Ext6::Fragment || !std::mem::replace(&mut seen_fh, true))
                .collect()
        } else {
            Vec::new()
        };
        let has_fh = ipv6_ext.contains(&Ext6::Fragment);
        let mut spec = PacketSpec {
            src: address(self.src),
            dst: address(self.dst),
            l4,
            vlan,
            // IPv6 has no options or fragment fields (the spec would not print).
            ipv4_options: if v6 { 0 } else { self.ipv4_options },
            fragment_offset: if v6 && !has_fh {
                0
            } else {
                self.fragment_offset
            },
            more_fragments: (!v6 || has_fh) && self.more_fragments,
            ipv6_ext,
            payload: self.payload.clone(),
            truncate_to: None,
            ether_type: None,
            ttl: self.ttl,
            tos: self.tos,
            length: self.length.map(|n| if v6 { n.max(40) } else { n }),
        };
        let cut = match self.truncation {
            Some(Truncation::Boundary { index, delta }) => {
                let b = header_boundaries(&spec);
                Some(b[index % b.len()].saturating_add_signed(isize::from(delta)))
            }
            Some(Truncation::At(n)) => Some(usize::from(n)),
            None => None,
        };
        // The kernel refuses frames under 14 bytes; a cut past the end changes nothing.
        spec.truncate_to = cut
            .map(|n| n.max(14))
            .filter(|&n| n < spec.untruncated_len());
        let mut packet = self.finish(spec);
        // Without an XDP program such a frame could not run at all: keep the fixed IP
        // header instead (the TC path still sees short IP headers behind a VLAN tag).
        if tc_only && tc_refuses(&packet.frame) {
            let ipv6_ethertype = packet.frame[12..14] == [0x86, 0xdd];
            let need = if ipv6_ethertype { 54 } else { 34 };
            let mut spec = packet.spec.clone();
            spec.truncate_to = Some(need).filter(|&n| n < spec.untruncated_len());
            packet = self.finish(spec);
        }
        packet
    }

    fn finish(&self, spec: PacketSpec) -> Packet {
        let mut frame = spec.build();
        let l3 = spec.l3_offset();
        let mut write = |at: usize, bytes: &[u8]| {
            if let Some(dst) = frame.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        };
        match self.patch {
            Some(Patch::EtherType(t)) => write(l3 - 2, &t.to_be_bytes()),
            Some(Patch::ServiceTag) => write(12, &0x88a8u16.to_be_bytes()),
            Some(Patch::IpFirstByte(b)) => write(l3, &[b]),
            None => {}
        }
        Packet {
            spec,
            patch: self.patch,
            frame,
        }
    }
}

fn addr_pick() -> impl Strategy<Value = AddrPick> {
    let edge = prop_oneof![
        Just(Edge::Network),
        Just(Edge::Last),
        Just(Edge::BeforeFirst),
        Just(Edge::AfterLast),
        Just(Edge::Inside),
    ];
    prop_oneof![
        4 => (0usize..PICKS, edge, any::<u128>())
            .prop_map(|(prefix, at, noise)| AddrPick::Edge { prefix, at, noise }),
        1 => any::<u128>().prop_map(AddrPick::Random),
    ]
}

fn port_pick() -> impl Strategy<Value = PortPick> {
    prop_oneof![
        3 => (0usize..PICKS).prop_map(PortPick::Edge),
        1 => any::<u16>().prop_map(PortPick::Random),
    ]
}

fn packet_recipe() -> impl Strategy<Value = PacketRecipe> {
    let l4 = prop_oneof![
        3 => Just(L4Pick::Tcp),
        3 => Just(L4Pick::Udp),
        2 => Just(L4Pick::Icmp),
        3 => (0usize..PICKS).prop_map(L4Pick::RuleProtocol),
        1 => prop_oneof![select(vec![0u8, 1, 6, 17, 47, 58, 255]), any::<u8>()]
            .prop_map(L4Pick::Other),
    ];
    let flags = prop_oneof![
        2 => (0usize..PICKS, any::<u8>()).prop_map(|(rule, noise)| FlagPick::Match { rule, noise }),
        2 => (0usize..PICKS, 0u8..8, any::<u8>())
            .prop_map(|(rule, bit, noise)| FlagPick::Miss { rule, bit, noise }),
        1 => any::<u8>().prop_map(FlagPick::Random),
    ];
    let icmp = prop_oneof![
        3 => (0usize..PICKS, -1i8..=1, -1i8..=1, any::<(u8, u8)>()).prop_map(
            |(rule, type_delta, code_delta, noise)| IcmpPick::Near {
                rule,
                type_delta,
                code_delta,
                noise,
            }
        ),
        1 => any::<(u8, u8)>().prop_map(|(t, c)| IcmpPick::Random(t, c)),
    ];
    let fragment_offset = prop_oneof![
        8 => Just(0u16),
        1 => Just(1),
        1 => Just(0x1fff),
        1 => 0u16..=0x1fff,
    ];
    let payload = prop_oneof![3 => Just(Vec::new()), 1 => vec(any::<u8>(), 1..=24)];
    let ext = prop_oneof![
        3 => (1u8..=3).prop_map(Ext6::HopByHop),
        1 => (1u8..=2).prop_map(Ext6::Routing),
        3 => (1u8..=3).prop_map(Ext6::DestOpts),
        2 => Just(Ext6::Fragment),
        1 => Just(Ext6::Auth),
    ];
    // Up to 7 headers: one past the prologue's walk.
    let ipv6_ext = prop_oneof![3 => Just(Vec::new()), 1 => vec(ext, 1..=7)];
    let truncation = prop_oneof![
        4 => (0usize..14, -1i8..=1).prop_map(|(index, delta)| Truncation::Boundary { index, delta }),
        1 => (14u16..100).prop_map(Truncation::At),
    ];
    let ether_type = prop_oneof![
        3 => select(vec![0x0806u16, 0x8100, 0x88a8, 0x0800, 0x86dd, 0x88cc]),
        1 => any::<u16>(),
    ];
    let patch = prop_oneof![
        2 => ether_type.prop_map(Patch::EtherType),
        1 => Just(Patch::ServiceTag),
        1 => prop_oneof![select(vec![0x44u8, 0x46, 0x4f, 0x40, 0x60, 0x65, 0x00]), any::<u8>()]
            .prop_map(Patch::IpFirstByte),
    ];
    (
        (any::<bool>(), addr_pick(), addr_pick(), l4),
        (port_pick(), port_pick(), flags, icmp),
        (
            option::weighted(0.2, crate::strategies::vlan_id()),
            prop_oneof![4 => Just(0u8), 1 => 0u8..=10],
            fragment_offset,
            proptest::bool::weighted(0.15),
            ipv6_ext,
        ),
        (
            payload,
            option::weighted(0.25, truncation),
            option::weighted(0.15, patch),
            crate::strategies::hop_value(),
            crate::strategies::tos_value(),
            option::weighted(0.15, 0u32..=200),
        ),
    )
        .prop_map(
            |(
                (v6, src, dst, l4),
                (sport, dport, flags, icmp),
                (vlan, ipv4_options, fragment_offset, more_fragments, ipv6_ext),
                (payload, truncation, patch, ttl, tos, length),
            )| PacketRecipe {
                v6,
                src,
                dst,
                l4,
                sport,
                dport,
                flags,
                icmp,
                vlan,
                ipv4_options,
                fragment_offset,
                more_fragments,
                ipv6_ext,
                payload,
                truncation,
                patch,
                ttl,
                tos,
                length,
            },
        )
}

/// A list of exactly `len` elements that shrinks by dropping elements (down to one)
/// and then by shrinking each: proptest's `vec` cannot go below its minimum length,
/// and every set should meet its full `SOCKC_DIFF_PACKETS` packets.
#[derive(Debug)]
struct Packets<S> {
    element: S,
    len: usize,
}

impl<S: Strategy> Strategy for Packets<S> {
    type Tree = PacketsTree<S::Tree>;
    type Value = Vec<S::Value>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let elements = (0..self.len)
            .map(|_| self.element.new_tree(runner))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PacketsTree {
            included: vec![true; elements.len()],
            elements,
            next_drop: 0,
            next_shrink: 0,
            last: None,
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum ListStep {
    Dropped(usize),
    Shrunk(usize),
}

#[derive(Debug)]
struct PacketsTree<T> {
    elements: Vec<T>,
    included: Vec<bool>,
    next_drop: usize,
    next_shrink: usize,
    last: Option<ListStep>,
}

impl<T: ValueTree> ValueTree for PacketsTree<T> {
    type Value = Vec<T::Value>;

    fn current(&self) -> Self::Value {
        self.elements
            .iter()
            .zip(&self.included)
            .filter(|(_, &inc)| inc)
            .map(|(e, _)| e.current())
            .collect()
    }

    fn simplify(&mut self) -> bool {
        while self.next_drop < self.elements.len() {
            let i = self.next_drop;
            self.next_drop += 1;
            if self.included[i] && self.included.iter().filter(|&&inc| inc).count() > 1 {
                self.included[i] = false;
                self.last = Some(ListStep::Dropped(i));
                return true;
            }
        }
        while self.next_shrink < self.elements.len() {
            let i = self.next_shrink;
            if self.included[i] && self.elements[i].simplify() {
                self.last = Some(ListStep::Shrunk(i));
                return true;
            }
            self.next_shrink += 1;
        }
        false
    }

    fn complicate(&mut self) -> bool {
        match self.last {
            None => false,
            Some(ListStep::Dropped(i)) => {
                self.included[i] = true;
                self.last = None;
                true
            }
            Some(ListStep::Shrunk(i)) => {
                let changed = self.elements[i].complicate();
                if !changed {
                    self.last = None;
                }
                changed
            }
        }
    }
}

pub fn case_strategy(packets: usize) -> impl Strategy<Value = (RuleSet, Vec<PacketRecipe>)> {
    (
        rule_set(),
        Packets {
            element: packet_recipe(),
            len: packets,
        },
    )
}

/// Packets first, so that shrinking drops the packets that do not fail before it
/// works on the (large) rule set with one packet.
pub fn classify_case_strategy(
    packets: usize,
) -> impl Strategy<Value = (RuleSet, Vec<PacketRecipe>)> {
    (
        Packets {
            element: packet_recipe(),
            len: packets,
        },
        classifier_rule_set(),
    )
        .prop_map(|(recipes, set)| (set, recipes))
}
