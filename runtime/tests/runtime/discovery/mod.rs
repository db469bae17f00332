//! `sockc_runtime::discovery` against real sockets held by other processes, each test in
//! a network namespace of its own (see `lab.rs`): finding by address (`find.rs`), the
//! refusals (`refusals.rs`), and systemd socket activation (`listen_fds.rs`, whose
//! child process is this test binary).
//!
//! Kernel tests: they need root, skip with a printed SKIP otherwise, and fail under
//! `SOCKC_KERNEL_TESTS=require`.

mod find;
mod lab;
mod listen_fds;
mod refusals;

use sockc_compiler::syntax::ids::IdSet;
use sockc_runtime::discovery::{Accepts, SockProto, Wanted};

/// What a declaration without `cgroup` or `owner` trusts: root's sockets (the tests'
/// services are root's).
pub fn root() -> Accepts {
    Accepts::Owner(IdSet::root())
}

/// `tcp 127.0.0.1:8080` → the declaration's [`Wanted`].
pub fn wanted(text: &str) -> Wanted {
    let (proto, addr) = text.split_once(' ').unwrap_or((text, ""));
    let proto = match proto {
        "tcp" => SockProto::Tcp,
        "udp" => SockProto::Udp,
        p => panic!("proto {p}"),
    };
    let addr = (!addr.is_empty()).then(|| addr.parse().expect("address"));
    Wanted::new(proto, addr)
}

/// The name of the running test, for skip lines.
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("sockets test")
        .to_string()
}
