//! Checking `ct state ...` matches: one per rule, only in hooks that can tell the
//! packet's connection-tracking state (the hook table's `ct_state` capability: a
//! lookup at XDP and TC, conntrack's own answer at netfilter hooks).

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::HookSpec,
    ir::RuleMatch,
    syntax::ct::CtStates,
};

impl Checker<'_> {
    /// Adds a `ct state` match at `sp` to `m`; `seen` is where the rule's first one
    /// was.
    pub(super) fn fold_ct_state(
        &mut self,
        states: CtStates,
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut Option<Span>,
    ) {
        let help = "list the states in one match: `ct state established,related`";
        if !self.first_of_kind(seen, sp, "ct state", help) {
            return;
        }
        if !spec.caps.ct_state {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!(
                        "{} hooks cannot test the connection-tracking state",
                        spec.name
                    ),
                )
                .label(sp, "not available in this hook")
                .help("`ct state` works in xdp, tc and netfilter blocks"),
            );
            return;
        }
        m.ct = Some(states);
        self.warn_conntrack("ct state", sp, spec);
    }

    /// Says once per file that conntrack must be on for `ct` matches to see entries.
    pub(super) fn warn_conntrack(&mut self, what: &str, sp: Span, spec: &HookSpec) {
        if !self.ct_warned {
            self.ct_warned = true;
            self.diags.push(
                Diagnostic::new(
                    Code::CtNeedsConntrack,
                    format!(
                        "`{what}` sees only what the kernel's connection tracking records, \
                         and conntrack runs in a network namespace only while something \
                         there uses it"
                    ),
                )
                .label(
                    sp,
                    if what != "ct state" {
                        "the entry conntrack gave the packet before this hook"
                    } else if spec.target == crate::hooks::Target::Netfilter {
                        "the state conntrack gave the packet before this hook"
                    } else {
                        "looked up in conntrack's table"
                    },
                )
                .help(
                    "`sockc apply` switches it on in the install's namespace (nft table inet \
                     sockc_ct_<install>, a chain that never runs) and says so; loaded any \
                     other way, without a user (an nft or iptables rule with a ct match) no \
                     packet is `established` or `related`: `nft add table inet ct_on; nft \
                     add chain inet ct_on anchor; nft add rule inet ct_on anchor ct state new`",
                ),
            );
        }
    }
}
