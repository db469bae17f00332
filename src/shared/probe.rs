//! `--probe tcp:HOST:PORT`: a host-side check that a change keeps something
//! reachable, for commit-confirmed applies (`apply --confirm`, `watch --confirm`): a
//! TCP connection that must be accepted.
//!
//! Invariant: a probe fails only after [`ATTEMPTS`] attempts in a row each failed
//! within its timeout, so one packet lost while hooks are swapped does not roll a good
//! change back.

use std::{
    fmt,
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    str::FromStr,
    time::Duration,
};

/// Failed attempts in a row that make a probe fail.
pub const ATTEMPTS: usize = 2;

/// `--probe tcp:HOST:PORT`: a TCP connection that must be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub fn check_once(&self, timeout: Duration) -> Result<(), String> {
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

    /// [`check_once`](Probe::check_once) up to [`ATTEMPTS`] times; the last reason
    /// when every attempt failed.
    pub fn check(&self, timeout: Duration) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            match self.check_once(timeout) {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
        }
        Err(format!("{last} ({ATTEMPTS} attempts in a row failed)"))
    }
}

/// The first probe of `probes` that fails, with why.
pub fn first_failing(probes: &[Probe], timeout: Duration) -> Option<String> {
    probes.iter().find_map(|p| p.check(timeout).err())
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

    /// A listener answers; a closed port fails after every attempt, saying so.
    #[test]
    fn a_probe_holds_while_a_listener_answers() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let p: Probe = format!("tcp:127.0.0.1:{port}").parse().unwrap();
        assert_eq!(p.check(Duration::from_secs(1)), Ok(()));
        drop(l);
        let why = p.check(Duration::from_secs(1)).unwrap_err();
        assert!(why.contains("attempts in a row failed"), "{why}");
    }
}
