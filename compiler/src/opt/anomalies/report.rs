//! Turning what the search found in a program ([`Found`]) into warnings: one per
//! shadowed or redundant rule, in rule order, up to a cap per kind, then one counting
//! the rest of that kind; and one warning for the whole module counting the rules
//! whose search was cut short ([`partial_warning`]).
//!
//! Invariant: following every warning at once never changes a verdict. So a rule that
//! is redundant only because a later rule decides the same is not reported when that
//! later rule is itself reported as shadowed by it (a duplicated rule: removing both
//! would remove the decision); the shadowed one, the copy, is what to remove. Apart
//! from that, nothing found is dropped silently; every finding is listed or counted,
//! and so is every rule whose search ran out of budget.

use super::BUDGET;
use crate::{
    diag::{Code, Diagnostic, Span},
    ir::{Program, Rule},
};

/// What the search found in one program.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// (rule, the earlier rule covering it).
    pub(super) shadowed: Vec<(usize, usize)>,
    /// (rule, the later rule deciding the same, or `None` for the default).
    pub(super) redundant: Vec<(usize, Option<usize>)>,
    /// Rules whose search ran out of budget.
    pub(super) unchecked: Vec<usize>,
}

/// The warnings for what was found, in rule order; past `max` of a kind, one
/// warning counts the rest.
pub(super) fn report(prog: &Program, found: &Found, max: usize, diags: &mut Vec<Diagnostic>) {
    let rules = &prog.rules;
    // (shadowed rule, the rule covering it): a redundancy between the two says no more.
    let covered: std::collections::HashSet<(usize, usize)> =
        found.shadowed.iter().copied().collect();
    let redundant: Vec<(usize, Option<usize>)> = found
        .redundant
        .iter()
        .copied()
        .filter(|&(i, c)| c.is_none_or(|c| !covered.contains(&(c, i))))
        .collect();
    let shadowed = found
        .shadowed
        .iter()
        .take(max)
        .map(|&(i, a)| (i, shadowed_warning(&rules[i], &rules[a])));
    let listed_redundant = redundant
        .iter()
        .take(max)
        .map(|&(i, c)| (i, redundant_warning(prog, i, c)));
    let mut listed: Vec<(usize, Diagnostic)> = shadowed.chain(listed_redundant).collect();
    listed.sort_by_key(|x| x.0);
    diags.extend(listed.into_iter().map(|x| x.1));
    let more = |code: Code, what: &str, first: usize, count: usize| {
        Diagnostic::new(
            code,
            format!(
                "{count} more rule{} {what} (not listed one by one: at most {max} of a kind \
                 are, per program)",
                if count == 1 { "" } else { "s" }
            ),
        )
        .label(rules[first].span, "the first of them")
    };
    if found.shadowed.len() > max {
        let first = found.shadowed[max].0;
        let count = found.shadowed.len() - max;
        diags.push(more(Code::Shadowed, "never match", first, count));
    }
    if redundant.len() > max {
        let first = redundant[max].0;
        let count = redundant.len() - max;
        diags.push(more(Code::Redundant, "are redundant", first, count));
    }
}

/// Rule `r` never matches: the earlier rule `a` matches every packet it would.
fn shadowed_warning(r: &Rule, a: &Rule) -> Diagnostic {
    let same = r.m == a.m && r.cond == a.cond && r.action == a.action;
    if same {
        Diagnostic::new(
            Code::Shadowed,
            format!("rule never matches: it repeats line {}", a.line),
        )
        .label(r.span, "never matches")
        .label(a.span, "the same rule, which decides first")
        .help("remove this copy")
    } else {
        Diagnostic::new(
            Code::Shadowed,
            format!("rule never matches: covered by line {}", a.line),
        )
        .label(r.span, "never matches")
        .label(a.span, "this rule matches every packet it would")
        .help(format!(
            "remove it, or move it above line {} if it should take effect",
            a.line
        ))
    }
}

/// Rule `i` is redundant: the later rule `c` (or the default) decides the same.
fn redundant_warning(prog: &Program, i: usize, c: Option<usize>) -> Diagnostic {
    let r = &prog.rules[i];
    let d = match c {
        Some(c) => {
            let c = &prog.rules[c];
            Diagnostic::new(
                Code::Redundant,
                format!(
                    "rule is redundant: line {} decides the same for every packet it matches",
                    c.line
                ),
            )
            .label(r.span, "removing this rule changes no verdict")
            .label(c.span, "this rule decides the same")
        }
        None => Diagnostic::new(
            Code::Redundant,
            format!(
                "rule is redundant: the default (line {}) decides the same for every \
                 packet it matches",
                prog.default_line
            ),
        )
        .label(r.span, "removing this rule changes no verdict")
        .label(prog.default_span, "the default decides the same"),
    };
    d.help("remove it (only its counter would change)")
}

/// The warning for a module in which `unchecked` rules ran out of search budget,
/// pointing at the `first` of them.
pub(super) fn partial_warning(first: Span, unchecked: usize) -> Diagnostic {
    Diagnostic::new(
        Code::AnomaliesPartial,
        format!(
            "anomaly check incomplete: {unchecked} rule{} not fully checked \
             (search budget of {BUDGET} per rule exceeded)",
            if unchecked == 1 { " was" } else { "s were" }
        ),
    )
    .label(first, "the first of them")
    .help("shadowed or redundant rules among them are not reported")
}

#[cfg(test)]
mod tests {
    use super::super::{run, test_support::module};

    /// A rule written twice gets one warning, on the copy: the first copy is not
    /// also called redundant "because the copy decides the same" (following both
    /// warnings would remove the rule).
    #[test]
    fn a_duplicated_rule_gets_one_warning() {
        let src =
            "xdp on eth0 {\ndrop tcp to 1.2.3.4:80\ndrop tcp to 1.2.3.4:80\ndefault allow\n}\n";
        let d = run(&module(src));
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(d[0].message, "rule never matches: it repeats line 2");
        assert_eq!(d[0].labels[0].span.start, src.rfind("drop").unwrap());
        // Different actions: the later one is covered, not a repeat.
        let src =
            "xdp on eth0 {\ndrop tcp to 1.2.3.4:80\nallow tcp to 1.2.3.4:80\ndefault drop\n}\n";
        let d = run(&module(src));
        let messages: Vec<_> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["rule never matches: covered by line 2"]);
    }

    #[test]
    fn the_message_names_both_rules() {
        let src = "xdp on eth0 {\ndrop tcp\ncount tcp to *:80\ndefault allow\n}\n";
        let d = run(&module(src));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "rule never matches: covered by line 2");
        assert_eq!(d[0].labels[0].text, "never matches");
        assert_eq!(
            &src[d[0].labels[0].span.start..d[0].labels[0].span.end],
            "count tcp to *:80"
        );
        assert_eq!(
            &src[d[0].labels[1].span.start..d[0].labels[1].span.end],
            "drop tcp"
        );
    }
}
