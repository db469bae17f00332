//! Loading programs with the runtime's own `BPF_PROG_LOAD`, for every program type:
//! the instructions as the object stores them ([`sockc_compiler::obj::raw_program`]),
//! their map loads pointed at the descriptors of the maps made for the same object,
//! the program type and expected attach type from the hook table, the kernel name
//! from [`kernel_name`], and the verifier's log on failure. aya's loader is not used:
//! it parses the running kernel's whole BTF (5–6 MB, ~100 ms and ~20 MB) before it
//! loads anything, and sockc's programs need none of it (kfunc ids and struct offsets
//! are patched in before the load, from `kernel_btf`, and only when a program refers
//! to the kernel).
//!
//! Invariant: every map relocation the object records is resolved to a map of this
//! load, or the load fails naming the map; no instruction outside a relocation is
//! changed; a load the verifier gave up on because a signal was pending (`EAGAIN`) is
//! tried again; a failed load is tried once with the verifier's log, and once more
//! without it when that log overflowed; the answer kept is the kernel's own errno,
//! never the log's `ENOSPC`.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use sockc_compiler::{
    hooks::{HookKind, HookSpec},
    obj::RawProgram,
};

use crate::sys;

/// `BPF_PSEUDO_MAP_FD`: an `ld_imm64` whose immediate is a map descriptor.
const PSEUDO_MAP_FD: u8 = aya_obj::generated::BPF_PSEUDO_MAP_FD as u8;
/// The verifier log kept when a load fails (aya keeps as much).
const LOG_SIZE: usize = 1 << 20;
/// Longest name the kernel keeps for a program or map (`BPF_OBJ_NAME_LEN` less its
/// NUL).
pub const MAX_KERNEL_NAME: usize = 15;

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
}

/// Loads `prog` as a program of `spec`'s type named `name` (at most
/// [`MAX_KERNEL_NAME`] bytes are kept); `map_fd` gives the descriptor of a map of the
/// object by name.
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
        retrying_interrupted(|| {
            sys::prog_load(&mut sys::ProgLoad {
                prog_type: spec.prog_type as u32,
                expected_attach_type: spec.attach_type as u32,
                name,
                insns: &prog.insns,
                license: b"GPL\0",
                log: &mut *log,
            })
        })
    };
    // As aya does: no log on success (a full log costs more than the verification),
    // a second load with the log when the first fails.
    attempt(&mut []).or_else(|first| {
        let mut log = vec![0u8; LOG_SIZE];
        let mut with_log = attempt(&mut log);
        // A log that overflowed hides whether the program verified: one more load
        // without it tells (CI once saw the first load fail with no log line, and the
        // second verify the whole program and overflow).
        if with_log
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::ENOSPC))
        {
            if let Ok(fd) = attempt(&mut []) {
                with_log = Ok(fd);
            }
        }
        let log = String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)])
            .into_owned();
        answer_after_failure(first, with_log, log)
    })
}

/// What a load that failed without a log gives after the second load, with the log:
/// that load's program when it succeeded (the first failure was the machine's, such
/// as `ENOMEM` under memory pressure, not the program's); otherwise the kernel's
/// answer to the first load when the second failed only because its log overflowed
/// (`ENOSPC` comes from the log alone, the verdict was the first load's), the
/// second's otherwise.
fn answer_after_failure(
    first: std::io::Error,
    with_log: std::io::Result<OwnedFd>,
    log: String,
) -> Result<OwnedFd, RawLoadError> {
    match with_log {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Err(RawLoadError::Load {
            io_error: first,
            log,
        }),
        Err(io_error) => Err(RawLoadError::Load { io_error, log }),
    }
}

/// Runs `load` again when the verifier gave up with `EAGAIN`: it stops at any pending
/// signal (`do_check` tests `signal_pending`), which says nothing about the program.
/// libbpf retries the same way, five times.
fn retrying_interrupted<T>(mut load: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    const ATTEMPTS: usize = 5;
    let mut attempt = 1;
    loop {
        match load() {
            Err(e) if attempt < ATTEMPTS && e.raw_os_error() == Some(libc::EAGAIN) => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The short tag of a hook in kernel names (at most 6 bytes, so that an install
/// name keeps 8 of the 15).
pub fn hook_tag(hook: HookKind) -> &'static str {
    match hook {
        HookKind::Xdp => "xdp",
        HookKind::TcIngress => "tci",
        HookKind::TcEgress => "tce",
        HookKind::SkLookup => "skl",
        HookKind::SockmapSend => "smsg",
        HookKind::SockmapReceive => "sskb",
        HookKind::SockOps => "sops",
        HookKind::SkMsgDispatch => "mdisp",
        HookKind::SkSkbDispatch => "sdisp",
        HookKind::SkLookupRegister => "sklreg",
        HookKind::NfPrerouting => "nfpre",
        HookKind::NfInput => "nfin",
        HookKind::NfForward => "nffwd",
        HookKind::NfOutput => "nfout",
        HookKind::NfPostrouting => "nfpost",
        HookKind::CgroupIngress => "cgin",
        HookKind::CgroupEgress => "cgout",
        HookKind::CgroupConnect4 => "cgcon4",
        HookKind::CgroupConnect6 => "cgcon6",
        HookKind::CgroupSendmsg4 => "cgsnd4",
        HookKind::CgroupSendmsg6 => "cgsnd6",
        HookKind::CgroupBind4 => "cgbnd4",
        HookKind::CgroupBind6 => "cgbnd6",
    }
}

/// The name a program of `hook` gets in the kernel (`bpftool prog show`): the hook's
/// [`hook_tag`], a dot, and the install's name, cut at [`MAX_KERNEL_NAME`] bytes,
/// every byte the kernel refuses in a name (it keeps letters, digits, `_` and `.`)
/// written as `_`: `xdp.web`, `tci.edge_gateway` is kept as `tci.edge_gatewa`.
/// Programs loaded outside an install (`check --verify`, `test`, `bench`) keep
/// their symbol.
pub fn kernel_name(hook: HookKind, install: &str) -> String {
    format!("{}.{install}", hook_tag(hook))
        .bytes()
        .take(MAX_KERNEL_NAME)
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(errno: i32) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn a_load_interrupted_by_a_signal_is_tried_again_and_only_that() {
        let mut calls = 0;
        let r = retrying_interrupted(|| {
            calls += 1;
            if calls < 3 {
                refused(libc::EAGAIN)
            } else {
                Ok(())
            }
        });
        assert!(r.is_ok() && calls == 3);
        calls = 0;
        let r = retrying_interrupted(|| {
            calls += 1;
            refused(libc::EAGAIN)
        });
        assert!(r.is_err() && calls == 5);
        calls = 0;
        let r = retrying_interrupted(|| {
            calls += 1;
            refused(libc::EACCES)
        });
        assert!(r.is_err() && calls == 1);
    }

    #[test]
    fn a_log_that_overflowed_keeps_the_first_loads_answer() {
        let errno = |e: &RawLoadError| match e {
            RawLoadError::Load { io_error, .. } => io_error.raw_os_error(),
            _ => None,
        };
        let first = || std::io::Error::from_raw_os_error(libc::ENOMEM);
        let overflowed = Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        let e = answer_after_failure(first(), overflowed, "processed 9 insns".into());
        assert_eq!(errno(&e.unwrap_err()), Some(libc::ENOMEM));
        let refused = Err(std::io::Error::from_raw_os_error(libc::EACCES));
        let e = answer_after_failure(first(), refused, "R1 invalid mem access".into());
        assert_eq!(errno(&e.unwrap_err()), Some(libc::EACCES));
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        assert!(answer_after_failure(first(), Ok(fd), String::new()).is_ok());
    }

    #[test]
    fn kernel_names_say_hook_and_install_and_fit_the_kernel() {
        assert_eq!(kernel_name(HookKind::Xdp, "web"), "xdp.web");
        assert_eq!(
            kernel_name(HookKind::TcIngress, "edge-gateway-2"),
            "tci.edge_gatewa"
        );
        assert_eq!(
            kernel_name(HookKind::SkLookupRegister, "a"),
            "sklreg.a",
            "registrars are told apart by this prefix"
        );
        for spec in &sockc_compiler::hooks::HOOKS {
            let hook = spec.kind;
            let tag = hook_tag(hook);
            assert!(tag.len() <= 6, "{tag}");
            let name = kernel_name(hook, "install_name_that_is_long");
            assert_eq!(name.len(), MAX_KERNEL_NAME);
            assert!(name.starts_with(&format!("{tag}.install")), "{name}");
        }
    }
}
