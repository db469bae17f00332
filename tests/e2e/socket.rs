//! End-to-end tests of socket conditions (`if socket exists`, `if no socket`,
//! `if listening`, `if established`) with real TCP and UDP sockets: each test builds
//! its own pair of network namespaces A and B joined by a veth (`tests/netns`),
//! installs a rule file on A's end with `sockc apply --netns A` (XDP, TC ingress or TC
//! egress), and talks between sockets in B and sockets in A. A packet's socket is
//! looked up by the program in A's namespace, so whether a port has a listener, a bound
//! UDP socket, a connection or a TIME_WAIT socket decides its fate.
//!
//! What is checked: `drop tcp if no socket` on the server side (XDP and TC ingress,
//! IPv4 and IPv6) lets connections to a listener through with data both ways, while a
//! SYN to a port without a listener, also after the listener closed, gets no answer at
//! all (the connect times out instead of being refused, and A's TCP never sends a RST);
//! `drop udp if no socket` lets a datagram to a bound port in and its answer out, while
//! one to an unbound port never reaches A's UDP (no `NoPorts`, no ICMP port
//! unreachable, so a connected UDP socket in B sees no ECONNREFUSED); `allow tcp if
//! established` + `drop tcp` on A's ingress is a stateful firewall without connection
//! tracking: A's own outgoing connection works (its SYN-ACK finds the SYN_SENT socket),
//! unsolicited SYNs to A's ephemeral port, to a listener and to a closed port time out,
//! and A's `nf_conntrack` table stays empty (the kernel has conntrack, but nothing in
//! these namespaces hooks it, so no connection state exists anywhere but the socket
//! table); `drop tcp if no socket` at TC egress looks the socket up with the tuple
//! reversed, so the SYN-ACK of a listener leaves while the kernel's RST for a closed
//! port (sent from no socket) is dropped; a SYN on the 4-tuple of a TIME_WAIT socket
//! counts as "socket exists"; `if listening` opens only served listener ports (the
//! handshake's final ACK finds the request socket, which is `established`); and for
//! UDP `listening` is an unconnected bound socket and `established` a connected one.
//! Most tests check the same traffic without rules first (refused connects, ICMP errors,
//! SNMP counters), and read A's SNMP counters (`/proc/net/snmp`) and the rules'
//! counters (`sockc stats`) around every "no answer", so a timeout is the rule's
//! doing and not a lost packet.
//!
//! Each test has its own namespaces, install name and rule directory (tags below), so
//! the tests run in parallel; the [`Lab`] removes everything when dropped, also on a
//! panic. "No answer" waits are [`NO_ANSWER`] (400 ms, one SYN). They need root and skip
//! otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    io::Read,
    net::{IpAddr, SocketAddr, SocketAddrV4},
    time::{Duration, Instant},
};

use netns::{
    accept, conntrack_entries, delta, outcome, snmp, tcp4_sockets, tcp_connect, tcp_exchange,
    tcp_listen, udp_bind, udp_connected, udp_recv, Lab, Outcome, ANSWER, NO_ANSWER, TCP_TIME_WAIT,
};
use serde_json::Value;

/// Where a rule block goes.
#[derive(Clone, Copy, Debug)]
enum Hook {
    Xdp,
    TcIngress,
    TcEgress,
}

impl Hook {
    fn keyword(self) -> &'static str {
        match self {
            Hook::Xdp => "xdp",
            Hook::TcIngress => "tc ingress",
            Hook::TcEgress => "tc egress",
        }
    }
}

/// A hook block on `iface` with `rules` and `default allow` (ARP and neighbour
/// discovery must keep working).
fn block(hook: Hook, iface: &str, rules: &[&str]) -> String {
    let body: String = rules.iter().map(|r| format!("    {r}\n")).collect();
    format!(
        "{} on {iface} {{\n{body}    default allow\n}}\n",
        hook.keyword()
    )
}

/// Writes `rules` for `hook` on A's veth, applies them and checks they are attached.
#[track_caller]
fn install(lab: &Lab, hook: Hook, rules: &[&str]) {
    let file = lab.rules("rules.sk", &block(hook, &lab.if_a, rules));
    lab.apply_ok(&file);
    lab.status_attached();
}

/// A's and B's address: the lab's IPv4 ones, or IPv6 ones added for the test.
fn addrs(lab: &Lab, v6: Option<u8>) -> (IpAddr, IpAddr) {
    match v6 {
        Some(subnet) => {
            let (a, b) = lab.enable_ipv6(subnet);
            (a.into(), b.into())
        }
        None => (lab.addr_a.into(), lab.addr_b.into()),
    }
}

/// Packets counted by the rule whose text is `text` in `stats --json`.
#[track_caller]
fn rule_packets(stats: &Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hits: Vec<&Value> = rules.iter().filter(|r| r["text"] == text).collect();
    assert_eq!(hits.len(), 1, "one rule `{text}` in {stats:#}");
    hits[0]["packets"].as_u64().expect("packets")
}

/// Connects from B to `to` and expects `want`; returns the stream if it connected.
#[track_caller]
fn connect_from_b(
    lab: &Lab,
    to: SocketAddr,
    timeout: Duration,
    want: Outcome,
    when: &str,
) -> Option<std::net::TcpStream> {
    let start = Instant::now();
    let r = tcp_connect(&lab.ns_b, None, to, timeout);
    assert_eq!(
        outcome(&r),
        want,
        "{when}: connect from B to {to} ({:?} after {:.0?})",
        r.as_ref().map(|_| "connected"),
        start.elapsed()
    );
    r.ok()
}

/// Case 1: `drop tcp if no socket` at A's ingress (XDP or TC), as a server would run
/// it. A listener's port connects and carries data; a SYN to a port without a
/// listener, and after the listener closed to its port, is dropped before A's TCP
/// sees it: the connect times out (instead of the RST "refused" it gets without
/// rules) and A's `Tcp.OutRsts` does not move. The accepted connection outlives its
/// listener (its packets find their own socket).
fn tcp_no_socket_at_server(tag: &str, subnet: u8, hook: Hook, v6: bool) {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new(tag, subnet);
    let (a, _) = addrs(&lab, v6.then_some(subnet));
    let open = SocketAddr::new(a, 8080);
    let closed = SocketAddr::new(a, 8081);
    let listener = tcp_listen(&lab.ns_a, open);

    let before = snmp(&lab.ns_a);
    connect_from_b(&lab, closed, ANSWER, Outcome::Refused, "without rules");
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, "Tcp.OutRsts"),
        1,
        "without rules A answers the SYN to a closed port with one RST"
    );

    let rule = "drop tcp if no socket";
    install(&lab, hook, &[rule]);

    let mut client = connect_from_b(
        &lab,
        open,
        ANSWER,
        Outcome::Answered,
        "to the listener's port",
    )
    .expect("connected");
    let mut server = accept(&listener);
    tcp_exchange(
        "new connection to the listener",
        &mut client,
        &mut server,
        b"hello through the listener's port",
    );

    let before = snmp(&lab.ns_a);
    connect_from_b(
        &lab,
        closed,
        NO_ANSWER,
        Outcome::TimedOut,
        "to a port without a listener (the SYN must be dropped, so no RST)",
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, "Tcp.OutRsts"),
        0,
        "A's TCP sent a RST: the SYN to the closed port was not dropped"
    );

    netns::close_listener(&lab.ns_a, listener, open);
    let before = snmp(&lab.ns_a);
    connect_from_b(
        &lab,
        open,
        NO_ANSWER,
        Outcome::TimedOut,
        "to the port whose listener closed",
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, "Tcp.OutRsts"),
        0,
        "no RST after close"
    );
    tcp_exchange(
        "the accepted connection after its listener closed",
        &mut server,
        &mut client,
        b"still here",
    );

    let stats = lab.stats();
    assert_eq!(
        rule_packets(&stats, rule),
        2,
        "exactly the two SYNs without a socket are dropped: {stats:#}"
    );
}

#[test]
fn no_socket_drops_syns_to_closed_ports_at_xdp_ipv4() {
    tcp_no_socket_at_server("nsxdp4", 21, Hook::Xdp, false);
}

#[test]
fn no_socket_drops_syns_to_closed_ports_at_tc_ingress_ipv4() {
    tcp_no_socket_at_server("nstc4", 22, Hook::TcIngress, false);
}

#[test]
fn no_socket_drops_syns_to_closed_ports_at_xdp_ipv6() {
    tcp_no_socket_at_server("nsxdp6", 23, Hook::Xdp, true);
}

#[test]
fn no_socket_drops_syns_to_closed_ports_at_tc_ingress_ipv6() {
    tcp_no_socket_at_server("nstc6", 24, Hook::TcIngress, true);
}

/// Case 2: `drop udp if no socket` at A's ingress. A datagram to a bound port arrives
/// and its answer gets back; one to an unbound port (and, after the server socket
/// closed, to its port) never reaches A's UDP: `NoPorts` and the ICMP
/// destination-unreachable counter stay put, and B's connected socket sees a timeout,
/// not the ECONNREFUSED it gets without rules.
fn udp_no_socket(tag: &str, subnet: u8, hook: Hook, v6: bool) {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new(tag, subnet);
    let (a, _) = addrs(&lab, v6.then_some(subnet));
    let (no_ports, unreach) = if v6 {
        ("Udp6NoPorts", "Icmp6OutDestUnreachs")
    } else {
        ("Udp.NoPorts", "Icmp.OutDestUnreachs")
    };
    let open = SocketAddr::new(a, 5300);
    let closed = SocketAddr::new(a, 5301);
    let server = udp_bind(&lab.ns_a, open);

    let before = snmp(&lab.ns_a);
    let probe = udp_connected(&lab.ns_b, closed);
    probe.send(b"anyone there?").expect("send");
    assert_eq!(
        outcome(&udp_recv(&probe, ANSWER)),
        Outcome::Refused,
        "without rules a connected UDP socket learns of the unbound port"
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, no_ports),
        1,
        "{no_ports} without rules"
    );
    assert_eq!(
        delta(&before, &after, unreach),
        1,
        "{unreach} without rules"
    );

    let rule = "drop udp if no socket";
    install(&lab, hook, &[rule]);

    let client = udp_connected(&lab.ns_b, open);
    client.send(b"question").expect("send");
    let (msg, from) = udp_recv(&server, ANSWER).expect("the bound port receives");
    assert_eq!(msg, b"question");
    server.send_to(b"answer", from).expect("reply");
    let (reply, _) = udp_recv(&client, ANSWER).expect("B receives the answer");
    assert_eq!(reply, b"answer");

    let before = snmp(&lab.ns_a);
    let probe = udp_connected(&lab.ns_b, closed);
    probe.send(b"anyone there?").expect("send");
    let r = udp_recv(&probe, NO_ANSWER);
    assert_eq!(
        outcome(&r),
        Outcome::TimedOut,
        "a datagram to an unbound port must be dropped: no answer, no port unreachable"
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, no_ports),
        0,
        "{no_ports} with the rule"
    );
    assert_eq!(
        delta(&before, &after, unreach),
        0,
        "{unreach} with the rule"
    );

    netns::close_udp(&lab.ns_a, server, open);
    let before = snmp(&lab.ns_a);
    client.send(b"still there?").expect("send");
    assert_eq!(
        outcome(&udp_recv(&client, NO_ANSWER)),
        Outcome::TimedOut,
        "after the server socket closed its port has no socket"
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, no_ports),
        0,
        "{no_ports} after close"
    );
    assert_eq!(delta(&before, &after, unreach), 0, "{unreach} after close");

    let stats = lab.stats();
    assert_eq!(
        rule_packets(&stats, rule),
        2,
        "exactly the two datagrams without a socket are dropped: {stats:#}"
    );
}

#[test]
fn no_socket_drops_udp_to_unbound_ports_at_xdp_ipv4() {
    udp_no_socket("udpx4", 25, Hook::Xdp, false);
}

#[test]
fn no_socket_drops_udp_to_unbound_ports_at_tc_ingress_ipv6() {
    udp_no_socket("udpt6", 26, Hook::TcIngress, true);
}

/// Case 3: a stateful firewall with the socket table as its only state. A's ingress
/// runs `allow tcp if established` then `drop tcp`. A's own connection to a listener
/// in B works both ways (the SYN-ACK finds A's SYN_SENT socket, later segments the
/// established one), while unsolicited SYNs from B time out: to A's ephemeral port
/// from another B socket (refused without rules), to a listener in A (a listener is
/// not `established`; A's `Tcp.PassiveOpens` stays put) and to a closed port. The
/// kernel has `nf_conntrack`, but A's table stays empty: no connection tracking.
fn stateful_without_conntrack(tag: &str, subnet: u8, hook: Hook) {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new(tag, subnet);
    let a = IpAddr::from(lab.addr_a);
    let remote = SocketAddr::new(lab.addr_b.into(), 7000);
    let a_listening = SocketAddr::new(a, 7001);
    let a_closed = SocketAddr::new(a, 7002);
    let b_listener = tcp_listen(&lab.ns_b, remote);
    let a_listener = tcp_listen(&lab.ns_a, a_listening);

    // Without rules.
    let out = tcp_connect(&lab.ns_a, None, remote, ANSWER).expect("A connects to B");
    let _acc = accept(&b_listener);
    let eph = out.local_addr().expect("local").port();
    connect_from_b(
        &lab,
        SocketAddr::new(a, eph),
        ANSWER,
        Outcome::Refused,
        "without rules, to A's ephemeral port",
    );
    connect_from_b(
        &lab,
        a_listening,
        ANSWER,
        Outcome::Answered,
        "without rules, to A's listener",
    );
    drop(accept(&a_listener));

    let rules = ["allow tcp if established", "drop tcp"];
    install(&lab, hook, &rules);

    let mut out = tcp_connect(&lab.ns_a, None, remote, ANSWER)
        .unwrap_or_else(|e| panic!("A's own connect to {remote} with the rules: {e}"));
    let mut acc = accept(&b_listener);
    tcp_exchange("A to B and back", &mut out, &mut acc, b"request from A");
    tcp_exchange("B to A and back", &mut acc, &mut out, b"push from B");
    let eph = out.local_addr().expect("local").port();

    let before = snmp(&lab.ns_a);
    connect_from_b(
        &lab,
        SocketAddr::new(a, eph),
        NO_ANSWER,
        Outcome::TimedOut,
        "unsolicited, from another B socket to A's ephemeral port",
    );
    connect_from_b(
        &lab,
        a_listening,
        NO_ANSWER,
        Outcome::TimedOut,
        "unsolicited, to A's listener (listening is not established)",
    );
    connect_from_b(
        &lab,
        a_closed,
        NO_ANSWER,
        Outcome::TimedOut,
        "unsolicited, to a closed port of A",
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(delta(&before, &after, "Tcp.OutRsts"), 0, "A sent a RST");
    assert_eq!(
        delta(&before, &after, "Tcp.PassiveOpens"),
        0,
        "A's listener got a SYN"
    );
    tcp_exchange(
        "A's connection after the unsolicited SYNs",
        &mut out,
        &mut acc,
        b"still connected",
    );

    match conntrack_entries(&lab.ns_a) {
        Some(entries) => assert!(
            entries.is_empty(),
            "connection tracking saw A's traffic: {entries:#?}"
        ),
        None => println!("note: this kernel has no nf_conntrack at all"),
    }

    let stats = lab.stats();
    assert_eq!(
        rule_packets(&stats, "drop tcp"),
        3,
        "exactly the three unsolicited SYNs are dropped: {stats:#}"
    );
    assert!(
        rule_packets(&stats, "allow tcp if established") >= 5,
        "the SYN-ACK and the data of A's connection pass as established: {stats:#}"
    );
}

#[test]
fn established_lets_own_connections_in_without_conntrack_at_xdp() {
    stateful_without_conntrack("estxdp", 27, Hook::Xdp);
}

#[test]
fn established_lets_own_connections_in_without_conntrack_at_tc_ingress() {
    stateful_without_conntrack("esttc", 28, Hook::TcIngress);
}

/// Case 4: `drop tcp if no socket` at A's TC egress looks the socket up with the
/// tuple reversed (the local sender). The kernel still answers a SYN to a closed port
/// with a RST (`Tcp.OutRsts` moves), but that RST comes from no socket and is dropped
/// on its way out, so B's connect times out instead of being refused. The SYN-ACK of
/// a listener (sent for a request socket) and the data of the connection leave. After
/// the listener closes, its port behaves like the closed one.
#[test]
fn no_socket_at_tc_egress_drops_the_kernels_rsts() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("egress", 29);
    let a = IpAddr::from(lab.addr_a);
    let open = SocketAddr::new(a, 8080);
    let closed = SocketAddr::new(a, 8081);
    let listener = tcp_listen(&lab.ns_a, open);

    connect_from_b(&lab, closed, ANSWER, Outcome::Refused, "without rules");

    let rule = "drop tcp if no socket";
    install(&lab, Hook::TcEgress, &[rule]);

    let before = snmp(&lab.ns_a);
    connect_from_b(
        &lab,
        closed,
        NO_ANSWER,
        Outcome::TimedOut,
        "to a closed port (A's RST must be dropped on egress)",
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, "Tcp.OutRsts"),
        1,
        "A's TCP still answers the SYN with a RST; only the hook drops it"
    );

    let mut client = connect_from_b(
        &lab,
        open,
        ANSWER,
        Outcome::Answered,
        "to the listener (its SYN-ACK must leave)",
    )
    .expect("connected");
    let mut server = accept(&listener);
    tcp_exchange("B to A and back", &mut client, &mut server, b"hello");
    tcp_exchange("A to B and back", &mut server, &mut client, b"hello back");

    netns::close_listener(&lab.ns_a, listener, open);
    connect_from_b(
        &lab,
        open,
        NO_ANSWER,
        Outcome::TimedOut,
        "to the port whose listener closed",
    );
    tcp_exchange(
        "the accepted connection after its listener closed",
        &mut server,
        &mut client,
        b"still here",
    );

    let stats = lab.stats();
    assert_eq!(
        rule_packets(&stats, rule),
        2,
        "exactly the two RSTs are dropped: {stats:#}"
    );
}

/// `if no socket` treats a TIME_WAIT socket as a socket (`socket exists` includes
/// timewait). A closes a connection first and keeps a TIME_WAIT socket for
/// (A:8080, B:40123); the listener closes. With `drop tcp if no socket` at XDP, a SYN
/// from B:40124 to A:8080 finds no socket and is dropped (A's `Tcp.InSegs` stays
/// put), while a SYN from B:40123 on the TIME_WAIT 4-tuple finds the timewait socket
/// and reaches A's TCP, whose timewait socket answers (an ACK, which B resets).
/// B then retransmits the SYN at once; the RST has killed the timewait socket, so
/// that SYN finds none and is dropped: the rule drops exactly B's retransmissions.
#[test]
fn no_socket_counts_a_timewait_socket_as_a_socket() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("twait", 30);
    let (a, b) = (lab.addr_a, lab.addr_b);
    let server_addr = SocketAddrV4::new(a, 8080);
    let tw_port = SocketAddrV4::new(b, 40123);
    let other_port = SocketAddrV4::new(b, 40124);
    let rule = "drop tcp if no socket";
    install(&lab, Hook::Xdp, &[rule]);

    let listener = tcp_listen(&lab.ns_a, server_addr.into());
    let mut client = tcp_connect(&lab.ns_b, Some(tw_port.into()), server_addr.into(), ANSWER)
        .expect("connect to the listener");
    let mut server = accept(&listener);
    tcp_exchange("the first connection", &mut client, &mut server, b"hi");
    // A closes first, so A holds the TIME_WAIT socket.
    drop(server);
    client.set_read_timeout(Some(ANSWER)).expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(client.read(&mut buf).expect("EOF from A"), 0, "A closed");
    drop(client);
    drop(listener);
    let start = Instant::now();
    loop {
        let in_a = tcp4_sockets(&lab.ns_a);
        let in_b = tcp4_sockets(&lab.ns_b);
        let tw = in_a
            .iter()
            .any(|s| s.local == server_addr && s.remote == tw_port && s.state == TCP_TIME_WAIT);
        let b_gone = !in_b.iter().any(|s| s.local == tw_port);
        let others = in_a.iter().filter(|s| s.state != TCP_TIME_WAIT).count();
        if tw && b_gone && others == 0 {
            break;
        }
        assert!(
            start.elapsed() < ANSWER,
            "want exactly A's TIME_WAIT socket and nothing of B's on {tw_port}\nA: {in_a:#?}\nB: {in_b:#?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let stray segments of the closed connection settle before counting.
    std::thread::sleep(Duration::from_millis(100));

    // Control: a SYN from another port of B finds no socket.
    let (a0, b0, d0) = (
        snmp(&lab.ns_a),
        snmp(&lab.ns_b),
        rule_packets(&lab.stats(), rule),
    );
    let r = tcp_connect(
        &lab.ns_b,
        Some(other_port.into()),
        server_addr.into(),
        NO_ANSWER,
    );
    assert_eq!(
        outcome(&r),
        Outcome::TimedOut,
        "from {other_port}: no socket"
    );
    let (a1, b1, d1) = (
        snmp(&lab.ns_a),
        snmp(&lab.ns_b),
        rule_packets(&lab.stats(), rule),
    );
    assert_eq!(
        delta(&a0, &a1, "Tcp.InSegs"),
        0,
        "a SYN with no socket reached A's TCP"
    );
    assert_eq!(delta(&b0, &b1, "Tcp.InSegs"), 0, "B got an answer");
    assert_eq!(d1 - d0, 1, "the SYN from {other_port} is dropped");

    // The SYN on the TIME_WAIT 4-tuple passes; A's timewait socket answers with an
    // ACK, B's SYN_SENT socket resets it (killing the timewait socket, RFC 1337
    // behaviour off) and retransmits its SYN at once (tcp_rcv_synsent_state_process),
    // which now finds no socket and is dropped.
    let r = tcp_connect(
        &lab.ns_b,
        Some(tw_port.into()),
        server_addr.into(),
        NO_ANSWER,
    );
    let (a2, b2, d2) = (
        snmp(&lab.ns_a),
        snmp(&lab.ns_b),
        rule_packets(&lab.stats(), rule),
    );
    let story = format!(
        "connect {:?}; A: in {} out {}; B: in {} out {} rst {} retrans {}; dropped {}",
        outcome(&r),
        delta(&a1, &a2, "Tcp.InSegs"),
        delta(&a1, &a2, "Tcp.OutSegs"),
        delta(&b1, &b2, "Tcp.InSegs"),
        delta(&b1, &b2, "Tcp.OutSegs"),
        delta(&b1, &b2, "Tcp.OutRsts"),
        delta(&b1, &b2, "Tcp.RetransSegs"),
        d2 - d1
    );
    assert!(
        delta(&a1, &a2, "Tcp.InSegs") >= 1 && delta(&a1, &a2, "Tcp.OutSegs") >= 1,
        "the SYN on the TIME_WAIT 4-tuple ({tw_port} -> {server_addr}) must reach A's \
         TCP and its timewait socket must answer: {story}"
    );
    assert!(
        delta(&b1, &b2, "Tcp.InSegs") >= 1,
        "B got A's answer: {story}"
    );
    assert_eq!(
        (d2 - d1) as i64,
        delta(&b1, &b2, "Tcp.RetransSegs"),
        "only SYNs B retransmitted after its RST killed the timewait socket are dropped: \
         {story}"
    );
}

/// `if listening` (TCP): a server that opens only its served ports to new
/// connections, as in `rules/socket/stateful.sk`, at XDP: `allow tcp if
/// established`, `allow tcp to *:@served if listening`, `drop tcp`. A connect to the
/// served listener completes and carries data; one to a listener whose port is not
/// served, and one to a closed port, time out (A's listener never sees a SYN:
/// `Tcp.PassiveOpens` stays put). The listening rule counts exactly the one SYN: the
/// handshake's final ACK already finds the request socket, which is `established`,
/// not `listening`.
#[test]
fn listening_opens_only_served_ports_to_new_connections() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("listen", 31);
    let a = IpAddr::from(lab.addr_a);
    let served = SocketAddr::new(a, 8080);
    let unserved = SocketAddr::new(a, 8090);
    let closed = SocketAddr::new(a, 8081);
    let served_listener = tcp_listen(&lab.ns_a, served);
    let _unserved_listener = tcp_listen(&lab.ns_a, unserved);
    let listening = "allow tcp to *:@served if listening";
    let file = lab.rules(
        "rules.sk",
        &format!(
            "set served = {{ 8080 }}\n{}",
            block(
                Hook::Xdp,
                &lab.if_a,
                &["allow tcp if established", listening, "drop tcp"]
            )
        ),
    );
    lab.apply_ok(&file);
    lab.status_attached();

    let mut client =
        connect_from_b(&lab, served, ANSWER, Outcome::Answered, "served port").expect("connected");
    let mut server = accept(&served_listener);
    tcp_exchange("served port", &mut client, &mut server, b"GET /");
    tcp_exchange("served port, back", &mut server, &mut client, b"200 OK");

    let before = snmp(&lab.ns_a);
    connect_from_b(
        &lab,
        unserved,
        NO_ANSWER,
        Outcome::TimedOut,
        "a listener on a port that is not served",
    );
    connect_from_b(&lab, closed, NO_ANSWER, Outcome::TimedOut, "a closed port");
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, "Tcp.PassiveOpens"),
        0,
        "a SYN got in"
    );
    assert_eq!(delta(&before, &after, "Tcp.OutRsts"), 0, "a SYN got in");

    let stats = lab.stats();
    assert_eq!(
        rule_packets(&stats, listening),
        1,
        "only the served SYN finds a listener (the handshake's ACK finds the request \
         socket): {stats:#}"
    );
    assert_eq!(rule_packets(&stats, "drop tcp"), 2, "{stats:#}");
}

/// `if listening` and `if established` for UDP at TC ingress: `allow udp if
/// established`, `allow udp to *:5400 if listening`, `drop udp`. A datagram to A's
/// unconnected socket on 5400 arrives (listening); one to A's unconnected socket on
/// 5401 does not (listening, but not allowed there). A's connected socket gets the
/// answer from the peer it is connected to (established), while a datagram from
/// another B port to the same local port finds no socket (a connected UDP socket only
/// matches its peer) and is dropped before A's UDP (`Udp.NoPorts` stays put; without
/// rules it counts one).
#[test]
fn udp_listening_and_established_tell_bound_from_connected_sockets() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("udpst", 32);
    let (a, b) = (IpAddr::from(lab.addr_a), IpAddr::from(lab.addr_b));
    let bound = udp_bind(&lab.ns_a, SocketAddr::new(a, 5400));
    let other_bound = udp_bind(&lab.ns_a, SocketAddr::new(a, 5401));
    let peer = udp_bind(&lab.ns_b, SocketAddr::new(b, 5300));
    let stranger = udp_bind(&lab.ns_b, SocketAddr::new(b, 5301));
    let connected = udp_connected(&lab.ns_a, SocketAddr::new(b, 5300));
    let local = connected.local_addr().expect("local");

    // Without rules the stranger's datagram reaches A's UDP and finds no socket.
    let before = snmp(&lab.ns_a);
    stranger.send_to(b"hello?", local).expect("send");
    let start = Instant::now();
    while delta(&before, &snmp(&lab.ns_a), "Udp.NoPorts") == 0 {
        assert!(start.elapsed() < ANSWER, "no NoPorts without rules");
        std::thread::sleep(Duration::from_millis(5));
    }

    let listening = "allow udp to *:5400 if listening";
    let established = "allow udp if established";
    install(&lab, Hook::TcIngress, &[established, listening, "drop udp"]);

    let sender = udp_bind(&lab.ns_b, SocketAddr::new(b, 0));
    sender
        .send_to(b"to 5400", SocketAddr::new(a, 5400))
        .expect("send");
    let (got, _) = udp_recv(&bound, ANSWER).expect("5400 is listening and allowed");
    assert_eq!(got, b"to 5400");

    connected.send(b"question").expect("send");
    let (got, from) = udp_recv(&peer, ANSWER).expect("B's peer receives");
    assert_eq!(got, b"question");
    peer.send_to(b"answer", from).expect("reply");
    let (got, _) = udp_recv(&connected, ANSWER).expect("the answer is established");
    assert_eq!(got, b"answer");

    let before = snmp(&lab.ns_a);
    sender
        .send_to(b"to 5401", SocketAddr::new(a, 5401))
        .expect("send");
    stranger.send_to(b"hello?", local).expect("send");
    assert_eq!(
        outcome(&udp_recv(&other_bound, NO_ANSWER)),
        Outcome::TimedOut,
        "5401 has a socket but is not allowed"
    );
    let after = snmp(&lab.ns_a);
    assert_eq!(
        delta(&before, &after, "Udp.NoPorts"),
        0,
        "the stranger's datagram reached A's UDP"
    );
    assert_eq!(
        delta(&before, &after, "Udp.InDatagrams"),
        0,
        "something arrived"
    );

    let stats = lab.stats();
    assert_eq!(rule_packets(&stats, listening), 1, "{stats:#}");
    assert_eq!(rule_packets(&stats, established), 1, "{stats:#}");
    assert_eq!(rule_packets(&stats, "drop udp"), 2, "{stats:#}");
}
