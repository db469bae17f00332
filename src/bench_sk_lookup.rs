//! `sockc bench`'s sk_lookup table: the kernel-measured cost of one socket lookup
//! through sockc's program for N bindings, against a program that only returns
//! `SK_PASS` (the cost of running any sk_lookup program at all) and against a
//! tubular-style program that the bench builds itself.
//!
//! A binding is (TCP, prefix, port or every port) → one of four sockets, like
//! tubular's. sockc's program is compiled from `redirect tcp to PREFIX:PORT to sock
//! S` rules (`:*` for every port); the bindings' prefixes are disjoint, so first
//! match and tubular's precedence (longest prefix, then the specific port) pick the
//! same socket, and the bench checks that both programs select the same socket for
//! every measured lookup before it reports anything. The tubular-style program: one
//! LPM trie keyed `{prefixlen, protocol, pad, port, v4-mapped address}` (tubular's
//! key, with a pad byte so every store is aligned), looked up once with the lookup's
//! port and once with port 0, the longer prefix winning (the specific port on a tie),
//! then the destination's socket from a SOCKMAP, `bpf_sk_assign`, release; one
//! per-CPU counter bump per lookup, as sockc's programs do.
//!
//! Lookups measured: to the first binding, to the last (the worst case of a linear
//! rule list), and to an address no binding covers (`SK_PASS`, the normal lookup).
//! Each figure is the median of several `BPF_PROG_TEST_RUN`s with a large repeat;
//! ratios are within this run only.

use std::{
    net::{SocketAddr, TcpListener},
    os::fd::AsFd,
};

use aya_obj::generated::{bpf_func_id, bpf_map_type, BPF_F_NO_PREALLOC};
use sockc_compiler::{
    bpf::{
        buffer::CodeBuffer,
        insn::{op, Cond, Insn, Reg, Size},
        maps::{hex, BtfType, MapContents, MapDef},
    },
    hooks::{HookKind, AF_INET, SK_LOOKUP_CTX},
    metadata::{Metadata, ProgramMeta, METADATA_FORMAT},
    obj::{write_object, ObjectImage, ProgramImage},
    opt::OptLevel,
};
use sockc_runtime::{attach::sk_lookup::context, LoadedObject};

/// Sockets the bindings point at.
const SOCKETS: usize = 4;

/// One binding: prefix `10.a.b.0/24` (or `/32` for every third), a port or every
/// port (every fourth), socket `i % 4`. Distinct `i` below 65,536 give disjoint
/// prefixes.
struct Binding {
    net: [u8; 4],
    plen: u8,
    port: Option<u16>,
    socket: usize,
}

fn bindings(n: usize) -> Vec<Binding> {
    (0..n)
        .map(|i| {
            let (a, b) = ((i / 256 % 256) as u8, (i % 256) as u8);
            let host = i % 3 == 0;
            Binding {
                net: [10, a, b, if host { 7 } else { 0 }],
                plen: if host { 32 } else { 24 },
                port: (i % 4 != 0).then_some(1000 + (i % 5000) as u16),
                socket: i % SOCKETS,
            }
        })
        .collect()
}

fn sockc_source(bs: &[Binding]) -> String {
    let mut s = String::new();
    for k in 0..SOCKETS {
        s.push_str(&format!("socket s{k} = tcp 127.0.0.1:{}\n", 1001 + k));
    }
    s.push_str("sk_lookup {\n");
    for b in bs {
        let [a, x, y, z] = b.net;
        let port = b.port.map_or("*".to_string(), |p| p.to_string());
        s.push_str(&format!(
            "    redirect tcp to {a}.{x}.{y}.{z}/{}:{port} to sock s{}\n",
            b.plen, b.socket
        ));
    }
    s.push_str("    default pass\n}\n");
    s
}

/// A lookup that hits binding `b` (from 192.0.2.1:40000).
fn lookup_of(b: &Binding) -> (SocketAddr, SocketAddr) {
    let [a, x, y, _] = b.net;
    let host = if b.plen == 32 { b.net[3] } else { 9 };
    (
        "192.0.2.1:40000".parse().unwrap(),
        SocketAddr::from(([a, x, y, host], b.port.unwrap_or(4242))),
    )
}

// ---- the tubular-style program -----------------------------------------------------

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

/// The program; see the module docs.
fn tubular_code() -> sockc_compiler::bpf::buffer::Code {
    let c = &SK_LOOKUP_CTX;
    let (r0, r1, r2, r3, r6, r7, r8) = (
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R6,
        Reg::R7,
        Reg::R8,
    );
    let fp = Reg::FP;
    let mut b = CodeBuffer::new();
    let pass = b.new_label();
    let drop = b.new_label();
    let count_exit = b.new_label();
    b.emit(Insn::mov64_reg(r6, r1));
    b.emit(Insn::mov64_imm(Reg::R9, 1)); // SK_PASS unless decided otherwise
    b.emit(Insn::st_imm(Size::W, fp, KEY, KEY_BITS as i32));
    b.emit(Insn::ldx(Size::W, r1, r6, c.protocol));
    b.emit(Insn::stx(Size::B, fp, KEY + 4, r1));
    b.emit(Insn::st_imm(Size::B, fp, KEY + 5, 0));
    let v6 = b.new_label();
    let addr_done = b.new_label();
    b.emit(Insn::ldx(Size::W, r1, r6, c.family));
    b.branch_imm(Cond::Ne, r1, AF_INET as i32, v6);
    b.emit(Insn::st_imm(Size::DW, fp, KEY + 8, 0));
    b.emit(Insn::st_imm(
        Size::W,
        fp,
        KEY + 16,
        i32::from_le_bytes([0, 0, 0xff, 0xff]),
    ));
    b.emit(Insn::ldx(Size::W, r1, r6, c.local_ip4));
    b.emit(Insn::stx(Size::W, fp, KEY + 20, r1));
    b.goto(addr_done);
    b.bind(v6);
    for w in 0..4 {
        b.emit(Insn::ldx(Size::W, r1, r6, c.local_ip6 + 4 * w));
        b.emit(Insn::stx(Size::W, fp, KEY + 8 + 4 * w, r1));
    }
    b.bind(addr_done);
    // exact port
    b.emit(Insn::ldx(Size::W, r1, r6, c.local_port));
    b.emit(Insn::be(r1, 16));
    b.emit(Insn::stx(Size::H, fp, KEY + 6, r1));
    b.ld_map(r1, BINDINGS_MAP);
    b.emit(Insn::mov64_reg(r2, fp));
    b.emit(Insn::alu64_imm(op::ADD, r2, i32::from(KEY)));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    b.emit(Insn::mov64_reg(r7, r0));
    // every port
    b.emit(Insn::st_imm(Size::H, fp, KEY + 6, 0));
    b.ld_map(r1, BINDINGS_MAP);
    b.emit(Insn::mov64_reg(r2, fp));
    b.emit(Insn::alu64_imm(op::ADD, r2, i32::from(KEY)));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    b.emit(Insn::mov64_reg(r8, r0));
    // r7: the winner (the wildcard only with a strictly longer prefix)
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
    b.branch_imm(Cond::Eq, r7, 0, pass);
    b.emit(Insn::ldx(Size::W, r1, r7, 0));
    b.emit(Insn::stx(Size::W, fp, ID_SLOT, r1));
    b.ld_map(r1, DEST_MAP);
    b.emit(Insn::mov64_reg(r2, fp));
    b.emit(Insn::alu64_imm(op::ADD, r2, i32::from(ID_SLOT)));
    b.call_acquire(bpf_func_id::BPF_FUNC_map_lookup_elem as u32);
    b.branch_imm(Cond::Eq, r0, 0, drop);
    b.emit(Insn::mov64_reg(r7, r0));
    b.emit(Insn::mov64_reg(r1, r6));
    b.emit(Insn::mov64_reg(r2, r7));
    b.emit(Insn::mov64_imm(r3, 0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_assign as u32));
    b.emit(Insn::mov64_reg(r8, r0));
    b.emit(Insn::mov64_reg(r1, r7));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_release as u32));
    b.branch_imm(Cond::Eq, r8, 0, pass);
    b.bind(drop);
    b.emit(Insn::mov64_imm(Reg::R9, 0));
    b.bind(pass);
    // one per-CPU counter per lookup, as sockc's programs keep
    b.bind(count_exit);
    b.emit(Insn::st_imm(Size::W, fp, METRIC_SLOT, 0));
    b.ld_map(r1, METRICS_MAP);
    b.emit(Insn::mov64_reg(r2, fp));
    b.emit(Insn::alu64_imm(op::ADD, r2, i32::from(METRIC_SLOT)));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    let out = b.new_label();
    b.branch_imm(Cond::Eq, r0, 0, out);
    b.emit(Insn::ldx(Size::DW, r1, r0, 0));
    b.emit(Insn::alu64_imm(op::ADD, r1, 1));
    b.emit(Insn::stx(Size::DW, r0, 0, r1));
    b.bind(out);
    b.emit(Insn::mov64_reg(r0, Reg::R9));
    b.emit(Insn::exit());
    b.finish().expect("labels bound")
}

fn tubular_object(bs: &[Binding]) -> Result<Vec<u8>, String> {
    let code = tubular_code();
    sockc_compiler::bpf::refcheck::check_code(&code).map_err(|e| e.to_string())?;
    let symbol = "tubular_style";
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
    let maps = vec![
        MapDef {
            name: "counters".into(),
            map_type: bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
            key: BtfType::U32,
            value: BtfType::Array {
                elem: Box::new(BtfType::U64),
                len: 2,
            },
            max_entries: 1,
            flags: 0,
        },
        MapDef {
            name: METRICS_MAP.into(),
            map_type: bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
            key: BtfType::U32,
            value: BtfType::U64,
            max_entries: 1,
            flags: 0,
        },
        MapDef {
            name: BINDINGS_MAP.into(),
            map_type: bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32,
            key,
            value: BtfType::Struct {
                name: "tubular_value".into(),
                members: vec![
                    ("id".into(), BtfType::U32),
                    ("prefixlen".into(), BtfType::U32),
                ],
            },
            max_entries: (bs.len() as u32).max(1),
            flags: BPF_F_NO_PREALLOC,
        },
        MapDef {
            name: DEST_MAP.into(),
            map_type: bpf_map_type::BPF_MAP_TYPE_SOCKMAP as u32,
            key: BtfType::U32,
            value: BtfType::U64,
            max_entries: SOCKETS as u32,
            flags: 0,
        },
    ];
    let metadata = Metadata {
        format: METADATA_FORMAT,
        programs: vec![ProgramMeta {
            symbol: symbol.into(),
            hook: HookKind::SkLookup,
            attach_to: String::new(),
            rules: Vec::new(),
            socket_slots: Vec::new(),
            netns_cookie: Vec::new(),
            attach_map: None,
        }],
        map_contents: vec![MapContents {
            map: BINDINGS_MAP.into(),
            entries: bs
                .iter()
                .map(|b| (tubular_key(b), tubular_value(b)))
                .collect(),
        }],
        counters: 1,
        tables: Vec::new(),
        sockets: Vec::new(),
        durable_maps: Vec::new(),
    };
    let metadata = serde_json::to_vec(&metadata).map_err(|e| e.to_string())?;
    write_object(&ObjectImage {
        programs: vec![ProgramImage {
            name: symbol.into(),
            section: HookKind::SkLookup.spec().section.into(),
            insns: code.insns,
            map_relocs: code.map_relocs,
        }],
        maps,
        license: "GPL".into(),
        metadata: &metadata,
        tables: &[],
    })
    .map_err(|e| e.to_string())
}

// ---- measuring ---------------------------------------------------------------------

struct Program {
    label: &'static str,
    obj: LoadedObject,
    symbol: String,
}

fn sockc_program(src: &str, level: OptLevel) -> Result<Program, String> {
    let c = super::bench_cmd::compile(src, level)?;
    let elf = c.to_elf().map_err(|e| e.to_string())?;
    let obj = LoadedObject::load(&elf).map_err(|e| format!("load: {e}"))?;
    Ok(Program {
        label: "",
        symbol: c.metadata.programs[0].symbol.clone(),
        obj,
    })
}

/// Registers the listeners under the keys each program uses (sockc: the declared
/// sockets' keys; tubular-style: the destination ids 0..4).
fn register(p: &Program, listeners: &[TcpListener], keys: &[u32]) -> Result<(), String> {
    let Some(map) = p.obj.socket_map() else {
        return Ok(());
    };
    for (l, k) in listeners.iter().zip(keys) {
        map.insert(*k, l.as_fd()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn ns_per_lookup(
    p: &Program,
    ctx: &[u8],
    repeat: u32,
    runs: usize,
) -> Result<(f64, Option<u64>), String> {
    let mut v = Vec::new();
    let mut selected = None;
    for _ in 0..runs {
        let r = p
            .obj
            .test_run(&p.symbol, ctx, repeat)
            .map_err(|e| format!("{}: test run: {e}", p.label))?;
        selected = r.selected;
        v.push(r.duration.as_nanos() as f64);
    }
    v.sort_by(f64::total_cmp);
    Ok((v[v.len() / 2], selected))
}

/// The table; see the module docs. Printed as it goes, and returned.
pub fn table(repeat: u32, runs: usize, sizes: &[usize]) -> Result<String, String> {
    let listeners: Vec<TcpListener> = (0..SOCKETS)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let cookies: Vec<u64> = listeners
        .iter()
        .map(|l| sockc_runtime::slot_map::socket_cookie(l.as_fd()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut out = String::from(
        "\nsk_lookup (ns per lookup; TCP bindings to 4 sockets; BPF_PROG_TEST_RUN):\n\n\
         | bindings | program | insns | first ns | last ns | miss ns |\n\
         |---:|---|---:|---:|---:|---:|\n",
    );
    print!("{out}");
    let mut ratios = String::new();
    for &n in sizes {
        let bs = bindings(n);
        let src = sockc_source(&bs);
        // Loaded on its own, a program uses slot i for declared socket i.
        let sockc_keys: Vec<u32> = (0..SOCKETS as u32).collect();
        let mut programs = Vec::new();
        let mut pass = sockc_program("sk_lookup {\n    default pass\n}\n", OptLevel::O2)?;
        pass.label = "SK_PASS only";
        programs.push((pass, None));
        let tubular = LoadedObject::load(&tubular_object(&bs)?)
            .map_err(|e| format!("tubular-style: load: {e}"))?;
        let tubular = Program {
            label: "tubular-style",
            obj: tubular,
            symbol: "tubular_style".into(),
        };
        register(&tubular, &listeners, &[0, 1, 2, 3])?;
        programs.push((tubular, Some(())));
        let mut refused = Vec::new();
        for (label, level) in [("sockc -O2", OptLevel::O2), ("sockc -O0", OptLevel::O0)] {
            // The linear -O0 program of many bindings is over the kernel's limits:
            // the compiler refuses it (a row saying so), the -O2 one must load.
            let mut p = match sockc_program(&src, level) {
                Ok(p) => p,
                Err(e) if level == OptLevel::O0 => {
                    refused.push(format!("| {n} | {label} | - | refused: {e} | | |\n"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            p.label = label;
            register(&p, &listeners, &sockc_keys)?;
            programs.push((p, Some(())));
        }
        let lookups = [
            lookup_of(&bs[0]),
            lookup_of(bs.last().expect("at least one binding")),
            (
                "192.0.2.1:40000".parse().unwrap(),
                "203.0.113.9:80".parse().unwrap(),
            ),
        ];
        let want = [
            Some(cookies[bs[0].socket]),
            Some(cookies[bs.last().unwrap().socket]),
            None,
        ];
        let mut figures = Vec::new();
        for (p, steers) in &programs {
            let mut ns = Vec::new();
            for (i, (remote, local)) in lookups.iter().enumerate() {
                let (t, selected) = ns_per_lookup(p, &context(6, *remote, *local), repeat, runs)?;
                let expected = if steers.is_some() { want[i] } else { None };
                if selected != expected {
                    return Err(format!(
                        "{} with {n} bindings: lookup {remote} -> {local} selected {selected:?}, \
                         the bindings say {expected:?}",
                        p.label
                    ));
                }
                ns.push(t);
            }
            let insns = p
                .obj
                .programs()
                .first()
                .and_then(|l| l.xlated_insns)
                .map_or("-".to_string(), |x| x.to_string());
            let line = format!(
                "| {n} | {} | {insns} | {:.1} | {:.1} | {:.1} |\n",
                p.label, ns[0], ns[1], ns[2]
            );
            print!("{line}");
            out.push_str(&line);
            figures.push(ns);
        }
        for line in refused {
            print!("{line}");
            out.push_str(&line);
        }
        let worst = |f: &[f64]| f.iter().cloned().fold(0.0, f64::max);
        let base = worst(&figures[0]);
        let tub = worst(&figures[1]);
        let ours = worst(&figures[2]);
        ratios.push_str(&format!(
            "{n} bindings: sockc -O2 worst {ours:.1} ns, tubular-style worst {tub:.1} ns \
             (sockc/tubular {:.2}); above SK_PASS only: sockc +{:.1} ns, tubular-style +{:.1} ns\n",
            ours / tub,
            ours - base,
            tub - base
        ));
    }
    out.push('\n');
    out.push_str(&ratios);
    print!("\n{ratios}");
    Ok(out)
}
