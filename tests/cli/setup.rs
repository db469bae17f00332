//! The README's set-up as a new user meets it: the test command (`scripts/test`) lists
//! every missing prerequisite and fails fast, CI runs that same command,
//! `scripts/install` puts the binary, man pages and completions where they belong, the
//! first example is safe on a real host, and every relative link in the repository's
//! Markdown resolves to a file inside the repository.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockc-setup-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every tool the test suite runs, as `scripts/test` names it.
const TOOLS: &[&str] = &[
    "cargo",
    "cc",
    "bpftool",
    "ip",
    "tc",
    "setpriv",
    "flock",
    "strace",
    "nft",
    "iptables-nft-restore",
    "ip6tables-nft-restore",
    "iptables-legacy-restore",
    "systemd-analyze",
    "sshd",
    "lintian",
    "dpkg-deb",
    "strip",
];

#[test]
fn test_command_lists_every_missing_prerequisite_and_stops() {
    let dir = temp_dir("mountinfo");
    // A host with neither bpffs nor cgroup v2 mounted (cgroup v1 only).
    let mountinfo = dir.join("mountinfo");
    std::fs::write(
        &mountinfo,
        "22 1 0:21 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n\
         23 22 0:22 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new("/bin/bash")
        .arg(common::root().join("scripts/test"))
        .arg("--check")
        .env_clear()
        .env("PATH", dir.join("no-such-bin"))
        .env("SOCKC_MOUNTINFO", &mountinfo)
        .output()
        .expect("bash runs");
    let took = started.elapsed();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(err.contains("missing prerequisites:"), "{err}");
    for tool in TOOLS {
        assert!(
            err.contains(&format!("  - {tool}: ")),
            "{tool} not listed:\n{err}"
        );
    }
    assert!(err.contains("  - bpffs at /sys/fs/bpf"), "{err}");
    assert!(err.contains("  - cgroup v2"), "{err}");
    assert_eq!(err.contains("  - root:"), !common::is_root(), "{err}");
    assert!(
        err.contains(
            "sudo apt-get install gcc bpftool iproute2 util-linux strace nftables iptables systemd"
        ),
        "{err}"
    );
}

#[test]
fn test_command_without_kernel_tests_needs_only_cargo_and_cc() {
    let out = Command::new("/bin/bash")
        .arg(common::root().join("scripts/test"))
        .args(["--no-kernel", "--check"])
        .env_clear()
        .env("PATH", "/no-such-dir")
        .env("SOCKC_MOUNTINFO", "/dev/null")
        .output()
        .expect("bash runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let listed: Vec<&str> = err.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(listed.len(), 2, "{err}");
    assert!(listed[0].starts_with("  - cargo: ") && listed[1].starts_with("  - cc: "));
}

/// On a machine that runs the kernel tests, the check passes: the prerequisites it
/// names are the ones this suite found.
#[test]
fn test_command_check_passes_where_kernel_tests_run() {
    if !common::kernel() {
        return;
    }
    let out = Command::new(common::root().join("scripts/test"))
        .arg("--check")
        .output()
        .expect("scripts/test runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("every prerequisite found"), "{err}");
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let setup = &readme[readme
        .find("## Set-up (two commands)")
        .expect("set-up section")..];
    let blocks: Vec<&str> = setup.split("```\n").skip(1).step_by(2).take(2).collect();
    assert_eq!(
        blocks,
        [
            "cargo run --release -- compile rules/examples/edge.sk --emit asm\n",
            "scripts/test\n"
        ]
    );
    let ci = std::fs::read_to_string(common::root().join(".ci/run")).unwrap();
    let last = ci
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'));
    assert_eq!(last, Some("scripts/test"));
    let script = std::fs::read_to_string(common::root().join("scripts/test")).unwrap();
    assert!(script.contains("export SOCKC_KERNEL_TESTS=require"));
    assert!(script.contains("exec cargo test --workspace"));
}

/// Runs `scripts/install` as `cmd` says (its path, arguments and environment), which
/// must succeed.
fn install_succeeds(cmd: &mut Command) {
    let out = cmd.output().expect("scripts/install runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn install_script_puts_binary_man_pages_and_completions_in_place() {
    let dest = temp_dir("install");
    install_succeeds(
        Command::new(common::root().join("scripts/install"))
            .args(["--prefix", "/usr", "--bin", &common::bin()])
            .env("DESTDIR", &dest),
    );
    let usr = dest.join("usr");
    let installed = Command::new(usr.join("sbin/sockc"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&installed.stdout).starts_with("sockc "));
    for page in [
        "sockc.1",
        "sockc-apply.1",
        "sockc-status.1",
        "sockc-bench.1",
    ] {
        let text = std::fs::read_to_string(usr.join("share/man/man1").join(page)).unwrap();
        assert!(text.contains(".TH "), "{page}");
    }
    for (path, marker) in [
        ("share/bash-completion/completions/sockc", "complete -F"),
        ("share/zsh/site-functions/_sockc", "#compdef sockc"),
        (
            "share/fish/vendor_completions.d/sockc.fish",
            "complete -c sockc",
        ),
    ] {
        let text = std::fs::read_to_string(usr.join(path)).unwrap();
        assert!(text.contains(marker), "{path}");
    }
    std::fs::remove_dir_all(&dest).unwrap();
}

/// The README's first example drops nothing a host needs: no default drop, and SSH and
/// DNS are counted, not dropped.
#[test]
fn first_example_is_safe_on_a_real_host() {
    let text = std::fs::read_to_string(common::root().join("rules/examples/first.sk")).unwrap();
    assert!(!text.contains("default drop"));
    for packet in [
        "tcp 10.0.0.1:40000 -> 10.0.0.2:22 syn",
        "udp 10.0.0.1:40000 -> 10.0.0.2:53",
        "icmp 10.0.0.1 -> 10.0.0.2 type echo-request",
        "tcp [2001:db9::1]:40000 -> [2001:db9::2]:443 syn",
    ] {
        let (code, out, err) = common::sockc(&[
            "test",
            "rules/examples/first.sk",
            "--eval-only",
            "--packet",
            packet,
        ]);
        assert_eq!(code, 0, "{err}");
        // The packet's line, then the table's header, then the hook's verdict.
        let verdict = out.lines().nth(2).unwrap_or_default();
        assert!(verdict.contains(" allow "), "{packet}: {out}");
    }
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The targets of the inline links `[text](target)` of a Markdown text.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].trim().to_string());
        }
    }
    targets
}

#[test]
fn every_relative_markdown_link_resolves_inside_the_repository() {
    let root = common::root().canonicalize().unwrap();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = file.parent().unwrap().join(path);
            checked += 1;
            match resolved.canonicalize() {
                Ok(p) if p.starts_with(&root) => {}
                Ok(p) => broken.push(format!(
                    "{}: {target} is outside: {}",
                    file.display(),
                    p.display()
                )),
                Err(e) => broken.push(format!("{}: {target}: {e}", file.display())),
            }
        }
    }
    assert!(checked > 10, "checked only {checked} links");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// Documents name no file outside the repository as where something of the project
/// lives (the design brief once did).
#[test]
fn no_document_points_to_the_design_brief_outside_the_repository() {
    let mut files = Vec::new();
    markdown_files(&common::root(), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("shared/DESIGN.md") || file.ends_with("docs/design.md"),
            "{}",
            file.display()
        );
    }
}

/// The sk_lookup docs say what the sk_lookup tests do before steering a prefix the
/// host does not own: a local route.
#[test]
fn sk_lookup_docs_name_the_local_route_the_tests_add() {
    let doc = std::fs::read_to_string(common::root().join("docs/language.md")).unwrap();
    let section = &doc[doc.find("## sk_lookup").expect("sk_lookup section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    assert!(
        section.contains("ip route add local 3.3.3.3/32 dev lo"),
        "{section}"
    );
    let tests = std::fs::read_to_string(common::root().join("tests/e2e/sk_lookup.rs")).unwrap();
    assert!(tests.contains(r#""route", "add", "local", prefix, "dev", "lo""#));
}

/// Each script reads its `--help` from itself and takes the paths it is given relative
/// to where it was started, though it works from the repository's root: run by a
/// relative path from another directory, with a relative `--bin` and `--prefix`.
#[test]
fn scripts_take_paths_relative_to_where_they_are_started() {
    let work = temp_dir("relative");
    let repo = common::root();
    // A relative path that names nothing once the script is in the repository.
    std::os::unix::fs::symlink(&repo, work.join("checkout")).unwrap();
    let up = Path::new("checkout");
    for (script, first_line) in [
        ("scripts/test", "The test command of the README"),
        ("scripts/install", "Installs sockc"),
        ("scripts/package", "Builds sockc's Debian package"),
    ] {
        let out = Command::new(up.join(script))
            .arg("--help")
            .current_dir(&work)
            .output()
            .unwrap_or_else(|e| panic!("{script} runs: {e}"));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.starts_with(first_line),
            "{script} --help from {}: {help}{}",
            work.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::copy(common::bin(), work.join("sockc-copy")).unwrap();
    install_succeeds(
        Command::new(up.join("scripts/install"))
            .args(["--prefix", "prefix", "--bin", "sockc-copy"])
            .current_dir(&work),
    );
    assert!(work.join("prefix/sbin/sockc").is_file());
    assert!(
        !repo.join("prefix").exists(),
        "installed into the repository"
    );
    std::fs::remove_dir_all(&work).unwrap();
}
