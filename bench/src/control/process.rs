//! One timed process of the control-plane table: spawned (inside a namespace when
//! asked, `setns` before `exec`, as the head-to-head starts the netfilter tools), on
//! every CPU and under the normal scheduler, timed from spawn to exit; or run once
//! under GNU `time` for its peak resident set (a child of this process would report
//! this process's own resident set in `ru_maxrss`, which `exec` carries over).
//!
//! Invariant: a run whose exit code is not one the caller allows is an error with
//! the command and its standard error, never a figure.

use std::{
    ffi::OsString,
    os::{fd::AsRawFd, unix::process::CommandExt},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::peer::sys;

/// A command: program, arguments, the namespace it is started in (`None`: this one),
/// and the exit codes that mean success (`sockc diff` exits 4 on a difference).
pub struct Step {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub netns: Option<String>,
    pub ok_codes: &'static [i32],
}

impl Step {
    pub fn new(program: impl Into<OsString>, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Step {
        Step {
            program: program.into(),
            args: args.iter().map(|a| a.as_ref().to_os_string()).collect(),
            netns: None,
            ok_codes: &[0],
        }
    }

    pub fn inside(mut self, ns: &str) -> Step {
        self.netns = Some(ns.to_string());
        self
    }

    pub fn ok_codes(mut self, codes: &'static [i32]) -> Step {
        self.ok_codes = codes;
        self
    }

    fn command(&self, under_time: Option<&Path>) -> Command {
        let mut cmd = match under_time {
            Some(out) => {
                let mut c = Command::new(TIME);
                c.args(["-f", "%M", "-o"]).arg(out).arg("--");
                c.arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args);
        cmd
    }

    fn describe(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

const TIME: &str = "/usr/bin/time";

/// Runs `step` to completion; its wall time from spawn to exit.
pub fn timed(step: &Step) -> Result<Duration, String> {
    run(step, step.command(None))
}

/// Runs `step` once under GNU `time`; its peak resident set in MiB.
pub fn peak_rss_mib(step: &Step) -> Result<f64, String> {
    if !Path::new(TIME).is_file() {
        return Err(format!(
            "{TIME} (GNU time) is needed for the memory figures"
        ));
    }
    let out = std::env::temp_dir().join(format!("sockc-control-{}.rss", std::process::id()));
    let result = run(step, step.command(Some(&out)));
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    result?;
    text.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .ok_or_else(|| format!("GNU time printed `{}`", text.trim()))
}

fn run(step: &Step, mut cmd: Command) -> Result<Duration, String> {
    let what = step.describe();
    let netns = step
        .netns
        .as_deref()
        .map(sys::netns_file)
        .transpose()
        .map_err(|e| format!("{what}: {e}"))?;
    let ns_fd = netns.as_ref().map(|f| f.as_raw_fd());
    let cpus = sys::all_cpus();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes system calls (setns, sched_*), which are
    // async-signal-safe, on a descriptor that stays open until after the fork.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = ns_fd {
                sys::setns(fd)?;
            }
            sys::set_fifo(0, None)?;
            sys::set_affinity(0, &cpus)
        });
    }
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    let wall = start.elapsed();
    let code = out.status.code().unwrap_or(-1);
    if !step.ok_codes.contains(&code) {
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(wall)
}
