//! End-to-end tests of `cgroup connect`, `cgroup sendmsg` and `cgroup bind` blocks
//! (sock_addr programs) with real socket calls from `sockc-peer` processes in cgroups
//! the tests make, in the lab's namespace A. `BPF_PROG_TEST_RUN` cannot run sock_addr
//! programs (`ENOTSUPP`), so these calls are their only test against the kernel.
//!
//! What is checked: a process in cgroup A cannot `connect()` to a port that one in
//! cgroup B can (`EPERM`), for IPv4, IPv6 and an IPv6 socket's IPv4-mapped address;
//! an unconnected UDP `sendto()` to a refused address fails with `EPERM`; a refused
//! `bind()` fails with `EPERM`; every rule counts the calls it decided, in the program
//! of the call's family; a re-apply swaps the programs in place (the same link pins);
//! the cgroup removed and made again is drift that `repair` mends; `flush` takes the
//! links off; `kill -9` at every fault point of an apply, a re-apply and a flush
//! converges. And the evaluator agrees with the kernel on every one of more than 1,000
//! calls (generated rules × generated destinations, each call made for real; `owner`,
//! `comm` and redirects among the rules, callers under two uids and three command
//! names, and where a UDP connect went compared with where the evaluator sends it).
//! Redirects landing on listeners and `comm` by name: `sock_redirect`.
//!
//! Root only; skipped otherwise (see `tests/common`).

use std::net::SocketAddr;

use serde_json::Value;
use sockc_compiler::{driver, hooks::HookKind, ir::Program};
use sockc_testkit::{
    eval::{self, Call, Facts, Outcome},
    rng::Rng,
};

use crate::cgroup::{installed_expectation, kill_at_every_step};
use crate::common;
use crate::netns;
use crate::sockmap::peer::Peer;

use netns::{sockc, Cgroup, Lab, BPFFS};

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// Whether the call `call PROTO ADDR` from `peer` failed with `EPERM` (any other
/// answer, `ok` or another errno, is the kernel going on with the call).
#[track_caller]
pub(crate) fn refused(peer: &mut Peer, call: &str, proto: &str, to: &str) -> bool {
    call_answer(peer, call, proto, to).0
}

/// [`refused`], and where a connect's socket is connected to when `getpeername()`
/// already says (a UDP socket's; `ok PEER`).
#[track_caller]
fn call_answer(peer: &mut Peer, call: &str, proto: &str, to: &str) -> (bool, Option<SocketAddr>) {
    let out = peer.cmd(&format!("call {call} {proto} {to}"));
    assert!(
        out == "ok" || out.starts_with("ok ") || out.starts_with("error "),
        "{call} {proto} {to}: {out}"
    );
    let connected = out
        .strip_prefix("ok ")
        .map(|a| a.parse().expect("peer address"));
    (out.starts_with("error 1 "), connected)
}

/// Calls counted by the rule `text` of the `hook` program, in `stats --json`.
#[track_caller]
pub(crate) fn counted(stats: &Value, hook: &str, text: &str) -> u64 {
    let hits: Vec<&Value> = stats["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["hook"] == hook && r["text"] == text)
        .collect();
    assert_eq!(hits.len(), 1, "one rule `{text}` at {hook} in {stats:#}");
    hits[0]["packets"].as_u64().unwrap()
}

fn rules(cg: &Cgroup, connect_port: u16) -> String {
    format!(
        "cgroup connect \"{cg}\" {{\n    drop tcp to 127.0.0.1:{connect_port} log\n    \
         drop to [::1]:7121\n    default allow\n}}\n\
         cgroup sendmsg \"{cg}\" {{\n    drop udp to 127.0.0.1:7122\n    default allow\n}}\n\
         cgroup bind \"{cg}\" {{\n    drop tcp to *:7123\n    default allow\n}}\n",
        cg = cg.path
    )
}

#[test]
fn socket_call_blocks_refuse_the_cgroups_calls_only() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("sockad", 211);
    let ns = lab.ns_a.clone();
    let a = Cgroup::new("sockad-a");
    let b = Cgroup::new("sockad-b");
    let mut in_a = Peer::udp(Some(&a.path), &ns, addr("127.0.0.1:0"));
    let mut in_b = Peer::udp(Some(&b.path), &ns, addr("127.0.0.1:0"));
    let file = lab.rules("sa.sk", &rules(&a, 7120));
    lab.apply_ok(&file);
    lab.status_attached();

    // connect: refused in A, for IPv4, IPv6 and an IPv6 socket's IPv4-mapped address.
    assert!(refused(&mut in_a, "connect", "tcp", "127.0.0.1:7120"));
    assert!(refused(
        &mut in_a,
        "connect",
        "tcp",
        "[::ffff:127.0.0.1]:7120"
    ));
    assert!(refused(&mut in_a, "connect", "udp", "[::1]:7121"));
    assert!(!refused(&mut in_a, "connect", "udp", "127.0.0.1:7120"));
    assert!(!refused(&mut in_a, "connect", "tcp", "127.0.0.1:7124"));
    // B is another cgroup: none of A's rules apply.
    assert!(!refused(&mut in_b, "connect", "tcp", "127.0.0.1:7120"));
    assert!(!refused(&mut in_b, "connect", "udp", "[::1]:7121"));
    // sendmsg: an unconnected UDP sendto is refused; a connect to it is not.
    assert!(refused(&mut in_a, "sendmsg", "udp", "127.0.0.1:7122"));
    assert!(refused(
        &mut in_a,
        "sendmsg",
        "udp",
        "[::ffff:127.0.0.1]:7122"
    ));
    assert!(!refused(&mut in_a, "sendmsg", "udp", "127.0.0.1:7125"));
    assert!(!refused(&mut in_a, "connect", "udp", "127.0.0.1:7122"));
    assert!(!refused(&mut in_b, "sendmsg", "udp", "127.0.0.1:7122"));
    // bind: a server in A cannot bind 7123, in either family; B's can.
    assert!(refused(&mut in_a, "bind", "tcp", "127.0.0.1:7123"));
    assert!(refused(&mut in_a, "bind", "tcp", "[::]:7123"));
    assert!(!refused(&mut in_a, "bind", "udp", "127.0.0.1:7123"));
    assert!(!refused(&mut in_b, "bind", "tcp", "127.0.0.1:7123"));

    let stats = lab.stats();
    let con4 = "cgroup connect4";
    let con6 = "cgroup connect6";
    assert_eq!(counted(&stats, con4, "drop tcp to 127.0.0.1:7120 log"), 1);
    assert_eq!(counted(&stats, con6, "drop tcp to 127.0.0.1:7120 log"), 1);
    assert_eq!(counted(&stats, con6, "drop to [::1]:7121"), 1);
    assert_eq!(counted(&stats, con4, "default allow"), 3);
    // The IPv6 socket's sendto to an IPv4-mapped address runs the IPv4 hook.
    assert_eq!(
        counted(&stats, "cgroup sendmsg4", "drop udp to 127.0.0.1:7122"),
        2
    );
    assert_eq!(
        counted(&stats, "cgroup sendmsg6", "drop udp to 127.0.0.1:7122"),
        0
    );
    assert_eq!(counted(&stats, "cgroup bind4", "drop tcp to *:7123"), 1);
    assert_eq!(counted(&stats, "cgroup bind6", "drop tcp to *:7123"), 1);

    // `log`: the refused call is traced with the process that made it.
    let pid = in_a.pid();
    let traced = netns::trace_first_event(&lab, || {
        assert!(refused(&mut in_a, "connect", "tcp", "127.0.0.1:7120"))
    });
    assert!(
        traced.stdout.contains("cgroup connect4")
            && traced.stdout.contains("drop by line 2")
            && traced
                .stdout
                .contains(&format!("tcp -> 127.0.0.1:7120 by pid {pid} (sockc-peer)")),
        "{traced}"
    );

    // A re-apply swaps the programs on the same links: 7120 goes, 7126 is refused.
    let links_before = lab.pins();
    std::fs::write(&file, rules(&a, 7126)).expect("rewrite rules");
    lab.apply_ok(&file);
    assert!(!refused(&mut in_a, "connect", "tcp", "127.0.0.1:7120"));
    assert!(refused(&mut in_a, "connect", "tcp", "127.0.0.1:7126"));
    let links_after = lab.pins();
    let links: Vec<&String> = links_before
        .iter()
        .filter(|p| p.contains("link_"))
        .collect();
    assert_eq!(links.len(), 6, "one link per program: {links_before:?}");
    for pin in links {
        assert!(links_after.contains(pin), "link pin replaced: {pin}");
    }

    // The cgroup removed and made again: drift, then repair attaches to the new one.
    drop(in_a);
    remove_cgroup(&a.path);
    std::fs::create_dir(&a.path).expect("mkdir cgroup again");
    let (st, v) = lab.status_run(&[]);
    assert_eq!(st.code, 3, "a re-created cgroup is drift:\n{st}");
    let v = v.expect("status lists the install");
    assert!(
        v["hooks"]
            .as_array()
            .expect("hooks")
            .iter()
            .all(|h| h["state"] != "attached"),
        "{v:#}"
    );
    let mut in_a = Peer::udp(Some(&a.path), &ns, addr("127.0.0.1:0"));
    assert!(
        !refused(&mut in_a, "connect", "tcp", "127.0.0.1:7126"),
        "before repair"
    );
    sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    lab.status_attached();
    assert!(
        refused(&mut in_a, "connect", "tcp", "127.0.0.1:7126"),
        "after repair"
    );

    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    assert!(
        !refused(&mut in_a, "connect", "tcp", "127.0.0.1:7126"),
        "after flush"
    );
    assert!(
        !refused(&mut in_a, "bind", "tcp", "127.0.0.1:7123"),
        "after flush"
    );
}

/// A bind block decides `bind()` calls, `bind()` to port 0 among them, not the
/// binding the kernel does itself: under `default drop`, `listen()` of a never-bound
/// TCP socket still listens, on every address and an ephemeral port (no hook runs;
/// docs/language.md says so and names the ingress block as the way to keep
/// connections off such ports).
#[test]
fn a_bind_block_does_not_see_the_kernels_own_binding() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("sabind", 196);
    let cg = Cgroup::new("sabind");
    let file = lab.rules(
        "bind.sk",
        &format!(
            "cgroup bind \"{}\" {{\n    allow tcp to *:7124\n    default drop\n}}\n",
            cg.path
        ),
    );
    // The caller binds its own socket before the rules are there (they refuse it).
    let mut inside = Peer::udp(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
    lab.apply_ok(&file);
    assert!(!refused(&mut inside, "bind", "tcp", "127.0.0.1:7124"));
    assert!(refused(&mut inside, "bind", "tcp", "127.0.0.1:7125"));
    assert!(refused(&mut inside, "bind", "tcp", "127.0.0.1:0"));
    let out = inside.cmd("call listen tcp 127.0.0.1:0");
    let local: SocketAddr = out
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("listen: {out}"))
        .parse()
        .expect("local address");
    assert!(local.ip().is_unspecified() && local.port() != 0, "{local}");
}

/// `owner uid|gid` in a socket-call block tests the calling process's ids: uid 1001
/// is refused where uid 1002 is not, in the same cgroup, and a negated test refuses
/// every caller but root.
#[test]
fn the_callers_uid_and_gid_decide() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("sockauid", 213);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("sockauid");
    let file = lab.rules(
        "uid.sk",
        &format!(
            "cgroup connect \"{}\" {{\n    drop tcp to 127.0.0.1:7130 owner uid 1001\n    \
             drop tcp to 127.0.0.1:7131 owner gid 2002\n    \
             drop tcp to 127.0.0.1:7132 owner !uid 0\n    default allow\n}}\n",
            cg.path
        ),
    );
    let mut u1001 = Peer::udp_as(Some(&cg.path), &ns, Some((1001, 2001)), addr("127.0.0.1:0"));
    let mut u1002 = Peer::udp_as(Some(&cg.path), &ns, Some((1002, 2002)), addr("127.0.0.1:0"));
    let mut root = Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0"));
    lab.apply_ok(&file);
    let answers = |p: &mut Peer| {
        [7130, 7131, 7132].map(|port| refused(p, "connect", "tcp", &format!("127.0.0.1:{port}")))
    };
    assert_eq!(
        answers(&mut u1001),
        [true, false, true],
        "uid 1001, gid 2001"
    );
    assert_eq!(
        answers(&mut u1002),
        [false, true, true],
        "uid 1002, gid 2002"
    );
    assert_eq!(answers(&mut root), [false, false, false], "root");
    let stats = lab.stats();
    assert_eq!(
        counted(
            &stats,
            "cgroup connect4",
            "drop tcp to 127.0.0.1:7132 owner !uid 0"
        ),
        2
    );
}

/// `kill -9` of sockc at every fault point of a first apply, a re-apply (sendmsg and
/// bind blocks added, the refused port moved) and a flush of socket-call blocks:
/// afterwards `status` names the file in force (or nothing), exactly that file's
/// sock_addr programs are on the cgroup, and a new process of the cgroup gets what the
/// file says.
#[test]
fn kill_at_every_step_of_socket_call_apply_reapply_and_flush_converges() {
    if !common::kernel() {
        return;
    }
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("sockakil", 214);
    let cg = Cgroup::new("sockakil");
    let old_text = format!(
        "cgroup connect \"{}\" {{\n    drop tcp to 127.0.0.1:7120\n    default allow\n}}\n",
        cg.path
    );
    let old = lab.rules("old.sk", &old_text);
    let new = lab.rules("new.sk", &rules(&cg, 7126));
    // (connect to 7120 refused, to 7126 refused, sock_addr programs on the cgroup)
    let files = [
        (old.as_path(), (true, false, 2)),
        (new.as_path(), (false, true, 6)),
    ];
    let [first, again, out] = kill_at_every_step(&lab, &old, &new, |when| {
        check_truth(&cg, &lab, &files, when)
    });
    let killed = first + again + out;
    assert_eq!(sock_addr_programs(&cg.path), 0);
    println!("killed {killed} times (first apply {first}, re-apply {again}, flush {out} steps)");
}

/// The sock_addr programs attached to the cgroup itself (bpftool, not sockc).
fn sock_addr_programs(cgroup: &str) -> usize {
    let out =
        netns::run(std::process::Command::new("bpftool").args(["cgroup", "list", cgroup, "-j"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.as_array().map_or(0, |a| {
        a.iter()
            .filter(|p| {
                // libbpf's names (`cgroup_inet4_connect`), and older bpftools' short ones.
                matches!(
                    p["attach_type"].as_str(),
                    Some(
                        "cgroup_inet4_connect"
                            | "cgroup_inet6_connect"
                            | "cgroup_udp4_sendmsg"
                            | "cgroup_udp6_sendmsg"
                            | "cgroup_inet4_bind"
                            | "cgroup_inet6_bind"
                            | "connect4"
                            | "connect6"
                            | "sendmsg4"
                            | "sendmsg6"
                            | "bind4"
                            | "bind6"
                    )
                )
            })
            .count()
    })
}

/// After a kill: status exits 0 and names a file (or nothing), that file's programs
/// are on the cgroup, and a new process of the cgroup gets what it says.
#[track_caller]
fn check_truth(
    cg: &Cgroup,
    lab: &Lab,
    files: &[(&std::path::Path, (bool, bool, usize))],
    when: &str,
) {
    let (want, st) = installed_expectation(lab, files, when);
    let mut peer = Peer::udp(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
    let got = (
        refused(&mut peer, "connect", "tcp", "127.0.0.1:7120"),
        refused(&mut peer, "connect", "tcp", "127.0.0.1:7126"),
        sock_addr_programs(&cg.path),
    );
    assert_eq!(got, want, "{when}: {st:#?}");
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

/// Addresses the generated rules and calls draw from: loopback (reachable), addresses
/// with no route in the lab's namespace (the hook runs before routing, so the call
/// still reaches it), IPv6 and IPv4-mapped IPv6.
const ADDRS_V4: &[&str] = &[
    "127.0.0.1",
    "127.0.0.2",
    "127.0.1.7",
    "10.9.8.7",
    "10.9.9.1",
];
const ADDRS_V6: &[&str] = &["::1", "2001:db8::1", "2001:db8::2:1"];
const PREFIXES: &[&str] = &[
    "127.0.0.0/8",
    "127.0.0.0/24",
    "10.9.8.0/24",
    "10.0.0.0/8",
    "2001:db8::/32",
    "2001:db8::2:0/112",
];
const PORTS: (u16, u16) = (7140, 7149);

/// Where generated redirects send calls: loopback (a UDP connect there succeeds and
/// `getpeername()` shows it), with and without a port, and an unrouted IPv6 address.
const TARGETS_V4: &[&str] = &["127.0.0.9:7160", "127.0.0.9", "127.0.0.10:7161"];
const TARGETS_V6: &[&str] = &["[::1]:7162", "[::1]", "[2001:db8::9]:7163"];
/// The names the callers take, and what generated `comm` tests name.
const NAMES: &[&str] = &["curl", "wget", "sockc-peer"];

/// One generated rule of a socket-call block: as a connect or sendmsg block has it,
/// and as a bind block has it (a redirect there is an `allow` of the same calls).
fn generated_rule(rng: &mut Rng) -> (String, String) {
    let action = rng.pick(&["drop", "drop", "allow", "count", "redirect"]);
    let proto = rng.pick(&["", "tcp ", "udp "]);
    // (the address, and the family of the targets a redirect of it may take)
    let (addr, v6) = match rng.below(4) {
        0 => ("*".to_string(), rng.below(2) == 1),
        1 => {
            let p = rng.pick(PREFIXES);
            (p.to_string(), p.contains(':'))
        }
        2 => (rng.pick(ADDRS_V4).to_string(), false),
        _ => (format!("[{}]", rng.pick(ADDRS_V6)), true),
    };
    let lo = PORTS.0 + rng.below(10) as u16;
    let port = match rng.below(3) {
        0 => String::new(),
        1 => format!(":{lo}"),
        _ => format!(":{lo}-{}", (lo + rng.below(4) as u16).min(PORTS.1)),
    };
    let owner = match rng.below(6) {
        0 => " owner uid 1001",
        1 => " owner !gid 1001",
        _ => "",
    };
    let comm = match rng.below(8) {
        0 => " comm \"curl\"",
        1 => " comm !{ \"curl\", \"wget\" }",
        2 => " comm { \"wget\", \"nc\" }",
        _ => "",
    };
    let matches = format!("{proto}to {addr}{port}{owner}{comm}");
    if action == "redirect" {
        let target = rng.pick(if v6 { TARGETS_V6 } else { TARGETS_V4 });
        (
            format!("redirect {matches} to {target}"),
            format!("allow {matches}"),
        )
    } else {
        let rule = format!("{action} {matches}");
        (rule.clone(), rule)
    }
}

/// A generated call: connect, sendmsg or bind; protocol; destination.
fn generated_call(rng: &mut Rng) -> (&'static str, &'static str, SocketAddr) {
    let call = rng.pick(&["connect", "connect", "sendmsg", "bind"]);
    let proto = if call == "sendmsg" {
        "udp"
    } else {
        rng.pick(&["tcp", "udp"])
    };
    let port = PORTS.0 + rng.below(10) as u16;
    let ip: std::net::IpAddr = match rng.below(3) {
        0 => rng.pick(ADDRS_V4).parse().unwrap(),
        1 => rng.pick(ADDRS_V6).parse().unwrap(),
        _ => {
            let v4: std::net::Ipv4Addr = rng.pick(ADDRS_V4).parse().unwrap();
            v4.to_ipv6_mapped().into()
        }
    };
    (call, proto, SocketAddr::new(ip, port))
}

/// The program of `call`'s block that decides a call to `to`.
fn program_for<'m>(
    module: &'m sockc_compiler::ir::Module,
    call: &str,
    to: &SocketAddr,
) -> &'m Program {
    // An IPv6 socket's sendto to an IPv4-mapped address is sent as IPv4: the kernel
    // (`udpv6_sendmsg`) hands it to `udp_sendmsg`, which runs the IPv4 hook with the
    // IPv4 address, and the IPv6 hook never runs. connect and bind run the IPv6 hook.
    let v4_mapped = match to {
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
        SocketAddr::V4(_) => false,
    };
    let ipv6 = to.is_ipv6() && !(call == "sendmsg" && v4_mapped);
    let hook = match (call, ipv6) {
        ("connect", false) => HookKind::CgroupConnect4,
        ("connect", true) => HookKind::CgroupConnect6,
        ("sendmsg", false) => HookKind::CgroupSendmsg4,
        ("sendmsg", true) => HookKind::CgroupSendmsg6,
        (_, false) => HookKind::CgroupBind4,
        (_, true) => HookKind::CgroupBind6,
    };
    module
        .programs
        .values()
        .find(|p| p.hook == hook)
        .expect("a program for every call and family")
}

/// Evaluator against kernel on real calls: for each of several generated rule sets
/// (the same rules in a connect, a sendmsg and a bind block, redirects among them but
/// in the bind block, which has none), generated calls from processes in the cgroup
/// under two uids and three command names; each call's `EPERM` or not must be the
/// evaluator's drop or allow, each rule's counter what the evaluator says it decided,
/// and where a UDP connect's socket is connected to (`getpeername()`) the address the
/// evaluator says the call goes to (its own, or a redirect's target).
#[test]
fn the_evaluator_agrees_with_the_kernel_on_real_socket_calls() {
    if !common::kernel() {
        return;
    }
    const ROUNDS: u64 = 4;
    const RULES: usize = 24;
    const CALLS: usize = 300;
    let lab = Lab::new("sockadev", 212);
    let ns = lab.ns_a.clone();
    let cg = Cgroup::new("sockadev");
    let (mut total, mut refusals) = (0, 0);
    // UDP connects whose destination was compared, and how many a redirect moved.
    let (mut destinations, mut redirected) = (0, 0);
    // Calls a redirect rule decided (the kernel let them go on, and counted them).
    let mut by_redirect = 0;
    // Calls decided by each socket-call row (connect4 .. bind6): every one is tested.
    let mut calls = [0u32; 6];
    for round in 0..ROUNDS {
        let mut rng = Rng::seeded(0x5ade_0000 + round);
        let (body, bind_body): (Vec<String>, Vec<String>) =
            (0..RULES).map(|_| generated_rule(&mut rng)).unzip();
        let default = rng.pick(&["allow", "drop"]);
        let block = |call: &str| {
            let body = if call == "bind" { &bind_body } else { &body };
            format!(
                "cgroup {call} \"{}\" {{\n    {}\n    default {default}\n}}\n",
                cg.path,
                body.join("\n    ")
            )
        };
        let src = ["connect", "sendmsg", "bind"].map(block).concat();
        let module = driver::check(&src, &Default::default())
            .unwrap_or_else(|d| panic!("generated rules do not check: {d:?}\n{src}"))
            .module;
        // The callers, root and uid 1001, bind their own sockets before the rules are
        // there (a generated bind rule may refuse them).
        let mut callers = [
            (
                Peer::udp(Some(&cg.path), &ns, addr("127.0.0.1:0")),
                0,
                "sockc-peer",
            ),
            (
                Peer::udp_as(Some(&cg.path), &ns, Some((1001, 1001)), addr("127.0.0.1:0")),
                1001,
                "sockc-peer",
            ),
        ];
        let file = lab.rules("ev.sk", &src);
        lab.apply_ok(&file);
        let mut expected = std::collections::BTreeMap::<(String, usize), u64>::new();
        for _ in 0..CALLS {
            let (call, proto, to) = generated_call(&mut rng);
            let prog = program_for(&module, call, &to);
            let c = Call {
                proto: if proto == "tcp" { 6 } else { 17 },
                to,
            };
            calls[prog.hook.spec().path_order as usize - 17] += 1;
            let (peer, id, name) = &mut callers[rng.below(2)];
            let next = rng.pick(NAMES);
            if next != *name {
                assert_eq!(peer.cmd(&format!("name {next}")), "ok");
                *name = next;
            }
            let facts = Facts {
                uid: Some(*id),
                gid: Some(*id),
                comm: sockc_compiler::syntax::comm::comm_of(name).expect("a name"),
                ..Facts::default()
            };
            let e = eval::evaluate_call(&module, prog, &c, &facts);
            let want = eval::call_destination(&c, &e);
            by_redirect += usize::from(matches!(e.outcome, Outcome::Redirect(_)));
            let (got, connected) = call_answer(peer, call, proto, &to.to_string());
            assert_eq!(
                got,
                want.is_none(),
                "round {round}: {call} {proto} {to} as uid {id} ({name}): kernel \
                 refused={got}, evaluator {:?} (line {})\n{src}",
                e.outcome,
                e.line(prog)
            );
            if let Some(peer_addr) = connected {
                assert_eq!(
                    Some(peer_addr),
                    want,
                    "round {round}: {call} {proto} {to} ({name}) connected to {peer_addr}, \
                     evaluator {:?} (line {})\n{src}",
                    e.outcome,
                    e.line(prog)
                );
                destinations += 1;
                redirected += usize::from(peer_addr != to);
            }
            let hook = prog.hook.spec().name.to_string();
            for line in e.counter_slots(prog).into_iter().map(|slot| {
                prog.rules
                    .iter()
                    .find(|r| r.counter == slot)
                    .map_or(prog.default_line, |r| r.line)
            }) {
                *expected.entry((hook.clone(), line)).or_default() += 1;
            }
            total += 1;
            refusals += got as usize;
        }
        let stats = lab.stats();
        for r in stats["rules"].as_array().expect("rules") {
            let key = (
                r["hook"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap() as usize,
            );
            assert_eq!(
                r["packets"].as_u64().unwrap(),
                expected.get(&key).copied().unwrap_or(0),
                "round {round}: calls counted by {key:?} ({})\n{src}",
                r["text"]
            );
        }
        sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    }
    eprintln!(
        "{total} calls, {refusals} refused, by row {calls:?}; {by_redirect} redirected; \
         {destinations} UDP connects' destinations compared, {redirected} of them moved"
    );
    assert!(total >= 1000, "{total} calls");
    // The generated redirects are exercised, and some where the kernel says where the
    // call went.
    assert!(by_redirect >= 50, "{by_redirect} calls redirected");
    assert!(
        redirected >= 5,
        "{redirected} redirected destinations compared"
    );
    // Both answers are common: the generated rules decide both ways.
    assert!(
        (total / 10..total * 9 / 10).contains(&refusals),
        "{refusals} of {total} refused"
    );
    assert!(calls.iter().all(|&n| n >= 50), "calls per row: {calls:?}");
}
