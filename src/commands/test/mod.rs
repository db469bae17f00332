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
//!
//! The parts: [`inputs`] reads the packets (with their `ct`, `over-limit`, `route`
//! and device options: [`ct`], [`facts`]); [`evaluate`] is the evaluator's side on
//! every core, [`kernel`] the kernel's; [`sockets`] answers sk_lookup and sockmap
//! blocks (the kernel side of a lookup in [`lookup`]); [`report`] compares and prints
//! every (packet, program) pair, naming rules as [`names`] does.

mod ct;
mod evaluate;
mod facts;
mod inputs;
mod kernel;
mod lookup;
mod names;
mod report;
mod sockets;

use std::{path::PathBuf, process::ExitCode};

use clap::{builder::TypedValueParser as _, Args, ValueEnum};
use sockc_compiler::{
    hooks::{self, HookKind},
    ir::{Module, Program},
    Compiled,
};
use sockc_runtime::LoadedObject;
use sockc_testkit::eval::{Facts, SocketState};

use crate::shared::stderr::errln;
use crate::shared::{build::build, settings::quiet};
use inputs::{read_inputs, Input};
use names::hook_label;
use report::{conclude, report, Answers};
use sockets::{is_socket_layer, SocketFacts};

#[derive(Args)]
pub struct TestArgs {
    /// the rule file
    pub file: PathBuf,
    /// a packet, e.g. "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn", "udp [2001:db8::1]:5353 ->
    /// [2001:db8::2]:53", "icmp 10.0.0.1 -> 10.0.0.2 type 8", "proto 47 10.0.0.1 ->
    /// 10.0.0.2", "arp 10.0.0.1 -> 10.0.0.2"; options: vlan ID, ipopts WORDS, ext HDR,...
    /// (IPv6: hbh, rt, dst, fh, ah), frag OFFSET, mf, payload HEX, ether TYPE, ttl N
    /// (the IPv4 TTL or IPv6 hop limit; without it, 64), dscp N and ecn N (the TOS byte or
    /// traffic class's two fields; without them, 0), length N (the IP packet's length,
    /// padded with zeros; without it, its own), len BYTES,
    /// ct STATE (the packet's conntrack state: new, established, related, invalid,
    /// untracked; without it, the state of a packet conntrack has no entry for),
    /// over-limit (every `limit` bucket is empty; without it, full), over-limit:SPEC[#N]
    /// (the buckets of one limit, e.g. over-limit:10/second,burst=20,per-source; #N: the
    /// N-th rule with that limit in the block), over-limit:reject (the limits of
    /// `reject`'s ICMP answers have no room: the answer becomes a drop; without it,
    /// every answer is sent; over-limit says it too), route CLASS (local,
    /// forward, unroutable: where the host's routing sends it; without it, local),
    /// in IFACE / out IFACE (the devices it came in on and goes out of, for netfilter
    /// blocks' `in on` / `out on`; without them, none), in-index N / out-index N
    /// (their indexes, for `in index` / `out index`; without them, 1 for lo and 0,
    /// which no device has, for any other) (repeatable)
    #[arg(long = "packet", value_name = "PACKET")]
    pub packets: Vec<String>,
    /// read packets from FILE, one per line (a `#` that starts a word starts a comment;
    /// blank lines ignored)
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

/// Most runs per packet `--repeat` asks for: the kernel's average is steady long
/// before, and a larger count only makes the command slow.
pub const MAX_REPEAT: u32 = 1_000_000;

pub fn run(args: &TestArgs) -> ExitCode {
    match build(&args.file) {
        Ok(c) => test(args, &c),
        Err(code) => code,
    }
}

/// Every packet through every program chosen, by the evaluator and (as root) the
/// kernel, each pair compared and printed; exit 2 for bad packets or choices, 3 for a
/// disagreement or a kernel failure.
fn test(args: &TestArgs, compiled: &Compiled) -> ExitCode {
    let module = &compiled.module;
    let (inputs, programs, socket_facts) = match select(args, module) {
        Ok(x) => x,
        Err(msg) => {
            errln!("sockc: {msg}");
            return ExitCode::from(2);
        }
    };
    let (socket_programs, programs): (Vec<&Program>, Vec<&Program>) =
        programs.into_iter().partition(|p| is_socket_layer(p));
    let facts = Facts {
        socket: socket_state(args.socket),
        cgroup_root: sockc_runtime::cgroup::cgroup2_root()
            .map(|p| p.to_string_lossy().into_owned()),
        ..Facts::default()
    };
    let kernel = match kernel::take_part(args, compiled, &programs, &socket_programs) {
        Ok(k) => k,
        Err(code) => return code,
    };
    // evaluations[packet][program]
    let evaluations = evaluate::all(module, &programs, &inputs, &facts);
    let kernel_sides = kernel.as_ref().map_or(Ok(Vec::new()), |obj| {
        kernel::run_all(
            obj,
            &programs,
            &inputs,
            &evaluations,
            facts.socket,
            args.repeat,
        )
    });
    let kernel_sides = match kernel_sides {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let socket_answers = match socket_answers(
        args,
        module,
        &socket_programs,
        &inputs,
        &socket_facts,
        kernel.as_ref(),
    ) {
        Ok(a) => a,
        Err(e) => return failed(&e),
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

/// The packets, the programs they go through, and what the socket layer knows; a
/// notice for each `over-limit:` bucket no program has.
fn select<'m>(
    args: &TestArgs,
    module: &'m Module,
) -> Result<(Vec<Input>, Vec<&'m Program>, SocketFacts), String> {
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
            if let Some(why) = facts::unnamed_bucket(&i.extra, programs) {
                note(&format!(
                    "notice: {}: {why}; it changes no answer here",
                    i.origin
                ));
            }
        }
    }
    selected
}

/// A kernel run that could not be made: exit 3.
fn failed(e: &str) -> ExitCode {
    errln!("sockc: {e}");
    ExitCode::from(3)
}

fn socket_state(arg: SocketArg) -> SocketState {
    match arg {
        SocketArg::None => SocketState::None,
        SocketArg::Listening => SocketState::Listening,
        SocketArg::Established => SocketState::Established,
        SocketArg::Timewait => SocketState::TimeWait,
    }
}

/// The sk_lookup and sockmap programs' answers, `[packet][program]`.
fn socket_answers(
    args: &TestArgs,
    module: &Module,
    programs: &[&Program],
    inputs: &[Input],
    facts: &SocketFacts,
    kernel: Option<&LoadedObject>,
) -> Result<Vec<Vec<sockets::Answer>>, String> {
    let packets: Vec<sockets::Packet> = inputs
        .iter()
        .map(|i| sockets::Packet {
            text: i.spec.to_string(),
            origin: &i.origin,
            frame: &i.frame,
            payload_len: i.spec.payload.len(),
            uid: i.extra.uid,
            gid: i.extra.gid,
            cgroup: i.extra.cgroup.clone(),
            comm: i.extra.comm,
        })
        .collect();
    sockets::answer_all(module, programs, &packets, facts, kernel, args.repeat)
}

/// A notice on stderr, unless `-q`.
fn note(text: &str) {
    if !quiet() {
        errln!("{text}");
    }
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
                "no xdp, tc, netfilter, sk_lookup, sockmap or cgroup block".into()
            } else {
                have.join(", ")
            }
        ));
    }
    Ok(chosen)
}
