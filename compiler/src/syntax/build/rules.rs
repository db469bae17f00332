//! A rule built from its pair: its action and target, each match (addresses and ports,
//! protocols, TCP flags, ICMP, frames, sockets, `ct state`, `route`, `in on`/`out on`,
//! `limit`), and `log`.
//!
//! Invariant: a rule with a match that cannot be built is reported and dropped whole
//! (`None`), so a rule is never kept with a part of its matches.

use ipnet::IpNet;
use pest::iterators::Pair;

use super::Builder;
use crate::{
    diag::{Code, Diagnostic, Span},
    syntax::{
        ast::*,
        ct,
        decode::{decode_prefix, proto_by_name, tcp_flag_bit, BadPrefix},
        grammar::Rule,
        iface, reject, route,
    },
};

type Rule_ = crate::syntax::ast::Rule;

impl Builder {
    pub(super) fn rule(&mut self, pair: Pair<'_, Rule>) -> Option<Rule_> {
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
                    target = Some(Box::new(t));
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
                let numbered = inner.as_rule() == Rule::number;
                let proto = if numbered {
                    Some(self.number_u8(inner, "protocol number")?)
                } else {
                    proto_by_name(inner.as_str())
                };
                Match::Proto(proto, psp, numbered)
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
            Rule::ct_entry => Match::CtEntry(self.ct_entry(p)?, psp),
            Rule::limit => Match::Limit(self.limit(p)?, psp),
            Rule::route_class => {
                let name = p.into_inner().find(|q| q.as_rule() == Rule::route_name)?;
                Match::Route(route::RouteClass::from_name(name.as_str())?, psp)
            }
            Rule::iface_match => self.iface_match(p, psp),
            Rule::mark_match => self.mark_match(p)?,
            Rule::ipfield_match => self.ipfield_match(p)?,
            Rule::owner_match => {
                let mut inner = p.into_inner();
                let negated = inner.clone().any(|q| q.as_rule() == Rule::negate);
                let ids = inner.find(|q| q.as_rule() == Rule::id_match)?;
                Match::Owner {
                    ids: self.id_match(ids),
                    negated,
                    span: psp,
                }
            }
            Rule::cgroup_match => self.cgroup_match(p, psp)?,
            Rule::comm_match => {
                let mut names = Vec::new();
                let mut negated = false;
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::negate => negated = true,
                        Rule::string => names.push((self.span(&q), Self::string(q))),
                        _ => {}
                    }
                }
                let names = names.into_iter().map(|(sp, n)| (n, sp)).collect();
                Match::Comm {
                    names,
                    negated,
                    span: psp,
                }
            }
            _ => return Some(None),
        };
        Some(Some(m))
    }

    /// `cgroup [!]"PATH"` or `cgroup [!]unit "NAME"`, the unit written as a block
    /// head's (`ast::UNIT_PREFIX`).
    fn cgroup_match(&mut self, p: Pair<'_, Rule>, span: Span) -> Option<Match> {
        let mut negated = false;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::negate => negated = true,
                Rule::string => {
                    let at = self.span(&q);
                    let cgroup = Self::string(q);
                    return Some(Match::Cgroup {
                        cgroup,
                        negated,
                        at,
                        span,
                    });
                }
                Rule::cgroup_unit => {
                    let name = q.into_inner().find(|s| s.as_rule() == Rule::string)?;
                    let at = self.span(&name);
                    let cgroup =
                        format!("{}{}", crate::syntax::ast::UNIT_PREFIX, Self::string(name));
                    return Some(Match::Cgroup {
                        cgroup,
                        negated,
                        at,
                        span,
                    });
                }
                _ => {}
            }
        }
        None
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
    pub(super) fn prefix(&mut self, p: &Pair<'_, Rule>) -> Option<IpNet> {
        let text = p.as_str();
        let sp = self.span(p);
        match decode_prefix(text) {
            Ok(net) => Some(net),
            Err(BadPrefix::Address(addr_text)) => {
                self.err(
                    Code::BadAddress,
                    format!("`{addr_text}` is not a valid IP address"),
                    sp,
                    "not an address",
                );
                None
            }
            Err(BadPrefix::Length(l, max)) => {
                self.err(
                    Code::BadPrefix,
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
                    Diagnostic::new(
                        Code::HostBits,
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

    /// `in on [!]NAME[,NAME...]`, `in index [!]N[,N...]`.
    fn iface_match(&self, p: Pair<'_, Rule>, span: Span) -> Match {
        let mut dir = iface::Dir::In;
        let (mut negated, mut index, mut names) = (false, false, Vec::new());
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::iface_dir if q.as_str() == "out" => dir = iface::Dir::Out,
                Rule::negate => negated = true,
                Rule::kw_index => index = true,
                Rule::iface_pat | Rule::iface_index => {
                    names.push((q.as_str().to_string(), self.span(&q)))
                }
                _ => {}
            }
        }
        Match::Iface {
            dir,
            negated,
            index,
            names,
            span,
        }
    }

    /// The rate of a `log_opt` (`None`: the default rate), or `None` when its number
    /// is out of range (reported; the statement is dropped).
    pub(super) fn log_rate(&mut self, log_opt: Pair<'_, Rule>) -> Option<Option<u32>> {
        let Some(r) = log_opt.into_inner().find(|q| q.as_rule() == Rule::log_rate) else {
            return Some(None);
        };
        let n = r.into_inner().find(|q| q.as_rule() == Rule::number)?;
        let v = self.number(&n, 1_000_000, "log rate (per second)")?;
        Some(Some(v as u32))
    }
}

/// The kind a `reject_with` pair names (the grammar admits only the known names).
fn reject_with_kind(p: Pair<'_, Rule>) -> reject::RejectWith {
    use reject::RejectWith;
    p.into_inner()
        .find_map(|q| match q.as_rule() {
            Rule::reject_reset => Some(RejectWith::TcpReset),
            Rule::reject_icmp => RejectWith::from_icmp_name(q.as_str()),
            _ => None,
        })
        .expect("the grammar admits only tcp-reset and the ICMP names")
}

/// The states of a `ct_state` pair (the grammar admits only their names).
fn ct_states(p: Pair<'_, Rule>) -> ct::CtStates {
    p.into_inner()
        .filter(|q| q.as_rule() == Rule::ct_name)
        .filter_map(|q| ct::CtState::from_name(q.as_str()))
        .fold(ct::CtStates::default(), ct::CtStates::with)
}
