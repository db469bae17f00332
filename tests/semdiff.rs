//! The semantic diff (`sockc_compiler::semdiff`) against the reference evaluator
//! (`sockc_testkit::eval`) on random pairs of rule files: OLD drawn by the
//! differential tests' generator, NEW either OLD with a few edits (rules deleted,
//! swapped, duplicated elsewhere, their action changed, the default flipped) or a file
//! drawn independently. For every pair:
//!
//! * every example packet the diff reports, run through both files, is decided as the
//!   region says — by the reported rules (or defaults), and differently;
//! * every packet of the differential generator (drawn around both files' prefixes,
//!   ports and flags, malformed ones included) in every socket state whose verdict
//!   differs between the files lies in a reported region of its block.
//!
//! `SOCKC_SEMDIFF_CASES` sets the number of pairs (default 256); `SOCKC_SEMDIFF_SEED`
//! replays a run (each run prints its seed and the pairs it checked). A long run:
//! `SOCKC_SEMDIFF_CASES=100000 cargo test --release --test semdiff`.

#[allow(dead_code)]
#[path = "differential/classifier.rs"]
mod classifier;
#[allow(dead_code)]
#[path = "differential/packets.rs"]
mod packets;
#[allow(dead_code)]
#[path = "differential/rules.rs"]
mod rules;
#[allow(dead_code)]
#[path = "differential/strategies.rs"]
mod strategies;

use std::{
    cell::Cell,
    collections::{BTreeSet, HashMap},
    hash::BuildHasher,
    net::IpAddr,
};

use proptest::{
    prelude::*,
    test_runner::{Config, RngSeed, TestCaseError, TestRunner},
};
use sockc_compiler::{
    hooks::HookKind,
    ir::{Module, Program},
    semdiff::{self, BlockDiff, Outcome},
    space::{frame, l4, Dim, Point, NDIMS},
};
use sockc_testkit::{
    eval::{self, decode, Facts, Headers, L4Fields, SocketState},
    packet::parse_packet,
};

use crate::{
    packets::{case_strategy, PacketRecipe, Pools},
    rules::{Action, RuleSet},
    strategies::rule_set,
};

/// One edit of a rule set, its indexes taken modulo what is there.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Swap(usize, usize),
    /// A copy of rule `.1` put before rule `.2`.
    Copy(usize, usize, usize),
    Flip(usize, usize),
    Default(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = || any::<usize>();
    prop_oneof![
        (i(), i()).prop_map(|(b, r)| Edit::Delete(b, r)),
        (i(), i()).prop_map(|(b, r)| Edit::Swap(b, r)),
        (i(), i(), i()).prop_map(|(b, r, at)| Edit::Copy(b, r, at)),
        (i(), i()).prop_map(|(b, r)| Edit::Flip(b, r)),
        i().prop_map(Edit::Default),
    ]
}

fn apply(mut set: RuleSet, edits: &[Edit]) -> RuleSet {
    for e in edits {
        let nb = set.blocks.len();
        let block = |b: usize| b % nb;
        match *e {
            Edit::Default(b) => {
                let blk = &mut set.blocks[block(b)];
                blk.default_drop = !blk.default_drop;
            }
            Edit::Delete(b, r) | Edit::Swap(b, r) | Edit::Flip(b, r) | Edit::Copy(b, r, _) => {
                let rules = &mut set.blocks[block(b)].rules;
                if rules.is_empty() {
                    continue;
                }
                let r = r % rules.len();
                match *e {
                    Edit::Delete(..) => {
                        rules.remove(r);
                    }
                    Edit::Swap(..) if r + 1 < rules.len() => rules.swap(r, r + 1),
                    Edit::Swap(..) => {}
                    Edit::Flip(..) => {
                        rules[r].action = match rules[r].action {
                            Action::Allow => Action::Drop,
                            Action::Drop => Action::Count,
                            Action::Count => Action::Allow,
                            Action::Reject => Action::Drop,
                        }
                    }
                    Edit::Copy(_, _, at) => {
                        let copy = rules[r].clone();
                        rules.insert(at % (rules.len() + 1), copy);
                    }
                    Edit::Default(_) => unreachable!(),
                }
            }
        }
    }
    set
}

/// OLD, NEW and packet recipes.
fn pair() -> impl Strategy<Value = (RuleSet, RuleSet, Vec<PacketRecipe>)> {
    prop_oneof![
        4 => (case_strategy(24), proptest::collection::vec(edit(), 0..4))
            .prop_map(|((old, recipes), edits)| (old.clone(), apply(old, &edits), recipes)),
        1 => (case_strategy(24), rule_set()).prop_map(|((old, recipes), new)| (old, new, recipes)),
    ]
}

fn module(set: &RuleSet) -> Result<Module, TestCaseError> {
    let src = set.to_string();
    let (ast, diags) = sockc_compiler::syntax::parse(&src);
    let (m, more) = sockc_compiler::sema::check(&ast, &src, &Default::default());
    m.ok_or_else(|| TestCaseError::fail(format!("{src}: {diags:?} {more:?}")))
}

fn program<'m>(m: &'m Module, hook: HookKind, at: &str) -> Option<&'m Program> {
    m.programs
        .values()
        .find(|p| p.hook == hook && p.attach_to == at)
}

/// What a file does with a frame at a block: outcome and deciding line (`None`
/// without the block).
fn decide(
    m: &Module,
    hook: HookKind,
    at: &str,
    frame: &[u8],
    socket: SocketState,
) -> (Outcome, Option<usize>) {
    let Some(p) = program(m, hook, at) else {
        return (Outcome::NoBlock, None);
    };
    let facts = Facts {
        socket,
        registered: m.sockets.keys().collect::<BTreeSet<_>>(),
        ct: None,
        ..Facts::default()
    };
    let e = eval::evaluate(m, p, frame, &facts);
    let outcome = match e.outcome {
        eval::Outcome::Verdict(v) => match sockc_compiler::ir::verdict_name(v) {
            "allow" => Outcome::Allow,
            "drop" => Outcome::Drop,
            _ => Outcome::Pass,
        },
        eval::Outcome::Redirect(a) => panic!("no redirects are drawn: {a:?}"),
        // The diff's outcome is the rule's kind of reject, sent or not.
        eval::Outcome::Reject(_) => match e.decider {
            eval::Decider::Rule(i) => match p.rules[i].action {
                sockc_compiler::ir::Action::Reject(w) => Outcome::Reject(w),
                other => panic!("a reject decided by a `{other}` rule"),
            },
            eval::Decider::Default => panic!("a default never rejects"),
        },
    };
    (outcome, Some(e.line(p)))
}

/// A non-IP frame (ARP).
fn non_ip_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend([0; 28]);
    f
}

fn socket_state(name: Option<&str>) -> SocketState {
    SocketState::ALL
        .into_iter()
        .find(|s| Some(s.name()) == name)
        .unwrap_or_default()
}

/// Every example packet is decided by the reported rules, differently.
fn examples_hold(old: &Module, new: &Module, b: &BlockDiff) -> Result<(), TestCaseError> {
    for c in &b.verdicts {
        let p = c.example.packet();
        let frame = match p.text() {
            Some(t) => parse_packet(&t).map_err(TestCaseError::fail)?.build(),
            None => non_ip_frame(),
        };
        let sock = socket_state(p.socket_name());
        let before = decide(old, b.hook, &b.attach_to, &frame, sock);
        let after = decide(new, b.hook, &b.attach_to, &frame, sock);
        prop_assert_eq!(&before, &(c.before.outcome.clone(), c.before.line), "{}", p);
        prop_assert_eq!(&after, &(c.after.outcome.clone(), c.after.line), "{}", p);
        prop_assert_ne!(before.0, after.0);
    }
    Ok(())
}

/// The point of a decoded frame and socket state (zero where the packet has no field).
fn point_of(h: &Headers, sock: SocketState) -> Point {
    let mut p = Point([0; NDIMS]);
    p[Dim::Vlan] = h.vlan.map_or(0, |v| u128::from(v) + 1);
    let Some(ip) = &h.ip else {
        p[Dim::Frame] = frame::NON_IP;
        p[Dim::EtherType] = h.ether_type.unwrap_or(0).into();
        return p;
    };
    p[Dim::Proto] = ip.proto.into();
    p[Dim::Frag] = ip.fragment.into();
    let bits = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let (fr, src, dst) = match ip.src {
        IpAddr::V4(_) => (frame::V4, Dim::Src4, Dim::Dst4),
        IpAddr::V6(_) => (frame::V6, Dim::Src6, Dim::Dst6),
    };
    (p[Dim::Frame], p[src], p[dst]) = (fr, bits(ip.src), bits(ip.dst));
    match ip.l4 {
        L4Fields::Absent => p[Dim::L4] = l4::ABSENT,
        L4Fields::Ports {
            sport,
            dport,
            tcp_flags,
        } => {
            (p[Dim::L4], p[Dim::Sport], p[Dim::Dport]) = (l4::PRESENT, sport.into(), dport.into());
            p[Dim::TcpFlags] = tcp_flags.unwrap_or(0).into();
            p[Dim::Socket] = SocketState::ALL.iter().position(|&s| s == sock).unwrap() as u128;
        }
        L4Fields::Icmp { ty, code } => {
            (p[Dim::L4], p[Dim::IcmpType], p[Dim::IcmpCode]) =
                (l4::PRESENT, ty.into(), code.into());
        }
    }
    p
}

/// What a run saw: pairs with a verdict change, example packets checked, packets
/// (with a socket state) whose verdict changed.
#[derive(Default)]
struct Seen {
    changing_pairs: Cell<u64>,
    examples: Cell<u64>,
    changed_packets: Cell<u64>,
}

fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

fn check_pair(
    old_set: &RuleSet,
    new_set: &RuleSet,
    recipes: &[PacketRecipe],
    seen: &Seen,
) -> Result<(), TestCaseError> {
    let (old, new) = (module(old_set)?, module(new_set)?);
    let d = semdiff::diff(&old, &new);
    if d.changes_verdicts() {
        bump(&seen.changing_pairs, 1);
        bump(&seen.examples, d.verdict_regions() as u64);
    }
    let mut blocks: HashMap<(HookKind, String), &BlockDiff> = HashMap::new();
    for b in &d.blocks {
        prop_assert!(b.cut_short.is_none(), "cut short: {:?}", b.cut_short);
        examples_hold(&old, &new, b)?;
        blocks.insert((b.hook, b.attach_to.clone()), b);
    }
    let hooks: BTreeSet<(HookKind, String)> = old
        .programs
        .values()
        .chain(new.programs.values())
        .map(|p| (p.hook, p.attach_to.clone()))
        .collect();
    let pools = [Pools::of(old_set), Pools::of(new_set)];
    for r in recipes {
        for pool in &pools {
            let frame = r.resolve(pool, false).frame;
            let h = decode(&frame);
            for sock in SocketState::ALL {
                for (hook, at) in &hooks {
                    let before = decide(&old, *hook, at, &frame, sock).0;
                    let after = decide(&new, *hook, at, &frame, sock).0;
                    if before == after {
                        continue;
                    }
                    bump(&seen.changed_packets, 1);
                    let point = point_of(&h, sock);
                    let found = blocks
                        .get(&(*hook, at.clone()))
                        .is_some_and(|b| b.verdicts.iter().any(|c| c.region.contains(&point)));
                    prop_assert!(
                        found,
                        "{hook} {at}: {before:?} -> {after:?} for {h:?} ({sock:?}) not reported\nOLD:\n{old_set}\nNEW:\n{new_set}"
                    );
                }
            }
        }
    }
    Ok(())
}

#[test]
fn reported_regions_are_exactly_the_changed_packets() {
    let cases: u32 = std::env::var("SOCKC_SEMDIFF_CASES")
        .ok()
        .map(|v| v.parse().expect("SOCKC_SEMDIFF_CASES is a number"))
        .unwrap_or(256);
    let seed: u64 = std::env::var("SOCKC_SEMDIFF_SEED")
        .ok()
        .map(|v| v.parse().expect("SOCKC_SEMDIFF_SEED is a number"))
        .unwrap_or_else(|| std::collections::hash_map::RandomState::new().hash_one(0u8));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    });
    let pairs = Cell::new(0u64);
    let seen = Seen::default();
    let result = runner.run(&pair(), |(old, new, recipes)| {
        bump(&pairs, 1);
        check_pair(&old, &new, &recipes, &seen)
    });
    eprintln!(
        "semdiff: {} file pairs checked, {} with verdict changes ({} example packets, {} \
         changed packets found in their regions); seed {seed} (SOCKC_SEMDIFF_SEED replays)",
        pairs.get(),
        seen.changing_pairs.get(),
        seen.examples.get(),
        seen.changed_packets.get(),
    );
    assert!(
        cases < 64 || seen.changing_pairs.get() * 4 > u64::from(cases),
        "too few pairs change a verdict for the test to mean something"
    );
    if let Err(e) = result {
        panic!("seed {seed}: {e}");
    }
}
