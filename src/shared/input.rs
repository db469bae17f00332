//! Reading what the command line names: a file within its limit (`--max-*`), a rule
//! file from standard input (`-`), and a path as messages print it.
//!
//! Invariant: every file named on the command line is read within the limits of
//! `sockc_compiler::limits` ([`super::settings`]); an input that cannot be read or is
//! refused by a limit exits 2, one that is not UTF-8 text exits 1.

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::ExitCode,
};

use sockc_compiler::{
    diag,
    input::{read_bounded, utf8},
    limits::Limit,
};

use super::{json::sockc_error, settings::settings};

/// True for the file name `-`, which means standard input.
pub fn is_stdin(file: &Path) -> bool {
    file.as_os_str() == "-"
}

/// The name diagnostics give a rule file read from standard input (`-`).
pub const STDIN_NAME: &str = "<stdin>";

/// Reads a rule file given as `-`: standard input, at most `max` bytes (the same
/// `--max-source-bytes` as a named file). One byte past the bound is read to tell,
/// never more: `yes | sockc check -` fails at once with the memory of the bound.
/// (Named files go through [`read_input`], which checks what they are and their size
/// before reading.)
pub fn read_stdin(max: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if buf.len() as u64 > max {
        return Err(format!(
            "cannot read standard input: more than {max} bytes; the limit on a rule \
             file is --max-source-bytes"
        ));
    }
    Ok(buf)
}

/// Where `file "..."` sets of a rule file are looked up: beside it, or the current
/// directory for standard input.
pub fn base_dir(file: &Path) -> Option<PathBuf> {
    if is_stdin(file) {
        std::env::current_dir().ok()
    } else {
        file.parent().map(Path::to_path_buf)
    }
}

/// Reads a file named on the command line within `limit`, as text; says what failed
/// (exit 2 when it cannot be read, 1 when it is not UTF-8 text).
pub fn read_input(path: &Path, limit: Limit) -> Result<String, ExitCode> {
    let bytes = read_bounded(path, limit, settings().limits.get(limit)).map_err(|e| {
        sockc_error!("cannot read {}: {e}", shown(path));
        ExitCode::from(2)
    })?;
    utf8(bytes).map_err(|e| {
        sockc_error!("{}: {e}", shown(path));
        ExitCode::from(1)
    })
}

/// A rule file's text (or an imported ruleset's): a named file through
/// [`read_input`], or standard input (`-`) within the same `--max-source-bytes`.
/// Not UTF-8 is exit 1, unreadable or too large exit 2.
pub fn read_rule_text(file: &Path) -> Result<String, ExitCode> {
    if !is_stdin(file) {
        return read_input(file, Limit::SourceBytes);
    }
    let limit = settings().limits.get(Limit::SourceBytes);
    match read_stdin(limit) {
        Ok(b) => String::from_utf8(b).map_err(|_| {
            sockc_error!("{}: not UTF-8 text", STDIN_NAME);
            ExitCode::from(1)
        }),
        Err(msg) => {
            sockc_error!("{msg}");
            Err(ExitCode::from(2))
        }
    }
}

/// A path as messages print it: control and other invisible characters escaped (a
/// file name may hold a terminal escape sequence).
pub fn shown(path: &Path) -> String {
    diag::escaped(&path.display().to_string()).into_owned()
}
