//! Checking `mark VALUE/MASK`: only the hooks whose row's `caps.mark` says so read the
//! packet's mark (TC and netfilter read `skb->mark`; an XDP program has no socket
//! buffer), one per rule, and
//! in the narrow form the header space keeps exactly (a mask whose marks are at most
//! [`MAX_INTERVALS`] intervals: its bits above the lowest one mostly set, such as
//! `0x80000000` or `0xff000000`).
//!
//! Invariant: a mark test reaches the IR only in a TC or netfilter block, and only when
//! [`MarkTest::intervals`] holds it.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::HookSpec,
    ir::RuleMatch,
    syntax::mark::{MarkTest, MAX_INTERVALS},
};

impl Checker<'_> {
    /// Adds `mark` at `sp` to `m`; `seen` is where the rule's first mark test was.
    pub(super) fn fold_mark(
        &mut self,
        mark: MarkTest,
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut Option<Span>,
    ) {
        let help = "a packet has one mark: test its bits in one match, `mark VALUE/MASK`";
        if !self.first_of_kind(seen, sp, "mark", help) {
            return;
        }
        if !spec.caps.mark {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!("{} hooks cannot read the packet's mark", spec.name),
                )
                .label(sp, "not available in this hook")
                .help(
                    "`mark` works in TC and netfilter blocks, which read the packet's socket \
                     buffer (an XDP program runs before there is one)",
                ),
            );
            return;
        }
        if mark.intervals().is_none() {
            self.diags.push(
                Diagnostic::new(
                    Code::Mark,
                    format!("the mark mask {:#x} is not one sockc tests yet", mark.mask),
                )
                .label(sp, "too many unmasked bits above its lowest bit")
                .help(format!(
                    "the marks a test admits must be at most {MAX_INTERVALS} ranges: a mask \
                     such as 0x80000000 or 0xff000000 (high bits)"
                )),
            );
            return;
        }
        m.rare_mut().mark = Some(mark);
    }
}
