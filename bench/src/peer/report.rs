//! The head-to-head's outputs: a Markdown table (medians over rounds, per-round
//! ranges, and each figure's ratio to its baseline measured in the same round), a
//! CSV of every measurement, and an SVG plot of per-packet cost against rule count.
//!
//! Invariant: a ratio is always taken within one round (contender / the baseline of
//! that round and size) and only then summarised (median over rounds), so a slow
//! round moves a contender and its baseline together.

use std::{collections::BTreeSet, fmt::Write as _, path::Path};

use super::{breakdown, load::Contender, workload::Case, PacketRow, Results};
use crate::{measure::median, plot};

/// `SIZE (per the host)`: kernel, CPU model and count, and the load average.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = super::sys::all_cpus().len();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cpus} × {cpu}, Linux {}, load average {} at the end of the run",
        kernel.trim(),
        load.join(" ")
    )
}

/// Median and range of `v` (NaN when empty).
fn summary(v: &[f64]) -> (f64, f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(v.to_vec()), lo, hi)
}

/// `0.83 µs`, `257 µs`, `4.6 ms`.
pub fn time(ns: f64) -> String {
    if ns.is_nan() {
        "n/a".into()
    } else if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000.0 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

fn ratio(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x < 10.0 {
        format!("{x:.2}×")
    } else {
        format!("{x:.0}×")
    }
}

/// The sizes (rule counts) and workloads in the run, ascending.
fn sizes(r: &Results) -> Vec<(usize, String)> {
    let set: BTreeSet<(usize, String)> =
        r.packets.iter().map(|p| (p.rules, p.set.clone())).collect();
    set.into_iter().collect()
}

fn contenders(r: &Results) -> Vec<Contender> {
    let set: BTreeSet<Contender> = r.packets.iter().map(|p| p.who).collect();
    set.into_iter().collect()
}

fn rows<'a>(r: &'a Results, set: &'a str, case: Case) -> impl Iterator<Item = &'a PacketRow> {
    r.packets
        .iter()
        .filter(move |p| p.set == set && p.case == case)
}

/// Per round: the contender's ns per packet, and its ratio to that round's baseline.
fn per_round(r: &Results, set: &str, case: Case, who: Contender) -> (Vec<f64>, Vec<f64>) {
    let mut ns = Vec::new();
    let mut ratios = Vec::new();
    for p in rows(r, set, case).filter(|p| p.who == who) {
        let v = p.window.ns_per_packet();
        ns.push(v);
        if let Some(b) =
            rows(r, set, case).find(|b| b.who == Contender::Baseline && b.round == p.round)
        {
            ratios.push(v / b.window.ns_per_packet());
        }
    }
    (ns, ratios)
}

/// The per-packet cell: median, range, ratio to the baseline.
fn packet_cell(r: &Results, set: &str, case: Case, who: Contender) -> String {
    let (ns, ratios) = per_round(r, set, case, who);
    if ns.is_empty() {
        return "–".into();
    }
    let (m, lo, hi) = summary(&ns);
    let range = if ns.len() > 1 {
        format!(" ({}–{})", time(lo), time(hi)).replace(" µs–", "–")
    } else {
        String::new()
    };
    if who == Contender::Baseline {
        format!("{}{range}", time(m))
    } else {
        format!("{}{range}, {}", time(m), ratio(median(ratios)))
    }
}

/// The load cells: wall time (ratio to iptables-legacy-restore in the same round) and
/// peak RSS.
fn load_cells(r: &Results, set: &str, who: Contender) -> (String, String) {
    let mine: Vec<_> = r
        .loads
        .iter()
        .filter(|l| l.set == set && l.who == who)
        .collect();
    if mine.is_empty() {
        return ("–".into(), "–".into());
    }
    let ms: Vec<f64> = mine
        .iter()
        .map(|l| l.cost.wall.as_secs_f64() * 1e3)
        .collect();
    let mb: Vec<f64> = mine
        .iter()
        .filter_map(|l| l.cost.max_rss_kib)
        .map(|k| k as f64 / 1024.0)
        .collect();
    let ratios: Vec<f64> = mine
        .iter()
        .filter_map(|l| {
            r.loads
                .iter()
                .find(|b| b.set == set && b.round == l.round && b.who == Contender::IptablesLegacy)
                .map(|b| l.cost.wall.as_secs_f64() / b.cost.wall.as_secs_f64())
        })
        .collect();
    let (m, lo, hi) = summary(&ms);
    let range = if ms.len() > 1 {
        format!(" ({lo:.0}–{hi:.0})")
    } else {
        String::new()
    };
    let rel = if ratios.is_empty() || who == Contender::IptablesLegacy {
        String::new()
    } else {
        format!(", {}", ratio(median(ratios)))
    };
    let rss = match mb.first() {
        Some(mb) => format!("{mb:.1} MB"),
        None => "n/a".into(),
    };
    (format!("{m:.0} ms{range}{rel}"), rss)
}

/// The Markdown report.
pub fn markdown(r: &Results) -> String {
    let who = contenders(r);
    let mut out = format!("Machine: {}.\nRun: {}.\n\n", r.machine, r.options);
    out.push_str("Per-packet cost: CPU time of the receiver's NAPI thread per frame (median of the rounds, per-round range in parentheses, then the median of the per-round ratios to the no-filter baseline of the same round and size). Load: wall time of the loading process into an empty namespace (ratio to `iptables-legacy-restore` of the same rules in the same round), and its peak RSS (GNU `time`'s `%M`, one load in round 1).\n\n");
    let _ = write!(out, "| rules | packet |");
    for c in &who {
        let _ = write!(out, " {} |", c.title());
    }
    out.push_str("\n|---|---|");
    for _ in &who {
        out.push_str("---|");
    }
    out.push('\n');
    for (rules, set) in sizes(r) {
        for case in Case::ALL {
            let label = match case {
                Case::Late => "late / no match, accepted",
                Case::FirstDrops => "dropped by the first rule",
            };
            let _ = write!(out, "| {rules} ({set}) | {label} |");
            for c in &who {
                let _ = write!(out, " {} |", packet_cell(r, &set, case, *c));
            }
            out.push('\n');
        }
        let cells: Vec<(String, String)> = who.iter().map(|c| load_cells(r, &set, *c)).collect();
        let _ = write!(
            out,
            "| {rules} ({set}) | **load** into an empty namespace |"
        );
        for (t, _) in &cells {
            let _ = write!(out, " {t} |");
        }
        let _ = write!(out, "\n| {rules} ({set}) | loader peak RSS |");
        for (_, m) in &cells {
            let _ = write!(out, " {m} |");
        }
        out.push('\n');
    }
    out.push_str("\nPackets and verification:\n\n");
    for w in &r.workloads {
        let decider = w.late_decider.map_or("no filter".to_string(), |d| {
            format!("filter {d} of {}", w.rules)
        });
        let _ = writeln!(
            out,
            "- {} ({} filters): late packet `{}` (decided by {decider}), first-rule packet `{}`; nft set form: {} layers; {} packets checked per contender against sockc's evaluator, all agree.",
            w.name, w.rules, w.late, w.first, w.nft_layers, w.verified
        );
    }
    out.push_str(&flatness(r));
    out.push_str(&time_spent(r));
    out
}

/// Where a sockc load's time goes: one `apply --timings` per sockc contender and
/// size (round 1), its stages summed into [`breakdown::PARTS`].
fn time_spent(r: &Results) -> String {
    if r.breakdowns.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nWhere a sockc load's time goes (one more load per contender and size with `sockc apply --timings`, ms; attach includes the kernel's RCU grace period, see docs/benchmarks.md):\n\n| rules | contender | wall |",
    );
    for n in breakdown::names() {
        let _ = write!(out, " {n} |");
    }
    out.push_str("\n|---|---|---|");
    for _ in breakdown::names() {
        out.push_str("---|");
    }
    out.push('\n');
    for b in &r.breakdowns {
        let wall: f64 = b.parts.named().map(|(_, ms)| ms).sum();
        let _ = write!(
            out,
            "| {} ({}) | {} | {wall:.1} |",
            b.rules,
            b.set,
            b.who.title(),
        );
        for (_, v) in b.parts.named() {
            let _ = write!(out, " {v:.1} |");
        }
        out.push('\n');
    }
    out
}

/// sockc's late-packet cost at the largest size over the smallest, and against the
/// nft set form at every size.
fn flatness(r: &Results) -> String {
    let s = sizes(r);
    let (Some(first), Some(last)) = (s.first(), s.last()) else {
        return String::new();
    };
    let med = |set: &str, who| median(per_round(r, set, Case::Late, who).0);
    let mut out = String::from("\n");
    for who in [Contender::SockcXdp, Contender::SockcTc] {
        if !contenders(r).contains(&who) {
            continue;
        }
        if s.len() > 1 {
            let _ = writeln!(
                out,
                "- {}: late packet at {} rules / at {} rules: {}",
                who.title(),
                last.0,
                first.0,
                ratio(med(&last.1, who) / med(&first.1, who))
            );
        }
        for (rules, set) in &s {
            let nft = med(set, Contender::NftSets);
            if !nft.is_nan() {
                let _ = writeln!(
                    out,
                    "- {} at {rules} rules / nft set form: {}",
                    who.title(),
                    ratio(med(set, who) / nft)
                );
            }
        }
    }
    out
}

/// Every measurement as CSV.
pub fn csv(r: &Results) -> String {
    let mut out =
        String::from("round,set,rules,contender,metric,value,unit,packets,napi_cpu_ns,window_ns\n");
    for p in &r.packets {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.1},ns_per_packet,{},{},{}",
            p.round + 1,
            p.set,
            p.rules,
            p.who.key(),
            p.case.key(),
            p.window.ns_per_packet(),
            p.window.packets,
            p.window.cpu_ns,
            p.window.wall.as_nanos()
        );
    }
    for l in &r.loads {
        let _ = writeln!(
            out,
            "{},{},{},{},load_wall,{:.1},ms,,,",
            l.round + 1,
            l.set,
            l.rules,
            l.who.key(),
            l.cost.wall.as_secs_f64() * 1e3,
        );
        if let Some(kib) = l.cost.max_rss_kib {
            let _ = writeln!(
                out,
                "{},{},{},{},load_max_rss,{kib},KiB,,,",
                l.round + 1,
                l.set,
                l.rules,
                l.who.key(),
            );
        }
    }
    for b in &r.breakdowns {
        for (name, ms) in b.parts.named() {
            let _ = writeln!(
                out,
                "1,{},{},{},load_part:{},{ms:.1},ms,,,",
                b.set,
                b.rules,
                b.who.key(),
                name.replace(' ', "_"),
            );
        }
    }
    out
}

/// Per-packet cost (late packet, median over rounds) against rule count, one line
/// per contender, both axes logarithmic.
pub fn svg(r: &Results, path: &Path) -> Result<(), String> {
    let s = sizes(r);
    let series: Vec<(String, Vec<(f64, f64)>)> = contenders(r)
        .into_iter()
        .map(|c| {
            let us = s.iter().map(|(rules, set)| {
                let ns = median(per_round(r, set, Case::Late, c).0);
                (*rules as f64, ns / 1e3)
            });
            (c.title().to_string(), us.collect())
        })
        .collect();
    let labels = plot::Labels {
        caption: "Per-packet cost on the receiver (late / no-match packet, accepted)",
        x: "rules (ClassBench filters)",
        y: "µs of NAPI CPU time per packet",
    };
    plot::log_log(path, &labels, &series)
}

/// Writes `peer.md`, `peer.csv` and `peer.svg` into `dir`; returns the Markdown.
pub fn write(r: &Results, dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let md = markdown(r);
    let put = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    put("peer.md", &md)?;
    put("peer.csv", &csv(r))?;
    svg(r, &dir.join("peer.svg"))?;
    Ok(md)
}
