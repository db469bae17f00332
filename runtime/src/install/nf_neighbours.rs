//! Who else runs at an install's netfilter hooks, at the very priority of one of its
//! blocks (`status` lists them). Functions at one hook run in priority order; at an
//! equal priority the kernel runs the one registered last first
//! (`nf_hook_entries_grow`, net/netfilter/core.c, puts a new function before the
//! first one whose priority is not lower), and refuses a BPF link at a priority some
//! function already has (`EBUSY`), but not an nft chain. So an nft base chain at a
//! block's hook and priority, in the install's namespace, was registered after
//! sockc's link and runs before it — unless its table is dormant (not registered at
//! all). BPF netfilter links are the kernel's, not a namespace's, and their info does
//! not name the namespace: one at a block's priority is in another namespace while
//! sockc's link is in place here (the kernel would have refused it), and is listed
//! as such.
//!
//! Invariant: only reads; the nft chains are read in the calling thread's namespace,
//! which the caller has entered (the install's); links pinned by any install of the
//! store are sockc's and never listed.

use std::{collections::BTreeSet, os::fd::AsFd};

use aya_obj::generated::{bpf_link_type, NFPROTO_IPV4, NFPROTO_IPV6};
use serde::Serialize;

use crate::{
    nft::ruleset::{self, Chain, Family},
    store::{Manifest, Store},
    sys,
};

/// A function that shares the hook and priority of one of an install's netfilter
/// blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Neighbour {
    /// The block's hook and priority, as the rule file writes them (`netfilter
    /// input priority 10`).
    pub hook: String,
    pub priority: i32,
    /// The IP families both see: `ipv4`, `ipv6`.
    pub families: Vec<&'static str>,
    /// `nft chain` or `bpf link`.
    pub kind: &'static str,
    /// Which one: the chain as nft names it, or the link and its program.
    pub what: String,
    /// Which runs first: `before` (it runs before sockc's block), `dormant` (its
    /// table is dormant: registered when woken, then before sockc's block), or
    /// `other namespace` (a BPF link, see the module docs).
    pub order: &'static str,
}

impl std::fmt::Display for Neighbour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (at, kind, what) = (&self.hook, self.kind, &self.what);
        let families = self.families.join(", ");
        match self.order {
            "before" => write!(
                f,
                "{at} ({families}) also runs {kind} {what}: it runs before sockc's block \
                 (registered after it: at one priority the kernel runs the last registered \
                 first)"
            ),
            "dormant" => write!(
                f,
                "{at} ({families}) also has {kind} {what}, in a dormant table: woken, it \
                 will run before sockc's block (the kernel runs the last registered first)"
            ),
            _ => write!(
                f,
                "{at} ({families}): {kind} {what} is at the same hook and priority in another \
                 network namespace (BPF links do not name theirs, and the kernel refuses a \
                 second BPF hook at one priority of a namespace), unless sockc's link here \
                 was taken off"
            ),
        }
    }
}

/// One netfilter block of an install: its label, hook number and priority.
struct Block {
    label: String,
    hooknum: u32,
    priority: i32,
}

fn blocks(m: &Manifest) -> Vec<Block> {
    m.programs
        .iter()
        .filter_map(|p| {
            Some(Block {
                label: p.hook.spec().label(&p.attach_to),
                hooknum: p.hook.netfilter_hook()? as u32,
                priority: p.attach_to.parse().ok()?,
            })
        })
        .collect()
}

/// The functions at the hooks and priorities of `m`'s netfilter blocks besides
/// sockc's own: nft base chains of the calling thread's namespace, BPF netfilter
/// links no install of `store` pinned. What cannot be read is left out.
pub fn neighbours(store: &Store, m: &Manifest) -> Vec<Neighbour> {
    let blocks = blocks(m);
    if blocks.is_empty() {
        return Vec::new();
    }
    let mut out = nft_chains(&blocks);
    out.extend(bpf_links(store, &blocks));
    out
}

/// The IP families chains of `family` see.
fn families_of(family: Family) -> Vec<&'static str> {
    [(Family::IPV4, "ipv4"), (Family::IPV6, "ipv6")]
        .into_iter()
        .filter(|(ip, _)| family.sees(*ip))
        .map(|(_, name)| name)
        .collect()
}

fn nft_chains(blocks: &[Block]) -> Vec<Neighbour> {
    let Ok(chains) = ruleset::chains(Family::ALL) else {
        return Vec::new();
    };
    let dormant: BTreeSet<(Family, String)> = ruleset::tables(Family::ALL)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.flags & ruleset::NFT_TABLE_F_DORMANT != 0)
        .map(|t| (t.family, t.name))
        .collect();
    let mut out = Vec::new();
    for c in chains {
        let Some(h) = &c.hook else { continue };
        let families = families_of(c.family);
        let Some(b) = blocks
            .iter()
            .find(|b| b.hooknum == h.hooknum && b.priority == h.priority)
        else {
            continue;
        };
        if families.is_empty() {
            continue;
        }
        let asleep = dormant.contains(&(c.family, c.table.clone()));
        out.push(neighbour(b, families, "nft chain", chain_text(&c), asleep));
    }
    out
}

/// A chain as nft names it, without the word `chain` (its kind says it).
fn chain_text(c: &Chain) -> String {
    let t = c.to_string();
    t.strip_prefix("chain ").map(str::to_string).unwrap_or(t)
}

fn neighbour(
    b: &Block,
    families: Vec<&'static str>,
    kind: &'static str,
    what: String,
    asleep: bool,
) -> Neighbour {
    Neighbour {
        hook: b.label.clone(),
        priority: b.priority,
        families,
        kind,
        what,
        order: if asleep { "dormant" } else { "before" },
    }
}

/// The netfilter links at a block's hook and priority that no install of `store`
/// pinned.
fn bpf_links(store: &Store, blocks: &[Block]) -> Vec<Neighbour> {
    let ours = pinned_links(store);
    let mut out = Vec::new();
    let mut id = 0;
    while let Ok(Some(next)) = sys::link_next_id(id) {
        id = next;
        if ours.contains(&id) {
            continue;
        }
        let Ok(info) = sys::link_fd_by_id(id).and_then(|fd| sys::link_info(fd.as_fd())) else {
            continue;
        };
        if info.type_ != bpf_link_type::BPF_LINK_TYPE_NETFILTER as u32 {
            continue;
        }
        // SAFETY: a netfilter link's info fills the netfilter member.
        let nf = unsafe { info.__bindgen_anon_1.netfilter };
        let family = match nf.pf {
            NFPROTO_IPV4 => "ipv4",
            NFPROTO_IPV6 => "ipv6",
            _ => continue,
        };
        let Some(b) = blocks
            .iter()
            .find(|b| b.hooknum == nf.hooknum && b.priority == nf.priority)
        else {
            continue;
        };
        let name = sys::prog_fd_by_id(info.prog_id)
            .and_then(|fd| sys::prog_info(fd.as_fd()))
            .map(|p| format!(" ({})", p.name))
            .unwrap_or_default();
        out.push(Neighbour {
            order: "other namespace",
            ..neighbour(
                b,
                vec![family],
                "bpf link",
                format!("{id} running program {}{name}", info.prog_id),
                false,
            )
        });
    }
    out
}

/// The ids of the links pinned by every install of `store` (`link_*` pins).
fn pinned_links(store: &Store) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    for name in store.names().unwrap_or_default() {
        let Ok(entries) = std::fs::read_dir(store.dir(&name)) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().starts_with("link_") {
                continue;
            }
            // A slot's pin is a map, whose info reads as no netfilter link.
            let info = sys::obj_get(&e.path()).and_then(|fd| sys::link_info(fd.as_fd()));
            if let Ok(info) = info {
                if info.type_ == bpf_link_type::BPF_LINK_TYPE_NETFILTER as u32 {
                    ids.insert(info.id);
                }
            }
        }
    }
    ids
}
