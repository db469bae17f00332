//! An install's set entries and rule text live in binary records beside its manifest
//! (`bulk_<sha256>`, named by digest), not in the manifest's JSON: an update writes a
//! record for the set that changed and drops the one no record names any more; and a
//! record that is missing, torn, changed, or replaced by a link or a directory is a
//! clear error naming it (never a silently wrong set), after which `flush` still takes
//! the install off and a new apply starts over.
//!
//! Makes its own namespaces (`tests/netns`) and removes them. Root only; skipped
//! otherwise (see `tests/common`).

mod common;
mod netns;

use std::{fmt::Write as _, path::PathBuf, process::Command};

use netns::{run, sockc, Lab};

/// The bulk records of the install, sorted by name.
fn records(lab: &Lab) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(lab.pin_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("bulk_"))
        .collect();
    out.sort();
    out
}

/// A set file of `n` /32s (and `extra`), one a line.
fn set_text(n: u32, extra: &str) -> String {
    let mut text = String::new();
    for i in 0..n {
        let _ = writeln!(text, "10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
    }
    text + extra
}

fn rules(lab: &Lab) -> PathBuf {
    lab.rules(
        "r.sk",
        &format!(
            "set big = file \"big.txt\"\nxdp on {} {{\n  drop from @big\n  default allow\n}}\n",
            lab.if_a
        ),
    )
}

/// The record that holds the set's entries (the other is the rule text as written,
/// which names the set file and stays the same when the file changes).
fn entries_record(lab: &Lab) -> PathBuf {
    let dir = lab.pin_dir();
    records(lab)
        .into_iter()
        .map(|r| dir.join(r))
        .find(|p| {
            let out = run(Command::new("bpftool")
                .args(["map", "lookup", "pinned"])
                .arg(p)
                .args(["key", "hex", "00", "00", "00", "00", "-j"]))
            .ok();
            // The entries' binary form starts after the 8-byte length: "SKE1".
            out.stdout.contains("\"0x53\",\"0x4b\",\"0x45\",\"0x31\"")
        })
        .expect("a record of set entries")
}

#[test]
fn set_entries_live_in_records_named_by_digest() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("setrec", 247);
    let file = rules(&lab);
    std::fs::write(lab.dir.join("big.txt"), set_text(3000, "")).unwrap();
    lab.apply_ok(&file);
    let first = records(&lab);
    assert_eq!(
        first.len(),
        3,
        "the set's entries, the rule text and the rules: {first:?}"
    );

    // One element added: a new record for the entries, the old one removed; the rule
    // text, recorded as written (the set file named, not its 3,000 lines), and the
    // rules are the same records.
    std::fs::write(lab.dir.join("big.txt"), set_text(3000, "192.0.2.9\n")).unwrap();
    let r = lab.apply_ok(&file);
    assert!(r.stdout.contains("192.0.2.9"), "{r}");
    let second = records(&lab);
    assert_eq!(second.len(), 3, "{second:?}");
    let kept: Vec<&String> = second.iter().filter(|r| first.contains(r)).collect();
    assert_eq!(
        kept.len(),
        2,
        "only the text and rules records are kept: {first:?} {second:?}"
    );
    assert!(!kept.contains(
        &&entries_record(&lab)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    ));
    let (st, _) = lab.status_run(&["--deep"]);
    assert_eq!(st.code, 0, "{st}");
    // `show` writes the set out from the recorded entries, not from the set file,
    // which may have changed since (here: it is gone).
    let kept_file = std::fs::read(lab.dir.join("big.txt")).unwrap();
    std::fs::remove_file(lab.dir.join("big.txt")).unwrap();
    let shown = sockc(&["show", "--name", &lab.name]).ok();
    assert!(
        shown
            .stdout
            .contains("set big = { 10.0.0.0/21, 10.0.8.0/23, "),
        "{shown}"
    );
    assert!(shown.stdout.contains("192.0.2.9/32 }"), "{shown}");
    assert!(!shown.stdout.contains("big.txt"), "{shown}");
    // Written out, a large set may take the text past the rule file size limit
    // (16 MiB for a million elements; here 100 bytes, under the text written out but
    // over the file applied); the text is the install's own and compiled
    // when applied, so `show` still compiles it.
    let small = run(Command::new(netns::sockc_bin())
        .args(["show", "--name", &lab.name])
        .env("SOCKC_MAX_SOURCE_BYTES", "100"));
    assert_eq!(small.code, 0, "{small}");
    assert!(small.stdout.contains("192.0.2.9/32 }"), "{small}");
    std::fs::write(lab.dir.join("big.txt"), kept_file).unwrap();

    // The same file: nothing rewritten.
    lab.apply_ok(&file);
    assert_eq!(records(&lab), second);

    // The manifest parses for a sockc of formats 1-5 (its snapshot has the
    // `map_contents` and `programs` fields those need, empty), which then refuses its
    // format. The rules are in a bulk record of their own, not in the manifest's JSON.
    let manifest = first_chunk(&lab.pin_dir().join("manifest"));
    let len = u64::from_le_bytes(manifest[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&manifest[8..8 + len]).unwrap();
    assert_eq!(json["format"], 6, "{json}");
    assert_eq!(json["snapshot"]["map_contents"], serde_json::json!([]));
    assert_eq!(json["snapshot"]["programs"], serde_json::json!([]));
    assert!(json["bulk"]["map_contents"].is_array(), "{json}");
    let programs = json["bulk"]["programs"].as_str().expect("programs record");
    assert!(
        records(&lab).contains(&format!("bulk_{programs}")),
        "{json}"
    );
}

/// The first chunk of the record pinned at `path`, as bpftool reads it.
fn first_chunk(path: &std::path::Path) -> Vec<u8> {
    let out = run(Command::new("bpftool")
        .args(["map", "lookup", "pinned"])
        .arg(path)
        .args(["key", "hex", "00", "00", "00", "00", "-j"]))
    .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
        .collect()
}

/// Each way a record can be damaged: the install's commands refuse with a message
/// naming the record; `flush` takes it off anyway.
#[test]
fn a_damaged_entries_record_is_an_error_not_a_wrong_set() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("setbad", 248);
    let file = rules(&lab);
    std::fs::write(lab.dir.join("big.txt"), set_text(2000, "")).unwrap();
    let zeroed_chunk = || {
        let mut args: Vec<String> = ["map", "update", "pinned"].map(String::from).to_vec();
        args.push(String::new());
        args.extend(["key", "hex", "00", "00", "00", "00", "value", "hex"].map(String::from));
        args.extend(std::iter::repeat_n("00".to_string(), 16 * 1024));
        args
    };
    type Damage = (&'static str, &'static str);
    let damages: [Damage; 5] = [
        ("missing", "is missing"),
        ("symlink", "is not a pinned record"),
        ("directory", "is not a pinned record"),
        ("torn", "does not hold the bytes"),
        ("swapped", "does not hold the bytes"),
    ];
    for (how, says) in damages {
        lab.apply_ok(&file);
        let rec = entries_record(&lab);
        let aside = rec.with_file_name("elsewhere");
        match how {
            "missing" => std::fs::remove_file(&rec).unwrap(),
            "symlink" => {
                std::fs::rename(&rec, &aside).unwrap();
                std::os::unix::fs::symlink(&aside, &rec).unwrap();
            }
            "directory" => {
                std::fs::remove_file(&rec).unwrap();
                std::fs::create_dir(&rec).unwrap();
            }
            "torn" => {
                // Its first chunk zeroed: the length says nothing is there.
                let mut args = zeroed_chunk();
                args[3] = rec.to_str().unwrap().to_string();
                run(Command::new("bpftool").args(&args)).ok();
            }
            _ => {
                // Another record (the rule text's) under this one's name.
                let other = records(&lab)
                    .into_iter()
                    .map(|r| lab.pin_dir().join(r))
                    .find(|p| *p != rec)
                    .unwrap();
                std::fs::remove_file(&rec).unwrap();
                std::fs::rename(&other, &rec).unwrap();
            }
        }
        let st = sockc(&["status", "--name", &lab.name]);
        assert_ne!(st.code, 0, "{how}: {st}");
        assert!(st.stderr.contains(says), "{how}: {st}");
        assert!(st.stderr.contains("bulk_"), "{how}: names the record: {st}");
        let again = lab.apply(&file, &[]);
        assert_ne!(
            again.code, 0,
            "{how}: an apply over a damaged record: {again}"
        );
        assert!(again.stderr.contains(says), "{how}: {again}");
        let fl = sockc(&["flush", "--name", &lab.name]);
        assert_eq!(fl.code, 0, "{how}: flush takes it off: {fl}");
        assert!(!lab.pin_dir().exists(), "{how}: nothing left");
        let _ = std::fs::remove_file(&aside);
    }
    // A FIFO cannot be made on bpffs at all (no mknod there): nothing to refuse.
    let fifo = std::ffi::CString::new("/sys/fs/bpf/sockc/fifo_probe").unwrap();
    // SAFETY: a NUL-terminated path; mkfifo only creates a node.
    let made = unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) } == 0;
    if made {
        let _ = std::fs::remove_file("/sys/fs/bpf/sockc/fifo_probe");
    }
    assert!(
        !made,
        "bpffs made a FIFO: the refusal above must cover it too"
    );
}

/// The rules' record (from manifest format 6 the rules live outside the manifest's
/// JSON) damaged: the install's commands refuse naming it, never take the rules as
/// empty; `flush` takes the install off.
#[test]
fn a_damaged_rules_record_is_an_error_not_empty_rules() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("rulesbad", 249);
    let file = rules(&lab);
    std::fs::write(lab.dir.join("big.txt"), set_text(10, "")).unwrap();
    lab.apply_ok(&file);
    let manifest = first_chunk(&lab.pin_dir().join("manifest"));
    let len = u64::from_le_bytes(manifest[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&manifest[8..8 + len]).unwrap();
    let digest = json["bulk"]["programs"].as_str().expect("a rules record");
    let rec = lab.pin_dir().join(format!("bulk_{digest}"));
    // Its first chunk zeroed: the length says nothing is there.
    run(Command::new("bpftool")
        .args(["map", "update", "pinned"])
        .arg(&rec)
        .args(["key", "hex", "00", "00", "00", "00", "value", "hex"])
        .args(std::iter::repeat_n("00", 16 * 1024)))
    .ok();
    let st = sockc(&["status", "--name", &lab.name]);
    assert_ne!(st.code, 0, "{st}");
    assert!(st.stderr.contains("does not hold the bytes"), "{st}");
    assert!(st.stderr.contains(&format!("bulk_{digest}")), "{st}");
    let fl = sockc(&["flush", "--name", &lab.name]);
    assert_eq!(fl.code, 0, "flush takes it off: {fl}");
    assert!(!lab.pin_dir().exists(), "nothing left");
}

/// A manifest record pinned at `path` as the store writes one (an array map of 16 KiB
/// chunks, the first starting with the JSON's length), holding `json`.
fn pin_manifest(path: &std::path::Path, json: &str) {
    run(Command::new("bpftool")
        .args(["map", "create"])
        .arg(path)
        .args([
            "type",
            "array",
            "key",
            "4",
            "value",
            "16384",
            "entries",
            "1",
            "name",
            "sockc_record",
        ]))
    .ok();
    let mut value = (json.len() as u64).to_le_bytes().to_vec();
    value.extend(json.as_bytes());
    value.resize(16 * 1024, 0);
    let mut args: Vec<String> = ["map", "update", "pinned"].map(String::from).to_vec();
    args.push(path.to_str().unwrap().to_string());
    args.extend(["key", "hex", "00", "00", "00", "00", "value", "hex"].map(String::from));
    args.extend(value.iter().map(|b| format!("{b:02x}")));
    run(Command::new("bpftool").args(&args)).ok();
}

/// Removes the hand-made install's directory when the test ends, also on a panic
/// (`sockc flush` refuses a manifest it cannot read).
struct Debris(PathBuf);

impl Drop for Debris {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0.join("manifest"));
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// An install whose manifest is of a format this sockc does not read (a newer one,
/// whose fields do not fit this sockc's at all): `status` of that install says which
/// format it found and which it reads; `status` of every install lists it as
/// unreadable with the same words and still reports the others in full.
#[test]
fn a_manifest_of_a_newer_format_is_named_and_the_others_still_listed() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("setfmt", 249);
    std::fs::write(lab.dir.join("big.txt"), set_text(100, "")).unwrap();
    lab.apply_ok(&rules(&lab));
    let newer = format!("{}-newer", lab.name);
    let dir = lab.pin_dir().with_file_name(&newer);
    std::fs::create_dir(&dir).unwrap();
    let _debris = Debris(dir.clone());
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    pin_manifest(
        &dir.join("manifest"),
        &format!(r#"{{"format":99,"name":"{newer}","generation":"a string now"}}"#),
    );
    let says = "format 99 (this sockc reads 1 to";

    let one = sockc(&["status", "--name", &newer]);
    assert_ne!(one.code, 0, "{one}");
    assert!(one.stderr.contains(says), "{one}");

    let all = sockc(&["status"]);
    assert!(all.stdout.contains(says), "the newer install, named: {all}");
    let ours = all
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{}:", lab.name)))
        .unwrap_or_else(|| panic!("ours listed: {all}"));
    assert!(ours.contains("generation 1"), "{ours}");
    let theirs = all
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{newer}:")))
        .unwrap_or_else(|| panic!("the newer install listed: {all}"));
    assert!(
        !theirs.contains("generation 0") && !theirs.contains("1970"),
        "no made-up header for what could not be read: {theirs}"
    );
    let json = sockc(&["status", "--json"]);
    assert!(json.stdout.contains(says), "{json}");
    assert!(json.stdout.contains(&lab.name), "{json}");
}

/// A journal whose target keeps its rules in its own JSON (a manifest format before
/// 6, as a set update of an older install journals it) leaves the target's rules
/// where they were: only a target whose rules are a bulk record lends them out while
/// the journal is written.
#[test]
fn a_journal_of_an_older_format_keeps_its_targets_rules() {
    use sockc_runtime::store::{
        journal::{Journal, Operation, Phase},
        LockWait, Store,
    };
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("oldjrnl", 250);
    let file = rules(&lab);
    std::fs::write(lab.dir.join("big.txt"), set_text(10, "")).unwrap();
    lab.apply_ok(&file);
    let store = Store::open_with(
        std::path::Path::new("/sys/fs/bpf"),
        std::time::Duration::from_secs(60),
        LockWait::Quiet,
    )
    .unwrap();
    let mut m = store.manifest(&lab.name).unwrap().expect("installed");
    assert!(!m.snapshot.programs.is_empty());
    for format in [5, 6] {
        m.format = format;
        let mut j = Journal {
            op: Operation::SetUpdate {
                target: Box::new(m.clone()),
                changes: Vec::new(),
                tables_from: None,
            },
            phase: Phase::Swapping,
            pid: std::process::id(),
            started_unix: 0,
            qdiscs_absent: Vec::new(),
        };
        store.write_journal(&lab.name, &mut j, None).unwrap();
        assert_eq!(
            j.op.target().unwrap().snapshot.programs,
            m.snapshot.programs,
            "format {format}: the target's rules are given back"
        );
        store.clear_journal(&lab.name).unwrap();
    }
    drop(store);
    let fl = sockc(&["flush", "--name", &lab.name]);
    assert_eq!(fl.code, 0, "{fl}");
}

/// A journal whose target a newer sockc wrote (a manifest format past this one's) is
/// refused with what to do, not finished: this sockc would read its target without
/// the parts it does not know (its rules kept where this one does not look) and
/// commit that. The install stays as it was committed.
#[test]
fn a_journal_of_a_newer_format_is_refused_not_finished() {
    use sockc_runtime::store::{
        journal::{Journal, Operation, Phase},
        LockWait, Store, MANIFEST_FORMAT,
    };
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("newjrnl", 252);
    let file = rules(&lab);
    std::fs::write(lab.dir.join("big.txt"), set_text(10, "")).unwrap();
    lab.apply_ok(&file);
    let store = Store::open_with(
        std::path::Path::new("/sys/fs/bpf"),
        std::time::Duration::from_secs(60),
        LockWait::Quiet,
    )
    .unwrap();
    let committed = store.manifest(&lab.name).unwrap().expect("installed");
    let mut target = committed.clone();
    target.format = MANIFEST_FORMAT + 1;
    target.generation += 1;
    let mut j = Journal {
        op: Operation::Apply {
            target: Box::new(target),
        },
        phase: Phase::Swapping,
        pid: std::process::id(),
        started_unix: 0,
        qdiscs_absent: Vec::new(),
    };
    store.write_journal(&lab.name, &mut j, None).unwrap();
    drop(store);
    for args in [
        vec!["status", "--name", &lab.name],
        vec!["repair", "--name", &lab.name],
    ] {
        let r = sockc(&args);
        assert_ne!(r.code, 0, "{r}");
        assert!(
            r.stderr.contains("newer sockc")
                && r.stderr
                    .contains(&format!("format {}", MANIFEST_FORMAT + 1)),
            "{r}"
        );
    }
    let r = lab.apply(&file, &[]);
    assert_ne!(r.code, 0, "{r}");
    let store = Store::open_with(
        std::path::Path::new("/sys/fs/bpf"),
        std::time::Duration::from_secs(60),
        LockWait::Quiet,
    )
    .unwrap();
    let now = store.manifest(&lab.name).unwrap().expect("still installed");
    assert_eq!(now.generation, committed.generation, "nothing committed");
    assert_eq!(now.snapshot.programs, committed.snapshot.programs);
    store.clear_journal(&lab.name).unwrap();
    drop(store);
    let fl = sockc(&["flush", "--name", &lab.name]);
    assert_eq!(fl.code, 0, "{fl}");
}
