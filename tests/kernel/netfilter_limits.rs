//! What a BPF program at a netfilter hook cannot do, proven on the running kernel:
//! it may return only drop or accept (no `reject`, queue or stolen verdict), it may
//! not call the conntrack and NAT kfuncs (so it cannot make a NAT binding), and it may
//! not call the helpers that change a packet. Each is why a kind of rule that an
//! import keeps in netfilter's residual cannot move into sockc at that hook
//! (docs/import.md, "What cannot leave the residual").
//!
//! Each test takes sockc's own netfilter program, which loads, and changes one
//! instruction: the program stays valid up to the change, so the kernel's refusal is
//! about the change and names it. A TC program with the same change is the control:
//! the kernel takes that call there (it may refuse the program later, for its
//! arguments, but never as "not allowed").

use crate::common;

use common::kernel;
use sockc_runtime::{error_chain, kernel_btf::KernelBtf, LoadedObject};

/// `r0 = r9; exit`: the program's one exit, returning the verdict it kept in r9.
const VERDICT_EXIT: [u8; 16] = [0xbf, 0x90, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];

fn elf(src: &str) -> Vec<u8> {
    let (c, d) = sockc_compiler::compile(src, &Default::default());
    c.unwrap_or_else(|| panic!("{d:#?}")).to_elf().unwrap()
}

fn netfilter_elf() -> Vec<u8> {
    elf("netfilter input priority 1 {\n    drop tcp to *:22\n    default allow\n}\n")
}

fn tc_elf() -> Vec<u8> {
    elf("tc ingress on lo {\n    drop tcp to *:22\n    default allow\n}\n")
}

/// The byte range of the ELF's only program section.
fn program_range(elf: &[u8]) -> std::ops::Range<usize> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(elf).unwrap();
    let mut programs = file.sections().filter(|s| {
        let name = s.name().unwrap_or("");
        name == "netfilter" || name == "tc" || name.starts_with("classifier")
    });
    let s = programs.next().expect("a program section");
    let (at, len) = s.file_range().unwrap();
    at as usize..(at + len) as usize
}

/// `elf` with its second instruction (a store that zeroes a stack slot, before any
/// read of the registers a call clobbers) replaced by `insn`.
fn with_second_insn(mut elf: Vec<u8>, insn: [u8; 8]) -> Vec<u8> {
    let at = program_range(&elf).start + 8;
    elf[at..at + 8].copy_from_slice(&insn);
    elf
}

fn kfunc_call(id: u32) -> [u8; 8] {
    let imm = id.to_le_bytes();
    // BPF_JMP|BPF_CALL, src_reg BPF_PSEUDO_KFUNC_CALL (2), off 0: vmlinux.
    [0x85, 0x20, 0, 0, imm[0], imm[1], imm[2], imm[3]]
}

fn helper_call(id: u8) -> [u8; 8] {
    [0x85, 0, 0, 0, id, 0, 0, 0]
}

fn refusal(elf: &[u8]) -> Option<String> {
    LoadedObject::load(elf).err().map(|e| {
        let log = e.verifier_log().unwrap_or_default().to_string();
        format!("{}\n{log}", error_chain(&e))
    })
}

#[test]
fn the_unchanged_programs_load() {
    if !kernel() {
        return;
    }
    assert_eq!(refusal(&netfilter_elf()), None);
    assert_eq!(refusal(&tc_elf()), None);
}

/// `reject` answers the sender (a TCP reset or an ICMP error) and then drops: the
/// netfilter program can only drop. NF_STOLEN (2) and NF_QUEUE (3), what would let a
/// program keep the packet to answer it, are refused.
#[test]
fn a_netfilter_program_may_return_only_drop_or_accept() {
    if !kernel() {
        return;
    }
    for verdict in [2u8, 3] {
        let mut elf = netfilter_elf();
        let range = program_range(&elf);
        let mut patched = 0;
        let mut at = range.start;
        while at + 16 <= range.end {
            if elf[at..at + 16] == VERDICT_EXIT {
                // `r0 = VERDICT` (BPF_ALU64|BPF_MOV|BPF_K).
                elf[at..at + 8].copy_from_slice(&[0xb7, 0, 0, 0, verdict, 0, 0, 0]);
                patched += 1;
            }
            at += 8;
        }
        assert_eq!(patched, 1, "the netfilter program's `r0 = r9; exit`");
        let text = refusal(&elf).unwrap_or_else(|| panic!("verdict {verdict} was loaded"));
        assert!(
            text.contains("should have been in [0, 1]") || text.contains("(0x0; 0x1)"),
            "{text}"
        );
    }
}

/// NAT made by a BPF program is a conntrack entry it allocates and gives a binding
/// (`bpf_skb_ct_alloc`, `bpf_ct_set_nat_info`, `bpf_ct_insert_entry`): the kernel
/// registers those kfuncs for XDP and TC programs only.
#[test]
fn a_netfilter_program_may_not_call_the_conntrack_or_nat_kfuncs() {
    if !kernel() {
        return;
    }
    let btf = KernelBtf::running().expect("the kernel's BTF");
    for name in [
        "bpf_skb_ct_lookup",
        "bpf_skb_ct_alloc",
        "bpf_ct_set_nat_info",
        "bpf_ct_insert_entry",
    ] {
        let id = btf.func_id(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let not_allowed = format!("calling kernel function {name} is not allowed");
        let text = refusal(&with_second_insn(netfilter_elf(), kfunc_call(id)))
            .unwrap_or_else(|| panic!("a netfilter program calling {name} was loaded"));
        assert!(text.contains(&not_allowed), "{name}: {text}");
        let control = refusal(&with_second_insn(tc_elf(), kfunc_call(id))).unwrap_or_default();
        assert!(!control.contains(&not_allowed), "tc, {name}: {control}");
    }
}

/// MSS clamping, mark and DSCP writes change the packet or its metadata: the helper
/// that writes packet bytes is not offered to netfilter programs.
#[test]
fn a_netfilter_program_may_not_call_the_helper_that_writes_the_packet() {
    if !kernel() {
        return;
    }
    const SKB_STORE_BYTES: u8 = 9;
    let text = refusal(&with_second_insn(
        netfilter_elf(),
        helper_call(SKB_STORE_BYTES),
    ))
    .expect("a netfilter program calling bpf_skb_store_bytes was loaded");
    assert!(text.contains("bpf_skb_store_bytes"), "{text}");
    assert!(
        text.contains("unknown func") || text.contains("cannot use helper"),
        "{text}"
    );
}
