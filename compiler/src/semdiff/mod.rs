//! The semantic diff: per hook block, the packets whose verdict (or redirect target)
//! differs between two compiled rule files, as a few disjoint regions of the header
//! space ([`crate::space`]), each with the deciding rule before and after and one
//! example packet; beside them, what changes only counters (`count` rules added or
//! removed, `log` added, removed or re-rated, packets decided by another rule with
//! the same verdict).
//!
//! # The algorithm
//!
//! Blocks are paired by (hook, attach point); a block on one side only is paired with
//! *no block*, an empty block whose default is what the kernel does with a packet
//! when no program is attached ([`Outcome::without_block`]: it goes on), so only the
//! packets the block does not let through change. Within a pair, a `count` rule
//! never decides, so only the *deciding* rules (every other action; a socket
//! condition, `ct state`, `route` and the devices of `in on`/`out on` are dimensions of
//! the rule's region: [`Dim::Socket`](crate::space::Dim), `Dim::Ct`, `Dim::Route`,
//! `Dim::InDev`, `Dim::OutDev`) take part. Whether a packet has room in a `limit`'s
//! bucket depends on the traffic before it, which the diff cannot know: each bucket of
//! the pair is a yes/no variable (a bit of `Dim::Over`, numbered by `buckets.rs`),
//! shared by OLD and NEW when the bucket is made the same way, so the answer holds for
//! every state of the buckets. (What it cannot hold: an edit changes which packets
//! reach a bucket, hence its state afterwards; docs/diff.md.) A block pair with more
//! buckets than the dimension tells apart is not compared ([`NotCompared::Buckets`]).
//!
//! 1. **Align.** Each deciding rule is keyed by its exact region
//!    ([`rule_region`](crate::space::rule_region): sets expanded into their members,
//!    so `from @web` and the same addresses written out are one key) and its outcome
//!    (verdict, or redirect and the target socket's name). An alignment of the two key
//!    sequences ([`crate::align`], in bounded work) gives a common subsequence: pairs
//!    of equal rules in the same order. The regions are keyed by a fingerprint, not
//!    kept (`align::Rules::of`): once the candidates are known, every pair is checked
//!    region against region (a pair whose fingerprints collided is taken apart, and
//!    the candidates made again), and only the regions of the rules that meet the
//!    candidates are kept for step 3 (`align::keep_reaching`).
//! 2. **Candidates.** Let `C` be the union of the regions of the rules outside the
//!    common subsequence, on both sides (the whole hook when the defaults differ),
//!    within what the hook sees ([`hook_universe`]). A packet outside `C` is matched
//!    only by paired rules, which come in the same order on both sides, so the same
//!    pair decides it (or both defaults, which agree): its verdict cannot change.
//! 3. **Partition.** Inside `C`, both first-match partitions at once: both sides'
//!    deciding rules in one order that keeps each side's (a paired rule is one step),
//!    each taking, at its sides, the part of the boxes still undecided there that its
//!    region meets; what is left goes to the defaults. Every resulting box has one
//!    deciding rule on each side; a part a pair takes while both sides are undecided
//!    is decided by that same rule on both and is dropped at once (`walk::decide`).
//!    Boxes waiting with the same deciders so far that agree on all dimensions but
//!    one are joined into one box before the next rule cuts them (`queue.rs`): the
//!    same points, decided the same way, cut fewer times.
//! 4. **Compare.** Boxes whose outcomes differ are grouped by (old decider, new
//!    decider) into regions; boxes with the same outcome but a decider that is not
//!    the old one's pair are grouped likewise as counter moves. A region's boxes that
//!    agree off one dimension are joined for the table (`merge`, or
//!    [`HeaderBox::coalesce`] past [`MERGE_MAX`] boxes, or once the block pair's
//!    merges have cost [`MERGE_WORK`]).
//!
//! The answer is exact: steps 1–2 are a sound restriction (no packet outside `C` can
//! change) and steps 3–4 compute first match, box by box, with the same region
//! algebra the anomaly lints use (no sampling, no approximation). Its cost is that
//! of the candidates: the rules that overlap `C`, times the boxes of `C` that they
//! split (each box goes through only the rules whose bounds meet its own, a list its
//! parts inherit and narrow: `walk::decide`). A partition that would fragment past
//! [`MAX_BOXES`] boxes stops with [`TooFragmented`] for that block, and one that takes
//! more than [`MAX_WORK`] (a count of the work, not a clock: the same answer on every
//! run) with [`OutOfWork`]; either is reported, never taken as "no change". What was
//! decided before it stopped is still listed: the pieces the walk decided, or, when
//! the candidate region itself stopped (its work or its boxes), the changes inside
//! the first [`LISTING_BOXES`] boxes of the part made (walked within
//! [`Budget::listing`] more work). So the time and memory of a diff are
//! bounded whatever the two files, and a cut diff still names changes.
//!
//! A redirect to a socket nothing is registered for drops; the diff compares the
//! rules as written (redirect to `NAME` against drop), which is the answer for a
//! registered socket.
//!
//! # Files
//!
//! * `mod.rs`: the result types and [`diff`].
//! * `buckets.rs`: the `limit` buckets of a block pair, as bits of `Dim::Over`.
//! * `align.rs`: rules as keys, their alignment and the candidate region.
//! * `walk.rs`: first-match partitions of a region.
//! * `queue.rs`: the boxes the walk has still to split, joined where they can be.
//! * `ahead.rs`: a waiting box's steps ahead, shared by the parts of a split box.
//! * `hulls.rs`: the steps' hulls by dimension, for the test of which steps may
//!   decide a box.
//! * `index.rs`: boxes (of the candidate union) and steps (of the walk) indexed by
//!   their bounds on addresses and ports, so that a box meets only those near it.
//! * `render.rs`: the result in words (table and JSON), and a box as a match.
//!
//! Invariant: every reported example packet is a point of its region, and every box
//! of a verdict region is decided differently by the two files, by the rules it names
//! (also in a block that stopped, [`NotCompared::stopped`]); no packet outside the
//! reported regions changes its verdict (unless the block says it was cut short).

mod ahead;
mod align;
mod buckets;
mod hulls;
mod index;
mod queue;
mod render;
mod walk;

use std::collections::BTreeMap;

use crate::{
    hooks::HookKind,
    ir::{Action, Module, Program, RuleMatch},
    space::{
        frame, hook_universe, packets_of, AddrSets, Dim, HeaderBox, Iv, Point, Region,
        TooFragmented, ValueSet,
    },
    syntax::{ast::Verdict, limit_fact::OverLimit},
};

pub use render::{
    at_least, describe_box, plain_table, render_text, to_json, RenderOptions, TableFn,
};

/// Most boxes one block's partition may hold before it is cut short.
pub const MAX_BOXES: usize = 50_000;

/// Most work one block pair's comparison may take before it is cut short: what the
/// region operations count (intervals walked, [`crate::space`]), the candidate boxes
/// read from their index, moved and indexed, and the walk's tests of whether a rule
/// may decide a box and its reads of the rules' index. A count, not a
/// clock, so the answer is the same on any machine under any load; about a second of
/// a release build (docs/diff.md). The default of `--max-diff-work`
/// ([`Limit::DiffWork`](crate::limits::Limit::DiffWork)).
pub const MAX_WORK: u64 = crate::limits::DIFF_WORK;

/// Of a candidate region cut short, the boxes walked to list changes: the first ones
/// made (of OLD's first unpaired rules). A walk decides its pieces late (the broad
/// rules at the end of a file decide most of them), so a part it cannot finish within
/// [`Budget::listing`] lists nothing: 512 boxes of unrelated 10,000-rule files took all
/// of it and listed none. This many (`align::reach_test`'s limit, so only the rules that
/// reach them make steps) lists about 30 regions, more than a table shows, in a few
/// milliseconds.
pub const LISTING_BOXES: usize = align::REACH_TEST_MAX;

/// What one block pair's comparison may make and do before it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Boxes of the candidate region, or of the partition.
    pub boxes: usize,
    /// Work, as [`MAX_WORK`] counts it.
    pub work: u64,
    /// Work more, when the candidate region stopped before it was whole, to list the
    /// changes inside the part made.
    pub listing: u64,
}

impl Budget {
    /// What `sockc diff` allows by default: [`Budget::of_work`] of [`MAX_WORK`].
    pub const DEFAULT: Budget = Budget::of_work(MAX_WORK);
    /// The budget of `work` steps (`--max-diff-work`): a quarter of it more to list
    /// what a cut candidate region holds (a diff takes at most 1.25 budgets of work),
    /// and a cap of boxes in proportion ([`MAX_BOXES`] at [`MAX_WORK`]), so that more
    /// work can also make more boxes: time and memory grow with it together.
    pub const fn of_work(work: u64) -> Budget {
        let boxes = work as u128 * MAX_BOXES as u128 / MAX_WORK as u128;
        Budget {
            boxes: if boxes > usize::MAX as u128 {
                usize::MAX
            } else {
                boxes as usize
            },
            work,
            listing: work / 4,
        }
    }
    /// No limit (the tests' reference runs).
    pub const UNLIMITED: Budget = Budget {
        boxes: usize::MAX,
        work: u64::MAX,
        listing: u64::MAX,
    };
}

/// What a packet's fate is at one side.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Allow,
    Drop,
    Pass,
    /// `redirect ... to sock NAME [ingress]`, or `redirect local` (`socket: None`).
    Redirect {
        socket: Option<String>,
        ingress: bool,
    },
    /// `reject [with ...]`: its own outcome (a drop that became a reject is a change).
    Reject(crate::syntax::reject::RejectWith),
    /// `redirect ... to ADDRESS[:PORT]` (socket calls): the call goes on, elsewhere; a
    /// call sent to another target (or no longer redirected) is a change.
    RedirectCall(String),
}

impl Outcome {
    fn of_verdict(v: Verdict) -> Outcome {
        match v {
            Verdict::Allow => Outcome::Allow,
            Verdict::Drop => Outcome::Drop,
            Verdict::Pass => Outcome::Pass,
        }
    }

    /// What the kernel does with a packet at `hook` when no program is attached: it
    /// goes on unchanged, which is `pass` at sk_lookup (the kernel's own lookup) and
    /// `allow` at every other hook (XDP_PASS, TC_ACT_OK, SK_PASS, NF_ACCEPT).
    pub fn without_block(hook: HookKind) -> Outcome {
        if hook.spec().defaults.contains(&Verdict::Pass) {
            Outcome::Pass
        } else {
            Outcome::Allow
        }
    }

    /// The outcome of a deciding action (`None` for `count`).
    fn of_action(module: &Module, a: Action) -> Option<Outcome> {
        let name = |s: crate::ir::SockId| module.sockets[s].name.clone();
        Some(match a {
            Action::Allow => Outcome::Allow,
            Action::Drop => Outcome::Drop,
            Action::Pass => Outcome::Pass,
            Action::Count => return None,
            Action::Redirect(s) => Outcome::Redirect {
                socket: s.map(name),
                ingress: false,
            },
            Action::RedirectIngress(s) => Outcome::Redirect {
                socket: Some(name(s)),
                ingress: true,
            },
            Action::Reject(w) => Outcome::Reject(w),
            Action::RedirectCall(t) => Outcome::RedirectCall(t.to_string()),
        })
    }
}

/// Who decides a packet at one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decider {
    /// Index into the program's rules.
    Rule(usize),
    Default,
    NoBlock,
}

/// One side of a change: who decides and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    pub decider: Decider,
    /// The deciding rule's (or the default's) line; `None` without a block.
    pub line: Option<usize>,
    /// Without a block, [`Outcome::without_block`].
    pub outcome: Outcome,
}

/// A region whose packets are all decided by `before` in OLD and `after` in NEW.
#[derive(Clone, Debug)]
pub struct Change {
    pub region: Region,
    pub before: Side,
    pub after: Side,
    /// A packet of the region (the witness of its first box).
    pub example: Point,
    /// The `limit` buckets with no room for the example (its [`Dim::Over`](crate::space::Dim::Over) bits).
    pub limits: Vec<OverLimit>,
}

impl Change {
    /// The example in `sockc test --packet` syntax: the packet's text, then an
    /// `over-limit:SPEC` for each bucket it needs out of room (`None` for a non-IP
    /// frame, which has no text).
    pub fn example_text(&self) -> Option<String> {
        let mut t = self.example.packet().text()?;
        for l in &self.limits {
            t.push(' ');
            t.push_str(&l.to_string());
        }
        Some(t)
    }
}

/// A counting change that is not about which packets: a `count` rule or a `log`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountingChange {
    pub old_line: Option<usize>,
    pub new_line: Option<usize>,
    pub what: String,
}

/// The differences of one hook block.
#[derive(Clone, Debug)]
pub struct BlockDiff {
    pub hook: HookKind,
    pub attach_to: String,
    /// Regions whose outcome differs, ordered by OLD's decider then NEW's.
    pub verdicts: Vec<Change>,
    /// Regions with the same outcome decided by another rule (counters move).
    pub moved: Vec<Change>,
    pub counting: Vec<CountingChange>,
    /// The partition stopped: the regions above are incomplete.
    pub cut_short: Option<NotCompared>,
    /// The `limit` buckets of the block pair, by their [`Dim::Over`](crate::space::Dim::Over) bit number.
    pub buckets: Vec<OverLimit>,
    /// The work the comparison took (as [`MAX_WORK`] counts it; at most the budget,
    /// its listing work when the candidate region stopped, and the last operation's).
    pub work: u64,
}

/// Why a block was not compared to the end; reported, never taken as "no change".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotCompared {
    /// The partition grew past the cap.
    Fragmented(TooFragmented),
    /// The comparison took more than its work ([`Budget::work`]).
    Work(OutOfWork),
    /// The block pair has this many `limit` buckets, more than the
    /// [`over::BUCKETS`](crate::space::over::BUCKETS) that [`Dim::Over`](crate::space::Dim::Over) tells apart.
    Buckets(usize),
    /// The blocks differ and one of them has a `cgroup` match, which is not a
    /// dimension of the header space: the regions found hold for every cgroup.
    Cgroup,
    /// The blocks differ and one of them matches a device by index (`in index`),
    /// which is not a dimension either: the regions hold for every index.
    DevIndex,
}

impl NotCompared {
    /// Whether the comparison stopped before it decided every candidate box (its work,
    /// its boxes, or buckets it cannot tell apart): the regions listed are some of
    /// those that change. The other reasons compare to the end along dimensions that
    /// leave something out (a cgroup, a device's index), so their regions hold only
    /// for some packets' cgroups or devices.
    pub fn stopped(&self) -> bool {
        matches!(
            self,
            NotCompared::Fragmented(_) | NotCompared::Work(_) | NotCompared::Buckets(_)
        )
    }
}

impl std::fmt::Display for NotCompared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotCompared::Fragmented(e) => e.fmt(f),
            NotCompared::Work(w) => w.fmt(f),
            NotCompared::Buckets(n) => write!(
                f,
                "{n} `limit` buckets, more than the {} the diff tells apart",
                crate::space::over::BUCKETS
            ),
            NotCompared::Cgroup => f.write_str(
                "`cgroup` matches are not a dimension of the diff: packets of sockets in \
                 the named cgroups may be decided otherwise than the regions say",
            ),
            NotCompared::DevIndex => f.write_str(
                "`in index`/`out index` matches are not a dimension of the diff: packets \
                 of the devices they name may be decided otherwise than the regions say",
            ),
        }
    }
}

/// A block pair whose comparison stopped at its budget of work: how large the change
/// was, in rules and in boxes (classes of packets decided alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfWork {
    /// The deciding rules of OLD and of NEW that are not paired with one of the other
    /// file (changed, added, removed or moved).
    pub changed: [usize; 2],
    /// The boxes made when it stopped (of the candidate region, or of the partition).
    pub boxes: usize,
    /// The budget it ran out of.
    pub max: u64,
}

impl std::fmt::Display for OutOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [o, n] = self.changed;
        write!(
            f,
            "more than {} steps of work: {o} rules of OLD and {n} of NEW changed, {} packet \
             classes when it stopped",
            self.max, self.boxes
        )
    }
}

impl BlockDiff {
    fn is_empty(&self) -> bool {
        self.verdicts.is_empty()
            && self.moved.is_empty()
            && self.counting.is_empty()
            && self.cut_short.is_none()
    }
}

/// The semantic diff of two files: the blocks where anything differs.
#[derive(Clone, Debug, Default)]
pub struct SemDiff {
    pub blocks: Vec<BlockDiff>,
}

impl SemDiff {
    /// Whether a block's comparison stopped before the end ([`NotCompared::stopped`]):
    /// its regions and counter moves are some of those that change.
    pub fn stopped(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| b.cut_short.is_some_and(|c| c.stopped()))
    }

    /// Regions that change verdict, over all blocks.
    pub fn verdict_regions(&self) -> usize {
        self.blocks.iter().map(|b| b.verdicts.len()).sum()
    }

    /// True when some packet may change its verdict (a cut-short block counts: it
    /// was not shown not to).
    pub fn changes_verdicts(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| !b.verdicts.is_empty() || b.cut_short.is_some())
    }

    /// Changes to counting alone (moved deciders, count rules, logs).
    pub fn counting_changes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.moved.len() + b.counting.len())
            .sum()
    }
}

/// One side of a block pair.
struct BlockSide<'m> {
    hook: HookKind,
    module: &'m Module,
    prog: Option<&'m Program>,
    sets: &'m AddrSets,
}

/// The semantic diff of `old` and `new` (see the module docs), each block pair within
/// [`Budget::DEFAULT`].
pub fn diff(old: &Module, new: &Module) -> SemDiff {
    diff_within(old, new, Budget::DEFAULT)
}

/// The semantic diff, each block pair within `budget`.
pub fn diff_within(old: &Module, new: &Module, budget: Budget) -> SemDiff {
    let (old_sets, new_sets) = (AddrSets::new(old), AddrSets::new(new));
    let mut keys: BTreeMap<(HookKind, String), [Option<&Program>; 2]> = BTreeMap::new();
    for (i, m) in [old, new].into_iter().enumerate() {
        for p in m.programs.values() {
            keys.entry((p.hook, p.attach_to.clone())).or_default()[i] = Some(p);
        }
    }
    let blocks = keys
        .into_iter()
        .filter(|((hook, _), _)| !hook_universe(*hook).is_empty())
        .map(|((hook, attach_to), [o, n])| {
            let old = BlockSide {
                hook,
                module: old,
                prog: o,
                sets: &old_sets,
            };
            let new = BlockSide {
                hook,
                module: new,
                prog: n,
                sets: &new_sets,
            };
            block_diff(hook, attach_to, &old, &new, budget)
        })
        .filter(|b| !b.is_empty())
        .collect();
    SemDiff { blocks }
}

/// The limits of `reject`'s ICMP answers (`reject answers ...`) changed in a block
/// that sends such answers on both sides. The verdict stays `reject` either way (the
/// evaluator's too: an answer the limits refuse is a reject that drops), and whether
/// an answer goes depends on the traffic before it, which the diff does not model;
/// so it is listed with the changes that leave verdicts as they are.
fn answers_change(old: &BlockSide, new: &BlockSide) -> Option<CountingChange> {
    let limits = |s: &BlockSide| {
        s.prog
            .filter(|p| p.answers_icmp())
            .map(|_| s.module.answers.to_string())
    };
    let (before, after) = (limits(old)?, limits(new)?);
    (before != after).then(|| CountingChange {
        old_line: None,
        new_line: None,
        what: format!("the limits of reject's ICMP answers: `{before}` → `{after}`"),
    })
}

fn block_diff(
    hook: HookKind,
    attach_to: String,
    old: &BlockSide,
    new: &BlockSide,
    budget: Budget,
) -> BlockDiff {
    let universe = hook_universe(hook);
    let buckets = buckets::Buckets::of(old.prog, new.prog);
    let none = buckets::Buckets::of(None, None).expect("no buckets");
    let b = buckets.as_ref().unwrap_or(&none);
    let (mut o, mut n) = (align::Rules::of(old, b), align::Rules::of(new, b));
    let mut pairs = align::pair(&o, &n);
    let mut out = BlockDiff {
        hook,
        attach_to,
        verdicts: Vec::new(),
        moved: Vec::new(),
        counting: Vec::new(),
        cut_short: None,
        buckets: Vec::new(),
        work: 0,
    };
    let walked = buckets.is_ok().then_some(budget);
    let candidates = candidates(&mut o, &mut n, &mut pairs, &universe, walked, &mut out.work);
    out.counting = align::counting(&o, &n, &pairs);
    out.counting.extend(answers_change(old, new));
    let buckets = match &buckets {
        Ok(b) => b,
        Err(count) => {
            out.cut_short = Some(NotCompared::Buckets(*count));
            return out;
        }
    };
    out.buckets = buckets.names().to_vec();
    match candidates {
        Ok(c) => walk_block(&mut out, &c, (&o, &n), &pairs, budget, buckets),
        Err(align::Unfinished { why, so_far }) => {
            // The changes inside (the first boxes of) the part made are listed, within
            // the budget's listing work; the block still says why it was not compared
            // to the end.
            let listing = Budget {
                work: out.work.saturating_add(budget.listing),
                ..budget
            };
            walk_block(&mut out, &so_far, (&o, &n), &pairs, listing, buckets);
            out.cut_short = Some(why);
        }
    }
    if out.cut_short.is_none() && differ_testing(old.prog, new.prog, |m| m.rare().cgroup.is_some())
    {
        out.cut_short = Some(NotCompared::Cgroup);
    }
    let by_index = |m: &RuleMatch| {
        [&m.rare().iif, &m.rare().oif]
            .into_iter()
            .flatten()
            .any(|d| d.by_index())
    };
    if out.cut_short.is_none() && differ_testing(old.prog, new.prog, by_index) {
        out.cut_short = Some(NotCompared::DevIndex);
    }
    out
}

/// Steps 3 and 4 for the `candidates` of a block pair, into `out` (its regions, and
/// why it stopped if it did; and the work, within `budget` with what `out` has spent
/// already). A walk that stops still lists the parts it decided: each is decided as
/// its region says on both sides, though others may change too.
fn walk_block(
    out: &mut BlockDiff,
    candidates: &Region,
    (o, n): (&align::Rules, &align::Rules),
    pairs: &align::Pairs,
    budget: Budget,
    buckets: &buckets::Buckets,
) {
    let mut groups = walk::Groups::new(o, n, pairs);
    // The walk cuts the hook's whole space; what it decides of points no packet is (a
    // UDP lookup's time-wait) is no change.
    let walked = walk::decide(candidates, (o, n), pairs, budget, &mut out.work, |p| {
        let (b, od, nd) = p;
        if let Some(b) = packets_of(b) {
            groups.add((b, od, nd))
        }
    });
    (out.verdicts, out.moved) = groups.changes();
    for c in out.verdicts.iter_mut().chain(&mut out.moved) {
        c.limits = buckets.named(&c.example);
    }
    // Against no block, every packet the block decides as the kernel would without it
    // "moves" to a rule: one line below says so instead.
    if o.is_missing() || n.is_missing() {
        out.moved.clear();
    }
    out.cut_short = walked.err();
}

/// The candidate region (empty when the block pair is not walked: `budget` is
/// `None`), with the regions of the rules that meet it kept; made again when a pair
/// turns out not to be one (its fingerprints collided), so that on return every pair
/// is one. The work it takes is added to `work`. A region that stops (its work or its
/// boxes) comes back with the first [`LISTING_BOXES`] boxes of the part made, whose
/// rules are kept the same way.
fn candidates<'m>(
    o: &mut align::Rules<'m>,
    n: &mut align::Rules<'m>,
    pairs: &mut align::Pairs,
    universe: &Region,
    budget: Option<Budget>,
    work: &mut u64,
) -> Result<Region, align::Unfinished> {
    loop {
        let made = match budget {
            Some(budget) => align::candidates(o, n, pairs, universe, budget, work, LISTING_BOXES),
            None => Ok(Region::empty()),
        };
        let c = match &made {
            Ok(c) => c,
            Err(u) => &u.so_far,
        };
        if align::keep_reaching(o, n, pairs, c) {
            return made;
        }
    }
}

/// Whether a rule of either block has a match `tests` finds (a cgroup, a device by
/// index) and their rules differ (identical blocks decide alike whatever it reads).
fn differ_testing(
    old: Option<&Program>,
    new: Option<&Program>,
    tests: impl Fn(&RuleMatch) -> bool,
) -> bool {
    let tests = |p: Option<&Program>| p.is_some_and(|p| p.rules.iter().any(|r| tests(&r.m)));
    let rules = |p: Option<&Program>| {
        p.map(|p| {
            let r = p.rules.iter().map(|r| (r.action, r.cond, r.m.clone()));
            (r.collect::<Vec<_>>(), p.default)
        })
    };
    (tests(old) || tests(new)) && rules(old) != rules(new)
}

/// Regions of more boxes than this are merged by [`HeaderBox::coalesce`] (hashing,
/// linear) instead of pair by pair (quadratic).
const MERGE_MAX: usize = 64;

/// The pair-by-pair merges of one block pair's regions together may cost this much
/// (a region of `k` boxes counted `k` cubed, the most [`merge`] can take); past it,
/// the rest are merged by [`HeaderBox::coalesce`] too, so many small regions cannot
/// take more than a moment either.
pub(super) const MERGE_WORK: u64 = 1 << 24;

/// Merges boxes that differ in one dimension only (their union is then a box), until
/// none do: the same packets in fewer, more readable boxes. The boxes stay disjoint
/// (a union of two of them meets no third).
fn merge(mut boxes: Vec<HeaderBox>) -> Vec<HeaderBox> {
    'again: loop {
        for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                if let Some(d) = boxes[i].differs_only_on(&boxes[j]) {
                    let joined = boxes[i].clone().join_on(&boxes[j], d, &mut 0);
                    boxes[i] = joined;
                    boxes.swap_remove(j);
                    continue 'again;
                }
            }
        }
        return boxes;
    }
}

/// A region's boxes as one [`Change`] (its example the first box's witness; for a
/// region of many boxes, the first box's before they are joined, so the example does
/// not depend on how they join). `merge_work` is what is left of [`MERGE_WORK`].
fn change(
    boxes: Vec<HeaderBox>,
    before: Side,
    after: Side,
    merge_work: &mut u64,
) -> Option<Change> {
    let cost = (boxes.len() as u64).pow(3);
    let pairwise = boxes.len() <= MERGE_MAX && cost <= *merge_work;
    if pairwise {
        *merge_work -= cost;
    }
    let rejects = [&before, &after]
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Reject(_)));
    let example_of = |b: &HeaderBox| {
        let p = b.witness()?;
        Some(if rejects { answered_source(b, p) } else { p })
    };
    let (boxes, example) = if !pairwise {
        let example = example_of(boxes.first()?)?;
        let mut joined = HeaderBox::coalesce(boxes, &mut 0);
        joined.sort_unstable();
        (joined, example)
    } else {
        let boxes = merge(boxes);
        let example = example_of(boxes.first()?)?;
        (boxes, example)
    };
    Some(Change {
        region: Region::from_disjoint(boxes),
        before,
        after,
        example,
        limits: Vec::new(),
    })
}

/// `p` (a point of `b`) with a source address `reject` answers, where `b` has one: not
/// the unspecified address, nor multicast (or, IPv4, class E and broadcast), which
/// reject drops unanswered (docs/language.md, "reject"), so that the example of a change
/// to or from reject shows the answer. A readable documentation or private address
/// first, else the lowest.
fn answered_source(b: &HeaderBox, mut p: Point) -> Point {
    let (dim, unanswered, readable): (Dim, [Iv; 2], [u128; 2]) = match p[Dim::Frame] {
        frame::V4 => (
            Dim::Src4,
            [(0, 0), (0xe000_0000, u32::MAX.into())],
            [0x0a00_0001, 0xc000_0201],
        ),
        frame::V6 => (
            Dim::Src6,
            [(0, 0), (0xff00 << 112, u128::MAX)],
            [0x2001_0db8 << 96 | 1, 0xfd00 << 112 | 1],
        ),
        _ => return p,
    };
    let answered = b
        .get(dim)
        .subtract(&ValueSet::from_intervals(unanswered), &mut 0);
    if answered.contains(p[dim]) {
        return p;
    }
    let pick = readable.into_iter().find(|&v| answered.contains(v));
    if let Some(v) = pick.or(answered.lowest()) {
        p[dim] = v;
    }
    p
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dims;
