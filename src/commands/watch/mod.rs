//! `sockc watch DIR`: the node agent a Kubernetes DaemonSet runs (docs/deploy.md,
//! "Kubernetes"). It applies every `NAME.sk` of DIR as the install NAME whenever the
//! directory changes (the kubelet's `..data` swap of a ConfigMap volume, or a file
//! written), in process through the same steps as `sockc apply`; with `--confirm`
//! each round's changes are commit-confirmed changes (as `apply --confirm` makes
//! them), kept only when the `--probe`s held for the window and rolled back otherwise
//! — by the change's own watcher at its deadline when the agent is gone ([`confirm`]). It reports per node: one line per event on
//! stderr, a status file (`sockc.watch/1`), a readiness file and a termination
//! message ([`report`]).
//!
//! Invariant: the node never loses its last good rules to the agent: a file that
//! does not compile is refused and its install keeps what it runs, a change whose
//! probe fails is put back, an install whose file left the directory is kept unless
//! `--prune`. SIGTERM or SIGINT end the agent between two steps, exit 0 ([`events`]).
//! Exit codes of `--once`: 0 every file applied, 1 a file refused, 3 an apply failed
//! or was rolled back; 2 and 3 also when the agent cannot start.

mod confirm;
mod dir;
mod events;
mod installer;
mod report;
mod round;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use sockc_runtime::{install::InstallError, netns};

use crate::shared::{
    input::shown, installing::netns_path, json::sockc_error, privileges, store::fail,
};
use report::{log, Outcome};

use crate::shared::probe::Probe;

#[derive(Args)]
pub struct WatchArgs {
    /// the directory of rule files: each NAME.sk is applied as the install NAME (set
    /// files it names are read from the same directory); a ConfigMap volume is read
    /// where its `..data` link leads
    pub dir: PathBuf,
    /// keep a round's changes only when every --probe held for this long (`90s`,
    /// `2m`, `500ms`, or seconds); otherwise put back the rules each install ran before
    /// (each change is armed as `apply --confirm` arms it, with a deadline 5 s past the
    /// window: killed in the window, the agent confirms nothing and the rules go back)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub confirm: Option<Duration>,
    /// during the --confirm window, a TCP connection to HOST:PORT must be accepted
    /// (`tcp:10.0.0.1:443`, `tcp:[::1]:22`; repeatable), from the agent's network
    /// namespace
    #[arg(long, value_name = "tcp:HOST:PORT", requires = "confirm")]
    pub probe: Vec<Probe>,
    /// write the last result of every install here after every round (JSON,
    /// sockc.watch/1; replaced whole)
    #[arg(long, value_name = "FILE")]
    pub status_file: Option<PathBuf>,
    /// create this file once every rule file has good rules installed, and remove it
    /// while one has none (a readiness probe tests it)
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// write one line per install here after every round, written in place and at
    /// most 4096 bytes (Kubernetes' /dev/termination-log)
    #[arg(long, value_name = "FILE")]
    pub termination_log: Option<PathBuf>,
    /// one round, then exit (0 every file applied, 1 one refused, 3 one failed or
    /// rolled back)
    #[arg(long)]
    pub once: bool,
    /// flush an install applied from DIR when its file leaves DIR (by default it is
    /// kept, and reported)
    #[arg(long)]
    pub prune: bool,
    /// how often DIR is read when no change was signalled, in seconds (inotify
    /// signals changes at once; this is the fallback)
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub interval: u64,
    /// apply in this network namespace (and probe from it): a path such as
    /// /run/netns/NAME, or NAME
    #[arg(long, value_name = "PATH")]
    pub netns: Option<String>,
    /// where bpffs is mounted
    #[arg(long, default_value = "/sys/fs/bpf", value_name = "PATH")]
    pub bpffs: PathBuf,
    /// how long to wait for another sockc that holds the lock, in seconds
    #[arg(long, default_value = "60", value_name = "SECS")]
    pub lock_timeout: u64,
}

/// `90s`, `2m`, `1h`, `500ms`, or a number of seconds; more than zero.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: a duration is a number with s, m, h or ms"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("`{s}`: the unit is s, m, h or ms")),
    };
    if d.is_zero() {
        return Err(format!("`{s}`: a duration must be more than zero"));
    }
    // As `apply --confirm`'s: a deadline a day away is no confirmation (and one past
    // the clock's range would overflow).
    if d > crate::shared::confirmation::WINDOW_BOUNDS.1 {
        return Err(format!("`{s}`: a confirmation window is at most 24 hours"));
    }
    Ok(d)
}

/// `sockc watch`.
pub fn run(args: &WatchArgs) -> ExitCode {
    if let Err(code) = privileges::require("watch", privileges::INSTALL) {
        return code;
    }
    // Its components again: no trailing `/` or `.`, which the files' paths (recorded in
    // the manifests) and the prefix that tells this directory's installs (`round.rs`)
    // would carry twice, so `DIR/` never found an install whose file left it.
    let dir = match std::path::absolute(&args.dir).map(|d| d.components().collect::<PathBuf>()) {
        Ok(d) if d.is_dir() => d,
        _ => {
            sockc_error!("{} is not a directory", shown(&args.dir));
            return ExitCode::from(2);
        }
    };
    let netns = args.netns.as_deref().map(netns_path);
    if let Some(ns) = &netns {
        if let Err(source) = netns::enter_for_good(ns) {
            return fail(InstallError::Netns {
                path: ns.clone(),
                source,
            });
        }
    }
    let (mut events, no_inotify) = match events::Events::new(&dir) {
        Ok(e) => e,
        Err(e) => {
            sockc_error!("cannot set up signal handling: {e}");
            return ExitCode::from(3);
        }
    };
    // After the signals are blocked (the worker inherits the mask) and the namespace
    // is the agent's for good: the worker lives here, never in an install's namespace
    // a rollback enters, which it would hold alive for the agent's life.
    sockc_compiler::beside::start_worker_here();
    if let Some(why) = no_inotify {
        log(&format!(
            "cannot watch {} ({why}); reading it every {}s",
            dir.display(),
            args.interval
        ));
    }
    let netns_text = netns.map(|p| p.display().to_string());
    let mut agent = round::Agent::new(args, dir, netns_text);
    let interval = Duration::from_secs(args.interval);
    loop {
        if let Some(sig) = agent.round(&mut events) {
            return stop(sig);
        }
        if args.once {
            return once_code(&agent);
        }
        if let events::Wake::Stop(sig) = events.wait(interval) {
            return stop(sig);
        }
    }
}

fn stop(signal: &str) -> ExitCode {
    log(&format!("{signal}: stopped; the installed rules stay"));
    ExitCode::SUCCESS
}

/// The exit code of `--once`.
fn once_code(agent: &round::Agent) -> ExitCode {
    let outcomes: Vec<&Outcome> = agent.report.entries.values().map(|e| &e.outcome).collect();
    if outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Failed | Outcome::RolledBack))
    {
        ExitCode::from(3)
    } else if outcomes.contains(&&Outcome::Refused) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        for bad in [
            "",
            "0s",
            "s",
            "5x",
            "-1",
            "1.5s",
            "25h",
            "18446744073709551615s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
