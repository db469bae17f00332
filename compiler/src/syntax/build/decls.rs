//! `set`, `socket` and `reject answers` declarations built from their pairs: names,
//! elements (addresses, prefixes and `file` sets), a socket's protocol, address,
//! cgroup and owner (users and groups as written: [`Builder::id_match`]), the rate of
//! a limit on answers.
//!
//! Invariant: a declaration that cannot be built is reported at the span of the part
//! that is wrong and left out (`None`), never built half.

use std::net::IpAddr;

use pest::iterators::Pair;

use super::Builder;
use crate::{
    diag::Code,
    syntax::{
        ast::*,
        grammar::Rule,
        ids::{IdItem, IdKind, IdMatch},
    },
};

impl Builder {
    pub(super) fn set_decl(&mut self, pair: Pair<'_, Rule>) -> Option<SetDecl> {
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

    /// `reject answers RATE [burst N] [per destination]` or `... unlimited ...`.
    pub(super) fn answers_decl(&mut self, pair: Pair<'_, Rule>) -> Option<AnswersDecl> {
        use crate::syntax::{answers::Setting, limit::Limit};
        let span = self.span(&pair);
        let (mut rate, mut unit_secs, mut burst) = (None, 1, None);
        let mut unlimited = false;
        let mut per_destination = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::answers_unlimited => unlimited = true,
                Rule::number => rate = Some(self.number(&p, u64::MAX, "rate")?),
                Rule::time_unit => unit_secs = Limit::unit_secs_of(p.as_str()),
                Rule::limit_burst => burst = Some(self.burst(p, false)?),
                Rule::per_destination => per_destination = true,
                _ => {}
            }
        }
        let setting = match rate {
            Some(rate) if !unlimited => Setting::Rate {
                rate,
                unit_secs,
                burst,
            },
            _ => Setting::Unlimited,
        };
        Some(AnswersDecl {
            setting,
            per_destination,
            span,
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

    pub(super) fn socket_decl(&mut self, pair: Pair<'_, Rule>) -> Option<SocketDecl> {
        let sp = self.span(&pair);
        let mut name = None;
        let mut proto = SockProto::Tcp;
        let mut addr = None;
        let mut cgroup = None;
        let mut owner = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(p)),
                Rule::socket_owner => {
                    if let Some(m) = p.into_inner().find(|q| q.as_rule() == Rule::id_match) {
                        owner = Some(self.id_match(m));
                    }
                }
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
                                    Code::BadAddress,
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
            owner,
            span: sp,
        })
    }

    /// `uid|gid VALUES` or `user|group NAMES` (`id_match`), as written: numbers are
    /// checked by sema, which knows what they are for, and names looked up there.
    pub(super) fn id_match(&mut self, pair: Pair<'_, Rule>) -> IdMatch {
        let span = self.span(&pair);
        let mut m = IdMatch {
            kind: IdKind::Uid,
            by_name: false,
            items: Vec::new(),
            span,
        };
        for p in pair.into_inner() {
            let sp = self.span(&p);
            match p.as_rule() {
                Rule::id_num_kind | Rule::id_name_kind => {
                    m.by_name = p.as_rule() == Rule::id_name_kind;
                    m.kind = match p.as_str() {
                        "gid" | "group" => IdKind::Gid,
                        _ => IdKind::Uid,
                    };
                }
                Rule::id_value => {
                    let mut numbers = p.into_inner().map(|n| n.as_str().parse::<u64>());
                    let lo = numbers.next().and_then(Result::ok).unwrap_or(u64::MAX);
                    let hi = numbers.next().map_or(Ok(lo), |n| n).unwrap_or(u64::MAX);
                    m.items.push(IdItem::Numbers { lo, hi, span: sp });
                }
                Rule::id_name => {
                    let name = p.into_inner().next().map(Self::string).unwrap_or_default();
                    m.items.push(IdItem::Name { name, span: sp });
                }
                _ => {}
            }
        }
        m
    }
}
