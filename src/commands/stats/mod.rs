//! `sockc stats`: per-rule counters of every install (or one), with stable rule ids;
//! `--watch` redraws them with per-rule rates, `--prometheus` writes the Prometheus
//! text format (for node_exporter's textfile collector, or a scrape through any file
//! server), `--reset` zeroes them while the rules keep running.
//!
//! Counters are read with the store lock held only for the read: a watch holds it for
//! a moment per sample, so applies are never kept waiting for long.

use std::{
    collections::HashMap,
    fmt::Write as _,
    io::IsTerminal,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use crate::shared::table::Table;
use clap::Args;
use serde_json::{json, Value};
use sockc_runtime::{
    error_chain,
    install::{self, InstallError, RuleStats},
};

use crate::shared::stderr::errln;
use crate::shared::{
    confirmation,
    json::{self, sockc_error},
    output::write_replacing,
    privileges,
    settings::quiet,
    stdout,
    store::{check_given_name, fail, open_store, Target},
    table, time,
};

mod prometheus;

/// Version of the JSON `stats` prints (docs/json.md).
pub const SCHEMA: &str = "sockc.stats/1";

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub target: Target,
    /// print the counters as JSON on stdout (see docs/json.md); with --watch one JSON
    /// object per line and sample
    #[arg(short, long, conflicts_with = "prometheus")]
    pub json: bool,
    /// print the counters again every --interval seconds, with per-rule rates, until
    /// interrupted (or --count samples)
    #[arg(long, conflicts_with = "prometheus")]
    pub watch: bool,
    /// seconds between two samples of --watch (fractions allowed)
    #[arg(long, default_value = "1", value_name = "SECS", requires = "watch")]
    pub interval: f64,
    /// stop --watch after this many samples
    #[arg(long, value_name = "N", requires = "watch")]
    pub count: Option<u64>,
    /// print the counters in the Prometheus text exposition format (metrics
    /// sockc_rule_packets_total and sockc_rule_bytes_total, labelled by install, hook,
    /// attach_to, rule_id and rule)
    #[arg(long)]
    pub prometheus: bool,
    /// write the output to this file instead of stdout, replaced in one rename (what
    /// node_exporter's textfile collector needs)
    #[arg(short, long, value_name = "FILE", conflicts_with = "watch")]
    pub output: Option<PathBuf>,
    /// after printing them, set every counter of the install(s) to zero; the programs
    /// keep running and nothing is reloaded (CAP_BPF)
    #[arg(long, conflicts_with = "watch")]
    pub reset: bool,
}

/// One install's counters as read.
struct Sample {
    name: String,
    generation: u64,
    source_file: String,
    applied_unix: u64,
    rules: Vec<RuleStats>,
    /// `reject`'s ICMP answers the answer limits refused (host-wide, per destination);
    /// `None` without answer limits.
    answers_refused: Option<[u64; 2]>,
    warnings: Vec<String>,
}

/// What one reading of the store gave: the installs read and those that could not be.
struct Reading {
    installs: Vec<Sample>,
    errors: Vec<(String, String)>,
    /// Set when one named install could not be read: the command fails with it.
    fatal: Option<InstallError>,
}

fn read(target: &Target) -> Result<Reading, ExitCode> {
    let store = open_store(target)?;
    confirmation::settle_and_say(&store, target.name.as_deref());
    let names = match &target.name {
        Some(n) => vec![n.clone()],
        None => install::installed_names(&store).map_err(fail)?,
    };
    let mut reading = Reading {
        installs: Vec::new(),
        errors: Vec::new(),
        fatal: None,
    };
    for name in names {
        match install::stats(&store, &name) {
            Ok((m, rules, warnings)) => reading.installs.push(Sample {
                answers_refused: install::answers_refused(&store, &m),
                name,
                generation: m.generation,
                source_file: m.source_file.clone(),
                applied_unix: m.applied_unix,
                rules,
                warnings,
            }),
            Err(e) if target.name.is_some() => {
                reading.fatal = Some(e);
            }
            Err(e) => reading.errors.push((name, error_chain(&e))),
        }
    }
    Ok(reading)
}

pub fn run(args: &StatsArgs) -> ExitCode {
    let need = if args.reset {
        privileges::INSTALL
    } else {
        privileges::READ
    };
    if let Err(code) =
        privileges::require("stats", need).and_then(|_| check_given_name(&args.target))
    {
        return code;
    }
    if args.watch {
        return watch(args);
    }
    let reading = match read(&args.target) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Some(e) = reading.fatal {
        return fail(e);
    }
    if let Err(code) = print(args, &reading) {
        return code;
    }
    if args.reset {
        if let Err(code) = reset(args, &reading) {
            return code;
        }
    }
    if reading.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

/// One reading as text, JSON or Prometheus, on stdout or into `--output`; the
/// warnings of the installs read and the errors of those that could not be.
fn print(args: &StatsArgs, reading: &Reading) -> Result<(), ExitCode> {
    let text = if args.prometheus {
        prometheus::text(reading)
    } else if args.json {
        String::new()
    } else {
        render(reading, None)
    };
    if !args.json && !quiet() {
        for s in &reading.installs {
            for w in &s.warnings {
                errln!("warning: {}: {w}", s.name);
            }
        }
    }
    for (name, e) in &reading.errors {
        sockc_error!("{name}: {e}");
    }
    match &args.output {
        None if args.json => json::emit(to_json(reading, None)),
        Some(path) if args.json => {
            let text = serde_json::to_string_pretty(&to_json(reading, None)).expect("json");
            write_replacing(path, text.as_bytes())?;
        }
        Some(path) => write_replacing(path, text.as_bytes())?,
        // the Prometheus format is data (its label values escaped as it says)
        None if args.prometheus => stdout::bytes(text.as_bytes()),
        None => stdout::text(&text),
    }
    Ok(())
}

/// `--reset`: every counter of the installs read set to zero.
fn reset(args: &StatsArgs, reading: &Reading) -> Result<(), ExitCode> {
    let store = open_store(&args.target)?;
    for s in &reading.installs {
        // What its recovery met was said with the reading (its warnings).
        let (n, _) = install::reset_counters(&store, &s.name).map_err(fail)?;
        if !quiet() && !args.json {
            errln!("{}: counters of {n} rules reset to 0", s.name);
        }
    }
    Ok(())
}

/// Rates per install and rule id between two samples.
type Rates = HashMap<(String, String), (f64, f64)>;

fn rates(prev: &Reading, now: &Reading, dt: f64) -> Rates {
    let before: HashMap<(&str, &str), (u64, u64)> = prev
        .installs
        .iter()
        .flat_map(|s| {
            s.rules
                .iter()
                .map(move |r| ((s.name.as_str(), r.id.as_str()), (r.packets, r.bytes)))
        })
        .collect();
    let mut out = Rates::new();
    for s in &now.installs {
        for r in &s.rules {
            if let Some(&(p, b)) = before.get(&(s.name.as_str(), r.id.as_str())) {
                // A counter that went down was reset: its rate is what it counted since.
                let dp = if r.packets >= p {
                    r.packets - p
                } else {
                    r.packets
                };
                let db = if r.bytes >= b { r.bytes - b } else { r.bytes };
                out.insert(
                    (s.name.clone(), r.id.clone()),
                    (dp as f64 / dt, db as f64 / dt),
                );
            }
        }
    }
    out
}

fn watch(args: &StatsArgs) -> ExitCode {
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        sockc_error!("--interval must be at least 0.05 seconds");
        return ExitCode::from(2);
    }
    let interval = Duration::from_secs_f64(args.interval);
    let tty = std::io::stdout().is_terminal();
    let mut prev: Option<(Reading, Instant)> = None;
    let mut n = 0u64;
    loop {
        let reading = match read(&args.target) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let at = Instant::now();
        if let Some(e) = reading.fatal {
            return fail(e);
        }
        let r = prev
            .as_ref()
            .map(|(p, t)| rates(p, &reading, at.duration_since(*t).as_secs_f64()));
        if args.json {
            json::emit_line(to_json(&reading, Some(r.as_ref())));
        } else {
            if tty {
                // the terminal's own sequences: home, clear the screen
                stdout::bytes(b"\x1b[H\x1b[2J");
            }
            stdout::text(&format!(
                "every {}s, {}\n{}{}",
                args.interval,
                time::local_time(now_unix()),
                render(&reading, Some(r.as_ref())),
                if tty { "" } else { "\n" }
            ));
        }
        n += 1;
        if args.count.is_some_and(|c| n >= c) {
            return ExitCode::SUCCESS;
        }
        prev = Some((reading, at));
        std::thread::sleep(interval);
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `rates`: `None` without --watch; `Some(None)` for the first sample of a watch.
fn render(reading: &Reading, rates: Option<Option<&Rates>>) -> String {
    let mut out = String::new();
    if reading.installs.is_empty() && reading.errors.is_empty() {
        out.push_str("nothing installed\n");
    }
    for s in &reading.installs {
        let _ = writeln!(
            out,
            "{}: generation {} from {}, applied {}",
            s.name,
            s.generation,
            s.source_file,
            time::local_time(s.applied_unix)
        );
        // One table per hook, in the order the rules come (grouped by hook).
        let mut rest = s.rules.as_slice();
        while let Some(first) = rest.first() {
            let hook = (first.hook, first.attach_to.as_str());
            let n = rest
                .iter()
                .take_while(|r| (r.hook, r.attach_to.as_str()) == hook)
                .count();
            let _ = writeln!(out, "{}:", first.hook.spec().label(&first.attach_to));
            for line in table::lines(&rules_table(&s.name, &rest[..n], rates), "  ") {
                let _ = writeln!(out, "{line}");
            }
            rest = &rest[n..];
        }
        if let Some([host, peer]) = s.answers_refused {
            let _ = writeln!(
                out,
                "reject answers refused by their limits (dropped): {host} host-wide, {peer} per destination"
            );
        }
    }
    for (name, e) in &reading.errors {
        let _ = writeln!(out, "{name}: not read: {e}");
    }
    out
}

/// One hook's rules as a table: counters (and rates under `--watch`) right-aligned,
/// then the source line, the rule id and the rule's text.
fn rules_table(install: &str, rules: &[RuleStats], rates: Option<Option<&Rates>>) -> Table {
    let Some(rates) = rates else {
        let mut t = table::new(["packets", "bytes", "line", "id", "rule"], &[0, 1, 2]);
        for r in rules {
            t.add_row([
                r.packets.to_string(),
                r.bytes.to_string(),
                r.line.to_string(),
                r.id.clone(),
                r.text.clone(),
            ]);
        }
        return t;
    };
    let mut t = table::new(
        ["packets", "bytes", "pkt/s", "bytes/s", "line", "id", "rule"],
        &[0, 1, 2, 3, 4],
    );
    for r in rules {
        let (pps, bps) = rates
            .and_then(|m| m.get(&(install.to_string(), r.id.clone())))
            .map_or(("-".to_string(), "-".to_string()), |(p, b)| {
                (format!("{p:.1}"), format!("{b:.0}"))
            });
        t.add_row([
            r.packets.to_string(),
            r.bytes.to_string(),
            pps,
            bps,
            r.line.to_string(),
            r.id.clone(),
            r.text.clone(),
        ]);
    }
    t
}

fn to_json(reading: &Reading, rates: Option<Option<&Rates>>) -> Value {
    let installs: Vec<Value> = reading
        .installs
        .iter()
        .map(|s| {
            let rules: Vec<Value> = s
                .rules
                .iter()
                .map(|r| {
                    let mut v = json!({
                        "id": r.id, "hook": r.hook, "attach_to": r.attach_to, "line": r.line,
                        "text": r.text, "packets": r.packets, "bytes": r.bytes,
                    });
                    if let Some(rates) = rates {
                        let got = rates.and_then(|m| m.get(&(s.name.clone(), r.id.clone())));
                        v["packets_per_sec"] = json!(got.map(|x| x.0));
                        v["bytes_per_sec"] = json!(got.map(|x| x.1));
                    }
                    v
                })
                .collect();
            let mut v = json!({
                "name": s.name,
                "generation": s.generation,
                "source_file": s.source_file,
                "applied_at": time::rfc3339(s.applied_unix),
                "rules": rules,
                "warnings": s.warnings,
            });
            if let Some([host, peer]) = s.answers_refused {
                v["answers_refused"] = json!({"host": host, "per_destination": peer});
            }
            v
        })
        .collect();
    let mut v = json!({
        "schema": SCHEMA,
        "installs": installs,
        "errors": reading.errors.iter().map(|(n, e)| json!({"name": n, "message": e})).collect::<Vec<_>>(),
    });
    if rates.is_some() {
        v["time"] = json!(time::rfc3339(now_unix()));
    }
    v
}
