//! Canonical address sets: every [`AddrSet`] is rewritten, per family, into the
//! smallest list of prefixes with the same members. Prefixes covered by another
//! element are dropped and sibling prefixes are merged into their parent, repeatedly
//! (`10.0.0.0/25` + `10.0.0.128/25` → `10.0.0.0/24`; four `/26` quarters → one `/24`),
//! and the result is sorted by address. This is `ipnet`'s `aggregate`: the members
//! become sorted, merged address intervals, and each interval is cut back into the
//! fewest aligned prefixes, which is exactly the fixpoint of dropping covered
//! elements and merging siblings.
//!
//! Invariant: the members of every set (the addresses some element contains, per
//! family) are the same before and after; afterwards every family's list is sorted,
//! its prefixes are pairwise disjoint and no two of them are siblings, so the list is
//! the unique minimal prefix form of its members. Maps get fewer entries and later
//! passes may rely on "some element covers a prefix" being exact for set members.

use ipnet::{Ipv4Net, Ipv6Net};

use crate::ir::{AddrSet, Module};

/// Canonicalizes every address set of `module`.
pub(crate) fn run(module: &mut Module) {
    for set in module.sets.values_mut() {
        canonicalize(set);
    }
}

/// Rewrites one set into its canonical form (see the module documentation). A
/// family's list already in that form (sorted, every prefix truncated and no two
/// touching: a large blocklist of scattered /32s, the common case) is only checked
/// ([`already_canonical`]) and kept as it is, not copied.
pub(crate) fn canonicalize(set: &mut AddrSet) {
    if !already_canonical(&set.v4, span_v4) {
        canonicalize_v4(set);
    }
    if !already_canonical(&set.v6, span_v6) {
        canonicalize_v6(set);
    }
}

/// The first and last address of a v4 prefix, and whether it has no host bits, from
/// its bits alone (this runs once per element of a million-element set).
fn span_v4(n: &Ipv4Net) -> (u128, u128, bool) {
    let host = u32::MAX.checked_shr(u32::from(n.prefix_len())).unwrap_or(0);
    let a = n.addr().to_bits();
    (a.into(), (a | host).into(), a & host == 0)
}

/// [`span_v4`] of a v6 prefix.
fn span_v6(n: &Ipv6Net) -> (u128, u128, bool) {
    let host = u128::MAX
        .checked_shr(u32::from(n.prefix_len()))
        .unwrap_or(0);
    let a = n.addr().to_bits();
    (a, a | host, a & host == 0)
}

/// Whether `nets` is its own canonical form: every prefix truncated, and each one's
/// first address more than one past the previous one's last (sorted, disjoint, and no
/// two adjacent, so no two are siblings and no run merges). Such a list is what
/// [`merge_sorted`] and `aggregate` give back unchanged: each prefix alone is the
/// fewest aligned prefixes of its own interval.
fn already_canonical<N>(nets: &[N], span: impl Fn(&N) -> (u128, u128, bool)) -> bool {
    let mut next_free: Option<u128> = Some(0);
    for n in nets {
        let (lo, hi, truncated) = span(n);
        match next_free {
            Some(free) if truncated && lo >= free => next_free = hi.checked_add(2),
            _ => return false,
        }
    }
    true
}

/// [`canonicalize`] of the v4 list.
fn canonicalize_v4(set: &mut AddrSet) {
    if let Some(v4) = merge_sorted(&set.v4, Ipv4Net::trunc, |n| {
        (
            u32::from(n.network()).into(),
            u32::from(n.broadcast()).into(),
        )
    }) {
        set.v4 = v4;
    } else {
        set.v4 = Ipv4Net::aggregate(&set.v4);
    }
}

/// [`canonicalize`] of the v6 list.
fn canonicalize_v6(set: &mut AddrSet) {
    if let Some(v6) = merge_sorted(&set.v6, Ipv6Net::trunc, |n| {
        (n.network().into(), n.broadcast().into())
    }) {
        set.v6 = v6;
    } else {
        set.v6 = Ipv6Net::aggregate(&set.v6);
    }
}

/// What `aggregate` gives for `nets` sorted by address and pairwise disjoint (as
/// the checker leaves a set: sorted, covered elements dropped), in one pass and
/// without sorting again (a million-element set spent a tenth of its compile in
/// `aggregate`'s sort and reallocations): runs of adjacent prefixes are merged into
/// the fewest aligned prefixes, a prefix alone is kept. `None` for other input.
fn merge_sorted<N, S>(
    nets: &[N],
    trunc: impl Fn(&N) -> N,
    span: impl Fn(&N) -> (u128, u128),
) -> Option<Vec<N>>
where
    N: Copy + Subnets<Iter = S>,
    S: Iterator<Item = N>,
{
    let mut out = Vec::with_capacity(nets.len());
    let mut i = 0;
    while i < nets.len() {
        let (start, mut end) = span(&nets[i]);
        let mut j = i + 1;
        while let Some(next) = nets.get(j) {
            let (lo, hi) = span(next);
            if lo <= end {
                return None;
            }
            if end.checked_add(1) != Some(lo) {
                break;
            }
            end = hi;
            j += 1;
        }
        if j == i + 1 {
            out.push(trunc(&nets[i]));
        } else {
            out.extend(N::between(start, end));
        }
        i = j;
    }
    Some(out)
}

/// The fewest aligned prefixes that cover exactly `start..=end` (addresses as
/// integers of the family's width).
trait Subnets: Sized {
    type Iter: Iterator<Item = Self>;
    fn between(start: u128, end: u128) -> Self::Iter;
}

impl Subnets for Ipv4Net {
    type Iter = ipnet::Ipv4Subnets;
    fn between(start: u128, end: u128) -> ipnet::Ipv4Subnets {
        let v4 = |x: u128| std::net::Ipv4Addr::from(x as u32);
        ipnet::Ipv4Subnets::new(v4(start), v4(end), 0)
    }
}

impl Subnets for Ipv6Net {
    type Iter = ipnet::Ipv6Subnets;
    fn between(start: u128, end: u128) -> ipnet::Ipv6Subnets {
        ipnet::Ipv6Subnets::new(start.into(), end.into(), 0)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn v4(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn set4(nets: &[&str]) -> AddrSet {
        AddrSet {
            name: "s".into(),
            v4: nets.iter().map(|n| v4(n)).collect(),
            v6: Vec::new(),
        }
    }

    fn texts(nets: &[Ipv4Net]) -> Vec<String> {
        nets.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn siblings_merge_repeatedly_and_covered_elements_go() {
        let mut s = set4(&[
            "10.0.0.192/26",
            "10.0.0.0/25",
            "10.0.0.128/26",
            "10.0.0.7/32",
            "192.168.1.0/24",
            "192.168.0.0/24",
            "172.16.0.0/16",
            "172.16.5.0/24",
        ]);
        canonicalize(&mut s);
        assert_eq!(
            texts(&s.v4),
            ["10.0.0.0/24", "172.16.0.0/16", "192.168.0.0/23"]
        );
    }

    #[test]
    fn adjacent_prefixes_that_are_not_siblings_stay_apart() {
        let mut s = set4(&["10.0.1.0/24", "10.0.2.0/24"]);
        canonicalize(&mut s);
        assert_eq!(texts(&s.v4), ["10.0.1.0/24", "10.0.2.0/24"]);
    }

    #[test]
    fn families_are_kept_apart_and_the_whole_space_is_one_prefix() {
        let mut s = AddrSet {
            name: "s".into(),
            v4: vec![v4("0.0.0.0/1"), v4("128.0.0.0/1")],
            v6: vec![
                "2001:db8::/33".parse().unwrap(),
                "2001:db8:8000::/33".parse().unwrap(),
            ],
        };
        canonicalize(&mut s);
        assert_eq!(texts(&s.v4), ["0.0.0.0/0"]);
        assert_eq!(s.v6, vec!["2001:db8::/32".parse::<Ipv6Net>().unwrap()]);
    }

    #[test]
    fn run_rewrites_every_set_of_a_module() {
        let src = "set a = { 10.0.0.0/25, 10.0.0.128/25 }\n\
                   set b = { 2001:db8::/48, 2001:db8:1::/48, 1.2.3.4 }\n\
                   xdp on eth0 {\n drop from @a\n drop to @b\n default allow\n}\n";
        let mut module = crate::test_module::module(src);
        run(&mut module);
        let text = module.to_string();
        assert!(
            text.contains("set a { 10.0.0.0/24 }  ; 1 v4, 0 v6"),
            "{text}"
        );
        assert!(
            text.contains("set b { 1.2.3.4/32, 2001:db8::/47 }  ; 1 v4, 1 v6"),
            "{text}"
        );
    }

    /// A prefix in a small corner of the space (so that random sets overlap and
    /// touch), or now and then anywhere with any length.
    fn net4() -> impl Strategy<Value = Ipv4Net> {
        prop_oneof![
            4 => (0u32..512, 22u8..=32).prop_map(|(a, len)| {
                Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | a), len).unwrap().trunc()
            }),
            1 => (any::<u32>(), 0u8..=32)
                .prop_map(|(a, len)| Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc()),
        ]
    }

    fn net6() -> impl Strategy<Value = Ipv6Net> {
        prop_oneof![
            4 => (0u128..512, 118u8..=128).prop_map(|(a, len)| {
                Ipv6Net::new(Ipv6Addr::from((0x2001_0db8u128 << 96) | a), len)
                    .unwrap()
                    .trunc()
            }),
            1 => (any::<u128>(), 0u8..=128)
                .prop_map(|(a, len)| Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc()),
        ]
    }

    /// Addresses worth asking about: both ends of every prefix, before and after,
    /// and the extremes of the space.
    fn probes(nets: &[(u128, u128)], max: u128) -> Vec<u128> {
        let mut out = vec![0, 1, max - 1, max];
        for &(lo, hi) in nets {
            out.extend([lo, hi, lo.saturating_sub(1), hi.saturating_add(1).min(max)]);
            out.push(lo + (hi - lo) / 2);
        }
        out
    }

    fn member(nets: &[(u128, u128)], a: u128) -> bool {
        nets.iter().any(|&(lo, hi)| (lo..=hi).contains(&a))
    }

    /// Sorted, pairwise disjoint, and no two elements are siblings.
    fn assert_canonical(nets: &[(u128, u128, u8)]) {
        for w in nets.windows(2) {
            assert!(w[0].1 < w[1].0, "not sorted and disjoint: {w:?}");
        }
        for (i, a) in nets.iter().enumerate() {
            for b in &nets[i + 1..] {
                let size = a.1 - a.0;
                let siblings =
                    a.2 == b.2 && a.2 > 0 && b.0 == a.1 + 1 && (a.0 / (size + 1)) % 2 == 0;
                assert!(!siblings, "siblings left unmerged: {a:?} {b:?}");
            }
        }
    }

    /// `nets` as the checker leaves a set: sorted by address, covered ones dropped.
    fn sorted_disjoint(mut nets: Vec<Ipv4Net>) -> Vec<Ipv4Net> {
        nets.iter_mut().for_each(|n| *n = n.trunc());
        nets.sort_by_key(|n| (n.network(), n.prefix_len()));
        let mut out: Vec<Ipv4Net> = Vec::new();
        for n in nets {
            if !out.last().is_some_and(|c| c.contains(&n)) {
                out.push(n);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_one_pass_merge_is_aggregate_on_what_the_checker_leaves(
            v4s in proptest::collection::vec(net4(), 0..60),
            dense in proptest::collection::vec(0u32..64, 0..60),
        ) {
            // Dense /32s and /31s near one address, so that runs of adjacent
            // prefixes (to merge) are common.
            let near: Vec<Ipv4Net> = dense
                .iter()
                .map(|&d| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + d), 31 + (d % 2) as u8).unwrap())
                .collect();
            for input in [sorted_disjoint(v4s.clone()), sorted_disjoint(near)] {
                let fast = merge_sorted(&input, Ipv4Net::trunc, |n| {
                    (u32::from(n.network()).into(), u32::from(n.broadcast()).into())
                });
                prop_assert_eq!(fast, Some(Ipv4Net::aggregate(&input)));
            }
            // Unsorted or overlapping input is not taken for sorted.
            let mut rev = sorted_disjoint(v4s);
            if rev.len() > 1 {
                rev.reverse();
                let fast = merge_sorted(&rev, Ipv4Net::trunc, |n| {
                    (u32::from(n.network()).into(), u32::from(n.broadcast()).into())
                });
                prop_assert_eq!(fast, None);
            }
        }
    }

    #[test]
    fn a_list_already_canonical_is_kept_and_one_that_touches_is_not() {
        let canonical = [
            "10.0.0.1/32",
            "10.0.0.4/31",
            "10.0.1.0/24",
            "255.255.255.255/32",
        ];
        assert!(already_canonical(&set4(&canonical).v4, span_v4));
        for not in [
            &["10.0.0.1/32", "10.0.0.2/32"][..], // adjacent
            &["10.0.0.2/32", "10.0.0.1/32"],     // not sorted
            &["10.0.0.0/24", "10.0.0.7/32"],     // covered
            &["10.0.0.7/32", "10.0.0.7/32"],     // repeated
            &["10.0.0.1/24"],                    // host bits
            &["255.255.255.254/32", "255.255.255.255/32"],
        ] {
            let nets: Vec<Ipv4Net> = not.iter().map(|n| n.parse().unwrap()).collect();
            assert!(!already_canonical(&nets, span_v4), "{not:?}");
        }
        let six = |t: &[&str]| -> Vec<Ipv6Net> { t.iter().map(|n| n.parse().unwrap()).collect() };
        assert!(already_canonical(
            &six(&["2001:db8::1/128", "2001:db8::3/128"]),
            span_v6
        ));
        assert!(!already_canonical(
            &six(&["2001:db8::2/128", "2001:db8::3/128"]),
            span_v6
        ));
        assert!(!already_canonical(
            &six(&[
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
            ]),
            span_v6
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The check that skips the rewrite is sound (a list that passes it is what
        /// `aggregate` gives back), and it passes every canonical list in which no two
        /// prefixes touch (adjacent prefixes that are not siblings, which it leaves
        /// to the rewrite, are the only canonical lists it does not pass).
        #[test]
        fn a_list_that_passes_the_check_is_what_aggregate_gives(
            v4s in proptest::collection::vec(net4(), 0..40),
            v6s in proptest::collection::vec(net6(), 0..40),
            dense in proptest::collection::vec(0u32..256, 0..40),
        ) {
            let near: Vec<Ipv4Net> = dense
                .iter()
                .map(|&d| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + 2 * d), 32).unwrap())
                .collect();
            let touch = |n: &[(u128, u128, bool)]| n.windows(2).any(|w| w[0].1 + 1 == w[1].0);
            for input in [v4s.clone(), sorted_disjoint(v4s), sorted_disjoint(near)] {
                let canonical = Ipv4Net::aggregate(&input);
                if already_canonical(&input, span_v4) {
                    prop_assert_eq!(&canonical, &input);
                }
                let spans: Vec<_> = canonical.iter().map(span_v4).collect();
                prop_assert_eq!(already_canonical(&canonical, span_v4), !touch(&spans), "{:?}", canonical);
            }
            let canonical = Ipv6Net::aggregate(&v6s);
            if already_canonical(&v6s, span_v6) {
                prop_assert_eq!(&canonical, &v6s);
            }
            let spans: Vec<_> = canonical.iter().map(span_v6).collect();
            let touch6 = spans.windows(2).any(|w| w[0].1.checked_add(1) == Some(w[1].0));
            prop_assert_eq!(already_canonical(&canonical, span_v6), !touch6);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn membership_is_kept_and_the_result_is_canonical(
            v4s in proptest::collection::vec(net4(), 0..40),
            v6s in proptest::collection::vec(net6(), 0..40),
            extra4 in proptest::collection::vec(any::<u32>(), 16),
            extra6 in proptest::collection::vec(any::<u128>(), 16),
        ) {
            let before = AddrSet { name: "s".into(), v4: v4s, v6: v6s };
            let mut after = before.clone();
            canonicalize(&mut after);

            let iv4 = |s: &AddrSet| -> Vec<(u128, u128, u8)> {
                s.v4.iter()
                    .map(|n| (u32::from(n.network()).into(), u32::from(n.broadcast()).into(), n.prefix_len()))
                    .collect()
            };
            let iv6 = |s: &AddrSet| -> Vec<(u128, u128, u8)> {
                s.v6.iter()
                    .map(|n| (u128::from(n.network()), u128::from(n.broadcast()), n.prefix_len()))
                    .collect()
            };
            for (b, a, max, extra) in [
                (iv4(&before), iv4(&after), u128::from(u32::MAX), extra4.iter().map(|&x| u128::from(x)).collect::<Vec<_>>()),
                (iv6(&before), iv6(&after), u128::MAX, extra6.clone()),
            ] {
                let b2: Vec<(u128, u128)> = b.iter().map(|x| (x.0, x.1)).collect();
                let a2: Vec<(u128, u128)> = a.iter().map(|x| (x.0, x.1)).collect();
                let mut ask = probes(&b2, max);
                ask.extend(probes(&a2, max));
                ask.extend(extra);
                for addr in ask {
                    prop_assert_eq!(member(&b2, addr), member(&a2, addr), "address {:#x}", addr);
                }
                assert_canonical(&a);
                prop_assert!(a.len() <= b.len());
            }
            // Canonical means a fixpoint.
            let mut again = after.clone();
            canonicalize(&mut again);
            prop_assert_eq!(again.v4, after.v4);
            prop_assert_eq!(again.v6, after.v6);
        }
    }
}
