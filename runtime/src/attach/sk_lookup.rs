//! sk_lookup: programs that pick the socket for a TCP connection or UDP datagram
//! before the kernel's own socket lookup, attached to a network namespace through a
//! pinned netns link (`BPF_LINK_CREATE` on the namespace's fd).
//!
//! The namespace is the one sockc runs in: the CLI has entered `--netns` before any
//! hook is touched. A namespace holds any number of sk_lookup programs, run in
//! attach order; sockc's link is one of them and never displaces another tool's.
//! Invariant: the link's namespace is checked by inode when its state is read, so a
//! link left on a namespace that is gone (or on another one) is drift, not "attached".
//! A test run takes a `struct bpf_sk_lookup` as input and no packet: [`context`]
//! builds one (the loader's test run gives back the cookie of the socket the program
//! selected).

use std::{
    fs::File,
    net::{IpAddr, SocketAddr},
    os::fd::{AsFd, BorrowedFd},
    path::Path,
};

use aya_obj::generated::{bpf_attach_type::BPF_SK_LOOKUP, bpf_link_info, bpf_link_type};
use sockc_compiler::hooks::{AF_INET, AF_INET6, SK_LOOKUP_CTX};

use super::{
    link::{self, LinkType, NewLink},
    AttachError, AttachMode, AttachPoint, Expected, LinkState,
};
use crate::sys;

/// The sk_lookup link type (netns links).
pub struct SkLookup;

impl LinkType for SkLookup {
    const NAME: &'static str = "sk_lookup";

    fn create(
        &self,
        prog: BorrowedFd<'_>,
        _at: &AttachPoint<'_>,
        _link_pin: &Path,
        _notices: &mut Vec<String>,
    ) -> Result<NewLink, AttachError> {
        let netns =
            File::open("/proc/thread-self/ns/net").map_err(|source| AttachError::OpenLink {
                path: "/proc/thread-self/ns/net".into(),
                source,
            })?;
        let link = sys::link_create(prog, netns.as_fd(), BPF_SK_LOOKUP as u32)
            .map_err(AttachError::LinkCreate)?;
        Ok(NewLink {
            link,
            mode: AttachMode::Netns,
            ifindex: 0,
        })
    }

    /// On the namespace sockc runs in (the install's, entered by inode): a link whose
    /// namespace is gone shows inode 0.
    fn where_linked(
        &self,
        info: &bpf_link_info,
        _at: &AttachPoint<'_>,
        _expected: &Expected,
    ) -> LinkState {
        if info.type_ != bpf_link_type::BPF_LINK_TYPE_NETNS as u32 {
            return link::unexpected_type(info.type_);
        }
        // SAFETY: reading the union member the kernel filled for a netns link.
        let linked = unsafe { info.__bindgen_anon_1.netns.netns_ino };
        let here = crate::netns::current_ino().ok();
        match linked {
            0 => LinkState::NetnsGone,
            ino if here.is_some_and(|h| h as u32 != ino) => LinkState::NotHere,
            _ => LinkState::Attached,
        }
    }
}

/// The `struct bpf_sk_lookup` that `BPF_PROG_TEST_RUN` turns into a lookup of
/// protocol `proto` (6 or 17) from `remote` to `local` (both of one family).
pub fn context(proto: u8, remote: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let c = &SK_LOOKUP_CTX;
    let mut b = vec![0u8; c.size];
    let mut put = |off: i16, bytes: &[u8]| {
        let off = off as usize;
        b[off..off + bytes.len()].copy_from_slice(bytes);
    };
    let family = if remote.is_ipv4() { AF_INET } else { AF_INET6 };
    put(c.family, &family.to_ne_bytes());
    put(c.protocol, &u32::from(proto).to_ne_bytes());
    for (addr, v4, v6) in [
        (remote.ip(), c.remote_ip4, c.remote_ip6),
        (local.ip(), c.local_ip4, c.local_ip6),
    ] {
        match addr {
            IpAddr::V4(a) => put(v4, &a.octets()),
            IpAddr::V6(a) => put(v6, &a.octets()),
        }
    }
    put(c.remote_port, &remote.port().to_be_bytes());
    put(c.local_port, &u32::from(local.port()).to_ne_bytes());
    b
}
