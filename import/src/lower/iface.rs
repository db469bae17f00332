//! A cube's interface atoms → the `in on` / `out on` words of a netfilter block.
//!
//! A cube carries any number of name tests per direction, each positive or negative
//! (`-i eth+ ! -i eth0` after inlining, `iifname != { "lo", "docker0" }`); the
//! language has one match per direction, either a list of names or a negated one.
//! The tests are first simplified exactly: positives intersect to at most one (or to
//! nothing: the cube admits no packet), negatives disjoint from it drop out, a
//! negative covering it empties the cube. What is left is written if it is one
//! positive name, or negatives only; a name with exceptions under it is refused.
//!
//! Invariant: the words admit exactly the devices the atoms admit (names compared
//! as netfilter does: exact, or a prefix before a trailing `+`/`*`); nothing is
//! written for a direction the hook has no device for.

use sockc_compiler::syntax::iface::IfaceName;

use crate::{algebra::AtomId, semantics::atoms::AtomKind};

/// What the interface tests of one direction become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Devices {
    /// The words (`in on eth0`), or `None` when the cube tests no name.
    Words(Option<String>),
    /// No device passes them all.
    Never(String),
    /// The language cannot say it here; why.
    Cannot(String),
}

/// A name test: the name and whether it is a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pat {
    name: String,
    prefix: bool,
}

impl Pat {
    fn of(pattern: &str) -> Pat {
        match pattern
            .strip_suffix('+')
            .or_else(|| pattern.strip_suffix('*'))
        {
            Some(p) => Pat {
                name: p.into(),
                prefix: true,
            },
            None => Pat {
                name: pattern.into(),
                prefix: false,
            },
        }
    }

    /// Every device `self` matches, `other` matches too.
    fn within(&self, other: &Pat) -> bool {
        match (self.prefix, other.prefix) {
            (_, true) => self.name.starts_with(&other.name),
            (false, false) => self.name == other.name,
            (true, false) => false,
        }
    }

    /// Some device matches both.
    fn meets(&self, other: &Pat) -> bool {
        self.within(other)
            || other.within(self)
            || (self.prefix && !other.prefix && other.name.starts_with(&self.name))
    }

    fn word(&self) -> Option<String> {
        let text = format!("{}{}", self.name, if self.prefix { "*" } else { "" });
        let writable = self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c));
        (writable && IfaceName::parse(&text).is_ok()).then_some(text)
    }
}

/// The words for the tests `tests` (atom, positive) of direction `word` (`in` or
/// `out`); `has_device`: whether the hook has that device.
pub fn words<'a>(
    tests: impl Iterator<Item = (&'a AtomKind, bool)>,
    word: &str,
    has_device: bool,
) -> Devices {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (kind, positive) in tests {
        let (AtomKind::Iif(p) | AtomKind::Oif(p)) = kind else {
            continue;
        };
        if positive {
            pos.push(Pat::of(p));
        } else {
            neg.push(Pat::of(p));
        }
    }
    if pos.is_empty() && neg.is_empty() {
        return Devices::Words(None);
    }
    if !has_device {
        return Devices::Cannot(format!(
            "{word}put interface names at a hook without that device"
        ));
    }
    let mut one: Option<Pat> = None;
    for p in pos {
        one = match one {
            None => Some(p),
            Some(q) if p.within(&q) => Some(p),
            Some(q) if q.within(&p) => Some(q),
            Some(q) => {
                return Devices::Never(format!(
                    "no interface is both `{}` and `{}`",
                    p.word().unwrap_or(p.name),
                    q.word().unwrap_or(q.name)
                ))
            }
        };
    }
    if let Some(p) = &one {
        if let Some(n) = neg.iter().find(|n| p.within(n)) {
            return Devices::Never(format!(
                "every `{}` interface is excluded by `!{}`",
                p.name, n.name
            ));
        }
        neg.retain(|n| n.meets(p));
    }
    let pats = match (&one, neg.is_empty()) {
        (Some(p), true) => vec![p.clone()],
        (Some(p), false) => {
            return Devices::Cannot(format!(
                "{word}put interface `{}*` except some names under it",
                p.name
            ))
        }
        (None, _) => neg.clone(),
    };
    let written: Option<Vec<String>> = pats.iter().map(Pat::word).collect();
    let Some(written) = written else {
        return Devices::Cannot(format!(
            "{word}put interface names the language cannot write (1 to 15 of a-z, 0-9, _-.@)"
        ));
    };
    let bang = if one.is_none() { "!" } else { "" };
    Devices::Words(Some(format!("{word} on {bang}{}", written.join(","))))
}

/// The interface atoms of a cube's atom list, by direction.
pub fn of_direction<'a>(
    atoms: &'a crate::semantics::atoms::Atoms,
    list: &'a [(AtomId, bool)],
    input: bool,
) -> impl Iterator<Item = (&'a AtomKind, bool)> + 'a {
    list.iter().filter_map(move |(a, positive)| {
        let k = atoms.kind(*a);
        let wanted = match k {
            AtomKind::Iif(_) => input,
            AtomKind::Oif(_) => !input,
            _ => false,
        };
        wanted.then_some((k, *positive))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tests: &[(&str, bool)]) -> Devices {
        let kinds: Vec<(AtomKind, bool)> = tests
            .iter()
            .map(|(p, b)| (AtomKind::Iif(p.to_string()), *b))
            .collect();
        words(kinds.iter().map(|(k, b)| (k, *b)), "in", true)
    }

    fn w(s: &str) -> Devices {
        Devices::Words(Some(s.into()))
    }

    #[test]
    fn names_simplify_exactly() {
        assert_eq!(run(&[]), Devices::Words(None));
        assert_eq!(run(&[("eth0", true)]), w("in on eth0"));
        assert_eq!(run(&[("eth+", true)]), w("in on eth*"));
        assert_eq!(
            run(&[("lo", false), ("docker0", false)]),
            w("in on !lo,docker0")
        );
        // A prefix and a name under it: the name.
        assert_eq!(run(&[("eth+", true), ("eth0", true)]), w("in on eth0"));
        // An exception outside the name is implied.
        assert_eq!(run(&[("eth0", true), ("docker0", false)]), w("in on eth0"));
        assert!(matches!(
            run(&[("eth0", true), ("eth1", true)]),
            Devices::Never(_)
        ));
        assert!(matches!(
            run(&[("eth0", true), ("eth+", false)]),
            Devices::Never(_)
        ));
        assert!(matches!(
            run(&[("eth+", true), ("eth0", false)]),
            Devices::Cannot(_)
        ));
        assert!(matches!(run(&[("a:b", true)]), Devices::Cannot(_)));
        assert!(matches!(
            run(&[("0123456789abcdef", true)]),
            Devices::Cannot(_)
        ));
        let kinds = [(AtomKind::Oif("eth0".into()), true)];
        assert!(matches!(
            words(kinds.iter().map(|(k, b)| (k, *b)), "out", false),
            Devices::Cannot(_)
        ));
    }
}
