//! The repository's example rule files: every `*.sk` under `rules/`, for the tests
//! that run each one (the compiler's, the runtime's and the CLI's).
//!
//! Invariant: every `.sk` file under `rules/` and nothing else, as paths in sorted
//! order (a directory's entries sorted, then walked), so every test sees them in the
//! same order on every machine.

use std::path::{Path, PathBuf};

/// The repository's `rules/` directory, without a `..` in it (tests strip the
/// repository's root from these paths).
pub fn dir() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit
        .parent()
        .expect("the testkit is a directory of the repository")
        .join("rules")
}

/// Every `*.sk` under `rules/`, sorted.
pub fn paths() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "sk") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir(), &mut out);
    out
}
