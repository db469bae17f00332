//! A set map's change is found inside long lists of entries, block by block, and a
//! whole set that appears or goes is its change as compiled; entries decode to the
//! prefixes they hold, and journals of earlier versions still read.

use super::*;

#[test]
fn set_entries_decode_to_prefixes() {
    let v4 = "18000000cb007100";
    assert_eq!(describe_entry("set_x_v4", v4, "01"), "203.0.113.0/24");
    assert_eq!(
        describe_entry("set_x_v4", "20000000c6336407", "01"),
        "198.51.100.7"
    );
    let v6 = format!("30000000{}", "20010db80bad00000000000000000000");
    assert_eq!(describe_entry("set_x_v6", &v6, "01"), "2001:db8:bad::/48");
    let v6_host = format!("80000000{}", "20010db8000000000000000000000001");
    assert_eq!(describe_entry("set_x_v6", &v6_host, "01"), "2001:db8::1");
    assert_eq!(
        describe_entry("set_x_v4", "00000000000000000", "01"),
        "00000000000000000 => 01"
    );
    assert_eq!(
        describe_entry("set_x_v4", "21000000c6336407", "01"),
        "21000000c6336407 => 01"
    );
    assert_eq!(describe_entry("counters", v4, "01"), format!("{v4} => 01"));
}

/// A set that appears (a first install) or goes is the change as it is: the compiled
/// entries themselves, every one, not a copy made entry by entry; and a journal of an
/// earlier version, whose set changes are lists of hex pairs, still reads.
#[test]
fn a_whole_set_is_its_own_change_and_old_journals_read() {
    use sockc_compiler::bpf::maps::Entries;
    let mut e = Entries::with_capacity(4, 1, 3000);
    for i in 0..3000u32 {
        e.push(&i.to_be_bytes(), &[1]);
    }
    let set = MapContents {
        map: "set_big_v4".into(),
        entries: e.clone(),
    };
    let first = set_changes(&[], std::slice::from_ref(&set));
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].added.clone(), first[0].removed.len()),
        (e.clone(), 0)
    );
    assert_eq!(
        first[0].added.keys(0, 3000).as_ptr(),
        e.keys(0, 3000).as_ptr(),
        "the compiled buffer, shared"
    );
    let gone = set_changes(std::slice::from_ref(&set), &[]);
    assert_eq!((gone[0].added.len(), gone[0].removed.clone()), (0, e));
    let old = r#"{"map":"set_x_v4","added_raw":[["18000000cb007100","01"]],"removed_raw":[]}"#;
    let read: SetChange = serde_json::from_str(old).unwrap();
    assert_eq!(read.added_text().collect::<Vec<_>>(), ["203.0.113.0/24"]);
    assert!(read.removed.is_empty());
    let again: SetChange = serde_json::from_str(&serde_json::to_string(&read).unwrap()).unwrap();
    assert_eq!(again, read);
}

/// The diff of two large lists of entries: an element added in the middle, one
/// removed, one value changed, and the same entries in another order (nothing).
#[test]
fn entry_changes_find_the_change_inside_long_lists() {
    use sockc_compiler::bpf::maps::Entries;
    let list = |ids: &[u32], changed: Option<u32>| {
        let mut e = Entries::with_capacity(4, 1, ids.len());
        for &i in ids {
            e.push(&i.to_le_bytes(), &[if Some(i) == changed { 2 } else { 1 }]);
        }
        MapContents {
            map: "set_big_v4".into(),
            entries: e,
        }
    };
    let base: Vec<u32> = (0..1000).collect();
    let mut more = base.clone();
    more.insert(500, 5000);
    let mut fewer = base.clone();
    fewer.remove(10);
    let one = |old: &MapContents, new: &MapContents| {
        let c = set_changes(std::slice::from_ref(old), std::slice::from_ref(new));
        assert!(c.len() <= 1);
        c.into_iter()
            .next()
            .map(|c| (c.added.to_hex_pairs(), c.removed.to_hex_pairs()))
            .unwrap_or_default()
    };
    let pair = |i: u32, v: &str| (sockc_compiler::bpf::maps::hex(&i.to_le_bytes()), v.into());
    let b = list(&base, None);
    assert_eq!(
        one(&b, &list(&more, None)),
        (vec![pair(5000, "01")], vec![])
    );
    assert_eq!(
        one(&list(&more, None), &b),
        (vec![], vec![pair(5000, "01")])
    );
    assert_eq!(one(&b, &list(&fewer, None)), (vec![], vec![pair(10, "01")]));
    assert_eq!(
        one(&b, &list(&base, Some(999))),
        (vec![pair(999, "02")], vec![])
    );
    assert_eq!(
        one(&b, &list(&base, Some(0))),
        (vec![pair(0, "02")], vec![])
    );
    let mut reversed = base.clone();
    reversed.reverse();
    assert_eq!(one(&b, &list(&reversed, None)), (vec![], vec![]));
    let empty = list(&[], None);
    assert_eq!(
        one(&empty, &list(&[7], None)),
        (vec![pair(7, "01")], vec![])
    );
}

/// Lists longer than the blocks `shared_run` compares at once: a change on either
/// side of a block's edge, at the very start and end, and in the last, partial block
/// is found, whichever end the shared run is counted from.
#[test]
fn entry_changes_find_changes_at_block_edges() {
    use sockc_compiler::bpf::maps::{hex, Entries};
    let n = 3 * SHARED_RUN_BLOCK as u32 + 17;
    let list = |ids: &[u32]| {
        let mut e = Entries::with_capacity(4, 1, ids.len());
        for &i in ids {
            e.push(&i.to_be_bytes(), &[1]);
        }
        MapContents {
            map: "set_big_v4".into(),
            entries: e,
        }
    };
    // The keys (hex) one side of the changes holds.
    type Side = fn(&SetChange) -> &Entries;
    let keys = |changes: &[SetChange], side: Side| -> Vec<String> {
        changes
            .iter()
            .flat_map(|c| side(c).to_hex_pairs())
            .map(|p| p.0)
            .collect()
    };
    let (added, removed): (Side, Side) = (|c| &c.added, |c| &c.removed);
    let base: Vec<u32> = (0..n).map(|i| 2 * i).collect();
    let b = list(&base);
    let block = SHARED_RUN_BLOCK;
    for at in [0, 1, block - 1, block, block + 1, 2 * block, base.len() - 1] {
        let mut more = base.clone();
        more.insert(at, 2 * at as u32 + 1);
        let c = set_changes(std::slice::from_ref(&b), &[list(&more)]);
        let new = hex(&(2 * at as u32 + 1).to_be_bytes());
        assert_eq!(keys(&c, added), [new], "added at {at}");
        assert!(keys(&c, removed).is_empty(), "added at {at}");
        let mut fewer = base.clone();
        let gone = fewer.remove(at);
        let c = set_changes(std::slice::from_ref(&b), &[list(&fewer)]);
        assert_eq!(
            keys(&c, removed),
            [hex(&gone.to_be_bytes())],
            "removed at {at}"
        );
        assert!(keys(&c, added).is_empty(), "removed at {at}");
    }
}
