//! The `.sockc` section: what the runtime needs to know about a compiled file that the
//! programs and map definitions do not say — each program's hook and attach point, its
//! rules by counter slot (for `sockc stats` and plans), the entries to insert into
//! maps, and which bytes of `.sockc.tables` fill which map. The driver writes it as
//! JSON; the runtime reads it back with [`read`].
//!
//! Invariant: [`METADATA_FORMAT`] changes whenever a field changes meaning, so a
//! runtime never installs an object whose metadata it would misread.

use serde::{Deserialize, Serialize};

use crate::{
    bpf::maps::{DurableMap, MapContents, TableData},
    hooks::HookKind,
    ir::{self, sockmap::SockmapGroup, Program},
    obj::{self, ObjError},
    syntax::ids::IdSet,
};

/// Version of the `.sockc` metadata format.
pub const METADATA_FORMAT: u32 = 2;

/// Contents of the `.sockc` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: u32,
    pub programs: Vec<ProgramMeta>,
    /// Entries the runtime inserts after creating the maps.
    pub map_contents: Vec<MapContents>,
    /// Slots of the `counters` map.
    pub counters: u32,
    /// Array maps filled from the object's `.sockc.tables` section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableData>,
    /// Maps a new generation takes over from the installed one (sockmap groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub durable_maps: Vec<DurableMap>,
    /// The limits of `reject`'s ICMP answers, when some program's answers pass them
    /// (the object then has `bpf::answers`' maps): the runtime writes their
    /// configuration when it loads the object, from the kernel's sysctls where
    /// [`AnswerLimits::reads_kernel`].
    ///
    /// [`AnswerLimits::reads_kernel`]: crate::syntax::answers::AnswerLimits::reads_kernel
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<crate::syntax::answers::AnswerLimits>,
    /// The declared sockets, in declaration order (index `i` owns slots `2i` and
    /// `2i + 1` of the `socket_drops` map, and slot `i` of a socket map of its own).
    /// Listed only when a program redirects to sockets, that is when the object has
    /// the socket map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sockets: Vec<SocketMeta>,
    /// The cgroups rules' `cgroup` matches name (a path, or `unit:NAME`), by slot of
    /// the `cgroups` map: the runtime writes each one's level and id there when it
    /// loads the object and when it repairs an install (`bpf::cgroup_match`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<String>,
}

impl Metadata {
    /// A copy without the programs' rules, for a loaded object: the loader reads each
    /// program's hook, attach point and places to patch, the maps' contents and the
    /// counters, never the rules (acl1_100000's are 100,000 entries to copy, and to
    /// free after the install). Every other field is copied: the destructuring names
    /// them all, so a field added to either struct is a compile error here.
    pub fn without_rules(&self) -> Metadata {
        let Metadata {
            format,
            programs,
            map_contents,
            counters,
            tables,
            durable_maps,
            answers,
            sockets,
            cgroups,
        } = self;
        Metadata {
            format: *format,
            programs: programs.iter().map(ProgramMeta::without_rules).collect(),
            map_contents: map_contents.clone(),
            counters: *counters,
            tables: tables.clone(),
            durable_maps: durable_maps.clone(),
            answers: *answers,
            sockets: sockets.clone(),
            cgroups: cgroups.clone(),
        }
    }
}

/// A declared socket: what registration looks for, and its key in the socket map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketMeta {
    pub name: String,
    /// `tcp` or `udp`.
    pub proto: String,
    /// The declared address, if any (`127.0.0.1:8080`, `[::1]:53`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<std::net::SocketAddr>,
    /// `cgroup "PATH"`: a listening socket of this cgroup registers itself, and no
    /// socket made outside it is ever registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// `owner ...`, resolved: who may own a socket registered without a cgroup.
    /// Neither this nor `cgroup`: sockets of uid 0 only ([`SocketMeta::accepts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<IdSet>,
}

impl SocketMeta {
    /// The declaration after `NAME =`, as written: `tcp 127.0.0.1:8080 cgroup "..."`.
    pub fn declaration(&self) -> String {
        let mut out = self.proto.clone();
        if let Some(a) = self.addr {
            out.push_str(&format!(" {a}"));
        }
        if let Some(cgroup) = &self.cgroup {
            out.push_str(&format!(" cgroup {cgroup:?}"));
        }
        if let Some(owner) = &self.owner {
            out.push_str(&format!(" owner {owner}"));
        }
        out
    }

    /// Whose sockets may be registered for it: those made in its cgroup (or below),
    /// or else those its owner set names (uid 0 when it names none).
    pub fn accepts(&self) -> Accepts {
        match (&self.cgroup, &self.owner) {
            (Some(cgroup), _) => Accepts::Cgroup(cgroup.clone()),
            (None, Some(owner)) => Accepts::Owner(owner.clone()),
            (None, None) => Accepts::Owner(IdSet::root()),
        }
    }

    /// The entries of the module's sockets, when its programs use the socket map.
    pub fn of(module: &ir::Module) -> Vec<SocketMeta> {
        if !crate::bpf::maps::uses_sockets(module) {
            return Vec::new();
        }
        module
            .sockets
            .values()
            .map(|s| SocketMeta {
                name: s.name.clone(),
                proto: s.proto.name().to_string(),
                addr: s.addr.map(|(ip, port)| std::net::SocketAddr::new(ip, port)),
                cgroup: s.cgroup.clone(),
                owner: s.owner.clone(),
            })
            .collect()
    }
}

/// Whose sockets a declaration lets be registered ([`SocketMeta::accepts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepts {
    /// Sockets created in this cgroup (a normalized cgroup v2 path) or one below it,
    /// whoever owns them.
    Cgroup(String),
    /// Sockets whose owner (user id, or the group of the socket's file) is in the set.
    Owner(IdSet),
}

impl std::fmt::Display for Accepts {
    /// `sockets made in cgroup /sys/fs/cgroup/x (or below it)`, `sockets of uid 0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Accepts::Cgroup(c) => write!(f, "sockets made in cgroup {c} (or one below it)"),
            Accepts::Owner(ids) => write!(f, "sockets of {ids}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramMeta {
    pub symbol: String,
    /// Serialized as written: `xdp`, `tc ingress`, `tc egress`.
    pub hook: HookKind,
    pub attach_to: String,
    /// Shared, not copied, by the plan's snapshot of a compiled file (a copy was
    /// 5.6 MB and about 1,400 page faults on a 100,000-rule re-apply's critical path).
    pub rules: std::sync::Arc<[RuleMeta]>,
    /// The map the program attaches to, for hooks whose target is a map: the
    /// program array a sockmap block's program sits in, the socket map a dispatcher
    /// runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_map: Option<String>,
    /// `(instruction, socket index)`: where the program holds the socket map slot of
    /// a declared socket (the index into [`Metadata::sockets`]); the object has the
    /// index itself there, and an install writes its slot for that socket's name
    /// before loading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub socket_slots: Vec<(usize, u32)>,
    /// `(instruction, half)`: where the program compares with the install's network
    /// namespace cookie (a registrar); the object has 0 there, which matches no
    /// namespace, and an install writes its namespace's cookie before loading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub netns_cookie: Vec<(usize, crate::bpf::buffer::CookieHalf)>,
    /// `(instruction, what)`: kfunc ids and kernel struct offsets the program needs
    /// from the running kernel; the object has placeholders there, and the runtime
    /// writes the kernel's numbers (from its BTF) before loading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_refs: Vec<(usize, crate::bpf::kernel_ref::KernelRef)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMeta {
    pub counter: u32,
    pub line: usize,
    /// The rule as written; `default VERDICT` for the default.
    pub text: std::sync::Arc<str>,
    /// The declared socket a `redirect ... to sock NAME` rule sends to (its binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

impl ProgramMeta {
    /// This entry with no rules ([`Metadata::without_rules`]).
    fn without_rules(&self) -> ProgramMeta {
        let ProgramMeta {
            symbol,
            hook,
            attach_to,
            rules: _,
            attach_map,
            socket_slots,
            netns_cookie,
            kernel_refs,
        } = self;
        ProgramMeta {
            symbol: symbol.clone(),
            hook: *hook,
            attach_to: attach_to.clone(),
            rules: Default::default(),
            attach_map: attach_map.clone(),
            socket_slots: socket_slots.clone(),
            netns_cookie: netns_cookie.clone(),
            kernel_refs: kernel_refs.clone(),
        }
    }

    /// A program's entry: its rules in order, the default last.
    pub fn of(module: &ir::Module, p: &Program) -> ProgramMeta {
        let rules = p.rules.iter().map(|r| RuleMeta {
            counter: r.counter,
            line: r.line,
            text: r.text.clone(),
            socket: match r.action {
                ir::Action::Redirect(Some(s)) | ir::Action::RedirectIngress(s) => {
                    Some(module.sockets[s].name.clone())
                }
                _ => None,
            },
        });
        let default = RuleMeta {
            counter: p.default_counter,
            line: p.default_line,
            text: format!("default {}", ir::verdict_name(p.default)).into(),
            socket: None,
        };
        // One allocation of the exact length, the default's entry included (the
        // iterator knows it): the list is not grown (copied) for it.
        let rules: std::sync::Arc<[RuleMeta]> = rules.chain(std::iter::once(default)).collect();
        ProgramMeta {
            symbol: p.symbol.clone(),
            hook: p.hook,
            attach_to: p.attach_to.clone(),
            rules,
            attach_map: None,
            socket_slots: Vec::new(),
            netns_cookie: Vec::new(),
            kernel_refs: Vec::new(),
        }
    }

    /// A registrar's entry: its counters as rules, on the line of the first
    /// declaration naming its cgroup.
    pub(crate) fn of_registrar(r: &ir::Registrar, code: &crate::bpf::buffer::Code) -> ProgramMeta {
        let rules = r
            .counters
            .iter()
            .zip(crate::sema::register::REGISTRAR_COUNTERS)
            .map(|(&counter, what)| RuleMeta {
                counter,
                line: r.line,
                text: what.into(),
                socket: None,
            })
            .collect();
        ProgramMeta {
            symbol: r.symbol.clone(),
            hook: HookKind::SkLookupRegister,
            attach_to: r.cgroup.clone(),
            rules,
            attach_map: None,
            socket_slots: code.socket_slots.clone(),
            netns_cookie: code.netns_cookie.clone(),
            kernel_refs: code.kernel_refs.clone(),
        }
    }

    /// The entries of a sockmap group's programs, in attach order: its blocks' own
    /// (given, from [`ProgramMeta::of`]) get the program array they sit in; then its
    /// companions, each with its counters as rules.
    pub(crate) fn of_group(g: &SockmapGroup, blocks: &mut [ProgramMeta]) -> Vec<ProgramMeta> {
        for p in blocks.iter_mut().filter(|p| p.attach_to == g.cgroup) {
            p.attach_map = g.program_array(p.hook).map(|r| g.map_name(r));
            if p.hook != HookKind::SockmapSend || g.stack_counters.is_empty() {
                continue;
            }
            // Each `redirect local` rule's messages through the stack, on the line
            // after the rule's own (the redirected ones): the shared list made again,
            // only where there are some.
            let mut rules = p.rules.to_vec();
            for &(rule, slot) in g.stack_counters.iter().rev() {
                let r = rules[rule].clone();
                rules.insert(
                    rule + 1,
                    RuleMeta {
                        counter: slot,
                        line: r.line,
                        text: format!("{} (through the stack)", r.text).into(),
                        socket: None,
                    },
                );
            }
            p.rules = rules.into();
        }
        g.companions
            .iter()
            .map(|c| ProgramMeta {
                symbol: c.symbol.clone(),
                hook: c.hook,
                attach_to: g.cgroup.clone(),
                rules: c
                    .counters
                    .iter()
                    .map(|(slot, what)| RuleMeta {
                        counter: *slot,
                        line: g.line,
                        text: what.as_str().into(),
                        socket: None,
                    })
                    .collect(),
                attach_map: match c.hook.spec().target {
                    crate::hooks::Target::SockMap => {
                        Some(g.map_name(ir::sockmap::MapRole::Sockets))
                    }
                    _ => None,
                },
                socket_slots: Vec::new(),
                netns_cookie: Vec::new(),
                kernel_refs: Vec::new(),
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("not an object sockc can read")]
    Object(#[from] ObjError),
    #[error("no .sockc section")]
    Missing,
    #[error("bad .sockc metadata")]
    Json(#[from] serde_json::Error),
    #[error(".sockc metadata format {found} (this sockc reads {METADATA_FORMAT})")]
    Format { found: u32 },
}

/// Reads the metadata back from an object the driver wrote.
pub fn read(elf: &[u8]) -> Result<Metadata, MetadataError> {
    let bytes = obj::read_metadata(elf)?.ok_or(MetadataError::Missing)?;
    let meta: Metadata = serde_json::from_slice(&bytes)?;
    if meta.format != METADATA_FORMAT {
        return Err(MetadataError::Format { found: meta.format });
    }
    Ok(meta)
}
