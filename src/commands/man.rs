//! `sockc man [--dir DIR]`: sockc(1) on stdout, or one page per command in DIR
//! (`sockc.1`, `sockc-apply.1`, ...), generated from the same command definition the
//! parser uses (handed in by `main`).
//!
//! Invariant: each page is written whole or not at all (a new file renamed over it).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Command};

use crate::shared::stderr::errln;
use crate::shared::{settings::quiet, stdout};

#[derive(Args)]
pub struct ManArgs {
    /// write sockc.1 and one sockc-COMMAND.1 per command into this directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The man pages of `cmd`, the whole command line.
pub fn run(args: &ManArgs, cmd: Command) -> ExitCode {
    let Some(dir) = &args.dir else {
        let mut out = Vec::new();
        if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
            errln!("sockc: cannot render the man page: {e}");
            return ExitCode::from(1);
        }
        stdout::bytes(&out);
        return ExitCode::SUCCESS;
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        errln!("sockc: cannot create {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    for (file, page) in pages(cmd) {
        let path = dir.join(&file);
        if let Err(e) = write_page(page, &path) {
            errln!("sockc: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
        if !quiet() {
            errln!("wrote {}", path.display());
        }
    }
    ExitCode::SUCCESS
}

/// `sockc.1` and one `sockc-COMMAND.1` per command (`help` left out).
fn pages(cmd: Command) -> Vec<(String, Command)> {
    let mut pages = vec![("sockc.1".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("sockc-{}", sub.get_name());
        pages.push((
            format!("{name}.1"),
            sub.clone().name(name).version(env!("CARGO_PKG_VERSION")),
        ));
    }
    pages
}

/// Renders `page` and writes it to `path` (replaced whole).
fn write_page(page: Command, path: &Path) -> Result<(), sockc_compiler::output::OutputError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(sockc_compiler::output::OutputError::Io)?;
    sockc_compiler::output::replace_file(path, &out)
}
