//! ClassBench agreement: the published filter sets and header traces vendored in
//! `bench/classbench/`, converted to rule files (rule *i* = filter *i*,
//! alternately allow and drop), must classify every trace header exactly as the
//! published expected first-match index says — in the reference evaluator and, as
//! root, in the kernel.
//!
//! The kernel's deciding rule is read from the rule counters: after each packet the
//! expected rule's counter must have risen by one packet and the frame's bytes, and at
//! the end the counters must add up to exactly one packet per header, so no other
//! rule ever counted. The verdict must be the expected rule's action.
//!
//! The 1k sets run by default. `SOCKC_CLASSBENCH=all` adds the 10k and 100k sets and
//! prints their counts; sets the verifier refuses are reported (the linear lowering
//! does not scale there yet) while the evaluator's agreement is still required.

use std::path::Path;

use sockc_compiler::{hooks, ir::Program, Compiled};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    classbench::{self, action_of, ActionPolicy, ConvertOptions},
    classbench_data,
    eval::{self, Decider, Facts},
};

use crate::common;

use common::kernel;

const POLICY: ActionPolicy = ActionPolicy::Alternate;

fn sets(all: bool) -> Vec<String> {
    let sizes: &[&str] = if all {
        &["1000", "10000", "100000"]
    } else {
        &["1000"]
    };
    sizes
        .iter()
        .flat_map(|n| ["acl1", "fw1", "ipc1"].map(|s| format!("{s}_{n}")))
        .collect()
}

struct Set {
    name: String,
    compiled: Compiled,
    headers: Vec<classbench::TraceHeader>,
    expected: Vec<Option<usize>>,
}

fn load_set(dir: &Path, name: &str) -> Set {
    let read = |suffix: &str| {
        classbench_data::read(dir, &format!("{name}.rules{suffix}"))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let filters = classbench::parse_filters(&read("")).expect("filters parse");
    let headers = classbench::parse_trace(&read("_trace")).expect("trace parses");
    let expected = classbench::parse_expected(&read("_trace.expected")).expect("expected");
    assert_eq!(
        headers.len(),
        expected.len(),
        "{name}: trace and expected differ"
    );
    let text = classbench::to_sk(
        &filters,
        &ConvertOptions {
            hook: "xdp on eth0".into(),
            policy: POLICY,
            default: "drop",
        },
    );
    let (compiled, diags) = sockc_compiler::compile(&text, &Default::default());
    let compiled = compiled.unwrap_or_else(|| {
        panic!(
            "{name}: converted rules do not compile: {:?}",
            diags.first()
        )
    });
    let prog = program(&compiled);
    assert_eq!(
        prog.rules.len(),
        filters.len(),
        "{name}: one rule per filter"
    );
    Set {
        name: name.into(),
        compiled,
        headers,
        expected,
    }
}

fn program(c: &Compiled) -> &Program {
    c.module.programs.values().next().expect("one program")
}

/// Evaluator: the first match of every header is the expected filter. The headers are
/// split over the machine's cores (the evaluator is linear by design; the 100k sets
/// mean 10^10 rule tests).
fn check_evaluator(set: &Set) -> usize {
    let prog = program(&set.compiled);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = set.headers.len().div_ceil(cores).max(1);
    let indexed: Vec<(usize, &classbench::TraceHeader)> = set.headers.iter().enumerate().collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = indexed
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|&(i, h)| {
                            let frame = h.packet().build();
                            let e = eval::evaluate(
                                &set.compiled.module,
                                prog,
                                &frame,
                                &Facts::default(),
                            );
                            let got = match e.decider {
                                Decider::Rule(r) => Some(r),
                                Decider::Default => None,
                            };
                            (got != set.expected[i]).then(|| {
                                format!(
                                    "header {i} ({}): evaluator {got:?}, expected {:?}",
                                    h.packet(),
                                    set.expected[i]
                                )
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let agree = set.headers.len() - failures.len();
    assert!(
        failures.is_empty(),
        "{}: evaluator agrees on {agree}/{}; first failures:\n{}",
        set.name,
        set.headers.len(),
        failures[..failures.len().min(5)].join("\n")
    );
    agree
}

/// Kernel: verdict and counters per header. `Err` when the verifier refuses the
/// program.
fn check_kernel(set: &Set) -> Result<usize, String> {
    let prog = program(&set.compiled);
    let elf = set.compiled.to_elf().expect("object");
    let obj = LoadedObject::load(&elf).map_err(|e| load_error_summary(&e.to_string()))?;
    let spec = hooks::spec(prog.hook);
    let slot_of = |want: Option<usize>| match want {
        Some(r) => prog.rules[r].counter,
        None => prog.default_counter,
    };
    let mut agree = 0;
    let mut failures = Vec::new();
    let mut bytes_total = 0u64;
    for (i, (h, want)) in set.headers.iter().zip(&set.expected).enumerate() {
        let frame = h.packet().build();
        let slot = slot_of(*want);
        let before = obj.counter(slot).expect("counter");
        let run = obj.test_run(&prog.symbol, &frame, 1).expect("test run");
        let after = obj.counter(slot).expect("counter");
        bytes_total += frame.len() as u64;
        let verdict = match want {
            Some(r) if action_of(POLICY, *r) == "allow" => spec.verdicts.allow,
            Some(_) => spec.verdicts.drop,
            None => spec.verdicts.drop, // the converted file's default
        };
        let counted = (after.0 - before.0, after.1 - before.1) == (1, frame.len() as u64);
        if Some(run.retval as i32) == verdict && counted {
            agree += 1;
        } else if failures.len() < 5 {
            failures.push(format!(
                "header {i} ({}): expected filter {want:?}; kernel returned {}, its counter \
                 moved by {:?}",
                h.packet(),
                run.retval,
                (after.0 - before.0, after.1 - before.1)
            ));
        }
    }
    let totals = obj.counters().expect("counters");
    let packets: u64 = totals.iter().map(|c| c.0).sum();
    let bytes: u64 = totals.iter().map(|c| c.1).sum();
    assert!(
        failures.is_empty(),
        "{}: kernel agrees on {agree}/{}; first failures:\n{}",
        set.name,
        set.headers.len(),
        failures.join("\n")
    );
    assert_eq!(
        (packets, bytes),
        (set.headers.len() as u64, bytes_total),
        "{}: some packet moved a counter other than its expected rule's",
        set.name
    );
    Ok(agree)
}

/// The error's first line and, for verifier rejections, the log's verdict (the line
/// before its closing statistics).
fn load_error_summary(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let verdict = lines
        .iter()
        .rposition(|l| l.starts_with("verification time"))
        .and_then(|i| i.checked_sub(1))
        .map(|i| format!(": {}", lines[i]))
        .unwrap_or_default();
    format!("{}{verdict}", lines.first().copied().unwrap_or_default())
}

#[test]
fn classbench_traces_agree_with_the_expected_first_matches() {
    let all = std::env::var("SOCKC_CLASSBENCH").as_deref() == Ok("all");
    let dir = classbench_data::dir(None, &common::root());
    assert!(
        dir.is_dir(),
        "no ClassBench data at {} (set SOCKC_CLASSBENCH_DIR)",
        dir.display()
    );
    let in_kernel = kernel();
    for name in sets(all) {
        let set = load_set(&dir, &name);
        let n = set.headers.len();
        let by_eval = check_evaluator(&set);
        let by_kernel = if in_kernel {
            match check_kernel(&set) {
                Ok(k) => format!("kernel {k}/{n}"),
                // Only the large sets may be refused; the 1k sets must load.
                Err(e) if name.ends_with("_1000") => panic!("{name}: load failed: {e}"),
                Err(e) => format!("kernel: not loaded ({e})"),
            }
        } else {
            "kernel: skipped (not root)".into()
        };
        println!(
            "{name}: {} rules, {n} headers: evaluator {by_eval}/{n}, {by_kernel}",
            program(&set.compiled).rules.len()
        );
    }
}
