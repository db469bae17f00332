//! Timing of the front end (parse + sema) on the ClassBench-derived rule files.
//! Not a pass/fail test: run by hand with
//! `cargo test -p sockc-compiler --release --test compiler frontend_speed:: -- --ignored --nocapture`
//! Files from `SOCKC_BENCH_DIR` (default `/tmp/cb`, made by `sockc classbench`),
//! `SOCKC_BENCH_REPS` runs each (default 5), only names containing `SOCKC_BENCH_ONLY`.
//! Prints the median wall time and the median CPU time of this thread (on a loaded
//! machine the CPU time is the steadier number). `SOCKC_BENCH_PARSE_ONLY=1` skips sema
//! (for `perf stat` instruction counts of the parser alone).

use std::time::{Duration, Instant};

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time of the calling thread (Linux `CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu() -> Duration {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { clock_gettime(3, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.sec as u64, ts.nsec as u32)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "timing, run by hand"]
fn frontend_speed() {
    let dir = std::env::var("SOCKC_BENCH_DIR").unwrap_or_else(|_| "/tmp/cb".into());
    let only = std::env::var("SOCKC_BENCH_ONLY").unwrap_or_default();
    let reps: usize = std::env::var("SOCKC_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    for set in ["acl1", "fw1", "ipc1"] {
        for n in [10_000, 100_000] {
            let name = format!("{set}_{n}");
            if !name.contains(&only) {
                continue;
            }
            let path = format!("{dir}/{name}.sk");
            let Ok(src) = std::fs::read_to_string(&path) else {
                eprintln!("{path}: missing, skipped");
                continue;
            };
            let (mut wall, mut cpu) = ([vec![], vec![], vec![]], [vec![], vec![], vec![]]);
            for _ in 0..reps {
                let (w0, c0) = (Instant::now(), thread_cpu());
                let (ast, d) = sockc_compiler::syntax::parse(&src);
                let (w1, c1) = (Instant::now(), thread_cpu());
                // Sema consumes the AST (freeing it as it goes, as a compile does);
                // parsed only, it is dropped after the timing.
                let mut parsed = None;
                let (m, d2) = if std::env::var_os("SOCKC_BENCH_PARSE_ONLY").is_some() {
                    parsed = Some(ast);
                    (None, vec![])
                } else {
                    let (m, d2) = sockc_compiler::sema::check(ast, &src, &Default::default());
                    assert!(m.is_some(), "{path}: {d2:?}");
                    (m, d2)
                };
                let (w2, c2) = (Instant::now(), thread_cpu());
                assert!(d.is_empty(), "{path}: {d:?} {d2:?}");
                for (k, (w, c)) in [(w1 - w0, c1 - c0), (w2 - w1, c2 - c1), (w2 - w0, c2 - c0)]
                    .into_iter()
                    .enumerate()
                {
                    wall[k].push(w);
                    cpu[k].push(c);
                }
                drop((parsed, m));
            }
            let best = cpu[2].iter().min().copied().unwrap_or_default();
            let [pw, sw, tw] = wall.map(median);
            let [pc, sc, tc] = cpu.map(median);
            println!(
                "{name:12} parse {:6.1} ms  sema {:6.1} ms  total {:6.1} ms wall | cpu: parse {:6.1}  sema {:6.1}  total {:6.1} ms (best {:6.1})",
                ms(pw), ms(sw), ms(tw), ms(pc), ms(sc), ms(tc), ms(best)
            );
        }
    }
}
