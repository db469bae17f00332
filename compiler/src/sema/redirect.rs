//! `redirect ... to ADDRESS[:PORT]` in `cgroup connect` and `cgroup sendmsg` blocks:
//! the call goes on to another address (socket-level load balancing, as Cilium's
//! socket LB does on the same hooks).
//!
//! Syntax: a `redirect` rule without `to sock NAME` or `local` takes its last
//! `to ENDPOINT` (written with `to`, not a bare endpoint) as its target, so
//! `redirect tcp to 10.0.0.1:80 to 10.0.0.2:8080` matches calls to 10.0.0.1:80 and
//! sends them to 10.0.0.2:8080, and `redirect tcp to 10.0.0.2` sends every TCP call
//! there. Both parsers (pest and the scanner) give the rule's matches as written; the
//! split is made here, on the spans, the same for both.
//!
//! Invariant: an [`Action::RedirectCall`] reaches the IR only at a hook whose row says
//! it can rewrite the call ([`MatchCaps::redirect_call`](crate::hooks::MatchCaps)),
//! with one address (no IPv4-mapped IPv6 one) and one port other than 0 or none, and
//! the rule's family set to the address's (an IPv4 target decides IPv4 calls,
//! IPv4-mapped ones of IPv6 sockets among them; an IPv6 target IPv6 calls).

use ipnet::IpNet;

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::HookSpec,
    ir::{Action, CallTarget, RuleMatch},
    syntax::ast::{self, AddrSpec, Endpoint, Family, Match, PortSpec, Target},
};

impl Checker<'_> {
    /// `r` with its last `to ENDPOINT` as its target, when it is a `redirect` without
    /// one; `None` when it is not such a rule.
    pub(super) fn split_redirect_target(&self, r: &ast::Rule) -> Option<ast::Rule> {
        if r.action != ast::ActionKw::Redirect || r.target.is_some() {
            return None;
        }
        let (i, e) = r
            .matches
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, m)| match m {
                Match::Dst(e) => Some((i, e)),
                _ => None,
            })?;
        let before = self.src[..e.span.start].trim_end();
        let word = before.strip_suffix("to")?;
        if !word.is_empty() && !word.ends_with(char::is_whitespace) {
            return None;
        }
        let mut split = r.clone();
        split.target = Some(Box::new(Target::Addr(e.clone())));
        split.matches.remove(i);
        Some(split)
    }

    /// The action of `redirect ... to ENDPOINT` at a hook of row `spec`.
    pub(super) fn redirect_call(&mut self, e: &Endpoint, spec: &HookSpec) -> Option<Action> {
        if !spec.caps.redirect_call {
            self.diags.push(
                Diagnostic::new(
                    Code::RedirectTarget,
                    format!("{} hooks cannot redirect to an address", spec.name),
                )
                .label(e.span, "not here")
                .help(
                    "`redirect ... to ADDRESS[:PORT]` rewrites the call in `cgroup connect` \
                     and `cgroup sendmsg` blocks; elsewhere redirect `to sock NAME`",
                ),
            );
            return None;
        }
        let addr = match &e.addr {
            AddrSpec::Prefix(net, sp) if net.prefix_len() == net.max_prefix_len() => {
                let mapped = match net {
                    IpNet::V6(n) => n.addr().to_ipv4_mapped(),
                    IpNet::V4(_) => None,
                };
                if let Some(v4) = mapped {
                    return self.bad_target(*sp, format!("write the IPv4 address: `{v4}`"));
                }
                net.addr()
            }
            AddrSpec::Prefix(_, sp) | AddrSpec::Any(sp) => {
                return self.bad_target(*sp, "name one address, not a prefix".into())
            }
            AddrSpec::Set(id) => {
                return self.bad_target(id.span, "name one address, not a set".into())
            }
        };
        let port = match &e.port {
            None => None,
            Some(PortSpec::Range(lo, hi, _)) if lo == hi && *lo != 0 => Some(*lo),
            Some(PortSpec::Range(_, _, sp) | PortSpec::Any(sp)) => {
                return self.bad_target(*sp, "name one port, or none to keep the call's own".into())
            }
            Some(PortSpec::Set(id)) => {
                return self.bad_target(id.span, "name one port, not a set".into())
            }
        };
        Some(Action::RedirectCall(CallTarget { addr, port }))
    }

    fn bad_target(&mut self, at: Span, help: String) -> Option<Action> {
        self.diags.push(
            Diagnostic::new(
                Code::RedirectAddress,
                "a redirect of a socket call goes to one address and port",
            )
            .label(at, "not one address and port")
            .help(help),
        );
        None
    }

    /// The rule takes its target's family; a rule of the other family could never be
    /// sent there (the kernel takes an address of the call's family only).
    pub(super) fn fit_to_target(&mut self, r: &ast::Rule, m: &mut RuleMatch, t: CallTarget) {
        let family = if t.addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        match m.family {
            None => m.family = Some(family),
            Some(f) if f == family => {}
            Some(_) => {
                let at = match r.target.as_deref() {
                    Some(Target::Addr(e)) => e.span,
                    _ => r.span,
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::RedirectAddress,
                        "a redirect's target is of another family than its rule",
                    )
                    .label(at, "of the other family")
                    .help(
                        "an IPv4 target takes IPv4 calls (IPv4-mapped ones of IPv6 sockets \
                         among them), an IPv6 target IPv6 calls: write one rule per family",
                    ),
                );
            }
        }
    }
}
