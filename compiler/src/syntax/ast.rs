//! The abstract syntax tree: what the user wrote, with a byte span on every node.
//!
//! Values are already decoded (addresses, prefixes, numbers in range) but nothing is
//! resolved: names stay names. Invariant: every node's span lies inside the source it
//! was parsed from, so any later diagnostic can point at it.

use ipnet::IpNet;

use crate::diag::Span;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug)]
pub enum Item {
    Set(SetDecl),
    Socket(SocketDecl),
    /// `reject answers ...`: a limit of the file's `reject` answers.
    Answers(AnswersDecl),
    Residual(ResidualDecl),
    Hook(HookBlock),
}

/// `reject answers RATE [burst N] [per destination]` or `reject answers unlimited
/// [per destination]`.
#[derive(Clone, Debug)]
pub struct AnswersDecl {
    /// A rate (`Setting::Rate`) or `Setting::Unlimited`, as written (checked in sema).
    pub setting: super::answers::Setting,
    pub per_destination: bool,
    pub span: Span,
}

/// `residual FORMAT file "PATH" mark BIT`: the netfilter ruleset an import left beside
/// this file's netfilter blocks (read by sema relative to the rule file, as set files
/// are).
#[derive(Clone, Debug)]
pub struct ResidualDecl {
    pub format: super::mark::ResidualFormat,
    pub path: String,
    pub path_span: Span,
    pub mark: u32,
    pub mark_span: Span,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct SetDecl {
    pub name: Ident,
    pub body: SetBody,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum SetBody {
    /// Inline `{ a, b, c }`.
    List(Vec<SetElem>),
    /// `file "path"`: one address or prefix per line, read by sema relative to the
    /// rule file.
    File { path: String, span: Span },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetElem {
    Prefix(IpNet, Span),
    Ports(u16, u16, Span),
}

impl SetElem {
    pub fn span(&self) -> Span {
        match self {
            SetElem::Prefix(_, s) | SetElem::Ports(_, _, s) => *s,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockProto {
    Tcp,
    Udp,
}

impl SockProto {
    /// The IP protocol number (`IPPROTO_TCP`, `IPPROTO_UDP`).
    pub const fn number(self) -> u8 {
        match self {
            SockProto::Tcp => 6,
            SockProto::Udp => 17,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            SockProto::Tcp => "tcp",
            SockProto::Udp => "udp",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SocketDecl {
    pub name: Ident,
    pub proto: SockProto,
    pub addr: Option<(std::net::IpAddr, u16)>,
    /// `cgroup "PATH"`: the cgroup whose processes' listening sockets on `addr` are
    /// registered when they listen (sk_lookup, TCP only).
    pub cgroup: Option<(String, Span)>,
    /// `owner uid|gid|user|group ...`: who may own a socket registered for it.
    pub owner: Option<super::ids::IdMatch>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookHead {
    Xdp {
        iface: String,
    },
    Tc {
        egress: bool,
        iface: String,
    },
    SkLookup,
    /// `sockmap [send|receive] cgroup "PATH"`: `receive` is the sk_skb side.
    Sockmap {
        cgroup: String,
        receive: bool,
    },
    /// `netfilter HOOK [priority N]`: `priority` as written (sema checks its range).
    Netfilter {
        hook: NfHook,
        priority: Option<i64>,
    },
    /// `cgroup ingress|egress "PATH"`: packets the cgroup's sockets receive or send;
    /// `cgroup ingress|egress unit "NAME"` names a systemd unit's cgroup, and its
    /// `path` is then [`UNIT_PREFIX`] and the name (`crate::hooks::unit`).
    Cgroup {
        egress: bool,
        path: String,
    },
    /// `cgroup connect|sendmsg|bind "PATH"`: the socket calls of the cgroup's
    /// processes (both address families).
    CgroupCall {
        call: SockCall,
        path: String,
    },
}

/// The socket call a `cgroup connect|sendmsg|bind` block decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockCall {
    /// `connect()` of any inet socket (TCP, UDP, ping).
    Connect,
    /// `sendmsg()`/`sendto()` of an unconnected UDP socket, to the address it names.
    Sendmsg,
    /// `bind()` of any inet socket.
    Bind,
}

/// What starts the attach text of a cgroup block that names a systemd unit: no path
/// starts so (a cgroup path starts with `/`).
pub const UNIT_PREFIX: &str = "unit:";

/// The netfilter hook a `netfilter` block attaches at (`enum nf_inet_hooks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NfHook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl NfHook {
    /// As written after `netfilter`.
    pub fn from_word(w: &str) -> Option<NfHook> {
        Some(match w {
            "prerouting" => NfHook::Prerouting,
            "input" => NfHook::Input,
            "forward" => NfHook::Forward,
            "output" => NfHook::Output,
            "postrouting" => NfHook::Postrouting,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct HookBlock {
    pub head: HookHead,
    /// The block header, e.g. `xdp on eth0`.
    pub head_span: Span,
    pub stmts: Vec<Stmt>,
    pub span: Span,
    /// False when the `}` never came (the parser reported it; the block runs to the
    /// end of the file or to the next block head, and is not reported again for what
    /// it may lack, such as its `default`).
    pub closed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Drop,
    Pass,
}

#[derive(Clone, Debug)]
pub enum Stmt {
    /// `default VERDICT [log [N/s]]`: the verdict, the statement's span, and `log`.
    Default(Verdict, Span, Option<(Option<u32>, Span)>),
    Rule(Rule),
    /// A declaration written inside a block: the parser reported it; sema declares it
    /// all the same, so its uses are not reported too.
    Decl(Decl),
    /// A `default` line that did not parse (reported): the block is not reported
    /// again for lacking a default.
    BadDefault(Span),
}

#[derive(Clone, Debug)]
pub enum Decl {
    Set(SetDecl),
    Socket(SocketDecl),
    Answers(AnswersDecl),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKw {
    Allow,
    Drop,
    Count,
    Pass,
    Redirect,
    Reject,
}

#[derive(Clone, Debug)]
pub enum Target {
    Sock(Ident),
    Local(Span),
    /// `redirect ... to ADDRESS[:PORT]` (socket-call blocks): the rule's last
    /// `to ENDPOINT`, taken as its target by sema (`sema::redirect`).
    Addr(Endpoint),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockCond {
    Exists,
    NoSocket,
    Listening,
    Established,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub action: ActionKw,
    pub action_span: Span,
    pub matches: Vec<Match>,
    pub cond: Option<(SockCond, Span)>,
    /// Boxed: few rules have one, and a `Target` inline made every statement ~100
    /// bytes larger where it is moved from the scanner to sema.
    pub target: Option<Box<Target>>,
    /// `ingress` after `to sock NAME`: deliver into the socket's receive queue
    /// instead of sending out of it (sockmap blocks).
    pub ingress: Option<Span>,
    /// `log [N/s]`: the packets this rule decides go to `sockc trace`, at most N per
    /// second per CPU (`None`: the default rate).
    pub log: Option<(Option<u32>, Span)>,
    /// `with tcp-reset`, `with icmp NAME`: what a `reject` answers with.
    pub reject_with: Option<(super::reject::RejectWith, Span)>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

#[derive(Clone, Debug)]
pub enum Match {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `proto N`; `None` is `any`. The flag says the
    /// protocol was written as a number (`proto 1`), which the rule's family reads
    /// (`ip6 proto 1`: an IPv6 packet whose next header is 1), where a name keeps the
    /// rule to its own family (`icmp` is IPv4's).
    Proto(Option<u8>, Span, bool),
    Family(Family, Span),
    Src(Endpoint),
    Dst(Endpoint),
    /// A TCP flag that must be set (or clear when `negated`).
    Flag {
        bit: u8,
        negated: bool,
        span: Span,
    },
    IcmpType(IcmpType, Span),
    IcmpCode(u8, Span),
    /// `frag`: a fragment (IPv4 MF or offset, IPv6 fragment header).
    Frag(Span),
    /// `arp` (0x0806) or `ether type N`: the EtherType after at most one VLAN tag.
    EtherType(u16, Span),
    /// `vlan N`: the VLAN id (0 to 4095) of the frame's outer 802.1Q/802.1ad tag.
    Vlan(u16, Span),
    /// `ct state NAME[,NAME...]`: the packet's connection-tracking state.
    CtState(super::ct::CtStates, Span),
    /// `ct status ...`, `ct direction ...`, `ct mark ...`: the packet's conntrack entry.
    CtEntry(super::ct_entry::CtEntryTest, Span),
    /// `limit N/UNIT ...`: the packet fits a token bucket (see `syntax::limit`).
    Limit(super::limit::Limit, Span),
    /// `route local|forward`: where the host's routing sends the packet.
    Route(super::route::RouteClass, Span),
    /// `mark VALUE[/MASK]`: the packet's mark, masked, equals the value.
    Mark(super::mark::MarkTest, Span),
    /// `in on [!]NAME[,NAME...]` / `out on ...`: the packet's device, by name (each
    /// name as written, with its span; checked in sema).
    /// With `index`, `in index N,...`: the names are the indexes' digits.
    Iface {
        dir: super::iface::Dir,
        negated: bool,
        index: bool,
        names: Vec<(String, Span)>,
        span: Span,
    },
    /// `ttl ...`, `hoplimit ...`: an IP header field compared with numbers.
    IpField(super::ipfield::FieldTest, Span),
    /// `owner [!]uid|gid|user|group ...`: who owns the socket that sent the packet
    /// (with `!`: anyone else, or no one).
    Owner {
        ids: super::ids::IdMatch,
        negated: bool,
        span: Span,
    },
    /// `cgroup [!]"PATH"`, `cgroup [!]unit "NAME"`: the packet's socket (the calling
    /// process at socket-call hooks) is in that cgroup or one below it (with `!`: in
    /// another one). `cgroup` is written as a block head's attach text is: the path,
    /// or [`UNIT_PREFIX`] and the unit's name.
    Cgroup {
        cgroup: String,
        negated: bool,
        /// The path or unit name as written (the string's span).
        at: Span,
        span: Span,
    },
    /// `comm [!]"NAME"`, `comm [!]{ "A", "B" }`: the command name of the process making
    /// a socket call (each name as written, with its span; checked in sema).
    Comm {
        names: Vec<(String, Span)>,
        negated: bool,
        span: Span,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IcmpType {
    Number(u8),
    /// A symbolic name, resolved per family in sema.
    Name(String),
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: AddrSpec,
    pub port: Option<PortSpec>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum AddrSpec {
    Any(Span),
    Prefix(IpNet, Span),
    Set(Ident),
}

#[derive(Clone, Debug)]
pub enum PortSpec {
    Any(Span),
    Range(u16, u16, Span),
    Set(Ident),
}

impl PortSpec {
    pub fn span(&self) -> Span {
        match self {
            PortSpec::Any(s) | PortSpec::Range(_, _, s) => *s,
            PortSpec::Set(i) => i.span,
        }
    }
}

impl AddrSpec {
    pub fn span(&self) -> Span {
        match self {
            AddrSpec::Any(s) | AddrSpec::Prefix(_, s) => *s,
            AddrSpec::Set(i) => i.span,
        }
    }
}

/// The EtherTypes the language names: `ether type ip|ip6|arp|vlan`, and `arp`.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// 802.1Q: what `ether type vlan` names; a frame carries it after a second tag (QinQ).
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

const ETHER_NAMES: [(&str, u16); 4] = [
    ("ip", ETHERTYPE_IPV4),
    ("ip6", ETHERTYPE_IPV6),
    ("arp", ETHERTYPE_ARP),
    ("vlan", ETHERTYPE_VLAN),
];

/// The EtherType of a name the grammar accepts (`ether_name`).
pub fn ether_type_by_name(name: &str) -> u16 {
    ETHER_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, v)| *v)
}

/// How a rule writes an EtherType: its name, or `0x` and four hex digits.
pub fn ether_type_text(v: u16) -> String {
    match ETHER_NAMES.iter().find(|(_, x)| *x == v) {
        Some((n, _)) => n.to_string(),
        None => format!("{v:#06x}"),
    }
}
