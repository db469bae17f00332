//! Plans show every set change: port sets, which are compiled into the code and so
//! change no map, are listed element by element beside address sets, each with the path
//! it takes (map update in place, or a reload); `--summary` gives counts for changes
//! too large to read.

use crate::common;

use common::sockc;
use serde_json::Value;

#[test]
fn port_set_changes_are_listed_with_their_path() {
    // Only a count rule's ports change: no verdict does (exit 0).
    let (code, out, err) = sockc(&[
        "diff",
        "--details",
        "rules/diff/ports_old.sk",
        "rules/diff/ports_new.sk",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("no packet changes its verdict\n1 counting change (verdicts unchanged):\n  xdp on eth0: count rule counts other packets (its sets changed) (rules/diff/ports_old.sk:7 → rules/diff/ports_new.sk:7)\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "sets:\n  web (ports, compiled into the code: reload): +1 -1\n    + 8443\n    - 8000-8080\n"
        ),
        "{out}"
    );
    assert!(!out.contains("sets: unchanged"), "{out}");
    assert!(out.contains("xdp on eth0  reload (code changed"), "{out}");

    let (code, out, _) = sockc(&[
        "diff",
        "--json",
        "rules/diff/ports_old.sk",
        "rules/diff/ports_new.sk",
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["semantic"]["verdicts_change"], false);
    assert_eq!(v["semantic"]["counting_changes"], 1);
    assert_eq!(
        v["port_set_changes"],
        serde_json::json!([{"set": "web", "added": ["8443"], "removed": ["8000-8080"]}])
    );
    assert_eq!(v["maps_only"], false);
}

#[test]
fn source_port_sets_and_sets_only_one_side_uses() {
    let (code, out, err) = sockc(&[
        "diff",
        "--details",
        "rules/diff/ports_new.sk",
        "rules/diff/ports_src.sk",
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(out.starts_with("1 region changes verdict:\n"), "{out}");
    assert!(
        out.contains("  high (ports, compiled into the code: reload): +1 -0\n    + 1024-65535\n"),
        "{out}"
    );
    assert!(!out.contains("  web ("), "web did not change: {out}");
    let (code, out, _) = sockc(&["diff", "rules/diff/ports_new.sk", "rules/diff/ports_new.sk"]);
    assert_eq!(code, 0);
    assert_eq!(out, "no packet changes its verdict\n");
}

#[test]
fn summary_counts_instead_of_listing() {
    let (code, out, err) = sockc(&[
        "diff",
        "--summary",
        "rules/diff/old.sk",
        "rules/diff/new.sk",
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(
        out.starts_with("3 regions change verdict; 3 counting changes\n"),
        "{out}"
    );
    assert!(
        out.contains("rules: +3 -0\n"),
        "one xdp rule, tc ingress rule and default: {out}"
    );
    assert!(
        out.contains("  set_blocked_v4 (new maps filled at load, programs reload): +1 -0\n"),
        "{out}"
    );
    assert!(!out.contains("    + 203.0.113.0/24"), "no listing: {out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("bytecode xdp_eth0: +") && l.ends_with(" lines")),
        "{out}"
    );
    assert!(!out.contains("  --- "), "no diff bodies: {out}");
    let (code, out, _) = sockc(&[
        "diff",
        "--summary",
        "rules/diff/ports_old.sk",
        "rules/diff/ports_new.sk",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("  web (ports, compiled into the code: reload): +1 -1\n")
            && !out.contains("    + 8443"),
        "{out}"
    );

    // A large change stays short: 2000 rules inserted.
    let dir = std::env::temp_dir().join(format!("sockc-summary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut big = String::from("xdp on eth0 {\n");
    for i in 0..2000u32 {
        big.push_str(&format!(
            "  drop udp from 10.{}.{}.0/24 to *:{}\n",
            i / 256,
            i % 256,
            1000 + i
        ));
    }
    big.push_str("  default allow\n}\n");
    let small = "xdp on eth0 {\n  default allow\n}\n";
    std::fs::write(dir.join("small.sk"), small).unwrap();
    std::fs::write(dir.join("big.sk"), big).unwrap();
    let (code, out, err) = sockc(&[
        "-q",
        "diff",
        "--summary",
        dir.join("small.sk").to_str().unwrap(),
        dir.join("big.sk").to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 4, "{err}");
    assert!(out.contains("rules: +2000 -0\n"), "{out}");
    assert!(out.lines().count() < 15, "{out}");
}
