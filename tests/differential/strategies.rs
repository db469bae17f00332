//! Rule set strategies ([`rule_set`]): one or two hook blocks of up to 12 rules each,
//! over literals, address and port sets, protocols, TCP flags and ICMP fields, the IP
//! header's fields and the frame's (`ether type`, `vlan`: xdp and tc only), biased
//! toward shared address bits and boundary values. `kernel_agrees_with_the_evaluator`
//! and `generated_rule_sets_compile_and_evaluate` draw these; the classifier sets
//! reuse the literal, address and port strategies.

use proptest::{collection::vec, option, prelude::*, sample::select};
use sockc_compiler::sema::ICMP_TYPES as ICMP_TYPE_NAMES;

use crate::rules::{
    Action, Addr, Block, Endpoint, EtherMatch, Family, Hook, HopTest, IcmpType, LenTest, Literal,
    Port, ProtoMatch, Rule, RuleSet, TosTest, HOP_OPS, INTERFACES, MAX_LENGTH, REJECT_WITH,
    VLAN_IDS,
};

/// Address bits that rules share often, so prefixes nest and overlap across rules.
const ADDRESS_BASES: [u128; 9] = [
    0,
    u128::MAX,
    0x0a00_0000 << 96,
    0xc0a8_0100 << 96,
    0x2001_0db8 << 96,
    0xfe80 << 112,
    (0x7f00_0001 << 96) | 1,
    0xffff_ffff << 96,
    0x8000_0000 << 96,
];

pub fn address_bits() -> impl Strategy<Value = u128> {
    prop_oneof![
        2 => select(ADDRESS_BASES.to_vec()),
        // A base with its low bits replaced from some random position down.
        2 => (select(ADDRESS_BASES.to_vec()), any::<u128>(), 0u32..128)
            .prop_map(|(base, noise, keep)| base ^ (noise >> keep)),
        1 => any::<u128>(),
    ]
}

pub fn literal() -> impl Strategy<Value = Literal> {
    let len4 = prop_oneof![3 => select(vec![0u8, 1, 7, 8, 9, 16, 24, 31, 32]), 1 => 0u8..=32];
    let len6 = prop_oneof![3 => select(vec![0u8, 1, 32, 63, 64, 65, 127, 128]), 1 => 0u8..=128];
    (
        any::<bool>(),
        address_bits(),
        len4,
        len6,
        any::<bool>(),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(v6, bits, len4, len6, short, bracketed)| Literal {
            family: if v6 { Family::V6 } else { Family::V4 },
            bits,
            len4,
            len6,
            short,
            bracketed,
        })
}

pub fn port_number() -> impl Strategy<Value = u16> {
    prop_oneof![
        2 => select(vec![0u16, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65534, 65535]),
        1 => any::<u16>(),
    ]
}

fn port_range() -> impl Strategy<Value = (u16, u16)> {
    prop_oneof![
        port_number().prop_map(|p| (p, p)),
        (port_number(), port_number()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    let addr = prop_oneof![
        1 => Just(Addr::Any),
        3 => literal().prop_map(Addr::Literal),
        2 => (0usize..4).prop_map(Addr::Set),
    ];
    let port = prop_oneof![
        1 => Just(Port::Any),
        4 => port_range().prop_map(|(lo, hi)| Port::Range(lo, hi)),
        2 => (0usize..4).prop_map(Port::Set),
    ];
    (addr, option::weighted(0.4, port)).prop_map(|(addr, port)| Endpoint { addr, port })
}

fn proto_match() -> impl Strategy<Value = ProtoMatch> {
    let number = prop_oneof![
        3 => Just(Some(6u8)),
        3 => Just(Some(17)),
        2 => Just(Some(1)),
        2 => Just(Some(58)),
        1 => Just(None),
        1 => Just(Some(47)),
        1 => any::<u8>().prop_map(Some),
        // The IPv6 extension headers the prologue walks, which the evaluator, the
        // prologue and the semantic diff's example packets each treat apart: `any`
        // draws one 1 time in 51, and a semantic diff of one with `length` failed
        // 1 CI run in many (seed 12608001565811436921).
        1 => select(vec![0u8, 43, 44, 51, 60]).prop_map(Some),
    ];
    (number, 0u8..6).prop_map(|(number, spelling)| ProtoMatch { number, spelling })
}

/// TTL and hop limit values around the ones real rules test (1, 64, 128, 255).
pub fn hop_value() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => select(vec![0u8, 1, 2, 63, 64, 65, 127, 128, 254, 255]),
        1 => any::<u8>(),
    ]
}

fn hop_test() -> impl Strategy<Value = HopTest> {
    let value = prop_oneof![
        3 => hop_value().prop_map(|v| (v, v)),
        1 => (hop_value(), hop_value()),
    ];
    (any::<bool>(), 0..HOP_OPS.len() as u8, vec(value, 1..=3))
        .prop_map(|(v6, op, values)| HopTest { v6, op, values })
}

/// TOS bytes (DSCP << 2 | ECN) around the ones real rules test: CS0 to CS7, AF41,
/// EF, each ECN codepoint.
pub fn tos_value() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => (select(vec![0u8, 1, 8, 10, 34, 46, 48, 56, 63]), 0u8..4).prop_map(|(d, e)| d << 2 | e),
        1 => any::<u8>(),
    ]
}

fn tos_test() -> impl Strategy<Value = TosTest> {
    let value = prop_oneof![
        3 => tos_value().prop_map(|v| (v >> 2, v >> 2)),
        1 => (0u8..64, 0u8..64),
    ];
    (any::<bool>(), 0..HOP_OPS.len() as u8, vec(value, 1..=3)).prop_map(|(ecn, op, values)| {
        // An ECN test takes the values' low bits.
        let values = match ecn {
            true => values
                .into_iter()
                .map(|(lo, hi)| (lo & 3, hi & 3))
                .collect(),
            false => values,
        };
        TosTest { ecn, op, values }
    })
}

/// IP packet lengths around the generated packets' own (an IPv4 header with a UDP
/// or ICMP header is 28 bytes, with TCP 40; IPv6's fixed header alone is 40) and the
/// edges of both families' lengths.
pub fn length_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => 20u32..=160,
        1 => select(vec![0u32, 39, 40, 41, 1280, 1500, 65535, 65536, MAX_LENGTH]),
        1 => 0..=MAX_LENGTH,
    ]
}

fn len_test() -> impl Strategy<Value = LenTest> {
    let value = prop_oneof![
        3 => length_value().prop_map(|v| (v, v)),
        2 => (length_value(), 0u32..=24).prop_map(|(v, w)| (v, v + w)),
        1 => (length_value(), length_value()),
    ];
    (0..HOP_OPS.len() as u8, vec(value, 1..=3)).prop_map(|(op, values)| LenTest { op, values })
}

/// A VLAN id: one of [`VLAN_IDS`] mostly, so that rules and frames meet.
pub fn vlan_id() -> impl Strategy<Value = u16> {
    prop_oneof![3 => select(VLAN_IDS.to_vec()), 1 => 0u16..=4095]
}

/// An `ether type` match: the common EtherTypes mostly (IP ones, ARP, tags, LLDP),
/// else any, written every way (normalizing keeps it to what sema accepts).
fn ether_match() -> impl Strategy<Value = EtherMatch> {
    // About half IP (the rule keeps its IP matches), half not (it tests the frame
    // alone: `Rule::normalize`).
    let value = prop_oneof![
        2 => select(vec![0x0800u16, 0x86dd]),
        2 => select(vec![0x0806u16, 0x8100, 0x88a8, 0x88cc]),
        1 => any::<u16>(),
    ];
    (value, any::<u8>()).prop_map(|(value, spelling)| EtherMatch { value, spelling })
}

fn rule() -> impl Strategy<Value = Rule> {
    let action = prop_oneof![
        Just(Action::Allow),
        Just(Action::Drop),
        Just(Action::Count),
        (0..REJECT_WITH.len() as u8).prop_map(Action::Reject),
    ];
    let family = prop_oneof![Just(Family::V4), Just(Family::V6)];
    let icmp_type = prop_oneof![
        2 => select(vec![0u8, 3, 8, 11, 128, 129, 135, 255]).prop_map(IcmpType::Number),
        1 => any::<u8>().prop_map(IcmpType::Number),
        2 => (0..ICMP_TYPE_NAMES.len()).prop_map(IcmpType::Name),
    ];
    let icmp_code = prop_oneof![select(vec![0u8, 1, 3, 4]), any::<u8>()];
    let order = prop_oneof![3 => Just(0u32), 1 => any::<u32>()];
    (
        (
            action,
            option::weighted(0.75, proto_match()),
            option::weighted(0.2, family),
        ),
        (
            option::weighted(0.4, endpoint()),
            option::weighted(0.5, endpoint()),
            proptest::bool::weighted(0.25),
        ),
        (
            vec((0u8..8, any::<bool>()), 0..=3),
            option::weighted(0.6, icmp_type),
            option::weighted(0.4, icmp_code),
            order,
            proptest::bool::weighted(0.1),
            option::weighted(0.15, hop_test()),
            option::weighted(0.12, tos_test()),
            option::weighted(0.12, len_test()),
        ),
        (
            option::weighted(0.1, ether_match()),
            option::weighted(0.1, vlan_id()),
        ),
    )
        .prop_map(
            |(
                (action, proto, family),
                (src, dst, bare_dst),
                (flags, icmp_type, icmp_code, order, frag, hop, tos, len),
                (ether, vlan),
            )| {
                Rule {
                    action,
                    proto,
                    family,
                    src,
                    dst,
                    bare_dst,
                    flags,
                    icmp_type,
                    icmp_code,
                    frag,
                    hop,
                    tos,
                    len,
                    ether,
                    vlan,
                    order,
                    facts: Vec::new(),
                }
            },
        )
}

fn block() -> impl Strategy<Value = Block> {
    let hook = prop_oneof![Just(Hook::Xdp), Just(Hook::TcIngress), Just(Hook::TcEgress)];
    (
        hook,
        0..INTERFACES.len(),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.15),
        vec(rule(), 0..=12),
    )
        .prop_map(
            |(hook, iface, default_drop, default_first, compact, rules)| Block {
                hook,
                iface,
                default_drop,
                default_first,
                compact,
                rules,
            },
        )
}

pub fn rule_set() -> impl Strategy<Value = RuleSet> {
    let blocks = prop_oneof![4 => vec(block(), 1..=1), 1 => vec(block(), 2..=2)];
    (
        vec(vec(literal(), 1..=4), 0..=3),
        // Some long lists of single ports (rarely adjacent, so they stay long after
        // sema merges ranges): a linear rule tests those with a bitmap lookup. One in
        // three, so the run's floor on bitmap rule sets holds with a margin whatever
        // other draws shift the sample.
        vec(
            prop_oneof![
                2 => vec(port_range(), 1..=4),
                1 => vec(any::<u16>().prop_map(|p| (p, p)), 12..=30),
            ],
            0..=2,
        ),
        blocks,
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(addr_sets, port_sets, blocks, sets_last, sets_multiline)| {
                RuleSet {
                    addr_sets,
                    port_sets,
                    blocks,
                    sets_last,
                    sets_multiline,
                }
                .normalize()
            },
        )
}
