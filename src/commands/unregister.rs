//! `sockc unregister`: take a socket out of an install's socket map; redirects to it
//! drop (and count) until one is registered again. The CLI face of
//! `sockc_runtime::install::unregister`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use sockc_runtime::install;

use crate::shared::{
    json,
    socket_install::store_and_install,
    stdout::outln,
    store::{fail, Target},
};

#[derive(Args)]
pub struct UnregisterArgs {
    /// the socket's name, as the rule file declares it
    pub socket: String,
    #[command(flatten)]
    pub target: Target,
    /// print the result as JSON on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
}

pub fn run(args: &UnregisterArgs) -> ExitCode {
    let (store, name) = match store_and_install("unregister", &args.target, &args.socket) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match install::unregister(&store, &name, &args.socket) {
        Ok(cookie) if args.json => {
            json::emit(json!({"name": name, "socket": args.socket, "removed_cookie": cookie}));
            ExitCode::SUCCESS
        }
        Ok(Some(cookie)) => {
            outln!(
                "{name}: socket {} unregistered (cookie {cookie}); redirects to it drop now",
                args.socket
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            outln!("{name}: socket {} was not registered", args.socket);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
