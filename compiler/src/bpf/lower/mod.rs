//! Lowering: one IR program to instructions, by the lowering of its hook's context
//! (the hook table's [`Context`] column; one file per context). [`packet`] lowers the
//! programs that see a packet (XDP, TC), [`sk_lookup`] the socket lookup programs,
//! [`sockmap`] the socket layer's (a sockmap block's sk_msg or sk_skb program, and the
//! dispatchers and sock_ops program sockc adds around a cgroup's blocks),
//! [`netfilter`] the netfilter hooks' programs (a packet read through a dynptr),
//! [`sk_lookup_register`] the sock_ops program that registers declared sockets when
//! they listen, [`sock_addr`] the programs of a cgroup's socket calls (`connect`,
//! `sendmsg`, `bind`). Each context with rules fills the flow record in its prologue, then
//! they all share the rule walk (`rules.rs`); `log.rs` is the `log` part of its tail.
//!
//! Invariant (every lowering keeps it): every path reaches `exit` with `r0` = a
//! verdict of the hook; every path that ends a rule or the default bumps exactly one
//! counter slot; every instruction of a rule's code carries the rule as its source
//! location; no instruction is emitted that no path reaches (the kernel rejects
//! those). The lowering follows the steps and plans the IR holds and makes no choices
//! of its own, so the optimizer's decisions are all visible in the IR.

pub mod log;
pub(crate) mod netfilter;
pub(crate) mod packet;
mod reject;
pub(super) mod rules;
pub(crate) mod sk_lookup;
pub(crate) mod sk_lookup_register;
pub(crate) mod sock_addr;
pub mod sockmap;

use super::{
    buffer::{BufferError, Code},
    maps::Sizing,
};
use crate::{
    hooks::Context,
    ir::{Module, Program},
};

/// Why a program could not be lowered: a compiler bug (sema lets through only what
/// the lowering handles).
#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    #[error(transparent)]
    Buffer(#[from] BufferError),
}

/// Lowers one program of a block to instructions; `sizing` gives the classifier
/// tables' sizes. (The programs sockc adds have their own: `sockmap::lower_companion`,
/// `sk_lookup_register::lower`.)
pub fn lower_program(module: &Module, prog: &Program, sizing: &Sizing) -> Result<Code, LowerError> {
    let spec = prog.hook.spec();
    match spec.context {
        Context::Packet(ctx) => packet::lower(module, prog, spec, ctx, sizing),
        Context::SkLookup => sk_lookup::lower(module, prog, spec, sizing),
        Context::SkMsg(ctx) | Context::SkSkb(ctx) => {
            sockmap::lower_rules(module, prog, spec, ctx, sizing)
        }
        Context::Netfilter => netfilter::lower(module, prog, spec, sizing),
        Context::SockAddr { ipv6 } => sock_addr::lower(module, prog, spec, ipv6, sizing),
        Context::SockOps { .. } | Context::Dispatch => {
            unreachable!("{} programs have no block: sockc adds them", spec.name)
        }
    }
}
