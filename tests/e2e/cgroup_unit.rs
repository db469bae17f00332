//! End-to-end tests of cgroup blocks that name a systemd unit (`cgroup egress unit
//! "NAME"`), where systemd is not PID 1: the unit's cgroup is made by the test where
//! systemd would make it (`system.slice/NAME` under the cgroup v2 mount), and a
//! restart is reproduced as systemd does it — the cgroup removed and made again, and
//! the program the drop-in names opened from its pin and attached with
//! `BPF_PROG_ATTACH` + `BPF_F_ALLOW_MULTI` (bpftool here, as in `cgroup.rs`).
//!
//! What is checked: the block filters the unit's current cgroup; `sockc systemd
//! --write` writes a drop-in that `systemd-analyze verify` accepts without a word,
//! naming a pin that holds the program the link runs (after a re-apply too); after
//! the restart the policy holds from the drop-in alone, `status` reports it (exit 3),
//! `repair` puts the program back on sockc's link and takes systemd's copy off, so
//! every packet is counted once; `--check` reports a changed or missing drop-in;
//! `--remove` after `flush` leaves no drop-in. Socket-call blocks naming a unit
//! (`cgroup connect|sendmsg|bind unit "NAME"`) get one `BPFProgram=TYPE:PIN` line per
//! program, and the same restart, status and repair hold for them; `kill -9` at every
//! step of an apply, a re-apply and a flush leaves each pin on the program its link
//! runs, for both kinds of block.
//!
//! Root only; skipped otherwise (see `tests/common`).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
};

use crate::cgroup::{fault_steps, kill_at};
use crate::common;
use crate::netns;
use crate::sockmap::peer::Peer;

use netns::{sockc, Lab, BPFFS};
use serde_json::Value;

/// A unit's cgroup where systemd makes it, `system.slice/NAME.service` (the slice made
/// too when the host has none, and removed when the last of this process's unit
/// cgroups goes).
struct UnitCgroup {
    unit: String,
    path: String,
}

/// This process's unit cgroups alive, and whether it made `system.slice`.
static SLICE: std::sync::Mutex<(usize, bool)> = std::sync::Mutex::new((0, false));

fn slice_path() -> String {
    format!("{}/system.slice", netns::cgroup2())
}

impl UnitCgroup {
    fn new(tag: &str) -> UnitCgroup {
        let unit = format!("sockc-{tag}-{}.service", std::process::id());
        let path = format!("{}/{unit}", slice_path());
        let mut slice = SLICE.lock().unwrap_or_else(|e| e.into_inner());
        if std::fs::create_dir(slice_path()).is_ok() {
            slice.1 = true;
        }
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {path}: {e}"));
        slice.0 += 1;
        UnitCgroup { unit, path }
    }

    /// What systemd does to the cgroup when the unit restarts: a new directory of the
    /// same path (another cgroup id).
    fn restart(&self) {
        remove_dir(&self.path);
        std::fs::create_dir(&self.path).unwrap_or_else(|e| panic!("mkdir {}: {e}", self.path));
    }
}

impl Drop for UnitCgroup {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| remove_dir(&self.path));
        let mut slice = SLICE.lock().unwrap_or_else(|e| e.into_inner());
        slice.0 -= 1;
        if slice.0 == 0 && slice.1 && std::fs::remove_dir(slice_path()).is_ok() {
            slice.1 = false;
        }
    }
}

/// Removes an empty cgroup; a peer just killed may hold it a moment longer.
fn remove_dir(path: &str) {
    for _ in 0..100 {
        if std::fs::remove_dir(path).is_ok() || !Path::new(path).exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("could not remove {path}");
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// Whether a process of the unit's cgroup (made now) is refused `sendto` to `port`
/// (EPERM) — and to 7131, which no rule drops, never.
fn refused_to(cgroup: &str, ns: &str, port: u16) -> bool {
    let mut inside = Peer::udp(Some(cgroup), ns, addr("127.0.0.1:0"));
    assert_eq!(inside.cmd("sendto 127.0.0.1:7131 ping"), "ok 4");
    let out = inside.cmd(&format!("sendto 127.0.0.1:{port} ping"));
    assert!(out == "ok 4" || out.starts_with("error 1 "), "{out}");
    out.starts_with("error 1 ")
}

/// The ids of the programs on `cgroup`'s egress (links and plain attachments).
fn egress_programs(cgroup: &str) -> Vec<u64> {
    let r = netns::run(Command::new("bpftool").args(["-j", "cgroup", "show", cgroup])).ok();
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["attach_type"] == "cgroup_inet_egress")
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

/// `sockc systemd --name NAME --root ROOT EXTRA...`.
fn systemd(lab: &Lab, root: &Path, extra: &[&str]) -> netns::Run {
    let root = root.to_str().expect("UTF-8 root");
    let mut args = vec![
        "systemd", "--name", &lab.name, "--bpffs", BPFFS, "--root", root,
    ];
    args.extend_from_slice(extra);
    sockc(&args)
}

/// `systemd-analyze verify` of the unit with its drop-ins, units read from ROOT's
/// unit directory only: its exit code and every line it says.
fn verify(root: &Path, unit: &str) -> (bool, String) {
    let units = root.join("etc/systemd/system");
    std::fs::write(
        units.join(unit),
        "[Unit]\nDescription=sockc unit test\n\n[Service]\nExecStart=/bin/sleep 1000\n",
    )
    .expect("unit file");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--no-pager"])
        .arg(units.join(unit))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("systemd-analyze runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn drop_in(root: &Path, unit: &str, install: &str) -> PathBuf {
    root.join(format!(
        "etc/systemd/system/{unit}.d/50-sockc-{install}.conf"
    ))
}

/// Packets of the rule whose text is `text` in the install's `stats --json`.
fn packets(stats: &Value, text: &str) -> u64 {
    stats["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["text"] == text)
        .unwrap_or_else(|| panic!("rule `{text}` in {stats:#}"))["packets"]
        .as_u64()
        .expect("packets")
}

#[test]
fn a_unit_keeps_its_policy_across_a_restart_through_the_drop_in() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgunit", 225);
    let ns = lab.ns_a.clone();
    let unit = UnitCgroup::new("cgunit");
    let _sink = Peer::udp(None, &ns, addr("127.0.0.1:7131"));
    let rules = |port: u16| {
        format!(
            "cgroup egress unit \"{}\" {{\n    drop udp to 127.0.0.1:{port}\n    default allow\n}}\n",
            unit.unit
        )
    };
    let file = lab.rules("unit.sk", &rules(7130));
    lab.apply_ok(&file);
    let s = lab.status_attached();
    assert_eq!(
        s["hooks"][0]["attach_to"],
        format!("unit:{}", unit.unit),
        "{s:#}"
    );
    assert!(
        refused_to(&unit.path, &ns, 7130),
        "the unit's cgroup is filtered"
    );

    // The drop-in: written, accepted by systemd without a word, naming the pin of the
    // program the link runs.
    let root = lab.dir.join("root");
    systemd(&lab, &root, &["--write"]).ok();
    let path = drop_in(&root, &unit.unit, &lab.name);
    let text = std::fs::read_to_string(&path).expect("drop-in written");
    let pin = text
        .lines()
        .find_map(|l| l.strip_prefix("IPEgressFilterPath="))
        .unwrap_or_else(|| panic!("IPEgressFilterPath= in {text}"))
        .to_string();
    assert!(text.contains("[Service]"), "{text}");
    let (ok, said) = verify(&root, &unit.unit);
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    assert_eq!(systemd(&lab, &root, &["--check"]).code, 0);

    // A re-apply swaps the program; the pin follows it (systemd's next start attaches
    // the new rules).
    std::fs::write(&file, rules(7132)).expect("rewrite rules");
    lab.apply_ok(&file);
    let linked = lab.status_attached()["hooks"][0]["prog_id"].as_u64();
    let pinned =
        netns::run(Command::new("bpftool").args(["-j", "prog", "show", "pinned", &pin])).ok();
    let pinned: Value = serde_json::from_str(pinned.stdout.trim()).expect("bpftool json");
    assert_eq!(
        pinned["id"].as_u64(),
        linked,
        "the pin holds the linked program"
    );

    // The restart, as systemd does it: a new cgroup, the pinned program attached.
    unit.restart();
    netns::run(Command::new("bpftool").args([
        "cgroup", "attach", &unit.path, "egress", "pinned", &pin, "multi",
    ]))
    .ok();
    assert!(
        refused_to(&unit.path, &ns, 7132),
        "policy holds after the restart"
    );
    let st = sockc(&["status", "--name", &lab.name, "--bpffs", BPFFS, "--json"]);
    assert_eq!(st.code, 3, "{st}");
    assert!(st.stdout.contains("the unit restarted"), "{st}");

    // Repair: on sockc's link again, systemd's copy off, each packet counted once.
    sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    lab.status_attached();
    assert_eq!(
        egress_programs(&unit.path).len(),
        1,
        "one program on the cgroup"
    );
    let before = packets(&lab.stats(), "drop udp to 127.0.0.1:7132");
    assert!(
        refused_to(&unit.path, &ns, 7132),
        "policy holds after repair"
    );
    assert_eq!(
        packets(&lab.stats(), "drop udp to 127.0.0.1:7132"),
        before + 1,
        "counted once"
    );

    // Drop-in drift, then flush and remove.
    std::fs::write(&path, "[Service]\n").expect("edit drop-in");
    let c = systemd(&lab, &root, &["--check"]);
    assert!(c.code == 3 && c.stdout.contains("changed"), "{c}");
    std::fs::remove_file(&path).expect("remove drop-in");
    let c = systemd(&lab, &root, &["--check"]);
    assert!(c.code == 3 && c.stdout.contains("missing"), "{c}");
    systemd(&lab, &root, &["--write"]).ok();
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    assert!(!Path::new(&pin).exists(), "flush removes the pin");
    // Under another root the flush leaves the drop-in: a leftover, as --check says
    // (it said "nothing is installed", exit 1).
    let c = systemd(&lab, &root, &["--check"]);
    assert!(c.code == 3 && c.stdout.contains("has no block"), "{c}");
    systemd(&lab, &root, &["--remove"]).ok();
    assert!(!path.exists(), "--remove removes the drop-in");
    assert!(egress_programs(&unit.path).is_empty());
}

/// A unit that is not running when its block is applied (at boot, sockc's unit runs
/// before most services): the apply installs the rest and pins the unit's program for
/// systemd (exit 0, saying so), so the drop-in attaches it when the unit starts and
/// `repair` moves it onto sockc's link. (The apply was refused whole: after a reboot
/// the drop-in's missing pin kept the unit from starting, and nothing made the pin.)
#[test]
fn a_unit_not_running_at_the_apply_gets_its_program_when_it_starts() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgwait", 201);
    let ns = lab.ns_a.clone();
    let unit = UnitCgroup::new("cgwait");
    remove_dir(&unit.path);
    let _sink = Peer::udp(None, &ns, addr("127.0.0.1:7131"));
    let rules = format!(
        "cgroup egress unit \"{}\" {{\n    drop udp to 127.0.0.1:7133\n    default allow\n}}\n\
         xdp on {} {{\n    default allow\n}}\n",
        unit.unit, lab.if_a
    );
    // An instance of a template no instance of which runs: its slice is not there
    // either, so nothing says the name leads anywhere: refused, as before.
    let nowhere = rules.replace(&unit.unit, "sockc-no-such-template@x.service");
    let refused = lab.apply(&lab.rules("nowhere.sk", &nowhere), &[]);
    assert_eq!(refused.code, 3, "{refused}");
    let applied = lab.apply(&lab.rules("wait.sk", &rules), &[]);
    assert_eq!(applied.code, 0, "{applied}");
    assert!(
        applied.stderr.contains("the unit is not running"),
        "{applied}"
    );
    let root = lab.dir.join("root");
    systemd(&lab, &root, &["--write"]).ok();
    let text = std::fs::read_to_string(drop_in(&root, &unit.unit, &lab.name)).expect("drop-in");
    let pin = text
        .lines()
        .find_map(|l| l.strip_prefix("IPEgressFilterPath="))
        .unwrap_or_else(|| panic!("IPEgressFilterPath= in {text}"))
        .to_string();
    assert!(
        Path::new(&pin).exists(),
        "the program is pinned for systemd"
    );
    let st = sockc(&["status", "--name", &lab.name, "--bpffs", BPFFS]);
    assert_eq!(st.code, 3, "a unit not running is drift: {st}");

    // The unit starts: systemd makes its cgroup and attaches the pinned program.
    std::fs::create_dir(&unit.path).expect("mkdir the unit's cgroup");
    netns::run(Command::new("bpftool").args([
        "cgroup", "attach", &unit.path, "egress", "pinned", &pin, "multi",
    ]))
    .ok();
    assert!(refused_to(&unit.path, &ns, 7133), "filtered from its start");
    sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    lab.status_attached();
    assert_eq!(
        egress_programs(&unit.path).len(),
        1,
        "one program on the cgroup"
    );
    assert!(refused_to(&unit.path, &ns, 7133), "filtered after repair");
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    assert!(!Path::new(&pin).exists(), "flush removes the pin");
}

/// The programs the pins beside the install's unit links hold, by pin.
fn pinned_programs(lab: &Lab) -> BTreeMap<String, u64> {
    let dir = Path::new(BPFFS).join("sockc").join(&lab.name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with("_prog"))
        .filter_map(|pin| {
            let r =
                netns::run(Command::new("bpftool").args(["-j", "prog", "show", "pinned", &pin]));
            let id = serde_json::from_str::<Value>(r.stdout.trim()).ok()?["id"].as_u64()?;
            Some((pin, id))
        })
        .collect()
}

/// `kill -9` at every fault point of a first apply, a re-apply and a flush of unit
/// blocks with the text `text(port)` gives: once `status` has recovered, each pin a
/// systemd drop-in names holds exactly the program the link beside it runs (so the
/// unit's next start gets the rules in force), and there is no pin when nothing is
/// installed.
fn pins_follow_links_at_every_kill(lab: &Lab, text: impl Fn(u16) -> String) {
    let old = lab.rules("old.sk", &text(7133));
    let new = lab.rules("new.sk", &text(7134));
    let flush = ["flush", "--name", &lab.name, "--bpffs", BPFFS];
    let check = |when: &str| {
        let (r, st) = lab.status_run(&[]);
        assert!(
            r.code == 0 || st.is_none(),
            "{when}: status after recovery:\n{r}"
        );
        let linked: BTreeMap<String, u64> = st
            .iter()
            .flat_map(|s| s["hooks"].as_array().cloned().unwrap_or_default())
            .filter_map(|h| {
                Some((
                    format!("{}_prog", h["link"].as_str()?),
                    h["prog_id"].as_u64()?,
                ))
            })
            .collect();
        assert_eq!(
            pinned_programs(lab),
            linked,
            "{when}: the pins follow the links"
        );
    };
    let (apply_old, apply_new) = (
        lab.apply_args(&old, &lab.name, &[]),
        lab.apply_args(&new, &lab.name, &[]),
    );
    let first = fault_steps(&apply_old);
    sockc(&flush).ok();
    for n in 1..=first {
        kill_at(&apply_old, n);
        check(&format!("first apply killed at step {n}"));
        // Nothing may be installed (exit 1): the kill came before the commit.
        sockc(&flush);
    }
    lab.apply_ok(&old);
    let again = fault_steps(&apply_new);
    for n in 1..=again {
        lab.apply_ok(&old);
        kill_at(&apply_new, n);
        check(&format!("re-apply killed at step {n}"));
    }
    lab.apply_ok(&new);
    let out = fault_steps(&flush);
    for n in 1..=out {
        lab.apply_ok(&new);
        kill_at(&flush, n);
        check(&format!("flush killed at step {n}"));
        sockc(&flush);
    }
    assert!(pinned_programs(lab).is_empty());
    println!("killed {} times", first + again + out);
}

#[test]
fn kill_at_every_step_keeps_the_units_pin_on_the_program_in_force() {
    if !common::kernel() {
        return;
    }
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("cgunitk", 226);
    let unit = UnitCgroup::new("cgunitk");
    pins_follow_links_at_every_kill(&lab, |port| {
        format!(
            "cgroup egress unit \"{}\" {{\n    drop udp to 127.0.0.1:{port}\n    default allow\n}}\n",
            unit.unit
        )
    });
}

/// The same for a socket-call block naming a unit: two programs, two pins.
#[test]
fn kill_at_every_step_keeps_each_socket_call_pin_on_its_program() {
    if !common::kernel() {
        return;
    }
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("cgunitck", 105);
    let unit = UnitCgroup::new("cgunitck");
    pins_follow_links_at_every_kill(&lab, |port| {
        format!(
            "cgroup connect unit \"{}\" {{\n    drop udp to 127.0.0.1:{port}\n    default allow\n}}\n",
            unit.unit
        )
    });
}

/// The programs on `cgroup` itself (links and plain attachments, every attach type).
fn all_programs(cgroup: &str) -> usize {
    let r = netns::run(Command::new("bpftool").args(["-j", "cgroup", "show", cgroup])).ok();
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or(Value::Null);
    v.as_array().map_or(0, Vec::len)
}

/// Whether a new socket of a process in `cgroup` is refused `call CALL PROTO ADDR`
/// (EPERM).
fn call_refused(cgroup: &str, ns: &str, call: &str, proto: &str, to: &str) -> bool {
    let mut inside = Peer::udp(Some(cgroup), ns, addr("127.0.0.1:0"));
    crate::sock_addr::refused(&mut inside, call, proto, to)
}

/// The three calls the socket-call unit blocks refuse, each refused as it should be
/// (and the same calls to a port no rule names, never).
fn calls_refused(unit: &UnitCgroup, ns: &str, when: &str) {
    for (call, proto, port) in [
        ("connect", "tcp", "7141"),
        ("sendmsg", "udp", "7142"),
        ("bind", "tcp", "7143"),
    ] {
        for host in ["127.0.0.1", "[::1]"] {
            let to = format!("{host}:{port}");
            assert!(
                call_refused(&unit.path, ns, call, proto, &to),
                "{when}: {call} {proto} {to} refused"
            );
        }
        assert!(
            !call_refused(&unit.path, ns, call, proto, "127.0.0.1:7144"),
            "{when}: {call} {proto} 127.0.0.1:7144 allowed"
        );
    }
}

/// The `BPFProgram=TYPE:PIN` lines of a drop-in, as (TYPE, PIN), sorted.
fn bpf_program_lines(drop_in: &str) -> Vec<(String, String)> {
    let mut lines: Vec<(String, String)> = drop_in
        .lines()
        .filter_map(|l| l.strip_prefix("BPFProgram="))
        .map(|l| {
            let (ty, pin) = l.split_once(':').expect("TYPE:PATH");
            (ty.to_string(), pin.to_string())
        })
        .collect();
    lines.sort();
    lines
}

/// `sockc systemd --check` finds the drop-in at `path` changed (its `bind6` line
/// gone) and one left over for a unit without a block; `--write` mends both.
fn drop_in_drift_is_found_and_mended(lab: &Lab, root: &Path, path: &Path) {
    let written = std::fs::read_to_string(path).expect("drop-in");
    let cut: String = written
        .lines()
        .filter(|l| !l.contains("bind6:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(path, cut).expect("edit drop-in");
    let c = systemd(lab, root, &["--check"]);
    assert!(c.code == 3 && c.stdout.contains("changed"), "{c}");
    let stray = drop_in(root, "gone.service", &lab.name);
    std::fs::create_dir_all(stray.parent().unwrap()).expect("unit .d");
    std::fs::write(&stray, &written).expect("stray drop-in");
    let c = systemd(lab, root, &["--check"]);
    assert!(
        c.code == 3 && c.stdout.contains("its unit has no block"),
        "{c}"
    );
    systemd(lab, root, &["--write"]).ok();
    assert!(!stray.exists(), "--write removes a left-over drop-in");
    assert_eq!(std::fs::read_to_string(path).unwrap(), written);
    assert_eq!(systemd(lab, root, &["--check"]).code, 0);
}

/// The restart, as systemd does it for `BPFProgram=`: a new cgroup, each pin
/// attached with its attach type (bpftool spells them as systemd does).
fn restart_with_bpf_programs(unit: &UnitCgroup, lines: &[(String, String)]) {
    unit.restart();
    for (ty, pin) in lines {
        netns::run(
            Command::new("bpftool")
                .args(["cgroup", "attach", &unit.path, ty, "pinned", pin, "multi"]),
        )
        .ok();
    }
}

/// Socket-call blocks naming a unit (`cgroup connect|sendmsg|bind unit "NAME"`): one
/// `BPFProgram=TYPE:PIN` line per program (both families of each call) in a drop-in
/// `systemd-analyze verify` accepts; the unit's restart reproduced (a new cgroup, each
/// pin attached with its type as systemd's `BPFProgram=` does, `BPF_F_ALLOW_MULTI`)
/// keeps every call refused; `status` reports it, `repair` puts the programs back on
/// sockc's links with systemd's copies taken off, so each call is counted once.
#[test]
fn a_units_socket_call_blocks_hold_across_a_restart_through_bpf_program_lines() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgunitc", 101);
    let ns = lab.ns_a.clone();
    let unit = UnitCgroup::new("cgunitc");
    let text = format!(
        "cgroup connect unit \"{u}\" {{\n    drop tcp to *:7141\n    default allow\n}}\n\
         cgroup sendmsg unit \"{u}\" {{\n    drop udp to *:7142\n    default allow\n}}\n\
         cgroup bind unit \"{u}\" {{\n    drop tcp to *:7143\n    default allow\n}}\n",
        u = unit.unit
    );
    lab.apply_ok(&lab.rules("calls.sk", &text));
    let s = lab.status_attached();
    let hooks = s["hooks"].as_array().expect("hooks");
    assert_eq!(hooks.len(), 6, "{s:#}");
    assert!(hooks
        .iter()
        .all(|h| h["attach_to"] == format!("unit:{}", unit.unit)));
    calls_refused(&unit, &ns, "applied");

    let root = lab.dir.join("root");
    systemd(&lab, &root, &["--write"]).ok();
    let path = drop_in(&root, &unit.unit, &lab.name);
    let written = std::fs::read_to_string(&path).expect("drop-in written");
    let lines = bpf_program_lines(&written);
    let types: Vec<&str> = lines.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["bind4", "bind6", "connect4", "connect6", "sendmsg4", "sendmsg6"],
        "{written}"
    );
    assert!(written.contains("[Service]"), "{written}");
    let (ok, said) = verify(&root, &unit.unit);
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    assert_eq!(systemd(&lab, &root, &["--check"]).code, 0);
    drop_in_drift_is_found_and_mended(&lab, &root, &path);

    restart_with_bpf_programs(&unit, &lines);
    calls_refused(&unit, &ns, "restarted");
    let st = sockc(&["status", "--name", &lab.name, "--bpffs", BPFFS, "--json"]);
    assert_eq!(st.code, 3, "{st}");
    assert!(st.stdout.contains("the unit restarted"), "{st}");

    sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    lab.status_attached();
    assert_eq!(
        all_programs(&unit.path),
        6,
        "one program per attach type on the cgroup, systemd's copies off"
    );
    let before = crate::sock_addr::counted(&lab.stats(), "cgroup connect4", "drop tcp to *:7141");
    assert!(call_refused(
        &unit.path,
        &ns,
        "connect",
        "tcp",
        "127.0.0.1:7141"
    ));
    let after = crate::sock_addr::counted(&lab.stats(), "cgroup connect4", "drop tcp to *:7141");
    assert_eq!(after, before + 1, "counted once");

    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    assert!(
        lines.iter().all(|(_, pin)| !Path::new(pin).exists()),
        "flush removes the pins"
    );
    systemd(&lab, &root, &["--remove"]).ok();
    assert!(!path.exists(), "--remove removes the drop-in");
    assert_eq!(all_programs(&unit.path), 0);
}
