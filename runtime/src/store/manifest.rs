//! The manifest, what is committed of an install: its generation and where its objects
//! are, its namespace, its programs and how each is attached, the snapshot the plan
//! compares with, the socket slots and the rule text as applied; and the manifest
//! formats this sockc reads and writes.
//!
//! Invariant: a field a later format added has a default, so every earlier format
//! still reads; a format that an older sockc would misread gets a new number, which
//! that sockc refuses.

use std::{path::PathBuf, sync::Arc};

use serde::{Deserialize, Serialize};
use sockc_compiler::hooks::HookKind;

use super::Store;
use crate::{
    attach::{AttachMode, AttachPoint, Attachment, Expected, TcFilter},
    plan::Snapshot,
};

/// Version of the manifest format (2 adds the interface and namespace identities;
/// format 1 manifests are read with those unknown; 3 adds the namespace's cookie, so
/// an older sockc, which would tell namespaces apart by inode alone, refuses to act
/// on it); 4 keeps map contents and the rule text in bulk records (`bulk`), which an
/// older sockc would not read; 5 records the rule text as written, its `file` sets
/// written out from the set maps' contents only when read back
/// ([`Manifest::rule_text`]), which an older sockc would take from the set file; 6
/// keeps the snapshot's programs (rules and disassembly) in a bulk record too, which an
/// older sockc would find empty; 7 records a residual (the netfilter ruleset installed
/// beside the programs), which an older sockc would leave installed when it flushes;
/// 8 may keep a large set's record as a delta over another (`set_delta`), which an
/// older sockc would not read; 9 keeps each program in a binary record of its own
/// (`program_record`), which an older sockc would not find.
pub const MANIFEST_FORMAT: u32 = PROGRAM_RECORDS_FORMAT;

/// The format of a manifest this sockc writes, with a residual or without:
/// [`MANIFEST_FORMAT`]. (Before format 9, an install without a residual was written
/// in format 6, which a sockc that did not know residuals still read, 7 with one, and
/// 8 once a set update wrote a delta; a sockc that reads format 9 reads them all, and
/// one that does not refuses format 9 by name.)
pub fn format_for(_residual: bool) -> u32 {
    MANIFEST_FORMAT
}

/// The first format whose map contents and rule text are in bulk records.
pub(super) const BULK_FORMAT: u32 = 4;

/// The first format whose snapshot's programs are in a bulk record.
pub(super) const PROGRAMS_BULK_FORMAT: u32 = 6;

/// The first format whose snapshot's programs are in a binary record each.
pub(super) const PROGRAM_RECORDS_FORMAT: u32 = 9;

/// The first format whose recorded rule text leaves the `file` sets that have set
/// maps as written (`sockc_compiler::standalone::sets_without_maps_written_out`).
pub const SETS_FROM_MAPS_FORMAT: u32 = 5;

/// A new install instance ([`Manifest::instance`]): 128 random bits in hex.
pub fn new_instance() -> String {
    let mut bytes = [0u8; 16];
    // getrandom(2) blocks only before the kernel's pool is first ready, long before
    // anything runs sockc; a failure leaves the time, which is still unique enough to
    // tell two installs of one name apart.
    // SAFETY: getrandom writes at most the length it is given into the buffer.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        bytes = now.as_nanos().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `sockc status` and the next `sockc apply` need to know about an install.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub generation: u64,
    /// The `g<N>` directory holding the live programs and maps. It lags `generation`
    /// when later applies only changed set contents (maps updated in place).
    pub objects_dir: String,
    pub source_file: String,
    pub source_sha256: String,
    pub applied_unix: u64,
    /// The network namespace the hooks were attached in, if not the caller's.
    pub netns: Option<String>,
    /// That namespace's inode (0: not recorded). The kernel gives a free inode to the
    /// next new namespace at once, so the inode alone does not say which namespace it
    /// was: see `netns_cookie`.
    #[serde(default)]
    pub netns_ino: u64,
    /// That namespace's cookie (`SO_NETNS_COOKIE`, never reused in a boot), which is
    /// what identifies it. 0 in manifests of formats 1 and 2: such an install's
    /// namespace is taken to be the one with its inode only while one of its hooks is
    /// attached there (a live namespace's inode is its own), and the next commit
    /// records the cookie (`install::netns_scope`).
    #[serde(default)]
    pub netns_cookie: u64,
    pub programs: Vec<InstalledProgram>,
    /// Rules (with counter slots), bytecode, map shapes and set contents as applied.
    pub snapshot: Snapshot,
    /// The socket map slot of each declared socket name (sk_lookup); see
    /// `install::slot_registry`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub socket_slots: std::collections::BTreeMap<String, u32>,
    /// The rule text as applied; its `file` sets are written out
    /// (`sockc_compiler::standalone`) before format 5, and from format 5 only those
    /// without a set map (the others come from the map contents, [`Manifest::rule_text`]).
    /// `None` in manifests written before sockc kept it.
    ///
    /// Never serialized with the manifest: the store keeps it in a bulk record (its
    /// `bulk` module), and reads it from the JSON only in manifests of formats 1 to 3.
    /// Shared: a first apply records the very text it compiled
    /// (`ApplyRequest::shared_source`), not a copy of it (6 MB at 100,000 rules).
    #[serde(default, skip_serializing)]
    pub source_text: Option<Arc<String>>,
    /// The name the operator gave the rules (`apply --label`), shown beside the file
    /// they were applied from; `None` when none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Which install this is, across its generations: random, made by its first
    /// apply and kept by every later one, so that a record kept off bpffs (a pending
    /// confirmation, `super::pending`) knows the install it was made for from one
    /// made after a reboot or a flush under the same name. Empty in manifests of
    /// sockc versions before it (the next commit gives them one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
    /// The netfilter ruleset installed beside the programs (`residual` in the rule
    /// file), when the install has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<super::residual::ResidualRecord>,
}

impl Manifest {
    /// The recorded rule text made to compile on its own (what `sockc show` prints and
    /// `diff --installed` compiles): from format 5, its `file` sets are written out from
    /// the recorded contents of their set maps. `None` when no text is recorded.
    pub fn rule_text(&self) -> Option<String> {
        let (text, sets) = self.rule_text_and_sets()?;
        Some(match sets {
            Some(sets) => sets.written_out(text),
            None => text.to_string(),
        })
    }

    /// The recorded rule text as it is and, from format 5, the sets its `file` sets
    /// are written out from ([`Manifest::rule_text`]), for a reader that takes them as
    /// they are (`sema::Options::recorded_sets`): a million elements are not written
    /// out as text to be parsed again. `None` when no text is recorded.
    pub fn rule_text_and_sets(
        &self,
    ) -> Option<(&str, Option<sockc_compiler::standalone::RecordedSets>)> {
        let text = self.source_text.as_deref()?.as_str();
        let sets = (self.format >= SETS_FROM_MAPS_FORMAT).then(|| {
            sockc_compiler::standalone::RecordedSets::from_maps(&self.snapshot.map_contents)
        });
        Some((text, sets))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstalledProgram {
    pub symbol: String,
    pub hook: HookKind,
    pub attach_to: String,
    pub prog_id: u32,
    /// The kernel's program tag (hex), as bpftool shows it.
    pub tag: String,
    /// How it was attached (`None` while it is not: a hook the kernel refused).
    pub attach_mode: Option<AttachMode>,
    /// For `clsact`: the netlink filter that holds the program (there is no link).
    #[serde(default)]
    pub tc_filter: Option<TcFilter>,
    /// The interface's index when the hook was attached (0: not recorded).
    #[serde(default)]
    pub ifindex: u32,
    /// For hooks attached to a map (sockmap): that map, pinned at
    /// [`Store::keep_path`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_map: Option<String>,
}

impl InstalledProgram {
    pub fn attach_point(&self) -> AttachPoint<'_> {
        AttachPoint {
            hook: self.hook,
            attach_to: &self.attach_to,
        }
    }

    /// What holds the program on its hook: the clsact filter, or the link pinned in
    /// the install's directory.
    pub fn attachment(&self, store: &Store, install: &str) -> Attachment {
        match (&self.attach_map, self.tc_filter) {
            (Some(map), _) => Attachment::Map(store.keep_path(install, map)),
            (None, Some(f)) => Attachment::TcFilter(f),
            (None, None) => Attachment::Link(store.link_path(install, &self.symbol)),
        }
    }

    /// Where its attachment is pinned: the map it attaches to, or its link.
    pub fn attach_pin(&self, store: &Store, install: &str) -> PathBuf {
        match &self.attach_map {
            Some(map) => store.keep_path(install, map),
            None => store.link_path(install, &self.symbol),
        }
    }

    pub fn expected(&self) -> Expected {
        Expected {
            prog_id: self.prog_id,
            ifindex: self.ifindex,
        }
    }
}
