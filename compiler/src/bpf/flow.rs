//! The flow record: what the prologue of every hook context writes on the stack and
//! every rule tests, so rule code is the same whatever the program's context. The
//! packet prologue ([`super::packet`]) fills it from a frame, the sk_lookup prologue
//! (`lower::sk_lookup`) from `struct bpf_sk_lookup`.
//!
//! Layout of the flow record at `r10 + FLOW` (all offsets relative to `FLOW`).
//! The `*_PLEN` words in front of each address make `PLEN..ADDR` a ready-made LPM
//! trie key (`{u32 prefixlen; u8 addr[]}`) for set lookups.
//!
//! Invariant: a prologue zeroes the whole record first, then stores `L3` as 0, 4 or 6
//! and `L4_OK` and `FRAG` as 0 or 1 only (the threading pass assumes it; tests check each
//! prologue).

pub(crate) const FLOW: i16 = -96;
pub(crate) const SRC4_PLEN: i16 = 0;
pub const SRC4: i16 = 4;
pub(crate) const DST4_PLEN: i16 = 8;
pub const DST4: i16 = 12;
pub(crate) const SRC6_PLEN: i16 = 16;
pub const SRC6: i16 = 20;
pub(crate) const DST6_PLEN: i16 = 36;
pub const DST6: i16 = 40;
/// 0 = not IP (or unparseable), 4, 6.
pub const L3: i16 = 56;
pub const PROTO: i16 = 57;
/// 1 when the TCP/UDP/ICMP header was present in full.
pub const L4_OK: i16 = 58;
pub const TCP_FLAGS: i16 = 59;
/// Host byte order.
pub const SPORT: i16 = 60;
pub const DPORT: i16 = 62;
pub const ICMP_TYPE: i16 = 64;
pub const ICMP_CODE: i16 = 65;
/// What the socket lookup found, once a socket condition has asked (the prologue
/// leaves it 0 = not looked up yet); values in [`crate::ir::flow::fact`].
pub(crate) const SOCK: i16 = 66;
/// 1 for a fragment (IPv4 with MF or an offset, IPv6 with a fragment header).
pub const FRAG: i16 = 67;
pub const PKT_LEN: i16 = 68;
pub(crate) const COUNTER_KEY: i16 = 72;
/// The socket map slot of a redirect (sk_lookup), then its drop counter slot.
pub(crate) const SOCKET_SLOT: i16 = 76;
/// Which half of the classifier tables this packet walks (programs with
/// classifiers; see `bpf::classify::emit_select`). It shares its word with
/// [`SOCKET_SLOT`]: the half is written once after the prologue and read only by
/// classifier walks, the slot only in a redirect block, which always ends the
/// program, so no walk reads the word after a slot was stored in it.
pub(crate) const TABLE_HALF: i16 = 76;
/// The EtherType after at most one VLAN tag, host byte order (written only by
/// programs with a frame match: `arp`, `ether type`).
pub const ETHER_TYPE: i16 = 80;
/// The outer VLAN tag: `0x1000 | id` when the frame has one, 0 when not (written only
/// by programs with a `vlan` match).
pub const VLAN: i16 = 82;
/// The packet's connection-tracking state, once a `ct state` test has asked (0 = not
/// derived yet); values are `syntax::ct::CtState`'s.
pub(crate) const CT: i16 = 84;
/// The packet's route class, once a `route` test has asked (0 = not looked up yet);
/// values are `syntax::route::RouteClass`'s.
pub(crate) const ROUTE: i16 = 85;
/// Where the upper-layer header starts in the frame, in bytes from `data`; 0 when the
/// prologue did not reach it. Written only by packet programs that test `ct state`
/// (which look up the flow an ICMP error quotes: `bpf::ct`) or reject (whose answers
/// start from that header: `bpf::lower::reject`).
pub(crate) const L4_OFF: i16 = 86;
/// The IPv4 TTL or the IPv6 hop limit (which one: `L3`). Written only by programs
/// with a `ttl` or `hoplimit` test (`bpf::header`). Offsets 88 to 127 hold the IP
/// and transport header fields rules compare (`syntax::ipfield`); 128 and up are
/// for packet metadata (marks, conntrack, owner).
pub const HOP_LIMIT: i16 = 88;
/// The IPv4 TOS byte or the IPv6 traffic class: the DSCP in its top six bits, the ECN
/// in its low two. Written only by programs with a `dscp` or `ecn` test
/// (`bpf::header`).
pub const TOS: i16 = 89;
/// The IP packet's length as the header gives it (`syntax::ipfield::Field::Length`:
/// the IPv4 total length, the IPv6 payload length plus 40), a host-order word.
/// Written only by programs with a `length` test (`bpf::header`).
pub const LENGTH: i16 = 92;
pub const SIZE: i16 = 96;

/// Absolute frame-pointer offset of a field.
pub(crate) const fn at(field: i16) -> i16 {
    FLOW + field
}
