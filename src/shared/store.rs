//! The install a command acts on: the `--name`, `--bpffs` and `--lock-timeout` flags
//! every installing or reading command shares ([`Target`]), the store they open, and
//! how an install's errors exit.
//!
//! Invariant: the store is opened locked (the lock only root can take, waited for at
//! most `--lock-timeout`), and an install name is checked before it names a
//! directory. Exit codes: 1 nothing installed, 2 a bad name or an empty rule file, 3
//! kernel, permission or lock failures (an install's error: its catalogue code's).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use sockc_runtime::{
    error_chain,
    install::{self, InstallError},
    store::{LockWait, Store},
};

use super::{json::sockc_error, privileges, settings};

#[derive(Args)]
pub struct Target {
    /// the install's name: its pins live in BPFFS/sockc/NAME/ (each command says its
    /// default)
    #[arg(long)]
    pub name: Option<String>,
    /// where bpffs is mounted
    #[arg(long, default_value = "/sys/fs/bpf", value_name = "PATH")]
    pub bpffs: PathBuf,
    /// how long to wait for another sockc that holds the lock, in seconds
    #[arg(long, default_value = "60", value_name = "SECS")]
    pub lock_timeout: u64,
}

/// Whether `n` can name an install (and so a directory under BPFFS/sockc).
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Refuses (exit 2) a name that cannot be an install's.
pub fn check_name(n: &str) -> Result<(), ExitCode> {
    if valid_name(n) {
        Ok(())
    } else {
        sockc_error!("`{n}` is not a valid name (1-64 of a-z A-Z 0-9 _ -)");
        Err(ExitCode::from(2))
    }
}

/// [`check_name`] of `--name` when it was given.
pub fn check_given_name(target: &Target) -> Result<(), ExitCode> {
    target.name.as_deref().map_or(Ok(()), check_name)
}

/// Prints the error with its causes and exits with its code's exit code in the
/// catalogue ([`InstallError::code`]): "nothing installed" and a socket `register`
/// cannot take are the user's (1), an empty rule file and a hook another install holds
/// too (2), the rest kernel, permission or lock failures (3).
pub fn fail(e: InstallError) -> ExitCode {
    sockc_error!("{}", error_chain(&e));
    ExitCode::from(e.code().exit_code())
}

/// The store under `target`, locked.
pub fn open_store(target: &Target) -> Result<Store, ExitCode> {
    let wait = if settings::quiet() {
        LockWait::Quiet
    } else {
        LockWait::Tell
    };
    Store::open_with(
        &target.bpffs,
        Duration::from_secs(target.lock_timeout),
        wait,
    )
    .map_err(|e| fail(InstallError::Store(e)))
}

/// The store for `command`, once the process has the capabilities it `needs` and
/// `--name`, if given, is a name.
pub fn open_for(
    command: &str,
    needs: &[caps::Capability],
    target: &Target,
) -> Result<Store, ExitCode> {
    privileges::require(command, needs)?;
    check_given_name(target)?;
    open_store(target)
}

/// The name to act on: the given one, or the only install there is.
pub fn resolve_name(target: &Target, store: &Store) -> Result<String, ExitCode> {
    if let Some(n) = &target.name {
        check_name(n)?;
        return Ok(n.clone());
    }
    let all = install::installed_names(store).map_err(fail)?;
    match all.as_slice() {
        [one] => Ok(one.clone()),
        [] => {
            sockc_error!("nothing is installed");
            Err(ExitCode::from(1))
        }
        many => {
            sockc_error!(
                "several installs ({}); pick one with --name",
                many.join(", ")
            );
            Err(ExitCode::from(2))
        }
    }
}
