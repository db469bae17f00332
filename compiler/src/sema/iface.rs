//! Checking `in on NAME` / `out on NAME`: only netfilter blocks have a packet device to
//! read (an XDP or TC block is already on one interface: its `on IFACE`), and only at
//! the hooks where the kernel has that device: the incoming one at prerouting, input
//! and forward, the outgoing one at forward, output and postrouting (elsewhere
//! `nf_hook_state`'s member is NULL). One match per direction and rule (by name or by
//! index), each name a device name the kernel can have, each index one it can give.
//!
//! Invariant: a match reaches the IR only at a hook where its device exists, with
//! names of at most 15 bytes, so the lowering's two-word compare reads the whole name,
//! and indexes of 1 to `MAX_IFINDEX`, so that no index test admits "no device".

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::{Context, HookKind, HookSpec},
    ir::RuleMatch,
    syntax::iface::{Devices, Dir, IfaceMatch, IfaceName, NameError, MAX_IFINDEX},
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
    /// Adds an `in on`/`out on` match (`in index`/`out index` with `index`) at `span`
    /// to `m`; `seen` holds where the rule's first match of each direction was.
    pub(super) fn fold_iface(
        &mut self,
        (dir, negated, index, names, span): (Dir, bool, bool, &[(String, Span)], Span),
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut [Option<Span>; 2],
    ) {
        let slot = &mut seen[dir as usize];
        let kind = format!("{} on` or `{} index", dir.word(), dir.word());
        if !self.first_of_kind(
            slot,
            span,
            &kind,
            "one device match per direction: list the names (`in on eth0,eth1`) or the \
             indexes (`in index 2,3`) in one",
        ) {
            return;
        }
        if !self.iface_hook_ok(dir, index, span, spec) {
            return;
        }
        let devices = if index {
            self.iface_indexes(names).map(Devices::Indexes)
        } else {
            self.iface_names(names).map(Devices::Names)
        };
        let Some(devices) = devices else {
            return;
        };
        let parsed = Some(IfaceMatch {
            dir,
            negated,
            devices,
        });
        match dir {
            Dir::In => m.rare_mut().iif = parsed.map(Box::new),
            Dir::Out => m.rare_mut().oif = parsed.map(Box::new),
        }
    }

    fn iface_hook_ok(&mut self, dir: Dir, index: bool, span: Span, spec: &HookSpec) -> bool {
        let word = format!("{} {}", dir.word(), if index { "index" } else { "on" });
        let (label, help) = if !matches!(spec.context, Context::Netfilter) {
            (
                "not available in this hook",
                "an xdp or tc block runs on one interface already (its `on IFACE`); \
                 `in on`/`out on` and `in index`/`out index` work in netfilter blocks"
                    .to_string(),
            )
        } else if !hook_has_device(spec.kind, dir) {
            (
                "the kernel gives this hook no such device",
                format!(
                    "`in on`/`in index` work at netfilter prerouting, input and forward, \
                     `out on`/`out index` at forward, output and postrouting; `{word}` has \
                     no device here"
                ),
            )
        } else {
            return true;
        };
        self.diags.push(
            Diagnostic::new(
                Code::HookCannotMatch,
                format!("{} hooks cannot match `{word}`", spec.name),
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

    /// The indexes as written: each 1 to `MAX_IFINDEX` (`ifindex` is a positive int).
    fn iface_indexes(&mut self, written: &[(String, Span)]) -> Option<Vec<u32>> {
        let mut out = Vec::with_capacity(written.len());
        for (text, sp) in written {
            match text.parse::<u32>() {
                Ok(n) if (1..=MAX_IFINDEX).contains(&n) => out.push(n),
                _ => self.diags.push(
                    Diagnostic::new(
                        Code::BadInterface,
                        format!("an interface index is 1 to {MAX_IFINDEX}, not {text}"),
                    )
                    .label(*sp, "no device has this index")
                    .help("write the index `ip link` shows before the name (lo is 1)"),
                ),
            }
        }
        (out.len() == written.len()).then_some(out)
    }
}
