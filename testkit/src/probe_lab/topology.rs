//! The lab's network: three fresh namespaces in a line, `sender — receiver — behind`,
//! joined by two veth pairs. The receiver holds the ruleset under test (netfilter, or
//! sockc's programs); its end towards the sender carries the name the ruleset expects
//! (`eth0`, `vB`, `pppoe-wan`: the *ingress*), its end towards `behind` another
//! (`bridge1`, `br-lan`: the *egress*). The sender has no address at all: it only
//! writes frames on an AF_PACKET socket and reads what comes back, so its own stack
//! never answers anything. The receiver's ingress has two addresses of its own
//! (169.254.0.2, fdff::2), for masquerading rules to give what leaves there.
//!
//! Routing makes a probe's destination local where its delivery is watched and its
//! source remote: the watching namespace (the receiver for INPUT probes, `behind` for
//! FORWARD ones) has `local 0.0.0.0/0` and `local ::/0` in its local table (every
//! destination is one of its own addresses, also to `addrtype`/`fib daddr type`), and
//! per batch a host route in the same table for each probe source, through the link
//! the probe came from, so that a source is not local and answers, openers and
//! replies travel back the way a real peer's would. In FORWARD mode the receiver drops
//! its `local` routes and routes everything else to `behind`. Neighbours are static
//! (gateways that exist only as neighbour entries), so no ARP or neighbour discovery
//! ever runs, and ICMP rate limits are off, so every answer is sent.
//!
//! Invariant: everything is made inside the lab's own namespaces (named
//! `nfp<pid>-<n>-<role>`, never reused while this process lives), and a [`Topology`]
//! that is dropped — also while a test panics, also when its construction fails half
//! way — deletes every namespace it made, and with them its veths and routes.

use std::{
    io::Write,
    net::IpAddr,
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    sync::Mutex,
};

use super::{sys, LabError, Path};

/// The interface names of a lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabConfig {
    /// The receiver's interface towards the sender, where probes arrive (at most 15
    /// bytes): the interface the ruleset's `-i`/`iifname` rules name.
    pub ingress: String,
    /// The receiver's interface towards `behind`, where forwarded probes leave: the
    /// interface the ruleset's `-o`/`oifname` rules name.
    pub egress: String,
    /// Where cgroup v2 is mounted, for nft rulesets with `socket cgroupv2`: nft looks
    /// its paths up below `/sys/fs/cgroup`, which `ip netns exec` mounts afresh
    /// without cgroup v2, so such a ruleset is loaded through `nsenter` in a mount
    /// namespace with this bound at `/sys/fs/cgroup`. `None`: loaded as any other.
    pub cgroup2: Option<std::path::PathBuf>,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            ingress: "eth0".into(),
            egress: "fwd0".into(),
            cgroup2: None,
        }
    }
}

/// The sender's interface, and `behind`'s.
pub(crate) const SENDER_IF: &str = "probe0";
pub(crate) const BEHIND_IF: &str = "uplink0";

/// Gateway addresses that exist only as static neighbours: the sender as seen from
/// the receiver, `behind` as seen from the receiver, the receiver as seen from
/// `behind`.
const GW_SENDER: [&str; 2] = ["169.254.0.1", "fe80::1"];
const GW_BEHIND: [&str; 2] = ["169.254.1.1", "fe80::1"];
const GW_RECEIVER: [&str; 2] = ["169.254.1.2", "fe80::2"];
/// The receiver's own addresses on its ingress: the source a masquerading rule gives
/// what leaves there.
const RECEIVER_ADDRS: [&str; 2] = ["169.254.0.2/32", "fdff::2/128"];

/// A namespace this lab made; deleted when dropped.
struct Netns(String);

impl Netns {
    fn create(name: String) -> Result<Netns, LabError> {
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

/// How the receiver routes the current batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Every destination is local to the receiver (INPUT and loopback probes).
    Local,
    /// Every destination is routed on to `behind` (FORWARD probes).
    Forward,
}

/// The three namespaces and their links; see the module docs.
pub struct Topology {
    // Field order is drop order: nothing depends on it, each namespace goes alone.
    sender: Netns,
    receiver: Netns,
    behind: Netns,
    config: LabConfig,
    pub(crate) macs: Macs,
    mode: Mutex<Mode>,
    /// What empties the legacy (x_tables) tables loads filled, on flush: a restore
    /// tool and its input.
    pub(crate) legacy_tables: Mutex<Vec<(&'static str, String)>>,
}

/// The MAC addresses a probe frame carries: the sender's, and the receiver
/// ingress's (unicast destinations).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Macs {
    pub sender: [u8; 6],
    pub ingress: [u8; 6],
}

impl Topology {
    /// Makes the three namespaces, links, addresses, neighbours and routes (needs
    /// root). Names are unique in this process and carry its id.
    pub fn new(config: &LabConfig) -> Result<Topology, LabError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        for name in [&config.ingress, &config.egress] {
            if name.is_empty() || name.len() > 15 || name == "lo" || name.contains(['/', ' ']) {
                return Err(LabError::Config(format!(
                    "interface name `{name}`: 1 to 15 bytes, no `/` or space, not `lo`"
                )));
            }
        }
        if config.ingress == config.egress {
            return Err(LabError::Config("ingress and egress need two names".into()));
        }
        let base = format!(
            "nfp{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Each namespace is owned from the moment it exists: an error below drops them.
        let sender = Netns::create(format!("{base}-snd"))?;
        let receiver = Netns::create(format!("{base}-rcv"))?;
        let behind = Netns::create(format!("{base}-fwd"))?;
        link(&sender.0, SENDER_IF, &receiver.0, &config.ingress)?;
        link(&receiver.0, &config.egress, &behind.0, BEHIND_IF)?;
        let macs = Macs {
            sender: mac_of(&sender.0, SENDER_IF)?,
            ingress: mac_of(&receiver.0, &config.ingress)?,
        };
        let receiver_egress = mac_of(&receiver.0, &config.egress)?;
        let behind_mac = mac_of(&behind.0, BEHIND_IF)?;
        let topo = Topology {
            sender,
            receiver,
            behind,
            config: config.clone(),
            macs,
            mode: Mutex::new(Mode::Local),
            legacy_tables: Mutex::new(Vec::new()),
        };
        topo.configure(
            &hex_mac(&macs.sender),
            &hex_mac(&behind_mac),
            &hex_mac(&receiver_egress),
        )?;
        Ok(topo)
    }

    /// The receiver's namespace: where a ruleset is loaded, and what
    /// `sockc apply --netns` names to install sockc's programs there.
    pub fn receiver(&self) -> &str {
        &self.receiver.0
    }

    /// The sender's namespace (frames are written on its `probe0`).
    pub fn sender(&self) -> &str {
        &self.sender.0
    }

    /// The namespace behind the receiver, where forwarded probes are watched.
    pub fn behind(&self) -> &str {
        &self.behind.0
    }

    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// Sysctls, neighbours and the routes that do not change per batch.
    fn configure(
        &self,
        sender_mac: &str,
        behind_mac: &str,
        egress_mac: &str,
    ) -> Result<(), LabError> {
        let (ing, egr) = (&self.config.ingress, &self.config.egress);
        sysctls(&self.sender.0, &[("ipv6/conf/all/disable_ipv6", "1")])?;
        let quiet_stack = [
            ("ipv4/conf/all/rp_filter", "0"),
            ("ipv4/conf/default/rp_filter", "0"),
            ("ipv4/icmp_ratelimit", "0"),
            ("ipv4/icmp_msgs_per_sec", "1000000"),
            ("ipv4/icmp_msgs_burst", "1000000"),
            ("ipv6/icmp/ratelimit", "0"),
        ];
        let mut rcv = quiet_stack.to_vec();
        rcv.extend([("ipv4/ip_forward", "1"), ("ipv6/conf/all/forwarding", "1")]);
        sysctls(&self.receiver.0, &rcv)?;
        sysctls(&self.behind.0, &quiet_stack)?;
        let rcv_lines = [
            format!(
                "neigh replace {} lladdr {sender_mac} dev {ing} nud permanent",
                GW_SENDER[0]
            ),
            format!(
                "neigh replace {} lladdr {sender_mac} dev {ing} nud permanent",
                GW_SENDER[1]
            ),
            format!(
                "neigh replace {} lladdr {behind_mac} dev {egr} nud permanent",
                GW_BEHIND[0]
            ),
            format!(
                "neigh replace {} lladdr {behind_mac} dev {egr} nud permanent",
                GW_BEHIND[1]
            ),
            // A gateway must be a unicast address of the local table (not `local`).
            format!("route add table local {}/32 dev {ing}", GW_SENDER[0]),
            format!("route add table local {}/32 dev {egr}", GW_BEHIND[0]),
            format!("route add table local local fe80::/10 dev {ing}"),
            // Addresses of its own on the ingress, for masquerading rules to pick.
            format!("address add {} dev {ing}", RECEIVER_ADDRS[0]),
            format!("address add {} dev {ing} nodad", RECEIVER_ADDRS[1]),
            "route add table local local 0.0.0.0/0 dev lo".to_string(),
            "route add table local local ::/0 dev lo".to_string(),
        ];
        ip_batch(&self.receiver.0, &rcv_lines)?;
        let fwd_lines = [
            format!(
                "neigh replace {} lladdr {egress_mac} dev {BEHIND_IF} nud permanent",
                GW_RECEIVER[0]
            ),
            format!(
                "neigh replace {} lladdr {egress_mac} dev {BEHIND_IF} nud permanent",
                GW_RECEIVER[1]
            ),
            format!(
                "route add table local {}/32 dev {BEHIND_IF}",
                GW_RECEIVER[0]
            ),
            format!("route add table local local fe80::/10 dev {BEHIND_IF}"),
            "route add table local local 0.0.0.0/0 dev lo".to_string(),
            "route add table local local ::/0 dev lo".to_string(),
        ];
        ip_batch(&self.behind.0, &fwd_lines)
    }

    /// Routes the receiver for probes on `path`: destinations local (INPUT,
    /// loopback) or forwarded to `behind` (FORWARD).
    pub(crate) fn set_mode(&self, path: Path) -> Result<(), LabError> {
        let want = match path {
            Path::Input | Path::Loopback | Path::Output => Mode::Local,
            Path::Forward => Mode::Forward,
        };
        let mut mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
        if *mode == want {
            return Ok(());
        }
        let egr = &self.config.egress;
        let (verb_local, verb_default) = match want {
            Mode::Local => ("add", "del"),
            Mode::Forward => ("del", "add"),
        };
        let lines = [
            format!("route {verb_local} table local local 0.0.0.0/0 dev lo"),
            format!("route {verb_local} table local local ::/0 dev lo"),
            format!(
                "route {verb_default} default via {} dev {egr} onlink",
                GW_BEHIND[0]
            ),
            format!("route {verb_default} ::/0 via {} dev {egr}", GW_BEHIND[1]),
        ];
        ip_batch(&self.receiver.0, &lines)?;
        *mode = want;
        Ok(())
    }

    /// Replaces the host routes of the previous batch's remote addresses (`old`: probe
    /// sources, or the destinations of output probes) with those of this batch's
    /// (`new`): in the receiver through the ingress, and, for FORWARD probes, in
    /// `behind` through the receiver. Addresses no host can have (loopback, multicast,
    /// broadcast: martians the kernel drops) get no route, so that the kernel's own
    /// routes for them stay as they are.
    pub(crate) fn route_sources(
        &self,
        old: &[(Path, IpAddr)],
        new: &[(Path, IpAddr)],
    ) -> Result<(), LabError> {
        let mut rcv = Vec::new();
        let mut fwd = Vec::new();
        let old = old.iter().filter(|(_, a)| super::unicast(*a));
        let new = new.iter().filter(|(_, a)| super::unicast(*a));
        for &(path, addr) in old {
            rcv.push(format!("route del table local {}", host(addr)));
            if path == Path::Forward {
                fwd.push(format!("route del table local {}", host(addr)));
            }
        }
        for &(path, addr) in new {
            let fam = usize::from(addr.is_ipv6());
            rcv.push(format!(
                "route replace table local {} via {} dev {} onlink",
                host(addr),
                GW_SENDER[fam],
                self.config.ingress
            ));
            if path == Path::Forward {
                fwd.push(format!(
                    "route replace table local {} via {} dev {BEHIND_IF} onlink",
                    host(addr),
                    GW_RECEIVER[fam]
                ));
            }
        }
        if !rcv.is_empty() {
            ip_batch(&self.receiver.0, &rcv)?;
        }
        if !fwd.is_empty() {
            ip_batch(&self.behind.0, &fwd)?;
        }
        Ok(())
    }
}

fn host(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    }
}

fn hex_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A veth pair with `a_if` in namespace `a` and `b_if` in `b` (made directly inside
/// them: the names never meet in the caller's namespace), both ends up, without IPv6
/// address generation (no link-local address, no DAD or router solicitations), and
/// loopbacks up.
fn link(a: &str, a_if: &str, b: &str, b_if: &str) -> Result<(), LabError> {
    ip(&[
        "link", "add", "name", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b,
    ])?;
    for (ns, dev) in [(a, a_if), (b, b_if)] {
        ip_batch(
            ns,
            &[
                format!("link set dev {dev} addrgenmode none"),
                format!("link set dev {dev} up"),
                "link set dev lo up".to_string(),
            ],
        )?;
    }
    Ok(())
}

fn mac_of(ns: &str, dev: &str) -> Result<[u8; 6], LabError> {
    let out = Command::new("ip")
        .args(["-n", ns, "-br", "link", "show", "dev", dev])
        .output()
        .map_err(|e| LabError::io("run ip (iproute2)", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `NAME@PEER STATE MAC FLAGS`
    let word = text.split_whitespace().nth(2).unwrap_or_default();
    parse_mac(word)
        .ok_or_else(|| LabError::Config(format!("no MAC address for {dev} in {ns}: `{text}`")))
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Writes `/proc/sys/net/KEY` = VALUE inside namespace `ns`.
fn sysctls(ns: &str, pairs: &[(&str, &str)]) -> Result<(), LabError> {
    sys::in_netns(ns, || {
        for (key, value) in pairs {
            let path = format!("/proc/sys/net/{key}");
            std::fs::write(&path, value)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))?;
        }
        Ok(())
    })
    .map_err(|e| LabError::io(format!("sysctls in {ns}"), e))
}

/// `ip ARGS`, which must succeed.
pub(crate) fn ip(args: &[&str]) -> Result<(), LabError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| LabError::io("run ip (iproute2)", e))?;
    LabError::check(format!("ip {}", args.join(" ")), &out)
}

/// `ip -n NS -batch -` with `lines` on its stdin: one process for many changes.
pub(crate) fn ip_batch(ns: &str, lines: &[String]) -> Result<(), LabError> {
    run_with_stdin(
        Command::new("ip").args(["-n", ns, "-batch", "-"]),
        &lines.join("\n"),
    )
    .map_err(|e| e.context(&format!("ip -n {ns} -batch:\n{}", lines.join("\n"))))
}

/// Runs `cmd` with `input` on its stdin; it must exit 0.
pub(crate) fn run_with_stdin(cmd: &mut Command, input: &str) -> Result<(), LabError> {
    let what = format!("{cmd:?}").replace('"', "");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::io(format!("run {what}"), e))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let written = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| LabError::io(format!("wait for {what}"), e))?;
    LabError::check(what.clone(), &out)?;
    written.map_err(|e| LabError::io(format!("write the input of {what}"), e))
}
