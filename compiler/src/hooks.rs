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

use core::{fmt, mem::offset_of};

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};
use serde::{Deserialize, Serialize};

use crate::syntax::ast::{ActionKw, HookHead, SockProto, Verdict};

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
    #[serde(rename = "sockmap")]
    Sockmap,
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
    /// A cgroup v2 directory, quoted after `cgroup` (the socket layer's sock_ops).
    Cgroup,
    /// A socket map the runtime creates (sk_msg and sk_skb verdict programs).
    SockMap,
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
    SkMsg,
}

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
/// `bpf_sk_lookup.family` and of `BPF_PROG_TEST_RUN`'s context.
pub const AF_INET: u32 = 2;
pub const AF_INET6: u32 = 10;

/// What a rule may test in this hook.
#[derive(Clone, Copy, Debug)]
pub struct MatchCaps {
    pub addresses: bool,
    pub ports: bool,
    pub tcp_flags: bool,
    pub icmp: bool,
    pub socket_conditions: bool,
    /// `redirect local` (to the peer socket in the map).
    pub redirect_local: bool,
    /// The only protocols the hook ever sees (empty: any); a rule naming another
    /// could never match.
    pub protocols: &'static [u8],
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
    /// swapped (the kernel's lookup takes the remote end as source).
    pub egress: bool,
    /// `None` when sockc can lower this hook; otherwise why not (yet).
    pub unsupported: Option<&'static str>,
}

const XDP_CTX: PacketCtx = PacketCtx {
    data: offset_of!(uapi::xdp_md, data) as i16,
    data_end: offset_of!(uapi::xdp_md, data_end) as i16,
    len: None,
};

const SKB_CTX: PacketCtx = PacketCtx {
    data: offset_of!(uapi::__sk_buff, data) as i16,
    data_end: offset_of!(uapi::__sk_buff, data_end) as i16,
    len: Some(offset_of!(uapi::__sk_buff, len) as i16),
};

const PACKET_CAPS: MatchCaps = MatchCaps {
    addresses: true,
    ports: true,
    tcp_flags: true,
    icmp: true,
    socket_conditions: true,
    redirect_local: false,
    protocols: &[],
};

const PACKET_ACTIONS: &[ActionKw] = &[ActionKw::Allow, ActionKw::Drop, ActionKw::Count];

const fn tc(
    kind: HookKind,
    name: &'static str,
    cli_name: &'static str,
    symbol_prefix: &'static str,
    attach_type: bpf_attach_type,
    egress: bool,
) -> HookSpec {
    HookSpec {
        kind,
        name,
        cli_name,
        section: "classifier",
        symbol_prefix,
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS,
        attach_type,
        target: Target::Interface,
        context: Context::Packet(SKB_CTX),
        verdicts: Verdicts {
            allow: Some(uapi::TC_ACT_OK),
            drop: Some(uapi::TC_ACT_SHOT),
            pass: None,
        },
        test_input: TestInput::Frame,
        path_order: if egress { 2 } else { 1 },
        actions: PACKET_ACTIONS,
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: PACKET_CAPS,
        egress,
        unsupported: None,
    }
}

pub static HOOKS: [HookSpec; 5] = [
    HookSpec {
        kind: HookKind::Xdp,
        name: "xdp",
        cli_name: "xdp",
        section: "xdp",
        symbol_prefix: "xdp",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_XDP,
        attach_type: bpf_attach_type::BPF_XDP,
        target: Target::Interface,
        context: Context::Packet(XDP_CTX),
        verdicts: Verdicts {
            allow: Some(uapi::xdp_action::XDP_PASS as i32),
            drop: Some(uapi::xdp_action::XDP_DROP as i32),
            pass: None,
        },
        test_input: TestInput::Frame,
        path_order: 0,
        actions: PACKET_ACTIONS,
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: PACKET_CAPS,
        egress: false,
        unsupported: None,
    },
    tc(
        HookKind::TcIngress,
        "tc ingress",
        "tc-ingress",
        "tci",
        bpf_attach_type::BPF_TCX_INGRESS,
        false,
    ),
    tc(
        HookKind::TcEgress,
        "tc egress",
        "tc-egress",
        "tce",
        bpf_attach_type::BPF_TCX_EGRESS,
        true,
    ),
    HookSpec {
        kind: HookKind::SkLookup,
        name: "sk_lookup",
        cli_name: "sk-lookup",
        section: "sk_lookup",
        symbol_prefix: "sk_lookup",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_LOOKUP,
        attach_type: bpf_attach_type::BPF_SK_LOOKUP,
        target: Target::Netns,
        context: Context::SkLookup,
        verdicts: Verdicts {
            allow: None,
            drop: Some(uapi::sk_action::SK_DROP as i32),
            pass: Some(uapi::sk_action::SK_PASS as i32),
        },
        test_input: TestInput::Context,
        path_order: 3,
        actions: &[
            ActionKw::Redirect,
            ActionKw::Drop,
            ActionKw::Pass,
            ActionKw::Count,
        ],
        defaults: &[Verdict::Pass, Verdict::Drop],
        caps: MatchCaps {
            addresses: true,
            ports: true,
            tcp_flags: false,
            icmp: false,
            socket_conditions: false,
            redirect_local: false,
            // The kernel runs sk_lookup programs from the TCP and UDP lookups only.
            protocols: &[SockProto::Tcp.number(), SockProto::Udp.number()],
        },
        egress: false,
        unsupported: None,
    },
    HookSpec {
        kind: HookKind::Sockmap,
        name: "sockmap",
        cli_name: "sockmap",
        section: "sk_msg",
        symbol_prefix: "sk_msg",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_MSG,
        attach_type: bpf_attach_type::BPF_SK_MSG_VERDICT,
        target: Target::SockMap,
        context: Context::SkMsg,
        verdicts: Verdicts {
            allow: Some(uapi::sk_action::SK_PASS as i32),
            drop: Some(uapi::sk_action::SK_DROP as i32),
            pass: None,
        },
        test_input: TestInput::None,
        path_order: 4,
        actions: &[
            ActionKw::Allow,
            ActionKw::Drop,
            ActionKw::Redirect,
            ActionKw::Count,
        ],
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: MatchCaps {
            addresses: true,
            ports: true,
            tcp_flags: false,
            icmp: false,
            socket_conditions: false,
            redirect_local: true,
            protocols: &[],
        },
        egress: false,
        unsupported: Some("sockmap programs are not supported yet"),
    },
];

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
            HookHead::Sockmap { .. } => HookKind::Sockmap,
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
    /// The return code for a verdict, if this hook has that verdict.
    pub fn verdict_code(&self, v: Verdict) -> Option<i32> {
        match v {
            Verdict::Allow => self.verdicts.allow,
            Verdict::Drop => self.verdicts.drop,
            Verdict::Pass => self.verdicts.pass,
        }
    }

    /// The verdict a program's return code stands for, if it is one of this hook's.
    pub fn verdict_of(&self, code: i32) -> Option<Verdict> {
        [Verdict::Allow, Verdict::Drop, Verdict::Pass]
            .into_iter()
            .find(|&v| self.verdict_code(v) == Some(code))
    }

    /// Where the packet bytes are, for hooks whose program sees a packet.
    pub fn packet_ctx(&self) -> Option<PacketCtx> {
        match self.context {
            Context::Packet(ctx) => Some(ctx),
            Context::SkLookup | Context::SkMsg => None,
        }
    }

    /// `xdp on eth0` (messages, plans, listings), or the name alone for hooks whose
    /// block names no attach point.
    pub fn label(&self, attach_to: &str) -> String {
        if attach_to.is_empty() {
            self.name.to_string()
        } else {
            format!("{} on {attach_to}", self.name)
        }
    }
}

#[cfg(test)]
mod tests {
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
        for (strukt, field, ours) in [
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
        ] {
            let bits = member_bits_offset(&dump, strukt, field)
                .unwrap_or_else(|| panic!("{strukt}.{field} not in vmlinux BTF"));
            assert_eq!(bits / 8, ours as u32, "{strukt}.{field}");
        }
    }

    /// The address family numbers the compiler carries are Linux's.
    #[cfg(target_os = "linux")]
    #[test]
    fn address_families_are_linux_ones() {
        assert_eq!(AF_INET, libc::AF_INET as u32);
        assert_eq!(AF_INET6, libc::AF_INET6 as u32);
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
