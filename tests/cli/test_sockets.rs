//! `sockc test` at the socket layer, from the command line: which socket an sk_lookup
//! block picks for a lookup (evaluator and, as root, kernel, compared), and what a
//! sockmap block does with a message (evaluator only, said on every row). The
//! evaluator-only text is kept as snapshots in `tests/cli_snapshots/`
//! (`SOCKC_BLESS=1` rewrites them); JSON output is checked against its schema.

use crate::common;

use common::{golden::Goldens, root, schema::Schemas, sockc, sockc_unprivileged};
use serde_json::Value;

const STEERING: &str = "rules/sk_lookup/steering.sk";
const STEERING_PACKETS: &str = "rules/sk_lookup/steering.packets";
const SOCKMAP: &str = "rules/examples/sockmap.sk";
const SOCKMAP_PACKETS: &str = "rules/examples/sockmap.packets";

fn json_of(args: &[&str]) -> Value {
    let (code, out, err) = sockc(args);
    assert_eq!(code, 0, "{args:?}\nstdout: {out}\nstderr: {err}");
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"));
    Schemas::load().validate("test", &v);
    v
}

/// (verdict, redirect target, deciding line) of steering.packets, in order, with
/// every declared socket registered: what tests/kernel/programs/sk_lookup.rs expects too.
const STEERING_ANSWERS: &[(&str, Option<&str>, u64)] = &[
    ("redirect", Some("sock proxy"), 13),
    ("pass", None, 19),
    ("drop", None, 11),
    ("redirect", Some("sock dns"), 14),
    ("pass", None, 19),
    ("redirect", Some("sock web6"), 15),
    ("redirect", Some("sock dual"), 16),
    ("pass", None, 17),
    ("drop", None, 18),
];

/// The evaluator's (verdict, redirect target, line) of every result that ran.
fn evaluator_answers(v: &Value) -> Vec<(String, Option<String>, u64)> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["evaluator"].is_null())
        .map(|r| {
            let e = &r["evaluator"];
            (
                e["verdict"].as_str().unwrap().to_string(),
                e["redirect_to"].as_str().map(str::to_string),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn owned(want: &[(&str, Option<&str>, u64)]) -> Vec<(String, Option<String>, u64)> {
    want.iter()
        .map(|(v, to, l)| (v.to_string(), to.map(str::to_string), *l))
        .collect()
}

/// Every lookup of the steering corpus: the evaluator picks the socket the table
/// says; as root the kernel ran each one with real sockets registered and agreed
/// (verdict, selected socket, counters); the ICMP packet is no lookup and says so.
#[test]
fn sk_lookup_says_which_socket_and_rule_for_each_lookup() {
    let v = json_of(&[
        "test",
        "--json",
        "--hook",
        "sk-lookup",
        STEERING,
        "--packets",
        STEERING_PACKETS,
    ]);
    assert_eq!(evaluator_answers(&v), owned(STEERING_ANSWERS));
    let results = v["results"].as_array().unwrap();
    let icmp = results.last().unwrap();
    assert!(icmp["evaluator"].is_null(), "{icmp}");
    assert!(
        icmp["not_applicable"].as_str().unwrap().contains("TCP"),
        "{icmp}"
    );
    assert_eq!(results[0]["evaluator"]["counted_lines"][0], 12);
    if !common::kernel() {
        return;
    }
    assert_eq!(v["kernel"], true, "{v}");
    assert_eq!(v["disagreements"], 0, "{v}");
    for r in &results[..results.len() - 1] {
        assert_eq!(r["agree"], true, "{r}");
        assert_eq!(
            r["kernel"]["redirect_to"], r["evaluator"]["redirect_to"],
            "{r}"
        );
    }
}

/// A redirect to a name with nothing registered drops, in both answers, and counts
/// in the socket's drop counter (the kernel's counter is compared, so an agreement
/// means it moved); an unknown name is a command-line error.
#[test]
fn sk_lookup_unregistered_socket_drops() {
    let args = [
        "test",
        "--json",
        STEERING,
        "--packet",
        "tcp [2001:db8:1::1]:5 -> [2001:db8::80]:8080",
        "--unregistered",
        "web6",
    ];
    let v = json_of(&args);
    let r = &v["results"][0];
    assert_eq!(r["evaluator"]["verdict"], "drop", "{r}");
    assert_eq!(r["evaluator"]["line"], 15, "{r}");
    assert!(r["evaluator"]["redirect_to"].is_null(), "{r}");
    if common::is_root() {
        assert_eq!(r["agree"], true, "{r}");
        assert!(r["kernel"]["redirect_to"].is_null(), "{r}");
    }
    let (code, _, err) = sockc(&[
        "test",
        STEERING,
        "--packet",
        "tcp 1.1.1.1:1 -> 3.3.3.3:80",
        "--unregistered",
        "nope",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--unregistered nope: no socket of that name is declared (declared: proxy, dns, web6, dual)"),
        "{err}"
    );
}

/// A socket declared on an IPv6 address no interface of the run's namespace has is
/// bound there all the same (FREEBIND), as an IPv4 one is: the kernel's answer beside
/// the evaluator's (it failed with "Cannot assign requested address", exit 3).
#[test]
fn sk_lookup_binds_a_declared_ipv6_address_of_no_interface() {
    if !common::is_root() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sockc-sk6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s6.sk");
    std::fs::write(
        &file,
        "socket s6 = tcp [2001:db8:1::1]:80\nsk_lookup {\n    redirect to 2001:db8::/32 to sock s6\n    default pass\n}\n",
    )
    .unwrap();
    let packet = "tcp [2001:db8::5]:1000 -> [2001:db8::9]:80";
    let v = json_of(&[
        "test",
        "--json",
        file.to_str().unwrap(),
        "--hook",
        "sk-lookup",
        "--packet",
        packet,
    ]);
    let r = &v["results"][0];
    assert_eq!(r["agree"], true, "{r}");
    assert_eq!(r["kernel"]["redirect_to"], "sock s6", "{r}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sk_lookup_without_root_answers_from_the_evaluator_and_says_so() {
    let (code, out, err) = sockc_unprivileged(
        &["test", "--packet", "tcp 9.9.9.9:40000 -> 3.3.3.3:80"],
        STEERING,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not root"), "{err}");
    assert!(out.contains("redirect to sock proxy"), "{out}");
    assert!(out.contains("(evaluator only)"), "{out}");
}

/// sockmap blocks: each side reads the message its way, `redirect local` needs a
/// peer in the map and a socket that never used the stack, an empty named slot
/// drops; the kernel cannot run these programs and every answer says so.
#[test]
fn sockmap_says_verdict_target_and_rule_evaluator_only() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "test",
            "--json",
            "--hook",
            "sockmap",
            SOCKMAP,
            "--packets",
            SOCKMAP_PACKETS,
        ];
        args.extend_from_slice(extra);
        json_of(&args)
    };
    let v = run(&[]);
    assert_eq!(
        v["kernel"], false,
        "nothing to load for sockmap blocks: {v}"
    );
    let want = [
        ("drop", None, 7),
        ("allow", None, 10),
        ("redirect", Some("sock proxy"), 9),
        ("allow", None, 10),
        ("allow", None, 10),
    ];
    assert_eq!(evaluator_answers(&v), owned(&want));
    let results = v["results"].as_array().unwrap();
    assert_eq!(results[1]["evaluator"]["counted_lines"][0], 8);
    assert!(results[..5].iter().all(|r| r["kernel_not_run"]
        .as_str()
        .is_some_and(|w| w.contains("cannot test-run sk_msg"))));
    assert!(results[5]["not_applicable"]
        .as_str()
        .unwrap()
        .contains("TCP"));
    let peer = run(&["--peer-in-map"]);
    assert_eq!(
        evaluator_answers(&peer)[3],
        ("redirect".into(), Some("peer".into()), 10)
    );
    let used = run(&["--peer-in-map", "--sent-through-stack"]);
    assert_eq!(evaluator_answers(&used)[3], ("allow".into(), None, 10));
    let empty = run(&["--unregistered", "proxy"]);
    assert_eq!(evaluator_answers(&empty)[2], ("drop".into(), None, 9));
}

/// The text output of both kinds of block, evaluator only, as the user sees it.
#[test]
fn socket_layer_text_output_snapshots() {
    let mut goldens = Goldens::new();
    for (name, file, packets, extra) in [
        ("sk_lookup.txt", STEERING, STEERING_PACKETS, &[][..]),
        ("sockmap.txt", SOCKMAP, SOCKMAP_PACKETS, &[][..]),
        (
            "sockmap-peer.txt",
            SOCKMAP,
            SOCKMAP_PACKETS,
            &["--peer-in-map", "--unregistered", "proxy"][..],
        ),
    ] {
        let mut args = vec!["-q", "test", "--eval-only", file, "--packets", packets];
        args.extend_from_slice(extra);
        let (code, out, err) = sockc(&args);
        assert_eq!(code, 0, "{err}");
        assert_eq!(err, "", "-q: nothing on stderr");
        for table in out
            .split("\n")
            .filter(|l| l.trim_start().starts_with("hook "))
        {
            assert!(!table.ends_with(' '));
        }
        goldens.check(&root().join("tests/cli_snapshots").join(name), &out);
    }
    goldens.finish();
}

/// `-q` keeps stdout and drops every notice: with the kernel (the registered
/// sockets, the agreement summary) and without (evaluator only).
#[test]
fn quiet_prints_only_the_answers() {
    let (code, out, err) = sockc(&["-q", "test", STEERING, "--packets", STEERING_PACKETS]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "-q prints no notices");
    assert!(out.contains("redirect to sock proxy"), "{out}");
    let (code, _, err) = sockc(&["test", STEERING, "--packets", STEERING_PACKETS]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note:"),
        "without -q the notices are there: {err}"
    );
}
