//! What the clap derive does not say by itself: the `-O` flag on exactly the commands
//! that compile, help text that depends on the command (`--name`'s default), the
//! limits listed once, shell completions and the man page (both generated from the
//! same [`command`] the parser uses).

use std::{path::Path, process::ExitCode};

use clap::{Arg, ArgMatches, Command, CommandFactory};

/// The commands that compile a rule file, and so take `-O`.
pub const COMPILING: &[&str] = &["compile", "check", "test", "apply", "diff"];

fn opt_arg() -> Arg {
    Arg::new("opt")
        .short('O')
        .value_name("LEVEL")
        .default_value("2")
        .value_parser(["0", "2"])
        .help(
            "Optimization level: 0 lowers each rule on its own (the baseline), 2 runs all \
             optimizer passes",
        )
}

/// The full command line: the derive's [`crate::Cli`] plus `-O` on the commands that
/// compile and the per-command help of `--name`. Parsing, completions and the man page
/// all use this one definition.
pub fn command() -> Command {
    let mut cmd = crate::Cli::command();
    for name in COMPILING {
        cmd = cmd.mut_subcommand(*name, |c| c.arg(opt_arg()));
    }
    let name_help = [
        (
            "status",
            "the install to show (default: every install under BPFFS/sockc)",
        ),
        (
            "stats",
            "the install whose counters to show (default: every install under BPFFS/sockc)",
        ),
        (
            "repair",
            "the install to repair (default: every install under BPFFS/sockc)",
        ),
        (
            "trace",
            "the install to trace (default: every install with a rule that logs)",
        ),
        (
            "flush",
            "the install to remove (default: the only install there is; refused when there \
             are several)",
        ),
    ];
    for (sub, help) in name_help {
        cmd = cmd.mut_subcommand(sub, |c| c.mut_arg("name", |a| a.help(help)));
    }
    limits_listed_once(cmd)
}

/// The ids of the global `--max-*` limits (`crate::Bounds`).
pub const LIMITS: [&str; 5] = [
    "max_source_bytes",
    "max_set_file_bytes",
    "max_set_elements",
    "max_diagnostics",
    "max_packets_file_bytes",
];

/// Every command takes the limits, but only the top-level help (and sockc.1) lists
/// them: each subcommand gets hidden copies of them (the same flags and environment
/// variables) and names them in one line of its help instead of repeating ten lines of
/// flags. `crate::Bounds::limits` takes a value from either level.
fn limits_listed_once(mut cmd: Command) -> Command {
    let copies: Vec<Arg> = cmd
        .get_arguments()
        .filter(|a| LIMITS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let note = "Limits: --max-source-bytes, --max-set-file-bytes, --max-set-elements, \
                --max-diagnostics, --max-packets-file-bytes (every command takes them; \
                see sockc --help)";
    for name in names {
        cmd = cmd.mut_subcommand(name, |c| c.args(copies.clone()).after_help(note));
    }
    cmd
}

/// The value of a limit given to the subcommand that matched (`limits_listed_once`).
pub fn subcommand_limit(m: &ArgMatches, id: &str) -> Option<u64> {
    let (_, sub) = m.subcommand()?;
    sub.try_get_one::<u64>(id).ok().flatten().copied()
}

/// The `-O` level given to the subcommand that matched (2 when it takes none).
pub fn opt_level(m: &ArgMatches) -> sockc_compiler::opt::OptLevel {
    let level = m
        .subcommand()
        .and_then(|(_, sub)| sub.try_get_one::<String>("opt").ok().flatten().cloned());
    match level.as_deref() {
        Some("0") => sockc_compiler::opt::OptLevel::O0,
        _ => sockc_compiler::opt::OptLevel::O2,
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// `sockc completions SHELL`: the completion script on stdout.
pub fn run_completions(shell: Shell) -> ExitCode {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Elvish => S::Elvish,
        Shell::Powershell => S::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "sockc", &mut out);
    write_stdout(&out)
}

/// `sockc man [--dir DIR]`: sockc(1) on stdout, or one page per command in DIR
/// (`sockc.1`, `sockc-apply.1`, ...).
pub fn run_man(dir: Option<&Path>) -> ExitCode {
    let cmd = command();
    let Some(dir) = dir else {
        let mut out = Vec::new();
        if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
            eprintln!("sockc: cannot render the man page: {e}");
            return ExitCode::from(1);
        }
        return write_stdout(&out);
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("sockc: cannot create {}: {e}", dir.display());
        return ExitCode::from(1);
    }
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
    for (file, page) in pages {
        let mut out = Vec::new();
        let path = dir.join(&file);
        if let Err(e) = clap_mangen::Man::new(page)
            .render(&mut out)
            .map_err(sockc_compiler::output::OutputError::Io)
            .and_then(|_| sockc_compiler::output::replace_file(&path, &out))
        {
            eprintln!("sockc: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
        if !crate::shared::settings::quiet() {
            eprintln!("wrote {}", path.display());
        }
    }
    ExitCode::SUCCESS
}

fn write_stdout(bytes: &[u8]) -> ExitCode {
    crate::shared::stdout::bytes(bytes);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_consistent() {
        command().debug_assert();
    }

    /// Every argument of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        let cmd = command();
        let mut missing = Vec::new();
        let mut walk = vec![cmd];
        while let Some(c) = walk.pop() {
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() {
                    missing.push(format!("{} {id}", c.get_name()));
                }
            }
            walk.extend(c.get_subcommands().cloned());
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
