//! Commit-confirmed changes (`apply --confirm`, `sockc confirm`): a change is armed
//! before it reaches the kernel — a record in the state directory names the rules to
//! put back and the deadline (`sockc_runtime::store::pending`) and a watcher process of
//! its own session waits for the deadline ([`spawn_watcher`]) — and unless `sockc
//! confirm` ends it first, the rules before it are installed again at the deadline,
//! by the watcher or by the next sockc command that opens the install ([`settle`]),
//! whichever comes first; a reboot in between is caught by the record outliving bpffs.
//!
//! Invariants: a record is only written, ended or acted on under the store's lock;
//! while an install has a pending record, whatever it runs is put back to the
//! record's rules at the deadline unless confirmed (an apply in the window joins it,
//! a flush cancels it in the runtime); a rollback is an apply of the recorded rules
//! (or a flush when there were none), journaled like any other, in the install's own
//! network namespace, so a kill at any point leaves a record the next command acts on.

use std::{path::Path, time::Duration};

use serde_json::{json, Value};
use sockc_runtime::{
    error_chain,
    install::{self, ApplyRequest},
    netns,
    store::{
        pending::{self, Pending, PendingState, Previous, RolledBack},
        Manifest, Store,
    },
};

use super::stderr::errln;
use super::{installed, installing, memory::release_freed_memory, probe::Probe, time};

/// The shortest and the longest confirmation window.
pub const WINDOW_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(24 * 3600));

/// `--confirm DURATION`: `30s`, `5m`, `1h 30m` (jiff's friendly format), or a number
/// of seconds.
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let parsed = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => s
            .parse::<jiff::SignedDuration>()
            .ok()
            .and_then(|d| Duration::try_from(d).ok())
            .ok_or_else(|| format!("`{s}` is not a duration (30s, 5m, 1h 30m, or seconds)"))?,
    };
    let (low, high) = WINDOW_BOUNDS;
    if parsed < low || parsed > high {
        return Err(format!(
            "`{s}`: a confirmation window is 1 second to 24 hours"
        ));
    }
    Ok(parsed)
}

/// What an apply asks of its confirmation.
pub struct Window<'a> {
    pub duration: Option<Duration>,
    pub probes: &'a [Probe],
}

/// A record an apply armed or joined before it changed anything.
pub struct Armed {
    pub record: Pending,
    /// True when the install already had a pending change that this apply joined.
    pub joined: bool,
}

/// Arms (or joins) install `name`'s confirmation before an apply of rules whose text
/// has SHA-256 `change_sha256`: with a window, a record naming the rules installed
/// now (or none) is written and a watcher started; without one, an apply inside a
/// pending window joins it (its deadline stays), and `change_sha256` is not read.
/// `None`: nothing to arm.
pub fn arm(
    store: &Store,
    name: &str,
    window: &Window<'_>,
    (change_sha256, change_label): (&str, Option<&str>),
) -> Result<Option<Armed>, String> {
    let records = store.pending();
    let current = records.read_pending(name).map_err(|e| error_chain(&e))?;
    let Some(duration) = window.duration else {
        return Ok(current.map(|record| Armed {
            record,
            joined: true,
        }));
    };
    let joined = current.is_some();
    let before = current.clone();
    let mut record = match current {
        Some(r) => r,
        None => fresh_record(store, name, (change_sha256, change_label))?,
    };
    record.boot_id = pending::boot_id();
    record.armed_unix = pending::now_unix();
    record.deadline_unix = record.armed_unix + duration.as_secs().max(1);
    record.deadline_boot_ns = pending::boot_clock_ns() + duration.as_nanos() as u64;
    record.probes = window.probes.iter().map(Probe::to_string).collect();
    record.token = pending::new_token();
    record.watcher_pid = None;
    records.write(&record).map_err(|e| error_chain(&e))?;
    sockc_runtime::fault::point("start the confirmation's watcher");
    let watcher = spawn_watcher(store.bpffs(), name, &record.token).inspect_err(|_| {
        // The pending change this one would have joined keeps its own watcher, which
        // the new token would have sent away: its record goes back as it was.
        if let Some(old) = &before {
            let _ = records.write(old);
        }
    })?;
    record.watcher_pid = Some(watcher);
    records.write(&record).map_err(|e| error_chain(&e))?;
    Ok(Some(Armed { record, joined }))
}

/// A new record for a change of install `name`: the rules it runs now put back at the
/// deadline (written out to compile on their own), or none.
fn fresh_record(
    store: &Store,
    name: &str,
    (change_sha256, change_label): (&str, Option<&str>),
) -> Result<Pending, String> {
    let installed = installed::read(store, name)
        .map_err(|why| format!("the rules to put back cannot be read: {why}"))?;
    let (instance, from_generation, previous) = match installed {
        Some(i) => {
            let m = &i.manifest;
            let instance = if m.instance.is_empty() {
                sockc_runtime::store::new_instance()
            } else {
                m.instance.clone()
            };
            let previous = Previous {
                generation: m.generation,
                text: i.text,
                source_file: m.source_file.clone(),
                label: m.label.clone(),
                netns: m.netns.clone(),
            };
            (instance, Some(m.generation), Some(previous))
        }
        None => (sockc_runtime::store::new_instance(), None, None),
    };
    Ok(Pending {
        schema: pending::SCHEMA.to_string(),
        name: name.to_string(),
        instance,
        state: PendingState::Pending,
        boot_id: String::new(),
        armed_unix: 0,
        deadline_unix: 0,
        deadline_boot_ns: 0,
        from_generation,
        previous,
        change_sha256: change_sha256.to_string(),
        change_label: change_label.map(str::to_string),
        probes: Vec::new(),
        token: String::new(),
        watcher_pid: None,
        rolled_back: None,
    })
}

/// After the apply an [`arm`] prepared: a fresh record whose apply changed no rules
/// (or failed) is removed, as nothing is pending; a joined one now names the rules
/// this apply installed. Returns the record still pending, if any.
pub fn after_apply(
    store: &Store,
    armed: Armed,
    changed_rules: bool,
    (change_sha256, change_label): (&str, Option<&str>),
) -> Result<Option<Pending>, String> {
    let records = store.pending();
    let mut record = armed.record;
    if !armed.joined && !changed_rules {
        records.remove(&record.name).map_err(|e| error_chain(&e))?;
        return Ok(None);
    }
    let moved =
        record.change_sha256 != change_sha256 || record.change_label.as_deref() != change_label;
    if changed_rules && moved {
        record.change_sha256 = change_sha256.to_string();
        record.change_label = change_label.map(str::to_string);
        records.write(&record).map_err(|e| error_chain(&e))?;
    }
    Ok(Some(record))
}

/// After an apply an [`arm`] prepared that failed: the change may have reached the
/// kernel before the failure (a hook swapped, then its records could not be written),
/// so a fresh record is removed only when [`settle`] finds that nothing was committed
/// (after recovery, the install is at the generation the change started from); else
/// it stays pending, and the watcher rolls the change back at its deadline. A joined
/// record stays as it was. Returns the record still pending, if any.
pub fn after_failed_apply(store: &Store, armed: Armed) -> Result<Option<Pending>, String> {
    if armed.joined {
        return Ok(Some(armed.record));
    }
    let name = armed.record.name;
    if let Settled::Discarded = settle(store, &name, None)?.settled {
        return Ok(None);
    }
    store
        .pending()
        .read_pending(&name)
        .map_err(|e| error_chain(&e))
}

/// What [`settle`] did: what became of the change, and what recovery finished or
/// removed first (interrupted work, leftovers of an interrupted command, each line as
/// every command says it: `install::Recovery`'s text), now or by the rollback.
pub struct Settlement {
    pub settled: Settled,
    pub recovered: Vec<String>,
}

/// What [`settle`] did about install `name`'s record.
pub enum Settled {
    /// No pending change, or one whose deadline has not come.
    Nothing,
    /// A record of a change that never reached the kernel: removed.
    Discarded,
    /// The change was rolled back now (or found gone with its install).
    RolledBack(RolledBack),
}

/// Acts on install `name`'s pending change, under the store's lock, after finishing
/// any interrupted command: rolls it back when its deadline passed or `force` gives a
/// reason (a failed probe); records it as ended when the install it was made to is
/// gone (a reboot emptied bpffs, or it was removed); removes a record whose change
/// never committed.
pub fn settle(store: &Store, name: &str, force: Option<&str>) -> Result<Settlement, String> {
    let records = store.pending();
    let Some(record) = records.read_pending(name).map_err(|e| error_chain(&e))? else {
        return Ok(Settlement {
            settled: Settled::Nothing,
            recovered: Vec::new(),
        });
    };
    let mut recovered: Vec<String> = install::recover(store, Some(name))
        .map_err(|e| error_chain(&e))?
        .iter()
        .map(|(_, r)| r.to_string())
        .collect();
    let settled = settle_recovered(store, (name, record), force, &mut recovered)?;
    Ok(Settlement { settled, recovered })
}

/// [`settle`] of `record`, install `name`'s pending change, once interrupted work is
/// finished or undone (`recovered` says what that did, and gets what the rollback's
/// own recovery did).
fn settle_recovered(
    store: &Store,
    (name, mut record): (&str, Pending),
    force: Option<&str>,
    recovered: &mut Vec<String>,
) -> Result<Settled, String> {
    let records = store.pending();
    let manifest = store.manifest(name).map_err(|e| error_chain(&e))?;
    let ours = manifest.as_ref().filter(|m| m.instance == record.instance);
    let Some(m) = ours else {
        if manifest.is_none() && record.from_generation.is_none() && record.this_boot() {
            // A first install armed in this boot and not there: it never committed
            // (a flush, which would have removed the record, is the other way).
            records.remove(name).map_err(|e| error_chain(&e))?;
            return Ok(Settled::Discarded);
        }
        let reason = if record.this_boot() {
            "the install was removed (its pins are gone) before the change was confirmed"
        } else {
            "the host restarted before the change was confirmed"
        };
        return end(
            &records,
            &mut record,
            reason.to_string(),
            (None, recovered, None),
        );
    };
    if record.from_generation == Some(m.generation) {
        records.remove(name).map_err(|e| error_chain(&e))?;
        return Ok(Settled::Discarded);
    }
    let reason = match force {
        Some(why) => why.to_string(),
        None if record.expired() => format!(
            "the deadline passed at {} and `sockc confirm {name}` did not come",
            time::local_time(record.deadline_unix)
        ),
        None => return Ok(Settled::Nothing),
    };
    // Its name deleted, the namespace may live on in a process that holds it (a
    // container's): the change still runs there, and is put back there.
    let holder = namespace_gone(m).then(|| {
        netns::find(netns::Identity {
            ino: m.netns_ino,
            cookie: m.netns_cookie,
        })
    });
    let (put, reason) = match holder {
        None => (put_back(store, name, m, record.previous.as_ref())?, reason),
        Some(Some((entered, pid))) => {
            let put = install_previous(store, name, m.netns.as_deref(), record.previous.as_ref());
            drop(entered);
            let held = format!(
                "{reason}; put back in the install's network namespace, whose name is gone and which PID {pid} keeps alive"
            );
            (put?, held)
        }
        Some(None) => {
            let reason = format!(
                "{reason}; the install's network namespace is gone, and its hooks with it: nothing to put back there"
            );
            return end(
                &records,
                &mut record,
                reason,
                (Some(m.generation), recovered, None),
            );
        }
    };
    // The rollback's own recovery says again a leftover that is still there.
    add_recovered(recovered, &put.recovered);
    end(
        &records,
        &mut record,
        reason,
        (put.generation, recovered, put.stayed),
    )
}

/// [`settle`] for every install whose records this store keeps; what it did, per
/// install, for the caller to say.
pub fn settle_all(store: &Store) -> Vec<(String, Result<Settlement, String>)> {
    let mut names = store.names().unwrap_or_default();
    names.extend(pending_names(store));
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let settled = settle(store, &n, None);
            (n, settled)
        })
        .collect()
}

/// The names of the installs that have a record in the store's state directory.
fn pending_names(store: &Store) -> Vec<String> {
    let dir = store.pending().path("x");
    let Some(dir) = dir.parent() else {
        return Vec::new();
    };
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .filter(|n| super::store::valid_name(n))
        .collect()
}

/// Marks `record` rolled back (with `reason`, `generation` installed after it, what
/// recovery did before, `recovered`, and what the rollback could not remove,
/// `stayed`, which the record keeps for `status` and `sockc confirm` to say: a
/// watcher has no terminal).
fn end(
    records: &pending::Records,
    record: &mut Pending,
    reason: String,
    (generation, recovered, stayed): (Option<u64>, &[String], Option<String>),
) -> Result<Settled, String> {
    let rolled = RolledBack {
        at_unix: pending::now_unix(),
        reason,
        generation,
        recovered: recovered.to_vec(),
        stayed,
    };
    record.state = PendingState::RolledBack;
    record.rolled_back = Some(rolled.clone());
    records.write(record).map_err(|e| error_chain(&e))?;
    Ok(Settled::RolledBack(rolled))
}

/// Installs `previous` again as install `name` (whose manifest is `m`), or flushes it
/// when there was nothing before; in the install's network namespace.
fn put_back(
    store: &Store,
    name: &str,
    m: &Manifest,
    previous: Option<&Previous>,
) -> Result<PutBack, String> {
    let _entered = enter_install_netns(m)?;
    install_previous(store, name, m.netns.as_deref(), previous)
}

/// What [`install_previous`] did: the generation installed after (`None`: nothing
/// is), what the apply's or flush's recovery finished or removed first, and what a
/// flush could not remove (every hook off all the same), with the fix.
pub struct PutBack {
    pub generation: Option<u64>,
    pub recovered: Vec<String>,
    pub stayed: Option<String>,
}

/// Installs `previous` as install `name` in the calling thread's network namespace
/// (recorded as `netns`), or flushes the install when there was nothing before (if it
/// is installed).
pub fn install_previous(
    store: &Store,
    name: &str,
    netns: Option<&str>,
    previous: Option<&Previous>,
) -> Result<PutBack, String> {
    let Some(prev) = previous else {
        // A flush goes on beside a leftover it cannot remove: the unconfirmed rules
        // come off at the deadline whatever stays in the install's directory.
        let (recovered, stayed) = match install::flush(store, name) {
            Ok(f) => (f.recovered, f.stayed),
            Err(install::InstallError::NotInstalled(_)) => (None, Vec::new()),
            Err(e) => return Err(error_chain(&e)),
        };
        return Ok(PutBack {
            generation: None,
            recovered: recovered.iter().map(ToString::to_string).collect(),
            stayed: (!stayed.is_empty()).then(|| install::stayed_note(&stayed)),
        });
    };
    let compiled = installed::compile_recorded(&prev.text, &prev.source_file).ok_or_else(|| {
        format!(
            "the rules to put back (from {}) do not compile",
            prev.source_file
        )
    })?;
    let req = ApplyRequest {
        compiled: &compiled,
        name,
        source_file: &prev.source_file,
        source: &prev.text,
        shared_source: None,
        netns,
        dry_run: false,
        attach: Default::default(),
        allow_empty: true,
        ahead: None,
        release_freed_memory,
        label: prev.label.as_deref(),
        instance: None,
        residual: super::residual::record(&compiled, name)?,
        fitted_to: None,
        source_sha256: None,
    };
    let mut report = install::apply(store, &req).map_err(|e| error_chain(&e))?;
    installing::switch_conntrack(name, &compiled, &mut report, &|_| {});
    if !report.failed.is_empty() {
        return Err(format!(
            "put back, but some hooks do not run the rules: {}",
            report.failed.join("; ")
        ));
    }
    Ok(PutBack {
        generation: report.generation,
        recovered: report.recovered.iter().map(ToString::to_string).collect(),
        stayed: None,
    })
}

/// Whether the network namespace install `m` was applied in no longer exists by its
/// recorded path (the path is gone; one made again under it is refused later).
fn namespace_gone(m: &Manifest) -> bool {
    m.netns
        .as_deref()
        .is_some_and(|p| std::fs::symlink_metadata(p).is_err())
}

/// The calling thread moved into install `m`'s network namespace (by its recorded
/// path, checked by cookie) until the value drops; nothing when it records none.
fn enter_install_netns(m: &Manifest) -> Result<Option<netns::Entered>, String> {
    let Some(path) = m.netns.as_deref() else {
        return Ok(None);
    };
    let entered =
        netns::enter(Path::new(path)).map_err(|e| format!("network namespace {path}: {e}"))?;
    if m.netns_cookie != 0 && entered.identity.cookie != m.netns_cookie {
        return Err(format!(
            "network namespace {path} is not the one the install was applied in (it was created again)"
        ));
    }
    Ok(Some(entered))
}

/// Starts the watcher of install `name`'s record (`sockc deadline`, in a session of its
/// own, so that neither the end of the caller's terminal or SSH session nor a kill of
/// the caller ends it); its PID.
pub fn spawn_watcher(bpffs: &Path, name: &str, token: &str) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    // This very binary, through /proc: an upgrade that renamed a new one over its path
    // (a package's) leaves the path naming another, or nothing.
    let exe = std::env::current_exe().map_err(|e| format!("the sockc binary: {e}"))?;
    let own = Path::new("/proc/self/exe");
    let mut cmd = std::process::Command::new(if own.exists() { own } else { &exe });
    cmd.arg0(&exe);
    // Resolved here: the watcher runs in `/`, where a relative path names another.
    cmd.arg("deadline")
        .arg(name)
        .arg("--bpffs")
        .arg(sockc_runtime::store::pending::bpffs_named(bpffs))
        .arg("--token")
        .arg(token)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(watcher_log())
        .current_dir("/");
    // The fault points of the command that arms are not the watcher's: a test names
    // the watcher's own with SOCKC_WATCHER_FAULT_KILL_AT (and _TRACE), and reads what
    // it says in SOCKC_WATCHER_LOG.
    cmd.env_remove("SOCKC_FAULT_KILL_AT")
        .env_remove("SOCKC_FAULT_TRACE");
    for (ours, its) in [
        ("SOCKC_WATCHER_FAULT_KILL_AT", "SOCKC_FAULT_KILL_AT"),
        ("SOCKC_WATCHER_FAULT_TRACE", "SOCKC_FAULT_TRACE"),
    ] {
        if let Some(v) = std::env::var_os(ours) {
            cmd.env(its, v);
        }
    }
    // SAFETY: setsid is async-signal-safe and touches only the new process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting the watcher: {e}"))?;
    let pid = child.id();
    // Never waited for here: it outlives this process, and init reaps it; a caller
    // that runs on (the node agent) reaps it on a thread.
    reap_later(child);
    Ok(pid)
}

/// Where the watcher's stderr goes: the file `SOCKC_WATCHER_LOG` names (appended to),
/// else nowhere (it has no terminal).
fn watcher_log() -> std::process::Stdio {
    let file = std::env::var_os("SOCKC_WATCHER_LOG").and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    file.map_or_else(std::process::Stdio::null, std::process::Stdio::from)
}

/// Waits for `child` on a thread of its own, so that a long-running caller leaves no
/// zombie; a short one exits first, and the child goes to init.
fn reap_later(mut child: std::process::Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

/// `confirmation` of `status --json` and `apply --json`: a pending change.
pub fn pending_json(p: &Pending) -> Value {
    json!({
        "state": "pending",
        "deadline": time::rfc3339(p.deadline_unix),
        "deadline_unix": p.deadline_unix,
        "remaining_secs": (p.remaining_secs() * 10.0).round() / 10.0,
        "rollback_to": p.previous.as_ref().map(|prev| json!({
            "generation": prev.generation,
            "label": prev.label,
            "source_file": prev.source_file,
        })),
        "probes": p.probes,
        "watcher_pid": p.watcher_pid,
        "watcher_alive": watcher_alive(p),
        "label": p.change_label,
    })
}

/// Whether the change's watcher runs: its PID is a `sockc deadline` process with the
/// record's token (not so when it died with its process group or container, or when
/// the PID is another PID namespace's, as a containerised agent's watcher's is).
pub fn watcher_alive(p: &Pending) -> bool {
    let Some(pid) = p.watcher_pid else {
        return false;
    };
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let token = args.windows(2).find(|w| w[0] == b"--token").map(|w| w[1]);
    args.iter().any(|a| *a == b"deadline") && token == Some(p.token.as_bytes())
}

/// `last_rollback` of `status --json`: a change that was rolled back.
pub fn rollback_json(p: &Pending) -> Value {
    let r = p.rolled_back.as_ref();
    json!({
        "at": r.map(|r| time::rfc3339(r.at_unix)),
        "at_unix": r.map(|r| r.at_unix),
        "reason": r.map(|r| r.reason.as_str()),
        "generation": r.and_then(|r| r.generation),
        "recovered": r.map(|r| r.recovered.as_slice()).unwrap_or_default(),
        "stayed": r.and_then(|r| r.stayed.as_deref()),
        "label": p.change_label,
        "sha256": p.change_sha256,
    })
}

/// One line for people: what happens unless the change is confirmed.
pub fn pending_line(name: &str, p: &Pending) -> String {
    let back = match &p.previous {
        Some(prev) => format!(
            "generation {}{} is put back",
            prev.generation,
            prev.label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        ),
        None => format!("{name} is flushed (nothing was installed before)"),
    };
    let probes = if p.probes.is_empty() {
        String::new()
    } else {
        format!("; at once if a probe fails ({})", p.probes.join(", "))
    };
    let watcher = if watcher_alive(p) {
        ""
    } else {
        "; no watcher runs for it here (it ended with its process, or runs in another PID \
         namespace): the first sockc command after the deadline puts it back"
    };
    format!(
        "pending confirmation: `sockc confirm {name}` by {} (in {:.0}s), or {back}{probes}{watcher}",
        time::local_time(p.deadline_unix),
        p.remaining_secs().ceil()
    )
}

/// One line for people: why the last change was rolled back.
pub fn rollback_line(p: &Pending) -> Option<String> {
    let r = p.rolled_back.as_ref()?;
    let recovered = if r.recovered.is_empty() {
        String::new()
    } else {
        format!(" (before it: {})", r.recovered.join("; "))
    };
    Some(format!(
        "last change rolled back {}: {}{recovered}{}",
        time::local_time(r.at_unix),
        r.reason,
        stayed_words(r)
    ))
}

/// "; every hook is off, but sockc could not remove …" when the rollback's flush left
/// something it could not remove in the install's directory, else nothing.
pub fn stayed_words(r: &RolledBack) -> String {
    r.stayed
        .as_deref()
        .map(|s| format!("; every hook is off, but {s}"))
        .unwrap_or_default()
}

/// [`settle`] for install `name` (or every install of the store), saying on stderr
/// what was rolled back or could not be; false when a rollback failed.
pub fn settle_and_say(store: &Store, name: Option<&str>) -> bool {
    let settled = match name {
        Some(n) => vec![(n.to_string(), settle(store, n, None))],
        None => settle_all(store),
    };
    let mut ok = true;
    for (n, s) in settled {
        if let Ok(s) = &s {
            say_recovered(&n, &s.recovered);
        }
        match s.map(|s| s.settled) {
            Ok(Settled::RolledBack(r)) => errln!("sockc: {n}: {}", rolled_back_words(&r)),
            Ok(Settled::Nothing | Settled::Discarded) => {}
            Err(why) => {
                ok = false;
                errln!(
                    "sockc: {n}: its pending confirmation could not be settled (its record \
                     read, or a change past its deadline rolled back): {why}"
                );
            }
        }
    }
    ok
}

/// Adds to `into` the lines of `more` it does not hold yet: two recoveries of one
/// command say a leftover that stays each time.
pub fn add_recovered(into: &mut Vec<String>, more: &[String]) {
    for line in more {
        if !into.contains(line) {
            into.push(line.clone());
        }
    }
}

/// Says on stderr what recovery did for install `name` (`recovered`), a line each,
/// as every command says it.
pub fn say_recovered(name: &str, recovered: &[String]) {
    for r in recovered {
        errln!("sockc: {name}: {r}");
    }
}

/// "rolled back (REASON); generation N installed" / "... nothing installed".
pub fn rolled_back_words(r: &RolledBack) -> String {
    let now = match r.generation {
        Some(g) => format!("generation {g} is installed"),
        None => "nothing is installed".to_string(),
    };
    format!(
        "the unconfirmed change was rolled back: {}; {now}{}",
        r.reason,
        stayed_words(r)
    )
}
