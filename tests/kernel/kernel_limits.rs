//! What the kernel says and where its limits lie, as sockc reports them (root):
//! the verifier's own reason comes first in a refusal, an errno gets its meaning, the
//! longest test frame (3,520 bytes) runs whole at XDP and TC while a longer one reaches
//! XDP cut short (why the packet syntax stops there), and the counters read in one
//! batch are the counters read one by one.

use sockc_compiler::Compiled;
use sockc_runtime::{error_chain, LoadedObject, RuntimeError};
use sockc_testkit::packet::{parse_packet, MAX_TEST_FRAME};

use crate::common;

use common::kernel;

fn compile(src: &str) -> Compiled {
    let (c, d) = sockc_compiler::compile(src, &Default::default());
    c.unwrap_or_else(|| panic!("{d:#?}"))
}

/// The ELF of `c` with the first instruction of its program section `section`
/// replaced by `r0 = *(u8 *)(r9 + 0)`, which reads a register nothing wrote.
fn with_bad_first_insn(c: &Compiled, section: &str) -> Vec<u8> {
    use object::{Object, ObjectSection};
    let mut elf = c.to_elf().unwrap();
    let at = {
        let file = object::File::parse(&*elf).unwrap();
        let s = file.section_by_name(section).unwrap();
        s.file_range().unwrap().0 as usize
    };
    elf[at..at + 8].copy_from_slice(&[0x71, 0x90, 0, 0, 0, 0, 0, 0]);
    elf
}

/// A refusal used to end with a raw errno and the whole log; the reason the verifier
/// gives (`R9 !read_ok`) was buried at its end.
#[test]
fn a_verifier_refusal_leads_with_the_verifiers_reason() {
    if !kernel() {
        return;
    }
    let c = compile("xdp on eth0 {\n    drop tcp to *:22\n    default allow\n}\n");
    let e = match LoadedObject::load(&with_bad_first_insn(&c, "xdp")) {
        Err(e) => e,
        Ok(_) => panic!("the verifier took a program that reads an unset register"),
    };
    let text = error_chain(&e);
    assert!(
        text.starts_with("the verifier rejected `xdp_eth0`: R9 !read_ok\n  kernel: EACCES: the verifier refused the program"),
        "{text}"
    );
    assert!(text.contains("end of the verifier log:"), "{text}");
    assert!(e.verifier_log().unwrap().contains("R9 !read_ok"));
}

/// A frame under 14 bytes gave `bpf_prog_test_run failed` and no errno.
#[test]
fn a_test_run_error_names_its_errno_and_meaning() {
    if !kernel() {
        return;
    }
    let c = compile("xdp on eth0 { default allow }\n");
    let obj = LoadedObject::load(&c.to_elf().unwrap()).unwrap();
    let e = obj.test_run("xdp_eth0", &[0u8; 10], 1).unwrap_err();
    assert!(matches!(e, RuntimeError::TestRun { .. }), "{e:?}");
    let text = error_chain(&e);
    assert!(
        text.contains("running `xdp_eth0` in the kernel (BPF_PROG_TEST_RUN) failed: EINVAL: the kernel refused the test input"),
        "{text}"
    );
}

/// The packet syntax's longest frame runs whole at both hooks (the byte counters see
/// all of it); one byte more reaches XDP cut to one page less headroom and tail room,
/// which is what made a 4,054-byte frame disagree.
#[test]
fn the_longest_test_frame_runs_whole_and_a_longer_one_does_not() {
    if !kernel() {
        return;
    }
    let c = compile(
        "xdp on eth0 { count udp; default allow }\ntc ingress on eth0 { count udp; default allow }\n",
    );
    let obj = LoadedObject::load(&c.to_elf().unwrap()).unwrap();
    let frame = |payload: usize| {
        let mut spec = parse_packet("udp 10.0.0.1:1 -> 10.0.0.2:2").unwrap();
        spec.payload = vec![0xab; payload];
        spec.build()
    };
    let longest = frame(MAX_TEST_FRAME - 42);
    assert_eq!(longest.len(), MAX_TEST_FRAME);
    for (symbol, counted_slot) in [("xdp_eth0", 0u32), ("tci_eth0", 2)] {
        let before = obj.counter(counted_slot).unwrap();
        obj.test_run(symbol, &longest, 1).unwrap();
        let after = obj.counter(counted_slot).unwrap();
        assert_eq!(
            after.1 - before.1,
            MAX_TEST_FRAME as u64,
            "{symbol} counts the whole frame"
        );
    }
    let longer = frame(MAX_TEST_FRAME - 41);
    let before = obj.counter(0).unwrap();
    obj.test_run("xdp_eth0", &longer, 1).unwrap();
    let after = obj.counter(0).unwrap();
    assert!(
        after.1 - before.1 < longer.len() as u64,
        "XDP saw {} of {} bytes",
        after.1 - before.1,
        longer.len()
    );
}

/// The batch read of every counter (one syscall) gives what reading each slot gives.
#[test]
fn counters_read_in_one_batch_equal_counters_read_one_by_one() {
    if !kernel() {
        return;
    }
    let src = std::fs::read_to_string(common::root().join("rules/kernel/stress.sk")).unwrap();
    let c = compile(&src);
    let obj = LoadedObject::load(&c.to_elf().unwrap()).unwrap();
    let symbol = c.programs[0].symbol.clone();
    for (i, packet) in [
        "tcp 10.0.0.1:1 -> 10.0.0.2:22 syn",
        "udp 192.0.2.1:53 -> 10.1.1.1:53",
        "icmp 10.0.0.1 -> 10.0.0.2",
        "tcp [2001:db8::1]:1 -> [2001:db8::2]:443",
    ]
    .iter()
    .enumerate()
    {
        let frame = parse_packet(packet).unwrap().build();
        obj.test_run(&symbol, &frame, 1 + i as u32 * 3).unwrap();
    }
    let batch = obj.counters().unwrap();
    let one_by_one: Vec<(u64, u64)> = (0..batch.len() as u32)
        .map(|slot| obj.counter(slot).unwrap())
        .collect();
    assert_eq!(batch, one_by_one);
    assert!(batch.iter().map(|c| c.0).sum::<u64>() >= 4, "{batch:?}");
}
