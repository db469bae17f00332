//! What a syntax error says. Given the line that did not parse, where pest stopped and
//! what it tried there, it names the word or character found (NUL bytes, a byte-order
//! mark and other invisible characters by name), maps words from nftables and
//! iptables to sockc's (`accept` → `allow`, `dport 22` → `to *:22`), suggests the
//! nearest keyword for a typo (`dorp` → `drop`), and otherwise lists what was
//! expected — only the alternatives that fit what the line already says (no ICMP
//! `type` after `tcp`, no second protocol).
//!
//! Invariant: user text reaches a message only through [`quote`] (bounded, invisible
//! characters escaped), and a message lists at most [`MAX_EXPECTED`] alternatives.

use super::grammar::Rule;
use crate::diag::{char_name, is_invisible, quote};

/// Most alternatives an "expected ..." list names.
const MAX_EXPECTED: usize = 6;

/// A syntax error as a message, a help, and how many bytes the label covers.
pub(super) struct Explained {
    pub message: String,
    pub help: Option<String>,
    /// Where the label starts, in bytes after the error's position (a character
    /// inside a word is pointed at, not the word).
    pub skip: usize,
    pub len: usize,
}

/// One kind of thing the grammar may expect at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alt {
    Action,
    Default,
    Verdict,
    Protocol,
    Family,
    From,
    To,
    Flag,
    IcmpType,
    IcmpCode,
    Address,
    Port,
    Number,
    Condition,
    SocketCondition,
    KwSocket,
    KwExists,
    Target,
    Name,
    Str,
    Iface,
    Set,
    SocketDecl,
    SetElem,
    File,
    SetList,
    SockProto,
    SockAddr,
    Hook,
    On,
    TcDir,
    /// After `cgroup` in a block head: a socket call.
    CgroupCall,
    Cgroup,
    KwIngress,
    SockmapSide,
    SocketCgroup,
    SocketOwner,
    /// `comm "NAME"` (socket-call blocks).
    Comm,
    IdKind,
    CtMatch,
    CtName,
    RejectKind,
    Rate,
    TimeUnit,
    RouteName,
    Answers,
    AnswersRate,
    PerDestination,
    EndOfLine,
}

impl Alt {
    fn of(r: Rule) -> Option<Alt> {
        Some(match r {
            Rule::action => Alt::Action,
            Rule::kw_default => Alt::Default,
            Rule::verdict => Alt::Verdict,
            Rule::proto | Rule::proto_name | Rule::kw_proto => Alt::Protocol,
            Rule::family => Alt::Family,
            Rule::from | Rule::kw_from => Alt::From,
            Rule::to | Rule::kw_to => Alt::To,
            Rule::tcp_flag | Rule::flag_name | Rule::negate => Alt::Flag,
            Rule::icmp_type | Rule::kw_type => Alt::IcmpType,
            Rule::icmp_code | Rule::kw_code => Alt::IcmpCode,
            Rule::endpoint | Rule::any_addr | Rule::set_ref | Rule::prefix4 | Rule::prefix6 => {
                Alt::Address
            }
            Rule::port | Rule::any_port | Rule::port_set | Rule::port_range | Rule::port_num => {
                Alt::Port
            }
            Rule::number => Alt::Number,
            Rule::condition | Rule::kw_if => Alt::Condition,
            Rule::socket_exists | Rule::no_socket | Rule::listening | Rule::established => {
                Alt::SocketCondition
            }
            Rule::kw_socket => Alt::KwSocket,
            Rule::kw_exists => Alt::KwExists,
            Rule::target | Rule::local_target | Rule::kw_sock => Alt::Target,
            Rule::kw_ingress => Alt::KwIngress,
            Rule::sockmap_side => Alt::SockmapSide,
            Rule::socket_cgroup => Alt::SocketCgroup,
            Rule::socket_owner | Rule::kw_owner => Alt::SocketOwner,
            Rule::comm_match | Rule::kw_comm => Alt::Comm,
            Rule::id_match | Rule::id_num_kind | Rule::id_name_kind => Alt::IdKind,
            Rule::id_value => Alt::Number,
            Rule::id_name => Alt::Str,
            Rule::ident => Alt::Name,
            Rule::string => Alt::Str,
            Rule::iface => Alt::Iface,
            Rule::set_decl | Rule::kw_set => Alt::Set,
            Rule::socket_decl => Alt::SocketDecl,
            Rule::set_elem => Alt::SetElem,
            Rule::set_file | Rule::kw_file => Alt::File,
            Rule::set_list => Alt::SetList,
            Rule::sock_proto => Alt::SockProto,
            Rule::sock_addr => Alt::SockAddr,
            Rule::hook_block
            | Rule::xdp_head
            | Rule::tc_head
            | Rule::sk_lookup_head
            | Rule::sockmap_head
            | Rule::netfilter_head
            | Rule::cgroup_head => Alt::Hook,
            Rule::kw_on => Alt::On,
            Rule::tc_dir | Rule::cgroup_dir => Alt::TcDir,
            Rule::cgroup_call => Alt::CgroupCall,
            Rule::kw_cgroup => Alt::Cgroup,
            // Like `ether` and `vlan`, `ct` is not listed where any match may follow (it
            // would push out the likelier ones); only once `ct` is written.
            Rule::kw_state => Alt::CtMatch,
            Rule::ct_name => Alt::CtName,
            // `with` is an option like `log` (not listed); what follows it is.
            Rule::reject_reset | Rule::kw_icmp | Rule::reject_icmp => Alt::RejectKind,
            Rule::byte_unit => Alt::Rate,
            Rule::time_unit => Alt::TimeUnit,
            Rule::route_name => Alt::RouteName,
            Rule::answers_decl | Rule::kw_reject => Alt::Answers,
            Rule::kw_answers | Rule::answers_unlimited => Alt::AnswersRate,
            Rule::per_destination | Rule::kw_destination => Alt::PerDestination,
            // `log` is an option, never what a broken rule most likely misses: not
            // listed, so it does not push the likely alternatives out of the message.
            Rule::EOI => Alt::EndOfLine,
            _ => return None,
        })
    }

    /// How a message names it.
    fn name(self) -> &'static str {
        match self {
            Alt::Action => "an action (allow, drop, count, pass, redirect, reject)",
            Alt::Default => "`default`",
            Alt::Verdict => "a verdict (allow, drop, pass)",
            Alt::Protocol => "a protocol (tcp, udp, icmp, icmpv6, any, proto N)",
            Alt::Family => "ip4 or ip6",
            Alt::From => "`from`",
            Alt::To => "`to`",
            Alt::Flag => "a TCP flag (syn, ack, fin, rst, psh, urg, ece, cwr)",
            Alt::IcmpType => "`type`",
            Alt::IcmpCode => "`code`",
            Alt::CtMatch => "`ct state`",
            Alt::CtName => "a conntrack state (new, established, related, invalid, untracked)",
            Alt::RejectKind => {
                "what to reject with (tcp-reset, icmp admin-prohibited|host-unreachable|net-unreachable|port-unreachable)"
            }
            Alt::Rate => "a rate (`10/second`, `1 mbytes/second`)",
            Alt::TimeUnit => "a time unit (second, s, minute, hour, day)",
            Alt::RouteName => "a route class (local, forward)",
            Alt::Address => "an address (1.2.3.0/24, 2001:db8::/32, [2001:db8::1]:53, @set or *)",
            Alt::Port => "a port (53, 1024-65535, @set or *)",
            Alt::Number => "a number",
            Alt::Condition => "`if` (socket exists, no socket, listening, established)",
            Alt::SocketCondition => {
                "a socket condition (socket exists, no socket, listening, established)"
            }
            Alt::KwSocket => "`socket`",
            Alt::KwExists => "`exists`",
            Alt::Target => "a redirect target (to sock NAME, local)",
            Alt::KwIngress => "`ingress`",
            Alt::SockmapSide => "send or receive",
            Alt::SocketCgroup => "`cgroup \"PATH\"`",
            Alt::SocketOwner => "`owner` (uid N, gid N, user \"NAME\", group \"NAME\")",
            Alt::Comm => "`comm \"NAME\"`",
            Alt::IdKind => "uid, gid, user or group",
            Alt::Name => "a name",
            Alt::Str => "a quoted string",
            Alt::Iface => "an interface name",
            Alt::Set => "`set`",
            Alt::SocketDecl => "`socket`",
            Alt::SetElem => "a set element (an address, prefix, port or port range)",
            Alt::File => "`file`",
            Alt::SetList => "`{`",
            Alt::SockProto => "tcp or udp",
            Alt::SockAddr => "an address with a port",
            Alt::Hook => {
                "a hook block (xdp on IF, tc ingress|egress on IF, sk_lookup, sockmap [send|receive] cgroup \"PATH\", netfilter HOOK, cgroup ingress|egress|connect|sendmsg|bind \"PATH\")"
            }
            Alt::On => "`on`",
            Alt::TcDir => "ingress or egress",
            Alt::CgroupCall => "connect, sendmsg or bind",
            Alt::Cgroup => "`cgroup`",
            Alt::Answers => "`reject answers`",
            Alt::AnswersRate => "`answers` and a rate (`100/second`) or `unlimited`",
            Alt::PerDestination => "`per destination`",
            Alt::EndOfLine => "end of line",
        }
    }

    /// The keywords it stands for, for "did you mean".
    fn keywords(self) -> &'static [&'static str] {
        match self {
            Alt::Action => &["allow", "drop", "count", "pass", "redirect", "reject"],
            Alt::Default => &["default"],
            Alt::Verdict => &["allow", "drop", "pass"],
            Alt::Protocol => &["tcp", "udp", "icmp", "icmpv6", "any", "proto"],
            Alt::Family => &["ip4", "ip6"],
            Alt::From => &["from"],
            Alt::To => &["to"],
            Alt::Flag => &["syn", "ack", "fin", "rst", "psh", "urg", "ece", "cwr"],
            Alt::IcmpType => &["type"],
            Alt::IcmpCode => &["code"],
            Alt::CtMatch => &["ct"],
            Alt::CtName => &["new", "established", "related", "invalid", "untracked"],
            Alt::Rate => &["bytes", "kbytes", "mbytes"],
            Alt::TimeUnit => &["second", "s", "minute", "hour", "day"],
            Alt::RouteName => &["local", "forward"],
            Alt::Condition => &["if"],
            Alt::SocketCondition => &["socket", "no", "listening", "established"],
            Alt::KwSocket | Alt::SocketDecl => &["socket"],
            Alt::KwExists => &["exists"],
            Alt::Target => &["to", "local"],
            Alt::Set => &["set"],
            Alt::File => &["file"],
            Alt::SockProto => &["tcp", "udp"],
            Alt::Hook => &["xdp", "tc", "sk_lookup", "sockmap", "netfilter", "cgroup"],
            Alt::On => &["on"],
            Alt::TcDir => &["ingress", "egress"],
            Alt::CgroupCall => &["connect", "sendmsg", "bind"],
            Alt::Cgroup | Alt::SocketCgroup => &["cgroup"],
            Alt::SocketOwner => &["owner"],
            Alt::Comm => &["comm"],
            Alt::IdKind => &["uid", "gid", "user", "group"],
            Alt::KwIngress => &["ingress"],
            Alt::SockmapSide => &["send", "receive"],
            Alt::Answers => &["reject"],
            Alt::AnswersRate => &["answers", "unlimited"],
            Alt::PerDestination => &["per", "destination"],
            Alt::RejectKind => &[
                "tcp-reset",
                "icmp",
                "admin-prohibited",
                "host-unreachable",
                "net-unreachable",
                "port-unreachable",
            ],
            _ => &[],
        }
    }
}

/// What the line says before the error, as far as it narrows what may follow.
#[derive(Default)]
struct Seen<'a> {
    action: Option<&'a str>,
    proto: Option<&'a str>,
    family: bool,
    from: bool,
    to: bool,
    condition: bool,
}

impl<'a> Seen<'a> {
    fn of(before: &'a str) -> Self {
        let mut s = Seen::default();
        for (i, w) in before.split_ascii_whitespace().enumerate() {
            match w {
                "allow" | "drop" | "count" | "pass" | "redirect" | "reject" if i == 0 => {
                    s.action = Some(w)
                }
                "tcp" | "udp" | "icmp" | "icmpv6" | "any" | "proto" => s.proto = Some(w),
                "ip4" | "ip6" => s.family = true,
                "from" => s.from = true,
                "to" => s.to = true,
                "if" => s.condition = true,
                _ => {}
            }
        }
        s
    }

    /// Whether `alt` could still follow without making the rule contradict itself.
    fn fits(&self, alt: Alt) -> bool {
        let proto = self.proto.unwrap_or("");
        match alt {
            Alt::Protocol => self.proto.is_none(),
            Alt::Family => !self.family,
            Alt::From => !self.from,
            Alt::To => !self.to,
            Alt::Condition => !self.condition,
            Alt::Flag => matches!(proto, "" | "tcp" | "any"),
            Alt::IcmpType | Alt::IcmpCode => matches!(proto, "" | "icmp" | "icmpv6" | "any"),
            Alt::Target => matches!(self.action, None | Some("redirect")),
            _ => true,
        }
    }
}

/// Words of nftables, iptables and pf that users type first, with what to write in
/// sockc instead.
const FOREIGN_WORDS: &[(&str, &str)] = &[
    ("accept", "sockc says `allow` (and `default allow`)"),
    ("permit", "sockc says `allow`"),
    ("deny", "sockc says `drop`"),
    ("block", "sockc says `drop`"),
    ("discard", "sockc says `drop`"),
    ("counter", "sockc says `count` (it counts and goes on; every rule has its own counters too, see `sockc stats`)"),
    ("log", "sockc does not log; every rule has packet and byte counters (`sockc stats`), and `count` counts and goes on"),
    ("dport", "write the destination port after the address: `to *:22`, `to 10.0.0.0/8:1024-65535`"),
    ("sport", "write the source port after the address: `from *:53`"),
    ("saddr", "write `from ADDRESS`"),
    ("daddr", "write `to ADDRESS`"),
    ("src", "write `from ADDRESS`"),
    ("dst", "write `to ADDRESS`"),
    ("ip", "write `ip4` or `ip6`, or no family at all: a rule without one applies to both"),
    ("ipv4", "write `ip4`"),
    ("ipv6", "write `ip6`"),
    ("inet", "leave the family out: a rule without one applies to IPv4 and IPv6"),
    ("ct", "sockc has no connection tracker; it asks the kernel's socket table: `if established`, `if listening`, `if socket exists`, `if no socket`"),
    ("state", "write `if established` (the kernel's socket table, see docs/language.md)"),
    ("established", "socket conditions start with `if`: `if established`"),
    ("listening", "socket conditions start with `if`: `if listening`"),
    ("policy", "write `default allow` or `default drop` as the block's last line"),
    ("jump", "sockc has no chains: rules run top to bottom and the first match decides"),
    ("goto", "sockc has no chains: rules run top to bottom and the first match decides"),
    ("return", "sockc has no chains: rules run top to bottom and the first match decides"),
    ("continue", "`count` is the rule that goes on after matching"),
    ("iifname", "write `in on eth0` (netfilter blocks; an xdp or tc block's interface is its `on eth0`)"),
    ("oifname", "write `out on eth0` (netfilter blocks; a tc egress block's interface is its `on eth0`)"),
    ("iif", "write `in on eth0`, which matches the name (netfilter blocks; an xdp or tc block's interface is its `on eth0`)"),
    ("oif", "write `out on eth0`, which matches the name (netfilter blocks; a tc egress block's interface is its `on eth0`)"),
    ("flags", "write the TCP flag names: `syn`, `!ack`"),
    ("icmp-type", "write `type N` or a type name: `icmp type echo-request`"),
    ("icmp_type", "write `type N` or a type name: `icmp type echo-request`"),
    ("icmpv6-type", "write `type N` or a type name: `icmpv6 type echo-request`"),
    ("all", "write `any` (or leave the protocol out)"),
    ("hl", "write `hoplimit N` (the IPv6 hop limit; `ttl N` for IPv4)"),
    ("hop-limit", "write `hoplimit N` (the IPv6 hop limit; `ttl N` for IPv4)"),
    ("tos", "write `dscp N` or `ecn N` (the TOS byte's two fields, IPv4 and IPv6)"),
];

/// iptables options and what to write instead.
const IPTABLES_OPTIONS: &[(&str, &str)] = &[
    (
        "-p",
        "write the protocol as a word: `tcp`, `udp`, `proto 47`",
    ),
    (
        "--protocol",
        "write the protocol as a word: `tcp`, `udp`, `proto 47`",
    ),
    ("-s", "write `from ADDRESS`"),
    ("--source", "write `from ADDRESS`"),
    ("-d", "write `to ADDRESS`"),
    ("--destination", "write `to ADDRESS`"),
    (
        "--dport",
        "write the destination port after the address: `to *:22`",
    ),
    (
        "--sport",
        "write the source port after the address: `from *:53`",
    ),
    ("-j", "the action comes first: `allow ...`, `drop ...`"),
    ("--jump", "the action comes first: `allow ...`, `drop ...`"),
    (
        "-i",
        "write `in on eth0` (netfilter blocks; an xdp or tc block's interface is its `on eth0`)",
    ),
    (
        "-o",
        "write `out on eth0` (netfilter blocks; a tc egress block's interface is its `on eth0`)",
    ),
    (
        "-m",
        "sockc has no match modules; see docs/language.md for what a rule can match",
    ),
    (
        "-A",
        "sockc has no chains: write the rule inside a hook block",
    ),
    (
        "-I",
        "sockc has no chains: write the rule inside a hook block",
    ),
    ("--tcp-flags", "write the TCP flag names: `syn`, `!ack`"),
    ("--syn", "write `syn !ack`"),
    ("--ttl-eq", "write `ttl N` (`ttl != N` for `! --ttl-eq N`)"),
    ("--ttl-lt", "write `ttl < N`"),
    ("--ttl-gt", "write `ttl > N`"),
    (
        "--hl-eq",
        "write `hoplimit N` (`hoplimit != N` for `! --hl-eq N`)",
    ),
    ("--hl-lt", "write `hoplimit < N`"),
    ("--hl-gt", "write `hoplimit > N`"),
    ("--dscp", "write `dscp N` (`dscp != N` for `! --dscp N`)"),
    (
        "--dscp-class",
        "write `dscp NAME` in lower case: `dscp af41`, `dscp ef`",
    ),
    (
        "--ecn-ip-ect",
        "write `ecn N` (0 to 3, or not-ect, ect1, ect0, ce)",
    ),
];

/// Well-known service names users write for ports.
const SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("dns", 53),
    ("domain", 53),
    ("http", 80),
    ("pop3", 110),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("smtps", 465),
    ("submission", 587),
    ("imaps", 993),
    ("mysql", 3306),
    ("rdp", 3389),
    ("postgres", 5432),
    ("postgresql", 5432),
];

/// Characters that look like ASCII ones, from word processors and web pages.
const LOOKALIKES: &[(char, &str)] = &[
    ('\u{2018}', "'"),
    ('\u{2019}', "'"),
    ('\u{201c}', "\""),
    ('\u{201d}', "\""),
    ('\u{2010}', "-"),
    ('\u{2011}', "-"),
    ('\u{2012}', "-"),
    ('\u{2013}', "-"),
    ('\u{2014}', "-"),
    ('\u{2212}', "-"),
    ('\u{a0}', " "),
    ('\u{ff1a}', ":"),
    ('\u{2192}', "->"),
    // Cyrillic and Greek letters that look like Latin ones (`allоw` with a Cyrillic о).
    ('\u{430}', "a"),
    ('\u{435}', "e"),
    ('\u{43e}', "o"),
    ('\u{440}', "p"),
    ('\u{441}', "c"),
    ('\u{443}', "y"),
    ('\u{445}', "x"),
    ('\u{455}', "s"),
    ('\u{456}', "i"),
    ('\u{458}', "j"),
    ('\u{4bb}', "h"),
    ('\u{501}', "d"),
    ('\u{410}', "A"),
    ('\u{412}', "B"),
    ('\u{415}', "E"),
    ('\u{41a}', "K"),
    ('\u{41c}', "M"),
    ('\u{41d}', "H"),
    ('\u{41e}', "O"),
    ('\u{420}', "P"),
    ('\u{421}', "C"),
    ('\u{422}', "T"),
    ('\u{425}', "X"),
    ('\u{3b1}', "a"),
    ('\u{3bf}', "o"),
    ('\u{3bd}', "v"),
    ('\u{3b9}', "i"),
    ('\u{39f}', "O"),
];

/// The nearest keyword to `word` among `candidates`, if it is a likely typo:
/// different case only, or one edit (two for words of five letters or more), a swap
/// of two neighbours counting as one.
fn nearest<'k>(word: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let lower = word.to_ascii_lowercase();
    let max = if word.len() >= 5 { 2 } else { 1 };
    candidates
        .iter()
        .map(|&k| (strsim::osa_distance(&lower, k), k))
        .filter(|&(d, _)| d <= max)
        .min()
        .map(|(_, k)| k)
}

/// The alternatives pest tried, in its order, without repeats, keeping those that fit.
fn expected(positives: &[Rule], seen: &Seen<'_>) -> Vec<Alt> {
    let mut alts: Vec<Alt> = Vec::new();
    for a in positives.iter().filter_map(|&r| Alt::of(r)) {
        if !alts.contains(&a) && seen.fits(a) {
            alts.push(a);
        }
    }
    alts
}

fn list(alts: &[Alt]) -> String {
    let names: Vec<&str> = alts.iter().take(MAX_EXPECTED).map(|a| a.name()).collect();
    let mut out = match names.len() {
        0 => String::new(),
        1 => names[0].to_string(),
        n => format!("{}, or {}", names[..n - 1].join(", "), names[n - 1]),
    };
    if alts.len() > MAX_EXPECTED {
        out.push_str(&format!(" (or {} more)", alts.len() - MAX_EXPECTED));
    }
    out
}

/// Explains a syntax error at byte `pos` of `text` (one line or statement), where pest
/// tried `positives`.
pub(super) fn explain(text: &str, pos: usize, positives: &[Rule]) -> Explained {
    let pos = pos.min(text.len());
    let seen = Seen::of(&text[..pos]);
    let alts = expected(positives, &seen);
    let expected_text = if alts.is_empty() {
        String::new()
    } else {
        format!("expected {}", list(&alts))
    };
    let rest = &text[pos..];
    // A statement may run over several lines (a set's list): a line break where
    // something else was expected is the end of the line, not an odd character.
    let Some(c) = rest.chars().next().filter(|c| !matches!(c, '\n' | '\r')) else {
        return Explained {
            message: format!(
                "syntax error: {}",
                if expected_text.is_empty() {
                    "unexpected end of line".to_string()
                } else {
                    format!("{expected_text} at the end of the line")
                }
            ),
            help: None,
            skip: 0,
            len: 0,
        };
    };
    if is_invisible(c) || !c.is_ascii() {
        return odd_character(c);
    }
    if c == '-' && rest[1..].starts_with(|c: char| c == '-' || c.is_ascii_alphabetic()) {
        if let Some(x) = iptables_option(rest) {
            return x;
        }
    }
    if c.is_ascii_alphabetic() || c == '_' {
        return odd_character_in_word(rest).unwrap_or_else(|| word(rest, &alts, expected_text));
    }
    let message = if expected_text.is_empty() {
        format!("unexpected `{}`", quote(&c.to_string()))
    } else {
        expected_text
    };
    syntax_error(message, None, c.len_utf8())
}

fn syntax_error(message: String, help: Option<String>, len: usize) -> Explained {
    Explained {
        message: format!("syntax error: {message}"),
        help,
        skip: 0,
        len,
    }
}

/// A word (`rest` starts with a letter) cut short by a character no rule takes — a
/// Cyrillic `о` in `allоw`, a zero-width space in `al\u{200b}low` — is that
/// character's error, at its own place, not "unexpected word `all`"; the help spells
/// the whole word with the lookalikes replaced and the invisible characters removed
/// when that makes it ASCII.
fn odd_character_in_word(rest: &str) -> Option<Explained> {
    let at = word_len(rest);
    let c = rest[at..].chars().next()?;
    // A space or a tab ends a word; only what no word holds is named here.
    let odd = (is_invisible(c) || !c.is_ascii()) && !c.is_whitespace();
    if !odd {
        return None;
    }
    let mut x = odd_character(c);
    x.skip = at;
    let token_len = rest
        .find(|ch: char| ch.is_whitespace() || ";{}(),\"#".contains(ch))
        .unwrap_or(rest.len());
    let token = &rest[..token_len];
    let mut fixed = String::new();
    for ch in token.chars().filter(|&ch| !is_invisible(ch)) {
        match LOOKALIKES.iter().find(|(l, _)| *l == ch) {
            Some((_, ascii)) => fixed.push_str(ascii),
            None => fixed.push(ch),
        }
    }
    if fixed.is_ascii() && fixed != token && !fixed.is_empty() {
        x.help = Some(format!("did you mean `{}`?", quote(&fixed)));
    }
    Some(x)
}

/// Bytes of the word `s` starts with (letters, digits, `_`, `-`).
fn word_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(s.len())
}

/// A character no rule takes: named, with what to do instead.
fn odd_character(c: char) -> Explained {
    let help = match c {
        '\u{feff}' => "save the file as UTF-8 without a byte-order mark".to_string(),
        c => match LOOKALIKES.iter().find(|(l, _)| *l == c) {
            Some((_, ascii)) => format!("did you mean `{ascii}`?"),
            None if c.is_control() || is_invisible(c) => {
                "remove it: rule files are plain text".to_string()
            }
            None => "outside comments and quoted names, rule files are ASCII".to_string(),
        },
    };
    syntax_error(
        format!("unexpected character: {}", char_name(c)),
        Some(help),
        c.len_utf8(),
    )
}

/// `rest` starts with `-` and a letter or a second `-`: an iptables option, if it is
/// one.
fn iptables_option(rest: &str) -> Option<Explained> {
    let len = 1 + word_len(&rest[1..]);
    let word = &rest[..len];
    let (_, help) = IPTABLES_OPTIONS.iter().find(|(o, _)| *o == word)?;
    Some(syntax_error(
        format!(
            "`{}` is an iptables option; sockc rules are words",
            quote(word)
        ),
        Some(help.to_string()),
        len,
    ))
}

/// A word where `alts` may come: a service name for a port, a keyword in the wrong
/// case or a near miss of one, a word of nftables or iptables, or just unexpected.
fn word(rest: &str, alts: &[Alt], expected_text: String) -> Explained {
    let len = word_len(rest);
    let word = &rest[..len];
    let lower = word.to_ascii_lowercase();
    let keywords: Vec<&str> = alts.iter().flat_map(|a| a.keywords()).copied().collect();
    if let Some(&(_, port)) = SERVICES.iter().find(|(s, _)| *s == lower) {
        if alts.contains(&Alt::Port) {
            return syntax_error(
                format!("`{}` is a service name; ports are numbers", quote(word)),
                Some(format!("`{lower}` is port {port}: write `{port}`")),
                len,
            );
        }
    }
    // A keyword in the wrong case, or a near miss of one that may come here.
    if let Some(k) = nearest(word, &keywords) {
        let message = if k == lower {
            format!("`{}`: keywords are lower case", quote(word))
        } else {
            format!("unknown word `{}`", quote(word))
        };
        return syntax_error(message, Some(format!("did you mean `{k}`?")), len);
    }
    if lower == "reject" && alts.contains(&Alt::Verdict) {
        return syntax_error(
            format!("`{}` is not a default: a block's default is allow, drop or pass", quote(word)),
            Some(
                "to reject what no rule decides, end the block with the rule `reject` (it matches every IP packet) before `default drop`"
                    .to_string(),
            ),
            len,
        );
    }
    if let Some((_, help)) = FOREIGN_WORDS.iter().find(|(w, _)| *w == lower) {
        return syntax_error(
            format!("unexpected word `{}`", quote(word)),
            Some(help.to_string()),
            len,
        );
    }
    let message = if expected_text.is_empty() {
        format!("unexpected word `{}`", quote(word))
    } else {
        format!("unexpected word `{}`: {expected_text}", quote(word))
    };
    syntax_error(message, None, len)
}
