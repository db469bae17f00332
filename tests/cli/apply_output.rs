//! What `sockc apply` prints (issue 47 item 9): `-q` prints nothing on success (a 1k-rule
//! apply printed its 1,373-line plan), and without `--details` a plan whose listing is
//! longer than the limit `--help` names is given as counts, with a line saying how to
//! list it; `--details` lists it whole, `--summary` counts a short one. A dry run shows
//! no plan unless asked for one, and with `-q` prints nothing (`--exit-code` answers).
//! Errors still print under `-q`, and so does the line of a change left pending
//! confirmation. Installs into network namespaces the test makes
//! (root; skipped otherwise unless `SOCKC_KERNEL_TESTS=require`).
//!
//! `SOCKC_TEST_BIN=/path/to/old/sockc` runs it against an older build.

use crate::{common, netns};

use netns::{Lab, Run};

/// The listing limit `apply --help` states (`src/commands/apply/report.rs`).
const LISTED_PLAN_LINES: usize = 50;

/// An XDP block of `n` rules on `dev`, each dropping one UDP port from `first` on.
fn many_rules(dev: &str, n: u16, first: u16) -> String {
    let rules: String = (0..n)
        .map(|i| format!("  drop udp to *:{} # rule {i}\n", first + i))
        .collect();
    format!("xdp on {dev} {{\n{rules}  default allow\n}}\n")
}

/// The lines of the plan's rule diff that add a rule.
fn added_rules(r: &Run) -> usize {
    r.stdout
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .filter(|l| l.contains(": drop udp to *:"))
        .count()
}

#[test]
fn quiet_apply_is_silent_and_large_plans_are_counted() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("applyout", 148);
    let big = lab.rules("big.sk", &many_rules(&lab.if_a, 1000, 10_000));

    // `-q` on success: not a byte, on either stream.
    let r = lab.apply(&big, &["-q"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");
    assert_eq!(lab.probe(&[10_000, 9000], 1)[&10_000], 0, "the rules hold");

    // A dry run with `-q`: nothing printed; `--exit-code` says a change would happen.
    let next = lab.rules("next.sk", &many_rules(&lab.if_a, 1000, 20_000));
    let r = lab.apply(&next, &["-q", "--dry-run", "--exit-code"]);
    assert_eq!(r.code, 4, "{r}");
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");
    let r = lab.apply(&big, &["-q", "--dry-run", "--exit-code"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");

    // A dry run shows the packets that change, and the plan only when asked.
    let r = lab.apply(&next, &["--dry-run"]).ok();
    assert!(!r.stdout.contains("\nplan:"), "{r}");
    let r = lab.apply(&next, &["--dry-run", "--details"]).ok();
    assert!(added_rules(&r) >= 1000, "the whole plan: {r}");

    // The default: a 2,000-line listing is counted, with the way to list it.
    let r = lab.apply(&next, &[]).ok();
    assert!(r.stdout.contains("generation 2 applied"), "{r}");
    assert!(r.stdout.contains("rules: +1000 -1000"), "{r}");
    assert!(
        r.stdout.contains(&format!(
            "more than {LISTED_PLAN_LINES}: --details prints it)"
        )),
        "{r}"
    );
    assert_eq!(added_rules(&r), 0, "{r}");
    assert!(r.stdout.lines().count() < 40, "{r}");

    // `--details`: every rule that changes.
    let r = lab.apply(&big, &["--details"]).ok();
    assert!(added_rules(&r) >= 1000, "{r}");

    // A short plan is listed; `--summary` counts it all the same.
    let small = many_rules(&lab.if_a, 1000, 10_000).replace("*:10000 ", "*:9999 ");
    let small = lab.rules("small.sk", &small);
    let r = lab.apply(&small, &[]).ok();
    assert!(r.stdout.contains("drop udp to *:9999"), "listed: {r}");
    assert!(!r.stdout.contains("--details prints it"), "{r}");
    let r = lab.apply(&big, &["--summary"]).ok();
    assert!(r.stdout.contains("rules: +1 -1"), "{r}");
    assert!(!r.stdout.contains("--details prints it"), "{r}");
    // `--details` and `--summary` together: the last one wins (scripts keep working).
    let r = lab.apply(&small, &["--summary", "--details"]).ok();
    assert!(r.stdout.contains("drop udp to *:9999"), "{r}");

    // `-q` with `--confirm`: only the line of the change left pending, which is
    // rolled back unless someone confirms it.
    let r = lab.apply(&next, &["-q", "--confirm", "5m"]).ok();
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
    assert!(r.stdout.contains("pending confirmation"), "{r}");
    assert_eq!(r.stderr, "", "{r}");
    netns::sockc(&["confirm", &lab.name]).ok();

    // `-q` keeps errors.
    let broken = lab.rules("broken.sk", "xdp on lo {\n  drop udp to *:99999\n}\n");
    let r = lab.apply(&broken, &["-q"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("99999"), "{r}");
    assert_eq!(r.stdout, "", "{r}");
}
