//! Kernel truth for code that no path reaches: a rule the compiler proves never
//! matches, or one that always decides, leaves code behind it that nothing jumps to,
//! which the verifier refuses ("unreachable insn"). Files `sockc check` accepts with
//! such rules load (`bpf::buffer` leaves that code out).

use crate::common;

use common::kernel;

/// A `netfilter` rule whose device test no packet passes (`in on !*`), and a `tc
/// egress` owner test no uid the kernel reports passes: both loaded in the kernel.
#[test]
fn rules_that_never_match_leave_no_unreachable_code() {
    let files = [
        "netfilter input {\n    drop in on !*\n    default allow\n}\n",
        "netfilter output {\n    count out on !*,eth0\n    default allow\n}\n",
        "tc egress on lo {\n    drop owner !uid 0-4294967294\n    default allow\n}\n",
    ];
    for src in files {
        let (compiled, diags) = sockc_compiler::compile(src, &Default::default());
        let c = compiled.unwrap_or_else(|| panic!("{src}: {diags:#?}"));
        if !kernel() {
            continue;
        }
        sockc_runtime::LoadedObject::load(&c.to_elf().unwrap())
            .unwrap_or_else(|e| panic!("{src}: {e}"));
    }
}
