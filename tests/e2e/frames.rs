//! The lockout warning end to end, in two namespaces joined by a veth: an XDP block
//! with `default drop` that allows only UDP to one port makes `sockc apply` warn
//! (`sockc::lockout`, naming `allow arp`), and once the peer's neighbour cache is
//! empty nothing gets through any more: its ARP requests are dropped. With the rule
//! the warning suggests before the default, ARP resolves and the datagrams arrive.

use crate::common;
use crate::netns;

use netns::{ip, Lab};

/// Forgets B's neighbour entries, so its next datagram to A needs ARP again.
fn forget_neighbours(lab: &Lab) {
    ip(&["-n", &lab.ns_b, "neigh", "flush", "dev", &lab.if_b]);
}

#[test]
fn arp_passes_a_default_drop_once_the_suggested_rule_is_in() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("arp", 46);
    let a = &lab.if_a;
    let locked = lab.rules(
        "locked.sk",
        &format!("xdp on {a} {{\n    allow udp to *:9000\n    default drop\n}}\n"),
    );
    let run = lab.apply_ok(&locked);
    assert!(
        run.stderr.contains("sockc::lockout") && run.stderr.contains("`allow arp`"),
        "apply does not warn about the lockout:\n{}",
        run.stderr
    );
    forget_neighbours(&lab);
    lab.expect_verdicts("ARP dropped by the default", &[(9000, false)]);

    let open = lab.rules(
        "open.sk",
        &format!(
            "xdp on {a} {{\n    allow arp\n    allow icmpv6\n    allow udp to *:9000\n    default drop\n}}\n"
        ),
    );
    let run = lab.apply_ok(&open);
    assert!(
        !run.stderr.contains("sockc::lockout"),
        "still warns with ARP and ICMPv6 allowed:\n{}",
        run.stderr
    );
    forget_neighbours(&lab);
    lab.expect_verdicts("ARP allowed", &[(9000, true)]);
}
