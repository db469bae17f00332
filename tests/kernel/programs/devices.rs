//! Device matches by index (`in index`, `out index`) in the kernel and in the
//! evaluator: a block at each of the five netfilter hooks, each with the directions
//! that hook has a device for, and a table of packets whose deciding rule the kernel
//! (`BPF_PROG_TEST_RUN`: no incoming device, so index 0, and the namespace's `lo` as
//! the outgoing one, index 1) and the evaluator (given the same devices) must agree
//! on, with the same `count` rules on the way. Lists and negations on both sides of
//! the real index.

use sockc_compiler::{hooks::HookKind, syntax::iface::DevName, Options};
use sockc_testkit::eval::Facts;

use super::{c, evaluator_agrees, kernel, load, run_table, Case, V};

const IN_RULES: &str = "\
    count in index !7
    drop udp to *:1 in index 1
    drop udp to *:2 in index 2,3
    allow udp to *:3 in index !1,2
";

const OUT_RULES: &str = "\
    drop udp to *:4 out index 1
    drop udp to *:5 out index !1,5
    count out index 2,1
    drop udp to *:6 out index !2
";

/// The cases of a block with the incoming device's rules (`has_in`) and the
/// outgoing one's (`has_out`).
fn cases(has_in: bool, has_out: bool) -> Vec<Case> {
    let counted: &'static [&'static str] = match (has_in, has_out) {
        (true, false) => &["count in index !7"],
        (false, true) => &["count out index 2,1"],
        _ => &["count in index !7", "count out index 2,1"],
    };
    let pkt = |p: u16| -> &'static str {
        [
            "",
            "udp 10.0.0.1:9 -> 10.0.0.2:1",
            "udp 10.0.0.1:9 -> 10.0.0.2:2",
            "udp 10.0.0.1:9 -> 10.0.0.2:3",
            "udp 10.0.0.1:9 -> 10.0.0.2:4",
            "udp 10.0.0.1:9 -> 10.0.0.2:5",
            "udp 10.0.0.1:9 -> 10.0.0.2:6",
            "udp 10.0.0.1:9 -> 10.0.0.2:7",
        ][p as usize]
    };
    let mut t = vec![c(pkt(7), V::Allow, "default", counted)];
    if has_in {
        // Index 0 (no device) is neither 1, 2 nor 3.
        t.push(c(pkt(1), V::Allow, "default", counted));
        t.push(c(pkt(2), V::Allow, "default", counted));
        t.push(c(
            pkt(3),
            V::Allow,
            "allow udp to *:3 in index !1,2",
            &["count in index !7"],
        ));
    }
    if has_out {
        // Loopback, index 1.
        let before: &'static [&'static str] = if has_in { &["count in index !7"] } else { &[] };
        t.push(c(pkt(4), V::Drop, "drop udp to *:4 out index 1", before));
        t.push(c(pkt(5), V::Allow, "default", counted));
        t.push(c(pkt(6), V::Drop, "drop udp to *:6 out index !2", counted));
    }
    t
}

#[test]
fn index_matches_decide_alike_in_the_kernel_and_the_evaluator() {
    if !kernel() {
        return;
    }
    let hooks = [
        ("prerouting", HookKind::NfPrerouting, true, false),
        ("input", HookKind::NfInput, true, false),
        ("forward", HookKind::NfForward, true, true),
        ("output", HookKind::NfOutput, false, true),
        ("postrouting", HookKind::NfPostrouting, false, true),
    ];
    for (hook, kind, has_in, has_out) in hooks {
        let mut src = format!("netfilter {hook} priority 10 {{\n");
        if has_in {
            src.push_str(IN_RULES);
        }
        if has_out {
            src.push_str(OUT_RULES);
        }
        src.push_str("    default allow\n}\n");
        let (compiled, diags) = sockc_compiler::compile(&src, &Options::default());
        let compiled = compiled.unwrap_or_else(|| panic!("{diags:#?}"));
        let cases = cases(has_in, has_out);
        // The test run's devices: no incoming one, the namespace's `lo` outgoing.
        let facts = Facts {
            oif: has_out.then(|| DevName::new("lo").unwrap()),
            ..Facts::default()
        };
        evaluator_agrees(&compiled, &cases, &facts);
        let obj = load(&compiled, hook);
        run_table(&obj, kind, &cases);
    }
}
