//! The operations every link-based attachment shares: pin the link, swap its program
//! (`BPF_LINK_UPDATE`), take it off its hook (`BPF_LINK_DETACH`), read which program
//! it runs. XDP and TCX links use them today; netns links (sk_lookup) and cgroup links
//! (sock_ops) are links of the same kind.
//!
//! Invariant: a detach takes the hook off at once, even while another process holds
//! the link open; unpinning alone would only drop a reference, and the kernel would
//! detach later (from a workqueue), or never while the other holder lives.

use std::{os::fd::AsFd, path::Path};

use aya::programs::{links::FdLink, Program};
use aya_obj::generated::bpf_link_type;
use sockc_compiler::hooks::Target;

use super::{if_index, AttachError, AttachPoint, Expected, LinkState};
use crate::sys;

/// Pins `link` at `path` (replacing a stale pin of that name) so that the attachment
/// outlives this process.
pub fn pin(link: FdLink, path: &Path) -> Result<(), AttachError> {
    let _ = std::fs::remove_file(path);
    link.pin(path).map_err(|source| AttachError::Pin {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// Makes the link pinned at `path` run `prog` from now on, in one atomic step.
pub fn update(path: &Path, prog: &Program) -> Result<(), AttachError> {
    let link = sys::obj_get(path).map_err(|source| AttachError::OpenLink {
        path: path.to_path_buf(),
        source,
    })?;
    let prog_fd = prog.fd()?;
    sys::link_update(link.as_fd(), prog_fd.as_fd(), None).map_err(AttachError::Update)
}

/// Detaches the hook behind the link pinned at `path`, then removes the pin.
pub fn detach(path: &Path) {
    if let Ok(fd) = sys::obj_get(path) {
        let _ = sys::link_detach(fd.as_fd());
    }
    let _ = std::fs::remove_file(path);
}

/// What the link pinned at `path` does, against what the manifest expects: it must run
/// the expected program and, for an interface hook, be attached to the interface of
/// that name as it is now (the index recorded at attach, when there is one).
pub fn state(path: &Path, at: &AttachPoint<'_>, expected: &Expected) -> LinkState {
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
    match at.spec().target {
        Target::Interface => {}
        // The namespace sockc runs in (the install's, entered by inode): a link whose
        // namespace is gone shows inode 0.
        Target::Netns => {
            let here = crate::netns::current_ino().ok();
            return match super::sk_lookup::linked_netns_ino(&info) {
                Some(0) => LinkState::NetnsGone,
                Some(ino) if here.is_some_and(|h| h as u32 != ino) => LinkState::NotHere,
                Some(_) => LinkState::Attached,
                None => LinkState::Unreadable(format!("unexpected link type {}", info.type_)),
            };
        }
        Target::Cgroup => return cgroup_state(&info, at.attach_to),
        // Maps hold no links.
        Target::SockMap | Target::TailCall => return LinkState::Attached,
    }
    let linked = match info.type_ {
        // SAFETY (both): reading the union member the kernel filled for this link type.
        t if t == bpf_link_type::BPF_LINK_TYPE_XDP as u32 => unsafe {
            info.__bindgen_anon_1.xdp.ifindex
        },
        t if t == bpf_link_type::BPF_LINK_TYPE_TCX as u32 => unsafe {
            info.__bindgen_anon_1.tcx.ifindex
        },
        t => return LinkState::Unreadable(format!("unexpected link type {t}")),
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

/// A cgroup link runs the expected program: is it on the cgroup directory of that
/// path as it is now? A cgroup's id is its directory's inode number (kernfs).
fn cgroup_state(info: &aya_obj::generated::bpf_link_info, path: &str) -> LinkState {
    if info.type_ != bpf_link_type::BPF_LINK_TYPE_CGROUP as u32 {
        return LinkState::Unreadable(format!("unexpected link type {}", info.type_));
    }
    // SAFETY: reading the union member the kernel filled for a cgroup link.
    let linked = unsafe { info.__bindgen_anon_1.cgroup.cgroup_id };
    let current = std::fs::metadata(path)
        .ok()
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    if linked == 0 {
        LinkState::Detached
    } else if Some(linked) != current {
        LinkState::OtherCgroup { linked, current }
    } else {
        LinkState::Attached
    }
}
