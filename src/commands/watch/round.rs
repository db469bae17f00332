//! One round of the agent: the directory read as a snapshot, each rule file whose
//! fingerprint changed compiled and installed as the install of its name (in
//! process, through the runtime's `install::apply` and the steps `apply` shares,
//! `crate::shared::installing`), the changes confirmed or rolled back
//! ([`super::confirm`]), installs whose file left the directory kept or (`--prune`)
//! flushed, and the status written.
//!
//! Invariant: a file that does not compile changes nothing (its install keeps the
//! rules it had); a file is handled again only when its fingerprint changes, or
//! after a failure that may pass (the store's lock, the kernel); the store is locked
//! only while the round installs, never during a confirm window.

use std::{collections::BTreeMap, path::PathBuf};

use serde_json::Value;
use sockc_compiler::{diag, Compiled};
use sockc_runtime::{
    error_chain,
    install::{self, ApplyReport, InstallError},
    store::{pending::Pending, Manifest, Store},
};

use super::{
    confirm,
    dir::{self, RuleFile, Snapshot},
    events::Events,
    installer::Installer,
    report::{log, now, Entry, Outcome, Outputs, Report},
    WatchArgs,
};
use crate::shared::{
    build::compile_text,
    confirmation::{self, Armed},
    installing,
    store::{open_store, Target},
};

/// The agent's state across rounds.
pub struct Agent<'a> {
    pub args: &'a WatchArgs,
    installer: Installer,
    /// The watched directory, absolute.
    pub dir: PathBuf,
    /// The fingerprint each install's file had when it was last handled.
    seen: BTreeMap<String, String>,
    pub report: Report,
}

impl<'a> Agent<'a> {
    pub fn new(args: &'a WatchArgs, dir: PathBuf, netns: Option<String>) -> Agent<'a> {
        let target = Target {
            name: None,
            bpffs: args.bpffs.clone(),
            lock_timeout: args.lock_timeout,
        };
        let report = Report {
            dir: dir.clone(),
            data: None,
            rounds: 0,
            entries: BTreeMap::new(),
            ready: false,
        };
        Agent {
            args,
            installer: Installer { target, netns },
            dir,
            seen: BTreeMap::new(),
            report,
        }
    }

    /// A round, when the directory changed since the last one (the first always
    /// runs); `Some(signal)` when a signal came during its confirm window.
    pub fn round(&mut self, events: &mut Events) -> Option<&'static str> {
        let snap = match dir::snapshot(&self.dir) {
            Ok(s) => s,
            Err(why) => {
                log(&format!("cannot read {}: {why}", self.dir.display()));
                return None;
            }
        };
        let changed: Vec<&RuleFile> = snap
            .files
            .iter()
            .filter(|f| self.seen.get(&f.name) != Some(&f.fingerprint))
            .collect();
        let forgotten = self.forget_never_installed(&snap);
        let gone = self.gone(&snap);
        if self.report.rounds > 0 && changed.is_empty() && gone.is_empty() && !forgotten {
            return None;
        }
        self.report.rounds += 1;
        self.report.data = snap.data.clone();
        let from = snap.data.as_deref().unwrap_or(".");
        log(&format!(
            "round {}: {} of {} rule files changed ({})",
            self.report.rounds,
            changed.len(),
            snap.files.len(),
            self.dir.join(from).display()
        ));
        let stopped = self.install_round(&snap, &changed, events);
        self.report.ready = snap
            .files
            .iter()
            .all(|f| self.report.entries.get(&f.name).is_some_and(|e| e.good));
        self.outputs().write(&self.report);
        stopped
    }

    pub fn outputs(&self) -> Outputs<'_> {
        Outputs {
            status: self.args.status_file.as_deref(),
            ready: self.args.ready_file.as_deref(),
            termination: self.args.termination_log.as_deref(),
        }
    }

    /// Installs the changed files, confirms them, handles the files that left.
    fn install_round(
        &mut self,
        snap: &Snapshot,
        changed: &[&RuleFile],
        events: &mut Events,
    ) -> Option<&'static str> {
        let Ok(store) = open_store(&self.installer.target) else {
            for f in changed {
                let before = self.report.entries.get(&f.name).and_then(|e| e.generation);
                let msg =
                    "not applied: the store cannot be opened (said above); tried again next round";
                self.report
                    .record(self.entry(f, Outcome::Failed, before, msg.into()));
            }
            return None;
        };
        let mut pending = Vec::new();
        for f in changed {
            pending.extend(self.install_file(&store, snap, f));
        }
        self.handle_gone(&store, snap);
        drop(store);
        if pending.is_empty() {
            return None;
        }
        let window = self.args.confirm.unwrap_or_default();
        let probes = &self.args.probe;
        let installer = &self.installer;
        confirm::confirm_or_roll_back(
            installer,
            &mut self.report,
            pending,
            (probes, window),
            events,
        )
    }

    /// Compiles and installs one rule file; under `--confirm`, the name of the change
    /// to confirm (armed before it was installed).
    fn install_file(&mut self, store: &Store, snap: &Snapshot, f: &RuleFile) -> Option<String> {
        let generation = store.manifest(&f.name).ok().flatten().map(|m| m.generation);
        let (compiled, text) = self.compile(snap, f, generation)?;
        let pending = pending_after_settling(store, &f.name);
        if self.held_for_a_pending_change(pending.as_ref(), f, generation) {
            return None;
        }
        let armed = self.arm(store, f, generation)?;
        let source_file = self.dir.join(&f.file).display().to_string();
        let instance = armed.as_ref().map(|a| a.record.instance.clone());
        let installed = self.installer.install(
            store,
            &f.name,
            (&compiled, text, &source_file),
            instance.as_deref(),
        );
        let report = match installed {
            Ok(r) => r,
            Err(e) => {
                let pending = self.disarm_failed(store, armed, f);
                // A file without hook blocks is the file's fault: not tried again.
                let outcome = match e {
                    InstallError::Empty { .. } => Outcome::Refused,
                    _ => Outcome::Failed,
                };
                if outcome == Outcome::Refused {
                    self.seen.insert(f.name.clone(), f.fingerprint.clone());
                }
                let after = match pending {
                    Some(deadline) => format!(
                        "the change may have reached the kernel: it is pending confirmation, \
                         rolled back at {deadline}"
                    ),
                    None => kept(generation),
                };
                let msg = format!("not applied: {}; {after}", error_chain(&e));
                self.report.record(self.entry(f, outcome, generation, msg));
                return None;
            }
        };
        self.seen.insert(f.name.clone(), f.fingerprint.clone());
        self.record_applied(f, &report);
        self.disarm(store, armed, report.plan.has_changes(), f)
    }

    /// Without `--confirm`, an install with a change pending confirmation (an
    /// operator's `apply --confirm`) is not applied: joined, the agent's rules would
    /// be rolled back with that change at its deadline while the agent reports them
    /// applied. Not marked seen, so it is tried again each round until the change is
    /// confirmed or rolled back. True when held (and recorded).
    fn held_for_a_pending_change(
        &mut self,
        pending: Option<&Pending>,
        f: &RuleFile,
        generation: Option<u64>,
    ) -> bool {
        if self.args.confirm.is_some() {
            return false;
        }
        let Some(p) = pending else {
            return false;
        };
        let msg = format!(
            "not applied: a change of the install is pending confirmation (deadline {}); an agent \
             without --confirm does not join it, and applies the file once the change is \
             confirmed or rolled back; {}",
            crate::shared::time::local_time(p.deadline_unix),
            kept(generation)
        );
        self.report
            .record(self.entry(f, Outcome::Failed, generation, msg));
        true
    }

    /// Under `--confirm`, the change of `f` armed (`Some(None)` without it); `None`
    /// when it cannot be (then the file is not applied, and that is recorded).
    fn arm(
        &mut self,
        store: &Store,
        f: &RuleFile,
        generation: Option<u64>,
    ) -> Option<Option<Armed>> {
        if self.args.confirm.is_none() {
            return Some(None);
        }
        let window = confirm::window(self.args.confirm, &self.args.probe);
        match confirmation::arm(store, &f.name, &window, (&f.sha256, None)) {
            Ok(armed) => Some(armed),
            Err(why) => {
                self.seen.insert(f.name.clone(), f.fingerprint.clone());
                let msg = format!(
                    "not applied: under --confirm the change must be armed first, and {why}"
                );
                self.report
                    .record(self.entry(f, Outcome::Failed, generation, msg));
                None
            }
        }
    }

    /// After `f`'s install: its armed change kept pending when its rules changed
    /// (its name returned), else forgotten.
    fn disarm(
        &mut self,
        store: &Store,
        armed: Option<Armed>,
        changed: bool,
        f: &RuleFile,
    ) -> Option<String> {
        let armed = armed?;
        match confirmation::after_apply(store, armed, changed, (&f.sha256, None)) {
            Ok(Some(_)) => Some(f.name.clone()),
            Ok(None) => None,
            Err(why) => {
                log(&format!("{}: {why}", f.name));
                None
            }
        }
    }

    /// After `f`'s failed install: its armed change kept pending when it may have
    /// reached the kernel (its deadline returned), else forgotten.
    fn disarm_failed(
        &mut self,
        store: &Store,
        armed: Option<Armed>,
        f: &RuleFile,
    ) -> Option<String> {
        match confirmation::after_failed_apply(store, armed?) {
            Ok(p) => p.map(|p| crate::shared::time::local_time(p.deadline_unix)),
            Err(why) => {
                log(&format!(
                    "{}: {why}; its change stays pending confirmation",
                    f.name
                ));
                Some("its deadline".into())
            }
        }
    }

    /// `f` compiled with its text, or refused (recorded, not tried again until it
    /// changes) when it cannot be read or does not compile.
    fn compile<'f>(
        &mut self,
        snap: &Snapshot,
        f: &'f RuleFile,
        generation: Option<u64>,
    ) -> Option<(Compiled, &'f str)> {
        let refused = match &f.text {
            Err(why) => (why.clone(), Value::Array(Vec::new())),
            Ok(text) => match compile_text(text, &snap.base) {
                (Some(compiled), _) => return Some((compiled, text)),
                (None, diags) => {
                    let json = diag::to_json(&diags, &f.file, text);
                    (first_error(&json), json)
                }
            },
        };
        self.seen.insert(f.name.clone(), f.fingerprint.clone());
        let msg = format!("refused: {}; {}", refused.0, kept(generation));
        let mut e = self.entry(f, Outcome::Refused, generation, msg);
        e.diagnostics = refused.1;
        self.report.record(e);
        None
    }

    fn record_applied(&mut self, f: &RuleFile, report: &ApplyReport) {
        let line = installing::outcome_line(&f.name, false, report);
        let line = line.strip_prefix(&format!("{}: ", f.name)).unwrap_or(&line);
        if report.failed.is_empty() {
            let e = self.entry(f, Outcome::Applied, report.generation, line.to_string());
            self.report.record(e);
            return;
        }
        let msg = format!(
            "{line}, but these hooks do not run it: {}",
            report.failed.join("; ")
        );
        let mut e = self.entry(f, Outcome::Failed, report.generation, msg);
        e.good = false;
        self.report.record(e);
    }

    /// A result of `f`'s install; good when rules are installed.
    fn entry(
        &self,
        f: &RuleFile,
        outcome: Outcome,
        generation: Option<u64>,
        message: String,
    ) -> Entry {
        Entry {
            name: f.name.clone(),
            file: f.file.clone(),
            outcome,
            message,
            reason: None,
            diagnostics: Value::Array(Vec::new()),
            generation,
            good: generation.is_some(),
            sha256: f.sha256.clone(),
            unix: now(),
        }
    }

    /// Forgets the files that left the directory without ever being installed (refused,
    /// or failed before a first generation): there is nothing of them to keep or prune,
    /// and reported gone they made a round every interval, forever. Whether any was.
    fn forget_never_installed(&mut self, snap: &Snapshot) -> bool {
        let left: Vec<String> = (self.report.entries.values())
            .filter(|e| e.generation.is_none())
            .filter(|e| matches!(e.outcome, Outcome::Refused | Outcome::Failed))
            .filter(|e| !snap.files.iter().any(|f| f.name == e.name))
            .map(|e| e.name.clone())
            .collect();
        for name in &left {
            self.report.entries.remove(name);
            self.seen.remove(name);
        }
        !left.is_empty()
    }

    /// Installs this agent reported whose file is no longer in the snapshot (and
    /// not already reported gone).
    fn gone(&self, snap: &Snapshot) -> Vec<String> {
        self.report
            .entries
            .values()
            .filter(|e| !matches!(e.outcome, Outcome::Kept | Outcome::Pruned))
            .filter(|e| !snap.files.iter().any(|f| f.name == e.name))
            .map(|e| e.name.clone())
            .collect()
    }

    /// Installs applied from this directory (by their manifests, so also those of an
    /// earlier run of the agent) whose file left it: kept, or flushed with `--prune`.
    /// Only those are recovered (their interrupted work finished or undone) before
    /// their generation is said, and asked again after: another install's leftovers
    /// are not the agent's to collect every round, and its interrupted command may be
    /// looked at meanwhile; an install whose file is still here is its apply's.
    fn handle_gone(&mut self, store: &Store, snap: &Snapshot) {
        let prefix = format!("{}/", self.dir.display());
        for name in store.names().unwrap_or_default() {
            let gone_here = |m: &Manifest| self.gone_file(&name, m, &prefix, snap).is_some();
            if !matches!(store.manifest(&name), Ok(Some(m)) if gone_here(&m)) {
                continue;
            }
            let recovered = install::recover(store, Some(&name));
            let (Ok(_), Ok(Some(m))) = (recovered, store.manifest(&name)) else {
                continue;
            };
            let Some(file) = self.gone_file(&name, &m, &prefix, snap) else {
                continue;
            };
            let (outcome, generation, message) = match self.args.prune {
                false => (
                    Outcome::Kept,
                    Some(m.generation),
                    format!(
                        "{file} left the directory; generation {} kept (--prune flushes it)",
                        m.generation
                    ),
                ),
                true => match install::flush(store, &name) {
                    Ok(_) => (
                        Outcome::Pruned,
                        None,
                        format!("{file} left the directory; flushed (--prune)"),
                    ),
                    Err(e) => (
                        Outcome::Failed,
                        Some(m.generation),
                        format!(
                            "{file} left the directory; flush failed: {}",
                            error_chain(&e)
                        ),
                    ),
                },
            };
            // Should the file come back, it is applied again.
            self.seen.remove(&name);
            self.report.record(Entry {
                name: name.clone(),
                file: file.to_string(),
                outcome,
                message,
                reason: None,
                diagnostics: Value::Array(Vec::new()),
                generation,
                good: generation.is_some(),
                sha256: m.source_sha256.clone(),
                unix: now(),
            });
        }
    }

    /// The file, relative to the directory, of install `name` whose manifest `m`
    /// names one of the directory's (`prefix`) that left it and is not yet said
    /// kept or pruned; `None` for any other install.
    fn gone_file<'m>(
        &self,
        name: &str,
        m: &'m Manifest,
        prefix: &str,
        snap: &Snapshot,
    ) -> Option<&'m str> {
        let file = m.source_file.strip_prefix(prefix)?;
        let done = self
            .report
            .entries
            .get(name)
            .is_some_and(|e| matches!(e.outcome, Outcome::Kept | Outcome::Pruned));
        let here = snap.files.iter().any(|f| f.name == name);
        (!file.contains('/') && !done && !here).then_some(file)
    }
}

/// Install `name`'s change pending confirmation, once an expired one (its watcher
/// gone with a container's PID 1, say) is rolled back, as any sockc command does:
/// held, it would wait for ever, and joined, this round's confirmation would keep it.
fn pending_after_settling(store: &Store, name: &str) -> Option<Pending> {
    let pending = || store.pending().read_pending(name).ok().flatten();
    pending()?;
    confirmation::settle_and_say(store, Some(name));
    pending()
}

/// What a refused file leaves in place.
fn kept(generation: Option<u64>) -> String {
    match generation {
        Some(g) => format!("generation {g} stays installed"),
        None => "nothing is installed under its name".into(),
    }
}

/// `N errors, the first at line L: MESSAGE`, from diagnostics as JSON.
fn first_error(diags: &Value) -> String {
    let errors: Vec<&Value> = diags
        .as_array()
        .map(|a| a.iter().filter(|d| d["severity"] == "error").collect())
        .unwrap_or_default();
    let Some(first) = errors.first() else {
        return "errors in the rules".into();
    };
    let line = &first["labels"][0]["line"];
    let at = if line.is_u64() {
        format!(" at line {line}")
    } else {
        String::new()
    };
    let msg = first["message"].as_str().unwrap_or("");
    match errors.len() {
        1 => format!("an error in the rules{at}: {msg}"),
        n => format!("{n} errors in the rules, the first{at}: {msg}"),
    }
}
