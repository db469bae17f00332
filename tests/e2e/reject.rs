//! `reject` end to end, in two namespaces joined by a veth (`tests/netns`): A runs a
//! TCP listener and a bound UDP socket on the rejected ports (so without sockc the
//! kernel itself would answer them, and a refusal can only come from the program),
//! and its XDP or TC ingress block rejects them. From B, a TCP connect gets
//! ECONNREFUSED (the program's reset) and a connected UDP socket gets ECONNREFUSED on
//! its next receive (the program's ICMP or ICMPv6 port unreachable), each within
//! 100 ms; `with icmp admin-prohibited` arrives as the error the kernel maps that code
//! to; traffic the block does not reject still connects; the reject rules' counters
//! saw the packets. IPv4 and IPv6, XDP and TC.
//!
//! On a veth, frames an XDP program sends back with `XDP_TX` in native mode reach the
//! peer only when the peer's end has NAPI, which an XDP program of its own turns on:
//! the XDP tests attach a pass-everything program to B's end first (docs/language.md
//! says so too).
//!
//! They need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use netns::{
    outcome, promptly, tcp_connect, tcp_listen, udp_bind, udp_connected, udp_recv, Lab, Outcome,
    ANSWER, NO_ANSWER, PROMPT,
};

const TCP_PORT: u16 = 7300;
const UDP_PORT: u16 = 7301;
const OPEN_PORT: u16 = 7302;
const ADMIN_PORT: u16 = 7303;
/// A port with a connection opened before the rules come: its next segment carries
/// ACK, so the reset takes its sequence number from that segment's ack.
const MIDSTREAM_PORT: u16 = 7304;

/// Runs `f` and returns its result and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed())
}

fn rejects(tag: &str, subnet: u8, hook: &str, v6: bool) {
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
    let midstream = tcp_listen(&lab.ns_a, SocketAddr::new(a, MIDSTREAM_PORT));
    // One open connection per attempt at the mid-stream reset (see `promptly`).
    let (mut early, mut _early_peers) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        early.push(
            tcp_connect(&lab.ns_b, None, SocketAddr::new(a, MIDSTREAM_PORT), ANSWER)
                .unwrap_or_else(|e| panic!("{hook} {a}: connect before the rules: {e}")),
        );
        _early_peers.push(netns::accept(&midstream));
    }
    let text = format!(
        "{hook} on {} {{\n    reject tcp to *:{TCP_PORT}\n    reject udp to *:{UDP_PORT}\n    \
         reject udp to *:{ADMIN_PORT} with icmp admin-prohibited\n    \
         reject tcp to *:{MIDSTREAM_PORT} with tcp-reset\n    default allow\n}}\n",
        lab.if_a
    );
    let file = lab.rules("reject.sk", &text);
    lab.apply_ok(&file);
    lab.status_attached();

    // Sockets on every port: the kernel alone would accept all of it.
    let _listener = tcp_listen(&lab.ns_a, SocketAddr::new(a, TCP_PORT));
    let _open = tcp_listen(&lab.ns_a, SocketAddr::new(a, OPEN_PORT));
    let _udp = udp_bind(&lab.ns_a, SocketAddr::new(a, UDP_PORT));
    let _admin = udp_bind(&lab.ns_a, SocketAddr::new(a, ADMIN_PORT));

    let took = promptly(
        || timed(|| tcp_connect(&lab.ns_b, None, SocketAddr::new(a, TCP_PORT), ANSWER)),
        |r| {
            assert_eq!(
                outcome(r),
                Outcome::Refused,
                "{hook} {a}: TCP connect: {r:?}"
            )
        },
    );
    assert!(took < PROMPT, "{hook} {a}: the reset took {took:?}");

    let took = promptly(
        || {
            let c = udp_connected(&lab.ns_b, SocketAddr::new(a, UDP_PORT));
            timed(|| {
                c.send(b"knock").expect("send");
                udp_recv(&c, NO_ANSWER)
            })
        },
        |r| {
            assert_eq!(
                outcome(r),
                Outcome::Refused,
                "{hook} {a}: UDP receive: {r:?}"
            )
        },
    );
    assert!(
        took < PROMPT,
        "{hook} {a}: the port unreachable took {took:?}"
    );

    // Administratively prohibited: EHOSTUNREACH for ICMP code 13, EACCES for ICMPv6
    // code 1 (the kernel's icmp_err_convert and icmpv6_err_convert).
    let c = udp_connected(&lab.ns_b, SocketAddr::new(a, ADMIN_PORT));
    c.send(b"knock").expect("send");
    let r = udp_recv(&c, NO_ANSWER);
    let want = if v6 { libc::EACCES } else { libc::EHOSTUNREACH };
    assert_eq!(
        r.as_ref().err().and_then(|e| e.raw_os_error()),
        Some(want),
        "{hook} {a}: admin-prohibited: {r:?}"
    );

    // RFC 793: the segment had ACK, so the reset's seq is its ack; B's socket takes
    // it only if that is exactly what B expects next.
    let mut early = early.into_iter();
    let took = promptly(
        || {
            let mut conn = early.next().expect("an open connection per attempt");
            timed(move || {
                use std::io::{Read, Write};
                conn.write_all(b"more").expect("write");
                conn.set_read_timeout(Some(ANSWER)).expect("timeout");
                conn.read(&mut [0u8; 16])
            })
        },
        |r| {
            assert_eq!(
                r.as_ref().map_err(|e| e.kind()),
                Err(std::io::ErrorKind::ConnectionReset),
                "{hook} {a}: a segment of an open connection: {r:?}"
            )
        },
    );
    assert!(
        took < PROMPT,
        "{hook} {a}: the mid-stream reset took {took:?}"
    );

    let r = tcp_connect(&lab.ns_b, None, SocketAddr::new(a, OPEN_PORT), ANSWER);
    assert_eq!(
        outcome(&r),
        Outcome::Answered,
        "{hook} {a}: open port: {r:?}"
    );

    let stats = lab.stats();
    for (rule, port) in [("reject tcp", TCP_PORT), ("reject udp", UDP_PORT)] {
        let text = format!("{rule} to *:{port}");
        let packets = stats["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .find(|r| r["text"] == text.as_str())
            .and_then(|r| r["packets"].as_u64())
            .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"));
        assert!(packets >= 1, "{hook}: `{text}` counted {packets}");
    }
}

#[test]
fn xdp_rejects_tcp_and_udp_over_ipv4() {
    rejects("rjx4", 81, "xdp", false);
}

#[test]
fn xdp_rejects_tcp_and_udp_over_ipv6() {
    rejects("rjx6", 82, "xdp", true);
}

#[test]
fn tc_rejects_tcp_and_udp_over_ipv4() {
    rejects("rjt4", 83, "tc ingress", false);
}

#[test]
fn tc_rejects_tcp_and_udp_over_ipv6() {
    rejects("rjt6", 84, "tc ingress", true);
}
