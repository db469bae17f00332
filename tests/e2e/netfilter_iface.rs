//! `in on NAME` / `out on NAME` in netfilter blocks, against the kernel.
//!
//! The verifier: a block at each of the five hooks with the device matches that hook
//! has goes through `sockc test` (our own `BPF_PROG_LOAD`, then `BPF_PROG_TEST_RUN`),
//! and the kernel's answers agree with the evaluator's. A test run gives the program no
//! incoming device and loopback as the outgoing one, so the packets run in the kernel
//! are exactly the ones naming no incoming device and `out lo`: name compares, prefixes
//! and negation of `out on` are checked against the real `lo` device's name bytes.
//!
//! Real traffic: namespace A between B (the lab's veth) and C (a second veth). A
//! `netfilter input` block dropping a UDP port `in on` B's veth drops B's datagrams to
//! A and passes C's to A on the same port; a prefix and a negated list do the same
//! through other names; a `netfilter forward` block with `out on` C's veth drops B's
//! datagrams routed to C while A's own socket still gets them.
//!
//! The semantic diff compares device matches: the device is a dimension, and a changed
//! name is two regions whose examples name the devices.
//!
//! By index (`in index N`, nft's `iif`/`oif`): the verifier takes it at every hook and
//! the test runs agree (the outgoing `lo` is index 1); in a namespace the test makes,
//! `lo` is index 1; on real traffic an index match follows the device through a
//! rename and stops matching when the device is deleted and created again (a new
//! index), as nft's `iif` does; a changed index is "not compared" by the diff.
//!
//! The kernel tests need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::{Ipv4Addr, SocketAddr},
    process::Command,
};

use netns::{ip, outcome, run, udp_bind, udp_recv, Lab, Outcome, ANSWER, NO_ANSWER};

/// Each hook, and the devices it has (incoming, outgoing).
const HOOKS: [(&str, bool, bool); 5] = [
    ("prerouting", true, false),
    ("input", true, false),
    ("forward", true, true),
    ("output", false, true),
    ("postrouting", false, true),
];

fn block(hook: &str, has_in: bool, has_out: bool) -> String {
    let mut rules = Vec::new();
    if has_in {
        rules.push("drop udp to *:1 in on eth0".to_string());
        rules.push("drop udp to *:2 in on !eth0,veth*".into());
        rules.push("count udp to *:9 in on +".into());
    }
    if has_out {
        rules.push("drop udp to *:3 out on lo".into());
        rules.push("drop udp to *:4 out on !lo".into());
        rules.push("drop udp to *:5 out on l*".into());
        rules.push("drop udp to *:6 out on lo0,eth+".into());
        rules.push("drop udp to *:7 out on 0123456789abcde".into());
    }
    format!(
        "netfilter {hook} {{\n    {}\n    default allow\n}}\n",
        rules.join("\n    ")
    )
}

#[test]
fn the_verifier_takes_device_matches_at_every_hook_and_the_kernel_agrees() {
    if !common::kernel() {
        return;
    }
    // Ports 1..=9 in the kernel; the evaluator alone where the program tests the
    // device named. The kernel: port 2 (no incoming device is neither eth0 nor
    // veth*), ports 3 and 5 (`lo`, `l*`); the evaluator: port 1 (in eth0; veth3 is
    // veth*, so port 2 passes) and port 6 (eth7).
    let evaluator = |has_in, has_out| {
        let mut e = Vec::new();
        if has_in {
            e.push("udp 10.0.0.1:5 -> 10.0.0.2:1 in eth0");
            e.push("udp 10.0.0.1:5 -> 10.0.0.2:2 in veth3");
        }
        if has_out {
            e.push("udp 10.0.0.1:5 -> 10.0.0.2:6 out eth7");
        }
        e
    };
    kernel_and_evaluator_agree("nfiface", block, 9, evaluator, |has_in, has_out| {
        match (has_in, has_out) {
            (true, false) => 1 + 1,
            (false, true) => 2 + 1,
            _ => 3 + 2,
        }
    });
}

/// At each hook: `sockc test` of `block(hook)` on UDP packets to ports
/// `1..=kernel_ports` with no incoming device and outgoing `lo` (what the kernel
/// runs) and on `evaluator`'s packets (the evaluator alone) exits 0, says it ran
/// them so, and drops `drops` of them.
fn kernel_and_evaluator_agree(
    tag: &str,
    block: impl Fn(&str, bool, bool) -> String,
    kernel_ports: u16,
    evaluator: impl Fn(bool, bool) -> Vec<&'static str>,
    drops: impl Fn(bool, bool) -> usize,
) {
    let dir = std::env::temp_dir().join(format!("sockc-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (hook, has_in, has_out) in HOOKS {
        let rules = dir.join(format!("{hook}.sk"));
        std::fs::write(&rules, block(hook, has_in, has_out)).unwrap();
        let out = if has_out { " out lo" } else { "" };
        let kernel: Vec<String> = (1..=kernel_ports)
            .map(|p| format!("udp 10.0.0.1:5 -> 10.0.0.2:{p}{out}"))
            .collect();
        let evaluator = evaluator(has_in, has_out);
        let mut packets = kernel.join("\n");
        for e in &evaluator {
            packets.push('\n');
            packets.push_str(e);
        }
        let file = dir.join(format!("{hook}.packets"));
        std::fs::write(&file, packets).unwrap();
        let r = netns::sockc(&[
            "test",
            rules.to_str().unwrap(),
            "--packets",
            file.to_str().unwrap(),
        ]);
        assert_eq!(
            r.code, 0,
            "netfilter {hook}: kernel and evaluator disagree:\n{r}"
        );
        let summary = format!(
            "agree on all {} (packet, program) pairs the kernel ran; the kernel cannot run {}",
            kernel.len(),
            evaluator.len()
        );
        assert!(
            r.stderr.contains(&summary),
            "netfilter {hook}: {summary}:\n{r}"
        );
        let dropped = r.stdout.matches("drop     line").count();
        assert_eq!(dropped, drops(has_in, has_out), "netfilter {hook}:\n{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn index_block(hook: &str, has_in: bool, has_out: bool) -> String {
    let mut rules = Vec::new();
    if has_in {
        rules.push("drop udp to *:1 in index 1");
        rules.push("drop udp to *:2 in index !1,2");
    }
    if has_out {
        rules.push("drop udp to *:3 out index 1");
        rules.push("drop udp to *:4 out index !1");
        rules.push("drop udp to *:5 out index 2,1");
        rules.push("count udp to *:6 out index 3");
    }
    format!(
        "netfilter {hook} {{\n    {}\n    default allow\n}}\n",
        rules.join("\n    ")
    )
}

#[test]
fn the_verifier_takes_index_matches_at_every_hook_and_the_kernel_agrees() {
    if !common::kernel() {
        return;
    }
    // Ports 1..=6 in the kernel (no incoming device: index 0; outgoing `lo`: index
    // 1): port 2 (index 0 is neither 1 nor 2), ports 3 and 5; the evaluator: port 1
    // (`lo` is index 1; index 2 passes port 2's rule) and port 5.
    let evaluator = |has_in, has_out| {
        let mut e = Vec::new();
        if has_in {
            e.push("udp 10.0.0.1:5 -> 10.0.0.2:1 in lo");
            e.push("udp 10.0.0.1:5 -> 10.0.0.2:2 in eth0 in-index 2");
        }
        if has_out {
            e.push("udp 10.0.0.1:5 -> 10.0.0.2:5 out eth0 out-index 2");
        }
        e
    };
    kernel_and_evaluator_agree(
        "nfindex",
        index_block,
        6,
        evaluator,
        |has_in, has_out| match (has_in, has_out) {
            (true, false) => 1 + 1,
            (false, true) => 2 + 1,
            _ => 3 + 2,
        },
    );
}

/// The index of device `dev` in namespace `ns`, as `ip -o link` prints it.
fn ifindex(ns: &str, dev: &str) -> u32 {
    let out = ip(&["-n", ns, "-o", "link", "show", "dev", dev]).stdout;
    let n = out.split(':').next().unwrap_or("").trim();
    n.parse()
        .unwrap_or_else(|_| panic!("no index for {dev} in {ns}: {out}"))
}

#[test]
fn an_index_match_follows_a_renamed_device_and_not_a_recreated_one() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("nfix", 64);
    let c = behind(&lab, 64);
    // The loopback of a namespace this test made is index 1, what `in index 1`
    // (nft's `iif "lo"`) relies on.
    assert_eq!(ifindex(&lab.ns_a, "lo"), 1);
    let from_b = (lab.ns_b.as_str(), lab.addr_b);
    let from_c = (c.ns.as_str(), c.c);
    let to_a = |port: u16| SocketAddr::new(lab.addr_a.into(), port);
    let check = |when: &str, port: u16, b_passes: bool, c_passes: bool| {
        let b = delivered(from_b, &lab.ns_a, to_a(port), b_passes);
        let cc = delivered(from_c, &lab.ns_a, to_a(port), c_passes);
        assert_eq!(
            (b, cc),
            (b_passes, c_passes),
            "{when}: port {port}: (from B, from C) should pass ({b_passes}, {c_passes})"
        );
    };
    let (ix_b, ix_c) = (ifindex(&lab.ns_a, &lab.if_a), ifindex(&lab.ns_a, &c.if_ac));
    let input = format!(
        "netfilter input {{\n    drop udp to *:7111 in index {ix_b}\n    drop udp to *:7112 \
         in index !{ix_c},1\n    drop udp to *:7113 in index 1\n    default allow\n}}\n"
    );
    lab.apply_ok(&lab.rules("index.sk", &input));
    check("in index of B's veth", 7111, false, true);
    check("in index !C's veth,1", 7112, false, true);
    // A's own datagram to itself comes in on `lo`.
    let own = (lab.ns_a.as_str(), Ipv4Addr::LOCALHOST);
    let lo_dst = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 7113);
    assert!(
        !delivered(own, &lab.ns_a, lo_dst, false),
        "in index 1: lo passed"
    );
    check("in index 1 (lo)", 7113, true, true);
    // Renamed, the device keeps its index: still dropped.
    let renamed = format!("rn-{}", lab.tag);
    ip(&["-n", &lab.ns_a, "link", "set", &c.if_ac, "down"]);
    ip(&["-n", &lab.ns_a, "link", "set", &c.if_ac, "name", &renamed]);
    ip(&["-n", &lab.ns_a, "link", "set", &renamed, "up"]);
    assert_eq!(ifindex(&lab.ns_a, &renamed), ix_c);
    check("after C's veth is renamed", 7112, false, true);
    // Deleted and created again, B's veth has a new index, which no rule names.
    lab.recreate_veth();
    assert_ne!(ifindex(&lab.ns_a, &lab.if_a), ix_b);
    check("after B's veth is created again", 7111, true, true);
    netns::sockc(&["flush", "--name", &lab.name, "--bpffs", netns::BPFFS]).ok();
    assert!(lab.pins().is_empty(), "pins left: {:?}", lab.pins());
}

/// The receiver's namespace behind the router, deleted on drop.
struct Receiver {
    ns: String,
    /// A's end of the veth to C.
    if_ac: String,
    /// A's address on C's side, C's address.
    a: Ipv4Addr,
    c: Ipv4Addr,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["netns", "del", &self.ns]));
    }
}

/// Namespace C with a veth to A (`10.202.SUBNET.0/24`), forwarding on in A, B and C
/// routed through A.
fn behind(lab: &Lab, subnet: u8) -> Receiver {
    let r = Receiver {
        ns: format!("sockc-{}-{}-c", lab.tag, std::process::id()),
        if_ac: format!("ac-{}", lab.tag),
        a: Ipv4Addr::new(10, 202, subnet, 1),
        c: Ipv4Addr::new(10, 202, subnet, 2),
    };
    let _ = run(Command::new("ip").args(["netns", "del", &r.ns]));
    ip(&["netns", "add", &r.ns]);
    ip(&["-n", &r.ns, "link", "set", "lo", "up"]);
    let if_ca = format!("ca-{}", lab.tag);
    ip(&[
        "link", "add", "name", &r.if_ac, "netns", &lab.ns_a, "type", "veth", "peer", "name",
        &if_ca, "netns", &r.ns,
    ]);
    for (ns, dev, addr) in [(&lab.ns_a, &r.if_ac, r.a), (&r.ns, &if_ca, r.c)] {
        ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }
    let fwd = run(Command::new("ip").args([
        "netns",
        "exec",
        &lab.ns_a,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]));
    assert_eq!(fwd.code, 0, "{fwd}");
    let net = format!("10.202.{subnet}.0/24");
    ip(&[
        "-n",
        &lab.ns_b,
        "route",
        "add",
        &net,
        "via",
        &lab.addr_a.to_string(),
    ]);
    ip(&[
        "-n",
        &r.ns,
        "route",
        "add",
        "default",
        "via",
        &r.a.to_string(),
    ]);
    r
}

/// Whether a datagram sent from `(from_ns, from)` reaches a socket bound at `dst` in
/// `dst_ns`: tried a few times when it should, once for as long as [`NO_ANSWER`] when
/// it should not.
fn delivered(from: (&str, Ipv4Addr), dst_ns: &str, dst: SocketAddr, expect: bool) -> bool {
    let rx = udp_bind(dst_ns, dst);
    let tx = udp_bind(from.0, SocketAddr::new(from.1.into(), 0));
    let (tries, wait) = if expect {
        (10, ANSWER / 10)
    } else {
        (1, NO_ANSWER)
    };
    (0..tries).any(|_| {
        tx.send_to(b"which way in?", dst).expect("send");
        outcome(&udp_recv(&rx, wait)) == Outcome::Answered
    })
}

#[test]
fn netfilter_input_drops_by_incoming_veth_and_forward_by_outgoing() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("nfif", 63);
    let c = behind(&lab, 63);
    let from_b = (lab.ns_b.as_str(), lab.addr_b);
    let from_c = (c.ns.as_str(), c.c);
    // Both reach A's address on B's side, from two veths.
    let to_a = |port: u16| SocketAddr::new(lab.addr_a.into(), port);
    let check = |when: &str, port: u16, b_passes: bool, c_passes: bool| {
        let b = delivered(from_b, &lab.ns_a, to_a(port), b_passes);
        let cc = delivered(from_c, &lab.ns_a, to_a(port), c_passes);
        assert_eq!(
            (b, cc),
            (b_passes, c_passes),
            "{when}: port {port}: (from B, from C) should pass ({b_passes}, {c_passes})"
        );
    };
    check("before any rule", 7101, true, true);

    let input = format!(
        "netfilter input {{\n    drop udp to *:7101 in on {}\n    drop udp to *:7102 in on \
         a-*\n    drop udp to *:7103 in on !{},lo\n    default allow\n}}\n",
        lab.if_a, c.if_ac
    );
    lab.apply_ok(&lab.rules("iface.sk", &input));
    check("in on B's veth", 7101, false, true);
    check("in on a-*", 7102, false, true);
    check("in on !C's veth,lo", 7103, false, true);
    check("no rule", 7104, true, true);

    // Forwarded from B to C goes out on C's veth; A's own copy does not.
    let forward = format!(
        "netfilter forward {{\n    drop udp to *:7105 out on {}\n    default allow\n}}\n",
        c.if_ac
    );
    lab.apply_ok(&lab.rules("iface.sk", &forward));
    let to_c = SocketAddr::new(c.c.into(), 7105);
    assert!(
        !delivered(from_b, &c.ns, to_c, false),
        "out on C's veth: B's datagram to C passed"
    );
    assert!(
        delivered(from_b, &lab.ns_a, to_a(7105), true),
        "out on C's veth: B's datagram to A dropped"
    );
    assert!(
        delivered(from_b, &c.ns, SocketAddr::new(c.c.into(), 7106), true),
        "out on C's veth: another port to C dropped"
    );
    netns::sockc(&["flush", "--name", &lab.name, "--bpffs", netns::BPFFS]).ok();
    assert!(lab.pins().is_empty(), "pins left: {:?}", lab.pins());
}

/// The semantic diff has a dimension for the packet's device: a changed name changes
/// the packets of both names (exit 4), each region's example naming its device.
#[test]
fn the_diff_shows_the_packets_of_a_changed_interface() {
    let dir = std::env::temp_dir().join(format!("sockc-nfiface-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, dev: &str| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!("netfilter input {{\n    drop udp in on {dev}\n    default allow\n}}\n"),
        )
        .unwrap();
        p.to_str().unwrap().to_string()
    };
    let (old, new) = (file("old.sk", "eth0"), file("new.sk", "eth1"));
    let (code, out, err) = common::sockc(&["diff", &old, &new]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.starts_with("2 regions change verdict:"), "{out}");
    assert!(!out.contains("not compared"), "{out}");
    assert!(
        out.contains(" in eth0 ") && out.contains(" in eth1 "),
        "{out}"
    );
}

/// An index is not a dimension of the diff: a changed index says so (exit 4, "not
/// compared"), where a changed name is regions.
#[test]
fn the_diff_does_not_compare_a_changed_index() {
    let dir = std::env::temp_dir().join(format!("sockc-nfindex-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, ix: u32| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!("netfilter input {{\n    drop udp in index {ix}\n    default allow\n}}\n"),
        )
        .unwrap();
        p.to_str().unwrap().to_string()
    };
    let (old, new) = (file("old.sk", 2), file("new.sk", 3));
    let (code, out, err) = common::sockc(&["diff", &old, &new]);
    let (same, _, _) = common::sockc(&["diff", &old, &old]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.contains("not compared") && out.contains("`in index`"),
        "{out}"
    );
    assert_eq!(same, 0);
}
