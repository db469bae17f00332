//! `sockc import`: a netfilter ruleset (iptables-save, nft text, nft JSON) as a rule
//! file, through `sockc-import`, with the per-rule report on stderr (and as JSON with
//! `--report-json`).
//!
//! Exit codes, as every command's: 0 when the rule file was written (rules that are
//! not exact are in it as comments with their reason, and in the report as warnings),
//! 1 when the input cannot be parsed (shown like a rule file's syntax error, at its
//! line and column) or, with `--strict`, when any rule is approximate or unsupported
//! (the files are still written), 2 for usage and I/O errors; an import's error ends
//! with its code's exit code in the catalogue. Invariant: the output
//! files are each written whole or not at all (beside the target, then renamed).

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
    /// exit 1 when any rule is approximate or unsupported (the files are still
    /// written)
    #[arg(long)]
    pub strict: bool,
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
    };
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
    if let Err(code) = write_outputs(args, &imported) {
        return code;
    }
    let s = imported.report.summary;
    // Freeing a large import one allocation at a time only delays the exit.
    std::mem::forget(imported);
    if args.strict && s.approximate + s.unsupported > 0 {
        sockc_error!(
            "--strict: {} rules are not exact",
            s.approximate + s.unsupported
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
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
        "{name}: {} rules: {} exact, {} approximate, {} unsupported",
        r.rules.len(),
        r.summary.exact,
        r.summary.approximate,
        r.summary.unsupported
    );
}

/// The rule file (`-o`, or stdout) and the JSON report.
fn write_outputs(args: &ImportArgs, imported: &Import) -> Result<(), ExitCode> {
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
    Ok(())
}
