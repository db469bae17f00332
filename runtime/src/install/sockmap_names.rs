//! Named sockets of sockmap blocks: `redirect ... to sock NAME [ingress]` sends a
//! message out of (or, with `ingress`, into the receive queue of) the socket registered
//! under NAME in the cgroup's socket map, under the key whose slot is a hash of the
//! name (`sockc_compiler::ir::sockmap::named_slot`). A redirect to a name with nothing
//! registered drops the message and counts it at the rule.
//!
//! [`register`] puts a connected TCP socket there, in the socket map of every sockmap
//! group of the install whose rules name it; [`unregister`] takes it out. The socket
//! joins the map like any other: it runs the map's programs from then on (a socket can
//! be in the maps of one group only: a second group's insert fails with `EBUSY`). A
//! socket leaves the map by itself when it closes.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use sockc_compiler::{bpf::lower::sockmap::key, ir::sockmap::MapRole};

use super::InstallError;
use crate::{
    store::{Manifest, Store},
    sys,
};

/// The socket maps of `m` whose rules redirect to `socket`.
fn maps_naming<'m>(m: &'m Manifest, socket: &str) -> Vec<&'m str> {
    m.snapshot
        .durable
        .iter()
        .filter(|d| d.role == MapRole::Sockets && d.named.iter().any(|n| n == socket))
        .map(|d| d.map.as_str())
        .collect()
}

fn manifest(store: &Store, install: &str) -> Result<Manifest, InstallError> {
    store
        .manifest(install)?
        .ok_or_else(|| InstallError::NotInstalled(install.to_string()))
}

/// Registers the connected TCP socket `fd` as `socket` in every socket map of install
/// `install` whose rules name it; returns those maps (none: no rule names it).
pub fn register(
    store: &Store,
    install: &str,
    socket: &str,
    fd: BorrowedFd<'_>,
) -> Result<Vec<String>, InstallError> {
    let m = manifest(store, install)?;
    let mut done = Vec::new();
    for map in maps_naming(&m, socket) {
        let path = store.keep_path(install, map);
        let map_fd = sys::obj_get(&path).map_err(|source| InstallError::Io {
            path: path.clone(),
            source,
        })?;
        // The map's values are 8 bytes: the socket's descriptor on the way in.
        let value = (fd.as_raw_fd() as u64).to_ne_bytes();
        sys::map_update(map_fd.as_fd(), &key::named(socket), &value, 0).map_err(|source| {
            InstallError::SetUpdate {
                map: map.to_string(),
                what: "insert",
                source,
            }
        })?;
        done.push(map.to_string());
    }
    Ok(done)
}

/// Takes `socket` out of every socket map of install `install` that names it.
pub fn unregister(store: &Store, install: &str, socket: &str) -> Result<(), InstallError> {
    let m = manifest(store, install)?;
    for map in maps_naming(&m, socket) {
        let path = store.keep_path(install, map);
        let map_fd = sys::obj_get(&path).map_err(|source| InstallError::Io {
            path: path.clone(),
            source,
        })?;
        sys::map_delete(map_fd.as_fd(), &key::named(socket)).map_err(|source| {
            InstallError::SetUpdate {
                map: map.to_string(),
                what: "remove",
                source,
            }
        })?;
    }
    Ok(())
}
