//! A re-apply that changes only what maps hold touches no program (issue 50): a set's
//! contents changed, and a rule reworded so that it compiles to the same code (its
//! counter renamed: a new rule id), each keep the program the hook runs (the same
//! kernel program id, in `status` and on the interface) and run no verifier (`apply
//! --timings` has no `verify and load` stage), while the new contents decide packets
//! and the reworded rule gets its new id.
//!
//! Makes its own namespaces (`tests/netns`) and removes them. Root only; skipped
//! otherwise (see `tests/common`).

use serde_json::Value;

use crate::{
    common,
    netns::{sockc, Lab},
};

fn prog_id(status: &Value) -> u64 {
    status["hooks"][0]["prog_id"].as_u64().expect("prog_id")
}

#[test]
fn set_contents_or_a_counters_name_alone_reload_nothing() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("inplace", 1);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let file = |set: &str, rule: &str| {
        format!("set blocked = {{ {set} }}\nxdp on {a} {{\n  drop from @blocked\n  {rule}\n  default allow\n}}\n")
    };
    let first = lab.rules("first.sk", &file("192.0.2.1", "drop udp to *:9001"));
    let set_changed = lab.rules(
        "sets.sk",
        &file(&format!("192.0.2.1, {b}"), "drop udp to *:9001"),
    );
    let renamed = lab.rules(
        "renamed.sk",
        &file(&format!("192.0.2.1, {b}"), "drop udp to *:9001-9001"),
    );

    lab.apply_ok(&first);
    let installed = lab.status_attached();
    let prog = prog_id(&installed);
    lab.expect_verdicts("first", &[(9001, false), (9002, true)]);

    for (what, file) in [("set contents", &set_changed), ("a rule's text", &renamed)] {
        let out = lab.apply(file, &["--timings"]).ok();
        assert!(
            !out.stderr.contains("verify and load"),
            "{what}: the verifier ran:\n{out}"
        );
        let now = lab.status_attached();
        assert_eq!(prog_id(&now), prog, "{what}: a new program:\n{now:#}");
        assert_eq!(
            lab.xdp_prog_id(),
            Some(prog as u32),
            "{what}: {}",
            lab.link_a()
        );
    }
    // B's address is in the set now: everything from B drops.
    lab.expect_verdicts("set changed", &[(9001, false), (9002, false)]);
    let (code, text, err) = common::sockc(&["stats", "--name", &lab.name, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("drop udp to *:9001-9001"),
        "the reworded rule is listed:\n{text}"
    );
}

/// A re-apply reads the installed generation without its recorded rule text (the
/// refit and an in-place update do not need it: `Store::with_manifest_but_text`):
/// what it commits records the new file's text whole, and a dry run over it, which
/// compares with the installed rules, reads that text back.
#[test]
fn an_in_place_reapply_records_the_new_text_and_a_dry_run_reads_it_back() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("inptext", 1);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let file = |set: &str, comment: &str| {
        format!("# {comment}\nset blocked = {{ {set} }}\nxdp on {a} {{\n  drop from @blocked\n  drop udp to *:9001\n  default allow\n}}\n")
    };
    let first = lab.rules("first.sk", &file("192.0.2.1", "the first"));
    let second = lab.rules("second.sk", &file(&format!("192.0.2.1, {b}"), "the second"));
    lab.apply_ok(&first);
    let out = lab.apply_ok(&second);
    assert!(out.stdout.contains("no reload"), "not in place:\n{out}");

    let (code, shown, err) = common::sockc(&["show", "--name", &lab.name]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains("# the second") && shown.contains(&b.to_string()),
        "show prints the text the re-apply recorded:\n{shown}"
    );
    // The recorded text, not the file (which an older manifest would fall back to):
    // the file is changed first.
    lab.rules("second.sk", "# changed since\n");
    // Back to the first file, dry: B's packets would pass again.
    let dry = lab.apply(&first, &["--dry-run"]).expect_code(0);
    assert!(
        dry.stdout.contains(&b.to_string()),
        "the semantic diff names B's packets:\n{dry}"
    );
    let (_, after, _) = common::sockc(&["show", "--name", &lab.name]);
    assert_eq!(after, shown, "a dry run changed what is recorded");
}

/// A lab whose XDP block drops a set's addresses, and two files of it: the set with
/// one address, then with B's added (an update in place).
fn set_update_lab(name: &str) -> (Lab, std::path::PathBuf, std::path::PathBuf) {
    let lab = Lab::new(name, 1);
    let (a, b) = (&lab.if_a, lab.addr_b);
    let file = |set: &str| {
        format!(
            "set blocked = {{ {set} }}\nxdp on {a} {{\n  drop from @blocked\n  default allow\n}}\n"
        )
    };
    let first = lab.rules("first.sk", &file("192.0.2.1"));
    let second = lab.rules("second.sk", &file(&format!("192.0.2.1, {b}")));
    (lab, first, second)
}

/// Recovery's garbage collection, which a re-apply runs beside its plan (on another
/// thread, with the manifest it read: `install::update::plan_beside`), still runs
/// before the update: a stray generation directory (what a killed apply leaves) is
/// removed and said, and the update in place goes on.
#[test]
fn an_in_place_reapply_collects_what_an_interrupted_command_left() {
    if !common::kernel() {
        return;
    }
    let (lab, first, second) = set_update_lab("inpgc");
    lab.apply_ok(&first);
    let stray = lab.pin_dir().join("g99");
    std::fs::create_dir(&stray).expect("a stray generation directory on bpffs");

    let out = reapply_collecting_g99(&lab, &second);
    assert!(out.stdout.contains("no reload"), "not in place:\n{out}");
    let pins = lab.pins();
    assert!(!pins.iter().any(|p| p == "g99/"), "left: {pins:#?}");
}

/// `second` re-applied over a stray `g99`: the collection is said and the update
/// holds (B's packets dropped).
fn reapply_collecting_g99(lab: &Lab, second: &std::path::Path) -> crate::netns::Run {
    let out = lab.apply_ok(second);
    assert!(
        out.stderr
            .contains("removed leftovers of an interrupted command: g99"),
        "the collection is said:\n{out}"
    );
    lab.expect_verdicts("updated", &[(9001, false)]);
    out
}

/// A stray directory that cannot be removed: a tmpfs mounted on it (EBUSY to
/// `rmdir`) holding a file and a directory with a file that are not sockc's,
/// unmounted on drop (also when the test fails, before its `Lab` goes).
pub(crate) struct Busy(std::path::PathBuf);

/// The files [`Busy::mount`] puts in its tmpfs, which no command may remove.
const NOT_SOCKCS: [&str; 2] = ["theirs", "sub/theirs"];

impl Busy {
    pub(crate) fn mount(path: std::path::PathBuf) -> Busy {
        std::fs::create_dir(&path).expect("a stray generation directory on bpffs");
        Busy::over(path)
    }

    /// A tmpfs mounted over the directory at `path`, which exists (what it holds is
    /// hidden until the drop unmounts it).
    pub(crate) fn over(path: std::path::PathBuf) -> Busy {
        let busy = Busy(path);
        crate::netns::run(std::process::Command::new("mount").args([
            "-t",
            "tmpfs",
            "sockc-test-busy",
            busy.0.to_str().expect("UTF-8 path"),
        ]))
        .ok();
        std::fs::create_dir(busy.0.join("sub")).expect("a directory in the tmpfs");
        for f in NOT_SOCKCS {
            std::fs::write(busy.0.join(f), "not sockc's").expect("a file in the tmpfs");
        }
        busy
    }

    pub(crate) fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 path")
    }

    /// Every file of the mount is still there: no command removed what it holds.
    #[track_caller]
    pub(crate) fn untouched(&self) {
        for f in NOT_SOCKCS {
            assert!(self.0.join(f).exists(), "{f} in the mount was removed");
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = crate::netns::run(std::process::Command::new("umount").arg(&self.0));
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// `out` names the leftover at `path` as one an interrupted command left and says how
/// to remove it.
#[track_caller]
pub(crate) fn names_the_leftover(out: &crate::netns::Run, path: &str) {
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!(
            "{path} (objects of a generation no record names): Device or resource busy"
        )),
        "the leftover named ({}):\n{out}",
        out.what
    );
    assert!(
        text.contains("what an interrupted command left")
            && text.contains(&format!("`umount {path}` if something is mounted on it")),
        "what it is and how to remove it ({}):\n{out}",
        out.what
    );
}

/// A leftover recovery cannot remove, of the number the next generation takes (what
/// an apply killed before its journal leaves, `g99` past generation 1), with a mount
/// on it: the commands that only read go on and warn, naming it (`status`, its JSON's
/// `recovered`, `show`, `diff --installed`, `apply --dry-run`); those that change the
/// install (`apply`, `apply --json`, `repair`) stop before any change, naming its
/// path, saying an interrupted command left it and how to remove it; the installed
/// generation keeps running, its records untouched. Once it can go, the next
/// re-apply removes it and says so. (A flush goes on: [`a_flush_beside_a_leftover_it_cannot_remove_takes_every_hook_off`].)
#[test]
fn a_leftover_that_cannot_be_removed_stops_only_what_changes_the_install() {
    if !common::kernel() {
        return;
    }
    let (lab, first, second) = set_update_lab("inpgcerr");
    lab.apply_ok(&first);
    let pins = lab.pins();
    let busy = Busy::mount(lab.pin_dir().join("g99"));
    let name = lab.name.as_str();

    let status = sockc(&["status", "--name", name]).ok();
    names_the_leftover(&status, busy.path());
    let json = lab.status().expect("still installed");
    let recovered = json["recovered"].as_str().unwrap_or_default();
    assert!(recovered.contains(busy.path()), "status --json: {json:#}");
    names_the_leftover(&sockc(&["show", name]).ok(), busy.path());
    let diff = sockc(&["diff", "--installed", name, first.to_str().expect("UTF-8")]);
    names_the_leftover(&diff.expect_code(0), busy.path());
    names_the_leftover(&lab.apply(&second, &["--dry-run"]).ok(), busy.path());

    for extra in [&[][..], &["--json"]] {
        let out = lab.apply(&second, extra).expect_code(3);
        names_the_leftover(&out, busy.path());
        assert!(out.stderr.contains("Nothing was changed"), "{out}");
    }
    names_the_leftover(
        &sockc(&["repair", "--name", name]).expect_code(3),
        busy.path(),
    );
    // Every record as it was (the same inodes: the manifest not replaced).
    let mut now = lab.pins();
    now.retain(|p| !p.starts_with("g99"));
    assert_eq!(now, pins, "a refused command left or removed records");
    lab.expect_verdicts("refused", &[(9001, true)]);
    busy.untouched();

    drop(busy);
    std::fs::create_dir(lab.pin_dir().join("g99")).expect("the leftover again");
    reapply_collecting_g99(&lab, &second);
}

/// A leftover no command can write into (a generation directory numbered at most the
/// committed generation: no new generation takes its number) does not stop a
/// re-apply, which goes on and says it; once it can go, a flush removes it with the
/// install.
#[test]
fn an_apply_goes_on_beside_an_old_generation_it_cannot_remove() {
    if !common::kernel() {
        return;
    }
    let (lab, first, second) = set_update_lab("inpgcold");
    lab.apply_ok(&first);
    let busy = Busy::mount(lab.pin_dir().join("g0"));
    let out = lab.apply_ok(&second);
    names_the_leftover(&out, busy.path());
    assert!(out.stdout.contains("no reload"), "not in place:\n{out}");
    lab.expect_verdicts("updated", &[(9001, false)]);
    let name = lab.name.as_str();
    busy.untouched();
    drop(busy);
    std::fs::create_dir(lab.pin_dir().join("g0")).expect("the leftover again");
    let flushed = sockc(&["flush", "--name", name]).ok();
    assert!(
        flushed
            .stderr
            .contains("removed leftovers of an interrupted command: g0"),
        "{flushed}"
    );
    assert!(lab.status().is_none(), "flushed");
}

/// `out` says that the leftover at `path` stayed, what it is, and how to remove it.
#[track_caller]
pub(crate) fn says_what_stayed(out: &crate::netns::Run, path: &str) {
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!(
            "sockc could not remove {path} (objects of a generation no record names): Device or resource busy"
        )) && text.contains(&format!("`umount {path}` if something is mounted on it")),
        "what stayed and how to remove it ({}):\n{out}",
        out.what
    );
}

/// A flush beside a leftover it cannot remove (a mount on the next generation's
/// directory) takes every hook off all the same — packets the rules dropped pass —,
/// removes every other pin and record, and says the path that stayed and the fix
/// (exit 0; `stayed` in its JSON). The directory left (no record, only the leftover)
/// reads as such: `status` says nothing is installed and what stayed, a new install
/// under the name stops beside it, naming it; once it can go, the next apply removes
/// it and installs.
#[test]
fn a_flush_beside_a_leftover_it_cannot_remove_takes_every_hook_off() {
    if !common::kernel() {
        return;
    }
    let (lab, first, second) = set_update_lab("inpgcfl");
    lab.apply_ok(&second);
    lab.expect_verdicts("installed", &[(9001, false)]);
    let busy = Busy::mount(lab.pin_dir().join("g99"));
    let name = lab.name.as_str();

    let flushed = sockc(&["flush", "--name", name, "--json"]).ok();
    says_what_stayed(&flushed, busy.path());
    assert!(flushed.stderr.contains("every hook is off"), "{flushed}");
    let doc: Value = serde_json::from_str(&flushed.stdout).expect("flush --json");
    assert_eq!(doc["stayed"][0]["path"], busy.path(), "{doc:#}");
    assert_eq!(doc["generation"], 1, "{doc:#}");
    lab.expect_verdicts("flushed", &[(9001, true)]);
    assert_eq!(lab.xdp_prog_id(), None, "a program still on {}", lab.if_a);
    let pins = lab.pins();
    assert!(
        pins.iter().all(|p| p.starts_with("g99")),
        "only the leftover stays: {pins:#?}"
    );

    let status = sockc(&["status", "--name", name]).expect_code(1);
    assert!(
        status.stderr.contains("nothing is installed, but"),
        "{status}"
    );
    says_what_stayed(&status, busy.path());
    says_what_stayed(&sockc(&["flush", "--name", name]).ok(), busy.path());
    names_the_leftover(&lab.apply(&first, &[]).expect_code(3), busy.path());
    lab.expect_verdicts("refused", &[(9001, true)]);
    busy.untouched();

    drop(busy);
    std::fs::create_dir(lab.pin_dir().join("g99")).expect("the leftover again");
    let applied = lab.apply_ok(&second);
    assert!(
        applied
            .stderr
            .contains("removed what an interrupted first apply or flush left: g99/"),
        "{applied}"
    );
    lab.expect_verdicts("installed again", &[(9001, false)]);
}

/// `stats` (text and JSON), `stats --reset` and `trace`, which go on beside a leftover
/// recovery cannot remove (they change no pin), say it as `status` does — its path,
/// what it is, how to remove it — where before they said nothing.
#[test]
fn stats_reset_and_trace_say_a_leftover_they_go_on_beside() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("inpgcst", 1);
    let file = lab.rules(
        "log.sk",
        &format!(
            "xdp on {} {{\n  drop udp to *:9001 log\n  default allow\n}}\n",
            lab.if_a
        ),
    );
    lab.apply_ok(&file);
    let busy = Busy::mount(lab.pin_dir().join("g99"));
    let name = lab.name.as_str();
    names_the_leftover(&sockc(&["stats", "--name", name]).ok(), busy.path());
    let json = sockc(&["stats", "--name", name, "--json"]).ok();
    let doc: Value = serde_json::from_str(&json.stdout).expect("stats --json");
    let warnings = doc["installs"][0]["warnings"].to_string();
    assert!(warnings.contains(busy.path()), "{doc:#}");
    names_the_leftover(
        &sockc(&["stats", "--name", name, "--reset"]).ok(),
        busy.path(),
    );
    names_the_leftover(
        &sockc(&["trace", "--name", name, "--timeout", "0.3"]).ok(),
        busy.path(),
    );
    lab.expect_verdicts("still installed", &[(9001, false), (9002, true)]);
    busy.untouched();
}

/// Two files whose second reloads (a rule more), and the number of the fault point of
/// its apply over the first (installed fresh) that pins into its new generation's
/// directory `g2` (journal in place, no hook changed yet: a kill there is rolled back).
fn reload_lab(tag: &str) -> (Lab, std::path::PathBuf, std::path::PathBuf, String) {
    let lab = Lab::new(tag, 1);
    let a = &lab.if_a;
    let first = lab.rules(
        "first.sk",
        &format!("xdp on {a} {{\n  drop udp to *:9001\n  default allow\n}}\n"),
    );
    let second = lab.rules(
        "second.sk",
        &format!(
            "xdp on {a} {{\n  drop udp to *:9001\n  drop udp to *:9002\n  default allow\n}}\n"
        ),
    );
    lab.apply_ok(&first);
    let args = lab.apply_args(&second, &lab.name, &[]);
    let traced = crate::netns::run(
        std::process::Command::new(crate::netns::sockc_bin())
            .args(&args)
            .env("SOCKC_FAULT_TRACE", "1"),
    )
    .ok();
    let point = traced
        .stderr
        .lines()
        .find(|l| l.starts_with("fault point ") && l.contains("/g2/map_"))
        .and_then(|l| l.strip_prefix("fault point ")?.split(':').next())
        .unwrap_or_else(|| panic!("no pin into g2: {traced}"))
        .to_string();
    (lab, first, second, point)
}

/// `first` installed fresh, `second`'s apply killed at `point` (while it pins into
/// `g2`), and a tmpfs mounted over `g2`: what recovery cannot remove when it undoes
/// the apply.
fn interrupted_beside_a_mount(
    lab: &Lab,
    (first, second): (&std::path::Path, &std::path::Path),
    point: &str,
) -> Busy {
    sockc(&["flush", "--name", &lab.name]).ok();
    lab.apply_ok(first);
    let args = lab.apply_args(second, &lab.name, &[]);
    let killed = crate::netns::run(
        std::process::Command::new(crate::netns::sockc_bin())
            .args(&args)
            .env("SOCKC_FAULT_KILL_AT", point),
    );
    assert!(
        killed.stderr.contains("fault injection: killed"),
        "{killed}"
    );
    Busy::over(lab.pin_dir().join("g2"))
}

/// A leftover met while recovery undoes an interrupted apply (a mount over the new
/// generation's directory: it cannot be removed) no longer stops every command:
/// `status`, the first command after the kill, rolls the apply back, says the
/// leftover and shows the install (exit 0); an apply that is the first command after
/// the kill rolls it back too and then stops beside it, naming it, rather than pin
/// its own generation into it; once it can go, the next apply removes it and installs.
#[test]
fn a_leftover_met_while_undoing_an_interrupted_apply_stops_only_changes() {
    if !common::kernel() {
        return;
    }
    let (lab, first, second, point) = reload_lab("inpgcjr");
    let _interrupted = common::exclusive::interrupted_install();
    let undone = "rolled back an interrupted apply of generation 2";

    let busy = interrupted_beside_a_mount(&lab, (&first, &second), &point);
    let status = sockc(&["status", "--name", &lab.name]).ok();
    assert!(status.stderr.contains(undone), "{status}");
    names_the_leftover(&status, busy.path());
    assert!(status.stdout.contains("generation 1"), "{status}");
    lab.expect_verdicts("rolled back", &[(9001, false), (9002, true)]);
    drop(busy);

    let busy = interrupted_beside_a_mount(&lab, (&first, &second), &point);
    let refused = lab.apply(&second, &[]).expect_code(3);
    assert!(refused.stderr.contains(undone), "{refused}");
    names_the_leftover(&refused, busy.path());
    lab.expect_verdicts("refused", &[(9001, false), (9002, true)]);
    busy.untouched();
    drop(busy);
    let applied = lab.apply_ok(&second);
    assert!(
        applied
            .stderr
            .contains("removed leftovers of an interrupted command: g2"),
        "{applied}"
    );
    lab.expect_verdicts("applied", &[(9001, false), (9002, false)]);
}
