//! Small hand-written rulesets, each showing one thing the import must do and say:
//! ipsets become set files, loops are reported, an unsupported `return` blames the
//! rules after it, interfaces are decided where the block attaches, policies only
//! drop IP traffic, and the netfilter placement says what it lacks.

mod common;

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
            ["allow", "drop", "count", "default"]
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
    assert!(why.contains("`limit`"), "{why}");
    let (s, why) = status_of(&imp, 8);
    assert_eq!(s, Status::Unsupported);
    assert!(
        why.contains("line 7 needs `limit`") && why.contains("more permissive"),
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
fn reject_and_log_are_stricter_approximations() {
    let text = format!("{HEAD}-A INPUT -p tcp --dport 113 -j REJECT --reject-with tcp-reset\n-A INPUT -j LOG --log-prefix \"x \"\nCOMMIT\n");
    let imp = run(&text, Hook::Tc);
    let (s, why) = status_of(&imp, 5);
    assert_eq!(s, Status::Approximate);
    assert!(why.contains("no TCP reset"), "{why}");
    let (s, why) = status_of(&imp, 6);
    assert_eq!(s, Status::Approximate);
    assert!(why.contains("counted"), "{why}");
    assert_eq!(
        rules_of(&imp)[..3],
        ["drop ip4 tcp to *:113", "count ip4", "drop ip4"]
    );
}

#[test]
fn the_netfilter_placement_names_what_it_lacks() {
    let text = format!("{HEAD}-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -m conntrack --ctstate NEW -j DROP\nCOMMIT\n");
    let imp = run(&text, Hook::Netfilter);
    assert!(rules_of(&imp).is_empty(), "{}", imp.sk_text);
    let (s, why) = status_of(&imp, 5);
    assert_eq!(s, Status::Unsupported);
    assert!(why.contains("netfilter hook blocks"), "{why}");
    let (_, why) = status_of(&imp, 6);
    assert!(
        why.contains("`ct state`") && why.contains("netfilter hook blocks"),
        "{why}"
    );
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
