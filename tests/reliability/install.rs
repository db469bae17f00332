//! The install layer under failure, as an operator and an attacker meet it: `kill -9`
//! at every kernel-changing step of first applies, re-applies of a two-hook file, set
//! updates, repairs and flushes (with traffic flowing, so a moment with neither the old
//! nor the new rules would show); an interface deleted and created again; link pins
//! and clsact filters removed by hand; a network namespace re-created with another
//! tool's filter where sockc's was; the lock, permissions, a private bpffs, another
//! install on the hook, an empty file, and uid 0 without capabilities. Each test makes
//! its own namespaces (`tests/netns`) and, where it needs one, its own bpffs instance,
//! and removes them again. They need root and skip otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{
    collections::BTreeMap,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use netns::{ip, run, sockc, Lab, Prober, Run};
use serde_json::Value;

/// The fault points a run went through (`SOCKC_FAULT_TRACE=1`).
fn fault_points(r: &Run) -> Vec<String> {
    r.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("fault point "))
        .map(|l| l.split_once(": ").map_or(l, |(_, what)| what).to_string())
        .collect()
}

/// `sockc ARGS` with extra environment.
fn sockc_env(args: &[&str], env: &[(&str, String)]) -> Run {
    let mut cmd = Command::new(netns::sockc_bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn trace() -> [(&'static str, String); 1] {
    [("SOCKC_FAULT_TRACE", "1".to_string())]
}

fn kill_at(n: usize) -> [(&'static str, String); 1] {
    [("SOCKC_FAULT_KILL_AT", n.to_string())]
}

/// A process killed by a signal has no exit code.
#[track_caller]
fn expect_killed(r: &Run) {
    assert_eq!(r.code, -1, "expected the command to be killed:\n{r}");
}

fn drift(status: &Value) -> Vec<String> {
    status["drift"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| d.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The XDP program the interface runs, read from the kernel (not from sockc).
fn xdp_prog(lab: &Lab) -> Option<u64> {
    lab.xdp_prog_id().map(u64::from)
}

/// A bpffs instance of the test's own, mounted on a temporary directory (so a test
/// can own, break and lock the state directory without touching other tests').
struct TempBpffs {
    dir: PathBuf,
}

impl TempBpffs {
    fn new(tag: &str) -> TempBpffs {
        let dir = std::env::temp_dir().join(format!("sockc-bpffs-{tag}-{}", std::process::id()));
        let _ = run(Command::new("umount").arg("-l").arg(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mount point");
        run(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir)).ok();
        TempBpffs { dir }
    }

    fn path(&self) -> &str {
        self.dir.to_str().expect("UTF-8")
    }
}

impl Drop for TempBpffs {
    fn drop(&mut self) {
        // Installs pinned here go with the mount: flush what a test left first.
        if let Ok(d) = std::fs::read_dir(self.dir.join("sockc")) {
            for e in d.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let _ = sockc(&["flush", "--name", &name, "--bpffs", self.path()]);
            }
        }
        let _ = run(Command::new("umount").arg("-l").arg(&self.dir));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- case 1: an interface deleted and created again ---------------------------------

#[test]
fn a_recreated_interface_is_drift_and_apply_repairs_it() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("recreate", 11);
    let a = &lab.if_a;
    let r1 = lab.rules(
        "r1.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"
        ),
    );
    let r2 = lab.rules(
        "r2.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9003\n  default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"
        ),
    );
    lab.apply_ok(&r1);
    lab.expect_verdicts("applied", &[(9001, false), (9002, false), (9003, true)]);

    lab.recreate_veth();
    // Nothing filters now, and status says so (it used to say "attached", exit 0).
    lab.expect_verdicts("re-created", &[(9001, true), (9002, true)]);
    let (r, st) = lab.status_run(&[]);
    assert_eq!(r.code, 3, "drift exits 3:\n{r}");
    let d = drift(&st.expect("listed"));
    assert_eq!(d.len(), 2, "both hooks drift: {d:?}");
    assert!(
        d.iter()
            .all(|x| x.contains("detached") || x.contains("re-created")),
        "{d:?}"
    );

    // The same file repairs it (it used to say "no changes").
    let r = lab.apply_ok(&r1);
    assert!(!r.stdout.contains(": no changes (generation"), "{r}");
    assert!(
        r.stdout
            .contains("repaired generation 1 (2 hooks attached again)"),
        "{r}"
    );
    let st = lab.status_attached();
    assert!(drift(&st).is_empty(), "{st:#}");
    lab.expect_verdicts("repaired", &[(9001, false), (9002, false), (9003, true)]);

    // A different file over a re-created interface applies (it used to fail in
    // bpf_link_update and leave gN/ and manifest_new behind).
    lab.recreate_veth();
    let r = lab.apply_ok(&r2);
    assert!(r.stdout.contains("generation 2 applied"), "{r}");
    lab.status_attached();
    lab.expect_verdicts(
        "generation 2",
        &[(9001, true), (9002, false), (9003, false)],
    );
    let pins = lab.pins();
    assert!(
        !pins
            .iter()
            .any(|p| p.contains("_new") || p.starts_with("journal") || p == "g1/"),
        "no leftovers: {pins:#?}"
    );
}

// ---- case 5: a link pin removed by hand --------------------------------------------

#[test]
fn a_removed_link_pin_is_drift_and_flush_counts_what_was_attached() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("pinrm", 12);
    let a = &lab.if_a;
    let r1 = lab.rules(
        "r1.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    lab.apply_ok(&r1);
    let link = lab
        .pin_dir()
        .join(format!("link_xdp_{}", a.replace('-', "_")));
    std::fs::remove_file(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
    let (r, st) = lab.status_run(&[]);
    assert_eq!(r.code, 3, "{r}");
    assert_eq!(
        drift(&st.expect("listed")),
        [format!("xdp on {a}: link missing")]
    );
    // Nothing runs the install's program: its counters are not live, and stats says
    // so instead of showing them.
    let r = sockc(&["stats", "--name", &lab.name]).expect_code(3);
    assert!(r.stderr.contains("not live"), "{r}");

    let r = lab.apply_ok(&r1);
    assert!(r.stdout.contains("repaired generation 1"), "{r}");
    lab.status_attached();
    lab.expect_verdicts("repaired", &[(9001, false), (9002, true)]);

    // With the pin gone again, nothing is attached: flush says 0 (it used to say 1).
    std::fs::remove_file(&link).expect("remove pin");
    let r = sockc(&["flush", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("(0 hooks detached)"), "{r}");
}

// ---- case 6: clsact filters --------------------------------------------------------

fn tc_show(lab: &Lab, what: &str) -> String {
    ip(&[
        "netns", "exec", &lab.ns_a, "tc", what, "show", "dev", &lab.if_a,
    ])
    .stdout
    .to_string()
}

fn tc_filters(lab: &Lab) -> String {
    let out = Command::new("ip")
        .args([
            "netns", "exec", &lab.ns_a, "tc", "filter", "show", "dev", &lab.if_a, "ingress",
        ])
        .output()
        .expect("tc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn clsact_filters_are_read_back_owned_by_program_and_cleaned_up() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("clsown", 13);
    let a = &lab.if_a;
    let x = lab.rules(
        "x.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"
        ),
    );
    let y = lab.rules(
        "y.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9003\n  default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:9004\n  default allow\n}}\n"
        ),
    );
    let clsact = ["--tc-attach", "clsact"];
    lab.apply(&x, &clsact).ok();
    assert!(
        tc_show(&lab, "qdisc").contains("clsact"),
        "sockc made the qdisc"
    );

    // A filter deleted by hand is drift (it used to be "(not checked)").
    ip(&[
        "netns", "exec", &lab.ns_a, "tc", "filter", "del", "dev", a, "ingress",
    ]);
    let (r, st) = lab.status_run(&[]);
    assert_eq!(r.code, 3, "{r}");
    let d = drift(&st.expect("listed"));
    assert!(d.len() == 1 && d[0].contains("missing"), "{d:?}");
    // The next apply of another file converges: both hooks, the new manifest (it used
    // to fail after the swap began, leaving XDP new and the manifest old).
    let r = lab.apply(&y, &clsact).ok();
    assert!(r.stdout.contains("generation 2 applied"), "{r}");
    let st = lab.status_attached();
    assert_eq!(st["generation"], 2);
    lab.expect_verdicts(
        "after the repairing re-apply",
        &[(9001, true), (9002, true), (9003, false), (9004, false)],
    );

    // Flush takes the filter and the qdisc sockc made (it used to leave the qdisc).
    sockc(&["flush", "--name", &lab.name]).ok();
    assert!(!tc_filters(&lab).contains("bpf"), "{}", tc_filters(&lab));
    assert!(
        !tc_show(&lab, "qdisc").contains("clsact"),
        "{}",
        tc_show(&lab, "qdisc")
    );

    // A qdisc that was there before sockc stays.
    ip(&[
        "netns", "exec", &lab.ns_a, "tc", "qdisc", "add", "dev", a, "clsact",
    ]);
    lab.apply(&x, &clsact).ok();
    sockc(&["flush", "--name", &lab.name]).ok();
    assert!(
        tc_show(&lab, "qdisc").contains("clsact"),
        "another's qdisc stays"
    );
    ip(&[
        "netns", "exec", &lab.ns_a, "tc", "qdisc", "del", "dev", a, "clsact",
    ]);

    // The namespace deleted and created again, with another tool's filter where
    // sockc's was: status says so, flush leaves that filter alone (it used to delete
    // it and report success).
    lab.apply(&x, &clsact).ok();
    let shown = tc_filters(&lab);
    let (prio, handle) = parse_filter(&shown).unwrap_or_else(|| panic!("no filter in {shown}"));
    ip(&["netns", "del", &lab.ns_a]);
    ip(&["netns", "add", &lab.ns_a]);
    ip(&[
        "-n",
        &lab.ns_a,
        "link",
        "add",
        a,
        "type",
        "veth",
        "peer",
        "name",
        "zz-clsown",
    ]);
    ip(&["-n", &lab.ns_a, "link", "set", a, "up"]);
    ip(&[
        "netns", "exec", &lab.ns_a, "tc", "qdisc", "add", "dev", a, "clsact",
    ]);
    // Another tool's filter: a program `tc` loads itself.
    let foreign_src = lab.rules("foreign.sk", "tc ingress on lo { default allow }\n");
    let foreign_obj = foreign_src.with_extension("o");
    sockc(&[
        "compile",
        foreign_src.to_str().unwrap(),
        "-o",
        foreign_obj.to_str().unwrap(),
    ])
    .ok();
    ip(&[
        "netns",
        "exec",
        &lab.ns_a,
        "tc",
        "filter",
        "add",
        "dev",
        a,
        "ingress",
        "prio",
        &prio,
        "handle",
        &handle,
        "bpf",
        "da",
        "obj",
        foreign_obj.to_str().unwrap(),
        "sec",
        "classifier",
    ]);
    let theirs = tc_filters(&lab);
    assert!(theirs.contains("tci_lo"), "{theirs}");
    let (r, st) = lab.status_run(&[]);
    assert_eq!(r.code, 3, "{r}");
    assert!(
        drift(&st.expect("listed"))
            .iter()
            .all(|d| d.contains("namespace")),
        "{r}"
    );
    // The deleted namespace goes when its last user does, and the kernel tears it down
    // later still (from a work queue): while some process keeps it, status names that
    // process, and until the teardown status finds the XDP link still attached there;
    // either way flush takes that hook off (its one hook), never the filter here.
    // (It may also go between the two commands.)
    let said = r.to_string();
    let old_alive = said.contains("keeps alive") || said.contains("still attached");
    let fl = sockc(&["flush", "--name", &lab.name]).ok();
    assert!(
        fl.stdout.contains("(0 hooks detached)")
            || (old_alive && fl.stdout.contains("(1 hooks detached)")),
        "{fl}\nstatus before: {r}"
    );
    assert_eq!(
        tc_filters(&lab),
        theirs,
        "another tool's filter survives the flush"
    );
}

/// The priority and handle of the first filter `tc filter show` lists.
fn parse_filter(shown: &str) -> Option<(String, String)> {
    let line = shown.lines().find(|l| l.contains(" handle "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| {
        words
            .iter()
            .position(|x| *x == w)
            .and_then(|i| words.get(i + 1))
            .map(|s| s.to_string())
    };
    Some((after("pref")?, after("handle")?))
}

// ---- cases 7, 8, 9: lock, permissions, private bpffs --------------------------------

/// `setpriv ARGS` as nobody, or with the given capability options.
fn setpriv(opts: &[&str], cmd: &[&str]) -> Run {
    run(Command::new("setpriv").args(opts).args(cmd))
}

const NOBODY: [&str; 3] = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"];

#[test]
fn the_lock_is_roots_and_a_waiter_names_the_holder() {
    if !common::kernel() {
        return;
    }
    let fs = TempBpffs::new("lock");
    sockc(&["status", "--bpffs", fs.path()]).ok();
    let root = fs.dir.join("sockc");
    // Nobody cannot even open it (it used to freeze root's commands forever).
    let r = setpriv(&NOBODY, &["flock", root.to_str().unwrap(), "-c", "true"]);
    assert_ne!(r.code, 0, "nobody took the lock:\n{r}");
    assert_eq!(root.metadata().unwrap().mode() & 0o777, 0o700);
    // Root's holder makes a waiter give up after its timeout, naming the PID.
    let mut holder = Command::new("flock")
        .arg(&root)
        .args(["-c", "sleep 5"])
        .spawn()
        .expect("flock");
    netns::wait_until_locked(&root);
    let start = Instant::now();
    let r = sockc(&["status", "--bpffs", fs.path(), "--lock-timeout", "1"]);
    let waited = start.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(r.code, 3, "{r}");
    assert!(
        r.stderr.contains("holds the lock") && r.stderr.contains("PID "),
        "names the holder:\n{r}"
    );
    assert!(waited < Duration::from_secs(4), "gave up in {waited:?}");
}

#[test]
fn state_is_private_whatever_the_umask_and_someone_elses_is_refused() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("perm", 14);
    let a = &lab.if_a;
    let rules = lab.rules(
        "p.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    let fs = TempBpffs::new("perm");
    let file = rules.to_str().unwrap();
    let cmd = format!(
        "umask 000; exec {} apply {file} --name {} --bpffs {} --netns {}",
        netns::sockc_bin(),
        lab.name,
        fs.path(),
        lab.ns_a
    );
    run(Command::new("sh").args(["-c", &cmd])).ok();
    // Directories 0700, pins 0600 (they used to follow the umask: 0777).
    let mut seen = 0;
    let mut stack = vec![fs.dir.join("sockc")];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
        }
        seen += 1;
    }
    assert!(seen >= 5, "walked {seen} entries");
    // Nobody cannot take the firewall down by removing pins.
    let r = setpriv(
        &NOBODY,
        &[
            "rm",
            "-rf",
            fs.dir.join("sockc").join(&lab.name).to_str().unwrap(),
        ],
    );
    assert_ne!(r.code, 0, "{r}");
    lab.expect_verdicts("after nobody's rm", &[(9001, false), (9002, true)]);
    sockc(&["flush", "--name", &lab.name, "--bpffs", fs.path()]).ok();

    // A state directory that nobody made in a world-writable bpffs is refused (it
    // used to be used, and nobody could rename installs away).
    let fs2 = TempBpffs::new("perm2");
    std::fs::set_permissions(&fs2.dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    setpriv(&NOBODY, &["mkdir", fs2.dir.join("sockc").to_str().unwrap()]).ok();
    let args = lab.apply_args(&rules, &lab.name, &[]);
    let mut args: Vec<&str> = args.into_iter().filter(|a| *a != netns::BPFFS).collect();
    let at = args.iter().position(|a| *a == "--bpffs").unwrap();
    args.insert(at + 1, fs2.path());
    let r = sockc(&args).expect_code(3);
    assert!(r.stderr.contains("owned by uid"), "{r}");
    assert_eq!(xdp_prog(&lab), None, "nothing was attached");
}

#[test]
fn a_private_bpffs_is_refused() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("privfs", 15);
    let a = &lab.if_a;
    let rules = lab.rules(
        "p.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    // What sockc's own message used to suggest inside `ip netns exec`: mount bpffs.
    let script = format!(
        "mount -t bpf bpf /sys/fs/bpf && exec {} apply {} --name {}",
        netns::sockc_bin(),
        rules.display(),
        lab.name
    );
    let r = run(Command::new("ip").args(["netns", "exec", &lab.ns_a, "sh", "-c", &script]));
    assert_eq!(
        r.code, 3,
        "refused (it used to say `generation 1 applied`):\n{r}"
    );
    assert!(r.stderr.contains("--netns"), "points at --netns:\n{r}");
    assert_eq!(xdp_prog(&lab), None, "nothing was attached");
    lab.expect_verdicts("refused", &[(9001, true)]);
}

// ---- case 10: another install on the hook, empty files -----------------------------

#[test]
fn a_hook_held_by_another_install_is_named_and_an_empty_file_needs_a_flag() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("held", 16);
    let a = &lab.if_a;
    let edge = lab.rules(
        "edge.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    lab.apply_ok(&edge);
    let other = lab.other_install("other");
    let r = sockc(&lab.apply_args(&edge, &other, &[])).expect_code(2);
    assert!(
        r.stderr
            .contains(&format!("already installed by `{}`", lab.name))
            && r.stderr.contains(&format!("--name {}", lab.name)),
        "names the install and what to do:\n{r}"
    );
    // The default name is the file's stem: a renamed copy hits the same hook.
    let renamed = lab.rules(
        &format!("{}-v2.sk", lab.name),
        &std::fs::read_to_string(&edge).unwrap(),
    );
    let r = sockc(&["apply", renamed.to_str().unwrap(), "--netns", &lab.ns_a]).expect_code(2);
    assert!(r.stderr.contains(&format!("--name {}", lab.name)), "{r}");
    lab.expect_verdicts("still the first install", &[(9001, false), (9002, true)]);

    // An empty file would detach everything: refused unless asked for.
    let empty = lab.rules("empty.sk", "# nothing here\n");
    let r = lab.apply(&empty, &[]).expect_code(2);
    assert!(
        r.stderr.contains("no hook blocks") && r.stderr.contains("--allow-empty"),
        "{r}"
    );
    lab.status_attached();
    lab.apply(&empty, &["--allow-empty"]).ok();
    lab.expect_verdicts("empty rule set", &[(9001, true)]);
}

// ---- case 11: uid 0 without capabilities -------------------------------------------

#[test]
fn capabilities_not_the_uid_decide() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("caps", 17);
    let a = &lab.if_a;
    let rules = lab.rules(
        "c.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    lab.apply_ok(&rules);
    let no_caps = ["--bounding-set=-all", "--inh-caps=-all"];
    for cmd in [
        vec![netns::sockc_bin(), "flush", "--name", &lab.name],
        vec![netns::sockc_bin(), "status", "--name", &lab.name],
    ] {
        let r = setpriv(&no_caps, &cmd);
        assert_eq!(r.code, 3, "{r}");
        assert!(r.stderr.contains("CAP_BPF"), "names the capability:\n{r}");
    }
    lab.status_attached();
    lab.expect_verdicts("still installed", &[(9001, false)]);
}

// ---- cases 2, 3, 4: kill -9 at every step ------------------------------------------

/// The rules of the kill test: on every variant, XDP drops 9101 and what comes from
/// `@blocked` to 9107, TC ingress drops 9105, and 9102 passes both: a prober counts
/// those through every kill and recovery. The variants differ on 9003 (XDP) and 9006
/// (TC) and in the set's other members.
fn kill_rules(lab: &Lab, file: &str, drop_9003: bool, drop_9006: bool, others: &str) -> PathBuf {
    let a = &lab.if_a;
    let b = lab.addr_b;
    lab.rules(
        file,
        &format!(
            "set blocked = {{ {b}, {others} }}\n\
             xdp on {a} {{\n  drop udp to *:9101\n  drop udp from @blocked to *:9107\n{}  default allow\n}}\n\
             tc ingress on {a} {{\n  drop udp to *:9105\n{}  default allow\n}}\n",
            if drop_9003 { "  drop udp to *:9003\n" } else { "" },
            if drop_9006 { "  drop udp to *:9006\n" } else { "" },
        ),
    )
}

/// What `path`'s rules do to 9003 and 9006.
fn variant_verdicts(path: &str) -> [(u16, bool); 2] {
    let old = path.ends_with("old.sk");
    [(9003, !old), (9006, old)]
}

/// After a kill: status exits 0 and tells the truth — the XDP program the kernel runs
/// is the one status names, and traffic follows the file status names — or nothing is
/// installed and nothing filters.
#[track_caller]
fn check_truth(lab: &Lab, when: &str) {
    let (r, st) = lab.status_run(&[]);
    match st {
        None => {
            assert!(r.stderr.contains("nothing is installed"), "{when}:\n{r}");
            assert_eq!(
                xdp_prog(lab),
                None,
                "{when}: nothing installed, XDP attached"
            );
            lab.expect_verdicts(
                &format!("{when}, nothing installed"),
                &[(9003, true), (9006, true)],
            );
        }
        Some(st) => {
            assert_eq!(r.code, 0, "{when}: status after recovery:\n{r}");
            let xdp = st["hooks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["hook"] == "xdp")
                .expect("xdp hook");
            assert_eq!(xdp_prog(lab), xdp["prog_id"].as_u64(), "{when}: {st:#}");
            let file = st["source_file"].as_str().unwrap().to_string();
            lab.expect_verdicts(&format!("{when}, {file}"), &variant_verdicts(&file));
        }
    }
}

#[test]
fn kill_at_every_step_converges_without_a_gap() {
    if !common::kernel() {
        return;
    }
    // Its install is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("kill", 18);
    let old = kill_rules(
        &lab,
        "old.sk",
        true,
        false,
        "192.0.2.1, 192.0.2.2, 192.0.2.3",
    );
    let new = kill_rules(
        &lab,
        "new.sk",
        false,
        true,
        "192.0.2.1, 192.0.2.2, 192.0.2.3",
    );
    let new_set = kill_rules(
        &lab,
        "set.sk",
        false,
        true,
        "198.51.100.1, 198.51.100.2, 198.51.100.3",
    );
    fn args<'a>(lab: &'a Lab, file: &'a Path) -> Vec<&'a str> {
        lab.apply_args(file, &lab.name, &[])
    }
    let mut killed = BTreeMap::<&str, usize>::new();

    // First applies: after each kill, the truth, then the same apply converges.
    let steps = fault_points(&sockc_env(&args(&lab, &old), &trace()).ok());
    sockc(&["flush", "--name", &lab.name]).ok();
    for (n, what) in steps.iter().enumerate() {
        expect_killed(&sockc_env(&args(&lab, &old), &kill_at(n + 1)));
        check_truth(&lab, &format!("first apply killed at {what}"));
        lab.apply_ok(&old);
        lab.status_attached();
        sockc(&["flush", "--name", &lab.name]).ok();
        *killed.entry("first apply").or_default() += 1;
    }

    // Re-applies, set updates, repairs and flushes, with traffic flowing throughout.
    lab.apply_ok(&old);
    let prober = Prober::start(&lab, &[9101, 9102, 9105, 9107]);
    let cases: [(&str, &PathBuf, &PathBuf); 2] =
        [("re-apply", &old, &new), ("set update", &new, &new_set)];
    for (case, from, to) in cases {
        lab.apply_ok(from);
        let steps = fault_points(&sockc_env(&args(&lab, to), &trace()).ok());
        assert!(steps.len() >= 5, "{case}: {steps:?}");
        for (n, what) in steps.iter().enumerate() {
            lab.apply_ok(from);
            expect_killed(&sockc_env(&args(&lab, to), &kill_at(n + 1)));
            check_truth(&lab, &format!("{case} killed at {what}"));
            let r = lab.apply_ok(to);
            assert!(!r.stderr.contains("File exists"), "{r}");
            let st = lab.status_attached();
            assert_eq!(st["source_file"], to.to_str().unwrap());
            // Stats read the live counters: the prober's 9101 datagrams count.
            let stats = lab.stats();
            let hits: u64 = stats["rules"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["text"] == "drop udp to *:9101")
                .map(|r| r["packets"].as_u64().unwrap())
                .sum();
            assert!(
                hits > 0,
                "{case} at {what}: stats of the live generation: {stats:#}"
            );
            let (r, _) = lab.status_run(&["--deep"]);
            assert_eq!(
                r.code, 0,
                "{case} at {what}: sets as the manifest says:\n{r}"
            );
            *killed.entry(case).or_default() += 1;
        }
    }
    let (rounds, got) = prober.stop();
    println!("probe rounds {rounds}, received {got:?}");
    assert_eq!(
        got[&9101], 0,
        "XDP's 9101 was dropped by every generation, yet arrived"
    );
    assert_eq!(
        got[&9105], 0,
        "TC's 9105 was dropped by every generation, yet arrived"
    );
    assert_eq!(
        got[&9107], 0,
        "@blocked to 9107 was dropped by every generation, yet arrived"
    );
    assert_eq!(
        got[&9102], rounds,
        "9102 passed every generation, yet datagrams were lost"
    );

    // Repairs: both link pins removed (the hooks come off with them), the repair
    // killed at each step, the next one converges.
    lab.apply_ok(&new);
    let unpin = || {
        for p in std::fs::read_dir(lab.pin_dir()).unwrap().flatten() {
            if p.file_name().to_string_lossy().starts_with("link_") {
                std::fs::remove_file(p.path()).unwrap();
            }
        }
    };
    unpin();
    let steps = fault_points(&sockc_env(&["repair", "--name", &lab.name], &trace()).ok());
    for (n, what) in steps.iter().enumerate() {
        unpin();
        expect_killed(&sockc_env(
            &["repair", "--name", &lab.name],
            &kill_at(n + 1),
        ));
        sockc(&["repair", "--name", &lab.name]).ok();
        lab.status_attached();
        lab.expect_verdicts(
            &format!("repair killed at {what}"),
            &variant_verdicts("new.sk"),
        );
        *killed.entry("repair").or_default() += 1;
    }

    // Flushes: each kill, then the next flush converges (or finds it done).
    let steps = fault_points(&sockc_env(&["flush", "--name", &lab.name], &trace()).ok());
    for (n, what) in steps.iter().enumerate() {
        lab.apply_ok(&new);
        expect_killed(&sockc_env(&["flush", "--name", &lab.name], &kill_at(n + 1)));
        let r = sockc(&["flush", "--name", &lab.name]);
        assert!(
            r.code == 0 || r.stderr.contains("nothing is installed"),
            "{what}:\n{r}"
        );
        assert_eq!(
            xdp_prog(&lab),
            None,
            "flush killed at {what}: XDP still attached"
        );
        assert!(!lab.pin_dir().exists(), "flush killed at {what}: pins left");
        *killed.entry("flush").or_default() += 1;
    }
    let total: usize = killed.values().sum();
    println!("{total} kill points covered: {killed:?}");
    assert!(total >= 40, "{killed:?}");
}

// ---- repair of every install beside one it cannot go on with ------------------------

/// `sockc repair` of every install (what a udev rule or a timer runs) repairs the
/// others when one of them holds a leftover it cannot go on beside: that one is said as
/// failed (exit 3), the next one's hooks attached again. It used to stop at the first.
#[test]
fn repair_of_every_install_goes_on_past_one_it_cannot_repair() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("repall", 58);
    let bpffs = TempBpffs::new("repall");
    let a = &lab.if_a;
    let blocked = lab.rules(
        "blocked.sk",
        &format!("tc ingress on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"),
    );
    let drifted = lab.rules(
        "drifted.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    for (file, name) in [(&blocked, "a-blocked"), (&drifted, "b-drifted")] {
        let path = file.to_str().expect("UTF-8");
        let args = ["apply", path, "--name", name, "--bpffs", bpffs.path()];
        sockc(&[&args[..], &["--netns", &lab.ns_a]].concat()).ok();
    }
    lab.expect_verdicts("applied", &[(9001, false), (9002, false)]);
    // A half-written record that cannot be removed: a tmpfs on it.
    let stuck = bpffs.dir.join("sockc/a-blocked/manifest_new");
    std::fs::create_dir(&stuck).expect("a leftover");
    run(Command::new("mount")
        .args(["-t", "tmpfs", "sockc-test"])
        .arg(&stuck))
    .ok();
    let unmount = scopeguard(&stuck);
    lab.recreate_veth();
    lab.expect_verdicts("re-created", &[(9001, true), (9002, true)]);

    let out = sockc(&["repair", "--bpffs", bpffs.path()]).expect_code(3);
    assert!(
        out.stderr.contains("a-blocked: could not repair") && out.stderr.contains("manifest_new"),
        "the refused install is said:\n{out}"
    );
    assert!(
        out.stdout.contains("b-drifted: xdp on") && out.stdout.contains("attached again"),
        "the next install repaired:\n{out}"
    );
    // The refused one stays as it was: its hook still off.
    lab.expect_verdicts("repaired", &[(9001, false), (9002, true)]);
    drop(unmount);
}

/// Unmounts `path` when dropped (also when the test fails).
fn scopeguard(path: &Path) -> impl Drop + '_ {
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = run(Command::new("umount").arg(self.0));
            let _ = std::fs::remove_dir(self.0);
        }
    }
    Unmount(path)
}
