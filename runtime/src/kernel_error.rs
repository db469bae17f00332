//! Kernel errors in words a user can act on: the capabilities loading needs, checked
//! before the first `bpf(2)` call; an errno with what it means for the command that
//! got it; and a verifier log read for its own reason line, which comes first, with
//! the end of the log after it and the whole log on request.
//!
//! Invariant: a translation never hides the kernel's answer — every message keeps the
//! errno's name and the verifier's own words.

use std::io;

/// Capabilities of this process, from `/proc/self/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    effective: u64,
}

/// Capability numbers (`linux/capability.h`).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

impl Capabilities {
    /// The effective set of this process; `None` when it cannot be read (then the
    /// kernel decides, and its errno is explained afterwards).
    pub fn current() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        Self::from_status(&status)
    }

    /// The `CapEff:` line of a `/proc/PID/status` text.
    pub fn from_status(status: &str) -> Option<Self> {
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))?
            .trim();
        u64::from_str_radix(hex, 16)
            .ok()
            .map(|effective| Capabilities { effective })
    }

    fn has(&self, cap: u32) -> bool {
        self.effective & (1 << cap) != 0
    }

    /// What loading the programs and their maps needs and this process lacks: maps
    /// and programs need CAP_BPF, network programs also CAP_NET_ADMIN, and programs
    /// that read a kernel struct through a BTF pointer (`reads_kernel_structs`:
    /// `nf_conn.status`, `sk_buff._nfct`) also CAP_PERFMON, which the verifier's
    /// `check_ptr_to_btf_access` asks for (CAP_SYS_ADMIN stands for all three).
    pub fn missing_for_load(&self, reads_kernel_structs: bool) -> Vec<&'static str> {
        if self.has(CAP_SYS_ADMIN) {
            return Vec::new();
        }
        let mut missing = Vec::new();
        if !self.has(CAP_BPF) {
            missing.push("CAP_BPF");
        }
        if !self.has(CAP_NET_ADMIN) {
            missing.push("CAP_NET_ADMIN");
        }
        if reads_kernel_structs && !self.has(CAP_PERFMON) {
            missing.push("CAP_PERFMON");
        }
        missing
    }
}

/// The symbolic name of an errno (`EPERM`), for messages that keep the kernel's word.
pub fn errno_name(e: &io::Error) -> Option<&'static str> {
    Some(match e.raw_os_error()? {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::E2BIG => "E2BIG",
        libc::ENOSPC => "ENOSPC",
        libc::EFAULT => "EFAULT",
        libc::ENOMEM => "ENOMEM",
        libc::ENOENT => "ENOENT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINTR => "EINTR",
        _ => return None,
    })
}

/// Most instructions `BPF_PROG_LOAD` takes from a privileged loader
/// (`BPF_COMPLEXITY_LIMIT_INSNS`), which is also the most the verifier may process.
pub const MAX_PROG_INSNS: usize = 1_000_000;

/// What the kernel operation `op` failing with `e` means, in a sentence:
/// `EPERM: not permitted: ...`.
pub fn explain_errno(op: Op, e: &io::Error) -> String {
    let code = e.raw_os_error().unwrap_or(0);
    let meaning = match (op, code) {
        (_, libc::EPERM) => {
            "not permitted: loading programs and creating maps needs CAP_BPF, network \
             programs also CAP_NET_ADMIN, and `ct state` also CAP_PERFMON (run as root)"
        }
        (Op::Load, libc::EACCES) => "the verifier refused the program",
        (Op::Load, libc::EFAULT) => {
            "the verifier stopped on one of its own limits or checks (its reason comes first)"
        }
        (Op::Load, libc::E2BIG) => {
            "the program is too large for the kernel: over 1,000,000 instructions, or over \
             1,000,000 processed by the verifier on its paths"
        }
        (Op::Load, libc::ENOSPC) => "the verifier's log did not fit its buffer",
        (Op::Load, libc::EINVAL) => "the kernel rejected the program or one of its attributes",
        (_, libc::ENOMEM) => {
            "out of memory for BPF objects: the locked-memory limit (ulimit -l) or the \
             cgroup's memory limit is too low for these maps"
        }
        (Op::TestRun, libc::EINVAL) => {
            "the kernel refused the test input (BPF_PROG_TEST_RUN takes frames of 14 bytes \
             up to about one page less headroom)"
        }
        (Op::TestRun, libc::EFAULT) => "the kernel could not copy the test input or output",
        (Op::TestRun, libc::EINTR) => "interrupted by a signal while running",
        (_, libc::EFAULT) => "the kernel could not read or write a buffer it was given",
        (_, libc::E2BIG) => "an argument is larger than the kernel accepts",
        (_, libc::EINVAL) => "the kernel rejected an argument",
        _ => "",
    };
    let name = errno_name(e).map_or(String::new(), |n| format!("{n}: "));
    if meaning.is_empty() {
        format!("{name}{e}")
    } else {
        format!("{name}{meaning} ({e})")
    }
}

/// Which kind of kernel operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `BPF_PROG_LOAD` (the verifier runs here).
    Load,
    /// `BPF_MAP_CREATE`, `BPF_MAP_UPDATE_ELEM`.
    Map,
    /// `BPF_PROG_TEST_RUN`.
    TestRun,
}

/// Lines of a verifier log shown after its reason.
pub const LOG_TAIL_LINES: usize = 20;

/// Whether a verifier log line is bookkeeping rather than the verdict.
fn is_bookkeeping(line: &str) -> bool {
    let l = line.trim();
    l.is_empty()
        || l.starts_with("processed ")
        || l.starts_with("verification time")
        || l.starts_with("stack depth")
        || l.starts_with("-- ")
        || l.starts_with("mark_precise")
        || l.starts_with("func#")
}

/// Whether a verifier log line is an instruction or register-state dump.
fn is_trace(line: &str) -> bool {
    let l = line.trim_start();
    let digits = l.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && l[digits..].starts_with(':')) || l.starts_with(';') || l.starts_with("from ")
}

/// The verifier's own reason for refusing a program: the last line of its log that
/// is neither bookkeeping (`processed N insns`) nor an instruction trace.
pub fn verifier_reason(log: &str) -> Option<&str> {
    log.lines()
        .rev()
        .map(str::trim)
        .filter(|l| !is_bookkeeping(l))
        .find(|l| !is_trace(l))
        .filter(|l| !l.is_empty())
}

/// What to do about a verifier refusal whose reason is one of the verifier's size
/// limits rather than something wrong in the program: more pending branches than it
/// follows (`The sequence of 8193 jumps is too complex`, a long -O0 rule chain), more
/// instructions processed or states kept than it allows.
pub fn verifier_hint(reason: &str) -> Option<&'static str> {
    const LIMITS: [&str; 3] = [
        "jumps is too complex",
        "BPF program is too large",
        "too many states",
    ];
    LIMITS.iter().any(|l| reason.contains(l)).then_some(
        "this is a limit of the verifier, not an error in the rules: compile at -O2 (the \
         default), where runs of rules become decision trees, or put fewer rules in this \
         hook block",
    )
}

/// The last [`LOG_TAIL_LINES`] lines of a log, and how many came before them.
pub fn log_tail(log: &str) -> (usize, Vec<&str>) {
    let lines: Vec<&str> = log.trim_end().lines().collect();
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
    (skip, lines[skip..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real log's end (kernel 6.x, an out-of-bounds packet read): the reason is the
    /// line before the bookkeeping, not the bookkeeping and not the trace.
    #[test]
    fn the_reason_line_is_found_among_traces_and_bookkeeping() {
        let log = "func#0 @0\n\
                   0: R1=ctx() R10=fp0\n\
                   0: (61) r2 = *(u32 *)(r1 +0)        ; R1=ctx() R2_w=pkt(r=0)\n\
                   1: (71) r0 = *(u8 *)(r2 +0)\n\
                   invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)\n\
                   R2 offset is outside of the packet\n\
                   processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n\n";
        assert_eq!(
            verifier_reason(log),
            Some("R2 offset is outside of the packet")
        );
        assert_eq!(
            verifier_reason(
                "BPF program is too large. Processed 1000001 insn\nprocessed 1000001 insns\n"
            ),
            Some("BPF program is too large. Processed 1000001 insn")
        );
        assert_eq!(verifier_reason("0: (95) exit\n\n"), None);
        let long = "x\n".repeat(100);
        let (skipped, tail) = log_tail(&long);
        assert_eq!((skipped, tail.len()), (80, LOG_TAIL_LINES));
    }

    /// The verifier's own limits get a hint; other reasons do not.
    #[test]
    fn verifier_limits_get_a_hint() {
        assert!(verifier_hint("The sequence of 8193 jumps is too complex.").is_some());
        assert!(verifier_hint("BPF program is too large. Processed 1000001 insn").is_some());
        assert!(verifier_hint("R2 offset is outside of the packet").is_none());
        let e = io::Error::from_raw_os_error(libc::EFAULT);
        assert!(explain_errno(Op::Load, &e).starts_with("EFAULT: the verifier stopped"));
    }

    #[test]
    fn errnos_keep_their_name_and_get_a_meaning() {
        let e = io::Error::from_raw_os_error(libc::E2BIG);
        let text = explain_errno(Op::Load, &e);
        assert!(
            text.starts_with("E2BIG: the program is too large"),
            "{text}"
        );
        assert!(text.contains("Argument list too long"), "{text}");
        let text = explain_errno(Op::Map, &io::Error::from_raw_os_error(libc::EPERM));
        assert!(
            text.contains("CAP_BPF") && text.starts_with("EPERM"),
            "{text}"
        );
        let text = explain_errno(Op::TestRun, &io::Error::from_raw_os_error(libc::EFAULT));
        assert!(
            text.starts_with("EFAULT: the kernel could not copy"),
            "{text}"
        );
    }

    #[test]
    fn capabilities_are_read_from_the_status_text() {
        let root = Capabilities::from_status("Name:\tx\nCapEff:\t000001ffffffffff\n").unwrap();
        assert!(root.missing_for_load(true).is_empty());
        let nobody = Capabilities::from_status("CapEff:\t0000000000000000\n").unwrap();
        assert_eq!(nobody.missing_for_load(false), ["CAP_BPF", "CAP_NET_ADMIN"]);
        let bpf_only = Capabilities::from_status("CapEff:\t0000008000000000\n").unwrap();
        assert_eq!(bpf_only.missing_for_load(false), ["CAP_NET_ADMIN"]);
        assert_eq!(
            bpf_only.missing_for_load(true),
            ["CAP_NET_ADMIN", "CAP_PERFMON"]
        );
        // CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: enough for either.
        let three = Capabilities::from_status("CapEff:\t000000c000001000\n").unwrap();
        assert!(three.missing_for_load(true).is_empty());
    }
}
