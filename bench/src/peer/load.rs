//! The contenders and how each is loaded into a namespace: `sockc apply --netns`
//! (at XDP and at TC ingress), `nft -f` (one rule per filter, or layered verdict maps)
//! and `iptables-legacy-restore` / `iptables-nft-restore` of the same raw-table file.
//! Each load is one process, timed from spawn to exit (wall time); its peak resident
//! memory is taken in a separate load under GNU `time` ([`peak_rss`]). The netfilter
//! tools are started inside the namespace (`setns` before `exec`, as `ip netns exec`
//! would, without the remount), sockc enters it itself.
//!
//! Invariant: every sockc install a load makes has a unique name, and [`Installed`]
//! removes it (`sockc flush`) when dropped, before the namespace goes, so no pin under
//! bpffs outlives the run.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use super::{breakdown, sys};

/// Who is measured. `Baseline` loads nothing: the receive path alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contender {
    Baseline,
    SockcXdp,
    SockcTc,
    NftLinear,
    NftSets,
    IptablesLegacy,
    IptablesNft,
}

impl Contender {
    pub const ALL: [Contender; 7] = [
        Contender::Baseline,
        Contender::SockcXdp,
        Contender::SockcTc,
        Contender::NftLinear,
        Contender::NftSets,
        Contender::IptablesLegacy,
        Contender::IptablesNft,
    ];

    /// The name in the CSV and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Contender::Baseline => "baseline",
            Contender::SockcXdp => "sockc-xdp",
            Contender::SockcTc => "sockc-tc",
            Contender::NftLinear => "nft-linear",
            Contender::NftSets => "nft-sets",
            Contender::IptablesLegacy => "iptables-legacy",
            Contender::IptablesNft => "iptables-nft",
        }
    }

    /// The column title in the Markdown table.
    pub fn title(self) -> &'static str {
        match self {
            Contender::Baseline => "no filter (receive path)",
            Contender::SockcXdp => "sockc XDP",
            Contender::SockcTc => "sockc TC",
            Contender::NftLinear => "nft, one rule per filter (netdev ingress)",
            Contender::NftSets => "nft, layered interval vmaps",
            Contender::IptablesLegacy => "iptables-legacy (raw)",
            Contender::IptablesNft => "iptables-nft (raw)",
        }
    }

    pub fn is_sockc(self) -> bool {
        matches!(self, Contender::SockcXdp | Contender::SockcTc)
    }

    pub fn from_key(key: &str) -> Option<Contender> {
        Contender::ALL.into_iter().find(|c| c.key() == key)
    }
}

/// One load's cost.
#[derive(Clone, Copy, Debug)]
pub struct LoadCost {
    pub wall: Duration,
    /// Peak resident set of the loading process, KiB (measured in a load of its own,
    /// [`peak_rss`]; `None` where not measured).
    pub max_rss_kib: Option<u64>,
}

/// A sockc install in a namespace, flushed when dropped.
pub struct Installed {
    sockc: PathBuf,
    name: String,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new(&self.sockc)
            .args(["flush", "--name", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A unique install name for this process.
fn install_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "peerbench-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The loading command of `who` for `file` into namespace `ns`: program and
/// arguments, and whether it must be started inside `ns` (sockc enters it itself).
/// `None` for the baseline, which loads nothing.
fn command(
    who: Contender,
    file: &Path,
    ns: &str,
    sockc: &Path,
    install: &str,
) -> Option<(PathBuf, Vec<String>, bool)> {
    let file = file.display().to_string();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Some(match who {
        Contender::Baseline => return None,
        Contender::SockcXdp | Contender::SockcTc => (
            sockc.to_path_buf(),
            strings(&["apply", &file, "--name", install, "--netns", ns]),
            false,
        ),
        Contender::NftLinear | Contender::NftSets => ("nft".into(), strings(&["-f", &file]), true),
        Contender::IptablesLegacy => (
            "iptables-legacy-restore".into(),
            strings(&["-w", "60", &file]),
            true,
        ),
        Contender::IptablesNft => (
            "iptables-nft-restore".into(),
            strings(&["-w", "60", &file]),
            true,
        ),
    })
}

/// Loads `file` for `who` into namespace `ns` (`sockc` is the sockc binary) and times
/// the loading process. Returns the time and, for sockc, the install to flush.
pub fn load(
    who: Contender,
    file: &Path,
    ns: &str,
    sockc: &Path,
) -> Result<(Duration, Option<Installed>), String> {
    let name = install_name();
    let Some((program, args, enter)) = command(who, file, ns, sockc, &name) else {
        return Ok((Duration::ZERO, None));
    };
    // Flushed even when the apply fails half way.
    let installed = who.is_sockc().then(|| Installed {
        sockc: sockc.to_path_buf(),
        name,
    });
    let mut cmd = Command::new(program);
    cmd.args(args);
    let (wall, _) = run(cmd, enter.then_some(ns))?;
    Ok((wall, installed))
}

/// Where the time of a sockc load of `file` into `ns` goes: one `apply --timings`,
/// its stages grouped ([`breakdown`]). `None` for other contenders, and for a sockc
/// (`--peer-sockc`) without `--timings`.
pub fn stages(
    who: Contender,
    file: &Path,
    ns: &str,
    sockc: &Path,
) -> Result<Option<breakdown::Breakdown>, String> {
    let name = install_name();
    let Some((program, mut args, _)) = command(who, file, ns, sockc, &name) else {
        return Ok(None);
    };
    if !who.is_sockc() {
        return Ok(None);
    }
    let _installed = Installed {
        sockc: sockc.to_path_buf(),
        name,
    };
    args.push("--timings".into());
    let mut cmd = Command::new(program);
    cmd.args(args);
    let (wall, stderr) = match run_keeping_stderr(cmd, None) {
        Ok(r) => r,
        Err(e) if e.contains("--timings") => return Ok(None),
        Err(e) => return Err(e),
    };
    let wall_ms = wall.as_secs_f64() * 1e3;
    Ok(breakdown::parse(&stderr).map(|(st, total)| breakdown::group(&st, total, wall_ms)))
}

/// The peak RSS (KiB) of `who`'s loading process, loading `file` into `ns` under GNU
/// `time` (`%M`): a child forked from this large process would report this
/// process's resident set, so the loader must be started by a small one. `None`
/// without `/usr/bin/time`.
pub fn peak_rss(
    who: Contender,
    file: &Path,
    ns: &str,
    sockc: &Path,
) -> Result<Option<u64>, String> {
    const TIME: &str = "/usr/bin/time";
    let name = install_name();
    let Some((program, args, enter)) = command(who, file, ns, sockc, &name) else {
        return Ok(None);
    };
    if !Path::new(TIME).is_file() {
        return Ok(None);
    }
    let _installed = who.is_sockc().then(|| Installed {
        sockc: sockc.to_path_buf(),
        name,
    });
    let out = std::env::temp_dir().join(format!("sockc-peer-{}.rss", std::process::id()));
    let mut cmd = Command::new(TIME);
    cmd.args(["-f", "%M", "-o"])
        .arg(&out)
        .arg("--")
        .arg(program)
        .args(args);
    run(cmd, enter.then_some(ns))?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    text.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| format!("GNU time printed `{}`", text.trim()))
}

/// Runs `cmd` to completion (inside `ns` if given, on every CPU and under the normal
/// scheduler whatever this thread runs under): its wall time from spawn to exit and
/// its resource use; fails with its standard error if it fails.
fn run(cmd: Command, ns: Option<&str>) -> Result<(Duration, libc::rusage), String> {
    run_with_stderr(cmd, ns).map(|(wall, rusage, _)| (wall, rusage))
}

/// [`run`], giving the command's standard error instead of its resource use.
fn run_keeping_stderr(cmd: Command, ns: Option<&str>) -> Result<(Duration, String), String> {
    run_with_stderr(cmd, ns).map(|(wall, _, stderr)| (wall, stderr))
}

fn run_with_stderr(
    cmd: Command,
    ns: Option<&str>,
) -> Result<(Duration, libc::rusage, String), String> {
    let what = format!("{cmd:?}");
    let ran = sys::run_placed(cmd, ns).map_err(|e| format!("{what}: {e}"))?;
    if ran.exit_code() != 0 {
        let status = ran.status;
        return Err(format!(
            "{what} failed ({status:#x}): {}",
            ran.stderr.trim()
        ));
    }
    Ok((ran.wall, ran.usage, ran.stderr))
}
