//! `sockc bench --control`, the control plane's figures and their regression guard:
//! the comparison with a committed baseline fails on an injected regression and
//! passes on the same figures (no root needed: `--compare` measures nothing); the
//! committed baselines follow the `sockc.bench/1` schema; and the table at its
//! smallest (1k rules, one round, a 1,000-address set) writes a document that follows
//! the schema, with every figure measured and nothing left behind.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common;

/// The committed baselines (`bench/control/baseline-PROFILE.json`).
fn baselines() -> Vec<PathBuf> {
    let dir = common::root().join("bench/control");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `sockc bench --compare NEW --baseline BASE`: exit code and output.
fn compare(new: &Value, base: &Path, tag: &str) -> (i32, String) {
    let path =
        std::env::temp_dir().join(format!("sockc-control-{tag}-{}.json", std::process::id()));
    std::fs::write(&path, new.to_string()).unwrap();
    let out = std::process::Command::new(common::bin())
        .arg("bench")
        .arg("--compare")
        .arg(&path)
        .arg("--baseline")
        .arg(base)
        .output()
        .expect("sockc runs");
    std::fs::remove_file(&path).ok();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_guard_fails_on_an_injected_regression_and_passes_the_baseline_itself() {
    let schemas = common::schema::Schemas::load();
    let found = baselines();
    assert!(!found.is_empty(), "no committed baseline in bench/control");
    for base in found {
        let doc = read(&base);
        schemas.validate("bench", &doc);
        let (code, text) = compare(&doc, &base, "same");
        assert_eq!(code, 0, "{}: {text}", base.display());
        assert!(text.contains("no regression"), "{text}");
        // The re-apply made twice as slow against the same iptables baseline.
        let mut slower = doc.clone();
        let figure = slower["figures"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|f| f["key"].as_str().is_some_and(|k| k.starts_with("reapply/")))
            .expect("a re-apply figure");
        let key = figure["key"].as_str().unwrap().to_string();
        let ratio = figure["cpu_ratio"].as_f64().unwrap();
        figure["cpu_ratio"] = (ratio * 2.0).into();
        let (code, text) = compare(&slower, &base, "slower");
        assert_eq!(code, 1, "{text}");
        assert!(text.contains(&format!("regression: {key}")), "{text}");
        // A figure the baseline has and the run lacks fails too.
        let mut fewer = doc.clone();
        fewer["figures"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["key"] != key.as_str());
        let (code, text) = compare(&fewer, &base, "fewer");
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("not measured"), "{text}");
    }
}

#[test]
fn the_smallest_control_table_writes_figures_that_follow_the_schema() {
    if !common::kernel() {
        return;
    }
    let _measuring = common::exclusive::measuring();
    let figures = std::env::temp_dir().join(format!("sockc-control-{}.json", std::process::id()));
    let child = std::process::Command::new(common::bin())
        .args(["bench", "--control", "--sizes", "1000", "--rounds", "1"])
        .args(["--set-elements", "1000", "--classbench", "bench/classbench"])
        .arg("--figures")
        .arg(&figures)
        .current_dir(common::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sockc runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("sockc ends");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("| reapply/acl1_1000 "),
        "{}",
        text(&out.stdout)
    );
    let doc = read(&figures);
    std::fs::remove_file(&figures).ok();
    common::schema::Schemas::load().validate("bench", &doc);
    let keys: Vec<&str> = doc["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    for key in [
        "first_apply/acl1_1000",
        "reapply/acl1_1000",
        "reapply_vs_first/acl1_1000",
        "dry_run/acl1_1000",
        "diff/acl1_1000",
        "diff_unrelated/acl1_1000",
        "compile/acl1_1000",
        "rss_apply/acl1_1000",
        "rss_diff/acl1_1000",
        "rss_diff_unrelated/acl1_1000",
        "set_full/1000",
        "set_add/1000",
        "set_remove/1000",
        "start",
    ] {
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
    for f in doc["figures"].as_array().unwrap() {
        assert!(f["value"].as_f64().is_some_and(|v| v > 0.0), "{f}");
        assert!(f["ratio"].as_f64().is_some_and(|v| v > 0.0), "{f}");
        assert!(f["cpu_ratio"].as_f64().is_some_and(|v| v > 0.0), "{f}");
    }
    // Nothing of the run is left: its bpffs (and the installs on it) unmounted, its
    // scratch directory and namespaces gone.
    let scratch = std::env::temp_dir().join(format!("sockc-peer-{pid}"));
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&scratch.display().to_string()), "{mounts}");
    assert!(!scratch.exists(), "{} is left", scratch.display());
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let netns = String::from_utf8_lossy(&netns.stdout);
    assert!(!netns.contains(&format!("pb{pid}-")), "{netns}");
}
