//! Installs: a compiled rule set put into the kernel so that it outlives the CLI,
//! replaced, repaired and removed, as a small state machine whose every step is
//! journaled before it happens, so that no failure — `kill -9` included — leaves state
//! that `sockc status` cannot see or a hook that enforces nothing while the manifest
//! says it does.
//!
//! The state machine of one install (the journal is [`crate::store::journal::Journal`]):
//!
//! ```text
//! committed M ──apply──▶ journal {Apply M', Building}   pin generation N+1's objects
//!                        journal {Apply M', Attaching}  attach the hooks M' adds
//!                        journal {Apply M', Swapping}   swap (or re-attach) the hooks M'
//!                                                       keeps, detach the ones it drops
//!                        commit M', clear the journal, remove generation N
//!             ──set update──▶ journal {SetUpdate M', changes}: add, then remove entries;
//!                        commit M', clear
//!             ──flush──▶ journal {Flush}: detach every hook, remove the pins, the
//!                        manifest, the journal, the directory (only ever forward)
//! ```
//!
//! Every command first looks for a journal ([`recover`]): an interrupted `Building` or
//! `Attaching` is rolled back (nothing installed had changed; hooks the new generation
//! added come off again, its objects and the socket slots only it filled are removed),
//! an interrupted `Swapping`, set update or flush is rolled forward; a directory with
//! neither manifest nor journal (a first apply killed before its journal, a flush
//! after its manifest) is removed whole; the command says which. Until the journal is
//! cleared, every hook runs the old program or the new one (attach before swap, swap
//! in one kernel operation, detach last), so no moment has neither.
//!
//! `apply` reconciles against what the kernel runs, not the manifest alone
//! ([`reconcile`]): a hook whose link is gone, whose interface was deleted and
//! created again, whose clsact filter was removed or replaced by another tool's, is
//! attached again — with the new generation's program, or, when nothing else changed,
//! with the installed generation's pinned one ([`repair`]) — and "no changes" is only
//! said when every hook runs what the manifest says.

mod cgroups;
mod counters;
mod error_code;
mod flush;
mod leftovers;
mod netns_scope;
mod nf_neighbours;
mod ready_hooks;
mod reconcile;
mod recover;
mod register;
mod repair;
mod sets;
mod shown;
mod slot_owner;
mod slot_registry;
pub mod sockmap_names;
mod status;
pub mod stray_filters;
mod take_off;
mod update;

use std::path::PathBuf;

use aya::{maps::MapError, pin::PinError, programs::ProgramError};
use sockc_compiler::{hooks::HookKind, obj::ObjError};

pub use counters::{answers_refused, reset_counters};
pub use flush::{flush, Flushed};
pub use leftovers::{stayed_note, Leftover};
pub use nf_neighbours::Neighbour;
pub use recover::{recover, Recovery};
pub use register::{register, unregister, Registered, Source};
pub use repair::{repair, Repaired};
pub use shown::{check_programs, ProgramCheck};
pub use slot_owner::SlotOwner;
pub use slot_registry::{slots, How, Registration, SlotState, SlotStatus};
pub use status::{
    installed_names, records_drift, stats, status, Cleaned, HookStatus, RecordsDrift, RuleStats,
    Status, StatusOptions, StatusReport,
};
pub(crate) use status::{live_map, open_error};
pub use update::{apply, start_ahead, ApplyReport, ApplyRequest, StartedAhead};

use crate::{attach::AttachError, loaded::RuntimeError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{hook}: {first} and {second} are the same cgroup; name it one way only")]
    SameCgroup {
        hook: HookKind,
        first: String,
        second: String,
    },
    #[error("{}", missing_target(*.hook, .iface, .netns))]
    MissingInterface {
        hook: HookKind,
        iface: String,
        netns: Option<String>,
    },
    #[error("{at}")]
    Attach {
        /// The hook and its attach point, as `xdp on eth0`.
        at: String,
        #[source]
        source: AttachError,
    },
    #[error("{at} is already installed by `{other}` (generation {generation}): apply with --name {other} to replace it, or `sockc flush --name {other}` first")]
    HeldByInstall {
        at: String,
        other: String,
        generation: u64,
    },
    #[error("the file has no hook blocks and no residual: applying it would detach every hook of `{name}`; `sockc flush --name {name}` removes an install, --allow-empty applies an empty rule set anyway")]
    Empty { name: String },
    #[error("write the object")]
    Object(#[source] ObjError),
    /// The residual (the netfilter ruleset installed beside the programs) could not be
    /// installed, switched or removed.
    #[error("the residual (netfilter, beside the programs)")]
    Residual(#[source] std::io::Error),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network namespace {}", path.display())]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The command would act in a network namespace that is not the install's: see
    /// `netns_scope`.
    #[error("{what}")]
    NotItsNetns { what: String },
    #[error("{}", path.display())]
    Pin {
        path: PathBuf,
        #[source]
        source: PinError,
    },
    #[error("{map}: unexpected map type")]
    MapType { map: String },
    #[error("{}", path.display())]
    OpenMap {
        path: PathBuf,
        #[source]
        source: MapError,
    },
    #[error("{}", path.display())]
    OpenProgram {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{map}: {what}")]
    SetUpdate {
        map: String,
        /// `insert` or `remove`.
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{symbol}")]
    ProgramInfo {
        symbol: String,
        #[source]
        source: ProgramError,
    },
    #[error("{}", what)]
    NotLive { what: String },
    #[error("nothing is installed under the name `{0}`")]
    NotInstalled(String),
    /// Leftovers of an interrupted command that recovery could not remove, and the
    /// command cannot go on beside (`recover::refuse_changes`).
    #[error(
        "install `{name}` holds what an interrupted command left, and sockc cannot remove \
         it: {}. {}Nothing {}was changed{}. Remove it by hand ({}), then run the command \
         again, which removes the rest; {}",
        leftovers::list(stuck),
        before.as_ref().map(|b| format!("Recovery first {b}. ")).unwrap_or_default(),
        if before.is_some() { "else " } else { "" },
        removed_note(removed),
        leftovers::how_to_remove(stuck),
        leftovers::what_status_shows(stuck)
    )]
    Leftovers {
        name: String,
        removed: Vec<String>,
        stuck: Vec<leftovers::Leftover>,
        /// What recovery finished or undid before its collection met them (an
        /// interrupted apply rolled back), in its words.
        before: Option<String>,
    },
    /// A directory with generations or links but neither manifest nor journal: not
    /// what an interrupted sockc leaves (see `recover`).
    #[error(
        "install `{name}` has neither a manifest nor a journal, yet holds {}: no interrupted \
         sockc leaves that (was its manifest removed?), and which hooks run its programs \
         is not known without it. `sockc flush --name {name}` removes its pins, which \
         takes its links off; {}",
        held.join(", "),
        unrecorded_note(name, programs)
    )]
    Unrecorded {
        name: String,
        held: Vec<String>,
        /// The ids of the programs pinned in its generations.
        programs: Vec<u32>,
    },
    /// The manifest or the journal (`what`) cannot be read as one (torn JSON, a length
    /// past its chunks, another map in its place): which hooks the install holds, or
    /// what its work in flight attached, is not known.
    #[error(
        "{source}: the install's {what} is damaged, and which hooks run its programs \
         is not known without it. `sockc flush --name {name}` removes its pins{}, which \
         takes its links off; {}",
        held_note(held),
        unrecorded_note(name, programs)
    )]
    UnreadableRecord {
        name: String,
        what: &'static str,
        source: Box<StoreError>,
        held: Vec<String>,
        programs: Vec<u32>,
    },
    #[error("install `{install}` declares no socket `{socket}`{}", declared_note(.declared))]
    UnknownSocket {
        install: String,
        socket: String,
        declared: Vec<String>,
    },
    #[error("socket `{socket}` ({wanted})")]
    Socket {
        socket: String,
        wanted: String,
        #[source]
        source: Box<crate::discovery::SocketError>,
    },
    #[error(transparent)]
    SlotMap(#[from] crate::slot_map::SlotMapError),
    #[error("switch the classifier tables in place")]
    Tables(#[source] crate::table_update::TableUpdateError),
    #[error("the install's network namespace cookie")]
    NetnsCookie(#[source] Box<crate::discovery::SocketError>),
    #[error("socket `{socket}`: nothing is bound to {wanted} here; start the service first, or name its process with --pid")]
    NothingBound { socket: String, wanted: String },
}

/// What is missing: an interface, or a cgroup v2 directory.
fn missing_target(hook: HookKind, target: &str, netns: &Option<String>) -> String {
    use sockc_compiler::hooks::Target;
    match hook.spec().target {
        Target::Interface | Target::Netns => {
            format!("{hook} on {target}: no such interface{}", netns_note(netns))
        }
        // A netfilter hook always exists (`AttachPoint::exists`).
        Target::Netfilter => hook.spec().label(target),
        Target::Cgroup | Target::SockMap | Target::TailCall => {
            match sockc_compiler::hooks::unit::of_attach(target) {
                Some(unit) => format!(
                    "{}: {} is not a cgroup v2 directory: systemd makes it when {unit} starts \
                     (start the unit first; a unit in another slice than system.slice is named by \
                     its cgroup's path)",
                    hook.spec().label(target),
                    crate::cgroup::dir_of(target).display()
                ),
                None => format!(
                    "{}: {target} is not a cgroup v2 directory (create it, or name the service's own cgroup, e.g. {})",
                    hook.spec().label(target),
                    crate::cgroup::example_path("system.slice/NAME.service")
                ),
            }
        }
    }
}

/// The leftovers a refused command removed before it found one it could not.
fn removed_note(removed: &[String]) -> String {
    if removed.is_empty() {
        String::new()
    } else {
        format!(" (it removed the others: {})", removed.join(", "))
    }
}

fn held_note(held: &[String]) -> String {
    if held.is_empty() {
        String::new()
    } else {
        format!(" ({})", held.join(", "))
    }
}

/// What a flush of an install whose records are lost does about its hooks, said
/// before it runs.
pub(crate) fn unrecorded_note(name: &str, programs: &[u32]) -> String {
    format!(
        "it also deletes the clsact filters running its programs{} in every network \
         namespace it can reach (its own, the named ones, those of processes). {}",
        program_ids(programs),
        anchor_note(name)
    )
}

/// The conntrack anchor of install `name`, which a flush without its records leaves.
pub(crate) fn anchor_note(name: &str) -> String {
    format!(
        "The nft table inet {} stays wherever it is (`nft delete table inet ...` in its \
         network namespace)",
        crate::conntrack_anchor::table_name(name)
    )
}

/// What a flush's search for clsact filters running `programs` found and deleted.
pub(crate) fn swept_note(programs: &[u32], deleted: &[stray_filters::Removed]) -> String {
    let found = if deleted.is_empty() {
        format!(
            "no clsact filter ran its programs{} in a network namespace sockc can reach",
            program_ids(programs)
        )
    } else {
        let each: Vec<String> = deleted.iter().map(ToString::to_string).collect();
        format!(
            "deleted the clsact filters running its programs: {}",
            each.join(", ")
        )
    };
    format!(
        "{found}; one in a namespace sockc cannot reach (not named under /run/netns, no \
         process in it) would stay (`tc filter show dev DEV ingress` lists filters with \
         their program ids)"
    )
}

/// ` (program id N)` or ` (program ids N, M)`; nothing for none.
fn program_ids(programs: &[u32]) -> String {
    let ids: Vec<String> = programs.iter().map(u32::to_string).collect();
    match ids.len() {
        0 => String::new(),
        1 => format!(" (program id {})", ids[0]),
        _ => format!(" (program ids {})", ids.join(", ")),
    }
}

fn declared_note(declared: &[String]) -> String {
    if declared.is_empty() {
        " (it declares no sockets)".into()
    } else {
        format!(" (it declares {})", declared.join(", "))
    }
}

fn netns_note(netns: &Option<String>) -> String {
    netns
        .as_ref()
        .map(|n| format!(" in network namespace {n}"))
        .unwrap_or_default()
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
