//! The files of an install's systemd drop-ins (`sockc systemd` writes them, `flush`
//! removes them): where one goes, which are on disk, taking them away, and telling
//! systemd.
//!
//! Invariant: only regular files named `50-sockc-INSTALL.conf` in a unit's `.d`
//! directory are ever taken for an install's (a link of that name is not sockc's),
//! and `systemctl daemon-reload` runs only on the host's own root where systemd is
//! PID 1.

use std::path::{Path, PathBuf};

use super::stderr::errln;

/// `ROOT/etc/systemd/system`, where the drop-in directories are.
pub fn units_dir(root: &Path) -> PathBuf {
    root.join("etc/systemd/system")
}

/// `ROOT/etc/systemd/system/UNIT.d/50-sockc-NAME.conf`.
pub fn drop_in_path(root: &Path, unit: &str, name: &str) -> PathBuf {
    units_dir(root)
        .join(format!("{unit}.d"))
        .join(file_name(name))
}

fn file_name(name: &str) -> String {
    format!("50-sockc-{name}.conf")
}

/// Install `name`'s drop-in files on disk, sorted.
pub fn on_disk(root: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(dirs) = std::fs::read_dir(units_dir(root)) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = dirs
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().ends_with(".d"))
        .map(|d| d.path().join(file_name(name)))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    found.sort();
    found
}

/// Removes install `name`'s drop-ins, each said on stderr, then asks systemd to read
/// its units again when any went; the first file that cannot be removed, with why.
pub fn remove(root: &Path, name: &str) -> Result<usize, String> {
    let found = on_disk(root, name);
    for p in &found {
        std::fs::remove_file(p).map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
        errln!("sockc: removed {}", p.display());
    }
    if !found.is_empty() {
        reload(root);
    }
    Ok(found.len())
}

/// `systemctl daemon-reload` when the drop-ins are the running systemd's (the root is
/// `/` and systemd is PID 1: `/run/systemd/system` exists, as `sd_booted` checks);
/// otherwise says it is needed.
pub fn reload(root: &Path) {
    let running = root == Path::new("/") && Path::new("/run/systemd/system").is_dir();
    if !running {
        errln!("sockc: systemd reads drop-ins at its next `systemctl daemon-reload`: run it before the units restart");
        return;
    }
    match std::process::Command::new("systemctl")
        .arg("daemon-reload")
        .status()
    {
        Ok(s) if s.success() => errln!("sockc: systemctl daemon-reload done"),
        Ok(s) => errln!("sockc: systemctl daemon-reload failed ({s}); run it yourself"),
        Err(e) => errln!("sockc: cannot run systemctl daemon-reload ({e}); run it yourself"),
    }
}
