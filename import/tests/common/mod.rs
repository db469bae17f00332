//! What the import's tests share: the corpus (`tests/import-corpus/` at the
//! repository root), compiling an import's output, and golden files blessed with
//! `SOCKC_BLESS=1`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sockc_import::{Hook, Options};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn corpus() -> PathBuf {
    repo().join("tests/import-corpus")
}

/// One ruleset of the corpus, as `rulesets/manifest.json` describes it.
#[derive(Clone, Debug)]
pub struct CorpusFile {
    pub name: String,
    pub path: PathBuf,
    pub iface: String,
    pub rules: usize,
    /// `None` for the JSON listings (one line).
    pub rule_lines: Option<Vec<u32>>,
}

pub fn corpus_files() -> Vec<CorpusFile> {
    let dir = corpus().join("rulesets");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|m| CorpusFile {
            name: m["file"].as_str().unwrap().to_string(),
            path: dir.join(m["file"].as_str().unwrap()),
            iface: m["iface"].as_str().unwrap().to_string(),
            rules: m["rules"].as_u64().unwrap() as usize,
            rule_lines: m["rule_lines"]
                .as_array()
                .map(|a| a.iter().map(|l| l.as_u64().unwrap() as u32).collect()),
        })
        .collect()
}

pub fn opts(hook: Hook, iface: &str) -> Options {
    Options {
        from: None,
        hook,
        interface: Some(iface.to_string()),
        source_name: None,
        ..Default::default()
    }
}

/// Compiles `sk` (set files relative to `dir`); the errors, rendered, if it fails.
pub fn compile(sk: &str, dir: Option<&Path>) -> Result<sockc_compiler::Compiled, String> {
    let mut o = sockc_compiler::Options::default();
    o.sema.base_dir = dir.map(Path::to_path_buf);
    let (compiled, diags) = sockc_compiler::compile(sk, &o);
    compiled.ok_or_else(|| {
        diags
            .iter()
            .filter(|d| d.severity == sockc_compiler::diag::Severity::Error)
            .map(|d| format!("{d:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Golden files: compared, or rewritten with `SOCKC_BLESS=1`; every difference is
/// reported at the end.
pub struct Goldens {
    bless: bool,
    failures: Vec<String>,
}

impl Goldens {
    pub fn new() -> Goldens {
        Goldens {
            bless: std::env::var_os("SOCKC_BLESS").is_some_and(|v| v == "1"),
            failures: Vec::new(),
        }
    }

    pub fn check(&mut self, path: &Path, actual: &str) {
        let expected = std::fs::read_to_string(path).unwrap_or_default();
        if expected == actual {
            return;
        }
        if self.bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, actual).unwrap();
            eprintln!("blessed {}", path.display());
            return;
        }
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .context_radius(3)
            .header("expected", "actual")
            .to_string();
        self.failures.push(format!(
            "{} differs (SOCKC_BLESS=1 rewrites it):\n{diff}",
            path.display()
        ));
    }

    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} golden file(s) differ:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// `text` imported for `hook` with the format detected, at eth0 where the hook is on
/// an interface.
pub fn import_at(text: &str, hook: Hook) -> sockc_import::Import {
    sockc_import::import(
        text,
        &Options {
            hook,
            interface: (hook != Hook::Netfilter).then(|| "eth0".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// The rule a block at a shared place starts with (the residual's usual bit): let
/// through what the residual decided.
pub const LEAD: &str = "allow mark 0x80000000/0x80000000";

/// The output's lines that start with one of `heads`, comments cut.
pub fn lines_starting(imp: &sockc_import::Import, heads: &[&str]) -> Vec<String> {
    imp.sk_text
        .lines()
        .map(str::trim)
        .filter(|l| heads.iter().any(|a| l.starts_with(a)))
        .map(|l| l.split("    #").next().unwrap().trim().to_string())
        .collect()
}

/// The output's rule lines, comments cut.
pub fn rule_lines(imp: &sockc_import::Import) -> Vec<String> {
    lines_starting(imp, &["allow", "drop", "reject", "count"])
}

/// The status and reason the report gives the rule at `line`.
pub fn status_of(imp: &sockc_import::Import, line: u32) -> (sockc_import::Status, String) {
    let r = imp
        .report
        .rules
        .iter()
        .find(|r| r.line == line)
        .unwrap_or_else(|| panic!("no rule at line {line}"));
    (r.status, r.reason.clone())
}

/// Compiles the import's rule file with its residual written beside it, where the
/// file's declaration names it (a directory of this call's own: the tests run at the
/// same time); panics with the errors if it does not compile.
pub fn compiles_with_residual(imp: &sockc_import::Import) {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sockc-import-out-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(r) = &imp.residual {
        let file = sockc_import::default_residual_file(None, r.format);
        std::fs::write(dir.join(file), &r.text).unwrap();
    }
    let compiled = compile(&imp.sk_text, Some(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = compiled {
        panic!("the import does not compile:\n{e}\n{}", imp.sk_text);
    }
}
