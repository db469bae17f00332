//! A compiled object put into the kernel, unattached: [`LoadedObject::load`] checks
//! the capabilities, creates the object's maps (`create.rs`), loads every program
//! through the verifier (`programs.rs`, by [`raw_load`](crate::raw_load)) and fills
//! the maps (`fill.rs`), in that order, so a program never runs against half-filled
//! maps. The loaded object can then be pinned and attached by an install, run on
//! inputs (`test_run.rs`), and read: its counters, `limit` buckets and socket drops
//! (`counters.rs`).
//!
//! Invariants: on any error nothing stays loaded (every descriptor is dropped with the
//! value), and the error says what the kernel meant ([`RuntimeError`]): missing
//! capabilities are found before the first `bpf(2)` call, a program over the kernel's
//! instruction limit before any map is made. This module sits below the attach
//! backends: it knows programs and maps by descriptor, never a hook's attachment.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    time::Duration,
};

use aya::maps::{Map, MapData};
use sockc_compiler::{
    hooks::HookKind,
    metadata::{self, Metadata},
};

use crate::{kernel_error, stages, table_update};

mod counters;
mod create;
mod error;
mod fill;
mod patch;
mod programs;
mod test_run;

pub use error::{MapFault, RuntimeError};
pub use test_run::RunResult;

/// A program that passed the verifier.
#[derive(Clone, Debug)]
pub struct LoadedProgram {
    pub symbol: String,
    pub hook: HookKind,
    /// Instructions after the verifier's rewrites (`xlated_prog_len / 8`).
    pub xlated_insns: Option<u32>,
    /// Instructions the verifier walked.
    pub verified_insns: Option<u32>,
    /// Wall time of `BPF_PROG_LOAD` (verification and JIT).
    pub load_time: Duration,
    /// The kernel's id of the program.
    pub prog_id: u32,
    /// The program's tag (a hash of its instructions after map relocation).
    pub tag: u64,
}

pub struct LoadedObject {
    /// The object's maps, in name order.
    maps: Vec<(String, Map)>,
    meta: Metadata,
    programs: Vec<LoadedProgram>,
    /// Each program's descriptor, in the order of `programs`.
    fds: Vec<OwnedFd>,
}

/// Choices about how an object is loaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions<'a> {
    /// Use (or create and pin) the socket map pinned here instead of a fresh one: an
    /// install's programs all share its socket map, so registered sockets survive
    /// re-applies.
    pub socket_map: Option<&'a std::path::Path>,
    /// The socket map slot of each declared socket (in metadata order), written into
    /// the programs before they load; `None`: slot `i` for socket `i`, as compiled.
    pub socket_slots: Option<&'a [u32]>,
    /// The cookie of the install's network namespace, written into the programs that
    /// compare with it (registrars) before they load; `None`: 0 as compiled, which no
    /// namespace has.
    pub netns_cookie: Option<u64>,
    /// Maps taken over instead of created: (map, the path it is pinned at). A new
    /// generation takes a sockmap group's maps from the installed one (see
    /// `sockc_compiler::bpf::maps::DurableMap`), with their contents.
    pub reuse: &'a [(String, std::path::PathBuf)],
    /// The install the programs are loaded for: their kernel names say it and their
    /// hook ([`raw_load::kernel_name`]); `None`: each keeps its symbol.
    pub install: Option<&'a str>,
    /// The classifier tables of an object written without them
    /// (`Compiled::to_loadable_elf`: `Compiled::tables`); `None`: read from the
    /// object's `.sockc.tables` section.
    pub tables: Option<&'a [u8]>,
    /// Every cgroup a `cgroup` match names must be there (an install's load: a
    /// missing one fails it). Otherwise (`sockc test`, `check`, the tests, which may
    /// run a file on a host without its services) its slot stays empty: a cgroup
    /// nothing is in.
    pub require_cgroups: bool,
}

impl LoadedObject {
    pub fn load(elf: &[u8]) -> Result<Self, RuntimeError> {
        Self::load_with(elf, &LoadOptions::default())
    }

    pub fn load_with(elf: &[u8], opts: &LoadOptions<'_>) -> Result<Self, RuntimeError> {
        Self::load_described(elf, metadata::read(elf)?, opts)
    }

    /// [`LoadedObject::load_with`] of an object whose metadata the caller holds (the
    /// `Compiled` the ELF was written from): it is not parsed back out of the ELF,
    /// which is megabytes of JSON with many rules. Its programs' rules may be left out
    /// ([`Metadata::without_rules`]): nothing a loaded object does reads them.
    pub fn load_described(
        elf: &[u8],
        meta: Metadata,
        opts: &LoadOptions<'_>,
    ) -> Result<Self, RuntimeError> {
        debug_assert!(
            sockc_compiler::obj::read_section(elf, sockc_compiler::obj::METADATA_SECTION)
                .is_ok_and(|s| s.is_some_and(|s| s.is_empty()))
                || metadata::read(elf).is_ok_and(|m| m.without_rules() == meta.without_rules()),
            "the metadata given is the ELF's (or the ELF has none)"
        );
        check_capabilities(&meta)?;
        let patched;
        // Copied and patched only when some program has a place to patch (most have
        // none: the copy would be the whole object, megabytes with many rules).
        let elf = if patch::needs_patch(&meta, opts) {
            patched = patch::with_patches(elf, &meta, opts)?;
            &patched[..]
        } else {
            elf
        };
        programs::check_sizes(elf, &meta)?;
        let made = stages::stage("create maps");
        let maps = create::create_maps(elf, opts, !meta.sockets.is_empty())?;
        drop(made);
        let (programs, fds) = load_beside_tables(&maps, &meta, elf, opts)?;
        let obj = LoadedObject {
            maps,
            meta,
            programs,
            fds,
        };
        let _t = stages::stage("fill the other maps");
        fill::fill_maps(&obj.maps, &obj.meta)?;
        fill::fill_answers(&obj.maps, &obj.meta)?;
        fill::fill_cgroups(&obj.maps, &obj.meta, !opts.require_cgroups)?;
        Ok(obj)
    }

    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    pub fn programs(&self) -> &[LoadedProgram] {
        &self.programs
    }

    /// A map of the object by name.
    fn map(&self, name: &str) -> Option<&Map> {
        map_in(&self.maps, name)
    }

    /// A map of the object by name, to write.
    pub fn map_mut(&mut self, name: &str) -> Option<&mut Map> {
        self.maps
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
    }

    /// The object's maps, in name order.
    pub fn maps(&self) -> impl Iterator<Item = (&str, &Map)> {
        self.maps.iter().map(|(n, m)| (n.as_str(), m))
    }

    /// A map of the object by name.
    pub fn map_data(&self, name: &str) -> Option<&MapData> {
        self.map(name).and_then(map_data)
    }

    /// A map's descriptor by name.
    pub fn map_fd(&self, name: &str) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.map_data(name).map(|m| m.fd().as_fd())
    }

    /// The descriptor of the loaded program with this symbol.
    pub fn program(&self, symbol: &str) -> Result<BorrowedFd<'_>, RuntimeError> {
        self.programs
            .iter()
            .position(|p| p.symbol == symbol)
            .map(|i| self.fds[i].as_fd())
            .ok_or_else(|| RuntimeError::MissingProgram {
                symbol: symbol.into(),
            })
    }

    /// Runs a program `repeat` times on one input (a frame for packet hooks; see
    /// [`test_run`]).
    pub fn test_run(
        &self,
        symbol: &str,
        input: &[u8],
        repeat: u32,
    ) -> Result<RunResult, RuntimeError> {
        let hook = self.hook_of(symbol)?;
        test_run::run(hook, self.program(symbol)?, input, repeat).map_err(|source| {
            RuntimeError::TestRun {
                symbol: symbol.into(),
                source,
            }
        })
    }

    /// Runs an XDP or TC program once on a frame and returns the frame as the program
    /// left it (a `reject`'s answer, when it sent one).
    pub fn test_run_frame(
        &self,
        symbol: &str,
        frame: &[u8],
    ) -> Result<(RunResult, Vec<u8>), RuntimeError> {
        let hook = self.hook_of(symbol)?;
        test_run::run_frame(hook, self.program(symbol)?, frame).map_err(|source| {
            RuntimeError::TestRun {
                symbol: symbol.into(),
                source,
            }
        })
    }

    /// The hook of the program with this symbol.
    fn hook_of(&self, symbol: &str) -> Result<HookKind, RuntimeError> {
        self.meta
            .programs
            .iter()
            .find(|p| p.symbol == symbol)
            .map(|p| p.hook)
            .ok_or_else(|| RuntimeError::MissingProgram {
                symbol: symbol.into(),
            })
    }
}

/// A loaded object's classifier tables are switched by name like an install's.
impl table_update::ObjectMaps for LoadedObject {
    fn map_fd(&self, name: &str) -> Option<BorrowedFd<'_>> {
        LoadedObject::map_fd(self, name)
    }
}

/// Refuses to start when this process lacks a capability the load needs (the kernel
/// would say only EPERM, at the first map).
fn check_capabilities(meta: &Metadata) -> Result<(), RuntimeError> {
    let reads_kernel_structs = meta.programs.iter().any(|p| {
        p.kernel_refs
            .iter()
            .any(|(_, r)| matches!(r, sockc_compiler::bpf::kernel_ref::KernelRef::Field { .. }))
    });
    if let Some(caps) = kernel_error::Capabilities::current() {
        let missing = caps.missing_for_load(reads_kernel_structs);
        if !missing.is_empty() {
            return Err(RuntimeError::MissingCapabilities { missing });
        }
    }
    Ok(())
}

/// Loads every program of the object through the verifier while another thread fills
/// the classifier tables: the verifier needs the maps, not their contents (no program
/// runs before it is attached, after the load returns).
fn load_beside_tables(
    maps: &[(String, Map)],
    meta: &Metadata,
    elf: &[u8],
    opts: &LoadOptions<'_>,
) -> Result<(Vec<LoadedProgram>, Vec<OwnedFd>), RuntimeError> {
    if meta.tables.is_empty() {
        return programs::load_programs(maps, meta, elf, opts.install);
    }
    std::thread::scope(|s| {
        let filled = s.spawn(|| {
            let _t = stages::stage("fill classifier tables (another thread)");
            fill::fill_tables(maps, meta, elf, opts.tables)
        });
        let loaded = programs::load_programs(maps, meta, elf, opts.install);
        let filled = filled.join().expect("filling tables does not panic");
        // The verifier's verdict first: it is about the user's rules.
        loaded.and_then(|l| filled.map(|()| l))
    })
}

fn map_in<'m>(maps: &'m [(String, Map)], name: &str) -> Option<&'m Map> {
    maps.iter().find(|(n, _)| n == name).map(|(_, m)| m)
}

/// The descriptor of map `name` of `maps`.
fn map_fd_in<'m>(maps: &'m [(String, Map)], name: &str) -> Option<BorrowedFd<'m>> {
    map_in(maps, name)
        .and_then(map_data)
        .map(|m| m.fd().as_fd())
}

/// The kernel object behind a map of a kind sockc makes.
pub(crate) fn map_data(m: &Map) -> Option<&MapData> {
    match m {
        Map::LpmTrie(d)
        | Map::HashMap(d)
        | Map::LruHashMap(d)
        | Map::Array(d)
        | Map::PerCpuArray(d)
        | Map::SockHash(d)
        | Map::SockMap(d)
        | Map::ProgramArray(d)
        | Map::SkStorage(d)
        | Map::RingBuf(d) => Some(d),
        _ => None,
    }
}
