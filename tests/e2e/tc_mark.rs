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
