//! The install's sk_lookup slot registry: which slot of the install's socket map
//! (`keep_sockets`) each declared socket name holds, kept across generations; putting
//! a found socket there and recording who registered it (the registry record, so
//! `status` can name the process); registering by address every empty slot after each
//! apply and repair ([`register_declared`]); emptying at commit the slots of names that
//! went or changed ([`clear_stale`]); and what each slot holds, for `status`
//! ([`slots`]). The `sockc register` and `unregister` commands are `super::register`.
//!
//! A name keeps its slot for as long as some generation declares it, so a re-apply
//! that adds, removes or reorders declarations leaves every registered socket where
//! the new programs look for it; a new name takes the lowest slot no name holds.
//! Invariant: after a commit, a slot holds a socket only if the committed generation
//! declares a socket of that slot's name with the declaration it had when the socket
//! was registered — the slots of names that are gone, and of names whose protocol or
//! address changed, are emptied (their socket answered the old declaration), so a
//! redirect never reaches a socket its rule did not mean.

use std::{collections::BTreeMap, net::SocketAddr, os::fd::AsFd};

use aya::maps::{MapData, PerCpuArray};
use serde::{Deserialize, Serialize};
use sockc_compiler::{
    bpf::maps::{SOCKETS_MAP, SOCKET_DROPS_MAP},
    metadata::SocketMeta,
};

use super::{now_unix, InstallError};
use crate::{
    discovery::{self, Found, SockProto, Wanted},
    netns,
    slot_map::SlotMap,
    store::{Manifest, Store},
};

/// Where a registered socket came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum How {
    /// Found bound to the declared address (`apply`, `repair`, `sockc register NAME`).
    #[serde(rename = "found by address")]
    Address,
    /// Taken from a given process (`sockc register NAME --pid PID`).
    #[serde(rename = "taken from a process")]
    Process,
    /// Handed to `sockc register` by systemd (`LISTEN_FDS`).
    #[serde(rename = "socket activation")]
    SocketActivation,
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            How::Address => "found by address",
            How::Process => "taken from a process",
            How::SocketActivation => "socket activation",
        })
    }
}

/// One registration, as the registry keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub slot: u32,
    pub cookie: u64,
    pub how: How,
    /// The process the socket was taken from, and its descriptor there.
    pub pid: Option<u32>,
    pub fd: Option<i32>,
    pub comm: Option<String>,
    pub local: SocketAddr,
    pub reuseport: bool,
    pub registered_unix: u64,
}

impl std::fmt::Display for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.how, self.local)?;
        if let Some(pid) = self.pid {
            write!(f, ", PID {pid}")?;
            if let Some(c) = &self.comm {
                write!(f, " ({c})")?;
            }
            if let Some(fd) = self.fd {
                write!(f, " fd {fd}")?;
            }
        }
        if self.reuseport {
            f.write_str(", stands for its SO_REUSEPORT group")?;
        }
        write!(f, ", cookie {}", self.cookie)
    }
}

/// The registry record: socket name → its last registration.
pub(super) type Registry = BTreeMap<String, Registration>;

/// What one slot holds.
#[derive(Clone, Debug, Serialize)]
pub struct SlotStatus {
    pub socket: String,
    /// As declared: `tcp 127.0.0.1:8080`.
    pub declared: String,
    pub slot: u32,
    /// The rules that redirect to it (`line N: TEXT`), sk_lookup's bindings.
    pub bindings: Vec<String>,
    pub state: SlotState,
    /// Redirects to this socket dropped because the slot was empty, and because the
    /// kernel refused the socket there, since the generation was loaded.
    pub dropped_unregistered: u64,
    pub dropped_refused: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// A socket is there; `by` is its registration when sockc made it (the cookies
    /// agree).
    Registered {
        cookie: u64,
        by: Option<Registration>,
        /// The declaration's `cgroup`: with `by` empty, the socket most likely
        /// registered itself when it listened (its registrar put it there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cgroup: Option<String>,
    },
    /// Nothing: redirects to this socket drop and count.
    Empty,
    /// The socket map cannot be read.
    Unreadable(String),
}

impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotState::Registered { by: Some(r), .. } => write!(f, "registered: {r}"),
            SlotState::Registered {
                cookie,
                by: None,
                cgroup: Some(_),
            } => write!(f, "registered when it listened, cookie {cookie}"),
            SlotState::Registered {
                cookie,
                by: None,
                cgroup: None,
            } => {
                write!(f, "registered: cookie {cookie} (not by a sockc command)")
            }
            SlotState::Empty => f.write_str("empty: redirects to it drop"),
            SlotState::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

pub(super) fn wanted(s: &SocketMeta) -> Wanted {
    let proto = if s.proto == "udp" {
        SockProto::Udp
    } else {
        SockProto::Tcp
    };
    Wanted::new(proto, s.addr)
}

/// The install's namespace entered for the guard's life when this thread is not in it.
pub(super) fn enter(m: &Manifest) -> Result<Option<netns::Entered>, InstallError> {
    let here = netns::current_ino().ok();
    if m.netns_ino != 0 && here == Some(m.netns_ino) {
        return Ok(None);
    }
    match &m.netns {
        Some(path) => netns::enter(std::path::Path::new(path))
            .map(Some)
            .map_err(|source| InstallError::Netns {
                path: path.into(),
                source,
            }),
        None => Err(InstallError::OtherNetns {
            name: m.name.clone(),
            recorded: m.netns_ino,
            current: here.unwrap_or(0),
        }),
    }
}

/// Inserts `found` in `slot` and records it.
pub(super) fn put(
    store: &Store,
    m: &Manifest,
    socket: &str,
    slot: u32,
    found: &Found,
    how: How,
) -> Result<(Registration, Option<u64>), InstallError> {
    let map = SlotMap::open(&store.keep_path(&m.name, SOCKETS_MAP))?;
    let replaced = map.cookie(slot)?;
    map.insert(slot, found.fd.as_fd())?;
    let registration = Registration {
        slot,
        cookie: found.cookie,
        how,
        pid: found.owner.as_ref().map(|o| o.pid),
        fd: found.owner.as_ref().map(|o| o.fd),
        comm: found.owner.as_ref().map(|o| o.comm.clone()),
        local: found.local,
        reuseport: found.reuseport,
        registered_unix: now_unix(),
    };
    let mut registry: Registry = store.registry(&m.name)?;
    registry.insert(socket.to_string(), registration.clone());
    store.write_registry(&m.name, &registry)?;
    Ok((registration, replaced))
}

/// After an apply or a repair (in the install's namespace): every declared socket with
/// an address whose slot is empty is looked for by address and registered when
/// found. Returns a line per socket: registered, still missing, or why it was refused.
pub(super) fn register_declared(store: &Store, m: &Manifest) -> Vec<String> {
    let Ok(map) = SlotMap::open(&store.keep_path(&m.name, SOCKETS_MAP)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Sockets are looked for in the install's namespace, never in another one.
    let _in = match enter(m) {
        Ok(guard) => guard,
        Err(e) => {
            out.push(format!(
                "sockets not looked for: {}",
                crate::error_chain(&e)
            ));
            return out;
        }
    };
    for decl in &m.snapshot.sockets {
        let Some(&slot) = m.socket_slots.get(&decl.name) else {
            continue;
        };
        if !matches!(map.cookie(slot), Ok(None)) {
            continue;
        }
        let Some(addr) = decl.addr else {
            out.push(format!(
                "socket {}: declared without an address, so nothing registers it but `sockc register {} --pid PID`; until then redirects to it drop",
                decl.name, decl.name
            ));
            continue;
        };
        let want = wanted(decl);
        match discovery::find(&want) {
            Ok(Some(found)) => match put(store, m, &decl.name, slot, &found, How::Address) {
                Ok((r, _)) => out.push(format!("socket {}: registered, {r}", decl.name)),
                Err(e) => out.push(format!(
                    "socket {}: found on {addr} but not registered: {}",
                    decl.name,
                    crate::error_chain(&e)
                )),
            },
            Ok(None) => out.push(match &decl.cgroup {
                Some(cgroup) => format!(
                    "socket {}: nothing is bound to {} {addr} yet; redirects to it drop (and count) until the service listens there in cgroup {cgroup}, which registers it",
                    decl.name, decl.proto
                ),
                None => format!(
                    "socket {}: nothing is bound to {} {addr} yet; redirects to it drop (and count) until a socket is registered: start the service, then `sockc register {}` (or `sockc repair`)",
                    decl.name, decl.proto, decl.name
                ),
            }),
            Err(e) => out.push(format!(
                "socket {}: not registered: {}",
                decl.name,
                crate::error_chain(&e)
            )),
        }
    }
    out
}

/// What each declared socket's slot holds, with its drop counters (read in the
/// install's namespace is not needed: the maps are on bpffs).
pub fn slots(store: &Store, m: &Manifest) -> Vec<SlotStatus> {
    if m.snapshot.sockets.is_empty() {
        return Vec::new();
    }
    let map = SlotMap::open(&store.keep_path(&m.name, SOCKETS_MAP));
    let registry: Registry = store.registry(&m.name).unwrap_or_default();
    let drops = read_drops(store, m);
    m.snapshot
        .sockets
        .iter()
        .enumerate()
        .filter_map(|(i, decl)| {
            let slot = *m.socket_slots.get(&decl.name)?;
            let state = match &map {
                Err(e) => SlotState::Unreadable(crate::error_chain(e)),
                Ok(map) => match map.cookie(slot) {
                    Ok(Some(cookie)) => SlotState::Registered {
                        cookie,
                        by: registry
                            .get(&decl.name)
                            .filter(|r| r.cookie == cookie)
                            .cloned(),
                        cgroup: decl.cgroup.clone(),
                    },
                    Ok(None) => SlotState::Empty,
                    Err(e) => SlotState::Unreadable(crate::error_chain(&e)),
                },
            };
            let (dropped_unregistered, dropped_refused) = drops.get(i).copied().unwrap_or((0, 0));
            Some(SlotStatus {
                socket: decl.name.clone(),
                declared: decl.declaration(),
                bindings: m
                    .snapshot
                    .programs
                    .iter()
                    .filter(|p| p.hook == sockc_compiler::hooks::HookKind::SkLookup)
                    .flat_map(|p| &p.rules)
                    .filter(|r| r.socket.as_deref() == Some(decl.name.as_str()))
                    .map(|r| format!("line {}: {}", r.line, r.text))
                    .collect(),
                slot,
                state,
                dropped_unregistered,
                dropped_refused,
            })
        })
        .collect()
}

/// (unregistered, refused) drops per declared socket, from the live generation's
/// `socket_drops` map; empty when it cannot be read.
fn read_drops(store: &Store, m: &Manifest) -> Vec<(u64, u64)> {
    let path = store
        .objects_dir(&m.name, &m.objects_dir)
        .join(format!("map_{SOCKET_DROPS_MAP}"));
    let Ok(data) = MapData::from_pin(&path) else {
        return Vec::new();
    };
    let Ok(arr) = PerCpuArray::<_, [u64; 2]>::try_from(aya::maps::Map::PerCpuArray(data)) else {
        return Vec::new();
    };
    let sum = |i: u32| -> u64 {
        arr.get(&i, 0)
            .map(|v| v.iter().map(|c| c[0]).sum())
            .unwrap_or(0)
    };
    (0..m.snapshot.sockets.len() as u32)
        .map(|i| (sum(2 * i), sum(2 * i + 1)))
        .collect()
}

/// Slots by name for a generation declaring `sockets`, given the installed
/// generation's (`old`).
pub fn assign_slots(old: &BTreeMap<String, u32>, sockets: &[SocketMeta]) -> BTreeMap<String, u32> {
    let mut out: BTreeMap<String, u32> = sockets
        .iter()
        .filter_map(|s| old.get(&s.name).map(|&slot| (s.name.clone(), slot)))
        .collect();
    // Slots still held by names the installed generation has stay reserved until the
    // commit empties them: its programs may still be running.
    let mut taken: std::collections::BTreeSet<u32> = old.values().copied().collect();
    let mut next = 0u32;
    for s in sockets {
        if out.contains_key(&s.name) {
            continue;
        }
        while taken.contains(&next) {
            next += 1;
        }
        taken.insert(next);
        out.insert(s.name.clone(), next);
    }
    out
}

/// The slot of each socket of `sockets`, in their order (what the programs are loaded
/// with).
pub fn slots_in_order(slots: &BTreeMap<String, u32>, sockets: &[SocketMeta]) -> Vec<u32> {
    sockets.iter().map(|s| slots[&s.name]).collect()
}

/// After a commit: empties the slots whose name the committed generation no longer
/// declares, or declares differently; returns a line per slot emptied that held a
/// socket.
pub fn clear_stale(
    store: &Store,
    name: &str,
    old: (&BTreeMap<String, u32>, &[SocketMeta]),
    new: (&BTreeMap<String, u32>, &[SocketMeta]),
) -> Vec<String> {
    let Ok(map) = SlotMap::open(&store.keep_path(name, SOCKETS_MAP)) else {
        return Vec::new();
    };
    let mut notices = Vec::new();
    for (socket, &slot) in old.0 {
        let before = old.1.iter().find(|s| &s.name == socket);
        let after = new.1.iter().find(|s| &s.name == socket);
        let why = match (before, after) {
            (_, None) => "no longer declared",
            (Some(b), Some(a)) if b != a => "declared differently now",
            _ => continue,
        };
        // A slot a new name took over was emptied when that name was assigned... no:
        // slots of names that are gone stay reserved until here, so this slot is still
        // the old name's.
        if new.0.values().any(|&s| s == slot) && after.is_none() {
            continue;
        }
        if let Ok(Some(_)) = map.cookie(slot) {
            if map.remove(slot).is_ok() {
                notices.push(format!(
                    "socket {socket}: {why}; its registered socket was taken out of the socket map"
                ));
            }
        }
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str) -> SocketMeta {
        SocketMeta {
            name: name.into(),
            proto: "tcp".into(),
            addr: None,
            cgroup: None,
        }
    }

    /// Names keep their slots; new names take the lowest slots that no installed name
    /// holds (a name that is going away keeps its slot reserved).
    #[test]
    fn names_keep_their_slots_and_new_names_fill_gaps() {
        let first = assign_slots(&BTreeMap::new(), &[decl("a"), decl("b"), decl("c")]);
        assert_eq!(
            first,
            BTreeMap::from([("a".into(), 0), ("b".into(), 1), ("c".into(), 2)])
        );
        // b goes, d comes, order changes: a and c keep 0 and 2; d may not take b's 1
        // while b's socket can still be in use.
        let second = assign_slots(&first, &[decl("c"), decl("d"), decl("a")]);
        assert_eq!(
            second,
            BTreeMap::from([("a".into(), 0), ("c".into(), 2), ("d".into(), 3)])
        );
        // Next time b is long gone: e takes 1.
        let third = assign_slots(&second, &[decl("e"), decl("a"), decl("c"), decl("d")]);
        assert_eq!(third["e"], 1);
        assert_eq!(slots_in_order(&third, &[decl("d"), decl("e")]), vec![3, 1]);
    }
}
