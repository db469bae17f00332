//! The rows of the hook table ([`HOOKS`]), one per [`HookKind`], in its declaration
//! order (a test checks it), and the parts rows share (capabilities, verdicts,
//! actions, the constructors of the TC, netfilter and cgroup_skb families).
//! Invariant: program and attach types come from aya-obj's bindings, verdicts from
//! aya-ebpf-bindings, context layouts from [`super::contexts`].

use core::mem::offset_of;

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};

use super::contexts::*;
use super::{
    unit::SystemdAttach, CgroupCap, Context, HookKind, HookSpec, MatchCaps, OwnerCap, Target,
    TestInput, Verdicts,
};
use crate::syntax::ast::{ActionKw, SockProto, Verdict};

const PACKET_CAPS: MatchCaps = MatchCaps {
    addresses: true,
    ports: true,
    tcp_flags: true,
    icmp: true,
    socket_conditions: true,
    frames: true,
    fragments: true,
    ct_state: true,
    redirect_local: false,
    redirect_ingress: false,
    protocols: &[],
    owner: OwnerCap::None,
    mark: false,
    sources: true,
    ct_entry: false,
    cgroup: CgroupCap::None,
    comm: false,
    redirect_call: false,
};

/// What nothing can be written against (the programs sockc adds).
const NO_CAPS: MatchCaps = MatchCaps {
    addresses: false,
    ports: false,
    tcp_flags: false,
    icmp: false,
    socket_conditions: false,
    frames: false,
    fragments: false,
    ct_state: false,
    redirect_local: false,
    redirect_ingress: false,
    protocols: &[],
    owner: OwnerCap::None,
    mark: false,
    sources: false,
    ct_entry: false,
    cgroup: CgroupCap::None,
    comm: false,
    redirect_call: false,
};

/// sock_ops and the socket maps it fills see TCP connections only.
const TCP_ONLY: &[u8] = &[SockProto::Tcp.number()];

const SOCKMAP_CAPS: MatchCaps = MatchCaps {
    addresses: true,
    ports: true,
    tcp_flags: false,
    icmp: false,
    socket_conditions: false,
    frames: false,
    fragments: false,
    ct_state: false,
    redirect_local: true,
    redirect_ingress: true,
    protocols: TCP_ONLY,
    owner: OwnerCap::None,
    mark: false,
    sources: true,
    ct_entry: false,
    cgroup: CgroupCap::None,
    comm: false,
    redirect_call: false,
};

const SK_VERDICTS: Verdicts = Verdicts {
    allow: Some(uapi::sk_action::SK_PASS as i32),
    drop: Some(uapi::sk_action::SK_DROP as i32),
    pass: None,
};

const SOCKMAP_ACTIONS: &[ActionKw] = &[
    ActionKw::Allow,
    ActionKw::Drop,
    ActionKw::Redirect,
    ActionKw::Count,
];

/// What every program sockc adds beside a sockmap block shares (no rules, nothing to
/// write, no test run); each row fills in the rest.
const COMPANION: HookSpec = HookSpec {
    kind: HookKind::SockOps,
    name: "",
    cli_name: "",
    section: "",
    symbol_prefix: "",
    prog_type: bpf_prog_type::BPF_PROG_TYPE_UNSPEC,
    attach_type: bpf_attach_type::BPF_CGROUP_INET_INGRESS,
    target: Target::SockMap,
    context: Context::Dispatch,
    verdicts: Verdicts {
        allow: None,
        drop: None,
        pass: None,
    },
    test_input: TestInput::None,
    path_order: 0,
    actions: &[],
    defaults: &[],
    caps: NO_CAPS,
    egress: false,
    unsupported: None,
    block: false,
    companions: &[],
    systemd: None,
};

const PACKET_ACTIONS: &[ActionKw] = &[ActionKw::Allow, ActionKw::Drop, ActionKw::Count];
/// What a `cgroup connect|sendmsg` block's rules do: a packet block's, and `redirect
/// ... to ADDRESS[:PORT]`.
const CALL_ACTIONS: &[ActionKw] = &[
    ActionKw::Allow,
    ActionKw::Drop,
    ActionKw::Count,
    ActionKw::Redirect,
];
/// The packet hooks that can send an answer back out of the interface the packet came
/// in on (`reject`): XDP and TC ingress.
const ANSWERING_ACTIONS: &[ActionKw] = &[
    ActionKw::Allow,
    ActionKw::Drop,
    ActionKw::Count,
    ActionKw::Reject,
];

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
        actions: if egress {
            PACKET_ACTIONS
        } else {
            ANSWERING_ACTIONS
        },
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: MatchCaps {
            // Egress packets carry their socket; `bpf_get_socket_uid` reads its uid.
            owner: [OwnerCap::None, OwnerCap::Uid][egress as usize],
            // `bpf_skb_ancestor_cgroup_id`; at ingress the packet has no socket yet.
            cgroup: [CgroupCap::None, CgroupCap::Skb][egress as usize],
            mark: true,
            ..PACKET_CAPS
        },
        egress,
        unsupported: None,
        block: true,
        companions: &[],
        systemd: None,
    }
}

/// What every netfilter row shares: only the hook differs.
const fn netfilter(
    kind: HookKind,
    name: &'static str,
    cli_name: &'static str,
    symbol_prefix: &'static str,
    path_order: u8,
    egress: bool,
) -> HookSpec {
    HookSpec {
        kind,
        name,
        cli_name,
        // libbpf's section name; aya-obj 0.3 cannot parse it, so the object writes
        // it as data and the runtime loads it itself (`loaded_raw`).
        section: "netfilter",
        symbol_prefix,
        prog_type: bpf_prog_type::BPF_PROG_TYPE_NETFILTER,
        attach_type: bpf_attach_type::BPF_NETFILTER,
        target: Target::Netfilter,
        context: Context::Netfilter,
        verdicts: Verdicts {
            allow: Some(NF_ACCEPT),
            drop: Some(NF_DROP),
            pass: None,
        },
        test_input: TestInput::Frame,
        path_order,
        // Not the packet hooks' list: a netfilter program cannot send a packet, so
        // nothing that answers one (a reject) can be written here.
        actions: &[ActionKw::Allow, ActionKw::Drop, ActionKw::Count],
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: MatchCaps {
            // No socket lookup helper exists for netfilter programs. `ct state`
            // reads what conntrack gave the packet (`bpf::nf_ct`), not a lookup.
            socket_conditions: false,
            // As `xt_owner`, which iptables allows at these two hooks only: packets
            // the host sends, whose socket the skb holds.
            owner: [OwnerCap::None, OwnerCap::UidGid]
                [matches!(kind, HookKind::NfOutput | HookKind::NfPostrouting) as usize],
            // As `xt_cgroup`, which iptables allows at these three hooks: at input,
            // the socket early demux found (`skb->sk`), if any.
            cgroup: [CgroupCap::None, CgroupCap::Netfilter][matches!(
                kind,
                HookKind::NfInput | HookKind::NfOutput | HookKind::NfPostrouting
            ) as usize],
            mark: true,
            // Conntrack has run (priority above -200): `skb->_nfct` holds the entry.
            ct_entry: true,
            // No link header at these hooks; conntrack reassembles fragments first.
            frames: false,
            fragments: false,
            ..PACKET_CAPS
        },
        egress,
        unsupported: None,
        block: true,
        companions: &[],
        systemd: None,
    }
}

/// What both cgroup_skb rows share: only the direction differs.
const fn cgroup_skb(
    kind: HookKind,
    name: &'static str,
    cli_name: &'static str,
    path_order: u8,
    egress: bool,
) -> HookSpec {
    HookSpec {
        kind,
        name,
        cli_name,
        // libbpf's and aya-obj's section names.
        section: if egress {
            "cgroup_skb/egress"
        } else {
            "cgroup_skb/ingress"
        },
        symbol_prefix: if egress { "cg_out" } else { "cg_in" },
        prog_type: bpf_prog_type::BPF_PROG_TYPE_CGROUP_SKB,
        attach_type: if egress {
            bpf_attach_type::BPF_CGROUP_INET_EGRESS
        } else {
            bpf_attach_type::BPF_CGROUP_INET_INGRESS
        },
        target: Target::Cgroup,
        context: Context::Packet(CGROUP_SKB_CTX),
        // 1 lets the packet go on, 0 drops it (egress may also return 2 and 3, to
        // mark congestion; sockc does not).
        verdicts: Verdicts {
            allow: Some(1),
            drop: Some(0),
            pass: None,
        },
        test_input: TestInput::Frame,
        path_order,
        actions: PACKET_ACTIONS,
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: MatchCaps {
            // The kernel (6.18) refuses the conntrack kfuncs in CGROUP_SKB programs;
            // socket conditions are not offered here yet.
            socket_conditions: false,
            ct_state: false,
            // Every packet here has its socket, of this cgroup or one below it.
            cgroup: CgroupCap::Skb,
            // No link header, and packets after reassembly (ingress runs at socket
            // delivery) or before fragmentation (egress, in `ip_finish_output`).
            frames: false,
            fragments: false,
            ..PACKET_CAPS
        },
        egress,
        unsupported: None,
        block: true,
        companions: &[],
        systemd: if egress {
            Some(SystemdAttach::EgressFilter)
        } else {
            Some(SystemdAttach::IngressFilter)
        },
    }
}

/// What every socket-call row shares (`cgroup connect|sendmsg|bind`, per family):
/// for the kernel's name of the call and family (`connect4`), the row is `cgroup
/// <call>`, the section libbpf's and aya-obj's `cgroup/<call>`, and `systemd` the
/// attach type's name in a unit's `BPFProgram=TYPE:PIN` (systemd's own, the same).
const fn sock_addr(
    kind: HookKind,
    [name, cli_name, section, symbol_prefix, systemd]: [&'static str; 5],
    path_order: u8,
    attach_type: bpf_attach_type,
) -> HookSpec {
    let ipv6 = matches!(
        attach_type,
        bpf_attach_type::BPF_CGROUP_INET6_CONNECT
            | bpf_attach_type::BPF_CGROUP_UDP6_SENDMSG
            | bpf_attach_type::BPF_CGROUP_INET6_BIND
    );
    let bind = matches!(
        attach_type,
        bpf_attach_type::BPF_CGROUP_INET4_BIND | bpf_attach_type::BPF_CGROUP_INET6_BIND
    );
    HookSpec {
        kind,
        name,
        cli_name,
        section,
        symbol_prefix,
        prog_type: bpf_prog_type::BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
        attach_type,
        target: Target::Cgroup,
        context: Context::SockAddr { ipv6 },
        // 1 lets the call go on, 0 makes it fail with EPERM (bind may also return 2
        // and 3, to skip the CAP_NET_BIND_SERVICE check; sockc does not).
        verdicts: Verdicts {
            allow: Some(1),
            drop: Some(0),
            pass: None,
        },
        // BPF_PROG_TEST_RUN has no sock_addr support (ENOTSUPP): real calls only.
        test_input: TestInput::None,
        path_order,
        // connect and sendmsg may rewrite where the call goes; bind's address is the
        // socket's own (a redirect there would bind elsewhere: not offered).
        actions: if bind { PACKET_ACTIONS } else { CALL_ACTIONS },
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: MatchCaps {
            redirect_call: !bind,
            ..SOCK_ADDR_CAPS
        },
        // connect and sendmsg: the address is where the data goes (`to`); bind: the
        // address is the socket's own end, where traffic will come to (`to`, as at
        // sk_lookup).
        egress: !bind,
        unsupported: None,
        block: true,
        companions: &[],
        systemd: Some(SystemdAttach::Program(systemd)),
    }
}

/// A socket call's destination (or bind) address and port, and its protocol: no
/// packet, no source yet, no frame.
const SOCK_ADDR_CAPS: MatchCaps = MatchCaps {
    addresses: true,
    ports: true,
    sources: false,
    owner: OwnerCap::Caller,
    cgroup: CgroupCap::Caller,
    comm: true,
    ..NO_CAPS
};

const CONNECT4: HookSpec = sock_addr(
    HookKind::CgroupConnect4,
    [
        "cgroup connect4",
        "cgroup-connect4",
        "cgroup/connect4",
        "cg_con4",
        "connect4",
    ],
    17,
    bpf_attach_type::BPF_CGROUP_INET4_CONNECT,
);
const CONNECT6: HookSpec = sock_addr(
    HookKind::CgroupConnect6,
    [
        "cgroup connect6",
        "cgroup-connect6",
        "cgroup/connect6",
        "cg_con6",
        "connect6",
    ],
    18,
    bpf_attach_type::BPF_CGROUP_INET6_CONNECT,
);
const SENDMSG4: HookSpec = sock_addr(
    HookKind::CgroupSendmsg4,
    [
        "cgroup sendmsg4",
        "cgroup-sendmsg4",
        "cgroup/sendmsg4",
        "cg_snd4",
        "sendmsg4",
    ],
    19,
    bpf_attach_type::BPF_CGROUP_UDP4_SENDMSG,
);
const SENDMSG6: HookSpec = sock_addr(
    HookKind::CgroupSendmsg6,
    [
        "cgroup sendmsg6",
        "cgroup-sendmsg6",
        "cgroup/sendmsg6",
        "cg_snd6",
        "sendmsg6",
    ],
    20,
    bpf_attach_type::BPF_CGROUP_UDP6_SENDMSG,
);
const BIND4: HookSpec = sock_addr(
    HookKind::CgroupBind4,
    [
        "cgroup bind4",
        "cgroup-bind4",
        "cgroup/bind4",
        "cg_bind4",
        "bind4",
    ],
    21,
    bpf_attach_type::BPF_CGROUP_INET4_BIND,
);
const BIND6: HookSpec = sock_addr(
    HookKind::CgroupBind6,
    [
        "cgroup bind6",
        "cgroup-bind6",
        "cgroup/bind6",
        "cg_bind6",
        "bind6",
    ],
    22,
    bpf_attach_type::BPF_CGROUP_INET6_BIND,
);

/// The socket-call rows as a block names them in diagnostics: `cgroup connect` (sema
/// checks a block against its IPv4 row, and the IPv6 program has the same rules).
pub static SOCK_CALL_BLOCKS: [HookSpec; 3] = [
    HookSpec {
        name: "cgroup connect",
        ..CONNECT4
    },
    HookSpec {
        name: "cgroup sendmsg",
        ..SENDMSG4
    },
    HookSpec {
        name: "cgroup bind",
        ..BIND4
    },
];

pub static HOOKS: [HookSpec; 23] = [
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
        actions: ANSWERING_ACTIONS,
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: PACKET_CAPS,
        egress: false,
        unsupported: None,
        block: true,
        companions: &[],
        systemd: None,
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
            frames: false,
            fragments: false,
            ct_state: false,
            redirect_local: false,
            redirect_ingress: false,
            // The kernel runs sk_lookup programs from the TCP and UDP lookups only.
            protocols: &[SockProto::Tcp.number(), SockProto::Udp.number()],
            owner: OwnerCap::None,
            mark: false,
            sources: true,
            ct_entry: false,
            cgroup: CgroupCap::None,
            comm: false,
            redirect_call: false,
        },
        egress: false,
        unsupported: None,
        block: true,
        companions: &[],
        systemd: None,
    },
    // ---- sockmap --------------------------------------------------------------------
    HookSpec {
        kind: HookKind::SockmapSend,
        name: "sockmap",
        cli_name: "sockmap",
        section: "sk_msg",
        symbol_prefix: "sk_msg",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_MSG,
        attach_type: bpf_attach_type::BPF_SK_MSG_VERDICT,
        target: Target::TailCall,
        context: Context::SkMsg(SK_MSG_CTX),
        verdicts: SK_VERDICTS,
        test_input: TestInput::None,
        path_order: 4,
        actions: SOCKMAP_ACTIONS,
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: SOCKMAP_CAPS,
        egress: true,
        unsupported: None,
        block: true,
        companions: &[HookKind::SkMsgDispatch, HookKind::SockOps],
        systemd: None,
    },
    HookSpec {
        kind: HookKind::SockmapReceive,
        name: "sockmap receive",
        cli_name: "sockmap-receive",
        section: "sk_skb/stream_verdict",
        symbol_prefix: "sk_skb",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_SKB,
        attach_type: bpf_attach_type::BPF_SK_SKB_STREAM_VERDICT,
        target: Target::TailCall,
        context: Context::SkSkb(SK_SKB_CTX),
        verdicts: SK_VERDICTS,
        test_input: TestInput::None,
        path_order: 5,
        actions: SOCKMAP_ACTIONS,
        defaults: &[Verdict::Allow, Verdict::Drop],
        caps: MatchCaps {
            redirect_local: false,
            ..SOCKMAP_CAPS
        },
        egress: false,
        unsupported: None,
        block: true,
        companions: &[HookKind::SkSkbDispatch, HookKind::SockOps],
        systemd: None,
    },
    HookSpec {
        kind: HookKind::SockOps,
        name: "sock_ops",
        cli_name: "sock_ops",
        section: "sockops",
        symbol_prefix: "sockops",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SOCK_OPS,
        attach_type: bpf_attach_type::BPF_CGROUP_SOCK_OPS,
        target: Target::Cgroup,
        context: Context::SockOps {
            sock: SOCK_OPS_CTX,
            op: offset_of!(uapi::bpf_sock_ops, op) as i16,
        },
        path_order: 8,
        ..COMPANION
    },
    HookSpec {
        kind: HookKind::SkMsgDispatch,
        name: "sk_msg dispatcher",
        cli_name: "sk_msg-dispatcher",
        section: "sk_msg",
        symbol_prefix: "msgdisp",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_MSG,
        attach_type: bpf_attach_type::BPF_SK_MSG_VERDICT,
        target: Target::SockMap,
        context: Context::Dispatch,
        path_order: 6,
        ..COMPANION
    },
    HookSpec {
        kind: HookKind::SkSkbDispatch,
        name: "sk_skb dispatcher",
        cli_name: "sk_skb-dispatcher",
        section: "sk_skb/stream_verdict",
        symbol_prefix: "skbdisp",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SK_SKB,
        attach_type: bpf_attach_type::BPF_SK_SKB_STREAM_VERDICT,
        target: Target::SockMap,
        context: Context::Dispatch,
        path_order: 7,
        ..COMPANION
    },
    HookSpec {
        kind: HookKind::SkLookupRegister,
        name: "sk_lookup register",
        cli_name: "sk_lookup-register",
        section: "sockops",
        symbol_prefix: "sklreg",
        prog_type: bpf_prog_type::BPF_PROG_TYPE_SOCK_OPS,
        attach_type: bpf_attach_type::BPF_CGROUP_SOCK_OPS,
        target: Target::Cgroup,
        context: Context::SockOps {
            sock: SOCK_OPS_CTX,
            op: offset_of!(uapi::bpf_sock_ops, op) as i16,
        },
        path_order: 9,
        ..COMPANION
    },
    netfilter(
        HookKind::NfPrerouting,
        "netfilter prerouting",
        "netfilter-prerouting",
        "nf_pre",
        10,
        false,
    ),
    netfilter(
        HookKind::NfInput,
        "netfilter input",
        "netfilter-input",
        "nf_in",
        11,
        false,
    ),
    netfilter(
        HookKind::NfForward,
        "netfilter forward",
        "netfilter-forward",
        "nf_fwd",
        12,
        false,
    ),
    netfilter(
        HookKind::NfOutput,
        "netfilter output",
        "netfilter-output",
        "nf_out",
        13,
        true,
    ),
    netfilter(
        HookKind::NfPostrouting,
        "netfilter postrouting",
        "netfilter-postrouting",
        "nf_post",
        14,
        true,
    ),
    cgroup_skb(
        HookKind::CgroupIngress,
        "cgroup ingress",
        "cgroup-ingress",
        15,
        false,
    ),
    cgroup_skb(
        HookKind::CgroupEgress,
        "cgroup egress",
        "cgroup-egress",
        16,
        true,
    ),
    CONNECT4,
    CONNECT6,
    SENDMSG4,
    SENDMSG6,
    BIND4,
    BIND6,
];
