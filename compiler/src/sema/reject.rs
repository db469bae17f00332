//! `reject` rules: the action with its `with` clause checked against the rule's match
//! (`with tcp-reset` needs a rule that matches only TCP), and `with` refused on every
//! other action; and the file's `reject answers` lines, which set the limits of the
//! ICMP answers ([`AnswerLimits`]): one line per bucket (host-wide, per destination),
//! each rate a bucket `limit` could be, `unlimited` alone.
//!
//! Invariant: a rule sema lets through with [`Action::Reject`]`(TcpReset)` matches TCP
//! packets only, so the lowering and the evaluator never meet a reset that cannot be
//! sent; which hooks have `reject` at all is the hook table's `actions` column. The
//! module's [`AnswerLimits`] hold only rates whose buckets exist.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    ir::{Action, RuleMatch},
    syntax::{
        answers::{host_limit, peer_limit, AnswerLimits, Setting},
        ast,
        reject::RejectWith,
    },
};

/// The `reject answers` lines seen so far: where each bucket was set.
#[derive(Default)]
pub(crate) struct AnswersSeen {
    host: Option<Span>,
    peer: Option<Span>,
    /// `reject answers unlimited` (both buckets).
    all: Option<Span>,
}

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

impl Checker<'_> {
    /// One `reject answers` line: its bucket set once, its rate one a bucket can
    /// count; `unlimited` (both buckets) on a line of its own.
    pub(super) fn declare_answers(&mut self, d: &ast::AnswersDecl) {
        let seen = &self.answers_seen;
        let clash = match (d.setting, d.per_destination) {
            (Setting::Unlimited, false) => seen.host.or(seen.peer).or(seen.all),
            (_, false) => seen.host.or(seen.all),
            (_, true) => seen.peer.or(seen.all),
        };
        if let Some(first) = clash {
            self.diags.push(
                Diagnostic::new(Code::RejectAnswers, "the answers' limit is set twice")
                .label(d.span, "set again here")
                .label(first, "first set here")
                .help("write one `reject answers RATE` (host-wide) and one `reject answers RATE per destination`, or `reject answers unlimited` alone"),
            );
            return;
        }
        if let Setting::Rate {
            rate,
            unit_secs,
            burst,
        } = d.setting
        {
            let limit = if d.per_destination {
                peer_limit(rate, unit_secs, burst)
            } else {
                host_limit(rate, unit_secs, burst)
            };
            if let Err(e) = limit.bucket() {
                self.diags.push(
                    Diagnostic::new(Code::Limit, e.message().to_string())
                        .label(d.span, "no bucket can count this"),
                );
                return;
            }
        }
        let answers: &mut AnswerLimits = &mut self.module.answers;
        match (d.setting, d.per_destination) {
            (Setting::Unlimited, false) => {
                *answers = AnswerLimits {
                    host: Setting::Unlimited,
                    peer: Setting::Unlimited,
                };
                self.answers_seen.all = Some(d.span);
            }
            (s, false) => {
                answers.host = s;
                self.answers_seen.host = Some(d.span);
            }
            (s, true) => {
                answers.peer = s;
                self.answers_seen.peer = Some(d.span);
            }
        }
    }

    /// A `reject answers` line in a file whose rules send no ICMP error: it limits
    /// nothing.
    pub(super) fn check_answers_used(&mut self) {
        let seen = &self.answers_seen;
        let Some(first) = seen.all.or(seen.host).or(seen.peer) else {
            return;
        };
        let answers_icmp = self.module.programs.values().any(|p| p.answers_icmp());
        if !answers_icmp {
            self.diags.push(
                Diagnostic::new(
                    Code::RejectAnswersUnused,
                    "no rule of this file answers with an ICMP error: this limits nothing",
                )
                .label(first, "limits no answer")
                .help("`reject` rules (other than `with tcp-reset`) send the answers this limits; TCP resets are never limited"),
            );
        }
    }
}
