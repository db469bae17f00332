//! A review of the conntrack anchor (`sockc_runtime::conntrack_anchor`) from an
//! operator's side: the anchor's name, `inet sockc_ct_<install>`, is one anybody can
//! give a table, and sockc must never delete or replace a table it did not create.
//! The test makes such a table (a chain and a counter rule of the operator's) in the
//! install's namespace before the first apply, and checks that apply, status, repair
//! and flush leave it exactly as it was and say why conntrack was not switched on.
//!
//! Makes its own namespaces (`tests/netns`) and removes them (the table goes with
//! its namespace). Root and `nft` only; skipped otherwise.

use crate::common;
use crate::netns;

use std::process::Command;

use netns::{run, sockc, Lab};

/// `nft ARGS` in namespace `ns`, which must succeed.
fn nft(ns: &str, args: &[&str]) -> String {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "nft"]).args(args);
    let r = run(&mut c);
    assert_eq!(r.code, 0, "nft {args:?} in {ns}: {r}");
    r.stdout
}

#[test]
fn a_table_of_the_anchors_name_that_sockc_did_not_make_is_left_alone() {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft");
        return;
    }
    let lab = Lab::new("ctown", 81);
    let table = format!("sockc_ct_{}", lab.name);
    nft(&lab.ns_a, &["add", "table", "inet", &table]);
    nft(&lab.ns_a, &["add", "chain", "inet", &table, "mine"]);
    nft(
        &lab.ns_a,
        &[
            "add",
            "rule",
            "inet",
            &table,
            "mine",
            "counter",
            "comment",
            "\"operator's\"",
        ],
    );
    let before = nft(&lab.ns_a, &["list", "table", "inet", &table]);
    let file = lab.rules(
        "ct.sk",
        &format!(
            "xdp on {} {{\n    allow arp\n    allow ct state established,related\n    \
             default drop\n}}\n",
            lab.if_a
        ),
    );

    let r = lab.apply(&file, &[]);
    assert_eq!(r.code, 0, "the rules are installed all the same: {r}");
    assert_eq!(
        nft(&lab.ns_a, &["list", "table", "inet", &table]),
        before,
        "apply replaced the operator's table"
    );
    assert!(
        r.stderr.contains("sockc did not create"),
        "apply says why conntrack is not switched on:\n{r}"
    );

    let st = sockc(&["status", "--name", &lab.name, "--json"]);
    assert!(
        st.stdout.contains("sockc did not create"),
        "status names the foreign table: {st}"
    );
    let rp = sockc(&["repair", "--name", &lab.name]);
    assert!(rp.stderr.contains("sockc did not create"), "{rp}");
    sockc(&["flush", "--name", &lab.name]).ok();
    assert_eq!(
        nft(&lab.ns_a, &["list", "table", "inet", &table]),
        before,
        "repair or flush deleted the operator's table"
    );
}

/// The anchor's netlink receives have a timeout (`SO_RCVTIMEO`), and such a receive
/// fails with EINTR when the process is stopped and continued (Ctrl-Z, `fg`), with
/// no signal handler at all: an answer still to come must be waited for again, not
/// reported as the anchor's state. strace injects EINTR into each receive of
/// `sockc status` in turn; the anchor's state never says "interrupted".
#[test]
fn an_interrupted_receive_is_tried_again() {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/bin/strace").exists() {
        println!("SKIP: no strace");
        return;
    }
    let lab = Lab::new("cteintr", 83);
    let file = lab.rules(
        "ct.sk",
        &format!(
            "xdp on {} {{\n    allow ct state established\n    default allow\n}}\n",
            lab.if_a
        ),
    );
    lab.apply(&file, &[]).ok();
    let status = [netns::sockc_bin(), "status", "--name", &lab.name, "--json"];
    let mut hit = 0;
    for n in 1..=40 {
        let mut c = Command::new("strace");
        c.args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=recvfrom,recvmsg",
        ])
        .arg(format!("-einject=recvfrom,recvmsg:error=EINTR:when={n}"))
        .args(status);
        let r = run(&mut c);
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.stdout) else {
            continue;
        };
        let state = &v["installs"][0]["conntrack"]["state"];
        assert_eq!(state, "present", "EINTR at receive {n}: {r}");
        hit += 1;
    }
    assert!(hit > 0, "status never answered under strace");
    sockc(&["flush", "--name", &lab.name]).ok();
}

/// A connects to a listener in B on `port`: `Answered` when its SYN-ACK got in.
fn connect_from_a(lab: &Lab, port: u16) -> netns::Outcome {
    use std::net::{IpAddr, SocketAddr};
    let b = SocketAddr::new(IpAddr::from(lab.addr_b), port);
    let _listener = netns::tcp_listen(&lab.ns_b, b);
    netns::outcome(&netns::tcp_connect(&lab.ns_a, None, b, netns::ANSWER))
}

/// The install's `conntrack` entry in `sockc status --json`, with the exit code.
fn anchor_state(lab: &Lab) -> (i32, serde_json::Value) {
    let (r, s) = lab.status_run(&[]);
    let s = s.unwrap_or_else(|| panic!("status lists the install:\n{r}"));
    (r.code, s["conntrack"].clone())
}

/// A's ingress at XDP keeps only replies (and ARP): conntrack must be on.
fn replies_only(lab: &Lab) -> std::path::PathBuf {
    lab.rules(
        "ct.sk",
        &format!(
            "xdp on {} {{\n    allow arp\n    allow ct state established,related\n    \
             default drop\n}}\n",
            lab.if_a
        ),
    )
}

/// Issue 47, item 3, the lie: the anchor chain's `ct state new` replaced by `counter`
/// switches conntrack off (A's own connections lose their replies), and status said
/// "present" (exit 0). Status compares the chain with sockc's rule: `changed`, what
/// differs, exit 3; repair writes the rule again.
#[test]
fn an_anchor_whose_rule_was_replaced_is_drift_not_present() {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft");
        return;
    }
    let lab = Lab::new("ctlie", 84);
    let table = format!("sockc_ct_{}", lab.name);
    lab.apply(&replies_only(&lab), &[]).ok();
    assert_eq!(connect_from_a(&lab, 7210), netns::Outcome::Answered);
    nft(&lab.ns_a, &["flush", "chain", "inet", &table, "anchor"]);
    nft(
        &lab.ns_a,
        &["add", "rule", "inet", &table, "anchor", "counter"],
    );
    assert_eq!(
        connect_from_a(&lab, 7211),
        netns::Outcome::TimedOut,
        "with `counter` in place of `ct state new` conntrack is off"
    );
    let (code, c) = anchor_state(&lab);
    assert_eq!((code, c["state"].as_str()), (3, Some("changed")), "{c}");
    let said = c["differences"].to_string();
    assert!(
        said.contains("[ counter ]") && said.contains("ct state new"),
        "{c}"
    );
    let text = sockc(&["status", "--name", &lab.name]);
    assert!(text.stdout.contains("drift: conntrack anchor"), "{text}");

    let r = sockc(&["repair", "--name", &lab.name]).ok();
    assert!(r.stdout.contains("created again"), "{r}");
    let (code, c) = anchor_state(&lab);
    assert_eq!((code, c["state"].as_str()), (0, Some("present")), "{c}");
    assert_eq!(connect_from_a(&lab, 7212), netns::Outcome::Answered);
}

/// Issue 47, item 3, what is not sockc's: a base chain an administrator added
/// inside `inet sockc_ct_NAME` was deleted without a word by repair, re-apply and
/// flush (which re-created or deleted the table). Status names it (drift); repair and
/// re-apply leave the table as it is and say what is there; flush takes the install
/// off, deletes sockc's chain alone, leaves the table with the administrator's chain
/// and says so (exit 0: nothing of sockc's is left).
#[test]
fn a_chain_added_to_the_anchor_table_is_named_and_never_deleted() {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft");
        return;
    }
    let lab = Lab::new("ctadded", 85);
    let table = format!("sockc_ct_{}", lab.name);
    let file = replies_only(&lab);
    lab.apply(&file, &[]).ok();
    let chain = "{ type filter hook input priority 0; policy accept; }";
    nft(&lab.ns_a, &["add", "chain", "inet", &table, "admin", chain]);
    nft(
        &lab.ns_a,
        &[
            "add", "rule", "inet", &table, "admin", "tcp", "dport", "2222", "drop",
        ],
    );
    let admins = |lab: &Lab| nft(&lab.ns_a, &["list", "chain", "inet", &table, "admin"]);
    let before = admins(&lab);

    let (code, c) = anchor_state(&lab);
    assert_eq!((code, c["state"].as_str()), (3, Some("present")), "{c}");
    let foreign = c["foreign"].to_string();
    assert!(
        foreign.contains(&format!(
            "chain inet {table} admin (type filter hook input priority 0"
        )),
        "{c}"
    );

    // Emptied, the anchor would be re-created: not while the table is shared.
    nft(&lab.ns_a, &["flush", "chain", "inet", &table, "anchor"]);
    let r = sockc(&["repair", "--name", &lab.name]).expect_code(3);
    assert!(
        r.stderr.contains("also holds") && r.stderr.contains("admin"),
        "{r}"
    );
    assert_eq!(
        admins(&lab),
        before,
        "repair deleted the administrator's chain"
    );
    let r = lab.apply(&file, &[]).ok();
    assert!(r.stderr.contains("also holds"), "{r}");
    assert_eq!(
        admins(&lab),
        before,
        "apply deleted the administrator's chain"
    );
    let (code, c) = anchor_state(&lab);
    assert_eq!((code, c["state"].as_str()), (3, Some("changed")), "{c}");

    let r = sockc(&["flush", "--name", &lab.name]).ok();
    assert!(
        r.stderr.contains("left as it is") && r.stderr.contains("admin"),
        "{r}"
    );
    assert!(lab.status().is_none(), "the install is gone");
    assert_eq!(
        admins(&lab),
        before,
        "flush deleted the administrator's chain"
    );
    let listed = nft(&lab.ns_a, &["list", "table", "inet", &table]);
    assert!(
        !listed.contains("chain anchor"),
        "sockc's chain goes: {listed}"
    );
}

/// A flush killed right before it deletes sockc's chain from a shared anchor table
/// leaves a flush the next command finishes: the chain goes then, the
/// administrator's chain and the table stay.
#[test]
fn a_flush_killed_at_the_shared_anchor_is_finished_and_keeps_what_is_not_sockcs() {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft");
        return;
    }
    // Its flush is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("ctkshare", 89);
    let table = format!("sockc_ct_{}", lab.name);
    lab.apply(&replies_only(&lab), &[]).ok();
    nft(&lab.ns_a, &["add", "chain", "inet", &table, "admin"]);
    let flush = ["flush", "--name", &lab.name];
    let traced = netns::sockc_fault(&flush, "SOCKC_FAULT_TRACE", "1");
    // The trace ran the flush: apply again, then kill the next one at that point.
    let at = netns::point_of(&traced, "delete nft chain", 0);
    lab.apply(&replies_only(&lab), &[]).ok();
    let r = netns::sockc_fault(&flush, "SOCKC_FAULT_KILL_AT", &at);
    assert!(r.stderr.contains("fault injection: killed"), "{r}");
    assert!(
        lab.status().is_none(),
        "the next command finishes the flush"
    );
    let listed = nft(&lab.ns_a, &["list", "table", "inet", &table]);
    assert!(
        listed.contains("chain admin") && !listed.contains("chain anchor"),
        "{listed}"
    );
}
