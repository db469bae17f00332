//! Runs an import by hand until `sockc import` is wired into the CLI:
//! `sockc-import FILE|- [--from iptables|nft|nft-json] [--hook netfilter|xdp|tc]
//! [--interface IFACE] [-o OUT.sk] [--report-json REPORT.json] [-q]`.
//! Exit codes as the table: 0 written, 1 input that cannot be parsed, 2 usage
//! or I/O error.

use std::{io::Read, path::Path, process::ExitCode};

use sockc_compiler::{input, limits::Limit};
use sockc_import::{import, Format, Hook, ImportError, Options};

// As the sockc binary: large imports allocate many small vectors.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage(msg: &str) -> ExitCode {
    eprintln!("sockc-import: {msg}");
    eprintln!("usage: sockc-import FILE|- [--from iptables|nft|nft-json] [--hook netfilter|xdp|tc] [--interface IFACE] [-o OUT.sk] [--report-json REPORT.json] [-q]");
    ExitCode::from(2)
}

/// What the command line asks for.
struct Args {
    file: String,
    out: Option<String>,
    report_json: Option<String>,
    quiet: bool,
    opts: Options,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (mut file, mut out, mut report_json, mut quiet) = (None, None, None, false);
    let mut opts = Options::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let mut value = || {
            i += 1;
            args.get(i).cloned()
        };
        match a {
            "--from" => {
                opts.from = Some(match value().as_deref() {
                    Some("iptables") => Format::Iptables,
                    Some("nft") => Format::Nft,
                    Some("nft-json") => Format::NftJson,
                    _ => return Err("--from takes iptables, nft or nft-json".into()),
                })
            }
            "--hook" => {
                opts.hook = match value().as_deref() {
                    Some("netfilter") => Hook::Netfilter,
                    Some("xdp") => Hook::Xdp,
                    Some("tc") => Hook::Tc,
                    _ => return Err("--hook takes netfilter, xdp or tc".into()),
                }
            }
            "--interface" => opts.interface = value(),
            "-o" => out = value(),
            "--report-json" => report_json = value(),
            "-q" => quiet = true,
            _ if file.is_none() => file = Some(a.to_string()),
            _ => return Err(format!("unexpected argument `{a}`")),
        }
        i += 1;
    }
    let file = file.ok_or("name the ruleset file, or - for standard input")?;
    Ok(Args {
        file,
        out,
        report_json,
        quiet,
        opts,
    })
}

/// The input's text, within the rule-file size limit.
fn read_input(file: &str) -> Result<String, String> {
    let max = Limit::SourceBytes.default_value();
    let bytes = if file == "-" {
        let mut b = Vec::new();
        match std::io::stdin().take(max + 1).read_to_end(&mut b) {
            Ok(_) if b.len() as u64 <= max => b,
            Ok(_) => return Err(format!("standard input is larger than {max} bytes")),
            Err(e) => return Err(format!("cannot read standard input: {e}")),
        }
    } else {
        input::read_bounded(Path::new(file), Limit::SourceBytes, max)
            .map_err(|e| format!("cannot read {file}: {e}"))?
    };
    input::utf8(bytes).map_err(|e| format!("{file}: {e}"))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => return usage(&e),
    };
    let text = match read_input(&args.file) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    let file = args.file.clone();
    args.opts.source_name = Some(file.clone());
    let imported = match import(&text, &args.opts) {
        Ok(x) => x,
        Err(ImportError::Syntax(d)) => {
            for x in d {
                eprintln!("{file}:{x}");
            }
            return ExitCode::from(1);
        }
        Err(e) => return usage(&e.to_string()),
    };
    let r = &imported.report;
    if !args.quiet {
        for rule in r
            .rules
            .iter()
            .filter(|x| x.status != sockc_import::Status::Exact)
        {
            eprintln!(
                "{file}:{}: {}: {}",
                rule.line,
                rule.status.name(),
                rule.reason
            );
        }
        for (path, how) in &imported.set_files {
            eprintln!("set file {path}: {how}");
        }
        for (what, n) in r.needs() {
            eprintln!("{n} rule(s) need {what}");
        }
    }
    eprintln!(
        "{} rules: {} exact, {} approximate, {} unsupported",
        r.rules.len(),
        r.summary.exact,
        r.summary.approximate,
        r.summary.unsupported
    );
    let written = match &args.out {
        Some(p) => sockc_compiler::output::replace_file(p.as_ref(), imported.sk_text.as_bytes()),
        None => {
            print!("{}", imported.sk_text);
            Ok(())
        }
    };
    if let Err(e) = written {
        return usage(&format!("cannot write the rule file: {e}"));
    }
    if let Some(p) = &args.report_json {
        if let Err(e) = sockc_compiler::output::replace_file(p.as_ref(), r.to_json().as_bytes()) {
            return usage(&format!("cannot write {p}: {e}"));
        }
    }
    // Freeing a large import one allocation at a time only delays the exit.
    std::mem::forget(imported);
    ExitCode::SUCCESS
}
