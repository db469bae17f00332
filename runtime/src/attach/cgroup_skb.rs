//! A cgroup block's program on its cgroup: `cgroup ingress` or `cgroup egress`
//! (cgroup_skb), `cgroup connect`, `sendmsg` or `bind` (sock_addr, one program per
//! address family, each its own link), attached with a cgroup link (`BPF_LINK_CREATE` on the cgroup directory) pinned in
//! the install, swapped with `BPF_LINK_UPDATE`, taken off with `BPF_LINK_DETACH`
//! ([`super::link`]).
//!
//! A cgroup link is always a multi attachment (the kernel forces `BPF_F_ALLOW_MULTI`
//! for links): every program on the cgroup and its ancestors runs, and any one that
//! drops wins, so sockc's block and another tool's programs (systemd's
//! `IPAddressDeny=`, `IPEgressFilterPath=`) both apply and neither overrides the
//! other. Invariant: the link is on the cgroup directory the block names as that
//! directory is when it attaches; a directory removed and made again is another
//! cgroup, which `status` reports ([`super::sock_ops::cgroup_link_state`]) and
//! `repair` attaches to anew.

use std::{os::fd::AsFd, os::fd::BorrowedFd, path::Path};

use aya_obj::generated::bpf_link_info;

use super::{
    link::{LinkType, NewLink},
    sock_ops::{cgroup_link, cgroup_link_state, open_cgroup},
    AttachError, AttachPoint, Expected, LinkState,
};

/// The cgroup link type of cgroup blocks (cgroup_skb's directions and sock_addr's
/// calls: the row's attach type says which hook).
pub struct CgroupSkb;

impl LinkType for CgroupSkb {
    const NAME: &'static str = "cgroup_skb";

    fn create(
        &self,
        prog: BorrowedFd<'_>,
        at: &AttachPoint<'_>,
        _link_pin: &Path,
        _notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError> {
        let cgroup = open_cgroup(at.attach_to)?;
        cgroup_link(prog, cgroup.as_fd(), at)
    }

    fn where_linked(
        &self,
        info: &bpf_link_info,
        at: &AttachPoint<'_>,
        _expected: &Expected,
    ) -> LinkState {
        cgroup_link_state(info, at)
    }
}
