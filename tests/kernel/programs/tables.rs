//! The verdict tables: hand-written packets per hook (XDP, TC ingress, TC egress),
//! each with the verdict, deciding rule and counters it must produce, checked in the
//! kernel against the rule files in `rules/kernel/`.

use super::*;

const CU: &str = "count udp";
const C6: &str = "count ip6";

/// XDP verdicts for `rules/kernel/verdicts.sk`: every rule matched and missed,
/// prefix edges (first and last address, one outside on each side, for /16, /25, /48
/// and a /65 that spans a word boundary), port range ends and one past, port sets,
/// ports without a protocol, TCP flags, ICMP type by name and number with code,
/// ICMPv6, `proto 47`, family rules, `count` rules, VLAN (802.1Q and 802.1ad) and IPv4
/// options (variable IHL), fragments, truncation inside every header, and non-IP
/// frames. Checks the verdict and that exactly the deciding rule's counter and those
/// of the `count` rules passed through went up by one packet and the frame length.
#[test]
fn xdp_verdict_table() {
    if !kernel() {
        return;
    }
    let obj = load_kernel_rules("verdicts.sk");
    use V::{Allow, Drop};
    let r1 = "drop from 10.1.0.0/16";
    let r_dst4 = "drop to 10.2.3.128/25";
    let r_src6 = "drop from 2001:db8:1::/48";
    let r_dst6 = "drop to 2001:db8:aa:bb:8000::/65";
    let r_set = "drop from @blocked";
    let r_trusted = "allow tcp from @trusted to *:22";
    let r_syn = "drop tcp to *:22 syn !ack";
    let r_range = "drop tcp to *:1000-2000";
    let r_web = "drop udp to *:@webports";
    let r_v6port = "drop tcp to [2001:db8:5::/48]:443";
    let r_anyproto = "drop to *:6000";
    let r_sport = "drop from *:7777";
    let r_echo = "allow icmp type echo-request";
    let r_unreach = "drop icmp type 3 code 4";
    let r_icmp = "drop icmp";
    let r_icmp6 = "drop icmpv6 type 128 code 0";
    let r_gre = "drop proto 47";
    let r_udp4 = "drop ip4 udp";
    let d = "default";
    let cases = vec![
        // v4 source prefix /16: first, last, one below, one above.
        c("tcp 10.1.0.0:1 -> 10.5.0.2:80", Drop, r1, &[]),
        c("tcp 10.1.255.255:1 -> 10.5.0.2:80", Drop, r1, &[]),
        c("tcp 10.0.255.255:1 -> 10.5.0.2:80", Allow, d, &[]),
        c("tcp 10.2.0.0:1 -> 10.5.0.2:80", Allow, d, &[]),
        // a source rule does not look at the destination
        c("tcp 10.5.0.1:1 -> 10.1.0.1:80", Allow, d, &[]),
        // v4 destination prefix /25.
        c("udp 10.5.0.1:1 -> 10.2.3.128:9", Drop, r_dst4, &[CU]),
        c("udp 10.5.0.1:1 -> 10.2.3.255:9", Drop, r_dst4, &[CU]),
        c("tcp 10.5.0.1:1 -> 10.2.3.127:9", Allow, d, &[]),
        c("tcp 10.5.0.1:1 -> 10.2.4.0:9", Allow, d, &[]),
        // v6 source prefix /48.
        c(
            "tcp [2001:db8:1::]:1 -> [2001:db8:ff::2]:9",
            Drop,
            r_src6,
            &[C6],
        ),
        c(
            "tcp [2001:db8:1:ffff:ffff:ffff:ffff:ffff]:1 -> [2001:db8:ff::2]:9",
            Drop,
            r_src6,
            &[C6],
        ),
        c(
            "tcp [2001:db8:0:ffff:ffff:ffff:ffff:ffff]:1 -> [2001:db8:ff::2]:9",
            Allow,
            d,
            &[C6],
        ),
        c(
            "tcp [2001:db8:2::]:1 -> [2001:db8:ff::2]:9",
            Allow,
            d,
            &[C6],
        ),
        // v6 destination prefix /65 (the mask spans into the third 32-bit word).
        c(
            "udp [2001:db8:ff::1]:1 -> [2001:db8:aa:bb:8000::]:9",
            Drop,
            r_dst6,
            &[CU, C6],
        ),
        c(
            "udp [2001:db8:ff::1]:1 -> [2001:db8:aa:bb:ffff:ffff:ffff:ffff]:9",
            Drop,
            r_dst6,
            &[CU, C6],
        ),
        c(
            "udp [2001:db8:ff::1]:1 -> [2001:db8:aa:bb:7fff:ffff:ffff:ffff]:9",
            Allow,
            d,
            &[CU, C6],
        ),
        c(
            "udp [2001:db8:ff::1]:1 -> [2001:db8:aa:bc::]:9",
            Allow,
            d,
            &[CU, C6],
        ),
        // address set with both families
        c("tcp 192.0.2.0:1 -> 10.5.0.2:9", Drop, r_set, &[]),
        c("tcp 192.0.2.255:1 -> 10.5.0.2:9", Drop, r_set, &[]),
        c("tcp 198.51.100.7:1 -> 10.5.0.2:9", Drop, r_set, &[]),
        c("tcp 198.51.100.8:1 -> 10.5.0.2:9", Allow, d, &[]),
        c("tcp 192.0.3.0:1 -> 10.5.0.2:9", Allow, d, &[]),
        c("tcp 10.5.0.1:1 -> 192.0.2.1:9", Allow, d, &[]),
        c(
            "tcp [2001:db8:bad:1::5]:1 -> [2001:db8:ff::2]:9",
            Drop,
            r_set,
            &[C6],
        ),
        c(
            "tcp [2001:db8:bae::1]:1 -> [2001:db8:ff::2]:9",
            Allow,
            d,
            &[C6],
        ),
        // set + port allow in front of the SYN rule
        c(
            "tcp 10.9.1.1:5000 -> 10.5.0.2:22 syn",
            Allow,
            r_trusted,
            &[],
        ),
        c(
            "tcp [2001:db8:9::1]:5000 -> [2001:db8:ff::2]:22 syn",
            Allow,
            r_trusted,
            &[C6],
        ),
        c("tcp 10.9.1.1:5000 -> 10.5.0.2:23 syn", Allow, d, &[]),
        // TCP flags: syn !ack
        c("tcp 10.8.1.1:5000 -> 10.5.0.2:22 syn", Drop, r_syn, &[]),
        c("tcp 10.5.0.1:5000 -> 10.5.0.2:22 syn,fin", Drop, r_syn, &[]),
        c("tcp 10.5.0.1:5000 -> 10.5.0.2:22 syn,ack", Allow, d, &[]),
        c("tcp 10.5.0.1:5000 -> 10.5.0.2:22 ack", Allow, d, &[]),
        c("tcp 10.5.0.1:5000 -> 10.5.0.2:22", Allow, d, &[]),
        c("tcp 10.5.0.1:5000 -> 10.5.0.2:23 syn", Allow, d, &[]),
        // TCP header cut short: 53 of the 54 bytes the flags rule needs
        c("tcp 10.5.0.1:5000 -> 10.5.0.2:22 syn len 53", Allow, d, &[]),
        c(
            "tcp 10.5.0.1:5000 -> 10.5.0.2:22 syn len 54",
            Drop,
            r_syn,
            &[],
        ),
        // port range ends and one past
        c("tcp 10.5.0.1:1 -> 10.5.0.2:999", Allow, d, &[]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:1000", Drop, r_range, &[]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:2000", Drop, r_range, &[]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:2001", Allow, d, &[]),
        c("tcp 10.5.0.1:1500 -> 10.5.0.2:1", Allow, d, &[]),
        // IPv4 options move the TCP header (variable IHL), also to the maximum
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 ipopts 3",
            Drop,
            r_range,
            &[],
        ),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:2001 ipopts 3", Allow, d, &[]),
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 ipopts 10",
            Drop,
            r_range,
            &[],
        ),
        // 14 + 32 + 20 = 66 bytes are needed with 3 option words
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 ipopts 3 len 65",
            Allow,
            d,
            &[],
        ),
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 ipopts 3 len 66",
            Drop,
            r_range,
            &[],
        ),
        // VLAN tags: 802.1Q, and 802.1ad (TPID 0x88a8) patched in
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 vlan 100",
            Drop,
            r_range,
            &[],
        ),
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 vlan 100",
            Drop,
            r_range,
            &[],
        )
        .patched("tpid 88a8", |f| set_ethertype(f, 0x88a8)),
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 vlan 100 len 57",
            Allow,
            d,
            &[],
        ),
        c(
            "tcp 10.5.0.1:1 -> 10.5.0.2:1500 vlan 100 ipopts 3",
            Drop,
            r_range,
            &[],
        ),
        c(
            "tcp 10.1.0.1:1 -> 10.5.0.2:1500 vlan 4095 len 18",
            Allow,
            d,
            &[],
        ),
        // fragments: the first one has the ports, later ones do not
        c("tcp 10.5.0.1:1 -> 10.5.0.2:1500 mf", Drop, r_range, &[]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:1500 frag 10", Allow, d, &[]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:1500 frag 10 mf", Allow, d, &[]),
        c("tcp 10.1.0.1:1 -> 10.5.0.2:1500 frag 10", Drop, r1, &[]),
        // port set
        c("udp 10.5.0.1:1 -> 10.5.0.2:80", Drop, r_web, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:443", Drop, r_web, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:8000", Drop, r_web, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:8080", Drop, r_web, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:79", Drop, r_udp4, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:81", Drop, r_udp4, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:444", Drop, r_udp4, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:7999", Drop, r_udp4, &[CU]),
        c(
            "udp [2001:db8:ff::1]:1 -> [2001:db8:ff::2]:8081",
            Allow,
            d,
            &[CU, C6],
        ),
        c(
            "udp [2001:db8:ff::1]:1 -> [2001:db8:ff::2]:8080",
            Drop,
            r_web,
            &[CU, C6],
        ),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:443", Allow, d, &[]),
        // a UDP header cut short, and a later fragment: only the protocol-only rule
        c("udp 10.5.0.1:1 -> 10.5.0.2:80 len 41", Drop, r_udp4, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:80 len 42", Drop, r_web, &[CU]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:80 frag 10", Drop, r_udp4, &[CU]),
        // IPv6 address + port in brackets
        c(
            "tcp [2001:db8:ff::1]:1 -> [2001:db8:5::1]:443",
            Drop,
            r_v6port,
            &[C6],
        ),
        c(
            "tcp [2001:db8:ff::1]:1 -> [2001:db8:5::1]:444",
            Allow,
            d,
            &[C6],
        ),
        c(
            "tcp [2001:db8:ff::1]:1 -> [2001:db8:5::1]:443 vlan 7",
            Drop,
            r_v6port,
            &[C6],
        ),
        c(
            "tcp [2001:db8:ff::1]:1 -> [2001:db8:5::1]:443 vlan 7",
            Drop,
            r_v6port,
            &[C6],
        )
        .patched("tpid 88a8", |f| set_ethertype(f, 0x88a8)),
        c(
            "tcp [2001:db8:ff::1]:1 -> [2001:db8:5::1]:443 len 73",
            Allow,
            d,
            &[C6],
        ),
        c(
            "tcp [2001:db8:ff::1]:1 -> [2001:db8:5::1]:443 len 74",
            Drop,
            r_v6port,
            &[C6],
        ),
        // ports without a protocol: TCP or UDP, nothing else
        c("tcp 10.5.0.1:1 -> 10.5.0.2:6000", Drop, r_anyproto, &[]),
        c(
            "udp [2001:db8:ff::1]:1 -> [2001:db8:ff::2]:6000",
            Drop,
            r_anyproto,
            &[CU, C6],
        ),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:6001", Allow, d, &[]),
        c(
            "proto 132 10.5.0.1 -> 10.5.0.2 payload 0001177000000000",
            Allow,
            d,
            &[],
        ),
        c("udp 10.5.0.1:7777 -> 10.5.0.2:9", Drop, r_sport, &[CU]),
        c("tcp 10.5.0.1:7778 -> 10.5.0.2:9", Allow, d, &[]),
        c("tcp 10.5.0.1:9 -> 10.5.0.2:7777", Allow, d, &[]),
        // ICMP by name, by number + code, and protocol only
        c(
            "icmp 10.5.0.1 -> 10.5.0.2 type 8 code 0",
            Allow,
            r_echo,
            &[],
        ),
        c(
            "icmp 10.5.0.1 -> 10.5.0.2 type 8 code 0 len 38",
            Allow,
            r_echo,
            &[],
        ),
        c(
            "icmp 10.5.0.1 -> 10.5.0.2 type 8 code 0 len 37",
            Drop,
            r_icmp,
            &[],
        ),
        c(
            "icmp 10.5.0.1 -> 10.5.0.2 type 3 code 4",
            Drop,
            r_unreach,
            &[],
        ),
        c("icmp 10.5.0.1 -> 10.5.0.2 type 3 code 3", Drop, r_icmp, &[]),
        c("icmp 10.5.0.1 -> 10.5.0.2 type 0 code 0", Drop, r_icmp, &[]),
        c(
            "icmp 10.5.0.1 -> 10.5.0.2 type 8 code 0 ipopts 3",
            Allow,
            r_echo,
            &[],
        ),
        c(
            "icmp 10.5.0.1 -> 10.5.0.2 type 8 code 0 frag 10",
            Drop,
            r_icmp,
            &[],
        ),
        // ICMPv6
        c(
            "icmpv6 [2001:db8:ff::1] -> [2001:db8:ff::2] type 128 code 0",
            Drop,
            r_icmp6,
            &[C6],
        ),
        c(
            "icmpv6 [2001:db8:ff::1] -> [2001:db8:ff::2] type 128 code 1",
            Allow,
            d,
            &[C6],
        ),
        c(
            "icmpv6 [2001:db8:ff::1] -> [2001:db8:ff::2] type 8 code 0",
            Allow,
            d,
            &[C6],
        ),
        c(
            "icmpv6 [2001:db8:ff::1] -> [2001:db8:ff::2] type 128 code 0 len 57",
            Allow,
            d,
            &[C6],
        ),
        // other protocols
        c("proto 47 10.5.0.1 -> 10.5.0.2", Drop, r_gre, &[]),
        c(
            "proto 47 [2001:db8:ff::1] -> [2001:db8:ff::2]",
            Drop,
            r_gre,
            &[C6],
        ),
        c("proto 47 10.5.0.1 -> 10.5.0.2 frag 10", Drop, r_gre, &[]),
        c("proto 48 10.5.0.1 -> 10.5.0.2", Allow, d, &[]),
        // IPv4 header cut short (33 of 34 bytes): not IP, so not even an address rule
        c("tcp 10.1.0.1:1 -> 10.5.0.2:9 len 33", Allow, d, &[]),
        c("tcp 10.1.0.1:1 -> 10.5.0.2:9 len 34", Drop, r1, &[]),
        c(
            "tcp [2001:db8:1::1]:1 -> [2001:db8:ff::2]:9 len 53",
            Allow,
            d,
            &[],
        ),
        c(
            "tcp [2001:db8:1::1]:1 -> [2001:db8:ff::2]:9 len 54",
            Drop,
            r_src6,
            &[C6],
        ),
        // non-IP frames
        c("tcp 10.1.0.1:1 -> 10.5.0.2:9 len 14", Allow, d, &[]),
        c("tcp 10.1.0.1:1 -> 10.5.0.2:9", Allow, d, &[])
            .patched("ethertype ARP", |f| set_ethertype(f, 0x0806)),
        c("udp [2001:db8:1::1]:1 -> [2001:db8:ff::2]:9", Allow, d, &[])
            .patched("ethertype IPv4 on an IPv6 packet", |f| {
                set_ethertype(f, 0x0800)
            }),
        c("tcp 10.1.0.1:1 -> 10.5.0.2:9", Allow, d, &[])
            .patched("IP version 6 in an IPv4 frame", |f| f[14] = 0x65),
        c("tcp 10.1.0.1:1 -> 10.5.0.2:9", Allow, d, &[]).patched("IHL 4", |f| f[14] = 0x44),
        c("tcp [2001:db8:1::1]:1 -> [2001:db8:ff::2]:9", Allow, d, &[])
            .patched("IP version 4 in an IPv6 frame", |f| f[14] = 0x40),
    ];
    let n = run_table(&obj, HookKind::Xdp, &cases);
    println!("xdp: {n} cases");
}

/// TC ingress verdicts for `rules/kernel/tc.sk`: a `count` rule, allow-before-drop
/// ordering, addresses of both families, VLAN + IPv4 options, and a TCP header cut
/// short (the port rule misses, the protocol + address rule still matches). Same
/// counter checks as the XDP table, with `skb->len` as the byte count.
#[test]
fn tc_ingress_verdict_table() {
    if !kernel() {
        return;
    }
    let obj = load_kernel_rules("tc.sk");
    use V::{Allow, Drop};
    const CT: &str = "count tcp";
    let ssh = "allow tcp to *:22";
    let from10 = "drop tcp from 10.0.0.0/8";
    let to6 = "drop to 2001:db8::/32";
    let d = "default";
    let cases = vec![
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22", Allow, ssh, &[CT]),
        c("tcp 11.0.0.1:1 -> 10.5.0.2:22", Allow, ssh, &[CT]),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:23", Drop, from10, &[CT]),
        c("tcp 10.255.255.255:1 -> 10.5.0.2:23", Drop, from10, &[CT]),
        c("tcp 11.0.0.0:1 -> 10.5.0.2:23", Allow, d, &[CT]),
        c("tcp 9.255.255.255:1 -> 10.5.0.2:23", Allow, d, &[CT]),
        c("udp 10.0.0.1:1 -> 10.5.0.2:22", Allow, d, &[]),
        c(
            "tcp 10.0.0.1:1 -> 10.5.0.2:22 ipopts 3 vlan 9",
            Allow,
            ssh,
            &[CT],
        ),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22 len 40", Drop, from10, &[CT]),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22 frag 10", Drop, from10, &[CT]),
        c("udp [2001:db8::1]:1 -> [2001:db8::2]:53", Drop, to6, &[]),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:53",
            Drop,
            to6,
            &[],
        ),
        c("udp [2001:db8::1]:1 -> [2001:db9::]:53", Allow, d, &[]),
        c("tcp [2001:db8::1]:1 -> [2001:db8::2]:22", Allow, ssh, &[CT]),
        // IPv4 header cut short behind a VLAN tag (see the module doc), and a
        // 14-byte non-IP frame
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22 vlan 9 len 37", Allow, d, &[]),
        c(
            "tcp 10.0.0.1:1 -> 10.5.0.2:22 vlan 9 len 38",
            Drop,
            from10,
            &[CT],
        ),
        c("tcp 10.0.0.1:1 -> 10.5.0.2:22 len 14", Allow, d, &[])
            .patched("ethertype ARP", |f| set_ethertype(f, 0x0806)),
    ];
    let n = run_table(&obj, HookKind::TcIngress, &cases);
    println!("tc ingress: {n} cases");
}

/// TC egress verdicts for `rules/kernel/tc.sk`: a bare `count` counts every frame,
/// IP or not; port set allow; ICMPv6 by name; `ip4` + prefix; `ip6` catch-all; and a
/// `default drop`.
#[test]
fn tc_egress_verdict_table() {
    if !kernel() {
        return;
    }
    let obj = load_kernel_rules("tc.sk");
    use V::{Allow, Drop};
    const ALL: &str = "count";
    let dns = "allow udp to *:@dns";
    let echo6 = "allow icmpv6 type echo-request";
    let lo4 = "allow ip4 to 127.0.0.0/8";
    let v6 = "drop ip6";
    let d = "default";
    let cases = vec![
        c("udp 10.5.0.1:1 -> 10.5.0.2:53", Allow, dns, &[ALL]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:853", Allow, dns, &[ALL]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:54", Drop, d, &[ALL]),
        c("udp 10.5.0.1:1 -> 10.5.0.2:852", Drop, d, &[ALL]),
        c("tcp 10.5.0.1:1 -> 10.5.0.2:53", Drop, d, &[ALL]),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53",
            Allow,
            dns,
            &[ALL],
        ),
        c("udp [2001:db8::1]:1 -> [2001:db8::2]:54", Drop, v6, &[ALL]),
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
        c("icmp 10.5.0.1 -> 10.5.0.2 type 128 code 0", Drop, d, &[ALL]),
        c("tcp 127.0.0.1:1 -> 127.0.0.0:80", Allow, lo4, &[ALL]),
        c("tcp 127.0.0.1:1 -> 127.255.255.255:80", Allow, lo4, &[ALL]),
        c("tcp 127.0.0.1:1 -> 128.0.0.0:80", Drop, d, &[ALL]),
        c("tcp 127.0.0.1:1 -> 126.255.255.255:80", Drop, d, &[ALL]),
        c(
            "tcp 127.0.0.1:1 -> 127.0.0.1:80 vlan 1 len 37",
            Drop,
            d,
            &[ALL],
        ),
        c(
            "tcp 127.0.0.1:1 -> 127.0.0.1:80 vlan 1 len 38",
            Allow,
            lo4,
            &[ALL],
        ),
        c("tcp 127.0.0.1:1 -> 127.0.0.1:80 len 14", Drop, d, &[ALL])
            .patched("ethertype ARP", |f| set_ethertype(f, 0x0806)),
        c("tcp 127.0.0.1:1 -> 127.0.0.1:80", Drop, d, &[ALL])
            .patched("ethertype ARP", |f| set_ethertype(f, 0x0806)),
    ];
    let n = run_table(&obj, HookKind::TcEgress, &cases);
    println!("tc egress: {n} cases");
}
