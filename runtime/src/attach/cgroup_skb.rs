//! A cgroup block's program on its cgroup: `cgroup ingress` or `cgroup egress`
//! (cgroup_skb), `cgroup connect`, `sendmsg` or `bind` (sock_addr, one program per
//! address family, each its own link), attached with a cgroup link (`BPF_LINK_CREATE` on the cgroup directory) pinned in
//! the install, swapped with `BPF_LINK_UPDATE`, taken off with `BPF_LINK_DETACH`
//! ([`super::link`]).
//!
//! A cgroup link is always a multi attachment (the kernel forces `BPF_F_ALLOW_MULTI`
//! for links): every program on the cgroup and its ancestors runs, and any one that
//! drops wins, so sockc's block and another tool's programs (systemd's
//! `IPAddressDeny=`, `IPEgressFilterPath=`) both apply and neither overrides the
//! other; a program attached without multi at or above the cgroup would be
//! overridden, or refuse the link, so sockc refuses to attach there
//! ([`super::sock_ops`]). Invariant: the link is on the cgroup directory the block names as that
//! directory is when it attaches; a directory removed and made again is another
//! cgroup, which `status` reports ([`super::sock_ops::cgroup_link_state`]) and
//! `repair` attaches to anew.
//!
//! A block that names a systemd unit ([`sockc_compiler::hooks::unit`]) also keeps its
//! program pinned beside its link, at the one path that does not change across
//! re-applies ([`program_pin`]): the path sockc's systemd drop-ins give
//! `IPIngressFilterPath=`/`IPEgressFilterPath=` (`BPFProgram=TYPE:PATH` for a
//! socket-call block's programs), which systemd opens and attaches
//! (`BPF_PROG_ATTACH`, multi) to the unit's new cgroup on every start. Invariant: that
//! pin holds the program the link runs; it is renamed over (never missing) when a
//! re-apply swaps the program, and goes when the link goes. A sockc killed between
//! the swap and the pin leaves them apart: the live state says so
//! ([`LinkState::PinStale`]), so recovery and `repair` attach and pin again.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use aya_obj::generated::bpf_link_info;
use sockc_compiler::hooks::unit;

use super::{
    dispatcher::beside,
    link::{LinkBacked, LinkType, NewLink},
    sock_ops::{cgroup_link, cgroup_link_state, open_cgroup},
    AttachError, AttachOptions, AttachPoint, Attached, Attachment, Backend, Expected, LinkState,
};
use crate::sys;

/// Where a unit block's program is pinned for systemd, beside its link pinned at
/// `link_pin`.
pub fn program_pin(link_pin: &Path) -> PathBuf {
    beside(link_pin, "_prog")
}

/// The backend of a cgroup hook's blocks: its cgroup link (`LinkBacked` of a
/// [`LinkType`] on a cgroup, [`CgroupSkb`] for packet blocks), and for a block that
/// names a unit, the program pinned for systemd beside it (see the module docs). Any
/// cgroup attach type's backend wrapped in it lets its blocks name units.
pub struct UnitPinned<T>(pub LinkBacked<T>);

impl<T: LinkType> Backend for UnitPinned<T> {
    fn attach(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let attached = self.0.attach(prog, at, link_pin, opts, notices)?;
        if take_over_from_systemd(at, link_pin) {
            notices.push(format!(
                "{at}: the program systemd attached from sockc's drop-in is now on sockc's link"
            ));
        }
        pin_for_systemd(prog, at, link_pin)?;
        Ok(attached)
    }

    /// A unit that is not running has no cgroup: its program is pinned for systemd,
    /// which attaches it from the drop-in when the unit starts.
    fn ahead_of_target(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
    ) -> Result<bool, AttachError> {
        if unit::of_attach(at.attach_to).is_none() {
            return Ok(false);
        }
        // Its slice must be there (cgroup v2 mounted, systemd's tree): a name that
        // leads nowhere is refused as before, not taken for a unit that is stopped.
        let dir = crate::cgroup::dir_of(at.attach_to);
        let slice = dir.parent().map(|p| p.to_string_lossy().into_owned());
        if !slice.is_some_and(|p| super::is_cgroup2(&p)) {
            return Ok(false);
        }
        pin_for_systemd(prog, at, link_pin)?;
        Ok(true)
    }

    fn replace(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        self.0.replace(prog, at, live)?;
        match live {
            Attachment::Link(path) => pin_for_systemd(prog, at, path),
            _ => Ok(()),
        }
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        self.0.detach(at, live, ours);
        if let Attachment::Link(path) = live {
            let _ = std::fs::remove_file(program_pin(path));
        }
    }

    /// Also the program pinned for systemd, when it holds `ours` (an undone attach, or
    /// one that only pinned ahead of a unit that was not running).
    fn detach_unrecorded(&self, at: &AttachPoint<'_>, link_pin: &Path, ours: u32) {
        self.0.detach_unrecorded(at, link_pin, ours);
        if pinned_id(link_pin) == Some(ours) {
            let _ = std::fs::remove_file(program_pin(link_pin));
        }
    }

    fn live_state(
        &self,
        at: &AttachPoint<'_>,
        live: &Attachment,
        expected: &Expected,
    ) -> LinkState {
        let state = self.0.live_state(at, live, expected);
        let (Attachment::Link(path), Some(_)) = (live, unit::of_attach(at.attach_to)) else {
            return state;
        };
        match state {
            LinkState::Detached | LinkState::OtherCgroup { .. }
                if systemd_holds(at, path).is_some() =>
            {
                LinkState::HeldBySystemd
            }
            LinkState::Attached => match pinned_id(path) {
                Some(id) if id == expected.prog_id => state,
                pinned => LinkState::PinStale { pinned },
            },
            _ => state,
        }
    }
}

/// The id of the program pinned for systemd beside `link_pin`, if there is one.
fn pinned_id(link_pin: &Path) -> Option<u32> {
    let prog = sys::obj_get(&program_pin(link_pin)).ok()?;
    sys::prog_info(prog.as_fd()).ok().map(|i| i.id)
}

/// The program pinned for systemd beside `link_pin`, when `at` names a unit and the
/// unit's cgroup as it is now runs it by a plain attachment (`BPF_PROG_ATTACH`, as
/// systemd attaches `IP*FilterPath=` programs), not by a link: its descriptor and
/// the cgroup's.
fn systemd_holds(at: &AttachPoint<'_>, link_pin: &Path) -> Option<(OwnedFd, std::fs::File)> {
    unit::of_attach(at.attach_to)?;
    let prog = sys::obj_get(&program_pin(link_pin)).ok()?;
    let id = sys::prog_info(prog.as_fd()).ok()?.id;
    let cgroup = open_cgroup(at.attach_to).ok()?;
    let attach_type = at.spec().attach_type as u32;
    let attached = sys::prog_query(cgroup.as_fd(), attach_type, false).ok()?;
    // The query lists links' programs and plain attachments alike.
    let runs = attached.iter().filter(|&&a| a == id).count();
    let by_link = usize::from(link_runs_here(link_pin, id, &cgroup));
    (runs > by_link).then_some((prog, cgroup))
}

/// Whether the link pinned at `link_pin` runs program `id` on `cgroup`.
fn link_runs_here(link_pin: &Path, id: u32, cgroup: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(link) = sys::obj_get(link_pin) else {
        return false;
    };
    let Ok(info) = sys::link_info(link.as_fd()) else {
        return false;
    };
    if info.type_ != aya_obj::generated::bpf_link_type::BPF_LINK_TYPE_CGROUP as u32 {
        return false;
    }
    // SAFETY: reading the union member the kernel filled for a cgroup link.
    let on = unsafe { info.__bindgen_anon_1.cgroup.cgroup_id };
    info.prog_id == id && cgroup.metadata().is_ok_and(|m| m.ino() == on)
}

/// Takes the program systemd attached to the unit's cgroup from the drop-in off it,
/// once sockc's link runs there (the link first, so the policy never lapses): the
/// same program twice would count every packet twice. Whether there was one.
fn take_over_from_systemd(at: &AttachPoint<'_>, link_pin: &Path) -> bool {
    let Some((prog, cgroup)) = systemd_holds(at, link_pin) else {
        return false;
    };
    sys::prog_detach(cgroup.as_fd(), prog.as_fd(), at.spec().attach_type as u32).is_ok()
}

/// Pins `prog` at the program pin beside `link_pin` when `at` names a unit: under a
/// temporary name first, then renamed over the old pin, so systemd never finds the
/// path missing (a missing `IP*FilterPath=` pin fails the unit's start).
fn pin_for_systemd(
    prog: BorrowedFd<'_>,
    at: &AttachPoint<'_>,
    link_pin: &Path,
) -> Result<(), AttachError> {
    if unit::of_attach(at.attach_to).is_none() {
        return Ok(());
    }
    let path = program_pin(link_pin);
    let fresh = beside(&path, "_new");
    let _ = std::fs::remove_file(&fresh);
    crate::fault::point(&format!("pin {}", fresh.display()));
    sys::obj_pin(prog, &fresh)
        .and_then(|()| {
            crate::fault::point(&format!("rename it to {}", path.display()));
            std::fs::rename(&fresh, &path)
        })
        .map_err(|source| AttachError::PinFd { path, source })
}

/// The cgroup link type of cgroup blocks (cgroup_skb's directions and sock_addr's
/// calls: the row's attach type says which hook).
pub struct CgroupSkb;

impl LinkType for CgroupSkb {
    const NAME: &'static str = "cgroup_skb";

    fn create(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        _link_pin: &Path,
        _notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError> {
        let cgroup = open_cgroup(at.attach_to)?;
        cgroup_link(prog, cgroup.as_fd(), at)
    }

    fn where_linked(
        &self,
        info: &bpf_link_info,
        at: &AttachPoint<'_>,
        _expected: &Expected,
    ) -> LinkState {
        cgroup_link_state(info, at)
    }
}
