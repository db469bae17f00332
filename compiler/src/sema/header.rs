//! Checking IP header field tests (`ttl`, `hoplimit`, `dscp`, `ecn`, `length`): only hooks whose programs read
//! the packet's IP header (XDP, TC and cgroup, from the packet; netfilter, through the
//! socket buffer) can test them — sk_lookup and the socket layer see connections, not
//! headers — and each field is tested once per rule. A field keeps its rule to the
//! family whose header has it (`ttl` IPv4, `hoplimit` IPv6), as `icmp` does, and one
//! both headers have (`dscp`, `ecn`) keeps it to IP packets, as `frag` does; a
//! `length` test that only one family's lengths pass (IPv4 packets are at most 65535
//! bytes long, IPv6 ones at least 40) keeps its rule to that family.
//!
//! Invariant: a field test reaches the IR only at a hook that reads the IP header,
//! with the rule's family set to the field's, and a rule's tests sorted by field,
//! each field at most once, never one that every value passes.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::{Context, HookSpec},
    ir::RuleMatch,
    syntax::{
        ast::Family,
        ipfield::{Field, FieldTest},
    },
};

impl Checker<'_> {
    /// Adds the field test `t` at `sp` to `m`; `family` is the rule's family so far.
    pub(super) fn fold_ipfield(
        &mut self,
        t: &FieldTest,
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        family: &mut Option<(Family, Span)>,
    ) {
        let name = t.field.name();
        if !matches!(spec.context, Context::Packet(_) | Context::Netfilter) {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!("{} hooks cannot read the packet's `{name}`", spec.name),
                )
                .label(sp, "not available in this hook")
                .help("IP header fields work in xdp, tc, cgroup and netfilter blocks, which read the IP header"),
            );
            return;
        }
        if m.rare().fields.iter().any(|f| f.field == t.field) {
            self.diags.push(
                Diagnostic::new(Code::Conflict, format!("more than one `{name}` in a rule"))
                    .label(sp, "second one")
                    .help(format!(
                        "a packet has one {name}: list its values in one match, `{name} {}`",
                        t.field.example()
                    )),
            );
            return;
        }
        match t.field.ipv6().or_else(|| one_family(t)) {
            Some(v6) if !self.family_can_have(t, v6, sp, family) => return,
            Some(true) => self.constrain_family(family, Family::V6, sp),
            Some(false) => self.constrain_family(family, Family::V4, sp),
            // Like every match above the frame, it makes the rule IP-only
            // (`frames::FrameSpans::ip_only`).
            None => {}
        }
        if t.is_full() {
            // Every value passes (`hoplimit <= 255`): the family is the whole test. A
            // test the lowering would emit no branch for must not reach the IR, which
            // assumes every test may fail.
            return;
        }
        let at = m.rare_mut().fields.partition_point(|f| f.field < t.field);
        m.rare_mut().fields.insert(at, t.clone());
    }

    /// Whether a rule of `family` so far can have the lengths `t` keeps to one family
    /// (`v6`); reports the rule that cannot (`ip4 length > 65535`, `ip6 length < 40`).
    fn family_can_have(
        &mut self,
        t: &FieldTest,
        v6: bool,
        sp: Span,
        family: &Option<(Family, Span)>,
    ) -> bool {
        let other = if v6 { Family::V4 } else { Family::V6 };
        let Some((f, fsp)) = *family else {
            return true;
        };
        if t.field != Field::Length || f != other {
            return true;
        }
        let why = match f {
            Family::V4 => "no IPv4 packet is longer than 65535 bytes",
            Family::V6 => "no IPv6 packet is shorter than 40 bytes (its fixed header)",
        };
        self.diags.push(
            Diagnostic::new(
                Code::FamilyConflict,
                format!("{why}: the rule never matches"),
            )
            .label(sp, "lengths of the other family only")
            .label(fsp, "the rule's family"),
        );
        false
    }
}

/// The family a `length` test keeps its rule to, when only one family's packets can
/// have the lengths it passes (`None`: both can, or another field).
fn one_family(t: &FieldTest) -> Option<bool> {
    if t.field != Field::Length {
        return None;
    }
    match (
        t.family_ranges(false).is_empty(),
        t.family_ranges(true).is_empty(),
    ) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}
