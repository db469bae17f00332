//! The optimizer's IR passes, file by file: every `rules/opt/*.sk` compiles at `-O0`
//! and at `-O2`, and its IR at both levels is `golden/opt/NAME.O0.ir` and
//! `golden/opt/NAME.sk.ir` (`SOCKC_BLESS=1` rewrites them), so a pass's effect reads
//! as the difference of two files. A pass that changes the IR adds a rule file here
//! (`rules/opt/normalize.sk`: canonical address sets). The `-O2` golden is the one
//! tests/golden/corpus.rs checks too (naming: tests/common/golden.rs); the `.O0.` ones are
//! this file's and tests/golden/opt_thread.rs's.
//!
//! Also here: what the passes promise on the whole corpus, e.g. that `-O2` address
//! sets hold exactly the addresses of the sets as written.

use std::path::{Path, PathBuf};

use crate::common;

use common::{
    golden::{golden_path, Goldens},
    root, rule_files,
};
use sockc_compiler::{driver::Options, ir::Module, opt::OptLevel, sema};

fn compile(src: &str, base: &Path, level: OptLevel) -> Module {
    let opts = Options {
        sema: sema::Options {
            base_dir: Some(base.to_path_buf()),
            ..Default::default()
        },
        opt: level,
        ..Default::default()
    };
    let (compiled, diags) = sockc_compiler::compile(src, &opts);
    compiled
        .unwrap_or_else(|| panic!("does not compile at {}: {diags:#?}", level.name()))
        .module
}

/// Every `rules/opt/*.sk`.
fn opt_files() -> Vec<PathBuf> {
    let dir = root().join("rules/opt");
    rule_files()
        .into_iter()
        .filter(|f| f.parent() == Some(dir.as_path()))
        .collect()
}

#[test]
fn ir_goldens_at_both_levels() {
    let files = opt_files();
    assert!(
        files.iter().any(|f| f.ends_with("normalize.sk")),
        "rules/opt/normalize.sk is missing: {files:?}"
    );
    let mut goldens = Goldens::new();
    for file in &files {
        let src = std::fs::read_to_string(file).unwrap();
        for level in [OptLevel::O0, OptLevel::O2] {
            let actual = compile(&src, file.parent().unwrap(), level).to_string();
            goldens.check(&golden_path(file, level, "ir"), &actual);
        }
    }
    goldens.finish();
}

/// Inclusive (first, last) addresses, as numbers.
type Intervals = Vec<(u128, u128)>;

/// Per set: its name and the (first, last) address of every prefix, per family.
fn intervals(m: &Module) -> Vec<(String, Intervals, Intervals)> {
    m.sets
        .values()
        .map(|s| {
            let v4 =
                s.v4.iter()
                    .map(|n| {
                        (
                            u32::from(n.network()).into(),
                            u32::from(n.broadcast()).into(),
                        )
                    })
                    .collect();
            let v6 =
                s.v6.iter()
                    .map(|n| (n.network().into(), n.broadcast().into()))
                    .collect();
            (s.name.clone(), v4, v6)
        })
        .collect()
}

fn member(ivs: &[(u128, u128)], a: u128) -> bool {
    ivs.iter().any(|&(lo, hi)| lo <= a && a <= hi)
}

/// Normalization keeps every set's members (checked at both ends of every prefix
/// of either form, and just outside them) and never adds elements.
#[test]
fn normalized_sets_hold_the_same_addresses() {
    let mut merged = 0;
    for file in rule_files() {
        if file.components().any(|c| c.as_os_str() == "errors") {
            continue;
        }
        let src = std::fs::read_to_string(&file).unwrap();
        let base = file.parent().unwrap();
        let (o0, o2) = (
            intervals(&compile(&src, base, OptLevel::O0)),
            intervals(&compile(&src, base, OptLevel::O2)),
        );
        for ((name, a4, a6), (_, b4, b6)) in o0.iter().zip(&o2) {
            for (a, b, max) in [(a4, b4, u128::from(u32::MAX)), (a6, b6, u128::MAX)] {
                assert!(b.len() <= a.len(), "{}: set {name} grew", file.display());
                merged += a.len() - b.len();
                for &(lo, hi) in a.iter().chain(b) {
                    for x in [lo, hi, lo.saturating_sub(1), hi.saturating_add(1).min(max)] {
                        assert_eq!(
                            member(a, x),
                            member(b, x),
                            "{}: set {name}, address {x:#x}",
                            file.display()
                        );
                    }
                }
            }
        }
    }
    assert!(merged > 0, "no set of the corpus was merged");
}
