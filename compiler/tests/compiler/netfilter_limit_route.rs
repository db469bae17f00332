//! `limit` and `route` in `netfilter` blocks: a limit checks at every netfilter hook
//! and its program reaches the same bucket maps as at XDP and TC; `route` is decided
//! by the hook (always true at the hook of its class, a warning; never true at the
//! other, an error) and refused with a span where the hook cannot know it.

use sockc_compiler::diag::Diagnostic;

const HOOKS: [&str; 5] = ["prerouting", "input", "forward", "output", "postrouting"];

fn compile(src: &str) -> (Option<sockc_compiler::Compiled>, Vec<Diagnostic>) {
    sockc_compiler::compile(src, &Default::default())
}

fn block(hook: &str, rule: &str) -> String {
    format!("netfilter {hook} {{\n    {rule}\n    default allow\n}}\n")
}

/// A limit and a per-source limit at each hook: no diagnostic, and the program
/// refers to both bucket maps.
#[test]
fn limits_compile_at_every_netfilter_hook() {
    for hook in HOOKS {
        let src = format!(
            "netfilter {hook} {{\n    allow udp limit 1000/s burst 50\n    \
             drop tcp limit over 10/minute per source\n    default allow\n}}\n"
        );
        let (compiled, diags) = compile(&src);
        assert!(diags.is_empty(), "{hook}: {diags:#?}");
        let c = compiled.unwrap();
        let p = &c.metadata.programs[0];
        let elf = c.to_elf().unwrap();
        let raw = sockc_compiler::obj::raw_program(&elf, &p.symbol)
            .unwrap()
            .expect("the program is in the object");
        for map in ["limits", "limit_sources"] {
            assert!(
                raw.map_relocs.iter().any(|(_, m)| m == map),
                "{hook}: no {map} in {:?}",
                raw.map_relocs
            );
        }
    }
}

/// The one diagnostic of `rule` at `hook`, and the text its label points at.
fn only(hook: &str, rule: &str) -> (Diagnostic, String) {
    let src = block(hook, rule);
    let (_, diags) = compile(&src);
    assert_eq!(diags.len(), 1, "{hook}: {rule}: {diags:#?}");
    let d = diags.into_iter().next().unwrap();
    let sp = d.labels[0].span;
    let text = src[sp.start..sp.end].to_string();
    (d, text)
}

#[test]
fn route_is_the_hook_at_input_and_forward() {
    for (hook, same, other) in [
        ("input", "local", "forward"),
        ("forward", "forward", "local"),
    ] {
        let (d, text) = only(hook, &format!("drop udp route {same}"));
        assert_eq!(
            (d.code.as_str(), d.is_error(), text.as_str()),
            (
                "sockc::route-by-hook",
                false,
                format!("route {same}").as_str()
            )
        );
        // Always true: the rule is the one without the words.
        let with = compile(&block(hook, &format!("drop udp route {same}")))
            .0
            .unwrap();
        let without = compile(&block(hook, "drop udp")).0.unwrap();
        let matches = |c: &sockc_compiler::Compiled| {
            let p = c.module.programs.values().next().unwrap();
            format!("{:?}", p.rules[0].m)
        };
        assert_eq!(matches(&with), matches(&without), "{hook}");
        let (d, text) = only(hook, &format!("drop udp route {other}"));
        assert_eq!(
            (d.code.as_str(), d.is_error(), text.as_str()),
            (
                "sockc::hook-cannot-match",
                true,
                format!("route {other}").as_str()
            )
        );
    }
}

#[test]
fn route_is_refused_where_the_hook_cannot_know_it() {
    for hook in ["prerouting", "output", "postrouting"] {
        for class in ["local", "forward"] {
            let (d, text) = only(hook, &format!("drop udp route {class}"));
            assert_eq!(d.code, "sockc::hook-cannot-match", "{hook}: {d:#?}");
            assert!(d.is_error());
            assert_eq!(text, format!("route {class}"));
        }
    }
}

/// Every hook that cannot tell local from forwarded packets says so with the same
/// diagnostic: one label and one help, which names every place the match works.
#[test]
fn route_where_it_cannot_be_known_is_one_diagnostic() {
    let at = |src: String| {
        let (_, diags) = compile(&src);
        assert_eq!(diags.len(), 1, "{src}: {diags:#?}");
        let d = diags.into_iter().next().unwrap();
        (d.code, d.labels[0].text.clone(), d.help)
    };
    let egress = at("tc egress on eth0 {\n    drop udp route local\n    default allow\n}\n".into());
    let prerouting = at(block("prerouting", "drop udp route local"));
    assert_eq!(egress, prerouting);
    let help = egress.2.expect("a help");
    for place in [
        "xdp and tc ingress",
        "`netfilter input`",
        "`netfilter forward`",
    ] {
        assert!(help.contains(place), "{help}");
    }
}
