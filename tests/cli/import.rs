//! `sockc import` as a user runs it: the three formats detected without `--from`, the
//! report on stderr (`-q`: the summary line only) and as JSON in the shape,
//! exit codes (0 written, 1 unparsable input at its line and column or `--strict`
//! with rules that are not exact, 2 unreadable file and usage), output files
//! written whole, and the imported file compiling.

use crate::common;

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

use serde_json::Value;

fn corpus(file: &str) -> String {
    common::root()
        .join("tests/import-corpus/rulesets")
        .join(file)
        .display()
        .to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockc-import-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `sockc ARGS` with `input` on standard input.
fn sockc_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(common::bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_format_is_detected_and_written_with_its_report() {
    let dir = scratch("formats");
    for (file, format) in [
        ("03-fail2ban-sshd.iptables", "iptables"),
        ("05-fail2ban-sshd.nft", "nft"),
        ("12-docker-bridge.json", "nft-json"),
    ] {
        let sk = dir.join(format!("{file}.sk"));
        let report = dir.join(format!("{file}.json"));
        let (code, out, err) = common::sockc(&[
            "import",
            &corpus(file),
            "--interface",
            "eth0",
            "-o",
            sk.to_str().unwrap(),
            "--report-json",
            report.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{file}: {err}");
        assert!(out.is_empty(), "{file}: -o keeps stdout empty: {out}");
        let text = std::fs::read_to_string(&sk).unwrap();
        assert!(
            text.starts_with(&format!(
                "# Imported by sockc import from {} ({format}), for the netfilter hooks.",
                corpus(file)
            )),
            "{file}: {}",
            text.lines().next().unwrap_or_default()
        );
        let (code, _, check_err) = common::sockc(&["check", sk.to_str().unwrap()]);
        assert_eq!(code, 0, "{file}: the import compiles: {check_err}");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        check_report_shape(&v);
        let s = &v["summary"];
        let summary = format!(
            "{} rules: {} exact, {} approximate, {} unsupported",
            v["rules"].as_array().unwrap().len(),
            s["exact"],
            s["approximate"],
            s["unsupported"]
        );
        assert!(err.contains(&summary), "{file}: {summary} in {err}");
        assert!(
            err.contains("imported for --hook netfilter (the default: each base chain"),
            "{err}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report: `{"rules":[{"line","source","status","reason","sk_lines"}],
/// "summary":{"exact","approximate","unsupported"}}`, with the counts adding up.
fn check_report_shape(v: &Value) {
    let rules = v["rules"].as_array().expect("rules");
    assert!(!rules.is_empty());
    let mut counts = [0u64; 3];
    for r in rules {
        assert!(r["line"].as_u64().unwrap() >= 1, "{r}");
        assert!(r["source"].is_string(), "{r}");
        assert!(r["reason"].is_string(), "{r}");
        assert!(r["sk_lines"].as_array().unwrap().iter().all(Value::is_u64));
        let i = ["exact", "approximate", "unsupported"]
            .iter()
            .position(|s| r["status"] == *s)
            .unwrap_or_else(|| panic!("status of {r}"));
        counts[i] += 1;
    }
    for (i, s) in ["exact", "approximate", "unsupported"].iter().enumerate() {
        assert_eq!(v["summary"][s].as_u64(), Some(counts[i]), "{s}");
    }
}

#[test]
fn quiet_keeps_the_summary_and_strict_fails_on_rules_not_exact() {
    let ufw = corpus("01-ufw-ipv4.iptables");
    let args = ["-q", "import", &ufw];
    let (code, out, err) = common::sockc(&args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("netfilter input priority 1 {"), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(" rules: ") && err.contains(" unsupported"),
        "{err}"
    );
    let (code, out, err) = common::sockc(&[&args[..], &["--strict"]].concat());
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("netfilter input priority 1 {"),
        "still written: {out}"
    );
    assert!(err.contains("--strict:"), "{err}");
    // Every rule exact: --strict passes.
    let exact = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    let (code, out, err) = sockc_stdin(
        &[
            "import",
            "-",
            "--strict",
            "--hook",
            "tc",
            "--interface",
            "eth1",
        ],
        exact,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tc ingress on eth1"), "{out}");
    assert!(
        err.contains("1 rules: 1 exact, 0 approximate, 0 unsupported"),
        "{err}"
    );
}

#[test]
fn errors_exit_with_their_codes() {
    // Unparsable: 1, at its line and column, nothing on stdout.
    let bad = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp --dport 2x2 -j ACCEPT\nCOMMIT\n";
    let (code, out, err) = sockc_stdin(&["import", "-", "--interface", "eth0"], bad);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("sockc::syntax") && err.contains("<stdin>:4:17"),
        "{err}"
    );
    // Unreadable: 2.
    let (code, _, err) = common::sockc(&["import", "/nonexistent/rules.v4", "--interface", "eth0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read"), "{err}");
    // No interface for xdp: a usage error that names --interface.
    let (code, _, err) =
        common::sockc(&["import", &corpus("01-ufw-ipv4.iptables"), "--hook", "xdp"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--interface"), "{err}");
    // The default hook, netfilter, needs none.
    let (code, _, err) = common::sockc(&["import", &corpus("01-ufw-ipv4.iptables")]);
    assert_eq!(code, 0, "{err}");
    // A format that cannot be told: 2, naming --from.
    let (code, _, err) = sockc_stdin(&["import", "-", "--interface", "eth0"], "hello\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--from"), "{err}");
    // An output that cannot be written: 2.
    let (code, _, err) = common::sockc(&[
        "import",
        &corpus("03-fail2ban-sshd.iptables"),
        "--interface",
        "eth0",
        "-o",
        "/nonexistent/dir/out.sk",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot write"), "{err}");
}

#[test]
fn from_overrides_detection_and_netfilter_is_the_default() {
    let nft = corpus("05-fail2ban-sshd.nft");
    let (code, _, err) = common::sockc(&["import", &nft, "--from", "iptables", "--interface", "x"]);
    assert_eq!(
        code, 1,
        "nft text read as iptables-save does not parse: {err}"
    );
    let (code, out, err) = common::sockc(&["import", &nft, "--hook", "netfilter"]);
    assert_eq!(code, 0, "{err}");
    // fail2ban's chain runs at priority -1: its block at 0.
    assert!(out.contains("\nnetfilter input priority 0 {"), "{out}");
    let (code, out, _) = common::sockc(&["import", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("default: netfilter"), "{out}");
}
