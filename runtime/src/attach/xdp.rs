//! XDP: programs on an interface's receive path, attached through a pinned XDP link.
//!
//! Driver (native) mode first; where the driver has no XDP support the program is
//! attached in generic (skb) mode and a notice says so. Invariant: the attachment is
//! always a bpf_link, never a netlink-attached program, because only a link can be
//! pinned, swapped atomically with `BPF_LINK_UPDATE` and detached on its own.

use std::path::Path;

use aya::programs::{links::FdLink, Program, TestRun, TestRunOptions, XdpMode};

use super::{
    if_index, link, AttachError, AttachMode, AttachOptions, AttachPoint, Attached, Attachment,
    Backend, Expected, LinkState,
};
use crate::{error_chain, RunResult};

/// The XDP backend.
pub struct Xdp;

fn xdp(prog: &mut Program) -> Result<&mut aya::programs::Xdp, aya::programs::ProgramError> {
    prog.try_into()
}

impl Backend for Xdp {
    fn load(&self, prog: &mut Program) -> Result<(), aya::programs::ProgramError> {
        xdp(prog)?.load()
    }

    fn open_pinned(&self, path: &Path) -> Result<Program, aya::programs::ProgramError> {
        aya::programs::Xdp::from_pin(path, aya_obj::programs::XdpAttachType::Interface)
            .map(Program::Xdp)
    }

    fn attach(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        _opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let x = xdp(prog)?;
        let iface = at.attach_to;
        // An interface has room for one XDP program: name whoever holds it. A link
        // whose last pin was just removed is released by the kernel a moment later (from
        // a workqueue), so a holder gets a little time to go first.
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
        link::pin(fd, link_pin)?;
        Ok(Attached {
            mode,
            attachment: Attachment::Link(link_pin.to_path_buf()),
            ifindex: if_index(iface).unwrap_or(0),
        })
    }

    fn replace(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        match live {
            Attachment::Link(path) => link::update(path, prog),
            other => Err(AttachError::WrongAttachment {
                hook: at.hook,
                what: other.kind(),
            }),
        }
    }

    fn detach(&self, _at: &AttachPoint<'_>, live: &Attachment, _ours: u32) {
        if let Attachment::Link(path) = live {
            link::detach(path);
        }
    }

    fn live_state(
        &self,
        at: &AttachPoint<'_>,
        live: &Attachment,
        expected: &Expected,
    ) -> LinkState {
        match live {
            Attachment::Link(path) => link::state(path, at, expected),
            Attachment::TcFilter(f) => LinkState::FilterNotOurs {
                filter: *f,
                prog_id: None,
            },
            Attachment::Map(_) => LinkState::Unreadable("XDP is not attached to a map".into()),
        }
    }

    fn test_run(
        &self,
        prog: &Program,
        input: &[u8],
        repeat: u32,
    ) -> Result<RunResult, aya::programs::ProgramError> {
        let Program::Xdp(x) = prog else {
            return Err(aya::programs::ProgramError::UnexpectedProgramType);
        };
        let r = x.test_run(TestRunOptions {
            data_in: Some(input),
            repeat: repeat.max(1),
            ..TestRunOptions::default()
        })?;
        Ok(RunResult {
            retval: r.return_value,
            duration: r.duration,
            selected: None,
        })
    }
}
