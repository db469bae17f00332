//! `sockc bench --peer`: sockc against nftables and iptables on real frames. The
//! same ClassBench filters ([`workload`], written per contender by [`rules`], the
//! nft set form layered by [`layers`]) go into sockc at XDP and at TC ingress, nft
//! (one rule per filter, and layered interval verdict maps), iptables-legacy and
//! iptables-nft (raw PREROUTING); each is first checked against sockc's evaluator
//! in the probe lab ([`verify`]), then, in rounds, loaded into a fresh namespace
//! ([`load`]: whole-process wall time and peak RSS) and fed frames over a veth pair
//! ([`link`]) from an XDP live-frames generator on another CPU ([`live`]: the
//! receiver's NAPI thread's CPU time per frame). A no-filter baseline runs in every
//! round. Once per size, a sockc load is also made with `--timings` ([`breakdown`]:
//! where its time goes). [`report`] writes the Markdown table, the CSV and the SVG
//! plot.
//!
//! Invariant: contenders are interleaved (every round visits every contender at
//! every size, in an order rotated per round) so that a slow minute of the shared
//! machine spreads over all of them; every namespace, sockc install and scratch file
//! the run makes is removed before [`run`] returns, on success or failure.

mod breakdown;
mod layers;
pub(crate) mod link;
mod live;
mod load;
mod report;
pub(crate) mod rules;
pub(crate) mod sys;
mod verify;
pub(crate) mod workload;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

pub use load::Contender;
use workload::{Case, Scratch, Workload};

/// What `--peer` runs.
pub struct PeerOptions {
    /// Where the ClassBench `.rules` and `_trace` files are.
    pub classbench: PathBuf,
    pub sets: Vec<String>,
    pub sizes: Vec<usize>,
    pub rounds: usize,
    pub contenders: Vec<Contender>,
    /// Generator time before a window starts.
    pub warmup: Duration,
    /// The measured window per packet case.
    pub window: Duration,
    /// Trace headers checked per contender before timing.
    pub sample: usize,
    /// Where `peer.md`, `peer.csv` and `peer.svg` go.
    pub out_dir: PathBuf,
    /// The sockc binary that runs `apply`.
    pub sockc: PathBuf,
    /// Generator, sampler and the receiver's NAPI thread under `SCHED_FIFO`.
    pub realtime: bool,
}

/// One per-packet measurement.
#[derive(Clone, Debug)]
pub struct PacketRow {
    pub round: usize,
    pub set: String,
    pub rules: usize,
    pub who: Contender,
    pub case: Case,
    pub window: live::Window,
}

/// One load.
#[derive(Clone, Debug)]
pub struct LoadRow {
    pub round: usize,
    pub set: String,
    pub rules: usize,
    pub who: Contender,
    pub cost: load::LoadCost,
}

/// Where one sockc load's time went ([`breakdown`]).
#[derive(Clone, Debug)]
pub struct BreakdownRow {
    pub set: String,
    pub rules: usize,
    pub who: Contender,
    pub parts: breakdown::Breakdown,
}

/// Everything a run measured, and how.
pub struct Results {
    pub packets: Vec<PacketRow>,
    pub loads: Vec<LoadRow>,
    /// Where a sockc load's time goes, once per sockc contender and size.
    pub breakdowns: Vec<BreakdownRow>,
    /// Per workload: name, rules, what decides the late packet, nft layers, packets
    /// verified per contender.
    pub workloads: Vec<WorkloadNote>,
    pub machine: String,
    pub options: String,
}

pub struct WorkloadNote {
    pub name: String,
    pub rules: usize,
    pub late: String,
    pub first: String,
    pub late_decider: Option<usize>,
    pub nft_layers: usize,
    pub verified: usize,
}

/// The CPU the generator (and this process) runs on, and the receiver's NAPI CPU.
const GEN_CPU: usize = 0;
const NAPI_CPU: usize = 1;

/// Runs the comparison; returns the Markdown report (also written to the output
/// directory with the CSV and the SVG).
pub fn run(o: &PeerOptions) -> Result<String, String> {
    preflight(o)?;
    sys::set_affinity(0, &[GEN_CPU]).map_err(|e| format!("bind to CPU {GEN_CPU}: {e}"))?;
    let scratch = Scratch::new()?;
    let mut workloads = Vec::new();
    let mut notes = Vec::new();
    for set in &o.sets {
        for &size in &o.sizes {
            let w = workload::prepare(&o.classbench, set, size, &scratch)?;
            let packets = verify::sample(&w, o.sample);
            eprintln!(
                "peer: {}: checking {} packets per contender against sockc's evaluator",
                w.name,
                packets.len()
            );
            let checked = verify::check(&w, &o.contenders, &packets, &o.sockc)?;
            notes.push(note(&w, checked.packets));
            workloads.push(w);
        }
    }
    let mut results = Results {
        packets: Vec::new(),
        loads: Vec::new(),
        breakdowns: Vec::new(),
        workloads: notes,
        machine: report::machine(),
        options: format!(
            "{} round(s), {} ms window after {} ms warm-up per packet case, generator on CPU {GEN_CPU}, receiver NAPI thread on CPU {NAPI_CPU}, {}",
            o.rounds,
            o.window.as_millis(),
            o.warmup.as_millis(),
            if o.realtime {
                "generator, sampler and NAPI thread under SCHED_FIFO"
            } else {
                "normal scheduling"
            }
        ),
    };
    for round in 0..o.rounds {
        for w in &workloads {
            let n = o.contenders.len();
            for k in 0..n {
                let who = o.contenders[(k + round) % n];
                one(o, round, w, who, &mut results)?;
            }
        }
    }
    report::write(&results, &o.out_dir)
}

/// Loads `who` into a fresh pair and times both packet cases.
fn one(
    o: &PeerOptions,
    round: usize,
    w: &Workload,
    who: Contender,
    results: &mut Results,
) -> Result<(), String> {
    let fail = |e: String| format!("{} {}: {e}", who.key(), w.name);
    // The loader's peak RSS, once per contender and size, in a load of its own.
    let max_rss_kib = if round == 0 {
        let ns = link::bare_namespace()?;
        load::peak_rss(who, &w.file(who), &ns.0, &o.sockc).map_err(fail)?
    } else {
        None
    };
    if round == 0 && who.is_sockc() {
        let ns = link::bare_namespace()?;
        if let Some(parts) = load::stages(who, &w.file(who), &ns.0, &o.sockc).map_err(fail)? {
            results.breakdowns.push(BreakdownRow {
                set: w.name.clone(),
                rules: w.filters.len(),
                who,
                parts,
            });
        }
    }
    let link = link::Link::new(NAPI_CPU, o.realtime)?;
    let (wall, installed) = load::load(who, &w.file(who), &link.rx.0, &o.sockc).map_err(fail)?;
    let cost = load::LoadCost { wall, max_rss_kib };
    if who != Contender::Baseline {
        results.loads.push(LoadRow {
            round,
            set: w.name.clone(),
            rules: w.filters.len(),
            who,
            cost,
        });
    }
    for case in Case::ALL {
        let frame = live::frame(&link, w.packet(case));
        let timing = live::Timing {
            gen_cpu: GEN_CPU,
            warmup: o.warmup,
            window: o.window,
            realtime: o.realtime,
        };
        let window = live::measure(&link, &frame, timing)
            .map_err(|e| format!("{} {} {}: {e}", who.key(), w.name, case.key()))?;
        eprintln!(
            "peer: round {} {} {:<16} {:<11} {:>10.0} ns/packet ({} packets, NAPI busy {:.0}%){}",
            round + 1,
            w.name,
            who.key(),
            case.key(),
            window.ns_per_packet(),
            window.packets,
            100.0 * window.busy(),
            if case == Case::Late && who != Contender::Baseline {
                format!(", loaded in {:.0} ms", cost.wall.as_secs_f64() * 1e3)
            } else {
                String::new()
            }
        );
        results.packets.push(PacketRow {
            round,
            set: w.name.clone(),
            rules: w.filters.len(),
            who,
            case,
            window,
        });
    }
    drop(installed);
    drop(link);
    Ok(())
}

fn note(w: &Workload, verified: usize) -> WorkloadNote {
    WorkloadNote {
        name: w.name.clone(),
        rules: w.filters.len(),
        late: w.packet(Case::Late).to_string(),
        first: w.packet(Case::FirstDrops).to_string(),
        late_decider: w.late_decider,
        nft_layers: w.nft_layers,
        verified,
    }
}

/// Root, two CPUs, the tools and the ClassBench directory.
fn preflight(o: &PeerOptions) -> Result<(), String> {
    if sys::all_cpus().len() < 2 {
        return Err("needs two CPUs (generator and receiver)".into());
    }
    let mut tools = vec!["ip"];
    for who in &o.contenders {
        tools.push(match who {
            Contender::NftLinear | Contender::NftSets => "nft",
            Contender::IptablesLegacy => "iptables-legacy-restore",
            Contender::IptablesNft => "iptables-nft-restore",
            _ => "ip",
        });
    }
    for tool in tools {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        if !found {
            return Err(format!("`{tool}` is not on PATH"));
        }
    }
    if !Path::new(&o.classbench).is_dir() {
        return Err(format!(
            "{}: no ClassBench directory",
            o.classbench.display()
        ));
    }
    Ok(())
}
