//! The classify pass on its own: map and entry budgets, counting runs, and a
//! build-time probe.

use super::*;
use crate::ir::classifier::{Child, KeyByte};

/// Classifiers stop at the verifier's per-program map limit: a program with many
/// runs keeps its maps (counters, sets, the table-half index, one per classifier)
/// within [`MAX_PROGRAM_MAPS`], and the runs past the budget stay linear.
#[test]
fn classifiers_stay_within_the_map_limit() {
    let steps = classified(&many_runs(false));
    let classifiers: Vec<&Classifier> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Classify(c) => Some(c),
            _ => None,
        })
        .collect();
    assert!(!classifiers.is_empty());
    assert!(
        1 + 2 + 1 + classifiers.len() <= MAX_PROGRAM_MAPS,
        "{} classifiers",
        classifiers.len()
    );
    // The budget ran out: some runs of 49 classifiable rules stayed linear.
    let linear = steps
        .iter()
        .map(|s| match s {
            Step::Linear { rules, .. } => rules.len(),
            Step::Classify(_) => 0,
        })
        .sum::<usize>();
    assert!(linear > 70 * 2 + 49, "only {linear} linear rules");
    assert!(classifiers.len() < 70);
}

/// 70 groups of 49 classifiable rules between rules that stay linear (each group a
/// classifier of its own), the last one with `log` if `log`.
fn many_runs(log: bool) -> String {
    let mut src = String::from("set s = { 192.0.2.0/24, 2001:db8:99::/48 }\nxdp on eth0 {\n");
    for g in 0..70 {
        src.push_str("    drop tcp from @s\n");
        for i in 0..16 {
            src.push_str(&format!(
                "    allow tcp from {g}.{i}.0.0/16 to 10.{i}.0.0/16:{}\n",
                1000 + i
            ));
            src.push_str(
                &format!("    drop udp to 10.{i}.0.0/8:{}\n", 2000 + i)
                    .replace(&format!("10.{i}.0.0/8"), "10.0.0.0/8"),
            );
            src.push_str(&format!(
                "    drop ip6 udp from 2001:db8:{g}:{i}::/64 to [2001:db8::]:{}\n",
                3000 + i
            ));
        }
        src.push_str("    count icmp type 8\n");
    }
    if log {
        src.push_str("    drop udp to *:9 log\n");
    }
    src.push_str("    default allow\n}\n");
    src
}

/// The maps `log` adds (rates, windows, ring buffer) count too: the same program with
/// a logging rule still compiles, its runs past the budget staying linear, instead
/// of being refused for using more than the kernel's 64 maps.
#[test]
fn classifiers_leave_room_for_the_log_maps() {
    let (c, d) = crate::compile(&many_runs(true), &Default::default());
    assert!(
        c.is_some(),
        "{:?}",
        d.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
}

/// Build time and shape on the ClassBench files in `SOCKC_CLASSIFY_FILES`
/// (whitespace-separated .sk paths); prints, asserts only that the tries build.
#[test]
#[ignore = "timing probe; set SOCKC_CLASSIFY_FILES"]
fn probe_build_times() {
    let files = std::env::var("SOCKC_CLASSIFY_FILES").unwrap_or_default();
    for f in files.split_whitespace() {
        let src = std::fs::read_to_string(f).unwrap();
        let (ast, _) = crate::syntax::parse(&src);
        let (module, _) = crate::sema::check(ast, &src, &Default::default());
        let mut module = module.unwrap();
        let t = std::time::Instant::now();
        run(&mut module);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        for (_, p) in &module.programs {
            let cls: Vec<String> = p
                .steps
                .iter()
                .filter_map(|s| match s {
                    Step::Classify(c) => Some(c.to_string()),
                    _ => None,
                })
                .collect();
            let linear = p
                .steps
                .iter()
                .map(|s| match s {
                    Step::Linear { rules, .. } => rules.len(),
                    Step::Classify(_) => 0,
                })
                .sum::<usize>();
            println!(
                "{f}: {ms:.1} ms, {} classifiers, {linear} linear",
                cls.len()
            );
            for c in cls.iter().take(4) {
                println!("  {c}");
            }
        }
    }
}

fn classified(src: &str) -> Vec<Step> {
    let mut module = crate::test_module::module(src);
    run(&mut module);
    module.programs.values().next().unwrap().steps.clone()
}

/// A run of `count` rules no two of which match one packet becomes a counting
/// classifier (one trie per family); two rules that can match one packet, even with
/// different TCP flag tests that can both hold, keep the run linear; flag tests that
/// exclude each other do not.
#[test]
fn count_runs_are_classified_only_when_disjoint() {
    let run = |extra: &str| {
        let mut src = String::from("xdp on eth0 {\n");
        for i in 0..40 {
            src.push_str(&format!("    count tcp from 10.0.{i}.0/24 syn\n"));
        }
        src.push_str(extra);
        src.push_str("    default allow\n}\n");
        classified(&src)
    };
    let disjoint = run("    count tcp from 10.0.1.0/24 ack !syn\n");
    let [Step::Classify(c)] = disjoint.as_slice() else {
        panic!("one counting classifier: {disjoint:?}");
    };
    assert!(c.counts && c.tries.len() == 1, "{c}");
    for meets in [
        "    count tcp from 10.0.1.7 syn\n",
        "    count tcp from 10.0.1.7 ack\n",
        "    count tcp to *:80\n",
    ] {
        let steps = run(meets);
        assert!(
            matches!(steps.as_slice(), [Step::Linear { rules, .. }] if rules.len() == 41),
            "{meets}: {steps:?}"
        );
    }
}

/// Classifiers hold at most [`MAX_PROGRAM_ENTRIES`] entries in all: 1,000 rules that
/// each use one set of 1,024 separate prefixes would expand to 1,024,000 entries (each
/// rule alone is within [`MAX_EXPANSION`]); the rules past the bound stay linear, one
/// set lookup each.
#[test]
fn classifiers_hold_a_bounded_number_of_entries() {
    let prefixes: Vec<String> = (0..1024)
        .map(|i| format!("10.{}.{}.0/24", (2 * i) / 256, (2 * i) % 256))
        .collect();
    let mut src = format!("set s = {{ {} }}\nxdp on eth0 {{\n", prefixes.join(", "));
    for i in 0..1000 {
        src.push_str(&format!("    drop udp from @s to *:{}\n", 1000 + i));
    }
    src.push_str("    default allow\n}\n");
    let (mut entries, mut in_classifiers, mut linear) = (0, 0, 0);
    for s in &classified(&src) {
        match s {
            Step::Classify(c) => {
                entries += c.tries.iter().map(|t| t.entries.len()).sum::<usize>();
                in_classifiers += c.rules.len();
            }
            Step::Linear { rules, .. } => linear += rules.len(),
        }
    }
    assert!(entries <= MAX_PROGRAM_ENTRIES, "{entries} entries");
    assert_eq!(
        in_classifiers,
        MAX_PROGRAM_ENTRIES / 1024,
        "rules classified"
    );
    assert_eq!(linear, 1000 - in_classifiers, "the rest stay linear");
}

/// The entries of the first program of `src`, all its rules, of family `f`.
fn entries_of(src: &str, f: Family) -> Vec<Entry> {
    let module = crate::test_module::module(src);
    let prog = module.programs.values().next().unwrap();
    entries::entries(&module.sets, prog, 0..prog.rules.len(), f)
}

/// A run's entries made and dealt into the groups in two halves
/// ([`entries::dealt_in_halves`], its span taken from the rules) and a whole list
/// dealt ([`entries::deal`]) are what the whole list made at once and dealt by
/// [`entries::group_of`] under its [`entries::addr_span`] gives: the same span and
/// the same lists in the same order, wherever the halves part, on the ClassBench 1k
/// files and on rules with sets, port lists, both families, prefixes of the other
/// family and sets of both families beside an address of one.
#[test]
fn entries_made_in_halves_deal_as_the_whole_list() {
    let mixed = "set s = { 192.0.2.0/24, 198.51.0.0/16, 2001:db8:99::/48, 2001:db8:1::/64 }\n\
         set web = { 80, 443, 1000-2000 }\n\
         xdp on eth0 {\n\
         drop from @s to 10.0.0.0/8:@web\n\
         drop ip4 tcp from 10.1.0.0/16 to @s\n\
         allow from 2001:db8:5::/48 to *:53\n\
         drop ip6 from * to 2001:db8:7700::/40\n\
         drop ip4 from * to *\n\
         allow ip4 from 10.9.9.9:1-9 to 172.16.0.0/12\n\
         drop ip6 udp from 2001:db8::1 to @s\n\
         allow to 192.0.2.7:22\n\
         drop ip6 from fd00::/8 to *\n\
         default drop\n}\n"
        .to_string();
    // Each half's addresses share 48 bits, both halves' only 32.
    let apart = "xdp on eth0 {\n\
         drop ip6 from 2001:db8:aaaa:1::/64 to *\n\
         drop ip6 from 2001:db8:aaaa:2::/64 to *\n\
         drop ip6 from 2001:db8:bbbb:1::/64 to *\n\
         drop ip6 from 2001:db8:bbbb:2::/64 to *\n\
         default drop\n}\n"
        .to_string();
    // The set's IPv6 prefix makes no entry (its rule's other address is IPv4, so the
    // rule is IPv4's): the span from the rules must not count it (it would part the
    // other rules at bit 0).
    let other = "set t = { 192.0.2.0/24, fd00::/8 }\n\
         xdp on eth0 {\n\
         drop from @t to 10.0.0.0/8\n\
         drop ip6 from 2001:db8:1::/48 to *\n\
         drop ip6 from 2001:db8:2::/48 to *\n\
         default drop\n}\n"
        .to_string();
    let sources = [
        mixed,
        apart,
        other,
        classbench_src("acl1"),
        classbench_src("fw1"),
        classbench_src("ipc1"),
    ];
    let mut halved = 0;
    for src in &sources {
        let module = crate::test_module::module(src);
        let prog = module.programs.values().next().unwrap();
        let sets = &module.sets;
        let n = prog.rules.len();
        for f in [Family::V4, Family::V6] {
            for (range, halves_min) in [(0..n, 2), (0..n, n), (1..n, 3), (3..n / 2 + 1, 1)] {
                let all = entries::entries(sets, prog, range.clone(), f);
                let span = entries::addr_span(&all, f);
                let from_rules = entries::rules_span(sets, prog, range.clone(), f);
                assert_eq!(from_rules, span, "{f:?} {range:?}");
                halved += usize::from(range.len() >= halves_min.max(2) && !all.is_empty());
                let dealt = entries::dealt_in_halves(sets, prog, range.clone(), f, halves_min);
                let whole = entries::deal(all.clone(), f, span);
                for (k, g) in [Group::BySrc, Group::ByDst, Group::Wide].iter().enumerate() {
                    let want: Vec<Entry> = all
                        .iter()
                        .filter(|e| entries::group_of(e, f, span) == *g)
                        .cloned()
                        .collect();
                    let want = Entries::of(&want, Dim::of(f).len());
                    assert_eq!(dealt[k], want, "{f:?} {g:?} {range:?}");
                    assert_eq!(whole[k], want, "{f:?} {g:?} {range:?}");
                }
            }
        }
    }
    assert!(halved >= 8, "only {halved} runs made in halves");
}

/// A ClassBench filter set's 1k file converted to a rule file.
fn classbench_src(set: &str) -> String {
    sockc_testkit::classbench::vendored_1k_sk(set, usize::MAX)
}

/// Grouping counts the address bits past those every rule shares: IPv6 rules inside
/// 2001:db8::/32 with prefixes up to /64 group as the IPv4 rules they mirror (a
/// quarter of the 32 bits they tell apart: /40 is specific, /39 wide), while rules
/// that share no prefix, up to a /128, keep a quarter of the whole address (/24 is
/// wide).
#[test]
fn groups_count_the_bits_past_a_shared_prefix() {
    let mirrored = "xdp on eth0 {\n\
         drop ip6 from 2001:db8:ab00::/40 to *\n\
         drop ip6 from * to 2001:db8:aa00::/39\n\
         drop ip6 from 2001:db8:1102:304::/64 to 2001:db8:a000::/36\n\
         default allow\n}\n";
    let es = entries_of(mirrored, Family::V6);
    let span = entries::addr_span(&es, Family::V6);
    let groups: Vec<Group> = es
        .iter()
        .map(|e| entries::group_of(e, Family::V6, span))
        .collect();
    assert_eq!(groups, [Group::BySrc, Group::Wide, Group::BySrc]);
    let v4 = "xdp on eth0 {\n\
         drop ip4 from 171.0.0.0/8 to *\n\
         drop ip4 from * to 170.0.0.0/7\n\
         drop ip4 from 17.2.3.4/32 to 160.0.0.0/4\n\
         default allow\n}\n";
    let es4 = entries_of(v4, Family::V4);
    let span4 = entries::addr_span(&es4, Family::V4);
    let groups4: Vec<Group> = es4
        .iter()
        .map(|e| entries::group_of(e, Family::V4, span4))
        .collect();
    assert_eq!(groups4, groups, "the IPv4 rules they mirror");
    let apart = "xdp on eth0 {\n\
         drop ip6 from 2001:db8::/40 to *\n\
         drop ip6 from fd00::/24 to *\n\
         drop ip6 from fe80::/32 to *\n\
         drop ip6 from 2001:db8::1 to *\n\
         default allow\n}\n";
    let es = entries_of(apart, Family::V6);
    let span = entries::addr_span(&es, Family::V6);
    let groups: Vec<Group> = es
        .iter()
        .map(|e| entries::group_of(e, Family::V6, span))
        .collect();
    assert_eq!(
        groups,
        [Group::BySrc, Group::Wide, Group::BySrc, Group::BySrc]
    );
}

/// Rules that reject take part in a run like `allow` and `drop` (issue 50: 10k rules
/// that reject were linear, 847x slower per late packet than the same rules with
/// `drop`), whatever their `with`, and the classifier's records are theirs.
#[test]
fn reject_rules_are_classified() {
    let withs = [
        "",
        " with icmp admin-prohibited",
        " with icmp host-unreachable",
        " with icmp net-unreachable",
        " with icmp port-unreachable",
    ];
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..40 {
        src.push_str(&format!(
            "    reject udp from 10.{i}.0.0/16 to *:53{}\n",
            withs[i % withs.len()]
        ));
    }
    src.push_str("    reject tcp to *:25 with tcp-reset\n    default allow\n}\n");
    let steps = classified(&src);
    assert!(
        matches!(steps.as_slice(), [Step::Classify(c)] if c.rules == (0..41)),
        "{steps:?}"
    );
}

/// A trie built in halves (the root's second half of children by a builder of its
/// own on a thread beside, its nodes and leaves taken in after) is the trie built
/// whole, ids and all; a budget too small for it fails the same way. The rules make
/// both halves build some subtrees alike (34 nodes and more leaves are found again
/// when taken in: a merge that gave them new ids fails here).
#[test]
fn a_trie_built_in_halves_is_the_trie_built_whole() {
    let es = entries_of(&halves_source(3000), Family::V4);
    let build = |budget: usize, halves_min: usize| {
        build::build_trie_halving(
            Family::V4,
            Group::BySrc,
            Entries::of(&es, 5),
            build::Mode::First,
            budget,
            halves_min,
        )
    };
    // Wide clusters copy more than a run's bound allows: the build's work is not
    // what is tested here.
    let budget = usize::MAX / 2;
    let (whole, halved) = build(budget, usize::MAX).expect("builds");
    assert!(!halved);
    let (halves, halved) = build(budget, 64).expect("builds in halves");
    assert!(halved, "the root list is long enough to be built in halves");
    assert!(whole.nodes.len() > 100, "{} nodes", whole.nodes.len());
    assert_eq!(halves, whole);
    assert_eq!(build(5000, 64).err(), Some(BuildError::TooLarge));
    assert_eq!(build(5000, usize::MAX).err(), Some(BuildError::TooLarge));
}

/// A short run's one trie (nothing built beside it) is built in halves from
/// [`build::ALONE_HALVES_MIN`] entries, and is the trie built whole; a shorter one is
/// built whole.
#[test]
fn a_short_runs_one_trie_is_built_in_halves() {
    let es = entries_of(&narrow_source(700), Family::V4);
    assert!(
        (build::ALONE_HALVES_MIN..=SMALL_RUN).contains(&es.len()),
        "{}",
        es.len()
    );
    let (t, halved) = one_trie(Family::V4, &es).expect("builds");
    assert!(
        halved,
        "a short run's trie of {} entries was built whole",
        es.len()
    );
    let budget = SMALL_WORK * es.len() + (1 << 16);
    let whole = build::build_trie(
        Family::V4,
        Group::All,
        Entries::of(&es, 5),
        build::Mode::First,
        budget,
    );
    assert_eq!(Ok(t), whole);
    let few = &es[..build::ALONE_HALVES_MIN / 2];
    let (_, halved) = one_trie(Family::V4, few).expect("builds");
    assert!(
        !halved,
        "a trie of {} entries was built in halves",
        few.len()
    );
}

/// On a thread that keeps its work beside to itself (`beside::keep_to_this_thread`, a
/// small apply), a short run's one trie is built whole, not in halves one after the
/// other, and is the trie built in halves elsewhere, ids and all.
#[test]
fn a_thread_that_keeps_to_itself_builds_the_one_trie_whole() {
    let es = entries_of(&narrow_source(700), Family::V4);
    let (halves, halved) = one_trie(Family::V4, &es).expect("builds");
    assert!(halved);
    let (whole, halved) = std::thread::scope(|s| {
        s.spawn(|| {
            crate::beside::keep_to_this_thread();
            one_trie(Family::V4, &es).expect("builds")
        })
        .join()
        .unwrap()
    });
    assert!(!halved, "built in halves on a thread that keeps to itself");
    assert_eq!(whole, halves);
}

/// `n` narrow rules (sources and destinations of /24 or longer, one port each) from a
/// fixed xorshift sequence: a short run whose one trie stays within its work bound.
fn narrow_source(n: usize) -> String {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let [a, b, c, d, e, f, g, h] = x.to_be_bytes();
        let verdict = if i % 2 == 0 { "allow" } else { "drop" };
        let (slen, dlen) = ([24, 32][(h % 2) as usize], [24, 28, 32][(g % 3) as usize]);
        src.push_str(&format!(
            "    {verdict} ip4 tcp from {a}.{b}.{c}.0/{slen} to 10.{d}.{e}.0/{dlen}:{}\n",
            1 + u16::from_be_bytes([f, g]) % 60_000
        ));
    }
    src.push_str("    default allow\n}\n");
    src
}

/// `n` rules of source and destination prefixes of every length class (/2 to /32,
/// some sources wide, so that subtrees repeat under the root's byte values) and
/// port ranges, from a fixed xorshift sequence.
fn halves_source(n: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let prefix = |r: u64, len: u32| {
        let a = (r as u32) & (u32::MAX << (32 - len));
        let [p, q, s, t] = a.to_be_bytes();
        format!("{p}.{q}.{s}.{t}/{len}")
    };
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..n {
        let (r, s) = (next(), next());
        // One rule in eight has a wide source: it is in every group of the root's
        // source byte, and the regions where only such rules are left are alike in
        // both halves (the subtrees the second half builds again).
        let slen = [2, 8, 16, 24, 32, 32, 32, 24][(s % 8) as usize];
        let dlen = [16, 24, 32][((s >> 8) % 3) as usize];
        let lo = (s >> 16) % 2000;
        let hi = lo + (s >> 32) % 100;
        let verdict = if i % 2 == 0 { "allow" } else { "drop" };
        let (from, to) = match i % 16 {
            // Clusters wide in one address and alike in the other: whichever byte
            // the root reads, one cluster is in all of its groups with the same
            // subtree (nodes, not only leaves, that both halves build).
            0 => ("*".to_string(), format!("203.0.113.{}", (i / 16) % 256)),
            1 => (format!("198.51.100.{}", (i / 16) % 256), "*".to_string()),
            _ => (prefix(r, slen), prefix(r >> 32, dlen)),
        };
        src.push_str(&format!(
            "    {verdict} ip4 tcp from {from} to {to}:{lo}-{hi}\n"
        ));
    }
    src.push_str("    default allow\n}\n");
    src
}

/// A packet of a trie's family as the walk sees it: each dimension's value, the TCP
/// flags, whether the L4 header is complete.
struct Packet {
    values: Vec<u32>,
    flags: u8,
    l4: bool,
}

fn entry_matches(e: &Entry, p: &Packet) -> bool {
    let (mask, value) = e.tcp_flags;
    (0..p.values.len()).all(|d| e.lo[d] <= p.values[d] && p.values[d] <= e.hi[d])
        && p.flags & mask == value
        && (p.l4 || !e.needs_l4)
}

/// The entry a walk of `t` finds for `p` (as `bpf::classify`'s walk does): down the
/// nodes by the key bytes they read, then the leaf's first entry that matches.
fn walk(t: &Trie, p: &Packet) -> Option<usize> {
    let mut at = t.root;
    loop {
        match at {
            Child::Empty => return None,
            Child::Leaf(l) => {
                let leaf = t.leaves.get(l as usize);
                let first = leaf
                    .iter()
                    .find(|&&i| entry_matches(&t.entries.get(i as usize), p));
                return first.map(|&i| i as usize);
            }
            Child::Node(n) => {
                let node = &t.nodes[n as usize];
                let byte = match node.byte {
                    KeyByte::Dim { dim, shift } => (p.values[dim as usize] >> shift) as u8,
                    KeyByte::Flags => p.flags,
                    KeyByte::L4 => u8::from(p.l4),
                };
                at = node
                    .runs
                    .iter()
                    .find(|r| r.0 >= byte)
                    .expect("runs end at 255")
                    .1;
            }
        }
    }
}

/// A trie finds, for every packet, the first of its entries that matches it (what the
/// walk relies on; a memo key that let two regions of different subtrees share one,
/// or a wrong cut after a deciding entry, fails here). Packets at and next to the
/// entries' bounds and random ones, for the ClassBench 1k file and for rules with
/// wide clusters and port ranges, each built whole and in halves.
#[test]
fn a_trie_finds_the_first_entry_that_matches() {
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let sources = [classbench_src("acl1"), halves_source(1500)];
    for src in &sources {
        let es = entries_of(src, Family::V4);
        let dims = crate::ir::classifier::Dim::of(Family::V4);
        for halves_min in [usize::MAX, 64] {
            let t = first_trie(&es, halves_min);
            for k in 0..20_000 {
                let e = &es[(next() as usize) % es.len()];
                let values = (0..dims.len())
                    .map(|d| {
                        let r = next();
                        let v = match r % 5 {
                            0 => e.lo[d],
                            1 => e.hi[d],
                            2 => e.lo[d].wrapping_sub(1),
                            3 => e.hi[d].wrapping_add(1),
                            _ => e.lo[d].wrapping_add((r >> 8) as u32 % (e.hi[d] - e.lo[d]).max(1)),
                        };
                        v.min(dims[d].max())
                    })
                    .collect();
                let p = Packet {
                    values,
                    flags: next() as u8,
                    l4: k % 7 != 0,
                };
                let first = es.iter().position(|e| entry_matches(e, &p));
                assert_eq!(walk(&t, &p), first, "packet {k}: {:?}", p.values);
            }
        }
    }
}

/// The V4 trie of `es` for the first match, in halves from `halves_min` entries.
fn first_trie(es: &[Entry], halves_min: usize) -> crate::ir::classifier::Trie {
    let (mode, budget) = (build::Mode::First, usize::MAX / 2);
    let table = Entries::of(es, 5);
    build::build_trie_halving(Family::V4, Group::All, table, mode, budget, halves_min)
        .expect("builds")
        .0
}

/// Two regions with the same entries whose ranges differ only where the region is
/// partly read build different subtrees: port ranges that cross the high bytes 3, 4
/// and 5, each later one wider at both ends (none hidden behind an earlier one), so
/// the regions of high byte 3 and 5 hold the same five entries, cut at different low
/// bytes. A memo key without the partial ranges (the regions' keys then alike) gives
/// the second the first one's subtree, and the walk finds the wrong rule.
#[test]
fn regions_alike_but_in_their_partial_ranges_build_their_own_subtrees() {
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..5u32 {
        let (lo, hi) = (0x300 + 10 * (4 - i), 0x505 + 10 * i);
        src.push_str(&format!("    drop ip4 tcp from * to *:{lo}-{hi}\n"));
    }
    src.push_str("    default allow\n}\n");
    let es = entries_of(&src, Family::V4);
    let t = first_trie(&es, usize::MAX);
    for dport in 0..0x700 {
        let p = Packet {
            values: vec![0x0a00_0001, 0x0a00_0002, 40_000, dport, 6],
            flags: 0,
            l4: true,
        };
        let first = es.iter().position(|e| entry_matches(e, &p));
        assert_eq!(walk(&t, &p), first, "port {dport:#x}");
    }
}

/// The classifier tables of the ClassBench 1k sets (every trie's nodes, leaves and
/// entries, as the maps hold them) are what they were before the builder was made
/// faster (h65-classify: one pass per region for every dimension, buffers kept,
/// hashes kept; the objects of acl1, fw1 and ipc1 at 1k, 10k and 100k were compared
/// byte for byte with main's). A change of the trie the builder makes — which byte a
/// region reads, which entries a leaf keeps, the ids — fails here.
#[test]
fn the_classbench_tables_stay_as_they_were() {
    use sha2::Digest;
    let wanted = [
        (
            "acl1",
            "3ef8c5b010c32a6a18ed1bf049bc2529d6d0c4efbab4f960020a9e37bf1116e7",
        ),
        (
            "fw1",
            "868230cfea87b773c70d75cfa56fcd2339a16083f0e2a3d2df4787d56e1202d5",
        ),
        (
            "ipc1",
            "d097892015afd287395c0d35b516eaee4c116ba7aad7d0ba5ffec6908dfb1b99",
        ),
    ];
    for (set, want) in wanted {
        let src = classbench_src(set);
        let (compiled, d) = crate::compile(&src, &Default::default());
        let compiled = compiled.unwrap_or_else(|| panic!("{d:?}"));
        assert!(!compiled.tables.is_empty(), "{set}: no classifier");
        let digest = sha2::Sha256::digest(&compiled.tables);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want, "{set}");
    }
}

/// Review h65: a compile on a thread that keeps its work to itself (a small file's
/// `apply`: `beside::keep_to_this_thread`, every trie built whole and every piece
/// of work beside run in turn) writes the object a compile elsewhere writes, byte for
/// byte, for the ClassBench 1k sets (one trie each, built in halves elsewhere) and
/// the 1k sets of narrow rules.
#[test]
fn a_compile_that_keeps_to_itself_writes_the_same_object() {
    let sources: Vec<String> = ["acl1", "fw1", "ipc1"]
        .iter()
        .map(|s| classbench_src(s))
        .chain([narrow_source(700), narrow_source(1_500)])
        .collect();
    let object = |src: &String| {
        let (c, d) = crate::compile(src, &Default::default());
        c.unwrap_or_else(|| panic!("{d:?}")).to_elf().unwrap()
    };
    for src in &sources {
        let alone = std::thread::scope(|s| {
            s.spawn(|| {
                crate::beside::keep_to_this_thread();
                object(src)
            })
            .join()
            .unwrap()
        });
        assert!(alone == object(src), "{}", &src[..src.len().min(200)]);
    }
}
