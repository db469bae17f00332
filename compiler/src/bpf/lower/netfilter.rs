//! Lowering of netfilter programs (`BPF_PROG_TYPE_NETFILTER`): the dynptr prologue
//! ([`crate::bpf::nf_packet`]) fills the flow record from the network header on, then
//! the shared rule walk ([`super::rules`]) decides with the hook's verdicts (`NF_ACCEPT`,
//! `NF_DROP`, the only two the verifier allows). Netfilter hooks have no redirect.

use super::{rules, LowerError};
use crate::{
    bpf::{
        buffer::{Code, CodeBuffer},
        maps::Sizing,
        nf_packet::emit_prologue,
    },
    hooks::HookSpec,
    ir::{Module, Program},
};

/// Lowers a netfilter block's program.
pub(crate) fn lower(
    module: &Module,
    prog: &Program,
    spec: &HookSpec,
    sizing: &Sizing,
) -> Result<Code, LowerError> {
    let mut b = CodeBuffer::new();
    emit_prologue(
        &mut b,
        super::packet::uses_sets(prog),
        super::packet::header_copies(prog),
    );
    rules::emit(b, module, prog, spec, sizing, &mut rules::NoRedirect)
}
