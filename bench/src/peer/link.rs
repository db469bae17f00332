//! The wire of the head-to-head: two fresh namespaces, a generator and a receiver,
//! joined by one veth pair. The receiver's end ([`RX_IF`]) has GRO on (which gives it
//! the NAPI instance that takes XDP frames from its peer) and threaded NAPI, its
//! NAPI thread bound to a CPU of its own; the receiver has no address and does not
//! forward, so a frame no filter drops ends at the route lookup, the same way for
//! every contender. IPv6 is off in both namespaces so that nothing else arrives.
//! On a shared machine the NAPI thread may run under `SCHED_FIFO`, so that the other
//! tasks on its CPU do not decide how often it polls.
//!
//! Invariant: a [`Link`] owns its namespaces from the moment each exists; dropping
//! it (also half-way through [`Link::new`], also on a panic) deletes them, and the
//! veths, the NAPI thread and anything loaded in them go with them.

use std::{
    collections::BTreeSet,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use super::sys;

/// The receiver's interface: what every contender's rules name.
pub const RX_IF: &str = "pb0";
const GEN_IF: &str = "pbgen0";
/// The NAPI thread's real-time priority: above the generator and the sampler
/// ([`super::live`]), so that other work on its CPU never delays a poll.
pub const NAPI_PRIORITY: i32 = 50;

/// A namespace made here; deleted when dropped.
pub struct Netns(pub String);

impl Netns {
    pub fn create(name: String) -> Result<Netns, String> {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name])?;
        Ok(Netns(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A namespace with only an [`RX_IF`] (one end of a veth pair whose other end stays
/// in it): where a ruleset can be loaded, nothing sent.
pub fn bare_namespace() -> Result<Netns, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ns = Netns::create(format!(
        "pb{}-bare{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))?;
    ip(&[
        "-n", &ns.0, "link", "add", RX_IF, "type", "veth", "peer", "name", "pbpeer0",
    ])?;
    ip(&["-n", &ns.0, "link", "set", RX_IF, "up"])?;
    Ok(ns)
}

/// The two namespaces, the pair between them, and the receiver's NAPI thread.
pub struct Link {
    pub gen: Netns,
    pub rx: Netns,
    /// The generator-side interface's index (in the generator's namespace).
    pub gen_ifindex: u32,
    /// The MAC addresses frames carry: (generator, receiver).
    pub macs: ([u8; 6], [u8; 6]),
    /// The kernel thread that runs the receiver's NAPI poll.
    pub napi_pid: u32,
}

/// Runs `ip ARGS`, failing with its standard error.
pub fn ip(args: &[&str]) -> Result<String, String> {
    run("ip", args)
}

fn run(tool: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| format!("{tool}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{tool} {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Link {
    /// Makes the pair; the receiver's NAPI thread is bound to `napi_cpu` (and, with
    /// `realtime`, runs under `SCHED_FIFO` at [`NAPI_PRIORITY`]).
    pub fn new(napi_cpu: usize, realtime: bool) -> Result<Link, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = format!(
            "pb{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let gen = Netns::create(format!("{base}-gen"))?;
        let rx = Netns::create(format!("{base}-rx"))?;
        for ns in [&gen.0, &rx.0] {
            sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")?;
            sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")?;
        }
        sysctl(&rx.0, "net.ipv4.ip_forward", "0")?;
        ip(&[
            "link", "add", GEN_IF, "netns", &gen.0, "type", "veth", "peer", "name", RX_IF, "netns",
            &rx.0,
        ])?;
        ip(&["-n", &gen.0, "link", "set", GEN_IF, "up"])?;
        ip(&["-n", &rx.0, "link", "set", RX_IF, "up"])?;
        sys::in_netns(&rx.0, || sys::gro_on(RX_IF)).map_err(|e| format!("GRO on: {e}"))?;
        let before = napi_threads();
        run(
            "ip",
            &[
                "netns",
                "exec",
                &rx.0,
                "sh",
                "-c",
                &format!("echo 1 > /sys/class/net/{RX_IF}/threaded"),
            ],
        )?;
        let napi_pid = new_napi_thread(&before)?;
        sys::set_affinity(napi_pid as i32, &[napi_cpu])
            .map_err(|e| format!("bind the NAPI thread to CPU {napi_cpu}: {e}"))?;
        if realtime {
            sys::set_fifo(napi_pid as i32, Some(NAPI_PRIORITY))
                .map_err(|e| format!("SCHED_FIFO for the NAPI thread: {e}"))?;
        }
        let (gen_ifindex, gen_mac) = link_info(&gen.0, GEN_IF)?;
        let (_, rx_mac) = link_info(&rx.0, RX_IF)?;
        Ok(Link {
            gen,
            rx,
            gen_ifindex,
            macs: (gen_mac, rx_mac),
            napi_pid,
        })
    }

    /// Frames the receiver's NAPI has taken off its ring (whatever became of them).
    pub fn rx_packets(&self) -> Result<u64, String> {
        let text = ip(&["-n", &self.rx.0, "-j", "-s", "link", "show", RX_IF])?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("ip -j: {e}"))?;
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .ok_or_else(|| format!("no rx packets in `{text}`"))
    }
}

fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), String> {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-q",
            "-w",
            &format!("{key}={value}"),
        ],
    )
    .map(|_| ())
}

/// Kernel threads named `napi/...` now.
fn napi_threads() -> BTreeSet<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with(&format!("napi/{RX_IF}-")))
        })
        .collect()
}

/// The one NAPI thread of [`RX_IF`] that was not there `before`.
fn new_napi_thread(before: &BTreeSet<u32>) -> Result<u32, String> {
    let new: Vec<u32> = napi_threads().difference(before).copied().collect();
    match new[..] {
        [pid] => Ok(pid),
        _ => Err(format!(
            "expected one new napi/{RX_IF}- thread, found {new:?} (threaded NAPI unsupported?)"
        )),
    }
}

/// An interface's index and MAC address in namespace `ns`.
fn link_info(ns: &str, dev: &str) -> Result<(u32, [u8; 6]), String> {
    let text = ip(&["-n", ns, "-j", "link", "show", dev])?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("ip -j: {e}"))?;
    let index = v[0]["ifindex"]
        .as_u64()
        .ok_or_else(|| format!("no ifindex in `{text}`"))? as u32;
    let mut mac = [0u8; 6];
    let text_mac = v[0]["address"].as_str().unwrap_or_default();
    let bytes: Vec<u8> = text_mac
        .split(':')
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect();
    if bytes.len() != 6 {
        return Err(format!("bad MAC `{text_mac}` of {dev}"));
    }
    mac.copy_from_slice(&bytes);
    Ok((index, mac))
}
