//! The fast scanner against pest: the same AST, spans and diagnostics on every rule file
//! of the repository, on the ClassBench conversions, and on many thousands of mutated
//! and randomly generated files.

use std::path::{Path, PathBuf};

use super::parse_counting;
use crate::syntax::{parse, parse_reference};

/// The diagnostics limit `parse` and `parse_reference` use.
const MAX_DIAGS: usize = 100;

/// Both parsers' results, compared in full (every node and span).
fn assert_same(src: &str) {
    let fast = parse(src);
    let reference = parse_reference(src);
    if format!("{fast:?}") == format!("{reference:?}") {
        return;
    }
    let (f, r) = (format!("{fast:#?}"), format!("{reference:#?}"));
    let first = f
        .lines()
        .zip(r.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    let context = |t: &str| {
        t.lines()
            .skip(first.saturating_sub(8))
            .take(10)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let shown: String = src.chars().take(2000).collect();
    panic!(
        "the fast scanner and pest differ on {shown:?}\nfast:\n{}\npest:\n{}",
        context(&f),
        context(&r)
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file in `rules/` (rule files, set files, packet lists: all text a user could
/// hand to the parser).
fn rule_files() -> Vec<(String, String)> {
    let mut paths = Vec::new();
    files_under(&root().join("rules"), &mut paths);
    paths.sort();
    let files: Vec<_> = paths
        .iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(p).ok()?)))
        .collect();
    assert!(files.len() >= 20, "rules/ not found: {}", root().display());
    files
}

/// The ClassBench filter sets of `bench/classbench/` converted to rule files: the 1k
/// and 10k sets (and the 100k sets with `SOCKC_SCAN_ALL=1`: pest needs seconds for each).
fn classbench_files() -> Vec<(String, String)> {
    // Text in, text out: the testkit (a dev-dependency) links its own copy of this
    // crate, so no type of it may cross into these tests.
    use sockc_testkit::classbench::{parse_filters, to_sk, ActionPolicy, ConvertOptions};
    use sockc_testkit::classbench_data;
    let mut out = Vec::new();
    let dir = classbench_data::dir(None, &root());
    let sizes: &[&str] = if std::env::var_os("SOCKC_SCAN_ALL").is_some() {
        &["1000", "10000", "100000"]
    } else {
        &["1000", "10000"]
    };
    for set in ["acl1", "fw1", "ipc1"] {
        for n in sizes {
            let name = format!("{set}_{n}.rules");
            let text = classbench_data::read(&dir, &name).unwrap_or_else(|e| panic!("{e}"));
            let filters = parse_filters(&text).expect("filters parse");
            for (hook, policy) in [
                ("xdp on eth0", ActionPolicy::Alternate),
                ("tc ingress on eth0", ActionPolicy::AllDrop),
            ] {
                let opts = ConvertOptions {
                    hook: hook.to_string(),
                    policy,
                    default: "drop",
                };
                out.push((format!("{name} ({hook})"), to_sk(&filters, &opts)));
            }
        }
    }
    out
}

#[test]
fn every_rule_file_parses_the_same() {
    for (name, src) in rule_files() {
        eprintln!("{name}");
        assert_same(&src);
    }
}

#[test]
fn classbench_files_parse_the_same_without_pest() {
    for (name, src) in classbench_files() {
        let (_, _, handovers) = parse_counting(&src, MAX_DIAGS)
            .unwrap_or_else(|| panic!("{name}: the scanner gave up"));
        assert_eq!(handovers, 0, "{name}: statements handed to pest");
        assert_same(&src);
    }
}

/// Deterministic pseudo-random numbers, so failures reproduce.
use sockc_testkit::rng::Rng;

/// Pieces of the language and of near-misses: keywords, literals in and out of range,
/// and every character the grammar treats specially.
const PIECES: &[&str] = &[
    " ",
    " ",
    " ",
    "\t",
    "\n",
    "\n",
    "\r\n",
    "\r",
    ";",
    "}",
    "{",
    "#",
    "# note",
    "#;}",
    ":",
    "::",
    "[",
    "]",
    "*",
    "@",
    "@a",
    "@ports",
    "!",
    "/",
    "/24",
    "/33",
    "-",
    ".",
    ",",
    "\"",
    "0",
    "1",
    "53",
    ":0-",
    "0-x",
    "80-90",
    "80 - 90",
    "90-80",
    "65535",
    "65536",
    "99999999999999999999",
    "1.2.3.4",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "::",
    "::1",
    "::/0",
    "2001:db8::/32",
    "2001:db8::1",
    "[2001:db8::1]:53",
    "fe80::1%eth0",
    "type 300",
    "type 8x",
    "type echo-reply",
    "type echo_reply",
    "type a-b_c",
    "code",
    "code x",
    "code 255",
    "ece::/16",
    ":80",
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "any",
    "proto",
    "proto 6",
    "proto 300",
    "ip4",
    "ip6",
    "from",
    "to",
    "syn",
    "ack",
    "ece",
    "cwr",
    "!syn",
    "! fin",
    "type",
    "type echo-request",
    "code 3",
    "if",
    "socket",
    "exists",
    "no",
    "listening",
    "established",
    "sock",
    "local",
    "default",
    "allow",
    "drop",
    "count",
    "pass",
    "redirect",
    "tcpx",
    "allowx",
    "é",
    "xdp",
    "on",
    "tc",
    "ingress",
    "egress",
    "sk_lookup",
    "sockmap",
    "cgroup",
    "set",
    "socket p =",
    "xdp on eth0 {",
    "sk_lookup {",
    "tc egress on \"lo\" {",
    "set s = { 1.2.3.4, 80 }",
];

/// Whole statements, good and bad, as the mutations' material.
const STATEMENTS: &[&str] = &[
    "allow ip4 tcp from 104.134.169.66/32 to 142.127.0.66/32:1526",
    "drop ip4 udp from 227.175.171.48/29:53 to 237.30.88.240/29:137-139",
    "allow ip4 from * to *",
    "allow tcp to 1.1.1.0/24:53 if socket exists",
    "redirect 3.3.3.3:* to sock proxy",
    "redirect udp to 1.1.1.0/24:53 to sock dns",
    "drop tcp to *:22 if no socket",
    "allow tcp if listening",
    "allow tcp if established to sock a",
    "redirect local",
    "count tcp to *:443",
    "drop from @blocked",
    "allow udp to @resolvers:53",
    "allow tcp to *:@ports",
    "drop tcp ece::/16",
    "drop tcp ece ::/0",
    "allow tcp syn !ack",
    "allow tcp ! rst fin",
    "allow proto 47",
    "allow proto udp to *:53",
    "allow icmp type echo-request code 0",
    "allow ip6 to [2001:db8::1]:53",
    "allow ip6 to [ 2001:db8::/32 ] : 53",
    "drop from 2001:db8::/32:80",
    "allow to 1.2.3.4 :53",
    "allow to * :: 53",
    "allow tcp   # trailing comment",
    "allow from 1.2.3.4 \t",
    "default allow",
    "default drop",
    "default pass",
    "default",
    "drop frm 1.2.3.4",
    "allow tcp to 1.2.3.4:99999",
    "drop from 10.0.0.1/8",
    "bogus",
];

/// A random rule file: blocks of random statements, with random pieces in between.
fn random_file(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..1 + rng.below(3) {
        if rng.below(4) == 0 {
            out.push_str(rng.pick(PIECES));
            out.push('\n');
        }
        out.push_str(rng.pick(&[
            "xdp on eth0 {",
            "tc ingress on lo {",
            "sk_lookup {",
            "sockmap cgroup \"/sys/fs/cgroup\" {",
            "xdp on \"eth1\"{",
            "tc egress on e # c\n{",
        ]));
        out.push_str(rng.pick(&["\n", " ", "", ";\n", "\n\n  # c\n"]));
        for _ in 0..rng.below(6) {
            out.push_str(rng.pick(&["", " ", "  ", "\t"]));
            if rng.below(3) == 0 {
                // a statement of random pieces
                for _ in 0..1 + rng.below(6) {
                    out.push_str(rng.pick(PIECES));
                    out.push_str(rng.pick(&[" ", " ", "", "\t"]));
                }
            } else {
                out.push_str(rng.pick(STATEMENTS));
            }
            out.push_str(rng.pick(&["\n", "\n", ";", "; ", " # c\n", "\r\n", " "]));
        }
        out.push_str(rng.pick(&["}\n", "}", " }\n", "}}\n", "} x\n", "\n", "};\n"]));
    }
    out
}

/// Changes `src` in 1 to 4 random places: deletes a few characters, inserts a piece or
/// a statement, or duplicates a line.
fn mutate(rng: &mut Rng, src: &str) -> String {
    let mut s: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(4) {
            0 => {
                let n = (1 + rng.below(3)).min(s.len() - at.min(s.len()));
                s.drain(at..at + n);
            }
            1 => {
                let piece = rng.pick(PIECES);
                s.splice(at..at, piece.chars());
            }
            2 => {
                let st = format!("{}\n", rng.pick(STATEMENTS));
                s.splice(at..at, st.chars());
            }
            _ => {
                let text: String = s.iter().collect();
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let line = format!("{}\n", lines[rng.below(lines.len())]);
                    s.splice(at..at, line.chars());
                }
            }
        }
    }
    s.into_iter().collect()
}

#[test]
fn random_files_parse_the_same() {
    let mut rng = Rng::seeded(0x5eed_0f5c_a11e);
    let mut fast = 0;
    let n = 6000;
    for _ in 0..n {
        let src = random_file(&mut rng);
        if parse_counting(&src, MAX_DIAGS).is_some() {
            fast += 1;
        }
        assert_same(&src);
    }
    // The generator must exercise the scanner, not only the fallback.
    assert!(fast > n / 4, "only {fast} of {n} files took the fast path");
}

#[test]
fn mutated_rule_files_parse_the_same() {
    let mut rng = Rng::seeded(0x0dd_ba11_cafe);
    let mut seeds = rule_files();
    // The head of a ClassBench conversion, as one more seed.
    let cb = &classbench_files()[0];
    let head: String = cb.1.lines().take(40).map(|l| format!("{l}\n")).collect();
    seeds.push((cb.0.clone(), head + "    default drop\n}\n"));
    let mut fast = 0;
    let mut total = 0;
    for (_, src) in &seeds {
        if src.len() > 20_000 {
            continue;
        }
        for _ in 0..150 {
            let m = mutate(&mut rng, src);
            if parse_counting(&m, MAX_DIAGS).is_some() {
                fast += 1;
            }
            total += 1;
            assert_same(&m);
        }
    }
    assert!(
        fast > total / 4,
        "only {fast} of {total} files took the fast path"
    );
}

/// Short strings of characters the grammar cares about (and some it does not, in
/// several UTF-8 lengths) after a block header: no panics, the same results.
#[test]
fn random_characters_parse_the_same() {
    const CHARS: &[char] = &[
        'a', 'c', 'd', 'e', 'f', 'i', 'o', 'p', 's', 't', 'w', 'x', '0', '1', '4', '9', ' ', ' ',
        '\t', '\n', '\r', '.', ':', '/', '[', ']', '*', '@', '!', '#', ';', '{', '}', '"', '-',
        '_', ',', 'é', '€', '𝄞',
    ];
    let mut rng = Rng::seeded(0xc4a2_5eed);
    for _ in 0..20_000 {
        let mut src =
            String::from(rng.pick(&["", "xdp on e {\n", "sk_lookup { ", "tc ingress on lo {"]));
        for _ in 0..rng.below(60) {
            src.push(CHARS[rng.below(CHARS.len())]);
        }
        if rng.below(2) == 0 {
            src.push_str("\n}\n");
        }
        assert_same(&src);
    }
}

/// Every statement shape of the language that needs no diagnostic stays in the
/// scanner (a regression here would be correct but slow).
#[test]
fn valid_statements_take_the_fast_path() {
    for stmt in [
        "allow ip4 tcp from 104.134.169.66/32 to 142.127.0.66/32:1526",
        "drop ip4 udp from 227.175.171.48/29:53 to 237.30.88.240/29:137-139",
        "allow ip4 from * to *",
        "allow tcp to 1.1.1.0/24:53 if socket exists",
        "redirect 3.3.3.3:* to sock proxy",
        "redirect udp to 1.1.1.0/24:53 to sock dns",
        "drop tcp to *:22 if no socket",
        "allow tcp if listening",
        "allow tcp if established to sock a",
        "redirect local",
        "count tcp to *:443 # https",
        "drop from @blocked",
        "allow udp to @resolvers:53",
        "allow tcp to *:@ports",
        "drop tcp ece::/16",
        "drop tcp ece ::/0",
        "allow tcp syn !ack ! rst",
        "allow proto 47",
        "allow proto udp to *:53",
        "allow icmp type echo-request code 0",
        "allow icmpv6 type 128 code 255",
        "allow icmp type router-advertisement",
        "allow ip6 to [2001:db8::1]:53",
        "allow ip6 to [ 2001:db8::/32 ] : 53",
        "drop from 2001:db8::/32:80",
        "allow to 1.2.3.4 :53",
        "allow from 0.0.0.0/0 to 255.255.255.255 any",
        "allow from 10.1.1.1 to 1.2.3.0/024",
        "pass",
        "default drop",
    ] {
        let src = format!("xdp on e {{\n    {stmt}\n    default allow\n}}\n");
        let (_, diags, handovers) = parse_counting(&src, MAX_DIAGS).expect("the scanner reads it");
        assert_eq!(handovers, 0, "{stmt:?} went to pest ({diags:?})");
        assert_same(&src);
    }
}

/// Spans that include trailing blanks or a comment, as pest makes them.
#[test]
fn trailing_blanks_and_comments_stay_in_spans() {
    for src in [
        "xdp on e {\n allow tcp   # c\n allow tcp to 1.2.3.4  \n allow  \n allow from 1.2.3.4 \t; default allow }\n",
        "xdp on e {\n allow tcp if listening  # c\n redirect to sock a   # c\n default allow   # x\n}\n",
        "xdp on e {\r\n drop tcp\r\n default allow\r\n}\r\n",
        "xdp on e {\r drop tcp\r default allow\r}\r",
        "\n;\n # c\nxdp on e { ; drop tcp ;; default allow ; } ; # c\n",
    ] {
        assert_same(src);
        assert_eq!(parse_counting(src, MAX_DIAGS).map(|r| r.2), Some(0), "{src:?}");
    }
}

/// The one-pass reading of an everyday IPv4 prefix gives what the long reading gives
/// (the token's end, and the value `decode_prefix` makes of its text) wherever it
/// reads one: never a text the long reading refuses (leading zeros, long groups,
/// values past 255 or 32, host bits, groups missing), and to the same end when
/// digits, `/` or `:` follow. (It gives up on more, a length written with a leading
/// zero: `decode_prefix` reads those.)
#[test]
fn everyday_prefixes_read_as_the_long_way_reads_them() {
    use super::{decode_prefix, prefix4_end, prefix4_everyday};
    let mut texts: Vec<String> = [
        "1.2.3.4",
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.0.0.1/8",
        "255.255.255.255/32",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.04/32",
        "1.2.3.4/033",
        "1.2.3.4/08",
        "1.2.3.4/33",
        "1.2.3.4/",
        "1.2.3.4/x",
        "1.2.3",
        "1.2.3.",
        "1.2.3.4.5",
        "1234.1.1.1",
        "1.2.3.4:80",
        "1.2.3.4 ",
        "192.168.0.0/16:53",
        "1.2.3.4/321",
        "0.0.0.0/00",
        "9.9.9.9/3",
        "128.0.0.0/1",
        "1.2.3.4/1x",
        "00.0.0.0",
        "0.0.0.0",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    let mut rng = Rng::seeded(50);
    let groups = [
        "0", "1", "9", "10", "25", "99", "100", "255", "256", "007", "01", "1000",
    ];
    let after = [
        "", "", "/0", "/1", "/8", "/24", "/32", "/33", "/08", "/", "/x", " ", ":80", "5", ".",
    ];
    for _ in 0..20_000 {
        let n = 3 + rng.below(3);
        let dot = if rng.below(20) == 0 { ":" } else { "." };
        let mut t = (0..n)
            .map(|_| rng.pick(&groups))
            .collect::<Vec<_>>()
            .join(dot);
        t.push_str(rng.pick(&after));
        texts.push(t);
    }
    let mut everyday = 0;
    for t in &texts {
        let s = t.as_bytes();
        if let Some((e, net)) = prefix4_everyday(s, 0) {
            everyday += 1;
            assert_eq!(prefix4_end(s, 0), Some(e), "{t:?}");
            assert_eq!(decode_prefix(&t[..e]).ok(), Some(net), "{t:?}");
        }
    }
    assert!(everyday > 300, "only {everyday} everyday texts");
}
