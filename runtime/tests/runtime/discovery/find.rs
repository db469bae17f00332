//! `find`: the declared socket by address, owned by another process.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    os::fd::AsFd,
    time::Duration,
};

use sockc_runtime::discovery::{find, Owner, SockProto, SocketError};
use socket2::SockRef;

use super::{
    lab::{self, cookie, tcp_listener, udp, Opts, Service, SERVICE_COMM},
    root, test_name, wanted,
};

/// Runs `f` in a fresh network namespace, or skips.
pub fn run(f: impl FnOnce() + Send) {
    if lab::kernel(&test_name()) {
        lab::in_netns(f);
    }
}

/// A TCP listener on 127.0.0.1:8080, held at fd 5 by a service, is found: our copy is
/// that socket (same SO_COOKIE as the service's), and the owner is the service's pid,
/// fd 5 and comm; it is not IPv6 and not in a reuseport group.
#[test]
fn tcp_listener_found_with_owner_and_cookie() {
    run(|| {
        let l = tcp_listener("127.0.0.1:8080", Opts::default());
        let c = cookie(&l);
        let svc = Service::hold(vec![(5, l)]);
        let f = find(&wanted("tcp 127.0.0.1:8080"), &root())
            .expect("find")
            .expect("a socket is there");
        assert_eq!(f.cookie, c);
        assert_eq!(
            f.owner,
            Some(Owner {
                pid: svc.pid,
                fd: 5,
                comm: SERVICE_COMM.into()
            })
        );
        assert_eq!(f.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(f.proto, SockProto::Tcp);
        assert_eq!(f.v6only, None);
        assert!(!f.reuseport);
        assert_eq!(SockRef::from(&f.fd.as_fd()).cookie().unwrap(), c);
    });
}

/// An unconnected UDP socket on 127.0.0.1:5353, held at fd 4, is found, with its
/// cookie and owner.
#[test]
fn udp_socket_found() {
    run(|| {
        let u = udp("127.0.0.1:5353", Opts::default());
        let c = cookie(&u);
        let svc = Service::hold(vec![(4, u)]);
        let f = find(&wanted("udp 127.0.0.1:5353"), &root())
            .unwrap()
            .unwrap();
        assert_eq!(f.cookie, c);
        assert_eq!(f.proto, SockProto::Udp);
        assert_eq!(f.owner.as_ref().map(|o| (o.pid, o.fd)), Some((svc.pid, 4)));
    });
}

/// With nothing bound at the declared address, `find` answers `Ok(None)` — also when
/// the same port is bound on another address that does not cover it, another port
/// of the address is bound, or the other protocol is bound there.
#[test]
fn nothing_bound_there_is_none() {
    run(|| {
        assert!(find(&wanted("tcp 127.0.0.1:8080"), &root())
            .unwrap()
            .is_none());
        assert!(find(&wanted("udp 127.0.0.1:8080"), &root())
            .unwrap()
            .is_none());
        let _svc = Service::hold(vec![
            (3, tcp_listener("127.0.0.2:8080", Opts::default())),
            (4, tcp_listener("127.0.0.1:8081", Opts::default())),
            (5, udp("127.0.0.1:8080", Opts::default())),
        ]);
        assert!(find(&wanted("tcp 127.0.0.1:8080"), &root())
            .unwrap()
            .is_none());
        assert!(find(&wanted("udp 127.0.0.1:8081"), &root())
            .unwrap()
            .is_none());
        assert!(find(&wanted("tcp [::1]:8080"), &root()).unwrap().is_none());
    });
}

/// A TCP listener on [::1]:8080 is found for `tcp [::1]:8080`, and not for
/// `tcp 127.0.0.1:8080`. It is IPv6-only although it was made with IPV6_V6ONLY off:
/// the kernel sets it when an IPv6 socket binds a specific (not mapped) address.
#[test]
fn ipv6_listener_found() {
    run(|| {
        let l = tcp_listener("[::1]:8080", Opts::default());
        let c = cookie(&l);
        let _svc = Service::hold(vec![(3, l)]);
        let f = find(&wanted("tcp [::1]:8080"), &root()).unwrap().unwrap();
        assert_eq!(f.cookie, c);
        assert_eq!(f.local, "[::1]:8080".parse().unwrap());
        assert_eq!(f.v6only, Some(true));
        assert!(find(&wanted("tcp 127.0.0.1:8080"), &root())
            .unwrap()
            .is_none());
    });
}

/// The dual-stack decision: a [::]:8080 listener with IPV6_V6ONLY off meets
/// `tcp 0.0.0.0:8080` and `tcp [::]:8080`; for `tcp 127.0.0.1:8080` it is named as the
/// wildcard that covers it (an error, not None). A v6-only [::]:8081 listener meets
/// `tcp [::]:8081` only (`tcp 0.0.0.0:8081`: nothing). A socket bound to the mapped
/// [::ffff:127.0.0.1]:8082 meets `tcp 127.0.0.1:8082`.
#[test]
fn dual_stack_sockets() {
    run(|| {
        let dual = tcp_listener("[::]:8080", Opts::default());
        let dual_cookie = cookie(&dual);
        let v6only = tcp_listener(
            "[::]:8081",
            Opts {
                v6only: true,
                ..Opts::default()
            },
        );
        let v6only_cookie = cookie(&v6only);
        let mapped = tcp_listener("[::ffff:127.0.0.1]:8082", Opts::default());
        let mapped_cookie = cookie(&mapped);
        let _svc = Service::hold(vec![(3, dual), (4, v6only), (5, mapped)]);

        let f = find(&wanted("tcp 0.0.0.0:8080"), &root()).unwrap().unwrap();
        assert_eq!((f.cookie, f.v6only), (dual_cookie, Some(false)));
        let f = find(&wanted("tcp [::]:8080"), &root()).unwrap().unwrap();
        assert_eq!(f.cookie, dual_cookie);
        match find(&wanted("tcp 127.0.0.1:8080"), &root()) {
            Err(SocketError::Covered { by, .. }) => {
                assert_eq!(by, "[::]:8080".parse::<SocketAddr>().unwrap())
            }
            other => panic!("expected Covered, got {other:?}"),
        }

        assert!(find(&wanted("tcp 0.0.0.0:8081"), &root())
            .unwrap()
            .is_none());
        let f = find(&wanted("tcp [::]:8081"), &root()).unwrap().unwrap();
        assert_eq!((f.cookie, f.v6only), (v6only_cookie, Some(true)));

        let f = find(&wanted("tcp 127.0.0.1:8082"), &root())
            .unwrap()
            .unwrap();
        assert_eq!(f.cookie, mapped_cookie);
    });
}

/// A wildcard IPv4 listener (0.0.0.0:8080) is named for a declaration of one of the
/// addresses it covers, with the declaration that would meet it.
#[test]
fn wildcard_listener_is_named_for_a_specific_declaration() {
    run(|| {
        let _svc = Service::hold(vec![(3, tcp_listener("0.0.0.0:8080", Opts::default()))]);
        let e = find(&wanted("tcp 127.0.0.1:8080"), &root()).unwrap_err();
        assert!(matches!(e, SocketError::Covered { .. }), "{e:?}");
        assert!(e.to_string().contains("declare `tcp 0.0.0.0:8080`"), "{e}");
        assert!(find(&wanted("tcp 0.0.0.0:8080"), &root())
            .unwrap()
            .is_some());
    });
}

/// The descriptor `find` gives back is the service's socket itself: a connection made
/// to 127.0.0.1:8080 is accepted on it (the peer is our client), and a datagram sent
/// to 127.0.0.1:5353 is received on the UDP one.
#[test]
fn found_descriptor_is_the_services_socket() {
    run(|| {
        let _svc = Service::hold(vec![
            (3, tcp_listener("127.0.0.1:8080", Opts::default())),
            (4, udp("127.0.0.1:5353", Opts::default())),
        ]);
        let f = find(&wanted("tcp 127.0.0.1:8080"), &root())
            .unwrap()
            .unwrap();
        let mut client = TcpStream::connect("127.0.0.1:8080").expect("connect");
        let listener = SockRef::from(&f.fd);
        let (conn, peer) = listener.accept().expect("accept on the found socket");
        assert_eq!(peer.as_socket(), Some(client.local_addr().unwrap()));
        let mut conn = std::net::TcpStream::from(conn);
        client.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");

        let f = find(&wanted("udp 127.0.0.1:5353"), &root())
            .unwrap()
            .unwrap();
        let sock = SockRef::from(&f.fd);
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"query", "127.0.0.1:5353").unwrap();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 16];
        let (n, from) = sock
            .recv_from(&mut buf)
            .expect("datagram on the found socket");
        assert_eq!(n, 5);
        assert_eq!(from.as_socket(), Some(sender.local_addr().unwrap()));
    });
}

/// Two TCP listeners of one SO_REUSEPORT group, in two processes, are one answer: the
/// one of the lower pid, marked `reuseport`.
#[test]
fn reuseport_group_is_one_answer() {
    run(|| {
        let o = Opts {
            reuseport: true,
            ..Opts::default()
        };
        let a = tcp_listener("127.0.0.1:8080", o);
        let b = tcp_listener("127.0.0.1:8080", o);
        let cookies = [cookie(&a), cookie(&b)];
        let sa = Service::hold(vec![(3, a)]);
        let sb = Service::hold(vec![(3, b)]);
        let f = find(&wanted("tcp 127.0.0.1:8080"), &root())
            .unwrap()
            .unwrap();
        assert!(f.reuseport);
        let low = sa.pid.min(sb.pid);
        assert_eq!(f.owner.as_ref().unwrap().pid, low);
        let expect = if low == sa.pid {
            cookies[0]
        } else {
            cookies[1]
        };
        assert_eq!(f.cookie, expect);
    });
}

/// One socket held by two processes (forked workers) is one socket: no ambiguity; it
/// is taken from the lower pid.
#[test]
fn socket_shared_by_two_processes_is_one() {
    run(|| {
        let l = tcp_listener("127.0.0.1:8080", Opts::default());
        let c = cookie(&l);
        let dup = l.try_clone().unwrap();
        let sa = Service::hold(vec![(3, l)]);
        let sb = Service::hold(vec![(6, dup)]);
        let f = find(&wanted("tcp 127.0.0.1:8080"), &root())
            .unwrap()
            .unwrap();
        assert_eq!(f.cookie, c);
        assert_eq!(f.owner.unwrap().pid, sa.pid.min(sb.pid));
    });
}

/// Two UDP sockets on 127.0.0.1:5353 (SO_REUSEADDR, not one reuseport group), in two
/// processes, are an error naming both owners.
#[test]
fn two_udp_sockets_without_reuseport_are_ambiguous() {
    run(|| {
        let o = Opts {
            reuseaddr: true,
            ..Opts::default()
        };
        let sa = Service::hold(vec![(3, udp("127.0.0.1:5353", o))]);
        let sb = Service::hold(vec![(4, udp("127.0.0.1:5353", o))]);
        match find(&wanted("udp 127.0.0.1:5353"), &root()) {
            Err(e @ SocketError::Ambiguous { .. }) => {
                let SocketError::Ambiguous { sockets, .. } = &e else {
                    unreachable!()
                };
                let mut got: Vec<(u32, i32)> = sockets.iter().map(|o| (o.pid, o.fd)).collect();
                got.sort();
                let mut want = vec![(sa.pid, 3), (sb.pid, 4)];
                want.sort();
                assert_eq!(got, want);
                assert!(e.to_string().contains("pass --fd"), "{e}");
            }
            other => panic!("expected Ambiguous, got {other:?}"),
        }
    });
}
