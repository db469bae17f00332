//! Fuzzing on the stable toolchain, as a plain test: grammar-aware rule files
//! (`fuzz/gen.rs`) and byte mutations of the corpus under `rules/` (`fuzz/mutate.rs`)
//! go through the whole compiler — decoding, parser, checker (set files included),
//! optimizer, lowering, object writer — and the diagnostic renderer, text and JSON.
//!
//! Every input must come back without a panic, within [`time_limit`] of CPU time and
//! [`memory_limit`] (a counting allocator, `fuzz/alloc.rs`, measures each input and
//! refuses any single allocation over 512 MiB; a watchdog aborts an input that runs
//! past [`HANG_LIMIT`]), with diagnostics whose spans lie inside the input, output
//! that is bounded and free of raw control characters, nothing from a file outside
//! the rule file's directory, and an object for every file without errors.
//!
//! `SOCKC_FUZZ_INPUTS` sets how many inputs run (default 200,000, what CI runs);
//! `SOCKC_FUZZ_SEED` picks another sequence (default fixed, so CI is reproducible);
//! `SOCKC_FUZZ_ONLY=N` runs input N alone. A failing input is written under
//! `CARGO_TARGET_TMPDIR/fuzz-failures/`; keep it in `tests/fuzz/regressions/` (which
//! runs first, every time) once fixed.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use sockc_compiler::{
    diag::{self, Diagnostic},
    driver, input,
    limits::Limits,
    opt::OptLevel,
    sema,
};

mod alloc;
mod gen;
mod mutate;
mod rng;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const DEFAULT_INPUTS: u64 = 200_000;
const DEFAULT_SEED: u64 = 0x5eed_16f0_22ed;
/// Most CPU time an input may take: a base for the small ones, plus a budget per byte
/// for the large ones — the front end is linear, but where pest parses (whatever the
/// fast scanner leaves to it, such as blocks that never close) it costs about a
/// microsecond per byte, and the harness parses some inputs twice.
fn time_limit(input_len: usize) -> Duration {
    Duration::from_secs(3) + Duration::from_nanos(4_000 * input_len as u64)
}
/// The watchdog aborts the run when an input takes this long (a hang).
const HANG_LIMIT: Duration = Duration::from_secs(120);
/// What a file outside the rule file's directory holds: it must never be printed.
const SECRET: &str = "SECRET-OUTSIDE-THE-TREE";

/// Most memory one input may use: the compiler's tables for a small file, plus a
/// generous multiple of its size.
fn memory_limit(input_len: usize) -> isize {
    (96 << 20) + 400 * input_len as isize
}

/// The directory the fuzzed rule files live in, with the set files they name: one
/// good, one bad (long and odd lines), one large, a FIFO, and a symbolic link to a
/// file outside the tree holding [`SECRET`].
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let root =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("rules");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("good.txt"),
            "10.0.0.0/8\n2001:db8::/32 # c\n\n192.0.2.1\n",
        )
        .unwrap();
        let mut bad = String::from("10.0.0.1/8\nnot an address\n\0\u{1b}[2J\n");
        bad.push_str(&"x".repeat(100_000));
        bad.push('\n');
        std::fs::write(dir.join("bad.txt"), bad).unwrap();
        let long: String = (0..20_000)
            .map(|i| format!("10.{}.{}.0/24\n", i / 256, i % 256))
            .collect();
        std::fs::write(dir.join("long.txt"), long).unwrap();
        std::fs::write(
            root.join("secret.txt"),
            format!("{SECRET}\n{SECRET} 1.2.3.4\n"),
        )
        .unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), dir.join("outside.txt")).unwrap();
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        Fixture { dir }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir.parent().unwrap());
    }
}

fn corpus() -> Vec<Vec<u8>> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules"),
        &mut files,
    );
    files.sort();
    let corpus: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(corpus.len() >= 20, "the rule corpus is missing");
    corpus
}

/// The regression cases: every file kept in `tests/fuzz/regressions/`, and inputs
/// built here because they are too large to keep as files.
fn regressions() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/regressions");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    (
                        e.path().display().to_string(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    let wide = format!("set s = {{ 10.0.0.1,{}10.0.0.1 }}\n", " ".repeat(70_000));
    out.push(("a warning at column 70,020".into(), wide.into_bytes()));
    out.push((
        "100,000 nested braces".into(),
        "{".repeat(100_000).into_bytes(),
    ));
    let bad_lines = "not a rule\n".repeat(50_000);
    out.push(("50,000 bad lines".into(), bad_lines.into_bytes()));
    let block = format!(
        "xdp on eth0 {{\n{}default allow\n}}\n",
        "drop tcp to *:22\n".repeat(20_000)
    );
    out.push(("20,000 duplicated rules".into(), block.into_bytes()));
    // Blocks that never close, each a rule of thousands of addresses cut short: the
    // shape pest parses slowest (the fuzzer found 16 MB of it taking 24 s; it is
    // linear, and bounded by the rule file size limit).
    let unclosed = format!("xdp on eth0 {{ drop to {}1.\n", "1.2.3.4 ".repeat(6_000)).repeat(20);
    out.push((
        "20 unclosed blocks of 6,000 addresses".into(),
        unclosed.into_bytes(),
    ));
    out
}

/// Input `index` of the run seeded `seed`.
fn input(seed: u64, index: u64, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut rng = rng::Rng::for_input(seed, index);
    match rng.below(10) {
        0..=3 => gen::file(&mut rng).into_bytes(),
        4..=8 => mutate::mutate(&mut rng, corpus),
        _ => {
            let generated = gen::file(&mut rng).into_bytes();
            mutate::mutate(&mut rng, &[generated])
        }
    }
}

/// Runs one input through everything and checks what came back.
fn check(bytes: &[u8], fixture: &Fixture, variant: u64) -> Result<(), String> {
    let text = match input::utf8(bytes.to_vec()) {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            if !msg.contains("not UTF-8 text: byte 0x") {
                return Err(format!("decoding error without a position: {msg}"));
            }
            String::from_utf8_lossy(bytes).into_owned()
        }
    };
    let mut limits = Limits::default();
    if variant.is_multiple_of(7) {
        limits.diagnostics = 3;
    }
    let opts = driver::Options {
        sema: sema::Options {
            base_dir: Some(fixture.dir.clone()),
            set_dirs: Vec::new(),
            limits,
            ..Default::default()
        },
        opt: if variant.is_multiple_of(5) {
            OptLevel::O0
        } else {
            OptLevel::O2
        },
        ..Default::default()
    };
    let (compiled, diags) = sockc_compiler::compile(&text, &opts);
    check_diagnostics(&text, &diags, &limits)?;
    let has_errors = diag::has_errors(&diags);
    match (&compiled, has_errors) {
        (Some(c), false) => {
            c.to_elf()
                .map_err(|e| format!("no object for a file without errors: {e}"))?;
            let _ = c.asm();
            let _ = c.module.to_string();
        }
        (None, true) => {}
        (Some(_), true) => return Err("compiled a file with errors".into()),
        (None, false) => return Err("no result and no error".into()),
    }
    for color in [false, variant.is_multiple_of(16)] {
        let out = diag::render(&diags, "fuzz.sk", &text, color);
        let bound = 16 * 1024 * (diags.len() + 1);
        if out.len() > bound {
            return Err(format!(
                "{} bytes rendered for {} diagnostics",
                out.len(),
                diags.len()
            ));
        }
        if !color {
            if let Some(c) = out.chars().find(|&c| c != '\n' && diag::is_invisible(c)) {
                return Err(format!("raw {c:?} in the rendered text"));
            }
        }
        if out.contains(SECRET) {
            return Err("the rendered text shows a file outside the rule file's directory".into());
        }
    }
    let json = serde_json::to_string(&diag::to_json(&diags, "fuzz.sk", &text))
        .map_err(|e| e.to_string())?;
    if json.contains(SECRET) {
        return Err("the JSON shows a file outside the rule file's directory".into());
    }
    // The fast scanner and pest agree (a quarter of the inputs: pest is the slow one).
    if variant.is_multiple_of(4) {
        let fast = format!("{:?}", sockc_compiler::syntax::parse(&text));
        let reference = format!("{:?}", sockc_compiler::syntax::parse_reference(&text));
        if fast != reference {
            return Err("the fast scanner and pest parse differently".into());
        }
    }
    Ok(())
}

fn check_diagnostics(src: &str, diags: &[Diagnostic], limits: &Limits) -> Result<(), String> {
    let totals = diag::totals(diags);
    let kept_errors = diags
        .iter()
        .filter(|d| d.is_error() && d.left_out.is_none())
        .count();
    if kept_errors as u64 > limits.diagnostics {
        return Err(format!(
            "{kept_errors} errors kept over a limit of {}",
            limits.diagnostics
        ));
    }
    if totals.errors < kept_errors {
        return Err("the totals lost errors".into());
    }
    for d in diags {
        if d.code == "sockc::internal" || d.message.contains("compiler bug") {
            return Err(format!("internal error: {}", d.message));
        }
        if d.message.chars().count() > 4 * diag::MAX_QUOTED_CHARS + 400 {
            return Err(format!("a {}-character message", d.message.chars().count()));
        }
        for l in &d.labels {
            let inside = l.span.start <= l.span.end && l.span.end <= src.len();
            if !inside || !src.is_char_boundary(l.span.start) || !src.is_char_boundary(l.span.end) {
                return Err(format!(
                    "label {:?} outside the source or inside a character: {d:?}",
                    l.span
                ));
            }
        }
    }
    Ok(())
}

/// What a failing input was and why.
struct Failure {
    what: String,
    why: String,
    bytes: Vec<u8>,
}

/// Runs one input in the current thread with its time and memory measured.
fn run_one(what: String, bytes: &[u8], fixture: &Fixture, variant: u64) -> Result<Stats, Failure> {
    alloc::reset_peak();
    let base = alloc::in_use();
    let start = thread_cpu();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check(bytes, fixture, variant)
    }));
    let elapsed = thread_cpu().saturating_sub(start);
    let memory = alloc::peak() - base;
    let why = match result {
        Ok(Ok(())) if elapsed > time_limit(bytes.len()) => {
            Some(format!("took {elapsed:?} of CPU for {} bytes", bytes.len()))
        }
        Ok(Ok(())) if memory > memory_limit(bytes.len()) => {
            Some(format!("used {} MiB", memory >> 20))
        }
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(panic) => Some(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    };
    match why {
        None => Ok(Stats { elapsed, memory }),
        Some(why) => Err(Failure {
            what,
            why,
            bytes: bytes.to_vec(),
        }),
    }
}

#[derive(Default, Clone, Copy)]
struct Stats {
    elapsed: Duration,
    memory: isize,
}

#[test]
fn fuzz_the_compiler_and_the_renderer() {
    let env_u64 = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let inputs = env_u64("SOCKC_FUZZ_INPUTS").unwrap_or(DEFAULT_INPUTS);
    let seed = env_u64("SOCKC_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let only = env_u64("SOCKC_FUZZ_ONLY");
    let fixture = Fixture::new();
    let corpus = corpus();
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let worst: Mutex<Stats> = Mutex::new(Stats::default());
    let started = Instant::now();
    // Panics are caught and reported with their input; the default hook's message
    // for each would drown the report.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let note = |r: Result<Stats, Failure>| match r {
        Ok(s) => {
            let mut w = worst.lock().unwrap();
            w.elapsed = w.elapsed.max(s.elapsed);
            w.memory = w.memory.max(s.memory);
        }
        Err(f) => failures.lock().unwrap().push(f),
    };
    for (name, bytes) in regressions() {
        note(run_one(format!("regression {name}"), &bytes, &fixture, 1));
    }

    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8) as u64;
    let next = AtomicU64::new(only.unwrap_or(0));
    let end = only.map_or(inputs, |i| i + 1);
    let done = AtomicBool::new(false);
    // Each worker's input and start, for the watchdog.
    let running: Vec<Mutex<Option<(u64, Instant)>>> =
        (0..threads).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                for slot in &running {
                    if let Some((index, since)) = *slot.lock().unwrap() {
                        if since.elapsed() > HANG_LIMIT {
                            let bytes = input(seed, index, &corpus);
                            let path = save(seed, index, &bytes);
                            eprintln!(
                                "fuzz: input {index} (seed {seed:#x}) runs past {HANG_LIMIT:?}: \
                                 a hang; it is in {}",
                                path.display()
                            );
                            std::process::abort();
                        }
                    }
                }
            }
        });
        let workers: Vec<_> = (0..threads as usize)
            .map(|t| {
                let (next, running, corpus, fixture, note, failures) =
                    (&next, &running, &corpus, &fixture, &note, &failures);
                scope.spawn(move || loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= end || failures.lock().unwrap().len() >= 5 {
                        break;
                    }
                    alloc::set_current(seed, index);
                    *running[t].lock().unwrap() = Some((index, Instant::now()));
                    let bytes = input(seed, index, corpus);
                    note(run_one(format!("input {index}"), &bytes, fixture, index));
                    *running[t].lock().unwrap() = None;
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    std::panic::set_hook(hook);

    let ran = next.load(Ordering::Relaxed).min(end) - only.unwrap_or(0);
    let w = *worst.lock().unwrap();
    let elapsed = started.elapsed();
    let cpu = cpu_seconds();
    println!(
        "fuzz: {ran} inputs (seed {seed:#x}) in {elapsed:.1?} on {threads} threads, \
         {cpu:.1} CPU seconds ({:.0} inputs per CPU second); slowest {:?} of CPU, most memory \
         {} KiB",
        ran as f64 / cpu.max(0.001),
        w.elapsed,
        w.memory >> 10
    );
    let failures = failures.into_inner().unwrap();
    if failures.is_empty() {
        return;
    }
    let report: Vec<String> = failures
        .iter()
        .map(|f| {
            let index = f
                .what
                .strip_prefix("input ")
                .and_then(|i| i.parse().ok())
                .unwrap_or(0);
            let path = save(seed, index, &f.bytes);
            format!("{}: {}\n  saved in {}", f.what, f.why, path.display())
        })
        .collect();
    panic!(
        "{} of the inputs failed (reproduce one with SOCKC_FUZZ_SEED={seed} SOCKC_FUZZ_ONLY=N; \
         keep it in compiler/tests/fuzz/regressions/ once fixed):\n{}",
        failures.len(),
        report.join("\n")
    );
}

/// CPU time of the calling thread: what an input costs, whatever else the machine runs
/// (wall time on a loaded machine says more about the machine).
fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime fills the zeroed timespec it is given.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts
    };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of this process so far (user and system), a measure of work that does
/// not depend on what else the machine runs.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn save(seed: u64, index: u64, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("seed-{seed:x}-input-{index}.sk"));
    std::fs::write(&path, bytes).unwrap();
    path
}
