//! The IR: checked rules as data, one [`Program`] per hook block.
//!
//! Names are resolved (sets to [`SetId`]s, sockets to [`SockId`]s, port sets inlined
//! as ranges), protocol and family constraints are explicit, and every rule keeps its
//! source span and line. Invariant: an IR module only exists for a file that passed
//! sema without errors, so lowering may assume every rule is well-formed for its hook
//! (e.g. a port match implies TCP or UDP; an address set referenced by a rule exists).

use std::{fmt, ops::Range};

pub mod classifier;
pub(crate) mod flow;
pub(crate) mod linear;
pub mod slots;
pub mod sockmap;
pub(crate) mod verify;

use cranelift_entity::{entity_impl, PrimaryMap};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::{
    diag::Span,
    hooks::HookKind,
    syntax::ast::{Family, SockCond, SockProto, Verdict},
};

/// An address set (`set NAME = {...}` holding addresses).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(u32);
entity_impl!(SetId, "set");

/// A named socket slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SockId(u32);
entity_impl!(SockId, "sock");

/// A program: one hook block.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProgId(u32);
entity_impl!(ProgId, "prog");

#[derive(Clone, Debug, Default)]
pub struct Module {
    pub sets: PrimaryMap<SetId, AddrSet>,
    pub sockets: PrimaryMap<SockId, Socket>,
    pub programs: PrimaryMap<ProgId, Program>,
    /// The socket-layer programs of each cgroup that has sockmap blocks.
    pub sockmaps: Vec<sockmap::SockmapGroup>,
    /// One per cgroup that `socket` declarations name: re-registers their sockets.
    pub registrars: Vec<Registrar>,
    /// Rules with `log`: counter slot → packets per second per CPU that go
    /// to `sockc trace`. Empty: no ring buffer, no extra instruction.
    pub logs: std::collections::BTreeMap<u32, u32>,
    /// How many ICMP errors the `reject` rules send (`reject answers ...`; without it,
    /// the kernel's limits, read when the file is applied).
    pub answers: crate::syntax::answers::AnswerLimits,
    /// `residual ...`: the netfilter ruleset installed beside the netfilter blocks.
    pub residual: Option<Residual>,
    /// The cgroups that rules' `cgroup` matches name (a path, or `unit:NAME`), each
    /// once: slot `i` of the `cgroups` map holds the level and id of cgroup `i`, which
    /// the runtime writes on every apply and repair.
    pub cgroups: Vec<String>,
}

/// The netfilter ruleset an import left beside the file's netfilter blocks, as read
/// (see `sema::residual`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Residual {
    pub format: crate::syntax::mark::ResidualFormat,
    /// As the declaration names it.
    pub path: String,
    pub text: String,
    /// The one bit it sets on a packet it decided.
    pub mark: u32,
    pub span: crate::diag::Span,
}

/// The rate of `log` without `N/s`: packets per second per CPU and rule.
pub(crate) const LOG_DEFAULT_RATE: u32 = 100;

/// A sock_ops program on a cgroup that puts a declared TCP socket into its socket map
/// slot when a process of the cgroup, in the install's network namespace, starts
/// listening on the declared address (`socket NAME = tcp ADDR:PORT cgroup "PATH"`):
/// a restarted service is registered again without anyone running a command.
#[derive(Clone, Debug)]
pub struct Registrar {
    pub cgroup: String,
    /// Symbol in the object, unique among all programs of the module.
    pub symbol: String,
    /// The sockets declared with this cgroup, in declaration order.
    pub sockets: Vec<SockId>,
    /// Counter slots: sockets registered, and insertions the kernel refused.
    pub counters: [u32; 2],
    /// Line of the first declaration naming the cgroup.
    pub line: usize,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct AddrSet {
    pub name: String,
    pub v4: Vec<Ipv4Net>,
    pub v6: Vec<Ipv6Net>,
}

/// Most sockets a module declares: the slots of the install's socket map.
pub const SOCKETS_MAX: u32 = 1024;

#[derive(Clone, Debug)]
pub struct Socket {
    pub name: String,
    pub proto: SockProto,
    pub addr: Option<(std::net::IpAddr, u16)>,
    /// The cgroup whose listening sockets on `addr` register themselves; the only
    /// cgroup whose sockets may be registered at all.
    pub cgroup: Option<String>,
    /// `owner ...`: who may own a socket registered for it (without `cgroup` or
    /// `owner`: uid 0, [`crate::syntax::ids::IdSet::root`]).
    pub owner: Option<crate::syntax::ids::IdSet>,
}

#[derive(Clone, Debug)]
pub struct Program {
    pub hook: HookKind,
    /// Interface (XDP, TC) or cgroup path (sockmap); empty for sk_lookup.
    pub attach_to: String,
    /// Symbol name in the object: at most 15 bytes, `[a-z0-9_]`, unique in the module.
    pub symbol: String,
    pub rules: Vec<Rule>,
    /// How lowering walks the rules, in order: sema lists every rule on its own; the
    /// optimizer replaces runs of rules by table lookups (see [`Step`]).
    pub steps: Vec<Step>,
    pub default: Verdict,
    pub default_line: usize,
    /// The `default VERDICT` statement.
    pub default_span: Span,
    /// Counter slot of the default verdict.
    pub default_counter: u32,
    pub span: Span,
}

/// One step of a program's rule walk. Invariant: the steps cover `rules` in order,
/// each rule exactly once, so first-match order is kept ([`verify`] checks it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `rules[rules]` tested one after another, laid out by `plan` (`None`: the
    /// `-O0` layout, [`linear::linear`]; the threading pass sets it). The plan covers
    /// the run's rules that can match ([`Module::can_match`]); no code tests the
    /// others.
    Linear {
        rules: Range<usize>,
        plan: Option<linear::Plan>,
    },
    /// One classifier lookup decides among `rules[range]` (see [`classifier`]).
    Classify(classifier::Classifier),
}

impl Step {
    /// The rules this step decides.
    pub fn rules(&self) -> Range<usize> {
        match self {
            Step::Linear { rules, .. } => rules.clone(),
            Step::Classify(c) => c.rules.clone(),
        }
    }
}

impl Module {
    /// Whether a rule (or the default) of `prog` has `log`: only then does the program
    /// use the log maps and its tail feed the ring buffer.
    pub(crate) fn logs_in(&self, prog: &Program) -> bool {
        !self.logs.is_empty()
            && (self.logs.contains_key(&prog.default_counter)
                || prog
                    .rules
                    .iter()
                    .any(|r| self.logs.contains_key(&r.counter)))
    }

    /// Whether `prog`'s ICMP answers pass the answer limits (`bpf::answers`): it has a
    /// `reject` rule that may answer with an ICMP error (resets are never limited),
    /// and the file's answers are not `unlimited`.
    pub fn answers_limited_in(&self, prog: &Program) -> bool {
        self.limits_answers(prog.answers_icmp())
    }

    /// [`Module::answers_limited_in`] of a program whose rules were already read:
    /// `answers_icmp` says whether one may answer with an ICMP error.
    pub fn limits_answers(&self, answers_icmp: bool) -> bool {
        !self.answers.unlimited() && answers_icmp
    }

    /// Whether any program's answers pass the limits (the object has their maps).
    pub fn answers_limited(&self) -> bool {
        self.programs.values().any(|p| self.answers_limited_in(p))
    }

    /// False when a rule can match no packet: an address set with no element of any
    /// family the rule applies to.
    pub(crate) fn can_match(&self, m: &RuleMatch) -> bool {
        [&m.src, &m.dst].into_iter().all(|a| match a {
            AddrMatch::Set(s) => {
                let set = &self.sets[*s];
                match m.family {
                    Some(Family::V4) => !set.v4.is_empty(),
                    Some(Family::V6) => !set.v6.is_empty(),
                    None => true,
                }
            }
            _ => true,
        })
    }
}

impl Program {
    /// Whether a rule may answer with an ICMP error: a `reject` other than `with
    /// tcp-reset` (what the answer limits, `reject answers`, limit).
    pub fn answers_icmp(&self) -> bool {
        self.rules.iter().any(Rule::answers_icmp)
    }

    /// The rules of `range` that can match, in order: the rules a linear run's plan
    /// covers.
    pub(crate) fn planned_rules(&self, module: &Module, range: Range<usize>) -> Vec<usize> {
        range
            .filter(|&i| module.can_match(&self.rules[i].m))
            .collect()
    }

    /// The steps every program starts with: all its rules in one linear run.
    pub fn unoptimized_steps(rules: usize) -> Vec<Step> {
        if rules == 0 {
            return Vec::new();
        }
        vec![Step::Linear {
            rules: 0..rules,
            plan: None,
        }]
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Index of this rule's packet/byte counter in the `counters` map.
    pub counter: u32,
    pub line: usize,
    pub span: Span,
    /// The rule as written (one line), for listings; shared with the object's
    /// metadata ([`crate::metadata::RuleMeta`]) instead of copied.
    pub text: std::sync::Arc<str>,
    pub action: Action,
    pub m: RuleMatch,
    pub cond: Option<SockCond>,
}

impl Rule {
    /// Whether the rule may answer with an ICMP error: a `reject` other than `with
    /// tcp-reset` ([`Program::answers_icmp`]).
    pub fn answers_icmp(&self) -> bool {
        matches!(self.action, Action::Reject(w) if w != crate::syntax::reject::RejectWith::TcpReset)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    Drop,
    Count,
    Pass,
    /// `redirect ... to sock NAME` (`Some`), or `redirect local` (`None`).
    Redirect(Option<SockId>),
    /// `redirect ... to sock NAME ingress`: into the socket's receive queue.
    RedirectIngress(SockId),
    /// `reject [with ...]`: answer with a TCP reset or an ICMP error (XDP, TC ingress).
    Reject(crate::syntax::reject::RejectWith),
    /// `redirect ... to ADDRESS[:PORT]` (cgroup connect and sendmsg): the call goes on
    /// to this address (and port) instead of the one it named.
    RedirectCall(CallTarget),
}

impl Action {
    /// `redirect` in any form.
    pub(crate) fn is_redirect(self) -> bool {
        matches!(
            self,
            Action::Redirect(_) | Action::RedirectIngress(_) | Action::RedirectCall(_)
        )
    }
}

/// Where a socket-call redirect sends the call: an address of the rule's family (an
/// IPv4 one also for an IPv6 socket's call to an IPv4-mapped address, which then goes
/// to the target's IPv4-mapped form), and a port, or the call's own (`None`; also for
/// a call without ports, a ping socket's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallTarget {
    pub addr: std::net::IpAddr,
    pub port: Option<u16>,
}

impl CallTarget {
    /// Where a call to `to` with protocol `proto` goes: the target's address (its
    /// IPv4-mapped form for an IPv6 call), and its port for a TCP or UDP call that
    /// has one, else the call's port.
    pub fn rewrite(&self, proto: u8, to: std::net::SocketAddr) -> std::net::SocketAddr {
        use std::net::IpAddr;
        let addr = match (self.addr, to) {
            (IpAddr::V4(a), std::net::SocketAddr::V6(_)) => IpAddr::V6(a.to_ipv6_mapped()),
            (a, _) => a,
        };
        let port = match self.port {
            Some(p) if matches!(proto, 6 | 17) => p,
            _ => to.port(),
        };
        std::net::SocketAddr::new(addr, port)
    }
}

impl fmt::Display for CallTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.port) {
            (std::net::IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, Some(p)) => write!(f, "{a}:{p}"),
            (a, None) => write!(f, "{a}"),
        }
    }
}

/// Everything a rule tests; `None`/`Any` fields test nothing. What most rules test is
/// held inline; the tests few rules have are in one box ([`RareTests`], read with
/// [`RuleMatch::rare`]), so a rule of addresses, ports and protocol is about half the
/// size (100k rules: 28 → 18 MB). Invariant: a match equals another whatever the box
/// holds when both test the same (an empty box is no box).
#[derive(Clone, Debug, Default, Eq)]
pub struct RuleMatch {
    /// Set when the rule only applies to one family (explicitly, or implied by a
    /// literal address or by `icmp`/`icmpv6`).
    pub family: Option<Family>,
    /// True when the rule only applies to IP packets (any match beyond "everything").
    pub ip_only: bool,
    pub proto: Option<u8>,
    pub src: AddrMatch,
    pub dst: AddrMatch,
    pub sport: PortMatch,
    pub dport: PortMatch,
    /// (mask, value): `flags & mask == value`.
    pub tcp_flags: Option<(u8, u8)>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// `frag`: only fragments (IPv4 MF or offset, IPv6 fragment header).
    pub frag: bool,
    /// `ct state ...`: the packet's connection-tracking state is in the set.
    pub ct: Option<crate::syntax::ct::CtStates>,
    /// `route local|forward`: the class the host's routing gives the packet.
    pub route: Option<crate::syntax::route::RouteClass>,
    /// The rest: `None` when the rule tests none of it.
    rare: Option<Box<RareTests>>,
}

/// The tests of a [`RuleMatch`] that few rules have, boxed together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RareTests {
    /// `arp`, `ether type N`: the EtherType after at most one VLAN tag.
    pub ether_type: Option<u16>,
    /// `vlan N`: the id of the outer VLAN tag.
    pub vlan: Option<u16>,
    /// `ct status|direction|mark ...`: the packet's conntrack entry (netfilter blocks).
    pub ct_entry: Option<Box<crate::syntax::ct_entry::CtEntryTests>>,
    /// `limit ...`: the packet fits the rule's token bucket (tested last).
    pub limit: Option<Box<RuleLimit>>,
    /// `in on ...` / `out on ...`: the name of the device the packet came in on or
    /// goes out of (netfilter blocks).
    pub iif: Option<Box<crate::syntax::iface::IfaceMatch>>,
    pub oif: Option<Box<crate::syntax::iface::IfaceMatch>>,
    /// `mark VALUE/MASK`: the packet's mark (netfilter blocks).
    pub mark: Option<crate::syntax::mark::MarkTest>,
    /// `ttl ...`, `hoplimit ...`: IP header fields, sorted by field, each at most once
    /// (xdp, tc and netfilter blocks).
    pub fields: Vec<crate::syntax::ipfield::FieldTest>,
    /// `owner ...`: who owns the packet's socket (netfilter output/postrouting, TC
    /// egress).
    pub owner: Option<Box<crate::syntax::owner::OwnerMatch>>,
    /// `cgroup [!]"PATH"`: the cgroup of the packet's socket (of the calling process
    /// at socket-call hooks) is that one or one below it.
    pub cgroup: Option<Box<crate::syntax::cgroup_match::CgroupMatch>>,
    /// `comm ...`: the command name of the process making a socket call (cgroup
    /// connect|sendmsg|bind blocks).
    pub comm: Option<Box<crate::syntax::comm::CommMatch>>,
}

/// No rare test: what [`RuleMatch::rare`] reads for a rule without the box.
static NO_RARE_TESTS: RareTests = RareTests {
    ether_type: None,
    vlan: None,
    ct_entry: None,
    limit: None,
    iif: None,
    oif: None,
    mark: None,
    fields: Vec::new(),
    owner: None,
    cgroup: None,
    comm: None,
};

impl PartialEq for RuleMatch {
    fn eq(&self, o: &RuleMatch) -> bool {
        self.inline_eq(o) && self.rare() == o.rare()
    }
}

impl RuleMatch {
    /// Whether the tests held inline are the same (the rare ones not compared).
    fn inline_eq(&self, o: &RuleMatch) -> bool {
        self.family == o.family
            && self.ip_only == o.ip_only
            && self.proto == o.proto
            && self.src == o.src
            && self.dst == o.dst
            && self.sport == o.sport
            && self.dport == o.dport
            && self.tcp_flags == o.tcp_flags
            && self.icmp_type == o.icmp_type
            && self.icmp_code == o.icmp_code
            && self.frag == o.frag
            && self.ct == o.ct
            && self.route == o.route
    }

    /// Whether it tests nothing but the frame (`arp`, `ether type`, `vlan`), or
    /// nothing at all.
    pub fn tests_only_frame(&self) -> bool {
        let rare = self.rare();
        let frame = RareTests {
            ether_type: rare.ether_type,
            vlan: rare.vlan,
            ..RareTests::default()
        };
        self.inline_eq(&RuleMatch::default()) && *rare == frame
    }
}

/// A rule's `limit`: as written, its bucket's constants, and the slot of its bucket
/// (the rule's counter slot, so buckets and counters are sized together).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleLimit {
    pub limit: crate::syntax::limit::Limit,
    pub bucket: crate::syntax::limit::Bucket,
    pub slot: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AddrMatch {
    #[default]
    Any,
    /// One literal prefix (its family is the rule's family).
    Prefix(IpNet),
    Set(SetId),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PortMatch {
    #[default]
    Any,
    /// Inclusive ranges, sorted, non-overlapping, non-adjacent; never empty (a
    /// boxed slice, not a `Vec`: 8 bytes less in every rule's match, twice).
    Ranges(Box<[(u16, u16)]>),
}

impl RuleMatch {
    /// The tests few rules have (all `None` when it has none).
    pub fn rare(&self) -> &RareTests {
        self.rare.as_deref().unwrap_or(&NO_RARE_TESTS)
    }

    /// This match with `rare` as its rare tests (no box when they test nothing).
    pub fn with_rare(mut self, rare: RareTests) -> RuleMatch {
        self.rare = (rare != NO_RARE_TESTS).then(|| Box::new(rare));
        self
    }

    /// The rare tests, to change: boxed on first use.
    pub fn rare_mut(&mut self) -> &mut RareTests {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Whether it tests the frame itself (`arp`, `ether type`, `vlan`): only packet
    /// hooks see frames.
    pub fn tests_frame(&self) -> bool {
        self.rare().ether_type.is_some() || self.rare().vlan.is_some()
    }

    /// Whether it tests the packet's device (`in on`, `out on`).
    pub fn tests_device(&self) -> bool {
        self.rare().iif.is_some() || self.rare().oif.is_some()
    }

    /// The rule's `limit`, if any (boxed in the match, as few rules have one: a
    /// [`RuleLimit`] is 72 bytes).
    pub fn limit(&self) -> Option<RuleLimit> {
        self.rare().limit.as_deref().copied()
    }

    /// The rule's `limit`, to change (its bucket's slot).
    pub fn limit_mut(&mut self) -> Option<&mut RuleLimit> {
        self.rare.as_deref_mut()?.limit.as_deref_mut()
    }

    pub(crate) fn needs_ports(&self) -> bool {
        self.sport != PortMatch::Any || self.dport != PortMatch::Any
    }
    pub(crate) fn needs_l4(&self) -> bool {
        self.needs_ports()
            || self.tcp_flags.is_some()
            || self.icmp_type.is_some()
            || self.icmp_code.is_some()
    }
}

// ---- text form (`--emit ir`) ------------------------------------------------------

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, s) in &self.sets {
            write!(f, "{id} = set {} {{", s.name)?;
            let all: Vec<String> =
                s.v4.iter()
                    .map(|n| n.to_string())
                    .chain(s.v6.iter().map(|n| n.to_string()))
                    .collect();
            writeln!(
                f,
                " {} }}  ; {} v4, {} v6",
                all.join(", "),
                s.v4.len(),
                s.v6.len()
            )?;
        }
        for (id, s) in &self.sockets {
            write!(
                f,
                "{id} = socket {} {}",
                s.name,
                match s.proto {
                    SockProto::Tcp => "tcp",
                    SockProto::Udp => "udp",
                }
            )?;
            if let Some((a, p)) = s.addr {
                write!(f, " {}", std::net::SocketAddr::new(a, p))?;
            }
            if let Some(cgroup) = &s.cgroup {
                write!(f, " cgroup {cgroup:?}")?;
            }
            match &s.owner {
                Some(owner) => writeln!(f, " owner {owner} {:?}", owner.ranges)?,
                None => writeln!(f)?,
            }
        }
        if self.answers_limited() {
            writeln!(f, "answers: {}", self.answers)?;
        }
        for r in &self.registrars {
            let sockets: Vec<String> = r.sockets.iter().map(|s| s.to_string()).collect();
            writeln!(
                f,
                "registrar {:?} symbol={} sockets={} counters=c{},c{}",
                r.cgroup,
                r.symbol,
                sockets.join(","),
                r.counters[0],
                r.counters[1]
            )?;
        }
        for (id, p) in &self.programs {
            writeln!(
                f,
                "\n{id} {} {:?} symbol={} {{",
                crate::hooks::spec(p.hook).name,
                p.attach_to,
                p.symbol
            )?;
            let rule = |f: &mut fmt::Formatter<'_>, r: &Rule, indent: &str| {
                write!(
                    f,
                    "{indent}c{:<3} line {:<4} {}",
                    r.counter, r.line, r.action
                )?;
                write!(f, "{}", r.m)?;
                if let Some(c) = r.cond {
                    write!(f, " if {}", cond_name(c))?;
                }
                writeln!(f)
            };
            for step in &p.steps {
                match step {
                    Step::Linear { rules, .. } => {
                        for r in &p.rules[rules.clone()] {
                            rule(f, r, "  ")?;
                        }
                    }
                    Step::Classify(c) => {
                        writeln!(f, "  {c}")?;
                        for r in &p.rules[c.rules.clone()] {
                            rule(f, r, "  | ")?;
                        }
                    }
                }
            }
            writeln!(
                f,
                "  c{:<3} line {:<4} default {}",
                p.default_counter,
                p.default_line,
                verdict_name(p.default)
            )?;
            writeln!(f, "}}")?;
        }
        for g in &self.sockmaps {
            write!(f, "\n{g}")?;
        }
        Ok(())
    }
}

/// A port range as the language writes it: `53` or `1024-65535`.
pub fn port_range_text(lo: u16, hi: u16) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Drop => "drop",
        Verdict::Pass => "pass",
    }
}

pub(crate) fn cond_name(c: SockCond) -> &'static str {
    match c {
        SockCond::Exists => "socket exists",
        SockCond::NoSocket => "no socket",
        SockCond::Listening => "listening",
        SockCond::Established => "established",
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Allow => f.write_str("allow"),
            Action::Drop => f.write_str("drop"),
            Action::Count => f.write_str("count"),
            Action::Pass => f.write_str("pass"),
            Action::Redirect(Some(s)) => write!(f, "redirect->{s}"),
            Action::Redirect(None) => f.write_str("redirect->local"),
            Action::RedirectIngress(s) => write!(f, "redirect->{s} ingress"),
            Action::RedirectCall(t) => write!(f, "redirect->{t}"),
            Action::Reject(crate::syntax::reject::RejectWith::Default) => f.write_str("reject"),
            Action::Reject(w) => write!(f, "reject {}", w.text()),
        }
    }
}

impl fmt::Display for RuleMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Some(Family::V4) => f.write_str(" ip4")?,
            Some(Family::V6) => f.write_str(" ip6")?,
            None if self.ip_only => f.write_str(" ip")?,
            None => {}
        }
        if let Some(p) = self.proto {
            write!(f, " proto={p}")?;
        }
        for (name, a) in [("src", &self.src), ("dst", &self.dst)] {
            match a {
                AddrMatch::Any => {}
                AddrMatch::Prefix(n) => write!(f, " {name}={n}")?,
                AddrMatch::Set(s) => write!(f, " {name}=@{s}")?,
            }
        }
        for (name, p) in [("sport", &self.sport), ("dport", &self.dport)] {
            if let PortMatch::Ranges(r) = p {
                let parts: Vec<String> =
                    r.iter().map(|&(lo, hi)| port_range_text(lo, hi)).collect();
                write!(f, " {name}={}", parts.join(","))?;
            }
        }
        if let Some((mask, value)) = self.tcp_flags {
            write!(f, " tcpflags&{mask:#04x}=={value:#04x}")?;
        }
        if let Some(t) = self.icmp_type {
            write!(f, " icmptype={t}")?;
        }
        if let Some(c) = self.icmp_code {
            write!(f, " icmpcode={c}")?;
        }
        if self.frag {
            f.write_str(" frag")?;
        }
        let rare = self.rare();
        if let Some(t) = rare.ether_type {
            write!(f, " ethertype={t:#06x}")?;
        }
        if let Some(v) = rare.vlan {
            write!(f, " vlan={v}")?;
        }
        if let Some(s) = self.ct {
            write!(f, " ct={}", s.names())?;
        }
        if let Some(t) = &rare.ct_entry {
            write!(f, " {t}")?;
        }
        if let Some(r) = self.route {
            write!(f, " route={}", r.name())?;
        }
        for m in [&rare.iif, &rare.oif].into_iter().flatten() {
            write!(f, " {m}")?;
        }
        if let Some(m) = &rare.mark {
            write!(f, " {m}")?;
        }
        for t in &rare.fields {
            write!(f, " {t}")?;
        }
        if let Some(o) = &rare.owner {
            write!(f, " {o}")?;
        }
        if let Some(c) = &rare.cgroup {
            write!(f, " {c}")?;
        }
        if let Some(c) = &rare.comm {
            write!(f, " {c}")?;
        }
        if let Some(l) = &rare.limit {
            write!(f, " {}", l.limit)?;
        }
        Ok(())
    }
}
