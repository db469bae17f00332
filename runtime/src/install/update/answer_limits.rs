//! `reject`'s answer limits that follow the kernel's ICMP sysctls (`icmp_msgs_per_sec`,
//! `icmp_msgs_burst`, `icmp_ratelimit`, `icmp_ratemask`, and IPv6's): a generation
//! reads them when it loads (`loaded::fill`); an apply that loads nothing (the same
//! file again, an update in place) reads them again here and rewrites the live
//! generation's limits when they changed, so that a changed sysctl takes effect with a
//! re-apply, as the documentation says, and not only with a new program.
//!
//! Invariant: only the limits' word (element 1 of the answers map) is written, and only
//! when it differs; the bucket's state (element 0) keeps its credit.

use std::os::fd::AsFd;

use sockc_compiler::{bpf::answers::ANSWERS_MAP, metadata::Metadata, syntax::answers::word};

use crate::store::{Manifest, Store};

/// Rewrites the answer limits of `m`'s live generation from this namespace's sysctls
/// when the file's limits (`meta`) take the kernel's and they differ from the map's;
/// what it did, for the report.
pub(super) fn refresh(
    store: &Store,
    m: &Manifest,
    meta: &Metadata,
) -> Result<Option<String>, String> {
    let Some(limits) = meta.answers.filter(|l| l.reads_kernel()) else {
        return Ok(None);
    };
    let sysctls = crate::icmp_limits::read().map_err(|e| e.to_string())?;
    let want = limits.config(&sysctls).to_bytes();
    let path = store
        .objects_dir(&m.name, &m.objects_dir)
        .join(format!("map_{ANSWERS_MAP}"));
    let at = |e: std::io::Error| format!("{}: {e}", path.display());
    let fd = crate::sys::obj_get(&path).map_err(at)?;
    let key = 1u32.to_ne_bytes();
    let have = crate::sys::map_lookup(fd.as_fd(), &key, word::SIZE as usize).map_err(at)?;
    if have.as_deref() == Some(&want[..]) {
        return Ok(None);
    }
    crate::sys::map_update(fd.as_fd(), &key, &want, 0).map_err(at)?;
    Ok(Some(
        "reject's answer limits follow the kernel's ICMP sysctls, which changed since the \
         programs were loaded: rewritten in place"
            .into(),
    ))
}
