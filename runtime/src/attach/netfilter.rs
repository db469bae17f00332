//! Netfilter hooks (`BPF_PROG_TYPE_NETFILTER`): a block's program behind a dispatcher,
//! because the kernel cannot swap a netfilter link's program (`BPF_LINK_UPDATE` is
//! `EOPNOTSUPP`) and one link serves one IP family only (`NFPROTO_INET` is refused).
//!
//! At attach the backend creates a one-slot program array holding the block's
//! program, loads a dispatcher (`dispatcher.rs`: tail-call slot 0, accept when the
//! slot is empty) and links the dispatcher at the block's hook and priority twice,
//! for IPv4 and IPv6, in the namespace the command runs in. Pins, from the install's
//! link pin `P`: `P` the IPv4 link (the attachment the manifest records), `P_ip6`
//! the IPv6 link, `P_slot` the array. A re-apply is one `BPF_MAP_UPDATE_ELEM` of the
//! slot, so every packet of both families runs the old program or the new one;
//! detach takes both links off (`BPF_LINK_DETACH`, which also lets go of the
//! namespace a pinned link keeps alive) and removes the pins.
//!
//! Invariant: the links exist only while the slot holds a program of the install
//! (the slot is filled before the first link and the links go before the pins), so
//! the dispatcher's fallback verdict (accept) is only ever seen while nothing of the
//! install filters. The kernel keeps no list of its netfilter hooks here
//! (`CONFIG_NETFILTER_NETLINK_HOOK`), and a detached netfilter link reads back like
//! a live one, so `status` sees a missing pin, another program in the slot, or a
//! link at another hook or priority, but not a detach by a third party.

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use aya_obj::generated::{NFPROTO_IPV4, NFPROTO_IPV6};
use sockc_compiler::hooks::{HookKind, NF_ACCEPT};

use super::{
    dispatcher::{self, pin},
    link, AttachError, AttachMode, AttachOptions, AttachPoint, Attached, Attachment, Backend,
    Expected, LinkState,
};
use crate::sys;

/// The backend of one netfilter row (the row says which hook).
pub struct Netfilter(pub HookKind);

/// The pins of one attachment (see the module docs).
struct Pins {
    ip4: PathBuf,
    ip6: PathBuf,
    slot: PathBuf,
}

impl Pins {
    fn of(link_pin: &Path) -> Pins {
        Pins {
            ip4: link_pin.to_path_buf(),
            ip6: dispatcher::beside(link_pin, "_ip6"),
            slot: dispatcher::slot_pin(link_pin),
        }
    }
}

/// The hook number and priority of `at` (a netfilter row; sema checked the priority).
fn hook_and_priority(at: &AttachPoint<'_>) -> io::Result<(u32, i32)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    let hook = at
        .hook
        .netfilter_hook()
        .ok_or_else(|| bad("not a netfilter hook"))?;
    let priority = at
        .attach_to
        .parse::<i32>()
        .map_err(|_| bad("netfilter priority is not a 32-bit number"))?;
    Ok((hook as u32, priority))
}

/// Loads the dispatcher that tail-calls slot 0 of `array` (accepts when it is empty).
fn load_dispatcher(array: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    dispatcher::load(HookKind::NfInput.spec(), array, NF_ACCEPT, "sockc_nf_disp")
}

/// Says which hook and priority a refused link wanted; `EBUSY` in words.
fn link_error(at: &AttachPoint<'_>, family: &str, e: io::Error) -> AttachError {
    let why = if e.raw_os_error() == Some(libc::EBUSY) {
        format!(
            "{at} ({family}): another function already sits at this priority of the hook \
             (a BPF netfilter hook cannot share one; nftables and iptables chains use 0, \
             conntrack -200, mangle -150, NAT -100 and 100): write another `priority N`"
        )
    } else {
        format!("{at} ({family})")
    };
    AttachError::Netfilter(why, e)
}

impl Backend for Netfilter {
    fn attach(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        _opts: &AttachOptions,
        _notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let (hook, priority) = hook_and_priority(at).map_err(|e| link_error(at, "any", e))?;
        let pins = Pins::of(link_pin);
        // Whatever a killed sockc left at these pins goes first.
        link::detach(&pins.ip4);
        link::detach(&pins.ip6);
        let array = dispatcher::slot_array("sockc_nf_slot").map_err(AttachError::MapAttach)?;
        dispatcher::fill(array.as_fd(), prog)?;
        let dispatcher = load_dispatcher(array.as_fd()).map_err(AttachError::LinkCreate)?;
        pin(array.as_fd(), &pins.slot)?;
        let link4 = sys::link_create_netfilter(dispatcher.as_fd(), NFPROTO_IPV4, hook, priority)
            .map_err(|e| link_error(at, "IPv4", e))?;
        let link6 = sys::link_create_netfilter(dispatcher.as_fd(), NFPROTO_IPV6, hook, priority)
            .map_err(|e| link_error(at, "IPv6", e))?;
        pin(link6.as_fd(), &pins.ip6)?;
        pin(link4.as_fd(), &pins.ip4)?;
        Ok(Attached {
            mode: AttachMode::Netfilter,
            attachment: Attachment::Link(pins.ip4),
            ifindex: 0,
        })
    }

    fn replace(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        dispatcher::refill(&Pins::of(live.link_pin(at.hook)?).slot, prog)
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        let Ok(path) = live.link_pin(at.hook) else {
            return;
        };
        if dispatcher::taken_over(&Pins::of(path).slot, ours) {
            return;
        }
        self.take_off(at, live, ours);
    }

    fn take_off(&self, at: &AttachPoint<'_>, live: &Attachment, _ours: u32) {
        let Ok(path) = live.link_pin(at.hook) else {
            return;
        };
        let pins = Pins::of(path);
        link::detach(&pins.ip4);
        link::detach(&pins.ip6);
        let _ = std::fs::remove_file(&pins.slot);
    }

    fn detach_unrecorded(&self, at: &AttachPoint<'_>, link_pin: &Path, ours: u32) {
        self.detach(at, &Attachment::Link(link_pin.to_path_buf()), ours);
    }

    fn live_state(
        &self,
        at: &AttachPoint<'_>,
        live: &Attachment,
        expected: &Expected,
    ) -> LinkState {
        let path = match live.link_pin(at.hook) {
            Ok(path) => path,
            Err(e) => return LinkState::Unreadable(e.to_string()),
        };
        let pins = Pins::of(path);
        let Ok((hook, priority)) = hook_and_priority(at) else {
            return LinkState::Unreadable(format!("{at}: not a netfilter attach point"));
        };
        for (pin, pf) in [(&pins.ip4, NFPROTO_IPV4), (&pins.ip6, NFPROTO_IPV6)] {
            let fd = match sys::obj_get(pin) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return LinkState::Missing,
                Err(e) => return LinkState::Unreadable(e.to_string()),
            };
            let info = match sys::link_info(fd.as_fd()) {
                Ok(i) => i,
                Err(e) => return LinkState::Unreadable(e.to_string()),
            };
            // SAFETY: a netfilter link's info fills the netfilter member.
            let nf = unsafe { info.__bindgen_anon_1.netfilter };
            if nf.pf != pf || nf.hooknum != hook || nf.priority != priority {
                return LinkState::Unreadable(format!(
                    "{} is linked at pf {} hook {} priority {}, not {at}",
                    pin.display(),
                    nf.pf,
                    nf.hooknum,
                    nf.priority
                ));
            }
        }
        dispatcher::slot_state(&pins.slot, expected.prog_id)
    }
}
