//! Who made a socket, and whether its declaration lets it be registered: the trust
//! check every registration passes, by address, from a process, by socket activation,
//! and again for a socket already in its slot ([`judge`], for `status`, `apply` and
//! `repair`).
//!
//! What is checked is the socket's own record in the kernel, never the process that
//! holds it now: its cgroup (the cgroup v2 it was created in, `INET_DIAG_CGROUP_ID`,
//! fixed at creation: moving the process, or passing the socket by `SCM_RIGHTS` or
//! `pidfd_getfd` to a process of another cgroup, does not change it), its owner
//! (`sock_i_uid`, sock_diag's `idiag_uid`: the creating user; only CAP_CHOWN changes
//! it), and the group of its file (`fstat`: the creator's group, or one its owner is a
//! member of and gave it with `fchown`). Its sock_diag entry is found by `SO_COOKIE`,
//! which is unique for the boot: the socket judged is the one whose descriptor the
//! caller holds and inserts, so nothing can swap it between the check and the insert.
//!
//! A declaration with `cgroup "PATH"` accepts a socket created in that cgroup or one
//! below it (as the kernel runs the cgroup's sock_ops registrar for exactly those),
//! whoever owns it; one with `owner ...` a socket whose uid (or file group, for `gid`
//! and `group`) is in the set; one with neither a socket of uid 0.
//!
//! Invariant: [`admit`] returns an [`Admitted`] only when the kernel reported the
//! socket (by its cookie) and it passes; anything unknown is a refusal.

use std::{
    io,
    net::SocketAddr,
    os::{fd::BorrowedFd, unix::fs::MetadataExt},
    path::Path,
};

use serde::{Deserialize, Serialize};
use sockc_compiler::{metadata::Accepts, syntax::ids::IdKind};

use super::{diag, SockProto};
use crate::cgroup::{self, Lookup};

/// What the kernel says made a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Its owner (`sock_i_uid`).
    pub uid: u32,
    /// The group of its file, when a descriptor or a holder's `/proc/PID/fd` entry was
    /// at hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// The id of the cgroup v2 it was created in.
    pub cgroup_id: Option<u64>,
    /// That cgroup's directory, when it was found (`None`: removed since, or the
    /// hierarchy is too large to look through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

impl Origin {
    /// `uid 65534 (nobody), cgroup /sys/fs/cgroup/x`.
    pub fn describe(&self) -> String {
        let mut out = format!("uid {}", named(IdKind::Uid, self.uid));
        if let Some(gid) = self.gid {
            out.push_str(&format!(", gid {}", named(IdKind::Gid, gid)));
        }
        match (&self.cgroup, self.cgroup_id) {
            (Some(path), _) => out.push_str(&format!(", cgroup {path}")),
            (None, Some(id)) => out.push_str(&format!(", cgroup id {id} (no directory has it)")),
            (None, None) => out.push_str(", cgroup not reported by the kernel"),
        }
        out
    }
}

/// `65534 (nobody)`, or the bare number when the host has no name for it.
pub fn named(kind: IdKind, id: u32) -> String {
    let name = match kind {
        IdKind::Uid => uzers::get_user_by_uid(id).map(|u| u.name().to_owned()),
        IdKind::Gid => uzers::get_group_by_gid(id).map(|g| g.name().to_owned()),
    };
    match name {
        Some(n) => format!("{id} ({})", n.to_string_lossy()),
        None => id.to_string(),
    }
}

/// A socket that passed [`admit`]: what made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted(pub Origin);

/// Whether a socket passes its declaration's trust check, and what is known of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judged {
    Passes(Origin),
    /// Why it does not (a sentence), and what made it.
    Fails(Origin, String),
}

/// The sock_diag entry of the socket with `cookie`, among the `proto` sockets bound
/// to `port` in the calling thread's namespace (`None`: not there, or not in a state a
/// dump lists).
pub fn entry(proto: SockProto, port: u16, cookie: u64) -> io::Result<Option<diag::DiagSocket>> {
    Ok(diag::dump(proto, port)?
        .into_iter()
        .find(|s| s.cookie == cookie))
}

/// The origin of the socket sock_diag listed as `e`, with the group of `file` (a
/// descriptor of it, or a `/proc/PID/fd/N` path) when given.
pub fn of_entry(e: &diag::DiagSocket, file: Option<FileOf<'_>>) -> io::Result<Origin> {
    let gid = match file {
        Some(FileOf::Fd(fd)) => Some(super::check::file_gid(fd)?),
        Some(FileOf::Path(p)) => std::fs::metadata(p).ok().map(|m| m.gid()),
        None => None,
    };
    Ok(Origin {
        uid: e.uid,
        gid,
        cgroup_id: e.cgroup_id,
        cgroup: None,
    })
}

/// Where the group of a socket's file is read.
#[derive(Clone, Copy, Debug)]
pub enum FileOf<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a Path),
}

/// Judges `origin` against `accepts`, naming its cgroup's directory on the way (the
/// declared cgroup's subtree is searched for a cgroup declaration; the whole
/// hierarchy otherwise, so `status` can say where the socket was made).
pub fn judge(accepts: &Accepts, mut origin: Origin) -> Judged {
    let Some(id) = origin.cgroup_id else {
        return match accepts {
            Accepts::Cgroup(_) => Judged::Fails(
                origin,
                "the kernel does not say which cgroup it was created in (sock_diag's \
                 INET_DIAG_CGROUP_ID needs Linux 5.7 with cgroup v2)"
                    .to_string(),
            ),
            Accepts::Owner(ids) => judge_owner(ids, origin),
        };
    };
    match accepts {
        Accepts::Cgroup(declared) => match cgroup::find_id(Path::new(declared), id) {
            Ok(Lookup::At(dir)) => {
                origin.cgroup = Some(dir.display().to_string());
                Judged::Passes(origin)
            }
            Ok(Lookup::NotUnder) => {
                origin.cgroup = locate(id);
                let why = match &origin.cgroup {
                    Some(c) => format!("it was created in cgroup {c}, outside {declared}"),
                    None => format!(
                        "it was created in a cgroup (id {id}) that is not {declared} nor \
                         below it (a cgroup removed since, or another hierarchy)"
                    ),
                };
                Judged::Fails(origin, why)
            }
            Ok(Lookup::TooMany) => Judged::Fails(
                origin,
                format!(
                    "{declared} has more than {} cgroups below it to look through",
                    cgroup::WALK_LIMIT
                ),
            ),
            Err(e) => Judged::Fails(origin, format!("cannot look through {declared}: {e}")),
        },
        Accepts::Owner(ids) => {
            origin.cgroup = locate(id);
            judge_owner(ids, origin)
        }
    }
}

fn judge_owner(ids: &sockc_compiler::syntax::ids::IdSet, origin: Origin) -> Judged {
    let (id, what) = match ids.kind {
        IdKind::Uid => (Some(origin.uid), "it belongs to uid"),
        IdKind::Gid => (origin.gid, "its file belongs to gid"),
    };
    match id {
        Some(id) if ids.contains(id) => Judged::Passes(origin),
        Some(id) => {
            let why = format!("{what} {}", named(ids.kind, id));
            Judged::Fails(origin, why)
        }
        None => Judged::Fails(origin, "the group of its file cannot be read".to_string()),
    }
}

/// The directory of cgroup `id` anywhere in the hierarchy, if it is found.
fn locate(id: u64) -> Option<String> {
    let root = cgroup::cgroup2_root()?;
    match cgroup::find_id(&root, id) {
        Ok(Lookup::At(dir)) => Some(dir.display().to_string()),
        _ => None,
    }
}

/// Admits socket `fd` (bound to `local`, with `cookie`) under `accepts`, or says why
/// not.
pub fn admit(
    fd: BorrowedFd<'_>,
    proto: SockProto,
    local: SocketAddr,
    cookie: u64,
    accepts: &Accepts,
) -> Result<Admitted, Refused> {
    let unreadable = |e: io::Error| Refused {
        why: format!("who made it cannot be read (sock_diag: {e})"),
        uid: None,
    };
    let origin = match entry(proto, local.port(), cookie).map_err(unreadable)? {
        Some(e) => of_entry(&e, Some(FileOf::Fd(fd))).map_err(unreadable)?,
        None => {
            return Err(Refused {
                why: "the kernel's socket list (sock_diag) does not show it, so who made it \
                      is unknown"
                    .to_string(),
                uid: None,
            })
        }
    };
    match judge(accepts, origin) {
        Judged::Passes(o) => Ok(Admitted(o)),
        Judged::Fails(o, why) => Err(Refused {
            why,
            uid: Some(o.uid),
        }),
    }
}

/// Why [`admit`] refused a socket, and its owner's uid when it could be read (a
/// reuseport group admits sockets of one uid only).
#[derive(Debug)]
pub struct Refused {
    pub why: String,
    pub uid: Option<u32>,
}

#[cfg(test)]
mod tests {
    use sockc_compiler::syntax::ids::{IdKind, IdSet};

    use super::*;

    fn made_by(uid: u32, gid: Option<u32>) -> Origin {
        Origin {
            uid,
            gid,
            cgroup_id: None,
            cgroup: None,
        }
    }

    /// Without a cgroup id, an owner set still judges (uid, or the file's group); a
    /// cgroup declaration cannot, and refuses.
    #[test]
    fn owners_are_judged_and_the_unknown_is_refused() {
        let root = Accepts::Owner(IdSet::root());
        assert!(matches!(judge(&root, made_by(0, None)), Judged::Passes(_)));
        match judge(&root, made_by(65534, None)) {
            Judged::Fails(_, why) => assert!(why.starts_with("it belongs to uid 65534"), "{why}"),
            other => panic!("{other:?}"),
        }
        let staff = Accepts::Owner(IdSet::new(IdKind::Gid, vec![(50, 50)], "gid 50".into()));
        assert!(matches!(
            judge(&staff, made_by(1000, Some(50))),
            Judged::Passes(_)
        ));
        assert!(matches!(
            judge(&staff, made_by(0, Some(0))),
            Judged::Fails(..)
        ));
        assert!(matches!(judge(&staff, made_by(0, None)), Judged::Fails(..)));
        let cgroup = Accepts::Cgroup("/sys/fs/cgroup/x".into());
        match judge(&cgroup, made_by(0, None)) {
            Judged::Fails(_, why) => assert!(why.contains("INET_DIAG_CGROUP_ID"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
