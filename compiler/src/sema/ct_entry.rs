//! Checking `ct status`, `ct direction` and `ct mark` matches: each at most once per
//! rule, only in hooks whose row's `caps.ct_entry` says the program reads the packet's
//! conntrack entry (netfilter: `skb->_nfct`), a `ct mark` mask in the narrow form the
//! header space keeps exactly, and no list that matches nothing.
//!
//! Invariant: a test reaches the IR only in a netfilter block, and a `ct mark` only
//! when [`CtMarkTest::intervals`] holds it.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::HookSpec,
    ir::RuleMatch,
    syntax::{
        ct_entry::{CtEntryTest, CtEntryTests, CtMarkTest},
        mark::MAX_INTERVALS,
    },
};

impl Checker<'_> {
    /// Adds `t` at `sp` to `m`; `seen` is where the rule's first status, direction
    /// and mark tests were.
    pub(super) fn fold_ct_entry(
        &mut self,
        t: &CtEntryTest,
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut [Option<Span>; 3],
    ) {
        let kind = t.kind();
        let what = format!("ct {kind}");
        let slot = match t {
            CtEntryTest::Status(_) => 0,
            CtEntryTest::Direction(_) => 1,
            CtEntryTest::Mark(_) => 2,
        };
        let help = format!("a connection has one {kind}: test it in one match");
        if !self.first_of_kind(&mut seen[slot], sp, &what, &help) {
            return;
        }
        if !spec.caps.ct_entry {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!(
                        "{} hooks cannot read the packet's conntrack entry",
                        spec.name
                    ),
                )
                .label(sp, "not available in this hook")
                .help(
                    "`ct status`, `ct direction` and `ct mark` work in netfilter blocks, which \
                     run after conntrack and read the entry it gave the packet",
                ),
            );
            return;
        }
        match t {
            CtEntryTest::Status(s) => entry(m).status = Some(*s),
            CtEntryTest::Direction(d) => entry(m).direction = Some(*d),
            CtEntryTest::Mark(c) => {
                if !self.ct_mark_kept(c, sp) {
                    return;
                }
                entry(m).mark = Some(c.clone());
            }
        }
        self.warn_conntrack(&what, sp, spec);
    }

    /// Whether the header space keeps `c` exactly (reported at `sp` when not).
    fn ct_mark_kept(&mut self, c: &CtMarkTest, sp: Span) -> bool {
        if c.intervals().is_some() {
            return true;
        }
        self.diags.push(
            Diagnostic::new(Code::Mark, "this ct mark mask is not one sockc tests yet")
                .label(sp, "too many unmasked bits above its lowest bit")
                .help(format!(
                    "the marks a test admits must be at most {MAX_INTERVALS} ranges: a mask \
                     such as 0x80000000 or 0xff000000 (high bits), or list the marks"
                )),
        );
        false
    }
}

/// The rule's entry tests, made when its first one is read (a rule without any keeps
/// none: most rules have none, and the match stays small).
fn entry(m: &mut RuleMatch) -> &mut CtEntryTests {
    m.rare_mut().ct_entry.get_or_insert_with(Default::default)
}
