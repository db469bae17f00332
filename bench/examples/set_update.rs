//! The set-update row of the benchmark: whole-process `sockc apply` of an XDP rule
//! file whose set holds N addresses (1,000,000 by default), then one element added,
//! one removed, and the same file again, each run's wall time and peak RSS (from
//! `wait4`). With `--before BIN` a second sockc (the baseline build) runs the same
//! steps in the same rounds, interleaved, so both columns see the same machine state.
//! The CPU time (user + system, from the same `wait4`) is printed next to the wall
//! time: on a shared machine it is the steadier of the two.
//! Targets (issue 31): one element added or removed in ≤ 100 ms, the full apply in
//! ≤ 2 s and ≤ 300 MB. Root only: it makes a namespace with a veth pair, installs
//! there, and flushes and removes both at the end.
//!
//! `cargo run --release -p sockc-bench --example set_update -- --sockc BIN
//! [--before BIN] [--elements N] [--rounds R]`

use std::{
    fmt::Write as _,
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

const NS: &str = "sockc-setbench";
const STEPS: [&str; 4] = [
    "full apply",
    "one element added",
    "one element removed",
    "same file again",
];

/// Wall seconds, CPU seconds (user + system) and peak RSS (KB) of one whole-process
/// run.
type Figure = (f64, f64, i64);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let after = PathBuf::from(opt("--sockc").unwrap_or_else(|| "target/release/sockc".into()));
    let before = opt("--before").map(PathBuf::from);
    let n: u32 = opt("--elements").map_or(1_000_000, |v| v.parse().expect("--elements N"));
    let rounds: usize = opt("--rounds").map_or(3, |v| v.parse().expect("--rounds R"));

    let dir = std::env::temp_dir().join(format!("sockc-setbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("work directory");
    let (base, plus) = (set_text(n, ""), set_text(n, "192.0.2.77\n"));
    let rules = dir.join("big.sk");
    std::fs::write(
        &rules,
        "set big = file \"cur.txt\"\nxdp on sbench0 {\n  drop from @big\n  default allow\n}\n",
    )
    .expect("rule file");
    namespace(true);
    let mut bins = vec![("after", after)];
    bins.extend(before.map(|b| ("before", b)));
    let _cleanup = Cleanup {
        bins: bins.iter().map(|(_, b)| b.clone()).collect(),
        dir: dir.clone(),
    };
    // figures[bin][step] over the rounds.
    let mut figures = vec![vec![Vec::new(); STEPS.len()]; bins.len()];
    for _ in 0..rounds {
        for (b, (_, bin)) in bins.iter().enumerate() {
            let install = format!("setbench-{b}");
            let apply = |text: &str| {
                std::fs::write(dir.join("cur.txt"), text).expect("set file");
                measured(
                    bin,
                    &[
                        "apply",
                        rules.to_str().unwrap(),
                        "--name",
                        &install,
                        "--netns",
                        NS,
                    ],
                )
            };
            let runs = [apply(&base), apply(&plus), apply(&base), apply(&base)];
            for (step, f) in runs.into_iter().enumerate() {
                figures[b][step].push(f);
            }
            flush(bin, b);
        }
    }
    println!("{}", table(n, rounds, &bins, &figures));
}

/// Takes off what the bench made when it ends, also when a run fails (a panic): each
/// sockc's install, the namespace with its veths, the work directory.
struct Cleanup {
    bins: Vec<PathBuf>,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (b, bin) in self.bins.iter().enumerate() {
            flush(bin, b);
        }
        namespace(false);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Flushes the install the `b`th sockc made (nothing there is fine).
fn flush(bin: &Path, b: usize) {
    let _ = Command::new(bin)
        .args(["flush", "--name", &format!("setbench-{b}")])
        .output();
}

/// N distinct /32s spread over 10.0.0.0/8, one a line (as tests/e2e/set_scale.rs writes them).
fn set_text(n: u32, extra: &str) -> String {
    let mut text = String::with_capacity(n as usize * 14);
    for i in 0..n {
        let a = (10u32 << 24) | (i.wrapping_mul(7919) % (1 << 24));
        let o = a.to_be_bytes();
        let _ = writeln!(text, "{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
    }
    text + extra
}

/// The namespace and its veth pair made (`up`) or removed.
fn namespace(up: bool) {
    let ip = |args: &[&str]| {
        let _ = Command::new("ip").args(args).stderr(Stdio::null()).status();
    };
    ip(&["netns", "del", NS]);
    if up {
        ip(&["netns", "add", NS]);
        ip(&[
            "-n", NS, "link", "add", "sbench0", "type", "veth", "peer", "name", "sbench1",
        ]);
        ip(&["-n", NS, "link", "set", "sbench0", "up"]);
    }
}

/// Runs `bin ARGS` and measures it; panics with its stderr unless it exits 0.
fn measured(bin: &Path, args: &[&str]) -> Figure {
    let start = Instant::now();
    // Reaped below by `wait4`, which also gives this child's own peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockc runs");
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid is live until reaped here.
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(rc, child.id() as i32, "wait4");
    if std::process::ExitStatus::from_raw(status).code() != Some(0) {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        panic!("{} {args:?}: {err}", bin.display());
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    (wall, cpu, usage.ru_maxrss)
}

/// The Markdown table: per step and sockc, the median and range of the rounds.
fn table(n: u32, rounds: usize, bins: &[(&str, PathBuf)], figures: &[Vec<Vec<Figure>>]) -> String {
    let mut out = format!(
        "set update, {n} elements, {rounds} rounds interleaved (median [min–max])\n\n\
         | step | sockc | wall ms | CPU ms | peak RSS MB |\n|---|---|---|---|---|\n"
    );
    for (step, what) in STEPS.iter().enumerate() {
        for (b, (label, _)) in bins.iter().enumerate() {
            let runs = &figures[b][step];
            let ms: Vec<f64> = runs.iter().map(|f| f.0 * 1e3).collect();
            let cpu: Vec<f64> = runs.iter().map(|f| f.1 * 1e3).collect();
            let mb: Vec<f64> = runs.iter().map(|f| f.2 as f64 / 1024.0).collect();
            let _ = writeln!(
                out,
                "| {what} | {label} | {} | {} | {} |",
                summary(&ms),
                summary(&cpu),
                summary(&mb)
            );
        }
    }
    out
}

fn summary(values: &[f64]) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    format!("{:.0} [{:.0}–{:.0}]", v[v.len() / 2], v[0], v[v.len() - 1])
}
