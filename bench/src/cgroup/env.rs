//! What `--cgroup` makes and removes again: a network namespace whose traffic ends on a
//! sink (`cgsink0`, one end of a veth pair whose other end stays down, with ARP off: a
//! datagram routed to it passes `ip_finish_output`, where cgroup egress programs run,
//! and is dropped by the queue of a device without carrier and counted as a transmit
//! drop, so only the sending path is timed; the kernel here has no dummy
//! interfaces), a cgroup v2 directory of the run's own
//! (`sockc-cgbench-PID`) with a child per trial, `sockc-peer` processes started in a
//! trial's cgroup and the namespace, sockc installs on the run's own bpffs, and nft
//! tables loaded into the namespace.
//!
//! Invariant: everything is owned by a value whose `Drop` removes it — a peer is
//! killed by its PID, an install flushed, a trial's cgroup emptied (its processes
//! killed by PID) and removed, which takes every program attached to it along — and
//! the namespace (with its nft tables) and the run's cgroup go last, also when a step
//! fails half-way.

use std::{
    io::{BufRead, BufReader, Write},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use sockc_compiler::{opt::Lints, Options};
use sockc_runtime::{
    install::{self, ApplyRequest},
    store::Store,
};

use crate::peer::link::{ip, Netns};

/// The interface every datagram is routed to.
pub const SINK_IF: &str = "cgsink0";

/// The run's namespace, its cgroup directory, and where `sockc-peer` is.
pub struct Env {
    /// Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `.../unified` on a hybrid
    /// host).
    pub root: PathBuf,
    /// The run's cgroup, a child of `root`.
    pub dir: PathBuf,
    pub netns: Netns,
    pub peer: PathBuf,
}

impl Env {
    /// The sink's transmit drops (every datagram that reached it).
    pub fn sink_drops(&self) -> Result<u64, String> {
        let text = self.ip(&["-j", "-s", "link", "show", SINK_IF])?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("ip -j: {e}"))?;
        v[0]["stats64"]["tx"]["dropped"]
            .as_u64()
            .ok_or_else(|| format!("no tx dropped in `{text}`"))
    }

    /// The namespace (loopback up, [`SINK_IF`] the default route, `local` addresses
    /// on it) and the run's cgroup.
    pub fn new(local: &[Ipv4Addr]) -> Result<Env, String> {
        let root = sockc_runtime::cgroup::cgroup2_root().ok_or("cgroup v2 is not mounted")?;
        // Built beside sockc, never installed with it (testkit/peer).
        let peer = std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("sockc-peer");
        if !peer.exists() {
            return Err(format!(
                "{} not found (cargo build -p sockc-peer)",
                peer.display()
            ));
        }
        let pid = std::process::id();
        let netns = Netns::create(format!("pb{pid}-cg"))?;
        let ns = netns.0.clone();
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let peer_end = "cgsink1";
        ip(&[
            "-n", &ns, "link", "add", SINK_IF, "type", "veth", "peer", "name", peer_end,
        ])?;
        ip(&["-n", &ns, "link", "set", SINK_IF, "arp", "off"])?;
        ip(&["-n", &ns, "link", "set", SINK_IF, "up"])?;
        ip(&["-n", &ns, "route", "add", "default", "dev", SINK_IF])?;
        for a in local {
            ip(&["-n", &ns, "addr", "add", &format!("{a}/32"), "dev", SINK_IF])?;
        }
        let dir = root.join(format!("sockc-cgbench-{pid}"));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Env {
            root,
            dir,
            netns,
            peer,
        })
    }

    /// A `sockc-peer` in `cg` and the namespace, bound to `bind` for UDP (`udp ADDR`).
    pub fn peer(&self, cg: &Trial, bind: &str) -> Result<Peer, String> {
        let mut child = Command::new(&self.peer)
            .arg("--cgroup")
            .arg(&cg.dir)
            .args(["--netns", &format!("/run/netns/{}", self.netns.0)])
            .args(["udp", bind])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.peer.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut p = Peer {
            child,
            stdin,
            stdout,
        };
        let line = p.line()?;
        if !line.starts_with("bound ") {
            return Err(format!("sockc-peer udp {bind}: `{line}`"));
        }
        Ok(p)
    }

    /// `ip -n NETNS ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", &self.netns.0];
        all.extend(args);
        ip(&all)
    }

    /// `nft -f FILE` in the namespace. nft resolves `socket cgroupv2` paths under
    /// `/sys/fs/cgroup` whatever the host mounts there, so on a hybrid host it runs in
    /// a mount namespace of its own with the cgroup v2 mount bound over that path.
    pub fn nft(&self, file: &Path) -> Result<(), String> {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns.0))
            .args(sockc_runtime::cgroup::with_cgroup2_at_sys_fs_cgroup(
                &self.root, "nft",
            ))
            .arg("-f")
            .arg(file)
            .output()
            .map_err(|e| format!("nsenter: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "nft -f {}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Deletes the nft table `name` from the namespace (nothing when it is not there).
    pub fn nft_delete(&self, name: &str) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns.0,
                "nft",
                "delete",
                "table",
                "ip",
                name,
            ])
            .output();
    }

    /// The path of `dir` below the cgroup v2 mount, and its level (`socket cgroupv2
    /// level N "PATH"`).
    pub fn relative(&self, dir: &Path) -> (String, usize) {
        let rel = dir.strip_prefix(&self.root).unwrap_or(dir);
        (rel.display().to_string(), rel.components().count())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        remove_cgroup(&self.dir);
    }
}

/// Kills every process in `dir` by PID (a peer left behind) and removes the directory,
/// retrying while the kernel still counts a dying process in it.
fn remove_cgroup(dir: &Path) {
    for _ in 0..100 {
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill(2) on a PID read from the cgroup this run made.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A trial's cgroup, a child of the run's: what one contender's programs attach to
/// and its peer runs in. Removed when dropped (after its peers are gone).
pub struct Trial {
    pub dir: PathBuf,
}

impl Trial {
    pub fn new(env: &Env, n: usize) -> Result<Trial, String> {
        let dir = env.dir.join(format!("t{n}"));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Trial { dir })
    }
}

impl Drop for Trial {
    fn drop(&mut self) {
        remove_cgroup(&self.dir);
    }
}

/// A running `sockc-peer`, killed by its PID when dropped.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn line(&mut self) -> Result<String, String> {
        let mut s = String::new();
        self.stdout.read_line(&mut s).map_err(|e| e.to_string())?;
        if s.is_empty() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return Err(format!("sockc-peer exited: {}", err.trim()));
        }
        Ok(s.trim().to_string())
    }

    /// Sends one command and reads its line.
    pub fn ask(&mut self, cmd: &str) -> Result<String, String> {
        writeln!(self.stdin, "{cmd}").map_err(|e| e.to_string())?;
        self.line()
    }

    /// Sends one command whose answer is JSON.
    pub fn json(&mut self, cmd: &str) -> Result<Value, String> {
        let line = self.ask(cmd)?;
        serde_json::from_str(&line).map_err(|e| format!("`{cmd}`: `{line}`: {e}"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sockc install of the run (on its own bpffs), flushed when dropped.
pub struct Installed<'a> {
    bpffs: &'a Path,
    name: String,
}

impl<'a> Installed<'a> {
    /// Compiles and applies `src` as install `name`, as `sockc apply` would.
    pub fn apply(bpffs: &'a Path, name: String, src: &str) -> Result<Installed<'a>, String> {
        let store = Store::open(bpffs, Duration::from_secs(60)).map_err(|e| e.to_string())?;
        let opts = Options {
            lints: Lints::Skip,
            ..Default::default()
        };
        let (compiled, diags) = sockc_compiler::compile(src, &opts);
        let compiled = compiled.ok_or_else(|| {
            let first = diags.iter().find(|d| d.is_error()).or(diags.first());
            first.map_or("does not compile".into(), |d| d.message.clone())
        })?;
        // Owned from here: a failed apply may have left part of itself, which the
        // flush takes away (once the store's lock is released: it would wait for it).
        let installed = Installed { bpffs, name };
        let applied = install::apply(
            &store,
            &ApplyRequest::new(&compiled, &installed.name, "sockc bench --cgroup", src),
        );
        drop(store);
        applied.map_err(|e| sockc_runtime::error_chain(&e))?;
        Ok(installed)
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        if let Ok(store) = Store::open(self.bpffs, Duration::from_secs(60)) {
            let _ = install::flush(&store, &self.name);
        }
    }
}
