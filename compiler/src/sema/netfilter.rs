//! Checks of a `netfilter` block's head: its priority must be one the kernel takes
//! for a BPF hook. Invariant: a priority sema lets through fits `i32` and is neither
//! `INT_MIN` nor `INT_MAX` (the kernel refuses both with `ERANGE`: they are the places
//! of conntrack's first and last functions); whether another function already sits
//! at it (`EBUSY`) only the kernel knows, at apply.

use super::Checker;
use crate::diag::{Code, Diagnostic, Span};

impl Checker<'_> {
    /// `attach_to` is the block's priority as sema wrote it (decimal).
    pub(super) fn check_nf_priority(&mut self, head: Span, attach_to: &str) {
        let ok = attach_to
            .parse::<i64>()
            .is_ok_and(|p| p > i64::from(i32::MIN) && p < i64::from(i32::MAX));
        if ok {
            return;
        }
        self.diags.push(
            Diagnostic::new(
                Code::BadPriority,
                format!("netfilter priority {attach_to} is out of range"),
            )
            .label(head, "the kernel takes priorities above -2147483648 and below 2147483647")
            .help("write a priority that is not a standard one (0 is the filter chains'), e.g. `priority 10`"),
        );
    }
}
