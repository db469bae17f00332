//! `sockc confirm NAME`: keep a change applied with `apply --confirm`. Until it runs,
//! the change is rolled back at its deadline (by the watcher the apply started, or by
//! the next sockc command); once it runs, the change stays and its record is gone.
//!
//! Invariant: the answer says what is true after the command, under the store's lock:
//! `confirmed` (the change stays), `rolled-back` (it was rolled back, now or before:
//! exit 3, with the reason), or `none` (nothing was pending; exit 1 when nothing is
//! installed under the name either).

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use sockc_runtime::{error_chain, store::pending::Pending};

use crate::shared::stderr::errln;
use crate::shared::{
    confirmation::{self, Settled},
    json::{self, sockc_error},
    privileges,
    stdout::outln,
    store::{check_name, fail, open_for, Target},
    time,
};

#[derive(Args)]
pub struct ConfirmArgs {
    /// the install whose pending change to keep
    #[arg(value_name = "NAME")]
    pub install: String,
    #[command(flatten)]
    pub target: Target,
    /// print the outcome as JSON on stdout (sockc.confirm/1, see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
}

pub fn run(args: &ConfirmArgs) -> ExitCode {
    let name = args.install.as_str();
    if let Err(code) = check_name(name) {
        return code;
    }
    if args.target.name.as_deref().is_some_and(|n| n != name) {
        sockc_error!("--name and NAME name two installs: give one");
        return ExitCode::from(2);
    }
    // Confirming after the deadline rolls back instead: the same capabilities as apply.
    let store = match open_for("confirm", privileges::INSTALL, &args.target) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let recovered = match confirmation::settle(&store, name, None) {
        Ok(s) => {
            confirmation::say_recovered(name, &s.recovered);
            if let Settled::RolledBack(r) = s.settled {
                errln!("sockc: {name}: {}", confirmation::rolled_back_words(&r));
            }
            s.recovered
        }
        Err(why) => {
            sockc_error!("{name}: the change could not be rolled back at its deadline: {why}");
            return ExitCode::from(3);
        }
    };
    let records = store.pending();
    let record = match records.read(name) {
        Ok(r) => r,
        Err(e) => {
            sockc_error!("{name}: {}", error_chain(&e));
            return ExitCode::from(3);
        }
    };
    let generation = match store.manifest(name) {
        Ok(m) => m.map(|m| m.generation),
        Err(e) => return fail(e.into()),
    };
    match record {
        Some(p) if p.is_pending() => {
            if let Err(e) = records.remove(name) {
                sockc_error!("{name}: {}", error_chain(&e));
                return ExitCode::from(3);
            }
            say(args, (name, &recovered), "confirmed", generation, None);
            ExitCode::SUCCESS
        }
        Some(p) => {
            say(
                args,
                (name, &recovered),
                "rolled-back",
                generation,
                Some(&p),
            );
            ExitCode::from(3)
        }
        None => {
            say(args, (name, &recovered), "none", generation, None);
            ExitCode::from(if generation.is_some() { 0 } else { 1 })
        }
    }
}

/// The outcome, as text or as the `sockc.confirm/1` document; `recovered` is what
/// this command's recovery did (said on stderr already), to which the JSON adds what
/// the rollback that ended the change did before it, when that was earlier.
fn say(
    args: &ConfirmArgs,
    (name, recovered): (&str, &[String]),
    state: &str,
    generation: Option<u64>,
    p: Option<&Pending>,
) {
    let rolled = p.and_then(|p| p.rolled_back.as_ref());
    if args.json {
        let mut all = recovered.to_vec();
        if let Some(r) = rolled {
            confirmation::add_recovered(&mut all, &r.recovered);
        }
        json::emit(json!({
            "name": name,
            "state": state,
            "generation": generation,
            "reason": rolled.map(|r| r.reason.as_str()),
            "at": rolled.map(|r| time::rfc3339(r.at_unix)),
            "rolled_back_to": rolled.map(|r| r.generation),
            "recovered": all,
            "stayed": rolled.and_then(|r| r.stayed.as_deref()),
        }));
        return;
    }
    let text = match (state, rolled) {
        ("confirmed", _) => format!(
            "{name}: confirmed generation {}; it stays installed",
            generation.unwrap_or(0)
        ),
        (_, Some(r)) => {
            let before = if r.recovered.is_empty() {
                String::new()
            } else {
                format!("; before it: {}", r.recovered.join("; "))
            };
            sockc_error!(
                "{name}: too late: the change was rolled back {} ({}){before}{}",
                time::local_time(r.at_unix),
                r.reason,
                confirmation::stayed_words(r)
            );
            return;
        }
        _ if generation.is_some() => format!("{name}: nothing is pending confirmation"),
        _ => {
            sockc_error!(
                "{name}: nothing is installed under that name, and nothing is pending confirmation"
            );
            return;
        }
    };
    outln!("{text}");
}
