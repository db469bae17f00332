//! The kernel's side of `sockc test`: the compiled object loaded (as root, not with
//! `--eval-only`), and every packet run through each packet-hook program with
//! `BPF_PROG_TEST_RUN`, the deciding rule read from the rule counters.
//!
//! Invariant: around each packet the counters the evaluator expects to move are read,
//! around each batch all of them, and a batch where more moved than its packets'
//! reads account for is searched until every packet's full moves are known; a packet
//! a test run cannot give what it asks for (a conntrack state, a route, a device, a
//! single `limit` bucket, a frame TC refuses) is the evaluator's alone, and says why.

use std::process::ExitCode;

use aya_obj::generated::bpf_prog_type;
use sockc_compiler::{hooks, ir::Program, Compiled};
use sockc_runtime::{LoadedObject, RuntimeError};
use sockc_testkit::{
    compare::{moved_between, KernelRun, Moves},
    eval::{self, Evaluation, Facts, SocketState},
    packet::tc_test_run_refuses,
    socket_fixture::{Endpoints, SocketNetns},
};

use super::{ct, facts, inputs::Input, note, TestArgs};
use crate::shared::privileges::is_root;
use crate::shared::stderr::errln;

/// What the kernel did with one packet, and with `--repeat` its ns per run.
#[derive(Clone)]
pub struct Measured {
    pub run: KernelRun,
    pub ns_per_packet: Option<f64>,
}

/// The kernel's side of one (packet, program) pair.
#[derive(Clone)]
pub enum KernelSide {
    Ran(Measured),
    /// Why the kernel could not run this frame at this hook (the evaluator answers).
    NotRun(String),
}

/// Packets run between two reads of every counter. Reading all counters of a
/// 100,000-rule program takes tens of milliseconds; each packet's own counters are
/// read around it, and the full reads check that nothing else moved.
const BATCH: usize = 4096;

/// The loaded object when the kernel takes part: some program has a test run (the
/// kernel has none for sockmap programs alone), and [`load`] loads it.
pub fn take_part(
    args: &TestArgs,
    compiled: &Compiled,
    programs: &[&Program],
    socket_programs: &[&Program],
) -> Result<Option<LoadedObject>, ExitCode> {
    let kernel_runs = !programs.is_empty()
        || socket_programs
            .iter()
            .any(|p| p.hook.spec().test_input != hooks::TestInput::None);
    if !kernel_runs {
        return Ok(None);
    }
    load(args, compiled)
}

/// The loaded object when the kernel takes part: not with `--eval-only` nor without
/// root (saying so, and that `--repeat` then times nothing); exit 3 when it refuses
/// the object.
fn load(args: &TestArgs, compiled: &Compiled) -> Result<Option<LoadedObject>, ExitCode> {
    if args.eval_only {
        note("note: evaluator only (--eval-only)");
        if args.repeat.is_some() {
            note("note: --repeat: no timing with --eval-only (only the kernel is timed)");
        }
        return Ok(None);
    }
    if !is_root() {
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
            errln!("sockc: {e}");
            ExitCode::from(3)
        })
}

/// Every program's kernel side, `[program][packet]`; `evaluations` is
/// `[packet][program]`.
pub fn run_all(
    obj: &LoadedObject,
    programs: &[&Program],
    inputs: &[Input],
    evaluations: &[Vec<Evaluation>],
    state: SocketState,
    repeat: Option<u32>,
) -> Result<Vec<Vec<KernelSide>>, String> {
    let mut all = Vec::with_capacity(programs.len());
    for (j, prog) in programs.iter().enumerate() {
        let evals: Vec<&Evaluation> = evaluations.iter().map(|e| &e[j]).collect();
        all.push(run_program(obj, prog, inputs, &evals, state, repeat)?);
    }
    Ok(all)
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
        limits: prog.rules.iter().any(|r| r.m.limit().is_some()),
        answers: obj.metadata().answers.is_some(),
    };
    let gaps = Gaps::of(prog);
    let chain = |e: RuntimeError| sockc_runtime::error_chain(&e);
    let mut sides: Vec<KernelSide> = Vec::with_capacity(inputs.len());
    for (batch_no, batch) in inputs.chunks(BATCH).enumerate() {
        let before = obj.counters().map_err(chain)?;
        let mut ran = Vec::new();
        for (k, input) in batch.iter().enumerate() {
            let i = batch_no * BATCH + k;
            if let Some(why) = gaps.why_not(input, evals[i]) {
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
            runner.time(&ran, inputs, n, &mut sides)?;
        }
    }
    Ok(sides)
}

/// What a test run cannot give a program, by what its rules test.
struct Gaps {
    at_tc: bool,
    at_netfilter: bool,
    asks_ct: bool,
    routes: bool,
    per_source: bool,
    tests_in: bool,
    tests_out: bool,
    tests_mark: bool,
    tests_owner: bool,
    tests_cgroup: bool,
    /// The cgroup of the test run's stand-in socket: this process's at TC and cgroup
    /// hooks, none at netfilter.
    run_cgroup: Option<String>,
}

impl Gaps {
    fn of(prog: &Program) -> Gaps {
        let any = |f: &dyn Fn(&sockc_compiler::ir::Rule) -> bool| prog.rules.iter().any(f);
        Gaps {
            at_tc: hooks::spec(prog.hook).prog_type == bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS,
            at_netfilter: hooks::spec(prog.hook).target == hooks::Target::Netfilter,
            // A test of the entry needs one, which only a tracked state has.
            asks_ct: any(&|r| r.m.ct.is_some() || r.m.rare().ct_entry.is_some()),
            routes: any(&|r| r.m.route.is_some()),
            per_source: any(&|r| r.m.limit().is_some_and(|l| l.limit.per_source)),
            tests_in: any(&|r| r.m.rare().iif.is_some()),
            tests_out: any(&|r| r.m.rare().oif.is_some()),
            tests_mark: any(&|r| r.m.rare().mark.is_some()),
            tests_owner: any(&|r| r.m.rare().owner.is_some()),
            tests_cgroup: any(&|r| r.m.rare().cgroup.is_some()),
            run_cgroup: match hooks::spec(prog.hook).caps.cgroup {
                hooks::CgroupCap::Skb => {
                    sockc_runtime::cgroup::own_cgroup().map(|p| p.to_string_lossy().into_owned())
                }
                _ => None,
            },
        }
    }

    /// Why the kernel cannot run `input` in this program (the evaluator answers
    /// alone), if it cannot.
    fn why_not(&self, input: &Input, evaluation: &Evaluation) -> Option<String> {
        if self.asks_ct {
            let facts = Facts {
                ct: input.ct,
                ..Facts::default()
            };
            let state = eval::ct_state(&evaluation.headers, &facts);
            let why = ct::kernel_cannot_run(self.at_netfilter, input.ct, state);
            if why.is_some() {
                return why;
            }
        }
        facts::not_run(&input.extra, self.per_source, self.routes)
            .or_else(|| facts::device_not_run(&input.extra, self.tests_in, self.tests_out))
            .or_else(|| facts::mark_not_run(&input.extra, self.tests_mark))
            .or_else(|| facts::owner_not_run(&input.extra, self.tests_owner, self.at_tc))
            .or_else(|| {
                let run = self.run_cgroup.as_deref();
                facts::cgroup_not_run(&input.extra, self.tests_cgroup, run)
            })
            .or_else(|| {
                self.at_tc
                    .then(|| tc_test_run_refuses(&input.frame))
                    .flatten()
            })
    }
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
    /// The object has answer limits: they are refilled before every run too (or
    /// emptied, for an `over-limit:reject` packet), and the answers they refuse read
    /// around it.
    answers: bool,
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
        let answers = self.answers;
        self.in_place(input, move || {
            if self.limits || answers {
                obj.refill_limits()?;
                if input.extra.over_limit {
                    obj.empty_limits(&[])?;
                } else if input.extra.answers_over {
                    obj.empty_answer_limits()?;
                }
            }
            let limited = || match answers {
                true => obj.answers_limited(),
                false => Ok([0; 2]),
            };
            let (before, limited_before) = (read()?, limited()?);
            let r = obj.test_run(&self.prog.symbol, &input.frame, 1)?;
            let (after, limited_after) = (read()?, limited()?);
            let moved = moved_between(&before, &after)
                .into_iter()
                .map(|(k, v)| (slots.map_or(k, |s| s[k as usize]), v))
                .collect();
            Ok(KernelRun {
                retval: r.retval,
                moved,
                answers_limited: [0, 1].map(|i| limited_after[i] - limited_before[i]),
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

    /// `--repeat`: the kernel's ns per run of each packet of `ran`, over `n` runs.
    fn time(
        &self,
        ran: &[usize],
        inputs: &[Input],
        n: u32,
        sides: &mut [KernelSide],
    ) -> Result<(), String> {
        for &i in ran {
            let ns = self.timed(&inputs[i], n)?;
            if let KernelSide::Ran(run) = &mut sides[i] {
                run.ns_per_packet = Some(ns);
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use sockc_testkit::{compare::compare, eval::Decider, packet::parse_packet};

    use super::*;

    fn edge() -> Compiled {
        let src = "set web = { 80, 443 }\nxdp on eth0 {\ncount tcp to *:@web\n\
                   drop tcp to *:22\ndefault allow\n}\n";
        sockc_compiler::compile(src, &Default::default()).0.unwrap()
    }

    /// Whether kernel tests run here: as root; otherwise they are skipped, or fail
    /// under `SOCKC_KERNEL_TESTS=require`.
    fn kernel() -> bool {
        if is_root() {
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
