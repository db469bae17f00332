//! Differential test: the compiled programs, run in the kernel, against the reference
//! evaluator (`sockc_testkit::eval`), on random rule sets and random packets.
//!
//! Proptest draws rule sets as structured values that print as sockc source, so the
//! parser, sema and lowering are all on the path and a failure shrinks to a small rule
//! file. For each set it draws packets biased toward the set's boundaries (prefix
//! edges, port-range ends, flag combinations around each rule's mask, ICMP type and
//! code ±1, the rules' protocols) and malformed variants (truncation at and around
//! every header boundary, VLAN and 802.1ad tags, IPv4 options, fragments, foreign
//! EtherTypes, a damaged version/IHL byte). Every packet runs once through every
//! program of the set with `BPF_PROG_TEST_RUN`, compiled at `-O2` and again at `-O0`
//! (the baseline lowering): the return code must be the
//! evaluator's, the evaluator's counter slots must gain exactly one packet and the
//! frame length in bytes, and no other slot may move. Any difference fails with the
//! rule text, the packet, both results and the seed.
//!
//! `kernel_agrees_with_the_evaluator` draws small sets (up to 12 rules a block), which
//! `-O2` lowers rule by rule (some with long port lists, tested by bitmap).
//! `classifier_agrees_with_the_evaluator` draws sets that `-O2` turns into byte-cut
//! tries (`opt::classify`: runs of 32 or more `allow`/`drop`/`reject` rules without
//! ICMP type or code; a reject's answer is checked in the frame the program leaves:
//! reset, or ICMP/ICMPv6 unreachable with the rule's code): each block has one run of 32 to 240 such rules between shorter
//! segments (one block in nine has a run of over 2,000 rules instead, which gets a
//! trie per address group), most segments ended by a `count` rule or an ICMP type
//! rule, so a block has several runs and steps. Rules take their prefixes from a per-set pool of
//! prefixes that share their top bits and nest (specific and wide lengths, so entries
//! go to every trie group), their port-range ends and TCP flag tests from small
//! pools, and use address sets (`from @aN`, `to @aN`, mixed families) and port lists
//! (`:@pN`); a rule without an address or family applies to both families. A
//! per-block profile sometimes puts most rules in one family and one trie (large,
//! deep tries), some runs carry 17 to 30 rules that share one box and differ only in
//! their flag test, more than a leaf holds (only a node on the TCP flags byte tells
//! them apart), and some blocks end with 32 to 48 `count` rules on distinct ports (a
//! counting classifier; in one of four a rule is repeated and the run stays linear).
//! The packets are drawn as above, against these pools. The test also requires that
//! `-O2` made a classifier (`Step::Classify`) of every set it draws;
//! `classifier_rule_sets_build_trees` checks without a kernel that the sets reach
//! IPv4 and IPv6 tries, several tries per family, deep tries, shared leaves and
//! nodes, TCP flags and L4 nodes, counting classifiers, and packets decided inside
//! and past a classifier.
//!
//! Knobs: `SOCKC_DIFF_CASES` (rule sets, default 200), `SOCKC_DIFF_PACKETS` (packets
//! per set, default 100), `SOCKC_DIFF_CLASSIFY_CASES` and `SOCKC_DIFF_CLASSIFY_PACKETS`
//! (the same for the classifier test, defaults 64 and 150) and `SOCKC_DIFF_SEED` (the
//! RNG seed of both tests; every run prints the one it used).
//! `SOCKC_DIFF_SEED=<n> cargo test --test differential` replays a run (with the same
//! packet counts); a long run is e.g. `SOCKC_DIFF_CASES=5000` or
//! `SOCKC_DIFF_CLASSIFY_CASES=2000 cargo test --release --test differential
//! classifier_agrees`. A failing case is also saved to
//! `tests/differential/rule_sets.proptest-regressions`, which every later run replays
//! first: commit it with the fix. The kernel tests need root (see `tests/common`);
//! `generated_rule_sets_compile_and_evaluate` and `classifier_rule_sets_build_trees`
//! run everywhere.
//!
//! `sk_lookup_agrees_with_the_evaluator` does the same for sk_lookup blocks and
//! lookups (context-only test runs, the selected socket compared by cookie; see
//! [`sk_lookup`]); one block in three has 32 to 90 rules, which `-O2` classifies
//! (redirects included), and a run of 16 sets or more must have classified some.
//!
//! This file holds the tests; the rest is in modules beside it: [`rules`] (rule sets as
//! values), [`strategies`] (rule set strategies), [`classifier`] (classifier rule
//! sets), [`packets`] (packets and the case strategies), [`compare`] (running and
//! comparing) and [`sk_lookup`] (sk_lookup sets, lookups and their check). The two kernel tests name this file to proptest (`file!()`), which
//! reads the saved cases from `rule_sets.proptest-regressions` next to it: they stay here.

use crate::sk_lookup;

use std::{
    cell::{Cell, RefCell},
    collections::hash_map::RandomState,
    hash::BuildHasher,
    time::Instant,
};

use proptest::test_runner::{
    Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner,
};
use sockc_compiler::opt::OptLevel;

use crate::{
    common::kernel,
    compare::{
        check_in_kernel, check_without_kernel, classifiers, compile_rule_set, numbered, Shapes,
        Tally,
    },
    packets::{case_strategy, classify_case_strategy},
};

const DEFAULT_RULE_SETS: u32 = 200;
/// Rule sets of the cgroup run: its blocks fall to ingress or egress as the generator's
/// hooks and interfaces do (about two fifths of the pairs at ingress): a run of 200 sets
/// once tried 9,800 at ingress, under the 10,000 it must try per hook; 320 sets try
/// about 1.6 times as many.
const DEFAULT_CGROUP_RULE_SETS: u32 = 320;
const DEFAULT_PACKETS_PER_SET: usize = 100;
const DEFAULT_CLASSIFY_SETS: u32 = 64;
const DEFAULT_CLASSIFY_PACKETS: usize = 150;
const DEFAULT_SK_LOOKUP_SETS: u32 = 64;
const DEFAULT_SK_LOOKUP_LOOKUPS: usize = 64;
/// Rules above which the classifier test loads only the `-O2` program.
const LINEAR_KERNEL_MAX: usize = 1000;
/// Where proptest saves failing cases: next to the source file a test names
/// (`file!()`, this one), with this extension:
/// `tests/differential/rule_sets.proptest-regressions`.
const REGRESSIONS: FileFailurePersistence =
    FileFailurePersistence::WithSource("proptest-regressions");

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// Random rule sets × random packets: the kernel's verdicts and counters equal the
/// evaluator's on every pair.
#[test]
fn kernel_agrees_with_the_evaluator() {
    if !kernel() {
        return;
    }
    let rule_sets: u32 = env_number("SOCKC_DIFF_CASES").unwrap_or(DEFAULT_RULE_SETS);
    let packets: usize = env_number("SOCKC_DIFF_PACKETS").unwrap_or(DEFAULT_PACKETS_PER_SET);
    let seed: u64 = env_number("SOCKC_DIFF_SEED")
        .unwrap_or_else(|| RandomState::new().hash_one(Instant::now()));
    let replay = format!(
        "SOCKC_DIFF_SEED={seed} SOCKC_DIFF_CASES={rule_sets} SOCKC_DIFF_PACKETS={packets} \
         cargo test --test differential"
    );
    println!(
        "differential: seed {seed}, {rule_sets} rule sets x {packets} packets (replay: {replay})"
    );
    let config = Config {
        cases: rule_sets,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(REGRESSIONS)),
        source_file: Some(file!()),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let start = Instant::now();
    let result = runner.run(&case_strategy(packets), |(set, recipes)| {
        [OptLevel::O2, OptLevel::O0]
            .into_iter()
            .try_for_each(|level| {
                let (compiled, _) = compile_rule_set(&set.to_string(), level)?;
                check_in_kernel(&set, &compiled, &recipes, &tally, level)
            })
            .map_err(TestCaseError::fail)
    });
    let elapsed = start.elapsed();
    match result {
        Ok(()) => println!(
            "differential: {} in {:.1} s",
            tally.borrow(),
            elapsed.as_secs_f64()
        ),
        // `why` is the shrunk case's message: rules, packet and both answers.
        Err(TestError::Fail(why, _)) => panic!(
            "{why}\n\nseed {seed}; replay: {replay}\n\
             (the case is also saved in tests/differential/rule_sets.proptest-regressions)"
        ),
        Err(TestError::Abort(why)) => panic!("differential run aborted: {why} (seed {seed})"),
    }
}

/// The same as [`kernel_agrees_with_the_evaluator`] with every block a cgroup block
/// (`RuleSet::at_cgroups`): the kernel's test run takes the frame's Ethernet header off
/// as the stack does before these hooks, so a VLAN-tagged frame is no IP packet there,
/// and counters count from the IP header. The default run tries at least 10,000
/// (packet, program) pairs per cgroup hook. Knobs: `SOCKC_DIFF_CGROUP_CASES` (rule
/// sets, default 320), `SOCKC_DIFF_PACKETS`, `SOCKC_DIFF_SEED`.
#[test]
fn cgroup_blocks_agree_with_the_evaluator() {
    if !kernel() {
        return;
    }
    let rule_sets: u32 = env_number("SOCKC_DIFF_CGROUP_CASES").unwrap_or(DEFAULT_CGROUP_RULE_SETS);
    let packets: usize = env_number("SOCKC_DIFF_PACKETS").unwrap_or(DEFAULT_PACKETS_PER_SET);
    let seed: u64 = env_number("SOCKC_DIFF_SEED")
        .unwrap_or_else(|| RandomState::new().hash_one(Instant::now()));
    let replay = format!(
        "SOCKC_DIFF_SEED={seed} SOCKC_DIFF_CGROUP_CASES={rule_sets} SOCKC_DIFF_PACKETS={packets} \
         cargo test --test differential cgroup_blocks"
    );
    println!("differential (cgroup): seed {seed} (replay: {replay})");
    let config = Config {
        cases: rule_sets,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(REGRESSIONS)),
        source_file: Some(file!()),
        ..Config::default()
    };
    let tally = RefCell::new(Tally::default());
    let per_hook = Cell::new([0u64; 2]);
    let result = TestRunner::new(config).run(&case_strategy(packets), |(set, recipes)| {
        let set = set.at_cgroups();
        let mut n = per_hook.get();
        for b in &set.blocks {
            n[usize::from(b.hook == crate::rules::Hook::CgroupEgress)] += recipes.len() as u64;
        }
        per_hook.set(n);
        [OptLevel::O2, OptLevel::O0]
            .into_iter()
            .try_for_each(|level| {
                let (compiled, _) = compile_rule_set(&set.to_string(), level)?;
                check_in_kernel(&set, &compiled, &recipes, &tally, level)
            })
            .map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => println!("differential (cgroup): {}", tally.borrow()),
        Err(TestError::Fail(why, _)) => panic!("{why}\n\nseed {seed}; replay: {replay}"),
        Err(TestError::Abort(why)) => {
            panic!("cgroup differential run aborted: {why} (seed {seed})")
        }
    }
    let [ingress, egress] = per_hook.get();
    println!("differential (cgroup): {ingress} pairs at cgroup ingress, {egress} at cgroup egress");
    if rule_sets >= DEFAULT_CGROUP_RULE_SETS && packets >= DEFAULT_PACKETS_PER_SET {
        assert!(
            ingress >= 10_000 && egress >= 10_000,
            "fewer than 10,000 pairs per cgroup hook: {ingress} ingress, {egress} egress"
        );
    }
}

/// Random sk_lookup blocks × random lookups (see [`sk_lookup`]): at `-O2` and `-O0`
/// the kernel's verdict, selected socket, rule counters and per-socket drop counters
/// equal the evaluator's for every lookup, with a random subset of the declared
/// sockets registered. Knobs: `SOCKC_DIFF_SK_LOOKUP_CASES` (default 64),
/// `SOCKC_DIFF_SK_LOOKUP_LOOKUPS` (per set, default 64), `SOCKC_DIFF_SEED`.
#[test]
fn sk_lookup_agrees_with_the_evaluator() {
    if !kernel() {
        return;
    }
    let sets: u32 = env_number("SOCKC_DIFF_SK_LOOKUP_CASES").unwrap_or(DEFAULT_SK_LOOKUP_SETS);
    let lookups: usize =
        env_number("SOCKC_DIFF_SK_LOOKUP_LOOKUPS").unwrap_or(DEFAULT_SK_LOOKUP_LOOKUPS);
    let seed: u64 = env_number("SOCKC_DIFF_SEED")
        .unwrap_or_else(|| RandomState::new().hash_one(Instant::now()));
    let replay = format!(
        "SOCKC_DIFF_SEED={seed} SOCKC_DIFF_SK_LOOKUP_CASES={sets} \
         SOCKC_DIFF_SK_LOOKUP_LOOKUPS={lookups} cargo test --test differential sk_lookup"
    );
    println!("differential sk_lookup: seed {seed}, {sets} sets x {lookups} lookups");
    let config = Config {
        cases: sets,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(REGRESSIONS)),
        source_file: Some(file!()),
        ..Config::default()
    };
    let stand = sk_lookup::Stand::new();
    let compared = Cell::new(0usize);
    let classified = Cell::new(0usize);
    let mut runner = TestRunner::new(config);
    let strategy = (
        sk_lookup::sk_set(),
        proptest::collection::vec(sk_lookup::lookup(), lookups),
    );
    let start = Instant::now();
    let result = runner.run(&strategy, |(set, ls)| {
        let src = set.to_string();
        [OptLevel::O2, OptLevel::O0]
            .into_iter()
            .try_for_each(|level| {
                let (compiled, _) = compile_rule_set(&src, level)?;
                let classifiers = compiled
                    .module
                    .programs
                    .values()
                    .flat_map(|p| &p.steps)
                    .filter(|s| matches!(s, sockc_compiler::ir::Step::Classify(_)))
                    .count();
                classified.set(classified.get() + classifiers);
                let n = sk_lookup::check(&set, &compiled, &ls, &stand)
                    .map_err(|e| format!("{}\n{e}", numbered(&src)))?;
                compared.set(compared.get() + n);
                Ok::<_, String>(())
            })
            .map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => {
            println!(
                "differential sk_lookup: {} lookups agree in {:.1} s, {} classifiers",
                compared.get(),
                start.elapsed().as_secs_f64(),
                classified.get()
            );
            assert!(
                sets < 16 || classified.get() > 0,
                "no sk_lookup set was classified"
            );
        }
        Err(TestError::Fail(why, _)) => panic!("{why}\n\nseed {seed}; replay: {replay}"),
        Err(TestError::Abort(why)) => panic!("aborted: {why} (seed {seed})"),
    }
}

/// Rule sets with long runs of classifiable rules ([`classifier_rule_set`]), which
/// `-O2` decides by decision trees: the kernel's verdicts and counters equal the
/// evaluator's on every pair, at `-O2` and `-O0`, and `-O2` made at least one
/// classifier of every set (a smaller set without one, met while shrinking, counts
/// as passing).
#[test]
fn classifier_agrees_with_the_evaluator() {
    if !kernel() {
        return;
    }
    let rule_sets: u32 = env_number("SOCKC_DIFF_CLASSIFY_CASES").unwrap_or(DEFAULT_CLASSIFY_SETS);
    let packets: usize =
        env_number("SOCKC_DIFF_CLASSIFY_PACKETS").unwrap_or(DEFAULT_CLASSIFY_PACKETS);
    let seed: u64 = env_number("SOCKC_DIFF_SEED")
        .unwrap_or_else(|| RandomState::new().hash_one(Instant::now()));
    let replay = format!(
        "SOCKC_DIFF_SEED={seed} SOCKC_DIFF_CLASSIFY_CASES={rule_sets} \
         SOCKC_DIFF_CLASSIFY_PACKETS={packets} cargo test --test differential classifier_agrees"
    );
    println!(
        "classifier differential: seed {seed}, {rule_sets} rule sets x {packets} packets \
         (replay: {replay})"
    );
    let config = Config {
        cases: rule_sets,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(REGRESSIONS)),
        source_file: Some(file!()),
        // Each step compiles and loads up to twice; a 300-rule set takes thousands.
        max_shrink_iters: 10_000,
        max_shrink_time: 20 * 60 * 1000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let shapes = RefCell::new(Shapes::default());
    // Set by the first failure: from then on proptest is shrinking.
    let shrinking = Cell::new(false);
    let start = Instant::now();
    let result = runner.run(&classify_case_strategy(packets), |(set, recipes)| {
        let src = set.to_string();
        let check = || -> Result<bool, String> {
            let (o2, _) = compile_rule_set(&src, OptLevel::O2)?;
            let classified: usize = o2
                .module
                .programs
                .values()
                .map(|p| classifiers(p).count())
                .sum();
            if shrinking.get() && classified == 0 {
                // Smaller than what this test is about (the other test covers it).
                return Ok(false);
            }
            if !shrinking.get() {
                shapes.borrow_mut().add(&o2.module);
            }
            if classified == 0 {
                return Err(format!(
                    "generator bug: -O2 made no classifier of this rule set\n{}",
                    numbered(&src)
                ));
            }
            check_in_kernel(&set, &o2, &recipes, &tally, OptLevel::O2)?;
            // The linear `-O0` program of a block of over 2,000 rules (one block in
            // nine) takes the verifier minutes, if it loads at all: what classifiers
            // are for. Those blocks are checked at `-O2` only (against the evaluator,
            // which reads rules, not steps).
            let rules: usize = o2.module.programs.values().map(|p| p.rules.len()).sum();
            if rules <= LINEAR_KERNEL_MAX {
                let (o0, _) = compile_rule_set(&src, OptLevel::O0)?;
                check_in_kernel(&set, &o0, &recipes, &tally, OptLevel::O0)?;
            }
            Ok(true)
        };
        match check() {
            Ok(true) => Ok(()),
            Ok(false) => Err(TestCaseError::reject("no classifier")),
            Err(why) => {
                shrinking.set(true);
                Err(TestCaseError::fail(why))
            }
        }
    });
    let elapsed = start.elapsed();
    match result {
        Ok(()) => println!(
            "classifier differential: {}\n{}\nin {:.1} s",
            shapes.borrow(),
            tally.borrow(),
            elapsed.as_secs_f64()
        ),
        Err(TestError::Fail(why, _)) => panic!(
            "{why}\n\nseed {seed}; replay: {replay}\n\
             (the case is also saved in tests/differential/rule_sets.proptest-regressions)"
        ),
        Err(TestError::Abort(why)) => {
            panic!("classifier differential run aborted: {why} (seed {seed})")
        }
    }
}

/// The classifier rule sets without a kernel: every set compiles to at least one
/// classifier, every packet is a valid frame, and the sets reach what they are for
/// (IPv4 and IPv6 tries, several tries per family, deep tries, leaves of several
/// entries, shared nodes, flags and L4 nodes, counting classifiers, address sets and
/// port lists, runs ended by `count` and ICMP rules, packets decided inside a
/// classifier and past one).
#[test]
fn classifier_rule_sets_build_trees() {
    let config = Config {
        cases: 40,
        rng_seed: RngSeed::Fixed(1),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let shapes = RefCell::new(Shapes::default());
    let sources = RefCell::new(String::new());
    let result = runner.run(&classify_case_strategy(40), |(set, recipes)| {
        let src = set.to_string();
        let (o2, _) = compile_rule_set(&src, OptLevel::O2).map_err(TestCaseError::fail)?;
        if shapes.borrow_mut().add(&o2.module) == 0 {
            return Err(TestCaseError::fail(format!(
                "-O2 made no classifier of\n{}",
                numbered(&src)
            )));
        }
        check_without_kernel(&set, &recipes, &tally, &sources).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        match e {
            TestError::Fail(why, (set, _)) => panic!("{why}\nminimal rule set:\n{set}"),
            TestError::Abort(why) => panic!("aborted: {why}"),
        }
    }
    let (tally, shapes) = (tally.into_inner(), shapes.into_inner());
    println!("classifier generators: {shapes}\n{tally}");
    let sources = sources.into_inner();
    for form in [
        "@a", ":@p", "count ", " type ", " syn", " !", " ip4", " ip6", "-",
    ] {
        assert!(
            sources.contains(form),
            "no classifier rule set contains `{form}`"
        );
    }
    assert!(shapes.tries[0] > 0 && shapes.tries[1] > 0, "{shapes}");
    // Runs of more than `SMALL_RUN` entries get a trie per address group; one block
    // in nine draws one.
    assert!(shapes.several_tries >= 2, "{shapes}");
    assert!(shapes.max_depth >= 6, "tries too shallow: {shapes}");
    assert!(shapes.shared_leaves * 2 > shapes.classifiers, "{shapes}");
    assert!(shapes.shared_nodes > 0, "no trie shares a node: {shapes}");
    assert!(
        shapes.flag_nodes > 0,
        "no trie reads the TCP flags: {shapes}"
    );
    assert!(shapes.l4_nodes > 0, "no trie reads the L4 byte: {shapes}");
    assert!(shapes.counting > 0, "no counting classifier: {shapes}");
    assert!(
        tally.by_classifier * 5 > tally.runs,
        "too few packets decided by a classifier: {tally}"
    );
    assert!(
        tally.past_classifier * 5 > tally.runs,
        "too few packets past a classifier: {tally}"
    );
}

/// The generators and the evaluator alone (no kernel, so this runs everywhere): every
/// generated set compiles, every packet is a valid frame, and the generators reach
/// what they are meant to (each syntax form, rule and default decisions, non-IP
/// frames, missing L4 fields).
#[test]
fn generated_rule_sets_compile_and_evaluate() {
    let config = Config {
        cases: 150,
        rng_seed: RngSeed::Fixed(1),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let sources = RefCell::new(String::new());
    let result = runner.run(&case_strategy(40), |(set, recipes)| {
        check_without_kernel(&set, &recipes, &tally, &sources).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        match e {
            TestError::Fail(why, (set, _)) => panic!("{why}\nminimal rule set:\n{set}"),
            TestError::Abort(why) => panic!("aborted: {why}"),
        }
    }
    let tally = tally.into_inner();
    println!("generators: {tally}");
    let sources = sources.into_inner();
    for form in [
        "xdp on ",
        "tc ingress on ",
        "tc egress on ",
        "default allow",
        "default drop",
        "allow ",
        "drop ",
        "count ",
        " tcp",
        " udp",
        " icmp ",
        " icmpv6",
        " any",
        "proto 47",
        "proto 6 ",
        "proto tcp",
        " ip4",
        " ip6",
        "from ",
        "to ",
        "@a",
        ":@p",
        "]:",
        ":*",
        "/0",
        "/32",
        "/128",
        " !",
        " syn",
        " type ",
        " type echo",
        " code ",
        "ttl ",
        "hoplimit ",
        "dscp ",
        "ecn ",
        "length ",
        "ether type arp",
        "ether type ip6",
        "ether type 0x",
        " arp",
        "vlan ",
        "set a",
        "set p",
        ";",
    ] {
        assert!(
            sources.contains(form),
            "no generated rule set contains `{form}`"
        );
    }
    let runs = tally.runs;
    assert!(
        tally.decided_by_rule * 5 > runs,
        "rules decide too rarely: {tally}"
    );
    assert!(
        (runs - tally.decided_by_rule) * 10 > runs,
        "defaults decide too rarely: {tally}"
    );
    assert!(
        tally.count_hits * 10 > runs,
        "count rules hit too rarely: {tally}"
    );
    assert!(tally.not_ip * 50 > runs, "too few non-IP frames: {tally}");
    assert!(
        tally.by_hop_limit * 200 > runs,
        "ttl/hoplimit rules decide too rarely: {tally}"
    );
    assert!(
        tally.by_tos * 200 > runs,
        "dscp/ecn rules decide too rarely: {tally}"
    );
    assert!(
        tally.by_length * 200 > runs,
        "length rules decide too rarely: {tally}"
    );
    assert!(
        tally.by_frame * 200 > runs,
        "ether type/vlan rules decide too rarely: {tally}"
    );
    assert!(
        tally.port_bitmaps * 20 > tally.rule_sets,
        "too few rule sets test a long port list by bitmap: {tally}"
    );
    assert!(
        tally.no_l4_fields * 20 > runs,
        "too few frames without L4 fields: {tally}"
    );
    assert!(
        tally.truncated * 10 > tally.pairs,
        "too few truncated frames: {tally}"
    );
    assert!(
        tally.set_overlaps > 10,
        "too few overlapping set elements: {tally:?}"
    );
}
