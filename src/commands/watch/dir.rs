//! The watched directory read as one snapshot. Where the kubelet publishes a
//! ConfigMap volume, `..data` is a symbolic link to a timestamped directory that it
//! swaps in one rename; the snapshot reads every file from the directory `..data`
//! names when the round starts, so a round never mixes two versions of the files. A
//! plain directory is read as it is.
//!
//! Invariant: every file is read within the limits (`--max-source-bytes` for a rule
//! file, `--max-set-file-bytes` for any other), only as a regular file; a rule file
//! that cannot be read or whose name is not an install's is in the snapshot with the
//! reason, never dropped silently. A fingerprint changes whenever the rule file or
//! any other file of the snapshot (the set files it may name) changes. Nothing outside
//! DIR is read as a rule file: `..data` must name a directory of DIR itself, and each
//! rule file is opened beneath the directory read, held open for the round (a link or
//! `..` that leads out is refused by the kernel in the lookup).

use std::{
    io::ErrorKind,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};
use sockc_compiler::{
    bpf::maps::{hex, sha256_hex},
    input::{read_bounded, read_open, utf8, InputError},
    limits::Limit,
};

use crate::shared::{settings::settings, store::valid_name};

/// The link the kubelet swaps to publish a new version of a ConfigMap volume.
const DATA_LINK: &str = "..data";

/// One reading of the watched directory.
pub struct Snapshot {
    /// The directory the files were read from (DIR, or where `..data` led), named
    /// through the descriptor `_held` keeps open: the compiler's base for set files.
    pub base: PathBuf,
    _held: std::fs::File,
    /// `..data`'s target (a timestamped directory), when DIR is a kubelet volume.
    pub data: Option<String>,
    /// The rule files (`*.sk`), by file name.
    pub files: Vec<RuleFile>,
}

/// A `NAME.sk` of the snapshot.
pub struct RuleFile {
    /// The install it becomes: the file name without `.sk`.
    pub name: String,
    /// Its file name in the directory.
    pub file: String,
    /// Its text, or why it cannot be applied (unreadable, not UTF-8, a bad name).
    pub text: Result<String, String>,
    /// SHA-256 of the file's bytes (empty when it could not be read).
    pub sha256: String,
    /// Changes when the file or any other file of the snapshot changes.
    pub fingerprint: String,
}

/// How many times a snapshot is taken again when the kubelet removed the directory
/// it was reading (the old version, after a swap) under it.
const ATTEMPTS: usize = 3;

/// Reads `dir` (see the module documentation).
pub fn snapshot(dir: &Path) -> Result<Snapshot, String> {
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match read_once(dir) {
            Ok(s) => return Ok(s),
            Err(Torn(why)) => last = why,
        }
    }
    Err(last)
}

/// A snapshot that failed, perhaps because a swap removed what it read.
struct Torn(String);

fn read_once(dir: &Path) -> Result<Snapshot, Torn> {
    let link = dir.join(DATA_LINK);
    let data = match std::fs::read_link(&link) {
        Ok(t) => Some(t.to_string_lossy().into_owned()),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput) => None,
        Err(e) => return Err(Torn(format!("{}: {e}", link.display()))),
    };
    // The kubelet's `..data` names a directory beside it; one that leads elsewhere would
    // make the agent read (and quote) files that whoever may write DIR chose.
    if let Some(t) = data.as_deref().filter(|t| !beside(dir, t)) {
        return Err(Torn(format!(
            "{}: leads to {t:?}, not a directory beside it: not read",
            link.display()
        )));
    }
    // The directory read, held open and named through its descriptor from here on (the
    // listing, the rule files, the set files the compiler opens beneath it): a swap of
    // `..data`'s target for a link after this check cannot move the reads elsewhere.
    let at = Path::new(data.as_deref().unwrap_or("."));
    let held = sockc_compiler::input::open_beneath(dir, at).map_err(|e| {
        Torn(format!(
            "{}: {}",
            dir.join(at).display(),
            std::io::Error::from(e)
        ))
    })?;
    let base = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
    let mut names = list(&base)?;
    names.sort();
    let (rules, others): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| n.ends_with(".sk"));
    let others = others_digest(&base, &others)?;
    let files = rules
        .into_iter()
        .map(|f| rule_file(&base, f, &others))
        .collect::<Result<_, _>>()?;
    Ok(Snapshot {
        base,
        _held: held,
        data,
        files,
    })
}

/// The names of `base`'s entries that are not hidden (the kubelet's own start with
/// `..`).
fn list(base: &Path) -> Result<Vec<String>, Torn> {
    let entries = std::fs::read_dir(base).map_err(|e| Torn(format!("{}: {e}", base.display())))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Torn(format!("{}: {e}", base.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            names.push(name);
        }
    }
    Ok(names)
}

/// One digest of every other file (name and bytes; a file that cannot be read
/// counts by the reason), so that a changed set file changes every fingerprint.
fn others_digest(base: &Path, others: &[String]) -> Result<[u8; 32], Torn> {
    let max = settings().limits.get(Limit::SetFileBytes);
    let mut h = Sha256::new();
    for name in others {
        h.update(name.as_bytes());
        h.update([0]);
        match read_bounded(&base.join(name), Limit::SetFileBytes, max) {
            Ok(bytes) => h.update(Sha256::digest(&bytes)),
            Err(InputError::Io(e)) if e.kind() == ErrorKind::NotFound => {
                return Err(Torn(format!("{name}: removed while read")))
            }
            Err(e) => h.update(e.to_string().as_bytes()),
        }
        h.update([0]);
    }
    Ok(h.finalize().into())
}

/// Whether a `..data` target names an entry of DIR itself: one component, not `.`
/// or `..`, and a directory there (not a link to one elsewhere).
fn beside(dir: &Path, target: &str) -> bool {
    let mut parts = Path::new(target).components();
    let one = matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    );
    one && std::fs::symlink_metadata(dir.join(target)).is_ok_and(|m| m.is_dir())
}

/// A rule file's bytes, opened beneath the directory the snapshot holds (`base`): a
/// symbolic link or `..` that leads out of it is refused by the kernel in the one
/// lookup, so a file the agent reads as root is one that directory holds.
fn read_beneath(base: &Path, file: &str, max: u64) -> Result<Vec<u8>, InputError> {
    let opened = sockc_compiler::input::open_beneath(base, Path::new(file)).map_err(|e| {
        if e == rustix::io::Errno::XDEV {
            let why = "it leads out of the watched directory (a symbolic link or `..`): the \
                       agent reads only files beneath it";
            InputError::Io(std::io::Error::other(why))
        } else {
            InputError::Io(e.into())
        }
    })?;
    read_open(opened, Limit::SourceBytes, max)
}

fn rule_file(base: &Path, file: String, others: &[u8; 32]) -> Result<RuleFile, Torn> {
    let name = file.strip_suffix(".sk").unwrap_or(&file).to_string();
    let (text, sha256) = if !valid_name(&name) {
        let why = format!("`{name}` is not a valid install name (1-64 of a-z A-Z 0-9 _ -)");
        (Err(why), String::new())
    } else {
        let max = settings().limits.get(Limit::SourceBytes);
        match read_beneath(base, &file, max) {
            Ok(bytes) => {
                let sha = sha256_hex(&bytes);
                (utf8(bytes).map_err(|e| e.to_string()), sha)
            }
            Err(InputError::Io(e)) if e.kind() == ErrorKind::NotFound => {
                return Err(Torn(format!("{file}: removed while read")))
            }
            Err(e) => (Err(format!("cannot read it: {e}")), String::new()),
        }
    };
    let mut h = Sha256::new();
    h.update(sha256.as_bytes());
    h.update(text.as_ref().err().map_or("", String::as_str).as_bytes());
    h.update(others);
    Ok(RuleFile {
        name,
        file,
        text,
        sha256,
        fingerprint: hex(&h.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The set files of a snapshot are read from the directory it read, held open: a
    /// swap of `..data`'s target for a link to elsewhere after the snapshot (a race a
    /// writer of DIR could run every round) does not move them.
    #[test]
    fn set_files_come_from_the_directory_the_snapshot_read() {
        let root = std::env::temp_dir().join(format!("sockc-watch-held-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (dir, outside) = (root.join("watched"), root.join("outside"));
        let v1 = dir.join("..v1");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(v1.join("x.txt"), "192.0.2.1\n").unwrap();
        std::fs::write(outside.join("x.txt"), "not-an-address-but-a-secret\n").unwrap();
        let text =
            "set s = file \"x.txt\"\nxdp on eth0 {\n    drop from @s\n    default allow\n}\n";
        std::fs::write(v1.join("r.sk"), text).unwrap();
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
        let snap = snapshot(&dir).unwrap();
        std::fs::rename(&v1, dir.join("..old")).unwrap();
        std::os::unix::fs::symlink(&outside, &v1).unwrap();
        let (compiled, diags) = crate::shared::build::compile_text(text, &snap.base);
        let said = format!("{diags:?}");
        assert!(compiled.is_some() && !said.contains("secret"), "{said}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Whoever may write DIR cannot make the agent read (and quote) a file outside
    /// it: a rule file that is a link out of DIR is refused with the reason, and a
    /// `..data` that leads elsewhere refuses the snapshot; `web.sk.sk` is not `web`.
    #[test]
    fn nothing_outside_the_directory_is_read() {
        let root = std::env::temp_dir().join(format!("sockc-watch-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (dir, secret) = (root.join("watched"), root.join("secret"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&secret, "ssh-ed25519 AAAAsecret\n").unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("key.sk")).unwrap();
        std::fs::write(dir.join("web.sk.sk"), "x").unwrap();
        std::fs::write(dir.join("inside.txt"), "1.2.3.4\n").unwrap();
        std::os::unix::fs::symlink("inside.txt", dir.join("near.sk")).unwrap();
        let snap = snapshot(&dir).unwrap();
        let by_file = |f: &str| snap.files.iter().find(|r| r.file == f).unwrap();
        let key = by_file("key.sk").text.as_ref().unwrap_err();
        assert!(key.contains("leads out of the watched directory"), "{key}");
        assert!(!key.contains("secret"), "{key}");
        assert_eq!(by_file("web.sk.sk").name, "web.sk");
        assert!(by_file("web.sk.sk").text.is_err(), "not an install's name");
        assert_eq!(
            by_file("near.sk").text.as_deref(),
            Ok("1.2.3.4\n"),
            "a link within DIR"
        );
        std::os::unix::fs::symlink(&root, dir.join("..data")).unwrap();
        let refused = snapshot(&dir).err().expect("..data out of DIR");
        assert!(refused.contains("not a directory beside it"), "{refused}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A kubelet volume: files are read from where `..data` leads, the hidden
    /// entries are not files, and a set file's change changes the fingerprint.
    #[test]
    fn reads_where_data_leads() {
        let dir = std::env::temp_dir().join(format!("sockc-watch-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let v1 = dir.join("..2026_11_25_08_00_00.1");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v1.join("edge.sk"), "x").unwrap();
        std::fs::write(v1.join("set.txt"), "1.2.3.4\n").unwrap();
        std::os::unix::fs::symlink("..2026_11_25_08_00_00.1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/edge.sk", dir.join("edge.sk")).unwrap();
        let a = snapshot(&dir).unwrap();
        assert_eq!(a.data.as_deref(), Some("..2026_11_25_08_00_00.1"));
        assert_eq!(a.files.len(), 1);
        assert_eq!(a.files[0].name, "edge");
        assert_eq!(a.files[0].text.as_deref(), Ok("x"));
        std::fs::write(v1.join("set.txt"), "1.2.3.5\n").unwrap();
        let b = snapshot(&dir).unwrap();
        assert_ne!(a.files[0].fingerprint, b.files[0].fingerprint);
        assert_eq!(a.files[0].sha256, b.files[0].sha256);
        std::fs::write(v1.join("bad name.sk"), "x").unwrap();
        let c = snapshot(&dir).unwrap();
        assert!(c.files[0]
            .text
            .as_ref()
            .unwrap_err()
            .contains("valid install name"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
