//! `sockc diff OLD NEW` as a user runs it: the answer (which packets change their
//! verdict) and the plan with `--details`, `--json`, and exit codes (0 no packet
//! changes its verdict, 4 some do, 1 rule errors, 2 usage); the named cases of the
//! semantic diff (reorders, rules folded into a set, a shadowed rule deleted, a real
//! change whose example packets `sockc test` confirms on both files). The fixtures
//! are `rules/diff/*.sk`.

use crate::common;

use common::sockc;

fn assert_has(text: &str, lines: &[&str]) {
    for l in lines {
        assert!(text.contains(l), "missing {l:?} in\n{text}");
    }
}

#[test]
fn identical_files_have_no_changes_and_exit_0() {
    let (code, out, err) = sockc(&["diff", "rules/diff/old.sk", "rules/diff/old.sk"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "no packet changes its verdict\n");
    let (code, out, _) = sockc(&[
        "diff",
        "--details",
        "rules/diff/old.sk",
        "rules/diff/old.sk",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "no packet changes its verdict\n\nno changes (2 programs unchanged)\n"
    );
}

#[test]
fn changed_rules_show_the_plan_and_exit_4() {
    let (code, out, err) = sockc(&["diff", "rules/diff/old.sk", "rules/diff/new.sk"]);
    assert_eq!(code, 4, "{err}");
    // Two regions of xdp on eth0, and what the tc ingress block NEW adds drops
    // (compared with no block, where every packet goes on).
    assert!(out.starts_with("3 regions change verdict:\n"), "{out}");
    assert!(out.contains("allow (no block)"), "{out}");
    assert!(
        !out.contains("plan:"),
        "the plan only with --details: {out}"
    );
    let (code, out, err) = sockc(&[
        "diff",
        "--details",
        "rules/diff/old.sk",
        "rules/diff/new.sk",
    ]);
    assert_eq!(code, 4, "{err}");
    let plan = out.find("\nplan:").expect("the plan after the answer");
    let out = &out[plan + 1..];
    assert!(
        out.starts_with(
            "plan: 1 to attach, 2 to reload (3 programs); set maps updated in place: no"
        ),
        "{out}"
    );
    assert_has(
        out,
        &[
            "  xdp on eth0         reload (code changed, ",
            "  tc egress on eth0   reload (code changed, ",
            "  tc ingress on eth1  attach (new program, ",
            "rules:\n  --- rules/diff/old.sk\n  +++ rules/diff/new.sk\n  @@ ",
            "\n  +xdp on eth0: allow tcp to 1.1.1.1:853\n",
            "\n  +tc ingress on eth1: drop from @blocked\n",
            "sets:\n  set_blocked_v4 (new maps filled at load, programs reload): +1 -0\n    + 203.0.113.0/24\n",
            "bytecode xdp_eth0:\n  --- rules/diff/old.sk\n",
            "bytecode tce_eth0:\n",
            // 4 xdp rules and 2 tc egress rules carry; the new rule and the tc
            // ingress program start at zero.
            "counters: kept for 6 of 9 rules, 3 start at zero\n",
        ],
    );
    assert!(
        !out.contains("set_blocked_v6"),
        "v6 entries did not change\n{out}"
    );
}

#[test]
fn set_contents_alone_are_updated_in_place() {
    let (code, out, err) = sockc(&[
        "diff",
        "--bytecode",
        "rules/diff/sets_old.sk",
        "rules/diff/sets_new.sk",
    ]);
    assert_eq!(code, 4, "{err}");
    assert_has(
        &out,
        &[
            "plan: 1 unchanged (1 program); set maps updated in place: yes, nothing reloads\n",
            "  xdp on eth0  unchanged\n",
            "rules: unchanged\n",
            "  set_blocked_v4 (map update in place, no reload): +1 -1\n    + 203.0.113.0/24\n    - 198.51.100.7\n",
            "  set_blocked_v6 (map update in place, no reload): +1 -1\n    + 2001:db8:beef::/48\n    - 2001:db8:bad::/48\n",
            "counters: all kept (nothing reloads)\n",
        ],
    );
    assert!(!out.contains("bytecode"), "{out}");
}

#[test]
fn json_plan_is_data() {
    let (code, out, err) = sockc(&[
        "diff",
        "rules/diff/sets_old.sk",
        "rules/diff/sets_new.sk",
        "--json",
    ]);
    assert_eq!(code, 4, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    assert_eq!(v["semantic"]["verdicts_change"], true);
    assert_eq!(v["semantic"]["regions"], 2);
    let region = &v["semantic"]["blocks"][0]["regions"][0];
    assert_eq!(region["before"]["at"], "rules/diff/sets_old.sk:6");
    assert_eq!(region["after"]["outcome"], "allow");
    assert_eq!(
        region["example"]["packet"],
        "tcp 198.51.100.7:0 -> 0.0.0.0:0"
    );
    assert_eq!(v["has_changes"], true);
    assert_eq!(v["maps_only"], true);
    assert_eq!(v["programs"][0]["action"], "unchanged");
    assert_eq!(v["set_changes"][0]["map"], "set_blocked_v4");
    assert_eq!(v["set_changes"][0]["added"][0], "203.0.113.0/24");
    assert_eq!(
        v["set_changes"][0]["added_raw"][0],
        serde_json::json!(["18000000cb007100", "01"])
    );

    let (code, out, _) = sockc(&["diff", "rules/diff/old.sk", "rules/diff/new.sk", "--json"]);
    assert_eq!(code, 4);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["maps_only"], false);
    let actions: Vec<_> = v["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["reload", "reload", "attach"]);
    assert_eq!(v["bytecode_diffs"][0]["symbol"], "xdp_eth0");
    assert!(v["counter_carry"].as_array().unwrap().len() == 6);

    let (code, out, _) = sockc(&["diff", "rules/diff/old.sk", "rules/diff/old.sk", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["has_changes"], false);
    assert_eq!(v["semantic"]["regions"], 0);
}

#[test]
fn rule_errors_in_either_file_exit_1() {
    for args in [
        ["diff", "rules/errors/syntax.sk", "rules/diff/old.sk"],
        ["diff", "rules/diff/old.sk", "rules/errors/syntax.sk"],
    ] {
        let (code, out, err) = sockc(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("rules/errors/syntax.sk"), "{err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = sockc(&["diff", "rules/diff/old.sk"]);
    assert_eq!(code, 2, "{err}");
}

/// `sockc diff` of two fixture files: exit code and stdout (`-q`: no warnings).
fn diff(old: &str, new: &str) -> (i32, String) {
    let (code, out, err) = sockc(&["-q", "diff", old, new]);
    assert!(err.is_empty(), "{err}");
    (code, out)
}

#[test]
fn refactorings_change_no_verdict() {
    for (old, new) in [
        ("rules/diff/reorder_old.sk", "rules/diff/reorder_new.sk"),
        ("rules/diff/fold_old.sk", "rules/diff/fold_new.sk"),
        ("rules/diff/shadow_old.sk", "rules/diff/shadow_new.sk"),
    ] {
        let (code, out) = diff(old, new);
        assert_eq!(code, 0, "{old} {new}: {out}");
        assert!(out.starts_with("no packet changes its verdict\n"), "{out}");
        // The rules did change (and the code, but for the shadowed rule, which has
        // none).
        let (_, details) = diff_details(old, new);
        assert!(details.contains("\nrules:\n  --- "), "{details}");
    }
}

fn diff_details(old: &str, new: &str) -> (i32, String) {
    let (code, out, _) = sockc(&["-q", "diff", "--details", old, new]);
    (code, out)
}

/// The verdict and line `sockc test` gives a packet at `xdp on eth0`.
fn tested(file: &str, packet: &str) -> String {
    let (code, out, err) = sockc(&[
        "-q", "test", file, "--packet", packet, "--hook", "xdp", "--iface", "eth0",
    ]);
    assert_eq!(code, 0, "{file} {packet}: {err}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("xdp on eth0"))
        .unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    format!("{} {}", words[3], words[5].trim_end_matches(':'))
}

#[test]
fn a_real_change_lists_regions_that_sockc_test_confirms() {
    let (old, new) = ("rules/diff/sets_old.sk", "rules/diff/sets_new.sk");
    let (code, out, _) = sockc(&["-q", "diff", "--json", old, new]);
    assert_eq!(code, 4, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let regions = v["semantic"]["blocks"][0]["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2);
    for r in regions {
        let packet = r["example"]["packet"].as_str().unwrap();
        for (file, side) in [(old, "before"), (new, "after")] {
            let want = format!(
                "{} {}",
                r[side]["outcome"].as_str().unwrap(),
                r[side]["line"]
            );
            assert_eq!(tested(file, packet), want, "{file}: {packet}");
        }
    }
    let (_, text) = diff(old, new);
    assert_has(
        &text,
        &[
            "2 regions change verdict:\n",
            "xdp on eth0  drop rules/diff/sets_old.sk:6   allow rules/diff/sets_new.sk:7  tcp 198.51.100.7:0 -> 0.0.0.0:0  IPv4 from 198.51.100.7 | IPv6 from 2001:db8:bad::/48\n",
        ],
    );
}

#[test]
fn warnings_are_new_s_only_after_the_answer() {
    let (code, out, err) = sockc(&["diff", "rules/diff/old.sk", "rules/diff/new.sk"]);
    assert_eq!(code, 4);
    assert!(out.starts_with("3 regions change verdict"), "{out}");
    assert!(
        err.contains("rules/diff/new.sk: 0 errors, 2 warnings"),
        "{err}"
    );
    assert!(!err.contains("rules/diff/old.sk"), "OLD's warnings: {err}");
    let (_, _, err) = sockc(&["-q", "diff", "rules/diff/old.sk", "rules/diff/new.sk"]);
    assert!(err.is_empty(), "{err}");
}
