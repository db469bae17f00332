//! Rule sets for the classifier tests: blocks with long runs of classifiable rules
//! (`allow`/`drop`/`reject`, no ICMP type or code) between shorter segments, their prefixes,
//! port-range ends and flag tests drawn from small per-set pools.

use proptest::{
    collection::vec,
    option,
    prelude::*,
    sample::{select, Index},
};
use sockc_compiler::{
    opt::classify::{MAX_EXPANSION, MIN_RULES, SMALL_RUN},
    sema::ICMP_TYPES as ICMP_TYPE_NAMES,
};

use crate::{
    rules::{
        Action, Addr, Block, Endpoint, Family, Hook, IcmpType, Literal, Port, ProtoMatch, Rule,
        RuleSet, INTERFACES, REJECT_WITH,
    },
    strategies::{address_bits, literal, port_number},
};

/// How a classifier-set rule picks an address: from the set's pool of related
/// prefixes, or an address set.
#[derive(Clone, Copy, Debug)]
enum AddrDraw {
    Any,
    Pool(Index),
    Set(usize),
}

#[derive(Clone, Copy, Debug)]
enum PortDraw {
    Any,
    /// Two ends from the set's port pool (one port when they pick the same).
    Range(Index, Index),
    Set(usize),
    /// One port, not from the pool (a counting run's rules each have their own).
    Fixed(u16),
}

#[derive(Clone, Copy, Debug)]
enum FlagDraw {
    /// One of the set's flag tests.
    Pool(Index),
    /// (mask, value).
    Fixed(u8, u8),
}

#[derive(Clone, Copy, Debug)]
struct EndpointDraw {
    addr: AddrDraw,
    port: Option<PortDraw>,
}

/// A rule of a classifier rule set, its values still indexes into the set's pools
/// ([`ClassifierPools`]), so that rules share prefixes, port-range ends and flag tests.
#[derive(Clone, Debug)]
struct RunRule {
    action: Action,
    proto: Option<ProtoMatch>,
    family: Option<Family>,
    src: Option<EndpointDraw>,
    dst: Option<EndpointDraw>,
    bare_dst: bool,
    /// The TCP flag test (TCP rules only).
    flags: Option<FlagDraw>,
    /// ICMP type and code: only interrupting rules have them.
    icmp: Option<(IcmpType, Option<u8>)>,
    /// Pool prefix that becomes the destination of a rule that would otherwise match
    /// a whole protocol or family (see [`ClassifierPools::rule`]), or that a
    /// [`Profile`] asks for.
    narrow: Index,
    /// Keep the rule broad: `drop tcp`, `allow ip6`, `allow any` (rare).
    broad: bool,
    order: u32,
}

/// The values a classifier rule set's rules draw from.
struct ClassifierPools {
    prefixes: Vec<Literal>,
    ports: Vec<u16>,
    flag_tests: Vec<Vec<(u8, bool)>>,
}

impl ClassifierPools {
    fn endpoint(&self, e: EndpointDraw) -> Endpoint {
        Endpoint {
            addr: match e.addr {
                AddrDraw::Any => Addr::Any,
                AddrDraw::Pool(i) => Addr::Literal(*i.get(&self.prefixes)),
                AddrDraw::Set(i) => Addr::Set(i),
            },
            port: e.port.map(|p| match p {
                PortDraw::Any => Port::Any,
                PortDraw::Range(a, b) => {
                    let (a, b) = (*a.get(&self.ports), *b.get(&self.ports));
                    Port::Range(a.min(b), a.max(b))
                }
                PortDraw::Set(i) => Port::Set(i),
                PortDraw::Fixed(p) => Port::Range(p, p),
            }),
        }
    }

    /// The rule as sema will accept it: normalized, narrowed to an address unless it
    /// is drawn broad (so a `drop tcp` early in a run does not hide the rest of it),
    /// and with few enough set × port-list combinations to stay classifiable.
    fn rule(&self, r: &RunRule, addr_sets: &[Vec<Literal>], port_sets: &[Vec<(u16, u16)>]) -> Rule {
        let (na, np) = (addr_sets.len(), port_sets.len());
        let mut rule = Rule {
            action: r.action,
            proto: r.proto,
            family: r.family,
            src: r.src.map(|e| self.endpoint(e)),
            dst: r.dst.map(|e| self.endpoint(e)),
            bare_dst: r.bare_dst,
            flags: match r.flags {
                None => Vec::new(),
                Some(FlagDraw::Pool(i)) => i.get(&self.flag_tests).clone(),
                Some(FlagDraw::Fixed(mask, value)) => (0..8)
                    .filter(|b| mask & (1 << b) != 0)
                    .map(|b| (b, value & (1 << b) != 0))
                    .collect(),
            },
            icmp_type: r.icmp.map(|(t, _)| t),
            icmp_code: r.icmp.and_then(|(_, c)| c),
            frag: false,
            hop: None,
            tos: None,
            len: None,
            ether: None,
            vlan: None,
            order: r.order,
            facts: Vec::new(),
        }
        .normalize(na, np);
        let narrow = rule.endpoints_mut().any(|e| {
            !matches!(e.addr, Addr::Any) || matches!(e.port, Some(Port::Range(..) | Port::Set(_)))
        });
        if !narrow && !r.broad {
            let port = rule.dst.and_then(|d| d.port);
            rule.dst = Some(Endpoint {
                addr: Addr::Literal(*r.narrow.get(&self.prefixes)),
                port,
            });
            rule = rule.normalize(na, np);
        }
        // Entries per family: address-set elements × port-list ranges × 2 protocols
        // (a port test without a protocol means TCP and UDP). Past MAX_EXPANSION the
        // rule would stay linear and split the run.
        let expansion = |rule: &Rule| {
            rule.src
                .iter()
                .chain(rule.dst.iter())
                .map(|e| {
                    let a = match e.addr {
                        Addr::Set(i) => addr_sets[i].len(),
                        _ => 1,
                    };
                    let p = match e.port {
                        Some(Port::Set(i)) => port_sets[i].len(),
                        _ => 1,
                    };
                    a * p
                })
                .product::<usize>()
                * 2
        };
        while expansion(&rule) > MAX_EXPANSION {
            let Some(e) = rule
                .endpoints_mut()
                .find(|e| matches!(e.port, Some(Port::Set(_))))
            else {
                break;
            };
            e.port = Some(Port::Any);
        }
        rule
    }
}

/// A prefix of a classifier set's pool, resolved by [`PoolDraw::literal`].
#[derive(Clone, Copy, Debug)]
struct PoolDraw {
    root: Index,
    noise: u128,
    /// Bits kept from the root (counted from the top of the family's address).
    keep4: u32,
    keep6: u32,
    /// IPv6 when below the set's IPv6 share (percent).
    family_roll: u8,
    /// A specific length when below the set's specific share (percent).
    length_roll: u8,
    /// (IPv4, IPv6) lengths: specific ones (at least /16 and /64: not "wide" for
    /// the classifier), and any.
    specific: (u8, u8),
    any: (u8, u8),
    short: bool,
    bracketed: bool,
}

/// How a classifier set draws its prefixes: the share of IPv6 and of specific
/// lengths (percent). Sets that lean to one family and to specific prefixes give
/// trees of many entries (deep trees); mixed ones give many trees.
#[derive(Clone, Copy, Debug)]
struct PoolStyle {
    v6_share: u8,
    specific_share: u8,
}

impl PoolDraw {
    /// A root's bits with the bits below `keep` replaced: pool prefixes share their
    /// top bits and nest, so trees get deep and leaves hold several entries.
    fn literal(&self, roots: &[u128], style: PoolStyle) -> Literal {
        let v6 = self.family_roll < style.v6_share;
        let (len4, len6) = if self.length_roll < style.specific_share {
            self.specific
        } else {
            self.any
        };
        let keep = if v6 { self.keep6 } else { self.keep4 };
        Literal {
            family: if v6 { Family::V6 } else { Family::V4 },
            bits: *self.root.get(roots) ^ (self.noise >> keep),
            len4,
            len6,
            short: self.short,
            bracketed: self.bracketed,
        }
    }
}

fn pool_draw() -> impl Strategy<Value = PoolDraw> {
    let specific4 = select(vec![16u8, 17, 20, 23, 24, 25, 28, 30, 31, 32]);
    let specific6 = select(vec![64u8, 65, 72, 96, 112, 120, 127, 128]);
    let len4 = prop_oneof![
        3 => select(vec![8u8, 12, 15, 16, 17, 20, 23, 24, 25, 28, 30, 31, 32]),
        1 => 0u8..=32,
    ];
    let len6 = prop_oneof![
        3 => select(vec![16u8, 32, 47, 48, 56, 63, 64, 65, 96, 112, 120, 127, 128]),
        1 => 0u8..=128,
    ];
    (
        (
            any::<Index>(),
            any::<u128>(),
            prop_oneof![3 => 8u32..=20, 1 => 8u32..=31],
            prop_oneof![3 => 16u32..=64, 1 => 16u32..=127],
        ),
        (0u8..100, 0u8..100, (specific4, specific6), (len4, len6)),
        (any::<bool>(), proptest::bool::weighted(0.2)),
    )
        .prop_map(
            |(
                (root, noise, keep4, keep6),
                (family_roll, length_roll, specific, any),
                (short, bracketed),
            )| PoolDraw {
                root,
                noise,
                keep4,
                keep6,
                family_roll,
                length_roll,
                specific,
                any,
                short,
                bracketed,
            },
        )
        .no_shrink()
}

fn addr_draw() -> impl Strategy<Value = AddrDraw> {
    prop_oneof![
        1 => Just(AddrDraw::Any),
        6 => any::<Index>().prop_map(AddrDraw::Pool),
        3 => (0usize..4).prop_map(AddrDraw::Set),
    ]
}

fn port_draw() -> impl Strategy<Value = PortDraw> {
    prop_oneof![
        1 => Just(PortDraw::Any),
        5 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| PortDraw::Range(a, b)),
        2 => (0usize..3).prop_map(PortDraw::Set),
    ]
}

fn endpoint_draw() -> impl Strategy<Value = EndpointDraw> {
    (addr_draw(), option::weighted(0.4, port_draw()))
        .prop_map(|(addr, port)| EndpointDraw { addr, port })
}

/// A rule the classifier takes: `allow`, `drop` or `reject` (any `with`), no ICMP type
/// or code (a reject in a tc egress block is written `drop`). Its parts
/// do not shrink: a failing set of hundreds of rules shrinks by dropping rules, and
/// shrinking every index and flag of each rule in turn would take tens of thousands
/// of steps (each one a compile and load).
fn run_rule() -> BoxedStrategy<RunRule> {
    let action = prop_oneof![
        3 => Just(Action::Allow),
        3 => Just(Action::Drop),
        2 => (0..REJECT_WITH.len() as u8).prop_map(Action::Reject),
    ];
    let number = prop_oneof![
        4 => Just(Some(6u8)),
        3 => Just(Some(17)),
        1 => Just(None),
        1 => Just(Some(1)),
        1 => Just(Some(58)),
        1 => Just(Some(47)),
        1 => any::<u8>().prop_map(Some),
    ];
    let proto = (number, 0u8..6).prop_map(|(number, spelling)| ProtoMatch { number, spelling });
    let family = prop_oneof![Just(Family::V4), Just(Family::V6)];
    let order = prop_oneof![3 => Just(0u32), 1 => any::<u32>()];
    (
        (
            action,
            option::weighted(0.8, proto),
            option::weighted(0.15, family),
        ),
        (
            option::weighted(0.7, endpoint_draw()),
            option::weighted(0.8, endpoint_draw()),
            proptest::bool::weighted(0.25),
        ),
        (
            option::weighted(0.25, any::<Index>().prop_map(FlagDraw::Pool)),
            any::<Index>(),
            proptest::bool::weighted(0.02),
            order,
        ),
    )
        .prop_map(
            |((action, proto, family), (src, dst, bare_dst), (flags, narrow, broad, order))| {
                RunRule {
                    action,
                    proto,
                    family,
                    src,
                    dst,
                    bare_dst,
                    flags,
                    icmp: None,
                    narrow,
                    broad,
                    order,
                }
            },
        )
        .no_shrink()
        .boxed()
}

/// A rule that ends a run: a `count` rule, or one testing an ICMP type (and code).
fn interrupter() -> BoxedStrategy<RunRule> {
    let icmp_type = prop_oneof![
        2 => select(vec![0u8, 3, 8, 11, 128, 129, 135]).prop_map(IcmpType::Number),
        1 => any::<u8>().prop_map(IcmpType::Number),
        2 => (0..ICMP_TYPE_NAMES.len()).prop_map(IcmpType::Name),
    ];
    prop_oneof![
        // Half of them without addresses (`count tcp`, `count ip6`, `count any`), so
        // that packets hit them.
        (run_rule(), any::<bool>()).prop_map(|(r, broad)| RunRule {
            action: Action::Count,
            broad,
            src: r.src.filter(|_| !broad),
            dst: r.dst.filter(|_| !broad),
            ..r
        }),
        (
            run_rule(),
            any::<bool>(),
            0u8..6,
            icmp_type,
            option::weighted(0.4, select(vec![0u8, 1, 3, 4]))
        )
            .prop_map(|(r, v6, spelling, ty, code)| RunRule {
                proto: Some(ProtoMatch {
                    number: Some(if v6 { 58 } else { 1 }),
                    spelling,
                }),
                flags: None,
                icmp: Some((ty, code)),
                ..r
            }),
    ]
    .boxed()
}

/// Rules that the classifier takes, then (mostly) one that it does not.
fn segment(len: std::ops::RangeInclusive<usize>) -> BoxedStrategy<Vec<RunRule>> {
    (vec(run_rule(), len), option::weighted(0.7, interrupter()))
        .prop_map(|(mut rules, end)| {
            rules.extend(end);
            rules
        })
        .boxed()
}

/// Every TCP flag test of one or two flags, as (mask, value).
fn small_flag_tests() -> Vec<(u8, u8)> {
    let mut tests = Vec::new();
    for a in 0..8 {
        for b in a..8 {
            let mask = (1u8 << a) | (1 << b);
            let mut value = 0u8;
            loop {
                tests.push((mask, value));
                // The next subset of `mask`.
                value = value.wrapping_sub(mask) & mask;
                if value == 0 {
                    break;
                }
            }
        }
    }
    tests
}

/// A run of 64 rules or more with 17 to 30 more rules put in at random places that
/// share one box and differ only in their TCP flag test: more than a leaf holds
/// ([`LEAF_MAX`](sockc_compiler::opt::classify::LEAF_MAX)) and no address, port or
/// protocol byte tells them apart, only a node on the TCP flags byte.
fn storm_segment() -> BoxedStrategy<Vec<RunRule>> {
    (
        vec(run_rule(), 64..=200),
        run_rule(),
        Just(small_flag_tests()).prop_shuffle().no_shrink(),
        vec(any::<Index>().no_shrink(), 17..=30),
        option::weighted(0.7, interrupter()),
    )
        .prop_map(|(mut rules, template, tests, places, end)| {
            for (&(mask, value), at) in tests.iter().zip(&places) {
                let r = RunRule {
                    proto: Some(ProtoMatch {
                        number: Some(6),
                        spelling: template.proto.map_or(0, |p| p.spelling),
                    }),
                    flags: Some(FlagDraw::Fixed(mask, value)),
                    ..template.clone()
                };
                rules.insert(at.index(rules.len() + 1), r);
            }
            rules.extend(end);
            rules
        })
        .boxed()
}

/// A run of 32 to 48 `count` rules, each on a destination port of its own (3000 +
/// 7i), so no two match one packet and `-O2` makes a counting classifier of them;
/// in one run of four a rule is repeated, two rules can match one packet, and the run
/// stays linear.
fn count_segment() -> BoxedStrategy<Vec<RunRule>> {
    (
        vec(run_rule(), MIN_RULES..=48),
        proptest::bool::weighted(0.25),
        any::<Index>(),
    )
        .prop_map(|(rules, repeat, at)| {
            let mut rules: Vec<RunRule> = rules
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let udp = r.proto.is_some_and(|p| p.number == Some(17));
                    RunRule {
                        action: Action::Count,
                        proto: Some(ProtoMatch {
                            number: Some(if udp { 17 } else { 6 }),
                            spelling: r.proto.map_or(0, |p| p.spelling),
                        }),
                        dst: Some(EndpointDraw {
                            addr: r.dst.map_or(AddrDraw::Any, |d| d.addr),
                            port: Some(PortDraw::Fixed(3000 + 7 * i as u16)),
                        }),
                        flags: None,
                        broad: false,
                        ..r
                    }
                })
                .collect();
            if repeat {
                let r = at.get(&rules).clone();
                rules.insert(at.index(rules.len() + 1), r);
            }
            rules
        })
        .boxed()
}

/// A hook block of a classifier rule set, its rules still drawn ([`RunRule`]).
#[derive(Clone, Debug)]
struct RunBlock {
    hook: Hook,
    iface: usize,
    default_drop: bool,
    default_first: bool,
    compact: bool,
    profile: Profile,
    rules: Vec<RunRule>,
}

/// Which addresses a block's rules test, and in which family.
#[derive(Clone, Copy, Debug)]
struct Profile {
    addrs: AddrProfile,
    family: Option<Family>,
}

/// `Mixed` rules spread over the four trees per family (which of the two addresses
/// are wide); the others put most entries in one tree, so trees grow large and deep.
#[derive(Clone, Copy, Debug)]
enum AddrProfile {
    Mixed,
    Source,
    Destination,
    Both,
}

impl Profile {
    fn apply(&self, r: &RunRule) -> RunRule {
        let mut r = r.clone();
        if r.icmp.is_some() {
            return r;
        }
        let pick = |e: Option<EndpointDraw>| -> Option<EndpointDraw> {
            match e {
                Some(e) if !matches!(e.addr, AddrDraw::Any) => Some(e),
                e => Some(EndpointDraw {
                    addr: AddrDraw::Pool(r.narrow),
                    port: e.and_then(|e| e.port),
                }),
            }
        };
        let drop = |e: Option<EndpointDraw>| -> Option<EndpointDraw> {
            e.and_then(|e| {
                e.port.map(|port| EndpointDraw {
                    addr: AddrDraw::Any,
                    port: Some(port),
                })
            })
        };
        (r.src, r.dst) = match self.addrs {
            AddrProfile::Mixed => (r.src, r.dst),
            AddrProfile::Source => (pick(r.src), drop(r.dst)),
            AddrProfile::Destination => (drop(r.src), pick(r.dst)),
            AddrProfile::Both => (pick(r.src), pick(r.dst)),
        };
        if self.family.is_some() {
            r.family = self.family;
        }
        r
    }
}

fn profile() -> impl Strategy<Value = Profile> {
    let addrs = prop_oneof![
        3 => Just(AddrProfile::Mixed),
        1 => Just(AddrProfile::Source),
        1 => Just(AddrProfile::Destination),
        2 => Just(AddrProfile::Both),
    ];
    let family = prop_oneof![
        2 => Just(None),
        1 => Just(Some(Family::V4)),
        1 => Just(Some(Family::V6)),
    ];
    (addrs, family).prop_map(|(addrs, family)| Profile { addrs, family })
}

/// A block with one long run (32 rules and more, so `-O2` classifies it) between
/// shorter segments, each segment usually ended by a rule the classifier does not take.
fn run_block() -> BoxedStrategy<RunBlock> {
    let hook = prop_oneof![Just(Hook::Xdp), Just(Hook::TcIngress), Just(Hook::TcEgress)];
    // Runs of more than `SMALL_RUN` entries get one trie per group; smaller ones one
    // trie per family.
    let main = prop_oneof![
        4 => segment(MIN_RULES..=80),
        3 => segment(80..=240),
        1 => storm_segment(),
        1 => segment(SMALL_RUN + 64..=SMALL_RUN + 600),
    ];
    (
        (
            hook,
            0..INTERFACES.len(),
            any::<bool>(),
            proptest::bool::weighted(0.2),
            proptest::bool::weighted(0.05),
            profile(),
        ),
        (
            vec(segment(1..=40), 0..=2),
            main,
            vec(segment(1..=60), 0..=2),
            option::weighted(0.35, count_segment()),
        ),
    )
        .prop_map(
            |(
                (hook, iface, default_drop, default_first, compact, profile),
                (before, main, after, counting),
            )| {
                RunBlock {
                    hook,
                    iface,
                    default_drop,
                    default_first,
                    compact,
                    profile,
                    rules: before
                        .into_iter()
                        .flatten()
                        .chain(main)
                        .chain(after.into_iter().flatten())
                        .chain(counting.into_iter().flatten())
                        .collect(),
                }
            },
        )
        .boxed()
}

/// Rule sets for the classifier: long runs of classifiable rules (see [`run_block`])
/// whose prefixes, port-range ends and flag tests come from small per-set pools, so
/// rules overlap, nest and repeat the way real rule sets do.
pub fn classifier_rule_set() -> impl Strategy<Value = RuleSet> {
    let flag_test = vec((0u8..8, any::<bool>()), 1..=3);
    // Blocks first: proptest shrinks a tuple's parts in order, and dropping rules is
    // what makes a failing case small.
    (
        prop_oneof![4 => vec(run_block(), 1..=1), 1 => vec(run_block(), 2..=2)],
        (
            vec(vec(any::<Index>().no_shrink(), 1..=10), 0..=3),
            vec(vec(any::<(Index, Index)>().no_shrink(), 1..=3), 0..=2),
        ),
        (vec(port_number(), 2..=8), vec(flag_test, 1..=6)),
        (
            vec(address_bits().no_shrink(), 1..=3),
            vec(pool_draw(), 4..=48),
            vec(literal().no_shrink(), 0..=3),
            (
                select(vec![0u8, 25, 50, 75, 100]),
                select(vec![50u8, 80, 95, 100]),
            )
                .prop_map(|(v6_share, specific_share)| PoolStyle {
                    v6_share,
                    specific_share,
                }),
        ),
        (proptest::bool::weighted(0.2), proptest::bool::weighted(0.2)),
    )
        .prop_map(
            |(
                blocks,
                (addr_sets, port_sets),
                (ports, flag_tests),
                (roots, related, unrelated, style),
                (sets_last, sets_multiline),
            )| {
                let mut prefixes: Vec<Literal> =
                    related.iter().map(|p| p.literal(&roots, style)).collect();
                prefixes.extend(unrelated);
                let pools = ClassifierPools {
                    prefixes,
                    ports,
                    flag_tests,
                };
                let addr_sets: Vec<Vec<Literal>> = addr_sets
                    .iter()
                    .map(|s| s.iter().map(|i| *i.get(&pools.prefixes)).collect())
                    .collect();
                let port_sets: Vec<Vec<(u16, u16)>> = port_sets
                    .iter()
                    .map(|s| {
                        s.iter()
                            .map(|(a, b)| {
                                let (a, b) = (*a.get(&pools.ports), *b.get(&pools.ports));
                                (a.min(b), a.max(b))
                            })
                            .collect()
                    })
                    .collect();
                let blocks = blocks
                    .into_iter()
                    .map(|b| Block {
                        hook: b.hook,
                        iface: b.iface,
                        default_drop: b.default_drop,
                        default_first: b.default_first,
                        compact: b.compact,
                        rules: b
                            .rules
                            .iter()
                            .map(|r| pools.rule(&b.profile.apply(r), &addr_sets, &port_sets))
                            .collect(),
                    })
                    .collect();
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
