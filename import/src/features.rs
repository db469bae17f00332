//! What a netfilter ruleset can say that sockc's language cannot (yet): one
//! [`Feature`] per construct, with the reason the report gives and whether the
//! language has it today.
//!
//! Invariant: this is the one place that names what the language lacks, and every
//! refusal the lowering makes goes through a [`Feature`]. When the language gains a
//! construct, its [`Feature::available`] arm turns true and one arm of the lowering
//! writes its syntax instead of refusing:
//!
//! - `CtState` (available): `lower/ct.rs` writes the cube's states at xdp and tc, each
//!   rule approximate and rewritten to err on the strict side;
//!   `lower/cube.rs`'s `Dim::CtState` check stays for the netfilter program;
//! - `Interface` (available in netfilter blocks): `lower/iface.rs` writes a cube's
//!   name tests as `in on`/`out on` there, and its index tests (nft's `iif`/`oif` by
//!   a number or `"lo"`) as `in index`/`out index`; at xdp and tc, where a block
//!   already runs on one interface, `lower/cube.rs`'s `AtomKind::Iif`/`Oif` (and
//!   `IifIndex`/`OifIndex`) arm still refuses the tests the placement did not decide;
//! - `Limit` (available), and `Hashlimit` for per-source buckets: `lower/limit.rs`
//!   decides which limits keep netfilter's one bucket per rule and `lower/cube.rs`
//!   writes them; the others stay refusals through the `AtomKind::Opaque` arm;
//! - `Reject` (available): `lower/mod.rs`, `reject_action` writes `reject with ...`
//!   at ingress and keeps `drop` (approximate) where the language cannot answer; the
//!   file gets no `reject answers` line, so its ICMP answers take the kernel's limits
//!   as netfilter's do (exact);
//! - `LocalForwarded`: `semantics/mod.rs`, `split_place` (input rules conjoined with
//!   "local", forward rules with "forwarded", instead of the marks);
//! - `NetfilterHook` (available): `lower/mod.rs` (`Program::Netfilter`) writes one
//!   `netfilter HOOK priority N` block per hook and priority of the source's base
//!   chains; it also makes `netfilter` the default `--hook` (`Hook::default`, in
//!   `lib.rs`);
//! - `NetfilterLimit`: `lib.rs`, `write` (a [`crate::lower::limit::LimitPlan`] that
//!   refuses every limit at the netfilter hooks while it is off);
//! - `Owner` (available in netfilter output and postrouting blocks, for `-m owner
//!   --uid-owner/--gid-owner` and `meta skuid/skgid`): `lower/owner.rs` writes a
//!   cube's owner as `owner uid|gid ...` there, and `lower/cgroup.rs` a cube's
//!   `-m cgroup --path` / `socket cgroupv2` tests as `cgroup [!]"DIR"` in netfilter
//!   input, output and postrouting blocks (output for nft); `--cgroup` (net_cls),
//!   `--suppl-groups`, `--socket-exists`, both owner kinds in one rule and other
//!   hooks stay refusals.

use std::fmt;

/// A construct the import meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// `ct state`, `-m conntrack --ctstate`, `-m state`.
    CtState,
    /// Other conntrack fields (`--ctstatus`, `--ctorigsrc`, `ct mark`, helpers ...).
    Conntrack,
    /// `REJECT`, nft `reject`.
    Reject,
    /// `-m limit`, nft `limit`.
    Limit,
    /// `-m hashlimit`, nft meters: per-key rate limits.
    Hashlimit,
    /// `-i`/`-o`, `iifname`/`oifname` the placement cannot decide.
    Interface,
    /// Telling local from forwarded traffic at an ingress hook.
    LocalForwarded,
    /// Blocks at a netfilter hook (`--hook netfilter`).
    NetfilterHook,
    /// `limit` in a netfilter block.
    NetfilterLimit,
    /// `-m addrtype` LOCAL/BROADCAST/..., nft `fib daddr type`: the host's addresses.
    AddrType,
    /// Packet and connection marks (`-m mark`, `-m connmark`, `meta mark`).
    Mark,
    /// NAT (`DNAT`, `SNAT`, `MASQUERADE`, `REDIRECT`, nft `dnat` ...).
    Nat,
    /// Packet changes (`TCPMSS`, `TOS`, `TTL`, `MARK`, nft `... set ...`).
    Mangle,
    /// `NFQUEUE`, nft `queue`: userspace decides.
    Queue,
    /// `-m recent`.
    Recent,
    /// `-m string`.
    StringMatch,
    /// `-m owner`, `-m cgroup`, `meta skuid`: the sending socket's owner.
    Owner,
    /// `-m set` with a negation or several dimensions, nft set lookups the import
    /// cannot write as an address or port set.
    SetMatch,
    /// IP header fields sockc does not read: length, DSCP/TOS, ECN, fragments, IP
    /// options, IPv6 extension headers (the TTL and hop limit it reads: `ttl`,
    /// `hoplimit`, written by `lower/cube.rs`).
    IpHeader,
    /// Transport fields sockc does not read (TCP options, SCTP chunks, DCCP types,
    /// AH/ESP SPIs, ...).
    L4Header,
    /// Link-layer matches (`-m mac`, `-m physdev`, `pkttype`, VLAN, ARP, bridge).
    LinkLayer,
    /// Anything else, named in the reason.
    Other,
}

impl Feature {
    /// Whether sockc's language expresses it today.
    pub fn available(self) -> bool {
        match self {
            Feature::CtState
            | Feature::Reject
            | Feature::Limit
            | Feature::NetfilterHook
            | Feature::NetfilterLimit
            | Feature::Owner => true,
            Feature::Interface | Feature::LocalForwarded => false,
            _ => false,
        }
    }

    /// Whether the language issue is to add it (the report says so).
    pub fn planned(self) -> bool {
        matches!(
            self,
            Feature::CtState | Feature::LocalForwarded | Feature::NetfilterHook
        )
    }

    /// What the report says is missing.
    pub fn needs(self) -> &'static str {
        match self {
            Feature::CtState => "`ct state`",
            Feature::Conntrack => "conntrack fields other than the state",
            Feature::Reject => "`reject`",
            Feature::Limit => "a rate limit the language can write with one bucket per rule",
            Feature::Hashlimit => {
                "per-key rate limits other than per source address (hashlimit, meters)"
            }
            Feature::Interface => {
                "an interface match `in on`/`out on` can write (netfilter blocks only)"
            }
            Feature::LocalForwarded => "a local/forwarded match",
            Feature::NetfilterHook => "netfilter hook blocks",
            Feature::NetfilterLimit => "`limit` in netfilter blocks",
            Feature::AddrType => "the host's address types (addrtype, fib)",
            Feature::Mark => "packet or connection marks",
            Feature::Nat => "NAT (sockc does not rewrite addresses)",
            Feature::Mangle => "packet changes (mangle)",
            Feature::Queue => "userspace queueing",
            Feature::Recent => "`-m recent` (per-address history)",
            Feature::StringMatch => "payload string matching",
            Feature::Owner => "the sending socket's owner or cgroup",
            Feature::SetMatch => "this kind of set lookup",
            Feature::IpHeader => "IP header fields sockc does not read",
            Feature::L4Header => "transport header fields sockc does not read",
            Feature::LinkLayer => "link-layer matches",
            Feature::Other => "a construct sockc does not have",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.needs())?;
        if self.planned() {
            f.write_str(" (language issue)")?;
        }
        Ok(())
    }
}
