//! `sockc trace`: live packets that rules with `log` decided, each with the rule (line,
//! stable id, text), hook and verdict, read from the installs' ring buffers
//! (`sockc_runtime::trace`). Text lines for people, `--json` one object per line.
//!
//! The store lock is taken only to open ring buffers and, about once a second, to see
//! whether an install moved to a new generation (its ring buffer is then reopened), so
//! a trace never keeps an apply waiting.

use std::{
    io::Write,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Args;
use serde_json::json;
use sockc_runtime::{
    error_chain, install,
    trace::{self, Event, TraceError, Tracer},
};

use crate::shared::{
    json::sockc_error,
    privileges,
    settings::quiet,
    store::{check_name, fail, open_store, Target},
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
    format!(
        "{time} {} {}: {} by line {} [{}] {}  <-  {pkt} ({} bytes)",
        e.install,
        e.hook.spec().label(&e.attach_to),
        e.verdict,
        e.rule.line,
        e.rule.id,
        e.rule.text,
        p.len
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
    })
}

pub fn run(args: &TraceArgs) -> ExitCode {
    if let Err(code) = privileges::require("trace", privileges::READ) {
        return code;
    }
    if let Some(n) = &args.target.name {
        if let Err(code) = check_name(n) {
            return code;
        }
    }
    // Events the rings kept from before this trace started are not shown: a trace
    // shows the packets that arrive while it runs (from before the rings are open, so
    // whoever sees them open knows the trace is on).
    let started_ktime = monotonic_ns();
    let mut tracers: Vec<Tracer> = {
        let store = match open_store(&args.target) {
            Ok(s) => s,
            Err(code) => return code,
        };
        match &args.target.name {
            Some(n) => match Tracer::open(&store, n) {
                Ok(t) => vec![t],
                Err(e) => return failed(e),
            },
            None => {
                let names = match install::installed_names(&store) {
                    Ok(n) => n,
                    Err(e) => return fail(e),
                };
                let all: Vec<Tracer> = names
                    .iter()
                    .filter_map(|n| Tracer::open(&store, n).ok())
                    .collect();
                if all.is_empty() {
                    sockc_error!(
                        "no install has a rule that logs (add `log` to the rules to trace, then apply again)"
                    );
                    return ExitCode::from(1);
                }
                all
            }
        }
    };
    if !args.json && !quiet() {
        let names: Vec<String> = tracers
            .iter()
            .map(|t| format!("{} (generation {})", t.name(), t.generation()))
            .collect();
        eprintln!("tracing {}; Ctrl-C stops", names.join(", "));
    }
    let offset = monotonic_offset_ns();
    let start = Instant::now();
    let deadline = args.timeout.map(Duration::from_secs_f64);
    let mut last_refresh = Instant::now();
    let mut seen = 0u64;
    let mut out = crate::shared::stdout::Checked;
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
            for e in t.drain() {
                if i128::from(e.ktime_ns) < started_ktime {
                    continue;
                }
                let wall = i128::from(e.ktime_ns) + offset;
                let line = if args.json {
                    let mut v = json_line(&e, wall);
                    v["schema"] = json!(SCHEMA);
                    serde_json::to_string(&v).expect("json")
                } else {
                    text_line(&e, wall)
                };
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    return ExitCode::SUCCESS; // the reader went away
                }
                seen += 1;
                if args.count.is_some_and(|c| seen >= c) {
                    return ExitCode::SUCCESS;
                }
            }
        }
        if last_refresh.elapsed() >= Duration::from_secs(1) {
            last_refresh = Instant::now();
            let store = match open_store(&args.target) {
                Ok(s) => s,
                Err(code) => return code,
            };
            for t in &mut tracers {
                match t.refresh(&store) {
                    Ok(true) if !args.json && !quiet() => {
                        eprintln!("{}: now generation {}", t.name(), t.generation())
                    }
                    Ok(_) => {}
                    Err(e) => return failed(e),
                }
            }
        }
    }
}
