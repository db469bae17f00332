//! Large sets through the whole `sockc apply` process: a set file of N addresses
//! applied into a namespace, then one element added and removed by re-applying the
//! file, each run's wall time and peak RSS printed beside the same run's baseline (the
//! same rule file with a one-element set), so the figures read as ratios on any
//! machine. N is 20,000 by default (a check that large updates are exact, quick enough
//! for the suite); `SOCKC_SET_SCALE=1000000` gives the figures of the benchmark.
//! Nothing here asserts a time: the assertions are about what is in the map.

use crate::common;
use crate::netns;

use std::{
    fmt::Write as _,
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use netns::{sockc, sockc_bin, Lab};

/// One whole-process run: wall time and peak resident set (from `wait4`).
struct Figure {
    wall: Duration,
    max_rss_kb: i64,
}

/// Runs `sockc ARGS` and measures it; panics with its stderr unless it exits 0.
fn measured(args: &[&str]) -> Figure {
    let err = tempfile_path("stderr");
    let start = Instant::now();
    // Reaped below by `wait4`, which also gives this child's own peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(sockc_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("sockc runs");
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid is live until reaped here.
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, child.id() as i32, "wait4");
    let code = std::process::ExitStatus::from_raw(status).code();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(code, Some(0), "sockc {args:?}: {stderr}");
    Figure {
        wall,
        max_rss_kb: usage.ru_maxrss,
    }
}

fn tempfile_path(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sockc-setscale-{}-{what}", std::process::id()))
}

/// N distinct /32s spread over 10.0.0.0/8, one a line.
fn set_file(path: &Path, n: u32, extra: Option<&str>) {
    let mut text = String::with_capacity(n as usize * 14);
    for i in 0..n {
        let a = (10u32 << 24) | (i.wrapping_mul(7919) % (1 << 24));
        let o = a.to_be_bytes();
        let _ = writeln!(text, "{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
    }
    if let Some(extra) = extra {
        let _ = writeln!(text, "{extra}");
    }
    std::fs::write(path, text).expect("set file");
}

/// `status --deep` of the install must show no drift: the maps hold what the
/// manifest says, entry by entry.
fn no_deep_drift(lab: &Lab) {
    let run = sockc(&["status", "--deep", "--name", &lab.name]);
    assert!(
        !run.stdout.contains("set map"),
        "drift after the update: {}",
        run.stdout
    );
}

fn line(what: &str, f: &Figure, base: &Figure) {
    println!(
        "{what:<34} {:>9.3} s {:>9} KB   {:>7.2}x time {:>6.2}x RSS of the baseline",
        f.wall.as_secs_f64(),
        f.max_rss_kb,
        f.wall.as_secs_f64() / base.wall.as_secs_f64(),
        f.max_rss_kb as f64 / base.max_rss_kb as f64
    );
}

#[test]
fn large_set_apply_and_one_element_updates() {
    if !common::kernel() {
        return;
    }
    let n: u32 = std::env::var("SOCKC_SET_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let lab = Lab::new("setscale", 231);
    let rules = lab.rules(
        "big.sk",
        &format!(
            "set big = file \"big.txt\"\nxdp on {} {{\n  drop from @big\n  default allow\n}}\n",
            lab.if_a
        ),
    );
    let file = rules.to_str().unwrap();
    let set = lab.dir.join("big.txt");
    let apply = ["apply", file, "--name", &lab.name, "--netns", &lab.ns_a];
    let apply = apply.as_slice();

    // The baseline: the same rule file with a one-element set, applied and flushed.
    set_file(&set, 1, None);
    let base = measured(apply);
    sockc(&["flush", "--name", &lab.name]).ok();

    set_file(&set, n, None);
    let full = measured(apply);
    set_file(&set, n, Some("192.0.2.77"));
    let add = measured(apply);
    no_deep_drift(&lab);
    set_file(&set, n, None);
    let remove = measured(apply);
    no_deep_drift(&lab);
    let same = measured(apply);

    println!("set of {n} elements (baseline: the same file with a 1-element set)");
    line("baseline apply (1 element)", &base, &base);
    line(&format!("apply of {n} elements"), &full, &base);
    line("one element added", &add, &base);
    line("one element removed", &remove, &base);
    line("re-apply, nothing changed", &same, &base);
    println!(
        "one element added: {:.1}% of the full apply's time",
        100.0 * add.wall.as_secs_f64() / full.wall.as_secs_f64()
    );
}
