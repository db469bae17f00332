//! XDP: programs on an interface's receive path, attached through a pinned XDP link.
//!
//! Driver (native) mode first; where the driver has no XDP support the program is
//! attached in generic (skb) mode and a notice says so. Invariant: the attachment is
//! always a bpf_link, never a netlink-attached program, because only a link can be
//! pinned, swapped atomically with `BPF_LINK_UPDATE` and detached on its own.

use std::{os::fd::BorrowedFd, path::Path};

use aya::programs::{links::FdLink, Program, ProgramError, XdpMode};
use aya_obj::generated::bpf_link_info;

use super::{
    if_index,
    link::{self, LinkFd, LinkType, NewLink},
    run_on_frame, AttachError, AttachMode, AttachPoint, Expected, LinkState,
};
use crate::{error_chain, RunResult};

/// The XDP link type.
pub struct Xdp;

fn xdp(prog: &mut Program) -> Result<&mut aya::programs::Xdp, ProgramError> {
    prog.try_into()
}

impl LinkType for Xdp {
    const NAME: &'static str = "XDP";

    fn open_pinned(&self, path: &Path) -> Result<Program, ProgramError> {
        aya::programs::Xdp::from_pin(path, aya_obj::programs::XdpAttachType::Interface)
            .map(Program::Xdp)
    }

    fn create(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        _link_pin: &Path,
        notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError> {
        let x = xdp(prog)?;
        let iface = at.attach_to;
        wait_until_free(iface)?;
        let (id, mode) = match x.attach(iface, XdpMode::Driver) {
            Ok(id) => (id, AttachMode::XdpDriver),
            Err(e) => {
                notices.push(format!(
                    "{at}: driver mode not available ({}); attached in generic mode",
                    error_chain(&e)
                ));
                (x.attach(iface, XdpMode::Skb)?, AttachMode::XdpGeneric)
            }
        };
        let fd = FdLink::try_from(x.take_link(id)?).map_err(AttachError::NotPinnable)?;
        Ok(NewLink {
            link: LinkFd::Aya(fd),
            mode,
            ifindex: if_index(iface).unwrap_or(0),
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

    fn test_run(
        &self,
        prog: BorrowedFd<'_>,
        input: &[u8],
        repeat: u32,
    ) -> Result<RunResult, ProgramError> {
        run_on_frame(prog, input, repeat)
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
