//! The hook table: every attach point sockc knows, described as data.
//!
//! One row per hook says how the user writes it, its ELF section and symbol prefix,
//! its program and attach type, what it attaches to ([`Target`]), what its program
//! reads ([`Context`]), its verdict codes, how `BPF_PROG_TEST_RUN` feeds it
//! ([`TestInput`]), and which matches, actions and conditions it allows. The
//! [`HookKind`] is typed from sema through the object's metadata, the runtime's
//! manifest and plans (serialized as the name the user writes); every decision about
//! a hook is a lookup in this table or an exhaustive `match` on [`HookKind`] or on a
//! column of it, so a hook that some stage does not handle is a compile error there.
//! Sema checks rules against this table, lowering reads contexts and verdicts from
//! it, the runtime picks the attach backend of the row's [`Target`]. Invariant: every
//! number here comes from the kernel UAPI bindings (aya-obj for program/attach types,
//! aya-ebpf-bindings for context structs and verdicts).

mod contexts;
mod table;
pub mod unit;

use core::fmt;

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::{bpf_attach_type, bpf_prog_type, nf_inet_hooks};
use serde::{Deserialize, Serialize};

pub use self::contexts::{
    NfCtx, PacketCtx, SkLookupCtx, SockAddrCtx, SockCtx, AF_INET, AF_INET6, NF_ACCEPT, NF_CTX,
    NF_DROP, SK_LOOKUP_CTX, SOCK_ADDR_CTX, TCX_NEXT,
};
pub use self::table::HOOKS;
use self::table::SOCK_CALL_BLOCKS;
use crate::syntax::ast::{ActionKw, HookHead, NfHook, SockCall, Verdict};

/// A hook, as stored in objects, manifests and plans: serialized as the name the user
/// writes (`xdp`, `tc ingress`, ...), so the JSON reads as the rule file does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HookKind {
    #[serde(rename = "xdp")]
    Xdp,
    #[serde(rename = "tc ingress")]
    TcIngress,
    #[serde(rename = "tc egress")]
    TcEgress,
    #[serde(rename = "sk_lookup")]
    SkLookup,
    /// A sockmap block's send side (sk_msg); the user writes `sockmap`.
    #[serde(rename = "sockmap")]
    SockmapSend,
    // ---- sockmap: the receive side, and the programs sockc adds around
    // every sockmap block (rows with `block: false`; see `HookSpec::companions`).
    #[serde(rename = "sockmap receive")]
    SockmapReceive,
    #[serde(rename = "sock_ops")]
    SockOps,
    #[serde(rename = "sk_msg dispatcher")]
    SkMsgDispatch,
    #[serde(rename = "sk_skb dispatcher")]
    SkSkbDispatch,
    // ---- sk_lookup: the program that registers a declared TCP socket
    // again when its service listens (a `socket` declared with `cgroup`).
    #[serde(rename = "sk_lookup register")]
    SkLookupRegister,
    // ---- netfilter hooks (`BPF_PROG_TYPE_NETFILTER`): one row per hook.
    #[serde(rename = "netfilter prerouting")]
    NfPrerouting,
    #[serde(rename = "netfilter input")]
    NfInput,
    #[serde(rename = "netfilter forward")]
    NfForward,
    #[serde(rename = "netfilter output")]
    NfOutput,
    #[serde(rename = "netfilter postrouting")]
    NfPostrouting,
    // ---- cgroup_skb (`BPF_PROG_TYPE_CGROUP_SKB`): packets a cgroup's sockets
    // receive and send.
    #[serde(rename = "cgroup ingress")]
    CgroupIngress,
    #[serde(rename = "cgroup egress")]
    CgroupEgress,
    // ---- cgroup sock_addr (`BPF_PROG_TYPE_CGROUP_SOCK_ADDR`): the socket calls of a
    // cgroup's processes, one row per call and address family; a block
    // (`cgroup connect "PATH"`) lowers to both families' programs ([`HookKind::ipv6_twin`]).
    #[serde(rename = "cgroup connect4")]
    CgroupConnect4,
    #[serde(rename = "cgroup connect6")]
    CgroupConnect6,
    #[serde(rename = "cgroup sendmsg4")]
    CgroupSendmsg4,
    #[serde(rename = "cgroup sendmsg6")]
    CgroupSendmsg6,
    #[serde(rename = "cgroup bind4")]
    CgroupBind4,
    #[serde(rename = "cgroup bind6")]
    CgroupBind6,
}

/// What a hook's program attaches to; the runtime has one attach backend per kind of
/// program on each target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A network interface, named after `on` (XDP, TC); the block's attach text.
    Interface,
    /// The network namespace sockc runs in, or the one `--netns` names (sk_lookup);
    /// the block has no attach text.
    Netns,
    /// A cgroup v2 directory, quoted after `cgroup` (the socket layer's sock_ops, and
    /// cgroup blocks).
    Cgroup,
    /// A socket map the runtime creates (sk_msg and sk_skb verdict programs).
    SockMap,
    /// Slot 0 of the program array that the block's dispatcher (a [`Target::SockMap`]
    /// program) tail-calls: a sockmap block's rules, swapped for every socket at once.
    TailCall,
    /// A netfilter hook of the network namespace sockc runs in (or `--netns`), one
    /// link per IP family; the block's attach text is its priority (decimal).
    Netfilter,
}

/// What the program's context is, and so which lowering emits it.
#[derive(Clone, Copy, Debug)]
pub enum Context {
    /// A packet (`xdp_md`, `__sk_buff`): parsed into the flow record by the prologue.
    Packet(PacketCtx),
    /// `struct bpf_sk_lookup`: a socket lookup about to happen; the lowering reads
    /// its fields into the flow record ([`SK_LOOKUP_CTX`]).
    SkLookup,
    /// `struct sk_msg_md`: a message a socket sends.
    SkMsg(SockCtx),
    /// `struct __sk_buff` of an sk_skb verdict program: data a socket received.
    SkSkb(SockCtx),
    /// `struct bpf_sock_ops`: a TCP socket's life events; `op` is the event.
    SockOps { sock: SockCtx, op: i16 },
    /// A dispatcher: tail-calls the program in slot 0 of its program array.
    Dispatch,
    /// `struct bpf_nf_ctx` (`state`, `skb`): the packet is read through a dynptr of
    /// `skb` and starts at the network header ([`NF_CTX`]).
    Netfilter,
    /// `struct bpf_sock_addr` ([`SOCK_ADDR_CTX`]): a socket call about to happen, with
    /// the address the caller passed. The verifier lets a program read the IPv4 or
    /// the IPv6 fields only, by its attach type: `ipv6` says which.
    SockAddr { ipv6: bool },
}

/// The priority of a `netfilter` block that names none. Not a standard one: a BPF
/// hook cannot share its priority with any function already at that hook (`EBUSY`),
/// and 0 is where iptables' and nftables' filter chains sit. 10 runs right after them,
/// after conntrack (-200), mangle (-150) and destination NAT (-100), so it sees what a
/// filter chain sees, and before source NAT (100).
pub const NF_DEFAULT_PRIORITY: i32 = 10;

/// How `BPF_PROG_TEST_RUN` feeds a program of this hook (`sockc test`, the kernel
/// tests and the differential suite run programs this way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestInput {
    /// An Ethernet frame as packet data.
    Frame,
    /// The context struct alone, no packet (sk_lookup).
    Context,
    /// The kernel cannot test-run this program type: end-to-end tests only.
    None,
}

/// What a rule may test in this hook.
#[derive(Clone, Copy, Debug)]
pub struct MatchCaps {
    pub addresses: bool,
    pub ports: bool,
    pub tcp_flags: bool,
    pub icmp: bool,
    pub socket_conditions: bool,
    /// `arp`, `ether type`, `vlan`: the program sees the Ethernet frame.
    pub frames: bool,
    /// `frag`: the program sees fragments as they are on the wire (XDP, TC); other
    /// hooks see packets after reassembly or before fragmentation.
    pub fragments: bool,
    /// `ct state ...`: the packet's connection-tracking state (a conntrack lookup at
    /// XDP and TC, the state conntrack gave the packet at netfilter hooks).
    pub ct_state: bool,
    /// `redirect local` (to the peer socket in the map).
    pub redirect_local: bool,
    /// `redirect ... to sock NAME ingress` (into the socket's receive queue).
    pub redirect_ingress: bool,
    /// The only protocols the hook ever sees (empty: any); a rule naming another
    /// could never match.
    pub protocols: &'static [u8],
    /// `owner ...`: which owner of the packet's socket a rule can test.
    pub owner: OwnerCap,
    /// `mark ...`: the program reads the packet's mark (`skb->mark`: TC and
    /// netfilter; an XDP program runs before there is a socket buffer).
    pub mark: bool,
    /// `from ...`: the hook knows where the traffic comes from. Not at the socket-call
    /// hooks: the kernel has not chosen a source address and port when they run.
    pub sources: bool,
    /// `ct status|direction|mark ...`: the program reads the packet's conntrack entry
    /// (netfilter hooks, through `skb->_nfct`).
    pub ct_entry: bool,
    /// `redirect ... to ADDRESS[:PORT]`: the program rewrites the call's address and
    /// port (`cgroup connect` and `cgroup sendmsg`).
    pub redirect_call: bool,
    /// `comm ...`: the command name of the process making the call (the socket-call
    /// hooks, which run in its context: `bpf_get_current_comm`).
    pub comm: bool,
    /// `cgroup "PATH"`: how the program reads the cgroup of the packet's socket (or
    /// of the calling process).
    pub cgroup: CgroupCap,
}

/// How a hook's program tells whether the packet's socket (or the calling process)
/// is in a cgroup or below it (`cgroup "PATH"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupCap {
    /// It cannot: no socket here (XDP, TC ingress, prerouting), or no way to read it.
    None,
    /// `bpf_skb_ancestor_cgroup_id(skb, level)`: the socket as `skb_to_full_sk` gives
    /// it (TC egress, cgroup ingress and egress).
    Skb,
    /// `skb->sk` read through BTF, as xt_cgroup reads it: a full socket of the hook's
    /// network namespace, its `sk_cgrp_data.cgroup` walked up to the level (netfilter
    /// input, output and postrouting).
    Netfilter,
    /// `bpf_get_current_ancestor_cgroup_id(level)`: the calling process's cgroup
    /// (socket-call hooks, which run in its context).
    Caller,
}

/// Which owner of the socket that sent a packet a hook can read (`owner ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerCap {
    /// None: the packet has no sending socket here, or the program cannot read it.
    None,
    /// The socket's uid (`bpf_get_socket_uid`, TC egress).
    Uid,
    /// The uid and gid of the socket's file, as `xt_owner` reads them (netfilter
    /// output and postrouting).
    UidGid,
    /// The real uid and gid of the process making the call
    /// (`bpf_get_current_uid_gid`: socket-call hooks, which run in its context).
    Caller,
}

/// The return codes of a hook's program; `None` where the hook has no such verdict.
#[derive(Clone, Copy, Debug)]
pub struct Verdicts {
    pub allow: Option<i32>,
    pub drop: Option<i32>,
    pub pass: Option<i32>,
}

#[derive(Clone, Copy, Debug)]
pub struct HookSpec {
    pub kind: HookKind,
    /// How the user writes it, for messages.
    pub name: &'static str,
    /// The `--hook` value of `sockc test`.
    pub cli_name: &'static str,
    /// ELF section; the loaders derive program type and attach type from it. TC uses
    /// `classifier`: libbpf accepts it as an alias of `tc`, and aya-obj 0.3 knows only
    /// `classifier`.
    pub section: &'static str,
    /// Start of the program's symbol in the object (`<prefix>_<attach point>`).
    pub symbol_prefix: &'static str,
    pub prog_type: bpf_prog_type,
    pub attach_type: bpf_attach_type,
    pub target: Target,
    pub context: Context,
    pub verdicts: Verdicts,
    pub test_input: TestInput,
    /// Where the hook sits on a packet's way through the host (plans list programs
    /// in this order: XDP before TC ingress; egress last).
    pub path_order: u8,
    pub actions: &'static [ActionKw],
    pub defaults: &'static [Verdict],
    pub caps: MatchCaps,
    /// Packets here leave the host: a socket condition looks up the socket that sent
    /// the packet, so the lookup tuple is the packet's with source and destination
    /// swapped (the kernel's lookup takes the remote end as source). For socket-layer
    /// hooks: the data leaves the socket (sent), so a rule's `from` is the socket's
    /// local end and `to` its remote end; otherwise (received) the reverse.
    pub egress: bool,
    /// `None` when sockc can lower this hook; otherwise why not (yet).
    pub unsupported: Option<&'static str>,
    /// The user writes blocks for this hook; `false` for the programs sockc adds to
    /// other hooks' blocks (their `companions`).
    pub block: bool,
    /// Programs a block of this hook needs beside its own, one per attach point however
    /// many blocks share it, in the order they are attached (after the block's own
    /// program; they come off in the reverse order): a sockmap block's dispatcher, which
    /// the socket map runs and which tail-calls the block's program, then the sock_ops
    /// program that puts the cgroup's sockets into the map.
    pub companions: &'static [HookKind],
    /// The setting of a systemd unit's drop-in that attaches this hook's program to
    /// the unit's cgroup on every start (`sockc systemd`); `None` where a block cannot
    /// name a unit.
    pub systemd: Option<unit::SystemdAttach>,
}

pub fn spec(kind: HookKind) -> &'static HookSpec {
    kind.spec()
}

impl HookKind {
    pub fn of(head: &HookHead) -> HookKind {
        match head {
            HookHead::Xdp { .. } => HookKind::Xdp,
            HookHead::Tc { egress: false, .. } => HookKind::TcIngress,
            HookHead::Tc { egress: true, .. } => HookKind::TcEgress,
            HookHead::SkLookup => HookKind::SkLookup,
            HookHead::Sockmap { receive: false, .. } => HookKind::SockmapSend,
            HookHead::Sockmap { receive: true, .. } => HookKind::SockmapReceive,
            HookHead::Netfilter { hook, .. } => match hook {
                NfHook::Prerouting => HookKind::NfPrerouting,
                NfHook::Input => HookKind::NfInput,
                NfHook::Forward => HookKind::NfForward,
                NfHook::Output => HookKind::NfOutput,
                NfHook::Postrouting => HookKind::NfPostrouting,
            },
            HookHead::Cgroup { egress: false, .. } => HookKind::CgroupIngress,
            HookHead::Cgroup { egress: true, .. } => HookKind::CgroupEgress,
            HookHead::CgroupCall { call, .. } => match call {
                SockCall::Connect => HookKind::CgroupConnect4,
                SockCall::Sendmsg => HookKind::CgroupSendmsg4,
                SockCall::Bind => HookKind::CgroupBind4,
            },
        }
    }

    /// The IPv6 row of a socket-call hook whose block [`HookKind::of`] gives as its
    /// IPv4 row: a `cgroup connect` block is one program on each.
    pub fn ipv6_twin(self) -> Option<HookKind> {
        match self {
            HookKind::CgroupConnect4 => Some(HookKind::CgroupConnect6),
            HookKind::CgroupSendmsg4 => Some(HookKind::CgroupSendmsg6),
            HookKind::CgroupBind4 => Some(HookKind::CgroupBind6),
            _ => None,
        }
    }

    /// Whether this is the IPv6 row of a socket-call block ([`HookKind::ipv6_twin`]).
    pub fn is_ipv6_twin(self) -> bool {
        matches!(
            self,
            HookKind::CgroupConnect6 | HookKind::CgroupSendmsg6 | HookKind::CgroupBind6
        )
    }

    /// The netfilter hook number (`enum nf_inet_hooks`) of a netfilter row.
    pub fn netfilter_hook(self) -> Option<nf_inet_hooks> {
        match self {
            HookKind::NfPrerouting => Some(nf_inet_hooks::NF_INET_PRE_ROUTING),
            HookKind::NfInput => Some(nf_inet_hooks::NF_INET_LOCAL_IN),
            HookKind::NfForward => Some(nf_inet_hooks::NF_INET_FORWARD),
            HookKind::NfOutput => Some(nf_inet_hooks::NF_INET_LOCAL_OUT),
            HookKind::NfPostrouting => Some(nf_inet_hooks::NF_INET_POST_ROUTING),
            HookKind::Xdp
            | HookKind::TcIngress
            | HookKind::TcEgress
            | HookKind::SkLookup
            | HookKind::SockmapSend
            | HookKind::SockmapReceive
            | HookKind::SockOps
            | HookKind::SkMsgDispatch
            | HookKind::SkSkbDispatch
            | HookKind::SkLookupRegister
            | HookKind::CgroupIngress
            | HookKind::CgroupEgress
            | HookKind::CgroupConnect4
            | HookKind::CgroupConnect6
            | HookKind::CgroupSendmsg4
            | HookKind::CgroupSendmsg6
            | HookKind::CgroupBind4
            | HookKind::CgroupBind6 => None,
        }
    }

    /// The row sema checks a block of this hook against: its row of [`HOOKS`], named
    /// as the block head names it (`cgroup connect` for the IPv4 row of a socket-call
    /// block, which also stands for its IPv6 program).
    pub fn block_spec(self) -> &'static HookSpec {
        match self {
            HookKind::CgroupConnect4 => &SOCK_CALL_BLOCKS[0],
            HookKind::CgroupSendmsg4 => &SOCK_CALL_BLOCKS[1],
            HookKind::CgroupBind4 => &SOCK_CALL_BLOCKS[2],
            _ => self.spec(),
        }
    }

    /// This hook's row of [`HOOKS`].
    pub fn spec(self) -> &'static HookSpec {
        // The rows are in declaration order; a test checks it.
        &HOOKS[self as usize]
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name)
    }
}

impl HookSpec {
    /// Whether the verifier checks the value a program of this hook returns (every
    /// program type but XDP and TC, whose unknown return codes the kernel treats as
    /// a verdict of its own): a verdict word loaded from a map must then be turned
    /// into the constant it is before `exit` (cgroup_skb: 0 to 1 at ingress, 0 to 3
    /// at egress).
    pub fn exit_checked(&self) -> bool {
        !matches!(
            self.prog_type,
            bpf_prog_type::BPF_PROG_TYPE_XDP | bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS
        )
    }

    /// The return code for a verdict, if this hook has that verdict.
    pub fn verdict_code(&self, v: Verdict) -> Option<i32> {
        match v {
            Verdict::Allow => self.verdicts.allow,
            Verdict::Drop => self.verdicts.drop,
            Verdict::Pass => self.verdicts.pass,
        }
    }

    /// The return code of a program that sent a `reject`'s answer: `XDP_TX` at XDP,
    /// what `bpf_redirect` returns (`TC_ACT_REDIRECT`) at TC ingress; `None` where the
    /// hook has no `reject`.
    pub fn reject_code(&self) -> Option<i32> {
        if !self.actions.contains(&ActionKw::Reject) {
            return None;
        }
        match self.context {
            Context::Packet(ctx) if ctx.len.is_none() => Some(uapi::xdp_action::XDP_TX as i32),
            Context::Packet(_) => Some(uapi::TC_ACT_REDIRECT),
            _ => None,
        }
    }

    /// The verdict a program's return code stands for, if it is one of this hook's.
    pub fn verdict_of(&self, code: i32) -> Option<Verdict> {
        [Verdict::Allow, Verdict::Drop, Verdict::Pass]
            .into_iter()
            .find(|&v| self.verdict_code(v) == Some(code))
    }

    /// Where the packet bytes are, for hooks whose program sees a packet.
    #[cfg(test)]
    pub(crate) fn packet_ctx(&self) -> Option<PacketCtx> {
        match self.context {
            Context::Packet(ctx) => Some(ctx),
            Context::SkLookup
            | Context::SkMsg(_)
            | Context::SkSkb(_)
            | Context::SockOps { .. }
            | Context::Dispatch
            | Context::Netfilter
            | Context::SockAddr { .. } => None,
        }
    }

    /// Whether the runtime loads this hook's programs with its own `BPF_PROG_LOAD`:
    /// aya 0.14 has no netfilter program type (and aya-obj 0.3 refuses the section
    /// name), so these programs are written as data that aya skips.
    pub fn loaded_raw(&self) -> bool {
        self.prog_type == bpf_prog_type::BPF_PROG_TYPE_NETFILTER
    }

    /// `xdp on eth0` (messages, plans, listings), or the name alone for hooks whose
    /// block names no attach point.
    pub fn label(&self, attach_to: &str) -> String {
        match self.target {
            _ if attach_to.is_empty() => self.name.to_string(),
            // A cgroup block's name says `cgroup` already.
            Target::Cgroup if self.block => match unit::of_attach(attach_to) {
                Some(name) => format!("{} unit {name}", self.name),
                None => format!("{} {attach_to}", self.name),
            },
            Target::Cgroup | Target::SockMap | Target::TailCall => {
                format!("{} cgroup {attach_to}", self.name)
            }
            Target::Interface | Target::Netns => format!("{} on {attach_to}", self.name),
            Target::Netfilter => format!("{} priority {attach_to}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contexts::*;
    use super::*;

    /// [`HookKind::spec`] indexes [`HOOKS`] by the enum's discriminant.
    #[test]
    fn rows_are_in_hook_kind_order() {
        for (i, row) in HOOKS.iter().enumerate() {
            assert_eq!(row.kind as usize, i, "{}", row.name);
            assert_eq!(row.kind.spec().name, row.name);
        }
        let orders: std::collections::BTreeSet<u8> = HOOKS.iter().map(|h| h.path_order).collect();
        assert_eq!(orders.len(), HOOKS.len(), "path orders are distinct");
    }

    /// The serialized hook kind is the name the user writes.
    #[test]
    fn hook_kinds_serialize_as_written() {
        for row in &HOOKS {
            let json = serde_json::to_string(&row.kind).unwrap();
            assert_eq!(json, format!("\"{}\"", row.name));
            assert_eq!(serde_json::from_str::<HookKind>(&json).unwrap(), row.kind);
        }
    }

    /// Kernel truth: the context field offsets in the running kernel's BTF (as bpftool
    /// prints them) must equal the ones compiled in from the bindings.
    #[test]
    fn context_offsets_match_the_running_kernel_btf() {
        let out = std::process::Command::new("bpftool")
            .args([
                "btf",
                "dump",
                "file",
                "/sys/kernel/btf/vmlinux",
                "format",
                "raw",
            ])
            .output();
        let dump = match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            _ => {
                assert!(
                    std::env::var("SOCKC_KERNEL_TESTS").as_deref() != Ok("require"),
                    "bpftool btf dump of vmlinux failed and SOCKC_KERNEL_TESTS=require"
                );
                eprintln!("SKIP: bpftool cannot dump /sys/kernel/btf/vmlinux");
                return;
            }
        };
        let mut fields = vec![
            ("xdp_md", "data", XDP_CTX.data),
            ("xdp_md", "data_end", XDP_CTX.data_end),
            ("__sk_buff", "data", SKB_CTX.data),
            ("__sk_buff", "data_end", SKB_CTX.data_end),
            ("__sk_buff", "len", SKB_CTX.len.unwrap()),
            ("bpf_sk_lookup", "family", SK_LOOKUP_CTX.family),
            ("bpf_sk_lookup", "protocol", SK_LOOKUP_CTX.protocol),
            ("bpf_sk_lookup", "remote_ip4", SK_LOOKUP_CTX.remote_ip4),
            ("bpf_sk_lookup", "remote_ip6", SK_LOOKUP_CTX.remote_ip6),
            ("bpf_sk_lookup", "remote_port", SK_LOOKUP_CTX.remote_port),
            ("bpf_sk_lookup", "local_ip4", SK_LOOKUP_CTX.local_ip4),
            ("bpf_sk_lookup", "local_ip6", SK_LOOKUP_CTX.local_ip6),
            ("bpf_sk_lookup", "local_port", SK_LOOKUP_CTX.local_port),
            ("bpf_nf_ctx", "state", NF_CTX.state),
            ("bpf_nf_ctx", "skb", NF_CTX.skb),
            ("bpf_sock_addr", "user_family", SOCK_ADDR_CTX.user_family),
            ("bpf_sock_addr", "user_ip4", SOCK_ADDR_CTX.user_ip4),
            ("bpf_sock_addr", "user_ip6", SOCK_ADDR_CTX.user_ip6),
            ("bpf_sock_addr", "user_port", SOCK_ADDR_CTX.user_port),
            ("bpf_sock_addr", "family", SOCK_ADDR_CTX.family),
            ("bpf_sock_addr", "protocol", SOCK_ADDR_CTX.protocol),
        ];
        // Socket-layer contexts: every field the sockmap lowerings read.
        for (strukt, ctx) in [
            ("sk_msg_md", SK_MSG_CTX),
            ("__sk_buff", SK_SKB_CTX),
            ("bpf_sock_ops", SOCK_OPS_CTX),
        ] {
            fields.extend([
                (strukt, "family", ctx.family),
                (strukt, "remote_ip4", ctx.remote_ip4),
                (strukt, "local_ip4", ctx.local_ip4),
                (strukt, "remote_ip6", ctx.remote_ip6),
                (strukt, "local_ip6", ctx.local_ip6),
                (strukt, "remote_port", ctx.remote_port),
                (strukt, "local_port", ctx.local_port),
            ]);
        }
        fields.extend([
            ("sk_msg_md", "size", SK_MSG_CTX.len.unwrap()),
            ("__sk_buff", "len", SK_SKB_CTX.len.unwrap()),
        ]);
        // `sk` is an anonymous union (`__bpf_md_ptr`) in BTF: the member after `size`
        // (sk_msg_md) and after `gso_segs` (__sk_buff).
        for (strukt, before, ours) in [
            ("sk_msg_md", "size", SK_MSG_CTX.sk.unwrap()),
            ("__sk_buff", "gso_segs", SK_SKB_CTX.sk.unwrap()),
        ] {
            let bits = member_after_bits_offset(&dump, strukt, before)
                .unwrap_or_else(|| panic!("{strukt}: no member after {before} in vmlinux BTF"));
            assert_eq!(bits / 8, ours as u32, "{strukt}.sk");
        }
        let Context::SockOps { op, .. } = HookKind::SockOps.spec().context else {
            panic!("the sock_ops row has a sock_ops context");
        };
        fields.push(("bpf_sock_ops", "op", op));
        for (strukt, field, ours) in fields {
            let bits = member_bits_offset(&dump, strukt, field)
                .unwrap_or_else(|| panic!("{strukt}.{field} not in vmlinux BTF"));
            assert_eq!(bits / 8, ours as u32, "{strukt}.{field}");
        }
    }

    /// The bit offset of the member right after `field` of `STRUCT 'strukt'`.
    fn member_after_bits_offset(dump: &str, strukt: &str, field: &str) -> Option<u32> {
        let head = format!("STRUCT '{strukt}' ");
        let mut lines = dump.lines().skip_while(|l| !l.contains(&head));
        lines.next()?;
        let want = format!("'{field}' ");
        lines
            .take_while(|l| l.starts_with('\t'))
            .skip_while(|l| !l.trim_start().starts_with(&want))
            .nth(1)?
            .split("bits_offset=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The address family numbers the compiler carries are Linux's.
    #[cfg(target_os = "linux")]
    #[test]
    fn address_families_are_linux_ones() {
        assert_eq!(AF_INET, libc::AF_INET as u32);
        assert_eq!(AF_INET6, libc::AF_INET6 as u32);
    }

    /// Every companion is a row of its own that no block is written for, and every
    /// block row that has companions attaches into a tail call (its dispatcher's).
    #[test]
    fn companions_are_rows_without_blocks() {
        for row in &HOOKS {
            for c in row.companions {
                assert!(!c.spec().block, "{} is a block hook", c.spec().name);
                assert!(c.spec().companions.is_empty());
            }
            if !row.companions.is_empty() {
                assert_eq!(row.target, Target::TailCall, "{}", row.name);
                assert!(row.block);
            }
        }
    }

    /// Finds `'field' type_id=N bits_offset=B` under `STRUCT 'strukt'` in a raw dump.
    fn member_bits_offset(dump: &str, strukt: &str, field: &str) -> Option<u32> {
        let head = format!("STRUCT '{strukt}' ");
        let mut lines = dump.lines().skip_while(|l| !l.contains(&head));
        lines.next()?;
        let want = format!("'{field}' ");
        lines
            .take_while(|l| l.starts_with('\t'))
            .find(|l| l.trim_start().starts_with(&want))?
            .split("bits_offset=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}
