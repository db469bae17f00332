//! `--cgroup`'s figures: progress lines while it runs, the Markdown tables and the
//! `sockc.bench.cgroup/1` JSON document (docs/schemas/sockc.bench.cgroup.1.json).
//!
//! Invariant: every ratio is taken within one round (a contender against the no-filter
//! figure, or against sockc's, of the same round and size) and the table gives the
//! median of those per-round ratios, so a slow spell of the shared machine moves a
//! figure and what it is divided by together.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{forms::Datagrams, Calls, Packets};
use crate::measure::median;

/// One packet contender's figure in one round.
#[derive(Clone, Debug)]
pub struct PacketRow {
    pub round: usize,
    pub set: String,
    pub rules: usize,
    pub who: Packets,
    /// The sender thread's CPU time per datagram, ns.
    pub cpu_ns: f64,
    /// Wall time per datagram, ns.
    pub wall_ns: f64,
    pub datagrams: u64,
}

/// One call contender's figures in one round.
#[derive(Clone, Debug)]
pub struct CallRow {
    pub round: usize,
    pub who: Calls,
    /// Median TCP `connect()` latency, ns.
    pub tcp_ns: f64,
    /// Median UDP `connect()` latency, ns.
    pub udp_ns: f64,
}

/// What a run measured, and how.
#[derive(Default)]
pub struct Results {
    pub packets: Vec<PacketRow>,
    pub calls: Vec<CallRow>,
    /// Per set and size: what decides the timed datagram, in words.
    pub workloads: Vec<String>,
    pub connect_rules: usize,
    /// 1, 5 and 15 minute load averages at the start and at the end.
    pub load: [[f64; 3]; 2],
    pub machine: String,
    pub options: String,
}

pub fn progress_packet(round: usize, r: &PacketRow) {
    eprintln!(
        "cgroup: round {} {} {:<18} {:>9.0} ns/datagram CPU ({:.0} wall, {} datagrams)",
        round + 1,
        r.set,
        r.who.key(),
        r.cpu_ns,
        r.wall_ns,
        r.datagrams
    );
}

pub fn progress_call(round: usize, r: &CallRow) {
    eprintln!(
        "cgroup: round {} connect {:<22} TCP {:>8.0} ns, UDP {:>6.0} ns (medians)",
        round + 1,
        r.who.key(),
        r.tcp_ns,
        r.udp_ns
    );
}

/// What decides a workload's timed datagrams, in words.
pub fn note(name: &str, rules: usize, d: &Datagrams) -> String {
    let h = &d.late;
    let decider = d.late_decider.map_or("no filter".to_string(), |i| {
        format!("filter {i} (of the wide tail)")
    });
    format!(
        "{name} ({rules} rules): timed datagram {}:{} -> {}:{}, decided by {decider}; refused in the check: {}:{} -> {}:{} (filter {})",
        h.src, h.sport, h.dst, h.dport, d.dropped.src, d.dropped.sport, d.dropped.dst, d.dropped.dport, d.dropped_by
    )
}

/// One packet contender at one size over the rounds.
struct PacketFigure {
    set: String,
    rules: usize,
    who: Packets,
    cpu_ns: f64,
    range: (f64, f64),
    own_ns: f64,
    ratio_none: f64,
    ratio_sockc: f64,
}

/// Per (set, contender): the median over the rounds and the per-round comparisons.
fn packet_figures(r: &Results) -> Vec<PacketFigure> {
    let mut sets: Vec<(String, usize)> =
        r.packets.iter().map(|p| (p.set.clone(), p.rules)).collect();
    sets.dedup();
    sets.sort_by_key(|s| s.1);
    sets.dedup();
    let mut out = Vec::new();
    for (set, rules) in sets {
        let of = |who: Packets, round: usize| {
            r.packets
                .iter()
                .find(|p| p.set == set && p.who == who && p.round == round)
                .map(|p| p.cpu_ns)
        };
        for who in Packets::ALL {
            let mine: Vec<&PacketRow> = r
                .packets
                .iter()
                .filter(|p| p.set == set && p.who == who)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let per_round = |f: &dyn Fn(f64, usize) -> Option<f64>| {
                median(mine.iter().filter_map(|p| f(p.cpu_ns, p.round)).collect())
            };
            let cpu: Vec<f64> = mine.iter().map(|p| p.cpu_ns).collect();
            out.push(PacketFigure {
                set: set.clone(),
                rules,
                who,
                cpu_ns: median(cpu.clone()),
                range: (
                    cpu.iter().copied().fold(f64::INFINITY, f64::min),
                    cpu.iter().copied().fold(0.0, f64::max),
                ),
                own_ns: per_round(&|v, k| of(Packets::None, k).map(|b| v - b)),
                ratio_none: per_round(&|v, k| of(Packets::None, k).map(|b| v / b)),
                ratio_sockc: per_round(&|v, k| of(Packets::Sockc, k).map(|b| v / b)),
            });
        }
    }
    out
}

/// One call contender over the rounds: medians and per-round comparisons with none.
struct CallFigure {
    who: Calls,
    tcp_ns: f64,
    udp_ns: f64,
    tcp_own: f64,
    udp_own: f64,
    tcp_ratio: f64,
    udp_ratio: f64,
}

fn call_figures(r: &Results) -> Vec<CallFigure> {
    let none = |round: usize| {
        r.calls
            .iter()
            .find(|c| c.who == Calls::None && c.round == round)
    };
    Calls::ALL
        .into_iter()
        .filter_map(|who| {
            let mine: Vec<&CallRow> = r.calls.iter().filter(|c| c.who == who).collect();
            if mine.is_empty() {
                return None;
            }
            let per_round = |f: &dyn Fn(&CallRow, &CallRow) -> f64| {
                median(
                    mine.iter()
                        .filter_map(|c| none(c.round).map(|n| f(c, n)))
                        .collect(),
                )
            };
            Some(CallFigure {
                who,
                tcp_ns: median(mine.iter().map(|c| c.tcp_ns).collect()),
                udp_ns: median(mine.iter().map(|c| c.udp_ns).collect()),
                tcp_own: per_round(&|c, n| c.tcp_ns - n.tcp_ns),
                udp_own: per_round(&|c, n| c.udp_ns - n.udp_ns),
                tcp_ratio: per_round(&|c, n| c.tcp_ns / n.tcp_ns),
                udp_ratio: per_round(&|c, n| c.udp_ns / n.udp_ns),
            })
        })
        .collect()
}

fn packet_title(who: Packets) -> &'static str {
    match who {
        Packets::None => "no filter",
        Packets::Sockc => "sockc `cgroup egress` block",
        Packets::NftCgroup => "nft output, `socket cgroupv2` in every rule",
        Packets::NftSkuid => "nft output, `meta skuid` in every rule",
        Packets::NftJump => "nft output, one `socket cgroupv2` jump",
    }
}

fn call_title(who: Calls) -> &'static str {
    match who {
        Calls::None => "no program",
        Calls::Sockc => "sockc `cgroup connect` block",
        Calls::SystemdStyle => "systemd-style `IPAddressDeny=` (cgroup_skb in + out, LPM trie)",
    }
}

/// The two tables, the workloads and how they were measured.
pub fn markdown(r: &Results) -> String {
    let mut out = String::from(
        "## Policy on a cgroup (`sockc bench --cgroup`)\n\nPer datagram: CPU time of a \
         `sendto()` of a process in the cgroup (UDP, routed to a sink interface); own cost = \
         the figure minus no filter's of the same round; ratios are medians of \
         per-round ratios.\n\n| rules | contender | CPU ns / datagram | range | own cost ns | \
         × no filter | × sockc |\n|---:|---|---:|---|---:|---:|---:|\n",
    );
    for f in packet_figures(r) {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0}–{:.0} | {:.0} | {:.2} | {:.2} |",
            f.rules,
            packet_title(f.who),
            f.cpu_ns,
            f.range.0,
            f.range.1,
            f.own_ns,
            f.ratio_none,
            f.ratio_sockc
        );
    }
    let _ = write!(
        out,
        "\n`connect()` from a process in the cgroup to a listener in the namespace \
         (median latency; {} prefixes, none of which holds the listener):\n\n| contender | \
         TCP connect ns | − no program | × no program | UDP connect ns | − no program | × no program |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        r.connect_rules
    );
    for c in call_figures(r) {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.3} | {:.0} | {:.0} | {:.2} |",
            call_title(c.who),
            c.tcp_ns,
            c.tcp_own,
            c.tcp_ratio,
            c.udp_ns,
            c.udp_own,
            c.udp_ratio
        );
    }
    out.push('\n');
    for w in &r.workloads {
        let _ = writeln!(out, "- {w}");
    }
    let [b, a] = r.load;
    let _ = writeln!(
        out,
        "- {}; {}; load average {:.1} {:.1} {:.1} at the start, {:.1} {:.1} {:.1} at the end; {} build",
        r.machine, r.options, b[0], b[1], b[2], a[0], a[1], a[2], profile()
    );
    out
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// A number for JSON: finite, or null.
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// The `sockc.bench.cgroup/1` document.
pub fn json(r: &Results) -> Value {
    let packets: Vec<Value> = packet_figures(r)
        .iter()
        .map(|f| {
            json!({
                "set": f.set, "rules": f.rules, "contender": f.who.key(),
                "cpu_ns": num(f.cpu_ns), "min_ns": num(f.range.0), "max_ns": num(f.range.1),
                "own_ns": num(f.own_ns), "ratio_none": num(f.ratio_none),
                "ratio_sockc": num(f.ratio_sockc),
            })
        })
        .collect();
    let connects: Vec<Value> = call_figures(r)
        .iter()
        .map(|c| {
            json!({
                "contender": c.who.key(), "rules": r.connect_rules,
                "tcp_ns": num(c.tcp_ns), "tcp_own_ns": num(c.tcp_own), "tcp_ratio_none": num(c.tcp_ratio),
                "udp_ns": num(c.udp_ns), "udp_own_ns": num(c.udp_own), "udp_ratio_none": num(c.udp_ratio),
            })
        })
        .collect();
    let rounds = r.packets.iter().map(|p| p.round + 1);
    let rounds = rounds.chain(r.calls.iter().map(|c| c.round + 1)).max();
    json!({
        "schema": "sockc.bench.cgroup/1",
        "profile": profile(),
        "rounds": rounds.unwrap_or(0),
        "load_average": { "before": r.load[0], "after": r.load[1] },
        "machine": r.machine,
        "options": r.options,
        "packets": packets,
        "connects": connects,
    })
}
