//! `from_listen_fds`: a child process started the way systemd starts a
//! socket-activated service — descriptors at 3, 4, …, `LISTEN_FDS`, `LISTEN_PID` set
//! by the child itself (`sh -c 'export LISTEN_PID=$$; exec …'`, as systemd sets it
//! after forking), `LISTEN_FDNAMES` when named. The child is this test binary running
//! only [`listen_fds_child`], which prints what `from_listen_fds` answered.

use std::{
    os::fd::{OwnedFd, RawFd},
    process::{Command, Stdio},
};

use sockc_runtime::discovery::from_listen_fds;
use socket2::Socket;

use super::{
    find::run,
    lab::{cookie, tcp_listener, udp, with_fds, Opts},
    root, wanted,
};

const CHILD: &str = "SOCKC_SOCKETS_LISTEN_FDS_CHILD";
const MARK: &str = "SOCKC-CHILD ";

/// The name libtest lists [`listen_fds_child`] under: its module path in the test
/// binary (the crate's own name left out).
fn child_test_name() -> String {
    match module_path!().split_once("::") {
        Some((_, path)) => format!("{path}::listen_fds_child"),
        None => "listen_fds_child".to_string(),
    }
}

/// Not a test of its own: the child of the tests below (it does nothing unless
/// started by them, with `SOCKC_SOCKETS_LISTEN_FDS_CHILD=NAME DECLARATION`). Prints
/// `ok COOKIE LOCAL` or `err DEBUG | DISPLAY` on one line.
#[test]
fn listen_fds_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let (name, decl) = spec.split_once(' ').expect("NAME DECLARATION");
    match from_listen_fds(name, &wanted(decl), &root()) {
        Ok(f) => println!("{MARK}ok {} {}", f.cookie, f.local),
        Err(e) => println!("{MARK}err {e:?} | {e}"),
    }
}

/// How the child gets `LISTEN_PID`.
enum Pid {
    /// Its own pid, as systemd sets it.
    Own,
    /// Another process's.
    Of(u32),
    Unset,
}

/// Runs the child with `socks` at 3, 4, …, `LISTEN_FDS` their count, names if given,
/// asking for `spec` (`NAME DECLARATION`); returns the child's answer line.
fn child(socks: Vec<Socket>, names: Option<&str>, pid: Pid, spec: &str) -> String {
    child_with(socks, names, pid, spec, &[])
}

/// [`child`] with more environment variables.
fn child_with(
    socks: Vec<Socket>,
    names: Option<&str>,
    pid: Pid,
    spec: &str,
    env: &[(&str, &str)],
) -> String {
    let n = socks.len();
    let fds: Vec<(RawFd, OwnedFd)> = socks
        .into_iter()
        .enumerate()
        .map(|(i, s)| (3 + i as RawFd, s.into()))
        .collect();
    let exe = std::env::current_exe().unwrap();
    let child_test = child_test_name();
    let test_args = [
        "--exact",
        child_test.as_str(),
        "--nocapture",
        "--test-threads=1",
    ];
    let mut cmd = match pid {
        Pid::Own => {
            let mut c = Command::new("sh");
            c.args(["-c", "export LISTEN_PID=$$; exec \"$0\" \"$@\""])
                .arg(&exe)
                .args(test_args);
            c
        }
        Pid::Of(p) => {
            let mut c = Command::new(&exe);
            c.args(test_args).env("LISTEN_PID", p.to_string());
            c
        }
        Pid::Unset => {
            let mut c = Command::new(&exe);
            c.args(test_args).env_remove("LISTEN_PID");
            c
        }
    };
    cmd.env(CHILD, spec)
        .env("LISTEN_FDS", n.to_string())
        .env_remove("LISTEN_PIDFDID")
        .env_remove("LISTEN_FDNAMES")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(names) = names {
        cmd.env("LISTEN_FDNAMES", names);
    }
    cmd.envs(env.iter().copied());
    let copies = with_fds(&mut cmd, fds);
    let out = cmd.output().expect("run the child");
    drop(copies);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}");
    stdout
        .lines()
        .find_map(|l| l.split_once(MARK).map(|(_, answer)| answer))
        .unwrap_or_else(|| panic!("no answer from the child:\n{stdout}"))
        .to_string()
}

/// The named descriptor is picked: fd 4 of three, named `proxy` in LISTEN_FDNAMES
/// (the others: a UDP socket named `dns`, a TCP listener named `admin` that would also
/// fit a declaration without address); the answer is that socket (its cookie).
#[test]
fn picks_the_named_descriptor() {
    run(|| {
        let proxy = tcp_listener("127.0.0.1:8080", Opts::default());
        let c = cookie(&proxy);
        let socks = vec![
            udp("127.0.0.1:5353", Opts::default()),
            proxy,
            tcp_listener("127.0.0.1:9090", Opts::default()),
        ];
        let got = child(socks, Some("dns:proxy:admin"), Pid::Own, "proxy tcp");
        assert_eq!(got, format!("ok {c} 127.0.0.1:8080"));
    });
}

/// Without names, the descriptor bound to the declared address is picked among
/// several listeners.
#[test]
fn picks_by_address_without_names() {
    run(|| {
        let want = tcp_listener("127.0.0.1:8080", Opts::default());
        let c = cookie(&want);
        let socks = vec![tcp_listener("127.0.0.1:8081", Opts::default()), want];
        let got = child(socks, None, Pid::Own, "proxy tcp 127.0.0.1:8080");
        assert_eq!(got, format!("ok {c} 127.0.0.1:8080"));
    });
}

/// A descriptor named like the socket but of the wrong protocol is refused with its
/// reason; the other (unnamed-for-it) descriptors are not considered.
#[test]
fn named_descriptor_that_does_not_fit_is_refused() {
    run(|| {
        let socks = vec![
            udp("127.0.0.1:8080", Opts::default()),
            tcp_listener("127.0.0.1:8080", Opts::default()),
        ];
        let got = child(
            socks,
            Some("proxy:other"),
            Pid::Own,
            "proxy tcp 127.0.0.1:8080",
        );
        assert!(got.starts_with("err NoListenMatch"), "{got}");
        assert!(
            got.contains("fd 3 (proxy): declared tcp 127.0.0.1:8080, but the socket is udp"),
            "{got}"
        );
        assert!(!got.contains("fd 4"), "{got}");
    });
}

/// LISTEN_PID of another process (here: the test's): refused, naming both pids.
#[test]
fn listen_pid_of_another_process_is_refused() {
    run(|| {
        let ours = std::process::id();
        let socks = vec![tcp_listener("127.0.0.1:8080", Opts::default())];
        let got = child(socks, None, Pid::Of(ours), "proxy tcp 127.0.0.1:8080");
        assert!(got.starts_with("err ListenPidMismatch"), "{got}");
        assert!(
            got.contains(&format!("LISTEN_PID is {ours}, but this is process")),
            "{got}"
        );
    });
}

/// LISTEN_PIDFDID (systemd 258) that is not the inode of a pidfd of the child (the
/// descriptors were meant for an earlier process with the same pid): refused, naming
/// the child's own pidfd inode. The right LISTEN_PID alone is not enough then.
#[test]
fn listen_pidfdid_of_another_process_is_refused() {
    run(|| {
        let socks = vec![tcp_listener("127.0.0.1:8080", Opts::default())];
        let got = child_with(
            socks,
            None,
            Pid::Own,
            "proxy tcp 127.0.0.1:8080",
            &[("LISTEN_PIDFDID", "1")],
        );
        assert!(
            got.starts_with("err ListenPidfdMismatch { listen: 1, ours: "),
            "{got}"
        );
    });
}

/// Without LISTEN_PID the process was not socket-activated.
#[test]
fn listen_pid_unset_is_not_activation() {
    run(|| {
        let socks = vec![tcp_listener("127.0.0.1:8080", Opts::default())];
        let got = child(socks, None, Pid::Unset, "proxy tcp 127.0.0.1:8080");
        assert!(got.starts_with("err NotActivated"), "{got}");
    });
}

/// Two passed listeners that both fit a declaration without address, neither named
/// for it: an error naming both descriptors.
#[test]
fn two_fitting_descriptors_are_ambiguous() {
    run(|| {
        let socks = vec![
            tcp_listener("127.0.0.1:8080", Opts::default()),
            tcp_listener("127.0.0.1:8081", Opts::default()),
        ];
        let got = child(socks, None, Pid::Own, "proxy tcp");
        assert!(got.starts_with("err AmbiguousListen"), "{got}");
        assert!(got.contains("fd 3 and fd 4"), "{got}");
    });
}
