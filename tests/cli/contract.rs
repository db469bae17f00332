//! The `sockc` command line contract: outputs and exit codes (0 ok, 1 rule errors,
//! 2 usage), as a non-root user would run it. Hostile input is tests/reliability/hostile.rs.

use crate::common;

use common::{sockc, sockc_unprivileged};

#[test]
fn compile_prints_readable_bytecode_with_source_lines() {
    let (code, out, _) = sockc(&["compile", "rules/examples/edge.sk", "--emit", "asm"]);
    assert_eq!(code, 0);
    assert!(out.contains("xdp_eth0: xdp eth0 section xdp"), "{out}");
    assert!(out.contains("; line 7: drop from @blocked"), "{out}");
    assert!(out.contains("call bpf_map_lookup_elem#1"), "{out}");
    assert!(out.contains("r1 = map[set_blocked_v4]"), "{out}");
}

#[test]
fn compile_writes_an_object_aya_can_parse() {
    let dir = std::env::temp_dir().join(format!("sockc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("edge.o");
    let (code, out, err) = sockc(&[
        "compile",
        "rules/examples/edge.sk",
        "-o",
        obj.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "-o alone prints nothing on stdout");
    let bytes = std::fs::read(&obj).unwrap();
    let parsed = aya_obj::Object::parse(&bytes).expect("aya-obj parses the object");
    assert!(parsed.programs.contains_key("xdp_eth0"));
    assert!(parsed.programs.contains_key("tce_eth0"));
    assert!(parsed.maps.contains_key("counters"));
    assert!(parsed.maps.contains_key("set_resolvers_v6"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn emit_ir_and_json() {
    let (code, out, _) = sockc(&["compile", "rules/match/ports.sk", "--emit", "ir"]);
    assert_eq!(code, 0);
    assert!(out.contains("dport=80,443,8000-8080"), "{out}");
    let (code, out, _) = sockc(&["compile", "rules/match/ports.sk", "--emit", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["programs"][0]["symbol"], "tci_eth0");
    assert!(v["programs"][0]["insns"].as_u64().unwrap() > 50);
}

#[test]
fn ten_mistakes_give_ten_diagnostics_and_exit_1() {
    let (code, out, err) = sockc(&["check", "rules/errors/ten_mistakes.sk"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.matches("  × ").count(), 10, "{err}");
    assert!(
        err.contains("rules/errors/ten_mistakes.sk: 10 errors, 0 warnings"),
        "{err}"
    );
    let (code, out, _) = sockc(&["check", "--json", "rules/errors/ten_mistakes.sk"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "sockc.check/1");
    assert!(v["error"]["message"].is_string(), "{v:#}");
    let items = v["diagnostics"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert!(items
        .iter()
        .all(|d| d["labels"][0]["line"].as_u64().unwrap() >= 2));
}

#[test]
fn check_reports_ok_and_warnings_without_failing() {
    let (code, _, err) = sockc(&["check", "rules/lint/set_overlap.sk"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("5 warnings"), "{err}");
}

/// Exit 1 is for mistakes in the rules; a file the command line names that cannot be
/// read is a usage error (2), like a bad flag.
#[test]
fn usage_errors_and_missing_files_exit_2() {
    assert_eq!(sockc(&["compile"]).0, 2);
    assert_eq!(sockc(&["frobnicate"]).0, 2);
    let (code, _, err) = sockc(&["compile", "rules/no-such-file.sk"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read rules/no-such-file.sk: No such file or directory"),
        "{err}"
    );
    let (code, out, _) = sockc(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("compile") && out.contains("check"));
}

#[test]
fn test_without_root_answers_from_the_evaluator_and_says_so() {
    let (code, out, err) = sockc_unprivileged(
        &[
            "test",
            "--packet",
            "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn",
            "--hook",
            "xdp",
        ],
        "rules/examples/edge.sk",
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not root"), "{err}");
    let row = out
        .lines()
        .find(|l| l.contains("xdp on eth0"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[3..],
        ["allow", "line", "9:", "allow", "tcp", "to", "1.1.1.0/24:53"],
        "{out}"
    );
    assert!(out.contains("(evaluator only)"), "{out}");
    assert!(
        !out.contains("tc egress"),
        "--hook xdp selects one program: {out}"
    );
}

#[test]
fn test_reads_packet_files_and_reports_counted_rules_and_defaults() {
    let (code, out, err) = sockc(&[
        "test",
        "--eval-only",
        "--json",
        "rules/examples/edge.sk",
        "--packets",
        "rules/examples/edge.packets",
        "--iface",
        "eth0",
        "--hook",
        "xdp",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 9, "one result per packet in the file");
    let lines: Vec<u64> = results
        .iter()
        .map(|r| r["evaluator"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [9, 7, 8, 11, 14, 14, 12, 13, 14]);
    assert_eq!(results[5]["evaluator"]["counted_lines"][0], 10);
    assert_eq!(results[1]["evaluator"]["verdict"], "drop");
    assert_eq!(results[1]["origin"], "rules/examples/edge.packets:3");
    assert!(results.iter().all(|r| r["kernel"].is_null()));
}

/// `test` prints one table per packet under a header (hook, verdict, rule): the
/// deciding rule, the rules that counted it and who answered each sit under their
/// column, and no line ends in a blank.
#[test]
fn test_prints_each_packet_as_a_table_whose_columns_line_up() {
    let (code, out, err) = sockc(&[
        "test",
        "--eval-only",
        "rules/examples/edge.sk",
        "--packets",
        "rules/examples/edge.packets",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with("hook "))
        .collect();
    assert_eq!(
        headers.len(),
        9,
        "a table per packet:
{out}"
    );
    let mut counted = false;
    for &h in &headers {
        let end = (h + 1..lines.len())
            .find(|&i| !lines[i].starts_with("  "))
            .unwrap_or(lines.len());
        let table = &lines[h..end];
        common::table::assert_lines_up(table, &["hook", "verdict", "rule"], &[]);
        counted |= table
            .iter()
            .any(|l| l.contains(" count ") && l.contains("line 10: "));
        assert!(table[1].contains("xdp on eth0"), "{out}");
    }
    assert!(counted, "the counted rule's row:\n{out}");
}

#[test]
fn test_rejects_bad_packets_and_unknown_programs_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("sockc-cli-packets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.packets");
    std::fs::write(
        &file,
        "# fine\nudp 1.1.1.1:1 -> 2.2.2.2:2\ntcp 1.1.1.1 -> 2.2.2.2:2\n",
    )
    .unwrap();
    let (code, _, err) = sockc(&[
        "test",
        "--eval-only",
        "rules/examples/edge.sk",
        "--packets",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.packets:3: column 5 ('1.1.1.1')"), "{err}");
    assert!(err.contains("missing source port"), "{err}");
    let (code, _, err) = sockc(&[
        "test",
        "--eval-only",
        "rules/examples/edge.sk",
        "--packet",
        "udp 1.1.1.1:1 -> 2.2.2.2:2",
        "--hook",
        "tc-ingress",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no program to test matches --hook/--iface: the file has xdp on eth0, tc egress on eth0"),
        "{err}"
    );
    let (code, _, err) = sockc(&["test", "rules/examples/edge.sk"]);
    assert_eq!(code, 2);
    assert!(err.contains("no packets"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sockc test --hook cgroup-egress` runs the cgroup block in the kernel (as root) and
/// agrees with the evaluator: the block sees the packet from its IP header, so a
/// frame with a VLAN tag still in it is no IP packet there and the default decides.
#[test]
fn test_runs_cgroup_blocks_from_the_ip_header() {
    if !common::kernel() {
        return;
    }
    let run = |packet: &str| {
        let (code, out, err) = sockc(&[
            "test",
            "--json",
            "rules/hooks/cgroup.sk",
            "--packet",
            packet,
            "--hook",
            "cgroup-egress",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let r = &v["results"][0];
        assert_eq!(r["agree"], true, "{out}");
        r["evaluator"]["line"].as_u64().unwrap()
    };
    assert_eq!(run("udp 10.0.0.1:1 -> 169.254.169.254:80"), 10);
    assert_eq!(run("tcp 10.0.0.1:1 -> 10.20.0.7:5432"), 11);
    assert_eq!(run("tcp 10.0.0.1:1 -> 10.20.0.7:5432 vlan 3"), 16);
}

/// `sockc test` answers for socket-call blocks from the evaluator alone (the kernel
/// cannot test-run sock_addr programs, and the JSON says so): the packet stands for
/// the call (protocol, destination), `uid N` and `comm NAME` for the calling process,
/// a redirect says where the call goes, and only the program of the call's family
/// runs.
#[test]
fn test_answers_socket_call_blocks_from_the_evaluator() {
    let run = |packet: &str, hook: &str| {
        let (code, out, err) = sockc(&[
            "test",
            "--json",
            "rules/hooks/sock_addr.sk",
            "--packet",
            packet,
            "--hook",
            hook,
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["results"][0].clone()
    };
    let r = run("tcp 10.0.0.1:1 -> 169.254.169.254:80", "cgroup-connect4");
    assert_eq!(r["evaluator"]["verdict"], "drop", "{r:#}");
    assert!(r["kernel"].is_null(), "{r:#}");
    assert!(
        r["kernel_not_run"]
            .as_str()
            .is_some_and(|w| w.contains("sock_addr")),
        "{r:#}"
    );
    let line = |packet: &str| run(packet, "cgroup-connect4")["evaluator"]["line"].as_u64();
    let mail = "tcp 10.0.0.1:1 -> 192.0.2.1:587";
    assert_eq!(line(&format!("{mail} uid 1000")), Some(20));
    assert_eq!(line(&format!("{mail} uid 0")), Some(27));
    // `comm NAME` for the calling process (none: the empty name, which no rule names).
    let ssh = "tcp 10.0.0.1:1 -> 192.0.2.1:22";
    assert_eq!(line(&format!("{ssh} comm wget")), Some(21));
    assert_eq!(line(&format!("{ssh} comm ssh")), Some(27));
    assert_eq!(line(ssh), Some(22));
    // A redirected call says where it goes: an IPv6 socket's IPv4-mapped call to the
    // target's IPv4-mapped form.
    let r = run("tcp [::]:1 -> [::ffff:10.96.0.10]:80", "cgroup-connect6");
    assert_eq!(r["evaluator"]["verdict"], "redirect", "{r:#}");
    assert_eq!(
        r["evaluator"]["redirect_to"], "[::ffff:10.20.0.7]:8080",
        "{r:#}"
    );
    let r = run("tcp 10.0.0.1:1 -> 169.254.169.254:80", "cgroup-connect6");
    assert!(r["not_applicable"].is_string(), "{r:#}");
}
