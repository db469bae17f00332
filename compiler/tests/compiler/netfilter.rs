//! `netfilter` blocks in the checker: what a netfilter hook cannot do is an error at
//! the words that ask for it, the priority is checked, and a block that checks is
//! lowered into the `netfilter` section with the netfilter verdicts.

use sockc_compiler::{diag::Diagnostic, hooks::HookKind};

fn errors(src: &str) -> Vec<Diagnostic> {
    sockc_compiler::compile(src, &Default::default())
        .1
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect()
}

/// The one error of `line` in a `netfilter input` block, and the text it points at.
fn only_error(line: &str) -> (Diagnostic, String) {
    let src = format!("netfilter input {{\n    {line}\n    default allow\n}}\n");
    let e = errors(&src);
    assert_eq!(e.len(), 1, "{line}: {e:#?}");
    let d = e.into_iter().next().unwrap();
    let span = d.labels[0].span;
    let text = src[span.start..span.end].to_string();
    (d, text)
}

#[test]
fn what_a_netfilter_hook_cannot_see_is_refused_where_it_is_written() {
    for (line, code, at) in [
        ("allow arp", "sockc::hook-cannot-match", "arp"),
        (
            "drop ether type 0x88cc",
            "sockc::hook-cannot-match",
            "ether type 0x88cc",
        ),
        ("drop vlan 5", "sockc::hook-cannot-match", "vlan 5"),
        ("drop frag", "sockc::hook-cannot-match", "frag"),
    ] {
        let (d, text) = only_error(line);
        assert_eq!(d.code, code, "{line}: {d:#?}");
        assert!(
            text.contains(at),
            "{line}: the error points at `{text}`, not `{at}`"
        );
    }
    let (d, _) = only_error("drop tcp to *:80 if socket exists");
    assert_eq!(d.code, "sockc::hook-cannot-match", "{d:#?}");
}

/// `ct state` checks at every netfilter hook and reads `sk_buff._nfct` (filled in
/// at load) instead of looking the packet up: no conntrack kfunc is called.
#[test]
fn ct_state_is_read_from_the_packet_at_every_netfilter_hook() {
    use sockc_compiler::bpf::kernel_ref::KernelRef;
    for word in ["prerouting", "input", "forward", "output", "postrouting"] {
        let src = format!(
            "netfilter {word} {{\n    allow ct state established,related\n    default drop\n}}\n"
        );
        let (compiled, diags) = sockc_compiler::compile(&src, &Default::default());
        let c = compiled.unwrap_or_else(|| panic!("{word}: {diags:#?}"));
        let refs: Vec<&KernelRef> = c.metadata.programs[0]
            .kernel_refs
            .iter()
            .map(|(_, r)| r)
            .collect();
        assert!(
            refs.contains(&&KernelRef::field("sk_buff", "_nfct")),
            "{word}: {refs:?}"
        );
        assert!(
            !refs
                .iter()
                .any(|r| matches!(r, KernelRef::Kfunc { name } if name.contains("ct_"))),
            "{word}: a conntrack kfunc in a netfilter program: {refs:?}"
        );
    }
    // Still one per rule, as at XDP and TC.
    let (d, text) = only_error("drop ct state new ct state invalid");
    assert_eq!(d.code, "sockc::conflict", "{d:#?}");
    assert!(text.contains("ct state invalid"), "{text}");
}

#[test]
fn priorities_the_kernel_refuses_are_errors_at_the_head() {
    for p in [
        "2147483647",
        "-2147483648",
        "99999999999",
        "-99999999999999999999999",
    ] {
        let src = format!("netfilter forward priority {p} {{\n    default allow\n}}\n");
        let e = errors(&src);
        assert_eq!(e.len(), 1, "{p}: {e:#?}");
        assert_eq!(e[0].code, "sockc::bad-priority");
        let span = e[0].labels[0].span;
        assert!(src[span.start..span.end].starts_with("netfilter forward"));
    }
    for p in ["2147483646", "-2147483647", "0", "-5"] {
        let src = format!("netfilter forward priority {p} {{\n    default allow\n}}\n");
        assert!(errors(&src).is_empty(), "{p}");
    }
}

#[test]
fn two_blocks_at_one_hook_need_two_priorities() {
    // No `priority` is priority 10.
    let src = "netfilter input {\n    default allow\n}\nnetfilter input priority 10 {\n    default drop\n}\n";
    let e = errors(src);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].code, "sockc::duplicate-hook");
    let src = "netfilter input {\n    default allow\n}\nnetfilter input priority 11 {\n    default drop\n}\n";
    assert!(errors(src).is_empty());
}

#[test]
fn every_hook_compiles_with_the_netfilter_verdicts() {
    for (word, kind) in [
        ("prerouting", HookKind::NfPrerouting),
        ("input", HookKind::NfInput),
        ("forward", HookKind::NfForward),
        ("output", HookKind::NfOutput),
        ("postrouting", HookKind::NfPostrouting),
    ] {
        let src = format!("netfilter {word} {{\n    drop udp to *:53\n    default allow\n}}\n");
        let (compiled, diags) = sockc_compiler::compile(&src, &Default::default());
        let c = compiled.unwrap_or_else(|| panic!("{word}: {diags:#?}"));
        let p = &c.metadata.programs[0];
        assert_eq!(p.hook, kind);
        let spec = kind.spec();
        assert_eq!(
            (spec.verdicts.allow, spec.verdicts.drop),
            (Some(1), Some(0))
        );
        assert!(spec.loaded_raw(), "aya cannot load {word}");
        let elf = c.to_elf().unwrap();
        let raw = sockc_compiler::obj::raw_program(&elf, &p.symbol)
            .unwrap()
            .expect("the program is in the object");
        assert!(!raw.insns.is_empty());
        assert!(
            raw.map_relocs.iter().any(|(_, m)| m == "counters"),
            "{:?}",
            raw.map_relocs
        );
    }
}
