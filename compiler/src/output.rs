//! Writing the files a user names (`-o FILE`, `stats --prometheus -o`, `man DIR`, a
//! verifier log): as root, into a directory someone else may be able to write.
//!
//! Invariant: sockc never writes through a name it did not just create. The bytes go
//! to a new temporary file in the target's directory, created relative to a
//! descriptor of that directory with `O_CREAT|O_EXCL|O_NOFOLLOW` (a planted symbolic
//! link or file of that name makes the create fail, it is never followed or
//! truncated), and are renamed over the target in one step, so a reader sees the
//! old file or the new one, never half of one. A target that exists and is not a
//! regular file (a symbolic link, a FIFO, a device node, a directory) is refused: it
//! is looked at without following links, before the temporary file is made and again
//! just before the rename.

use std::{
    ffi::{OsStr, OsString},
    fs::File,
    io::Write,
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

/// Why an output file was not written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(
        "it is {0}, not a regular file; sockc replaces regular files only (remove it, \
         or name another file)"
    )]
    NotRegular(&'static str),
    #[error("it names no file (a directory or an empty name)")]
    NoFileName,
}

fn errno(e: rustix::io::Errno) -> OutputError {
    OutputError::Io(e.into())
}

/// What a target that is not a regular file is, for the message.
fn kind_of(t: FileType) -> Option<&'static str> {
    Some(match t {
        FileType::RegularFile => return None,
        FileType::Symlink => "a symbolic link",
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        FileType::Unknown => "not a regular file",
    })
}

/// Refuses a target that exists and is not a regular file (links not followed).
fn check_target(dir: &OwnedFd, name: &OsStr) -> Result<(), OutputError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match kind_of(FileType::from_raw_mode(st.st_mode)) {
            None => Ok(()),
            Some(kind) => Err(OutputError::NotRegular(kind)),
        },
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(errno(e)),
    }
}

/// A new temporary file beside `name` in `dir`, created exclusively, never through a
/// link: its name and descriptor.
fn create_temp(dir: &OwnedFd, name: &OsStr) -> Result<(OsString, File), OutputError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for _ in 0..64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(
            ".sockc-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match rustix::fs::openat(dir, tmp.as_os_str(), flags, Mode::from_raw_mode(0o666)) {
            Ok(fd) => return Ok((tmp, File::from(fd))),
            // Someone made that name first (or planted a link there): pick another.
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
    Err(OutputError::Io(std::io::Error::other(
        "could not create a temporary file beside it (every name tried exists)",
    )))
}

/// Writes `bytes` to the file at `path`, replacing it in one step (see the module
/// documentation for what is refused).
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let name = path.file_name().ok_or(OutputError::NoFileName)?;
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(OutputError::NoFileName);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::openat(
        CWD,
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)?;
    check_target(&dir, name)?;
    let (tmp, mut file) = create_temp(&dir, name)?;
    let written = file
        .write_all(bytes)
        .and_then(|_| file.sync_data())
        .map_err(OutputError::Io)
        .and_then(|_| check_target(&dir, name))
        .and_then(|_| rustix::fs::renameat(&dir, tmp.as_os_str(), &dir, name).map_err(errno));
    if written.is_err() {
        let _ = rustix::fs::unlinkat(&dir, tmp.as_os_str(), AtFlags::empty());
    }
    written
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt;

    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sockc-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A regular file is replaced; nothing is left beside it.
    #[test]
    fn replaces_a_regular_file_and_leaves_no_temporary() {
        let dir = temp_dir("regular");
        let out = dir.join("out");
        replace_file(&out, b"one").unwrap();
        replace_file(&out, b"two").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert_eq!(entries(&dir), ["out"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A symbolic link, a FIFO and a device node as the target are refused and left as
    /// they are; what a link points at is untouched.
    #[test]
    fn refuses_links_fifos_and_devices() {
        let dir = temp_dir("kinds");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        // A device node of its own (a copy of /dev/null, made as root), never the
        // host's: were the check wrong, the test must not replace a real device.
        let device = dir.join("null");
        let made = std::process::Command::new("mknod")
            .args(["-m", "666"])
            .arg(&device)
            .args(["c", "1", "3"])
            .status()
            .is_ok_and(|s| s.success());
        let mut targets = vec![
            (link.as_path(), "a symbolic link"),
            (fifo.as_path(), "a FIFO (named pipe)"),
            (dir.as_path(), "a directory"),
        ];
        if made {
            targets.push((device.as_path(), "a character device"));
        }
        for (target, kind) in targets {
            let e = replace_file(target, b"x").expect_err(kind);
            assert!(e.to_string().contains(kind), "{target:?}: {e}");
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        let mut left = vec!["fifo", "link", "victim"];
        if made {
            left.insert(2, "null");
            assert!(std::fs::symlink_metadata(&device)
                .unwrap()
                .file_type()
                .is_char_device());
        }
        assert_eq!(entries(&dir), left);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
