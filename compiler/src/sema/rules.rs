//! Rule checking: one AST rule → one IR rule, against its hook's capabilities.
//!
//! Each problem is reported at the span of the part of the rule that causes it, and
//! checking goes on with the next part, so a rule with three mistakes gets three
//! diagnostics.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Checker, SetKind};
use crate::{
    diag::{quote, Code, Diagnostic, Span},
    hooks::HookSpec,
    ir::{Action, AddrMatch, PortMatch, Rule, RuleMatch, SockId},
    syntax::ast::{self, ActionKw, AddrSpec, Family, IcmpType, Match, PortSpec, Target},
};

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// `text.trim()`, without the Unicode tables for the usual text: what `trim` takes off
/// is ASCII whitespace (`trim_ascii`'s, and U+000B) or not ASCII at all, so a text
/// whose ends after `trim_ascii` are other ASCII is what `trim` makes of it.
pub(super) fn trimmed(text: &str) -> &str {
    let t = text.trim_ascii();
    let plain = |b: Option<&u8>| b.is_none_or(|b| b.is_ascii() && *b != 0x0b);
    if plain(t.as_bytes().first()) && plain(t.as_bytes().last()) {
        t
    } else {
        text.trim()
    }
}

/// Where the parts of a rule's match list are, for the checks that point at them.
#[derive(Default)]
struct MatchSpans {
    proto: Option<Span>,
    /// The family the rule is limited to, and what limited it.
    family: Option<(Family, Span)>,
    src: Option<Span>,
    dst: Option<Span>,
    /// The first port, TCP flag and ICMP match of the rule: where to point when the
    /// hook or the protocol does not allow them.
    port: Option<Span>,
    flag: Option<Span>,
    icmp: Option<Span>,
    flags_set: u8,
    flags_clear: u8,
    /// The protocol is ICMP's or ICMPv6's number (`proto 1`): the rule's family is the
    /// one its other matches give, else the protocol's own.
    by_number: bool,
    /// The rule's `ct state` match.
    ct: Option<Span>,
    limit: Option<Span>,
    route: Option<Span>,
    /// The rule's `in on` and `out on` matches (by `iface::Dir`).
    iface: [Option<Span>; 2],
    mark: Option<Span>,
    owner: Option<Span>,
    cgroup: Option<Span>,
    comm: Option<Span>,
    /// The rule's `ct status`, `ct direction` and `ct mark` matches.
    ct_entry: [Option<Span>; 3],
}

impl Checker<'_> {
    pub(crate) fn rule(&mut self, r: &ast::Rule, spec: &HookSpec, counter: u32) -> Option<Rule> {
        // Only this rule's own diagnostics count (looking at all of them again for every
        // rule made a file with many errors quadratic).
        let errors_before = self.diags.errors();
        let split = self.split_redirect_target(r);
        let r = split.as_ref().unwrap_or(r);
        let mut m = self.matches(r, spec);
        self.check_reject_with(r);
        if let Some(l) = m.limit_mut() {
            l.slot = counter;
        }
        let action = self.action(r, spec, &m);
        let match_ok = self.diags.errors() == errors_before;
        // A sockmap block's redirect moves bytes into another stream, whatever the
        // connection's family: only sk_lookup's traffic must fit its socket.
        let steers = matches!(spec.context, crate::hooks::Context::SkLookup);
        if let (Some(Action::Redirect(Some(sock))), true, true) = (action, match_ok, steers) {
            self.fit_to_socket(r, &mut m, sock);
        }
        if let (Some(Action::RedirectCall(t)), true) = (action, match_ok) {
            self.fit_to_target(r, &mut m, t);
        }
        if let Some((_, sp)) = r.cond {
            if !spec.caps.socket_conditions {
                self.error(
                    sp,
                    Code::HookCannotMatch,
                    format!("{} hooks cannot test socket conditions", spec.name),
                    "not available in this hook",
                );
            } else if !matches!(m.proto, Some(TCP) | Some(UDP)) {
                self.diags.push(
                    Diagnostic::new(
                        Code::ConditionNeedsProtocol,
                        "socket conditions need `tcp` or `udp`",
                    )
                    .label(sp, "the socket lookup needs a protocol")
                    .help("add `tcp` or `udp` to the rule"),
                );
            }
        }
        let ok = self.diags.errors() == errors_before;
        // `None` without an error of its own: a socket refused at its declaration.
        let action = action?;
        if let (Some((rate, sp)), true) = (r.log, ok) {
            self.log_option(spec, action == Action::Count, rate, sp, counter);
        }
        let ok = self.diags.errors() == errors_before;
        ok.then(|| Rule {
            counter,
            line: self.lines.line(r.span),
            span: r.span,
            text: trimmed(&self.src[r.span.start..r.span.end]).into(),
            action,
            m,
            cond: r.cond.map(|c| c.0),
        })
    }

    /// `log [N/s]` on a rule (`counts`: a `count` rule) or a default with counter slot
    /// `counter`: checked, then recorded in the module's log table.
    pub(crate) fn log_option(
        &mut self,
        spec: &HookSpec,
        counts: bool,
        rate: Option<u32>,
        sp: Span,
        counter: u32,
    ) {
        let traceable = matches!(
            spec.context,
            crate::hooks::Context::Packet(_)
                | crate::hooks::Context::SkLookup
                | crate::hooks::Context::Netfilter
                | crate::hooks::Context::SockAddr { .. }
        );
        if !traceable {
            self.error(
                sp,
                Code::LogUnsupported,
                format!("{} blocks cannot log yet", spec.name),
                "`log` works in xdp, tc and sk_lookup blocks",
            );
        } else if counts {
            self.diags.push(
                Diagnostic::new(
                    Code::LogNeedsVerdict,
                    "`log` traces the rule that decides a packet; `count` goes on",
                )
                .label(sp, "this rule decides nothing")
                .help("put `log` on the rule that allows or drops the packet"),
            );
        } else if rate == Some(0) {
            self.error(
                sp,
                Code::LogRate,
                "a log rate of 0/s logs nothing".to_string(),
                "at least 1/s",
            );
        } else {
            self.module
                .logs
                .insert(counter, rate.unwrap_or(crate::ir::LOG_DEFAULT_RATE));
        }
    }

    /// `redirect ... to sock NAME ingress`, where the hook has it.
    fn redirect_ingress(
        &mut self,
        r: &ast::Rule,
        spec: &HookSpec,
        sock: crate::ir::SockId,
    ) -> Option<Action> {
        if spec.caps.redirect_ingress {
            return Some(Action::RedirectIngress(sock));
        }
        self.error(
            r.ingress.expect("called for rules with `ingress`"),
            Code::RedirectTarget,
            format!("{} hooks cannot redirect into a receive queue", spec.name),
            "`ingress` exists only in sockmap blocks",
        );
        None
    }

    fn error(&mut self, at: Span, code: Code, msg: String, label: &str) {
        self.diags
            .push(Diagnostic::new(code, msg).label(at, label.to_string()));
    }

    /// A redirect to a socket applies only to traffic the socket can take: a rule
    /// without a protocol takes the socket's, and a rule without a family takes the
    /// socket's when the declared address allows only one (see below). A rule that
    /// names another protocol or family could only ever be refused by the kernel: an
    /// error.
    fn fit_to_socket(&mut self, r: &ast::Rule, m: &mut RuleMatch, sock: SockId) {
        let s = &self.module.sockets[sock];
        let (name, proto, addr) = (s.name.clone(), s.proto, s.addr);
        let decl = self.sockets.get(&name).map(|(_, sp)| *sp);
        match m.proto {
            None => m.proto = Some(proto.number()),
            Some(p) if p == proto.number() => {}
            Some(p) => {
                let at = r
                    .matches
                    .iter()
                    .find_map(|i| match i {
                        Match::Proto(_, sp, _) => Some(*sp),
                        _ => None,
                    })
                    .unwrap_or(r.span);
                let mut d = Diagnostic::new(
                    Code::RedirectProtocol,
                    format!(
                        "a {} rule cannot redirect to `{name}`, a {} socket",
                        proto_label(p),
                        proto.name()
                    ),
                )
                .label(at, "this rule's protocol");
                if let Some(decl) = decl {
                    d = d.label(decl, format!("declared {} here", proto.name()));
                }
                self.diags.push(d.help(format!(
                    "redirect {} traffic to a {} socket, or drop `{}` from the rule",
                    proto_label(p),
                    proto_label(p),
                    proto_label(p)
                )));
            }
        }
        // The one family the socket can take, if only one: an IPv4 socket, an IPv6
        // socket bound to a v4-mapped address (IPv4 traffic only), an IPv6 socket bound
        // to a specific address (the kernel makes it IPv6-only at bind). Only an IPv6
        // socket on `[::]` may be dual-stack.
        let only = match addr.map(|a| a.0) {
            Some(IpAddr::V4(_)) => Some((Family::V4, "an IPv4 socket")),
            Some(IpAddr::V6(a)) if a.to_ipv4_mapped().is_some() => Some((
                Family::V4,
                "an IPv4-only socket (bound to a v4-mapped address)",
            )),
            Some(IpAddr::V6(a)) if !a.is_unspecified() => Some((
                Family::V6,
                "an IPv6-only socket (bound to one IPv6 address)",
            )),
            _ => None,
        };
        let Some((family, what)) = only else { return };
        match m.family {
            None => m.family = Some(family),
            Some(f) if f == family => {}
            Some(f) => {
                let at = r
                    .matches
                    .iter()
                    .find_map(|i| match i {
                        Match::Family(x, sp) if *x == f => Some(*sp),
                        Match::Src(e) | Match::Dst(e) => match e.addr {
                            AddrSpec::Prefix(IpNet::V4(_), sp) if f == Family::V4 => Some(sp),
                            AddrSpec::Prefix(IpNet::V6(_), sp) if f == Family::V6 => Some(sp),
                            _ => None,
                        },
                        _ => None,
                    })
                    .unwrap_or(r.span);
                let mut d = Diagnostic::new(
                    Code::RedirectFamily,
                    format!("{} traffic cannot go to `{name}`, {what}", family_name(f)),
                )
                .label(at, format!("{} here", family_name(f)));
                if let Some(decl) = decl {
                    d = d.label(decl, "declared here");
                }
                self.diags.push(d.help(
                    "declare a socket of the rule's family (a dual-stack one bound to [::] takes both)",
                ));
            }
        }
    }

    fn action(&mut self, r: &ast::Rule, spec: &HookSpec, m: &RuleMatch) -> Option<Action> {
        if !spec.actions.contains(&r.action) {
            let names: Vec<_> = spec.actions.iter().map(|a| action_name(*a)).collect();
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotAct,
                    format!(
                        "`{}` is not an action of {} hooks",
                        action_name(r.action),
                        spec.name
                    ),
                )
                .label(r.action_span, "not available in this hook")
                .help(format!("{} hooks take: {}", spec.name, names.join(", "))),
            );
            return None;
        }
        match (r.action, r.target.as_deref()) {
            (ActionKw::Redirect, None) => {
                self.diags.push(
                    Diagnostic::new(Code::RedirectTarget, "`redirect` needs a target")
                        .label(r.action_span, "redirect where?")
                        .help(if spec.caps.redirect_call {
                            "end the rule with `to ADDRESS[:PORT]`"
                        } else {
                            "end the rule with `to sock NAME`"
                        }),
                );
                None
            }
            (ActionKw::Redirect, Some(Target::Sock(id))) if spec.caps.redirect_call => {
                self.error(
                    id.span,
                    Code::RedirectTarget,
                    format!(
                        "{} hooks redirect a call to an address, not a socket",
                        spec.name
                    ),
                    "write `to ADDRESS[:PORT]`",
                );
                None
            }
            (ActionKw::Redirect, Some(Target::Addr(e))) => self.redirect_call(e, spec),
            (ActionKw::Redirect, Some(Target::Sock(id))) => match self.sockets.get(&id.name) {
                Some((s, _)) if r.ingress.is_some() => self.redirect_ingress(r, spec, *s),
                Some((s, _)) => Some(Action::Redirect(Some(*s))),
                // Declared, but refused (an error said why already).
                None if self.refused_sockets.contains(&id.name) => None,
                None => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::UnknownSocket,
                            format!("no socket named `{}`", quote(&id.name)),
                        )
                        .label(id.span, "not declared")
                        .help(format!(
                            "declare it: socket {} = {} 127.0.0.1:{}",
                            quote(&id.name),
                            if m.proto == Some(UDP) { "udp" } else { "tcp" },
                            match &m.dport {
                                PortMatch::Ranges(r) if r.len() == 1 && r[0].0 == r[0].1 => {
                                    r[0].0
                                }
                                _ => 8080,
                            }
                        )),
                    );
                    None
                }
            },
            (ActionKw::Redirect, Some(Target::Local(sp))) => {
                if !spec.caps.redirect_local {
                    self.error(
                        *sp,
                        Code::RedirectTarget,
                        "`redirect local` exists only in sockmap blocks, on the send side".into(),
                        "not here",
                    );
                    return None;
                }
                Some(Action::Redirect(None))
            }
            (_, Some(t)) => {
                let sp = match t {
                    Target::Sock(i) => i.span,
                    Target::Local(s) => *s,
                    Target::Addr(e) => e.span,
                };
                self.error(
                    sp,
                    Code::RedirectTarget,
                    format!(
                        "only `redirect` takes a target, not `{}`",
                        action_name(r.action)
                    ),
                    "unexpected target",
                );
                None
            }
            (ActionKw::Reject, None) => self.reject_action(r, m),
            (a, None) => Some(match a {
                ActionKw::Allow => Action::Allow,
                ActionKw::Drop => Action::Drop,
                ActionKw::Count => Action::Count,
                ActionKw::Pass => Action::Pass,
                ActionKw::Redirect | ActionKw::Reject => unreachable!("handled above"),
            }),
        }
    }

    /// Folds the match list into one [`RuleMatch`], reporting conflicts, then checks
    /// what the hook and the rule's protocol allow.
    fn matches(&mut self, r: &ast::Rule, spec: &HookSpec) -> RuleMatch {
        let mut m = RuleMatch::default();
        m.ip_only = !r.matches.is_empty();
        let mut seen = MatchSpans::default();
        let mut frames = super::frames::FrameSpans::default();
        for item in &r.matches {
            if !self.fold_frame_match(item, &mut m, &mut frames) {
                self.fold_match(item, spec, &mut m, &mut seen);
            }
        }
        if let (true, Some(p), Some(sp), None) = (seen.by_number, m.proto, seen.proto, seen.family)
        {
            seen.family = Some((if p == ICMP { Family::V4 } else { Family::V6 }, sp));
        }
        m.ip_only = frames.ip_only();
        self.check_frames(&m, &frames, spec, &mut seen.family);
        if let (Some(p), Some(sp)) = (m.proto, seen.proto) {
            self.check_protocol_seen(p, sp, spec);
        }
        // Ports exist only for TCP and UDP; without a protocol a port match applies to both.
        if let Some(sp) = seen.port.filter(|_| m.needs_ports()) {
            self.check_ports(&m, sp, seen.proto, spec);
        }
        if let Some(flag_span) = seen.flag {
            self.check_flags(&m, flag_span, spec);
            m.tcp_flags = Some((seen.flags_set | seen.flags_clear, seen.flags_set));
        }
        if let Some(icmp_span) = seen.icmp {
            if self.icmp_of_its_family(&m, icmp_span, &seen) {
                self.check_icmp(r, &mut m, icmp_span, spec);
            }
        }
        m.family = seen.family.map(|f| f.0);
        m
    }

    /// Adds one match to `m`; a second protocol, source or destination is a conflict
    /// (reported, and the match left out).
    fn fold_match(
        &mut self,
        item: &Match,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut MatchSpans,
    ) {
        match item {
            Match::Proto(p, sp, numbered) => {
                if let Some(prev) = seen.proto {
                    self.diags.push(
                        Diagnostic::new(Code::Conflict, "more than one protocol in a rule")
                            .label(*sp, "second protocol")
                            .label(prev, "first protocol"),
                    );
                    return;
                }
                seen.proto = Some(*sp);
                m.proto = *p;
                match p {
                    // The family's other matches decide (`matches`).
                    Some(ICMP | ICMPV6) if *numbered => seen.by_number = true,
                    Some(ICMP) => self.constrain_family(&mut seen.family, Family::V4, *sp),
                    Some(ICMPV6) => self.constrain_family(&mut seen.family, Family::V6, *sp),
                    _ => {}
                }
            }
            Match::Family(f, sp) => self.constrain_family(&mut seen.family, *f, *sp),
            Match::Src(e) => self.fold_endpoint(e, true, spec, m, seen),
            Match::Dst(e) => self.fold_endpoint(e, false, spec, m, seen),
            Match::Flag { bit, negated, span } => {
                seen.flag.get_or_insert(*span);
                let (same, other) = if *negated {
                    (&mut seen.flags_clear, seen.flags_set)
                } else {
                    (&mut seen.flags_set, seen.flags_clear)
                };
                if other & bit != 0 {
                    self.error(
                        *span,
                        Code::Conflict,
                        "a TCP flag cannot be both set and clear".into(),
                        "contradicts an earlier flag",
                    );
                }
                *same |= bit;
            }
            Match::IcmpType(t, sp) => {
                seen.icmp.get_or_insert(*sp);
                m.icmp_type = match t {
                    IcmpType::Number(n) => Some(*n),
                    IcmpType::Name(_) => None, // resolved by `check_icmp`, once the protocol is known
                };
            }
            Match::IcmpCode(c, sp) => {
                seen.icmp.get_or_insert(*sp);
                m.icmp_code = Some(*c);
            }
            Match::Frag(sp) => self.fold_frag(*sp, spec, m),
            // Folded by `fold_frame_match`.
            Match::EtherType(..) | Match::Vlan(..) => {}
            Match::CtState(states, sp) => self.fold_ct_state(*states, *sp, spec, m, &mut seen.ct),
            Match::CtEntry(t, sp) => self.fold_ct_entry(t, *sp, spec, m, &mut seen.ct_entry),
            Match::Limit(l, sp) => self.fold_limit(*l, *sp, spec, m, &mut seen.limit),
            Match::Route(c, sp) => self.fold_route(*c, *sp, spec, m, &mut seen.route),
            Match::Iface {
                dir,
                negated,
                index,
                names,
                span,
            } => {
                let written = (*dir, *negated, *index, names.as_slice(), *span);
                self.fold_iface(written, spec, m, &mut seen.iface)
            }
            Match::Mark(t, sp) => self.fold_mark(*t, *sp, spec, m, &mut seen.mark),
            Match::IpField(t, sp) => self.fold_ipfield(t, *sp, spec, m, &mut seen.family),
            Match::Owner { ids, negated, span } => {
                self.fold_owner((ids, *negated), *span, spec, m, &mut seen.owner)
            }
            Match::Cgroup {
                cgroup,
                negated,
                at,
                span,
            } => self.fold_cgroup((cgroup, *negated, *at), *span, spec, m, &mut seen.cgroup),
            Match::Comm {
                names,
                negated,
                span,
            } => self.fold_comm((names, *negated), *span, spec, m, &mut seen.comm),
        }
    }

    /// `frag`: only a hook that sees packets on the wire (XDP, TC) sees fragments;
    /// netfilter and cgroup hooks see them reassembled (or not yet fragmented),
    /// sk_lookup and the socket layer whole datagrams and streams.
    fn fold_frag(&mut self, sp: Span, spec: &HookSpec, m: &mut RuleMatch) {
        if !spec.caps.fragments {
            self.error(
                sp,
                Code::HookCannotMatch,
                format!("{} hooks cannot match fragments", spec.name),
                "only XDP and TC blocks see fragments",
            );
            return;
        }
        m.frag = true;
    }

    /// A `from` (`is_src`) or `to` endpoint: its address and ports.
    fn fold_endpoint(
        &mut self,
        e: &ast::Endpoint,
        is_src: bool,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut MatchSpans,
    ) {
        if is_src && !spec.caps.sources {
            self.error(
                e.span,
                Code::HookCannotMatch,
                format!("{} hooks cannot match a source", spec.name),
                "the kernel has not chosen the source address and port yet",
            );
            return;
        }
        let slot = if is_src { &mut seen.src } else { &mut seen.dst };
        if let Some(prev) = *slot {
            let what = if is_src {
                "source (`from`)"
            } else {
                "destination (`to`)"
            };
            self.diags.push(
                Diagnostic::new(Code::Conflict, format!("more than one {what} in a rule"))
                    .label(e.span, "second one")
                    .label(prev, "first one"),
            );
            return;
        }
        *slot = Some(e.span);
        self.check_mapped(e, spec);
        let addr = self.addr(&e.addr, spec, &mut seen.family);
        let ports = e.port.as_ref().and_then(|p| {
            seen.port.get_or_insert(p.span());
            self.port(p)
        });
        if is_src {
            m.src = addr;
            m.sport = ports.unwrap_or_default();
        } else {
            m.dst = addr;
            m.dport = ports.unwrap_or_default();
        }
    }

    /// Protocol `p` (named at `sp`) must be one the hook sees.
    fn check_protocol_seen(&mut self, p: u8, sp: Span, spec: &HookSpec) {
        if spec.caps.protocols.is_empty() || spec.caps.protocols.contains(&p) {
            return;
        }
        let seen: Vec<String> = spec
            .caps
            .protocols
            .iter()
            .map(|p| proto_label(*p))
            .collect();
        self.diags.push(
            Diagnostic::new(
                Code::HookCannotMatch,
                format!(
                    "{} hooks only see {}: a rule for {} never matches",
                    spec.name,
                    seen.join(" and "),
                    proto_label(p)
                ),
            )
            .label(sp, "never seen here"),
        );
    }

    /// A port match (the first at `sp`) needs a hook that matches ports and a protocol
    /// that has them.
    fn check_ports(&mut self, m: &RuleMatch, sp: Span, proto_span: Option<Span>, spec: &HookSpec) {
        if !spec.caps.ports {
            self.error(
                sp,
                Code::HookCannotMatch,
                format!("{} hooks cannot match ports", spec.name),
                "not available in this hook",
            );
        } else if let Some(p) = m.proto.filter(|p| *p != TCP && *p != UDP) {
            self.diags.push(
                Diagnostic::new(
                    Code::PortWithoutPorts,
                    format!("port match on {}, a protocol without ports", proto_name(p)),
                )
                .label(sp, "ports exist only for tcp and udp")
                .label(proto_span.unwrap_or(sp), "protocol given here"),
            );
        }
    }

    /// A TCP flag match (the first at `flag_span`) needs a hook that matches flags and
    /// `tcp`.
    fn check_flags(&mut self, m: &RuleMatch, flag_span: Span, spec: &HookSpec) {
        if !spec.caps.tcp_flags {
            self.error(
                flag_span,
                Code::HookCannotMatch,
                format!("{} hooks cannot match TCP flags", spec.name),
                "not available in this hook",
            );
        } else if m.proto != Some(TCP) {
            self.diags.push(
                Diagnostic::new(Code::FlagsNeedTcp, "TCP flags need `tcp`")
                    .label(flag_span, "a TCP flag")
                    .help("add `tcp` to the rule"),
            );
        }
    }

    /// Whether the rule's ICMP protocol is its family's own: `ip6 proto 1` is an IPv6
    /// packet whose next header is 1, whose type and code the programs do not read.
    fn icmp_of_its_family(&mut self, m: &RuleMatch, icmp_span: Span, seen: &MatchSpans) -> bool {
        let (Some(p), Some((f, fsp)), Some(psp)) = (m.proto, seen.family, seen.proto) else {
            return true;
        };
        let other = match (p, f) {
            (ICMP, Family::V6) => "IPv6 packet's protocol 1 is not read as ICMP",
            (ICMPV6, Family::V4) => "IPv4 packet's protocol 58 is not read as ICMPv6",
            _ => return true,
        };
        self.diags.push(
            Diagnostic::new(
                Code::IcmpNeedsIcmp,
                format!("ICMP type and code need `icmp` or `icmpv6`: an {other}"),
            )
            .label(icmp_span, "an ICMP match")
            .label(psp, "the protocol's number")
            .label(fsp, "in the other family"),
        );
        false
    }

    /// An ICMP match (the first at `icmp_span`) needs a hook that matches ICMP and
    /// `icmp` or `icmpv6`; then a type given by name is resolved for that protocol.
    fn check_icmp(&mut self, r: &ast::Rule, m: &mut RuleMatch, icmp_span: Span, spec: &HookSpec) {
        if !spec.caps.icmp {
            self.error(
                icmp_span,
                Code::HookCannotMatch,
                format!("{} hooks cannot match ICMP types", spec.name),
                "not available in this hook",
            );
            return;
        }
        if !matches!(m.proto, Some(ICMP) | Some(ICMPV6)) {
            self.diags.push(
                Diagnostic::new(
                    Code::IcmpNeedsIcmp,
                    "ICMP type and code need `icmp` or `icmpv6`",
                )
                .label(icmp_span, "an ICMP match")
                .help("add `icmp` or `icmpv6` to the rule"),
            );
            return;
        }
        for item in &r.matches {
            let Match::IcmpType(IcmpType::Name(n), sp) = item else {
                continue;
            };
            match icmp_type_by_name(n, m.proto == Some(ICMPV6)) {
                Some(t) => m.icmp_type = Some(t),
                None => {
                    let names: Vec<_> = ICMP_TYPES.iter().map(|t| t.0).collect();
                    self.diags.push(
                        Diagnostic::new(
                            Code::UnknownIcmpType,
                            format!("unknown ICMP type `{}`", quote(n)),
                        )
                        .label(*sp, "not a known type name")
                        .help(format!("use a number or one of: {}", names.join(", "))),
                    );
                }
            }
        }
    }

    pub(super) fn constrain_family(
        &mut self,
        current: &mut Option<(Family, Span)>,
        f: Family,
        sp: Span,
    ) {
        match current {
            Some((prev, psp)) if *prev != f => {
                let psp = *psp;
                self.diags.push(
                    Diagnostic::new(
                        Code::FamilyConflict,
                        "rule mixes IPv4 and IPv6: it can never match",
                    )
                    .label(sp, format!("{} here", family_name(f)))
                    .label(psp, format!("{} here", family_name(*prev))),
                );
            }
            Some(_) => {}
            None => *current = Some((f, sp)),
        }
    }

    fn addr(
        &mut self,
        a: &AddrSpec,
        spec: &HookSpec,
        family: &mut Option<(Family, Span)>,
    ) -> AddrMatch {
        if !matches!(a, AddrSpec::Any(_)) && !spec.caps.addresses {
            self.error(
                a.span(),
                Code::HookCannotMatch,
                format!("{} hooks cannot match addresses", spec.name),
                "not available in this hook",
            );
            return AddrMatch::Any;
        }
        match a {
            AddrSpec::Any(_) => AddrMatch::Any,
            AddrSpec::Prefix(n, sp) => {
                let f = if matches!(n, IpNet::V4(_)) {
                    Family::V4
                } else {
                    Family::V6
                };
                self.constrain_family(family, f, *sp);
                // An IPv4 prefix's text has no `:` (only an IPv6 text parses to
                // IPv6), so the lint has nothing to say of it: its searches of the
                // text are left out.
                if f == Family::V6 {
                    self.lint_ipv6_port(*sp);
                }
                AddrMatch::Prefix(*n)
            }
            AddrSpec::Set(id) => match self.set_by_name(id) {
                Some(SetKind::Addr(s)) => AddrMatch::Set(s),
                Some(SetKind::Ports(_)) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::SetKind,
                            format!("set `{}` holds ports, not addresses", quote(&id.name)),
                        )
                        .label(id.span, "used as an address")
                        .help(format!("to match ports write `*:@{}`", quote(&id.name))),
                    );
                    AddrMatch::Any
                }
                _ => AddrMatch::Any,
            },
        }
    }

    /// `2001:db8::1:53` is one IPv6 address, but it reads like address and port (the
    /// form IPv4 uses, and the one `sockc test` refuses for packets): warn when an
    /// IPv6 address without brackets or prefix length ends in a group of decimal
    /// digits that is a port number and what comes before it is an address.
    fn lint_ipv6_port(&mut self, sp: Span) {
        let text = &self.src[sp.start..sp.end];
        if text.contains('/') || !text.contains(':') || self.src[..sp.start].ends_with('[') {
            return;
        }
        let Some((addr, last)) = text.rsplit_once(':') else {
            return;
        };
        let port_like = !last.is_empty()
            && last.len() <= 5
            && last.bytes().all(|b| b.is_ascii_digit())
            && last.parse::<u32>().is_ok_and(|p| p <= 65535);
        if !port_like || addr.parse::<std::net::Ipv6Addr>().is_err() {
            return;
        }
        self.diags.push(
            Diagnostic::new(
                Code::Ipv6Port,
                format!("`{text}` is one IPv6 address, not address {addr} and port {last}"),
            )
            .label(sp, "read as a single address")
            .help(format!(
                "for port {last}, write `[{addr}]:{last}`; to keep the address, write `[{text}]`"
            )),
        );
    }

    /// Warns of an IPv4-mapped IPv6 prefix in a socket-call block: a call to such an
    /// address is decided as the IPv4 one (docs/language.md, "cgroup blocks"), so the
    /// IPv6 rule never matches it.
    fn check_mapped(&mut self, e: &ast::Endpoint, spec: &HookSpec) {
        if !matches!(spec.context, crate::hooks::Context::SockAddr { .. }) {
            return;
        }
        let AddrSpec::Prefix(ipnet::IpNet::V6(n), sp) = &e.addr else {
            return;
        };
        let (Some(v4), true) = (n.network().to_ipv4_mapped(), n.prefix_len() >= 96) else {
            return;
        };
        let len = n.prefix_len() - 96;
        let written = if len == 32 {
            v4.to_string()
        } else {
            format!("{v4}/{len}")
        };
        self.diags.push(
            Diagnostic::new(
                Code::MappedAddress,
                "a call to an IPv4-mapped address is decided as its IPv4 address: this never matches",
            )
            .label(*sp, "IPv4-mapped")
            .help(format!("write the IPv4 address: `{written}`")),
        );
    }

    fn port(&mut self, p: &PortSpec) -> Option<PortMatch> {
        match p {
            PortSpec::Any(_) => None,
            PortSpec::Range(lo, hi, _) => Some(PortMatch::Ranges(Box::new([(*lo, *hi)]))),
            PortSpec::Set(id) => match self.set_by_name(id) {
                Some(SetKind::Ports(r)) => Some(PortMatch::Ranges(r.into())),
                Some(SetKind::Addr(_)) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::SetKind,
                            format!("set `{}` holds addresses, not ports", quote(&id.name)),
                        )
                        .label(id.span, "used as a port")
                        .help(format!(
                            "to match addresses write `@{}` before the `:`",
                            quote(&id.name)
                        )),
                    );
                    None
                }
                _ => None,
            },
        }
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

pub(crate) fn action_name(a: ActionKw) -> &'static str {
    match a {
        ActionKw::Allow => "allow",
        ActionKw::Drop => "drop",
        ActionKw::Count => "count",
        ActionKw::Pass => "pass",
        ActionKw::Redirect => "redirect",
        ActionKw::Reject => "reject",
    }
}

/// `tcp`, `udp`, `icmp`, ... or `protocol N`.
fn proto_label(p: u8) -> String {
    match p {
        TCP => "tcp".into(),
        UDP => "udp".into(),
        p => proto_name(p),
    }
}

fn proto_name(p: u8) -> String {
    match p {
        ICMP => "icmp".into(),
        ICMPV6 => "icmpv6".into(),
        n => format!("protocol {n}"),
    }
}

/// ICMP type names: (name, ICMPv4 type, ICMPv6 type) from RFC 792 / RFC 4443.
pub const ICMP_TYPES: &[(&str, Option<u8>, Option<u8>)] = &[
    ("echo-reply", Some(0), Some(129)),
    ("dest-unreachable", Some(3), Some(1)),
    ("redirect", Some(5), Some(137)),
    ("echo-request", Some(8), Some(128)),
    ("time-exceeded", Some(11), Some(3)),
    ("parameter-problem", Some(12), Some(4)),
    ("packet-too-big", None, Some(2)),
    ("router-solicitation", Some(10), Some(133)),
    ("router-advertisement", Some(9), Some(134)),
    ("neighbor-solicitation", None, Some(135)),
    ("neighbor-advertisement", None, Some(136)),
];

/// The ICMP (`v6 = false`) or ICMPv6 type number of a name the language knows.
pub fn icmp_type_by_name(name: &str, v6: bool) -> Option<u8> {
    ICMP_TYPES
        .iter()
        .find(|t| t.0 == name)
        .and_then(|t| if v6 { t.2 } else { t.1 })
}

#[cfg(test)]
mod trim_tests {
    use super::trimmed;

    /// `trimmed` is `trim` for texts with every kind of character at either end:
    /// ASCII blanks, U+000B (Unicode's whitespace, not `trim_ascii`'s), U+0085 and
    /// U+3000 (whitespace beyond ASCII), other ASCII and other non-ASCII.
    #[test]
    fn rule_texts_are_trimmed_as_trim_trims_them() {
        let ends = [
            "", " ", "\t", "\r\n", "\x0b", "\x0c", "\u{85}", "\u{3000}", "\x1f", "é", "#",
        ];
        let middles = ["", "x", "drop ip4 tcp", "a\x0bb", "\u{3000}"];
        for lead in ends {
            for trail in ends {
                for mid in middles {
                    for extra in ["", " ", "\x0b"] {
                        let text = format!("{extra}{lead}{mid}{trail}{extra}");
                        assert_eq!(trimmed(&text), text.trim(), "{text:?}");
                    }
                }
            }
        }
    }
}
