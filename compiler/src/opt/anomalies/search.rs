//! The search of one program for its anomalies ([`check_program`]): per rule, the
//! earliest earlier rule covering it (shadowed), the nearest later rule with its
//! class covering it, and whether any rule between them (or after it, for the
//! default) may decide otherwise (redundant unless one does).
//!
//! Each search goes through the index one dimension at a time, the rules taken in
//! the order of their key in that dimension, so that neighbours share the keys and
//! nodes they walk. Invariant: a rule is found redundant only when every rule that
//! may decide otherwise in between was ruled out, and a search that spent more than
//! its budget concludes nothing (its rule is reported as unchecked).

use std::ops::Range;

use super::{
    index::{Dim, FamIndex, Run, Walk, NIL},
    report::Found,
    rules::{decides_otherwise, same_as_default, terminates, Entry, Prep, ANY_PROTO, NO_CLASS},
    Limits,
};
use crate::{
    ir::Program,
    space::{AddrSets, MatchShape},
};

/// The search state of one rule.
#[derive(Clone, Copy, Debug)]
struct State {
    /// The earliest earlier rule found that covers it and always ends the program
    /// (itself: none).
    shadow: u32,
    /// The nearest later rule found with its class that covers it (the number of
    /// rules: none).
    cover: u32,
    /// The earliest later rule found that overlaps it and decides otherwise.
    blocker: u32,
    /// The covering walk did not look at every rule that decides otherwise.
    partial: bool,
    /// Work spent so far (see [`BUDGET`](super::BUDGET)).
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

/// The anomalies of one program.
pub(super) fn check_program(sets: &AddrSets, prog: &Program, limits: Limits) -> Found {
    let search = Search::new(sets, prog, limits);
    let mut state = search.initial_state();
    let mut found = Found::default();
    search.find_covering_rules(&mut state);
    search.settle_after_covering(&mut state, &mut found);
    search.find_blockers(&mut state);
    for (i, st) in state.iter().enumerate() {
        match st.done {
            Done::Searching | Done::Redundant => found.redundant.push((
                i,
                (st.cover < state.len() as u32).then_some(st.cover as usize),
            )),
            Done::OutOfBudget => found.unchecked.push(i),
            Done::Yes => {}
        }
    }
    found
}

/// What every rule's search of one program reads: the rules, their index and the
/// limits. The per-rule [`State`] is passed along; a method about "the rule" means
/// the rule of the [`Walk`] it is given.
struct Search<'a> {
    sets: &'a AddrSets,
    prog: &'a Program,
    prep: Prep<'a>,
    index: [FamIndex; 2],
    limits: Limits,
}

impl<'a> Search<'a> {
    fn new(sets: &'a AddrSets, prog: &'a Program, limits: Limits) -> Search<'a> {
        let prep = Prep::new(sets, &prog.rules);
        let index = [FamIndex::build(&prep, 0), FamIndex::build(&prep, 1)];
        Search {
            sets,
            prog,
            prep,
            index,
            limits,
        }
    }

    /// Rule `i`'s shape (it is in the index, so it matches something).
    fn shape(&self, i: u32) -> &MatchShape<'a> {
        &self.prep.shapes[i as usize]
    }

    fn initial_state(&self) -> Vec<State> {
        let n = self.prog.rules.len();
        (0..n)
            .map(|i| State {
                shadow: i as u32,
                cover: n as u32,
                blocker: n as u32,
                partial: false,
                work: 0,
                done: if self.prep.fams[i] == 0 {
                    Done::Yes
                } else {
                    Done::Searching
                },
            })
            .collect()
    }

    // ---- covering rules ------------------------------------------------------------

    /// Covering rules: the earliest terminating one before (shadowed) and the nearest
    /// later one with the same action (redundant if nothing in between decides
    /// otherwise), among the rules whose keys hold the rule's keys (in its first
    /// family: a covering rule covers every family). The same walk notes the
    /// earliest later rule among them that decides otherwise (they all overlap it).
    fn find_covering_rules(&self, state: &mut [State]) {
        for (f, ix) in self.index.iter().enumerate() {
            for (d, dim) in ix.dims.iter().enumerate() {
                for w in &ix.walk[d] {
                    if usize::from(w.fams & 1 == 0) != f {
                        continue;
                    }
                    let mut st = state[w.q.rule as usize];
                    self.walk_enclosing_keys(dim, w, &mut st);
                    state[w.q.rule as usize] = st;
                }
            }
        }
    }

    /// Visits the rules under the keys enclosing the rule's key in `dim`, in the
    /// nodes whose secondary key holds its other key.
    fn walk_enclosing_keys(&self, dim: &Dim, w: &Walk, st: &mut State) {
        let bs = w.sec;
        let mut k = dim.chain_start(w.key);
        while k != NIL {
            let mut node = dim.enclosing(k, bs);
            while node != NIL {
                let g = dim.entries(node);
                st.work += 1;
                if g.len() <= self.limits.small.max(1) {
                    st.work += g.len() as u32 / 4;
                    for e in g {
                        self.visit(e, w, st);
                    }
                } else {
                    for (start, run) in dim.runs(node) {
                        self.visit_run(dim, start, run, w, st);
                    }
                }
                node = dim.nodes[node as usize].parent;
            }
            k = dim.up[k as usize];
        }
    }

    /// Visits the rules of one run of a large node that may shadow, cover or block
    /// the rule: earlier rules ascend from the start of a part, later ones from just
    /// after the rule.
    fn visit_run(&self, dim: &Dim, start: u32, run: Run, w: &Walk, st: &mut State) {
        let (i, q, own) = (w.q.rule, w.q, w.own);
        let p = run.proto;
        // Overlapping needs compatible protocols, covering a protocol that holds this
        // rule's.
        if !(p == ANY_PROTO || q.proto == ANY_PROTO || p == q.proto) {
            return;
        }
        let blocking = self.blocks_terminating(own, run.class);
        let holds = p == ANY_PROTO || p == q.proto;
        let shadows = holds && !self.prep.classes[run.class as usize].1;
        let covers = holds && run.class == own;
        if !(blocking || shadows || covers) {
            return;
        }
        st.work += 1;
        // Single ports, by port: those inside this rule's ports may overlap it; only
        // its own port may cover it.
        let exact = &dim.entries[start as usize..run.mid as usize];
        let (lo, hi) = if q.dport == (0, u16::MAX) {
            (0, exact.len())
        } else {
            let lo = exact.partition_point(|e| e.dport.0 < q.dport.0);
            (
                lo,
                lo + exact[lo..].partition_point(|e| e.dport.0 <= q.dport.1),
            )
        };
        let single = q.dport.0 == q.dport.1;
        // The others, by index: earlier rules from the start, later ones from just
        // after this rule.
        let ranged = &dim.entries[run.mid as usize..run.end as usize];
        let from = ranged.partition_point(|e| e.rule <= i);
        if blocking {
            // Many: left for the search of rules in between.
            if hi - lo > 16 {
                st.partial = true;
            } else {
                for e in &exact[lo..hi] {
                    self.note_blocker(e, w, st);
                }
            }
            for e in &ranged[from..] {
                if e.rule >= st.blocker {
                    break;
                }
                self.note_blocker(e, w, st);
            }
        }
        let own_port: &[Entry] = if single { &exact[lo..hi] } else { &[] };
        for part in [own_port, ranged] {
            if shadows {
                let mut j = 0;
                while j < part.len() && part[j].rule < st.shadow {
                    st.work += 1;
                    self.visit(&part[j], w, st);
                    j += 1;
                }
            }
        }
        if covers {
            for e in own_port {
                if e.rule > i && e.rule < st.cover {
                    st.work += 1;
                    self.visit(e, w, st);
                }
            }
            for e in &ranged[from..] {
                if e.rule >= st.cover {
                    break;
                }
                st.work += 1;
                self.visit(e, w, st);
            }
        }
    }

    /// Takes `e` as the rule's shadow if it is earlier and covers it, else as its
    /// cover if it is later, has its class and covers it, else notes it as a blocker.
    fn visit(&self, e: &Entry, w: &Walk, st: &mut State) {
        let (i, q, own) = (w.q.rule, w.q, w.own);
        if e.rule < i {
            if e.rule < st.shadow
                && !self.prep.classes[e.class as usize].1
                && e.may_cover(&q)
                && self.covers(e, w, st)
            {
                st.shadow = e.rule;
            }
            return;
        }
        if e.rule == i {
            return;
        }
        if e.class == own && e.rule < st.cover && e.may_cover(&q) && self.covers(e, w, st) {
            st.cover = e.rule;
            return;
        }
        self.note_blocker(e, w, st);
    }

    /// True when `e` covers the rule (`may_cover` held; exact for two plain rules).
    fn covers(&self, e: &Entry, w: &Walk, st: &mut State) -> bool {
        st.work += 1;
        e.plain(&w.q) || {
            st.work += 4;
            self.sets
                .covers(self.shape(e.rule), self.shape(w.q.rule), &mut st.work)
        }
    }

    /// Takes `e` as the rule's blocker if it is later than the rule and earlier than
    /// the blocker found so far, may decide otherwise and may overlap the rule.
    fn note_blocker(&self, e: &Entry, w: &Walk, st: &mut State) {
        let (i, q) = (w.q.rule, w.q);
        if e.rule > i
            && e.rule < st.blocker
            && self.blocks_terminating(w.own, e.class)
            && e.may_meet(&q)
        {
            st.work += 1;
            if e.plain(&q) || {
                st.work += 4;
                self.sets
                    .overlaps(self.shape(e.rule), self.shape(i), &mut st.work)
            } {
                st.blocker = e.rule;
            }
        }
    }

    /// True when class `own` always ends the program and a rule of class `c` may
    /// decide otherwise.
    fn blocks_terminating(&self, own: u16, c: u16) -> bool {
        own != NO_CLASS && self.prep.blocks(own, c)
    }

    // ---- what the covering walk settles --------------------------------------------

    /// Settles the rules the covering walk decided: out of budget, shadowed, or not
    /// redundant (it may not end the program, nothing later decides the same, or a
    /// blocker comes before the cover); and those with few rules up to the cover,
    /// which are looked at one by one.
    fn settle_after_covering(&self, state: &mut [State], found: &mut Found) {
        let rules = &self.prog.rules;
        let n = rules.len();
        for (i, r) in rules.iter().enumerate() {
            let st = &mut state[i];
            if st.done != Done::Searching {
                continue;
            }
            if st.work > self.limits.budget {
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
                || (cover == n && !same_as_default(r.action, self.prog.default))
                || st.blocker < st.cover
            {
                st.done = Done::Yes;
                continue;
            }
            // Few rules in between: look at each.
            if cover - i - 1 <= self.limits.linear {
                st.done = self.scan_between(i, cover, st);
            }
        }
    }

    /// Rule `i`'s outcome after looking at every rule between it and `cover` for one
    /// that may decide otherwise.
    fn scan_between(&self, i: usize, cover: usize, st: &mut State) -> Done {
        let (rules, prep) = (&self.prog.rules, &self.prep);
        let b = self.shape(i as u32);
        let blocked = (i + 1..cover).any(|j| {
            st.work += 1;
            let x = &rules[j];
            decides_otherwise(x.action, super::rules::conditional(x), rules[i].action)
                && prep.fams[j] != 0
                && prep.quick[j].may_meet(&prep.quick[i])
                && self.sets.overlaps(self.shape(j as u32), b, &mut st.work)
        });
        if blocked {
            Done::Yes
        } else if st.work > self.limits.budget {
            Done::OutOfBudget
        } else {
            // Nothing decides otherwise.
            Done::Redundant
        }
    }

    // ---- rules in between that decide otherwise -----------------------------------

    /// Rules that may decide otherwise in between (or after, for the default): among
    /// the rules whose keys overlap the rule's keys, in every family it has.
    fn find_blockers(&self, state: &mut [State]) {
        let mut pending: Vec<u64> = vec![0; state.len().div_ceil(64)];
        for (i, st) in state.iter().enumerate() {
            if st.done == Done::Searching {
                pending[i / 64] |= 1 << (i % 64);
            }
        }
        // Stage 0: the keys holding the rule's key (few, and the most likely to
        // overlap); stage 1: the keys inside it, in the dimension with fewer of them;
        // stage 2: in the other dimension.
        for stage in 0..3 {
            for (f, ix) in self.index.iter().enumerate() {
                for (d, dim) in ix.dims.iter().enumerate() {
                    for w in &ix.walk[d] {
                        let i = w.q.rule as usize;
                        if pending[i / 64] & (1 << (i % 64)) == 0 {
                            continue;
                        }
                        let end = ix.keys[d].end[w.key as usize];
                        let inside = dim.first[w.key as usize + 1]..dim.first[end as usize];
                        if stage > 0 && fewer_inside(ix, d, w, inside.len() as u32) != (stage == 1)
                        {
                            continue;
                        }
                        let st = &mut state[i];
                        let blocked = if stage == 0 {
                            let walked = usize::from(w.fams & 1 == 0) == f && !st.partial;
                            self.blocked_on_enclosing_keys(dim, w, walked, st)
                        } else {
                            st.work <= self.limits.budget
                                && self.blocked_inside_key(dim, inside, w, st)
                        };
                        if blocked {
                            st.done = Done::Yes;
                        } else if st.work > self.limits.budget {
                            st.done = Done::OutOfBudget;
                        }
                        if st.done != Done::Searching {
                            pending[i / 64] &= !(1 << (i % 64));
                        }
                    }
                }
            }
        }
    }

    /// Keys holding the rule's key: nodes holding its other key (the covering walk
    /// looked at those in the rule's first family: `walked`) or inside it (none when
    /// nothing is inside its other key).
    fn blocked_on_enclosing_keys(&self, dim: &Dim, w: &Walk, walked: bool, st: &mut State) -> bool {
        let (bs, be) = (w.sec, w.sec_end);
        if walked && be <= bs + 1 {
            return false;
        }
        let mut k = dim.chain_start(w.key);
        while k != NIL {
            let mut node = if walked { NIL } else { dim.enclosing(k, bs) };
            while node != NIL {
                if self.node_has_blocker(dim, node, w, st) {
                    return true;
                }
                node = dim.nodes[node as usize].parent;
            }
            if be > bs + 1 && self.any_blocker(dim.inside(k, bs, be), w, st) {
                return true;
            }
            if st.work > self.limits.budget {
                return false;
            }
            k = dim.up[k as usize];
        }
        false
    }

    /// Keys inside the rule's key (the nodes `inside`): every node whose other key is
    /// nested with its.
    fn blocked_inside_key(&self, dim: &Dim, inside: Range<u32>, w: &Walk, st: &mut State) -> bool {
        let (bs, be) = (w.sec, w.sec_end);
        for j in inside {
            st.work += 1;
            let nd = dim.nodes[j as usize];
            let nested = (nd.sec <= bs && bs < nd.sec_end) || (bs <= nd.sec && nd.sec < be);
            if nested && self.node_has_blocker(dim, j, w, st) {
                return true;
            }
            if st.work > self.limits.budget {
                break;
            }
        }
        false
    }

    /// One node's entries: by class and protocol, within the index window.
    fn node_has_blocker(&self, dim: &Dim, node: u32, w: &Walk, st: &mut State) -> bool {
        let (i, q) = (w.q.rule, w.q);
        let g = dim.entries(node);
        if g.len() <= self.limits.small.max(1) {
            return self.any_blocker(g, w, st);
        }
        for (start, run) in dim.runs(node) {
            let p = run.proto;
            if !self.prep.blocks(q.class, run.class)
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
                if self.is_blocker(e, w, st) {
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
                if self.is_blocker(e, w, st) {
                    return true;
                }
            }
        }
        false
    }

    /// Entries of several nodes (not in index order).
    fn any_blocker(&self, g: &[Entry], w: &Walk, st: &mut State) -> bool {
        st.work = st.work.saturating_add(1 + g.len() as u32 / 8);
        g.iter().any(|e| self.is_blocker(e, w, st))
    }

    /// True when `e` lies between the rule and its cover, may decide otherwise and
    /// may overlap the rule.
    fn is_blocker(&self, e: &Entry, w: &Walk, st: &mut State) -> bool {
        let (i, q) = (w.q.rule, w.q);
        if e.rule <= i
            || e.rule >= st.cover
            || !self.prep.blocks(q.class, e.class)
            || !e.may_meet(&q)
        {
            return false;
        }
        st.work += 1;
        // `may_meet` was exact (the index found their addresses nested).
        e.plain(&q) || {
            st.work += 4;
            self.sets
                .overlaps(self.shape(e.rule), self.shape(i), &mut st.work)
        }
    }
}

/// True when dimension `d` has fewer nodes under the keys inside the rule's key
/// (`mine`) than the other dimension under the keys inside its other key (the source
/// on a tie).
fn fewer_inside(ix: &FamIndex, d: usize, w: &Walk, mine: u32) -> bool {
    let other = &ix.dims[1 - d];
    let theirs = other.first[w.sec_end as usize] - other.first[w.sec as usize + 1];
    // Ties: the source first.
    mine < theirs || (mine == theirs && d == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opt::anomalies::{test_support::module, LIMITS};

    #[test]
    fn the_cap_is_reported() {
        let src = "xdp on eth0 {\ndrop tcp to 10.0.0.0/24\ndrop tcp to 10.0.1.0/24\nallow udp\n\
                   drop tcp to 10.0.0.0/8\ndefault allow\n}\n";
        let m = module(src);
        let sets = AddrSets::new(&m);
        let prog = m.programs.values().next().unwrap();
        let full = check_program(&sets, prog, LIMITS);
        assert_eq!(full.redundant.len(), 3);
        assert!(full.unchecked.is_empty());
        let capped = check_program(
            &sets,
            prog,
            Limits {
                budget: 0,
                linear: 0,
                small: 0,
            },
        );
        assert!(capped.redundant.is_empty() && capped.shadowed.is_empty());
        assert_eq!(capped.unchecked, [0, 1, 2, 3]);
    }
}
