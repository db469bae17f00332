//! Compiling a rule file named on the command line, with its diagnostics printed the
//! way every command prints them: rendered on stderr, or into the JSON document under
//! `--json`, none but errors under `-q`.
//!
//! Invariant: a file with errors prints every diagnostic and gives exit code 1; a file
//! without gives its [`Compiled`], and its warnings either printed ([`build`]) or
//! handed back to print later ([`build_deferred`]: `diff` prints NEW's after its
//! answer, `apply` holds one back).

use std::{io::IsTerminal, path::Path, process::ExitCode};

use sockc_compiler::{diag, driver, sema, Compiled, Lints};

use super::{input, json, settings};

/// Reads and compiles `file`, its warnings printed (under `--json` into the command's
/// JSON document, [`json`]).
pub fn build(file: &Path) -> Result<Compiled, ExitCode> {
    let b = build_deferred(file, Lints::Run)?;
    print_diagnostics(&b.warnings, &b.name, &b.src);
    Ok(b.compiled)
}

/// A compiled file whose warnings are not printed yet.
pub struct Built {
    pub compiled: Compiled,
    pub src: String,
    /// The file's name in messages.
    pub name: String,
    pub warnings: Vec<diag::Diagnostic>,
}

/// Prints `diags` of file `name` (none but errors with `-q`), or puts them into the
/// JSON document under `--json`.
pub fn print_diagnostics(diags: &[diag::Diagnostic], name: &str, src: &str) {
    let mut diags = diags.to_vec();
    if settings::quiet() {
        diags.retain(|d| d.severity == diag::Severity::Error);
    }
    if json::enabled().is_some() {
        json::add_diagnostics(diag::to_json(&diags, name, src));
    } else if !diags.is_empty() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", diag::render(&diags, name, src, color));
    }
}

/// Reads and compiles; on errors prints every diagnostic and returns the exit code,
/// on success returns the warnings unprinted (`sockc diff` prints NEW's after its
/// answer, and OLD's never). `lints` says whether the optimizer's lints run
/// ([`sockc_compiler::Lints`]).
pub fn build_deferred(file: &Path, lints: Lints) -> Result<Built, ExitCode> {
    finish_deferred(check_deferred(file, lints)?)
}

/// A file read and through sema, with what compiling the rest needs.
pub struct CheckedFile {
    pub checked: driver::Checked,
    src: String,
    name: String,
    opts: driver::Options,
}

/// The first half of [`build_deferred`]: read, parse and sema; on errors prints every
/// diagnostic and returns the exit code.
pub fn check_deferred(file: &Path, lints: Lints) -> Result<CheckedFile, ExitCode> {
    let src = input::read_rule_text(file)?;
    let (checked, opts) = front_end(file, &src, lints);
    checked_file(file, src, checked, opts)
}

/// Texts from this long on are hashed on another thread while the front end reads
/// them ([`check_read_digested`]): 1 MiB takes about half a millisecond to hash,
/// about what starting a thread and its heap is worth.
const DIGESTED_BESIDE_FROM: usize = 1 << 20;

/// [`check_deferred`] of `src`, the text read from `file` ([`input::read_rule_text`]),
/// with the SHA-256 (hex) of the text as an install records it (`source_sha256`),
/// hashed beside the front end (a 100,000-rule file's 6 MB took 3-4 ms after the
/// compile, on the calling thread, at every apply). Sema calls `hooks` ([`Hooks`]).
pub fn check_read_digested(
    file: &Path,
    src: String,
    lints: Lints,
    hooks: Hooks,
) -> Result<(CheckedFile, String), ExitCode> {
    let digest = |s: &str| sockc_compiler::bpf::maps::sha256_hex(s.as_bytes());
    let front_end = |lints| {
        let (checked, mut opts) = front_end_with(file, &src, lints, hooks);
        // Only the front end calls them: the rest of the compile keeps no caller's hook.
        opts.sema.on_large_set_file = None;
        opts.sema.on_second_core_free = None;
        (checked, opts)
    };
    let ((checked, opts), d) = if src.len() < DIGESTED_BESIDE_FROM {
        (front_end(lints), digest(&src))
    } else {
        std::thread::scope(|s| {
            let hasher = std::thread::Builder::new()
                .name("sockc-digest".into())
                .spawn_scoped(s, || digest(&src));
            let checked = front_end(lints);
            // Refused a thread, the text is hashed here.
            let d = match hasher {
                Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                Err(_) => digest(&src),
            };
            (checked, d)
        })
    };
    checked_file(file, src, checked, opts).map(|c| (c, d))
}

/// The front end's answer for `src`, the text read from `file`, and the options the
/// rest of its compile takes.
fn front_end(
    file: &Path,
    src: &str,
    lints: Lints,
) -> (
    Result<driver::Checked, Vec<diag::Diagnostic>>,
    driver::Options,
) {
    front_end_with(file, src, lints, Hooks::default())
}

/// What sema calls as the front end goes, for a caller that starts work beside it.
#[derive(Default)]
pub struct Hooks {
    /// [`sema::Options::on_large_set_file`].
    pub large_set_file: Option<sema::Hook>,
    /// [`sema::Options::on_second_core_free`].
    pub second_core_free: Option<sema::Hook>,
}

/// [`front_end`], sema calling `hooks`.
fn front_end_with(
    file: &Path,
    src: &str,
    lints: Lints,
    hooks: Hooks,
) -> (
    Result<driver::Checked, Vec<diag::Diagnostic>>,
    driver::Options,
) {
    let settings = settings::settings();
    let opts = driver::Options {
        sema: sema::Options {
            base_dir: input::base_dir(file),
            set_dirs: settings.set_dirs.clone(),
            limits: settings.limits,
            on_large_set_file: hooks.large_set_file,
            on_second_core_free: hooks.second_core_free,
            ..Default::default()
        },
        opt: settings.opt,
        lints,
    };
    (driver::check(src, &opts), opts)
}

/// `file`'s text `src` through the front end ([`front_end`]), or the exit code of
/// its errors, printed.
fn checked_file(
    file: &Path,
    src: String,
    checked: Result<driver::Checked, Vec<diag::Diagnostic>>,
    opts: driver::Options,
) -> Result<CheckedFile, ExitCode> {
    let name = if input::is_stdin(file) {
        input::STDIN_NAME.to_string()
    } else {
        file.display().to_string()
    };
    match checked {
        Ok(checked) if residual_refused(&checked.module).is_some() => {
            let d = residual_refused(&checked.module).expect("just seen");
            Err(rule_errors(&[d], &name, &src))
        }
        Ok(checked) => Ok(CheckedFile {
            checked,
            src,
            name,
            opts,
        }),
        Err(diags) => Err(rule_errors(&diags, &name, &src)),
    }
}

impl CheckedFile {
    /// The file's text.
    pub fn source(&self) -> &str {
        &self.src
    }
}

/// The second half of [`build_deferred`]: the rest of the compile.
pub fn finish_deferred(c: CheckedFile) -> Result<Built, ExitCode> {
    finish_deferred_with(c, driver::finish)
}

/// [`finish_deferred`], fitted to an installed generation when `installed` gives one,
/// asked for only once the optimizer's passes have run ([`driver::finish_fitted_when`]).
pub fn finish_deferred_fitted_when<'r>(
    c: CheckedFile,
    installed: impl FnOnce() -> Option<&'r driver::Refit>,
) -> Result<Built, ExitCode> {
    finish_deferred_with(c, |checked, opts| {
        driver::finish_fitted_when(checked, opts, installed)
    })
}

/// [`finish_deferred`] for an install that will not lower the file again, shedding
/// all rules but those `keep` keeps as it compiles ([`driver::finish_shed`]).
pub fn finish_deferred_shed(
    c: CheckedFile,
    keep: &dyn Fn(&sockc_compiler::ir::Rule) -> bool,
) -> Result<Built, ExitCode> {
    finish_deferred_with(c, |checked, opts| driver::finish_shed(checked, opts, keep))
}

/// The rest of `c`'s compile, done by `finish`.
fn finish_deferred_with(
    c: CheckedFile,
    finish: impl FnOnce(driver::Checked, &driver::Options) -> (Option<Compiled>, Vec<diag::Diagnostic>),
) -> Result<Built, ExitCode> {
    let CheckedFile {
        checked,
        src,
        name,
        opts,
    } = c;
    let (compiled, diags) = finish(checked, &opts);
    let Some(compiled) = compiled else {
        return Err(rule_errors(&diags, &name, &src));
    };
    Ok(Built {
        compiled,
        src,
        name,
        warnings: diags,
    })
}

/// A file through sema and the passes its rules' meaning needs
/// ([`driver::analyze`]), not compiled further, its warnings not printed yet.
pub struct AnalyzedFile {
    pub analyzed: driver::Analyzed,
    pub src: String,
    /// The file's name in messages.
    pub name: String,
    pub warnings: Vec<diag::Diagnostic>,
}

/// [`build_deferred`] for what reads only the rules (`sockc diff` without the plan):
/// the same errors and warnings but those only lowering finds, in a fraction of the
/// time and memory.
pub fn analyze_deferred(file: &Path, lints: Lints) -> Result<AnalyzedFile, ExitCode> {
    let CheckedFile {
        checked,
        src,
        name,
        opts,
    } = check_deferred(file, lints)?;
    let (analyzed, warnings) = driver::analyze(checked, &opts);
    Ok(AnalyzedFile {
        analyzed,
        src,
        name,
        warnings,
    })
}

/// The error for the file's `residual`, when it is not one sockc installs.
fn residual_refused(m: &sockc_compiler::ir::Module) -> Option<diag::Diagnostic> {
    m.residual.as_ref().and_then(super::residual::check)
}

/// Prints the diagnostics of a file with errors; exit code 1.
fn rule_errors(diags: &[diag::Diagnostic], name: &str, src: &str) -> ExitCode {
    print_diagnostics(diags, name, src);
    let errors = diags
        .iter()
        .filter(|d| d.severity == diag::Severity::Error)
        .count();
    json::record_error(&format!("{name}: {errors} errors in the rules"));
    ExitCode::from(1)
}

/// The options `apply` compiles with (no optimizer lints), `file` sets and the
/// residual looked up from `base_dir`.
fn apply_options(base_dir: &Path) -> driver::Options {
    let settings = settings::settings();
    driver::Options {
        sema: sema::Options {
            base_dir: Some(base_dir.to_path_buf()),
            set_dirs: settings.set_dirs.clone(),
            limits: settings.limits,
            ..Default::default()
        },
        opt: settings.opt,
        lints: Lints::Skip,
    }
}

/// Checks a rule file's text as `sockc check` does, up to sema (its residual
/// included), its files looked up from `base_dir`: the diagnostics when it has
/// errors (`sockc import` checks what it writes).
pub fn check_text(src: &str, base_dir: &Path) -> Result<(), Vec<diag::Diagnostic>> {
    let checked = driver::check(src, &apply_options(base_dir))?;
    match residual_refused(&checked.module) {
        Some(d) => Err(vec![d]),
        None => Ok(()),
    }
}

/// Compiles a rule file's text as `apply` does (without the optimizer's lints), its
/// `file` sets looked up from `base_dir`, and hands every diagnostic back unprinted
/// (`sockc watch` reports them in its status file).
pub fn compile_text(src: &str, base_dir: &Path) -> (Option<Compiled>, Vec<diag::Diagnostic>) {
    let (compiled, mut diags) = driver::compile(src, &apply_options(base_dir));
    match compiled.as_ref().and_then(|c| residual_refused(&c.module)) {
        Some(d) => {
            diags.push(d);
            (None, diags)
        }
        None => (compiled, diags),
    }
}
