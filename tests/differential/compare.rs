//! Running and comparing: compile a drawn rule set, run every packet through every
//! program in the kernel (`BPF_PROG_TEST_RUN`) and against the evaluator, and tally
//! what a run went through (`Tally`) and what `-O2` made of it (`Shapes`).

use std::{cell::RefCell, fmt};

use sockc_compiler::{
    bpf::maps::{hex, PORTS_MAP},
    diag,
    hooks::{self, HookKind},
    ir::{
        classifier::{Child, Classifier, KeyByte, Trie},
        Module, Program, Step,
    },
    metadata::Metadata,
    opt::OptLevel,
    syntax::ast::Family as ClassifyFamily,
    Compiled, Options,
};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    compare::{compare, moved_between, KernelRun},
    eval::{evaluate, reject::Answer, Decider, Evaluation, Facts, L4Fields, Outcome},
    packet::parse_packet,
};

use crate::{
    packets::{tc_refuses, PacketRecipe, Pools},
    rules::RuleSet,
};

/// What a run went through, printed at the end.
#[derive(Debug, Default)]
pub struct Tally {
    pub rule_sets: u64,
    rules: u64,
    /// (rule set, packet) pairs.
    pub pairs: u64,
    /// Program runs compared (a pair runs once per program of the set).
    pub runs: u64,
    /// TC runs left out because the kernel refuses the frame (see [`tc_refuses`]).
    tc_skipped: u64,
    pub decided_by_rule: u64,
    pub count_hits: u64,
    pub not_ip: u64,
    pub no_l4_fields: u64,
    pub truncated: u64,
    patched: u64,
    /// Set elements covered by others (a warning; the element is dropped).
    pub set_overlaps: u64,
    /// Rule sets whose `-O2` code tests a long port list with a bitmap lookup.
    pub port_bitmaps: u64,
    /// Runs at `-O2` decided by a rule of a classifier step.
    pub by_classifier: u64,
    /// Runs at `-O2` that went through a classifier without a match there.
    pub past_classifier: u64,
    /// Runs whose `reject` answered, the answer checked in the frame the program left.
    pub answers: u64,
    /// Runs decided by a rule that tests the TTL or hop limit.
    pub by_hop_limit: u64,
    /// Runs decided by a rule that tests the DSCP or ECN.
    pub by_tos: u64,
    /// Runs decided by a rule that tests the packet's length.
    pub by_length: u64,
    /// Runs decided by a rule of ICMP's number in the other family (`ip6 proto 1`).
    pub by_other_icmp: u64,
    /// Runs decided by a rule that tests the frame's EtherType or outer VLAN tag.
    pub by_frame: u64,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = self.runs.max(1) as f64;
        write!(
            f,
            "{} rule sets ({} rules), {} (rule set, packet) pairs, {} program runs; \
             {} TC runs skipped (IP EtherType frame shorter than the IP header); \
             decided by a rule {:.0}%, count rules hit {} times, not IP {:.0}%, \
             no L4 fields {:.0}%, {} truncated and {} patched packets, {} rule sets with \
             port bitmaps, {} reject answers checked, {} runs decided by a ttl/hoplimit rule, {} by a \
             dscp/ecn rule, {} by a length rule, {} by ip6 proto 1 / ip4 proto 58, {} by an \
             ether type or vlan rule",
            self.rule_sets,
            self.rules,
            self.pairs,
            self.runs,
            self.tc_skipped,
            100.0 * self.decided_by_rule as f64 / runs,
            self.count_hits,
            100.0 * self.not_ip as f64 / runs,
            100.0 * self.no_l4_fields as f64 / runs,
            self.truncated,
            self.patched,
            self.port_bitmaps,
            self.answers,
            self.by_hop_limit,
            self.by_tos,
            self.by_length,
            self.by_other_icmp,
            self.by_frame,
        )?;
        if self.by_classifier + self.past_classifier > 0 {
            write!(
                f,
                "; at -O2 {} runs decided inside a classifier, {} after passing one",
                self.by_classifier, self.past_classifier
            )?;
        }
        Ok(())
    }
}

impl Tally {
    /// Counts a decision by `r` among those of rules with IP header field tests.
    fn add_field_decision(&mut self, r: &sockc_compiler::ir::Rule) {
        use sockc_compiler::syntax::ipfield::Field;
        let tests = |f: &[Field]| r.m.rare().fields.iter().any(|t| f.contains(&t.field));
        self.by_hop_limit += u64::from(tests(&[Field::Ttl, Field::HopLimit]));
        self.by_tos += u64::from(tests(&[Field::Dscp, Field::Ecn]));
        self.by_length += u64::from(tests(&[Field::Length]));
        let rare = r.m.rare();
        self.by_frame += u64::from(rare.ether_type.is_some() || rare.vlan.is_some());
        use sockc_compiler::syntax::ast::Family;
        self.by_other_icmp += u64::from(matches!(
            (r.m.family, r.m.proto),
            (Some(Family::V6), Some(1)) | (Some(Family::V4), Some(58))
        ));
    }

    /// Where the `-O2` program decided `e`, relative to its classifiers.
    fn add_classifier_decision(&mut self, prog: &Program, e: &Evaluation) {
        let decider = match e.decider {
            Decider::Rule(i) => i,
            Decider::Default => usize::MAX,
        };
        if let Some(r) = prog.rules.get(decider) {
            self.add_field_decision(r);
        }
        let ranges: Vec<_> = classifiers(prog).map(|c| c.rules.clone()).collect();
        if ranges.iter().any(|r| r.contains(&decider)) {
            self.by_classifier += 1;
        } else if ranges.iter().any(|r| r.end <= decider) {
            self.past_classifier += 1;
        }
    }

    fn add_evaluation(&mut self, e: &Evaluation) {
        self.runs += 1;
        self.decided_by_rule += u64::from(matches!(e.decider, Decider::Rule(_)));
        self.count_hits += e.counted.len() as u64;
        match &e.headers.ip {
            None => self.not_ip += 1,
            Some(ip) => self.no_l4_fields += u64::from(ip.l4 == L4Fields::Absent),
        }
    }
}

/// The classifier steps of a program.
pub fn classifiers(prog: &Program) -> impl Iterator<Item = &Classifier> {
    prog.steps.iter().filter_map(|s| match s {
        Step::Classify(c) => Some(c),
        Step::Linear { .. } => None,
    })
}

/// What `-O2` made of the classifier rule sets, printed at the end.
#[derive(Debug, Default)]
pub struct Shapes {
    modules: u64,
    rules: u64,
    pub classifiers: u64,
    classified_rules: u64,
    /// Tries by family (IPv4, IPv6).
    pub tries: [u64; 2],
    /// (classifier, family) pairs with more than one trie.
    pub several_tries: u64,
    /// Classifiers right after another one: a run split into rule groups.
    pub rule_groups: u64,
    /// Tries with a leaf of more than one entry.
    pub shared_leaves: u64,
    /// Tries whose nodes are shared by several parents (the trie is a DAG).
    pub shared_nodes: u64,
    /// Counting classifiers (runs of disjoint `count` rules).
    pub counting: u64,
    /// Tries with a node on the TCP flags byte, and on the L4 byte.
    pub flag_nodes: u64,
    pub l4_nodes: u64,
    max_tries: usize,
    pub max_depth: usize,
    max_leaf: usize,
    max_entries: usize,
}

impl Shapes {
    /// Adds a module's classifiers; returns how many it has.
    pub fn add(&mut self, module: &Module) -> usize {
        self.modules += 1;
        let mut count = 0usize;
        for prog in module.programs.values() {
            self.rules += prog.rules.len() as u64;
            let mut previous_end = None;
            for step in &prog.steps {
                let Step::Classify(c) = step else {
                    previous_end = None;
                    continue;
                };
                count += 1;
                self.counting += u64::from(c.counts);
                self.classified_rules += c.rules.len() as u64;
                self.rule_groups += u64::from(previous_end == Some(c.rules.start) && !c.counts);
                previous_end = Some(c.rules.end);
                for family in [ClassifyFamily::V4, ClassifyFamily::V6] {
                    let n = c.tries.iter().filter(|t| t.family == family).count();
                    self.tries[usize::from(family == ClassifyFamily::V6)] += n as u64;
                    self.several_tries += u64::from(n > 1);
                    self.max_tries = self.max_tries.max(n);
                }
                for t in &c.tries {
                    self.shared_leaves += u64::from(t.max_leaf > 1);
                    self.shared_nodes += u64::from(dag_shares_nodes(t));
                    let reads = |b: KeyByte| t.nodes.iter().any(|n| n.byte == b);
                    self.flag_nodes += u64::from(reads(KeyByte::Flags));
                    self.l4_nodes += u64::from(reads(KeyByte::L4));
                    self.max_depth = self.max_depth.max(t.depth);
                    self.max_leaf = self.max_leaf.max(t.max_leaf);
                    self.max_entries = self.max_entries.max(t.entries.len());
                }
            }
        }
        self.classifiers += count as u64;
        count
    }
}

/// True when some node of the trie is the child of more than one node run (equal
/// subtrees were merged).
fn dag_shares_nodes(t: &Trie) -> bool {
    let mut parents = vec![0usize; t.nodes.len()];
    for n in &t.nodes {
        let mut seen = std::collections::HashSet::new();
        for (_, c) in &n.runs {
            if let Child::Node(i) = c {
                if seen.insert(*i) {
                    parents[*i as usize] += 1;
                }
            }
        }
    }
    parents.iter().any(|&p| p > 1)
}

impl fmt::Display for Shapes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} classifiers over {} of {} rules in {} modules; {} IPv4 and {} IPv6 tries \
             (up to {} per family, {} families with several, up to {} entries), {} rule \
             groups, depth up to {}, {} tries with shared leaves (up to {} entries), {} \
             with shared nodes, {} with a TCP flags node, {} with an L4 node; {} counting \
             classifiers",
            self.classifiers,
            self.classified_rules,
            self.rules,
            self.modules,
            self.tries[0],
            self.tries[1],
            self.max_tries,
            self.several_tries,
            self.max_entries,
            self.rule_groups,
            self.max_depth,
            self.shared_leaves,
            self.max_leaf,
            self.shared_nodes,
            self.flag_nodes,
            self.l4_nodes,
            self.counting,
        )
    }
}

/// Compiles a generated file; also returns how many set-overlap warnings it got.
pub fn compile_rule_set(src: &str, opt: OptLevel) -> Result<(Compiled, usize), String> {
    let opts = Options {
        opt,
        ..Options::default()
    };
    let (compiled, diags) = sockc_compiler::compile(src, &opts);
    let overlaps = diags
        .iter()
        .filter(|d| d.code == "sockc::set-overlap")
        .count();
    compiled.map(|c| (c, overlaps)).ok_or_else(|| {
        format!(
            "generator bug: the rule set does not compile\n{}\n{}",
            numbered(src),
            diag::render(&diags, "generated.sk", src, false)
        )
    })
}

pub fn numbered(src: &str) -> String {
    src.lines()
        .enumerate()
        .map(|(i, l)| format!("{:>3} | {l}\n", i + 1))
        .collect()
}

/// Names a counter slot for messages: `slot 3 (xdp_eth0 line 4 `allow tcp`)`.
fn slot_name(meta: &Metadata, slot: usize) -> String {
    meta.programs
        .iter()
        .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
        .find(|(_, r)| r.counter as usize == slot)
        .map(|(p, r)| format!("slot {slot} ({} line {} `{}`)", p.symbol, r.line, r.text))
        .unwrap_or_else(|| format!("slot {slot}"))
}

/// The evaluator's answer, for messages.
fn describe_evaluation(prog: &Program, e: &Evaluation) -> String {
    let counted: Vec<usize> = e.counted.iter().map(|&i| prog.rules[i].line).collect();
    format!(
        "return code {:?}, decided by {:?} at line {} ({:?}), count rules passed at lines \
         {counted:?}, counter slots {:?}; headers {:?}",
        e.return_code(prog),
        e.decider,
        e.line(prog),
        e.outcome,
        e.counter_slots(prog),
        e.headers
    )
}

/// Runs every packet of a case through every program of the loaded set and compares
/// with the evaluator. `Err` names the first disagreement.
pub fn check_in_kernel(
    set: &RuleSet,
    compiled: &Compiled,
    recipes: &[PacketRecipe],
    tally: &RefCell<Tally>,
    level: OptLevel,
) -> Result<(), String> {
    let src = set.to_string();
    let elf = compiled
        .to_elf()
        .map_err(|e| format!("to_elf failed ({}): {e}\n{}", level.name(), numbered(&src)))?;
    let obj = LoadedObject::load(&elf).map_err(|e| {
        format!(
            "the kernel refused the object ({}): {e}\n{}",
            level.name(),
            numbered(&src)
        )
    })?;
    let module: &Module = &compiled.module;
    let pools = Pools::of(set);
    let tc_only = !set.has_xdp();
    let mut tally = tally.borrow_mut();
    if level == OptLevel::default() {
        tally.rule_sets += 1;
        tally.rules += set.rules().count() as u64;
    }
    let mut before = obj.counters().map_err(|e| e.to_string())?;
    for recipe in recipes {
        let packet = recipe.resolve(&pools, tc_only);
        let frame = &packet.frame;
        tally.pairs += 1;
        tally.truncated += u64::from(packet.spec.truncate_to.is_some());
        tally.patched += u64::from(packet.patch.is_some());
        for prog in module.programs.values() {
            if prog.hook != HookKind::Xdp && tc_refuses(frame) {
                tally.tc_skipped += 1;
                continue;
            }
            let want = evaluate(module, prog, frame, &Facts::default());
            tally.add_evaluation(&want);
            if level == OptLevel::O2 {
                tally.add_classifier_decision(prog, &want);
            } else if let Decider::Rule(i) = want.decider {
                tally.add_field_decision(&prog.rules[i]);
            }
            // Each packet meets the answer limits with room, as the evaluator has it
            // (the packets of a set share a few sources: a destination's bucket would
            // run out after six answers).
            obj.refill_limits().map_err(|e| e.to_string())?;
            let limited_before = obj.answers_limited().map_err(|e| e.to_string())?;
            let (got, out) = obj
                .test_run_frame(&prog.symbol, frame)
                .map_err(|e| format!("test_run on `{packet}` ({}): {e}", hex(frame)))?;
            let after = obj.counters().map_err(|e| e.to_string())?;
            let limited = obj.answers_limited().map_err(|e| e.to_string())?;
            let run = KernelRun {
                retval: got.retval,
                moved: moved_between(&before, &after),
                answers_limited: [0, 1].map(|i| limited[i] - limited_before[i]),
            };
            before = after;
            let wrong = compare(prog, &want, &run, frame.len()).or_else(|| match want.outcome {
                Outcome::Reject(a) if a.sent() => {
                    tally.answers += 1;
                    wrong_answer(a, &out)
                }
                _ => None,
            });
            if let Some(wrong) = wrong {
                let deltas: Vec<String> = run
                    .moved
                    .iter()
                    .map(|(slot, (p, b))| {
                        let slot = slot_name(&compiled.metadata, *slot as usize);
                        format!("{slot}: +{p} packets +{b} bytes")
                    })
                    .collect();
                let steps: String = classifiers(prog).map(|c| format!("{c}\n")).collect();
                return Err(format!(
                    "kernel and evaluator disagree in `{}` ({}, {}): {wrong}\n\
                     rules:\n{}\
                     {steps}\
                     packet: {packet}\n\
                     frame ({} bytes): {}\n\
                     kernel:    return code {}, counters moved: [{}]\n\
                     evaluator: {}",
                    prog.symbol,
                    hooks::spec(prog.hook).name,
                    level.name(),
                    numbered(&src),
                    frame.len(),
                    hex(frame),
                    got.retval,
                    deltas.join(", "),
                    describe_evaluation(prog, &want),
                ));
            }
        }
    }
    Ok(())
}

/// What is wrong with `out`, the frame a program left after a `reject` the evaluator
/// says answers with `want` (`None` when it is that answer: a TCP segment with RST,
/// or ICMP/ICMPv6 destination unreachable with `want`'s code), so a classified reject
/// is seen to answer as its rule says, not only to return the answer's code.
fn wrong_answer(want: Answer, out: &[u8]) -> Option<String> {
    let mut ip = 14;
    if matches!(out.get(12..14), Some([0x81, 0x00] | [0x88, 0xa8])) {
        ip += 4;
    }
    let v6 = out.get(ip).map(|b| b >> 4) == Some(6);
    let (proto, l4) = if v6 {
        (out.get(ip + 6).copied(), ip + 40)
    } else {
        let ihl = usize::from(out.get(ip).copied().unwrap_or(0) & 0x0f) * 4;
        (out.get(ip + 9).copied(), ip + ihl)
    };
    let got = match (proto, out.get(l4..l4 + 2), out.get(l4 + 13)) {
        (Some(6), _, Some(flags)) if flags & 0x04 != 0 => Answer::TcpReset,
        (Some(1), Some(&[3, code]), _) if !v6 => Answer::Unreachable { v6, code },
        (Some(58), Some(&[1, code]), _) if v6 => Answer::Unreachable { v6, code },
        _ => return Some(format!("the answer is not {want:?}: {}", hex(out))),
    };
    (got != want).then(|| format!("answered {got:?}, not {want:?}: {}", hex(out)))
}

/// The checks that need no kernel: the set compiles, every packet builds a frame the
/// kernel accepts and prints as text that parses back, the evaluator answers.
pub fn check_without_kernel(
    set: &RuleSet,
    recipes: &[PacketRecipe],
    tally: &RefCell<Tally>,
    sources: &RefCell<String>,
) -> Result<(), String> {
    let src = set.to_string();
    let (compiled, overlaps) = compile_rule_set(&src, OptLevel::O2)?;
    let pools = Pools::of(set);
    let mut tally = tally.borrow_mut();
    tally.set_overlaps += overlaps as u64;
    tally.port_bitmaps += u64::from(compiled.maps.iter().any(|m| m.name == PORTS_MAP));
    tally.rule_sets += 1;
    tally.rules += set.rules().count() as u64;
    sources.borrow_mut().push_str(&src);
    for recipe in recipes {
        let packet = recipe.resolve(&pools, !set.has_xdp());
        tally.pairs += 1;
        tally.truncated += u64::from(packet.spec.truncate_to.is_some());
        tally.patched += u64::from(packet.patch.is_some());
        if packet.frame.len() < 14 {
            return Err(format!("`{packet}`: frame of {} bytes", packet.frame.len()));
        }
        let text = packet.spec.to_string();
        if parse_packet(&text).as_ref() != Ok(&packet.spec) {
            return Err(format!("`{text}` does not parse back to its spec"));
        }
        for prog in compiled.module.programs.values() {
            if prog.hook != HookKind::Xdp && tc_refuses(&packet.frame) {
                tally.tc_skipped += 1;
                continue;
            }
            let e = evaluate(&compiled.module, prog, &packet.frame, &Facts::default());
            if e.return_code(prog).is_none() {
                return Err(format!("`{packet}`: no return code for {:?}", e.outcome));
            }
            tally.add_evaluation(&e);
            tally.add_classifier_decision(prog, &e);
        }
    }
    Ok(())
}
