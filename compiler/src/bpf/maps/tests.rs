//! Tests of the map layout, its sizing and the table digests.

use super::{layout::*, *};
use crate::ir::AddrMatch;

/// An object of an older sockc named a table's digest `sha256` (a bare SHA-256): it
/// still reads, its digest kept as written, which no [`table_digest`] equals.
#[test]
fn an_older_objects_table_digest_still_reads() {
    let old = r#"{"map":"c0_tables","offset":0,"stored":8,"len":8,"value_size":8,"sha256":"ab"}"#;
    let t: TableData = serde_json::from_str(old).unwrap();
    assert_eq!(t.digest, "ab");
    assert!(!t.digest.starts_with(TABLE_DIGEST_PREFIX));
}

/// A table's digest names its hash function and is that function's hash of exactly
/// the bytes given (BLAKE3's published value for "abc"): one byte more, less or
/// other gives another, and none equals the SHA-256 of the same bytes in bare hex
/// (how sockc named tables before), so a manifest of then reads as changed.
#[test]
fn a_table_digest_is_the_blake3_of_exactly_its_bytes() {
    assert_eq!(
        table_digest(b"abc"),
        "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    );
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = table_digest(&bytes);
    assert!(d.starts_with(TABLE_DIGEST_PREFIX) && d.len() == TABLE_DIGEST_PREFIX.len() + 64);
    assert_ne!(d, sha256_hex(&bytes));
    assert_ne!(d[TABLE_DIGEST_PREFIX.len()..], sha256_hex(&bytes));
    assert_ne!(d, table_digest(&bytes[..bytes.len() - 1]));
    assert_ne!(d, table_digest(&[&bytes[..], &[0]].concat()));
    let mut other = bytes.clone();
    other[123_456] ^= 1;
    assert_ne!(d, table_digest(&other));
    assert_eq!(d, table_digest(&bytes.clone()));
}

/// The one pass over the rules finds what a scan per question finds: the counter
/// slots, the sets named, `limit`s and `per source` ones, ICMP answers; on every
/// rule file under `rules/` that compiles (some with each).
#[test]
fn the_rules_read_once_are_what_a_scan_each_finds() {
    let mut seen = RuleUse::default();
    for (f, c) in crate::bpf::test_support::example_modules() {
        let m = &c.module;
        let rules = || m.programs.values().flat_map(|p| &p.rules);
        let mut sets = std::collections::BTreeSet::new();
        for r in rules() {
            for a in [&r.m.src, &r.m.dst] {
                if let AddrMatch::Set(s) = a {
                    sets.insert(*s);
                }
            }
        }
        let each = RuleUse {
            slots: used_slots(m),
            sets,
            limits: rules().any(|r| r.m.limit().is_some()),
            per_source: rules().any(|r| r.m.limit().is_some_and(|l| l.limit.per_source)),
            answers: m.programs.values().any(|p| p.answers_icmp()),
        };
        let once = RuleUse::of(m);
        assert_eq!(once, each, "{}", f.display());
        assert_eq!(
            layout(m, &Sizing::of(m, None)).answers_limited,
            m.answers_limited(),
            "{}",
            f.display()
        );
        seen.sets.extend(once.sets);
        seen.limits |= once.limits;
        seen.per_source |= once.per_source;
        seen.answers |= once.answers;
    }
    assert!(!seen.sets.is_empty() && seen.limits && seen.per_source && seen.answers);
}

/// The map of `name` in `src` compiled.
fn set_map(src: &str, name: &str) -> MapDef {
    let (compiled, diags) = crate::compile(src, &Default::default());
    let c = compiled.unwrap_or_else(|| panic!("{diags:#?}"));
    c.maps.into_iter().find(|m| m.name == name).expect(name)
}

/// Each family's map is a hash map when every element of that family is a whole
/// address, else an LPM trie, with the same key and value either way: the lookup
/// code does not change with the kind.
#[test]
fn a_family_of_whole_addresses_is_a_hash_map() {
    let hash = bpf_map_type::BPF_MAP_TYPE_HASH as u32;
    let trie = bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32;
    for (elements, v4, v6) in [
        ("192.0.2.1, 192.0.2.9, 2001:db8::1", hash, hash),
        ("192.0.2.1, 198.51.100.0/24, 2001:db8::1", trie, hash),
        ("192.0.2.1, 2001:db8::/64, 2001:db8:1::1", hash, trie),
        ("10.0.0.0/8, 2001:db8::/32", trie, trie),
    ] {
        let src = format!(
            "set s = {{ {elements} }}\nxdp on eth0 {{\n  drop from @s\n  default allow\n}}\n"
        );
        for (name, family, want) in [("set_s_v4", Family::V4, v4), ("set_s_v6", Family::V6, v6)] {
            let m = set_map(&src, name);
            assert_eq!(m.map_type, want, "{elements}: {name}");
            assert_eq!(m.key, lpm_key_type(family), "{elements}: {name}");
            assert_eq!(m.value, BtfType::U8);
            assert_eq!(m.flags, BPF_F_NO_PREALLOC, "{elements}: {name}");
        }
    }
}
