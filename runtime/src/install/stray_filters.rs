//! Clsact filters that run an install's programs where no readable record says they
//! are. Nothing pins a clsact filter: its namespace, interface, priority and handle
//! are known only from the manifest or journal, so when that record is removed or torn
//! a flush would leave the filter filtering. A flush then looks for them by program
//! id in every network namespace it can reach (its own, the named ones under
//! `/run/netns`, and those of running processes) and deletes them ([`remove`]).
//!
//! Invariant: only a `bpf` filter whose program id is one of the install's pinned
//! programs is deleted. An id names one program while that program lives, and the
//! install's pins keep its programs alive until the flush removes them, after this
//! sweep; so nothing of another owner is touched. A namespace that cannot be entered
//! or read is skipped: the caller still says that a filter may be left.

use std::{
    collections::HashSet,
    ffi::CStr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use crate::{
    netlink::{self, ClsactHook},
    netns,
};

/// A filter that was taken off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Where: "here", "network namespace NAME" or "the network namespace of process PID".
    pub netns: String,
    pub iface: String,
    pub hook: ClsactHook,
    pub prog_id: u32,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hook = match self.hook {
            ClsactHook::Ingress => "ingress",
            ClsactHook::Egress => "egress",
        };
        write!(
            f,
            "{hook} of {} in {} (program id {})",
            self.iface, self.netns, self.prog_id
        )
    }
}

/// Deletes every clsact filter running one of `programs`, in every namespace this
/// process can reach; returns what it took off.
pub fn remove(programs: &[u32]) -> Vec<Removed> {
    if programs.is_empty() {
        return Vec::new();
    }
    let mut removed = Vec::new();
    for (path, label) in namespaces() {
        let Ok(_entered) = netns::enter(&path) else {
            continue;
        };
        removed.extend(remove_here(programs, &label));
    }
    removed
}

/// The namespaces to look in, each once (by device and inode of its nsfs file),
/// with how to name it: this thread's, the named ones, then those of processes.
fn namespaces() -> Vec<(PathBuf, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut add = |path: PathBuf, label: String| {
        if let Ok(m) = std::fs::metadata(&path) {
            if seen.insert((m.dev(), m.ino())) {
                out.push((path, label));
            }
        }
    };
    add(
        "/proc/thread-self/ns/net".into(),
        "this network namespace".into(),
    );
    for (dir, name) in entries(Path::new("/run/netns")) {
        add(dir, format!("network namespace {name}"));
    }
    for (pid, path) in netns::of_processes() {
        add(path, format!("the network namespace of process {pid}"));
    }
    out
}

/// The entries of `dir` with their names (none when it cannot be read).
fn entries(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect()
}

/// [`remove`] in the namespace the thread is in, named `label`.
fn remove_here(programs: &[u32], label: &str) -> Vec<Removed> {
    let mut removed = Vec::new();
    for (ifindex, iface) in interfaces() {
        for hook in [ClsactHook::Ingress, ClsactHook::Egress] {
            let Ok(filters) = netlink::clsact_filters(ifindex, hook) else {
                continue;
            };
            for f in filters {
                let Some(id) = f.prog_id.filter(|id| programs.contains(id)) else {
                    continue;
                };
                if f.kind == "bpf"
                    && netlink::delete_filter(ifindex, hook, f.priority, f.handle).is_ok()
                {
                    removed.push(Removed {
                        netns: label.to_string(),
                        iface: iface.clone(),
                        hook,
                        prog_id: id,
                    });
                }
            }
        }
    }
    removed
}

/// The interfaces of the namespace the thread is in: index and name.
fn interfaces() -> Vec<(u32, String)> {
    // SAFETY: if_nameindex returns a list ending in a zero entry, or null; it is read
    // up to that entry and freed once with if_freenameindex.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut at = list;
        while (*at).if_index != 0 && !(*at).if_name.is_null() {
            let name = CStr::from_ptr((*at).if_name).to_string_lossy().into_owned();
            out.push(((*at).if_index, name));
            at = at.add(1);
        }
        libc::if_freenameindex(list);
        out
    }
}
