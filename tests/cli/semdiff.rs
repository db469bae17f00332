//! `sockc diff` on the semantic diff's newer cases, each region's example packet run
//! through `sockc test` on both files (the kernel too where it can run it, as root):
//! `ct state` and `route` as dimensions (the example names the state or class it
//! needs), and blocks on one side only, compared with no block (the example is
//! decided by the block on one side and passes as without a program on the other),
//! `limit` buckets as yes/no variables (the example names each bucket it needs out of
//! room, `over-limit:SPEC`, which `sockc test` takes on both files) and the devices of
//! `in on`/`out on` (the example names them, `in NAME`, `out NAME`).
//! The fixtures are `rules/diff/{ct,route,blocks,limit,iface}_{old,new}.sk`.

use crate::common;

use common::sockc;
use serde_json::Value;

/// The regions of `sockc diff --json OLD NEW`, with the block they belong to.
fn regions(old: &str, new: &str) -> Vec<(String, String, Value)> {
    let (code, out, err) = sockc(&["-q", "diff", "--json", old, new]);
    assert_eq!(code, 4, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["semantic"]["verdicts_change"], true);
    let mut got = Vec::new();
    for b in v["semantic"]["blocks"].as_array().unwrap() {
        assert!(b["cut_short"].is_null() && b["stopped"] == false, "{b}");
        for r in b["regions"].as_array().unwrap() {
            got.push((
                b["hook"].as_str().unwrap().to_string(),
                b["attach_to"].as_str().unwrap().to_string(),
                r.clone(),
            ));
        }
    }
    got
}

/// `sockc test FILE --packet P [--socket S] --json`: the verdict and line of the
/// block at (hook, attach_to), `None` when the file has no such block.
fn tested(
    file: &str,
    packet: &str,
    socket: Option<&str>,
    hook: &str,
    at: &str,
) -> Option<(String, u64)> {
    // The block's hook alone; an sk_lookup block without a declared socket is run by
    // the evaluator alone (as root the kernel run stops at "no socket map").
    let hook_arg = hook.replace([' ', '_'], "-");
    let mut args = vec![
        "-q", "test", file, "--packet", packet, "--json", "--hook", &hook_arg,
    ];
    if hook == "sk_lookup" {
        args.push("--eval-only");
    }
    if let Some(s) = socket {
        args.extend(["--socket", s]);
    }
    let (code, out, err) = sockc(&args);
    if code == 2 && err.contains("no program to test matches --hook") {
        return None;
    }
    assert_eq!(code, 0, "{file} {packet}: {out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["disagreements"], 0, "{file} {packet}: {out}");
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["hook"] == hook && r["attach_to"] == at)
        .map(|r| {
            let e = &r["evaluator"];
            (
                e["verdict"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
            )
        })
}

/// Every region's example is decided as the region says on both files, differently;
/// returns the example packets.
fn confirmed(name: &str, count: usize) -> Vec<String> {
    let (old, new) = (
        format!("rules/diff/{name}_old.sk"),
        format!("rules/diff/{name}_new.sk"),
    );
    let regions = regions(&old, &new);
    assert_eq!(regions.len(), count, "{regions:?}");
    let mut examples = Vec::new();
    for (hook, at, r) in regions {
        let packet = r["example"]["packet"].as_str().unwrap();
        let socket = r["example"]["socket"].as_str();
        let mut outcomes = Vec::new();
        for (file, side) in [(&old, "before"), (&new, "after")] {
            let want = r[side]["outcome"].as_str().unwrap().to_string();
            match r[side]["line"].as_u64() {
                Some(line) => assert_eq!(
                    tested(file, packet, socket, &hook, &at),
                    Some((want.clone(), line)),
                    "{file}: {packet} at {hook} {at}"
                ),
                // No block: the file has none there, and the packet goes on.
                None => {
                    assert_eq!(tested(file, packet, socket, &hook, &at), None, "{file}");
                    assert!(want == "allow" || want == "pass", "{r}");
                }
            }
            outcomes.push(want);
        }
        assert_ne!(outcomes[0], outcomes[1], "{r}");
        examples.push(packet.to_string());
    }
    examples
}

#[test]
fn ct_state_changes_are_regions_whose_examples_name_the_state() {
    let examples = confirmed("ct", 2);
    assert!(
        examples.iter().any(|e| e.ends_with(" ct related")),
        "{examples:?}"
    );
    assert!(
        examples.iter().any(|e| e.ends_with(" ct new")),
        "{examples:?}"
    );
}

#[test]
fn route_changes_are_regions_whose_examples_name_the_class() {
    let examples = confirmed("route", 1);
    assert!(examples[0].ends_with(" route unroutable"), "{examples:?}");
}

#[test]
fn limit_changes_are_regions_whose_examples_name_the_buckets() {
    let mut examples = confirmed("limit", 3);
    examples.sort();
    assert!(
        examples[0].starts_with("tcp ") && examples[0].ends_with(":22 over-limit:10/second"),
        "{examples:?}"
    );
    assert!(
        examples[1].starts_with("tcp ") && examples[1].ends_with(":22 over-limit:20/second"),
        "{examples:?}"
    );
    assert!(
        examples[2].starts_with("udp ")
            && examples[2].ends_with(":53 over-limit:1000/second,per-source"),
        "{examples:?}"
    );
    // The old shared form still works: every bucket out of room.
    let (code, out, err) = sockc(&[
        "-q",
        "test",
        "rules/diff/limit_old.sk",
        "--eval-only",
        "--packet",
        "tcp 10.0.0.1:1000 -> 10.0.0.2:22 syn over-limit",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("drop"), "{out}");
}

/// A bucket's number (`over-limit:10/second#1`, as the diff's examples name one of two
/// buckets of one rate) is the packet's in a packets file too, where a `#` that starts a
/// word starts a comment. Before, the file cut `#1` off, so every bucket of the rate was
/// out of room: `drop`, where `--packet` gave `allow`.
#[test]
fn a_buckets_number_is_read_alike_from_a_packets_file() {
    let dir = std::env::temp_dir().join(format!("sockc-semdiff-{}-buckets", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("limits.sk");
    std::fs::write(
        &rules,
        "xdp on eth0 {\n    allow tcp limit 10/second\n    allow udp limit 10/second\n    \
         allow arp\n    default drop\n}\n",
    )
    .unwrap();
    let packet = "udp 10.0.0.1:1000 -> 10.0.0.2:53 over-limit:10/second#1";
    let packets = dir.join("packets");
    std::fs::write(
        &packets,
        format!("# the diff's example\n{packet} # bucket 1\n"),
    )
    .unwrap();
    let file = rules.to_str().unwrap();
    let one = sockc(&["-q", "test", file, "--eval-only", "--packet", packet]);
    let path = packets.to_str().unwrap();
    let listed = sockc(&["-q", "test", file, "--eval-only", "--packets", path]);
    assert_eq!(one.0, 0, "{one:?}");
    assert!(one.1.contains("allow"), "{one:?}");
    assert_eq!(one, listed);
    let _ = std::fs::remove_dir_all(&dir);
}
#[test]
fn device_changes_are_regions_whose_examples_name_the_devices() {
    let examples = confirmed("iface", 2);
    assert!(
        examples.iter().any(|e| e.ends_with(":22 in eth")),
        "{examples:?}"
    );
    assert!(
        examples.iter().any(|e| e.ends_with(" in br-lan out eth")),
        "{examples:?}"
    );
    let (_, out, _) = sockc(&[
        "-q",
        "diff",
        "rules/diff/iface_old.sk",
        "rules/diff/iface_new.sk",
    ]);
    assert!(out.contains("out on eth* but not eth0,eth1"), "{out}");
    assert!(out.contains("dport 22 in on eth* but not eth0"), "{out}");
}

#[test]
fn blocks_added_removed_and_moved_are_compared_with_no_block() {
    confirmed("blocks", 4);
    let (_, out, _) = sockc(&[
        "-q",
        "diff",
        "rules/diff/blocks_old.sk",
        "rules/diff/blocks_new.sk",
    ]);
    assert!(
        out.contains("allow (no block)") && out.contains("pass (no block)"),
        "{out}"
    );
    assert!(
        out.contains("sk_lookup: block added (compared with no block)"),
        "{out}"
    );
}

/// A directory of the test's own (`tag`) holding `old.sk`, a block that allows
/// everything, and `new.sk` holding `new`.
fn old_and_new(
    tag: &str,
    new: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sockc-semdiff-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (old_file, new_file) = (dir.join("old.sk"), dir.join("new.sk"));
    std::fs::write(&old_file, "xdp on eth0 {\n    default allow\n}\n").unwrap();
    std::fs::write(&new_file, new).unwrap();
    (dir, old_file, new_file)
}

#[test]
fn a_block_that_lets_everything_through_changes_no_verdict() {
    let (dir, old, new) = old_and_new(
        "cli",
        "xdp on eth0 {\n    default allow\n}\ntc ingress on eth0 {\n    count udp\n    allow tcp\n    default allow\n}\n",
    );
    let (code, out, err) = sockc(&["-q", "diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("no packet changes its verdict\n"), "{out}");
}

/// Issue 47 item 11: NEW's warnings on stderr come after the answer on stdout with a
/// line between them, so that on a terminal the first warning's code does not read as
/// the answer's last line; `-q` drops the warnings and the line.
#[test]
fn the_warnings_after_the_answer_start_on_a_line_of_their_own() {
    let (dir, old, new) = old_and_new(
        "nl",
        "xdp on eth0 {\n    drop tcp to *:22\n    drop tcp to *:22\n    default allow\n}\n",
    );
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    for extra in [&[][..], &["--details"], &["--summary"]] {
        let mut args = vec!["diff", old, new];
        args.extend_from_slice(extra);
        let (code, out, err) = sockc(&args);
        assert_eq!(code, 4, "{out}{err}");
        assert!(out.ends_with('\n'), "{out:?}");
        assert!(err.starts_with("\nsockc::shadowed\n"), "{extra:?}: {err}");
    }
    let (code, _, err) = sockc(&["-q", "diff", old, new]);
    assert_eq!(code, 4);
    assert_eq!(err, "");
    let (_, same, err) = sockc(&["diff", old, old]);
    assert!(same.starts_with("no packet changes"), "{same}");
    assert_eq!(err, "", "no warnings, no line");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 50: a diff without the plan (`--details`, `--summary`, `--json`) reads both
/// files only as far as their rules' meaning: `--timings` names parse, sema and the
/// passes that shape the rules, never `classify`, `lower` or `maps`, which a diff with
/// the plan runs. Its warnings are those the whole compile gives (the same lints on
/// the same rules), and its answer the one `--details` starts with.
#[test]
fn a_plain_diff_never_lowers_and_says_what_a_full_compile_says() {
    for name in ["shadow", "sets", "ct", "blocks"] {
        let old = format!("rules/diff/{name}_old.sk");
        let new = format!("rules/diff/{name}_new.sk");
        let (code, out, err) = sockc(&["diff", "--timings", &old, &new]);
        assert!(code == 0 || code == 4, "{name}: {code}: {err}");
        let timings = err
            .lines()
            .find(|l| l.starts_with("timings (ms): OLD: "))
            .unwrap_or_else(|| panic!("{name}: no timings in {err}"));
        assert!(
            timings.contains("parse") && timings.contains("sema"),
            "{timings}"
        );
        for late in ["classify", "thread", "lower", "maps"] {
            assert!(!timings.contains(late), "{name}: {late} in {timings}");
        }
        let (full_code, full_out, full_err) =
            sockc(&["diff", "--details", "--timings", &old, &new]);
        assert_eq!(full_code, code, "{name}");
        let full_timings = full_err.lines().find(|l| l.starts_with("timings")).unwrap();
        assert!(full_timings.contains("lower"), "{name}: {full_timings}");
        assert!(full_out.starts_with(&out), "{name}: {out}\n---\n{full_out}");
        let warnings = |e: &str| -> String {
            e.lines()
                .filter(|l| !l.starts_with("timings"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(warnings(&err), warnings(&full_err), "{name}");
    }
}

/// Two unrelated ClassBench files (acl1 and fw1, a thousand rules each: nearly no
/// rule in common) are compared within the diff's budget of work: the block says it
/// was not compared to the end and why, in the table and in `--json`, and the diff
/// exits 4 (a change is assumed, never hidden). It took 32 s of a release build before
/// the budget, minutes of a debug one. What it found before it stopped is listed, "at
/// least" that many regions, and each listed example is decided by `sockc test` on
/// both files as its region says.
#[test]
fn unrelated_files_stop_at_the_budget_and_say_so() {
    let dir = std::env::temp_dir().join(format!("sockc-cli-unrelated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sk = |set: &str| {
        let path = dir.join(format!("{set}.sk")).display().to_string();
        let rules = format!("bench/classbench/{set}_1000.rules");
        let (code, _, err) = sockc(&["-q", "classbench", &rules, "-o", &path]);
        assert_eq!(code, 0, "{err}");
        path
    };
    let (old, new) = (sk("acl1"), sk("fw1"));
    let (code, out, err) = sockc(&["-q", "diff", "--timings", &old, &new]);
    assert_eq!(code, 4, "{out}{err}");
    let said = "not compared to the end (more than 50000000 steps of work: 955 rules of OLD \
                and 782 of NEW changed,";
    assert!(out.contains(said), "{out}");
    let first = out.lines().next().unwrap();
    let listed: usize = first
        .strip_prefix("at least ")
        .and_then(|l| l.strip_suffix(" regions change verdict:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(listed >= 20, "{out}");
    let work = err.lines().find(|l| l.contains("semantic diff")).unwrap();
    let spent: u64 = work.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        work.contains("(of 50000000 per block pair, 12500000 more to list")
            && (50_000_000..62_500_000 + 2_500_000).contains(&spent),
        "{work}"
    );
    let (code, out, _) = sockc(&["-q", "diff", "--json", &old, &new]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (code, &v["semantic"]["verdicts_change"]),
        (4, &Value::Bool(true))
    );
    let block = &v["semantic"]["blocks"][0];
    let cut = block["cut_short"].as_str().unwrap();
    assert!(cut.starts_with("more than 50000000 steps of work"), "{cut}");
    assert_eq!(block["stopped"], true);
    common::schema::Schemas::load().validate("diff", &v);
    let regions = block["regions"].as_array().unwrap();
    assert_eq!(
        regions.len() + block["regions_more"].as_u64().unwrap() as usize,
        listed
    );
    let packets = dir.join("examples.txt");
    let text: String = regions
        .iter()
        .map(|r| format!("{}\n", r["example"]["packet"].as_str().unwrap()))
        .collect();
    std::fs::write(&packets, text).unwrap();
    for (file, side) in [(&old, "before"), (&new, "after")] {
        let args = ["-q", "test", file, "--packets", packets.to_str().unwrap()];
        let (code, out, err) = sockc(&[&args[..], &["--json", "--eval-only"]].concat());
        assert_eq!(code, 0, "{file}: {out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), regions.len(), "{file}");
        for (r, t) in regions.iter().zip(results) {
            let e = &t["evaluator"];
            let decided = (e["verdict"].as_str(), e["line"].as_u64());
            let said = (r[side]["outcome"].as_str(), r[side]["line"].as_u64());
            assert_eq!(decided, said, "{file}: {}", t["packet"]);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The diff's budget is `--max-diff-work` (or `SOCKC_MAX_DIFF_WORK`, before or after
/// the command): 120 rules of acl1 against 120 of fw1 are compared to the end by
/// default; half the work that took stops, says "at least", names the flag, and lists
/// no more regions than the whole comparison; the flag wins over the variable.
#[test]
fn the_diff_budget_is_max_diff_work() {
    let dir = std::env::temp_dir().join(format!("sockc-cli-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sk = |set: &str| {
        let text = std::fs::read_to_string(
            common::root().join(format!("bench/classbench/{set}_1000.rules")),
        )
        .unwrap();
        let head: String = text.lines().take(120).map(|l| format!("{l}\n")).collect();
        let rules = dir.join(format!("{set}.rules"));
        std::fs::write(&rules, head).unwrap();
        let path = dir.join(format!("{set}.sk")).display().to_string();
        let (code, _, err) = sockc(&["-q", "classbench", rules.to_str().unwrap(), "-o", &path]);
        assert_eq!(code, 0, "{err}");
        path
    };
    let (old, new) = (sk("acl1"), sk("fw1"));
    // Whether it stopped, the regions listed (by their rules' lines) and how many.
    let regions = |args: &[&str]| {
        let (code, out, err) = sockc(&[&["-q", "diff", "--json"], args, &[&old, &new]].concat());
        assert_eq!(code, 4, "{out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let block = v["semantic"]["blocks"][0].clone();
        let listed: Vec<String> = (block["regions"].as_array().unwrap().iter())
            .map(|r| format!("{} {}", r["before"]["line"], r["after"]["line"]))
            .collect();
        let count = listed.len() + block["regions_more"].as_u64().unwrap() as usize;
        (block["stopped"].as_bool().unwrap(), listed, count)
    };
    let (stopped, whole, all) = regions(&[]);
    assert!(!stopped && all > 50, "{all} {whole:?}");
    let (code, out, err) = sockc(&["-q", "diff", "--timings", &old, &new]);
    assert_eq!(code, 4, "{out}{err}");
    let work = err.lines().find(|l| l.contains("semantic diff")).unwrap();
    let took: u64 = work.rsplit(' ').next().unwrap().parse().unwrap();
    let less = (took / 2).to_string();
    for args in [
        &["diff", "--max-diff-work", &less, &old, &new][..],
        &["--max-diff-work", &less, "diff", &old, &new][..],
    ] {
        let (code, out, err) = sockc(args);
        assert_eq!(code, 4, "{args:?}: {out}{err}");
        assert!(out.starts_with("at least "), "{out}");
        // Its boxes are capped in proportion: fewer than the whole comparison made.
        assert!(
            out.contains("not compared to the end (the region fragments"),
            "{out}"
        );
        assert!(
            out.contains("raise its budget with --max-diff-work N (or SOCKC_MAX_DIFF_WORK=N)"),
            "{out}"
        );
    }
    let from_env = std::process::Command::new(common::bin())
        .args(["-q", "diff", "--timings", &old, &new])
        .env("SOCKC_MAX_DIFF_WORK", &less)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&from_env.stderr);
    assert!(
        err.contains(&format!("(of {less} per block pair,")),
        "{err}"
    );
    let (stopped, cut, some) = regions(&["--max-diff-work", &less]);
    assert!(stopped && some <= all, "{some} {cut:?}");
    // The flag wins over the variable.
    let given = std::process::Command::new(common::bin())
        .args([
            "-q",
            "diff",
            "--json",
            "--max-diff-work",
            "50000000",
            &old,
            &new,
        ])
        .env("SOCKC_MAX_DIFF_WORK", &less)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&given.stdout).unwrap();
    assert_eq!(v["semantic"]["blocks"][0]["stopped"], false);
    std::fs::remove_dir_all(&dir).ok();
}

/// The changes that move thousands of regions at once (`sockc_testkit::mass_change`)
/// at the sizes docs/diff.md measures, in the built binary: a broad `drop` on top of
/// `SOCKC_MASS_BROAD` narrow rules (default 5,000) and `SOCKC_MASS_V6` disjoint IPv6
/// rules (default 20,000) with every `allow` made `drop` are compared to the end,
/// every region listed in `--json`. Ignored (seconds in a debug build, and its point
/// is the time, which it prints): `cargo test --release -p sockc --test cli
/// mass_changes -- --ignored --nocapture`.
#[test]
#[ignore]
fn mass_changes_are_compared_to_the_end_at_full_size() {
    use sockc_testkit::mass_change::{disjoint_v6, narrow_rules};
    let size = |var: &str, default: usize| {
        std::env::var(var).map_or(default, |v| v.parse().expect("a number"))
    };
    let (broad, v6) = (size("SOCKC_MASS_BROAD", 5000), size("SOCKC_MASS_V6", 20000));
    let dir = std::env::temp_dir().join(format!("sockc-cli-mass-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pairs = [
        (
            "broad",
            narrow_rules(broad, false),
            narrow_rules(broad, true),
            broad / 2 + 1,
        ),
        ("v6", disjoint_v6(v6, false), disjoint_v6(v6, true), v6 / 2),
    ];
    for (name, old, new, regions) in pairs {
        let path = |side: &str, text: &str| {
            let p = dir.join(format!("{name}_{side}.sk"));
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        let (old, new) = (path("old", &old), path("new", &new));
        let start = std::time::Instant::now();
        let (code, out, err) = sockc(&["-q", "diff", "--json", &old, &new]);
        let took = start.elapsed();
        assert_eq!(code, 4, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let block = &v["semantic"]["blocks"][0];
        assert_eq!(block["cut_short"], Value::Null, "{name}");
        assert_eq!(v["semantic"]["regions"], regions, "{name}");
        println!("{name}: {regions} regions in {took:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
