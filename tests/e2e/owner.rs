//! `owner uid` / `owner gid` against the kernel (docs/language.md, "Owner").
//!
//! The verifier and test runs: a `netfilter output` block and a `tc egress` block with
//! owner tests go through `sockc test` (`BPF_PROG_TEST_RUN`). A netfilter test run's
//! packet has no socket, so nothing owns it and no owner test matches; a TC test run's
//! comes from the kernel's stand-in socket of uid 0 (`bpf_prog_test_run_skb`), which
//! `bpf_get_socket_uid` reads. The kernel runs the packets with those owners and
//! agrees with the evaluator; the evaluator alone answers the others (at TC a packet
//! without a socket reads as the overflow uid 65534).
//!
//! Real traffic (issue 49's done-when): processes run under uids 1001 and 1002
//! (`setpriv`) in namespace A send UDP datagrams to B; `drop udp owner uid 1001` at
//! netfilter output refuses 1001's (`sendto()` fails with EPERM, as with xt_owner) and
//! lets 1002's through, and `count owner gid 1002` counts 1002's only. The import of
//! the same iptables rules (with a negated `-m owner ! --gid-owner`, exact as `owner
//! !gid`, and a rule left in the residual) decides uids 1001 to 1004 as iptables does. A SYN-ACK is
//! owned by its listener (a request socket's owner is the listener's): a root listener's
//! handshake is dropped by `drop owner uid 0` and not by `drop owner uid 1001`.
//!
//! At TC egress, `bpf_get_socket_uid` on real traffic: uid 1001's datagrams are
//! dropped on A's veth, uid 1002's leave.
//!
//! The kernel tests need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    net::SocketAddr,
    process::Command,
    time::{Duration, Instant},
};

use netns::{run, tcp_connect, tcp_listen, udp_bind, udp_recv, Lab, Run};

#[test]
fn test_runs_have_no_socket_owner_at_netfilter_and_the_overflow_uid_at_tc() {
    if !common::kernel() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sockc-owner-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("owner.sk");
    std::fs::write(
        &rules,
        "netfilter output {\n    drop udp to *:1 owner uid 65534\n    drop udp to *:2 owner \
         gid 0-4294967294\n    drop udp to *:3 owner !uid 0\n    default allow\n}\ntc egress \
         on lo {\n    drop udp to *:1 owner uid 65534\n    drop udp to *:2 owner uid 0-1000\n    \
         drop udp to *:3 owner !uid 0\n    default allow\n}\n",
    )
    .unwrap();
    let packets = dir.join("owner.packets");
    std::fs::write(
        &packets,
        "udp 10.0.0.1:5 -> 10.0.0.2:1\nudp 10.0.0.1:5 -> 10.0.0.2:2\n\
         udp 10.0.0.1:5 -> 10.0.0.2:1 uid 0\nudp 10.0.0.1:5 -> 10.0.0.2:2 uid 0 gid 0\n\
         udp 10.0.0.1:5 -> 10.0.0.2:2 uid 7 gid 7\nudp 10.0.0.1:5 -> 10.0.0.2:3\n\
         udp 10.0.0.1:5 -> 10.0.0.2:3 uid 0\n",
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
            "agree on all 6 (packet, program) pairs the kernel ran; the kernel cannot run 8"
        ),
        "{r}"
    );
    // The kernel: netfilter drops only the packet without an owner to port 3 (`!uid
    // 0`); TC drops uid 0 to port 2 and passes it to ports 1 and 3. The evaluator
    // alone: TC drops ports 1 and 3 without a socket (uid 65534), netfilter drops gid
    // 0 to port 2, both drop uid 7 / gid 7, and neither drops uid 0 to port 3.
    assert_eq!(r.stdout.matches("drop     line").count(), 2 + 5, "{r}");
}

/// `echo UID > /dev/udp/TO/PORT` in namespace `ns`, run as uid and gid `id` with no
/// supplementary groups.
fn send_as(ns: &str, id: u32, to: SocketAddr) -> Run {
    let id = id.to_string();
    run(Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args(["setpriv", "--reuid", &id, "--regid", &id, "--clear-groups"])
        .args([
            "bash",
            "-c",
            &format!("echo -n {id} > /dev/udp/{}/{}", to.ip(), to.port()),
        ]))
}

/// The payloads that reach `sock` within `wait`.
fn received(sock: &std::net::UdpSocket, wait: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut got = Vec::new();
    while let Ok((b, _)) = udp_recv(sock, wait.saturating_sub(start.elapsed())) {
        got.push(String::from_utf8_lossy(&b).into_owned());
    }
    got
}

/// The packet count of the rule written `text` in `sockc stats`' JSON.
fn rule_packets(stats: &serde_json::Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hit = rules.iter().find(|r| r["text"] == text);
    hit.and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"))
}

#[test]
fn uid_1001_is_refused_at_netfilter_output_where_uid_1002_is_not() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("nfowner", 243);
    let (port, syn_port) = (4301, 4302);
    let to = SocketAddr::new(lab.addr_b.into(), port);
    let rx = udp_bind(&lab.ns_b, to);
    for id in [1001, 1002] {
        send_as(&lab.ns_a, id, to).ok();
    }
    assert_eq!(
        received(&rx, Duration::from_millis(500)).len(),
        2,
        "before any rule"
    );

    let text = format!(
        "netfilter output {{\n    drop udp to *:{port} owner uid 1001\n    count udp to \
         *:{port} owner gid 1002\n    drop tcp from *:{syn_port} owner uid 0\n    default \
         allow\n}}\n"
    );
    lab.apply_ok(&lab.rules("owner.sk", &text));
    let refused = send_as(&lab.ns_a, 1001, to);
    assert_ne!(refused.code, 0, "uid 1001's datagram was sent:\n{refused}");
    assert!(
        refused.stderr.contains("Operation not permitted"),
        "uid 1001: netfilter's drop is EPERM to the sender:\n{refused}"
    );
    send_as(&lab.ns_a, 1002, to).ok();
    assert_eq!(received(&rx, Duration::from_millis(500)), ["1002"]);
    let stats = lab.stats();
    let drop = format!("drop udp to *:{port} owner uid 1001");
    let count = format!("count udp to *:{port} owner gid 1002");
    assert_eq!(rule_packets(&stats, &drop), 1, "uid 1001 dropped once");
    assert_eq!(rule_packets(&stats, &count), 1, "gid 1002 counted once");

    // A root listener in A: its SYN-ACK is owned by the listener (uid 0), so B's
    // connection never completes; the same rule for uid 1001 lets it through.
    let listen = SocketAddr::new(lab.addr_a.into(), syn_port);
    let _listener = tcp_listen(&lab.ns_a, listen);
    let short = Duration::from_millis(700);
    assert!(
        tcp_connect(&lab.ns_b, None, listen, short).is_err(),
        "the SYN-ACK of a root listener passed `drop owner uid 0`"
    );
    let text = text.replace("owner uid 0", "owner uid 1001");
    lab.apply_ok(&lab.rules("owner.sk", &text));
    tcp_connect(&lab.ns_b, None, listen, Duration::from_secs(3))
        .expect("a root listener's SYN-ACK under `drop owner uid 1001`");
}

/// What the datagrams of uids 1001 to 1004 to `to` (bound in `rx`) do: whether
/// each `sendto()` succeeded, and what arrived.
fn outcomes(lab: &Lab, rx: &std::net::UdpSocket, to: SocketAddr) -> (Vec<bool>, Vec<String>) {
    let sent = [1001, 1002, 1003, 1004]
        .map(|id| send_as(&lab.ns_a, id, to).code == 0)
        .to_vec();
    let mut got = received(rx, Duration::from_millis(500));
    got.sort();
    (sent, got)
}

#[test]
fn the_import_of_an_iptables_owner_rule_agrees_with_iptables_on_real_traffic() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ipowner", 244);
    let port = 4311;
    let to = SocketAddr::new(lab.addr_b.into(), port);
    let rx = udp_bind(&lab.ns_b, to);
    // The first and third rules run in sockc (exact, the third a negation); the
    // second, which tests user and group at once, stays in the residual between them.
    let saved = format!(
        "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT \
         [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p \
         udp --dport {port} -m owner --uid-owner 1001 -j DROP\n-A OUTPUT -p udp --dport {port} \
         -m owner --uid-owner 1003 --gid-owner 1003 -j DROP\n-A OUTPUT -p udp --dport {port} \
         -m owner ! --gid-owner 1002 -j DROP\nCOMMIT\n"
    );
    let file = lab.rules("owner.rules", &saved);
    let restore = run(Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "iptables-restore"])
        .arg(&file));
    assert_eq!(restore.code, 0, "{restore}");
    let by_iptables = outcomes(&lab, &rx, to);
    assert_eq!(
        by_iptables,
        (vec![false, true, false, false], vec!["1002".to_string()]),
        "iptables itself"
    );
    let flush =
        run(Command::new("ip").args(["netns", "exec", &lab.ns_a, "nft", "flush", "ruleset"]));
    assert_eq!(flush.code, 0, "{flush}");

    let sk = lab.dir.join("owner.sk");
    let import = netns::sockc(&["import", file.to_str().unwrap(), "-o", sk.to_str().unwrap()]);
    assert_eq!(import.code, 0, "{import}");
    let text = std::fs::read_to_string(&sk).unwrap();
    assert!(
        text.contains(&format!("drop ip4 udp to *:{port} owner uid 1001")),
        "the uid rule runs in sockc:\n{text}"
    );
    assert!(
        text.contains(&format!("drop ip4 udp to *:{port} owner !gid 1002")),
        "the negated gid rule runs in sockc:\n{text}"
    );
    assert!(
        import.stderr.contains("2 exact, 1 in the residual"),
        "the uid-and-gid rule stays in netfilter:\n{import}"
    );
    lab.apply_ok(&sk);
    assert_eq!(
        outcomes(&lab, &rx, to),
        by_iptables,
        "sockc and its residual"
    );
}

/// At TC egress the uid comes from `bpf_get_socket_uid`: uid 1001's datagrams leave
/// A's veth no more (the sender is not told: a TC drop is not an error to UDP), uid
/// 1002's do, and a negated test counts what is not root's.
#[test]
fn tc_egress_drops_by_the_sockets_uid() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("tcowner", 245);
    let port = 4321;
    let to = SocketAddr::new(lab.addr_b.into(), port);
    let rx = udp_bind(&lab.ns_b, to);
    let text = format!(
        "tc egress on {} {{\n    drop udp to *:{port} owner uid 1001\n    count udp to \
         *:{port} owner !uid 0\n    default allow\n}}\n",
        lab.if_a
    );
    lab.apply_ok(&lab.rules("owner.sk", &text));
    for id in [1001, 1002] {
        let r = send_as(&lab.ns_a, id, to);
        assert_eq!(r.code, 0, "uid {id}: {r}");
    }
    assert_eq!(received(&rx, Duration::from_millis(500)), ["1002"]);
    let stats = lab.stats();
    let drop = format!("drop udp to *:{port} owner uid 1001");
    let count = format!("count udp to *:{port} owner !uid 0");
    assert_eq!(rule_packets(&stats, &drop), 1, "uid 1001 dropped once");
    assert_eq!(rule_packets(&stats, &count), 1, "uid 1002 counted once");
}
