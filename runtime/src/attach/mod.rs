//! Attach backends: how a loaded program gets onto its hook, is swapped for another
//! atomically, comes off, and is read back. One backend per attach type, each in its
//! own file behind [`Backend`] (aya's one file per program type is the model);
//! [`backend`] picks it by the program's [`HookKind`], an exhaustive `match`, so a hook
//! without a backend cannot be installed by mistake.
//!
//! The trait speaks of an [`AttachPoint`] (the hook's row of the table and the block's
//! attach text: an interface, a cgroup path, or nothing for the network namespace) and
//! an [`Attachment`] (what holds the program there, as the manifest records it).
//! Invariants: an attachment outlives the process that made it (a link pinned on
//! bpffs, or a kernel object that holds the program by itself, like a clsact filter);
//! [`Backend::replace`] swaps in one kernel operation, so a packet runs the old
//! program or the new one, never none; [`Backend::live_state`] reads the kernel, never
//! the manifest.
//!
//! How the next attach types fit the trait without changing it:
//! * sk_lookup (`BPF_SK_LOOKUP` on a network namespace): [`Target::Netns`]; `attach`
//!   opens the namespace sockc runs in (the CLI has entered `--netns` already) and
//!   creates a netns link, pinned like XDP's ([`Attachment::Link`]); `replace`,
//!   `detach` and `live_state` are the shared link operations of [`link`] (the live
//!   state may also compare the link's netns inode); `test_run` reads `input` as a
//!   `struct bpf_sk_lookup` context instead of a frame ([`TestInput::Context`]).
//! * sock_ops on a cgroup: [`Target::Cgroup`]; `attach` opens the cgroup directory
//!   named by the attach text and creates a cgroup link: [`Attachment::Link`] again.
//! * sk_msg / sk_skb verdict programs: [`Target::SockMap`]; they attach to a socket
//!   map with `BPF_PROG_ATTACH` (no link): a further [`Attachment`] variant naming the
//!   map's pin, `replace` is a second attach (the kernel swaps the map's verdict
//!   program in one step), `detach` is `BPF_PROG_DETACH`.
//!
//! [`Target::Netns`]: sockc_compiler::hooks::Target::Netns
//! [`Target::Cgroup`]: sockc_compiler::hooks::Target::Cgroup
//! [`Target::SockMap`]: sockc_compiler::hooks::Target::SockMap
//! [`TestInput::Context`]: sockc_compiler::hooks::TestInput::Context

use std::{
    fmt,
    path::{Path, PathBuf},
};

use aya::{
    pin::PinError,
    programs::{links::LinkError, Program, ProgramError},
};
use serde::{Deserialize, Serialize};
use sockc_compiler::hooks::{HookKind, HookSpec, Target};

use crate::RunResult;

pub mod link;
pub mod tc;
pub mod xdp;

/// The backend that attaches programs of `hook`; `None` for hooks sockc cannot
/// install yet (sema refuses their blocks, so no object has them).
pub fn backend(hook: HookKind) -> Option<&'static dyn Backend> {
    match hook {
        HookKind::Xdp => Some(&xdp::Xdp),
        HookKind::TcIngress | HookKind::TcEgress => Some(&tc::Tc),
        HookKind::SkLookup | HookKind::Sockmap => None,
    }
}

/// One attach type's way of putting programs on hooks. See the module docs.
pub trait Backend: Sync {
    /// Loads the program through the verifier (aya loads each program type through
    /// its own type).
    fn load(&self, prog: &mut Program) -> Result<(), ProgramError>;

    /// Attaches the loaded `prog` at `at` so that it stays after sockc exits: a link
    /// pinned at `link_pin`, or another kernel object that holds it by itself.
    fn attach(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError>;

    /// Swaps the program behind `live` for `prog`, atomically.
    fn replace(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError>;

    /// Takes `live` off its hook now. Best effort: an attachment that is already gone
    /// is not an error.
    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment);

    /// What the kernel runs at `live`, against the program id the manifest expects.
    fn live_state(&self, at: &AttachPoint<'_>, live: &Attachment, expected_prog: u32) -> LinkState;

    /// Runs `prog` `repeat` times on `input` (`BPF_PROG_TEST_RUN`), which is what the
    /// hook's [`TestInput`](sockc_compiler::hooks::TestInput) says.
    fn test_run(
        &self,
        prog: &Program,
        input: &[u8],
        repeat: u32,
    ) -> Result<RunResult, ProgramError>;
}

/// Where a program goes: its hook and the block's attach text.
#[derive(Clone, Copy, Debug)]
pub struct AttachPoint<'a> {
    pub hook: HookKind,
    /// The interface (XDP, TC) or cgroup path; empty for hooks on the namespace.
    pub attach_to: &'a str,
}

impl AttachPoint<'_> {
    pub fn spec(&self) -> &'static HookSpec {
        self.hook.spec()
    }

    /// Whether the attach target exists here (in the namespace sockc runs in).
    pub fn exists(&self) -> bool {
        match self.spec().target {
            Target::Interface => if_index(self.attach_to).is_some(),
            Target::Cgroup => Path::new(self.attach_to).is_dir(),
            Target::Netns | Target::SockMap => true,
        }
    }
}

impl fmt::Display for AttachPoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec().label(self.attach_to))
    }
}

/// The index of a network interface in the namespace sockc runs in.
pub fn if_index(iface: &str) -> Option<u32> {
    let c = std::ffi::CString::new(iface).ok()?;
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Choices the user makes about attaching.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttachOptions {
    pub tc: TcAttach,
}

/// How TC programs are attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcAttach {
    /// TCX links, or the clsact qdisc where the kernel has no TCX (before 6.6).
    #[default]
    Auto,
    Tcx,
    Clsact,
}

/// How a program was attached, as `sockc status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachMode {
    #[serde(rename = "xdp driver")]
    XdpDriver,
    #[serde(rename = "xdp generic")]
    XdpGeneric,
    #[serde(rename = "tcx")]
    Tcx,
    #[serde(rename = "clsact")]
    Clsact,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachMode::XdpDriver => "xdp driver",
            AttachMode::XdpGeneric => "xdp generic",
            AttachMode::Tcx => "tcx",
            AttachMode::Clsact => "clsact",
        })
    }
}

/// A TC filter attached through netlink on the clsact qdisc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcFilter {
    pub priority: u16,
    pub handle: u32,
}

/// What [`Backend::attach`] made.
#[derive(Clone, Debug)]
pub struct Attached {
    pub mode: AttachMode,
    pub attachment: Attachment,
}

/// What holds a program on its hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// A bpf_link pinned at this path.
    Link(PathBuf),
    /// A clsact filter: the filter holds the program; there is no link.
    TcFilter(TcFilter),
}

/// What the kernel runs at an attachment, compared with the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// The link is there and runs the expected program.
    Attached,
    /// The link's pin is gone.
    Missing,
    /// The link runs another program.
    RunsOther { prog_id: u32 },
    /// The link is pinned but its information cannot be read.
    Unreadable(String),
    /// A clsact filter: netlink filters are not read back.
    FilterNotChecked(TcFilter),
}

impl LinkState {
    /// True when the kernel does not run what the manifest says.
    pub fn is_drift(&self) -> bool {
        match self {
            LinkState::Missing | LinkState::RunsOther { .. } | LinkState::Unreadable(_) => true,
            LinkState::Attached | LinkState::FilterNotChecked(_) => false,
        }
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkState::Attached => f.write_str("attached"),
            LinkState::Missing => f.write_str("link missing"),
            LinkState::RunsOther { prog_id } => write!(f, "link runs program {prog_id}"),
            LinkState::Unreadable(e) => write!(f, "link unreadable: {e}"),
            LinkState::FilterNotChecked(t) => write!(
                f,
                "clsact filter prio {} handle {:x}:{:x} (not checked)",
                t.priority,
                t.handle >> 16,
                t.handle & 0xffff
            ),
        }
    }
}

impl Serialize for LinkState {
    /// As `sockc status` prints it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("TCX attach (needs Linux 6.6 or later)")]
    NoTcx(#[source] ProgramError),
    #[error("clsact attach")]
    Clsact(#[source] ProgramError),
    #[error("the kernel attached XDP through netlink, which cannot be pinned")]
    NotPinnable(#[source] LinkError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("pin {}", path.display())]
    Pin {
        path: PathBuf,
        #[source]
        source: PinError,
    },
    #[error("open {}", path.display())]
    OpenLink {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("link update")]
    Update(#[source] std::io::Error),
    #[error("{hook} cannot hold a {what} attachment")]
    WrongAttachment { hook: HookKind, what: &'static str },
}
