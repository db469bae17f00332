//! Why a socket was not found or not accepted: one variant per refusal, each message
//! a sentence the user can act on that names the socket and what was found there.
//!
//! Invariant: a failed system call is carried as the `#[source]` of its variant (so
//! `error_chain` prints the errno), never flattened into the message.

use std::{fmt::Write, io, net::SocketAddr, path::PathBuf};

use super::{proto_name, Accepts, Owner, SockProto, Wanted};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "{wanted} declares no address, so it cannot be found by address: register it \
         with `sockc register NAME --pid PID` or by socket activation"
    )]
    NoAddress { wanted: Wanted },
    #[error("cannot list the sockets bound to port {port} (sock_diag)")]
    Diag {
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}", path.display())]
    Proc {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what} failed")]
    Sys {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{fd} is not a socket ({target})")]
    NotSocket { fd: String, target: String },
    #[error(
        "the descriptor is an {family} socket: sk_lookup steers only to IPv4 and IPv6 sockets"
    )]
    NotInet { family: String },
    #[error(
        "the socket lives in another network namespace (cookie {socket}) than the \
         install's (cookie {here}): only a socket of the namespace the rules were applied \
         to (`sockc apply --netns`) can be registered; run the service there"
    )]
    OtherNamespace { socket: u64, here: u64 },
    #[error("declared {wanted}, but the socket is {found}")]
    WrongProto { wanted: Wanted, found: String },
    #[error(
        "tcp {local} is bound but not listening (state {state}): sk_lookup can only \
         steer to a listening TCP socket"
    )]
    NotListening {
        local: SocketAddr,
        state: &'static str,
    },
    #[error(
        "the UDP socket on {local} is connected to {peer}: sk_lookup can only steer to \
         unconnected UDP sockets"
    )]
    Connected { local: SocketAddr, peer: SocketAddr },
    #[error("the {} socket is not bound to any address", proto_name(*proto))]
    NotBound { proto: SockProto },
    #[error(
        "declared {wanted}, an IPv6 address, but the socket on {local} is IPv4: IPv6 \
         traffic cannot be steered to an IPv4 socket"
    )]
    NeedsV6 { wanted: Wanted, local: SocketAddr },
    #[error(
        "declared {wanted}, an IPv4 address, but the socket on {local} is IPv6-only \
         (IPV6_V6ONLY): IPv4 traffic cannot be steered to it; turn IPV6_V6ONLY off in \
         the service or declare its IPv6 address"
    )]
    V6Only { wanted: Wanted, local: SocketAddr },
    #[error("declared {wanted}, but the socket is bound to {local}")]
    AddressMismatch { wanted: Wanted, local: SocketAddr },
    #[error(
        "nothing is bound to {wanted} itself, but the {} socket on {by} receives its \
         traffic: declare `{} {by}`, or bind the service to {}",
        proto_name(wanted.proto),
        proto_name(wanted.proto),
        wanted.addr.map_or(String::new(), |a| a.to_string())
    )]
    Covered { wanted: Wanted, by: SocketAddr },
    #[error(
        "{wanted} is bound (socket inode {inode}), but no process has it open (it may \
         be held by the kernel only){}",
        unreadable_note(*unreadable)
    )]
    NoOwner {
        wanted: Wanted,
        inode: u64,
        unreadable: usize,
    },
    #[error(
        "the socket on {local}{} is not one the declaration lets be registered: {why}; \
         it accepts only {accepts}: {}",
        held_by(holder.as_ref()),
        remedy(accepts)
    )]
    Untrusted {
        local: SocketAddr,
        holder: Option<Owner>,
        why: String,
        accepts: Box<Accepts>,
        /// `SO_REUSEPORT` is set on it (see [`SocketError::UntrustedGroup`]).
        reuseport: bool,
        /// Its owner's uid, when it could be read.
        uid: Option<u32>,
    },
    #[error(
        "the SO_REUSEPORT group on {local} has a member the declaration does not trust \
         ({}{why}), and steering to the group would reach it; it accepts only {accepts}: {}",
        member.as_ref().map(|m| format!("{m}: ")).unwrap_or_default(),
        remedy(accepts)
    )]
    UntrustedGroup {
        local: SocketAddr,
        member: Option<Owner>,
        why: String,
        accepts: Box<Accepts>,
    },
    #[error("there is no process {pid}")]
    NoProcess {
        pid: u32,
        #[source]
        source: io::Error,
    },
    #[error("process {pid} ({comm}) has no fd {fd}")]
    NoFd {
        pid: u32,
        comm: String,
        fd: i32,
        #[source]
        source: io::Error,
    },
    #[error(
        "process {pid} ({comm}) owns it but taking its descriptor needs CAP_SYS_PTRACE, \
         or the same user id and no Yama ptrace restriction (pidfd_getfd: EPERM)"
    )]
    Ptrace {
        pid: u32,
        comm: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "several sockets match {wanted}: {}, and they are not one SO_REUSEPORT group; \
         pass --fd",
        owners_text(sockets)
    )]
    Ambiguous { wanted: Wanted, sockets: Vec<Owner> },
    #[error(
        "process {pid} ({comm}) has no socket that fits {wanted}{}",
        refusals_text(refused)
    )]
    NoMatch {
        pid: u32,
        comm: String,
        wanted: Wanted,
        /// Each socket of the process and why it does not fit.
        refused: Vec<(i32, SocketError)>,
    },
    #[error("not started by socket activation: {var} is not set")]
    NotActivated { var: &'static str },
    #[error("{var}={value:?} is not valid: {why}")]
    BadListenEnv {
        var: &'static str,
        value: String,
        why: String,
    },
    #[error(
        "LISTEN_PID is {listen_pid}, but this is process {ours}: the descriptors were \
         passed to another process (systemd passes them to ExecStartPost= commands only \
         with PassFileDescriptorsToExec=yes, systemd 256 or later)"
    )]
    ListenPidMismatch { listen_pid: u32, ours: u32 },
    #[error(
        "LISTEN_PIDFDID is {listen}, but this process's pidfd is {ours}: the descriptors \
         were passed to an earlier process with the same pid"
    )]
    ListenPidfdMismatch { listen: u64, ours: u64 },
    #[error("LISTEN_FDS={n}, but fd {fd} is not open")]
    ListenFdClosed {
        n: i32,
        fd: i32,
        #[source]
        source: io::Error,
    },
    #[error(
        "no passed descriptor fits socket `{name}` ({wanted}){}",
        listen_refusals_text(refused)
    )]
    NoListenMatch {
        name: String,
        wanted: Wanted,
        /// Each candidate descriptor, its name in `LISTEN_FDNAMES`, and why it does not
        /// fit.
        refused: Vec<(i32, Option<String>, SocketError)>,
    },
    #[error(
        "several passed descriptors fit socket `{name}` ({wanted}): fd {}; name the \
         right one `{name}` (FileDescriptorName= in the socket unit)",
        fds.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(" and fd ")
    )]
    AmbiguousListen {
        name: String,
        wanted: Wanted,
        fds: Vec<i32>,
    },
}

/// What a refused socket would need, for the end of a refusal.
fn remedy(accepts: &Accepts) -> &'static str {
    match accepts {
        Accepts::Cgroup(_) => {
            "start the service in that cgroup: a socket keeps the cgroup it was created \
             in, so moving a process there, or passing it a socket made elsewhere, does \
             not make the socket the cgroup's"
        }
        Accepts::Owner(_) => {
            "run the service as such a user, or declare who may own the socket (`owner \
             user \"NAME\"`, `owner uid N`, `owner group \"NAME\"`) or the service's cgroup \
             (`cgroup \"PATH\"`)"
        }
    }
}

/// ` (fd 3 of PID 99 (nginx))`, or nothing.
fn held_by(holder: Option<&Owner>) -> String {
    holder.map(|o| format!(" ({o})")).unwrap_or_default()
}

fn unreadable_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "; the descriptors of 1 process could not be read (that needs \
              CAP_SYS_PTRACE, or the process's user id)"
            .to_string(),
        n => format!(
            "; the descriptors of {n} processes could not be read (that needs \
             CAP_SYS_PTRACE, or the processes' user id)"
        ),
    }
}

/// `fd 3 and fd 7 of PID 99 (nginx), fd 4 of PID 120 (nginx)`.
fn owners_text(owners: &[Owner]) -> String {
    let mut groups: Vec<(u32, &str, Vec<i32>)> = Vec::new();
    for o in owners {
        match groups.iter_mut().find(|g| g.0 == o.pid) {
            Some(g) => g.2.push(o.fd),
            None => groups.push((o.pid, &o.comm, vec![o.fd])),
        }
    }
    groups
        .iter()
        .map(|(pid, comm, fds)| {
            let fds: Vec<String> = fds.iter().map(|f| format!("fd {f}")).collect();
            format!("{} of PID {pid} ({comm})", fds.join(" and "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn refusals_text(refused: &[(i32, SocketError)]) -> String {
    if refused.is_empty() {
        return ": it has no sockets".to_string();
    }
    let mut out = String::new();
    for (fd, e) in refused {
        let _ = write!(out, "; fd {fd}: {e}");
    }
    out
}

fn listen_refusals_text(refused: &[(i32, Option<String>, SocketError)]) -> String {
    let mut out = String::new();
    for (fd, name, e) in refused {
        match name {
            Some(n) => {
                let _ = write!(out, "; fd {fd} ({n}): {e}");
            }
            None => {
                let _ = write!(out, "; fd {fd}: {e}");
            }
        }
    }
    out
}
