//! The hook table: every attach point sockc knows, described as data.
//!
//! One row per hook says its ELF section, program and attach type, the context offsets
//! the packet prologue reads, the verdict codes, and which matches, actions and
//! conditions it allows. Sema checks rules against this table and the lowering reads
//! offsets and verdicts from it; adding a hook means one row here plus one lowering
//! file. Invariant: every number here comes from the kernel UAPI bindings (aya-obj for
//! program/attach types, aya-ebpf-bindings for context structs and verdicts).

use core::mem::offset_of;

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};

use crate::syntax::ast::{ActionKw, HookHead, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookKind {
    Xdp,
    TcIngress,
    TcEgress,
    SkLookup,
    Sockmap,
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

/// What a rule may test in this hook.
#[derive(Clone, Copy, Debug)]
pub struct MatchCaps {
    pub addresses: bool,
    pub ports: bool,
    pub tcp_flags: bool,
    pub icmp: bool,
    pub socket_conditions: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct HookSpec {
    pub kind: HookKind,
    /// How the user writes it, for messages.
    pub name: &'static str,
    /// ELF section; the loaders derive program type and attach type from it. TC uses
    /// `classifier`: libbpf accepts it as an alias of `tc`, and aya-obj 0.3 knows only
    /// `classifier`.
    pub section: &'static str,
    pub prog_type: bpf_prog_type,
    pub attach_type: Option<bpf_attach_type>,
    pub ctx: Option<PacketCtx>,
    pub allow: Option<i32>,
    pub drop: Option<i32>,
    pub pass: Option<i32>,
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
};

const PACKET_ACTIONS: &[ActionKw] = &[ActionKw::Allow, ActionKw::Drop, ActionKw::Count];

const fn tc(kind: HookKind, name: &'static str, attach: bpf_attach_type, egress: bool) -> HookSpec {
    HookSpec {
        kind,
        name,
        section: "classifier",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS,
        attach_type: Some(attach),
        ctx: Some(SKB_CTX),
        allow: Some(uapi::TC_ACT_OK),
        drop: Some(uapi::TC_ACT_SHOT),
        pass: None,
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
        section: "xdp",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_XDP,
        attach_type: Some(bpf_attach_type::BPF_XDP),
        ctx: Some(XDP_CTX),
        allow: Some(uapi::xdp_action::XDP_PASS as i32),
        drop: Some(uapi::xdp_action::XDP_DROP as i32),
        pass: None,
        actions: PACKET_ACTIONS,
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: PACKET_CAPS,
        egress: false,
        unsupported: None,
    },
    tc(
        HookKind::TcIngress,
        "tc ingress",
        bpf_attach_type::BPF_TCX_INGRESS,
        false,
    ),
    tc(
        HookKind::TcEgress,
        "tc egress",
        bpf_attach_type::BPF_TCX_EGRESS,
        true,
    ),
    HookSpec {
        kind: HookKind::SkLookup,
        name: "sk_lookup",
        section: "sk_lookup",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_LOOKUP,
        attach_type: Some(bpf_attach_type::BPF_SK_LOOKUP),
        ctx: None,
        allow: None,
        drop: Some(uapi::sk_action::SK_DROP as i32),
        pass: Some(uapi::sk_action::SK_PASS as i32),
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
        },
        egress: false,
        unsupported: Some("sk_lookup programs are not supported yet"),
    },
    HookSpec {
        kind: HookKind::Sockmap,
        name: "sockmap",
        section: "sk_msg",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_MSG,
        attach_type: Some(bpf_attach_type::BPF_SK_MSG_VERDICT),
        ctx: None,
        allow: Some(uapi::sk_action::SK_PASS as i32),
        drop: Some(uapi::sk_action::SK_DROP as i32),
        pass: None,
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
        },
        egress: false,
        unsupported: Some("sockmap programs are not supported yet"),
    },
];

pub fn spec(kind: HookKind) -> &'static HookSpec {
    HOOKS
        .iter()
        .find(|h| h.kind == kind)
        .expect("every HookKind has a row in HOOKS")
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
}

impl HookSpec {
    /// The return code for a verdict, if this hook has that verdict.
    pub fn verdict_code(&self, v: Verdict) -> Option<i32> {
        match v {
            Verdict::Allow => self.allow,
            Verdict::Drop => self.drop,
            Verdict::Pass => self.pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            let bits = member_bits_offset(&dump, strukt, field)
                .unwrap_or_else(|| panic!("{strukt}.{field} not in vmlinux BTF"));
            assert_eq!(bits / 8, ours as u32, "{strukt}.{field}");
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
