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
    with_stdin(Command::new(common::bin()).args(args), input)
}

/// Runs `cmd` with `input` on its standard input: exit code, stdout, stderr.
fn with_stdin(cmd: &mut Command, input: &str) -> (i32, String, String) {
    let mut child = cmd
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
            "{} rules: {} exact, {} in the residual, {} approximate, {} unsupported, {} never run or never match",
            v["rules"].as_array().unwrap().len(),
            s["exact"],
            s["residual"],
            s["approximate"],
            s["unsupported"],
            s["never"]
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
/// "summary":{"exact","residual","approximate","unsupported","never"}}`, with the
/// counts adding up (an exact rule that never runs or never matches counts in `never`).
fn check_report_shape(v: &Value) {
    let rules = v["rules"].as_array().expect("rules");
    assert!(!rules.is_empty());
    let mut counts = [0u64; 4];
    for r in rules {
        assert!(r["line"].as_u64().unwrap() >= 1, "{r}");
        assert!(r["source"].is_string(), "{r}");
        assert!(r["reason"].is_string(), "{r}");
        assert!(r["sk_lines"].as_array().unwrap().iter().all(Value::is_u64));
        let i = ["exact", "residual", "approximate", "unsupported"]
            .iter()
            .position(|s| r["status"] == *s)
            .unwrap_or_else(|| panic!("status of {r}"));
        counts[i] += 1;
    }
    let never = v["summary"]["never"].as_u64().expect("never");
    assert_eq!(v["summary"]["exact"].as_u64(), Some(counts[0] - never));
    for (i, s) in ["residual", "approximate", "unsupported"]
        .iter()
        .enumerate()
    {
        assert_eq!(v["summary"][s].as_u64(), Some(counts[i + 1]), "{s}");
    }
}

#[test]
fn quiet_keeps_the_summary_and_strict_fails_on_rules_not_exact() {
    let ufw = corpus("01-ufw-ipv4.iptables");
    let dir = scratch("quiet");
    let sk = dir.join("ufw.sk");
    let args = ["-q", "import", &ufw, "-o", sk.to_str().unwrap()];
    let (code, _, err) = common::sockc(&args);
    assert_eq!(code, 0, "{err}");
    let written = std::fs::read_to_string(&sk).unwrap();
    assert!(
        written.contains("netfilter input priority 1 {"),
        "{written}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(" rules: ") && err.contains(" in the residual"),
        "{err}"
    );
    std::fs::remove_file(&sk).unwrap();
    // Rules that stay in netfilter are not run by sockc: --strict fails, the files
    // are still written.
    let (code, _, err) = common::sockc(&[&args[..], &["--strict"]].concat());
    assert_eq!(code, 1, "{err}");
    assert!(sk.exists(), "still written");
    assert!(err.contains("--strict:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
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
        err.contains("1 rules: 1 exact, 0 in the residual, 0 approximate, 0 unsupported"),
        "{err}"
    );
}

#[test]
fn errors_exit_with_their_codes() {
    // Unparsable: 1, at its line and column, nothing on stdout.
    let bad = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp --dport 2x2 -j ACCEPT\nCOMMIT\n";
    let (code, out, err) = sockc_stdin(
        &["import", "-", "--from", "iptables", "--interface", "eth0"],
        bad,
    );
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
    // The default hook, netfilter, needs none; but its residual needs a place: -o or
    // --residual (2 without either).
    let (code, _, err) = common::sockc(&["import", &corpus("01-ufw-ipv4.iptables")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--residual FILE"), "{err}");
    let dir = scratch("errors");
    let residual = dir.join("ufw.residual.rules");
    let (code, out, err) = common::sockc(&[
        "import",
        &corpus("01-ufw-ipv4.iptables"),
        "--residual",
        residual.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        residual.exists() && out.contains("residual iptables file"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
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
    let dir = scratch("from");
    let sk = dir.join("f2b.sk");
    let (code, _, err) = common::sockc(&[
        "import",
        &nft,
        "--hook",
        "netfilter",
        "-o",
        sk.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let out = std::fs::read_to_string(&sk).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // fail2ban's chain runs at priority -1: its block at 0.
    assert!(out.contains("\nnetfilter input priority 0 {"), "{out}");
    let (code, out, _) = common::sockc(&["import", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("default: netfilter"), "{out}");
}

/// The corpus's rulesets (not its manifest or notes).
fn corpus_files() -> Vec<String> {
    let dir = common::root().join("tests/import-corpus/rulesets");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| {
            [".nft", ".json", ".iptables", ".ip6tables"]
                .iter()
                .any(|x| n.ends_with(x))
                && n != "manifest.json"
        })
        .collect();
    files.sort();
    files
}

/// The residual's text as `sockc apply` makes it for an install (the token replaced:
/// `sockc_import::residual::names::substitute`), loaded by its own tool in check mode
/// (`nft -c`, `iptables-restore --test`) in a fresh network namespace.
fn tool_accepts(residual: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(residual).unwrap();
    let name = residual.extension().and_then(|e| e.to_str()).unwrap_or("");
    let iptables = name == "rules";
    let text = sockc_import::residual::names::substitute(&text, iptables, "cli");
    let (tool, args): (&str, &[&str]) = match name {
        "nft" => ("nft", &["-c", "-f", "-"]),
        "json" => ("nft", &["-c", "-j", "-f", "-"]),
        _ if text.contains("# Generated by ip6tables-save") => ("ip6tables-restore", &["--test"]),
        _ => ("iptables-restore", &["--test"]),
    };
    let (code, _, err) = with_stdin(
        Command::new("unshare").args(["--net", tool]).args(args),
        &text,
    );
    // nft finds `socket cgroupv2` paths below /sys/fs/cgroup: as `sockc apply` does,
    // again with cgroup v2 bound there where this host mounts it elsewhere.
    let bound = common::corpus_cgroups::bound_prefix();
    let (code, err) = match bound {
        Some(words) if code != 0 && tool == "nft" && err.contains("cgroupv2 path fails") => {
            let (code, _, err) = with_stdin(
                Command::new("unshare")
                    .arg("--net")
                    .args(&words)
                    .arg(tool)
                    .args(args),
                &text,
            );
            (code, err)
        }
        _ => (code, err),
    };
    if code == 0 {
        Ok(())
    } else {
        Err(err)
    }
}

/// Issue 48 "no silent change": every corpus ruleset imports at the default hook with
/// exit 0, its residual written beside the rule file, the rule file passes `check`
/// (which reads the residual), and (as root) the residual loads with its own tool.
#[test]
fn every_corpus_file_imports_whole_and_checks_with_its_residual() {
    let dir = scratch("whole");
    let root = common::is_root();
    let _cgroups = root.then(|| {
        common::corpus_cgroups::CorpusCgroups::make(
            &common::corpus_cgroups::CorpusCgroups::manifest(),
        )
    });
    for file in corpus_files() {
        let sk = dir.join(format!("{file}.sk"));
        let report = dir.join(format!("{file}.report.json"));
        let (code, _, err) = common::sockc(&[
            "import",
            &corpus(&file),
            "-o",
            sk.to_str().unwrap(),
            "--report-json",
            report.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{file}: {err}");
        let (code, _, check_err) = common::sockc(&["check", sk.to_str().unwrap()]);
        assert_eq!(code, 0, "{file}: check refuses the import: {check_err}");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let s = &v["summary"];
        assert_eq!(s["unsupported"], 0, "{file}: nothing left out at netfilter");
        assert_eq!(
            s["approximate"], 0,
            "{file}: nothing approximate without --approximate"
        );
        let text = std::fs::read_to_string(&sk).unwrap();
        let declared = text.lines().find(|l| l.starts_with("residual "));
        let in_residual = s["residual"].as_u64().unwrap();
        assert!(
            in_residual == 0 || declared.is_some(),
            "{file}: {in_residual} rules in the residual, none declared"
        );
        if let Some(line) = declared {
            let name = line.split('"').nth(1).expect("a quoted file");
            let residual = dir.join(name);
            assert!(residual.exists(), "{file}: {line} not written");
            if root {
                tool_accepts(&residual).unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check` reads the residual: a missing one, one that does not parse in its
/// format, or one that holds a table that is not the residual's own is refused at
/// the declaration (`sockc::residual`), so `apply` never installs it.
#[test]
fn check_refuses_a_residual_it_would_not_install() {
    let dir = scratch("refuse");
    let sk = dir.join("f2b.sk");
    let (code, _, err) = common::sockc(&[
        "import",
        &corpus("05-fail2ban-sshd.nft"),
        "-o",
        sk.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let residual = dir.join("f2b.residual.nft");
    let good = std::fs::read_to_string(&residual).expect("the residual beside -o");
    let refused = |what: &str| {
        let (code, _, err) = common::sockc(&["check", sk.to_str().unwrap()]);
        assert_eq!(code, 1, "{what}: {err}");
        assert!(err.contains("sockc::residual"), "{what}: {err}");
        err
    };
    std::fs::write(&residual, "table inet {\n").unwrap();
    let err = refused("does not parse");
    assert!(err.contains("does not parse as nft"), "{err}");
    std::fs::write(&residual, "table inet filter {\n\tchain input {\n\t}\n}\n").unwrap();
    let err = refused("foreign table");
    assert!(err.contains("table inet filter"), "{err}");
    std::fs::remove_file(&residual).unwrap();
    refused("missing");
    std::fs::write(&residual, good).unwrap();
    let (code, _, err) = common::sockc(&["check", sk.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// At xdp there is no residual: a rule the lowering cannot write makes the import not
/// exact, exit 1 (the files written for review), unless `--approximate` says to.
#[test]
fn an_ingress_import_that_is_not_exact_exits_1() {
    let dir = scratch("ingress");
    let sk = dir.join("f2b.sk");
    let args = [
        "import",
        &corpus("03-fail2ban-sshd.iptables"),
        "--hook",
        "xdp",
        "--interface",
        "eth0",
        "-o",
        sk.to_str().unwrap(),
    ];
    let (code, _, err) = common::sockc(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not exact:"), "{err}");
    assert!(sk.exists(), "written for review");
    let (code, _, err) = common::sockc(&[&args[..], &["--approximate"]].concat());
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ipset's members are not in iptables-save's output: the import names a set file
/// and says how to export it; until it exists `check` refuses the rule file, so the
/// import exits 1 (files written), and once it is there the pair checks.
#[test]
fn ipsets_to_export_make_the_import_incomplete_until_exported() {
    let dir = scratch("ipset");
    let src = dir.join("rules.v4");
    std::fs::write(
        &src,
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set bogons src -j DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    let sk = dir.join("fw.sk");
    let (code, _, err) = common::sockc(&[
        "import",
        src.to_str().unwrap(),
        "--from",
        "iptables",
        "-o",
        sk.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("set files it names are exported"), "{err}");
    let text = std::fs::read_to_string(&sk).expect("written for review");
    let file = text
        .lines()
        .find_map(|l| l.strip_prefix("set ").and_then(|r| r.split('"').nth(1)))
        .expect("a set file");
    let (code, _, _) = common::sockc(&["check", sk.to_str().unwrap()]);
    assert_eq!(code, 1, "no set file yet");
    std::fs::write(dir.join(file), "192.0.2.0/24\n").unwrap();
    let (code, _, err) = common::sockc(&["check", sk.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A ruleset that accepts everything imports to a file `apply` installs (issue 48):
/// one block that allows everything, not a file without hook blocks, which `apply`
/// refuses (exit 2). Installs into a namespace of its own (root; skipped otherwise
/// unless `SOCKC_KERNEL_TESTS=require`).
#[test]
fn an_accept_everything_ruleset_imports_to_a_file_apply_installs() {
    if !common::kernel() {
        return;
    }
    let lab = crate::netns::Lab::new("h48acc", 178);
    let src = lab.rules(
        "accept.nft",
        "table inet f {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n",
    );
    let sk = lab.dir.join("accept.sk");
    let (code, _, err) =
        common::sockc(&["import", src.to_str().unwrap(), "-o", sk.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    lab.apply_ok(&sk);
    assert_eq!(lab.probe(&[9000], 1)[&9000], 1, "everything still passes");
}

/// `--from ip6tables` and `--from iptables` name the IP version of a section without
/// its `# Generated by` line; without them such a section whose rules name no family
/// is refused, naming the option (never read as IPv4 silently).
#[test]
fn an_iptables_section_without_its_header_needs_from() {
    let v6 = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n";
    let (code, out, err) = sockc_stdin(&["import", "-"], v6);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("name it with --from") && err.contains("<stdin>:1:1"),
        "{err}"
    );
    // IPv6 with a port: a residual (IPv6 packets with extension headers go to
    // netfilter), which a rule file on stdout must name
    let dir = std::env::temp_dir().join(format!("sockc-cli-from6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let residual = dir.join("v6.residual.rules");
    let (code, out, err) = sockc_stdin(
        &[
            "import",
            "-",
            "--from",
            "ip6tables",
            "--residual",
            residual.to_str().unwrap(),
        ],
        v6,
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("drop ip6 tcp to *:22"), "{out}");
    // "0 in the residual" beside a residual file: the note says what it is for
    assert!(
        err.contains("0 in the residual")
            && err.contains("the residual holds none of the input's rules")
            && err.contains("extension headers"),
        "{err}"
    );
    let (code, out, err) = sockc_stdin(&["import", "-", "--from", "iptables"], v6);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("drop ip4 tcp to *:22"), "{out}");
}

/// The note on a residual that holds no rule of the input is not given when rules are
/// in it (a NAT rule stays in netfilter and is counted there).
#[test]
fn a_residual_that_holds_rules_gets_no_note_that_it_holds_none() {
    let v4 = "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n";
    let dir = std::env::temp_dir().join(format!("sockc-cli-resnote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let residual = dir.join("v4.residual.rules");
    let (code, _, err) = sockc_stdin(
        &["import", "-", "--residual", residual.to_str().unwrap()],
        v4,
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 in the residual"), "{err}");
    assert!(!err.contains("holds none"), "{err}");
}
