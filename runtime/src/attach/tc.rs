//! TC (ingress and egress): programs on an interface's traffic-control hooks, attached
//! through a pinned TCX link, or through a netlink filter on the clsact qdisc where
//! the kernel has no TCX (before 6.6) or the user asks for it.
//!
//! The hook's direction comes from its row of the hook table (its attach type is
//! `BPF_TCX_INGRESS` or `BPF_TCX_EGRESS`). A clsact filter holds its program by
//! itself, so the program stays after sockc exits with no link; the manifest records
//! the filter's priority and handle, a swap is a netlink replace of that same filter
//! (atomic in the kernel), and a detach deletes it. Invariants: a TCX attachment is a
//! pinned link, exactly as XDP's is; a clsact filter is sockc's only while it runs
//! the program the manifest names (read back by netlink before any replace or delete:
//! another tool may have put its own filter at the same priority and handle); the
//! clsact qdisc goes again with the last filter when sockc created it.
//!
//! Both are made from the program's descriptor: a TCX link by `BPF_LINK_CREATE`
//! (`BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` on the interface's index, after the programs
//! already there), a clsact filter by the runtime's own netlink request (a
//! direct-action `bpf` filter; the kernel picks its priority and handle and echoes
//! them). `status`, `repair` and `flush` read TCX links by their link info and
//! filters by a netlink dump, whichever way they were made.
//!
//! Creating a TCX link waits in the kernel for an RCU grace period
//! (`tcx_entry_sync`), swapping its program does not: a first install makes its TCX
//! links ahead with a two-instruction program that lets every packet go on
//! (`TCX_NEXT`), while its programs are verified, then swaps each block's program in
//! ([`Backend::prepare`]).

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
    time::Duration,
};

use aya_obj::generated::bpf_attach_type;
use sockc_compiler::{
    bpf::insn::{Insn, Reg},
    hooks::TCX_NEXT,
};

use super::{
    detach_link_if_ours, if_index, link, AttachError, AttachMode, AttachOptions, AttachPoint,
    Attached, Attachment, Backend, Expected, LinkState, Prepared, TcAttach, TcFilter,
};
use crate::{
    error_text::error_chain,
    netlink::{self, ClsactHook},
    sys,
};

/// The TC backend (TCX links or clsact filters).
pub struct Tc;

/// The clsact hook of a TC row, from its attach type in the hook table.
fn clsact_hook(at: &AttachPoint<'_>) -> ClsactHook {
    if at.spec().attach_type == bpf_attach_type::BPF_TCX_EGRESS {
        ClsactHook::Egress
    } else {
        ClsactHook::Ingress
    }
}

/// The index of `at`'s interface, or `ENODEV`.
fn ifindex_of(at: &AttachPoint<'_>) -> io::Result<u32> {
    if_index(at.attach_to).ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
}

/// A TCX link of `prog` on `at`'s hook, after the programs already there.
fn attach_tcx(prog: BorrowedFd<'_>, at: &AttachPoint<'_>) -> io::Result<std::os::fd::OwnedFd> {
    let ifindex = ifindex_of(at)?;
    let attach_type = at.spec().attach_type as u32;
    // EEXIST: this very program is on the hook already, through a link whose last
    // reference just went (its pin removed, as a repair finds it) — the kernel frees
    // a link from a work queue, after the close. Waited for, briefly, rather than
    // taken for a kernel without TCX (which would move the hook to clsact).
    let mut waited = Duration::ZERO;
    loop {
        match sys::link_create_on_interface(prog, ifindex, attach_type, 0) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && waited < LINK_RELEASE_WAIT => {
                std::thread::sleep(LINK_RELEASE_STEP);
                waited += LINK_RELEASE_STEP;
            }
            done => return done,
        }
    }
}

/// A program that lets every packet go on to the next one of the hook, loaded as the
/// kernel loads a TC block's program (no expected attach type), so that a link made
/// with it can be swapped to one.
fn load_pass_through(at: &AttachPoint<'_>) -> io::Result<OwnedFd> {
    let code = [Insn::mov64_imm(Reg::R0, TCX_NEXT), Insn::exit()];
    super::load_code(at.spec().prog_type as u32, 0, "sockc_tcx_next", &code)
}

/// How long [`attach_tcx`] waits for a released link of the same program to go.
const LINK_RELEASE_WAIT: Duration = Duration::from_millis(500);
const LINK_RELEASE_STEP: Duration = Duration::from_millis(5);

/// The name a clsact filter shows for `prog` (`tc filter show`): the program's own.
fn filter_name(prog: BorrowedFd<'_>) -> String {
    sys::prog_info(prog)
        .map(|i| i.name)
        .unwrap_or_else(|_| "sockc".into())
}

/// The filter at `f`'s priority and handle on `at`'s hook, as the kernel lists it.
fn find_filter(
    at: &AttachPoint<'_>,
    f: &TcFilter,
) -> Result<Option<netlink::TcFilterInfo>, LinkState> {
    let Some(ifindex) = if_index(at.attach_to) else {
        return Err(LinkState::InterfaceMissing);
    };
    let filters = netlink::clsact_filters(ifindex, clsact_hook(at))
        .map_err(|e| LinkState::Unreadable(e.to_string()))?;
    Ok(filters
        .into_iter()
        .find(|x| x.priority == f.priority && x.handle == f.handle))
}

/// Attaches through a netlink filter on the clsact qdisc (created if missing).
fn attach_clsact(prog: BorrowedFd<'_>, at: &AttachPoint<'_>) -> Result<TcFilter, AttachError> {
    let ifindex = ifindex_of(at).map_err(AttachError::Clsact)?;
    let existed = netlink::has_clsact(ifindex).map_err(AttachError::Update)?;
    if !existed {
        // Another process may have made one since: that is fine too.
        match netlink::add_clsact(ifindex) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(AttachError::Clsact(e)),
            _ => {}
        }
    }
    let (priority, handle) =
        netlink::put_bpf_filter(ifindex, clsact_hook(at), prog, &filter_name(prog), None)
            .map_err(AttachError::Clsact)?;
    Ok(TcFilter {
        priority,
        handle,
        created_qdisc: !existed,
    })
}

/// Whether interface `iface` (in the namespace sockc runs in) has a clsact qdisc.
pub fn has_clsact_qdisc(iface: &str) -> bool {
    if_index(iface).is_some_and(|i| netlink::has_clsact(i).unwrap_or(true))
}

/// Deletes the clsact qdisc of `at`'s interface once neither of its hooks has a
/// filter left (sockc created it; deleting it with a filter on it would take another
/// tool's filter too).
fn remove_qdisc_if_empty(at: &AttachPoint<'_>) {
    remove_clsact_if_empty(at.attach_to);
}

/// [`remove_qdisc_if_empty`] by interface name: for a qdisc sockc made whose filter
/// was never recorded (a killed sockc's).
pub fn remove_clsact_if_empty(iface: &str) {
    let Some(ifindex) = if_index(iface) else {
        return;
    };
    let empty = [ClsactHook::Ingress, ClsactHook::Egress]
        .into_iter()
        .all(|h| netlink::clsact_filters(ifindex, h).is_ok_and(|f| f.is_empty()));
    if empty {
        let _ = netlink::delete_clsact(ifindex);
    }
}

impl Backend for Tc {
    fn attach(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let tcx = match opts.tc {
            TcAttach::Clsact => None,
            TcAttach::Auto | TcAttach::Tcx => Some(attach_tcx(prog, at)),
        };
        match tcx {
            Some(Ok(fd)) => {
                link::pin(fd, link_pin)?;
                Ok(Attached {
                    mode: AttachMode::Tcx,
                    attachment: Attachment::Link(link_pin.to_path_buf()),
                    ifindex: if_index(at.attach_to).unwrap_or(0),
                })
            }
            Some(Err(e)) if opts.tc == TcAttach::Tcx => Err(AttachError::NoTcx(e)),
            tcx => {
                if let Some(Err(e)) = tcx {
                    notices.push(format!(
                        "{at}: no TCX ({}); attached through the clsact qdisc",
                        error_chain(&e)
                    ));
                }
                Ok(Attached {
                    mode: AttachMode::Clsact,
                    attachment: Attachment::TcFilter(attach_clsact(prog, at)?),
                    ifindex: if_index(at.attach_to).unwrap_or(0),
                })
            }
        }
    }

    fn prepare(&self, at: &AttachPoint<'_>, opts: &AttachOptions) -> Option<Prepared> {
        if opts.tc == TcAttach::Clsact {
            return None;
        }
        let pass = load_pass_through(at).ok()?;
        let link = attach_tcx(pass.as_fd(), at).ok()?;
        Some(Prepared {
            link,
            slot: None,
            mode: AttachMode::Tcx,
            ifindex: if_index(at.attach_to)?,
            notices: Vec::new(),
        })
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
        let swapped = ready.mode == AttachMode::Tcx
            && ready.slot.is_none()
            && sys::link_update(ready.link.as_fd(), prog, None).is_ok();
        if !swapped {
            // Taken off with its descriptor; attached the usual way instead.
            drop(ready);
            return self.attach(prog, at, link_pin, opts, notices);
        }
        link::pin(ready.link, link_pin)?;
        Ok(Attached {
            mode: AttachMode::Tcx,
            attachment: Attachment::Link(link_pin.to_path_buf()),
            ifindex: ready.ifindex,
        })
    }

    fn replace(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        match live {
            Attachment::Link(path) => link::update(path, prog),
            Attachment::TcFilter(f) => {
                let ifindex = ifindex_of(at).map_err(AttachError::Clsact)?;
                let at_filter = Some((f.priority, f.handle));
                netlink::put_bpf_filter(
                    ifindex,
                    clsact_hook(at),
                    prog,
                    &filter_name(prog),
                    at_filter,
                )
                .map(drop)
                .map_err(AttachError::Clsact)
            }
            Attachment::Map(_) => Err(AttachError::WrongAttachment {
                hook: at.hook,
                what: live.kind(),
            }),
        }
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment, ours: u32) {
        match live {
            Attachment::Link(path) => link::detach(path),
            Attachment::TcFilter(f) => {
                if let Ok(Some(filter)) = find_filter(at, f) {
                    if filter.kind == "bpf" && filter.prog_id == Some(ours) {
                        if let Some(ifindex) = if_index(at.attach_to) {
                            let _ = netlink::delete_filter(
                                ifindex,
                                clsact_hook(at),
                                f.priority,
                                f.handle,
                            );
                        }
                    }
                }
                // Also when the filter was gone already (deleted by hand, or by a
                // killed sockc): the qdisc sockc made must not stay behind.
                if f.created_qdisc {
                    remove_qdisc_if_empty(at);
                }
            }
            Attachment::Map(_) => {}
        }
    }

    fn adopt_unrecorded(&self, at: &AttachPoint<'_>, ours: u32) -> Option<Attached> {
        let ifindex = if_index(at.attach_to)?;
        let filters = netlink::clsact_filters(ifindex, clsact_hook(at)).ok()?;
        let f = filters
            .iter()
            .find(|f| f.kind == "bpf" && f.prog_id == Some(ours))?;
        Some(Attached {
            mode: AttachMode::Clsact,
            attachment: Attachment::TcFilter(TcFilter {
                priority: f.priority,
                handle: f.handle,
                created_qdisc: false,
            }),
            ifindex,
        })
    }

    fn detach_unrecorded(&self, at: &AttachPoint<'_>, link_pin: &Path, ours: u32) {
        detach_link_if_ours(self, at, link_pin, ours);
        let Some(ifindex) = if_index(at.attach_to) else {
            return;
        };
        let Ok(filters) = netlink::clsact_filters(ifindex, clsact_hook(at)) else {
            return;
        };
        for f in filters.iter().filter(|f| f.prog_id == Some(ours)) {
            let filter = TcFilter {
                priority: f.priority,
                handle: f.handle,
                created_qdisc: false,
            };
            self.detach(at, &Attachment::TcFilter(filter), ours);
        }
    }

    fn live_state(
        &self,
        at: &AttachPoint<'_>,
        live: &Attachment,
        expected: &Expected,
    ) -> LinkState {
        match live {
            Attachment::Link(path) => link::state(path, expected, |info| {
                link::on_interface(info, at, expected)
            }),
            Attachment::Map(_) => LinkState::Unreadable("TC is not attached to a map".into()),
            Attachment::TcFilter(f) => match find_filter(at, f) {
                Err(state) => state,
                Ok(None) => LinkState::FilterMissing(*f),
                Ok(Some(x)) if x.kind == "bpf" && x.prog_id == Some(expected.prog_id) => {
                    LinkState::Attached
                }
                Ok(Some(x)) => LinkState::FilterNotOurs {
                    filter: *f,
                    prog_id: x.prog_id,
                },
            },
        }
    }
}
