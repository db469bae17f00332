//! The search of one program (`check_program`).

use super::{
    geometry::Ctx,
    index::{FamIndex, NIL},
    report::Found,
    rules::{decides_otherwise, same_as_default, terminates, Entry, Prep, ANY_PROTO, NO_CLASS},
    Limits,
};
use crate::ir::Program;

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
pub(super) fn check_program(ctx: &Ctx, prog: &Program, limits: Limits) -> Found {
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
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::opt::anomalies::{
        geometry::Shape,
        index::SMALL_NODE,
        report::report,
        testkit::{as_findings, module, program_strategy, REDUNDANT, SHADOWED},
        LIMITS, LINEAR_SCAN,
    };

    #[test]
    fn the_cap_is_reported() {
        let src = "xdp on eth0 {\ndrop tcp to 10.0.0.0/24\ndrop tcp to 10.0.1.0/24\nallow udp\n\
                   drop tcp to 10.0.0.0/8\ndefault allow\n}\n";
        let m = module(src);
        let ctx = Ctx::new(&m);
        let prog = m.programs.values().next().unwrap();
        let full = check_program(&ctx, prog, LIMITS);
        assert_eq!(full.redundant.len(), 3);
        assert!(full.unchecked.is_empty());
        let capped = check_program(
            &ctx,
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

    // ---- random programs: the index against a pairwise reference -----------------

    /// The findings as (code, rule, other rule or `None` for the default), pairwise.
    fn reference(ctx: &Ctx, prog: &Program) -> Vec<(&'static str, usize, Option<usize>)> {
        let shapes: Vec<Option<Shape>> = prog.rules.iter().map(|r| ctx.shape(&r.m)).collect();
        let mut w = 0;
        let mut out = Vec::new();
        for (i, r) in prog.rules.iter().enumerate() {
            let Some(b) = &shapes[i] else { continue };
            let shadow = (0..i).find(|&a| {
                terminates(&prog.rules[a])
                    && shapes[a].as_ref().is_some_and(|s| ctx.covers(s, b, &mut w))
            });
            if let Some(a) = shadow {
                out.push((SHADOWED, i, Some(a)));
                continue;
            }
            if !terminates(r) {
                continue;
            }
            let mut verdict = None;
            for (j, x) in prog.rules.iter().enumerate().skip(i + 1) {
                let Some(s) = &shapes[j] else { continue };
                if terminates(x) && x.action == r.action && ctx.covers(s, b, &mut w) {
                    verdict = Some(Some(j));
                    break;
                }
                if decides_otherwise(x.action, x.cond.is_some(), r.action)
                    && ctx.may_overlap(s, b, &mut w)
                {
                    verdict = Some(None);
                    break;
                }
            }
            match verdict {
                Some(Some(j)) => out.push((REDUNDANT, i, Some(j))),
                None if same_as_default(r.action, prog.default) => out.push((REDUNDANT, i, None)),
                _ => {}
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The indexed search finds exactly what comparing every pair finds, whether
        /// the rules between are scanned or searched.
        #[test]
        fn index_agrees_with_pairwise(m in program_strategy(60)) {
            let ctx = Ctx::new(&m);
            let prog = m.programs.values().next().unwrap();
            let want = reference(&ctx, prog);
            for (linear, small) in [(0, 0), (3, 1), (LINEAR_SCAN, SMALL_NODE), (0, SMALL_NODE)] {
                let limits = Limits { budget: u32::MAX - 1, linear, small };
                let found = check_program(&ctx, prog, limits);
                prop_assert!(found.unchecked.is_empty());
                let mut d = Vec::new();
                report(prog, &found, usize::MAX, &mut d);
                prop_assert_eq!(&as_findings(prog, &d), &want, "{:?}", limits);
            }
        }
    }
}
