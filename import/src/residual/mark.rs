//! The packet-mark bit the residual sets on a packet it accepted (so that sockc's
//! block, which runs after it and reads `skb->mark`, lets the packet through as
//! decided) and that a chain after sockc's block clears again.
//!
//! Invariant: the bit is one no rule of the ruleset may set — every mark or connmark
//! statement's numbers (values and masks) are counted as set, and a statement that
//! sets the mark from something other than a number or another mark counts as
//! setting every bit — so when the residual runs, the bit is clear unless the
//! residual itself set it (and what else on the host marks packets is documented, not
//! guessed). The highest free bit is taken, from bit 31 down to [`LOWEST_BIT`] (the
//! bits sockc's mark test keeps exactly): other software allocates marks from the low
//! bits up (kube-proxy 0x4000 and 0x8000, WireGuard's 0xca6c).

use crate::model::{Effect, Ruleset, Verdict};

/// The lowest bit the residual may take: sockc's narrow mark test keeps a one-bit
/// mask exactly only when at most 8 bits lie above it (`syntax::mark::MAX_INTERVALS`).
pub const LOWEST_BIT: u32 = 23;

/// The bit to use (a `u32` with one bit set), or `None` when every bit from
/// [`LOWEST_BIT`] up may be set.
pub fn choose(rs: &Ruleset) -> Option<u32> {
    let used = bits_set(rs);
    (LOWEST_BIT..32)
        .rev()
        .map(|b| 1u32 << b)
        .find(|b| used & b == 0)
}

/// The mark bits the ruleset's statements may set.
pub fn bits_set(rs: &Ruleset) -> u32 {
    let mut used = 0u32;
    for r in &rs.rules {
        let texts = r.effects.iter().filter_map(|e| match e {
            Effect::Other { text, .. } => Some(text.as_str()),
            _ => None,
        });
        let verdict = match &r.verdict {
            Verdict::Other { text, .. } => Some(text.as_str()),
            _ => None,
        };
        for t in texts.chain(verdict) {
            used |= bits_of(t);
        }
    }
    used
}

/// The bits one statement's text may set: none unless it names a mark; the numbers it
/// holds when it has some (every bit up to the largest of them when the value is
/// computed: a hash, a counter, a map); every bit when it sets a mark from something
/// that names no number and is not another mark.
fn bits_of(text: &str) -> u32 {
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
        let copies = [
            "restore-mark",
            "save-mark",
            "ct mark",
            "meta mark",
            "\"mark\"",
        ];
        let setter = lower.contains("set") || lower.contains("mark ");
        return if !setter || copies.iter().any(|c| lower.contains(c)) {
            0
        } else {
            u32::MAX
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
    fn statements_set_the_bits_they_name() {
        assert_eq!(bits_of("-j MARK --set-xmark 0x4000/0x4000"), 0x4000);
        assert_eq!(
            bits_of("-j MARK --set-xmark 0x1000000/0xffffffff"),
            0x0100_0000
        );
        assert_eq!(bits_of("-j CONNMARK --set-xmark 0x20/0xffffffff"), 0x20);
        assert_eq!(bits_of("meta mark set 0xffff"), 0xffff);
        assert_eq!(bits_of("-j CONNMARK --restore-mark"), 0);
        assert_eq!(bits_of("meta mark set ct mark"), 0);
        assert_eq!(bits_of("meta mark set jhash ip saddr mod 4"), 7);
        assert_eq!(bits_of("meta mark set symhash mod 2 map { 0 : 1 }"), 3);
        assert_eq!(bits_of("counter"), 0);
        assert_eq!(bits_of("meta mark set 0xff800000"), 0xff80_0000);
        assert_eq!(
            bits_of("-j TPROXY --on-port 1 --tproxy-mark 0x80000000/0x80000000"),
            0x8000_0001
        );
    }
}
