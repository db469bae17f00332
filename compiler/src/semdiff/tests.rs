//! Named cases of the semantic diff (blocks on one side and the fact dimensions are
//! `tests_dims.rs`); the properties over random file pairs (every
//! example packet changes verdict in the evaluator, every packet that changes is in a
//! reported region) are `tests/differential/semdiff.rs` at the workspace root.

use super::*;

pub(super) use crate::test_module::module;

pub(super) fn sem(old: &str, new: &str) -> SemDiff {
    diff(&module(old), &module(new))
}

pub(super) fn text(d: &SemDiff) -> String {
    render_text(
        d,
        &RenderOptions {
            old: "old.sk".into(),
            new: "new.sk".into(),
            max_listed: 20,
            table: plain_table,
        },
    )
}

#[test]
fn reordering_rules_that_never_overlap_changes_nothing() {
    let d = sem(
        "xdp on eth0 {\n allow tcp to *:22\n drop udp to *:53\n allow tcp to *:80\n default drop\n}\n",
        "xdp on eth0 {\n allow tcp to *:80\n allow tcp to *:22\n drop udp to *:53\n default drop\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
    assert!(text(&d).starts_with("no packet changes its verdict\n"));
}

#[test]
fn rules_folded_into_a_set_change_nothing() {
    let d = sem(
        "xdp on eth0 {\n drop from 10.0.0.1\n drop from 10.0.0.2\n drop from 10.0.0.3\n default allow\n}\n",
        "set bad = { 10.0.0.1, 10.0.0.2, 10.0.0.3 }\nxdp on eth0 {\n drop from @bad\n default allow\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
}

#[test]
fn deleting_a_shadowed_rule_changes_nothing() {
    let d = sem(
        "xdp on eth0 {\n drop from 10.0.0.0/8\n allow from 10.1.0.0/16\n default allow\n}\n",
        "xdp on eth0 {\n drop from 10.0.0.0/8\n default allow\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
    assert_eq!(d.counting_changes(), 0, "{}", text(&d));
}

#[test]
fn a_real_change_is_one_region_with_both_deciders() {
    let d = sem(
        "xdp on eth0 {\n allow tcp to *:22\n default drop\n}\n",
        "xdp on eth0 {\n allow tcp to *:22-23\n default drop\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let c = &d.blocks[0].verdicts[0];
    assert_eq!(
        (c.before.outcome.clone(), c.before.line),
        (Outcome::Drop, Some(3))
    );
    assert_eq!(
        (c.after.outcome.clone(), c.after.line),
        (Outcome::Allow, Some(2))
    );
    let p = c.example.packet().text().unwrap();
    assert!(p.starts_with("tcp ") && p.ends_with(":23"), "{p}");
    let t = text(&d);
    assert!(t.starts_with("1 region changes verdict:\n"), "{t}");
    assert!(
        t.contains("drop old.sk:3") && t.contains("allow new.sk:2"),
        "{t}"
    );
}

#[test]
fn a_default_no_packet_reaches_does_not_matter() {
    let d = sem(
        "xdp on eth0 {\n allow\n default drop\n}\n",
        "xdp on eth0 {\n allow\n default allow\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
}

#[test]
fn a_changed_default_is_the_packets_no_rule_takes() {
    let d = sem(
        "xdp on eth0 {\n allow tcp\n default drop\n}\n",
        "xdp on eth0 {\n allow tcp\n default allow\n}\n",
    );
    assert!(d.changes_verdicts());
    for c in &d.blocks[0].verdicts {
        assert_eq!(c.before.decider, Decider::Default);
        let p = c.example.packet();
        assert!(p.ip.is_none_or(|ip| ip.proto != 6), "{p}");
    }
}

#[test]
fn counting_changes_are_reported_apart() {
    let d = sem(
        "xdp on eth0 {\n allow tcp to *:22\n allow tcp to *:0-100\n default drop\n}\n",
        "xdp on eth0 {\n count udp\n allow tcp to *:0-100\n default drop log\n}\n",
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
    let t = text(&d);
    assert!(t.contains("count rule added (new.sk:2)"), "{t}");
    assert!(t.contains("log added (100/s)"), "{t}");
    assert!(
        t.contains("decided by allow new.sk:3 instead of allow old.sk:2"),
        "{t}"
    );
}

/// `reject answers` changed: listed beside the counting changes, no verdict changes
/// (a refused answer is a reject that drops, to the evaluator too).
#[test]
fn a_change_of_the_answer_limits_is_listed_and_keeps_verdicts() {
    let block = "xdp on eth0 {\n reject udp to *:53\n default allow\n}\n";
    let d = sem(block, &format!("reject answers unlimited\n{block}"));
    assert!(!d.changes_verdicts(), "{}", text(&d));
    let t = text(&d);
    assert!(
        t.contains(
            "xdp on eth0: the limits of reject's ICMP answers: `reject answers kernel; \
             reject answers kernel per destination` → `reject answers unlimited`\n"
        ),
        "{t}"
    );
    assert!(text(&sem(block, block)).starts_with("no packet changes its verdict\n"));
}

#[test]
fn socket_conditions_are_a_dimension() {
    let d = sem(
        "tc ingress on eth0 {\n allow tcp if established\n default drop\n}\n",
        "tc ingress on eth0 {\n allow tcp if socket exists\n default drop\n}\n",
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let p = d.blocks[0].verdicts[0].example.packet();
    assert!(
        matches!(p.socket_name(), Some("listening" | "timewait")),
        "{p}"
    );
}

/// A UDP socket is unconnected or connected: no UDP packet finds a time-wait socket,
/// so `socket exists` is `listening` or `established` for UDP, not for TCP.
#[test]
fn no_udp_packet_finds_a_time_wait_socket() {
    let block = |rules: &str| format!("xdp on eth0 {{\n{rules}\n default allow\n}}\n");
    let states = " drop PROTO if listening\n drop PROTO if established";
    let d = sem(
        &block(" drop udp if socket exists"),
        &block(&states.replace("PROTO", "udp")),
    );
    assert!(!d.changes_verdicts(), "{}", text(&d));
    let d = sem(
        &block(" drop tcp if socket exists"),
        &block(&states.replace("PROTO", "tcp")),
    );
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    assert_eq!(
        d.blocks[0].verdicts[0].example.packet().socket_name(),
        Some("timewait")
    );
    // Both protocols: the region is TCP's time-wait alone, and says so.
    let both = |rules: &str| {
        block(&format!(
            "{}\n{}",
            rules.replace("PROTO", "tcp"),
            rules.replace("PROTO", "udp")
        ))
    };
    let d = sem(&both(" drop PROTO if socket exists"), &both(states));
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let tcp = crate::space::ValueSet::single(6);
    let region = &d.blocks[0].verdicts[0].region;
    assert!(
        region
            .boxes()
            .iter()
            .all(|b| *b.get(crate::space::Dim::Proto) == tcp),
        "{}",
        text(&d)
    );
    // A UDP region with a socket test names only the states a UDP socket has.
    let d = sem(&block(" drop udp if socket exists"), &block(""));
    let t = text(&d);
    assert!(
        t.contains("socket listening, established") || t.contains("socket listening,established"),
        "{t}"
    );
}

/// The example of a change to or from `reject` is a packet reject answers: a unicast
/// source where the region has one (0.0.0.0, the lowest, is dropped unanswered).
#[test]
fn a_reject_change_shows_a_packet_reject_answers() {
    let block = |rule: &str| format!("xdp on eth0 {{\n {rule}\n default allow\n}}\n");
    let source = |old: &str, new: &str| {
        let d = sem(&block(old), &block(new));
        assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
        let p = d.blocks[0].verdicts[0].example.packet();
        p.ip.map(|ip| ip.src.to_string())
    };
    let cases = [
        ("drop udp to *:53", "reject udp to *:53", "10.0.0.1"),
        ("reject from ::/1", "drop from ::/1", "2001:db8::1"),
        ("drop from 0.0.0.0/8", "reject from 0.0.0.0/8", "0.0.0.1"),
        // Only multicast sources: the region has no packet reject answers.
        (
            "drop from 224.0.0.0/4",
            "reject from 224.0.0.0/4",
            "224.0.0.0",
        ),
        // Without a reject, the lowest address as before.
        ("drop udp", "allow udp", "0.0.0.0"),
    ];
    for (old, new, want) in cases {
        assert_eq!(source(old, new).as_deref(), Some(want), "{old} -> {new}");
    }
}

#[test]
fn a_block_on_one_side_changes_its_hook() {
    let d = sem(
        "xdp on eth0 {\n default allow\n}\n",
        "xdp on eth0 {\n default allow\n}\ntc ingress on eth1 {\n drop udp\n default allow\n}\n",
    );
    // Compared with no block (every packet passes): only the dropped UDP changes.
    assert_eq!(d.verdict_regions(), 1, "{}", text(&d));
    let c = &d.blocks[0].verdicts[0];
    assert_eq!(
        (c.before.decider, c.before.outcome.clone(), c.before.line),
        (Decider::NoBlock, Outcome::Allow, None)
    );
    assert_eq!(c.after.outcome, Outcome::Drop);
    assert_eq!(describe_box(&c.region.boxes()[0]), "IP udp");
}

/// A length reads in bytes of the whole packet in both families (the dimension holds
/// an IPv6 packet's payload length).
#[test]
fn lengths_read_as_whole_packets() {
    let d = sem(
        "xdp on eth0 {\n drop udp length > 1400\n default allow\n}\n",
        "xdp on eth0 {\n drop udp length > 1500\n default allow\n}\n",
    );
    let c = &d.blocks[0].verdicts[0];
    let boxes: Vec<String> = c.region.boxes().iter().map(describe_box).collect();
    assert_eq!(
        boxes,
        ["IPv4 udp length 1401-1500", "IPv6 udp length 1401-1500"],
        "{}",
        text(&d)
    );
}

/// ICMP's number in the other family reads as a number (`IPv6 proto 1`), and a
/// rule file that writes it apart from `icmp` covers those packets.
#[test]
fn icmp_numbers_of_the_other_family_read_as_numbers() {
    let d = sem(
        "xdp on eth0 {\n allow icmp\n allow icmpv6\n default drop\n}\n",
        "xdp on eth0 {\n allow icmp\n allow ip6 proto 1\n allow icmpv6\n allow ip4 proto 58\n default drop\n}\n",
    );
    let mut boxes: Vec<String> = d.blocks[0]
        .verdicts
        .iter()
        .flat_map(|c| {
            c.region
                .boxes()
                .iter()
                .map(describe_box)
                .collect::<Vec<_>>()
        })
        .collect();
    boxes.sort();
    assert_eq!(boxes, ["IPv4 proto 58", "IPv6 proto 1"], "{}", text(&d));
}

#[test]
fn boxes_read_as_matches() {
    let d = sem(
        "xdp on eth0 {\n default allow\n}\n",
        "xdp on eth0 {\n drop tcp from 10.0.0.0/8 to *:22 syn !ack\n default allow\n}\n",
    );
    let c = &d.blocks[0].verdicts[0];
    assert_eq!(
        describe_box(&c.region.boxes()[0]),
        "IPv4 tcp from 10.0.0.0/8 dport 22 syn !ack"
    );
}

/// A region's boxes are merged pair by pair while the block pair's merge work lasts,
/// then by hashing: the same packets either way, and the work never goes below zero.
#[test]
fn merges_pair_by_pair_only_while_their_work_lasts() {
    use crate::space::{Dim, ValueSet};
    // Adjacent port ranges of one source: one box once merged.
    let boxes: Vec<HeaderBox> = (0..8u128)
        .map(|k| {
            HeaderBox::full()
                .with(Dim::Dport, ValueSet::range(10 * k, 10 * k + 9))
                .with(Dim::Src4, ValueSet::single(1))
        })
        .collect();
    let side = |line| Side {
        decider: Decider::Rule(line),
        line: Some(line),
        outcome: Outcome::Drop,
    };
    let mut work = MERGE_WORK;
    let a = change(boxes.clone(), side(1), side(2), &mut work).unwrap();
    assert_eq!(work, MERGE_WORK - 8 * 8 * 8);
    let mut none = 8 * 8 * 8 - 1;
    let b = change(boxes, side(1), side(2), &mut none).unwrap();
    assert_eq!(none, 8 * 8 * 8 - 1);
    assert_eq!(a.region.boxes().len(), 1);
    assert_eq!(a.region, b.region);
    assert_eq!(a.example, b.example);
}

/// "At least N" only where the comparison stopped: a changed block with a `cgroup`
/// match is compared to the end (its regions leave the cgroup out, which the line
/// after them says), and a cut block that lists nothing has "0 regions", never "at
/// least 0".
#[test]
fn at_least_only_where_the_comparison_stopped() {
    let cgroup = "tc egress on eth0 {\n drop tcp to *:25 cgroup \"/sys/fs/cgroup/a\"\n allow tcp\n default drop\n}\n";
    let d = sem(
        cgroup,
        "tc egress on eth0 {\n allow tcp\n default drop\n}\n",
    );
    assert!(matches!(d.blocks[0].cut_short, Some(NotCompared::Cgroup)));
    assert!(!d.stopped());
    assert!(
        text(&d).starts_with("1 region changes verdict:\n"),
        "{}",
        text(&d)
    );
    let options = RenderOptions {
        old: "old.sk".into(),
        new: "new.sk".into(),
        max_listed: 20,
        table: plain_table,
    };
    let block = &to_json(&d, &options)["blocks"][0];
    assert!(
        block["cut_short"].is_string() && block["stopped"] == false,
        "{block}"
    );
    let other = cgroup.replace("/sys/fs/cgroup/a", "/sys/fs/cgroup/b");
    let d = sem(cgroup, &other);
    assert!(
        text(&d).starts_with("0 regions change verdict:\n"),
        "{}",
        text(&d)
    );
}
