//! One ClassBench set at one size, ready for every contender: its filters and trace,
//! the rule files each contender loads (written once into a scratch directory), the
//! sockc rule file compiled (for the reference evaluator), and the two packets the
//! timing sends: one decided at the end of the rule list (no filter matches it, or
//! only the wide filters the larger sets end in, with an accepting verdict, so it
//! also crosses the rest of the receive path) and one the first filter drops.
//!
//! Invariant: every file of a workload is written from the same filter list with the
//! same verdicts ([`rules`]), and the scratch directory is removed when the
//! [`Scratch`] that holds it is dropped.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use sockc_compiler::Compiled;
use sockc_testkit::{
    classbench::{self, first_match, Filter, TraceHeader},
    classbench_data,
    packet::PacketSpec,
};

use super::{link::RX_IF, load::Contender, rules};
use crate::measure;

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Result<Scratch, String> {
        let dir = std::env::temp_dir().join(format!("sockc-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The packets the timing sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Case {
    /// Decided at the end of the list (or by no filter), accepted.
    Late,
    /// Dropped by the first filter.
    FirstDrops,
}

impl Case {
    pub const ALL: [Case; 2] = [Case::Late, Case::FirstDrops];

    pub fn key(self) -> &'static str {
        match self {
            Case::Late => "late",
            Case::FirstDrops => "first-drops",
        }
    }
}

pub struct Workload {
    /// `SET_SIZE`, e.g. `acl1_10000`.
    pub name: String,
    pub filters: Vec<Filter>,
    pub trace: Vec<TraceHeader>,
    pub compiled: Compiled,
    /// The timed packets, and what decides the late one (`None`: no filter).
    pub timed: Vec<(Case, PacketSpec)>,
    pub late_decider: Option<usize>,
    /// Layers of the nft set form.
    pub nft_layers: usize,
    files: BTreeMap<Contender, PathBuf>,
}

impl Workload {
    /// The file `who` loads (the baseline has none: an empty path).
    pub fn file(&self, who: Contender) -> PathBuf {
        self.files.get(&who).cloned().unwrap_or_default()
    }

    pub fn packet(&self, case: Case) -> &PacketSpec {
        &self
            .timed
            .iter()
            .find(|(c, _)| *c == case)
            .expect("every case has a packet")
            .1
    }
}

/// Reads `SET_SIZE.rules` and its trace from `dir` and writes every contender's file
/// into `scratch`.
pub fn prepare(dir: &Path, set: &str, size: usize, scratch: &Scratch) -> Result<Workload, String> {
    let name = format!("{set}_{size}");
    let read = |suffix| {
        classbench_data::read(dir, &classbench_data::file_name(set, size, suffix))
            .map_err(|e| e.to_string())
    };
    let filters = classbench::parse_filters(&read("")?).map_err(|e| format!("{name}: {e}"))?;
    let trace = classbench::parse_trace(&read("_trace")?).map_err(|e| format!("{name}: {e}"))?;
    let (late, late_decider) =
        late_header(&filters, None).ok_or_else(|| format!("{name}: no late packet found"))?;
    let first = first_drop_header(&filters).ok_or_else(|| format!("{name}: empty set"))?;
    let mut files = BTreeMap::new();
    let mut write = |who: Contender, ext: &str, text: &str| -> Result<(), String> {
        let path = scratch.0.join(format!("{name}-{}.{ext}", who.key()));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        files.insert(who, path);
        Ok(())
    };
    let xdp = rules::sockc(&filters, &format!("xdp on {RX_IF}"));
    write(Contender::SockcXdp, "sk", &xdp)?;
    write(
        Contender::SockcTc,
        "sk",
        &rules::sockc(&filters, &format!("tc ingress on {RX_IF}")),
    )?;
    write(
        Contender::NftLinear,
        "nft",
        &rules::nft_linear(&filters, RX_IF),
    )?;
    let (sets, nft_layers) = rules::nft_sets(&filters, RX_IF);
    write(Contender::NftSets, "nft", &sets)?;
    let ipt = rules::iptables(&filters);
    write(Contender::IptablesLegacy, "rules", &ipt)?;
    write(Contender::IptablesNft, "rules", &ipt)?;
    let compiled = measure::compile(&xdp, sockc_compiler::opt::OptLevel::O2)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(Workload {
        name,
        filters,
        trace,
        compiled,
        timed: vec![
            (Case::Late, late.packet()),
            (Case::FirstDrops, first.packet()),
        ],
        late_decider,
        nft_layers,
        files,
    })
}

/// A header decided at the end: `cases`' "never" header (no filter matches it, or
/// only the wide tail), or a neighbour of it (top bits of its addresses flipped,
/// which the tail's halves and quarters tell apart; UDP or TCP instead of a
/// protocol the lab does not send) between ordinary unicast
/// addresses ([`sendable`]) that no filter or an accepting tail filter decides. With
/// `only`, that protocol alone is tried.
pub(crate) fn late_header(
    filters: &[Filter],
    only: Option<u8>,
) -> Option<(TraceHeader, Option<usize>)> {
    let base = crate::cases::never_matching(filters)?;
    let tail = filters.len()
        - filters
            .iter()
            .rev()
            .take_while(|f| crate::cases::is_wide(f))
            .count();
    let flips = [0u32, 1 << 31, 1 << 30, 3 << 30];
    let (src, dst) = (u32::from(base.src), u32::from(base.dst));
    let protos = only.map_or(vec![base.proto, 17, 6], |p| vec![p]);
    protos
        .into_iter()
        .flat_map(|proto| flips.iter().map(move |s| (proto, s)))
        .flat_map(|(proto, s)| flips.iter().map(move |d| (proto, s, d)))
        .map(|(proto, s, d)| TraceHeader {
            src: Ipv4Addr::from(src ^ s),
            dst: Ipv4Addr::from(dst ^ d),
            proto,
            ..base
        })
        .filter(sendable)
        .map(|h| (h, first_match(filters, &h)))
        .find(|(_, decider)| decider.is_none_or(|d| d >= tail && rules::accepts(d)))
}

/// Whether the probe lab can send `h` and see it delivered: TCP, UDP or ICMP between
/// two different ordinary unicast addresses (no multicast, broadcast, loopback,
/// link-local, `0.0.0.0/8` or class E, which the stack drops whatever the filter).
pub fn sendable(h: &TraceHeader) -> bool {
    let ordinary = |a: Ipv4Addr| {
        let o = a.octets();
        !(a.is_loopback() || a.is_link_local() || o[0] == 0 || o[0] >= 224)
    };
    [1, 6, 17].contains(&h.proto) && h.src != h.dst && ordinary(h.src) && ordinary(h.dst)
}

/// The first filter's lowest corner (a port of 40000 where its range allows, the
/// protocol TCP where it takes any).
fn first_drop_header(filters: &[Filter]) -> Option<TraceHeader> {
    let f = filters.first()?;
    let port = |(lo, hi): (u16, u16)| {
        if (lo..=hi).contains(&40_000) {
            40_000
        } else {
            lo
        }
    };
    let mut src = f.src.network();
    if src.is_unspecified() {
        src = Ipv4Addr::new(198, 51, 100, 7);
    }
    let mut dst = f.dst.network();
    if dst.is_unspecified() {
        dst = Ipv4Addr::new(192, 0, 2, 1);
    }
    let h = TraceHeader {
        src,
        dst,
        sport: port(f.sport),
        dport: port(f.dport),
        proto: f.proto.unwrap_or(6),
    };
    (first_match(filters, &h) == Some(0)).then_some(h)
}
