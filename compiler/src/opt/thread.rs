//! Jump threading and shared header checks over the tests of the rules that stay
//! linear (`-O2`; libpcap's `opt_j` is the model).
//!
//! # Rules as test lists
//!
//! Lowering tests a rule as a chain of [`Test`]s on the flow record that the prologue
//! filled ([`rule_tests`] lists them in the order `-O0` emits them): each test is one
//! decision (`L3 == 4`, `PROTO in {6, 17}`, `L4_OK != 0`, a masked compare of an
//! address, a set lookup, a port range test, a flag test, an ICMP test), and the first
//! one that fails sends control to the next rule. A rule's action runs when all of its
//! tests pass; a `count` rule then goes on with the next rule.
//!
//! # What threading does
//!
//! Every test position `(rule, test)` is a *node*; position `(rule, tests.len())` is
//! the rule's action. Control reaches a node along *edges*: the fall-through from the
//! previous test of the rule (it passed), a failing test of an earlier rule, or an
//! earlier `count` rule that went on. Along each edge we know [`Knowledge`] about the
//! packet: what the tests on that path said. At a node, the knowledge is the *meet*
//! of its incoming edges (what holds on every one of them). [`threaded`] walks the
//! nodes in program order (edges only go forward, so one pass sees every edge into a
//! node before the node) and decides for each:
//!
//! * a test known to pass on every path into it is not emitted ([`Node::Known`]);
//! * a test known to fail becomes a jump to where its failure leads ([`Node::Skip`]);
//! * otherwise it is emitted ([`Node::Test`]) and its failure is *threaded*: with the
//!   knowledge "everything known here, and this test failed", later rules that have
//!   a test known to fail are skipped whole (the reasoning goes on with the same
//!   knowledge), and control enters the first rule that can still match after its
//!   leading tests that are known to pass. Three rules that start `L3 == 4;
//!   PROTO == 6` thus test both once on the success path, and a failing
//!   `PROTO == 6` skips all three at once.
//!
//! (An edge looks at most [`MAX_SKIP`] rules ahead, which bounds planning time.)
//! A `count` rule's success is threaded the same way, with "all of its tests passed".
//! Nodes no edge reaches are [`Node::Dead`] and emit nothing, and so does everything
//! after an action that always ends the program: the kernel rejects unreachable
//! instructions, and a label nobody jumps to costs nothing.
//!
//! # What is known (exactly, never more)
//!
//! Knowledge is about flow-record fields on the stack, which nothing after the
//! prologue writes (counter updates and set lookups are calls that clobber `r0`–`r5`
//! but not the record), so it holds until the program exits:
//!
//! * each byte field (`L3`, `PROTO`, `L4_OK`, TCP flags, ICMP type and code) and each
//!   port keeps the set of values it can still have: a passed test intersects it with
//!   the test's values, a failed one removes them. A test is known to pass when the
//!   possible values are inside its values, known to fail when they are outside. So
//!   `L3 == 4` passed makes `L3 == 6` fail and `L3 != 0` pass; `PROTO == 6` failed
//!   makes `PROTO == 6` fail again and says nothing of `PROTO == 17`; port ranges and
//!   flag masks follow from set containment. At the start, `L3` is known to be 0,
//!   4 or 6 and `L4_OK` 0 or 1 (all the prologue ever stores there), so after
//!   `L3 != 0` and a failed `L3 == 4`, `L3 == 6` passes.
//! * each address field (source and destination, IPv4 and IPv6 are separate words of
//!   the record) keeps the most specific prefix it is known to be in and prefixes it
//!   is known not to be in. Prefixes are nested or disjoint, so a passed `10.0.0.0/8`
//!   makes `10.1.0.0/16` unknown, `11.0.0.0/8` fail and `0.0.0.0/1` pass; a failed
//!   `10.0.0.0/8` makes `10.1.0.0/16` fail and nothing else.
//! * a set lookup (same set, same side, same families) gives the same answer again.
//!   Maps are read, never written, by the program; should `sockc apply` replace set
//!   contents while a packet is in flight, reusing one answer is what the packet
//!   would have seen had it run entirely before or after the update.
//!
//! The meet keeps what holds on both sides: the union of possible values, the
//! smallest prefix holding both known prefixes, and only the exclusions the other
//! side also proves. Lists are capped (dropping knowledge is always safe).
//!
//! # Never larger, never slower
//!
//! Compare, for one packet, the `-O0` run (every reached rule tests from its first
//! test until one fails) with the threaded run. Invariant: whenever the threaded code
//! is at node `(r, j)`, tests `0..j` of rule `r` pass for this packet, and the actions
//! run so far are exactly the ones `-O0` runs before reaching rule `r` (induction: a
//! threaded edge skips only rules with a test that fails for this packet, which
//! `-O0` enters and leaves without an action, and tests that pass). So the threaded
//! run visits a subset of the test nodes the `-O0` run visits, in the same order,
//! and runs the same actions. Each visited node executes exactly the code `-O0`
//! executes for it (both levels emit a test with the same function; a failing
//! branch is one instruction whatever its target) or nothing at all
//! ([`Node::Known`]). The only instruction `-O0` lacks is a `goto` after a `count`
//! action (or in place of a [`Node::Skip`] test) when its target is not the next
//! emitted code. A skipped test's `goto` stands for a test `-O0` runs at that node;
//! a `count` rule's `goto` jumps over at least one test `-O0` runs for this packet
//! (the first test of the next rule: either the target is inside that rule, or that
//! rule was skipped for a test that fails, so it has one). Every test is at least one
//! instruction (a load; nearly always a load and a branch). Hence on every path,
//! threaded code executes at most as many instructions as `-O0`.
//!
//! Size: the threaded code emits a subset of the `-O0` nodes with the same code each,
//! plus those `goto`s; lowering keeps the `-O0` layout for a program where that sum
//! would come out larger, so `-O2` is never larger either (see
//! [`crate::bpf::lower`]).

use std::collections::HashMap;

use ipnet::IpNet;

use crate::{
    bpf::socket::fact,
    ir::{AddrMatch, PortMatch, RuleMatch, SetId},
    syntax::ast::{Family, SockCond},
};

/// One decision of a rule on the flow record; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// `L3 == 4` (IPv4) or `L3 == 6` (IPv6).
    Family(Family),
    /// `L3 != 0`: an IP packet whose header was complete.
    Ip,
    /// `PROTO == p`.
    Proto(u8),
    /// `PROTO in {6, 17}`: a port match without a protocol.
    TcpOrUdp,
    /// `L4_OK != 0`: the TCP/UDP/ICMP header was there in full.
    L4Ok,
    /// The source (or destination) address is in a literal prefix of nonzero length,
    /// compared as masked 32-bit words of the record.
    Prefix { src: bool, net: IpNet },
    /// Longest-prefix lookup of the source (or destination) address in an address
    /// set: in the given family's map, or, for `None`, in the map of the packet's
    /// family.
    Set {
        set: SetId,
        src: bool,
        family: Option<Family>,
    },
    /// The source (or destination) port is in one of the ranges (inclusive, sorted,
    /// disjoint).
    Ports { src: bool, ranges: Vec<(u16, u16)> },
    /// `TCP_FLAGS & mask == value`.
    Flags { mask: u8, value: u8 },
    /// `ICMP_TYPE == t`.
    IcmpType(u8),
    /// `ICMP_CODE == c`.
    IcmpCode(u8),
    /// A socket condition: the socket lookup's answer for this packet (looked up by
    /// the first socket test a packet reaches, then reused; see
    /// [`crate::bpf::socket`]). `proto` (6 or 17) picks the lookup helper and
    /// `family` the tuple (`None`: the packet's family).
    Socket {
        cond: SockCond,
        proto: u8,
        family: Option<Family>,
    },
}

/// The tests of one rule's match and condition, in the order lowering emits them (a
/// rule with no match has none and always matches). A `/0` prefix tests nothing and
/// is left out. A socket condition comes last, after every packet test, so a packet
/// that fails the match never costs a lookup; it needs the ports, so it comes after
/// `L4_OK` (a packet without a complete TCP/UDP header matches no conditioned rule).
pub fn rule_tests(m: &RuleMatch, cond: Option<SockCond>) -> Vec<Test> {
    let mut t = Vec::new();
    if m.ip_only || m.family.is_some() {
        t.push(match m.family {
            Some(f) => Test::Family(f),
            None => Test::Ip,
        });
    }
    if let Some(p) = m.proto {
        t.push(Test::Proto(p));
    } else if m.needs_ports() {
        t.push(Test::TcpOrUdp);
    }
    if m.needs_l4() || cond.is_some() {
        t.push(Test::L4Ok);
    }
    for (a, src) in [(&m.src, true), (&m.dst, false)] {
        match a {
            AddrMatch::Any => {}
            AddrMatch::Prefix(net) if net.prefix_len() == 0 => {}
            AddrMatch::Prefix(net) => t.push(Test::Prefix { src, net: *net }),
            AddrMatch::Set(set) => t.push(Test::Set {
                set: *set,
                src,
                family: m.family,
            }),
        }
    }
    for (p, src) in [(&m.sport, true), (&m.dport, false)] {
        if let PortMatch::Ranges(ranges) = p {
            t.push(Test::Ports {
                src,
                ranges: ranges.clone(),
            });
        }
    }
    if let Some((mask, value)) = m.tcp_flags {
        t.push(Test::Flags { mask, value });
    }
    if let Some(v) = m.icmp_type {
        t.push(Test::IcmpType(v));
    }
    if let Some(v) = m.icmp_code {
        t.push(Test::IcmpCode(v));
    }
    if let Some(cond) = cond {
        t.push(Test::Socket {
            cond,
            proto: m
                .proto
                .expect("sema lets a socket condition through with tcp or udp only"),
            family: m.family,
        });
    }
    t
}

/// A rule as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTests {
    pub tests: Vec<Test>,
    /// True for a `count` rule: when its tests pass it counts and the next rule runs.
    pub continues: bool,
}

/// Where control goes: a node, or the end of the rule run (what follows the rules:
/// the default, or the next step of the program). Ordered as laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Test `test` of rule `rule`; `test == tests.len()` is the rule's action.
    Node {
        rule: usize,
        test: usize,
    },
    End,
}

/// What lowering emits for one test position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// No path reaches it: nothing.
    Dead,
    /// Every path reaching it knows it passes: nothing (control goes on).
    Known,
    /// Every path reaching it knows it fails: a jump to where the failure leads
    /// (nothing when that is the next emitted code).
    Skip(Target),
    /// The test; when it fails, control goes to `fail`.
    Test { fail: Target },
}

/// The plan of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulePlan {
    /// One entry per test.
    pub tests: Vec<Node>,
    /// Whether any path reaches the action (all tests passed).
    pub action: bool,
    /// For a `count` rule whose action is reachable: where control goes on.
    pub then: Option<Target>,
}

/// How a run of rules is lowered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Where control enters the run (always the first emitted code).
    pub entry: Target,
    pub rules: Vec<RulePlan>,
    /// Whether any path leaves the run at its end.
    pub end: bool,
}

impl Plan {
    /// The position after `(rule, test)` in layout order.
    pub fn next(&self, rule: usize, test: usize) -> Target {
        if test < self.rules[rule].tests.len() {
            Target::Node {
                rule,
                test: test + 1,
            }
        } else if rule + 1 < self.rules.len() {
            Target::Node {
                rule: rule + 1,
                test: 0,
            }
        } else {
            Target::End
        }
    }

    /// Whether position `(rule, test)` emits any code.
    pub fn emits(&self, rule: usize, test: usize) -> bool {
        let r = &self.rules[rule];
        match r.tests.get(test) {
            Some(Node::Dead | Node::Known) => false,
            Some(Node::Test { .. }) => true,
            Some(Node::Skip(to)) => self.needs_goto(rule, test, *to),
            None => r.action,
        }
    }

    /// True when no code is emitted from position `from` up to `to`, so control at
    /// `from` reaches `to` without a jump.
    pub fn falls_through(&self, mut from: Target, to: Target) -> bool {
        while from < to {
            let Target::Node { rule, test } = from else {
                return false;
            };
            if self.emits(rule, test) {
                return false;
            }
            from = self.next(rule, test);
        }
        from == to
    }

    /// Whether control leaving position `(rule, test)` for `to` needs a `goto`.
    pub fn needs_goto(&self, rule: usize, test: usize, to: Target) -> bool {
        !self.falls_through(self.next(rule, test), to)
    }

    /// Number of `goto`s the plan adds (after `count` actions and for skipped tests).
    pub fn gotos(&self) -> usize {
        let mut n = 0;
        for (r, rp) in self.rules.iter().enumerate() {
            for (j, node) in rp.tests.iter().enumerate() {
                if let Node::Skip(to) = node {
                    n += usize::from(self.needs_goto(r, j, *to));
                }
            }
            if let (true, Some(to)) = (rp.action, rp.then) {
                n += usize::from(self.needs_goto(r, rp.tests.len(), to));
            }
        }
        n
    }
}

/// The `-O0` plan: every reached rule runs all of its tests, a failing test goes to
/// the next rule's first test; nothing follows a rule that always ends the program.
pub fn linear(rules: &[RuleTests]) -> Plan {
    let n = rules.len();
    let first = |r: usize| {
        if r < n {
            Target::Node { rule: r, test: 0 }
        } else {
            Target::End
        }
    };
    let mut reached = true;
    let mut plans = Vec::with_capacity(n);
    for (r, rule) in rules.iter().enumerate() {
        let node = if reached {
            Node::Test { fail: first(r + 1) }
        } else {
            Node::Dead
        };
        plans.push(RulePlan {
            tests: vec![node; rule.tests.len()],
            action: reached,
            then: (reached && rule.continues).then(|| first(r + 1)),
        });
        reached = reached && (rule.continues || !rule.tests.is_empty());
    }
    Plan {
        entry: first(0),
        rules: plans,
        end: reached,
    }
}

/// The threaded plan (see the module docs).
pub fn threaded(rules: &[RuleTests]) -> Plan {
    let views: Vec<Vec<View>> = rules
        .iter()
        .map(|r| r.tests.iter().map(View::of).collect())
        .collect();
    // The meet of the edges seen so far into each node not reached yet (taken out
    // when the walk gets there, so only pending edges take memory).
    let mut incoming: HashMap<(usize, usize), Knowledge> = HashMap::new();
    let mut end = false;
    let mut edge = |to: Target, k: Knowledge, incoming: &mut HashMap<_, _>| match to {
        Target::End => end = true,
        Target::Node { rule, test } => {
            let met = match incoming.remove(&(rule, test)) {
                None => k,
                Some(old) => k.meet(&old),
            };
            incoming.insert((rule, test), met);
        }
    };
    let top = Knowledge::flow_record();
    let entry = thread_from(&views, &top, 0);
    edge(entry, top, &mut incoming);
    let mut plans = Vec::with_capacity(rules.len());
    for (r, rule) in rules.iter().enumerate() {
        let mut nodes = Vec::with_capacity(rule.tests.len());
        let mut fall: Option<Knowledge> = None;
        for j in 0..rule.tests.len() {
            let here = match (fall.take(), incoming.remove(&(r, j))) {
                (None, None) => None,
                (Some(k), None) | (None, Some(k)) => Some(k),
                (Some(a), Some(b)) => Some(a.meet(&b)),
            };
            let Some(k) = here else {
                nodes.push(Node::Dead);
                continue;
            };
            let view = &views[r][j];
            match k.decide(view) {
                Some(true) => {
                    nodes.push(Node::Known);
                    fall = Some(k);
                }
                Some(false) => {
                    let to = thread_from(&views, &k, r + 1);
                    edge(to, k, &mut incoming);
                    nodes.push(Node::Skip(to));
                }
                None => {
                    let failed = k.assume(view, false);
                    let to = thread_from(&views, &failed, r + 1);
                    edge(to, failed, &mut incoming);
                    nodes.push(Node::Test { fail: to });
                    fall = Some(k.assume(view, true));
                }
            }
        }
        let here = match (fall, incoming.remove(&(r, rule.tests.len()))) {
            (None, None) => None,
            (Some(k), None) | (None, Some(k)) => Some(k),
            (Some(a), Some(b)) => Some(a.meet(&b)),
        };
        let then = match (&here, rule.continues) {
            (Some(k), true) => {
                let to = thread_from(&views, k, r + 1);
                edge(to, k.clone(), &mut incoming);
                Some(to)
            }
            _ => None,
        };
        plans.push(RulePlan {
            tests: nodes,
            action: here.is_some(),
            then,
        });
    }
    Plan {
        entry,
        rules: plans,
        end,
    }
}

/// How many rules one threaded edge may skip. Past that, the edge enters the rule
/// it stopped at (after its leading tests known to pass), whose code then fails as
/// `-O0`'s would (or, when every way in knows that, skips on): still exact, and it
/// bounds planning to `O(tests × MAX_SKIP)` for any number of rules. (On the
/// ClassBench 10k sets it cuts planning time about threefold, and the code size moves
/// by a few percent either way: a long skip can make one more rule entry live.)
const MAX_SKIP: usize = 1024;

/// Where control goes from rule `from` on, knowing `k`: the first rule none of whose
/// tests is known to fail, entered after its leading tests known to pass.
fn thread_from(views: &[Vec<View>], k: &Knowledge, from: usize) -> Target {
    'rules: for (r, tests) in views.iter().enumerate().skip(from) {
        let mut lead = None;
        for (j, v) in tests.iter().enumerate() {
            match k.decide(v) {
                Some(false) if r - from < MAX_SKIP => continue 'rules,
                Some(false) => {
                    return Target::Node {
                        rule: r,
                        test: lead.unwrap_or(j),
                    }
                }
                Some(true) => {}
                None => {
                    lead.get_or_insert(j);
                }
            }
        }
        return Target::Node {
            rule: r,
            test: lead.unwrap_or(tests.len()),
        };
    }
    Target::End
}

// ---- knowledge --------------------------------------------------------------------

/// Byte fields of the flow record that tests read.
const L3: usize = 0;
const PROTO: usize = 1;
const L4_OK: usize = 2;
const TCP_FLAGS: usize = 3;
const ICMP_TYPE: usize = 4;
const ICMP_CODE: usize = 5;
/// The socket fact (what the lookup found, [`crate::bpf::socket::fact`]) is a
/// function of the packet like the others: threading may reuse a condition's answer
/// (the lookup ran when the first condition was tested, on every path to the second).
const SOCK: usize = 6;
const BYTE_FIELDS: usize = 7;

/// How many exclusions (prefixes, set answers) knowledge keeps per field, and how many
/// port ranges before it widens them to their hull; beyond that it forgets, which is
/// always safe.
const MAX_LIST: usize = 16;

/// A set of byte values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bytes([u64; 4]);

impl Bytes {
    const ALL: Bytes = Bytes([u64::MAX; 4]);

    fn from_fn(f: impl Fn(u8) -> bool) -> Bytes {
        let mut b = [0u64; 4];
        for v in 0..=255u8 {
            if f(v) {
                b[usize::from(v / 64)] |= 1 << (v % 64);
            }
        }
        Bytes(b)
    }
    fn and(self, o: Bytes) -> Bytes {
        Bytes(std::array::from_fn(|i| self.0[i] & o.0[i]))
    }
    fn or(self, o: Bytes) -> Bytes {
        Bytes(std::array::from_fn(|i| self.0[i] | o.0[i]))
    }
    fn not(self) -> Bytes {
        Bytes(self.0.map(|w| !w))
    }
    fn is_empty(self) -> bool {
        self.0 == [0; 4]
    }
}

/// A set of port values: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ports(Vec<(u32, u32)>);

impl Ports {
    fn all() -> Ports {
        Ports(vec![(0, u32::from(u16::MAX))])
    }
    fn of(ranges: &[(u16, u16)]) -> Ports {
        Ports(
            ranges
                .iter()
                .map(|&(lo, hi)| (u32::from(lo), u32::from(hi)))
                .collect(),
        )
        .normalized()
    }
    fn normalized(mut self) -> Ports {
        self.0.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for (lo, hi) in self.0 {
            match out.last_mut() {
                Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ports(out)
    }
    /// Possible values kept as knowledge: widened to their hull past `MAX_LIST` ranges
    /// (a superset of the possible values is still true).
    fn capped(self) -> Ports {
        match self.0.as_slice() {
            [first, .., last] if self.0.len() > MAX_LIST => Ports(vec![(first.0, last.1)]),
            _ => self,
        }
    }
    fn and(&self, o: &Ports) -> Ports {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            for &(c, d) in &o.0 {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        Ports(out).normalized()
    }
    fn not(&self) -> Ports {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi + 1;
        }
        if next <= u32::from(u16::MAX) {
            out.push((next, u32::from(u16::MAX)));
        }
        Ports(out)
    }
    fn or(&self, o: &Ports) -> Ports {
        Ports(self.0.iter().chain(&o.0).copied().collect()).normalized()
    }
    /// Every value is in `o` (both sorted and disjoint; no allocation, as `decide`
    /// runs this for every rule a threaded edge looks at).
    fn within(&self, o: &Ports) -> bool {
        let mut theirs = o.0.iter().peekable();
        self.0.iter().all(|&(lo, hi)| {
            while theirs.next_if(|r| r.1 < lo).is_some() {}
            theirs.peek().is_some_and(|r| r.0 <= lo && hi <= r.1)
        })
    }
    /// No value is in `o`.
    fn disjoint(&self, o: &Ports) -> bool {
        let (mut a, mut b) = (self.0.iter().peekable(), o.0.iter().peekable());
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            if x.1 < y.0 {
                a.next();
            } else if y.1 < x.0 {
                b.next();
            } else {
                return false;
            }
        }
        true
    }
}

/// A prefix, left-aligned in 128 bits (an IPv4 address in the top 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Net {
    bits: u128,
    len: u8,
}

impl Net {
    fn of(net: &IpNet) -> Net {
        let (bits, len) = match net {
            IpNet::V4(n) => (u128::from(u32::from(n.network())) << 96, n.prefix_len()),
            IpNet::V6(n) => (u128::from(n.network()), n.prefix_len()),
        };
        Net { bits, len }
    }
    fn mask(len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        }
    }
    /// Every address in `other` is in `self`.
    fn contains(self, other: Net) -> bool {
        self.len <= other.len && (self.bits ^ other.bits) & Net::mask(self.len) == 0
    }
    /// The smallest prefix holding both.
    fn common(self, other: Net) -> Net {
        let len = ((self.bits ^ other.bits).leading_zeros() as u8)
            .min(self.len)
            .min(other.len);
        Net {
            bits: self.bits & Net::mask(len),
            len,
        }
    }
}

/// What is known of one address field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Addr {
    /// The address is in this prefix.
    within: Option<Net>,
    /// The address is in none of these (each inside `within`, none inside another).
    outside: Vec<Net>,
}

impl Addr {
    fn decide(&self, q: Net) -> Option<bool> {
        if let Some(w) = self.within {
            if q.contains(w) {
                return Some(true);
            }
            if !w.contains(q) {
                // Prefixes are nested or disjoint: these are disjoint.
                return Some(false);
            }
        }
        if self.outside.iter().any(|e| e.contains(q)) {
            return Some(false);
        }
        None
    }
    fn assume(&mut self, q: Net, passed: bool) {
        if passed {
            let w = match self.within {
                Some(w) if q.contains(w) => w,
                _ => q,
            };
            self.within = Some(w);
            // Exclusions disjoint from the prefix now follow from it.
            self.outside.retain(|e| w.contains(*e));
        } else {
            if self.outside.iter().any(|e| e.contains(q)) {
                return;
            }
            self.outside.retain(|e| !q.contains(*e));
            if self.outside.len() == MAX_LIST {
                self.outside.remove(0);
            }
            self.outside.push(q);
        }
    }
    fn meet(&self, o: &Addr) -> Addr {
        let within = match (self.within, o.within) {
            (Some(a), Some(b)) => Some(a.common(b)).filter(|n| n.len > 0),
            _ => None,
        };
        // An exclusion holds on both sides when the other side proves it too.
        let mut outside: Vec<Net> = Vec::new();
        for (mine, other) in [(self, o), (o, self)] {
            for e in &mine.outside {
                if other.decide(*e) == Some(false) && !outside.iter().any(|x| x.contains(*e)) {
                    outside.retain(|x| !e.contains(*x));
                    outside.push(*e);
                }
            }
        }
        outside.truncate(MAX_LIST);
        Addr { within, outside }
    }
}

/// A set lookup, identified by everything its answer depends on besides the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SetKey {
    set: SetId,
    src: bool,
    family: Option<Family>,
}

/// A test as the knowledge it reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum View {
    Byte(usize, Bytes),
    Port(usize, Ports),
    Addr(usize, Net),
    Set(SetKey),
}

impl View {
    fn of(t: &Test) -> View {
        let byte = |field, v: u8| View::Byte(field, Bytes::from_fn(|x| x == v));
        match t {
            Test::Family(Family::V4) => byte(L3, 4),
            Test::Family(Family::V6) => byte(L3, 6),
            Test::Ip => View::Byte(L3, Bytes::from_fn(|x| x != 0)),
            Test::Proto(p) => byte(PROTO, *p),
            Test::TcpOrUdp => View::Byte(PROTO, Bytes::from_fn(|x| x == 6 || x == 17)),
            Test::L4Ok => View::Byte(L4_OK, Bytes::from_fn(|x| x != 0)),
            Test::Flags { mask, value } => {
                let (mask, value) = (*mask, *value);
                View::Byte(TCP_FLAGS, Bytes::from_fn(|x| x & mask == value))
            }
            Test::IcmpType(v) => byte(ICMP_TYPE, *v),
            Test::IcmpCode(v) => byte(ICMP_CODE, *v),
            Test::Socket { cond, .. } => {
                let cond = *cond;
                View::Byte(SOCK, Bytes::from_fn(|x| fact::holds(cond, x)))
            }
            Test::Ports { src, ranges } => View::Port(usize::from(!*src), Ports::of(ranges)),
            Test::Prefix { src, net } => {
                let v6 = matches!(net, IpNet::V6(_));
                View::Addr(usize::from(!*src) + 2 * usize::from(v6), Net::of(net))
            }
            Test::Set { set, src, family } => View::Set(SetKey {
                set: *set,
                src: *src,
                family: *family,
            }),
        }
    }
}

/// What is known about the packet at a point of the program; see the module docs.
/// The default knows nothing; programs start from [`Knowledge::flow_record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knowledge {
    /// Possible values of each byte field.
    bytes: [Bytes; BYTE_FIELDS],
    /// Possible source and destination ports.
    ports: [Ports; 2],
    /// Source and destination, IPv4 then IPv6.
    addrs: [Addr; 4],
    /// Answers of set lookups.
    sets: Vec<(SetKey, bool)>,
}

impl Default for Knowledge {
    fn default() -> Self {
        Knowledge {
            bytes: [Bytes::ALL; BYTE_FIELDS],
            ports: [Ports::all(), Ports::all()],
            addrs: Default::default(),
            sets: Vec::new(),
        }
    }
}

impl Knowledge {
    /// What the prologue guarantees of every flow record (see
    /// [`crate::bpf::packet::flow`]; a test in [`crate::bpf::lower`] checks the
    /// prologue against it): `L3` is 0 (not IP), 4 or 6, and `L4_OK` is 0 or 1. So
    /// `L3 != 0` and `L3 != 4` make `L3 == 6` pass. The socket fact is one of the
    /// lookup's four answers.
    pub fn flow_record() -> Knowledge {
        let mut k = Knowledge::default();
        k.bytes[L3] = Bytes::from_fn(|x| matches!(x, 0 | 4 | 6));
        k.bytes[L4_OK] = Bytes::from_fn(|x| x <= 1);
        k.bytes[SOCK] = Bytes::from_fn(fact::is_fact);
        k
    }

    /// `Some(answer)` when the test's answer follows from what is known.
    fn decide(&self, v: &View) -> Option<bool> {
        match v {
            View::Byte(f, values) => {
                let possible = self.bytes[*f];
                if possible.and(values.not()).is_empty() {
                    Some(true)
                } else if possible.and(*values).is_empty() {
                    Some(false)
                } else {
                    None
                }
            }
            View::Port(f, values) => {
                let possible = &self.ports[*f];
                if possible.within(values) {
                    Some(true)
                } else if possible.disjoint(values) {
                    Some(false)
                } else {
                    None
                }
            }
            View::Addr(f, net) => self.addrs[*f].decide(*net),
            View::Set(key) => self
                .sets
                .iter()
                .find(|(k, _)| k == key)
                .map(|&(_, answer)| answer),
        }
    }

    /// The knowledge after the test answered `passed`; only asked when
    /// [`Self::decide`] does not know the answer already.
    fn assume(&self, v: &View, passed: bool) -> Knowledge {
        let mut k = self.clone();
        match v {
            View::Byte(f, values) => {
                let values = if passed { *values } else { values.not() };
                k.bytes[*f] = k.bytes[*f].and(values);
            }
            View::Port(f, values) => {
                let values = if passed { values.clone() } else { values.not() };
                k.ports[*f] = k.ports[*f].and(&values).capped();
            }
            View::Addr(f, net) => k.addrs[*f].assume(*net, passed),
            View::Set(key) => {
                if k.sets.len() == MAX_LIST {
                    k.sets.remove(0);
                }
                k.sets.push((*key, passed));
            }
        }
        k
    }

    /// What holds both here and in `o` (the meet of two incoming edges).
    fn meet(&self, o: &Knowledge) -> Knowledge {
        Knowledge {
            bytes: std::array::from_fn(|i| self.bytes[i].or(o.bytes[i])),
            ports: std::array::from_fn(|i| self.ports[i].or(&o.ports[i]).capped()),
            addrs: std::array::from_fn(|i| self.addrs[i].meet(&o.addrs[i])),
            sets: self
                .sets
                .iter()
                .filter(|s| o.sets.contains(s))
                .copied()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use cranelift_entity::EntityRef;

    use super::*;

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
        let mut rng = Rng(7);
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

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
            xs[self.below(xs.len())].clone()
        }
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
        match rng.below(12) {
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
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
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
}
