//! Checking `in on NAME` / `out on NAME`: only netfilter blocks have a packet device to
//! read (an XDP or TC block is already on one interface: its `on IFACE`), and only at
//! the hooks where the kernel has that device: the incoming one at prerouting, input
//! and forward, the outgoing one at forward, output and postrouting (elsewhere
//! `nf_hook_state`'s member is NULL). One match per direction and rule, each name a
//! device name the kernel can have.
//!
//! Invariant: a match reaches the IR only at a hook where its device exists, with
//! names of at most 15 bytes, so the lowering's two-word compare reads the whole name.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::{Context, HookKind, HookSpec},
    ir::RuleMatch,
    syntax::iface::{Dir, IfaceMatch, IfaceName, NameError},
};

/// The hooks at which the kernel gives a netfilter program the device `dir` reads.
pub(crate) fn hook_has_device(kind: HookKind, dir: Dir) -> bool {
    match dir {
        Dir::In => matches!(
            kind,
            HookKind::NfPrerouting | HookKind::NfInput | HookKind::NfForward
        ),
        Dir::Out => matches!(
            kind,
            HookKind::NfForward | HookKind::NfOutput | HookKind::NfPostrouting
        ),
    }
}

impl Checker<'_> {
    /// Adds an `in on`/`out on` match at `span` to `m`; `seen` holds where the rule's
    /// first match of each direction was.
    pub(super) fn fold_iface(
        &mut self,
        (dir, negated, names, span): (Dir, bool, &[(String, Span)], Span),
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut [Option<Span>; 2],
    ) {
        let slot = &mut seen[dir as usize];
        let kind = format!("{} on", dir.word());
        if !self.first_of_kind(
            slot,
            span,
            &kind,
            "list the names in one match: `in on eth0,eth1`",
        ) {
            return;
        }
        if !self.iface_hook_ok(dir, span, spec) {
            return;
        }
        let Some(names) = self.iface_names(names) else {
            return;
        };
        let parsed = Some(IfaceMatch {
            dir,
            negated,
            names,
        });
        match dir {
            Dir::In => m.iif = parsed.map(Box::new),
            Dir::Out => m.oif = parsed.map(Box::new),
        }
    }

    fn iface_hook_ok(&mut self, dir: Dir, span: Span, spec: &HookSpec) -> bool {
        let word = dir.word();
        let (label, help) = if !matches!(spec.context, Context::Netfilter) {
            (
                "not available in this hook",
                "an xdp or tc block runs on one interface already (its `on IFACE`); \
                 `in on`/`out on` work in netfilter blocks"
                    .to_string(),
            )
        } else if !hook_has_device(spec.kind, dir) {
            (
                "the kernel gives this hook no such device",
                format!(
                    "`in on` works at netfilter prerouting, input and forward, `out on` at \
                     forward, output and postrouting; `{word} on` has no device here"
                ),
            )
        } else {
            return true;
        };
        self.diags.push(
            Diagnostic::new(
                Code::HookCannotMatch,
                format!("{} hooks cannot match `{word} on`", spec.name),
            )
            .label(span, label)
            .help(help),
        );
        false
    }

    fn iface_names(&mut self, names: &[(String, Span)]) -> Option<Vec<IfaceName>> {
        let mut out = Vec::with_capacity(names.len());
        for (text, sp) in names {
            match IfaceName::parse(text) {
                Ok(n) => out.push(n),
                Err(e) => {
                    let why = match e {
                        NameError::TooLong(n) => format!(
                            "an interface name has at most 15 bytes (IFNAMSIZ), this one {n}"
                        ),
                        NameError::Empty => "an empty interface name".into(),
                    };
                    self.diags.push(
                        Diagnostic::new(Code::BadInterface, why)
                            .label(*sp, "no device has this name")
                            .help("write the name `ip link` shows, or a prefix ending in `*`"),
                    );
                }
            }
        }
        (out.len() == names.len()).then_some(out)
    }
}
