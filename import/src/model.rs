//! The netfilter model every reader produces: tables of chains of rules, named sets and
//! maps, each rule a conjunction of [`Match`]es, a list of side effects and one
//! [`Verdict`], with the [`Span`] of its text in the input.
//!
//! Invariant: the model says what the input says and nothing more. Readers keep every
//! rule (a match or statement they cannot interpret becomes [`MatchKind::Opaque`] or
//! [`Effect::Other`], never a dropped word), so the semantics and the report can
//! account for every rule; meaning (what a match admits, how chains compose) is
//! computed later, in `semantics`.

use std::fmt;

/// Where a piece of the input is: 1-based line and column (in characters), and the
/// byte range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub line: u32,
    pub column: u32,
    pub start: usize,
    pub end: usize,
}

/// An nftables family (iptables-save sections are `Ip` or `Ip6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ip,
    Ip6,
    Inet,
    Arp,
    Bridge,
    Netdev,
}

impl Family {
    pub fn parse(word: &str) -> Option<Family> {
        Some(match word {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            "arp" => Family::Arp,
            "bridge" => Family::Bridge,
            "netdev" => Family::Netdev,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Arp => "arp",
            Family::Bridge => "bridge",
            Family::Netdev => "netdev",
        }
    }

    /// The IP versions a table of this family sees (none for arp, bridge, netdev: they
    /// are out of the import's scope).
    pub fn ip_versions(self) -> &'static [IpVersion] {
        match self {
            Family::Ip => &[IpVersion::V4],
            Family::Ip6 => &[IpVersion::V6],
            Family::Inet => &[IpVersion::V4, IpVersion::V6],
            _ => &[],
        }
    }
}

/// IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    V4,
    V6,
}

/// A netfilter hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NfHook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Ingress,
    Egress,
}

impl NfHook {
    pub fn parse(word: &str) -> Option<NfHook> {
        Some(match word.to_ascii_lowercase().as_str() {
            "prerouting" => NfHook::Prerouting,
            "input" => NfHook::Input,
            "forward" => NfHook::Forward,
            "output" => NfHook::Output,
            "postrouting" => NfHook::Postrouting,
            "ingress" => NfHook::Ingress,
            "egress" => NfHook::Egress,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            NfHook::Prerouting => "prerouting",
            NfHook::Input => "input",
            NfHook::Forward => "forward",
            NfHook::Output => "output",
            NfHook::Postrouting => "postrouting",
            NfHook::Ingress => "ingress",
            NfHook::Egress => "egress",
        }
    }
}

/// A base chain's type: only `filter` (and `route`, which filters too) decide verdicts
/// the import can carry; `nat` chains rewrite addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainType {
    Filter,
    Nat,
    Route,
    Other(String),
}

/// A base chain's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

/// What makes a chain a base chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseChain {
    pub kind: ChainType,
    pub hook: NfHook,
    pub priority: i32,
    pub policy: Policy,
    /// netdev ingress/egress chains name their device.
    pub device: Option<String>,
    /// Where the hook, priority and policy were given.
    pub span: Span,
}

/// Index of a rule in [`Ruleset::rules`].
pub type RuleId = usize;
/// Index of a named set or map in [`Ruleset::sets`].
pub type SetId = usize;

#[derive(Clone, Debug)]
pub struct Chain {
    pub name: String,
    pub base: Option<BaseChain>,
    pub rules: Vec<RuleId>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub family: Family,
    pub name: String,
    pub chains: Vec<Chain>,
    pub span: Span,
}

impl Table {
    pub fn chain(&self, name: &str) -> Option<usize> {
        self.chains.iter().position(|c| c.name == name)
    }
}

/// The whole input.
#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    pub tables: Vec<Table>,
    /// Every rule of every chain, in input order.
    pub rules: Vec<Rule>,
    pub sets: Vec<NamedSet>,
    /// Things the reader noticed that belong to no rule (objects skipped, ...).
    pub notes: Vec<String>,
    /// The packet-mark bits the rules' matches read, as the reader read them (before
    /// `semantics::written_marks` makes some of those tests opaque): the residual's
    /// mark bit is none of them (`residual::mark`).
    pub mark_bits_read: u32,
}

/// One rule as written.
#[derive(Clone, Debug)]
pub struct Rule {
    pub span: Span,
    /// The rule's text (for JSON: the rule object, compacted).
    pub source: String,
    /// (table index, chain index) it belongs to.
    pub table: usize,
    pub chain: usize,
    pub matches: Vec<Match>,
    pub effects: Vec<Effect>,
    pub verdict: Verdict,
    pub comment: Option<String>,
}

impl Rule {
    /// The texts of the rule's statements the import does not interpret: its effects
    /// (`Effect::Other`) and its verdict (`Verdict::Other`).
    pub fn statement_texts(&self) -> impl Iterator<Item = &str> {
        let effects = self.effects.iter().filter_map(|e| match e {
            Effect::Other { text, .. } => Some(text.as_str()),
            _ => None,
        });
        let verdict = match &self.verdict {
            Verdict::Other { text, .. } => Some(text.as_str()),
            _ => None,
        };
        effects.chain(verdict)
    }
}

/// A field a match tests. Addresses and ports say which header they read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// `meta nfproto`: the values are 4 and 6 ([`IpVersion`] as numbers).
    NfProto,
    /// `meta l4proto`, `-p` (the transport protocol after extension headers).
    L4Proto,
    /// `ip protocol`: implies IPv4.
    IpProtocol,
    Saddr(IpVersion),
    Daddr(IpVersion),
    /// Transport ports: the protocol (6, 17, 132, 33, 136) whose header is read, or
    /// `None` for nft `th` (any transport header with ports).
    Sport(Option<u8>),
    Dport(Option<u8>),
    TcpFlags,
    IcmpType(IpVersion),
    IcmpCode(IpVersion),
    /// conntrack state; values are [`CT_NEW`] .. [`CT_UNTRACKED`].
    CtState,
    /// Interface names (`-i`, `iifname`, `iif`), in nft's spelling whatever the format
    /// (`semantics::atoms::iface_pattern`): a trailing `*` is a prefix wildcard.
    Iifname,
    Oifname,
    /// nft's `iif`/`oif`: the interface's index, which nft looks up by the name given
    /// when the rule is loaded; the values are names.
    Iif,
    Oif,
    /// `ip ttl`, `-m ttl` (IPv4) and `ip6 hoplimit`, `-m hl` (IPv6): implies the family.
    HopLimit(IpVersion),
    /// `ip dscp`, `ip6 dscp`, `-m dscp` (and the DSCP half of `-m tos`): the top six
    /// bits of the IPv4 TOS byte or the IPv6 traffic class; the version is the
    /// header read, so it implies the family.
    Dscp(IpVersion),
    /// `ip ecn`, `ip6 ecn`, `-m ecn --ecn-ip-ect` (and the ECN half of `-m tos`): the
    /// low two bits of the same byte.
    Ecn(IpVersion),
    /// The IP packet's length (`-m length`, nft `meta length` at netfilter hooks and
    /// `ip length`): the IPv4 total length, the IPv6 payload length plus 40, as
    /// sockc's `length`; a version implies the family.
    Length(Option<IpVersion>),
    /// nft's `ip6 length`: the IPv6 payload length field. Its values are read as the
    /// packet's length (40 more), so it is [`Key::Length`] of IPv6 with shifted
    /// values; masks and named sets of it stay opaque.
    Ip6PayloadLength,
    /// The user and group owning the sending socket (`-m owner --uid-owner`,
    /// `--gid-owner`, `meta skuid`, `skgid`): the fsuid/fsgid of the socket's file;
    /// a packet no socket owns has [`NO_OWNER`].
    SkUid,
    SkGid,
    /// The conntrack entry's status bits (`ct status`, `-m conntrack --ctstatus`, the
    /// `SNAT`/`DNAT` of `--ctstate`), packed as `sockc_compiler::syntax::ct_entry::
    /// STATUS_BITS` orders them (bit `i` of the value is that list's `i`-th bit); its
    /// direction (`ct direction`, `--ctdir`: 0 original, 1 reply); its mark (`ct mark`,
    /// `-m connmark --mark`). Each implies an entry ([`ct_tracked`]); a packet without
    /// one has the canonical values 0 (so the three say nothing about it).
    CtStatus,
    CtDirection,
    CtMark,
    /// The packet's mark (`meta mark`, `-m mark --mark`): 32 bits, 0 unless something
    /// set it.
    Mark,
}

/// The states of a packet with a conntrack entry: what a test of the entry implies.
pub fn ct_tracked() -> Match {
    let states = [CT_NEW, CT_ESTABLISHED, CT_RELATED];
    Match::test(
        vec![Key::CtState],
        Rhs::Elements(states.map(|s| vec![Value::Range(s, s)]).to_vec()),
    )
}

/// The packed [`Key::CtStatus`] bits of kernel status bits, `None` when one is not
/// among those sockc names.
pub fn ct_status_packed(kernel_bits: u128) -> Option<u128> {
    let bits = sockc_compiler::syntax::ct_entry::STATUS_BITS;
    let mut rest = kernel_bits;
    let mut packed = 0;
    for (i, (_, b)) in bits.iter().enumerate() {
        if rest & u128::from(*b) != 0 {
            packed |= 1 << i;
            rest &= !u128::from(*b);
        }
    }
    (rest == 0).then_some(packed)
}

/// The owner of a packet that no socket (with a file, in the hook's namespace) owns:
/// a number no user or group has (`(uid_t)-1`), so every owner test refuses it.
pub const NO_OWNER: u128 = u32::MAX as u128;

impl Key {
    /// The field as a user reads it (nft's selector words), for reasons and errors.
    pub fn describe(&self) -> String {
        let v = |v: &IpVersion| if *v == IpVersion::V4 { "ip" } else { "ip6" };
        let proto = |p: &Option<u8>| match p {
            Some(6) => "tcp",
            Some(17) => "udp",
            Some(132) => "sctp",
            Some(33) => "dccp",
            Some(136) => "udplite",
            _ => "th",
        };
        match self {
            Key::NfProto => "meta nfproto".into(),
            Key::L4Proto => "meta l4proto".into(),
            Key::IpProtocol => "ip protocol".into(),
            Key::Saddr(x) => format!("{} saddr", v(x)),
            Key::Daddr(x) => format!("{} daddr", v(x)),
            Key::Sport(p) => format!("{} sport", proto(p)),
            Key::Dport(p) => format!("{} dport", proto(p)),
            Key::TcpFlags => "tcp flags".into(),
            Key::IcmpType(x) => format!(
                "{} type",
                if *x == IpVersion::V4 {
                    "icmp"
                } else {
                    "icmpv6"
                }
            ),
            Key::IcmpCode(x) => format!(
                "{} code",
                if *x == IpVersion::V4 {
                    "icmp"
                } else {
                    "icmpv6"
                }
            ),
            Key::CtState => "ct state".into(),
            Key::Iifname => "iifname".into(),
            Key::Oifname => "oifname".into(),
            Key::Iif => "iif".into(),
            Key::Oif => "oif".into(),
            Key::HopLimit(IpVersion::V4) => "ip ttl".into(),
            Key::HopLimit(IpVersion::V6) => "ip6 hoplimit".into(),
            Key::Dscp(x) => format!("{} dscp", v(x)),
            Key::Ecn(x) => format!("{} ecn", v(x)),
            Key::Length(None) => "meta length".into(),
            Key::Length(Some(x)) => format!("{} length", v(x)),
            Key::Ip6PayloadLength => "ip6 length".into(),
            Key::SkUid => "meta skuid".into(),
            Key::SkGid => "meta skgid".into(),
            Key::CtStatus => "ct status".into(),
            Key::CtDirection => "ct direction".into(),
            Key::CtMark => "ct mark".into(),
            Key::Mark => "meta mark".into(),
        }
    }
}

pub const CT_NEW: u128 = 0;
pub const CT_ESTABLISHED: u128 = 1;
pub const CT_RELATED: u128 = 2;
pub const CT_INVALID: u128 = 3;
pub const CT_UNTRACKED: u128 = 4;

/// One value of a match's right-hand side, for one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// Numbers, addresses (as integers), prefixes and ranges: an inclusive range.
    Range(u128, u128),
    /// Names that stay names (interfaces).
    Name(String),
}

/// What a match compares its key(s) with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rhs {
    /// Any of these elements; each element has one value per key (concatenations).
    Elements(Vec<Vec<Value>>),
    /// Membership in a named set.
    Set(SetId),
    /// `(key & mask) == value` (TCP flags, `ct state`, `tcp flags syn / syn,ack`).
    Masked { mask: u128, value: u128 },
    /// `(key & mask) != 0` (nft's implicit operator on flag types).
    AnyBit(u128),
}

/// One match: a test of keys, a disjunction of conjunctions, or something the import
/// does not interpret (kept with its text and why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchKind {
    Test {
        keys: Vec<Key>,
        rhs: Rhs,
    },
    /// Any of these conjunctions (`-m multiport --ports`: source or destination).
    Any(Vec<Vec<Match>>),
    /// A match sockc does not interpret: `feature` says what it would need; `key` is a
    /// normalized text so that equal matches from different readers compare equal.
    Opaque {
        feature: crate::features::Feature,
        key: String,
    },
    /// The cgroup of the packet's socket (`-m cgroup --path`, `socket cgroupv2`).
    Cgroup(CgroupTest),
}

/// A test of the cgroup v2 directory of the packet's socket: true only for a full
/// socket of the hook's network namespace, whose cgroup is `path` or below it
/// (`outside`: is not), as `xt_cgroup` and nft's `socket cgroupv2` read it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CgroupTest {
    /// The match as the source wrote it, for reasons.
    pub text: String,
    /// The path as the source names it: below the cgroup v2 root for `xt_cgroup`,
    /// below `/sys/fs/cgroup` for nft.
    pub path: String,
    /// `Nft(Some(N))`: nft's `socket cgroupv2 level N` (`None`: a JSON expression
    /// without its level); `Xt`: `-m cgroup --path`.
    pub source: CgroupSource,
    /// `! --path P` / `!= "P"`: a full socket whose cgroup is not below P.
    pub outside: bool,
    /// The directory the language names it by, or why it cannot exactly
    /// ([`crate::semantics::cgroups::resolve`]; `Err` until then).
    pub dir: Result<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CgroupSource {
    Xt,
    Nft(Option<u32>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub negated: bool,
    pub kind: MatchKind,
}

impl Match {
    pub fn test(keys: Vec<Key>, rhs: Rhs) -> Match {
        Match {
            negated: false,
            kind: MatchKind::Test { keys, rhs },
        }
    }

    pub fn one(key: Key, lo: u128, hi: u128) -> Match {
        Match::test(vec![key], Rhs::Elements(vec![vec![Value::Range(lo, hi)]]))
    }

    pub fn opaque(feature: crate::features::Feature, key: impl Into<String>) -> Match {
        Match {
            negated: false,
            kind: MatchKind::Opaque {
                feature,
                key: key.into(),
            },
        }
    }

    pub fn negate(mut self, yes: bool) -> Match {
        self.negated ^= yes;
        self
    }
}

/// How a REJECT answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectWith {
    /// The default: ICMP port unreachable (ICMPv6 for IPv6).
    Default,
    TcpReset,
    Icmp(String),
}

impl RejectWith {
    /// The match nft's `reject with ...` implies (it adds it as a dependency and
    /// hides it when it lists the rule): `icmp` answers IPv4 packets only, `icmpv6`
    /// IPv6 ones, `tcp reset` TCP segments.
    pub fn nft_dependency(&self) -> Option<Match> {
        match self {
            RejectWith::TcpReset => Some(Match::one(Key::L4Proto, 6, 6)),
            RejectWith::Icmp(x) if x.starts_with("icmp ") => Some(Match::one(Key::NfProto, 4, 4)),
            RejectWith::Icmp(x) if x.starts_with("icmpv6 ") => Some(Match::one(Key::NfProto, 6, 6)),
            _ => None,
        }
    }
}

/// A statement that does something besides deciding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `LOG`, `NFLOG`, nft `log`.
    Log { prefix: Option<String> },
    /// `counter` (sockc counts every rule anyway).
    Counter,
    /// Something else (marks, NAT, mangling, queueing ...): its text and what it needs.
    Other {
        feature: crate::features::Feature,
        text: String,
    },
}

/// The verdict a rule ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No verdict: evaluation goes on with the next rule.
    Continue,
    Accept,
    Drop,
    Reject(RejectWith),
    Return,
    Jump(String),
    Goto(String),
    /// A verdict map: the first element whose key matches decides; none: continue.
    Map {
        keys: Vec<Key>,
        entries: Vec<(Vec<Value>, Verdict)>,
    },
    /// A verdict the import cannot carry (NAT targets, NFQUEUE, ...): terminal.
    Other {
        feature: crate::features::Feature,
        text: String,
    },
}

/// What a named set holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetContent {
    /// Known elements (nft sets), one value per key of the set's type.
    Known(Vec<Vec<Value>>),
    /// Contents kept elsewhere (an ipset named by `-m set`).
    External,
}

/// An nft named set or map, or an ipset.
#[derive(Clone, Debug)]
pub struct NamedSet {
    /// The table it belongs to (`None` for ipsets, which are global).
    pub table: Option<usize>,
    pub name: String,
    /// The keys its type reads, when the type says (`ipv4_addr` → one address).
    pub type_text: String,
    pub content: SetContent,
    /// Verdict maps: the verdict of each element, in element order.
    pub verdicts: Option<Vec<Verdict>>,
    pub interval: bool,
    /// Why its listed elements are not what a lookup sees at run time, when they are
    /// not: the ruleset fills it (`flags dynamic`, `add @s`, `-j SET --add-set`), its
    /// elements expire or carry state (`timeout`, per-element `limit`/`quota`), or the
    /// listing cannot be read. Lookups in such a set stay in netfilter
    /// ([`crate::semantics::runtime_sets`]).
    pub unknown: Option<String>,
    pub span: Span,
}

impl fmt::Display for NfHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
