//! Loading a program with the runtime's own `BPF_PROG_LOAD`, for program types aya
//! 0.14 cannot load (netfilter): the instructions as the object stores them
//! ([`sockc_compiler::obj::raw_program`]), their map loads pointed at the descriptors
//! of the maps aya created for the same object, the program type and expected attach
//! type from the hook table, the verifier's log on failure. Nothing here is specific
//! to netfilter: any program of the object could be loaded this way, which is how a
//! later change can take program loading (and its time) out of aya altogether.
//!
//! The loaded program is handed on as an aya [`Program`], so that the attach
//! backends, the install and `status` treat it like any other (they only use its
//! descriptor, pin and info): aya builds one only from a pin, so [`as_aya_program`]
//! pins it for an instant under bpffs and opens it as a `SchedClassifier`, whose
//! type-specific methods are never called on it.
//!
//! Invariant: every map relocation the object records is resolved to a map of this
//! load, or the load fails naming the map; no instruction outside a relocation is
//! changed.

use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use aya::programs::{Program, ProgramError, SchedClassifier};
use sockc_compiler::{hooks::HookSpec, obj::RawProgram};

use crate::sys;

/// `BPF_PSEUDO_MAP_FD`: an `ld_imm64` whose immediate is a map descriptor.
const PSEUDO_MAP_FD: u8 = aya_obj::generated::BPF_PSEUDO_MAP_FD as u8;
/// The verifier log kept when a load fails (aya keeps as much).
const LOG_SIZE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RawLoadError {
    #[error("map `{0}` is not in the object")]
    MissingMap(String),
    #[error("map relocation at instruction {0} is not an ld_imm64 of the program")]
    BadReloc(usize),
    #[error("BPF_PROG_LOAD")]
    Load {
        #[source]
        io_error: std::io::Error,
        log: String,
    },
    #[error("pin under {} to hand the program on", dir.display())]
    Pin {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Open(#[from] ProgramError),
}

/// Loads `prog` as a program of `spec`'s type named `name`; `map_fd` gives the
/// descriptor of a map of the object by name.
pub fn load<'m>(
    spec: &HookSpec,
    name: &str,
    mut prog: RawProgram,
    map_fd: impl Fn(&str) -> Option<BorrowedFd<'m>>,
) -> Result<OwnedFd, RawLoadError> {
    for (index, map) in &prog.map_relocs {
        let fd = map_fd(map).ok_or_else(|| RawLoadError::MissingMap(map.clone()))?;
        let insn = prog
            .insns
            .get_mut(index * 8..index * 8 + 16)
            .filter(|i| i[0] == 0x18)
            .ok_or(RawLoadError::BadReloc(*index))?;
        insn[1] = (insn[1] & 0x0f) | (PSEUDO_MAP_FD << 4);
        insn[4..8].copy_from_slice(&fd.as_raw_fd().to_le_bytes());
    }
    let attempt = |log: &mut [u8]| {
        sys::prog_load(&mut sys::ProgLoad {
            prog_type: spec.prog_type as u32,
            expected_attach_type: spec.attach_type as u32,
            name,
            insns: &prog.insns,
            license: b"GPL\0",
            log,
        })
    };
    // As aya does: no log on success (a full log costs more than the verification),
    // a second load with the log when the first fails.
    attempt(&mut []).or_else(|_| {
        let mut log = vec![0u8; LOG_SIZE];
        attempt(&mut log).map_err(|io_error| RawLoadError::Load {
            io_error,
            log: String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)])
                .into_owned(),
        })
    })
}

/// The loaded program as an aya [`Program`] (see the module docs), pinned for an
/// instant under `dir` (a bpffs directory).
pub fn as_aya_program(fd: BorrowedFd<'_>, dir: &Path) -> Result<Program, RawLoadError> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let path = dir.join(format!(
        "sockc_raw_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    sys::obj_pin(fd.as_fd(), &path).map_err(|source| RawLoadError::Pin {
        dir: dir.to_path_buf(),
        source,
    })?;
    let opened = SchedClassifier::from_pin(&path);
    let _ = std::fs::remove_file(&path);
    Ok(Program::SchedClassifier(opened?))
}
