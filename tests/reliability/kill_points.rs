//! The fault-injection sweep: every command that changes an install — a first apply,
//! a re-apply, a set update, a flush, `register`, `unregister` and `repair` — killed
//! (SIGKILL, `SOCKC_FAULT_KILL_AT=N`) at each of its kernel-changing and file-changing
//! steps (`runtime/src/fault.rs`), on one install that has every kind of hook: XDP,
//! TC ingress and egress (TCX links, and clsact filters), sk_lookup with a socket
//! registered by address and one its registrar (a sock_ops program on a cgroup)
//! registers, and a sockmap group on another cgroup.
//!
//! After each kill:
//! * **the kernel runs what `status` says**: for every hook on an interface, the
//!   namespace or a cgroup, the programs the kernel lists there (netlink for XDP and
//!   clsact filters, `BPF_PROG_QUERY` for TCX, sk_lookup and cgroups) are exactly those
//!   `status` calls attached; status finished or undid the interrupted work (no drift
//!   but sockets a killed `unregister` left empty, and hooks a killed `repair` had not
//!   reached yet);
//! * **traffic follows it**: UDP through XDP and TC ingress (B → A) and TC egress
//!   (A → B), TCP through the sk_lookup redirects (to the socket registered by address
//!   and to the one the registrar registers when a restarted service listens), and
//!   `send()` of a connection in the sockmap group's cgroup — each as the file
//!   `status` names says, or as with nothing installed;
//! * after a killed flush, `status` and `repair` (what the repair timer runs) never
//!   bring the install back once the flush began;
//! * the command run again converges, and **`flush` then leaves nothing**: no pin, no
//!   directory, no program on any hook, no clsact qdisc sockc made.
//!
//! In CI every kill point of every command runs, the TC attach mode alternating from
//! one point to the next (TCX, clsact); `SOCKC_FAULT_SWEEP=full` runs every point in
//! both modes. The number of kill points covered is printed and checked.

use crate::common;
use crate::netns;
// Only the listener and connector of the sockmap tests' peers are used here.
#[allow(dead_code)]
#[path = "../e2e/sockmap/peer.rs"]
mod peer;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    net::{TcpListener, UdpSocket},
    os::fd::AsRawFd,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use netns::{in_netns, ip, outcome, run, sockc, sockc_bin, Cgroup, Lab, Outcome, Run, BPFFS};
use peer::Peer;
use serde_json::Value;
use sockc_compiler::hooks::HookKind;

// ---- the world -------------------------------------------------------------------------

/// Which file an install runs: what `status` names decides what traffic must see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Old,
    New,
    Nothing,
}

/// Dropped in field order: the services, then the lab (flushing the install), then
/// the cgroups (empty by then).
struct World {
    /// The service the registrar registers when it listens.
    web: Option<Peer>,
    /// The service registered by address (in this process; `sockc` takes it from here).
    /// Non-blocking: [`traffic`] accepts what reached it before it probes again, as a
    /// queue of connections never accepted fills at the listen backlog (128), after
    /// which a redirected connection times out whatever sockc did.
    proxy: TcpListener,
    lab: Lab,
    cg_map: Cgroup,
    cg_reg: Cgroup,
    old: PathBuf,
    new: PathBuf,
    set: PathBuf,
}

fn rules(w: (&Lab, &Cgroup, &Cgroup), old: bool, other: &str) -> String {
    let (lab, cg_map, cg_reg) = w;
    let (a, b) = (&lab.if_a, lab.addr_b);
    let pick = |when_old: &str, when_new: &str| {
        if old {
            when_old.to_string()
        } else {
            when_new.to_string()
        }
    };
    format!(
        "set blocked = {{ {b}, {other} }}\n\
         socket proxy = tcp 127.0.0.1:8080\n\
         socket web = tcp 127.0.0.1:8090 cgroup \"{reg}\"\n\
         xdp on {a} {{\n  drop udp to *:9101\n  drop udp from @blocked to *:9107\n{x}  default allow\n}}\n\
         tc ingress on {a} {{\n  drop udp to *:9105\n{ti}  default allow\n}}\n\
         tc egress on {a} {{\n  drop udp to *:9201\n{te}  default allow\n}}\n\
         sk_lookup {{\n{sk}  redirect tcp to 3.3.3.3:* to sock proxy\n  redirect tcp to 4.4.4.4:* to sock web\n  default pass\n}}\n\
         sockmap cgroup \"{map}\" {{\n  drop to {prefix}\n  default allow\n}}\n",
        reg = cg_reg.path,
        map = cg_map.path,
        x = pick("  drop udp to *:9003\n", ""),
        ti = pick("", "  drop udp to *:9006\n"),
        te = pick("  drop udp to *:9202\n", ""),
        sk = pick("", "  drop tcp to 3.3.3.3:7001\n"),
        prefix = pick("192.0.2.0/24", "198.51.100.0/24"),
    )
}

impl World {
    fn new() -> World {
        let lab = Lab::new("killpt", 220);
        for (ns, how) in [(&lab.ns_a, "local"), (&lab.ns_b, "via")] {
            for prefix in ["3.3.3.0/24", "4.4.4.0/24"] {
                let mut args = vec!["-n", ns, "route", "add"];
                let a = lab.addr_a.to_string();
                if how == "local" {
                    args.extend(["local", prefix, "dev", "lo"]);
                } else {
                    args.extend([prefix, "via", &a]);
                }
                ip(&args);
            }
        }
        for addr in ["192.0.2.1/24", "198.51.100.1/24"] {
            ip(&["-n", &lab.ns_a, "addr", "add", addr, "dev", "lo"]);
        }
        let (cg_map, cg_reg) = (Cgroup::new("kpmap"), Cgroup::new("kpreg"));
        let w = (&lab, &cg_map, &cg_reg);
        let old = lab.rules("old.sk", &rules(w, true, "192.0.2.3"));
        let new = lab.rules("new.sk", &rules(w, false, "192.0.2.3"));
        let set = lab.rules("set.sk", &rules(w, false, "192.0.2.4"));
        let proxy = in_netns(&lab.ns_a, || TcpListener::bind("127.0.0.1:8080").unwrap());
        proxy.set_nonblocking(true).unwrap();
        let mut world = World {
            lab,
            cg_map,
            cg_reg,
            old,
            new,
            set,
            proxy,
            web: None,
        };
        world.restart_web();
        world
    }

    /// Starts the registrar's service again (it registers itself when it listens, if
    /// the registrar runs).
    fn restart_web(&mut self) {
        self.web = None;
        self.web = Some(Peer::listen(
            Some(&self.cg_reg.path),
            &self.lab.ns_a,
            "127.0.0.1:8090".parse().unwrap(),
        ));
    }

    fn apply(&self, file: &std::path::Path, mode: &str) -> Run {
        sockc(
            &self
                .lab
                .apply_args(file, &self.lab.name, &["--tc-attach", mode]),
        )
    }

    fn variant_of(&self, source: &str) -> Variant {
        if source == self.old.to_str().unwrap() {
            Variant::Old
        } else {
            Variant::New
        }
    }
}

// ---- what the kernel runs ----------------------------------------------------------------

/// The `BPF_PROG_QUERY` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// The programs attached to `target` (a descriptor, or for TCX an interface index)
/// for `hook`'s attach type.
fn prog_query(target: u32, hook: HookKind) -> BTreeSet<u64> {
    const BPF_PROG_QUERY: libc::c_long = 16;
    let mut ids = [0u32; 16];
    let mut attr = QueryAttr {
        target,
        attach_type: hook.spec().attach_type as u32,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..QueryAttr::default()
    };
    // SAFETY: bpf(BPF_PROG_QUERY) reads `attr` (its size given) and writes at most
    // `prog_cnt` ids into `ids`, both alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_QUERY,
            &mut attr as *mut QueryAttr,
            std::mem::size_of::<QueryAttr>(),
        )
    };
    if rc != 0 {
        return BTreeSet::new();
    }
    ids[..attr.prog_cnt as usize]
        .iter()
        .map(|&i| u64::from(i))
        .collect()
}

/// `id N` of every filter `tc filter show` lists on `dev`'s `dir` hook in `ns`.
fn clsact_progs(ns: &str, dev: &str, dir: &str) -> BTreeSet<u64> {
    let out = run(Command::new("tc").args(["-n", ns, "filter", "show", "dev", dev, dir]));
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "id")
        .filter_map(|w| w[1].parse().ok())
        .collect()
}

fn has_clsact(lab: &Lab) -> bool {
    run(Command::new("tc").args(["-n", &lab.ns_a, "qdisc", "show", "dev", &lab.if_a]))
        .stdout
        .contains("clsact")
}

/// What runs on each hook of the world, read from the kernel alone: by the hook's name
/// as `status` shows it (and its attach point).
fn kernel_view(w: &World) -> BTreeMap<String, BTreeSet<u64>> {
    let lab = &w.lab;
    let mut view = BTreeMap::new();
    view.insert(
        "xdp".to_string(),
        lab.xdp_prog_id().map(u64::from).into_iter().collect(),
    );
    let ifindex = {
        let dev = lab.if_a.clone();
        in_netns(&lab.ns_a, move || {
            let c = std::ffi::CString::new(dev).unwrap();
            // SAFETY: if_nametoindex reads a NUL-terminated string.
            unsafe { libc::if_nametoindex(c.as_ptr()) }
        })
    };
    for (name, hook, dir) in [
        ("tc ingress", HookKind::TcIngress, "ingress"),
        ("tc egress", HookKind::TcEgress, "egress"),
    ] {
        let tcx = in_netns(&lab.ns_a, move || prog_query(ifindex, hook));
        let mut all = clsact_progs(&lab.ns_a, &lab.if_a, dir);
        all.extend(tcx);
        view.insert(name.to_string(), all);
    }
    let netns = File::open(format!("/run/netns/{}", lab.ns_a)).unwrap();
    view.insert(
        "sk_lookup".to_string(),
        prog_query(netns.as_raw_fd() as u32, HookKind::SkLookup),
    );
    for (name, cg) in [("sock_ops", &w.cg_map), ("sk_lookup register", &w.cg_reg)] {
        let dir = File::open(&cg.path).unwrap();
        view.insert(
            name.to_string(),
            prog_query(dir.as_raw_fd() as u32, HookKind::SockOps),
        );
    }
    view
}

/// The same from `status`: the programs of hooks it calls attached, and of those it
/// does not.
fn status_view(st: &Value) -> (BTreeMap<String, BTreeSet<u64>>, BTreeSet<u64>) {
    let mut attached: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut not = BTreeSet::new();
    for h in st["hooks"].as_array().unwrap() {
        let (hook, id) = (h["hook"].as_str().unwrap(), h["prog_id"].as_u64().unwrap());
        if h["state"] == "attached" {
            attached.entry(hook.to_string()).or_default().insert(id);
        } else {
            not.insert(id);
        }
    }
    (attached, not)
}

// ---- what traffic sees -------------------------------------------------------------------

/// UDP datagrams from `from` (namespace, address) to each of `ports` at `to`: how many
/// of `COUNT` arrived per port.
fn udp_probe(
    from: (&str, std::net::Ipv4Addr),
    to: (&str, std::net::Ipv4Addr),
    ports: &[u16],
) -> BTreeMap<u16, u64> {
    const COUNT: u64 = 5;
    let (to_ns, to_addr) = (to.0.to_string(), to.1);
    let socks: Vec<(u16, UdpSocket)> = {
        let ports = ports.to_vec();
        in_netns(&to_ns, move || {
            ports
                .into_iter()
                .map(|p| {
                    let s = netns::bind_retrying("bind", || UdpSocket::bind((to_addr, p)));
                    s.set_nonblocking(true).unwrap();
                    (p, s)
                })
                .collect()
        })
    };
    let from_addr = from.1;
    let sender = in_netns(from.0, move || UdpSocket::bind((from_addr, 0)).unwrap());
    for seq in 0..COUNT {
        for &p in ports {
            let _ = sender.send_to(&netns::datagram(p, seq), (to_addr, p));
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut buf = [0u8; 64];
    socks
        .into_iter()
        .map(|(p, s)| {
            let mut seen = BTreeSet::new();
            while let Ok(n) = s.recv(&mut buf) {
                seen.extend(netns::parse_datagram(p, &buf[..n]));
            }
            (p, seen.len() as u64)
        })
        .collect()
}

fn tcp(lab: &Lab, to: &str) -> Outcome {
    outcome(&netns::tcp_connect(
        &lab.ns_b,
        None,
        to.parse().unwrap(),
        netns::NO_ANSWER,
    ))
}

/// Whether `send()` from a connection of the sockmap group's cgroup to `to` fails with
/// EACCES.
fn sockmap_refuses(w: &World, to: &str) -> bool {
    let server = Peer::listen(None, &w.lab.ns_a, format!("{to}:0").parse().unwrap());
    let mut client = Peer::connect(Some(&w.cg_map.path), &w.lab.ns_a, server.listening.unwrap());
    client.cmd("send x").starts_with("error 13 ")
}

/// What every hook does to traffic, as a list of facts to compare.
fn traffic(w: &mut World) -> Vec<(String, String)> {
    let lab = &w.lab;
    let mut facts = Vec::new();
    let ingress = udp_probe(
        (&lab.ns_b, lab.addr_b),
        (&lab.ns_a, lab.addr_a),
        &[9101, 9102, 9003, 9105, 9006, 9107],
    );
    let egress = udp_probe(
        (&lab.ns_a, lab.addr_a),
        (&lab.ns_b, lab.addr_b),
        &[9201, 9202, 9203],
    );
    for (p, n) in ingress.iter().chain(&egress) {
        facts.push((
            format!("udp {p}"),
            if *n == 5 {
                "passes"
            } else if *n == 0 {
                "dropped"
            } else {
                "partly"
            }
            .to_string(),
        ));
    }
    while w.proxy.accept().is_ok() {}
    for to in ["3.3.3.3:7001", "3.3.3.3:7002"] {
        facts.push((format!("tcp {to}"), format!("{:?}", tcp(lab, to))));
    }
    // The registrar registers a service that listens now.
    w.restart_web();
    facts.push((
        "tcp 4.4.4.4:7000 (restarted)".into(),
        format!("{:?}", tcp(&w.lab, "4.4.4.4:7000")),
    ));
    for to in ["192.0.2.1", "198.51.100.1"] {
        facts.push((
            format!("sockmap send to {to}"),
            if sockmap_refuses(w, to) {
                "EACCES"
            } else {
                "sent"
            }
            .to_string(),
        ));
    }
    facts
}

/// The facts [`traffic`] must find for `v`, with the sk_lookup socket `proxy`
/// registered or not.
fn expected(v: Variant, proxy: bool) -> Vec<(String, String)> {
    let on = v != Variant::Nothing;
    let old = v == Variant::Old;
    let udp = |p: u16, dropped: bool| {
        (
            format!("udp {p}"),
            if dropped { "dropped" } else { "passes" }.to_string(),
        )
    };
    let answered = |yes: bool| {
        format!(
            "{:?}",
            if yes {
                Outcome::Answered
            } else {
                Outcome::Refused
            }
        )
    };
    let mut facts = vec![
        udp(9101, on),
        udp(9102, false),
        udp(9003, on && old),
        udp(9105, on),
        udp(9006, on && !old),
        udp(9107, on),
        udp(9201, on),
        udp(9202, on && old),
        udp(9203, false),
    ];
    facts.push(("tcp 3.3.3.3:7001".into(), answered(on && old && proxy)));
    facts.push(("tcp 3.3.3.3:7002".into(), answered(on && proxy)));
    facts.push(("tcp 4.4.4.4:7000 (restarted)".into(), answered(on)));
    let sends = |refused: bool| if refused { "EACCES" } else { "sent" }.to_string();
    facts.push(("sockmap send to 192.0.2.1".into(), sends(on && old)));
    facts.push(("sockmap send to 198.51.100.1".into(), sends(on && !old)));
    facts.sort();
    facts
}

// ---- the checks ----------------------------------------------------------------------------

/// After a kill: status (having finished or undone what the kill left) says what the
/// kernel runs, and traffic follows it. `partial` allows hooks status calls drift (a
/// repair killed before it reached them); traffic is then checked after convergence.
#[track_caller]
fn check_truth(w: &mut World, when: &str, partial: bool) {
    let (r, st) = w.lab.status_run(&[]);
    let kernel = kernel_view(w);
    let Some(st) = st else {
        assert!(
            r.stderr.contains("nothing is installed") || r.stdout.contains("nothing installed"),
            "{when}:\n{r}"
        );
        for (hook, progs) in &kernel {
            assert!(
                progs.is_empty(),
                "{when}: nothing installed, yet {hook} runs {progs:?}"
            );
        }
        assert!(!w.lab.pin_dir().exists(), "{when}: {:#?}", w.lab.pins());
        let mut got = traffic(w);
        got.sort();
        assert_eq!(
            got,
            expected(Variant::Nothing, false),
            "{when}: nothing installed"
        );
        return;
    };
    let drift: Vec<&str> = st["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let hook_drift: Vec<&&str> = drift.iter().filter(|d| !d.starts_with("socket ")).collect();
    assert!(
        partial || hook_drift.is_empty(),
        "{when}: status after recovery:\n{r}"
    );
    assert!(r.code == 0 || r.code == 3, "{when}:\n{r}");
    let (attached, not) = status_view(&st);
    for (hook, progs) in &kernel {
        let said = attached.get(hook).cloned().unwrap_or_default();
        assert_eq!(
            progs, &said,
            "{when}: {hook}: the kernel runs {progs:?}, status says {said:?} attached\n{st:#}"
        );
        assert!(progs.is_disjoint(&not), "{when}: {hook}");
    }
    if !hook_drift.is_empty() {
        return;
    }
    let proxy = !drift.iter().any(|d| d.starts_with("socket proxy"));
    let v = w.variant_of(st["source_file"].as_str().unwrap());
    let mut got = traffic(w);
    got.sort();
    assert_eq!(
        got,
        expected(v, proxy),
        "{when}: traffic against {v:?}\n{st:#}"
    );
}

/// After a flush: nothing of the install is left anywhere.
#[track_caller]
fn check_nothing_left(w: &World, when: &str, made_qdisc: bool) {
    assert!(!w.lab.pin_dir().exists(), "{when}: {:#?}", w.lab.pins());
    for (hook, progs) in kernel_view(w) {
        assert!(
            progs.is_empty(),
            "{when}: {hook} runs {progs:?} after the flush"
        );
    }
    if made_qdisc {
        assert!(
            !has_clsact(&w.lab),
            "{when}: the clsact qdisc sockc made is left"
        );
    }
}

// ---- the sweep ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Cmd {
    FirstApply,
    Reapply,
    SetUpdate,
    Flush,
    Register,
    Unregister,
    Repair,
}

impl Cmd {
    fn args(self, w: &World, mode: &str) -> Vec<String> {
        let name = w.lab.name.clone();
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Cmd::FirstApply => strs(&w.lab.apply_args(&w.old, &name, &["--tc-attach", mode])),
            Cmd::Reapply => strs(&w.lab.apply_args(&w.new, &name, &["--tc-attach", mode])),
            Cmd::SetUpdate => strs(&w.lab.apply_args(&w.set, &name, &["--tc-attach", mode])),
            Cmd::Flush => strs(&["flush", "--name", &name, "--bpffs", BPFFS]),
            Cmd::Register => strs(&["register", "proxy", "--name", &name, "--bpffs", BPFFS]),
            Cmd::Unregister => strs(&["unregister", "proxy", "--name", &name, "--bpffs", BPFFS]),
            Cmd::Repair => strs(&["repair", "--name", &name, "--bpffs", BPFFS]),
        }
    }

    /// Brings the world to where the command starts from (from nothing installed).
    fn prepare(self, w: &World, mode: &str) {
        let name = w.lab.name.as_str();
        match self {
            Cmd::FirstApply => {}
            Cmd::Reapply => {
                w.apply(&w.old, mode).ok();
            }
            _ => {
                w.apply(&w.new, mode).ok();
            }
        }
        match self {
            Cmd::Register => {
                sockc(&["unregister", "proxy", "--name", name]).ok();
            }
            Cmd::Repair => break_everything(w),
            _ => {}
        }
    }
}

/// Takes every hook off by hand (link pins removed, the clsact qdisc deleted, the
/// sockmap group's program slot emptied) and deletes a set entry: what `repair` undoes.
fn break_everything(w: &World) {
    for e in std::fs::read_dir(w.lab.pin_dir()).unwrap().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if f.starts_with("link_") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let _ = run(Command::new("tc").args([
        "-n",
        &w.lab.ns_a,
        "qdisc",
        "del",
        "dev",
        &w.lab.if_a,
        "clsact",
    ]));
    for e in std::fs::read_dir(w.lab.pin_dir()).unwrap().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if f.starts_with("keep_msgv_") {
            run(Command::new("bpftool")
                .args(["map", "delete", "pinned"])
                .arg(e.path())
                .args(["key", "0", "0", "0", "0"]))
            .ok();
        }
    }
    let gen = std::fs::read_dir(w.lab.pin_dir())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with('g'))
        .unwrap()
        .path();
    let b = w.lab.addr_b.octets();
    let key: Vec<String> = [32u8, 0, 0, 0]
        .iter()
        .chain(b.iter())
        .map(|x| format!("{x:02x}"))
        .collect();
    let mut args = vec![
        "map".to_string(),
        "delete".into(),
        "pinned".into(),
        gen.join("map_set_blocked_v4").display().to_string(),
        "key".into(),
        "hex".into(),
    ];
    args.extend(key);
    run(Command::new("bpftool").args(&args)).ok();
}

fn env_kill(args: &[String], n: usize) -> Run {
    run(Command::new(sockc_bin())
        .args(args)
        .env("SOCKC_FAULT_KILL_AT", n.to_string())
        .env("SOCKC_FAULT_TRACE", "1"))
}

fn fault_points(args: &[String]) -> Vec<String> {
    let r = run(Command::new(sockc_bin())
        .args(args)
        .env("SOCKC_FAULT_TRACE", "1"));
    assert!(r.code == 0, "{r}");
    r.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("fault point "))
        .map(|l| l.split_once(": ").map_or(l, |(_, what)| what).to_string())
        .collect()
}

/// Kills `cmd` at point `n` (of `what`) in TC mode `mode` and checks everything.
fn kill_once(w: &mut World, cmd: Cmd, mode: &str, n: usize, steps: &[String]) {
    let what = &steps[n - 1];
    let when = format!("{cmd:?} ({mode}) killed at {n}: {what}");
    // The install is left interrupted on purpose until it is looked at and flushed: no
    // command without `--name` may finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    // The registrar's service listens again, as when the steps were traced (its
    // peer stops listening once it has accepted a connection).
    w.restart_web();
    cmd.prepare(w, mode);
    let before: BTreeSet<String> = pin_names(w);
    let r = env_kill(&cmd.args(w, mode), n);
    assert_eq!(
        r.code, -1,
        "{when}: expected the kill; the steps traced were {steps:#?}\n{r}"
    );
    if let Cmd::Flush = cmd {
        let after = pin_names(w);
        let began = after.contains("journal") || !before.is_subset(&after);
        // What the repair timer would do next.
        sockc(&["status", "--name", &w.lab.name]);
        sockc(&["repair", "--name", &w.lab.name]);
        if began {
            check_nothing_left(
                w,
                &format!("{when}, then status and repair"),
                mode == "clsact",
            );
        }
    }
    check_truth(w, &when, matches!(cmd, Cmd::Repair));
    // Converges when run again.
    let again = run(Command::new(sockc_bin()).args(cmd.args(w, mode)));
    match cmd {
        Cmd::Flush => assert!(
            again.code == 0 || again.stderr.contains("nothing is installed"),
            "{when}:\n{again}"
        ),
        _ => assert_eq!(again.code, 0, "{when}: run again\n{again}"),
    }
    if !matches!(cmd, Cmd::Flush) {
        let (r, st) = w.lab.status_run(&["--deep"]);
        let st = st.unwrap_or_else(|| panic!("{when}: converged to nothing\n{r}"));
        let hook_drift: Vec<String> = st["drift"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|d| !d.starts_with("socket "))
            .map(str::to_string)
            .collect();
        assert!(hook_drift.is_empty(), "{when}: converged\n{r}");
        if matches!(cmd, Cmd::Repair) {
            check_truth(w, &format!("{when}, converged"), false);
        }
    }
    let f = sockc(&["flush", "--name", &w.lab.name]);
    assert!(
        f.code == 0 || f.stderr.contains("nothing is installed"),
        "{when}:\n{f}"
    );
    check_nothing_left(w, &format!("{when}, flushed"), mode == "clsact");
}

fn pin_names(w: &World) -> BTreeSet<String> {
    std::fs::read_dir(w.lab.pin_dir())
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_command_killed_at_every_step_leaves_the_truth_and_nothing_behind() {
    if !common::kernel() {
        return;
    }
    let full = std::env::var("SOCKC_FAULT_SWEEP").is_ok_and(|v| v == "full");
    let mut w = World::new();
    let started = Instant::now();
    let cmds = [
        Cmd::FirstApply,
        Cmd::Reapply,
        Cmd::SetUpdate,
        Cmd::Flush,
        Cmd::Register,
        Cmd::Unregister,
        Cmd::Repair,
    ];
    let modes = ["tcx", "clsact"];
    let mut covered: BTreeMap<String, usize> = BTreeMap::new();
    let mut distinct = 0;
    // `SOCKC_FAULT_SWEEP_CMDS=Flush,Repair` sweeps only those commands.
    let only = std::env::var("SOCKC_FAULT_SWEEP_CMDS").unwrap_or_default();
    for cmd in cmds {
        if !only.is_empty() && !only.split(',').any(|c| c == format!("{cmd:?}")) {
            continue;
        }
        // The steps, from the command's starting point, in each mode.
        let steps: Vec<Vec<String>> = modes
            .iter()
            .map(|mode| {
                w.restart_web();
                cmd.prepare(&w, mode);
                let s = fault_points(&cmd.args(&w, mode));
                sockc(&["flush", "--name", &w.lab.name]);
                s
            })
            .collect();
        assert!(!steps[0].is_empty(), "{cmd:?} has no fault points");
        let most = steps.iter().map(Vec::len).max().unwrap();
        distinct += most;
        for n in 1..=most {
            for (m, mode) in modes.iter().enumerate() {
                // CI: every point once, the TC mode alternating; full: both modes.
                if !full && (n + m) % 2 == 1 && steps[(m + 1) % 2].len() >= n {
                    continue;
                }
                if steps[m].len() < n {
                    continue;
                }
                kill_once(&mut w, cmd, mode, n, &steps[m]);
                *covered.entry(format!("{cmd:?} {mode}")).or_default() += 1;
            }
        }
    }
    let total: usize = covered.values().sum();
    println!(
        "{total} kills ({distinct} distinct kill points, {}) in {:.0?}: {covered:?}",
        if full {
            "both TC modes each"
        } else {
            "TC mode alternating"
        },
        started.elapsed()
    );
    assert!(distinct >= 100, "{distinct} kill points");
    assert!(total >= distinct);
}
