//! The anomaly pass (`sockc_compiler::opt::anomalies`) on random programs: its index
//! finds what a pairwise comparison finds, and what it reports is true of packets as
//! the reference evaluator (`sockc_testkit::eval`) matches them — a shadowed rule's
//! packets all match the covering rule, removing a redundant rule changes no
//! verdict, and its cover/overlap predicates never claim more than packets show.

use ipnet::IpNet;
use proptest::prelude::*;
use sockc_compiler::{
    diag::{Diagnostic, Span},
    ir::{Action, AddrMatch, AddrSet, Module, PortMatch, Program, Rule, RuleMatch, SetId, SockId},
    opt::anomalies::{
        probe::{self, Probe, SMALL_NODE},
        run, LINEAR_SCAN,
    },
    syntax::ast::{Family, SockCond, Verdict},
};
use sockc_testkit::eval::{self, IpHeader, L4Fields};

const SHADOWED: &str = "sockc::shadowed";
const REDUNDANT: &str = "sockc::redundant";

/// The findings as (code, rule, other rule or `None` for the default), pairwise.
fn reference(probe: &Probe, prog: &Program) -> Vec<(&'static str, usize, Option<usize>)> {
    let live: Vec<bool> = prog
        .rules
        .iter()
        .map(|r| probe.matches_something(&r.m))
        .collect();
    let mut out = Vec::new();
    for (i, r) in prog.rules.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let b = &r.m;
        let shadow = (0..i).find(|&a| {
            probe::ends_the_program(&prog.rules[a]) && live[a] && probe.covers(&prog.rules[a].m, b)
        });
        if let Some(a) = shadow {
            out.push((SHADOWED, i, Some(a)));
            continue;
        }
        if !probe::ends_the_program(r) {
            continue;
        }
        let mut verdict = None;
        for (j, x) in prog.rules.iter().enumerate().skip(i + 1) {
            if !live[j] {
                continue;
            }
            if probe::ends_the_program(x) && x.action == r.action && probe.covers(&x.m, b) {
                verdict = Some(Some(j));
                break;
            }
            if probe::may_decide_otherwise(x.action, x.cond.is_some(), r.action)
                && probe.may_overlap(&x.m, b)
            {
                verdict = Some(None);
                break;
            }
        }
        match verdict {
            Some(Some(j)) => out.push((REDUNDANT, i, Some(j))),
            None if probe::decides_as_default(r.action, prog.default) => {
                out.push((REDUNDANT, i, None))
            }
            _ => {}
        }
    }
    // A rule is not called redundant because of the copy that it shadows: the copy is
    // the one to remove (following both warnings would remove the decision).
    let shadowed: Vec<(usize, Option<usize>)> = out
        .iter()
        .filter(|f| f.0 == SHADOWED)
        .map(|f| (f.1, f.2))
        .collect();
    out.retain(|&(code, i, other)| {
        code != REDUNDANT || other.is_none_or(|j| !shadowed.contains(&(j, Some(i))))
    });
    out
}

fn as_findings(prog: &Program, diags: &[Diagnostic]) -> Vec<(&'static str, usize, Option<usize>)> {
    let at = |s: Span| prog.rules.iter().position(|r| r.span == s);
    diags
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                at(d.labels[0].span).unwrap(),
                at(d.labels[1].span),
            )
        })
        .collect()
}

const V4BASE: u128 = 0x0a00_0000;
const V6BASE: u128 = 0x2001_0db8 << 96;

/// A prefix in a 16-address corner of family `f`, or now and then the whole space.
fn prefix(f: usize) -> impl Strategy<Value = IpNet> {
    (0u128..16, 0u8..=5).prop_map(move |(a, l)| {
        let (w, base) = if f == 0 {
            (32u8, V4BASE)
        } else {
            (128u8, V6BASE)
        };
        let len = if l == 0 { 0 } else { w - l + 1 };
        let addr = base | a;
        let net: IpNet = if f == 0 {
            ipnet::Ipv4Net::new((addr as u32).into(), len)
                .unwrap()
                .into()
        } else {
            ipnet::Ipv6Net::new(addr.into(), len).unwrap().into()
        };
        net.trunc()
    })
}

fn port_ranges() -> impl Strategy<Value = PortMatch> {
    prop_oneof![
        2 => Just(PortMatch::Any),
        1 => proptest::collection::btree_set(0u16..8, 1..4).prop_map(|ports| {
            let mut out: Vec<(u16, u16)> = Vec::new();
            for p in ports {
                match out.last_mut() {
                    Some(last) if last.1 + 1 == p => last.1 = p,
                    _ => out.push((p, p)),
                }
            }
            PortMatch::Ranges(out.into())
        }),
        1 => (0u16..8, 0u16..4).prop_map(|(lo, n)| PortMatch::Ranges(Box::new([(lo, lo + n)]))),
    ]
}

#[derive(Clone, Debug)]
struct RawRule {
    action: u8,
    cond: Option<u8>,
    family: u8,
    proto: u8,
    src: (u8, IpNet, IpNet, u8),
    dst: (u8, IpNet, IpNet, u8),
    sport: PortMatch,
    dport: PortMatch,
    flags: Option<(u8, u8)>,
    icmp: (Option<u8>, Option<u8>),
    empty: bool,
}

fn raw_rule() -> impl Strategy<Value = RawRule> {
    let addr = || (0u8..4, prefix(0), prefix(1), 0u8..3);
    (
        (0u8..6, prop::option::weighted(0.1, 0u8..4), 0u8..3, 0u8..7),
        (addr(), addr()),
        (port_ranges(), port_ranges()),
        (
            prop::option::of((0u8..4, 0u8..4)),
            prop::option::of(0u8..3),
            prop::option::of(0u8..2),
        ),
        prop::bool::weighted(0.03),
    )
        .prop_map(
            |((action, cond, family, proto), (src, dst), (sport, dport), (flags, t, c), empty)| {
                RawRule {
                    action,
                    cond,
                    family,
                    proto,
                    src,
                    dst,
                    sport,
                    dport,
                    flags: flags.map(|(m, v)| (m, v & m)),
                    icmp: (t, c),
                    empty,
                }
            },
        )
}

/// A rule as sema would build it (consistent family, protocol and fields).
fn build_rule(r: &RawRule, i: usize, sets: usize, sk_lookup: bool) -> Rule {
    let mut m = RuleMatch::default();
    m.ip_only = true;
    let mut family = match r.family {
        1 => Some(Family::V4),
        2 => Some(Family::V6),
        _ => None,
    };
    m.proto = [
        None,
        Some(6),
        Some(17),
        Some(1),
        Some(58),
        Some(47),
        Some(6),
    ][r.proto as usize];
    match m.proto {
        Some(1) => family = Some(Family::V4),
        Some(58) => family = Some(Family::V6),
        _ => {}
    }
    let addr = |(kind, p4, p6, set): (u8, IpNet, IpNet, u8), family: &mut Option<Family>| match kind
    {
        1 | 2 => match *family {
            Some(Family::V6) => AddrMatch::Prefix(p6),
            Some(Family::V4) => AddrMatch::Prefix(p4),
            None if kind == 1 => {
                *family = Some(Family::V4);
                AddrMatch::Prefix(p4)
            }
            None => {
                *family = Some(Family::V6);
                AddrMatch::Prefix(p6)
            }
        },
        3 => AddrMatch::Set(SetId::from_u32((set as usize % sets) as u32)),
        _ => AddrMatch::Any,
    };
    m.src = addr(r.src, &mut family);
    m.dst = addr(r.dst, &mut family);
    m.family = family;
    if matches!(m.proto, None | Some(6) | Some(17)) {
        m.sport = r.sport.clone();
        m.dport = r.dport.clone();
    }
    if m.proto == Some(6) {
        m.tcp_flags = r.flags;
    }
    if matches!(m.proto, Some(1) | Some(58)) {
        (m.icmp_type, m.icmp_code) = r.icmp;
    }
    if r.empty {
        m = RuleMatch::default();
    }
    let action = match r.action {
        0 | 1 => Action::Allow,
        2 | 3 => Action::Drop,
        4 => Action::Count,
        _ if sk_lookup => Action::Redirect(Some(SockId::from_u32(((i / 3) % 2) as u32))),
        _ => Action::Drop,
    };
    let cond = if matches!(m.proto, Some(6) | Some(17)) {
        r.cond.map(|c| {
            [
                SockCond::Exists,
                SockCond::NoSocket,
                SockCond::Listening,
                SockCond::Established,
            ][c as usize]
        })
    } else {
        None
    };
    Rule {
        counter: i as u32,
        line: i + 2,
        span: Span::new(i * 10, i * 10 + 5),
        text: "".into(),
        action,
        m,
        cond,
    }
}

fn set_strategy() -> impl Strategy<Value = AddrSet> {
    (
        proptest::collection::vec(prefix(0), 0..4),
        proptest::collection::vec(prefix(1), 0..3),
    )
        .prop_map(|(a, b)| AddrSet {
            name: "s".into(),
            v4: a
                .into_iter()
                .map(|n| match n {
                    IpNet::V4(n) => n,
                    _ => unreachable!(),
                })
                .collect(),
            v6: b
                .into_iter()
                .map(|n| match n {
                    IpNet::V6(n) => n,
                    _ => unreachable!(),
                })
                .collect(),
        })
}

fn program_strategy(max_rules: usize) -> impl Strategy<Value = Module> {
    (
        proptest::collection::vec(set_strategy(), 1..4),
        proptest::collection::vec(raw_rule(), 1..max_rules),
        any::<bool>(),
        0u8..3,
    )
        .prop_map(|(sets, raws, sk_lookup, default)| {
            let mut m = Module::default();
            let nsets = sets.len();
            for s in sets {
                m.sets.push(s);
            }
            for name in ["a", "b"] {
                m.sockets.push(sockc_compiler::ir::Socket {
                    name: name.into(),
                    proto: sockc_compiler::syntax::ast::SockProto::Tcp,
                    addr: None,
                    cgroup: None,
                    owner: None,
                });
            }
            let rules: Vec<Rule> = raws
                .iter()
                .enumerate()
                .map(|(i, r)| build_rule(r, i, nsets, sk_lookup))
                .collect();
            let n = rules.len();
            let default = match default {
                0 => Verdict::Allow,
                1 => Verdict::Drop,
                _ if sk_lookup => Verdict::Pass,
                _ => Verdict::Allow,
            };
            m.programs.push(Program {
                hook: if sk_lookup {
                    sockc_compiler::hooks::HookKind::SkLookup
                } else {
                    sockc_compiler::hooks::HookKind::Xdp
                },
                attach_to: String::new(),
                symbol: "p".into(),
                steps: Program::unoptimized_steps(n),
                rules,
                default,
                default_line: n + 2,
                default_span: Span::new(n * 10, n * 10 + 5),
                default_counter: n as u32,
                span: Span::new(0, n * 10 + 5),
            });
            m
        })
}

fn header() -> impl Strategy<Value = eval::Headers> {
    let ip = (
        any::<bool>(),
        0u128..18,
        0u128..18,
        0usize..6,
        (0u16..9, 0u16..9, 0u8..16, 0u8..4, 0u8..3),
        0u8..5,
    )
        .prop_map(|(v6, s, d, p, (sp, dp, fl, ty, code), l4)| {
            let addr = |a: u128| -> std::net::IpAddr {
                if v6 {
                    std::net::Ipv6Addr::from(V6BASE | a).into()
                } else {
                    std::net::Ipv4Addr::from((V4BASE | a) as u32).into()
                }
            };
            let proto = [6u8, 17, 1, 58, 47, 6][p];
            let l4 = match proto {
                _ if l4 == 0 => L4Fields::Absent,
                6 => L4Fields::Ports {
                    sport: sp,
                    dport: dp,
                    tcp_flags: Some(fl),
                },
                17 => L4Fields::Ports {
                    sport: sp,
                    dport: dp,
                    tcp_flags: None,
                },
                1 | 58 => L4Fields::Icmp { ty, code },
                _ => L4Fields::Absent,
            };
            IpHeader {
                src: addr(s),
                dst: addr(d),
                proto,
                fragment: false,
                l4,
                ttl: 64,
                tos: 0,
                // Any length both families' packets can have.
                length: 64,
            }
        });
    prop::option::weighted(0.95, ip).prop_map(|ip| eval::Headers {
        len: 64,
        ip,
        ether_type: None,
        vlan: None,
    })
}

/// What decides a packet: (rule index or `None` for the default, action).
fn decide(m: &Module, rules: &[Rule], h: &eval::Headers, socket: u8) -> Option<Action> {
    for r in rules {
        let holds = r.cond.is_none_or(|c| match c {
            SockCond::Exists => socket != 0,
            SockCond::NoSocket => socket == 0,
            SockCond::Listening => socket == 1,
            SockCond::Established => socket == 2,
        });
        if r.action != Action::Count && holds && eval::packet_matches(m, &r.m, h) {
            return Some(r.action);
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The indexed search finds exactly what comparing every pair finds, whether
    /// the rules between are scanned or searched.
    #[test]
    fn index_agrees_with_pairwise(m in program_strategy(60)) {
        let probe = Probe::new(&m);
        let prog = m.programs.values().next().unwrap();
        let want = reference(&probe, prog);
        for (linear, small) in [(0, 0), (3, 1), (LINEAR_SCAN, SMALL_NODE), (0, SMALL_NODE)] {
            let (d, all_checked) = probe::findings_with_limits(&m, prog, linear, small);
            prop_assert!(all_checked);
            prop_assert_eq!(&as_findings(prog, &d), &want, "linear {} small {}", linear, small);
        }
    }

    /// Following every warning at once — removing every rule reported shadowed or
    /// redundant — changes no verdict (a duplicated rule gets one warning, not two
    /// that together would remove it).
    #[test]
    fn removing_every_reported_rule_changes_no_verdict(
        m in program_strategy(25),
        packets in proptest::collection::vec(header(), 200),
    ) {
        let prog = m.programs.values().next().unwrap();
        let found = as_findings(prog, &run(&m));
        let reported: Vec<usize> = found.iter().map(|f| f.1).collect();
        let kept: Vec<Rule> = prog
            .rules
            .iter()
            .enumerate()
            .filter(|(i, _)| !reported.contains(i))
            .map(|(_, r)| r.clone())
            .collect();
        for h in &packets {
            for socket in 0..3 {
                let before = decide(&m, &prog.rules, h, socket).ok_or(prog.default);
                let after = decide(&m, &kept, h, socket).ok_or(prog.default);
                let same = match (before, after) {
                    (Ok(a), Ok(b)) => a == b,
                    (Err(a), Err(b)) => a == b,
                    (Ok(a), Err(v)) | (Err(v), Ok(a)) => probe::decides_as_default(a, v),
                };
                prop_assert!(same, "removing rules {:?} changes {:?}", reported, h);
            }
        }
    }

    /// What the pass reports is true of every packet: a shadowed rule's packets
    /// all match the covering rule; removing a redundant rule changes no verdict.
    #[test]
    fn findings_hold_for_packets(
        m in program_strategy(25),
        packets in proptest::collection::vec(header(), 200),
    ) {
        let prog = m.programs.values().next().unwrap();
        let found = as_findings(prog, &run(&m));
        for (code, i, other) in found {
            let rule = &prog.rules[i];
            if code == SHADOWED {
                let a = &prog.rules[other.unwrap()];
                for h in &packets {
                    prop_assert!(!eval::packet_matches(&m, &rule.m, h) || eval::packet_matches(&m, &a.m, h),
                        "rule {} not covered by {} for {:?}", i, other.unwrap(), h);
                }
            } else {
                let mut without = prog.rules.clone();
                without.remove(i);
                for h in &packets {
                    for socket in 0..3 {
                        let before = decide(&m, &prog.rules, h, socket).ok_or(prog.default);
                        let after = decide(&m, &without, h, socket).ok_or(prog.default);
                        let same = match (before, after) {
                            (Ok(a), Ok(b)) => a == b,
                            (Err(a), Err(b)) => a == b,
                            (Ok(a), Err(v)) | (Err(v), Ok(a)) => probe::decides_as_default(a, v),
                        };
                        prop_assert!(same, "removing rule {} changes {:?}", i, h);
                    }
                }
            }
        }
    }

    /// `covers` and `may_overlap` against packets, for any two rules.
    #[test]
    fn predicates_hold_for_packets(
        m in program_strategy(8),
        packets in proptest::collection::vec(header(), 300),
    ) {
        let probe = Probe::new(&m);
        let prog = m.programs.values().next().unwrap();
        for a in &prog.rules {
            for b in &prog.rules {
                if !probe.matches_something(&a.m) || !probe.matches_something(&b.m) {
                    // A rule with no shape matches no packet.
                    for r in [a, b] {
                        if !probe.matches_something(&r.m) {
                            prop_assert!(packets.iter().all(|h| !eval::packet_matches(&m, &r.m, h)));
                        }
                    }
                    continue;
                }
                let covers = probe.covers(&a.m, &b.m);
                let overlap = probe.may_overlap(&a.m, &b.m);
                for h in &packets {
                    let (ma, mb) = (eval::packet_matches(&m, &a.m, h), eval::packet_matches(&m, &b.m, h));
                    prop_assert!(!covers || !mb || ma, "covers wrong: {:?} {:?} {:?}", a.m, b.m, h);
                    prop_assert!(overlap || !(ma && mb), "overlap wrong: {:?} {:?} {:?}", a.m, b.m, h);
                }
            }
        }
    }
}
