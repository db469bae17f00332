//! Socket discovery: finding and checking the socket a rule file declares (`socket NAME = tcp|udp
//! ADDR:PORT`), so an sk_lookup program can steer traffic to it through a socket map.
//! Three ways in, one check:
//!
//! - [`find`]: by address, in the calling thread's network namespace — sock_diag lists
//!   the sockets bound to the declared port ([`diag`]), the one bound to the declared
//!   address is picked, its inode leads to a process holding it (`/proc/*/fd`), and
//!   `pidfd_getfd` gives us our own descriptor of it ([`owner`]);
//! - [`from_process`]: a given descriptor of a given process (`sockc register NAME
//!   --pid PID [--fd N]`), or the one socket of that process that fits;
//! - [`from_listen_fds`]: systemd socket activation (`LISTEN_FDS`, [`listen_fds`]).
//!
//! Every descriptor any of them returns has passed [`check`](fn@check) (module
//! [`check`](mod@check)) and the declaration's trust check ([`origin`]: the socket was
//! created in the declared cgroup, or belongs to an owner it names — root without
//! either).
//!
//! Invariant: a [`Found`] holds our own duplicate of a socket that, when it was
//! checked, lived in the calling thread's network namespace, was of the declared
//! protocol, was listening (TCP) or unconnected (UDP), and was bound to the declared
//! address — exactly what `bpf_sk_assign` from sk_lookup accepts —, and that the
//! declaration trusts (its [`Found::origin`]). Nothing here changes
//! the process that owns the socket, nor the socket (but see [`owner`] for what
//! receiving a socket does under cgroup v1).
//!
//! Decisions (each enforced in one place, named here):
//!
//! - **Dual stack** ([`check::serves`]). sk_lookup may hand IPv4 traffic to an IPv6
//!   socket whose `IPV6_V6ONLY` is off (`bpf_sk_assign` refuses only an IPv4 socket for
//!   IPv6 traffic, and an IPv6-only socket for IPv4 traffic). So an IPv4 declaration
//!   `A:P` is met by an IPv4 socket bound to `A:P`, by a dual-stack IPv6 socket bound
//!   to the mapped `[::ffff:A]:P`, and — only when `A` is `0.0.0.0` — by a dual-stack
//!   socket bound to `[::]:P` (the wildcard that receives `0.0.0.0:P`'s traffic). An
//!   IPv6 declaration is met only by an IPv6 socket bound to exactly that address. A
//!   socket bound to a wildcard never meets a specific declaration: [`find`] names it
//!   ([`SocketError::Covered`]) so the user can declare what the service really binds.
//!   (An IPv6 socket bound to a specific, unmapped address is IPv6-only whatever it
//!   asked: the kernel sets `IPV6_V6ONLY` at such a bind. So only `[::]` and mapped
//!   binds are ever dual-stack.)
//! - **Reuseport** (`pick`). A socket in a `SO_REUSEPORT` group stands for its group:
//!   after the program selects it, the kernel's reuseport selection picks the member.
//!   So several matching sockets that all have `SO_REUSEPORT` set are one answer (the
//!   first by owner pid and fd, `reuseport: true`); several without it (UDP with
//!   `SO_REUSEADDR`) are an error naming them all. Sockets the declaration does not
//!   trust are left out first (another user's UDP socket sharing the port with
//!   `SO_REUSEADDR` cannot block a registration), but a group with an untrusted
//!   `SO_REUSEPORT` member on the address is refused whole
//!   ([`SocketError::UntrustedGroup`]): steering to the group would reach that member.
//!   (The kernel lets only sockets of one uid into a group, so under an `owner uid`
//!   check every member passes or none does; a cgroup check can tell members apart.)
//! - **Descriptors shared by processes** (forked workers): the same socket (one
//!   inode) in several processes is one socket; [`find`] takes it from the lowest pid
//!   that holds it.
//! - **Socket activation** ([`listen_fds`]) follows `sd_listen_fds(3)`: `LISTEN_PID`
//!   must be set and equal our pid (`LISTEN_PIDFDID`, when set, must equal our pidfd's
//!   inode); descriptors named like the socket (`LISTEN_FDNAMES`) are the only
//!   candidates when there are any, otherwise every passed descriptor is.
//! - **Another protocol on the address** is not an error for [`find`]: a TCP and a UDP
//!   socket on one port are normal (DNS), and the declared one may start later.

use std::{
    fmt,
    net::SocketAddr,
    os::fd::{AsFd, OwnedFd},
};

pub use sockc_compiler::{metadata::Accepts, syntax::ast::SockProto};

pub mod check;
pub mod diag;
mod error;
mod find;
pub mod listen_fds;
pub mod origin;
pub mod owner;
mod process;

pub use check::{check, Checked};
pub use error::SocketError;
pub use find::find;
pub use listen_fds::from_listen_fds;
pub use process::from_process;

/// What a declaration asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub proto: SockProto,
    /// `None` for a declaration without an address: such a socket can be registered
    /// (by process or socket activation) but not found.
    pub addr: Option<SocketAddr>,
}

impl Wanted {
    pub fn new(proto: SockProto, addr: Option<SocketAddr>) -> Wanted {
        Wanted { proto, addr }
    }
}

impl From<&sockc_compiler::ir::Socket> for Wanted {
    fn from(s: &sockc_compiler::ir::Socket) -> Wanted {
        Wanted {
            proto: s.proto,
            addr: s.addr.map(|(ip, port)| SocketAddr::new(ip, port)),
        }
    }
}

impl fmt::Display for Wanted {
    /// `tcp 127.0.0.1:8080`, `udp [::1]:53`, `tcp (no address)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Some(a) => write!(f, "{} {a}", proto_name(self.proto)),
            None => write!(f, "{} (no address)", proto_name(self.proto)),
        }
    }
}

/// `tcp` or `udp`, as the language writes it.
pub fn proto_name(p: SockProto) -> &'static str {
    match p {
        SockProto::Tcp => "tcp",
        SockProto::Udp => "udp",
    }
}

/// The process a socket was taken from, and the descriptor number it has there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub fd: i32,
    /// `/proc/PID/comm` when it was taken (`?` if it could not be read).
    pub comm: String,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fd {} of PID {} ({})", self.fd, self.pid, self.comm)
    }
}

/// A socket that passed [`check`](fn@check): our own descriptor of it, and what it is.
#[derive(Debug)]
pub struct Found {
    /// Our own duplicate (close-on-exec) of the service's socket.
    pub fd: OwnedFd,
    /// `SO_COOKIE`: the kernel's id of the socket, what a socket map reports back.
    pub cookie: u64,
    /// Where it is bound (`getsockname`).
    pub local: SocketAddr,
    pub proto: SockProto,
    /// Where it came from, when it was taken from another process.
    pub owner: Option<Owner>,
    /// For IPv6 sockets, `IPV6_V6ONLY`.
    pub v6only: Option<bool>,
    /// `SO_REUSEPORT`: the socket stands for its reuseport group.
    pub reuseport: bool,
    /// What made it: the owner and cgroup its declaration trusts.
    pub origin: origin::Origin,
}

impl Found {
    fn new(fd: OwnedFd, c: Checked, owner: Option<Owner>, admitted: origin::Admitted) -> Found {
        Found {
            fd,
            cookie: c.cookie,
            local: c.local,
            proto: c.proto,
            owner,
            v6only: c.v6only,
            reuseport: c.reuseport,
            origin: admitted.0,
        }
    }

    /// The checked facts again (without the descriptor).
    pub fn checked(&self) -> Checked {
        Checked {
            cookie: self.cookie,
            local: self.local,
            proto: self.proto,
            v6only: self.v6only,
            reuseport: self.reuseport,
        }
    }
}

/// Checks `fd` against the declaration `wanted` ([`check`](fn@check)) and its trust
/// `accepts` ([`origin::admit`]): the socket as a [`Found`], or why it is refused.
pub(crate) fn accept(
    fd: OwnedFd,
    wanted: &Wanted,
    accepts: &Accepts,
    owner: Option<Owner>,
) -> Result<Found, SocketError> {
    let checked = check(fd.as_fd(), wanted)?;
    match origin::admit(
        fd.as_fd(),
        checked.proto,
        checked.local,
        checked.cookie,
        accepts,
    ) {
        Ok(admitted) => Ok(Found::new(fd, checked, owner, admitted)),
        Err(refused) => Err(SocketError::Untrusted {
            local: checked.local,
            holder: owner,
            why: refused.why,
            accepts: Box::new(accepts.clone()),
            reuseport: checked.reuseport,
            uid: refused.uid,
        }),
    }
}

/// After `pick` chose a reuseport group: refused when a refusal among the other
/// candidates is an untrusted member of that group: a reuseport socket on the same
/// address whose owner is the chosen one's, or unknown (the kernel puts sockets of
/// one uid only in a group, so another user's is in a group of its own, which a
/// redirect to the chosen socket never reaches).
pub(crate) fn no_untrusted_member<'e>(
    chosen: &Found,
    refusals: impl IntoIterator<Item = &'e SocketError>,
) -> Result<(), SocketError> {
    if !chosen.reuseport {
        return Ok(());
    }
    for e in refusals {
        if let SocketError::Untrusted {
            local,
            holder,
            why,
            accepts,
            reuseport: true,
            uid,
        } = e
        {
            let other_group = *local != chosen.local || uid.is_some_and(|u| u != chosen.origin.uid);
            if other_group {
                continue;
            }
            return Err(SocketError::UntrustedGroup {
                local: *local,
                member: holder.clone(),
                why: why.clone(),
                accepts: accepts.clone(),
            });
        }
    }
    Ok(())
}

/// One answer from several sockets that all fit (see the module docs, "Reuseport"):
/// the only one, or the first (by owner pid and fd) of a reuseport group. Otherwise
/// gives them all back, sorted, for the caller to name in its error. `found` must not
/// be empty, and must not hold the same socket twice.
pub(crate) fn pick(mut found: Vec<Found>) -> Result<Found, Vec<Found>> {
    assert!(!found.is_empty(), "pick needs at least one socket");
    found.sort_by_key(|f| f.owner.as_ref().map(|o| (o.pid, o.fd)));
    if found.len() == 1 || found.iter().all(|f| f.reuseport) {
        return Ok(found.swap_remove(0));
    }
    Err(found)
}
