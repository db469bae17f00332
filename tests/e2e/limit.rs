//! `limit` under a flood, end to end: a pair of namespaces A and B joined by a veth
//! (`tests/netns`), `allow udp to *:PORT limit N/s burst B` then `drop udp to *:PORT`
//! on A's ingress (XDP or TC) or in a `netfilter input` block, with
//! `sockc apply --netns A`, and B sending datagrams to
//! A's port at ten times N for about two seconds.
//!
//! What is checked: the limit rule's counter, and the datagrams A's socket receives,
//! are within ±10% of `N × t + B`, where t is the time B was sending (first to last
//! datagram, taken at the sender: this machine is shared, so the flood is measured as
//! offered, not as planned); the drop rule counts the rest. With `per source`, two
//! source addresses flooding together get a bucket each: about twice as many pass.
//! The figures are printed.
//!
//! They need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use netns::{set_rcvbuf, spawn_in_netns, udp_bind, Lab};

const RATE: u64 = 1000;
const BURST: u64 = 50;
const FLOOD_SECS: f64 = 2.0;

/// Packets counted by the rule whose text is `text` in `stats --json`.
#[track_caller]
fn rule_packets(stats: &serde_json::Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hit = rules.iter().find(|r| r["text"] == text);
    hit.and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"))
}

/// What one flood did: datagrams sent, and the seconds from the first to the last.
struct Flood {
    sent: u64,
    secs: f64,
}

/// Sends to `to` from each of `from` in turn, at `10 × RATE` datagrams per second in
/// all, for [`FLOOD_SECS`]; paced by the clock (a late tick sends what it owes).
fn flood(ns: &str, from: Vec<Ipv4Addr>, to: SocketAddr) -> Flood {
    let handle = spawn_in_netns(ns, move || {
        let socks: Vec<UdpSocket> = from
            .iter()
            .map(|a| {
                let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(*a), 0)).expect("bind");
                s.connect(to).expect("connect");
                s
            })
            .collect();
        let per_sec = (10 * RATE) as f64;
        let start = Instant::now();
        let (mut sent, mut last) = (0u64, start);
        while start.elapsed().as_secs_f64() < FLOOD_SECS {
            let owed = (start.elapsed().as_secs_f64() * per_sec) as u64;
            while sent < owed {
                let s = &socks[sent as usize % socks.len()];
                // ENOBUFS under load is the flood's own loss: not sent.
                if s.send(&sent.to_be_bytes()).is_ok() {
                    last = Instant::now();
                }
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        Flood {
            sent,
            secs: (last - start).as_secs_f64(),
        }
    });
    handle.join().expect("flood thread")
}

/// Datagrams the socket receives until the flood is over (`over`) and it has been
/// quiet for 300 ms. (Quiet alone ended it once: a sender starved of the CPU for
/// 300 ms in the middle of its flood would have left the rest uncounted.)
fn drain(sock: UdpSocket, over: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let mut n = 0;
        loop {
            match sock.recv(&mut buf) {
                Ok(_) => n += 1,
                Err(_) if over.load(Ordering::Relaxed) => return n,
                Err(_) => {}
            }
        }
    })
}

fn limit_holds(tag: &str, subnet: u8, hook: &str, sources: usize) {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new(tag, subnet);
    let per_source = if sources > 1 { " per source" } else { "" };
    let allow = format!("allow udp to *:7300 limit {RATE}/s burst {BURST}{per_source}");
    let drop = "drop udp to *:7300";
    // A netfilter block is the namespace's (no interface); the flood goes to A's
    // own socket, so it passes the input hook.
    let head = if hook.starts_with("netfilter") {
        hook.to_string()
    } else {
        format!("{hook} on {}", lab.if_a)
    };
    let text = format!("{head} {{\n    {allow}\n    {drop}\n    default allow\n}}\n");
    let file = lab.rules("limit.sk", &text);
    lab.apply_ok(&file);
    lab.status_attached();
    let mut from = vec![lab.addr_b];
    for k in 1..sources {
        let extra = Ipv4Addr::new(10, 200, subnet, 2 + k as u8);
        netns::ip(&[
            "-n",
            &lab.ns_b,
            "addr",
            "add",
            &format!("{extra}/24"),
            "dev",
            &lab.if_b,
        ]);
        from.push(extra);
    }

    let sock = udp_bind(&lab.ns_a, SocketAddr::new(lab.addr_a.into(), 7300));
    set_rcvbuf(&sock, 8 << 20);
    let over = Arc::new(AtomicBool::new(false));
    let receiver = drain(sock, over.clone());
    let f = flood(&lab.ns_b, from, SocketAddr::new(lab.addr_a.into(), 7300));
    over.store(true, Ordering::Relaxed);
    let received = receiver.join().expect("receiver");
    let stats = lab.stats();
    let (passed, dropped) = (rule_packets(&stats, &allow), rule_packets(&stats, drop));
    let expected = sources as f64 * (RATE as f64 * f.secs + BURST as f64);
    println!(
        "{hook}{per_source}, {sources} source(s): sent {} in {:.3} s ({:.0}/s); the limit rule \
         passed {passed}, dropped {dropped}, A received {received}; expected {expected:.0} \
         (N·t + burst per source), passed/expected {:.3}",
        f.sent,
        f.secs,
        f.sent as f64 / f.secs,
        passed as f64 / expected
    );
    assert!(
        f.sent as f64 >= 5.0 * (RATE as f64) * f.secs,
        "the flood offered less than 5× the rate: no test of the limit"
    );
    let within = |x: f64| (x - expected).abs() <= 0.1 * expected;
    assert!(
        within(passed as f64),
        "passed {passed}, expected {expected:.0} ±10%"
    );
    assert!(
        within(received as f64),
        "received {received}, expected {expected:.0} ±10%"
    );
    assert!(
        passed + dropped >= f.sent * 9 / 10,
        "the two rules saw {} of {} datagrams",
        passed + dropped,
        f.sent
    );
}

#[test]
fn limit_holds_under_a_tenfold_flood_at_xdp() {
    limit_holds("limx", 171, "xdp", 1);
}

#[test]
fn limit_holds_under_a_tenfold_flood_at_tc_ingress() {
    limit_holds("limt", 172, "tc ingress", 1);
}

#[test]
fn limit_per_source_gives_each_source_its_bucket() {
    limit_holds("lims", 173, "xdp", 2);
}

#[test]
fn limit_holds_under_a_tenfold_flood_at_netfilter_input() {
    limit_holds("limn", 174, "netfilter input", 1);
}

#[test]
fn limit_per_source_at_netfilter_input() {
    limit_holds("limns", 175, "netfilter input", 2);
}
