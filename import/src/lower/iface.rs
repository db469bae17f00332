//! A cube's interface atoms → the `in on` / `out on` words of a netfilter block.
//!
//! A cube carries any number of name tests per direction, each positive or negative
//! (`-i eth+ ! -i eth0` after inlining, `iifname != { "lo", "docker0" }`); the
//! language has one match per direction, either a list of names or a negated one.
//! The tests are first simplified exactly: positives intersect to at most one (or to
//! nothing: the cube admits no packet), negatives disjoint from it drop out, a
//! negative covering it empties the cube. What is left is written if it is one
//! positive name, or negatives only; a name with exceptions under it is refused.
//! Index tests (nft's `iif`/`oif` where the index is known: a number, or `lo`) are
//! simplified the same way into `in index N` or `in index !N,...`; a direction with
//! both a name and an index test is refused (the language has one match a direction).
//!
//! Invariant: the words admit exactly the devices the atoms admit (names compared
//! as netfilter does: exact, or a prefix before the format's wildcard, which the
//! atoms keep in nft's spelling, `semantics::atoms::iface_pattern`); nothing is
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
        let (name, prefix) = crate::semantics::atoms::iface_pattern(pattern);
        Pat { name, prefix }
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
    let (mut ix_pos, mut ix_neg) = (Vec::new(), Vec::new());
    for (kind, positive) in tests {
        match (kind, positive) {
            (AtomKind::Iif(p) | AtomKind::Oif(p), true) => pos.push(Pat::of(p)),
            (AtomKind::Iif(p) | AtomKind::Oif(p), false) => neg.push(Pat::of(p)),
            (AtomKind::IifIndex(n) | AtomKind::OifIndex(n), true) => ix_pos.push(*n),
            (AtomKind::IifIndex(n) | AtomKind::OifIndex(n), false) => ix_neg.push(*n),
            _ => {}
        }
    }
    let by_index = !ix_pos.is_empty() || !ix_neg.is_empty();
    if pos.is_empty() && neg.is_empty() && !by_index {
        return Devices::Words(None);
    }
    if !has_device {
        let what = if by_index {
            "interface index"
        } else {
            "interface names"
        };
        return Devices::Cannot(format!("{word}put {what} at a hook without that device"));
    }
    if by_index {
        if !pos.is_empty() || !neg.is_empty() {
            return Devices::Cannot(format!(
                "{word}put interface both by name and by index in one rule"
            ));
        }
        return index_words(ix_pos, ix_neg, word);
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

/// `in index N` for one index (the positives all equal, the negatives not it), or
/// `in index !N,...` for negatives alone; never when the tests contradict.
fn index_words(mut pos: Vec<u32>, mut neg: Vec<u32>, word: &str) -> Devices {
    pos.dedup();
    neg.sort_unstable();
    neg.dedup();
    match pos.as_slice() {
        [] => {
            let list: Vec<String> = neg.iter().map(u32::to_string).collect();
            Devices::Words(Some(format!("{word} index !{}", list.join(","))))
        }
        [n] if !neg.contains(n) => Devices::Words(Some(format!("{word} index {n}"))),
        [n] => Devices::Never(format!("index {n} is both required and excluded")),
        [a, b, ..] => Devices::Never(format!("no interface has both index {a} and {b}")),
    }
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
            AtomKind::Iif(_) | AtomKind::IifIndex(_) => input,
            AtomKind::Oif(_) | AtomKind::OifIndex(_) => !input,
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

    fn run_index(tests: &[(u32, bool)]) -> Devices {
        let kinds: Vec<(AtomKind, bool)> = tests
            .iter()
            .map(|(n, b)| (AtomKind::OifIndex(*n), *b))
            .collect();
        words(kinds.iter().map(|(k, b)| (k, *b)), "out", true)
    }

    #[test]
    fn indexes_simplify_exactly() {
        assert_eq!(run_index(&[(1, true)]), w("out index 1"));
        assert_eq!(run_index(&[(1, true), (1, true)]), w("out index 1"));
        assert_eq!(run_index(&[(1, true), (4, false)]), w("out index 1"));
        assert_eq!(run_index(&[(4, false), (1, false)]), w("out index !1,4"));
        assert!(matches!(
            run_index(&[(1, true), (2, true)]),
            Devices::Never(_)
        ));
        assert!(matches!(
            run_index(&[(1, true), (1, false)]),
            Devices::Never(_)
        ));
        let mixed = [
            (AtomKind::OifIndex(1), true),
            (AtomKind::Oif("lo".into()), true),
        ];
        assert!(matches!(
            words(mixed.iter().map(|(k, b)| (k, *b)), "out", true),
            Devices::Cannot(_)
        ));
    }

    #[test]
    fn names_simplify_exactly() {
        assert_eq!(run(&[]), Devices::Words(None));
        assert_eq!(run(&[("eth0", true)]), w("in on eth0"));
        assert_eq!(run(&[("eth*", true)]), w("in on eth*"));
        assert_eq!(
            run(&[("lo", false), ("docker0", false)]),
            w("in on !lo,docker0")
        );
        // A prefix and a name under it: the name.
        assert_eq!(run(&[("eth*", true), ("eth0", true)]), w("in on eth0"));
        // An exception outside the name is implied.
        assert_eq!(run(&[("eth0", true), ("docker0", false)]), w("in on eth0"));
        assert!(matches!(
            run(&[("eth0", true), ("eth1", true)]),
            Devices::Never(_)
        ));
        assert!(matches!(
            run(&[("eth0", true), ("eth*", false)]),
            Devices::Never(_)
        ));
        assert!(matches!(
            run(&[("eth*", true), ("eth0", false)]),
            Devices::Cannot(_)
        ));
        assert!(matches!(run(&[("a:b", true)]), Devices::Cannot(_)));
        // nft's wildcard is `*`: a `+` is part of the name, and so is an escaped `*`
        // (iptables' `+` is read as nft's `*`), neither of which the language writes.
        assert!(matches!(run(&[("eth+", true)]), Devices::Cannot(_)));
        assert!(matches!(run(&[("eth\\*", true)]), Devices::Cannot(_)));
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
