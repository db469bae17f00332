//! `sockc classbench FILTERS`: a ClassBench filter file as a rule file (rule i =
//! filter i), and with `--trace` its header trace as a `sockc test --packets` file.
//! The conversion is `sockc_testkit::classbench`'s.
//!
//! Invariant: the trace is converted first; when it fails, no rule file is written.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, ValueEnum};
use sockc_compiler::limits::Limit;
use sockc_testkit::classbench::{parse_filters, parse_trace, to_sk, ActionPolicy, ConvertOptions};

use crate::shared::stderr::errln;
use crate::shared::{
    input::{read_input, shown},
    output::write_replacing,
    stdout::out,
};

#[derive(Args)]
pub struct ClassbenchArgs {
    /// the `.rules` file
    pub filters: PathBuf,
    /// write the rule file here instead of stdout
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// the block the rules go into
    #[arg(long, default_value = "xdp on eth0")]
    pub hook: String,
    /// which action each filter gets
    #[arg(long, value_enum, default_value = "alternate")]
    pub actions: ActionsArg,
    /// the block's default verdict
    #[arg(long, value_enum, default_value = "drop")]
    pub default: DefaultArg,
    /// also convert this `.rules_trace` header trace into a `sockc test --packets`
    /// file (one packet per header, in order), written to --trace-out
    #[arg(long, value_name = "TRACE", requires = "trace_out")]
    pub trace: Option<PathBuf>,
    /// where the converted trace goes
    #[arg(long, value_name = "FILE", requires = "trace")]
    pub trace_out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ActionsArg {
    /// filter i allows if i is even, drops if odd
    Alternate,
    Allow,
    Drop,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DefaultArg {
    Allow,
    Drop,
}

pub fn run(args: &ClassbenchArgs) -> ExitCode {
    if let (Some(trace), Some(out)) = (&args.trace, &args.trace_out) {
        let code = convert_trace(trace, out);
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    convert_filters(args)
}

/// Writes a ClassBench header trace as a `sockc test --packets` file.
fn convert_trace(trace: &Path, out: &Path) -> ExitCode {
    let text = match read_input(trace, Limit::PacketsFileBytes) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let headers = match parse_trace(&text) {
        Ok(h) => h,
        Err(e) => {
            errln!("sockc: {}: {e}", shown(trace));
            return ExitCode::from(1);
        }
    };
    let mut packets = String::new();
    for h in &headers {
        packets.push_str(&h.packet().to_string());
        packets.push('\n');
    }
    if let Err(code) = write_replacing(out, packets.as_bytes()) {
        return code;
    }
    errln!("{}: {} packets", shown(out), headers.len());
    ExitCode::SUCCESS
}

/// The filters as a rule file, on stdout or in `-o`.
fn convert_filters(args: &ClassbenchArgs) -> ExitCode {
    let text = match read_input(&args.filters, Limit::SourceBytes) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let parsed = match parse_filters(&text) {
        Ok(f) => f,
        Err(e) => {
            errln!("sockc: {}: {e}", shown(&args.filters));
            return ExitCode::from(1);
        }
    };
    let opts = ConvertOptions {
        hook: args.hook.clone(),
        policy: match args.actions {
            ActionsArg::Alternate => ActionPolicy::Alternate,
            ActionsArg::Allow => ActionPolicy::AllAllow,
            ActionsArg::Drop => ActionPolicy::AllDrop,
        },
        default: match args.default {
            DefaultArg::Allow => "allow",
            DefaultArg::Drop => "drop",
        },
    };
    let sk = to_sk(&parsed, &opts);
    match &args.output {
        Some(out) => {
            if let Err(code) = write_replacing(out, sk.as_bytes()) {
                return code;
            }
            errln!("{}: {} rules", shown(out), parsed.len());
        }
        None => out!("{sk}"),
    }
    ExitCode::SUCCESS
}
