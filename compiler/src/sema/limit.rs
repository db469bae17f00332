//! Checking `limit ...` and `route local|forward` matches: one of each per rule, each
//! only in the hooks that can evaluate it (a limit in XDP, TC and netfilter blocks,
//! which see packets; a route class at XDP and TC ingress, where the packet has not
//! been routed yet and the FIB lookup answers for its way in, and at the netfilter
//! `input` and `forward` hooks, whose packets all have the hook's class), and a limit
//! only with a rate its bucket can count (`syntax::limit::Limit::bucket`).

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
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
        if !self.first_of_kind(seen, sp, "limit", "one bucket per rule: keep one") {
            return;
        }
        if !matches!(spec.context, Context::Packet(_) | Context::Netfilter) {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!("{} hooks cannot rate-limit", spec.name),
                )
                .label(sp, "not available in this hook")
                .help("`limit` works in xdp, tc and netfilter blocks"),
            );
            return;
        }
        match l.bucket() {
            Ok(bucket) => {
                m.rare_mut().limit = Some(Box::new(RuleLimit {
                    limit: l,
                    bucket,
                    slot: 0,
                }))
            }
            Err(e) => self.diags.push(
                Diagnostic::new(Code::Limit, e.message())
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
        if !self.first_of_kind(seen, sp, "route", "a packet has one route: keep one") {
            return;
        }
        if matches!(spec.context, Context::Netfilter) {
            self.fold_nf_route(class, sp, spec);
            return;
        }
        if !matches!(spec.kind, HookKind::Xdp | HookKind::TcIngress) {
            self.route_unknown_here(sp, spec);
            return;
        }
        m.route = Some(class);
    }

    /// The error for `route` at a hook that cannot tell the classes apart: egress and
    /// sockmap hooks, and the netfilter hooks other than `input` and `forward` (one
    /// diagnostic for all, so the help names every place the match works).
    fn route_unknown_here(&mut self, sp: Span, spec: &HookSpec) {
        self.diags.push(
            Diagnostic::new(
                Code::HookCannotMatch,
                format!(
                    "{} hooks cannot tell local from forwarded packets",
                    spec.name
                ),
            )
            .label(sp, "not available in this hook")
            .help(
                "`route local` and `route forward` work in xdp and tc ingress blocks, before \
                 the kernel routes the packet; a `netfilter input` block sees only packets \
                 for this host and a `netfilter forward` block only forwarded ones",
            ),
        );
    }

    /// `route` in a netfilter block: the hook is the route class where it has one
    /// (`input` sees only local packets, `forward` only forwarded ones), so the match
    /// is decided here (always true: a warning, and the rule keeps the rest of its
    /// match; never true: an error, as for a protocol the hook never sees). The other
    /// hooks see both classes or packets not routed yet, and a netfilter program has
    /// no FIB lookup (the kernel's `bpf_nf_func_proto` gives it the base helpers only).
    fn fold_nf_route(&mut self, class: RouteClass, sp: Span, spec: &HookSpec) {
        let hook_class = match spec.kind {
            HookKind::NfInput => RouteClass::Local,
            HookKind::NfForward => RouteClass::Forward,
            _ => {
                self.route_unknown_here(sp, spec);
                return;
            }
        };
        if class == hook_class {
            self.diags.push(
                Diagnostic::new(
                    Code::RouteByHook,
                    format!(
                        "every packet at {} hooks is `route {}`",
                        spec.name,
                        class.name()
                    ),
                )
                .label(sp, "always true here")
                .help("the hook decides it: the rule does the same without these words"),
            );
        } else {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!(
                        "{} hooks only see `route {}` packets: a rule for `route {}` never matches",
                        spec.name,
                        hook_class.name(),
                        class.name()
                    ),
                )
                .label(sp, "never seen here")
                .help(format!(
                    "write the rule in a `netfilter {}` block",
                    if class == RouteClass::Local {
                        "input"
                    } else {
                        "forward"
                    }
                )),
            );
        }
    }
}
