//! Sets whose members change while the ruleset runs: a set the ruleset fills itself
//! (`add @s`, `update @s`, `delete @s`, meters, `-j SET --add-set`), one whose
//! elements expire or carry state (`flags dynamic`/`timeout`, per-element `limit`),
//! or one whose listing cannot be read. A listing shows such a set's members at one
//! moment, not the ones a lookup will see, so a lookup in it is kept whole as an
//! opaque match ([`Feature::SetMatch`]) — its rule stays in netfilter — and a rule that
//! writes state is kept beside it ([`writes_state`]), so that what fills the set and
//! what reads it stay together (port knocking keeps working through the pair).
//!
//! Invariant: after [`mark`], no [`Rhs::Set`] names a set with [`NamedSet::unknown`]
//! set, so no lookup is ever decided by a listed, momentary content (an empty
//! `flags dynamic` set is not "never matches").

use crate::{
    features::Feature,
    model::{Effect, Match, MatchKind, Rhs, Rule, Ruleset},
};

/// Marks the sets the ruleset writes and turns every lookup in a set whose members
/// are not known into an opaque match.
pub fn mark(rs: &mut Ruleset) {
    for id in 0..rs.rules.len() {
        let rule = &rs.rules[id];
        let (table, line) = (rule.table, rule.span.line);
        for name in written_sets(rule) {
            let set = rs
                .sets
                .iter_mut()
                .find(|s| s.name == name && (s.table.is_none() || s.table == Some(table)));
            if let Some(s) = set {
                s.unknown
                    .get_or_insert(format!("the rule at line {line} fills it"));
            }
        }
    }
    let sets = &rs.sets;
    for rule in &mut rs.rules {
        for m in &mut rule.matches {
            opaque_lookups(m, sets);
        }
    }
}

fn opaque_lookups(m: &mut Match, sets: &[crate::model::NamedSet]) {
    match &mut m.kind {
        MatchKind::Test {
            rhs: Rhs::Set(id), ..
        } => {
            let set = &sets[*id];
            if let Some(why) = &set.unknown {
                m.kind = MatchKind::Opaque {
                    feature: Feature::SetMatch,
                    key: format!(
                        "a lookup in set {}, whose members change at run time ({why})",
                        set.name
                    ),
                };
            }
        }
        MatchKind::Any(alternatives) => {
            for m in alternatives.iter_mut().flatten() {
                opaque_lookups(m, sets);
            }
        }
        _ => {}
    }
}

/// Whether a rule changes state a later packet's verdict may depend on (it fills a
/// set, a meter or a `recent` list): such a rule stays in netfilter with the rules
/// that read the state, even when it decides nothing itself.
pub fn writes_state(rule: &Rule) -> bool {
    !written_sets(rule).is_empty() || opaque_texts(rule).any(|(f, _)| f == Feature::Recent)
}

/// The names of the sets a rule writes.
fn written_sets(rule: &Rule) -> Vec<String> {
    opaque_texts(rule)
        .filter_map(|(_, text)| written_set(text))
        .collect()
}

/// Every opaque match (also inside alternatives) and unknown effect of a rule, with
/// its feature and text.
fn opaque_texts(rule: &Rule) -> impl Iterator<Item = (Feature, &str)> {
    fn walk<'a>(m: &'a Match, out: &mut Vec<(Feature, &'a str)>) {
        match &m.kind {
            MatchKind::Opaque { feature, key } => out.push((*feature, key)),
            MatchKind::Any(alts) => alts.iter().flatten().for_each(|m| walk(m, out)),
            MatchKind::Test { .. } | MatchKind::Cgroup(_) => {}
        }
    }
    let mut out = Vec::new();
    for m in &rule.matches {
        walk(m, &mut out);
    }
    for e in &rule.effects {
        if let Effect::Other { feature, text } = e {
            out.push((*feature, text.as_str()));
        }
    }
    out.into_iter()
}

/// The set a statement's text writes: nft `add @s ...`, `update @s ...`, `delete @s
/// ...`, `meter NAME ...`; their JSON forms (`{"set": {"op": "add", "set": "@s"}}`,
/// `{"meter": {"name": ...}}`, `{"map": {"map": "@m"}}`); iptables' `-j SET
/// --add-set NAME` / `--del-set NAME`.
fn written_set(text: &str) -> Option<String> {
    let t = text.trim_start();
    for verb in ["add @", "update @", "delete @"] {
        if let Some(rest) = t.strip_prefix(verb) {
            return Some(word(rest));
        }
    }
    if let Some(rest) = t.strip_prefix("meter ") {
        return Some(word(rest));
    }
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let (kind, body) = v.as_object()?.iter().next()?;
        let name = match kind.as_str() {
            "set" => body.get("set")?.as_str()?,
            "map" => body.get("map")?.as_str()?,
            "meter" => body.get("name")?.as_str()?,
            _ => return None,
        };
        return Some(name.trim_start_matches('@').to_string());
    }
    let mut words = t.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--add-set" || w == "--del-set" {
            return words.next().map(str::to_string);
        }
    }
    None
}

/// The name at the start of `s` (up to a space, `{` or `}`).
fn word(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c == '{' || c == '}')
        .next()
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::written_set;

    #[test]
    fn the_writers_of_every_format_are_found() {
        assert_eq!(
            written_set("add @seen { ip saddr }").as_deref(),
            Some("seen")
        );
        assert_eq!(
            written_set("update @m { ip saddr limit rate 1/second }").as_deref(),
            Some("m")
        );
        assert_eq!(
            written_set("meter flood size 65535 { ip saddr }").as_deref(),
            Some("flood")
        );
        assert_eq!(
            written_set(r#"{"set":{"elem":{"payload":{"field":"saddr","protocol":"ip"}},"op":"add","set":"@seen"}}"#)
                .as_deref(),
            Some("seen")
        );
        assert_eq!(
            written_set("-j SET --add-set knock src").as_deref(),
            Some("knock")
        );
        assert_eq!(written_set("limit rate 1/second"), None);
    }
}
