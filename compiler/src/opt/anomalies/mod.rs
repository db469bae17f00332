//! Rule anomalies, reported as warnings, per program:
//!
//! * **shadowed** (`sockc::shadowed`): an earlier rule that always ends the program
//!   (`allow`, `drop`, `pass` or `redirect`, without a socket condition) matches every
//!   packet the rule matches, so it never matches; a `count` rule too (it never
//!   counts). The warning names the earliest such rule.
//! * **redundant** (`sockc::redundant`): a rule that always ends the program and whose
//!   removal changes no verdict: the nearest later rule with the same action covers it
//!   and no rule in between that may decide otherwise (another action, a socket
//!   condition, a redirect) overlaps it; or no later rule that may decide otherwise
//!   overlaps it and the block's default has its verdict. A shadowed rule is not also
//!   called redundant. Removing a redundant rule can change counters, never verdicts.
//!
//! A rule that matches nothing (an address set with no element of its family) is
//! skipped: it is neither reported nor in anybody's way. The pass changes nothing.
//!
//! Invariant: only certainties are reported. "Covers" is exact for every field of a
//! [`RuleMatch`] (family, IP-only, protocol, addresses as per-family interval lists,
//! so a set covers a prefix exactly when its members do, port ranges, TCP flags,
//! ICMP type and code) or errs towards "does not cover"; "may overlap" errs towards
//! "overlaps". Nothing is reported about a rule whose search was cut short.
//!
//! Large programs are not compared pairwise. Every rule gets a key per family and
//! address (its prefix, `*`, or the smallest prefix holding a set's members); the rules
//! that always or may end the program are indexed under their keys ([`FamIndex`]),
//! so the rules covering a rule are found on the chains of prefixes enclosing its
//! keys, and the rules overlapping it there or among the prefixes inside its keys.
//! Each search has a budget of work ([`BUDGET`]); a rule whose search runs out is
//! counted in one `sockc::anomalies_partial` warning, never dropped silently. Past
//! [`MAX_LISTED`] rules of a kind in a program, one warning counts the rest.

mod geometry;
mod index;
mod report;
mod rules;

use self::{
    geometry::Ctx,
    index::{FamIndex, NIL, SMALL_NODE},
    report::{partial_warning, report, Found},
    rules::{decides_otherwise, same_as_default, terminates, Entry, Prep, ANY_PROTO, NO_CLASS},
};
use crate::{
    diag::Diagnostic,
    ir::{Module, Program},
};

/// Work units (index nodes visited plus candidate rules checked, plus the intervals
/// walked when a check compares two address sets) one rule's searches may spend.
pub const BUDGET: u32 = 1024;

/// Between a rule and its covering rule, up to this many rules are scanned one by
/// one instead of searching the index.
pub const LINEAR_SCAN: usize = 48;

/// How much searching one rule may take.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// See [`BUDGET`].
    budget: u32,
    /// See [`LINEAR_SCAN`].
    linear: usize,
    /// See [`SMALL_NODE`].
    small: usize,
}

const LIMITS: Limits = Limits {
    budget: BUDGET,
    linear: LINEAR_SCAN,
    small: SMALL_NODE,
};

// ---- the pass --------------------------------------------------------------------

/// Per program, at most this many rules of each kind are listed one by one; the
/// others are counted in one more warning (a list of thousands helps nobody, and
/// each listed warning costs time to build and to print).
pub const MAX_LISTED: usize = 100;

/// Finds shadowed and redundant rules in every program of `module`.
pub fn run(module: &Module) -> Vec<Diagnostic> {
    let ctx = Ctx::new(module);
    let mut diags = Vec::new();
    let mut partial = 0usize;
    let mut first_partial = None;
    for prog in module.programs.values() {
        let found = check_program(&ctx, prog, LIMITS);
        report(prog, &found, MAX_LISTED, &mut diags);
        if let Some(&first) = found.unchecked.first() {
            partial += found.unchecked.len();
            first_partial.get_or_insert(prog.rules[first].span);
        }
    }
    if let Some(span) = first_partial {
        diags.push(partial_warning(span, partial));
    }
    diags
}

/// The search state of one rule.
#[derive(Clone, Copy, Debug)]
struct State {
    shadow: u32,
    cover: u32,
    /// The earliest later rule found that overlaps it and decides otherwise.
    blocker: u32,
    /// The covering walk did not look at every rule that decides otherwise.
    partial: bool,
    work: u32,
    done: Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Searching,
    /// Redundant: nothing in between decides otherwise.
    Redundant,
    /// Shadowed, not a candidate for redundancy, or decided either way.
    Yes,
    OutOfBudget,
}

/// The anomalies of one program. Each rule's searches go through the index one
/// dimension at a time, the rules taken in the order of their key in that
/// dimension, so that neighbours share the keys and nodes they walk.
fn check_program(ctx: &Ctx, prog: &Program, limits: Limits) -> Found {
    let budget = limits.budget;
    let rules = &prog.rules;
    let n = rules.len();
    let prep = Prep::new(ctx, rules);
    let shape = |i: u32| ctx.shape(&rules[i as usize].m).expect("indexed");
    let index = [FamIndex::build(&prep, 0), FamIndex::build(&prep, 1)];
    let mut state: Vec<State> = (0..n)
        .map(|i| State {
            shadow: i as u32,
            cover: n as u32,
            blocker: n as u32,
            partial: false,
            work: 0,
            done: if prep.fams[i] == 0 {
                Done::Yes
            } else {
                Done::Searching
            },
        })
        .collect();

    // Covering rules: the earliest terminating one before (shadowed) and the nearest
    // later one with the same action (redundant if nothing in between decides
    // otherwise), among the rules whose keys hold the rule's keys (in its first
    // family: a covering rule covers every family). The same walk notes the
    // earliest later rule among them that decides otherwise (they all overlap it).
    for (f, ix) in index.iter().enumerate() {
        for (d, dim) in ix.dims.iter().enumerate() {
            for w in &ix.walk[d] {
                let (i, q, own) = (w.q.rule, w.q, w.own);
                if usize::from(w.fams & 1 == 0) != f {
                    continue;
                }
                let mut st = state[i as usize];
                let st = &mut st;
                let blocks = |c: u16| own != NO_CLASS && prep.blocks(own, c);
                let block = |e: &Entry, st: &mut State| {
                    if e.rule > i && e.rule < st.blocker && blocks(e.class) && e.may_meet(&q) {
                        st.work += 1;
                        if e.plain(&q) || {
                            st.work += 4;
                            ctx.may_overlap(&shape(e.rule), &shape(i), &mut st.work)
                        } {
                            st.blocker = e.rule;
                        }
                    }
                };
                let covers = |e: &Entry, st: &mut State| {
                    st.work += 1;
                    e.plain(&q) || {
                        st.work += 4;
                        ctx.covers(&shape(e.rule), &shape(i), &mut st.work)
                    }
                };
                let visit = |e: &Entry, st: &mut State| {
                    if e.rule < i {
                        if e.rule < st.shadow
                            && !prep.classes[e.class as usize].1
                            && e.may_cover(&q)
                            && covers(e, st)
                        {
                            st.shadow = e.rule;
                        }
                        return;
                    }
                    if e.rule == i {
                        return;
                    }
                    if e.class == own && e.rule < st.cover && e.may_cover(&q) && covers(e, st) {
                        st.cover = e.rule;
                        return;
                    }
                    block(e, st);
                };
                let bs = w.sec;
                let mut k = dim.chain_start(w.key);
                while k != NIL {
                    let mut node = dim.enclosing(k, bs);
                    while node != NIL {
                        let g = dim.entries(node);
                        st.work += 1;
                        if g.len() <= limits.small.max(1) {
                            st.work += g.len() as u32 / 4;
                            for e in g {
                                visit(e, st);
                            }
                        } else {
                            // Run by run: earlier rules ascend from the start of a
                            // part, later ones from just after this rule.
                            for (start, run) in dim.runs(node) {
                                let p = run.proto;
                                // Overlapping needs compatible protocols, covering a
                                // protocol that holds this rule's.
                                if !(p == ANY_PROTO || q.proto == ANY_PROTO || p == q.proto) {
                                    continue;
                                }
                                let blocking = blocks(run.class);
                                let holds = p == ANY_PROTO || p == q.proto;
                                let shadows = holds && !prep.classes[run.class as usize].1;
                                let covers = holds && run.class == own;
                                if !(blocking || shadows || covers) {
                                    continue;
                                }
                                st.work += 1;
                                // Single ports, by port: those inside this rule's ports
                                // may overlap it; only its own port may cover it.
                                let exact = &dim.entries[start as usize..run.mid as usize];
                                let (lo, hi) = if q.dport == (0, u16::MAX) {
                                    (0, exact.len())
                                } else {
                                    let lo = exact.partition_point(|e| e.dport.0 < q.dport.0);
                                    (
                                        lo,
                                        lo + exact[lo..]
                                            .partition_point(|e| e.dport.0 <= q.dport.1),
                                    )
                                };
                                let single = q.dport.0 == q.dport.1;
                                // The others, by index: earlier rules from the start,
                                // later ones from just after this rule.
                                let ranged = &dim.entries[run.mid as usize..run.end as usize];
                                let from = ranged.partition_point(|e| e.rule <= i);
                                if blocking {
                                    // Many: left for the search of rules in between.
                                    if hi - lo > 16 {
                                        st.partial = true;
                                    } else {
                                        for e in &exact[lo..hi] {
                                            block(e, st);
                                        }
                                    }
                                    for e in &ranged[from..] {
                                        if e.rule >= st.blocker {
                                            break;
                                        }
                                        block(e, st);
                                    }
                                }
                                let own_port: &[Entry] = if single { &exact[lo..hi] } else { &[] };
                                for part in [own_port, ranged] {
                                    if shadows {
                                        let mut j = 0;
                                        while j < part.len() && part[j].rule < st.shadow {
                                            st.work += 1;
                                            visit(&part[j], st);
                                            j += 1;
                                        }
                                    }
                                }
                                if covers {
                                    for e in own_port {
                                        if e.rule > i && e.rule < st.cover {
                                            st.work += 1;
                                            visit(e, st);
                                        }
                                    }
                                    for e in &ranged[from..] {
                                        if e.rule >= st.cover {
                                            break;
                                        }
                                        st.work += 1;
                                        visit(e, st);
                                    }
                                }
                            }
                        }
                        node = dim.nodes[node as usize].parent;
                    }
                    k = dim.up[k as usize];
                }
                state[i as usize] = *st;
            }
        }
    }

    let mut found = Found::default();
    for (i, r) in rules.iter().enumerate() {
        let st = &mut state[i];
        if st.done != Done::Searching {
            continue;
        }
        if st.work > budget {
            st.done = Done::OutOfBudget;
            continue;
        }
        if (st.shadow as usize) < i {
            found.shadowed.push((i, st.shadow as usize));
            st.done = Done::Yes;
            continue;
        }
        let cover = st.cover as usize;
        if !terminates(r)
            || (cover == n && !same_as_default(r.action, prog.default))
            || st.blocker < st.cover
        {
            st.done = Done::Yes;
            continue;
        }
        // Few rules in between: look at each.
        if cover - i - 1 <= limits.linear {
            let b = shape(i as u32);
            let blocked = (i + 1..cover).any(|j| {
                st.work += 1;
                let x = &rules[j];
                decides_otherwise(x.action, x.cond.is_some(), r.action)
                    && prep.fams[j] != 0
                    && prep.quick[j].may_meet(&prep.quick[i])
                    && ctx.may_overlap(&shape(j as u32), &b, &mut st.work)
            });
            st.done = if blocked {
                Done::Yes
            } else if st.work > budget {
                Done::OutOfBudget
            } else {
                Done::Searching
            };
            // Searching still: nothing decides otherwise.
            if st.done == Done::Searching {
                st.done = Done::Redundant;
            }
        }
    }

    // Rules that may decide otherwise in between (or after, for the default): among
    // the rules whose keys overlap the rule's keys, in every family it has.
    let mut pending: Vec<u64> = vec![0; n.div_ceil(64)];
    for (i, st) in state.iter().enumerate() {
        if st.done == Done::Searching {
            pending[i / 64] |= 1 << (i % 64);
        }
    }
    // Stage 0: the keys holding the rule's key (few, and the most likely to overlap);
    // stage 1: the keys inside it, in the dimension with fewer of them; stage 2: in
    // the other dimension.
    for stage in 0..3 {
        for (f, ix) in index.iter().enumerate() {
            for (d, dim) in ix.dims.iter().enumerate() {
                for w in &ix.walk[d] {
                    let (i, q) = (w.q.rule, w.q);
                    if pending[i as usize / 64] & (1 << (i % 64)) == 0 {
                        continue;
                    }
                    let (bs, be, own_key) = (w.sec, w.sec_end, w.key);
                    let end = ix.keys[d].end[own_key as usize];
                    let inside = dim.first[own_key as usize + 1]..dim.first[end as usize];
                    if stage > 0 {
                        let other = &ix.dims[1 - d];
                        let theirs = other.first[be as usize] - other.first[bs as usize + 1];
                        let mine = inside.len() as u32;
                        // Ties: the source first.
                        let smaller = mine < theirs || (mine == theirs && d == 0);
                        if smaller != (stage == 1) {
                            continue;
                        }
                    }
                    let st = &mut state[i as usize];
                    let blocks = |c: u16| prep.blocks(q.class, c);
                    let hit = |e: &Entry, st: &mut State| -> bool {
                        if e.rule <= i || e.rule >= st.cover || !blocks(e.class) || !e.may_meet(&q)
                        {
                            return false;
                        }
                        st.work += 1;
                        // `may_meet` was exact (the index found their addresses nested).
                        e.plain(&q) || {
                            st.work += 4;
                            ctx.may_overlap(&shape(e.rule), &shape(i), &mut st.work)
                        }
                    };
                    // Entries of several nodes (not in index order).
                    let scan_any = |g: &[Entry], st: &mut State| -> bool {
                        st.work = st.work.saturating_add(1 + g.len() as u32 / 8);
                        g.iter().any(|e| hit(e, st))
                    };
                    // One node's entries: by class and protocol, within the index window.
                    let scan_node = |node: u32, st: &mut State| -> bool {
                        let g = dim.entries(node);
                        if g.len() <= limits.small.max(1) {
                            return scan_any(g, st);
                        }
                        for (start, run) in dim.runs(node) {
                            let p = run.proto;
                            if !blocks(run.class)
                                || !(p == ANY_PROTO || q.proto == ANY_PROTO || p == q.proto)
                            {
                                continue;
                            }
                            st.work += 1;
                            // Single ports inside this rule's ports, by port.
                            let exact = &dim.entries[start as usize..run.mid as usize];
                            let lo = exact.partition_point(|e| e.dport.0 < q.dport.0);
                            let hi = lo + exact[lo..].partition_point(|e| e.dport.0 <= q.dport.1);
                            st.work = st.work.saturating_add((hi - lo) as u32 / 8);
                            for e in &exact[lo..hi] {
                                if hit(e, st) {
                                    return true;
                                }
                            }
                            // The others, by index.
                            let ranged = &dim.entries[run.mid as usize..run.end as usize];
                            let from = ranged.partition_point(|e| e.rule <= i);
                            for e in &ranged[from..] {
                                if e.rule >= st.cover {
                                    break;
                                }
                                if hit(e, st) {
                                    return true;
                                }
                            }
                        }
                        false
                    };
                    let mut blocked = false;
                    // Keys holding its key: nodes holding its other key (the covering
                    // walk looked at those in the rule's first family) or inside it
                    // (none when nothing is inside its other key).
                    let walked = usize::from(w.fams & 1 == 0) == f && !st.partial;
                    let mut k = if stage == 0 && (!walked || be > bs + 1) {
                        dim.chain_start(own_key)
                    } else {
                        NIL
                    };
                    'keys: while k != NIL {
                        let mut node = if walked { NIL } else { dim.enclosing(k, bs) };
                        while node != NIL {
                            if scan_node(node, st) {
                                blocked = true;
                                break 'keys;
                            }
                            node = dim.nodes[node as usize].parent;
                        }
                        if be > bs + 1 && scan_any(dim.inside(k, bs, be), st) {
                            blocked = true;
                            break 'keys;
                        }
                        if st.work > budget {
                            break 'keys;
                        }
                        k = dim.up[k as usize];
                    }
                    // Keys inside its key: every node whose other key is nested with its.
                    if stage > 0 && !blocked && st.work <= budget {
                        for j in inside {
                            st.work += 1;
                            let nd = dim.nodes[j as usize];
                            let nested =
                                (nd.sec <= bs && bs < nd.sec_end) || (bs <= nd.sec && nd.sec < be);
                            if nested && scan_node(j, st) {
                                blocked = true;
                                break;
                            }
                            if st.work > budget {
                                break;
                            }
                        }
                    }
                    if blocked {
                        st.done = Done::Yes;
                    } else if st.work > budget {
                        st.done = Done::OutOfBudget;
                    }
                    if st.done != Done::Searching {
                        pending[i as usize / 64] &= !(1 << (i % 64));
                    }
                }
            }
        }
    }
    for (i, st) in state.iter().enumerate() {
        match st.done {
            Done::Searching | Done::Redundant => found
                .redundant
                .push((i, (st.cover < n as u32).then_some(st.cover as usize))),
            Done::OutOfBudget => found.unchecked.push(i),
            Done::Yes => {}
        }
    }
    found
}

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
