//! The conntrack anchor (`sockc_runtime::conntrack_anchor`): `sockc apply` switches
//! connection tracking on in the install's namespace when a block tests `ct state`,
//! with an nft table `inet sockc_ct_<install>` whose one chain never runs. Each test
//! builds namespaces A and B joined by a veth (`tests/netns`) in which nothing else
//! uses conntrack, installs `allow ct state established,related` + `default drop` on
//! A's ingress with `sockc apply --netns A`, and talks from A to B.
//!
//! What is checked: A's own TCP connection gets its replies (before the anchor, every
//! lookup missed and the SYN-ACK was dropped); `sockc status` shows the table present,
//! and missing (drift, exit 3) once it is deleted behind sockc's back, when A's new
//! connections are cut off again; `sockc repair` creates it again and they work; a
//! re-apply without `ct state` deletes it, and `sockc flush` too. Deleting the table
//! and listing the namespace's tables needs `nft` (CI installs it); without it those
//! steps are skipped and said so.

use crate::common;
use crate::netns;

use std::{
    net::{IpAddr, SocketAddr},
    process::Command,
};

use netns::{accept, outcome, run, tcp_connect, tcp_exchange, tcp_listen, Lab, Outcome, ANSWER};
use serde_json::Value;

const ALLOW: &str = "allow ct state established,related";

/// `nft ARGS` in namespace `ns`, which must succeed; `None` when nft is not installed.
fn nft(ns: &str, args: &[&str]) -> Option<String> {
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft, `nft {}` not run", args.join(" "));
        return None;
    }
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "nft"]).args(args);
    let r = run(&mut c);
    assert_eq!(r.code, 0, "nft in {ns}: {r}");
    Some(r.stdout)
}

/// The anchor table's name for the lab's install.
fn table(lab: &Lab) -> String {
    format!("sockc_ct_{}", lab.name)
}

/// The `conntrack` entry of the install in `sockc status --json` (with the exit code).
fn anchor_status(lab: &Lab) -> (i32, Value) {
    let (r, s) = lab.status_run(&[]);
    let s = s.unwrap_or_else(|| panic!("status lists the install:\n{r}"));
    (r.code, s["conntrack"].clone())
}

/// A connects to a listener in B on `port`: `Answered` when its SYN-ACK got in.
fn connect_from_a(lab: &Lab, port: u16) -> Outcome {
    let b = SocketAddr::new(IpAddr::from(lab.addr_b), port);
    let listener = tcp_listen(&lab.ns_b, b);
    let r = tcp_connect(&lab.ns_a, None, b, ANSWER);
    if let Ok(mut out) = r {
        let mut acc = accept(&listener);
        tcp_exchange("A to B and back", &mut out, &mut acc, b"request from A");
        return Outcome::Answered;
    }
    outcome(&r)
}

/// A's ingress at `hook` with `ALLOW`, ARP and `default drop` (nothing else lets B's
/// packets in).
fn ct_rules(lab: &Lab, hook: &str) -> std::path::PathBuf {
    let text = format!(
        "{hook} on {} {{\n    allow arp\n    {ALLOW}\n    default drop\n}}\n",
        lab.if_a
    );
    lab.rules("ct.sk", &text)
}

#[test]
fn apply_switches_conntrack_on_so_replies_pass_at_xdp() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ctanc", 71);
    let r = lab.apply_ok(&ct_rules(&lab, "xdp"));
    // Without the anchor every lookup missed and the SYN-ACK was dropped.
    assert_eq!(
        connect_from_a(&lab, 7200),
        Outcome::Answered,
        "A's own connection"
    );
    assert!(
        r.stderr.contains("notice: conntrack switched on") && r.stderr.contains(&table(&lab)),
        "apply says what it created:\n{r}"
    );
    assert!(
        !r.stderr.contains("sockc::ct-needs-conntrack"),
        "no warning once conntrack is on:\n{r}"
    );
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c["state"].as_str()), (0, Some("present")), "{c}");
    assert_eq!(c["table"], format!("inet {}", table(&lab)));
    if let Some(tables) = nft(&lab.ns_a, &["list", "tables"]) {
        assert!(tables.contains(&table(&lab)), "{tables}");
    }
    if let Some(t) = nft(&lab.ns_a, &["list", "table", "inet", &table(&lab)]) {
        let mark = format!("comment \"sockc conntrack anchor of install {}\"", lab.name);
        assert!(t.contains(&mark), "the table is marked as sockc's: {t}");
    }

    // Deleted behind sockc's back: conntrack is off again, status says so.
    if nft(&lab.ns_a, &["delete", "table", "inet", &table(&lab)]).is_none() {
        return;
    }
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c["state"].as_str()), (3, Some("missing")), "{c}");
    assert_eq!(
        connect_from_a(&lab, 7201),
        Outcome::TimedOut,
        "without conntrack A's SYN-ACK is not found and dropped"
    );

    // Repair creates it again.
    let r = netns::sockc(&["repair", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("created again"), "{r}");
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c["state"].as_str()), (0, Some("present")), "{c}");
    assert_eq!(
        connect_from_a(&lab, 7202),
        Outcome::Answered,
        "after repair"
    );

    // Flush deletes it.
    netns::sockc(&["flush", "--name", &lab.name]).ok();
    let tables = nft(&lab.ns_a, &["list", "tables"]).unwrap_or_default();
    assert!(!tables.contains("sockc_ct_"), "flush left {tables}");
}

#[test]
fn a_reapply_without_ct_state_deletes_the_anchor() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ctanre", 72);
    lab.apply_ok(&ct_rules(&lab, "tc ingress"));
    let (_, c) = anchor_status(&lab);
    assert_eq!(c["state"], "present", "{c}");
    let plain = lab.rules(
        "plain.sk",
        &format!("tc ingress on {} {{\n    default allow\n}}\n", lab.if_a),
    );
    let r = lab.apply_ok(&plain);
    assert!(
        r.stderr.contains("deleted"),
        "apply says it deleted the table:\n{r}"
    );
    let (_, c) = anchor_status(&lab);
    assert!(
        c.is_null(),
        "no anchor shown when no rule tests ct state: {c}"
    );
    if let Some(tables) = nft(&lab.ns_a, &["list", "tables"]) {
        assert!(!tables.contains(&table(&lab)), "{tables}");
    }
}

/// A netfilter block reads the state conntrack gave the packet; its BPF link does not
/// switch conntrack on (once the anchor is deleted, every packet is `invalid`), so
/// the anchor is made for it too, and an answer to A's own connection is
/// `established`.
#[test]
fn a_netfilter_block_with_ct_state_gets_the_anchor_too() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ctannf", 73);
    let text = format!("netfilter input {{\n    {ALLOW}\n    default drop\n}}\n");
    lab.apply_ok(&lab.rules("nf.sk", &text));
    let (_, c) = anchor_status(&lab);
    assert_eq!(c["state"], "present", "{c}");
    assert_eq!(
        connect_from_a(&lab, 7203),
        Outcome::Answered,
        "A's own connection"
    );
    if nft(&lab.ns_a, &["delete", "table", "inet", &table(&lab)]).is_none() {
        return;
    }
    assert_eq!(
        connect_from_a(&lab, 7204),
        Outcome::TimedOut,
        "with the netfilter link alone conntrack is off: every packet is `invalid`"
    );
}

/// `sockc ARGS` with every fault point traced, killed (SIGKILL) at point `kill_at`
/// if given; the names of the points it passed.
fn traced(args: &[&str], kill_at: Option<usize>) -> (netns::Run, Vec<String>) {
    let mut c = Command::new(netns::sockc_bin());
    c.args(args).env("SOCKC_FAULT_TRACE", "1");
    if let Some(n) = kill_at {
        c.env("SOCKC_FAULT_KILL_AT", n.to_string());
    }
    let r = run(&mut c);
    let points = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("fault point "))
        .map(|l| l.split_once(": ").map_or(l, |(_, what)| what).to_string())
        .collect();
    (r, points)
}

/// The number (from 1) of the first point whose name starts with `what`.
#[track_caller]
fn point_of(points: &[String], what: &str) -> usize {
    1 + points
        .iter()
        .position(|p| p.starts_with(what))
        .unwrap_or_else(|| panic!("no fault point `{what}` in {points:?}"))
}

/// A sockc killed right before it creates the anchor leaves an install whose status
/// says it is missing and that a re-run completes; one killed right before a flush
/// deletes it leaves a flush the next command finishes, table included.
#[test]
fn a_kill_at_the_anchor_leaves_nothing_a_rerun_or_flush_cannot_clean() {
    if !common::kernel() {
        return;
    }
    // Its install is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("ctankill", 74);
    let file = ct_rules(&lab, "xdp");
    let apply = lab.apply_args(&file, &lab.name, &[]);
    let flush = ["flush", "--name", &lab.name];
    let (r, points) = traced(&apply, None);
    assert_eq!(r.code, 0, "{r}");
    let create = point_of(&points, "create nft table");
    let (r, points) = traced(&flush, None);
    assert_eq!(r.code, 0, "{r}");
    let delete = point_of(&points, "delete nft table");

    let (r, _) = traced(&apply, Some(create));
    assert!(r.stderr.contains("fault injection: killed"), "{r}");
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c["state"].as_str()), (3, Some("missing")), "{c}");
    lab.apply_ok(&file);
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c["state"].as_str()), (0, Some("present")), "{c}");

    let (r, _) = traced(&flush, Some(delete));
    assert!(r.stderr.contains("fault injection: killed"), "{r}");
    assert!(
        lab.status().is_none(),
        "the next command finishes the flush"
    );
    if let Some(tables) = nft(&lab.ns_a, &["list", "tables"]) {
        assert!(!tables.contains("sockc_ct_"), "the flush left {tables}");
    }
}

/// When the table cannot be made — here another program owns a table of that name
/// (`flags owner`: only its socket may change it; sockc leaves a table it did not make
/// alone anyway) — apply keeps the warning and says why, status reports the anchor
/// missing, and once the owner is gone repair makes it.
#[test]
fn apply_warns_with_the_reason_when_the_anchor_cannot_be_made() {
    use std::{io::Write, process::Stdio};
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ctanfail", 75);
    if nft(&lab.ns_a, &["list", "tables"]).is_none() {
        return;
    }
    // `nft -i` keeps its socket, and so its ownership, while its input is open.
    let mut owner = Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "nft", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("nft -i");
    let mut input = owner.stdin.take().expect("nft's input");
    writeln!(input, "add table inet {} {{ flags owner; }}", table(&lab)).expect("to nft");
    let start = std::time::Instant::now();
    while !nft(&lab.ns_a, &["list", "tables"])
        .unwrap_or_default()
        .contains(&table(&lab))
    {
        assert!(start.elapsed() < ANSWER, "nft -i made no table");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = lab.apply_ok(&ct_rules(&lab, "xdp"));
    drop(input);
    let _ = owner.wait();
    assert!(
        r.stderr.contains("sockc::ct-needs-conntrack")
            && r.stderr.contains("could not be switched on")
            && r.stderr.contains("sockc did not create"),
        "apply warns and says why:\n{r}"
    );
    assert!(!r.stderr.contains("notice: conntrack switched on"), "{r}");
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c["state"].as_str()), (3, Some("missing")), "{c}");
    let r = netns::sockc(&["repair", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("created again"), "{r}");
    assert_eq!(
        connect_from_a(&lab, 7205),
        Outcome::Answered,
        "after repair"
    );
}

/// A re-apply that stops testing `ct state`, killed right before it deletes the
/// anchor, leaves a table no rule needs: status says so as drift (exit 3) and repair
/// deletes it.
#[test]
fn a_left_over_anchor_is_drift_that_repair_deletes() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ctanleft", 240);
    lab.apply_ok(&ct_rules(&lab, "xdp"));
    let plain = lab.rules(
        "plain.sk",
        &format!("xdp on {} {{\n    default allow\n}}\n", lab.if_a),
    );
    let apply = lab.apply_args(&plain, &lab.name, &[]);
    let (r, points) = traced(&apply, None);
    assert_eq!(r.code, 0, "{r}");
    let delete = point_of(&points, "delete nft table");
    lab.apply_ok(&ct_rules(&lab, "xdp"));
    let (r, _) = traced(&apply, Some(delete));
    assert!(r.stderr.contains("fault injection: killed"), "{r}");
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c["state"].as_str()), (3, Some("left over")), "{c}");
    let text = netns::sockc(&["status", "--name", &lab.name]);
    assert!(text.stdout.contains("left over"), "{text}");
    let r = netns::sockc(&["repair", "--name", &lab.name]);
    assert_eq!(r.code, 0, "{r}");
    let (code, c) = anchor_status(&lab);
    assert_eq!((code, c.is_null()), (0, true), "{c}");
    if let Some(tables) = nft(&lab.ns_a, &["list", "tables"]) {
        assert!(!tables.contains(&table(&lab)), "{tables}");
    }
}
