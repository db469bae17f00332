//! Rate limits (`-m limit`, `-m hashlimit --hashlimit-mode srcip`, nft `limit rate`)
//! as the language's `limit`: which limit atoms can be written, and their words.
//!
//! Invariant: a limit is written only where it keeps netfilter's one bucket per rule:
//! every flat rule that carries its atom carries it positively, from its own rule's
//! match (not inherited through a jump, not an exclusion), and no rule reaches more
//! than one flat rule over all places (a rule split into pieces or placed twice would
//! get a bucket per piece); a hashlimit shares its table by name, so a name used by
//! more than one rule is never written. Everything else stays unsupported.

use std::collections::{HashMap, HashSet};

use crate::{
    algebra::AtomId,
    features::Feature,
    model::{MatchKind, RuleId, Ruleset},
    semantics::{
        atoms::{AtomKind, Atoms},
        flatten::Origin,
        Placed,
    },
};

/// The limit atoms the import may write as `limit` words.
#[derive(Clone, Debug, Default)]
pub struct LimitPlan {
    writable: HashSet<AtomId>,
    /// Set where the language has no `limit` at all (a netfilter block while
    /// [`Feature::NetfilterLimit`] is off): every limit is refused, needing it.
    pub refused: Option<Feature>,
}

impl LimitPlan {
    /// Looks at every flat rule of every place.
    pub fn new(rs: &Ruleset, atoms: &Atoms, placed: &[&Placed]) -> LimitPlan {
        let mut pieces: HashMap<RuleId, usize> = HashMap::new();
        let mut uses: HashMap<AtomId, Vec<Option<RuleId>>> = HashMap::new();
        for p in placed {
            for r in &p.list.rules {
                let own = match r.origin {
                    Origin::Rule(id) => {
                        *pieces.entry(id).or_default() += 1;
                        Some(id)
                    }
                    Origin::Policy { .. } => None,
                };
                for (a, positive) in r.cube.atoms() {
                    let Some(key) = limit_key(atoms, *a) else {
                        continue;
                    };
                    let owned = own.filter(|id| {
                        *positive && owns(rs, *id, key) && r.path.iter().all(|j| !has_limit(rs, *j))
                    });
                    uses.entry(*a).or_default().push(owned);
                }
            }
        }
        let mut by_name: HashMap<&str, HashSet<RuleId>> = HashMap::new();
        for (a, rules) in &uses {
            if let Some(name) = limit_key(atoms, *a).and_then(table_name) {
                by_name
                    .entry(name)
                    .or_default()
                    .extend(rules.iter().flatten());
            }
        }
        let writable = uses
            .iter()
            .filter(|(a, rules)| {
                let shared = limit_key(atoms, **a)
                    .and_then(table_name)
                    .is_some_and(|n| by_name[n].len() > 1);
                !shared
                    && words(limit_key(atoms, **a).unwrap_or_default()).is_some()
                    && rules
                        .iter()
                        .all(|r| r.is_some_and(|id| pieces.get(&id) == Some(&1)))
            })
            .map(|(a, _)| *a)
            .collect();
        LimitPlan {
            writable,
            refused: None,
        }
    }

    /// Refuses every limit: the target needs `f` for them.
    pub fn refuse(&mut self, f: Feature) {
        self.refused = Some(f);
    }

    /// The words of atom `a` tested positively, when it is a limit that can be written.
    pub fn written(&self, atoms: &Atoms, a: AtomId, positive: bool) -> Option<String> {
        if !positive || self.refused.is_some() || !self.writable.contains(&a) {
            return None;
        }
        limit_key(atoms, a).and_then(words)
    }
}

/// The normalized key of a limit atom.
fn limit_key(atoms: &Atoms, a: AtomId) -> Option<&str> {
    match atoms.kind(a) {
        AtomKind::Opaque {
            feature: Feature::Limit | Feature::Hashlimit,
            key,
        } => Some(key),
        _ => None,
    }
}

/// Whether rule `id` itself has the limit `key`, not negated.
fn owns(rs: &Ruleset, id: RuleId, key: &str) -> bool {
    rs.rules[id]
        .matches
        .iter()
        .any(|m| !m.negated && matches!(&m.kind, MatchKind::Opaque { key: k, .. } if k == key))
}

fn has_limit(rs: &Ruleset, id: RuleId) -> bool {
    rs.rules[id].matches.iter().any(|m| {
        matches!(
            &m.kind,
            MatchKind::Opaque {
                feature: Feature::Limit | Feature::Hashlimit,
                ..
            }
        )
    })
}

/// A hashlimit's table name (`... (hashlimit NAME)` at the end of its key).
fn table_name(key: &str) -> Option<&str> {
    key.rsplit_once(" (hashlimit ")
        .and_then(|(_, n)| n.strip_suffix(')'))
}

/// The language's words for a normalized limit key (the readers write keys as
/// `limit [over] N/unit burst B [per source]` or `limit [over] N UNIT/unit [burst M
/// UNIT]`), or `None` when the language cannot say it (weeks, other byte units).
pub fn words(key: &str) -> Option<String> {
    let key = key.split(" (hashlimit ").next()?;
    let mut it = key.split(' ').peekable();
    (it.next()? == "limit").then_some(())?;
    let mut out = vec!["limit".to_string()];
    if it.peek() == Some(&"over") {
        out.push(it.next()?.to_string());
    }
    let rate = it.next()?;
    if let Some((n, unit)) = rate.split_once('/') {
        count(n)?;
        time_unit(unit)?;
        out.push(rate.to_string());
    } else {
        count(rate)?;
        let (bytes, unit) = it.next()?.split_once('/')?;
        byte_unit(bytes)?;
        time_unit(unit)?;
        out.push(format!("{rate} {bytes}/{unit}"));
    }
    let rest: Vec<&str> = it.collect();
    match rest.as_slice() {
        [] | ["burst", "0", "bytes"] => {}
        ["burst", b] => out.push(format!("burst {}", count(b)?)),
        ["burst", b, "per", "source"] => out.push(format!("burst {} per source", count(b)?)),
        ["burst", b, unit] if byte_unit(unit).is_some() => {
            out.push(format!("burst {} {unit}", count(b)?))
        }
        _ => return None,
    }
    Some(out.join(" "))
}

fn count(n: &str) -> Option<u64> {
    n.parse::<u64>().ok().filter(|n| *n >= 1)
}

fn time_unit(u: &str) -> Option<()> {
    matches!(u, "second" | "minute" | "hour" | "day").then_some(())
}

fn byte_unit(u: &str) -> Option<()> {
    matches!(u, "bytes" | "kbytes" | "mbytes").then_some(())
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn packet_limits_keep_rate_and_burst() {
        assert_eq!(
            words("limit 3/minute burst 5").as_deref(),
            Some("limit 3/minute burst 5")
        );
        assert_eq!(
            words("limit over 10/second burst 20").as_deref(),
            Some("limit over 10/second burst 20")
        );
        assert_eq!(
            words("limit 3/minute burst 5 per source (hashlimit ssh)").as_deref(),
            Some("limit 3/minute burst 5 per source")
        );
    }

    #[test]
    fn byte_limits_keep_their_units() {
        assert_eq!(
            words("limit 10 mbytes/second").as_deref(),
            Some("limit 10 mbytes/second")
        );
        assert_eq!(
            words("limit over 1 mbytes/second burst 256 kbytes").as_deref(),
            Some("limit over 1 mbytes/second burst 256 kbytes")
        );
    }

    #[test]
    fn what_the_language_lacks_is_refused() {
        assert_eq!(words("limit 1/week burst 5"), None);
        assert_eq!(words("limit 0/second burst 5"), None);
        assert_eq!(words("limit 1/second burst 0"), None);
        assert_eq!(words("limit rate 1/second"), None);
        assert_eq!(words("-m hashlimit --hashlimit-mode dstip"), None);
    }
}
