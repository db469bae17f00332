//! `sockc show` and `sockc diff --installed` against real installs (root; skipped
//! otherwise unless `SOCKC_KERNEL_TESTS=require`).
//!
//! The round trip: every file of the example and kernel corpus (`rules/examples`,
//! `rules/kernel`) and the set-file example (`rules/sets/sets.sk`) is applied into a
//! network namespace of the test's own, then `sockc show NAME > f.sk && sockc diff f.sk
//! ORIGINAL.sk` must say that no packet changes its verdict, `diff --installed NAME
//! ORIGINAL.sk` must agree, and `show` must find the kernel running what the text
//! compiles to. A manifest whose recorded text is not what was loaded, and a hook that
//! lost its program, must be reported as mismatches (exit 3).

use crate::common;
use crate::netns;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
    time::Duration,
};

use common::exclusive::open_store;
use netns::{run, sockc, Cgroup, Run, BPFFS};
use serde_json::Value;
use sockc_runtime::store::LockWait;

/// A network namespace with an `eth0` (one end of a veth pair) and `lo` up, the
/// installs made in it and a directory for files; all removed when dropped.
struct Place {
    ns: String,
    dir: PathBuf,
    installs: Mutex<Vec<String>>,
}

impl Place {
    fn new(tag: &str) -> Place {
        let pid = std::process::id();
        let place = Place {
            ns: format!("sockc-{tag}-{pid}"),
            dir: std::env::temp_dir().join(format!("sockc-{tag}-{pid}")),
            installs: Mutex::new(Vec::new()),
        };
        let _ = run(Command::new("ip").args(["netns", "del", &place.ns]));
        netns::ip(&["netns", "add", &place.ns]).ok();
        let ns = place.ns.as_str();
        for args in [
            &[
                "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
            ][..],
            &["-n", ns, "link", "set", "eth0", "up"],
            &["-n", ns, "link", "set", "eth0p", "up"],
            &["-n", ns, "link", "set", "lo", "up"],
        ] {
            netns::ip(args).ok();
        }
        let _ = std::fs::remove_dir_all(&place.dir);
        std::fs::create_dir_all(&place.dir).expect("test directory");
        place
    }

    /// `sockc apply FILE --name NAME --netns NS`, which must succeed.
    fn apply(&self, file: &Path, name: &str) {
        self.installs.lock().unwrap().push(name.to_string());
        let file = file.to_str().expect("UTF-8 path");
        sockc(&[
            "-q", "apply", file, "--name", name, "--netns", &self.ns, "--bpffs", BPFFS,
        ])
        .ok();
    }

    /// `sockc flush --name NAME`, which must succeed.
    fn flush(&self, name: &str) {
        sockc(&["-q", "flush", "--name", name, "--bpffs", BPFFS]).ok();
        self.installs.lock().unwrap().retain(|n| n != name);
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        for name in self.installs.lock().map(|v| v.clone()).unwrap_or_default() {
            let _ = sockc(&["flush", "--name", &name, "--bpffs", BPFFS]);
        }
        let _ = run(Command::new("ip").args(["netns", "del", &self.ns]));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn show(name: &str, extra: &[&str]) -> Run {
    let mut args = vec!["show", name, "--bpffs", BPFFS];
    args.extend_from_slice(extra);
    sockc(&args)
}

/// The round-trip corpus: the example and kernel rule files and the set-file
/// example, with the sockmap example's cgroup replaced by `cgroup` (it must exist).
fn corpus(place: &Place, cgroup: &str) -> Vec<PathBuf> {
    let root = common::root().join("rules");
    let mut files: Vec<PathBuf> = common::rule_files()
        .into_iter()
        .filter(|p| p.starts_with(root.join("examples")) || p.starts_with(root.join("kernel")))
        .collect();
    files.push(root.join("sets/sets.sk"));
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read rule file");
            if text.contains("/sys/fs/cgroup/app") {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                place.file(
                    &format!("{stem}.sk"),
                    &text.replace("/sys/fs/cgroup/app", cgroup),
                )
            } else {
                p
            }
        })
        .collect()
}

#[test]
fn show_round_trips_the_example_and_kernel_corpus() {
    if !common::kernel() {
        return;
    }
    let cgroup = Cgroup::new("show");
    let place = Place::new("show");
    let files = corpus(&place, &cgroup.path);
    assert_eq!(
        files.len(),
        10,
        "4 examples, 5 kernel files (cgroup.sk's blocks on the test's cgroup), the set-file example"
    );
    for (i, original) in files.iter().enumerate() {
        let name = format!("show-{}-{i}", std::process::id());
        place.apply(original, &name);
        let shown = show(&name, &[]);
        assert_eq!(shown.code, 0, "{}: {shown}", original.display());
        assert!(
            shown
                .stdout
                .contains("# the kernel runs what these rules compile to"),
            "{shown}"
        );
        let f = place.file(&format!("{name}.sk"), &shown.stdout);
        let (f, original) = (f.to_str().unwrap(), original.to_str().unwrap());
        let diff = sockc(&["diff", f, original]);
        assert_eq!(diff.code, 0, "{original}: {diff}");
        assert!(
            diff.stdout.starts_with("no packet changes its verdict"),
            "{diff}"
        );
        let live = sockc(&["diff", "--installed", &name, original, "--bpffs", BPFFS]);
        assert_eq!(live.code, 0, "{original}: {live}");
        assert!(
            live.stdout.starts_with("no packet changes its verdict"),
            "{live}"
        );
        // The files share hooks: the next one is installed alone.
        place.flush(&name);
    }
}

#[test]
fn show_reports_what_the_kernel_runs_when_it_is_not_the_recorded_rules() {
    if !common::kernel() {
        return;
    }
    let place = Place::new("showbad");
    let name = format!("showbad-{}", std::process::id());
    let a = place.file(
        "a.sk",
        "xdp on eth0 {\n  drop udp to *:53\n  default allow\n}\n",
    );
    place.apply(&a, &name);

    // With --stats, every rule line carries its counters and the text still compiles
    // to the install.
    let schemas = common::schema::Schemas::load();
    let good = show(&name, &["--json", "--stats"]).ok();
    let v: Value = serde_json::from_str(&good.stdout).expect("JSON");
    schemas.validate("show", &v);
    assert_eq!(v["same"], true, "{v}");
    assert_eq!(v["rules"][0]["text"], "drop udp to *:53", "{v}");
    let stats = show(&name, &["--stats"]).ok();
    assert!(
        stats
            .stdout
            .contains("  drop udp to *:53  # 0 packets, 0 bytes\n"),
        "{stats}"
    );
    let f = place.file("stats.sk", &stats.stdout);
    sockc(&["diff", f.to_str().unwrap(), a.to_str().unwrap()]).ok();

    // A file that changes verdicts, compared with the install.
    let b = place.file(
        "b.sk",
        "xdp on eth0 {\n  drop udp to *:54\n  default allow\n}\n",
    );
    let live = sockc(&[
        "diff",
        "--installed",
        &name,
        b.to_str().unwrap(),
        "--bpffs",
        BPFFS,
    ]);
    assert_eq!(live.code, 4, "{live}");
    assert!(live.stdout.contains("installed "), "{live}");

    // The manifest's text no longer compiles to the loaded program.
    // One store open at a time in this process (it sets the umask).
    let store =
        open_store(Path::new(BPFFS), Duration::from_secs(60), LockWait::Quiet).expect("store");
    let mut m = store.manifest(&name).expect("read").expect("installed");
    m.source_text = Some(std::sync::Arc::new(std::fs::read_to_string(&b).unwrap()));
    store.write_manifest(&mut m).expect("write manifest");
    drop(store);
    let bad = show(&name, &[]).expect_code(3);
    assert!(
        bad.stdout
            .contains("# MISMATCH: xdp on eth0 (xdp_eth0): the kernel runs tag "),
        "{bad}"
    );
    assert!(bad.stdout.contains("drop udp to *:54"), "{bad}");
    assert!(bad.stderr.contains("does not run what"), "{bad}");
    let j = show(&name, &["--json"]).expect_code(3);
    let v: Value = serde_json::from_str(&j.stdout).expect("JSON");
    schemas.validate("show", &v);
    assert_eq!(v["same"], false);
    let p = &v["programs"][0];
    assert_ne!(p["kernel_tag"], p["compiled_tag"], "{v}");

    // A hook that lost its program is a mismatch too.
    m.source_text = Some(std::sync::Arc::new(std::fs::read_to_string(&a).unwrap()));
    // One store open at a time in this process (it sets the umask).
    let store =
        open_store(Path::new(BPFFS), Duration::from_secs(60), LockWait::Quiet).expect("store");
    store.write_manifest(&mut m).expect("write manifest");
    drop(store);
    show(&name, &[]).ok();
    std::fs::remove_file(format!("{BPFFS}/sockc/{name}/link_xdp_eth0")).expect("unpin link");
    let gone = show(&name, &[]).expect_code(3);
    assert!(
        gone.stdout
            .contains("# MISMATCH: xdp on eth0: link missing"),
        "{gone}"
    );
}
