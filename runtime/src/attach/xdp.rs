//! XDP: programs on an interface's receive path, attached through a pinned XDP link.
//!
//! Driver (native) mode first; where the driver has no XDP support the program is
//! attached in generic (skb) mode and a notice says so. Invariant: the attachment is
//! always a bpf_link, never a netlink-attached program, because only a link can be
//! pinned, swapped atomically with `BPF_LINK_UPDATE` and detached on its own.

use std::{os::fd::BorrowedFd, path::Path};

use aya::programs::ProgramError;
use aya_obj::generated::{
    bpf_attach_type::BPF_XDP, bpf_link_info, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE,
};

use super::{
    if_index,
    link::{self, LinkType, NewLink},
    run_on_frame, AttachError, AttachMode, AttachPoint, Expected, LinkState,
};
use crate::{error_chain, sys, RunResult};

/// The XDP link type.
pub struct Xdp;

impl LinkType for Xdp {
    const NAME: &'static str = "XDP";

    fn create(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        _link_pin: &Path,
        notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError> {
        let iface = at.attach_to;
        wait_until_free(iface)?;
        let ifindex = if_index(iface).ok_or_else(|| AttachError::Xdp {
            mode: "driver",
            source: std::io::Error::from_raw_os_error(libc::ENODEV),
        })?;
        let attach = |flags| sys::link_create_on_interface(prog, ifindex, BPF_XDP as u32, flags);
        let (link, mode) = match attach(XDP_FLAGS_DRV_MODE) {
            Ok(link) => (link, AttachMode::XdpDriver),
            Err(e) => {
                notices.push(format!(
                    "{at}: driver mode not available ({}); attached in generic mode",
                    error_chain(&e)
                ));
                let link = attach(XDP_FLAGS_SKB_MODE).map_err(|source| AttachError::Xdp {
                    mode: "generic",
                    source,
                })?;
                (link, AttachMode::XdpGeneric)
            }
        };
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
