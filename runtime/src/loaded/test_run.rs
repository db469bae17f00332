//! Test runs: a loaded program run on one input by `BPF_PROG_TEST_RUN`, the input
//! being what its hook's [`TestInput`](sockc_compiler::hooks::TestInput) says — a
//! frame at XDP and TC, the frame (or, at LOCAL_OUT, its IP packet) with a `struct
//! nf_hook_state` at a netfilter hook, a `struct bpf_sk_lookup` at sk_lookup (whose
//! result carries the cookie of the socket the program selected).
//!
//! Invariant: [`run`] picks the way by the program's hook in one exhaustive `match`,
//! so a hook added to the table says here how it is run (or that the kernel cannot:
//! sk_msg, sk_skb and sock_ops programs have no test run, and are tested end to end).

use std::{io, os::fd::BorrowedFd, time::Duration};

use aya::programs::ProgramError;
use aya_obj::generated::{nf_inet_hooks, NFPROTO_IPV4, NFPROTO_IPV6};
use sockc_compiler::hooks::HookKind;

use crate::sys;

/// `struct nf_hook_state` as `BPF_PROG_TEST_RUN` takes it: `hook` at 0, `pf` at 1,
/// the rest zero.
const HOOK_STATE_SIZE: usize = 48;
const ETH_HLEN: usize = 14;

/// Result of one `BPF_PROG_TEST_RUN`.
#[derive(Clone, Copy, Debug)]
pub struct RunResult {
    pub retval: u32,
    /// Kernel-measured time per run.
    pub duration: Duration,
    /// The cookie of the socket an sk_lookup program selected (`bpf_sk_assign`), if
    /// any; `None` for other hooks.
    pub selected: Option<u64>,
}

/// Runs `prog`, a program of `hook`, `repeat` times on `input` (see the module docs).
pub fn run(
    hook: HookKind,
    prog: BorrowedFd<'_>,
    input: &[u8],
    repeat: u32,
) -> Result<RunResult, ProgramError> {
    match hook {
        // A cgroup_skb program takes the frame too: the kernel takes the Ethernet
        // header off (`eth_type_trans`) and the program sees the packet from its
        // network header, as at the hook.
        HookKind::Xdp
        | HookKind::TcIngress
        | HookKind::TcEgress
        | HookKind::CgroupIngress
        | HookKind::CgroupEgress => run_on_frame(prog, input, repeat),
        HookKind::SkLookup => run_sk_lookup(prog, input, repeat),
        HookKind::NfPrerouting
        | HookKind::NfInput
        | HookKind::NfForward
        | HookKind::NfOutput
        | HookKind::NfPostrouting => run_netfilter(hook, prog, input, repeat),
        // BPF_PROG_TEST_RUN has no sk_msg, sk_skb or sock_ops support: end-to-end
        // tests only.
        HookKind::SockmapSend
        | HookKind::SockmapReceive
        | HookKind::SkMsgDispatch
        | HookKind::SkSkbDispatch
        | HookKind::SockOps
        | HookKind::SkLookupRegister => Err(ProgramError::UnexpectedProgramType),
        // Nor sock_addr (ENOTSUPP): the socket-call hooks are tested with real calls
        // from processes in test cgroups.
        HookKind::CgroupConnect4
        | HookKind::CgroupConnect6
        | HookKind::CgroupSendmsg4
        | HookKind::CgroupSendmsg6
        | HookKind::CgroupBind4
        | HookKind::CgroupBind6 => Err(ProgramError::UnexpectedProgramType),
    }
}

/// Runs a program that takes a frame (XDP, TC, cgroup_skb) once on `input`, and
/// returns the packet as it left it (from the network header on, for cgroup_skb): a `reject`'s answer when it answered (TC's test run leaves a
/// redirected frame in place too). Other hooks have no frame to give back.
pub fn run_frame(
    hook: HookKind,
    prog: BorrowedFd<'_>,
    input: &[u8],
) -> Result<(RunResult, Vec<u8>), ProgramError> {
    if !matches!(
        hook,
        HookKind::Xdp
            | HookKind::TcIngress
            | HookKind::TcEgress
            | HookKind::CgroupIngress
            | HookKind::CgroupEgress
    ) {
        return Err(ProgramError::UnexpectedProgramType);
    }
    // An answer is at most an ICMPv6 header and a new IPv6 header longer than the
    // frame it quotes.
    let (r, out) =
        sys::prog_test_run_frame(prog, input, input.len() + 64).map_err(test_run_failed)?;
    let run = RunResult {
        retval: r.retval,
        duration: Duration::from_nanos(r.duration_ns.into()),
        selected: None,
    };
    Ok((run, out))
}

/// Runs a program that takes a frame (XDP, TC) `repeat` times on `input`.
fn run_on_frame(
    prog: BorrowedFd<'_>,
    input: &[u8],
    repeat: u32,
) -> Result<RunResult, ProgramError> {
    let r = sys::prog_test_run_data(prog, input, &[], repeat.max(1)).map_err(test_run_failed)?;
    Ok(RunResult {
        retval: r.retval,
        duration: Duration::from_nanos(r.duration_ns.into()),
        selected: None,
    })
}

/// Runs an sk_lookup program on the `struct bpf_sk_lookup` in `input`; the context
/// comes back with the selected socket's cookie.
fn run_sk_lookup(
    prog: BorrowedFd<'_>,
    input: &[u8],
    repeat: u32,
) -> Result<RunResult, ProgramError> {
    let mut ctx_out = vec![0u8; input.len()];
    let r = sys::prog_test_run_ctx(prog, input, &mut ctx_out, repeat.max(1))
        .map_err(test_run_failed)?;
    // The cookie is the context's first 8 bytes (a union with `sk`).
    let cookie = ctx_out
        .get(..8)
        .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or(0);
    Ok(RunResult {
        retval: r.retval,
        duration: Duration::from_nanos(u64::from(r.duration_ns)),
        selected: (cookie != 0).then_some(cookie),
    })
}

/// Runs a netfilter program of `hook` on the frame `input`.
fn run_netfilter(
    hook: HookKind,
    prog: BorrowedFd<'_>,
    input: &[u8],
    repeat: u32,
) -> Result<RunResult, ProgramError> {
    // The kernel takes an Ethernet frame at every hook but LOCAL_OUT, where it
    // takes the bare IP packet; `pf` must agree with the EtherType, and a frame
    // that is not IP is refused (EPROTO): netfilter never sees one.
    let ether = input.get(12..14).map(|t| u16::from_be_bytes([t[0], t[1]]));
    let pf = match ether {
        Some(0x0800) => NFPROTO_IPV4,
        Some(0x86dd) => NFPROTO_IPV6,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a netfilter hook sees IPv4 and IPv6 packets only, and this frame is neither",
            )
            .into())
        }
    };
    let hook = hook.netfilter_hook().expect("a netfilter row") as u32;
    let data = if hook == nf_inet_hooks::NF_INET_LOCAL_OUT as u32 {
        &input[ETH_HLEN..]
    } else {
        input
    };
    let mut state = [0u8; HOOK_STATE_SIZE];
    state[0] = hook as u8;
    state[1] = pf as u8;
    let r = sys::prog_test_run_data(prog, data, &state, repeat.max(1)).map_err(test_run_failed)?;
    Ok(RunResult {
        retval: r.retval,
        duration: Duration::from_nanos(r.duration_ns.into()),
        selected: None,
    })
}

/// A failed `BPF_PROG_TEST_RUN`, as aya says it.
fn test_run_failed(io_error: std::io::Error) -> ProgramError {
    ProgramError::SyscallError(aya::sys::SyscallError {
        call: "bpf_prog_test_run",
        io_error,
    })
}
