//! Kernel truth for long programs: a rule file large enough that branches span more
//! than the 16-bit offset range compiles to `gotol` trampolines, and the real verifier
//! accepts the result and runs it correctly (first and last rule, and no rule).

use crate::common;

use common::kernel;
use sockc_compiler::{opt::OptLevel, Options};
use sockc_testkit::packet::parse_packet;

#[test]
fn branches_beyond_16_bits_use_gotol_and_pass_the_verifier() {
    let n = 1200;
    let mut src = String::from("xdp on lo {\n");
    for i in 0..n {
        src.push_str(&format!(
            "    drop from 2001:db8::{:x} to 2001:db8:ffff::{:x}\n",
            i + 1,
            i + 7
        ));
    }
    src.push_str("    default allow\n}\n");
    // -O0: the linear lowering is what has long jumps (-O2 classifies these rules).
    let opts = Options {
        opt: OptLevel::O0,
        ..Default::default()
    };
    let (compiled, diags) = sockc_compiler::compile(&src, &opts);
    let c = compiled.unwrap_or_else(|| panic!("{diags:#?}"));
    let insns = &c.programs[0].code.insns;
    assert!(
        insns.len() > i16::MAX as usize,
        "program too short to need long jumps: {}",
        insns.len()
    );
    let gotols = c.asm().matches(") gotol pc").count();
    assert!(gotols > 0, "expected gotol trampolines");
    eprintln!("{n} rules: {} insns, {gotols} gotol", insns.len());
    if !kernel() {
        return;
    }
    let obj =
        sockc_runtime::LoadedObject::load(&c.to_elf().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    let p = &obj.programs()[0];
    eprintln!(
        "xlated {:?} insns, verified {:?}, load {:?}",
        p.xlated_insns, p.verified_insns, p.load_time
    );
    let run = |pkt: &str| {
        obj.test_run("xdp_lo", &parse_packet(pkt).unwrap().build(), 1)
            .unwrap()
            .retval
    };
    let (pass, drop) = (2, 1);
    assert_eq!(
        run("tcp [2001:db8::1]:5 -> [2001:db8:ffff::7]:1000"),
        drop,
        "first rule"
    );
    assert_eq!(
        run(&format!(
            "udp [2001:db8::{:x}]:5 -> [2001:db8:ffff::{:x}]:9",
            n,
            n + 6
        )),
        drop,
        "last rule"
    );
    assert_eq!(
        run("tcp [2001:db8::1]:5 -> [2001:db8:ffff::8]:999"),
        pass,
        "no rule"
    );
    let counters = obj.counters().unwrap();
    assert_eq!(counters[0].0, 1);
    assert_eq!(counters[n - 1].0, 1);
    assert_eq!(counters[n].0, 1, "default counter");
}
