//! The kernel's layouts that the hook table's rows point into: where each program
//! context keeps the fields sockc reads, and the return codes that are in neither
//! binding. Invariant: every offset is taken from aya-ebpf-bindings' structs with
//! `offset_of!` (or, for `struct bpf_nf_ctx`, which no binding has, checked against the
//! running kernel's BTF in a test), never written by hand from a header.

use core::mem::offset_of;

use aya_ebpf_bindings::bindings as uapi;

/// Where the two pointers of `struct bpf_nf_ctx` are (neither binding has the struct:
/// `include/linux/filter.h`; the kernel allows 8-byte loads of each and nothing else;
/// checked against the running kernel's BTF in a test).
#[derive(Clone, Copy, Debug)]
pub struct NfCtx {
    /// `const struct nf_hook_state *state`.
    pub state: i16,
    /// `struct sk_buff *skb`.
    pub skb: i16,
}

pub const NF_CTX: NfCtx = NfCtx { state: 0, skb: 8 };

/// A netfilter program's verdicts (`include/uapi/linux/netfilter.h`; in neither
/// binding). The verifier allows exactly these two return values.
pub const NF_DROP: i32 = 0;
pub const NF_ACCEPT: i32 = 1;

/// What a TCX program returns to let the packet go on to the next program of the
/// hook, as if it were not there (`enum tcx_action_base`).
pub const TCX_NEXT: i32 = uapi::tcx_action_base::TCX_NEXT;

/// Where a socket's addresses and ports are in a socket-layer context. Addresses are
/// network order; `local_port` is host order and `remote_port` holds the port in
/// network order in its upper 16 bits (the kernel loads `skc_dport` and shifts it left
/// by 16 on little-endian machines), so a 32-bit byte swap gives it in host order.
#[derive(Clone, Copy, Debug)]
pub struct SockCtx {
    /// `AF_INET` or `AF_INET6`.
    pub family: i16,
    pub remote_ip4: i16,
    pub local_ip4: i16,
    pub remote_ip6: i16,
    pub local_ip6: i16,
    pub remote_port: i16,
    pub local_port: i16,
    /// The `u32` length of the message or data, counted in the rule's bytes.
    pub len: Option<i16>,
    /// The 64-bit socket pointer (`struct bpf_sock *`), if the context has one.
    pub sk: Option<i16>,
}

/// Where the lookup's fields are in `struct bpf_sk_lookup` (all read-only; the
/// kernel allows 4-byte loads of each, and 2-byte loads of `remote_port`).
#[derive(Clone, Copy, Debug)]
pub struct SkLookupCtx {
    /// `u32`: `AF_INET` or `AF_INET6`.
    pub family: i16,
    /// `u32`: `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub protocol: i16,
    /// `u32`, network order.
    pub remote_ip4: i16,
    /// `u32[4]`, network order.
    pub remote_ip6: i16,
    /// `__be16`.
    pub remote_port: i16,
    /// `u32`, network order.
    pub local_ip4: i16,
    /// `u32[4]`, network order.
    pub local_ip6: i16,
    /// `u32`, host order.
    pub local_port: i16,
    /// Size of the struct: what `BPF_PROG_TEST_RUN` takes as the context.
    pub size: usize,
}

pub const SK_LOOKUP_CTX: SkLookupCtx = SkLookupCtx {
    family: offset_of!(uapi::bpf_sk_lookup, family) as i16,
    protocol: offset_of!(uapi::bpf_sk_lookup, protocol) as i16,
    remote_ip4: offset_of!(uapi::bpf_sk_lookup, remote_ip4) as i16,
    remote_ip6: offset_of!(uapi::bpf_sk_lookup, remote_ip6) as i16,
    remote_port: offset_of!(uapi::bpf_sk_lookup, remote_port) as i16,
    local_ip4: offset_of!(uapi::bpf_sk_lookup, local_ip4) as i16,
    local_ip6: offset_of!(uapi::bpf_sk_lookup, local_ip6) as i16,
    local_port: offset_of!(uapi::bpf_sk_lookup, local_port) as i16,
    size: core::mem::size_of::<uapi::bpf_sk_lookup>(),
};

/// Linux's address family numbers (`include/linux/socket.h`; the BPF bindings do not
/// carry them; a test checks them against libc on Linux). They are the values of
/// `bpf_sk_lookup.family` and of `BPF_PROG_TEST_RUN`'s context, and of the socket
/// contexts' `family` ([`SockCtx`]).
pub const AF_INET: u32 = 2;
pub const AF_INET6: u32 = 10;

/// Where the packet bytes are in the program's context.
#[derive(Clone, Copy, Debug)]
pub struct PacketCtx {
    /// Offset of the `u32` data pointer field.
    pub data: i16,
    /// Offset of the `u32` data_end pointer field.
    pub data_end: i16,
    /// Offset of a `u32` total length field (`skb->len`), if the context has one; XDP
    /// uses `data_end - data`.
    pub len: Option<i16>,
    /// Offsets of the `u32` fields `vlan_present` and `vlan_tci`, where the stack has
    /// already taken the outer VLAN tag out of the frame (`struct __sk_buff`); XDP
    /// sees every tag in the frame.
    pub vlan_meta: Option<(i16, i16)>,
    /// Offset of the `u32` field holding the packet's EtherType in network order
    /// (`skb->protocol`) where the packet data starts at the network header
    /// (cgroup_skb); `None` where it starts at the Ethernet header.
    pub protocol: Option<i16>,
}

pub(super) const XDP_CTX: PacketCtx = PacketCtx {
    data: offset_of!(uapi::xdp_md, data) as i16,
    data_end: offset_of!(uapi::xdp_md, data_end) as i16,
    len: None,
    vlan_meta: None,
    protocol: None,
};

pub(super) const SKB_CTX: PacketCtx = PacketCtx {
    data: offset_of!(uapi::__sk_buff, data) as i16,
    data_end: offset_of!(uapi::__sk_buff, data_end) as i16,
    len: Some(offset_of!(uapi::__sk_buff, len) as i16),
    vlan_meta: Some((
        offset_of!(uapi::__sk_buff, vlan_present) as i16,
        offset_of!(uapi::__sk_buff, vlan_tci) as i16,
    )),
    protocol: None,
};

/// A cgroup_skb program's `struct __sk_buff`: the data starts at the network header
/// (the kernel runs it at socket delivery and in `ip_finish_output`, where no link
/// header is in front), and the stack has taken any VLAN tag off.
pub(super) const CGROUP_SKB_CTX: PacketCtx = PacketCtx {
    vlan_meta: None,
    protocol: Some(offset_of!(uapi::__sk_buff, protocol) as i16),
    ..SKB_CTX
};

/// Socket fields of `struct sk_msg_md`.
pub(super) const SK_MSG_CTX: SockCtx = SockCtx {
    family: offset_of!(uapi::sk_msg_md, family) as i16,
    remote_ip4: offset_of!(uapi::sk_msg_md, remote_ip4) as i16,
    local_ip4: offset_of!(uapi::sk_msg_md, local_ip4) as i16,
    remote_ip6: offset_of!(uapi::sk_msg_md, remote_ip6) as i16,
    local_ip6: offset_of!(uapi::sk_msg_md, local_ip6) as i16,
    remote_port: offset_of!(uapi::sk_msg_md, remote_port) as i16,
    local_port: offset_of!(uapi::sk_msg_md, local_port) as i16,
    len: Some(offset_of!(uapi::sk_msg_md, size) as i16),
    // `__bpf_md_ptr(struct bpf_sock *, sk)`, the last member.
    sk: Some(offset_of!(uapi::sk_msg_md, __bindgen_anon_3) as i16),
};

/// Socket fields of `struct __sk_buff` (the socket the data arrived on).
pub(super) const SK_SKB_CTX: SockCtx = SockCtx {
    family: offset_of!(uapi::__sk_buff, family) as i16,
    remote_ip4: offset_of!(uapi::__sk_buff, remote_ip4) as i16,
    local_ip4: offset_of!(uapi::__sk_buff, local_ip4) as i16,
    remote_ip6: offset_of!(uapi::__sk_buff, remote_ip6) as i16,
    local_ip6: offset_of!(uapi::__sk_buff, local_ip6) as i16,
    remote_port: offset_of!(uapi::__sk_buff, remote_port) as i16,
    local_port: offset_of!(uapi::__sk_buff, local_port) as i16,
    len: Some(offset_of!(uapi::__sk_buff, len) as i16),
    sk: Some(offset_of!(uapi::__sk_buff, __bindgen_anon_2) as i16),
};

/// Socket fields of `struct bpf_sock_ops`.
pub(super) const SOCK_OPS_CTX: SockCtx = SockCtx {
    family: offset_of!(uapi::bpf_sock_ops, family) as i16,
    remote_ip4: offset_of!(uapi::bpf_sock_ops, remote_ip4) as i16,
    local_ip4: offset_of!(uapi::bpf_sock_ops, local_ip4) as i16,
    remote_ip6: offset_of!(uapi::bpf_sock_ops, remote_ip6) as i16,
    local_ip6: offset_of!(uapi::bpf_sock_ops, local_ip6) as i16,
    remote_port: offset_of!(uapi::bpf_sock_ops, remote_port) as i16,
    local_port: offset_of!(uapi::bpf_sock_ops, local_port) as i16,
    len: None,
    sk: None,
};

/// Where a `connect()`'s destination is in `struct bpf_sock_addr` (the context of
/// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`): the address the caller passed, before the
/// kernel routes it. `user_port` holds the port in network order in its low 16 bits.
/// The layout the `cgroup connect` rows will read; checked against the running
/// kernel's BTF in a test.
#[derive(Clone, Copy, Debug)]
pub struct SockAddrCtx {
    /// `u32`: the `sa_family` the caller passed.
    pub user_family: i16,
    /// `u32`, network order.
    pub user_ip4: i16,
    /// `u32[4]`, network order.
    pub user_ip6: i16,
    /// `u32`, the port in network order in the low 16 bits.
    pub user_port: i16,
    /// `u32`: the socket's family (`AF_INET`, `AF_INET6`).
    pub family: i16,
    /// `u32`: `IPPROTO_TCP`, `IPPROTO_UDP`, ... of the socket.
    pub protocol: i16,
}

pub const SOCK_ADDR_CTX: SockAddrCtx = SockAddrCtx {
    user_family: offset_of!(uapi::bpf_sock_addr, user_family) as i16,
    user_ip4: offset_of!(uapi::bpf_sock_addr, user_ip4) as i16,
    user_ip6: offset_of!(uapi::bpf_sock_addr, user_ip6) as i16,
    user_port: offset_of!(uapi::bpf_sock_addr, user_port) as i16,
    family: offset_of!(uapi::bpf_sock_addr, family) as i16,
    protocol: offset_of!(uapi::bpf_sock_addr, protocol) as i16,
};
