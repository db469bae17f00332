//! `sockc compile FILE`: a rule file to an eBPF object (`-o`), or printed (`--emit`:
//! the bytecode listing, the IR, or its programs and maps as JSON).
//!
//! Invariant: under `--json` nothing but the one document goes to stdout (the listing
//! only when `--emit` asks for it, inside the document); without `-o` and `--emit`
//! the listing is printed. The process ends as soon as the output is written
//! ([`exit_now`]): freeing a large rule set's IR one allocation at a time would only
//! delay it.

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use sockc_compiler::{bpf::limits, Compiled};

use crate::shared::stderr::errln;
use crate::shared::{
    build::build,
    json::{self, sockc_error},
    memory::exit_now,
    output::write_replacing,
    stdout,
    time::stages_ms,
};

#[derive(Args)]
pub struct CompileArgs {
    /// the rule file (`-` reads standard input)
    pub file: PathBuf,
    /// write the ELF object here
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// what to print on stdout (default: asm, when neither -o nor --json is given)
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// print the programs, the diagnostics and what --emit asked for as one JSON
    /// document on stdout (see docs/json.md)
    #[arg(short, long)]
    pub json: bool,
    /// print how long each stage took (ms) on stderr
    #[arg(long)]
    pub timings: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Emit {
    /// ELF object (needs -o)
    Obj,
    /// bytecode in bpftool `dump xlated` syntax, each rule marked with its source line
    Asm,
    /// the checked intermediate representation
    Ir,
    /// metadata, programs and instruction counts as JSON
    Json,
}

/// Timed stages, for `--timings`.
type Stages = Vec<(&'static str, Duration)>;

pub fn run(args: &CompileArgs) -> ExitCode {
    let start = Instant::now();
    let c = match build(&args.file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut stages = c.timings.clone();
    let read = (Instant::now() - start).saturating_sub(c.compile_time);
    stages.insert(0, ("read, diagnostics", read));
    let emit = match what_to_emit(args) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if let Some(out) = &args.output {
        if let Err(code) = write_object(&c, out, &mut stages) {
            return code;
        }
    }
    if args.timings {
        errln!(
            "timings (ms): {}; total {:.1}",
            stages_ms(&stages),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    if args.json {
        json::emit(document(args, &c, emit));
        return ExitCode::SUCCESS;
    }
    match emit {
        // JSON escapes itself
        Some(Emit::Json) => stdout::bytes(listing(&c, emit).as_bytes()),
        _ => stdout::text(&listing(&c, emit)),
    }
    // The process ends here: freeing a large rule set's IR and tables one allocation
    // at a time, and the allocator handing its pages back at exit, would only delay
    // it (~5 ms at 10,000 rules, more than the whole parse).
    exit_now(0)
}

/// What `--emit` prints, by default: asm when nothing else is written (under --json
/// nothing but the document goes to stdout: asm only when asked for). `--emit obj`
/// without `-o` is exit 2.
fn what_to_emit(args: &CompileArgs) -> Result<Option<Emit>, ExitCode> {
    let emit = args.emit.or(if args.output.is_none() && !args.json {
        Some(Emit::Asm)
    } else {
        None
    });
    if emit == Some(Emit::Obj) && args.output.is_none() {
        sockc_error!("--emit obj needs -o FILE");
        return Err(ExitCode::from(2));
    }
    Ok(emit)
}

/// Writes the ELF object to `out`, timing its making and its writing.
fn write_object(c: &Compiled, out: &std::path::Path, stages: &mut Stages) -> Result<(), ExitCode> {
    let t = Instant::now();
    let elf = c.to_elf().map_err(|e| {
        sockc_error!("internal error writing the object: {e}");
        ExitCode::from(1)
    })?;
    stages.push(("object", t.elapsed()));
    let t = Instant::now();
    write_replacing(out, &elf)?;
    stages.push(("write", t.elapsed()));
    Ok(())
}

/// `--emit`'s text on stdout.
fn listing(c: &Compiled, emit: Option<Emit>) -> String {
    match emit {
        Some(Emit::Asm) => c.asm(),
        Some(Emit::Ir) => c.module.to_string(),
        Some(Emit::Json) => serde_json::to_string_pretty(&emitted_json(c)).expect("json") + "\n",
        Some(Emit::Obj) | None => String::new(),
    }
}

/// `compile --json`'s document: the file, the object written, the programs, and what
/// `--emit` asked for.
fn document(args: &CompileArgs, c: &Compiled, emit: Option<Emit>) -> Value {
    json!({
        "file": args.file.display().to_string(),
        "output": args.output.as_ref().map(|o| o.display().to_string()),
        "programs": programs_json(c),
        "emitted": match emit {
            Some(Emit::Asm) => Value::String(c.asm()),
            Some(Emit::Ir) => Value::String(c.module.to_string()),
            Some(Emit::Json) => emitted_json(c),
            Some(Emit::Obj) | None => Value::Null,
        },
    })
}

/// `--emit json`: the programs, the maps and their contents.
fn emitted_json(c: &Compiled) -> Value {
    json!({
        "programs": programs_json(c),
        "maps": c.maps.iter().map(|m| json!({
            "name": m.name, "type": m.map_type, "key_size": m.key.size(),
            "value_size": m.value.size(), "max_entries": m.max_entries,
        })).collect::<Vec<_>>(),
        "map_contents": c.metadata.map_contents,
    })
}

/// Programs of a compiled file with their rules and stable rule ids (`--emit json`
/// and `compile --json`).
fn programs_json(c: &Compiled) -> Vec<Value> {
    c.programs
        .iter()
        .zip(&c.metadata.programs)
        .map(|(p, m)| {
            let ids = sockc_runtime::rule_id::block_ids(
                m.hook.spec().name,
                &m.attach_to,
                m.rules.iter().map(|r| &*r.text),
            );
            let rules: Vec<_> = m
                .rules
                .iter()
                .zip(ids)
                .map(|(r, id)| {
                    json!({"id": id, "counter": r.counter, "line": r.line, "text": r.text})
                })
                .collect();
            let u = limits::measure(&p.code);
            json!({
                "symbol": p.symbol, "section": p.section, "hook": m.hook,
                "attach_to": m.attach_to, "insns": p.code.insns.len(), "rules": rules,
                "limits": {
                    "insns": u.insns, "jump_sequence": u.jump_sequence,
                    "processed_estimate": u.processed, "stack": u.stack, "maps": u.maps,
                    "simulated_jumps": limits::simulated_jump_sequence(&p.code.insns),
                },
            })
        })
        .collect()
}
