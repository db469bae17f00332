//! Diagnostics a user can act on: each test is
//! one mistake people make, and what sockc says about it — the suggestion, the one
//! error rather than two, the errors a broken block used to hide.

use sockc_compiler::{diag::Diagnostic, syntax::ast::Item};

fn diags(src: &str) -> Vec<Diagnostic> {
    sockc_compiler::compile(src, &Default::default()).1
}

fn errors(src: &str) -> Vec<Diagnostic> {
    diags(src)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect()
}

/// The one error of a file with one mistake.
fn only_error(src: &str) -> Diagnostic {
    let e = errors(src);
    assert_eq!(e.len(), 1, "{src:?}: {e:#?}");
    e.into_iter().next().unwrap()
}

fn in_block(line: &str) -> String {
    format!("xdp on eth0 {{\n    {line}\n    default allow\n}}\n")
}

/// `dorp`, `accept`, `reject`, `xpd` were "syntax error: unexpected input", with no
/// expected list and no suggestion.
#[test]
fn typos_and_other_firewalls_words_get_a_suggestion() {
    for (line, message, help) in [
        ("dorp tcp", "unknown word `dorp`", "did you mean `drop`?"),
        (
            "accept tcp",
            "unexpected word `accept`",
            "sockc says `allow`",
        ),
        ("deny tcp", "unexpected word `deny`", "sockc says `drop`"),
        (
            "DROP tcp",
            "`DROP`: keywords are lower case",
            "did you mean `drop`?",
        ),
        ("drop tcp dport 22", "unexpected word `dport`", "`to *:22`"),
        (
            "drop -p tcp",
            "`-p` is an iptables option",
            "write the protocol as a word",
        ),
        (
            "drop tcp to *:ssh",
            "`ssh` is a service name",
            "`ssh` is port 22",
        ),
        ("drop tpc", "unknown word `tpc`", "did you mean `tcp`?"),
    ] {
        let d = only_error(&in_block(line));
        assert_eq!(d.code, "sockc::syntax");
        assert!(d.message.contains(message), "{line}: {}", d.message);
        assert!(
            d.help.as_deref().unwrap_or("").contains(help),
            "{line}: {:?}",
            d.help
        );
    }
    let d = only_error("xpd on eth0 { default allow }\n");
    assert_eq!(d.message, "syntax error: unknown word `xpd`");
    assert_eq!(d.help.as_deref(), Some("did you mean `xdp`?"));
}

/// `tpc`, `*:ssh` and `dport 22` got five lines listing every alternative, ICMP `code`
/// and `type` included. What is expected now fits the rule so far.
#[test]
fn expected_lists_fit_the_context() {
    let d = only_error(&in_block("drop tcp 1.2.3.4 +"));
    assert!(
        d.message.starts_with("syntax error: expected"),
        "{}",
        d.message
    );
    assert!(
        !d.message.contains("`type`") && !d.message.contains("`code`"),
        "{}",
        d.message
    );
    assert!(!d.message.contains("a protocol"), "{}", d.message);
    assert!(d.message.len() < 300, "{}", d.message);
    let d = only_error(&in_block("drop icmp +"));
    assert!(
        d.message.contains("`type`") && !d.message.contains("TCP flag"),
        "{}",
        d.message
    );
}

/// `default accept` gave two errors (the syntax error and "no default").
#[test]
fn a_bad_default_is_one_error() {
    let d = only_error(&in_block("drop tcp").replace("default allow", "default accept"));
    assert_eq!(d.message, "syntax error: unexpected word `accept`");
    assert!(d.help.unwrap().contains("default allow"));
}

/// An unclosed `xdp on eth1 {` hid every error after it and was reported at the end of
/// the file without mentioning `}` or the opening line.
#[test]
fn an_unclosed_block_is_reported_at_its_head_and_hides_nothing() {
    let src = "xdp on eth1 {\n    drop tcp\n\
               tc ingress on eth0 {\n    dorp tcp\n    drop tcp to 1.2.3.4:99999\n    default allow\n}\n\
               xdp on eth2 {\n    drop frm 1.2.3.4\n    allow udp syn\n    drop icmp if listening\n    \
               drop to 10.0.0.0/33\n    drop from @nope\n    default allow\n}\n";
    let e = errors(src);
    assert_eq!(e.len(), 8, "{e:#?}");
    assert_eq!(e[0].code, "sockc::unclosed-block");
    assert_eq!(e[0].message, "the block `xdp on eth1` is never closed");
    assert_eq!(e[0].labels[0].span.start, 0, "at the opening line");
    assert!(e[0].labels[0].text.contains("has no matching `}`"));
    assert_eq!(
        &src[e[0].labels[1].span.start..][..2],
        "tc",
        "cut where the next block starts"
    );
    // The seven other mistakes, in order.
    let codes: Vec<&str> = e[1..].iter().map(|d| d.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "sockc::syntax",
            "sockc::out-of-range",
            "sockc::syntax",
            "sockc::flags-need-tcp",
            "sockc::condition-needs-protocol",
            "sockc::bad-prefix",
            "sockc::unknown-set",
        ]
    );
    // The blocks after it are compiled as blocks (their rules checked by sema).
    let (file, _) = sockc_compiler::syntax::parse(src);
    let blocks = file
        .items
        .iter()
        .filter(|i| matches!(i, Item::Hook(_)))
        .count();
    assert_eq!(blocks, 3);
}

/// A typo inside `tc ingres on eth0 { defualt allow }` was never reported: the whole
/// block was skipped after the head's error.
#[test]
fn a_block_with_a_bad_head_still_has_its_lines_checked() {
    let e = errors("tc ingres on eth0 { defualt allow }\n");
    let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "syntax error: unknown word `ingres`",
            "syntax error: unknown word `defualt`"
        ]
    );
}

/// A duplicated rule got two warnings (redundant on the first, never matches on the
/// second): doing both removes both.
#[test]
fn a_duplicated_rule_gets_one_warning() {
    let src = in_block("drop tcp to 1.2.3.4:80\n    drop tcp to 1.2.3.4:80");
    let d = diags(&src);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].message, "rule never matches: it repeats line 2");
    assert_eq!(
        d[0].labels[0].span.start,
        src.rfind("drop").unwrap(),
        "on the copy"
    );
}

/// In a socket-call block an IPv4-mapped destination never matches (the call is
/// decided as its IPv4 address): it was accepted without a word.
#[test]
fn a_mapped_address_in_a_socket_call_block_is_flagged() {
    let block = |rule: &str| {
        format!("cgroup connect \"/sys/fs/cgroup\" {{\n    {rule}\n    default allow\n}}\n")
    };
    let d = diags(&block("drop tcp to [::ffff:10.0.0.1]:25"));
    let mapped: Vec<_> = d
        .iter()
        .filter(|d| d.code == "sockc::mapped-address")
        .collect();
    assert_eq!(mapped.len(), 1, "{d:#?}");
    assert!(mapped[0].help.as_deref().unwrap().contains("`10.0.0.1`"));
    for fine in [
        "drop tcp to 10.0.0.1:25",
        "drop tcp to 2001:db8::1",
        "drop to ::/0",
    ] {
        let d = diags(&block(fine));
        assert!(
            d.iter().all(|d| d.code != "sockc::mapped-address"),
            "{fine}: {d:#?}"
        );
    }
    // Elsewhere a mapped address is an address like any other.
    let d = diags(&in_block("drop tcp to ::ffff:10.0.0.1"));
    assert!(
        d.iter().all(|d| d.code != "sockc::mapped-address"),
        "{d:#?}"
    );
}

/// `allow tcp to 2001:db8::1:53` was silently the address `2001:db8::1:53/128`.
#[test]
fn an_ipv6_address_that_looks_like_address_and_port_is_flagged() {
    // Under `default drop` no allow rule is redundant; ARP and neighbour discovery
    // are let through so that the block gets no lockout warning either.
    let in_block = |line: &str| {
        in_block(line).replace(
            "default allow",
            "allow arp\n    allow icmpv6\n    default drop",
        )
    };
    let d = diags(&in_block("allow tcp to 2001:db8::1:53"));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code, "sockc::ipv6-port");
    assert!(d[0].help.as_deref().unwrap().contains("`[2001:db8::1]:53`"));
    for fine in [
        "allow tcp to [2001:db8::1]:53",
        "allow tcp to [2001:db8::1:53]",
        "allow tcp to 2001:db8::1:53/128",
        "allow tcp to 2001:db8::53",
    ] {
        assert!(diags(&in_block(fine)).is_empty(), "{fine}");
    }
}

/// A lookalike inside a word got a misleading diagnostic: a Cyrillic `о` in `allоw`
/// gave "unexpected word `all`", a zero-width space inside `allow` "unexpected word
/// `al`" (only a lookalike at the start of a word was named). Now the character is
/// named with its code point, its own byte is labelled, and the help spells the word
/// as it was meant.
#[test]
fn a_lookalike_inside_a_word_is_named_at_its_own_place() {
    for (line, odd, named, meant) in [
        (
            "all\u{43e}w tcp to *:22",
            '\u{43e}',
            "`\u{43e}` (U+043E)",
            "allow",
        ),
        (
            "al\u{200b}low tcp to *:22",
            '\u{200b}',
            "a zero-width space (U+200B)",
            "allow",
        ),
        (
            "drop t\u{441}p to *:22",
            '\u{441}',
            "`\u{441}` (U+0441)",
            "tcp",
        ),
        (
            "drop tcp to *:22 l\u{3bf}g",
            '\u{3bf}',
            "`\u{3bf}` (U+03BF)",
            "log",
        ),
    ] {
        let src = in_block(line);
        let d = only_error(&src);
        assert_eq!(
            d.message,
            format!("syntax error: unexpected character: {named}"),
            "{line:?}"
        );
        let at = src.find(odd).unwrap();
        assert_eq!(
            (d.labels[0].span.start, d.labels[0].span.end),
            (at, at + odd.len_utf8()),
            "{line:?}"
        );
        assert_eq!(
            d.help.as_deref(),
            Some(format!("did you mean `{meant}`?").as_str()),
            "{line:?}"
        );
    }
}

/// NUL bytes, a BOM and control characters were "unexpected input" without naming the
/// character; a NUL inside a quoted interface name passed `check`.
#[test]
fn invisible_characters_are_named_and_a_nul_in_a_name_is_refused() {
    for (src, named) in [
        (in_block("drop\0 tcp"), "a NUL byte (U+0000)"),
        (
            format!("\u{feff}{}", in_block("drop tcp")),
            "a byte-order mark (U+FEFF)",
        ),
        (in_block("drop\u{7} tcp"), "a control character (U+0007)"),
        (in_block("drop tcp to 1.2.3.4:1\u{2013}2"), "`–` (U+2013)"),
    ] {
        let d = only_error(&src);
        assert_eq!(
            d.message,
            format!("syntax error: unexpected character: {named}")
        );
    }
    let d = only_error("xdp on \"eth\0\" { default allow }\n");
    assert_eq!(d.code, "sockc::bad-interface");
    assert_eq!(d.message, "`eth\\x00` is not a valid interface name");
}

/// A file holds at most `sema::MAX_BLOCKS` hook blocks: the next is refused once, at
/// its head, and the ones after it are not compiled (a 2.5 MB file of 80,000 blocks
/// took 45 s and 2 GB to check).
#[test]
fn blocks_past_the_limit_are_refused_once() {
    let max = sockc_compiler::sema::MAX_BLOCKS;
    let src: String = (0..max + 3)
        .map(|i| format!("xdp on e{i} {{\n    default allow\n}}\n"))
        .collect();
    let (compiled, diags) = sockc_compiler::compile(&src, &Default::default());
    assert!(compiled.is_none());
    let refused: Vec<_> = diags
        .iter()
        .filter(|d| d.code == "sockc::too-many-blocks")
        .collect();
    assert_eq!(refused.len(), 1, "{diags:#?}");
    let at = refused[0].labels[0].span;
    assert!(
        src[at.start..].starts_with(&format!("xdp on e{max} ")),
        "{:?}",
        &src[at.start..at.start + 20]
    );
    let fits: String = (0..max)
        .map(|i| format!("xdp on e{i} {{\n    default allow\n}}\n"))
        .collect();
    let (compiled, diags) = sockc_compiler::compile(&fits, &Default::default());
    assert!(compiled.is_some(), "{diags:#?}");
}
