//! End-to-end tests of `netfilter` blocks with real traffic through a router: the
//! lab's namespace A routes between B (the sender, on the lab's veth) and a third
//! namespace C (the receiver, on a second veth), with forwarding on. The install goes
//! into A with `sockc apply --netns A`.
//!
//! What is checked, for IPv4 and IPv6: a `netfilter input` block dropping a UDP port
//! drops datagrams from B to A's own socket on that port, while datagrams from B to
//! C's socket on the same port, forwarded by A, pass; a `netfilter forward` block does
//! the reverse. In between, a re-apply with another port swaps the program in the
//! dispatcher's slot (the old port passes, the new one drops) and `status` shows every
//! hook attached; links unpinned behind sockc's back are drift that `repair` mends;
//! after `flush` nothing filters anymore and no pin is left.
//!
//! `ct state` at the forward hook reads the state conntrack gave the packet: with
//! `allow ct state established,related`, new connections allowed only from C's side
//! and `default drop`, C's TCP connection and UDP exchange with B work both ways (B's
//! answers are `established` at the hook, where at XDP the first answer would be a
//! lookup's), while B's new connection and datagram to C are dropped.
//! The same exchange with the block at XDP and at TC ingress on A's interface towards
//! B (IPv4 and IPv6, TCP and UDP): forwarded replies are looked up with the conntrack
//! kfuncs in A's table, which has the entry since A forwarded C's first packet, so they
//! are `established`; B's new connection and datagram have no entry and drop.
//! Conntrack is on in A because an nft rule with a `ct` match exists there (a hookless
//! chain: `enable_conntrack`); without one the lookups miss (`sockc::ct-needs-conntrack`).
//! `sockc test` at a netfilter hook compares exactly the packets a test run's empty
//! `_nfct` answers (`invalid`) with the evaluator.
//!
//! They need root (and `nft`, to switch conntrack on in A) and skip otherwise (see
//! `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    process::Command,
};

use netns::{
    accept, ip, outcome, run, tcp_connect, tcp_exchange, tcp_listen, udp_bind, udp_recv, Lab,
    Outcome, ANSWER, NO_ANSWER,
};

/// The receiver's namespace behind the router, deleted on drop.
struct Receiver {
    ns: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["netns", "del", &self.ns]));
    }
}

/// Addresses of the router topology: B → A (router) → C.
struct Topology {
    /// A's address on B's side (input traffic goes here).
    router: IpAddr,
    /// B's own address, the source of everything sent.
    sender: IpAddr,
    /// C's address (forwarded traffic goes here).
    receiver: IpAddr,
}

fn sysctl(ns: &str, key: &str) {
    let r = run(Command::new("ip").args(["netns", "exec", ns, "sysctl", "-qw", key]));
    assert_eq!(r.code, 0, "sysctl {key} in {ns}: {r}");
}

/// Namespace C with a veth to A (`10.201.SUBNET.0/24`, `fd01:201:SUBNET::/64`),
/// forwarding on in A, routes in B and C through A.
fn router(lab: &Lab, subnet: u8, v6: bool) -> (Receiver, Topology) {
    let c = Receiver {
        ns: format!("sockc-{}-{}-c", lab.tag, std::process::id()),
    };
    let _ = run(Command::new("ip").args(["netns", "del", &c.ns]));
    ip(&["netns", "add", &c.ns]);
    ip(&["-n", &c.ns, "link", "set", "lo", "up"]);
    let (if_ac, if_ca) = (format!("ac-{}", lab.tag), format!("ca-{}", lab.tag));
    ip(&[
        "link", "add", "name", &if_ac, "netns", &lab.ns_a, "type", "veth", "peer", "name", &if_ca,
        "netns", &c.ns,
    ]);
    let a4 = Ipv4Addr::new(10, 201, subnet, 1);
    let c4 = Ipv4Addr::new(10, 201, subnet, 2);
    let a6 = Ipv6Addr::new(0xfd01, 0x201, subnet.into(), 0, 0, 0, 0, 1);
    let c6 = Ipv6Addr::new(0xfd01, 0x201, subnet.into(), 0, 0, 0, 0, 2);
    for (ns, dev, v4, v6addr) in [(&lab.ns_a, &if_ac, a4, a6), (&c.ns, &if_ca, c4, c6)] {
        ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{v6addr}/64"),
            "dev",
            dev,
            "nodad",
        ]);
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }
    sysctl(&lab.ns_a, "net.ipv4.ip_forward=1");
    sysctl(&lab.ns_a, "net.ipv6.conf.all.forwarding=1");
    let topology = if v6 {
        let (a, b) = lab.enable_ipv6(subnet);
        ip(&[
            "-n",
            &lab.ns_b,
            "-6",
            "route",
            "add",
            &format!("fd01:201:{subnet:x}::/64"),
            "via",
            &a.to_string(),
        ]);
        ip(&[
            "-n",
            &c.ns,
            "-6",
            "route",
            "add",
            "default",
            "via",
            &a6.to_string(),
        ]);
        Topology {
            router: a.into(),
            sender: b.into(),
            receiver: c6.into(),
        }
    } else {
        let a = lab.addr_a.to_string();
        ip(&[
            "-n",
            &lab.ns_b,
            "route",
            "add",
            &format!("10.201.{subnet}.0/24"),
            "via",
            &a,
        ]);
        ip(&[
            "-n",
            &c.ns,
            "route",
            "add",
            "default",
            "via",
            &a4.to_string(),
        ]);
        Topology {
            router: lab.addr_a.into(),
            sender: lab.addr_b.into(),
            receiver: c4.into(),
        }
    };
    (c, topology)
}

/// Whether a datagram from B reaches `dst` (a socket bound in `dst_ns`): tried a few
/// times when it should (the first may wait for neighbour discovery), once for as long
/// as [`NO_ANSWER`] when it should not.
fn delivered(lab: &Lab, t: &Topology, dst_ns: &str, dst: SocketAddr, expect: bool) -> bool {
    let rx = udp_bind(dst_ns, dst);
    let tx = udp_bind(&lab.ns_b, SocketAddr::new(t.sender, 0));
    let tries = if expect { 10 } else { 1 };
    let wait = if expect { ANSWER / 10 } else { NO_ANSWER };
    (0..tries).any(|_| {
        tx.send_to(b"through the router?", dst)
            .expect("send from B");
        outcome(&udp_recv(&rx, wait)) == Outcome::Answered
    })
}

/// Checks (to A itself, forwarded to C) on `port` against what should pass.
#[track_caller]
fn expect(lab: &Lab, t: &Topology, c: &Receiver, when: &str, port: u16, local: bool, fwd: bool) {
    let to_a = delivered(lab, t, &lab.ns_a, SocketAddr::new(t.router, port), local);
    let to_c = delivered(lab, t, &c.ns, SocketAddr::new(t.receiver, port), fwd);
    assert_eq!(
        (to_a, to_c),
        (local, fwd),
        "{when}: port {port}: (reaches A's socket, forwarded to C) should be ({local}, {fwd})"
    );
}

fn input_then_forward(tag: &str, subnet: u8, v6: bool) {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new(tag, subnet);
    let (c, t) = router(&lab, subnet, v6);
    expect(&lab, &t, &c, "before any rule", 7001, true, true);

    let input = |port: u16| {
        format!("netfilter input {{\n    drop udp to *:{port}\n    default allow\n}}\n")
    };
    let file = lab.rules("input.sk", &input(7001));
    lab.apply_ok(&file);
    let status = lab.status_attached();
    assert!(
        status.to_string().contains("netfilter links"),
        "status names the attach mode: {status:#}"
    );
    expect(
        &lab,
        &t,
        &c,
        "netfilter input drops 7001",
        7001,
        false,
        true,
    );

    // The same block with another port: the program in the slot is swapped.
    let file = lab.rules("input.sk", &input(7002));
    lab.apply_ok(&file);
    lab.status_attached();
    expect(&lab, &t, &c, "re-applied with 7002", 7001, true, true);
    expect(&lab, &t, &c, "re-applied with 7002", 7002, false, true);

    // The other hook: forwarded traffic drops, A's own passes.
    let fwd = "netfilter forward priority 20 {\n    drop udp to *:7003\n    default allow\n}\n";
    let file = lab.rules("input.sk", fwd);
    lab.apply_ok(&file);
    lab.status_attached();
    expect(
        &lab,
        &t,
        &c,
        "netfilter forward drops 7003",
        7003,
        true,
        false,
    );
    expect(&lab, &t, &c, "the input block is gone", 7002, true, true);
    let stats = lab.stats().to_string();
    assert!(
        stats.contains("drop udp to *:7003"),
        "stats lists the rule: {stats}"
    );

    netns::sockc(&["flush", "--name", &lab.name, "--bpffs", netns::BPFFS]).ok();
    assert!(lab.status().is_none(), "nothing installed after flush");
    assert!(
        lab.pins().is_empty(),
        "pins left after flush: {:?}",
        lab.pins()
    );
    expect(&lab, &t, &c, "after flush", 7003, true, true);
    expect(&lab, &t, &c, "after flush", 7002, true, true);
}

#[test]
fn netfilter_input_and_forward_ipv4() {
    input_then_forward("nf4", 61, false);
}

#[test]
fn netfilter_input_and_forward_ipv6() {
    input_then_forward("nf6", 62, true);
}

/// Switches conntrack on in `ns` with an nft chain that never runs (no hook).
fn enable_conntrack(ns: &str) {
    for cmd in [
        "add table inet sockc_nfct_test",
        "add chain inet sockc_nfct_test anchor",
        "add rule inet sockc_nfct_test anchor ct state new",
    ] {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "nft"]).args(cmd.split(' '));
        let r = run(&mut c);
        assert_eq!(r.code, 0, "nft in {ns}: {r}");
    }
}

const ESTABLISHED: &str = "allow ct state established,related";

/// Where the block runs: the router's forward hook, or its interface towards B at
/// XDP or TC ingress (forwarded traffic, looked up with the conntrack kfuncs).
#[derive(Clone, Copy)]
enum At {
    NetfilterForward,
    Ingress(&'static str),
}

fn replies_pass_new_from_the_sender_drops(tag: &str, subnet: u8, v6: bool, at: At) {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft to switch conntrack on");
        return;
    }
    let lab = Lab::new(tag, subnet);
    let (c, t) = router(&lab, subnet, v6);
    enable_conntrack(&lab.ns_a);
    let c_side = if v6 {
        format!("fd01:201:{subnet:x}::/64")
    } else {
        format!("10.201.{subnet}.0/24")
    };
    // On B's interface the block also sees B's neighbour discovery for A: without it
    // A could not answer B at all (the lockout the checker warns about).
    let (head, neighbours) = match at {
        At::NetfilterForward => ("netfilter forward".to_string(), ""),
        At::Ingress(hook) => (
            format!("{hook} on {}", lab.if_a),
            "    allow arp\n    allow icmpv6 type 135\n    allow icmpv6 type 136\n",
        ),
    };
    let text = format!(
        "{head} {{\n{neighbours}    {ESTABLISHED}\n    allow ct state new from {c_side}\n    \
         default drop\n}}\n"
    );
    lab.apply_ok(&lab.rules("nfct.sk", &text));
    lab.status_attached();

    // C's connection to B: B's segments are replies.
    let b_listener = tcp_listen(&lab.ns_b, SocketAddr::new(t.sender, 7200));
    let mut out = tcp_connect(&c.ns, None, SocketAddr::new(t.sender, 7200), ANSWER)
        .unwrap_or_else(|e| panic!("C's connect through `{ESTABLISHED}`: {e}"));
    let mut acc = accept(&b_listener);
    tcp_exchange("C to B and back", &mut out, &mut acc, b"request from C");
    tcp_exchange("B to C and back", &mut acc, &mut out, b"push from B");

    // C's UDP request and B's answer.
    let c_client = udp_bind(&c.ns, SocketAddr::new(t.receiver, 0));
    let b_server = udp_bind(&lab.ns_b, SocketAddr::new(t.sender, 7201));
    c_client
        .send_to(b"ping", SocketAddr::new(t.sender, 7201))
        .expect("send from C");
    let (_, from) = udp_recv(&b_server, ANSWER).expect("B gets C's datagram");
    b_server.send_to(b"pong", from).expect("answer from B");
    let got = udp_recv(&c_client, ANSWER);
    assert_eq!(outcome(&got), Outcome::Answered, "B's UDP answer reaches C");

    // New from B: a TCP connect to C's listener and a datagram to C's bound port.
    let _c_listener = tcp_listen(&c.ns, SocketAddr::new(t.receiver, 7202));
    let r = tcp_connect(
        &lab.ns_b,
        None,
        SocketAddr::new(t.receiver, 7202),
        NO_ANSWER,
    );
    assert_eq!(outcome(&r), Outcome::TimedOut, "B's new connection to C");
    assert!(
        !delivered(&lab, &t, &c.ns, SocketAddr::new(t.receiver, 7203), false),
        "B's unsolicited datagram to C"
    );

    let stats = lab.stats();
    let rules = stats["rules"].as_array().expect("rules");
    let passed = rules
        .iter()
        .find(|r| r["text"] == ESTABLISHED)
        .and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no rule `{ESTABLISHED}` in {stats:#}"));
    assert!(
        passed >= 4,
        "B's SYN-ACK, data and UDP answer pass as established: {stats:#}"
    );
    tcp_exchange(
        "C's connection at the end",
        &mut out,
        &mut acc,
        b"still there",
    );
    netns::sockc(&["flush", "--name", &lab.name, "--bpffs", netns::BPFFS]).ok();
}

#[test]
fn netfilter_forward_ct_state_lets_replies_through_ipv4() {
    replies_pass_new_from_the_sender_drops("nfct4", 66, false, At::NetfilterForward);
}

#[test]
fn netfilter_forward_ct_state_lets_replies_through_ipv6() {
    replies_pass_new_from_the_sender_drops("nfct6", 67, true, At::NetfilterForward);
}

#[test]
fn xdp_ct_state_lets_forwarded_replies_through_ipv4() {
    replies_pass_new_from_the_sender_drops("xfct4", 68, false, At::Ingress("xdp"));
}

#[test]
fn xdp_ct_state_lets_forwarded_replies_through_ipv6() {
    replies_pass_new_from_the_sender_drops("xfct6", 69, true, At::Ingress("xdp"));
}

#[test]
fn tc_ct_state_lets_forwarded_replies_through_ipv4() {
    replies_pass_new_from_the_sender_drops("tfct4", 70, false, At::Ingress("tc ingress"));
}

#[test]
fn tc_ct_state_lets_forwarded_replies_through_ipv6() {
    replies_pass_new_from_the_sender_drops("tfct6", 71, true, At::Ingress("tc ingress"));
}

/// `sockc test` at a netfilter hook: a test run's `_nfct` is 0, so the kernel answers
/// `invalid` for every IP packet; the packets the evaluator also calls `invalid` run
/// in the kernel and agree (counters included: a wrong state would move another
/// `count` rule), the others are the evaluator's alone and said to be.
#[test]
fn sockc_test_at_netfilter_runs_the_invalid_packets_in_the_kernel() {
    if !common::kernel() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sockc-nfct-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("nfct.sk");
    std::fs::write(
        &rules,
        "netfilter forward {\n    count ct state new\n    count ct state invalid\n    \
         allow ct state untracked\n    drop ct state new\n    allow ct state \
         established,related\n    default allow\n}\n",
    )
    .unwrap();
    let kernel = [
        "tcp 10.0.0.1:1234 -> 10.0.0.2:80 rst",
        "udp 10.0.0.1:5 -> 10.0.0.2:53 ct invalid",
        "udp [2001:db8::1]:5 -> [2001:db8::2]:53 ct invalid",
        "icmp 10.0.0.1 -> 10.0.0.2 type 3",
    ];
    let evaluator = [
        "tcp 10.0.0.1:1234 -> 10.0.0.2:80 syn",
        "tcp 10.0.0.1:1234 -> 10.0.0.2:80 ack",
        "udp 10.0.0.1:5 -> 10.0.0.2:53",
        "tcp 10.0.0.1:1234 -> 10.0.0.2:80 ack ct established",
        "tcp [2001:db8::1]:1234 -> [2001:db8::2]:80 ct untracked",
    ];
    let file = dir.join("packets");
    std::fs::write(&file, [&kernel[..], &evaluator[..]].concat().join("\n")).unwrap();
    let r = netns::sockc(&[
        "test",
        rules.to_str().unwrap(),
        "--packets",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.code, 0, "kernel and evaluator disagree:\n{r}");
    let summary = format!(
        "agree on all {} (packet, program) pairs the kernel ran; the kernel cannot run {}",
        kernel.len(),
        evaluator.len()
    );
    assert!(r.stderr.contains(&summary), "{summary}:\n{r}");
    assert_eq!(
        r.stdout
            .matches("a netfilter test run gives the kernel no")
            .count(),
        evaluator.len(),
        "{r}"
    );
}
