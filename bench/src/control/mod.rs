//! `sockc bench --control`: the control plane's speed and memory (issue 50), every
//! figure a ratio against a baseline measured in the same rounds. Per ClassBench size
//! ([`files`]): sockc's first apply, its re-apply with one rule added, `apply
//! --dry-run` and `diff` of a change of two rules, against `iptables-legacy-restore` of
//! the same rules and the same change (a restore into a namespace that holds the old
//! rules); the in-process compile; the peak resident sets; process start against
//! `/bin/true`; and one address added to and removed from an N-element set against the
//! whole set's apply. Each is a whole process ([`process`]), timed from spawn to exit;
//! the table gives medians over the rounds, and [`figures`] writes them as JSON and
//! compares them with a committed baseline (the regression guard).
//!
//! Invariant: the steps of every size run once per round (a re-apply below [`LARGE`]
//! rules and the set's one-address updates [`SMALL_SAMPLES`] times, sockc's first
//! apply and re-apply of a large size [`LARGE_SOCKC_SAMPLES`] times), each back to back
//! with its baseline, so a slow spell of the shared machine moves both; every
//! namespace and install the run makes is removed before [`run`] returns, also when a
//! step fails.

pub mod figures;
mod files;
mod process;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use figures::{Document, Figure, Goal};
use process::{peak_rss_mib, timed, Measured, Step};

use crate::{
    measure,
    peer::{link, workload::Scratch},
};

/// What `--control` runs.
pub struct ControlOptions {
    pub classbench: PathBuf,
    pub set: String,
    pub sizes: Vec<usize>,
    pub rounds: usize,
    /// Elements of the set benchmark's set; 0: no set rows.
    pub set_elements: u32,
    /// The sockc binary timed.
    pub sockc: PathBuf,
}

/// A bpffs of the run's own, mounted in the scratch directory and unmounted when
/// dropped: the store's lock is a flock on `<bpffs>/sockc`, which every install and
/// test on the host's `/sys/fs/bpf` takes, so a shared one would time their waits.
/// (`--cgroup` mounts one too.)
pub(crate) struct Bpffs(pub(crate) PathBuf);

impl Bpffs {
    pub(crate) fn mount(dir: PathBuf) -> Result<Bpffs, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t bpf {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Bpffs(dir))
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

/// A sockc install on the run's bpffs, flushed when dropped (before its namespace
/// goes).
struct Install<'a> {
    sockc: &'a Path,
    bpffs: &'a Path,
    name: String,
}

impl<'a> Install<'a> {
    fn new(sockc: &'a Path, bpffs: &'a Path) -> Install<'a> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Install {
            sockc,
            bpffs,
            name: format!("ctlbench-{}-{n}", std::process::id()),
        }
    }

    /// `sockc apply FILE --name NAME --bpffs DIR --netns NS` and more arguments.
    fn apply(&self, file: &Path, ns: &str, more: &[&str]) -> Step {
        let mut s = Step::new(
            self.sockc,
            &[
                &"apply",
                &file,
                &"--name",
                &self.name,
                &"--bpffs",
                &self.bpffs,
                &"--netns",
                &ns,
            ],
        );
        s.args.extend(more.iter().map(Into::into));
        s
    }

    /// `sockc flush --name NAME --bpffs DIR`: the install removed (also when dropped).
    fn flush(&self) -> Step {
        Step::new(
            self.sockc,
            &[&"flush", &"--name", &self.name, &"--bpffs", &self.bpffs],
        )
    }
}

impl Drop for Install<'_> {
    fn drop(&mut self) {
        let _ = timed(&self.flush());
    }
}

/// One figure's measurements over the rounds, ms: wall and CPU time.
#[derive(Default)]
struct Runs {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Runs {
    fn push(&mut self, m: Measured) {
        self.wall.push(ms(m.wall));
        self.cpu.push(ms(m.cpu));
    }

    /// One value that is both (a peak RSS, an in-process time).
    fn one(v: f64) -> Runs {
        Runs {
            wall: vec![v],
            cpu: vec![v],
        }
    }
}

/// Every measurement of one size, one entry per round.
#[derive(Default)]
struct SizeRuns {
    first: Runs,
    dry_run: Runs,
    reapply: Runs,
    ipt_first: Runs,
    ipt_reapply: Runs,
    diff: Runs,
    diff_unrelated: Runs,
    compile: Runs,
    rss: Option<Rss>,
}

/// Peak resident sets of one size, MiB.
struct Rss {
    apply: f64,
    dry_run: f64,
    diff: f64,
    diff_unrelated: f64,
    ipt: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One round of one size: sockc's first apply, dry run and re-apply in one
/// namespace, iptables-legacy-restore's first load and re-load in another, each step
/// beside its baseline, then the diff.
fn round(
    o: &ControlOptions,
    bpffs: &Path,
    f: &files::SizeFiles,
    runs: &mut SizeRuns,
) -> Result<(), String> {
    let ns = link::bare_namespace()?;
    let ipt_ns = link::bare_namespace()?;
    // Flushed before the namespaces go (declared after them).
    let install = Install::new(&o.sockc, bpffs);
    let restore = |file: &Path| {
        Step::new("iptables-legacy-restore", &[&"-w", &"60", &file]).inside(&ipt_ns.0)
    };
    let samples = Samples::of(f);
    for sample in 0..samples.first {
        if sample > 0 {
            // Flushed, untimed, so that every sample is a first install.
            timed(&install.flush())?;
        }
        runs.first.push(timed(&install.apply(&f.sk, &ns.0, &[]))?);
    }
    runs.ipt_first.push(timed(&restore(&f.ipt))?);
    let dry = install.apply(&f.sk_flipped, &ns.0, &["--dry-run"]);
    runs.dry_run.push(timed(&dry)?);
    for sample in 0..samples.reapply {
        let beside_baseline = sample < samples.reapply_baseline;
        if sample > 0 {
            // Back to the old rules, untimed, so that every sample is the same change.
            timed(&install.apply(&f.sk, &ns.0, &[]))?;
            if beside_baseline {
                timed(&restore(&f.ipt))?;
            }
        }
        runs.reapply
            .push(timed(&install.apply(&f.sk_added, &ns.0, &[]))?);
        if beside_baseline {
            runs.ipt_reapply.push(timed(&restore(&f.ipt_added))?);
        }
    }
    drop(install);
    runs.diff.push(timed(&diff_step(o, f, &f.sk_flipped))?);
    let unrelated = diff_step(o, f, &f.sk_unrelated);
    runs.diff_unrelated.push(timed(&unrelated)?);
    Ok(())
}

/// Samples per round of a size's first apply and re-apply, and of the re-apply's
/// baseline (each back to back with a sample of the re-apply): several where a step
/// takes a few milliseconds, or (sockc's, at a [`LARGE`] size) about a hundred, so
/// that a single busy spell of a shared machine would decide a lone sample; one where
/// it takes a few hundred (`iptables-legacy-restore` at a large size).
struct Samples {
    first: usize,
    reapply: usize,
    reapply_baseline: usize,
}

impl Samples {
    fn of(f: &files::SizeFiles) -> Samples {
        match f.rules >= LARGE {
            true => Samples {
                first: LARGE_SOCKC_SAMPLES,
                reapply: LARGE_SOCKC_SAMPLES,
                reapply_baseline: 1,
            },
            false => Samples {
                first: 1,
                reapply: SMALL_SAMPLES,
                reapply_baseline: SMALL_SAMPLES,
            },
        }
    }
}

/// Rules from which a size is large: its steps take hundreds of milliseconds, and the
/// goals of 100k rules are its (a smaller one's only ratios, and 10k's memory).
const LARGE: usize = 50_000;

/// Samples per round of a step that takes milliseconds: a small size's re-apply and
/// its baseline, and the set's one-address update.
const SMALL_SAMPLES: usize = 5;

/// Samples per round of sockc's first apply and re-apply of a [`LARGE`] size: each
/// takes about a hundred milliseconds at 100,000 rules, and one per round let a busy
/// spell of tens decide the ratio of the two (0.83–1.11 over six runs of one build).
const LARGE_SOCKC_SAMPLES: usize = 3;

/// `sockc diff` of the size's file and `new`.
fn diff_step(o: &ControlOptions, f: &files::SizeFiles, new: &Path) -> Step {
    Step::new(&o.sockc, &[&"diff", &f.sk, &new]).ok_codes(&[0, 4])
}

/// The peak resident sets of one size, each in a run of its own.
fn rss(o: &ControlOptions, bpffs: &Path, f: &files::SizeFiles) -> Result<Rss, String> {
    let ns = link::bare_namespace()?;
    let install = Install::new(&o.sockc, bpffs);
    let apply = peak_rss_mib(&install.apply(&f.sk, &ns.0, &[]))?;
    let dry_run = peak_rss_mib(&install.apply(&f.sk_flipped, &ns.0, &["--dry-run"]))?;
    let ns2 = link::bare_namespace()?;
    let ipt = peak_rss_mib(
        &Step::new("iptables-legacy-restore", &[&"-w", &"60", &f.ipt]).inside(&ns2.0),
    )?;
    Ok(Rss {
        apply,
        dry_run,
        diff: peak_rss_mib(&diff_step(o, f, &f.sk_flipped))?,
        diff_unrelated: peak_rss_mib(&diff_step(o, f, &f.sk_unrelated))?,
        ipt,
    })
}

/// The in-process compile of the size's rule file as `apply` compiles it (`-O2`, no
/// lints): its wall time, and the CPU time of the whole process, so that work the
/// compile hands to other threads is counted (the bench runs nothing else then).
fn compile_once(f: &files::SizeFiles) -> Result<Measured, String> {
    let src = std::fs::read_to_string(&f.sk).map_err(|e| format!("{}: {e}", f.sk.display()))?;
    let (start, cpu) = (Instant::now(), process_cpu());
    let compiled = measure::compile_as_apply(&src)?;
    let m = Measured {
        wall: start.elapsed(),
        cpu: process_cpu().saturating_sub(cpu),
    };
    drop(compiled);
    Ok(m)
}

/// This process's CPU time so far, all its threads.
fn process_cpu() -> Duration {
    // SAFETY: a zeroed timespec is valid; clock_gettime fills it.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The set rows' measurements: whole apply, one added, one removed, and the whole
/// apply's peak RSS.
#[derive(Default)]
struct SetRuns {
    full: Runs,
    added: Runs,
    removed: Runs,
    rss: Option<f64>,
}

fn set_round(
    o: &ControlOptions,
    bpffs: &Path,
    s: &files::SetFiles,
    runs: &mut SetRuns,
) -> Result<(), String> {
    let ns = link::bare_namespace()?;
    let write = |text: &str| {
        std::fs::write(&s.current, text).map_err(|e| format!("{}: {e}", s.current.display()))
    };
    let install = Install::new(&o.sockc, bpffs);
    write(&s.base)?;
    if runs.rss.is_none() {
        let fresh = Install::new(&o.sockc, bpffs);
        runs.rss = Some(peak_rss_mib(&fresh.apply(&s.rules, &ns.0, &[]))?);
    }
    runs.full.push(timed(&install.apply(&s.rules, &ns.0, &[]))?);
    for _ in 0..SMALL_SAMPLES {
        write(&s.plus_one)?;
        runs.added
            .push(timed(&install.apply(&s.rules, &ns.0, &[]))?);
        write(&s.base)?;
        runs.removed
            .push(timed(&install.apply(&s.rules, &ns.0, &[]))?);
    }
    Ok(())
}

/// Runs the table; returns its Markdown and the document.
pub fn run(o: &ControlOptions) -> Result<(String, Document), String> {
    let load_before = load_average();
    let scratch = Scratch::new()?;
    // Unmounted before the scratch directory goes (declared after it).
    let bpffs = Bpffs::mount(scratch.0.join("bpffs"))?;
    let sizes: Vec<files::SizeFiles> = o
        .sizes
        .iter()
        .map(|&n| files::write_size(&o.classbench, &o.set, n, &scratch.0))
        .collect::<Result<_, _>>()?;
    let set = (o.set_elements > 0)
        .then(|| files::write_set(o.set_elements, &scratch.0))
        .transpose()?;
    let mut runs: Vec<SizeRuns> = sizes.iter().map(|_| SizeRuns::default()).collect();
    let mut set_runs = SetRuns::default();
    let (mut start, mut truth) = (Runs::default(), Runs::default());
    for r in 0..o.rounds {
        for (f, runs) in sizes.iter().zip(&mut runs) {
            eprintln!("control: round {} {}", r + 1, f.name);
            if runs.rss.is_none() {
                runs.rss = Some(rss(o, &bpffs.0, f)?);
            }
            round(o, &bpffs.0, f, runs)?;
            runs.compile.push(compile_once(f)?);
        }
        if let Some(s) = &set {
            eprintln!(
                "control: round {} set of {} elements",
                r + 1,
                o.set_elements
            );
            set_round(o, &bpffs.0, s, &mut set_runs)?;
        }
        let (sockc, t) = startup(&o.sockc)?;
        start.push(sockc);
        truth.push(t);
    }
    let mut figs = Vec::new();
    for (f, runs) in sizes.iter().zip(&runs) {
        size_figures(f, runs, &mut figs);
    }
    if let Some(largest) = sizes.iter().zip(&runs).next_back() {
        set_figures(o.set_elements, &set_runs, largest, &mut figs);
    }
    figs.push(figure(
        "start",
        "process start: `sockc --version`, fastest of 5 per round",
        &start,
        "`/bin/true`, fastest of 5 per round",
        &truth,
        None,
    ));
    let doc = Document {
        profile: figures::profile(),
        rounds: o.rounds,
        load_before,
        load_after: load_average(),
        machine: machine(),
        sockc: o.sockc.display().to_string(),
        figures: figs,
    };
    Ok((markdown(&doc), doc))
}

/// The fastest of a few starts of `sockc --version` and of `/bin/true`, taken in
/// turn, ms: a start takes a few ms, and one spell of the shared machine would
/// decide a single one.
fn startup(sockc: &Path) -> Result<(Measured, Measured), String> {
    let fastest = |a: Option<Measured>, b: Measured| match a {
        Some(a) if a.wall <= b.wall => a,
        _ => b,
    };
    let (mut s, mut t) = (None, None);
    for _ in 0..STARTS {
        s = Some(fastest(s, timed(&Step::new(sockc, &[&"--version"]))?));
        t = Some(fastest(t, timed(&Step::new("/bin/true", &[]))?));
    }
    Ok((s.expect("STARTS > 0"), t.expect("STARTS > 0")))
}

const STARTS: usize = 5;

fn figure(
    key: &str,
    what: &str,
    values: &Runs,
    baseline: &str,
    baseline_values: &Runs,
    goal: Option<Goal>,
) -> Figure {
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    Figure {
        key: key.into(),
        what: what.into(),
        unit: "ms",
        value: median(&values.wall),
        baseline: baseline.into(),
        baseline_value: median(&baseline_values.wall),
        cpu_ratio: best(&values.cpu) / best(&baseline_values.cpu),
        goal,
    }
}

fn size_figures(f: &files::SizeFiles, r: &SizeRuns, out: &mut Vec<Figure>) {
    let n = &f.name;
    let big = f.rules >= LARGE;
    let ipt_first = &r.ipt_first;
    let first_ipt = "iptables-legacy-restore, first load";
    let at_most = |max: f64| big.then_some(Goal::AtMost(max));
    out.push(figure(
        &format!("first_apply/{n}"),
        "sockc apply, first install",
        &r.first,
        first_ipt,
        ipt_first,
        at_most(200.0),
    ));
    out.push(figure(
        &format!("reapply/{n}"),
        "sockc apply, one rule added",
        &r.reapply,
        "iptables-legacy-restore of the same change",
        &r.ipt_reapply,
        (!big).then_some(Goal::RatioAtMost(1.0)),
    ));
    out.push(figure(
        &format!("reapply_vs_first/{n}"),
        "sockc apply, one rule added",
        &r.reapply,
        "sockc apply, first install",
        &r.first,
        Some(Goal::RatioAtMost(1.0)),
    ));
    out.push(figure(
        &format!("dry_run/{n}"),
        "sockc apply --dry-run, two verdicts changed",
        &r.dry_run,
        first_ipt,
        ipt_first,
        at_most(1000.0),
    ));
    out.push(figure(
        &format!("diff/{n}"),
        "sockc diff, two verdicts changed",
        &r.diff,
        first_ipt,
        ipt_first,
        at_most(1000.0),
    ));
    out.push(figure(
        &format!("diff_unrelated/{n}"),
        "sockc diff of another ClassBench set of the size",
        &r.diff_unrelated,
        first_ipt,
        ipt_first,
        None,
    ));
    out.push(figure(
        &format!("compile/{n}"),
        "compile in process as apply (-O2, no lints)",
        &r.compile,
        first_ipt,
        ipt_first,
        at_most(100.0),
    ));
    if let Some(rss) = &r.rss {
        let ipt = "iptables-legacy-restore's, first load";
        let apply_goal = match f.rules {
            n if n >= LARGE => Some(Goal::AtMost(60.0)),
            n if n >= 5_000 => Some(Goal::AtMost(20.0)),
            _ => None,
        };
        for (key, what, value, goal) in [
            (
                "rss_apply",
                "peak RSS, sockc apply (first)",
                rss.apply,
                apply_goal,
            ),
            (
                "rss_dry_run",
                "peak RSS, sockc apply --dry-run",
                rss.dry_run,
                at_most(200.0),
            ),
            ("rss_diff", "peak RSS, sockc diff", rss.diff, at_most(200.0)),
            (
                "rss_diff_unrelated",
                "peak RSS, sockc diff of another set",
                rss.diff_unrelated,
                at_most(200.0),
            ),
        ] {
            out.push(Figure {
                unit: "MiB",
                ..figure(
                    &format!("{key}/{n}"),
                    what,
                    &Runs::one(value),
                    ipt,
                    &Runs::one(rss.ipt),
                    goal,
                )
            });
        }
    }
}

fn set_figures(
    elements: u32,
    r: &SetRuns,
    (largest, largest_runs): (&files::SizeFiles, &SizeRuns),
    out: &mut Vec<Figure>,
) {
    if r.full.wall.is_empty() {
        return;
    }
    let full = &r.full;
    let yardstick = format!("iptables-legacy-restore of {}, first load", largest.name);
    let big = elements >= 1_000_000;
    out.push(figure(
        &format!("set_full/{elements}"),
        "sockc apply of a set of N addresses, first install",
        full,
        &yardstick,
        &largest_runs.ipt_first,
        big.then_some(Goal::AtMost(1000.0)),
    ));
    for (key, what, runs) in [
        ("set_add", "one address added to the set", &r.added),
        ("set_remove", "one address removed from the set", &r.removed),
    ] {
        out.push(figure(
            &format!("{key}/{elements}"),
            what,
            runs,
            "the whole set's first install",
            full,
            big.then_some(Goal::AtMost(50.0)),
        ));
    }
    if let (Some(rss), Some(ipt)) = (r.rss, largest_runs.rss.as_ref()) {
        out.push(Figure {
            unit: "MiB",
            ..figure(
                &format!("rss_set_full/{elements}"),
                "peak RSS, the set's first install",
                &Runs::one(rss),
                &format!("iptables-legacy-restore's of {}", largest.name),
                &Runs::one(ipt.ipt),
                big.then_some(Goal::AtMost(200.0)),
            )
        });
    }
}

fn median(v: &[f64]) -> f64 {
    measure::median(v.to_vec())
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|w| w.parse().unwrap_or(0.0));
    [0; 3].map(|_| it.next().unwrap_or(0.0))
}

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs, Linux {}", kernel.trim())
}

/// The table: one line per figure.
pub fn markdown(doc: &Document) -> String {
    let [b1, b5, _] = doc.load_before;
    let [a1, a5, _] = doc.load_after;
    let mut out = format!(
        "## The control plane (`sockc bench --control`)\n\n{} build, {}, median of {} \
         round(s); load average {b1:.1}/{b5:.1} (1/5 min) before, {a1:.1}/{a5:.1} after\n\n\
         | figure | value | baseline (same rounds) | baseline value | ratio | CPU ratio | goal | met |\n\
         |---|---:|---|---:|---:|---:|---|---|\n",
        doc.profile, doc.machine, doc.rounds
    );
    for f in &doc.figures {
        let met = match f.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        out.push_str(&format!(
            "| {} ({}) | {:.1} {} | {} | {:.1} {} | {:.2} | {:.2} | {} | {met} |\n",
            f.key,
            f.what,
            f.value,
            f.unit,
            f.baseline,
            f.baseline_value,
            f.unit,
            f.ratio(),
            f.cpu_ratio,
            f.goal_text()
        ));
    }
    out.push('\n');
    out
}
