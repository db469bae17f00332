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
//! The attachment is [`Attachment::Map`], the map's pin; the live state is read from
//! the map (`BPF_PROG_QUERY`, or the slot's program id).

use std::{os::fd::AsFd, path::Path};

use aya::programs::{Program, ProgramError, SkSkb};
use aya_obj::{generated::bpf_prog_type, programs::SkSkbKind};

use super::{
    AttachError, AttachMode, AttachOptions, AttachPoint, Attached, Attachment, Backend, Expected,
    LinkState,
};
use crate::{sys, RunResult};

/// Socket map verdict programs (the dispatchers).
pub struct Dispatcher;

/// A sockmap block's program, in its program array's slot 0.
pub struct Slot;

/// Loads an sk_msg or sk_skb program.
fn load(prog: &mut Program) -> Result<(), ProgramError> {
    match prog {
        Program::SkMsg(p) => p.load(),
        Program::SkSkb(p) => p.load(),
        _ => Err(ProgramError::UnexpectedProgramType),
    }
}

/// Opens an sk_msg or sk_skb program pinned at `path`, as the row of `at` says.
fn open_pinned(at_prog_type: bpf_prog_type, path: &Path) -> Result<Program, ProgramError> {
    match at_prog_type {
        bpf_prog_type::BPF_PROG_TYPE_SK_MSG => {
            aya::programs::SkMsg::from_pin(path).map(Program::SkMsg)
        }
        _ => SkSkb::from_pin(path, SkSkbKind::StreamVerdict).map(Program::SkSkb),
    }
}

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

/// The program ids a socket map runs for the row's attach type.
fn map_programs(at: &AttachPoint<'_>, map: &Path) -> std::io::Result<Vec<u32>> {
    let fd = sys::obj_get(map)?;
    sys::prog_query(fd.as_fd(), at.spec().attach_type as u32, false)
}

/// The state of a map-held attachment from what the map holds.
fn state_of(read: std::io::Result<Option<u32>>, expected: &Expected) -> LinkState {
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => LinkState::Missing,
        Err(e) => LinkState::Unreadable(e.to_string()),
        Ok(None) => LinkState::Vacant,
        Ok(Some(id)) if id == expected.prog_id => LinkState::Attached,
        Ok(Some(prog_id)) => LinkState::RunsOther { prog_id },
    }
}

impl Backend for Dispatcher {
    fn load(&self, prog: &mut Program) -> Result<(), ProgramError> {
        load(prog)
    }

    fn open_pinned(&self, path: &Path) -> Result<Program, ProgramError> {
        // Both dispatchers share this backend; the pin tells which type it is.
        let info = aya::programs::ProgramInfo::from_pin(path)?;
        open_pinned(info.program_type(), path)
    }

    fn attach(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        map: &Path,
        _opts: &AttachOptions,
        _notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        self.replace(prog, at, &Attachment::Map(map.to_path_buf()))?;
        Ok(Attached {
            mode: AttachMode::SockMap,
            attachment: Attachment::Map(map.to_path_buf()),
            ifindex: 0,
        })
    }

    fn replace(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        let map = open_map(map_pin(at, live)?)?;
        sys::prog_attach(
            map.as_fd(),
            prog.fd()?.as_fd(),
            at.spec().attach_type as u32,
        )
        .map_err(AttachError::MapAttach)
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        let Ok(path) = map_pin(at, live) else { return };
        let Ok(map) = sys::obj_get(path) else { return };
        let runs = sys::prog_query(map.as_fd(), at.spec().attach_type as u32, false);
        if runs.is_ok_and(|ids| ids.contains(&ours)) {
            if let Ok(prog) = sys::prog_fd_by_id(ours) {
                let _ = sys::prog_detach(map.as_fd(), prog.as_fd(), at.spec().attach_type as u32);
            }
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
        match map_pin(at, live) {
            Ok(path) => state_of(
                map_programs(at, path).map(|ids| ids.first().copied()),
                expected,
            ),
            Err(e) => LinkState::Unreadable(e.to_string()),
        }
    }

    fn test_run(
        &self,
        _prog: &Program,
        _input: &[u8],
        _repeat: u32,
    ) -> Result<RunResult, ProgramError> {
        // BPF_PROG_TEST_RUN has no sk_msg or sk_skb support: end-to-end tests only.
        Err(ProgramError::UnexpectedProgramType)
    }
}

/// The program id in slot 0 of the program array pinned at `path`.
fn slot_program(path: &Path) -> std::io::Result<Option<u32>> {
    let fd = sys::obj_get(path)?;
    Ok(sys::map_lookup(fd.as_fd(), &0u32.to_ne_bytes(), 4)?
        .map(|v| u32::from_ne_bytes(v[..4].try_into().expect("4 bytes"))))
}

impl Backend for Slot {
    fn load(&self, prog: &mut Program) -> Result<(), ProgramError> {
        load(prog)
    }

    fn open_pinned(&self, path: &Path) -> Result<Program, ProgramError> {
        let info = aya::programs::ProgramInfo::from_pin(path)?;
        open_pinned(info.program_type(), path)
    }

    fn attach(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        array: &Path,
        _opts: &AttachOptions,
        _notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        self.replace(prog, at, &Attachment::Map(array.to_path_buf()))?;
        Ok(Attached {
            mode: AttachMode::TailCall,
            attachment: Attachment::Map(array.to_path_buf()),
            ifindex: 0,
        })
    }

    fn replace(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        let array = open_map(map_pin(at, live)?)?;
        let prog_fd = prog.fd()?;
        let value = (std::os::fd::AsRawFd::as_raw_fd(&prog_fd.as_fd()) as u32).to_ne_bytes();
        sys::map_update(array.as_fd(), &0u32.to_ne_bytes(), &value, 0)
            .map_err(AttachError::MapAttach)
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        let Ok(path) = map_pin(at, live) else { return };
        if slot_program(path).is_ok_and(|id| id == Some(ours)) {
            if let Ok(array) = sys::obj_get(path) {
                let _ = sys::map_delete(array.as_fd(), &0u32.to_ne_bytes());
            }
        }
    }

    fn detach_unrecorded(&self, at: &AttachPoint<'_>, array: &Path, ours: u32) {
        self.detach(at, &Attachment::Map(array.to_path_buf()), ours);
    }

    fn live_state(
        &self,
        at: &AttachPoint<'_>,
        live: &Attachment,
        expected: &Expected,
    ) -> LinkState {
        match map_pin(at, live) {
            Ok(path) => state_of(slot_program(path), expected),
            Err(e) => LinkState::Unreadable(e.to_string()),
        }
    }

    fn test_run(
        &self,
        _prog: &Program,
        _input: &[u8],
        _repeat: u32,
    ) -> Result<RunResult, ProgramError> {
        Err(ProgramError::UnexpectedProgramType)
    }
}
