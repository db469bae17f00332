//! Reading the files a user names — rule files, `file "..."` sets, packet files — within
//! bounds: regular files only, the size checked before a byte is read, and never more
//! read than the limit allows, whatever the file claims or becomes.
//!
//! Invariant: no path makes sockc block (a FIFO is refused before it is opened, and
//! opened without blocking if it appears in between), read a device, or hold more
//! than the limit in memory.

use std::{
    fs::{File, FileType, OpenOptions},
    io::Read,
    os::unix::fs::{FileTypeExt, OpenOptionsExt},
    path::Path,
};

use crate::limits::{amount, Limit};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Io(#[source] std::io::Error),
    #[error("it is {0}, not a regular file; sockc reads regular files only")]
    NotRegular(&'static str),
    #[error("it is {size} bytes; the {limit} is {}: {}", amount(*.limit, *.max), .limit.how_to_change())]
    TooLarge { size: u64, limit: Limit, max: u64 },
}

fn kind_of(t: FileType) -> Option<&'static str> {
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    })
}

/// Opens `rel` for reading beneath the directory `root`: the kernel resolves it in
/// one walk and fails with `EXDEV` if `..`, an absolute or a relative symbolic link,
/// or a directory renamed meanwhile would take the walk out of `root`. Opened without
/// blocking (a FIFO with no writer) and without becoming a controlling terminal.
pub fn open_beneath(root: &Path, rel: &Path) -> rustix::io::Result<File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
    let dir = rustix::fs::openat(
        CWD,
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )?;
    Ok(File::from(fd))
}

/// Reads the whole of `path` (a regular file, symbolic links followed) if it holds at
/// most `max` bytes, the value of `limit`.
pub fn read_bounded(path: &Path, limit: Limit, max: u64) -> Result<Vec<u8>, InputError> {
    // Refuse what is not a regular file before opening it: opening a FIFO for reading
    // blocks until a writer comes, and opening some devices has effects.
    let meta = std::fs::metadata(path).map_err(InputError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(InputError::NotRegular(kind));
    }
    // The path may have changed since: open without blocking and check again what
    // was opened.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(InputError::Io)?;
    read_open(file, limit, max)
}

/// Reads the whole of an opened `file` if it is a regular file of at most `max` bytes
/// (checked on the descriptor: what was opened, whatever the path names by now).
pub fn read_open(file: File, limit: Limit, max: u64) -> Result<Vec<u8>, InputError> {
    let meta = file.metadata().map_err(InputError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(InputError::NotRegular(kind));
    }
    let too_large = |size| InputError::TooLarge { size, limit, max };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    // The size said is a hint (files in /proc say 0, a file may grow): read one byte
    // past the limit at most to tell.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(InputError::Io)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Text that is not UTF-8: where the first bad byte is.
#[derive(Debug, thiserror::Error)]
#[error("not UTF-8 text: byte 0x{byte:02x} at line {line}, column {column} is not valid UTF-8 (save the file as UTF-8)")]
pub struct NotUtf8 {
    pub byte: u8,
    /// 1-based line and byte column.
    pub line: usize,
    pub column: usize,
}

/// `bytes` as text, or where they stop being UTF-8.
pub fn utf8(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        NotUtf8 {
            byte: bytes[at],
            line: bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1,
            column: at - line_start + 1,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sockc-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Devices, directories and FIFOs are refused by kind, without reading (a FIFO
    /// with no writer would block forever if opened for reading).
    #[test]
    fn only_regular_files_are_read() {
        let dir = temp_dir("kinds");
        let fifo = dir.join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        for (path, kind) in [
            (Path::new("/dev/zero"), "a character device"),
            (dir.as_path(), "a directory"),
            (fifo.as_path(), "a FIFO (named pipe)"),
        ] {
            let e = read_bounded(path, Limit::SourceBytes, 1 << 20).unwrap_err();
            assert!(
                matches!(e, InputError::NotRegular(k) if k == kind),
                "{path:?}: {e}"
            );
            assert!(e.to_string().contains("regular files only"));
        }
        // A FIFO opened in between is caught on the opened file, without blocking.
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        assert!(matches!(
            read_open(f, Limit::SourceBytes, 10),
            Err(InputError::NotRegular("a FIFO (named pipe)"))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file over the limit is refused from its size, before reading; the message
    /// names the limit and how to change it.
    #[test]
    fn the_size_is_checked_before_reading() {
        let dir = temp_dir("size");
        let sparse = dir.join("sparse");
        let f = File::create(&sparse).unwrap();
        f.set_len(1 << 40).unwrap(); // a terabyte of holes: reading it would never end
        let e = read_bounded(&sparse, Limit::SetFileBytes, 64 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is 1099511627776 bytes; the set file size limit is 67108864 bytes (64 MiB): \
             change it with --max-set-file-bytes N (or SOCKC_MAX_SET_FILE_BYTES=N)"
        );
        std::fs::write(&sparse, b"12345").unwrap();
        assert_eq!(
            read_bounded(&sparse, Limit::SetFileBytes, 5).unwrap(),
            b"12345"
        );
        assert!(read_bounded(&sparse, Limit::SetFileBytes, 4).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Files that claim no size (procfs) are still read up to the limit only.
    #[test]
    fn files_without_a_size_are_bounded_by_reading() {
        let e = read_bounded(Path::new("/proc/self/maps"), Limit::SourceBytes, 10).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { size: 11, .. }), "{e}");
    }

    #[test]
    fn bad_utf8_is_located() {
        let e = utf8(b"ok\nab\xffcd".to_vec()).unwrap_err();
        assert_eq!((e.byte, e.line, e.column), (0xff, 2, 3));
        assert_eq!(utf8(b"fine".to_vec()).unwrap(), "fine");
    }
}
