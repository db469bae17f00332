//! pest pairs → AST: the [`Builder`] both parse paths share (the pest path for a
//! whole file, and the fast scanner for what it hands to pest), and the token decoders
//! the scanner uses too (prefixes, verdicts, protocol names, TCP flags), so both paths
//! accept and refuse exactly the same texts. The grammar's recovery rules (`bad_*`,
//! `unclosed_block`, `misplaced_decl`) become diagnostics here ([`super::hints`] says
//! what each syntax error means).
//!
//! Invariant: every node gets the span of its pair, moved by the base of the text pest
//! parsed, so spans always index the whole file.

use std::net::IpAddr;

use ipnet::IpNet;
use pest::{iterators::Pair, Parser};

use super::{
    ast::*,
    grammar::{Rule, SockcParser},
    hints,
};
use crate::diag::{quote, Diagnostic, Sink, Span};

/// scanner's hand-overs) get their spans moved by `base`.
pub(super) struct Builder {
    pub(super) diags: Sink,
    base: usize,
    /// Items and statements parsed by pest for the fast scanner (tests watch it).
    pub(super) handovers: usize,
}

/// diagnostic pointing at the exact spot and saying what was found there.
pub(super) fn pest_error(
    e: &pest::error::Error<Rule>,
    base: usize,
    text: &str,
    code: &'static str,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p.min(text.len()),
    };
    let (message, help, skip, len) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            // Failing on its first token, a line rule is reported as itself: say what
            // may start it instead.
            let starts: Vec<Rule> = positives
                .iter()
                .flat_map(|r| match r {
                    Rule::rule_line => vec![Rule::action, Rule::kw_default],
                    Rule::item_line | Rule::file => {
                        vec![Rule::set_decl, Rule::socket_decl, Rule::hook_block]
                    }
                    Rule::head_line => vec![Rule::hook_block],
                    r => vec![*r],
                })
                .collect();
            let x = hints::explain(text, pos, &starts);
            (x.message, x.help, x.skip, x.len)
        }
        ErrorVariant::CustomError { message } => (format!("syntax error: {message}"), None, 0, 1),
    };
    let pos = (pos + skip).min(text.len());
    // A label of at least one byte where there is one (at the end of the text pest
    // points one past it; keep spans inside it).
    let end = (pos + len.max(1)).min(text.len());
    let mut d =
        Diagnostic::error(code, message).label(Span::new(base + pos, base + end.max(pos)), "here");
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

impl Builder {
    pub(super) fn new(max_diagnostics: usize) -> Self {
        Builder {
            diags: Sink::new(max_diagnostics),
            base: 0,
            handovers: 0,
        }
    }

    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }

    /// Parses one top-level item at `src[pos..]` with pest, as `file` would there, and
    /// adds it to `items`. Returns where the item ends, or `None` when no item parses
    /// there (then the whole file is an error).
    pub(super) fn item_at(
        &mut self,
        src: &str,
        pos: usize,
        items: &mut Vec<Item>,
    ) -> Option<usize> {
        let pair = SockcParser::parse(Rule::item_entry, &src[pos..])
            .ok()?
            .next()?
            .into_inner()
            .next()?;
        let end = pos + pair.as_span().end();
        self.handovers += 1;
        self.base = pos;
        self.item(pair, items);
        self.base = 0;
        Some(end)
    }

    /// Parses one statement of a hook block at `src[pos..]` with pest, as `hook_block`
    /// would there, and adds it to `stmts`. Returns where the statement ends.
    pub(super) fn stmt_at(
        &mut self,
        src: &str,
        pos: usize,
        stmts: &mut Vec<Stmt>,
    ) -> Option<usize> {
        let pair = SockcParser::parse(Rule::stmt_entry, &src[pos..])
            .ok()?
            .next()?
            .into_inner()
            .next()?;
        let end = pos + pair.as_span().end();
        self.handovers += 1;
        self.base = pos;
        self.stmt(pair, stmts);
        self.base = 0;
        Some(end)
    }

    fn err(&mut self, code: &'static str, msg: impl Into<String>, at: Span, label: &str) {
        self.diags
            .push(Diagnostic::error(code, msg).label(at, label.to_string()));
    }

    /// Re-parses a line that the recovering grammar skipped, to report what was
    /// expected there. (Past the diagnostics limit the line is only counted: the
    /// re-parse is the costly part.)
    fn bad_line(&mut self, pair: Pair<'_, Rule>, line_rule: Rule) {
        if !self.diags.has_room(crate::diag::Severity::Error) {
            self.diags.count(crate::diag::Severity::Error);
            return;
        }
        let sp = self.span(&pair);
        let text = pair.as_str();
        match SockcParser::parse(line_rule, text) {
            Err(e) => self
                .diags
                .push(pest_error(&e, sp.start, text, "sockc::syntax")),
            // Parses on its own but not in context, e.g. a rule outside a hook block.
            Ok(_) => {
                let what = match line_rule {
                    Rule::item_line => {
                        "expected a declaration (`set`, `socket`) or a hook block here"
                    }
                    Rule::head_line => "this block head is not followed by its block",
                    _ => "this line is not a rule",
                };
                self.err("sockc::syntax", format!("syntax error: {what}"), sp, "here");
            }
        }
    }

    pub(super) fn file(&mut self, pair: Pair<'_, Rule>) -> File {
        let mut items = Vec::new();
        for p in pair.into_inner() {
            self.item(p, &mut items);
        }
        File { items }
    }

    fn item(&mut self, p: Pair<'_, Rule>, items: &mut Vec<Item>) {
        match p.as_rule() {
            Rule::set_decl => {
                if let Some(s) = self.set_decl(p) {
                    items.push(Item::Set(s));
                }
            }
            Rule::socket_decl => {
                if let Some(s) = self.socket_decl(p) {
                    items.push(Item::Socket(s));
                }
            }
            Rule::hook_block => items.push(Item::Hook(self.hook_block(p, true))),
            Rule::unclosed_block => {
                let block = self.hook_block(p.clone(), false);
                self.unclosed(&p, &block);
                items.push(Item::Hook(block));
            }
            Rule::bad_block => {
                // The head says nothing usable; the statements are still checked
                // (their syntax), but they belong to no hook.
                let mut stmts = Vec::new();
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::bad_head => self.bad_line(q, Rule::head_line),
                        _ => self.stmt(q, &mut stmts),
                    }
                }
                for st in stmts {
                    if let Stmt::Decl(d) = st {
                        items.push(match d {
                            Decl::Set(s) => Item::Set(s),
                            Decl::Socket(s) => Item::Socket(s),
                        });
                    }
                }
            }
            Rule::bad_item => {
                // A rule written outside any hook block is a common slip.
                if SockcParser::parse(Rule::rule_line, p.as_str().trim()).is_ok() {
                    let sp = self.span(&p);
                    self.err(
                        "sockc::rule-outside-hook",
                        "rule outside a hook block",
                        sp,
                        "this rule is not inside `xdp on IF { ... }` or another hook block",
                    );
                } else {
                    self.bad_line(p, Rule::item_line);
                }
            }
            _ => {}
        }
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn string(p: Pair<'_, Rule>) -> String {
        p.into_inner()
            .next()
            .map(|i| i.as_str().to_string())
            .unwrap_or_default()
    }

    fn set_decl(&mut self, pair: Pair<'_, Rule>) -> Option<SetDecl> {
        let sp = self.span(&pair);
        let mut name = None;
        let mut body = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(p)),
                Rule::set_file => {
                    let s = p.into_inner().find(|q| q.as_rule() == Rule::string)?;
                    let fsp = self.span(&s);
                    body = Some(SetBody::File {
                        path: Self::string(s),
                        span: fsp,
                    });
                }
                Rule::set_list => {
                    let mut elems = Vec::new();
                    for e in p.into_inner().filter(|q| q.as_rule() == Rule::set_elem) {
                        if let Some(el) = self.set_elem(e) {
                            elems.push(el);
                        }
                    }
                    body = Some(SetBody::List(elems));
                }
                _ => {}
            }
        }
        Some(SetDecl {
            name: name?,
            body: body?,
            span: sp,
        })
    }

    fn set_elem(&mut self, pair: Pair<'_, Rule>) -> Option<SetElem> {
        let inner = pair.into_inner().next()?;
        let sp = self.span(&inner);
        match inner.as_rule() {
            Rule::prefix4 | Rule::prefix6 => Some(SetElem::Prefix(self.prefix(&inner)?, sp)),
            Rule::port_range => {
                let (lo, hi) = self.port_range(inner)?;
                Some(SetElem::Ports(lo, hi, sp))
            }
            Rule::port_num => {
                let n = self.port_number(inner)?;
                Some(SetElem::Ports(n, n, sp))
            }
            _ => None,
        }
    }

    fn socket_decl(&mut self, pair: Pair<'_, Rule>) -> Option<SocketDecl> {
        let sp = self.span(&pair);
        let mut name = None;
        let mut proto = SockProto::Tcp;
        let mut addr = None;
        let mut cgroup = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(p)),
                Rule::socket_cgroup => {
                    let span = self.span(&p);
                    if let Some(s) = p.into_inner().find(|q| q.as_rule() == Rule::string) {
                        cgroup = Some((Self::string(s), span));
                    }
                }
                Rule::sock_proto => {
                    proto = if p.as_str().starts_with("udp") {
                        SockProto::Udp
                    } else {
                        SockProto::Tcp
                    }
                }
                Rule::sock_addr => {
                    let mut ip = None;
                    let mut port = None;
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::ipv4 | Rule::ipv6 => match q.as_str().parse::<IpAddr>() {
                                Ok(a) => ip = Some(a),
                                Err(_) => self.err(
                                    "sockc::bad-address",
                                    format!("`{}` is not a valid IP address", q.as_str()),
                                    self.span(&q),
                                    "not an address",
                                ),
                            },
                            Rule::port_num => port = self.port_number(q),
                            _ => {}
                        }
                    }
                    if let (Some(ip), Some(port)) = (ip, port) {
                        addr = Some((ip, port));
                    }
                }
                _ => {}
            }
        }
        Some(SocketDecl {
            name: name?,
            proto,
            addr,
            cgroup,
            span: sp,
        })
    }

    /// Reports a block whose `}` never came, at its head and where it was cut.
    fn unclosed(&mut self, pair: &Pair<'_, Rule>, block: &HookBlock) {
        let input = pair.get_input();
        let local_end = pair.as_span().end();
        // Point at the next block's first word, past the blanks before it.
        let blanks =
            input[local_end..].len() - input[local_end..].trim_start_matches([' ', '\t']).len();
        let cut = self.base + local_end + blanks;
        let at_end = local_end + blanks >= input.len();
        let head_text = &input[block.head_span.start - self.base..block.head_span.end - self.base];
        self.diags.push(
            Diagnostic::error(
                "sockc::unclosed-block",
                format!("the block `{}` is never closed", quote(head_text.trim())),
            )
            .label(block.head_span, "this block's `{` has no matching `}`")
            .label(
                Span::new(cut, cut),
                if at_end {
                    "the file ends here"
                } else {
                    "the next block starts here"
                },
            )
            .help(if at_end {
                "add `}` after the block's last line"
            } else {
                "add `}` after the block's last line, before the next block"
            }),
        );
    }

    fn hook_block(&mut self, pair: Pair<'_, Rule>, closed: bool) -> HookBlock {
        let sp = self.span(&pair);
        let mut head = HookHead::SkLookup;
        let mut head_span = sp;
        let mut stmts = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::xdp_head
                | Rule::tc_head
                | Rule::sk_lookup_head
                | Rule::sockmap_head
                | Rule::netfilter_head => {
                    head_span = self.span(&p);
                    head = self.hook_head(p);
                }
                _ => self.stmt(p, &mut stmts),
            }
        }
        HookBlock {
            head,
            head_span,
            stmts,
            span: sp,
            closed,
        }
    }

    fn stmt(&mut self, p: Pair<'_, Rule>, stmts: &mut Vec<Stmt>) {
        match p.as_rule() {
            Rule::default_stmt => {
                let s = self.span(&p);
                let inner: Vec<_> = p.into_inner().flatten().collect();
                let v = inner
                    .iter()
                    .find(|q| q.as_rule() == Rule::verdict)
                    .map(|q| verdict(q.as_str()))
                    .unwrap_or(Verdict::Allow);
                let log = match inner.iter().find(|q| q.as_rule() == Rule::log_opt) {
                    Some(l) => {
                        let Some(rate) = self.log_rate(l.clone()) else {
                            return;
                        };
                        Some((rate, self.span(l)))
                    }
                    None => None,
                };
                stmts.push(Stmt::Default(v, s, log));
            }
            Rule::rule_def => {
                if let Some(r) = self.rule(p) {
                    stmts.push(Stmt::Rule(r));
                }
            }
            Rule::misplaced_decl => {
                let sp = self.span(&p);
                for q in p.into_inner() {
                    let (decl, what) = match q.as_rule() {
                        Rule::set_decl => (self.set_decl(q).map(Decl::Set), "set"),
                        Rule::socket_decl => (self.socket_decl(q).map(Decl::Socket), "socket"),
                        _ => continue,
                    };
                    self.diags.push(
                        Diagnostic::error(
                            "sockc::declaration-in-block",
                            format!("a `{what}` declaration inside a hook block"),
                        )
                        .label(sp, "declarations go outside hook blocks")
                        .help("move it above the block (or is the `}` of the block above it missing?)"),
                    );
                    if let Some(d) = decl {
                        stmts.push(Stmt::Decl(d));
                    }
                }
            }
            Rule::bad_stmt => {
                let sp = self.span(&p);
                // A `default` that did not parse still says the block has one.
                let text = p.as_str().as_bytes();
                if text.starts_with(b"default")
                    && !text
                        .get(7)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
                {
                    stmts.push(Stmt::BadDefault(sp));
                }
                self.bad_line(p, Rule::rule_line)
            }
            _ => {}
        }
    }

    fn hook_head(&mut self, pair: Pair<'_, Rule>) -> HookHead {
        let head_rule = pair.as_rule();
        let mut iface = String::new();
        let mut egress = false;
        let mut receive = false;
        let mut nf = (NfHook::Input, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::nf_hook => nf.0 = NfHook::from_word(p.as_str()).unwrap_or(NfHook::Input),
                // Digits past i64 saturate: sema refuses anything outside i32 anyway.
                Rule::nf_priority => {
                    nf.1 = Some(
                        p.as_str()
                            .parse()
                            .unwrap_or(if p.as_str().starts_with('-') {
                                i64::MIN
                            } else {
                                i64::MAX
                            }),
                    )
                }
                Rule::iface => iface = p.as_str().to_string(),
                Rule::string => iface = Self::string(p),
                Rule::tc_dir => egress = p.as_str().starts_with("egress"),
                Rule::sockmap_side => receive = p.as_str().starts_with("receive"),
                _ => {}
            }
        }
        match head_rule {
            Rule::xdp_head => HookHead::Xdp { iface },
            Rule::tc_head => HookHead::Tc { egress, iface },
            Rule::sockmap_head => HookHead::Sockmap {
                cgroup: iface,
                receive,
            },
            Rule::netfilter_head => HookHead::Netfilter {
                hook: nf.0,
                priority: nf.1,
            },
            _ => HookHead::SkLookup,
        }
    }

    fn rule(&mut self, pair: Pair<'_, Rule>) -> Option<Rule_> {
        let sp = self.span(&pair);
        let mut action = None;
        let mut matches = Vec::new();
        let mut cond = None;
        let mut target = None;
        let mut ingress = None;
        let mut log = None;
        let mut reject_with = None;
        for p in pair.into_inner() {
            let psp = self.span(&p);
            match p.as_rule() {
                Rule::action => {
                    let kw = match p.as_str() {
                        "allow" => ActionKw::Allow,
                        "drop" => ActionKw::Drop,
                        "count" => ActionKw::Count,
                        "pass" => ActionKw::Pass,
                        "reject" => ActionKw::Reject,
                        _ => ActionKw::Redirect,
                    };
                    action = Some((kw, psp));
                }
                Rule::condition => cond = Some((Self::condition(p)?, psp)),
                Rule::target => {
                    let (t, i) = self.target(p)?;
                    target = Some(t);
                    ingress = i;
                }
                Rule::log_opt => log = Some((self.log_rate(p)?, psp)),
                Rule::reject_with => reject_with = Some((reject_with_kind(p), psp)),
                _ => {
                    if let Some(m) = self.rule_match(p, psp)? {
                        matches.push(m);
                    }
                }
            }
        }
        let (action, action_span) = action?;
        Some(Rule_ {
            action,
            action_span,
            matches,
            cond,
            target,
            ingress,
            log,
            reject_with,
            span: sp,
        })
    }

    /// One match of a rule (at `psp`); `Some(None)` for a pair that is none.
    fn rule_match(&mut self, p: Pair<'_, Rule>, psp: Span) -> Option<Option<Match>> {
        let m = match p.as_rule() {
            Rule::proto => {
                let inner = p
                    .into_inner()
                    .find(|q| matches!(q.as_rule(), Rule::proto_name | Rule::number))?;
                let proto = if inner.as_rule() == Rule::number {
                    Some(self.number_u8(inner, "protocol number")?)
                } else {
                    proto_by_name(inner.as_str())
                };
                Match::Proto(proto, psp)
            }
            Rule::family => Match::Family(
                if p.as_str() == "ip4" {
                    Family::V4
                } else {
                    Family::V6
                },
                psp,
            ),
            Rule::from => {
                let e = p.into_inner().find(|q| q.as_rule() == Rule::endpoint)?;
                Match::Src(self.endpoint(e)?)
            }
            Rule::to => {
                let e = p.into_inner().find(|q| q.as_rule() == Rule::endpoint)?;
                Match::Dst(self.endpoint(e)?)
            }
            // A bare endpoint is a destination: `redirect 3.3.3.3:* to sock proxy`.
            Rule::endpoint => Match::Dst(self.endpoint(p)?),
            Rule::tcp_flag => {
                let negated = p.as_str().starts_with('!');
                let name = p.into_inner().find(|q| q.as_rule() == Rule::flag_name)?;
                Match::Flag {
                    bit: tcp_flag_bit(name.as_str()),
                    negated,
                    span: psp,
                }
            }
            Rule::icmp_type => {
                let v = p
                    .into_inner()
                    .find(|q| matches!(q.as_rule(), Rule::number | Rule::icmp_type_name))?;
                let t = if v.as_rule() == Rule::number {
                    IcmpType::Number(self.number_u8(v, "ICMP type")?)
                } else {
                    IcmpType::Name(v.as_str().to_string())
                };
                Match::IcmpType(t, psp)
            }
            Rule::icmp_code => {
                let v = p.into_inner().find(|q| q.as_rule() == Rule::number)?;
                Match::IcmpCode(self.number_u8(v, "ICMP code")?, psp)
            }
            Rule::frag => Match::Frag(psp),
            Rule::arp => Match::EtherType(ETHERTYPE_ARP, psp),
            Rule::ether_type => {
                let v = p.into_inner().find(|q| {
                    matches!(
                        q.as_rule(),
                        Rule::hex_number | Rule::number | Rule::ether_name
                    )
                })?;
                Match::EtherType(self.ether_type(v)?, psp)
            }
            Rule::vlan_id => {
                let v = p.into_inner().find(|q| q.as_rule() == Rule::number)?;
                Match::Vlan(self.number(&v, 4095, "VLAN id")? as u16, psp)
            }
            Rule::ct_state => Match::CtState(ct_states(p), psp),
            Rule::limit => Match::Limit(self.limit(p)?, psp),
            Rule::route_class => {
                let name = p.into_inner().find(|q| q.as_rule() == Rule::route_name)?;
                Match::Route(super::route::RouteClass::from_name(name.as_str())?, psp)
            }
            Rule::iface_match => self.iface_match(p, psp),
            _ => return Some(None),
        };
        Some(Some(m))
    }

    /// The socket condition of an `if ...` pair.
    fn condition(p: Pair<'_, Rule>) -> Option<SockCond> {
        let c = p.into_inner().find(|q| {
            matches!(
                q.as_rule(),
                Rule::socket_exists | Rule::no_socket | Rule::listening | Rule::established
            )
        })?;
        Some(match c.as_rule() {
            Rule::socket_exists => SockCond::Exists,
            Rule::no_socket => SockCond::NoSocket,
            Rule::listening => SockCond::Listening,
            _ => SockCond::Established,
        })
    }

    /// A redirect's target, and the span of its `ingress` keyword if it has one.
    fn target(&mut self, p: Pair<'_, Rule>) -> Option<(Target, Option<Span>)> {
        let inner: Vec<_> = p.into_inner().collect();
        let ingress = inner
            .iter()
            .find(|q| q.as_rule() == Rule::kw_ingress)
            .map(|q| self.span(q));
        let t = inner
            .into_iter()
            .find(|q| matches!(q.as_rule(), Rule::ident | Rule::local_target))?;
        let target = if t.as_rule() == Rule::ident {
            Target::Sock(self.ident(t))
        } else {
            Target::Local(self.span(&t))
        };
        Some((target, ingress))
    }

    fn endpoint(&mut self, pair: Pair<'_, Rule>) -> Option<Endpoint> {
        let sp = self.span(&pair);
        let mut addr = None;
        let mut port = None;
        for p in pair.into_inner() {
            let psp = self.span(&p);
            match p.as_rule() {
                Rule::any_addr => addr = Some(AddrSpec::Any(psp)),
                Rule::set_ref => {
                    let id = p.into_inner().next()?;
                    addr = Some(AddrSpec::Set(self.ident(id)));
                }
                Rule::prefix4 | Rule::prefix6 => {
                    addr = Some(AddrSpec::Prefix(self.prefix(&p)?, psp));
                }
                Rule::port => {
                    let inner = p.into_inner().next()?;
                    let isp = self.span(&inner);
                    port = Some(match inner.as_rule() {
                        Rule::any_port => PortSpec::Any(isp),
                        Rule::port_set => {
                            let id = inner.into_inner().next()?;
                            PortSpec::Set(self.ident(id))
                        }
                        Rule::port_range => {
                            let (lo, hi) = self.port_range(inner)?;
                            PortSpec::Range(lo, hi, isp)
                        }
                        _ => {
                            let n = self.port_number(inner)?;
                            PortSpec::Range(n, n, isp)
                        }
                    });
                }
                _ => {}
            }
        }
        Some(Endpoint {
            addr: addr?,
            port,
            span: sp,
        })
    }

    /// An address or prefix. Host bits below the prefix length are an error: the user
    /// almost certainly meant something else (nft says the same).
    fn prefix(&mut self, p: &Pair<'_, Rule>) -> Option<IpNet> {
        let text = p.as_str();
        let sp = self.span(p);
        match decode_prefix(text) {
            Ok(net) => Some(net),
            Err(BadPrefix::Address(addr_text)) => {
                self.err(
                    "sockc::bad-address",
                    format!("`{addr_text}` is not a valid IP address"),
                    sp,
                    "not an address",
                );
                None
            }
            Err(BadPrefix::Length(l, max)) => {
                self.err(
                    "sockc::bad-prefix",
                    format!(
                        "prefix length `/{l}` is out of range: an IPv{} prefix is /0 to /{max}",
                        if max == 32 { 4 } else { 6 }
                    ),
                    sp,
                    "bad prefix length",
                );
                None
            }
            Err(BadPrefix::HostBits(net)) => {
                self.diags.push(
                    Diagnostic::error(
                        "sockc::host-bits",
                        format!(
                            "`{text}` has host bits set below the /{} prefix",
                            net.prefix_len()
                        ),
                    )
                    .label(sp, "host bits set")
                    .help(format!("did you mean `{}`?", net.trunc())),
                );
                None
            }
            Err(BadPrefix::Invalid) => None,
        }
    }

    /// The rate of a `log_opt` (`None`: the default rate), or `None` when its number
    /// is out of range (reported; the statement is dropped).
    fn log_rate(&mut self, log_opt: Pair<'_, Rule>) -> Option<Option<u32>> {
        let Some(r) = log_opt.into_inner().find(|q| q.as_rule() == Rule::log_rate) else {
            return Some(None);
        };
        let n = r.into_inner().find(|q| q.as_rule() == Rule::number)?;
        let v = self.number(&n, 1_000_000, "log rate (per second)")?;
        Some(Some(v as u32))
    }

    fn number(&mut self, p: &Pair<'_, Rule>, max: u64, what: &str) -> Option<u64> {
        match p.as_str().parse::<u64>() {
            Ok(n) if n <= max => Some(n),
            _ => {
                self.err(
                    "sockc::out-of-range",
                    format!("{what} `{}` is out of range (0 to {max})", p.as_str()),
                    self.span(p),
                    "out of range",
                );
                None
            }
        }
    }

    /// A `limit` pair: rates in packets or bytes (`kbytes` are 1024 bytes), the burst
    /// in the rate's own amount (a unit written on it must be a byte unit exactly when
    /// the rate's is).
    fn limit(&mut self, p: Pair<'_, Rule>) -> Option<super::limit::Limit> {
        use super::limit::Limit;
        let mut l = Limit {
            rate: 0,
            bytes: false,
            unit_secs: 1,
            burst: None,
            per_source: false,
            over: false,
        };
        let mut scale = 1;
        let sp = self.span(&p);
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::kw_over => l.over = true,
                Rule::number => l.rate = self.number(&q, u64::MAX, "rate")?,
                Rule::byte_unit => {
                    l.bytes = true;
                    scale = Limit::bytes_of(q.as_str());
                }
                Rule::time_unit => l.unit_secs = Limit::unit_secs_of(q.as_str()),
                Rule::limit_burst => l.burst = Some(self.burst(q, l.bytes)?),
                Rule::per_source => l.per_source = true,
                _ => {}
            }
        }
        l.rate = self.scaled(l.rate, scale, "rate", sp)?;
        Some(l)
    }

    fn burst(&mut self, p: Pair<'_, Rule>, bytes: bool) -> Option<u64> {
        let sp = self.span(&p);
        let mut n = 0;
        let mut unit = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::number => n = self.number(&q, u64::MAX, "burst")?,
                Rule::byte_unit => unit = Some(super::limit::Limit::bytes_of(q.as_str())),
                _ => {}
            }
        }
        if unit.is_some() && !bytes {
            self.err(
                "sockc::limit",
                "a packet limit's burst is a number of packets",
                sp,
                "no byte unit here",
            );
            return None;
        }
        self.scaled(n, unit.unwrap_or(1), "burst", sp)
    }

    fn scaled(&mut self, n: u64, scale: u64, what: &str, sp: Span) -> Option<u64> {
        let scaled = n.checked_mul(scale);
        if scaled.is_none() {
            self.err(
                "sockc::out-of-range",
                format!("the {what} overflows 64 bits in bytes"),
                sp,
                "too large",
            );
        }
        scaled
    }

    /// An EtherType: hexadecimal (`0x88cc`), decimal, or one of the names.
    fn ether_type(&mut self, p: Pair<'_, Rule>) -> Option<u16> {
        match p.as_rule() {
            Rule::ether_name => Some(ether_type_by_name(p.as_str())),
            Rule::number => self.number(&p, 65535, "EtherType").map(|n| n as u16),
            _ => match u16::from_str_radix(&p.as_str()[2..], 16) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err(
                        "sockc::out-of-range",
                        format!("EtherType `{}` is out of range (0x0 to 0xffff)", p.as_str()),
                        self.span(&p),
                        "out of range",
                    );
                    None
                }
            },
        }
    }

    fn number_u8(&mut self, p: Pair<'_, Rule>, what: &str) -> Option<u8> {
        self.number(&p, 255, what).map(|n| n as u8)
    }

    fn port_number(&mut self, p: Pair<'_, Rule>) -> Option<u16> {
        let n = if p.as_rule() == Rule::number {
            p
        } else {
            p.into_inner().next()?
        };
        self.number(&n, 65535, "port").map(|n| n as u16)
    }

    fn port_range(&mut self, p: Pair<'_, Rule>) -> Option<(u16, u16)> {
        let sp = self.span(&p);
        let mut nums = p.into_inner();
        let lo = nums.next()?;
        let hi = nums.next()?;
        let lo = self.number(&lo, 65535, "port")? as u16;
        let hi = self.number(&hi, 65535, "port")? as u16;
        if lo > hi {
            self.err(
                "sockc::empty-range",
                format!("port range {lo}-{hi} is empty: the low end is above the high end"),
                sp,
                "empty range",
            );
            return None;
        }
        Some((lo, hi))
    }
}

type Rule_ = super::ast::Rule;

/// Why the text of a `prefix4`/`prefix6` token is not a usable prefix.
pub(super) enum BadPrefix<'a> {
    /// The address part (given) does not parse.
    Address(&'a str),
    /// The length (given) is above the family's maximum (given).
    Length(&'a str, u8),
    /// Bits are set below the length.
    HostBits(IpNet),
    Invalid,
}

/// Decodes the text of a `prefix4` or `prefix6` token: an address with an optional
/// `/length`. Shared by the pest path and the fast scanner, so both accept and refuse
/// exactly the same texts.
pub(super) fn decode_prefix(text: &str) -> Result<IpNet, BadPrefix<'_>> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| BadPrefix::Address(addr_text))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_text {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(BadPrefix::Length(l, max)),
        },
    };
    let net = IpNet::new(addr, len).map_err(|_| BadPrefix::Invalid)?;
    if net.trunc() != net {
        return Err(BadPrefix::HostBits(net));
    }
    Ok(net)
}

pub(super) fn verdict(s: &str) -> Verdict {
    match s {
        "drop" => Verdict::Drop,
        "pass" => Verdict::Pass,
        _ => Verdict::Allow,
    }
}

/// Protocol numbers of the named protocols (IANA).
pub(crate) fn proto_by_name(s: &str) -> Option<u8> {
    match s {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "icmpv6" => Some(58),
        _ => None,
    }
}

/// TCP header flag bits (RFC 9293, RFC 3168).
pub(crate) fn tcp_flag_bit(s: &str) -> u8 {
    match s {
        "fin" => 0x01,
        "syn" => 0x02,
        "rst" => 0x04,
        "psh" => 0x08,
        "ack" => 0x10,
        "urg" => 0x20,
        "ece" => 0x40,
        _ => 0x80, // cwr
    }
}

/// The kind a `reject_with` pair names (the grammar admits only the known names).
fn reject_with_kind(p: Pair<'_, Rule>) -> super::reject::RejectWith {
    use super::reject::RejectWith;
    p.into_inner()
        .find_map(|q| match q.as_rule() {
            Rule::reject_reset => Some(RejectWith::TcpReset),
            Rule::reject_icmp => RejectWith::from_icmp_name(q.as_str()),
            _ => None,
        })
        .expect("the grammar admits only tcp-reset and the ICMP names")
}

/// The states of a `ct_state` pair (the grammar admits only their names).
impl Builder {
    /// `in on [!]NAME[,NAME...]`.
    fn iface_match(&self, p: Pair<'_, Rule>, span: Span) -> Match {
        let mut dir = super::iface::Dir::In;
        let (mut negated, mut names) = (false, Vec::new());
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::iface_dir if q.as_str() == "out" => dir = super::iface::Dir::Out,
                Rule::negate => negated = true,
                Rule::iface_pat => names.push((q.as_str().to_string(), self.span(&q))),
                _ => {}
            }
        }
        Match::Iface {
            dir,
            negated,
            names,
            span,
        }
    }
}

fn ct_states(p: Pair<'_, Rule>) -> super::ct::CtStates {
    p.into_inner()
        .filter(|q| q.as_rule() == Rule::ct_name)
        .filter_map(|q| super::ct::CtState::from_name(q.as_str()))
        .fold(super::ct::CtStates::default(), super::ct::CtStates::with)
}
