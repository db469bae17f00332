//! The tubular-style sk_lookup program the bench compares sockc with, assembled with
//! the compiler's instruction encoder and written as an object the runtime loads.
//!
//! One LPM trie keyed `{prefixlen, protocol, pad, port, v4-mapped address}` (tubular's
//! key, with a pad byte so every store is aligned), looked up once with the lookup's
//! port and once with port 0, the longer prefix winning (the specific port on a tie),
//! then the destination's socket from a SOCKMAP, `bpf_sk_assign`, release; one
//! per-CPU counter bump per lookup, as sockc's programs do. The context offsets come
//! from the kernel's `struct bpf_sk_lookup`, not from sockc's hook table, so that the
//! baseline owes nothing to the compiler but the encoding.

use std::mem::offset_of;

use aya_ebpf_bindings::bindings::bpf_sk_lookup;
use aya_obj::generated::{bpf_func_id, bpf_map_type, BPF_F_NO_PREALLOC};
use sockc_compiler::{
    bpf::{
        buffer::{Code, CodeBuffer, Label},
        insn::{op, Cond, Insn, Reg, Size},
        maps::{hex, BtfType, Entries, MapContents, MapDef},
    },
    hooks::HookKind,
    metadata::{Metadata, ProgramMeta, METADATA_FORMAT},
    obj::{write_object, ObjectImage, ProgramImage},
};

use super::bindings::{Binding, SOCKETS};

/// The program's symbol in the object.
pub const SYMBOL: &str = "tubular_style";

const BINDINGS_MAP: &str = "bindings";
/// tubular's name for its SOCKMAP of destinations, and sockc's for its socket map.
const DEST_MAP: &str = "sockets";
const METRICS_MAP: &str = "metrics";
/// Key on the stack: prefixlen u32 @0, protocol u8 @4, pad u8 @5, port be16 @6,
/// address (v4-mapped) u32[4] @8; 24 bytes.
const KEY: i16 = -24;
const KEY_BITS: u32 = 8 * (1 + 1 + 2 + 16);
/// Value: destination id u32 @0, the binding's prefix length u32 @4.
const ID_SLOT: i16 = -28;
const METRIC_SLOT: i16 = -32;

/// Where the program reads the lookup in its context.
const FAMILY: i16 = offset_of!(bpf_sk_lookup, family) as i16;
const PROTOCOL: i16 = offset_of!(bpf_sk_lookup, protocol) as i16;
const LOCAL_IP4: i16 = offset_of!(bpf_sk_lookup, local_ip4) as i16;
const LOCAL_IP6: i16 = offset_of!(bpf_sk_lookup, local_ip6) as i16;
const LOCAL_PORT: i16 = offset_of!(bpf_sk_lookup, local_port) as i16;

const FP: Reg = Reg::FP;

fn tubular_key(b: &Binding) -> String {
    let mut k = Vec::with_capacity(24);
    // proto, pad and port bits always count; then 96 bits of the v4-mapped prefix
    let plen = 32 + 96 + u32::from(b.plen);
    k.extend(plen.to_le_bytes());
    k.push(6);
    k.push(0);
    k.extend(b.port.unwrap_or(0).to_be_bytes());
    k.extend([0u8; 10]);
    k.extend([0xff, 0xff]);
    k.extend(b.net);
    hex(&k)
}

fn tubular_value(b: &Binding) -> String {
    let mut v = (b.socket as u32).to_le_bytes().to_vec();
    v.extend((32 + 96 + u32::from(b.plen)).to_le_bytes());
    hex(&v)
}

/// The program; see the module docs. r6 holds the context, r9 the return value.
fn code() -> Code {
    let mut b = CodeBuffer::new();
    let pass = b.new_label();
    let drop = b.new_label();
    b.emit(Insn::mov64_reg(Reg::R6, Reg::R1));
    b.emit(Insn::mov64_imm(Reg::R9, 1)); // SK_PASS unless decided otherwise
    store_key(&mut b);
    lookup_bindings(&mut b);
    b.branch_imm(Cond::Eq, Reg::R7, 0, pass);
    assign_socket(&mut b, pass, drop);
    b.bind(drop);
    b.emit(Insn::mov64_imm(Reg::R9, 0));
    b.bind(pass);
    count_and_exit(&mut b);
    b.finish().expect("labels bound")
}

/// The key's prefix length, protocol, pad and (v4-mapped) address, from the context.
fn store_key(b: &mut CodeBuffer) {
    let (r1, r6) = (Reg::R1, Reg::R6);
    b.emit(Insn::st_imm(Size::W, FP, KEY, KEY_BITS as i32));
    b.emit(Insn::ldx(Size::W, r1, r6, PROTOCOL));
    b.emit(Insn::stx(Size::B, FP, KEY + 4, r1));
    b.emit(Insn::st_imm(Size::B, FP, KEY + 5, 0));
    let v6 = b.new_label();
    let addr_done = b.new_label();
    b.emit(Insn::ldx(Size::W, r1, r6, FAMILY));
    b.branch_imm(Cond::Ne, r1, libc::AF_INET, v6);
    b.emit(Insn::st_imm(Size::DW, FP, KEY + 8, 0));
    b.emit(Insn::st_imm(
        Size::W,
        FP,
        KEY + 16,
        i32::from_le_bytes([0, 0, 0xff, 0xff]),
    ));
    b.emit(Insn::ldx(Size::W, r1, r6, LOCAL_IP4));
    b.emit(Insn::stx(Size::W, FP, KEY + 20, r1));
    b.goto(addr_done);
    b.bind(v6);
    for w in 0..4 {
        b.emit(Insn::ldx(Size::W, r1, r6, LOCAL_IP6 + 4 * w));
        b.emit(Insn::stx(Size::W, FP, KEY + 8 + 4 * w, r1));
    }
    b.bind(addr_done);
}

/// `r0 = bpf_map_lookup_elem(map, fp + key)`.
fn map_lookup(b: &mut CodeBuffer, map: &str, key: i16) {
    b.ld_map(Reg::R1, map);
    b.emit(Insn::mov64_reg(Reg::R2, FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, i32::from(key)));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
}

/// The binding for the key with the lookup's port (r7) and with every port (r8); r7
/// ends as the winner, or NULL: the wildcard only with a strictly longer prefix.
fn lookup_bindings(b: &mut CodeBuffer) {
    let (r1, r2, r7, r8) = (Reg::R1, Reg::R2, Reg::R7, Reg::R8);
    // exact port
    b.emit(Insn::ldx(Size::W, r1, Reg::R6, LOCAL_PORT));
    b.emit(Insn::be(r1, 16));
    b.emit(Insn::stx(Size::H, FP, KEY + 6, r1));
    map_lookup(b, BINDINGS_MAP, KEY);
    b.emit(Insn::mov64_reg(r7, Reg::R0));
    // every port
    b.emit(Insn::st_imm(Size::H, FP, KEY + 6, 0));
    map_lookup(b, BINDINGS_MAP, KEY);
    b.emit(Insn::mov64_reg(r8, Reg::R0));
    let have_exact = b.new_label();
    let chosen = b.new_label();
    b.branch_imm(Cond::Ne, r7, 0, have_exact);
    b.emit(Insn::mov64_reg(r7, r8));
    b.goto(chosen);
    b.bind(have_exact);
    b.branch_imm(Cond::Eq, r8, 0, chosen);
    b.emit(Insn::ldx(Size::W, r1, r7, 4));
    b.emit(Insn::ldx(Size::W, r2, r8, 4));
    b.branch_reg(Cond::Ge, r1, r2, chosen);
    b.emit(Insn::mov64_reg(r7, r8));
    b.bind(chosen);
}

/// The winner's destination socket from the SOCKMAP, assigned and released; to
/// `drop` when the destination has no socket or the kernel refuses it, else `pass`.
fn assign_socket(b: &mut CodeBuffer, pass: Label, drop: Label) {
    let (r0, r1, r2, r7, r8) = (Reg::R0, Reg::R1, Reg::R2, Reg::R7, Reg::R8);
    b.emit(Insn::ldx(Size::W, r1, r7, 0));
    b.emit(Insn::stx(Size::W, FP, ID_SLOT, r1));
    // A socket reference (or NULL): the verifier refuses the program unless every
    // path releases it.
    map_lookup(b, DEST_MAP, ID_SLOT);
    b.branch_imm(Cond::Eq, r0, 0, drop);
    b.emit(Insn::mov64_reg(r7, r0));
    b.emit(Insn::mov64_reg(r1, Reg::R6));
    b.emit(Insn::mov64_reg(r2, r7));
    b.emit(Insn::mov64_imm(Reg::R3, 0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_assign as u32));
    b.emit(Insn::mov64_reg(r8, r0));
    b.emit(Insn::mov64_reg(r1, r7));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_release as u32));
    b.branch_imm(Cond::Eq, r8, 0, pass);
}

/// One per-CPU counter per lookup, as sockc's programs keep; returns r9.
fn count_and_exit(b: &mut CodeBuffer) {
    let (r0, r1) = (Reg::R0, Reg::R1);
    b.emit(Insn::st_imm(Size::W, FP, METRIC_SLOT, 0));
    map_lookup(b, METRICS_MAP, METRIC_SLOT);
    let out = b.new_label();
    b.branch_imm(Cond::Eq, r0, 0, out);
    b.emit(Insn::ldx(Size::DW, r1, r0, 0));
    b.emit(Insn::alu64_imm(op::ADD, r1, 1));
    b.emit(Insn::stx(Size::DW, r0, 0, r1));
    b.bind(out);
    b.emit(Insn::mov64_reg(r0, Reg::R9));
    b.emit(Insn::exit());
}

/// The object holding the program, its maps (the bindings filled from `bs`) and the
/// metadata the runtime loads it by.
pub fn object(bs: &[Binding]) -> Result<Vec<u8>, String> {
    let code = code();
    let metadata = serde_json::to_vec(&metadata(bs)).map_err(|e| e.to_string())?;
    write_object(&ObjectImage {
        programs: vec![ProgramImage {
            name: SYMBOL.into(),
            section: HookKind::SkLookup.spec().section.into(),
            insns: code.insns,
            map_relocs: code.map_relocs,
        }],
        maps: maps(bs.len()),
        license: "GPL".into(),
        metadata: &metadata,
        tables: &[],
    })
    .map_err(|e| e.to_string())
}

/// The counters sockc's runtime reads, the metrics, the bindings trie (room for `n`)
/// and the SOCKMAP of destinations.
fn maps(n: usize) -> Vec<MapDef> {
    let key = BtfType::Struct {
        name: "tubular_key".into(),
        members: vec![
            ("prefixlen".into(), BtfType::U32),
            ("protocol".into(), BtfType::U8),
            ("pad".into(), BtfType::U8),
            ("port".into(), BtfType::U16),
            (
                "addr".into(),
                BtfType::Array {
                    elem: Box::new(BtfType::U32),
                    len: 4,
                },
            ),
        ],
    };
    let value = BtfType::Struct {
        name: "tubular_value".into(),
        members: vec![
            ("id".into(), BtfType::U32),
            ("prefixlen".into(), BtfType::U32),
        ],
    };
    let map = |name: &str, map_type: bpf_map_type, key, value, max_entries, flags| MapDef {
        name: name.into(),
        map_type: map_type as u32,
        key,
        value,
        max_entries,
        flags,
    };
    let counters = BtfType::Array {
        elem: Box::new(BtfType::U64),
        len: 2,
    };
    let (percpu, lpm) = (
        bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY,
        bpf_map_type::BPF_MAP_TYPE_LPM_TRIE,
    );
    vec![
        map("counters", percpu, BtfType::U32, counters, 1, 0),
        map(METRICS_MAP, percpu, BtfType::U32, BtfType::U64, 1, 0),
        map(
            BINDINGS_MAP,
            lpm,
            key,
            value,
            (n as u32).max(1),
            BPF_F_NO_PREALLOC,
        ),
        map(
            DEST_MAP,
            bpf_map_type::BPF_MAP_TYPE_SOCKMAP,
            BtfType::U32,
            BtfType::U64,
            SOCKETS as u32,
            0,
        ),
    ]
}

/// One sk_lookup program with one counter and no rules; the bindings as the trie's
/// contents.
fn metadata(bs: &[Binding]) -> Metadata {
    Metadata {
        format: METADATA_FORMAT,
        programs: vec![ProgramMeta {
            symbol: SYMBOL.into(),
            hook: HookKind::SkLookup,
            attach_to: String::new(),
            rules: Vec::new().into(),
            socket_slots: Vec::new(),
            netns_cookie: Vec::new(),
            kernel_refs: Vec::new(),
            attach_map: None,
        }],
        map_contents: vec![MapContents {
            map: BINDINGS_MAP.into(),
            entries: {
                let pairs: Vec<(String, String)> = bs
                    .iter()
                    .map(|b| (tubular_key(b), tubular_value(b)))
                    .collect();
                Entries::from_hex_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .expect("keys and values of one size")
            },
        }],
        counters: 1,
        tables: Vec::new(),
        sockets: Vec::new(),
        answers: None,
        cgroups: Vec::new(),
        durable_maps: Vec::new(),
    }
}
