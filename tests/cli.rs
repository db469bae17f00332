//! The `sockc` command line contract: outputs and exit codes (0 ok, 1 rule errors,
//! 2 usage), as a non-root user would run it.

use std::process::Command;

fn sockc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sockc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("sockc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn compile_prints_readable_bytecode_with_source_lines() {
    let (code, out, _) = sockc(&["compile", "rules/examples/edge.sk", "--emit", "asm"]);
    assert_eq!(code, 0);
    assert!(out.contains("xdp_eth0: xdp eth0 section xdp"), "{out}");
    assert!(out.contains("; line 7: drop from @blocked"), "{out}");
    assert!(out.contains("call bpf_map_lookup_elem#1"), "{out}");
    assert!(out.contains("r1 = map[set_blocked_v4]"), "{out}");
}

#[test]
fn compile_writes_an_object_aya_can_parse() {
    let dir = std::env::temp_dir().join(format!("sockc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("edge.o");
    let (code, out, err) = sockc(&[
        "compile",
        "rules/examples/edge.sk",
        "-o",
        obj.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "-o alone prints nothing on stdout");
    let bytes = std::fs::read(&obj).unwrap();
    let parsed = aya_obj::Object::parse(&bytes).expect("aya-obj parses the object");
    assert!(parsed.programs.contains_key("xdp_eth0"));
    assert!(parsed.programs.contains_key("tce_eth0"));
    assert!(parsed.maps.contains_key("counters"));
    assert!(parsed.maps.contains_key("set_resolvers_v6"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn emit_ir_and_json() {
    let (code, out, _) = sockc(&["compile", "rules/match/ports.sk", "--emit", "ir"]);
    assert_eq!(code, 0);
    assert!(out.contains("dport=80,443,8000-8080"), "{out}");
    let (code, out, _) = sockc(&["compile", "rules/match/ports.sk", "--emit", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["programs"][0]["symbol"], "tci_eth0");
    assert!(v["programs"][0]["insns"].as_u64().unwrap() > 50);
}

#[test]
fn ten_mistakes_give_ten_diagnostics_and_exit_1() {
    let (code, out, err) = sockc(&["check", "rules/errors/ten_mistakes.sk"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.matches("  × ").count(), 10, "{err}");
    assert!(
        err.contains("rules/errors/ten_mistakes.sk: 10 errors, 0 warnings"),
        "{err}"
    );
    let (code, out, _) = sockc(&["check", "--json", "rules/errors/ten_mistakes.sk"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert!(items
        .iter()
        .all(|d| d["labels"][0]["line"].as_u64().unwrap() >= 2));
}

#[test]
fn check_reports_ok_and_warnings_without_failing() {
    let (code, _, err) = sockc(&["check", "rules/lints/set_overlap.sk"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("5 warnings"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_missing_files_exit_1() {
    assert_eq!(sockc(&["compile"]).0, 2);
    assert_eq!(sockc(&["frobnicate"]).0, 2);
    let (code, _, err) = sockc(&["compile", "rules/no-such-file.sk"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
    let (code, out, _) = sockc(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("compile") && out.contains("check"));
}
