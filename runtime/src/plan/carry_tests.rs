//! The counter carry pairs the rules an alignment of their comparable texts pairs,
//! whichever keys it aligns on.

use super::*;

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
