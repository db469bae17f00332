//! Real frames into the receiver, and what each costs there. The generator is a
//! two-instruction XDP program (`return XDP_TX`) run with `BPF_PROG_TEST_RUN` in
//! live-frames mode on the generator's end of the pair, from a thread bound to its
//! own CPU: every run transmits the frame out of that end, so it arrives at the
//! receiver as a frame from the wire, through the receiver's NAPI poll, XDP, GRO, TC
//! ingress, netfilter ingress and PREROUTING. The cost of a frame is the receiver's
//! NAPI thread's CPU time over a window divided by the frames its NAPI took in that
//! window.
//!
//! Invariant: a measurement reads the two counters only while the generator runs, so
//! the window holds steady-state work only (the receiver's ring holds 256 frames; what
//! does not fit is dropped by the sender, costing the receiver nothing), and the
//! generator is stopped and joined before [`measure`] returns, also on error.

use std::{
    os::fd::AsRawFd,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use sockc_compiler::bpf::insn::{Insn, Reg};
use sockc_testkit::packet::PacketSpec;

use super::{link::Link, sys};

/// XDP_TX: in live-frames mode, "transmit out of the interface it came in on".
const XDP_TX: i32 = 3;
/// Real-time priorities (with `realtime`): the sampler above the generator, so that
/// it reads the counters on time although the generator never sleeps.
const GENERATOR_PRIORITY: i32 = 10;
const SAMPLER_PRIORITY: i32 = 20;
/// Frames per `BPF_PROG_TEST_RUN`: each run sets up and tears down its page pool
/// (waiting for an RCU grace period, milliseconds on a busy machine), so runs are
/// long; short enough that a stop is seen within a fraction of a second.
const CHUNK: u32 = 1 << 19;

/// One window's figures.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Frames the receiver's NAPI took in.
    pub packets: u64,
    /// The NAPI thread's CPU time, ns.
    pub cpu_ns: u64,
    /// Wall time of the window.
    pub wall: Duration,
}

impl Window {
    /// CPU ns per frame (NaN when no frame arrived).
    pub fn ns_per_packet(&self) -> f64 {
        if self.packets == 0 {
            f64::NAN
        } else {
            self.cpu_ns as f64 / self.packets as f64
        }
    }

    /// The share of the window the NAPI thread was on a CPU.
    pub fn busy(&self) -> f64 {
        self.cpu_ns as f64 / self.wall.as_nanos().max(1) as f64
    }
}

/// The frame `packet` as sent from the generator to the receiver, with a payload of 8
/// bytes (so that a protocol without ports still has the four transport bytes nft's
/// `th` reads).
pub fn frame(link: &Link, packet: &PacketSpec) -> Vec<u8> {
    let mut p = packet.clone();
    p.payload = b"sockcpb!".to_vec();
    let mut f = p.build();
    f[0..6].copy_from_slice(&link.macs.1);
    f[6..12].copy_from_slice(&link.macs.0);
    f
}

/// When and how a measurement runs.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// The generator's CPU (the caller is bound to it too).
    pub gen_cpu: usize,
    pub warmup: Duration,
    pub window: Duration,
    /// Generator and sampler under `SCHED_FIFO` (see [`Link::new`] for the NAPI
    /// thread).
    pub realtime: bool,
}

/// Sends `frame` from the generator for `warmup + window`, and measures the receiver
/// over the window.
pub fn measure(link: &Link, frame: &[u8], t: Timing) -> Result<Window, String> {
    let insns = [
        Insn::mov64_imm(Reg::R0, XDP_TX).to_bytes(),
        Insn::exit().to_bytes(),
    ];
    let prog = sys::load_xdp(&insns).map_err(|e| format!("load the generator: {e}"))?;
    let ns = sys::netns_file(&link.gen.0).map_err(|e| format!("{}: {e}", link.gen.0))?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let generator = s.spawn(|| -> Result<u64, String> {
            sys::setns(ns.as_raw_fd()).map_err(|e| format!("enter {}: {e}", link.gen.0))?;
            sys::set_affinity(0, &[t.gen_cpu]).map_err(|e| format!("bind the generator: {e}"))?;
            if t.realtime {
                sys::set_fifo(0, Some(GENERATOR_PRIORITY))
                    .map_err(|e| format!("SCHED_FIFO for the generator: {e}"))?;
            }
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                sys::xdp_live_frames(&prog, frame, link.gen_ifindex, CHUNK)
                    .map_err(|e| format!("live frames: {e}"))?;
                sent += u64::from(CHUNK);
            }
            Ok(sent)
        });
        let result = if t.realtime {
            sys::set_fifo(0, Some(SAMPLER_PRIORITY))
                .map_err(|e| format!("SCHED_FIFO for the sampler: {e}"))
                .and_then(|()| window_while_running(link, t.warmup, t.window, &generator))
        } else {
            window_while_running(link, t.warmup, t.window, &generator)
        };
        // Back to the normal scheduler before anything else runs on this thread.
        let _ = sys::set_fifo(0, None);
        stop.store(true, Ordering::Relaxed);
        let sent = generator
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        sent?;
        result
    })
}

/// Both counters at the start and the end of the window (the CPU time read on both
/// sides of the packet count, and averaged, so the two readings describe one moment).
fn window_while_running<T>(
    link: &Link,
    warmup: Duration,
    window: Duration,
    generator: &std::thread::ScopedJoinHandle<'_, T>,
) -> Result<Window, String> {
    let sample = || -> Result<(u64, u64, Instant), String> {
        let cpu = |pid| sys::cpu_ns(pid).map_err(|e| format!("NAPI thread {pid}: {e}"));
        let before = cpu(link.napi_pid)?;
        let packets = link.rx_packets()?;
        let after = cpu(link.napi_pid)?;
        Ok((before / 2 + after / 2, packets, Instant::now()))
    };
    std::thread::sleep(warmup);
    let (cpu0, pk0, t0) = sample()?;
    std::thread::sleep(window);
    let (cpu1, pk1, t1) = sample()?;
    if generator.is_finished() {
        return Err("the generator stopped during the window".into());
    }
    Ok(Window {
        packets: pk1.saturating_sub(pk0),
        cpu_ns: cpu1.saturating_sub(cpu0),
        wall: t1 - t0,
    })
}
