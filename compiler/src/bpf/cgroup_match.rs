//! `cgroup "PATH"`: whether the packet's socket (or the calling process) is in the
//! named cgroup or below it, against the level and id the runtime wrote into the
//! cgroup's slot of the `cgroups` map ([`CGROUPS_MAP`], a [`CgroupRef`] per slot).
//!
//! The cgroup of the socket's (or process's) at the named cgroup's level is read
//! - at TC egress and cgroup ingress/egress by `bpf_skb_ancestor_cgroup_id(skb,
//!   level)` (the socket as `skb_to_full_sk` gives it: a request socket stands for
//!   its listener), with `bpf_skb_cgroup_id` telling a packet without a full socket
//!   (0) apart;
//! - at the socket-call hooks by `bpf_get_current_ancestor_cgroup_id(level)`, the
//!   calling task's;
//! - at netfilter hooks through BTF as `xt_cgroup` reads it: `skb->sk` itself (no
//!   request socket's listener), a full socket (not time-wait, not a request socket)
//!   of the hook's network namespace, its `sk_cgrp_data.cgroup`'s ancestor at the
//!   level (`ancestors[level]`, as `cgroup_is_descendant` reads it: however deep the
//!   socket's cgroup is), then `kn->id`.
//!
//! The cgroup below it is "in"; a cgroup above the level, or an id of 0 in the slot (a
//! slot the runtime left empty: a `sockc test` of a cgroup this host lacks), is "not
//! in". A packet without a socket is neither: no `cgroup` test matches it, negated
//! or not ([`crate::syntax::cgroup_match`]).
//!
//! Invariant: loads only, no reference taken (`bpf_rdonly_cast` gives an untrusted
//! pointer); struct offsets are
//! [`super::kernel_ref`] placeholders; clobbers `r0`–`r5` and the [`SCRATCH`] bytes
//! on the stack, which no other test keeps anything in between tests.

use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    flow::{at, COUNTER_KEY},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::{CgroupCap, HookSpec, NF_CTX},
    syntax::cgroup_match::CgroupMatch,
};

/// Name of the map of the named cgroups' levels and ids (u32 slot → [`CgroupRef`]).
pub const CGROUPS_MAP: &str = "cgroups";

pub use crate::syntax::cgroup_match::CGROUPS_MAX;

/// The value of a slot: the named cgroup's id (its directory's inode number on cgroup
/// v2; 0: not filled) and its level (the root is 0), as the runtime writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupRef {
    pub id: u64,
    pub level: u32,
}

impl CgroupRef {
    /// Byte offset of the level in the value (the id is at 0).
    pub const LEVEL: i16 = 8;
    /// Bytes of a value.
    pub const SIZE: usize = 16;

    /// The value as the map holds it (native byte order, as the program reads it).
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[..8].copy_from_slice(&self.id.to_ne_bytes());
        out[8..12].copy_from_slice(&self.level.to_ne_bytes());
        out
    }
}

/// Stack scratch: the named cgroup's id and level, read from the map before the
/// socket's cgroup is (whose helpers clobber every register the map value was in).
/// The `limit` test's key area: no other test keeps anything there.
const SCRATCH: i16 = super::limit::SCRATCH_KEY;
const ID: i16 = SCRATCH;
const LEVEL: i16 = SCRATCH + 8;

/// Jumps to `fail` unless the test `c` holds (context in `r6`).
pub(crate) fn emit_test(b: &mut CodeBuffer, spec: &HookSpec, c: &CgroupMatch, fail: Label) {
    let (inside, outside, ok) = (b.new_label(), b.new_label(), b.new_label());
    b.note(format!("{c}: slot {}", c.slot));
    load_slot(b, c.slot, fail);
    match spec.caps.cgroup {
        CgroupCap::Skb => emit_skb(b, fail),
        CgroupCap::Caller => {
            b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, LEVEL));
            b.emit(Insn::call(
                bpf_func_id::BPF_FUNC_get_current_ancestor_cgroup_id as u32,
            ));
        }
        CgroupCap::Netfilter => emit_netfilter(b, fail, outside),
        CgroupCap::None => {
            // Sema refuses `cgroup` here; a program that got one anyway never matches.
            debug_assert!(false, "cgroup test at {}", spec.name);
            b.goto(fail);
            b.bind(inside);
            b.bind(outside);
            b.bind(ok);
            return;
        }
    }
    // r0: the ancestor's id at the level (0: none, the cgroup is above the level).
    b.branch_imm(Cond::Eq, Reg::R0, 0, outside);
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, ID));
    b.branch_reg(Cond::Ne, Reg::R0, Reg::R1, outside);
    b.bind(inside);
    b.goto(if c.negated { fail } else { ok });
    b.bind(outside);
    if !c.negated {
        b.goto(fail);
    }
    b.bind(ok);
}

/// Copies slot `slot`'s id and level to the scratch.
fn load_slot(b: &mut CodeBuffer, slot: u32, fail: Label) {
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(COUNTER_KEY), slot as i32));
    b.ld_map(Reg::R1, CGROUPS_MAP);
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(
        op::ADD,
        Reg::R2,
        i32::from(at(COUNTER_KEY)),
    ));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    b.branch_imm(Cond::Eq, Reg::R0, 0, fail);
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    b.emit(Insn::stx(Size::DW, Reg::FP, ID, Reg::R1));
    b.emit(Insn::ldx(Size::W, Reg::R1, Reg::R0, CgroupRef::LEVEL));
    b.emit(Insn::stx(Size::DW, Reg::FP, LEVEL, Reg::R1));
}

/// `r0 = bpf_skb_ancestor_cgroup_id(skb, level)`; to `fail` without a full socket.
fn emit_skb(b: &mut CodeBuffer, fail: Label) {
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_skb_cgroup_id as u32));
    b.branch_imm(Cond::Eq, Reg::R0, 0, fail);
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::ldx(Size::W, Reg::R2, Reg::FP, LEVEL));
    b.emit(Insn::call(
        bpf_func_id::BPF_FUNC_skb_ancestor_cgroup_id as u32,
    ));
}

/// `TCP_TIME_WAIT` and `TCP_NEW_SYN_RECV`: the states of sockets that are not full.
const TCP_TIME_WAIT: i32 = 6;
const TCP_NEW_SYN_RECV: i32 = 12;

/// `r0` = the id of the socket's cgroup's ancestor at the level, as `xt_cgroup`
/// finds the socket; to `fail` without one, to `outside` for a cgroup above the level.
fn emit_netfilter(b: &mut CodeBuffer, fail: Label, outside: Label) {
    let (r0, r1, r2, r3) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3);
    b.note("cgroup: skb->sk, a full socket of this namespace");
    b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.skb));
    b.load_kernel_field(Size::DW, r1, r1, "sk_buff", "sk");
    b.branch_imm(Cond::Eq, r1, 0, fail);
    b.load_kernel_field(Size::B, r2, r1, "sock_common", "skc_state");
    b.branch_imm(Cond::Eq, r2, TCP_TIME_WAIT, fail);
    b.branch_imm(Cond::Eq, r2, TCP_NEW_SYN_RECV, fail);
    b.load_kernel_field(Size::DW, r2, r1, "sock_common", "skc_net");
    b.emit(Insn::ldx(Size::DW, r3, Reg::R6, NF_CTX.state));
    b.load_kernel_field(Size::DW, r3, r3, "nf_hook_state", "net");
    b.branch_reg(Cond::Ne, r2, r3, fail);
    // `sk_cgrp_data.cgroup`, the structure's first member.
    b.load_kernel_field(Size::DW, r1, r1, "sock", "sk_cgrp_data");
    b.branch_imm(Cond::Eq, r1, 0, fail);
    b.load_kernel_field(Size::W, r2, r1, "cgroup", "level");
    b.emit(Insn::ldx(Size::DW, r3, Reg::FP, LEVEL));
    b.branch_reg(Cond::Lt, r2, r3, outside);
    // `&ancestors[level]`: the verifier takes constant offsets only in loads through a
    // kernel pointer, so the address is computed and cast, read as a css (whose first
    // member is its `struct cgroup *`) to load the pointer the slot holds.
    b.emit(Insn::alu64_imm(op::LSH, r3, 3));
    b.mov_kernel_field_offset(r2, "cgroup", "ancestors");
    b.emit(Insn::alu64_reg(op::ADD, r3, r2));
    b.emit(Insn::alu64_reg(op::ADD, r1, r3));
    b.mov_kernel_type_id(r2, "cgroup_subsys_state");
    b.call_kfunc("bpf_rdonly_cast", false, false);
    b.branch_imm(Cond::Eq, r0, 0, outside);
    b.load_kernel_field(Size::DW, r1, r0, "cgroup_subsys_state", "cgroup");
    b.branch_imm(Cond::Eq, r1, 0, outside);
    b.load_kernel_field(Size::DW, r1, r1, "cgroup", "kn");
    b.branch_imm(Cond::Eq, r1, 0, outside);
    b.load_kernel_field(Size::DW, r0, r1, "kernfs_node", "id");
}
