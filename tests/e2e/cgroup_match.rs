//! `cgroup "PATH"` matches on real traffic (docs/language.md, "Cgroup of the socket"):
//! processes (`sockc-peer udp`) in cgroups the test makes, P/A/child and P/B, send UDP datagrams over loopback in the lab's namespace A.
//!
//! What is checked: at `netfilter output` (the socket read through BTF as xt_cgroup
//! reads it) `drop ... cgroup "A"` refuses the datagrams of the process in A/child
//! (`sendto()` fails with EPERM) and lets B's through, and `count ... cgroup !"A"`
//! counts B's only; at `tc egress on lo` (`bpf_skb_ancestor_cgroup_id`) the same
//! drop loses A/child's datagram and passes B's; in a `cgroup connect` block on their
//! common parent (`bpf_get_current_ancestor_cgroup_id`) A/child's UDP `connect()` is
//! refused with EPERM and B's is not. A removed and made again under the
//! running install (a restarted unit's cgroup): `status` reports the stale id as
//! drift (exit 3) and the new A/child's traffic is not matched until `repair` writes
//! the new id, after which it is dropped again (its `connect()` too). An apply naming a
//! cgroup that is not there fails (exit 3, the path named) with nothing installed. A
//! process 1, 32, 33 and 40 levels below the named cgroup is in it at netfilter output
//! (as for xt_cgroup), and none of them matches `cgroup !"A"`. An apply from a cgroup
//! namespace of its own is refused (its levels are not the kernel's), and one from
//! such a namespace with the host's tree mounted beside its own counts from the host's.
//!
//! The attacker's and the operator's side: a process that moves itself between
//! cgroups while it holds a socket (the socket stays where it was made: packet hooks
//! and the programs a call runs follow the socket, a socket-call `cgroup` test the
//! caller); `netfilter input` dropping what reaches a server socket of A and not B's;
//! `kill -9` at every fault point of an apply, a re-apply that names the cgroups in
//! the other order (a new object: the same code with other ids), a flush, and a
//! repair after A was re-created (one point per stale slot written).
//!
//! Root only; skipped otherwise (see `tests/common`).

use std::net::SocketAddr;

use crate::cgroup::{fault_steps, kill_at, kill_at_every_step};
use crate::common;
use crate::netns;
use crate::sockmap::peer::Peer;

use netns::{sockc, Cgroup, Lab, BPFFS};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn rules(parent: &str, a: &str) -> String {
    format!(
        "netfilter output {{\n    drop udp to 127.0.0.1:7210 cgroup \"{a}\"\n    count udp to \
         127.0.0.1:7211 cgroup !\"{a}\"\n    default allow\n}}\ntc egress on lo {{\n    drop udp \
         to 127.0.0.1:7212 cgroup \"{a}\"\n    default allow\n}}\ncgroup connect \"{parent}\" {{\n    \
         drop udp to 127.0.0.1:7213 cgroup \"{a}\"\n    default allow\n}}\n"
    )
}

/// Whether `peer`'s UDP `connect()` to 127.0.0.1:7213 was refused with EPERM.
fn connect_refused(peer: &mut Peer) -> bool {
    let out = peer.cmd("call connect udp 127.0.0.1:7213");
    assert!(
        out.starts_with("ok") || out.starts_with("error "),
        "connect: {out}"
    );
    out.starts_with("error 1 ")
}

/// Whether `peer`'s datagram to `port` was refused with EPERM.
pub(crate) fn eperm(peer: &mut Peer, port: u16) -> bool {
    let out = peer.cmd(&format!("sendto 127.0.0.1:{port} ping"));
    assert!(
        out.starts_with("ok ") || out.starts_with("error "),
        "sendto {port}: {out}"
    );
    out.starts_with("error 1 ")
}

/// The packet count of the rule written `text` in `sockc stats --json`.
fn packets(stats: &serde_json::Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hit = rules.iter().find(|r| r["text"] == text);
    hit.and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"))
}

#[test]
fn a_process_below_the_named_cgroup_is_matched_and_one_elsewhere_is_not() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgmatch", 197);
    let ns = lab.ns_a.clone();
    let parent = Cgroup::new("cgmatch");
    let a = parent.child("a");
    let child = a.child("child");
    let b = parent.child("b");
    let mut inside = Peer::udp(Some(&child.path), &ns, addr("127.0.0.1:0"));
    let mut other = Peer::udp(Some(&b.path), &ns, addr("127.0.0.1:0"));
    let mut sink_10 = Peer::udp(None, &ns, addr("127.0.0.1:7210"));
    let _sink_11 = Peer::udp(None, &ns, addr("127.0.0.1:7211"));
    let mut sink_12 = Peer::udp(None, &ns, addr("127.0.0.1:7212"));
    // A named cgroup that is not there: the apply fails, saying which, and installs
    // nothing.
    let missing = format!("{}/not-made", a.path);
    let refused = lab.apply(
        &lab.rules("missing.sk", &rules(&parent.path, &missing)),
        &[],
    );
    assert_eq!(refused.code, 3, "{refused}");
    assert!(refused.stderr.contains(&missing), "{refused}");
    assert!(lab.status().is_none(), "nothing installed");
    lab.apply_ok(&lab.rules("cg.sk", &rules(&parent.path, &a.path)));
    lab.status_attached();

    // netfilter output: A/child refused with EPERM, B let through.
    assert!(eperm(&mut inside, 7210), "A/child at netfilter output");
    assert_eq!(sink_10.cmd("recv 300"), "timeout");
    assert!(!eperm(&mut other, 7210), "B at netfilter output");
    assert!(sink_10.cmd("recv 2000").starts_with("got "));
    // `!`: B's datagram counted, A/child's not.
    assert!(!eperm(&mut inside, 7211) && !eperm(&mut other, 7211));
    // tc egress: A/child's datagram lost, B's arrives.
    inside.cmd("sendto 127.0.0.1:7212 ping");
    assert_eq!(sink_12.cmd("recv 300"), "timeout", "A/child at tc egress");
    assert!(!eperm(&mut other, 7212));
    assert!(
        sink_12.cmd("recv 2000").starts_with("got "),
        "B at tc egress"
    );
    // cgroup connect on the parent: the caller in A/child refused, the one in B not.
    assert!(connect_refused(&mut inside), "A/child's connect()");
    assert!(!connect_refused(&mut other), "B's connect()");
    let stats = lab.stats();
    let drop_nf = format!("drop udp to 127.0.0.1:7210 cgroup \"{}\"", a.path);
    let count = format!("count udp to 127.0.0.1:7211 cgroup !\"{}\"", a.path);
    let drop_tc = format!("drop udp to 127.0.0.1:7212 cgroup \"{}\"", a.path);
    assert_eq!(packets(&stats, &drop_nf), 1);
    assert_eq!(packets(&stats, &count), 1);
    assert_eq!(packets(&stats, &drop_tc), 1);

    // A and its child removed and made again: the programs still match the old id.
    drop(inside);
    for dir in [&child.path, &a.path] {
        remove_cgroup(dir);
    }
    for dir in [&a.path, &child.path] {
        std::fs::create_dir(dir).expect("mkdir again");
    }
    let (st, _) = lab.status_run(&[]);
    assert_eq!(st.code, 3, "a re-created named cgroup is drift:\n{st}");
    assert!(
        st.stdout.contains("re-created") || st.stderr.contains("re-created"),
        "{st}"
    );
    let mut inside = Peer::udp(Some(&child.path), &ns, addr("127.0.0.1:0"));
    assert!(!eperm(&mut inside, 7210), "before repair: the old id");
    assert!(
        !connect_refused(&mut inside),
        "before repair: connect() too"
    );
    let repair = sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]);
    assert_eq!(repair.code, 0, "{repair}");
    lab.status_attached();
    assert!(eperm(&mut inside, 7210), "after repair: the new id");
    assert!(connect_refused(&mut inside), "after repair: connect() too");
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// One named cgroup gone and another re-created: `repair` writes the re-created
/// one's new id (its process is matched again) and says which one is gone (exit 3);
/// the gone one's slot keeps an id no process is in. (A repair that wrote nothing
/// until every named cgroup was back let the re-created one's traffic through.)
#[test]
fn a_repair_writes_the_cgroups_it_can_and_names_the_gone_ones() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cggone", 199);
    let ns = lab.ns_a.clone();
    let parent = Cgroup::new("cggone");
    let (a, b) = (parent.child("a"), parent.child("b"));
    let rules = format!(
        "netfilter output {{\n    drop udp to 127.0.0.1:7210 cgroup \"{}\"\n    drop udp to \
         127.0.0.1:7212 cgroup \"{}\"\n    default allow\n}}\n",
        a.path, b.path
    );
    lab.apply_ok(&lab.rules("gone.sk", &rules));
    remove_cgroup(&a.path);
    remove_cgroup(&b.path);
    std::fs::create_dir(&b.path).expect("mkdir b again");
    let mut in_b = Peer::udp(Some(&b.path), &ns, addr("127.0.0.1:0"));
    assert!(!eperm(&mut in_b, 7212), "before repair: the old id");
    let repair = sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]);
    assert_eq!(repair.code, 3, "{repair}");
    assert!(
        repair.stderr.contains(&a.path),
        "names the gone cgroup: {repair}"
    );
    assert!(eperm(&mut in_b, 7212), "after repair: b's new id\n{repair}");
    drop(in_b);
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// A cgroup far below the named one (as a user with a delegated subtree can make
/// them) is still inside it at netfilter output, as `cgroup_is_descendant` says:
/// the socket's ancestor is read at the named level however deep the socket is
/// (a walk up 32 parents let a socket 33 levels down through a drop).
#[test]
fn a_socket_many_levels_below_the_named_cgroup_is_still_in_it() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgdeep", 242);
    let ns = lab.ns_a.clone();
    let a = Cgroup::new("cgdeep");
    let mut chain = Chain(vec![a.child("d1")]);
    for i in 2..=40 {
        let next = chain.0.last().expect("a level").child(&format!("d{i}"));
        chain.0.push(next);
    }
    let rules = format!(
        "netfilter output {{\n    drop udp to 127.0.0.1:7220 cgroup \"{a}\"\n    count udp \
         to 127.0.0.1:7221 cgroup !\"{a}\"\n    default allow\n}}\n",
        a = a.path
    );
    lab.apply_ok(&lab.rules("deep.sk", &rules));
    let _sinks = [7220, 7221].map(|p| Peer::udp(None, &ns, addr(&format!("127.0.0.1:{p}"))));
    for level in [1, 32, 33, 40] {
        let mut deep = Peer::udp(Some(&chain.0[level - 1].path), &ns, addr("127.0.0.1:0"));
        assert!(
            eperm(&mut deep, 7220),
            "{level} levels below A at netfilter output"
        );
        assert!(!eperm(&mut deep, 7221));
    }
    let stats = lab.stats();
    let count = format!("count udp to 127.0.0.1:7221 cgroup !\"{}\"", a.path);
    assert_eq!(
        packets(&stats, &count),
        0,
        "no socket below A is outside it"
    );
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// sockc in a cgroup namespace of its own (a container's) sees cgroup v2 from that
/// namespace's root, so the level it would write for a named cgroup is not the
/// kernel's (which counts from the host's root) and the rule would match nothing:
/// the apply is refused, naming the cause, with nothing installed.
#[test]
fn an_apply_from_a_cgroup_namespace_of_its_own_is_refused() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgns", 238);
    let ns_root = Cgroup::new("cgns");
    let x = ns_root.child("x");
    let mount = netns::cgroup2();
    let file = lab.rules(
        "ns.sk",
        &format!(
            "netfilter output {{\n    drop udp to 127.0.0.1:7230 cgroup \"{mount}/x\"\n    \
             default allow\n}}\n"
        ),
    );
    // cgroup v2 mounted again where it was: `{mount}/x` is `x` seen from there.
    let r = apply_in_cgroup_namespace(
        &lab,
        &ns_root,
        &file,
        &format!("umount -l {mount} && mount -t cgroup2 cgroup2 {mount}"),
    );
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("cgroup namespace"), "{r}");
    assert!(lab.status().is_none(), "nothing installed after {r}");
    drop(x);
}

/// The same namespace with its own cgroup v2 mounted elsewhere, beside the host's tree
/// (a pod that mounts the host's cgroups): sockc counts levels from the tree whose top
/// is the hierarchy's root, so the apply installs and the process in `x` is refused.
#[test]
fn in_a_cgroup_namespace_the_hosts_tree_beside_its_own_is_where_levels_start() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgnsh", 243);
    let ns_root = Cgroup::new("cgnsh");
    let x = ns_root.child("x");
    let file = lab.rules(
        "ns.sk",
        &format!(
            "netfilter output {{\n    drop udp to 127.0.0.1:7231 cgroup \"{}\"\n    \
             default allow\n}}\n",
            x.path
        ),
    );
    let own = std::env::temp_dir().join(format!("sockc-cgnsh-{}", std::process::id()));
    std::fs::create_dir_all(&own).expect("mount point");
    let r = apply_in_cgroup_namespace(
        &lab,
        &ns_root,
        &file,
        &format!("mount -t cgroup2 cgroup2 {}", own.display()),
    );
    let _ = std::fs::remove_dir(&own);
    assert_eq!(r.code, 0, "{r}");
    let mut inside = Peer::udp(Some(&x.path), &lab.ns_a, addr("127.0.0.1:0"));
    let _sink = Peer::udp(None, &lab.ns_a, addr("127.0.0.1:7231"));
    assert!(eperm(&mut inside, 7231), "x's datagram was not refused");
    drop(inside);
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    drop(x);
}

/// `sockc apply FILE` run in `ns_root` as the root of a cgroup namespace of its own
/// and a mount namespace where `mounts` (shell commands) ran first.
fn apply_in_cgroup_namespace(
    lab: &Lab,
    ns_root: &Cgroup,
    file: &std::path::Path,
    mounts: &str,
) -> netns::Run {
    let script = format!(
        "echo $$ > {root}/cgroup.procs && exec unshare -C -m sh -c 'mount --make-rprivate / \
         && {mounts} && exec \"$0\" \"$@\"' {args}",
        root = ns_root.path,
        args = std::iter::once(netns::sockc_bin())
            .chain(lab.apply_args(file, &lab.name, &[]))
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    netns::run(std::process::Command::new("sh").args(["-c", &script]))
}

/// Nested cgroups, removed deepest first (a cgroup with children cannot be), also
/// when a test fails.
struct Chain(Vec<Cgroup>);

impl Drop for Chain {
    fn drop(&mut self) {
        while let Some(c) = self.0.pop() {
            drop(c);
        }
    }
}

/// Removes an empty cgroup; a peer just killed may hold it a moment longer.
fn remove_cgroup(path: &str) {
    for _ in 0..100 {
        if std::fs::remove_dir(path).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("could not remove {path}");
}

/// What `peer`'s call `call PROTO ADDR` from a new socket answered: refused (EPERM)?
fn call_refused(peer: &mut Peer, call: &str, to: &str) -> bool {
    crate::sock_addr::refused(peer, call, "udp", to)
}

/// The other way: a socket made in B, its process moved into A. The socket stays
/// B's (A's sendmsg program does not run for it), but the caller is in A.
fn a_socket_made_in_b_stays_b_s_when_its_process_moves_to_a(ns: &str, a: &Cgroup, b: &Cgroup) {
    let mut arrival = Peer::udp(Some(&b.path), ns, addr("127.0.0.1:0"));
    assert!(!eperm(&mut arrival, 7231), "in B");
    assert_eq!(arrival.cmd(&format!("join {}", a.path)), "ok");
    assert!(
        !eperm(&mut arrival, 7230),
        "held socket of B: A's program not run"
    );
    assert!(eperm(&mut arrival, 7231), "held socket of B: caller in A");
    assert!(
        !eperm(&mut arrival, 7232),
        "held socket of B: netfilter output"
    );
    assert!(
        !eperm(&mut arrival, 7233),
        "held socket of B: cgroup egress"
    );
    assert!(call_refused(&mut arrival, "sendmsg", "127.0.0.1:7230"));
    assert!(call_refused(&mut arrival, "connect", "127.0.0.1:7234"));
}

/// A process that moves itself to another cgroup (its pid written to the other
/// `cgroup.procs`) while it holds a socket (docs/language.md, "Cgroup of the socket"):
/// the socket stays in the cgroup it was made in (`sk_cgrp_data`, set when the
/// socket is made), so its datagrams are still A's at netfilter output and cgroup
/// egress, and A's `cgroup sendmsg` programs still decide its `sendto()` (the kernel
/// runs the programs of the socket's cgroup); a `cgroup "A"` test in a socket-call
/// block reads the calling process's cgroup, which is B now; the process's new
/// sockets are B's everywhere. Moving back makes its new calls A's again.
#[test]
fn a_process_moving_between_cgroups_keeps_its_sockets_where_they_were_made() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgmoves", 102);
    let ns = lab.ns_a.clone();
    let parent = Cgroup::new("cgmoves");
    let a = parent.child("a");
    let b = parent.child("b");
    let text = format!(
        "cgroup sendmsg \"{a}\" {{\n    drop udp to 127.0.0.1:7230\n    default allow\n}}\n\
         cgroup sendmsg \"{p}\" {{\n    drop udp to 127.0.0.1:7231 cgroup \"{a}\"\n    default allow\n}}\n\
         netfilter output {{\n    drop udp to 127.0.0.1:7232 cgroup \"{a}\"\n    default allow\n}}\n\
         cgroup egress \"{a}\" {{\n    drop udp to 127.0.0.1:7233\n    default allow\n}}\n\
         cgroup connect \"{p}\" {{\n    drop udp to 127.0.0.1:7234 cgroup \"{a}\"\n    default allow\n}}\n\
         cgroup connect \"{a}\" {{\n    drop udp to 127.0.0.1:7235\n    default allow\n}}\n",
        a = a.path,
        p = parent.path
    );
    lab.apply_ok(&lab.rules("move.sk", &text));
    lab.status_attached();
    let mut mover = Peer::udp(Some(&a.path), &ns, addr("127.0.0.1:0"));
    // In A: its bound socket and its new sockets are A's.
    for port in 7230..=7233 {
        assert!(eperm(&mut mover, port), "in A: sendto {port}");
    }
    assert!(call_refused(&mut mover, "connect", "127.0.0.1:7234"));

    assert_eq!(mover.cmd(&format!("join {}", b.path)), "ok");
    let procs = std::fs::read_to_string(format!("{}/cgroup.procs", b.path)).unwrap();
    assert!(
        procs.lines().any(|l| l == mover.pid().to_string()),
        "{procs}"
    );
    // The socket made in A: A's sendmsg program still decides, netfilter and cgroup
    // egress still see A's socket; the socket-call `cgroup "A"` test sees the caller
    // in B.
    assert!(eperm(&mut mover, 7230), "held socket: A's sendmsg program");
    assert!(!eperm(&mut mover, 7231), "held socket: caller in B");
    assert!(eperm(&mut mover, 7232), "held socket: netfilter output");
    assert!(eperm(&mut mover, 7233), "held socket: A's cgroup egress");
    // Its connect() too: P's test sees the caller in B, A's program still runs.
    assert_eq!(mover.cmd("udpconnect 127.0.0.1:7234"), "ok", "held socket");
    let out = mover.cmd("udpconnect 127.0.0.1:7235");
    assert!(
        out.starts_with("error 1 "),
        "held socket: A's connect program: {out}"
    );
    // New sockets are B's: none of it applies.
    for port in 7230..=7233 {
        let to = format!("127.0.0.1:{port}");
        assert!(
            !call_refused(&mut mover, "sendmsg", &to),
            "new socket: {to}"
        );
    }
    assert!(!call_refused(&mut mover, "connect", "127.0.0.1:7234"));
    assert!(!call_refused(&mut mover, "connect", "127.0.0.1:7235"));

    a_socket_made_in_b_stays_b_s_when_its_process_moves_to_a(&ns, &a, &b);

    // The mover back in A: its new calls are A's again.
    assert_eq!(mover.cmd(&format!("join {}", a.path)), "ok");
    assert!(call_refused(&mut mover, "sendmsg", "127.0.0.1:7230"));
    assert!(call_refused(&mut mover, "connect", "127.0.0.1:7234"));
    let stats = lab.stats();
    // Counted where decided: 7230 refused for the held socket in A (twice: before and
    // after the move) and for new sockets made in A (twice).
    assert_eq!(
        crate::sock_addr::counted(&stats, "cgroup sendmsg4", "drop udp to 127.0.0.1:7230"),
        4
    );
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// Bytes the TCP peer's socket received, by its `TCP_INFO`.
fn bytes_received(peer: &mut Peer) -> u64 {
    peer.json("info")["bytes_received"]
        .as_u64()
        .expect("bytes_received")
}

/// `netfilter input` with `cgroup "A"`: the segments reaching a server socket made in
/// A (an accepted connection is its listener's cgroup's) are dropped, those reaching
/// B's server are not. The socket is the one early demux attached, so a SYN (no
/// established socket yet) and the handshake's last ACK (a request socket, not a full
/// one) match no `cgroup` test: both connections are made; only data is dropped.
#[test]
fn netfilter_input_drops_what_reaches_a_server_socket_of_the_cgroup() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgnfin", 103);
    let parent = Cgroup::new("cgnfin");
    let (a, b) = (parent.child("a"), parent.child("b"));
    let to = |port: u16| format!("{}:{port}", lab.addr_a);
    let text = format!(
        "netfilter input {{\n    drop tcp to {} cgroup \"{a}\"\n    drop tcp to {} cgroup \"{a}\"\n    \
         default allow\n}}\n",
        to(7240),
        to(7241),
        a = a.path
    );
    lab.apply_ok(&lab.rules("in.sk", &text));
    lab.status_attached();
    let mut serve_a = Peer::listen(Some(&a.path), &lab.ns_a, addr(&to(7240)));
    let mut serve_b = Peer::listen(Some(&b.path), &lab.ns_a, addr(&to(7241)));
    let mut to_a = Peer::connect(None, &lab.ns_b, addr(&to(7240)));
    serve_a.accepted();
    let mut to_b = Peer::connect(None, &lab.ns_b, addr(&to(7241)));
    serve_b.accepted();
    assert_eq!(to_a.cmd("send hello"), "ok 5");
    assert_eq!(to_b.cmd("send hello"), "ok 5");
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(bytes_received(&mut serve_a), 0, "A's server: data dropped");
    assert_eq!(bytes_received(&mut serve_b), 5, "B's server: data in");
    let stats = lab.stats();
    let drop_a = format!("drop tcp to {} cgroup \"{}\"", to(7240), a.path);
    let drop_b = format!("drop tcp to {} cgroup \"{}\"", to(7241), a.path);
    assert!(packets(&stats, &drop_a) >= 1, "{stats:#}");
    assert_eq!(packets(&stats, &drop_b), 0, "{stats:#}");
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// A file with `cgroup` matches at netfilter output and in a socket-call block; `new`
/// names the same two cgroups in the other order, so each load writes other slots.
fn kill_rules(parent: &str, first: &str, second: &str) -> String {
    format!(
        "netfilter output {{\n    drop udp to 127.0.0.1:7250 cgroup \"{first}\"\n    drop udp to \
         127.0.0.1:7251 cgroup \"{second}\"\n    default allow\n}}\ncgroup connect \"{parent}\" {{\n    \
         drop udp to 127.0.0.1:7252 cgroup \"{first}\"\n    default allow\n}}\n"
    )
}

/// P/A/child and P/B, as the kill test names them (`A` re-created by
/// [`Tree::recreate_a`]).
struct Tree {
    // Dropped after its children (fields drop in order).
    child: Cgroup,
    a: Cgroup,
    b: Cgroup,
    parent: Cgroup,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let parent = Cgroup::new(tag);
        let a = parent.child("a");
        let child = a.child("child");
        let b = parent.child("b");
        Tree {
            child,
            a,
            b,
            parent,
        }
    }

    /// What a process in A/child and one in B get: A/child refused at 7250 and 7251,
    /// B at 7250, A/child's `connect()` to 7252 refused.
    fn matched(&self, ns: &str) -> [bool; 4] {
        let mut inside = Peer::udp(Some(&self.child.path), ns, addr("127.0.0.1:0"));
        let mut other = Peer::udp(Some(&self.b.path), ns, addr("127.0.0.1:0"));
        [
            eperm(&mut inside, 7250),
            eperm(&mut inside, 7251),
            eperm(&mut other, 7250),
            call_refused(&mut inside, "connect", "127.0.0.1:7252"),
        ]
    }

    /// A and its child removed and made again (a restarted unit's cgroup).
    fn recreate_a(&self) {
        for dir in [&self.child.path, &self.a.path] {
            remove_cgroup(dir);
        }
        for dir in [&self.a.path, &self.child.path] {
            std::fs::create_dir(dir).expect("mkdir again");
        }
    }
}

/// What `new.sk` (B first, A second) gives, and the same with A's slot stale.
const NEW: [bool; 4] = [false, true, true, false];
const NEW_A_STALE: [bool; 4] = [false, false, true, false];

/// `kill -9` at every fault point of a repair after A was re-created under the
/// installed `new.sk`: status reports the slot still stale (exit 3) exactly while
/// A/child is not matched, and the next repair mends it. The number of steps.
fn kill_repair_at_every_step(lab: &Lab, tree: &Tree) -> usize {
    let repair = ["repair", "--name", &lab.name, "--bpffs", BPFFS];
    tree.recreate_a();
    let steps = fault_steps(&repair);
    assert!(
        steps >= 1,
        "a repair writes the stale slot at a fault point"
    );
    assert_eq!(tree.matched(&lab.ns_a), NEW);
    for n in 1..=steps {
        tree.recreate_a();
        kill_at(&repair, n);
        let when = format!("repair killed at step {n}");
        let (r, _) = lab.status_run(&[]);
        let got = tree.matched(&lab.ns_a);
        match r.code {
            0 => assert_eq!(got, NEW, "{when}"),
            3 => {
                assert!(r.stdout.contains("re-created"), "{when}:\n{r}");
                assert_eq!(got, NEW_A_STALE, "{when}: A/child unmatched");
            }
            _ => panic!("{when}:\n{r}"),
        }
        sockc(&repair).ok();
        lab.status_attached();
        assert_eq!(tree.matched(&lab.ns_a), NEW, "{when}, repaired");
    }
    steps
}

/// `kill -9` at every fault point of a first apply, a re-apply (the named cgroups'
/// slots swapped) and a flush of a file with `cgroup` matches, and of a repair after
/// A was re-created (between the slots' writes among them): after each kill, `status`
/// (having recovered) exits 0 and what processes of A/child and B get is what the
/// file it names says (or nothing, when nothing is installed); after a killed repair,
/// see [`kill_repair_at_every_step`].
#[test]
fn kill_at_every_step_of_a_file_with_cgroup_matches_converges() {
    if !common::kernel() {
        return;
    }
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("cgmkill", 104);
    let tree = Tree::new("cgmkill");
    let (p, a, b) = (&tree.parent.path, &tree.a.path, &tree.b.path);
    let old = lab.rules("old.sk", &kill_rules(p, a, b));
    let new = lab.rules("new.sk", &kill_rules(p, b, a));
    let expect = |file: &str| -> [bool; 4] {
        match file {
            f if f == old.to_str().unwrap() => [true, false, false, true],
            f if f == new.to_str().unwrap() => NEW,
            other => panic!("status names {other}"),
        }
    };
    let [first, again, out] = kill_at_every_step(&lab, &old, &new, |when| {
        let (r, st) = lab.status_run(&[]);
        let want = match &st {
            None => {
                assert!(r.stderr.contains("nothing is installed"), "{when}:\n{r}");
                [false; 4]
            }
            Some(st) => {
                assert_eq!(r.code, 0, "{when}: status after recovery:\n{r}");
                expect(st["source_file"].as_str().unwrap())
            }
        };
        assert_eq!(tree.matched(&lab.ns_a), want, "{when}");
    });
    lab.apply_ok(&new);
    let repair = kill_repair_at_every_step(&lab, &tree);
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    println!(
        "killed {} times (first apply {first}, re-apply {again}, flush {out}, repair {repair} steps)",
        first + again + out + repair
    );
}
