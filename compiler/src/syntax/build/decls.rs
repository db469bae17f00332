//! `set` and `socket` declarations built from their pairs: names, elements (addresses,
//! prefixes and `file` sets), a socket's protocol and address.
//!
//! Invariant: a declaration that cannot be built is reported at the span of the part
//! that is wrong and left out (`None`), never built half.

use std::net::IpAddr;

use pest::iterators::Pair;

use super::Builder;
use crate::syntax::{ast::*, grammar::Rule};

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
}
