//! The packet-mark bit the residual sets on a packet it accepted (so that sockc's
//! block, which runs after it and reads `skb->mark`, lets the packet through as
//! decided) and that a chain after sockc's block clears again.
//!
//! Invariant: the bit is one no rule of the ruleset may set — every mark or connmark
//! statement's numbers (values and masks) are counted as set, a statement that
//! sets the mark from something other than a number or another mark counts as
//! setting every bit, and so does a copy of the conntrack mark into the packet's
//! where some statement saves the packet's mark (which may come with any bit) into
//! the conntrack mark — so when the residual runs, the bit is clear unless the
//! residual itself set it (and what else on the host marks packets is documented, not
//! guessed); and one no rule tests — a mark test's mask, or the bits of the values it
//! compares the whole mark with — as the residual clears the bit before the rules
//! read the mark (`-m mark --mark 0x80000000/0x80000000 -j DROP` never matched once
//! bit 31 was taken). The highest free bit is taken, from bit 31 down to
//! [`LOWEST_BIT`] (the bits sockc's mark test keeps exactly): other software
//! allocates marks from the low bits up (kube-proxy 0x4000 and 0x8000, WireGuard's
//! 0xca6c).

use crate::model::{Key, Match, MatchKind, Rhs, Ruleset, Value};

/// The lowest bit the residual may take: sockc's narrow mark test keeps a one-bit
/// mask exactly only when at most 8 bits lie above it (`syntax::mark::MAX_INTERVALS`).
pub const LOWEST_BIT: u32 = 23;

/// The bit to use (a `u32` with one bit set), or `None` when every bit from
/// [`LOWEST_BIT`] up may be set.
pub fn choose(rs: &Ruleset) -> Option<u32> {
    let used = bits_set(rs) | rs.mark_bits_read;
    (LOWEST_BIT..32)
        .rev()
        .map(|b| 1u32 << b)
        .find(|b| used & b == 0)
}

/// The mark bits the ruleset's statements may set. A copy of the conntrack mark into
/// the packet's (`CONNMARK --restore-mark`, `meta mark set ct mark`) may set every
/// bit when some statement copies the packet's mark into the conntrack mark
/// (`--save-mark`, `ct mark set meta mark`): the packet's mark may hold any bit as it
/// comes (a socket's `SO_MARK`), and the copy back would put the residual's bit on a
/// packet the residual never decided, after its chain cleared it.
pub fn bits_set(rs: &Ruleset) -> u32 {
    let texts = || {
        rs.rules
            .iter()
            .flat_map(crate::model::Rule::statement_texts)
    };
    let saved = texts().any(|t| copy_of(&t.to_ascii_lowercase()) == Some(Copy::IntoConntrack));
    texts().fold(0, |used, t| used | bits_of(t, saved))
}

/// Which way a statement that names no number copies one mark into the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Copy {
    /// The packet's mark into the conntrack mark (`--save-mark`, `ct mark set meta
    /// mark`).
    IntoConntrack,
    /// The conntrack mark into the packet's (`--restore-mark`, `meta mark set ct
    /// mark`).
    IntoPacket,
}

/// The copy statement `lower` (lower case) makes, if it is one.
fn copy_of(lower: &str) -> Option<Copy> {
    if lower.contains("save-mark") {
        return Some(Copy::IntoConntrack);
    }
    if lower.contains("restore-mark") {
        return Some(Copy::IntoPacket);
    }
    let (target, value) = lower.split_once(" set ")?;
    let (target, value) = (target.trim(), value.trim());
    let conntrack = |w: &str| w == "ct mark" || w.ends_with(" ct mark");
    let packet = |w: &str| w == "mark" || w == "meta mark" || w.ends_with(" meta mark");
    match () {
        _ if conntrack(target) && packet(value) => Some(Copy::IntoConntrack),
        _ if packet(target) && conntrack(value) => Some(Copy::IntoPacket),
        _ => None,
    }
}

/// The packet-mark bits the ruleset's matches may look for set: a test of the mark
/// (`-m mark`, `meta mark`) that some of its marks pass only with the bit set, or,
/// negated, that reads the bit at all (every bit for a set of marks or a mark test the
/// import does not interpret). The residual clears its bit before the rules read the
/// mark, so a packet that comes with it (a socket's `SO_MARK`) is read as without it:
/// a test that wants the bit clear sees it clear, as docs/import.md says; a test that
/// wants it set would never match. Read as the reader made them, before any test is
/// made opaque ([`crate::model::Ruleset::mark_bits_read`]).
pub fn bits_tested(rs: &Ruleset) -> u32 {
    rs.rules
        .iter()
        .flat_map(|r| &r.matches)
        .fold(0, |bits, m| bits | match_bits(m))
}

fn match_bits(m: &Match) -> u32 {
    match &m.kind {
        MatchKind::Test { keys, rhs } => match keys.iter().position(|k| *k == Key::Mark) {
            None => 0,
            Some(at) => rhs_bits(rhs, at, m.negated),
        },
        MatchKind::Any(alternatives) => alternatives
            .iter()
            .flatten()
            .fold(0, |b, m| b | match_bits(m)),
        // A `fib` lookup keyed by the mark reads it whole, as routing does: a packet
        // that comes with the bit is looked up without it, the documented `SO_MARK`
        // case.
        MatchKind::Opaque { key, .. }
            if key.to_ascii_lowercase().contains("mark") && !key.contains("fib") =>
        {
            let lower = key.to_ascii_lowercase();
            let connmark_only = lower.contains("connmark") || lower.contains("ct mark");
            if connmark_only && !lower.contains("meta mark") {
                return 0;
            }
            // `--mark V/M` (a mask of many blocks the reader leaves opaque): the test
            // is `(mark & M) == V`, as a masked test reads it.
            if let Some((value, mask)) = value_and_mask(&lower) {
                return if m.negated { mask } else { value & mask };
            }
            match numbers(&lower).into_iter().reduce(|a, b| a | b) {
                Some(n) if n != 0 && !m.negated => n,
                _ => u32::MAX,
            }
        }
        MatchKind::Opaque { .. } | MatchKind::Cgroup(_) => 0,
    }
}

/// The value and mask of the first `V/M` word of `text`, when both are numbers.
fn value_and_mask(text: &str) -> Option<(u32, u32)> {
    let word = text.split_whitespace().find(|w| w.contains('/'))?;
    let (v, m) = word.split_once('/')?;
    match (numbers(v).as_slice(), numbers(m).as_slice()) {
        ([v], [m]) => Some((*v, *m)),
        _ => None,
    }
}

/// The mark bits a test of `rhs` may look for set (`negated`: may read at all), the
/// mark being key `at` of its keys.
fn rhs_bits(rhs: &Rhs, at: usize, negated: bool) -> u32 {
    let low = |v: u128| u32::try_from(v).unwrap_or(u32::MAX);
    match rhs {
        Rhs::Masked { mask, .. } if negated => low(*mask),
        Rhs::Masked { mask, value } => low(*mask & *value),
        Rhs::AnyBit(mask) => low(*mask),
        Rhs::Elements(elements) => {
            let marks: Option<Vec<(u64, u64)>> = elements
                .iter()
                .map(|e| match (e.len(), e.get(at)) {
                    (1, Some(Value::Range(lo, hi))) => Some((low(*lo).into(), low(*hi).into())),
                    _ => None,
                })
                .collect();
            // A concatenation's marks go with other keys: every bit.
            marks.map_or(u32::MAX, |m| interval_bits(&merged(m), negated))
        }
        Rhs::Set(_) => u32::MAX,
    }
}

/// The candidate bits (from [`LOWEST_BIT`] up) a test admitting the marks `set`
/// (sorted, disjoint ranges) may look for set: some admitted mark has the bit and
/// is no longer admitted with it cleared; `negated` (the test admits the others),
/// also some refused mark with the bit clear that is admitted with it set. Exact over
/// the ranges: `0x4000/0x4000`, which the reader writes as 2^18 blocks, reads bit 14
/// alone; `0x80000000/0x80000000` reads bit 31.
fn interval_bits(set: &[(u64, u64)], negated: bool) -> u32 {
    (LOWEST_BIT..32).fold(0, |bits, b| {
        let bit = 1u64 << b;
        // The admitted marks with the bit, cleared; the admitted marks without it.
        let with = halves(set, bit, true);
        let without = halves(set, bit, false);
        let lost = !covers(&without, &with);
        let gained = negated && !covers(&with, &without);
        bits | u32::from(lost || gained) << b
    })
}

/// The marks of `set` whose bit `bit` is `on`, that bit cleared.
fn halves(set: &[(u64, u64)], bit: u64, on: bool) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(lo, hi) in set {
        // Periods of 2 * bit: the lower half has the bit clear, the upper set.
        let mut start = lo - lo % (2 * bit);
        while start <= hi {
            let (a, b) = match on {
                true => (start + bit, start + 2 * bit - 1),
                false => (start, start + bit - 1),
            };
            let (a, b) = (a.max(lo), b.min(hi));
            if a <= b {
                out.push(if on { (a - bit, b - bit) } else { (a, b) });
            }
            start += 2 * bit;
        }
    }
    merged(out)
}

/// `ranges` sorted, overlapping and touching ones joined.
fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Whether the merged ranges `outer` hold every value of the merged ranges `inner`.
fn covers(outer: &[(u64, u64)], inner: &[(u64, u64)]) -> bool {
    inner.iter().all(|&(lo, hi)| {
        let i = outer.partition_point(|&(_, h)| h < lo);
        outer.get(i).is_some_and(|&(a, b)| a <= lo && hi <= b)
    })
}

/// The bits one statement's text may set: none unless it names a mark; the numbers it
/// holds when it has some (every bit up to the largest of them when the value is
/// computed: a hash, a counter, a map); every bit when it sets a mark from something
/// that names no number and is not another mark; for a copy of the conntrack mark into
/// the packet's, every bit when the ruleset `saved` the packet's mark there, else none
/// (the conntrack mark then holds only bits the ruleset's numbers set, counted there).
fn bits_of(text: &str, saved: bool) -> u32 {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("mark") {
        return 0;
    }
    if let Some(rest) = lower.split("--set-xmark").nth(1) {
        // `MARK`/`CONNMARK --set-xmark V/M` (what iptables-save prints for
        // `--set-mark V`): mark = (mark & ~M) ^ V, so only V's bits may become set.
        return numbers(rest).first().copied().unwrap_or(u32::MAX);
    }
    let numbers = numbers(&lower);
    if numbers.is_empty() {
        // nft's `meta mark set X` / `ct mark set X`: a copy only when X is the other
        // mark itself (`meta mark set tcp sequence` sets any bit); iptables' copies
        // name no number and no `set` value.
        let value = lower.split(" set ").nth(1).map(str::trim);
        let copy = match value {
            Some(v) => ["ct mark", "meta mark", "mark"].contains(&v),
            None => ["restore-mark", "save-mark", "\"mark\""]
                .iter()
                .any(|c| lower.contains(c)),
        };
        let setter = lower.contains("set") || lower.contains("mark ");
        let restores = copy_of(&lower) == Some(Copy::IntoPacket);
        return match () {
            _ if copy && restores && saved => u32::MAX,
            _ if !setter || copy => 0,
            _ => u32::MAX,
        };
    }
    // A value computed at run time (a hash or a counter modulo N, a map) may be any
    // number up to the largest one named.
    let computed = ["hash", "numgen", " mod ", " map "]
        .iter()
        .any(|w| lower.contains(w));
    numbers.into_iter().fold(0, |a, n| {
        if computed && n != 0 {
            a | (u32::MAX >> n.leading_zeros())
        } else {
            a | n
        }
    })
}

/// Every hexadecimal (`0x...`) and decimal number in `text` that fits 32 bits (a
/// larger one counts as every bit).
fn numbers(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let (radix, from) = if b[i] == b'0' && b.get(i + 1) == Some(&b'x') {
            (16, i + 2)
        } else {
            (10, i)
        };
        let mut end = from;
        while end < b.len() && (b[end] as char).is_digit(radix) {
            end += 1;
        }
        let n = u64::from_str_radix(&text[from..end], radix).unwrap_or(u64::MAX);
        out.push(u32::try_from(n).unwrap_or(u32::MAX));
        i = end.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_conntrack_mark_may_set_every_bit_once_the_packets_is_saved() {
        // Saved from a packet that came with any bit (`SO_MARK`), restored after the
        // residual's chain cleared its bit: the bit would be back (a bypass).
        for restore in [
            "-j CONNMARK --restore-mark",
            "meta mark set ct mark",
            "mark set ct mark",
        ] {
            assert_eq!(copy_of(restore), Some(Copy::IntoPacket), "{restore}");
            assert_eq!(bits_of(restore, true), u32::MAX, "{restore}");
            assert_eq!(bits_of(restore, false), 0, "{restore}");
        }
        for save in [
            "-j CONNMARK --save-mark",
            "ct mark set meta mark",
            "ct mark set mark",
        ] {
            assert_eq!(copy_of(save), Some(Copy::IntoConntrack), "{save}");
            // The conntrack mark is not the packet's: a save alone sets no bit of it.
            assert_eq!(bits_of(save, true), 0, "{save}");
        }
        assert_eq!(copy_of("meta mark set 0x1"), None);
        assert_eq!(copy_of("ct mark set tcp sequence"), None);
        // iptables-save prints a copy's masks: their numbers count, saved or not.
        let masked = "-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff";
        assert_eq!(bits_of(masked, true), 0xff);
    }

    #[test]
    fn statements_set_the_bits_they_name() {
        let bits_of = |t| bits_of(t, false);
        assert_eq!(bits_of("-j MARK --set-xmark 0x4000/0x4000"), 0x4000);
        assert_eq!(
            bits_of("-j MARK --set-xmark 0x1000000/0xffffffff"),
            0x0100_0000
        );
        assert_eq!(bits_of("-j CONNMARK --set-xmark 0x20/0xffffffff"), 0x20);
        assert_eq!(bits_of("meta mark set 0xffff"), 0xffff);
        assert_eq!(bits_of("-j CONNMARK --restore-mark"), 0);
        assert_eq!(bits_of("meta mark set ct mark"), 0);
        assert_eq!(bits_of("ct mark set meta mark"), 0);
        assert_eq!(bits_of("meta mark set tcp sequence"), u32::MAX);
        assert_eq!(bits_of("ct mark set tcp sequence"), u32::MAX);
        assert_eq!(bits_of("meta mark set jhash ip saddr mod 4"), 7);
        assert_eq!(bits_of("meta mark set symhash mod 2 map { 0 : 1 }"), 3);
        assert_eq!(bits_of("counter"), 0);
        let bits =
            |ranges: &[(u64, u64)], negated| interval_bits(&merged(ranges.to_vec()), negated);
        assert_eq!(bits(&[(0x8000_0000, 0xffff_ffff)], false), 0x8000_0000);
        assert_eq!(bits(&[(0x8000_0000, 0xffff_ffff)], true), 0x8000_0000);
        // 0x4000/0x4000 as the reader writes it: every block of 2^14 with bit 14 set.
        let low: Vec<(u64, u64)> = (0..1u64 << 17)
            .map(|k| (k << 15 | 0x4000, k << 15 | 0x7fff))
            .collect();
        assert_eq!(bits(&low, false), 0);
        assert_eq!(bits(&low, true), 0);
        // 0x1000000/0xff000000: bits 25-31 must be clear (looked for clear only).
        assert_eq!(bits(&[(0x100_0000, 0x1ff_ffff)], false), 0x100_0000);
        assert_eq!(
            bits(&[(0x100_0000, 0x1ff_ffff)], true),
            0xff00_0000 & !0x7f_ffff
        );
        assert_eq!(bits(&[(0x10, 0x10)], false), 0);
        assert_eq!(bits(&[(0x10, 0x10)], true), 0xff80_0000);
        assert_eq!(bits(&[(0, u64::from(u32::MAX))], false), 0);
        assert_eq!(
            value_and_mask("-m mark --mark 0x4000/0x4000"),
            Some((0x4000, 0x4000))
        );
        assert_eq!(value_and_mask("-m mark --mark 0x4000"), None);
        assert_eq!(bits_of("meta mark set 0xff800000"), 0xff80_0000);
        assert_eq!(
            bits_of("-j TPROXY --on-port 1 --tproxy-mark 0x80000000/0x80000000"),
            0x8000_0001
        );
    }
}
