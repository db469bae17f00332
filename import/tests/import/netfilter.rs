//! The netfilter placement (`--hook netfilter`, the default): one `netfilter HOOK
//! priority N` block per hook and priority of the source's base chains, one priority
//! after them; several base chains on one hook compose as the kernel runs them (an
//! accept ends only its own block); `ct state` is exact; what a netfilter block
//! cannot do (answer a reject, match an interface, rate-limit while
//! `Feature::NetfilterLimit` is off) is reported with its reason. Every output
//! compiles.

use crate::common;

use common::status_of;
use sockc_import::{features::Feature, import, lower, Hook, Import, Options, Status};

fn run(text: &str) -> Import {
    run_with(text, false)
}

/// [`run`], with `--approximate` when `approximate`.
fn run_with(text: &str, approximate: bool) -> Import {
    let imp = import(
        text,
        &Options {
            from: None,
            hook: Hook::default(),
            interface: None,
            source_name: None,
            approximate,
            ..Default::default()
        },
    )
    .unwrap();
    crate::common::compiles_with_residual(&imp);
    imp
}

/// The file's block heads, rules and defaults, without comments.
fn code_of(imp: &Import) -> Vec<String> {
    imp.sk_text
        .lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn netfilter_is_the_default_hook() {
    assert!(Feature::NetfilterHook.available());
    assert_eq!(Hook::default(), Hook::Netfilter);
}

#[test]
fn iptables_chains_run_one_priority_after_their_hook_with_exact_ct_state() {
    let text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
        -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n\
        -A FORWARD -s 10.0.0.0/8 -j DROP\n\
        COMMIT\n";
    let imp = run(text);
    assert_eq!(
        code_of(&imp),
        [
            "netfilter input priority 1 {",
            "allow ip4 ct state established,related",
            "allow ip4 tcp to *:22",
            "drop ip4",
            "default allow",
            "}",
            "netfilter forward priority 1 {",
            "drop ip4 from 10.0.0.0/8",
            "default allow",
            "}",
        ],
        "{}",
        imp.sk_text
    );
    for line in [5, 6, 7] {
        assert_eq!(status_of(&imp, line).0, Status::Exact, "line {line}");
    }
    // The chains it replaces are named above each block; OUTPUT, empty, has none.
    assert!(imp
        .sk_text
        .contains("# chain INPUT (table ip filter, line 2): hook input priority 0, policy drop\nnetfilter input priority 1 {"));
    assert!(!imp.sk_text.contains("netfilter output"));
}

#[test]
fn nft_base_chains_on_one_hook_compose_as_the_kernel_runs_them() {
    // `early` accepts ssh, which ends only its own base chain: `late` still drops
    // ssh from 192.0.2.0/24. Chains at one priority share a block, the one registered
    // last (later in the input) first, as the kernel runs them.
    let text = "table inet a {\n\
        \tchain early {\n\t\ttype filter hook input priority -10; policy accept;\n\t\ttcp dport 22 accept\n\t\tudp dport 53 drop\n\t}\n\
        \tchain late {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr 192.0.2.0/24 drop\n\t}\n\
        }\n\
        table inet b {\n\tchain late2 {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip6 saddr 2001:db8::/32 drop\n\t}\n}\n";
    let imp = run(text);
    assert_eq!(
        code_of(&imp),
        [
            "residual nft file \"imported.residual.nft\" mark 0x80000000",
            "netfilter input priority -9 {",
            common::LEAD,
            "allow tcp to *:22",
            "drop udp to *:53",
            "default allow",
            "}",
            "netfilter input priority 1 {",
            common::LEAD,
            "drop ip6 from 2001:db8::/32",
            "drop ip4 from 192.0.2.0/24",
            "default allow",
            "}",
        ],
        "{}",
        imp.sk_text
    );
    assert!(imp.report.rules.iter().all(|r| r.status == Status::Exact));
}

#[test]
fn a_drop_policy_that_cannot_be_written_is_blamed_on_what_splits_it() {
    // `late`'s accept of ssh lets it go on to `late2`; its drop policy is then every
    // other packet, other protocols included, which one sockc rule cannot say: the
    // accept is reported, never called exact: it stays in netfilter, in the residual.
    // (`late`, registered last, runs first.)
    let text = "table inet b {\n\tchain late2 {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr 192.0.2.0/24 drop\n\t}\n}\n\
        table inet a {\n\tchain late {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n";
    let imp = run(text);
    let (s, why) = status_of(&imp, 10);
    assert_eq!(s, Status::Residual, "{}", imp.sk_text);
    assert!(why.contains("drop policy after it"), "{why}");
}

#[test]
fn an_inet_drop_policy_is_the_block_default() {
    let text = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t}\n}\n";
    let imp = run(text);
    assert_eq!(
        code_of(&imp),
        [
            "residual nft file \"imported.residual.nft\" mark 0x80000000",
            "netfilter input priority 1 {",
            common::LEAD,
            "allow ct state established,related",
            "allow tcp to *:22",
            "default drop",
            "}",
        ],
        "{}",
        imp.sk_text
    );
    assert!(imp.report.rules.iter().all(|r| r.status == Status::Exact));
}

#[test]
fn what_a_netfilter_block_cannot_do_is_reported() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset\n\
        -A INPUT -i lo -j ACCEPT\n\
        -A INPUT -p icmp -m limit --limit 5/sec -j ACCEPT\n\
        -A INPUT -p icmp -j DROP\n\
        COMMIT\n";
    // Without --approximate, what sockc can only approximate stays in netfilter.
    let whole = run(text);
    for line in [5, 7] {
        assert_eq!(
            status_of(&whole, line).0,
            Status::Residual,
            "{}",
            whole.sk_text
        );
    }
    let imp = run_with(text, true);
    let (s, why) = status_of(&imp, 5);
    assert_eq!(s, Status::Approximate);
    assert!(why.contains("can only accept or drop"), "{why}");
    assert!(
        code_of(&imp).contains(&"drop ip4 tcp to *:23".to_string()),
        "{}",
        imp.sk_text
    );
    // `-i lo` is the language's `in on lo` at the netfilter hooks.
    assert_eq!(status_of(&imp, 6).0, Status::Exact);
    assert!(
        code_of(&imp).contains(&"allow ip4 in on lo".to_string()),
        "{}",
        imp.sk_text
    );
    // A limit is written at netfilter as at XDP: approximate (GCRA against the
    // kernel's token bucket), never dropped.
    assert!(Feature::NetfilterLimit.available());
    assert_eq!(status_of(&imp, 7).0, Status::Approximate);
    assert!(
        code_of(&imp).iter().any(|l| l.contains("limit 5/s")),
        "{}",
        imp.sk_text
    );
    assert_eq!(status_of(&imp, 8).0, Status::Exact);
}

#[test]
fn block_priorities_stay_in_the_range_the_kernel_takes() {
    assert_eq!(lower::block_priority(0), 1);
    assert_eq!(lower::block_priority(-200), -199);
    assert_eq!(lower::block_priority(i32::MIN), i32::MIN + 1);
    assert_eq!(lower::block_priority(i32::MAX), i32::MAX - 1);
    assert_eq!(lower::block_priority(i32::MAX - 1), i32::MAX - 1);
}

/// Two base chains on one hook at one priority: netfilter runs the one registered last
/// first (net/netfilter/core.c, `nf_hook_entries_grow`; `nft -f` registers in input
/// order), so table b's chain comes first in the block, and the report says so. The
/// verdicts would be the same either way (an accept ends only its chain, a drop is
/// final); what the order changes is which rule counts, logs or rejects a packet.
#[test]
fn equal_priorities_run_the_chain_registered_last_first() {
    let text = "table inet a {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tudp dport 9 counter drop\n\t}\n}\n\
        table inet b {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tudp dport 9 counter\n\t}\n}\n";
    let imp = run(text);
    let code = code_of(&imp);
    let pos = |needle: &str| {
        code.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in\n{}", imp.sk_text))
    };
    assert!(
        pos("count udp to *:9") < pos("drop udp to *:9"),
        "{}",
        imp.sk_text
    );
    assert!(
        imp.report
            .remarks
            .iter()
            .any(|r| r.contains("runs b input (later in the input) before a input")),
        "{:?}",
        imp.report.remarks
    );
}

/// `-m owner --uid-owner/--gid-owner` and `meta skuid/skgid` are exact where sockc
/// reads the owner as xt_owner does (output, postrouting), negations too (`owner
/// !uid`, which packets no socket owns pass); both kinds in one rule, `--suppl-groups`,
/// a user name or another hook stay in the residual, with the reason.
#[test]
fn owner_matches_are_exact_at_output_and_postrouting_only() {
    let text = "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT \
        [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A OUTPUT -p udp --dport 53 -m owner --uid-owner 1001 -j DROP\n\
        -A OUTPUT -m owner --gid-owner 100-199 -j ACCEPT\n\
        -A OUTPUT -m owner ! --uid-owner 0 -j DROP\n\
        -A OUTPUT -m owner --uid-owner 5 --gid-owner 5 -j DROP\n\
        -A OUTPUT -m owner --gid-owner 7 --suppl-groups -j DROP\n\
        -A OUTPUT -m owner --uid-owner www-data -j DROP\n\
        COMMIT\n";
    let imp = run(text);
    for line in [6, 7, 8] {
        assert_eq!(status_of(&imp, line).0, Status::Exact, "line {line}");
    }
    for (line, why) in [
        (9, "one `owner` per rule"),
        (10, "--suppl-groups"),
        (11, "www-data"),
    ] {
        let (status, reason) = status_of(&imp, line);
        assert_eq!(status, Status::Residual, "line {line}: {reason}");
        assert!(reason.contains(why), "line {line}: {reason}");
    }
    let rules = code_of(&imp);
    assert!(
        rules.contains(&"drop ip4 udp to *:53 owner uid 1001".to_string()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"allow ip4 owner gid 100-199".to_string()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"drop ip4 owner !uid 0".to_string()),
        "{rules:?}"
    );

    let nft = "table inet f {\n  chain o {\n    type filter hook postrouting priority 0; \
               policy accept;\n    meta skuid { 0, 1000-1999 } tcp dport 25 accept\n    \
               meta skgid != 100 drop\n  }\n  chain i {\n    type filter hook input priority \
               0; policy accept;\n    meta skuid 1001 drop\n  }\n}\n";
    let imp = run(nft);
    assert_eq!(status_of(&imp, 4).0, Status::Exact);
    assert_eq!(status_of(&imp, 5).0, Status::Exact);
    assert!(
        code_of(&imp).contains(&"drop owner !gid 100".to_string()),
        "{}",
        imp.sk_text
    );
    let (status, reason) = status_of(&imp, 9);
    assert_eq!(status, Status::Residual);
    assert!(
        reason.contains("outside netfilter output and postrouting"),
        "{reason}"
    );
    assert!(
        code_of(&imp).contains(&"allow tcp to *:25 owner uid { 0, 1000-1999 }".to_string()),
        "{}",
        imp.sk_text
    );
}

/// The conntrack entry's status, direction and mark (`-m conntrack --ctstatus/--ctdir/
/// --ctstate ...,DNAT`, `-m connmark --mark`, nft `ct status/direction/mark`) are exact
/// in netfilter blocks, a packet without an entry failing them as netfilter's do; a
/// `--ctstate` that passes without an entry (xt_conntrack then skips `--ctstatus`), a
/// whole-word `ct status ==` and a mask of too many ranges stay in the residual.
#[test]
fn conntrack_entry_matches_are_exact_in_netfilter_blocks() {
    let text = "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP \
        [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n\
        -A FORWARD -p tcp -m tcp --dport 80 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n\
        -A FORWARD -m conntrack --ctstatus ASSURED,SEEN_REPLY --ctdir REPLY -j ACCEPT\n\
        -A FORWARD -m conntrack --ctstate INVALID --ctstatus CONFIRMED -j DROP\n\
        -A FORWARD -m connmark ! --mark 0x1000000/0xff000000 -j DROP\n\
        -A FORWARD -m connmark --mark 0x4000/0x4000 -j DROP\n\
        COMMIT\n";
    let imp = run(text);
    for line in [6, 7, 8, 10] {
        assert_eq!(status_of(&imp, line).0, Status::Exact, "line {line}");
    }
    for line in [9, 11] {
        assert_eq!(status_of(&imp, line).0, Status::Residual, "line {line}");
    }
    let rules = code_of(&imp);
    for want in [
        "allow ip4 ct state established,related",
        "allow ip4 ct status dnat ct state new",
        "drop ip4 tcp to *:80 ct state invalid,untracked",
        "drop ip4 tcp to *:80 ct status != dnat ct state new",
        "allow ip4 ct status seen-reply,assured ct direction reply",
        "drop ip4 ct mark != 0x1000000-0x1ffffff",
    ] {
        assert!(rules.contains(&want.to_string()), "{want}: {rules:?}");
    }

    let nft = "table inet f {\n  chain fwd {\n    type filter hook forward priority 0; \
               policy accept;\n    ct status dnat accept\n    ct mark != 0x20 udp dport 53 \
               drop\n    ct mark 0x01000000/8 accept\n    ct status == dnat accept\n    \
               ct direction original ct mark { 1, 5-9 } drop\n  }\n}\n";
    let imp = run(nft);
    for line in [4, 5, 6, 8] {
        assert_eq!(status_of(&imp, line).0, Status::Exact, "line {line}");
    }
    assert_eq!(status_of(&imp, 7).0, Status::Residual);
    let rules = code_of(&imp);
    for want in [
        "allow ct status dnat",
        "drop udp to *:53 ct mark != 0x20",
        "allow ct mark 0x1000000-0x1ffffff",
        "drop ct direction original ct mark 0x1,0x5-0x9",
    ] {
        assert!(rules.contains(&want.to_string()), "{want}: {rules:?}");
    }
}

/// `-m mark --mark V[/M]` and nft `meta mark` become `mark V/M` rules in netfilter
/// blocks (a set or range: one per aligned block). A test whose mask takes in the
/// residual's own bit (here bit 31) stays exact: the block's first rule lets every
/// packet with the bit through, so later tests see it clear, as the original does.
/// A ruleset that sets marks where a test may run before the writer keeps its tests
/// in the residual; a `mangle` prerouting writer runs before every filter chain.
#[test]
fn packet_marks_are_exact_in_netfilter_blocks_unless_written_after() {
    let text = "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT \
        [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -m mark --mark 0x10 -j DROP\n\
        -A INPUT -m mark --mark 0x1000000/0xff000000 -j DROP\n\
        -A INPUT -m mark --mark 0x4000/0x4000 -j DROP\n\
        -A INPUT -p tcp --dport 80 -j REJECT\n\
        COMMIT\n";
    let imp = run(text);
    assert_eq!(status_of(&imp, 6).0, Status::Exact);
    assert_eq!(status_of(&imp, 7).0, Status::Exact);
    assert_eq!(status_of(&imp, 8).0, Status::Residual, "a low-bit mask");
    let rules = code_of(&imp);
    let at = |w: &str| {
        rules
            .iter()
            .position(|r| r == w)
            .unwrap_or_else(|| panic!("{w}: {rules:?}"))
    };
    assert!(at("allow mark 0x80000000/0x80000000") < at("drop ip4 mark 0x1000000/0xff000000"));
    at("drop ip4 mark 0x10/0xffffffff");

    let nft = "table inet f {\n  chain in {\n    type filter hook input priority 0; policy \
               accept;\n    meta mark { 1, 4-7 } drop\n  }\n}\n";
    let rules = code_of(&run(nft));
    for want in ["drop mark 0x1/0xffffffff", "drop mark 0x4/0xfffffffc"] {
        assert!(rules.contains(&want.to_string()), "{want}: {rules:?}");
    }

    // A writer in the test's own chain, after it: the test stays in netfilter.
    let written = "table inet f {\n  chain in {\n    type filter hook input priority 0; \
                   policy accept;\n    meta mark 0x10 drop\n    meta mark set 0x10\n  }\n}\n";
    let imp = run(written);
    let (status, reason) = status_of(&imp, 4);
    assert_eq!(status, Status::Residual, "{reason}");
    assert!(reason.contains("sets marks"), "{reason}");
    // A mangle prerouting writer runs before: the test in the filter table is exact.
    let mangle = "table ip m {\n  chain pre {\n    type filter hook prerouting priority \
                  mangle; policy accept;\n    ct mark set 0x10\n  }\n}\n\
                  table inet f {\n  chain in {\n    type filter hook input priority 0; \
                  policy accept;\n    ct mark 0x10 drop\n  }\n}\n";
    let imp = run(mangle);
    assert_eq!(status_of(&imp, 10).0, Status::Exact);
}

/// The rules of the residual's `min` chain of INPUT (nft text, or iptables-restore).
fn min_input(imp: &Import) -> Vec<String> {
    let r = imp.residual.as_ref().expect("a residual");
    let text = &r.text;
    if let Some(at) = text.find("chain sockc_min_input {\n") {
        let body = &text[at..];
        let end = body.find("\n\t}").unwrap();
        return body[..end]
            .lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .collect();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("-A SOCKCRESID-min-INPUT "))
        .map(str::to_string)
        .collect()
}

/// sockc's programs walk at most six IPv6 extension headers, netfilter any number: at
/// a place that sees IPv6, where sockc's block reads the protocol, a port, TCP flags
/// or an ICMPv6 field, the import writes a residual (also when it keeps no rule), and
/// its `min` chain sends every IPv6 packet with an extension header, right after
/// clearing the mark bit, to the `full` chain, where netfilter decides it. A ruleset
/// that never sees IPv6, or whose rules read nothing past the extension headers, has
/// no residual as before (docs/import.md, "The residual").
#[test]
fn an_ipv6_place_leaves_packets_with_extension_headers_to_netfilter() {
    let clear = "meta mark set meta mark & 0x7fffffff";
    let to_full = "ip6 nexthdr { 0, 43, 44, 51, 60 } goto sockc_full_input";
    for family in ["ip6", "inet"] {
        let text = format!(
            "table {family} f {{\n\tchain input {{\n\t\ttype filter hook input priority 0; \
             policy accept;\n\t\ttcp dport 22 drop\n\t}}\n}}\n"
        );
        let imp = run(&text);
        assert_eq!(imp.report.summary.exact, 1, "{}", imp.sk_text);
        assert_eq!(min_input(&imp)[..2], [clear, to_full], "{family}");
    }
    let ip6 = "# Generated by ip6tables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n\
               -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j DROP\nCOMMIT\n\
               # Generated by iptables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n\
               -A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n";
    let imp = run(ip6);
    let r = imp.residual.as_ref().expect("a residual");
    let u32 = "-m u32 --u32 \"0x3&0xff=0x0,0x2b,0x2c,0x33,0x3c\" -g SOCKCRESID-full-INPUT";
    assert_eq!(
        min_input(&imp)[..2],
        ["-j MARK --and-mark 0x7fffffff", u32],
        "{}",
        r.text
    );
    // the IPv4 section's min chain (the second) has no such rule
    assert_eq!(r.text.matches("-m u32").count(), 1, "{}", r.text);
    // no IPv6, or nothing read past the extension headers: no residual
    for text in [
        "table ip f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 22 drop\n\t}\n}\n",
        "table ip6 f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip6 saddr 2001:db8::/32 drop\n\t}\n}\n",
        "table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip protocol tcp tcp dport 22 drop\n\t}\n}\n",
        "# Generated by iptables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n",
    ] {
        let imp = run(text);
        assert!(imp.residual.is_none(), "{text}\n{}", imp.sk_text);
    }
    // nft JSON: the same rule, second in the min chain
    let json = r#"{"nftables": [{"table": {"family": "ip6", "name": "f", "handle": 1}},
{"chain": {"family": "ip6", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
{"rule": {"family": "ip6", "table": "f", "chain": "input", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"drop": null}]}}]}"#;
    let imp = run(json);
    let doc: serde_json::Value =
        serde_json::from_str(&imp.residual.as_ref().expect("a residual").text).unwrap();
    let min: Vec<&serde_json::Value> = doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["chain"] == "sockc_min_input")
        .collect();
    assert_eq!(
        min[1]["expr"],
        serde_json::json!([
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "nexthdr"}},
                       "right": {"set": [0, 43, 44, 51, 60]}}},
            {"goto": {"target": "sockc_full_input"}}
        ]),
        "{doc:#}"
    );
    // a set of ports is read past them too
    let set = "table inet f {\n\tset p {\n\t\ttype inet_service\n\t\telements = { 22, 23 }\n\t}\n\
               \tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\t\
               meta l4proto tcp th dport @p drop\n\t}\n}\n";
    let imp = run(set);
    assert_eq!(min_input(&imp)[..2], [clear, to_full], "{}", imp.sk_text);
}

/// The residual's mark bit is none a rule looks for set: the `min` chain clears it
/// before the rules read the mark, so a test of it would never match again. Before,
/// `-m mark --mark 0x80000000/0x80000000 -j DROP` beside a kept REJECT took bit 31,
/// and a datagram sent with `SO_MARK` 0x80000000 passed where netfilter dropped it.
/// A test that wants the bit clear leaves it free (a packet that comes with it is read
/// as without it, docs/import.md), and so does a `fib` lookup keyed by the mark.
#[test]
fn the_residual_mark_bit_is_none_a_rule_looks_for() {
    let ipt = "# Generated by iptables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
               -A OUTPUT -p tcp --dport 9 -j REJECT --reject-with tcp-reset\n\
               -A OUTPUT -m mark --mark 0x80000000/0x80000000 -j DROP\n\
               COMMIT\n";
    let nft = "table inet f {\n  chain out {\n    type filter hook output priority 0; \
               policy accept;\n    tcp dport 9 reject with tcp reset\n    \
               meta mark & 0xc0000000 == 0xc0000000 drop\n  }\n}\n";
    let clear = "table inet f {\n  chain out {\n    type filter hook output priority 0; \
                 policy accept;\n    tcp dport 9 reject with tcp reset\n    \
                 meta mark & 0x80000000 == 0 drop\n  }\n}\n";
    for (text, bit) in [
        (ipt, "0x40000000"),
        (nft, "0x20000000"),
        (clear, "0x80000000"),
    ] {
        let imp = run(text);
        let head = format!("mark {bit}");
        assert!(
            imp.sk_text
                .lines()
                .any(|l| l.starts_with("residual ") && l.ends_with(&head)),
            "{bit}: {}",
            imp.sk_text
        );
    }
}

/// A mark set from something other than a number or the other mark may set any bit:
/// `meta mark set tcp sequence` leaves no bit for the residual (before, the words
/// `meta mark` in it counted as a copy of a mark, bit 31 was taken, and a SYN whose
/// sequence number set it passed where netfilter dropped it).
#[test]
fn a_mark_set_from_a_packet_field_leaves_no_bit() {
    let nft = "table ip t {\n chain p {\n  type filter hook prerouting priority -150; \
               policy accept;\n  tcp dport 7 meta mark set tcp sequence\n }\n chain inp {\n  \
               type filter hook input priority 0; policy accept;\n  \
               tcp dport 7 meta mark & 0x80000000 == 0x80000000 drop\n  \
               tcp dport 8 reject with tcp reset\n }\n}\n";
    let imp = run(nft);
    assert!(imp.residual.is_none(), "{}", imp.sk_text);
}
