//! End-to-end tests of sockmap blocks with real TCP connections between `sockc-peer`
//! processes (`peer.rs`) that live in a cgroup the test makes and in network namespaces
//! the test makes (`tests/netns`), the rules installed with `sockc apply`:
//!
//! * `drop to 192.0.2.0/24` (and an IPv6 prefix) makes `send()` fail with EACCES, from
//!   IPv4, IPv6 and v4-mapped IPv6 sockets, while other destinations work.
//! * `redirect local` carries 100 MB each way at once between a client and a server on
//!   the same host, byte for byte (SHA-256 at both ends), in writes larger than a socket
//!   buffer, in many small writes and in mixed ones, over IPv4, IPv6 and a dual-stack
//!   listener; the sockets' TCP never sends a data segment (TCP_INFO). A connection
//!   opened before the apply is not in the map and keeps going through the stack,
//!   intact. Closing the sockets empties the socket map.
//! * A flush, and an apply that drops the bypass, in the middle of a transfer: the
//!   transfer finishes intact, later data goes through the stack, and the socket map
//!   goes away with its last socket.
//! * Sockets in two network namespaces never reach each other through the map.
//! * Another tool's sock_ops program filling a socket map on the cgroup (or a parent)
//!   makes `sockc apply` refuse, naming it.
//! * `redirect ... to sock NAME` sends out of the named socket's connection, with
//!   `ingress` into its receive queue, and drops while nothing is registered.
//! * What the kernel does with each message (EACCES, through the stack, redirected)
//!   and every rule counter agree with the reference evaluator
//!   (`sockc_testkit::eval::message`).
//! * The install layer: an emptied slot, a detached dispatcher and a detached cgroup
//!   link are drift that `sockc repair` undoes; `kill -9` at every step of a first
//!   apply, a re-apply and a flush leaves what `status` says, and sockets getting
//!   exactly that.
//!
//! `SOCKC_SOCKMAP_MB` sets the bulk transfers' size (default 100), `SOCKC_SOCKMAP_SMALL_MB`
//! the size sent in 100-byte writes (default 10). Root only; skipped otherwise (see
//! `tests/common`).

use crate::common;
use crate::netns;
mod install;
pub(crate) mod peer;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use netns::{ip, run, sockc, Cgroup, Lab, BPFFS};
use peer::{exchange, pair, Peer};
use serde_json::Value;
use sockc_testkit::eval::message::{evaluate_message, MessageFacts, MessageOutcome, SocketMessage};

fn mb(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        * 1_000_000
}

fn big() -> u64 {
    mb("SOCKC_SOCKMAP_MB", 100)
}

fn small() -> u64 {
    mb("SOCKC_SOCKMAP_SMALL_MB", 10)
}

/// A send block on `cg` with `rules` and `default`.
fn block(cg: &Cgroup, rules: &[&str], default: &str) -> String {
    let body: String = rules.iter().map(|r| format!("    {r}\n")).collect();
    format!(
        "sockmap cgroup \"{}\" {{\n{body}    default {default}\n}}\n",
        cg.path
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The socket map entry of `status --json`: (map name, connections in it).
#[track_caller]
fn socket_map(lab: &Lab) -> (String, u64) {
    let s = lab.status_attached();
    let m = &s["sockmaps"][0];
    (
        m["map"].as_str().expect("map").to_string(),
        m["sockets"].as_u64().expect("sockets"),
    )
}

/// Waits until the socket map holds `n` connections.
#[track_caller]
fn wait_sockets(lab: &Lab, n: u64) {
    let start = Instant::now();
    loop {
        let (_, now) = socket_map(lab);
        if now == n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the socket map holds {now} connections, not {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Packets and bytes of the rule whose text is `text` in `stats --json`.
#[track_caller]
fn counted(stats: &Value, text: &str) -> (u64, u64) {
    let hits: Vec<&Value> = stats["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["text"] == text)
        .collect();
    assert_eq!(hits.len(), 1, "one rule `{text}` in {stats:#}");
    (
        hits[0]["packets"].as_u64().unwrap(),
        hits[0]["bytes"].as_u64().unwrap(),
    )
}

#[test]
fn drop_to_a_prefix_fails_send_with_eacces() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smdrop");
    let lab = Lab::new("smdrop", 151);
    for a in ["192.0.2.1/24", "198.51.100.1/24"] {
        ip(&["-n", &lab.ns_a, "addr", "add", a, "dev", "lo"]);
    }
    for a in ["2001:db8:bad::1/64", "2001:db8:1::1/64"] {
        ip(&["-n", &lab.ns_a, "addr", "add", a, "dev", "lo", "nodad"]);
    }
    let rules = block(
        &cg,
        &["drop to 192.0.2.0/24", "drop to 2001:db8:bad::/48"],
        "allow",
    );
    lab.apply_ok(&lab.rules("drop.sk", &rules));
    lab.status_attached();
    let module = sockc_compiler::compile(&rules, &Default::default())
        .0
        .expect("compiles")
        .module;
    let prog = module.programs.values().next().unwrap();
    // (listen address, where the client connects, EACCES?)
    let cases = [
        ("192.0.2.1:0", None, true),
        ("192.0.2.1:0", Some("::ffff:192.0.2.1"), true),
        ("198.51.100.1:0", None, false),
        ("[2001:db8:bad::1]:0", None, true),
        ("[2001:db8:1::1]:0", None, false),
    ];
    for (listen, via, refused) in cases {
        // The server is outside the cgroup: only the client's sends meet the rules.
        let mut server = Peer::listen(None, &lab.ns_a, addr(listen));
        let mut to = server.listening.unwrap();
        if let Some(v6) = via {
            to = SocketAddr::new(v6.parse().unwrap(), to.port());
        }
        let mut client = Peer::connect(Some(&cg.path), &lab.ns_a, to);
        server.accepted();
        let got = client.cmd("send hello");
        let what = format!("send from {:?} to {to}", client.local);
        let eval = evaluate_message(
            &module,
            prog,
            &SocketMessage {
                local: client.local.unwrap(),
                remote: client.remote.unwrap(),
                len: 5,
            },
            &MessageFacts::default(),
        );
        assert_eq!(
            eval.outcome == MessageOutcome::Drop,
            refused,
            "{what}: the evaluator"
        );
        if refused {
            assert!(
                got.starts_with("error 13 "),
                "{what}: want EACCES, got `{got}`"
            );
        } else {
            assert_eq!(got, "ok 5", "{what}");
            client.cmd("close");
            assert_eq!(server.json("sink")["received"], 5, "{what}: delivered");
        }
    }
    let stats = lab.stats();
    assert_eq!(counted(&stats, "drop to 192.0.2.0/24").0, 2);
    assert_eq!(counted(&stats, "drop to 2001:db8:bad::/48").0, 1);
    assert!(counted(&stats, "default allow").0 >= 2);
}

/// One pair per write pattern, each pattern's `bytes` each way at once, bypassed.
#[track_caller]
fn bypassed_exchanges(cg: &Cgroup, lab: &Lab, listen: &str, patterns: &[(&str, u64)]) -> u64 {
    let mut total = 0;
    for &(pattern, bytes) in patterns {
        let (mut client, mut server) = pair(Some(&cg.path), &lab.ns_a, addr(listen));
        let x = exchange(&mut client, &mut server, bytes, pattern);
        let what = format!("{pattern} writes on {listen}");
        x.assert_intact(bytes, &what);
        assert_eq!(
            client.data_segs_out(),
            0,
            "{what}: the client's TCP sent data"
        );
        assert_eq!(
            server.data_segs_out(),
            0,
            "{what}: the server's TCP sent data"
        );
        println!(
            "{what}: {bytes} bytes each way intact in {:.2} s (client), {} blocking reads \
             failed with EAGAIN",
            x.client["secs"].as_f64().unwrap(),
            x.eagain()
        );
        total += 2 * bytes;
    }
    total
}

#[test]
fn redirect_local_carries_100_mb_both_ways_intact() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smbig");
    let lab = Lab::new("smbig", 152);
    // Opened before the apply: sock_ops never sees it established.
    let (mut old_client, mut old_server) = pair(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
    lab.apply_ok(&lab.rules("bypass.sk", &block(&cg, &["redirect local"], "allow")));
    assert_eq!(
        socket_map(&lab).1,
        0,
        "the earlier connection is not in the map"
    );
    let redirected = bypassed_exchanges(
        &cg,
        &lab,
        "127.0.0.1:0",
        &[("large", big()), ("small", small()), ("mixed", big())],
    );
    let x = exchange(&mut old_client, &mut old_server, big(), "large");
    x.assert_intact(big(), "the connection from before the apply");
    assert!(
        old_client.data_segs_out() > 0,
        "the connection from before the apply goes through the stack"
    );
    let stats = lab.stats();
    assert_eq!(counted(&stats, "redirect local").1, redirected);
    assert_eq!(counted(&stats, "redirect local (through the stack)").0, 0);
    drop((old_client, old_server));
    wait_sockets(&lab, 0);
}

#[test]
fn redirect_local_over_ipv6_and_dual_stack() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smv6");
    let lab = Lab::new("smv6", 153);
    lab.apply_ok(&lab.rules("bypass.sk", &block(&cg, &["redirect local"], "allow")));
    bypassed_exchanges(
        &cg,
        &lab,
        "[::1]:0",
        &[("large", big()), ("mixed", small())],
    );
    // A dual-stack listener accepts an IPv4 client: the server's socket is IPv6 with
    // v4-mapped addresses, the client's IPv4; they find each other all the same.
    let mut server = Peer::listen(Some(&cg.path), &lab.ns_a, addr("[::]:0"));
    let port = server.listening.unwrap().port();
    let mut client = Peer::connect(
        Some(&cg.path),
        &lab.ns_a,
        SocketAddr::new("127.0.0.1".parse().unwrap(), port),
    );
    server.accepted();
    assert!(server.local.unwrap().is_ipv6() && client.local.unwrap().is_ipv4());
    let x = exchange(&mut client, &mut server, small(), "mixed");
    x.assert_intact(small(), "dual stack");
    assert_eq!(
        client.data_segs_out() + server.data_segs_out(),
        0,
        "dual stack bypassed"
    );
    drop((client, server));
    wait_sockets(&lab, 0);
}

/// Whether the kernel still has a map of this name (bpftool truncates nothing; the
/// kernel keeps 15 bytes).
fn map_exists(name: &str) -> bool {
    let out = run(std::process::Command::new("bpftool").args(["map", "list", "-j"]));
    let maps: Value = serde_json::from_str(&out.stdout).expect("bpftool json");
    let short: String = name.chars().take(15).collect();
    maps.as_array()
        .expect("maps")
        .iter()
        .any(|m| m["name"] == short.as_str())
}

#[test]
fn flush_and_dropping_the_bypass_keep_connections_going() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smflush");
    let lab = Lab::new("smflush", 154);
    let bypass = lab.rules("bypass.sk", &block(&cg, &["redirect local"], "allow"));
    let plain = lab.rules(
        "plain.sk",
        &block(&cg, &["count to 203.0.113.0/24"], "allow"),
    );
    lab.apply_ok(&bypass);
    let (map, _) = socket_map(&lab);

    // Transfers that must outlast the apply and the flush started 200 ms into them.
    // At 10 MB (`small`) one took 0.55-0.92 s while the apply or flush returned after
    // 0.24-0.56 s (8 runs at load 9), once 0.617 s against 0.558 s; and a command can
    // wait seconds for the store's lock while another test's holds it (an apply
    // returned after 5.5 s once, its transfer of 40 MB over after 3.6 s). Four times
    // the bytes, and a transfer that ended first is tried again (at most
    // [`MID_TRANSFER_TRIES`] times): the command did not happen in its middle, which
    // says nothing of sockc. Every try must arrive intact.
    let long = 4 * small();
    // Every try's sockets stay open to the end: the first ones hold the map.
    let mut open = Vec::new();
    // An apply that drops the bypass while a transfer runs: it finishes intact, the
    // rest goes through the stack.
    for t in 1..=MID_TRANSFER_TRIES {
        if t > 1 {
            lab.apply_ok(&bypass);
        }
        let (mut a_client, mut a_server) = pair(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
        a_server.start(&format!("exchange {long} small 5"));
        a_client.start(&format!("exchange {long} small 6"));
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        lab.apply_ok(&plain);
        let applied = started.elapsed().as_secs_f64();
        let a = peer::Exchange {
            client: serde_json::from_str(&a_client.finish()).unwrap(),
            server: serde_json::from_str(&a_server.finish()).unwrap(),
        };
        open.push((a_client, a_server));
        a.assert_intact(long, "across an apply without the bypass");
        if a.in_the_middle(applied, "the apply", t == MID_TRANSFER_TRIES) {
            break;
        }
    }

    // The bypass back, a new connection, and a flush in the middle of its transfer.
    let (mut c_client, mut c_server) = flush_in_a_transfer(&lab, &cg, &bypass, long, &mut open);
    // A connection that was in the map, idle during the flush: normal delivery.
    let c = exchange(&mut c_client, &mut c_server, small(), "mixed");
    c.assert_intact(small(), "after the flush");
    assert!(
        c_client.data_segs_out() > 0,
        "after the flush, through the stack"
    );
    assert!(lab.status().is_none(), "nothing installed after the flush");
    assert!(map_exists(&map), "the map stays while its sockets are open");
    drop((open, c_client, c_server));
    let start = Instant::now();
    while map_exists(&map) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "socket map {map} still exists after its last socket closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Tries of a transfer with a command in its middle before the test gives up.
const MID_TRANSFER_TRIES: usize = 3;

/// The flush part of [`flush_and_dropping_the_bypass_keep_connections_going`]: the
/// bypass applied, a transfer with a flush in its middle (tried again as the apply
/// before it), intact; returns the pair made beside it, in the map and idle during the
/// flush. The sockets of every try go to `open`.
fn flush_in_a_transfer(
    lab: &Lab,
    cg: &Cgroup,
    bypass: &std::path::Path,
    long: u64,
    open: &mut Vec<(Peer, Peer)>,
) -> (Peer, Peer) {
    for t in 1..=MID_TRANSFER_TRIES {
        lab.apply_ok(bypass);
        let (mut b_client, mut b_server) = pair(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
        let idle = pair(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
        b_server.start(&format!("exchange {long} small 7"));
        b_client.start(&format!("exchange {long} small 8"));
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
        let flushed = started.elapsed().as_secs_f64();
        let b = peer::Exchange {
            client: serde_json::from_str(&b_client.finish()).unwrap(),
            server: serde_json::from_str(&b_server.finish()).unwrap(),
        };
        open.push((b_client, b_server));
        b.assert_intact(long, "across a flush");
        if b.in_the_middle(flushed, "the flush", t == MID_TRANSFER_TRIES) {
            return idle;
        }
        open.push(idle);
    }
    unreachable!("the last try passes or panics")
}

#[test]
fn namespaces_never_reach_each_others_sockets() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smnetns");
    let lab = Lab::new("smnetns", 155);
    lab.apply_ok(&lab.rules("bypass.sk", &block(&cg, &["redirect local"], "allow")));
    let mut server = Peer::listen(
        Some(&cg.path),
        &lab.ns_a,
        SocketAddr::new(lab.addr_a.into(), 0),
    );
    let mut client = Peer::connect(Some(&cg.path), &lab.ns_b, server.listening.unwrap());
    server.accepted();
    wait_sockets(&lab, 2);
    let x = exchange(&mut client, &mut server, small(), "mixed");
    x.assert_intact(small(), "between two namespaces");
    assert!(
        client.data_segs_out() > 0,
        "across namespaces: through the veth"
    );
    assert!(
        server.data_segs_out() > 0,
        "across namespaces: through the veth"
    );
    let stats = lab.stats();
    assert_eq!(counted(&stats, "redirect local").0, 0);
    assert!(counted(&stats, "redirect local (through the stack)").0 > 0);
}

/// Removes what [`foreign_sock_ops`] made, also on a panic.
struct Foreign {
    cgroup: String,
    pins: String,
    prog: String,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = run(std::process::Command::new("bpftool").args([
            "cgroup",
            "detach",
            &self.cgroup,
            "sock_ops",
            "pinned",
            &self.prog,
        ]));
        let _ = std::fs::remove_dir_all(&self.pins);
    }
}

/// Another tool's sock_ops program that fills a socket map, attached to `cgroup` with
/// bpftool (the program is sockc's own code, loaded and attached as a foreign tool
/// would: nothing of it is in any sockc install).
fn foreign_sock_ops(lab: &Lab, cgroup: &str) -> Foreign {
    let src = lab.rules(
        "foreign.sk",
        "sockmap cgroup \"/foreign\" { default allow }\n",
    );
    let obj = lab.dir.join("foreign.o");
    sockc(&[
        "compile",
        src.to_str().unwrap(),
        "-o",
        obj.to_str().unwrap(),
    ])
    .ok();
    let pins = format!("{BPFFS}/sockc-foreign-{}-{}", lab.tag, std::process::id());
    let f = Foreign {
        cgroup: cgroup.to_string(),
        prog: format!("{pins}/sockops_foreign"),
        pins: pins.clone(),
    };
    netns::run(std::process::Command::new("bpftool").args([
        "prog",
        "loadall",
        obj.to_str().unwrap(),
        &pins,
    ]))
    .ok();
    netns::run(std::process::Command::new("bpftool").args([
        "cgroup", "attach", cgroup, "sock_ops", "pinned", &f.prog, "multi",
    ]))
    .ok();
    f
}

#[test]
fn another_tools_socket_map_programs_are_refused() {
    if !common::kernel() {
        return;
    }
    let parent = Cgroup::new("smheld");
    let child = parent.child("app");
    let lab = Lab::new("smheld", 156);
    let foreign = foreign_sock_ops(&lab, &parent.path);
    for cg in [&parent, &child] {
        let r = lab.apply(
            &lab.rules("bypass.sk", &block(cg, &["redirect local"], "allow")),
            &[],
        );
        assert_eq!(r.code, 3, "refused on {}:\n{r}", cg.path);
        assert!(
            r.stderr
                .contains("of another tool already puts this cgroup's sockets"),
            "names the other tool's program:\n{r}"
        );
        assert!(lab.status().is_none(), "nothing stays installed:\n{r}");
    }
    drop(foreign);
    lab.apply_ok(&lab.rules("bypass.sk", &block(&child, &["redirect local"], "allow")));
    lab.status_attached();
}

#[test]
fn the_kernel_agrees_with_the_evaluator() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smeval");
    let lab = Lab::new("smeval", 157);
    ip(&["-n", &lab.ns_a, "addr", "add", "10.9.0.1/16", "dev", "lo"]);
    ip(&[
        "-n",
        &lab.ns_a,
        "addr",
        "add",
        "fd00:9::1/64",
        "dev",
        "lo",
        "nodad",
    ]);
    let rules = format!(
        "set lan = {{ 10.9.0.0/16, fd00:9::/32 }}\n{}",
        block(
            &cg,
            &[
                "count to *:7000-7999",
                "drop from @lan to *:7100",
                "allow ip6 to *:7200",
                "redirect local",
            ],
            "allow",
        )
    );
    lab.apply_ok(&lab.rules("eval.sk", &rules));
    let module = sockc_compiler::compile(&rules, &Default::default())
        .0
        .expect("compiles")
        .module;
    let prog = module.programs.values().next().unwrap();
    let text_of = |slot: u32| -> String {
        let g = &module.sockmaps[0];
        if let Some(r) = prog.rules.iter().find(|r| r.counter == slot) {
            return r.text.to_string();
        }
        if let Some(&(i, _)) = g.stack_counters.iter().find(|(_, s)| *s == slot) {
            return format!("{} (through the stack)", prog.rules[i].text);
        }
        format!("default {}", sockc_compiler::ir::verdict_name(prog.default))
    };
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for listen in [
        "10.9.0.1:7100",
        "127.0.0.1:7100",
        "[fd00:9::1]:7200",
        "[::1]:7300",
        "127.0.0.1:8000",
        "[fd00:9::1]:7100",
    ] {
        let (mut client, mut server) = pair(Some(&cg.path), &lab.ns_a, addr(listen));
        let eval = evaluate_message(
            &module,
            prog,
            &SocketMessage {
                local: client.local.unwrap(),
                remote: client.remote.unwrap(),
                len: 5,
            },
            &MessageFacts {
                peer_in_map: true,
                ..Default::default()
            },
        );
        let got = client.cmd("send hello");
        let segs = client.data_segs_out();
        let what = format!("{listen}: evaluator says {:?}", eval.outcome);
        match eval.outcome {
            MessageOutcome::Drop => assert!(got.starts_with("error 13 "), "{what}, got {got}"),
            MessageOutcome::Peer => assert_eq!((got.as_str(), segs), ("ok 5", 0), "{what}"),
            MessageOutcome::Pass => {
                assert_eq!(got, "ok 5", "{what}");
                assert!(segs > 0, "{what}: TCP sent nothing");
            }
            other => panic!("{what}: no such outcome here: {other:?}"),
        }
        if got == "ok 5" {
            client.cmd("close");
            assert_eq!(server.json("sink")["received"], 5, "{what}: delivered");
        }
        for slot in eval.counter_slots(prog) {
            *want.entry(text_of(slot)).or_default() += 1;
        }
    }
    let stats = lab.stats();
    for r in stats["rules"].as_array().unwrap() {
        let text = r["text"].as_str().unwrap();
        if r["hook"] != "sockmap" {
            continue;
        }
        assert_eq!(
            r["packets"].as_u64().unwrap(),
            want.get(text).copied().unwrap_or(0),
            "rule `{text}`: kernel counters against the evaluator ({want:?})"
        );
    }
}

/// Kernel behaviour that shapes `flush` (evidence, not a sockc feature): a socket
/// taken out of its last socket map loses what was redirected into its queue and not
/// read yet (`sk_psock_drop` → `sk_psock_stop` → `__sk_psock_zap_ingress` in
/// net/core/skmsg.c). So sockc never deletes sockets from the map: a flush takes the
/// programs off and the sockets leave the map when they close. If this test starts
/// failing, the kernel keeps the bytes now and a flush could empty the map.
#[test]
fn kernel_drops_unread_redirected_bytes_of_a_socket_taken_out_of_its_map() {
    use sockc_compiler::bpf::lower::sockmap::key;
    use std::os::fd::AsFd;
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smzap");
    let lab = Lab::new("smzap", 158);
    lab.apply_ok(&lab.rules("bypass.sk", &block(&cg, &["redirect local"], "allow")));
    let (map, _) = socket_map(&lab);
    let (mut client, mut server) = pair(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
    assert_eq!(client.cmd("send queued-but-unread"), "ok 17");
    assert_eq!(
        client.data_segs_out(),
        0,
        "redirected into the server's queue"
    );
    // Take both sockets out of the map by hand.
    let pin = std::path::Path::new(BPFFS)
        .join("sockc")
        .join(&lab.name)
        .join(format!("keep_{map}"));
    let fd = sockc_runtime::sys::obj_get(&pin).expect("the socket map's pin");
    let mut keys = Vec::new();
    let mut k: Option<Vec<u8>> = None;
    while let Some(next) =
        sockc_runtime::sys::map_next_key(fd.as_fd(), k.as_deref(), key::SIZE as usize).unwrap()
    {
        keys.push(next.clone());
        k = Some(next);
    }
    assert_eq!(keys.len(), 2);
    for k in &keys {
        sockc_runtime::sys::map_delete(fd.as_fd(), k).unwrap();
    }
    client.cmd("close");
    let got = server.json("sink");
    assert_eq!(
        got["received"], 0,
        "the 17 redirected bytes were lost with the socket's queue: {got}"
    );
}

#[test]
fn redirect_to_a_named_socket_out_of_it_and_into_its_queue() {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smnamed");
    let lab = Lab::new("smnamed", 159);
    let rules = format!(
        "socket proxy = tcp\n{}",
        block(
            &cg,
            &[
                "redirect to *:3128 to sock proxy",
                "redirect to *:3129 to sock proxy ingress",
            ],
            "allow",
        )
    );
    lab.apply_ok(&lab.rules("named.sk", &rules));
    // The proxy's connection, made by this test in A (outside the cgroup).
    let listener = netns::tcp_listen(&lab.ns_a, addr("127.0.0.1:0"));
    let to = listener.local_addr().unwrap();
    let ns = lab.ns_a.clone();
    let mut proxy = netns::in_netns(&ns, move || std::net::TcpStream::connect(to).unwrap());
    let mut upstream = netns::accept(&listener);
    for s in [&proxy, &upstream] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    // One store open at a time in this process (it sets the umask).
    let store = || {
        common::exclusive::open_store(
            std::path::Path::new(BPFFS),
            Duration::from_secs(60),
            sockc_runtime::store::LockWait::Tell,
        )
        .expect("store")
    };
    let send_to = |port: u16, text: &str| -> String {
        let mut server = Peer::listen(None, &lab.ns_a, addr(&format!("127.0.0.1:{port}")));
        let mut client = Peer::connect(Some(&cg.path), &lab.ns_a, server.listening.unwrap());
        server.accepted();
        client.cmd(&format!("send {text}"))
    };
    // Nothing registered: the redirect drops.
    assert!(send_to(3128, "unregistered").starts_with("error 13 "));

    let maps = sockc_runtime::install::sockmap_names::register(
        &store(),
        &lab.name,
        "proxy",
        proxy.as_fd(),
    )
    .expect("register");
    assert_eq!(maps.len(), 1, "one socket map names `proxy`");
    assert_eq!(lab.status_attached()["sockmaps"][0]["named"], 1);

    // Without `ingress`: out through the proxy's connection, to its other end.
    assert_eq!(send_to(3128, "out-of-the-proxy"), "ok 16");
    let mut buf = [0u8; 64];
    let n = upstream.read(&mut buf).expect("the proxy's peer receives");
    assert_eq!(&buf[..n], b"out-of-the-proxy");
    // With `ingress`: into the proxy's own receive queue.
    assert_eq!(send_to(3129, "into-the-proxy"), "ok 14");
    let n = proxy.read(&mut buf).expect("the proxy reads it");
    assert_eq!(&buf[..n], b"into-the-proxy");
    // The proxy's connection itself still works both ways.
    proxy.write_all(b"ping").unwrap();
    let n = upstream.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");

    sockc_runtime::install::sockmap_names::unregister(&store(), &lab.name, "proxy")
        .expect("unregister");
    assert!(send_to(3129, "unregistered-again").starts_with("error 13 "));
    let stats = lab.stats();
    assert_eq!(counted(&stats, "redirect to *:3128 to sock proxy").0, 2);
    assert_eq!(
        counted(&stats, "redirect to *:3129 to sock proxy ingress").0,
        2
    );
}

#[test]
fn receive_side_and_local_ports_in_host_order() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smrecv");
    let lab = Lab::new("smrecv", 162);
    let rules = format!(
        "{}sockmap receive cgroup \"{}\" {{\n    count from 127.0.0.0/8\n    drop to *:7400\n    default allow\n}}\n",
        block(&cg, &["drop from *:7500"], "allow"),
        cg.path
    );
    lab.apply_ok(&lab.rules("recv.sk", &rules));
    let module = sockc_compiler::compile(&rules, &Default::default())
        .0
        .expect("compiles")
        .module;
    let (send, recv) = {
        let mut p = module.programs.values();
        (p.next().unwrap(), p.next().unwrap())
    };
    // Servers in the cgroup on fixed ports; clients outside it.
    let serve = |port: u16| {
        let mut server = Peer::listen(
            Some(&cg.path),
            &lab.ns_a,
            addr(&format!("127.0.0.1:{port}")),
        );
        let mut client = Peer::connect(None, &lab.ns_a, server.listening.unwrap());
        server.accepted();
        assert_eq!(client.cmd("send hello"), "ok 5");
        // What the server's socket receives: from = the client, to = the server.
        let eval = evaluate_message(
            &module,
            recv,
            &SocketMessage {
                local: server.local.unwrap(),
                remote: server.remote.unwrap(),
                len: 5,
            },
            &MessageFacts::default(),
        );
        client.cmd("close");
        let got = server.json("sink")["received"].as_u64().unwrap();
        (server, eval.outcome, got)
    };
    let (_s1, outcome, got) = serve(7400);
    assert_eq!(
        (outcome, got),
        (MessageOutcome::Drop, 0),
        "the received bytes are discarded"
    );
    let (_s2, outcome, got) = serve(7401);
    assert_eq!((outcome, got), (MessageOutcome::Pass, 5), "delivered");
    // The send side's `from` is the local port (host order): a server on 7500 cannot
    // answer, one on 7501 can.
    for (port, refused) in [(7500, true), (7501, false)] {
        let mut server = Peer::listen(
            Some(&cg.path),
            &lab.ns_a,
            addr(&format!("127.0.0.1:{port}")),
        );
        let _client = Peer::connect(None, &lab.ns_a, server.listening.unwrap());
        server.accepted();
        let eval = evaluate_message(
            &module,
            send,
            &SocketMessage {
                local: server.local.unwrap(),
                remote: server.remote.unwrap(),
                len: 5,
            },
            &MessageFacts::default(),
        );
        assert_eq!(
            eval.outcome == MessageOutcome::Drop,
            refused,
            "evaluator, {port}"
        );
        let got = server.cmd("send hello");
        assert_eq!(
            got.starts_with("error 13 "),
            refused,
            "server on {port}: {got}"
        );
    }
    // The receive side runs for what TCP queued, in chunks it decides, and also with no
    // bytes (the end of the stream): the bytes are exact, the runs at least one each.
    let stats = lab.stats();
    let (runs, bytes) = counted(&stats, "drop to *:7400");
    assert!(runs >= 1 && bytes == 5, "{runs} runs, {bytes} bytes");
    let (runs, bytes) = counted(&stats, "count from 127.0.0.0/8");
    assert!(runs >= 2 && bytes == 10, "{runs} runs, {bytes} bytes");
    assert_eq!(counted(&stats, "drop from *:7500"), (1, 5));
}
