//! Stable rule ids: the name a rule's counters go by in `stats`, the Prometheus export,
//! `test` and `compile --emit json`, and that a monitoring system keeps its series
//! under across re-applies.
//!
//! A rule's id depends only on where it is (the hook as the user writes it and what it
//! is attached to), its text with runs of white space made one space, and how many
//! rules of the same text come before it in the same block. It does not depend on its
//! line, on its counter slot, on a `log [N/s]` option or on the rules around it, so a re-apply that keeps a rule
//! as it was keeps its id, also when rules are inserted or removed before it; a rule
//! whose text changes gets a new id (and, like `plan`'s counter carry-over, new
//! counters). The default's text is `default VERDICT`.
//!
//! The id is `r` and the first 12 hex digits of the 64-bit FNV-1a hash of
//! `HOOK \0 ATTACH_TO \0 TEXT \0 N` (N counting from 0). The algorithm is part of the
//! contract (docs/json.md): changing it renames every series.

use std::{borrow::Cow, collections::HashMap, sync::LazyLock};

use sockc_compiler::byte_search::{find_byte, Substring};

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// White space collapsed, and the `log [N/s]` option left out: turning tracing on or
/// off keeps a rule's id. A text already in that form (ASCII words one space apart,
/// no `log`: what the compiler records for almost every rule) is borrowed as it is,
/// so a plan of 100k rules copies none.
pub fn comparable_text(text: &str) -> Cow<'_, str> {
    if is_comparable(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(collapsed(text))
}

/// Whether `text` is its own comparable form: printable ASCII, single spaces between
/// words, none at either end, and no `log` in it (as a word or not: the slow path
/// decides). A control byte of any kind also takes the slow path, which gives the same
/// answer. Checked without a branch per byte (a plan of 100k rules asks it of every
/// rule on both sides): the bytes' range in one pass the compiler vectorizes, `log`
/// only in a text with a `g` (most rules have none), each substring by a searcher
/// made once (the standard library's, set up for every rule, was most of a 100k
/// re-apply's counter carry), one that asks the CPU nothing (`byte_search`).
fn is_comparable(text: &str) -> bool {
    static SPACES: LazyLock<Substring> = LazyLock::new(|| Substring::new("  "));
    static LOG: LazyLock<Substring> = LazyLock::new(|| Substring::new("log"));
    let b = text.as_bytes();
    let outside = b
        .iter()
        .fold(false, |out, &c| out | (c.wrapping_sub(0x20) > 0x7e - 0x20));
    !(outside
        || b.first() == Some(&b' ')
        || b.last() == Some(&b' ')
        || SPACES.find(b).is_some()
        || (find_byte(b'g', b).is_some() && LOG.find(b).is_some()))
}

fn collapsed(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        // `type log` would be an ICMP type name, not the option.
        if words[i] == "log" && out.last() != Some(&"type") {
            i += 1;
            if words.get(i).is_some_and(|w| w.ends_with("/s")) {
                i += 1;
            }
            continue;
        }
        out.push(words[i]);
        i += 1;
    }
    out.join(" ")
}

/// The id of the `nth` rule (from 0) of text `text` in the block of `hook` on
/// `attach_to`.
pub fn rule_id(hook: &str, attach_to: &str, text: &str, nth: usize) -> String {
    let key = format!("{hook}\0{attach_to}\0{}\0{nth}", comparable_text(text));
    format!("r{:012x}", fnv1a(key.as_bytes()) >> 16)
}

/// The ids of one block's rules, in order (the default's text included).
pub fn block_ids<'a>(
    hook: &str,
    attach_to: &str,
    texts: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    texts
        .into_iter()
        .map(|t| {
            let n = seen.entry(comparable_text(t).into_owned()).or_default();
            let id = rule_id(hook, attach_to, t, *n);
            *n += 1;
            id
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The searchers say what the standard library's substring searches said: every
    /// string of up to five bytes over an alphabet of the bytes the check looks at.
    #[test]
    fn comparable_is_decided_as_the_substrings_say() {
        let alphabet = [b' ', b'l', b'o', b'g', b'x', b'\t', 0x7f];
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            last = last
                .iter()
                .flat_map(|t| {
                    alphabet.iter().map(move |&c| {
                        let mut t = t.clone();
                        t.push(c);
                        t
                    })
                })
                .collect();
            texts.extend(last.iter().cloned());
        }
        assert_eq!(texts.len(), (0..=5).map(|k| 7usize.pow(k)).sum::<usize>());
        let long = "allow ip4 tcp from 10.0.0.0/8 to 192.0.2.1:443 log 5/s".to_string();
        for t in texts
            .iter()
            .map(|t| String::from_utf8(t.clone()).expect("ASCII"))
            .chain([
                long.clone(),
                long.replace("log 5/s", "").trim_end().into(),
                long.replace(" to", "  to"),
            ])
        {
            let said = !(t.bytes().any(|c| !(0x20..=0x7e).contains(&c))
                || t.starts_with(' ')
                || t.ends_with(' ')
                || t.contains("  ")
                || t.contains("log"));
            assert_eq!(is_comparable(&t), said, "{t:?}");
        }
    }

    #[test]
    fn stable_across_insertions_and_white_space() {
        let a = block_ids("xdp", "eth0", ["drop udp to *:9001", "default allow"]);
        let b = block_ids(
            "xdp",
            "eth0",
            ["drop udp to *:9000", "drop  udp to *:9001", "default allow"],
        );
        assert_eq!(a[0], b[1]);
        assert_eq!(a[1], b[2]);
        assert_ne!(a[0], b[0]);
        assert_eq!(a[0].len(), 13);
        // `log` does not change the id.
        assert_eq!(rule_id("xdp", "eth0", "drop udp to *:9001 log", 0), a[0]);
        assert_eq!(
            rule_id("xdp", "eth0", "drop udp to *:9001 log 5/s", 0),
            a[0]
        );
        // Known value: the algorithm is part of the contract.
        assert_eq!(rule_id("xdp", "eth0", "default allow", 0), a[1]);
        assert_eq!(rule_id("xdp", "veth0", "default allow", 0), "ra4776f1a1810");
    }

    #[test]
    fn the_borrowed_form_is_the_collapsed_one() {
        for text in [
            "drop udp to *:9001",
            " drop  udp\tto *:9001 ",
            "drop udp to *:9001 log 5/s",
            "allow icmp type log",
            "drop from 10.0.0.1\u{a0}to *",
            "drop catalog",
            "drop udp  to *",
            "drop udp\nto *",
            "drop lo go",
            "drop\u{1}udp",
            "drop udp\u{7f}",
            "",
        ] {
            let fast = comparable_text(text);
            assert_eq!(fast, collapsed(text), "{text:?}");
            assert_eq!(
                matches!(fast, Cow::Borrowed(_)),
                ["drop udp to *:9001", "drop lo go", ""].contains(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn duplicates_and_places_differ() {
        let ids = block_ids("xdp", "eth0", ["count tcp", "count tcp", "default allow"]);
        assert_ne!(ids[0], ids[1]);
        assert_ne!(
            rule_id("xdp", "eth0", "count tcp", 0),
            rule_id("xdp", "eth1", "count tcp", 0)
        );
        assert_ne!(
            rule_id("xdp", "eth0", "count tcp", 0),
            rule_id("tc ingress", "eth0", "count tcp", 0)
        );
    }
}
