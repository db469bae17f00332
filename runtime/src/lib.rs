//! sockc-runtime: puts sockc objects into the kernel (aya for maps' typed access and
//! most attach types; its own `bpf(2)` calls for loading).
//!
//! [`LoadedObject::load`] creates the maps (from the object's map definitions, read
//! with aya-obj; aya's loader is not used, see [`raw_load`]), loads every program
//! through the verifier ([`raw_load`]), and inserts the map contents the compiler
//! recorded in the object's `.sockc` section, in that order, so a program never runs
//! against half-filled maps. It can
//! then run programs on packets (`BPF_PROG_TEST_RUN`) and read the rule counters.
//! Invariant: on any error nothing stays loaded (all fds are dropped with the value),
//! and the error says what the kernel meant ([`kernel_error`]): missing capabilities
//! are found before the first `bpf(2)` call.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    time::{Duration, Instant},
};

use aya::{
    maps::{Map, MapData, PerCpuArray},
    programs::ProgramError,
};
use sockc_compiler::{
    bpf::maps::{SOCKETS_MAP, SOCKET_DROPS_MAP},
    hooks::HookKind,
    metadata::{self, Metadata, MetadataError},
    obj::ObjError,
};

mod ahead;
pub mod attach;
pub mod cgroup;
pub mod conntrack_anchor;
pub mod counter_map;
pub mod discovery;
mod fault;
pub mod install;
pub mod kernel_btf;
pub mod kernel_error;
mod map_window;
pub(crate) mod map_write;
pub mod netlink;
pub mod netns;
pub mod plan;
pub mod raw_load;
pub mod rule_id;
pub mod slot_map;
pub mod stages;
pub mod store;
pub mod sys;
pub mod table;
pub mod table_update;
pub mod trace;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("not a sockc object")]
    NotSockc(#[from] MetadataError),
    #[error("the object's tables")]
    Tables(#[source] ObjError),
    #[error("the object's program symbols")]
    Symbols(#[source] ObjError),
    #[error("map `{map}`: contents lie outside .sockc.tables")]
    TablesOutside { map: String },
    #[error("fill the classifier tables")]
    TableFill(#[from] table_update::TableUpdateError),
    #[error("cannot read the object's maps")]
    Object(#[source] aya_obj::ParseError),
    #[error("cannot create map `{map}`{}", kernel_said(.source, kernel_error::Op::Map))]
    MapCreate {
        map: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "loading programs into the kernel needs CAP_BPF and CAP_NET_ADMIN (or \
         CAP_SYS_ADMIN); this process lacks {}: run as root",
        .missing.join(" and ")
    )]
    MissingCapabilities { missing: Vec<&'static str> },
    #[error("program `{symbol}` is not in the object")]
    MissingProgram { symbol: String },
    #[error("program `{symbol}`")]
    RawLoad {
        symbol: String,
        #[source]
        source: raw_load::RawLoadError,
    },
    #[error(
        "program `{symbol}` has {insns} instructions; the kernel loads at most {} \
         (BPF_COMPLEXITY_LIMIT_INSNS): compile at -O2 (the default), where runs of rules \
         become decision trees, or put fewer rules in this hook block",
        kernel_error::MAX_PROG_INSNS
    )]
    TooLarge { symbol: String, insns: usize },
    /// The full log is [`RuntimeError::verifier_log`]; the message shows the
    /// verifier's reason and the end of the log.
    #[error("{}", verifier_text(.symbol, .io_error, .log))]
    Verifier {
        symbol: String,
        io_error: std::io::Error,
        log: String,
    },
    #[error(
        "running `{symbol}` in the kernel (BPF_PROG_TEST_RUN) failed{}",
        kernel_said(.source, kernel_error::Op::TestRun)
    )]
    TestRun {
        symbol: String,
        #[source]
        source: ProgramError,
    },
    #[error("program `{symbol}`: {source}")]
    Program {
        symbol: String,
        #[source]
        source: ProgramError,
    },
    #[error("map `{map}`")]
    Map {
        map: String,
        #[source]
        source: MapFault,
    },
    #[error(transparent)]
    SlotMap(#[from] slot_map::SlotMapError),
    #[error("program `{symbol}`: no slot for socket {socket}")]
    SocketSlot { symbol: String, socket: u32 },
    #[error("program `{symbol}`: instruction {insn} to patch is outside the program")]
    PatchOutside { symbol: String, insn: usize },
    #[error("program `{symbol}` needs {what} from the running kernel: {source}")]
    KernelRef {
        symbol: String,
        what: String,
        #[source]
        source: kernel_btf::BtfError,
    },
}

impl RuntimeError {
    /// The whole verifier log of a program the verifier refused.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            RuntimeError::Verifier { log, .. } => Some(log),
            _ => None,
        }
    }
}

/// The verifier's reason first, then what the errno means, then the end of the log.
fn verifier_text(symbol: &str, io_error: &std::io::Error, log: &str) -> String {
    let reason = kernel_error::verifier_reason(log).unwrap_or("(the log gives no reason)");
    let (skipped, tail) = kernel_error::log_tail(log);
    let mut out = format!(
        "the verifier rejected `{symbol}`: {reason}\n  kernel: {}",
        kernel_error::explain_errno(kernel_error::Op::Load, io_error)
    );
    if let Some(hint) = kernel_error::verifier_hint(reason) {
        out.push_str("\n  ");
        out.push_str(hint);
    }
    if !tail.is_empty() {
        out.push_str("\n  end of the verifier log:");
        for l in tail {
            out.push_str("\n    ");
            out.push_str(l);
        }
    }
    if skipped > 0 {
        out.push_str(&format!(
            "\n  ({skipped} earlier lines of the log not shown: `sockc check --verify \
             --verifier-log FILE` writes all of it)"
        ));
    }
    out
}

/// `: ` and what the errno under `e` means for `op`, when there is one.
fn kernel_said(e: &(dyn std::error::Error + 'static), op: kernel_error::Op) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.raw_os_error().is_some() {
                return format!(": {}", kernel_error::explain_errno(op, io));
            }
        }
        cause = c.source();
    }
    String::new()
}

/// What went wrong with one map.
#[derive(Debug, thiserror::Error)]
pub enum MapFault {
    #[error("not in the object")]
    Missing,
    #[error("unexpected map type")]
    UnexpectedType,
    #[error("bad {what} {text}")]
    BadHex { what: &'static str, text: String },
    #[error("insert {key}")]
    Insert {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("fill")]
    Fill(#[source] std::io::Error),
    #[error("read")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Aya(#[from] aya::maps::MapError),
    #[error("pin")]
    Pin(#[source] Box<aya::pin::PinError>),
}

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

/// Result of one `BPF_PROG_TEST_RUN`.
#[derive(Clone, Copy, Debug)]
pub struct RunResult {
    pub retval: u32,
    /// Kernel-measured time per run.
    pub duration: Duration,
    /// The cookie of the socket an sk_lookup program selected (`bpf_sk_assign`), if
    /// any; `None` for other hooks.
    pub selected: Option<u64>,
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
    /// which is megabytes of JSON with many rules.
    pub fn load_described(
        elf: &[u8],
        meta: Metadata,
        opts: &LoadOptions<'_>,
    ) -> Result<Self, RuntimeError> {
        debug_assert!(
            sockc_compiler::obj::read_section(elf, sockc_compiler::obj::METADATA_SECTION)
                .is_ok_and(|s| s.is_some_and(|s| s.is_empty()))
                || metadata::read(elf).is_ok_and(|m| m == meta),
            "the metadata given is the ELF's (or the ELF has none)"
        );
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
        let patched;
        // Copied and patched only when some program has a place to patch (most have
        // none: the copy would be the whole object, megabytes with many rules).
        let needs_patch = meta.programs.iter().any(|p| {
            (opts.socket_slots.is_some() && !p.socket_slots.is_empty())
                || (opts.netns_cookie.is_some() && !p.netns_cookie.is_empty())
                || !p.kernel_refs.is_empty()
        });
        let elf = if needs_patch {
            patched = with_patches(elf, &meta, opts)?;
            &patched[..]
        } else {
            elf
        };
        // Refused before any map is made: the kernel would say only E2BIG.
        let sizes = sockc_compiler::obj::program_sizes(elf).map_err(RuntimeError::Symbols)?;
        for p in &meta.programs {
            if let Some((_, insns)) = sizes.iter().find(|(s, _)| *s == p.symbol) {
                if *insns > kernel_error::MAX_PROG_INSNS {
                    return Err(RuntimeError::TooLarge {
                        symbol: p.symbol.clone(),
                        insns: *insns,
                    });
                }
            }
        }
        let made = stages::stage("create maps");
        let maps = create_maps(elf, opts, !meta.sockets.is_empty())?;
        drop(made);
        // The verifier needs the maps, not their contents: the tables are filled
        // beside it (no program runs before it is attached, after this returns).
        let (programs, fds) = if meta.tables.is_empty() {
            load_programs(&maps, &meta, elf, opts.install)?
        } else {
            std::thread::scope(|s| {
                let filled = s.spawn(|| {
                    let _t = stages::stage("fill classifier tables (another thread)");
                    fill_tables(&maps, &meta, elf, opts.tables)
                });
                let loaded = load_programs(&maps, &meta, elf, opts.install);
                let filled = filled.join().expect("filling tables does not panic");
                // The verifier's verdict first: it is about the user's rules.
                loaded.and_then(|l| filled.map(|()| l))
            })?
        };
        let mut obj = LoadedObject {
            maps,
            meta,
            programs,
            fds,
        };
        let _t = stages::stage("fill the other maps");
        obj.fill_maps()?;
        Ok(obj)
    }

    /// Writes each map's initial entries, in batches where the map kind has them.
    fn fill_maps(&mut self) -> Result<(), RuntimeError> {
        for mc in &self.meta.map_contents {
            let err = |source: MapFault| RuntimeError::Map {
                map: mc.map.clone(),
                source,
            };
            let map = self.map(&mc.map).ok_or_else(|| err(MapFault::Missing))?;
            let data = map_data(map).ok_or_else(|| err(MapFault::UnexpectedType))?;
            let info = data.info().map_err(|e| err(MapFault::Aya(e)))?;
            let (key_len, value_len) = (info.key_size() as usize, info.value_size() as usize);
            let fault = |f: map_write::WriteFault| err(fill_fault(f, &mc.entries));
            map_write::check_sizes(&mc.entries, key_len, value_len).map_err(fault)?;
            map_write::update(data.fd().as_fd(), &mc.entries, "fill map").map_err(fault)?;
        }
        Ok(())
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
    /// [`Backend::test_run`](attach::Backend::test_run)).
    pub fn test_run(
        &self,
        symbol: &str,
        input: &[u8],
        repeat: u32,
    ) -> Result<RunResult, RuntimeError> {
        let hook = self.hook_of(symbol)?;
        let backend = attach::backend(hook);
        backend
            .test_run(self.program(symbol)?, input, repeat)
            .map_err(|source| RuntimeError::TestRun {
                symbol: symbol.into(),
                source,
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

    /// Packets and bytes of every counter slot, summed over CPUs: one batch lookup
    /// for the whole map (one lookup per element where the kernel has no batch
    /// lookup).
    pub fn counters(&self) -> Result<Vec<(u64, u64)>, RuntimeError> {
        self.counter_map()?
            .read_all(self.meta.counters)
            .map_err(|e| counters_error(MapFault::Read(e)))
    }

    /// Packets and bytes of one counter slot, summed over CPUs (one syscall, for
    /// callers that know which slot should have moved).
    pub fn counter(&self, slot: u32) -> Result<(u64, u64), RuntimeError> {
        self.counter_map()?
            .read(slot)
            .map_err(|e| counters_error(MapFault::Read(e)))
    }

    /// Fills every `limit` bucket again (`sockc test` runs each packet against full
    /// buckets, which is what its evaluator assumes): the rules' buckets are zeroed
    /// (TAT 0) and the sources' buckets removed. Nothing to do without limits.
    pub fn refill_limits(&self) -> Result<(), RuntimeError> {
        use sockc_compiler::bpf::limit::{LIMITS_MAP, SOURCES_MAP};
        let fault = |map: &str, source| RuntimeError::Map {
            map: map.into(),
            source,
        };
        if let Some(fd) = self.map_fd(LIMITS_MAP) {
            for slot in 0..self.meta.counters {
                sys::map_update(fd, &slot.to_ne_bytes(), &[0; 8], 0)
                    .map_err(|e| fault(LIMITS_MAP, MapFault::Fill(e)))?;
            }
        }
        let Some(fd) = self.map_fd(SOURCES_MAP) else {
            return Ok(());
        };
        while let Some(key) =
            sys::map_next_key(fd, None, 24).map_err(|e| fault(SOURCES_MAP, MapFault::Read(e)))?
        {
            sys::map_delete(fd, &key).map_err(|e| fault(SOURCES_MAP, MapFault::Fill(e)))?;
        }
        Ok(())
    }

    /// Empties every `limit` bucket (a test's stand-in for "a flood just drained
    /// it"): each rule's bucket and the buckets of the `sources` given (keys of
    /// `limit_sources`, `{slot u32, family u32, address [16]}`) get a theoretical
    /// arrival time 2^62 ns ahead, past any bucket's depth, so no packet fits.
    pub fn empty_limits(&self, sources: &[[u8; 24]]) -> Result<(), RuntimeError> {
        use sockc_compiler::bpf::limit::{LIMITS_MAP, SOURCES_MAP};
        let fault = |map: &str, e| RuntimeError::Map {
            map: map.into(),
            source: MapFault::Fill(e),
        };
        let far = (1u64 << 62).to_ne_bytes();
        if let Some(fd) = self.map_fd(LIMITS_MAP) {
            for slot in 0..self.meta.counters {
                sys::map_update(fd, &slot.to_ne_bytes(), &far, 0)
                    .map_err(|e| fault(LIMITS_MAP, e))?;
            }
        }
        if let Some(fd) = self.map_fd(SOURCES_MAP) {
            for key in sources {
                sys::map_update(fd, key, &far, 0).map_err(|e| fault(SOURCES_MAP, e))?;
            }
        }
        Ok(())
    }

    fn counter_map(&self) -> Result<counter_map::Counters<'_>, RuntimeError> {
        let fd = self
            .map_fd(sockc_compiler::bpf::maps::COUNTERS_MAP)
            .ok_or_else(|| counters_error(MapFault::Missing))?;
        counter_map::Counters::of(fd).map_err(|e| counters_error(MapFault::Read(e)))
    }

    /// The object's socket map (the install's, when loaded with one), if its programs
    /// redirect to sockets.
    pub fn socket_map(&self) -> Option<slot_map::SlotMap> {
        let data = match self.map(SOCKETS_MAP)? {
            Map::SockHash(d) | Map::SockMap(d) => d,
            _ => return None,
        };
        let fd = data.fd().as_fd().try_clone_to_owned().ok()?;
        Some(slot_map::SlotMap::from_fd(fd))
    }

    /// Redirects that dropped, per declared socket (in metadata order): (no socket
    /// registered, refused by the kernel), summed over CPUs. Empty when no program
    /// redirects to sockets.
    pub fn socket_drops(&self) -> Result<Vec<(u64, u64)>, RuntimeError> {
        if self.meta.sockets.is_empty() {
            return Ok(Vec::new());
        }
        let err = |source: MapFault| RuntimeError::Map {
            map: SOCKET_DROPS_MAP.into(),
            source,
        };
        let map = self
            .map(SOCKET_DROPS_MAP)
            .ok_or_else(|| err(MapFault::Missing))?;
        let arr: PerCpuArray<&MapData, [u64; 2]> =
            PerCpuArray::try_from(map).map_err(|e| err(e.into()))?;
        let slot = |i: u32| -> Result<u64, RuntimeError> {
            let per_cpu = arr.get(&i, 0).map_err(|e| err(e.into()))?;
            Ok(per_cpu.iter().map(|v| v[0]).sum())
        };
        (0..self.meta.sockets.len() as u32)
            .map(|i| Ok((slot(2 * i)?, slot(2 * i + 1)?)))
            .collect()
    }
}

/// Loads every program of the object through the verifier ([`raw_load`]), in
/// metadata order; the programs and their descriptors, in that order.
fn load_programs(
    maps: &[(String, Map)],
    meta: &Metadata,
    elf: &[u8],
    install: Option<&str>,
) -> Result<(Vec<LoadedProgram>, Vec<OwnedFd>), RuntimeError> {
    meta.programs
        .iter()
        .map(|p| load_program(maps, p, elf, install))
        .collect::<Result<Vec<_>, _>>()
        .map(|loaded| loaded.into_iter().unzip())
}

/// Program `p` of `elf` through the verifier, with the descriptors of `maps`.
fn load_program(
    maps: &[(String, Map)],
    p: &metadata::ProgramMeta,
    elf: &[u8],
    install: Option<&str>,
) -> Result<(LoadedProgram, OwnedFd), RuntimeError> {
    let start = Instant::now();
    let image = sockc_compiler::obj::raw_program(elf, &p.symbol)
        .map_err(RuntimeError::Symbols)?
        .ok_or_else(|| RuntimeError::MissingProgram {
            symbol: p.symbol.clone(),
        })?;
    let name = install.map_or_else(|| p.symbol.clone(), |i| raw_load::kernel_name(p.hook, i));
    let fd =
        raw_load::load(p.hook.spec(), &name, image, |m| map_fd_in(maps, m)).map_err(
            |e| match e {
                raw_load::RawLoadError::Load { io_error, log } => RuntimeError::Verifier {
                    symbol: p.symbol.clone(),
                    io_error,
                    log,
                },
                source => RuntimeError::RawLoad {
                    symbol: p.symbol.clone(),
                    source,
                },
            },
        )?;
    let load_time = start.elapsed();
    stages::ended(format!("verify and load {}", p.symbol), start);
    let info = sys::prog_info(fd.as_fd()).map_err(|e| RuntimeError::Program {
        symbol: p.symbol.clone(),
        source: ProgramError::SyscallError(aya::sys::SyscallError {
            call: "bpf_prog_get_info_by_fd",
            io_error: e,
        }),
    })?;
    let program = LoadedProgram {
        symbol: p.symbol.clone(),
        hook: p.hook,
        xlated_insns: (info.xlated_insns != 0).then_some(info.xlated_insns),
        verified_insns: (info.verified_insns != 0).then_some(info.verified_insns),
        load_time,
        prog_id: info.id,
        tag: info.tag,
    };
    Ok((program, fd))
}

/// Copies classifier tables (`given`, or the object's tables section) into both halves
/// of their array maps (of `maps`) through a shared mapping of each map (the maps are
/// `BPF_F_MMAPABLE`): no syscall per element.
fn fill_tables(
    maps: &[(String, Map)],
    meta: &Metadata,
    elf: &[u8],
    given: Option<&[u8]>,
) -> Result<(), RuntimeError> {
    if meta.tables.is_empty() {
        return Ok(());
    }
    let blob = match given {
        Some(tables) => tables,
        None => sockc_compiler::obj::section_bytes(elf, sockc_compiler::obj::TABLES_SECTION)
            .map_err(RuntimeError::Tables)?
            .unwrap_or_default(),
    };
    for t in &meta.tables {
        let err = |source: MapFault| RuntimeError::Map {
            map: t.map.clone(),
            source,
        };
        let bytes = table_update::stored_bytes(blob, t)
            .ok_or_else(|| RuntimeError::TablesOutside { map: t.map.clone() })?;
        let map = map_in(maps, &t.map).ok_or_else(|| err(MapFault::Missing))?;
        let data = map_data(map).ok_or_else(|| err(MapFault::UnexpectedType))?;
        table_update::fill_both_halves(data.fd().as_fd(), t, bytes)?;
    }
    Ok(())
}

/// Creates (or opens, where `opts` reuses a pinned one) every map of the object, in
/// name order.
fn create_maps(
    elf: &[u8],
    opts: &LoadOptions<'_>,
    redirects_to_sockets: bool,
) -> Result<Vec<(String, Map)>, RuntimeError> {
    if let (Some(path), true) = (opts.socket_map, redirects_to_sockets) {
        // Created here with the shape checked, so that it is only opened below.
        slot_map::SlotMap::open_or_create(path)?;
    }
    let object = aya_obj::Object::parse(elf).map_err(RuntimeError::Object)?;
    let btf = object_btf_if_needed(elf, &object)?;
    let btf = btf.as_ref().map(|b| b.as_fd());
    let pin_of = |name: &str| {
        opts.reuse
            .iter()
            .find(|(m, _)| *m == name)
            .map(|(_, p)| p.as_path())
            .or(opts
                .socket_map
                .filter(|_| redirects_to_sockets && name == SOCKETS_MAP))
    };
    let mut maps = object
        .maps
        .into_iter()
        .map(|(name, def)| {
            let pin = pin_of(&name);
            create_one(name, def, pin, btf)
        })
        .collect::<Result<Vec<_>, _>>()?;
    maps.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(maps)
}

/// Map `name` of the object: opened from `pin` if one is there, else created from
/// `def` (and pinned at `pin` when given).
fn create_one(
    name: String,
    def: aya_obj::Map,
    pin: Option<&std::path::Path>,
    btf: Option<BorrowedFd<'_>>,
) -> Result<(String, Map), RuntimeError> {
    let fault = |source: MapFault| RuntimeError::Map {
        map: name.clone(),
        source,
    };
    let data = match pin {
        Some(path) if path.exists() => {
            MapData::from_pin(path).map_err(|e| fault(MapFault::Aya(e)))?
        }
        _ => {
            let described = match (btf, &def) {
                (Some(btf), aya_obj::Map::Btf(m)) if needs_btf(def.map_type()) => {
                    Some(sys::MapBtf {
                        btf,
                        key_type_id: m.def.btf_key_type_id,
                        value_type_id: m.def.btf_value_type_id,
                    })
                }
                _ => None,
            };
            let fd = sys::create_map_described(
                def.map_type(),
                &name,
                def.key_size(),
                def.value_size(),
                def.max_entries(),
                def.map_flags(),
                described,
            )
            .map_err(|source| RuntimeError::MapCreate {
                map: name.clone(),
                source,
            })?;
            let data = MapData::from_fd(fd).map_err(|e| fault(MapFault::Aya(e)))?;
            if let Some(path) = pin {
                data.pin(path)
                    .map_err(|e| fault(MapFault::Pin(Box::new(e))))?;
            }
            data
        }
    };
    let map = Map::from_map_data(data).map_err(|e| fault(MapFault::Aya(e)))?;
    Ok((name, map))
}

/// Whether the kernel creates maps of `map_type` only with BTF for key and value
/// (socket storage: the kernel checks the value's layout).
fn needs_btf(map_type: u32) -> bool {
    map_type == aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_SK_STORAGE as u32
}

/// The object's own BTF (`.BTF`: only its maps' types, a few hundred bytes) loaded
/// into the kernel when a map needs it; otherwise nothing is loaded.
fn object_btf_if_needed(
    elf: &[u8],
    object: &aya_obj::Object,
) -> Result<Option<OwnedFd>, RuntimeError> {
    if !object.maps.values().any(|m| needs_btf(m.map_type())) {
        return Ok(None);
    }
    let bytes = sockc_compiler::obj::read_section(elf, ".BTF")
        .map_err(RuntimeError::Tables)?
        .unwrap_or_default();
    sys::btf_load(&bytes)
        .map(Some)
        .map_err(|source| RuntimeError::MapCreate {
            map: ".BTF".into(),
            source,
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

/// A copy of `elf` whose programs hold `slots[i]` wherever they hold socket `i`'s
/// slot ([`sockc_compiler::metadata::ProgramMeta::socket_slots`]) and the namespace
/// cookie's halves where they compare with it
/// ([`sockc_compiler::metadata::ProgramMeta::netns_cookie`]).
fn with_patches(
    elf: &[u8],
    meta: &Metadata,
    opts: &LoadOptions<'_>,
) -> Result<Vec<u8>, RuntimeError> {
    let offsets = sockc_compiler::obj::program_offsets(elf).map_err(RuntimeError::Tables)?;
    let mut out = elf.to_vec();
    for p in &meta.programs {
        let slots = opts.socket_slots.filter(|_| !p.socket_slots.is_empty());
        let cookie = opts.netns_cookie.filter(|_| !p.netns_cookie.is_empty());
        if slots.is_none() && cookie.is_none() && p.kernel_refs.is_empty() {
            continue;
        }
        let start = offsets
            .iter()
            .find(|(s, _)| *s == p.symbol)
            .map(|(_, at)| *at)
            .ok_or_else(|| RuntimeError::MissingProgram {
                symbol: p.symbol.clone(),
            })?;
        // The immediate is the last 4 bytes of the 8-byte instruction.
        let imm_at = |insn: usize| start + insn * 8 + 4;
        if let Some(cookie) = cookie {
            for &(insn, half) in &p.netns_cookie {
                let at = imm_at(insn);
                let imm = out.get_mut(at..at + 4).ok_or(RuntimeError::PatchOutside {
                    symbol: p.symbol.clone(),
                    insn,
                })?;
                imm.copy_from_slice(&half.of(cookie).to_le_bytes());
            }
        }
        patch_kernel_refs(&mut out, start, p)?;
        let Some(slots) = slots else { continue };
        for &(insn, socket) in &p.socket_slots {
            let slot = slots.get(socket as usize).ok_or(RuntimeError::SocketSlot {
                symbol: p.symbol.clone(),
                socket,
            })?;
            let at = imm_at(insn);
            let imm = out.get_mut(at..at + 4).ok_or(RuntimeError::SocketSlot {
                symbol: p.symbol.clone(),
                socket,
            })?;
            imm.copy_from_slice(&slot.to_le_bytes());
        }
    }
    Ok(out)
}

/// Writes the running kernel's numbers into the program at `start` of `out`: kfunc
/// ids into call immediates, struct member offsets into load offsets
/// ([`sockc_compiler::metadata::ProgramMeta::kernel_refs`]).
fn patch_kernel_refs(
    out: &mut [u8],
    start: usize,
    p: &sockc_compiler::metadata::ProgramMeta,
) -> Result<(), RuntimeError> {
    use sockc_compiler::bpf::kernel_ref::KernelRef;
    if p.kernel_refs.is_empty() {
        return Ok(());
    }
    let err = |what: &KernelRef, source| RuntimeError::KernelRef {
        symbol: p.symbol.clone(),
        what: what.to_string(),
        source,
    };
    let btf = kernel_btf::KernelBtf::running().map_err(|e| err(&p.kernel_refs[0].1, e))?;
    for (insn, what) in &p.kernel_refs {
        let value = btf.resolve(what).map_err(|e| err(what, e))?;
        // An instruction is code, registers, a 16-bit offset, a 32-bit immediate.
        let (at, bytes) = match what {
            KernelRef::Kfunc { .. } => (start + insn * 8 + 4, value.to_le_bytes().to_vec()),
            KernelRef::Field { .. } => {
                // The compiler's offset is a position inside the member (0 for the
                // member itself).
                let at = start + insn * 8 + 2;
                let within = out
                    .get(at..at + 2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .ok_or(RuntimeError::PatchOutside {
                        symbol: p.symbol.clone(),
                        insn: *insn,
                    })?;
                let off = i16::try_from(value)
                    .ok()
                    .and_then(|v| v.checked_add(within))
                    .ok_or_else(|| {
                        err(
                            what,
                            kernel_btf::BtfError::Missing(format!("{what} below 32 KiB")),
                        )
                    })?;
                (at, off.to_le_bytes().to_vec())
            }
        };
        out.get_mut(at..at + bytes.len())
            .ok_or(RuntimeError::PatchOutside {
                symbol: p.symbol.clone(),
                insn: *insn,
            })?
            .copy_from_slice(&bytes);
    }
    Ok(())
}

/// An error with its causes, `: `-separated (aya puts the errno in the source); a
/// cause whose text the message already shows (transparent wrappers) is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn counters_error(source: MapFault) -> RuntimeError {
    RuntimeError::Map {
        map: "counters".into(),
        source,
    }
}

fn map_data(m: &Map) -> Option<&MapData> {
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

/// `BPF_MAP_UPDATE_ELEM` with raw key and value bytes, checked against the map's
/// key and value sizes first.
/// What a failed fill says: the entry's text, as the metadata has it.
fn fill_fault(f: map_write::WriteFault, entries: &sockc_compiler::bpf::maps::Entries) -> MapFault {
    use map_write::WriteFault;
    let key = |i: usize| {
        if i < entries.len() {
            sockc_compiler::bpf::maps::hex(entries.key(i))
        } else {
            String::new()
        }
    };
    match f {
        // Packed entries are bytes already: no text to be wrong.
        WriteFault::BadHex { index, .. } => MapFault::Insert {
            key: key(index),
            source: std::io::Error::other("not hex"),
        },
        WriteFault::Size { index, got, want } => MapFault::Insert {
            key: key(index),
            source: std::io::Error::other(format!(
                "entry is {}+{} bytes, map wants {}+{}",
                got.0, got.1, want.0, want.1
            )),
        },
        WriteFault::Kernel { index, source } => MapFault::Insert {
            key: key(index),
            source,
        },
    }
}
