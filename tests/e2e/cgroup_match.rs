//! `cgroup "PATH"` matches on real traffic (docs/language.md, "Cgroup of the socket"):
//! processes (`sockc-peer udp`) in cgroups the test makes, P/A/child and P/B, send UDP datagrams over loopback in the lab's namespace A.
//!
//! What is checked: at `netfilter output` (the socket read through BTF as xt_cgroup
//! reads it) `drop ... cgroup "A"` refuses the datagrams of the process in A/child
//! (`sendto()` fails with EPERM) and lets B's through, and `count ... cgroup !"A"`
//! counts B's only; at `tc egress on lo` (`bpf_skb_ancestor_cgroup_id`) the same
//! drop loses A/child's datagram and passes B's; in a `cgroup connect` block on their
//! common parent (`bpf_get_current_ancestor_cgroup_id`) A/child's UDP `connect()` is
//! refused with EPERM and B's is not. A removed and made again under the
//! running install (a restarted unit's cgroup): `status` reports the stale id as
//! drift (exit 3) and the new A/child's traffic is not matched until `repair` writes
//! the new id, after which it is dropped again. An apply naming a cgroup that is not
//! there fails (exit 3, the path named) with nothing installed. A process 1, 32, 33
//! and 40 levels below the named cgroup is in it at netfilter output (as for
//! xt_cgroup), and none of them matches `cgroup !"A"`.
//!
//! Root only; skipped otherwise (see `tests/common`).

use std::net::SocketAddr;

use crate::common;
use crate::netns;
use crate::sockmap::peer::Peer;

use netns::{sockc, Cgroup, Lab, BPFFS};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn rules(parent: &str, a: &str) -> String {
    format!(
        "netfilter output {{\n    drop udp to 127.0.0.1:7210 cgroup \"{a}\"\n    count udp to \
         127.0.0.1:7211 cgroup !\"{a}\"\n    default allow\n}}\ntc egress on lo {{\n    drop udp \
         to 127.0.0.1:7212 cgroup \"{a}\"\n    default allow\n}}\ncgroup connect \"{parent}\" {{\n    \
         drop udp to 127.0.0.1:7213 cgroup \"{a}\"\n    default allow\n}}\n"
    )
}

/// Whether `peer`'s UDP `connect()` to 127.0.0.1:7213 was refused with EPERM.
fn connect_refused(peer: &mut Peer) -> bool {
    let out = peer.cmd("call connect udp 127.0.0.1:7213");
    assert!(
        out.starts_with("ok") || out.starts_with("error "),
        "connect: {out}"
    );
    out.starts_with("error 1 ")
}

/// Whether `peer`'s datagram to `port` was refused with EPERM.
fn eperm(peer: &mut Peer, port: u16) -> bool {
    let out = peer.cmd(&format!("sendto 127.0.0.1:{port} ping"));
    assert!(
        out.starts_with("ok ") || out.starts_with("error "),
        "sendto {port}: {out}"
    );
    out.starts_with("error 1 ")
}

/// The packet count of the rule written `text` in `sockc stats --json`.
fn packets(stats: &serde_json::Value, text: &str) -> u64 {
    let rules = stats["rules"].as_array().expect("rules");
    let hit = rules.iter().find(|r| r["text"] == text);
    hit.and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no rule `{text}` in {stats:#}"))
}

#[test]
fn a_process_below_the_named_cgroup_is_matched_and_one_elsewhere_is_not() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgmatch", 197);
    let ns = lab.ns_a.clone();
    let parent = Cgroup::new("cgmatch");
    let a = parent.child("a");
    let child = a.child("child");
    let b = parent.child("b");
    let mut inside = Peer::udp(Some(&child.path), &ns, addr("127.0.0.1:0"));
    let mut other = Peer::udp(Some(&b.path), &ns, addr("127.0.0.1:0"));
    let mut sink_10 = Peer::udp(None, &ns, addr("127.0.0.1:7210"));
    let _sink_11 = Peer::udp(None, &ns, addr("127.0.0.1:7211"));
    let mut sink_12 = Peer::udp(None, &ns, addr("127.0.0.1:7212"));
    // A named cgroup that is not there: the apply fails, saying which, and installs
    // nothing.
    let missing = format!("{}/not-made", a.path);
    let refused = lab.apply(
        &lab.rules("missing.sk", &rules(&parent.path, &missing)),
        &[],
    );
    assert_eq!(refused.code, 3, "{refused}");
    assert!(refused.stderr.contains(&missing), "{refused}");
    assert!(lab.status().is_none(), "nothing installed");
    lab.apply_ok(&lab.rules("cg.sk", &rules(&parent.path, &a.path)));
    lab.status_attached();

    // netfilter output: A/child refused with EPERM, B let through.
    assert!(eperm(&mut inside, 7210), "A/child at netfilter output");
    assert_eq!(sink_10.cmd("recv 300"), "timeout");
    assert!(!eperm(&mut other, 7210), "B at netfilter output");
    assert!(sink_10.cmd("recv 2000").starts_with("got "));
    // `!`: B's datagram counted, A/child's not.
    assert!(!eperm(&mut inside, 7211) && !eperm(&mut other, 7211));
    // tc egress: A/child's datagram lost, B's arrives.
    inside.cmd("sendto 127.0.0.1:7212 ping");
    assert_eq!(sink_12.cmd("recv 300"), "timeout", "A/child at tc egress");
    assert!(!eperm(&mut other, 7212));
    assert!(
        sink_12.cmd("recv 2000").starts_with("got "),
        "B at tc egress"
    );
    // cgroup connect on the parent: the caller in A/child refused, the one in B not.
    assert!(connect_refused(&mut inside), "A/child's connect()");
    assert!(!connect_refused(&mut other), "B's connect()");
    let stats = lab.stats();
    let drop_nf = format!("drop udp to 127.0.0.1:7210 cgroup \"{}\"", a.path);
    let count = format!("count udp to 127.0.0.1:7211 cgroup !\"{}\"", a.path);
    let drop_tc = format!("drop udp to 127.0.0.1:7212 cgroup \"{}\"", a.path);
    assert_eq!(packets(&stats, &drop_nf), 1);
    assert_eq!(packets(&stats, &count), 1);
    assert_eq!(packets(&stats, &drop_tc), 1);

    // A and its child removed and made again: the programs still match the old id.
    drop(inside);
    for dir in [&child.path, &a.path] {
        remove_cgroup(dir);
    }
    for dir in [&a.path, &child.path] {
        std::fs::create_dir(dir).expect("mkdir again");
    }
    let (st, _) = lab.status_run(&[]);
    assert_eq!(st.code, 3, "a re-created named cgroup is drift:\n{st}");
    assert!(
        st.stdout.contains("re-created") || st.stderr.contains("re-created"),
        "{st}"
    );
    let mut inside = Peer::udp(Some(&child.path), &ns, addr("127.0.0.1:0"));
    assert!(!eperm(&mut inside, 7210), "before repair: the old id");
    let repair = sockc(&["repair", "--name", &lab.name, "--bpffs", BPFFS]);
    assert_eq!(repair.code, 0, "{repair}");
    lab.status_attached();
    assert!(eperm(&mut inside, 7210), "after repair: the new id");
    assert!(connect_refused(&mut inside), "after repair: connect() too");
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// A cgroup far below the named one (as a user with a delegated subtree can make
/// them) is still inside it at netfilter output, as `cgroup_is_descendant` says:
/// the socket's ancestor is read at the named level however deep the socket is
/// (a walk up 32 parents let a socket 33 levels down through a drop).
#[test]
fn a_socket_many_levels_below_the_named_cgroup_is_still_in_it() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("cgdeep", 242);
    let ns = lab.ns_a.clone();
    let a = Cgroup::new("cgdeep");
    let mut chain = Chain(vec![a.child("d1")]);
    for i in 2..=40 {
        let next = chain.0.last().expect("a level").child(&format!("d{i}"));
        chain.0.push(next);
    }
    let rules = format!(
        "netfilter output {{\n    drop udp to 127.0.0.1:7220 cgroup \"{a}\"\n    count udp \
         to 127.0.0.1:7221 cgroup !\"{a}\"\n    default allow\n}}\n",
        a = a.path
    );
    lab.apply_ok(&lab.rules("deep.sk", &rules));
    let _sinks = [7220, 7221].map(|p| Peer::udp(None, &ns, addr(&format!("127.0.0.1:{p}"))));
    for level in [1, 32, 33, 40] {
        let mut deep = Peer::udp(Some(&chain.0[level - 1].path), &ns, addr("127.0.0.1:0"));
        assert!(
            eperm(&mut deep, 7220),
            "{level} levels below A at netfilter output"
        );
        assert!(!eperm(&mut deep, 7221));
    }
    let stats = lab.stats();
    let count = format!("count udp to 127.0.0.1:7221 cgroup !\"{}\"", a.path);
    assert_eq!(
        packets(&stats, &count),
        0,
        "no socket below A is outside it"
    );
    sockc(&["flush", "--name", &lab.name, "--bpffs", BPFFS]).ok();
}

/// Nested cgroups, removed deepest first (a cgroup with children cannot be), also
/// when a test fails.
struct Chain(Vec<Cgroup>);

impl Drop for Chain {
    fn drop(&mut self) {
        while let Some(c) = self.0.pop() {
            drop(c);
        }
    }
}

/// Removes an empty cgroup; a peer just killed may hold it a moment longer.
fn remove_cgroup(path: &str) {
    for _ in 0..100 {
        if std::fs::remove_dir(path).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("could not remove {path}");
}
