//! The places a program is completed at load: each declared socket's slot in the
//! install's socket map, the install's network namespace cookie (registrars compare
//! with it), and what the program needs from the running kernel (kfunc ids, struct
//! member offsets, read from its BTF by [`kernel_btf`]), written into a copy of the
//! object before any program of it is loaded.
//!
//! Invariant: the object is copied only when one of its programs has a place to
//! patch ([`needs_patch`]); a place outside its program is an error, never a write
//! elsewhere.

use sockc_compiler::metadata::Metadata;

use super::{LoadOptions, RuntimeError};
use crate::kernel_btf;

/// Whether a program of `meta` has a place `opts` (or the running kernel) fills in.
pub(super) fn needs_patch(meta: &Metadata, opts: &LoadOptions<'_>) -> bool {
    meta.programs.iter().any(|p| {
        (opts.socket_slots.is_some() && !p.socket_slots.is_empty())
            || (opts.netns_cookie.is_some() && !p.netns_cookie.is_empty())
            || !p.kernel_refs.is_empty()
    })
}

/// A copy of `elf` whose programs hold `slots[i]` wherever they hold socket `i`'s
/// slot ([`sockc_compiler::metadata::ProgramMeta::socket_slots`]) and the namespace
/// cookie's halves where they compare with it
/// ([`sockc_compiler::metadata::ProgramMeta::netns_cookie`]).
pub(super) fn with_patches(
    elf: &[u8],
    meta: &Metadata,
    opts: &LoadOptions<'_>,
) -> Result<Vec<u8>, RuntimeError> {
    let offsets = sockc_compiler::obj::program_offsets(elf).map_err(RuntimeError::Tables)?;
    let mut out = elf.to_vec();
    for p in &meta.programs {
        let slots = opts.socket_slots.filter(|_| !p.socket_slots.is_empty());
        let cookie = opts.netns_cookie.filter(|_| !p.netns_cookie.is_empty());
        if slots.is_none() && cookie.is_none() && p.kernel_refs.is_empty() {
            continue;
        }
        let start = offsets
            .iter()
            .find(|(s, _)| *s == p.symbol)
            .map(|(_, at)| *at)
            .ok_or_else(|| RuntimeError::MissingProgram {
                symbol: p.symbol.clone(),
            })?;
        // The immediate is the last 4 bytes of the 8-byte instruction.
        let imm_at = |insn: usize| start + insn * 8 + 4;
        if let Some(cookie) = cookie {
            for &(insn, half) in &p.netns_cookie {
                let at = imm_at(insn);
                let imm = out.get_mut(at..at + 4).ok_or(RuntimeError::PatchOutside {
                    symbol: p.symbol.clone(),
                    insn,
                })?;
                imm.copy_from_slice(&half.of(cookie).to_le_bytes());
            }
        }
        patch_kernel_refs(&mut out, start, p)?;
        let Some(slots) = slots else { continue };
        for &(insn, socket) in &p.socket_slots {
            let slot = slots.get(socket as usize).ok_or(RuntimeError::SocketSlot {
                symbol: p.symbol.clone(),
                socket,
            })?;
            let at = imm_at(insn);
            let imm = out.get_mut(at..at + 4).ok_or(RuntimeError::SocketSlot {
                symbol: p.symbol.clone(),
                socket,
            })?;
            imm.copy_from_slice(&slot.to_le_bytes());
        }
    }
    Ok(out)
}

/// Writes the running kernel's numbers into the program at `start` of `out`: kfunc
/// and struct type ids into immediates, struct member offsets into load offsets
/// ([`sockc_compiler::metadata::ProgramMeta::kernel_refs`]).
fn patch_kernel_refs(
    out: &mut [u8],
    start: usize,
    p: &sockc_compiler::metadata::ProgramMeta,
) -> Result<(), RuntimeError> {
    use sockc_compiler::bpf::kernel_ref::KernelRef;
    if p.kernel_refs.is_empty() {
        return Ok(());
    }
    let err = |what: &KernelRef, source| RuntimeError::KernelRef {
        symbol: p.symbol.clone(),
        what: what.to_string(),
        source,
    };
    let btf = kernel_btf::KernelBtf::running().map_err(|e| err(&p.kernel_refs[0].1, e))?;
    for (insn, what) in &p.kernel_refs {
        let value = btf.resolve(what).map_err(|e| err(what, e))?;
        // An instruction is code, registers, a 16-bit offset, a 32-bit immediate.
        let (at, bytes) = match what {
            KernelRef::Kfunc { .. }
            | KernelRef::Type { .. }
            | KernelRef::Offset { .. }
            | KernelRef::BitMask { .. } => (start + insn * 8 + 4, value.to_le_bytes().to_vec()),
            KernelRef::Field { .. } | KernelRef::BitByte { .. } => {
                // The compiler's offset is a position inside the member (0 for the
                // member itself).
                let at = start + insn * 8 + 2;
                let within = out
                    .get(at..at + 2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .ok_or(RuntimeError::PatchOutside {
                        symbol: p.symbol.clone(),
                        insn: *insn,
                    })?;
                let off = i16::try_from(value)
                    .ok()
                    .and_then(|v| v.checked_add(within))
                    .ok_or_else(|| {
                        err(
                            what,
                            kernel_btf::BtfError::Missing(format!("{what} below 32 KiB")),
                        )
                    })?;
                (at, off.to_le_bytes().to_vec())
            }
        };
        out.get_mut(at..at + bytes.len())
            .ok_or(RuntimeError::PatchOutside {
                symbol: p.symbol.clone(),
                insn: *insn,
            })?
            .copy_from_slice(&bytes);
    }
    Ok(())
}
