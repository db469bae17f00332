//! `sockc trace`: live packets that rules with `log` decided, each with the rule (line,
//! stable id, text), hook and verdict, read from the installs' ring buffers
//! (`sockc_runtime::trace`). Text lines for people, `--json` one object per line.
//!
//! The store lock is taken only to open ring buffers and, about once a second, to see
//! whether an install moved to a new generation (its ring buffer is then reopened), so
//! a trace never keeps an apply waiting.

use std::{
    io::Write,
    ops::ControlFlow,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Args;
use serde_json::json;
use sockc_runtime::{
    error_chain, install,
    trace::{self, Event, TraceError, Tracer},
};

use crate::shared::stderr::errln;
use crate::shared::{
    json::sockc_error,
    privileges,
    settings::quiet,
    store::{check_given_name, fail, open_store, Target},
    time,
};

pub const SCHEMA: &str = "sockc.trace/1";

#[derive(Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub target: Target,
    /// print one JSON object per packet (JSON Lines; see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
    /// stop after this many packets
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// stop after this many seconds (fractions allowed)
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

fn failed(e: TraceError) -> ExitCode {
    match e {
        TraceError::Install(e) => fail(e),
        e => {
            sockc_error!("{}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// Nanoseconds on `clock`.
fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into `ts`, which lives for the call.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Now on CLOCK_MONOTONIC, the clock the programs stamp events with.
fn monotonic_ns() -> i128 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Nanoseconds to add to CLOCK_MONOTONIC (what the programs read) for wall-clock time.
fn monotonic_offset_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME) - monotonic_ns()
}

fn endpoint(addr: Option<std::net::IpAddr>, port: Option<u16>) -> String {
    match (addr, port) {
        (Some(std::net::IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_string(),
        (None, _) => "?".to_string(),
    }
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        n => format!("proto {n}"),
    }
}

fn text_line(e: &Event, wall_ns: i128) -> String {
    let secs = (wall_ns / 1_000_000_000) as u64;
    let micros = (wall_ns % 1_000_000_000) / 1000;
    let local = time::local_time(secs);
    // `2026-11-22 12:30:01 +0100` → `2026-11-22 12:30:01.123456 +0100`
    let time = match local.rsplit_once(' ') {
        Some((t, off)) => format!("{t}.{micros:06} {off}"),
        None => local,
    };
    let p = &e.packet;
    let mut pkt = if p.family == 0 {
        match p.ether_type {
            Some(t) => format!("not IP, ether type {t:#06x}"),
            None => "not IP".to_string(),
        }
    } else {
        format!(
            "{} {} -> {}",
            proto_name(p.proto),
            endpoint(p.src, p.sport),
            endpoint(p.dst, p.dport)
        )
    };
    if !p.tcp_flags.is_empty() {
        pkt.push(' ');
        pkt.push_str(&p.tcp_flags.join(","));
    }
    if let Some(t) = p.icmp_type {
        pkt.push_str(&format!(" type {t} code {}", p.icmp_code.unwrap_or(0)));
    }
    // A socket call has no packet, no source yet and no length: who called instead.
    let what = match &e.caller {
        Some(c) => format!(
            "{} -> {} by pid {} ({})",
            proto_name(p.proto),
            endpoint(p.dst, p.dport),
            c.pid,
            c.comm
        ),
        None => format!("{pkt} ({} bytes)", p.len),
    };
    format!(
        "{time} {} {}: {} by line {} [{}] {}  <-  {what}",
        e.install,
        e.hook.spec().label(&e.attach_to),
        e.verdict,
        e.rule.line,
        e.rule.id,
        e.rule.text,
    )
}

fn json_line(e: &Event, wall_ns: i128) -> serde_json::Value {
    let secs = (wall_ns / 1_000_000_000) as u64;
    let nanos = wall_ns % 1_000_000_000;
    let base = time::rfc3339(secs);
    let time = format!("{}.{nanos:09}Z", base.trim_end_matches('Z'));
    json!({
        "time": time,
        "install": e.install,
        "generation": e.generation,
        "hook": e.hook,
        "attach_to": e.attach_to,
        "verdict": e.verdict,
        "retval": e.retval,
        "rule": e.rule,
        "packet": e.packet,
        "caller": e.caller,
    })
}

pub fn run(args: &TraceArgs) -> ExitCode {
    if let Err(code) =
        privileges::require("trace", privileges::READ).and_then(|_| check_given_name(&args.target))
    {
        return code;
    }
    // Events the rings kept from before this trace started are not shown: a trace
    // shows the packets that arrive while it runs (from before the rings are open, so
    // whoever sees them open knows the trace is on).
    let started_ktime = monotonic_ns();
    let mut tracers = match open_tracers(&args.target) {
        Ok(t) => t,
        Err(code) => return code,
    };
    say_recovered(&mut tracers);
    if !args.json && !quiet() {
        let names: Vec<String> = tracers
            .iter()
            .map(|t| format!("{} (generation {})", t.name(), t.generation()))
            .collect();
        errln!("tracing {}; Ctrl-C stops", names.join(", "));
    }
    let mut printer = Printer {
        json: args.json,
        offset: monotonic_offset_ns(),
        started_ktime,
        count: args.count,
        seen: 0,
        out: crate::shared::stdout::Checked,
    };
    let start = Instant::now();
    let deadline = args.timeout.map(Duration::from_secs_f64);
    let mut last_refresh = Instant::now();
    loop {
        if deadline.is_some_and(|d| start.elapsed() >= d) {
            return ExitCode::SUCCESS;
        }
        let refs: Vec<&Tracer> = tracers.iter().collect();
        if let Err(e) = trace::wait_any(&refs, Duration::from_millis(200)) {
            sockc_error!("waiting for the ring buffer: {e}");
            return ExitCode::from(3);
        }
        for t in &mut tracers {
            if printer.print(t.drain()).is_break() {
                return ExitCode::SUCCESS;
            }
        }
        if last_refresh.elapsed() >= Duration::from_secs(1) {
            last_refresh = Instant::now();
            if let Err(code) = refresh(&args.target, &mut tracers, args.json) {
                return code;
            }
        }
    }
}

/// What recovery did as each reader opened, as `status` says it (a leftover it could
/// not remove: a trace goes on beside it, and says it).
fn say_recovered(tracers: &mut [Tracer]) {
    for t in tracers {
        if let Some(r) = t.take_recovered() {
            errln!("sockc: {}: {r}", t.name());
        }
    }
}

/// A ring buffer reader for `--name`, or for every install with a rule that logs.
fn open_tracers(target: &Target) -> Result<Vec<Tracer>, ExitCode> {
    let store = open_store(target)?;
    if let Some(n) = &target.name {
        return Tracer::open(&store, n).map(|t| vec![t]).map_err(failed);
    }
    let names = install::installed_names(&store).map_err(fail)?;
    let all: Vec<Tracer> = names
        .iter()
        .filter_map(|n| Tracer::open(&store, n).ok())
        .collect();
    if all.is_empty() {
        sockc_error!(
            "no install has a rule that logs (add `log` to the rules to trace, then apply again)"
        );
        return Err(ExitCode::from(1));
    }
    Ok(all)
}

/// Follows each install to its new generation, if it moved to one (its ring buffer
/// is then reopened), under the store lock for a moment.
fn refresh(target: &Target, tracers: &mut [Tracer], json: bool) -> Result<(), ExitCode> {
    let store = open_store(target)?;
    for t in tracers.iter_mut() {
        match t.refresh(&store) {
            Ok(true) if !json && !quiet() => {
                errln!("{}: now generation {}", t.name(), t.generation())
            }
            Ok(_) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    say_recovered(tracers);
    Ok(())
}

/// Prints events, as text or JSON lines, until `--count` is reached.
struct Printer {
    json: bool,
    /// Nanoseconds to add to an event's CLOCK_MONOTONIC stamp for wall-clock time.
    offset: i128,
    /// Events stamped before this were kept from before the trace started.
    started_ktime: i128,
    /// `--count`: the events to print.
    count: Option<u64>,
    seen: u64,
    out: crate::shared::stdout::Checked,
}

impl Printer {
    /// Prints `events`; `Break` when the trace is done: `--count` reached, or the
    /// reader went away.
    fn print(&mut self, events: impl IntoIterator<Item = Event>) -> ControlFlow<()> {
        for e in events {
            if i128::from(e.ktime_ns) < self.started_ktime {
                continue;
            }
            let wall = i128::from(e.ktime_ns) + self.offset;
            let line = if self.json {
                let mut v = json_line(&e, wall);
                v["schema"] = json!(SCHEMA);
                serde_json::to_string(&v).expect("json")
            } else {
                // rule texts, comments and names as every line for people shows them
                sockc_compiler::diag::escaped(&text_line(&e, wall)).into_owned()
            };
            if writeln!(self.out, "{line}")
                .and_then(|_| self.out.flush())
                .is_err()
            {
                return ControlFlow::Break(()); // the reader went away
            }
            self.seen += 1;
            if self.count.is_some_and(|c| self.seen >= c) {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}
