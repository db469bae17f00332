//! The systemd-style peer of `--cgroup`'s connect table: what systemd attaches to a
//! unit's cgroup for `IPAddressDeny=PREFIX...` (src/core/bpf-firewall.c,
//! `bpf_firewall_compile_bpf`), rebuilt here because systemd is not PID 1 on the
//! machines this runs on. Two `BPF_PROG_TYPE_CGROUP_SKB` programs, ingress and egress,
//! sharing one LPM trie of the denied IPv4 prefixes (key `{prefixlen u32, address}`,
//! value the verdict bit, `BPF_F_NO_PREALLOC`); attached with `BPF_PROG_ATTACH` and
//! `BPF_F_ALLOW_MULTI`, as systemd attaches them.
//!
//! Each program, as systemd emits it for a deny list only (no allow list, no IP
//! accounting): the packet's protocol from `__sk_buff`; for IPv4, the destination
//! (egress) or source (ingress) address copied out with `bpf_skb_load_bytes`, looked up
//! in the trie with prefix length 32, a hit setting the "denied" bit; then 1 unless
//! the bit is set. Assembled with the compiler's instruction encoder, written as an
//! object the runtime loads. Invariant: the instructions are systemd's, in its order,
//! so the figure is what such a unit pays; the trie holds exactly the prefixes given.

use std::{
    fs::File,
    mem::offset_of,
    os::fd::{AsRawFd, BorrowedFd},
    path::Path,
};

use aya_ebpf_bindings::bindings::__sk_buff;
use aya_obj::generated::{
    bpf_attach_type, bpf_attr, bpf_cmd, bpf_func_id, bpf_map_type, BPF_F_ALLOW_MULTI,
    BPF_F_NO_PREALLOC,
};
use ipnet::Ipv4Net;
use sockc_compiler::{
    bpf::{
        buffer::{Code, CodeBuffer},
        insn::{op, Cond, Insn, Reg, Size},
        maps::{hex, BtfType, Entries, MapContents, MapDef},
    },
    hooks::HookKind,
    metadata::{Metadata, ProgramMeta, METADATA_FORMAT},
    obj::{write_object, ObjectImage, ProgramImage},
};
use sockc_runtime::LoadedObject;

/// The programs' symbols: (ingress, egress).
pub const INGRESS: &str = "sd_fw_ingress";
pub const EGRESS: &str = "sd_fw_egress";
const DENY_MAP: &str = "ipv4_deny";
/// systemd's verdict bits (`ACCESS_ALLOWED`, `ACCESS_DENIED`).
const ACCESS_DENIED: i32 = 2;
/// `ETH_P_IP` as `__sk_buff.protocol` holds it (network order, read as a host-order
/// word): systemd's `htobe16(ETH_P_IP)`.
const ETH_P_IP_BE: i32 = (libc::ETH_P_IP as u16).to_be() as i32;

/// One program: systemd's `pre_insn`, one `add_lookup_instructions` block (the IPv4
/// deny trie), its `post_insn` and the exit. r6 the context, r7 the protocol, r8 the
/// verdict bits.
fn code(ingress: bool) -> Code {
    let (r0, r1, r2, r3, r4) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R4);
    let (r6, r7, r8) = (Reg::R6, Reg::R7, Reg::R8);
    // struct iphdr: saddr at 12, daddr at 16.
    let addr_offset = if ingress { 12 } else { 16 };
    let mut b = CodeBuffer::new();
    b.emit(Insn::mov64_reg(r6, r1));
    let protocol = offset_of!(__sk_buff, protocol) as i16;
    b.emit(Insn::ldx(Size::W, r7, r6, protocol));
    b.emit(Insn::alu32_imm(op::MOV, r8, 0));
    let skip = b.new_label();
    b.branch_imm(Cond::Ne, r7, ETH_P_IP_BE, skip);
    b.emit(Insn::mov64_reg(r1, r6));
    b.emit(Insn::alu32_imm(op::MOV, r2, addr_offset));
    b.emit(Insn::mov64_reg(r3, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, r3, -4));
    b.emit(Insn::alu32_imm(op::MOV, r4, 4));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_skb_load_bytes as u32));
    b.ld_map(r1, DENY_MAP);
    b.emit(Insn::mov64_reg(r2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, r2, -8));
    b.emit(Insn::st_imm(Size::W, r2, 0, 32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    b.branch_imm(Cond::Eq, r0, 0, skip);
    b.emit(Insn::alu32_imm(op::OR, r8, ACCESS_DENIED));
    b.bind(skip);
    let out = b.new_label();
    b.emit(Insn::mov64_imm(r0, 1));
    b.branch_imm(Cond::Ne, r8, ACCESS_DENIED, out);
    b.emit(Insn::mov64_imm(r0, 0));
    b.bind(out);
    b.emit(Insn::exit());
    b.finish().expect("labels bound")
}

/// The object: both programs and the trie holding `deny`.
pub fn object(deny: &[Ipv4Net]) -> Result<Vec<u8>, String> {
    let programs = [
        (INGRESS, HookKind::CgroupIngress),
        (EGRESS, HookKind::CgroupEgress),
    ];
    let images = programs
        .iter()
        .map(|(symbol, hook)| {
            let code = code(*hook == HookKind::CgroupIngress);
            ProgramImage {
                name: (*symbol).into(),
                section: hook.spec().section.into(),
                insns: code.insns,
                map_relocs: code.map_relocs,
            }
        })
        .collect();
    let metadata = serde_json::to_vec(&metadata(&programs, deny)).map_err(|e| e.to_string())?;
    write_object(&ObjectImage {
        programs: images,
        maps: vec![MapDef {
            name: DENY_MAP.into(),
            map_type: bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32,
            key: BtfType::Struct {
                name: "bpf_lpm_trie_key_v4".into(),
                members: vec![
                    ("prefixlen".into(), BtfType::U32),
                    (
                        "data".into(),
                        BtfType::Array {
                            elem: Box::new(BtfType::U8),
                            len: 4,
                        },
                    ),
                ],
            },
            value: BtfType::U64,
            max_entries: deny.len().max(1) as u32,
            flags: BPF_F_NO_PREALLOC,
        }],
        license: "GPL".into(),
        metadata: &metadata,
        tables: &[],
    })
    .map_err(|e| e.to_string())
}

/// Two programs without rules or counters; the prefixes as the trie's contents
/// (systemd's `bpf_firewall_add_access_items`: value `ACCESS_DENIED`).
fn metadata(programs: &[(&str, HookKind)], deny: &[Ipv4Net]) -> Metadata {
    let pairs: Vec<(String, String)> = deny
        .iter()
        .map(|p| {
            let mut k = u32::from(p.prefix_len()).to_le_bytes().to_vec();
            k.extend(p.network().octets());
            (hex(&k), hex(&(ACCESS_DENIED as u64).to_le_bytes()))
        })
        .collect();
    Metadata {
        format: METADATA_FORMAT,
        programs: programs
            .iter()
            .map(|(symbol, hook)| ProgramMeta {
                symbol: (*symbol).into(),
                hook: *hook,
                attach_to: String::new(),
                rules: Vec::new().into(),
                socket_slots: Vec::new(),
                netns_cookie: Vec::new(),
                kernel_refs: Vec::new(),
                attach_map: None,
            })
            .collect(),
        map_contents: vec![MapContents {
            map: DENY_MAP.into(),
            entries: Entries::from_hex_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .expect("keys and values of one size"),
        }],
        counters: 0,
        tables: Vec::new(),
        sockets: Vec::new(),
        answers: None,
        durable_maps: Vec::new(),
        cgroups: Vec::new(),
    }
}

/// Loads the programs for `deny` and attaches both to the cgroup `dir` (multi, as
/// systemd does). They stay attached until the cgroup is removed.
pub fn attach(dir: &Path, deny: &[Ipv4Net]) -> Result<LoadedObject, String> {
    let obj = LoadedObject::load(&object(deny)?).map_err(|e| format!("load: {e}"))?;
    let cgroup = File::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (symbol, attach_type) in [
        (INGRESS, bpf_attach_type::BPF_CGROUP_INET_INGRESS),
        (EGRESS, bpf_attach_type::BPF_CGROUP_INET_EGRESS),
    ] {
        let prog = obj.program(symbol).map_err(|e| e.to_string())?;
        prog_attach_multi(&cgroup, prog, attach_type as u32)
            .map_err(|e| format!("BPF_PROG_ATTACH {symbol} to {}: {e}", dir.display()))?;
    }
    Ok(obj)
}

/// `BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI`, systemd's call.
fn prog_attach_multi(cgroup: &File, prog: BorrowedFd<'_>, attach_type: u32) -> std::io::Result<()> {
    // SAFETY: all-zero is a valid bpf_attr.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.__bindgen_anon_5.__bindgen_anon_1.target_fd = cgroup.as_raw_fd() as u32;
    attr.__bindgen_anon_5.attach_bpf_fd = prog.as_raw_fd() as u32;
    attr.__bindgen_anon_5.attach_type = attach_type;
    attr.__bindgen_anon_5.attach_flags = BPF_F_ALLOW_MULTI;
    // SAFETY: the attribute union is initialised and outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_PROG_ATTACH as libc::c_int,
            &mut attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_programs_are_systemds_instructions() {
        // 3 (pre) + 15 (the lookup block: 14 instructions, one a 2-slot map load)
        // + 3 (post) + exit
        for ingress in [true, false] {
            let c = code(ingress);
            assert_eq!(c.insns.len(), 22, "{ingress}");
            // the address offset: saddr in, daddr out
            let off = Insn::from_bytes(c.insns[5].to_bytes()).imm;
            assert_eq!(off, if ingress { 12 } else { 16 });
        }
    }

    #[test]
    fn the_trie_holds_each_prefix_with_the_denied_bit() {
        let deny: Vec<Ipv4Net> = ["10.0.0.0/8", "192.0.2.0/24"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let m = metadata(&[(EGRESS, HookKind::CgroupEgress)], &deny);
        let e = &m.map_contents[0].entries;
        let pairs: Vec<(&[u8], &[u8])> = e.iter().collect();
        let denied: &[u8] = &[2, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            pairs,
            [
                (&[8, 0, 0, 0, 10, 0, 0, 0][..], denied),
                (&[24, 0, 0, 0, 192, 0, 2, 0][..], denied)
            ]
        );
    }
}
