//! The install layer as an attacker and an operator meet it after a crash or behind
//! sockc's back, each case as it was measured against an earlier build:
//!
//! * a flush killed at any unlink or rmdir (strace's fault injection, so the kill
//!   lands on the system call itself) never comes back — `status` and `repair`, as the
//!   systemd timer runs them, finish it — and leaves nothing; a first apply killed at
//!   any rename, unlink or mkdir leaves nothing `status` and `flush` cannot see;
//! * a re-apply that moves a declared socket to another listener refuses no connection
//!   of a client loop running through it;
//! * `repair` keeps an install's clsact filters on the clsact qdisc;
//! * a set map changed with bpftool is rewritten by `repair` and by an apply of the
//!   same file; `status --deep` is clean on an untouched install of every corpus file;
//! * `status` exits 3 while a declared socket has nothing registered;
//! * an install whose manifest was removed by hand is not taken for debris (which
//!   the next `status` removed, leaving its clsact filter dropping), and one whose
//!   manifest is torn has `flush` as its way out;
//! * namespaces: one that took a gone namespace's inode is another (no false conflict,
//!   no repair there); `register` into a namespace re-created under the install's
//!   name is refused; for an install whose namespace lost its name, `flush` counts
//!   the hooks it took off and `stats` shows the counters that still move.
//!
//! Each test makes its own namespaces (`tests/netns`) and removes them. Root only;
//! skipped otherwise (see `tests/common`). `SOCKC_TEST_BIN` runs them against another
//! build.

use crate::common;
use crate::netns;

mod deep_status;
mod namespaces;

use std::{
    fs::File,
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use netns::{
    in_netns, ip, outcome, point_of, run, sockc, sockc_bin, sockc_fault, Lab, Outcome, Run, BPFFS,
};
use serde_json::Value;

// ---- helpers ------------------------------------------------------------------------

/// `sockc ARGS` under strace, killed (SIGKILL) at the `n`-th call of `syscall`.
fn strace_kill(args: &[&str], syscall: &str, n: usize) -> Run {
    run(Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={syscall}"))
        .arg("-e")
        .arg(format!("inject={syscall}:signal=KILL:when={n}"))
        .arg(sockc_bin())
        .args(args))
}

/// strace passes the tracee's death by SIGKILL on as its own.
fn was_killed(r: &Run) -> bool {
    r.code == -1 || r.code == 137
}

/// A [`Lab`] whose namespace A treats 3.3.3.0/24 as its own (a local route on lo:
/// nothing is bound there, only sk_lookup can give it a socket) and whose B routes it
/// to A.
fn sk_lab(tag: &str, subnet: u8) -> Lab {
    let lab = Lab::new(tag, subnet);
    ip(&[
        "-n",
        &lab.ns_a,
        "route",
        "add",
        "local",
        "3.3.3.0/24",
        "dev",
        "lo",
    ]);
    ip(&[
        "-n",
        &lab.ns_b,
        "route",
        "add",
        "3.3.3.0/24",
        "via",
        &lab.addr_a.to_string(),
    ]);
    lab
}

/// A TCP listener in a namespace whose connections are accepted and closed by a
/// thread of its own, until dropped.
struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    accepted: Arc<AtomicU64>,
}

impl Listener {
    fn start(ns: &str, addr: &str) -> Listener {
        let addr: SocketAddr = addr.parse().unwrap();
        let sock = in_netns(ns, move || {
            netns::bind_retrying(&format!("listen on {addr}"), || TcpListener::bind(addr))
        });
        Listener::serve(sock)
    }

    fn serve(sock: TcpListener) -> Listener {
        // std listens with a backlog of 128, which a client loop fills in a moment
        // whenever the thread below is not scheduled: its next SYN would wait for a
        // retransmission. Listening again raises the backlog.
        // SAFETY: listen(2) on a socket we own.
        assert_eq!(unsafe { libc::listen(sock.as_raw_fd(), 4096) }, 0);
        sock.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match sock.accept() {
                        Ok(_) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => std::thread::sleep(Duration::from_micros(50)),
                    }
                }
            })
        };
        Listener {
            stop,
            thread: Some(thread),
            accepted,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How a TCP connect from namespace `ns` to `to` ends.
fn connect_from(ns: &str, to: &str) -> Outcome {
    outcome(&netns::tcp_connect(
        ns,
        None,
        to.parse().unwrap(),
        netns::NO_ANSWER,
    ))
}

/// The netns links (sk_lookup) attached to the namespace with inode `ino`.
fn netns_links(ino: u64) -> Vec<u64> {
    let out = run(Command::new("bpftool").args(["link", "show", "-j"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["type"] == "netns" && l["netns_ino"].as_u64() == Some(ino))
        .filter_map(|l| l["prog_id"].as_u64())
        .collect()
}

fn ns_ino(ns: &str) -> u64 {
    std::fs::metadata(format!("/run/netns/{ns}"))
        .map(|m| m.ino())
        .unwrap_or(0)
}

fn status_json(r: &Run) -> Option<Value> {
    serde_json::from_str::<Value>(&r.stdout)
        .ok()
        .and_then(|v| v["installs"].as_array().and_then(|a| a.first().cloned()))
}

fn drift(st: &Value) -> Vec<String> {
    st["drift"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect()
}

const STEER: &str = "socket proxy = tcp 127.0.0.1:8080\n\
                     sk_lookup {\n    redirect 3.3.3.3:* to sock proxy\n    default pass\n}\n";

/// A namespace of its own with a dummy interface, removed on drop.
struct Ns {
    name: String,
}

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("sockc-{tag}-{}", std::process::id());
        let _ = run(Command::new("ip").args(["netns", "del", &name]));
        ip(&["netns", "add", &name]);
        Ns { name }
    }

    /// An interface `dev` (one end of a veth pair inside the namespace), up.
    fn dummy(&self, dev: &str) {
        let peer = format!("{dev}p");
        ip(&[
            "-n", &self.name, "link", "add", dev, "type", "veth", "peer", "name", &peer,
        ]);
        ip(&["-n", &self.name, "link", "set", &peer, "up"]);
        ip(&["-n", &self.name, "link", "set", dev, "up"]);
        ip(&["-n", &self.name, "link", "set", "lo", "up"]);
    }

    fn xdp(&self, dev: &str) -> Option<u64> {
        let out = ip(&["-n", &self.name, "-j", "link", "show", "dev", dev]).stdout;
        let v: Value = serde_json::from_str(&out).ok()?;
        v[0]["xdp"]["prog"]["id"].as_u64()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["netns", "del", &self.name]));
    }
}

// ---- a flush never comes back ---------------------------------------------------------

/// The BPF links in the kernel (any namespace) that run one of `progs`.
fn links_running(progs: &[u64]) -> Vec<String> {
    let out = run(Command::new("bpftool").args(["link", "show", "-j"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|p| progs.contains(&p)))
        .map(|l| l.to_string())
        .collect()
}

/// The programs the install's hooks run, as `status` names them.
fn hook_programs(lab: &Lab) -> Vec<u64> {
    lab.status_attached()["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["prog_id"].as_u64())
        .collect()
}

#[test]
fn a_killed_flush_never_comes_back_and_leaves_nothing() {
    if !common::kernel() {
        return;
    }
    let lab = sk_lab("flushk", 200);
    let _service = Listener::start(&lab.ns_a, "127.0.0.1:8080");
    let a = lab.if_a.clone();
    let kinds = [
        ("sk_lookup", STEER.to_string()),
        (
            "xdp",
            format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
        ),
        (
            "tc",
            format!("tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"),
        ),
    ];
    let flush = ["flush", "--name", &lab.name, "--bpffs", BPFFS];
    let mut kills = 0;
    for (kind, text) in &kinds {
        let file = lab.rules(&format!("{kind}.sk"), text);
        for syscall in ["unlink", "unlinkat", "rmdir"] {
            for n in 1.. {
                let _interrupted = common::exclusive::interrupted_install();
                lab.apply_ok(&file);
                let progs = hook_programs(&lab);
                let before = lab.pins();
                let r = strace_kill(&flush, syscall, n);
                if !was_killed(&r) {
                    assert_eq!(r.code, 0, "{r}");
                    break;
                }
                kills += 1;
                let when = format!("{kind}: flush killed at {syscall} #{n}");
                let began = lab.pins() != before;
                let left = lab.pin_dir().exists();
                // What the repair timer does next.
                let st = sockc(&["status", "--name", &lab.name]);
                sockc(&["repair", "--name", &lab.name]);
                if began {
                    assert!(
                        !lab.pin_dir().exists(),
                        "{when}: left {:#?}\n{st}",
                        lab.pins()
                    );
                    assert!(lab.status().is_none(), "{when}: the install came back");
                    let links = links_running(&progs);
                    assert!(links.is_empty(), "{when}: attached again: {links:?}");
                    if left {
                        assert!(
                            st.stderr.contains("interrupted"),
                            "{when}: status says what it finished or removed:\n{st}"
                        );
                    }
                } else {
                    lab.status_attached();
                    sockc(&flush).ok();
                }
                assert!(!lab.pin_dir().exists(), "{when}: {:#?}", lab.pins());
                assert_eq!(links_running(&progs), Vec::<String>::new(), "{when}");
            }
        }
    }
    println!("{kills} flushes killed");
    assert!(kills >= 20, "{kills}");
}

#[test]
fn a_first_apply_killed_anywhere_leaves_nothing_unseen() {
    if !common::kernel() {
        return;
    }
    let lab = sk_lab("firstk", 201);
    let _service = Listener::start(&lab.ns_a, "127.0.0.1:8080");
    let a = lab.if_a.clone();
    let kinds = [
        ("sk_lookup", STEER.to_string()),
        (
            "xdp",
            format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
        ),
    ];
    let mut kills = 0;
    for (kind, text) in &kinds {
        let file = lab.rules(&format!("{kind}.sk"), text);
        let args = lab.apply_args(&file, &lab.name, &[]);
        for syscall in ["rename", "unlink", "mkdir"] {
            for n in 1.. {
                let _interrupted = common::exclusive::interrupted_install();
                let r = strace_kill(&args, syscall, n);
                let flush = sockc(&["flush", "--name", &lab.name]);
                if !was_killed(&r) {
                    assert_eq!(r.code, 0, "{r}");
                    flush.ok();
                    break;
                }
                kills += 1;
                let when = format!("{kind}: first apply killed at {syscall} #{n}");
                // `flush` finished, rolled back or removed whatever was there, or
                // found nothing at all, and says which.
                assert!(
                    flush.code == 0 || flush.stderr.contains("nothing is installed"),
                    "{when}:\n{flush}"
                );
                assert!(!lab.pin_dir().exists(), "{when}: {:#?}", lab.pins());
                assert_eq!(lab.xdp_attached_id(), None, "{when}");
                assert!(netns_links(ns_ino(&lab.ns_a)).is_empty(), "{when}");
            }
        }
        // Killed, then `status` (not flush) first: it cleans up, says so, and what it
        // leaves is either the install or nothing.
        for n in 1..=2 {
            let _interrupted = common::exclusive::interrupted_install();
            let r = strace_kill(&args, "rename", n);
            assert!(was_killed(&r), "{r}");
            let left = lab.pin_dir().exists();
            let st = sockc(&["status", "--name", &lab.name]);
            if st.code == 1 {
                assert!(
                    !lab.pin_dir().exists(),
                    "{kind} rename #{n}: {:#?}",
                    lab.pins()
                );
                if left {
                    assert!(
                        st.stderr.contains("interrupted"),
                        "{kind} rename #{n}: status names what it removed:\n{st}"
                    );
                }
            }
            sockc(&["flush", "--name", &lab.name]);
            assert!(!lab.pin_dir().exists());
        }
    }
    println!("{kills} first applies killed");
    assert!(kills >= 10, "{kills}");
}

// ---- a socket moves without a refused connection ---------------------------------------

/// Closes `s` with a reset (`SO_LINGER` 0), which leaves no TIME_WAIT behind. A loop
/// that closed its connections normally held a port per connection for a second at
/// least (TIME_WAIT is reused after 1 s, on loopback only): after ~15,000 in its
/// first second or so each `connect` searched the range for a free port and the loop
/// all but stopped, so the re-applies after that second met almost no connection,
/// and the loop's rate fell under its bound when ten re-applies took over ~14 s.
fn close_with_reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a pointer to a live linger and its size, on a socket we
    // own.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

#[test]
fn moving_a_declared_socket_refuses_no_connection() {
    if !common::kernel() {
        return;
    }
    let lab = sk_lab("skmove", 202);
    let first = Listener::start(&lab.ns_a, "127.0.0.1:8080");
    let second = Listener::start(&lab.ns_a, "127.0.0.1:8081");
    let at = |port: u16| {
        format!(
            "socket proxy = tcp 127.0.0.1:{port}\n\
             sk_lookup {{\n    redirect tcp to 3.3.3.3:* to sock proxy\n    default pass\n}}\n"
        )
    };
    let f8080 = lab.rules("p8080.sk", &at(8080));
    let f8081 = lab.rules("p8081.sk", &at(8081));
    lab.apply_ok(&f8080);
    assert_eq!(connect_from(&lab.ns_b, "3.3.3.3:7000"), Outcome::Answered);

    // A client loop from B through the redirect, for as long as the re-applies run.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        // In A, through its local route: as many connections a second as a loop makes.
        netns::spawn_in_netns(&lab.ns_a, move || {
            let to: SocketAddr = "3.3.3.3:7000".parse().unwrap();
            let (mut ok, mut refused, mut other) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
                    Ok(s) => {
                        close_with_reset(s);
                        ok += 1
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
                    Err(_) => other += 1,
                }
            }
            (ok, refused, other)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let mut said = String::new();
    for i in 0..10 {
        let file = if i % 2 == 0 { &f8081 } else { &f8080 };
        let r = lab.apply_ok(file);
        assert!(r.stdout.contains("applied"), "{r}");
        said.push_str(&r.stderr);
        // Some connections in every state, each re-apply's window included.
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = start.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (ok, refused, other) = client.join().unwrap();
    let rate = ok as f64 / (took.as_secs_f64() + 0.4);
    println!(
        "10 re-applies in {took:?}: {ok} connections answered ({rate:.0}/s), {refused} refused, {other} failed otherwise ({} + {} accepted)",
        first.accepted.load(Ordering::Relaxed),
        second.accepted.load(Ordering::Relaxed)
    );
    assert!(rate > 1000.0, "the client loop ran: {ok} ({rate:.0}/s)");
    assert_eq!(refused, 0, "connections refused while the socket moved");
    assert_eq!(other, 0, "connections that failed otherwise");
    assert!(second.accepted.load(Ordering::Relaxed) > 0, "{said}");
    let st = lab.status().expect("installed");
    assert!(drift(&st).is_empty(), "{st:#}");
}

// ---- repair honours the attach mode ---------------------------------------------------

#[test]
fn repair_keeps_clsact_filters_on_clsact() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("rpcls", 203);
    let a = lab.if_a.clone();
    let file = lab.rules(
        "t.sk",
        &format!(
            "tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n\
             tc egress on {a} {{\n  default allow\n}}\n"
        ),
    );
    lab.apply(&file, &["--tc-attach", "clsact"]).ok();
    let modes = |st: &Value| -> Vec<String> {
        st["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["attach_mode"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    assert_eq!(modes(&lab.status_attached()), ["clsact", "clsact"]);
    for (what, breaks) in [
        (
            "the qdisc deleted",
            vec!["qdisc", "del", "dev", &a, "clsact"],
        ),
        (
            "the ingress filter deleted",
            vec!["filter", "del", "dev", &a, "ingress"],
        ),
    ] {
        lab.tc(&breaks);
        lab.expect_verdicts(what, &[(9002, true)]);
        sockc(&["repair", "--name", &lab.name]).ok();
        let st = lab.status_attached();
        assert_eq!(modes(&st), ["clsact", "clsact"], "{what}: {st:#}");
        assert!(lab.tc(&["qdisc", "show", "dev", &a]).contains("clsact"));
        assert!(
            lab.tc(&["filter", "show", "dev", &a, "ingress"])
                .contains("bpf"),
            "{what}"
        );
        lab.expect_verdicts(&format!("{what}, repaired"), &[(9002, false)]);
    }
    sockc(&["flush", "--name", &lab.name]).ok();
    assert!(
        !lab.tc(&["qdisc", "show", "dev", &a]).contains("clsact"),
        "the qdisc sockc made goes with the flush"
    );
}

/// An install whose manifest was removed behind sockc's back (no journal either) still
/// holds its generation and its links: not the debris a killed sockc leaves (a first
/// apply killed before its journal has pinned neither; a flush removes them before its
/// records). Every command says so and names what is held; `flush`, which the message
/// names, removes the pins (which takes the links off) and deletes the clsact filter
/// running its programs, which no pin holds and no record names, found by program id.
/// Before, the next command of any kind removed it as debris: `status` said nothing
/// was installed while the install's clsact filter kept dropping. A manifest or journal replaced by a
/// record that is not one (torn JSON) is the same: before, every command, `flush`
/// included, failed naming the record and no way out.
#[test]
fn an_install_whose_manifest_was_removed_is_not_taken_for_debris() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("nomanif", 206);
    let a = lab.if_a.clone();
    let file = lab.rules(
        "t.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"
        ),
    );
    for (damage, says) in [
        ("manifest removed", "neither a manifest nor a journal"),
        ("manifest torn", "the install's manifest is damaged"),
        ("journal torn", "the install's journal is damaged"),
    ] {
        let record = lab.pin_dir().join(if damage == "journal torn" {
            "journal"
        } else {
            "manifest"
        });
        lab.apply(&file, &["--tc-attach", "clsact"]).ok();
        let filter = lab.tc(&["filter", "show", "dev", &a, "ingress"]);
        let id = filter
            .split_whitespace()
            .skip_while(|w| *w != "id")
            .nth(1)
            .unwrap_or_else(|| panic!("a clsact filter: {filter}"))
            .to_string();
        let _ = std::fs::remove_file(&record);
        if damage.ends_with("torn") {
            put_torn_record(&record);
        }
        for args in [
            vec!["status", "--name", &lab.name],
            vec!["status"],
            vec!["repair", "--name", &lab.name],
            lab.apply_args(&file, &lab.name, &[]),
        ] {
            // Nameless `status` would finish other tests' interrupted installs.
            let every = common::exclusive::nameless_command();
            let r = sockc(&args);
            drop(every);
            assert_eq!(r.code, 3, "{damage}, {args:?}: {r}");
            let said = format!("{}{}", r.stdout, r.stderr);
            assert!(
                said.contains(says)
                    && said.contains("g1/")
                    && said.contains("link_xdp_")
                    && said.contains("sockc flush --name"),
                "{damage}, {args:?}: {r}"
            );
            assert!(lab.pin_dir().join("g1").is_dir(), "{args:?} kept the pins");
            lab.expect_verdicts(
                &format!("{damage}, after {args:?}"),
                &[(9001, false), (9002, false)],
            );
        }
        let fl = sockc(&["flush", "--name", &lab.name]).ok();
        assert!(!lab.pin_dir().exists(), "{damage}: {:?}", lab.pins());
        assert_eq!(
            lab.xdp_attached_id(),
            None,
            "the XDP link went with its pin"
        );
        if damage == "journal torn" {
            // The manifest says where the committed generation's filter is: it is
            // taken off as in any flush; only what the lost work attached is not known.
            assert!(
                fl.stderr.contains("replaced a journal sockc cannot read")
                    && fl.stdout.contains("flushed generation 1"),
                "{fl}"
            );
            lab.expect_verdicts(damage, &[(9001, true), (9002, true)]);
            assert!(!lab
                .tc(&["filter", "show", "dev", &a, "ingress"])
                .contains("bpf"));
            continue;
        }
        let deleted = format!(
            "deleted the clsact filters running its programs: ingress of {a} in network \
             namespace {} (program id {id})",
            lab.ns_a
        );
        assert!(
            fl.stderr
                .contains("removed pins that no readable manifest named")
                && fl.stderr.contains(&deleted),
            "{damage}: {fl}"
        );
        // The count is the hooks that ran the install until the flush: the XDP link
        // and the clsact filter (before, "flushed" with no count, and 0 in --json).
        assert!(
            fl.stdout
                .contains(&format!("{}: flushed (2 hooks detached)", lab.name)),
            "{damage}: {fl}"
        );
        // Flushed means no hook runs the install's programs, wherever its filter was.
        lab.expect_verdicts(damage, &[(9001, true), (9002, true)]);
        assert!(!lab
            .tc(&["filter", "show", "dev", &a, "ingress"])
            .contains("bpf"));
    }
}

/// Pins at `record` a record of the store's shape whose JSON stops short.
fn put_torn_record(record: &Path) {
    let mut value = 5u64.to_le_bytes().to_vec();
    value.extend(b"{\"for");
    value.resize(16 * 1024, 0);
    run(Command::new("bpftool")
        .args(["map", "create"])
        .arg(record)
        .args([
            "type", "array", "key", "4", "value", "16384", "entries", "1",
        ])
        .args(["name", "sockc_record"]))
    .ok();
    run(Command::new("bpftool")
        .args(["map", "update", "pinned"])
        .arg(record)
        .args(["key", "hex", "00", "00", "00", "00", "value", "hex"])
        .args(value.iter().map(|b| format!("{b:02x}"))))
    .ok();
}

/// An apply killed just after it attached a new clsact filter, whose journal was then
/// torn: that filter is named by no record, only by the program it runs. `flush` finds
/// it by that program's id and deletes it, with the committed generation's hooks.
/// Before, the flush said "flushed" and the filter went on dropping.
#[test]
fn a_flush_deletes_the_clsact_filter_that_lost_work_attached() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("lostflt", 208);
    let a = lab.if_a.clone();
    let ingress = format!("tc ingress on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n");
    let first = lab.rules("1.sk", &ingress);
    let second = lab.rules(
        "2.sk",
        &format!("{ingress}tc egress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"),
    );
    lab.apply(&first, &["--tc-attach", "clsact"]).ok();
    let args = lab.apply_args(&second, &lab.name, &["--tc-attach", "clsact"]);
    let traced = sockc_fault(&args, "SOCKC_FAULT_TRACE", "1").ok();
    sockc(&["flush", "--name", &lab.name]).ok();
    lab.apply(&first, &["--tc-attach", "clsact"]).ok();
    let attached = point_of(&traced, "attach tc egress", 1);
    assert_eq!(
        sockc_fault(&args, "SOCKC_FAULT_KILL_AT", &attached).code,
        -1
    );
    let egress = || lab.tc(&["filter", "show", "dev", &a, "egress"]);
    let id = egress()
        .split_whitespace()
        .skip_while(|w| *w != "id")
        .nth(1)
        .unwrap_or_else(|| panic!("the killed apply's filter: {}", egress()))
        .to_string();
    let journal = lab.pin_dir().join("journal");
    std::fs::remove_file(&journal).unwrap();
    put_torn_record(&journal);
    let fl = sockc(&["flush", "--name", &lab.name]).ok();
    let deleted = format!(
        "deleted the clsact filters running its programs: egress of {a} in network \
         namespace {} (program id {id})",
        lab.ns_a
    );
    assert!(
        fl.stderr.contains("replaced a journal sockc cannot read") && fl.stderr.contains(&deleted),
        "{fl}"
    );
    assert!(!egress().contains("bpf"), "{}", egress());
    assert!(!lab
        .tc(&["filter", "show", "dev", &a, "ingress"])
        .contains("bpf"));
    lab.expect_verdicts("flushed", &[(9001, true)]);
}

// ---- set maps changed behind sockc's back ---------------------------------------------

/// The pin of set `set`'s IPv4 map in the install's live generation.
fn set_pin(lab: &Lab, set: &str) -> PathBuf {
    let m = lab.pin_dir();
    let gen = std::fs::read_dir(&m)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|f| f.starts_with('g'))
        .expect("a generation directory");
    m.join(gen).join(format!("map_set_{set}_v4"))
}

/// `bpftool map dump pinned PATH -j`: (key bytes, value bytes) as hex strings.
fn dump(pin: &Path) -> Vec<(Vec<String>, Vec<String>)> {
    let r = run(Command::new("bpftool")
        .args(["map", "dump", "pinned"])
        .arg(pin)
        .arg("-j"))
    .ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let bytes = |x: &Value| -> Vec<String> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap().trim_start_matches("0x").to_string())
            .collect()
    };
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| (bytes(&e["key"]), bytes(&e["value"])))
        .collect()
}

#[test]
fn set_maps_changed_behind_sockcs_back_are_rewritten() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("setdr", 204);
    let (a, b) = (lab.if_a.clone(), lab.addr_b);
    let file = lab.rules(
        "s.sk",
        &format!(
            "set blocked = {{ {b}, 192.0.2.1 }}\n\
             xdp on {a} {{\n  drop udp from @blocked to *:9107\n  default allow\n}}\n"
        ),
    );
    lab.apply_ok(&file);
    lab.expect_verdicts("applied", &[(9107, false), (9102, true)]);
    let pin = set_pin(&lab, "blocked");
    let entries = dump(&pin);
    let b_octets: Vec<String> = b.octets().iter().map(|o| format!("{o:02x}")).collect();
    let (key, value) = entries
        .iter()
        .find(|(k, _)| k.ends_with(&b_octets))
        .unwrap_or_else(|| panic!("{b} in {entries:?}"))
        .clone();
    let bpftool = |args: &[&str]| {
        run(Command::new("bpftool").args(["map"]).args(args)).ok();
    };
    let mut del = vec!["delete", "pinned", pin.to_str().unwrap(), "key", "hex"];
    del.extend(key.iter().map(String::as_str));
    bpftool(&del);
    lab.expect_verdicts("entry deleted by hand", &[(9107, true)]);
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stdout.contains("1 entries missing"), "{r}");

    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("rewritten from the manifest"), "{r}");
    lab.expect_verdicts("repaired", &[(9107, false), (9102, true)]);
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 0, "{r}");

    // An entry added by hand, and one deleted: the same file applied again sees both.
    let mut extra = key.clone();
    let n = extra.len();
    extra[n - 1] = "63".into(); // another host of B's subnet
    let mut add = vec!["update", "pinned", pin.to_str().unwrap(), "key", "hex"];
    add.extend(extra.iter().map(String::as_str));
    add.extend(["value", "hex"]);
    add.extend(value.iter().map(String::as_str));
    bpftool(&add);
    bpftool(&del);
    let r = lab.apply_ok(&file);
    assert!(!r.stdout.contains(": no changes (generation"), "{r}");
    assert!(r.stdout.contains("rewritten from the manifest"), "{r}");
    let (r, _) = lab.status_run(&["--deep"]);
    assert_eq!(r.code, 0, "{r}");
    lab.expect_verdicts("re-applied", &[(9107, false), (9102, true)]);
    assert_eq!(dump(&pin).len(), entries.len());
    let r = lab.apply_ok(&file);
    assert!(r.stdout.contains(": no changes (generation"), "{r}");
}

// ---- a declared socket with nothing registered ----------------------------------------

#[test]
fn status_exits_3_while_a_declared_socket_has_nothing_registered() {
    if !common::kernel() {
        return;
    }
    let lab = sk_lab("skempty", 206);
    let file = lab.rules("s.sk", STEER);
    lab.apply_ok(&file);
    assert_eq!(connect_from(&lab.ns_b, "3.3.3.3:80"), Outcome::Refused);
    let (r, st) = lab.status_run(&[]);
    assert_eq!(r.code, 3, "{r}");
    let d = drift(&st.expect("listed"));
    assert!(
        d.len() == 1
            && d[0].starts_with("socket proxy (tcp 127.0.0.1:8080): nothing registered")
            && d[0].contains("sockc register proxy"),
        "{d:#?}"
    );
    let text = sockc(&["status", "--name", &lab.name]);
    assert_eq!(text.code, 3);
    assert!(text.stdout.contains("drift: socket proxy"), "{text}");
    let _service = Listener::start(&lab.ns_a, "127.0.0.1:8080");
    sockc(&["register", "proxy", "--name", &lab.name]).ok();
    let (r, _) = lab.status_run(&[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(connect_from(&lab.ns_b, "3.3.3.3:80"), Outcome::Answered);
}

/// `repair` of every install (what the repair timer runs, no `--name`) after a flush
/// killed midway: it finishes the flush and says so for that install (it said nothing
/// before: the leftover went without a line). On a bpffs of its own, so that no other
/// test's install is repaired.
#[test]
fn repair_of_every_install_says_it_finished_a_killed_flush() {
    if !common::kernel() {
        return;
    }
    let fs = crate::attack_files::TempBpffs::new("flushall");
    let lab = Lab::new("rflush", 170);
    let file = lab.rules(
        "x.sk",
        &format!(
            "xdp on {} {{\n  drop udp to *:9001\n  default allow\n}}\n",
            lab.if_a
        ),
    );
    let apply = [
        "apply",
        file.to_str().unwrap(),
        "--name",
        &lab.name,
        "--bpffs",
        fs.path(),
        "--netns",
        &lab.ns_a,
    ];
    let dir = Path::new(fs.path()).join("sockc").join(&lab.name);
    let mut killed = 0;
    for n in 1.. {
        sockc(&apply).ok();
        let r = strace_kill(
            &["flush", "--name", &lab.name, "--bpffs", fs.path()],
            "unlink",
            n,
        );
        if !was_killed(&r) {
            assert_eq!(r.code, 0, "{r}");
            break;
        }
        if !dir.exists() {
            continue;
        }
        killed += 1;
        let r = sockc(&["repair", "--bpffs", fs.path()]).ok();
        assert!(
            r.stdout
                .contains(&format!("{}: finished an interrupted flush", lab.name)),
            "flush killed at unlink #{n}: repair says what it finished\n{r}"
        );
        assert!(!dir.exists(), "flush killed at unlink #{n}: left {dir:?}");
    }
    assert!(killed >= 2, "{killed} flushes left their directory");
}
