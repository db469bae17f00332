//! Golden files: every `rules/**/*.sk` against its expected outputs in `golden/`.
//!
//! A file that compiles has `golden/<path>.asm` (bytecode, bpftool syntax) and
//! `golden/<path>.ir`; any diagnostics it produces (errors for files that must fail,
//! warnings otherwise) are in `golden/<path>.stderr`. A mismatch prints a unified diff;
//! `SOCKC_BLESS=1 cargo test --test golden` rewrites the goldens. Goldens with no rule
//! file left are reported (and deleted when blessing). The check itself is
//! tests/common/golden.rs.

use std::path::{Path, PathBuf};

mod common;

use common::{golden::Goldens, root, rule_files};
use sockc_compiler::{diag, driver, sema};

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
    let files = rule_files();
    assert!(
        files.len() >= 10,
        "expected the rule corpus under rules/, found {} files",
        files.len()
    );
    let mut goldens = Goldens::new();
    for file in &files {
        let rel = file.strip_prefix(root().join("rules")).unwrap();
        let src = std::fs::read_to_string(file).unwrap();
        for (golden, actual) in outputs(rel, &src, file.parent().unwrap()) {
            goldens.check(&golden, &actual);
        }
    }
    // Per-level goldens (NAME.O0.asm, NAME.O2.ir) belong to tests/opt_*.rs.
    goldens.orphans(&root().join("golden"), |p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.contains(".O0.") || name.contains(".O2.")
    });
    goldens.finish();
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
