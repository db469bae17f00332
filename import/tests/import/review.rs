//! Defects a second attack pass over the import found (issue 50's helper wave, helper
//! h64-review): rulesets written by hand to break "exact" and "never loses a rule",
//! each checked against nft 1.0.6 or the kernel, whose import exited 0 and called a
//! rule exact that netfilter decides otherwise. One test each, failing before its fix;
//! docs/benchmarks.md ("The import under attack, second pass") lists every attack tried.

use sockc_import::{import, Hook, Import, Options};

fn at_netfilter(text: &str) -> Import {
    let opts = Options {
        hook: Hook::Netfilter,
        ..Default::default()
    };
    import(text, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// The rule lines of the rule file (no comments, no block heads).
fn rules(imp: &Import) -> Vec<String> {
    imp.sk_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|l| !l.starts_with("netfilter ") && !l.starts_with("residual ") && *l != "}")
        .map(|l| l.split("    #").next().unwrap_or(l).trim().to_string())
        .collect()
}

/// nft reads a one-element anonymous set of flags with no operator as its element
/// alone, "any of these bits": `tcp flags { rst }` loads as `tcp flags & rst != 0`
/// and lists back as `tcp flags rst` (nft 1.0.6, `--debug=netlink`, text and JSON's
/// `"op": "in"`), so it drops a RST+ACK segment. The import read it as set membership,
/// flags exactly RST, and let RST+ACK through while calling the rule exact. `==` with
/// the set, `!=`, and sets of two or more elements are compared whole, as before.
#[test]
fn a_one_element_set_of_flags_without_an_operator_is_any_of_its_bits() {
    let text = "table inet t {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\ttcp flags { rst } drop
\t\ttcp dport 22 tcp flags == { syn } drop
\t\ttcp dport 23 tcp flags { syn, ack } drop
\t\tct status { dnat } accept
\t}
}
";
    let imp = at_netfilter(text);
    let got = rules(&imp);
    assert_eq!(got[0], "drop tcp rst", "{}", imp.sk_text);
    assert_eq!(
        got[1], "drop tcp to *:22 !fin syn !rst !psh !ack !urg !ece !cwr",
        "{}",
        imp.sk_text
    );
    // The conntrack status's one-element set is one bit too: `ct status dnat`, exact.
    assert_eq!(got[4], "allow ct status dnat", "{}", imp.sk_text);
    assert_eq!(imp.report.summary.exact, 4, "{}", imp.sk_text);
    let json = r#"{"nftables": [
 {"table": {"family": "inet", "name": "t", "handle": 1}},
 {"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
 {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 2, "expr": [{"match": {"op": "in", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": {"set": ["rst"]}}}, {"drop": null}]}}
]}"#;
    let imp = at_netfilter(json);
    assert!(
        rules(&imp).contains(&"drop tcp rst".to_string()),
        "{}",
        imp.sk_text
    );
}
