//! `sockc register` and `sockc unregister`: putting a socket into a declared name's
//! slot of an install's socket map (found by address, taken from a process, or handed
//! over by systemd socket activation) and taking it out, after finishing any
//! interrupted work of the install.
//!
//! Invariant: a socket goes into a slot only after it was checked against the
//! declaration in the install's network namespace (`crate::discovery::check`) and
//! passed its trust check (`crate::discovery::origin`: made in the declared cgroup, or
//! owned by whom the declaration names — root without either).

use sockc_compiler::{bpf::maps::SOCKETS_MAP, metadata::SocketMeta};

use super::{
    recover::{recover_for_change, Recovery},
    slot_owner::wanted,
    slot_registry::{enter, put, How, Registration, Registry},
    InstallError,
};
use crate::{
    discovery,
    slot_map::SlotMap,
    store::{Manifest, Store},
};

/// How `sockc register` gets the socket.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    Address,
    Process { pid: u32, fd: Option<i32> },
    ListenFds,
}

/// What [`register`] did.
#[derive(Debug)]
pub struct Registered {
    pub install: String,
    pub registration: Registration,
    /// The cookie of the socket the slot held before, if any.
    pub replaced: Option<u64>,
    pub recovered: Option<Recovery>,
}

/// Puts the socket `source` gives into `socket`'s slot of install `install`, after
/// checking it against the declaration (in the install's network namespace).
pub fn register(
    store: &Store,
    install: &str,
    socket: &str,
    source: Source,
) -> Result<Registered, InstallError> {
    let mut notices = Vec::new();
    let recovered = recover_for_change(store, install, &mut notices)?;
    let m = store
        .manifest(install)?
        .ok_or_else(|| InstallError::NotInstalled(install.to_string()))?;
    let decl = declared(&m, socket)?;
    let slot = m.socket_slots[socket];
    let _in = enter(store, &m)?;
    let want = wanted(decl);
    let accepts = decl.accepts();
    let socket_err = |source| InstallError::Socket {
        socket: socket.to_string(),
        wanted: want.to_string(),
        source: Box::new(source),
    };
    let (found, how) = match source {
        Source::Address => match discovery::find(&want, &accepts).map_err(socket_err)? {
            Some(f) => (f, How::Address),
            None => {
                return Err(InstallError::NothingBound {
                    socket: socket.to_string(),
                    wanted: want.to_string(),
                })
            }
        },
        Source::Process { pid, fd } => (
            discovery::from_process(pid, fd, &want, &accepts).map_err(socket_err)?,
            How::Process,
        ),
        Source::ListenFds => (
            discovery::from_listen_fds(socket, &want, &accepts).map_err(socket_err)?,
            How::SocketActivation,
        ),
    };
    let (registration, replaced) = put(store, &m, socket, slot, &found, how)?;
    Ok(Registered {
        install: install.to_string(),
        registration,
        replaced,
        recovered,
    })
}

fn declared<'a>(m: &'a Manifest, socket: &str) -> Result<&'a SocketMeta, InstallError> {
    m.snapshot
        .sockets
        .iter()
        .find(|s| s.name == socket && m.socket_slots.contains_key(socket))
        .ok_or_else(|| InstallError::UnknownSocket {
            install: m.name.clone(),
            socket: socket.to_string(),
            declared: m.snapshot.sockets.iter().map(|s| s.name.clone()).collect(),
        })
}

/// Takes the socket out of `socket`'s slot; returns its cookie, if one was there.
pub fn unregister(store: &Store, install: &str, socket: &str) -> Result<Option<u64>, InstallError> {
    let mut notices = Vec::new();
    recover_for_change(store, install, &mut notices)?;
    let m = store
        .manifest(install)?
        .ok_or_else(|| InstallError::NotInstalled(install.to_string()))?;
    declared(&m, socket)?;
    let slot = m.socket_slots[socket];
    let map = SlotMap::open(&store.keep_path(install, SOCKETS_MAP))?;
    let was = map.cookie(slot)?;
    // Deleting an empty SOCKMAP slot fails with EINVAL: only a held one is removed.
    if was.is_some() {
        crate::fault::point(&format!("remove socket {socket} from slot {slot}"));
        map.remove(slot)?;
    }
    let mut registry: Registry = store.registry(install)?;
    if registry.remove(socket).is_some() {
        store.write_registry(install, &registry)?;
    }
    Ok(was)
}
