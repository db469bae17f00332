//! Tests of the pass as a whole, through [`run`]: the findings on small rule files
//! (families, sets, flags, ICMP, ports, socket conditions, redirects), and the
//! ClassBench timing (ignored). What random programs' findings mean for packets is
//! `tests/differential/anomalies.rs`.

use cranelift_entity::EntityRef;

use super::{test_support::*, *};
use crate::{
    diag::LineIndex,
    ir::{Action, SockId},
    syntax::ast::{SockCond, Verdict},
};

/// (code, line of the first label, line of the second) of every finding.
fn findings(src: &str, m: &Module) -> Vec<(&'static str, usize, usize)> {
    let lines = LineIndex::new(src);
    run(m)
        .iter()
        .map(|d| {
            assert_eq!(d.severity, crate::diag::Severity::Warning);
            assert_eq!(d.labels.len(), 2, "{d:?}");
            (
                d.code.as_str(),
                lines.line(d.labels[0].span),
                lines.line(d.labels[1].span),
            )
        })
        .collect()
}

/// The findings of an XDP block holding `body` (rules start on line 2 of the
/// block; lines are numbered from the first line of `sets`).
fn lint(sets: &str, body: &str) -> Vec<(&'static str, usize, usize)> {
    let src = format!("{sets}xdp on eth0 {{\n{body}}}\n");
    findings(&src, &module(&src))
}

#[test]
fn a_wider_earlier_rule_shadows() {
    let body = "drop tcp to 10.0.0.0/8\nallow tcp to 10.1.0.0/16:22\ndefault allow\n";
    assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
    // The earliest covering rule is named.
    let body = "drop tcp\ndrop tcp to 10.0.0.0/8\nallow tcp to 10.1.0.0/16:22\ndefault allow\n";
    assert_eq!(lint("", body), [(SHADOWED, 3, 2), (SHADOWED, 4, 2)]);
}

#[test]
fn count_rules_neither_shadow_nor_end_anything() {
    // A count rule never ends the program, so it shadows nothing ...
    assert_eq!(lint("", "count tcp\ndrop tcp to *:22\ndefault allow\n"), []);
    // ... but can be shadowed (it never counts).
    assert_eq!(
        lint("", "allow udp\ncount udp to *:53\ndefault drop\n"),
        [(SHADOWED, 3, 2)]
    );
    // And it does not stand between a rule and the one that decides the same.
    assert_eq!(
        lint("", "drop tcp to *:22\ncount tcp\ndrop tcp\ndefault allow\n"),
        [(REDUNDANT, 2, 4)]
    );
}

#[test]
fn partial_overlap_is_no_anomaly() {
    let body = "drop tcp to 10.0.0.0/24\nallow tcp to 10.0.0.0/16\ndefault drop\n";
    assert_eq!(lint("", body), []);
    let body = "drop tcp to *:1-100\nallow tcp to *:50-200\ndefault drop\n";
    assert_eq!(lint("", body), []);
    let body = "drop tcp from 10.0.0.0/8\nallow tcp to 10.0.0.0/8\ndefault drop\n";
    assert_eq!(lint("", body), []);
}

/// A `frag` rule covers only fragments: it shadows no rule that matches whole packets,
/// and none that it decides the same as makes that one redundant (before, its
/// protocol, ports and addresses were taken as the whole rule: `drop frag` "shadowed"
/// `drop udp`, whose removal changes the verdict of every unfragmented datagram).
#[test]
fn a_frag_rule_covers_only_fragments() {
    let body = "drop frag\ndrop udp\ndrop tcp\ndefault allow\n";
    assert_eq!(lint("", body), []);
    let body = "drop tcp\ndrop udp\ndrop frag\ndefault allow\n";
    assert_eq!(lint("", body), []);
    let body = "drop frag\ndrop ttl < 2\ndrop ip6 proto 0\ndefault allow\n";
    assert_eq!(lint("", body), []);
    // A fragment rule after a wider one is still shadowed by it.
    let body = "drop udp\ndrop udp frag\nallow tcp\ndefault drop\n";
    assert!(lint("", body).contains(&(SHADOWED, 3, 2)));
}

/// Only the shadowed findings of [`lint`].
fn shadows(sets: &str, body: &str) -> Vec<(&'static str, usize, usize)> {
    let mut all = lint(sets, body);
    all.retain(|f| f.0 == SHADOWED);
    all
}

#[test]
fn families_must_be_covered_one_by_one() {
    // ip4 does not cover a rule of both families, nor IPv6 an IPv4 one.
    assert_eq!(shadows("", "drop ip4\ndrop tcp\ndefault allow\n"), []);
    assert_eq!(shadows("", "drop ip6\ndrop ip4 tcp\ndefault allow\n"), []);
    assert_eq!(
        shadows("", "drop ip4\ndrop ip4 tcp\ndefault allow\n"),
        [(SHADOWED, 3, 2)]
    );
    // `any` is both families, not every frame; a rule with no match is every frame.
    assert_eq!(
        shadows("", "drop any\ndrop ip6 udp\ndefault allow\n"),
        [(SHADOWED, 3, 2)]
    );
    assert_eq!(shadows("", "drop any\ncount\ndefault allow\n"), []);
    assert_eq!(
        shadows("", "count\ndrop\ndrop any\ndefault allow\n"),
        [(SHADOWED, 4, 3)]
    );
    // icmp means IPv4 only.
    assert_eq!(
        shadows("", "drop ip4\nallow icmp\ndefault allow\n"),
        [(SHADOWED, 3, 2)]
    );
    assert_eq!(shadows("", "drop ip6\nallow icmp\ndefault allow\n"), []);
    // A rule of both families is redundant only if both are decided the same.
    assert_eq!(lint("", "drop tcp\ndrop ip4\ndefault allow\n"), []);
    assert_eq!(
        lint("", "drop ip4 tcp\ndrop ip4\ndefault allow\n"),
        [(REDUNDANT, 2, 3)]
    );
}

#[test]
fn sets_cover_by_their_members() {
    // Two halves of a /24 cover the /24, though neither does alone.
    let sets = "set halves = { 10.0.0.0/25, 10.0.0.128/25 }\n";
    let body = "drop from @halves\nallow from 10.0.0.0/24\ndefault allow\n";
    assert_eq!(shadows(sets, body), [(SHADOWED, 4, 3)]);
    let sets = "set gap = { 10.0.0.0/25, 10.0.1.0/25 }\n";
    let body = "drop from @gap\nallow from 10.0.0.0/24\ndefault allow\n";
    assert_eq!(shadows(sets, body), []);
    // A set covers a set element by element, per family.
    let sets = "set a = { 10.0.0.0/8, 2001:db8::/32 }\nset b = { 10.1.0.0/16, 2001:db8:1::/48 }\n\
                set c = { 10.1.0.0/16, 2001:db9::/48 }\n";
    let body = "drop to @a\nallow to @b\nallow to @c\ndefault allow\n";
    assert_eq!(shadows(sets, body), [(SHADOWED, 6, 5)]);
    // A set with no IPv6 element does not cover the IPv6 side of a rule.
    let sets = "set v4 = { 10.0.0.0/8 }\nset mixed = { 10.1.0.0/16, 2001:db8::/32 }\n";
    let body = "drop from @v4\ndrop from @mixed\ndefault allow\n";
    assert_eq!(lint(sets, body), []);
    // A prefix covers a set whose members are all inside it, and the other way.
    let sets = "set s = { 10.1.0.0/16, 10.2.0.0/16 }\n";
    let body = "drop from 10.0.0.0/8\nallow from @s\ndefault allow\n";
    assert_eq!(shadows(sets, body), [(SHADOWED, 4, 3)]);
    let body = "drop from 10.1.2.0/24\nallow from 10.3.0.0/16\ndrop from @s\ndefault allow\n";
    assert_eq!(lint(sets, body), [(REDUNDANT, 3, 5), (REDUNDANT, 4, 6)]);
    // The same set is the same addresses.
    let sets = "set s = { 10.1.0.0/16, 2001:db8::/32 }\n";
    let body = "drop from @s\ndrop tcp from @s\ndefault allow\n";
    assert_eq!(shadows(sets, body), [(SHADOWED, 4, 3)]);
}

#[test]
fn a_rule_that_matches_nothing_is_skipped() {
    // @v4 has no IPv6 element: `ip6 from @v4` matches nothing; it neither covers
    // nor is reported, and does not stand in the way.
    let sets = "set v4 = { 10.0.0.0/8 }\n";
    let body = "drop ip6 from @v4\ndrop ip6 tcp\nallow ip6 from @v4\ndefault allow\n";
    assert_eq!(lint(sets, body), []);
    let body = "drop ip6 tcp to *:22\nallow ip6 from @v4\ndrop ip6 tcp\ndefault allow\n";
    assert_eq!(lint(sets, body), [(REDUNDANT, 3, 5)]);
}

#[test]
fn tcp_flags() {
    let body = "drop tcp syn\ndrop tcp syn !ack\ndefault allow\n";
    assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
    // The narrower rule first: it is redundant (the later one decides the same).
    let body = "drop tcp syn !ack\ndrop tcp syn\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 3)]);
    let body = "drop tcp syn !ack\nallow tcp syn ack\ndefault allow\n";
    assert_eq!(shadows("", body), []);
    let body = "drop tcp syn\nallow tcp to *:80\ndefault drop\n";
    assert_eq!(lint("", body), []);
    // Contradicting flags: the allow cannot overlap, so the first drop is redundant.
    let body = "drop tcp syn !ack\nallow tcp ack\ndrop tcp syn\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 4)]);
    // Flags that may hold together do overlap.
    let body = "drop tcp syn !ack\nallow tcp fin\ndrop tcp syn\ndefault allow\n";
    assert_eq!(lint("", body), []);
}

#[test]
fn icmp_type_and_code() {
    let body = "allow icmp type echo-request\ndrop icmp type 8 code 0\ndefault drop\n";
    assert_eq!(shadows("", body), [(SHADOWED, 3, 2)]);
    let body = "allow icmp type 8\ndrop icmp type 0\ndefault allow\n";
    assert_eq!(shadows("", body), []);
    let body = "allow icmp code 1\ndrop icmp type 3 code 2\ndefault allow\n";
    assert_eq!(shadows("", body), []);
    let body =
        "drop icmp type 8 code 0\nallow icmp type 8 code 1\ndrop icmp type 8\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 4)]);
    let body = "drop icmp type 8 code 0\nallow icmp code 0\ndrop icmp type 8\ndefault allow\n";
    assert_eq!(lint("", body), []);
}

#[test]
fn ports_and_protocols() {
    let body = "drop tcp to *:1-1024\ndrop tcp to *:22\ndefault allow\n";
    assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
    // A port without a protocol means tcp or udp: covers tcp, is not covered by it.
    let body = "drop to *:22\nallow tcp to *:22\ndefault drop\n";
    assert_eq!(lint("", body), [(SHADOWED, 3, 2)]);
    let body = "allow tcp to *:22\ndrop to *:22\ndefault allow\n";
    assert_eq!(lint("", body), []);
    // A port set covers each of its ranges.
    let sets = "set web = { 80, 443, 8000-8080 }\n";
    let body = "allow tcp to *:@web\ndrop tcp to *:8001\ndrop tcp to *:81\ndefault drop\n";
    assert_eq!(lint(sets, body), [(SHADOWED, 4, 3), (REDUNDANT, 5, 6)]);
    // Ports need tcp or udp: an icmp rule cannot overlap a port rule.
    let body = "drop to *:53\nallow icmp\ndrop to *:1-100\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 4), (REDUNDANT, 3, 5)]);
    let body = "drop to *:53\nallow proto 47\ndrop to *:1-100\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 4), (REDUNDANT, 3, 5)]);
    let body = "drop to *:53\nallow any\ndrop to *:1-100\ndefault allow\n";
    assert_eq!(lint("", body), [(SHADOWED, 4, 3)]);
}

#[test]
fn redundant_when_a_later_rule_decides_the_same() {
    let body = "drop tcp to 10.1.0.0/16\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 3)]);
    // A rule in between that decides otherwise but cannot overlap changes nothing.
    let body = "drop tcp to 10.1.0.0/16\nallow tcp to 10.2.0.0/16\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 4)]);
    // One that may overlap does.
    let body = "drop tcp to 10.1.0.0/16\nallow tcp from 192.0.2.0/24\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
    assert_eq!(lint("", body), []);
    let body = "drop tcp to 10.1.0.0/16\nallow to *:80\ndrop tcp to 10.0.0.0/8\ndefault allow\n";
    assert_eq!(lint("", body), []);
    // The nearest such rule is named.
    let body = "drop tcp to 10.1.0.0/16\ndrop tcp to 10.0.0.0/8\ndrop tcp\ndefault allow\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 3), (REDUNDANT, 3, 4)]);
}

#[test]
fn redundant_when_the_default_decides_the_same() {
    let src = "xdp on eth0 {\nallow tcp to *:80\ndefault allow\n}\n";
    let d = run(&module(src));
    assert_eq!(
        d[0].message,
        "rule is redundant: the default (line 3) decides the same for every packet it matches"
    );
    assert_eq!(
        &src[d[0].labels[1].span.start..d[0].labels[1].span.end],
        "default allow"
    );
    // Not when the default differs, or a later rule may decide otherwise.
    assert_eq!(lint("", "allow tcp to *:80\ndefault drop\n"), []);
    assert_eq!(lint("", "allow tcp to *:80\ndrop tcp\ndefault allow\n"), []);
    // Later rules with the same action or count rules do not stand in the way.
    assert_eq!(
        lint(
            "",
            "allow tcp to *:80\nallow udp\ncount tcp\ndefault allow\n"
        ),
        [(REDUNDANT, 2, 5), (REDUNDANT, 3, 5)]
    );
}

#[test]
fn a_shadowed_rule_is_not_also_redundant() {
    let body = "drop tcp\ndrop tcp to *:22\ndefault drop\n";
    assert_eq!(lint("", body), [(REDUNDANT, 2, 4), (SHADOWED, 3, 2)]);
}

/// Sets `cond` on rule `i` of the first program (sema does not accept socket
/// conditions yet).
fn with_cond(mut m: Module, i: usize, cond: SockCond) -> Module {
    m.programs.values_mut().next().unwrap().rules[i].cond = Some(cond);
    m
}

#[test]
fn socket_conditions() {
    // A rule with a condition does not always end the program: it shadows nothing.
    let src = "xdp on eth0 {\ndrop tcp\ndrop tcp to *:22\ndefault allow\n}\n";
    let m = with_cond(module(src), 0, SockCond::Exists);
    assert_eq!(findings(src, &m), []);
    // It can itself be shadowed.
    let m = with_cond(module(src), 1, SockCond::Exists);
    assert_eq!(findings(src, &m), [(SHADOWED, 3, 2)]);
    // It stands in the way of redundancy even with the same action, and is never
    // redundant itself.
    let src = "xdp on eth0 {\ndrop tcp to *:22\ndrop tcp to *:20-30\ndrop tcp\ndefault allow\n}\n";
    assert_eq!(
        findings(src, &module(src)),
        [(REDUNDANT, 2, 3), (REDUNDANT, 3, 4)]
    );
    let m = with_cond(module(src), 1, SockCond::NoSocket);
    assert_eq!(findings(src, &m), []);
    let src = "xdp on eth0 {\ndrop tcp to *:22\ndefault drop\n}\n";
    let m = with_cond(module(src), 0, SockCond::Listening);
    assert_eq!(findings(src, &m), []);
}

/// An sk_lookup program (sema does not accept those yet): an XDP block whose
/// actions are replaced, `None` keeping the rule's own.
fn sk_lookup(src: &str, actions: &[Option<Action>], default: Verdict) -> Module {
    let mut m = module(src);
    let p = m.programs.values_mut().next().unwrap();
    p.hook = crate::hooks::HookKind::SkLookup;
    p.default = default;
    for (r, a) in p.rules.iter_mut().zip(actions) {
        if let Some(a) = a {
            r.action = *a;
        }
    }
    m
}

#[test]
fn redirects() {
    let (a, b) = (
        Some(Action::Redirect(Some(SockId::new(0)))),
        Some(Action::Redirect(Some(SockId::new(1)))),
    );
    let src =
        "xdp on eth0 {\ndrop tcp to 10.0.0.1:80\ndrop tcp from 192.0.2.0/24 to 10.0.0.0/24:80\n\
               drop tcp to 10.0.0.0/8:80\ndefault allow\n}\n";
    // A redirect to another socket in between stands in the way ...
    let m = sk_lookup(src, &[a, b, a], Verdict::Pass);
    assert_eq!(findings(src, &m), []);
    // ... and so does one to the same socket: a redirect is never passed over ...
    let m = sk_lookup(src, &[a, a, a], Verdict::Pass);
    assert_eq!(findings(src, &m), [(REDUNDANT, 3, 4)]);
    let m = sk_lookup(src, &[a, None, a], Verdict::Pass);
    assert_eq!(findings(src, &m), []);
    // ... but the covering redirect itself is the same verdict.
    let src = "xdp on eth0 {\ndrop tcp to 10.0.0.1:80\ndrop tcp to 10.0.0.0/24:80\n\
               default allow\n}\n";
    let m = sk_lookup(src, &[a, a], Verdict::Pass);
    assert_eq!(findings(src, &m), [(REDUNDANT, 2, 3)]);
    let m = sk_lookup(src, &[a, b], Verdict::Pass);
    assert_eq!(findings(src, &m), []);
    let src = "xdp on eth0 {\ndrop tcp to 10.0.0.1:80\ndrop tcp to 10.0.0.0/8:80\n\
               allow tcp to 10.0.0.0/8\ndrop tcp to 10.1.0.0/16:80\ndefault allow\n}\n";
    let m = sk_lookup(src, &[a, a, Some(Action::Pass), b], Verdict::Pass);
    assert_eq!(findings(src, &m), [(REDUNDANT, 2, 3), (SHADOWED, 5, 3)]);
    // A redirect is never the default's verdict; a pass rule can be.
    let src = "xdp on eth0 {\nallow udp\ndrop tcp\ndefault allow\n}\n";
    let m = sk_lookup(src, &[Some(Action::Pass), a], Verdict::Pass);
    assert_eq!(findings(src, &m), [(REDUNDANT, 2, 4)]);
}

/// CPU time of this thread (the machine may be shared: wall time is not the
/// pass's time).
fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    std::time::Duration::from_nanos(ns)
}

/// The time this pass takes on the 100k ClassBench files (`/tmp/cb`, see the
/// README of bench/classbench), with what it finds:
/// `cargo test --release -p sockc-compiler --lib classbench_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn classbench_timing() {
    let only = std::env::var("SOCKC_CB").unwrap_or_default();
    for set in ["acl1", "fw1", "ipc1"] {
        for n in [1000, 10000, 100000] {
            if !format!("{set}_{n}").contains(only.as_str()) {
                continue;
            }
            let path = format!("/tmp/cb/{set}_{n}.sk");
            let Ok(src) = std::fs::read_to_string(&path) else {
                println!("{path}: missing, skipped");
                continue;
            };
            // Parse and check, for scale: the pass's time is best read as a ratio
            // to this on a shared machine.
            let mut front = std::time::Duration::MAX;
            let mut m = Module::default();
            for _ in 0..3 {
                let c = cpu_time();
                m = module(&src);
                front = front.min(cpu_time() - c);
            }
            let t = std::time::Instant::now();
            crate::opt::normalize::run(&mut m);
            let normalize = t.elapsed();
            let mut best = std::time::Duration::MAX;
            let mut best_cpu = std::time::Duration::MAX;
            let mut diags = Vec::new();
            let runs = std::env::var("SOCKC_CB_RUNS").map_or(10, |r| r.parse().unwrap_or(10));
            for _ in 0..runs {
                let t = std::time::Instant::now();
                let c = cpu_time();
                diags = run(&m);
                best = best.min(t.elapsed());
                best_cpu = best_cpu.min(cpu_time() - c);
            }
            let sets = AddrSets::new(&m);
            let (mut shadowed, mut redundant, mut by_default) = (0, 0, 0);
            for prog in m.programs.values() {
                let found = check_program(&sets, prog, LIMITS);
                shadowed += found.shadowed.len();
                redundant += found.redundant.len();
                by_default += found.redundant.iter().filter(|r| r.1.is_none()).count();
            }
            let partial = diags
                .iter()
                .find(|d| d.code == "sockc::anomalies_partial")
                .map_or(String::new(), |d| d.message.clone());
            println!(
                "{set}_{n}: {} rules, parse+sema {:.1} ms cpu, anomalies {:.2} ms wall, \
                 {:.2} ms cpu (best of {runs}), \
                 normalize {:.2} ms: {shadowed} shadowed, {redundant} redundant \
                 ({by_default} to the default), {} warnings; {partial}",
                m.programs.values().map(|p| p.rules.len()).sum::<usize>(),
                front.as_secs_f64() * 1e3,
                best.as_secs_f64() * 1e3,
                best_cpu.as_secs_f64() * 1e3,
                normalize.as_secs_f64() * 1e3,
                diags.len(),
            );
        }
    }
}
