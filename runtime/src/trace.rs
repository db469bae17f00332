//! `sockc trace`: the packets that rules with `log` decided, read from an install's
//! ring buffer (`compiler/src/bpf/lower/log.rs` writes it) and named by the rule that
//! decided them, its hook and the verdict.
//!
//! A [`Tracer`] follows one install across re-applies: the ring buffer belongs to a
//! generation's object, so when the manifest names a new generation the tracer opens
//! the new one ([`Tracer::refresh`]). Events are decoded with the compiler's own flow
//! record layout and ids from [`crate::rule_id`], so what trace prints matches `stats`.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd, AsRawFd},
    time::Duration,
};

use aya::maps::{Map, MapData, RingBuf};
use serde::Serialize;
use sockc_compiler::{
    bpf::{flow, lower::log},
    hooks::HookKind,
};

use crate::{
    install::InstallError,
    store::{Manifest, Store},
};

/// The rule an event names.
#[derive(Clone, Debug, Serialize)]
pub struct TracedRule {
    pub id: String,
    pub line: usize,
    pub text: String,
}

/// One traced packet.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub install: String,
    pub generation: u64,
    pub hook: HookKind,
    pub attach_to: String,
    /// The verdict the hook returned, by the hook's names (`drop`, `allow`, `pass`).
    pub verdict: String,
    pub retval: u32,
    pub rule: TracedRule,
    /// Nanoseconds since boot (CLOCK_MONOTONIC), as the program read it.
    pub ktime_ns: u64,
    pub packet: Packet,
    /// The process that made the socket call (socket-call hooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
}

/// Who made a traced socket call.
#[derive(Clone, Debug, Serialize)]
pub struct Caller {
    /// The process id (thread group id).
    pub pid: u32,
    /// Its command name (`comm`: at most 15 bytes).
    pub comm: String,
}

/// The caller in record `b`, if the record has one (its length says so).
fn caller_of(b: &[u8]) -> Option<Caller> {
    if b.len() < log::CALLER_EVENT_SIZE as usize {
        return None;
    }
    let pid = u32::from_ne_bytes(b[log::EVENT_PID..log::EVENT_PID + 4].try_into().ok()?);
    let comm = &b[log::EVENT_COMM..log::EVENT_COMM + log::COMM_BYTES];
    let end = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
    Some(Caller {
        pid,
        comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
    })
}

/// What the flow record says about the packet.
#[derive(Clone, Debug, Serialize)]
pub struct Packet {
    /// 4, 6, or 0 when not IP.
    pub family: u8,
    pub proto: u8,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// TCP flag names set (`syn`, `ack`, ...).
    pub tcp_flags: Vec<&'static str>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub len: u32,
    /// The EtherType of a frame that is not IP (after at most one VLAN tag).
    pub ether_type: Option<u16>,
}

struct Slot {
    hook: HookKind,
    attach_to: String,
    rule: TracedRule,
}

/// The ring buffer of one install's live generation.
pub struct Tracer {
    name: String,
    generation: u64,
    ring: RingBuf<MapData>,
    slots: std::collections::HashMap<u32, Slot>,
    /// What recovery did when it was opened, until the command takes it to say.
    recovered: Option<String>,
}

/// Why an install cannot be traced.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("no rule of `{0}` logs (add `log` to the rules to trace, then apply again)")]
    NothingLogs(String),
    #[error(transparent)]
    Install(#[from] InstallError),
}

fn slots(m: &Manifest) -> std::collections::HashMap<u32, Slot> {
    let mut out = std::collections::HashMap::new();
    for p in &m.snapshot.programs {
        let ids = crate::rule_id::block_ids(
            p.hook.spec().name,
            &p.attach_to,
            p.rules.iter().map(|r| &*r.text),
        );
        for (r, id) in p.rules.iter().zip(ids) {
            out.insert(
                r.counter,
                Slot {
                    hook: p.hook,
                    attach_to: p.attach_to.clone(),
                    rule: TracedRule {
                        id,
                        line: r.line,
                        text: r.text.to_string(),
                    },
                },
            );
        }
    }
    out
}

impl Tracer {
    /// Opens the ring buffer of install `name` (its live generation).
    pub fn open(store: &Store, name: &str) -> Result<Tracer, TraceError> {
        let (m, path, recovered) = crate::install::live_map(store, name, log::EVENTS_MAP)?;
        if !path.exists() {
            return Err(TraceError::NothingLogs(name.to_string()));
        }
        let open = crate::install::open_error(&path);
        let data = MapData::from_pin(&path).map_err(&open)?;
        let ring = RingBuf::try_from(Map::RingBuf(data)).map_err(&open)?;
        Ok(Tracer {
            name: name.to_string(),
            generation: m.generation,
            ring,
            slots: slots(&m),
            recovered: recovered.map(|r| r.to_string()),
        })
    }

    /// What recovery did when this reader was opened (a leftover it could not remove,
    /// above all), once: the command says it as `status` does.
    pub fn take_recovered(&mut self) -> Option<String> {
        self.recovered.take()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Reopens when the install runs another generation than the one being read.
    /// Returns whether it did.
    pub fn refresh(&mut self, store: &Store) -> Result<bool, TraceError> {
        let Some(m) = store.manifest(&self.name).map_err(InstallError::from)? else {
            return Err(InstallError::NotInstalled(self.name.clone()).into());
        };
        if m.generation == self.generation {
            return Ok(false);
        }
        *self = Tracer::open(store, &self.name)?;
        Ok(true)
    }

    /// Every event waiting in the ring buffer.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        let Tracer {
            name,
            generation,
            ring,
            slots,
            ..
        } = self;
        while let Some(item) = ring.next() {
            if let Some(e) = decode(name, *generation, slots, &item) {
                out.push(e);
            }
        }
        out
    }
}

fn decode(
    name: &str,
    generation: u64,
    slots: &std::collections::HashMap<u32, Slot>,
    b: &[u8],
) -> Option<Event> {
    {
        if b.len() < log::EVENT_SIZE as usize {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4"));
        let ktime_ns =
            u64::from_ne_bytes(b[log::EVENT_KTIME..log::EVENT_KTIME + 8].try_into().ok()?);
        let slot = u32_at(log::EVENT_SLOT);
        let retval = u32_at(log::EVENT_RETVAL);
        let f = &b[log::EVENT_FLOW..log::EVENT_FLOW + flow::SIZE as usize];
        let at = |field: i16| field as usize;
        let family = f[at(flow::L3)];
        let proto = f[at(flow::PROTO)];
        let l4 = f[at(flow::L4_OK)] == 1;
        let (src, dst) = match family {
            4 => {
                let a = |o: i16| -> [u8; 4] { f[at(o)..at(o) + 4].try_into().expect("4") };
                (
                    Some(IpAddr::V4(Ipv4Addr::from(a(flow::SRC4)))),
                    Some(IpAddr::V4(Ipv4Addr::from(a(flow::DST4)))),
                )
            }
            6 => {
                let a = |o: i16| -> [u8; 16] { f[at(o)..at(o) + 16].try_into().expect("16") };
                (
                    Some(IpAddr::V6(Ipv6Addr::from(a(flow::SRC6)))),
                    Some(IpAddr::V6(Ipv6Addr::from(a(flow::DST6)))),
                )
            }
            _ => (None, None),
        };
        let port = |o: i16| u16::from_ne_bytes([f[at(o)], f[at(o) + 1]]);
        let ported = l4 && (proto == 6 || proto == 17);
        let icmp = l4 && (proto == 1 || proto == 58);
        let flags_byte = f[at(flow::TCP_FLAGS)];
        const NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
        let tcp_flags = if l4 && proto == 6 {
            (0..8)
                .filter(|i| flags_byte & (1 << i) != 0)
                .map(|i| NAMES[i])
                .collect()
        } else {
            Vec::new()
        };
        let s = slots.get(&slot)?;
        // A reject is logged before its answer is built: the record holds its word.
        let reject = sockc_compiler::syntax::reject::RejectWith::from_mark(retval as i32);
        let verdict = match (s.hook.spec().verdict_of(retval as i32), reject) {
            (Some(v), _) => sockc_compiler::ir::verdict_name(v).to_string(),
            (None, Some(w)) => format!("reject {}", w.text()).trim_end().to_string(),
            (None, None) => format!("retval {retval}"),
        };
        Some(Event {
            install: name.to_string(),
            generation,
            hook: s.hook,
            attach_to: s.attach_to.clone(),
            verdict,
            retval,
            rule: s.rule.clone(),
            ktime_ns,
            caller: caller_of(b),
            packet: Packet {
                family,
                proto,
                src,
                dst,
                sport: ported.then(|| port(flow::SPORT)),
                dport: ported.then(|| port(flow::DPORT)),
                tcp_flags,
                icmp_type: icmp.then(|| f[at(flow::ICMP_TYPE)]),
                icmp_code: icmp.then(|| f[at(flow::ICMP_CODE)]),
                len: u32::from_ne_bytes(
                    f[at(flow::PKT_LEN)..at(flow::PKT_LEN) + 4]
                        .try_into()
                        .ok()?,
                ),
                ether_type: (family == 0).then(|| {
                    u16::from_ne_bytes([f[at(flow::ETHER_TYPE)], f[at(flow::ETHER_TYPE) + 1]])
                }),
            },
        })
    }
}

/// Waits at most `timeout` until one of `tracers` has data (poll(2) on their ring
/// buffers); returns whether one has.
pub fn wait_any(tracers: &[&Tracer], timeout: Duration) -> std::io::Result<bool> {
    let mut fds: Vec<libc::pollfd> = tracers
        .iter()
        .map(|t| libc::pollfd {
            fd: t.ring.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the call; the
    // descriptors belong to the ring buffers, which outlive it.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(n > 0)
}
