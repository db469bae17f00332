//! Robustness: no input makes the compiler panic. Every rule file of the corpus is
//! mutated many times (bytes deleted, duplicated, replaced with grammar-relevant
//! characters, lines swapped) and each result is compiled; compile must return,
//! with a module or with diagnostics whose spans lie inside the input.

use std::path::{Path, PathBuf};

/// xorshift64*: deterministic, so a failure reproduces from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<String> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else if p.extension().is_some_and(|x| x == "sk") {
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
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

const PIECES: &[&str] = &[
    "{",
    "}",
    ";",
    "\n",
    ":",
    "/",
    "@",
    "*",
    "-",
    "[",
    "]",
    "!",
    "\"",
    "#",
    " ",
    "0",
    "99999999999",
    "::",
    "1.2.3.4",
    "tcp",
    "to",
    "from",
    "if",
    "socket",
    "default",
    "xdp on e {",
    "set",
    "é",
    "\u{0}",
    "/129",
    "65536",
    "ffff:",
    "sock",
];

#[test]
fn mutated_corpus_never_panics() {
    let files = corpus();
    assert!(!files.is_empty());
    let iterations: usize = std::env::var("SOCKC_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed = 0x5eed_0000_u64;
    let mut rng = Rng(seed | 1);
    for i in 0..iterations {
        let mut s: Vec<char> = files[rng.below(files.len())].chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(s.len() + 1);
            match rng.below(4) {
                0 if !s.is_empty() => {
                    let end = (at + 1 + rng.below(8)).min(s.len());
                    s.drain(at.min(end)..end);
                }
                1 => {
                    let p = PIECES[rng.below(PIECES.len())];
                    for (k, c) in p.chars().enumerate() {
                        s.insert(at + k, c);
                    }
                }
                2 if !s.is_empty() => {
                    let at = at.min(s.len() - 1);
                    s[at] = PIECES[rng.below(PIECES.len())]
                        .chars()
                        .next()
                        .unwrap_or('x');
                }
                _ => {
                    let len = rng.below(20);
                    let from = rng.below(s.len() + 1);
                    let chunk: Vec<char> = s[from..(from + len).min(s.len())].to_vec();
                    for (k, c) in chunk.into_iter().enumerate() {
                        s.insert(at.min(s.len()) + k, c);
                    }
                }
            }
        }
        let src: String = s.into_iter().collect();
        let result = std::panic::catch_unwind(|| {
            let (_, diags) = sockc_compiler::compile(&src, &sockc_compiler::Options::default());
            for d in &diags {
                for l in &d.labels {
                    assert!(
                        l.span.start <= l.span.end && l.span.end <= src.len(),
                        "span out of range: {d:?}"
                    );
                }
            }
            // Rendering must not panic either.
            let _ = sockc_compiler::diag::render(&diags, "fuzz.sk", &src, false);
        });
        assert!(
            result.is_ok(),
            "panic at iteration {i} (seed {seed:#x}) on input:\n{src}"
        );
    }
}
