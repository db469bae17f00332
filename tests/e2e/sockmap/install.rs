//! The install layer of sockmap blocks: an emptied slot, a detached dispatcher and a
//! detached cgroup link are drift that `sockc repair` undoes; `kill -9` at every step
//! of a first apply, a re-apply and a flush leaves what `status` says, and sockets get
//! exactly that.

use super::*;

/// `sockc ARGS` with extra environment.
fn sockc_env(args: &[&str], env: &[(&str, &str)]) -> netns::Run {
    let mut cmd = std::process::Command::new(netns::sockc_bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// The sock_ops programs attached to the cgroup itself (bpftool, not sockc).
fn cgroup_sock_ops(cg: &Cgroup) -> Vec<u64> {
    let out = run(std::process::Command::new("bpftool").args(["cgroup", "list", &cg.path, "-j"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["attach_type"] == "cgroup_sock_ops")
                .filter_map(|p| p["id"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// What a client of the cgroup's send to 192.0.2.1 and 198.51.100.1 gets, and whether
/// a connection in the cgroup is bypassed: (EACCES to 192.0.2.1, EACCES to
/// 198.51.100.1, bypassed).
fn behaviour(cg: &Cgroup, lab: &Lab) -> (bool, bool, bool) {
    let refused = |to: &str| {
        let server = Peer::listen(None, &lab.ns_a, addr(&format!("{to}:0")));
        let mut client = Peer::connect(Some(&cg.path), &lab.ns_a, server.listening.unwrap());
        client.cmd("send x").starts_with("error 13 ")
    };
    let (mut client, mut server) = pair(Some(&cg.path), &lab.ns_a, addr("127.0.0.1:0"));
    let x = exchange(&mut client, &mut server, 100_000, "mixed");
    x.assert_intact(100_000, "a connection of the cgroup");
    let bypassed = client.data_segs_out() == 0;
    (refused("192.0.2.1"), refused("198.51.100.1"), bypassed)
}

/// After a kill: status exits 0 and names a file (or nothing), and the sockets of the
/// cgroup get exactly what that file says; a sock_ops program is on the cgroup exactly
/// when something is installed.
#[track_caller]
fn check_truth(
    cg: &Cgroup,
    lab: &Lab,
    files: &[(&std::path::Path, (bool, bool, bool))],
    when: &str,
) {
    let (r, st) = lab.status_run(&[]);
    let want = match &st {
        None => {
            assert!(r.stderr.contains("nothing is installed"), "{when}:\n{r}");
            assert!(
                cgroup_sock_ops(cg).is_empty(),
                "{when}: sock_ops left on the cgroup"
            );
            (false, false, false)
        }
        Some(st) => {
            assert_eq!(r.code, 0, "{when}: status after recovery:\n{r}");
            assert_eq!(cgroup_sock_ops(cg).len(), 1, "{when}: {st:#}");
            let file = st["source_file"].as_str().unwrap();
            files
                .iter()
                .find(|(f, _)| f.to_str() == Some(file))
                .unwrap_or_else(|| panic!("{when}: status names {file}"))
                .1
        }
    };
    assert_eq!(behaviour(cg, lab), want, "{when}: {st:#?}");
}

#[test]
fn drift_is_named_and_repair_puts_every_program_back() {
    if !common::kernel() {
        return;
    }
    let cg = Cgroup::new("smdrift");
    let lab = Lab::new("smdrift", 160);
    let rules = format!(
        "{}sockmap receive cgroup \"{}\" {{\n    default allow\n}}\n",
        block(&cg, &["drop to 192.0.2.0/24", "redirect local"], "allow"),
        cg.path
    );
    lab.apply_ok(&lab.rules("r.sk", &rules));
    ip(&["-n", &lab.ns_a, "addr", "add", "192.0.2.1/24", "dev", "lo"]);
    ip(&[
        "-n",
        &lab.ns_a,
        "addr",
        "add",
        "198.51.100.1/24",
        "dev",
        "lo",
    ]);
    assert_eq!(behaviour(&cg, &lab), (true, false, true));
    let st = lab.status_attached();
    let pins: Vec<String> = st["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["link"].as_str().unwrap().to_string())
        .collect();
    // Break each attachment by hand: the slot emptied, the dispatcher detached, the
    // cgroup link detached.
    let slot = pins.iter().find(|p| p.contains("keep_msgv_")).unwrap();
    run(std::process::Command::new("bpftool")
        .args(["map", "delete", "pinned", slot, "key", "0", "0", "0", "0"]))
    .ok();
    let socks = pins.iter().find(|p| p.contains("keep_socks_")).unwrap();
    let dispatcher = st["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hook"] == "sk_msg dispatcher")
        .unwrap()["prog_id"]
        .as_u64()
        .unwrap();
    run(std::process::Command::new("bpftool").args([
        "prog",
        "detach",
        "id",
        &dispatcher.to_string(),
        "msg_verdict",
        "pinned",
        socks,
    ]))
    .ok();
    let link = pins.iter().find(|p| p.contains("link_sockops")).unwrap();
    let link_id = {
        let out =
            run(std::process::Command::new("bpftool").args(["link", "show", "pinned", link, "-j"]));
        serde_json::from_str::<Value>(&out.stdout).unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    run(std::process::Command::new("bpftool").args(["link", "detach", "id", &link_id.to_string()]))
        .ok();
    let (r, st) = lab.status_run(&[]);
    assert_eq!(r.code, 3, "drift is exit 3:\n{r}");
    let drift: Vec<String> = st.unwrap()["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    assert_eq!(drift.len(), 3, "{drift:#?}");
    assert!(drift
        .iter()
        .any(|d| d.starts_with("sockmap cgroup") && d.contains("holds no program")));
    assert!(drift
        .iter()
        .any(|d| d.starts_with("sk_msg dispatcher") && d.contains("holds no program")));
    assert!(drift
        .iter()
        .any(|d| d.starts_with("sock_ops") && d.contains("detached")));
    sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]).ok();
    lab.status_attached();
    assert_eq!(behaviour(&cg, &lab), (true, false, true), "repaired");
}

#[test]
fn kill_at_every_step_of_apply_reapply_and_flush_converges() {
    if !common::kernel() {
        return;
    }
    // Its install is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let cg = Cgroup::new("smkill");
    let lab = Lab::new("smkill", 161);
    ip(&["-n", &lab.ns_a, "addr", "add", "192.0.2.1/24", "dev", "lo"]);
    ip(&[
        "-n",
        &lab.ns_a,
        "addr",
        "add",
        "198.51.100.1/24",
        "dev",
        "lo",
    ]);
    let old = lab.rules(
        "old.sk",
        &block(&cg, &["drop to 192.0.2.0/24", "redirect local"], "allow"),
    );
    let new = lab.rules(
        "new.sk",
        &format!(
            "{}sockmap receive cgroup \"{}\" {{\n    default allow\n}}\n",
            block(&cg, &["drop to 198.51.100.0/24", "redirect local"], "allow"),
            cg.path
        ),
    );
    let files = [
        (old.as_path(), (true, false, true)),
        (new.as_path(), (false, true, true)),
    ];
    let args = |f: &std::path::PathBuf| -> Vec<String> {
        lab.apply_args(f, &lab.name, &[])
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let flush = ["flush", "--name", &lab.name, "--bpffs", BPFFS];
    let steps = |a: &[String]| -> usize {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        sockc_env(&a, &[("SOCKC_FAULT_TRACE", "1")])
            .ok()
            .stderr
            .lines()
            .filter(|l| l.starts_with("fault point "))
            .count()
    };
    let kill = |a: &[String], n: usize| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = sockc_env(&a, &[("SOCKC_FAULT_KILL_AT", &n.to_string())]);
        assert_eq!(r.code, -1, "killed at {n}:\n{r}");
    };
    let mut killed = 0;
    // First applies.
    let first = steps(&args(&old));
    sockc(&flush).ok();
    for n in 1..=first {
        kill(&args(&old), n);
        check_truth(
            &cg,
            &lab,
            &files,
            &format!("first apply killed at step {n}"),
        );
        lab.apply_ok(&old);
        sockc(&flush).ok();
        killed += 1;
    }
    // Re-applies (a receive block added, the drop moved).
    lab.apply_ok(&old);
    let again = steps(&args(&new));
    for n in 1..=again {
        lab.apply_ok(&old);
        kill(&args(&new), n);
        check_truth(&cg, &lab, &files, &format!("re-apply killed at step {n}"));
        lab.apply_ok(&new);
        lab.status_attached();
        killed += 1;
    }
    // Flushes.
    lab.apply_ok(&new);
    let flushing: Vec<String> = flush.iter().map(|s| s.to_string()).collect();
    let out = steps(&flushing);
    for n in 1..=out {
        lab.apply_ok(&new);
        kill(&flushing, n);
        check_truth(&cg, &lab, &files, &format!("flush killed at step {n}"));
        sockc(&flush);
        killed += 1;
    }
    assert!(cgroup_sock_ops(&cg).is_empty());
    let dir = std::path::Path::new(BPFFS).join("sockc").join(&lab.name);
    assert!(!dir.exists(), "nothing of the install is left");
    println!("killed {killed} times (first apply {first}, re-apply {again}, flush {out} steps)");
}
