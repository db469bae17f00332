//! How `sockc test` names the rules it reports, whatever the hook: a program by its
//! hook and attach point, a deciding rule by its line and text, and (for `--json`) every
//! rule by its stable id. Invariant: the default is named as the rule after the last
//! one (`default VERDICT`), so rule index `rules.len()` is the default everywhere.

use sockc_compiler::{
    hooks,
    ir::{verdict_name, Program},
};
use sockc_testkit::eval::Decider;

/// The program as the user names it: `xdp on eth0`, `sk_lookup`, `sockmap cgroup /x`.
pub fn hook_label(p: &Program) -> String {
    p.hook.spec().label(&p.attach_to)
}

/// The deciding rule as `line N: TEXT`, or the default's line.
pub fn decider_text(prog: &Program, decider: Decider) -> String {
    match decider {
        Decider::Rule(i) => rule_text(prog, i),
        Decider::Default => format!(
            "line {}: default {} (no rule matched)",
            prog.default_line,
            verdict_name(prog.default)
        ),
    }
}

/// Rule `i` as `line N: TEXT`.
pub fn rule_text(prog: &Program, i: usize) -> String {
    format!("line {}: {}", prog.rules[i].line, prog.rules[i].text)
}

/// A program's rule texts and stable rule ids (runtime/src/rule_id.rs), the default
/// last: worked out once per program for `--json`, not once per packet.
pub struct RuleNames {
    pub texts: Vec<String>,
    pub ids: Vec<String>,
}

impl RuleNames {
    pub fn of(prog: &Program) -> RuleNames {
        let texts: Vec<String> = prog
            .rules
            .iter()
            .map(|r| r.text.to_string())
            .chain([format!("default {}", verdict_name(prog.default))])
            .collect();
        let ids = sockc_runtime::rule_id::block_ids(
            hooks::spec(prog.hook).name,
            &prog.attach_to,
            texts.iter().map(String::as_str),
        );
        RuleNames { texts, ids }
    }

    /// The decider's index among `texts` and `ids`.
    pub fn index(&self, decider: Decider) -> usize {
        match decider {
            Decider::Rule(i) => i,
            Decider::Default => self.texts.len() - 1,
        }
    }
}
