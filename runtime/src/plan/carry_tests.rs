//! The counter carry pairs the rules an alignment of their comparable texts pairs,
//! whichever keys it aligns on; its counters share their program's symbol, and the
//! slots no counter stays in are the fresh ones.

use super::*;
// The slots the carry leaves free are the plan's (its `mod.rs`) to count.
use crate::plan::{fresh_slots, tests::program_of, Snapshot};

/// The pairs an alignment of the comparable texts themselves keeps.
fn reference(old: &[String], new: &[String]) -> Vec<(usize, usize)> {
    let key = |t: &[String]| -> Vec<String> {
        t.iter()
            .map(|s| crate::rule_id::comparable_text(s).into_owned())
            .collect()
    };
    sockc_compiler::align::diff_ops(&key(old), &key(new))
        .iter()
        .filter(|op| op.tag() == DiffTag::Equal)
        .flat_map(|op| op.old_range().zip(op.new_range()))
        .collect()
}

fn rules(texts: &[String]) -> Vec<RuleMeta> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| RuleMeta {
            counter: i as u32,
            line: i + 2,
            text: t.as_str().into(),
            socket: None,
        })
        .collect()
}

fn carried(old: &[String], new: &[String]) -> Vec<(usize, usize)> {
    carry_ops(&rules(old), &rules(new))
        .iter()
        .filter(|op| op.tag() == DiffTag::Equal)
        .flat_map(|op| op.old_range().zip(op.new_range()))
        .collect()
}

/// A small generator (xorshift), the same cases on every run.
struct Cases(u64);

impl Cases {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A text of a few kinds: repeated ones, `log` turned on (whose comparable form is
/// the text without it), white space doubled.
fn text(c: &mut Cases) -> String {
    let base = format!("drop udp to *:{}", c.below(40));
    match c.below(6) {
        0 => format!("{base} log"),
        1 => base.replace(' ', "  "),
        _ => base,
    }
}

/// `old` changed by `edits` inserts, removals, replacements and `log` toggled, each
/// somewhere in the listing or right at its ends.
fn edited(c: &mut Cases, old: &[String], edits: usize) -> Vec<String> {
    let mut new = old.to_vec();
    for _ in 0..edits {
        let at = match c.below(4) {
            0 => 0,
            1 => new.len(),
            _ => c.below(new.len() + 1),
        };
        match c.below(4) {
            0 => new.insert(at, text(c)),
            1 if at < new.len() => drop(new.remove(at)),
            2 if at < new.len() => new[at] = text(c),
            _ if at < new.len() => new[at] = format!("{} log", new[at]),
            _ => {}
        }
    }
    new
}

/// 600 pairs of listings, small and large middles (either side of the keys'
/// choice, `IN_PLACE_MIDDLE`), `log` turned on next to the ends equal as written (the
/// comparable head and tail run past them), repeated texts: the carry's pairs are the
/// reference's.
#[test]
fn the_carry_pairs_what_the_comparable_texts_pair() {
    let mut c = Cases(0x9e37_79b9_7f4a_7c15);
    let (mut small, mut large) = (0, 0);
    for case in 0..600 {
        let len = [0, 1, 3, 40, 400][case % 5];
        let old: Vec<String> = (0..len).map(|_| text(&mut c)).collect();
        let edits = [0, 1, 2, 5, 30, 200][c.below(6)];
        let new = edited(&mut c, &old, edits);
        let ends = ends_equal_as_written(&rules(&old), &rules(&new));
        match old.len() + new.len() - 2 * (ends.head + ends.tail) <= IN_PLACE_MIDDLE {
            true => small += 1,
            false => large += 1,
        }
        assert_eq!(
            carried(&old, &new),
            reference(&old, &new),
            "case {case}\nold {old:?}\nnew {new:?}"
        );
    }
    assert!(small > 200 && large > 50, "{small} in place, {large} keyed");
}

/// `log` turned on in the rule after the common head and before the common tail:
/// the texts differ as written, the comparable forms do not, so their counters carry.
#[test]
fn a_rule_with_log_turned_on_next_to_the_ends_keeps_its_counter() {
    let old: Vec<String> = (0..1000).map(|i| format!("drop udp to *:{i}")).collect();
    let mut new = old.clone();
    new[500] = format!("{} log", new[500]);
    new[502] = format!("{} log", new[502]);
    new.insert(501, "allow tcp to *:22".into());
    // Seven rules between the ends equal as written: aligned in place.
    let ends = ends_equal_as_written(&rules(&old), &rules(&new));
    assert_eq!(
        ends,
        Ends {
            head: 500,
            tail: 497
        }
    );
    let pairs = carried(&old, &new);
    assert_eq!(pairs.len(), 1000);
    assert!(pairs.contains(&(500, 500)) && pairs.contains(&(502, 503)));
    assert_eq!(pairs, reference(&old, &new));
}

/// The counter carry, which compares texts as written before their comparable forms,
/// pairs exactly the rules an alignment of the comparable forms pairs: with `log`
/// turned on and white space changed in the common head and tail, and in a middle
/// long enough to be anchored on unique keys (hashed), with repeated texts in it.
#[test]
fn the_counter_carry_aligns_as_the_comparable_texts_do() {
    let rule = |i: usize| format!("drop udp to *:{}", 1000 + i % 3000);
    let old: Vec<String> = (0..9000).map(rule).collect();
    let mut new = old.clone();
    new[1] = format!("{} log", new[1]);
    new[8990] = new[8990].replace(' ', "  ");
    for i in (2000..7000).step_by(7) {
        new[i] = format!("{} log 5/s", new[i]);
    }
    for i in (2003..7000).step_by(11) {
        new[i] = format!("allow tcp to *:{i}");
    }
    new.insert(4500, rule(17));
    new.remove(3000);
    let (o, n) = (program_of(&old), program_of(&new));
    let key = |t: &[String]| -> Vec<String> {
        t.iter()
            .map(|s| crate::rule_id::comparable_text(s).into_owned())
            .collect()
    };
    let expected: Vec<(u32, u32)> = sockc_compiler::align::diff_ops(&key(&old), &key(&new))
        .iter()
        .filter(|op| op.tag() == DiffTag::Equal)
        .flat_map(|op| op.old_range().zip(op.new_range()))
        .map(|(i, j)| (i as u32, j as u32))
        .collect();
    let got: Vec<(u32, u32)> = carry_counters(&o, &n)
        .iter()
        .map(|c| (c.old_slot, c.new_slot))
        .collect();
    assert!(expected.len() > 8000, "{}", expected.len());
    assert!(expected.contains(&(1, 1)) && expected.contains(&(8990, 8990)));
    assert_eq!(got, expected);
}

/// The fresh slots are the new rules' slots that no counter stays in (carried from
/// the same slot), sorted and once each, as a search of the sorted carried slots
/// finds them: with slots below the bit set's bound (twice the rules), at it and far
/// beyond it (a slot set from an older file), repeated slots, and carries that move.
#[test]
fn fresh_slots_are_the_slots_no_counter_stays_in() {
    let texts: Vec<String> = (0..50).map(|i| format!("drop udp to *:{i}")).collect();
    let mut program = program_of(&texts);
    let bound = 2 * texts.len() as u32;
    let slots = [0, 1, 63, 64, 65, 99, bound - 1, bound, bound + 1, 5_000_000];
    let mut rules = program.rules.to_vec();
    for (i, r) in rules.iter_mut().enumerate() {
        r.counter = slots[i % slots.len()] + (i / slots.len()) as u32 * 2;
    }
    program.rules = rules.into();
    let new = Snapshot {
        programs: vec![program],
        ..Snapshot::default()
    };
    let all: Vec<u32> = new.programs[0].rules.iter().map(|r| r.counter).collect();
    let carry = |old_slot: u32, new_slot: u32| CounterCarry {
        symbol: "xdp_eth0".into(),
        old_slot,
        new_slot,
    };
    // Every other rule's slot stays; every third moves (its counts go elsewhere).
    let carried: Vec<CounterCarry> = all
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if i % 3 == 0 {
                carry(s + 1, s)
            } else {
                carry(s, s)
            }
        })
        .filter(|c| c.new_slot % 2 == 0 || c.old_slot != c.new_slot)
        .collect();
    let mut stayed: Vec<u32> = carried
        .iter()
        .filter(|c| c.old_slot == c.new_slot)
        .map(|c| c.new_slot)
        .collect();
    stayed.sort_unstable();
    let mut expected: Vec<u32> = all
        .iter()
        .copied()
        .filter(|s| stayed.binary_search(s).is_err())
        .collect();
    expected.sort_unstable();
    expected.dedup();
    let got = fresh_slots(&carried, &new);
    assert_eq!(got, expected);
    assert!(got.iter().any(|&s| s >= bound) && got.iter().any(|&s| s < bound));
    assert!(stayed.iter().any(|&s| s >= bound) && stayed.iter().any(|&s| s < 64));
    assert!(
        got.contains(&5_000_000) && !got.contains(&5_000_002),
        "{got:?}"
    );
    assert_eq!(fresh_slots(&[], &new).len(), {
        let mut a = all.clone();
        a.sort_unstable();
        a.dedup();
        a.len()
    });
}

/// A program's carried counters share one symbol text, serialized as a string.
#[test]
fn carried_counters_share_their_program_symbol() {
    let texts: Vec<String> = (0..5).map(|i| format!("drop udp to *:{i}")).collect();
    let p = program_of(&texts);
    let carried = carry_counters(&p, &p);
    assert_eq!(carried.len(), 5);
    assert!(carried
        .iter()
        .all(|c| std::sync::Arc::ptr_eq(&c.symbol, &carried[0].symbol)));
    assert_eq!(
        serde_json::to_value(&carried[0]).unwrap(),
        serde_json::json!({ "symbol": "xdp_eth0", "old_slot": 0, "new_slot": 0 })
    );
}
