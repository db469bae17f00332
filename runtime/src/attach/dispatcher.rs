//! Dispatchers: a hook that runs a four-instruction program which tail-calls slot 0
//! of a one-slot program array, with the block's program in that slot. A swap is then
//! one `BPF_MAP_UPDATE_ELEM` of the slot, atomic for every packet, where the hook's own
//! swap cannot be used: a netfilter link's program cannot be swapped at all
//! (`netfilter.rs`), and every XDP attach or link update waits in the kernel for an RCU
//! grace period (`bpf_dispatcher_change_prog`: 5-20 ms on a `CONFIG_HZ=250` kernel),
//! while a slot update waits for none (`xdp.rs`).
//!
//! Pins, from the attachment's link pin `P`: the link(s) at `P` (netfilter adds
//! `P_ip6`), the array at `P_slot`. Invariant: an empty slot makes the dispatcher
//! return the hook's verdict for "nothing here" (XDP_PASS, NF_ACCEPT), so a hook whose
//! slot is empty behaves as if nothing were attached; a pinned link always has its
//! slot filled (the slot is filled before the link is pinned, and a detach takes the
//! link off before the slot's pin goes).

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use aya_obj::generated::{bpf_func_id, bpf_map_type};
use sockc_compiler::{
    bpf::insn::{Insn, Reg},
    hooks::HookSpec,
};

use super::{AttachError, LinkState};
use crate::sys;

const SLOT: [u8; 4] = 0u32.to_ne_bytes();

/// `P` with `suffix` appended: the pins beside a link pin.
pub fn beside(link_pin: &Path, suffix: &str) -> PathBuf {
    let mut p = link_pin.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Where the program array of the attachment pinned at `link_pin` is pinned.
pub fn slot_pin(link_pin: &Path) -> PathBuf {
    beside(link_pin, "_slot")
}

/// A new one-slot program array, empty.
pub fn slot_array(name: &str) -> io::Result<OwnedFd> {
    sys::create_map(bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY, name, 4, 4, 1)
}

/// Loads the dispatcher of `spec`'s program type (and expected attach type, which
/// the array's owner must share with the programs put in its slot): tail-calls slot 0
/// of `array`, returns `empty` when the slot holds nothing.
pub fn load(spec: &HookSpec, array: BorrowedFd<'_>, empty: i32, name: &str) -> io::Result<OwnedFd> {
    let [ld0, ld1] = Insn::ld_map_fd(Reg::R2);
    let code = [
        Insn::new(ld0.code, ld0.dst, ld0.src, 0, array.as_raw_fd()),
        ld1,
        Insn::mov64_imm(Reg::R3, 0),
        Insn::call(bpf_func_id::BPF_FUNC_tail_call as u32),
        Insn::mov64_imm(Reg::R0, empty),
        Insn::exit(),
    ];
    super::load_code(spec.prog_type as u32, spec.attach_type as u32, name, &code)
}

/// Puts `prog` into the slot of `array`: from now on the dispatcher runs it.
pub fn fill(array: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), AttachError> {
    let value = (prog.as_raw_fd() as u32).to_ne_bytes();
    sys::map_update(array, &SLOT, &value, 0).map_err(AttachError::MapAttach)
}

/// Puts `prog` into the slot of the array pinned at `slot_pin`.
pub fn refill(slot_pin: &Path, prog: BorrowedFd<'_>) -> Result<(), AttachError> {
    let array = sys::obj_get(slot_pin).map_err(|source| AttachError::OpenLink {
        path: slot_pin.to_path_buf(),
        source,
    })?;
    fill(array.as_fd(), prog)
}

/// Pins `fd` at `path`, replacing a stale pin of that name.
pub fn pin(fd: BorrowedFd<'_>, path: &Path) -> Result<(), AttachError> {
    let _ = std::fs::remove_file(path);
    sys::obj_pin(fd, path).map_err(|source| AttachError::PinFd {
        path: path.to_path_buf(),
        source,
    })
}

/// The id of the program in slot 0 of the array pinned at `path`.
pub fn held(path: &Path) -> io::Result<Option<u32>> {
    let array = sys::obj_get(path)?;
    Ok(sys::map_lookup(array.as_fd(), &SLOT, 4)?
        .map(|v| u32::from_ne_bytes(v[..4].try_into().expect("4 bytes"))))
}

/// Whether the slot of the array pinned at `path` holds a program other than `ours`:
/// another generation took these pins over, and a detach leaves them alone (a slot
/// that cannot be read, or is empty, is still the install's).
pub fn taken_over(path: &Path, ours: u32) -> bool {
    held(path).is_ok_and(|id| id.is_some_and(|id| id != ours))
}

/// What the slot of the array pinned at `path` says of a hook that should run
/// `prog_id`: the program in it, none, or no array at all.
pub fn slot_state(path: &Path, prog_id: u32) -> LinkState {
    match held(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => LinkState::Missing,
        Err(e) => LinkState::Unreadable(e.to_string()),
        Ok(None) => LinkState::Vacant,
        Ok(Some(id)) if id == prog_id => LinkState::Attached,
        Ok(Some(prog_id)) => LinkState::RunsOther { prog_id },
    }
}

/// Whether program `prog_id` (what a link runs) is a dispatcher of the array pinned at
/// `slot_pin`: it uses that array and no other map.
pub fn dispatches(prog_id: u32, slot_pin: &Path) -> io::Result<bool> {
    let array = sys::obj_get(slot_pin)?;
    let array_id = sys::map_id(array.as_fd())?;
    let prog = sys::prog_fd_by_id(prog_id)?;
    Ok(sys::prog_info(prog.as_fd())?.map_ids == [array_id])
}
