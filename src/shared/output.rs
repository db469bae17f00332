//! Writing a file the command line names (`-o`, `--report-json`, `--trace-out`).
//!
//! Invariant: the file is replaced whole or not at all
//! ([`sockc_compiler::output::replace_file`]: a new file beside it, renamed over it;
//! never through a link, never over a FIFO or a device), and a failure exits 2.

use std::{path::Path, process::ExitCode};

use super::{input::shown, json::sockc_error};

/// Writes `bytes` to a new file beside `path` and renames it over `path`; says what
/// failed (exit 2: the command line named a place that cannot be written).
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), ExitCode> {
    sockc_compiler::output::replace_file(path, bytes).map_err(|e| {
        sockc_error!("cannot write {}: {e}", shown(path));
        ExitCode::from(2)
    })
}
