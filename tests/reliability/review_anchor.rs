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
