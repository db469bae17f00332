//! Kernel integration tests of `sockc apply`, `status`, `stats` and `flush` with real
//! traffic: each test builds two fresh network namespaces joined by a veth pair
//! (`tests/netns`), installs rules on A's end with the CLI (`--netns`), sends UDP
//! datagrams from B to sockets bound in A, and checks that exactly the datagrams the
//! installed rules allow arrive. They check the life of an install (first apply, a
//! re-apply that reloads the program and keeps the counters of unchanged rules, a
//! re-apply that only changes a set and reloads nothing, flush; the alternating
//! re-applies under a probe stream are `reapply_gap`'s), that a failing re-apply (missing interface, syntax error, a
//! hook the kernel refuses after the new programs were loaded) leaves the installed
//! generation working with the same programs and pins, that concurrent applies to one
//! name serialize into one consistent generation, that `--dry-run` reports the
//! changes and changes nothing, and that a hook a re-apply removes, or a flush, comes
//! off at once even while another process holds its link open, and that TC through the
//! clsact qdisc (no TCX) applies, swaps and flushes, and that apply leaves the
//! anomaly lints to `check`. They need root and
//! skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use netns::{sockc, Lab, Run};
use serde_json::Value;

/// Packets counted by the rule whose text is `text` in `stats --json` output.
#[track_caller]
fn rule_packets(stats: &Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hits: Vec<&Value> = rules.iter().filter(|r| r["text"] == text).collect();
    assert_eq!(hits.len(), 1, "one rule `{text}` in {stats:#}");
    hits[0]["packets"].as_u64().expect("packets")
}

fn generation(status: &Value) -> u64 {
    status["generation"].as_u64().expect("generation")
}

/// The program id of the install's only hook.
#[track_caller]
fn only_prog_id(status: &Value) -> u32 {
    let hooks = status["hooks"].as_array().expect("hooks");
    assert_eq!(hooks.len(), 1, "one hook: {status:#}");
    hooks[0]["prog_id"].as_u64().expect("prog_id") as u32
}

/// The `g<N>` object directories among the pins.
fn object_dirs(pins: &[String]) -> Vec<String> {
    pins.iter()
        .filter(|p| p.starts_with('g') && p.ends_with('/') && !p[..p.len() - 1].contains('/'))
        .cloned()
        .collect()
}

#[test]
fn apply_reapply_set_update_and_flush_follow_the_rules() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("life", 1);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let gen1 = lab.rules(
        "gen1.sk",
        &format!(
            "set blocked = {{ 192.0.2.1 }}\n\
             xdp on {a} {{\n  drop from @blocked\n  drop udp to *:9001\n  default allow\n}}\n"
        ),
    );
    // One rule added after the unchanged ones: a reload that keeps their counters.
    let gen2 = lab.rules(
        "gen2.sk",
        &format!(
            "set blocked = {{ 192.0.2.1 }}\n\
             xdp on {a} {{\n  drop from @blocked\n  drop udp to *:9001\n  \
             drop udp to *:9002\n  default allow\n}}\n"
        ),
    );
    // gen2 with B's address in the set: only set contents differ.
    let gen3 = lab.rules(
        "gen3.sk",
        &format!(
            "set blocked = {{ 192.0.2.1, {b} }}\n\
             xdp on {a} {{\n  drop from @blocked\n  drop udp to *:9001\n  \
             drop udp to *:9002\n  default allow\n}}\n"
        ),
    );

    // First apply.
    let out = lab.apply_ok(&gen1);
    assert!(
        out.stdout.contains("generation 1 applied"),
        "apply says which generation it installed:\n{out}"
    );
    lab.expect_verdicts("generation 1", &[(9001, false), (9002, true), (9003, true)]);
    let s1 = lab.status_attached();
    assert_eq!(generation(&s1), 1, "{s1:#}");
    assert_eq!(s1["hooks"][0]["hook"], "xdp");
    assert_eq!(s1["hooks"][0]["attach_to"], a.as_str());
    let symbol = s1["hooks"][0]["symbol"]
        .as_str()
        .expect("symbol")
        .to_string();
    let prog1 = only_prog_id(&s1);
    assert_eq!(
        lab.xdp_prog_id(),
        Some(prog1),
        "the interface runs the program status names:\n{}",
        lab.link_a()
    );
    let pins = lab.pins();
    for want in [
        "manifest".to_string(),
        format!("link_{symbol}"),
        "g1/".to_string(),
        format!("g1/prog_{symbol}"),
        "g1/map_counters".to_string(),
    ] {
        assert!(
            pins.iter()
                .any(|p| p == &want || p.starts_with(&format!("{want} "))),
            "pin {want} missing: {pins:#?}"
        );
    }
    let stats1 = lab.stats();
    assert_eq!(
        rule_packets(&stats1, "drop udp to *:9001"),
        20,
        "{stats1:#}"
    );
    let default1 = rule_packets(&stats1, "default allow");
    assert!(
        default1 >= 40,
        "9002 and 9003 datagrams counted: {stats1:#}"
    );

    // A changed rule: new program, new verdicts, counters of unchanged rules kept.
    let out = lab.apply_ok(&gen2);
    assert!(out.stdout.contains("generation 2 applied"), "{out}");
    lab.expect_verdicts(
        "generation 2 (9002 now dropped)",
        &[(9001, false), (9002, false), (9003, true)],
    );
    let s2 = lab.status_attached();
    assert_eq!(generation(&s2), 2, "{s2:#}");
    let prog2 = only_prog_id(&s2);
    assert_ne!(prog2, prog1, "a changed rule loads a new program");
    assert_eq!(lab.xdp_prog_id(), Some(prog2), "{}", lab.link_a());
    let stats2 = lab.stats();
    assert_eq!(
        rule_packets(&stats2, "drop udp to *:9001"),
        40,
        "the unchanged 9001 rule keeps generation 1's 20 and adds 20: {stats2:#}"
    );
    assert_eq!(
        rule_packets(&stats2, "drop udp to *:9002"),
        20,
        "{stats2:#}"
    );
    assert!(
        rule_packets(&stats2, "default allow") >= default1 + 20,
        "default allow keeps its count ({default1}) and adds 9003's: {stats2:#}"
    );
    let pins2 = lab.pins();
    assert_eq!(
        object_dirs(&pins2),
        ["g2/"],
        "old objects removed: {pins2:#?}"
    );

    // Only the set changes: B blocked, same program, generation bumps.
    let out = lab.apply_ok(&gen3);
    assert!(
        out.stdout.contains("sets updated in place, no reload"),
        "a set-only change reloads nothing:\n{out}"
    );
    lab.expect_verdicts(
        "generation 3 (B's address in @blocked)",
        &[(9001, false), (9002, false), (9003, false)],
    );
    let s3 = lab.status_attached();
    assert_eq!(generation(&s3), 3, "{s3:#}");
    assert_eq!(only_prog_id(&s3), prog2, "a set change keeps the program");
    assert_eq!(lab.xdp_prog_id(), Some(prog2), "{}", lab.link_a());
    let stats3 = lab.stats();
    assert_eq!(
        rule_packets(&stats3, "drop from @blocked"),
        60,
        "the blocked rule decides all 60 datagrams: {stats3:#}"
    );
    assert_eq!(
        rule_packets(&stats3, "drop udp to *:9001"),
        40,
        "{stats3:#}"
    );

    // And back: B's address leaves the set.
    let out = lab.apply_ok(&gen2);
    assert!(
        out.stdout.contains("sets updated in place, no reload"),
        "{out}"
    );
    lab.expect_verdicts(
        "generation 4 (B's address removed again)",
        &[(9001, false), (9002, false), (9003, true)],
    );
    let s4 = lab.status_attached();
    assert_eq!(generation(&s4), 4, "{s4:#}");
    assert_eq!(only_prog_id(&s4), prog2, "a set change keeps the program");

    // Flush: pins gone, no XDP, traffic passes, status knows nothing.
    let out = sockc(&["flush", "--name", &lab.name]).ok();
    assert!(out.stdout.contains("flushed generation 4"), "{out}");
    assert!(
        !lab.pin_dir().exists(),
        "pins left after flush: {:#?}",
        lab.pins()
    );
    let link = lab.link_a();
    assert!(
        !link.contains("xdp"),
        "XDP still on {a} after flush:\n{link}"
    );
    lab.expect_verdicts("after flush", &[(9001, true), (9002, true), (9003, true)]);
    assert_eq!(lab.status(), None, "status after flush");
    // Other installs on a shared host may carry drift (exit 3); this test
    // only asks that the flushed install is no longer listed.
    let all = {
        // Without `--name` it would finish another test's install interrupted on purpose.
        let _every = common::exclusive::nameless_command();
        sockc(&["status", "--json"])
    };
    assert!(matches!(all.code, 0 | 3), "status --json failed:\n{all}");
    let all: Value = serde_json::from_str(&all.stdout).expect("status --json");
    assert!(
        all["installs"]
            .as_array()
            .expect("installs")
            .iter()
            .all(|s| s["name"] != lab.name.as_str()),
        "status lists the flushed install: {all:#}"
    );
}

#[test]
fn failed_reapply_keeps_the_installed_generation_working() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("fail", 3);
    let a = &lab.if_a;
    // A second veth in A whose XDP hook another tool holds, so that attaching to it
    // fails after the new programs were loaded and pinned and a first new hook is on.
    let busy = "zz-fail";
    ip_in(
        &lab,
        &[
            "link", "add", busy, "type", "veth", "peer", "name", "zy-fail",
        ],
    );
    ip_in(&lab, &["link", "set", busy, "up"]);
    ip_in(&lab, &["link", "set", "zy-fail", "up"]);
    netns::foreign_xdp(&lab.ns_a, busy, "fail");

    let good = lab.rules(
        "good.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    lab.apply_ok(&good);
    let want = [(9001, false), (9002, true), (9003, true)];
    lab.expect_verdicts("generation 1", &want);
    let status = lab.status_attached();
    assert_eq!(generation(&status), 1);
    let pins = lab.pins();
    let prog = lab.xdp_prog_id();

    let check_unchanged = |what: &str, run: &Run| {
        assert_eq!(
            lab.status().as_ref(),
            Some(&status),
            "{what}: status changed\n{run}"
        );
        assert_eq!(lab.pins(), pins, "{what}: pins changed\n{run}");
        assert_eq!(
            lab.xdp_prog_id(),
            prog,
            "{what}: XDP program changed\n{run}"
        );
        lab.expect_verdicts(&format!("after {what}"), &want);
    };

    // (i) An interface that does not exist in A: alone, and next to a valid change.
    let missing_only = lab.rules(
        "missing_only.sk",
        "xdp on nosuch-fail { drop udp to *:9002; default allow }\n",
    );
    let missing_too = lab.rules(
        "missing_too.sk",
        &format!(
            "xdp on {a} {{ drop udp to *:9003; default allow }}\n\
             xdp on nosuch-fail {{ drop udp to *:9002; default allow }}\n"
        ),
    );
    for file in [&missing_only, &missing_too] {
        let run = lab.apply(file, &[]).expect_code(3);
        assert!(
            run.stderr.contains("nosuch-fail") && run.stderr.contains("no such interface"),
            "the error names the missing interface:\n{run}"
        );
        check_unchanged("a re-apply naming a missing interface", &run);
    }

    // (ii) A syntax error.
    let broken = lab.rules(
        "broken.sk",
        &format!("xdp on {a} {{\n  drop udp to *:\n  default allow\n}}\n"),
    );
    let run = lab.apply(&broken, &[]).expect_code(1);
    assert!(
        run.stderr.contains("error"),
        "a diagnostic is printed:\n{run}"
    );
    check_unchanged("a re-apply with a syntax error", &run);

    // (iii) The kernel refuses a hook after everything new was loaded, pinned and a
    // first new hook (tc ingress on A's veth, dropping 9002) attached: all undone.
    let refused = lab.rules(
        "refused.sk",
        &format!(
            "xdp on {a} {{ drop udp to *:9003; default allow }}\n\
             tc ingress on {a} {{ drop udp to *:9002; default allow }}\n\
             xdp on {busy} {{ default allow }}\n"
        ),
    );
    let run = lab.apply(&refused, &[]).expect_code(3);
    assert!(
        run.stderr.contains(busy),
        "the error names the refused interface:\n{run}"
    );
    check_unchanged("a re-apply whose attach the kernel refuses", &run);
    // The verifier itself cannot be made to refuse a program from valid rules, so
    // there is no verifier-rejection case here.

    // The install still takes a good re-apply, numbered after the last good one.
    let next = lab.rules(
        "next.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9003\n  default allow\n}}\n"),
    );
    lab.apply_ok(&next);
    lab.expect_verdicts("generation 2", &[(9001, true), (9002, true), (9003, false)]);
    let s2 = lab.status_attached();
    assert_eq!(generation(&s2), 2, "{s2:#}");
    let pins2 = lab.pins();
    assert_eq!(object_dirs(&pins2), ["g2/"], "{pins2:#?}");
}

/// `ip -n A ARGS`.
fn ip_in(lab: &Lab, args: &[&str]) {
    let mut all = vec!["-n", lab.ns_a.as_str()];
    all.extend_from_slice(args);
    netns::ip(&all);
}

#[test]
fn concurrent_applies_serialize_into_one_consistent_generation() {
    if !common::kernel() {
        return;
    }
    const ROUNDS: usize = 5;
    let lab = Lab::new("conc", 4);
    let a = &lab.if_a;
    let ports = [9001u16, 9002, 9003];
    let files: Vec<_> = ports
        .iter()
        .map(|p| {
            lab.rules(
                &format!("drop{p}.sk"),
                &format!("xdp on {a} {{\n  drop udp to *:{p}\n  default allow\n}}\n"),
            )
        })
        .collect();

    // A reader polls status the whole time: whenever there is an install, every hook
    // must be attached to the program its manifest names.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        let name = lab.name.clone();
        std::thread::spawn(move || {
            let mut polls = 0u64;
            let mut bad = Vec::new();
            let mut last_generation = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = sockc(&["status", "--name", &name, "--json"]);
                polls += 1;
                if r.code != 0 {
                    if !r.stderr.contains("nothing is installed") || last_generation > 0 {
                        bad.push(r.to_string());
                    }
                    continue;
                }
                let v: Value = serde_json::from_str(&r.stdout).expect("status json");
                let v = &v["installs"];
                let g = v[0]["generation"].as_u64().unwrap_or(0);
                let attached = v[0]["hooks"]
                    .as_array()
                    .is_some_and(|h| h.iter().all(|h| h["state"] == "attached"));
                if g < last_generation || !attached {
                    bad.push(format!("after generation {last_generation}:\n{r}"));
                }
                last_generation = g;
            }
            (polls, bad)
        })
    };

    let mut installed: Option<usize> = None;
    let mut expected_generation = 0;
    for round in 0..ROUNDS {
        // Two files, both different from the installed one and from each other.
        let pair: Vec<usize> = (0..files.len())
            .filter(|&i| Some(i) != installed)
            .take(2)
            .collect();
        let children: Vec<_> = pair
            .iter()
            .map(|&i| {
                let args = lab.apply_args(&files[i], &lab.name, &[]);
                let child = Command::new(netns::sockc_bin())
                    .args(args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn sockc apply");
                (i, child)
            })
            .collect();
        let outputs: Vec<(usize, Run)> = children
            .into_iter()
            .map(|(i, child)| {
                let out = child.wait_with_output().expect("wait");
                let what = format!("sockc apply {}", files[i].display());
                let run = Run {
                    what,
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    took: Duration::ZERO,
                };
                (i, run.ok())
            })
            .collect();
        expected_generation += 2;
        // The apply that ran second says so; its file is the installed one.
        let second: Vec<usize> = outputs
            .iter()
            .filter(|(_, r)| {
                r.stdout
                    .contains(&format!("generation {expected_generation} applied"))
            })
            .map(|(i, _)| *i)
            .collect();
        let all_out: String = outputs.iter().map(|(_, r)| r.to_string()).collect();
        assert_eq!(
            second.len(),
            1,
            "round {round}: exactly one apply installs generation {expected_generation}:\n{all_out}"
        );
        let winner = second[0];
        installed = Some(winner);

        let s = lab.status_attached();
        assert_eq!(
            generation(&s),
            expected_generation,
            "round {round}: {s:#}\n{all_out}"
        );
        assert_eq!(
            s["source_file"],
            files[winner].to_str().expect("path"),
            "round {round}: the manifest names the file applied last\n{all_out}"
        );
        assert_eq!(
            lab.xdp_prog_id(),
            Some(only_prog_id(&s)),
            "round {round}: the interface runs the manifest's program\n{}",
            lab.link_a()
        );
        let pins = lab.pins();
        assert_eq!(
            object_dirs(&pins),
            [format!("g{expected_generation}/")],
            "round {round}: one object directory, the live one: {pins:#?}"
        );
        assert!(
            !pins.iter().any(|p| p.starts_with("manifest_new")),
            "round {round}: a prepared manifest was left: {pins:#?}"
        );
        let verdicts: Vec<(u16, bool)> = ports
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, i != winner))
            .collect();
        lab.expect_verdicts(&format!("round {round}"), &verdicts);
    }
    stop.store(true, Ordering::Relaxed);
    let (polls, bad) = poller.join().expect("poller");
    assert!(
        bad.is_empty(),
        "{} of {polls} status polls saw an inconsistent install; the first:\n{}",
        bad.len(),
        bad[0]
    );
    println!("{ROUNDS} rounds of two concurrent applies; {polls} status polls all consistent");
}

#[test]
fn dry_run_reports_changes_and_changes_nothing() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("dry", 5);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let rules = |blocked: &str, port: u16| {
        format!(
            "set blocked = {{ {blocked} }}\n\
             xdp on {a} {{\n  drop from @blocked\n  drop udp to *:{port}\n  default allow\n}}\n"
        )
    };
    let d1 = lab.rules("d1.sk", &rules("192.0.2.1", 9001));
    let d2 = lab.rules("d2.sk", &rules("192.0.2.1", 9003));
    let d3 = lab.rules("d3.sk", &rules(&format!("192.0.2.1, {b}"), 9001));

    // Nothing installed: a dry run says which packets the new block drops, compared
    // with no block (exit 0 without --exit-code), shows the whole file with --details
    // and installs nothing.
    let run = lab.apply(&d1, &["--dry-run"]).expect_code(0);
    assert!(
        run.stdout.starts_with("2 regions change verdict:\n"),
        "{run}"
    );
    assert!(run.stdout.contains("allow (no block)"), "{run}");
    assert!(!run.stdout.contains("\nplan:"), "{run}");
    let run = lab
        .apply(&d1, &["--dry-run", "--details", "--exit-code"])
        .expect_code(4);
    for want in [
        format!("+xdp on {a}: drop udp to *:9001"),
        "verifier: ".to_string(),
        "dry run: nothing was changed".to_string(),
    ] {
        assert!(run.stdout.contains(&want), "missing `{want}`:\n{run}");
    }
    assert_eq!(lab.status(), None, "a dry run installed something");
    assert!(
        !lab.pin_dir().exists(),
        "a dry run left pins: {:#?}",
        lab.pins()
    );
    assert!(!lab.link_a().contains("xdp"), "a dry run attached XDP");
    lab.expect_verdicts("after a first dry run", &[(9001, true), (9003, true)]);

    lab.apply_ok(&d1);
    let want = [(9001, false), (9003, true)];
    let status = lab.status_attached();
    let pins = lab.pins();
    let prog = lab.xdp_prog_id();
    assert_eq!(prog, Some(only_prog_id(&status)));
    let check_unchanged = |what: &str, run: &Run| {
        assert_eq!(
            lab.status().as_ref(),
            Some(&status),
            "{what}: status changed\n{run}"
        );
        assert_eq!(lab.pins(), pins, "{what}: pins changed\n{run}");
        assert_eq!(
            lab.xdp_prog_id(),
            prog,
            "{what}: XDP program changed\n{run}"
        );
        lab.expect_verdicts(&format!("after {what}"), &want);
    };

    // The installed file itself: no changes, exit 0.
    let run = lab
        .apply(&d1, &["--dry-run", "--details", "--exit-code"])
        .expect_code(0);
    assert!(
        run.stdout.starts_with("no packet changes its verdict\n"),
        "{run}"
    );
    assert!(run.stdout.contains("no changes"), "{run}");
    check_unchanged("a dry run of the installed file", &run);

    // A changed rule: the packets it changes, exit 0 (4 with --exit-code), the rule
    // diff with --details and the verifier's word, nothing changed.
    let run = lab.apply(&d2, &["--dry-run"]).expect_code(0);
    assert!(
        run.stdout.starts_with("2 regions change verdict:\n"),
        "{run}"
    );
    assert!(
        run.stdout.contains("udp 0.0.0.0:0 -> 0.0.0.0:9001"),
        "{run}"
    );
    check_unchanged("a dry run of a changed rule", &run);
    let run = lab
        .apply(&d2, &["--dry-run", "--bytecode", "--exit-code"])
        .expect_code(4);
    println!("dry run of a one-rule change:\n{}", run.stdout);
    for want in [
        format!("-xdp on {a}: drop udp to *:9001"),
        format!("+xdp on {a}: drop udp to *:9003"),
        "verifier: ".to_string(),
        "not attached".to_string(),
        "dry run: nothing was changed".to_string(),
    ] {
        assert!(run.stdout.contains(&want), "missing `{want}`:\n{run}");
    }
    check_unchanged("a dry run of a changed rule", &run);

    // The same as JSON.
    let run = lab
        .apply(&d2, &["--dry-run", "--json", "--exit-code"])
        .expect_code(4);
    let v: Value = serde_json::from_str(&run.stdout).expect("apply --json");
    assert_eq!(v["dry_run"], true, "{v:#}");
    assert_eq!(v["semantic"]["regions"], 2, "{v:#}");
    assert_eq!(v["changed"], false, "{v:#}");
    assert_eq!(v["generation"], 1, "{v:#}");
    assert!(
        v["verified"].as_array().is_some_and(|p| !p.is_empty()),
        "the new program went through the verifier: {v:#}"
    );
    check_unchanged("a JSON dry run of a changed rule", &run);

    // Only the set changes: exit 4, the set diff, nothing changed (B still passes).
    let run = lab
        .apply(&d3, &["--dry-run", "--details", "--exit-code"])
        .expect_code(4);
    assert!(
        run.stdout.starts_with("1 region changes verdict:\n"),
        "{run}"
    );
    for want in [format!("+ {b}"), "dry run: nothing was changed".to_string()] {
        assert!(run.stdout.contains(&want), "missing `{want}`:\n{run}");
    }
    check_unchanged("a dry run of a set change", &run);

    // None of the dry runs counted as a generation.
    let out = lab.apply_ok(&d2);
    assert!(out.stdout.contains("generation 2 applied"), "{out}");
    lab.expect_verdicts("generation 2", &[(9001, true), (9003, false)]);
}

#[test]
fn removed_hooks_and_flush_detach_even_while_another_process_holds_the_link() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("hold", 6);
    let a = &lab.if_a;
    let both = lab.rules(
        "both.sk",
        &format!(
            "xdp on {a} {{ drop udp to *:9001; default allow }}\n\
             tc ingress on {a} {{ drop udp to *:9002; default allow }}\n"
        ),
    );
    let xdp_only = lab.rules(
        "xdp_only.sk",
        &format!("xdp on {a} {{ drop udp to *:9001; default allow }}\n"),
    );
    lab.apply_ok(&both);
    lab.expect_verdicts(
        "generation 1 (xdp drops 9001, tc ingress drops 9002)",
        &[(9001, false), (9002, false), (9003, true)],
    );
    // Someone looks at the links and keeps them open (declared after `lab`, so they
    // are closed before it cleans up).
    let status = lab.status_attached();
    let _holders: Vec<_> = status["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .map(|h| netns::hold_pin(h["link"].as_str().expect("link path")))
        .collect();

    // The tc ingress block is gone from the file: its hook must come off.
    let run = lab.apply_ok(&xdp_only);
    assert!(run.stdout.contains("1 detached"), "{run}");
    let s2 = lab.status_attached();
    assert_eq!(s2["hooks"].as_array().map(Vec::len), Some(1), "{s2:#}");
    lab.expect_verdicts(
        "generation 2, tc ingress block removed while its link is held open",
        &[(9001, false), (9002, true), (9003, true)],
    );

    // Flush: nothing may stay attached. With -q, nothing is printed on success.
    let out = sockc(&["flush", "-q", "--name", &lab.name]).ok();
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out}");
    let link = lab.link_a();
    assert!(
        !link.contains("xdp"),
        "XDP still on {a} after flush while its link is held open:\n{link}"
    );
    lab.expect_verdicts(
        "after flush while the link is held open",
        &[(9001, true), (9002, true), (9003, true)],
    );
}

/// TC through the clsact qdisc (the path for kernels without TCX, forced here with
/// `--tc-attach clsact`): the filter holds the program after the CLI exits, a
/// re-apply replaces the program behind the same priority and handle, and flush
/// deletes the filter (entering the namespace recorded in the manifest).
#[test]
fn tc_through_clsact_applies_replaces_and_flushes() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("clsact", 7);
    let a = &lab.if_a;
    let r1 = lab.rules(
        "c1.sk",
        &format!("tc ingress on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    let r2 = lab.rules(
        "c2.sk",
        &format!("tc ingress on {a} {{\n  drop udp to *:9003\n  default allow\n}}\n"),
    );
    let filters = || {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &lab.ns_a, "tc", "filter", "show", "dev", a, "ingress",
            ])
            .output()
            .expect("tc runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let hook = |status: &Value| status["hooks"][0].clone();

    lab.apply(&r1, &["--tc-attach", "clsact"]).ok();
    let first = hook(&lab.status().expect("installed"));
    assert_eq!(first["attach_mode"], "clsact", "{first:#}");
    // Read back from the kernel: the filter is there and runs the manifest's program.
    assert_eq!(first["state"], "attached", "{first:#}");
    assert_eq!(
        first["link"],
        Value::Null,
        "a clsact filter has no link: {first:#}"
    );
    let shown = filters();
    assert!(
        shown.contains(&format!("id {} ", first["prog_id"])),
        "the filter runs the manifest's program:\n{shown}"
    );
    lab.expect_verdicts("after the clsact apply", &[(9001, false), (9003, true)]);

    lab.apply(&r2, &["--tc-attach", "clsact"]).ok();
    let second = hook(&lab.status().expect("installed"));
    assert_ne!(
        second["prog_id"], first["prog_id"],
        "the program was replaced"
    );
    assert_eq!(second["state"], "attached", "{second:#}");
    assert_eq!(
        lab.status().expect("installed")["drift"],
        Value::Array(Vec::new()),
        "the same filter priority and handle, read back"
    );
    let shown = filters();
    assert!(
        shown.contains(&format!("id {} ", second["prog_id"]))
            && !shown.contains(&format!("id {} ", first["prog_id"])),
        "the one filter now runs the new program:\n{shown}"
    );
    lab.expect_verdicts("after the clsact re-apply", &[(9001, true), (9003, false)]);

    sockc(&["flush", "--name", &lab.name]).ok();
    assert!(
        !filters().contains("bpf"),
        "flush left the filter:\n{}",
        filters()
    );
    lab.expect_verdicts("after flush", &[(9001, true), (9003, true)]);
}

/// `apply` leaves the optimizer's lints to `check`: a rule written twice is reported
/// by `check` and not by `apply`, which still shows the file's other warnings.
#[test]
fn apply_leaves_the_anomaly_lints_to_check() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("lints", 1);
    let a = &lab.if_a;
    let file = lab.rules(
        "twice.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  drop udp to *:9001\n  \
             allow udp to 2001:db8::1:53\n  default allow\n}}\n"
        ),
    );
    let check = sockc(&["check", file.to_str().unwrap()]);
    assert!(check.stderr.contains("sockc::shadowed"), "{check}");
    assert!(check.stderr.contains("sockc::ipv6-port"), "{check}");
    let out = lab.apply_ok(&file);
    assert!(!out.stderr.contains("sockc::shadowed"), "{out}");
    assert!(!out.stderr.contains("sockc::redundant"), "{out}");
    assert!(out.stderr.contains("sockc::ipv6-port"), "{out}");
    lab.expect_verdicts("applied", &[(9001, false), (9002, true)]);
}
