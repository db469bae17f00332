//! The merged walk against a reference: both files' first-match partitions of the
//! whole hook, computed the plain way (every rule splits every box, no candidate
//! region, no pruning, no index) and grouped as the diff groups them. On named cases
//! that aim at the pruning (an edit hidden behind a common rule, one revealed by
//! deleting it, reorders) and on random small files with random edits, the diff's
//! regions must hold exactly the reference's packets, group by group.

use super::super::{
    align::{self, Pairs, Rules, Term},
    diff, diff_within, BlockSide, Budget, Change, Decider, Module, NotCompared, SemDiff, MAX_BOXES,
};
use super::{Groups, Piece};
use crate::hooks::HookKind;
use crate::space::{hook_universe, AddrSets, HeaderBox, Region};
use sockc_testkit::rng::Rng;

use crate::test_module::module;

/// One side's first match over `start`, every box split by every rule.
fn first_match<L: Copy>(
    start: Vec<(HeaderBox, L)>,
    rules: &[Term],
) -> Vec<(HeaderBox, L, Decider)> {
    let (mut live, mut out, mut work) = (start, Vec::new(), 0);
    for t in rules {
        let mut next = Vec::new();
        for (b, l) in live {
            let mut rest = vec![b];
            // A rule without its region misses the whole hook (`with_rules`).
            for rb in t.region.iter().flat_map(Region::boxes) {
                let mut left = Vec::new();
                for x in rest {
                    match x.intersect(rb, &mut work) {
                        Some(inside) => {
                            out.push((inside, l, Decider::Rule(t.index)));
                            left.extend(x.subtract(rb, &mut work));
                        }
                        None => left.push(x),
                    }
                }
                rest = left;
            }
            next.extend(rest.into_iter().map(|x| (x, l)));
        }
        live = next;
    }
    out.extend(live.into_iter().map(|(b, l)| (b, l, Decider::Default)));
    out
}

/// `f` of both files' only block: their rules as the diff sees them, the rules'
/// pairing, and the hook.
fn with_rules<T>(
    old: &Module,
    new: &Module,
    f: impl FnOnce(&Rules, &Rules, &Pairs, HookKind) -> T,
) -> T {
    let (os, ns) = (AddrSets::new(old), AddrSets::new(new));
    let (po, pn) = (old.programs.values().next(), new.programs.values().next());
    let hook = po.or(pn).unwrap().hook;
    let side = |module, prog, sets| BlockSide {
        hook,
        module,
        prog,
        sets,
    };
    let buckets = super::super::buckets::Buckets::of(po, pn).expect("few buckets");
    let (mut o, mut n) = (
        Rules::of(&side(old, po, &os), &buckets),
        Rules::of(&side(new, pn, &ns), &buckets),
    );
    let mut pairs = align::pair(&o, &n);
    // Every rule that meets the hook keeps its region: the reference splits the whole
    // hook, and the walk's candidates are inside it.
    assert!(align::keep_reaching(
        &mut o,
        &mut n,
        &mut pairs,
        &hook_universe(hook)
    ));
    f(&o, &n, &pairs, hook)
}

/// The reference's (verdict changes, counter moves) of the files' only block.
fn reference(old: &Module, new: &Module) -> (Vec<Change>, Vec<Change>) {
    with_rules(old, new, |o, n, pairs, hook| {
        let universe = hook_universe(hook);
        let start = universe.boxes().iter().map(|b| (b.clone(), ())).collect();
        let by_old = first_match(start, &o.deciding);
        let by_old = by_old.into_iter().map(|(b, (), d)| (b, d)).collect();
        let mut groups = Groups::new(o, n, pairs);
        for piece in first_match(by_old, &n.deciding) {
            groups.add(piece);
        }
        groups.changes()
    })
}

/// The pieces [`super::decide`] cuts the files' only block into.
fn walk_pieces(old: &Module, new: &Module) -> Vec<Piece> {
    with_rules(old, new, |o, n, pairs, hook| {
        let universe = hook_universe(hook);
        let all = Budget::UNLIMITED;
        let candidates = align::candidates(o, n, pairs, &universe, all, &mut 0, 0).unwrap();
        let mut pieces = Vec::new();
        super::decide(&candidates, (o, n), pairs, all, &mut 0, |p| pieces.push(p)).unwrap();
        pieces
    })
}

/// Whether two regions hold the same packets.
fn same_packets(a: &Region, b: &Region) -> bool {
    let empty = |x: &Region, y: &Region| x.subtract(y, 1 << 20, &mut 0).unwrap().is_empty();
    empty(a, b) && empty(b, a)
}

/// The changes keyed by their deciders, each group's region.
fn keyed(changes: &[Change]) -> Vec<((Decider, Decider), &Region)> {
    let mut v: Vec<_> = changes
        .iter()
        .map(|c| ((c.before.decider, c.after.decider), &c.region))
        .collect();
    v.sort_by_key(|(k, _)| *k);
    v
}

fn assert_same(what: &str, got: &[Change], want: &[Change], old: &str, new: &str) {
    let (g, w) = (keyed(got), keyed(want));
    let keys = |v: &[((Decider, Decider), &Region)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
    assert_eq!(keys(&g), keys(&w), "{what}\nOLD:\n{old}\nNEW:\n{new}");
    for ((k, a), (_, b)) in g.iter().zip(&w) {
        assert!(
            same_packets(a, b),
            "{what} {k:?}: {a} vs {b}\nOLD:\n{old}\nNEW:\n{new}"
        );
    }
}

/// Diffs the two files and checks the answer against the reference.
fn checked(old: &str, new: &str) -> SemDiff {
    let (mo, mn) = (module(old), module(new));
    let d = diff(&mo, &mn);
    let (verdicts, moved) = reference(&mo, &mn);
    let (gv, gm) = d
        .blocks
        .first()
        .map_or((&[][..], &[][..]), |b| (&b.verdicts[..], &b.moved[..]));
    assert!(d.blocks.iter().all(|b| b.cut_short.is_none()));
    assert_same("verdicts", gv, &verdicts, old, new);
    assert_same("moved", gm, &moved, old, new);
    d
}

fn block<S: AsRef<str>>(rules: &[S], default: &str) -> String {
    let rules: Vec<&str> = rules.iter().map(AsRef::as_ref).collect();
    format!(
        "xdp on eth0 {{\n {}\n default {default}\n}}\n",
        rules.join("\n ")
    )
}

#[test]
fn an_edit_behind_a_common_rule_changes_nothing() {
    let common = "drop from 10.0.0.0/8";
    let d = checked(
        &block(&[common, "allow tcp from 10.1.0.0/16", "allow udp"], "drop"),
        &block(&[common, "drop tcp from 10.1.0.0/16", "allow udp"], "drop"),
    );
    assert!(!d.changes_verdicts() && d.counting_changes() == 0, "{d:?}");
}

#[test]
fn deleting_the_common_rule_reveals_the_edit_behind_it() {
    let d = checked(
        &block(
            &["drop from 10.0.0.0/8", "allow tcp from 10.1.0.0/16"],
            "drop",
        ),
        &block(&["allow tcp from 10.1.0.0/16"], "drop"),
    );
    assert_eq!(d.verdict_regions(), 1, "{d:?}");
    let c = &d.blocks[0].verdicts[0];
    assert_eq!(c.region.boxes().len(), 1);
    assert_eq!(
        super::super::describe_box(&c.region.boxes()[0]),
        "IPv4 tcp from 10.1.0.0/16"
    );
}

#[test]
fn an_edit_half_behind_a_common_rule_changes_the_other_half() {
    let d = checked(
        &block(&["drop tcp to *:0-99", "allow tcp to *:50-150"], "drop"),
        &block(&["drop tcp to *:0-99", "drop tcp to *:50-150"], "drop"),
    );
    assert_eq!(d.verdict_regions(), 1, "{d:?}");
    let b = &d.blocks[0].verdicts[0].region.boxes()[0];
    assert!(
        super::super::describe_box(b).ends_with("dport 100-150"),
        "{b}"
    );
}

#[test]
fn a_broad_rule_after_many_narrow_ones_takes_one_piece() {
    // Deleting `allow tcp from 10.0.0.0/8` sends its packets on to the rules after
    // it: the narrow ones, each one address and port 80, then `drop tcp to *:22`.
    // Each narrow rule leaves a slab (its address, any port but 80) that the broad
    // rule meets: forty pieces when the slabs wait apart; joined (they agree off the
    // address), one. The region reported is one box either way (the output joins).
    let narrow: Vec<String> = (1..=40)
        .map(|i| format!("allow tcp to 192.0.2.{i}:80"))
        .collect();
    let deleted = "allow tcp from 10.0.0.0/8".to_string();
    let broad = "drop tcp to *:22".to_string();
    let old: Vec<String> = [deleted]
        .iter()
        .chain(&narrow)
        .chain([&broad])
        .cloned()
        .collect();
    let new: Vec<String> = narrow.iter().chain([&broad]).cloned().collect();
    let (old, new) = (block(&old, "allow"), block(&new, "allow"));
    let d = checked(&old, &new);
    // (Every other packet of the deleted rule is allowed after it too.)
    let [to_broad] = &d.blocks[0].verdicts[..] else {
        panic!("one region: {:?}", d.blocks[0].verdicts);
    };
    assert_eq!(to_broad.after.outcome, super::super::Outcome::Drop);
    assert_eq!(to_broad.region.boxes().len(), 1, "{}", to_broad.region);
    // The walk itself gives it in two pieces (the joined slabs, and the part outside
    // every narrow rule), not forty-one that the output then joins.
    let pieces = walk_pieces(&module(&old), &module(&new));
    let broad = pieces.iter().filter(|p| p.2 == Decider::Rule(40));
    assert_eq!(broad.count(), 2);
}

#[test]
fn reorders_change_only_where_the_rules_overlap() {
    let (a, b, c) = (
        "allow tcp to *:0-99",
        "drop tcp from 10.0.0.0/8",
        "allow udp",
    );
    let d = checked(&block(&[a, b, c], "drop"), &block(&[b, a, c], "drop"));
    assert_eq!(d.verdict_regions(), 1, "{d:?}");
    let d = checked(&block(&[a, c, b], "drop"), &block(&[c, a, b], "drop"));
    assert!(!d.changes_verdicts(), "{d:?}");
    let d = checked(&block(&[c, a, b], "allow"), &block(&[b, a, c], "drop"));
    assert!(d.changes_verdicts(), "{d:?}");
}

/// A small random rule: few enough addresses and ports that rules overlap often.
fn random_rule(rng: &mut Rng) -> String {
    let action = ["allow", "drop"][rng.below(2)];
    let proto = ["tcp ", "udp ", ""][rng.below(3)];
    let from = match rng.below(4) {
        0 => String::new(),
        1 => "from 10.0.0.0/8 ".into(),
        2 => format!("from 10.{}.0.0/16 ", rng.below(3)),
        _ => format!("from 10.{}.0.0/15 ", 2 * rng.below(2)),
    };
    let to = if proto.is_empty() || rng.below(3) == 0 {
        String::new()
    } else {
        let lo = 10 * rng.below(5);
        format!("to *:{lo}-{} ", lo + 5 + 10 * rng.below(3))
    };
    format!("{action} {proto}{from}{to}").trim_end().to_string()
}

/// `rules` with one random edit: deleted, swapped, flipped, copied or a new rule.
fn random_edit(rules: &mut Vec<String>, rng: &mut Rng) {
    let i = rng.below(rules.len());
    match rng.below(5) {
        0 => {
            rules.remove(i);
        }
        1 if i + 1 < rules.len() => rules.swap(i, i + 1),
        2 => {
            rules[i] = match rules[i].strip_prefix("allow") {
                Some(rest) => format!("drop{rest}"),
                None => rules[i].replacen("drop", "allow", 1),
            }
        }
        3 => {
            let copy = rules[i].clone();
            rules.insert(rng.below(rules.len() + 1), copy);
        }
        _ => rules.insert(i, random_rule(rng)),
    }
}

#[test]
fn random_edits_give_the_reference_regions() {
    let cases: u64 = std::env::var("SOCKC_SEMDIFF_CASES")
        .ok()
        .map_or(300, |v| v.parse().expect("SOCKC_SEMDIFF_CASES is a number"));
    let mut changed = 0;
    for seed in 0..cases {
        let mut rng = Rng::seeded(seed);
        let old: Vec<String> = (0..2 + rng.below(10))
            .map(|_| random_rule(&mut rng))
            .collect();
        let mut new = old.clone();
        for _ in 0..1 + rng.below(3) {
            if !new.is_empty() {
                random_edit(&mut new, &mut rng);
            }
        }
        if new.is_empty() {
            new.push(random_rule(&mut rng));
        }
        let default = |flip: bool| if flip { "allow" } else { "drop" };
        let (od, nd) = (rng.below(2) == 0, rng.below(8) == 0);
        let d = checked(&block(&old, default(od)), &block(&new, default(od != nd)));
        changed += usize::from(d.changes_verdicts());
    }
    assert!(
        changed as u64 * 4 > cases,
        "only {changed} of {cases} pairs change"
    );
}

/// The first `n` filters of a vendored ClassBench set, as a block that alternates
/// allow and drop.
fn classbench(set: &str, n: usize) -> String {
    use sockc_testkit::{classbench as cb, classbench_data as data};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/classbench");
    let text = data::read(&dir, &data::file_name(set, 1000, "")).unwrap();
    let filters = cb::parse_filters(&text).unwrap();
    let options = cb::ConvertOptions {
        hook: "xdp on eth0".into(),
        policy: cb::ActionPolicy::Alternate,
        default: "drop",
    };
    cb::to_sk(&filters[..n.min(filters.len())], &options)
}

/// Two unrelated files (ClassBench's acl1 and fw1, nearly no rule in common): a small
/// pair is compared to the end, exactly; at a thousand rules each the comparison
/// stops at its budget of work (a count, so the same on every run), says so, counts a
/// change (it took minutes of a release build before it had one) and lists the
/// changes it found before it stopped, the same ones on every run.
#[test]
fn unrelated_files_are_compared_exactly_or_cut_at_the_budget() {
    let (small_old, small_new) = (classbench("acl1", 25), classbench("fw1", 25));
    let d = checked(&small_old, &small_new);
    assert!(d.changes_verdicts());
    let budget = Budget::DEFAULT;
    let (old, new) = (
        module(&classbench("acl1", 1000)),
        module(&classbench("fw1", 1000)),
    );
    let run = || diff(&old, &new);
    let d = run();
    let b = &d.blocks[0];
    let Some(NotCompared::Work(w)) = b.cut_short else {
        panic!("{:?}", b.cut_short)
    };
    assert!(d.changes_verdicts() && d.stopped() && w.max == budget.work);
    assert!(w.changed[0] > 900 && w.changed[1] > 700, "{w:?}");
    // The work stops within one step of the budget and the listing's share of it.
    let most = budget.work + budget.listing;
    assert!(
        b.work > budget.work && b.work < most + budget.work / 20,
        "{}",
        b.work
    );
    // What it decided before it stopped is listed.
    assert!(b.verdicts.len() >= 20, "{}", b.verdicts.len());
    let again = run();
    let listed = |d: &SemDiff| {
        d.blocks[0]
            .verdicts
            .iter()
            .map(|c| c.example)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (again.blocks[0].work, again.blocks[0].cut_short),
        (b.work, b.cut_short)
    );
    assert_eq!(listed(&again), listed(&d));
}

/// A comparison cut short lists what it decided, and only that: at budgets that stop
/// it while it makes the candidate region (the part made then walked within the
/// budget's listing work) and while it walks, it says why it stopped and lists
/// changes, each a part of the reference's region of the same two deciders (verdict
/// changes and counter moves), its example inside it.
#[test]
fn a_comparison_cut_short_lists_only_true_changes() {
    let (old, new) = (
        module(&classbench("acl1", 40)),
        module(&classbench("fw1", 40)),
    );
    let (verdicts, moved) = reference(&old, &new);
    let union_work = with_rules(&old, &new, |o, n, pairs, hook| {
        let (universe, mut work) = (hook_universe(hook), 0);
        align::candidates(o, n, pairs, &universe, Budget::UNLIMITED, &mut work, 0).unwrap();
        work
    });
    let whole = diff_within(&old, &new, Budget::UNLIMITED).blocks[0].work;
    assert!(
        union_work > 100 && whole > 2 * union_work,
        "{union_work} {whole}"
    );
    let within = |got: &[Change], want: &[Change]| {
        for c in got {
            let key = (c.before.decider, c.after.decider);
            let w = want
                .iter()
                .find(|w| (w.before.decider, w.after.decider) == key);
            let w = w.unwrap_or_else(|| panic!("{key:?} is no change of the reference"));
            let inside = w.region.covers(&c.region, 1 << 20, &mut 0);
            assert!(inside.unwrap(), "{key:?}");
            assert!(c.region.contains(&c.example), "{key:?}");
        }
    };
    let in_union = Budget {
        boxes: MAX_BOXES,
        work: union_work / 2,
        listing: u64::MAX / 2,
    };
    let in_walk = |work| Budget {
        boxes: MAX_BOXES,
        work,
        listing: 0,
    };
    for budget in [in_union, in_walk(whole * 9 / 10), in_walk(whole * 19 / 20)] {
        let d = diff_within(&old, &new, budget);
        let b = &d.blocks[0];
        assert!(
            matches!(b.cut_short, Some(NotCompared::Work(_))),
            "{budget:?}"
        );
        assert!(!b.verdicts.is_empty(), "{budget:?}: nothing listed");
        assert!(b.verdicts.len() < verdicts.len(), "{budget:?}");
        within(&b.verdicts, &verdicts);
        within(&b.moved, &moved);
    }
}

/// A broad `drop` put on top of narrow rules changes every `allow` under it (and the
/// default), and every `allow` of disjoint rules made `drop` changes its own region:
/// thousands of regions at once, which a pairwise union and walk paid the square of.
/// Exact against the reference at a few hundred rules (the walk's halves and its
/// index of steps at work); then complete at two sizes with the work growing about
/// as the rules do (it was cut at the budget at 5,000 and 20,000 rules).
#[test]
fn changes_that_move_thousands_of_regions_are_exact_and_cost_about_their_size() {
    use sockc_testkit::mass_change::{disjoint_v6, narrow_rules};
    let d = checked(&narrow_rules(600, false), &narrow_rules(600, true));
    assert_eq!(d.verdict_regions(), 301);
    let d = checked(&disjoint_v6(600, false), &disjoint_v6(600, true));
    assert_eq!(d.verdict_regions(), 300);
    let work = |old: String, new: String, regions: usize| {
        let d = diff(&module(&old), &module(&new));
        let b = &d.blocks[0];
        assert_eq!((b.cut_short, d.verdict_regions()), (None, regions));
        b.work
    };
    let broad = |n| work(narrow_rules(n, false), narrow_rules(n, true), n / 2 + 1);
    let flipped = |n| work(disjoint_v6(n, false), disjoint_v6(n, true), n / 2);
    let (b1, b2) = (broad(2000), broad(4000));
    let (f1, f2) = (flipped(2000), flipped(4000));
    eprintln!("broad on top: {b1} {b2}; flipped: {f1} {f2}");
    assert!(b2 < 3 * b1 && f2 < 3 * f1, "{b1} {b2}; {f1} {f2}");
    assert!(b2.max(f2) < super::super::MAX_WORK / 20, "{b2} {f2}");
}
