//! What a rule tests in the packet's conntrack entry beyond its state: `ct status`
//! (the entry's `IPS_*` bits, `include/uapi/linux/netfilter/nf_conntrack_common.h`),
//! `ct direction` (whether the packet goes the way the connection started, from the
//! `ip_conntrack_info`) and `ct mark` (the entry's 32-bit mark, `nf_conn.mark`).
//!
//! Every test needs an entry: a packet conntrack has none for (`ct state invalid` or
//! `untracked`) matches none of them, negated or not, as nft's `ct` expression breaks
//! the rule when `nf_ct_get` gives nothing.
//!
//! Invariant: [`StatusTest::matches`], [`CtMarkTest::matches`] and
//! [`CtMarkTest::intervals`] say the same thing, and the status bits the language
//! names are exactly [`STATUS_BITS`], so the lowering, the evaluator and the header
//! space (which keeps those bits only) agree on every entry.

use std::fmt;

use super::mark::MarkTest;

/// The status bits the language names, with netfilter's values (`enum ip_conntrack_status`).
pub const STATUS_BITS: [(&str, u32); 7] = [
    ("expected", 1 << 0),
    ("seen-reply", 1 << 1),
    ("assured", 1 << 2),
    ("confirmed", 1 << 3),
    ("snat", 1 << 4),
    ("dnat", 1 << 5),
    ("dying", 1 << 9),
];

/// The bit `name` stands for.
pub fn status_bit(name: &str) -> Option<u32> {
    STATUS_BITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
}

/// The names of the bits set in `bits`, comma-separated.
pub fn status_names(bits: u32) -> String {
    let names: Vec<&str> = STATUS_BITS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    names.join(",")
}

/// `ct status NAME[,NAME...]` (with `!=`: `negated`): the entry has at least one of
/// `bits` (negated: none of them), as iptables' `--ctstatus` and nft's `ct status`
/// read a list of flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusTest {
    pub bits: u32,
    pub negated: bool,
}

impl StatusTest {
    pub fn matches(&self, status: u32) -> bool {
        (status & self.bits != 0) != self.negated
    }
}

/// The way a packet goes along its connection (`CTINFO2DIR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtDir {
    Original,
    Reply,
}

impl CtDir {
    pub fn name(self) -> &'static str {
        match self {
            CtDir::Original => "original",
            CtDir::Reply => "reply",
        }
    }

    pub fn from_name(s: &str) -> Option<CtDir> {
        [CtDir::Original, CtDir::Reply]
            .into_iter()
            .find(|d| d.name() == s)
    }
}

/// How a `ct mark` test names its marks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MarkValues {
    /// `ct mark VALUE/MASK`: `mark & MASK == VALUE`.
    Masked(MarkTest),
    /// `ct mark 1, 5-9`: sorted, disjoint, non-adjacent inclusive ranges.
    Ranges(Vec<(u32, u32)>),
}

/// `ct mark [!=] ...`: the entry's mark is (with `!=`: is not) one of the values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CtMarkTest {
    pub values: MarkValues,
    pub negated: bool,
}

impl CtMarkTest {
    pub fn matches(&self, mark: u32) -> bool {
        let hit = match &self.values {
            MarkValues::Masked(m) => m.matches(mark),
            MarkValues::Ranges(r) => r.iter().any(|&(lo, hi)| (lo..=hi).contains(&mark)),
        };
        hit != self.negated
    }

    /// The marks the test admits as sorted, disjoint inclusive intervals, or `None`
    /// when a mask makes too many ([`MarkTest::intervals`]).
    pub fn intervals(&self) -> Option<Vec<(u32, u32)>> {
        let pos = match &self.values {
            MarkValues::Masked(m) => m.intervals()?,
            MarkValues::Ranges(r) => r.clone(),
        };
        Some(if self.negated { complement(&pos) } else { pos })
    }
}

/// The 32-bit values outside sorted, disjoint `ranges`.
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next: u64 = 0;
    for &(lo, hi) in ranges {
        if u64::from(lo) > next {
            out.push((next as u32, lo - 1));
        }
        next = u64::from(hi) + 1;
    }
    if next <= u64::from(u32::MAX) {
        out.push((next as u32, u32::MAX));
    }
    out
}

/// Sorts `ranges` and merges those that overlap or touch.
pub fn normalize_ranges(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// One `ct status|direction|mark` match as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CtEntryTest {
    Status(StatusTest),
    Direction(CtDir),
    Mark(CtMarkTest),
}

impl CtEntryTest {
    /// The kind, as the language writes it after `ct`.
    pub fn kind(&self) -> &'static str {
        match self {
            CtEntryTest::Status(_) => "status",
            CtEntryTest::Direction(_) => "direction",
            CtEntryTest::Mark(_) => "mark",
        }
    }
}

/// A rule's tests of the entry, each at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtEntryTests {
    pub status: Option<StatusTest>,
    pub direction: Option<CtDir>,
    pub mark: Option<CtMarkTest>,
}

/// What a packet's conntrack entry holds that a rule can test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtEntry {
    /// `nf_conn.status`, the `IPS_*` bits.
    pub status: u32,
    pub mark: u32,
    pub reply: bool,
}

impl CtEntryTests {
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.direction.is_none() && self.mark.is_none()
    }

    /// Whether a packet with `entry` (`None`: conntrack has none for it) passes.
    pub fn matches(&self, entry: Option<&CtEntry>) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(e) = entry else { return false };
        self.status.is_none_or(|s| s.matches(e.status))
            && self
                .direction
                .is_none_or(|d| (d == CtDir::Reply) == e.reply)
            && self.mark.as_ref().is_none_or(|m| m.matches(e.mark))
    }
}

impl fmt::Display for StatusTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = if self.negated { "!= " } else { "" };
        write!(f, "ct status {neg}{}", status_names(self.bits))
    }
}

impl fmt::Display for CtMarkTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ct mark ")?;
        if self.negated {
            f.write_str("!= ")?;
        }
        match &self.values {
            MarkValues::Masked(m) if m.mask == u32::MAX => write!(f, "{:#x}", m.value),
            MarkValues::Masked(m) => write!(f, "{:#x}/{:#x}", m.value, m.mask),
            MarkValues::Ranges(r) => {
                let parts: Vec<String> = r
                    .iter()
                    .map(|&(lo, hi)| match lo == hi {
                        true => format!("{lo:#x}"),
                        false => format!("{lo:#x}-{hi:#x}"),
                    })
                    .collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

impl fmt::Display for CtEntryTests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(s) = &self.status {
            write!(f, "{s}")?;
            sep = " ";
        }
        if let Some(d) = self.direction {
            write!(f, "{sep}ct direction {}", d.name())?;
            sep = " ";
        }
        if let Some(m) = &self.mark {
            write!(f, "{sep}{m}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_are_any_of_and_negation_none_of() {
        let snat_dnat = StatusTest {
            bits: status_bit("snat").unwrap() | status_bit("dnat").unwrap(),
            negated: false,
        };
        assert!(snat_dnat.matches(0x20 | 0x8));
        assert!(!snat_dnat.matches(0x8));
        let not = StatusTest {
            negated: true,
            ..snat_dnat
        };
        assert!(not.matches(0x8) && !not.matches(0x10));
        assert_eq!(status_names(0x220), "dnat,dying");
    }

    #[test]
    fn mark_intervals_are_what_the_test_admits() {
        let t = CtMarkTest {
            values: MarkValues::Ranges(normalize_ranges(vec![(5, 9), (1, 1), (10, 12)])),
            negated: true,
        };
        let iv = t.intervals().unwrap();
        assert_eq!(iv, vec![(0, 0), (2, 4), (13, u32::MAX)]);
        for m in [0u32, 1, 3, 5, 12, 13, u32::MAX] {
            let inside = iv.iter().any(|&(lo, hi)| (lo..=hi).contains(&m));
            assert_eq!(inside, t.matches(m), "{m}");
        }
        let all = CtMarkTest {
            values: MarkValues::Ranges(vec![(0, u32::MAX)]),
            negated: true,
        };
        assert_eq!(all.intervals(), Some(vec![]));
    }

    #[test]
    fn no_entry_matches_no_test() {
        let t = CtEntryTests {
            direction: Some(CtDir::Original),
            ..Default::default()
        };
        assert!(!t.matches(None));
        assert!(t.matches(Some(&CtEntry::default())));
        assert!(CtEntryTests::default().matches(None));
    }
}
