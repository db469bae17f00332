//! Golden files: every `rules/**/*.sk` against its expected outputs in `golden/`.
//!
//! A file that compiles has `golden/<path>.asm` (bytecode, bpftool syntax) and
//! `golden/<path>.ir`; any diagnostics it produces (errors for files that must fail,
//! warnings otherwise) are in `golden/<path>.stderr`. A mismatch prints a unified diff;
//! `SOCKC_BLESS=1 cargo test --test golden` rewrites the goldens. Goldens with no rule
//! file left are reported (and deleted when blessing).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

mod common;

use common::{root, rule_files};
use sockc_compiler::{diag, driver, sema};

fn golden_files(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            golden_files(&p, out);
        } else {
            out.insert(p);
        }
    }
}

/// The outputs of one rule file, as (golden path, expected text).
fn outputs(rel: &Path, src: &str, base: &Path) -> Vec<(PathBuf, String)> {
    let opts = driver::Options {
        sema: sema::Options {
            base_dir: Some(base.to_path_buf()),
        },
        ..Default::default()
    };
    let (compiled, diags) = sockc_compiler::compile(src, &opts);
    let stem = root().join("golden").join(rel);
    let with = |ext: &str| {
        let mut p = stem.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let mut out = Vec::new();
    if !diags.is_empty() {
        let name = Path::new("rules").join(rel).display().to_string();
        out.push((with(".stderr"), diag::render(&diags, &name, src, false)));
    }
    if let Some(c) = compiled {
        out.push((with(".asm"), c.asm()));
        out.push((with(".ir"), c.module.to_string()));
    }
    out
}

#[test]
fn golden_outputs_match() {
    let bless = std::env::var_os("SOCKC_BLESS").is_some_and(|v| v == "1");
    let files = rule_files();
    assert!(
        files.len() >= 10,
        "expected the rule corpus under rules/, found {} files",
        files.len()
    );
    let mut expected_goldens = BTreeSet::new();
    let mut failures = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root().join("rules")).unwrap();
        let src = std::fs::read_to_string(file).unwrap();
        for (golden, actual) in outputs(rel, &src, file.parent().unwrap()) {
            expected_goldens.insert(golden.clone());
            let expected = std::fs::read_to_string(&golden).unwrap_or_default();
            if expected == actual {
                continue;
            }
            if bless {
                std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
                std::fs::write(&golden, &actual).unwrap();
                eprintln!("blessed {}", golden.display());
            } else {
                let diff = similar::TextDiff::from_lines(&expected, &actual)
                    .unified_diff()
                    .context_radius(3)
                    .header("expected", "actual")
                    .to_string();
                failures.push(format!(
                    "{} differs from {}:\n{diff}",
                    golden.display(),
                    file.display()
                ));
            }
        }
    }
    let mut present = BTreeSet::new();
    golden_files(&root().join("golden"), &mut present);
    // Per-level goldens (NAME.O0.asm, NAME.O2.ir) belong to tests/opt_*.rs.
    present.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        !(name.contains(".O0.") || name.contains(".O2."))
    });
    for orphan in present.difference(&expected_goldens) {
        if bless {
            std::fs::remove_file(orphan).unwrap();
            eprintln!("removed orphan {}", orphan.display());
        } else {
            failures.push(format!(
                "{} has no rule file producing it (SOCKC_BLESS=1 removes it)",
                orphan.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es); rerun with SOCKC_BLESS=1 to accept:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Files under `rules/errors/` must fail to compile; every other file must compile.
#[test]
fn error_files_fail_and_the_rest_compile() {
    for file in rule_files() {
        let src = std::fs::read_to_string(&file).unwrap();
        let opts = driver::Options {
            sema: sema::Options {
                base_dir: file.parent().map(Path::to_path_buf),
            },
            ..Default::default()
        };
        let (compiled, diags) = sockc_compiler::compile(&src, &opts);
        let must_fail = file.components().any(|c| c.as_os_str() == "errors");
        assert_eq!(
            compiled.is_none(),
            must_fail,
            "{}: {diags:#?}",
            file.display()
        );
        if must_fail {
            for d in &diags {
                assert!(
                    !d.labels.is_empty(),
                    "{}: diagnostic without a span: {d:?}",
                    file.display()
                );
                for l in &d.labels {
                    assert!(
                        l.span.end <= src.len(),
                        "{}: span past the end",
                        file.display()
                    );
                }
            }
        }
    }
}
