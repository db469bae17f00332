//! `log`: the packets a logging rule decides go to `sockc trace` through a
//! BPF ring buffer, at most the rule's rate per second per CPU.
//!
//! Zero cost unless used: a module with no logging rule has none of the three maps
//! below and its programs not one extra instruction (this code is emitted only into
//! programs that have a logging rule). Otherwise the shared count-and-exit tail
//! (`rules.rs`) runs this after the counter bump, with the deciding rule's counter slot
//! at `COUNTER_KEY` and the verdict in `r9`:
//!
//! 1. look the slot up in [`LOG_LIMITS_MAP`] (an array filled at load: slot → rate, 0 for
//!    rules that do not log); 0 → done;
//! 2. the slot's per-CPU window in [`LOG_STATE_MAP`] (`{start_ns, count}`): a window
//!    older than a second restarts; a full one → done;
//! 3. reserve an [`EVENT_SIZE`]-byte record in [`EVENTS_MAP`] (full → done), write
//!    `{ktime_ns u64, slot u32, retval u32, flow record}` and submit it. A program that
//!    runs in the context of the process making a socket call (the socket-call
//!    hooks) reserves [`CALLER_EVENT_SIZE`] bytes and adds who called: the process
//!    id (`bpf_get_current_pid_tgid`'s tgid) and its command
//!    (`bpf_get_current_comm`); `sockc trace` tells the two kinds by their length.
//!
//! Clobbers r0-r5, r7, r8; keeps r6 (context) and r9 (verdict). The reserved record is
//! submitted on the only path that holds it.

use aya_obj::generated::bpf_func_id;

use crate::bpf::{
    buffer::CodeBuffer,
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};

use crate::bpf::emit::emit_map_lookup;

/// slot → packets per second per CPU (u32 → u32 array; 0: the rule does not log).
pub(crate) const LOG_LIMITS_MAP: &str = "log_limits";
/// slot → `{window start ns, packets logged in it}` per CPU.
pub(crate) const LOG_STATE_MAP: &str = "log_state";
/// The ring buffer `sockc trace` reads.
pub const EVENTS_MAP: &str = "events";
/// Ring buffer size (a power of two multiple of the page size).
pub(crate) const EVENTS_BYTES: u32 = 256 * 1024;
/// Bytes of one record: ktime (8), slot (4), retval (4), the flow record.
pub const EVENT_SIZE: i32 = 16 + flow::SIZE as i32;
/// Offsets in a record.
pub const EVENT_KTIME: usize = 0;
pub const EVENT_SLOT: usize = 8;
pub const EVENT_RETVAL: usize = 12;
pub const EVENT_FLOW: usize = 16;
/// The calling process's id (u32, the thread group id) in a record with a caller.
pub const EVENT_PID: usize = EVENT_FLOW + flow::SIZE as usize;
/// Its command (`comm`, 16 bytes, NUL-padded), after 4 bytes of padding.
pub const EVENT_COMM: usize = EVENT_PID + 8;
/// Bytes of the command.
pub const COMM_BYTES: usize = 16;
/// Bytes of a record with a caller.
pub const CALLER_EVENT_SIZE: i32 = (EVENT_COMM + COMM_BYTES) as i32;

const NS_PER_SEC: i32 = 1_000_000_000;

/// The log code of the shared tail; `caller`: the record says which process called
/// (the program runs in its context).
pub(super) fn emit(b: &mut CodeBuffer, caller: bool) {
    let (r0, r1, r2, r3, r7, r8) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R7, Reg::R8);
    let done = b.new_label();
    let same_window = b.new_label();
    b.note("log: rate limit, then the packet to the ring buffer");
    // 1. the rule's rate
    emit_map_lookup(b, LOG_LIMITS_MAP, flow::COUNTER_KEY, done);
    b.emit(Insn::ldx(Size::W, r7, r0, 0));
    b.branch_imm(Cond::Eq, r7, 0, done);
    // 2. this CPU's window for the rule
    emit_map_lookup(b, LOG_STATE_MAP, flow::COUNTER_KEY, done);
    b.emit(Insn::mov64_reg(r8, r0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_ktime_get_ns as u32));
    b.emit(Insn::ldx(Size::DW, r1, r8, 0));
    b.emit(Insn::mov64_reg(r2, r0));
    b.emit(Insn::alu64_reg(op::SUB, r2, r1));
    b.branch_imm(Cond::Lt, r2, NS_PER_SEC, same_window);
    b.emit(Insn::stx(Size::DW, r8, 0, r0));
    b.emit(Insn::st_imm(Size::DW, r8, 8, 0));
    b.bind(same_window);
    b.emit(Insn::ldx(Size::DW, r1, r8, 8));
    b.branch_reg(Cond::Ge, r1, r7, done);
    b.emit(Insn::alu64_imm(op::ADD, r1, 1));
    b.emit(Insn::stx(Size::DW, r8, 8, r1));
    // 3. the record
    b.ld_map(r1, EVENTS_MAP);
    b.emit(Insn::mov64_imm(
        r2,
        if caller {
            CALLER_EVENT_SIZE
        } else {
            EVENT_SIZE
        },
    ));
    b.emit(Insn::mov64_imm(r3, 0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_ringbuf_reserve as u32));
    b.branch_imm(Cond::Eq, r0, 0, done);
    b.emit(Insn::mov64_reg(r7, r0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_ktime_get_ns as u32));
    b.emit(Insn::stx(Size::DW, r7, EVENT_KTIME as i16, r0));
    b.emit(Insn::ldx(Size::W, r1, Reg::FP, at(flow::COUNTER_KEY)));
    b.emit(Insn::stx(Size::W, r7, EVENT_SLOT as i16, r1));
    b.emit(Insn::stx(Size::W, r7, EVENT_RETVAL as i16, Reg::R9));
    for off in (0..flow::SIZE).step_by(8) {
        b.emit(Insn::ldx(Size::DW, r1, Reg::FP, flow::FLOW + off));
        b.emit(Insn::stx(Size::DW, r7, EVENT_FLOW as i16 + off, r1));
    }
    if caller {
        b.emit(Insn::call(
            bpf_func_id::BPF_FUNC_get_current_pid_tgid as u32,
        ));
        b.emit(Insn::alu64_imm(op::RSH, r0, 32));
        b.emit(Insn::stx(Size::W, r7, EVENT_PID as i16, r0));
        b.emit(Insn::st_imm(Size::W, r7, EVENT_PID as i16 + 4, 0));
        b.emit(Insn::mov64_reg(r1, r7));
        b.emit(Insn::alu64_imm(op::ADD, r1, EVENT_COMM as i32));
        b.emit(Insn::mov64_imm(r2, COMM_BYTES as i32));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_get_current_comm as u32));
    }
    b.emit(Insn::mov64_reg(r1, r7));
    b.emit(Insn::mov64_imm(r2, 0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_ringbuf_submit as u32));
    b.bind(done);
}
