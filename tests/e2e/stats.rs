//! `sockc stats` against a real install in namespaces the test creates: stable rule ids
//! that survive a re-apply that inserts a rule, every install listed without `--name`,
//! `--watch` with per-rule rates, `--reset` that zeroes the counters while the rules
//! keep running (same program, same verdicts), the Prometheus text export (stdout and
//! `-o FILE`), and `status` dates (local in text, RFC 3339 in JSON). Needs root; skips
//! otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::process::{Command, Stdio};

use netns::{sockc, sockc_bin, Lab};
use serde_json::Value;

#[track_caller]
fn rule<'a>(stats: &'a Value, text: &str) -> &'a Value {
    let hits: Vec<&Value> = stats["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["text"] == text)
        .collect();
    assert_eq!(hits.len(), 1, "one rule `{text}` in {stats:#}");
    hits[0]
}

fn is_rule_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 13 && s.starts_with('r') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
}

/// Checks every rule table in `text` (its header starts with `columns[0]`) with
/// `common::table::assert_lines_up`; returns how many rows each has.
fn tables(text: &str, columns: &[&str], right: &[usize]) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rows = Vec::new();
    for h in (0..lines.len()).filter(|&i| lines[i].trim_start().starts_with(columns[0])) {
        let end = (h + 1..lines.len())
            .find(|&i| !lines[i].starts_with("  "))
            .unwrap_or(lines.len());
        common::table::assert_lines_up(&lines[h..end], columns, right);
        rows.push(end - h - 1);
    }
    rows
}

#[test]
fn counters_ids_watch_reset_and_prometheus() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("stats", 41);
    let a = &lab.if_a;
    let gen1 = lab.rules(
        "gen1.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  count udp to *:9002\n  default allow\n}}\n"
        ),
    );
    let gen2 = lab.rules(
        "gen2.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9005\n  drop udp to *:9001\n  count udp to *:9002\n  default allow\n}}\n"
        ),
    );
    lab.apply_ok(&gen1);
    lab.expect_verdicts("gen1", &[(9001, false), (9002, true)]);

    // Ids in every rule, packets counted.
    let s1 = lab.stats();
    let drop1 = rule(&s1, "drop udp to *:9001").clone();
    let count1 = rule(&s1, "count udp to *:9002").clone();
    assert!(is_rule_id(&drop1["id"]), "{drop1}");
    assert_eq!(drop1["packets"], 20, "{s1:#}");
    assert_eq!(count1["packets"], 20, "{s1:#}");
    assert!(is_rfc3339_utc(s1["applied_at"].as_str().unwrap()), "{s1:#}");

    // A rule inserted before them: same ids, counters carried.
    lab.apply_ok(&gen2);
    let s2 = lab.stats();
    assert_eq!(rule(&s2, "drop udp to *:9001")["id"], drop1["id"], "{s2:#}");
    assert_eq!(rule(&s2, "count udp to *:9002")["id"], count1["id"]);
    assert_eq!(rule(&s2, "drop udp to *:9001")["line"], 3);
    assert_eq!(rule(&s2, "drop udp to *:9001")["packets"], 20);
    let new_id = &rule(&s2, "drop udp to *:9005")["id"];
    assert!(is_rule_id(new_id) && *new_id != drop1["id"]);

    // Text: the id beside the rule; without --name every install is listed.
    let text = every_install(&["stats"]);
    let line = text
        .lines()
        .find(|l| l.contains("drop udp to *:9001") && l.contains(drop1["id"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("our rule with its id in:\n{text}"));
    assert!(line.trim_start().starts_with("20 "), "{line}");
    assert!(
        text.contains(&format!("{}: generation 2", lab.name)),
        "{text}"
    );
    // The rules under their hook as a table: counters right-aligned, no trailing
    // blanks; under --watch with the rates ("-" until the second sample).
    let ours = sockc(&["stats", "--name", &lab.name]).ok().stdout;
    let columns = ["packets", "bytes", "line", "id", "rule"];
    assert_eq!(tables(&ours, &columns, &[0, 1, 2]), [4], "{ours}");
    let watched = sockc(&[
        "stats",
        "--name",
        &lab.name,
        "--watch",
        "--interval",
        "0.2",
        "--count",
        "2",
    ])
    .ok()
    .stdout;
    let columns = ["packets", "bytes", "pkt/s", "bytes/s", "line", "id", "rule"];
    assert_eq!(
        tables(&watched, &columns, &[0, 1, 2, 3, 4]),
        [4, 4],
        "{watched}"
    );
    let all: Value = serde_json::from_str(&every_install(&["stats", "--json"])).unwrap();
    assert_eq!(all["schema"], "sockc.stats/1");
    assert!(
        all["installs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == lab.name.as_str()),
        "{all:#}"
    );

    // Prometheus, on stdout and into a file.
    let prom = sockc(&["stats", "--name", &lab.name, "--prometheus"])
        .ok()
        .stdout;
    assert!(
        prom.contains("# TYPE sockc_rule_packets_total counter"),
        "{prom}"
    );
    let want = format!(
        "sockc_rule_packets_total{{install=\"{}\",hook=\"xdp\",attach_to=\"{a}\",rule_id=\"{}\",rule=\"drop udp to *:9001\"}} 20",
        lab.name,
        drop1["id"].as_str().unwrap()
    );
    assert!(prom.lines().any(|l| l == want), "{want}\nin\n{prom}");
    assert!(prom.contains(&format!(
        "sockc_install_generation{{install=\"{}\"}} 2",
        lab.name
    )));
    for l in prom.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = l.rsplit_once(' ').expect("name value");
        assert!(value.parse::<f64>().is_ok(), "{l}");
    }
    let file = lab.dir.join("sockc.prom");
    sockc(&[
        "stats",
        "--name",
        &lab.name,
        "--prometheus",
        "-o",
        file.to_str().unwrap(),
    ])
    .ok();
    // The default rule's counters may move between the two reads (the namespace's
    // own IPv6 neighbour and router traffic meets it); every other line must match.
    let steady = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| match l.contains("rule=\"default allow\"") {
                true => l.rsplit_once(' ').map_or(l, |(k, _)| k).to_owned(),
                false => l.to_owned(),
            })
            .collect()
    };
    assert_eq!(
        steady(&std::fs::read_to_string(&file).unwrap()),
        steady(&prom)
    );

    // Watch: JSON lines with rates while datagrams flow.
    let prog = lab.status_attached()["hooks"][0]["prog_id"].clone();
    let child = Command::new(sockc_bin())
        .args([
            "stats",
            "--name",
            &lab.name,
            "--watch",
            "--interval",
            "0.4",
            "--count",
            "4",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockc stats --watch");
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(1400) {
        lab.probe(&[9002], 20);
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(samples.len(), 4, "{stdout}");
    let ours = |s: &Value| {
        s["installs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == lab.name.as_str())
            .cloned()
            .unwrap()
    };
    assert!(rule(&ours(&samples[0]), "count udp to *:9002")["packets_per_sec"].is_null());
    let max_rate = samples[1..]
        .iter()
        .map(|s| {
            rule(&ours(s), "count udp to *:9002")["packets_per_sec"]
                .as_f64()
                .unwrap()
        })
        .fold(0.0, f64::max);
    assert!(max_rate > 0.0, "{stdout}");
    assert_eq!(
        rule(&ours(&samples[1]), "drop udp to *:9001")["packets_per_sec"],
        0.0
    );
    // Text watch (not a terminal: samples one after the other).
    let text = sockc(&[
        "stats",
        "--name",
        &lab.name,
        "--watch",
        "--interval",
        "0.1",
        "--count",
        "2",
    ])
    .ok()
    .stdout;
    assert_eq!(text.matches("pkt/s").count(), 2, "{text}");

    // Reset: counters to zero, same program, rules still enforced.
    let r = sockc(&["stats", "--name", &lab.name, "--reset"]).ok();
    assert!(r.stderr.contains("reset to 0"), "{r}");
    let s3 = lab.stats();
    // (The default may count the veth's own IPv6 neighbour discovery meanwhile.)
    for text in [
        "drop udp to *:9005",
        "drop udp to *:9001",
        "count udp to *:9002",
    ] {
        assert_eq!(rule(&s3, text)["packets"], 0, "{s3:#}");
        assert_eq!(rule(&s3, text)["bytes"], 0, "{s3:#}");
    }
    let st = lab.status_attached();
    assert_eq!(st["hooks"][0]["prog_id"], prog, "reset reloads nothing");
    assert_eq!(st["generation"], 2);
    lab.expect_verdicts("after reset", &[(9001, false), (9002, true)]);
    let s4 = lab.stats();
    assert_eq!(rule(&s4, "drop udp to *:9001")["packets"], 20, "{s4:#}");
    assert_eq!(rule(&s4, "drop udp to *:9001")["id"], drop1["id"]);

    // Dates: local time in text, RFC 3339 in JSON.
    let text = sockc(&["status", "--name", &lab.name]).ok().stdout;
    assert!(!text.contains("unix time"), "{text}");
    assert!(text.contains(", applied 20"), "{text}");
    assert!(is_rfc3339_utc(st["applied_at"].as_str().unwrap()), "{st:#}");

    // A named install that does not exist: an error, as JSON under --json.
    let r = sockc(&["stats", "--name", "sockc-no-such-install", "--json"]);
    assert_eq!(r.code, 1, "{r}");
    let v: Value = serde_json::from_str(&r.stdout).expect("failure as JSON");
    assert_eq!(v["schema"], "sockc.stats/1");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sockc-no-such-install"));
}

/// The stdout of a command over every install on the host. Other installs on a
/// shared host (another checkout's tests, an older sockc's records) may be
/// unreadable to this binary, which is exit 3; the caller checks its own install.
fn every_install(args: &[&str]) -> String {
    // Every install is read: none may be left interrupted on purpose meanwhile.
    let _every = common::exclusive::nameless_command();
    let r = sockc(args);
    assert!(matches!(r.code, 0 | 3), "{r}");
    r.stdout
}
