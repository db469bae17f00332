//! Programs attached to a sockmap group's maps, which sockc pins in the install's
//! directory and every generation shares (`Store::keep_path`):
//!
//! * [`Dispatcher`]: the socket map's verdict program (`BPF_PROG_ATTACH` of an sk_msg
//!   or sk_skb program to the map for the row's attach type; no link). Attaching again
//!   replaces the map's program in one step; `BPF_PROG_DETACH` takes it off. The
//!   kernel hands a socket the map's programs when the socket goes in, so the map must
//!   run its dispatchers before the first socket does: the dispatchers are attached
//!   before the sock_ops program (the hook table's `companions` order).
//! * [`Slot`]: a sockmap block's program in slot 0 of the program array its
//!   dispatcher tail-calls: attach and replace are one map update (every socket of the
//!   map runs the new program from then on), detach deletes the slot.
//!
//! Both are [`MapHold`]s (put a program in, read which one is held, take it out) and
//! [`MapHeld`] is the one backend over them: attach and replace are the same put,
//! detach takes the program out only while the map holds the install's. The
//! attachment is [`Attachment::Map`], the map's pin; the live state is read from the
//! map (`BPF_PROG_QUERY`, or the slot's program id).

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    path::Path,
};

use super::{
    AttachError, AttachMode, AttachOptions, AttachPoint, Attached, Attachment, Backend, Expected,
    LinkState,
};
use crate::sys;

/// How a map holds a program: what differs between the dispatchers and the slots.
pub trait MapHold: Sync {
    /// The attach mode `status` shows.
    const MODE: AttachMode;

    /// Makes `map` hold `prog` (in place of the program it held, in one step).
    fn put(
        &self,
        map: BorrowedFd<'_>,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
    ) -> io::Result<()>;

    /// The id of the program `map` holds, if any.
    fn held(&self, map: BorrowedFd<'_>, at: &AttachPoint<'_>) -> io::Result<Option<u32>>;

    /// Takes program `prog_id`, which `map` holds, out of it.
    fn take(&self, map: BorrowedFd<'_>, prog_id: u32, at: &AttachPoint<'_>) -> io::Result<()>;
}

/// Socket map verdict programs (the dispatchers): `BPF_PROG_ATTACH` to the map.
pub struct Dispatcher;

impl MapHold for Dispatcher {
    const MODE: AttachMode = AttachMode::SockMap;

    fn put(
        &self,
        map: BorrowedFd<'_>,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
    ) -> io::Result<()> {
        sys::prog_attach(map, prog, at.spec().attach_type as u32)
    }

    fn held(&self, map: BorrowedFd<'_>, at: &AttachPoint<'_>) -> io::Result<Option<u32>> {
        // A socket map runs one program per attach type.
        let ids = sys::prog_query(map, at.spec().attach_type as u32, false)?;
        Ok(ids.first().copied())
    }

    fn take(&self, map: BorrowedFd<'_>, prog_id: u32, at: &AttachPoint<'_>) -> io::Result<()> {
        let prog = sys::prog_fd_by_id(prog_id)?;
        sys::prog_detach(map, prog.as_fd(), at.spec().attach_type as u32)
    }
}

/// A sockmap block's program, in slot 0 of its program array.
pub struct Slot;

const SLOT: [u8; 4] = 0u32.to_ne_bytes();

impl MapHold for Slot {
    const MODE: AttachMode = AttachMode::TailCall;

    fn put(
        &self,
        array: BorrowedFd<'_>,
        prog: BorrowedFd<'_>,
        _at: &AttachPoint<'_>,
    ) -> io::Result<()> {
        let value = (prog.as_raw_fd() as u32).to_ne_bytes();
        sys::map_update(array, &SLOT, &value, 0)
    }

    fn held(&self, array: BorrowedFd<'_>, _at: &AttachPoint<'_>) -> io::Result<Option<u32>> {
        Ok(sys::map_lookup(array, &SLOT, 4)?
            .map(|v| u32::from_ne_bytes(v[..4].try_into().expect("4 bytes"))))
    }

    fn take(&self, array: BorrowedFd<'_>, _prog_id: u32, _at: &AttachPoint<'_>) -> io::Result<()> {
        sys::map_delete(array, &SLOT)
    }
}

/// The [`Backend`] of programs a map holds; the attachment is the map's pin.
pub struct MapHeld<H>(pub H);

/// Loads an sk_msg or sk_skb program.
fn open_map(path: &Path) -> Result<std::os::fd::OwnedFd, AttachError> {
    sys::obj_get(path).map_err(|source| AttachError::OpenLink {
        path: path.to_path_buf(),
        source,
    })
}

fn map_pin<'a>(at: &AttachPoint<'_>, live: &'a Attachment) -> Result<&'a Path, AttachError> {
    match live {
        Attachment::Map(path) => Ok(path),
        other => Err(AttachError::WrongAttachment {
            hook: at.hook,
            what: other.kind(),
        }),
    }
}

impl<H: MapHold> MapHeld<H> {
    /// The id of the program the map pinned at `path` holds.
    fn held_at(&self, at: &AttachPoint<'_>, path: &Path) -> io::Result<Option<u32>> {
        let map = sys::obj_get(path)?;
        self.0.held(map.as_fd(), at)
    }
}

impl<H: MapHold> Backend for MapHeld<H> {
    fn attach(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        map: &Path,
        _opts: &AttachOptions,
        _notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let attachment = Attachment::Map(map.to_path_buf());
        self.replace(prog, at, &attachment)?;
        Ok(Attached {
            mode: H::MODE,
            attachment,
            ifindex: 0,
        })
    }

    fn replace(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        let map = open_map(map_pin(at, live)?)?;
        self.0
            .put(map.as_fd(), prog, at)
            .map_err(AttachError::MapAttach)
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        let Ok(path) = map_pin(at, live) else { return };
        let Ok(map) = sys::obj_get(path) else { return };
        if self
            .0
            .held(map.as_fd(), at)
            .is_ok_and(|id| id == Some(ours))
        {
            let _ = self.0.take(map.as_fd(), ours, at);
        }
    }

    fn detach_unrecorded(&self, at: &AttachPoint<'_>, map: &Path, ours: u32) {
        self.detach(at, &Attachment::Map(map.to_path_buf()), ours);
    }

    fn live_state(
        &self,
        at: &AttachPoint<'_>,
        live: &Attachment,
        expected: &Expected,
    ) -> LinkState {
        let path = match map_pin(at, live) {
            Ok(path) => path,
            Err(e) => return LinkState::Unreadable(e.to_string()),
        };
        match self.held_at(at, path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => LinkState::Missing,
            Err(e) => LinkState::Unreadable(e.to_string()),
            Ok(None) => LinkState::Vacant,
            Ok(Some(id)) if id == expected.prog_id => LinkState::Attached,
            Ok(Some(prog_id)) => LinkState::RunsOther { prog_id },
        }
    }
}
