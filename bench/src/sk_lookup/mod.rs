//! `sockc bench`'s sk_lookup table: the kernel-measured cost of one socket lookup
//! through sockc's program for N bindings ([`bindings`]), against a program that only
//! returns `SK_PASS` (the cost of running any sk_lookup program at all) and against a
//! tubular-style program that the bench builds itself ([`tubular`]).
//!
//! sockc's program is compiled from the bindings as `redirect` rules; the bench checks
//! that every program that steers selects the socket the bindings say for every
//! measured lookup before it reports anything.
//!
//! Lookups measured: to the first binding, to the last (the worst case of a linear
//! rule list), and to an address no binding covers (`SK_PASS`, the normal lookup).
//! Each figure is the median of several `BPF_PROG_TEST_RUN`s with a large repeat;
//! ratios are within this run only.

mod bindings;
mod tubular;

use std::{
    net::{SocketAddr, TcpListener},
    os::fd::AsFd,
};

use sockc_compiler::opt::OptLevel;
use sockc_runtime::{attach::sk_lookup::context, LoadedObject};

use crate::measure::{compile, median, TestRuns};
use bindings::{bindings, lookup_of, sockc_source, Binding, SOCKETS};

/// A loaded program under test.
struct Program {
    label: &'static str,
    obj: LoadedObject,
    symbol: String,
    /// Whether it steers to the bindings' sockets (all but the SK_PASS-only one).
    steers: bool,
}

fn sockc_program(label: &'static str, src: &str, level: OptLevel) -> Result<Program, String> {
    let c = compile(src, level)?;
    let elf = c.to_elf().map_err(|e| e.to_string())?;
    let obj = LoadedObject::load(&elf).map_err(|e| format!("load: {e}"))?;
    Ok(Program {
        label,
        symbol: c.metadata.programs[0].symbol.clone(),
        obj,
        steers: true,
    })
}

/// Registers the listeners under the keys each program uses (sockc: the declared
/// sockets' keys; tubular-style: the destination ids 0..4).
fn register(p: &Program, listeners: &[TcpListener], keys: &[u32]) -> Result<(), String> {
    let Some(map) = p.obj.socket_map() else {
        return Ok(());
    };
    for (l, k) in listeners.iter().zip(keys) {
        map.insert(*k, l.as_fd()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The median ns of one lookup, and the socket the last run selected.
fn ns_per_lookup(p: &Program, ctx: &[u8], runs: TestRuns) -> Result<(f64, Option<u64>), String> {
    let mut v = Vec::new();
    let mut selected = None;
    for _ in 0..runs.runs {
        let r = p
            .obj
            .test_run(&p.symbol, ctx, runs.repeat)
            .map_err(|e| format!("{}: test run: {e}", p.label))?;
        selected = r.selected;
        v.push(r.duration.as_nanos() as f64);
    }
    Ok((median(v), selected))
}

/// The programs for bindings `bs`, the listeners registered in their socket maps:
/// SK_PASS only, tubular-style, sockc -O2 and -O0. The linear -O0 program of many
/// bindings is over the kernel's limits: the compiler refuses it, and a row saying so
/// is returned instead (the -O2 one must load).
fn programs(
    bs: &[Binding],
    listeners: &[TcpListener],
) -> Result<(Vec<Program>, Vec<String>), String> {
    let n = bs.len();
    let mut pass = sockc_program(
        "SK_PASS only",
        "sk_lookup {\n    default pass\n}\n",
        OptLevel::O2,
    )?;
    pass.steers = false;
    let tubular = Program {
        label: "tubular-style",
        obj: LoadedObject::load(&tubular::object(bs)?)
            .map_err(|e| format!("tubular-style: load: {e}"))?,
        symbol: tubular::SYMBOL.into(),
        steers: true,
    };
    register(&tubular, listeners, &[0, 1, 2, 3])?;
    let mut programs = vec![pass, tubular];
    let mut refused = Vec::new();
    let src = sockc_source(bs);
    // Loaded on its own, a program uses slot i for declared socket i.
    let sockc_keys: Vec<u32> = (0..SOCKETS as u32).collect();
    for (label, level) in [("sockc -O2", OptLevel::O2), ("sockc -O0", OptLevel::O0)] {
        let p = match sockc_program(label, &src, level) {
            Ok(p) => p,
            Err(e) if level == OptLevel::O0 => {
                refused.push(format!("| {n} | {label} | - | refused: {e} | | |\n"));
                continue;
            }
            Err(e) => return Err(e),
        };
        register(&p, listeners, &sockc_keys)?;
        programs.push(p);
    }
    Ok((programs, refused))
}

/// One program's row: ns per lookup for each of `lookups`, each checked to select
/// the socket of `want` (nothing, for a program that does not steer).
fn row(
    p: &Program,
    n: usize,
    lookups: &[(SocketAddr, SocketAddr)],
    want: &[Option<u64>],
    runs: TestRuns,
) -> Result<(String, Vec<f64>), String> {
    let mut ns = Vec::new();
    for ((remote, local), want) in lookups.iter().zip(want) {
        let (t, selected) = ns_per_lookup(p, &context(6, *remote, *local), runs)?;
        let expected = if p.steers { *want } else { None };
        if selected != expected {
            return Err(format!(
                "{} with {n} bindings: lookup {remote} -> {local} selected {selected:?}, \
                 the bindings say {expected:?}",
                p.label
            ));
        }
        ns.push(t);
    }
    let insns = p
        .obj
        .programs()
        .first()
        .and_then(|l| l.xlated_insns)
        .map_or("-".to_string(), |x| x.to_string());
    let line = format!(
        "| {n} | {} | {insns} | {:.1} | {:.1} | {:.1} |\n",
        p.label, ns[0], ns[1], ns[2]
    );
    Ok((line, ns))
}

/// The table; see the module docs. Printed as it goes, and returned.
pub fn table(runs: TestRuns, sizes: &[usize]) -> Result<String, String> {
    let listeners: Vec<TcpListener> = (0..SOCKETS)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let cookies: Vec<u64> = listeners
        .iter()
        .map(|l| sockc_runtime::slot_map::socket_cookie(l.as_fd()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut out = String::from(
        "\nsk_lookup (ns per lookup; TCP bindings to 4 sockets; BPF_PROG_TEST_RUN):\n\n\
         | bindings | program | insns | first ns | last ns | miss ns |\n\
         |---:|---|---:|---:|---:|---:|\n",
    );
    print!("{out}");
    let mut ratios = String::new();
    for &n in sizes {
        let bs = bindings(n);
        let (programs, refused) = programs(&bs, &listeners)?;
        let (first, last) = (&bs[0], bs.last().expect("at least one binding"));
        let lookups = [
            lookup_of(first),
            lookup_of(last),
            (
                "192.0.2.1:40000".parse().unwrap(),
                "203.0.113.9:80".parse().unwrap(),
            ),
        ];
        let want = [
            Some(cookies[first.socket]),
            Some(cookies[last.socket]),
            None,
        ];
        let mut figures = Vec::new();
        for p in &programs {
            let (line, ns) = row(p, n, &lookups, &want, runs)?;
            print!("{line}");
            out.push_str(&line);
            figures.push(ns);
        }
        for line in refused {
            print!("{line}");
            out.push_str(&line);
        }
        ratios.push_str(&ratio_line(n, &figures));
    }
    out.push('\n');
    out.push_str(&ratios);
    print!("\n{ratios}");
    Ok(out)
}

/// The worst lookups of SK_PASS only, tubular-style and sockc -O2 (`figures` in that
/// order) compared.
fn ratio_line(n: usize, figures: &[Vec<f64>]) -> String {
    let worst = |f: &[f64]| f.iter().cloned().fold(0.0, f64::max);
    let base = worst(&figures[0]);
    let tub = worst(&figures[1]);
    let ours = worst(&figures[2]);
    format!(
        "{n} bindings: sockc -O2 worst {ours:.1} ns, tubular-style worst {tub:.1} ns \
         (sockc/tubular {:.2}); above SK_PASS only: sockc +{:.1} ns, tubular-style +{:.1} ns\n",
        ours / tub,
        ours - base,
        tub - base
    )
}
