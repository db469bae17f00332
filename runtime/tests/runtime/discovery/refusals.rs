//! The refusals: each test builds the one situation a check exists for and expects
//! that check's error (by variant and by what it names), by `find` and by
//! `from_process`.

use std::net::SocketAddr;

use sockc_runtime::discovery::{find, from_process, SocketError};

use super::{
    find::run,
    lab::{self, cookie, tcp_bound, tcp_listener, udp, udp_connected, Opts, Service},
    root, wanted,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A TCP socket bound to 127.0.0.1:8080 that never listened is refused, naming its
/// state (CLOSE), by address and by descriptor.
#[test]
fn tcp_bound_but_not_listening() {
    run(|| {
        let svc = Service::hold(vec![(3, tcp_bound("127.0.0.1:8080"))]);
        let w = wanted("tcp 127.0.0.1:8080");
        for e in [
            find(&w, &root()).unwrap_err(),
            from_process(svc.pid, Some(3), &w, &root()).unwrap_err(),
        ] {
            match &e {
                SocketError::NotListening { local, state } => {
                    assert_eq!(*local, addr("127.0.0.1:8080"));
                    assert_eq!(*state, "CLOSE");
                }
                other => panic!("expected NotListening, got {other:?}"),
            }
            assert!(
                e.to_string()
                    .starts_with("tcp 127.0.0.1:8080 is bound but not listening (state CLOSE)"),
                "{e}"
            );
        }
    });
}

/// A UDP socket on 127.0.0.1:5353 connected to 127.0.0.2:53 is refused, naming the
/// peer, by address and by descriptor.
#[test]
fn udp_socket_connected() {
    run(|| {
        let svc = Service::hold(vec![(3, udp_connected("127.0.0.1:5353", "127.0.0.2:53"))]);
        let w = wanted("udp 127.0.0.1:5353");
        for e in [
            find(&w, &root()).unwrap_err(),
            from_process(svc.pid, Some(3), &w, &root()).unwrap_err(),
        ] {
            match &e {
                SocketError::Connected { local, peer } => {
                    assert_eq!(
                        (*local, *peer),
                        (addr("127.0.0.1:5353"), addr("127.0.0.2:53"))
                    );
                }
                other => panic!("expected Connected, got {other:?}"),
            }
            assert!(e.to_string().contains("unconnected UDP"), "{e}");
        }
    });
}

/// Declared udp, a TCP listener there: refused by descriptor (WrongProto naming what
/// is there), and listed with that reason when the process is searched without --fd.
#[test]
fn wrong_protocol() {
    run(|| {
        let svc = Service::hold(vec![(3, tcp_listener("127.0.0.1:5353", Opts::default()))]);
        let w = wanted("udp 127.0.0.1:5353");
        let e = from_process(svc.pid, Some(3), &w, &root()).unwrap_err();
        assert!(matches!(e, SocketError::WrongProto { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "declared udp 127.0.0.1:5353, but the socket is tcp 127.0.0.1:5353"
        );
        match from_process(svc.pid, None, &w, &root()).unwrap_err() {
            SocketError::NoMatch { pid, refused, .. } => {
                assert_eq!(pid, svc.pid);
                assert_eq!(refused.len(), 1);
                assert_eq!(refused[0].0, 3);
                assert!(matches!(refused[0].1, SocketError::WrongProto { .. }));
            }
            other => panic!("expected NoMatch, got {other:?}"),
        }
    });
}

/// A service in another network namespace: its socket is refused by descriptor with
/// both namespace cookies named (and different), and `find` here does not see it.
#[test]
fn socket_in_another_namespace() {
    run(|| {
        let svc = std::thread::scope(|s| {
            s.spawn(|| {
                lab::enter_new_netns();
                Service::hold(vec![(3, tcp_listener("127.0.0.1:8080", Opts::default()))])
            })
            .join()
            .unwrap()
        });
        let w = wanted("tcp 127.0.0.1:8080");
        match from_process(svc.pid, Some(3), &w, &root()).unwrap_err() {
            e @ SocketError::OtherNamespace { socket, here } => {
                assert_ne!(socket, here);
                assert!(e.to_string().contains("sockc apply --netns"), "{e}");
            }
            other => panic!("expected OtherNamespace, got {other:?}"),
        }
        assert!(find(&w, &root()).unwrap().is_none());
    });
}

/// A pid that does not exist (beyond pid_max) is named as such.
#[test]
fn process_that_does_not_exist() {
    run(|| {
        let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        match from_process(pid_max + 1, Some(3), &wanted("tcp 127.0.0.1:8080"), &root()) {
            Err(e @ SocketError::NoProcess { .. }) => {
                assert_eq!(
                    e.to_string(),
                    format!("there is no process {}", pid_max + 1)
                );
            }
            other => panic!("expected NoProcess, got {other:?}"),
        }
    });
}

/// A descriptor that is not a socket (the service's stdin, /dev/null) is named with
/// what it is; a descriptor the process does not have is named as missing.
#[test]
fn descriptor_not_a_socket_or_not_open() {
    run(|| {
        let svc = Service::hold(vec![(3, tcp_listener("127.0.0.1:8080", Opts::default()))]);
        let w = wanted("tcp 127.0.0.1:8080");
        match from_process(svc.pid, Some(0), &w, &root()) {
            Err(e @ SocketError::NotSocket { .. }) => {
                assert_eq!(
                    e.to_string(),
                    format!(
                        "fd 0 of PID {} (sleep) is not a socket (/dev/null)",
                        svc.pid
                    )
                );
            }
            other => panic!("expected NotSocket, got {other:?}"),
        }
        match from_process(svc.pid, Some(42), &w, &root()) {
            Err(SocketError::NoFd { pid, fd, .. }) => assert_eq!((pid, fd), (svc.pid, 42)),
            other => panic!("expected NoFd, got {other:?}"),
        }
        // And the right descriptor is accepted.
        assert!(from_process(svc.pid, Some(3), &w, &root()).is_ok());
    });
}

/// One process with two matching UDP sockets (fd 3 and fd 7, SO_REUSEADDR, no
/// reuseport group): without --fd the error names both; with --fd 7 that one is
/// taken.
#[test]
fn several_matching_descriptors_need_fd() {
    run(|| {
        let o = Opts {
            reuseaddr: true,
            ..Opts::default()
        };
        let a = udp("127.0.0.1:5353", o);
        let b = udp("127.0.0.1:5353", o);
        let b_cookie = cookie(&b);
        let svc = Service::hold(vec![(3, a), (7, b)]);
        let w = wanted("udp 127.0.0.1:5353");
        let e = from_process(svc.pid, None, &w, &root()).unwrap_err();
        assert!(matches!(e, SocketError::Ambiguous { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains(&format!("fd 3 and fd 7 of PID {} (sleep)", svc.pid)),
            "{e}"
        );
        let f = from_process(svc.pid, Some(7), &w, &root()).unwrap();
        assert_eq!(f.cookie, b_cookie);
        assert_eq!(f.owner.unwrap().fd, 7);
    });
}

/// Without --fd, the one socket of a process that fits is taken even when the process
/// holds others (the same socket at two descriptors counts once).
#[test]
fn the_one_fitting_descriptor_is_taken() {
    run(|| {
        let l = tcp_listener("127.0.0.1:8080", Opts::default());
        let c = cookie(&l);
        let again = l.try_clone().unwrap();
        let svc = Service::hold(vec![
            (3, udp("127.0.0.1:5353", Opts::default())),
            (4, l),
            (5, tcp_listener("127.0.0.1:8081", Opts::default())),
            (9, again),
        ]);
        let f = from_process(svc.pid, None, &wanted("tcp 127.0.0.1:8080"), &root()).unwrap();
        assert_eq!(f.cookie, c);
        assert_eq!(f.owner.unwrap().fd, 4);
    });
}

/// The address and family checks by descriptor: another address of the same family
/// (AddressMismatch), an IPv6 declaration for an IPv4 socket (NeedsV6), an IPv4
/// declaration for an IPv6-only socket (V6Only).
#[test]
fn address_and_family_must_fit() {
    run(|| {
        let svc = Service::hold(vec![
            (3, tcp_listener("127.0.0.1:8080", Opts::default())),
            (
                4,
                tcp_listener(
                    "[::]:8081",
                    Opts {
                        v6only: true,
                        ..Opts::default()
                    },
                ),
            ),
        ]);
        let e = from_process(svc.pid, Some(3), &wanted("tcp 127.0.0.2:8080"), &root()).unwrap_err();
        assert!(matches!(e, SocketError::AddressMismatch { .. }), "{e:?}");
        let e = from_process(svc.pid, Some(3), &wanted("tcp [::1]:8080"), &root()).unwrap_err();
        assert!(matches!(e, SocketError::NeedsV6 { .. }), "{e:?}");
        let e = from_process(svc.pid, Some(4), &wanted("tcp 0.0.0.0:8081"), &root()).unwrap_err();
        assert!(matches!(e, SocketError::V6Only { .. }), "{e:?}");
        assert!(from_process(svc.pid, Some(4), &wanted("tcp [::]:8081"), &root()).is_ok());
    });
}

/// Taking a descriptor from a process of another user without CAP_SYS_PTRACE is
/// refused with the capability named (this thread drops CAP_SYS_PTRACE from its
/// effective set; the service runs as nobody); `find`, which cannot even read that
/// process's descriptors then, says the socket has no readable owner and why.
#[test]
fn taking_needs_ptrace_permission() {
    run(|| {
        let svc = Service::hold_as(
            vec![(3, tcp_listener("127.0.0.1:8080", Opts::default()))],
            Some(65534),
        );
        caps::drop(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_PTRACE,
        )
        .expect("drop CAP_SYS_PTRACE on this thread");
        let w = wanted("tcp 127.0.0.1:8080");
        let e = from_process(svc.pid, Some(3), &w, &root()).unwrap_err();
        match &e {
            SocketError::Ptrace { pid, source, .. } => {
                assert_eq!(*pid, svc.pid);
                assert_eq!(source.raw_os_error(), Some(libc::EPERM));
            }
            other => panic!("expected Ptrace, got {other:?}"),
        }
        assert!(e.to_string().contains("needs CAP_SYS_PTRACE"), "{e}");
        let e = find(&w, &root()).unwrap_err();
        match &e {
            SocketError::NoOwner { unreadable, .. } => assert!(*unreadable >= 1),
            other => panic!("expected NoOwner, got {other:?}"),
        }
        assert!(e.to_string().contains("CAP_SYS_PTRACE"), "{e}");
    });
}

/// A listening socket that no process holds at a descriptor (it is in flight in a
/// Unix socket's queue, held by the kernel only) is named by inode, not `None`.
#[test]
fn socket_held_by_no_process() {
    run(|| {
        let l = tcp_listener("127.0.0.1:8080", Opts::default());
        let inode = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&l)
            ))
            .unwrap()
            .ino()
        };
        let _kept = lab::in_flight(l);
        let e = find(&wanted("tcp 127.0.0.1:8080"), &root()).unwrap_err();
        match &e {
            SocketError::NoOwner { inode: i, .. } => assert_eq!(*i, inode),
            other => panic!("expected NoOwner, got {other:?}"),
        }
        assert!(
            e.to_string().contains("it may be held by the kernel only"),
            "{e}"
        );
    });
}

/// A declaration without an address cannot be found by address (and says how to
/// register it instead).
#[test]
fn declaration_without_address_is_not_searched() {
    run(|| {
        let e = find(&wanted("tcp"), &root()).unwrap_err();
        assert!(matches!(e, SocketError::NoAddress { .. }), "{e:?}");
    });
}
