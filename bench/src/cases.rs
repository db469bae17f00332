//! The rule sets `sockc bench` measures: ten rules of its own and the ClassBench sets
//! converted to rule files (rule *i* = filter *i*, actions alternating, default drop),
//! each with the packets measured on it and the destination prefixes of its baseline;
//! a set may also be measured carried over to IPv6 ([`Family::V6`], same rules and
//! packets with mapped addresses).
//!
//! Per set three packets: one the first rules decide (early: the trace header decided
//! by the lowest-numbered filter the trace hits), one the last rules decide (late: the
//! highest), and one no rule matches (never); in a set that ends in wide filters that
//! match every packet, "never" is a header only that tail matches. The baseline
//! program is `allow ip4 to @dsts` over the set's destination prefixes of /8 and
//! longer (the wider ones would cover, and so collapse, the rest).

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
};

use crate::ipv6_cases;
use sockc_testkit::{
    classbench::{self, ActionPolicy, ConvertOptions, Filter, TraceHeader},
    classbench_data,
    packet::{PacketSpec, L4},
    rng::Rng,
};

/// One rule set to measure.
pub struct Case {
    pub name: String,
    pub rules: usize,
    pub source: String,
    /// (label, packet)
    pub packets: Vec<(&'static str, Option<PacketSpec>)>,
    /// The baseline's destination prefixes ([`baseline_source`]).
    pub dsts: Vec<String>,
    pub family: Family,
}

/// The ten-rule set and, from the ClassBench directory, every set of `sets` at every
/// size of `sizes`, then every set of `v6_sets` carried over to IPv6
/// ([`crate::ipv6_cases`]) at every size; a set that cannot be read is skipped, saying
/// why on stderr.
pub fn all(
    classbench: Option<&Path>,
    sets: &[String],
    v6_sets: &[String],
    sizes: &[usize],
) -> Vec<Case> {
    let mut cases = vec![ten_rules()];
    let dir = classbench_data::dir(classbench, Path::new(""));
    let wanted = sets
        .iter()
        .map(|s| (s, Family::V4))
        .chain(v6_sets.iter().map(|s| (s, Family::V6)));
    let wanted: Vec<_> = wanted.collect();
    for &size in sizes {
        for &(set, family) in &wanted {
            match classbench_case(&dir, set, size, family) {
                Ok(c) => cases.push(c),
                Err(e) => eprintln!("sockc bench: {set}_{size}: skipped: {e}"),
            }
        }
    }
    cases
}

/// The address family a ClassBench set is measured in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    /// Carried over by [`crate::ipv6_cases`].
    V6,
}

/// The name of a ClassBench case: `acl1_1000`, or `acl1_1000 IPv6`.
pub fn case_name(set: &str, size: usize, family: Family) -> String {
    match family {
        Family::V4 => format!("{set}_{size}"),
        Family::V6 => format!("{set}_{size} IPv6"),
    }
}

/// Ten rules on distinct /24 sources and ports; early = rule 1, late = rule 10.
fn ten_rules() -> Case {
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..10 {
        let action = if i % 2 == 0 { "drop" } else { "allow" };
        src.push_str(&format!(
            "    {action} tcp from 10.0.{i}.0/24 to *:{}\n",
            8000 + i
        ));
    }
    src.push_str("    default allow\n}\n");
    let pkt = |i: u8, port: u16| {
        PacketSpec::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, i, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            L4::Tcp {
                sport: 40000,
                dport: port,
                flags: 0x02,
            },
        )
    };
    Case {
        name: "10 rules".into(),
        rules: 10,
        source: src,
        packets: vec![
            ("early", Some(pkt(0, 8000))),
            ("late", Some(pkt(9, 8009))),
            ("never", Some(pkt(200, 80))),
        ],
        dsts: vec!["192.0.2.0/24".into()],
        family: Family::V4,
    }
}

fn classbench_case(dir: &Path, set: &str, size: usize, family: Family) -> Result<Case, String> {
    let read = |suffix| {
        classbench_data::read(dir, &classbench_data::file_name(set, size, suffix))
            .map_err(|e| e.to_string())
    };
    let filters = classbench::parse_filters(&read("")?).map_err(|e| e.to_string())?;
    let headers = classbench::parse_trace(&read("_trace")?).map_err(|e| e.to_string())?;
    let expected =
        classbench::parse_expected(&read("_trace.expected")?).map_err(|e| e.to_string())?;
    let source = match family {
        Family::V4 => classbench::to_sk(
            &filters,
            &ConvertOptions {
                hook: "xdp on eth0".into(),
                policy: ActionPolicy::Alternate,
                default: "drop",
            },
        ),
        Family::V6 => ipv6_cases::to_sk(&filters, ActionPolicy::Alternate, "drop"),
    };
    let packet = |h: &TraceHeader| match family {
        Family::V4 => h.packet(),
        Family::V6 => ipv6_cases::packet(h),
    };
    // Early and late: the trace headers decided by the first and the last filter
    // that any header hits.
    let decided: Vec<(usize, &TraceHeader)> = headers
        .iter()
        .zip(&expected)
        .filter_map(|(h, e)| e.map(|i| (i, h)))
        .collect();
    let early = decided
        .iter()
        .min_by_key(|(i, _)| *i)
        .map(|(_, h)| packet(h));
    let late = decided
        .iter()
        .max_by_key(|(i, _)| *i)
        .map(|(_, h)| packet(h));
    let never = never_matching(&filters).map(|h| packet(&h));
    // Only prefixes of /8 and longer: the wide ones (`0.0.0.0/0`, `0.0.0.0/1` +
    // `128.0.0.0/1`) cover every other element, and the set (and its trie) would
    // shrink to them.
    let mut dsts: Vec<String> = filters
        .iter()
        .filter(|f| f.dst.prefix_len() >= 8)
        .map(|f| match family {
            Family::V4 => f.dst.to_string(),
            Family::V6 => ipv6_cases::map_prefix(f.dst),
        })
        .collect();
    dsts.sort();
    dsts.dedup();
    Ok(Case {
        name: case_name(set, size, family),
        rules: filters.len(),
        family,
        source,
        packets: vec![("early", early), ("late", late), ("never", never)],
        dsts,
    })
}

/// A header no filter matches, if the set has one that is easy to find. Most
/// ClassBench sets end in wide filters (any protocol and port, both prefixes /8 or
/// shorter) that together match every packet (`0.0.0.0/0 0.0.0.0/0 0 : 65535 0 :
/// 65535 0x00/0x00`, or halves and quarters such as `0.0.0.0/1 0.0.0.0/0`): there, a
/// header that no filter before that tail matches (the tail decides it, after every
/// other rule failed).
pub(crate) fn never_matching(filters: &[Filter]) -> Option<TraceHeader> {
    let mut filters = filters;
    while let Some((last, rest)) = filters.split_last() {
        if !is_wide(last) {
            break;
        }
        filters = rest;
    }
    let mut rng = Rng::seeded(0x9e37_79b9);
    (0..4096)
        .find_map(|i| {
            let x = rng.next();
            let h = TraceHeader {
                src: Ipv4Addr::from(x as u32),
                dst: Ipv4Addr::from((x >> 32) as u32),
                sport: (x >> 16) as u16,
                dport: (x >> 48) as u16,
                proto: [6, 17, 47][i % 3],
            };
            classbench::first_match(filters, &h).is_none().then_some(h)
        })
        .or_else(|| outside_wildcard_filters(filters))
}

/// A filter of the wide tail most ClassBench sets end in: any protocol and port,
/// both prefixes /8 or shorter.
pub(crate) fn is_wide(f: &Filter) -> bool {
    f.src.prefix_len() <= 8
        && f.dst.prefix_len() <= 8
        && f.sport == (0, u16::MAX)
        && f.dport == (0, u16::MAX)
        && f.proto.is_none()
}

/// A header random tries miss: a protocol no filter names, and a source and
/// destination pair that no filter taking any protocol covers (for each candidate
/// source, the lowest destination outside the destination prefixes of the filters
/// whose source prefix holds it).
fn outside_wildcard_filters(filters: &[Filter]) -> Option<TraceHeader> {
    use ipnet::Ipv4Net;
    let proto = [47u8, 50, 132, 253]
        .into_iter()
        .find(|p| filters.iter().all(|f| f.proto != Some(*p)))?;
    let span = |n: &Ipv4Net| (u32::from(n.network()), u32::from(n.broadcast()));
    let any_proto: Vec<((u32, u32), (u32, u32))> = filters
        .iter()
        .filter(|f| f.proto.is_none())
        .map(|f| (span(&f.src), span(&f.dst)))
        .collect();
    // The lowest address outside every range, if they leave one.
    let gap = |mut ranges: Vec<(u32, u32)>| -> Option<u32> {
        ranges.sort_unstable();
        let mut next = 0u64;
        for (lo, hi) in ranges {
            if u64::from(lo) > next {
                break;
            }
            next = next.max(u64::from(hi) + 1);
        }
        u32::try_from(next).ok()
    };
    // Candidate sources: where a source prefix starts or ends (the covering filters
    // change only there), at most 4,096 of them.
    let mut sources: Vec<u32> = any_proto
        .iter()
        .flat_map(|((lo, hi), _)| [*lo, hi.saturating_add(1)])
        .collect();
    sources.sort_unstable();
    sources.dedup();
    let stride = sources.len().div_ceil(4096).max(1);
    sources.into_iter().step_by(stride).find_map(|src| {
        let dsts = any_proto
            .iter()
            .filter(|((lo, hi), _)| (*lo..=*hi).contains(&src))
            .map(|(_, d)| *d)
            .collect();
        let h = TraceHeader {
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::from(gap(dsts)?),
            sport: 40_000,
            dport: 40_000,
            proto,
        };
        classbench::first_match(filters, &h).is_none().then_some(h)
    })
}

/// The baseline: parse, one LPM lookup over the destinations, count.
pub fn baseline_source(dsts: &[String], family: Family) -> String {
    if family == Family::V6 {
        return ipv6_cases::baseline_source(dsts);
    }
    format!(
        "set dsts = {{ {} }}\nxdp on eth0 {{\n    allow ip4 to @dsts\n    default allow\n}}\n",
        dsts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ClassBench set found gets a "never" packet: one that no filter matches,
    /// or (in a set ending in filters that match every packet) only that tail.
    #[test]
    fn every_set_has_a_never_matching_packet() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = classbench_data::dir(None, repo);
        let mut checked = 0;
        for set in ["acl1", "fw1", "ipc1"] {
            for size in [1000, 10000, 100000] {
                let name = classbench_data::file_name(set, size, "");
                let text = classbench_data::read(&dir, &name).expect("vendored");
                let filters = classbench::parse_filters(&text).expect("parses");
                let h = never_matching(&filters)
                    .unwrap_or_else(|| panic!("{set}_{size}: no never-matching header"));
                // The tail: wide filters and nothing else after them.
                let first = classbench::first_match(&filters, &h);
                assert!(
                    first.is_none_or(|i| filters[i..].iter().all(is_wide)),
                    "{set}_{size}: {h:?} is matched by filter {first:?}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 9, "sets found in {}", dir.display());
    }
}
