//! What the tests that read the compiler's own source share: its Rust files, and
//! their production code (test code and comments left out, by the crate's
//! convention for test code, which `production_code` checks).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file without its comments and without test code: files named `tests.rs` or
/// `test_support.rs` are test code whole, and an inline `#[cfg(test)]` module runs to
/// the end of its file (the crate's convention; checked below).
pub fn production_code(path: &Path, text: &str) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    if name == "tests.rs" || name == "test_support.rs" {
        return String::new();
    }
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            let next = lines.peek().map(|l| l.trim_start()).unwrap_or("");
            if next.starts_with("mod ") && next.ends_with('{') {
                // An inline test module: nothing but test code may follow it.
                let rest: Vec<&str> = lines.collect();
                let depth_ok = rest.last().is_some_and(|l| l.trim() == "}");
                assert!(
                    depth_ok,
                    "{}: an inline test module must be the last item",
                    path.display()
                );
                break;
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
