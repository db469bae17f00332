//! `reject` end to end for packets whose upper-layer header is not right behind a plain
//! IP header: IPv4 with options and IPv6 with a destination-options header. B's
//! sockets carry the options (`IP_OPTIONS`, `IPV6_DSTOPTS`), A's XDP or TC ingress
//! block rejects their ports while A has a listener and a bound socket there (so a
//! refusal can only come from the program), and B's TCP connect must be refused by
//! the reset (which carries no options) and B's connected UDP socket by the port
//! unreachable (whose quote holds the IP header with its options or extension headers
//! and 8 bytes, which B's kernel needs to find the socket), each within 100 ms.
//!
//! XDP tests attach a pass-everything program to B's end first (`XDP_TX` on a veth
//! needs NAPI on the peer; see `tests/e2e/reject.rs`). They need root and skip
//! otherwise.

use crate::common;
use crate::netns;

use std::{
    net::{IpAddr, SocketAddr},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use netns::{
    in_netns, outcome, promptly, tcp_listen, udp_bind, udp_connected, udp_recv, Lab, Outcome,
    NO_ANSWER, PROMPT,
};

const TCP_PORT: u16 = 7310;
const UDP_PORT: u16 = 7311;

/// IPv4 options of B's packets: three no-operations and an end of list (IHL 6).
const IP_OPTIONS: [u8; 4] = [1, 1, 1, 0];
/// IPv6 destination options of B's packets: one 8-byte header holding a PadN.
const DST_OPTIONS: [u8; 8] = [0, 0, 1, 4, 0, 0, 0, 0];

/// Gives socket `fd` the options of its family (IPv4 options or IPv6 destination
/// options) for every packet it sends.
fn set_options(fd: i32, v6: bool) {
    let (level, name, value): (i32, i32, &[u8]) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_DSTOPTS, &DST_OPTIONS)
    } else {
        (libc::IPPROTO_IP, libc::IP_OPTIONS, &IP_OPTIONS)
    };
    // SAFETY: setsockopt with a buffer and its length, on a socket the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// A blocking TCP connect from namespace `ns` to `to` with the options set first; the
/// error it ends with (none: connected) and how long it took.
fn connect_with_options(ns: &str, to: SocketAddr) -> (std::io::Result<()>, Duration) {
    in_netns(ns, move || {
        let domain = if to.is_ipv6() {
            libc::AF_INET6
        } else {
            libc::AF_INET
        };
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        set_options(fd, to.is_ipv6());
        let limit = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: a timeval and its size, on the socket made above.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&limit as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        let (storage, len) = sockaddr(to);
        let start = Instant::now();
        // SAFETY: the address and its length come from `sockaddr`.
        let rc =
            unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) };
        let took = start.elapsed();
        let r = if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        };
        // SAFETY: closing the descriptor made above, once.
        unsafe { libc::close(fd) };
        (r, took)
    })
}

/// `addr` as a `sockaddr_storage` and its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; the family's fields are set below.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn rejects_behind_options(tag: &str, subnet: u8, hook: &str, v6: bool) {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new(tag, subnet);
    let a: IpAddr = if v6 {
        lab.enable_ipv6(subnet).0.into()
    } else {
        lab.addr_a.into()
    };
    if hook == "xdp" {
        lab.xdp_pass_on_peer();
    }
    let text = format!(
        "{hook} on {} {{\n    reject tcp to *:{TCP_PORT}\n    reject udp to *:{UDP_PORT}\n    \
         default allow\n}}\n",
        lab.if_a
    );
    lab.apply_ok(&lab.rules("reject.sk", &text));
    lab.status_attached();
    let _listener = tcp_listen(&lab.ns_a, SocketAddr::new(a, TCP_PORT));
    let _udp = udp_bind(&lab.ns_a, SocketAddr::new(a, UDP_PORT));
    let what = if v6 {
        "destination options"
    } else {
        "IPv4 options"
    };

    let took = promptly(
        || connect_with_options(&lab.ns_b, SocketAddr::new(a, TCP_PORT)),
        |r| {
            assert_eq!(
                outcome(r),
                Outcome::Refused,
                "{hook}: TCP connect with {what}: {r:?}"
            )
        },
    );
    assert!(took < PROMPT, "{hook}: the reset took {took:?}");

    let took = promptly(
        || {
            let c = udp_connected(&lab.ns_b, SocketAddr::new(a, UDP_PORT));
            set_options(c.as_raw_fd(), v6);
            let start = Instant::now();
            c.send(b"knock").expect("send");
            (udp_recv(&c, NO_ANSWER), start.elapsed())
        },
        |r| {
            assert_eq!(
                outcome(r),
                Outcome::Refused,
                "{hook}: UDP with {what}: {r:?}"
            )
        },
    );
    assert!(took < PROMPT, "{hook}: the port unreachable took {took:?}");
}

#[test]
fn xdp_rejects_ipv4_with_options() {
    rejects_behind_options("rjox4", 191, "xdp", false);
}

#[test]
fn xdp_rejects_ipv6_with_extension_headers() {
    rejects_behind_options("rjox6", 192, "xdp", true);
}

#[test]
fn tc_rejects_ipv4_with_options() {
    rejects_behind_options("rjot4", 193, "tc ingress", false);
}

#[test]
fn tc_rejects_ipv6_with_extension_headers() {
    rejects_behind_options("rjot6", 194, "tc ingress", true);
}

/// Differential: for packets with IPv4 options and IPv6 extension headers (up to the
/// quote bound and past it, cut short, behind a fragment header, a chain longer than
/// the walk), the kernel's program and the evaluator agree on whether `reject`
/// answers, at XDP and TC ingress (`sockc test` exits 3 on any disagreement).
#[test]
fn reject_behind_headers_agrees_with_the_evaluator() {
    if !common::kernel() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sockc-rejhdr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let block = |head: &str| {
        format!(
            "{head} {{\n    reject tcp to *:80\n    reject udp to *:53\n    default allow\n}}\n"
        )
    };
    let rules = dir.join("reject.sk");
    std::fs::write(
        &rules,
        [block("xdp on eth0"), block("tc ingress on eth0")].concat(),
    )
    .unwrap();
    let (tcp4, udp4) = (
        "tcp 10.0.0.1:1234 -> 10.0.0.2:80",
        "udp 10.0.0.1:5 -> 10.0.0.2:53",
    );
    let (tcp6, udp6) = (
        "tcp [2001:db8::1]:1234 -> [2001:db8::2]:80",
        "udp [2001:db8::1]:5 -> [2001:db8::2]:53",
    );
    let mut packets = Vec::new();
    for n in [1, 3, 10] {
        packets.push(format!("{tcp4} syn ipopts {n}"));
        packets.push(format!("{tcp4} ack ipopts {n}"));
        packets.push(format!("{udp4} ipopts {n}"));
    }
    // Cut inside the TCP header, and before the 8 bytes an ICMP answer quotes.
    packets.push(format!("{tcp4} syn ipopts 3 len 65"));
    packets.push(format!("{udp4} ipopts 10 len 81"));
    packets.push(format!("{udp4} ipopts 2 mf"));
    packets.push(format!("{udp4} ipopts 2 frag 8"));
    for ext in [
        "hbh",
        "dst",
        "hbh,dst/2",
        "rt,dst",
        "ah",
        "fh",
        "hbh/10",
        "hbh/11",
        "hbh/30",
        "hbh,dst,dst,dst,dst,dst",
        "hbh,dst,dst,dst,dst,dst,dst",
    ] {
        packets.push(format!("{tcp6} syn ext {ext}"));
        packets.push(format!("{udp6} ext {ext}"));
    }
    packets.push(format!("{udp6} ext fh frag 8"));
    // One VLAN tag in the frame: answered at XDP (taken out and put back), not at tc.
    packets.push(format!("{udp4} vlan 5 ipopts 2"));
    packets.push(format!("{tcp6} syn vlan 5 ext hbh"));
    packets.push(format!("{tcp6} syn ext hbh,dst len 80"));
    let file = dir.join("packets");
    std::fs::write(&file, packets.join("\n") + "\n").unwrap();
    let r = netns::sockc(&[
        "test",
        rules.to_str().unwrap(),
        "--packets",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.code, 0, "kernel and evaluator disagree:\n{r}");
    let pairs = 2 * packets.len();
    assert!(
        r.stderr
            .contains(&format!("kernel and evaluator agree on all {pairs}")),
        "every packet ran in the kernel:\n{r}"
    );
    // Both answers behind options and extension headers, and the quote bound.
    for (answer, at_least) in [
        ("sends a TCP reset", 20),
        ("sends ICMP", 8),
        ("sends ICMPv6", 14),
    ] {
        let n = r.stdout.matches(answer).count();
        assert!(n >= at_least, "`{answer}` {n} times:\n{r}");
    }
    assert!(
        r.stdout.contains("extension headers too long to quote"),
        "hbh/11 gets no ICMPv6 answer:\n{r}"
    );
}
