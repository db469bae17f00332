//! The reference check on hand-written instruction sequences (each kind of leak,
//! double release and unchecked use, with aliases and spills) and on every lowered
//! program of the rule corpus.

use super::*;
use crate::bpf::{
    buffer::{Code, CodeBuffer},
    insn::{Cond, Reg, Size},
};
use bpf_func_id::*;

const TUPLE: i16 = -48;

fn call(h: bpf_func_id) -> Insn {
    Insn::call(h as u32)
}

/// `r0 = helper(ctx, &tuple, 12, BPF_F_CURRENT_NETNS, 0)`, ctx kept in r6.
fn lookup(b: &mut CodeBuffer, h: bpf_func_id) {
    b.emit(Insn::st_imm(Size::DW, Reg::FP, TUPLE, 0));
    b.emit(Insn::st_imm(Size::W, Reg::FP, TUPLE + 8, 0));
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, i32::from(TUPLE)));
    b.emit(Insn::mov64_imm(Reg::R3, 12));
    b.emit(Insn::mov64_imm(Reg::R4, -1));
    b.emit(Insn::mov64_imm(Reg::R5, 0));
    b.emit(call(h));
}

fn release(b: &mut CodeBuffer, from: Reg) {
    b.emit(Insn::mov64_reg(Reg::R1, from));
    b.emit(call(BPF_FUNC_sk_release));
}

fn ret(b: &mut CodeBuffer) {
    b.emit(Insn::mov64_imm(Reg::R0, 2));
    b.emit(Insn::exit());
}

fn start() -> CodeBuffer {
    let mut b = CodeBuffer::new();
    b.emit(Insn::mov64_reg(Reg::R6, Reg::R1));
    b.emit(Insn::ldx(Size::W, Reg::R8, Reg::R6, 0));
    b
}

fn finish(b: CodeBuffer) -> Code {
    b.finish().unwrap()
}

fn first_acquire(c: &Code) -> usize {
    acquire_sites(&c.insns)[0]
}

fn position(c: &Code, i: Insn) -> Vec<usize> {
    (0..c.insns.len()).filter(|&p| c.insns[p] == i).collect()
}

fn err(c: &Code) -> RefError {
    check(&c.insns).expect_err("the check should fail")
}

/// lookup; if r0 == 0 goto out; release(r0); out: exit.
fn balanced(h: bpf_func_id) -> Code {
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, h);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.emit(Insn::ldx(Size::W, Reg::R2, Reg::R0, 4));
    release(&mut b, Reg::R0);
    b.bind(out);
    ret(&mut b);
    finish(b)
}

#[test]
fn balanced_lookup_check_release_passes() {
    for h in ACQUIRE {
        let c = balanced(h);
        assert_eq!(check(&c.insns), Ok(()), "{h:?}");
        assert_eq!(acquire_sites(&c.insns).len(), 1);
    }
}

#[test]
fn balanced_through_an_alias_and_jne_passes() {
    let mut b = start();
    let (rel, out) = (b.new_label(), b.new_label());
    lookup(&mut b, BPF_FUNC_sk_lookup_udp);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    b.emit(Insn::mov64_imm(Reg::R0, 0)); // the original copy is gone
    b.branch_imm(Cond::Ne, Reg::R7, 0, rel);
    b.goto(out);
    b.bind(rel);
    release(&mut b, Reg::R7);
    b.bind(out);
    ret(&mut b);
    assert_eq!(check(&finish(b).insns), Ok(()));
}

#[test]
fn balanced_through_a_spill_and_fill_passes() {
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_skc_lookup_tcp);
    b.emit(Insn::stx(Size::DW, Reg::FP, -56, Reg::R0));
    b.emit(Insn::mov64_imm(Reg::R0, 0));
    b.emit(Insn::ldx(Size::DW, Reg::R2, Reg::FP, -56));
    b.branch_imm(Cond::Eq, Reg::R2, 0, out);
    // Stores next to the slot and a clobbering helper keep the spill.
    b.emit(Insn::st_imm(Size::W, Reg::FP, -60, 7));
    b.emit(Insn::st_imm(Size::DW, Reg::FP, -48, 7));
    b.emit(call(BPF_FUNC_ktime_get_ns));
    // The check narrowed every copy, including the spilled one.
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, -56));
    b.emit(call(BPF_FUNC_sk_release));
    b.bind(out);
    ret(&mut b);
    assert_eq!(check(&finish(b).insns), Ok(()));
}

#[test]
fn a_store_over_the_spill_slot_loses_the_copy() {
    for clobber in [
        Insn::st_imm(Size::W, Reg::FP, -52, 0),
        Insn::stx(Size::B, Reg::FP, -56, Reg::R8),
    ] {
        let mut b = start();
        let out = b.new_label();
        lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
        b.branch_imm(Cond::Eq, Reg::R0, 0, out);
        b.emit(Insn::stx(Size::DW, Reg::FP, -56, Reg::R0));
        b.emit(clobber);
        b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, -56));
        b.emit(call(BPF_FUNC_sk_release));
        b.bind(out);
        ret(&mut b);
        let c = finish(b);
        let e = err(&c);
        assert_eq!(e.kind, RefErrorKind::ReleaseNonRef, "{e}");
        assert_eq!(e.acquire, Some(first_acquire(&c)));
    }
}

#[test]
fn a_helper_writing_the_stack_loses_the_spill() {
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.emit(Insn::stx(Size::DW, Reg::FP, -8, Reg::R0));
    // bpf_skb_load_bytes(ctx, 0, r10 - 64, 64) may write -64..0.
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::mov64_imm(Reg::R2, 0));
    b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R3, -64));
    b.emit(Insn::mov64_imm(Reg::R4, 64));
    b.emit(call(BPF_FUNC_skb_load_bytes));
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, -8));
    b.emit(call(BPF_FUNC_sk_release));
    b.bind(out);
    ret(&mut b);
    assert_eq!(err(&finish(b)).kind, RefErrorKind::ReleaseNonRef);
}

#[test]
fn missing_release_on_one_branch_is_a_leak() {
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.branch_imm(Cond::Eq, Reg::R8, 5, out); // skips the release
    release(&mut b, Reg::R0);
    b.bind(out);
    ret(&mut b);
    let c = finish(b);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::Leak);
    assert_eq!(e.acquire, Some(first_acquire(&c)));
    assert_eq!(e.insn, position(&c, Insn::exit())[0]);
    let a = first_acquire(&c);
    assert_eq!(
        e.to_string(),
        format!(
            "socket reference acquired at insn {a} (bpf_sk_lookup_tcp) is still held at \
                 insn {} (exit); every path where it is not NULL must pass it to \
                 bpf_sk_release first",
            e.insn
        )
    );
}

#[test]
fn release_without_a_null_check_fails() {
    let mut b = start();
    lookup(&mut b, BPF_FUNC_sk_lookup_udp);
    release(&mut b, Reg::R0);
    ret(&mut b);
    let c = finish(b);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::ReleaseMaybeNull);
    assert_eq!(e.acquire, Some(first_acquire(&c)));
    assert_eq!(e.insn, position(&c, call(BPF_FUNC_sk_release))[0]);
}

#[test]
fn release_on_the_null_side_is_not_a_reference() {
    let mut b = start();
    let skip = b.new_label();
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch_imm(Cond::Ne, Reg::R0, 0, skip);
    release(&mut b, Reg::R0); // r0 is 0 here
    b.bind(skip);
    ret(&mut b);
    let e = err(&finish(b));
    assert_eq!(e.kind, RefErrorKind::ReleaseNonRef);
    // No reference is owed on the NULL side.
    assert_eq!(e.acquire, None);
}

#[test]
fn a_jmp32_compare_does_not_count_as_a_null_check() {
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch32_imm(Cond::Eq, Reg::R0, 0, out);
    release(&mut b, Reg::R0);
    b.bind(out);
    ret(&mut b);
    assert_eq!(err(&finish(b)).kind, RefErrorKind::ReleaseMaybeNull);
}

#[test]
fn double_release_fails() {
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    release(&mut b, Reg::R0);
    release(&mut b, Reg::R7);
    b.bind(out);
    ret(&mut b);
    let c = finish(b);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::DoubleRelease);
    assert_eq!(e.acquire, Some(first_acquire(&c)));
    assert_eq!(e.insn, position(&c, call(BPF_FUNC_sk_release))[1]);
    assert!(e.to_string().contains("already released"), "{e}");
}

#[test]
fn release_after_overwriting_the_only_copy_is_a_leak() {
    // r7 = first socket; r7 = second socket; release(r7): the first one leaks.
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    lookup(&mut b, BPF_FUNC_sk_lookup_udp);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    release(&mut b, Reg::R7);
    b.bind(out);
    ret(&mut b);
    let c = finish(b);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::Leak);
    assert_eq!(e.acquire, Some(acquire_sites(&c.insns)[0]));

    // Overwritten by a number: the release names the reference still owed.
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    b.emit(Insn::mov64_imm(Reg::R0, 1));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R7, 8)); // pointer arithmetic: no copy
    release(&mut b, Reg::R0);
    b.bind(out);
    ret(&mut b);
    let c = finish(b);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::ReleaseNonRef);
    assert_eq!(e.acquire, Some(first_acquire(&c)));
    assert!(e.to_string().contains("is still held"), "{e}");
}

#[test]
fn tail_call_while_holding_fails() {
    let build = |release_first: bool| {
        let mut b = start();
        let out = b.new_label();
        lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
        b.branch_imm(Cond::Eq, Reg::R0, 0, out);
        b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
        if release_first {
            release(&mut b, Reg::R7);
        }
        b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
        b.ld_map(Reg::R2, "jumps");
        b.emit(Insn::mov64_imm(Reg::R3, 0));
        b.emit(call(BPF_FUNC_tail_call));
        if !release_first {
            release(&mut b, Reg::R7);
        }
        b.bind(out);
        ret(&mut b);
        finish(b)
    };
    assert_eq!(check(&build(true).insns), Ok(()));
    let c = build(false);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::Leak);
    assert_eq!(e.insn, position(&c, call(BPF_FUNC_tail_call))[0]);
    assert_eq!(e.acquire, Some(first_acquire(&c)));
    assert!(e.to_string().contains("tail call"), "{e}");
}

#[test]
fn deref_before_null_check_fails() {
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_skc_lookup_tcp);
    b.emit(Insn::ldx(Size::W, Reg::R2, Reg::R0, 4));
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    release(&mut b, Reg::R0);
    b.bind(out);
    ret(&mut b);
    let c = finish(b);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::NullDeref);
    assert_eq!(e.insn, first_acquire(&c) + 1);
    assert_eq!(e.acquire, Some(first_acquire(&c)));
    assert!(e.to_string().contains("r0 is dereferenced"), "{e}");
}

#[test]
fn a_known_non_null_reference_prunes_the_null_side() {
    // A second check of a checked reference cannot take its NULL side.
    let mut b = start();
    let (out, bad) = (b.new_label(), b.new_label());
    lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.branch_imm(Cond::Eq, Reg::R0, 0, bad);
    release(&mut b, Reg::R0);
    b.goto(out);
    b.bind(bad);
    b.emit(Insn::exit()); // would leak if it were reachable
    b.bind(out);
    ret(&mut b);
    assert_eq!(check(&finish(b).insns), Ok(()));
}

#[test]
fn programs_without_references_pass() {
    let mut b = start();
    let out = b.new_label();
    b.ld_map(Reg::R1, "m");
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, -4));
    b.emit(call(BPF_FUNC_map_lookup_elem));
    b.branch_imm(Cond::Eq, Reg::R0, 0, out);
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    b.bind(out);
    ret(&mut b);
    assert_eq!(check(&finish(b).insns), Ok(()));
    assert_eq!(check(&[]), Ok(()));
    assert_eq!(check(&[Insn::mov64_imm(Reg::R0, 0), Insn::exit()]), Ok(()));
}

#[test]
fn malformed_control_flow_is_unsupported() {
    let cases: [&[Insn]; 4] = [
        &[Insn::mov64_imm(Reg::R0, 0)],
        &[Insn::ja(5), Insn::exit()],
        &[
            Insn::ja(1),
            Insn::ld_map_fd(Reg::R1)[0],
            Insn::ld_map_fd(Reg::R1)[1],
            Insn::exit(),
        ],
        &[Insn::new(op::JMP | op::CALL, 0, 1, 0, 1), Insn::exit()],
    ];
    for insns in cases {
        let e = check(insns).unwrap_err();
        assert_eq!(e.kind, RefErrorKind::Unsupported, "{e}");
    }
}

/// A loop that looks up and releases on every iteration passes; one that keeps the
/// reference across the back edge does not, and the walk terminates either way.
#[test]
fn loops_terminate() {
    let build = |release_in_loop: bool| {
        let mut b = start();
        let (head, next) = (b.new_label(), b.new_label());
        b.emit(Insn::mov64_imm(Reg::R9, 0));
        b.bind(head);
        lookup(&mut b, BPF_FUNC_sk_lookup_tcp);
        b.branch_imm(Cond::Eq, Reg::R0, 0, next);
        if release_in_loop {
            release(&mut b, Reg::R0);
        }
        b.bind(next);
        b.emit(Insn::alu64_imm(op::ADD, Reg::R9, 1));
        b.branch_imm(Cond::Lt, Reg::R9, 4, head);
        ret(&mut b);
        finish(b)
    };
    assert_eq!(check(&build(true).insns), Ok(()));
    let c = build(false);
    let e = err(&c);
    assert_eq!(e.kind, RefErrorKind::Leak, "{e}");
    assert_eq!(e.acquire, Some(first_acquire(&c)));
}

/// Chain of diamonds: each side writes the scratch registers differently (a stack
/// pointer on one side, a number on the other), as rule code does.
fn branchy(b: &mut CodeBuffer, diamonds: usize) {
    for k in 0..diamonds {
        let (other, join) = (b.new_label(), b.new_label());
        b.emit(Insn::ldx(
            Size::W,
            Reg::R1,
            Reg::FP,
            -4 * (k % 16) as i16 - 4,
        ));
        b.branch_imm(Cond::Eq, Reg::R1, k as i32, other);
        b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R3, -64));
        b.emit(Insn::st_imm(Size::W, Reg::R3, 0, 1));
        b.goto(join);
        b.bind(other);
        b.emit(Insn::mov64_imm(Reg::R3, 7));
        b.emit(Insn::stx(Size::W, Reg::FP, -8, Reg::R3));
        b.bind(join);
        b.emit(Insn::mov64_imm(Reg::R9, k as i32));
    }
}

#[test]
fn a_100k_insn_program_without_references_is_walked_once() {
    let mut b = start();
    for _ in 0..20_000 {
        b.emit(Insn::alu64_imm(op::ADD, Reg::R8, 1));
    }
    branchy(&mut b, 10_000);
    ret(&mut b);
    let c = finish(b);
    assert!(c.insns.len() >= 100_000, "{}", c.insns.len());
    let t = std::time::Instant::now();
    let steps = walk(&c.insns).unwrap();
    // Every instruction once: joins see one state each.
    assert_eq!(steps, c.insns.len());
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
}

#[test]
fn a_reference_held_across_100k_branchy_insns_is_walked_once_per_side() {
    // The release is far from the check, so the buffer emits gotol and an
    // inverted short branch; both sides of every diamond hold the same state.
    let mut b = start();
    let out = b.new_label();
    lookup(&mut b, BPF_FUNC_skc_lookup_tcp);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    b.branch_imm(Cond::Eq, Reg::R7, 0, out);
    branchy(&mut b, 14_000);
    release(&mut b, Reg::R7);
    b.bind(out);
    ret(&mut b);
    let c = finish(b);
    assert!(c.insns.len() >= 100_000, "{}", c.insns.len());
    assert!(
        c.insns.iter().any(|i| i.code == op::JMP32 | op::JA),
        "expected a gotol"
    );
    let steps = walk(&c.insns).unwrap();
    assert!(
        steps <= c.insns.len() + 4,
        "{steps} steps for {}",
        c.insns.len()
    );
}

#[test]
fn spilled_released_copies_do_not_multiply_states() {
    // 3000 rules, each: lookup, spill, check, release; the spill slot keeps a
    // released copy on one side of the check and nothing on the other.
    let mut b = start();
    for _ in 0..3_000 {
        let (next, skip) = (b.new_label(), b.new_label());
        b.branch_imm(Cond::Eq, Reg::R8, 3, skip);
        lookup(&mut b, BPF_FUNC_sk_lookup_udp);
        b.emit(Insn::stx(Size::DW, Reg::FP, -56, Reg::R0));
        b.branch_imm(Cond::Eq, Reg::R0, 0, next);
        release(&mut b, Reg::R0);
        b.bind(next);
        b.bind(skip);
        b.emit(Insn::alu64_imm(op::ADD, Reg::R8, 1));
    }
    ret(&mut b);
    let c = finish(b);
    let steps = walk(&c.insns).unwrap();
    assert!(
        steps <= 2 * c.insns.len(),
        "{steps} steps for {}",
        c.insns.len()
    );
    assert_eq!(acquire_sites(&c.insns).len(), 3_000);
}

/// The lowered socket conditions with their release call removed leak, and the
/// error names the lookup.
#[test]
fn lowered_socket_code_without_its_release_leaks() {
    let src =
        "xdp on eth0 {\n    allow tcp to 1.1.1.0/24:53 if socket exists\n    default drop\n}\n";
    let compiled = crate::compile(src, &crate::driver::Options::default())
        .0
        .expect("compiles");
    let mut insns = compiled.programs[0].code.insns.clone();
    assert_eq!(check(&insns), Ok(()));
    let sites = acquire_sites(&insns);
    assert!(!sites.is_empty());
    let rel = insns
        .iter()
        .position(|&i| i == call(BPF_FUNC_sk_release))
        .expect("a release");
    insns[rel] = Insn::mov64_imm(Reg::R0, 0);
    let e = check(&insns).unwrap_err();
    assert_eq!(e.kind, RefErrorKind::Leak, "{e}");
    assert!(sites.contains(&e.acquire.unwrap()), "{e}");
    assert_eq!(insns[e.insn], Insn::exit(), "{e}");
}

/// An sk_lookup redirect takes its socket from a socket-map lookup, which acquires a
/// reference though `bpf_map_lookup_elem` does not say so: the lowered code passes
/// with the lookup marked; with its release removed it leaks from that lookup; and a
/// check that is not told about the lookup calls the release a release of nothing.
#[test]
fn socket_map_lookups_acquire_references() {
    let src = "socket p = tcp 127.0.0.1:8080\nsk_lookup {\n    redirect 3.3.3.3:* to sock p\n    default pass\n}\n";
    let compiled = crate::compile(src, &crate::driver::Options::default())
        .0
        .expect("compiles");
    let code = &compiled.programs[0].code;
    assert_eq!(code.socket_acquires.len(), 1);
    assert_eq!(check_code(code), Ok(()));
    assert_eq!(
        check(&code.insns).unwrap_err().kind,
        RefErrorKind::ReleaseNonRef
    );
    let mut leaky = code.clone();
    let rel = leaky
        .insns
        .iter()
        .position(|&i| i == call(BPF_FUNC_sk_release))
        .expect("a release");
    leaky.insns[rel] = Insn::mov64_imm(Reg::R0, 0);
    let e = check_code(&leaky).unwrap_err();
    assert_eq!(e.kind, RefErrorKind::Leak, "{e}");
    assert_eq!(e.acquire, Some(code.socket_acquires[0]), "{e}");
}

/// Everything the compiler lowers from the rule corpus, socket conditions
/// included, passes at both optimization levels.
#[test]
fn every_lowered_corpus_program_passes() {
    use crate::{driver::Options, opt::OptLevel};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut stack = vec![root];
    let (mut programs, mut with_refs, mut with_socket_maps) = (0, 0, 0);
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "sk") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for opt in [OptLevel::O0, OptLevel::O2] {
                let opts = Options {
                    opt,
                    ..Options::default()
                };
                let Some(compiled) = crate::compile(&src, &opts).0 else {
                    continue;
                };
                for p in &compiled.programs {
                    programs += 1;
                    if !acquire_sites(&p.code.insns).is_empty() {
                        with_refs += 1;
                    }
                    if !p.code.socket_acquires.is_empty() {
                        with_socket_maps += 1;
                    }
                    if let Err(e) = check_code(&p.code) {
                        panic!("{} {} ({:?}): {e}", path.display(), p.symbol, opt);
                    }
                }
            }
        }
    }
    assert!(programs > 0);
    assert!(with_refs > 0, "the corpus has socket conditions");
    assert!(with_socket_maps > 0, "the corpus has sk_lookup redirects");
}
