//! The operations every link-based attachment shares: pin the link, swap its program
//! (`BPF_LINK_UPDATE`), take it off its hook (`BPF_LINK_DETACH`), read which program
//! it runs. XDP and TCX links use them today; netns links (sk_lookup) and cgroup links
//! (sock_ops) are links of the same kind.
//!
//! Invariant: a detach takes the hook off at once, even while another process holds
//! the link open; unpinning alone would only drop a reference, and the kernel would
//! detach later (from a workqueue), or never while the other holder lives.

use std::{os::fd::AsFd, path::Path};

use aya::programs::{
    links::{FdLink, PinnedLink},
    Program,
};

use super::{AttachError, LinkState};
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

/// Which program the link pinned at `path` runs, against `expected`.
pub fn state(path: &Path, expected: u32) -> LinkState {
    let Ok(pinned) = PinnedLink::from_pin(path) else {
        return LinkState::Missing;
    };
    let fd: FdLink = pinned.into();
    match fd.info() {
        Ok(i) if i.program_id() == expected => LinkState::Attached,
        Ok(i) => LinkState::RunsOther {
            prog_id: i.program_id(),
        },
        Err(e) => LinkState::Unreadable(e.to_string()),
    }
}
