//! Threading on hand-made rule lists and random ones: what knowledge decides, and
//! that a threaded plan never runs more tests than the `-O0` plan on any packet.

use cranelift_entity::EntityRef;
use sockc_testkit::rng::Rng;

use super::{knowledge::*, *};
use crate::{
    ir::{
        flow::{fact, Test},
        linear::linear,
        SetId,
    },
    syntax::ast::{Family, SockCond},
};

fn rule(tests: Vec<Test>) -> RuleTests {
    RuleTests {
        tests,
        continues: false,
    }
}
fn count(tests: Vec<Test>) -> RuleTests {
    RuleTests {
        tests,
        continues: true,
    }
}
fn node(rule: usize, test: usize) -> Target {
    Target::Node { rule, test }
}
fn dport(lo: u16, hi: u16) -> Test {
    Test::Ports {
        src: false,
        ranges: vec![(lo, hi)],
    }
}
fn src(net: &str) -> Test {
    Test::Prefix {
        src: true,
        net: net.parse().unwrap(),
    }
}
fn v4() -> Test {
    Test::Family(Family::V4)
}
fn flags(mask: u8, value: u8) -> Test {
    Test::Flags { mask, value }
}
/// The knowledge after the given outcomes, from nothing.
fn knowing(facts: &[(Test, bool)]) -> Knowledge {
    facts.iter().fold(Knowledge::default(), |k, (t, passed)| {
        let v = View::of(t);
        match k.decide(&v) {
            Some(a) => {
                assert_eq!(a, *passed, "contradictory facts {facts:?}");
                k
            }
            None => k.assume(&v, *passed),
        }
    })
}
fn decide(facts: &[(Test, bool)], t: Test) -> Option<bool> {
    knowing(facts).decide(&View::of(&t))
}

#[test]
fn byte_facts_are_exact() {
    let l3_4 = [(v4(), true)];
    assert_eq!(decide(&l3_4, Test::Family(Family::V6)), Some(false));
    assert_eq!(decide(&l3_4, Test::Ip), Some(true));
    assert_eq!(decide(&l3_4, v4()), Some(true));
    assert_eq!(decide(&[(Test::Ip, false)], v4()), Some(false));
    assert_eq!(decide(&[(v4(), false)], Test::Ip), None);
    let tcp_failed = (Test::Proto(6), false);
    assert_eq!(
        decide(std::slice::from_ref(&tcp_failed), Test::Proto(6)),
        Some(false)
    );
    assert_eq!(
        decide(std::slice::from_ref(&tcp_failed), Test::Proto(17)),
        None
    );
    assert_eq!(
        decide(std::slice::from_ref(&tcp_failed), Test::TcpOrUdp),
        None
    );
    let neither = [tcp_failed, (Test::Proto(17), false)];
    assert_eq!(decide(&neither, Test::TcpOrUdp), Some(false));
    assert_eq!(
        decide(&[(Test::Proto(17), true)], Test::TcpOrUdp),
        Some(true)
    );
    assert_eq!(decide(&[(Test::TcpOrUdp, true)], Test::Proto(6)), None);
    assert_eq!(
        decide(&[(Test::TcpOrUdp, true)], Test::Proto(1)),
        Some(false)
    );
    assert_eq!(
        decide(&[(Test::TcpOrUdp, false)], Test::Proto(6)),
        Some(false)
    );
    // `syn !ack` passed decides syn and ack, not fin.
    let syn_not_ack = [(flags(0x12, 0x02), true)];
    assert_eq!(decide(&syn_not_ack, flags(0x02, 0x02)), Some(true));
    assert_eq!(decide(&syn_not_ack, flags(0x10, 0x10)), Some(false));
    assert_eq!(decide(&syn_not_ack, flags(0x01, 0x01)), None);
    // `syn` failed: `syn !ack` fails too, `!ack` is unknown.
    let no_syn = [(flags(0x02, 0x02), false)];
    assert_eq!(decide(&no_syn, flags(0x12, 0x02)), Some(false));
    assert_eq!(decide(&no_syn, flags(0x10, 0)), None);
    assert_eq!(
        decide(&[(Test::IcmpType(8), true)], Test::IcmpType(0)),
        Some(false)
    );
    assert_eq!(
        decide(&[(Test::IcmpType(8), false)], Test::IcmpCode(0)),
        None
    );
    assert_eq!(decide(&[(Test::L4Ok, false)], Test::L4Ok), Some(false));
}

#[test]
fn the_flow_record_has_three_families() {
    let k = Knowledge::flow_record();
    let k = k.assume(&View::of(&Test::Ip), true);
    let k = k.assume(&View::of(&v4()), false);
    assert_eq!(k.decide(&View::of(&Test::Family(Family::V6))), Some(true));
    let k = Knowledge::flow_record().assume(&View::of(&Test::L4Ok), false);
    assert_eq!(k.decide(&View::of(&Test::L4Ok)), Some(false));
    assert_eq!(Knowledge::flow_record().decide(&View::of(&Test::Ip)), None);
}

#[test]
fn port_facts_follow_containment() {
    let in_80_90 = [(dport(80, 90), true)];
    assert_eq!(decide(&in_80_90, dport(0, 1023)), Some(true));
    assert_eq!(decide(&in_80_90, dport(85, 85)), None);
    assert_eq!(decide(&in_80_90, dport(91, 100)), Some(false));
    let sport = Test::Ports {
        src: true,
        ranges: vec![(91, 100)],
    };
    assert_eq!(decide(&in_80_90, sport), None, "another field");
    let not_low = [(dport(0, 1023), false)];
    assert_eq!(decide(&not_low, dport(22, 22)), Some(false));
    assert_eq!(decide(&not_low, dport(1000, 2000)), None);
    assert_eq!(decide(&not_low, dport(1024, 65535)), Some(true));
    let web = Test::Ports {
        src: false,
        ranges: vec![(80, 80), (443, 443)],
    };
    let neither = [(dport(80, 80), false), (dport(443, 443), false)];
    assert_eq!(decide(&neither, web.clone()), Some(false));
    assert_eq!(decide(&[(web, true)], dport(1, 1023)), Some(true));
    assert_eq!(decide(&[], dport(0, 65535)), Some(true));
}

#[test]
fn port_set_relations_agree_with_set_algebra() {
    let mut rng = Rng::seeded(7);
    let random = |rng: &mut Rng| {
        let ranges: Vec<(u16, u16)> = (0..1 + rng.below(4))
            .map(|_| {
                let lo = rng.pick(&[0u16, 1, 5, 9, 10, 20, 65535]);
                (lo, lo.saturating_add(rng.pick(&[0u16, 1, 4, 10, 65535])))
            })
            .collect();
        Ports::of(&ranges)
    };
    for _ in 0..2000 {
        let (a, b) = (random(&mut rng), random(&mut rng));
        assert_eq!(a.within(&b), a.and(&b.not()).0.is_empty(), "{a:?} {b:?}");
        assert_eq!(a.disjoint(&b), a.and(&b).0.is_empty(), "{a:?} {b:?}");
    }
}

#[test]
fn prefix_facts_follow_containment_only() {
    let in_10 = [(src("10.0.0.0/8"), true)];
    assert_eq!(decide(&in_10, src("10.0.0.0/8")), Some(true));
    assert_eq!(decide(&in_10, src("0.0.0.0/1")), Some(true));
    assert_eq!(decide(&in_10, src("10.1.0.0/16")), None);
    assert_eq!(decide(&in_10, src("11.0.0.0/8")), Some(false));
    let dst = Test::Prefix {
        src: false,
        net: "11.0.0.0/8".parse().unwrap(),
    };
    assert_eq!(decide(&in_10, dst), None, "another field");
    assert_eq!(decide(&in_10, src("2001:db8::/32")), None, "another field");
    let out_10 = [(src("10.0.0.0/8"), false)];
    assert_eq!(decide(&out_10, src("10.1.0.0/16")), Some(false));
    assert_eq!(decide(&out_10, src("10.0.0.0/7")), None);
    assert_eq!(decide(&out_10, src("11.0.0.0/8")), None);
    let v6 = [(src("2001:db8:1::/48"), true)];
    assert_eq!(decide(&v6, src("2001:db8::/32")), Some(true));
    assert_eq!(decide(&v6, src("2001:db8:2::/48")), Some(false));
    let both = [(src("10.0.0.0/8"), true), (src("10.1.0.0/16"), false)];
    assert_eq!(decide(&both, src("10.1.2.0/24")), Some(false));
    assert_eq!(decide(&both, src("10.2.0.0/16")), None);
}

#[test]
fn meets_keep_only_what_both_sides_know() {
    let a = knowing(&[(src("10.1.0.0/16"), true), (Test::Proto(6), true)]);
    let b = knowing(&[(src("10.2.0.0/16"), true), (Test::Proto(17), true)]);
    let m = a.meet(&b);
    assert_eq!(m.decide(&View::of(&src("10.0.0.0/8"))), Some(true));
    assert_eq!(m.decide(&View::of(&src("10.1.0.0/16"))), None);
    assert_eq!(m.decide(&View::of(&src("11.0.0.0/8"))), Some(false));
    assert_eq!(m.decide(&View::of(&Test::TcpOrUdp)), Some(true));
    assert_eq!(m.decide(&View::of(&Test::Proto(6))), None);
    // An exclusion survives when the other side proves it another way.
    let c = knowing(&[(src("192.168.0.0/16"), false)]);
    let d = knowing(&[(src("10.0.0.0/8"), true)]);
    let m = c.meet(&d);
    assert_eq!(m.decide(&View::of(&src("192.168.1.0/24"))), Some(false));
    assert_eq!(m.decide(&View::of(&src("10.0.0.0/8"))), None);
    assert_eq!(Knowledge::default().meet(&a), Knowledge::default());
}

#[test]
fn sets_reuse_identical_lookups_only() {
    let s = |set: usize, src: bool| Test::Set {
        set: SetId::new(set),
        src,
        family: None,
    };
    assert_eq!(decide(&[(s(0, true), true)], s(0, true)), Some(true));
    assert_eq!(decide(&[(s(0, true), false)], s(0, true)), Some(false));
    assert_eq!(decide(&[(s(0, true), true)], s(0, false)), None);
    assert_eq!(decide(&[(s(0, true), true)], s(1, true)), None);
    let v4_only = Test::Set {
        set: SetId::new(0),
        src: true,
        family: Some(Family::V4),
    };
    assert_eq!(decide(&[(s(0, true), true)], v4_only), None);
}

#[test]
fn shared_header_checks_are_tested_once() {
    use Node::{Dead, Test as T};
    let rules = vec![
        rule(vec![v4(), Test::Proto(6), dport(22, 22)]),
        rule(vec![v4(), Test::Proto(6), dport(80, 80)]),
        rule(vec![v4(), Test::Proto(6), dport(443, 443)]),
    ];
    let p = threaded(&rules);
    assert_eq!(p.entry, node(0, 0));
    let end = Target::End;
    assert_eq!(
        p.rules[0].tests,
        vec![T { fail: end }, T { fail: end }, T { fail: node(1, 2) }]
    );
    assert_eq!(p.rules[1].tests, vec![Dead, Dead, T { fail: node(2, 2) }]);
    assert_eq!(p.rules[2].tests, vec![Dead, Dead, T { fail: end }]);
    assert!(p.end);
    assert_eq!(p.gotos(), 0);
}

#[test]
fn a_failed_test_says_nothing_about_other_values() {
    let rules = vec![
        rule(vec![v4(), Test::Proto(6)]),
        rule(vec![v4(), Test::Proto(17)]),
        rule(vec![Test::Family(Family::V6), Test::Proto(6)]),
    ];
    let p = threaded(&rules);
    assert_eq!(p.rules[0].tests[0], Node::Test { fail: node(2, 0) });
    assert_eq!(p.rules[0].tests[1], Node::Test { fail: node(1, 1) });
    assert_eq!(p.rules[1].tests[1], Node::Test { fail: Target::End });
    assert_eq!(p.rules[2].tests[0], Node::Test { fail: Target::End });
}

#[test]
fn count_rules_keep_their_action_and_thread_their_success() {
    let rules = vec![
        count(vec![v4(), Test::Proto(6)]),
        rule(vec![v4(), Test::Proto(6), dport(22, 22)]),
        rule(vec![v4(), Test::Proto(17)]),
    ];
    let p = threaded(&rules);
    assert!(p.rules[0].action);
    assert_eq!(p.rules[0].then, Some(node(1, 2)));
    // PROTO == 6 failed: rule 1 is skipped, rule 2 entered after `L3 == 4`.
    assert_eq!(p.rules[0].tests[1], Node::Test { fail: node(2, 1) });
    // Counting tcp and failing dport 22 skips udp entirely.
    assert_eq!(p.rules[1].tests[2], Node::Test { fail: Target::End });
    assert_eq!(p.rules[2].tests[0], Node::Dead);
    assert_eq!(p.gotos(), 0, "{p:#?}");
}

#[test]
fn a_count_rule_jumps_over_code_it_need_not_run() {
    // `count ip4`, `drop ip6`, `drop ip4 udp`: after counting, `drop ip6` cannot
    // match; its code is still there for packets that are not IPv4.
    let rules = vec![
        count(vec![v4()]),
        rule(vec![Test::Family(Family::V6)]),
        rule(vec![v4(), Test::Proto(17)]),
    ];
    let p = threaded(&rules);
    assert_eq!(p.rules[0].then, Some(node(2, 1)));
    assert_eq!(p.rules[0].tests[0], Node::Test { fail: node(1, 0) });
    assert_eq!(p.gotos(), 1);
}

#[test]
fn knowledge_flows_through_entries() {
    // drop tcp to *:22; allow tcp to *:80; drop tcp from 10/8 to *:22; drop
    let rules = vec![
        rule(vec![Test::Proto(6), Test::L4Ok, dport(22, 22)]),
        rule(vec![Test::Proto(6), Test::L4Ok, dport(80, 80)]),
        rule(vec![
            Test::Proto(6),
            Test::L4Ok,
            src("10.0.0.0/8"),
            dport(22, 22),
        ]),
        rule(vec![]),
    ];
    let p = threaded(&rules);
    // Port 80 failing: port 22 failed before, so rule 2 is skipped.
    assert_eq!(p.rules[1].tests[2], Node::Test { fail: node(3, 0) });
    assert!(!p.rules[2].action);
    assert!(!p.end, "a final rule without tests ends the program");
}

#[test]
fn tests_known_on_every_incoming_path_are_not_emitted() {
    // Both ways into rule 2 know `L4_OK`: through rule 0 failing its port, and
    // through rule 1 failing its port.
    let rules = vec![
        rule(vec![Test::Proto(6), Test::L4Ok, dport(22, 22)]),
        rule(vec![Test::Proto(17), Test::L4Ok, dport(53, 53)]),
        rule(vec![Test::TcpOrUdp, Test::L4Ok, dport(80, 80)]),
    ];
    let p = threaded(&rules);
    assert_eq!(p.rules[0].tests[2], Node::Test { fail: node(2, 2) });
    assert_eq!(p.rules[0].tests[0], Node::Test { fail: node(1, 0) });
    assert_eq!(p.rules[1].tests[2], Node::Test { fail: node(2, 2) });
    assert_eq!(
        p.rules[2].tests,
        vec![Node::Dead, Node::Dead, Node::Test { fail: Target::End }]
    );
}

#[test]
fn rules_after_an_unconditional_action_are_dead() {
    let rules = vec![
        rule(vec![Test::Proto(6)]),
        rule(vec![]),
        rule(vec![Test::Proto(17)]),
    ];
    for p in [threaded(&rules), linear(&rules)] {
        assert!(p.rules[1].action);
        assert!(!p.rules[2].action);
        assert_eq!(p.rules[2].tests, vec![Node::Dead]);
        assert!(!p.end);
    }
}

// ---- the model: threaded runs agree with -O0 and are never longer -------------

/// A concrete packet, as the values of the fields tests read.
#[derive(Debug)]
struct Packet {
    bytes: [u8; BYTE_FIELDS],
    ports: [u16; 2],
    addrs: [u128; 4],
    /// Answer of each lookup the tests can make.
    sets: Vec<(SetKey, bool)>,
}

impl Packet {
    fn passes(&self, t: &Test) -> bool {
        match View::of(t) {
            View::Byte(f, v) => !Bytes::from_fn(|x| x == self.bytes[f]).and(v).is_empty(),
            View::Port(f, v) => {
                let p = u32::from(self.ports[f]);
                v.0.iter().any(|&(lo, hi)| lo <= p && p <= hi)
            }
            View::Addr(f, net) => net.contains(Net {
                bits: self.addrs[f],
                len: 128,
            }),
            View::Set(key) => self.sets.iter().any(|&(k, a)| k == key && a),
            View::Opaque => unreachable!("random rules have no limit"),
        }
    }
}

/// Instructions a test executes in this model (at least a load and a branch).
fn cost(t: &Test) -> usize {
    match t {
        Test::Set { .. } => 6,
        Test::Prefix { .. } | Test::Flags { .. } => 3,
        _ => 2,
    }
}

/// Runs `plan` on `pkt`: (counted rules, deciding rule or `None` for the end,
/// instructions executed), checking every claim the plan makes on the way.
fn run(rules: &[RuleTests], plan: &Plan, pkt: &Packet) -> (Vec<usize>, Option<usize>, usize) {
    let (mut counted, mut spent) = (Vec::new(), 0);
    let mut at = plan.entry;
    let mut last = None;
    loop {
        let Target::Node { rule: r, test: j0 } = at else {
            assert!(plan.end);
            return (counted, None, spent);
        };
        assert!(last < Some((r, j0)), "edges go forward");
        last = Some((r, j0));
        for t in &rules[r].tests[..j0] {
            assert!(pkt.passes(t), "entered rule {r} at {j0} but {t:?} fails");
        }
        let mut next = None;
        for j in j0..rules[r].tests.len() {
            let t = &rules[r].tests[j];
            match plan.rules[r].tests[j] {
                Node::Dead => panic!("reached dead node ({r}, {j})"),
                Node::Known => assert!(pkt.passes(t), "known test {t:?} fails"),
                Node::Skip(to) => {
                    assert!(!pkt.passes(t), "skipped test {t:?} passes");
                    spent += usize::from(plan.needs_goto(r, j, to));
                    next = Some(to);
                    break;
                }
                Node::Test { fail } => {
                    spent += cost(t);
                    if !pkt.passes(t) {
                        next = Some(fail);
                        break;
                    }
                }
            }
        }
        if let Some(to) = next {
            at = to;
            continue;
        }
        assert!(
            plan.rules[r].action,
            "reached an action planned unreachable"
        );
        if !rules[r].continues {
            return (counted, Some(r), spent);
        }
        counted.push(r);
        let to = plan.rules[r].then.expect("count rules go on");
        spent += usize::from(plan.needs_goto(r, rules[r].tests.len(), to));
        at = to;
    }
}

/// Instructions the plan emits in this model.
fn size(rules: &[RuleTests], plan: &Plan) -> usize {
    let mut n = plan.gotos();
    for (rule, rp) in rules.iter().zip(&plan.rules) {
        for (t, node) in rule.tests.iter().zip(&rp.tests) {
            n += if matches!(node, Node::Test { .. }) {
                cost(t)
            } else {
                0
            };
        }
        n += if rp.action { 3 } else { 0 };
    }
    n
}

const NETS: [&str; 9] = [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.2.0.0/16",
    "192.168.0.0/16",
    "10.1.2.3/32",
    "2001:db8::/32",
    "2001:db8:1::/48",
    "2001:db8:2::/48",
];
const ADDRS: [&str; 6] = [
    "10.1.2.3",
    "10.1.9.9",
    "10.2.0.1",
    "11.0.0.1",
    "2001:db8:1::1",
    "2001:db8:5::1",
];
const PORTS: [(u16, u16); 7] = [
    (22, 22),
    (80, 80),
    (0, 1023),
    (80, 90),
    (1024, 65535),
    (443, 443),
    (0, 65535),
];

fn random_test(rng: &mut Rng) -> Test {
    match rng.below(15) {
        0 => Test::Family(rng.pick(&[Family::V4, Family::V6])),
        1 => Test::Ip,
        2 => Test::Proto(rng.pick(&[1, 6, 17, 58])),
        3 => Test::TcpOrUdp,
        4 => Test::L4Ok,
        5 => Test::Prefix {
            src: rng.below(2) == 0,
            net: rng.pick(&NETS).parse().unwrap(),
        },
        6 => Test::Set {
            set: SetId::new(rng.below(2)),
            src: rng.below(2) == 0,
            family: rng.pick(&[None, Some(Family::V4)]),
        },
        7 => {
            let mut ranges = vec![rng.pick(&PORTS)];
            if rng.below(3) == 0 {
                ranges.push(rng.pick(&PORTS));
            }
            let ranges = Ports::of(&ranges).0;
            Test::Ports {
                src: rng.below(3) == 0,
                ranges: ranges.iter().map(|&(a, b)| (a as u16, b as u16)).collect(),
            }
        }
        8 => {
            let mask = rng.pick(&[0x02u8, 0x12, 0x10, 0x13, 0xff]);
            flags(mask, rng.pick(&[0x02u8, 0x10, 0x12, 0x00]) & mask)
        }
        9 => Test::IcmpType(rng.pick(&[0, 3, 8])),
        10 => Test::IcmpCode(rng.pick(&[0, 4])),
        11 => Test::Frag,
        13 => Test::Route(rng.pick(&crate::syntax::route::RouteClass::ALL)),
        12 => {
            use crate::syntax::ct::{CtState, CtStates};
            let a = rng.pick(&CtState::ALL);
            let b = rng.pick(&CtState::ALL);
            Test::Ct {
                states: CtStates::default().with(a).with(b),
                family: None,
            }
        }
        _ => Test::Socket {
            cond: rng.pick(&[
                SockCond::Exists,
                SockCond::NoSocket,
                SockCond::Listening,
                SockCond::Established,
            ]),
            proto: 6,
            family: None,
        },
    }
}

fn random_packet(rng: &mut Rng) -> Packet {
    let mut addr = || match rng.pick(&ADDRS).parse().unwrap() {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        std::net::IpAddr::V6(a) => u128::from(a),
    };
    let addrs = [addr(), addr(), addr(), addr()];
    let mut sets = Vec::new();
    for set in 0..2 {
        for src in [true, false] {
            for family in [None, Some(Family::V4)] {
                let key = SetKey {
                    set: SetId::new(set),
                    src,
                    family,
                };
                sets.push((key, rng.below(2) == 0));
            }
        }
    }
    Packet {
        bytes: [
            rng.pick(&[0, 4, 6]),
            rng.pick(&[1, 6, 17, 58, 47]),
            rng.pick(&[0, 1]),
            rng.pick(&[0x02, 0x12, 0x10, 0x11, 0x00]),
            rng.pick(&[0, 3, 8]),
            rng.pick(&[0, 4, 1]),
            rng.pick(&[fact::NONE, fact::LISTENING, fact::ESTABLISHED, fact::OTHER]),
            rng.pick(&[0, 1]),
            rng.pick(&[1, 2, 3, 4, 5]),
            rng.pick(&[1, 2, 3]),
        ],
        ports: [
            rng.pick(&[22, 80, 85, 443, 5000]),
            rng.pick(&[22, 80, 85, 443, 5000]),
        ],
        addrs,
        sets,
    }
}

/// Random rule lists and packets: the threaded plan runs the same actions as the
/// `-O0` plan, never reaches a node it planned dead, enters rules only where the
/// skipped tests pass, and executes no more instructions.
#[test]
fn threaded_runs_agree_with_linear_runs_and_are_never_longer() {
    let mut rng = Rng::seeded(0x9e37_79b9_7f4a_7c15);
    let (mut saved, mut smaller, mut larger) = (0, 0, 0);
    for _ in 0..800 {
        let n = 1 + rng.below(10);
        let rules: Vec<RuleTests> = (0..n)
            .map(|_| {
                let len = rng.below(5);
                RuleTests {
                    tests: (0..len).map(|_| random_test(&mut rng)).collect(),
                    continues: rng.below(4) == 0,
                }
            })
            .collect();
        let (base, opt) = (linear(&rules), threaded(&rules));
        for _ in 0..60 {
            let pkt = random_packet(&mut rng);
            let (c0, d0, s0) = run(&rules, &base, &pkt);
            let (c2, d2, s2) = run(&rules, &opt, &pkt);
            assert_eq!((&c0, d0), (&c2, d2), "rules {rules:#?}\npacket {pkt:?}");
            assert!(
                s2 <= s0,
                "{s2} > {s0}: rules {rules:#?}\nplan {opt:#?}\n{pkt:?}"
            );
            saved += s0 - s2;
        }
        let (a, b) = (size(&rules, &base), size(&rules, &opt));
        smaller += usize::from(b < a);
        larger += usize::from(b > a);
    }
    assert!(saved > 0);
    assert!(smaller > 300, "{smaller} plans smaller, {larger} larger");
    eprintln!("plans: {smaller} smaller, {larger} larger than -O0");
}
