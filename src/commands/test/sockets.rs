//! `sockc test` at the socket layer: what an sk_lookup block does with a connection
//! request or a datagram, what a sockmap block does with a message, and what a
//! socket-call block (`cgroup connect|sendmsg|bind`) does with a call. A packet given
//! to `--packet` stands for them: its protocol, addresses and ports are the lookup's
//! (source = remote end, destination = local end) or the connection's (data flowing
//! from source to destination), its payload is the message.
//!
//! sk_lookup is answered by the reference evaluator and, as root, by the kernel
//! ([`super::lookup`]); sockmap and socket-call blocks by the evaluator alone, because
//! the kernel has no test run for sk_msg, sk_skb and sock_addr programs, and every such
//! answer says so.
//! Invariant: a kernel answer is compared with the evaluator's on the verdict, the
//! selected socket, every rule counter and every socket drop counter; any difference
//! is a disagreement, as for packet hooks.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sockc_compiler::{
    hooks::{self, Context},
    ir::{verdict_name, Action, Module, Program, SockId},
    syntax::ast::Verdict,
};
use sockc_runtime::LoadedObject;
use sockc_testkit::{
    compare::{compare, outcome_name, retval_name, KernelRun},
    eval::{
        self,
        message::{evaluate_message, MessageFacts, MessageOutcome, SocketMessage},
        Decider, Evaluation, Facts, IpHeader, L4Fields, Lookup, Outcome,
    },
};

use super::{
    lookup::{self, LookupRun, Registered},
    names::{decider_text, hook_label, rule_text, RuleNames},
};
use crate::shared::stderr::errln;
use crate::shared::{json, settings::quiet};

/// What the socket-layer hooks know beyond the packet, from the command line.
pub struct SocketFacts {
    /// Declared sockets with a socket registered (every one `--unregistered` does
    /// not name).
    pub registered: BTreeSet<SockId>,
    /// sockmap: the connection's peer is a local socket in the same socket map.
    pub peer_in_map: bool,
    /// sockmap: the socket has sent through the TCP stack before.
    pub sent_through_stack: bool,
}

impl SocketFacts {
    /// Every declared socket registered but those `unregistered` names; an unknown
    /// name is an error.
    pub fn new(
        module: &Module,
        unregistered: &[String],
        peer_in_map: bool,
        sent_through_stack: bool,
    ) -> Result<SocketFacts, String> {
        for name in unregistered {
            if !module.sockets.values().any(|s| &s.name == name) {
                let declared: Vec<&str> =
                    module.sockets.values().map(|s| s.name.as_str()).collect();
                return Err(format!(
                    "--unregistered {name}: no socket of that name is declared{}",
                    if declared.is_empty() {
                        String::new()
                    } else {
                        format!(" (declared: {})", declared.join(", "))
                    }
                ));
            }
        }
        Ok(SocketFacts {
            registered: module
                .sockets
                .iter()
                .filter(|(_, s)| !unregistered.contains(&s.name))
                .map(|(id, _)| id)
                .collect(),
            peer_in_map,
            sent_through_stack,
        })
    }
}

/// Whether `sockc test` answers for `prog` at the socket layer (sk_lookup, sockmap,
/// socket calls).
pub fn is_socket_layer(prog: &Program) -> bool {
    matches!(
        hooks::spec(prog.hook).context,
        Context::SkLookup | Context::SkMsg(_) | Context::SkSkb(_) | Context::SockAddr { .. }
    )
}

/// One packet as the socket layer sees it.
pub struct Packet<'a> {
    /// The packet as written (normalized).
    pub text: String,
    pub origin: &'a str,
    pub frame: &'a [u8],
    /// Bytes after the transport header: the message's length.
    pub payload_len: usize,
    /// `uid N`, `gid N`: for a socket call, the calling process's ids.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `cgroup PATH`: for a socket call, the calling process's cgroup.
    pub cgroup: Option<String>,
    /// `comm NAME`: for a socket call, the calling process's command name.
    pub comm: Option<sockc_compiler::syntax::comm::Comm>,
}

/// One program's answer for one packet, ready to print.
pub struct Answer {
    /// Rows of the packet's table: hook, verdict, rule.
    pub rows: Vec<[String; 3]>,
    pub json: Value,
    pub disagreement: bool,
    /// The evaluator answered alone although the kernel took part.
    pub not_run: bool,
}

/// Every (packet, program) answer, `[packet][program]`; `kernel` is the loaded object
/// when the kernel takes part (sk_lookup only).
pub fn answer_all(
    module: &Module,
    programs: &[&Program],
    packets: &[Packet<'_>],
    facts: &SocketFacts,
    kernel: Option<&LoadedObject>,
    repeat: Option<u32>,
) -> Result<Vec<Vec<Answer>>, String> {
    let lookups = programs
        .iter()
        .any(|p| matches!(hooks::spec(p.hook).context, Context::SkLookup));
    let kernel = match kernel {
        Some(obj) if lookups => Some((obj, Registered::make(module, obj, &facts.registered)?)),
        _ => None,
    };
    if let Some((_, reg)) = &kernel {
        if !quiet() && json::enabled().is_none() {
            let made = reg.describe(module);
            if !made.is_empty() {
                errln!(
                    "note: sk_lookup: registered sockets (in a private network namespace): {}",
                    made.join(", ")
                );
            }
        }
    }
    let names: Vec<RuleNames> = programs.iter().map(|p| RuleNames::of(p)).collect();
    let mut all = Vec::with_capacity(packets.len());
    for packet in packets {
        let mut row = Vec::with_capacity(programs.len());
        for (prog, names) in programs.iter().zip(&names) {
            let at = Site {
                module,
                prog,
                names,
                packet,
            };
            row.push(match hooks::spec(prog.hook).context {
                Context::SkLookup => {
                    lookup_answer(&at, facts, kernel.as_ref().map(|(o, r)| (*o, r)), repeat)?
                }
                Context::SockAddr { ipv6 } => call_answer(&at, ipv6),
                _ => message_answer(&at, facts),
            });
        }
        all.push(row);
    }
    Ok(all)
}

/// One (packet, program) pair and what names its rules.
struct Site<'a> {
    module: &'a Module,
    prog: &'a Program,
    names: &'a RuleNames,
    packet: &'a Packet<'a>,
}

impl Site<'_> {
    /// The pair's JSON result, in `sockc.test/1`'s shape.
    fn json(
        &self,
        evaluator: Value,
        kernel: Value,
        not_run: Option<&str>,
        d: &Option<String>,
    ) -> Value {
        json!({
            "packet": self.packet.text,
            "origin": self.packet.origin,
            "frame_len": self.packet.frame.len(),
            "program": self.prog.symbol,
            "hook": hooks::spec(self.prog.hook).name,
            "attach_to": self.prog.attach_to,
            "evaluator": evaluator,
            "kernel": kernel,
            "kernel_not_run": not_run,
            "agree": (!kernel.is_null()).then_some(d.is_none()),
            "disagreement": d,
        })
    }

    /// The evaluator's JSON: its verdict, where a redirect goes, the deciding rule.
    fn evaluator_json(
        &self,
        verdict: &str,
        to: Option<String>,
        decider: Decider,
        counted: &[usize],
    ) -> Value {
        let i = self.names.index(decider);
        let line = match decider {
            Decider::Rule(r) => self.prog.rules[r].line,
            Decider::Default => self.prog.default_line,
        };
        json!({
            "verdict": verdict,
            "redirect_to": to,
            "line": line,
            "rule": self.names.texts[i],
            "id": self.names.ids[i],
            "counted_lines": counted.iter().map(|&c| self.prog.rules[c].line).collect::<Vec<_>>(),
        })
    }

    /// The rows: the program, verdict and deciding rule, a row per rule that counted,
    /// then who answered.
    fn rows(
        &self,
        verdict: String,
        decider: Decider,
        counted: &[usize],
        source: String,
    ) -> Vec<[String; 3]> {
        let mut rows = vec![[
            hook_label(self.prog),
            verdict,
            decider_text(self.prog, decider),
        ]];
        for &i in counted {
            rows.push([String::new(), "count".into(), rule_text(self.prog, i)]);
        }
        rows.push([String::new(), String::new(), source]);
        rows
    }

    /// The answer for a packet the hook never sees.
    fn not_applicable(&self, why: &str) -> Answer {
        let mut json = self.json(Value::Null, Value::Null, None, &None);
        json["not_applicable"] = json!(why);
        Answer {
            rows: vec![[
                hook_label(self.prog),
                "-".into(),
                format!("(does not run: {why})"),
            ]],
            json,
            disagreement: false,
            not_run: true,
        }
    }
}

/// The lookup a TCP or UDP packet stands for.
fn lookup_of(frame: &[u8]) -> Result<Lookup, &'static str> {
    match eval::decode(frame).ip {
        Some(IpHeader {
            src,
            dst,
            proto: proto @ (6 | 17),
            l4: L4Fields::Ports { sport, dport, .. },
            ..
        }) => Ok(Lookup {
            proto,
            remote: (src, sport).into(),
            local: (dst, dport).into(),
        }),
        _ => Err("sk_lookup runs for TCP connections and UDP datagrams only"),
    }
}

/// The sk_lookup outcome as words: the verdict, and the socket a redirect selects.
fn lookup_outcome(module: &Module, e: &Evaluation) -> (String, Option<String>) {
    match (e.outcome, e.socket_drop) {
        (Outcome::Redirect(Action::Redirect(Some(s))), _) => {
            ("redirect".into(), Some(module.sockets[s].name.clone()))
        }
        (Outcome::Verdict(v), _) => (verdict_name(v).into(), None),
        (o, _) => (outcome_name(o), None),
    }
}

fn lookup_answer(
    at: &Site<'_>,
    facts: &SocketFacts,
    kernel: Option<(&LoadedObject, &Registered)>,
    repeat: Option<u32>,
) -> Result<Answer, String> {
    let lookup = match lookup_of(at.packet.frame) {
        Ok(l) => l,
        Err(why) => return Ok(at.not_applicable(why)),
    };
    let e = eval::evaluate_lookup(
        at.module,
        at.prog,
        &lookup,
        &Facts {
            registered: facts.registered.clone(),
            ..Facts::default()
        },
    );
    let (verdict, to) = lookup_outcome(at.module, &e);
    let unregistered = e
        .socket_drop
        .map(|slot| at.module.sockets[SockId::from_u32(slot / 2)].name.clone());
    let shown = match (&to, &unregistered) {
        (Some(name), _) => format!("redirect to sock {name}"),
        (None, Some(name)) => format!("drop (nothing registered for sock {name})"),
        (None, None) => verdict.clone(),
    };
    let evaluator = at.evaluator_json(
        &verdict,
        to.map(|n| format!("sock {n}")),
        e.decider,
        &e.counted,
    );
    let Some((obj, reg)) = kernel else {
        return Ok(Answer {
            rows: at.rows(shown, e.decider, &e.counted, "(evaluator only)".into()),
            json: at.json(evaluator, Value::Null, None, &None),
            disagreement: false,
            not_run: false,
        });
    };
    let run = lookup::run(obj, at.prog, &lookup, repeat)
        .map_err(|e| format!("{}: {e}", at.packet.origin))?;
    let disagreement = lookup_disagreement(at, &e, &run, reg);
    let selected = run.selected.map(|c| selected_name(at.module, reg, c));
    let source = match &disagreement {
        None => agreement(&run, selected.as_deref()),
        Some(d) => format!("DISAGREEMENT (evaluator shown above): {d}"),
    };
    let kernel_json = lookup_json(at, &run, selected);
    Ok(Answer {
        rows: at.rows(shown, e.decider, &e.counted, source),
        json: at.json(evaluator, kernel_json, None, &disagreement),
        disagreement: disagreement.is_some(),
        not_run: false,
    })
}

/// Who answered, when the kernel and the evaluator agree on a lookup.
fn agreement(run: &LookupRun, selected: Option<&str>) -> String {
    format!(
        "kernel and evaluator agree (retval {}{}){}",
        run.retval,
        selected
            .map(|s| format!(", selected {s}"))
            .unwrap_or_default(),
        run.ns_per_lookup
            .map(|ns| format!(", {ns:.0} ns/lookup measured by the kernel"))
            .unwrap_or_default()
    )
}

/// The kernel's side of a lookup in `sockc.test/1`'s shape.
fn lookup_json(at: &Site<'_>, run: &LookupRun, selected: Option<String>) -> Value {
    json!({
        "retval": run.retval,
        "verdict": if run.selected.is_some() { "redirect" } else { retval_name(at.prog, run.retval) },
        "redirect_to": selected,
        "counters_moved": run.moved.iter().map(|(s, (p, b))| json!({
            "slot": s,
            "line": line_of_slot(at.prog, *s),
            "rule": rule_of_slot(at, *s),
            "id": id_of_slot(at, *s),
            "packets": p, "bytes": b,
        })).collect::<Vec<_>>(),
        "ns_per_packet": run.ns_per_lookup,
    })
}

fn selected_name(module: &Module, reg: &Registered, cookie: u64) -> String {
    reg.name_of(module, cookie).map_or_else(
        || format!("a socket sockc did not register (cookie {cookie})"),
        |n| format!("sock {n}"),
    )
}

/// The rule index (default: `rules.len()`) that owns counter `slot`.
fn rule_of_slot_index(prog: &Program, slot: u32) -> Option<usize> {
    if slot == prog.default_counter {
        return Some(prog.rules.len());
    }
    prog.rules.iter().position(|r| r.counter == slot)
}

fn line_of_slot(prog: &Program, slot: u32) -> Option<usize> {
    rule_of_slot_index(prog, slot).map(|i| prog.rules.get(i).map_or(prog.default_line, |r| r.line))
}

fn rule_of_slot(at: &Site<'_>, slot: u32) -> Option<String> {
    rule_of_slot_index(at.prog, slot).map(|i| at.names.texts[i].clone())
}

fn id_of_slot(at: &Site<'_>, slot: u32) -> Option<String> {
    rule_of_slot_index(at.prog, slot).map(|i| at.names.ids[i].clone())
}

/// What differs between the kernel's run and the evaluator: verdict and rule
/// counters ([`compare`]; a lookup counts no bytes), the selected socket, and the
/// socket drop counters.
fn lookup_disagreement(
    at: &Site<'_>,
    e: &Evaluation,
    run: &LookupRun,
    reg: &Registered,
) -> Option<String> {
    let mut problems = Vec::new();
    let k = KernelRun {
        retval: run.retval,
        moved: run.moved.clone(),
        answers_limited: [0; 2],
    };
    problems.extend(compare(at.prog, e, &k, 0));
    let want = match e.outcome {
        Outcome::Redirect(Action::Redirect(Some(s))) => reg.cookie_of(s),
        _ => None,
    };
    if want != run.selected {
        let name =
            |c: Option<u64>| c.map_or("no socket".into(), |c| selected_name(at.module, reg, c));
        problems.push(format!(
            "the kernel selected {}, the evaluator says {}",
            name(run.selected),
            name(want)
        ));
    }
    let want_drops: Vec<(usize, (u64, u64))> = e
        .socket_drop
        .map(|slot| (slot as usize / 2, (1, 0)))
        .into_iter()
        .collect();
    if run.drops != want_drops {
        let says = |d: &[(usize, (u64, u64))]| {
            d.iter()
                .map(|(i, (none, refused))| {
                    let name = &at.module.sockets[SockId::from_u32(*i as u32)].name;
                    format!(
                        "{name}: +{none} with nothing registered, +{refused} refused by the kernel"
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        problems.push(format!(
            "socket drop counters moved in the kernel: [{}]; the evaluator expects: [{}]",
            says(&run.drops),
            says(&want_drops)
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// The message a packet stands for: TCP only.
fn message_of(packet: &Packet<'_>, send: bool) -> Result<SocketMessage, &'static str> {
    match eval::decode(packet.frame).ip {
        Some(IpHeader {
            src,
            dst,
            proto: 6,
            l4: L4Fields::Ports { sport, dport, .. },
            ..
        }) => {
            let (from, to) = ((src, sport).into(), (dst, dport).into());
            let (local, remote) = if send { (from, to) } else { (to, from) };
            Ok(SocketMessage {
                local,
                remote,
                len: packet.payload_len,
            })
        }
        _ => Err("sockmap blocks see TCP connections only"),
    }
}

/// The evaluator's answer for a socket-call block (`cgroup connect|sendmsg|bind`):
/// the packet stands for the call, its protocol and destination (the address the
/// call names; the source is ignored, the kernel has not chosen one yet), `uid N`,
/// `gid N` and `comm NAME` for the calling process. Each family's program answers its
/// family's calls; a redirected call is shown with the address it goes to instead.
/// The kernel cannot test-run sock_addr programs.
fn call_answer(at: &Site<'_>, ipv6: bool) -> Answer {
    let Some(ip) = eval::decode(at.packet.frame).ip else {
        return at.not_applicable("a socket call has an IPv4 or IPv6 address");
    };
    if ip.dst.is_ipv6() != ipv6 {
        return at.not_applicable("the call runs the program of its address family");
    }
    let port = match ip.l4 {
        L4Fields::Ports { dport, .. } => dport,
        _ => 0,
    };
    let call = eval::Call {
        proto: ip.proto,
        to: (ip.dst, port).into(),
    };
    let facts = Facts {
        uid: at.packet.uid,
        gid: at.packet.gid,
        cgroup: at.packet.cgroup.clone(),
        cgroup_root: sockc_runtime::cgroup::cgroup2_root()
            .map(|p| p.to_string_lossy().into_owned()),
        comm: at.packet.comm.unwrap_or_default(),
        ..Facts::default()
    };
    let e = eval::evaluate_call(at.module, at.prog, &call, &facts);
    // A redirect: the call goes on to the address the program wrote.
    let to = match e.outcome {
        Outcome::Redirect(_) => eval::call_destination(&call, &e).map(|d| d.to_string()),
        _ => None,
    };
    let verdict = match e.outcome {
        Outcome::Verdict(v) => verdict_name(v).to_string(),
        _ if to.is_some() => "redirect".to_string(),
        o => outcome_name(o),
    };
    let shown = match &to {
        Some(d) => format!("redirect to {d}"),
        None => verdict.clone(),
    };
    let why = "the kernel cannot test-run sock_addr programs (real calls only)";
    Answer {
        rows: at.rows(
            shown,
            e.decider,
            &e.counted,
            format!("(evaluator only: {why})"),
        ),
        json: at.json(
            at.evaluator_json(&verdict, to, e.decider, &e.counted),
            Value::Null,
            Some(why),
            &None,
        ),
        disagreement: false,
        not_run: true,
    }
}

/// The evaluator's answer for a sockmap block; the kernel cannot test-run it.
fn message_answer(at: &Site<'_>, facts: &SocketFacts) -> Answer {
    let send = at.prog.hook == sockc_compiler::hooks::HookKind::SockmapSend;
    let msg = match message_of(at.packet, send) {
        Ok(m) => m,
        Err(why) => return at.not_applicable(why),
    };
    let mf = MessageFacts {
        peer_in_map: facts.peer_in_map,
        sent_through_stack: facts.sent_through_stack,
        registered: facts.registered.iter().copied().collect(),
    };
    let e = evaluate_message(at.module, at.prog, &msg, &mf);
    let (verdict, to, shown) = message_words(at, &e, facts, send);
    let why = format!(
        "the kernel cannot test-run {} programs",
        if send { "sk_msg" } else { "sk_skb" }
    );
    Answer {
        rows: at.rows(
            shown,
            e.decider,
            &e.counted,
            format!("(evaluator only: {why})"),
        ),
        json: at.json(
            at.evaluator_json(verdict, to, e.decider, &e.counted),
            Value::Null,
            Some(&why),
            &None,
        ),
        disagreement: false,
        not_run: true,
    }
}

/// The message's fate as (verdict word, redirect target, the text shown).
fn message_words(
    at: &Site<'_>,
    e: &eval::message::MessageEvaluation,
    facts: &SocketFacts,
    send: bool,
) -> (&'static str, Option<String>, String) {
    let action = match e.decider {
        Decider::Rule(i) => Some(at.prog.rules[i].action),
        Decider::Default => None,
    };
    let name = |s: SockId| at.module.sockets[s].name.clone();
    match (e.outcome, action) {
        (MessageOutcome::Peer, _) => (
            "redirect",
            Some("peer".into()),
            "redirect local (into the peer socket's receive queue)".into(),
        ),
        (MessageOutcome::Sock { sock, ingress }, _) => {
            let to = format!(
                "sock {}{}",
                name(sock),
                if ingress { " ingress" } else { "" }
            );
            ("redirect", Some(to.clone()), format!("redirect to {to}"))
        }
        (MessageOutcome::Pass, Some(Action::Redirect(None))) => {
            let why = if facts.sent_through_stack {
                "the socket has sent through the stack before (--sent-through-stack)"
            } else {
                "the peer is not a local socket in the socket map (--peer-in-map)"
            };
            (
                "allow",
                None,
                format!("allow (redirect local does not redirect: {why})"),
            )
        }
        (MessageOutcome::Pass, _) => (
            "allow",
            None,
            if send {
                "allow (through the TCP stack)"
            } else {
                "allow (delivered to the socket)"
            }
            .into(),
        ),
        (MessageOutcome::Drop, Some(Action::Redirect(Some(s)) | Action::RedirectIngress(s))) => (
            "drop",
            None,
            format!("drop (nothing registered for sock {})", name(s)),
        ),
        (MessageOutcome::Drop, _) => ("drop", None, verdict_name(Verdict::Drop).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The comparison catches a wrong evaluator: the kernel steers to the socket
    /// registered for `s`, and an evaluation made as if nothing were registered
    /// (a drop, counted at the socket) must differ on the verdict, the selected
    /// socket and the drop counter, while the right one agrees.
    #[test]
    fn a_wrong_socket_answer_is_a_disagreement() {
        if !crate::shared::privileges::is_root() {
            assert!(
                std::env::var("SOCKC_KERNEL_TESTS").as_deref() != Ok("require"),
                "SOCKC_KERNEL_TESTS=require but not root"
            );
            println!("SKIP (not root)");
            return;
        }
        let src = "socket s = tcp 127.0.0.1:8080\nsk_lookup {\n\
                   redirect 3.3.3.3:* to sock s\ndefault pass\n}\n";
        let c = sockc_compiler::compile(src, &Default::default()).0.unwrap();
        let obj = LoadedObject::load(&c.to_elf().unwrap()).unwrap();
        let facts = SocketFacts::new(&c.module, &[], false, false).unwrap();
        let reg = Registered::make(&c.module, &obj, &facts.registered).unwrap();
        let prog = c.module.programs.values().next().unwrap();
        let spec = sockc_testkit::packet::parse_packet("tcp 9.9.9.9:1 -> 3.3.3.3:80").unwrap();
        let frame = spec.build();
        let lookup = lookup_of(&frame).unwrap();
        let run = lookup::run(&obj, prog, &lookup, None).unwrap();
        let names = RuleNames::of(prog);
        let packet = Packet {
            text: spec.to_string(),
            origin: "#1",
            frame: &frame,
            payload_len: 0,
            uid: None,
            gid: None,
            cgroup: None,
            comm: None,
        };
        let at = Site {
            module: &c.module,
            prog,
            names: &names,
            packet: &packet,
        };
        let with = |registered: BTreeSet<SockId>| {
            let facts = Facts {
                registered,
                ..Facts::default()
            };
            eval::evaluate_lookup(&c.module, prog, &lookup, &facts)
        };
        let right = with(facts.registered.clone());
        assert_eq!(lookup_disagreement(&at, &right, &run, &reg), None);
        let wrong = with(BTreeSet::new());
        let d = lookup_disagreement(&at, &wrong, &run, &reg).expect("a disagreement");
        assert!(
            d.contains("the kernel selected sock s, the evaluator says no socket"),
            "{d}"
        );
        assert!(d.contains("socket drop counters"), "{d}");
        assert!(d.contains("the kernel returned 1"), "{d}");
    }
}
