//! Attach backends: how a loaded program gets onto its hook, is swapped for another
//! atomically, comes off, and is read back. One backend per attach type behind
//! [`Backend`] (aya's one file per program type is the model); [`backend`] picks it by
//! the program's [`HookKind`], an exhaustive `match`, so a hook without a backend does
//! not compile.
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
//! Three kinds of attachment, one place each:
//! * a pinned BPF link ([`Attachment::Link`]): [`link::LinkBacked`] does the pinning,
//!   `BPF_LINK_UPDATE`, `BPF_LINK_DETACH` and the live state for every
//!   [`link::LinkType`]; a link type only creates its link and says where a link of
//!   its type is attached. [`sk_lookup::SkLookup`] (the network namespace sockc runs
//!   in, checked by the link's netns inode), [`sock_ops::SockOps`] (a cgroup
//!   directory; for sockmap groups and sk_lookup registrars), [`cgroup_skb::CgroupSkb`]
//!   (a cgroup directory; for cgroup blocks, packets and socket calls), wrapped in
//!   [`cgroup_skb::UnitPinned`], which also pins the program of a block that names a
//!   systemd unit, for the unit's drop-ins.
//! * an XDP link running a dispatcher ([`xdp::Xdp`], [`dispatcher`]): the program sits
//!   in the slot of a program array the dispatcher tail-calls, because every XDP
//!   attach or link update waits for an RCU grace period and a slot update does not.
//! * a clsact filter ([`Attachment::TcFilter`]): [`tc::Tc`] attaches TCX links where
//!   the kernel has them and netlink filters where it does not.
//! * a map that holds the program ([`Attachment::Map`]): [`sockmap::MapHeld`], for a
//!   socket map's verdict program ([`sockmap::Dispatcher`], `BPF_PROG_ATTACH`ed to the
//!   map) and a sockmap block's program in slot 0 of the program array its dispatcher
//!   tail-calls ([`sockmap::Slot`]).
//!
//! * netfilter hooks ([`netfilter::Netfilter`]): two links (IPv4, IPv6) running a
//!   dispatcher that tail-calls slot 0 of a program array, because a netfilter
//!   link's program cannot be swapped.
//!
//! Every backend works from the program's descriptor ([`open_pinned`] for a program an
//! install pinned): links come from `BPF_LINK_CREATE`, clsact filters from the
//! runtime's own netlink requests, maps take the descriptor as a value, so no aya
//! program object is made, and none of aya's attach-time feature probes runs.
//!
//! A new link-based attach type is one file with a [`link::LinkType`] and its arm in
//! [`backend`].
//!
//! A first install makes its XDP and TCX hooks ready while its programs are verified
//! ([`Backend::prepare`], [`Prepared`]): the kernel's wait in creating their links
//! then overlaps the verifier instead of following it.

use std::{
    fmt,
    os::fd::{BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sockc_compiler::hooks::{HookKind, HookSpec, Target};

pub mod cgroup_skb;
pub mod dispatcher;
pub mod link;
pub mod netfilter;
pub mod sk_lookup;
pub mod sock_ops;
pub mod sockmap;
pub mod tc;
pub mod xdp;

use link::LinkBacked;
use sockmap::MapHeld;

/// The backend that attaches programs of `hook`.
pub fn backend(hook: HookKind) -> &'static dyn Backend {
    match hook {
        HookKind::Xdp => &xdp::Xdp,
        HookKind::TcIngress | HookKind::TcEgress => &tc::Tc,
        HookKind::SkLookup => &LinkBacked(sk_lookup::SkLookup),
        HookKind::SockmapSend | HookKind::SockmapReceive => &MapHeld(sockmap::Slot),
        HookKind::SkMsgDispatch | HookKind::SkSkbDispatch => &MapHeld(sockmap::Dispatcher),
        HookKind::SockOps => &LinkBacked(sock_ops::SockOps {
            fills_verdict_maps: true,
        }),
        HookKind::SkLookupRegister => &LinkBacked(sock_ops::SockOps {
            fills_verdict_maps: false,
        }),
        HookKind::NfPrerouting => &netfilter::Netfilter(HookKind::NfPrerouting),
        HookKind::NfInput => &netfilter::Netfilter(HookKind::NfInput),
        HookKind::NfForward => &netfilter::Netfilter(HookKind::NfForward),
        HookKind::NfOutput => &netfilter::Netfilter(HookKind::NfOutput),
        HookKind::NfPostrouting => &netfilter::Netfilter(HookKind::NfPostrouting),
        // A socket-call block is one cgroup link per program (per family); the row's
        // attach type says which hook. A block of any of them may name a unit.
        HookKind::CgroupIngress
        | HookKind::CgroupEgress
        | HookKind::CgroupConnect4
        | HookKind::CgroupConnect6
        | HookKind::CgroupSendmsg4
        | HookKind::CgroupSendmsg6
        | HookKind::CgroupBind4
        | HookKind::CgroupBind6 => &cgroup_skb::UnitPinned(LinkBacked(cgroup_skb::CgroupSkb)),
    }
}

/// Opens the program pinned at `path` (one this command pinned, or an earlier
/// sockc's generation, to re-attach or swap in): its descriptor is all a backend
/// needs; the kernel checks the program's type when it is attached.
pub fn open_pinned(path: &Path) -> std::io::Result<OwnedFd> {
    crate::sys::obj_get(path)
}

/// One attach type's way of putting programs on hooks. See the module docs.
pub trait Backend: Sync {
    /// Attaches the loaded program `prog` at `at` so that it stays after sockc exits: a
    /// link pinned at `link_pin` (replacing a stale pin there), or another kernel
    /// object that holds it by itself.
    fn attach(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError>;

    /// When the place `at` names is not there (`AttachPoint::exists`): what can be done
    /// ahead of it, so that whoever makes it attaches `prog` (a systemd unit that is not
    /// running: its program pinned where the unit's drop-in names it, which systemd
    /// attaches when the unit starts). True when the backend did so; false (the
    /// default) when the place is needed now.
    fn ahead_of_target(
        &self,
        _prog: BorrowedFd<'_>,
        _at: &AttachPoint<'_>,
        _link_pin: &Path,
    ) -> Result<bool, AttachError> {
        Ok(false)
    }

    /// Makes the hook at `at` ready for a program ahead of it, so that the kernel's
    /// wait in creating the hook's link (an RCU grace period, for XDP and TCX links)
    /// overlaps other work, like the verifier's: see [`Prepared`]. `None` where there
    /// is nothing to gain, or where the hook cannot be made ready now (the attach then
    /// says why).
    fn prepare(&self, _at: &AttachPoint<'_>, _opts: &AttachOptions) -> Option<Prepared> {
        None
    }

    /// [`Backend::attach`] onto the hook `ready` made ready at `at`: the program goes
    /// in, the link is pinned at `link_pin`.
    fn attach_prepared(
        &self,
        ready: Prepared,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        drop(ready);
        self.attach(prog, at, link_pin, opts, notices)
    }

    /// Swaps the program behind `live` for `prog`, atomically. The caller has read
    /// the live state first: `live` is attached where it should be.
    fn replace(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError>;

    /// Takes `live` off its hook now, if it is sockc's: a link at sockc's pin, or a
    /// clsact filter that runs program `ours` (another tool may have put its own
    /// filter at the same priority and handle). Best effort: what is already gone is
    /// not an error.
    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32);

    /// Takes `live` off its hook now for a flush, whatever a dispatcher's slot holds:
    /// [`detach`](Self::detach) leaves a dispatcher whose slot runs another program
    /// alone (another generation took it over), but a flush removes every pin of the
    /// install, and a link whose last pin goes comes off only when the kernel frees it
    /// — so a program put into the slot behind sockc's back would go on filtering
    /// after "flushed". Backends without a dispatcher: `detach`.
    fn take_off(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        self.detach(at, live, ours);
    }

    /// What a killed sockc attached at `at` running program `ours` that no pin names
    /// (a clsact filter): found, to be recorded instead of attached again beside it.
    /// Link attachments have a pin of their own and need none.
    fn adopt_unrecorded(&self, _at: &AttachPoint<'_>, _ours: u32) -> Option<Attached> {
        None
    }

    /// Takes off whatever a killed sockc attached at `at` running program `ours`
    /// before it could record how: the link at `link_pin` if it runs `ours` (the
    /// default), and for backends with other attachments, those found by the program
    /// they run.
    fn detach_unrecorded(&self, at: &AttachPoint<'_>, link_pin: &Path, ours: u32) {
        detach_link_if_ours(self, at, link_pin, ours);
    }

    /// What the kernel runs at `live`, against what the manifest expects there.
    fn live_state(&self, at: &AttachPoint<'_>, live: &Attachment, expected: &Expected)
        -> LinkState;
}

/// Takes off the link pinned at `link_pin` if it still runs `ours` (or its state
/// cannot say otherwise): what a killed sockc may have attached before it recorded it.
fn detach_link_if_ours<B: Backend + ?Sized>(
    b: &B,
    at: &AttachPoint<'_>,
    link_pin: &Path,
    ours: u32,
) {
    let live = Attachment::Link(link_pin.to_path_buf());
    let expected = Expected {
        prog_id: ours,
        ifindex: 0,
    };
    if !matches!(
        b.live_state(at, &live, &expected),
        LinkState::Missing | LinkState::RunsOther { .. } | LinkState::Unreadable(_)
    ) {
        b.detach(at, &live, ours);
    }
}

/// Loads `code`, a program sockc writes itself for a hook (a dispatcher, a
/// pass-through), as a program of `prog_type` expecting `expected_attach_type`.
fn load_code(
    prog_type: u32,
    expected_attach_type: u32,
    name: &str,
    code: &[sockc_compiler::bpf::insn::Insn],
) -> std::io::Result<OwnedFd> {
    let insns: Vec<u8> = code.iter().flat_map(|i| i.to_bytes()).collect();
    crate::sys::prog_load(&mut crate::sys::ProgLoad {
        prog_type,
        expected_attach_type,
        name,
        insns: &insns,
        license: b"GPL\0",
        log: &mut [],
    })
}

/// What the manifest says runs at an attachment.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub prog_id: u32,
    /// The interface index the hook was attached to (`0`: not recorded, by an older
    /// sockc), so a deleted and re-created interface of the same name is noticed.
    pub ifindex: u32,
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
            // A sockmap group's programs all need its cgroup.
            Target::Cgroup | Target::SockMap | Target::TailCall => {
                is_cgroup2(&crate::cgroup::dir_of(self.attach_to).to_string_lossy())
            }
            Target::Netns | Target::Netfilter => true,
        }
    }
}

impl fmt::Display for AttachPoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec().label(self.attach_to))
    }
}

/// Whether `path` is a directory of a cgroup v2 filesystem (a cgroup link on anything
/// else fails with a bare EBADF).
pub fn is_cgroup2(path: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct it is given and reads a
    // NUL-terminated path.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut fs) };
    rc == 0 && fs.f_type == libc::CGROUP2_SUPER_MAGIC && Path::new(path).is_dir()
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
    /// A link on a network namespace (sk_lookup).
    #[serde(rename = "netns link")]
    Netns,
    #[serde(rename = "cgroup link")]
    CgroupLink,
    #[serde(rename = "socket map")]
    SockMap,
    #[serde(rename = "tail call")]
    TailCall,
    /// Two netfilter links (IPv4, IPv6) running a dispatcher that tail-calls the
    /// program.
    #[serde(rename = "netfilter links")]
    Netfilter,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachMode::XdpDriver => "xdp driver",
            AttachMode::XdpGeneric => "xdp generic",
            AttachMode::Tcx => "tcx",
            AttachMode::Clsact => "clsact",
            AttachMode::Netns => "netns link",
            AttachMode::CgroupLink => "cgroup link",
            AttachMode::SockMap => "socket map",
            AttachMode::TailCall => "tail call",
            AttachMode::Netfilter => "netfilter links",
        })
    }
}

/// A TC filter attached through netlink on the clsact qdisc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcFilter {
    pub priority: u16,
    pub handle: u32,
    /// sockc created the interface's clsact qdisc for this filter, so it removes the
    /// qdisc again once no filter is left on it.
    #[serde(default)]
    pub created_qdisc: bool,
}

/// A hook made ready for a program ahead of it ([`Backend::prepare`]): a link on the
/// hook whose program lets every packet go on as if nothing were attached, held by
/// this process alone (not pinned), so that a kill takes it off with the process and
/// nothing records it.
#[derive(Debug)]
pub struct Prepared {
    /// The link, running the backend's pass-through program.
    pub link: OwnedFd,
    /// The program array of a dispatcher, its slot still empty (XDP); `None` where the
    /// link's own program is swapped for the block's (TCX).
    pub slot: Option<OwnedFd>,
    pub mode: AttachMode,
    /// The index of the interface it is on.
    pub ifindex: u32,
    /// What the attach tells the user once the program is in (a fallback mode).
    pub notices: Vec<String>,
}

/// What [`Backend::attach`] made.
#[derive(Clone, Debug)]
pub struct Attached {
    pub mode: AttachMode,
    pub attachment: Attachment,
    /// The index of the interface it went on (0 for targets that are no interface).
    pub ifindex: u32,
}

/// What holds a program on its hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// A bpf_link pinned at this path.
    Link(PathBuf),
    /// A clsact filter: the filter holds the program; there is no link.
    TcFilter(TcFilter),
    /// A map pinned at this path holds the program: slot 0 of a program array (a
    /// sockmap block's program), or a socket map's verdict program (a dispatcher).
    Map(PathBuf),
}

impl Attachment {
    /// What kind of attachment this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attachment::Link(_) => "link",
            Attachment::TcFilter(_) => "clsact filter",
            Attachment::Map(_) => "map",
        }
    }

    /// The pin of the link that holds it, for `hook`'s backend; any other kind is not
    /// one that backend makes.
    pub fn link_pin(&self, hook: HookKind) -> Result<&Path, AttachError> {
        match self {
            Attachment::Link(path) => Ok(path),
            other => Err(AttachError::WrongAttachment {
                hook,
                what: other.kind(),
            }),
        }
    }

    /// The pin that holds it, if it is pinned.
    pub fn pin(&self) -> Option<&Path> {
        match self {
            Attachment::Link(p) | Attachment::Map(p) => Some(p),
            Attachment::TcFilter(_) => None,
        }
    }
}

/// What the kernel runs at an attachment, compared with the manifest. Everything but
/// [`LinkState::Attached`] means the hook does not enforce what the manifest says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// The expected program runs on the expected interface.
    Attached,
    /// The link's pin is gone.
    Missing,
    /// The link exists but is attached to nothing: its interface (or cgroup) was
    /// deleted.
    Detached,
    /// The link is attached to interface index `linked`, but the interface of that
    /// name is now `current` (or gone): it was deleted and re-created.
    OtherInterface { linked: u32, current: Option<u32> },
    /// The named interface does not exist.
    InterfaceMissing,
    /// The link (or filter) runs another program.
    RunsOther { prog_id: u32 },
    /// The link is pinned but its information cannot be read.
    Unreadable(String),
    /// No filter at the recorded priority and handle.
    FilterMissing(TcFilter),
    /// A filter sits at the recorded priority and handle but is not sockc's (another
    /// kind, or a program that is not the install's).
    FilterNotOurs {
        filter: TcFilter,
        prog_id: Option<u32>,
    },
    /// The install's network namespace is gone, or was deleted and created again: its
    /// hooks went with it.
    NetnsGone,
    /// The install lives in another network namespace than this command runs in.
    NotHere,
    /// The link still runs the program on its target, in a network namespace sockc
    /// can no longer reach: its name was deleted (or names another namespace now) and
    /// no process that lives in it was found, while something else keeps it alive.
    Unreachable,
    /// The install's namespace was recorded by inode only (by an older sockc) and no
    /// hook of the install is attached in the namespace of that inode now: it cannot
    /// be told apart from a new namespace that took the inode.
    NetnsUnverified,
    /// The map that should hold the program holds none (a program array's slot is
    /// empty, a socket map runs no verdict program).
    Vacant,
    /// The cgroup link is on a cgroup that is gone (`current: None`) or that was
    /// deleted and created again under the same path.
    OtherCgroup { linked: u64, current: Option<u64> },
    /// A unit block's link went with the unit's old cgroup (the unit restarted), and
    /// systemd attached the install's pinned program to the new one from sockc's
    /// drop-in: the policy holds, but not on sockc's link.
    HeldBySystemd,
    /// A unit block's link runs its program, but the pin its drop-in names holds
    /// another program (`pinned`), or none: the unit's next start would get other
    /// rules (a sockc killed between the swap and the pin).
    PinStale { pinned: Option<u32> },
}

impl LinkState {
    /// True when the kernel does not run what the manifest says.
    pub fn is_drift(&self) -> bool {
        !matches!(self, LinkState::Attached)
    }

    /// True when the hook runs the install's program, wherever that is (its counters
    /// move).
    pub fn runs(&self) -> bool {
        matches!(
            self,
            LinkState::Attached
                | LinkState::Unreachable
                | LinkState::HeldBySystemd
                | LinkState::PinStale { .. }
        )
    }

    /// True when sockc's attachment (link, filter, map slot) is on its hook, whatever
    /// it runs by now: the install's program, or one put in its place behind sockc's
    /// back. Taking the install off takes such a hook off (`flush` counts them).
    pub fn in_place(&self) -> bool {
        self.runs() || matches!(self, LinkState::RunsOther { .. })
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filter = |t: &TcFilter| {
            format!(
                "clsact filter prio {} handle {:x}:{:x}",
                t.priority,
                t.handle >> 16,
                t.handle & 0xffff
            )
        };
        match self {
            LinkState::Attached => f.write_str("attached"),
            LinkState::Missing => f.write_str("link missing"),
            LinkState::Detached => f.write_str("link detached (its interface or cgroup was deleted)"),
            LinkState::OtherInterface { linked, current } => match current {
                Some(now) => write!(
                    f,
                    "interface re-created (the link is on ifindex {linked}, the interface is now {now})"
                ),
                None => write!(f, "interface gone (the link is on ifindex {linked})"),
            },
            LinkState::InterfaceMissing => f.write_str("interface missing"),
            LinkState::RunsOther { prog_id } => write!(f, "link runs program {prog_id}"),
            LinkState::Unreadable(e) => write!(f, "link unreadable: {e}"),
            LinkState::FilterMissing(t) => write!(f, "{} missing", filter(t)),
            LinkState::NetnsGone => f.write_str("its network namespace is gone"),
            LinkState::NotHere => f.write_str("in another network namespace (not checked)"),
            LinkState::Unreachable => f.write_str(
                "still attached, in a network namespace sockc can no longer reach by its name",
            ),
            LinkState::NetnsUnverified => f.write_str(
                "its network namespace cannot be confirmed (recorded by inode only, and no hook of the install runs there)",
            ),
            LinkState::Vacant => f.write_str("its map holds no program"),
            LinkState::OtherCgroup { linked, current } => match current {
                Some(now) => write!(
                    f,
                    "cgroup re-created (the link is on cgroup {linked}, the directory is now {now})"
                ),
                None => write!(f, "cgroup gone (the link is on cgroup {linked})"),
            },
            LinkState::HeldBySystemd => f.write_str(
                "the unit restarted: its new cgroup runs the program systemd attached from \
                 sockc's drop-in, not sockc's link (`sockc repair` puts it on a link)",
            ),
            LinkState::PinStale { pinned } => match pinned {
                Some(id) => write!(
                    f,
                    "the pin systemd's drop-in names holds program {id}, not the linked one \
                     (`sockc repair` pins it again)"
                ),
                None => f.write_str(
                    "the pin systemd's drop-in names is missing (`sockc repair` pins it again)",
                ),
            },
            LinkState::FilterNotOurs { filter: t, prog_id } => match prog_id {
                Some(id) => write!(f, "{} runs program {id}, not the install's", filter(t)),
                None => write!(f, "{} is not a BPF filter of sockc's", filter(t)),
            },
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
    #[error("TCX attach (needs Linux 6.6 or later)")]
    NoTcx(#[source] std::io::Error),
    #[error("clsact attach")]
    Clsact(#[source] std::io::Error),
    #[error("XDP attach in {mode} mode")]
    Xdp {
        mode: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("open {}", path.display())]
    OpenLink {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("link update")]
    Update(#[source] std::io::Error),
    #[error("{iface} already runs XDP program {prog_id}, which is not this install's; take it off first (`ip link set dev {iface} xdp off`)")]
    XdpHeld { iface: String, prog_id: u32 },
    #[error("{hook} cannot hold a {what} attachment")]
    WrongAttachment { hook: HookKind, what: &'static str },
    #[error("cgroup {path}")]
    OpenCgroup {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{cgroup}: sock_ops program {prog_id} ({name}) of another tool already puts this cgroup's sockets into socket map {map_id}; a socket runs one socket map's programs only, and two tools redirecting the same sockets stall connections: take the other tool's program off this cgroup (and its parents) first")]
    SockmapHeld {
        cgroup: String,
        prog_id: u32,
        name: String,
        map_id: u32,
    },
    #[error("program {prog_id} ({name}) of another tool is attached to {holder} {how}; attach that program with `multi` (then every program on the cgroup and its parents runs, and any refusal wins) or take it off first", how = not_multi_text(*.overridable))]
    NotMulti {
        holder: String,
        prog_id: u32,
        name: String,
        /// Attached with `BPF_F_ALLOW_OVERRIDE` (else exclusively, with no flag).
        overridable: bool,
    },
    #[error("link create")]
    LinkCreate(#[source] std::io::Error),
    #[error("pin {}", path.display())]
    PinFd {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("attach to the map")]
    MapAttach(#[source] std::io::Error),
    #[error("netfilter link at {0}")]
    Netfilter(String, #[source] std::io::Error),
}

/// What a program attached to a cgroup without `BPF_F_ALLOW_MULTI` does to a link
/// sockc would add there or below, for [`AttachError::NotMulti`].
fn not_multi_text(overridable: bool) -> &'static str {
    if overridable {
        "with BPF_F_ALLOW_OVERRIDE, which the kernel stops running for a cgroup that has \
         a program of its own (on it or on a cgroup between): sockc's link would switch \
         it off for this cgroup's sockets"
    } else {
        "exclusively (without BPF_F_ALLOW_MULTI): the kernel lets no other program attach \
         there or below"
    }
}
