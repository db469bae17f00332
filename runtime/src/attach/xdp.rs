//! XDP: programs on an interface's receive path, behind a dispatcher on a pinned XDP
//! link ([`super::dispatcher`]).
//!
//! Every XDP attach and every `BPF_LINK_UPDATE` of an XDP link waits in the kernel for
//! an RCU grace period (`bpf_dispatcher_change_prog` rewrites the kernel's own XDP
//! dispatcher image, then calls `synchronize_rcu`: 5-20 ms on this `CONFIG_HZ=250`
//! kernel); a program array's slot update waits for none. So the link runs a
//! dispatcher that tail-calls slot 0 of a one-slot array and the block's program sits
//! in the slot: a re-apply swaps with one `BPF_MAP_UPDATE_ELEM`, and a first install
//! makes the link ([`Backend::prepare`]) while its program is still in the verifier.
//! The tail call costs a packet a few nanoseconds.
//!
//! Driver (native) mode first; where the driver has no XDP support the dispatcher is
//! attached in generic (skb) mode and a notice says so. Pins, from the link pin `P`:
//! `P` the link (the attachment the manifest records), `P_slot` the array.
//!
//! Invariants: the attachment is always a bpf_link, never a netlink-attached program,
//! because only a link can be pinned and taken off on its own; a pinned link's slot
//! holds a program (filled before the pins are made). An install attached by an older
//! sockc has a link that runs its program directly (no `P_slot`): it is read back,
//! swapped (`BPF_LINK_UPDATE`) and taken off as before, and a repair attaches it
//! afresh behind a dispatcher.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
};

use aya_obj::generated::{
    bpf_attach_type::BPF_XDP, bpf_link_info, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE,
};

use super::{
    detach_link_if_ours, dispatcher, if_index,
    link::{self, LinkBacked, LinkType, NewLink},
    AttachError, AttachMode, AttachOptions, AttachPoint, Attached, Attachment, Backend, Expected,
    LinkState, Prepared,
};
use crate::{error_text::error_chain, sys};

/// The XDP backend.
pub struct Xdp;

/// An XDP link that runs the block's program itself: what an older sockc attached.
struct Direct;

/// What [`Direct`] links are read back, swapped and taken off with.
const DIRECT: LinkBacked<Direct> = LinkBacked(Direct);

impl LinkType for Direct {
    const NAME: &'static str = "XDP";

    fn create(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        _link_pin: &Path,
        notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError> {
        let ifindex = interface(at)?;
        let (link, mode) = link_on(prog, at, ifindex, notices)?;
        Ok(NewLink {
            link,
            mode,
            ifindex,
        })
    }

    fn where_linked(
        &self,
        info: &bpf_link_info,
        at: &AttachPoint<'_>,
        expected: &Expected,
    ) -> LinkState {
        link::on_interface(info, at, expected)
    }
}

/// The index of `at`'s interface, or `ENODEV` as an XDP attach error.
fn interface(at: &AttachPoint<'_>) -> Result<u32, AttachError> {
    if_index(at.attach_to).ok_or_else(|| AttachError::Xdp {
        mode: "driver",
        source: std::io::Error::from_raw_os_error(libc::ENODEV),
    })
}

/// An XDP link of `prog` on interface `ifindex`: driver mode, or generic mode with a
/// notice where the driver has none.
fn link_on(
    prog: BorrowedFd<'_>,
    at: &AttachPoint<'_>,
    ifindex: u32,
    notices: &mut Vec<String>,
) -> Result<(OwnedFd, AttachMode), AttachError> {
    let attach = |flags| sys::link_create_on_interface(prog, ifindex, BPF_XDP as u32, flags);
    match attach(XDP_FLAGS_DRV_MODE) {
        Ok(link) => Ok((link, AttachMode::XdpDriver)),
        Err(e) => {
            notices.push(format!(
                "{at}: driver mode not available ({}); attached in generic mode",
                error_chain(&e)
            ));
            let link = attach(XDP_FLAGS_SKB_MODE).map_err(|source| AttachError::Xdp {
                mode: "generic",
                source,
            })?;
            Ok((link, AttachMode::XdpGeneric))
        }
    }
}

/// A dispatcher linked on `at`'s interface, its slot empty: every packet passes.
fn make_ready(at: &AttachPoint<'_>) -> Result<Prepared, AttachError> {
    let ifindex = interface(at)?;
    let array = dispatcher::slot_array("sockc_xdp_slot").map_err(AttachError::MapAttach)?;
    let pass = at.spec().verdicts.allow.expect("XDP has a pass verdict");
    let program = dispatcher::load(at.spec(), array.as_fd(), pass, "sockc_xdp_disp")
        .map_err(AttachError::LinkCreate)?;
    let mut notices = Vec::new();
    let (link, mode) = link_on(program.as_fd(), at, ifindex, &mut notices)?;
    Ok(Prepared {
        link,
        slot: Some(array),
        mode,
        ifindex,
        notices,
    })
}

/// Whether the attachment pinned at `link_pin` has a dispatcher (not an older sockc's
/// direct link).
fn dispatched(link_pin: &Path) -> bool {
    std::fs::symlink_metadata(dispatcher::slot_pin(link_pin)).is_ok()
}

/// The info of the link pinned at `link_pin` if it is on `at`'s interface as that
/// interface is now.
fn own_link_here(at: &AttachPoint<'_>, link_pin: &Path) -> Option<bpf_link_info> {
    let info = sys::obj_get(link_pin)
        .and_then(|fd| sys::link_info(fd.as_fd()))
        .ok()?;
    let anywhere = Expected {
        prog_id: 0,
        ifindex: 0,
    };
    (link::on_interface(&info, at, &anywhere) == LinkState::Attached).then_some(info)
}

/// A repair of the install's own dispatcher, still on `at`'s interface at
/// `link_pin` with another program in its slot, or none: `prog` goes into the slot, in
/// one update.
fn refill_own(
    prog: BorrowedFd<'_>,
    at: &AttachPoint<'_>,
    link_pin: &Path,
) -> Result<Option<Attached>, AttachError> {
    if !dispatched(link_pin) {
        return Ok(None);
    }
    let Some(info) = own_link_here(at, link_pin) else {
        return Ok(None);
    };
    let slot = dispatcher::slot_pin(link_pin);
    if !dispatcher::dispatches(info.prog_id, &slot).unwrap_or(false) {
        return Ok(None);
    }
    dispatcher::refill(&slot, prog)?;
    // SAFETY: an XDP link's info fills the xdp member (`own_link_here` checked the type).
    let ifindex = unsafe { info.__bindgen_anon_1.xdp.ifindex };
    let generic = crate::netlink::xdp_generic(ifindex).unwrap_or(false);
    Ok(Some(Attached {
        mode: if generic {
            AttachMode::XdpGeneric
        } else {
            AttachMode::XdpDriver
        },
        attachment: Attachment::Link(link_pin.to_path_buf()),
        ifindex,
    }))
}

/// Takes the install's own link pinned at `link_pin` off `at`'s interface when it is
/// still there running something else (its program swapped behind sockc's back): the
/// interface has room for one XDP program, and the repair's is next.
fn free_own_link(at: &AttachPoint<'_>, link_pin: &Path) {
    if own_link_here(at, link_pin).is_some() {
        link::detach(link_pin);
    }
}

impl Backend for Xdp {
    fn attach(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        if let Some(refilled) = refill_own(prog, at, link_pin)? {
            return Ok(refilled);
        }
        free_own_link(at, link_pin);
        wait_until_free(at.attach_to)?;
        let ready = make_ready(at)?;
        self.attach_prepared(ready, prog, at, link_pin, opts, notices)
    }

    fn prepare(&self, at: &AttachPoint<'_>, _opts: &AttachOptions) -> Option<Prepared> {
        // Not while another program holds the interface: the attach waits for one
        // that is going, or says whose it is.
        let ifindex = if_index(at.attach_to)?;
        if crate::netlink::xdp_prog_id(ifindex).ok()?.is_some() {
            return None;
        }
        make_ready(at).ok()
    }

    fn attach_prepared(
        &self,
        ready: Prepared,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let Prepared {
            link: dispatching,
            slot: Some(array),
            mode,
            ifindex,
            notices: said,
        } = ready
        else {
            return self.attach(prog, at, link_pin, opts, notices);
        };
        dispatcher::fill(array.as_fd(), prog)?;
        dispatcher::pin(array.as_fd(), &dispatcher::slot_pin(link_pin))?;
        link::pin(dispatching, link_pin)?;
        notices.extend(said);
        Ok(Attached {
            mode,
            attachment: Attachment::Link(link_pin.to_path_buf()),
            ifindex,
        })
    }

    fn replace(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        let path = live.link_pin(at.hook)?;
        if dispatched(path) {
            dispatcher::refill(&dispatcher::slot_pin(path), prog)
        } else {
            link::update(path, prog)
        }
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        let Ok(path) = live.link_pin(at.hook) else {
            return;
        };
        if dispatched(path) && dispatcher::taken_over(&dispatcher::slot_pin(path), ours) {
            return;
        }
        self.take_off(at, live, ours);
    }

    fn take_off(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        let Ok(path) = live.link_pin(at.hook) else {
            return;
        };
        if !dispatched(path) {
            return DIRECT.detach(at, live, ours);
        }
        link::detach(path);
        let _ = std::fs::remove_file(dispatcher::slot_pin(path));
    }

    fn detach_unrecorded(&self, at: &AttachPoint<'_>, link_pin: &Path, ours: u32) {
        if dispatched(link_pin) {
            self.detach(at, &Attachment::Link(link_pin.to_path_buf()), ours);
        } else {
            detach_link_if_ours(self, at, link_pin, ours);
        }
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
        if !dispatched(path) {
            return DIRECT.live_state(at, live, expected);
        }
        let info = match sys::obj_get(path).and_then(|fd| sys::link_info(fd.as_fd())) {
            Ok(info) => info,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LinkState::Missing,
            Err(e) => return LinkState::Unreadable(e.to_string()),
        };
        match link::on_interface(&info, at, expected) {
            LinkState::Attached => {}
            elsewhere => return elsewhere,
        }
        let slot = dispatcher::slot_pin(path);
        match dispatcher::dispatches(info.prog_id, &slot) {
            Ok(true) => {}
            Ok(false) => {
                return LinkState::RunsOther {
                    prog_id: info.prog_id,
                }
            }
            Err(e) => return LinkState::Unreadable(e.to_string()),
        }
        dispatcher::slot_state(&slot, expected.prog_id)
    }
}

/// Waits until no XDP program is on `iface`: an interface has room for one, so whoever
/// holds it is named. A link whose last pin was just removed is released by the
/// kernel a moment later (from a workqueue), so a holder gets a little time to go
/// first.
fn wait_until_free(iface: &str) -> Result<(), AttachError> {
    let held = || {
        if_index(iface)
            .and_then(|i| crate::netlink::xdp_prog_id(i).ok())
            .flatten()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while let Some(prog_id) = held() {
        if std::time::Instant::now() >= deadline {
            return Err(AttachError::XdpHeld {
                iface: iface.to_string(),
                prog_id,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}
