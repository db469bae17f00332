//! The boot units: `contrib/systemd/sockc.service` and `sockc-reapply.service` pass
//! `systemd-analyze verify` with no warning (when systemd is installed; skipped loudly
//! otherwise), and `contrib/sockc-apply-all`, which they run, applies every `*.sk` of a
//! directory as the install of its name, changes nothing when run again, keeps going
//! past a broken file (and fails), and flushes them. The script runs against installs
//! in namespaces this test creates (root).

use crate::common;
use crate::netns;

use std::process::Command;

use netns::{sockc, sockc_bin, Lab};

#[test]
fn units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIP (no systemd-analyze): units_pass_systemd_analyze_verify");
        return;
    }
    let root = common::root();
    let dir = std::env::temp_dir().join(format!("sockc-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = root.join("contrib/sockc-apply-all");
    let mut units = Vec::new();
    for unit in ["sockc.service", "sockc-reapply.service"] {
        let text = std::fs::read_to_string(root.join("contrib/systemd").join(unit)).unwrap();
        // verify checks that ExecStart= programs exist: point at the checkout's script.
        let text = text.replace(
            "/usr/local/lib/sockc/sockc-apply-all",
            script.to_str().unwrap(),
        );
        let path = dir.join(unit);
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.lines().any(|l| l.contains("sockc")),
        "warnings about the units:\n{err}"
    );
}

#[test]
fn apply_all_applies_reapplies_and_flushes_a_directory() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("boot", 43);
    let a = &lab.if_a;
    let conf = lab.dir.join("etc-sockc");
    std::fs::create_dir_all(&conf).unwrap();
    // Install names come from the file names; register them with the lab for cleanup.
    let one = lab.other_install("one");
    let two = lab.other_install("two");
    std::fs::write(
        conf.join(format!("{one}.sk")),
        format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        conf.join(format!("{two}.sk")),
        format!("tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"),
    )
    .unwrap();
    let run = |action: &str| {
        let out = Command::new(common::root().join("contrib/sockc-apply-all"))
            .arg(action)
            .env("SOCKC", sockc_bin())
            .env("SOCKC_DIR", &conf)
            .env("SOCKC_APPLY_ARGS", format!("--netns {}", lab.ns_a))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run("apply");
    assert_eq!(code, 0, "{out}{err}");
    lab.expect_verdicts(
        "applied at boot",
        &[(9001, false), (9002, false), (9003, true)],
    );
    for n in [&one, &two] {
        let r = sockc(&["status", "--name", n]).ok();
        assert!(r.stdout.contains("generation 1"), "{r}");
    }
    // Again (an interface appeared): nothing changes, and `sockc -q apply` says
    // nothing on success (issue 47 item 9).
    let (code, out, err) = run("apply");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
    for n in [&one, &two] {
        let r = sockc(&["status", "--name", n]).ok();
        assert!(r.stdout.contains("generation 1"), "{r}");
    }
    // A broken file fails the run, the others still load.
    std::fs::write(conf.join("broken.sk"), "xdp on {\n").unwrap();
    let (code, _, err) = run("apply");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("broken.sk: sockc apply exited 1"), "{err}");
    std::fs::remove_file(conf.join("broken.sk")).unwrap();
    // Stop: both installs flushed, traffic as without rules.
    let (code, out, err) = run("flush");
    assert_eq!(code, 0, "{out}{err}");
    lab.expect_verdicts("flushed", &[(9001, true), (9002, true)]);
    let r = sockc(&["status", "--name", &one]);
    assert_eq!(r.code, 1, "{r}");
    // Nothing left to flush is fine.
    let (code, _, err) = run("flush");
    assert_eq!(code, 0, "{err}");
}
