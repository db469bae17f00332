//! Helpers shared by the root package's integration tests: the rule corpus, the
//! golden-file check ([`golden`]), the gate that decides whether kernel tests run, and
//! the locks of tests that act on what every test of their binary sees
//! ([`exclusive`]), and the `sockc-peer` binary built for the tests that start it
//! ([`peer_exe`]). Each test binary declares this module once.

#![allow(dead_code)] // each test crate uses a different subset

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

pub mod corpus_cgroups;
pub mod exclusive;
pub mod golden;
pub mod schema;
pub mod table;

/// The package root (where `rules/` and `golden/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.sk` under `rules/`, sorted.
pub fn rule_files() -> Vec<PathBuf> {
    sockc_testkit::rule_files::paths()
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

/// The sockc binary under test: this build's, or the one `SOCKC_TEST_BIN` names (to
/// show that a test fails on an older build).
pub fn bin() -> String {
    std::env::var("SOCKC_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sockc").to_string())
}

/// Runs the `sockc` binary from the package root with `NO_COLOR`: (exit code, stdout,
/// stderr).
pub fn sockc(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bin())
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

/// Runs `sockc ARGS FILE` as an unprivileged user: `setpriv` to `nobody` when the
/// tests run as root, so the non-root path is exercised on CI machines too. The binary
/// and the rule file are copied to a world-readable temporary directory first, since
/// the checkout may live where `nobody` cannot look (e.g. under /root).
pub fn sockc_unprivileged(args: &[&str], rule_file: &str) -> (i32, String, String) {
    if !is_root() {
        let mut all: Vec<&str> = args.to_vec();
        all.push(rule_file);
        return sockc(&all);
    }
    use std::os::unix::fs::PermissionsExt;
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sockc-cli-nobody-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("sockc");
    std::fs::copy(self::bin(), &bin).unwrap();
    let rules = dir.join("rules.sk");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rule_file),
        &rules,
    )
    .unwrap();
    std::fs::set_permissions(&rules, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Another test thread may fork while the copy's write descriptor is still open;
    // until that child execs, running the copy fails with ETXTBSY. Retry briefly.
    let run = || {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&bin)
            .args(args)
            .arg("rules.sk")
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("setpriv (util-linux) runs")
    };
    let mut out = run();
    for _ in 0..50 {
        if !String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        out = run();
    }
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `sockc-peer` binary (`testkit/peer`), built on first use. It is a package of
/// its own so that installing sockc leaves it out, which also keeps it out of what
/// `cargo test` builds for the test binary: built here with the test's own cargo, profile
/// and target directory (a no-op when it is up to date).
pub fn peer_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        // A test runs as TARGET/PROFILE/deps/NAME-HASH.
        let test = std::env::current_exe().expect("the test's own path");
        let profile_dir = test
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from TARGET/PROFILE/deps");
        let target_dir = profile_dir.parent().expect("TARGET/PROFILE");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(p) => p,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "sockc-peer",
                "--bin",
                "sockc-peer",
            ])
            .args(["--profile", profile, "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo build -p sockc-peer failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("sockc-peer")
    })
}
