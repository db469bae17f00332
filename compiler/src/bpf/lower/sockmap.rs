//! Lowering of the socket layer: a sockmap block's rules as an sk_msg
//! (send) or sk_skb (receive) program, and the programs sockc adds around each
//! cgroup's blocks ([`crate::ir::sockmap`]): the dispatchers and the sock_ops program.
//!
//! **The socket key.** A socket is in its cgroup's SOCKHASH under its own connection
//! ([`key`]): the network namespace's cookie, then the local and the remote address
//! (16 bytes each, IPv4 as `::ffff:a.b.c.d` so a dual-stack socket and a plain IPv4 one
//! name the same connection alike), the local and the remote port (host order), and a
//! slot number that is 0 for sockets and a hash of the name for a named socket
//! (whose key is otherwise zero; `sockc_runtime::install::sockmap_names::register`
//! puts a connected socket there). The peer of a connection between two local sockets is then the
//! socket under the *reversed* key: same namespace, addresses and ports swapped. The
//! namespace is part of the key because a 4-tuple names one connection only within a
//! namespace: two containers with the same addresses must never reach each other's
//! sockets. Every program builds the key the same way ([`emit_own_key`]) from the
//! context's socket fields (see [`SockCtx`] for their byte orders).
//!
//! **Rules.** The prologue builds the socket's key and fills the packet hooks' flow
//! record from it (a v4-mapped key is IPv4; `from`/`to` are local/remote when sending,
//! remote/local when receiving; the protocol is TCP, the length is the message's), so
//! the rule walk, the classifier and jump threading are every context's (`rules.rs`);
//! only `redirect` is new here:
//! * `redirect local` (sending): `bpf_msg_redirect_hash` with `BPF_F_INGRESS` to the
//!   socket under the reversed key, so the message lands in the peer's receive queue;
//!   when there is none, the message goes through the TCP stack (`SK_PASS`).
//! * `redirect to sock NAME [ingress]`: `bpf_msg_redirect_hash` (sending) or
//!   `bpf_sk_redirect_hash` (receiving) to the named socket's slot, with
//!   `BPF_F_INGRESS` for `ingress`; an empty slot drops (and the rule counts it).
//!
//! **Never overtake.** A reader of a socket in a socket map gets what was redirected
//! into it before what the TCP stack delivered (`tcp_bpf_recvmsg` reads the socket's
//! redirect queue first). So once a connection has sent bytes through the stack, a
//! later redirect would let newer bytes overtake older ones. Every send program
//! therefore marks a socket the first time it lets a message through the stack
//! (per-socket storage, [`MapRole::SentThroughStack`]), and `redirect local` never
//! redirects a marked socket's messages. The other way round is safe: after a
//! redirect, bytes through the stack arrive later and are read later. The dispatcher
//! marks too when it has no program to call, so a socket that passed while nothing
//! was installed is never redirected afterwards either.
//!
//! **Dispatchers.** The kernel gives a socket the socket map's verdict programs when
//! the socket goes into the map and keeps them for its life; replacing the map's
//! program later reaches only sockets added later. The map therefore runs a
//! dispatcher that never changes and tail-calls slot 0 of a program array, where the
//! block's program sits: a new generation, or a flush, changes what every socket runs
//! in one map update. With the slot empty, the dispatcher lets everything through the
//! stack. It also names the socket map, so the map lives as long as a socket still
//! runs the dispatcher: sockets stay in it after a flush until they close, and what
//! was redirected into their queues stays readable (a socket taken out of its last
//! map loses its redirect queue: `sk_psock_drop` purges it).
//!
//! **sock_ops.** On `ACTIVE_ESTABLISHED` and `PASSIVE_ESTABLISHED` it puts the socket
//! into the map under its key (`BPF_NOEXIST`) and counts the outcome in its three
//! counter slots: added, refused because another tool's socket map programs already
//! hold the socket (`EBUSY`), refused otherwise (map full, the key taken).

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::bpf_func_id;

use super::{
    packet::uses_sets,
    rules::{self, Redirect},
    LowerError,
};
use crate::{
    bpf::{
        buffer::{Code, CodeBuffer, Label},
        classify::DIMS,
        emit::{emit_count, verdict, write_lpm_prefix_lengths},
        flow::{self, at},
        insn::{op, Cond, Insn, Reg, Size},
        maps::Sizing,
    },
    hooks::{HookKind, HookSpec, SockCtx, AF_INET, AF_INET6},
    ir::{
        sockmap::{Companion, MapRole, SockmapGroup},
        Action, Module, Program, SockId,
    },
};

/// Layout of a socket key (see the module docs), byte offsets.
pub mod key {
    /// `u64`: the network namespace's cookie (0 for named slots).
    pub const NETNS: i16 = 0;
    /// 16 bytes, network order; IPv4 as `::ffff:a.b.c.d`.
    pub const LOCAL: i16 = 8;
    pub const REMOTE: i16 = 24;
    /// `u16`, host order.
    pub const LOCAL_PORT: i16 = 40;
    pub const REMOTE_PORT: i16 = 42;
    /// `u32`: 0 for a socket, [`slot`] of its name for a named socket.
    pub const SLOT: i16 = 44;
    pub const SIZE: i16 = 48;

    pub(crate) use crate::ir::sockmap::named_slot as slot;

    /// The key of the named socket `name`, as the runtime inserts it.
    pub fn named(name: &str) -> [u8; SIZE as usize] {
        let mut k = [0u8; SIZE as usize];
        k[SLOT as usize..].copy_from_slice(&slot(name).to_ne_bytes());
        k
    }
}

/// The socket's own key, below the classifier's scratch area.
pub(crate) const KEY: i16 = DIMS - key::SIZE;
/// The key a redirect looks up.
pub(crate) const PEER: i16 = KEY - key::SIZE;
const _: () = assert!(PEER >= -512 && PEER % 8 == 0);

/// `EBUSY` (`include/uapi/asm-generic/errno-base.h`; checked against libc in a test).
pub(crate) const EBUSY: i32 = 16;

/// `r1 = *(u64 *)(r6 + sk)`: the context's socket (sk_msg, sk_skb).
fn load_sk(b: &mut CodeBuffer, ctx: &SockCtx, to: Reg) {
    let sk = ctx
        .sk
        .expect("rules and dispatchers run in contexts with a socket");
    b.emit(Insn::ldx(Size::DW, to, Reg::R6, sk));
}

/// Zeroes `len` bytes of stack at `off` (8-byte aligned).
fn zero(b: &mut CodeBuffer, off: i16, len: i16) {
    for o in (0..len).step_by(8) {
        b.emit(Insn::st_imm(Size::DW, Reg::FP, off + o, 0));
    }
}

/// Writes the socket's key at [`KEY`] from the context in `r6` (the namespace cookie
/// when `netns`; else 0). Jumps to `not_inet` for a socket of another family.
/// Clobbers r0-r5.
fn emit_own_key(b: &mut CodeBuffer, ctx: &SockCtx, netns: bool, not_inet: Label) {
    let r1 = Reg::R1;
    zero(b, KEY, key::SIZE);
    if netns {
        b.emit(Insn::mov64_reg(r1, Reg::R6));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_get_netns_cookie as u32));
        b.emit(Insn::stx(Size::DW, Reg::FP, KEY + key::NETNS, Reg::R0));
    }
    let (v4, ports) = (b.new_label(), b.new_label());
    b.emit(Insn::ldx(Size::W, r1, Reg::R6, ctx.family));
    b.branch_imm(Cond::Eq, r1, AF_INET as i32, v4);
    b.branch_imm(Cond::Ne, r1, AF_INET6 as i32, not_inet);
    for (from, to) in [(ctx.local_ip6, key::LOCAL), (ctx.remote_ip6, key::REMOTE)] {
        for w in 0..4 {
            b.emit(Insn::ldx(Size::W, r1, Reg::R6, from + 4 * w));
            b.emit(Insn::stx(Size::W, Reg::FP, KEY + to + 4 * w, r1));
        }
    }
    b.goto(ports);
    b.bind(v4);
    for (from, to) in [(ctx.local_ip4, key::LOCAL), (ctx.remote_ip4, key::REMOTE)] {
        b.emit(Insn::st_imm(Size::W, Reg::FP, KEY + to + 8, V4_MAPPED_WORD));
        b.emit(Insn::ldx(Size::W, r1, Reg::R6, from));
        b.emit(Insn::stx(Size::W, Reg::FP, KEY + to + 12, r1));
    }
    b.bind(ports);
    b.emit(Insn::ldx(Size::W, r1, Reg::R6, ctx.local_port));
    b.emit(Insn::stx(Size::H, Reg::FP, KEY + key::LOCAL_PORT, r1));
    b.emit(Insn::ldx(Size::W, r1, Reg::R6, ctx.remote_port));
    b.emit(Insn::be(r1, 32));
    b.emit(Insn::stx(Size::H, Reg::FP, KEY + key::REMOTE_PORT, r1));
}

/// The third 32-bit word of `::ffff:0:0/96` as a little-endian load reads it (bytes
/// `00 00 ff ff`).
const V4_MAPPED_WORD: i32 = u32::from_le_bytes([0, 0, 0xff, 0xff]) as i32;

/// A sockmap block's program: see the module docs.
pub(crate) fn lower_rules(
    module: &Module,
    prog: &Program,
    spec: &HookSpec,
    ctx: SockCtx,
    sizing: &Sizing,
) -> Result<Code, LowerError> {
    let group = module
        .sockmaps
        .iter()
        .find(|g| g.cgroup == prog.attach_to)
        .expect("sema puts every sockmap block in its cgroup's group");
    let mut rules = Rules {
        prog,
        group,
        ctx,
        send: spec.egress,
        redirects_locally: prog
            .rules
            .iter()
            .any(|r| r.action == Action::Redirect(None)),
    };
    let mut b = CodeBuffer::new();
    rules.prologue(&mut b);
    rules::emit(b, module, prog, spec, sizing, &mut rules)
}

struct Rules<'a> {
    prog: &'a Program,
    group: &'a SockmapGroup,
    ctx: SockCtx,
    /// The send side (sk_msg); else the receive side (sk_skb).
    send: bool,
    /// A `redirect local` rule needs the namespace in the key.
    redirects_locally: bool,
}

impl Rules<'_> {
    /// `bpf_msg_redirect_hash` / `bpf_sk_redirect_hash` to the key at [`PEER`];
    /// leaves `SK_PASS` (redirected) or `SK_DROP` (no such socket) in `r0`.
    fn emit_redirect_call(&self, b: &mut CodeBuffer, ingress: bool) {
        b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
        b.ld_map(Reg::R2, &self.group.map_name(MapRole::Sockets));
        b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R3, PEER as i32));
        let flags = if ingress {
            uapi::BPF_F_INGRESS as i32
        } else {
            0
        };
        b.emit(Insn::mov64_imm(Reg::R4, flags));
        let helper = if self.send {
            bpf_func_id::BPF_FUNC_msg_redirect_hash
        } else {
            bpf_func_id::BPF_FUNC_sk_redirect_hash
        };
        b.emit(Insn::call(helper as u32));
    }

    /// Counts and exits with the verdict in `r9`, skipping the shared tail (a redirect
    /// is not a pass through the stack).
    fn count_and_exit(&self, b: &mut CodeBuffer) {
        b.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
        emit_count(b);
        b.emit(Insn::mov64_reg(Reg::R0, Reg::R9));
        b.emit(Insn::exit());
    }

    fn redirect_local(&self, b: &mut CodeBuffer, rule: usize, count_exit: Label) {
        let stack = b.new_label();
        // A socket that has sent through the stack never redirects (module docs).
        emit_sent_lookup(b, self.group, &self.ctx, false, stack);
        b.branch_imm(Cond::Ne, Reg::R0, 0, stack);
        // The peer's key: the own key with the ends swapped.
        let r1 = Reg::R1;
        b.emit(Insn::ldx(Size::DW, r1, Reg::FP, KEY + key::NETNS));
        b.emit(Insn::stx(Size::DW, Reg::FP, PEER + key::NETNS, r1));
        for (from, to) in [(key::LOCAL, key::REMOTE), (key::REMOTE, key::LOCAL)] {
            for w in (0..16).step_by(8) {
                b.emit(Insn::ldx(Size::DW, r1, Reg::FP, KEY + from + w));
                b.emit(Insn::stx(Size::DW, Reg::FP, PEER + to + w, r1));
            }
        }
        for (from, to) in [
            (key::LOCAL_PORT, key::REMOTE_PORT),
            (key::REMOTE_PORT, key::LOCAL_PORT),
        ] {
            b.emit(Insn::ldx(Size::H, r1, Reg::FP, KEY + from));
            b.emit(Insn::stx(Size::H, Reg::FP, PEER + to, r1));
        }
        b.emit(Insn::st_imm(Size::W, Reg::FP, PEER + key::SLOT, 0));
        self.emit_redirect_call(b, true);
        b.branch_imm(Cond::Ne, Reg::R0, uapi::sk_action::SK_PASS as i32, stack);
        self.count_and_exit(b);
        // No local peer: through the stack (the shared tail marks the socket), counted
        // in the rule's second slot.
        b.bind(stack);
        let slot = self
            .group
            .stack_counter(rule)
            .expect("sema gives every redirect local rule a stack counter");
        b.emit(Insn::st_imm(
            Size::W,
            Reg::FP,
            at(flow::COUNTER_KEY),
            slot as i32,
        ));
        b.emit(Insn::mov64_imm(Reg::R9, uapi::sk_action::SK_PASS as i32));
        b.goto(count_exit);
    }

    fn redirect_named(&self, b: &mut CodeBuffer, module: &Module, sock: SockId, ingress: bool) {
        zero(b, PEER, key::SIZE);
        let slot = key::slot(&module.sockets[sock].name);
        b.emit(Insn::st_imm(
            Size::W,
            Reg::FP,
            PEER + key::SLOT,
            slot as i32,
        ));
        self.emit_redirect_call(b, ingress);
        self.count_and_exit(b);
    }
}

/// `r0 = bpf_sk_storage_get(sent, sk, NULL, create ? F_CREATE : 0)`: with `create`,
/// marks the socket as having sent through the stack; without, `r0` is non-zero
/// exactly when it has. A missing socket jumps to `none`. Clobbers r0-r5.
fn emit_sent_lookup(
    b: &mut CodeBuffer,
    g: &SockmapGroup,
    ctx: &SockCtx,
    create: bool,
    none: Label,
) {
    load_sk(b, ctx, Reg::R2);
    b.branch_imm(Cond::Eq, Reg::R2, 0, none);
    b.ld_map(Reg::R1, &g.map_name(MapRole::SentThroughStack));
    b.emit(Insn::mov64_imm(Reg::R3, 0));
    let flags = if create {
        uapi::BPF_SK_STORAGE_GET_F_CREATE as i32
    } else {
        0
    };
    b.emit(Insn::mov64_imm(Reg::R4, flags));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_storage_get as u32));
}

impl Rules<'_> {
    /// The socket's key, and the flow record filled from it; `r6` the context.
    fn prologue(&self, b: &mut CodeBuffer) {
        let (r1, r2) = (Reg::R1, Reg::R2);
        b.note("prologue: the socket's key, and the flow record from it");
        b.emit(Insn::mov64_reg(Reg::R6, Reg::R1));
        zero(b, flow::FLOW, flow::SIZE);
        let done = b.new_label();
        emit_own_key(b, &self.ctx, self.send && self.redirects_locally, done);
        if uses_sets(self.prog) {
            write_lpm_prefix_lengths(b);
        }
        // Sending: from = local, to = remote. Receiving: the reverse.
        let (src, dst, sport, dport) = if self.send {
            (key::LOCAL, key::REMOTE, key::LOCAL_PORT, key::REMOTE_PORT)
        } else {
            (key::REMOTE, key::LOCAL, key::REMOTE_PORT, key::LOCAL_PORT)
        };
        let v6 = b.new_label();
        let l4 = b.new_label();
        // v4-mapped: the first 8 bytes zero and the next 4 `00 00 ff ff`.
        b.emit(Insn::ldx(Size::DW, r1, Reg::FP, KEY + key::LOCAL));
        b.branch_imm(Cond::Ne, r1, 0, v6);
        b.emit(Insn::ldx(Size::W, r1, Reg::FP, KEY + key::LOCAL + 8));
        b.branch32_imm(Cond::Ne, r1, V4_MAPPED_WORD as u32, v6);
        b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 4));
        for (from, to) in [(src, flow::SRC4), (dst, flow::DST4)] {
            b.emit(Insn::ldx(Size::W, r1, Reg::FP, KEY + from + 12));
            b.emit(Insn::stx(Size::W, Reg::FP, at(to), r1));
        }
        b.goto(l4);
        b.bind(v6);
        b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 6));
        for (from, to) in [(src, flow::SRC6), (dst, flow::DST6)] {
            for w in 0..4 {
                b.emit(Insn::ldx(Size::W, r1, Reg::FP, KEY + from + 4 * w));
                b.emit(Insn::stx(Size::W, Reg::FP, at(to) + 4 * w, r1));
            }
        }
        b.bind(l4);
        b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::PROTO), 6));
        b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L4_OK), 1));
        for (from, to) in [(sport, flow::SPORT), (dport, flow::DPORT)] {
            b.emit(Insn::ldx(Size::H, r2, Reg::FP, KEY + from));
            b.emit(Insn::stx(Size::H, Reg::FP, at(to), r2));
        }
        b.bind(done);
        if let Some(len) = self.ctx.len {
            b.emit(Insn::ldx(Size::W, r1, Reg::R6, len));
            b.emit(Insn::stx(Size::W, Reg::FP, at(flow::PKT_LEN), r1));
        }
    }
}

impl Redirect for Rules<'_> {
    fn redirect(&mut self, b: &mut CodeBuffer, module: &Module, sock: SockId, _: Label) {
        self.redirect_named(b, module, sock, false);
    }

    fn finish(&mut self, _: &mut CodeBuffer, _: Label) {}

    fn redirect_action(
        &mut self,
        b: &mut CodeBuffer,
        module: &Module,
        rule: usize,
        action: Action,
        count_exit: Label,
    ) {
        match action {
            Action::Redirect(None) => self.redirect_local(b, rule, count_exit),
            Action::Redirect(Some(s)) => self.redirect_named(b, module, s, false),
            Action::RedirectIngress(s) => self.redirect_named(b, module, s, true),
            other => unreachable!("{other} is not a redirect"),
        }
    }

    fn before_exit(&mut self, b: &mut CodeBuffer) {
        if !self.send {
            return;
        }
        // A message through the stack marks its socket (module docs).
        let out = b.new_label();
        b.branch_imm(Cond::Ne, Reg::R9, uapi::sk_action::SK_PASS as i32, out);
        emit_sent_lookup(b, self.group, &self.ctx, true, out);
        b.bind(out);
    }
}

/// A program sockc adds to `group` (see the module docs).
pub(crate) fn lower_companion(group: &SockmapGroup, c: &Companion) -> Result<Code, LowerError> {
    let mut b = CodeBuffer::new();
    match c.hook {
        HookKind::SkMsgDispatch | HookKind::SkSkbDispatch => dispatcher(&mut b, group, c),
        HookKind::SockOps => sock_ops(&mut b, group, c),
        other => unreachable!("{other} is not a companion"),
    }
    Ok(b.finish()?)
}

fn dispatcher(b: &mut CodeBuffer, g: &SockmapGroup, c: &Companion) {
    let side = match c.hook {
        HookKind::SkMsgDispatch => HookKind::SockmapSend,
        _ => HookKind::SockmapReceive,
    };
    let spec = side.spec();
    let array = g.program_array(side).expect("a side has a program array");
    b.note(format!(
        "dispatcher: tail call into slot 0 of {}",
        g.map_name(array)
    ));
    b.emit(Insn::mov64_reg(Reg::R6, Reg::R1));
    b.ld_map(Reg::R2, &g.map_name(array));
    b.emit(Insn::mov64_imm(Reg::R3, 0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_tail_call as u32));
    b.note("the slot is empty: through the stack");
    let out = b.new_label();
    if side == HookKind::SockmapSend {
        let crate::hooks::Context::SkMsg(sock) = spec.context else {
            unreachable!("the send side reads sk_msg_md")
        };
        emit_sent_lookup(b, g, &sock, true, out);
    }
    b.bind(out);
    // Names the socket map, so it lives while a socket runs this program.
    b.ld_map(Reg::R1, &g.map_name(MapRole::Sockets));
    b.emit(Insn::mov64_imm(Reg::R0, verdict(spec, Action::Allow)));
    b.emit(Insn::exit());
}

fn sock_ops(b: &mut CodeBuffer, g: &SockmapGroup, c: &Companion) {
    let crate::hooks::Context::SockOps { sock, op: op_field } = HookKind::SockOps.spec().context
    else {
        unreachable!("the sock_ops row has a sock_ops context")
    };
    let [added, busy, other] = [0, 1, 2].map(|i| c.counters[i].0 as i32);
    let (insert, out) = (b.new_label(), b.new_label());
    b.note("sock_ops: an established TCP socket goes into the socket map");
    b.emit(Insn::mov64_reg(Reg::R6, Reg::R1));
    b.emit(Insn::ldx(Size::W, Reg::R1, Reg::R6, op_field));
    b.branch_imm(
        Cond::Eq,
        Reg::R1,
        uapi::BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB as i32,
        insert,
    );
    b.branch_imm(
        Cond::Ne,
        Reg::R1,
        uapi::BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB as i32,
        out,
    );
    b.bind(insert);
    emit_own_key(b, &sock, true, out);
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.ld_map(Reg::R2, &g.map_name(MapRole::Sockets));
    b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R3, KEY as i32));
    b.emit(Insn::mov64_imm(Reg::R4, uapi::BPF_NOEXIST as i32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sock_hash_update as u32));
    let (count, not_added) = (b.new_label(), b.new_label());
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::PKT_LEN), 0));
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::COUNTER_KEY), added));
    b.branch_imm(Cond::Ne, Reg::R0, 0, not_added);
    b.goto(count);
    b.bind(not_added);
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::COUNTER_KEY), other));
    b.branch_imm(Cond::Ne, Reg::R0, -EBUSY, count);
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::COUNTER_KEY), busy));
    b.bind(count);
    emit_count(b);
    b.bind(out);
    b.emit(Insn::mov64_imm(Reg::R0, 1));
    b.emit(Insn::exit());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebusy_is_the_kernels() {
        assert_eq!(EBUSY, libc::EBUSY);
    }

    /// The key layout is the map's key type, member by member.
    #[test]
    fn key_offsets_match_the_btf_type() {
        let t = crate::bpf::maps::sock_key_type();
        assert_eq!(t.size(), key::SIZE as u32);
        assert_eq!(
            t.member_offsets(),
            [
                key::NETNS,
                key::LOCAL,
                key::REMOTE,
                key::LOCAL_PORT,
                key::REMOTE_PORT,
                key::SLOT
            ]
            .map(|o| o as u32)
        );
    }
}
