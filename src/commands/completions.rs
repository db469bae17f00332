//! `sockc completions SHELL`: the shell completion script on stdout, generated from
//! the same command definition the parser uses (handed in by `main`).

use std::process::ExitCode;

use clap::{Args, Command, ValueEnum};

use crate::shared::stdout;

#[derive(Args)]
pub struct CompletionsArgs {
    /// the shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// The completion script of `cmd`, the whole command line, for `args.shell`.
pub fn run(args: &CompletionsArgs, mut cmd: Command) -> ExitCode {
    use clap_complete::Shell as S;
    let shell = match args.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Elvish => S::Elvish,
        Shell::Powershell => S::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sockc", &mut out);
    stdout::bytes(&out);
    ExitCode::SUCCESS
}
