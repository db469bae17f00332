//! What can go wrong putting an object into the kernel, in the words the CLI prints:
//! [`RuntimeError`] for the object as a whole, [`MapFault`] for one of its maps.
//!
//! Invariant: an error the kernel gave keeps its errno as the source, and its text
//! says what that errno means for the operation ([`kernel_error`]); a refused program
//! keeps the whole verifier log ([`RuntimeError::verifier_log`]) while its message
//! shows the reason and the end of it.

use aya::programs::ProgramError;
use sockc_compiler::{metadata::MetadataError, obj::ObjError};

use crate::{kernel_btf, kernel_error, raw_load, slot_map, table_update};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("not a sockc object")]
    NotSockc(#[from] MetadataError),
    #[error("the object's tables")]
    Tables(#[source] ObjError),
    #[error("the object's program symbols")]
    Symbols(#[source] ObjError),
    #[error("map `{map}`: contents lie outside .sockc.tables")]
    TablesOutside { map: String },
    #[error("fill the classifier tables")]
    TableFill(#[from] table_update::TableUpdateError),
    #[error("cannot read the object's maps")]
    Object(#[source] aya_obj::ParseError),
    #[error("cannot create map `{map}`{}", kernel_said(.source, kernel_error::Op::Map))]
    MapCreate {
        map: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "loading programs into the kernel needs CAP_BPF and CAP_NET_ADMIN (or \
         CAP_SYS_ADMIN); this process lacks {}: run as root",
        .missing.join(" and ")
    )]
    MissingCapabilities { missing: Vec<&'static str> },
    #[error("program `{symbol}` is not in the object")]
    MissingProgram { symbol: String },
    #[error("program `{symbol}`")]
    RawLoad {
        symbol: String,
        #[source]
        source: raw_load::RawLoadError,
    },
    #[error(
        "program `{symbol}` has {insns} instructions; the kernel loads at most {} \
         (BPF_COMPLEXITY_LIMIT_INSNS): compile at -O2 (the default), where runs of rules \
         become decision trees, or put fewer rules in this hook block",
        kernel_error::MAX_PROG_INSNS
    )]
    TooLarge { symbol: String, insns: usize },
    /// The full log is [`RuntimeError::verifier_log`]; the message shows the
    /// verifier's reason and the end of the log.
    #[error("{}", verifier_text(.symbol, .io_error, .log))]
    Verifier {
        symbol: String,
        io_error: std::io::Error,
        log: String,
    },
    #[error(
        "running `{symbol}` in the kernel (BPF_PROG_TEST_RUN) failed{}",
        kernel_said(.source, kernel_error::Op::TestRun)
    )]
    TestRun {
        symbol: String,
        #[source]
        source: ProgramError,
    },
    #[error("program `{symbol}`: {source}")]
    Program {
        symbol: String,
        #[source]
        source: ProgramError,
    },
    #[error("map `{map}`")]
    Map {
        map: String,
        #[source]
        source: MapFault,
    },
    #[error(transparent)]
    SlotMap(#[from] slot_map::SlotMapError),
    #[error("program `{symbol}`: no slot for socket {socket}")]
    SocketSlot { symbol: String, socket: u32 },
    #[error("program `{symbol}`: instruction {insn} to patch is outside the program")]
    PatchOutside { symbol: String, insn: usize },
    #[error(transparent)]
    CgroupRef(#[from] crate::cgroup_refs::RefError),
    #[error("the limits of `reject`'s answers")]
    AnswerLimits(#[from] crate::icmp_limits::SysctlError),
    #[error("program `{symbol}` needs {what} from the running kernel: {source}")]
    KernelRef {
        symbol: String,
        what: String,
        #[source]
        source: kernel_btf::BtfError,
    },
}

impl RuntimeError {
    /// The whole verifier log of a program the verifier refused.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            RuntimeError::Verifier { log, .. } => Some(log),
            _ => None,
        }
    }
}

/// The verifier's reason first, then what the errno means, then the end of the log.
fn verifier_text(symbol: &str, io_error: &std::io::Error, log: &str) -> String {
    let reason = kernel_error::verifier_reason(log).unwrap_or("(the log gives no reason)");
    let (skipped, tail) = kernel_error::log_tail(log);
    let mut out = format!(
        "the verifier rejected `{symbol}`: {reason}\n  kernel: {}",
        kernel_error::explain_errno(kernel_error::Op::Load, io_error)
    );
    if let Some(hint) = kernel_error::verifier_hint(reason) {
        out.push_str("\n  ");
        out.push_str(hint);
    }
    if !tail.is_empty() {
        out.push_str("\n  end of the verifier log:");
        for l in tail {
            out.push_str("\n    ");
            out.push_str(l);
        }
    }
    if skipped > 0 {
        out.push_str(&format!(
            "\n  ({skipped} earlier lines of the log not shown: `sockc check --verify \
             --verifier-log FILE` writes all of it)"
        ));
    }
    out
}

/// `: ` and what the errno under `e` means for `op`, when there is one.
fn kernel_said(e: &(dyn std::error::Error + 'static), op: kernel_error::Op) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.raw_os_error().is_some() {
                return format!(": {}", kernel_error::explain_errno(op, io));
            }
        }
        cause = c.source();
    }
    String::new()
}

/// What went wrong with one map.
#[derive(Debug, thiserror::Error)]
pub enum MapFault {
    #[error("not in the object")]
    Missing,
    #[error("unexpected map type")]
    UnexpectedType,
    #[error("bad {what} {text}")]
    BadHex { what: &'static str, text: String },
    #[error("insert {key}")]
    Insert {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("fill")]
    Fill(#[source] std::io::Error),
    #[error("read")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Aya(#[from] aya::maps::MapError),
    #[error("pin")]
    Pin(#[source] Box<aya::pin::PinError>),
}
