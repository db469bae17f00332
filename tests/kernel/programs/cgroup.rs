//! The cgroup verdict tables: hand-written packets for `cgroup ingress` and `cgroup
//! egress` blocks (`rules/kernel/cgroup.sk`), run with `BPF_PROG_TEST_RUN`, which takes
//! the Ethernet header off as the stack does before these hooks: the program sees the
//! packet from its IP header, its EtherType from `skb->protocol`. So a frame with a
//! VLAN tag still in it is no IP packet here (at TC the same frame is parsed through
//! the tag), and counters count from the IP header on.

use super::*;

/// Ingress: rule order, both families, prefix edges, IPv4 options, ICMP by name, a
/// TCP header cut short, a VLAN-tagged frame (not IP here) and a non-IP EtherType.
#[test]
fn cgroup_ingress_verdict_table() {
    if !kernel() {
        return;
    }
    let obj = load_kernel_rules("cgroup.sk");
    use V::{Allow, Drop};
    const CT: &str = "count tcp";
    let ssh = "allow tcp to *:22";
    let from10 = "drop tcp from 10.0.0.0/8";
    let to6 = "drop to 2001:db8::/32";
    let echo = "drop icmp type echo-request";
    let d = "default";
    let cases = vec![
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22", Allow, ssh, &[CT]),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:23", Drop, from10, &[CT]),
        c("tcp 10.255.255.255:1 -> 10.5.0.2:23", Drop, from10, &[CT]),
        c("tcp 11.0.0.0:1 -> 10.5.0.2:23", Allow, d, &[CT]),
        c("tcp 9.255.255.255:1 -> 10.5.0.2:23", Allow, d, &[CT]),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22 ipopts 3", Allow, ssh, &[CT]),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22 len 40", Drop, from10, &[CT]),
        c("udp 10.0.0.1:1 -> 10.5.0.2:22", Allow, d, &[]),
        c("udp [2001:db8::1]:1 -> [2001:db8::2]:53", Drop, to6, &[]),
        c("udp [2001:db8::1]:1 -> [2001:db9::]:53", Allow, d, &[]),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext hbh,dst",
            Allow,
            ssh,
            &[CT],
        ),
        c(
            "icmp 10.0.0.1 -> 10.0.0.2 type echo-request",
            Drop,
            echo,
            &[],
        ),
        c("icmp 10.0.0.1 -> 10.0.0.2 type echo-reply", Allow, d, &[]),
        // The stack takes VLAN tags off before a cgroup hook; a frame that still has
        // one is not IP to the program (its EtherType is the tag's).
        c("tcp 10.0.0.1:1 -> 10.5.0.2:23 vlan 9", Allow, d, &[]),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22", Allow, d, &[])
            .patched("ethertype ARP", |f| set_ethertype(f, 0x0806)),
    ];
    let n = run_table(&obj, HookKind::CgroupIngress, &cases);
    println!("cgroup ingress: {n} cases");
}

/// Egress: a bare `count` counts every packet, an address set of both families, a
/// port set, TCP flags, ICMPv6 by name, `ip4` + prefix, `ip6` catch-all, `default
/// drop`.
#[test]
fn cgroup_egress_verdict_table() {
    if !kernel() {
        return;
    }
    let obj = load_kernel_rules("cgroup.sk");
    use V::{Allow, Drop};
    const ALL: &str = "count";
    let blocked = "drop to @blocked";
    let dns = "allow udp to *:@dns";
    let syn = "allow tcp syn !ack to *:80";
    let echo6 = "allow icmpv6 type echo-request";
    let lo4 = "allow ip4 to 127.0.0.0/8";
    let v6 = "drop ip6";
    let d = "default";
    let cases = vec![
        c("udp 10.5.0.1:1 -> 10.9.0.0:53", Drop, blocked, &[ALL]),
        c("udp 10.5.0.1:1 -> 10.9.255.255:53", Drop, blocked, &[ALL]),
        c("udp 10.5.0.1:1 -> 10.10.0.0:53", Allow, dns, &[ALL]),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8:9::1]:53",
            Drop,
            blocked,
            &[ALL],
        ),
        c("udp 10.5.0.1:1 -> 10.5.0.2:853", Allow, dns, &[ALL]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:54", Drop, d, &[ALL]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:80 syn", Allow, syn, &[ALL]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:80 syn ack", Drop, d, &[ALL]),
        c(
            "tcp 127.0.0.1:1 -> 127.0.0.1:80 syn ack",
            Allow,
            lo4,
            &[ALL],
        ),
        c("tcp 127.0.0.1:1 -> 128.0.0.0:80", Drop, d, &[ALL]),
        c(
            "icmpv6 [2001:db8::1] -> [2001:db8::2] type 128 code 0",
            Allow,
            echo6,
            &[ALL],
        ),
        c(
            "icmpv6 [2001:db8::1] -> [2001:db8::2] type 129 code 0",
            Drop,
            v6,
            &[ALL],
        ),
        c("tcp 127.0.0.1:1 -> 127.0.0.1:80 vlan 1", Drop, d, &[ALL]),
        c("tcp 127.0.0.1:1 -> 127.0.0.1:80", Drop, d, &[ALL])
            .patched("ethertype ARP", |f| set_ethertype(f, 0x0806)),
    ];
    let n = run_table(&obj, HookKind::CgroupEgress, &cases);
    println!("cgroup egress: {n} cases");
}
