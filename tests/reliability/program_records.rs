//! The programs' records across manifest formats: from format 9 each program of an
//! install has a binary record of its own (`bulk_<sha256>`), so an apply that leaves a
//! program's rules and code as they were finds its record by name and writes only the
//! others; an install an older sockc recorded (formats 6 to 8: every program in one
//! JSON record) is still read, and its next apply records it in format 9 and drops the
//! old record — an installed host keeps working after an upgrade.
//!
//! Makes its own namespaces (`tests/netns`) and removes them. Root only; skipped
//! otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{path::PathBuf, process::Command};

use netns::{run, sockc, Lab};

/// The install's manifest, as JSON (it fits in the record's first chunk).
fn manifest_json(lab: &Lab) -> serde_json::Value {
    let out = run(Command::new("bpftool")
        .args(["map", "lookup", "pinned"])
        .arg(lab.pin_dir().join("manifest"))
        .args(["key", "hex", "00", "00", "00", "00", "-j"]))
    .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let bytes: Vec<u8> = v["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
        .collect();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

/// The digests of the program records the manifest names, in program order.
fn program_records(json: &serde_json::Value) -> Vec<String> {
    json["bulk"]["program_records"]
        .as_array()
        .map(|a| a.iter().map(|d| d.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn has_record(lab: &Lab, digest: &str) -> bool {
    lab.pin_dir().join(format!("bulk_{digest}")).exists()
}

/// An XDP block dropping TCP to `port` (`9001`, or `9001-9001`: the same code under
/// another rule text) and a TC egress block (two programs), the latter with `extra`
/// rules.
fn two_programs(lab: &Lab, port: &str, extra: &str) -> PathBuf {
    let a = &lab.if_a;
    lab.rules(
        "p.sk",
        &format!(
            "xdp on {a} {{\n  drop tcp to *:{port}\n  default allow\n}}\n\
             tc egress on {a} {{\n  drop udp to *:9002\n{extra}  default allow\n}}\n"
        ),
    )
}

/// `status --deep` finds the install as recorded, and `show` prints its rules.
fn consistent(lab: &Lab, what: &str) {
    let (st, _) = lab.status_run(&["--deep"]);
    assert_eq!(st.code, 0, "{what}: {st}");
    let shown = sockc(&["show", "--name", &lab.name]).ok();
    assert!(
        shown.stdout.contains("drop tcp to *:9001"),
        "{what}: {shown}"
    );
    assert!(
        shown.stdout.contains("drop udp to *:9002"),
        "{what}: {shown}"
    );
}

/// An apply that changes one program of two writes that one's record only: the other
/// keeps its record (the same name), and the changed one's old record is dropped.
#[test]
fn an_unchanged_programs_record_is_kept_and_a_changed_ones_replaced() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("progrec", 254);
    lab.apply_ok(&two_programs(&lab, "9001", ""));
    let json = manifest_json(&lab);
    assert_eq!(json["format"], 9, "{json}");
    assert!(json["bulk"]["programs"].is_null(), "no JSON record: {json}");
    let before = program_records(&json);
    assert_eq!(before.len(), 2, "a record per program: {json}");
    assert!(before.iter().all(|d| has_record(&lab, d)), "{json}");
    consistent(&lab, "first apply");

    lab.apply_ok(&two_programs(&lab, "9001", "  drop udp to *:9003\n"));
    let after = program_records(&manifest_json(&lab));
    assert_eq!(after.len(), 2);
    assert_eq!(after[0], before[0], "the XDP program did not change");
    assert_ne!(after[1], before[1], "the TC program did");
    assert!(has_record(&lab, &after[1]));
    assert!(!has_record(&lab, &before[1]), "the old record is dropped");
    consistent(&lab, "second apply");
    let fl = sockc(&["flush", "--name", &lab.name]);
    assert_eq!(fl.code, 0, "{fl}");
}

/// An install recorded in format 6, 7 or 8 (its programs in one JSON record, as a sockc
/// before format 9 wrote it) is read as it is — `status --deep`, `show`, an apply of
/// the same file changing nothing — and the next apply that changes it, in place (the
/// XDP rule reworded into the same code: no program reloads) or as a new generation
/// (a TC rule added), records it in format 9 and drops the JSON record.
#[test]
fn an_install_of_an_older_format_is_read_and_upgraded_by_its_next_apply() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("progold", 250);
    let file = two_programs(&lab, "9001", "");
    let changes = [
        (6, "9001-9001", ""),
        (7, "9001", "  drop udp to *:9004\n"),
        (8, "9001-9001", ""),
    ];
    for (format, port, extra) in changes {
        let _ = sockc(&["flush", "--name", &lab.name]);
        lab.apply_ok(&file);
        {
            let store = common::exclusive::open_store(
                std::path::Path::new(netns::BPFFS),
                std::time::Duration::from_secs(60),
                sockc_runtime::store::LockWait::Quiet,
            )
            .unwrap();
            let mut m = store.manifest(&lab.name).unwrap().expect("installed");
            m.format = format;
            store.write_manifest(&mut m).unwrap();
        }
        let json = manifest_json(&lab);
        assert_eq!(json["format"], format, "{json}");
        let old = json["bulk"]["programs"].as_str().expect("one JSON record");
        assert!(program_records(&json).is_empty(), "{json}");
        assert!(has_record(&lab, old));
        consistent(&lab, &format!("format {format}"));
        let same = lab.apply(&file, &[]).ok();
        assert!(
            same.stdout.contains("no changes"),
            "format {format}: {same}"
        );
        assert_eq!(manifest_json(&lab)["format"], format, "nothing committed");

        lab.apply_ok(&two_programs(&lab, port, extra));
        let json = manifest_json(&lab);
        assert_eq!(json["format"], 9, "format {format}, applied again: {json}");
        let records = program_records(&json);
        assert_eq!(records.len(), 2, "format {format}: {json}");
        assert!(records.iter().all(|d| has_record(&lab, d)), "{json}");
        assert!(
            !has_record(&lab, old),
            "format {format}: the JSON record is dropped"
        );
        consistent(&lab, &format!("format {format}, applied again"));
    }
    let fl = sockc(&["flush", "--name", &lab.name]);
    assert_eq!(fl.code, 0, "{fl}");
}
