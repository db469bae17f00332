//! `sockc register`: put a service's socket into an install's socket map, so that
//! sk_lookup rules `redirect ... to sock NAME` reach it. The CLI face of
//! `sockc_runtime::install::register`.
//!
//! Where the socket comes from: `--pid PID [--fd N]` takes it from a process
//! (`pidfd_getfd`, which needs CAP_SYS_PTRACE or the same user); without `--pid`,
//! from systemd socket activation when `LISTEN_FDS` is set (`ExecStartPost=sockc
//! register NAME` with `PassFileDescriptorsToExec=yes`, no ptrace needed), and
//! otherwise found by the declared address in the install's network namespace. Every
//! way checks the socket against the declaration first (protocol, listening or
//! unconnected, family, address, namespace, and whom it trusts: the cgroup the socket
//! was created in, or its owner) and says what does not fit.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use sockc_runtime::install::{self, Source};

use crate::shared::{
    json::{self, sockc_error},
    socket_install::store_and_install,
    stdout::outln,
    store::{fail, Target},
};

#[derive(Args)]
pub struct RegisterArgs {
    /// the socket's name, as the rule file declares it (`socket NAME = tcp ADDR:PORT`)
    pub socket: String,
    #[command(flatten)]
    pub target: Target,
    /// take the socket from this process
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// the process's descriptor number (default: its one socket that fits the
    /// declaration)
    #[arg(long, value_name = "N", requires = "pid")]
    pub fd: Option<i32>,
    /// print the registration as JSON on stdout
    #[arg(short, long)]
    pub json: bool,
}

pub fn run(args: &RegisterArgs) -> ExitCode {
    let (store, name) = match store_and_install("register", &args.target, &args.socket) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let source = match args.pid {
        Some(pid) => Source::Process { pid, fd: args.fd },
        // sd_listen_fds(3): the descriptors are ours only when LISTEN_PID names us (a
        // shell started from an activated service inherits the variables, not the fds).
        None if std::env::var_os("LISTEN_FDS").is_some()
            && std::env::var("LISTEN_PID").ok() == Some(std::process::id().to_string()) =>
        {
            Source::ListenFds
        }
        None => Source::Address,
    };
    let r = match install::register(&store, &name, &args.socket, source) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if let Some(x) = &r.recovered {
        sockc_error!("{name}: {x}");
    }
    if args.json {
        json::emit(json!({
            "name": name,
            "socket": args.socket,
            "registration": r.registration,
            "replaced_cookie": r.replaced,
        }));
    } else {
        outln!(
            "{name}: socket {} registered in slot {}: {}{}",
            args.socket,
            r.registration.slot,
            r.registration,
            match r.replaced {
                Some(c) if c != r.registration.cookie => format!(" (replaced cookie {c})"),
                Some(_) => " (already there)".to_string(),
                None => String::new(),
            }
        );
    }
    ExitCode::SUCCESS
}
