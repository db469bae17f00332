//! One timed process of the control-plane table: spawned (inside a namespace when
//! asked, as the head-to-head starts the netfilter tools), on every CPU and under the
//! normal scheduler, by `posix_spawn` from a thread put there first (no copy of this
//! process's page tables in the figures), timed from spawn to exit; or run once
//! under GNU `time` for its peak resident set (a child of this process would report
//! this process's own resident set in `ru_maxrss`, which `exec` carries over).
//!
//! Besides the wall time, the CPU time the process used (`wait4`'s resource use), which
//! other work on a shared machine moves far less: what the regression guard compares.
//!
//! Invariant: a run whose exit code is not one the caller allows is an error with
//! the command and its standard error, never a figure.

use std::{ffi::OsString, path::Path, process::Command, time::Duration};

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

/// One run: wall time from spawn to exit, and the CPU time (user and system, every
/// thread) the process used, which a busy machine moves far less.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub wall: Duration,
    pub cpu: Duration,
}

/// Runs `step` to completion and measures it.
pub fn timed(step: &Step) -> Result<Measured, String> {
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

fn run(step: &Step, cmd: Command) -> Result<Measured, String> {
    let what = step.describe();
    let ran = sys::run_placed(cmd, step.netns.as_deref()).map_err(|e| format!("{what}: {e}"))?;
    if !step.ok_codes.contains(&ran.exit_code()) {
        let status = ran.status;
        return Err(format!(
            "{what} failed ({status:#x}): {}",
            ran.stderr.trim()
        ));
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Measured {
        wall: ran.wall,
        cpu: time(ran.usage.ru_utime) + time(ran.usage.ru_stime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::link;
    use std::os::unix::fs::MetadataExt;

    /// A timed step asked inside a namespace runs there (the netfilter tool changes
    /// that namespace's tables, never the host's), on every CPU, under the normal
    /// scheduler; and the thread that started it is gone, so this one is where it was.
    #[test]
    fn a_step_runs_inside_its_namespace_on_every_cpu() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let required = std::env::var("SOCKC_KERNEL_TESTS").is_ok_and(|v| v == "require");
            assert!(
                !required,
                "SOCKC_KERNEL_TESTS=require but not running as root"
            );
            return;
        }
        let ns = link::bare_namespace().expect("a namespace");
        let out = std::env::temp_dir().join(format!("sockc-process-test-{}", std::process::id()));
        let script = format!(
            "readlink /proc/self/ns/net > {0}; chrt -p $$ >> {0}; \
             grep Cpus_allowed_list /proc/self/status >> {0}",
            out.display()
        );
        let step = Step::new("sh", &[&"-c", &script]).inside(&ns.0);
        timed(&step).expect("the step runs");
        let text = std::fs::read_to_string(&out).expect("the step wrote");
        std::fs::remove_file(&out).ok();
        let inode = std::fs::metadata(format!("/run/netns/{}", ns.0))
            .unwrap()
            .ino();
        let mine = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        assert!(text.starts_with(&format!("net:[{inode}]\n")), "{text}");
        assert_ne!(mine.to_string_lossy(), format!("net:[{inode}]"));
        assert!(text.contains("SCHED_OTHER"), "{text}");
        let cpus = sys::all_cpus();
        let all = match cpus.len() {
            1 => "0".to_string(),
            n => format!("0-{}", n - 1),
        };
        assert!(
            text.contains(&format!("Cpus_allowed_list:\t{all}\n")),
            "{text}"
        );
    }
}
