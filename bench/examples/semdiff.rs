//! The semantic diff's timing on ClassBench sets: each set (10,000 and 100,000
//! filters of acl1, fw1 and ipc1, converted as `sockc bench` converts them) against
//! itself with 10 edits (rules deleted, swapped with a neighbour, their action
//! flipped, copied elsewhere), and the time `sockc_compiler::semdiff::diff` takes,
//! beside the front end (parse and check) of the edited file. The targets are 1 s at
//! 10,000 rules and 10 s at 100,000.
//!
//! Each set is edited with several seeds (one lucky edit must not decide the figure);
//! each row prints the time, the regions that change verdict and the boxes they hold.
//! Beside the wall-clock time, the CPU time of the diff's thread (from
//! `/proc/thread-self/schedstat`): on a shared machine the wall clock also counts the
//! time other processes ran.
//!
//! `cargo run --release -p sockc-bench --example semdiff [DIR] [EDITS] [SEEDS] [ONLY]`;
//! DIR defaults to `$SOCKC_CLASSBENCH_DIR`, then the repository's `bench/classbench`
//! (every set, the large ones gzip-compressed); SEEDS defaults to
//! 3; ONLY keeps one set (`fw1_10000`), one family (`fw1`) or one size (`10000`).
//! With `SOCKC_SEMDIFF_DUMP=DIR`, each case's whole answer (every region's deciders,
//! example and boxes, verdict changes and counter moves) is written to
//! `DIR/SET_SEED.txt`, so two builds can be checked to give the same answers.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use sockc_compiler::{ir::Module, semdiff};
use sockc_testkit::{
    classbench::{self, ActionPolicy, ConvertOptions},
    classbench_data,
    rng::Rng,
};

fn data_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let arg = std::env::args().nth(1).map(PathBuf::from);
    classbench_data::dir(arg.as_deref(), &repo)
}

/// The time this thread has run on a CPU, in nanoseconds (0 where the kernel does not
/// say).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn front_end(src: &str) -> Module {
    let (ast, _) = sockc_compiler::syntax::parse(src);
    let (m, diags) = sockc_compiler::sema::check(ast, src, &Default::default());
    m.unwrap_or_else(|| panic!("{diags:?}"))
}

/// `edits` random edits of the block's rule lines.
fn edit(src: &str, edits: usize, seed: u64) -> String {
    let mut lines: Vec<String> = src.lines().map(String::from).collect();
    let rules: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = lines[i].trim_start();
            l.starts_with("allow ") || l.starts_with("drop ")
        })
        .collect();
    let (first, last) = (rules[0], *rules.last().unwrap());
    let mut rng = Rng::seeded(seed);
    let mut deleted = Vec::new();
    for _ in 0..edits {
        let i = first + rng.below(last - first);
        match rng.below(4) {
            0 => deleted.push(i),
            1 => lines.swap(i, i + 1),
            2 => {
                lines[i] = if lines[i].contains("allow ") {
                    lines[i].replacen("allow ", "drop ", 1)
                } else {
                    lines[i].replacen("drop ", "allow ", 1)
                }
            }
            _ => {
                let j = first + rng.below(last - first);
                let copy = lines[i].clone();
                lines[j] = format!("{}\n{copy}", lines[j]);
            }
        }
    }
    for i in deleted {
        lines[i] = "# deleted".into();
    }
    lines.join("\n") + "\n"
}

fn main() {
    let dir = data_dir();
    let arg = |n: usize| std::env::args().nth(n);
    let edits: usize = arg(2).map_or(10, |e| e.parse().expect("EDITS is a number"));
    let seeds: u64 = arg(3).map_or(3, |e| e.parse().expect("SEEDS is a number"));
    let only = arg(4).unwrap_or_default();
    println!("| set | rules | edits | seed | front end, NEW (ms) | semantic diff (ms) | its CPU time (ms) | regions | boxes | counting changes |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in [10_000, 100_000] {
        for set in ["acl1", "fw1", "ipc1"] {
            let name = format!("{set}_{size}");
            if ![String::new(), name.clone(), set.into(), size.to_string()].contains(&only) {
                continue;
            }
            let text = match classbench_data::read(&dir, &format!("{name}.rules")) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("{name}: skipped: {e}");
                    continue;
                }
            };
            let filters = classbench::parse_filters(&text).expect("ClassBench filters");
            let old_src = classbench::to_sk(
                &filters,
                &ConvertOptions {
                    hook: "xdp on eth0".into(),
                    policy: ActionPolicy::Alternate,
                    default: "drop",
                },
            );
            let old = front_end(&old_src);
            for seed in 0..seeds {
                let new_src = edit(&old_src, edits, 0x5eed + size as u64 + seed);
                let t = Instant::now();
                let new = front_end(&new_src);
                let front = t.elapsed();
                let (t, cpu) = (Instant::now(), cpu_ns());
                let d = semdiff::diff(&old, &new);
                let (took, cpu) = (t.elapsed(), cpu_ns() - cpu);
                if let Some(dir) = std::env::var_os("SOCKC_SEMDIFF_DUMP") {
                    let path = Path::new(&dir).join(format!("{name}_{seed}.txt"));
                    std::fs::write(&path, dump(&d)).expect("SOCKC_SEMDIFF_DUMP is writable");
                }
                println!(
                    "| {set} | {} | {edits} | {seed} | {:.0} | {:.0} | {:.0} | {}{} | {} | {} |",
                    filters.len(),
                    front.as_secs_f64() * 1e3,
                    took.as_secs_f64() * 1e3,
                    cpu as f64 / 1e6,
                    d.verdict_regions(),
                    if d.blocks.iter().any(|b| b.cut_short.is_some()) {
                        " (cut short)"
                    } else {
                        ""
                    },
                    verdict_boxes(&d),
                    d.counting_changes(),
                );
            }
        }
    }
}

/// The boxes of the regions that change verdict, over all blocks.
fn verdict_boxes(d: &semdiff::SemDiff) -> usize {
    let changes = d.blocks.iter().flat_map(|b| &b.verdicts);
    changes.map(|c| c.region.boxes().len()).sum()
}

/// Every region of the diff, one per line: kind, deciders, example, boxes.
fn dump(d: &semdiff::SemDiff) -> String {
    let mut out = String::new();
    for b in &d.blocks {
        out += &format!(
            "block {} {} cut short: {:?}\n",
            b.hook, b.attach_to, b.cut_short
        );
        for (kind, changes) in [("verdict", &b.verdicts), ("moved", &b.moved)] {
            for c in changes {
                out += &format!(
                    "{kind} {:?} -> {:?} e.g. {:?}: {}\n",
                    c.before.decider,
                    c.after.decider,
                    c.example_text(),
                    c.region
                );
            }
        }
    }
    out
}
