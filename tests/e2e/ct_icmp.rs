//! End-to-end tests of `ct state related` for ICMP errors at XDP and TC ingress: the
//! conntrack kfuncs take only TCP and UDP, so the program looks up the flow the error
//! quotes (its tuple inverted, as `nf_conntrack_inet_error` does) and calls the error
//! `related` when that flow is tracked.
//!
//! Each test builds namespaces A and B joined by a veth (`tests/netns`), switches
//! conntrack on in A (a hookless nft chain with one `ct state` rule), installs `allow
//! ct state established,related` + `default drop` (after what neighbour resolution
//! needs: `allow arp`, or neighbour solicitations and advertisements for IPv6) on A's
//! ingress, and checks from A's sockets:
//! - A's connected UDP socket sends to a closed port of B; B's kernel answers with a
//!   port unreachable, which must pass (the socket reports ECONNREFUSED), and the
//!   `ct state` rule counts it;
//! - B sends a crafted port unreachable quoting a datagram A never sent (A's other
//!   connected socket, which has sent nothing); it must drop (no ECONNREFUSED). Before
//!   the rules are applied, the same crafted error does reach that socket, so the
//!   check can fail.
//!
//! IPv4 and IPv6, XDP and TC ingress. They need root and `nft`, and skip otherwise.

use crate::common;
use crate::netns;

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    process::Command,
};

use netns::{in_netns, outcome, run, udp_connected, udp_recv, Lab, Outcome, ANSWER, NO_ANSWER};

const ALLOW: &str = "allow ct state established,related";

/// Switches conntrack on in `ns` with an nft chain that never runs.
fn enable_conntrack(ns: &str) {
    for cmd in [
        "add table inet sockc_ct_test",
        "add chain inet sockc_ct_test anchor",
        "add rule inet sockc_ct_test anchor ct state new",
    ] {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "nft"]).args(cmd.split(' '));
        let r = run(&mut c);
        assert_eq!(r.code, 0, "nft in {ns}: {r}");
    }
}

/// The Internet checksum of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The datagram `from` → `to` as it left `from`: its IP header and UDP header.
fn quoted_datagram(from: SocketAddr, to: SocketAddr) -> Vec<u8> {
    let udp = [
        from.port().to_be_bytes(),
        to.port().to_be_bytes(),
        8u16.to_be_bytes(),
        [0, 0],
    ]
    .concat();
    let mut ip = match (from.ip(), to.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
            h.extend(s.octets());
            h.extend(d.octets());
            let sum = checksum(&h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
            h.extend(s.octets());
            h.extend(d.octets());
            h
        }
        _ => panic!("one family: {from} -> {to}"),
    };
    ip.extend(udp);
    ip
}

/// Sends, from namespace `ns` to `to`, an ICMP (ICMPv6) port unreachable quoting the
/// datagram `quoted_from` → `quoted_to`, through a raw socket (the kernel writes the
/// outer IP header, and for ICMPv6 the checksum).
fn send_port_unreachable(ns: &str, to: IpAddr, quoted_from: SocketAddr, quoted_to: SocketAddr) {
    in_netns(ns, move || {
        let v6 = to.is_ipv6();
        let (ty, code) = if v6 { (1, 4) } else { (3, 3) };
        let mut msg = vec![ty, code, 0, 0, 0, 0, 0, 0];
        msg.extend(quoted_datagram(quoted_from, quoted_to));
        if !v6 {
            let sum = checksum(&msg);
            msg[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        let (domain, proto) = if v6 {
            (libc::AF_INET6, libc::IPPROTO_ICMPV6)
        } else {
            (libc::AF_INET, libc::IPPROTO_ICMP)
        };
        // SAFETY: socket(2) with constant arguments; the result is checked and closed.
        let fd = unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let sent = match to {
            IpAddr::V4(a) => {
                // SAFETY: a zeroed sockaddr_in is valid; the fields are set below.
                let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
                // SAFETY: the buffer and the address outlive the call; sizes are theirs.
                unsafe {
                    libc::sendto(
                        fd,
                        msg.as_ptr().cast(),
                        msg.len(),
                        0,
                        (&sa as *const libc::sockaddr_in).cast(),
                        std::mem::size_of_val(&sa) as libc::socklen_t,
                    )
                }
            }
            IpAddr::V6(a) => {
                // SAFETY: a zeroed sockaddr_in6 is valid; the fields are set below.
                let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa.sin6_addr.s6_addr = a.octets();
                // SAFETY: as above.
                unsafe {
                    libc::sendto(
                        fd,
                        msg.as_ptr().cast(),
                        msg.len(),
                        0,
                        (&sa as *const libc::sockaddr_in6).cast(),
                        std::mem::size_of_val(&sa) as libc::socklen_t,
                    )
                }
            }
        };
        let err = std::io::Error::last_os_error();
        // SAFETY: closing the descriptor made above, once.
        unsafe { libc::close(fd) };
        assert_eq!(sent, msg.len() as isize, "send the ICMP error: {err}");
    });
}

/// Packets counted by the rule whose text is `text` in `stats --json`.
#[track_caller]
fn rule_packets(stats: &serde_json::Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hit = rules.iter().find(|r| r["text"] == text);
    hit.and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"))
}

/// A UDP socket of A connected to `peer` that has sent nothing, and its address.
fn silent_socket(lab: &Lab, peer: SocketAddr) -> (UdpSocket, SocketAddr) {
    let s = udp_connected(&lab.ns_a, peer);
    let local = s.local_addr().expect("local address");
    assert_ne!(s.as_raw_fd(), -1);
    (s, local)
}

fn icmp_errors_of_tracked_flows_are_related(tag: &str, subnet: u8, hook: &str, v6: bool) {
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
        (lab.addr_a.into(), lab.addr_b.into())
    };
    enable_conntrack(&lab.ns_a);
    let closed = SocketAddr::new(b, 7201);

    // The control: without rules, a crafted error reaches a socket that sent nothing.
    let (control, control_addr) = silent_socket(&lab, closed);
    send_port_unreachable(&lab.ns_b, a, control_addr, closed);
    assert_eq!(
        outcome(&udp_recv(&control, ANSWER)),
        Outcome::Refused,
        "without rules, the crafted port unreachable reaches A's socket"
    );

    let neighbours = if v6 {
        "    allow icmpv6 type 135\n    allow icmpv6 type 136\n"
    } else {
        "    allow arp\n"
    };
    let text = format!(
        "{hook} on {} {{\n{neighbours}    {ALLOW}\n    default drop\n}}\n",
        lab.if_a
    );
    lab.apply_ok(&lab.rules("ct_icmp.sk", &text));
    lab.status_attached();

    // An unsolicited error quoting a datagram A never sent: no entry, `invalid`.
    let (silent, silent_addr) = silent_socket(&lab, closed);
    send_port_unreachable(&lab.ns_b, a, silent_addr, closed);
    assert_eq!(
        outcome(&udp_recv(&silent, NO_ANSWER)),
        Outcome::TimedOut,
        "an unsolicited port unreachable drops at {hook}"
    );
    let before = rule_packets(&lab.stats(), ALLOW);

    // B's kernel answers A's datagram to a closed port: `related` to A's flow.
    let client = udp_connected(&lab.ns_a, closed);
    client.send(b"anyone?").expect("send from A");
    assert_eq!(
        outcome(&udp_recv(&client, ANSWER)),
        Outcome::Refused,
        "the port unreachable answering A's datagram passes at {hook}"
    );
    let after = rule_packets(&lab.stats(), ALLOW);
    assert_eq!(
        after,
        before + 1,
        "the port unreachable is counted by `{ALLOW}`, the unsolicited one is not"
    );
}

#[test]
fn icmp_errors_of_tracked_flows_are_related_at_xdp() {
    icmp_errors_of_tracked_flows_are_related("cticx4", 185, "xdp", false);
}

#[test]
fn icmp_errors_of_tracked_flows_are_related_at_tc_ingress() {
    icmp_errors_of_tracked_flows_are_related("cticT4", 186, "tc ingress", false);
}

#[test]
fn icmp_errors_of_tracked_flows_are_related_at_xdp_ipv6() {
    icmp_errors_of_tracked_flows_are_related("cticx6", 187, "xdp", true);
}

#[test]
fn icmp_errors_of_tracked_flows_are_related_at_tc_ingress_ipv6() {
    icmp_errors_of_tracked_flows_are_related("cticT6", 188, "tc ingress", true);
}
