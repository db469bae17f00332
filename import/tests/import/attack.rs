//! Defects found by a held-out attack pass over the import (issue 48, helper
//! h48-attack): rulesets real hosts run together, each accepted by the real tool,
//! whose import exited 0 with an output that `check` accepts but `apply` or the kernel
//! cannot run as the original. One test each; the kernel half is the differential
//! (`tests/differential/import.rs`) over the corpus files named here.

use sockc_import::{import, Hook, Import, Options};

fn at_netfilter(text: &str) -> Import {
    let opts = Options {
        hook: Hook::Netfilter,
        ..Default::default()
    };
    import(text, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// The `netfilter HOOK priority N` heads of the rule file, as (hook, priority).
fn blocks(imp: &Import) -> Vec<(String, i32)> {
    imp.sk_text
        .lines()
        .filter_map(|l| l.strip_prefix("netfilter "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_string(), w[2].parse().expect("a priority"))
        })
        .collect()
}

/// The (hook, priority) of every base chain of an nft text ruleset.
fn chains(text: &str) -> Vec<(String, i32)> {
    let named = |w: &str| match w {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        n => n.parse().expect("a priority"),
    };
    text.lines()
        .filter(|l| l.contains(" hook "))
        .filter_map(|l| l.trim().strip_prefix("type "))
        .map(|l| {
            let w: Vec<&str> = l.trim_end_matches(';').split_whitespace().collect();
            let base = named(w[4].trim_end_matches(';'));
            let delta = match w.get(5).copied() {
                Some("+") => w[6].trim_end_matches(';').parse::<i32>().unwrap(),
                Some("-") => -w[6].trim_end_matches(';').parse::<i32>().unwrap(),
                _ => 0,
            };
            (w[2].to_string(), base + delta)
        })
        .collect()
}

/// fail2ban's nftables action (its chain at `filter - 1`) beside a distribution's
/// `inet filter` table at `filter`: each block ran one priority after its chains, so
/// fail2ban's block sat at 0 where the distribution's chain (its residual dispatcher)
/// is, and the distribution's block at 1 where fail2ban's glue is. The kernel refuses
/// a BPF netfilter hook at a priority another function holds (`EBUSY`): `apply`
/// failed on a file `check` accepted. A block (and the glue one after it) must sit
/// where no function of the pair is; a place with no such room runs in netfilter
/// alone.
#[test]
fn no_block_sits_at_a_priority_a_chain_of_the_pair_holds() {
    let text = "table inet f2b-table {
\tset addr-set-sshd {
\t\ttype ipv4_addr
\t\telements = { 192.0.2.10 }
\t}
\tchain f2b-chain {
\t\ttype filter hook input priority filter - 1; policy accept;
\t\ttcp dport 22 ip saddr @addr-set-sshd reject with icmp port-unreachable
\t}
}
table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiifname \"lo\" accept
\t\tip ttl 1 accept
\t\ttcp dport 22 accept
\t}
}
";
    let imp = at_netfilter(text);
    let taken = chains(text);
    for (hook, prio) in blocks(&imp) {
        for p in [prio, prio + 1] {
            assert!(
                !taken.iter().any(|(h, q)| *h == hook && *q == p),
                "a block at {hook} priority {prio} (its glue at {}) meets a chain of the \
                 original at {p}:\n{}",
                prio + 1,
                imp.sk_text
            );
        }
    }
}

/// A filter chain just before a fixed function of the kernel (conntrack at -200, NAT
/// at -100 and 100): its block one priority later would share the kernel function's
/// priority, which the kernel refuses.
#[test]
fn no_block_sits_at_the_priority_of_conntrack_or_nat() {
    let text = "table ip nat {
\tchain pre {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\ttcp dport 2222 dnat to 10.99.0.1:22
\t}
}
table ip f {
\tchain pre {
\t\ttype filter hook prerouting priority -101; policy accept;
\t\tip daddr 10.99.0.1 drop
\t}
\tchain early {
\t\ttype filter hook prerouting priority -201; policy accept;
\t\tip daddr 10.99.0.2 drop
\t}
}
";
    let imp = at_netfilter(text);
    for (hook, prio) in blocks(&imp) {
        assert!(
            ![-200, -100, 100, 300].contains(&prio),
            "a block at {hook} priority {prio}, a kernel function's:\n{}",
            imp.sk_text
        );
    }
}

/// `-s A,B` (and `-d`): a comma list iptables-restore accepts and writes as one rule
/// per address, sources outer and destinations inner. The import refused the whole
/// file (exit 1) over one such line of a hand-kept restore file. Each address is its
/// own rule now, and the residual keeps each with its own address, as iptables would.
#[test]
fn comma_lists_of_addresses_are_one_rule_per_address() {
    let text = "*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 10.0.0.0/8,192.168.0.0/16 -p udp -m udp --dport 161 -j ACCEPT
-A INPUT -s 192.0.2.1,192.0.2.2 -d 198.51.100.1,198.51.100.2 -m recent --rcheck --name knock -j ACCEPT
COMMIT
";
    let imp = at_netfilter(text);
    let written: Vec<&str> = imp
        .sk_text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("allow ip4"))
        .collect();
    assert_eq!(
        written,
        [
            "allow ip4 udp from 10.0.0.0/8 to *:161",
            "allow ip4 udp from 192.168.0.0/16 to *:161"
        ],
        "{}",
        imp.sk_text
    );
    let residual = &imp.residual.as_ref().expect("a residual").text;
    let kept: Vec<&str> = residual
        .lines()
        .filter(|l| l.contains("-m0 ") && l.contains("--rcheck"))
        .collect();
    assert_eq!(kept.len(), 4, "{residual}");
    for (s, d) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
        let want = format!("-s 192.0.2.{s} -d 198.51.100.{d} ");
        assert!(kept.iter().any(|l| l.contains(&want)), "{want}\n{residual}");
    }
}

/// nft's JSON input is also a list of commands (`{"add": {"rule": ...}}`, what `nft
/// -j -f` loads and firewalld sends): the import noted "`add` objects are not
/// imported" and exited 0 with no rule at all, an open firewall for a chain with
/// `policy drop`. `add`/`create` of tables, chains, sets, maps and rules (appended,
/// as the listing has them) read as the listing's objects; a leading `flush ruleset`
/// is the empty start the import assumes; any other command (insert, delete, replace,
/// a position) is refused at its place rather than dropped.
#[test]
fn nft_json_commands_are_read_or_refused_never_dropped() {
    let add = r#"{"nftables": [
 {"flush": {"ruleset": null}},
 {"add": {"table": {"family": "inet", "name": "t"}}},
 {"add": {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}},
 {"add": {"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}}}
]}"#;
    let opts = Options {
        hook: Hook::Netfilter,
        from: Some(sockc_import::Format::NftJson),
        ..Default::default()
    };
    let imp = import(add, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(imp.report.rules.len(), 1, "{}", imp.sk_text);
    assert!(imp.sk_text.contains("allow tcp to *:22"), "{}", imp.sk_text);
    assert!(imp.sk_text.contains("default drop"), "{}", imp.sk_text);
    for other in [
        r#"{"insert": {"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [{"drop": null}]}}}"#,
        r#"{"delete": {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3}}}"#,
        r#"{"add": {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [{"drop": null}]}}}"#,
        r#"{"add": {"element": {"family": "inet", "table": "t", "name": "s", "elem": [1]}}}"#,
    ] {
        let text = add.replacen("\n]}", &format!(",\n {other}\n]}}"), 1);
        let err = import(&text, &opts).err();
        assert!(
            err.is_some(),
            "imported with a command it does not read: {other}"
        );
    }
}

/// `add` of a table or chain that is already there is a no-op for nft (or a policy
/// change); a listing never has one twice, so the import refuses it rather than
/// guess which one the rules meant.
#[test]
fn an_nft_json_table_or_chain_given_twice_is_refused() {
    let table = r#"{"add": {"table": {"family": "inet", "name": "t"}}}"#;
    let chain = r#"{"add": {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}}"#;
    let opts = Options {
        hook: Hook::Netfilter,
        from: Some(sockc_import::Format::NftJson),
        ..Default::default()
    };
    for doc in [
        format!(r#"{{"nftables": [{table}, {table}]}}"#),
        format!(r#"{{"nftables": [{table}, {chain}, {chain}]}}"#),
    ] {
        assert!(import(&doc, &opts).is_err(), "{doc}");
    }
}

/// `nft list ruleset` on a host whose iptables is iptables-nft shows the compat
/// expressions it writes (`xt match connlimit`, `xt target CT`). The import read `xt
/// match` as a statement with an effect, not a match: a `... xt match connlimit ...
/// reject` rule shadowed every later rule for the same packets ("never match"), and
/// its residual held `xt` expressions that nft refuses to load (`unsupported xtables
/// compat expression`), so `apply` failed on a file `check` accepted. `xt match` is a
/// match, and no residual is written with `xt` in it (the import is not exact and says
/// to import the iptables-save output instead).
#[test]
fn xtables_compat_expressions_are_matches_and_never_reach_a_residual() {
    let text = "table ip filter {
\tchain INPUT {
\t\ttype filter hook input priority filter; policy drop;
\t\ttcp flags syn / fin,syn,rst,ack xt match connlimit counter packets 0 bytes 0 reject with tcp reset
\t\ttcp dport 22 accept
\t}
}
";
    let imp = at_netfilter(text);
    assert_eq!(imp.report.summary.never, 0, "{}", imp.sk_text);
    assert!(imp.residual.is_none(), "{:?}", imp.residual);
    assert!(
        imp.inexact.iter().any(|w| w.contains("xtables compat")),
        "{:?}",
        imp.inexact
    );
    let json = r#"{"nftables": [
 {"table": {"family": "ip", "name": "filter", "handle": 1}},
 {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
 {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2, "expr": [{"xt": {"type": "match", "name": "connlimit"}}, {"reject": {"type": "tcp reset"}}]}},
 {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}}
]}"#;
    let imp = at_netfilter(json);
    assert_eq!(imp.report.summary.never, 0, "{}", imp.sk_text);
    assert!(imp.residual.is_none(), "{:?}", imp.residual);
}
