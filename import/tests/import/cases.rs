//! Small hand-written rulesets, each showing one thing the import must do and say:
//! ipsets become set files, loops are reported, an unsupported `return` blames the
//! rules after it, interfaces are decided where the block attaches, policies only
//! drop IP traffic (the netfilter placement has its own file, `netfilter.rs`).

use crate::common;

use common::compile;
use sockc_import::{import, Hook, Import, Options, Status};

fn run(text: &str, hook: Hook) -> Import {
    import(
        text,
        &Options {
            from: None,
            hook,
            interface: Some("eth0".into()),
            source_name: None,
        },
    )
    .unwrap()
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

fn rules_of(imp: &Import) -> Vec<String> {
    imp.sk_text
        .lines()
        .map(str::trim)
        .filter(|l| {
            ["allow", "drop", "reject", "count", "default"]
                .iter()
                .any(|a| l.starts_with(a))
        })
        .map(|l| l.split("    #").next().unwrap().trim().to_string())
        .collect()
}

const HEAD: &str = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";

#[test]
fn ipsets_become_set_files_and_compile() {
    let text = format!("{HEAD}-A INPUT -m set --match-set blocked-hosts src -j DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
    let imp = run(&text, Hook::Xdp);
    assert!(
        imp.sk_text
            .contains("set blocked_hosts = file \"blocked_hosts.txt\""),
        "{}",
        imp.sk_text
    );
    assert!(
        imp.sk_text.contains("ipset save blocked-hosts"),
        "{}",
        imp.sk_text
    );
    assert_eq!(imp.set_files.len(), 1);
    assert_eq!(rules_of(&imp)[0], "drop ip4 from @blocked_hosts");
    let dir = std::env::temp_dir().join(format!("sockc-import-sets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("blocked_hosts.txt"),
        "192.0.2.1\n198.51.100.0/24\n",
    )
    .unwrap();
    let compiled = compile(&imp.sk_text, Some(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    compiled.unwrap();
}

#[test]
fn a_negated_ipset_lookup_is_unsupported() {
    let text = format!("{HEAD}-A INPUT -m set ! --match-set ok src -j DROP\nCOMMIT\n");
    let imp = run(&text, Hook::Xdp);
    let (s, why) = status_of(&imp, 5);
    assert_eq!(s, Status::Unsupported);
    assert!(
        why.contains("complement of set ok") && why.contains("more permissive"),
        "{why}"
    );
}

#[test]
fn loops_are_refused_at_the_jump() {
    // iptables-restore refuses this ruleset ("Too many levels of symbolic links").
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -p tcp -j B\n-A B -j A\n-A B -j DROP\nCOMMIT\n";
    let o = Options {
        from: None,
        hook: Hook::Netfilter,
        interface: None,
        source_name: None,
    };
    match import(text, &o) {
        Err(sockc_import::ImportError::Syntax(d)) => {
            assert_eq!((d[0].span.line, d[0].span.column), (7, 1), "{d:?}");
            assert!(d[0].message.contains("A → B → A"), "{d:?}");
        }
        other => panic!("expected the loop refused, got {other:?}"),
    }
}

#[test]
fn an_unsupported_return_blames_itself_and_leaves_out_what_it_guards() {
    let text = "table inet t {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp flags syn / fin,syn,rst,ack jump flood\n\t}\n\tchain flood {\n\t\tlimit rate 25/second burst 50 packets return\n\t\tdrop\n\t}\n}\n";
    let imp = run(text, Hook::Tc);
    let (s, why) = status_of(&imp, 7);
    assert_eq!(s, Status::Unsupported, "{why}");
    assert!(why.contains("one bucket per rule"), "{why}");
    let (s, why) = status_of(&imp, 8);
    assert_eq!(s, Status::Unsupported);
    assert!(
        why.contains("line 7 needs a rate limit") && why.contains("more permissive"),
        "{why}"
    );
    assert_eq!(rules_of(&imp), ["default allow"]);
}

#[test]
fn interfaces_are_decided_where_the_block_attaches() {
    let text = format!("{HEAD}-A INPUT -i lo -j ACCEPT\n-A INPUT -i eth+ -p udp --dport 53 -j ACCEPT\n-A INPUT ! -i eth0 -p tcp -j DROP\nCOMMIT\n");
    let imp = run(&text, Hook::Xdp);
    assert!(
        status_of(&imp, 5).1.contains("never matches"),
        "{:?}",
        status_of(&imp, 5)
    );
    assert_eq!(status_of(&imp, 6).0, Status::Exact);
    assert_eq!(
        rules_of(&imp),
        ["allow ip4 udp to *:53", "drop ip4", "default allow"]
    );
}

#[test]
fn reject_is_exact_at_ingress_and_log_a_stricter_approximation() {
    let text = format!("{HEAD}-A INPUT -p tcp --dport 113 -j REJECT --reject-with tcp-reset\n-A INPUT -j LOG --log-prefix \"x \"\n-A INPUT -p udp -j REJECT\n-A INPUT -p tcp -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n");
    let imp = run(&text, Hook::Tc);
    // approximate only for where it runs (input and forward at one ingress)
    for line in [5, 7] {
        let (s, why) = status_of(&imp, line);
        assert_ne!(s, Status::Unsupported, "{why}");
        assert!(!why.contains("instead of rejected"), "{why}");
    }
    let (s, why) = status_of(&imp, 6);
    assert_eq!(s, Status::Approximate);
    assert!(why.contains("counted"), "{why}");
    let (s, why) = status_of(&imp, 8);
    assert_eq!(s, Status::Approximate);
    assert!(why.contains("no `icmp-host-prohibited` answer"), "{why}");
    assert_eq!(
        rules_of(&imp)[..5],
        [
            "reject ip4 tcp to *:113 with tcp-reset",
            "count ip4",
            // iptables answers TCP with port unreachable too, unless told otherwise
            "reject ip4 udp with icmp port-unreachable",
            "drop ip4 tcp",
            "drop ip4"
        ]
    );
    compile(&imp.sk_text, None).unwrap();
}

/// An imported reject keeps the kernel's limits on its ICMP answers, as netfilter's
/// does: the file sets none (`reject answers`), so the compiled object takes the
/// kernel's sysctls where it is applied, and the answer is not what makes the rule
/// approximate.
#[test]
fn reject_answers_keep_the_kernels_limits() {
    let text = format!("{HEAD}-A INPUT -p udp -j REJECT\nCOMMIT\n");
    let imp = run(&text, Hook::Xdp);
    // (approximate, if at all, for where the rule runs, never for its answer)
    let (_, why) = status_of(&imp, 5);
    assert!(!why.contains("reject") && !why.contains("answer"), "{why}");
    assert_eq!(
        rules_of(&imp)[0],
        "reject ip4 udp with icmp port-unreachable"
    );
    assert!(!imp.sk_text.contains("reject answers"), "{}", imp.sk_text);
    let c = compile(&imp.sk_text, None).unwrap();
    let kernel = sockc_compiler::syntax::answers::AnswerLimits::default();
    assert!(kernel.reads_kernel() && c.module.answers == kernel);
    assert_eq!(c.metadata.answers, Some(kernel));
}

#[test]
fn reject_kinds_map_to_the_language_answers() {
    for (with, words) in [
        ("icmp-net-unreachable", "icmp net-unreachable"),
        ("icmp-host-unreachable", "icmp host-unreachable"),
        ("icmp-admin-prohibited", "icmp admin-prohibited"),
        ("icmp-port-unreachable", "icmp port-unreachable"),
    ] {
        let text = format!("{HEAD}-A INPUT -p udp -j REJECT --reject-with {with}\nCOMMIT\n");
        let imp = run(&text, Hook::Xdp);
        assert_eq!(rules_of(&imp)[0], format!("reject ip4 udp with {words}"));
    }
    let six = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    for (with, words) in [
        ("icmp6-no-route", "icmp net-unreachable"),
        ("icmp6-addr-unreachable", "icmp host-unreachable"),
        ("icmp6-adm-prohibited", "icmp admin-prohibited"),
        ("icmp6-port-unreachable", "icmp port-unreachable"),
    ] {
        let text = format!("# Generated by ip6tables-save\n{six}-A INPUT -p udp -j REJECT --reject-with {with}\nCOMMIT\n");
        let imp = run(&text, Hook::Xdp);
        assert_eq!(
            rules_of(&imp)[0],
            format!("reject ip6 udp with {words}"),
            "{}",
            imp.sk_text
        );
    }
}

#[test]
fn nft_reject_kinds_keep_their_family() {
    let text = "table inet t {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 25 reject with icmp type host-unreachable\n\t\tudp dport 53 reject with icmpx admin-prohibited\n\t\ttcp dport 80 reject with tcp reset\n\t\treject\n\t}\n}\n";
    let imp = run(text, Hook::Xdp);
    assert_eq!(
        rules_of(&imp),
        [
            // nft's `icmp type` implies IPv4 (it hides the dependency when it lists)
            "reject ip4 tcp to *:25 with icmp host-unreachable",
            "reject udp to *:53 with icmp admin-prohibited",
            "reject tcp to *:80 with tcp-reset",
            "reject any with icmp port-unreachable",
            "default allow"
        ],
        "{}",
        imp.sk_text
    );
    compile(&imp.sk_text, None).unwrap();
}

#[test]
fn an_output_reject_at_tc_egress_stays_a_drop() {
    let text =
        format!("{HEAD}-A OUTPUT -p tcp --dport 25 -j REJECT --reject-with tcp-reset\nCOMMIT\n");
    let imp = run(&text, Hook::Tc);
    let (s, why) = status_of(&imp, 5);
    assert_eq!(s, Status::Approximate);
    assert!(why.contains("tc egress cannot reject"), "{why}");
    assert!(
        rules_of(&imp).contains(&"drop ip4 tcp to *:25".to_string()),
        "{}",
        imp.sk_text
    );
    compile(&imp.sk_text, None).unwrap();
}

#[test]
fn limits_keep_one_bucket_per_rule_or_stay_unsupported() {
    let text = format!("{HEAD}-A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec --limit-burst 10 -j ACCEPT\n-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 3/min --hashlimit-mode srcip --hashlimit-name ssh -j ACCEPT\n-A INPUT -p tcp --dport 23 -m hashlimit --hashlimit-above 3/min --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name telnet -j DROP\n-A INPUT -p udp -m multiport --ports 53,123 -m limit -j ACCEPT\n-A INPUT -p tcp --dport 80 -m hashlimit --hashlimit-upto 3/min --hashlimit-mode dstip --hashlimit-name web -j ACCEPT\nCOMMIT\n");
    let imp = run(&text, Hook::Xdp);
    for line in [5, 6, 7] {
        let (s, why) = status_of(&imp, line);
        assert_eq!(s, Status::Approximate, "line {line}: {why}");
        assert!(why.contains("GCRA timing"), "{why}");
    }
    // two sockc rules would be two buckets; a bucket per destination is not a language construct
    assert_eq!(status_of(&imp, 8).0, Status::Unsupported);
    assert!(
        status_of(&imp, 8).1.contains("split"),
        "{:?}",
        status_of(&imp, 8)
    );
    assert_eq!(status_of(&imp, 9).0, Status::Unsupported);
    assert_eq!(
        rules_of(&imp)[..3],
        [
            "allow icmp type 8 limit 5/second burst 10",
            "allow ip4 tcp to *:22 limit 3/minute burst 5 per source",
            "drop ip4 tcp to *:23 limit over 3/minute burst 2 per source",
        ],
        "{}",
        imp.sk_text
    );
    compile(&imp.sk_text, None).unwrap();
}

#[test]
fn nft_limits_keep_their_default_bursts_and_byte_units() {
    let text = "table inet t {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 22 limit rate 3/minute accept\n\t\ttcp dport 80 limit rate over 10 mbytes/second drop\n\t\tudp dport 53 limit rate over 100/second burst 20 packets drop\n\t}\n}\n";
    let imp = run(text, Hook::Xdp);
    assert_eq!(
        rules_of(&imp),
        [
            "allow tcp to *:22 limit 3/minute burst 5",
            "drop tcp to *:80 limit over 10 mbytes/second",
            "drop udp to *:53 limit over 100/second burst 20",
            "default allow"
        ],
        "{}",
        imp.sk_text
    );
    compile(&imp.sk_text, None).unwrap();
}

#[test]
fn options_are_checked() {
    let text = format!("{HEAD}COMMIT\n");
    let no_iface = import(
        &text,
        &Options {
            hook: Hook::Xdp,
            ..Options::default()
        },
    );
    assert!(matches!(no_iface, Err(sockc_import::ImportError::Usage(_))));
    let unknown = import("hello\n", &Options::default());
    assert!(matches!(unknown, Err(sockc_import::ImportError::Usage(_))));
}
