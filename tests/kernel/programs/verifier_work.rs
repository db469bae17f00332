//! How much work the kernel verifier does on a packet program: the rules after the
//! packet prologue are verified about once, not once per state a path of the
//! prologue ends in (`bpf::packet`, "Verifier cost"). Measured as the verifier's
//! processed-instruction count of a program with many rules against that of the
//! prologue alone, at XDP and TC.

use super::*;

/// `verified_insns` and instruction count of the one program `src` compiles to.
fn verifier_work(src: &str) -> (u32, usize) {
    let (c, diags) = sockc_compiler::compile(src, &Options::default());
    let c = c.unwrap_or_else(|| panic!("does not compile: {diags:#?}\n{src}"));
    let obj = load(&c, src);
    let verified = obj.programs()[0]
        .verified_insns
        .expect("the kernel reports verified_insns");
    (verified, c.programs[0].code.insns.len())
}

/// Rules over both families, ports and addresses: code the threading pass cannot
/// drop, tested after the prologue only.
fn rules(head: &str, n: usize) -> String {
    let mut src = format!("{head} {{\n");
    for i in 1..=n {
        src.push_str(&format!(
            "    drop tcp from 10.0.{i}.0/24 to *:{}\n",
            1000 + i
        ));
        src.push_str(&format!(
            "    drop ip6 udp from 2001:db8:{i:x}::/48 to *:{}\n",
            2000 + i
        ));
    }
    src.push_str("    default allow\n}\n");
    src
}

/// Before the prologue's paths converged for the verifier, each rule instruction was
/// processed 3 to 4 times (once per family and VLAN state the prologue ended in); now
/// about once, plus the shared tail once per rule.
#[test]
fn rules_after_the_packet_prologue_are_verified_about_once() {
    if !kernel() {
        return;
    }
    for head in ["xdp on lo", "tc ingress on lo"] {
        let (base, base_insns) = verifier_work(&format!("{head} {{ default allow }}\n"));
        let (work, insns) = verifier_work(&rules(head, 40));
        let rule_insns = (insns - base_insns) as f64;
        let per_insn = f64::from(work - base) / rule_insns;
        println!("{head}: {rule_insns} rule insns, processed {base} -> {work}: {per_insn:.2} each");
        assert!(
            per_insn < 2.0,
            "{head}: each rule instruction processed {per_insn:.2} times ({base} -> {work})"
        );
    }
}
