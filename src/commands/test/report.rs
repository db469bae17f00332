//! What `sockc test` prints: for every packet its table of programs (verdict, deciding
//! rule, the rules that counted it, who answered), or one JSON document
//! (`sockc.test/1`); then the verdict over all pairs.
//!
//! Invariant: every pair both sides answered is compared ([`compare`]) before it is
//! printed; any disagreement is said per pair and makes the exit code 3.

use std::{io::Write, process::ExitCode};

use crate::shared::table::Table;
use serde_json::json;
use sockc_compiler::{hooks, ir::Program};
use sockc_testkit::{
    compare::{compare, outcome_name, retval_name},
    eval::{Decider, Evaluation},
};

use super::{
    inputs::Input,
    kernel::{KernelSide, Measured},
    names::{decider_text, hook_label, RuleNames},
    sockets, TestArgs,
};
use crate::shared::stderr::errln;
use crate::shared::{json, settings::quiet, stdout, table};

/// Both sides' answers for every (packet, program) pair.
pub struct Answers<'a> {
    pub inputs: &'a [Input],
    pub programs: &'a [&'a Program],
    /// `[packet][program]`
    pub evaluations: &'a [Vec<Evaluation>],
    /// `[program][packet]`; empty when the kernel took no part.
    pub kernel_sides: &'a [Vec<KernelSide>],
    /// sk_lookup and sockmap programs, `[packet][program]`.
    pub socket_answers: &'a [Vec<sockets::Answer>],
}

/// What the comparison of all pairs came to.
pub struct Tally {
    disagreements: usize,
    /// Pairs the kernel could not run (the evaluator answered alone).
    not_run: usize,
}

/// Compares and prints every pair, as text or (with `--json`) as one document;
/// `Err` when stdout could not be written.
pub fn report(args: &TestArgs, a: &Answers, kernel: bool) -> Result<Tally, ()> {
    let mut tally = Tally {
        disagreements: 0,
        not_run: 0,
    };
    let mut json_results = Vec::new();
    let names: Vec<RuleNames> = if args.json {
        a.programs.iter().map(|p| RuleNames::of(p)).collect()
    } else {
        Vec::new()
    };
    let mut stdout = std::io::BufWriter::new(stdout::Checked);
    for (i, input) in a.inputs.iter().enumerate() {
        if !args.json {
            let spec = sockc_compiler::diag::escaped(&input.spec.to_string()).into_owned();
            let _ = writeln!(stdout, "{spec} ({} bytes)", input.frame.len());
        }
        let mut results = table::new(["hook", "verdict", "rule"], &[]);
        for (j, prog) in a.programs.iter().enumerate() {
            let e = &a.evaluations[i][j];
            let (run, why_not, d) = judge(a, i, j, &mut tally);
            if args.json {
                json_results.push(result_json(input, prog, &names[j], e, run, why_not, &d));
            } else {
                add_result(&mut results, prog, e, run, why_not, &d);
            }
        }
        for answer in &a.socket_answers[i] {
            tally.disagreements += usize::from(answer.disagreement);
            tally.not_run += usize::from(answer.not_run);
            if args.json {
                json_results.push(answer.json.clone());
            } else {
                for row in &answer.rows {
                    results.add_row(row);
                }
            }
        }
        if !args.json {
            for line in table::lines(&results, "  ") {
                let _ = writeln!(stdout, "{line}");
            }
        }
    }
    if args.json {
        json::emit(json!({
            "results": json_results,
            "kernel": kernel,
            "disagreements": tally.disagreements,
        }));
    }
    stdout.flush().map_err(|_| ())?;
    Ok(tally)
}

/// The kernel's side of packet `i` in program `j` (or why it has none) and what differs
/// from the evaluator's, counted in `tally`.
fn judge<'a>(
    a: &'a Answers,
    i: usize,
    j: usize,
    tally: &mut Tally,
) -> (Option<&'a Measured>, Option<&'a str>, Option<String>) {
    let (run, why_not) = match a.kernel_sides.get(j).map(|sides| &sides[i]) {
        Some(KernelSide::Ran(r)) => (Some(r), None),
        Some(KernelSide::NotRun(why)) => {
            tally.not_run += 1;
            (None, Some(why.as_str()))
        }
        None => (None, None),
    };
    let frame_len = a.inputs[i].frame.len();
    let disagreement =
        run.and_then(|r| compare(a.programs[j], &a.evaluations[i][j], &r.run, frame_len));
    tally.disagreements += usize::from(disagreement.is_some());
    (run, why_not, disagreement)
}

/// The verdict over all `pairs`: a disagreement exits 3; otherwise success, with a
/// line on how many pairs both sides answered when `summary` (the kernel ran, text
/// output).
pub fn conclude(t: &Tally, pairs: usize, summary: bool) -> ExitCode {
    if t.disagreements > 0 {
        errln!(
            "sockc: DISAGREEMENT: kernel and evaluator differ on {} of {pairs} \
             (packet, program) pairs — this is a compiler bug, please report it with the \
             rule file and packets",
            t.disagreements
        );
        return ExitCode::from(3);
    }
    if summary && pairs > 1 && !quiet() {
        let ran = pairs - t.not_run;
        if t.not_run == 0 {
            errln!("kernel and evaluator agree on all {ran} (packet, program) pairs");
        } else {
            errln!(
                "kernel and evaluator agree on all {ran} (packet, program) pairs the kernel \
                 ran; the kernel cannot run {} (the evaluator answered alone)",
                t.not_run
            );
        }
    }
    ExitCode::SUCCESS
}

/// One program's answer for one input as rows of the input's table: the hook, the
/// outcome and the deciding rule, a row per rule that counted it, then who answered
/// (kernel and evaluator, or the evaluator alone and why).
fn add_result(
    table: &mut Table,
    prog: &Program,
    e: &Evaluation,
    k: Option<&Measured>,
    not_run: Option<&str>,
    disagreement: &Option<String>,
) {
    table.add_row([
        hook_label(prog),
        outcome_name(e.outcome).to_string(),
        decider_text(prog, e.decider),
    ]);
    for &i in &e.counted {
        table.add_row([
            String::new(),
            "count".to_string(),
            format!("line {}: {}", prog.rules[i].line, prog.rules[i].text),
        ]);
    }
    let source = match (k, disagreement) {
        (None, _) => match not_run {
            Some(why) => format!("(evaluator only: {why})"),
            None => "(evaluator only)".to_string(),
        },
        (Some(k), None) => format!(
            "kernel and evaluator agree (retval {}){}",
            k.run.retval,
            k.ns_per_packet
                .map(|ns| format!(", {ns:.0} ns/packet measured by the kernel"))
                .unwrap_or_default()
        ),
        (Some(_), Some(d)) => format!("DISAGREEMENT (evaluator shown above): {d}"),
    };
    table.add_row([String::new(), String::new(), source]);
}

fn result_json(
    input: &Input,
    prog: &Program,
    names: &RuleNames,
    e: &Evaluation,
    k: Option<&Measured>,
    not_run: Option<&str>,
    disagreement: &Option<String>,
) -> serde_json::Value {
    let RuleNames { texts, ids } = names;
    let (line, text) = match e.decider {
        Decider::Rule(i) => (prog.rules[i].line, texts[i].clone()),
        Decider::Default => (prog.default_line, texts[texts.len() - 1].clone()),
    };
    let slot_of = |slot: u32| {
        if slot == prog.default_counter {
            Some((prog.default_line, texts.len() - 1))
        } else {
            prog.rules
                .iter()
                .position(|r| r.counter == slot)
                .map(|i| (prog.rules[i].line, i))
        }
    };
    let id = match e.decider {
        Decider::Rule(i) => ids[i].clone(),
        Decider::Default => ids[texts.len() - 1].clone(),
    };
    json!({
        "packet": input.spec.to_string(),
        "origin": input.origin,
        "frame_len": input.frame.len(),
        "program": prog.symbol,
        "hook": hooks::spec(prog.hook).name,
        "attach_to": prog.attach_to,
        "evaluator": {
            "verdict": outcome_name(e.outcome),
            "line": line,
            "rule": text,
            "id": id,
            "counted_lines": e.counted.iter().map(|&i| prog.rules[i].line).collect::<Vec<_>>(),
        },
        "kernel": k.map(|k| json!({
            "retval": k.run.retval,
            "verdict": retval_name(prog, k.run.retval),
            "counters_moved": k.run.moved.iter().map(|(s, (p, b))| {
                let at = slot_of(*s);
                json!({
                    "slot": s,
                    "line": at.map(|a| a.0),
                    "rule": at.map(|a| texts[a.1].clone()),
                    "id": at.map(|a| ids[a.1].clone()),
                    "packets": p, "bytes": b,
                })
            }).collect::<Vec<_>>(),
            "ns_per_packet": k.ns_per_packet,
        })),
        "kernel_not_run": not_run,
        "agree": k.map(|_| disagreement.is_none()),
        "disagreement": disagreement,
    })
}
