//! The semantic diff (`sockc_compiler::semdiff`) against the reference evaluator
//! (`sockc_testkit::eval`) on random pairs of rule files: OLD drawn by the
//! differential tests' generator with facts from outside the frame added to some
//! rules (`ct state`, `route`, `limit [over]` from a few buckets, two of them one
//! bucket written two ways, `in on`/`out on` with names, prefixes and negations, and
//! `owner` at tc egress and netfilter postrouting), NEW either OLD with a few edits
//! (rules deleted, swapped, duplicated elsewhere, their action or their facts
//! changed, the default flipped, a block removed or moved to another interface) or a
//! file drawn independently. About a
//! third of the pairs are written as netfilter blocks (one hook per interface,
//! [`for_hooks`]), where the device matches stay. For every pair:
//!
//! * every example packet the diff reports, run through both files with the facts
//!   its text names (the buckets out of room among them), is decided as the region
//!   says — by the reported rules (or defaults), and differently;
//! * every packet of the differential generator (drawn around both files' prefixes,
//!   ports and flags, malformed ones included) in every socket state (and, when a
//!   file tests them, every conntrack state, routing class, pair of devices, owner
//!   and state of the buckets) whose verdict differs between the files lies in a reported
//!   region of its block. A block on one side only is compared with no block: the
//!   packet goes on as the kernel lets it without a program
//!   (`semdiff::Outcome::without_block`).
//!
//! `SOCKC_SEMDIFF_CASES` sets the number of pairs (default 256); `SOCKC_SEMDIFF_SEED`
//! replays a run (each run prints its seed and the pairs it checked). A long run:
//! `SOCKC_SEMDIFF_CASES=100000 cargo test --release --test differential semdiff::`.

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
    space::{ct, dev, frame, hook_universe, l4, never_a_packet, over, route, Dim, Point, NDIMS},
    syntax::{
        ct::CtState,
        ids::IdKind,
        iface::DevName,
        limit::Limit,
        limit_fact::{self, BucketKey, OverLimit},
        owner::NO_OWNER,
        route::RouteClass,
    },
};
use sockc_testkit::{
    eval::{self, decode, Facts, Headers, L4Fields, SocketState},
    packet::parse_packet,
};

use crate::{
    packets::{case_strategy, PacketRecipe, Pools},
    rules::{Action, Hook, RuleSet, INTERFACES},
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
    /// Rule `.1`'s facts replaced by `.2`.
    Facts(usize, usize, Fact),
    /// Block `.0` removed (when there are two).
    DropBlock(usize),
    /// Block `.0` moved to interface `.1` (one its hook has no other block on).
    MoveBlock(usize, usize),
}

/// A match on a fact from outside the frame.
#[derive(Clone, Copy, Debug)]
enum Fact {
    None,
    /// `ct state` of these states (a non-empty mask of `CtState::ALL`).
    Ct(u8),
    /// `route local` (false) or `route forward` (true).
    Route(bool),
    /// `limit [over] LIMITS[.0]`.
    Limit(usize, bool),
    /// `in on DEVICES[.1]` (`.0`) or `out on` (netfilter blocks only; the others
    /// drop it: [`for_hooks`]).
    Dev(bool, usize),
    /// `OWNERS[.0]` (tc egress, uid only, and netfilter postrouting; the others drop
    /// it: [`for_hooks`]).
    Owner(usize),
}

/// The owner matches drawn: sets, ranges, negations, the overflow uid TC reads for a
/// packet without a socket.
const OWNERS: [&str; 6] = [
    "owner uid 1001",
    "owner uid 0-1000",
    "owner !uid 1001",
    "owner uid { 0, 65534 }",
    "owner gid 100",
    "owner !gid 0-99",
];

/// The owners a packet is tried with when a file tests them: none, and ids each
/// match tells apart.
const UIDS: [Option<u32>; 5] = [None, Some(0), Some(1001), Some(65534), Some(5000)];
const GIDS: [Option<u32>; 4] = [None, Some(0), Some(100), Some(5000)];

/// The limits drawn: a few buckets, two of them one bucket written two ways.
const LIMITS: [&str; 5] = [
    "10/second",
    "20/second",
    "600/minute burst 5",
    "10/second per source",
    "3/second burst 1",
];

/// The device matches drawn: names, prefixes, negations.
const DEVICES: [&str; 6] = ["eth0", "eth*", "!lo", "wg+,eth1", "!eth0,wg*", "lo"];

/// The devices a packet is tried with when a file tests them: none, each name the
/// matches tell apart, and one no match names.
const DEVICE_NAMES: [Option<&str>; 7] = [
    None,
    Some("eth0"),
    Some("eth"),
    Some("eth1"),
    Some("wg0"),
    Some("lo"),
    Some("x9"),
];

fn fact() -> impl Strategy<Value = Fact> {
    prop_oneof![
        2 => Just(Fact::None),
        2 => (1u8..32).prop_map(Fact::Ct),
        1 => any::<bool>().prop_map(Fact::Route),
        2 => (0..LIMITS.len(), any::<bool>()).prop_map(|(l, o)| Fact::Limit(l, o)),
        3 => (any::<bool>(), 0..DEVICES.len()).prop_map(|(d, n)| Fact::Dev(d, n)),
        2 => (0..OWNERS.len()).prop_map(Fact::Owner),
    ]
}

/// The words of `f` in a block of `hook` (`route` exists at xdp and tc ingress only).
fn fact_words(f: Fact, hook: Hook) -> Vec<String> {
    match f {
        Fact::None => Vec::new(),
        Fact::Ct(mask) => {
            let states: Vec<&str> = CtState::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, s)| s.name())
                .collect();
            vec![format!("ct state {}", states.join(","))]
        }
        Fact::Route(_) if hook == Hook::TcEgress => Vec::new(),
        Fact::Route(forward) => vec![format!(
            "route {}",
            if forward { "forward" } else { "local" }
        )],
        Fact::Limit(l, over) => vec![format!(
            "limit {}{}",
            if over { "over " } else { "" },
            LIMITS[l]
        )],
        Fact::Dev(incoming, d) => vec![format!(
            "{} on {}",
            if incoming { "in" } else { "out" },
            DEVICES[d]
        )],
        Fact::Owner(o) => vec![OWNERS[o].to_string()],
    }
}

/// The netfilter hook a block on interface `i` becomes in a netfilter pair, and
/// whether it has an incoming and an outgoing device.
const NF_HOOKS: [(&str, bool, bool); 4] = [
    ("input", true, false),
    ("forward", true, true),
    ("postrouting", false, true),
    ("prerouting", true, false),
];

/// `set` as the files are written: with `netfilter`, each block becomes the
/// netfilter block of its interface ([`NF_HOOKS`]; a second block on one interface is
/// left out), its rules without what netfilter cannot do (`frag`, `route`, frame
/// matches, `reject` becomes `drop`, devices the hook has not); without, the device
/// matches are left out. A non-IP `ether type` beside facts is left out (an error).
fn for_hooks(set: &RuleSet, netfilter: bool) -> String {
    let mut set = set.clone();
    let mut seen = BTreeSet::new();
    set.blocks.retain(|b| !netfilter || seen.insert(b.iface));
    let mut heads = Vec::new();
    for b in &mut set.blocks {
        let (hook, has_in, has_out) = NF_HOOKS[b.iface];
        let keep = |w: &String| match w.split_whitespace().next() {
            Some("in") => netfilter && has_in,
            Some("out") => netfilter && has_out,
            Some("route") => !netfilter,
            Some("owner") if netfilter => hook == "postrouting",
            Some("owner") => b.hook == Hook::TcEgress && !w.contains("gid"),
            _ => true,
        };
        for r in &mut b.rules {
            r.facts.retain(keep);
            r.fit_frames_to_facts();
            if netfilter {
                r.frag = false;
                r.without_frames();
                if matches!(r.action, Action::Reject(_)) {
                    r.action = Action::Drop;
                }
            }
        }
        heads.push((format!("{} {{", b.head()), format!("netfilter {hook} {{")));
    }
    let text = set.to_string();
    if !netfilter {
        return text;
    }
    text.lines()
        .map(
            |l| match heads.iter().find(|(h, _)| l.starts_with(h.as_str())) {
                Some((h, nf)) => format!("{nf}{}\n", &l[h.len()..]),
                None => format!("{l}\n"),
            },
        )
        .collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = || any::<usize>();
    prop_oneof![
        (i(), i()).prop_map(|(b, r)| Edit::Delete(b, r)),
        (i(), i()).prop_map(|(b, r)| Edit::Swap(b, r)),
        (i(), i(), i()).prop_map(|(b, r, at)| Edit::Copy(b, r, at)),
        (i(), i()).prop_map(|(b, r)| Edit::Flip(b, r)),
        i().prop_map(Edit::Default),
        (i(), i(), fact()).prop_map(|(b, r, f)| Edit::Facts(b, r, f)),
        i().prop_map(Edit::DropBlock),
        (i(), i()).prop_map(|(b, at)| Edit::MoveBlock(b, at)),
    ]
}

/// Block `b` moved to the first interface from `at` on that its hook has no other
/// block on (it stays where it is when there is none).
fn move_block(set: &mut RuleSet, b: usize, at: usize) {
    let hook = set.blocks[b].hook;
    let taken = |i: usize| {
        set.blocks
            .iter()
            .enumerate()
            .any(|(j, o)| j != b && o.hook == hook && o.iface == i)
    };
    if let Some(i) = (0..INTERFACES.len())
        .map(|k| (at + k) % INTERFACES.len())
        .find(|&i| !taken(i))
    {
        set.blocks[b].iface = i;
    }
}

fn apply(mut set: RuleSet, edits: &[Edit]) -> RuleSet {
    for e in edits {
        let nb = set.blocks.len();
        let block = |b: usize| b % nb;
        match *e {
            Edit::DropBlock(b) if nb > 1 => {
                set.blocks.remove(block(b));
            }
            Edit::DropBlock(_) => {}
            Edit::MoveBlock(b, at) => move_block(&mut set, block(b), at),
            Edit::Default(b) => {
                let blk = &mut set.blocks[block(b)];
                blk.default_drop = !blk.default_drop;
            }
            Edit::Delete(b, r)
            | Edit::Swap(b, r)
            | Edit::Flip(b, r)
            | Edit::Copy(b, r, _)
            | Edit::Facts(b, r, _) => {
                let hook = set.blocks[block(b)].hook;
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
                            Action::Reject(_) => Action::Drop,
                        }
                    }
                    Edit::Copy(_, _, at) => {
                        let copy = rules[r].clone();
                        rules.insert(at % (rules.len() + 1), copy);
                    }
                    Edit::Facts(_, _, f) => rules[r].facts = fact_words(f, hook),
                    Edit::Default(_) | Edit::DropBlock(_) | Edit::MoveBlock(..) => unreachable!(),
                }
            }
        }
    }
    set
}

/// A drawn rule set with facts drawn for its rules (for about half the sets: the
/// others keep the frame-only rules the diff compared before it had facts).
fn with_facts(set: impl Strategy<Value = RuleSet>) -> impl Strategy<Value = RuleSet> {
    (
        set,
        any::<bool>(),
        proptest::collection::vec(prop_oneof![3 => Just(Fact::None), 1 => fact()], 24),
        proptest::collection::vec(prop_oneof![3 => Just(Fact::None), 1 => fact()], 24),
    )
        .prop_map(|(mut set, draw, facts, more)| {
            if draw {
                for b in &mut set.blocks {
                    let hook = b.hook;
                    for ((r, &f), &g) in b.rules.iter_mut().zip(&facts).zip(&more) {
                        r.facts = fact_words(f, hook);
                        // A second fact of another kind (two `limit`s or two
                        // matches of one device do not make a rule).
                        if std::mem::discriminant(&f) != std::mem::discriminant(&g) {
                            r.facts.extend(fact_words(g, hook));
                        }
                    }
                }
            }
            set
        })
}

/// OLD, NEW, packet recipes, and whether the blocks are netfilter ones.
type Pair = (RuleSet, RuleSet, Vec<PacketRecipe>, bool);

fn pair() -> impl Strategy<Value = Pair> {
    let old =
        || case_strategy(24).prop_flat_map(|(set, recipes)| (with_facts(Just(set)), Just(recipes)));
    let files = prop_oneof![
        4 => (old(), proptest::collection::vec(edit(), 0..4))
            .prop_map(|((old, recipes), edits)| (old.clone(), apply(old, &edits), recipes)),
        1 => (old(), with_facts(rule_set())).prop_map(|((old, recipes), new)| (old, new, recipes)),
    ];
    (files, prop::bool::weighted(0.3)).prop_map(|((o, n, r), nf)| (o, n, r, nf))
}

fn module(set: &RuleSet, netfilter: bool) -> Result<Module, TestCaseError> {
    let src = for_hooks(set, netfilter);
    let (ast, diags) = sockc_compiler::syntax::parse(&src);
    let (m, more) = sockc_compiler::sema::check(ast, &src, &Default::default());
    m.ok_or_else(|| TestCaseError::fail(format!("{src}: {diags:?} {more:?}")))
}

fn program<'m>(m: &'m Module, hook: HookKind, at: &str) -> Option<&'m Program> {
    m.programs
        .values()
        .find(|p| p.hook == hook && p.attach_to == at)
}

/// The facts a packet is decided with, beside its frame.
#[derive(Clone, Debug)]
struct Given {
    socket: SocketState,
    /// `None`: the state a packet without a conntrack entry has.
    ct: Option<CtState>,
    /// `None`: `local`.
    route: Option<RouteClass>,
    /// The buckets with no room (each by key and ordinal).
    over: Vec<OverLimit>,
    iif: Option<DevName>,
    oif: Option<DevName>,
    /// The owner of the packet's socket (`None`: no socket owns it).
    uid: Option<u32>,
    gid: Option<u32>,
}

/// What a file does with a frame at a block: outcome and deciding line (`None`
/// without the block, whose outcome is what the kernel does without one).
fn decide(
    m: &Module,
    hook: HookKind,
    at: &str,
    frame: &[u8],
    g: &Given,
) -> (Outcome, Option<usize>) {
    let Some(p) = program(m, hook, at) else {
        return (Outcome::without_block(hook), None);
    };
    let facts = Facts {
        socket: g.socket,
        registered: m.sockets.keys().collect::<BTreeSet<_>>(),
        ct: g.ct,
        route: g.route,
        over: g.over.clone(),
        iif: g.iif,
        oif: g.oif,
        uid: g.uid,
        gid: g.gid,
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
        let frame = match p.frame_text() {
            Some(t) => parse_packet(&t).map_err(TestCaseError::fail)?.build(),
            None => non_ip_frame(),
        };
        let given = Given {
            socket: socket_state(p.socket_name()),
            ct: p.ct,
            route: p.route,
            over: c.limits.clone(),
            iif: p.iif,
            oif: p.oif,
            uid: p.uid,
            gid: p.gid,
        };
        let before = decide(old, b.hook, &b.attach_to, &frame, &given);
        let after = decide(new, b.hook, &b.attach_to, &frame, &given);
        let text = c.example_text().unwrap_or_default();
        prop_assert_eq!(
            &before,
            &(c.before.outcome.clone(), c.before.line),
            "{}",
            text
        );
        prop_assert_eq!(&after, &(c.after.outcome.clone(), c.after.line), "{}", text);
        prop_assert_ne!(before.0, after.0);
    }
    Ok(())
}

/// The point of a decoded frame and its facts (zero where the packet has no field) in
/// a block whose buckets are `buckets` (by their bit number).
fn point_of(h: &Headers, g: &Given, buckets: &[OverLimit]) -> Point {
    let mut p = Point([0; NDIMS]);
    let sock = g.socket;
    p[Dim::InDev] = dev::value(g.iif.as_ref());
    p[Dim::OutDev] = dev::value(g.oif.as_ref());
    p[Dim::Uid] = g.uid.unwrap_or(NO_OWNER).into();
    p[Dim::Gid] = g.gid.unwrap_or(NO_OWNER).into();
    for (i, b) in buckets.iter().enumerate() {
        if g.over.iter().any(|o| o.names(b.key, b.nth.unwrap_or(1))) {
            p[Dim::Over] |= over::bit(i);
        }
    }
    p[Dim::Vlan] = h.vlan.map_or(0, |v| u128::from(v) + 1);
    let facts = Facts {
        ct: g.ct,
        ..Facts::default()
    };
    if let Some(state) = eval::ct_state(h, &facts) {
        p[Dim::Ct] = ct::value(state);
    }
    p[Dim::Route] = route::value(g.route.unwrap_or(RouteClass::Local));
    let Some(ip) = &h.ip else {
        p[Dim::Frame] = frame::NON_IP;
        p[Dim::EtherType] = h.ether_type.unwrap_or(0).into();
        return p;
    };
    p[Dim::Proto] = ip.proto.into();
    p[Dim::Frag] = ip.fragment.into();
    p[Dim::HopLimit] = ip.ttl.into();
    p[Dim::Dscp] = (ip.tos >> 2).into();
    p[Dim::Ecn] = (ip.tos & 3).into();
    // The header's field: an IPv6 packet's payload length is 40 less.
    let base = if ip.src.is_ipv6() { 40 } else { 0 };
    p[Dim::Length] = ip.length.saturating_sub(base).into();
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

/// The facts each packet is tried with: every socket state, and every conntrack
/// state and routing class when a file tests them (else the defaults: the rules
/// cannot tell the others apart).
fn given(old: &Module, new: &Module) -> Vec<Given> {
    let tests = |f: fn(&sockc_compiler::ir::Rule) -> bool| {
        [old, new]
            .iter()
            .flat_map(|m| m.programs.values())
            .any(|p| p.rules.iter().any(f))
    };
    let cts: Vec<Option<CtState>> = if tests(|r| r.m.ct.is_some()) {
        CtState::ALL.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let routes: Vec<Option<RouteClass>> = if tests(|r| r.m.route.is_some()) {
        RouteClass::ALL.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let devices = |tested: bool| -> Vec<Option<DevName>> {
        if tested {
            DEVICE_NAMES
                .iter()
                .map(|d| d.and_then(DevName::new))
                .collect()
        } else {
            vec![None]
        }
    };
    let iifs = devices(tests(|r| r.m.rare().iif.is_some()));
    let oifs = devices(tests(|r| r.m.rare().oif.is_some()));
    let owners = |kind: IdKind, ids: &[Option<u32>]| -> Vec<Option<u32>> {
        if tests_owner(old, new, kind) {
            ids.to_vec()
        } else {
            vec![None]
        }
    };
    let (uids, gids) = (owners(IdKind::Uid, &UIDS), owners(IdKind::Gid, &GIDS));
    let overs = bucket_states(old, new);
    let mut out = Vec::new();
    for socket in SocketState::ALL {
        for &ct in &cts {
            for &route in &routes {
                for &iif in &iifs {
                    for &oif in &oifs {
                        for over in &overs {
                            for (&uid, &gid) in
                                uids.iter().flat_map(|u| gids.iter().map(move |g| (u, g)))
                            {
                                out.push(Given {
                                    socket,
                                    ct,
                                    route,
                                    over: over.clone(),
                                    iif,
                                    oif,
                                    uid,
                                    gid,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Whether a rule of either file tests the owner of kind `kind`.
fn tests_owner(old: &Module, new: &Module, kind: IdKind) -> bool {
    [old, new]
        .iter()
        .flat_map(|m| m.programs.values())
        .any(|p| {
            p.rules
                .iter()
                .any(|r| r.m.rare().owner.as_ref().is_some_and(|o| o.kind() == kind))
        })
}

/// The states of the buckets a packet is tried with: every subset of the files'
/// buckets (each rule's, by key and ordinal in its block) out of room, when there
/// are at most 4; else none, all, each one alone and all but each one.
fn bucket_states(old: &Module, new: &Module) -> Vec<Vec<OverLimit>> {
    let mut all: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut named = Vec::new();
    for p in [old, new].iter().flat_map(|m| m.programs.values()) {
        let keys: Vec<_> = p
            .rules
            .iter()
            .map(|r| {
                r.m.limit()
                    .map(|l| BucketKey::new(l.bucket, l.limit.per_source))
            })
            .collect();
        for (r, n) in p.rules.iter().zip(limit_fact::ordinals(keys)) {
            if let Some(l) = r.m.limit() {
                let o = OverLimit::new(
                    Limit {
                        over: false,
                        ..l.limit
                    },
                    Some(n),
                )
                .unwrap();
                if all.insert((format!("{:?}", o.key), n)) {
                    named.push(o);
                }
            }
        }
    }
    let n = named.len();
    let pick = |mask: u32| -> Vec<OverLimit> {
        (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| named[i])
            .collect()
    };
    if n <= 4 {
        return (0..1u32 << n).map(pick).collect();
    }
    let full = (1u32 << n) - 1;
    let mut masks = vec![0, full];
    masks.extend((0..n).flat_map(|i| [1 << i, full & !(1 << i)]));
    masks.into_iter().map(pick).collect()
}

/// What a run saw: pairs with a verdict change, example packets checked, packets
/// (with a socket state) whose verdict changed.
#[derive(Default)]
struct Seen {
    /// Pairs where a file tests `ct state` or `route`.
    fact_pairs: Cell<u64>,
    /// Pairs with a block on one side only.
    one_sided_pairs: Cell<u64>,
    /// Pairs where a file has a `limit`, or tests a device.
    limit_pairs: Cell<u64>,
    device_pairs: Cell<u64>,
    /// Pairs where a file tests the owner.
    owner_pairs: Cell<u64>,
    changing_pairs: Cell<u64>,
    examples: Cell<u64>,
    changed_packets: Cell<u64>,
}

fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

fn check_pair(
    (old_set, new_set, recipes, netfilter): &Pair,
    seen: &Seen,
) -> Result<(), TestCaseError> {
    let netfilter = *netfilter;
    let (old, new) = (module(old_set, netfilter)?, module(new_set, netfilter)?);
    let d = semdiff::diff(&old, &new);
    if d.changes_verdicts() {
        bump(&seen.changing_pairs, 1);
        bump(&seen.examples, d.verdict_regions() as u64);
    }
    let mut blocks: HashMap<(HookKind, String), &BlockDiff> = HashMap::new();
    for b in &d.blocks {
        prop_assert!(b.cut_short.is_none(), "cut short: {:?}", b.cut_short);
        examples_hold(&old, &new, b)
            .map_err(|e| TestCaseError::fail(format!("{e}\nOLD:\n{old_set}\nNEW:\n{new_set}")))?;
        blocks.insert((b.hook, b.attach_to.clone()), b);
    }
    let hooks: BTreeSet<(HookKind, String)> = old
        .programs
        .values()
        .chain(new.programs.values())
        .map(|p| (p.hook, p.attach_to.clone()))
        .collect();
    let pools = [Pools::of(old_set), Pools::of(new_set)];
    let facts = given(&old, &new);
    if facts.len() > SocketState::ALL.len() {
        bump(&seen.fact_pairs, 1);
    }
    let tests = |m: &Module, f: fn(&sockc_compiler::ir::Rule) -> bool| {
        m.programs.values().any(|p| p.rules.iter().any(f))
    };
    if tests(&old, |r| r.m.limit().is_some()) || tests(&new, |r| r.m.limit().is_some()) {
        bump(&seen.limit_pairs, 1);
    }
    if tests(&old, |r| r.m.tests_device()) || tests(&new, |r| r.m.tests_device()) {
        bump(&seen.device_pairs, 1);
    }
    if tests(&old, |r| r.m.rare().owner.is_some()) || tests(&new, |r| r.m.rare().owner.is_some()) {
        bump(&seen.owner_pairs, 1);
    }
    let blocks_of = |m: &Module| -> BTreeSet<(HookKind, String)> {
        m.programs
            .values()
            .map(|p| (p.hook, p.attach_to.clone()))
            .collect()
    };
    if blocks_of(&old) != blocks_of(&new) {
        bump(&seen.one_sided_pairs, 1);
    }
    for r in recipes {
        for pool in &pools {
            let frame = r.resolve(pool, false).frame;
            let h = decode(&frame);
            for g in &facts {
                for (hook, at) in &hooks {
                    let before = decide(&old, *hook, at, &frame, g).0;
                    let after = decide(&new, *hook, at, &frame, g).0;
                    // (Netfilter sees IP packets only: the frames outside what the
                    // hook sees are not its packets; no UDP lookup finds a time-wait
                    // socket.)
                    let p = point_of(&h, g, &[]);
                    let seen_by_hook =
                        hook_universe(*hook).contains(&p) && !never_a_packet().contains(&p);
                    if before == after || !seen_by_hook {
                        continue;
                    }
                    bump(&seen.changed_packets, 1);
                    let sock = g;
                    let found = blocks.get(&(*hook, at.clone())).is_some_and(|b| {
                        let point = point_of(&h, g, &b.buckets);
                        b.verdicts.iter().any(|c| c.region.contains(&point))
                    });
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

/// Pairs a random run once found wrong, kept as fixed cases: every example packet the
/// diff prints is decided as it says by the evaluator.
#[test]
fn examples_of_found_pairs_hold() {
    // Seed 12608001565811436921: an IPv6 `proto 51` (AH) packet longer than its header
    // was printed without being cut, so the prologue walked the zeros behind it.
    let found = [(
        "xdp on eth0 {\n    reject proto 51 from 7f00:1::/64 hoplimit == 149,128,255 \
         dscp == 8,40,48 length >= 83\n    drop proto 0 ip6 length > 60\n    default allow\n}\n",
        "xdp on eth0 {\n    default allow\n}\n",
    )];
    for (old, new) in found {
        let (old, new) = (source_module(old), source_module(new));
        let d = semdiff::diff(&old, &new);
        assert!(d.changes_verdicts());
        for b in &d.blocks {
            examples_hold(&old, &new, b).unwrap();
        }
    }
}

fn source_module(src: &str) -> Module {
    let (ast, diags) = sockc_compiler::syntax::parse(src);
    let (m, more) = sockc_compiler::sema::check(ast, src, &Default::default());
    m.unwrap_or_else(|| panic!("{src}: {diags:?} {more:?}"))
}

/// How often a run prints its progress, in pairs.
const PROGRESS_EVERY: u64 = 5000;

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
    let started = std::time::Instant::now();
    let result = runner.run(&pair(), |pair| {
        bump(&pairs, 1);
        // A long run shows it is alive, and how far it got if it is stopped.
        if pairs.get().is_multiple_of(PROGRESS_EVERY) {
            eprintln!(
                "semdiff: {} pairs checked ({} with verdict changes) in {:.0?}, seed {seed}",
                pairs.get(),
                seen.changing_pairs.get(),
                started.elapsed()
            );
        }
        check_pair(&pair, &seen)
    });
    eprintln!(
        "semdiff: {} file pairs checked ({} testing ct state, route, limits or devices, {} \
         with a limit, {} testing a device, {} testing the owner, {} with a block on one side \
         only), {} with verdict changes ({} example packets, {} changed packets found in their regions); \
         seed {seed} (SOCKC_SEMDIFF_SEED replays)",
        pairs.get(),
        seen.fact_pairs.get(),
        seen.limit_pairs.get(),
        seen.device_pairs.get(),
        seen.owner_pairs.get(),
        seen.one_sided_pairs.get(),
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
