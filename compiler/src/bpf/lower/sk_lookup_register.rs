//! Lowering of a registrar: the sock_ops program that registers a
//! declared TCP socket again when its service listens ([`crate::ir::Registrar`]).
//!
//! On `BPF_SOCK_OPS_TCP_LISTEN_CB` (the kernel calls it right after `listen()` made
//! the socket a hashed listener, for every sock_ops program of the socket's cgroup and
//! its ancestors), the program checks the socket's network namespace against the
//! install's (two 32-bit compares whose immediates the install writes before loading,
//! [`Code::netns_cookie`]: a process of the same cgroup in another namespace, e.g. a
//! container, must never be registered), then compares the socket's family, local
//! port (host order) and local address (network order; a declared `0.0.0.0` or `::`
//! is a socket bound to the wildcard, not any address; an IPv4 declaration also takes
//! an IPv6 socket on its v4-mapped address, and `0.0.0.0` a dual-stack one on `::`,
//! as `sockc register` does, unless it is `IPV6_V6ONLY`) with each declaration of the
//! cgroup, and
//! on the first that fits puts the socket into that declaration's slot of the install's
//! socket map (`bpf_sock_map_update` with `BPF_ANY`: the new listener replaces a stale
//! one, as `sockc register` does). It counts what happened in its two counter slots and
//! always returns 1 (sock_ops ignores the value for this event).

use std::net::IpAddr;

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::bpf_func_id;
use cranelift_entity::EntityRef as _;

use super::LowerError;
use crate::{
    bpf::{
        buffer::{Code, CodeBuffer, CookieHalf, Label},
        emit::emit_count,
        flow::{self, at},
        insn::{op, Cond, Insn, Reg, Size},
        maps::SOCKETS_MAP,
    },
    hooks::{Context, HookKind, SockCtx, AF_INET, AF_INET6},
    ir::{Module, Registrar, SockId},
};

/// Lowers a registrar.
pub(crate) fn lower(module: &Module, r: &Registrar) -> Result<Code, LowerError> {
    let Context::SockOps { sock, op: op_field } = HookKind::SkLookupRegister.spec().context else {
        unreachable!("the sk_lookup register row has a sock_ops context")
    };
    let mut b = CodeBuffer::new();
    b.note(format!(
        "sk_lookup register: a socket of cgroup {} listening on a declared address goes into its slot",
        r.cgroup
    ));
    emit_listen_in_netns(&mut b, op_field);
    b.emit(Insn::ldx(Size::W, Reg::R7, Reg::R6, sock.family));
    b.emit(Insn::ldx(Size::W, Reg::R8, Reg::R6, sock.local_port));
    for &id in &r.sockets {
        let s = &module.sockets[id];
        let (ip, port) = s.addr.expect("sema: a registrar's sockets have an address");
        let (next, insert) = (b.new_label(), b.new_label());
        b.note(format!("socket {}: {} {ip}:{port}", s.name, s.proto.name()));
        b.branch_imm(Cond::Ne, Reg::R8, i32::from(port), next);
        emit_address_test(&mut b, &sock, ip, next, insert);
        b.bind(insert);
        emit_register(&mut b, r, id);
        b.bind(next);
    }
    emit_exit(&mut b);
    Ok(b.finish()?)
}

/// Returns 1: sock_ops ignores the value for this event. Every jump is short: each
/// check exits on the spot, and each socket's block ends in its own exit, so a
/// thousand declarations never need a long jump (which the verifier's own rewriting
/// of helper calls could push out of range).
fn emit_exit(b: &mut CodeBuffer) {
    b.emit(Insn::mov64_imm(Reg::R0, 1));
    b.emit(Insn::exit());
}

/// Goes on (the context in `r6`) only for `BPF_SOCK_OPS_TCP_LISTEN_CB` on a socket of
/// the install's network namespace; exits otherwise.
fn emit_listen_in_netns(b: &mut CodeBuffer, op_field: i16) {
    let (listening, not_ours, ours) = (b.new_label(), b.new_label(), b.new_label());
    b.emit(Insn::mov64_reg(Reg::R6, Reg::R1));
    b.emit(Insn::ldx(Size::W, Reg::R1, Reg::R6, op_field));
    b.branch_imm(
        Cond::Eq,
        Reg::R1,
        uapi::BPF_SOCK_OPS_TCP_LISTEN_CB as i32,
        listening,
    );
    emit_exit(b);
    b.bind(listening);
    b.note("the install's network namespace only");
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_get_netns_cookie as u32));
    b.branch_netns_cookie_ne(Reg::R0, CookieHalf::Low, not_ours);
    b.emit(Insn::alu64_imm(op::RSH, Reg::R0, 32));
    b.branch_netns_cookie_ne(Reg::R0, CookieHalf::High, not_ours);
    b.goto(ours);
    b.bind(not_ours);
    emit_exit(b);
    b.bind(ours);
}

/// Whether the socket (family in `r7`) is bound to the declared address `ip`: to
/// `insert` if so, to `next` if not.
fn emit_address_test(b: &mut CodeBuffer, sock: &SockCtx, ip: IpAddr, next: Label, insert: Label) {
    // `local_ip6` as four words compared with `octets`; on a difference, to `next`.
    let compare_ip6 = |b: &mut CodeBuffer, octets: [u8; 16]| {
        for (i, word) in octets.chunks_exact(4).enumerate() {
            let word = u32::from_le_bytes(word.try_into().expect("4 bytes"));
            b.emit(Insn::ldx(
                Size::W,
                Reg::R1,
                Reg::R6,
                sock.local_ip6 + 4 * i as i16,
            ));
            b.branch32_imm(Cond::Ne, Reg::R1, word, next);
        }
    };
    match ip {
        IpAddr::V4(v4) => {
            // An IPv4 declaration is also an IPv6 socket on the v4-mapped address,
            // and `0.0.0.0` a dual-stack one on `::`, as `sockc register` takes
            // them.
            let v6 = b.new_label();
            b.branch_imm(Cond::Ne, Reg::R7, AF_INET as i32, v6);
            b.emit(Insn::ldx(Size::W, Reg::R1, Reg::R6, sock.local_ip4));
            b.branch32_imm(Cond::Ne, Reg::R1, u32::from_le_bytes(v4.octets()), next);
            b.goto(insert);
            b.bind(v6);
            b.branch_imm(Cond::Ne, Reg::R7, AF_INET6 as i32, next);
            let same = if v4.is_unspecified() {
                std::net::Ipv6Addr::UNSPECIFIED
            } else {
                v4.to_ipv6_mapped()
            };
            compare_ip6(b, same.octets());
            if v4.is_unspecified() {
                emit_not_v6only(b, next);
            }
        }
        IpAddr::V6(v6) => {
            b.branch_imm(Cond::Ne, Reg::R7, AF_INET6 as i32, next);
            compare_ip6(b, v6.octets());
        }
    }
}

/// To `next` when the socket (on `::`) is `IPV6_V6ONLY`: such a listener takes no
/// IPv4 connection, so it is no `0.0.0.0` socket (nginx's `listen [::]:80` beside its
/// `listen 80`: taken, it replaced the IPv4 listener, whose connections it refused).
/// `bpf_getsockopt` does not read the option, so the bit is read from `struct
/// sock_common` (the start of the `struct tcp6_sock` `bpf_skc_to_tcp6_sock` gives).
fn emit_not_v6only(b: &mut CodeBuffer, next: Label) {
    let sk = std::mem::offset_of!(uapi::bpf_sock_ops, __bindgen_anon_2) as i16;
    b.note("`::` stands for `0.0.0.0` only when dual-stack (not IPV6_V6ONLY)");
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R6, sk));
    b.branch_imm(Cond::Eq, Reg::R1, 0, next);
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_skc_to_tcp6_sock as u32));
    b.branch_imm(Cond::Eq, Reg::R0, 0, next);
    b.load_kernel_bit(Reg::R1, Reg::R0, ("sock_common", "skc_ipv6only"));
    b.branch_imm(Cond::Ne, Reg::R1, 0, next);
}

/// Puts the socket into socket `id`'s slot of the socket map, counts in the
/// registrar's first counter slot (registered) or second (the kernel refused it), and
/// exits.
fn emit_register(b: &mut CodeBuffer, r: &Registrar, id: SockId) {
    b.store_socket_slot(at(flow::SOCKET_SLOT), id.index() as u32);
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.ld_map(Reg::R2, SOCKETS_MAP);
    b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
    b.emit(Insn::alu64_imm(
        op::ADD,
        Reg::R3,
        at(flow::SOCKET_SLOT) as i32,
    ));
    b.emit(Insn::mov64_imm(Reg::R4, uapi::BPF_ANY as i32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sock_map_update as u32));
    let (count, refused) = (b.new_label(), b.new_label());
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::PKT_LEN), 0));
    b.branch_imm(Cond::Ne, Reg::R0, 0, refused);
    b.emit(Insn::st_imm(
        Size::W,
        Reg::FP,
        at(flow::COUNTER_KEY),
        r.counters[0] as i32,
    ));
    b.goto(count);
    b.bind(refused);
    b.emit(Insn::st_imm(
        Size::W,
        Reg::FP,
        at(flow::COUNTER_KEY),
        r.counters[1] as i32,
    ));
    b.bind(count);
    emit_count(b);
    emit_exit(b);
}
