//! `route local` / `route forward` end to end: three namespaces, sender S — router R —
//! receiver D (two veth pairs, R forwarding IPv4), and one sockc program on R's
//! ingress from S (XDP or TC) installed with `sockc apply --netns R`.
//!
//! What is checked: with `drop route local` + `default allow`, S's datagram to a
//! socket on R is dropped while its datagram to D (forwarded by R) arrives; with
//! `drop route forward` + `default allow`, the other way round. Then, with counting
//! rules, a destination in D's subnet counts as forwarded until R gets that address
//! (`ip addr add` after the apply), and as local from then on: the lookup reads the
//! FIB live.
//!
//! They need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use netns::{ip, outcome, run, sockc, udp_bind, udp_recv, Outcome, ANSWER, NO_ANSWER};

const BPFFS: &str = "/sys/fs/bpf";

/// The three namespaces and the install; all removed on drop.
struct Net {
    s: String,
    r: String,
    d: String,
    /// R's interface towards S (where the program runs).
    r_in: String,
    name: String,
    dir: PathBuf,
    /// 10.N.1.0/24 between S and R, 10.N.2.0/24 between R and D.
    n: u8,
}

impl Net {
    fn new(tag: &str, n: u8) -> Net {
        let pid = std::process::id();
        let net = Net {
            s: format!("sockc-{tag}-{pid}-s"),
            r: format!("sockc-{tag}-{pid}-r"),
            d: format!("sockc-{tag}-{pid}-d"),
            r_in: format!("ri-{tag}"),
            name: format!("test-{tag}-{pid}"),
            dir: std::env::temp_dir().join(format!("sockc-route-{tag}-{pid}")),
            n,
        };
        std::fs::create_dir_all(&net.dir).expect("rule directory");
        for ns in [&net.s, &net.r, &net.d] {
            let _ = run(Command::new("ip").args(["netns", "del", ns]));
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let (s_if, r_out, d_if) = (format!("s-{tag}"), format!("ro-{tag}"), format!("d-{tag}"));
        for (a_ns, a_if, b_ns, b_if) in [
            (&net.s, &s_if, &net.r, &net.r_in),
            (&net.r, &r_out, &net.d, &d_if),
        ] {
            ip(&[
                "link", "add", "name", a_if, "netns", a_ns, "type", "veth", "peer", "name", b_if,
                "netns", b_ns,
            ]);
        }
        for (ns, dev, addr) in [
            (&net.s, &s_if, net.addr(1, 2)),
            (&net.r, &net.r_in, net.addr(1, 1)),
            (&net.r, &r_out, net.addr(2, 1)),
            (&net.d, &d_if, net.addr(2, 2)),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&[
            "-n",
            &net.s,
            "route",
            "add",
            "default",
            "via",
            &net.addr(1, 1).to_string(),
        ]);
        ip(&[
            "-n",
            &net.d,
            "route",
            "add",
            "default",
            "via",
            &net.addr(2, 1).to_string(),
        ]);
        let r = run(Command::new("ip").args([
            "netns",
            "exec",
            &net.r,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]));
        assert_eq!(r.code, 0, "forwarding on in R: {r}");
        net
    }

    fn addr(&self, subnet: u8, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, subnet, host)
    }

    fn apply(&self, text: &str) {
        let file = self.dir.join("route.sk");
        std::fs::write(&file, text).expect("rule file");
        let file = file.to_str().expect("UTF-8 path");
        let args = [
            "apply", file, "--name", &self.name, "--bpffs", BPFFS, "--netns", &self.r,
        ];
        sockc(&args).ok();
    }

    /// Whether a datagram from S reaches `to` (a socket bound in `ns`), sent until it
    /// arrives or `tries` are spent (the first ones may wait for ARP).
    fn reaches(&self, ns: &str, to: SocketAddr, want: bool) -> bool {
        let sock = udp_bind(ns, to);
        let sender = netns::in_netns(&self.s, || UdpSocket::bind("0.0.0.0:0").expect("bind"));
        let wait = if want { ANSWER } else { NO_ANSWER };
        for _ in 0..3 {
            sender.send_to(b"hello", to).expect("send");
            if outcome(&udp_recv(&sock, wait)) == Outcome::Answered {
                return true;
            }
        }
        false
    }

    /// Packets counted by the rule whose text is `text`.
    fn counted(&self, text: &str) -> u64 {
        let r = sockc(&["stats", "--name", &self.name, "--json"]).ok();
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("stats --json");
        let rules = v["installs"][0]["rules"].as_array().expect("rules").clone();
        rules
            .iter()
            .find(|x| x["text"] == text)
            .and_then(|x| x["packets"].as_u64())
            .unwrap_or_else(|| panic!("no rule `{text}` in {v:#}"))
    }

    /// Sends `n` datagrams from S to `to` (nobody need receive them).
    fn send(&self, to: SocketAddr, n: usize) {
        netns::in_netns(&self.s, move || {
            let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
            for _ in 0..n {
                let _ = s.send_to(b"x", to);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = sockc(&["flush", "--name", &self.name, "--bpffs", BPFFS]);
        for ns in [&self.s, &self.r, &self.d] {
            let _ = run(Command::new("ip").args(["netns", "del", ns]));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn local_and_forwarded_are_told_apart(tag: &str, n: u8, hook: &str) {
    if !common::kernel() {
        return;
    }
    let net = Net::new(tag, n);
    let on_router = SocketAddr::new(net.addr(1, 1).into(), 7400);
    let on_receiver = SocketAddr::new(net.addr(2, 2).into(), 7401);
    let block = |rule: &str| {
        format!(
            "{hook} on {} {{\n    {rule}\n    default allow\n}}\n",
            net.r_in
        )
    };

    net.apply(&block("drop route local"));
    assert!(
        net.reaches(&net.d, on_receiver, true),
        "`drop route local`: S's datagram is forwarded to D"
    );
    assert!(
        !net.reaches(&net.r, on_router, false),
        "`drop route local`: S's datagram to R's own socket is dropped"
    );
    assert!(
        net.counted("drop route local") >= 3,
        "the rule counted them"
    );

    net.apply(&block("drop route forward"));
    assert!(
        net.reaches(&net.r, on_router, true),
        "`drop route forward`: S's datagram to R's socket arrives"
    );
    assert!(
        !net.reaches(&net.d, on_receiver, false),
        "`drop route forward`: S's datagram to D is dropped"
    );

    // An address R does not have yet, in D's subnet: forwarded, until R takes it. (Only
    // the test's datagrams are counted: S's IPv6 autoconfiguration is local too.)
    const LOCAL: &str = "count udp to *:7402 route local";
    const FORWARD: &str = "count udp to *:7402 route forward";
    let text = format!(
        "{hook} on {} {{\n    {LOCAL}\n    {FORWARD}\n    default allow\n}}\n",
        net.r_in
    );
    net.apply(&text);
    let moving = SocketAddr::new(net.addr(2, 77).into(), 7402);
    net.send(moving, 3);
    let (local, forward) = (net.counted(LOCAL), net.counted(FORWARD));
    println!("{hook}: before R has {moving}: local {local}, forward {forward}");
    assert!(forward >= 3 && local == 0, "before the address: forwarded");
    ip(&[
        "-n",
        &net.r,
        "addr",
        "add",
        &format!("{}/32", net.addr(2, 77)),
        "dev",
        "lo",
    ]);
    net.send(moving, 3);
    let (local2, forward2) = (net.counted(LOCAL), net.counted(FORWARD));
    println!("{hook}: after `ip addr add`: local {local2}, forward {forward2}");
    assert_eq!(
        forward2, forward,
        "after the address: nothing more forwarded"
    );
    assert!(local2 >= 3, "after the address: local");
}

#[test]
fn route_local_and_forward_at_xdp() {
    local_and_forwarded_are_told_apart("rtx", 181, "xdp");
}

#[test]
fn route_local_and_forward_at_tc_ingress() {
    local_and_forwarded_are_told_apart("rtt", 182, "tc ingress");
}
