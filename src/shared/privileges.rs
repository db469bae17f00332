//! What a command needs of the kernel, checked the way the kernel checks it: by
//! capability, not by uid (uid 0 with its capabilities dropped is refused, and says
//! which capabilities are missing). [`is_root`] only decides whether `sockc test`
//! also asks the kernel.

use std::process::ExitCode;

use caps::{CapSet, Capability};

/// Loading and attaching programs, creating maps, taking hooks off.
pub const INSTALL: &[Capability] = &[Capability::CAP_BPF, Capability::CAP_NET_ADMIN];
/// Reading pinned links, programs and maps.
pub const READ: &[Capability] = &[Capability::CAP_BPF];

/// The capabilities of `needed` this process does not have in its effective set.
pub fn missing(needed: &[Capability]) -> Vec<Capability> {
    needed
        .iter()
        .copied()
        .filter(|c| !caps::has_cap(None, CapSet::Effective, *c).unwrap_or(false))
        .collect()
}

/// Refuses (exit 3) unless the process has every capability `command` needs.
pub fn require(command: &str, needed: &[Capability]) -> Result<(), ExitCode> {
    let missing = missing(needed);
    if missing.is_empty() {
        return Ok(());
    }
    let names = |cs: &[Capability]| {
        cs.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    super::json::sockc_error!(
        "{command} needs {} (missing: {}); run it as root with its capabilities",
        names(needed),
        names(&missing)
    );
    Err(ExitCode::from(3))
}

/// True when running as root (kernel work needs CAP_BPF and CAP_NET_ADMIN).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
