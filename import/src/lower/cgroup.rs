//! A cube's cgroup tests (`-m cgroup --path`, `socket cgroupv2 level N`) as the
//! language's `cgroup "DIR"` / `cgroup !"DIR"`: at the netfilter hooks where sockc
//! reads the packet's socket as the source's match does — `xt_cgroup`'s `skb->sk` at
//! input, output and postrouting; nft's `socket` at output, the one hook where it
//! looks no socket up (it does at input when early demux attached none, since Linux
//! 5.18 only where the packet has an input device) — see docs/language.md, "Cgroup
//! of the socket".
//!
//! A cube carries any number of cgroup atoms, each positive or negative, and cgroups
//! nest: "below A/b" implies "below A". They are simplified exactly first: positive
//! "below" tests keep the deepest (none when two are apart: no socket passes both),
//! and every other test is dropped where the kept one implies it, or empties the cube
//! where it contradicts it. What is left is written if it is one test, `cgroup` or
//! `cgroup !`; a cgroup with an exception below it, or the negation of a test (it
//! admits packets without a socket), is refused.
//!
//! Invariant: the words admit exactly the packets the atoms admit; a cube is written
//! only at a hook where every one of its cgroup tests is the language's.

use crate::{
    algebra::Cube,
    model::{CgroupSource, CgroupTest, NfHook},
    semantics::atoms::{AtomKind, Atoms},
};

/// What a cube's cgroup tests become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupWords {
    Words(Vec<String>),
    /// No socket passes them all.
    Never(String),
    /// The language cannot say it here: why.
    Cannot(String),
}

/// One test, resolved: its directory's components, and whether it is the `!` form.
struct Test<'a> {
    dir: &'a str,
    outside: bool,
    positive: bool,
}

impl Test<'_> {
    /// Every cgroup below `self` is below `other`.
    fn within(&self, other: &Test) -> bool {
        below(self.dir, other.dir)
    }
}

fn below(dir: &str, other: &str) -> bool {
    dir == other || other == "/" || dir.starts_with(&format!("{other}/"))
}

/// Whether a netfilter block at `hook` reads the socket as `t`'s source does.
fn readable(t: &CgroupTest, hook: Option<NfHook>) -> Result<(), String> {
    match (t.source, hook) {
        (CgroupSource::Xt, Some(NfHook::Input | NfHook::Output | NfHook::Postrouting)) => Ok(()),
        (CgroupSource::Nft(_), Some(NfHook::Output)) => Ok(()),
        (CgroupSource::Nft(_), Some(NfHook::Input)) => Err(format!(
            "`{}` at input: nft looks the socket up when early demux attached none; \
             sockc reads only the one attached",
            t.text
        )),
        _ => Err(format!(
            "`{}`: the packet's socket outside netfilter input, output and postrouting \
             blocks (output for nft)",
            t.text
        )),
    }
}

/// The `cgroup` words of `cube` at netfilter hook `hook` (`None` at xdp and tc).
pub fn words(cube: &Cube, atoms: &Atoms, hook: Option<NfHook>) -> CgroupWords {
    let mut tests = Vec::new();
    for (a, positive) in cube.atoms() {
        let AtomKind::Cgroup(t) = atoms.kind(*a) else {
            continue;
        };
        let dir = match readable(t, hook).and_then(|()| t.dir.as_deref().map_err(Clone::clone)) {
            Ok(dir) => dir,
            Err(why) => return CgroupWords::Cannot(why),
        };
        tests.push(Test {
            dir,
            outside: t.outside,
            positive: *positive,
        });
    }
    if tests.is_empty() {
        return CgroupWords::Words(Vec::new());
    }
    simplify(&tests)
}

/// The one test `tests` come to, as words.
fn simplify(tests: &[Test]) -> CgroupWords {
    let cannot = |why: &str| CgroupWords::Cannot(why.to_string());
    if tests.iter().any(|t| !t.positive) && !tests.iter().any(|t| t.positive && !t.outside) {
        return cannot(
            "packets without a socket, or of a socket in another cgroup (a negated cgroup test)",
        );
    }
    // the deepest positive "below" test
    let mut inside: Option<&Test> = None;
    for t in tests.iter().filter(|t| t.positive && !t.outside) {
        inside = match inside {
            None => Some(t),
            Some(k) if t.within(k) => Some(t),
            Some(k) if k.within(t) => Some(k),
            Some(k) => {
                return CgroupWords::Never(format!(
                    "no cgroup is below both \"{}\" and \"{}\"",
                    k.dir, t.dir
                ))
            }
        };
    }
    let Some(k) = inside else {
        // positive "not below" tests only: the shallowest covers the others
        let mut out: Option<&Test> = None;
        for t in tests {
            out = match out {
                None => Some(t),
                Some(o) if o.within(t) => Some(t),
                Some(o) if t.within(o) => Some(o),
                Some(_) => return cannot("sockets outside two cgroups (one `cgroup` per rule)"),
            };
        }
        let o = out.expect("non-empty");
        return CgroupWords::Words(vec!["cgroup".into(), format!("!\"{}\"", o.dir)]);
    };
    for t in tests.iter().filter(|t| !std::ptr::eq(*t, k)) {
        // Does every socket below k pass t (drop it), none (never), or some (refuse)?
        let all_below = k.within(t);
        let apart = !all_below && !t.within(k);
        let passes_all = match (t.outside, t.positive) {
            (false, true) => all_below,
            (false, false) | (true, true) => apart,
            (true, false) => all_below,
        };
        let passes_none = match (t.outside, t.positive) {
            (false, true) => apart,
            (false, false) | (true, true) => all_below,
            (true, false) => apart,
        };
        if passes_none {
            return CgroupWords::Never(format!(
                "no socket below \"{}\" passes the test of \"{}\"",
                k.dir, t.dir
            ));
        }
        if !passes_all {
            return cannot("a cgroup with an exception below it (one `cgroup` per rule)");
        }
    }
    CgroupWords::Words(vec!["cgroup".into(), format!("\"{}\"", k.dir)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dir: &str, outside: bool, positive: bool) -> Test<'_> {
        Test {
            dir,
            outside,
            positive,
        }
    }

    fn words(w: &[&str]) -> CgroupWords {
        CgroupWords::Words(w.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn one_test_is_written_as_it_is() {
        assert_eq!(
            simplify(&[t("/c/a", false, true)]),
            words(&["cgroup", "\"/c/a\""])
        );
        assert_eq!(
            simplify(&[t("/c/a", true, true)]),
            words(&["cgroup", "!\"/c/a\""])
        );
    }

    #[test]
    fn nested_tests_keep_the_one_that_decides() {
        let deep = [t("/c/a", false, true), t("/c/a/b", false, true)];
        assert_eq!(simplify(&deep), words(&["cgroup", "\"/c/a/b\""]));
        // a set's second element: below b, and not below its sibling a
        let set = [t("/c/b", false, true), t("/c/a", false, false)];
        assert_eq!(simplify(&set), words(&["cgroup", "\"/c/b\""]));
        let outs = [t("/c/a", true, true), t("/c/a/b", true, true)];
        assert_eq!(simplify(&outs), words(&["cgroup", "!\"/c/a\""]));
        let both = [t("/c/a/b", false, true), t("/c/x", true, true)];
        assert_eq!(simplify(&both), words(&["cgroup", "\"/c/a/b\""]));
    }

    #[test]
    fn contradictions_admit_nothing_and_exceptions_are_refused() {
        let apart = [t("/c/a", false, true), t("/c/b", false, true)];
        assert!(matches!(simplify(&apart), CgroupWords::Never(_)));
        let out_of_self = [t("/c/a/b", false, true), t("/c/a", true, true)];
        assert!(matches!(simplify(&out_of_self), CgroupWords::Never(_)));
        let except = [t("/c/a", false, true), t("/c/a/b", false, false)];
        assert!(matches!(simplify(&except), CgroupWords::Cannot(_)));
        let negated = [t("/c/a", false, false)];
        assert!(matches!(simplify(&negated), CgroupWords::Cannot(_)));
        let two_outs = [t("/c/a", true, true), t("/c/b", true, true)];
        assert!(matches!(simplify(&two_outs), CgroupWords::Cannot(_)));
    }
}
