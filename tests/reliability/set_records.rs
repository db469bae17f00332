//! An install's set entries and rule text live in binary records beside its manifest
//! (`bulk_<sha256>`, named by digest), not in the manifest's JSON: an update writes a
//! record for the set that changed and drops the one no record names any more; and a
//! record that is missing, torn, changed, or replaced by a link or a directory is a
//! clear error naming it (never a silently wrong set), after which `flush` still takes
//! the install off and a new apply starts over — also when a command was killed in the
//! middle of its work, its journal naming the damaged record. A set update of an
//! install an older sockc recorded, killed at any step, converges on the new set.
//!
//! Makes its own namespaces (`tests/netns`) and removes them. Root only; skipped
//! otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::{fmt::Write as _, path::PathBuf, process::Command};

use netns::{point_of, run, sockc, sockc_fault, Lab};

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
    // format. The rules are in bulk records of their own (one per program from format
    // 9), not in the manifest's JSON.
    let manifest = first_chunk(&lab.pin_dir().join("manifest"));
    let len = u64::from_le_bytes(manifest[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&manifest[8..8 + len]).unwrap();
    assert_eq!(json["format"], 9, "{json}");
    assert_eq!(json["snapshot"]["map_contents"], serde_json::json!([]));
    assert_eq!(json["snapshot"]["programs"], serde_json::json!([]));
    assert!(json["bulk"]["map_contents"].is_array(), "{json}");
    let programs = json["bulk"]["program_records"][0]
        .as_str()
        .expect("a program's record");
    assert!(
        records(&lab).contains(&format!("bulk_{programs}")),
        "{json}"
    );
}

/// The first chunk of the record pinned at `path`, as bpftool reads it.
fn first_chunk(path: &std::path::Path) -> Vec<u8> {
    chunk(path, 0)
}

/// Chunk `i` of the record pinned at `path`, as bpftool reads it.
fn chunk(path: &std::path::Path, i: u32) -> Vec<u8> {
    let key: Vec<String> = i.to_ne_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let out = run(Command::new("bpftool")
        .args(["map", "lookup", "pinned"])
        .arg(path)
        .args(["key", "hex"])
        .args(&key)
        .arg("-j"))
    .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
        .collect()
}

/// A torn copy of the record pinned at `rec` put in its place, as a sockc killed while
/// it wrote the record in place would have left it (before records were sealed): a
/// new, unfrozen map of its shape holding its elements but the first, which stays
/// zeroed (the length says nothing is there). The record itself is sealed (frozen):
/// writing its first element in place is refused.
fn put_torn_copy(rec: &std::path::Path) {
    let zeroed: Vec<String> = std::iter::repeat_n("00".to_string(), 16 * 1024).collect();
    let in_place = run(Command::new("bpftool")
        .args(["map", "update", "pinned"])
        .arg(rec)
        .args(["key", "hex", "00", "00", "00", "00", "value", "hex"])
        .args(&zeroed));
    assert_ne!(
        in_place.code, 0,
        "a sealed record was written in place: {in_place}"
    );
    let shown = run(Command::new("bpftool")
        .args(["map", "show", "pinned"])
        .arg(rec)
        .arg("-j"))
    .ok();
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    let entries = shown["max_entries"].as_u64().expect("a record's entries");
    let torn = rec.with_file_name("torn_copy");
    run(Command::new("bpftool")
        .args(["map", "create"])
        .arg(&torn)
        .args(["type", "array", "key", "4", "value", "16384", "entries"])
        .arg(entries.to_string())
        .args(["name", "sockc_record"]))
    .ok();
    for i in 1..entries as u32 {
        let key: Vec<String> = i.to_ne_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let value = chunk(rec, i);
        run(Command::new("bpftool")
            .args(["map", "update", "pinned"])
            .arg(&torn)
            .args(["key", "hex"])
            .args(&key)
            .args(["value", "hex"])
            .args(value.iter().map(|b| format!("{b:02x}"))))
        .ok();
    }
    std::fs::rename(&torn, rec).unwrap();
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
            "torn" => put_torn_copy(&rec),
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
    let digest = json["bulk"]["program_records"][0]
        .as_str()
        .expect("a rules record");
    let rec = lab.pin_dir().join(format!("bulk_{digest}"));
    put_torn_copy(&rec);
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

    // Without `--name` status would finish another test's install interrupted on purpose.
    let _every = common::exclusive::nameless_command();
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

/// The store the labs' installs live in, opened as sockc opens it (holding its lock:
/// drop it before running sockc), one at a time in this process (it sets the umask).
fn open_store() -> common::exclusive::OpenStore {
    common::exclusive::open_store(
        std::path::Path::new(netns::BPFFS),
        std::time::Duration::from_secs(60),
        sockc_runtime::store::LockWait::Quiet,
    )
    .unwrap()
}

/// A lab with [`rules`] applied, its set file holding 10 addresses.
fn installed(tag: &str, subnet: u8) -> (Lab, PathBuf) {
    let lab = Lab::new(tag, subnet);
    let file = rules(&lab);
    std::fs::write(lab.dir.join("big.txt"), set_text(10, "")).unwrap();
    lab.apply_ok(&file);
    (lab, file)
}

/// A journal whose target keeps its rules in its own JSON (a manifest format before
/// 6, as a set update of an older install journals it) leaves the target's rules
/// where they were: only a target whose rules are a bulk record lends them out while
/// the journal is written.
#[test]
fn a_journal_of_an_older_format_keeps_its_targets_rules() {
    use sockc_runtime::store::journal::{Journal, Operation, Phase};
    if !common::kernel() {
        return;
    }
    let (lab, _) = installed("oldjrnl", 250);
    let store = open_store();
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
        MANIFEST_FORMAT,
    };
    if !common::kernel() {
        return;
    }
    // Its install is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let (lab, file) = installed("newjrnl", 252);
    let store = open_store();
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
    let store = open_store();
    let now = store.manifest(&lab.name).unwrap().expect("still installed");
    assert_eq!(now.generation, committed.generation, "nothing committed");
    assert_eq!(now.snapshot.programs, committed.snapshot.programs);
    store.clear_journal(&lab.name).unwrap();
    drop(store);
    let fl = sockc(&["flush", "--name", &lab.name]);
    assert_eq!(fl.code, 0, "{fl}");
}

/// The clsact filters on the lab's interface, ingress.
fn tc_filters(lab: &Lab) -> String {
    lab.tc(&["filter", "show", "dev", &lab.if_a, "ingress"])
}

/// Interrupted work and a damaged record at once. A flush killed after its journal,
/// with a record of the committed generation damaged, is finished by the next command
/// (it needs no set entries or rules to take hooks off); an apply killed before it
/// swapped any hook, its new record damaged, is rolled back (nothing of it is kept);
/// an apply killed while it swapped hooks, and a set update, cannot be finished
/// without their records: every command names the damage, and `flush`, which that
/// message names, gives the work up and takes every hook off, the ones the killed
/// command had swapped or attached too. Before, the journal's record was read in
/// full by every command, `flush` included: the install was stuck, its hooks running,
/// with a message that sent the operator to a `flush` that failed the same way.
#[test]
fn interrupted_work_over_a_damaged_record_never_keeps_flush_from_taking_it_off() {
    if !common::kernel() {
        return;
    }
    // Its install is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("killbad", 251);
    let old = lab.rules(
        "old.sk",
        &format!(
            "set big = file \"big.txt\"\nxdp on {i} {{\n  drop from @big\n  drop udp to *:9001\n  default allow\n}}\ntc ingress on {i} {{\n  drop udp to *:9002\n  default allow\n}}\n",
            i = lab.if_a
        ),
    );
    let new = lab.rules(
        "new.sk",
        &format!(
            "set big = file \"big.txt\"\nxdp on {i} {{\n  drop from @big\n  drop udp to *:9003\n  default allow\n}}\ntc ingress on {i} {{\n  drop udp to *:9004\n  default allow\n}}\n",
            i = lab.if_a
        ),
    );
    let big = lab.dir.join("big.txt");
    let clsact = ["--tc-attach", "clsact"];
    let install = |file: &std::path::Path, set: u32| {
        std::fs::write(&big, set_text(set, "")).unwrap();
        lab.apply(file, &clsact).ok();
    };
    // `old` applied with a set of `set` elements, then the command `args` (after the
    // set file got `next` elements) killed at the point `step` names (+ `after`); the
    // records the killed command wrote are removed. Returns what the kill said.
    let killed = |args: &[&str], next: u32, step: &str, after: usize| {
        let _ = sockc(&["flush", "--name", &lab.name]);
        install(&old, 2000);
        std::fs::write(&big, set_text(next, "")).unwrap();
        let traced = sockc_fault(args, "SOCKC_FAULT_TRACE", "1").ok();
        let _ = sockc(&["flush", "--name", &lab.name]);
        install(&old, 2000);
        std::fs::write(&big, set_text(next, "")).unwrap();
        let before = records(&lab);
        let k = sockc_fault(args, "SOCKC_FAULT_KILL_AT", &point_of(&traced, step, after));
        assert_eq!(k.code, -1, "killed: {k}");
        let written: Vec<String> = records(&lab)
            .into_iter()
            .filter(|r| !before.contains(r))
            .collect();
        assert!(!written.is_empty(), "{step}: a record was written: {k}");
        for r in &written {
            std::fs::remove_file(lab.pin_dir().join(r)).unwrap();
        }
        k
    };
    let gone = |when: &str| {
        assert!(
            !lab.pin_dir().exists(),
            "{when}: pins left: {:?}",
            lab.pins()
        );
        assert_eq!(lab.xdp_attached_id(), None, "{when}: XDP still attached");
        assert!(
            !tc_filters(&lab).contains("bpf"),
            "{when}: a filter still on: {}",
            tc_filters(&lab)
        );
        lab.expect_verdicts(
            when,
            &[(9001, true), (9002, true), (9003, true), (9004, true)],
        );
    };
    let apply_new: Vec<&str> = {
        let mut a = lab.apply_args(&new, &lab.name, &clsact);
        a.push("-q");
        a
    };
    let set_update: Vec<&str> = {
        let mut a = lab.apply_args(&old, &lab.name, &clsact);
        a.push("-q");
        a
    };

    // A flush killed after its journal, a record of the committed generation damaged:
    // the next command (here `status`) finishes it.
    let _ = sockc(&["flush", "--name", &lab.name]);
    install(&old, 2000);
    let traced = sockc_fault(&["flush", "--name", &lab.name], "SOCKC_FAULT_TRACE", "1").ok();
    install(&old, 2000);
    std::fs::remove_file(entries_record(&lab)).unwrap();
    let k = sockc_fault(
        &["flush", "--name", &lab.name],
        "SOCKC_FAULT_KILL_AT",
        &point_of(&traced, "detach", 0),
    );
    assert_eq!(k.code, -1, "killed: {k}");
    let st = sockc(&["status", "--name", &lab.name]);
    assert!(
        st.stderr.contains("finished an interrupted flush")
            && st.stderr.contains("nothing is installed"),
        "{st}"
    );
    gone("a killed flush finished over a damaged record");

    // An apply killed before it swapped any hook (its objects being pinned), its new
    // set's record removed: rolled back, the old generation untouched.
    killed(&apply_new, 2001, "mkdir", 0);
    let (st, v) = lab.status_run(&["--deep"]);
    assert_eq!(st.code, 0, "{st}");
    let v = v.unwrap();
    assert!(
        v["recovered"]
            .as_str()
            .unwrap_or("")
            .contains("rolled back"),
        "{st}"
    );
    assert_eq!(v["generation"], 1, "{st}");
    lab.expect_verdicts("rolled back", &[(9001, false), (9002, false), (9003, true)]);
    let shown = sockc(&["show", "--name", &lab.name]).ok();
    assert!(shown.stdout.contains("*:9001"), "{shown}");

    // An apply killed after it swapped the XDP hook, and a set update killed after its
    // journal, each with the record of its target's set removed: every command names
    // the record; `flush` gives the work up and takes every hook off.
    for (what, args, step) in [
        ("an apply", &apply_new, "swap"),
        ("a set update", &set_update, "insert into"),
    ] {
        let after = usize::from(what == "an apply");
        killed(args, 2001, step, after);
        let st = sockc(&["status", "--name", &lab.name]);
        assert_eq!(st.code, 3, "{what}: {st}");
        assert!(
            st.stderr.contains("is missing") && st.stderr.contains("sockc flush"),
            "{what}: {st}"
        );
        let fl = sockc(&["flush", "--name", &lab.name]);
        assert_eq!(fl.code, 0, "{what}: flush takes it off: {fl}");
        assert!(fl.stderr.contains("gave up an interrupted apply"), "{fl}");
        gone(&format!("{what} given up by flush"));
    }
}

/// A set update of an install an older sockc recorded (manifest formats 3 to 5: set
/// entries and rules in its JSON, then entries and text in records, then the text as
/// written), killed at each of its steps: the next command finishes or undoes it, `show`
/// prints the set as the kernel has it (the old elements or the new ones, never a mix
/// or none), `status --deep` finds no difference, and the update run again records the
/// install in the current format with the new set.
#[test]
fn a_set_update_of_an_older_format_killed_anywhere_converges() {
    if !common::kernel() {
        return;
    }
    // Its install is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("oldkill", 252);
    let file = rules(&lab);
    let big = lab.dir.join("big.txt");
    let before = set_text(40, "");
    let after = set_text(40, "192.0.2.77\n");
    let set_of = |r: &netns::Run| -> String {
        r.stdout
            .lines()
            .find(|l| l.starts_with("set big = "))
            .unwrap_or_else(|| panic!("show prints the set: {r}"))
            .to_string()
    };
    // The install as a sockc of `format` recorded it.
    let install_as = |format: u32| {
        let _ = sockc(&["flush", "--name", &lab.name]);
        std::fs::write(&big, &before).unwrap();
        lab.apply_ok(&file);
        let store = open_store();
        let mut m = store.manifest(&lab.name).unwrap().expect("installed");
        if format < sockc_runtime::store::SETS_FROM_MAPS_FORMAT {
            // Those formats keep the text with its `file` sets written out.
            m.source_text = m.rule_text().map(std::sync::Arc::new);
        }
        m.format = format;
        store.write_manifest(&mut m).unwrap();
    };
    let traced_update = || {
        run(Command::new(netns::sockc_bin())
            .args(lab.apply_args(&file, &lab.name, &["-q"]))
            .env("SOCKC_FAULT_TRACE", "1"))
        .ok()
    };
    for format in [3, 4, 5] {
        install_as(format);
        let old_set = set_of(&sockc(&["show", "--name", &lab.name]).ok());
        std::fs::write(&big, &after).unwrap();
        let steps = traced_update()
            .stderr
            .lines()
            .filter(|l| l.starts_with("fault point "))
            .count();
        let new_set = set_of(&sockc(&["show", "--name", &lab.name]).ok());
        assert!(new_set.contains("192.0.2.77/32"), "{new_set}");
        assert_ne!(old_set, new_set);
        assert!(steps > 3, "format {format}: {steps} fault points");
        for n in 1..=steps {
            install_as(format);
            std::fs::write(&big, &after).unwrap();
            let k = run(Command::new(netns::sockc_bin())
                .args(lab.apply_args(&file, &lab.name, &["-q"]))
                .env("SOCKC_FAULT_KILL_AT", n.to_string()));
            assert_eq!(k.code, -1, "format {format}, point {n}: {k}");
            let (st, _) = lab.status_run(&["--deep"]);
            assert_eq!(st.code, 0, "format {format}, killed at {n}: {st}");
            let shown = set_of(&sockc(&["show", "--name", &lab.name]).ok());
            assert!(
                shown == old_set || shown == new_set,
                "format {format}, killed at {n}: {shown}"
            );
            lab.apply_ok(&file);
            let (st, _) = lab.status_run(&["--deep"]);
            assert_eq!(st.code, 0, "format {format}, again after {n}: {st}");
            let shown = sockc(&["show", "--name", &lab.name]).ok();
            assert_eq!(set_of(&shown), new_set, "format {format}, after {n}");
            let manifest = first_chunk(&lab.pin_dir().join("manifest"));
            let len = u64::from_le_bytes(manifest[..8].try_into().unwrap()) as usize;
            let json: serde_json::Value = serde_json::from_slice(&manifest[8..8 + len]).unwrap();
            assert_eq!(
                json["format"],
                sockc_runtime::store::format_for(false),
                "format {format}, after {n}: the format of an install without a residual"
            );
        }
    }
}

/// A set update that switches classifier tables, killed after its journal, whose
/// generation lost the pin of its table switch (`tables_live`): it can be neither
/// finished nor undone, and every command says why; `flush` gives it up and takes the
/// hook off. Before, `flush` failed the same way as every other command, with the
/// install's hook still running.
#[test]
fn interrupted_work_that_cannot_be_finished_is_given_up_by_flush() {
    if !common::kernel() {
        return;
    }
    // Its install is left interrupted on purpose: no command without `--name` may
    // finish it meanwhile.
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("tblgone", 253);
    let mut text = String::from("set s = file \"s.txt\"\n");
    let _ = writeln!(text, "xdp on {} {{", lab.if_a);
    for i in 1..=40 {
        let _ = writeln!(text, "  drop tcp from 172.16.{i}.0/24 to *:{}", 1000 + i);
        if i == 20 {
            text.push_str("  drop udp from @s to *:9001\n");
        }
    }
    text.push_str("  default allow\n}\n");
    let file = lab.rules("t.sk", &text);
    let set = lab.dir.join("s.txt");
    std::fs::write(&set, format!("10.1.0.0/16\n{}\n", lab.addr_b)).unwrap();
    lab.apply_ok(&file);
    lab.expect_verdicts("installed", &[(9001, false), (9002, true)]);
    std::fs::write(&set, "10.1.0.0/16\n").unwrap();
    let args = lab.apply_args(&file, &lab.name, &["-q"]);
    let k = run(Command::new(netns::sockc_bin())
        .args(&args)
        .env("SOCKC_FAULT_TRACE", "1")
        .env("SOCKC_FAULT_KILL_AT", "9999"))
    .ok();
    // Undone by hand: the update is killed at the same step below.
    std::fs::write(&set, format!("10.1.0.0/16\n{}\n", lab.addr_b)).unwrap();
    lab.apply_ok(&file);
    std::fs::write(&set, "10.1.0.0/16\n").unwrap();
    let switch = point_of(&k, "switch classifier tables", 0);
    let killed = sockc_fault(&args, "SOCKC_FAULT_KILL_AT", &switch);
    assert_eq!(killed.code, -1, "{killed}");
    let generation = std::fs::read_dir(lab.pin_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with('g'))
        .expect("a generation");
    std::fs::remove_file(generation.join("map_tables_live")).unwrap();
    let st = sockc(&["status", "--name", &lab.name]);
    assert_eq!(st.code, 3, "{st}");
    assert!(st.stderr.contains("tables_live"), "{st}");
    let fl = sockc(&["flush", "--name", &lab.name]);
    assert_eq!(fl.code, 0, "{fl}");
    assert!(
        fl.stderr.contains("gave up an interrupted apply") && fl.stderr.contains("tables_live"),
        "{fl}"
    );
    assert!(!lab.pin_dir().exists(), "{:?}", lab.pins());
    assert_eq!(lab.xdp_attached_id(), None);
    lab.expect_verdicts("flushed", &[(9001, true), (9002, true)]);
}

/// A set file of `n` /32s spread over 10.0.0.0/8 (none adjacent, so none merge: the
/// set map holds `n` entries) and `extra`, one a line.
fn spread_set_text(n: u32, extra: &str) -> String {
    let mut text = String::new();
    for i in 0..n {
        let a = (10u32 << 24) | (i.wrapping_mul(7919) % (1 << 24));
        let _ = writeln!(text, "{}", std::net::Ipv4Addr::from(a));
    }
    text + extra
}

/// The manifest's JSON as pinned.
fn manifest_json(lab: &Lab) -> serde_json::Value {
    let manifest = first_chunk(&lab.pin_dir().join("manifest"));
    let len = u64::from_le_bytes(manifest[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&manifest[8..8 + len]).unwrap()
}

/// A large set (a record of more than a megabyte) updated in place keeps its record
/// as a delta over the committed one (format 8, `store::set_delta`): one element
/// added, then removed, writes a small record each time against the same whole one,
/// which stays while a delta names it and goes when none does; `status --deep`
/// compares the kernel's map with what the records say. Killed at each step of the
/// update, the next command finishes or undoes it: the kernel holds the old set or
/// the new one, as recorded, and the update run again gives the new one.
#[test]
fn a_large_set_updated_in_place_is_recorded_as_a_delta_and_converges_when_killed() {
    if !common::kernel() {
        return;
    }
    let _interrupted = common::exclusive::interrupted_install();
    let lab = Lab::new("setdelta", 234);
    let file = rules(&lab);
    let big = lab.dir.join("big.txt");
    let (before, after) = (
        spread_set_text(130_000, ""),
        spread_set_text(130_000, "192.0.2.77\n"),
    );
    std::fs::write(&big, &before).unwrap();
    lab.apply_ok(&file);
    let whole = entries_record(&lab);
    let whole_digest = whole.file_name().unwrap().to_string_lossy()[5..].to_string();
    let deltas = |lab: &Lab| manifest_json(lab)["bulk"]["set_deltas"].clone();
    assert_eq!(
        deltas(&lab),
        serde_json::Value::Null,
        "a first install: whole"
    );

    std::fs::write(&big, &after).unwrap();
    let r = lab.apply_ok(&file);
    assert!(r.stdout.contains("+1 -0"), "{r}");
    let json = manifest_json(&lab);
    // A format that reads set deltas (8 and after).
    assert!(json["format"].as_u64() >= Some(8), "{json}");
    let d = &deltas(&lab)[0];
    assert_eq!(d["base"], whole_digest.as_str(), "{json}");
    let first_delta = d["delta"].as_str().unwrap().to_string();
    assert!(whole.exists(), "the base is kept while a delta names it");
    let (st, _) = lab.status_run(&["--deep"]);
    assert_eq!(st.code, 0, "{st}");
    let has_new = |lab: &Lab| {
        let shown = sockc(&["show", "--name", &lab.name]).ok();
        shown.stdout.contains(" 192.0.2.77/32")
    };
    assert!(has_new(&lab));

    // Removed again: a delta against the same base, the first one collected.
    std::fs::write(&big, &before).unwrap();
    lab.apply_ok(&file);
    assert_eq!(deltas(&lab)[0]["base"], whole_digest.as_str());
    let left = records(&lab);
    assert!(!left.iter().any(|r| r.ends_with(&first_delta)), "{left:?}");
    assert!(left.contains(&format!("bulk_{whole_digest}")), "{left:?}");
    assert!(!has_new(&lab));

    std::fs::write(&big, &after).unwrap();
    let steps = run(Command::new(netns::sockc_bin())
        .args(lab.apply_args(&file, &lab.name, &["-q"]))
        .env("SOCKC_FAULT_TRACE", "1"))
    .ok()
    .stderr
    .lines()
    .filter(|l| l.starts_with("fault point "))
    .count();
    assert!(steps > 3, "{steps} fault points");
    for n in 1..=steps {
        std::fs::write(&big, &before).unwrap();
        lab.apply_ok(&file);
        std::fs::write(&big, &after).unwrap();
        let k = run(Command::new(netns::sockc_bin())
            .args(lab.apply_args(&file, &lab.name, &["-q"]))
            .env("SOCKC_FAULT_KILL_AT", n.to_string()));
        assert_eq!(k.code, -1, "point {n}: {k}");
        let (st, _) = lab.status_run(&["--deep"]);
        assert_eq!(st.code, 0, "killed at {n}: {st}");
        lab.apply_ok(&file);
        let (st, _) = lab.status_run(&["--deep"]);
        assert_eq!(st.code, 0, "again after {n}: {st}");
        assert!(has_new(&lab), "after {n}");
    }
}
