//! `sockc test`: what a rule file does to a packet.
//!
//! Every packet goes through the reference evaluator and, as root, through the
//! compiled program in the kernel (`BPF_PROG_TEST_RUN`, maps filled as the runtime
//! fills them); the deciding rule on the kernel side is read from the rule counters.
//! Invariant: whenever both answers exist they are compared — verdict, deciding rule
//! and every counter that moved — and any difference is printed and makes the exit
//! code 3. Without root the answer is the evaluator's, and the output says so.
//!
//! A program with socket conditions looks sockets up in the namespace it runs in, so
//! its kernel runs happen in a private network namespace holding exactly the socket
//! `--socket` names for the packet (oriented for the program's hook; see
//! [`sockc_testkit::socket_fixture`]): both sides see the same socket table.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use clap::{builder::TypedValueParser as _, Args, ValueEnum};
use serde_json::json;
use sockc_compiler::{
    hooks::{self, HookKind},
    ir::{verdict_name, Module, Program},
    Compiled,
};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    eval::{self, Decider, Evaluation, Facts, Outcome, SocketState},
    packet::{parse_packet, PacketSpec},
    socket_fixture::{Endpoints, SocketNetns},
};

#[derive(Args)]
pub struct TestArgs {
    /// the rule file
    pub file: PathBuf,
    /// a packet, e.g. "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn", "udp [2001:db8::1]:5353 ->
    /// [2001:db8::2]:53", "icmp 10.0.0.1 -> 10.0.0.2 type 8", "proto 47 10.0.0.1 ->
    /// 10.0.0.2"; options: vlan ID, ipopts WORDS, frag OFFSET, mf, payload HEX, len BYTES
    /// (repeatable)
    #[arg(long = "packet", value_name = "PACKET")]
    pub packets: Vec<String>,
    /// read packets from FILE, one per line (`#` comments, blank lines ignored)
    #[arg(long = "packets", value_name = "FILE")]
    pub packets_file: Option<PathBuf>,
    /// only programs of this hook
    #[arg(long, value_parser = hook_arg())]
    pub hook: Option<HookKind>,
    /// only programs attached to this interface
    #[arg(long, value_name = "NAME")]
    pub iface: Option<String>,
    /// the socket the packet belongs to, for socket conditions: the evaluator assumes
    /// it, and as root the kernel run happens in a private network namespace where
    /// exactly that socket exists (at ingress hooks bound to the packet's destination,
    /// at egress hooks to its source)
    #[arg(long, value_enum, default_value = "none")]
    pub socket: SocketArg,
    /// also run each packet N times in the kernel and print the kernel-measured ns/packet
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// do not load anything into the kernel, even as root
    #[arg(long)]
    pub eval_only: bool,
    /// print the results as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// The hooks whose programs run on test frames, by their `--hook` names (the hook
/// table's `cli_name`).
fn hook_arg() -> impl clap::builder::TypedValueParser<Value = HookKind> {
    let frame_hooks = || {
        hooks::HOOKS
            .iter()
            .filter(|h| h.test_input == hooks::TestInput::Frame && h.unsupported.is_none())
    };
    clap::builder::PossibleValuesParser::new(frame_hooks().map(|h| h.cli_name)).map(move |name| {
        frame_hooks()
            .find(|h| h.cli_name == name)
            .expect("a possible value")
            .kind
    })
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SocketArg {
    /// no socket
    None,
    /// a TCP listener or an unconnected UDP socket
    Listening,
    /// a connected TCP or UDP socket
    Established,
    /// a TCP socket in TIME_WAIT
    Timewait,
}

/// One packet to test, with where it came from (for messages).
struct Input {
    origin: String,
    spec: PacketSpec,
    frame: Vec<u8>,
}

/// What the kernel did with one packet.
#[derive(Clone)]
struct KernelRun {
    retval: u32,
    /// Counter slots that moved, with (packets, bytes) added.
    moved: BTreeMap<u32, (u64, u64)>,
    ns_per_packet: Option<f64>,
}

pub fn run(args: &TestArgs, compiled: &Compiled) -> ExitCode {
    let inputs = match read_inputs(args) {
        Ok(i) => i,
        Err(msg) => {
            eprintln!("sockc: {msg}");
            return ExitCode::from(2);
        }
    };
    let programs = match select_programs(&compiled.module, args) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("sockc: {msg}");
            return ExitCode::from(2);
        }
    };
    let facts = Facts {
        socket: match args.socket {
            SocketArg::None => SocketState::None,
            SocketArg::Listening => SocketState::Listening,
            SocketArg::Established => SocketState::Established,
            SocketArg::Timewait => SocketState::TimeWait,
        },
        ..Facts::default()
    };

    let kernel = if args.eval_only {
        eprintln!("note: evaluator only (--eval-only)");
        None
    } else if !crate::is_root() {
        eprintln!(
            "note: not root: these answers come from the evaluator only; run as root to \
             also run the compiled program in the kernel"
        );
        None
    } else {
        match compiled
            .to_elf()
            .map_err(|e| e.to_string())
            .and_then(|elf| LoadedObject::load(&elf).map_err(|e| e.to_string()))
        {
            Ok(obj) => Some(obj),
            Err(e) => {
                eprintln!("sockc: {e}");
                return ExitCode::from(3);
            }
        }
    };
    let asks_sockets = |p: &Program| p.rules.iter().any(|r| r.cond.is_some());

    let mut disagreements = 0usize;
    let mut json_results = Vec::new();
    for input in &inputs {
        if !args.json {
            println!("{} ({} bytes)", input.spec, input.frame.len());
        }
        for prog in &programs {
            let evaluation = eval::evaluate(&compiled.module, prog, &input.frame, &facts);
            let run = match &kernel {
                Some(obj) => match kernel_run(
                    obj,
                    prog,
                    input,
                    facts.socket,
                    args.repeat,
                    asks_sockets(prog),
                ) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        eprintln!("sockc: {}: {e}", input.origin);
                        return ExitCode::from(3);
                    }
                },
                None => None,
            };
            let disagreement = run
                .as_ref()
                .and_then(|r| compare(prog, &evaluation, r, input.frame.len()));
            if disagreement.is_some() {
                disagreements += 1;
            }
            if args.json {
                json_results.push(result_json(
                    input,
                    prog,
                    &evaluation,
                    run.as_ref(),
                    &disagreement,
                ));
            } else {
                print_result(prog, &evaluation, run.as_ref(), &disagreement);
            }
        }
    }
    if args.json {
        let v = serde_json::Value::Array(json_results);
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    }
    if disagreements > 0 {
        eprintln!(
            "sockc: DISAGREEMENT: kernel and evaluator differ on {disagreements} of {} \
             (packet, program) pairs — this is a compiler bug, please report it with the \
             rule file and packets",
            inputs.len() * programs.len()
        );
        return ExitCode::from(3);
    }
    if kernel.is_some() && inputs.len() * programs.len() > 1 && !args.json {
        eprintln!(
            "kernel and evaluator agree on all {} (packet, program) pairs",
            inputs.len() * programs.len()
        );
    }
    ExitCode::SUCCESS
}

/// Runs the packet in the kernel; for a program with socket conditions, in a fresh
/// private namespace with the socket `state` describes.
fn kernel_run(
    obj: &LoadedObject,
    prog: &Program,
    input: &Input,
    state: SocketState,
    repeat: Option<u32>,
    asks_sockets: bool,
) -> Result<KernelRun, String> {
    if !asks_sockets {
        return run_in_kernel(obj, prog, &input.frame, repeat).map_err(|e| e.to_string());
    }
    let egress = hooks::spec(prog.hook).egress;
    let ends = Endpoints::of_frame(&input.frame, egress);
    let want = match (&ends, state) {
        (_, SocketState::None) => None,
        (Some(e), s) => Some((e, s)),
        (None, s) => {
            return Err(format!(
                "--socket {}: the packet has no complete TCP or UDP header, so no socket can belong to it",
                s.name()
            ))
        }
    };
    let ns = SocketNetns::new().map_err(|e| e.to_string())?;
    ns.run(want, || run_in_kernel(obj, prog, &input.frame, repeat))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

fn read_inputs(args: &TestArgs) -> Result<Vec<Input>, String> {
    let mut texts: Vec<(String, String)> = args
        .packets
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("--packet #{}", i + 1), t.clone()))
        .collect();
    if let Some(path) = &args.packets_file {
        let content = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (n, line) in content.lines().enumerate() {
            let text = line.split('#').next().unwrap_or("").trim();
            if !text.is_empty() {
                texts.push((format!("{}:{}", path.display(), n + 1), text.to_string()));
            }
        }
    }
    if texts.is_empty() {
        return Err(
            "no packets: give --packet \"tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn\" or \
                    --packets FILE"
                .into(),
        );
    }
    texts
        .into_iter()
        .map(|(origin, text)| {
            let spec = parse_packet(&text).map_err(|e| format!("{origin}: {e}\n  {text}"))?;
            let frame = spec.try_build().map_err(|e| format!("{origin}: {e}"))?;
            Ok(Input {
                origin,
                spec,
                frame,
            })
        })
        .collect()
}

fn select_programs<'m>(module: &'m Module, args: &TestArgs) -> Result<Vec<&'m Program>, String> {
    let wanted = args.hook;
    let packet_programs: Vec<&Program> = module
        .programs
        .values()
        .filter(|p| p.hook.spec().test_input == hooks::TestInput::Frame)
        .collect();
    let chosen: Vec<&Program> = packet_programs
        .iter()
        .copied()
        .filter(|p| wanted.is_none_or(|h| p.hook == h))
        .filter(|p| args.iface.as_ref().is_none_or(|i| &p.attach_to == i))
        .collect();
    if chosen.is_empty() {
        let have: Vec<String> = packet_programs.iter().map(|p| hook_label(p)).collect();
        return Err(format!(
            "no program to test{}: the file has {}",
            match (&args.hook, &args.iface) {
                (None, None) => String::new(),
                _ => " matches --hook/--iface".into(),
            },
            if have.is_empty() {
                "no xdp or tc block".into()
            } else {
                have.join(", ")
            }
        ));
    }
    Ok(chosen)
}

fn hook_label(p: &Program) -> String {
    p.hook.spec().label(&p.attach_to)
}

fn run_in_kernel(
    obj: &LoadedObject,
    prog: &Program,
    frame: &[u8],
    repeat: Option<u32>,
) -> Result<KernelRun, sockc_runtime::RuntimeError> {
    let before = obj.counters()?;
    let r = obj.test_run(&prog.symbol, frame, 1)?;
    let after = obj.counters()?;
    let moved = before
        .iter()
        .zip(&after)
        .enumerate()
        .filter(|(_, (b, a))| b != a)
        .map(|(slot, (b, a))| (slot as u32, (a.0 - b.0, a.1 - b.1)))
        .collect();
    let ns_per_packet = match repeat {
        Some(n) => Some(obj.test_run(&prog.symbol, frame, n)?.duration.as_nanos() as f64),
        None => None,
    };
    Ok(KernelRun {
        retval: r.retval,
        moved,
        ns_per_packet,
    })
}

/// `None` when the kernel did what the evaluator says; otherwise what differs.
fn compare(prog: &Program, e: &Evaluation, k: &KernelRun, frame_len: usize) -> Option<String> {
    let mut problems = Vec::new();
    if e.return_code(prog).map(|c| c as u32) != Some(k.retval) {
        problems.push(format!(
            "the kernel returned {} ({}), the evaluator says {}",
            k.retval,
            retval_name(prog, k.retval),
            outcome_name(e.outcome)
        ));
    }
    let expected = e.counter_deltas(prog, frame_len);
    if expected != k.moved {
        let lines = |m: &BTreeMap<u32, (u64, u64)>| -> String {
            m.iter()
                .map(|(s, (p, b))| format!("{} (+{p} pkt, +{b} B)", slot_label(prog, *s)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(format!(
            "counters moved in the kernel: [{}]; the evaluator expects: [{}]",
            lines(&k.moved),
            lines(&expected)
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn slot_label(prog: &Program, slot: u32) -> String {
    if slot == prog.default_counter {
        return format!("line {} default", prog.default_line);
    }
    match prog.rules.iter().find(|r| r.counter == slot) {
        Some(r) => format!("line {}", r.line),
        None => format!("slot {slot}"),
    }
}

fn retval_name(prog: &Program, retval: u32) -> &'static str {
    match prog.hook.spec().verdict_of(retval as i32) {
        Some(v) => verdict_name(v),
        None => "not a verdict of this hook",
    }
}

fn outcome_name(o: Outcome) -> String {
    match o {
        Outcome::Verdict(v) => verdict_name(v).to_string(),
        Outcome::Redirect(a) => a.to_string(),
    }
}

fn decider_text(prog: &Program, e: &Evaluation) -> String {
    match e.decider {
        Decider::Rule(i) => format!("line {}: {}", prog.rules[i].line, prog.rules[i].text),
        Decider::Default => format!(
            "line {}: default {} (no rule matched)",
            prog.default_line,
            verdict_name(prog.default)
        ),
    }
}

fn print_result(
    prog: &Program,
    e: &Evaluation,
    k: Option<&KernelRun>,
    disagreement: &Option<String>,
) {
    println!(
        "  {:<22} {:<6} {}",
        hook_label(prog),
        outcome_name(e.outcome),
        decider_text(prog, e)
    );
    for &i in &e.counted {
        println!(
            "  {:<22} {:<6} line {}: {}",
            "", "count", prog.rules[i].line, prog.rules[i].text
        );
    }
    let source = match (k, disagreement) {
        (None, _) => "(evaluator only)".to_string(),
        (Some(k), None) => format!(
            "kernel and evaluator agree (retval {}){}",
            k.retval,
            k.ns_per_packet
                .map(|ns| format!(", {ns:.0} ns/packet measured by the kernel"))
                .unwrap_or_default()
        ),
        (Some(_), Some(d)) => format!("DISAGREEMENT (evaluator shown above): {d}"),
    };
    println!("  {:<22} {:<6} {source}", "", "");
}

fn result_json(
    input: &Input,
    prog: &Program,
    e: &Evaluation,
    k: Option<&KernelRun>,
    disagreement: &Option<String>,
) -> serde_json::Value {
    let (line, text) = match e.decider {
        Decider::Rule(i) => (prog.rules[i].line, prog.rules[i].text.clone()),
        Decider::Default => (
            prog.default_line,
            format!("default {}", verdict_name(prog.default)),
        ),
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
            "counted_lines": e.counted.iter().map(|&i| prog.rules[i].line).collect::<Vec<_>>(),
        },
        "kernel": k.map(|k| json!({
            "retval": k.retval,
            "verdict": retval_name(prog, k.retval),
            "counters_moved": k.moved.iter().map(|(s, (p, b))| json!({
                "slot": s, "line": slot_label(prog, *s), "packets": p, "bytes": b,
            })).collect::<Vec<_>>(),
            "ns_per_packet": k.ns_per_packet,
        })),
        "agree": k.map(|_| disagreement.is_none()),
        "disagreement": disagreement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> Compiled {
        let src = "set web = { 80, 443 }\nxdp on eth0 {\ncount tcp to *:@web\n\
                   drop tcp to *:22\ndefault allow\n}\n";
        sockc_compiler::compile(src, &Default::default()).0.unwrap()
    }

    /// The comparison is what makes `sockc test` worth trusting: feed it kernel
    /// answers that differ in the verdict, in the deciding counter, in a passed
    /// `count` rule and in the bytes, and check each is caught and named.
    #[test]
    fn compare_catches_every_kind_of_difference() {
        let c = edge();
        let prog = c.module.programs.values().next().unwrap();
        let frame = parse_packet("tcp 1.1.1.1:1 -> 2.2.2.2:443")
            .unwrap()
            .build();
        let e = eval::evaluate(&c.module, prog, &frame, &Facts::default());
        let len = frame.len() as u64;
        let (count_slot, default_slot) = (prog.rules[0].counter, prog.default_counter);
        let agree = KernelRun {
            retval: 2,
            moved: [(count_slot, (1, len)), (default_slot, (1, len))].into(),
            ns_per_packet: None,
        };
        assert_eq!(compare(prog, &e, &agree, frame.len()), None);

        let wrong_verdict = KernelRun {
            retval: 1,
            ..agree.clone()
        };
        let msg = compare(prog, &e, &wrong_verdict, frame.len()).unwrap();
        assert!(
            msg.contains("returned 1 (drop), the evaluator says allow"),
            "{msg}"
        );

        let wrong_rule = KernelRun {
            moved: [(count_slot, (1, len)), (prog.rules[1].counter, (1, len))].into(),
            ..agree.clone()
        };
        let msg = compare(prog, &e, &wrong_rule, frame.len()).unwrap();
        assert!(msg.contains("line 4 (+1 pkt"), "{msg}");

        let missed_count = KernelRun {
            moved: [(default_slot, (1, len))].into(),
            ..agree.clone()
        };
        assert!(compare(prog, &e, &missed_count, frame.len()).is_some());

        let wrong_bytes = KernelRun {
            moved: [(count_slot, (1, len)), (default_slot, (1, len - 1))].into(),
            ..agree.clone()
        };
        assert!(compare(prog, &e, &wrong_bytes, frame.len()).is_some());
    }
}
