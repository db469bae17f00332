//! What `sockc register` and `sockc unregister` share: the install that declares the
//! socket they name.
//!
//! Invariant: without `--name` the install is the only one that declares the socket;
//! none is exit 1, several exit 2. A socket that does not fit its declaration, or is
//! not there, is the user's problem (exit 1, `sockc::register-socket`: the store's
//! [`fail`]), as are unknown names.

use std::process::ExitCode;

use sockc_runtime::{install, store::Store};

use super::{
    json::sockc_error,
    privileges,
    store::{check_name, fail, open_store, Target},
};

/// What `command` (register, unregister) acts on, once the caller may: the store and
/// the install ([`install_of`]).
pub fn store_and_install(
    command: &str,
    target: &Target,
    socket: &str,
) -> Result<(Store, String), ExitCode> {
    privileges::require(command, privileges::INSTALL)?;
    let store = open_store(target)?;
    let name = install_of(target, &store, socket)?;
    super::confirmation::settle_and_say(&store, Some(&name));
    Ok((store, name))
}

/// The install to act on: `--name`, or the only install that declares `socket`.
fn install_of(target: &Target, store: &Store, socket: &str) -> Result<String, ExitCode> {
    if let Some(n) = &target.name {
        check_name(n)?;
        return Ok(n.clone());
    }
    let names = install::installed_names(store).map_err(fail)?;
    let declaring: Vec<String> = names
        .into_iter()
        .filter(|n| {
            store
                .manifest(n)
                .ok()
                .flatten()
                .is_some_and(|m| m.snapshot.sockets.iter().any(|s| s.name == socket))
        })
        .collect();
    match declaring.as_slice() {
        [one] => Ok(one.clone()),
        [] => {
            sockc_error!("no install declares a socket `{socket}`");
            Err(ExitCode::from(1))
        }
        many => {
            sockc_error!(
                "several installs declare a socket `{socket}` ({}); pick one with --name",
                many.join(", ")
            );
            Err(ExitCode::from(2))
        }
    }
}
