//! Link-based attachments, written once: a [`LinkType`] says how to create a link for
//! its attach type and how to tell whether the link is still on the target it names;
//! [`LinkBacked`] makes it a [`Backend`] that pins the link, swaps its program
//! (`BPF_LINK_UPDATE`), takes it off its hook (`BPF_LINK_DETACH`) and reads which
//! program it runs. XDP, sk_lookup (netns links) and sock_ops (cgroup links) are
//! link types; TC uses the same operations for its TCX links beside its clsact filters.
//! Every link is made by `BPF_LINK_CREATE` from the program's descriptor alone (no
//! aya program object, and none of the feature probes aya runs before an attach).
//!
//! Invariants: a link is pinned before `attach` returns, so the attachment outlives
//! the process; a detach takes the hook off at once, even while another process holds
//! the link open (unpinning alone would only drop a reference, and the kernel would
//! detach later, from a workqueue, or never while the other holder lives); the live
//! state is read from the kernel's link info, never from the manifest.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
};

use aya_obj::generated::{bpf_link_info, bpf_link_type};

use super::{
    if_index, AttachError, AttachMode, AttachOptions, AttachPoint, Attached, Attachment, Backend,
    Expected, LinkState,
};
use crate::sys;

/// One attach type whose attachment is a BPF link. See the module docs.
pub trait LinkType: Sync {
    /// The attach type as messages name it (`XDP`).
    const NAME: &'static str;

    /// Attaches the loaded program `prog` at `at` with a new link, which the caller
    /// pins at `link_pin`; notices go to `notices`.
    fn create(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError>;

    /// What to tell the user once a link of this type is attached at `at`.
    fn attached_notice(&self, _at: &AttachPoint<'_>) -> Option<String> {
        None
    }

    /// Where a link that runs the expected program is attached, from its link info:
    /// [`LinkState::Attached`] when it is on the target `at` names as that target is
    /// now.
    fn where_linked(
        &self,
        info: &bpf_link_info,
        at: &AttachPoint<'_>,
        expected: &Expected,
    ) -> LinkState;
}

/// A link just created and not pinned yet.
pub struct NewLink {
    pub link: OwnedFd,
    pub mode: AttachMode,
    /// The interface the link is on (0 for targets that are no interface).
    pub ifindex: u32,
}

/// The [`Backend`] of a [`LinkType`]: every attachment is a link pinned at the
/// program's link pin.
pub struct LinkBacked<T>(pub T);

impl<T: LinkType> Backend for LinkBacked<T> {
    fn attach(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        _opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let new = self.0.create(prog, at, link_pin, notices)?;
        pin(new.link, link_pin)?;
        notices.extend(self.0.attached_notice(at));
        Ok(Attached {
            mode: new.mode,
            attachment: Attachment::Link(link_pin.to_path_buf()),
            ifindex: new.ifindex,
        })
    }

    fn replace(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        match live {
            Attachment::Link(path) => update(path, prog),
            other => Err(AttachError::WrongAttachment {
                hook: at.hook,
                what: other.kind(),
            }),
        }
    }

    fn detach(&self, _at: &AttachPoint<'_>, live: &Attachment, _ours: u32) {
        if let Attachment::Link(path) = live {
            detach(path);
        }
    }

    fn live_state(
        &self,
        at: &AttachPoint<'_>,
        live: &Attachment,
        expected: &Expected,
    ) -> LinkState {
        match live {
            Attachment::Link(path) => state(path, expected, |info| {
                self.0.where_linked(info, at, expected)
            }),
            Attachment::TcFilter(f) => LinkState::FilterNotOurs {
                filter: *f,
                prog_id: None,
            },
            Attachment::Map(_) => {
                LinkState::Unreadable(format!("{} is not attached to a map", T::NAME))
            }
        }
    }
}

/// Pins `link` at `path` (replacing a stale pin of that name) so that the attachment
/// outlives this process.
pub fn pin(link: OwnedFd, path: &Path) -> Result<(), AttachError> {
    let _ = std::fs::remove_file(path);
    sys::obj_pin(link.as_fd(), path).map_err(|source| AttachError::PinFd {
        path: path.to_path_buf(),
        source,
    })
}

/// Makes the link pinned at `path` run `prog` from now on, in one atomic step.
pub fn update(path: &Path, prog: BorrowedFd<'_>) -> Result<(), AttachError> {
    let link = sys::obj_get(path).map_err(|source| AttachError::OpenLink {
        path: path.to_path_buf(),
        source,
    })?;
    sys::link_update(link.as_fd(), prog, None).map_err(AttachError::Update)
}

/// Detaches the hook behind the link pinned at `path`, then removes the pin.
pub fn detach(path: &Path) {
    if let Ok(fd) = sys::obj_get(path) {
        let _ = sys::link_detach(fd.as_fd());
    }
    let _ = std::fs::remove_file(path);
}

/// What the link pinned at `path` does, against what the manifest expects: it must run
/// the expected program, and be where `linked` says it should be.
pub fn state(
    path: &Path,
    expected: &Expected,
    linked: impl FnOnce(&bpf_link_info) -> LinkState,
) -> LinkState {
    let fd = match sys::obj_get(path) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LinkState::Missing,
        Err(e) => return LinkState::Unreadable(e.to_string()),
    };
    let info = match sys::link_info(fd.as_fd()) {
        Ok(i) => i,
        Err(e) => return LinkState::Unreadable(e.to_string()),
    };
    if info.prog_id != expected.prog_id {
        return LinkState::RunsOther {
            prog_id: info.prog_id,
        };
    }
    linked(&info)
}

/// Whether an XDP or TCX link is on the interface `at` names as it is now (and on the
/// index recorded at attach, when there is one).
pub fn on_interface(info: &bpf_link_info, at: &AttachPoint<'_>, expected: &Expected) -> LinkState {
    let linked = match info.type_ {
        // SAFETY (both): reading the union member the kernel filled for this link type.
        t if t == bpf_link_type::BPF_LINK_TYPE_XDP as u32 => unsafe {
            info.__bindgen_anon_1.xdp.ifindex
        },
        t if t == bpf_link_type::BPF_LINK_TYPE_TCX as u32 => unsafe {
            info.__bindgen_anon_1.tcx.ifindex
        },
        t => return unexpected_type(t),
    };
    let current = if_index(at.attach_to);
    if linked == 0 {
        LinkState::Detached
    } else if Some(linked) != current || (expected.ifindex != 0 && linked != expected.ifindex) {
        LinkState::OtherInterface { linked, current }
    } else {
        LinkState::Attached
    }
}

/// Whether the link pinned at `path` runs program `prog_id` on some target (an
/// interface, a namespace, a cgroup), wherever that is: what can be known of a link
/// whose namespace sockc cannot enter. Behind a dispatcher (a slot pinned beside the
/// link), the program is the one in the slot.
pub fn attached_somewhere(path: &Path, prog_id: u32) -> bool {
    let Ok(fd) = sys::obj_get(path) else {
        return false;
    };
    let Ok(info) = sys::link_info(fd.as_fd()) else {
        return false;
    };
    let slot = super::dispatcher::slot_pin(path);
    let runs = match super::dispatcher::held(&slot) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => info.prog_id == prog_id,
        held => held.is_ok_and(|id| id == Some(prog_id)),
    };
    if !runs {
        return false;
    }
    // SAFETY (every arm): reading the union member the kernel filled for this link
    // type.
    unsafe {
        match info.type_ {
            t if t == bpf_link_type::BPF_LINK_TYPE_XDP as u32 => {
                info.__bindgen_anon_1.xdp.ifindex != 0
            }
            t if t == bpf_link_type::BPF_LINK_TYPE_TCX as u32 => {
                info.__bindgen_anon_1.tcx.ifindex != 0
            }
            t if t == bpf_link_type::BPF_LINK_TYPE_NETNS as u32 => {
                info.__bindgen_anon_1.netns.netns_ino != 0
            }
            t if t == bpf_link_type::BPF_LINK_TYPE_CGROUP as u32 => {
                info.__bindgen_anon_1.cgroup.cgroup_id != 0
            }
            _ => false,
        }
    }
}

/// The state of a link whose info is of another link type than its hook's.
pub fn unexpected_type(link_type: u32) -> LinkState {
    LinkState::Unreadable(format!("unexpected link type {link_type}"))
}
