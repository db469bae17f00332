//! The rule walk every hook context shares: after a context's prologue has filled the
//! flow record ([`crate::bpf::flow`]), the steps of the program (linear runs and
//! classifiers), then the default, then the shared count-and-exit tail. Every
//! instruction of a rule's code carries the rule as its source location ([`SrcLoc`]).
//!
//! Each rule's match is first listed as data, a chain of [`Test`]s on the flow record
//! ([`rule_tests`](crate::ir::flow::rule_tests)), and a run of consecutive linear
//! rules is lowered from the [`Plan`] the IR holds for it: the [`linear`] plan when it
//! holds none (every rule tests on its own and falls through to the next rule on the
//! first mismatch: the in-project baseline), or the threaded plan of the `-O2`
//! threading pass (jump threading and shared header checks; see `opt::thread`). Both
//! emit a test with the same code (`emit_test`), so the two differ only in which
//! tests exist and where a failing one jumps. The driver lowers an `-O2` program both
//! ways and keeps the threaded code unless it came out larger, so `-O2` is never
//! larger than `-O0` (and, by the argument in `opt::thread`, never executes more
//! instructions on any path).
//!
//! Rules test the flow record, never the context, so rule code needs no bounds checks
//! and is the same in every hook, and a test can be entered on its own: each one loads
//! what it compares. What differs per context is only the prologue and how an action
//! that is not a verdict ends the program ([`Redirect`]). Invariants: every path
//! reaches `exit` with `r0` = a verdict of the hook; every path that ends a rule or
//! the default bumps exactly one rule counter slot; registers `r9` (verdict) and the
//! counter key on the stack are set before the shared count-and-exit tail is reached;
//! no instruction is emitted that no path reaches (the kernel rejects those).

use std::collections::HashMap;

use ipnet::IpNet;

use super::LowerError;
use crate::{
    bpf::{
        buffer::{Code, CodeBuffer, Label, SrcLoc},
        emit::{emit_count, emit_map_lookup, verdict},
        flow::{self, at},
        insn::{op, Cond, Insn, Reg, Size},
        maps::{port_lists, set_map_name, Sizing, PORTS_MAP, PORT_CHAIN_MAX},
    },
    hooks::{Context, HookSpec},
    ir::{
        classifier::Classifier,
        flow::Test,
        linear::{linear, Node, Plan, RuleTests, Target},
        Action, Module, Program, SetId, SockId, Step,
    },
    syntax::ast::Family,
};

/// How a context lowers `redirect ... to sock NAME`.
pub(super) trait Redirect {
    /// Emits the end of a redirecting rule: entered with the rule's counter key
    /// stored and `r6` the context; every path sets `r9` to a verdict and jumps to
    /// `count_exit`.
    fn redirect(&mut self, b: &mut CodeBuffer, module: &Module, sock: SockId, count_exit: Label);
    /// Emits, after the count-and-exit tail, code the redirects jump to (reached only
    /// by jumps; each path ends with a jump back to `count_exit`).
    fn finish(&mut self, b: &mut CodeBuffer, count_exit: Label);
    /// The end of rule `rule` (index) whose action is any redirect (`redirect local`,
    /// `... ingress`): as [`Redirect::redirect`], or a path may count and exit on its
    /// own. By default only `redirect ... to sock NAME` exists.
    fn redirect_action(
        &mut self,
        b: &mut CodeBuffer,
        module: &Module,
        rule: usize,
        action: Action,
        count_exit: Label,
    ) {
        let _ = rule;
        match action {
            Action::Redirect(Some(sock)) => self.redirect(b, module, sock, count_exit),
            other => unreachable!("sema lets no {other} through here"),
        }
    }
    /// Code of the shared tail between the count and `exit`, with the verdict in
    /// `r9` (kept) and the context in `r6`. None by default.
    fn before_exit(&mut self, _b: &mut CodeBuffer) {}
}

/// The contexts without a redirect to a socket or an answer (sema lets neither through
/// there): netfilter hooks, whose programs can only accept or drop.
pub(super) struct NoRedirect;

impl Redirect for NoRedirect {
    fn redirect(&mut self, _: &mut CodeBuffer, _: &Module, _: SockId, _: Label) {
        unreachable!("sema lets `redirect ... to sock` through only in sk_lookup blocks")
    }

    fn finish(&mut self, _: &mut CodeBuffer, _: Label) {}
}

/// Emits the program's steps, default and count-and-exit tail after a prologue that
/// left the context in `r6` and the flow record filled; returns the finished code.
pub(super) fn emit(
    mut b: CodeBuffer,
    module: &Module,
    prog: &Program,
    spec: &HookSpec,
    sizing: &Sizing,
    redirect: &mut dyn Redirect,
) -> Result<Code, LowerError> {
    if prog.steps.iter().any(|s| matches!(s, Step::Classify(_))) {
        crate::bpf::classify::emit_select(&mut b);
    }
    let count_exit = b.new_label();
    let ports = port_lists(module);
    let mut dispatches = Vec::new();
    // The kernel rejects unreachable instructions, so code that cannot run is not
    // emitted: a rule that can never match, and everything after a rule that always
    // ends the program.
    let mut ended = false;
    for step in &prog.steps {
        match step {
            Step::Linear { rules, plan } => {
                let (planned, tests) = RuleTests::of_run(module, prog, rules.clone());
                let plan = match plan {
                    Some(p) => p.clone(),
                    None => linear(&tests),
                };
                let run = Run {
                    rules: &planned,
                    tests: &tests,
                    plan: &plan,
                    ports: &ports,
                };
                if !emit_run(&mut b, module, spec, prog, run, redirect, count_exit) {
                    ended = true;
                    break;
                }
            }
            Step::Classify(c) => {
                let dispatch = emit_classifier(&mut b, prog, spec, sizing, c, count_exit);
                dispatches.extend(dispatch);
            }
        }
    }
    if !ended {
        emit_default(&mut b, prog, spec);
    }
    b.set_srcloc(None);
    b.bind(count_exit);
    emit_count(&mut b);
    if module.logs_in(prog) {
        let caller = matches!(spec.context, Context::SockAddr { .. });
        super::log::emit(&mut b, caller);
    }
    redirect.before_exit(&mut b);
    b.emit(Insn::mov64_reg(Reg::R0, Reg::R9));
    b.emit(Insn::exit());
    for d in dispatches {
        emit_dispatch(&mut b, module, d, redirect, count_exit);
    }
    b.set_srcloc(None);
    redirect.finish(&mut b, count_exit);
    Ok(b.finish()?)
}

/// Where a classifier's matches go when they are not a plain verdict for the count
/// tail: the socket marks and verdict words its table may hold (see [`emit_dispatch`]).
struct Dispatch {
    label: Label,
    srcloc: SrcLoc,
    socks: Vec<SockId>,
    verdicts: Vec<i32>,
}

/// Emits a classifier step; returns its dispatch when a match needs one.
fn emit_classifier(
    b: &mut CodeBuffer,
    prog: &Program,
    spec: &HookSpec,
    sizing: &Sizing,
    c: &Classifier,
    count_exit: Label,
) -> Option<Dispatch> {
    let srcloc = SrcLoc::Rules {
        first: c.rules.start,
        last: c.rules.end - 1,
    };
    b.set_srcloc(Some(srcloc));
    let capacity = sizing.table(&crate::bpf::classify::map_name(c));
    // A run with redirects to sockets, or in a context whose verdicts the verifier
    // checks at exit (not XDP or TC: cgroup_skb reads packets too): a match goes to
    // its dispatch, which sends each socket's mark (the verdict word of a redirect's
    // record, `classify::REDIRECT_MARK`) to that socket's redirect and turns every
    // verdict word loaded from the table into the constant it is.
    let socks = crate::bpf::classify::redirect_targets(prog, c);
    let mut dispatch = None;
    let packet = matches!(spec.context, Context::Packet(_));
    let found = if socks.is_empty() && packet && !spec.exit_checked() {
        count_exit
    } else {
        let mut verdicts: Vec<i32> = Vec::new();
        for r in &prog.rules[c.rules.clone()] {
            if matches!(r.action, Action::Allow | Action::Drop | Action::Pass) {
                let v = verdict(spec, r.action);
                if !verdicts.contains(&v) {
                    verdicts.push(v);
                }
            }
        }
        let label = b.new_label();
        dispatch = Some(Dispatch {
            label,
            srcloc,
            socks,
            verdicts,
        });
        label
    };
    let steps = sizing.steps(&crate::bpf::classify::map_name(c));
    crate::bpf::classify::emit(b, prog, c, capacity, steps, found);
    dispatch
}

/// The block's `default`: its counter slot and verdict, on to the count tail.
fn emit_default(b: &mut CodeBuffer, prog: &Program, spec: &HookSpec) {
    b.set_srcloc(Some(SrcLoc::Default));
    b.note(format!(
        "line {}: default {}",
        prog.default_line,
        crate::ir::verdict_name(prog.default)
    ));
    b.emit(Insn::st_imm(
        Size::W,
        Reg::FP,
        at(flow::COUNTER_KEY),
        prog.default_counter as i32,
    ));
    let code = spec
        .verdict_code(prog.default)
        .expect("sema only lets through defaults the hook has");
    b.emit(Insn::mov64_imm(Reg::R9, code));
}

/// A classifier's dispatch, after the tail (reached only by the walk's jump): the word
/// in `r9` is tested against each socket mark and verdict, every one but the last.
fn emit_dispatch(
    b: &mut CodeBuffer,
    module: &Module,
    d: Dispatch,
    redirect: &mut dyn Redirect,
    count_exit: Label,
) {
    b.set_srcloc(Some(d.srcloc));
    b.bind(d.label);
    b.note("classified match: to its socket's redirect, or its verdict");
    let n = d.socks.len() + d.verdicts.len();
    // Every word but the last is tested; the last is what remains.
    let ends = d
        .socks
        .into_iter()
        .map(|s| (crate::bpf::classify::redirect_mark(s) as i32, Some(s)))
        .chain(d.verdicts.into_iter().map(|v| (v, None)));
    for (i, (word, sock)) in ends.enumerate() {
        let next = b.new_label();
        if i + 1 < n {
            b.branch_imm(Cond::Ne, Reg::R9, word, next);
        }
        match sock {
            Some(s) => redirect.redirect(b, module, s, count_exit),
            None => {
                b.emit(Insn::mov64_imm(Reg::R9, word));
                b.goto(count_exit);
            }
        }
        b.bind(next);
    }
}

/// A run of linear rules as lowering sees it: the rules that can match (indices into
/// the program's rules), their tests, and the plan that lays them out.
#[derive(Clone, Copy)]
struct Run<'a> {
    rules: &'a [usize],
    tests: &'a [RuleTests],
    plan: &'a Plan,
    ports: &'a [&'a [(u16, u16)]],
}

/// Emits a run of consecutive linear rules as its plan lays them out; control enters
/// at the first emitted instruction and leaves the run at its end (or through the
/// count-and-exit tail). Returns whether any path reaches the end of the run.
fn emit_run(
    b: &mut CodeBuffer,
    module: &Module,
    spec: &HookSpec,
    prog: &Program,
    run: Run<'_>,
    redirect: &mut dyn Redirect,
    count_exit: Label,
) -> bool {
    let plan = run.plan;
    let layout = plan.layout();
    let mut labels = Labels {
        end: b.new_label(),
        nodes: HashMap::new(),
    };
    for (r, (&index, rt)) in run.rules.iter().zip(run.tests).enumerate() {
        let rule = &prog.rules[index];
        let rp = &plan.rules[r];
        let mut noted = false;
        let mut note = |b: &mut CodeBuffer| {
            if !std::mem::replace(&mut noted, true) {
                b.set_srcloc(Some(SrcLoc::Rule(index)));
                b.note(format!("line {}: {}", rule.line, rule.text));
            }
        };
        for j in 0..=rt.tests.len() {
            if let Some(l) = labels.nodes.get(&Target::Node { rule: r, test: j }) {
                b.bind(*l);
            }
            match rp.tests.get(j) {
                None | Some(Node::Dead | Node::Known) => {}
                Some(&Node::Skip(to)) => {
                    if layout.needs_goto(r, j, to) {
                        note(b);
                        let l = labels.get(b, to);
                        b.goto(l);
                    }
                }
                Some(&Node::Test { fail }) => {
                    note(b);
                    let l = labels.get(b, fail);
                    emit_test(b, module, spec, run.ports, &rt.tests[j], l);
                }
            }
        }
        if !rp.action {
            continue;
        }
        note(b);
        b.emit(Insn::st_imm(
            Size::W,
            Reg::FP,
            at(flow::COUNTER_KEY),
            rule.counter as i32,
        ));
        match rule.action {
            Action::Count => {
                emit_count(b);
                let to = rp.then.expect("a reachable count rule goes on");
                if layout.needs_goto(r, rt.tests.len(), to) {
                    let l = labels.get(b, to);
                    b.goto(l);
                }
            }
            action if action.is_redirect() => {
                redirect.redirect_action(b, module, index, action, count_exit);
            }
            action => {
                b.emit(Insn::mov64_imm(Reg::R9, verdict(spec, action)));
                b.goto(count_exit);
            }
        }
    }
    b.bind(labels.end);
    plan.end
}

/// Labels of a run's jump targets, made when the first jump to one is emitted (every
/// jump goes forward, so before the target is reached and bound).
struct Labels {
    end: Label,
    nodes: HashMap<Target, Label>,
}

impl Labels {
    fn get(&mut self, b: &mut CodeBuffer, t: Target) -> Label {
        match t {
            Target::End => self.end,
            t => *self.nodes.entry(t).or_insert_with(|| b.new_label()),
        }
    }
}

/// Emits one test; when it fails, control goes to `fail`, otherwise on to the next
/// instruction. Each test loads what it compares (into `r1`, `r2`; a set lookup is a
/// call and clobbers `r0`–`r5`, a socket condition also `r7`), so a test may be
/// entered with nothing in registers.
fn emit_test(
    b: &mut CodeBuffer,
    module: &Module,
    spec: &HookSpec,
    ports: &[&[(u16, u16)]],
    t: &Test,
    fail: Label,
) {
    let r1 = Reg::R1;
    let byte = |b: &mut CodeBuffer, field: i16| b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(field)));
    match t {
        Test::Family(f) => {
            byte(b, flow::L3);
            let v = if *f == Family::V4 { 4 } else { 6 };
            b.branch_imm(Cond::Ne, r1, v, fail);
        }
        Test::Ip => {
            byte(b, flow::L3);
            b.branch_imm(Cond::Eq, r1, 0, fail);
        }
        Test::Proto(p) => {
            byte(b, flow::PROTO);
            b.branch_imm(Cond::Ne, r1, i32::from(*p), fail);
        }
        Test::TcpOrUdp => {
            let ok = b.new_label();
            byte(b, flow::PROTO);
            b.branch_imm(Cond::Eq, r1, 6, ok);
            b.branch_imm(Cond::Ne, r1, 17, fail);
            b.bind(ok);
        }
        Test::L4Ok => {
            byte(b, flow::L4_OK);
            b.branch_imm(Cond::Eq, r1, 0, fail);
        }
        Test::Prefix { src, net } => match net {
            IpNet::V4(n) => {
                let off = at(if *src { flow::SRC4 } else { flow::DST4 });
                emit_masked_words(b, off, &n.network().octets(), n.prefix_len(), fail);
            }
            IpNet::V6(n) => {
                let off = at(if *src { flow::SRC6 } else { flow::DST6 });
                emit_masked_words(b, off, &n.network().octets(), n.prefix_len(), fail);
            }
        },
        Test::Set { set, src, family } => emit_set(b, module, *set, *family, *src, fail),
        Test::Ports { src, ranges } => {
            let field = if *src { flow::SPORT } else { flow::DPORT };
            if ranges.len() > PORT_CHAIN_MAX {
                let index = ports
                    .iter()
                    .position(|l| *l == ranges.as_slice())
                    .expect("every long port list of a linear rule has a bitmap");
                emit_port_bitmap(b, index as u32, field, fail);
            } else {
                emit_ports(b, ranges, field, fail);
            }
        }
        Test::Flags { mask, value } => {
            byte(b, flow::TCP_FLAGS);
            if *mask != 0xff {
                b.emit(Insn::alu64_imm(op::AND, r1, i32::from(*mask)));
            }
            b.branch_imm(Cond::Ne, r1, i32::from(*value), fail);
        }
        Test::IcmpType(v) => {
            byte(b, flow::ICMP_TYPE);
            b.branch_imm(Cond::Ne, r1, i32::from(*v), fail);
        }
        Test::IcmpCode(v) => {
            byte(b, flow::ICMP_CODE);
            b.branch_imm(Cond::Ne, r1, i32::from(*v), fail);
        }
        Test::Frag => {
            byte(b, flow::FRAG);
            b.branch_imm(Cond::Eq, r1, 0, fail);
        }
        Test::EtherType(v) => {
            b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(flow::ETHER_TYPE)));
            b.branch_imm(Cond::Ne, r1, i32::from(*v), fail);
        }
        Test::Vlan(v) => {
            b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(flow::VLAN)));
            b.branch_imm(Cond::Ne, r1, 0x1000 | i32::from(*v), fail);
        }
        Test::Socket {
            cond,
            proto,
            family,
        } => crate::bpf::socket::emit_test(b, spec, *cond, *proto, *family, fail),
        Test::Ct { states, family } => crate::bpf::ct::emit_test(b, spec, *states, *family, fail),
        Test::Route(class) => crate::bpf::route::emit_test(b, spec, *class, fail),
        Test::Limit(l) => crate::bpf::limit::emit_test(b, l, fail),
        Test::Iface(m) => crate::bpf::iface::emit_test(b, m, fail),
        Test::Mark(m) => crate::bpf::mark::emit_test(b, spec, m, fail),
        Test::Field(t) => crate::bpf::header::emit_test(b, t, fail),
        Test::Owner(o) => crate::bpf::owner::emit_test(b, spec, o, fail),
        Test::Cgroup(c) => crate::bpf::cgroup_match::emit_test(b, spec, c, fail),
        Test::Comm(c) => crate::bpf::comm::emit_test(b, c, fail),
        Test::CtEntry(t) => crate::bpf::ct_entry::emit_test(b, t, fail),
    }
}

/// A set lookup: in the map of `family`, or, for a rule of both families, in the map
/// of the packet's family.
fn emit_set(
    b: &mut CodeBuffer,
    module: &Module,
    set: SetId,
    family: Option<Family>,
    src: bool,
    fail: Label,
) {
    let r1 = Reg::R1;
    let s = &module.sets[set];
    let families: Vec<Family> = match family {
        Some(f) => vec![f],
        None => vec![Family::V4, Family::V6],
    };
    let matched = b.new_label();
    let mut after_v4 = None;
    for f in &families {
        if families.len() == 2 && *f == Family::V4 {
            let v6 = b.new_label();
            b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L3)));
            b.branch_imm(Cond::Ne, r1, 4, v6);
            after_v4 = Some(v6);
        } else if let Some(v6) = after_v4.take() {
            b.bind(v6);
        }
        let empty = match f {
            Family::V4 => s.v4.is_empty(),
            Family::V6 => s.v6.is_empty(),
        };
        if empty {
            // No element of this family: packets of it never match.
            b.goto(fail);
            continue;
        }
        let key = match (f, src) {
            (Family::V4, true) => flow::SRC4_PLEN,
            (Family::V4, false) => flow::DST4_PLEN,
            (Family::V6, true) => flow::SRC6_PLEN,
            (Family::V6, false) => flow::DST6_PLEN,
        };
        emit_map_lookup(b, &set_map_name(module, set, *f), key, fail);
        if families.len() == 2 && *f == Family::V4 {
            b.goto(matched);
        }
    }
    b.bind(matched);
}

/// Compares the first `plen` bits of the network-order bytes at `r10 + off` with
/// `addr`, one 32-bit word at a time. A word is loaded as little-endian, so the mask
/// and the expected value are built the same way from network-order bytes. Several
/// words are folded into one branch (`(w0 ^ v0) | (w1 ^ v1) ...`): fewer branches
/// mean fewer states for the verifier to keep while it walks a long rule chain.
fn emit_masked_words(b: &mut CodeBuffer, off: i16, addr: &[u8], plen: u8, fail: Label) {
    let words: Vec<(i16, u32, u32)> = addr
        .chunks(4)
        .enumerate()
        .take_while(|(w, _)| u32::from(plen) > *w as u32 * 32)
        .map(|(w, chunk)| {
            let bits = (u32::from(plen) - w as u32 * 32).min(32);
            let mask_be: u32 = if bits == 32 {
                u32::MAX
            } else {
                !(u32::MAX >> bits)
            };
            let mask = u32::from_le_bytes(mask_be.to_be_bytes());
            let value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) & mask;
            (off + 4 * w as i16, mask, value)
        })
        .collect();
    if let [(at, mask, value)] = words.as_slice() {
        b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, *at));
        if *mask != u32::MAX {
            b.emit(Insn::alu32_imm(op::AND, Reg::R1, *mask as i32));
        }
        b.branch32_imm(Cond::Ne, Reg::R1, *value, fail);
        return;
    }
    for (i, (at, mask, value)) in words.iter().enumerate() {
        let r = if i == 0 { Reg::R1 } else { Reg::R2 };
        b.emit(Insn::ldx(Size::W, r, Reg::FP, *at));
        if *mask != u32::MAX {
            b.emit(Insn::alu32_imm(op::AND, r, *mask as i32));
        }
        b.emit(Insn::alu32_imm(op::XOR, r, *value as i32));
        if i > 0 {
            b.emit(Insn::alu32_reg(op::OR, Reg::R1, Reg::R2));
        }
    }
    if !words.is_empty() {
        b.branch32_imm(Cond::Ne, Reg::R1, 0, fail);
    }
}

/// A long port list: one lookup of its bitmap in [`PORTS_MAP`] and one bit test, so
/// the code (and the chain of jumps the verifier follows) does not grow with the list.
/// Clobbers `r0`–`r5`.
fn emit_port_bitmap(b: &mut CodeBuffer, index: u32, field: i16, fail: Label) {
    let (r0, r1, r2, r3) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3);
    b.emit(Insn::st_imm(
        Size::W,
        Reg::FP,
        at(flow::COUNTER_KEY),
        index as i32,
    ));
    emit_map_lookup(b, PORTS_MAP, flow::COUNTER_KEY, fail);
    b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(field)));
    b.emit(Insn::mov64_reg(r2, r1));
    b.emit(Insn::alu64_imm(op::RSH, r2, 3));
    b.emit(Insn::alu64_reg(op::ADD, r0, r2));
    b.emit(Insn::ldx(Size::B, r3, r0, 0));
    b.emit(Insn::alu64_imm(op::AND, r1, 7));
    b.emit(Insn::alu64_reg(op::RSH, r3, r1));
    b.emit(Insn::alu64_imm(op::AND, r3, 1));
    b.branch_imm(Cond::Eq, r3, 0, fail);
}

/// Port ranges are sorted, so a port below a range's low end is below every later
/// range too and can fail at once.
fn emit_ports(b: &mut CodeBuffer, ranges: &[(u16, u16)], field: i16, fail: Label) {
    let r1 = Reg::R1;
    b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(field)));
    if let [(lo, hi)] = ranges {
        if lo == hi {
            b.branch_imm(Cond::Ne, r1, i32::from(*lo), fail);
        } else {
            if *lo > 0 {
                b.branch_imm(Cond::Lt, r1, i32::from(*lo), fail);
            }
            if *hi < u16::MAX {
                b.branch_imm(Cond::Gt, r1, i32::from(*hi), fail);
            }
        }
        return;
    }
    let ok = b.new_label();
    for (lo, hi) in ranges {
        if lo == hi {
            b.branch_imm(Cond::Eq, r1, i32::from(*lo), ok);
        } else {
            if *lo > 0 {
                b.branch_imm(Cond::Lt, r1, i32::from(*lo), fail);
            }
            b.branch_imm(Cond::Le, r1, i32::from(*hi), ok);
        }
    }
    b.goto(fail);
    b.bind(ok);
}
