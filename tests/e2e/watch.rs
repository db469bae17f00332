//! `sockc watch DIR`, the node agent (docs/deploy.md, "Kubernetes"), against what the
//! kubelet does to a ConfigMap volume: each version of the files is written into a
//! new timestamped directory `..2026_11_25_...`, a `..data_tmp` link to it is renamed
//! over `..data`, the old directory is removed, and every key is a link `NAME ->
//! ..data/NAME`. Ten versions reach a running agent (root, namespaces of the test's
//! own, `--netns`): one does not compile (refused, the previous rules kept, reported
//! in the status file), one cuts the agent's `--probe` off (rolled back within the
//! `--confirm` window, reported); after each, datagrams from outside show which rules
//! run, and the agent ends on SIGTERM with exit 0 and the last good rules installed.

use crate::common;
use crate::netns;

use std::{
    net::{SocketAddr, SocketAddrV4},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::schema::Schemas;
use netns::{sockc, Lab};
use serde_json::Value;

/// A ConfigMap volume as the kubelet lays it out.
struct Volume {
    dir: PathBuf,
    version: u32,
}

impl Volume {
    fn new(dir: PathBuf) -> Volume {
        std::fs::create_dir_all(&dir).unwrap();
        Volume { dir, version: 0 }
    }

    /// Publishes a new version of the keys, as the kubelet's atomic writer does.
    fn publish(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let name = format!(
            "..2026_11_25_08_00_{:02}.{}",
            self.version,
            std::process::id()
        );
        let ts = self.dir.join(&name);
        std::fs::create_dir(&ts).unwrap();
        for (key, text) in files {
            std::fs::write(ts.join(key), text).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&name, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (key, _) in files {
            let link = self.dir.join(key);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{key}"), &link).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

/// The agent, killed by its PID when the test ends (also on a panic).
struct Agent(Option<Child>);

impl Agent {
    /// Sends SIGTERM; the exit code and what the agent logged.
    fn terminate(&mut self) -> (i32, String) {
        use std::io::Read;
        let mut child = self.0.take().expect("running");
        // SAFETY: kill has no memory preconditions; the PID is our child's.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let mut log = String::new();
        let _ = child.stderr.take().expect("piped").read_to_string(&mut log);
        let status = child.wait().expect("wait");
        (status.code().unwrap_or(-1), log)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The status file once the agent has handled `sha256` for `name` (its entry names
/// that content and the file has been written after the round ended).
#[track_caller]
fn status_after(path: &Path, name: &str, text: &str) -> Value {
    let want = sha256(text);
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            let v: Value = serde_json::from_str(&s).expect("status file is JSON");
            let entry = v["installs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name);
            if entry.is_some_and(|e| e["sha256"] == want.as_str()) {
                return v;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the agent did not report the new file within 30 s: {}",
            std::fs::read_to_string(path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn entry<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["installs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status:#}"))
}

/// Ten ConfigMap updates through a running agent: applied, refused, rolled back.
#[test]
fn ten_configmap_updates() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("h46w", 46);
    let name = lab.other_install("w");
    let key = format!("{name}.sk");
    let mut vol = Volume::new(lab.dir.join("vol"));
    // The probe: a TCP listener in B, which the agent reaches from A over the veth.
    let probe = SocketAddr::V4(SocketAddrV4::new(lab.addr_b, 7446));
    let listener = netns::tcp_listen(&lab.ns_b, probe);
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });
    let rules = |port: u16, extra: &str| {
        format!(
            "# version of port {port}\nxdp on {} {{\n{extra}    drop udp to *:{port}\n    default allow\n}}\n",
            lab.if_a
        )
    };
    let status = lab.dir.join("status.json");
    let ready = lab.dir.join("ready");
    let termination = lab.dir.join("termination-log");
    let first = rules(9101, "");
    vol.publish(&[(&key, &first)]);
    let child = Command::new(netns::sockc_bin())
        .arg("watch")
        .arg(&vol.dir)
        .args(["--netns", &lab.ns_a, "--confirm", "2s", "--interval", "1"])
        .args(["--probe", &format!("tcp:{probe}")])
        .arg("--status-file")
        .arg(&status)
        .arg("--ready-file")
        .arg(&ready)
        .arg("--termination-log")
        .arg(&termination)
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockc watch");
    let mut agent = Agent(Some(child));
    let schemas = Schemas::load();
    let v = status_after(&status, &name, &first);
    schemas.validate("watch", &v);
    assert_eq!(entry(&v, &name)["result"], "applied", "{v:#}");
    assert!(ready.exists(), "ready after the first good round");
    lab.expect_verdicts("version 1", &[(9101, false), (9102, true)]);
    let mut good = (9101, first.clone(), entry(&v, &name)["generation"].clone());
    for version in 2..=10u16 {
        let port = 9100 + version;
        let text = match version {
            4 => format!(
                "xdp on {} {{\n    dorp udp to *:{port}\n    default allow\n}}\n",
                lab.if_a
            ),
            7 => rules(port, &format!("    drop tcp from {}\n", lab.addr_b)),
            _ => rules(port, ""),
        };
        let published = Instant::now();
        vol.publish(&[(&key, &text)]);
        let v = status_after(&status, &name, &text);
        // A figure, not a bound: the debounce, the compile and apply, and the confirm
        // window (2 s) when the version was applied.
        println!(
            "version {version}: reported {:.0} ms after the swap",
            published.elapsed().as_secs_f64() * 1e3
        );
        schemas.validate("watch", &v);
        let e = entry(&v, &name);
        match version {
            4 => {
                assert_eq!(e["result"], "refused", "{v:#}");
                assert_eq!(e["generation"], good.2, "previous generation kept: {v:#}");
                assert!(!e["diagnostics"].as_array().unwrap().is_empty(), "{v:#}");
                assert!(ready.exists(), "still ready: the previous rules run");
            }
            7 => {
                assert_eq!(e["result"], "rolled_back", "{v:#}");
                assert!(
                    e["reason"].as_str().unwrap().contains("probe failed"),
                    "{v:#}"
                );
                assert!(ready.exists(), "still ready: the previous rules run again");
            }
            _ => {
                assert_eq!(e["result"], "applied", "{v:#}");
                good = (port, text.clone(), e["generation"].clone());
            }
        }
        let mut verdicts = vec![(good.0, false), (9100, true)];
        if port != good.0 {
            verdicts.push((port, true));
        }
        lab.expect_verdicts(&format!("after version {version}"), &verdicts);
    }
    assert_eq!(good.0, 9110);
    let (code, log) = agent.terminate();
    println!("the agent's log:\n{log}");
    assert_eq!(code, 0, "SIGTERM ends the agent with 0: {log}");
    // One line per event: the refusal and the rollback among them.
    assert!(log.contains("refused: "), "{log}");
    assert!(
        log.contains("rolled back to the rules of generation"),
        "{log}"
    );
    assert!(log.contains("SIGTERM: stopped"), "{log}");
    // What runs is version 10's rules, read back from the kernel's install.
    let shown = sockc(&["show", "--name", &name, "--json"]).ok();
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["same"], true, "{shown:#}");
    assert!(
        shown["text"]
            .as_str()
            .unwrap()
            .contains("version of port 9110"),
        "{shown:#}"
    );
    let st = lab_status(&name);
    assert_eq!(
        st["source_file"],
        vol.dir.join(&key).display().to_string(),
        "recorded under the key's name, not the timestamped directory"
    );
    assert!(std::fs::read_to_string(&termination)
        .unwrap()
        .contains(&name));
    lab.expect_verdicts("after the agent ended", &[(9110, false), (9109, true)]);
}

/// `status --json`'s entry of install `name`.
fn lab_status(name: &str) -> Value {
    let r = sockc(&["status", "--name", name, "--json"]).ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["installs"][0].clone()
}

/// `sockc watch DIR --once` on a plain directory ([`Lab::dir`]`/plain`) with the
/// install names the test flushes.
fn once(dir: &Path, lab: &Lab, extra: &[&str]) -> (netns::Run, Value) {
    let status = lab.dir.join("once-status.json");
    let ready = lab.dir.join("once-ready");
    let (dir, status_s, ready_s) = (
        dir.to_str().unwrap(),
        status.to_str().unwrap(),
        ready.to_str().unwrap(),
    );
    let mut args = vec!["watch", dir, "--once", "--netns", &lab.ns_a];
    args.extend(["--status-file", status_s, "--ready-file", ready_s]);
    args.extend_from_slice(extra);
    let r = sockc(&args);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&status).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {r}"));
    Schemas::load().validate("watch", &v);
    (r, v)
}

/// Rules that drop UDP to `port` on A's interface.
fn drop_udp_to(lab: &Lab, port: u16) -> String {
    format!(
        "xdp on {} {{\n    drop udp to *:{port}\n    default allow\n}}\n",
        lab.if_a
    )
}

/// A plain directory whose `INSTALL.sk` drops UDP to `port`, applied by one round.
fn applied_once(lab: &Lab, install: &str, port: u16) -> PathBuf {
    let dir = lab.dir.join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{install}.sk")), drop_udp_to(lab, port)).unwrap();
    let (r, _) = once(&dir, lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    dir
}

/// An agent without `--confirm` leaves an install alone while an operator's change to
/// it is pending confirmation, and applies its file once the change is confirmed.
/// (It joined the change: at the deadline the agent's rules were rolled back with it,
/// and its status file still said "applied".)
#[test]
fn an_agent_without_confirm_holds_an_install_with_a_pending_change() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("h46p", 200);
    let a = lab.other_install("a");
    let dir = applied_once(&lab, &a, 9301);
    let rules = |port: u16| drop_udp_to(&lab, port);
    let manual = lab.rules("manual.sk", &rules(9302));
    sockc(&lab.apply_args(&manual, &a, &["--confirm", "60s"])).ok();
    std::fs::write(dir.join(format!("{a}.sk")), rules(9303)).unwrap();
    let (r, v) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 3, "{r}");
    let held = entry(&v, &a);
    assert_eq!(held["result"], "failed", "{v:#}");
    let message = held["message"].as_str().unwrap();
    assert!(message.contains("pending confirmation"), "{message}");
    assert!(lab_status(&a)["source_file"]
        .as_str()
        .unwrap()
        .ends_with("manual.sk"));
    sockc(&["confirm", &a, "--bpffs", netns::BPFFS]).ok();
    let (r, v) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(entry(&v, &a)["result"], "applied", "{v:#}");

    // A change whose watcher is gone (a container's PID 1 died with it) and whose
    // deadline passed is rolled back by the round, which then applies the file: held,
    // it waited for ever.
    let args = lab.apply_args(&manual, &a, &["--confirm", "1s", "--json"]);
    let applied = sockc(&args).ok();
    let doc: Value = serde_json::from_str(&applied.stdout).expect("apply --json");
    let watcher = doc["confirmation"]["watcher_pid"]
        .as_i64()
        .expect("a watcher");
    // SAFETY: kill has no memory preconditions; the PID is the watcher this test made.
    unsafe { libc::kill(watcher as i32, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(2500));
    let (r, v) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(entry(&v, &a)["result"], "applied", "{v:#}");
    let source = lab_status(&a)["source_file"].as_str().unwrap().to_string();
    assert!(source.ends_with(&format!("{a}.sk")), "{source}");
}

/// `--once` exit codes and readiness with a refused first version, a file that
/// leaves the directory (kept, then `--prune`d), and SIGTERM during a confirm window
/// (the change is rolled back before the agent ends, exit 0).
#[test]
fn once_prune_and_stop_during_the_window() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("h46o", 47);
    let (a, b) = (lab.other_install("a"), lab.other_install("b"));
    let dir = lab.dir.join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let ready = lab.dir.join("once-ready");
    let rules = |port: u16| {
        format!(
            "set blocked = file \"blocked.txt\"\nxdp on {} {{\n    drop udp from @blocked\n    drop udp to *:{port}\n    default allow\n}}\n",
            lab.if_a
        )
    };
    std::fs::write(dir.join("blocked.txt"), "192.0.2.1\n").unwrap();
    std::fs::write(dir.join(format!("{a}.sk")), rules(9201)).unwrap();
    std::fs::write(dir.join(format!("{b}.sk")), "xdp on nowhere {\n").unwrap();
    let (r, v) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 1, "a file refused: {r}");
    assert_eq!(entry(&v, &a)["result"], "applied", "{v:#}");
    assert_eq!(entry(&v, &b)["result"], "refused", "{v:#}");
    assert_eq!(entry(&v, &b)["generation"], Value::Null, "{v:#}");
    assert!(!ready.exists(), "not ready: {b} has no rules");
    // b is fixed (another program on the same veth, a tc one).
    let tc = format!(
        "tc ingress on {} {{\n    drop udp to *:9202\n    default allow\n}}\n",
        lab.if_a
    );
    std::fs::write(dir.join(format!("{b}.sk")), &tc).unwrap();
    let (r, v) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(entry(&v, &b)["result"], "applied", "{v:#}");
    assert!(ready.exists(), "ready: every file has its rules");
    lab.expect_verdicts("a and b", &[(9201, false), (9202, false), (9203, true)]);
    // Only the set file changes: read from the directory, its entries reach the
    // kernel in place (that a running agent sees such a change at all is the
    // fingerprint's, checked in src/commands/watch/dir.rs).
    std::fs::write(dir.join("blocked.txt"), format!("{}\n", lab.addr_b)).unwrap();
    let (r, v) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(
        entry(&v, &a)["message"]
            .as_str()
            .unwrap()
            .contains("sets updated in place"),
        "{v:#}"
    );
    lab.expect_verdicts("B's address blocked", &[(9203, false)]);
    std::fs::write(dir.join("blocked.txt"), "192.0.2.1\n").unwrap();
    let (r, _) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    lab.expect_verdicts("B's address no longer", &[(9203, true)]);
    // b leaves the directory: kept (and said), then flushed with --prune; the
    // directory named with a trailing `/` (its installs were never found so).
    std::fs::remove_file(dir.join(format!("{b}.sk"))).unwrap();
    let slashed = PathBuf::from(format!("{}/", dir.display()));
    let (r, v) = once(&slashed, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(entry(&v, &b)["result"], "kept", "{v:#}");
    lab.expect_verdicts("b kept", &[(9202, false)]);
    let (r, v) = once(&slashed, &lab, &["--prune"]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(entry(&v, &b)["result"], "pruned", "{v:#}");
    lab.expect_verdicts("b pruned", &[(9201, false), (9202, true)]);
    // A change under --confirm, and SIGTERM before the window ends: put back, exit 0.
    let child = Command::new(netns::sockc_bin())
        .arg("watch")
        .arg(&dir)
        .args(["--netns", &lab.ns_a, "--confirm", "60s", "--interval", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockc watch");
    let mut agent = Agent(Some(child));
    let next = rules(9204);
    std::fs::write(dir.join(format!("{a}.sk")), &next).unwrap();
    let start = Instant::now();
    while lab_status(&a)["source_sha256"] != sha256(&next).as_str() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the change was not applied"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    lab.expect_verdicts("in the window", &[(9204, false), (9201, true)]);
    let (code, log) = agent.terminate();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("SIGTERM came before the change was confirmed"),
        "{log}"
    );
    lab.expect_verdicts("rolled back on SIGTERM", &[(9201, false), (9204, true)]);
}

/// A file refused before it was ever installed, then taken out of the directory, is
/// forgotten in one round: reported gone, it made a round (the store opened, the
/// status file written again, a log line) every interval, forever.
#[test]
fn a_refused_file_that_leaves_is_forgotten_in_one_round() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("h46r", 175);
    let dir = lab.dir.join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let a = lab.other_install("a");
    let b = lab.other_install("b");
    let good = format!(
        "xdp on {} {{\n    drop udp to *:9301\n    default allow\n}}\n",
        lab.if_a
    );
    std::fs::write(dir.join(format!("{a}.sk")), good).unwrap();
    std::fs::write(dir.join(format!("{b}.sk")), "xdp on nowhere {\n").unwrap();
    let status = lab.dir.join("status.json");
    let child = Command::new(netns::sockc_bin())
        .arg("watch")
        .arg(&dir)
        .args(["--netns", &lab.ns_a, "--interval", "1"])
        .arg("--status-file")
        .arg(&status)
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockc watch");
    let mut agent = Agent(Some(child));
    let start = Instant::now();
    while !std::fs::read_to_string(&status).is_ok_and(|t| t.contains("refused")) {
        assert!(start.elapsed() < Duration::from_secs(30), "no first round");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(dir.join(format!("{b}.sk"))).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let (code, log) = agent.terminate();
    assert_eq!(code, 0, "{log}");
    let rounds = log.lines().filter(|l| l.contains("round ")).count();
    assert!(rounds <= 2, "{rounds} rounds:\n{log}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert!(!v.to_string().contains(&b), "{v:#}");
}

/// The agent killed (SIGKILL: a node drained, the OOM killer) during a confirm window:
/// it confirms nothing, and the change's own watcher puts the rules back at the
/// deadline (the window plus the agent's grace), with no sockc command run.
#[test]
fn a_killed_agent_leaves_no_unconfirmed_change() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("h46k", 48);
    let a = lab.other_install("a");
    let dir = applied_once(&lab, &a, 9301);
    let rules = |port: u16| drop_udp_to(&lab, port);
    let child = Command::new(netns::sockc_bin())
        .arg("watch")
        .arg(&dir)
        .args(["--netns", &lab.ns_a, "--confirm", "2s", "--interval", "1"])
        .stderr(Stdio::null())
        .spawn()
        .expect("sockc watch");
    let mut agent = Agent(Some(child));
    let next = rules(9302);
    std::fs::write(dir.join(format!("{a}.sk")), &next).unwrap();
    let start = Instant::now();
    while lab_status(&a)["source_sha256"] != sha256(&next).as_str() {
        assert!(start.elapsed() < Duration::from_secs(30), "not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The change is left pending on purpose until the watcher has rolled it back: a
    // command without `--name` (another test's) would roll an expired change back
    // itself, first.
    let _pending = common::exclusive::interrupted_install();
    if let Some(mut c) = agent.0.take() {
        c.kill().expect("SIGKILL the agent");
        c.wait().expect("reap");
    }
    lab.expect_verdicts(
        "in the window, the agent gone",
        &[(9302, false), (9301, true)],
    );
    // The window (2 s) and the grace (5 s) from the apply, and a margin; no sockc
    // command runs meanwhile (`status` would roll back an expired change itself, and
    // the lock above keeps other tests' from running).
    let back = Instant::now();
    while lab.probe(&[9302], 3)[&9302] != 3 {
        assert!(
            back.elapsed() < Duration::from_secs(12),
            "never rolled back"
        );
    }
    lab.expect_verdicts("rolled back by the watcher", &[(9301, false), (9302, true)]);
    let st = lab_status(&a);
    let reason = st["last_rollback"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("deadline passed"), "{st:#}");
}

/// A round reads every install's manifest to find those applied from its directory
/// and recovers only those: another install's leftovers (a stray generation
/// directory, what a command killed before its journal leaves) stay for that
/// install's own next command to collect and say.
#[test]
fn a_round_leaves_other_installs_leftovers_alone() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("h46l", 49);
    let xdp = |port: u16| {
        format!(
            "xdp on {} {{\n    drop udp to *:{port}\n    default allow\n}}\n",
            lab.if_a
        )
    };
    lab.apply_ok(&lab.rules("own.sk", &xdp(9401)));
    let a = lab.other_install("a");
    let dir = lab.dir.join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let tc = format!(
        "tc ingress on {} {{\n    drop udp to *:9402\n    default allow\n}}\n",
        lab.if_a
    );
    std::fs::write(dir.join(format!("{a}.sk")), tc).unwrap();
    // The stray is left on purpose for the install's own command to find.
    let _interrupted = common::exclusive::interrupted_install();
    let stray = lab.pin_dir().join("g99");
    std::fs::create_dir(&stray).expect("a stray g99");
    let (r, _) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    // The file leaves: the agent's own install is recovered and kept.
    std::fs::remove_file(dir.join(format!("{a}.sk"))).unwrap();
    let (r, v) = once(&dir, &lab, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(entry(&v, &a)["result"], "kept", "{v:#}");
    assert!(stray.exists(), "the agent removed another install's g99");
    let status = sockc(&["status", "--name", &lab.name]).ok();
    assert!(
        status
            .stderr
            .contains("removed leftovers of an interrupted command: g99"),
        "{status}"
    );
}
