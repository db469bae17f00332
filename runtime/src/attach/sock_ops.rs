//! sock_ops on a cgroup: the program that puts a sockmap group's TCP sockets into its
//! socket map, attached with a cgroup link (`BPF_LINK_CREATE` on the cgroup directory)
//! pinned like XDP's, swapped with `BPF_LINK_UPDATE`, taken off with
//! `BPF_LINK_DETACH` ([`super::link`]).
//!
//! Before it attaches, it refuses a cgroup where another tool's sock_ops program
//! already puts sockets into a socket map: such a program runs for the cgroup's
//! sockets too (directly or from an ancestor cgroup), and a socket can run one socket
//! map's verdict programs only; whichever inserts second gets `EBUSY`, and two tools
//! redirecting the same sockets is how connections stall (see the research notes). A
//! program is this install's when every socket map it uses is one of the install's
//! own (pinned in the install's directory).
//!
//! Every cgroup link (this hook's and the cgroup blocks', [`cgroup_link`]) is refused
//! where the nearest cgroup at or above its own with programs of its attach type holds
//! them without multi: the kernel runs a parent's programs for a cgroup with programs
//! of its own only when they are multi, so a link below a `BPF_F_ALLOW_OVERRIDE`
//! program would switch that program off for the cgroup (another tool's drop would
//! pass), and an exclusive one refuses the link with a bare `EPERM`. Invariant: a
//! sockc link never changes which of another tool's programs run.

use std::{
    fs::File,
    os::fd::{AsFd, BorrowedFd},
    path::Path,
};

use aya_obj::generated::{
    bpf_link_info, bpf_link_type, bpf_map_type, BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE,
};

use super::{
    link::{self, LinkType, NewLink},
    AttachError, AttachMode, AttachPoint, Expected, LinkState,
};
use crate::sys;

/// The sock_ops link type (cgroup links): a sockmap group's program (`fills_verdict_maps`: it puts
/// connections into a socket map whose verdict programs then run for them) or an
/// sk_lookup registrar (it puts listening sockets into the sk_lookup socket map, which
/// runs no verdict program: it never holds a connection another tool could want).
pub struct SockOps {
    pub fills_verdict_maps: bool,
}

/// Opens the cgroup directory an attach text names (`O_RDONLY | O_DIRECTORY`): a
/// path, or a systemd unit's cgroup as it is now ([`crate::cgroup::dir_of`]).
pub fn open_cgroup(attach_to: &str) -> Result<File, AttachError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = crate::cgroup::dir_of(attach_to);
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(&path)
        .map_err(|source| AttachError::OpenCgroup {
            path: path.display().to_string(),
            source,
        })
}

/// A sock_ops program of another tool that fills a socket map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    pub prog_id: u32,
    pub name: String,
    pub map_id: u32,
}

/// The sock_ops programs that run for `cgroup`'s sockets (its own and its
/// ancestors') and put them into a socket map that is not one of the maps pinned in
/// `install_dir`.
pub fn foreign_socket_map_fillers(
    cgroup: &File,
    install_dir: &Path,
) -> std::io::Result<Vec<Foreign>> {
    let ours = install_map_ids(install_dir);
    let attach_type = sockc_compiler::hooks::HookKind::SockOps.spec().attach_type as u32;
    let mut out = Vec::new();
    let registrar = sockc_compiler::hooks::HookKind::SkLookupRegister
        .spec()
        .symbol_prefix;
    for id in sys::prog_query(cgroup.as_fd(), attach_type, true)? {
        let Ok(fd) = sys::prog_fd_by_id(id) else {
            continue; // gone meanwhile
        };
        let info = sys::prog_info(fd.as_fd())?;
        // sockc's sk_lookup registrars insert listening sockets only, into a map with
        // no verdict programs; an accepted connection does not inherit that (the
        // kernel gives a listener's clone its original protocol back), so they never
        // compete for a connection.
        if info.name.starts_with(registrar) {
            continue;
        }
        for map_id in &info.map_ids {
            let is_socket_map = aya::maps::MapInfo::from_id(*map_id)
                .ok()
                .and_then(|m| m.map_type().ok())
                .is_some_and(|t| {
                    matches!(
                        t as u32,
                        x if x == bpf_map_type::BPF_MAP_TYPE_SOCKMAP as u32
                            || x == bpf_map_type::BPF_MAP_TYPE_SOCKHASH as u32
                    )
                });
            if is_socket_map && !ours.contains(map_id) {
                out.push(Foreign {
                    prog_id: id,
                    name: info.name.clone(),
                    map_id: *map_id,
                });
                break;
            }
        }
    }
    Ok(out)
}

/// Ids of the maps pinned in an install's directory (its `keep_*` maps).
fn install_map_ids(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("keep_"))
        .filter_map(|e| aya::maps::MapInfo::from_pin(e.path()).ok())
        .map(|i| i.id())
        .collect()
}

impl LinkType for SockOps {
    const NAME: &'static str = "sock_ops";

    fn create(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        _notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError> {
        let cgroup = open_cgroup(at.attach_to)?;
        if self.fills_verdict_maps {
            let install_dir = link_pin.parent().unwrap_or(Path::new("/"));
            refuse_foreign_fillers(&cgroup, at, install_dir)?;
        }
        cgroup_link(prog, cgroup.as_fd(), at)
    }

    fn attached_notice(&self, at: &AttachPoint<'_>) -> Option<String> {
        Some(if self.fills_verdict_maps {
            format!(
                "{at}: TCP connections of the cgroup opened before now are not in its socket map: \
                 sockmap rules do not apply to them and they go through the TCP/IP stack until \
                 they close (sock_ops sees a connection only when it is established)"
            )
        } else {
            format!(
                "{at}: from now on a declared socket of the cgroup registers itself when it \
                 listens; one listening already was registered by address, or is named missing"
            )
        })
    }

    /// On the cgroup directory of that path as it is now: a cgroup's id is its
    /// directory's inode number (kernfs).
    fn where_linked(
        &self,
        info: &bpf_link_info,
        at: &AttachPoint<'_>,
        _expected: &Expected,
    ) -> LinkState {
        cgroup_link_state(info, at)
    }

    // BPF_PROG_TEST_RUN has no sock_ops support: end-to-end tests only.
}

/// A link of `prog` on the open cgroup, with the row's attach type (multi-attach, as
/// every cgroup link: other programs there keep running beside it), unless another
/// tool's program there or above was attached without multi ([`refuse_not_multi`]).
pub(super) fn cgroup_link(
    prog: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    at: &AttachPoint<'_>,
) -> Result<NewLink, AttachError> {
    let attach_type = at.spec().attach_type as u32;
    refuse_not_multi(cgroup, attach_type, at)?;
    let link = sys::link_create(prog, cgroup, attach_type).map_err(AttachError::LinkCreate)?;
    Ok(NewLink {
        link,
        mode: AttachMode::CgroupLink,
        ifindex: 0,
    })
}

/// Fails when the nearest cgroup at or above `cgroup` with programs of `attach_type`
/// holds them without `BPF_F_ALLOW_MULTI` (see the module docs): the kernel would
/// refuse sockc's link (an exclusive attachment), or accept it and stop running the
/// other program for this cgroup (`BPF_F_ALLOW_OVERRIDE`).
fn refuse_not_multi(
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
    at: &AttachPoint<'_>,
) -> Result<(), AttachError> {
    let open_err = |source| AttachError::OpenCgroup {
        path: at.attach_to.to_string(),
        source,
    };
    let Some(held) = nearest_programs(cgroup, attach_type).map_err(open_err)? else {
        return Ok(());
    };
    if held.flags & BPF_F_ALLOW_MULTI != 0 {
        return Ok(());
    }
    let prog_id = held.ids[0];
    let name = sys::prog_fd_by_id(prog_id)
        .and_then(|fd| sys::prog_info(fd.as_fd()))
        .map_or_else(|_| "?".to_string(), |i| i.name);
    let here = crate::cgroup::dir_of(at.attach_to);
    let here = std::fs::canonicalize(&here).unwrap_or(here);
    let holder = here.ancestors().nth(held.up).unwrap_or(&here);
    Err(AttachError::NotMulti {
        holder: holder.display().to_string(),
        prog_id,
        name,
        overridable: held.flags & BPF_F_ALLOW_OVERRIDE != 0,
    })
}

/// Programs of one attach type on one cgroup, `up` levels above the one asked about.
struct Held {
    up: usize,
    flags: u32,
    ids: Vec<u32>,
}

/// The programs of `attach_type` attached to the nearest cgroup at or above `cgroup`
/// that has any (up to the top of the cgroup v2 mount), with their attach flags; the
/// kernel runs a cgroup's ancestors' programs after its own only when they are multi,
/// so the nearest one is the one a new attachment here changes.
fn nearest_programs(cgroup: BorrowedFd<'_>, attach_type: u32) -> std::io::Result<Option<Held>> {
    let mut dir = File::from(cgroup.try_clone_to_owned()?);
    let mut up = 0;
    loop {
        let (flags, ids) = sys::prog_query_flags(dir.as_fd(), attach_type)?;
        if !ids.is_empty() {
            return Ok(Some(Held { up, flags, ids }));
        }
        let Some(parent) = crate::cgroup::parent_in_mount(&dir)? else {
            return Ok(None);
        };
        (dir, up) = (parent, up + 1);
    }
}

/// Where a cgroup link is, from its link info: on the cgroup directory `at` names as
/// it is now (a cgroup's id is its directory's inode number, kernfs), on another
/// cgroup (that path was removed and made again: the link stayed with the old one,
/// which the kernel detaches when it goes), or nowhere.
pub(super) fn cgroup_link_state(info: &bpf_link_info, at: &AttachPoint<'_>) -> LinkState {
    if info.type_ != bpf_link_type::BPF_LINK_TYPE_CGROUP as u32 {
        return link::unexpected_type(info.type_);
    }
    // SAFETY: reading the union member the kernel filled for a cgroup link.
    let linked = unsafe { info.__bindgen_anon_1.cgroup.cgroup_id };
    let current = std::fs::metadata(crate::cgroup::dir_of(at.attach_to))
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

/// Fails when another tool's sock_ops program already puts `cgroup`'s sockets into a
/// socket map (see the module docs).
fn refuse_foreign_fillers(
    cgroup: &File,
    at: &AttachPoint<'_>,
    install_dir: &Path,
) -> Result<(), AttachError> {
    let foreign = foreign_socket_map_fillers(cgroup, install_dir).map_err(|source| {
        AttachError::OpenCgroup {
            path: at.attach_to.to_string(),
            source,
        }
    })?;
    match foreign.into_iter().next() {
        Some(f) => Err(AttachError::SockmapHeld {
            cgroup: at.attach_to.to_string(),
            prog_id: f.prog_id,
            name: f.name,
            map_id: f.map_id,
        }),
        None => Ok(()),
    }
}
