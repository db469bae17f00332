//! Differential test: the compiled programs, run in the kernel, against the reference
//! evaluator (`sockc_testkit::eval`), on random rule sets and random packets.
//!
//! Proptest draws rule sets as structured values that print as sockc source, so the
//! parser, sema and lowering are all on the path and a failure shrinks to a small rule
//! file. For each set it draws packets biased toward the set's boundaries (prefix
//! edges, port-range ends, flag combinations around each rule's mask, ICMP type and
//! code ±1, the rules' protocols) and malformed variants (truncation at and around
//! every header boundary, VLAN and 802.1ad tags, IPv4 options, fragments, foreign
//! EtherTypes, a damaged version/IHL byte). Every packet runs once through every
//! program of the set with `BPF_PROG_TEST_RUN`, compiled at `-O2` and again at `-O0`
//! (the baseline lowering): the return code must be the
//! evaluator's, the evaluator's counter slots must gain exactly one packet and the
//! frame length in bytes, and no other slot may move. Any difference fails with the
//! rule text, the packet, both results and the seed.
//!
//! `kernel_agrees_with_the_evaluator` draws small sets (up to 12 rules a block), which
//! `-O2` lowers rule by rule. `classifier_agrees_with_the_evaluator` draws sets that
//! `-O2` turns into decision trees (`opt::classify`: runs of 32 or more `allow`/`drop`
//! rules without ICMP type or code): each block has one run of 32 to 240 such rules
//! between shorter segments, most segments ended by a `count` rule or an ICMP type
//! rule, so a block has several runs and steps. Rules take their prefixes from a
//! per-set pool of prefixes that share their top bits and nest (lengths on both sides
//! of the classifier's /16 and /64 "wide address" line), their port-range ends and
//! TCP flag tests from small pools, and use address sets (`from @aN`, `to @aN`, mixed
//! families) and port lists (`:@pN`); a rule without an address or family applies to
//! both families. A per-block profile sometimes puts most rules in one family and one
//! tree (large, deep trees), and some runs carry 17 to 30 rules that share one box and
//! differ only in their flag test, more than a leaf holds, so the run is classified
//! in parts (rule groups). The packets are drawn as above, against these pools. The
//! test also requires that `-O2` made a classifier (`Step::Classify`) of every set it
//! draws; `classifier_rule_sets_build_trees` checks without a kernel that the sets
//! reach IPv4 and IPv6 trees, several trees per family, rule groups, deep trees and
//! shared leaves, and packets decided inside and past a classifier.
//!
//! Knobs: `SOCKC_DIFF_CASES` (rule sets, default 200), `SOCKC_DIFF_PACKETS` (packets
//! per set, default 100), `SOCKC_DIFF_CLASSIFY_CASES` and `SOCKC_DIFF_CLASSIFY_PACKETS`
//! (the same for the classifier test, defaults 64 and 150) and `SOCKC_DIFF_SEED` (the
//! RNG seed of both tests; every run prints the one it used).
//! `SOCKC_DIFF_SEED=<n> cargo test --test differential` replays a run (with the same
//! packet counts); a long run is e.g. `SOCKC_DIFF_CASES=5000` or
//! `SOCKC_DIFF_CLASSIFY_CASES=2000 cargo test --release --test differential
//! classifier_agrees`. A failing case is also saved to
//! `tests/differential.proptest-regressions`, which every later run replays first:
//! commit it with the fix. The kernel tests need root (see `tests/common`);
//! `generated_rule_sets_compile_and_evaluate` and `classifier_rule_sets_build_trees`
//! run everywhere.

use std::{
    cell::{Cell, RefCell},
    collections::hash_map::RandomState,
    fmt,
    hash::BuildHasher,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Instant,
};

use proptest::{
    collection::vec,
    option,
    prelude::*,
    sample::{select, Index},
    strategy::{NewTree, ValueTree},
    test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner},
};
use sockc_compiler::{
    bpf::maps::hex,
    diag,
    hooks::{self, HookKind},
    ir::{classifier::Classifier, port_range_text, Module, Program, Step},
    metadata::Metadata,
    opt::{
        classify::{MAX_EXPANSION, MIN_RULES},
        OptLevel,
    },
    syntax::ast::Family as ClassifyFamily,
    Compiled, Options,
};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    eval::{evaluate, Decider, Evaluation, Facts, L4Fields},
    packet::{parse_packet, PacketSpec, L4},
};

mod common;

use common::kernel;

const DEFAULT_RULE_SETS: u32 = 200;
const DEFAULT_PACKETS_PER_SET: usize = 100;
const DEFAULT_CLASSIFY_SETS: u32 = 64;
const DEFAULT_CLASSIFY_PACKETS: usize = 150;
/// Packet recipes pick prefixes, ports, flag tests and protocols by an index in
/// `0..PICKS`, taken modulo the pool's length: enough to reach every value of a
/// classifier rule set's pools.
const PICKS: usize = 4096;
/// Where proptest saves failing cases: next to this file, with this extension.
const REGRESSIONS: FileFailurePersistence =
    FileFailurePersistence::WithSource("proptest-regressions");

// ---- rule sets as values ------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    fn all_ones(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    fn address(self, value: u128) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }
}

/// A canonical prefix (no host bits), the address as an integer of its family's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Prefix {
    family: Family,
    network: u128,
    len: u8,
}

impl Prefix {
    fn new(family: Family, address: u128, len: u8) -> Prefix {
        let len = len.min(family.bits());
        let mut p = Prefix {
            family,
            network: address & family.all_ones(),
            len,
        };
        p.network &= !p.host_mask();
        p
    }

    fn host_mask(self) -> u128 {
        if self.len >= self.family.bits() {
            0
        } else {
            self.family.all_ones() >> self.len
        }
    }

    fn last(self) -> u128 {
        self.network | self.host_mask()
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.family.address(self.network), self.len)
    }
}

/// A literal address or prefix in a rule or set. The address bits and a length for
/// each family are drawn up front, so normalising a rule can move the literal to the
/// family the rule needs without drawing again.
#[derive(Clone, Copy, Debug)]
struct Literal {
    family: Family,
    bits: u128,
    len4: u8,
    len6: u8,
    /// Print a host prefix (/32, /128) as a bare address.
    short: bool,
    /// Put an IPv6 literal in brackets even without a port.
    bracketed: bool,
}

impl Literal {
    fn prefix(&self) -> Prefix {
        match self.family {
            Family::V4 => Prefix::new(Family::V4, self.bits >> 96, self.len4),
            Family::V6 => Prefix::new(Family::V6, self.bits, self.len6),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.prefix();
        if self.short && p.len == p.family.bits() {
            write!(f, "{}", p.family.address(p.network))
        } else {
            write!(f, "{p}")
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Addr {
    Any,
    Literal(Literal),
    /// Index of an address set (`@aN`).
    Set(usize),
}

#[derive(Clone, Copy, Debug)]
enum Port {
    Any,
    /// Inclusive; a single port when both ends are equal.
    Range(u16, u16),
    /// Index of a port set (`@pN`).
    Set(usize),
}

#[derive(Clone, Copy, Debug)]
struct Endpoint {
    addr: Addr,
    port: Option<Port>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Addr::Any => f.write_str("*")?,
            Addr::Set(i) => write!(f, "@a{i}")?,
            // An IPv6 address takes a port only in brackets.
            Addr::Literal(l) if l.family == Family::V6 && (self.port.is_some() || l.bracketed) => {
                write!(f, "[{l}]")?
            }
            Addr::Literal(l) => write!(f, "{l}")?,
        }
        match self.port {
            None => Ok(()),
            Some(Port::Any) => f.write_str(":*"),
            Some(Port::Range(lo, hi)) => write!(f, ":{}", port_range_text(lo, hi)),
            Some(Port::Set(i)) => write!(f, ":@p{i}"),
        }
    }
}

/// `number: None` is `any`; `spelling` picks among `tcp`, `proto tcp` and `proto 6`.
#[derive(Clone, Copy, Debug)]
struct ProtoMatch {
    number: Option<u8>,
    spelling: u8,
}

fn protocol_name(n: u8) -> Option<&'static str> {
    match n {
        6 => Some("tcp"),
        17 => Some("udp"),
        1 => Some("icmp"),
        58 => Some("icmpv6"),
        _ => None,
    }
}

impl fmt::Display for ProtoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.number.and_then(protocol_name);
        match (self.number, name, self.spelling % 3) {
            (None, _, 0) => f.write_str("any"),
            (None, _, _) => f.write_str("proto any"),
            (Some(_), Some(name), 0) => f.write_str(name),
            (Some(_), Some(name), 1) => write!(f, "proto {name}"),
            (Some(n), _, _) => write!(f, "proto {n}"),
        }
    }
}

/// ICMP type names with their ICMPv4 and ICMPv6 numbers, as the language defines them.
use sockc_compiler::sema::ICMP_TYPES as ICMP_TYPE_NAMES;

#[derive(Clone, Copy, Debug)]
enum IcmpType {
    Number(u8),
    /// Index into [`ICMP_TYPE_NAMES`].
    Name(usize),
}

impl IcmpType {
    fn number(self, family: Family) -> u8 {
        match self {
            IcmpType::Number(n) => n,
            IcmpType::Name(i) => {
                let (_, v4, v6) = ICMP_TYPE_NAMES[i];
                match family {
                    Family::V4 => v4,
                    Family::V6 => v6,
                }
                .expect("normalize keeps only names of the rule's family")
            }
        }
    }
}

const TCP_FLAG_NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];

#[derive(Clone, Copy, Debug)]
enum Action {
    Allow,
    Drop,
    Count,
}

#[derive(Clone, Debug)]
struct Rule {
    action: Action,
    proto: Option<ProtoMatch>,
    family: Option<Family>,
    src: Option<Endpoint>,
    dst: Option<Endpoint>,
    /// Write the destination without `to`.
    bare_dst: bool,
    /// (bit index 0..8, set): `syn` or `!syn`.
    flags: Vec<(u8, bool)>,
    icmp_type: Option<IcmpType>,
    icmp_code: Option<u8>,
    /// Permutation of the match items (0: proto, family, from, to, flags, type, code).
    order: u32,
}

impl Rule {
    fn protocol(&self) -> Option<u8> {
        self.proto.and_then(|p| p.number)
    }

    fn icmp_family(&self) -> Option<Family> {
        match self.protocol() {
            Some(1) => Some(Family::V4),
            Some(58) => Some(Family::V6),
            _ => None,
        }
    }

    fn endpoints_mut(&mut self) -> impl Iterator<Item = &mut Endpoint> {
        self.src.iter_mut().chain(self.dst.iter_mut())
    }

    /// Makes the drawn rule one that sema accepts, keeping as much of it as it can:
    /// one family (a protocol's wins, then `ip4`/`ip6`, then the first literal), ports
    /// only where the protocol has them, flags only with TCP, ICMP fields only with
    /// ICMP, set references only to declared sets.
    fn normalize(mut self, addr_sets: usize, port_sets: usize) -> Rule {
        let literal_family = self
            .src
            .iter()
            .chain(self.dst.iter())
            .find_map(|e| match e.addr {
                Addr::Literal(l) => Some(l.family),
                _ => None,
            });
        let family = self.icmp_family().or(self.family).or(literal_family);
        if let Some(f) = family {
            self.family = self.family.map(|_| f);
        }
        let ports_allowed = matches!(self.protocol(), None | Some(6) | Some(17));
        for e in self.endpoints_mut() {
            match &mut e.addr {
                Addr::Literal(l) => l.family = family.expect("a literal fixes the family"),
                Addr::Set(i) if addr_sets == 0 => e.addr = Addr::Any,
                Addr::Set(i) => *i %= addr_sets,
                Addr::Any => {}
            }
            match &mut e.port {
                _ if !ports_allowed => e.port = None,
                Some(Port::Set(_)) if port_sets == 0 => e.port = Some(Port::Any),
                Some(Port::Set(i)) => *i %= port_sets,
                _ => {}
            }
        }
        if self.protocol() == Some(6) {
            // A flag both set and clear is an error: keep each bit's first mention.
            let mut seen = 0u8;
            self.flags.retain(|&(bit, _)| {
                let fresh = seen & (1 << bit) == 0;
                seen |= 1 << bit;
                fresh
            });
        } else {
            self.flags.clear();
        }
        match self.icmp_family() {
            None => (self.icmp_type, self.icmp_code) = (None, None),
            Some(f) => {
                if let Some(IcmpType::Name(i)) = self.icmp_type {
                    let i = i % ICMP_TYPE_NAMES.len();
                    let (_, v4, v6) = ICMP_TYPE_NAMES[i];
                    let here = if f == Family::V4 { v4 } else { v6 };
                    self.icmp_type = Some(match here {
                        Some(_) => IcmpType::Name(i),
                        None => IcmpType::Number(v4.or(v6).unwrap_or(0)),
                    });
                }
            }
        }
        // A bare endpoint is tried after every other match item, so one starting with a
        // letter (`ece::/16`) could read as a flag: those keep their `to`.
        let dst_text = self.dst.map(|d| d.to_string());
        self.bare_dst &=
            dst_text.is_some_and(|t| !t.starts_with(|c: char| c.is_ascii_alphabetic()));
        self
    }

    /// (mask, value) of the rule's TCP flag test.
    fn flag_test(&self) -> Option<(u8, u8)> {
        (!self.flags.is_empty()).then(|| {
            self.flags
                .iter()
                .fold((0, 0), |(mask, value), &(bit, set)| {
                    (mask | 1 << bit, value | if set { 1 << bit } else { 0 })
                })
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if let Some(p) = self.proto {
            items.push(p.to_string());
        }
        match self.family {
            Some(Family::V4) => items.push("ip4".into()),
            Some(Family::V6) => items.push("ip6".into()),
            None => {}
        }
        if let Some(e) = self.src {
            items.push(format!("from {e}"));
        }
        if let Some(e) = self.dst {
            items.push(if self.bare_dst {
                e.to_string()
            } else {
                format!("to {e}")
            });
        }
        for &(bit, set) in &self.flags {
            let bang = if set { "" } else { "!" };
            items.push(format!("{bang}{}", TCP_FLAG_NAMES[usize::from(bit)]));
        }
        match self.icmp_type {
            Some(IcmpType::Number(n)) => items.push(format!("type {n}")),
            Some(IcmpType::Name(i)) => items.push(format!("type {}", ICMP_TYPE_NAMES[i].0)),
            None => {}
        }
        if let Some(c) = self.icmp_code {
            items.push(format!("code {c}"));
        }
        permute(&mut items, self.order);
        f.write_str(match self.action {
            Action::Allow => "allow",
            Action::Drop => "drop",
            Action::Count => "count",
        })?;
        for item in items {
            write!(f, " {item}")?;
        }
        Ok(())
    }
}

/// Reorders `items` by `seed` read as a factorial-base number; seed 0 keeps the order,
/// so shrinking the seed leads back to the canonical order.
fn permute<T>(items: &mut [T], mut seed: u32) {
    for i in (1..items.len()).rev() {
        let radix = i as u32 + 1;
        items.swap(i, i - (seed % radix) as usize);
        seed /= radix;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    Xdp,
    TcIngress,
    TcEgress,
}

const INTERFACES: [&str; 4] = ["eth0", "eth1", "\"veth-a.100\"", "lo"];

#[derive(Clone, Debug)]
struct Block {
    hook: Hook,
    /// Index into [`INTERFACES`].
    iface: usize,
    default_drop: bool,
    /// Write `default` first rather than last.
    default_first: bool,
    /// One line, statements separated by `;`.
    compact: bool,
    rules: Vec<Rule>,
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = match self.hook {
            Hook::Xdp => "xdp",
            Hook::TcIngress => "tc ingress",
            Hook::TcEgress => "tc egress",
        };
        let default = if self.default_drop {
            "default drop"
        } else {
            "default allow"
        };
        let mut stmts: Vec<String> = self.rules.iter().map(Rule::to_string).collect();
        if self.default_first {
            stmts.insert(0, default.into());
        } else {
            stmts.push(default.into());
        }
        let iface = INTERFACES[self.iface];
        if self.compact {
            writeln!(f, "{head} on {iface} {{ {} }}", stmts.join("; "))
        } else {
            writeln!(f, "{head} on {iface} {{")?;
            for s in stmts {
                writeln!(f, "    {s}")?;
            }
            writeln!(f, "}}")
        }
    }
}

/// A whole rule file.
#[derive(Clone, Debug)]
struct RuleSet {
    /// `set aN = { ... }`: never empty; families may mix; elements may overlap.
    addr_sets: Vec<Vec<Literal>>,
    /// `set pN = { ... }`: never empty.
    port_sets: Vec<Vec<(u16, u16)>>,
    /// One or two blocks, for distinct (hook, interface).
    blocks: Vec<Block>,
    /// Declare the sets after the blocks (sema resolves names file-wide).
    sets_last: bool,
    /// One set element per line instead of a comma-separated line.
    sets_multiline: bool,
}

impl RuleSet {
    fn normalize(mut self) -> RuleSet {
        let mut used = Vec::new();
        for b in &mut self.blocks {
            while used.contains(&(b.hook, b.iface)) {
                b.iface = (b.iface + 1) % INTERFACES.len();
            }
            used.push((b.hook, b.iface));
        }
        let (addr_sets, port_sets) = (self.addr_sets.len(), self.port_sets.len());
        for b in &mut self.blocks {
            b.rules = std::mem::take(&mut b.rules)
                .into_iter()
                .map(|r| r.normalize(addr_sets, port_sets))
                .collect();
        }
        self
    }

    fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.blocks.iter().flat_map(|b| &b.rules)
    }

    fn has_xdp(&self) -> bool {
        self.blocks.iter().any(|b| b.hook == Hook::Xdp)
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sets = String::new();
        let elements = |items: Vec<String>| {
            if self.sets_multiline {
                format!("{{\n    {}\n}}", items.join("\n    "))
            } else {
                format!("{{ {} }}", items.join(", "))
            }
        };
        for (i, s) in self.addr_sets.iter().enumerate() {
            let items = s.iter().map(Literal::to_string).collect();
            sets.push_str(&format!("set a{i} = {}\n", elements(items)));
        }
        for (i, s) in self.port_sets.iter().enumerate() {
            let items = s.iter().map(|&(lo, hi)| port_range_text(lo, hi)).collect();
            sets.push_str(&format!("set p{i} = {}\n", elements(items)));
        }
        if !self.sets_last {
            f.write_str(&sets)?;
        }
        for b in &self.blocks {
            write!(f, "{b}")?;
        }
        if self.sets_last {
            f.write_str(&sets)?;
        }
        Ok(())
    }
}

// ---- rule set strategies ------------------------------------------------------------

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

fn address_bits() -> impl Strategy<Value = u128> {
    prop_oneof![
        2 => select(ADDRESS_BASES.to_vec()),
        // A base with its low bits replaced from some random position down.
        2 => (select(ADDRESS_BASES.to_vec()), any::<u128>(), 0u32..128)
            .prop_map(|(base, noise, keep)| base ^ (noise >> keep)),
        1 => any::<u128>(),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
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

fn port_number() -> impl Strategy<Value = u16> {
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
    ];
    (number, 0u8..6).prop_map(|(number, spelling)| ProtoMatch { number, spelling })
}

fn rule() -> impl Strategy<Value = Rule> {
    let action = prop_oneof![Just(Action::Allow), Just(Action::Drop), Just(Action::Count)];
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
        ),
    )
        .prop_map(
            |(
                (action, proto, family),
                (src, dst, bare_dst),
                (flags, icmp_type, icmp_code, order),
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
                    order,
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

fn rule_set() -> impl Strategy<Value = RuleSet> {
    let blocks = prop_oneof![4 => vec(block(), 1..=1), 1 => vec(block(), 2..=2)];
    (
        vec(vec(literal(), 1..=4), 0..=3),
        vec(vec(port_range(), 1..=4), 0..=2),
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

// ---- classifier rule sets ----------------------------------------------------------

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
            order: r.order,
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

/// A rule the classifier takes: `allow` or `drop`, no ICMP type or code. Its parts
/// do not shrink: a failing set of hundreds of rules shrinks by dropping rules, and
/// shrinking every index and flag of each rule in turn would take tens of thousands
/// of steps (each one a compile and load).
fn run_rule() -> BoxedStrategy<RunRule> {
    let action = prop_oneof![Just(Action::Allow), Just(Action::Drop)];
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
/// protocol split tells them apart, so the run as a whole does not build and `-O2`
/// classifies it in parts (rule groups).
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
    let main = prop_oneof![
        4 => segment(MIN_RULES..=80),
        3 => segment(80..=240),
        1 => storm_segment(),
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
        ),
    )
        .prop_map(
            |(
                (hook, iface, default_drop, default_first, compact, profile),
                (before, main, after),
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
                        .collect(),
                }
            },
        )
        .boxed()
}

/// Rule sets for the classifier: long runs of classifiable rules (see [`run_block`])
/// whose prefixes, port-range ends and flag tests come from small per-set pools, so
/// rules overlap, nest and repeat the way real rule sets do.
fn classifier_rule_set() -> impl Strategy<Value = RuleSet> {
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

// ---- packets ------------------------------------------------------------------------

/// The values a rule set tests, which packets are drawn around.
#[derive(Debug, Default)]
struct Pools {
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
    fn of(set: &RuleSet) -> Pools {
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
enum Patch {
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
struct PacketRecipe {
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
    payload: Vec<u8>,
    truncation: Option<Truncation>,
    patch: Option<Patch>,
}

/// A packet ready to run.
struct Packet {
    spec: PacketSpec,
    patch: Option<Patch>,
    frame: Vec<u8>,
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
fn header_boundaries(spec: &PacketSpec) -> [usize; 12] {
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
        l4 + 4,
        l4 + 8,
        l4 + 14,
        l4 + 20,
    ]
}

/// `BPF_PROG_TEST_RUN` on SCHED_CLS refuses (EINVAL) an IPv4 or IPv6 EtherType frame
/// shorter than the fixed IP header.
fn tc_refuses(frame: &[u8]) -> bool {
    match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0800 => frame.len() < 34,
        0x86dd => frame.len() < 54,
        _ => false,
    }
}

impl PacketRecipe {
    fn resolve(&self, pools: &Pools, tc_only: bool) -> Packet {
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
        let mut spec = PacketSpec {
            src: address(self.src),
            dst: address(self.dst),
            l4,
            vlan,
            // IPv6 has no options or fragment fields (the spec would not print).
            ipv4_options: if v6 { 0 } else { self.ipv4_options },
            fragment_offset: if v6 { 0 } else { self.fragment_offset },
            more_fragments: !v6 && self.more_fragments,
            payload: self.payload.clone(),
            truncate_to: None,
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
    let truncation = prop_oneof![
        4 => (0usize..12, -1i8..=1).prop_map(|(index, delta)| Truncation::Boundary { index, delta }),
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
            option::weighted(0.2, 0u16..=4095),
            prop_oneof![4 => Just(0u8), 1 => 0u8..=10],
            fragment_offset,
            proptest::bool::weighted(0.15),
        ),
        (
            payload,
            option::weighted(0.25, truncation),
            option::weighted(0.15, patch),
        ),
    )
        .prop_map(
            |(
                (v6, src, dst, l4),
                (sport, dport, flags, icmp),
                (vlan, ipv4_options, fragment_offset, more_fragments),
                (payload, truncation, patch),
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
                payload,
                truncation,
                patch,
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

fn case_strategy(packets: usize) -> impl Strategy<Value = (RuleSet, Vec<PacketRecipe>)> {
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
fn classify_case_strategy(packets: usize) -> impl Strategy<Value = (RuleSet, Vec<PacketRecipe>)> {
    (
        Packets {
            element: packet_recipe(),
            len: packets,
        },
        classifier_rule_set(),
    )
        .prop_map(|(recipes, set)| (set, recipes))
}

// ---- running and comparing ----------------------------------------------------------

/// What a run went through, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    rule_sets: u64,
    rules: u64,
    /// (rule set, packet) pairs.
    pairs: u64,
    /// Program runs compared (a pair runs once per program of the set).
    runs: u64,
    /// TC runs left out because the kernel refuses the frame (see [`tc_refuses`]).
    tc_skipped: u64,
    decided_by_rule: u64,
    count_hits: u64,
    not_ip: u64,
    no_l4_fields: u64,
    truncated: u64,
    patched: u64,
    /// Set elements covered by others (a warning; the element is dropped).
    set_overlaps: u64,
    /// Runs at `-O2` decided by a rule of a classifier step.
    by_classifier: u64,
    /// Runs at `-O2` that went through a classifier without a match there.
    past_classifier: u64,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = self.runs.max(1) as f64;
        write!(
            f,
            "{} rule sets ({} rules), {} (rule set, packet) pairs, {} program runs; \
             {} TC runs skipped (IP EtherType frame shorter than the IP header); \
             decided by a rule {:.0}%, count rules hit {} times, not IP {:.0}%, \
             no L4 fields {:.0}%, {} truncated and {} patched packets",
            self.rule_sets,
            self.rules,
            self.pairs,
            self.runs,
            self.tc_skipped,
            100.0 * self.decided_by_rule as f64 / runs,
            self.count_hits,
            100.0 * self.not_ip as f64 / runs,
            100.0 * self.no_l4_fields as f64 / runs,
            self.truncated,
            self.patched,
        )?;
        if self.by_classifier + self.past_classifier > 0 {
            write!(
                f,
                "; at -O2 {} runs decided inside a classifier, {} after passing one",
                self.by_classifier, self.past_classifier
            )?;
        }
        Ok(())
    }
}

impl Tally {
    /// Where the `-O2` program decided `e`, relative to its classifiers.
    fn add_classifier_decision(&mut self, prog: &Program, e: &Evaluation) {
        let decider = match e.decider {
            Decider::Rule(i) => i,
            Decider::Default => usize::MAX,
        };
        let ranges: Vec<_> = classifiers(prog).map(|c| c.rules.clone()).collect();
        if ranges.iter().any(|r| r.contains(&decider)) {
            self.by_classifier += 1;
        } else if ranges.iter().any(|r| r.end <= decider) {
            self.past_classifier += 1;
        }
    }

    fn add_evaluation(&mut self, e: &Evaluation) {
        self.runs += 1;
        self.decided_by_rule += u64::from(matches!(e.decider, Decider::Rule(_)));
        self.count_hits += e.counted.len() as u64;
        match &e.headers.ip {
            None => self.not_ip += 1,
            Some(ip) => self.no_l4_fields += u64::from(ip.l4 == L4Fields::Absent),
        }
    }
}

/// The classifier steps of a program.
fn classifiers(prog: &Program) -> impl Iterator<Item = &Classifier> {
    prog.steps.iter().filter_map(|s| match s {
        Step::Classify(c) => Some(c),
        Step::Linear { .. } => None,
    })
}

/// What `-O2` made of the classifier rule sets, printed at the end.
#[derive(Debug, Default)]
struct Shapes {
    modules: u64,
    rules: u64,
    classifiers: u64,
    classified_rules: u64,
    /// Trees by family (IPv4, IPv6).
    trees: [u64; 2],
    /// (classifier, family) pairs with more than one tree.
    several_trees: u64,
    /// Classifiers right after another one: a run split into rule groups.
    rule_groups: u64,
    /// Trees with a leaf of more than one entry.
    shared_leaves: u64,
    max_trees: usize,
    max_depth: usize,
    max_leaf: usize,
    max_entries: usize,
}

impl Shapes {
    /// Adds a module's classifiers; returns how many it has.
    fn add(&mut self, module: &Module) -> usize {
        self.modules += 1;
        let mut count = 0usize;
        for prog in module.programs.values() {
            self.rules += prog.rules.len() as u64;
            let mut previous_end = None;
            for step in &prog.steps {
                let Step::Classify(c) = step else {
                    previous_end = None;
                    continue;
                };
                count += 1;
                self.classified_rules += c.rules.len() as u64;
                self.rule_groups += u64::from(previous_end == Some(c.rules.start));
                previous_end = Some(c.rules.end);
                for family in [ClassifyFamily::V4, ClassifyFamily::V6] {
                    let n = c.trees.iter().filter(|t| t.family == family).count();
                    self.trees[usize::from(family == ClassifyFamily::V6)] += n as u64;
                    self.several_trees += u64::from(n > 1);
                    self.max_trees = self.max_trees.max(n);
                }
                for t in &c.trees {
                    self.shared_leaves += u64::from(t.max_leaf > 1);
                    self.max_depth = self.max_depth.max(t.depth);
                    self.max_leaf = self.max_leaf.max(t.max_leaf);
                    self.max_entries = self.max_entries.max(t.entries.len());
                }
            }
        }
        self.classifiers += count as u64;
        count
    }
}

impl fmt::Display for Shapes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} classifiers over {} of {} rules in {} modules; {} IPv4 and {} IPv6 trees \
             (up to {} per family, {} families with several, up to {} entries), {} rule \
             groups, depth up to {}, {} trees with shared leaves (up to {} entries)",
            self.classifiers,
            self.classified_rules,
            self.rules,
            self.modules,
            self.trees[0],
            self.trees[1],
            self.max_trees,
            self.several_trees,
            self.max_entries,
            self.rule_groups,
            self.max_depth,
            self.shared_leaves,
            self.max_leaf,
        )
    }
}

/// Compiles a generated file; also returns how many set-overlap warnings it got.
fn compile_rule_set(src: &str, opt: OptLevel) -> Result<(Compiled, usize), String> {
    let opts = Options {
        opt,
        ..Options::default()
    };
    let (compiled, diags) = sockc_compiler::compile(src, &opts);
    let overlaps = diags
        .iter()
        .filter(|d| d.code == "sockc::set-overlap")
        .count();
    compiled.map(|c| (c, overlaps)).ok_or_else(|| {
        format!(
            "generator bug: the rule set does not compile\n{}\n{}",
            numbered(src),
            diag::render(&diags, "generated.sk", src, false)
        )
    })
}

fn numbered(src: &str) -> String {
    src.lines()
        .enumerate()
        .map(|(i, l)| format!("{:>3} | {l}\n", i + 1))
        .collect()
}

/// Names a counter slot for messages: `slot 3 (xdp_eth0 line 4 `allow tcp`)`.
fn slot_name(meta: &Metadata, slot: usize) -> String {
    meta.programs
        .iter()
        .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
        .find(|(_, r)| r.counter as usize == slot)
        .map(|(p, r)| format!("slot {slot} ({} line {} `{}`)", p.symbol, r.line, r.text))
        .unwrap_or_else(|| format!("slot {slot}"))
}

/// The evaluator's answer, for messages.
fn describe_evaluation(prog: &Program, e: &Evaluation) -> String {
    let counted: Vec<usize> = e.counted.iter().map(|&i| prog.rules[i].line).collect();
    format!(
        "return code {:?}, decided by {:?} at line {} ({:?}), count rules passed at lines \
         {counted:?}, counter slots {:?}; headers {:?}",
        e.return_code(prog),
        e.decider,
        e.line(prog),
        e.outcome,
        e.counter_slots(prog),
        e.headers
    )
}

/// Runs every packet of a case through every program of the loaded set and compares
/// with the evaluator. `Err` names the first disagreement.
fn check_in_kernel(
    set: &RuleSet,
    compiled: &Compiled,
    recipes: &[PacketRecipe],
    tally: &RefCell<Tally>,
    level: OptLevel,
) -> Result<(), String> {
    let src = set.to_string();
    let elf = compiled
        .to_elf()
        .map_err(|e| format!("to_elf failed ({}): {e}\n{}", level.name(), numbered(&src)))?;
    let obj = LoadedObject::load(&elf).map_err(|e| {
        format!(
            "the kernel refused the object ({}): {e}\n{}",
            level.name(),
            numbered(&src)
        )
    })?;
    let module: &Module = &compiled.module;
    let pools = Pools::of(set);
    let tc_only = !set.has_xdp();
    let mut tally = tally.borrow_mut();
    if level == OptLevel::default() {
        tally.rule_sets += 1;
        tally.rules += set.rules().count() as u64;
    }
    let mut before = obj.counters().map_err(|e| e.to_string())?;
    for recipe in recipes {
        let packet = recipe.resolve(&pools, tc_only);
        let frame = &packet.frame;
        tally.pairs += 1;
        tally.truncated += u64::from(packet.spec.truncate_to.is_some());
        tally.patched += u64::from(packet.patch.is_some());
        for prog in module.programs.values() {
            if prog.hook != HookKind::Xdp && tc_refuses(frame) {
                tally.tc_skipped += 1;
                continue;
            }
            let want = evaluate(module, prog, frame, &Facts::default());
            tally.add_evaluation(&want);
            if level == OptLevel::O2 {
                tally.add_classifier_decision(prog, &want);
            }
            let got = obj
                .test_run(&prog.symbol, frame, 1)
                .map_err(|e| format!("test_run on `{packet}` ({}): {e}", hex(frame)))?;
            let after = obj.counters().map_err(|e| e.to_string())?;
            let want_deltas = want.counter_deltas(prog, frame.len());
            let mut wrong = Vec::new();
            if want.return_code(prog) != Some(got.retval as i32) {
                wrong.push(format!("return code {}", got.retval));
            }
            let mut deltas = Vec::new();
            for (slot, (&(p1, b1), &(p0, b0))) in after.iter().zip(&before).enumerate() {
                let delta = (p1 - p0, b1 - b0);
                if delta != (0, 0) {
                    deltas.push(format!(
                        "{}: +{} packets +{} bytes",
                        slot_name(&compiled.metadata, slot),
                        delta.0,
                        delta.1
                    ));
                }
                let expected = want_deltas.get(&(slot as u32)).copied().unwrap_or((0, 0));
                if delta != expected {
                    wrong.push(format!(
                        "{} moved {delta:?}",
                        slot_name(&compiled.metadata, slot)
                    ));
                }
            }
            before = after;
            if !wrong.is_empty() {
                let steps: String = classifiers(prog).map(|c| format!("{c}\n")).collect();
                return Err(format!(
                    "kernel and evaluator disagree in `{}` ({}, {}): {}\n\
                     rules:\n{}\
                     {steps}\
                     packet: {packet}\n\
                     frame ({} bytes): {}\n\
                     kernel:    return code {}, counters moved: [{}]\n\
                     evaluator: {}",
                    prog.symbol,
                    hooks::spec(prog.hook).name,
                    level.name(),
                    wrong.join("; "),
                    numbered(&src),
                    frame.len(),
                    hex(frame),
                    got.retval,
                    deltas.join(", "),
                    describe_evaluation(prog, &want),
                ));
            }
        }
    }
    Ok(())
}

/// The checks that need no kernel: the set compiles, every packet builds a frame the
/// kernel accepts and prints as text that parses back, the evaluator answers.
fn check_without_kernel(
    set: &RuleSet,
    recipes: &[PacketRecipe],
    tally: &RefCell<Tally>,
    sources: &RefCell<String>,
) -> Result<(), String> {
    let src = set.to_string();
    let (compiled, overlaps) = compile_rule_set(&src, OptLevel::O2)?;
    let pools = Pools::of(set);
    let mut tally = tally.borrow_mut();
    tally.set_overlaps += overlaps as u64;
    tally.rule_sets += 1;
    tally.rules += set.rules().count() as u64;
    sources.borrow_mut().push_str(&src);
    for recipe in recipes {
        let packet = recipe.resolve(&pools, !set.has_xdp());
        tally.pairs += 1;
        tally.truncated += u64::from(packet.spec.truncate_to.is_some());
        tally.patched += u64::from(packet.patch.is_some());
        if packet.frame.len() < 14 {
            return Err(format!("`{packet}`: frame of {} bytes", packet.frame.len()));
        }
        let text = packet.spec.to_string();
        if parse_packet(&text).as_ref() != Ok(&packet.spec) {
            return Err(format!("`{text}` does not parse back to its spec"));
        }
        for prog in compiled.module.programs.values() {
            if prog.hook != HookKind::Xdp && tc_refuses(&packet.frame) {
                tally.tc_skipped += 1;
                continue;
            }
            let e = evaluate(&compiled.module, prog, &packet.frame, &Facts::default());
            if e.return_code(prog).is_none() {
                return Err(format!("`{packet}`: no return code for {:?}", e.outcome));
            }
            tally.add_evaluation(&e);
            tally.add_classifier_decision(prog, &e);
        }
    }
    Ok(())
}

// ---- the tests ------------------------------------------------------------------------

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// Random rule sets × random packets: the kernel's verdicts and counters equal the
/// evaluator's on every pair.
#[test]
fn kernel_agrees_with_the_evaluator() {
    if !kernel() {
        return;
    }
    let rule_sets: u32 = env_number("SOCKC_DIFF_CASES").unwrap_or(DEFAULT_RULE_SETS);
    let packets: usize = env_number("SOCKC_DIFF_PACKETS").unwrap_or(DEFAULT_PACKETS_PER_SET);
    let seed: u64 = env_number("SOCKC_DIFF_SEED")
        .unwrap_or_else(|| RandomState::new().hash_one(Instant::now()));
    let replay = format!(
        "SOCKC_DIFF_SEED={seed} SOCKC_DIFF_CASES={rule_sets} SOCKC_DIFF_PACKETS={packets} \
         cargo test --test differential"
    );
    println!(
        "differential: seed {seed}, {rule_sets} rule sets x {packets} packets (replay: {replay})"
    );
    let config = Config {
        cases: rule_sets,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(REGRESSIONS)),
        source_file: Some(file!()),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let start = Instant::now();
    let result = runner.run(&case_strategy(packets), |(set, recipes)| {
        [OptLevel::O2, OptLevel::O0]
            .into_iter()
            .try_for_each(|level| {
                let (compiled, _) = compile_rule_set(&set.to_string(), level)?;
                check_in_kernel(&set, &compiled, &recipes, &tally, level)
            })
            .map_err(TestCaseError::fail)
    });
    let elapsed = start.elapsed();
    match result {
        Ok(()) => println!(
            "differential: {} in {:.1} s",
            tally.borrow(),
            elapsed.as_secs_f64()
        ),
        // `why` is the shrunk case's message: rules, packet and both answers.
        Err(TestError::Fail(why, _)) => panic!(
            "{why}\n\nseed {seed}; replay: {replay}\n\
             (the case is also saved in tests/differential.proptest-regressions)"
        ),
        Err(TestError::Abort(why)) => panic!("differential run aborted: {why} (seed {seed})"),
    }
}

/// Rule sets with long runs of classifiable rules ([`classifier_rule_set`]), which
/// `-O2` decides by decision trees: the kernel's verdicts and counters equal the
/// evaluator's on every pair, at `-O2` and `-O0`, and `-O2` made at least one
/// classifier of every set (a smaller set without one, met while shrinking, counts
/// as passing).
#[test]
fn classifier_agrees_with_the_evaluator() {
    if !kernel() {
        return;
    }
    let rule_sets: u32 = env_number("SOCKC_DIFF_CLASSIFY_CASES").unwrap_or(DEFAULT_CLASSIFY_SETS);
    let packets: usize =
        env_number("SOCKC_DIFF_CLASSIFY_PACKETS").unwrap_or(DEFAULT_CLASSIFY_PACKETS);
    let seed: u64 = env_number("SOCKC_DIFF_SEED")
        .unwrap_or_else(|| RandomState::new().hash_one(Instant::now()));
    let replay = format!(
        "SOCKC_DIFF_SEED={seed} SOCKC_DIFF_CLASSIFY_CASES={rule_sets} \
         SOCKC_DIFF_CLASSIFY_PACKETS={packets} cargo test --test differential classifier_agrees"
    );
    println!(
        "classifier differential: seed {seed}, {rule_sets} rule sets x {packets} packets \
         (replay: {replay})"
    );
    let config = Config {
        cases: rule_sets,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(REGRESSIONS)),
        source_file: Some(file!()),
        // Each step compiles and loads up to twice; a 300-rule set takes thousands.
        max_shrink_iters: 10_000,
        max_shrink_time: 20 * 60 * 1000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let shapes = RefCell::new(Shapes::default());
    // Set by the first failure: from then on proptest is shrinking.
    let shrinking = Cell::new(false);
    let start = Instant::now();
    let result = runner.run(&classify_case_strategy(packets), |(set, recipes)| {
        let src = set.to_string();
        let check = || -> Result<bool, String> {
            let (o2, _) = compile_rule_set(&src, OptLevel::O2)?;
            let classified: usize = o2
                .module
                .programs
                .values()
                .map(|p| classifiers(p).count())
                .sum();
            if shrinking.get() && classified == 0 {
                // Smaller than what this test is about (the other test covers it).
                return Ok(false);
            }
            if !shrinking.get() {
                shapes.borrow_mut().add(&o2.module);
            }
            if classified == 0 {
                return Err(format!(
                    "generator bug: -O2 made no classifier of this rule set\n{}",
                    numbered(&src)
                ));
            }
            check_in_kernel(&set, &o2, &recipes, &tally, OptLevel::O2)?;
            let (o0, _) = compile_rule_set(&src, OptLevel::O0)?;
            check_in_kernel(&set, &o0, &recipes, &tally, OptLevel::O0)?;
            Ok(true)
        };
        match check() {
            Ok(true) => Ok(()),
            Ok(false) => Err(TestCaseError::reject("no classifier")),
            Err(why) => {
                shrinking.set(true);
                Err(TestCaseError::fail(why))
            }
        }
    });
    let elapsed = start.elapsed();
    match result {
        Ok(()) => println!(
            "classifier differential: {}\n{}\nin {:.1} s",
            shapes.borrow(),
            tally.borrow(),
            elapsed.as_secs_f64()
        ),
        Err(TestError::Fail(why, _)) => panic!(
            "{why}\n\nseed {seed}; replay: {replay}\n\
             (the case is also saved in tests/differential.proptest-regressions)"
        ),
        Err(TestError::Abort(why)) => {
            panic!("classifier differential run aborted: {why} (seed {seed})")
        }
    }
}

/// The classifier rule sets without a kernel: every set compiles to at least one
/// classifier, every packet is a valid frame, and the sets reach what they are for
/// (IPv4 and IPv6 trees, several trees per family, rule groups, deep trees, leaves
/// of several entries, address sets and port lists, runs ended by `count` and ICMP
/// rules, packets decided inside a classifier and past one).
#[test]
fn classifier_rule_sets_build_trees() {
    let config = Config {
        cases: 40,
        rng_seed: RngSeed::Fixed(1),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let shapes = RefCell::new(Shapes::default());
    let sources = RefCell::new(String::new());
    let result = runner.run(&classify_case_strategy(40), |(set, recipes)| {
        let src = set.to_string();
        let (o2, _) = compile_rule_set(&src, OptLevel::O2).map_err(TestCaseError::fail)?;
        if shapes.borrow_mut().add(&o2.module) == 0 {
            return Err(TestCaseError::fail(format!(
                "-O2 made no classifier of\n{}",
                numbered(&src)
            )));
        }
        check_without_kernel(&set, &recipes, &tally, &sources).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        match e {
            TestError::Fail(why, (set, _)) => panic!("{why}\nminimal rule set:\n{set}"),
            TestError::Abort(why) => panic!("aborted: {why}"),
        }
    }
    let (tally, shapes) = (tally.into_inner(), shapes.into_inner());
    println!("classifier generators: {shapes}\n{tally}");
    let sources = sources.into_inner();
    for form in [
        "@a", ":@p", "count ", " type ", " syn", " !", " ip4", " ip6", "-",
    ] {
        assert!(
            sources.contains(form),
            "no classifier rule set contains `{form}`"
        );
    }
    assert!(shapes.trees[0] > 0 && shapes.trees[1] > 0, "{shapes}");
    assert!(shapes.several_trees * 4 > shapes.classifiers, "{shapes}");
    assert!(shapes.rule_groups > 0, "no rule groups: {shapes}");
    assert!(shapes.max_depth >= 6, "trees too shallow: {shapes}");
    assert!(shapes.shared_leaves * 2 > shapes.classifiers, "{shapes}");
    assert!(
        tally.by_classifier * 5 > tally.runs,
        "too few packets decided by a classifier: {tally}"
    );
    assert!(
        tally.past_classifier * 5 > tally.runs,
        "too few packets past a classifier: {tally}"
    );
}

/// The generators and the evaluator alone (no kernel, so this runs everywhere): every
/// generated set compiles, every packet is a valid frame, and the generators reach
/// what they are meant to (each syntax form, rule and default decisions, non-IP
/// frames, missing L4 fields).
#[test]
fn generated_rule_sets_compile_and_evaluate() {
    let config = Config {
        cases: 150,
        rng_seed: RngSeed::Fixed(1),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let sources = RefCell::new(String::new());
    let result = runner.run(&case_strategy(40), |(set, recipes)| {
        check_without_kernel(&set, &recipes, &tally, &sources).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        match e {
            TestError::Fail(why, (set, _)) => panic!("{why}\nminimal rule set:\n{set}"),
            TestError::Abort(why) => panic!("aborted: {why}"),
        }
    }
    let tally = tally.into_inner();
    println!("generators: {tally}");
    let sources = sources.into_inner();
    for form in [
        "xdp on ",
        "tc ingress on ",
        "tc egress on ",
        "default allow",
        "default drop",
        "allow ",
        "drop ",
        "count ",
        " tcp",
        " udp",
        " icmp ",
        " icmpv6",
        " any",
        "proto 47",
        "proto 6 ",
        "proto tcp",
        " ip4",
        " ip6",
        "from ",
        "to ",
        "@a",
        ":@p",
        "]:",
        ":*",
        "/0",
        "/32",
        "/128",
        " !",
        " syn",
        " type ",
        " type echo",
        " code ",
        "set a",
        "set p",
        ";",
    ] {
        assert!(
            sources.contains(form),
            "no generated rule set contains `{form}`"
        );
    }
    let runs = tally.runs;
    assert!(
        tally.decided_by_rule * 5 > runs,
        "rules decide too rarely: {tally}"
    );
    assert!(
        (runs - tally.decided_by_rule) * 10 > runs,
        "defaults decide too rarely: {tally}"
    );
    assert!(
        tally.count_hits * 10 > runs,
        "count rules hit too rarely: {tally}"
    );
    assert!(tally.not_ip * 50 > runs, "too few non-IP frames: {tally}");
    assert!(
        tally.no_l4_fields * 20 > runs,
        "too few frames without L4 fields: {tally}"
    );
    assert!(
        tally.truncated * 10 > tally.pairs,
        "too few truncated frames: {tally}"
    );
    assert!(
        tally.set_overlaps > 10,
        "too few overlapping set elements: {tally:?}"
    );
}
