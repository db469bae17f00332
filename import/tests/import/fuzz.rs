//! No silent change, on generated rulesets (issue 48 item 2): seeded nft text and
//! iptables-save rulesets — tables of each family, base chains at several hooks and
//! priorities, user chains reached by jumps and gotos, returns, named and anonymous
//! sets, sets filled at run time, verdict maps, concatenations, NAT, and constructs the
//! language lacks — each imported at the netfilter hooks. Property: an import
//! `sockc import` would exit 0 on (no inexact part, no set file to export) writes a
//! rule file that compiles with its residual beside it, a residual the import's own
//! reader reads back, and a report whose every rule is exact, in the residual, or
//! never run — nothing approximate or left out. No input panics.
//!
//! A second property, on a tenth as many rulesets at xdp and tc: the compiled rule
//! file decides edge packets exactly as the flat rules it wrote (an approximate rule
//! only stricter), the check `lowering.rs` makes on the corpus.
//!
//! `SOCKC_IMPORT_FUZZ_CASES` (default 10,000) and `SOCKC_IMPORT_FUZZ_SEED` make a long
//! run. What this does not check: that sockc's blocks and the residual together decide
//! as the original at the netfilter hooks — the kernel differential
//! (`tests/differential/import.rs`) does that on the corpus.

use crate::common;

use sockc_import::{import, Hook, ImportError, Options, Status};
use sockc_testkit::{
    rng::Rng,
    ruleset_gen::{iptables_ruleset, nft_ruleset},
};

/// The number of generated rulesets: `SOCKC_IMPORT_FUZZ_CASES`, default 10,000.
fn cases() -> usize {
    std::env::var("SOCKC_IMPORT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn seed() -> u64 {
    std::env::var("SOCKC_IMPORT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

/// This thread's directory for the residual the rule file names.
fn thread_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "sockc-import-fuzz-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ))
}

/// One generated ruleset through the property; `Some(true)` when the import would
/// exit 0 (checked), `Some(false)` when it would not, `None` when it was refused.
fn check_one(text: &str) -> Option<bool> {
    let opts = Options {
        hook: Hook::Netfilter,
        ..Default::default()
    };
    let imp = match import(text, &opts) {
        Ok(imp) => imp,
        Err(ImportError::Syntax(d)) => panic!("a generated ruleset does not read: {d:?}\n{text}"),
        Err(e) => panic!("{e}\n{text}"),
    };
    if !imp.inexact.is_empty() || !imp.set_files.is_empty() {
        return Some(false);
    }
    for r in &imp.report.rules {
        assert!(
            matches!(r.status, Status::Exact | Status::Residual),
            "exit 0 with a rule {:?} ({}): {}\n{text}",
            r.status,
            r.reason,
            r.source
        );
    }
    // one directory per thread, the residual written over the last one's
    let dir = thread_dir();
    if let Some(r) = &imp.residual {
        std::fs::create_dir_all(&dir).unwrap();
        let file = sockc_import::default_residual_file(None, r.format);
        std::fs::write(dir.join(file), &r.text).unwrap();
        if let Err(e) = sockc_import::read(&r.text, r.format) {
            panic!("the residual does not read back: {e}\n{}\n{text}", r.text);
        }
    }
    if let Err(e) = common::compile(&imp.sk_text, Some(&dir)) {
        panic!(
            "exit 0 with a rule file check refuses:\n{e}\n{}\n--- from ---\n{text}",
            imp.sk_text
        );
    }
    Some(true)
}

#[test]
fn generated_rulesets_never_exit_0_with_a_file_check_refuses() {
    let n = cases();
    const THREADS: usize = 2;
    let counts: Vec<(usize, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut rng = Rng::seeded(seed().wrapping_add(t as u64));
                    let (mut exact, mut not) = (0usize, 0usize);
                    for i in (t..n).step_by(THREADS) {
                        let text = if i % 3 == 2 {
                            iptables_ruleset(&mut rng)
                        } else {
                            nft_ruleset(&mut rng)
                        };
                        match check_one(&text) {
                            Some(true) => exact += 1,
                            Some(false) => not += 1,
                            None => {}
                        }
                    }
                    let _ = std::fs::remove_dir_all(thread_dir());
                    (exact, not)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let (exact, not) = counts.iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    println!("{n} generated rulesets: {exact} would exit 0 (checked), {not} would not");
    assert_eq!(exact + not, n);
    assert!(
        exact * 2 > n,
        "too few imports exit 0 to test anything: {exact} of {n}"
    );
}

/// The verdicts half, at xdp and tc where a block decides alone: the compiled rule
/// file decides generated edge packets exactly as the flat rules it wrote
/// (`lowering::check_written`, the corpus's own check), on 1,000 generated rulesets
/// (`SOCKC_IMPORT_FUZZ_CASES` / 10).
#[test]
fn generated_rulesets_compile_to_their_flat_rules() {
    let n = (cases() / 10).max(1);
    let mut rng = Rng::seeded(seed() ^ 0x5eed);
    let mut packets = 0;
    for i in 0..n {
        let text = if i % 3 == 2 {
            iptables_ruleset(&mut rng)
        } else {
            nft_ruleset(&mut rng)
        };
        packets += crate::lowering::check_written(&format!("generated #{i}"), &text, "eth0", 40);
    }
    println!("{n} generated rulesets, {packets} packets: the compiled imports decide as their written flat rules");
}
