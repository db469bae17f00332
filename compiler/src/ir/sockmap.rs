//! The socket-layer programs of one cgroup, as one unit: a sockmap block on the send
//! side (sk_msg), one on the receive side (sk_skb), and the programs sockc adds around
//! them (the hook table's `companions`): a dispatcher per side, which the socket map
//! runs for every socket and which tail-calls the block's program, and the sock_ops
//! program that puts the cgroup's TCP sockets into the socket map when they connect.
//!
//! Invariant (sema builds the groups): every program of a hook with companions
//! belongs to exactly one group, the one of its cgroup; a group has at least one side;
//! its companions are the union of its sides' companions, once each, in the hook
//! table's `path_order` (dispatchers before sock_ops, so every verdict program is on
//! the map before the first socket goes in).

use std::fmt;

use super::ProgId;
use crate::hooks::HookKind;

/// The slot of a named socket in a group's socket map (the `slot` word of its key):
/// FNV-1a of its name, never 0 (the slot of every socket's own key). A name keeps its
/// slot whatever else the file declares; sema refuses two names of one file with the
/// same slot.
pub(crate) fn named_slot(name: &str) -> u32 {
    let h = name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h.max(1)
}

/// One cgroup's socket map and the programs around it.
#[derive(Clone, Debug)]
pub struct SockmapGroup {
    /// The cgroup v2 directory, as written.
    pub cgroup: String,
    /// Names the group's maps (`socks_<tag>`, ...). It depends on the cgroup path
    /// alone (its last component and a hash of the whole), so a cgroup's maps keep
    /// their names whatever else the file holds.
    pub tag: String,
    /// The `sockmap` (send) block.
    pub send: Option<ProgId>,
    /// The `sockmap receive` block.
    pub receive: Option<ProgId>,
    /// The programs sockc adds, in the order they are attached.
    pub companions: Vec<Companion>,
    /// For each `redirect local` rule of the send block (its index): the counter slot
    /// of the messages it sent through the stack (no local peer, or the socket had
    /// sent through the stack before); its own slot counts the redirected ones.
    pub stack_counters: Vec<(usize, u32)>,
    /// Line of the group's first block (where its companions' counters point).
    pub line: usize,
    /// The named sockets its blocks redirect to, sorted: the runtime puts them into
    /// the group's socket map (`sockc_runtime::install::sockmap_names::register`).
    pub named: Vec<String>,
}

/// A program sockc adds to a group.
#[derive(Clone, Debug)]
pub struct Companion {
    pub hook: HookKind,
    /// Symbol in the object, unique among all programs of the module.
    pub symbol: String,
    /// Counter slots and what each counts (the sock_ops program's insertions).
    pub counters: Vec<(u32, String)>,
}

/// What a map of a group holds.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MapRole {
    /// The SOCKHASH the cgroup's sockets (and named sockets) are in.
    Sockets,
    /// The program array the send side's dispatcher tail-calls.
    SendProgram,
    /// The program array the receive side's dispatcher tail-calls.
    ReceiveProgram,
    /// Per-socket storage: set once a socket has sent through the TCP stack, after
    /// which `redirect local` never redirects its messages (see
    /// `bpf::lower::sockmap`).
    SentThroughStack,
}

impl MapRole {
    pub const ALL: [MapRole; 4] = [
        MapRole::Sockets,
        MapRole::SendProgram,
        MapRole::ReceiveProgram,
        MapRole::SentThroughStack,
    ];

    /// As stored in object metadata and manifests.
    pub fn name(self) -> &'static str {
        match self {
            MapRole::Sockets => "sockets",
            MapRole::SendProgram => "send program",
            MapRole::ReceiveProgram => "receive program",
            MapRole::SentThroughStack => "sent through stack",
        }
    }

    /// The role of a group map of this name (`socks_<tag>`, ...), if it is one.
    pub fn of_map(name: &str) -> Option<MapRole> {
        MapRole::ALL.into_iter().find(|r| {
            name.strip_prefix(r.prefix())
                .is_some_and(|rest| rest.starts_with('_'))
        })
    }

    fn prefix(self) -> &'static str {
        match self {
            MapRole::Sockets => "socks",
            MapRole::SendProgram => "msgv",
            MapRole::ReceiveProgram => "skbv",
            MapRole::SentThroughStack => "sent",
        }
    }
}

impl SockmapGroup {
    /// The counter slot of `redirect local` rule `rule`'s messages that went through
    /// the stack.
    pub fn stack_counter(&self, rule: usize) -> Option<u32> {
        self.stack_counters
            .iter()
            .find(|(r, _)| *r == rule)
            .map(|(_, slot)| *slot)
    }

    /// The name of the group's map of `role` (at most 15 bytes: the kernel's limit).
    pub fn map_name(&self, role: MapRole) -> String {
        format!("{}_{}", role.prefix(), self.tag)
    }

    /// The roles of the maps this group has: the socket map and the per-socket
    /// storage always, a program array per side it has.
    pub(crate) fn roles(&self) -> Vec<MapRole> {
        MapRole::ALL
            .into_iter()
            .filter(|r| match r {
                MapRole::SendProgram => self.send.is_some(),
                MapRole::ReceiveProgram => self.receive.is_some(),
                MapRole::Sockets | MapRole::SentThroughStack => true,
            })
            .collect()
    }

    /// The program array of the side `hook` is (`sockmap` or `sockmap receive`), or of
    /// the side a dispatcher serves.
    pub(crate) fn program_array(&self, hook: HookKind) -> Option<MapRole> {
        match hook {
            HookKind::SockmapSend | HookKind::SkMsgDispatch => Some(MapRole::SendProgram),
            HookKind::SockmapReceive | HookKind::SkSkbDispatch => Some(MapRole::ReceiveProgram),
            _ => None,
        }
    }
}

impl fmt::Display for SockmapGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sockmap group {:?} tag={}", self.cgroup, self.tag)?;
        if let Some(p) = self.send {
            write!(f, " send={p}")?;
        }
        if let Some(p) = self.receive {
            write!(f, " receive={p}")?;
        }
        if !self.named.is_empty() {
            write!(f, " named={}", self.named.join(","))?;
        }
        writeln!(f, " {{")?;
        for (rule, slot) in &self.stack_counters {
            writeln!(f, "  send rule {rule}: through the stack c{slot}")?;
        }
        for c in &self.companions {
            write!(f, "  {} symbol={}", c.hook, c.symbol)?;
            for (slot, what) in &c.counters {
                write!(f, " c{slot}={what:?}")?;
            }
            writeln!(f)?;
        }
        for r in self.roles() {
            writeln!(f, "  map {} ({})", self.map_name(r), r.name())?;
        }
        writeln!(f, "}}")
    }
}
