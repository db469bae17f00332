//! The TTL and the hop limit (`-m ttl`, `-m hl`, nft `ip ttl`, `ip6 hoplimit`, text
//! and JSON) import exact, as `ttl` and `hoplimit`, with every operator netfilter
//! writes; the same ruleset read from iptables-save, nft text and nft JSON gives the
//! same rules; every output compiles.

use crate::common;

use common::{compile, compiles_with_residual, import_at, rule_lines};
use sockc_import::{Hook, Import, Status};

fn all_exact(imp: &Import) {
    for r in &imp.report.rules {
        assert_eq!(r.status, Status::Exact, "line {}: {}", r.line, r.reason);
    }
}

/// At xdp and tc an input chain's drop is stricter (it meets forwarded packets too),
/// but nothing is refused for its header field.
fn written(imp: &Import) {
    for r in &imp.report.rules {
        assert!(
            matches!(r.status, Status::Exact | Status::Approximate) && !r.reason.contains("header"),
            "line {}: {:?} {}",
            r.line,
            r.status,
            r.reason
        );
    }
}

const V4: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A INPUT -m ttl --ttl-eq 1 -j DROP\n\
-A INPUT -p tcp -m tcp --dport 22 -m ttl ! --ttl-eq 64 -j DROP\n\
-A INPUT -m ttl --ttl-lt 5 -j DROP\n\
-A INPUT -m ttl --ttl-gt 250 -j DROP\n\
COMMIT\n";

const V6: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255 -j ACCEPT\n\
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j DROP\n\
-A INPUT -m hl --hl-lt 2 -j DROP\n\
COMMIT\n";

const NFT: &str =
    "table inet t {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\
\t\tip ttl 1 drop\n\
\t\tip ttl != 64 tcp dport 22 drop\n\
\t\tip ttl < 5 drop\n\
\t\tip ttl > 250 drop\n\
\t\ticmpv6 type nd-neighbor-solicit ip6 hoplimit 255 accept\n\
\t\ticmpv6 type nd-neighbor-solicit drop\n\
\t\tip6 hoplimit { 1, 200-210 } drop\n\
\t}\n}\n";

const NFT_JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "t", "handle": 1}}, {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 1}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [{"match": {"op": "<", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 5}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}}, "right": "nd-neighbor-solicit"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "hoplimit"}}, "right": 255}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 5, "expr": [{"match": {"op": "!=", "left": {"payload": {"protocol": "ip6", "field": "hoplimit"}}, "right": {"set": [1, {"range": [200, 210]}]}}}, {"accept": null}]}}]}"#;

#[test]
fn iptables_ttl_and_hl_are_exact() {
    for hook in [Hook::Netfilter, Hook::Xdp, Hook::Tc] {
        let imp = import_at(V4, hook);
        let check = if hook == Hook::Netfilter {
            all_exact
        } else {
            written
        };
        check(&imp);
        let rules = rule_lines(&imp);
        for want in [
            "drop ip4 ttl 1",
            "drop ip4 tcp to *:22 ttl 0-63,65-255",
            "drop ip4 ttl 0-4",
            "drop ip4 ttl 251-255",
        ] {
            assert!(rules.iter().any(|r| r == want), "{want} in {rules:#?}");
        }
        compile(&imp.sk_text, None).unwrap();
        let imp = import_at(V6, hook);
        check(&imp);
        let rules = rule_lines(&imp);
        for want in [
            "allow icmpv6 type 135 hoplimit 255",
            "drop icmpv6 type 135",
            "drop ip6 hoplimit 0-1",
        ] {
            assert!(rules.iter().any(|r| r == want), "{want} in {rules:#?}");
        }
        compiles_with_residual(&imp);
    }
}

#[test]
fn nft_ttl_and_hoplimit_are_exact_from_text_and_json() {
    let text = import_at(NFT, Hook::Netfilter);
    all_exact(&text);
    let rules = rule_lines(&text);
    for want in [
        "drop ip4 ttl 1",
        "drop ip4 tcp to *:22 ttl 0-63,65-255",
        "drop ip4 ttl 0-4",
        "drop ip4 ttl 251-255",
        "allow icmpv6 type 135 hoplimit 255",
        "drop ip6 hoplimit 1,200-210",
    ] {
        assert!(rules.iter().any(|r| r == want), "{want} in {rules:#?}");
    }
    compiles_with_residual(&text);
    let json = import_at(NFT_JSON, Hook::Netfilter);
    all_exact(&json);
    let rules = rule_lines(&json);
    for want in [
        "drop ip4 ttl 1",
        "drop ip4 ttl 0-4",
        "allow icmpv6 type 135 hoplimit 255",
        "allow ip6 hoplimit 0,2-199,211-255",
    ] {
        assert!(rules.iter().any(|r| r == want), "{want} in {rules:#?}");
    }
    compiles_with_residual(&json);
}
