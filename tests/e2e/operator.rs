//! What an operator reads back from an install: the manifest records the rule file's
//! absolute path whatever directory `sockc apply` ran in, and `status` and `stats`
//! print it, so the file can be found from anywhere. Kernel test (root; skipped
//! otherwise, see `tests/common`).

use crate::common;
use crate::netns;

use std::process::Command;

use netns::{run, sockc, sockc_bin, Lab, BPFFS};

#[test]
fn status_names_the_rule_file_by_its_absolute_path() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("abspath", 231);
    lab.rules(
        "relative.sk",
        &format!(
            "xdp on {} {{\n    count udp to *:9000\n    default allow\n}}\n",
            lab.if_a
        ),
    );
    // Applied by a relative name from the file's own directory.
    run(Command::new(sockc_bin())
        .current_dir(&lab.dir)
        .args([
            "apply",
            "relative.sk",
            "--name",
            &lab.name,
            "--bpffs",
            BPFFS,
        ])
        .args(["--netns", &lab.ns_a]))
    .ok();
    let absolute = lab.dir.join("relative.sk").display().to_string();
    assert!(absolute.starts_with('/'));
    let status = lab.status().expect("installed");
    assert_eq!(status["source_file"], absolute.as_str(), "{status:#}");
    let text = sockc(&["status", "--name", &lab.name]).ok();
    assert!(text.stdout.contains(&absolute), "{text}");
    let stats = sockc(&["stats", "--name", &lab.name]).ok();
    assert!(
        stats.stdout.contains(&format!("from {absolute}")),
        "{stats}"
    );
}

/// A file with an XDP and a TC ingress block on the lab's interface A, each
/// counting one port.
fn two_hooks(lab: &Lab) -> std::path::PathBuf {
    lab.rules(
        "two.sk",
        &format!(
            "xdp on {a} {{\n    count udp to *:9000\n    default allow\n}}\n\
             tc ingress on {a} {{\n    count tcp to *:22\n    default allow\n}}\n",
            a = lab.if_a
        ),
    )
}

/// `status` prints an install's hooks as a table under a header (hook, mode, prog,
/// tag, state, link), every row's fields starting under their column's name.
#[test]
fn status_lists_the_hooks_as_a_table() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("stattab", 232);
    let file = two_hooks(&lab);
    lab.apply(&file, &[]);
    let text = sockc(&["status", "--name", &lab.name]).ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("hook "))
        .unwrap_or_else(|| panic!("no table header:\n{text}"));
    common::table::assert_lines_up(
        &lines[header..header + 3],
        &["hook", "mode", "prog", "tag", "state", "link"],
        &[],
    );
    let rows = &lines[header + 1..header + 3];
    for row in rows {
        assert_eq!(
            common::table::cells(row).len(),
            6,
            "a cell missing:\n{text}"
        );
    }
    assert!(rows[0].contains(&format!("xdp on {}", lab.if_a)), "{text}");
    assert!(
        rows[1].contains(&format!("tc ingress on {}", lab.if_a)),
        "{text}"
    );
}

/// `apply --timings` prints each stage of the apply with its start and length on
/// stderr (the compile in its two halves, every program's verification, every hook
/// made ready and attached, the commit), in the order they started, and nothing of it
/// without the flag.
#[test]
fn apply_timings_name_each_stage_on_stderr_only_when_asked() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("timings", 251);
    let file = two_hooks(&lab);
    let timed = lab.apply(&file, &["--timings"]).ok();
    let stages: Vec<&str> = timed
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("timings (ms"))
        .skip(2)
        .take_while(|l| !l.trim_start().starts_with("total "))
        .collect();
    for want in [
        "read and compile: front end (parse ",
        "read and compile: the rest (",
        "verify and load xdp_",
        "verify and load tci_",
        // A first install's interface hooks are made ready while it compiles the rest
        // and verifies, and the attach only puts the program in.
        &format!("make xdp on {} ready (another thread)", lab.if_a),
        &format!("make tc ingress on {} ready (another thread)", lab.if_a),
        &format!("attach xdp on {} (made ready ahead)", lab.if_a),
        &format!("attach tc ingress on {} (made ready ahead)", lab.if_a),
        "commit",
    ] {
        assert!(
            stages.iter().any(|l| l.contains(want)),
            "no stage `{want}`:\n{timed}"
        );
    }
    let mut last_start = 0.0;
    for l in &stages {
        let f: Vec<f64> = l
            .split_whitespace()
            .take(2)
            .map(|n| n.parse().unwrap_or_else(|_| panic!("`{l}`:\n{timed}")))
            .collect();
        assert!(f[0] >= last_start && f[1] >= 0.0, "`{l}`:\n{timed}");
        last_start = f[0];
    }
    assert!(timed.stderr.contains("  total "), "{timed}");
    let plain = lab.apply(&file, &[]).ok();
    assert!(!plain.stderr.contains("timings"), "{plain}");
}

/// A large file's records (its rules and text) are written on another thread while
/// the verifier runs, a small one's before the load; either way `show` reads every
/// rule back, and says the kernel runs what they compile to.
#[test]
fn records_written_beside_the_verifier_read_back_whole() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("bigrec", 207);
    for (name, rules, beside) in [("big.sk", 600, true), ("small.sk", 3, false)] {
        let lines: Vec<String> = (0..rules)
            .map(|i| {
                format!(
                    "    drop udp from 10.{}.{}.0/24 to *:{}",
                    i / 256,
                    i % 256,
                    1000 + i
                )
            })
            .collect();
        let text = format!(
            "xdp on {} {{\n{}\n    default allow\n}}\n",
            lab.if_a,
            lines.join("\n")
        );
        let file = lab.rules(name, &text);
        let timed = lab.apply(&file, &["--timings"]).ok();
        let stage = "write the records: rules, text, sets (another thread)";
        assert_eq!(timed.stderr.contains(stage), beside, "{name}:\n{timed}");
        let shown = sockc(&["show", "--name", &lab.name]).ok();
        assert!(
            shown
                .stdout
                .contains("the kernel runs what these rules compile to"),
            "{shown}"
        );
        let read: Vec<&str> = shown
            .stdout
            .lines()
            .filter(|l| l.contains("drop udp"))
            .collect();
        assert_eq!(read, lines, "{name}");
    }
}
