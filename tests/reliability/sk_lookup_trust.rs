//! Who may be registered for sk_lookup steering (issue 47, item 1): an attacker's pass
//! at taking a steered address over, each way a socket gets into a slot, against the
//! declaration's trust boundary — its `cgroup` (the cgroup the socket was *created*
//! in), or else its `owner` (root when it names none).
//!
//! Each test builds namespaces A and B behind a veth ([`Lab`]; A has local routes for
//! 3.3.3.0/24 and 5.5.5.0/24, B routes them to A) and cgroups of its own, and installs
//! with `sockc apply --netns A`. "Attackers" are processes of uid 65534 (`setpriv`) in
//! the test's own cgroup, outside the declared one; a connection from B to a steered
//! address must then be refused (the redirect's slot is empty: SK_DROP), never answered
//! by the attacker. The service and the attackers are this binary run again
//! ([`peer_child`]): it binds, listens when told to, and answers every connection with
//! its label.
//!
//! What is checked: with `cgroup` declared, an outsider's listener on the declared
//! address is not registered by `apply`, `repair` (what the contrib timer runs),
//! `register` by address, `--pid`, `--pid --fd`, nor socket activation, each refusal
//! saying why and what would be accepted; a socket made outside and handed to a process
//! inside (descriptor inheritance, the same as `SCM_RIGHTS`), and a process that moves
//! itself into the cgroup after binding, stay outside — for the registrar too, which
//! never fires for them; the real service in the cgroup registers itself, and again
//! after a restart, and `status` names its owner (uid, pid, command, cgroup); a socket
//! that got into a slot without the check (as an older sockc would put it) is drift in
//! `status` and `repair` takes it out. Without `cgroup`, only root's socket is
//! registered unless `owner` names the user (`owner user "nobody"`), and another
//! user's `SO_REUSEADDR` UDP socket on the same port neither gets in nor blocks root's.
//! The cgroup id sock_diag reports (`INET_DIAG_CGROUP_ID`) is checked against the
//! directory's inode number, which the runtime compares it with.

use crate::common;
use crate::netns;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, UdpSocket},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    process::{Child, ChildStdin, Command, Stdio},
};

use netns::{in_netns, ip, outcome, sockc, tcp_connect, Cgroup, Lab, Outcome, ANSWER, NO_ANSWER};
use serde_json::Value;

/// The peer's configuration: `ADDR LABEL MODE`, MODE `listen` (bind and listen),
/// `wait` (bind, then listen once a line comes on stdin), `fd3` (listen on the bound
/// socket inherited as descriptor 3), `reuseport` (listen with `SO_REUSEPORT`) or `udp`
/// (a `SO_REUSEADDR` UDP socket).
const PEER_ENV: &str = "SOCKC_TRUST_PEER";

/// The name libtest lists [`peer_child`] under: its module path in the test binary
/// (the crate's own name left out).
fn peer_child_name() -> String {
    match module_path!().split_once("::") {
        Some((_, path)) => format!("{path}::peer_child"),
        None => "peer_child".to_string(),
    }
}

/// Not a test: the entry point of a peer process (see [`PEER_ENV`]). The test binary
/// runs itself with `--exact` [`peer_child_name`]; without the variable this returns at
/// once.
#[test]
fn peer_child() {
    let Ok(spec) = std::env::var(PEER_ENV) else {
        return;
    };
    let words: Vec<&str> = spec.split_whitespace().collect();
    let (addr, label, mode) = (words[0], words[1], words[2]);
    let addr: SocketAddr = addr.parse().expect("peer address");
    let pid = std::process::id();
    if mode == "udp" {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .expect("udp socket");
        sock.set_reuse_address(true).expect("SO_REUSEADDR");
        sock.bind(&addr.into()).expect("bind");
        println!("ready {pid}");
        let sock: UdpSocket = sock.into();
        let mut buf = [0u8; 64];
        loop {
            let (_, from) = sock.recv_from(&mut buf).expect("recv");
            let _ = sock.send_to(label.as_bytes(), from);
        }
    }
    let listener: TcpListener = match mode {
        "fd3" => {
            // SAFETY: the parent passed a bound TCP socket as descriptor 3 for us.
            let fd = unsafe { OwnedFd::from_raw_fd(3) };
            // SAFETY: listen on our own socket.
            assert_eq!(unsafe { libc::listen(fd.as_raw_fd(), 16) }, 0, "listen");
            fd.into()
        }
        _ => {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            sock.set_reuse_address(true).expect("SO_REUSEADDR");
            sock.set_reuse_port(mode == "reuseport")
                .expect("SO_REUSEPORT");
            sock.bind(&addr.into()).expect("bind");
            if mode == "wait" {
                println!("bound {pid}");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).expect("stdin");
            }
            sock.listen(16).expect("listen");
            sock.into()
        }
    };
    println!("ready {pid}");
    loop {
        let (mut c, _) = listener.accept().expect("accept");
        let _ = writeln!(c, "{label} {pid}");
    }
}

/// A peer process in namespace A; killed (and reaped) when dropped.
struct Peer {
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

/// Who runs a peer, and where.
#[derive(Clone, Copy)]
enum As<'a> {
    Root,
    /// uid and gid 65534 (`nobody`, `nogroup`), no supplementary groups.
    Nobody,
    /// Root, in this cgroup from its first instruction.
    RootIn(&'a Cgroup),
}

impl Peer {
    fn start(lab: &Lab, who: As<'_>, spec: &str) -> Peer {
        Peer::spawn(lab, who, spec, None)
    }

    /// Starts `ADDR LABEL MODE` and waits for its first line (`bound` for `wait`,
    /// `ready` otherwise). `fd3` is passed as descriptor 3.
    fn spawn(lab: &Lab, who: As<'_>, spec: &str, fd3: Option<&OwnedFd>) -> Peer {
        let exe = std::env::current_exe().expect("test binary");
        let mut argv: Vec<String> = Vec::new();
        if let As::RootIn(cg) = who {
            argv.extend(
                [
                    "sh",
                    "-c",
                    "echo $$ > \"$1/cgroup.procs\" && shift && exec \"$@\"",
                    "sh",
                ]
                .map(String::from),
            );
            argv.push(cg.path.clone());
        }
        argv.extend(["ip", "netns", "exec", &lab.ns_a].map(String::from));
        if let As::Nobody = who {
            argv.extend(
                [
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "--",
                ]
                .map(String::from),
            );
        }
        argv.push(exe.display().to_string());
        argv.push("--exact".to_string());
        argv.push(peer_child_name());
        argv.extend(["--nocapture", "--test-threads=1"].map(String::from));
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env(PEER_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(fd) = fd3 {
            pass_as_fd3(&mut cmd, fd);
        }
        let mut child = cmd.spawn().expect("start the peer");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let pid = next_word_after(&mut lines, spec, &["ready ", "bound "]);
        Peer {
            child,
            pid,
            stdin,
            lines,
        }
    }

    /// Tells a `wait` peer to listen, and waits until it does.
    fn listen_now(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").expect("tell the peer");
        next_word_after(&mut self.lines, "the waiting peer", &["ready "]);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after the first of `marks` on the peer's output (libtest may print
/// `test sk_lookup_trust::peer_child ... ` on the same line first).
fn next_word_after(
    lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>,
    what: &str,
    marks: &[&str],
) -> u32 {
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("peer `{what}` exited before it was ready"))
            .expect("read");
        if let Some(p) = marks.iter().find_map(|m| line.split_once(m).map(|x| x.1)) {
            return p.trim().parse().expect("pid");
        }
    }
}

/// Makes `fd` the child's descriptor 3 (inherited across exec, as systemd passes a
/// socket, or as `SCM_RIGHTS` would hand it over: the socket is the same).
fn pass_as_fd3(cmd: &mut Command, fd: &OwnedFd) {
    use std::os::unix::process::CommandExt;
    let raw = fd.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A bound (not listening) TCP socket on `addr` in namespace A, made by this process
/// (root, in the test's cgroup).
fn bound_here(lab: &Lab, addr: &str) -> OwnedFd {
    let addr: SocketAddr = addr.parse().unwrap();
    in_netns(&lab.ns_a, move || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        s.set_reuse_address(true).expect("SO_REUSEADDR");
        s.bind(&addr.into()).expect("bind");
        OwnedFd::from(s)
    })
}

fn lab(tag: &str, subnet: u8) -> Lab {
    let lab = Lab::new(tag, subnet);
    for prefix in ["3.3.3.0/24", "5.5.5.0/24"] {
        ip(&[
            "-n", &lab.ns_a, "route", "add", "local", prefix, "dev", "lo",
        ]);
        let via = lab.addr_a.to_string();
        ip(&["-n", &lab.ns_b, "route", "add", prefix, "via", &via]);
    }
    lab
}

/// A lab and a cgroup tagged `tag`, and a rule file that declares `proxy` on
/// 127.0.0.1:8080 with that cgroup and steers 3.3.3.3 to it (not applied yet).
fn proxy_in_cgroup(tag: &str, subnet: u8) -> (Lab, Cgroup, std::path::PathBuf) {
    let lab = lab(tag, subnet);
    let cg = Cgroup::new(tag);
    let file = lab.rules(
        "steer.sk",
        &format!(
            "socket proxy = tcp 127.0.0.1:8080 cgroup \"{}\"\n\
             sk_lookup {{\n    redirect 3.3.3.3:* to sock proxy\n    default pass\n}}\n",
            cg.path
        ),
    );
    (lab, cg, file)
}

/// Connects from B to `to`: the first word of the answer (the peer's label), or how
/// the connection failed.
fn answer(lab: &Lab, to: &str) -> Result<String, Outcome> {
    let r = tcp_connect(&lab.ns_b, None, to.parse().unwrap(), ANSWER);
    let mut s = r.map_err(|e| outcome::<()>(&Err(e)))?;
    s.set_read_timeout(Some(ANSWER)).unwrap();
    let mut line = String::new();
    s.read_to_string(&mut line)
        .map_err(|e| Outcome::Failed(e.to_string()))?;
    Ok(line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// A connection from B to `to` that must be refused (the slot is empty: SK_DROP).
#[track_caller]
fn refused(lab: &Lab, to: &str, when: &str) {
    let r = tcp_connect(&lab.ns_b, None, to.parse().unwrap(), NO_ANSWER);
    assert_eq!(outcome(&r), Outcome::Refused, "{to} {when}");
}

/// `sockc status --json`'s entry of this lab's install, whatever its exit code; the
/// document is checked against its schema (`docs/schemas/sockc.status.1.json`).
fn status_json(lab: &Lab) -> (netns::Run, Value) {
    let r = sockc(&["status", "--name", &lab.name, "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
    common::schema::Schemas::load().validate("status", &v);
    let install = v["installs"][0].clone();
    (r, install)
}

fn slot<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .find(|s| s["socket"] == name)
        .unwrap_or_else(|| panic!("no socket {name} in {st:#}"))
}

/// What a command printed, on either stream (`repair` prints its notices on stdout,
/// `apply` on stderr).
fn said(r: &netns::Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

/// The descriptor number of process `pid`'s first socket.
fn socket_fd(pid: u32) -> i32 {
    let p = sockc_runtime::discovery::owner::Process::open(pid).expect("the peer runs");
    p.sockets().expect("its descriptors")[0].0
}

fn register(lab: &Lab, args: &[&str]) -> netns::Run {
    let mut all = vec!["register", "--name", &lab.name];
    all.extend_from_slice(args);
    sockc(&all)
}

/// The test's own cgroup (where the attackers run), as sockc names cgroups.
fn own_cgroup() -> String {
    let line = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let rel = line
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line");
    format!("{}{}", netns::cgroup2(), rel.trim_end_matches('/'))
        .trim_end_matches('/')
        .to_string()
}

/// The attack: with `cgroup` declared, uid 65534 outside it binds the declared
/// address while the service is down; neither `apply`, `repair`, nor any form of
/// `register` puts that socket into the slot, a connection from B is refused rather
/// than accepted by the attacker, and the real service, started in the cgroup, takes
/// the address over by itself (also after a restart) with `status` naming its owner.
#[test]
fn an_outsider_on_the_declared_address_is_never_registered() {
    if !common::kernel() {
        return;
    }
    let (lab, cg, file) = proxy_in_cgroup("trustcg", 81);
    let attacker = Peer::start(&lab, As::Nobody, "127.0.0.1:8080 attacker listen");
    let applied = lab.apply_ok(&file);
    let outside = format!("outside {}", cg.path);
    let accepts = format!("it accepts only sockets made in cgroup {}", cg.path);
    let repaired = sockc(&["repair", "--name", &lab.name]).ok();
    for (what, run) in [("apply", &applied), ("repair", &repaired)] {
        let text = said(run);
        assert!(
            text.contains(&outside) && text.contains(&accepts),
            "{what} says why the attacker's socket is refused: {run}"
        );
        assert!(!text.contains("registered, found"), "{what}: {run}");
        refused(&lab, "3.3.3.3:22", &format!("after {what}"));
    }
    let pid = attacker.pid.to_string();
    let fd = socket_fd(attacker.pid).to_string();
    for args in [
        vec!["proxy"],
        vec!["proxy", "--pid", &pid],
        vec!["proxy", "--pid", &pid, "--fd", &fd],
    ] {
        let r = register(&lab, &args).expect_code(1);
        assert!(
            r.stderr.contains(&outside)
                && r.stderr.contains(&accepts)
                && r.stderr.contains("start the service in that cgroup"),
            "register {args:?}: {r}"
        );
        refused(&lab, "3.3.3.3:22", &format!("after register {args:?}"));
    }
    let (_, st) = status_json(&lab);
    assert_eq!(slot(&st, "proxy")["state"], "empty", "{st:#}");

    // The service in its cgroup: registered when it listens, owner shown; again
    // after a kill and restart. Each time it is gone, the attacker binds again and
    // repair (the timer's) still does not register it.
    drop(attacker);
    for round in ["first start", "restart"] {
        let service = Peer::start(&lab, As::RootIn(&cg), "127.0.0.1:8080 service listen");
        assert_eq!(
            answer(&lab, "3.3.3.3:22").as_deref(),
            Ok("service"),
            "{round}"
        );
        let (r, st) = status_json(&lab);
        assert_eq!(r.code, 0, "{r}");
        let owner = &slot(&st, "proxy")["owner"];
        assert_eq!(owner["uid"], 0, "{st:#}");
        assert_eq!(owner["pid"], service.pid, "{st:#}");
        assert_eq!(owner["cgroup"], cg.path.as_str(), "{st:#}");
        assert_eq!(owner["accepted"], true, "{st:#}");
        assert!(owner["command"].is_string(), "{st:#}");
        let text = sockc(&["status", "--name", &lab.name]).ok();
        assert!(
            text.stdout.contains("owner: uid 0 (root), gid 0 (root)")
                && text.stdout.contains(&format!(", PID {} (", service.pid))
                && text.stdout.contains(&format!("cgroup {}", cg.path)),
            "{text}"
        );
        drop(service);
        refused(&lab, "3.3.3.3:22", &format!("after the {round} ended"));
        // The slot emptied; repair must not hand it to the attacker now.
        let attacker = Peer::start(&lab, As::Nobody, "127.0.0.1:8080 attacker listen");
        let r = sockc(&["repair", "--name", &lab.name]).ok();
        assert!(said(&r).contains(&outside), "{r}");
        refused(&lab, "3.3.3.3:22", &format!("repair after the {round}"));
        drop(attacker);
    }
}

/// Sockets made outside the cgroup stay outside, whoever holds them later: one
/// inherited by a process in the cgroup (as `SCM_RIGHTS` would pass it) that listens
/// on it, and a process that moves into the cgroup after binding. The registrar never
/// fires for them, and `register --pid`, `repair` and socket activation refuse them.
#[test]
fn a_socket_made_outside_stays_outside_whoever_holds_it() {
    if !common::kernel() {
        return;
    }
    let (lab, cg, file) = proxy_in_cgroup("trustfd", 82);
    lab.apply_ok(&file);
    let outside = format!(
        "it was created in cgroup {}, outside {}",
        own_cgroup(),
        cg.path
    );

    // Made here (root, outside), listened on by a process inside the cgroup.
    let made_outside = bound_here(&lab, "127.0.0.1:8080");
    let handed = Peer::spawn(
        &lab,
        As::RootIn(&cg),
        "127.0.0.1:8080 handed fd3",
        Some(&made_outside),
    );
    drop(made_outside);
    refused(
        &lab,
        "3.3.3.3:22",
        "a handed-over socket listens in the cgroup",
    );
    let pid = handed.pid.to_string();
    let r = register(&lab, &["proxy", "--pid", &pid]).expect_code(1);
    assert!(r.stderr.contains(&outside), "{r}");
    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(said(&r).contains(&outside), "{r}");
    refused(&lab, "3.3.3.3:22", "after repair");
    drop(handed);

    // Bound outside, moved into the cgroup, then listening.
    let mut mover = Peer::start(&lab, As::Root, "127.0.0.1:8080 mover wait");
    std::fs::write(format!("{}/cgroup.procs", cg.path), mover.pid.to_string()).expect("move");
    mover.listen_now();
    refused(
        &lab,
        "3.3.3.3:22",
        "a process moved into the cgroup listens",
    );
    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(said(&r).contains(&outside), "{r}");
    refused(&lab, "3.3.3.3:22", "after repair");
    drop(mover);

    // Socket activation: a listener made outside, passed as LISTEN_FDS.
    let passed = bound_here(&lab, "127.0.0.1:8080");
    // SAFETY: listen on our own socket.
    assert_eq!(unsafe { libc::listen(passed.as_raw_fd(), 16) }, 0);
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$@\"",
        "sh",
        netns::sockc_bin(),
        "register",
        "proxy",
        "--name",
        &lab.name,
    ]);
    pass_as_fd3(&mut cmd, &passed);
    let r = netns::run(&mut cmd).expect_code(1);
    assert!(
        r.stderr.contains("no passed descriptor fits") && r.stderr.contains(&outside),
        "{r}"
    );
    refused(&lab, "3.3.3.3:22", "after socket activation");
}

/// A `SO_REUSEPORT` group on the declared address with a member made outside the
/// cgroup (the kernel lets any socket of the same user join) is refused whole by
/// `register` and `repair`: steering to the group would reach that member too.
#[test]
fn a_reuseport_group_with_an_outside_member_is_refused_whole() {
    if !common::kernel() {
        return;
    }
    let (lab, cg, file) = proxy_in_cgroup("trustrp", 86);
    lab.apply_ok(&file);
    let outsider = Peer::start(&lab, As::Root, "127.0.0.1:8080 outsider reuseport");
    let inside = Peer::start(&lab, As::RootIn(&cg), "127.0.0.1:8080 inside reuseport");
    // The registrar put the member made inside into the slot when it listened; taken
    // out, no command puts the group back.
    sockc(&["unregister", "proxy", "--name", &lab.name]).ok();
    let group =
        "the SO_REUSEPORT group on 127.0.0.1:8080 has a member the declaration does not trust";
    let r = register(&lab, &["proxy"]).expect_code(1);
    assert!(r.stderr.contains(group), "{r}");
    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(said(&r).contains(group), "{r}");
    refused(&lab, "3.3.3.3:22", "after repair");
    // Without the outsider, the group is the cgroup's alone: registered.
    drop(outsider);
    register(&lab, &["proxy"]).ok();
    assert_eq!(answer(&lab, "3.3.3.3:22").as_deref(), Ok("inside"));
    drop(inside);
}

/// A socket that got into the slot without the check (as an older sockc, or a
/// hand-made insertion, puts it there) is drift in `status`, with its owner, and
/// `repair` takes it out; then the address is refused again.
#[test]
fn an_untrusted_socket_in_a_slot_is_drift_and_repair_takes_it_out() {
    if !common::kernel() {
        return;
    }
    let (lab, _cg, file) = proxy_in_cgroup("trustdr", 83);
    lab.apply_ok(&file);
    let attacker = Peer::start(&lab, As::Nobody, "127.0.0.1:8080 attacker listen");
    let copy = sockc_runtime::discovery::owner::Process::open(attacker.pid)
        .and_then(|p| p.take(socket_fd(attacker.pid)))
        .expect("a copy of the attacker's listener");
    let keep = lab.pin_dir().join("keep_sockets");
    let map = sockc_runtime::slot_map::SlotMap::open(&keep).expect("the install's slot map");
    map.insert(0, std::os::fd::AsFd::as_fd(&copy))
        .expect("insert by hand");
    drop(copy);
    assert_eq!(
        answer(&lab, "3.3.3.3:22").as_deref(),
        Ok("attacker"),
        "the planted socket"
    );

    let (r, st) = status_json(&lab);
    assert_eq!(r.code, 3, "drift: {r}");
    let owner = &slot(&st, "proxy")["owner"];
    assert_eq!(owner["uid"], 65534, "{st:#}");
    assert_eq!(owner["pid"], attacker.pid, "{st:#}");
    assert_eq!(owner["accepted"], false, "{st:#}");
    assert_eq!(owner["cgroup"], own_cgroup().as_str(), "{st:#}");
    let drift = st["drift"].to_string();
    assert!(
        drift.contains("is not one the declaration trusts"),
        "{st:#}"
    );
    let text = sockc(&["status", "--name", &lab.name]).expect_code(3);
    assert!(text.stdout.contains("NOT TRUSTED"), "{text}");

    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(said(&r).contains("took the socket of uid 65534"), "{r}");
    refused(&lab, "3.3.3.3:22", "after repair");
    let (_, st) = status_json(&lab);
    assert_eq!(slot(&st, "proxy")["state"], "empty", "{st:#}");
}

/// Without `cgroup`, only root's socket is registered by default: another user's
/// listener is refused by apply, repair and register (saying which owners would do);
/// `owner user "nobody"` lets that user in, `owner gid` the sockets whose file has
/// that group; another user's `SO_REUSEADDR` UDP socket on
/// a port root's shares is left out without blocking root's.
#[test]
fn without_a_cgroup_only_the_declared_owner_is_registered() {
    if !common::kernel() {
        return;
    }
    let lab = lab("trustown", 84);
    let steering = "sk_lookup {\n    redirect 3.3.3.3:* to sock ssh\n    \
                    redirect udp 3.3.3.4:53 to sock dns\n    default pass\n}\n";
    let file = lab.rules(
        "root.sk",
        &format!("socket ssh = tcp 127.0.0.1:2222\nsocket dns = udp 127.0.0.1:5353\n{steering}"),
    );
    let attacker = Peer::start(&lab, As::Nobody, "127.0.0.1:2222 attacker listen");
    let udp_attacker = Peer::start(&lab, As::Nobody, "127.0.0.1:5353 attacker udp");
    let udp_root = Peer::start(&lab, As::Root, "127.0.0.1:5353 dns udp");
    let applied = lab.apply_ok(&file);
    let belongs = "it belongs to uid 65534";
    let accepts = "it accepts only sockets of uid 0 (root: the declaration names no `owner` \
                   and no `cgroup`)";
    assert!(
        said(&applied).contains(belongs) && said(&applied).contains(accepts),
        "{applied}"
    );
    refused(&lab, "3.3.3.3:22", "after apply");
    let r = register(&lab, &["ssh"]).expect_code(1);
    assert!(
        r.stderr.contains(belongs) && r.stderr.contains("owner user"),
        "{r}"
    );
    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(said(&r).contains(belongs), "{r}");
    refused(&lab, "3.3.3.3:22", "after repair");
    // UDP: root's socket is registered, the other user's beside it is not.
    let (_, st) = status_json(&lab);
    let dns = &slot(&st, "dns")["owner"];
    assert_eq!(dns["pid"], udp_root.pid, "{st:#}");
    assert_eq!(dns["uid"], 0, "{st:#}");

    // `owner user "nobody"`: that user's listener is registered, and shown as such.
    let web = Peer::start(&lab, As::Nobody, "127.0.0.1:8081 web listen");
    let file = lab.rules(
        "owner.sk",
        "socket ssh = tcp 127.0.0.1:2222\nsocket dns = udp 127.0.0.1:5353\n\
         socket web = tcp 127.0.0.1:8081 owner user \"nobody\"\n\
         socket metrics = tcp 127.0.0.1:9100 owner gid 65534\n\
         socket admin = tcp 127.0.0.1:9101 owner gid 65534\n\
         sk_lookup {\n    redirect 5.5.5.5:* to sock web\n    redirect 3.3.3.3:* to sock ssh\n    \
         redirect udp 3.3.3.4:53 to sock dns\n    redirect 5.5.5.6:* to sock metrics\n    \
         redirect 5.5.5.7:* to sock admin\n    default pass\n}\n",
    );
    // `owner gid`: the group of the socket's file — nobody's (gid 65534) passes,
    // root's (gid 0) does not.
    let metrics = Peer::start(&lab, As::Nobody, "127.0.0.1:9100 metrics listen");
    let admin = Peer::start(&lab, As::Root, "127.0.0.1:9101 admin listen");
    let applied = lab.apply_ok(&file);
    assert!(
        said(&applied).contains("its file belongs to gid 0"),
        "{applied}"
    );
    assert_eq!(
        answer(&lab, "5.5.5.6:80").as_deref(),
        Ok("metrics"),
        "owner gid"
    );
    refused(&lab, "5.5.5.7:80", "root's socket under `owner gid 65534`");
    assert_eq!(
        answer(&lab, "5.5.5.5:80").as_deref(),
        Ok("web"),
        "owner user \"nobody\""
    );
    refused(&lab, "3.3.3.3:22", "after the re-apply");
    let (_, st) = status_json(&lab);
    assert_eq!(slot(&st, "web")["owner"]["uid"], 65534, "{st:#}");
    assert_eq!(slot(&st, "web")["owner"]["accepted"], true, "{st:#}");
    drop((attacker, web, udp_attacker, udp_root, metrics, admin));
}

/// The cgroup id sock_diag reports for a socket (what the runtime reads) is the inode
/// number of the cgroup's directory (what it compares with): a listener made in a
/// fresh cgroup reports that directory's inode, one made in its child the child's.
#[test]
fn sock_diag_cgroup_ids_are_directory_inodes() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("trustid", 85);
    let cg = Cgroup::new("trustid");
    let child = cg.child("inner");
    for (dir, port) in [(&cg, 7001u16), (&child, 7002)] {
        let peer = Peer::start(
            &lab,
            As::RootIn(dir),
            &format!("127.0.0.1:{port} id listen"),
        );
        let listed = in_netns(&lab.ns_a, move || {
            sockc_runtime::discovery::diag::dump(sockc_runtime::discovery::SockProto::Tcp, port)
        })
        .expect("sock_diag");
        let ino = sockc_runtime::cgroup::id_of(std::path::Path::new(&dir.path)).unwrap();
        let ids: Vec<Option<u64>> = listed.iter().map(|s| s.cgroup_id).collect();
        assert_eq!(
            ids,
            [Some(ino)],
            "{}: sock_diag against the directory",
            dir.path
        );
        drop(peer);
    }
}
