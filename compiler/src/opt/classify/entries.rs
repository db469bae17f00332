//! A run's rules as entries: one box per combination of set element, port range and
//! protocol, over the dimensions of one family, and the trie ([`Group`]) each entry
//! goes to.
//!
//! Invariant: a packet of family `f` matches rule `r` (addresses, ports, protocol,
//! TCP flags, L4 requirement) exactly when it matches one of `r`'s entries of `f`.

use std::ops::Range;

use ipnet::IpNet;

use crate::{
    ir::{
        classifier::{Dim, Entries, Entry, Group, MAX_DIMS},
        AddrMatch, AddrSet, PortMatch, Program, RuleMatch, SetId,
    },
    syntax::ast::Family,
};

pub(super) type Sets = cranelift_entity::PrimaryMap<SetId, AddrSet>;

pub(super) fn applies_to(m: &RuleMatch, f: Family) -> bool {
    m.family.is_none_or(|fam| fam == f)
}

/// Every port, as one range.
const ANY_PORT: [(u16, u16); 1] = [(0, u16::MAX)];

/// A port match's ranges (`any`: the one range of every port).
fn ranges(p: &PortMatch) -> &[(u16, u16)] {
    match p {
        PortMatch::Any => &ANY_PORT,
        PortMatch::Ranges(r) => r,
    }
}

/// The protocol ranges of a rule's entries, the first `n` of the pair: its protocol;
/// TCP and UDP for a rule that tests ports; else every protocol.
fn protos(m: &RuleMatch) -> ([(u32, u32); 2], usize) {
    match m.proto {
        Some(p) => ([(p.into(), p.into()); 2], 1),
        None if m.needs_ports() => ([(6, 6), (17, 17)], 2),
        None => ([(0, 255); 2], 1),
    }
}

/// How many entries of family `f` a rule becomes.
pub(super) fn expansion(sets: &Sets, m: &RuleMatch, f: Family) -> usize {
    if !applies_to(m, f) {
        return 0;
    }
    let addr = |a: &AddrMatch| match a {
        AddrMatch::Any => 1,
        AddrMatch::Prefix(_) => 1,
        AddrMatch::Set(s) => match f {
            Family::V4 => sets[*s].v4.len(),
            Family::V6 => sets[*s].v6.len(),
        },
    };
    [
        addr(&m.src),
        addr(&m.dst),
        ranges(&m.sport).len(),
        ranges(&m.dport).len(),
        protos(m).1,
    ]
    .into_iter()
    .fold(1usize, |acc, n| acc.saturating_mul(n))
}

/// The per-word ranges of a prefix over its 32-bit words (the first `words`).
fn prefix_words(net: &IpNet) -> [(u32, u32); 4] {
    match net {
        // One word, the other three whole as [`words_of`] makes them (its loop over
        // an IPv4 address's sixteen bytes was a third of the entries' making).
        IpNet::V4(n) => {
            let (v, plen) = (u32::from(n.network()), u32::from(n.prefix_len()));
            let host = u32::MAX.checked_shr(plen).unwrap_or(0);
            let whole = (0, u32::MAX);
            [(v & !host, v | host), whole, whole, whole]
        }
        IpNet::V6(n) => words_of(n.network().octets(), n.prefix_len().into()),
    }
}

/// The per-word ranges of the prefix of `plen` bits of `bytes`.
fn words_of(bytes: [u8; 16], plen: u32) -> [(u32, u32); 4] {
    let mut out = [(0u32, 0u32); 4];
    for (w, c) in bytes.chunks(4).enumerate() {
        let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let fixed = plen.saturating_sub(32 * w as u32).min(32);
        let host = if fixed == 32 { 0 } else { u32::MAX >> fixed };
        out[w] = (v & !host, v | host);
    }
    out
}

/// Whether an address match allows some address of family `f`.
fn has_boxes(sets: &Sets, a: &AddrMatch, f: Family) -> bool {
    match (a, f) {
        (AddrMatch::Any, _) => true,
        (AddrMatch::Prefix(IpNet::V4(_)), Family::V4)
        | (AddrMatch::Prefix(IpNet::V6(_)), Family::V6) => true,
        (AddrMatch::Prefix(_), _) => false,
        (AddrMatch::Set(s), Family::V4) => !sets[*s].v4.is_empty(),
        (AddrMatch::Set(s), Family::V6) => !sets[*s].v6.is_empty(),
    }
}

/// Puts the address boxes an address match allows in family `f` into `out` (one
/// full box for "any").
fn addr_boxes(sets: &Sets, a: &AddrMatch, f: Family, out: &mut Vec<[(u32, u32); 4]>) {
    out.clear();
    let v4 = |n: &ipnet::Ipv4Net| prefix_words(&IpNet::V4(*n));
    let v6 = |n: &ipnet::Ipv6Net| prefix_words(&IpNet::V6(*n));
    match a {
        AddrMatch::Any => out.push([(0, u32::MAX); 4]),
        AddrMatch::Prefix(n) => match (n, f) {
            (IpNet::V4(_), Family::V4) | (IpNet::V6(_), Family::V6) => out.push(prefix_words(n)),
            _ => {}
        },
        AddrMatch::Set(s) => match f {
            Family::V4 => out.extend(sets[*s].v4.iter().map(v4)),
            Family::V6 => out.extend(sets[*s].v6.iter().map(v6)),
        },
    }
}

/// The entries of `rules[range]` for family `f`, in rule order.
pub(super) fn entries(sets: &Sets, prog: &Program, range: Range<usize>, f: Family) -> Vec<Entry> {
    let mut out = Vec::with_capacity(range.len());
    push_entries(sets, prog, range, f, |e| out.push(e));
    out
}

/// Gives the entries of `rules[range]` for family `f` to `out`, in rule order.
#[inline(always)]
fn push_entries(
    sets: &Sets,
    prog: &Program,
    range: Range<usize>,
    f: Family,
    mut out: impl FnMut(Entry),
) {
    let dims = Dim::of(f);
    let words = if f == Family::V4 { 1 } else { 4 };
    let (mut srcs, mut dsts) = (Vec::new(), Vec::new());
    for i in range {
        let m = &prog.rules[i].m;
        if !applies_to(m, f) {
            continue;
        }
        addr_boxes(sets, &m.src, f, &mut srcs);
        addr_boxes(sets, &m.dst, f, &mut dsts);
        let (sports, dports) = (ranges(&m.sport), ranges(&m.dport));
        let (prs, n_prs) = protos(m);
        let (tcp_flags, needs_l4) = (m.tcp_flags.unwrap_or((0, 0)), m.needs_l4());
        for s in &srcs {
            for d in &dsts {
                for sp in sports {
                    for dp in dports {
                        for &pr in &prs[..n_prs] {
                            let mut e = Entry {
                                rule: i as u32,
                                lo: [0; MAX_DIMS],
                                hi: [0; MAX_DIMS],
                                tcp_flags,
                                needs_l4,
                            };
                            // Each part in its place (a chain of iterators over them
                            // all cost a state check per bound).
                            let rest = [(sp.0.into(), sp.1.into()), (dp.0.into(), dp.1.into()), pr];
                            for (at, part) in [(0, &s[..words]), (words, &d[..words])] {
                                for (k, &(lo, hi)) in part.iter().enumerate() {
                                    e.lo[at + k] = lo;
                                    e.hi[at + k] = hi;
                                }
                            }
                            for (k, (lo, hi)) in rest.into_iter().enumerate() {
                                e.lo[2 * words + k] = lo;
                                e.hi[2 * words + k] = hi;
                            }
                            debug_assert!(dims.iter().enumerate().all(|(k, d)| e.hi[k] <= d.max()));
                            out(e);
                        }
                    }
                }
            }
        }
    }
}

/// Fixed leading bits of an entry's address starting at dimension `first` over
/// `words` 32-bit words (its prefix length; a range that is not a prefix counts the
/// bits its ends share).
fn fixed_bits(e: &Entry, first: usize, words: usize) -> u32 {
    let mut bits = 0;
    for w in first..first + words {
        let same = (e.lo[w] ^ e.hi[w]).leading_zeros();
        bits += same;
        if same < 32 {
            break;
        }
    }
    bits
}

/// The address bits a family's entries can tell apart: past the leading bits that
/// every address fixing any bits shares (`shared`; all of 2001:db8::/32, say), up to
/// the longest prefix (`longest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AddrSpan {
    shared: u32,
    longest: u32,
}

/// An [`AddrSpan`] being made, entry by entry: the first address that fixes bits and
/// how many leading bits all share with it, the longest prefix.
#[derive(Clone, Copy, Default)]
struct SpanFold {
    common: Option<(u128, u32)>,
    longest: u32,
}

impl SpanFold {
    /// The fold of the addresses of the entries of `rules[range]` of family `f`, from
    /// the rules: each entry's addresses are one of its rule's source prefixes and one
    /// of its destination prefixes, and a rule with none of either (or no port range
    /// of either) makes none. Also whether any rule makes entries.
    fn of_rules(sets: &Sets, prog: &Program, range: Range<usize>, f: Family) -> (SpanFold, bool) {
        let (mut fold, mut any) = (SpanFold::default(), false);
        for i in range {
            let m = &prog.rules[i].m;
            let makes = applies_to(m, f)
                && has_boxes(sets, &m.src, f)
                && has_boxes(sets, &m.dst, f)
                && !ranges(&m.sport).is_empty()
                && !ranges(&m.dport).is_empty();
            if makes {
                any = true;
                fold.add_addr(sets, &m.src, f);
                fold.add_addr(sets, &m.dst, f);
            }
        }
        (fold, any)
    }

    /// Adds the prefixes an address match allows in family `f` (one that has some).
    fn add_addr(&mut self, sets: &Sets, a: &AddrMatch, f: Family) {
        match a {
            AddrMatch::Any => {}
            AddrMatch::Prefix(n) => self.add_net(n),
            AddrMatch::Set(s) => match f {
                Family::V4 => sets[*s]
                    .v4
                    .iter()
                    .for_each(|n| self.add_net(&IpNet::V4(*n))),
                Family::V6 => sets[*s]
                    .v6
                    .iter()
                    .for_each(|n| self.add_net(&IpNet::V6(*n))),
            },
        }
    }

    /// Adds a prefix, as an entry's address (its box's fixed bits are its length, its
    /// low end the network).
    fn add_net(&mut self, n: &IpNet) {
        match n {
            IpNet::V4(n) => self.add_v4(u32::from(n.network()), n.prefix_len().into()),
            IpNet::V6(n) => self.add_value(u128::from(n.network()), n.prefix_len().into()),
        }
    }

    /// [`SpanFold::add_value`] of an IPv4 address (the value's top word), compared
    /// as a `u32`: the same fold (a length is at most 32, so the bits past the top
    /// word never count) without the `u128` steps (0.5 M of each thread's 9.9 M
    /// instructions of span at acl1_100000, two prefixes per rule).
    fn add_v4(&mut self, value: u32, fixed: u32) {
        if fixed == 0 {
            return;
        }
        self.longest = self.longest.max(fixed);
        self.common = Some(match self.common {
            None => (u128::from(value) << 96, fixed),
            Some((c, len)) => {
                let parted = (((c >> 96) as u32) ^ value).leading_zeros();
                (c, len.min(fixed).min(parted))
            }
        });
    }

    /// Adds an address box (its words' ranges), as an entry's address.
    fn add(&mut self, b: &[(u32, u32)]) {
        let mut fixed = 0;
        for &(lo, hi) in b {
            let same = (lo ^ hi).leading_zeros();
            fixed += same;
            if same < 32 {
                break;
            }
        }
        let bits = 32 * b.len() as u32;
        let value = b
            .iter()
            .fold(0u128, |acc, &(lo, _)| (acc << 32) | u128::from(lo))
            << (128 - bits);
        self.add_value(value, fixed);
    }

    /// Adds an address whose leading `fixed` bits are `value`'s.
    fn add_value(&mut self, value: u128, fixed: u32) {
        if fixed == 0 {
            return;
        }
        self.longest = self.longest.max(fixed);
        let (c, len) = *self.common.get_or_insert((value, fixed));
        self.common = Some((c, len.min(fixed).min((c ^ value).leading_zeros())));
    }

    /// The fold of `self`'s entries followed by `next`'s: exact, as the bits every
    /// address shares with the first are those any one of them shares with all (so
    /// `next`'s addresses share with `self`'s first what they share with their own
    /// first, cut at where the two firsts part).
    fn then(self, next: SpanFold) -> SpanFold {
        let common = match (self.common, next.common) {
            (Some((c, len)), Some((d, other))) => {
                Some((c, len.min(other).min((c ^ d).leading_zeros())))
            }
            (one, None) | (None, one) => one,
        };
        SpanFold {
            common,
            longest: self.longest.max(next.longest),
        }
    }

    fn span(self) -> AddrSpan {
        AddrSpan {
            shared: self.common.map_or(0, |(_, len)| len),
            longest: self.longest,
        }
    }
}

/// Runs of at least this many rules make their entries in two halves, the second on
/// a thread beside (below, the thread costs more than it saves).
pub(super) const HALVES_MIN: usize = 8192;

/// The entries of `rules[range]` for family `f` dealt into their groups (in `Group as
/// usize` order), each list in rule order and in the tries' form ([`Entries`]): what
/// [`deal`] gives for the whole list under its [`AddrSpan`]. Runs of at least `halves_min` rules are made in two halves,
/// the second on a thread beside: first the span, from the rules
/// ([`SpanFold::of_rules`], each half's folded on its thread, then joined), then
/// each half's entries straight into its groups, and each group's second half
/// appended to its first. Dealing a list made whole was 12 M instructions of
/// acl1_100000's calling thread, alone: each entry's group and the lists copied.
pub(super) fn dealt_in_halves(
    sets: &Sets,
    prog: &Program,
    range: Range<usize>,
    f: Family,
    halves_min: usize,
) -> [Entries; 3] {
    let folded = |part: Range<usize>| SpanFold::of_rules(sets, prog, part, f);
    let nd = Dim::of(f).len();
    let dealt = |part: Range<usize>, span: AddrSpan, room: usize| {
        // Room for the whole part in each group: only what is written is touched
        // (one group may hold almost all, which one is not known ahead).
        let mut groups: [Entries; 3] = std::array::from_fn(|_| Entries::with_room(nd, room));
        push_entries(sets, prog, part, f, |e| {
            groups[group_of(&e, f, span) as usize].push(&e)
        });
        groups
    };
    let none = || std::array::from_fn(|_| Entries::with_room(nd, 0));
    if range.len() < halves_min.max(2) {
        let (fold, any) = folded(range.clone());
        return match any {
            true => dealt(range.clone(), fold.span(), range.len()),
            false => none(),
        };
    }
    let mid = range.start + range.len() / 2;
    let ((a, any_a), (b, any_b)) = std::thread::scope(|s| {
        let second = super::super::beside(s, || folded(mid..range.end));
        let first = folded(range.start..mid);
        (first, second.join())
    });
    if !any_a && !any_b {
        return none();
    }
    let span = a.then(b).span();
    let (mut first, second) = std::thread::scope(|s| {
        let second = super::super::beside(s, || dealt(mid..range.end, span, range.end - mid));
        let first = dealt(range.start..mid, span, range.len());
        (first, second.join())
    });
    for (list, mut rest) in first.iter_mut().zip(second) {
        list.append(&mut rest);
    }
    first
}

/// The [`AddrSpan`] of the entries of `rules[range]` (of family `f`), from the
/// rules, as [`dealt_in_halves`] takes it.
#[cfg(test)]
pub(super) fn rules_span(sets: &Sets, prog: &Program, range: Range<usize>, f: Family) -> AddrSpan {
    SpanFold::of_rules(sets, prog, range, f).0.span()
}

/// The [`AddrSpan`] of `entries` (of family `f`), over both addresses.
pub(super) fn addr_span(entries: &[Entry], f: Family) -> AddrSpan {
    let words = if f == Family::V4 { 1 } else { 4 };
    let mut fold = SpanFold::default();
    for e in entries {
        for first in [0, words] {
            let mut b = [(0, 0); 4];
            for (k, w) in (first..first + words).enumerate() {
                b[k] = (e.lo[w], e.hi[w]);
            }
            fold.add(&b[..words]);
        }
    }
    fold.span()
}

/// The entries `all` (in rule order) dealt into their groups under `span` (in `Group
/// as usize` order), each list in rule order and in the tries' form ([`Entries`]):
/// what [`group_of`] gives for each. `all` is dropped as they are made, not held
/// while their tries are built.
pub(super) fn deal(all: Vec<Entry>, f: Family, span: AddrSpan) -> [Entries; 3] {
    let of: Vec<Group> = all.iter().map(|e| group_of(e, f, span)).collect();
    let mut sizes = [0usize; 3];
    for &g in &of {
        sizes[g as usize] += 1;
    }
    let nd = Dim::of(f).len();
    let mut groups: [Entries; 3] = std::array::from_fn(|g| Entries::with_room(nd, sizes[g]));
    for (e, g) in all.iter().zip(of) {
        groups[g as usize].push(e);
    }
    groups
}

/// The trie an entry of family `f` belongs in: by its more specific address, or
/// [`Group::Wide`] when both addresses fix fewer than a quarter of the bits the
/// run's entries tell apart (`span`: a quarter of an IPv4 address for most rule
/// files; the bits past a prefix that every rule shares do not count).
pub(super) fn group_of(e: &Entry, f: Family, span: AddrSpan) -> Group {
    let words = if f == Family::V4 { 1 } else { 4 };
    let beyond = |first| fixed_bits(e, first, words).saturating_sub(span.shared);
    let (src, dst) = (beyond(0), beyond(words));
    let quarter = (span.longest - span.shared) / 4;
    if src.max(dst) < quarter {
        Group::Wide
    } else if src >= dst {
        Group::BySrc
    } else {
        Group::ByDst
    }
}

#[cfg(test)]
mod word_tests {
    use ipnet::{IpNet, Ipv4Net};

    use super::{prefix_words, words_of};

    /// An IPv4 prefix's words, made directly, are what the general reading of its
    /// sixteen bytes (the address in the first four) makes: every length, addresses
    /// with high, low and no bits set.
    #[test]
    fn ipv4_words_are_the_general_readings() {
        for addr in [0u32, 1, 0x8000_0000, 0xc0a8_0100, 0xffff_ffff, 0x0a0b_0c0d] {
            for len in 0..=32u8 {
                let net = Ipv4Net::new(addr.into(), len).unwrap().trunc();
                let mut bytes = [0u8; 16];
                bytes[..4].copy_from_slice(&net.network().octets());
                assert_eq!(
                    prefix_words(&IpNet::V4(net)),
                    words_of(bytes, len.into()),
                    "{net}"
                );
            }
        }
    }
}
