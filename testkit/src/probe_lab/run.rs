//! Sending probes and reading what became of them. The probes of a run are cut into
//! batches (one path each; no two probes of a batch share a connection — the same
//! protocol, addresses and ports in either direction — and no address is a source and
//! a destination in one batch, so the routes can make every destination local and
//! every source remote); per batch the source routes are set, the connection table is
//! emptied, multicast groups are joined, the openers of replies and related errors
//! go first, then the probes, one per pace interval, in order. A reply goes to the
//! address and port its opener reached the sender from — after any masquerading, as a
//! real peer's reply would — and a related ICMP error quotes the opener as it arrived.
//!
//! A batch is read only once the kernel has processed everything it was sent
//! (settle). The run happens on one thread pinned to one CPU, so every frame it sends
//! is queued on that CPU's backlog (a veth, and `lo`, queue what they carry on the
//! sending CPU, RPS being off in a fresh namespace) or on a veth's NAPI ring
//! scheduled there, and every packet those frames cause (forwarded copies, resets,
//! ICMP errors) is processed in that CPU's network softirq. While the pinned thread
//! runs, no softirq runs on its CPU: the kernel processes a send in the softirq it
//! raises before the send returns, unless it defers the work to the CPU's
//! `ksoftirqd`. So once that CPU's backlog (`/proc/net/softnet_stat`) is empty and its
//! `ksoftirqd` is not waiting to run deferred work, every probe has been delivered,
//! forwarded, answered or dropped, and what the sockets hold is complete: no timeout
//! decides a verdict. Invariant: outcomes come back in the order of the probes, and a
//! run leaves no route, group membership or socket behind.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    os::fd::OwnedFd,
    time::{Duration, Instant},
};

use super::{
    sys,
    topology::{Topology, BEHIND_IF},
    wire::{self, Returned, Seen, OPENER},
    Answer, LabError, Origin, Outcome, Path, Probe,
};
use crate::packet::{tcp_flags, L4};

/// How a run sends its probes.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// The least time between two probes: rules with rate limits (`-m limit`, nft
    /// `limit rate`) count packets per second, and a burst of probes would exhaust
    /// them where a host's ordinary traffic does not. 1 ms keeps every probe within a
    /// limit of up to 1,000 packets a second once its burst is spent.
    pub pace: Duration,
    /// The most probes in one batch.
    pub batch: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            pace: Duration::from_millis(1),
            batch: 256,
        }
    }
}

/// How long a batch may take to settle before the run fails.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

impl Topology {
    /// Sends `probes` through whatever filters the receiver holds now and returns what
    /// became of each, in order, with the default [`ProbeOptions`].
    pub fn probe(&self, probes: &[Probe]) -> Result<Vec<Outcome>, LabError> {
        self.probe_with(probes, &ProbeOptions::default())
    }

    /// [`Topology::probe`] with explicit options.
    pub fn probe_with(
        &self,
        probes: &[Probe],
        opts: &ProbeOptions,
    ) -> Result<Vec<Outcome>, LabError> {
        for (index, p) in probes.iter().enumerate() {
            p.check().map_err(|why| LabError::BadProbe {
                index,
                probe: p.to_string(),
                why,
            })?;
        }
        if probes.len() >= OPENER as usize {
            return Err(LabError::Config(format!(
                "{} probes is too many",
                probes.len()
            )));
        }
        let batches = plan(probes, opts.batch.max(1));
        std::thread::scope(|s| {
            s.spawn(|| Run::start(self, probes, opts)?.all(&batches))
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

/// The probes of one batch, all on one path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub path: Path,
    pub members: Vec<usize>,
}

/// What a batch must not hold twice: a connection, either direction.
type FlowKey = (u8, (IpAddr, u16), (IpAddr, u16));

fn flow_key(p: &Probe) -> FlowKey {
    let s = &p.packet;
    let (sport, dport) = match s.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
        _ => (0, 0),
    };
    let (a, b) = ((s.src, sport), (s.dst, dport));
    (s.l4.protocol(s.is_ipv6()), a.min(b), a.max(b))
}

/// Cuts the probes into batches (first fit, in probe order), in [`Path`] order, so
/// that the receiver's routing changes at most twice.
pub(crate) fn plan(probes: &[Probe], max: usize) -> Vec<Batch> {
    struct Open {
        batch: Batch,
        flows: HashSet<FlowKey>,
        remotes: HashSet<IpAddr>,
        locals: HashSet<IpAddr>,
    }
    let mut open: Vec<Open> = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let key = flow_key(p);
        let (remote, local) = (p.remote(), p.local());
        let fits = |o: &Open| {
            o.batch.path == p.path
                && o.batch.members.len() < max
                && !o.flows.contains(&key)
                && remote.is_none_or(|r| !o.locals.contains(&r))
                && local.is_none_or(|l| !o.remotes.contains(&l))
        };
        let at = match open.iter().position(fits) {
            Some(at) => at,
            None => {
                open.push(Open {
                    batch: Batch {
                        path: p.path,
                        members: Vec::new(),
                    },
                    flows: HashSet::new(),
                    remotes: HashSet::new(),
                    locals: HashSet::new(),
                });
                open.len() - 1
            }
        };
        let o = &mut open[at];
        o.batch.members.push(i);
        o.flows.insert(key);
        o.remotes.extend(remote);
        o.locals.extend(local);
    }
    let mut batches: Vec<Batch> = open.into_iter().map(|o| o.batch).collect();
    batches.sort_by_key(|b| b.path);
    batches
}

/// Where a path's probes are watched: by raw sockets in a namespace, or by the
/// sender's packet socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Watch {
    Receiver,
    Behind,
    Sender,
}

fn watch(path: Path) -> Watch {
    match path {
        Path::Input | Path::Loopback => Watch::Receiver,
        Path::Forward => Watch::Behind,
        Path::Output => Watch::Sender,
    }
}

/// The namespace and family (IPv6?) of the raw IP sender that sends a probe
/// (loopback, output) or its opener (replies, related errors), if one does.
fn raw_sender_of(p: &Probe) -> Option<(Watch, bool)> {
    let v6 = p.packet.is_ipv6();
    match (p.path, p.origin) {
        (Path::Loopback | Path::Output, _) => Some((Watch::Receiver, v6)),
        (_, Origin::New) => None,
        (path, _) => Some((watch(path), v6)),
    }
}

/// A raw socket watching one protocol of one family in one namespace.
struct Observer {
    watch: Watch,
    ipv6: bool,
    proto: u8,
    fd: OwnedFd,
}

fn namespace(topo: &Topology, w: Watch) -> &str {
    match w {
        Watch::Receiver => topo.receiver(),
        Watch::Behind => topo.behind(),
        Watch::Sender => topo.sender(),
    }
}

/// A raw socket per namespace, family and protocol the probes' delivered copies
/// have.
fn observers(topo: &Topology, probes: &[Probe]) -> Result<Vec<Observer>, LabError> {
    let mut kinds: Vec<(Watch, bool, u8)> = probes
        .iter()
        .map(|p| (watch(p.path), p.packet.is_ipv6(), wire::wire_kind(p).0))
        .filter(|&(w, _, _)| w != Watch::Sender)
        .collect();
    kinds.sort_by_key(|&(w, v6, proto)| (w == Watch::Behind, v6, proto));
    kinds.dedup();
    kinds
        .into_iter()
        .map(|(watch, ipv6, proto)| {
            let family = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
            let fd = sys::in_netns(namespace(topo, watch), || sys::raw_observer(family, proto))
                .map_err(|e| LabError::io("open a raw socket to watch deliveries", e))?;
            Ok(Observer {
                watch,
                ipv6,
                proto,
                fd,
            })
        })
        .collect()
}

/// Raw IP senders, by namespace and family (IPv6?), each with the index of the
/// interface a link-local destination is reached on from there.
type RawSenders = HashMap<(Watch, bool), (OwnedFd, u32)>;

/// A raw IP sender per namespace and family that sends openers or loopback probes.
fn raw_senders(topo: &Topology, probes: &[Probe]) -> Result<RawSenders, LabError> {
    let mut raw = HashMap::new();
    for key in probes.iter().filter_map(raw_sender_of) {
        if raw.contains_key(&key) {
            continue;
        }
        let dev = match key.0 {
            Watch::Behind => BEHIND_IF.to_string(),
            _ => topo.config().ingress.clone(),
        };
        let family = if key.1 { libc::AF_INET6 } else { libc::AF_INET };
        let pair = sys::in_netns(namespace(topo, key.0), || {
            Ok((sys::raw_sender(family)?, sys::ifindex(&dev)?))
        })
        .map_err(|e| LabError::io("open a raw socket to send openers", e))?;
        raw.insert(key, pair);
    }
    Ok(raw)
}

/// One run: its sockets, its CPU, and what it has learnt so far.
struct Run<'a> {
    topo: &'a Topology,
    probes: &'a [Probe],
    opts: &'a ProbeOptions,
    cpu: usize,
    ksoftirqd: Option<Ksoftirqd>,
    sender: OwnedFd,
    observers: Vec<Observer>,
    /// Raw IP senders (openers, loopback probes).
    raw: RawSenders,
    ingress_index: u32,
    outcomes: Vec<Outcome>,
    /// The source routes in place (removed at the end of the run).
    routed: Vec<(Path, IpAddr)>,
    /// Openers as they reached the sender, by probe.
    seen: HashMap<usize, Seen>,
    /// The TCP probes of the batch as sent, by (source, sport, destination, dport).
    flows: HashMap<(IpAddr, u16, IpAddr, u16), usize>,
}

impl<'a> Run<'a> {
    /// Pins this thread and opens every socket the probes need.
    fn start(
        topo: &'a Topology,
        probes: &'a [Probe],
        opts: &'a ProbeOptions,
    ) -> Result<Run<'a>, LabError> {
        let cpu =
            sys::pin_to_current_cpu().map_err(|e| LabError::io("pin the probing thread", e))?;
        let sender = sys::in_netns(topo.sender(), || {
            sys::packet_socket(sys::ifindex(super::topology::SENDER_IF)?)
        })
        .map_err(|e| LabError::io("open the sender's packet socket", e))?;
        let ingress_index = sys::in_netns(topo.receiver(), || sys::ifindex(&topo.config().ingress))
            .map_err(|e| LabError::io("find the ingress interface", e))?;
        Ok(Run {
            topo,
            probes,
            opts,
            cpu,
            ksoftirqd: find_ksoftirqd(cpu),
            sender,
            observers: observers(topo, probes)?,
            raw: raw_senders(topo, probes)?,
            ingress_index,
            outcomes: vec![
                Outcome {
                    delivered: false,
                    answer: Answer::Nothing,
                    opener_left: None,
                };
                probes.len()
            ],
            routed: Vec::new(),
            seen: HashMap::new(),
            flows: HashMap::new(),
        })
    }

    /// Runs every batch, then removes the source routes.
    fn all(mut self, batches: &[Batch]) -> Result<Vec<Outcome>, LabError> {
        let result = batches.iter().try_for_each(|b| self.batch(b));
        let cleanup = self
            .topo
            .route_sources(&std::mem::take(&mut self.routed), &[]);
        result?;
        cleanup?;
        Ok(self.outcomes)
    }

    fn batch(&mut self, batch: &Batch) -> Result<(), LabError> {
        self.topo.set_mode(batch.path)?;
        let mut remotes: Vec<(Path, IpAddr)> = Vec::new();
        for &i in &batch.members {
            if let Some(r) = self.probes[i].remote() {
                if !remotes.contains(&(batch.path, r)) {
                    remotes.push((batch.path, r));
                }
            }
        }
        self.topo.route_sources(&self.routed, &remotes)?;
        self.routed = remotes;
        self.flush_conntrack(batch.path)?;
        let _groups = self.join_groups(batch)?;
        self.settle()?;
        self.read_all(batch, false)?; // anything left from before is not this batch's
        let openers: Vec<usize> = batch
            .members
            .iter()
            .copied()
            .filter(|&i| self.probes[i].origin != Origin::New)
            .collect();
        for &i in &openers {
            self.outcomes[i].opener_left = Some(false);
            self.send_opener(i)?;
        }
        if !openers.is_empty() {
            self.settle()?;
            self.read_all(batch, true)?;
        }
        self.send_probes(batch)?;
        self.settle()?;
        self.read_all(batch, true)
    }

    fn flush_conntrack(&self, path: Path) -> Result<(), LabError> {
        let mut spaces = vec![self.topo.receiver()];
        if path == Path::Forward {
            spaces.push(self.topo.behind());
        }
        for ns in spaces {
            sys::in_netns(ns, sys::flush_conntrack)
                .map_err(|e| LabError::io(format!("flush the connection table of {ns}"), e))?;
        }
        Ok(())
    }

    /// Joins, on the receiver's ingress, every multicast group an INPUT probe of the
    /// batch goes to (the stack delivers only joined groups); left when dropped.
    fn join_groups(&self, batch: &Batch) -> Result<Vec<OwnedFd>, LabError> {
        if batch.path != Path::Input {
            return Ok(Vec::new());
        }
        let mut groups: Vec<IpAddr> = batch
            .members
            .iter()
            .map(|&i| self.probes[i].packet.dst)
            .filter(|d| d.is_multicast())
            .collect();
        groups.sort();
        groups.dedup();
        let index = self.ingress_index;
        sys::in_netns(self.topo.receiver(), || {
            groups.iter().map(|&g| sys::join_group(g, index)).collect()
        })
        .map_err(|e| LabError::io("join multicast groups", e))
    }

    fn send_opener(&self, i: usize) -> Result<(), LabError> {
        let p = &self.probes[i];
        let key = raw_sender_of(p).expect("an opener has a sender");
        let (fd, scope) = &self.raw[&key];
        let packet = wire::opener_packet(p, i as u32);
        sys::send_ip(fd, &packet, p.packet.src, *scope)
            .map_err(|e| LabError::io(format!("send the opener of `{p}`"), e))
    }

    /// Sends the batch's probes in order, at most one per pace interval.
    fn send_probes(&mut self, batch: &Batch) -> Result<(), LabError> {
        let macs = self.topo.macs;
        self.flows.clear();
        let mut packets: Vec<(usize, Vec<u8>)> = Vec::new();
        for &i in &batch.members {
            let p = &self.probes[i];
            let ip = wire::probe_packet(p, i as u32, self.seen.get(&i));
            if p.origin != Origin::Related {
                if let Some(ends) = wire::tcp_ends(&ip) {
                    self.flows.insert(ends, i);
                }
            }
            packets.push(match p.path {
                Path::Loopback | Path::Output => (i, ip),
                _ => {
                    let dst = wire::parse_ip(&ip).map_or(p.packet.dst, |(_, _, d, _)| d);
                    (i, wire::ethernet(&ip, dst, macs.ingress, macs.sender))
                }
            });
        }
        let mut last: Option<Instant> = None;
        for (i, bytes) in packets {
            if let Some(t) = last {
                let wait = self.opts.pace.saturating_sub(t.elapsed());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
            }
            last = Some(Instant::now());
            let p = &self.probes[i];
            let sent = match p.path {
                Path::Loopback | Path::Output => {
                    let (fd, scope) = &self.raw[&(Watch::Receiver, p.packet.is_ipv6())];
                    sys::send_ip(fd, &bytes, p.packet.dst, *scope)
                }
                Path::Input | Path::Forward => sys::send_frame(&self.sender, &bytes),
            };
            sent.map_err(|e| LabError::io(format!("send `{p}`"), e))?;
        }
        Ok(())
    }

    /// Reads every socket empty; with `keep`, records what the packets say about the
    /// batch's probes (deliveries, answers, openers that left).
    fn read_all(&mut self, batch: &Batch, keep: bool) -> Result<(), LabError> {
        let members: HashSet<usize> = batch.members.iter().copied().collect();
        let mut buf = vec![0u8; 65536];
        for o in &self.observers {
            while let Some(n) =
                sys::recv(&o.fd, &mut buf).map_err(|e| LabError::io("read a raw socket", e))?
            {
                let Some((id, first)) = wire::observed(&buf[..n], o.ipv6) else {
                    continue;
                };
                let i = id as usize;
                if !keep || !members.contains(&i) {
                    continue;
                }
                let p = &self.probes[i];
                let (proto, icmp_type) = wire::wire_kind(p);
                if watch(p.path) == o.watch
                    && p.packet.is_ipv6() == o.ipv6
                    && proto == o.proto
                    && icmp_type.is_none_or(|t| t == first)
                {
                    self.outcomes[i].delivered = true;
                }
            }
        }
        while let Some(n) = sys::recv(&self.sender, &mut buf)
            .map_err(|e| LabError::io("read the sender's socket", e))?
        {
            if keep {
                self.note_returned(&buf[..n], &members);
            }
        }
        Ok(())
    }

    /// Records what one frame that reached the sender says.
    fn note_returned(&mut self, frame: &[u8], members: &HashSet<usize>) {
        let (i, answer) = match wire::returned(frame) {
            Some(Returned::Tagged { id, src, port, .. }) if id & OPENER != 0 => {
                let i = (id & !OPENER) as usize;
                if members.contains(&i) && self.outcomes[i].opener_left != Some(true) {
                    self.outcomes[i].opener_left = Some(true);
                    let packet = frame[14..].to_vec();
                    self.seen.insert(i, Seen { src, port, packet });
                }
                return;
            }
            Some(Returned::Tagged {
                id, proto, icmp, ..
            }) => {
                let i = id as usize;
                let Some(p) = self.probes.get(i) else { return };
                if p.path == Path::Output {
                    // The probe itself, not an answer (the sender never answers).
                    let (own, ty) = wire::wire_kind(p);
                    if members.contains(&i) && proto == own && ty.is_none_or(|t| t == icmp.0) {
                        self.outcomes[i].delivered = true;
                    }
                    return;
                }
                let ipv6 = p.packet.is_ipv6();
                let answer = match proto {
                    1 | 58 if wire::is_echo_reply(icmp.0, ipv6) => Answer::EchoReply,
                    1 | 58 if wire::is_icmp_error(icmp.0, ipv6) => Answer::IcmpError {
                        ty: icmp.0,
                        code: icmp.1,
                    },
                    _ => Answer::Other,
                };
                (i, answer)
            }
            Some(Returned::Tcp {
                src,
                dst,
                sport,
                dport,
                flags,
            }) => {
                let Some(&i) = self.flows.get(&(dst, dport, src, sport)) else {
                    return;
                };
                let answer = if flags & tcp_flags::RST != 0 {
                    Answer::TcpReset
                } else {
                    Answer::Other
                };
                (i, answer)
            }
            None => return,
        };
        if members.contains(&i) && self.outcomes[i].answer == Answer::Nothing {
            self.outcomes[i].answer = answer;
        }
    }

    /// Waits until this CPU has processed everything sent so far (module docs).
    fn settle(&self) -> Result<(), LabError> {
        let start = Instant::now();
        let ran_before = self.ksoftirqd.as_ref().and_then(|k| k.timeslices());
        loop {
            let Some(queued) = backlog(self.cpu) else {
                // An old kernel that does not show backlogs: a pause instead.
                std::thread::sleep(Duration::from_millis(5));
                return Ok(());
            };
            // Work deferred to ksoftirqd is done once it has run since (it handles
            // every pending softirq of the CPU when it runs).
            let deferred = self
                .ksoftirqd
                .as_ref()
                .is_some_and(|k| k.runnable() && k.timeslices() == ran_before);
            if queued == 0 && !deferred {
                return Ok(());
            }
            if start.elapsed() > SETTLE_LIMIT {
                return Err(LabError::Unsettled(SETTLE_LIMIT, self.cpu));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// Packets waiting in `cpu`'s backlog (input and process queues), from
/// `/proc/net/softnet_stat` (column 12 is the sum, column 13 the CPU, since Linux
/// 5.10); `None` when the kernel does not say.
fn backlog(cpu: usize) -> Option<u64> {
    backlog_in(
        &std::fs::read_to_string("/proc/net/softnet_stat").ok()?,
        cpu,
    )
}

fn backlog_in(softnet_stat: &str, cpu: usize) -> Option<u64> {
    softnet_stat.lines().find_map(|line| {
        let cols: Vec<u64> = line
            .split_whitespace()
            .map(|c| u64::from_str_radix(c, 16).unwrap_or(u64::MAX))
            .collect();
        (cols.len() >= 13 && cols[12] == cpu as u64).then(|| cols[11])
    })
}

/// A CPU's softirq thread, `ksoftirqd/N`, as `/proc` shows it.
struct Ksoftirqd {
    dir: std::path::PathBuf,
}

impl Ksoftirqd {
    /// Whether it is runnable (it has deferred work).
    fn runnable(&self) -> bool {
        std::fs::read_to_string(self.dir.join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('R'))
            })
            .unwrap_or(false)
    }

    /// How many times it has been scheduled (`/proc/PID/schedstat`, third field).
    fn timeslices(&self) -> Option<u64> {
        let s = std::fs::read_to_string(self.dir.join("schedstat")).ok()?;
        s.split_whitespace().nth(2)?.parse().ok()
    }
}

/// `cpu`'s softirq thread, if this process can see it.
fn find_ksoftirqd(cpu: usize) -> Option<Ksoftirqd> {
    let want = format!("ksoftirqd/{cpu}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == want).then(|| Ksoftirqd { dir: e.path() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probes(lines: &[&str]) -> Vec<Probe> {
        lines
            .iter()
            .map(|l| Probe::parse(l).expect("probe"))
            .collect()
    }

    #[test]
    fn a_connection_and_its_reverse_never_share_a_batch() {
        let ps = probes(&[
            "tcp 10.0.0.1:1000 -> 10.0.0.2:22 syn",
            "tcp 10.0.0.2:22 -> 10.0.0.1:1000 syn,ack",
            "tcp 10.0.0.3:1000 -> 10.0.0.4:22 syn",
            "udp 10.0.0.1:1000 -> 10.0.0.2:22",
        ]);
        let b = plan(&ps, 100);
        // Probe 1 reverses probe 0 (and makes 10.0.0.1 a destination): a batch of its own.
        assert_eq!(
            b,
            vec![
                Batch {
                    path: Path::Input,
                    members: vec![0, 2, 3]
                },
                Batch {
                    path: Path::Input,
                    members: vec![1]
                },
            ]
        );
    }

    #[test]
    fn an_output_probes_remote_end_is_its_destination() {
        let ps = probes(&[
            "output udp 10.0.0.1:1 -> 10.0.0.9:2",
            "output udp 10.0.0.9:5 -> 10.0.0.3:6",
            "output udp 10.0.0.2:7 -> 10.0.0.9:8",
        ]);
        let shape: Vec<Vec<usize>> = plan(&ps, 100).into_iter().map(|b| b.members).collect();
        // 10.0.0.9 is remote for 0 and 2, local (the source) for 1.
        assert_eq!(shape, vec![vec![0, 2], vec![1]]);
    }

    #[test]
    fn batches_keep_one_path_and_their_size() {
        let ps = probes(&[
            "forward udp 10.0.0.1:1 -> 10.0.1.1:1",
            "udp 10.0.0.1:2 -> 10.0.1.1:2",
            "loopback udp 127.0.0.1:3 -> 127.0.0.1:3",
            "udp 10.0.0.1:4 -> 10.0.1.1:4",
            "udp 10.0.0.1:5 -> 10.0.1.1:5",
        ]);
        let b = plan(&ps, 2);
        let shape: Vec<(Path, Vec<usize>)> = b.into_iter().map(|b| (b.path, b.members)).collect();
        assert_eq!(
            shape,
            vec![
                (Path::Input, vec![1, 3]),
                (Path::Input, vec![4]),
                (Path::Loopback, vec![2]),
                (Path::Forward, vec![0]),
            ]
        );
    }

    #[test]
    fn softnet_rows_are_read_by_their_cpu_column() {
        let text = "\
000159a9 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
0001bb56 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0000000a 00000002 00000003 00000007
";
        assert_eq!(backlog_in(text, 0), Some(0));
        assert_eq!(
            backlog_in(text, 2),
            Some(10),
            "rows are not CPU numbers when CPUs are offline"
        );
        assert_eq!(backlog_in(text, 1), None);
        assert_eq!(backlog_in("0001 0002 0003\n", 0), None, "too old to say");
    }
}
