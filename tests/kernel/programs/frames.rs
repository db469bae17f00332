//! Frame matches (`arp`, `ether type`, `vlan`) in the kernel and in the evaluator: one
//! program at XDP and at TC ingress, a table of frames (ARP requests, other
//! EtherTypes, tagged and QinQ frames, a cut-short IPv4 header), and for each frame
//! the rule the table names must decide in `BPF_PROG_TEST_RUN` and in the reference
//! evaluator alike, with the same `count` rules on the way.

use sockc_compiler::{hooks::HookKind, Options};
use sockc_testkit::eval::Facts;

use super::{c, evaluator_agrees, kernel, load, run_table, Case, V};

const RULES: &str = "\
HOOK {
    count vlan 7
    allow arp
    drop ether type 0x88cc
    allow ether type ip6 icmpv6 type 135
    drop vlan 10
    allow ether type ip vlan 30 tcp to *:22
    drop ether type ip
    default allow
}
";

fn cases(xdp: bool) -> Vec<Case> {
    let mut t = vec![
        c("arp 10.0.0.1 -> 10.0.0.2", V::Allow, "allow arp", &[]),
        c(
            "arp 10.0.0.1 -> 10.0.0.2 vlan 7",
            V::Allow,
            "allow arp",
            &["count vlan 7"],
        ),
        c(
            "arp 10.0.0.1 -> 10.0.0.2 vlan 10",
            V::Allow,
            "allow arp",
            &[],
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 ether 0x88cc",
            V::Drop,
            "drop ether type 0x88cc",
            &[],
        ),
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 10 ether 0x88cc",
            V::Drop,
            "drop ether type 0x88cc",
            &[],
        ),
        c(
            "icmpv6 fe80::1 -> ff02::1:ff00:1 type 135",
            V::Allow,
            "allow ether type ip6 icmpv6 type 135",
            &[],
        ),
        c(
            "icmpv6 fe80::1 -> ff02::1:ff00:1 type 136",
            V::Allow,
            "default",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 vlan 30 syn",
            V::Allow,
            "allow ether type ip vlan 30 tcp to *:22",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 syn",
            V::Drop,
            "drop ether type ip",
            &[],
        ),
        c(
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 vlan 10",
            V::Drop,
            "drop vlan 10",
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:2",
            V::Allow,
            "default",
            &[],
        ),
        // QinQ: the outer tag is 7, the type after it is 0x8100.
        c(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 7 ether 0x8100",
            V::Allow,
            "default",
            &["count vlan 7"],
        ),
    ];
    if xdp {
        // TC test runs refuse an IPv4 EtherType frame shorter than the IPv4 header.
        t.push(c(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 ether 0x0800 len 20",
            V::Drop,
            "drop ether type ip",
            &[],
        ));
    }
    t
}

#[test]
fn frame_matches_decide_alike_in_the_kernel_and_the_evaluator() {
    if !kernel() {
        return;
    }
    for (head, kind) in [
        ("xdp on lo", HookKind::Xdp),
        ("tc ingress on lo", HookKind::TcIngress),
        ("tc egress on lo", HookKind::TcEgress),
    ] {
        let src = RULES.replace("HOOK", head);
        let (compiled, diags) = sockc_compiler::compile(&src, &Options::default());
        let compiled = compiled.unwrap_or_else(|| panic!("{diags:#?}"));
        let cases = cases(kind == HookKind::Xdp);
        evaluator_agrees(&compiled, &cases, &Facts::default());
        let obj = load(&compiled, head);
        run_table(&obj, kind, &cases);
    }
}
