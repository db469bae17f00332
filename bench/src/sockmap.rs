//! `sockc bench`'s socket-layer table: TCP between two local endpoints with and
//! without `redirect local`, in the same run.
//!
//! Two `sockc-peer` processes (the small client and server of this project,
//! `testkit/peer`, found beside the running `sockc`) in a cgroup and a network
//! namespace the bench makes, on loopback, under three installs: none (the TCP stack),
//! a sockmap block that only allows (every message runs the socket layer's programs and
//! then the stack: what sockmap costs without the bypass), and `redirect local` (the
//! bypass). Per install: the round-trip latency of a ping-pong (median, mean and p99 of
//! the round trips of one run), bulk throughput in 1 MiB writes and in 100-byte writes
//! (one way, client to server), each a fresh connection; every figure is the median
//! over the runs, the installs alternating within each run so that drift hits all three
//! alike. With `sockperf` installed, its ping-pong average latency is measured the same
//! way. Ratios compare the bypass with the stack.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use sockc_runtime::{
    install::{self, ApplyRequest},
    store::Store,
};

use crate::measure::median;

/// The knobs of the table (from `sockc bench`'s arguments).
pub struct Knobs {
    pub runs: usize,
    pub round_trips: u64,
    pub message: usize,
    pub bulk_mb: u64,
    pub small_mb: u64,
}

/// The installs compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Install {
    Stack,
    Policy,
    Bypass,
}

impl Install {
    const ALL: [Install; 3] = [Install::Stack, Install::Policy, Install::Bypass];

    fn label(self) -> &'static str {
        match self {
            Install::Stack => "TCP stack (no sockmap)",
            Install::Policy => "sockmap, `default allow` (policy only)",
            Install::Bypass => "sockmap, `redirect local`",
        }
    }

    fn rules(self, cgroup: &str) -> Option<String> {
        let body = match self {
            Install::Stack => return None,
            Install::Policy => "",
            Install::Bypass => "    redirect local\n",
        };
        Some(format!(
            "sockmap cgroup \"{cgroup}\" {{\n{body}    default allow\n}}\n"
        ))
    }
}

/// One run's figures for one install.
#[derive(Clone, Default)]
struct Sample {
    rtt_median_us: f64,
    rtt_mean_us: f64,
    rtt_p99_us: f64,
    bulk_mbps: f64,
    small_mbps: f64,
    sockperf_us: Option<f64>,
}

/// What the bench makes and removes again: the cgroup, the namespace, the install.
struct Env {
    cgroup: String,
    netns: String,
    name: String,
    bpffs: PathBuf,
    peer: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.install(None);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        for _ in 0..50 {
            if std::fs::remove_dir(&self.cgroup).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The first cgroup v2 mount.
fn cgroup2_mount() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| f[1].to_string())
}

impl Env {
    fn new() -> Result<Env, String> {
        let pid = std::process::id();
        let root = cgroup2_mount().ok_or("no cgroup v2 mount")?;
        // Built beside sockc, never installed with it (testkit/peer).
        let peer = std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("sockc-peer");
        if !peer.exists() {
            return Err(format!(
                "{} not found (cargo build --release -p sockc-peer)",
                peer.display()
            ));
        }
        let env = Env {
            cgroup: format!("{root}/sockc-bench-{pid}"),
            netns: format!("sockc-bench-{pid}"),
            name: format!("sockc-bench-{pid}"),
            bpffs: PathBuf::from("/sys/fs/bpf"),
            peer,
        };
        std::fs::create_dir(&env.cgroup).map_err(|e| format!("{}: {e}", env.cgroup))?;
        for args in [
            vec!["netns", "add", &env.netns],
            vec!["-n", &env.netns, "link", "set", "lo", "up"],
        ] {
            let ok = Command::new("ip")
                .args(&args)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("ip {}: failed", args.join(" ")));
            }
        }
        Ok(env)
    }

    /// Installs `rules` (or flushes, for `None`), holding sockc's lock only meanwhile.
    fn install(&self, rules: Option<&str>) -> Result<(), String> {
        let store = Store::open(&self.bpffs, Duration::from_secs(60)).map_err(|e| e.to_string())?;
        let Some(src) = rules else {
            return match install::flush(&store, &self.name) {
                Ok(_) | Err(install::InstallError::NotInstalled(_)) => Ok(()),
                Err(e) => Err(sockc_runtime::error_chain(&e)),
            };
        };
        let (compiled, diags) = sockc_compiler::compile(src, &Default::default());
        let compiled = compiled.ok_or_else(|| format!("{diags:?}"))?;
        install::apply(
            &store,
            &ApplyRequest::new(&compiled, &self.name, "sockc bench", src),
        )
        .map(|_| ())
        .map_err(|e| sockc_runtime::error_chain(&e))
    }

    fn spawn(&self, args: &[&str]) -> Result<PeerProc, String> {
        let mut child = Command::new(&self.peer)
            .args(["--cgroup", &self.cgroup])
            .args(["--netns", &format!("/run/netns/{}", self.netns)])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.peer.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(PeerProc {
            child,
            stdin,
            stdout,
        })
    }

    /// A connected client/server pair on loopback.
    fn pair(&self) -> Result<(PeerProc, PeerProc), String> {
        let mut server = self.spawn(&["listen", "127.0.0.1:0"])?;
        let line = server.line()?;
        let addr = line
            .strip_prefix("listening ")
            .ok_or_else(|| format!("server said `{line}`"))?
            .to_string();
        let mut client = self.spawn(&["connect", &addr])?;
        client.line()?;
        server.line()?;
        Ok((client, server))
    }
}

struct PeerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PeerProc {
    fn line(&mut self) -> Result<String, String> {
        let mut s = String::new();
        self.stdout.read_line(&mut s).map_err(|e| e.to_string())?;
        if s.is_empty() {
            return Err("sockc-peer exited".into());
        }
        Ok(s.trim().to_string())
    }

    fn start(&mut self, cmd: &str) -> Result<(), String> {
        writeln!(self.stdin, "{cmd}").map_err(|e| e.to_string())
    }

    fn json(&mut self) -> Result<Value, String> {
        let line = self.line()?;
        serde_json::from_str(&line).map_err(|e| format!("`{line}`: {e}"))
    }
}

impl Drop for PeerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// MB/s of one one-way transfer of `mb` MB, client to server, in 1 MiB or 100-byte
/// writes.
fn bulk(env: &Env, mb: u64, small: bool) -> Result<f64, String> {
    let (mut client, mut server) = env.pair()?;
    let bytes = mb * 1_000_000;
    let write = if small { 100 } else { 1 << 20 };
    // Timed at the receiver: from its start until it has read everything.
    server.start("sink")?;
    client.start(&format!("pump {bytes} {write}"))?;
    client.json()?;
    let secs = server.json()?["secs"].as_f64().unwrap_or(f64::NAN);
    Ok(bytes as f64 / secs / 1e6)
}

fn sample(env: &Env, path: Install, k: &Knobs) -> Result<Sample, String> {
    env.install(path.rules(&env.cgroup).as_deref())?;
    let (mut client, mut server) = env.pair()?;
    server.start("echo")?;
    client.start(&format!(
        "pingpong {} {}",
        k.round_trips / 100 + 1,
        k.message
    ))?;
    client.json()?; // warm-up
    client.start(&format!("pingpong {} {}", k.round_trips, k.message))?;
    let rtt = client.json()?;
    drop((client, server));
    let us = |f: &str| rtt[f].as_f64().unwrap_or(f64::NAN) / 1e3;
    Ok(Sample {
        rtt_median_us: us("median_ns"),
        rtt_mean_us: us("mean_ns"),
        rtt_p99_us: us("p99_ns"),
        bulk_mbps: bulk(env, k.bulk_mb, false)?,
        small_mbps: bulk(env, k.small_mb, true)?,
        sockperf_us: sockperf(env),
    })
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

/// sockperf's ping-pong average latency (µs) between a server and a client in the
/// bench's cgroup and namespace, if sockperf is installed.
fn sockperf(env: &Env) -> Option<f64> {
    let tool = which("sockperf")?;
    let spawn = |args: &[&str]| -> Option<Child> {
        let cgroup = format!("{}/cgroup.procs", env.cgroup);
        let netns = format!("/run/netns/{}", env.netns);
        let mut cmd = Command::new(&tool);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        // SAFETY: between fork and exec the child only writes its cgroup membership and
        // enters the namespace (open, write, setns, close), all async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                std::fs::write(&cgroup, "0")?;
                let f = std::fs::File::open(&netns)?;
                if libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().ok()
    };
    let mut server = spawn(&["server", "-i", "127.0.0.1", "-p", "11111", "--tcp"])?;
    std::thread::sleep(Duration::from_millis(300));
    let out = spawn(&[
        "ping-pong",
        "-i",
        "127.0.0.1",
        "-p",
        "11111",
        "--tcp",
        "-t",
        "3",
    ])
    .and_then(|c| c.wait_with_output().ok());
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out?.stdout).into_owned();
    text.split("avg-latency=")
        .nth(1)?
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?
        .parse()
        .ok()
}

/// Percent change from `base` to `x`, signed.
fn change(base: f64, x: f64) -> String {
    format!("{:+.0}%", (x / base - 1.0) * 100.0)
}

/// The table; see the module docs. Printed as it goes, and returned.
pub fn table(k: &Knobs) -> Result<String, String> {
    let env = Env::new()?;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); Install::ALL.len()];
    for run in 0..k.runs.max(1) {
        // Alternate the order between runs: no install always goes first.
        let mut order: Vec<usize> = (0..Install::ALL.len()).collect();
        if run % 2 == 1 {
            order.reverse();
        }
        for i in order {
            samples[i].push(sample(&env, Install::ALL[i], k)?);
        }
    }
    env.install(None)?;
    let mut out = format!(
        "\nSocket layer: TCP over loopback between two local processes (sockc-peer) in one \
         network namespace and cgroup; {} round trips of {} bytes, bulk {} MB in 1 MiB \
         writes and {} MB in 100-byte writes, one way; median of {} runs:\n\n\
         | path | RTT median µs | RTT mean µs | RTT p99 µs | sockperf avg-latency µs | bulk MB/s | 100 B writes MB/s |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        k.round_trips, k.message, k.bulk_mb, k.small_mb, k.runs
    );
    let med = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
    let sockperf_of = |i: usize| {
        let v: Vec<f64> = samples[i].iter().filter_map(|s| s.sockperf_us).collect();
        (!v.is_empty()).then(|| median(v))
    };
    let mut rows = Vec::new();
    for (i, path) in Install::ALL.iter().enumerate() {
        let sp = sockperf_of(i).map_or("-".to_string(), |v| format!("{v:.3}"));
        let row = [
            med(i, |s| s.rtt_median_us),
            med(i, |s| s.rtt_mean_us),
            med(i, |s| s.rtt_p99_us),
            med(i, |s| s.bulk_mbps),
            med(i, |s| s.small_mbps),
        ];
        out.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:.3} | {sp} | {:.0} | {:.0} |\n",
            path.label(),
            row[0],
            row[1],
            row[2],
            row[3],
            row[4]
        ));
        rows.push(row);
    }
    let (stack, policy, bypass) = (rows[0], rows[1], rows[2]);
    out.push_str(&format!(
        "\n`redirect local` against the TCP stack: RTT median {:.3} → {:.3} µs ({}), mean \
         {:.3} → {:.3} µs ({}); bulk {:.0} → {:.0} MB/s ({}); 100-byte writes {:.0} → {:.0} \
         MB/s ({}). Policy only (sockets in the map, no redirect) against the stack: RTT {}, \
         bulk {}, 100-byte writes {}.\n",
        stack[0],
        bypass[0],
        change(stack[0], bypass[0]),
        stack[1],
        bypass[1],
        change(stack[1], bypass[1]),
        stack[3],
        bypass[3],
        change(stack[3], bypass[3]),
        stack[4],
        bypass[4],
        change(stack[4], bypass[4]),
        change(stack[0], policy[0]),
        change(stack[3], policy[3]),
        change(stack[4], policy[4]),
    ));
    if let (Some(base), Some(by)) = (sockperf_of(0), sockperf_of(2)) {
        out.push_str(&format!(
            "sockperf ping-pong (its avg-latency, half a round trip): {base:.3} → {by:.3} µs \
             ({}).\n",
            change(base, by)
        ));
    }
    if bypass[4] < stack[4] {
        out.push_str(
            "The bypass is slower with small writes: every write is one sk_msg (the \
             program runs, the message is queued on its own in the peer's receive queue \
             and the reader is woken for it), where the TCP stack coalesces small writes \
             into large segments and the reader takes them in large reads.\n",
        );
    }
    if bypass[0] > stack[0] {
        out.push_str(
            "The bypass adds round-trip latency here: the sk_msg verdict program and the \
             psock queue cost more than loopback's TCP path saves on this machine.\n",
        );
    }
    if which("sockperf").is_none() {
        out.push_str("(sockperf is not installed: its column is empty.)\n");
    }
    print!("{out}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_signed_percentages() {
        assert_eq!(change(5.748, 4.686), "-18%");
        assert_eq!(change(100.0, 130.0), "+30%");
    }

    #[test]
    fn the_rules_of_each_path() {
        assert!(Install::Stack.rules("/x").is_none());
        assert!(Install::Bypass
            .rules("/x")
            .unwrap()
            .contains("redirect local"));
        assert!(!Install::Policy.rules("/x").unwrap().contains("redirect"));
    }
}
