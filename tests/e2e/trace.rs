//! `log` and `sockc trace`: rules with `log` send the packets they decide to a ring
//! buffer, rate-limited per rule; `sockc trace` names each with its rule (line, the
//! same stable id `stats` shows, text), hook and verdict, in text and JSON lines
//! (checked against docs/schemas/sockc.trace.1.json); a file without `log` has no ring
//! buffer and no extra instruction. End to end in namespaces the test creates (root);
//! the compile-time checks run everywhere.

use crate::common;
use crate::netns;

use common::schema::Schemas;
use netns::{ip, sockc, trace_during, Lab};
use serde_json::Value;

fn compile_json(src: &str) -> Value {
    let dir = std::env::temp_dir().join(format!("sockc-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!(
        "{:x}.sk",
        src.len() * 7919 + src.bytes().map(usize::from).sum::<usize>()
    ));
    std::fs::write(&file, src).unwrap();
    let (code, out, err) = common::sockc(&[
        "compile",
        "--json",
        "--emit",
        "json",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(code, 0, "{err}{out}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn no_log_no_cost() {
    let plain = "xdp on eth0 {\n  drop udp to *:9001\n  default allow\n}\n";
    let logged = "xdp on eth0 {\n  drop udp to *:9001 log\n  default allow\n}\n";
    let (p, l) = (compile_json(plain), compile_json(logged));
    let maps = |v: &Value| -> Vec<String> {
        v["emitted"]["maps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(maps(&p), ["counters"], "no ring buffer without log");
    assert!(
        ["counters", "log_limits", "log_state", "events"]
            .iter()
            .all(|m| maps(&l).iter().any(|x| x == m)),
        "{:?}",
        maps(&l)
    );
    let insns = |v: &Value| v["programs"][0]["insns"].as_u64().unwrap();
    assert!(insns(&l) > insns(&p));
    // The id does not change when `log` is added.
    assert_eq!(
        p["programs"][0]["rules"][0]["id"],
        l["programs"][0]["rules"][0]["id"]
    );
    // A program without a logging rule in a file that has one: no log code either.
    let mixed = "xdp on eth0 {\n  drop udp to *:9001 log\n  default allow\n}\n\
                 tc ingress on eth0 {\n  drop udp to *:9001\n  default allow\n}\n";
    let (code, asm, err) = {
        let dir = std::env::temp_dir().join(format!("sockc-logm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.sk");
        std::fs::write(&f, mixed).unwrap();
        let r = common::sockc(&["compile", f.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        r
    };
    assert_eq!(code, 0, "{err}");
    let tc = &asm[asm.find("tci_eth0").expect("tc program")..];
    assert!(!tc.contains("ringbuf"), "{tc}");
    assert!(asm.contains("bpf_ringbuf_reserve"), "{asm}");
}

#[test]
fn log_is_checked() {
    for (src, code) in [
        (
            "xdp on eth0 {\n  count udp log\n  default allow\n}\n",
            "sockc::log-needs-verdict",
        ),
        (
            "xdp on eth0 {\n  drop udp log 0/s\n  default allow\n}\n",
            "sockc::log-rate",
        ),
        (
            "sockmap cgroup \"/sys/fs/cgroup\" {\n  drop to 192.0.2.0/24 log\n  default allow\n}\n",
            "sockc::log-unsupported",
        ),
        (
            "sockmap cgroup \"/sys/fs/cgroup\" {\n  default allow log\n}\n",
            "sockc::log-unsupported",
        ),
        (
            "xdp on eth0 {\n  default drop log 0/s\n}\n",
            "sockc::log-rate",
        ),
    ] {
        let dir = std::env::temp_dir().join(format!("sockc-logc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.sk");
        std::fs::write(&f, src).unwrap();
        let (c, _, err) = common::sockc(&["check", f.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(c, 1, "{src}: {err}");
        assert!(err.contains(code), "{src}: {err}");
    }
}

#[test]
fn trace_names_the_rule_that_dropped_each_packet() {
    if !common::kernel() {
        return;
    }
    let schemas = Schemas::load();
    let lab = Lab::new("trace", 44);
    let (a, addr_a, addr_b) = (&lab.if_a, lab.addr_a, lab.addr_b);
    let file = lab.rules(
        "t.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001 log\n  drop udp to *:9002 log 3/s\n  \
             drop udp to *:9004\n  default allow log 1000/s\n}}\n"
        ),
    );
    lab.apply_ok(&file);
    // No datagram yet: a trace that times out shows none and succeeds (the logging
    // default may show the interface's own IPv6 neighbour discovery).
    let r = sockc(&["trace", "--name", &lab.name, "--json", "--timeout", "0.3"]).ok();
    assert!(!r.stdout.contains("\"proto\":17"), "{r}");

    // What a running trace shows of the datagrams sent while it runs.
    let r = trace_during(&["--name", &lab.name, "--json", "--timeout", "3"], || {
        lab.expect_verdicts(
            "logging rules drop as before",
            &[(9001, false), (9002, false), (9003, true), (9004, false)],
        )
    })
    .ok();
    let events: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for e in &events {
        schemas.validate("trace", e);
    }
    let stats = lab.stats();
    let id_of = |text: &str| {
        stats["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["text"] == text)
            .unwrap()["id"]
            .clone()
    };
    let to = |port: u64| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["packet"]["dport"] == port)
            .collect()
    };
    // Every datagram to 9001: 20 (expect_verdicts sends 20 a port), each named.
    assert_eq!(to(9001).len(), 20, "{}", r.stdout);
    for e in to(9001) {
        assert_eq!(e["verdict"], "drop");
        assert_eq!(e["hook"], "xdp");
        assert_eq!(e["attach_to"], a.as_str());
        assert_eq!(e["install"], lab.name.as_str());
        assert_eq!(e["rule"]["line"], 2);
        assert_eq!(e["rule"]["text"], "drop udp to *:9001 log");
        assert_eq!(e["rule"]["id"], id_of("drop udp to *:9001 log"));
        assert_eq!(e["packet"]["src"], addr_b.to_string());
        assert_eq!(e["packet"]["dst"], addr_a.to_string());
        assert_eq!(e["packet"]["proto"], 17);
        assert!(e["packet"]["len"].as_u64().unwrap() >= 42);
    }
    // 3/s per CPU: some, not all 20.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as usize;
    let n = to(9002).len();
    assert!(
        n >= 1 && n <= 3 * cpus,
        "{n} logged of 20 at 3/s:\n{}",
        r.stdout
    );
    assert!(to(9004).is_empty(), "a rule without log: {}", r.stdout);
    // The default logs too (`default allow log 1000/s`), by its own line and id.
    assert_eq!(to(9003).len(), 20, "{}", r.stdout);
    for e in to(9003) {
        assert_eq!(e["verdict"], "allow");
        assert_eq!(e["rule"]["text"], "default allow");
        assert_eq!(e["rule"]["line"], 5);
        assert_eq!(e["rule"]["id"], id_of("default allow"));
    }

    // What the ring buffer kept from before a trace started is not shown.
    lab.probe(&[9001], 3);
    let r = sockc(&["trace", "--name", &lab.name, "--json", "--timeout", "0.5"]).ok();
    assert!(!r.stdout.contains("\"dport\":9001"), "{r}");

    // Text: one line per packet naming the rule, in a second trace.
    let r = trace_during(&["--name", &lab.name, "--timeout", "2"], || {
        lab.probe(&[9001], 1);
    })
    .ok();
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(&format!("-> {addr_a}:9001")))
        .unwrap_or_else(|| panic!("{r}"));
    assert!(
        line.contains(&format!(
            "{} xdp on {a}: drop by line 2 [{}] drop udp to *:9001 log  <-  udp {addr_b}:",
            lab.name,
            id_of("drop udp to *:9001 log").as_str().unwrap()
        )) && line.contains(&format!("-> {addr_a}:9001")),
        "{line}"
    );
    // --count stops after N packets, also while more are waiting.
    let r = trace_during(
        &[
            "--name",
            &lab.name,
            "--json",
            "--count",
            "2",
            "--timeout",
            "5",
        ],
        || {
            lab.probe(&[9001], 5);
        },
    )
    .ok();
    assert_eq!(r.stdout.lines().count(), 2, "{r}");

    // An install without logging rules says so, as JSON too.
    let plain = lab.other_install("plain");
    let f2 = lab.rules(
        "p.sk",
        &format!("tc egress on {a} {{\n  drop udp to *:9999\n  default allow\n}}\n"),
    );
    sockc(&lab.apply_args(&f2, &plain, &[])).ok();
    let r = sockc(&["trace", "--name", &plain, "--json", "--timeout", "0.2"]);
    assert_eq!(r.code, 1, "{r}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    schemas.validate("trace", &v);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("no rule"),
        "{v}"
    );
}

/// A frame that is not IP is traced with its EtherType: the ARP request B sends for
/// A's address (its neighbour entry flushed first), in text and JSON.
#[test]
fn trace_names_the_ether_type_of_a_frame_that_is_not_ip() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("tracearp", 45);
    let file = lab.rules(
        "arp.sk",
        &format!(
            "xdp on {} {{\n  allow arp log\n  default allow\n}}\n",
            lab.if_a
        ),
    );
    lab.apply_ok(&file);
    let resolve = || {
        ip(&["-n", &lab.ns_b, "neigh", "flush", "dev", &lab.if_b]);
        lab.probe(&[9001], 1);
    };
    let r = trace_during(&["--name", &lab.name, "--timeout", "2"], resolve).ok();
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("allow arp log  <-  not IP, ether type 0x0806")),
        "{r}"
    );
    let r = trace_during(&["--name", &lab.name, "--json", "--timeout", "2"], resolve).ok();
    let arp: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|e| e["rule"]["text"] == "allow arp log")
        .collect();
    assert!(!arp.is_empty(), "{r}");
    for e in &arp {
        Schemas::load().validate("trace", e);
        assert_eq!(e["packet"]["family"], 0, "{e}");
        assert_eq!(e["packet"]["ether_type"], 0x0806, "{e}");
    }
}
