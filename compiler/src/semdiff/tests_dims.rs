//! Named cases of the semantic diff for a block on one side only (compared with no
//! block: what the kernel does when nothing is attached) and for the dimensions of
//! the facts from outside the frame (`ct state`, `route`, the devices of `in on` and
//! `out on`, whether each `limit`'s bucket has room, and a socket call's `comm`).

use super::tests::{sem, text};
use super::*;
use crate::space::{Dim, HeaderBox, ValueSet};

/// The example packets' texts, block by block.
fn examples(d: &SemDiff) -> Vec<String> {
    d.blocks
        .iter()
        .flat_map(|b| &b.verdicts)
        .map(|c| c.example_text().unwrap())
        .collect()
}

#[test]
fn an_added_block_changes_only_what_it_does_not_let_through() {
    let d = sem(
        "xdp on eth0 {\n default allow\n}\n",
        "xdp on eth0 {\n default allow\n}\nxdp on eth1 {\n drop tcp to *:22\n default allow\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let c = &d.blocks[0].verdicts[0];
    assert_eq!(d.blocks[0].attach_to, "eth1");
    assert_eq!(c.before.decider, Decider::NoBlock);
    assert_eq!(
        (c.after.outcome.clone(), c.after.line),
        (Outcome::Drop, Some(5))
    );
    assert!(d.blocks[0].moved.is_empty(), "{}", text(&d));
    let t = text(&d);
    assert!(t.contains("allow (no block)"), "{t}");
    assert!(t.contains("block added (compared with no block)"), "{t}");
}

#[test]
fn an_added_block_that_lets_everything_through_changes_nothing() {
    let d = sem(
        "tc ingress on eth0 {\n default allow\n}\n",
        "tc ingress on eth0 {\n default allow\n}\ntc egress on eth0 {\n count udp\n allow tcp\n default allow\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
    assert!(text(&d).starts_with("no packet changes its verdict\n"));
}

#[test]
fn a_removed_block_changes_what_it_dropped() {
    let d = sem(
        "xdp on eth0 {\n drop udp\n default allow\n}\n",
        "tc ingress on eth0 {\n default allow\n}\n",
    );
    // xdp on eth0: udp was dropped, now passes; tc ingress: added, lets all through.
    let xdp: Vec<&BlockDiff> = d
        .blocks
        .iter()
        .filter(|b| b.hook == HookKind::Xdp)
        .collect();
    assert_eq!(xdp.len(), 1);
    assert_eq!(xdp[0].verdicts.len(), 1, "{}", text(&d));
    let c = &xdp[0].verdicts[0];
    assert_eq!(
        (c.before.outcome.clone(), c.before.line),
        (Outcome::Drop, Some(2))
    );
    assert_eq!(
        (c.after.decider, c.after.outcome.clone()),
        (Decider::NoBlock, Outcome::Allow)
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
}

#[test]
fn a_block_moved_to_another_interface_changes_both() {
    let d = sem(
        "xdp on eth0 {\n drop udp\n default allow\n}\n",
        "xdp on eth1 {\n drop udp\n default allow\n}\n",
    );
    let changed: Vec<(&str, Decider, Decider)> = d
        .blocks
        .iter()
        .flat_map(|b| {
            b.verdicts
                .iter()
                .map(move |c| (b.attach_to.as_str(), c.before.decider, c.after.decider))
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("eth0", Decider::Rule(0), Decider::NoBlock),
            ("eth1", Decider::NoBlock, Decider::Rule(0)),
        ],
        "{}",
        text(&d)
    );
}

#[test]
fn an_sk_lookup_block_is_compared_with_the_kernels_own_lookup() {
    let d = sem(
        "tc ingress on eth0 {\n default allow\n}\n",
        "tc ingress on eth0 {\n default allow\n}\nsk_lookup {\n drop tcp to *:23\n default pass\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let c = &d.blocks[0].verdicts[0];
    assert_eq!(c.before.outcome, Outcome::Pass);
    assert_eq!(c.after.outcome, Outcome::Drop);
}

#[test]
fn ct_state_is_a_dimension() {
    let d = sem(
        "tc ingress on eth0 {\n allow ct state established,related\n drop tcp\n default allow\n}\n",
        "tc ingress on eth0 {\n allow ct state established\n drop tcp\n default allow\n}\n",
    );
    // Related TCP packets were allowed and are now dropped; nothing else changes.
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let c = &d.blocks[0].verdicts[0];
    assert_eq!((c.before.line, c.after.line), (Some(2), Some(3)));
    assert!(
        describe_box(&c.region.boxes()[0]).contains("ct state related"),
        "{}",
        text(&d)
    );
    let p = c.example.packet();
    assert!(p.text().unwrap().ends_with(" ct related"), "{p}");
}

#[test]
fn an_example_names_no_state_when_the_packet_has_it_without_an_entry() {
    let d = sem(
        "xdp on eth0 {\n drop ct state new\n default allow\n}\n",
        "xdp on eth0 {\n default allow\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let p = d.blocks[0].verdicts[0].example.packet();
    // A TCP packet without flags is `invalid` without an entry: the example names
    // `new` unless it picked a packet that is new anyway (a SYN, or UDP).
    let t = p.text().unwrap();
    assert!(
        t.ends_with(" ct new") || t.starts_with("udp") || t.contains(" syn"),
        "{t}"
    );
}

#[test]
fn ct_states_written_apart_or_together_are_the_same_rule() {
    let d = sem(
        "xdp on eth0 {\n allow ct state established\n allow ct state related\n default drop\n}\n",
        "xdp on eth0 {\n allow ct state related,established\n default drop\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
}

#[test]
fn route_is_a_dimension() {
    let d = sem(
        "tc ingress on eth0 {\n drop route forward\n default allow\n}\n",
        "tc ingress on eth0 {\n drop route forward tcp\n default allow\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let ex = examples(&d);
    assert!(
        ex[0].ends_with(" route forward") && !ex[0].starts_with("tcp"),
        "{ex:?}"
    );
    let t = text(&d);
    assert!(t.contains("route forward"), "{t}");
}

#[test]
fn local_and_forward_leave_out_unroutable_packets() {
    let d = sem(
        "xdp on eth0 {\n drop udp\n default allow\n}\n",
        "xdp on eth0 {\n drop udp route local\n drop udp route forward\n default allow\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let ex = examples(&d);
    assert!(
        ex[0].starts_with("udp ") && ex[0].ends_with(" route unroutable"),
        "{ex:?}"
    );
}

#[test]
fn an_unchanged_limit_that_sees_the_same_packets_is_no_change() {
    let d = sem(
        "xdp on eth0 {\n allow tcp to *:80\n allow udp limit 10/s\n default drop\n}\n",
        "xdp on eth0 {\n allow udp limit 600/minute burst 5\n allow tcp to *:80\n default drop\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
}

#[test]
fn a_changed_rate_shows_the_packets_over_one_limit_and_not_the_other() {
    let d = sem(
        "xdp on eth0 {\n allow udp limit 10/s\n default drop\n}\n",
        "xdp on eth0 {\n allow udp limit 20/s\n default drop\n}\n",
    );
    assert_eq!(d.verdict_regions(), 2, "{}", text(&d));
    let ex = examples(&d);
    assert!(
        ex.iter().any(|e| e.ends_with(" over-limit:10/second")),
        "{ex:?}"
    );
    assert!(
        ex.iter().any(|e| e.ends_with(" over-limit:20/second")),
        "{ex:?}"
    );
    assert!(text(&d).contains("over limit 10/second"), "{}", text(&d));
}

#[test]
fn two_rules_with_one_limit_have_a_bucket_each() {
    // The kernel keeps a bucket per rule: the first can be out of room while the
    // second is not, which is when deleting the second changes a verdict.
    let d = sem(
        "xdp on eth0 {\n allow udp limit 10/s\n drop udp limit 10/s\n default allow\n}\n",
        "xdp on eth0 {\n allow udp limit 10/s\n default allow\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    assert_eq!(
        examples(&d)[0].split(" over-limit").nth(1),
        Some(":10/second#1")
    );
}

#[test]
fn more_buckets_than_the_dimension_holds_are_not_compared() {
    let rules: String = (1..=9)
        .map(|r| format!(" allow udp limit {r}/s\n"))
        .collect();
    let d = sem(
        &format!("xdp on eth0 {{\n{rules} default drop\n}}\n"),
        "xdp on eth0 {\n default drop\n}\n",
    );
    assert!(d.changes_verdicts());
    assert_eq!(d.blocks[0].cut_short, Some(NotCompared::Buckets(9)));
    assert!(text(&d).contains("not compared"), "{}", text(&d));
}

#[test]
fn devices_are_a_dimension_of_names_and_prefixes() {
    let d = sem(
        "netfilter input {\n drop in on eth0\n default allow\n}\n",
        "netfilter input {\n drop in on eth*\n default allow\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    assert!(examples(&d)[0].ends_with(" in eth"), "{:?}", examples(&d));
    let d = sem(
        "netfilter input {\n allow in on !lo\n default drop\n}\n",
        "netfilter input {\n allow in on !lo,wg*\n default drop\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    assert!(examples(&d)[0].ends_with(" in wg"), "{:?}", examples(&d));
    assert!(text(&d).contains("in on wg*"), "{}", text(&d));
    let d = sem(
        "netfilter forward {\n drop out on eth0\n default allow\n}\n",
        "netfilter forward {\n drop out on eth1\n default allow\n}\n",
    );
    let mut ex = examples(&d);
    ex.sort();
    assert_eq!(ex.len(), 2, "{}", text(&d));
    assert!(
        ex[0].ends_with(" out eth0") && ex[1].ends_with(" out eth1"),
        "{ex:?}"
    );
}

#[test]
fn an_unchanged_device_match_is_no_change() {
    let d = sem(
        "netfilter forward {\n allow in on br-lan out on eth+\n drop tcp to *:22\n default drop\n}\n",
        "netfilter forward {\n drop tcp to *:22\n allow in on br-lan out on eth*\n default drop\n}\n",
    );
    // Reordered across an overlapping rule: only the packets both match change.
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let t = text(&d);
    assert!(
        t.contains("in on br-lan") && t.contains("out on eth*"),
        "{t}"
    );
    assert!(
        examples(&d)[0].ends_with(" in br-lan out eth"),
        "{:?}",
        examples(&d)
    );
}

#[test]
fn a_changed_block_with_a_cgroup_match_is_not_compared_to_the_end() {
    let old = "netfilter output {\n drop udp cgroup \"/sys/fs/cgroup/a\"\n default allow\n}\n";
    let new = "netfilter output {\n drop udp cgroup \"/sys/fs/cgroup/b\"\n default allow\n}\n";
    let d = sem(old, new);
    assert_eq!(d.blocks[0].cut_short, Some(NotCompared::Cgroup));
    assert!(text(&d).contains("not a dimension"), "{}", text(&d));
    // The same block on both sides decides alike whatever the cgroup.
    assert!(sem(old, old).blocks.iter().all(|b| b.cut_short.is_none()));
}

#[test]
fn a_changed_block_with_an_index_match_is_not_compared_to_the_end() {
    let old = "netfilter input {\n drop udp in index 2\n default allow\n}\n";
    let new = "netfilter input {\n drop udp in index 3\n default allow\n}\n";
    let d = sem(old, new);
    assert_eq!(d.blocks[0].cut_short, Some(NotCompared::DevIndex));
    assert!(text(&d).contains("`in index`"), "{}", text(&d));
    assert!(sem(old, old).blocks.iter().all(|b| b.cut_short.is_none()));
    // A name match beside it is still a dimension: only the index is not compared.
    let named = "netfilter input {\n drop udp in on eth0\n default allow\n}\n";
    let d = sem(
        named,
        "netfilter input {\n drop udp in on eth1\n default allow\n}\n",
    );
    assert_eq!(d.blocks[0].cut_short, None);
}

/// A socket-call block's `comm` is a dimension (a name added to a set changes that
/// name's calls only, and the example says `comm NAME`), and a redirect sent to
/// another target changes the outcome of the calls it takes.
#[test]
fn comm_names_and_redirect_targets_are_compared() {
    let head = "cgroup connect \"/sys/fs/cgroup/t\" {\n";
    let d = sem(
        &format!("{head} redirect tcp to 10.0.0.1:80 to 127.0.0.2:8080\n drop tcp to *:22 comm \"curl\"\n default allow\n}}\n"),
        &format!("{head} redirect tcp to 10.0.0.1:80 to 127.0.0.3\n drop tcp to *:22 comm {{ \"curl\", \"wget\" }}\n default allow\n}}\n"),
    );
    let v4: Vec<&Change> = d
        .blocks
        .iter()
        .filter(|b| b.hook == HookKind::CgroupConnect4)
        .flat_map(|b| &b.verdicts)
        .collect();
    assert_eq!(v4.len(), 2, "{}", text(&d));
    let outcomes: Vec<(Outcome, Outcome)> = v4
        .iter()
        .map(|c| (c.before.outcome.clone(), c.after.outcome.clone()))
        .collect();
    assert!(outcomes.contains(&(
        Outcome::RedirectCall("127.0.0.2:8080".into()),
        Outcome::RedirectCall("127.0.0.3".into())
    )));
    assert!(outcomes.contains(&(Outcome::Allow, Outcome::Drop)));
    let ex = examples(&d);
    assert!(ex.iter().any(|e| e.ends_with(" comm wget")), "{ex:?}");
    assert!(!ex.iter().any(|e| e.contains("comm curl")), "{ex:?}");
}

/// An untagged frame of a VLAN tag's EtherType does not exist (the program reads the
/// type as a tag), so `ether type vlan` changes only tagged frames, and its example
/// is one: printed untagged, `sockc test` showed it decided by the default (an
/// `ether 0x8100` frame read as tagged by the bytes after it).
#[test]
fn ether_type_vlan_changes_only_tagged_frames() {
    for t in ["vlan", "0x88a8"] {
        let d = sem(
            "xdp on eth0 {\n default drop\n}\n",
            &format!("xdp on eth0 {{\n allow ether type {t}\n default drop\n}}\n"),
        );
        assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
        let c = &d.blocks[0].verdicts[0];
        let e = c.example_text().unwrap();
        assert!(e.contains(" vlan 0 ether 0x"), "{e}");
        assert!(
            describe_box(&c.region.boxes()[0]).ends_with(" vlan 0-4095"),
            "{}",
            text(&d)
        );
    }
}

/// A region of VLAN ids is described by the ids, a range's ends included (the values
/// are the id plus one; a range was printed as stored, `vlan 1-4096` for every tag).
#[test]
fn vlan_ranges_are_described_by_their_ids() {
    let vlans = |ivs: &[(u128, u128)]| {
        describe_box(&HeaderBox::full().with(Dim::Vlan, ValueSet::from_intervals(ivs.to_vec())))
    };
    assert_eq!(vlans(&[(4, 5)]), "vlan 3-4");
    assert_eq!(vlans(&[(1, 4096)]), "vlan 0-4095");
    assert_eq!(vlans(&[(0, 5)]), "untagged or vlan 0-4");
    assert_eq!(vlans(&[(0, 3), (5, 4096)]), "vlan not 3");
    assert_eq!(vlans(&[(0, 0)]), "untagged");
}

/// A region's ranges are written as its single values are: EtherTypes and marks in
/// hexadecimal, socket states and protocol ranges by name or word, an owner range
/// never ending in "no owner" (they were printed as stored: `socket 1-3`, `mark 16-31`).
#[test]
fn ranges_are_described_as_their_values() {
    let one = |d: Dim, ivs: &[(u128, u128)]| {
        describe_box(&HeaderBox::full().with(d, ValueSet::from_intervals(ivs.to_vec())))
    };
    let none = u128::from(crate::syntax::owner::NO_OWNER);
    assert_eq!(
        one(Dim::EtherType, &[(0x9000, 0x9003)]),
        "ether type 0x9000-0x9003"
    );
    assert_eq!(one(Dim::Mark, &[(0x10, 0x1f)]), "mark 0x10-0x1f");
    assert_eq!(
        one(Dim::Mark, &[(0, 0xf), (0x20, 0xffff_ffff)]),
        "mark not 0x10-0x1f"
    );
    assert_eq!(one(Dim::CtMark, &[(1, 5)]), "ct mark 0x1-0x5");
    assert_eq!(one(Dim::Socket, &[(1, 3)]), "socket exists");
    assert_eq!(one(Dim::Socket, &[(0, 1)]), "socket none,listening");
    assert_eq!(one(Dim::Proto, &[(2, 5), (17, 17)]), "proto 2-5,udp");
    assert_eq!(
        one(Dim::Uid, &[(1000, none)]),
        "owner uid 1000-4294967294,none"
    );
    assert_eq!(one(Dim::Uid, &[(0, 999)]), "owner uid 0-999");
    assert_eq!(one(Dim::Gid, &[(5, 5), (none, none)]), "owner gid 5,none");
}
