//! nft's `iif`/`oif` (and `meta iif`), which compare the device's index, import
//! exact as `in index N` where the index is known: a number (the index nft stored),
//! or `"lo"` (the loopback, index 1 in every namespace); another name stays in the
//! residual (nft looked its index up at load). The listings are what nft 1.0.6
//! prints (`nft list ruleset`, `nft -j list ruleset`) for a namespace with a device
//! `eth0`: indexes that name no device print as numbers. Every output compiles.

use crate::common;

use common::{compiles_with_residual, import_at, rule_lines, status_of};
use sockc_import::{Hook, Status};

const TEXT: &str = "\
table inet filter {\n\
    chain input {\n\
        type filter hook input priority filter; policy drop;\n\
        iif \"lo\" accept\n\
        iif 7 udp dport 53 accept\n\
        iif != \"lo\" tcp dport 22 drop\n\
        iif \"eth0\" tcp dport 80 accept\n\
        iif { \"lo\", 9 } udp dport 123 accept\n\
    }\n\
\n\
    chain output {\n\
        type filter hook output priority filter; policy accept;\n\
        oif \"lo\" accept\n\
        oif != 9 udp dport 53 drop\n\
    }\n\
}\n\
";

const JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "filter", "handle": 1}}, {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"chain": {"family": "inet", "table": "filter", "name": "output", "handle": 2, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "7"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 5, "expr": [{"match": {"op": "!=", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "eth0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 8, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": {"set": ["lo", "9"]}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 123}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "output", "handle": 9, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oif"}}, "right": "lo"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "output", "handle": 10, "expr": [{"match": {"op": "!=", "left": {"meta": {"key": "oif"}}, "right": "9"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"drop": null}]}}]}"#;

const WRITTEN: [&str; 8] = [
    "allow in index 1",
    "allow udp to *:53 in index 7",
    "drop tcp to *:22 in index !1",
    "allow udp to *:123 in index 1",
    "allow udp to *:123 in index 9",
    "allow out index 1",
    "drop udp to *:53 out index !9",
    // `iif "eth0"` is not among them: it is in the residual.
    "allow mark 0x80000000/0x80000000",
];

#[test]
fn known_indexes_are_exact_and_other_names_stay_in_netfilter() {
    let imp = import_at(TEXT, Hook::Netfilter);
    for line in [4, 5, 6, 8, 13, 14] {
        let (status, why) = status_of(&imp, line);
        assert_eq!(status, Status::Exact, "line {line}: {why}");
    }
    let (status, why) = status_of(&imp, 7);
    assert_eq!(status, Status::Residual, "iif \"eth0\": {why}");
    assert!(
        why.contains("index fixed when the rule was loaded"),
        "{why}"
    );
    let rules = rule_lines(&imp);
    for want in WRITTEN {
        assert!(rules.iter().any(|r| r == want), "{want} in {rules:#?}");
    }
    assert!(!rules.iter().any(|r| r.contains("eth0")), "{rules:#?}");
    assert!(imp
        .residual
        .as_ref()
        .is_some_and(|r| r.text.contains("iif \"eth0\"")));
    compiles_with_residual(&imp);
}

#[test]
fn the_json_listing_imports_the_same_rules() {
    let text = import_at(TEXT, Hook::Netfilter);
    let json = import_at(JSON, Hook::Netfilter);
    assert_eq!(rule_lines(&text), rule_lines(&json));
    let statuses = |imp: &sockc_import::Import| -> Vec<Status> {
        imp.report.rules.iter().map(|r| r.status).collect()
    };
    assert_eq!(statuses(&text), statuses(&json));
    compiles_with_residual(&json);
}

/// At XDP on eth0, `iif "lo"` never matches (eth0 is not the loopback); an index
/// the import does not know cannot be decided there, so its rule is not written.
#[test]
fn an_ingress_place_decides_only_the_loopback_index() {
    let imp = import_at(TEXT, Hook::Xdp);
    let (status, why) = status_of(&imp, 4);
    assert!(why.contains("never matches"), "{status:?}: {why}");
    for line in [5, 8] {
        let (status, why) = status_of(&imp, line);
        assert_eq!(status, Status::Unsupported, "line {line}: {why}");
        assert!(why.contains("interface index"), "{why}");
    }
}
