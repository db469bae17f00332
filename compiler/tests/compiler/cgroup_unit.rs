//! Cgroup blocks that name a systemd unit, in the checker: every cgroup block head
//! (packets and socket calls) takes `unit "NAME"` in place of the path, its programs
//! attach to `unit:NAME` (both families' for a socket-call block), and a name systemd
//! would refuse, or a unit without a cgroup of its own, is `sockc::bad-unit` at the
//! head.

use sockc_compiler::{diag::Diagnostic, hooks::HookKind};

#[test]
fn every_cgroup_block_may_name_a_unit_and_both_families_attach_to_it() {
    for (head, kinds) in [
        ("egress", [HookKind::CgroupEgress, HookKind::CgroupEgress]),
        (
            "ingress",
            [HookKind::CgroupIngress, HookKind::CgroupIngress],
        ),
        (
            "connect",
            [HookKind::CgroupConnect4, HookKind::CgroupConnect6],
        ),
        (
            "sendmsg",
            [HookKind::CgroupSendmsg4, HookKind::CgroupSendmsg6],
        ),
        ("bind", [HookKind::CgroupBind4, HookKind::CgroupBind6]),
    ] {
        let src = format!(
            "cgroup {head} unit \"app.service\" {{\n    drop udp to *:53\n    default allow\n}}\n"
        );
        let (compiled, diags) = sockc_compiler::compile(&src, &Default::default());
        let c = compiled.unwrap_or_else(|| panic!("{head}: {diags:#?}"));
        let progs = &c.metadata.programs;
        let want = if kinds[0] == kinds[1] { 1 } else { 2 };
        assert_eq!(progs.len(), want, "{head}: {progs:#?}");
        for (p, kind) in progs.iter().zip(kinds) {
            assert_eq!(p.hook, kind, "{head}");
            assert_eq!(p.attach_to, "unit:app.service", "{head}");
        }
    }
}

#[test]
fn a_socket_call_block_naming_no_usable_unit_is_refused_at_its_head() {
    for call in ["connect", "sendmsg", "bind"] {
        for bad in ["app", "app.timer", "getty@.service", "a/b.service"] {
            let src = format!("cgroup {call} unit \"{bad}\" {{\n    default allow\n}}\n");
            let errors: Vec<Diagnostic> = sockc_compiler::compile(&src, &Default::default())
                .1
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect();
            assert_eq!(errors.len(), 1, "{call} {bad}: {errors:#?}");
            assert_eq!(errors[0].code, "sockc::bad-unit", "{call} {bad}");
            let span = errors[0].labels[0].span;
            assert!(
                src[span.start..span.end].starts_with(&format!("cgroup {call} unit")),
                "{call} {bad}: {}",
                &src[span.start..span.end]
            );
        }
    }
}
