//! `limit ...` in packet hooks: one GCRA token bucket per rule (or per rule and source
//! address), a single `u64` theoretical arrival time in a map value, updated with
//! `BPF_CMPXCHG` so that every CPU shares it. `syntax::limit` defines the bucket; this
//! file emits the same arithmetic ([`Bucket::admit`]).
//!
//! Shared, not per-CPU: per-CPU buckets would each need the whole rate (admitting
//! N × CPUs under a flood spread by RSS) or a share of it (admitting N / CPUs when RSS
//! sends the flood to one CPU). With one word and compare-and-swap every admission
//! advances the word by its cost exactly once, so any interval of length t admits at
//! most `burst + ⌈t / interval⌉` packets whatever the concurrency; a lost race is
//! retried up to [`TRIES`] times, and a packet that loses all of them is counted as
//! over the limit (races only ever under-admit).
//!
//! Maps: [`LIMITS_MAP`], an array indexed by the rule's counter slot (so it is sized
//! with the counters), and with any `per source` limit [`SOURCES_MAP`], an LRU hash
//! keyed by `{slot, family, address}` holding [`SOURCES`] buckets for the whole
//! install. A source not in it starts with a full bucket; when it is full the least
//! recently used source is evicted, and comes back with a full bucket.
//!
//! Invariant: the test changes the bucket only when the packet fits, and it is the
//! last test of its rule (`ir::flow::rule_tests`), so a packet takes from a bucket
//! only when the rest of the rule matched it. Clobbers `r0`–`r5`, `r7`, `r8`.

use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    emit::emit_map_lookup,
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
    route::FIB,
};
use crate::{
    ir::RuleLimit,
    syntax::limit::{Bucket, MAX_COUNTED_LEN},
};

/// slot → the TAT of the rule's bucket (u32 → u64 array; 0 is a full bucket).
pub const LIMITS_MAP: &str = "limits";
/// `{slot, family, address}` → the TAT of that source's bucket (LRU hash).
pub const SOURCES_MAP: &str = "limit_sources";
/// Buckets [`SOURCES_MAP`] holds for the whole install (hashlimit's default table
/// holds 1024 per rule; an LRU entry costs about 100 bytes of kernel memory).
pub const SOURCES: u32 = 16384;
/// Compare-and-swap attempts before a packet counts as over the limit.
pub const TRIES: usize = 4;

/// Stack scratch: the source key (24 bytes) and a value to insert (8), below the
/// route lookup's parameters.
const KEY: i16 = FIB - 24;
const VALUE: i16 = KEY - 8;
/// The key area, which other tests may use as scratch within themselves
/// (`bpf::cgroup_match`): nothing is kept there between tests.
pub(crate) const SCRATCH_KEY: i16 = KEY;
const _: () = assert!(VALUE >= -512);
/// The lowest stack byte the packet hooks' scratch areas use (this one is the lowest).
pub(crate) const SCRATCH_BOTTOM: i16 = VALUE;

/// Emits one `limit` test: a packet that fits the bucket (with `over`: one that does
/// not) goes on, any other goes to `fail`.
pub(crate) fn emit_test(b: &mut CodeBuffer, l: &RuleLimit, fail: Label) {
    let (fits, over) = (b.new_label(), b.new_label());
    b.note(format!("{}: the bucket in slot {}", l.limit, l.slot));
    if l.limit.per_source {
        emit_keyed_bucket(b, SOURCES_MAP, l.slot, over);
    } else {
        b.emit(Insn::st_imm(
            Size::W,
            Reg::FP,
            at(flow::COUNTER_KEY),
            l.slot as i32,
        ));
        emit_map_lookup(b, LIMITS_MAP, flow::COUNTER_KEY, over);
    }
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_ktime_get_ns as u32));
    b.emit(Insn::mov64_reg(Reg::R8, Reg::R0));
    emit_cost(b, &l.bucket);
    emit_admit(b, &l.bucket, fits, over);
    let (pass, stop) = if l.limit.over {
        (over, fits)
    } else {
        (fits, over)
    };
    b.bind(stop);
    b.goto(fail);
    b.bind(pass);
}

/// The packet's cost in ns into `r3`.
fn emit_cost(b: &mut CodeBuffer, k: &Bucket) {
    let r3 = Reg::R3;
    if !k.bytes {
        load_u64(b, r3, k.cost);
        return;
    }
    let counted = b.new_label();
    b.emit(Insn::ldx(Size::W, r3, Reg::FP, at(flow::PKT_LEN)));
    b.branch_imm(Cond::Le, r3, MAX_COUNTED_LEN as i32, counted);
    b.emit(Insn::mov64_imm(r3, MAX_COUNTED_LEN as i32));
    b.bind(counted);
    load_u64(b, Reg::R1, k.cost);
    b.emit(Insn::alu64_reg(op::MUL, r3, Reg::R1));
    b.emit(Insn::alu64_imm(op::ADD, r3, 0xffff));
    b.emit(Insn::alu64_imm(op::RSH, r3, 16));
}

/// The GCRA step on the word `r7` points to, at time `r8`, for cost `r3`: to `fits`
/// after a successful swap, to `over` when the packet does not fit or every try lost.
fn emit_admit(b: &mut CodeBuffer, k: &Bucket, fits: Label, over: Label) {
    load_u64(b, Reg::R5, k.depth);
    emit_gcra(b, fits, over);
}

/// [`emit_admit`] with the bucket's depth in `r5` (a depth the program reads from a
/// map: `bpf::answers`). Clobbers `r0`–`r4`.
pub(crate) fn emit_gcra(b: &mut CodeBuffer, fits: Label, over: Label) {
    let (r0, r1, r2, r4, r5) = (Reg::R0, Reg::R1, Reg::R2, Reg::R4, Reg::R5);
    for _ in 0..TRIES {
        let later = b.new_label();
        b.emit(Insn::ldx(Size::DW, r1, Reg::R7, 0));
        b.emit(Insn::mov64_reg(r2, Reg::R8));
        b.branch_reg(Cond::Le, r1, Reg::R8, later);
        b.emit(Insn::mov64_reg(r2, r1));
        b.bind(later);
        b.emit(Insn::alu64_reg(op::ADD, r2, Reg::R3));
        b.emit(Insn::mov64_reg(r4, r2));
        b.emit(Insn::alu64_reg(op::SUB, r4, Reg::R8));
        b.branch_reg(Cond::Gt, r4, r5, over);
        b.emit(Insn::mov64_reg(r0, r1));
        b.emit(Insn::cmpxchg64(Reg::R7, 0, r2));
        b.branch_reg(Cond::Eq, r0, r1, fits);
    }
    b.goto(over);
}

/// The bucket of the packet's source for the rule in `slot` of the LRU hash `map`
/// (keyed `{slot, family, address}`, as [`SOURCES_MAP`]) into `r0`, inserted full when
/// the source has none; to `missing` when the table has no room for it. Clobbers
/// `r0`–`r5`.
pub(crate) fn emit_keyed_bucket(b: &mut CodeBuffer, map: &str, slot: u32, missing: Label) {
    let over = missing;
    let (r0, r1, r2) = (Reg::R0, Reg::R1, Reg::R2);
    let (v6, key_done, have) = (b.new_label(), b.new_label(), b.new_label());
    b.emit(Insn::st_imm(Size::W, Reg::FP, KEY, slot as i32));
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L3)));
    b.emit(Insn::stx(Size::W, Reg::FP, KEY + 4, r1));
    b.emit(Insn::st_imm(Size::DW, Reg::FP, KEY + 8, 0));
    b.emit(Insn::st_imm(Size::DW, Reg::FP, KEY + 16, 0));
    b.branch_imm(Cond::Eq, r1, 6, v6);
    b.emit(Insn::ldx(Size::W, r1, Reg::FP, at(flow::SRC4)));
    b.emit(Insn::stx(Size::W, Reg::FP, KEY + 8, r1));
    b.goto(key_done);
    b.bind(v6);
    for w in 0..4 {
        b.emit(Insn::ldx(Size::W, r1, Reg::FP, at(flow::SRC6) + 4 * w));
        b.emit(Insn::stx(Size::W, Reg::FP, KEY + 8 + 4 * w, r1));
    }
    b.bind(key_done);
    lookup_source(b, map);
    b.branch_imm(Cond::Ne, r0, 0, have);
    // A new source: a full bucket (TAT 0). Another CPU may insert it first
    // (`BPF_NOEXIST` fails); either way the lookup after finds the one entry.
    b.emit(Insn::st_imm(Size::DW, Reg::FP, VALUE, 0));
    b.ld_map(r1, map);
    b.emit(Insn::mov64_reg(r2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, r2, i32::from(KEY)));
    b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(VALUE)));
    b.emit(Insn::mov64_imm(
        Reg::R4,
        aya_obj::generated::BPF_NOEXIST as i32,
    ));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_update_elem as u32));
    lookup_source(b, map);
    b.branch_imm(Cond::Eq, r0, 0, over);
    b.bind(have);
}

fn lookup_source(b: &mut CodeBuffer, map: &str) {
    b.ld_map(Reg::R1, map);
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, i32::from(KEY)));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
}

/// `r = v`, in one slot when `v` fits a sign-extended immediate.
pub(crate) fn load_u64(b: &mut CodeBuffer, r: Reg, v: u64) {
    match i32::try_from(v) {
        Ok(imm) => b.emit(Insn::mov64_imm(r, imm)),
        Err(_) => {
            for i in Insn::ld_imm64(r, v) {
                b.emit(i);
            }
        }
    }
}
