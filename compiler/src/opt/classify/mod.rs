//! Multi-field classification: runs of rules become byte-cut tries in array maps.
//!
//! Each rule is expanded into *entries* ([`entries`]), boxes over the dimensions of
//! one family, one per combination of set element, port range and protocol. Entries
//! go to one of up to three tries per family by their most specific address
//! ([`Group`]), and each trie is built by [`build`]: 256-way nodes that each read one
//! byte of the key, leaves of at most [`LEAF_MAX`] entries in rule order. The walk
//! (`bpf::classify`) reads at most one node per key byte (13 for IPv4, 37 for IPv6)
//! and checks at most [`LEAF_MAX`] entries, per trie: a bound that does not depend on
//! the number of rules.
//!
//! Invariant: for every packet of a trie's family, the first entry (in rule order) of
//! the trie whose box, TCP flags and L4 requirement match it is in the leaf the walk
//! reaches; the walk takes the lowest rule over the family's tries, so the rule it
//! names is the first rule of the run that matches.
//!
//! # Why byte-cut tries
//!
//! Chosen by measurement on the ClassBench sets (acl1, fw1, ipc1 at 1k, 10k, 100k
//! filters; figures in `bench/RESULTS.md`, sizes of the alternatives from
//! `bench/alternatives.py`):
//!
//! - *Binary decision trees* (this pass before, one array node per 1-bit cut): depth
//!   grew with the rules (8 at 1k, 12 at 100k for acl1) and a run whose tree copied
//!   entries past the work bound was halved into rule groups walked one after another
//!   (ipc1_100000: 7 groups). Slowest packet at 100k against 1k: acl1 2.00x, ipc1
//!   7.94x (1,794 ns, 15.5x the parse + one LPM lookup baseline). Rejected.
//! - *Tuple space search* (Open vSwitch): one hash probe per tuple of prefix lengths.
//!   The sets have 607 (acl1), 1,532 (fw1) and 1,660 (ipc1) tuples at 100k, port
//!   ranges expanded to prefixes, against 197–846 at 1k: the probes per packet grow
//!   with the rules, each probe costing more than one array read. Rejected.
//! - *Recursive flow classification*: constant time, but the cross-product tables of
//!   the three-phase tree need 1.6 GiB (acl1), 5.4 GiB (fw1) and 7.6 GiB (ipc1) in
//!   phase 1 alone at 100k (phase 2: 24 GiB to 49 TiB); fw1_10000 already needs
//!   100 MiB in phase 1. Over the 64 MiB budget by far. Rejected.
//! - *Byte-cut tries with a fixed stride* (DPDK's ACL is one): at most one 256-way
//!   node per key byte (13 for IPv4, 37 for IPv6) and one leaf of at most
//!   [`LEAF_MAX`] entries per trie; memory grows with the rules, time does not. Wide
//!   rules get their own trie ([`Group`]: by source, by destination, wide) instead of
//!   halving the run, so every run is one classifier of at most three tries per
//!   family. Measured over three bench runs: slowest packet at 100k against 1k
//!   0.88x–1.15x on acl1, fw1 and ipc1, 0.3–0.9x the baseline at every size, 16–30
//!   node reads at 100k, maps 18–35 MB, verifier load under 10 ms. Chosen.

mod build;
mod entries;
mod facts;
mod groups;
mod memo;
#[cfg(test)]
mod tests;

use std::ops::Range;

use crate::{
    ir::{
        classifier::{Classifier, Dim, Entries, Entry, Group, Trie},
        Action, Module, Program, Rule, Step,
    },
    syntax::ast::Family,
};
use entries::Sets;
use facts::Facts;

/// Fewer consecutive classifiable rules than this stay linear: for short runs the
/// rule tests cost less than the walk (see `bench/RESULTS.md`).
pub const MIN_RULES: usize = 32;
pub use crate::ir::classifier::LEAF_MAX;
/// A rule whose sets and port lists expand to more entries than this stays linear:
/// a large set is one LPM lookup there (and a list of many ports one bitmap test),
/// where in a classifier every element is an entry, copied into every leaf it
/// meets (a 20,000-rule file using a 2,000-prefix set in one rule of ten made 160 MB
/// of tables at 65,536; at 1,024 the object is 4 MB).
pub const MAX_EXPANSION: usize = 1024;
/// Entries one program's classifiers may hold in all: past it, rules stay linear.
/// [`MAX_EXPANSION`] bounds a rule, not a file: 10,000 rules using one 1,024-prefix
/// set expanded to 10M entries (3.2 GB and 27 s to compile). The ClassBench sets
/// need at most 99,310 (acl1_100000).
pub const MAX_PROGRAM_ENTRIES: usize = 1 << 18;

/// Why a run could not be classified (it stays linear).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("more than {LEAF_MAX} entries cannot be told apart by addresses, ports and protocol")]
    Inseparable,
    #[error("the trie would copy entries more than {MAX_WORK}x")]
    TooLarge,
    #[error("count rules of the run can match one packet together")]
    Overlap,
}

/// Work bound of one trie build: entry visits over all regions built, as a multiple
/// of the trie's entries (plus [`WORK_BASE`]). A run that needs more is split in two
/// (see [`run`]).
pub const MAX_WORK: usize = 64;
/// Work every trie may do whatever its size.
pub const WORK_BASE: usize = 1 << 20;

/// Most maps one program may use ([`crate::kernel_limits::MAX_PROGRAM_MAPS`]). Each
/// classifier costs one (its tables) and a program with classifiers one more (which
/// table half is live); the counters map, the set maps and the port bitmaps come
/// first.
pub use crate::kernel_limits::MAX_PROGRAM_MAPS;

/// What the classifier can do with a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// It ends the program when it matches: runs of these find their first match.
    Decides,
    /// A `count` rule: runs of these count the one that matches, if they are
    /// pairwise disjoint.
    Counts,
    /// Linear only.
    Linear,
}

/// Replaces every long enough run of classifiable rules by a [`Step::Classify`], as
/// long as the program's maps stay within [`MAX_PROGRAM_MAPS`]; a classifier that
/// would pass it leaves its rules linear.
pub fn run(module: &mut Module) {
    let planned = plan(module);
    apply(module, planned);
}

/// The new steps of every program (in `module.programs` order), computed from a
/// shared borrow so that the anomaly lints can read the module at the same time
/// (`opt::optimize_timed` runs both at once).
pub fn plan(module: &Module) -> Vec<Vec<Step>> {
    let mut next_id = 0u32;
    let sets = &module.sets;
    let mut planned = Vec::with_capacity(module.programs.len());
    for (_, prog) in module.programs.iter() {
        // One pass over the rules (in halves on both cores when long) for each rule's
        // kind and what the program's maps depend on.
        let (kinds, uses) = Facts::of(sets, &prog.rules).budgeted(&prog.steps);
        // Counters, two per set, the table-half index once there is a classifier, and
        // the port bitmaps if some rule may stay linear with a long port list; a
        // program that redirects to sockets also uses the socket map and its drop
        // counters; one with a logging rule (or default) the `log` rates, their
        // windows and the ring buffer.
        let logs = module.logs_in(prog);
        // A program whose rejects answer with ICMP uses the answer limits' three maps
        // (its rules read in the pass above).
        let answers = module.limits_answers(uses.answers_icmp);
        let mut maps = 2
            + 2 * uses.sets.len()
            + usize::from(uses.long_ports)
            + 2 * usize::from(uses.sockets)
            + 3 * usize::from(logs)
            + 3 * usize::from(answers);
        let mut steps = Vec::with_capacity(prog.steps.len());
        for step in &prog.steps {
            let Step::Linear { rules, .. } = step else {
                steps.push(step.clone());
                continue;
            };
            let rules = rules.clone();
            let kind_at = |i: usize| kinds[i];
            // Maximal runs of rules of one kind, and the rules between them.
            let mut i = rules.start;
            while i < rules.end {
                let start = i;
                let kind = kind_at(i);
                while i < rules.end && kind_at(i) == kind {
                    i += 1;
                }
                if kind == Kind::Linear || i - start < MIN_RULES {
                    push_linear(&mut steps, start..i);
                    continue;
                }
                let made = match kind {
                    Kind::Decides => classify_range(sets, prog, start..i, &mut next_id),
                    _ => count_range(sets, prog, start..i, &mut next_id),
                };
                for step in made {
                    match step {
                        Step::Classify(c) if maps + 1 > MAX_PROGRAM_MAPS => {
                            push_linear(&mut steps, c.rules);
                        }
                        Step::Classify(c) => {
                            maps += 1;
                            steps.push(Step::Classify(c));
                        }
                        Step::Linear { rules, .. } => push_linear(&mut steps, rules),
                    }
                }
            }
        }
        planned.push(steps);
    }
    planned
}

/// Puts the steps [`plan`] computed in place.
pub fn apply(module: &mut Module, planned: Vec<Vec<Step>>) {
    for ((_, prog), steps) in module.programs.iter_mut().zip(planned) {
        prog.steps = steps;
    }
}

/// A counting classifier for the `count` rules `rules[range]` if no two of them can
/// match one packet; else they stay linear.
fn count_range(sets: &Sets, prog: &Program, range: Range<usize>, id: &mut u32) -> Vec<Step> {
    let mut tries = Vec::new();
    for f in [Family::V4, Family::V6] {
        let es = Entries::of(
            &entries::entries(sets, prog, range.clone(), f),
            Dim::of(f).len(),
        );
        if es.is_empty() {
            continue;
        }
        let budget = MAX_WORK.saturating_mul(es.len()).saturating_add(WORK_BASE);
        match build::build_trie(f, Group::All, es, build::Mode::Disjoint, budget) {
            Ok(t) => tries.push(t),
            Err(_) => {
                return vec![Step::Linear {
                    rules: range,
                    plan: None,
                }]
            }
        }
    }
    *id += 1;
    vec![Step::Classify(Classifier {
        id: *id - 1,
        rules: range,
        counts: true,
        tries,
    })]
}

/// Appends rules decided one after another, joining them to a linear run just before
/// (lowering treats consecutive linear rules as one run).
fn push_linear(steps: &mut Vec<Step>, rules: Range<usize>) {
    if rules.is_empty() {
        return;
    }
    if let Some(Step::Linear { rules: last, plan }) = steps.last_mut() {
        if last.end == rules.start {
            last.end = rules.end;
            *plan = None;
            return;
        }
    }
    steps.push(Step::Linear { rules, plan: None });
}

/// Steps deciding `rules[range]`: one classifier if its trees build, else the two
/// halves on their own (rule groups), down to [`MIN_RULES`], below which rules stay
/// linear.
fn classify_range(sets: &Sets, prog: &Program, range: Range<usize>, id: &mut u32) -> Vec<Step> {
    if range.len() < MIN_RULES {
        return vec![Step::Linear {
            rules: range,
            plan: None,
        }];
    }
    match build_tries(sets, prog, range.clone()) {
        Ok(tries) => {
            *id += 1;
            vec![Step::Classify(Classifier {
                id: *id - 1,
                rules: range,
                counts: false,
                tries,
            })]
        }
        Err(_) => {
            let mid = range.start + range.len() / 2;
            let mut steps = classify_range(sets, prog, range.start..mid, id);
            steps.extend(classify_range(sets, prog, mid..range.end, id));
            steps
        }
    }
}

/// What the classifier can do with a rule: one that has no socket condition, tests
/// only addresses, ports, protocol and TCP flags, applies to IP packets only and
/// expands to few enough entries [`Kind::Decides`] if it ends the program when it
/// matches, or [`Kind::Counts`] if it is a `count` rule; any other is
/// [`Kind::Linear`]. With it, the entries the rule expands to (both families).
fn kind_of(sets: &Sets, r: &Rule) -> (Kind, usize) {
    let m = &r.m;
    let per_family = [Family::V4, Family::V6].map(|f| entries::expansion(sets, m, f));
    let fits = r.cond.is_none()
        && m.ct.is_none()
        && m.rare().limit.is_none()
        && m.route.is_none()
        && !m.tests_device()
        && m.rare().mark.is_none()
        && m.rare().ct_entry.is_none()
        && m.rare().fields.is_empty()
        && m.rare().owner.is_none()
        && m.rare().cgroup.is_none()
        && m.rare().comm.is_none()
        && m.icmp_type.is_none()
        && m.icmp_code.is_none()
        && !m.frag
        && !m.tests_frame()
        && (m.ip_only || m.family.is_some())
        && per_family.iter().all(|&n| n <= MAX_EXPANSION);
    let kind = match r.action {
        _ if !fits => Kind::Linear,
        // A redirect to a socket (sk_lookup) decides too: its record's verdict word
        // names the socket (`bpf::classify::REDIRECT_MARK`); so does a reject: its
        // record's word is its kind's mark (`RejectWith::mark`), which the shared tail
        // sends to that kind's answer as it does a linear reject's.
        Action::Allow
        | Action::Drop
        | Action::Pass
        | Action::Redirect(Some(_))
        | Action::Reject(_) => Kind::Decides,
        Action::Count => Kind::Counts,
        // A socket-call redirect writes its target into the context: linear code.
        Action::Redirect(None) | Action::RedirectIngress(_) | Action::RedirectCall(_) => {
            Kind::Linear
        }
    };
    (kind, per_family[0] + per_family[1])
}

/// Families with at most this many entries first try one trie for all of them (one
/// walk instead of up to three); a trie that copies entries more than
/// [`SMALL_WORK`] times is built per [`Group`] instead.
pub const SMALL_RUN: usize = 2048;
/// Work bound of the one-trie attempt, as a multiple of its entries.
pub const SMALL_WORK: usize = 16;
/// A group's trie is built on a thread of its own from this many entries on (below,
/// starting the thread costs more than it saves).
const THREAD_MIN: usize = 1024;

/// The one trie of a family's short run (at most [`SMALL_RUN`] entries, within
/// [`SMALL_WORK`] copies of them), and whether it was built in halves: nothing else
/// is built beside it, so from [`build::ALONE_HALVES_MIN`] entries it is.
fn one_trie(f: Family, all: &[Entry]) -> Result<(Trie, bool), BuildError> {
    let budget = SMALL_WORK * all.len() + (1 << 16);
    let (mode, halves_min) = (build::Mode::First, build::ALONE_HALVES_MIN);
    let table = Entries::of(all, Dim::of(f).len());
    build::build_trie_halving(f, Group::All, table, mode, budget, halves_min)
}

/// Builds the tries of `rules[range]`: per family, one trie for a small family whose
/// entries do not multiply each other, else one per [`Group`] that has entries;
/// ordered by family, then first rule.
fn build_tries(sets: &Sets, prog: &Program, range: Range<usize>) -> Result<Vec<Trie>, BuildError> {
    let mut tries = Vec::new();
    for f in [Family::V4, Family::V6] {
        // A long run's entries are made and dealt into the groups in two halves on
        // the two cores (h50-compile7: making them and dealing them was 15-18 ms of
        // acl1_100000's classify on one core while the other idled).
        if range.len() >= entries::HALVES_MIN {
            let dealt = entries::dealt_in_halves(sets, prog, range.clone(), f, entries::HALVES_MIN);
            let n: usize = dealt.iter().map(Entries::len).sum();
            if n == 0 {
                continue;
            }
            if n > SMALL_RUN {
                tries.extend(group_tries(f, dealt)?);
                continue;
            }
            // Few entries of this family in a long run: made again whole, in rule
            // order, for the one trie.
        }
        let all = entries::entries(sets, prog, range.clone(), f);
        if all.is_empty() {
            continue;
        }
        if all.len() <= SMALL_RUN {
            if let Ok((t, _)) = one_trie(f, &all) {
                tries.push(t);
                continue;
            }
        }
        let span = entries::addr_span(&all, f);
        tries.extend(group_tries(f, entries::deal(all, f, span))?);
    }
    tries.sort_by_key(|t| (t.family == Family::V6, t.entries.rule(0)));
    Ok(tries)
}

/// The tries of the groups of family `f` that have entries (`dealt`, in `Group as
/// usize` order).
fn group_tries(f: Family, dealt: [Entries; 3]) -> Result<Vec<Trie>, BuildError> {
    let groups = [Group::BySrc, Group::ByDst, Group::Wide]
        .into_iter()
        .zip(dealt);
    // The groups' tries share nothing: the largest is built here and every other
    // one of at least [`THREAD_MIN`] entries on a thread of its own (a 100k-rule
    // run spends most of its compile here; the machine's other cores would
    // otherwise idle), the small ones here after it.
    let mut groups: Vec<(Group, Entries)> = groups.filter(|(_, es)| !es.is_empty()).collect();
    groups.sort_by_key(|(_, es)| std::cmp::Reverse(es.len()));
    let build_one = |(group, es): (Group, Entries)| {
        let budget = MAX_WORK.saturating_mul(es.len()).saturating_add(WORK_BASE);
        build::build_trie(f, group, es, build::Mode::First, budget)
    };
    let mut rest = groups.into_iter();
    let largest = rest.next();
    let (threaded, small): (Vec<_>, Vec<_>) = rest.partition(|(_, es)| es.len() >= THREAD_MIN);
    let built: Vec<Result<Trie, BuildError>> = std::thread::scope(|s| {
        let handles: Vec<_> = threaded
            .into_iter()
            .map(|g| super::beside(s, move || build_one(g)))
            .collect();
        let mut built: Vec<_> = largest.into_iter().chain(small).map(build_one).collect();
        built.extend(handles.into_iter().map(super::Beside::join));
        built
    });
    built.into_iter().collect()
}
