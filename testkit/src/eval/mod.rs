//! The reference evaluator: the language's meaning written plainly, to check the
//! compiled programs against.
//!
//! Given a checked program (IR), a frame and the facts a program would learn from the
//! kernel (the socket state), it answers which rule decides, the verdict, and which
//! counters rise. It follows `docs/language.md` directly — first match wins, `count`
//! counts and goes on, the block's default decides when nothing else does — and reads
//! the frame with its own decoder ([`headers`]). Invariant: nothing here depends on
//! the BPF lowering or its layout (no flow record, no skipped rules, no folded tests),
//! so agreement between the two is evidence, not an echo.

pub mod headers;
pub mod index;
pub mod message;
pub mod reject;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, SocketAddr},
};

use cranelift_entity::EntityRef as _;

use ipnet::IpNet;

pub use headers::{decode, decode_network, Headers, IpHeader, L4Fields};
pub use index::RuleIndex;

use sockc_compiler::{
    bpf::maps::socket_drop_slot,
    hooks::{self, HookKind, HookSpec},
    ir::{Action, AddrMatch, Module, PortMatch, Program, Rule, RuleMatch, SockId},
    syntax::{
        ast::{SockCond, Verdict},
        ct::{without_entry, CtState},
        iface::{index_of, Dir},
        route::RouteClass,
    },
};

/// The state of the socket a packet belongs to, as the kernel's lookup would report
/// it to a socket condition: the socket the packet is for at ingress hooks, the socket
/// that sent it at egress hooks (see `docs/language.md`, "Socket conditions").
/// Programs without conditions ignore it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SocketState {
    /// No socket: `if no socket` holds.
    #[default]
    None,
    /// A TCP listener or an unconnected UDP socket: `if socket exists` and `if
    /// listening` hold.
    Listening,
    /// A TCP connection in any connected state (handshake and closing states included)
    /// or a connected UDP socket: `if socket exists` and `if established` hold.
    Established,
    /// A TCP socket in TIME_WAIT: only `if socket exists` holds.
    TimeWait,
}

impl SocketState {
    pub const ALL: [SocketState; 4] = [
        SocketState::None,
        SocketState::Listening,
        SocketState::Established,
        SocketState::TimeWait,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SocketState::None => "none",
            SocketState::Listening => "listening",
            SocketState::Established => "established",
            SocketState::TimeWait => "timewait",
        }
    }
}

/// What the program learns from outside the packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub socket: SocketState,
    /// The declared sockets that have a socket registered in the install's socket map
    /// (sk_lookup); a redirect to any other drops.
    pub registered: BTreeSet<SockId>,
    /// The packet's connection-tracking state as conntrack's table has it (`None`:
    /// no entry, so the state is what `ct::without_entry` says for the packet).
    pub ct: Option<CtState>,
    /// Every `limit` bucket is empty (a flood just drained it); `false`: every bucket
    /// is full, as at load. A limit's answer depends on the traffic before the packet,
    /// so it is an input, like the socket table.
    pub over_limit: bool,
    /// The buckets named one by one (`over-limit:SPEC[#N]`) that have no room for the
    /// packet; the others are full (unless `over_limit`).
    pub over: Vec<sockc_compiler::syntax::limit_fact::OverLimit>,
    /// The limits of `reject`'s answers have no room for the packet's answer
    /// (`over-limit:reject`; also with `over_limit`, which empties every bucket): an
    /// ICMP answer is refused, a drop. `false`: they have room, as at load.
    pub answers_over: bool,
    /// The class the host's routing gives an IP packet (`None`: `local`, what a
    /// lookup on a device that does not forward gives every packet).
    pub route: Option<RouteClass>,
    /// The names of the devices the packet came in on and goes out of (netfilter
    /// hooks; `None`: no device, which no name matches).
    pub iif: Option<sockc_compiler::syntax::iface::DevName>,
    pub oif: Option<sockc_compiler::syntax::iface::DevName>,
    /// Their indexes, when given (`in-index N`); else `lo`'s is 1 and any other's 0
    /// (`syntax::iface::index_of`).
    pub iif_index: Option<u32>,
    pub oif_index: Option<u32>,
    /// The packet's mark (`skb->mark`; 0 unless something set it).
    pub mark: u32,
    /// The user and group owning the socket that sent the packet (`None`: no socket
    /// owns it, as in a test run).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The cgroup v2 directory of the packet's socket (at socket-call hooks, of the
    /// calling process), as an absolute path (`None`: no socket, as in a netfilter
    /// test run).
    pub cgroup: Option<String>,
    /// Where cgroup v2 is mounted, for `cgroup unit "NAME"` (`None`: `/sys/fs/cgroup`).
    pub cgroup_root: Option<String>,
    /// What the packet's conntrack entry holds, when it has one (its state `new`,
    /// `established` or `related`); the default is a fresh entry's.
    pub ct_entry: sockc_compiler::syntax::ct_entry::CtEntry,
    /// The command name of the process making a socket call (the kernel's 16
    /// NUL-padded bytes); all zero, the empty name no `comm` rule names, by default.
    pub comm: sockc_compiler::syntax::comm::Comm,
}

/// What an sk_lookup program sees: the socket lookup the kernel is about to make for
/// a TCP connection request or a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// The peer's address and port (the packet's source).
    pub remote: SocketAddr,
    /// This host's address and port (the packet's destination).
    pub local: SocketAddr,
}

impl Lookup {
    /// The lookup as the header fields rules match (no frame: length 0, no TCP
    /// flags), so that rules mean the same in every hook.
    pub fn headers(&self) -> Headers {
        Headers {
            len: 0,
            ether_type: None,
            vlan: None,
            ip: Some(IpHeader {
                src: self.remote.ip(),
                dst: self.local.ip(),
                proto: self.proto,
                fragment: false,
                // An sk_lookup context has no IP header: no rule there tests it.
                ttl: 0,
                tos: 0,
                length: 0,
                l4: L4Fields::Ports {
                    sport: self.remote.port(),
                    dport: self.local.port(),
                    tcp_flags: None,
                },
            }),
        }
    }
}

/// What a socket-call program sees (`cgroup connect`, `sendmsg`, `bind`): the
/// call's protocol and the address and port it names (the destination; for `bind`,
/// the address bound). No source: the kernel has not chosen it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The socket's protocol (6, 17, or another for ping and raw sockets).
    pub proto: u8,
    pub to: SocketAddr,
}

impl Call {
    /// The call as the header fields rules match: an IPv4-mapped IPv6 address as the
    /// IPv4 address it reaches (as the program records it), ports for TCP and UDP
    /// only, the unspecified source of the call's family.
    pub fn headers(&self) -> Headers {
        let dst = match self.to.ip() {
            std::net::IpAddr::V6(a) => a
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(a), std::net::IpAddr::V4),
            v4 => v4,
        };
        let src = match dst {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        };
        let l4 = if matches!(self.proto, 6 | 17) {
            L4Fields::Ports {
                sport: 0,
                dport: self.to.port(),
                tcp_flags: None,
            }
        } else {
            L4Fields::Absent
        };
        Headers {
            len: 0,
            ether_type: None,
            vlan: None,
            ip: Some(IpHeader {
                src,
                dst,
                proto: self.proto,
                fragment: false,
                ttl: 0,
                // A socket address call has no IP header: no rule there tests it.
                tos: 0,
                length: 0,
                l4,
            }),
        }
    }
}

/// Who decided a packet's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decider {
    /// Index into the program's rules.
    Rule(usize),
    Default,
}

/// The final verdict of a program for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Verdict(Verdict),
    /// A redirect that took place: for sk_lookup, the connection or datagram goes to
    /// the socket registered for the rule's socket.
    Redirect(Action),
    /// `reject`: what the program sends back (or that it drops instead).
    Reject(reject::Answer),
}

/// The evaluation of one packet by one program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub headers: Headers,
    pub decider: Decider,
    pub outcome: Outcome,
    /// `count` rules that matched before the decider, in order (rule indexes).
    pub counted: Vec<usize>,
    /// A redirect to a socket with nothing registered: the outcome is a drop, and
    /// this slot of the `socket_drops` map counts it.
    pub socket_drop: Option<u32>,
    /// A `reject`'s ICMP answer the answer limits refused (the outcome is a drop):
    /// slot 0 of the `reject_limited` map counts it (the host-wide bucket's, which is
    /// the one the facts empty).
    pub answer_limited: bool,
}

impl Evaluation {
    /// Counter slots that rise by one packet (and the frame length in bytes): every
    /// `count` rule passed, then the decider's.
    pub fn counter_slots(&self, prog: &Program) -> Vec<u32> {
        let mut slots: Vec<u32> = self
            .counted
            .iter()
            .map(|&i| prog.rules[i].counter)
            .collect();
        slots.push(match self.decider {
            Decider::Rule(i) => prog.rules[i].counter,
            Decider::Default => prog.default_counter,
        });
        slots
    }

    /// What the counters should gain for a frame of `frame_len` bytes: one packet
    /// and the frame's bytes in each slot of [`Self::counter_slots`], nothing in any
    /// other slot.
    /// A netfilter program sees the packet from its network header on (there is no
    /// Ethernet header at a netfilter hook), so it counts the frame without it.
    pub fn counter_deltas(&self, prog: &Program, frame_len: usize) -> BTreeMap<u32, (u64, u64)> {
        let counted = counted_len(prog, frame_len);
        self.counter_slots(prog)
            .into_iter()
            .map(|s| (s, (1, counted as u64)))
            .collect()
    }

    /// The decider's source line.
    pub fn line(&self, prog: &Program) -> usize {
        match self.decider {
            Decider::Rule(i) => prog.rules[i].line,
            Decider::Default => prog.default_line,
        }
    }

    /// The program's return code for this outcome (from the hook table), if the hook
    /// has one for it.
    pub fn return_code(&self, prog: &Program) -> Option<i32> {
        let spec: &HookSpec = hooks::spec(prog.hook);
        match self.outcome {
            Outcome::Verdict(v) => spec.verdict_code(v),
            // sk_lookup: the socket is assigned and the program returns SK_PASS.
            Outcome::Redirect(Action::Redirect(Some(_))) if spec.kind == HookKind::SkLookup => {
                spec.verdicts.pass
            }
            // A socket call goes on, to the target the program wrote.
            Outcome::Redirect(Action::RedirectCall(_)) => spec.verdicts.allow,
            Outcome::Redirect(_) => None,
            Outcome::Reject(a) if a.sent() => spec.reject_code(),
            Outcome::Reject(_) => spec.verdicts.drop,
        }
    }
}

/// The Ethernet header netfilter and cgroup hooks never see.
const ETH_HLEN: usize = 14;

/// Whether `prog`'s hook sees a packet from its network header on (netfilter,
/// cgroup_skb), with no Ethernet header in front.
fn from_network_header(prog: &Program) -> bool {
    match hooks::spec(prog.hook).context {
        hooks::Context::Netfilter => true,
        hooks::Context::Packet(ctx) => ctx.protocol.is_some(),
        _ => false,
    }
}

/// The length of a frame of `frame_len` bytes as `prog` counts it (in its counters
/// and `limit N bytes/s` buckets): a netfilter or cgroup program sees the packet from
/// its network header on, so without the Ethernet header.
fn counted_len(prog: &Program, frame_len: usize) -> usize {
    if from_network_header(prog) {
        frame_len.saturating_sub(ETH_HLEN)
    } else {
        frame_len
    }
}

/// The frame as `prog`'s hook sees it: from the network header at cgroup hooks
/// ([`decode_network`]), the whole frame elsewhere.
fn decode_for(prog: &Program, frame: &[u8]) -> Headers {
    match hooks::spec(prog.hook).context {
        hooks::Context::Packet(ctx) if ctx.protocol.is_some() => decode_network(frame),
        _ => decode(frame),
    }
}

/// Evaluates one frame against one program.
pub fn evaluate(module: &Module, prog: &Program, frame: &[u8], facts: &Facts) -> Evaluation {
    evaluate_rules(
        module,
        prog,
        decode_for(prog, frame),
        facts,
        Some(frame),
        0..prog.rules.len(),
    )
}

/// Evaluates one socket lookup against an sk_lookup program.
pub fn evaluate_lookup(
    module: &Module,
    prog: &Program,
    lookup: &Lookup,
    facts: &Facts,
) -> Evaluation {
    evaluate_headers(module, prog, lookup.headers(), facts)
}

/// Evaluates one socket call against a program of a `cgroup connect|sendmsg|bind`
/// block (the program of the call's family: a call to an IPv4-mapped address goes
/// through the IPv6 program).
pub fn evaluate_call(module: &Module, prog: &Program, call: &Call, facts: &Facts) -> Evaluation {
    evaluate_headers(module, prog, call.headers(), facts)
}

/// Where a call the evaluation `e` of `call` lets go on goes: its own address, or the
/// target a `redirect ... to ADDRESS[:PORT]` wrote (`None` for a refused call).
pub fn call_destination(call: &Call, e: &Evaluation) -> Option<SocketAddr> {
    match e.outcome {
        Outcome::Verdict(Verdict::Drop) => None,
        Outcome::Redirect(Action::RedirectCall(t)) => Some(t.rewrite(call.proto, call.to)),
        _ => Some(call.to),
    }
}

/// [`evaluate`] trying only the rules `index` (made for `prog`) says can match the
/// frame: the same answer, for many packets against a large program.
pub fn evaluate_indexed(
    module: &Module,
    prog: &Program,
    index: &RuleIndex,
    frame: &[u8],
    facts: &Facts,
) -> Evaluation {
    let headers = decode_for(prog, frame);
    let rules = index.candidates(&headers);
    evaluate_rules(module, prog, headers, facts, Some(frame), rules)
}

fn evaluate_headers(
    module: &Module,
    prog: &Program,
    headers: Headers,
    facts: &Facts,
) -> Evaluation {
    evaluate_rules(module, prog, headers, facts, None, 0..prog.rules.len())
}

/// First match wins among `rules` (indices into the program's rules, ascending);
/// `frame` is what a `reject` answers (none for a socket lookup).
fn evaluate_rules(
    module: &Module,
    prog: &Program,
    headers: Headers,
    facts: &Facts,
    frame: Option<&[u8]>,
    rules: impl Iterator<Item = usize>,
) -> Evaluation {
    let mut counted = Vec::new();
    let len = counted_len(prog, headers.len) as u64;
    for i in rules {
        let rule = &prog.rules[i];
        if !rule_matches(module, rule, &headers, facts) || !limit_fits(prog, i, facts, len) {
            continue;
        }
        let outcome = match rule.action {
            Action::Count => {
                counted.push(i);
                continue;
            }
            Action::Allow => Outcome::Verdict(Verdict::Allow),
            Action::Drop => Outcome::Verdict(Verdict::Drop),
            Action::Pass => Outcome::Verdict(Verdict::Pass),
            // docs/language.md: a redirect to a socket with nothing registered drops
            // (and counts), so traffic never reaches whatever else is bound there.
            Action::Redirect(Some(sock)) if !facts.registered.contains(&sock) => {
                return Evaluation {
                    headers,
                    decider: Decider::Rule(i),
                    outcome: Outcome::Verdict(Verdict::Drop),
                    counted,
                    socket_drop: Some(socket_drop_slot(sock.index(), false)),
                    answer_limited: false,
                };
            }
            redirect @ (Action::Redirect(_)
            | Action::RedirectIngress(_)
            | Action::RedirectCall(_)) => Outcome::Redirect(redirect),
            Action::Reject(with) => {
                let answer = match frame {
                    Some(f) => reject::answer(f, with, prog.hook == HookKind::Xdp),
                    None => reject::Answer::Dropped("no frame to answer"),
                };
                let limited = matches!(answer, reject::Answer::Unreachable { .. })
                    && module.answers_limited_in(prog)
                    && (facts.over_limit || facts.answers_over);
                return Evaluation {
                    headers,
                    decider: Decider::Rule(i),
                    outcome: Outcome::Reject(if limited {
                        reject::Answer::Dropped(reject::LIMITED)
                    } else {
                        answer
                    }),
                    counted,
                    socket_drop: None,
                    answer_limited: limited,
                };
            }
        };
        return Evaluation {
            headers,
            decider: Decider::Rule(i),
            outcome,
            counted,
            socket_drop: None,
            answer_limited: false,
        };
    }
    Evaluation {
        headers,
        decider: Decider::Default,
        outcome: Outcome::Verdict(prog.default),
        counted,
        socket_drop: None,
        answer_limited: false,
    }
}

/// The index of the packet's device `dir` ([`index_of`]).
fn device_index(facts: &Facts, dir: Dir) -> u32 {
    match dir {
        Dir::In => index_of(facts.iif.as_ref(), facts.iif_index),
        Dir::Out => index_of(facts.oif.as_ref(), facts.oif_index),
    }
}

/// `len` is the packet's length as the program counts it ([`counted_len`]).
fn rule_matches(module: &Module, rule: &Rule, h: &Headers, facts: &Facts) -> bool {
    packet_matches(module, &rule.m, h)
        && rule
            .m
            .ct
            .is_none_or(|states| ct_state(h, facts).is_some_and(|s| states.contains(s)))
        && rule
            .m
            .route
            .is_none_or(|c| facts.route.unwrap_or(RouteClass::Local) == c)
        && rule
            .m
            .rare()
            .iif
            .as_ref()
            .is_none_or(|m| m.matches(facts.iif.as_ref(), device_index(facts, Dir::In)))
        && rule
            .m
            .rare()
            .oif
            .as_ref()
            .is_none_or(|m| m.matches(facts.oif.as_ref(), device_index(facts, Dir::Out)))
        && rule.m.rare().mark.is_none_or(|m| m.matches(facts.mark))
        && (rule.m.rare().ct_entry.as_ref()).is_none_or(|t| t.matches(ct_entry(h, facts).as_ref()))
        && rule
            .m
            .rare()
            .owner
            .as_ref()
            .is_none_or(|o| o.matches(owner_of(o, facts)))
        && rule.m.rare().cgroup.as_ref().is_none_or(|c| {
            c.matches(
                &named_cgroup(&c.cgroup, facts.cgroup_root.as_deref()),
                facts.cgroup.as_deref(),
            )
        })
        && rule
            .m
            .rare()
            .comm
            .as_ref()
            .is_none_or(|c| c.matches(&facts.comm))
        && rule
            .cond
            .is_none_or(|c| has_ports(h) && condition_holds(c, facts))
}

/// The directory a `cgroup` match names (a path, or `unit:NAME` under `root`, by
/// default `/sys/fs/cgroup`), as the runtime finds it.
pub fn named_cgroup(cgroup: &str, root: Option<&str>) -> String {
    use sockc_compiler::hooks::unit;
    match unit::of_attach(cgroup) {
        Some(name) => {
            let root = root.unwrap_or("/sys/fs/cgroup").trim_end_matches('/');
            match unit::cgroup_path(name) {
                rest if rest.is_empty() => root.to_string(),
                rest => format!("{root}/{rest}"),
            }
        }
        None => cgroup.to_string(),
    }
}

/// The packet's owner of the kind `o` tests.
fn owner_of(o: &sockc_compiler::syntax::owner::OwnerMatch, facts: &Facts) -> Option<u32> {
    match o.kind() {
        sockc_compiler::syntax::ids::IdKind::Uid => facts.uid,
        sockc_compiler::syntax::ids::IdKind::Gid => facts.gid,
    }
}

/// Whether rule `i`'s `limit` (if any) matches: a packet fits a full bucket when its
/// cost is within the depth, and no bucket the facts say is out of room (all, or
/// this rule's by its key and ordinal among the program's rules with that key).
fn limit_fits(prog: &Program, i: usize, facts: &Facts, len: u64) -> bool {
    use sockc_compiler::syntax::limit_fact::BucketKey;
    let Some(l) = prog.rules[i].m.limit() else {
        return true;
    };
    let key = BucketKey::new(l.bucket, l.limit.per_source);
    let named = || {
        let nth = prog.rules[..=i]
            .iter()
            .filter(|r| {
                r.m.limit()
                    .is_some_and(|m| BucketKey::new(m.bucket, m.limit.per_source) == key)
            })
            .count() as u32;
        facts.over.iter().any(|o| o.names(key, nth))
    };
    let empty = facts.over_limit || (!facts.over.is_empty() && named());
    let fits = !empty && l.bucket.cost_of(len) <= l.bucket.depth;
    fits != l.limit.over
}

/// The connection-tracking state of an IP packet (`None` for any other frame): the
/// fact given, or without one the state of a packet conntrack has no entry for.
/// The packet's conntrack entry: `facts.ct_entry` when its state says it has one.
pub fn ct_entry(h: &Headers, facts: &Facts) -> Option<sockc_compiler::syntax::ct_entry::CtEntry> {
    let tracked = matches!(
        ct_state(h, facts),
        Some(CtState::New | CtState::Established | CtState::Related)
    );
    tracked.then_some(facts.ct_entry)
}

pub fn ct_state(h: &Headers, facts: &Facts) -> Option<CtState> {
    let ip = h.ip.as_ref()?;
    Some(facts.ct.unwrap_or_else(|| {
        let (complete, flags, ty) = match ip.l4 {
            L4Fields::Absent => (false, 0, 0),
            L4Fields::Ports { tcp_flags, .. } => (true, tcp_flags.unwrap_or(0), 0),
            L4Fields::Icmp { ty, .. } => (true, 0, ty),
        };
        without_entry(ip.proto, complete, flags, ty)
    }))
}

/// A socket is looked up by its ports, so a condition needs a complete TCP or UDP
/// header: a packet without one (truncated, a later fragment) matches no conditioned
/// rule, whatever the socket table holds.
fn has_ports(h: &Headers) -> bool {
    h.ip.as_ref()
        .is_some_and(|ip| matches!(ip.l4, L4Fields::Ports { .. }))
}

fn condition_holds(c: SockCond, facts: &Facts) -> bool {
    match c {
        SockCond::Exists => facts.socket != SocketState::None,
        SockCond::NoSocket => facts.socket == SocketState::None,
        SockCond::Listening => facts.socket == SocketState::Listening,
        SockCond::Established => facts.socket == SocketState::Established,
    }
}

/// The packet part of a rule, straight from the language reference.
/// The value of an IP header field in a packet's header.
fn field_value(ip: &IpHeader, field: sockc_compiler::syntax::ipfield::Field) -> u32 {
    use sockc_compiler::syntax::ipfield::Field;
    match field {
        Field::Ttl | Field::HopLimit => u32::from(ip.ttl),
        Field::Dscp => u32::from(ip.tos >> 2),
        Field::Ecn => u32::from(ip.tos & 3),
        Field::Length => ip.length,
    }
}

pub fn packet_matches(module: &Module, m: &RuleMatch, h: &Headers) -> bool {
    // The frame: its EtherType (after at most one VLAN tag) and its outer tag.
    if m.rare().ether_type.is_some_and(|t| h.ether_type != Some(t))
        || m.rare().vlan.is_some_and(|v| h.vlan != Some(v))
    {
        return false;
    }
    // Any other match: IP packets with a complete header only. A rule with no other
    // match matches every frame, IP or not (for IP packets every test below passes).
    let Some(ip) = &h.ip else {
        return m.tests_only_frame();
    };
    if m.family.is_some_and(|f| f != ip.family()) || m.proto.is_some_and(|p| p != ip.proto) {
        return false;
    }
    if m.frag && !ip.fragment {
        return false;
    }
    // IP header fields: the rule's family (which sema sets from the field) has already
    // said whose header it is.
    if !m
        .rare()
        .fields
        .iter()
        .all(|t| t.matches(field_value(ip, t.field)))
    {
        return false;
    }
    if !address_matches(module, &m.src, ip.src) || !address_matches(module, &m.dst, ip.dst) {
        return false;
    }
    if m.sport != PortMatch::Any || m.dport != PortMatch::Any {
        // Ports exist only for complete TCP and UDP headers; a port match without a
        // protocol therefore means TCP or UDP.
        let L4Fields::Ports { sport, dport, .. } = ip.l4 else {
            return false;
        };
        if !port_matches(&m.sport, sport) || !port_matches(&m.dport, dport) {
            return false;
        }
    }
    if let Some((mask, value)) = m.tcp_flags {
        let L4Fields::Ports {
            tcp_flags: Some(flags),
            ..
        } = ip.l4
        else {
            return false;
        };
        if flags & mask != value {
            return false;
        }
    }
    if m.icmp_type.is_some() || m.icmp_code.is_some() {
        let L4Fields::Icmp { ty, code } = ip.l4 else {
            return false;
        };
        if m.icmp_type.is_some_and(|t| t != ty) || m.icmp_code.is_some_and(|c| c != code) {
            return false;
        }
    }
    true
}

/// A literal prefix contains the address (a prefix of the other family never does);
/// a set matches when any element of the address's family contains it.
fn address_matches(module: &Module, a: &AddrMatch, addr: IpAddr) -> bool {
    match a {
        AddrMatch::Any => true,
        AddrMatch::Prefix(net) => contains(net, addr),
        AddrMatch::Set(id) => {
            let set = &module.sets[*id];
            match addr {
                IpAddr::V4(a) => set.v4.iter().any(|n| contains(&IpNet::V4(*n), a.into())),
                IpAddr::V6(a) => set.v6.iter().any(|n| contains(&IpNet::V6(*n), a.into())),
            }
        }
    }
}

/// Whether the prefix holds the address: the first `prefix_len` bits of both are equal.
/// What `IpNet::contains` says, without working out the network and mask on every
/// call (the evaluator asks this for every rule of a 100,000-rule program for every
/// packet).
fn contains(net: &IpNet, addr: IpAddr) -> bool {
    let high_bits_equal = |a: u128, b: u128, width: u32, len: u8| {
        len == 0 || (a ^ b) >> (width - u32::from(len)) == 0
    };
    match (net, addr) {
        (IpNet::V4(n), IpAddr::V4(a)) => high_bits_equal(
            u32::from(n.addr()).into(),
            u32::from(a).into(),
            32,
            n.prefix_len(),
        ),
        (IpNet::V6(n), IpAddr::V6(a)) => {
            high_bits_equal(n.addr().into(), a.into(), 128, n.prefix_len())
        }
        _ => false,
    }
}

fn port_matches(p: &PortMatch, port: u16) -> bool {
    match p {
        PortMatch::Any => true,
        PortMatch::Ranges(ranges) => ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse_packet;

    fn program(src: &str) -> Module {
        let (c, diags) = sockc_compiler::compile(src, &Default::default());
        assert!(c.is_some(), "{diags:?}");
        c.unwrap().module
    }

    /// (decider line, verdict, counted rule lines) for a packet.
    fn run(module: &Module, packet: &str) -> (usize, Outcome, Vec<usize>) {
        let prog = module.programs.values().next().unwrap();
        let frame = parse_packet(packet).unwrap().build();
        let e = evaluate(module, prog, &frame, &Facts::default());
        let counted = e.counted.iter().map(|&i| prog.rules[i].line).collect();
        (e.line(prog), e.outcome, counted)
    }

    /// The evaluator's prefix test says what `IpNet::contains` says, for prefixes of
    /// every length (host bits set or not) and addresses of both families.
    #[test]
    fn contains_is_ipnet_contains() {
        let mut rng = crate::rng::Rng::seeded(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next();
        for _ in 0..20_000 {
            let (a, b) = (u128::from(next()) << 64 | u128::from(next()), next());
            // An address equal to the prefix's, or one bit off.
            let flip = (1u128 << (next() % 128)) * u128::from(next() % 2);
            let near = |v: u128| v ^ flip;
            let cases: [(IpNet, IpAddr); 3] = [
                (
                    IpNet::new(std::net::Ipv4Addr::from(a as u32).into(), (b % 33) as u8).unwrap(),
                    std::net::Ipv4Addr::from(near(a) as u32).into(),
                ),
                (
                    IpNet::new(std::net::Ipv6Addr::from(a).into(), (b % 129) as u8).unwrap(),
                    std::net::Ipv6Addr::from(near(a)).into(),
                ),
                (
                    IpNet::new(std::net::Ipv6Addr::from(a).into(), (b % 129) as u8).unwrap(),
                    std::net::Ipv4Addr::from(a as u32).into(),
                ),
            ];
            for (net, addr) in cases {
                assert_eq!(contains(&net, addr), net.contains(&addr), "{net} {addr}");
            }
        }
    }

    const ALLOW: Outcome = Outcome::Verdict(Verdict::Allow);
    const DROP: Outcome = Outcome::Verdict(Verdict::Drop);

    #[test]
    fn first_match_wins_and_count_goes_on() {
        let m = program(
            "xdp on eth0 {\n\
             count tcp\n\
             drop tcp to 10.0.0.0/8:22\n\
             allow tcp to 10.0.0.0/8\n\
             count udp\n\
             default drop\n}\n",
        );
        assert_eq!(run(&m, "tcp 1.2.3.4:5 -> 10.1.1.1:22"), (3, DROP, vec![2]));
        assert_eq!(run(&m, "tcp 1.2.3.4:5 -> 10.1.1.1:23"), (4, ALLOW, vec![2]));
        assert_eq!(run(&m, "udp 1.2.3.4:5 -> 10.1.1.1:22"), (6, DROP, vec![5]));
    }

    #[test]
    fn sets_match_per_family_and_ports_need_tcp_or_udp() {
        let m = program(
            "set s = { 10.0.0.0/8, 2001:db8::/32 }\n\
             xdp on eth0 {\n\
             drop from @s to *:53\n\
             default allow\n}\n",
        );
        assert_eq!(run(&m, "udp 10.9.9.9:1 -> 1.1.1.1:53").0, 3);
        assert_eq!(run(&m, "tcp [2001:db8::1]:1 -> [::1]:53").0, 3);
        assert_eq!(run(&m, "udp 11.0.0.1:1 -> 1.1.1.1:53").0, 4);
        assert_eq!(run(&m, "icmp 10.0.0.1 -> 1.1.1.1").0, 4);
        assert_eq!(run(&m, "udp 10.0.0.1:1 -> 1.1.1.1:53 frag 3").0, 4);
    }

    #[test]
    fn an_empty_rule_matches_non_ip_frames_but_any_does_not() {
        let m = program("xdp on eth0 {\ncount any\ncount\ndefault drop\n}\n");
        let prog = m.programs.values().next().unwrap();
        let arp = [0u8; 60];
        let mut arp = arp.to_vec();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let e = evaluate(&m, prog, &arp, &Facts::default());
        assert_eq!(e.counted, vec![1]);
        assert_eq!(e.counter_slots(prog), vec![1, 2]);
        assert_eq!(e.return_code(prog), Some(1)); // XDP_DROP
    }

    #[test]
    fn flags_and_icmp_fields() {
        let m = program(
            "xdp on eth0 {\n\
             drop tcp syn !ack\n\
             drop icmp type echo-request code 0\n\
             default allow\n}\n",
        );
        assert_eq!(run(&m, "tcp 1.1.1.1:1 -> 2.2.2.2:2 syn").0, 2);
        assert_eq!(run(&m, "tcp 1.1.1.1:1 -> 2.2.2.2:2 syn ack").0, 4);
        assert_eq!(run(&m, "icmp 1.1.1.1 -> 2.2.2.2 type 8 code 0").0, 3);
        assert_eq!(run(&m, "icmp 1.1.1.1 -> 2.2.2.2 type 8 code 1").0, 4);
        assert_eq!(run(&m, "icmpv6 ::1 -> ::2 type 8 code 0").0, 4);
    }

    #[test]
    fn socket_conditions_follow_the_facts() {
        for (cond, holds_for) in [
            (SockCond::Exists, [false, true, true, true]),
            (SockCond::NoSocket, [true, false, false, false]),
            (SockCond::Listening, [false, true, false, false]),
            (SockCond::Established, [false, false, true, false]),
        ] {
            for (state, want) in SocketState::ALL.into_iter().zip(holds_for) {
                let facts = Facts {
                    socket: state,
                    ..Facts::default()
                };
                assert_eq!(condition_holds(cond, &facts), want);
            }
        }
    }

    /// A byte limit takes the packet as the program counts it: the whole frame at
    /// XDP, the packet from its IP header on at a netfilter hook. A burst one byte
    /// short of the frame holds the packet at netfilter and not at XDP.
    #[test]
    fn a_byte_limit_counts_what_the_hook_sees() {
        let packet = "udp 10.0.0.1:5 -> 10.0.0.2:53";
        let frame_len = parse_packet(packet).unwrap().build().len();
        let rule = format!("allow udp limit 1000 bytes/s burst {} bytes", frame_len - 1);
        for (head, fits) in [("xdp on eth0", false), ("netfilter input", true)] {
            let m = program(&format!("{head} {{\n{rule}\ndefault drop\n}}\n"));
            let want = if fits { (2, ALLOW) } else { (3, DROP) };
            let (line, outcome, _) = run(&m, packet);
            assert_eq!((line, outcome), want, "{head}: a {frame_len}-byte frame");
        }
    }
}
