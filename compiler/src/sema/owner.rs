//! Checking `owner uid|gid|user|group ...`: one per rule, only where the hook's row
//! says the program can read the sending socket's owner ([`OwnerCap`]: uid and gid at
//! netfilter output and postrouting, uid only at TC egress), with the ids resolved as
//! a socket declaration's `owner` is (`sema::ids`).
//!
//! `owner !IDS` is the complement: the other ids, and packets no socket owns (at TC,
//! where those read as [`TC_NO_SOCKET_UID`], exactly when IDS does not hold it), as
//! iptables' `-m owner ! --uid-owner` and nft's `meta skuid !=` mean it.
//!
//! Invariant: an owner test reaches the IR only at a hook that can read its kind, with
//! every id resolved, and with [`OwnerMatch::socketless`] true exactly when a packet
//! no socket owns passes the test at that hook.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::{HookSpec, OwnerCap},
    ir::RuleMatch,
    syntax::{
        ids::{IdKind, IdMatch, IdSet},
        owner::{OwnerMatch, TC_NO_SOCKET_UID},
    },
};

use super::ids::MAX_ID;

impl Checker<'_> {
    /// Adds `owner [!]IDS` at `sp` to `m`; `seen` is where the rule's first one was.
    pub(super) fn fold_owner(
        &mut self,
        (ids, negated): (&IdMatch, bool),
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut Option<Span>,
    ) {
        let help = "write the users or groups in one set: `owner uid { 1000, 1001 }`";
        if !self.first_of_kind(seen, sp, "owner", help) {
            return;
        }
        let readable = match (spec.caps.owner, ids.kind) {
            (OwnerCap::UidGid | OwnerCap::Caller, _) | (OwnerCap::Uid, IdKind::Uid) => true,
            (OwnerCap::Uid, IdKind::Gid) | (OwnerCap::None, _) => false,
        };
        if !readable {
            self.diags
                .push(cannot_read(spec, ids.kind).label(sp, "not available in this hook"));
            return;
        }
        let Some(mut set) = self.resolve_ids(ids) else {
            return;
        };
        if negated {
            set = complement(&set);
        }
        let socketless = match spec.caps.owner {
            OwnerCap::Uid => set.contains(TC_NO_SOCKET_UID),
            // A call always has its process, whose ids are never `NO_OWNER`.
            OwnerCap::Caller => false,
            _ => negated,
        };
        m.rare_mut().owner = Some(Box::new(OwnerMatch {
            ids: set,
            socketless,
        }));
    }
}

/// The ids `set` does not hold (of `0..=MAX_ID`), written `not ...`.
fn complement(set: &IdSet) -> IdSet {
    let mut out = Vec::new();
    let mut next = 0u64;
    for &(lo, hi) in &set.ranges {
        if u64::from(lo) > next {
            out.push((next as u32, lo - 1));
        }
        next = u64::from(hi) + 1;
    }
    if next <= MAX_ID {
        out.push((next as u32, MAX_ID as u32));
    }
    IdSet::new(set.kind, out, format!("not {set}"))
}

fn cannot_read(spec: &HookSpec, kind: IdKind) -> Diagnostic {
    let what = match kind {
        IdKind::Uid => "user",
        IdKind::Gid => "group",
    };
    let help = match (spec.caps.owner, kind) {
        (OwnerCap::Uid, IdKind::Gid) => {
            "TC egress reads only the socket's uid; a `netfilter output` block reads the group"
        }
        _ => {
            "`owner` works in `netfilter output` and `netfilter postrouting` blocks (uid and \
             gid) and `tc egress` blocks (uid): packets this host sends, which carry their \
             socket; and in `cgroup connect|sendmsg|bind` blocks (the calling process's ids)"
        }
    };
    Diagnostic::new(
        Code::HookCannotMatch,
        format!(
            "{} hooks cannot read the {what} owning the packet's socket",
            spec.name
        ),
    )
    .help(help)
}
