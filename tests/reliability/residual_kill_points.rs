//! The residual (docs/import.md, "The residual") under kill -9: an install whose
//! rule file `sockc import` wrote from an nft ruleset with a rule sockc runs and rules
//! that stay in netfilter, applied first, re-applied with another ruleset (its
//! residual changed), flushed, and repaired after its residual table was deleted by
//! hand — each command killed (SIGKILL,
//! `SOCKC_FAULT_KILL_AT=N`) at every one of its fault points
//! (`runtime/src/fault.rs`), the residual's own steps among them.
//!
//! After each kill, the next command (`status`) finishes or undoes the interrupted
//! work, and then:
//! * **the kernel holds what `status` says**: the residual's tables and the glue table
//!   exist exactly when an install is listed, and `status` reports no drift (the
//!   residual `present`);
//! * **traffic follows it**: UDP from B to four ports of A arrives exactly as the
//!   ruleset `status` names decides (the pair — sockc's block and its residual — is
//!   the original), or all of it with nothing installed;
//! * the command run again converges, and **`flush` then leaves no table of sockc's**
//!   in the namespace.
//!
//! A killed `repair` may leave the residual as missing as it found it (that is the
//! drift it repairs): after it the test checks only that `status` answers, and that
//! `repair` run again brings back the residual and the ruleset's verdicts.
//!
//! Kernel test: root, `nft`; without root it prints `SKIP` and passes, unless
//! `SOCKC_KERNEL_TESTS=require`.

use std::{path::PathBuf, process::Command};

use crate::{
    common,
    netns::{run, sockc, sockc_bin, Lab, Run, BPFFS},
};

/// The first ruleset: 7001 accepted by a rule sockc runs, 7002 by one that stays in
/// netfilter (`meta pkttype` is not in the language; a probe from the other namespace
/// is unicast to this host: `host`), 7003 dropped, the rest by the policy.
const OLD: &str = "table inet filter {
\tchain input {
\t\ttype filter hook input priority 0; policy drop;
\t\tiif lo accept
\t\tudp dport 7001 accept
\t\tudp dport 7002 meta pkttype host accept
\t\tudp dport 7003 drop
\t}
}
";

/// The second: 7001 dropped by sockc, 7004 accepted by the residual.
const NEW: &str = "table inet filter {
\tchain input {
\t\ttype filter hook input priority 0; policy drop;
\t\tiif lo accept
\t\tudp dport 7001 drop
\t\tudp dport 7004 meta pkttype host accept
\t}
}
";

const PORTS: [u16; 4] = [7001, 7002, 7003, 7004];

/// What traffic sees with each installed file, or nothing installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Old,
    New,
    Nothing,
}

impl Variant {
    fn verdicts(self) -> Vec<(u16, bool)> {
        let pass: [bool; 4] = match self {
            Variant::Old => [true, true, false, false],
            Variant::New => [false, false, false, true],
            Variant::Nothing => [true; 4],
        };
        PORTS.iter().copied().zip(pass).collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Cmd {
    FirstApply,
    Reapply,
    Flush,
    Repair,
}

struct World {
    lab: Lab,
    old: PathBuf,
    new: PathBuf,
}

/// `sockc import` of `text` into the lab's directory as `NAME.sk` (and its residual).
fn import(lab: &Lab, name: &str, text: &str) -> PathBuf {
    let src = lab.rules(&format!("{name}.nft"), text);
    let sk = lab.dir.join(format!("{name}.sk"));
    let r = sockc(&["import", src.to_str().unwrap(), "-o", sk.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r}");
    let written = std::fs::read_to_string(&sk).unwrap();
    assert!(written.contains("\nresidual nft file "), "{written}");
    sk
}

fn args(w: &World, cmd: Cmd) -> Vec<String> {
    let file = match cmd {
        Cmd::FirstApply => &w.old,
        Cmd::Reapply => &w.new,
        Cmd::Flush => {
            return ["flush", "--name", &w.lab.name, "--bpffs", BPFFS]
                .map(String::from)
                .to_vec()
        }
        Cmd::Repair => {
            return ["repair", "--name", &w.lab.name, "--bpffs", BPFFS]
                .map(String::from)
                .to_vec()
        }
    };
    w.lab
        .apply_args(file, &w.lab.name, &[])
        .into_iter()
        .map(String::from)
        .collect()
}

/// The state a command starts from: nothing (a first apply), the old file (a
/// re-apply or a flush), the old file with its residual table deleted (a repair).
fn prepare(w: &World, cmd: Cmd) {
    let _ = sockc(&["flush", "--name", &w.lab.name, "--bpffs", BPFFS]);
    if !matches!(cmd, Cmd::FirstApply) {
        w.lab.apply_ok(&w.old);
    }
    if matches!(cmd, Cmd::Repair) {
        let table = format!("sockc_{}_filter", w.lab.name);
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &w.lab.ns_a,
                "nft",
                "delete",
                "table",
                "inet",
                &table,
            ])
            .output()
            .expect("nft delete table");
        assert!(out.status.success(), "delete {table}: {out:?}");
    }
}

fn traced(args: &[String]) -> Vec<String> {
    let r = run(Command::new(sockc_bin())
        .args(args)
        .env("SOCKC_FAULT_TRACE", "1"));
    assert_eq!(r.code, 0, "{r}");
    r.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("fault point "))
        .map(|l| l.split_once(": ").map_or(l, |(_, what)| what).to_string())
        .collect()
}

/// The nft tables of namespace A whose names are sockc's.
fn sockc_tables(lab: &Lab) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "nft", "list", "tables"])
        .output()
        .expect("nft list tables");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" sockc_"))
        .map(str::to_string)
        .collect()
}

/// Which file `status` says is installed (after it recovered what the kill left).
fn status_variant(w: &World, when: &str) -> Variant {
    let Some(st) = w.lab.status() else {
        return Variant::Nothing;
    };
    let drift = st["drift"].as_array().cloned().unwrap_or_default();
    assert!(drift.is_empty(), "{when}: drift {drift:?}\n{st:#}");
    assert_eq!(st["residual"]["state"], "present", "{when}: {st:#}");
    let source = st["source_file"].as_str().unwrap_or_default();
    if source.ends_with("old.sk") {
        Variant::Old
    } else if source.ends_with("new.sk") {
        Variant::New
    } else {
        panic!("{when}: status names {source}")
    }
}

fn check_truth(w: &World, when: &str) -> Variant {
    let v = status_variant(w, when);
    let tables = sockc_tables(&w.lab);
    let residual = format!("sockc_{}_filter", w.lab.name);
    let glue = format!("sockc_glue_{}", w.lab.name);
    let has = |t: &str| tables.iter().any(|l| l.ends_with(&format!(" {t}")));
    let installed = v != Variant::Nothing;
    assert_eq!(
        has(&residual),
        installed,
        "{when}: {v:?}, tables {tables:?}"
    );
    assert_eq!(has(&glue), installed, "{when}: {v:?}, tables {tables:?}");
    w.lab
        .expect_verdicts(&format!("{when} ({v:?})"), &v.verdicts());
    v
}

fn kill_once(w: &World, cmd: Cmd, n: usize, steps: &[String]) {
    let when = format!("{cmd:?} killed at {n}: {}", steps[n - 1]);
    prepare(w, cmd);
    let a = args(w, cmd);
    let r: Run = run(Command::new(sockc_bin())
        .args(&a)
        .env("SOCKC_FAULT_KILL_AT", n.to_string()));
    assert!(
        r.stderr.contains("fault injection: killed at point"),
        "{when}: not killed\n{r}"
    );
    if matches!(cmd, Cmd::Repair) {
        let st = sockc(&["status", "--name", &w.lab.name, "--bpffs", BPFFS]);
        assert!(st.code == 0 || st.code == 3, "{when}: status\n{st}");
        let again = run(Command::new(sockc_bin()).args(&a));
        assert_eq!(again.code, 0, "{when}: run again\n{again}");
        assert_eq!(check_truth(w, &format!("{when}, run again")), Variant::Old);
        let _ = sockc(&["flush", "--name", &w.lab.name, "--bpffs", BPFFS]);
        let left = sockc_tables(&w.lab);
        assert!(left.is_empty(), "{when}: flush left {left:?}");
        return;
    }
    let v = check_truth(w, &when);
    if matches!(cmd, Cmd::Flush) {
        // Once a flush began, status never brings the install back as it was: it is
        // either still the old one (not yet changed) or gone.
        assert!(
            matches!(v, Variant::Old | Variant::Nothing),
            "{when}: {v:?}"
        );
    }
    let again = run(Command::new(sockc_bin()).args(&a));
    assert!(
        again.code == 0 || (matches!(cmd, Cmd::Flush) && v == Variant::Nothing),
        "{when}: run again\n{again}"
    );
    let done = match cmd {
        Cmd::FirstApply => Variant::Old,
        Cmd::Reapply => Variant::New,
        Cmd::Flush => Variant::Nothing,
        Cmd::Repair => unreachable!("checked above"),
    };
    assert_eq!(check_truth(w, &format!("{when}, run again")), done);
    let _ = sockc(&["flush", "--name", &w.lab.name, "--bpffs", BPFFS]);
    let left = sockc_tables(&w.lab);
    assert!(left.is_empty(), "{when}: flush left {left:?}");
}

#[test]
fn residual_steps_killed_at_every_point_leave_the_truth_and_nothing_behind() {
    if !common::kernel() {
        return;
    }
    // The install is left interrupted on purpose after each kill.
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("resid", 177);
    let old = import(&lab, "old", OLD);
    let new = import(&lab, "new", NEW);
    let w = World { lab, old, new };
    // The pair decides as the ruleset, before any kill.
    w.lab.apply_ok(&w.old);
    assert_eq!(check_truth(&w, "applied"), Variant::Old);
    w.lab.apply_ok(&w.new);
    assert_eq!(check_truth(&w, "re-applied"), Variant::New);
    let mut covered = 0;
    let mut residual_points = 0;
    let mut repair_points = 0;
    for cmd in [Cmd::FirstApply, Cmd::Reapply, Cmd::Flush, Cmd::Repair] {
        prepare(&w, cmd);
        let steps = traced(&args(&w, cmd));
        residual_points += steps.iter().filter(|s| s.starts_with("residual")).count();
        if matches!(cmd, Cmd::Repair) {
            repair_points = steps.iter().filter(|s| s.starts_with("residual")).count();
        }
        for n in 1..=steps.len() {
            kill_once(&w, cmd, n, &steps);
            covered += 1;
        }
    }
    println!("{covered} kill points covered, {residual_points} of them the residual's");
    assert!(
        residual_points >= 4,
        "the residual's steps pass fault points"
    );
    assert!(
        repair_points >= 1,
        "repair's reinstall of the residual passes a fault point"
    );
}
