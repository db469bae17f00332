//! First match kept in nftables sets: the filters split into layers, each layer one
//! interval verdict map (`ip saddr . ip daddr . meta l4proto . th sport . th dport
//! vmap @layerN`), the maps looked up in layer order, the first map that holds the
//! packet deciding it.
//!
//! A map cannot order its elements (nft's `pipapo` backend refuses elements that
//! overlap, and would not say which of two wins), so the order of the filters has to
//! be kept by the order of the maps. The invariant [`assign`] keeps, for filters `i <
//! j` whose boxes (prefix × prefix × protocol × port range × port range) intersect:
//! if their verdicts differ, `layer(i) < layer(j)`; if they agree, `layer(i) !=
//! layer(j)`. Every layer then holds pairwise disjoint boxes, and the first layer
//! that holds a packet gives the verdict of the packet's first matching filter: let
//! `m` be that filter and `j` the matching filter in the lowest layer; if `j`'s
//! verdict differed from `m`'s, `m < j` would force `layer(m) < layer(j)`. Each filter
//! takes the lowest layer the invariant allows, so the layer count is the least this
//! greedy order gives (the longest chain of overlapping filters with alternating
//! verdicts, plus what equal-verdict neighbours push up).

use std::collections::BTreeMap;

use sockc_testkit::classbench::Filter;

/// The layer of each filter (0 first), under the invariant in the module docs;
/// `verdict(i)` is filter `i`'s verdict (true: accept).
pub fn assign(filters: &[Filter], verdict: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut layer = vec![0u32; filters.len()];
    // Earlier filters by source prefix: per prefix length, network address -> filters.
    let mut by_src: Vec<BTreeMap<u32, Vec<usize>>> = vec![BTreeMap::new(); 33];
    let mut taken = Vec::new();
    for (j, f) in filters.iter().enumerate() {
        let mut floor = 0;
        taken.clear();
        for_each_src_overlap(&by_src, f, |i| {
            if !overlaps_beyond_src(f, &filters[i]) {
                return;
            }
            if verdict(i) == verdict(j) {
                taken.push(layer[i]);
            } else {
                floor = floor.max(layer[i] + 1);
            }
        });
        taken.sort_unstable();
        taken.dedup();
        let mut l = floor;
        for &t in taken.iter().filter(|&&t| t >= floor) {
            if t > l {
                break;
            }
            l += 1;
        }
        layer[j] = l;
        by_src[usize::from(f.src.prefix_len())]
            .entry(u32::from(f.src.network()))
            .or_default()
            .push(j);
    }
    layer
}

/// Calls `visit` with every earlier filter whose source prefix intersects `f`'s: those
/// that hold it (the prefixes of `f`'s source, at most 33 lookups) and those it holds
/// (longer prefixes inside its range).
fn for_each_src_overlap(
    by_src: &[BTreeMap<u32, Vec<usize>>],
    f: &Filter,
    mut visit: impl FnMut(usize),
) {
    let len = f.src.prefix_len();
    let net = u32::from(f.src.network());
    for l in 0..=len {
        let key = if l == 0 {
            0
        } else {
            net & (u32::MAX << (32 - l))
        };
        for &i in by_src[usize::from(l)].get(&key).into_iter().flatten() {
            visit(i);
        }
    }
    let last = u32::from(f.src.broadcast());
    for l in len + 1..=32 {
        for (_, members) in by_src[usize::from(l)].range(net..=last) {
            for &i in members {
                visit(i);
            }
        }
    }
}

/// Whether two filters whose source prefixes intersect also share a destination, a
/// protocol and a port pair.
fn overlaps_beyond_src(a: &Filter, b: &Filter) -> bool {
    let nested = a.dst.contains(&b.dst.network()) || b.dst.contains(&a.dst.network());
    let ports = |x: (u16, u16), y: (u16, u16)| x.0 <= y.1 && y.0 <= x.1;
    nested
        && ports(a.sport, b.sport)
        && ports(a.dport, b.dport)
        && (a.proto.is_none() || b.proto.is_none() || a.proto == b.proto)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use ipnet::Ipv4Net;
    use sockc_testkit::classbench::{first_match, TraceHeader};

    use super::*;

    use sockc_testkit::rng::Rng;

    /// Filters over a small space (addresses in 10.0.0.0/28, ports 0-7) so that
    /// most of them overlap.
    fn random_filters(rng: &mut Rng, n: usize) -> Vec<Filter> {
        let prefix = |rng: &mut Rng| {
            let len = 28 + rng.below(5) as u8;
            let addr = 0x0a00_0000 | rng.below(16) as u32;
            Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc()
        };
        let range = |rng: &mut Rng| {
            let a = rng.below(8) as u16;
            let b = rng.below(8) as u16;
            (a.min(b), a.max(b))
        };
        (0..n)
            .map(|line| Filter {
                src: prefix(rng),
                dst: prefix(rng),
                sport: range(rng),
                dport: range(rng),
                proto: [None, Some(6), Some(17)][rng.below(3)],
                line,
            })
            .collect()
    }

    fn contains(f: &Filter, h: &TraceHeader) -> bool {
        f.matches(h)
    }

    /// Whether two filters' boxes intersect.
    fn overlap(a: &Filter, b: &Filter) -> bool {
        (a.src.contains(&b.src.network()) || b.src.contains(&a.src.network()))
            && overlaps_beyond_src(a, b)
    }

    /// Layers hold disjoint boxes, and the first layer holding a header gives the
    /// verdict of its first matching filter, on many random sets.
    #[test]
    fn layers_keep_the_first_matchs_verdict() {
        let mut rng = Rng::seeded(0x2545_f491_4f6c_dd1d);
        for round in 0..200 {
            let filters = random_filters(&mut rng, 40);
            let verdict = |i: usize| !(i + round).is_multiple_of(3);
            let layer = assign(&filters, verdict);
            for (i, a) in filters.iter().enumerate() {
                for (j, b) in filters.iter().enumerate().skip(i + 1) {
                    if layer[i] == layer[j] {
                        assert!(!overlap(a, b), "round {round}: {i} and {j} share a layer");
                    }
                }
            }
            for _ in 0..500 {
                let h = TraceHeader {
                    src: Ipv4Addr::from(0x0a00_0000 | rng.below(16) as u32),
                    dst: Ipv4Addr::from(0x0a00_0000 | rng.below(16) as u32),
                    sport: rng.below(8) as u16,
                    dport: rng.below(8) as u16,
                    proto: [6, 17, 1][rng.below(3)],
                };
                let want = first_match(&filters, &h).map(verdict);
                let got = (0..filters.len())
                    .filter(|&i| contains(&filters[i], &h))
                    .min_by_key(|&i| layer[i])
                    .map(verdict);
                assert_eq!(got, want, "round {round}: {h:?}");
            }
        }
    }

    #[test]
    fn disjoint_filters_share_the_first_layer() {
        let mut rng = Rng::seeded(7);
        let mut filters = random_filters(&mut rng, 2);
        filters[0].sport = (0, 1);
        filters[1].sport = (2, 3);
        assert_eq!(assign(&filters, |i| i == 0), vec![0, 0]);
        filters[1].sport = (1, 3);
        filters[1].src = filters[0].src;
        filters[1].dst = filters[0].dst;
        filters[1].dport = filters[0].dport;
        filters[1].proto = None;
        assert_eq!(assign(&filters, |i| i == 0), vec![0, 1]);
        assert_eq!(assign(&filters, |_| true), vec![0, 1]);
    }
}
