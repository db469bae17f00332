//! The catalogue code of each error a command of an install can end with
//! (`sockc_compiler::diag::Code`, the "Installs and the kernel" group of
//! `docs/errors.md`): what the user can act on has a code of its own (an install that
//! is not there, a hook another install or tool holds, a network namespace that is not
//! the install's, damaged records, the verifier's refusal, ...), the rest is
//! `sockc::kernel`. The CLI ends a command with the code's exit code; the message's
//! text stays the error's own.
//!
//! Invariant: every variant of [`InstallError`], [`StoreError`], [`RuntimeError`] and
//! [`AttachError`] is mapped by an exhaustive `match` (no wildcard), so a new variant
//! does not compile until it is given its code.

use sockc_compiler::diag::Code;

use super::InstallError;
use crate::{attach::AttachError, loaded::RuntimeError, store::StoreError};

impl InstallError {
    /// The error's code in the catalogue.
    pub fn code(&self) -> Code {
        match self {
            InstallError::Store(e) => store_code(e),
            InstallError::Runtime(e) => runtime_code(e),
            InstallError::Attach { source, .. } => attach_code(source),
            InstallError::NotInstalled(_) => Code::NotInstalled,
            InstallError::Leftovers { .. } => Code::Leftover,
            InstallError::Empty { .. } => Code::EmptyRuleset,
            InstallError::HeldByInstall { .. } => Code::HookHeld,
            InstallError::MissingInterface { .. } => Code::MissingTarget,
            InstallError::SameCgroup { .. } => Code::SameCgroup,
            InstallError::Netns { .. }
            | InstallError::NotItsNetns { .. }
            | InstallError::NetnsCookie(_) => Code::Netns,
            InstallError::Unrecorded { .. } | InstallError::UnreadableRecord { .. } => {
                Code::DamagedRecords
            }
            InstallError::UnknownSocket { .. }
            | InstallError::Socket { .. }
            | InstallError::NothingBound { .. } => Code::RegisterSocket,
            InstallError::Object(_)
            | InstallError::Io { .. }
            | InstallError::Pin { .. }
            | InstallError::MapType { .. }
            | InstallError::OpenMap { .. }
            | InstallError::OpenProgram { .. }
            | InstallError::SetUpdate { .. }
            | InstallError::ProgramInfo { .. }
            | InstallError::NotLive { .. }
            | InstallError::SlotMap(_)
            | InstallError::Tables(_)
            | InstallError::Residual(_) => Code::Kernel,
        }
    }
}

/// The code of a store's error.
fn store_code(e: &StoreError) -> Code {
    match e {
        StoreError::NotBpffs { .. }
        | StoreError::PrivateBpffs { .. }
        | StoreError::NotHostBpffs { .. }
        | StoreError::Unsafe { .. }
        | StoreError::UnsafePath { .. } => Code::Bpffs,
        StoreError::Busy { .. } => Code::LockBusy,
        StoreError::HookPinStuck { .. } => Code::Leftover,
        StoreError::ManifestFormat { .. } | StoreError::JournalFormat { .. } => Code::NewerSockc,
        StoreError::NotARecord { .. }
        | StoreError::NotPendingRecord { .. }
        | StoreError::RecordChunkMissing { .. }
        | StoreError::RecordJson { .. }
        | StoreError::Bulk { .. } => Code::DamagedRecords,
        StoreError::Io { .. }
        | StoreError::OpenRecord { .. }
        | StoreError::ReadRecord { .. }
        | StoreError::PinRecord { .. } => Code::Kernel,
    }
}

/// The code of an error loading an object.
fn runtime_code(e: &RuntimeError) -> Code {
    match e {
        RuntimeError::MissingCapabilities { .. } => Code::Capabilities,
        RuntimeError::Verifier { .. } | RuntimeError::TooLarge { .. } => Code::Verifier,
        RuntimeError::CgroupRef(crate::cgroup_refs::RefError::Cgroup { .. }) => Code::MissingTarget,
        RuntimeError::CgroupRef(crate::cgroup_refs::RefError::Map { .. }) => Code::Kernel,
        RuntimeError::NotSockc(_)
        | RuntimeError::Tables(_)
        | RuntimeError::Symbols(_)
        | RuntimeError::TablesOutside { .. }
        | RuntimeError::TableFill(_)
        | RuntimeError::Object(_)
        | RuntimeError::MapCreate { .. }
        | RuntimeError::MissingProgram { .. }
        | RuntimeError::RawLoad { .. }
        | RuntimeError::TestRun { .. }
        | RuntimeError::Program { .. }
        | RuntimeError::Map { .. }
        | RuntimeError::SlotMap(_)
        | RuntimeError::SocketSlot { .. }
        | RuntimeError::PatchOutside { .. }
        | RuntimeError::AnswerLimits(_)
        | RuntimeError::KernelRef { .. } => Code::Kernel,
    }
}

/// The code of an attach backend's error.
fn attach_code(e: &AttachError) -> Code {
    match e {
        AttachError::XdpHeld { .. }
        | AttachError::SockmapHeld { .. }
        | AttachError::NotMulti { .. } => Code::ForeignProgram,
        AttachError::NoTcx(_)
        | AttachError::Clsact(_)
        | AttachError::Xdp { .. }
        | AttachError::OpenLink { .. }
        | AttachError::Update(_)
        | AttachError::WrongAttachment { .. }
        | AttachError::OpenCgroup { .. }
        | AttachError::LinkCreate(_)
        | AttachError::PinFd { .. }
        | AttachError::MapAttach(_)
        | AttachError::Netfilter(..) => Code::Kernel,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The exit codes the CLI ended these errors with before they had codes: 1 for
    /// nothing installed and for a socket `register` cannot take, 2 for an empty rule
    /// file and a hook another install holds, 3 for the rest.
    #[test]
    fn the_codes_keep_the_exit_codes() {
        let exit = |e: InstallError| e.code().exit_code();
        assert_eq!(exit(InstallError::NotInstalled("a".into())), 1);
        assert_eq!(exit(InstallError::Empty { name: "a".into() }), 2);
        let held = InstallError::HeldByInstall {
            at: "xdp on lo".into(),
            other: "b".into(),
            generation: 1,
        };
        assert_eq!(exit(held), 2);
        let unknown = InstallError::UnknownSocket {
            install: "a".into(),
            socket: "s".into(),
            declared: vec![],
        };
        assert_eq!(exit(unknown), 1);
        let nothing = InstallError::NothingBound {
            socket: "s".into(),
            wanted: "tcp 127.0.0.1:1".into(),
        };
        assert_eq!(exit(nothing), 1);
        let busy = StoreError::Busy {
            path: PathBuf::from("/sys/fs/bpf/sockc"),
            holder: None,
            waited: std::time::Duration::ZERO,
        };
        assert_eq!(InstallError::Store(busy).code(), Code::LockBusy);
        assert_eq!(exit(InstallError::NotLive { what: "x".into() }), 3);
        let caps = RuntimeError::MissingCapabilities {
            missing: vec!["CAP_BPF"],
        };
        assert_eq!(InstallError::Runtime(caps).code(), Code::Capabilities);
    }
}
