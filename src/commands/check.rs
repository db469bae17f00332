//! `sockc check FILE`: parse and check a rule file and print its diagnostics, writing
//! nothing; with `--verify` (root) also load every program through the kernel
//! verifier, without attaching.
//!
//! Invariant: a file that passes prints `FILE: ok` on stderr (none under `-q`) or
//! `{"ok": true}` under `--json`; a verifier refusal is exit 3, its whole log written
//! to `--verifier-log` when given.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Args;
use serde_json::{json, Value};
use sockc_compiler::Compiled;

use crate::shared::stderr::errln;
use crate::shared::{
    build::build,
    input::{is_stdin, shown, STDIN_NAME},
    json::{self, sockc_error},
    settings::quiet,
};

#[derive(Args)]
pub struct CheckArgs {
    /// the rule file (`-` reads standard input)
    pub file: PathBuf,
    /// also load every program through the kernel verifier (root), without attaching
    #[arg(long)]
    pub verify: bool,
    /// with --verify: when the verifier refuses a program, write its whole log here
    /// (the message shows its reason and last lines)
    #[arg(long, value_name = "FILE", requires = "verify")]
    pub verifier_log: Option<PathBuf>,
    /// print diagnostics as JSON on stdout
    #[arg(short, long)]
    pub json: bool,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let c = match build(&args.file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let verified = if args.verify {
        match verify(&c, args) {
            Ok(list) => Some(list),
            Err(code) => return code,
        }
    } else {
        None
    };
    let name = if is_stdin(&args.file) {
        STDIN_NAME.to_string()
    } else {
        shown(&args.file)
    };
    if args.json {
        json::emit(json!({ "file": name, "ok": true, "verified": verified }));
    } else if !quiet() {
        errln!("{name}: ok");
    }
    ExitCode::SUCCESS
}

/// Loads every program of `c` through the verifier, saying what each cost; the list
/// for `--json`. A refusal is exit 3, with the whole log in `--verifier-log`.
fn verify(c: &Compiled, args: &CheckArgs) -> Result<Vec<Value>, ExitCode> {
    let elf = c.to_elf().map_err(|e| {
        sockc_error!("internal error writing the object: {e}");
        ExitCode::from(1)
    })?;
    let obj = match sockc_runtime::LoadedObject::load(&elf) {
        Ok(obj) => obj,
        Err(e) => {
            sockc_error!("{}", sockc_runtime::error_chain(&e));
            if let (Some(path), Some(log)) = (&args.verifier_log, e.verifier_log()) {
                write_verifier_log(path, log);
            }
            return Err(ExitCode::from(3));
        }
    };
    let mut list = Vec::new();
    for p in obj.programs() {
        if !args.json && !quiet() {
            errln!(
                "verified {} ({} insns, {} processed by the verifier, {:.1} ms)",
                p.symbol,
                p.xlated_insns.unwrap_or(0),
                p.verified_insns.unwrap_or(0),
                p.load_time.as_secs_f64() * 1e3
            );
        }
        list.push(json!({
            "symbol": p.symbol, "hook": p.hook,
            "xlated_insns": p.xlated_insns, "verified_insns": p.verified_insns,
            "load_ms": p.load_time.as_secs_f64() * 1e3,
        }));
    }
    Ok(list)
}

/// The verifier's whole log, in `path` (`--verifier-log`); says where it went.
fn write_verifier_log(path: &Path, log: &str) {
    match sockc_compiler::output::replace_file(path, log.as_bytes()) {
        Ok(()) => errln!("sockc: the whole verifier log is in {}", shown(path)),
        Err(w) => errln!("sockc: cannot write {}: {w}", shown(path)),
    }
}
