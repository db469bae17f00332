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
        classifier::{Dim, Entry, Group, MAX_DIMS},
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
    let (bytes, plen): ([u8; 16], u32) = match net {
        IpNet::V4(n) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&n.network().octets());
            (b, n.prefix_len().into())
        }
        IpNet::V6(n) => (n.network().octets(), n.prefix_len().into()),
    };
    let mut out = [(0u32, 0u32); 4];
    for (w, c) in bytes.chunks(4).enumerate() {
        let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let fixed = plen.saturating_sub(32 * w as u32).min(32);
        let host = if fixed == 32 { 0 } else { u32::MAX >> fixed };
        out[w] = (v & !host, v | host);
    }
    out
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
    let dims = Dim::of(f);
    let words = if f == Family::V4 { 1 } else { 4 };
    let (mut srcs, mut dsts) = (Vec::new(), Vec::new());
    let mut out = Vec::with_capacity(range.len());
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
                            let boxes = s[..words].iter().chain(&d[..words]).copied().chain([
                                (sp.0.into(), sp.1.into()),
                                (dp.0.into(), dp.1.into()),
                                pr,
                            ]);
                            for (k, (lo, hi)) in boxes.enumerate() {
                                e.lo[k] = lo;
                                e.hi[k] = hi;
                            }
                            debug_assert!(dims.iter().enumerate().all(|(k, d)| e.hi[k] <= d.max()));
                            out.push(e);
                        }
                    }
                }
            }
        }
    }
    out
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

/// The [`AddrSpan`] of `entries` (of family `f`), over both addresses.
pub(super) fn addr_span(entries: &[Entry], f: Family) -> AddrSpan {
    let words = if f == Family::V4 { 1 } else { 4 };
    let bits = 32 * words as u32;
    // The first address that fixes bits, and how many leading bits all share with it.
    let mut common: Option<(u128, u32)> = None;
    let mut longest = 0;
    for e in entries {
        for first in [0, words] {
            let fixed = fixed_bits(e, first, words);
            if fixed == 0 {
                continue;
            }
            let value = (first..first + words)
                .fold(0u128, |acc, w| (acc << 32) | u128::from(e.lo[w]))
                << (128 - bits);
            longest = longest.max(fixed);
            let (c, len) = *common.get_or_insert((value, fixed));
            common = Some((c, len.min(fixed).min((c ^ value).leading_zeros())));
        }
    }
    AddrSpan {
        shared: common.map_or(0, |(_, len)| len),
        longest,
    }
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
