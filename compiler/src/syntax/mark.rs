//! The packet mark (`skb->mark`) as a rule tests it, `mark VALUE[/MASK]`, and the
//! `residual` declaration of an imported file (docs/import.md, "The residual"): the
//! netfilter ruleset that runs beside the file's netfilter blocks, and the mark bit by
//! which it tells them what it has decided.
//!
//! This is the narrow form of the mark the import needs (TC and netfilter blocks, masks
//! whose values are few intervals); the language's general mark match takes it over.
//!
//! Invariant: a [`MarkTest`]'s value has no bit outside its mask, and
//! [`MarkTest::intervals`] is exactly the set of marks it admits, so the lowering, the
//! evaluator and the header space agree on every mark.

use std::fmt;

/// `mark VALUE/MASK`: the packet matches when `mark & MASK == VALUE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MarkTest {
    pub value: u32,
    pub mask: u32,
}

/// The most intervals a mark test may admit as (what the header space keeps).
pub const MAX_INTERVALS: usize = 256;

impl MarkTest {
    pub fn matches(&self, mark: u32) -> bool {
        mark & self.mask == self.value
    }

    /// The marks it admits as sorted, disjoint inclusive intervals, or `None` when
    /// that takes more than [`MAX_INTERVALS`]. The bits below the mask's lowest are
    /// free (one interval holds them all); every combination of the unmasked bits
    /// above it is an interval of its own.
    pub fn intervals(&self) -> Option<Vec<(u32, u32)>> {
        if self.mask == 0 {
            return Some(vec![(0, u32::MAX)]);
        }
        let low = self.mask.trailing_zeros();
        let span = if low == 0 { 0 } else { (1u64 << low) - 1 };
        let above = !self.mask & !((1u64 << low) - 1) as u32;
        if above.count_ones() as usize > MAX_INTERVALS.trailing_zeros() as usize {
            return None;
        }
        let free: Vec<u32> = (0..32).filter(|b| above & (1 << b) != 0).collect();
        let mut out: Vec<(u32, u32)> = (0..1u32 << free.len())
            .map(|combo| {
                let high = free
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| combo & (1 << i) != 0)
                    .fold(0u32, |a, (_, b)| a | (1 << b));
                let lo = self.value | high;
                (lo, (u64::from(lo) + span) as u32)
            })
            .collect();
        out.sort_unstable();
        Some(out)
    }
}

impl fmt::Display for MarkTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mark {:#x}/{:#x}", self.value, self.mask)
    }
}

/// The format of a residual file: which tool installs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualFormat {
    /// `nft -f` text.
    Nft,
    /// `nft -j -f` JSON.
    NftJson,
    /// `iptables-restore` / `ip6tables-restore` input.
    Iptables,
}

impl ResidualFormat {
    pub const ALL: [ResidualFormat; 3] = [
        ResidualFormat::Nft,
        ResidualFormat::NftJson,
        ResidualFormat::Iptables,
    ];

    /// As the declaration writes it.
    pub fn word(self) -> &'static str {
        match self {
            ResidualFormat::Nft => "nft",
            ResidualFormat::NftJson => "nft-json",
            ResidualFormat::Iptables => "iptables",
        }
    }

    pub fn from_word(w: &str) -> Option<ResidualFormat> {
        Self::ALL.into_iter().find(|f| f.word() == w)
    }
}

/// A number as a mark is written: `0x` and hex digits, or decimal; `None` past 32 bits.
pub fn parse_mark(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_the_marks_a_test_admits() {
        let t = MarkTest {
            value: 0x8000_0000,
            mask: 0x8000_0000,
        };
        assert_eq!(t.intervals(), Some(vec![(0x8000_0000, u32::MAX)]));
        let t = MarkTest {
            value: 0,
            mask: 0x8000_0000,
        };
        assert_eq!(t.intervals(), Some(vec![(0, 0x7fff_ffff)]));
        let t = MarkTest {
            value: 0x0100_0000,
            mask: 0xff00_0000,
        };
        assert_eq!(t.intervals(), Some(vec![(0x0100_0000, 0x01ff_ffff)]));
        let t = MarkTest {
            value: 0x1000_0000,
            mask: 0x1000_0000,
        };
        let iv = t.intervals().expect("8 intervals");
        assert_eq!(iv.len(), 8);
        for m in [0u32, 0x1000_0000, 0x3000_0001, 0xffff_ffff, 0x2fff_ffff] {
            let inside = iv.iter().any(|(lo, hi)| (*lo..=*hi).contains(&m));
            assert_eq!(inside, t.matches(m), "{m:#x}");
        }
        let low = MarkTest {
            value: 0x4000,
            mask: 0x4000,
        };
        assert_eq!(low.intervals(), None);
    }

    #[test]
    fn marks_read_as_written() {
        assert_eq!(parse_mark("0x80000000"), Some(0x8000_0000));
        assert_eq!(parse_mark("16384"), Some(0x4000));
        assert_eq!(parse_mark("0x100000000"), None);
    }
}
