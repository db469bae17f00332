//! Commit-confirmed applies (`apply --confirm`, `sockc confirm`; issue 46): a change
//! that cuts the session it was applied through is rolled back by the host itself —
//! by the watcher the apply leaves behind, also when the apply is killed right after
//! it, or by the next sockc command when no sockc process runs at the deadline, or by
//! the boot unit's unattended apply after a reboot emptied bpffs — and `sockc confirm`
//! keeps a change; probes roll back at once; a flush cancels; an apply inside the
//! window joins it; every fault point of the new steps killed leaves a state the next
//! command finishes.
//!
//! Each test has its own lab (two namespaces and a veth, `tests/netns`) and its own
//! state directory (`SOCKC_STATE_DIR`), so records never meet another test's or the
//! host's. A kill that leaves the install interrupted holds
//! `common::exclusive::interrupted_install` until the install has converged.

use crate::common;
use crate::netns;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::in_place::Busy;
use netns::{in_netns, run, sockc_bin, tcp_connect, Lab, Run, BPFFS};
use serde_json::Value;

/// The port the "SSH" session uses, and the one the rules never touch.
const SESSION: u16 = 2222;
const OTHER: u16 = 8081;

/// Rules that let the session through (and count it), and rules that cut it.
fn good(lab: &Lab) -> String {
    format!(
        "xdp on {} {{\n    count tcp to *:{SESSION}\n    default allow\n}}\n",
        lab.if_a
    )
}

fn bad(lab: &Lab) -> String {
    format!(
        "xdp on {} {{\n    drop tcp to *:{SESSION}\n    default allow\n}}\n",
        lab.if_a
    )
}

/// A lab with its own state directory and an echo server on A's session port.
struct World {
    lab: Lab,
    state: PathBuf,
    _server: TcpListener,
}

impl World {
    fn new(tag: &str, subnet: u8) -> World {
        let lab = Lab::new(tag, subnet);
        let state = lab.dir.join("state");
        let addr = SocketAddr::from((lab.addr_a, SESSION));
        let server = in_netns(&lab.ns_a, move || TcpListener::bind(addr).expect("listen"));
        let accepting = server.try_clone().expect("clone listener");
        let state_dir = state.clone();
        std::thread::spawn(move || {
            for conn in accepting.incoming().flatten() {
                let state_dir = state_dir.clone();
                std::thread::spawn(move || serve(conn, &state_dir));
            }
        });
        World {
            lab,
            state,
            _server: server,
        }
    }

    /// `sockc ARGS` with this test's state directory.
    fn sk(&self, args: &[&str]) -> Run {
        self.sk_env(args, &[])
    }

    fn sk_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(sockc_bin());
        cmd.args(args).env("SOCKC_STATE_DIR", &self.state);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// `sockc apply FILE --name N --netns A EXTRA...` with this state directory.
    fn apply(&self, file: &Path, extra: &[&str]) -> Run {
        self.sk(&self.lab.apply_args(file, &self.lab.name, extra))
    }

    fn status(&self) -> Value {
        let r = self.sk(&["status", "--name", &self.lab.name, "--json"]);
        let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
        doc["installs"][0].clone()
    }

    fn record(&self) -> Option<Value> {
        let path = self
            .state
            .join("pending")
            .join(format!("{}.json", self.lab.name));
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("record JSON"))
    }

    /// A new TCP connection from B to A's session port within `timeout`.
    fn reachable(&self, timeout: Duration) -> bool {
        let to = SocketAddr::from((self.lab.addr_a, SESSION));
        tcp_connect(&self.lab.ns_b, None, to, timeout).is_ok()
    }

    /// Waits until the session port is reachable again; how long it took.
    fn until_reachable(&self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.reachable(Duration::from_millis(400)) {
                return Some(start.elapsed());
            }
        }
        None
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Flushed with this state directory, so that a pending record is cancelled
        // too; the lab flushes again (nothing left) and removes the directory.
        let _ = self.sk(&["flush", "--name", &self.lab.name, "--bpffs", BPFFS]);
    }
}

/// The host's side of a session, a remote shell of sorts: a line `RUN ARGS` (ARGS
/// separated by tabs) runs `sockc ARGS` on the host and answers `EXIT CODE`; anything
/// else is echoed.
fn serve(mut conn: TcpStream, state_dir: &Path) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            return;
        }
        let answer = match std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|t| t.strip_prefix("RUN "))
        {
            Some(args) => {
                let args: Vec<&str> = args.trim_end().split('\t').collect();
                let out = Command::new(sockc_bin())
                    .args(&args)
                    .env("SOCKC_STATE_DIR", state_dir)
                    .output()
                    .expect("sockc");
                format!("EXIT {}\n", out.status.code().unwrap_or(-1)).into_bytes()
            }
            None => buf[..n].to_vec(),
        };
        if conn.write_all(&answer).is_err() {
            return;
        }
    }
}

/// One message through `session` and its echo within `timeout`.
fn exchange(session: &mut TcpStream, msg: &[u8], timeout: Duration) -> bool {
    session.set_read_timeout(Some(timeout)).expect("timeout");
    if session.write_all(msg).is_err() {
        return false;
    }
    let mut got = vec![0u8; msg.len()];
    session.read_exact(&mut got).is_ok() && got == msg
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"))
}

fn kill(pid: u64) {
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// The watcher an `apply --confirm --json` started.
fn watcher_pid(applied: &Run) -> u64 {
    json(applied)["confirmation"]["watcher_pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no watcher: {applied}"))
}

/// Waits until process `pid` has ended (gone, or a zombie nobody reaped yet), for at
/// most 30 s: a watcher sleeps to its deadline and then rolls back, slowly on a
/// loaded machine.
fn wait_exited(pid: u64) {
    let start = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command's closing parenthesis.
        let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
        if matches!(state, None | Some("Z")) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "watcher {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u64) -> bool {
    // SAFETY: signal 0 only checks for the process.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// The first case: a TCP session opened into the host, rules applied through
/// it that drop it, `--confirm 5s`: the session's port is reachable again within 10 s
/// with no other command, the session itself carries data again, and status says why.
#[test]
fn a_change_that_cuts_the_session_is_rolled_back_by_the_host() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfcut", 140);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &["--label", "v1"]).ok();
    let to = SocketAddr::from((w.lab.addr_a, SESSION));
    let mut session = tcp_connect(&w.lab.ns_b, None, to, Duration::from_secs(3)).expect("session");
    assert!(exchange(&mut session, b"before", Duration::from_secs(3)));

    // The change goes through the session: the host runs the apply. Its answer still
    // comes back (the rules drop what comes in), but nothing the session sends gets
    // in any more.
    let args = w
        .lab
        .apply_args(&v2, &w.lab.name, &["--confirm", "5s", "--label", "v2"]);
    session
        .write_all(format!("RUN {}\n", args.join("\t")).as_bytes())
        .expect("send the apply");
    let mut answer = [0u8; 7];
    session
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    session.read_exact(&mut answer).expect("the apply's answer");
    assert_eq!(&answer, b"EXIT 0\n");
    let cut_at = Instant::now();
    let s = w.status();
    assert_eq!(s["confirmation"]["state"], "pending", "{s}");
    assert_eq!(s["confirmation"]["rollback_to"]["label"], "v1", "{s}");
    assert!(
        !exchange(&mut session, b"during", Duration::from_secs(1)),
        "the new rules do not cut the session"
    );
    let back = w
        .until_reachable(Duration::from_secs(10))
        .expect("the session's port is not reachable again within 10 s");
    assert!(
        cut_at.elapsed() >= Duration::from_secs(3),
        "rolled back before the deadline ({back:?})"
    );
    // What was sent while cut arrives with TCP's retransmission, then its echo.
    let mut got = vec![0u8; 6];
    session
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    session
        .read_exact(&mut got)
        .expect("the session carries data again");
    assert_eq!(&got, b"during");
    assert!(exchange(&mut session, b"after", Duration::from_secs(3)));

    let s = w.status();
    assert_eq!(s["confirmation"], Value::Null, "{s}");
    let reason = s["last_rollback"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("deadline passed"), "{s}");
    assert_eq!(
        s["label"], "v1",
        "the rules before the change are back: {s}"
    );
    assert_eq!(s["generation"], 3, "{s}");
    let confirmed = w.sk(&["confirm", &w.lab.name, "--json"]);
    assert_eq!(confirmed.code, 3, "{confirmed}");
    assert_eq!(json(&confirmed)["state"], "rolled-back", "{confirmed}");
}

/// An apply that fails after the kernel runs its rules (the manifest cannot be
/// renamed over: a bind mount holds it) keeps its change pending, and the watcher
/// rolls it back at the deadline. (A failed apply removed its record: the cut stayed.)
#[test]
fn a_change_whose_apply_fails_after_the_swap_is_still_rolled_back() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cffail", 198);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &["--label", "v1"]).ok();
    let manifest = format!("{BPFFS}/sockc/{}/manifest", w.lab.name);
    run(Command::new("mount").args(["--bind", &manifest, &manifest])).ok();
    let failed = w.apply(&v2, &["--confirm", "3s", "--label", "v2"]);
    run(Command::new("umount").arg(&manifest)).ok();
    assert_eq!(failed.code, 3, "{failed}");
    assert!(
        failed.stderr.contains("stays pending confirmation"),
        "{failed}"
    );
    assert!(!w.reachable(Duration::from_secs(1)), "v2 runs: {failed}");
    let record = w.record().expect("the change's record");
    assert_eq!(record["state"], "pending", "{record}");
    w.until_reachable(Duration::from_secs(10))
        .expect("v2 still cuts the session 10 s after its 3 s deadline");
}

/// `sockc confirm` from a new connection keeps the change: the deadline passes and
/// nothing is rolled back; a second confirm finds nothing pending.
#[test]
fn a_confirmed_change_stays() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfok", 141);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    let applied = w.apply(&v2, &["--confirm", "3s"]).ok();
    assert!(applied.stdout.contains("pending confirmation"), "{applied}");
    let s = w.status();
    assert_eq!(s["confirmation"]["state"], "pending", "{s}");
    let confirmed = w.sk(&["confirm", &w.lab.name, "--json"]).ok();
    let doc = json(&confirmed);
    assert_eq!(doc["state"], "confirmed", "{confirmed}");
    assert_eq!(doc["generation"], 2, "{confirmed}");
    assert!(w.record().is_none(), "a confirmed change keeps no record");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "the confirmed change was undone"
    );
    let s = w.status();
    assert_eq!(s["generation"], 2, "{s}");
    assert_eq!(s["confirmation"], Value::Null);
    assert_eq!(s["last_rollback"], Value::Null);
    let again = w.sk(&["confirm", &w.lab.name, "--json"]).ok();
    assert_eq!(json(&again)["state"], "none", "{again}");
}

/// One store whatever the spelling of `--bpffs`: a change applied with a relative
/// one (`bpf` from `/sys/fs`) is still rolled back by its watcher (which runs in `/`,
/// where that name is another: it found no record and never rolled back), and a
/// change confirmed through `..` stays (that `confirm` said nothing was pending, and
/// the watcher rolled the change back at its deadline).
#[test]
fn every_spelling_of_the_store_is_the_same_store() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfspell", 171);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    let spelled = |bpffs: &str, dir: &str, extra: &[&str]| {
        let mut args = w.lab.apply_args(&v2, &w.lab.name, extra);
        let at = args.iter().position(|a| *a == BPFFS).unwrap();
        args[at] = bpffs;
        let mut cmd = Command::new(sockc_bin());
        cmd.args(&args)
            .env("SOCKC_STATE_DIR", &w.state)
            .current_dir(dir);
        run(&mut cmd).ok()
    };
    spelled("bpf", "/sys/fs", &["--confirm", "3s"]);
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "v2 cuts the session"
    );
    w.until_reachable(Duration::from_secs(10))
        .expect("a change applied with a relative --bpffs is not rolled back");
    let s = w.status();
    assert_eq!(s["generation"], 3, "{s}");

    w.apply(&v2, &["--confirm", "3s"]).ok();
    let confirmed = w
        .sk(&[
            "confirm",
            &w.lab.name,
            "--bpffs",
            "/sys/fs/../fs/bpf",
            "--json",
        ])
        .ok();
    assert_eq!(json(&confirmed)["state"], "confirmed", "{confirmed}");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "a change confirmed through another spelling of the store was undone"
    );
    let s = w.status();
    assert_eq!(
        (&s["generation"], &s["last_rollback"]),
        (&4.into(), &Value::Null),
        "{s}"
    );
}

/// The install's namespace loses its name (`ip netns del`) while a process keeps it
/// alive, as a container runtime does: the unconfirmed change still runs there, so the
/// rollback puts the rules before it back there (it said "rolled back" and left the
/// change filtering, since the namespace was taken to be gone with its hooks).
#[test]
fn a_namespace_whose_name_is_gone_but_held_is_rolled_back_there() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfheld", 172);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    let holder = Holder(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", w.lab.ns_a))
            .args(["sleep", "600"])
            .spawn()
            .expect("a process in A's namespace"),
    );
    w.apply(&v2, &["--confirm", "3s"]).ok();
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "v2 cuts the session"
    );
    run(Command::new("ip").args(["netns", "del", &w.lab.ns_a])).ok();
    w.until_reachable(Duration::from_secs(10))
        .expect("the rules before the change are not back in the held namespace");
    let pid = holder.0.id().to_string();
    run(Command::new("ip").args(["netns", "attach", &w.lab.ns_a, &pid])).ok();
    let s = w.status();
    assert_eq!(s["generation"], 3, "{s}");
    let reason = s["last_rollback"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("which PID"), "{s}");
}

/// Kills (and reaps) the process it holds when it drops.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An unattended apply (the boot unit's, the udev rule's on a new interface, which
/// applies the file in `/etc/sockc`: the rules before the change) while a change
/// awaits its confirmation leaves the change alone: it joined it and put the old rules
/// back, which `sockc confirm` then kept, reporting the change confirmed.
#[test]
fn an_unattended_apply_leaves_a_pending_change_alone() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfunatt", 173);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    w.apply(&v2, &["--confirm", "30s"]).ok();
    let again = w.apply(&v1, &["--unattended"]).ok();
    assert!(again.stdout.contains("is pending confirmation"), "{again}");
    // The change's own rules are applied (the file in /etc holds them already).
    let same = w.apply(&v2, &["--unattended"]).ok();
    assert!(!same.stdout.contains("not applied"), "{same}");
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "the change was undone"
    );
    let confirmed = json(&w.sk(&["confirm", &w.lab.name, "--json"]).ok());
    assert_eq!(
        (&confirmed["state"], &confirmed["generation"]),
        (&"confirmed".into(), &2.into()),
        "{confirmed}"
    );
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "the change was undone"
    );
}

/// The apply killed (SIGKILL) right after it committed: its watcher, in a session of
/// its own, still rolls the change back at the deadline.
#[test]
fn an_apply_killed_right_after_the_change_is_still_rolled_back() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfkill", 142);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    let args = w.lab.apply_args(&v2, &w.lab.name, &["--confirm", "4s"]);
    // Counted on the second of two traced runs: the first also makes the state
    // directory, which has fault points of its own.
    let mut last = 0;
    for _ in 0..2 {
        let traced = w.sk_env(&args, &[("SOCKC_FAULT_TRACE", "1")]).ok();
        last = traced
            .stderr
            .lines()
            .filter(|l| l.starts_with("fault point "))
            .count();
        w.sk(&["confirm", &w.lab.name]).ok();
        w.apply(&v1, &[]).ok();
    }
    // The install is left as the kill left it until the watcher has rolled it back:
    // no command without `--name` may finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let killed = w.sk_env(&args, &[("SOCKC_FAULT_KILL_AT", &last.to_string())]);
    assert!(
        killed.stderr.contains("fault injection: killed"),
        "{killed}"
    );
    let record = w.record().expect("a record");
    assert_eq!(record["state"], "pending", "{record}");
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "the change is not in"
    );
    let back = w.until_reachable(Duration::from_secs(10));
    assert!(back.is_some(), "not rolled back after the apply was killed");
    assert_eq!(w.record().expect("a record")["state"], "rolled-back");
}

/// No sockc process at the deadline (the watcher killed): nothing changes until the
/// next sockc command, which rolls the change back first and says so.
#[test]
fn with_no_sockc_running_the_next_command_rolls_back() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfnext", 143);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    let doc = json(&w.apply(&v2, &["--confirm", "2s", "--json"]).ok());
    let watcher = doc["confirmation"]["watcher_pid"]
        .as_u64()
        .expect("watcher pid");
    assert!(alive(watcher));
    assert_eq!(w.status()["confirmation"]["watcher_alive"], true);
    kill(watcher);
    wait_exited(watcher);
    // Before the deadline, status says no watcher runs and what happens instead.
    assert_eq!(w.status()["confirmation"]["watcher_alive"], false);
    let said = w.sk(&["status", "--name", &w.lab.name]);
    assert!(
        said.stdout.contains("no watcher runs for it here"),
        "{said}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "rolled back with no sockc running"
    );
    let status = w.sk(&["status", "--name", &w.lab.name]);
    assert!(
        status
            .stderr
            .contains("the unconfirmed change was rolled back"),
        "{status}"
    );
    assert!(
        w.reachable(Duration::from_secs(2)),
        "status did not roll back"
    );
}

/// What recovery removes on the way is said, as every command says it: a stray
/// generation directory (what an apply killed before its journal leaves) found by
/// `sockc confirm` inside the window (text and `recovered` of its JSON), and one found
/// by the confirm that comes after the deadline, with no watcher left, and rolls the
/// change back (said again by `status`: its `last_rollback`'s `recovered`).
#[test]
fn leftovers_removed_by_confirm_or_its_rollback_are_said() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfgc", 163);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    let said = "removed leftovers of an interrupted command: g99";
    let stray = || std::fs::create_dir(w.lab.pin_dir().join("g99")).expect("a stray g99");
    // The strays are an interrupted command's leftovers, left on purpose for this
    // test's own confirm and rollback to find: no other test's command without
    // `--name` may remove them first.
    let _interrupted = common::exclusive::interrupted_install();

    w.apply(&v2, &["--confirm", "30s"]).ok();
    stray();
    let confirmed = w.sk(&["confirm", &w.lab.name, "--json"]).ok();
    assert!(confirmed.stderr.contains(said), "{confirmed}");
    assert_eq!(json(&confirmed)["recovered"][0], said, "{confirmed}");

    w.apply(&v1, &[]).ok();
    let applied = w.apply(&v2, &["--confirm", "2s", "--json"]).ok();
    kill(watcher_pid(&applied));
    stray();
    std::thread::sleep(Duration::from_secs(3));
    let late = w.sk(&["confirm", &w.lab.name, "--json"]).expect_code(3);
    let doc = json(&late);
    assert_eq!(doc["state"], "rolled-back", "{late}");
    assert!(late.stderr.contains(said), "said on stderr: {late}");
    assert_eq!(doc["recovered"][0], said, "{late}");
    assert!(w.lab.pins().iter().all(|p| !p.starts_with("g99")));
    let s = w.status();
    assert_eq!(s["last_rollback"]["recovered"][0], said, "{s}");
}

/// The watcher's rollback at the deadline says what its recovery removed where it
/// can be read later: in the record, which `status` (text and `last_rollback`) and a
/// late `sockc confirm` (text and JSON) say.
#[test]
fn leftovers_removed_by_the_watchers_rollback_are_recorded() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfgcw", 164);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    let applied = w.apply(&v2, &["--confirm", "2s", "--json"]).ok();
    // The stray is left on purpose for the watcher's rollback to find: no other
    // test's command without `--name` may remove it first (it did, beside `stats`'s).
    let _interrupted = common::exclusive::interrupted_install();
    std::fs::create_dir(w.lab.pin_dir().join("g99")).expect("a stray g99");
    wait_exited(watcher_pid(&applied));
    let said = "removed leftovers of an interrupted command: g99";
    let record = w.record().expect("a record");
    assert_eq!(record["rolled_back"]["recovered"][0], said, "{record}");
    let status = w.sk(&["status", "--name", &w.lab.name]).ok();
    assert!(status.stdout.contains(said), "{status}");
    let late = w.sk(&["confirm", &w.lab.name, "--json"]).expect_code(3);
    assert_eq!(json(&late)["recovered"][0], said, "{late}");
    let text = w.sk(&["confirm", &w.lab.name]).expect_code(3);
    assert!(
        text.stderr.contains(&format!("before it: {said}")),
        "{text}"
    );
}

/// A first install under `--confirm` beside a leftover its rollback cannot remove (a
/// tmpfs on a stray `g99`, which its flush cannot remove): at the deadline every hook
/// comes off all the same — the session's port is reachable again, no program on the
/// interface — and what stayed is said with the fix in the record, the watcher's log,
/// `status` (nothing installed) and a late `sockc confirm` (text and JSON); a new
/// install under the name then stops beside it, naming it.
#[test]
fn a_rollback_to_nothing_takes_the_rules_off_beside_a_stuck_leftover() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfstuck", 165);
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    let log = w.lab.dir.join("watcher.log");
    let args = w
        .lab
        .apply_args(&v2, &w.lab.name, &["--confirm", "2s", "--json"]);
    let log_env = [("SOCKC_WATCHER_LOG", log.to_str().expect("UTF-8 path"))];
    let applied = w.sk_env(&args, &log_env).ok();
    let busy = Busy::mount(w.lab.pin_dir().join("g99"));
    assert!(
        !w.reachable(Duration::from_millis(500)),
        "the change is not in"
    );
    wait_exited(watcher_pid(&applied));
    assert!(
        w.reachable(Duration::from_secs(2)),
        "the unconfirmed rules stayed on beside the leftover"
    );
    assert_eq!(w.lab.xdp_prog_id(), None, "a program on {}", w.lab.if_a);

    let record = w.record().expect("a record");
    assert_eq!(record["state"], "rolled-back", "{record}");
    assert_eq!(record["rolled_back"]["generation"], Value::Null, "{record}");
    let stayed = record["rolled_back"]["stayed"].as_str().unwrap_or_default();
    let fix = format!("`umount {}`", busy.path());
    assert!(
        stayed.contains(busy.path()) && stayed.contains(&fix),
        "{record}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("the unconfirmed change was rolled back")
            && logged.contains("every hook is off, but")
            && logged.contains(&fix),
        "the watcher's log: {logged}"
    );
    let status = w.sk(&["status", "--name", &w.lab.name]).expect_code(1);
    assert!(
        status.stderr.contains("nothing is installed, but") && status.stderr.contains(&fix),
        "{status}"
    );
    let late = w.sk(&["confirm", &w.lab.name, "--json"]).expect_code(3);
    assert_eq!(json(&late)["stayed"].as_str(), Some(stayed), "{late}");
    let text = w.sk(&["confirm", &w.lab.name]).expect_code(3);
    assert!(text.stderr.contains("every hook is off, but"), "{text}");
    crate::in_place::names_the_leftover(&w.apply(&v2, &[]).expect_code(3), busy.path());
    assert!(
        w.reachable(Duration::from_secs(2)),
        "a refused apply put rules on"
    );
    busy.untouched();
}

/// A first install under `--confirm` rolls back to nothing installed.
#[test]
fn a_first_install_rolls_back_to_nothing() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cffirst", 144);
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    let doc = json(&w.apply(&v2, &["--confirm", "2s", "--json"]).ok());
    assert_eq!(doc["confirmation"]["rollback_to"], Value::Null, "{doc}");
    assert!(!w.reachable(Duration::from_millis(500)));
    assert!(w.until_reachable(Duration::from_secs(8)).is_some());
    let status = w.sk(&["status", "--name", &w.lab.name]);
    assert_eq!(status.code, 1, "nothing is installed: {status}");
    assert!(w.lab.pins().is_empty(), "pins left: {:?}", w.lab.pins());
    assert_eq!(
        w.record().expect("record")["rolled_back"]["generation"],
        Value::Null
    );
}

/// A probe that the change breaks rolls it back at once, long before the deadline; a
/// probe that fails before the change refuses the apply.
#[test]
fn a_failing_probe_rolls_back_at_once() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfprobe", 145);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    // Replies from B's service come in through A's XDP hook: this drops them.
    let cut = w.lab.rules(
        "cut.sk",
        &format!(
            "xdp on {} {{\n    drop tcp from *:{OTHER}\n    default allow\n}}\n",
            w.lab.if_a
        ),
    );
    w.apply(&v1, &[]).ok();
    let probe = format!("tcp:{}:{OTHER}", w.lab.addr_b);
    let refused = w.apply(&cut, &["--confirm", "60s", "--probe", &probe]);
    assert_eq!(
        refused.code, 2,
        "no service yet, the probe fails first: {refused}"
    );
    assert!(
        refused.stderr.contains("a probe fails before the change"),
        "{refused}"
    );
    let service = in_netns(&w.lab.ns_b, {
        let addr = SocketAddr::from((w.lab.addr_b, OTHER));
        move || TcpListener::bind(addr).expect("listen in B")
    });
    std::thread::spawn(move || for _ in service.incoming() {});
    let start = Instant::now();
    w.apply(&cut, &["--confirm", "60s", "--probe", &probe]).ok();
    let rolled = loop {
        if let Some(r) = w.record().filter(|r| r["state"] == "rolled-back") {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no rollback after the probe failed"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let reason = rolled["rolled_back"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("probe failed: "), "{rolled}");
    assert!(reason.contains(&probe), "{rolled}");
    assert_eq!(w.status()["generation"], 3);
}

/// A flush in the window cancels the change for good: nothing is put back at the
/// deadline.
#[test]
fn a_flush_cancels_a_pending_change() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfflush", 146);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &[]).ok();
    w.apply(&v2, &["--confirm", "2s"]).ok();
    let flushed = w.sk(&["flush", "--name", &w.lab.name]).ok();
    assert!(flushed.stderr.contains("cancelled"), "{flushed}");
    assert!(w.record().is_none());
    std::thread::sleep(Duration::from_secs(3));
    let status = w.sk(&["status", "--name", &w.lab.name]);
    assert_eq!(status.code, 1, "the flushed install came back: {status}");
}

/// A pending-confirmation record that cannot be trusted (here a `pending` directory of
/// another user's in the state directory: one that could make it beside a state
/// directory in a sticky one) stops no flush: none of root's records can be in it, and
/// what cannot be read cannot be rolled back either, so the flush says so and takes
/// the hooks off. Before, it wrote its journal, then failed on the record (exit 3),
/// the hooks still on, and every later flush, repair and apply failed the same way.
#[test]
fn a_pending_record_no_one_can_trust_stops_no_flush() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfplant", 147);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    w.apply(&v1, &[]).ok();
    let pending = w.state.join("pending");
    std::fs::create_dir_all(&pending).expect("pending dir");
    let record = pending.join(format!("{}.json", w.lab.name));
    std::fs::write(&record, "x").expect("planted record");
    for p in [&pending, &record] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).expect("chown");
    }
    // A plain apply refuses the record it cannot trust, and says what it read for
    // (before, "could not be armed for confirmation" though none was asked).
    let applied = w.apply(&v1, &[]);
    assert_eq!(applied.code, 3, "{applied}");
    assert!(
        applied.stderr.contains("record could not be checked"),
        "{applied}"
    );
    let flushed = w.sk(&["flush", "--name", &w.lab.name]);
    assert_eq!(flushed.code, 0, "{flushed}");
    assert!(flushed.stderr.contains("could not be read"), "{flushed}");
    let status = w.sk(&["status", "--name", &w.lab.name]);
    assert_eq!(status.code, 1, "the install is still there: {status}");
    let _ = std::fs::remove_dir_all(&pending);
}

/// An apply inside the window joins it: both changes roll back to the rules before
/// the first; `--label` is what status shows.
#[test]
fn an_apply_in_the_window_joins_it() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfjoin", 147);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    let v3 = w.lab.rules(
        "v3.sk",
        &format!(
            "xdp on {} {{\n    drop tcp to *:{SESSION}\n    count udp\n    default allow\n}}\n",
            w.lab.if_a
        ),
    );
    w.apply(&v1, &["--label", "v1"]).ok();
    w.apply(&v2, &["--confirm", "3s", "--label", "v2"]).ok();
    let joined = w.apply(&v3, &["--label", "v3"]).ok();
    assert!(
        joined.stderr.contains("joins the change pending"),
        "{joined}"
    );
    assert_eq!(w.status()["label"], "v3");
    assert!(w.until_reachable(Duration::from_secs(8)).is_some());
    let s = w.status();
    assert_eq!(s["label"], "v1", "{s}");
}

/// A reboot before the deadline: bpffs is emptied (here: a bpffs of the test's own,
/// unmounted and mounted again, which takes every hook off as a reboot does) while the
/// record stays on disk; the boot unit's unattended apply of the file that holds the
/// unconfirmed rules installs the rules before them instead, and `confirm` says why.
#[test]
fn after_a_reboot_the_boot_apply_installs_the_rules_before_the_change() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfboot", 148);
    let bpffs = w.lab.dir.join("bpffs");
    std::fs::create_dir_all(&bpffs).unwrap();
    let bpffs_s = bpffs.to_str().unwrap().to_string();
    let mount = || run(Command::new("mount").args(["-t", "bpf", "bpf", &bpffs_s])).ok();
    mount();
    let _unmount = Unmount(bpffs.clone());
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    let apply = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "apply",
            file.to_str().unwrap(),
            "--name",
            &w.lab.name,
            "--netns",
            &w.lab.ns_a,
            "--bpffs",
            &bpffs_s,
        ];
        args.extend_from_slice(extra);
        w.sk(&args)
    };
    apply(&v1, &[]).ok();
    let doc = json(&apply(&v2, &["--confirm", "30s", "--json"]).ok());
    kill(
        doc["confirmation"]["watcher_pid"]
            .as_u64()
            .expect("watcher"),
    );
    assert!(!w.reachable(Duration::from_millis(500)));
    // "Reboot": the hooks and pins go with the bpffs.
    run(Command::new("umount").arg(&bpffs)).ok();
    // The kernel releases a link whose last pin went on a work queue, a moment later.
    let gone = Instant::now();
    while w.lab.xdp_attached_id().is_some() {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "the hook outlived its bpffs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(w.reachable(Duration::from_secs(2)));
    mount();
    // The boot unit applies the file, which holds the unconfirmed rules.
    let boot = apply(&v2, &["--unattended"]).ok();
    assert!(boot.stdout.contains("not applied"), "{boot}");
    assert!(boot.stdout.contains("rolled back unconfirmed"), "{boot}");
    assert!(
        w.reachable(Duration::from_secs(2)),
        "the unconfirmed rules came back at boot"
    );
    let confirmed = w.sk(&["confirm", &w.lab.name, "--bpffs", &bpffs_s, "--json"]);
    assert_eq!(confirmed.code, 3, "{confirmed}");
    let doc = json(&confirmed);
    assert!(
        doc["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("before the change was confirmed"),
        "{confirmed}"
    );
    // By hand, the same file is applied: the operator means it.
    apply(&v2, &[]).ok();
    assert!(!w.reachable(Duration::from_millis(500)));
    w.sk(&["flush", "--name", &w.lab.name, "--bpffs", &bpffs_s])
        .ok();
}

/// Unmounts the test's own bpffs when dropped.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

// ---- kill points -------------------------------------------------------------------

/// The fault points of one traced run (`fault point N: WHAT` lines), in order.
fn points(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("fault point "))
        .map(|l| l.split_once(": ").map_or(l, |(_, what)| what).to_string())
        .collect()
}

/// The points a sweep kills: in CI every step of the confirmation itself (its record
/// written or removed, its directories made, its watcher started) and the first,
/// middle and last of the rest, which are an apply's or a flush's own steps (every one
/// of those is killed by `tests/reliability/kill_points.rs`);
/// `SOCKC_CONFIRM_SWEEP=full`: all.
fn chosen(all: &[String]) -> Vec<usize> {
    let full = std::env::var("SOCKC_CONFIRM_SWEEP").as_deref() == Ok("full");
    let n = all.len();
    (1..=n)
        .filter(|&k| {
            let what = &all[k - 1];
            full || what.contains("pending confirmation")
                || what.contains("watcher")
                || what.starts_with("mkdir")
                || k == 1
                || k == n / 2
                || k == n
        })
        .collect()
}

impl World {
    /// After a kill: `status` explains what is there now (exit 0, or 3 with its
    /// reason), and once the deadline has passed and a command ran, the install runs
    /// `want` (by label) with no change pending, and traffic follows it.
    #[track_caller]
    fn converges(&self, when: &str, want: &str) {
        let now = self.sk(&["status", "--name", &self.lab.name, "--json"]);
        assert!(now.code == 0 || now.code == 3, "{when}: {now}");
        serde_json::from_str::<Value>(&now.stdout).unwrap_or_else(|e| panic!("{when}: {e}: {now}"));
        let start = Instant::now();
        loop {
            let s = self.status();
            let settled = s["confirmation"].is_null() && s["label"] == want;
            if settled {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{when}: {s}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let open = self.reachable(Duration::from_millis(600));
        assert_eq!(open, want == "v1", "{when}: traffic does not follow {want}");
    }
}

/// `apply --confirm` killed at each of its confirmation steps (with a state directory
/// made new, then with one there), the watcher killed at each of its steps of a
/// rollback, the next command killed at each of its steps of one, and `confirm`
/// killed: each time the next command converges to the rules before the change.
#[test]
fn every_confirmation_step_killed_converges() {
    if !common::kernel() {
        return;
    }
    let w = World::new("cfsweep", 149);
    let v1 = w.lab.rules("v1.sk", &good(&w.lab));
    let v2 = w.lab.rules("v2.sk", &bad(&w.lab));
    w.apply(&v1, &["--label", "v1"]).ok();
    let args = w
        .lab
        .apply_args(&v2, &w.lab.name, &["--confirm", "1s", "--label", "v2"]);
    let mut swept = 0;
    for fresh_state in [true, false] {
        let trace = |w: &World| {
            if fresh_state {
                let _ = std::fs::remove_dir_all(&w.state);
            }
            let traced = w.sk_env(&args, &[("SOCKC_FAULT_TRACE", "1")]).ok();
            w.converges("traced apply --confirm", "v1");
            points(&traced.stderr)
        };
        let _warm = trace(&w);
        let all = trace(&w);
        for k in chosen(&all) {
            if fresh_state {
                let _ = std::fs::remove_dir_all(&w.state);
            }
            let when = format!("apply --confirm killed at {k} ({})", all[k - 1]);
            // Interrupted on purpose until it converges: no command without `--name`
            // may finish it meanwhile.
            let _interrupted = common::exclusive::interrupted_install();
            let killed = w.sk_env(&args, &[("SOCKC_FAULT_KILL_AT", &k.to_string())]);
            assert!(
                killed.stderr.contains("fault injection: killed"),
                "{when}: {killed}"
            );
            w.converges(&when, "v1");
            swept += 1;
        }
    }
    swept += sweep_watcher(&w, &args);
    swept += sweep_next_command(&w, &args);
    swept += sweep_confirm(&w, &v2);
    println!("confirmation kill points swept: {swept}");
    assert!(swept >= 10, "only {swept} kill points");
}

/// The watcher killed at each step of its rollback; the next command finishes it.
fn sweep_watcher(w: &World, args: &[&str]) -> usize {
    let log = w.lab.dir.join("watcher.log");
    let log_s = log.to_str().unwrap();
    let _ = std::fs::remove_file(&log);
    let with_json = [args, &["--json"]].concat();
    let traced = w.sk_env(
        &with_json,
        &[
            ("SOCKC_WATCHER_FAULT_TRACE", "1"),
            ("SOCKC_WATCHER_LOG", log_s),
        ],
    );
    // The watcher, not `status` (which also rolls back a change past its deadline),
    // must do this rollback: wait for it to end before asking.
    wait_exited(watcher_pid(&traced.ok()));
    w.converges("traced watcher", "v1");
    let all = points(&std::fs::read_to_string(&log).unwrap_or_default());
    assert!(!all.is_empty(), "the watcher traced no fault point");
    let ks = chosen(&all);
    for &k in &ks {
        let when = format!("the watcher killed at {k} ({})", all[k - 1]);
        let at = k.to_string();
        let _interrupted = common::exclusive::interrupted_install();
        let armed = w.sk_env(&with_json, &[("SOCKC_WATCHER_FAULT_KILL_AT", &at)]);
        wait_exited(watcher_pid(&armed.ok()));
        w.converges(&when, "v1");
    }
    ks.len()
}

/// With no watcher (killed before the deadline), `status` rolls back: killed at each
/// of its steps of that, the command after it finishes.
fn sweep_next_command(w: &World, args: &[&str]) -> usize {
    let expire = || {
        let doc = json(&w.sk(&[args, &["--json"]].concat()).ok());
        kill(
            doc["confirmation"]["watcher_pid"]
                .as_u64()
                .expect("watcher"),
        );
        std::thread::sleep(Duration::from_millis(1200));
    };
    let status = ["status", "--name", &w.lab.name];
    expire();
    let traced = w.sk_env(&status, &[("SOCKC_FAULT_TRACE", "1")]);
    let all = points(&traced.stderr);
    w.converges("traced status", "v1");
    let ks = chosen(&all);
    for &k in &ks {
        let _interrupted = common::exclusive::interrupted_install();
        expire();
        let when = format!("status rolling back killed at {k} ({})", all[k - 1]);
        let killed = w.sk_env(&status, &[("SOCKC_FAULT_KILL_AT", &k.to_string())]);
        assert!(
            killed.stderr.contains("fault injection: killed"),
            "{when}: {killed}"
        );
        w.converges(&when, "v1");
    }
    ks.len()
}

/// `confirm` killed at its step (the record removed): the change is either confirmed
/// or rolled back at its deadline, never left pending.
fn sweep_confirm(w: &World, v2: &Path) -> usize {
    let args = w
        .lab
        .apply_args(v2, &w.lab.name, &["--confirm", "2s", "--label", "v2"]);
    w.sk(&args).ok();
    let traced = w
        .sk_env(&["confirm", &w.lab.name], &[("SOCKC_FAULT_TRACE", "1")])
        .ok();
    let all = points(&traced.stderr);
    assert!(
        all.iter().any(|p| p.contains("pending confirmation")),
        "{traced}"
    );
    w.apply(&w.lab.rules("v1.sk", &good(&w.lab)), &["--label", "v1"])
        .ok();
    for k in 1..=all.len() {
        w.sk(&args).ok();
        let when = format!("confirm killed at {k} ({})", all[k - 1]);
        let killed = w.sk_env(
            &["confirm", &w.lab.name],
            &[("SOCKC_FAULT_KILL_AT", &k.to_string())],
        );
        assert!(
            killed.stderr.contains("fault injection: killed"),
            "{when}: {killed}"
        );
        std::thread::sleep(Duration::from_millis(2500));
        w.converges(&when, "v1");
    }
    all.len()
}
