//! Checking `comm [!]"NAME"` / `comm [!]{ ... }`: one per rule, only where the hook's
//! row says the program runs in the calling process's context
//! ([`MatchCaps::comm`](crate::hooks::MatchCaps): the socket-call hooks), every name
//! one a task can have (`sockc::bad-comm`, at the name).
//!
//! Invariant: a comm test reaches the IR only at such a hook, with every name
//! 1 to 15 bytes without a NUL, held as the kernel's 16 NUL-padded bytes.

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::HookSpec,
    ir::RuleMatch,
    syntax::comm::{comm_of, CommMatch, MAX_NAME},
};

impl Checker<'_> {
    /// Adds `comm [!]NAMES` at `sp` to `m`; `seen` is where the rule's first one was.
    pub(super) fn fold_comm(
        &mut self,
        (names, negated): (&[(String, Span)], bool),
        sp: Span,
        spec: &HookSpec,
        m: &mut RuleMatch,
        seen: &mut Option<Span>,
    ) {
        let help = "write the names in one set: `comm { \"curl\", \"wget\" }`";
        if !self.first_of_kind(seen, sp, "comm", help) {
            return;
        }
        if !spec.caps.comm {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!("{} hooks cannot read the command of a process", spec.name),
                )
                .label(sp, "not available in this hook")
                .help(
                    "`comm` works in `cgroup connect|sendmsg|bind` blocks, which run in \
                     the context of the process making the call",
                ),
            );
            return;
        }
        let mut comms = Vec::new();
        for (name, nsp) in names {
            match comm_of(name) {
                Some(c) => comms.push(c),
                None => self.diags.push(bad_name(name, *nsp)),
            }
        }
        if comms.len() == names.len() {
            m.rare_mut().comm = Some(Box::new(CommMatch::new(comms, negated)));
        }
    }
}

fn bad_name(name: &str, sp: Span) -> Diagnostic {
    let (what, help) = if name.is_empty() {
        (
            "an empty command name".to_string(),
            "name the program".into(),
        )
    } else if name.len() > MAX_NAME {
        let cut = cut_to(name, MAX_NAME);
        (
            format!("a command name of {} bytes", name.len()),
            format!(
                "the kernel keeps the first {MAX_NAME} bytes of a process's name \
                 (TASK_COMM_LEN): write \"{cut}\""
            ),
        )
    } else {
        (
            "a command name with a NUL".to_string(),
            "write the name without it".into(),
        )
    };
    Diagnostic::new(Code::BadComm, format!("no process has {what}"))
        .label(sp, "not a process's name")
        .help(help)
}

/// The longest start of `s` that fits `max` bytes and ends at a character boundary.
fn cut_to(s: &str, max: usize) -> &str {
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
