//! `sockc import`: a netfilter ruleset (iptables-save, nft text, nft JSON) as a rule
//! file, through `sockc-import`, with the per-rule report on stderr (and as JSON with
//! `--report-json`).
//!
//! What sockc's blocks do not run exactly stays in netfilter: the residual, written
//! beside the rule file in the input's own format (`--residual`, or `OUT.residual.EXT`
//! beside `-o OUT.sk`), which the rule file declares and `sockc apply` installs.
//!
//! Exit codes, as every command's: 0 when the files were written and the rule file
//! with its residual decides every packet as the input does (or `--approximate` let
//! sockc run some rules stricter, each listed); 1 when the input cannot be parsed
//! (shown like a rule file's syntax error, at its line and column), when the pair is
//! not exact (no residual could be written, or rules are approximate or unsupported
//! without `--approximate`; the files are still written, for review) or, with
//! `--strict`, when any rule is not exact in sockc, and when the rule file names
//! ipsets whose members must be exported before it checks; 2 for usage and I/O errors (and a
//! rule file over the size limits `check` reads, which they raise); 3 when
//! sockc's own `check` refuses what it wrote (a bug: the rule file is not written); an
//! import's error ends with its code's exit code in the catalogue.
//! Invariant: the output files are each written whole or not at all (beside the
//! target, then renamed), the residual before the rule file that names it.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use clap::ValueEnum;
use sockc_compiler::diag;
use sockc_import::{Format, Hook, Import, ImportError, Options, Status};

use crate::shared::{
    input::{is_stdin, read_rule_text, shown, STDIN_NAME},
    json::{self, sockc_error},
    output::write_replacing,
    progress::Spinner,
    settings::quiet,
    stderr::errln,
};

#[derive(Clone, Copy, ValueEnum)]
pub enum FromArg {
    /// `iptables-save` / `ip6tables-save` output (or both, one after the other)
    Iptables,
    /// `nft list ruleset` output, or an nft script of table blocks
    Nft,
    /// `nft -j list ruleset` output
    NftJson,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum HookArg {
    /// `netfilter HOOK priority N` blocks where the source ran each base chain, one
    /// priority after it (no interface needed; `-i`/`-o` matches are unsupported)
    Netfilter,
    /// `xdp on IFACE`: the prerouting and input chains (forward rules meet the same
    /// packets before routing)
    Xdp,
    /// `tc ingress on IFACE` for the prerouting and input chains, `tc egress on IFACE`
    /// for output and postrouting
    Tc,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// the ruleset (`-` reads standard input)
    pub file: PathBuf,
    /// the input's format; detected from its first significant line when absent
    #[arg(long, value_enum)]
    pub from: Option<FromArg>,
    /// write the rule file here (whole, or not at all) instead of stdout
    #[arg(short, long, value_name = "OUT.sk")]
    pub output: Option<PathBuf>,
    /// also write the per-rule report as JSON here (docs/import.md)
    #[arg(long, value_name = "REPORT.json")]
    pub report_json: Option<PathBuf>,
    /// where the imported chains run [default: netfilter]
    #[arg(long, value_enum)]
    pub hook: Option<HookArg>,
    /// the interface the xdp or tc blocks attach to (required for them)
    #[arg(long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// exit 1 when any rule is not run by sockc exactly: approximate, unsupported or
    /// in the residual (the files are still written)
    #[arg(long)]
    pub strict: bool,
    /// let sockc's blocks run rules they can only approximate (each is listed) instead
    /// of leaving them in netfilter
    #[arg(long)]
    pub approximate: bool,
    /// write the residual (what stays in netfilter) here; without it, with -o OUT.sk,
    /// it goes beside that as OUT.residual.EXT (EXT the input's format: nft, json, rules)
    #[arg(long, value_name = "FILE")]
    pub residual: Option<PathBuf>,
}

pub fn run(args: &ImportArgs) -> ExitCode {
    let name = if is_stdin(&args.file) {
        STDIN_NAME.to_string()
    } else {
        shown(&args.file)
    };
    let text = match read_rule_text(&args.file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let opts = Options {
        from: args.from.map(|f| match f {
            FromArg::Iptables => Format::Iptables,
            FromArg::Nft => Format::Nft,
            FromArg::NftJson => Format::NftJson,
        }),
        hook: args.hook.map_or_else(Hook::default, |h| match h {
            HookArg::Netfilter => Hook::Netfilter,
            HookArg::Xdp => Hook::Xdp,
            HookArg::Tc => Hook::Tc,
        }),
        interface: args.interface.clone(),
        source_name: Some(name.clone()),
        approximate: args.approximate,
        residual_file: None,
    };
    let mut opts = opts;
    let format = opts.from.or_else(|| sockc_import::detect::detect(&text));
    let residual_path = residual_path(args, format);
    opts.residual_file = residual_path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let spinner = Spinner::start(format!("importing {name}"), false);
    let imported = sockc_import::import(&text, &opts);
    drop(spinner);
    let imported = match imported {
        Ok(x) => x,
        Err(e) => {
            match &e {
                ImportError::Syntax(d) => show_input_errors(d, &name, &text),
                ImportError::TooLarge(d) => {
                    show_input_errors(std::slice::from_ref(d), &name, &text)
                }
                ImportError::Usage(m) => sockc_error!("{name}: {m}"),
            }
            return ExitCode::from(e.code().exit_code());
        }
    };
    print_report(&imported, &name, &opts, args.hook.is_none());
    let sets_pending = match write_outputs(args, &imported, residual_path.as_deref()) {
        Ok(pending) => pending,
        Err(code) => return code,
    };
    let s = imported.report.summary;
    let mut inexact = imported.inexact.clone();
    if s.unsupported > 0 && !args.approximate {
        inexact.push(format!(
            "{} rules are left out (unsupported): the rule file does not decide as the input does",
            s.unsupported
        ));
    }
    // Freeing a large import one allocation at a time only delays the exit.
    std::mem::forget(imported);
    let not_exact: Vec<&String> = inexact
        .iter()
        .filter(|w| !(args.approximate && w.contains("--approximate")))
        .collect();
    if !not_exact.is_empty() {
        for w in &not_exact {
            sockc_error!("not exact: {w}");
        }
        return ExitCode::from(1);
    }
    if sets_pending {
        sockc_error!(
            "the rule file checks once the set files it names are exported (the commands \
             above, into its directory): until then `sockc check` refuses it"
        );
        return ExitCode::from(1);
    }
    let in_sockc = s.approximate + s.unsupported + s.residual;
    if args.strict && in_sockc > 0 {
        sockc_error!("--strict: {in_sockc} rules are not run by sockc exactly");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Where the residual goes: `--residual`, or beside `-o OUT.sk` as
/// `OUT.residual.EXT` (`None` without either: it cannot be written).
fn residual_path(args: &ImportArgs, format: Option<Format>) -> Option<PathBuf> {
    if let Some(p) = &args.residual {
        return Some(p.clone());
    }
    let out = args.output.as_ref()?;
    let name = out.file_name()?.to_string_lossy().into_owned();
    let file = sockc_import::default_residual_file(Some(&name), format?);
    Some(out.with_file_name(file))
}

/// Errors in the input (each with its code: `sockc::syntax`, or
/// `sockc::import-too-large`), rendered as a rule file's are.
fn show_input_errors(errors: &[sockc_import::Diagnostic], name: &str, text: &str) {
    let diags: Vec<diag::Diagnostic> = errors
        .iter()
        .map(sockc_import::Diagnostic::to_compiler)
        .collect();
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!("{}", diag::render(&diags, name, text, color));
    json::record_error(&format!("{name}: the ruleset does not parse"));
}

/// The human report on stderr: every rule that is not exact (`-q`: none), the set
/// files to export, what the language would need, then the summary line. The reasons
/// quote the source, escaped like every line for people (`errln!`).
fn print_report(imported: &Import, name: &str, opts: &Options, default_hook: bool) {
    let r = &imported.report;
    if !quiet() {
        if default_hook {
            errln!(
                "sockc: note: imported for --hook {} (the default{})",
                opts.hook.name(),
                if opts.hook == Hook::Netfilter {
                    ": each base chain at its netfilter hook; --hook xdp or tc for the ingress fast path"
                } else {
                    ""
                }
            );
        }
        for rule in r.rules.iter().filter(|x| x.status != Status::Exact) {
            errln!(
                "{name}:{}:{}: {}: {}",
                rule.line,
                rule.column,
                rule.status.name(),
                rule.reason
            );
        }
        for remark in &r.remarks {
            errln!("sockc: note: {remark}");
        }
        for (path, how) in &imported.set_files {
            errln!("sockc: set file {path}: {how}");
        }
        for (what, n) in r.needs() {
            errln!("sockc: {n} rules need {what}");
        }
    }
    errln!(
        "{name}: {} rules: {} exact, {} in the residual, {} approximate, {} unsupported, {} never run or never match",
        r.rules.len(),
        r.summary.exact,
        r.summary.residual,
        r.summary.approximate,
        r.summary.unsupported,
        r.summary.never
    );
}

/// The residual (first: the rule file names it), the rule file (`-o`, or stdout),
/// checked as `sockc check` would check it, and the JSON report. `Ok(true)`: written,
/// but `check` refuses the rule file until the ipsets it names as set files are
/// exported (their members are not in the input).
fn write_outputs(
    args: &ImportArgs,
    imported: &Import,
    residual: Option<&std::path::Path>,
) -> Result<bool, ExitCode> {
    if let Some(r) = &imported.residual {
        let Some(path) = residual else {
            sockc_error!(
                "part of the ruleset stays in netfilter (the residual): name its file with \
                 --residual FILE, or write the rule file with -o OUT.sk"
            );
            return Err(ExitCode::from(2));
        };
        write_replacing(path, r.text.as_bytes())?;
    }
    let base = match (&args.output, residual) {
        (Some(o), _) => o.parent().map(std::path::Path::to_path_buf),
        (None, Some(r)) => r.parent().map(std::path::Path::to_path_buf),
        (None, None) => None,
    }
    .filter(|p| !p.as_os_str().is_empty())
    .unwrap_or_else(|| PathBuf::from("."));
    let checked = crate::shared::build::check_text(&imported.sk_text, &base);
    let errors = |diags: &[diag::Diagnostic], code: diag::Code| {
        diags
            .iter()
            .filter(|d| d.severity == diag::Severity::Error)
            .all(|d| d.code == code)
    };
    let sets_pending = match &checked {
        Err(d) => !imported.set_files.is_empty() && errors(d, diag::Code::SetFile),
        Ok(()) => false,
    };
    if let (Err(diags), false) = (checked, sets_pending) {
        crate::shared::build::print_diagnostics(
            &diags,
            "<the imported rule file>",
            &imported.sk_text,
        );
        if errors(&diags, diag::Code::TooLarge) {
            // Not a defect of the import: the file is larger than `check` reads by
            // default, and `check` would refuse it the same way.
            sockc_error!(
                "the imported rule file is over the size limits `check` reads (nothing \
                 written): raise them (--max-source-bytes N, SOCKC_MAX_SOURCE_BYTES=N)"
            );
            return Err(ExitCode::from(2));
        }
        sockc_error!("sockc's own check refuses the rule file it imported: this is a bug in the import (nothing written)");
        return Err(ExitCode::from(3));
    }
    match &args.output {
        Some(p) => write_replacing(p, imported.sk_text.as_bytes())?,
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out
                .write_all(imported.sk_text.as_bytes())
                .and_then(|_| out.flush())
            {
                sockc_error!("cannot write the rule file to standard output: {e}");
                return Err(ExitCode::from(2));
            }
        }
    }
    if let Some(p) = &args.report_json {
        let mut json = imported.report.to_json();
        json.push('\n');
        write_replacing(p, json.as_bytes())?;
    }
    Ok(sets_pending)
}
