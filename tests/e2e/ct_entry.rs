//! `ct status`, `ct direction` and `ct mark` at a netfilter hook against the kernel
//! (docs/language.md, "Conntrack entry").
//!
//! Real traffic from B into namespace A, where an nft table gives conntrack entries
//! what the rules test: a prerouting chain after conntrack sets the entry's mark of
//! one flow (`ct mark set 0x10`), a NAT chain redirects another (`redirect`: the
//! entry gets the `dnat` status bit), a raw chain before conntrack exempts a third
//! (`notrack`: no entry at all, which no test matches, negated or not). A's own TCP
//! connection out gets its SYN-ACK back in the reply direction; B's connection in
//! arrives in the original one. The same tests written as an nft input chain decide
//! every flow as sockc's `netfilter input` block does, and both as expected.
//!
//! The verifier: the block loads (the entry is read through `skb->_nfct` and
//! `bpf_rdonly_cast` to `struct nf_conn`, offsets from the kernel's BTF). `sockc test`
//! takes the entry as facts and runs the entryless packet in the kernel. The import of
//! iptables' `-m mark`, `-m connmark` and `--ctstatus` beside mangle writers and a
//! residual decides real flows as iptables does.
//!
//! The kernel tests need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    collections::BTreeMap,
    net::{SocketAddr, UdpSocket},
    process::Command,
    time::Duration,
};

use netns::{run, tcp_connect, tcp_listen, udp_bind, Lab};

/// Ports: marked flow, unmarked flow, redirected (to `TO_DNAT`), untracked.
const MARKED: u16 = 4361;
const PLAIN: u16 = 4362;
const DNAT: u16 = 4363;
const TO_DNAT: u16 = 4364;
const UNTRACKED: u16 = 4367;
/// TCP: A connects out to B here; B connects in to A there.
const OUT: u16 = 4365;
const IN: u16 = 4366;

/// What gives the flows their entries (or none), in namespace A.
fn conntrack_setup() -> String {
    format!(
        "table inet h48ct {{\n  chain raw {{ type filter hook prerouting priority -300; udp \
         dport {UNTRACKED} notrack; }}\n  chain mangle {{ type filter hook prerouting priority \
         -150; udp dport {MARKED} ct mark set 0x10; }}\n  chain nat {{ type nat hook \
         prerouting priority -100; udp dport {DNAT} redirect to :{TO_DNAT}; }}\n}}\n"
    )
}

/// The same tests as nft rules (the reference).
fn nft_rules() -> String {
    format!(
        "table inet h48cmp {{\n  chain input {{ type filter hook input priority 0;\n    udp \
         dport {MARKED} ct mark 0x10 drop\n    udp dport {PLAIN} ct mark != 0x10 counter\n    \
         udp dport {TO_DNAT} ct status dnat drop\n    tcp sport {OUT} ct direction reply \
         drop\n    tcp dport {IN} ct direction original counter\n    udp dport {UNTRACKED} \
         ct mark != 0x10 drop\n    udp dport {UNTRACKED} ct status != dnat drop\n  }}\n}}\n"
    )
}

fn sockc_rules() -> String {
    format!(
        "netfilter input {{\n    drop udp to *:{MARKED} ct mark 0x10\n    count udp to \
         *:{PLAIN} ct mark != 0x10\n    drop udp to *:{TO_DNAT} ct status dnat\n    drop tcp \
         from *:{OUT} ct direction reply\n    count tcp to *:{IN} ct direction original\n    \
         drop udp to *:{UNTRACKED} ct mark != 0x10\n    drop udp to *:{UNTRACKED} ct status \
         != dnat\n    default allow\n}}\n"
    )
}

fn nft_in(lab: &Lab, args: &[&str]) {
    let r = run(Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "nft"])
        .args(args));
    assert_eq!(r.code, 0, "nft {args:?}: {r}");
}

/// What each flow does: datagrams received per UDP port (the redirected flow's at
/// `TO_DNAT`), then whether A's connection out and B's connection in complete.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    udp: BTreeMap<u16, u64>,
    out: bool,
    inward: bool,
}

fn outcome(lab: &Lab) -> Outcome {
    let to_dnat = udp_bind(&lab.ns_a, SocketAddr::new(lab.addr_a.into(), TO_DNAT));
    let mut udp = lab.probe(&[MARKED, PLAIN, UNTRACKED], 10);
    udp.insert(TO_DNAT, redirected(lab, &to_dnat));
    let short = Duration::from_millis(800);
    let _b = tcp_listen(&lab.ns_b, SocketAddr::new(lab.addr_b.into(), OUT));
    let _a = tcp_listen(&lab.ns_a, SocketAddr::new(lab.addr_a.into(), IN));
    let out = tcp_connect(
        &lab.ns_a,
        None,
        SocketAddr::new(lab.addr_b.into(), OUT),
        short,
    );
    let inward = tcp_connect(
        &lab.ns_b,
        None,
        SocketAddr::new(lab.addr_a.into(), IN),
        short,
    );
    Outcome {
        udp,
        out: out.is_ok(),
        inward: inward.is_ok(),
    }
}

/// Sends 10 datagrams from B to A's `DNAT` port and counts those `sock` receives.
fn redirected(lab: &Lab, sock: &UdpSocket) -> u64 {
    let (a, b) = (lab.addr_a, lab.addr_b);
    let sender = netns::in_netns(&lab.ns_b, move || UdpSocket::bind((b, 0)).expect("bind"));
    for _ in 0..10 {
        sender.send_to(b"x", (a, DNAT)).expect("send");
    }
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut n = 0;
    let mut buf = [0u8; 8];
    while sock.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

#[test]
fn ct_status_direction_and_mark_decide_real_flows_as_nft_does() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("nfctent", 236);
    let setup = lab.rules("setup.nft", &conntrack_setup());
    nft_in(&lab, &["-f", setup.to_str().unwrap()]);
    let open = outcome(&lab);
    let all = BTreeMap::from([(MARKED, 10), (PLAIN, 10), (TO_DNAT, 10), (UNTRACKED, 10)]);
    let want_open = Outcome {
        udp: all,
        out: true,
        inward: true,
    };
    assert_eq!(open, want_open, "no rule yet");

    let reference = lab.rules("cmp.nft", &nft_rules());
    nft_in(&lab, &["-f", reference.to_str().unwrap()]);
    let by_nft = outcome(&lab);
    let want = Outcome {
        udp: BTreeMap::from([(MARKED, 0), (PLAIN, 10), (TO_DNAT, 0), (UNTRACKED, 10)]),
        out: false,
        inward: true,
    };
    assert_eq!(by_nft, want, "nft itself");
    nft_in(&lab, &["delete", "table", "inet", "h48cmp"]);

    lab.apply_ok(&lab.rules("ct.sk", &sockc_rules()));
    assert_eq!(outcome(&lab), by_nft, "sockc's netfilter input block");
    let stats = lab.stats();
    let counted = |text: &str| {
        let rules = stats["rules"].as_array().expect("rules");
        let hit = rules.iter().find(|r| r["text"] == text);
        hit.and_then(|r| r["packets"].as_u64()).unwrap_or(0)
    };
    assert_eq!(
        counted(&format!("count udp to *:{PLAIN} ct mark != 0x10")),
        10,
        "{stats:#}"
    );
    assert!(counted(&format!("count tcp to *:{IN} ct direction original")) >= 2);
}

/// The import of iptables' `-m mark`, `-m connmark` and `-m conntrack --ctstatus`
/// decides real flows as iptables does: a mangle PREROUTING chain marks one flow's
/// packets (`MARK`) and another's connection (`CONNMARK`), the filter INPUT chain
/// drops by those marks (a mark mask that takes in the residual's bit 31) and by
/// `--ctstatus`, and a REJECT keeps a residual beside sockc's block.
#[test]
fn imported_mark_and_connmark_rules_decide_as_iptables_on_real_traffic() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ipmark", 237);
    let (marked, connmarked, plain, rejected) = (4371u16, 4372u16, 4373u16, 4374u16);
    let saved = format!(
        "# Generated by iptables-save\n*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT \
         [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         -A PREROUTING -p udp -m udp --dport {marked} -j MARK --set-xmark 0x1000000/0xffffffff\n\
         -A PREROUTING -p udp -m udp --dport {connmarked} -j CONNMARK --set-xmark 0x20/0xffffffff\n\
         COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p udp -m udp --dport {rejected} -j REJECT --reject-with icmp-port-unreachable\n\
         -A INPUT -m mark --mark 0x1000000/0xff000000 -j DROP\n\
         -A INPUT -m connmark --mark 0x20 -j DROP\n\
         -A INPUT -p udp -m conntrack --ctstatus CONFIRMED -m udp --dport {plain} -j DROP\n\
         COMMIT\n"
    );
    let file = lab.rules("mark.rules", &saved);
    let restore = run(Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "iptables-restore"])
        .arg(&file));
    assert_eq!(restore.code, 0, "{restore}");
    let ports = [marked, connmarked, plain, rejected];
    let by_iptables = lab.probe(&ports, 10);
    // The first datagram of the plain flow is not confirmed yet at INPUT (conntrack
    // confirms it after the hook): it passes, the later ones are dropped.
    let want = BTreeMap::from([(marked, 0), (connmarked, 0), (plain, 1), (rejected, 0)]);
    assert_eq!(by_iptables, want, "iptables itself");
    // The mangle table stays (it is the residual's too); the filter table goes.
    let flush =
        run(Command::new("ip").args(["netns", "exec", &lab.ns_a, "iptables", "-F", "INPUT"]));
    assert_eq!(flush.code, 0, "{flush}");
    let mangle = run(
        Command::new("ip").args(["netns", "exec", &lab.ns_a, "iptables", "-t", "mangle", "-F"])
    );
    assert_eq!(mangle.code, 0, "{mangle}");
    // Fresh flows: conntrack forgets the old entries when the source port changes,
    // which `probe` picks anew.
    let sk = lab.dir.join("mark.sk");
    let import = netns::sockc(&["import", file.to_str().unwrap(), "-o", sk.to_str().unwrap()]);
    assert_eq!(import.code, 0, "{import}");
    let text = std::fs::read_to_string(&sk).unwrap();
    for want in [
        "drop ip4 mark 0x1000000/0xff000000",
        "drop ip4 ct mark 0x20",
        "ct status confirmed",
    ] {
        assert!(text.contains(want), "{want} runs in sockc:\n{text}");
    }
    lab.apply_ok(&sk);
    assert_eq!(lab.probe(&ports, 10), by_iptables, "sockc and its residual");
}

/// `sockc test` takes a packet's entry as facts (`ct-status`, `ct-direction`,
/// `ct-mark`); a netfilter test run has no entry, so the kernel runs the `invalid`
/// packet (which no entry test matches, `!=` included, in both) and the evaluator
/// alone answers the others.
#[test]
fn sockc_test_takes_the_entry_as_facts_and_runs_the_entryless_packet_in_the_kernel() {
    if !common::kernel() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sockc-ctentry-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("ct.sk");
    std::fs::write(
        &rules,
        "netfilter input {\n    drop udp to *:1 ct status dnat\n    drop udp to *:2 ct mark \
         != 0x10\n    drop udp to *:3 ct direction reply\n    default allow\n}\n",
    )
    .unwrap();
    let packets = dir.join("ct.packets");
    let p = "udp 10.0.0.1:5 -> 10.0.0.2";
    std::fs::write(
        &packets,
        format!(
            "{p}:1 ct established ct-status dnat,confirmed\n{p}:1 ct established\n{p}:2 ct \
             invalid\n{p}:2 ct new ct-mark 0x10\n{p}:2 ct new\n{p}:3 ct established \
             ct-direction reply\n{p}:3 ct untracked\n"
        ),
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
        r.stderr
            .contains("agree on all 1 (packet, program) pairs the kernel ran")
            || r.stdout
                .contains("agree on all 1 (packet, program) pairs the kernel ran"),
        "{r}"
    );
    // The dnat entry, the unmarked new one, the reply.
    assert_eq!(r.stdout.matches("drop     line").count(), 3, "{r}");
}
