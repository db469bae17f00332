//! Socket reference tracking: proves, before the kernel sees a program, that every
//! socket reference taken by `bpf_sk_lookup_tcp`, `bpf_sk_lookup_udp` or
//! `bpf_skc_lookup_tcp` is passed to `bpf_sk_release` exactly once on every path where
//! it is not NULL, is never released or dereferenced before its NULL check, and is not
//! held at `exit`, at a tail call or at a legacy packet load (both may end the program).
//!
//! The walk is path-sensitive over the whole control-flow graph. Along each path it
//! carries an abstract state: what every register and every spilled 8-byte stack
//! slot holds (a copy of a reference, of a released one, a stack pointer, or anything
//! else) and which references are still owed a release, each "maybe NULL" or "not
//! NULL". A reference is named by the instruction that acquired it. The state splits at
//! `if rX == 0` / `if rX != 0` (64-bit, immediate 0) on a reference: on the NULL side
//! the reference is gone with nothing owed, on the other it is known non-NULL; every
//! other branch keeps the state on both sides. Invariant of the state: a register or
//! slot holds a copy of a reference only while that reference is owed; what is owed
//! shrinks only by a release or by the NULL side of a check, never by overwriting
//! copies, so a reference whose last copy was lost still leaks at `exit`.
//!
//! States are memoized at join points (see `walk`), after forgetting registers that
//! are dead there, so code that holds no reference is walked about once per
//! instruction, and loops terminate: the abstract state space is finite. Helper ids come
//! from the kernel bindings.

use std::collections::HashSet;

use foldhash::fast::FixedState;

use aya_obj::generated::{self as k, bpf_func_id};

use super::{
    buffer::Code,
    insn::{op, Insn},
};

/// Helpers that return a socket reference, or NULL, in `r0`.
const ACQUIRE: [bpf_func_id; 3] = [
    bpf_func_id::BPF_FUNC_sk_lookup_tcp,
    bpf_func_id::BPF_FUNC_sk_lookup_udp,
    bpf_func_id::BPF_FUNC_skc_lookup_tcp,
];

/// Helpers that only read through pointer arguments, so a stack buffer passed to them
/// keeps its spilled references. Every other helper is assumed to write the stack
/// from a pointer argument up to the top of the frame.
const READ_ONLY: [bpf_func_id; 14] = [
    bpf_func_id::BPF_FUNC_map_lookup_elem,
    bpf_func_id::BPF_FUNC_map_update_elem,
    bpf_func_id::BPF_FUNC_map_delete_elem,
    bpf_func_id::BPF_FUNC_sk_lookup_tcp,
    bpf_func_id::BPF_FUNC_sk_lookup_udp,
    bpf_func_id::BPF_FUNC_skc_lookup_tcp,
    bpf_func_id::BPF_FUNC_sk_release,
    bpf_func_id::BPF_FUNC_tail_call,
    bpf_func_id::BPF_FUNC_redirect_map,
    bpf_func_id::BPF_FUNC_sk_redirect_map,
    bpf_func_id::BPF_FUNC_msg_redirect_map,
    bpf_func_id::BPF_FUNC_sk_assign,
    bpf_func_id::BPF_FUNC_perf_event_output,
    bpf_func_id::BPF_FUNC_ringbuf_output,
];

/// Size of the BPF stack frame below `r10`.
const FRAME: i32 = 512;

const MODE_MASK: u8 = 0xe0;
const SIZE_MASK: u8 = 0x18;
const OP_MASK: u8 = 0xf0;
const ATOMIC: u8 = k::BPF_ATOMIC as u8;
const MEMSX: u8 = k::BPF_MEMSX as u8;
const ABS: u8 = k::BPF_ABS as u8;
const IND: u8 = k::BPF_IND as u8;

fn is_helper(id: i32, h: bpf_func_id) -> bool {
    id == h as i32
}

fn is_acquire(id: i32) -> bool {
    ACQUIRE.iter().any(|&h| is_helper(id, h))
}

/// A call of a kernel helper (not a BPF-to-BPF call or a kfunc).
fn is_helper_call(i: Insn) -> bool {
    i.code == op::JMP | op::CALL && i.src == 0
}

/// A call of a kernel function (`BPF_PSEUDO_KFUNC_CALL`): its id is a placeholder
/// until load, so whether it acquires or releases comes from the code buffer.
fn is_kfunc_call(i: Insn) -> bool {
    i.code == op::JMP | op::CALL && u32::from(i.src) == k::BPF_PSEUDO_KFUNC_CALL
}

fn helper_name(id: i32) -> &'static str {
    use bpf_func_id::*;
    [
        (BPF_FUNC_sk_lookup_tcp, "bpf_sk_lookup_tcp"),
        (BPF_FUNC_sk_lookup_udp, "bpf_sk_lookup_udp"),
        (BPF_FUNC_skc_lookup_tcp, "bpf_skc_lookup_tcp"),
    ]
    .into_iter()
    .find(|&(h, _)| is_helper(id, h))
    .map_or("helper", |(_, n)| n)
}

/// Instruction slots of the calls that acquire a socket reference, in order: the
/// values [`RefError::acquire`] can take.
#[cfg(test)]
pub(crate) fn acquire_sites(insns: &[Insn]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pc = 0;
    while pc < insns.len() {
        let i = insns[pc];
        if is_helper_call(i) && is_acquire(i.imm) {
            out.push(pc);
        }
        pc += if i.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

/// What went wrong; see [`RefError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefErrorKind {
    /// A reference is still held at `exit`, a tail call or a legacy packet load, or an
    /// acquire in a loop runs again while its previous reference is owed but has no
    /// copy left.
    Leak,
    /// `bpf_sk_release` of a reference that was already released.
    DoubleRelease,
    /// `bpf_sk_release` of a reference not yet checked against NULL.
    ReleaseMaybeNull,
    /// `bpf_sk_release` with `r1` holding no reference (also on the NULL side of a
    /// check, where `r1` is 0).
    ReleaseNonRef,
    /// A load or store through a reference not yet checked against NULL.
    NullDeref,
    /// Code this pass does not model (BPF-to-BPF calls, kfuncs, jumps out of the
    /// program, an acquire in a loop while its previous reference is still in use...).
    Unsupported,
}

/// A reference-tracking error, with the instruction where it shows and the acquire
/// it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RefError {
    pub kind: RefErrorKind,
    /// Slot where the problem shows: the `exit`, tail call, release, load or store.
    pub insn: usize,
    /// Slot of the call that acquired the reference concerned. For
    /// [`RefErrorKind::ReleaseNonRef`] the oldest reference still held, if any (the
    /// one the release most likely meant); `None` when no reference is involved.
    pub acquire: Option<usize>,
    message: String,
}

impl RefError {
    fn new(kind: RefErrorKind, insn: usize, acquire: Option<u32>, message: String) -> Self {
        RefError {
            kind,
            insn,
            acquire: acquire.map(|a| a as usize),
            message,
        }
    }

    fn unsupported(insn: usize, what: impl std::fmt::Display) -> Self {
        Self::new(
            RefErrorKind::Unsupported,
            insn,
            None,
            format!("insn {insn}: reference check: {what}"),
        )
    }

    /// The message, as `Display` shows it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Checks the socket references of instructions alone (no socket-map lookups): the
/// tests' hand-written programs.
#[cfg(test)]
pub(crate) fn check(insns: &[Insn]) -> Result<(), RefError> {
    walk(insns).map(|_| ())
}

/// Checks the socket references of one lowered program (the whole `Code::insns`, entry
/// at slot 0), whose socket-map lookups also acquire references
/// ([`Code::socket_acquires`]: a `bpf_map_lookup_elem` on a SOCKMAP or SOCKHASH
/// returns a socket the program must release, which the helper id alone does not say).
/// `Ok` means: on every path, every reference acquired is checked against NULL before
/// it is released or dereferenced, and released exactly once unless found NULL, before
/// `exit`, any tail call and any `LD_ABS`/`LD_IND`.
pub fn check_code(code: &Code) -> Result<(), RefError> {
    walk_with(&code.insns, &code.socket_acquires, &code.releases).map(|_| ())
}

/// What one register or spilled stack slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Val {
    /// Not a reference and not a stack pointer (numbers, ctx, packet and map-value
    /// pointers: none of these can point into the stack).
    Other,
    /// `r10 + off`, `off` in `-512..=0`.
    Fp(i16),
    /// A pointer into the stack at an offset not known here.
    FpVar,
    /// A copy of the owed reference acquired at this slot.
    Ref(u32),
    /// A copy of the reference acquired at this slot, since released.
    Released(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Null {
    Maybe,
    Not,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    regs: [Val; 11],
    /// Spilled 8-byte slots `(offset from r10, value)`, sorted by offset; offsets are
    /// multiples of 8 in `-512..=-8`; `Other` is never stored (an absent slot holds it).
    slots: Vec<(i16, Val)>,
    /// References owed a release `(acquiring slot, nullness)`, sorted.
    held: Vec<(u32, Null)>,
}

impl State {
    fn entry() -> Self {
        let mut regs = [Val::Other; 11];
        regs[10] = Val::Fp(0);
        State {
            regs,
            slots: Vec::new(),
            held: Vec::new(),
        }
    }

    fn nullness(&self, a: u32) -> Option<Null> {
        self.held.iter().find(|(x, _)| *x == a).map(|(_, n)| *n)
    }

    fn oldest_held(&self) -> Option<u32> {
        self.held.first().map(|(a, _)| *a)
    }

    fn slot(&self, at: i32) -> Option<Val> {
        self.slots
            .iter()
            .find(|(s, _)| i32::from(*s) == at)
            .map(|(_, v)| *v)
    }

    /// A write to the stack bytes `lo..hi` (offsets from `r10`) destroys every spill
    /// it overlaps.
    fn clobber_stack(&mut self, lo: i32, hi: i32) {
        self.slots.retain(|&(s, _)| {
            let s = i32::from(s);
            !(lo < s + 8 && s < hi)
        });
    }

    /// An 8-byte store of `v` at `r10 + at`.
    fn spill(&mut self, at: i32, v: Val) {
        self.clobber_stack(at, at + 8);
        if v != Val::Other && at % 8 == 0 && (-FRAME..=-8).contains(&at) {
            let i = self.slots.partition_point(|(s, _)| i32::from(*s) < at);
            self.slots.insert(i, (at as i16, v));
        }
    }

    /// Replaces every copy of reference `a` (registers and spills) by `to`.
    fn replace_ref(&mut self, a: u32, to: Val) {
        for r in &mut self.regs {
            if *r == Val::Ref(a) {
                *r = to;
            }
        }
        for (_, v) in &mut self.slots {
            if *v == Val::Ref(a) {
                *v = to;
            }
        }
        self.slots.retain(|(_, v)| *v != Val::Other);
    }

    /// The NULL side of a check of `a`: every copy is 0 and nothing is owed.
    fn found_null(&mut self, a: u32) {
        self.replace_ref(a, Val::Other);
        self.held.retain(|(x, _)| *x != a);
    }

    fn found_not_null(&mut self, a: u32) {
        for (x, n) in &mut self.held {
            if *x == a {
                *n = Null::Not;
            }
        }
    }

    fn release(&mut self, a: u32) {
        self.replace_ref(a, Val::Released(a));
        self.held.retain(|(x, _)| *x != a);
    }

    fn acquire(&mut self, a: u32) {
        self.regs[0] = Val::Ref(a);
        let i = self.held.partition_point(|(x, _)| *x < a);
        self.held.insert(i, (a, Null::Maybe));
    }

    fn has_copy(&self, a: u32) -> bool {
        self.regs.contains(&Val::Ref(a)) || self.slots.iter().any(|(_, v)| *v == Val::Ref(a))
    }

    /// Forgets registers not in `live` (r10 is never forgotten).
    fn forget_dead(&mut self, live: u16) {
        for (r, v) in self.regs.iter_mut().enumerate().take(10) {
            if live & (1 << r) == 0 {
                *v = Val::Other;
            }
        }
    }

    /// The state as memoized: a released copy behaves like `Other` in everything but
    /// the wording of an error (releasing either is an error, neither narrows at a
    /// NULL check, and loads and stores through them check nothing), so the two are
    /// not told apart. Without this, spilled released copies would double the states
    /// at every join after each lookup-and-release sequence.
    fn key(&self) -> State {
        let norm = |v: Val| match v {
            Val::Released(_) => Val::Other,
            v => v,
        };
        State {
            regs: self.regs.map(norm),
            slots: self
                .slots
                .iter()
                .filter(|(_, v)| !matches!(v, Val::Released(_)))
                .copied()
                .collect(),
            held: self.held.clone(),
        }
    }
}

/// Control-flow facts computed once per program.
struct Cfg {
    /// Successors of each instruction (`None`-padded); `[None, None]` for `exit` and
    /// for the second slot of an `ld_imm64`.
    succ: Vec<[Option<usize>; 2]>,
    /// Instructions with two or more predecessors (the entry counts as one for slot 0).
    join: Vec<bool>,
    /// Registers live on entry to each instruction (bit `r`), for [`State::forget_dead`].
    live: Vec<u16>,
    /// Helper calls that acquire a reference though their id does not say so.
    acquires: Vec<bool>,
    /// Kfunc calls that release the reference in `r1`.
    releases: Vec<bool>,
}

const ARGS: u16 = 0b11_1110;
const CALL_CLOBBERS: u16 = 0b11_1111;
const CTX: u16 = 1 << 6;

/// Registers an instruction reads and those it certainly writes, as far as this pass
/// is concerned (reads may be over-approximated, writes may not). Also rejects invalid
/// registers and writes to `r10`.
fn uses_defs(pc: usize, i: Insn) -> Result<(u16, u16), RefError> {
    let bit = |r: u8| {
        if r <= 10 {
            Ok(1u16 << r)
        } else {
            Err(RefError::unsupported(
                pc,
                format_args!("invalid register r{r}"),
            ))
        }
    };
    let o = i.code & OP_MASK;
    let x = i.code & op::X != 0;
    let mode = i.code & MODE_MASK;
    let (uses, defs) = match i.class() {
        op::ALU | op::ALU64 => {
            let d = bit(i.dst)?;
            if o == op::END || o == op::NEG {
                (d, d)
            } else if o == op::MOV {
                (if x { bit(i.src)? } else { 0 }, d)
            } else {
                (d | if x { bit(i.src)? } else { 0 }, d)
            }
        }
        op::LDX if mode == op::MEM || mode == MEMSX => (bit(i.src)?, bit(i.dst)?),
        op::ST if mode == op::MEM => (bit(i.dst)?, 0),
        op::STX if mode == op::MEM => (bit(i.dst)? | bit(i.src)?, 0),
        op::STX if mode == ATOMIC => {
            let u = bit(i.dst)? | bit(i.src)?;
            if i.imm == k::BPF_CMPXCHG as i32 {
                (u | 1, 1)
            } else if i.imm & k::BPF_FETCH as i32 != 0 {
                (u, bit(i.src)?)
            } else {
                (u, 0)
            }
        }
        op::LD if i.is_ld_imm64() => (0, bit(i.dst)?),
        op::LD if mode == ABS => (CTX, CALL_CLOBBERS),
        op::LD if mode == IND => (CTX | bit(i.src)?, CALL_CLOBBERS),
        op::JMP | op::JMP32 => match o {
            op::JA => (0, 0),
            op::CALL => (ARGS, CALL_CLOBBERS),
            op::EXIT => (1, 0),
            _ => (bit(i.dst)? | if x { bit(i.src)? } else { 0 }, 0),
        },
        _ => {
            return Err(RefError::unsupported(
                pc,
                format_args!("unknown opcode {:#04x}", i.code),
            ))
        }
    };
    if defs & (1 << 10) != 0 {
        return Err(RefError::unsupported(
            pc,
            "writes the read-only frame pointer r10",
        ));
    }
    Ok((uses, defs))
}

/// Where control can go after `pc`; rejects jumps out of the program or into the
/// middle of an `ld_imm64`, and falling off the end.
fn successors(pc: usize, i: Insn, second: &[bool]) -> Result<[Option<usize>; 2], RefError> {
    let n = second.len();
    let target = |rel: i64| {
        let t = pc as i64 + 1 + rel;
        if t < 0 || t >= n as i64 {
            Err(RefError::unsupported(
                pc,
                format_args!("jump to {t}, outside the program (0..{n})"),
            ))
        } else if second[t as usize] {
            Err(RefError::unsupported(
                pc,
                format_args!("jump to {t}, the second half of an ld_imm64"),
            ))
        } else {
            Ok(Some(t as usize))
        }
    };
    let next = |len: usize| {
        if pc + len < n {
            Ok(Some(pc + len))
        } else {
            Err(RefError::unsupported(
                pc,
                "control falls off the end of the program",
            ))
        }
    };
    let class = i.class();
    if class != op::JMP && class != op::JMP32 {
        return Ok([next(if i.is_ld_imm64() { 2 } else { 1 })?, None]);
    }
    let jmp32 = class == op::JMP32;
    Ok(match i.code & OP_MASK {
        op::JA if jmp32 => [target(i64::from(i.imm))?, None],
        op::JA => [target(i64::from(i.off))?, None],
        op::EXIT if !jmp32 => [None, None],
        op::CALL if !jmp32 && (i.src == 0 || is_kfunc_call(i)) => [next(1)?, None],
        op::CALL if !jmp32 => {
            return Err(RefError::unsupported(
                pc,
                "calls of BPF functions and kfuncs are not modelled",
            ))
        }
        op::JEQ
        | op::JGT
        | op::JGE
        | op::JSET
        | op::JNE
        | op::JSGT
        | op::JSGE
        | op::JLT
        | op::JLE
        | op::JSLT
        | op::JSLE => [next(1)?, target(i64::from(i.off))?],
        _ => {
            return Err(RefError::unsupported(
                pc,
                format_args!("unknown jump opcode {:#04x}", i.code),
            ))
        }
    })
}

impl Cfg {
    fn new(insns: &[Insn]) -> Result<Self, RefError> {
        let n = insns.len();
        let mut second = vec![false; n];
        let mut pc = 0;
        while pc < n {
            if insns[pc].is_ld_imm64() {
                if pc + 1 == n {
                    return Err(RefError::unsupported(pc, "ld_imm64 cut off by the end"));
                }
                second[pc + 1] = true;
                pc += 2;
            } else {
                pc += 1;
            }
        }
        let mut succ = vec![[None, None]; n];
        let mut ud = vec![(0u16, 0u16); n];
        let mut preds = vec![0u8; n];
        preds[0] = 1;
        for pc in (0..n).filter(|&pc| !second[pc]) {
            ud[pc] = uses_defs(pc, insns[pc])?;
            succ[pc] = successors(pc, insns[pc], &second)?;
            for t in succ[pc].into_iter().flatten() {
                preds[t] = preds[t].saturating_add(1);
            }
        }
        // Backward liveness to a fixed point: one pass for forward-only code, one more
        // per level of loop nesting.
        let mut live = vec![0u16; n];
        loop {
            let mut changed = false;
            for pc in (0..n).rev().filter(|&pc| !second[pc]) {
                let out = succ[pc].into_iter().flatten().fold(0, |a, t| a | live[t]);
                let (uses, defs) = ud[pc];
                let inn = uses | (out & !defs);
                if inn != live[pc] {
                    live[pc] = inn;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        Ok(Cfg {
            succ,
            join: preds.iter().map(|&p| p >= 2).collect(),
            live,
            acquires: vec![false; n],
            releases: vec![false; n],
        })
    }
}

/// What to do after one instruction.
enum Flow {
    /// Continue at this slot with the (updated) state.
    Next(usize),
    /// Also explore `(slot, state)`, then continue at the slot with the current state.
    Fork(usize, State, usize),
    /// The path ends.
    Stop,
}

/// [`walk_with`] with no socket-map lookups (the tests' hand-written programs).
#[cfg(test)]
fn walk(insns: &[Insn]) -> Result<usize, RefError> {
    walk_with(insns, &[], &[])
}

/// Explores every path, the calls at `acquires` also acquiring a reference; returns
/// how many instructions were stepped (for tests).
///
/// Memoization is sound because the transfer of a state through an instruction and
/// every check made there depend only on `(pc, state)`: a second arrival at a join with
/// a state already seen there can reach exactly the errors the first one reaches (the
/// first is explored to completion, or its exploration is still on the worklist), so
/// it is dropped. Two states that differ only in dead registers, or in released copies
/// versus `Other` (see [`State::key`]), reach the same errors, up to the wording of a
/// release error. Termination: states are built from finitely many values (reference
/// names are acquiring slots, stack offsets are bounded), so each join sees finitely
/// many, and every cycle passes through a join.
fn walk_with(insns: &[Insn], acquires: &[usize], releases: &[usize]) -> Result<usize, RefError> {
    if insns.is_empty() {
        return Ok(0);
    }
    let mut cfg = Cfg::new(insns)?;
    for &a in acquires {
        if let Some(x) = cfg.acquires.get_mut(a) {
            *x = is_helper_call(insns[a]) || is_kfunc_call(insns[a]);
        }
    }
    for &r in releases {
        if let Some(x) = cfg.releases.get_mut(r) {
            *x = is_kfunc_call(insns[r]);
        }
    }
    // foldhash, not SipHash: the keys are the walk's own states, which a rule file
    // shapes only through lowering and cannot choose.
    let mut seen: HashSet<(usize, State), FixedState> = HashSet::default();
    let mut work = vec![(0usize, State::entry())];
    let mut steps = 0usize;
    while let Some((mut pc, mut st)) = work.pop() {
        loop {
            if cfg.join[pc] {
                st.forget_dead(cfg.live[pc]);
                if !seen.insert((pc, st.key())) {
                    break;
                }
            }
            steps += 1;
            match step(insns, &cfg, pc, &mut st)? {
                Flow::Next(to) => pc = to,
                Flow::Fork(other, other_state, to) => {
                    work.push((other, other_state));
                    pc = to;
                }
                Flow::Stop => break,
            }
        }
    }
    Ok(steps)
}

fn leak(insns: &[Insn], pc: usize, a: u32, at: &str) -> RefError {
    RefError::new(
        RefErrorKind::Leak,
        pc,
        Some(a),
        format!(
            "socket reference acquired at insn {a} ({}) is still held at insn {pc} ({at}); \
             every path where it is not NULL must pass it to bpf_sk_release first",
            helper_name(insns[a as usize].imm)
        ),
    )
}

/// A load or store through `r`: an error if `r` is a reference maybe NULL.
fn check_deref(insns: &[Insn], st: &State, pc: usize, r: u8) -> Result<(), RefError> {
    if let Val::Ref(a) = st.regs[r as usize] {
        if st.nullness(a) == Some(Null::Maybe) {
            return Err(RefError::new(
                RefErrorKind::NullDeref,
                pc,
                Some(a),
                format!(
                    "insn {pc}: r{r} is dereferenced before the NULL check of the socket \
                     reference acquired at insn {a} ({})",
                    helper_name(insns[a as usize].imm)
                ),
            ));
        }
    }
    Ok(())
}

fn step(insns: &[Insn], cfg: &Cfg, pc: usize, st: &mut State) -> Result<Flow, RefError> {
    let i = insns[pc];
    let (dst, src) = (i.dst as usize, i.src as usize);
    let o = i.code & OP_MASK;
    let x = i.code & op::X != 0;
    let mode = i.code & MODE_MASK;
    let size = match i.code & SIZE_MASK {
        s if s == op::B => 1,
        s if s == op::H => 2,
        s if s == op::W => 4,
        _ => 8,
    };
    let fall = cfg.succ[pc][0];
    match i.class() {
        op::ALU | op::ALU64 => {
            let alu64 = i.class() == op::ALU64;
            st.regs[dst] = if alu64 && o == op::MOV && x && i.off == 0 {
                // The only way to make another copy of a reference in a register.
                st.regs[src]
            } else if alu64 && (o == op::ADD || o == op::SUB) {
                let stack = |v| matches!(v, Val::Fp(_) | Val::FpVar);
                match (st.regs[dst], x) {
                    (Val::Fp(b), false) => {
                        let d = i64::from(i.imm);
                        let n = i64::from(b) + if o == op::ADD { d } else { -d };
                        if (-i64::from(FRAME)..=0).contains(&n) {
                            Val::Fp(n as i16)
                        } else {
                            Val::FpVar
                        }
                    }
                    (v, _) if stack(v) => Val::FpVar,
                    (_, true) if o == op::ADD && stack(st.regs[src]) => Val::FpVar,
                    _ => Val::Other,
                }
            } else {
                Val::Other
            };
        }
        op::LDX => {
            check_deref(insns, st, pc, i.src)?;
            st.regs[dst] = match st.regs[src] {
                Val::Fp(b) if mode == op::MEM && size == 8 => st
                    .slot(i32::from(b) + i32::from(i.off))
                    .unwrap_or(Val::Other),
                _ => Val::Other,
            };
        }
        op::ST | op::STX => {
            check_deref(insns, st, pc, i.dst)?;
            let stored = if i.class() == op::STX && mode == op::MEM && size == 8 {
                st.regs[src]
            } else {
                Val::Other
            };
            match st.regs[dst] {
                Val::Fp(b) => {
                    let at = i32::from(b) + i32::from(i.off);
                    if size == 8 {
                        st.spill(at, stored);
                    } else {
                        st.clobber_stack(at, at + size);
                    }
                }
                Val::FpVar => st.slots.clear(),
                _ => {}
            }
            if i.class() == op::STX && mode == ATOMIC {
                if i.imm == k::BPF_CMPXCHG as i32 {
                    st.regs[0] = Val::Other;
                } else if i.imm & k::BPF_FETCH as i32 != 0 {
                    st.regs[src] = Val::Other;
                }
            }
        }
        op::LD => {
            if i.is_ld_imm64() {
                st.regs[dst] = Val::Other;
            } else {
                // LD_ABS/LD_IND end the program when the load is out of bounds.
                if let Some(a) = st.oldest_held() {
                    return Err(leak(
                        insns,
                        pc,
                        a,
                        "LD_ABS/LD_IND, which may end the program",
                    ));
                }
                st.regs[..6].fill(Val::Other);
            }
        }
        _ => return jump(insns, cfg, pc, st),
    }
    Ok(Flow::Next(fall.expect("checked by Cfg::new")))
}

fn jump(insns: &[Insn], cfg: &Cfg, pc: usize, st: &mut State) -> Result<Flow, RefError> {
    let i = insns[pc];
    let [fall, taken] = cfg.succ[pc];
    let o = i.code & OP_MASK;
    if o == op::JA {
        return Ok(Flow::Next(fall.expect("checked by Cfg::new")));
    }
    if o == op::EXIT {
        return match st.oldest_held() {
            Some(a) => Err(leak(insns, pc, a, "exit")),
            None => Ok(Flow::Stop),
        };
    }
    let fall = fall.expect("checked by Cfg::new");
    if o == op::CALL {
        call(insns, pc, cfg.acquires[pc], cfg.releases[pc], st)?;
        return Ok(Flow::Next(fall));
    }
    let taken = taken.expect("checked by Cfg::new");
    let null_check =
        i.class() == op::JMP && (o == op::JEQ || o == op::JNE) && i.code & op::X == 0 && i.imm == 0;
    if let (true, Val::Ref(a)) = (null_check, st.regs[i.dst as usize]) {
        // `if ref == 0`: `taken` is the NULL side; `if ref != 0`: the other one.
        let taken_is_null = o == op::JEQ;
        if st.nullness(a) == Some(Null::Not) {
            // Known non-NULL: the NULL side cannot run (the kernel prunes it too).
            return Ok(Flow::Next(if taken_is_null { fall } else { taken }));
        }
        let mut null = st.clone();
        null.found_null(a);
        st.found_not_null(a);
        return Ok(if taken_is_null {
            Flow::Fork(taken, null, fall)
        } else {
            let not_null = std::mem::replace(st, null);
            Flow::Fork(taken, not_null, fall)
        });
    }
    Ok(Flow::Fork(taken, st.clone(), fall))
}

fn call(
    insns: &[Insn],
    pc: usize,
    acquires: bool,
    releases: bool,
    st: &mut State,
) -> Result<(), RefError> {
    let id = insns[pc].imm;
    if releases || (is_helper_call(insns[pc]) && is_helper(id, bpf_func_id::BPF_FUNC_sk_release)) {
        match st.regs[1] {
            Val::Ref(a) if st.nullness(a) == Some(Null::Not) => st.release(a),
            Val::Ref(a) => {
                return Err(RefError::new(
                    RefErrorKind::ReleaseMaybeNull,
                    pc,
                    Some(a),
                    format!(
                        "insn {pc}: bpf_sk_release of the socket reference acquired at insn \
                         {a} ({}) before it was checked against NULL",
                        helper_name(insns[a as usize].imm)
                    ),
                ))
            }
            Val::Released(a) => {
                return Err(RefError::new(
                    RefErrorKind::DoubleRelease,
                    pc,
                    Some(a),
                    format!(
                        "insn {pc}: bpf_sk_release of the socket reference acquired at insn \
                         {a} ({}), which was already released",
                        helper_name(insns[a as usize].imm)
                    ),
                ))
            }
            _ => {
                let held = st.oldest_held();
                let hint = held.map_or(String::new(), |a| {
                    format!(" (the reference acquired at insn {a} is still held)")
                });
                return Err(RefError::new(
                    RefErrorKind::ReleaseNonRef,
                    pc,
                    held,
                    format!(
                        "insn {pc}: bpf_sk_release called with r1 not holding a socket \
                         reference{hint}"
                    ),
                ));
            }
        }
    }
    if is_helper(id, bpf_func_id::BPF_FUNC_tail_call) {
        if let Some(a) = st.oldest_held() {
            return Err(leak(
                insns,
                pc,
                a,
                "tail call, which ends the program if it succeeds",
            ));
        }
    }
    if !READ_ONLY.iter().any(|&h| is_helper(id, h)) {
        let regs = st.regs;
        for arg in &regs[1..=5] {
            match *arg {
                Val::Fp(b) => st.clobber_stack(i32::from(b), 0),
                Val::FpVar => st.slots.clear(),
                _ => {}
            }
        }
    }
    st.regs[..6].fill(Val::Other);
    if acquires || (is_helper_call(insns[pc]) && is_acquire(id)) {
        let a = pc as u32;
        if st.nullness(a).is_some() {
            // Only in a loop: the reference from the previous iteration is still owed.
            let (kind, what) = if st.has_copy(a) {
                (
                    RefErrorKind::Unsupported,
                    "while the one it acquired on an earlier loop iteration is still held \
                     (one reference per acquire site is tracked)",
                )
            } else {
                (
                    RefErrorKind::Leak,
                    "while the one it acquired on an earlier loop iteration is still held \
                     and no copy of it is left",
                )
            };
            return Err(RefError::new(
                kind,
                pc,
                Some(a),
                format!("insn {pc}: {} runs again {what}", helper_name(id)),
            ));
        }
        st.acquire(a);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
