//! Helpers shared by the root package's integration tests: the rule corpus, the
//! golden-file check ([`golden`]) and the gate that decides whether kernel tests run.

#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};

pub mod golden;
pub mod schema;

/// The package root (where `rules/` and `golden/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.sk` under `rules/`, sorted.
pub fn rule_files() -> Vec<PathBuf> {
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
    walk(&root().join("rules"), &mut out);
    out
}

/// True when `SOCKC_KERNEL_TESTS=require`: a skipped kernel test is a failure.
pub fn required() -> bool {
    std::env::var("SOCKC_KERNEL_TESTS").as_deref() == Ok("require")
}

pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("kernel test")
        .to_string()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether kernel tests can run: true as root; otherwise prints a skip line and
/// returns false, or panics under `SOCKC_KERNEL_TESTS=require`.
pub fn kernel() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        !required(),
        "{}: SOCKC_KERNEL_TESTS=require but not running as root \
         (loading BPF programs needs root / CAP_BPF+CAP_NET_ADMIN)",
        test_name()
    );
    println!("SKIP (not root): {}", test_name());
    false
}

/// Runs the `sockc` binary from the package root with `NO_COLOR`: (exit code, stdout,
/// stderr).
pub fn sockc(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockc"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("sockc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
