//! An attacker's review of netfilter priorities (issue 47, item 7): a netfilter block
//! runs at one hook and priority, and an nft chain added later at the same priority
//! runs first — the kernel refuses a second BPF hook at a priority, never an nft
//! chain, and runs the last registered of two equal priorities first. Measured: such
//! a chain dropped 10 datagrams the block should have counted (its counter stayed 0),
//! and `status` said nothing.
//!
//! What is checked: `status` (text and `--json`, against the schema) lists the chain
//! at the block's hook and priority and says it runs first, lists no chain at another
//! priority, and lists a BPF netfilter link at that priority in another namespace as
//! such. Makes its own namespaces (`tests/netns`) and removes them; root and `nft`
//! only, skipped otherwise.

use crate::common;
use crate::netns;

use std::{os::fd::AsFd, process::Command};

use netns::{in_netns, run, sockc, Lab};
use serde_json::Value;
use sockc_runtime::sys;

/// `nft ARGS` in namespace `ns`, which must succeed.
fn nft(ns: &str, args: &[&str]) {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "nft"]).args(args);
    let r = run(&mut c);
    assert_eq!(r.code, 0, "nft {args:?} in {ns}: {r}");
}

/// The install's `shared_priorities` of kind `kind` in `sockc status --json`
/// (checked against the schema; status exits 0: sharing is no drift). Other tests'
/// netfilter links, in their own namespaces, may be listed beside this one's for a
/// moment (before their install pins them), and are left out here.
fn shared(lab: &Lab, kind: &str) -> Vec<Value> {
    let r = sockc(&["status", "--name", &lab.name, "--json"]).ok();
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON");
    common::schema::Schemas::load().validate("status", &v);
    let all = v["installs"][0]["shared_priorities"].as_array().cloned();
    let mine = |n: &Value| {
        n["kind"] == kind && (kind != "bpf link" || n["what"].to_string().contains("(neighbour)"))
    };
    all.unwrap_or_default().into_iter().filter(mine).collect()
}

/// A netfilter program that accepts everything, linked at input priority 10 for
/// IPv4 in namespace `ns` (the link lives while the descriptor does).
fn foreign_link(ns: &str) -> std::os::fd::OwnedFd {
    in_netns(ns, || {
        use aya_obj::generated::bpf_attach_type::BPF_NETFILTER;
        use aya_obj::generated::bpf_prog_type::BPF_PROG_TYPE_NETFILTER;
        let prog = netns::stranger(BPF_PROG_TYPE_NETFILTER, BPF_NETFILTER, "neighbour", 1);
        let (pf, input) = (aya_obj::generated::NFPROTO_IPV4, 1);
        sys::link_create_netfilter(prog.as_fd(), pf, input, 10).expect("link it")
    })
}

#[test]
fn a_chain_at_a_blocks_priority_runs_first_and_status_says_so() {
    if !common::kernel() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() {
        println!("SKIP: no nft");
        return;
    }
    let lab = Lab::new("nfprio", 88);
    let file = lab.rules(
        "nf.sk",
        "netfilter input {\n    count udp to *:9001\n    default allow\n}\n",
    );
    lab.apply_ok(&file);
    assert!(
        shared(&lab, "nft chain").is_empty(),
        "no chain at input priority 10"
    );

    let first = "{ type filter hook input priority 10; policy accept; }";
    nft(&lab.ns_a, &["add", "table", "inet", "atk"]);
    nft(&lab.ns_a, &["add", "chain", "inet", "atk", "first", first]);
    nft(
        &lab.ns_a,
        &[
            "add", "rule", "inet", "atk", "first", "udp", "dport", "9001", "drop",
        ],
    );
    let other = "{ type filter hook input priority 0; policy accept; }";
    nft(&lab.ns_a, &["add", "chain", "inet", "atk", "zero", other]);
    assert_eq!(lab.probe(&[9001], 10)[&9001], 0, "the chain drops them");
    let counted = lab.stats()["rules"][0]["packets"].clone();
    assert_eq!(
        counted, 0,
        "the chain ran first: sockc's block never saw them"
    );

    let listed = shared(&lab, "nft chain");
    assert_eq!(
        listed.len(),
        1,
        "only the chain at priority 10: {listed:#?}"
    );
    let n = &listed[0];
    assert_eq!(n["kind"], "nft chain", "{n}");
    assert_eq!(n["hook"], "netfilter input priority 10", "{n}");
    assert_eq!(n["order"], "before", "{n}");
    assert_eq!(n["families"], serde_json::json!(["ipv4", "ipv6"]), "{n}");
    let what = n["what"].as_str().unwrap_or_default();
    assert!(
        what.starts_with("inet atk first (type filter hook input priority 10"),
        "{n}"
    );
    let text = sockc(&["status", "--name", &lab.name]).ok();
    assert!(
        text.stdout.contains("also runs nft chain inet atk first")
            && text.stdout.contains("runs before sockc's block"),
        "{text}"
    );

    // A BPF link at that priority can only be another namespace's while sockc's link
    // is here (the kernel refuses a second one): listed as such.
    let link = foreign_link(&lab.ns_b);
    let listed = shared(&lab, "bpf link");
    let bpf = listed.first();
    let bpf = bpf.unwrap_or_else(|| panic!("the other namespace's link: {listed:#?}"));
    assert_eq!(bpf["order"], "other namespace", "{bpf}");
    assert_eq!(bpf["families"], serde_json::json!(["ipv4"]), "{bpf}");
    drop(link);
}
