//! IP header field tests (`ttl`, `hoplimit`; `dscp`, `ecn`; `length`; ICMP's protocol numbers
//! in the other IP version, `ip6 proto 1`) in the kernel and in the
//! evaluator: for each family of fields one program at XDP, TC ingress, TC egress, the
//! netfilter input hook and cgroup ingress and egress, a table of packets around the
//! values the rules name (each operator, ranges, lists, names, both families, behind
//! IPv4 options, IPv6 extension headers and a VLAN tag, and a non-first fragment), and
//! for each packet the rule the table names must decide in `BPF_PROG_TEST_RUN` and in
//! the reference evaluator alike, with the same `count` rules on the way.

use sockc_compiler::{hooks::HookKind, Options};
use sockc_testkit::eval::Facts;

use super::{c, evaluator_agrees, kernel, load, run_table, Case, V};

const RULES: &str = "\
HOOK {
    count ttl 1-2
    drop ttl 0
    allow icmpv6 type 135 hoplimit 255
    drop icmpv6 type 135
    drop ttl < 5 tcp to *:22
    allow ttl 64,128 tcp to *:22
    drop ttl != 255 tcp to *:22
    allow hoplimit >= 200 udp
    drop hoplimit 1-63,65
    allow ttl > 250
    default allow
}
";

/// `dscp` and `ecn`: one field for both families, read from the IPv4 TOS byte and the
/// IPv6 traffic class (which straddles the header's first two bytes).
const TOS_RULES: &str = "\
HOOK {
    count ecn ce
    allow dscp ef udp to *:5060
    drop dscp cs1 tcp to *:80
    drop ecn ce dscp != 0
    allow ip6 dscp af41-af43
    drop dscp > 47
    drop ecn 1-2 tcp to *:443
    allow dscp 0 tcp to *:443
    drop ip4 dscp 10,12,14
    default allow
}
";

fn tos_cases(netfilter: bool) -> Vec<Case> {
    let ce = &["count ecn ce"];
    let mut t = vec![
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:5060 dscp 46",
            V::Allow,
            "allow dscp ef udp to *:5060",
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:5060 dscp 46 ecn 3",
            V::Allow,
            "allow dscp ef udp to *:5060",
            ce,
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:5060 dscp 45",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:80 dscp 8",
            V::Drop,
            "drop dscp cs1 tcp to *:80",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:80 dscp 8 ipopts 3",
            V::Drop,
            "drop dscp cs1 tcp to *:80",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:80 dscp 9",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:80 dscp 8 ext hbh,dst",
            V::Drop,
            "drop dscp cs1 tcp to *:80",
            &[],
        ),
        // A non-first fragment has its DSCP but no ports.
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:80 dscp 8 frag 8",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 dscp 1 ecn 3",
            V::Drop,
            "drop ecn ce dscp != 0",
            ce,
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ecn 3",
            V::Allow,
            "default",
            ce,
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 dscp 63 ecn 3",
            V::Drop,
            "drop ecn ce dscp != 0",
            ce,
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 dscp 36",
            V::Allow,
            "allow ip6 dscp af41-af43",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 dscp 36",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 dscp 63",
            V::Drop,
            "drop dscp > 47",
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 dscp 48 ecn 1 ext fh",
            V::Drop,
            "drop dscp > 47",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 dscp 47 ecn 2",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:443 ecn 1",
            V::Drop,
            "drop ecn 1-2 tcp to *:443",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:443 dscp 8 ecn 2",
            V::Drop,
            "drop ecn 1-2 tcp to *:443",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:443",
            V::Allow,
            "allow dscp 0 tcp to *:443",
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:443 ecn 3",
            V::Allow,
            "allow dscp 0 tcp to *:443",
            ce,
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:443 dscp 2",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:53 dscp 12",
            V::Drop,
            "drop ip4 dscp 10,12,14",
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53 dscp 12",
            V::Allow,
            "default",
            &[],
        ),
    ];
    if !netfilter {
        t.push(c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:80 dscp 8 vlan 5",
            V::Drop,
            "drop dscp cs1 tcp to *:80",
            &[],
        ));
        // A frame that is not IP has no DSCP, not a DSCP of 0.
        t.push(c("arp 10.0.0.1 -> 10.0.0.2", V::Allow, "default", &[]));
    }
    t
}

/// `length`: the IPv4 total length, the IPv6 payload length plus 40, from the header
/// (padded packets, and at XDP and TC a length field shorter than the headers).
const LENGTH_RULES: &str = "\
HOOK {
    count length > 1400
    drop length < 28 udp
    allow length 40 tcp to *:22
    drop length != 40,60 tcp to *:22
    allow ip6 length 40-100 udp to *:53
    drop length 1000-1499,1501-65535 udp
    allow length > 65535
    drop length >= 9000
    default allow
}
";

fn length_cases(network_start: bool) -> Vec<Case> {
    let big = &["count length > 1400"];
    let mut t = vec![
        c(V4_SSH, V::Allow, "allow length 40 tcp to *:22", &[]),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 payload 00",
            V::Drop,
            "drop length != 40,60 tcp to *:22",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 length 60",
            V::Allow,
            "default",
            &[],
        ),
        // 60 bytes: the 40 of the fixed header count.
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22",
            V::Allow,
            "default",
            &[],
        ),
        c("udp 10.0.0.1:1 -> 10.0.0.2:53", V::Allow, "default", &[]),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53",
            V::Allow,
            "allow ip6 length 40-100 udp to *:53",
            &[],
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:53 length 1500",
            V::Allow,
            "default",
            big,
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:53 length 1501",
            V::Drop,
            "drop length 1000-1499,1501-65535 udp",
            big,
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53 ext hbh length 1000",
            V::Drop,
            "drop length 1000-1499,1501-65535 udp",
            &[],
        ),
        // A non-first fragment has its own length (21 bytes) and no ports.
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:53 frag 8 payload 00",
            V::Drop,
            "drop length < 28 udp",
            &[],
        ),
    ];
    if !network_start {
        // Lengths past a test frame (cut at 3,520 bytes), a length field shorter than
        // the headers (the kernel's IP layer drops such packets before netfilter and
        // cgroup programs), a tag, and a frame that is not IP.
        t.extend([
            c(
                "tcp [2001:db8::1]:1 -> [2001:db8::2]:80 length 65575",
                V::Allow,
                "allow length > 65535",
                big,
            ),
            c(
                "tcp 10.0.0.1:1 -> 10.0.0.2:80 length 9000",
                V::Drop,
                "drop length >= 9000",
                big,
            ),
            c(
                "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 length 40",
                V::Allow,
                "allow length 40 tcp to *:22",
                &[],
            ),
            c(
                "udp 10.0.0.1:1 -> 10.0.0.2:53 length 20",
                V::Drop,
                "drop length < 28 udp",
                &[],
            ),
            c(
                "tcp 10.0.0.1:1 -> 10.0.0.2:80 length 2000 vlan 5",
                V::Allow,
                "default",
                big,
            ),
            c("arp 10.0.0.1 -> 10.0.0.2", V::Allow, "default", &[]),
        ]);
    }
    t
}

const V4_SSH: &str = "tcp 10.0.0.1:1 -> 10.0.0.2:22";

fn cases(netfilter: bool) -> Vec<Case> {
    let mut t = vec![
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 0",
            V::Drop,
            "drop ttl 0",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 1",
            V::Drop,
            "drop ttl < 5 tcp to *:22",
            &["count ttl 1-2"],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 4",
            V::Drop,
            "drop ttl < 5 tcp to *:22",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 5",
            V::Drop,
            "drop ttl != 255 tcp to *:22",
            &[],
        ),
        c(V4_SSH, V::Allow, "allow ttl 64,128 tcp to *:22", &[]),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 128 ipopts 3",
            V::Allow,
            "allow ttl 64,128 tcp to *:22",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 255",
            V::Allow,
            "allow ttl > 250",
            &[],
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:53 ttl 251",
            V::Allow,
            "allow ttl > 250",
            &[],
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:53 ttl 250",
            V::Allow,
            "default",
            &[],
        ),
        // A non-first fragment has its TTL but no ports.
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 2 frag 8",
            V::Allow,
            "default",
            &["count ttl 1-2"],
        ),
        c(
            "icmpv6 fe80::1 -> ff02::1:ff00:1 type 135 ttl 255",
            V::Allow,
            "allow icmpv6 type 135 hoplimit 255",
            &[],
        ),
        c(
            "icmpv6 fe80::1 -> ff02::1:ff00:1 type 135",
            V::Drop,
            "drop icmpv6 type 135",
            &[],
        ),
        c(
            "icmpv6 fe80::1 -> ff02::1:ff00:1 type 135 ttl 255 ext hbh,dst",
            V::Allow,
            "allow icmpv6 type 135 hoplimit 255",
            &[],
        ),
        // `ttl` does not test IPv6: hop limit 0 falls through to the default.
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53 ttl 0",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53 ttl 200",
            V::Allow,
            "allow hoplimit >= 200 udp",
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53 ttl 199",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ttl 65",
            V::Drop,
            "drop hoplimit 1-63,65",
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ttl 63 ext fh",
            V::Drop,
            "drop hoplimit 1-63,65",
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22",
            V::Allow,
            "default",
            &[],
        ),
    ];
    if !netfilter {
        // Netfilter and cgroup programs see no Ethernet header (and no tag).
        t.push(c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 3 vlan 5",
            V::Drop,
            "drop ttl < 5 tcp to *:22",
            &[],
        ));
    }
    t
}

/// The hooks each table runs at, and whether their programs see the packet from its
/// network header on (no Ethernet header, no tag).
const HOOKS: [(&str, HookKind); 6] = [
    ("xdp on lo", HookKind::Xdp),
    ("tc ingress on lo", HookKind::TcIngress),
    ("tc egress on lo", HookKind::TcEgress),
    ("netfilter input priority 10", HookKind::NfInput),
    (
        "cgroup ingress \"/sys/fs/cgroup/app\"",
        HookKind::CgroupIngress,
    ),
    (
        "cgroup egress \"/sys/fs/cgroup/app\"",
        HookKind::CgroupEgress,
    ),
];

/// `rules` (with `HOOK` for the block's head) at every hook of [`HOOKS`]: the
/// evaluator and the kernel decide `cases(network_start)` as the table says.
fn run_at_every_hook(rules: &str, cases: fn(bool) -> Vec<Case>) {
    for (head, kind) in HOOKS {
        let src = rules.replace("HOOK", head);
        let (compiled, diags) = sockc_compiler::compile(&src, &Options::default());
        let compiled = compiled.unwrap_or_else(|| panic!("{diags:#?}"));
        let network_start = match sockc_compiler::hooks::spec(kind).context {
            sockc_compiler::hooks::Context::Packet(c) => c.protocol.is_some(),
            _ => true,
        };
        let cases = cases(network_start);
        evaluator_agrees(&compiled, &cases, &Facts::default());
        let obj = load(&compiled, head);
        run_table(&obj, kind, &cases);
    }
}

#[test]
fn ttl_and_hop_limit_decide_alike_in_the_kernel_and_the_evaluator() {
    if !kernel() {
        return;
    }
    run_at_every_hook(RULES, cases);
}

#[test]
fn dscp_and_ecn_decide_alike_in_the_kernel_and_the_evaluator() {
    if !kernel() {
        return;
    }
    run_at_every_hook(TOS_RULES, tos_cases);
}

#[test]
fn length_decides_alike_in_the_kernel_and_the_evaluator() {
    if !kernel() {
        return;
    }
    run_at_every_hook(LENGTH_RULES, length_cases);
}

/// ICMP's numbers in the other IP version: `ip6 proto 1` is an IPv6 packet whose next
/// header (after the extension headers) is 1, `ip4 proto 58` an IPv4 packet of
/// protocol 58; a number takes the family of the rule's prefix or length, else its
/// own (`proto 1` alone is `icmp`).
const ICMP_NUMBER_RULES: &str = "\
HOOK {
    count proto 1 from 2001:db8::/32
    drop ip6 proto 1 length > 100
    allow ip6 proto 1
    drop icmp type 8
    allow ip4 proto 58
    drop proto 58 length > 1280
    allow icmpv6
    drop proto 1
    default allow
}
";

fn icmp_number_cases(_network_start: bool) -> Vec<Case> {
    let counted = &["count proto 1 from 2001:db8::/32"];
    vec![
        c(
            "proto 1 2001:db8::1 -> 2001:db8::2",
            V::Allow,
            "allow ip6 proto 1",
            counted,
        ),
        c(
            "proto 1 2001:db8::1 -> 2001:db8::2 ext hbh,dst",
            V::Allow,
            "allow ip6 proto 1",
            counted,
        ),
        c(
            "proto 1 2001:db9::1 -> 2001:db8::2 length 200",
            V::Drop,
            "drop ip6 proto 1 length > 100",
            &[],
        ),
        c(
            "icmp 10.0.0.1 -> 10.0.0.2 type 8",
            V::Drop,
            "drop icmp type 8",
            &[],
        ),
        c(
            "icmp 10.0.0.1 -> 10.0.0.2 type 0",
            V::Drop,
            "drop proto 1",
            &[],
        ),
        c(
            "proto 58 10.0.0.1 -> 10.0.0.2",
            V::Allow,
            "allow ip4 proto 58",
            &[],
        ),
        c(
            "icmpv6 2001:db8::1 -> 2001:db8::2 type 128",
            V::Allow,
            "allow icmpv6",
            &[],
        ),
        c(
            "icmpv6 2001:db8::1 -> 2001:db8::2 type 128 length 1400",
            V::Drop,
            "drop proto 58 length > 1280",
            &[],
        ),
        c(
            "proto 2 2001:db8::1 -> 2001:db8::2",
            V::Allow,
            "default",
            &[],
        ),
    ]
}

#[test]
fn icmp_numbers_of_the_other_family_decide_alike_in_the_kernel_and_the_evaluator() {
    if !kernel() {
        return;
    }
    run_at_every_hook(ICMP_NUMBER_RULES, icmp_number_cases);
}
