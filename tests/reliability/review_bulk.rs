//! A review of the store's records (`bulk_<sha256>`, the manifest) from an attacker's
//! side: a record is a pinned array map of 16 KiB values, and sockc reads it chunk by
//! chunk into buffers of that size. A pin swapped for a map of another shape — wider
//! values, per-CPU values (a value per CPU), wider keys, another map type — must be
//! refused by name before anything is read from it: the kernel copies the map's own
//! value size into the buffer, so reading such a map is a write past its end. And
//! nothing the store removes is followed through a symbolic link planted in it.
//!
//! Makes its own namespaces (`tests/netns`) and removes them. Root only; skipped
//! otherwise (see `tests/common`).

use crate::common;
use crate::netns;

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

/// Files outside the store, reached through a symbolic link planted in it, as each
/// removal met it: `dir/f`, `dir/sub/g`.
fn outside(lab: &Lab) -> std::path::PathBuf {
    let dir = lab.dir.join("outside");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("f"), "not sockc's").unwrap();
    std::fs::write(dir.join("sub").join("g"), "not sockc's").unwrap();
    dir
}

#[track_caller]
fn intact(dir: &Path, when: &str) {
    for f in ["f", "sub/g"] {
        assert!(
            dir.join(f).exists(),
            "{when}: {} was removed",
            dir.join(f).display()
        );
    }
}

/// A removal never follows a symbolic link planted in the store: not in a stray
/// generation directory (`status` collects it), not under a generation's name, not in
/// a directory under the name of a record an apply writes (it takes that name), and
/// not in an install's place. Before, `status` removed every file of the directory
/// such a link led to (then failed, and so did every later command); a directory
/// under a record's name was taken for the record, so an apply said applied and
/// every later command refused the manifest it had committed.
#[test]
fn a_removal_never_follows_a_link_planted_in_the_store() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("bulklink", 85);
    let dir = outside(&lab);
    let text = format!("xdp on {} {{\n  default allow\n}}\n", lab.if_a);
    let file = lab.rules("r.sk", &text);
    lab.apply(&file, &[]).ok();
    let pins = lab.pin_dir();

    // In a stray generation directory, and as a stray generation itself.
    std::fs::create_dir(pins.join("g9")).unwrap();
    std::os::unix::fs::symlink(&dir, pins.join("g9").join("x")).unwrap();
    std::os::unix::fs::symlink(&dir, pins.join("g8")).unwrap();
    let st = sockc(&["status", "--name", &lab.name]);
    intact(&dir, "status collecting stray generations");
    assert_eq!(st.code, 0, "{st}");
    assert!(
        !pins.join("g9").exists() && !pins.join("g8").exists(),
        "{st}"
    );

    // A directory (holding a link) under the name of the rule text's record the next
    // apply writes: a file with no sets is recorded as it is written.
    let next = format!(
        "xdp on {} {{\n  drop udp to *:9\n  default allow\n}}\n",
        lab.if_a
    );
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(next.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let planted = pins.join(format!("bulk_{digest}"));
    std::fs::create_dir(&planted).unwrap();
    std::os::unix::fs::symlink(&dir, planted.join("x")).unwrap();
    let r = lab.apply(&lab.rules("r2.sk", &next), &[]);
    intact(&dir, "apply over a directory under its record's name");
    assert_eq!(r.code, 0, "{r}");
    let st = sockc(&["status", "--name", &lab.name]);
    assert_eq!(st.code, 0, "the committed manifest reads back: {st}");
    let shown = sockc(&["show", "--name", &lab.name]).ok();
    assert!(shown.stdout.contains("drop udp to *:9"), "{shown}");
    sockc(&["flush", "--name", &lab.name]).ok();
    intact(&dir, "flush");

    // A link in an install's place is no install: nothing is removed through it.
    let name = lab.other_install("link");
    let at = Path::new(netns::BPFFS).join("sockc").join(&name);
    std::os::unix::fs::symlink(&dir, &at).unwrap();
    let runs = [
        sockc(&["status", "--name", &name]),
        sockc(&["repair", "--name", &name]),
        sockc(&["flush", "--name", &name]),
        sockc(&lab.apply_args(&file, &name, &[])),
    ];
    let _ = std::fs::remove_file(&at);
    intact(&dir, "commands on a link in an install's place");
    assert_ne!(runs[3].code, 0, "no apply through it: {}", runs[3]);
}
