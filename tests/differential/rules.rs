//! Rule sets as values: a drawn rule file (`RuleSet`: address and port sets, hook
//! blocks, rules) that normalizes to what sema accepts and prints as sockc source.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use sockc_compiler::ir::port_range_text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
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

    pub fn all_ones(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    pub fn address(self, value: u128) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }
}

/// A canonical prefix (no host bits), the address as an integer of its family's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    pub family: Family,
    pub network: u128,
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

    pub fn host_mask(self) -> u128 {
        if self.len >= self.family.bits() {
            0
        } else {
            self.family.all_ones() >> self.len
        }
    }

    pub fn last(self) -> u128 {
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
pub struct Literal {
    pub family: Family,
    pub bits: u128,
    pub len4: u8,
    pub len6: u8,
    /// Print a host prefix (/32, /128) as a bare address.
    pub short: bool,
    /// Put an IPv6 literal in brackets even without a port.
    pub bracketed: bool,
}

impl Literal {
    pub fn prefix(&self) -> Prefix {
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
pub enum Addr {
    Any,
    Literal(Literal),
    /// Index of an address set (`@aN`).
    Set(usize),
}

#[derive(Clone, Copy, Debug)]
pub enum Port {
    Any,
    /// Inclusive; a single port when both ends are equal.
    Range(u16, u16),
    /// Index of a port set (`@pN`).
    Set(usize),
}

#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub addr: Addr,
    pub port: Option<Port>,
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
pub struct ProtoMatch {
    pub number: Option<u8>,
    pub spelling: u8,
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

impl ProtoMatch {
    /// Written as a number (`proto 1`), which the rule's family reads: `ip6 proto 1`
    /// is an IPv6 packet whose next header is 1, where `icmp` would be IPv4's.
    pub fn by_number(self) -> bool {
        self.number
            .is_some_and(|n| protocol_name(n).is_none() || self.spelling % 3 == 2)
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
pub enum IcmpType {
    Number(u8),
    /// Index into [`ICMP_TYPE_NAMES`].
    Name(usize),
}

impl IcmpType {
    pub fn number(self, family: Family) -> u8 {
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

/// The VLAN ids rules and frames draw most (the rest uniformly), so that a `vlan N`
/// rule meets frames of its tag.
pub const VLAN_IDS: [u16; 6] = [0, 1, 10, 100, 4094, 4095];

/// An `ether type` match: the EtherType and how it is written (`spelling`: its name
/// where it has one, hexadecimal, decimal; `arp` alone for ARP one time in four).
#[derive(Clone, Copy, Debug)]
pub struct EtherMatch {
    pub value: u16,
    pub spelling: u8,
}

/// The EtherTypes of IPv4 and IPv6, the two an IP match keeps an `ether type` to.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherTypes below this are 802.3 lengths (sema refuses them).
const ETHERTYPE_MIN: u16 = 0x0600;

/// Whether `t` is the EtherType of IPv4 or IPv6.
fn is_ip_ethertype(t: u16) -> bool {
    matches!(t, ETHERTYPE_IPV4 | ETHERTYPE_IPV6)
}

impl fmt::Display for EtherMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = sockc_compiler::syntax::ast::ether_type_text(self.value);
        let named = !name.starts_with("0x");
        match self.spelling % 4 {
            3 if self.value == 0x0806 => f.write_str("arp"),
            0 if named => write!(f, "ether type {name}"),
            1 | 3 => write!(f, "ether type {:#06x}", self.value),
            _ => write!(f, "ether type {}", self.value),
        }
    }
}

const TCP_FLAG_NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Allow,
    Drop,
    Count,
    /// `reject` with the `with` clause [`REJECT_WITH`] names at this index (written
    /// `drop` in a tc egress block, which has no reject).
    Reject(u8),
}

/// The `with` clauses a generated `reject` takes (not `tcp-reset`, which needs a
/// TCP-only rule): every ICMP kind, and none.
pub const REJECT_WITH: [&str; 5] = [
    "",
    " with icmp admin-prohibited",
    " with icmp host-unreachable",
    " with icmp net-unreachable",
    " with icmp port-unreachable",
];

#[derive(Clone, Debug)]
pub struct Rule {
    pub action: Action,
    pub proto: Option<ProtoMatch>,
    pub family: Option<Family>,
    pub src: Option<Endpoint>,
    pub dst: Option<Endpoint>,
    /// Write the destination without `to`.
    pub bare_dst: bool,
    /// (bit index 0..8, set): `syn` or `!syn`.
    pub flags: Vec<(u8, bool)>,
    pub icmp_type: Option<IcmpType>,
    pub icmp_code: Option<u8>,
    /// `frag`: only fragments.
    pub frag: bool,
    /// `ttl ...` or `hoplimit ...` (by the rule's family: see [`HopTest`]).
    pub hop: Option<HopTest>,
    /// `dscp ...` or `ecn ...` (either family: see [`TosTest`]).
    pub tos: Option<TosTest>,
    /// `length ...` (either family, or the one its values keep it to: see [`LenTest`]).
    pub len: Option<LenTest>,
    /// `ether type ...` (or `arp`): packet hooks only; beside an IP match, the rule's
    /// family's EtherType (another is an error).
    pub ether: Option<EtherMatch>,
    /// `vlan N`, the outer tag's id: packet hooks only.
    pub vlan: Option<u16>,
    /// Permutation of the match items (0: proto, family, from, to, flags, type, code,
    /// frag, the IP header fields, the frame's).
    pub order: u32,
    /// Matches on facts from outside the frame (`ct state new`, `route forward`),
    /// written after the others; the differential tests draw none (the kernel cannot
    /// be given a conntrack entry), the semantic diff's test does.
    pub facts: Vec<String>,
}

impl Rule {
    pub fn protocol(&self) -> Option<u8> {
        self.proto.and_then(|p| p.number)
    }

    pub fn icmp_family(&self) -> Option<Family> {
        match self.protocol() {
            Some(1) => Some(Family::V4),
            Some(58) => Some(Family::V6),
            _ => None,
        }
    }

    pub fn endpoints_mut(&mut self) -> impl Iterator<Item = &mut Endpoint> {
        self.src.iter_mut().chain(self.dst.iter_mut())
    }

    /// Makes the drawn rule one that sema accepts, keeping as much of it as it can:
    /// one family (a protocol's wins, then `ip4`/`ip6`, then the first literal), ports
    /// only where the protocol has them, flags only with TCP, ICMP fields only with
    /// ICMP, set references only to declared sets.
    pub fn normalize(mut self, addr_sets: usize, port_sets: usize) -> Rule {
        // A rule of a non-IP EtherType tests the frame alone (an IP match beside it is
        // an error); an IP match beside an IP EtherType keeps it to the rule's family:
        // the one the other matches fix, else the EtherType's.
        if self.ether.is_some_and(|e| !is_ip_ethertype(e.value)) {
            self.frame_only();
        }
        let ip_match = self.tests_ip();
        let ether_family = self.ether.filter(|_| ip_match).map(|e| match e.value {
            ETHERTYPE_IPV6 => Family::V6,
            _ => Family::V4,
        });
        let literal_family = self
            .src
            .iter()
            .chain(self.dst.iter())
            .find_map(|e| match e.addr {
                Addr::Literal(l) => Some(l.family),
                _ => None,
            });
        let hop_family = self
            .hop
            .as_ref()
            .map(|h| if h.v6 { Family::V6 } else { Family::V4 });
        // A protocol named `icmp`/`icmpv6` fixes the family; written as a number, the
        // rule's other matches do, and only without them the protocol's own.
        let named_icmp = self
            .icmp_family()
            .filter(|_| !self.proto.is_some_and(ProtoMatch::by_number));
        let family = named_icmp
            .or(self.family)
            .or(literal_family)
            .or(hop_family)
            .or(self.icmp_family())
            .or(ether_family);
        if let Some(e) = &mut self.ether {
            e.value = match family.filter(|_| ip_match) {
                Some(Family::V4) => ETHERTYPE_IPV4,
                Some(Family::V6) => ETHERTYPE_IPV6,
                None => e.value.max(ETHERTYPE_MIN),
            };
        }
        if let Some(v) = &mut self.vlan {
            *v &= 0x0fff;
        }
        if let (Some(h), Some(f)) = (&mut self.hop, family) {
            h.v6 = f == Family::V6;
            h.normalize();
        }
        if let Some(t) = &mut self.tos {
            t.normalize();
        }
        if let Some(t) = &mut self.len {
            t.normalize(family);
        }
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
        // ICMP fields only with the family's own ICMP (not `ip6 proto 1`).
        match self.icmp_family().filter(|&f| Some(f) == family) {
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

    /// Whether the rule tests the IP header or what is above it (every match but the
    /// frame's), as sema counts them: flags and ICMP fields come only with a protocol.
    fn tests_ip(&self) -> bool {
        self.proto.is_some()
            || self.family.is_some()
            || self.src.is_some()
            || self.dst.is_some()
            || self.frag
            || self.hop.is_some()
            || self.tos.is_some()
            || self.len.is_some()
            || !self.facts.is_empty()
    }

    /// The rule without what it tests beyond the frame: every match but `ether type`
    /// and `vlan` (facts too).
    fn frame_only(&mut self) {
        (self.proto, self.family, self.src, self.dst) = (None, None, None, None);
        (self.icmp_type, self.icmp_code) = (None, None);
        self.flags.clear();
        self.frag = false;
        (self.hop, self.tos, self.len) = (None, None, None);
        self.facts.clear();
    }

    /// After facts were given to the rule: a non-IP EtherType beside them (facts test
    /// the packet, which such frames are not) is left out, so that sema accepts it.
    pub fn fit_frames_to_facts(&mut self) {
        if !self.facts.is_empty() && self.ether.is_some_and(|e| !is_ip_ethertype(e.value)) {
            self.ether = None;
        }
    }

    /// The rule without its frame matches (`ether type`, `vlan`), which only packet
    /// hooks have.
    pub fn without_frames(&mut self) {
        (self.ether, self.vlan) = (None, None);
    }

    /// (mask, value) of the rule's TCP flag test.
    pub fn flag_test(&self) -> Option<(u8, u8)> {
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
        if self.frag {
            items.push("frag".into());
        }
        if let Some(h) = &self.hop {
            items.push(h.to_string());
        }
        if let Some(t) = &self.tos {
            items.push(t.to_string());
        }
        if let Some(t) = &self.len {
            items.push(t.to_string());
        }
        if let Some(e) = &self.ether {
            items.push(e.to_string());
        }
        if let Some(v) = self.vlan {
            items.push(format!("vlan {v}"));
        }
        permute(&mut items, self.order);
        items.extend(self.facts.iter().cloned());
        f.write_str(match self.action {
            Action::Allow => "allow",
            Action::Drop => "drop",
            Action::Count => "count",
            Action::Reject(_) => "reject",
        })?;
        for item in items {
            write!(f, " {item}")?;
        }
        if let Action::Reject(with) = self.action {
            f.write_str(REJECT_WITH[usize::from(with)])?;
        }
        Ok(())
    }
}

/// The operators a [`HopTest`] writes, by index.
pub const HOP_OPS: [&str; 7] = ["", "==", "!=", "<", ">", "<=", ">="];

/// A TTL (IPv4) or hop limit (IPv6) test: `OP V[,V...]`, each V a number or range.
#[derive(Clone, Debug)]
pub struct HopTest {
    /// `hoplimit` (else `ttl`); normalizing sets it from the rule's family.
    pub v6: bool,
    /// Index into [`HOP_OPS`].
    pub op: u8,
    pub values: Vec<(u8, u8)>,
}

impl HopTest {
    fn normalize(&mut self) {
        normalize_values(self.op, &mut self.values, 0, u8::MAX);
    }
}

/// Makes `OP values` a test sema accepts for a field of `min..=max`: values within it,
/// an order operator with one number that some value passes; `!=` with one number
/// only (a list could cover every value of a small field).
fn normalize_values<T>(op: u8, values: &mut Vec<(T, T)>, min: T, max: T)
where
    T: Copy + Ord + From<u8> + std::ops::Add<Output = T> + std::ops::Sub<Output = T>,
{
    let op = HOP_OPS[usize::from(op) % HOP_OPS.len()];
    for v in values.iter_mut() {
        let (lo, hi) = (v.0.clamp(min, max), v.1.clamp(min, max));
        *v = (lo.min(hi), lo.max(hi));
    }
    let one = T::from(1);
    match op {
        "<" | ">" | "<=" | ">=" => {
            let v = match op {
                "<" => values[0].0.max(min + one),
                ">" => values[0].0.min(max - one),
                _ => values[0].0,
            };
            *values = vec![(v, v)];
        }
        "!=" => *values = vec![(values[0].0, values[0].0)],
        _ => {}
    }
}

/// `WORD [OP] V[,V...]`, as the rule text writes a field test.
fn write_values<T: fmt::Display + PartialEq>(
    f: &mut fmt::Formatter<'_>,
    word: &str,
    op: u8,
    values: &[(T, T)],
) -> fmt::Result {
    f.write_str(word)?;
    let op = HOP_OPS[usize::from(op) % HOP_OPS.len()];
    if !op.is_empty() {
        write!(f, " {op}")?;
    }
    let mut sep = " ";
    for (lo, hi) in values {
        if lo == hi {
            write!(f, "{sep}{lo}")?;
        } else {
            write!(f, "{sep}{lo}-{hi}")?;
        }
        sep = ",";
    }
    Ok(())
}

impl fmt::Display for HopTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.v6 { "hoplimit" } else { "ttl" };
        write_values(f, word, self.op, &self.values)
    }
}

/// A DSCP or ECN test (both families): `OP V[,V...]` with the [`HOP_OPS`] operators.
#[derive(Clone, Debug)]
pub struct TosTest {
    /// `ecn` (0 to 3), else `dscp` (0 to 63).
    pub ecn: bool,
    /// Index into [`HOP_OPS`].
    pub op: u8,
    pub values: Vec<(u8, u8)>,
}

impl TosTest {
    fn normalize(&mut self) {
        normalize_values(self.op, &mut self.values, 0, if self.ecn { 3 } else { 63 });
    }
}

impl fmt::Display for TosTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.ecn { "ecn" } else { "dscp" };
        write_values(f, word, self.op, &self.values)
    }
}

/// The largest `length`: an IPv6 payload of 65535 bytes behind its 40-byte header.
pub const MAX_LENGTH: u32 = 65575;

/// A packet length test (`length OP V[,V...]`, the [`HOP_OPS`] operators): either
/// family, or the one the values keep the rule to (`length < 40` is IPv4's).
#[derive(Clone, Debug)]
pub struct LenTest {
    /// Index into [`HOP_OPS`].
    pub op: u8,
    pub values: Vec<(u32, u32)>,
}

impl LenTest {
    /// Keeps the values to the lengths a packet of `family` can have (an IPv4 packet
    /// is at most 65535 bytes, an IPv6 one at least 40), so that some packet of the
    /// rule's family passes.
    fn normalize(&mut self, family: Option<Family>) {
        let (min, max) = match family {
            Some(Family::V4) => (0, 65535),
            Some(Family::V6) => (40, MAX_LENGTH),
            None => (0, MAX_LENGTH),
        };
        normalize_values(self.op, &mut self.values, min, max);
    }
}

impl fmt::Display for LenTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_values(f, "length", self.op, &self.values)
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
pub enum Hook {
    Xdp,
    TcIngress,
    TcEgress,
    /// A cgroup block: its attach text is [`CGROUPS`] at the block's `iface` index.
    CgroupIngress,
    CgroupEgress,
}

pub const INTERFACES: [&str; 4] = ["eth0", "eth1", "\"veth-a.100\"", "lo"];

/// The cgroups of cgroup blocks, one per [`INTERFACES`] index (programs are only
/// test-run, never attached, so the directories need not exist).
pub const CGROUPS: [&str; 4] = [
    "\"/sys/fs/cgroup/diff\"",
    "\"/sys/fs/cgroup/diff/a\"",
    "\"/sys/fs/cgroup/system.slice/diff.service\"",
    "\"/sys/fs/cgroup/unified/diff\"",
];

impl Block {
    /// The block's head: `xdp on eth0`, `cgroup egress "/sys/fs/cgroup/diff"`.
    pub fn head(&self) -> String {
        let iface = INTERFACES[self.iface];
        match self.hook {
            Hook::Xdp => format!("xdp on {iface}"),
            Hook::TcIngress => format!("tc ingress on {iface}"),
            Hook::TcEgress => format!("tc egress on {iface}"),
            Hook::CgroupIngress => format!("cgroup ingress {}", CGROUPS[self.iface]),
            Hook::CgroupEgress => format!("cgroup egress {}", CGROUPS[self.iface]),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Block {
    pub hook: Hook,
    /// Index into [`INTERFACES`].
    pub iface: usize,
    pub default_drop: bool,
    /// Write `default` first rather than last.
    pub default_first: bool,
    /// One line, statements separated by `;`.
    pub compact: bool,
    pub rules: Vec<Rule>,
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.head();
        let default = if self.default_drop {
            "default drop"
        } else {
            "default allow"
        };
        let mut stmts: Vec<String> = self
            .rules
            .iter()
            .map(|r| match (r.action, self.hook) {
                (
                    Action::Reject(with),
                    Hook::TcEgress | Hook::CgroupIngress | Hook::CgroupEgress,
                ) => r.to_string().replacen("reject", "drop", 1).replacen(
                    REJECT_WITH[usize::from(with)],
                    "",
                    1,
                ),
                _ => r.to_string(),
            })
            .collect();
        if self.default_first {
            stmts.insert(0, default.into());
        } else {
            stmts.push(default.into());
        }
        if self.compact {
            writeln!(f, "{head} {{ {} }}", stmts.join("; "))
        } else {
            writeln!(f, "{head} {{")?;
            for s in stmts {
                writeln!(f, "    {s}")?;
            }
            writeln!(f, "}}")
        }
    }
}

/// A whole rule file.
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// `set aN = { ... }`: never empty; families may mix; elements may overlap.
    pub addr_sets: Vec<Vec<Literal>>,
    /// `set pN = { ... }`: never empty.
    pub port_sets: Vec<Vec<(u16, u16)>>,
    /// One or two blocks, for distinct (hook, interface).
    pub blocks: Vec<Block>,
    /// Declare the sets after the blocks (sema resolves names file-wide).
    pub sets_last: bool,
    /// One set element per line instead of a comma-separated line.
    pub sets_multiline: bool,
}

impl RuleSet {
    pub fn normalize(mut self) -> RuleSet {
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

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.blocks.iter().flat_map(|b| &b.rules)
    }

    pub fn has_xdp(&self) -> bool {
        self.blocks.iter().any(|b| b.hook == Hook::Xdp)
    }

    /// The same rules in cgroup blocks: TC ingress blocks become `cgroup ingress`, TC
    /// egress ones `cgroup egress`, XDP blocks either (by their interface's index, so
    /// both hooks get as many), without what cgroup hooks cannot see (`frag`: their
    /// packets are reassembled or not yet fragmented, or frames: `ether type`, `vlan`)
    /// or do (`reject` becomes `drop`, as at TC egress).
    pub fn at_cgroups(mut self) -> RuleSet {
        for b in &mut self.blocks {
            b.hook = match b.hook {
                Hook::TcEgress | Hook::CgroupEgress => Hook::CgroupEgress,
                Hook::Xdp if b.iface % 2 == 1 => Hook::CgroupEgress,
                Hook::Xdp | Hook::TcIngress | Hook::CgroupIngress => Hook::CgroupIngress,
            };
            for r in &mut b.rules {
                r.frag = false;
                r.without_frames();
            }
        }
        self.normalize()
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
