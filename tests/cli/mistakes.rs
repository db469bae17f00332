//! Diagnostics that used to mislead, at the command line: each test is one case as a
//! user meets it (`sockc check` on a file), so that it can run against an older binary
//! too (`SOCKC_TEST_BIN=path/to/old/sockc cargo test --test cli mistakes::`) and show
//! what changed. `compiler/tests/compiler/mistakes.rs` checks the same cases on the diagnostics
//! themselves (codes, spans, help).

use std::path::PathBuf;

use crate::common;

use common::sockc;

/// `sockc check` on a rule file holding `src`: (exit code, stderr with miette's line
/// wrapping undone).
fn check(name: &str, src: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("sockc-mistakes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join(format!("{name}.sk"));
    std::fs::write(&file, src).unwrap();
    let (code, _, err) = sockc(&["check", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    (code, err.replace("\n  │ ", " "))
}

fn in_block(line: &str) -> String {
    format!("xdp on eth0 {{\n    {line}\n    default allow\n}}\n")
}

/// Errors and warnings a `check` run reports (miette's `×` and `⚠` headers).
fn counts(err: &str) -> (usize, usize) {
    (err.matches("  × ").count(), err.matches("  ⚠ ").count())
}

/// `dorp`, `accept`, `reject`, `xpd` were `syntax error: unexpected input` with no
/// expected list and no "did you mean".
#[test]
fn typos_and_other_firewalls_words_get_a_suggestion() {
    for (name, src, said) in [
        ("dorp", in_block("dorp tcp"), "did you mean `drop`?"),
        ("accept", in_block("accept tcp"), "sockc says `allow`"),
        ("deny", in_block("deny tcp"), "sockc says `drop`"),
        (
            "xpd",
            "xpd on eth0 { default allow }\n".to_string(),
            "did you mean `xdp`?",
        ),
    ] {
        let (code, err) = check(name, &src);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(said), "{name}: {err}");
        assert!(!err.contains("unexpected input"), "{name}: {err}");
        assert_eq!(counts(&err), (1, 0), "{name}: {err}");
    }
}

/// `tpc`, `*:ssh` and `dport 22` got five lines listing everything, ICMP `code` and
/// `type` included.
#[test]
fn expected_lists_fit_the_context() {
    for (name, line, said) in [
        ("tpc", "drop tpc", "did you mean `tcp`?"),
        ("ssh", "drop tcp to *:ssh", "`ssh` is port 22"),
        ("dport", "drop tcp dport 22", "`to *:22`"),
    ] {
        let (code, err) = check(name, &in_block(line));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(said), "{name}: {err}");
        assert!(
            !err.contains("`code`") && !err.contains("`type`"),
            "{name}: {err}"
        );
        assert_eq!(counts(&err), (1, 0), "{name}: {err}");
    }
}

/// `default accept` gave two errors.
#[test]
fn a_bad_default_is_one_error() {
    let (code, err) = check(
        "default",
        &in_block("drop tcp").replace("default allow", "default accept"),
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(counts(&err), (1, 0), "{err}");
    assert!(err.contains("default allow"), "{err}");
}

/// An unclosed `xdp on eth1 {` hid the 7 other errors of the file and was reported at
/// the end of the file with no mention of `}` or the opening line.
#[test]
fn an_unclosed_block_is_reported_at_its_head_and_hides_nothing() {
    let src = "xdp on eth1 {\n    drop tcp\n\
               tc ingress on eth0 {\n    dorp tcp\n    drop tcp to 1.2.3.4:99999\n    default allow\n}\n\
               xdp on eth2 {\n    drop frm 1.2.3.4\n    allow udp syn\n    drop icmp if listening\n    \
               drop to 10.0.0.0/33\n    drop from @nope\n    default allow\n}\n";
    let (code, err) = check("unclosed", src);
    assert_eq!(code, 1, "{err}");
    assert_eq!(counts(&err).0, 8, "{err}");
    assert!(
        err.contains("the block `xdp on eth1` is never closed")
            && err.contains("unclosed.sk:1:1]")
            && err.contains("has no matching `}`"),
        "{err}"
    );
}

/// A typo inside `tc ingres on eth0 { defualt allow }` was never reported.
#[test]
fn a_block_with_a_bad_head_still_has_its_lines_checked() {
    let (code, err) = check("ingres", "tc ingres on eth0 { defualt allow }\n");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unknown word `ingres`") && err.contains("unknown word `defualt`"),
        "{err}"
    );
}

/// A duplicated rule got two warnings (redundant on line 7, never matches on line 8):
/// doing both removes both rules.
#[test]
fn a_duplicated_rule_gets_one_warning() {
    let (code, err) = check(
        "duplicate",
        &in_block("drop tcp to 1.2.3.4:80\n    drop tcp to 1.2.3.4:80"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&err), (0, 1), "{err}");
    assert!(
        err.contains("rule never matches: it repeats line 2") && err.contains("duplicate.sk:3:5]"),
        "{err}"
    );
}

/// `allow tcp to 2001:db8::1:53` was silently the address `2001:db8::1:53/128`.
#[test]
fn an_ipv6_address_that_looks_like_address_and_port_is_flagged() {
    let (code, err) = check(
        "ipv6",
        // Under `default drop` the allow is not redundant; ARP and neighbour discovery
        // are let through, so no lockout warning either.
        &in_block("allow tcp to 2001:db8::1:53").replace(
            "default allow",
            "allow arp\n    allow icmpv6\n    default drop",
        ),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&err), (0, 1), "{err}");
    assert!(err.contains("`[2001:db8::1]:53`"), "{err}");
}

/// A lookalike inside a word: a Cyrillic `о` in `allоw` gave "unexpected word `all`",
/// a zero-width space inside `allow` "unexpected word `al`". Now the character is
/// named with its code point, under it, and the help spells the word.
#[test]
fn a_lookalike_inside_a_word_is_named() {
    for (name, line, named) in [
        (
            "cyrillic-o",
            "all\u{43e}w tcp to *:22",
            "`\u{43e}` (U+043E)",
        ),
        (
            "zwsp",
            "al\u{200b}low tcp to *:22",
            "a zero-width space (U+200B)",
        ),
    ] {
        let (code, err) = check(name, &in_block(line));
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!("unexpected character: {named}")),
            "{name}: {err}"
        );
        assert!(err.contains("did you mean `allow`?"), "{name}: {err}");
        assert!(!err.contains("unexpected word"), "{name}: {err}");
    }
}

/// NUL bytes, a BOM and control characters were "unexpected input" without naming the
/// character; a NUL inside a quoted interface name passed `check`.
#[test]
fn invisible_characters_are_named_and_a_nul_in_a_name_is_refused() {
    for (name, src, named) in [
        ("nul", in_block("drop\0 tcp"), "a NUL byte (U+0000)"),
        (
            "bom",
            format!("\u{feff}{}", in_block("drop tcp")),
            "a byte-order mark (U+FEFF)",
        ),
        (
            "bel",
            in_block("drop\u{7} tcp"),
            "a control character (U+0007)",
        ),
    ] {
        let (code, err) = check(name, &src);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!("unexpected character: {named}")),
            "{name}: {err}"
        );
    }
    let (code, err) = check("nul-name", "xdp on \"eth\0\" { default allow }\n");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`eth\\x00` is not a valid interface name"),
        "{err}"
    );
}
