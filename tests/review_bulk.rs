//! A review of the store's records (`bulk_<sha256>`, the manifest) from an attacker's
//! side: a record is a pinned array map of 16 KiB values, and sockc reads it chunk by
//! chunk into buffers of that size. A pin swapped for a map of another shape — wider
//! values, per-CPU values (a value per CPU), wider keys, another map type — must be
//! refused by name before anything is read from it: the kernel copies the map's own
//! value size into the buffer, so reading such a map is a write past its end.
//!
//! Makes its own namespaces (`tests/netns`) and removes them. Root only; skipped
//! otherwise (see `tests/common`).

mod common;
mod netns;

use std::{path::Path, process::Command};

use netns::{run, sockc, Lab};

/// Pins a new map `spec` (bpftool's words after the path) at `path`.
fn pin_map(path: &Path, spec: &[&str]) {
    run(Command::new("bpftool")
        .args(["map", "create"])
        .arg(path)
        .args(spec)
        .args(["name", "not_sockc"]))
    .ok();
}

/// A rule file dropping a two-line file set at the lab's interface: an install with
/// bulk records.
fn set_rules(lab: &Lab, file: &str) -> std::path::PathBuf {
    std::fs::write(lab.dir.join("s.txt"), "10.1.0.0/16\n10.2.0.1\n").unwrap();
    lab.rules(
        file,
        &format!(
            "set s = file \"s.txt\"\nxdp on {} {{\n  drop from @s\n  default allow\n}}\n",
            lab.if_a
        ),
    )
}

/// The install's pins whose names start with `prefix`.
fn pins(lab: &Lab, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(lab.pin_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

const SHAPES: [(&str, &[&str]); 4] = [
    (
        "wider values",
        &[
            "type", "array", "key", "4", "value", "65536", "entries", "1",
        ],
    ),
    (
        "a value per CPU",
        &[
            "type",
            "percpu_array",
            "key",
            "4",
            "value",
            "16384",
            "entries",
            "1",
        ],
    ),
    (
        "wider keys",
        &[
            "type", "hash", "key", "64", "value", "16384", "entries", "1",
        ],
    ),
    (
        "another type",
        &["type", "hash", "key", "4", "value", "16384", "entries", "1"],
    ),
];

#[test]
fn a_record_pin_swapped_for_a_map_of_another_shape_is_refused_by_name() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("bulkshp", 82);
    let file = set_rules(&lab, "r.sk");
    for (shape, spec) in SHAPES {
        for record in ["bulk_", "manifest"] {
            lab.apply(&file, &[]).ok();
            let rec = pins(&lab, record).into_iter().next().expect("a record");
            let aside = rec.with_file_name("elsewhere");
            std::fs::rename(&rec, &aside).unwrap();
            pin_map(&rec, spec);
            let st = sockc(&["status", "--name", &lab.name]);
            // Put back before asserting, so that flush can take the install off.
            std::fs::remove_file(&rec).unwrap();
            std::fs::rename(&aside, &rec).unwrap();
            assert_ne!(st.code, 0, "{shape} as {record}: {st}");
            assert!(
                st.stderr.contains("not a record sockc wrote")
                    && st.stderr.contains(rec.to_str().unwrap()),
                "{shape} as {record}: refused, naming it: {st}"
            );
        }
    }
    sockc(&["flush", "--name", &lab.name]).ok();
    assert!(!lab.pin_dir().exists(), "nothing left");
}

/// Something that is not a pin under a record's name that no record names (a
/// directory, a link) is debris: the next apply removes it or steps around it, and
/// neither it nor a flush fails on it.
#[test]
fn debris_under_a_record_name_does_not_stop_apply_or_flush() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("bulkdeb", 84);
    let file = lab.rules(
        "r.sk",
        &format!("xdp on {} {{\n  default allow\n}}\n", lab.if_a),
    );
    lab.apply(&file, &[]).ok();
    let dir = lab.pin_dir().join(format!("bulk_{}", "0".repeat(64)));
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/nowhere", lab.pin_dir().join("bulk_link")).unwrap();
    let other = lab.rules(
        "r2.sk",
        &format!(
            "xdp on {} {{\n  drop udp to *:9\n  default allow\n}}\n",
            lab.if_a
        ),
    );
    let r = lab.apply(&other, &[]);
    let st = sockc(&["status", "--name", &lab.name]);
    let fl = sockc(&["flush", "--name", &lab.name]);
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(r.code, 0, "apply with debris beside the records: {r}");
    assert_eq!(st.code, 0, "status: {st}");
    assert_eq!(fl.code, 0, "flush: {fl}");
    assert!(!lab.pin_dir().exists(), "nothing left");
}

/// Another install's damaged (or merely huge) records do not stop an apply from
/// seeing that install's hooks: the conflict check reads only the other manifest,
/// never its bulk, so a second install is still refused on a hook the first holds.
#[test]
fn another_install_with_a_damaged_record_still_holds_its_hook() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("bulkoth", 86);
    let holder = set_rules(&lab, "holder.sk");
    lab.apply(&holder, &[]).ok();
    let record = pins(&lab, "bulk_")
        .into_iter()
        .next()
        .expect("a bulk record");
    let aside = record.with_file_name("elsewhere");
    std::fs::rename(&record, &aside).unwrap();
    // Not `other_install`: the lab would expect to flush it, and it must never exist.
    let second = format!("{}-2", lab.name);
    let other = lab.rules(
        "other.sk",
        &format!("xdp on {} {{\n  default allow\n}}\n", lab.if_a),
    );
    let r = sockc(&lab.apply_args(&other, &second, &[]));
    std::fs::rename(&aside, &record).unwrap();
    if r.code == 0 {
        sockc(&["flush", "--name", &second]);
    }
    assert_ne!(r.code, 0, "a second install took the first one's hook: {r}");
    assert!(
        r.stderr.contains(&lab.name) && !r.stderr.contains("not checked for conflicts"),
        "refused, naming the install that holds the hook: {r}"
    );
    sockc(&["flush", "--name", &lab.name]).ok();
}
