//! What the sockmap tests drive: a cgroup of their own ([`crate::netns::Cgroup`]) and `sockc-peer`
//! processes in it ([`Peer`]), one per connection end.

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc::{channel, Receiver},
    time::Duration,
};

use serde_json::Value;

/// How long a peer may take to answer one command (a 100 MB exchange of small
/// writes through the stack included).
const ANSWER: Duration = Duration::from_secs(300);

/// One `sockc-peer` process: an end of a TCP connection, in a cgroup (or none) and a
/// network namespace. Killed when dropped.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// `listening ADDR` of a listener (before its connection is accepted).
    pub listening: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
}

impl Peer {
    fn spawn(cgroup: Option<&str>, netns: &str, role: &str, addr: SocketAddr) -> Peer {
        Peer::spawn_as(cgroup, netns, None, role, addr)
    }

    fn spawn_as(
        cgroup: Option<&str>,
        netns: &str,
        user: Option<(u32, u32)>,
        role: &str,
        addr: SocketAddr,
    ) -> Peer {
        let mut cmd = Command::new(crate::common::peer_exe());
        if let Some(cg) = cgroup {
            cmd.args(["--cgroup", cg]);
        }
        cmd.args(["--netns", &format!("/run/netns/{netns}")]);
        if let Some((uid, gid)) = user {
            cmd.args(["--as", &format!("{uid}:{gid}")]);
        }
        cmd.args([role, &addr.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("sockc-peer runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            child,
            stdin,
            lines,
            listening: None,
            local: None,
            remote: None,
        }
    }

    /// A listener on `addr` (port 0: any), in `cgroup`; [`Peer::accepted`] waits for
    /// its one connection.
    pub fn listen(cgroup: Option<&str>, netns: &str, addr: SocketAddr) -> Peer {
        let mut p = Peer::spawn(cgroup, netns, "listen", addr);
        let line = p.line();
        let at = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("listener said `{line}`"));
        p.listening = Some(at.parse().expect("listening address"));
        p
    }

    /// Connects to `to` from `cgroup`; returns once connected.
    pub fn connect(cgroup: Option<&str>, netns: &str, to: SocketAddr) -> Peer {
        let mut p = Peer::spawn(cgroup, netns, "connect", to);
        p.connected();
        p
    }

    /// A bound UDP socket on `addr` (port 0: any), in `cgroup`: `sendto ADDR TEXT`,
    /// `recv MS` and `connect ADDR MS` (a TCP connection from a new socket) as
    /// commands; its address is `local`.
    pub fn udp(cgroup: Option<&str>, netns: &str, addr: SocketAddr) -> Peer {
        Peer::udp_as(cgroup, netns, None, addr)
    }

    /// [`Peer::udp`] run as `user` (uid, gid) instead of root.
    pub fn udp_as(
        cgroup: Option<&str>,
        netns: &str,
        user: Option<(u32, u32)>,
        addr: SocketAddr,
    ) -> Peer {
        let mut p = Peer::spawn_as(cgroup, netns, user, "udp", addr);
        let line = p.line();
        let at = line
            .strip_prefix("bound ")
            .unwrap_or_else(|| panic!("udp peer said `{line}`"));
        p.local = Some(at.parse().expect("bound address"));
        p
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the listener's connection.
    pub fn accepted(&mut self) {
        self.connected();
    }

    fn connected(&mut self) {
        let line = self.line();
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert!(
            parts.len() == 3 && parts[0] == "connected",
            "peer said `{line}`"
        );
        self.local = Some(parts[1].parse().expect("local address"));
        self.remote = Some(parts[2].parse().expect("remote address"));
    }

    fn line(&mut self) -> String {
        self.lines.recv_timeout(ANSWER).unwrap_or_else(|_| {
            let status = self.child.try_wait();
            panic!("sockc-peer said nothing within {ANSWER:?} (exit: {status:?})")
        })
    }

    /// Sends a command without waiting for its answer.
    pub fn start(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("write to peer");
        self.stdin.flush().expect("flush");
    }

    /// The answer to the command [`Peer::start`]ed last.
    pub fn finish(&mut self) -> String {
        self.line()
    }

    pub fn cmd(&mut self, cmd: &str) -> String {
        self.start(cmd);
        self.finish()
    }

    /// A command whose answer is JSON.
    pub fn json(&mut self, cmd: &str) -> Value {
        let line = self.cmd(cmd);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{cmd}` answered `{line}`: {e}"))
    }

    /// Segments with data this socket sent through TCP (0 when the bypass carried
    /// everything).
    pub fn data_segs_out(&mut self) -> u64 {
        self.json("info")["data_segs_out"]
            .as_u64()
            .expect("data_segs_out")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connected pair: `client` connected to `server`, both in `cgroup` (when given).
pub fn pair(cgroup: Option<&str>, netns: &str, listen: SocketAddr) -> (Peer, Peer) {
    let mut server = Peer::listen(cgroup, netns, listen);
    let to = server.listening.expect("listening");
    let client = Peer::connect(cgroup, netns, to);
    server.accepted();
    (client, server)
}

/// What one `exchange` in both directions showed.
#[derive(Debug)]
pub struct Exchange {
    pub client: Value,
    pub server: Value,
}

impl Exchange {
    /// Bytes each way, and both directions intact: what one end sent is byte for byte
    /// what the other received (SHA-256 at both ends).
    #[track_caller]
    pub fn assert_intact(&self, bytes: u64, what: &str) {
        for (from, to, dir) in [
            (&self.client, &self.server, "client -> server"),
            (&self.server, &self.client, "server -> client"),
        ] {
            assert_eq!(from["sent"], bytes, "{what}, {dir}: sent {from}");
            assert_eq!(to["received"], bytes, "{what}, {dir}: received {to}");
            assert_eq!(
                from["sent_sha256"], to["received_sha256"],
                "{what}, {dir}: the bytes differ"
            );
        }
    }

    /// Whether the transfer was still going `secs` after it started (when `what`
    /// happened), so that `what` happened in the middle of it. When not, says so and
    /// returns false, or fails the test on its `last` try.
    #[track_caller]
    pub fn in_the_middle(&self, secs: f64, what: &str, last: bool) -> bool {
        let took = self.client["secs"].as_f64().unwrap_or(0.0);
        let why = format!("the transfer took {took:.2} s and was over before {what} ({secs:.2} s)");
        assert!(
            took > secs || !last,
            "{why}, on every try: make it longer (SOCKC_SOCKMAP_SMALL_MB)"
        );
        if took <= secs {
            println!("{why}: once more");
        }
        took > secs
    }

    /// Blocking reads that failed with EAGAIN, both ends.
    pub fn eagain(&self) -> u64 {
        self.client["eagain"].as_u64().unwrap_or(0) + self.server["eagain"].as_u64().unwrap_or(0)
    }
}

/// Both ends send `bytes` in writes of `pattern` at once and read the other's.
pub fn exchange(client: &mut Peer, server: &mut Peer, bytes: u64, pattern: &str) -> Exchange {
    server.start(&format!("exchange {bytes} {pattern} 11"));
    client.start(&format!("exchange {bytes} {pattern} 23"));
    let client = parse(&client.finish());
    let server = parse(&server.finish());
    Exchange { client, server }
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("peer answered `{line}`: {e}"))
}
