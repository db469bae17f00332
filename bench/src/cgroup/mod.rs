//! `sockc bench --cgroup`: what policy on a cgroup costs the processes in it, measured
//! with real system calls from a process (`sockc-peer`) in a cgroup the run makes, in
//! a network namespace of its own ([`env`]), against peers loaded with the same rules
//! ([`forms`]) in the same rounds.
//!
//! Packets: UDP `sendto()`s of small datagrams, back to back for a window, routed to
//! a dummy interface (freed there: only the sending path runs), under a sockc `cgroup
//! egress` block, nft `output` chains that test the socket (`socket cgroupv2`, `meta
//! skuid`, or one `socket cgroupv2` jump), and no filter. The datagram is one the end
//! of the ClassBench list decides (accepted), so a linear rule list is walked to its
//! end. The figure is the sender thread's CPU time per datagram; a contender's own
//! cost is that minus the no-filter figure of the same round. Socket calls: TCP
//! `connect()` latency to a listener in the namespace, and UDP `connect()` (no
//! packet), under a `cgroup connect` block of N `drop to PREFIX` rules, the
//! systemd-style `IPAddressDeny=` programs with the same prefixes
//! ([`systemd_style`]), and no program. [`report`] writes the tables and the JSON.
//!
//! Invariant: every contender is checked before it is timed (the late datagram and
//! the free connect pass, a datagram or call its rules refuse fails with `EPERM`);
//! every round visits every contender, in an order rotated per round, each in a
//! fresh cgroup; everything the run makes is removed before [`run`] returns.

mod env;
mod forms;
pub mod report;
mod systemd_style;

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use ipnet::Ipv4Net;
use serde_json::Value;
use sockc_testkit::{
    classbench::{self, Filter},
    classbench_data,
};

use crate::{
    control::{load_average, machine, Bpffs},
    peer::{sys, workload::Scratch},
};
use env::{Env, Installed, Peer, Trial};
use forms::{Datagrams, NftSocket};
use report::{CallRow, PacketRow, Results};

/// What `--cgroup` runs.
pub struct CgroupOptions {
    pub classbench: PathBuf,
    pub set: String,
    /// Rule counts of the packet table.
    pub sizes: Vec<usize>,
    pub rounds: usize,
    pub warmup: Duration,
    /// How long each contender sends per round.
    pub window: Duration,
    /// Bytes of UDP payload per datagram.
    pub datagram: usize,
    /// Prefixes of the connect table's rules.
    pub connect_rules: usize,
    /// Timed connects per contender and round.
    pub connects: u64,
}

/// Who filters the datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packets {
    None,
    Sockc,
    NftCgroup,
    NftSkuid,
    NftJump,
}

impl Packets {
    pub const ALL: [Packets; 5] = [
        Packets::None,
        Packets::Sockc,
        Packets::NftCgroup,
        Packets::NftSkuid,
        Packets::NftJump,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Packets::None => "none",
            Packets::Sockc => "sockc-egress",
            Packets::NftCgroup => "nft-cgroupv2",
            Packets::NftSkuid => "nft-skuid",
            Packets::NftJump => "nft-cgroupv2-jump",
        }
    }
}

/// Who decides the connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calls {
    None,
    Sockc,
    SystemdStyle,
}

impl Calls {
    pub const ALL: [Calls; 3] = [Calls::None, Calls::Sockc, Calls::SystemdStyle];

    pub fn key(self) -> &'static str {
        match self {
            Calls::None => "none",
            Calls::Sockc => "sockc-connect",
            Calls::SystemdStyle => "systemd-ipaddressdeny",
        }
    }
}

/// One ClassBench size, ready for every packet contender.
struct Workload {
    name: String,
    filters: Vec<Filter>,
    datagrams: Datagrams,
}

/// The connect table's prefixes and addresses.
struct ConnectSetup {
    prefixes: Vec<Ipv4Net>,
    server: SocketAddr,
    refused: Ipv4Addr,
}

/// Runs both tables; returns the Markdown and the JSON document.
pub fn run(o: &CgroupOptions) -> Result<(String, Value), String> {
    let load_before = load_average();
    let workloads = o
        .sizes
        .iter()
        .map(|&n| workload(o, n))
        .collect::<Result<Vec<_>, _>>()?;
    let connect_filters = filters(o, *o.sizes.iter().max().unwrap_or(&1000).max(&10_000))?;
    let prefixes = forms::connect_prefixes(&connect_filters, o.connect_rules)?;
    let (free, refused) = forms::connect_targets(&prefixes)?;
    let mut local: Vec<Ipv4Addr> = workloads
        .iter()
        .flat_map(|w| w.datagrams.sources())
        .collect();
    local.sort_unstable();
    local.dedup();
    let scratch = Scratch::new()?;
    // Unmounted after the namespace and the cgroup go (declared before them).
    let bpffs = Bpffs::mount(scratch.0.join("bpffs"))?;
    let env = Env::new(&local)?;
    env.ip(&["addr", "add", &format!("{free}/32"), "dev", "lo"])?;
    let server = Server::start(&env.netns.0, free)?;
    let setup = ConnectSetup {
        prefixes,
        server: server.addr,
        refused,
    };
    let mut results = Results::default();
    let mut trial = 0;
    for round in 0..o.rounds {
        for w in &workloads {
            for k in 0..Packets::ALL.len() {
                let who = Packets::ALL[(k + round) % Packets::ALL.len()];
                trial += 1;
                let row = packet_trial(o, &env, &bpffs.0, &scratch.0, w, who, trial)
                    .map_err(|e| format!("{} {}: {e}", who.key(), w.name))?;
                report::progress_packet(round, &row);
                results.packets.push(PacketRow { round, ..row });
            }
        }
        for k in 0..Calls::ALL.len() {
            let who = Calls::ALL[(k + round) % Calls::ALL.len()];
            trial += 1;
            let row = call_trial(o, &env, &bpffs.0, &setup, who, trial)
                .map_err(|e| format!("{}: {e}", who.key()))?;
            report::progress_call(round, &row);
            results.calls.push(CallRow { round, ..row });
        }
    }
    drop(server);
    results.workloads = workloads
        .iter()
        .map(|w| report::note(&w.name, w.filters.len(), &w.datagrams))
        .collect();
    results.connect_rules = setup.prefixes.len();
    results.load = [load_before, load_average()];
    results.machine = machine();
    results.options = options_text(o);
    Ok((report::markdown(&results), report::json(&results)))
}

fn options_text(o: &CgroupOptions) -> String {
    format!(
        "{} round(s); datagrams of {} bytes for {} ms after {} ms of warm-up per contender; \
         {} connects per contender",
        o.rounds,
        o.datagram,
        o.window.as_millis(),
        o.warmup.as_millis(),
        o.connects
    )
}

/// The set's first `size` filters file, parsed.
fn filters(o: &CgroupOptions, size: usize) -> Result<Vec<Filter>, String> {
    let name = classbench_data::file_name(&o.set, size, "");
    let text = classbench_data::read(&o.classbench, &name).map_err(|e| format!("{name}: {e}"))?;
    classbench::parse_filters(&text).map_err(|e| format!("{name}: {e}"))
}

fn workload(o: &CgroupOptions, size: usize) -> Result<Workload, String> {
    let filters = filters(o, size)?;
    let name = format!("{}_{size}", o.set);
    let datagrams = Datagrams::of(&filters).map_err(|e| format!("{name}: {e}"))?;
    Ok(Workload {
        name,
        filters,
        datagrams,
    })
}

/// The nft table of a trial, deleted when dropped (before its cgroup goes).
struct NftTable<'a>(&'a Env);

impl Drop for NftTable<'_> {
    fn drop(&mut self) {
        self.0.nft_delete(forms::NFT_TABLE);
    }
}

/// What one contender loaded, held until dropped (before its cgroup goes): a sockc
/// install, an nft table.
type Held<'a> = (Option<Installed<'a>>, Option<NftTable<'a>>);

/// Loads `who`'s rules for `w` onto `trial`.
fn load_packets<'a>(
    env: &'a Env,
    bpffs: &'a Path,
    scratch: &Path,
    w: &Workload,
    who: Packets,
    trial: &Trial,
) -> Result<Held<'a>, String> {
    let (path, level) = env.relative(&trial.dir);
    let socket = match who {
        Packets::None => return Ok((None, None)),
        Packets::Sockc => {
            let src = forms::sockc_egress(&w.filters, &trial.dir.display().to_string());
            let name = format!("cgbench-{}-{}", std::process::id(), w.name);
            return Ok((Some(Installed::apply(bpffs, name, &src)?), None));
        }
        Packets::NftCgroup => NftSocket::CgroupEach { path: &path, level },
        Packets::NftSkuid => NftSocket::UidEach(0),
        Packets::NftJump => NftSocket::CgroupJump { path: &path, level },
    };
    let file = scratch.join(format!("{}-{}.nft", w.name, who.key()));
    std::fs::write(&file, forms::nft(&w.filters, socket))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let table = NftTable(env);
    env.nft(&file)?;
    Ok((None, Some(table)))
}

/// One packet contender in one round: loaded, checked, timed.
fn packet_trial(
    o: &CgroupOptions,
    env: &Env,
    bpffs: &Path,
    scratch: &Path,
    w: &Workload,
    who: Packets,
    n: usize,
) -> Result<PacketRow, String> {
    let trial = Trial::new(env, n)?;
    let _held = load_packets(env, bpffs, scratch, w, who, &trial)?;
    let d = &w.datagrams;
    let mut sender = env.peer(&trial, &format!("{}:{}", d.late.src, d.late.sport))?;
    let to = format!("{}:{}", d.late.dst, d.late.dport);
    expect(
        &mut sender,
        &format!("sendto {to} x"),
        "ok 1",
        "the late datagram",
    )?;
    let mut other = env.peer(&trial, &format!("{}:{}", d.dropped.src, d.dropped.sport))?;
    let refused = if who == Packets::None {
        "ok 1"
    } else {
        "error 1 "
    };
    let cmd = format!("sendto {}:{} x", d.dropped.dst, d.dropped.dport);
    let what = format!("the datagram filter {} drops", d.dropped_by);
    expect(&mut other, &cmd, refused, &what)?;
    drop(other);
    let blast = |p: &mut Peer, ms: u128| p.json(&format!("blast {to} {ms} {}", o.datagram));
    blast(&mut sender, o.warmup.as_millis())?;
    let before = env.sink_drops()?;
    let v = blast(&mut sender, o.window.as_millis())?;
    let reached = env.sink_drops()? - before;
    let num = |k: &str| v[k].as_f64().ok_or_else(|| format!("no {k} in {v}"));
    let (sent, failed) = (num("sent")?, num("failed")?);
    if failed > 0.0 || sent == 0.0 || (reached as f64) < sent {
        return Err(format!(
            "{failed} of the timed datagrams failed, {reached} reached the sink: {v}"
        ));
    }
    Ok(PacketRow {
        round: 0,
        set: w.name.clone(),
        rules: w.filters.len(),
        who,
        cpu_ns: num("cpu_ns")? / sent,
        wall_ns: num("wall_ns")? / sent,
        datagrams: sent as u64,
    })
}

/// Sends `cmd`; the answer must start with `want`.
fn expect(p: &mut Peer, cmd: &str, want: &str, what: &str) -> Result<(), String> {
    let got = p.ask(cmd)?;
    if !got.starts_with(want) {
        return Err(format!("{what}: `{cmd}` answered `{got}`, not `{want}...`"));
    }
    Ok(())
}

/// One call contender in one round: loaded, checked, timed.
fn call_trial(
    o: &CgroupOptions,
    env: &Env,
    bpffs: &Path,
    s: &ConnectSetup,
    who: Calls,
    n: usize,
) -> Result<CallRow, String> {
    let trial = Trial::new(env, n)?;
    // Held until the trial's cgroup goes (which takes the programs off).
    let (mut _install, mut _programs) = (None, None);
    match who {
        Calls::None => {}
        Calls::Sockc => {
            let src = forms::sockc_connect(&s.prefixes, &trial.dir.display().to_string());
            let name = format!("cgbench-{}-connect", std::process::id());
            _install = Some(Installed::apply(bpffs, name, &src)?);
        }
        Calls::SystemdStyle => {
            _programs = Some(systemd_style::attach(&trial.dir, &s.prefixes)?);
        }
    }
    let mut p = env.peer(&trial, "0.0.0.0:0")?;
    let refused = format!("{}:80", s.refused);
    // sockc refuses the call; systemd's programs drop the packets (a UDP datagram's
    // sendto fails, a TCP SYN is retransmitted until connect() times out).
    let (cmd, want) = match who {
        Calls::None => (format!("call connect tcp {refused}"), "ok"),
        Calls::Sockc => (format!("call connect tcp {refused}"), "error 1 "),
        Calls::SystemdStyle => (format!("sendto {refused} x"), "error 1 "),
    };
    expect(&mut p, &cmd, want, "a refused prefix")?;
    let connects = |p: &mut Peer, proto: &str, count: u64| -> Result<f64, String> {
        let v = p.json(&format!("connects {proto} {} {count}", s.server))?;
        match (v["failed"].as_u64(), v["median_ns"].as_f64()) {
            (Some(0), Some(median)) => Ok(median),
            _ => Err(format!("{proto} connects: {v}")),
        }
    };
    connects(&mut p, "tcp", (o.connects / 10).max(1))?;
    let tcp = connects(&mut p, "tcp", o.connects)?;
    let udp = connects(&mut p, "udp", o.connects)?;
    Ok(CallRow {
        round: 0,
        who,
        tcp_ns: tcp,
        udp_ns: udp,
    })
}

/// The listener the timed connects reach: a thread of the bench in the namespace,
/// accepting (and so closing) what arrives until dropped; it polls, so that a stop is
/// seen within [`Server::POLL_MS`].
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    const POLL_MS: i32 = 50;

    fn start(netns: &str, at: Ipv4Addr) -> Result<Server, String> {
        let ns = sys::netns_file(netns).map_err(|e| format!("{netns}: {e}"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let listener = sys::setns(ns.as_raw_fd()).and_then(|()| TcpListener::bind((at, 0)));
            let addr = listener
                .as_ref()
                .map_err(|e| e.to_string())
                .and_then(|l| l.local_addr().map_err(|e| e.to_string()));
            let _ = tx.send(addr);
            if let Ok(l) = listener {
                serve(&l, &stopping);
            }
        });
        let addr = rx
            .recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("listen on {at}: {e}"))?;
        Ok(Server {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

/// Accepts until `stop`, waiting at most [`Server::POLL_MS`] at a time.
fn serve(l: &TcpListener, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut fd = libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call.
        if unsafe { libc::poll(&mut fd, 1, Server::POLL_MS) } > 0 {
            let _ = l.accept();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
