//! Every program of an object through the verifier, by the runtime's own
//! `BPF_PROG_LOAD` ([`raw_load`]), each with the descriptors of the maps just made,
//! and what the kernel says of it afterwards (id, tag, instruction counts).
//!
//! Invariant: programs load in metadata order, and a program over the kernel's
//! instruction limit is refused before any map is made ([`check_sizes`]), by name,
//! where the kernel would say only `E2BIG`.

use std::{
    os::fd::{AsFd, OwnedFd},
    time::Instant,
};

use aya::{maps::Map, programs::ProgramError};
use sockc_compiler::metadata::{self, Metadata};

use super::{map_fd_in, LoadedProgram, RuntimeError};
use crate::{kernel_error, raw_load, stages, sys};

/// Refuses a program of `elf` longer than the kernel loads.
pub(super) fn check_sizes(elf: &[u8], meta: &Metadata) -> Result<(), RuntimeError> {
    let sizes = sockc_compiler::obj::program_sizes(elf).map_err(RuntimeError::Symbols)?;
    for p in &meta.programs {
        if let Some((_, insns)) = sizes.iter().find(|(s, _)| *s == p.symbol) {
            if *insns > kernel_error::MAX_PROG_INSNS {
                return Err(RuntimeError::TooLarge {
                    symbol: p.symbol.clone(),
                    insns: *insns,
                });
            }
        }
    }
    Ok(())
}

/// Loads every program of the object through the verifier ([`raw_load`]), in
/// metadata order; the programs and their descriptors, in that order.
pub(super) fn load_programs(
    maps: &[(String, Map)],
    meta: &Metadata,
    elf: &[u8],
    install: Option<&str>,
) -> Result<(Vec<LoadedProgram>, Vec<OwnedFd>), RuntimeError> {
    meta.programs
        .iter()
        .map(|p| load_program(maps, p, elf, install))
        .collect::<Result<Vec<_>, _>>()
        .map(|loaded| loaded.into_iter().unzip())
}

/// Program `p` of `elf` through the verifier, with the descriptors of `maps`.
fn load_program(
    maps: &[(String, Map)],
    p: &metadata::ProgramMeta,
    elf: &[u8],
    install: Option<&str>,
) -> Result<(LoadedProgram, OwnedFd), RuntimeError> {
    let start = Instant::now();
    let image = sockc_compiler::obj::raw_program(elf, &p.symbol)
        .map_err(RuntimeError::Symbols)?
        .ok_or_else(|| RuntimeError::MissingProgram {
            symbol: p.symbol.clone(),
        })?;
    let name = install.map_or_else(|| p.symbol.clone(), |i| raw_load::kernel_name(p.hook, i));
    let fd =
        raw_load::load(p.hook.spec(), &name, image, |m| map_fd_in(maps, m)).map_err(
            |e| match e {
                raw_load::RawLoadError::Load { io_error, log } => RuntimeError::Verifier {
                    symbol: p.symbol.clone(),
                    io_error,
                    log,
                },
                source => RuntimeError::RawLoad {
                    symbol: p.symbol.clone(),
                    source,
                },
            },
        )?;
    let load_time = start.elapsed();
    stages::ended(format!("verify and load {}", p.symbol), start);
    let info = sys::prog_info(fd.as_fd()).map_err(|e| RuntimeError::Program {
        symbol: p.symbol.clone(),
        source: ProgramError::SyscallError(aya::sys::SyscallError {
            call: "bpf_prog_get_info_by_fd",
            io_error: e,
        }),
    })?;
    let program = LoadedProgram {
        symbol: p.symbol.clone(),
        hook: p.hook,
        xlated_insns: (info.xlated_insns != 0).then_some(info.xlated_insns),
        verified_insns: (info.verified_insns != 0).then_some(info.verified_insns),
        load_time,
        prog_id: info.id,
        tag: info.tag,
    };
    Ok((program, fd))
}
