//! `mark` at TC against the kernel (docs/language.md, "Marks: mark"): a `tc egress`
//! block reads `__sk_buff.mark`. Real traffic from namespace A to B whose mark an nft
//! output chain in A sets by destination port (the mark routing and sockets give
//! packets): the datagrams marked 0x10 stop at A's veth, the others (mark 0x20000000, or no
//! mark) arrive, and each rule counts its own.
//!
//! The kernel tests need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{net::SocketAddr, process::Command, time::Duration};

use netns::{outcome, run, udp_bind, udp_recv, Lab, Outcome};

#[test]
fn tc_egress_drops_by_the_packets_mark() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("tcmark", 246);
    let ports = [4331, 4332, 4333];
    let nft = format!(
        "add table ip tcmark\nadd chain ip tcmark out {{ type route hook output priority \
         mangle; }}\nadd rule ip tcmark out udp dport {} meta mark set 0x10\nadd rule ip \
         tcmark out udp dport {} meta mark set 0x20000000\n",
        ports[0], ports[1]
    );
    let file = lab.rules("mark.nft", &nft);
    let r = run(Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "nft", "-f"])
        .arg(&file));
    assert_eq!(r.code, 0, "{r}");
    let text = format!(
        "tc egress on {} {{\n    drop udp mark 0x10\n    count udp mark 0x20000000/0xf0000000\n    default \
         allow\n}}\n",
        lab.if_a
    );
    lab.apply_ok(&lab.rules("mark.sk", &text));
    let tx = udp_bind(&lab.ns_a, SocketAddr::new(lab.addr_a.into(), 0));
    for (port, arrives) in ports.into_iter().zip([false, true, true]) {
        let to = SocketAddr::new(lab.addr_b.into(), port);
        let rx = udp_bind(&lab.ns_b, to);
        tx.send_to(b"marked?", to).expect("send");
        let wait = Duration::from_millis(if arrives { 2000 } else { 500 });
        let got = outcome(&udp_recv(&rx, wait)) == Outcome::Answered;
        assert_eq!(got, arrives, "port {port}");
    }
    let stats = lab.stats();
    let packets = |text: &str| {
        stats["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .find(|r| r["text"] == text)
            .and_then(|r| r["packets"].as_u64())
            .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"))
    };
    assert_eq!(packets("drop udp mark 0x10"), 1);
    assert_eq!(packets("count udp mark 0x20000000/0xf0000000"), 1);
}

/// `sockc test` at TC: a test run's socket buffer has mark 0, which the kernel runs
/// (and agrees with the evaluator on, through the verifier's `__sk_buff.mark` load);
/// a packet naming another mark is the evaluator's alone.
#[test]
fn test_runs_at_tc_read_mark_zero_and_the_evaluator_agrees() {
    if !common::kernel() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sockc-tcmark-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("mark.sk");
    std::fs::write(
        &rules,
        "tc ingress on lo {\n    drop udp to *:1 mark 0\n    drop udp to *:2 mark \
         0x80000000/0x80000000\n    default allow\n}\n",
    )
    .unwrap();
    let packets = dir.join("mark.packets");
    std::fs::write(
        &packets,
        "udp 10.0.0.1:5 -> 10.0.0.2:1\nudp 10.0.0.1:5 -> 10.0.0.2:2\n\
         udp 10.0.0.1:5 -> 10.0.0.2:1 mark 0x1\nudp 10.0.0.1:5 -> 10.0.0.2:2 mark 0x80000001\n",
    )
    .unwrap();
    let r = netns::sockc(&[
        "test",
        rules.to_str().unwrap(),
        "--packets",
        packets.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.code, 0, "kernel and evaluator disagree:\n{r}");
    assert!(
        r.stderr.contains(
            "agree on all 2 (packet, program) pairs the kernel ran; the kernel cannot run 2"
        ),
        "{r}"
    );
    // The kernel drops mark 0 to port 1; the evaluator drops the high bit to port 2.
    assert_eq!(r.stdout.matches("drop     line").count(), 2, "{r}");
}
