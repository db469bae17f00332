//! Golden files: every `rules/**/*.sk` against its expected outputs in `golden/`.
//!
//! A file that compiles has `golden/<path>.asm` (bytecode, bpftool syntax) and
//! `golden/<path>.ir`, at the default level `-O2`; any diagnostics it produces (errors
//! for files that must fail, warnings otherwise) are in `golden/<path>.stderr`. A
//! mismatch prints a unified diff; `SOCKC_BLESS=1 cargo test --test golden` rewrites
//! the goldens. Goldens with no rule file left are reported (and deleted when
//! blessing). The check itself is tests/common/golden.rs.
//!
//! Naming (tests/common/golden.rs): `golden/DIR/NAME.sk.EXT` is the `-O2` output of
//! `rules/DIR/NAME.sk`, also where tests/golden/opt_*.rs read `-O2`; the `-O0` goldens
//! `golden/opt/NAME.O0.EXT` are theirs, so the orphan check leaves them alone while
//! `rules/opt/NAME.sk` exists.

use std::path::{Path, PathBuf};

use crate::common;

use common::{
    golden::{golden_path, rule_of, Goldens},
    root, rule_files,
};
use sockc_compiler::{diag, driver, opt::OptLevel, sema};

/// The outputs of one rule file at the default level, as (golden path, expected text).
fn outputs(file: &Path, src: &str) -> Vec<(PathBuf, String)> {
    let opts = driver::Options {
        sema: sema::Options {
            base_dir: file.parent().map(Path::to_path_buf),
            ..Default::default()
        },
        ..Default::default()
    };
    let (compiled, diags) = sockc_compiler::compile(src, &opts);
    let with = |ext: &str| golden_path(file, opts.opt, ext);
    let mut out = Vec::new();
    if !diags.is_empty() {
        let rel = file.strip_prefix(root()).unwrap();
        let name = rel.display().to_string();
        out.push((with("stderr"), diag::render(&diags, &name, src, false)));
    }
    if let Some(c) = compiled {
        out.push((with("asm"), c.asm()));
        out.push((with("ir"), c.module.to_string()));
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
        let src = std::fs::read_to_string(file).unwrap();
        for (golden, actual) in outputs(file, &src) {
            goldens.check(&golden, &actual);
        }
    }
    // The -O0 goldens (NAME.O0.ir, NAME.O0.asm) belong to tests/golden/opt_*.rs.
    let opt = root().join("rules/opt");
    goldens.orphans(&root().join("golden"), |p| {
        rule_of(p).is_some_and(|(rule, level)| {
            level == OptLevel::O0 && rule.parent() == Some(opt.as_path()) && rule.is_file()
        })
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
                ..Default::default()
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
