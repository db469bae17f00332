//! The rules an install runs, read back for `show`, `diff --installed` and `apply
//! --dry-run`: the text its manifest records with `file` sets written out
//! (`Manifest::rule_text`, `sockc_compiler::standalone`), compiled as `apply` compiles.
//!
//! Invariant: the text is the manifest's own, never a file that may have changed
//! since; only a manifest of an older sockc, which records no text, falls back to its
//! source file, and then only while that file's SHA-256 is still the manifest's.

use std::path::Path;

use sha2::Digest;
use sockc_compiler::{diag, driver, ir::Module, sema, Compiled, Lints};
use sockc_runtime::store::{Manifest, Store};

use super::{memory::release_freed_memory, settings::settings};

/// An install's manifest, its rule text and that text compiled.
pub struct Installed {
    pub manifest: Manifest,
    pub text: String,
    pub compiled: Compiled,
}

/// Install `name`'s rules (`None`: nothing is installed under it); why they cannot be
/// had otherwise.
pub fn read(store: &Store, name: &str) -> Result<Option<Installed>, String> {
    let Some((manifest, text)) = recorded(store, name)? else {
        return Ok(None);
    };
    let compiled = compile_recorded(&text, &manifest.source_file)
        .ok_or_else(|| do_not_compile(name, &manifest))?;
    Ok(Some(Installed {
        manifest,
        text,
        compiled,
    }))
}

/// The rules `manifest` records read as far as their meaning ([`module_recorded`]):
/// what `apply --dry-run`'s semantic diff compares with, without compiling the install
/// again. The manifest (its rules, disassembly and tables: 12 MB at 100,000 rules) is
/// dropped once its text is had, and the freed memory handed back, before that text is
/// read.
pub fn module_of(manifest: Manifest) -> Result<Module, String> {
    // The text as recorded, its `file` sets given their recorded elements as they are
    // (not written out into it: a set of a million addresses was most of the work).
    let (text, sets) = match manifest.rule_text_and_sets() {
        Some((text, sets)) => (text.to_string(), sets.map(|s| s.into_lists())),
        None => (source_file_text(&manifest)?, None),
    };
    let why = do_not_compile(&manifest.name, &manifest);
    let source_file = manifest.source_file.clone();
    drop(manifest);
    // What the caller dropped before (the new file's tables) and the manifest go back
    // to the kernel before the recorded text's parse and sema make the peak.
    release_freed_memory();
    module_recorded(&text, &source_file, sets).ok_or(why)
}

/// Install `name`'s manifest and the rule text it records. Copied from what the store
/// remembers, not taken: an apply with `--confirm` reads the rules to put back here
/// and then the manifest again itself.
fn recorded(store: &Store, name: &str) -> Result<Option<(Manifest, String)>, String> {
    let manifest = match store.manifest(name) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let text = recorded_text(&manifest)?;
    Ok(Some((manifest, text)))
}

/// The rule text `manifest` records, else (an older sockc's) its source file's.
fn recorded_text(manifest: &Manifest) -> Result<String, String> {
    match manifest.rule_text() {
        Some(t) => Ok(t),
        None => source_file_text(manifest),
    }
}

/// Why an install's recorded rules cannot be read back.
fn do_not_compile(name: &str, m: &Manifest) -> String {
    format!(
        "the rules install `{name}` records (from {}) do not compile",
        m.source_file
    )
}

/// Rule text an install recorded (its `file` sets written out), compiled as `apply`
/// compiles it, its set files (if any are left) read beside `source_file`: `None` when
/// it does not compile.
pub fn compile_recorded(text: &str, source_file: &str) -> Option<Compiled> {
    sockc_compiler::compile(text, &recorded_options(text, source_file)).0
}

/// Rule text an install recorded, read as [`compile_recorded`] reads it but only as
/// far as its rules' meaning ([`driver::analyze`], no lints): what a semantic diff
/// against the install compares with (`apply --dry-run`), its `file` sets that `sets`
/// names taking their recorded elements from there. `None` when it does not compile
/// that far.
pub fn module_recorded(
    text: &str,
    source_file: &str,
    sets: Option<sema::RecordedLists>,
) -> Option<Module> {
    let mut opts = driver::Options {
        lints: Lints::Skip,
        ..recorded_options(text, source_file)
    };
    opts.sema.recorded_sets = sets.map(std::sync::Arc::new);
    let checked = driver::check(text, &opts).ok()?;
    let (analyzed, diags) = driver::analyze(checked, &opts);
    (!diag::has_errors(&diags)).then_some(analyzed.module)
}

/// The options [`compile_recorded`] compiles with.
fn recorded_options(text: &str, source_file: &str) -> driver::Options {
    let base = Path::new(source_file).parent();
    // The text compiled when it was applied, its sets read from files; written out,
    // a large set may take it past the rule file size limit, which is for text a
    // person writes (the set element limit still bounds it).
    let mut limits = settings().limits;
    limits.source_bytes = limits.source_bytes.max(text.len() as u64);
    driver::Options {
        sema: sema::Options {
            base_dir: base.map(Path::to_path_buf),
            set_dirs: settings().set_dirs.clone(),
            limits,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The source file a manifest without recorded text names, if it still holds what
/// was applied.
fn source_file_text(m: &Manifest) -> Result<String, String> {
    let bytes = std::fs::read(&m.source_file).map_err(|e| {
        format!(
            "install `{}` was applied by an older sockc, which kept no copy of its rules, and its source {} cannot be read: {e}",
            m.name, m.source_file
        )
    })?;
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if sha != m.source_sha256 {
        return Err(format!(
            "install `{}` was applied by an older sockc, which kept no copy of its rules, and {} changed since it was applied",
            m.name, m.source_file
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", m.source_file))
}
