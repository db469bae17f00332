//! End-to-end tests of `ct state` with real TCP and UDP traffic: each test builds a
//! pair of network namespaces A and B joined by a veth (`tests/netns`), switches
//! connection tracking on in A (a hookless nft chain with one `ct state` rule: the
//! kernel's conntrack runs only in namespaces where something uses it), installs
//! `allow ct state established,related` + `default drop` on A's ingress (XDP or TC)
//! with `sockc apply --netns A`, and talks between A and B.
//!
//! What is checked: A's own TCP connection to a listener in B works both ways (its
//! SYN-ACK and later segments are found in conntrack's table as replies) and A's UDP
//! request gets its answer, while B's new connections to A's listener and B's
//! unsolicited datagrams to a bound UDP port of A are dropped (they are `new`: the
//! first packet of a flow has no entry yet at XDP and TC ingress). The rule's counter
//! shows the replies passed as `established`. IPv4 and IPv6 (with `allow icmpv6`, so
//! neighbour discovery works under `default drop`); IPv4 neighbours are made
//! permanent for the same reason (the block has no `allow arp`: it holds only what is checked).
//!
//! They need root and `nft`, and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::{IpAddr, SocketAddr},
    process::Command,
};

use netns::{
    accept, outcome, run, tcp_connect, tcp_exchange, tcp_listen, udp_bind, udp_recv, Lab, Outcome,
    ANSWER, NO_ANSWER,
};

/// The nft table that switches conntrack on in a namespace and never runs (its chain
/// has no hook): `nft` commands, one per line.
const ANCHOR: [&str; 3] = [
    "add table inet sockc_ct_test",
    "add chain inet sockc_ct_test anchor",
    "add rule inet sockc_ct_test anchor ct state new",
];

fn enable_conntrack(ns: &str) {
    for cmd in ANCHOR {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "nft"]).args(cmd.split(' '));
        let r = run(&mut c);
        assert_eq!(r.code, 0, "nft in {ns}: {r}");
    }
}

/// B's MAC as A's permanent neighbour and the other way round (ARP frames are
/// dropped by `default drop` at XDP and TC).
fn permanent_neighbours(lab: &Lab) {
    let mac = |ns: &str, dev: &str| -> String {
        let out = netns::ip(&["-n", ns, "-br", "link", "show", "dev", dev]).stdout;
        out.split_whitespace()
            .nth(2)
            .expect("MAC in ip -br link")
            .to_string()
    };
    let (mac_a, mac_b) = (mac(&lab.ns_a, &lab.if_a), mac(&lab.ns_b, &lab.if_b));
    for (ns, dev, addr, mac) in [
        (&lab.ns_a, &lab.if_a, lab.addr_b, &mac_b),
        (&lab.ns_b, &lab.if_b, lab.addr_a, &mac_a),
    ] {
        netns::ip(&[
            "-n",
            ns,
            "neigh",
            "replace",
            &addr.to_string(),
            "lladdr",
            mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ]);
    }
}

/// Packets counted by the rule whose text is `text` in `stats --json`.
#[track_caller]
fn rule_packets(stats: &serde_json::Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hit = rules.iter().find(|r| r["text"] == text);
    hit.and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"))
}

const ALLOW: &str = "allow ct state established,related";

fn replies_pass_new_inbound_drops(tag: &str, subnet: u8, hook: &str, v6: bool) {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft to switch conntrack on");
        return;
    }
    let lab = Lab::new(tag, subnet);
    let (a, b): (IpAddr, IpAddr) = if v6 {
        let (a, b) = lab.enable_ipv6(subnet);
        (a.into(), b.into())
    } else {
        permanent_neighbours(&lab);
        (lab.addr_a.into(), lab.addr_b.into())
    };
    enable_conntrack(&lab.ns_a);
    let extra = if v6 { "    allow icmpv6\n" } else { "" };
    let text = format!(
        "{hook} on {} {{\n    {ALLOW}\n{extra}    default drop\n}}\n",
        lab.if_a
    );
    let file = lab.rules("ct.sk", &text);
    lab.apply_ok(&file);
    lab.status_attached();

    // A's own connection: every segment from B is a reply.
    let b_listener = tcp_listen(&lab.ns_b, SocketAddr::new(b, 7100));
    let mut out = tcp_connect(&lab.ns_a, None, SocketAddr::new(b, 7100), ANSWER)
        .unwrap_or_else(|e| panic!("A's own connect through `{ALLOW}`: {e}"));
    let mut acc = accept(&b_listener);
    tcp_exchange("A to B and back", &mut out, &mut acc, b"request from A");
    tcp_exchange("B to A and back", &mut acc, &mut out, b"push from B");

    // A's UDP request and B's answer.
    let a_client = udp_bind(&lab.ns_a, SocketAddr::new(a, 0));
    let b_server = udp_bind(&lab.ns_b, SocketAddr::new(b, 7101));
    a_client
        .send_to(b"ping", SocketAddr::new(b, 7101))
        .expect("send from A");
    let (_, from) = udp_recv(&b_server, ANSWER).expect("B gets A's datagram");
    b_server.send_to(b"pong", from).expect("answer from B");
    let got = udp_recv(&a_client, ANSWER);
    assert_eq!(outcome(&got), Outcome::Answered, "B's UDP answer reaches A");

    // New inbound: a TCP connect to A's listener and a datagram to A's bound port.
    let _a_listener = tcp_listen(&lab.ns_a, SocketAddr::new(a, 7102));
    let r = tcp_connect(&lab.ns_b, None, SocketAddr::new(a, 7102), NO_ANSWER);
    assert_eq!(outcome(&r), Outcome::TimedOut, "B's new connection to A");
    let a_server = udp_bind(&lab.ns_a, SocketAddr::new(a, 7103));
    let b_client = udp_bind(&lab.ns_b, SocketAddr::new(b, 0));
    b_client
        .send_to(b"unsolicited", SocketAddr::new(a, 7103))
        .expect("send from B");
    let got = udp_recv(&a_server, NO_ANSWER);
    assert_eq!(outcome(&got), Outcome::TimedOut, "B's unsolicited datagram");

    let stats = lab.stats();
    assert!(
        rule_packets(&stats, ALLOW) >= 4,
        "the SYN-ACK, data and the UDP answer pass as established: {stats:#}"
    );
    tcp_exchange(
        "A's connection at the end",
        &mut out,
        &mut acc,
        b"still there",
    );
}

#[test]
fn ct_state_established_lets_replies_in_and_drops_new_inbound_at_xdp() {
    replies_pass_new_inbound_drops("ctxdp4", 61, "xdp", false);
}

#[test]
fn ct_state_established_lets_replies_in_and_drops_new_inbound_at_tc_ingress() {
    replies_pass_new_inbound_drops("cttc4", 62, "tc ingress", false);
}

#[test]
fn ct_state_established_lets_replies_in_and_drops_new_inbound_at_xdp_ipv6() {
    replies_pass_new_inbound_drops("ctxdp6", 63, "xdp", true);
}

#[test]
fn ct_state_established_lets_replies_in_and_drops_new_inbound_at_tc_ingress_ipv6() {
    replies_pass_new_inbound_drops("cttc6", 64, "tc ingress", true);
}

/// ICMP errors (the packet up to `payload`) and the quotes they carry, in hex: each
/// reaches a different step of the lookup of the quoted flow (`bpf::ct`), which in a
/// test run ends `invalid` as the evaluator says: a whole UDP quote and a TCP one
/// behind IPv4 options (looked up, no entry), a quote cut before the ports, one
/// quoting a packet from another source than the error's destination, a later
/// fragment, an ICMP echo, and for IPv6 a UDP quote and one behind a hop-by-hop header.
fn icmp_error_quotes() -> Vec<(&'static str, String)> {
    let v4 = |ihl: u8, frag: u16, proto: u8, src: [u8; 4]| {
        let mut h = vec![0x40 | ihl, 0, 0, 28, 0, 0];
        h.extend(frag.to_be_bytes());
        h.extend([64, proto, 0, 0]);
        h.extend(src);
        h.extend([10, 0, 0, 2]);
        h.resize(4 * usize::from(ihl), 1);
        h
    };
    let ports = [0x13, 0x88, 0, 0x35, 0, 8, 0, 0];
    let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let (unreach4, unreach6) = (
        "icmp 10.0.0.2 -> 10.0.0.1 type 3 code 3",
        "icmpv6 2001:db8::2 -> 2001:db8::1 type 1 code 4",
    );
    let own = [10, 0, 0, 1];
    let v6 = |next: u8, ext: &[u8]| {
        let mut h = vec![0x60, 0, 0, 0, 0, 8, next, 64];
        h.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[1]));
        h.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[2]));
        h.extend(ext);
        h.extend(ports);
        h
    };
    vec![
        (unreach4, hex([v4(5, 0, 17, own), ports.to_vec()].concat())),
        (
            "icmp 10.0.0.2 -> 10.0.0.1 type 11",
            hex([v4(6, 0, 6, own), ports.to_vec()].concat()),
        ),
        (
            unreach4,
            hex([v4(6, 0, 6, own), ports[..2].to_vec()].concat()),
        ),
        (
            unreach4,
            hex([v4(5, 0, 17, [10, 0, 0, 9]), ports.to_vec()].concat()),
        ),
        (
            unreach4,
            hex([v4(5, 0x20, 17, own), ports.to_vec()].concat()),
        ),
        (unreach4, hex([v4(5, 0, 1, own), ports.to_vec()].concat())),
        (unreach6, hex(v6(17, &[]))),
        (unreach6, hex(v6(0, &[17, 0, 1, 4, 0, 0, 0, 0]))),
        ("icmpv6 2001:db8::2 -> 2001:db8::1 type 2", hex(v6(6, &[]))),
    ]
}

/// Differential: the kernel's derivation (a test run, whose lookups find no entry)
/// and the evaluator's `ct::without_entry` agree on every packet shape the state
/// depends on, at XDP, TC ingress and TC egress, for every state tested by a rule of
/// its own (`sockc test` exits 3 on any disagreement).
#[test]
fn ct_state_without_an_entry_agrees_with_the_evaluator() {
    if !common::kernel() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sockc-ct-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let block = |head: &str| {
        format!(
            "{head} {{\n    count ct state new\n    count ct state invalid\n    \
             allow ct state untracked\n    drop ct state new\n    allow ct state \
             established,related\n    default pass\n}}\n"
        )
        .replace("default pass", "default allow")
    };
    let rules = dir.join("ct.sk");
    std::fs::write(
        &rules,
        [
            block("xdp on eth0"),
            block("tc ingress on eth0"),
            block("tc egress on eth0"),
        ]
        .concat(),
    )
    .unwrap();
    let mut packets = String::new();
    for flags in [
        "", "syn", "ack", "syn,ack", "rst", "rst,ack", "fin", "fin,ack", "psh,ack", "urg",
    ] {
        packets += &format!("tcp 10.0.0.1:1234 -> 10.0.0.2:80 {flags}\n");
        packets += &format!("tcp [2001:db8::1]:1234 -> [2001:db8::2]:80 {flags}\n");
    }
    for ty in [0, 3, 4, 5, 8, 11, 12, 13, 18, 19, 40] {
        packets += &format!("icmp 10.0.0.1 -> 10.0.0.2 type {ty}\n");
    }
    for ty in [1, 2, 3, 4, 127, 128, 129, 130, 133, 135, 136, 137, 143, 200] {
        packets += &format!("icmpv6 2001:db8::1 -> 2001:db8::2 type {ty}\n");
    }
    for (ty, quote) in icmp_error_quotes() {
        packets += &format!("{ty} payload {quote}\n");
    }
    packets += "udp 10.0.0.1:5 -> 10.0.0.2:53\n";
    packets += "udp [2001:db8::1]:5 -> [2001:db8::2]:53\n";
    packets += "tcp 10.0.0.1:1234 -> 10.0.0.2:80 syn len 40\n";
    packets += "udp 10.0.0.1:5 -> 10.0.0.2:53 frag 8\n";
    packets += "proto 47 10.0.0.1 -> 10.0.0.2\n";
    packets += "proto 132 [2001:db8::1] -> [2001:db8::2]\n";
    let file = dir.join("packets");
    std::fs::write(&file, packets).unwrap();
    // Not `-q`: the agreement summary is a notice, and `-q` keeps only results.
    let r = netns::sockc(&[
        "test",
        rules.to_str().unwrap(),
        "--packets",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.code, 0, "kernel and evaluator disagree:\n{r}");
    assert!(
        r.stderr.contains("kernel and evaluator agree on all 180"),
        "every packet ran in the kernel:\n{r}"
    );
}
