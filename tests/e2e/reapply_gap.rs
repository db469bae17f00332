//! Kernel integration test of the re-apply's atomicity with real traffic: 300
//! re-applies alternating between two rule sets while a probe stream from B counts
//! every datagram per port, and no datagram that both rule sets drop gets through,
//! nor one both allow is lost, nor one duplicated (`tests/netns` builds the two
//! namespaces; the test needs root and skips otherwise, see `tests/common`).
//!
//! Invariant: a re-apply swaps the whole program at once, so the stream sees one
//! rule set or the other, never a gap between them.

use crate::common;
use crate::netns;

use std::{
    collections::{BTreeMap, HashSet},
    net::{SocketAddrV4, UdpSocket},
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use netns::{in_netns, parse_datagram, set_rcvbuf, spawn_in_netns, Lab, Run};
use serde_json::Value;

/// The install's generation in a `status --json` entry.
fn generation(status: &Value) -> u64 {
    status["generation"].as_u64().expect("generation")
}

/// Received sequence numbers of one port, and the ones sent.
struct PortTally {
    port: u16,
    sent: u64,
    received: u64,
    duplicates: u64,
}

/// Min, median, 95th percentile and max of `d`, in ms.
fn duration_summary(d: &mut [Duration]) -> String {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1e3;
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
    format!(
        "min {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(d[0]),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(d[d.len() - 1])
    )
}

#[test]
fn alternating_reapplies_never_open_a_gap_in_the_rules() {
    if !common::kernel() {
        return;
    }
    const APPLIES: usize = 300;
    /// Pause between rounds of the probe stream (one datagram per port a round).
    const PACE: Duration = Duration::from_micros(200);
    const PORTS: [u16; 3] = [9001, 9002, 9003];

    let lab = Lab::new("atomic", 2);
    let a = &lab.if_a;
    // Both drop 9001 and allow 9002; only r1 drops 9003.
    let r1 = lab.rules(
        "r1.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  drop udp to *:9003\n  default allow\n}}\n"
        ),
    );
    let r2 = lab.rules(
        "r2.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  allow udp to *:9002\n  default allow\n}}\n"
        ),
    );
    lab.apply_ok(&r1);

    // Receivers in A, one thread per port, big buffers; a paced sender in B.
    let stop_receivers = Arc::new(AtomicBool::new(false));
    let stop_sender = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = PORTS
        .iter()
        .map(|&port| {
            let addr = lab.addr_a;
            let sock = in_netns(&lab.ns_a, move || {
                let s = netns::bind_retrying("bind in A", || UdpSocket::bind((addr, port)));
                set_rcvbuf(&s, 16 << 20);
                s.set_read_timeout(Some(Duration::from_millis(20)))
                    .expect("timeout");
                s
            });
            let stop = stop_receivers.clone();
            std::thread::spawn(move || {
                let mut seen = HashSet::new();
                let mut duplicates = 0u64;
                let mut buf = [0u8; 64];
                loop {
                    match sock.recv(&mut buf) {
                        Ok(n) => {
                            if let Some(seq) = parse_datagram(port, &buf[..n]) {
                                if !seen.insert(seq) {
                                    duplicates += 1;
                                }
                            }
                        }
                        Err(_) if stop.load(Ordering::Relaxed) => break,
                        Err(_) => {}
                    }
                }
                (port, seen.len() as u64, duplicates)
            })
        })
        .collect();
    let sender = {
        let stop = stop_sender.clone();
        let (addr_a, addr_b) = (lab.addr_a, lab.addr_b);
        spawn_in_netns(&lab.ns_b, move || {
            let sock = UdpSocket::bind((addr_b, 0)).expect("bind in B");
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for port in PORTS {
                    sock.send_to(
                        &netns::datagram(port, rounds),
                        SocketAddrV4::new(addr_a, port),
                    )
                    .expect("send");
                }
                rounds += 1;
                std::thread::sleep(PACE);
            }
            rounds
        })
    };

    // Let the stream run under r1 for a moment, then alternate r2, r1, r2, ...
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let mut took = Vec::with_capacity(APPLIES);
    let mut failures: Vec<Run> = Vec::new();
    for i in 0..APPLIES {
        let file = if i % 2 == 0 { &r2 } else { &r1 };
        let run = lab.apply(file, &[]);
        took.push(run.took);
        if run.code != 0 {
            failures.push(run);
        }
    }
    let total = started.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    stop_sender.store(true, Ordering::Relaxed);
    let rounds = sender.join().expect("sender");
    std::thread::sleep(Duration::from_millis(300));
    stop_receivers.store(true, Ordering::Relaxed);
    let tallies: BTreeMap<u16, PortTally> = receivers
        .into_iter()
        .map(|r| {
            let (port, received, duplicates) = r.join().expect("receiver");
            let tally = PortTally {
                port,
                sent: rounds,
                received,
                duplicates,
            };
            (port, tally)
        })
        .collect();

    let report: Vec<String> = tallies
        .values()
        .map(|t| {
            format!(
                "port {}: sent {}, received {}, duplicates {}",
                t.port, t.sent, t.received, t.duplicates
            )
        })
        .collect();
    let summary = format!(
        "{APPLIES} re-applies in {:.2} s ({}); {}",
        total.as_secs_f64(),
        duration_summary(&mut took),
        report.join("; ")
    );
    println!("{summary}");
    let drops = Command::new("ip")
        .args(["-s", "-n", &lab.ns_b, "link", "show", "dev", &lab.if_b])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();

    assert!(
        failures.is_empty(),
        "{} of {APPLIES} re-applies failed; the first:\n{}",
        failures.len(),
        failures[0]
    );
    let last = lab.status_attached();
    assert_eq!(
        generation(&last),
        1 + APPLIES as u64,
        "every re-apply is a generation: {last:#}"
    );
    assert!(rounds > 1000, "the probe stream was too thin: {summary}");
    assert_eq!(
        tallies[&9001].received, 0,
        "datagrams to 9001 arrived although both rule sets drop them: {summary}"
    );
    assert_eq!(
        tallies[&9002].received, rounds,
        "datagrams to 9002 were lost although both rule sets allow them: {summary}\n\
         B's veth counters (TX dropped = veth ring full, not sockc):\n{drops}"
    );
    let t3 = &tallies[&9003];
    assert!(
        t3.received > 0 && t3.received < rounds,
        "9003 should see both rule sets (r1 drops, r2 allows): {summary}"
    );
    assert!(
        tallies.values().all(|t| t.duplicates == 0),
        "duplicated datagrams: {summary}"
    );
}
