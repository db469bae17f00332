//! What an operator reads back from an install: the manifest records the rule file's
//! absolute path whatever directory `sockc apply` ran in, and `status` and `stats`
//! print it, so the file can be found from anywhere. Kernel test (root; skipped
//! otherwise, see `tests/common`).

mod common;
mod netns;

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
