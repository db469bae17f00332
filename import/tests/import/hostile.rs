//! Hostile input, built on purpose: what would make an import grow or run without
//! bound (jumps that fan out, a large return before many rules, a set of the wrong
//! type, a million-element set), loops netfilter refuses, thousands of chains, deep
//! nesting, NUL bytes and CRLF line ends. Each ends with an error at a line and
//! column, or with a bounded result.

use crate::common;

use std::time::{Duration, Instant};

use sockc_import::{
    import,
    model::NfHook,
    semantics::{
        self,
        atoms::Atoms,
        flatten::{Bound, Budget, Flattener},
    },
    Format, Hook, Import, ImportError, Options, Status,
};

fn opts(from: Option<Format>, hook: Hook) -> Options {
    Options {
        from,
        hook,
        interface: Some("eth0".into()),
        source_name: None,
        ..Default::default()
    }
}

fn run(text: &str) -> Result<Import, ImportError> {
    import(text, &opts(None, Hook::Tc))
}

/// The error's line and column and message, or a panic naming what came instead.
fn error_at(r: Result<Import, ImportError>) -> (u32, u32, String) {
    match r {
        Err(ImportError::Syntax(d)) => (d[0].span.line, d[0].span.column, d[0].message.clone()),
        Err(ImportError::TooLarge(d)) => (d.span.line, d.span.column, d.message),
        Err(e) => panic!("expected an error in the input, got {e:?}"),
        Ok(i) => panic!("expected an error, got an import:\n{}", i.sk_text),
    }
}

fn status_of(imp: &Import, line: u32) -> (Status, String) {
    let r = imp.report.rules.iter().find(|r| r.line == line).unwrap();
    (r.status, r.reason.clone())
}

/// `depth` user chains, each jumping twice to the next (two overlapping regions):
/// walking them takes 2^depth walks of the last chain.
fn fan_out(depth: usize, leaf: &str) -> String {
    let mut s = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for i in 0..=depth {
        s.push_str(&format!(":C{i} - [0:0]\n"));
    }
    s.push_str("-A INPUT -j C0\n");
    for i in 0..depth {
        s.push_str(&format!("-A C{i} -s 10.0.0.0/8 -j C{}\n", i + 1));
        s.push_str(&format!("-A C{i} -d 10.0.0.0/8 -j C{}\n", i + 1));
    }
    s.push_str(&format!("-A C{depth} {leaf}\nCOMMIT\n"));
    s
}

#[test]
fn jumps_that_fan_out_end_at_a_bound_with_the_rule() {
    let text = fan_out(40, "-p tcp -j DROP");
    let t = Instant::now();
    let (line, column, message) = error_at(run(&text));
    assert!(message.contains("too large to flatten"), "{message}");
    // the flat rules' weight (each carries its path of 41 jumps) or their number
    assert!(
        message.contains("ranges in all") || message.contains("flat rules"),
        "{message}"
    );
    // the leaf rule, where the flat rules run out
    assert_eq!((line as usize, column), (text.lines().count() - 1, 1));
    assert!(t.elapsed() < Duration::from_secs(120), "{:?}", t.elapsed());
}

#[test]
fn jumps_that_fan_out_without_rules_end_at_the_step_bound() {
    // Nothing is emitted (the last chain only counts... nothing): only the steps bound
    // stops 2^50 walks. A small budget here; the import's own is 20 million steps or more.
    let text = fan_out(50, "-p tcp");
    let rs = sockc_import::read(&text, Format::Iptables).unwrap();
    let (stages, _) = semantics::stages(&rs, &[NfHook::Input]);
    let mut atoms = Atoms::default();
    let budget = Budget {
        rules: 1_000_000,
        weight: 1 << 20,
        steps: 200_000,
    };
    let t = Instant::now();
    let o = Flattener::new(&rs, &mut atoms, None, None, budget)
        .run(&stages)
        .unwrap_err();
    assert_eq!(o.bound, Bound::Steps);
    assert!(o.rule.is_some());
    eprintln!("200,000 steps in {:?}", t.elapsed());
}

#[test]
fn a_large_return_before_many_rules_ends_at_the_weight_bound() {
    // The return's 50,000 addresses are cut out of every later rule: each keeps
    // their complement (50,001 ranges); 400 rules would keep 20 million.
    let mut s = String::from("table ip t {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tjump c\n\t}\n\tchain c {\n\t\tip saddr { ");
    for i in 0..50_000u32 {
        let a = 0x0a00_0000 + 2 * i;
        s.push_str(&format!(
            "{}.{}.{}.{}, ",
            a >> 24,
            (a >> 16) & 255,
            (a >> 8) & 255,
            a & 255
        ));
    }
    s.push_str("10.255.255.255 } return\n");
    for p in 0..400 {
        s.push_str(&format!("\t\ttcp dport {} drop\n", 1000 + p));
    }
    s.push_str("\t}\n}\n");
    let (line, _, message) = error_at(run(&s));
    assert!(message.contains("ranges in all"), "{message}");
    assert!(line > 7, "{line}: {message}");
}

#[test]
fn a_set_of_another_type_is_refused_as_nft_refuses_it() {
    // A mutation of the corpus gave an IPv6 set to `ip saddr`: its values, written as
    // IPv4 prefixes, were 2^96 of them.
    let text = "table inet t {\n\tset b4 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { 2001:db8::/32 }\n\t}\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr @b4 drop\n\t\ttcp dport 22 drop\n\t}\n}\n";
    let imp = run(text).unwrap();
    assert_eq!(status_of(&imp, 9).0, Status::Unsupported);
    assert_eq!(status_of(&imp, 10).0, Status::Approximate);
    assert!(imp.sk_text.len() < 4096, "{}", imp.sk_text);
}

#[test]
fn a_chain_jumping_to_itself_is_refused_at_the_jump() {
    let ipt = "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A INPUT -j A\n-A A -p tcp -j ACCEPT\n-A A -j A\nCOMMIT\n";
    let (l, c, m) = error_at(run(ipt));
    assert_eq!((l, c), (6, 1), "{m}");
    assert!(m.contains("A → A"), "{m}");
    let nft = "table inet t {\n\tchain in {\n\t\ttype filter hook input priority 0;\n\t\tjump a\n\t}\n\tchain a {\n\t\tudp dport 53 goto a\n\t}\n}\n";
    let (l, c, m) = error_at(run(nft));
    assert_eq!((l, c), (7, 3), "{m}");
    // a loop through a verdict map, and one no base chain reaches (nft checks it too)
    let vmap = "table inet t {\n\tchain a {\n\t\ttcp dport vmap { 22 : jump b, 80 : accept }\n\t}\n\tchain b {\n\t\tjump a\n\t}\n}\n";
    let (l, _, m) = error_at(run(vmap));
    assert!(l == 3 || l == 6, "{l}: {m}");
}

#[test]
fn a_long_chain_of_chains_is_bounded_by_the_depth() {
    // 5,000 chains each jumping to the next: no loop; the walk stops at the depth the
    // import follows (the kernel's is 16 in nft) and says so on the jump.
    let mut s = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for i in 0..5000 {
        s.push_str(&format!(":C{i} - [0:0]\n"));
    }
    s.push_str("-A INPUT -j C0\n");
    for i in 0..4999 {
        s.push_str(&format!(
            "-A C{i} -p udp --dport {} -j DROP\n",
            i % 60000 + 1
        ));
        s.push_str(&format!("-A C{i} -j C{}\n", i + 1));
    }
    s.push_str("COMMIT\n");
    let imp = run(&s).unwrap();
    let deep = imp
        .report
        .rules
        .iter()
        .find(|r| r.reason.contains("nests too deep"));
    assert!(deep.is_some(), "no rule says the jumps nest too deep");
}

#[test]
fn thousands_of_user_chains_import() {
    let mut s = String::from("*filter\n:INPUT DROP [0:0]\n");
    for i in 0..3000 {
        s.push_str(&format!(":U{i} - [0:0]\n"));
    }
    for i in 0..3000u32 {
        s.push_str(&format!(
            "-A INPUT -s 10.{}.{}.0/24 -j U{i}\n",
            i / 256,
            i % 256
        ));
    }
    for i in 0..3000 {
        s.push_str(&format!(
            "-A U{i} -p tcp --dport 22 -j ACCEPT\n-A U{i} -j RETURN\n"
        ));
    }
    s.push_str("COMMIT\n");
    let t = Instant::now();
    let imp = run(&s).unwrap();
    assert_eq!(imp.report.rules.len(), 9000);
    assert!(
        imp.report.summary.unsupported == 0,
        "{:?}",
        imp.report.summary
    );
    eprintln!("3,000 chains in {:?}", t.elapsed());
}

/// `n` distinct, non-adjacent IPv4 addresses as nft set elements.
fn addresses(n: u32) -> String {
    let mut s = String::with_capacity(n as usize * 14);
    for i in 0..n {
        let a = 0x0a00_0000 + 2 * i;
        s.push_str(&format!(
            "{}.{}.{}.{}, ",
            a >> 24,
            (a >> 16) & 255,
            (a >> 8) & 255,
            a & 255
        ));
    }
    s.push_str("192.0.2.1");
    s
}

#[test]
fn a_million_element_set_stays_a_set() {
    let n = std::env::var("SOCKC_HOSTILE_SET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000u32);
    let text = format!(
        "table ip t {{\n\tset big {{\n\t\ttype ipv4_addr\n\t\telements = {{ {} }}\n\t}}\n\tchain in {{\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr @big drop\n\t\tip daddr {{ {} }} drop\n\t}}\n}}\n",
        addresses(n),
        addresses(n)
    );
    let t = Instant::now();
    let imp = run(&text).unwrap();
    // written (stricter at tc ingress: an input drop also drops forwarded packets)
    assert_eq!(status_of(&imp, 8).0, Status::Approximate);
    assert_eq!(status_of(&imp, 9).0, Status::Approximate);
    eprintln!(
        "two sets of {n} elements ({} bytes): {:?}",
        text.len(),
        t.elapsed()
    );
}

#[test]
fn deep_json_nesting_is_an_error_not_a_stack_overflow() {
    let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (l, c, _) = error_at(import(&json, &opts(Some(Format::NftJson), Hook::Tc)));
    assert!(l >= 1 && c >= 1);
}

#[test]
fn deep_json_expressions_are_bounded() {
    let json = format!(
        "{{\"nftables\": [{{\"rule\": {{\"family\": \"inet\", \"table\": \"t\", \"chain\": \"c\", \"expr\": {}1{}}}}}]}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let _ = import(&json, &opts(Some(Format::NftJson), Hook::Tc));
}

#[test]
fn deep_nft_braces_in_a_rule_are_bounded() {
    let braces = format!(
        "table inet t {{\n\tchain c {{\n\t\ttype filter hook input priority 0;\n\t\ttcp dport {}22{} drop\n\t}}\n}}\n",
        "{ ".repeat(100_000),
        " }".repeat(100_000)
    );
    let imp = import(&braces, &opts(Some(Format::Nft), Hook::Tc)).unwrap();
    let (status, why) = status_of(&imp, 4);
    assert_eq!(status, Status::Unsupported, "{why}");
}

#[test]
fn deep_nft_braces_in_set_elements_are_bounded() {
    let set = format!(
        "table inet t {{\n\tset s {{\n\t\ttype inet_service\n\t\telements = {}22{}\n\t}}\n}}\n",
        "{ ".repeat(100_000),
        " }".repeat(100_000)
    );
    let (l, c, m) = error_at(import(&set, &opts(Some(Format::Nft), Hook::Tc)));
    assert_eq!((l, c), (4, 14), "{m}");
}

#[test]
fn nul_bytes_are_errors_at_their_place() {
    let ipt = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 2\u{0}2 -j DROP\nCOMMIT\n";
    let (l, _, m) = error_at(import(ipt, &opts(Some(Format::Iptables), Hook::Tc)));
    assert_eq!(l, 3, "{m}");
    let nft = "table inet t {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t\ttcp dport 2\u{0}2 drop\n\t}\n}\n";
    let (l, _, m) = error_at(import(nft, &opts(Some(Format::Nft), Hook::Tc)));
    assert_eq!(l, 4, "{m}");
}

#[test]
fn crlf_line_ends_read_as_line_ends() {
    for name in ["01-ufw-ipv4.iptables", "05-fail2ban-sshd.nft"] {
        let text = std::fs::read_to_string(common::corpus().join("rulesets").join(name)).unwrap();
        let crlf = text.replace('\n', "\r\n");
        let a = run(&text).unwrap();
        let b = run(&crlf).unwrap();
        assert_eq!(a.report.summary, b.report.summary, "{name}");
        let lines = |i: &Import| i.report.rules.iter().map(|r| r.line).collect::<Vec<_>>();
        assert_eq!(lines(&a), lines(&b), "{name}");
    }
}

/// `n` rules of one input chain as nft JSON, with `sep` between the top-level objects
/// (`""` is how `nft -j list ruleset` prints: the whole document on one line).
fn nft_json_rules(n: usize, sep: &str) -> String {
    let mut objects = vec![
        r#"{"metainfo":{"version":"1.0.6","release_name":"Lester Gooch #5","json_schema_version":1}}"#.to_string(),
        r#"{"table":{"family":"inet","name":"filter","handle":1}}"#.to_string(),
        r#"{"chain":{"family":"inet","table":"filter","name":"input","handle":1,"type":"filter","hook":"input","prio":0,"policy":"accept"}}"#.to_string(),
    ];
    for i in 0..n {
        objects.push(format!(
            r#"{{"rule":{{"family":"inet","table":"filter","chain":"input","handle":{},"comment":"r{i} — ünïcode","expr":[{{"match":{{"op":"==","left":{{"payload":{{"protocol":"ip","field":"saddr"}}}},"right":"10.{}.{}.{}"}}}},{{"match":{{"op":"==","left":{{"payload":{{"protocol":"tcp","field":"dport"}}}},"right":{}}}}},{{"drop":null}}]}}}}"#,
            i + 2,
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            1 + i % 60_000
        ));
    }
    format!(
        "{{\"nftables\":[{sep}{}{sep}]}}\n",
        objects.join(&format!(",{sep}"))
    )
}

/// The rules of a read ruleset without their positions.
fn rules_without_positions(rs: &sockc_import::model::Ruleset) -> Vec<String> {
    rs.rules
        .iter()
        .map(|r| {
            format!(
                "{:?} {:?} {:?} {:?} {}",
                r.matches, r.effects, r.verdict, r.comment, r.source
            )
        })
        .collect()
}

/// Issue 47 item 5: `nft -j list ruleset` prints one line, and a column counted from
/// the start of the line for every object made reading it quadratic (40,000 rules took
/// twelve times as long as the same rules one object a line). Counted, not timed: the
/// bytes read to find columns stay within the text's length, and the one-line file
/// reads as the same rules as the one-object-a-line file, each at its own column.
#[test]
fn one_line_nft_json_costs_positions_linear_in_its_length() {
    let n = 40_000;
    let one_line = nft_json_rules(n, "");
    assert_eq!(one_line.lines().count(), 1);
    let idx = sockc_import::diag::LineIndex::new(&one_line);
    let rs = sockc_import::nft::json::read_indexed(&idx).unwrap();
    assert_eq!(rs.rules.len(), n);
    assert!(
        idx.scanned() <= one_line.len(),
        "finding the columns of {n} rules on one line of {} bytes read {} bytes",
        one_line.len(),
        idx.scanned()
    );
    // each rule at its column, in characters (the comments hold two-byte characters)
    for (i, r) in rs.rules.iter().enumerate().step_by(997) {
        let chars = one_line[..r.span.start].chars().count();
        assert_eq!(
            (r.span.line, r.span.column as usize),
            (1, chars + 1),
            "rule {i}"
        );
    }
    let by_lines = nft_json_rules(n, "\n");
    let rs_lines = sockc_import::nft::json::read(&by_lines).unwrap();
    assert_eq!(
        rules_without_positions(&rs),
        rules_without_positions(&rs_lines)
    );
    assert_eq!(rs_lines.rules[n - 1].span.line as usize, n + 4);
    assert_eq!(rs_lines.rules[n - 1].span.column, 1);
}

/// serde_json counts a syntax error's column in bytes; the error points at the byte
/// it names, after characters of several bytes too.
#[test]
fn a_json_syntax_error_after_wide_characters_points_at_its_place() {
    let json = "{\"nftables\":[{\"rule\":\"éé—\"},x]}\n";
    let (l, c, m) = error_at(import(json, &opts(Some(Format::NftJson), Hook::Tc)));
    let x = json.find('x').unwrap();
    assert_eq!((l, c as usize), (1, json[..x].chars().count() + 1), "{m}");
}

/// The figures behind item 5, printed, not asserted (timings on a shared machine are
/// not test results): the whole import of 10,000, 20,000 and 40,000 rules as one line
/// and as one object a line, and the ratio of the two. Run in release:
///
/// ```text
/// cargo test --release -p sockc-import --test hostile -- --ignored --nocapture layouts
/// ```
#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn layouts_import_in_the_same_time() {
    let o = opts(Some(Format::NftJson), Hook::Netfilter);
    for n in [10_000, 20_000, 40_000] {
        let mut times = Vec::new();
        for sep in ["", "\n"] {
            let text = nft_json_rules(n, sep);
            let t = Instant::now();
            let imp = import(&text, &o).unwrap();
            times.push(t.elapsed());
            assert_eq!(imp.report.rules.len(), n);
        }
        println!(
            "{n} rules: one line {:?}, one object a line {:?}, ratio {:.2}",
            times[0],
            times[1],
            times[0].as_secs_f64() / times[1].as_secs_f64()
        );
    }
}
