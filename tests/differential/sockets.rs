//! Differential test of socket conditions: the compiled programs, run in the kernel
//! against a real socket table, agree with the evaluator given the socket as a fact.
//!
//! Proptest draws rule files that mix conditioned rules (`if socket exists`, `if no
//! socket`, `if listening`, `if established`; TCP and UDP, IPv4, IPv6 and both, with
//! and without addresses and ports) with plain ones, in XDP, TC ingress and TC egress
//! blocks, and packets whose ends come from the same small pools as the rules, so
//! rules and sockets meet. Each packet carries a socket state (none, listening,
//! established, TIME_WAIT). For every program the packet runs through
//! (`BPF_PROG_TEST_RUN`, at `-O2` and at `-O0`), the run happens inside a private
//! network namespace in which exactly that socket exists for the packet, oriented for
//! the program's hook ([`SocketNetns`]: bound to the destination at ingress hooks, to
//! the source at egress); the evaluator gets the same state as its fact. Return code
//! and every counter slot must match, as in `tests/differential/`. A packet whose
//! ends no socket can have (a multicast address, port 0) runs with no socket. Packets
//! without ports (ICMP, truncated TCP) check that conditions never match them.
//!
//! Knobs: `SOCKC_DIFF_SOCKET_CASES` (rule files, default 40), `SOCKC_DIFF_SEED`. Root
//! only (see `tests/common`).

use std::{cell::RefCell, fmt};

use proptest::{
    collection::vec,
    option,
    prelude::*,
    sample::select,
    test_runner::{Config, RngSeed, TestCaseError, TestRunner},
};
use sockc_compiler::{bpf::maps::hex, hooks, opt::OptLevel, Compiled, Options};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    compare::{compare, moved_between, KernelRun},
    eval::{evaluate, Facts, SocketState},
    packet::parse_packet,
    socket_fixture::{Endpoints, FixtureError, SocketNetns},
};

use crate::common;

const DEFAULT_CASES: u32 = 40;

const V4: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.0/24", "192.0.2.0/25"];
const V6: [&str; 3] = ["2001:db8::1", "2001:db8::2", "2001:db8::/64"];
const PORTS: [&str; 4] = ["80", "443", "1000-2000", "40000"];
const HOST4: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.77", "192.0.2.200"];
const HOST6: [&str; 3] = ["2001:db8::1", "2001:db8::2", "2001:db8:1::9"];
const HOST_PORTS: [u16; 6] = [80, 443, 1000, 1500, 2001, 40000];
const CONDS: [&str; 4] = ["socket exists", "no socket", "listening", "established"];

#[derive(Clone, Debug)]
struct Rule {
    action: &'static str,
    proto: Option<&'static str>,
    v6: Option<bool>,
    src: Option<(usize, Option<usize>)>,
    dst: Option<(usize, Option<usize>)>,
    cond: Option<usize>,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        if let Some(p) = self.proto {
            write!(f, " {p}")?;
        }
        if let Some(v6) = self.v6 {
            write!(f, " {}", if v6 { "ip6" } else { "ip4" })?;
        }
        for (kw, ep) in [("from", self.src), ("to", self.dst)] {
            let Some((a, port)) = ep else { continue };
            let addr = match self.v6 {
                None => None,
                Some(false) => Some(V4[a % V4.len()]),
                Some(true) => Some(V6[a % V6.len()]),
            };
            // Ports only with a protocol.
            let port = port.filter(|_| self.proto.is_some()).map(|p| PORTS[p]);
            match (addr, port) {
                (None, None) => {}
                (None, Some(p)) => write!(f, " {kw} *:{p}")?,
                (Some(a), None) => write!(f, " {kw} {a}")?,
                (Some(a), Some(p)) if self.v6 == Some(true) => write!(f, " {kw} [{a}]:{p}")?,
                (Some(a), Some(p)) => write!(f, " {kw} {a}:{p}")?,
            }
        }
        if let (Some(c), Some(_)) = (self.cond, self.proto) {
            write!(f, " if {}", CONDS[c])?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Block {
    hook: &'static str,
    rules: Vec<Rule>,
    default: &'static str,
}

#[derive(Clone, Debug)]
struct RuleFile(Vec<Block>);

impl fmt::Display for RuleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            writeln!(f, "{} on lo {{", b.hook)?;
            for r in &b.rules {
                writeln!(f, "    {r}")?;
            }
            writeln!(f, "    default {}\n}}", b.default)?;
        }
        Ok(())
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    let endpoint = || option::weighted(0.5, (0usize..4, option::weighted(0.6, 0usize..4)));
    (
        select(vec!["allow", "drop", "count"]),
        option::weighted(0.9, select(vec!["tcp", "udp"])),
        option::weighted(0.5, any::<bool>()),
        endpoint(),
        endpoint(),
        option::weighted(0.7, 0usize..4),
    )
        .prop_map(|(action, proto, v6, src, dst, cond)| Rule {
            action,
            proto,
            v6,
            src,
            dst,
            cond,
        })
}

fn rule_file() -> impl Strategy<Value = RuleFile> {
    let block = (
        select(vec!["xdp", "tc ingress", "tc egress"]),
        vec(rule(), 1..8),
        select(vec!["allow", "drop"]),
    )
        .prop_map(|(hook, rules, default)| Block {
            hook,
            rules,
            default,
        });
    vec(block, 1..=3).prop_map(|mut blocks| {
        // One block per hook on `lo`.
        blocks.sort_by_key(|b| b.hook);
        blocks.dedup_by_key(|b| b.hook);
        RuleFile(blocks)
    })
}

#[derive(Clone, Debug)]
struct PacketCase {
    text: String,
    socket: SocketState,
}

fn packet_case() -> impl Strategy<Value = PacketCase> {
    let state = select(SocketState::ALL.to_vec());
    (
        select(vec!["tcp", "tcp", "udp", "udp", "icmp", "tcp-short"]),
        any::<bool>(),
        (0usize..4, 0usize..4),
        (0usize..6, 0usize..6),
        state,
        select(vec!["syn", "ack", "syn ack", "fin ack", "rst"]),
    )
        .prop_map(|(proto, v6, (s, d), (sp, dp), socket, flags)| {
            let host = |i: usize| {
                if v6 {
                    format!("[{}]", HOST6[i % HOST6.len()])
                } else {
                    HOST4[i].to_string()
                }
            };
            let (sa, da) = (host(s), host(d));
            let (sp, dp) = (HOST_PORTS[sp], HOST_PORTS[dp]);
            let text = match proto {
                "icmp" if v6 => format!(
                    "icmpv6 {} -> {} type 128",
                    sa.trim_matches(|c| c == '[' || c == ']'),
                    da.trim_matches(|c| c == '[' || c == ']')
                ),
                "icmp" => format!("icmp {sa} -> {da} type 8"),
                // The TCP header cut to 10 bytes: addresses, no ports.
                "tcp-short" => {
                    let l3 = if v6 { 40 } else { 20 };
                    format!("tcp {sa}:{sp} -> {da}:{dp} syn len {}", 14 + l3 + 10)
                }
                "tcp" => format!("tcp {sa}:{sp} -> {da}:{dp} {flags}"),
                _ => format!("udp {sa}:{sp} -> {da}:{dp}"),
            };
            PacketCase { text, socket }
        })
}

fn compile(src: &str, opt: OptLevel) -> Result<Compiled, String> {
    let opts = Options {
        opt,
        ..Options::default()
    };
    let (compiled, diags) = sockc_compiler::compile(src, &opts);
    compiled.ok_or_else(|| {
        format!(
            "generator bug: the rule file does not compile\n{src}\n{}",
            sockc_compiler::diag::render(&diags, "generated.sk", src, false)
        )
    })
}

#[derive(Default)]
struct Tally {
    pairs: u64,
    by_state: [u64; 4],
    no_socket_possible: u64,
}

/// Runs every packet through every program at both levels, in a namespace holding
/// the packet's socket.
fn check(file: &RuleFile, packets: &[PacketCase], tally: &RefCell<Tally>) -> Result<(), String> {
    let src = file.to_string();
    let levels = [OptLevel::O2, OptLevel::O0];
    let mut loaded: Vec<(OptLevel, Compiled, LoadedObject)> = Vec::new();
    for level in levels {
        let c = compile(&src, level)?;
        let elf = c.to_elf().map_err(|e| e.to_string())?;
        let obj = LoadedObject::load(&elf).map_err(|e| {
            format!(
                "the kernel refused the object ({}): {e}\n{src}",
                level.name()
            )
        })?;
        loaded.push((level, c, obj));
    }
    let mut tally = tally.borrow_mut();
    for case in packets {
        let frame = parse_packet(&case.text)
            .map_err(|e| format!("generator bug: {e}: {}", case.text))?
            .build();
        for egress in [false, true] {
            let ends = Endpoints::of_frame(&frame, egress);
            let state = match ends {
                Some(e) if e.proto == 17 && case.socket == SocketState::TimeWait => {
                    SocketState::None
                }
                Some(_) => case.socket,
                None => SocketState::None,
            };
            let ns = SocketNetns::new().map_err(|e| e.to_string())?;
            let run = |state: SocketState| -> Result<Result<(), String>, _> {
                ns.run(ends.as_ref().map(|e| (e, state)), || {
                    for (level, c, obj) in &loaded {
                        for prog in c.module.programs.values() {
                            if hooks::spec(prog.hook).egress != egress {
                                continue;
                            }
                            let facts = Facts {
                                socket: state,
                                ..Facts::default()
                            };
                            let e = evaluate(&c.module, prog, &frame, &facts);
                            let before = obj.counters().map_err(|e| e.to_string())?;
                            let got = obj
                                .test_run(&prog.symbol, &frame, 1)
                                .map_err(|e| e.to_string())?;
                            let after = obj.counters().map_err(|e| e.to_string())?;
                            let run = KernelRun {
                                retval: got.retval,
                                moved: moved_between(&before, &after),
                                answers_limited: [0; 2],
                            };
                            let want = e.counter_deltas(prog, frame.len());
                            if let Some(wrong) = compare(prog, &e, &run, frame.len()) {
                                return Err(format!(
                                    "kernel and evaluator disagree in `{}` ({}, {}): {}\n\
                                     rules:\n{src}packet: {} with socket {}\nframe: {}\n\
                                     evaluator: line {} counters {:?}",
                                    prog.symbol,
                                    hooks::spec(prog.hook).name,
                                    level.name(),
                                    wrong,
                                    case.text,
                                    state.name(),
                                    hex(&frame),
                                    e.line(prog),
                                    want,
                                ));
                            }
                        }
                    }
                    Ok(())
                })
            };
            let outcome = match run(state) {
                Ok(r) => r,
                Err(FixtureError::Unsupported(_)) => {
                    // Checked before any socket is made: the namespace is still empty.
                    tally.no_socket_possible += 1;
                    run(SocketState::None).map_err(|e| e.to_string())?
                }
                Err(e) => return Err(format!("socket fixture for {}: {e}", case.text)),
            };
            outcome?;
            tally.pairs += 1;
            tally.by_state[SocketState::ALL.iter().position(|s| *s == state).unwrap()] += 1;
        }
    }
    Ok(())
}

#[test]
fn socket_conditions_agree_with_the_evaluator() {
    if !common::kernel() {
        return;
    }
    let cases = std::env::var("SOCKC_DIFF_SOCKET_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed: u64 = std::env::var("SOCKC_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand_seed);
    eprintln!("socket differential: SOCKC_DIFF_SEED={seed}, {cases} rule files");
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let tally = RefCell::new(Tally::default());
    let mut runner = TestRunner::new(config);
    let result = runner.run(
        &(rule_file(), vec(packet_case(), 12..=12)),
        |(file, packets)| check(&file, &packets, &tally).map_err(TestCaseError::fail),
    );
    let t = tally.borrow();
    eprintln!(
        "socket differential: {} (packet, orientation) runs; sockets none/listening/established/timewait: {:?}; {} with ends no socket can have",
        t.pairs, t.by_state, t.no_socket_possible
    );
    if let Err(e) = result {
        panic!("{e}\nreplay with SOCKC_DIFF_SEED={seed}");
    }
    // Every state was exercised.
    assert!(t.by_state.iter().all(|&n| n > 0), "{:?}", t.by_state);
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}
