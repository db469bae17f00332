//! Checking `cgroup [!]"PATH"` and `cgroup [!]unit "NAME"` in a rule: one per rule,
//! only where the hook's row says the program can tell the cgroup of the packet's
//! socket or of the calling process ([`CgroupCap`]), with the path or unit name
//! checked as a cgroup block's head is (`sema::sockmap`'s `check_cgroup`).
//!
//! Invariant: a cgroup test reaches the IR only at a hook that can read it, and its
//! cgroup has one slot in `Module::cgroups` however many rules name it (the same
//! text is the same cgroup: paths have no `.`, `..` or doubled `/` to hide behind,
//! trailing `/` taken off).

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::{CgroupCap, HookSpec},
    ir::RuleMatch,
    syntax::cgroup_match::{CgroupMatch, CGROUPS_MAX},
};

impl Checker<'_> {
    /// Adds `cgroup [!]CGROUP` (the string at `at`, the match at `sp`) to `m`; `seen`
    /// is where the rule's first one was.
    pub(super) fn fold_cgroup(
        &mut self,
        (cgroup, negated, at): (&str, bool, Span),
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut Option<Span>,
    ) {
        let help = "a rule tests one cgroup; write one rule per cgroup";
        if !self.first_of_kind(seen, sp, "cgroup", help) {
            return;
        }
        if spec.caps.cgroup == CgroupCap::None {
            self.diags
                .push(cannot_read(spec).label(sp, "not available in this hook"));
            return;
        }
        let before = self.diags.errors();
        let cgroup = tidy(cgroup);
        self.check_cgroup(at, &cgroup);
        if cgroup.contains("//") {
            self.diags.push(
                Diagnostic::new(
                    Code::BadCgroup,
                    format!("`{}` has an empty component", crate::diag::quote(&cgroup)),
                )
                .label(at, "a cgroup is named by its own path")
                .help("write each `/` once, so that two names of one cgroup cannot both be used"),
            );
        }
        if self.diags.errors() > before {
            return;
        }
        let cgroups = &mut self.module.cgroups;
        let slot = match cgroups.iter().position(|c| *c == cgroup) {
            Some(i) => i,
            None if cgroups.len() >= CGROUPS_MAX => {
                self.diags.push(
                    Diagnostic::new(
                        Code::TooManyCgroups,
                        format!("more than {CGROUPS_MAX} cgroups named in `cgroup` matches"),
                    )
                    .label(at, "one too many"),
                );
                return;
            }
            None => {
                cgroups.push(cgroup.clone());
                cgroups.len() - 1
            }
        };
        m.rare_mut().cgroup = Some(Box::new(CgroupMatch {
            cgroup,
            slot: slot as u32,
            negated,
        }));
    }
}

/// The path without trailing `/` (the root stays `/`); a unit name as written.
fn tidy(cgroup: &str) -> String {
    if cgroup.starts_with('/') && cgroup.len() > 1 {
        let t = cgroup.trim_end_matches('/');
        return if t.is_empty() { "/".into() } else { t.into() };
    }
    cgroup.into()
}

fn cannot_read(spec: &HookSpec) -> Diagnostic {
    Diagnostic::new(
        Code::HookCannotMatch,
        format!(
            "{} hooks cannot tell the cgroup of the packet's socket",
            spec.name
        ),
    )
    .help(
        "`cgroup \"PATH\"` works where the packet carries the socket that sent or takes it: \
         `tc egress`, `cgroup ingress|egress`, `netfilter input|output|postrouting`; and in \
         `cgroup connect|sendmsg|bind` blocks (the calling process's cgroup)",
    )
}
