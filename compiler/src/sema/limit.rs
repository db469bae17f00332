//! Checking `limit ...` and `route local|forward` matches: one of each per rule, each
//! only in the hooks that can evaluate it (a limit in XDP and TC blocks, which see
//! packets; a route class at XDP and TC ingress, where the packet has not been routed
//! yet and the FIB lookup answers for its way in), and a limit only with a rate its
//! bucket can count (`syntax::limit::Limit::bucket`).

use super::Checker;
use crate::{
    diag::{Diagnostic, Span},
    hooks::{Context, HookKind, HookSpec},
    ir::{RuleLimit, RuleMatch},
    syntax::{limit::Limit, route::RouteClass},
};

impl Checker<'_> {
    /// Adds a `limit` at `sp` to `m` (its bucket's slot is set with the rule's
    /// counter); `seen` is where the rule's first one was.
    pub(super) fn fold_limit(
        &mut self,
        l: Limit,
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut Option<Span>,
    ) {
        if !self.first_of_kind(seen, sp, "limit", "one bucket per rule") {
            return;
        }
        if !matches!(spec.context, Context::Packet(_)) {
            self.diags.push(
                Diagnostic::error(
                    "sockc::hook-cannot-match",
                    format!("{} hooks cannot rate-limit", spec.name),
                )
                .label(sp, "not available in this hook")
                .help("`limit` works in xdp and tc blocks"),
            );
            return;
        }
        match l.bucket() {
            Ok(bucket) => {
                m.limit = Some(RuleLimit {
                    limit: l,
                    bucket,
                    slot: 0,
                })
            }
            Err(e) => self.diags.push(
                Diagnostic::error("sockc::limit", e.message())
                    .label(sp, "this limit")
                    .help(
                        "a rate is N/second, minute, hour or day, in packets or \
                         bytes/kbytes/mbytes; a burst is at least 1",
                    ),
            ),
        }
    }

    /// Adds a `route` class at `sp` to `m`.
    pub(super) fn fold_route(
        &mut self,
        class: RouteClass,
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut Option<Span>,
    ) {
        if !self.first_of_kind(seen, sp, "route", "a packet has one route") {
            return;
        }
        if !matches!(spec.kind, HookKind::Xdp | HookKind::TcIngress) {
            self.diags.push(
                Diagnostic::error(
                    "sockc::hook-cannot-match",
                    format!(
                        "{} hooks cannot tell local from forwarded packets",
                        spec.name
                    ),
                )
                .label(sp, "not available in this hook")
                .help(
                    "`route local` and `route forward` work in xdp and tc ingress blocks, \
                     before the kernel routes the packet",
                ),
            );
            return;
        }
        m.route = Some(class);
    }

    /// False (reported) when the rule already has a match of `kind` at `*seen`.
    fn first_of_kind(&mut self, seen: &mut Option<Span>, sp: Span, kind: &str, why: &str) -> bool {
        if let Some(prev) = *seen {
            self.diags.push(
                Diagnostic::error(
                    "sockc::conflict",
                    format!("more than one `{kind}` in a rule"),
                )
                .label(sp, "second one")
                .label(prev, "first one")
                .help(format!("{why}: keep one")),
            );
            return false;
        }
        *seen = Some(sp);
        true
    }
}
