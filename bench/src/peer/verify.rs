//! Before any contender is timed: does it decide like sockc? A sample of the set's
//! ClassBench trace headers (plus the packets the timing sends) goes through the
//! testkit's probe lab once per contender, and each packet's fate there (delivered
//! to the receiver's stack or not) must be the verdict sockc's reference evaluator
//! gives the sockc rule file, which itself must be ClassBench's first match.
//!
//! Invariant: a contender that disagrees on any sampled packet fails the run (no
//! figure of a contender that filters differently is reported); the lab's namespaces
//! and every sockc install made here are gone when [`check`] returns.

use std::path::Path;

use sockc_compiler::syntax::ast::Verdict;
use sockc_testkit::{
    classbench::{first_match, TraceHeader},
    eval::{self, Facts, Outcome},
    packet::PacketSpec,
    probe_lab::{
        Format, LabConfig, Origin, Path as ProbePath, Probe, ProbeOptions, Ruleset, Topology,
    },
};

use super::{
    link::RX_IF,
    load::{self, Contender},
    rules,
    workload::{self, Workload},
};

/// How many packets were checked, per contender.
pub struct Checked {
    pub packets: usize,
}

/// The sample: up to `n` trace headers spread over the trace (ones the lab can send
/// and see delivered: TCP, UDP or ICMP between ordinary unicast addresses), then the
/// timed packets.
pub fn sample(w: &Workload, n: usize) -> Vec<PacketSpec> {
    let usable: Vec<&TraceHeader> = w.trace.iter().filter(|h| workload::sendable(h)).collect();
    let step = usable.len().div_ceil(n.max(1)).max(1);
    let mut out: Vec<PacketSpec> = usable
        .into_iter()
        .step_by(step)
        .take(n)
        .map(|h| h.packet())
        .collect();
    out.extend(w.timed.iter().map(|(_, p)| p.clone()));
    out
}

/// What sockc's evaluator says of `packet` under the sockc rule file: accept?
/// Errors when it disagrees with ClassBench's first match.
fn expected(w: &Workload, packet: &PacketSpec) -> Result<bool, String> {
    let prog = w
        .compiled
        .module
        .programs
        .values()
        .next()
        .ok_or("the rule file has no program")?;
    let e = eval::evaluate(&w.compiled.module, prog, &packet.build(), &Facts::default());
    let allow = matches!(e.outcome, Outcome::Verdict(Verdict::Allow));
    let header = header_of(packet);
    let classbench = first_match(&w.filters, &header).is_none_or(rules::accepts);
    if allow != classbench {
        return Err(format!(
            "{packet}: sockc's evaluator says {}, ClassBench's first match {}",
            verdict_word(allow),
            verdict_word(classbench)
        ));
    }
    Ok(allow)
}

fn verdict_word(accept: bool) -> &'static str {
    if accept {
        "accept"
    } else {
        "drop"
    }
}

fn header_of(p: &PacketSpec) -> TraceHeader {
    use sockc_testkit::packet::L4;
    let v4 = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(a) => a,
        std::net::IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
    };
    let (proto, sport, dport) = match p.l4 {
        L4::Tcp { sport, dport, .. } => (6, sport, dport),
        L4::Udp { sport, dport } => (17, sport, dport),
        L4::Icmp { .. } => (1, 0, 0),
        L4::Other { proto } => (proto, 0, 0),
    };
    TraceHeader {
        src: v4(p.src),
        dst: v4(p.dst),
        sport,
        dport,
        proto,
    }
}

/// Sends the sample through each of `contenders` in a probe lab and compares.
pub fn check(
    w: &Workload,
    contenders: &[Contender],
    packets: &[PacketSpec],
    sockc: &Path,
) -> Result<Checked, String> {
    let want: Vec<bool> = packets
        .iter()
        .map(|p| expected(w, p))
        .collect::<Result<_, _>>()?;
    let lab = Topology::new(&LabConfig {
        ingress: RX_IF.into(),
        egress: "pbfwd0".into(),
        ..Default::default()
    })
    .map_err(|e| format!("probe lab: {e}"))?;
    let probes: Vec<Probe> = packets
        .iter()
        .map(|p| Probe::new(ProbePath::Input, Origin::New, p.clone()))
        .collect();
    let opts = ProbeOptions {
        pace: std::time::Duration::ZERO,
        ..ProbeOptions::default()
    };
    for &who in contenders {
        let installed = install(w, who, &lab, sockc)?;
        let outcomes = lab
            .probe_with(&probes, &opts)
            .map_err(|e| format!("{}: probing: {e}", who.key()))?;
        drop(installed);
        lab.flush().map_err(|e| format!("probe lab flush: {e}"))?;
        for ((p, o), &accept) in probes.iter().zip(&outcomes).zip(&want) {
            let expect = who == Contender::Baseline || accept;
            if o.delivered != expect {
                return Err(format!(
                    "{} on {}: `{}` was {}, sockc's evaluator says {}",
                    who.key(),
                    w.name,
                    p.packet,
                    if o.delivered {
                        "delivered"
                    } else {
                        "not delivered"
                    },
                    verdict_word(accept)
                ));
            }
        }
    }
    Ok(Checked {
        packets: packets.len(),
    })
}

/// Puts `who`'s rules into the lab's receiver.
fn install(
    w: &Workload,
    who: Contender,
    lab: &Topology,
    sockc: &Path,
) -> Result<Option<load::Installed>, String> {
    let fail = |e: String| format!("{}: load into the probe lab: {e}", who.key());
    let text = |c| {
        std::fs::read_to_string(w.file(c))
            .map_err(|e| fail(format!("{}: {e}", w.file(c).display())))
    };
    let ruleset = match who {
        Contender::Baseline => return Ok(None),
        Contender::SockcXdp | Contender::SockcTc => {
            let (_, installed) =
                load::load(who, &w.file(who), lab.receiver(), sockc).map_err(fail)?;
            return Ok(installed);
        }
        Contender::NftLinear | Contender::NftSets => Ruleset::new(Format::Nft, text(who)?),
        Contender::IptablesLegacy => Ruleset::new(Format::IptablesLegacy, text(who)?),
        Contender::IptablesNft => Ruleset::new(Format::Iptables, text(who)?),
    };
    lab.load(&ruleset).map_err(|e| fail(e.to_string()))?;
    Ok(None)
}
