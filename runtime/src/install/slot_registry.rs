//! The install's sk_lookup slot registry: which slot of the install's socket map
//! (`keep_sockets`) each declared socket name holds, kept across generations; putting
//! a found socket there and recording who registered it (the registry record, so
//! `status` can name the process); registering by address every empty slot after each
//! apply and repair ([`register_declared`]); emptying at commit the slots of names that
//! went or changed ([`clear_stale`]); and what each slot holds, for `status`
//! ([`slots`], with its socket's owner from `super::slot_owner`, which also takes a
//! socket the declaration does not trust out of its slot before an apply or repair
//! registers). The `sockc register` and `unregister` commands are `super::register`.
//!
//! A name keeps its slot for as long as some generation declares it the same way, so
//! a re-apply that adds, removes or reorders declarations leaves every registered
//! socket where the new programs look for it; a new name, or a name whose protocol or
//! address changed, takes the lowest slot no installed name holds, and a new
//! generation's empty slots are filled (found by address) before any of its programs
//! is attached or swapped in ([`fill_before_attach`]), so a changed declaration's
//! traffic goes to the old socket until the swap and to the new one from it, never to
//! an empty slot while its service listens.
//! Invariants: after a commit, a slot holds a socket only if the committed generation
//! declares a socket of that slot's name with the declaration it had when the socket
//! was registered — the slots of names that are gone, and of names whose protocol or
//! address changed, are emptied (their socket answered the old declaration), so a
//! redirect never reaches a socket its rule did not mean; a slot no committed name
//! holds is empty (a rolled-back generation's are emptied: [`forget_uncommitted`]).

use std::{collections::BTreeMap, net::SocketAddr, os::fd::AsFd};

use aya::maps::{MapData, PerCpuArray};
use serde::{Deserialize, Serialize};
use sockc_compiler::{
    bpf::maps::{SOCKETS_MAP, SOCKET_DROPS_MAP},
    metadata::SocketMeta,
};

use super::{
    netns_scope::{locate, Scope},
    now_unix,
    slot_owner::{evict_untrusted, slot_owner, wanted, SlotOwner},
    InstallError,
};
use crate::{
    discovery::{self, origin::Origin, Found},
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
    /// What made the socket (owner, cgroup), as checked when it was registered
    /// (absent from the records of an older sockc, which did not check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
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
        if let Some(o) = &self.origin {
            write!(f, ", made by {}", o.describe())?;
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
    /// Who owns the socket in the slot and whether the declaration trusts it (a socket
    /// it does not trust is drift).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<SlotOwner>,
    /// Why the owner of the socket in the slot cannot be told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_unknown: Option<String>,
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

/// The install's own namespace, entered for the guard's life when this thread is not
/// in it; refused when it cannot be (gone, re-created under its name, or only reached
/// through a process that keeps it alive): a socket found anywhere else would be put
/// into the map of programs that run in another namespace.
pub(super) fn enter(store: &Store, m: &Manifest) -> Result<Scope, InstallError> {
    let scope = locate(store, m);
    if scope.can_attach() {
        return Ok(scope);
    }
    Err(InstallError::NotItsNetns {
        what: format!(
            "sockets are registered only in the network namespace install `{}` was applied in: {}",
            m.name,
            scope.problem(m).unwrap_or_default()
        ),
    })
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
    crate::fault::point(&format!("insert socket {socket} into slot {slot}"));
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
        origin: Some(found.origin.clone()),
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
    register_found(store, m, true)
}

/// Before a new generation `target` attaches or swaps in any program: empties the
/// slots only it holds that something left a socket in, then fills every empty slot
/// of `target` whose socket is found by address. Returns a line per socket
/// registered (those still missing are said after the commit).
pub(super) fn fill_before_attach(
    store: &Store,
    old: Option<&Manifest>,
    target: &Manifest,
) -> Vec<String> {
    if let Ok(map) = SlotMap::open(&store.keep_path(&target.name, SOCKETS_MAP)) {
        for (name, &slot) in &target.socket_slots {
            let held_before = old.is_some_and(|m| m.socket_slots.values().any(|&s| s == slot));
            if !held_before && matches!(map.cookie(slot), Ok(Some(_))) {
                crate::fault::point(&format!("empty stale slot {slot} for socket {name}"));
                let _ = map.remove(slot);
            }
        }
    }
    register_found(store, target, false)
}

/// After a roll back of `target` over `old`: empties the slots only `target` held and
/// forgets their registrations, so no slot outside the committed generation holds a
/// socket.
pub(super) fn forget_uncommitted(
    store: &Store,
    name: &str,
    old: Option<&Manifest>,
    target: &Manifest,
) {
    let Some(old) = old else { return };
    let committed: std::collections::BTreeSet<u32> = old.socket_slots.values().copied().collect();
    let dropped: Vec<u32> = target
        .socket_slots
        .values()
        .copied()
        .filter(|s| !committed.contains(s))
        .collect();
    if dropped.is_empty() {
        return;
    }
    if let Ok(map) = SlotMap::open(&store.keep_path(name, SOCKETS_MAP)) {
        for &slot in &dropped {
            if matches!(map.cookie(slot), Ok(Some(_))) {
                crate::fault::point(&format!("empty uncommitted slot {slot}"));
                let _ = map.remove(slot);
            }
        }
    }
    let mut registry: Registry = store.registry(name).unwrap_or_default();
    let before = registry.len();
    registry.retain(|_, r| !dropped.contains(&r.slot));
    if registry.len() != before {
        let _ = store.write_registry(name, &registry);
    }
}

/// Registers, by address, every declared socket of `m` whose slot is empty (after
/// taking out a socket the declaration does not trust); says which were registered,
/// which were taken out, and (with `all`) which are missing or refused.
fn register_found(store: &Store, m: &Manifest, all: bool) -> Vec<String> {
    let Ok(map) = SlotMap::open(&store.keep_path(&m.name, SOCKETS_MAP)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Sockets are looked for in the install's namespace, never in another one.
    let _in = match enter(store, m) {
        Ok(guard) => guard,
        Err(e) => {
            out.push(format!(
                "sockets not looked for: {}",
                crate::error_text::error_chain(&e)
            ));
            return out;
        }
    };
    let mut registry: Registry = store.registry(&m.name).unwrap_or_default();
    for decl in &m.snapshot.sockets {
        let Some(&slot) = m.socket_slots.get(&decl.name) else {
            continue;
        };
        let recorded = registry.get(&decl.name).map(|r| (r.cookie, r.local.port()));
        if let Some(line) = evict_untrusted(&map, decl, slot, recorded) {
            out.push(line);
            if registry.remove(&decl.name).is_some() {
                let _ = store.write_registry(&m.name, &registry);
            }
        }
        if !matches!(map.cookie(slot), Ok(None)) {
            continue;
        }
        let line = register_one(store, m, decl, slot);
        registry = store.registry(&m.name).unwrap_or_default();
        if all || line.as_ref().is_ok() {
            out.push(line.unwrap_or_else(|e| e));
        }
    }
    out
}

/// Looks for declared socket `decl` by address and puts it into `slot`: `Ok` with
/// what was registered, `Err` with why not.
fn register_one(
    store: &Store,
    m: &Manifest,
    decl: &SocketMeta,
    slot: u32,
) -> Result<String, String> {
    let Some(addr) = decl.addr else {
        return Err(format!(
            "socket {}: declared without an address, so nothing registers it but `sockc register {} --pid PID`; until then redirects to it drop",
            decl.name, decl.name
        ));
    };
    let want = wanted(decl);
    match discovery::find(&want, &decl.accepts()) {
        Ok(Some(found)) => {
            match put(store, m, &decl.name, slot, &found, How::Address) {
                Ok((r, _)) => Ok(format!("socket {}: registered, {r}", decl.name)),
                Err(e) => Err(format!(
                    "socket {}: found on {addr} but not registered: {}",
                    decl.name,
                    crate::error_text::error_chain(&e)
                )),
            }
        }
        Ok(None) => Err(match &decl.cgroup {
            Some(cgroup) => format!(
                "socket {}: nothing is bound to {} {addr} yet; redirects to it drop (and count) until the service listens there in cgroup {cgroup}, which registers it",
                decl.name, decl.proto
            ),
            None => format!(
                "socket {}: nothing is bound to {} {addr} yet; redirects to it drop (and count) until a socket is registered: start the service, then `sockc register {}` (or `sockc repair`)",
                decl.name, decl.proto, decl.name
            ),
        }),
        Err(e) => Err(format!(
            "socket {}: not registered: {}",
            decl.name,
            crate::error_text::error_chain(&e)
        )),
    }
}

/// What each declared socket's slot holds, with its drop counters (the maps are on
/// bpffs) and, when the caller is in the install's namespace (`looked`), who owns the
/// socket there (sock_diag answers for the caller's namespace only).
pub fn slots(store: &Store, m: &Manifest, looked: bool) -> Vec<SlotStatus> {
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
                Err(e) => SlotState::Unreadable(crate::error_text::error_chain(e)),
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
                    Err(e) => SlotState::Unreadable(crate::error_text::error_chain(&e)),
                },
            };
            let (dropped_unregistered, dropped_refused) = drops.get(i).copied().unwrap_or((0, 0));
            let owner = match (&state, looked) {
                (SlotState::Registered { cookie, .. }, true) => {
                    let recorded = registry
                        .get(&decl.name)
                        .filter(|r| r.cookie == *cookie)
                        .map(|r| r.local.port());
                    Some(slot_owner(decl, *cookie, recorded))
                }
                // Not looked for: the namespace's own drift line says why.
                _ => None,
            };
            Some(SlotStatus {
                socket: decl.name.clone(),
                declared: decl.declaration(),
                bindings: m
                    .snapshot
                    .programs
                    .iter()
                    .filter(|p| p.hook == sockc_compiler::hooks::HookKind::SkLookup)
                    .flat_map(|p| p.rules.iter())
                    .filter(|r| r.socket.as_deref() == Some(decl.name.as_str()))
                    .map(|r| format!("line {}: {}", r.line, r.text))
                    .collect(),
                slot,
                state,
                dropped_unregistered,
                dropped_refused,
                owner_unknown: owner.clone().and_then(Result::err),
                owner: owner.and_then(Result::ok),
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
/// generation's slots and declarations (`old`): a name declared as before keeps its
/// slot; a new name, or one declared differently, takes the lowest slot that no
/// installed name holds (the installed programs may still use theirs until the swap).
/// Only when every other slot is taken does a changed declaration keep its slot, and a
/// new name take the lowest slot of a name this generation drops (either is emptied at
/// commit and filled after).
pub fn assign_slots(
    old: (&BTreeMap<String, u32>, &[SocketMeta]),
    sockets: &[SocketMeta],
) -> BTreeMap<String, u32> {
    let (old_slots, old_decls) = old;
    let same_as_before = |s: &SocketMeta| old_decls.iter().any(|o| o == s);
    let mut out: BTreeMap<String, u32> = sockets
        .iter()
        .filter(|s| same_as_before(s))
        .filter_map(|s| old_slots.get(&s.name).map(|&slot| (s.name.clone(), slot)))
        .collect();
    let mut taken: std::collections::BTreeSet<u32> = old_slots.values().copied().collect();
    let max = sockc_compiler::bpf::maps::SOCKETS_MAX;
    let mut next = 0u32;
    let mut waiting = Vec::new();
    let pending: Vec<&SocketMeta> = sockets
        .iter()
        .filter(|s| !out.contains_key(&s.name))
        .collect();
    for s in pending {
        while taken.contains(&next) {
            next += 1;
        }
        if next >= max {
            waiting.push(s);
            continue;
        }
        taken.insert(next);
        out.insert(s.name.clone(), next);
    }
    // Every slot is held. A changed declaration keeps its own slot first, then a new
    // name takes the lowest slot no name of this generation holds (a dropped name's):
    // either is emptied at commit and filled after.
    let (own, new): (Vec<_>, Vec<_>) = waiting
        .into_iter()
        .partition(|s| old_slots.contains_key(&s.name));
    for s in own {
        out.insert(s.name.clone(), old_slots[&s.name]);
    }
    let held: std::collections::BTreeSet<u32> = out.values().copied().collect();
    let mut free = (0..max).filter(|k| !held.contains(k));
    for s in new {
        let slot = free
            .next()
            .expect("a file declares at most SOCKETS_MAX sockets");
        out.insert(s.name.clone(), slot);
    }
    out
}

/// The slot of each socket of `sockets`, in their order (what the programs are loaded
/// with).
pub fn slots_in_order(slots: &BTreeMap<String, u32>, sockets: &[SocketMeta]) -> Vec<u32> {
    sockets.iter().map(|s| slots[&s.name]).collect()
}

/// [`clear_stale`] before `target` is committed over the committed manifest `old`
/// (`None`: none, nothing to empty).
pub(super) fn clear_stale_over(
    store: &Store,
    old: Option<&Manifest>,
    target: &Manifest,
) -> Vec<String> {
    let Some(old) = old else {
        return Vec::new();
    };
    crate::fault::point("empty stale socket slots");
    clear_stale(
        store,
        &target.name,
        (&old.socket_slots, &old.snapshot.sockets),
        (&target.socket_slots, &target.snapshot.sockets),
    )
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
            owner: None,
        }
    }

    /// Names keep their slots; new names take the lowest slots that no installed name
    /// holds (a name that is going away keeps its slot reserved).
    #[test]
    fn names_keep_their_slots_and_new_names_fill_gaps() {
        let first = assign_slots((&BTreeMap::new(), &[]), &[decl("a"), decl("b"), decl("c")]);
        assert_eq!(
            first,
            BTreeMap::from([("a".into(), 0), ("b".into(), 1), ("c".into(), 2)])
        );
        // b goes, d comes, order changes: a and c keep 0 and 2; d may not take b's 1
        // while b's socket can still be in use.
        let all = [decl("a"), decl("b"), decl("c"), decl("d"), decl("e")];
        let second = assign_slots((&first, &all), &[decl("c"), decl("d"), decl("a")]);
        assert_eq!(
            second,
            BTreeMap::from([("a".into(), 0), ("c".into(), 2), ("d".into(), 3)])
        );
        // Next time b is long gone: e takes 1.
        let third = assign_slots(
            (&second, &all),
            &[decl("e"), decl("a"), decl("c"), decl("d")],
        );
        assert_eq!(third["e"], 1);
        assert_eq!(slots_in_order(&third, &[decl("d"), decl("e")]), vec![3, 1]);
    }

    /// A name declared differently takes a fresh slot, so the new programs never look
    /// into the slot the old socket leaves; declared as before, it keeps its own.
    #[test]
    fn a_changed_declaration_takes_a_fresh_slot() {
        let at = |port: u16| SocketMeta {
            addr: Some(format!("127.0.0.1:{port}").parse().unwrap()),
            ..decl("proxy")
        };
        let first = assign_slots((&BTreeMap::new(), &[]), &[at(8080), decl("b")]);
        assert_eq!(first["proxy"], 0);
        let moved = assign_slots((&first, &[at(8080), decl("b")]), &[at(8081), decl("b")]);
        assert_eq!(
            moved,
            BTreeMap::from([("proxy".into(), 2), ("b".into(), 1)])
        );
        let back = assign_slots((&moved, &[at(8081), decl("b")]), &[at(8080), decl("b")]);
        assert_eq!(back["proxy"], 0, "slot 0 was emptied at the last commit");
        let same = assign_slots((&back, &[at(8080), decl("b")]), &[at(8080), decl("b")]);
        assert_eq!(same, back);
    }

    /// With every slot held (a full file, one name renamed), the new name takes the
    /// slot of the name that went, never one past the map (slot 1024 was given: its
    /// registration failed with E2BIG and its redirects dropped for good).
    #[test]
    fn a_new_name_in_a_full_map_takes_the_slot_of_a_name_that_went() {
        let max = sockc_compiler::bpf::maps::SOCKETS_MAX;
        let names: Vec<SocketMeta> = (0..max).map(|i| decl(&format!("s{i}"))).collect();
        let first = assign_slots((&BTreeMap::new(), &[]), &names);
        let mut renamed = names.clone();
        renamed[5] = decl("t5");
        let second = assign_slots((&first, &names), &renamed);
        assert_eq!(second["t5"], 5, "{:?}", second.get("t5"));
        assert!(second.values().all(|&k| k < max));
        let distinct: std::collections::BTreeSet<_> = second.values().collect();
        assert_eq!(distinct.len(), second.len(), "one slot each");
        // A new name first in the file, one name dropped and one declared anew later:
        // the changed one keeps its slot, the new one takes the dropped one's.
        let at = |name: &str, port: u16| SocketMeta {
            addr: Some(format!("127.0.0.1:{port}").parse().unwrap()),
            ..decl(name)
        };
        let mut third = vec![decl("new")];
        third.extend(names.iter().filter(|s| s.name != "s900").cloned());
        let changed = third.iter().position(|s| s.name == "s3").unwrap();
        third[changed] = at("s3", 9999);
        let slots = assign_slots((&first, &names), &third);
        assert_eq!(
            (slots["new"], slots["s3"]),
            (900, 3),
            "{:?}",
            (slots["new"], slots["s3"])
        );
        let distinct: std::collections::BTreeSet<_> = slots.values().collect();
        assert_eq!(distinct.len(), slots.len(), "one slot each");
    }
}
