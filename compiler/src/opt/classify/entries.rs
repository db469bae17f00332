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

/// The prefixes an address match allows in family `f`; `None` for "any".
fn prefixes(sets: &Sets, a: &AddrMatch, f: Family) -> Option<Vec<IpNet>> {
    match a {
        AddrMatch::Any => None,
        AddrMatch::Prefix(n) => Some(match (n, f) {
            (IpNet::V4(_), Family::V4) | (IpNet::V6(_), Family::V6) => vec![*n],
            _ => vec![],
        }),
        AddrMatch::Set(s) => Some(match f {
            Family::V4 => sets[*s].v4.iter().map(|n| IpNet::V4(*n)).collect(),
            Family::V6 => sets[*s].v6.iter().map(|n| IpNet::V6(*n)).collect(),
        }),
    }
}

fn ranges(p: &PortMatch) -> Vec<(u16, u16)> {
    match p {
        PortMatch::Any => vec![(0, u16::MAX)],
        PortMatch::Ranges(r) => r.clone(),
    }
}

fn protos(m: &RuleMatch) -> Vec<(u32, u32)> {
    match m.proto {
        Some(p) => vec![(p.into(), p.into())],
        None if m.needs_ports() => vec![(6, 6), (17, 17)],
        None => vec![(0, 255)],
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
        protos(m).len(),
    ]
    .into_iter()
    .fold(1usize, |acc, n| acc.saturating_mul(n))
}

/// The per-word ranges of a prefix over its 32-bit words.
fn prefix_words(net: &IpNet) -> Vec<(u32, u32)> {
    let (bytes, plen): (Vec<u8>, u32) = match net {
        IpNet::V4(n) => (n.network().octets().to_vec(), n.prefix_len().into()),
        IpNet::V6(n) => (n.network().octets().to_vec(), n.prefix_len().into()),
    };
    bytes
        .chunks(4)
        .enumerate()
        .map(|(w, c)| {
            let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let fixed = plen.saturating_sub(32 * w as u32).min(32);
            let host = if fixed == 32 { 0 } else { u32::MAX >> fixed };
            (v & !host, v | host)
        })
        .collect()
}

/// The entries of `rules[range]` for family `f`, in rule order.
pub(super) fn entries(sets: &Sets, prog: &Program, range: Range<usize>, f: Family) -> Vec<Entry> {
    let dims = Dim::of(f);
    let words = if f == Family::V4 { 1 } else { 4 };
    let full_addr = vec![(0u32, u32::MAX); words];
    let mut out = Vec::new();
    for i in range {
        let m = &prog.rules[i].m;
        if !applies_to(m, f) {
            continue;
        }
        let addr = |a| match prefixes(sets, a, f) {
            None => vec![full_addr.clone()],
            Some(nets) => nets.iter().map(prefix_words).collect(),
        };
        let (srcs, dsts) = (addr(&m.src), addr(&m.dst));
        let (sports, dports, prs) = (ranges(&m.sport), ranges(&m.dport), protos(m));
        for s in &srcs {
            for d in &dsts {
                for sp in &sports {
                    for dp in &dports {
                        for pr in &prs {
                            let mut e = Entry {
                                rule: i as u32,
                                lo: [0; MAX_DIMS],
                                hi: [0; MAX_DIMS],
                                tcp_flags: m.tcp_flags.unwrap_or((0, 0)),
                                needs_l4: m.needs_l4(),
                            };
                            let boxes = s.iter().chain(d).copied().chain([
                                (sp.0.into(), sp.1.into()),
                                (dp.0.into(), dp.1.into()),
                                *pr,
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

/// The trie an entry of family `f` belongs in: by its more specific address, or
/// [`Group::Wide`] when both addresses fix fewer than a quarter of their bits.
pub(super) fn group_of(e: &Entry, f: Family) -> Group {
    let words = if f == Family::V4 { 1 } else { 4 };
    let (src, dst) = (fixed_bits(e, 0, words), fixed_bits(e, words, words));
    let quarter = 8 * words as u32;
    if src.max(dst) < quarter {
        Group::Wide
    } else if src >= dst {
        Group::BySrc
    } else {
        Group::ByDst
    }
}
