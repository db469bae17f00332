//! The defects issue 48 found on a held-out corpus of rulesets (each accepted by the
//! real tool), one test each: the import must either write a rule exactly or leave it
//! in the residual, never exit with a file `check` refuses, never lose the whole file
//! over one construct, never guess an IP version, and read what nft prints. Every
//! output here is compiled with its residual beside it (`check`'s own front half).

use crate::common;

use common::status_of;
use sockc_import::{import, model::IpVersion, Format, Hook, Import, ImportError, Options, Status};

/// Imports `text` at the netfilter hooks (with `opts_of`'s changes) and compiles the
/// rule file with its residual beside it; panics when it does not compile.
fn run_as(text: &str, opts_of: impl FnOnce(&mut Options)) -> Import {
    let mut opts = Options {
        hook: Hook::Netfilter,
        ..Default::default()
    };
    opts_of(&mut opts);
    let imp = import(text, &opts).unwrap_or_else(|e| panic!("{e}"));
    crate::common::compiles_with_residual(&imp);
    assert!(
        imp.set_files.is_empty(),
        "an nft set became a file to export: {:?}",
        imp.set_files
    );
    imp
}

fn run(text: &str) -> Import {
    run_as(text, |_| {})
}

fn residual_text(imp: &Import) -> &str {
    &imp.residual.as_ref().expect("a residual").text
}

#[test]
fn the_family_of_an_ipv6_only_jump_reaches_its_chain() {
    // firewalld's layout: zone chains reached through an IPv6-only jump, matching
    // `meta l4proto { icmp, ipv6-icmp }`: in the IPv6-only chain, IPv6 packets of
    // protocol 1 (`ip6 proto 1`) and ICMPv6, exact; no IPv4 rule.
    let text = "table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tmeta nfproto ipv6 jump zone_public
\t\tiifname \"lo\" accept
\t}
\tchain zone_public {
\t\tmeta l4proto { icmp, ipv6-icmp } accept
\t\ttcp dport 22 accept
\t}
}
";
    let imp = run(text);
    let (status, reason) = status_of(&imp, 9);
    assert_eq!(status, Status::Exact, "{reason}");
    let rules = common::rule_lines(&imp);
    assert!(
        rules.contains(&"allow ip6 proto 1".to_string()),
        "{rules:?}"
    );
    assert!(rules.contains(&"allow icmpv6".to_string()), "{rules:?}");
    assert!(!rules.contains(&"allow icmp".to_string()), "{rules:?}");
    assert_eq!(status_of(&imp, 10).0, Status::Exact);
    assert!(common::rule_lines(&imp).contains(&"allow ip6 tcp to *:22".to_string()));
    assert!(imp.inexact.is_empty(), "{:?}", imp.inexact);
}

/// An ICMP type keeps its rule to its own IP version, as nft's dependency does (`meta
/// nfproto ipv6 meta l4proto 58` for `icmpv6 type` in an inet table, as `nft
/// --debug=netlink` shows): `icmpv6 type != { ... }` admits no IPv4 packet of
/// protocol 58 (read before as admitting all of them, a piece left in netfilter).
#[test]
fn an_icmp_type_keeps_its_rule_to_its_ip_version() {
    let text = "table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\ticmpv6 type != { nd-redirect, 139 } accept
\t\ticmp type != echo-request accept
\t}
}
";
    let imp = run(text);
    for line in [4, 5] {
        let (status, reason) = status_of(&imp, line);
        assert_eq!(status, Status::Exact, "line {line}: {reason}");
    }
    let rules = common::rule_lines(&imp);
    assert!(
        rules.contains(&"allow icmpv6 type 138".to_string()),
        "{rules:?}"
    );
    assert!(
        !rules.contains(&"allow icmpv6 type 139".to_string()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"allow icmp type 0".to_string()),
        "{rules:?}"
    );
    assert!(
        // and the residual's lead: it sends IPv6 packets with extension headers to
        // netfilter, where an ICMPv6 type may sit behind any number of them
        rules
            .iter()
            .all(|r| r.contains("icmp") || r == "drop" || r == common::LEAD),
        "{rules:?}"
    );
}

/// ICMP's number in the other IP version is written `ip6 proto 1` / `ip4 proto 58`
/// (nft text, nft JSON and ip6tables alike), next to the family's own `icmp`.
#[test]
fn icmp_numbers_of_the_other_version_are_written_as_numbers() {
    let text = "table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tmeta l4proto icmp accept
\t\tip protocol ipv6-icmp ip saddr 10.0.0.0/8 drop
\t}
}
";
    let imp = run(text);
    let rules = common::rule_lines(&imp);
    for (line, want) in [
        (4, "allow ip6 proto 1"),
        (5, "drop ip4 proto 58 from 10.0.0.0/8"),
    ] {
        let (status, reason) = status_of(&imp, line);
        assert_eq!(status, Status::Exact, "line {line}: {reason}");
        assert!(rules.iter().any(|r| r.contains(want)), "{want}: {rules:?}");
    }
    assert!(rules.contains(&"allow icmp".to_string()), "{rules:?}");
    assert!(
        !rules.contains(&"allow ip4 proto 58".to_string()),
        "{rules:?}"
    );
    let json = r#"{"nftables": [{"table": {"family": "inet", "name": "filter", "handle": 1}},
{"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
{"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}}, {"accept": null}]}}]}"#;
    let imp = run_as(json, |o| o.from = Some(Format::NftJson));
    assert!(common::rule_lines(&imp).contains(&"allow ip6 proto 1".to_string()));
    let ip6 = "# Generated by ip6tables-save v1.8.9\n*filter\n:INPUT DROP [0:0]\n\
               -A INPUT -p icmp -j ACCEPT\nCOMMIT\n";
    let imp = run(ip6);
    assert_eq!(
        common::rule_lines(&imp),
        [common::LEAD, "allow ip6 proto 1", "drop ip6"]
    );
}

#[test]
fn a_set_the_ruleset_fills_is_never_its_listed_contents() {
    let text = "table inet f {
\tset seen {
\t\ttype ipv4_addr
\t\tflags dynamic
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\ttcp dport 1000 add @seen { ip saddr }
\t\tip saddr @seen accept
\t\ttcp dport 22 accept
\t}
}
";
    let imp = run(text);
    // the lookup is not "never matches (set seen is empty)"
    let (status, reason) = status_of(&imp, 9);
    assert_eq!(status, Status::Residual, "{reason}");
    assert!(reason.contains("change at run time"), "{reason}");
    assert_eq!(status_of(&imp, 8).0, Status::Residual);
    assert_eq!(imp.report.summary.never, 0);
    // what fills the set and what reads it stay together in netfilter
    let residual = residual_text(&imp);
    assert!(residual.contains("add @seen { ip saddr }"), "{residual}");
    assert!(residual.contains("ip saddr @seen"), "{residual}");
    // the rule after them, which the lookup's accept shadows in part, stays exact
    // only where it can; nothing is written that the pair would decide otherwise
    assert!(imp.inexact.is_empty(), "{:?}", imp.inexact);
}

#[test]
fn a_set_written_by_an_update_or_a_meter_is_read_in_netfilter_too() {
    // the same set filled later in the ruleset than it is read, by `update`
    let text = "table ip f {
\tset knock {
\t\ttype ipv4_addr
\t\tsize 65535
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip saddr @knock tcp dport 22 accept
\t\ttcp dport 7000 update @knock { ip saddr }
\t}
}
";
    let imp = run(text);
    assert_eq!(status_of(&imp, 8).0, Status::Residual);
    assert_eq!(status_of(&imp, 9).0, Status::Residual);
    let residual = residual_text(&imp);
    assert!(residual.contains("update @knock"), "{residual}");
}

#[test]
fn port_knocking_with_recent_keeps_its_writer() {
    // `-m recent --set` decides nothing, but the rule that reads the list does
    let text = "# Generated by iptables-save v1.8.9
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 1000 -m recent --set --name knock --rsource
-A INPUT -p tcp -m tcp --dport 22 -m recent --rcheck --seconds 30 --name knock --rsource -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
";
    let imp = run(text);
    assert_eq!(status_of(&imp, 6).0, Status::Residual);
    assert_eq!(status_of(&imp, 7).0, Status::Residual);
    assert_eq!(status_of(&imp, 8).0, Status::Exact);
    let residual = residual_text(&imp);
    assert!(residual.contains("--set --name knock"), "{residual}");
    assert!(residual.contains("--rcheck"), "{residual}");
}

#[test]
fn a_state_writer_left_out_at_xdp_never_says_the_verdicts_are_the_same() {
    let text = "table ip f {
\tset seen {
\t\ttype ipv4_addr
\t\tflags dynamic
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\ttcp dport 1000 add @seen { ip saddr }
\t\tip saddr @seen accept
\t}
}
";
    let imp = import(
        text,
        &Options {
            hook: Hook::Xdp,
            interface: Some("eth0".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let (status, reason) = status_of(&imp, 8);
    assert_eq!(status, Status::Unsupported);
    assert!(!reason.contains("verdicts are the same"), "{reason}");
    assert!(reason.contains("changes state"), "{reason}");
}

/// Sets as nft 1.0.6 lists them after loading: per-element counters, per-element
/// limits, a catch-all element, elements with timeouts.
const ELEMENT_FORMS: &str = "table ip f {
\tset s {
\t\ttype ipv4_addr
\t\tcounter
\t\telements = { 192.0.2.1 counter packets 0 bytes 0, 192.0.2.2 counter packets 3 bytes 120 }
\t}
\tset t {
\t\ttype ipv4_addr
\t\tlimit rate 1/second
\t\telements = { 192.0.2.5 limit rate 1/second }
\t}
\tset c {
\t\ttype ipv4_addr
\t\telements = { 192.168.3.5, * }
\t}
\tset to {
\t\ttype ipv4_addr
\t\tflags timeout
\t\telements = { 192.0.2.9 timeout 1h expires 29m59s992ms }
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip saddr @s accept
\t\tip saddr @t accept
\t\tip saddr @c accept
\t\tip saddr @to accept
\t\tlimit rate 1023 mbytes/second accept
\t}
}
";

/// [`ELEMENT_FORMS`] as `nft -j list ruleset` prints it (nft 1.0.6).
const ELEMENT_FORMS_JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "f", "handle": 1}},
{"set": {"family": "ip", "name": "s", "table": "f", "type": "ipv4_addr", "handle": 2, "elem": [{"elem": {"val": "192.0.2.1", "counter": {"packets": 0, "bytes": 0}}}, {"elem": {"val": "192.0.2.2", "counter": {"packets": 3, "bytes": 120}}}], "stmt": [{"counter": null}]}},
{"set": {"family": "ip", "name": "t", "table": "f", "type": "ipv4_addr", "handle": 3, "elem": [{"elem": {"val": "192.0.2.5", "limit": {"rate": 1, "burst": 5, "per": "second"}}}], "stmt": [{"limit": {"rate": 1, "burst": 5, "per": "second"}}]}},
{"set": {"family": "ip", "name": "c", "table": "f", "type": "ipv4_addr", "handle": 4, "elem": ["192.168.3.5", "*"]}},
{"set": {"family": "ip", "name": "to", "table": "f", "type": "ipv4_addr", "handle": 5, "flags": ["timeout"], "elem": [{"elem": {"val": "192.0.2.9", "timeout": 3600, "expires": 1799}}]}},
{"chain": {"family": "ip", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
{"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@s"}}, {"accept": null}]}},
{"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 7, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@t"}}, {"accept": null}]}},
{"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 8, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@c"}}, {"accept": null}]}},
{"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 9, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@to"}}, {"accept": null}]}},
{"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 10, "expr": [{"limit": {"rate": 1023, "burst": 0, "per": "second", "rate_unit": "mbytes", "burst_unit": "bytes"}}, {"accept": null}]}}]}"#;

#[test]
fn set_elements_with_state_or_a_catch_all_stay_in_netfilter() {
    for (text, lines) in [
        (ELEMENT_FORMS, [22, 23, 24, 25, 26]),
        (ELEMENT_FORMS_JSON, [7, 8, 9, 10, 11]),
    ] {
        let imp = run(text);
        let by_line: Vec<(Status, String)> = imp
            .report
            .rules
            .iter()
            .map(|r| (r.status, r.reason.clone()))
            .collect();
        assert_eq!(by_line.len(), 5, "{by_line:?}");
        // per-element counters change nothing: exact
        assert_eq!(by_line[0].0, Status::Exact, "{:?} ({lines:?})", by_line[0]);
        for (i, why) in [(1, "limit"), (2, "catch-all"), (3, "timeout")] {
            assert_eq!(by_line[i].0, Status::Residual, "{:?}", by_line[i]);
            assert!(by_line[i].1.contains(why), "{:?}", by_line[i]);
        }
        // a byte rate faster than the language's limit stays in netfilter
        assert_eq!(by_line[4].0, Status::Residual, "{:?}", by_line[4]);
        assert!(imp.inexact.is_empty(), "{:?}", imp.inexact);
        assert!(common::rule_lines(&imp).contains(&"allow ip4 from @s".to_string()));
    }
}

#[test]
fn a_set_element_limit_with_a_burst_does_not_lose_the_file() {
    let text = "table ip f {
\tset t {
\t\ttype ipv4_addr
\t\tlimit rate 1/second burst 5 packets
\t\telements = { 192.0.2.5 limit rate 1/second burst 5 packets, 192.0.2.6 }
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip saddr @t accept
\t\ttcp dport 22 accept
\t}
}
";
    let imp = run(text);
    assert_eq!(status_of(&imp, 9).0, Status::Residual);
    assert_eq!(status_of(&imp, 10).0, Status::Exact);
}

#[test]
fn bridge_and_netdev_chains_do_not_lose_the_file() {
    // bridge priority names (nftables' std_prios: `out` is 100 there), netdev chains
    // on several devices: read, and kept whole in netfilter
    let text = "table bridge b {
\tchain out {
\t\ttype filter hook output priority out; policy accept;
\t\tcounter
\t}
\tchain pre {
\t\ttype filter hook prerouting priority dstnat; policy accept;
\t}
}
table netdev n {
\tchain ing {
\t\ttype filter hook ingress devices = { dummy0, lo } priority -500; policy accept;
\t\tip saddr 192.0.2.1 drop
\t}
}
table ip f {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\ttcp dport 22 accept
\t}
}
";
    let imp = run(text);
    assert_eq!(status_of(&imp, 19).0, Status::Exact);
    assert_eq!(status_of(&imp, 13).0, Status::Residual);
    let residual = residual_text(&imp);
    assert!(residual.contains("devices = { dummy0, lo }"), "{residual}");
    assert!(residual.contains("priority out"), "{residual}");
    let rs = sockc_import::read(text, Format::Nft).unwrap();
    let prio = |t: usize| rs.tables[t].chains[0].base.as_ref().unwrap().priority;
    assert_eq!(prio(0), 100, "bridge `out`");
    assert_eq!(
        rs.tables[0].chains[1].base.as_ref().unwrap().priority,
        -300,
        "bridge `dstnat`"
    );
}

const HEADLESS_V6: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j DROP
COMMIT
";

#[test]
fn an_iptables_section_that_does_not_say_its_family_is_refused_or_told() {
    // nothing in it names a family: refused, naming --from
    let err = import(HEADLESS_V6, &Options::default()).unwrap_err();
    let ImportError::Syntax(d) = &err else {
        panic!("{err}")
    };
    assert!(
        d[0].message.contains("--from ip6tables"),
        "{}",
        d[0].message
    );
    assert_eq!(d[0].span.line, 1);
    // --from ip6tables: IPv6
    let imp = run_as(HEADLESS_V6, |o| {
        o.from = Some(Format::Iptables);
        o.ip_version = Some(IpVersion::V6);
    });
    assert_eq!(
        common::rule_lines(&imp),
        [common::LEAD, "drop ip6 tcp to *:22"]
    );
    // --from iptables: IPv4
    let imp = run_as(HEADLESS_V6, |o| o.from = Some(Format::Iptables));
    assert_eq!(common::rule_lines(&imp), ["drop ip4 tcp to *:22"]);
    // a `# Generated by` line, or an address of one family, says it
    let told = format!("# Generated by ip6tables-save v1.8.9\n{HEADLESS_V6}");
    assert_eq!(
        common::rule_lines(&run(&told)),
        [common::LEAD, "drop ip6 tcp to *:22"]
    );
    let v4 = HEADLESS_V6.replace("-p tcp", "-s 192.0.2.0/24 -p tcp");
    assert_eq!(
        common::rule_lines(&run(&v4)),
        ["drop ip4 tcp from 192.0.2.0/24 to *:22"]
    );
    let v6 = HEADLESS_V6.replace("-p tcp", "-s 2001:db8::/32 -p tcp");
    assert_eq!(
        common::rule_lines(&run(&v6)),
        [common::LEAD, "drop ip6 tcp from 2001:db8::/32 to *:22"]
    );
}

const VMAP_TEXT: &str = "table ip f {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip daddr . tcp dport vmap { 10.133.89.139 . 22 : drop, 10.133.89.138 . 8081 : accept }
\t\ttcp flags ! fin,rst accept
\t}
}
";

/// [`VMAP_TEXT`] as `nft -j list ruleset` prints it (nft 1.0.6).
const VMAP_JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "f", "handle": 1}}, {"chain": {"family": "ip", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 3, "expr": [{"vmap": {"key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"payload": {"protocol": "tcp", "field": "dport"}}]}, "data": {"set": [[{"concat": ["10.133.89.139", 22]}, {"drop": null}], [{"concat": ["10.133.89.138", 8081]}, {"accept": null}]]}}}]}}, {"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 4, "expr": [{"match": {"op": "!", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": ["fin", "rst"]}}, {"accept": null}]}}]}"#;

#[test]
fn text_and_json_agree_on_concatenated_verdict_maps_and_negated_flags() {
    let text = run(VMAP_TEXT);
    let json = run(VMAP_JSON);
    let expected = [
        "drop ip4 tcp to 10.133.89.139:22",
        "allow ip4 tcp to 10.133.89.138:8081",
        "allow ip4 tcp !fin !rst",
        "drop ip4",
    ];
    assert_eq!(common::rule_lines(&text), expected, "{}", text.sk_text);
    assert_eq!(common::rule_lines(&json), expected, "{}", json.sk_text);
    for imp in [&text, &json] {
        assert!(imp.report.rules.iter().all(|r| r.status == Status::Exact));
    }
}

#[test]
fn an_anonymous_chain_is_never_a_harmless_left_out() {
    // nft lists `jump { ... }` as text, in JSON as a string: either way the rule
    // decides (its verdict is not known to the import), so it stays in netfilter
    let text = "table ip f {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip daddr 192.0.2.20 jump {
\t\t\ttcp dport 443 accept
\t\t}
\t\ttcp dport 80 accept
\t}
}
";
    let json = r#"{"nftables": [{"table": {"family": "ip", "name": "f", "handle": 1}}, {"chain": {"family": "ip", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "192.0.2.20"}}, "jump {\n\t\t\ttcp dport 443 accept\n\t\t}"]}}, {"rule": {"family": "ip", "table": "f", "chain": "input", "handle": 7, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"accept": null}]}}]}"#;
    for t in [text, json] {
        let imp = run(t);
        let first = &imp.report.rules[0];
        assert_eq!(first.status, Status::Residual, "{}", first.reason);
        let residual = residual_text(&imp);
        assert!(residual.contains("443"), "{residual}");
        let xdp = import(
            t,
            &Options {
                hook: Hook::Xdp,
                interface: Some("eth0".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let first = &xdp.report.rules[0];
        assert!(
            !first.reason.contains("verdicts are the same"),
            "{}",
            first.reason
        );
    }
}

#[test]
fn reasons_name_fields_as_nft_does() {
    let text = "table ip f {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\ttcp dport { 22, * } accept
\t}
}
";
    let imp = run(text);
    let r = &imp.report.rules[0];
    assert!(!r.reason.contains("Dport("), "{}", r.reason);
}

#[test]
fn the_spaced_forms_nft_reads_are_read() {
    let text = "table ip f {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tlimit rate 1 kbytes / second accept
\t\tlimit rate 10 / second accept
\t}
}
";
    let imp = run_as(text, |o| o.approximate = true);
    let rules = common::rule_lines(&imp);
    assert!(
        imp.report
            .rules
            .iter()
            .all(|r| !r.reason.contains("unknown expression")),
        "{:?}",
        imp.report.rules
    );
    assert_eq!(rules.len(), 3, "{rules:?}");
}

#[test]
fn a_ruleset_that_accepts_everything_still_gets_a_block() {
    // `apply` refuses a file without hook blocks: one that allows everything
    let text = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n";
    let imp = run(text);
    assert!(imp.residual.is_none());
    assert!(
        imp.sk_text.contains("netfilter input priority 1 {"),
        "{}",
        imp.sk_text
    );
    assert_eq!(common::rule_lines(&imp), Vec::<String>::new());
}

#[test]
fn an_iptables_residual_names_the_ipsets_it_needs() {
    let text = "# Generated by iptables-save v1.8.9
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m set --match-set bogons src -m pkttype --pkt-type broadcast -j DROP
-A INPUT -p tcp -m tcp --dport 22 -j DROP
COMMIT
";
    let imp = run(text);
    assert_eq!(imp.residual.as_ref().unwrap().ipsets, ["bogons"]);
}
