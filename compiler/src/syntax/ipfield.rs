//! IP header fields a rule compares with numbers (`ttl 1`, `hoplimit 255`,
//! `ttl != 64`, `ttl < 5`, `hoplimit 1-64,255`, `dscp ef,af41`, `ecn ce`,
//! `length > 1400`): which
//! fields there are, the family each belongs to (if one), the names some values have,
//! and the set of values a test admits — shared by the parser, sema, the lowering, the
//! header space and the evaluator.
//!
//! Invariant: a [`FieldTest`]'s `ranges` are sorted, disjoint, non-adjacent inclusive
//! intervals within `0..=field.max()`, never empty; `!=`, `<` and `>` are turned into
//! such ranges when the test is built, so every later stage reads one form.

use std::fmt;

/// A header field a rule can compare. Add fields at the end: the variants' order is
/// the order a rule's field tests are listed and lowered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The IPv4 header's time to live (`ip ttl`, iptables' `-m ttl`).
    Ttl,
    /// The IPv6 header's hop limit (`ip6 hoplimit`, ip6tables' `-m hl`).
    HopLimit,
    /// The differentiated services code point: the top six bits of the IPv4 TOS byte
    /// or of the IPv6 traffic class (`ip dscp`, `ip6 dscp`, `-m dscp`), 0 to 63.
    Dscp,
    /// The explicit congestion notification: the low two bits of the same byte
    /// (`ip ecn`, `ip6 ecn`, `-m ecn --ecn-ip-ect`), 0 to 3.
    Ecn,
    /// The whole IP packet's length in bytes as the header gives it, as xt_length
    /// reads it: the IPv4 total length, or the IPv6 payload length plus the 40 bytes
    /// of the fixed header (`-m length`, `meta length` at netfilter hooks, `ip
    /// length`, and `ip6 length` plus 40). An IPv4 packet's is at most
    /// [`V4_LENGTH_MAX`], an IPv6 packet's at least [`V6_LENGTH_MIN`].
    Length,
}

/// The largest length of an IPv4 packet (the 16-bit total length).
pub const V4_LENGTH_MAX: u32 = 65535;
/// The smallest length of an IPv6 packet (its fixed header, payload length 0).
pub const V6_LENGTH_MIN: u32 = 40;

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Ttl,
        Field::HopLimit,
        Field::Dscp,
        Field::Ecn,
        Field::Length,
    ];

    /// The word a rule writes.
    pub fn name(self) -> &'static str {
        match self {
            Field::Ttl => "ttl",
            Field::HopLimit => "hoplimit",
            Field::Dscp => "dscp",
            Field::Ecn => "ecn",
            Field::Length => "length",
        }
    }

    pub fn from_name(word: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == word)
    }

    /// Whether the field is only in the IPv6 header (`Some(true)`) or only in the IPv4
    /// one (`Some(false)`): a test of it keeps its rule to that family. `None`: both
    /// headers have it, and a test of it keeps its rule to IP packets (a `length`
    /// test only one family's lengths pass keeps it to that family: sema).
    pub fn ipv6(self) -> Option<bool> {
        match self {
            Field::Ttl => Some(false),
            Field::HopLimit => Some(true),
            Field::Dscp | Field::Ecn | Field::Length => None,
        }
    }

    /// The largest value the field holds.
    pub fn max(self) -> u32 {
        match self {
            Field::Ttl | Field::HopLimit => u32::from(u8::MAX),
            Field::Dscp => 63,
            Field::Ecn => 3,
            Field::Length => u32::from(u16::MAX) + V6_LENGTH_MIN,
        }
    }

    /// A list of values, for a help that shows how to write one.
    pub fn example(self) -> &'static str {
        match self {
            Field::Ttl | Field::HopLimit => "1,64-128",
            Field::Dscp => "ef,af41,8-15",
            Field::Ecn => "ect0,ect1",
            Field::Length => "0-100,1400-1500",
        }
    }

    /// The values with names, as nft and iptables' `--dscp-class` name them.
    pub fn names(self) -> &'static [(&'static str, u32)] {
        match self {
            Field::Ttl | Field::HopLimit | Field::Length => &[],
            Field::Dscp => DSCP_NAMES,
            Field::Ecn => ECN_NAMES,
        }
    }

    /// A value written as a number or a name of [`Field::names`], within the bounds.
    pub fn value(self, word: &str) -> Option<u32> {
        let n = match word.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => word.parse::<u32>().ok(),
        };
        n.or_else(|| self.names().iter().find(|(n, _)| *n == word).map(|p| p.1))
            .filter(|v| *v <= self.max())
    }
}

/// The DSCP names nft knows (`nft describe ip dscp`): class selectors (RFC 2474),
/// assured forwarding (RFC 2597), expedited forwarding (RFC 3246), voice admit
/// (RFC 5865), lower effort (RFC 8622). iptables' `--dscp-class` takes the same
/// class-selector, AF and EF names, in capitals.
const DSCP_NAMES: &[(&str, u32)] = &[
    ("cs0", 0),
    ("cs1", 8),
    ("cs2", 16),
    ("cs3", 24),
    ("cs4", 32),
    ("cs5", 40),
    ("cs6", 48),
    ("cs7", 56),
    ("df", 0),
    ("be", 0),
    ("lephb", 1),
    ("af11", 10),
    ("af12", 12),
    ("af13", 14),
    ("af21", 18),
    ("af22", 20),
    ("af23", 22),
    ("af31", 26),
    ("af32", 28),
    ("af33", 30),
    ("af41", 34),
    ("af42", 36),
    ("af43", 38),
    ("va", 44),
    ("ef", 46),
];

/// The ECN codepoints as nft names them (RFC 3168).
const ECN_NAMES: &[(&str, u32)] = &[("not-ect", 0), ("ect1", 1), ("ect0", 2), ("ce", 3)];

/// How a field test compares, as written before its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// No operator (or `==`): one of the values.
    In,
    /// `!=` (or `!`): none of the values.
    NotIn,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn from_word(w: &str) -> Option<Cmp> {
        Some(match w {
            "==" => Cmp::In,
            "!=" | "!" => Cmp::NotIn,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            _ => return None,
        })
    }

    /// Whether it takes exactly one plain number (`<`, `<=`, `>`, `>=`).
    pub fn is_order(self) -> bool {
        matches!(self, Cmp::Lt | Cmp::Le | Cmp::Gt | Cmp::Ge)
    }
}

/// `FIELD [OP] V[,V...]` with its values as ranges: the packet's field is in one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldTest {
    pub field: Field,
    pub ranges: Vec<(u32, u32)>,
}

impl FieldTest {
    /// The test `field cmp values`, or `None` when no value of the field passes it
    /// (`ttl < 0`, `ttl != 0-255`). `values` are inclusive ranges within the field's
    /// bounds, in any order; an order operator takes the first one's low end.
    pub fn new(field: Field, cmp: Cmp, values: &[(u32, u32)]) -> Option<FieldTest> {
        let max = field.max();
        let v = values.first().map_or(0, |r| r.0);
        let ranges = match cmp {
            Cmp::In => normalize(values.to_vec()),
            Cmp::NotIn => complement(&normalize(values.to_vec()), max),
            Cmp::Lt if v == 0 => Vec::new(),
            Cmp::Lt => vec![(0, v - 1)],
            Cmp::Le => vec![(0, v)],
            Cmp::Gt if v >= max => Vec::new(),
            Cmp::Gt => vec![(v + 1, max)],
            Cmp::Ge => vec![(v, max)],
        };
        (!ranges.is_empty()).then_some(FieldTest { field, ranges })
    }

    pub fn matches(&self, value: u32) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| lo <= value && value <= hi)
    }

    /// Whether every value of the field passes (the test tests nothing but the family).
    pub fn is_full(&self) -> bool {
        self.ranges == [(0, self.field.max())]
    }

    /// The ranges of `length` an IPv4 (`ipv6` false) or IPv6 packet can have: the
    /// test's ranges cut to that family's lengths, in the field's units (empty when
    /// no packet of the family passes). Other fields: the ranges.
    pub fn family_ranges(&self, ipv6: bool) -> Vec<(u32, u32)> {
        if self.field != Field::Length {
            return self.ranges.clone();
        }
        let (lo, hi) = match ipv6 {
            false => (0, V4_LENGTH_MAX),
            true => (V6_LENGTH_MIN, self.field.max()),
        };
        self.ranges
            .iter()
            .filter(|&&(a, b)| a <= hi && b >= lo)
            .map(|&(a, b)| (a.max(lo), b.min(hi)))
            .collect()
    }
}

/// Sorted, merged (overlapping or adjacent joined).
fn normalize(mut r: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    r.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The values of `0..=max` outside the normalized `r`.
fn complement(r: &[(u32, u32)], max: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = 0u64;
    for &(lo, hi) in r {
        if u64::from(lo) > next {
            out.push((next as u32, lo - 1));
        }
        next = u64::from(hi) + 1;
    }
    if next <= u64::from(max) {
        out.push((next as u32, max));
    }
    out
}

impl fmt::Display for FieldTest {
    /// The canonical form, which parses back to the same test: `ttl 0-63,65-255`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field.name())?;
        let mut sep = " ";
        for &(lo, hi) in &self.ranges {
            if lo == hi {
                write!(f, "{sep}{lo}")?;
            } else {
                write!(f, "{sep}{lo}-{hi}")?;
            }
            sep = ",";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_become_ranges() {
        let t = |c, v: &[(u32, u32)]| FieldTest::new(Field::Ttl, c, v).map(|t| t.ranges);
        assert_eq!(t(Cmp::In, &[(5, 9), (1, 1), (2, 4)]), Some(vec![(1, 9)]));
        assert_eq!(t(Cmp::NotIn, &[(64, 64)]), Some(vec![(0, 63), (65, 255)]));
        assert_eq!(t(Cmp::NotIn, &[(0, 255)]), None);
        assert_eq!(t(Cmp::Lt, &[(5, 5)]), Some(vec![(0, 4)]));
        assert_eq!(t(Cmp::Lt, &[(0, 0)]), None);
        assert_eq!(t(Cmp::Gt, &[(255, 255)]), None);
        assert_eq!(t(Cmp::Ge, &[(255, 255)]), Some(vec![(255, 255)]));
        assert_eq!(t(Cmp::Le, &[(0, 0)]), Some(vec![(0, 0)]));
    }

    #[test]
    fn display_is_canonical() {
        let t = FieldTest::new(Field::HopLimit, Cmp::NotIn, &[(1, 1), (255, 255)]).unwrap();
        assert_eq!(t.to_string(), "hoplimit 0,2-254");
        assert!(t.matches(0) && t.matches(64) && !t.matches(1) && !t.matches(255));
    }

    #[test]
    fn length_splits_by_family() {
        let t = FieldTest::new(Field::Length, Cmp::Lt, &[(60, 60)]).unwrap();
        assert_eq!(t.family_ranges(false), vec![(0, 59)]);
        assert_eq!(t.family_ranges(true), vec![(40, 59)]);
        let short = FieldTest::new(Field::Length, Cmp::In, &[(0, 39)]).unwrap();
        assert!(short.family_ranges(true).is_empty());
        let long = FieldTest::new(Field::Length, Cmp::Gt, &[(65535, 65535)]).unwrap();
        assert!(long.family_ranges(false).is_empty());
        assert_eq!(long.family_ranges(true), vec![(65536, 65575)]);
    }
}
