//! Set declarations: inline lists and `file` sets, their kind (addresses or ports),
//! and the set lints (empty, mixed, duplicate or overlapping elements). Where a set
//! file may come from and how it is read is [`file`]'s.
//!
//! Invariant: a set's elements are checked and kept in one form whichever way they
//! were read (an element list, packed integers, or a large file's sorted halves): the
//! same set gives the same prefixes and the same diagnostics.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{
    set_lines::{file_lines, radix_sort, FileLine},
    Checker, SetKind,
};
use crate::{
    diag::{quote, Code, Diagnostic, Span},
    ir::AddrSet,
    limits::{amount, Limit},
    syntax::ast::{SetBody, SetDecl, SetElem},
};

mod file;
#[cfg(test)]
mod tests;

/// One element with where it came from (a span in the rule file; for file sets the
/// `file "..."` span plus the line in that file).
///
/// Kept small (its span is the value's, its line a `u32`): a file set holds a million.
#[derive(Clone)]
struct Elem {
    value: SetElem,
    file_line: Option<u32>,
}

impl Elem {
    fn span(&self) -> Span {
        self.value.span()
    }
}

/// A set's elements as read. A set file of IPv4 addresses and prefixes alone (fewer
/// than 2^24 lines, the common large case) is kept as packed integers (address,
/// length, file line), 8 bytes an element instead of an [`Elem`]'s 48.
enum Elems {
    List(Vec<Elem>),
    PackedV4 {
        keys: Vec<u64>,
        span: Span,
    },
    /// A set file of plain IPv4 addresses alone, read on two threads
    /// ([`plain_file_addrs`]): the addresses of its two halves, each sorted, and its
    /// text (read again for the lines of repeated addresses, if any).
    PlainV4 {
        halves: (Vec<u32>, Vec<u32>),
        text: String,
        span: Span,
    },
    /// A set file of plain IPv4 addresses alone, read in pieces
    /// ([`Checker::streamed_plain_set`]): its addresses, each once, sorted; its number
    /// of lines; the addresses written more than once and, only when there are any,
    /// its text (read again for their lines).
    SortedV4 {
        kept: Vec<Ipv4Net>,
        lines: usize,
        repeated: Vec<u32>,
        text: String,
        span: Span,
    },
}

impl Elems {
    fn len(&self) -> usize {
        match self {
            Elems::List(l) => l.len(),
            Elems::PackedV4 { keys, .. } => keys.len(),
            Elems::PlainV4 { halves, .. } => halves.0.len() + halves.1.len(),
            Elems::SortedV4 { lines, .. } => *lines,
        }
    }

    fn push(&mut self, e: Elem) {
        match self {
            Elems::List(l) => l.push(e),
            Elems::PlainV4 { .. } | Elems::SortedV4 { .. } => {
                unreachable!("a file of plain addresses is read whole")
            }
            Elems::PackedV4 { keys, span } => {
                let packable = u64::from(e.file_line.unwrap_or(1 << 24)) < 1 << 24;
                match e.value {
                    SetElem::Prefix(IpNet::V4(n), _) if packable => {
                        keys.push(pack_v4(n, u64::from(e.file_line.unwrap_or(0))));
                    }
                    _ => {
                        let span = *span;
                        let mut list: Vec<Elem> = Vec::with_capacity(keys.capacity());
                        list.extend(keys.iter().map(|&k| unpacked_file_elem(k, span)));
                        list.push(e);
                        *self = Elems::List(list);
                    }
                }
            }
        }
    }
}

/// `n` packed with `low` (an element index or a file line, under 2^24): sorting the
/// keys sorts by (address, length, `low`).
fn pack_v4(n: Ipv4Net, low: u64) -> u64 {
    u64::from(n.network().to_bits()) << 32 | u64::from(n.prefix_len()) << 24 | low
}

/// Sorts packed keys as `sort_unstable` does; keys already sorted (a set file kept
/// sorted) are only checked. Keys packed in order (their low 24 bits, a line or an
/// element index, increase) take stable passes over digits of the bits above those
/// that differ between keys (least significant first), every digit counted in one
/// pass over the keys: a few linear passes instead of a comparison sort's twenty. The
/// digits are as few as 12 bits a digit allows (4,096 buckets stay in cache), so bits
/// every key shares cost nothing: a file of plain addresses (one length) within a /8
/// takes two passes, any other at most four. Keys in any other order take
/// `sort_unstable`.
fn sort_packed(keys: &mut Vec<u64>) {
    if keys.is_sorted() {
        return;
    }
    let low = |k: u64| k & 0xff_ffff;
    if !keys.windows(2).all(|w| low(w[0]) < low(w[1])) {
        keys.sort_unstable();
        return;
    }
    let (any, all) = keys
        .iter()
        .fold((0u64, !0u64), |(any, all), &k| (any | k, all & k));
    // one (address, length) when no bit differs: in line order, which is sorted
    radix_sort(keys, (any ^ all) & !0xff_ffff, |k| k);
}

/// The prefix of a packed key.
fn unpack_v4(k: u64) -> Ipv4Net {
    Ipv4Net::new(((k >> 32) as u32).into(), (k >> 24 & 0xff) as u8)
        .expect("a packed length is at most 32")
}

/// The element a packed key of a set file (named at `span`) stands for.
fn unpacked_file_elem(k: u64, span: Span) -> Elem {
    Elem {
        value: SetElem::Prefix(IpNet::V4(unpack_v4(k)), span),
        file_line: Some((k & 0xff_ffff) as u32),
    }
}

impl Checker<'_> {
    pub(crate) fn declare_set(&mut self, s: &SetDecl) {
        if let Some((_, prev)) = self.sets.get(&s.name.name) {
            let prev = *prev;
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateName,
                    format!("set `{}` is declared twice", quote(&s.name.name)),
                )
                .label(s.name.span, "declared again here")
                .label(prev, "first declared here"),
            );
            return;
        }
        let kind = self.set_contents(s).unwrap_or(SetKind::Broken);
        self.sets.insert(s.name.name.clone(), (kind, s.name.span));
    }

    /// The set's elements, checked (not empty, within the element limit, all of one
    /// kind) and linted (duplicates, overlaps); `None` after an error.
    fn set_contents(&mut self, s: &SetDecl) -> Option<SetKind> {
        if let Some((v4, v6)) = self.recorded_lists(s).cloned() {
            self.check_set_size(s, v4.len() + v6.len())?;
            return Some(self.add_set(s, v4, v6));
        }
        let elems = match &s.body {
            SetBody::List(l) => l
                .iter()
                .map(|e| Elem {
                    value: e.clone(),
                    file_line: None,
                })
                .collect::<Vec<_>>(),
            SetBody::File { path, span } => match self.read_set_file(path, *span)? {
                Elems::List(l) => l,
                Elems::PackedV4 { keys, span } => {
                    self.check_set_size(s, keys.len())?;
                    return Some(self.packed_file_set(s, keys, span));
                }
                Elems::PlainV4 { halves, text, span } => {
                    self.check_set_size(s, halves.0.len() + halves.1.len())?;
                    let v4 = self.uncovered_plain_v4(s, halves, (&text, span));
                    return Some(self.add_set(s, v4, Vec::new()));
                }
                Elems::SortedV4 {
                    kept,
                    lines,
                    repeated,
                    text,
                    span,
                } => {
                    self.check_set_size(s, lines)?;
                    self.report_repeats(s, &repeated, (&text, span));
                    return Some(self.add_set(s, kept, Vec::new()));
                }
            },
        };
        self.check_set_size(s, elems.len())?;
        if self.set_kind_is_addr(s, &elems)? {
            Some(self.address_set(s, &elems))
        } else {
            Some(self.port_set(s, &elems))
        }
    }

    /// The elements recorded for file set `s` ([`super::Options::recorded_sets`]),
    /// when there are any.
    fn recorded_lists(&self, s: &SetDecl) -> Option<&(Vec<Ipv4Net>, Vec<Ipv6Net>)> {
        if !matches!(s.body, SetBody::File { .. }) {
            return None;
        }
        let lists = self.opts.recorded_sets.as_deref()?.get(&s.name.name)?;
        (!lists.0.is_empty() || !lists.1.is_empty()).then_some(lists)
    }

    /// A set must have elements, and the sets of a file together at most the set
    /// element limit.
    fn check_set_size(&mut self, s: &SetDecl, elems: usize) -> Option<()> {
        if elems == 0 {
            self.diags.push(
                Diagnostic::new(
                    Code::EmptySet,
                    format!("set `{}` is empty", quote(&s.name.name)),
                )
                .label(s.span, "no elements")
                .help(
                    "a rule using an empty set could never match; remove the set or add elements",
                ),
            );
            return None;
        }
        let max = self.opts.limits.set_elements;
        let before = self.set_elements;
        self.set_elements = before.saturating_add(elems as u64);
        if self.set_elements <= max {
            return Some(());
        }
        let whose = if before == 0 {
            format!("set `{}` has", quote(&s.name.name))
        } else {
            format!(
                "set `{}` brings the sets of this file to",
                quote(&s.name.name)
            )
        };
        self.diags.push(
            Diagnostic::new(
                Code::TooLarge,
                format!(
                    "{whose} more elements than the {} ({}), which counts all the sets \
                     of a rule file together",
                    Limit::SetElements,
                    amount(Limit::SetElements, max)
                ),
            )
            .label(s.span, "too many elements")
            .help(Limit::SetElements.how_to_change()),
        );
        None
    }

    /// Whether the set holds addresses (else ports), as its first element says; an
    /// element of the other kind is an error (`None`).
    fn set_kind_is_addr(&mut self, s: &SetDecl, elems: &[Elem]) -> Option<bool> {
        let is_addr = matches!(elems[0].value, SetElem::Prefix(..));
        let Some(bad) = elems
            .iter()
            .find(|e| matches!(e.value, SetElem::Prefix(..)) != is_addr)
        else {
            return Some(is_addr);
        };
        let (first, other) = if is_addr {
            ("addresses", "a port")
        } else {
            ("ports", "an address")
        };
        self.diags.push(
            Diagnostic::new(
                Code::MixedSet,
                format!("set `{}` mixes addresses and ports", quote(&s.name.name)),
            )
            .label(bad.span(), format!("{other}{}", at_line(bad.file_line)))
            .label(elems[0].span(), format!("the set holds {first}, from here")),
        );
        None
    }

    /// An address set: its prefixes without those another one covers (each reported),
    /// added to the module.
    fn address_set(&mut self, s: &SetDecl, elems: &[Elem]) -> SetKind {
        let (v4, v6) = match packed_v4(elems) {
            Some(keys) => {
                let elem = |k: u64| elems[(k & 0xff_ffff) as usize].clone();
                let n = keys.len();
                (self.uncovered_v4(s, (keys, n), elem), Vec::new())
            }
            None => self.uncovered(s, elems),
        };
        self.add_set(s, v4, v6)
    }

    /// An address set read from a file as packed IPv4 keys (named at `span`).
    fn packed_file_set(&mut self, s: &SetDecl, mut keys: Vec<u64>, span: Span) -> SetKind {
        let elem = |k| unpacked_file_elem(k, span);
        let n = keys.len();
        sort_packed(&mut keys);
        let v4 = self.uncovered_v4(s, (keys, n), elem);
        self.add_set(s, v4, Vec::new())
    }

    /// [`Checker::uncovered_v4`] of a set file of plain addresses ([`plain_file_addrs`]:
    /// its two halves' addresses, each sorted; its `text`; named at `span`): a /32
    /// covers only an equal one, so the merge of the halves keeps each address once,
    /// in one tight loop over two lists of integers (this runs on one thread, over a
    /// million addresses). An address written more than once is reported as the
    /// general sweep reports it — each repeat, in line order, as covered by its first
    /// line, by address — from the lines of those addresses alone, read again
    /// ([`repeated_lines`]).
    fn uncovered_plain_v4(
        &mut self,
        s: &SetDecl,
        (a, b): (Vec<u32>, Vec<u32>),
        (text, span): (&str, Span),
    ) -> Vec<Ipv4Net> {
        let (kept, repeated) = merge_unique(a, b);
        self.report_repeats(s, &repeated, (text, span));
        kept
    }

    /// Reports each line of the set file `text` (named at `span`) that repeats an
    /// address of `repeated` (sorted) written on an earlier line, in line order, as
    /// covered by its first line, by address ([`repeated_lines`]).
    fn report_repeats(&mut self, s: &SetDecl, repeated: &[u32], (text, span): (&str, Span)) {
        if repeated.is_empty() {
            return;
        }
        let mut first: Option<u64> = None;
        for k in repeated_lines(text, repeated) {
            match first {
                Some(f) if f >> 32 == k >> 32 => {
                    let (e, ce) = (unpacked_file_elem(k, span), unpacked_file_elem(f, span));
                    self.covered(s, (prefix(&e), &e), (prefix(&ce), &ce));
                }
                _ => first = Some(k),
            }
        }
    }

    fn add_set(&mut self, s: &SetDecl, v4: Vec<Ipv4Net>, v6: Vec<Ipv6Net>) -> SetKind {
        let id = self.module.sets.push(AddrSet {
            name: s.name.name.clone(),
            v4,
            v6,
        });
        SetKind::Addr(id)
    }

    /// The prefixes of `elems` that no other one covers, by family, each covered one
    /// reported.
    fn uncovered(&mut self, s: &SetDecl, elems: &[Elem]) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
        let mut nets: Vec<(IpNet, &Elem)> = Vec::with_capacity(elems.len());
        nets.extend(elems.iter().filter_map(|e| match e.value {
            SetElem::Prefix(n, _) => Some((n, e)),
            SetElem::Ports(..) => None,
        }));
        sort_prefixes(&mut nets);
        let mut covering: Vec<(IpNet, &Elem)> = Vec::new();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (n, e) in nets {
            while covering.last().is_some_and(|(c, _)| !c.contains(&n)) {
                covering.pop();
            }
            if let Some((c, ce)) = covering.last() {
                self.covered(s, (n, e), (*c, ce));
                continue;
            }
            covering.push((n, e));
            match n {
                IpNet::V4(n) => v4.push(n),
                IpNet::V6(n) => v6.push(n),
            }
        }
        (v4, v6)
    }

    /// [`Checker::uncovered`] for IPv4 prefixes packed and sorted by [`packed_v4`]:
    /// compared as integers (a prefix covers the ones after it whose last address is
    /// not past its own), without building `IpNet` pairs for a million elements.
    /// `elem` gives the element a key stands for (only for a covered one, to report);
    /// `n`, how many keys there are.
    fn uncovered_v4(
        &mut self,
        s: &SetDecl,
        (keys, n): (impl IntoIterator<Item = u64>, usize),
        elem: impl Fn(u64) -> Elem,
    ) -> Vec<Ipv4Net> {
        // (last address, key) of the prefixes that may still cover.
        let mut covering: Vec<(u32, u64)> = Vec::new();
        let mut kept = Vec::with_capacity(n);
        for k in keys {
            let n = unpack_v4(k);
            let last = n.broadcast().to_bits();
            while covering.last().is_some_and(|&(c_last, _)| c_last < last) {
                covering.pop();
            }
            if let Some(&(_, ck)) = covering.last() {
                let (e, ce) = (elem(k), elem(ck));
                self.covered(s, (prefix(&e), &e), (prefix(&ce), &ce));
                continue;
            }
            covering.push((last, k));
            kept.push(n);
        }
        kept
    }

    /// Reports element `e` (prefix `n`) of set `s` as covered by `ce` (prefix `c`).
    fn covered(&mut self, s: &SetDecl, (n, e): (IpNet, &Elem), (c, ce): (IpNet, &Elem)) {
        let what = if c == n {
            "duplicate element"
        } else {
            "element inside another"
        };
        self.diags.push(
            Diagnostic::new(
                Code::SetOverlap,
                format!(
                    "set `{}`: {n}{} is covered by {c}{}",
                    quote(&s.name.name),
                    at_line(e.file_line),
                    at_line(ce.file_line)
                ),
            )
            .label(e.span(), what)
            .label(ce.span(), "covered by this"),
        );
    }

    /// A port set: its ranges sorted and merged, each overlap reported.
    fn port_set(&mut self, s: &SetDecl, elems: &[Elem]) -> SetKind {
        let mut ranges: Vec<(u16, u16, &Elem)> = elems
            .iter()
            .filter_map(|e| match e.value {
                SetElem::Ports(lo, hi, _) => Some((lo, hi, e)),
                SetElem::Prefix(..) => None,
            })
            .collect();
        ranges.sort_by_key(|r| (r.0, std::cmp::Reverse(r.1)));
        let mut out: Vec<(u16, u16)> = Vec::new();
        let mut last: Option<(u16, u16, &Elem)> = None;
        for (lo, hi, e) in ranges {
            if let Some((plo, phi, pe)) = last {
                if lo <= phi {
                    self.diags.push(
                        Diagnostic::new(
                            Code::SetOverlap,
                            format!(
                                "set `{}`: ports {} overlap {}",
                                quote(&s.name.name),
                                crate::ir::port_range_text(lo, hi),
                                crate::ir::port_range_text(plo, phi)
                            ),
                        )
                        .label(e.span(), "overlapping element")
                        .label(pe.span(), "overlaps this"),
                    );
                }
            }
            if last.is_none_or(|(_, phi, _)| hi > phi) {
                last = Some((lo, hi, e));
            }
            merge_range(&mut out, lo, hi);
        }
        SetKind::Ports(out)
    }
}

/// The prefix an address element holds.
fn prefix(e: &Elem) -> IpNet {
    match e.value {
        SetElem::Prefix(n, _) => n,
        SetElem::Ports(..) => unreachable!("an address set holds prefixes"),
    }
}

/// A set of IPv4 prefixes only (fewer than 2^24 of them) as integers
/// (address, length, element index), sorted: the order [`sort_prefixes`] gives, equal
/// prefixes in the order written. `None` for any other set.
fn packed_v4(elems: &[Elem]) -> Option<Vec<u64>> {
    if elems.len() >= 1 << 24 {
        return None;
    }
    let mut keys: Vec<u64> = Vec::with_capacity(elems.len());
    for (i, e) in elems.iter().enumerate() {
        let SetElem::Prefix(IpNet::V4(n), _) = e.value else {
            return None;
        };
        keys.push(pack_v4(n, i as u64));
    }
    sort_packed(&mut keys);
    Some(keys)
}

/// Sorts by (address, length), which puts a covering prefix right before the
/// prefixes it covers; equal prefixes stay in the order written (the first is kept,
/// the others are reported as covered by it). Input already in that order (a set file
/// kept sorted) is only checked. (A set of IPv4 prefixes alone is sorted as packed
/// integers instead, [`packed_v4`].)
fn sort_prefixes<T: Copy>(nets: &mut [(IpNet, T)]) {
    let order = |n: &IpNet| (n.network(), n.prefix_len());
    if !nets.is_sorted_by(|a, b| order(&a.0) <= order(&b.0)) {
        nets.sort_by_key(|a| order(&a.0));
    }
}

/// Two sorted lists of addresses as one, each address once, and the addresses met more
/// than once (sorted, each once): one tight loop over two lists of integers (this runs
/// on one thread, over a million addresses).
fn merge_unique(a: Vec<u32>, b: Vec<u32>) -> (Vec<Ipv4Net>, Vec<u32>) {
    let mut kept: Vec<Ipv4Net> = Vec::with_capacity(a.len() + b.len());
    let mut repeated: Vec<u32> = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut last: Option<u32> = None;
    while i < a.len() || j < b.len() {
        let x = if j == b.len() || (i < a.len() && a[i] <= b[j]) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        if last == Some(x) {
            if repeated.last() != Some(&x) {
                repeated.push(x);
            }
            continue;
        }
        kept.push(Ipv4Net::from(std::net::Ipv4Addr::from_bits(x)));
        last = Some(x);
    }
    (kept, repeated)
}

/// The packed keys (address, /32, file line) of the lines of `text` (every line a
/// plain address) whose address is in `repeated` (sorted), sorted: the keys of every
/// line of an address written more than once, in the order the general sweep meets
/// them.
fn repeated_lines(text: &str, repeated: &[u32]) -> Vec<u64> {
    let mut keys: Vec<u64> = file_lines(text)
        .enumerate()
        .filter_map(|(i, l)| match l {
            FileLine::Plain(a) if repeated.binary_search(&a.to_bits()).is_ok() => {
                Some(pack_v4(Ipv4Net::from(a), i as u64 + 1))
            }
            // Another line (in a file that changed since its addresses were read, the
            // text read again for these lines) names no address.
            FileLine::Plain(_) | FileLine::Text(_) => None,
        })
        .collect();
    keys.sort_unstable();
    keys
}

/// Two sorted lists as one sorted sequence, taken as it is walked (the tests'
/// reference for the merge of [`Checker::uncovered_plain_v4`]).
#[cfg(test)]
fn merged<T: Ord>(a: Vec<T>, b: Vec<T>) -> impl Iterator<Item = T> {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

fn at_line(l: Option<u32>) -> String {
    l.map(|l| format!(" (file line {l})")).unwrap_or_default()
}

/// Appends a range to a sorted list, merging overlapping and adjacent ranges.
pub(crate) fn merge_range(out: &mut Vec<(u16, u16)>, lo: u16, hi: u16) {
    if let Some(last) = out.last_mut() {
        if u32::from(lo) <= u32::from(last.1) + 1 {
            last.1 = last.1.max(hi);
            return;
        }
    }
    out.push((lo, hi));
}
