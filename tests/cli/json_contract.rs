//! One JSON contract (docs/json.md): every command that prints data takes `--json`,
//! prints one document on stdout whose `schema` names its versioned schema, keeps
//! diagnostics inside it, and prints a document when it fails too. Each output is
//! checked against its JSON Schema in `docs/schemas/` by the small validator below (the
//! subset of JSON Schema 2020-12 the schemas use: `$ref` within and across the files,
//! `type`, `const`, `enum`, `properties`, `required`, `additionalProperties: false`,
//! `items`, `anyOf`, `oneOf`, `minimum`, `maximum`, the rule-id `pattern` and `format:
//! date-time`; anything else fails loudly rather than being ignored). The kernel
//! commands run against a real install in namespaces (root; skipped otherwise).

use crate::common;
use crate::netns;

use std::path::Path;

use common::schema::Schemas;
use serde_json::Value;

/// Runs sockc and parses its stdout as one JSON document.
#[track_caller]
fn json_of(args: &[&str], want_code: i32) -> Value {
    let (code, out, err) = common::sockc(args);
    assert_eq!(code, want_code, "{args:?}\nstdout: {out}\nstderr: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

#[test]
fn the_validator_rejects_what_it_should() {
    let s = Schemas::load();
    let file = "sockc.flush.1.json";
    let bad = serde_json::json!({"schema": "sockc.flush/1", "name": 3, "generation": null,
        "detached": 1, "recovered": null});
    assert!(!s.check(file, &bad).is_empty());
    let extra = serde_json::json!({"schema": "sockc.flush/1", "name": "x", "generation": null,
        "detached": 1, "recovered": null, "surprise": true});
    assert!(!s.check(file, &extra).is_empty());
    let fine = serde_json::json!({"schema": "sockc.flush/1", "name": "x", "generation": 2,
        "detached": 1, "recovered": null});
    assert!(
        s.check(file, &fine).is_empty(),
        "{:?}",
        s.check(file, &fine)
    );
    // Across files (common.json) and formats: a time that is not RFC 3339 is refused.
    let status = |at: &str| {
        serde_json::json!({"schema": "sockc.status/1", "cleaned": [], "installs": [{
            "name": "x", "generation": 1, "source_file": "/x.sk", "source_sha256": "00",
            "applied_unix": 0, "applied_at": at, "netns": null, "hooks": [], "maps": [],
            "drift": [], "recovered": null, "label": null, "confirmation": null,
            "last_rollback": null}]})
    };
    let good = s.check("sockc.status.1.json", &status("2026-11-22T07:34:01Z"));
    assert!(good.is_empty(), "{good:?}");
    assert!(!s
        .check("sockc.status.1.json", &status("yesterday"))
        .is_empty());
}

#[test]
fn offline_commands_follow_their_schemas() {
    let s = Schemas::load();
    // compile: success with programs and rule ids; --emit json inside; failures.
    let v = json_of(&["compile", "--json", "rules/examples/edge.sk"], 0);
    s.validate("compile", &v);
    assert_eq!(
        v["diagnostics"].as_array().unwrap().len(),
        3,
        "warnings inside"
    );
    assert!(v["emitted"].is_null());
    let v = json_of(
        &[
            "compile",
            "--json",
            "--emit",
            "json",
            "rules/examples/edge.sk",
        ],
        0,
    );
    s.validate("compile", &v);
    assert!(v["emitted"]["maps"].is_array());
    let v = json_of(&["compile", "--json", "rules/errors/ten_mistakes.sk"], 1);
    s.validate("compile", &v);
    assert_eq!(v["diagnostics"].as_array().unwrap().len(), 10);
    assert_eq!(v["error"]["exit_code"], 1);
    let v = json_of(&["compile", "--json", "no/such/file.sk"], 2);
    s.validate("compile", &v);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no/such/file.sk"));
    // check
    let v = json_of(&["check", "--json", "rules/examples/brief.sk"], 0);
    s.validate("check", &v);
    assert!(v["verified"].is_null());
    let v = json_of(&["check", "--json", "rules/errors/ten_mistakes.sk"], 1);
    s.validate("check", &v);
    // test (evaluator only: the same shape as with the kernel, kernel null)
    let v = json_of(
        &[
            "test",
            "--json",
            "--eval-only",
            "rules/examples/edge.sk",
            "--packets",
            "rules/examples/edge.packets",
        ],
        0,
    );
    s.validate("test", &v);
    let v = json_of(
        &[
            "test",
            "--json",
            "rules/examples/edge.sk",
            "--packet",
            "not a packet",
        ],
        2,
    );
    s.validate("test", &v);
    // diff
    let v = json_of(
        &["diff", "--json", "rules/diff/old.sk", "rules/diff/new.sk"],
        4,
    );
    s.validate("diff", &v);
    let v = json_of(
        &[
            "diff",
            "--json",
            "rules/diff/old.sk",
            "rules/errors/ten_mistakes.sk",
        ],
        1,
    );
    s.validate("diff", &v);
    // usage errors stay clap's (exit 2, text): there is no command to name a schema
}

#[test]
fn kernel_commands_follow_their_schemas() {
    if !common::kernel() {
        return;
    }
    let s = Schemas::load();
    if common::is_root() {
        let v = json_of(
            &["check", "--verify", "--json", "rules/examples/edge.sk"],
            0,
        );
        s.validate("check", &v);
        assert_eq!(v["verified"].as_array().unwrap().len(), 2, "{v:#}");
    }
    let lab = netns::Lab::new("json", 42);
    let (a, addr) = (&lab.if_a, lab.addr_a);
    let rules = lab.rules(
        "r.sk",
        &format!(
            "socket svc = udp {addr}:9053\n\
             sk_lookup {{\n  redirect udp to {addr}:9053 to sock svc\n  default pass\n}}\n\
             xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"
        ),
    );
    let name = lab.name.as_str();
    let apply = |extra: &[&str], code: i32| {
        let mut args = lab.apply_args(&rules, name, &["--json"]);
        args.extend_from_slice(extra);
        let r = netns::sockc(&args);
        assert_eq!(r.code, code, "{r}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
        v
    };
    let v = apply(&["--dry-run", "--exit-code"], 4);
    s.validate("apply", &v);
    let v = apply(&["--dry-run"], 0);
    s.validate("apply", &v);
    let v = apply(&[], 0);
    s.validate("apply", &v);
    assert_eq!(v["generation"], 1);
    assert_eq!(v["confirmation"], Value::Null);
    // A commit-confirmed change of the same rules under a label: nothing changes, so
    // nothing is pending; a change is, until `confirm`.
    let v = apply(&["--confirm", "60s", "--label", "json"], 0);
    s.validate("apply", &v);
    assert_eq!(v["confirmation"], Value::Null, "{v:#}");
    let changed = lab.rules(
        "changed.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9002\n  default allow\n}}\n"),
    );
    let r = netns::sockc(&lab.apply_args(&changed, name, &["--json", "--confirm", "60s"]));
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
    s.validate("apply", &v);
    assert_eq!(v["confirmation"]["state"], "pending", "{v:#}");
    let v = json_of(&["status", "--name", name, "--json"], 0);
    s.validate("status", &v);
    assert_eq!(
        v["installs"][0]["confirmation"]["rollback_to"]["generation"], 1,
        "{v:#}"
    );
    let v = json_of(&["confirm", name, "--json"], 0);
    s.validate("confirm", &v);
    assert_eq!(v["state"], "confirmed", "{v:#}");
    let v = json_of(&["confirm", name, "--json"], 0);
    s.validate("confirm", &v);
    assert_eq!(v["state"], "none", "{v:#}");
    let v = json_of(&["confirm", "sockc-json-none", "--json"], 1);
    s.validate("confirm", &v);
    apply(&[], 0);
    // Nothing is bound to the declared socket's address: drift (exit 3), its
    // redirects drop.
    let v = json_of(&["status", "--name", name, "--json"], 3);
    s.validate("status", &v);
    let v = {
        // Without `--name` it would finish another test's install interrupted on purpose.
        let _every = common::exclusive::nameless_command();
        json_of(&["status", "--json"], 3)
    };
    s.validate("status", &v);
    let v = json_of(&["stats", "--name", name, "--json"], 0);
    s.validate("stats", &v);
    let v = json_of(&["repair", "--name", name, "--json"], 0);
    s.validate("repair", &v);
    let v = json_of(&["unregister", "svc", "--name", name, "--json"], 0);
    s.validate("unregister", &v);
    // Nothing is bound to the declared address: a failure, as a document.
    let v = json_of(&["register", "svc", "--name", name, "--json"], 1);
    s.validate("register", &v);
    // A named install that is not there, for each reading command.
    for cmd in ["status", "stats", "repair", "flush"] {
        let v = json_of(&[cmd, "--name", "sockc-json-none", "--json"], 1);
        s.validate(cmd, &v);
    }
    // A failing apply (an interface that does not exist) is JSON too.
    let bad = lab.rules(
        "bad.sk",
        "xdp on sockc-nosuchif {\n  drop udp to *:9001\n  default allow\n}\n",
    );
    let r = netns::sockc(&lab.apply_args(&bad, name, &["--json"]));
    assert_ne!(r.code, 0, "{r}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
    s.validate("apply", &v);
    let v = json_of(&["flush", "--name", name, "--json"], 0);
    s.validate("flush", &v);
    assert_eq!(v["generation"], 3);
    let _ = Path::new("");
}
