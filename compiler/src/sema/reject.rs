//! `reject` rules: the action with its `with` clause checked against the rule's match
//! (`with tcp-reset` needs a rule that matches only TCP), and `with` refused on every
//! other action.
//!
//! Invariant: a rule sema lets through with [`Action::Reject`]`(TcpReset)` matches TCP
//! packets only, so the lowering and the evaluator never meet a reset that cannot be
//! sent; which hooks have `reject` at all is the hook table's `actions` column.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic},
    ir::{Action, RuleMatch},
    syntax::{ast, reject::RejectWith},
};

impl Checker<'_> {
    /// The action of a `reject` rule whose match is `m`.
    pub(super) fn reject_action(&mut self, r: &ast::Rule, m: &RuleMatch) -> Option<Action> {
        let Some((with, sp)) = r.reject_with else {
            return Some(Action::Reject(RejectWith::Default));
        };
        if with == RejectWith::TcpReset && m.proto != Some(6) {
            self.diags.push(
                Diagnostic::new(
                    Code::RejectWith,
                    "`with tcp-reset` needs a rule that matches only TCP",
                )
                .label(sp, "a TCP reset answers TCP only")
                .help("add `tcp` to the rule, or leave `with tcp-reset` out: `reject` resets TCP and answers anything else with ICMP port unreachable"),
            );
            return None;
        }
        Some(Action::Reject(with))
    }

    /// `with ...` on a rule whose action is not `reject`.
    pub(super) fn check_reject_with(&mut self, r: &ast::Rule) {
        if let (Some((_, sp)), false) = (r.reject_with, r.action == ast::ActionKw::Reject) {
            self.diags.push(
                Diagnostic::new(Code::RejectWith, "only `reject` takes `with`")
                    .label(sp, "this rule does not reject")
                    .help("write `reject` as the rule's action, or leave the `with` clause out"),
            );
        }
    }
}
