//! The golden-file check of tests/golden/corpus.rs, tests/golden/opt_passes.rs and
//! tests/golden/opt_thread.rs, written once: [`Goldens::check`] compares a golden's text with
//! the actual output and either rewrites the golden (`SOCKC_BLESS=1`) or keeps a
//! unified diff; [`Goldens::orphans`] notes goldens nothing produces any more; and
//! [`Goldens::finish`] fails with the count and every diff at once.
//!
//! One name per output ([`golden_path`]): `rules/DIR/NAME.sk` compiled at the default
//! level `-O2` has its goldens at `golden/DIR/NAME.sk.EXT` (`asm`, `ir`, `stderr`),
//! whichever test checks them; the `-O0` output, which only tests/golden/opt_*.rs keep (for
//! `rules/opt/`), is `golden/DIR/NAME.O0.EXT`. There are no `.O2.` files: the `-O2`
//! output is the `.sk.` one.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use sockc_compiler::opt::OptLevel;

use super::root;

/// Where the `ext` output (`"asm"`, `"ir"`, `"stderr"`) of `rule` (a file under
/// `rules/`) compiled at `level` is kept: `golden/DIR/NAME.sk.EXT` at `-O2`,
/// `golden/DIR/NAME.O0.EXT` at `-O0`.
pub fn golden_path(rule: &Path, level: OptLevel, ext: &str) -> PathBuf {
    let rel = rule
        .strip_prefix(root().join("rules"))
        .unwrap_or_else(|_| panic!("{} is not under rules/", rule.display()));
    let mut path = root().join("golden").join(rel);
    match level {
        OptLevel::O2 => path.as_mut_os_string().push(format!(".{ext}")),
        OptLevel::O0 => {
            path.set_extension(format!("O0.{ext}"));
        }
    }
    path
}

/// The rule file and level a golden is named after ([`golden_path`] read backwards):
/// `golden/DIR/NAME.sk.EXT` is `rules/DIR/NAME.sk` at `-O2`, `golden/DIR/NAME.O0.EXT`
/// is `rules/DIR/NAME.sk` at `-O0`.
pub fn rule_of(golden: &Path) -> Option<(PathBuf, OptLevel)> {
    let rel = golden.strip_prefix(root().join("golden")).ok()?;
    let name = rel.file_name()?.to_str()?;
    let (stem, _ext) = name.rsplit_once('.')?;
    let (rule, level) = match stem.strip_suffix(".O0") {
        Some(base) => (format!("{base}.sk"), OptLevel::O0),
        None if stem.ends_with(".sk") => (stem.to_string(), OptLevel::O2),
        None => return None,
    };
    Some((root().join("rules").join(rel.with_file_name(rule)), level))
}

/// `path` relative to the package root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The golden checks of one test: every mismatch and orphan, reported by
/// [`Goldens::finish`].
pub struct Goldens {
    bless: bool,
    checked: BTreeSet<PathBuf>,
    failures: Vec<String>,
}

impl Goldens {
    /// Blessing when `SOCKC_BLESS=1`.
    pub fn new() -> Goldens {
        Goldens {
            bless: std::env::var_os("SOCKC_BLESS").is_some_and(|v| v == "1"),
            checked: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    /// Compares the text of `golden` (empty if it does not exist) with `actual`. When
    /// blessing, a different golden is rewritten; otherwise the difference is kept as
    /// a unified diff (`-` expected, `+` actual) for [`Goldens::finish`].
    pub fn check(&mut self, golden: &Path, actual: &str) {
        self.checked.insert(golden.to_path_buf());
        let expected = std::fs::read_to_string(golden).unwrap_or_default();
        if expected == actual {
            return;
        }
        if self.bless {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(golden, actual).unwrap();
            eprintln!("blessed {}", shown(golden));
            return;
        }
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .context_radius(3)
            .header("expected", "actual")
            .to_string();
        let from = match rule_of(golden) {
            Some((rule, level)) => format!(" from {} at {}", shown(&rule), level.name()),
            None => String::new(),
        };
        self.failures
            .push(format!("{} differs{from}:\n{diff}", shown(golden)));
    }

    /// Every file under `dir` that no [`Goldens::check`] of this test named and that
    /// `kept` does not claim (goldens another test checks) is an orphan: removed when
    /// blessing, otherwise reported.
    pub fn orphans(&mut self, dir: &Path, kept: impl Fn(&Path) -> bool) {
        fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.insert(p);
                }
            }
        }
        let mut present = BTreeSet::new();
        walk(dir, &mut present);
        for orphan in present.difference(&self.checked) {
            if kept(orphan) {
                continue;
            }
            if self.bless {
                std::fs::remove_file(orphan).unwrap();
                eprintln!("removed orphan {}", shown(orphan));
            } else {
                self.failures.push(format!(
                    "{} is not checked by any test (names: tests/common/golden.rs); \
                     SOCKC_BLESS=1 removes it",
                    shown(orphan)
                ));
            }
        }
    }

    /// Fails with every mismatch and orphan found, if any.
    #[track_caller]
    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} golden mismatch(es); rerun with SOCKC_BLESS=1 to accept:\n\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}
