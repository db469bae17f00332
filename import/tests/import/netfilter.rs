//! The netfilter placement (`--hook netfilter`, the default): one `netfilter HOOK
//! priority N` block per hook and priority of the source's base chains, one priority
//! after them; several base chains on one hook compose as the kernel runs them (an
//! accept ends only its own block); `ct state` is exact; what a netfilter block
//! cannot do (answer a reject, match an interface, rate-limit while
//! `Feature::NetfilterLimit` is off) is reported with its reason. Every output
//! compiles.

use crate::common;

use common::compile;
use sockc_import::{features::Feature, import, lower, Hook, Import, Options, Status};

fn run(text: &str) -> Import {
    let imp = import(
        text,
        &Options {
            from: None,
            hook: Hook::default(),
            interface: None,
            source_name: None,
        },
    )
    .unwrap();
    if let Err(e) = compile(&imp.sk_text, None) {
        panic!("the import does not compile:\n{e}\n{}", imp.sk_text);
    }
    imp
}

fn status_of(imp: &Import, line: u32) -> (Status, String) {
    let r = imp
        .report
        .rules
        .iter()
        .find(|r| r.line == line)
        .unwrap_or_else(|| panic!("no rule at line {line}"));
    (r.status, r.reason.clone())
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
            "netfilter input priority -9 {",
            "allow tcp to *:22",
            "drop udp to *:53",
            "default allow",
            "}",
            "netfilter input priority 1 {",
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
    // accept is reported, never called exact. (`late`, registered last, runs first.)
    let text = "table inet b {\n\tchain late2 {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr 192.0.2.0/24 drop\n\t}\n}\n\
        table inet a {\n\tchain late {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n";
    let imp = run(text);
    let (s, why) = status_of(&imp, 10);
    assert_eq!(s, Status::Unsupported, "{}", imp.sk_text);
    assert!(why.contains("drop policy after it"), "{why}");
}

#[test]
fn an_inet_drop_policy_is_the_block_default() {
    let text = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t}\n}\n";
    let imp = run(text);
    assert_eq!(
        code_of(&imp),
        [
            "netfilter input priority 1 {",
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
    let imp = run(text);
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
