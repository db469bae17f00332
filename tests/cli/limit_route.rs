//! `limit` and `route` at the command line: `sockc test` takes `over-limit` and
//! `route CLASS` as packet facts and the evaluator answers by them (kernel or not),
//! and `sockc diff` compares both: `route` is a dimension of the header space, and
//! each `limit` bucket a yes/no one ("no room"), which the example names
//! (`over-limit:SPEC`).

use crate::common;

use common::sockc;

/// `out` with every run of blanks one space: the table's column widths do not matter
/// here, only which verdict and rule answered.
fn squeezed(out: &str) -> String {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn answers(packet: &str) -> String {
    let (code, out, err) = sockc(&[
        "-q",
        "test",
        "rules/match/limit.sk",
        "--hook",
        "xdp",
        "--packet",
        packet,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("disagree"), "{out}");
    squeezed(&out)
}

#[test]
fn test_takes_over_limit_as_a_fact() {
    let out = answers("udp 10.0.0.1:1000 -> 10.0.0.2:53");
    assert!(out.contains("allow line 4"), "a full bucket: {out}");
    let out = answers("udp 10.0.0.1:1000 -> 10.0.0.2:53 over-limit");
    assert!(!out.contains("allow line 4"), "an empty bucket: {out}");
    let out = answers("icmp 10.0.0.1 -> 10.0.0.2 type 8 over-limit");
    assert!(out.contains("drop line 5"), "`limit over` matches: {out}");
}

#[test]
fn test_takes_the_route_class_as_a_fact() {
    let run = |packet: &str| {
        let (code, out, err) = sockc(&[
            "-q",
            "test",
            "rules/match/route.sk",
            "--hook",
            "xdp",
            "--packet",
            packet,
        ]);
        assert_eq!(code, 0, "{err}");
        squeezed(&out)
    };
    let local = run("udp 10.0.0.1:1000 -> 10.0.0.2:53");
    assert!(local.contains("drop line 5"), "local by default: {local}");
    let fwd = run("udp 10.0.0.1:1000 -> 10.0.0.2:53 route forward");
    assert!(fwd.contains("allow line 6"), "{fwd}");
    let none = run("udp 10.0.0.1:1000 -> 10.0.0.2:53 route unroutable");
    assert!(none.contains("default drop"), "{none}");
    let (code, _, err) = sockc(&[
        "test",
        "rules/match/route.sk",
        "--packet",
        "udp 10.0.0.1:1 -> 10.0.0.2:2 route sideways",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`route` takes local, forward or unroutable"),
        "{err}"
    );
}

#[test]
fn diff_compares_route_and_limit() {
    let dir = std::env::temp_dir().join(format!("sockc-lrcli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, rule: &str| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!("xdp on eth0 {{\n    {rule}\n    default drop\n}}\n"),
        )
        .unwrap();
        p.to_str().unwrap().to_string()
    };
    let old = write("old.sk", "allow udp to *:53");
    let limit = write("limit.sk", "allow udp to *:53 limit 10/s");
    // The DNS packets the new bucket has no room for are dropped now.
    let (code, out, err) = sockc(&["diff", &old, &limit]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.starts_with("1 region changes verdict:"), "{out}");
    assert!(!out.contains("not compared"), "{out}");
    assert!(squeezed(&out).contains(":53 over-limit:10/second"), "{out}");
    // Forwarded and unroutable DNS packets are dropped now; an example says so.
    let route = write("route.sk", "allow udp to *:53 route local");
    let (code, out, err) = sockc(&["diff", &old, &route]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.starts_with("1 region changes verdict:"), "{out}");
    assert!(!out.contains("not compared"), "{out}");
    assert!(squeezed(&out).contains(":53 route forward"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An `over-limit:SPEC[#N]` that names no bucket of the programs tested (another
/// rate, or `#N` past the rules with that bucket) is said in a notice with the buckets
/// there are, instead of going unseen; the answer is the one of full buckets, as a
/// diff's example naming a bucket only the other file has needs.
#[test]
fn test_says_when_an_over_limit_names_no_bucket() {
    let run = |quiet: &[&str], fact: &str| {
        let packet = format!("udp 10.0.0.1:1000 -> 10.0.0.2:53 {fact}");
        let mut args = quiet.to_vec();
        args.extend([
            "test",
            "rules/match/limit.sk",
            "--hook",
            "xdp",
            "--eval-only",
            "--packet",
            &packet,
        ]);
        let (code, out, err) = sockc(&args);
        assert_eq!(code, 0, "{fact}: {out}{err}");
        (squeezed(&out), err)
    };
    for wrong in ["over-limit:11/second", "over-limit:10/second,burst=20#2"] {
        let (out, err) = run(&[], wrong);
        assert!(
            err.contains(&format!("`{wrong}` names no `limit` bucket"))
                && err.contains("over-limit:10/second,burst=20,")
                && err.contains("over-limit:3/minute,per-source"),
            "{wrong}: {err}"
        );
        assert!(out.contains("allow line 4"), "a full bucket: {out}");
        let (_, quiet) = run(&["-q"], wrong);
        assert!(!quiet.contains("names no"), "{quiet}");
    }
    for right in [
        "over-limit:10/second,burst=20",
        "over-limit:10/second,burst=20#1",
        "over-limit:600/minute,burst=20",
    ] {
        let (out, err) = run(&[], right);
        assert!(!err.contains("names no"), "{right}: {err}");
        assert!(!out.contains("allow line 4"), "{right}: {out}");
    }
}
