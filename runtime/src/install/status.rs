//! `sockc status` and `sockc stats`: what is installed, read back from the kernel and
//! compared with the manifest, and what it counted.
//!
//! Invariants: every difference between what the kernel runs and what the manifest
//! says is named in [`Status::drift`] (a hook whose link is gone, detached, on another
//! interface, runs another program; a clsact filter missing or another tool's; a
//! network namespace gone or re-created; a declared socket with nothing registered,
//! whose redirects drop, or with a socket its declaration does not trust (or whose
//! owner cannot be told); with `--deep`, set contents entry by entry); `stats` reads a
//! counters map only while a live hook runs a program that uses it (in a namespace
//! that lost its name too), so it never shows counts of rules nothing enforces, nor
//! calls counters still while they move. Both first finish or undo interrupted work,
//! and remove the debris of interrupted first applies and flushes, as every command
//! does, and say so.

use std::{
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use aya::{
    maps::{MapData, MapError},
    programs::ProgramInfo,
};
use serde::Serialize;
use sockc_compiler::hooks::HookKind;

use super::{
    netns_scope::{locate, Scope},
    recover::{recover_locked, Recovery},
    sets, InstallError, SlotState,
};
use crate::{
    attach::{AttachMode, LinkState},
    counter_map::Counters,
    store::{Manifest, Store},
    sys,
};

#[derive(Clone, Debug, Serialize)]
pub struct HookStatus {
    pub symbol: String,
    pub hook: HookKind,
    pub attach_to: String,
    pub attach_mode: Option<AttachMode>,
    pub prog_id: u32,
    pub tag: String,
    /// The link's pin (`None` for a clsact filter, which has no link).
    pub link: Option<String>,
    /// What the kernel runs there (printed as `attached`, `link missing`, ...).
    pub state: LinkState,
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub name: String,
    pub generation: u64,
    pub source_file: String,
    pub source_sha256: String,
    pub applied_unix: u64,
    pub netns: Option<String>,
    pub hooks: Vec<HookStatus>,
    pub maps: Vec<String>,
    /// The socket map of each sockmap group, with how many sockets are in it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sockmaps: Vec<SockmapStatus>,
    /// Every way the kernel differs from the manifest; empty when it runs exactly what
    /// the manifest says.
    pub drift: Vec<String>,
    /// Interrupted work found and finished or undone before reading.
    pub recovered: Option<String>,
    /// The declared sockets (sk_lookup redirect targets) and what their slots hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sockets: Vec<super::SlotStatus>,
    /// The nft table that switches conntrack on for `ct state` (`None`: not needed,
    /// or the install's namespace cannot be entered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<crate::conntrack_anchor::AnchorStatus>,
    /// Other functions at the hook and priority of a netfilter block (an nft base
    /// chain, another BPF link), and which runs first: not drift, but what decides
    /// before the block.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_priorities: Vec<super::Neighbour>,
    /// The residual installed beside the programs (`None`: the install has none, or
    /// its namespace cannot be entered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residual: Option<ResidualStatus>,
    /// The name the operator gave the rules (`apply --label`).
    pub label: Option<String>,
    /// The install's pending confirmation, or the record of its last change that was
    /// rolled back (the CLI shows both; `confirmation` and `last_rollback`).
    #[serde(skip)]
    pub pending: Option<crate::store::pending::Pending>,
}

/// The residual as `status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ResidualStatus {
    /// `nft`, `nft-json` or `iptables`.
    pub format: String,
    /// What it owns (nft tables, iptables chains).
    pub tables: Vec<String>,
    /// `present`, `changed` (its rules differ from what was installed), `missing`, or
    /// `unreadable: WHY`.
    pub state: String,
}

/// The socket map of a sockmap group, read back from the kernel.
#[derive(Clone, Debug, Serialize)]
pub struct SockmapStatus {
    pub cgroup: String,
    pub map: String,
    /// Connections in the map (sockets the sock_ops program added and that are open).
    pub sockets: Option<u64>,
    /// Named sockets registered in it.
    pub named: Option<u64>,
    /// Why the map could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The socket maps of `m`'s sockmap groups and what is in them.
fn sockmap_states(store: &Store, m: &Manifest) -> Vec<SockmapStatus> {
    use sockc_compiler::{bpf::lower::sockmap::key, ir::sockmap::MapRole};
    m.snapshot
        .durable
        .iter()
        .filter(|d| d.role == MapRole::Sockets)
        .map(|d| {
            let path = store.keep_path(&m.name, &d.map);
            let counted = (|| -> std::io::Result<(u64, u64)> {
                use std::os::fd::AsFd;
                let fd = sys::obj_get(&path)?;
                let (mut sockets, mut named) = (0, 0);
                let mut k: Option<Vec<u8>> = None;
                while let Some(next) =
                    sys::map_next_key(fd.as_fd(), k.as_deref(), key::SIZE as usize)?
                {
                    let slot = &next[key::SLOT as usize..key::SLOT as usize + 4];
                    if slot.iter().all(|b| *b == 0) {
                        sockets += 1;
                    } else {
                        named += 1;
                    }
                    k = Some(next);
                }
                Ok((sockets, named))
            })();
            let (sockets, named, error) = match counted {
                Ok((s, n)) => (Some(s), Some(n), None),
                Err(e) => (None, None, Some(format!("{}: {e}", path.display()))),
            };
            SockmapStatus {
                cgroup: d.cgroup.clone(),
                map: d.map.clone(),
                sockets,
                named,
                error,
            }
        })
        .collect()
}

/// What `status` checks beyond the hooks.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatusOptions {
    /// Read every set map back and compare it entry by entry with the manifest.
    pub deep: bool,
}

/// Names of every install, sorted, once interrupted work is finished or undone (so
/// debris and interrupted flushes are gone); an install whose records cannot be read
/// is listed, for the command to say why.
pub fn installed_names(store: &Store) -> Result<Vec<String>, InstallError> {
    let mut names = Vec::new();
    for n in store.names()? {
        let readable =
            recover_locked(store, &n, &mut Vec::new()).and_then(|_| Ok(store.manifest(&n)?));
        if !matches!(readable, Ok(None)) {
            names.push(n);
        }
    }
    Ok(names)
}

/// The hooks of `m` with what the kernel runs at each, seen from `scope`.
fn hook_states(store: &Store, m: &Manifest, scope: &Scope) -> Vec<HookStatus> {
    m.programs
        .iter()
        .map(|p| {
            let live = p.attachment(store, &m.name);
            let state = scope.hook_state(store, m, p);
            HookStatus {
                symbol: p.symbol.clone(),
                hook: p.hook,
                attach_to: p.attach_to.clone(),
                attach_mode: p.attach_mode,
                prog_id: p.prog_id,
                tag: p.tag.clone(),
                link: live.pin().map(|p| p.display().to_string()),
                state,
            }
        })
        .collect()
}

/// The status of an install whose records cannot be read: one drift line saying why.
fn unreadable(name: &str, e: &InstallError) -> Status {
    Status {
        name: name.to_string(),
        generation: 0,
        source_file: String::new(),
        source_sha256: String::new(),
        applied_unix: 0,
        netns: None,
        hooks: Vec::new(),
        maps: Vec::new(),
        drift: vec![format!(
            "its records cannot be read: {}",
            crate::error_text::error_chain(e)
        )],
        recovered: None,
        sockets: Vec::new(),
        sockmaps: Vec::new(),
        conntrack: None,
        shared_priorities: Vec::new(),
        residual: None,
        label: None,
        pending: None,
    }
}

/// What `status` found: the installs, and what it removed or finished that left no
/// install behind (debris, a flush or first apply that was interrupted).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatusReport {
    pub installs: Vec<Status>,
    pub cleaned: Vec<Cleaned>,
}

/// An install name whose interrupted work or debris was finished or removed, leaving
/// nothing installed under it.
#[derive(Clone, Debug, Serialize)]
pub struct Cleaned {
    pub name: String,
    pub recovered: String,
}

/// Status of every install, or of one. A name with nothing installed (once its debris
/// is removed) is an error only when nothing was removed either.
pub fn status(
    store: &Store,
    name: Option<&str>,
    opts: StatusOptions,
) -> Result<StatusReport, InstallError> {
    let names = match name {
        Some(n) => vec![n.to_string()],
        None => store.names()?,
    };
    let mut out = StatusReport::default();
    for n in names {
        let mut notices = Vec::new();
        // Listing every install, one whose records this sockc cannot read (written by
        // a newer sockc, or damaged) is listed as such; the others are still read.
        let read =
            recover_locked(store, &n, &mut notices).and_then(|r| Ok((r, store.manifest(&n)?)));
        let (recovered, m) = match read {
            Ok(x) => x,
            Err(e) if name.is_none() => {
                out.installs.push(unreadable(&n, &e));
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(m) = m else {
            match recovered {
                Some(r) => out.cleaned.push(Cleaned {
                    name: n,
                    recovered: r.to_string(),
                }),
                None if name.is_some() => return Err(InstallError::NotInstalled(n)),
                None => {}
            }
            continue;
        };
        out.installs.push(status_of(store, m, recovered, opts));
    }
    Ok(out)
}

/// One committed install as the kernel runs it.
fn status_of(
    store: &Store,
    m: Manifest,
    recovered: Option<Recovery>,
    opts: StatusOptions,
) -> Status {
    let scope = locate(store, &m);
    let hooks = hook_states(store, &m, &scope);
    let mut drift: Vec<String> = scope.problem(&m).into_iter().collect();
    drift.extend(
        hooks
            .iter()
            .filter(|h| h.state.is_drift())
            .map(|h| format!("{}: {}", h.hook.spec().label(&h.attach_to), h.state)),
    );
    let conntrack = scope
        .can_look()
        .then(|| crate::conntrack_anchor::status(&m))
        .flatten();
    drift.extend(conntrack.iter().flat_map(|c| c.drift()));
    let shared_priorities = if scope.can_look() {
        super::nf_neighbours::neighbours(store, &m)
    } else {
        Vec::new()
    };
    let residual = match (&m.residual, scope.can_look()) {
        (Some(r), true) => Some(ResidualStatus {
            format: r.format.clone(),
            tables: r.owned.clone(),
            state: crate::residual::state(r),
        }),
        _ => None,
    };
    if let Some(r) = residual.as_ref().filter(|r| r.state != "present") {
        drift.push(format!(
            "residual (netfilter, beside the programs) {}: `sockc repair` installs it again",
            r.state
        ));
    }
    // Owners are read in the install's namespace (sock_diag answers for the caller's).
    let sockets = super::slot_registry::slots(store, &m, scope.can_look());
    drop(scope);
    let gdir = store.objects_dir(&m.name, &m.objects_dir);
    if !gdir.is_dir() {
        drift.push(format!("objects directory {} missing", gdir.display()));
    }
    drift.extend(sockets.iter().filter_map(|s| socket_drift(&m, s)));
    drift.extend(super::cgroups::drift(store, &m));
    if opts.deep {
        drift.extend(sets::drift(store, &m).lines);
    }
    let pending = store.pending().read(&m.name).unwrap_or_else(|e| {
        drift.push(format!(
            "its pending confirmation: {}",
            crate::error_text::error_chain(&e)
        ));
        None
    });
    Status {
        name: m.name.clone(),
        generation: m.generation,
        source_file: m.source_file.clone(),
        source_sha256: m.source_sha256.clone(),
        applied_unix: m.applied_unix,
        netns: m.netns.clone(),
        hooks,
        maps: m.snapshot.maps.iter().map(|s| s.name.clone()).collect(),
        sockmaps: sockmap_states(store, &m),
        drift,
        recovered: recovered.map(|r| r.to_string()),
        sockets,
        conntrack,
        shared_priorities,
        residual,
        pending,
        label: m.label,
    }
}

/// What the kernel runs that install `m`'s records do not say, found as `apply
/// --dry-run` finds it before it compares: the hooks that do not run their recorded
/// program (seen from the install's own namespace, as `status` sees them), and the
/// set maps whose entries differ (by count and digest; entry by entry only then).
#[derive(Clone, Debug, Default)]
pub struct RecordsDrift {
    /// Why the install's namespace cannot be looked at, if it cannot.
    pub netns: Option<String>,
    /// Each hook that does not run its recorded program: where, and what runs there.
    pub hooks: Vec<(String, LinkState)>,
    /// Each set map whose entries differ from the records.
    pub sets: Vec<String>,
}

impl RecordsDrift {
    pub fn is_empty(&self) -> bool {
        self.netns.is_none() && self.hooks.is_empty() && self.sets.is_empty()
    }
}

/// [`RecordsDrift`] of install `m` (what `diff --installed` checks, since its answer
/// compares with the records).
pub fn records_drift(store: &Store, m: &Manifest) -> RecordsDrift {
    let scope = locate(store, m);
    let hooks = hook_states(store, m, &scope)
        .into_iter()
        .filter(|h| h.state.is_drift())
        .map(|h| (h.hook.spec().label(&h.attach_to), h.state))
        .collect();
    RecordsDrift {
        netns: scope.problem(m),
        hooks,
        sets: sets::drift_quick(store, m),
    }
}

/// A declared socket whose redirects drop: nothing registered, or the map unreadable.
fn socket_drift(m: &Manifest, s: &super::SlotStatus) -> Option<String> {
    let fix = match m.snapshot.sockets.iter().find(|d| d.name == s.socket) {
        Some(d) if d.cgroup.is_some() => format!(
            "start the service in cgroup {} (it registers itself when it listens; if the cgroup was made \
             again since the apply, as a systemd restart does, `sockc repair` attaches the registrar to it \
             and registers the socket), or `sockc register {} --name {}`",
            d.cgroup.as_deref().unwrap_or_default(),
            s.socket,
            m.name
        ),
        _ => format!(
            "start the service, then `sockc register {} --name {}` (or `sockc repair`)",
            s.socket, m.name
        ),
    };
    match &s.state {
        SlotState::Registered { .. } => match (&s.owner, &s.owner_unknown) {
            (Some(o), _) => o.refused.as_ref().map(|why| {
                format!(
                    "socket {} ({}): the socket in its slot ({o}) is not one the declaration \
                     trusts: {why}; redirects to it reach that process: `sockc repair` takes \
                     it out and registers the right one",
                    s.socket, s.declared
                )
            }),
            (None, Some(why)) => Some(format!(
                "socket {} ({}): who owns the socket in its slot cannot be told ({why}), so \
                 whether the declaration trusts it is unknown: `sockc unregister {} --name {}` \
                 takes it out",
                s.socket, s.declared, s.socket, m.name
            )),
            (None, None) => None,
        },
        SlotState::Empty => Some(format!(
            "socket {} ({}): nothing registered; redirects to it drop: {fix}",
            s.socket, s.declared
        )),
        SlotState::Unreadable(e) => Some(format!(
            "socket {} ({}): its slot cannot be read: {e}",
            s.socket, s.declared
        )),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleStats {
    /// The rule's stable id ([`crate::rule_id`]).
    pub id: String,
    pub hook: HookKind,
    pub attach_to: String,
    pub line: usize,
    pub text: String,
    pub packets: u64,
    pub bytes: u64,
}

/// The error of opening (or using) the map pinned at `path`.
pub(crate) fn open_error(path: &Path) -> impl Fn(MapError) -> InstallError + '_ {
    move |source| InstallError::OpenMap {
        path: path.to_path_buf(),
        source,
    }
}

/// Install `name` as it stands once interrupted work is finished or undone: its
/// manifest, where its live generation pins the map `map` (stats, reset, trace), and
/// what recovery did, which the command says as `status` does (a leftover it could
/// not remove above all: these commands go on beside one, and must not hide it).
pub(crate) fn live_map(
    store: &Store,
    name: &str,
    map: &str,
) -> Result<(Manifest, PathBuf, Option<Recovery>), InstallError> {
    let recovered = recover_locked(store, name, &mut Vec::new())?;
    let m = store
        .manifest(name)?
        .ok_or_else(|| InstallError::NotInstalled(name.to_string()))?;
    let path = store
        .objects_dir(name, &m.objects_dir)
        .join(format!("map_{map}"));
    Ok((m, path, recovered))
}

/// The counters of install `name`, per rule (summed over CPUs), in program and rule
/// order, and warnings: what recovery did first, and hooks that do not run the
/// install's programs. Refused when
/// no live hook runs a program that uses the counters map.
pub fn stats(
    store: &Store,
    name: &str,
) -> Result<(Manifest, Vec<RuleStats>, Vec<String>), InstallError> {
    let (m, path, recovered) = live_map(store, name, sockc_compiler::bpf::maps::COUNTERS_MAP)?;
    let dir = store.objects_dir(name, &m.objects_dir);
    let data = MapData::from_pin(&path).map_err(open_error(&path))?;
    let counters_id = data.info().map_err(open_error(&path))?.id();
    let scope = locate(store, &m);
    let hooks = hook_states(store, &m, &scope);
    // What recovery did first, as `status` says it (a leftover it could not remove).
    let mut warnings: Vec<String> = recovered.iter().map(ToString::to_string).collect();
    warnings.extend(scope.problem(&m));
    drop(scope);
    let mut live = false;
    for h in &hooks {
        let label = h.hook.spec().label(&h.attach_to);
        if !h.state.runs() {
            warnings.push(format!(
                "{label}: {} (its rules' counters do not move)",
                h.state
            ));
            continue;
        }
        if h.state.is_drift() {
            warnings.push(format!(
                "{label}: {} (its rules' counters still move)",
                h.state
            ));
        }
        let counts = m
            .snapshot
            .programs
            .iter()
            .any(|p| p.symbol == h.symbol && !p.rules.is_empty());
        if !counts {
            // A program sockc adds that counts nothing (a sockmap dispatcher).
            continue;
        }
        let prog = dir.join(format!("prog_{}", h.symbol));
        let uses = ProgramInfo::from_pin(&prog)
            .ok()
            .and_then(|i| i.map_ids().ok().flatten())
            .is_some_and(|ids| ids.contains(&counters_id));
        if uses {
            live = true;
        } else {
            warnings.push(format!(
                "{label}: its program does not use {}",
                path.display()
            ));
        }
    }
    if !live {
        return Err(InstallError::NotLive {
            what: format!(
                "no hook of `{name}` runs the install's programs, so its counters are not live ({}); see `sockc status`, `sockc repair`",
                warnings.join("; ")
            ),
        });
    }
    let unreadable = |e: std::io::Error| InstallError::NotLive {
        what: format!("{}: {e}", path.display()),
    };
    let counters = Counters::of(data.fd().as_fd()).map_err(unreadable)?;
    let all = counters.read_elements().map_err(unreadable)?;
    let mut out = Vec::new();
    for p in &m.snapshot.programs {
        let ids = crate::rule_id::block_ids(
            p.hook.spec().name,
            &p.attach_to,
            p.rules.iter().map(|r| &*r.text),
        );
        for (r, id) in p.rules.iter().zip(ids) {
            let (packets, bytes) = all.sum(r.counter);
            out.push(RuleStats {
                id,
                hook: p.hook,
                attach_to: p.attach_to.clone(),
                line: r.line,
                text: r.text.to_string(),
                packets,
                bytes,
            });
        }
    }
    Ok((m, out, warnings))
}
