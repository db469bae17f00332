//! What the agent says about the node: one line per event on stderr, the status file
//! (`sockc.watch/1`, docs/schemas/sockc.watch.1.json: the last result of every
//! install, written after every round), the readiness file and the termination
//! message.
//!
//! Invariant: the status file and the readiness file are replaced whole (a new file
//! renamed over the old one: a reader never sees half of one); the readiness file
//! exists exactly while every rule file of the directory has good rules installed
//! (applied, or refused or rolled back with an earlier generation still in place).
//! The termination message is written in place (the kubelet's file is a bind mount,
//! which no rename can replace) and kept within the kubelet's 4,096 bytes.

use std::{
    collections::BTreeMap,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use serde_json::{json, Value};

use crate::shared::stderr::errln;
use crate::shared::{input::shown, json::sockc_error, output::write_replacing, time::rfc3339};

/// The status file's schema.
pub const SCHEMA: &str = "sockc.watch/1";
/// The most of a termination message the kubelet keeps.
const TERMINATION_MAX: usize = 4096;

/// What became of an install's rule file the last time it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Installed (or already installed: no changes).
    Applied,
    /// Not compiled or not readable: nothing was changed.
    Refused,
    /// Applied, then put back as it was because a probe failed (or the agent was
    /// stopped) before the change was confirmed.
    RolledBack,
    /// The apply failed in the kernel (or could not start).
    Failed,
    /// Its file left the directory; the install is left as it is.
    Kept,
    /// Its file left the directory and `--prune` flushed it.
    Pruned,
}

impl Outcome {
    fn word(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Refused => "refused",
            Outcome::RolledBack => "rolled_back",
            Outcome::Failed => "failed",
            Outcome::Kept => "kept",
            Outcome::Pruned => "pruned",
        }
    }
}

/// The last result of one install.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub file: String,
    pub outcome: Outcome,
    /// One line: what happened.
    pub message: String,
    /// Why a change was rolled back.
    pub reason: Option<String>,
    /// A refused file's diagnostics, as `--json` gives them.
    pub diagnostics: Value,
    /// The generation installed after it (`None`: nothing is).
    pub generation: Option<u64>,
    /// Whether the install runs good rules: the new ones, or earlier ones kept.
    pub good: bool,
    /// SHA-256 of the rule file this result is about.
    pub sha256: String,
    pub unix: u64,
}

/// Everything the agent reports, kept across rounds.
pub struct Report {
    pub dir: PathBuf,
    pub data: Option<String>,
    pub rounds: u64,
    pub entries: BTreeMap<String, Entry>,
    pub ready: bool,
}

impl Report {
    /// Records `e` as its install's last result and logs it.
    pub fn record(&mut self, e: Entry) {
        log(&format!("{}: {}", e.name, e.message));
        self.entries.insert(e.name.clone(), e);
    }

    /// The status file's document.
    pub fn to_json(&self) -> Value {
        json!({
            "schema": SCHEMA,
            "dir": self.dir.display().to_string(),
            "data": self.data,
            "rounds": self.rounds,
            "time": rfc3339(now()),
            "ready": self.ready,
            "installs": self.entries.values().map(entry_json).collect::<Vec<_>>(),
        })
    }

    /// The termination message: one line per install, within the kubelet's limit.
    pub fn termination_text(&self) -> String {
        let mut text = String::new();
        for e in self.entries.values() {
            let line = format!("{}: {} ({})\n", e.name, e.message, rfc3339(e.unix));
            if text.len() + line.len() > TERMINATION_MAX {
                break;
            }
            text.push_str(&line);
        }
        text
    }
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "name": e.name,
        "file": e.file,
        "result": e.outcome.word(),
        "message": e.message,
        "reason": e.reason,
        "diagnostics": e.diagnostics,
        "generation": e.generation,
        "good": e.good,
        "sha256": e.sha256,
        "time": rfc3339(e.unix),
    })
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One event on stderr.
pub fn log(line: &str) {
    errln!("sockc watch: {line}");
}

/// The files the agent writes for others to read.
pub struct Outputs<'a> {
    pub status: Option<&'a Path>,
    pub ready: Option<&'a Path>,
    pub termination: Option<&'a Path>,
}

impl Outputs<'_> {
    /// Makes the readiness file say `report.ready`, writes the termination message,
    /// then the status file (last: once it shows a round, the other two do too); a
    /// file that cannot be written is said on stderr and tried again next round.
    pub fn write(&self, report: &Report) {
        if let Some(p) = self.ready {
            self.set_ready(p, report.ready);
        }
        if let Some(p) = self.termination {
            if let Err(e) = write_in_place(p, report.termination_text().as_bytes()) {
                sockc_error!("cannot write {}: {e}", shown(p));
            }
        }
        if let Some(p) = self.status {
            let text = serde_json::to_string_pretty(&report.to_json()).expect("json") + "\n";
            let _ = write_replacing(p, text.as_bytes());
        }
    }

    fn set_ready(&self, p: &Path, ready: bool) {
        if !ready {
            if let Err(e) = std::fs::remove_file(p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    sockc_error!("cannot remove {}: {e}", shown(p));
                }
            }
        } else if !p.exists() {
            let _ = write_replacing(p, format!("{}\n", rfc3339(now())).as_bytes());
        }
    }
}

/// Truncates and writes `path` (never through a link).
fn write_in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(bytes)
}
