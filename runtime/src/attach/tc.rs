//! TC (ingress and egress): programs on an interface's traffic-control hooks, attached
//! through a pinned TCX link, or through a netlink filter on the clsact qdisc where
//! the kernel has no TCX (before 6.6) or the user asks for it.
//!
//! The hook's direction comes from its row of the hook table (its attach type is
//! `BPF_TCX_INGRESS` or `BPF_TCX_EGRESS`). A clsact filter holds its program by
//! itself, so the program stays after sockc exits with no link; the manifest records
//! the filter's priority and handle, a swap is a netlink replace of that same filter
//! (atomic in the kernel), and a detach deletes it. Invariant: a TCX attachment is a
//! pinned link, exactly as XDP's is.

use std::path::Path;

use aya::programs::{
    links::{FdLink, LinkOrder},
    tc::{NlOptions, SchedClassifierLink, TcAttachOptions},
    Program, ProgramError, SchedClassifier, TcAttachType, TestRun, TestRunOptions,
};
use aya_obj::generated::bpf_attach_type;

use super::{
    link, AttachError, AttachMode, AttachOptions, AttachPoint, Attached, Attachment, Backend,
    LinkState, TcAttach, TcFilter,
};
use crate::{error_chain, RunResult};

/// The TC backend (TCX links or clsact filters).
pub struct Tc;

fn classifier(prog: &mut Program) -> Result<&mut SchedClassifier, ProgramError> {
    prog.try_into()
}

/// The direction of a TC hook, from its attach type in the hook table.
fn direction(at: &AttachPoint<'_>) -> TcAttachType {
    if at.spec().attach_type == bpf_attach_type::BPF_TCX_EGRESS {
        TcAttachType::Egress
    } else {
        TcAttachType::Ingress
    }
}

/// The netlink filter sockc attached at `at`, as aya's link to it.
fn filter_link(at: &AttachPoint<'_>, f: TcFilter) -> Result<SchedClassifierLink, ProgramError> {
    SchedClassifierLink::attached(
        at.attach_to,
        direction(at),
        f.priority,
        f.handle.into(),
        None,
    )
    .map_err(Into::into)
}

/// Attaches through a netlink filter on the clsact qdisc (created if missing).
fn attach_clsact(tc: &mut SchedClassifier, at: &AttachPoint<'_>) -> Result<TcFilter, AttachError> {
    // An existing clsact qdisc is fine; a real problem shows in the attach below.
    let _ = aya::programs::tc::qdisc_add_clsact(at.attach_to);
    let id = tc
        .attach_with_options(
            at.attach_to,
            direction(at),
            TcAttachOptions::Netlink(NlOptions::default()),
        )
        .map_err(AttachError::Clsact)?;
    let link = tc.take_link(id)?;
    let filter = TcFilter {
        priority: link.priority()?,
        handle: link.handle()?.into(),
    };
    // Dropping the link would delete the filter.
    std::mem::forget(link);
    Ok(filter)
}

impl Backend for Tc {
    fn load(&self, prog: &mut Program) -> Result<(), ProgramError> {
        classifier(prog)?.load()
    }

    fn attach(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        link_pin: &Path,
        opts: &AttachOptions,
        notices: &mut Vec<String>,
    ) -> Result<Attached, AttachError> {
        let tc = classifier(prog)?;
        let tcx = match opts.tc {
            TcAttach::Clsact => None,
            TcAttach::Auto | TcAttach::Tcx => Some(tc.attach_with_options(
                at.attach_to,
                direction(at),
                TcAttachOptions::TcxOrder(LinkOrder::default()),
            )),
        };
        match tcx {
            Some(Ok(id)) => {
                let fd = FdLink::try_from(tc.take_link(id)?)?;
                link::pin(fd, link_pin)?;
                Ok(Attached {
                    mode: AttachMode::Tcx,
                    attachment: Attachment::Link(link_pin.to_path_buf()),
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
                    attachment: Attachment::TcFilter(attach_clsact(tc, at)?),
                })
            }
        }
    }

    fn replace(
        &self,
        prog: &mut Program,
        at: &AttachPoint<'_>,
        live: &Attachment,
    ) -> Result<(), AttachError> {
        match live {
            Attachment::Link(path) => link::update(path, prog),
            Attachment::TcFilter(f) => {
                let tc = classifier(prog)?;
                let id = tc.attach_to_link(filter_link(at, *f)?)?;
                // Dropping the link would delete the filter.
                std::mem::forget(tc.take_link(id)?);
                Ok(())
            }
        }
    }

    fn detach(&self, at: &AttachPoint<'_>, live: &Attachment) {
        match live {
            Attachment::Link(path) => link::detach(path),
            Attachment::TcFilter(f) => {
                if let Ok(l) = filter_link(at, *f) {
                    let _ = aya::programs::links::Link::detach(l);
                }
            }
        }
    }

    fn live_state(&self, _at: &AttachPoint<'_>, live: &Attachment, expected: u32) -> LinkState {
        match live {
            Attachment::Link(path) => link::state(path, expected),
            Attachment::TcFilter(f) => LinkState::FilterNotChecked(*f),
        }
    }

    fn test_run(
        &self,
        prog: &Program,
        input: &[u8],
        repeat: u32,
    ) -> Result<RunResult, ProgramError> {
        let Program::SchedClassifier(t) = prog else {
            return Err(ProgramError::UnexpectedProgramType);
        };
        let r = t.test_run(TestRunOptions {
            data_in: Some(input),
            repeat: repeat.max(1),
            ..TestRunOptions::default()
        })?;
        Ok(RunResult {
            retval: r.return_value,
            duration: r.duration,
        })
    }
}
