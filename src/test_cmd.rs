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

use std::{io::Write, path::PathBuf, process::ExitCode};

use aya_obj::generated::bpf_prog_type;
use clap::{builder::TypedValueParser as _, Args, ValueEnum};
use comfy_table::Table;
use serde_json::json;
use sockc_compiler::{
    diag::escaped,
    hooks::{self, HookKind},
    input::{read_bounded, utf8},
    ir::{Module, Program},
    limits::Limit,
    Compiled,
};
use sockc_runtime::{LoadedObject, RuntimeError};
use sockc_testkit::{
    compare::{compare, moved_between, outcome_name, retval_name, KernelRun, Moves},
    eval::{self, Decider, Evaluation, Facts, SocketState},
    packet::{parse_packet, tc_test_run_refuses, PacketSpec},
    socket_fixture::{Endpoints, SocketNetns},
};

use crate::{
    shared::table,
    test_names::{decider_text, hook_label, RuleNames},
    test_sockets::{self, is_socket_layer, SocketFacts},
};

#[derive(Args)]
pub struct TestArgs {
    /// the rule file
    pub file: PathBuf,
    /// a packet, e.g. "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn", "udp [2001:db8::1]:5353 ->
    /// [2001:db8::2]:53", "icmp 10.0.0.1 -> 10.0.0.2 type 8", "proto 47 10.0.0.1 ->
    /// 10.0.0.2", "arp 10.0.0.1 -> 10.0.0.2"; options: vlan ID, ipopts WORDS, ext HDR,...
    /// (IPv6: hbh, rt, dst, fh, ah), frag OFFSET, mf, payload HEX, ether TYPE, len BYTES,
    /// ct STATE (the packet's conntrack state: new, established, related, invalid,
    /// untracked; without it, the state of a packet conntrack has no entry for),
    /// over-limit (every `limit` bucket is empty; without it, full), over-limit:SPEC[#N]
    /// (the buckets of one limit, e.g. over-limit:10/second,burst=20,per-source; #N: the
    /// N-th rule with that limit in the block), route CLASS (local,
    /// forward, unroutable: where the host's routing sends it; without it, local),
    /// in IFACE / out IFACE (the devices it came in on and goes out of, for netfilter
    /// blocks' `in on` / `out on`; without them, none) (repeatable)
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
    /// also run each packet N times in the kernel and print the kernel-measured
    /// ns/packet (N is 1 to 1000000)
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REPEAT)))]
    pub repeat: Option<u32>,
    /// sk_lookup and sockmap: a declared socket whose slot is empty, so that a
    /// redirect to it drops (repeatable); every other declared socket is registered. As
    /// root, sk_lookup lookups also run in the kernel with a real socket in each
    /// registered slot (a TCP listener or a UDP socket on the declared address, made in
    /// a private network namespace)
    #[arg(long, value_name = "NAME")]
    pub unregistered: Vec<String>,
    /// sockmap: the connection's peer is a local socket in the same socket map, so
    /// `redirect local` can redirect (without it, the peer is elsewhere)
    #[arg(long)]
    pub peer_in_map: bool,
    /// sockmap: the socket has already sent through the TCP stack, after which
    /// `redirect local` never redirects it
    #[arg(long)]
    pub sent_through_stack: bool,
    /// do not load anything into the kernel, even as root
    #[arg(long)]
    pub eval_only: bool,
    /// print the results as JSON on stdout
    #[arg(short, long)]
    pub json: bool,
}

/// The hooks the user writes blocks for, by their `--hook` names (the hook table's
/// `cli_name`): packet hooks run test frames, sk_lookup and sockmap blocks the lookup
/// or message a packet stands for.
fn hook_arg() -> impl clap::builder::TypedValueParser<Value = HookKind> {
    let frame_hooks = || {
        hooks::HOOKS
            .iter()
            .filter(|h| h.block && h.unsupported.is_none())
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
    /// `ct STATE` in the packet: its conntrack state (`None`: no entry).
    ct: Option<sockc_compiler::syntax::ct::CtState>,
    /// `over-limit`, `route CLASS` in the packet.
    extra: crate::test_facts::ExtraFacts,
}

/// What the kernel did with one packet, and with `--repeat` its ns per run.
#[derive(Clone)]
struct Measured {
    run: KernelRun,
    ns_per_packet: Option<f64>,
}

/// The kernel's side of one (packet, program) pair.
#[derive(Clone)]
enum KernelSide {
    Ran(Measured),
    /// Why the kernel could not run this frame at this hook (the evaluator answers).
    NotRun(String),
}

/// Most runs per packet `--repeat` asks for: the kernel's average is steady long
/// before, and a larger count only makes the command slow.
pub const MAX_REPEAT: u32 = 1_000_000;

/// Packets run between two reads of every counter. Reading all counters of a
/// 100,000-rule program takes tens of milliseconds; each packet's own counters are
/// read around it, and the full reads check that nothing else moved.
const BATCH: usize = 4096;

pub fn run(args: &TestArgs, compiled: &Compiled) -> ExitCode {
    let module = &compiled.module;
    let selected = read_inputs(args).and_then(|inputs| {
        let programs = select_programs(module, args)?;
        let facts = SocketFacts::new(
            module,
            &args.unregistered,
            args.peer_in_map,
            args.sent_through_stack,
        )?;
        Ok((inputs, programs, facts))
    });
    if let Ok((inputs, programs, _)) = &selected {
        // Said, not refused: a diff's example may name a bucket only the other file has.
        for i in inputs {
            if let Some(why) = crate::test_facts::unnamed_bucket(&i.extra, programs) {
                note(&format!(
                    "notice: {}: {why}; it changes no answer here",
                    i.origin
                ));
            }
        }
    }
    let (inputs, programs, socket_facts) = match selected {
        Ok(x) => x,
        Err(msg) => {
            eprintln!("sockc: {msg}");
            return ExitCode::from(2);
        }
    };
    let (socket_programs, programs): (Vec<&Program>, Vec<&Program>) =
        programs.into_iter().partition(|p| is_socket_layer(p));
    let facts = Facts {
        socket: match args.socket {
            SocketArg::None => SocketState::None,
            SocketArg::Listening => SocketState::Listening,
            SocketArg::Established => SocketState::Established,
            SocketArg::Timewait => SocketState::TimeWait,
        },
        ..Facts::default()
    };
    // The kernel has no test run for sockmap programs: nothing to load for them alone.
    let kernel_runs = !programs.is_empty()
        || socket_programs
            .iter()
            .any(|p| p.hook.spec().test_input != hooks::TestInput::None);
    let kernel = match kernel_runs.then(|| load_for_kernel(args, compiled)) {
        Some(Ok(k)) => k,
        Some(Err(code)) => return code,
        None => None,
    };
    // evaluations[packet][program]
    let evaluations = evaluate_all(module, &programs, &inputs, &facts);
    // kernel_sides[program][packet]
    let mut kernel_sides: Vec<Vec<KernelSide>> = Vec::new();
    if let Some(obj) = &kernel {
        for (j, prog) in programs.iter().enumerate() {
            let evals: Vec<&Evaluation> = evaluations.iter().map(|e| &e[j]).collect();
            match run_program(obj, prog, &inputs, &evals, facts.socket, args.repeat) {
                Ok(sides) => kernel_sides.push(sides),
                Err(e) => {
                    eprintln!("sockc: {e}");
                    return ExitCode::from(3);
                }
            }
        }
    }
    let packets: Vec<test_sockets::Packet> = inputs
        .iter()
        .map(|i| test_sockets::Packet {
            text: i.spec.to_string(),
            origin: &i.origin,
            frame: &i.frame,
            payload_len: i.spec.payload.len(),
        })
        .collect();
    let socket_answers = match test_sockets::answer_all(
        module,
        &socket_programs,
        &packets,
        &socket_facts,
        kernel.as_ref(),
        args.repeat,
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sockc: {e}");
            return ExitCode::from(3);
        }
    };
    let answers = Answers {
        inputs: &inputs,
        programs: &programs,
        evaluations: &evaluations,
        kernel_sides: &kernel_sides,
        socket_answers: &socket_answers,
    };
    let Ok(tally) = report(args, &answers, kernel.is_some()) else {
        return ExitCode::from(1);
    };
    let pairs = inputs.len() * (programs.len() + socket_programs.len());
    conclude(&tally, pairs, kernel.is_some() && !args.json)
}

/// The loaded object when the kernel takes part: not with `--eval-only` nor without
/// root (saying so, and that `--repeat` then times nothing); exit 3 when it refuses
/// the object.
fn load_for_kernel(args: &TestArgs, compiled: &Compiled) -> Result<Option<LoadedObject>, ExitCode> {
    if args.eval_only {
        note("note: evaluator only (--eval-only)");
        if args.repeat.is_some() {
            note("note: --repeat: no timing with --eval-only (only the kernel is timed)");
        }
        return Ok(None);
    }
    if !crate::shared::privileges::is_root() {
        note(
            "note: not root: these answers come from the evaluator only; run as root to \
             also run the compiled program in the kernel",
        );
        if args.repeat.is_some() {
            note(
                "note: --repeat: no timing: ns/packet is measured by the kernel \
                 (BPF_PROG_TEST_RUN), which needs root; the evaluator is not timed",
            );
        }
        return Ok(None);
    }
    compiled
        .to_elf()
        .map_err(|e| e.to_string())
        .and_then(|elf| LoadedObject::load(&elf).map_err(|e| sockc_runtime::error_chain(&e)))
        .map(Some)
        .map_err(|e| {
            eprintln!("sockc: {e}");
            ExitCode::from(3)
        })
}

/// A notice on stderr, unless `-q`.
fn note(text: &str) {
    if !crate::shared::settings::quiet() {
        eprintln!("{text}");
    }
}

/// Both sides' answers for every (packet, program) pair.
struct Answers<'a> {
    inputs: &'a [Input],
    programs: &'a [&'a Program],
    /// `[packet][program]`
    evaluations: &'a [Vec<Evaluation>],
    /// `[program][packet]`; empty when the kernel took no part.
    kernel_sides: &'a [Vec<KernelSide>],
    /// sk_lookup and sockmap programs, `[packet][program]`.
    socket_answers: &'a [Vec<test_sockets::Answer>],
}

/// What the comparison of all pairs came to.
struct Tally {
    disagreements: usize,
    /// Pairs the kernel could not run (the evaluator answered alone).
    not_run: usize,
}

/// Compares and prints every pair, as text or (with `--json`) as one document;
/// `Err` when stdout could not be written.
fn report(args: &TestArgs, a: &Answers, kernel: bool) -> Result<Tally, ()> {
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
    let mut stdout = std::io::BufWriter::new(crate::shared::stdout::Checked);
    for (i, input) in a.inputs.iter().enumerate() {
        if !args.json {
            let _ = writeln!(stdout, "{} ({} bytes)", input.spec, input.frame.len());
        }
        let mut results = table::new(["hook", "verdict", "rule"], &[]);
        for (j, prog) in a.programs.iter().enumerate() {
            let evaluation = &a.evaluations[i][j];
            let (run, why_not) = match a.kernel_sides.get(j).map(|sides| &sides[i]) {
                Some(KernelSide::Ran(r)) => (Some(r), None),
                Some(KernelSide::NotRun(why)) => {
                    tally.not_run += 1;
                    (None, Some(why.as_str()))
                }
                None => (None, None),
            };
            let disagreement =
                run.and_then(|r| compare(prog, evaluation, &r.run, input.frame.len()));
            tally.disagreements += usize::from(disagreement.is_some());
            if args.json {
                json_results.push(result_json(
                    input,
                    prog,
                    &names[j],
                    evaluation,
                    run,
                    why_not,
                    &disagreement,
                ));
            } else {
                add_result(&mut results, prog, evaluation, run, why_not, &disagreement);
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
        crate::shared::json::emit(json!({
            "results": json_results,
            "kernel": kernel,
            "disagreements": tally.disagreements,
        }));
    }
    stdout.flush().map_err(|_| ())?;
    Ok(tally)
}

/// The verdict over all `pairs`: a disagreement exits 3; otherwise success, with a
/// line on how many pairs both sides answered when `summary` (the kernel ran, text
/// output).
fn conclude(t: &Tally, pairs: usize, summary: bool) -> ExitCode {
    if t.disagreements > 0 {
        eprintln!(
            "sockc: DISAGREEMENT: kernel and evaluator differ on {} of {pairs} \
             (packet, program) pairs — this is a compiler bug, please report it with the \
             rule file and packets",
            t.disagreements
        );
        return ExitCode::from(3);
    }
    if summary && pairs > 1 && !crate::shared::settings::quiet() {
        let ran = pairs - t.not_run;
        if t.not_run == 0 {
            eprintln!("kernel and evaluator agree on all {ran} (packet, program) pairs");
        } else {
            eprintln!(
                "kernel and evaluator agree on all {ran} (packet, program) pairs the kernel \
                 ran; the kernel cannot run {} (the evaluator answered alone)",
                t.not_run
            );
        }
    }
    ExitCode::SUCCESS
}

/// The evaluator's answer for every (packet, program) pair, `[packet][program]`, on
/// every core, each packet trying only the rules its addresses can match
/// ([`eval::RuleIndex`]; a 100,000-rule program read rule by rule costs about a
/// millisecond a packet).
fn evaluate_all(
    module: &Module,
    programs: &[&Program],
    inputs: &[Input],
    facts: &Facts,
) -> Vec<Vec<Evaluation>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = inputs.len().div_ceil(threads).max(1);
    // Each packet tries only the rules that can match its addresses.
    let indexes: Vec<eval::RuleIndex> = programs.iter().map(|p| eval::RuleIndex::new(p)).collect();
    let indexes = &indexes;
    std::thread::scope(|scope| {
        let workers: Vec<_> = inputs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|input| {
                            programs
                                .iter()
                                .zip(indexes)
                                .map(|(p, index)| {
                                    let facts = &Facts {
                                        ct: input.ct,
                                        over_limit: input.extra.over_limit,
                                        over: input.extra.over.clone(),
                                        route: input.extra.route,
                                        iif: input.extra.iif,
                                        oif: input.extra.oif,
                                        ..facts.clone()
                                    };
                                    eval::evaluate_indexed(module, p, index, &input.frame, facts)
                                })
                                .collect()
                        })
                        .collect::<Vec<Vec<Evaluation>>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("the evaluator does not panic"))
            .collect()
    })
}

/// Runs every packet through one program in the kernel. Around each packet the
/// counters the evaluator expects to move are read; around each batch of packets
/// every counter is read (in bulk), and if more moved than the packets' own reads
/// account for, the batch is searched (halving it, re-running with full reads) for
/// the packets that moved other counters, whose full moves then replace theirs.
fn run_program(
    obj: &LoadedObject,
    prog: &Program,
    inputs: &[Input],
    evals: &[&Evaluation],
    state: SocketState,
    repeat: Option<u32>,
) -> Result<Vec<KernelSide>, String> {
    let runner = Runner {
        obj,
        prog,
        state,
        // A `route` test runs in a fresh namespace too, where it answers `local`.
        asks_sockets: prog
            .rules
            .iter()
            .any(|r| r.cond.is_some() || r.m.route.is_some()),
        limits: prog.rules.iter().any(|r| r.m.limit.is_some()),
    };
    let at_tc = hooks::spec(prog.hook).prog_type == bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS;
    let asks_ct = prog.rules.iter().any(|r| r.m.ct.is_some());
    let at_netfilter = hooks::spec(prog.hook).target == hooks::Target::Netfilter;
    let chain = |e: RuntimeError| sockc_runtime::error_chain(&e);
    let mut sides: Vec<KernelSide> = Vec::with_capacity(inputs.len());
    for (batch_no, batch) in inputs.chunks(BATCH).enumerate() {
        let before = obj.counters().map_err(chain)?;
        let mut ran = Vec::new();
        for (k, input) in batch.iter().enumerate() {
            let i = batch_no * BATCH + k;
            if asks_ct {
                let facts = Facts {
                    ct: input.ct,
                    ..Facts::default()
                };
                let state = eval::ct_state(&evals[i].headers, &facts);
                if let Some(why) = crate::test_ct::kernel_cannot_run(at_netfilter, input.ct, state)
                {
                    sides.push(KernelSide::NotRun(why));
                    continue;
                }
            }
            let routes = prog.rules.iter().any(|r| r.m.route.is_some());
            let per_source = prog
                .rules
                .iter()
                .any(|r| r.m.limit.is_some_and(|l| l.limit.per_source));
            if let Some(why) = crate::test_facts::not_run(&input.extra, per_source, routes) {
                sides.push(KernelSide::NotRun(why));
                continue;
            }
            let (tests_in, tests_out) = (
                prog.rules.iter().any(|r| r.m.iif.is_some()),
                prog.rules.iter().any(|r| r.m.oif.is_some()),
            );
            if let Some(why) = crate::test_facts::device_not_run(&input.extra, tests_in, tests_out)
            {
                sides.push(KernelSide::NotRun(why));
                continue;
            }
            if let Some(why) = at_tc.then(|| tc_test_run_refuses(&input.frame)).flatten() {
                sides.push(KernelSide::NotRun(why));
                continue;
            }
            let slots: Vec<u32> = evals[i]
                .counter_deltas(prog, input.frame.len())
                .into_keys()
                .collect();
            let run = runner.run(input, Some(&slots))?;
            sides.push(KernelSide::Ran(Measured {
                run,
                ns_per_packet: None,
            }));
            ran.push(i);
        }
        let after = obj.counters().map_err(chain)?;
        if moved_between(&before, &after) != sum_moved(ran.iter().map(|&i| &sides[i])) {
            runner.find_other_moves(&ran, inputs, &mut sides)?;
        }
        if let Some(n) = repeat {
            for &i in &ran {
                let ns = runner.timed(&inputs[i], n)?;
                if let KernelSide::Ran(run) = &mut sides[i] {
                    run.ns_per_packet = Some(ns);
                }
            }
        }
    }
    Ok(sides)
}

/// The moves of several runs added up.
fn sum_moved<'a>(sides: impl Iterator<Item = &'a KernelSide>) -> Moves {
    let mut total = Moves::new();
    for side in sides {
        if let KernelSide::Ran(r) = side {
            for (slot, (p, b)) in &r.run.moved {
                let t = total.entry(*slot).or_default();
                *t = (t.0 + p, t.1 + b);
            }
        }
    }
    total
}

/// Runs packets through one loaded program; for a program with socket conditions,
/// each run happens in a fresh private namespace holding the socket `state` says.
struct Runner<'a> {
    obj: &'a LoadedObject,
    prog: &'a Program,
    state: SocketState,
    asks_sockets: bool,
    /// The program has `limit` tests: its buckets are refilled before every run.
    limits: bool,
}

impl Runner<'_> {
    /// One run; reads the counter `slots` around it (every counter when `None`) and
    /// records those that moved.
    fn run(&self, input: &Input, slots: Option<&[u32]>) -> Result<KernelRun, String> {
        let obj = self.obj;
        let read = move || -> Result<Vec<(u64, u64)>, RuntimeError> {
            match slots {
                Some(s) => s.iter().map(|&slot| obj.counter(slot)).collect(),
                None => obj.counters(),
            }
        };
        self.in_place(input, move || {
            match (self.limits, input.extra.over_limit) {
                (true, false) => obj.refill_limits()?,
                (true, true) => obj.empty_limits(&[])?,
                (false, _) => {}
            }
            let before = read()?;
            let r = obj.test_run(&self.prog.symbol, &input.frame, 1)?;
            let after = read()?;
            let moved = moved_between(&before, &after)
                .into_iter()
                .map(|(k, v)| (slots.map_or(k, |s| s[k as usize]), v))
                .collect();
            Ok(KernelRun {
                retval: r.retval,
                moved,
            })
        })
    }

    /// The kernel's ns per run, over `n` runs.
    fn timed(&self, input: &Input, n: u32) -> Result<f64, String> {
        self.in_place(input, || {
            self.obj
                .test_run(&self.prog.symbol, &input.frame, n)
                .map(|r| r.duration.as_nanos() as f64)
        })
    }

    /// Runs `f` where the program should run for `input`: here, or in a private
    /// namespace holding the packet's socket.
    fn in_place<T: Send>(
        &self,
        input: &Input,
        f: impl FnOnce() -> Result<T, RuntimeError> + Send,
    ) -> Result<T, String> {
        let chain =
            |e: &RuntimeError| format!("{}: {}", input.origin, sockc_runtime::error_chain(e));
        if !self.asks_sockets {
            return f().map_err(|e| chain(&e));
        }
        let egress = hooks::spec(self.prog.hook).egress;
        let ends = Endpoints::of_frame(&input.frame, egress);
        let want = match (&ends, self.state) {
            (_, SocketState::None) => None,
            (Some(e), s) => Some((e, s)),
            (None, s) => {
                return Err(format!(
                    "{}: --socket {}: the packet has no complete TCP or UDP header, so no \
                     socket can belong to it",
                    input.origin,
                    s.name()
                ))
            }
        };
        let ns = SocketNetns::new().map_err(|e| e.to_string())?;
        ns.run(want, f)
            .map_err(|e| e.to_string())?
            .map_err(|e| chain(&e))
    }

    /// Some of the packets `ran` moved counters their own reads did not cover: find
    /// them by re-running halves between full reads, and record their full moves.
    fn find_other_moves(
        &self,
        ran: &[usize],
        inputs: &[Input],
        sides: &mut [KernelSide],
    ) -> Result<(), String> {
        if let [i] = ran {
            let full = self.run(&inputs[*i], None)?;
            if let KernelSide::Ran(r) = &mut sides[*i] {
                r.run.moved = full.moved;
            }
            return Ok(());
        }
        let chain = |e: RuntimeError| sockc_runtime::error_chain(&e);
        let (left, right) = ran.split_at(ran.len() / 2);
        for half in [left, right] {
            let before = self.obj.counters().map_err(chain)?;
            for &i in half {
                self.run(&inputs[i], Some(&[]))?;
            }
            let after = self.obj.counters().map_err(chain)?;
            if moved_between(&before, &after) != sum_moved(half.iter().map(|&i| &sides[i])) {
                self.find_other_moves(half, inputs, sides)?;
            }
        }
        Ok(())
    }
}

fn read_inputs(args: &TestArgs) -> Result<Vec<Input>, String> {
    let mut texts: Vec<(String, String)> = args
        .packets
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("--packet #{}", i + 1), t.clone()))
        .collect();
    if let Some(path) = &args.packets_file {
        let limit = Limit::PacketsFileBytes;
        let content = read_bounded(
            path,
            limit,
            crate::shared::settings::settings().limits.get(limit),
        )
        .map_err(|e| e.to_string())
        .and_then(|bytes| utf8(bytes).map_err(|e| e.to_string()))
        .map_err(|e| format!("cannot read {}: {e}", crate::shared::input::shown(path)))?;
        for (n, line) in content.lines().enumerate() {
            let text = line.split('#').next().unwrap_or("").trim();
            if !text.is_empty() {
                texts.push((
                    format!("{}:{}", crate::shared::input::shown(path), n + 1),
                    text.to_string(),
                ));
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
            let (text, ct) = crate::test_ct::split_ct(&text)
                .map_err(|e| format!("{origin}: {}", escaped(&e)))?;
            let (text, extra) = crate::test_facts::split_facts(&text)
                .map_err(|e| format!("{origin}: {}", escaped(&e)))?;
            let spec = parse_packet(&text).map_err(|e| {
                // The line may hold anything: no raw control characters to the terminal.
                let (e, text) = (escaped(&e), escaped(&text));
                format!("{origin}: {e}\n  {text}")
            })?;
            let frame = spec.try_build().map_err(|e| format!("{origin}: {e}"))?;
            Ok(Input {
                origin,
                spec,
                frame,
                ct,
                extra,
            })
        })
        .collect()
}

fn select_programs<'m>(module: &'m Module, args: &TestArgs) -> Result<Vec<&'m Program>, String> {
    let wanted = args.hook;
    let packet_programs: Vec<&Program> = module
        .programs
        .values()
        .filter(|p| p.hook.spec().test_input == hooks::TestInput::Frame || is_socket_layer(p))
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
                "no xdp, tc, netfilter, sk_lookup or sockmap block".into()
            } else {
                have.join(", ")
            }
        ));
    }
    Ok(chosen)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> Compiled {
        let src = "set web = { 80, 443 }\nxdp on eth0 {\ncount tcp to *:@web\n\
                   drop tcp to *:22\ndefault allow\n}\n";
        sockc_compiler::compile(src, &Default::default()).0.unwrap()
    }

    /// Whether kernel tests run here: as root; otherwise they are skipped, or fail
    /// under `SOCKC_KERNEL_TESTS=require`.
    fn kernel() -> bool {
        if crate::shared::privileges::is_root() {
            return true;
        }
        assert!(
            std::env::var("SOCKC_KERNEL_TESTS").as_deref() != Ok("require"),
            "SOCKC_KERNEL_TESTS=require but not root"
        );
        println!("SKIP (not root)");
        false
    }

    /// Counters are read per packet only where the evaluator expects them to move,
    /// and per batch all at once: a packet that moves another counter must still be
    /// caught, and its move found. Here the evaluator's answer for one packet of six is
    /// made wrong (it names the default), so the kernel moves a counter nobody read
    /// around that packet: the batch check must notice, find that packet and record
    /// its real move, which `compare` then reports.
    #[test]
    fn a_counter_moved_outside_the_expected_ones_is_found() {
        if !kernel() {
            return;
        }
        let c = edge();
        let prog = c.module.programs.values().next().unwrap();
        let obj = LoadedObject::load(&c.to_elf().unwrap()).unwrap();
        let inputs: Vec<Input> = (0..6)
            .map(|i| {
                let spec = parse_packet(&format!("tcp 10.0.0.1:{i} -> 10.0.0.2:22")).unwrap();
                Input {
                    origin: format!("#{i}"),
                    frame: spec.build(),
                    spec,
                    ct: None,
                    extra: Default::default(),
                }
            })
            .collect();
        let mut evaluations: Vec<Evaluation> = inputs
            .iter()
            .map(|input| eval::evaluate(&c.module, prog, &input.frame, &Facts::default()))
            .collect();
        assert_eq!(evaluations[4].decider, Decider::Rule(1));
        evaluations[4].decider = Decider::Default;
        let evals: Vec<&Evaluation> = evaluations.iter().collect();
        let sides = run_program(&obj, prog, &inputs, &evals, SocketState::None, None).unwrap();
        let rule_slot = prog.rules[1].counter;
        for (i, side) in sides.iter().enumerate() {
            let KernelSide::Ran(Measured { run, .. }) = side else {
                panic!("packet {i} did not run");
            };
            let len = inputs[i].frame.len() as u64;
            assert_eq!(
                run.moved,
                Moves::from([(rule_slot, (1, len))]),
                "packet {i}"
            );
            let wrong = compare(prog, evals[i], run, inputs[i].frame.len());
            assert_eq!(wrong.is_some(), i == 4, "packet {i}: {wrong:?}");
        }
    }
}
