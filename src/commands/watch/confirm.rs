//! `--confirm` and `--probe`: a round's changes are kept only when every probe held
//! for the whole window; at the first failure (or when the agent is stopped before
//! the window ends) each changed install is put back to the rules it ran before the
//! round, or flushed when it had none.
//!
//! The agent does this itself, in [`confirm_or_roll_back`], the one function to
//! switch to `sockc apply --confirm` and `sockc confirm` once they exist (their
//! deadline then rolls back even when the agent is killed during the window).
//!
//! Invariant: a rollback installs the rules the manifest recorded before the round
//! (read and compiled before the change was applied), through the same steps as any
//! apply: it is atomic and journaled like one.

use std::{
    fmt,
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    str::FromStr,
    time::{Duration, Instant},
};

use serde_json::Value;
use sockc_runtime::{error_chain, install, store::Store};

use super::{
    events::Events,
    installer::Installer,
    report::{log, now, Entry, Outcome, Report},
};
use crate::shared::{installed::Installed, store::open_store};

/// A change a round applied and has not confirmed.
pub struct Pending {
    pub name: String,
    /// What the install ran before (`None`: nothing was installed).
    pub before: Option<Box<Installed>>,
}

/// `--probe tcp:HOST:PORT`: a TCP connection that must be accepted.
#[derive(Clone, Debug)]
pub struct Probe {
    host: String,
    port: u16,
}

impl FromStr for Probe {
    type Err = String;

    fn from_str(s: &str) -> Result<Probe, String> {
        let bad = || format!("`{s}`: a probe is tcp:HOST:PORT (tcp:10.0.0.1:443, tcp:[::1]:22)");
        let rest = s.strip_prefix("tcp:").ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Probe {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "tcp:[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp:{}:{}", self.host, self.port)
        }
    }
}

impl Probe {
    /// Connects within `timeout` (to each address the host has, until one answers).
    fn check(&self, timeout: Duration) -> Result<(), String> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("{self}: {e}"))?
            .collect();
        let mut last = format!("{self}: no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("{self}: {e}"),
            }
        }
        Err(last)
    }
}

/// How a confirm window ended.
enum Window {
    Held,
    Failed(String),
    Stopped(&'static str),
}

/// The commit-confirmed step of a round: probes for the window, then each pending
/// change confirmed, or rolled back with the reason. `Some(signal)` when the agent
/// was stopped during the window (the changes were rolled back first).
pub fn confirm_or_roll_back(
    installer: &Installer,
    report: &mut Report,
    pending: Vec<Pending>,
    (probes, window): (&[Probe], Duration),
    events: &mut Events,
) -> Option<&'static str> {
    let names: Vec<&str> = pending.iter().map(|p| p.name.as_str()).collect();
    let probing: Vec<String> = probes.iter().map(|p| p.to_string()).collect();
    log(&format!(
        "{}: probing {} for {window:?} before confirming",
        names.join(", "),
        if probing.is_empty() {
            "nothing".to_string()
        } else {
            probing.join(", ")
        }
    ));
    match hold(probes, window, events) {
        Window::Held => {
            for n in names {
                log(&format!("{n}: confirmed (every probe held for {window:?})"));
            }
            None
        }
        Window::Failed(why) => {
            roll_back(installer, report, pending, &format!("probe failed: {why}"));
            None
        }
        Window::Stopped(sig) => {
            let why = format!("{sig} came before the change was confirmed");
            roll_back(installer, report, pending, &why);
            Some(sig)
        }
    }
}

/// Runs every probe at once and then every period until `window` has passed.
fn hold(probes: &[Probe], window: Duration, events: &mut Events) -> Window {
    let period = (window / 5).clamp(Duration::from_millis(500), Duration::from_secs(5));
    let timeout = period.min(Duration::from_secs(2));
    let deadline = Instant::now() + window;
    loop {
        for p in probes {
            if let Err(why) = p.check(timeout) {
                return Window::Failed(why);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Window::Held;
        }
        if let Some(sig) = events.sleep(period.min(left)) {
            return Window::Stopped(sig);
        }
    }
}

/// Puts every pending install back as it was before the round, and records it.
fn roll_back(installer: &Installer, report: &mut Report, pending: Vec<Pending>, reason: &str) {
    let store = open_store(&installer.target);
    for p in pending {
        let entry = report.entries.get(&p.name);
        let (file, sha256) =
            entry.map_or_else(Default::default, |e| (e.file.clone(), e.sha256.clone()));
        let (generation, message) = match &store {
            Err(_) => (
                None,
                "could not be rolled back: the store cannot be opened (said above)".to_string(),
            ),
            Ok(store) => put_back(installer, store, &p),
        };
        report.record(Entry {
            name: p.name.clone(),
            file,
            outcome: Outcome::RolledBack,
            message: format!("{message}: {reason}"),
            reason: Some(reason.to_string()),
            diagnostics: Value::Array(Vec::new()),
            generation,
            good: generation.is_some() && p.before.is_some(),
            sha256,
            unix: now(),
        });
    }
}

/// Installs what `p` ran before, or flushes it when it ran nothing: the generation
/// installed after it and what was done.
fn put_back(installer: &Installer, store: &Store, p: &Pending) -> (Option<u64>, String) {
    let done = match &p.before {
        Some(b) => installer
            .install(
                store,
                &p.name,
                &b.compiled,
                &b.text,
                &b.manifest.source_file,
            )
            .map(|r| {
                let now = r.generation.unwrap_or(0);
                let then = b.manifest.generation;
                (
                    r.generation,
                    format!("rolled back to the rules of generation {then} (now generation {now})"),
                )
            }),
        None => install::flush(store, &p.name).map(|_| {
            (
                None,
                "rolled back: flushed (nothing was installed before)".to_string(),
            )
        }),
    };
    done.unwrap_or_else(|e| {
        (
            None,
            format!("could not be rolled back: {}", error_chain(&e)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_parse() {
        let p: Probe = "tcp:10.0.0.1:443".parse().unwrap();
        assert_eq!(p.to_string(), "tcp:10.0.0.1:443");
        let p: Probe = "tcp:[::1]:22".parse().unwrap();
        assert_eq!(p.to_string(), "tcp:[::1]:22");
        for bad in [
            "udp:1.2.3.4:5",
            "tcp:1.2.3.4",
            "tcp::80",
            "tcp:h:0",
            "tcp:h:99999",
        ] {
            assert!(bad.parse::<Probe>().is_err(), "{bad}");
        }
    }
}
