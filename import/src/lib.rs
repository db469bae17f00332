//! sockc-import: the rulesets people run today — `iptables-save`/`ip6tables-save`
//! output, `nft list ruleset` text, `nft -j list ruleset` JSON — as sockc rule files,
//! with a report saying, rule by rule, what is exact, approximate or unsupported.
//!
//! Pipeline (naga-style: three front ends, one model, one lowering):
//!
//! ```text
//! text ─┬─ iptables::read ─┐
//!       ├─ nft::text::read ─┼─▶ model::Ruleset ─▶ semantics (places, flatten) ─▶ lower ─▶ .sk text
//!       └─ nft::json::read ─┘                                               └──▶ report
//! ```
//!
//! - [`model`]: tables, chains, rules (matches, effects, verdict), sets — what the input
//!   says, with spans.
//! - [`semantics`]: netfilter's meaning — base chains in priority order, jumps, gotos,
//!   returns and policies — as first-match lists of flat rules over header-space cubes
//!   ([`algebra`]), one per place a sockc block can run.
//! - [`lower`]: flat rules → sockc rules, each exact, stricter (approximate) or left
//!   out (unsupported) with the reason; [`features`] is the one table of what the
//!   language can say today.
//! - [`report`]: the per-rule report as data.
//!
//! The compiler is not called here; the tests compile every output.

#![forbid(unsafe_code)]

pub mod algebra;
pub mod detect;
pub mod diag;
pub mod eval;
pub mod features;
pub mod iptables;
pub mod lower;
pub mod model;
pub mod names;
pub mod nft;
pub mod report;
pub mod semantics;
pub mod status;
pub mod values;

pub use detect::Format;
pub use diag::{Diagnostic, ImportError};
pub use report::{Report, Status};

use lower::sets::SetTable;
pub use lower::Program;
use model::{NfHook, Ruleset};
use semantics::{atoms::Atoms, Place, Placed};
use sockc_compiler::diag::Code;

/// Where the imported rules run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// At the netfilter hooks where the source ran them: one `netfilter` block per
    /// hook and priority of the source's base chains.
    Netfilter,
    /// XDP on the interface: input (and prerouting) chains.
    Xdp,
    /// TC on the interface: input at ingress, output at egress.
    Tc,
}

impl Default for Hook {
    /// Where the source ran the rules, when the language has netfilter hook blocks
    /// ([`features::Feature::NetfilterHook`]); without them XDP, the ingress fast path.
    fn default() -> Hook {
        if features::Feature::NetfilterHook.available() {
            Hook::Netfilter
        } else {
            Hook::Xdp
        }
    }
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Netfilter => "netfilter",
            Hook::Xdp => "xdp",
            Hook::Tc => "tc",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The input format; detected when `None`.
    pub from: Option<Format>,
    pub hook: Hook,
    /// The interface the blocks attach to (required for xdp and tc).
    pub interface: Option<String>,
    /// The input's name, for the file's header.
    pub source_name: Option<String>,
}

/// What an import produced.
#[derive(Clone, Debug)]
pub struct Import {
    pub format: Format,
    pub sk_text: String,
    pub report: Report,
    /// The set files the output names (`set NAME = file "PATH"`): ipsets whose
    /// members the user exports; each with the command that does it.
    pub set_files: Vec<(String, String)>,
}

/// The bounds of one place's flattening for a ruleset of `rules` rules (see
/// [`semantics::flatten::Budget`]): far above what real rulesets need (a 100,000-rule
/// ClassBench list takes 99,310 flat rules, a weight of 0.6 million and 0.3 million
/// steps), and bounds on memory (a unit of weight is a range or an atom, 16 to 32
/// bytes: 8 to 64 million of them) and on time (20 to 400 million steps, a rule visit
/// or a comparison of two cubes each: about 0.1 to 0.5 µs in a release build) for
/// pathological ones.
pub fn flat_budget(rules: usize) -> semantics::flatten::Budget {
    semantics::flatten::Budget {
        rules: rules.saturating_mul(16).clamp(200_000, 4_000_000),
        weight: rules.saturating_mul(64).clamp(8 << 20, 64 << 20),
        steps: (rules as u64)
            .saturating_mul(200)
            .clamp(20_000_000, 400_000_000),
    }
}

/// Everything an import computes before writing: the model and each place's list.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub format: Format,
    pub ruleset: Ruleset,
    pub atoms: Atoms,
    pub program: Program,
    pub placed: Vec<Placed>,
    /// The netfilter hooks the places cover (rules only at other hooks are reported).
    pub placed_hooks: Vec<NfHook>,
}

/// Reads `text` and computes each place's list.
pub fn analyze(text: &str, opts: &Options) -> Result<Analysis, ImportError> {
    let format = match opts.from {
        Some(f) => f,
        None => detect::detect(text).ok_or_else(|| {
            ImportError::Usage(
                "cannot tell the input's format (iptables-save, nft list ruleset, nft -j list ruleset): name it with --from".into(),
            )
        })?,
    };
    let ruleset = read(text, format)?;
    semantics::loops::check(&ruleset).map_err(|d| ImportError::Syntax(vec![d]))?;
    let (program, places, placed_hooks) = places_for(&ruleset, opts)?;
    let mut atoms = Atoms::default();
    let budget = flat_budget(ruleset.rules.len());
    let mut placed: Vec<Placed> = Vec::new();
    for p in &places {
        let x = semantics::place(&ruleset, &mut atoms, p, budget)
            .map_err(|o| too_large(&ruleset, text, &o))?;
        placed.push(x);
    }
    Ok(Analysis {
        format,
        ruleset,
        atoms,
        program,
        placed,
        placed_hooks,
    })
}

/// The error for a flattening that ran past `o`'s bound, at the rule it was walking.
fn too_large(rs: &Ruleset, text: &str, o: &semantics::flatten::Overflow) -> ImportError {
    use semantics::flatten::Bound;
    let what = match o.bound {
        Bound::Rules => format!("more than {} flat rules", o.limit),
        Bound::Weight => format!("cubes of more than {} ranges in all", o.limit),
        Bound::Steps => format!("more than {} steps of work", o.limit),
    };
    let message = format!(
        "the ruleset is too large to flatten exactly: its chains take {what} (reached at this rule: jumps that fan out, or many rules after a large return or accept); import it in parts"
    );
    let span = o
        .rule
        .map(|id| rs.rules[id].span)
        .unwrap_or_else(|| diag::LineIndex::new(text).span(0, 0));
    ImportError::TooLarge(Diagnostic::new(Code::ImportTooLarge, message, span))
}

/// Imports `text`.
pub fn import(text: &str, opts: &Options) -> Result<Import, ImportError> {
    let a = analyze(text, opts)?;
    Ok(write(&a, opts).0)
}

/// Writes an analysis: the import, and the blocks written (in the order of the
/// file), each with its place's index in `a.placed`.
pub fn write(a: &Analysis, opts: &Options) -> (Import, Vec<(usize, lower::Block)>) {
    let rs = &a.ruleset;
    let mut table = SetTable::default();
    let mut written: Vec<(&Placed, lower::Block)> = Vec::new();
    let mut unwritten: Vec<(&Placed, lower::Block)> = Vec::new();
    let mut order = Vec::new();
    let all_places: Vec<&Placed> = a.placed.iter().collect();
    let mut limits = lower::limit::LimitPlan::new(rs, &a.atoms, &all_places);
    if a.program == Program::Netfilter && !features::Feature::NetfilterLimit.available() {
        limits.refuse(features::Feature::NetfilterLimit);
    }
    for (i, p) in a.placed.iter().enumerate() {
        let block = lower::lower(rs, &a.atoms, p, a.program, &limits, &mut table);
        // A place without a rule (an empty chain that accepts) needs no block.
        let needless = p.list.rules.is_empty() && !matches!(p.place, Place::Ingress(_));
        if needless {
            unwritten.push((p, block));
        } else {
            written.push((p, block));
            order.push(i);
        }
    }
    let mut remarks: Vec<String> = Vec::new();
    for r in a.placed.iter().flat_map(|p| &p.remarks) {
        if !remarks.contains(r) {
            remarks.push(r.clone());
        }
    }
    // The header states the summary, which comes from the report, which needs the
    // lines of the body: the header's length does not depend on the numbers in it, so
    // the body is written first at the lines it will have.
    let header_len = header(rs, a.format, opts, &Report::default()).len();
    let body = lower::write::write(rs, header_len, &table, &mut written);
    let all: Vec<(&Placed, &lower::Block)> = written
        .iter()
        .chain(&unwritten)
        .map(|(p, b)| (*p, b))
        .collect();
    let report = report::build(rs, &all, &a.placed_hooks, remarks);
    let head = header(rs, a.format, opts, &report);
    debug_assert_eq!(head.len(), header_len);
    let mut sk_text = String::with_capacity(body.len() + 512);
    for h in &head {
        sk_text.push_str("# ");
        sk_text.push_str(&lower::write::comment_text(h));
        sk_text.push('\n');
    }
    sk_text.push_str(&body);
    let set_files = table
        .decls
        .iter()
        .filter_map(|d| match &d.body {
            lower::sets::SetBody::File(path) => Some((path.clone(), d.comment.clone())),
            _ => None,
        })
        .collect();
    let blocks = order
        .into_iter()
        .zip(written.into_iter().map(|(_, b)| b))
        .collect();
    (
        Import {
            format: a.format,
            sk_text,
            report,
            set_files,
        },
        blocks,
    )
}

/// Reads `text` as `format` into the model. A NUL byte is an error at its place in
/// every format (none of the tools prints one; a reader would take it for a space).
pub fn read(text: &str, format: Format) -> Result<Ruleset, ImportError> {
    if let Some(at) = text.find('\0') {
        return Err(ImportError::Syntax(vec![Diagnostic::new(
            Code::Syntax,
            "a NUL byte: netfilter's tools never print one; is this a binary file?",
            diag::LineIndex::new(text).span(at, at + 1),
        )]));
    }
    match format {
        Format::Iptables => iptables::read(text),
        Format::Nft => nft::text::read(text),
        Format::NftJson => nft::json::read(text),
    }
    .map_err(ImportError::Syntax)
}

/// The places the options ask for, the program kind, and the netfilter hooks they
/// cover.
fn places_for(
    rs: &Ruleset,
    opts: &Options,
) -> Result<(Program, Vec<Place>, Vec<NfHook>), ImportError> {
    let need_iface = || {
        opts.interface.clone().ok_or_else(|| {
            ImportError::Usage(
                "--hook xdp and --hook tc attach to an interface: name it with --interface".into(),
            )
        })
    };
    Ok(match opts.hook {
        Hook::Netfilter => (
            Program::Netfilter,
            semantics::netfilter_places(rs),
            semantics::NETFILTER_HOOKS.to_vec(),
        ),
        Hook::Xdp => {
            let i = need_iface()?;
            (
                Program::Xdp,
                vec![Place::Ingress(i)],
                vec![NfHook::Prerouting, NfHook::Input, NfHook::Forward],
            )
        }
        Hook::Tc => {
            let i = need_iface()?;
            let hooks = vec![
                NfHook::Prerouting,
                NfHook::Input,
                NfHook::Forward,
                NfHook::Output,
                NfHook::Postrouting,
            ];
            (
                Program::Tc,
                vec![Place::Ingress(i.clone()), Place::Egress(i)],
                hooks,
            )
        }
    })
}

fn header(rs: &Ruleset, format: Format, opts: &Options, r: &Report) -> Vec<String> {
    let mut h = vec![format!(
        "Imported by sockc import from {} ({}){}.",
        opts.source_name.as_deref().unwrap_or("the input"),
        format.name(),
        match (&opts.hook, &opts.interface) {
            (Hook::Netfilter, _) => ", for the netfilter hooks".to_string(),
            (Hook::Xdp, Some(i)) => format!(", for xdp on {i}"),
            (Hook::Tc, Some(i)) => format!(", for tc on {i}"),
            _ => String::new(),
        }
    )];
    let versions: Vec<&str> = [model::IpVersion::V4, model::IpVersion::V6]
        .iter()
        .filter(|v| rs.tables.iter().any(|t| t.family.ip_versions().contains(v)))
        .map(|v| {
            if *v == model::IpVersion::V4 {
                "IPv4"
            } else {
                "IPv6"
            }
        })
        .collect();
    if versions.len() == 1 {
        h.push(format!(
            "The input filters {} only: other traffic is not filtered here.",
            versions[0]
        ));
    }
    let s = r.summary;
    h.push(format!(
        "{} rules: {} exact, {} approximate (stricter), {} unsupported (left out; see the report).",
        r.rules.len(),
        s.exact,
        s.approximate,
        s.unsupported
    ));
    if opts.hook == Hook::Netfilter {
        h.push(format!(
            "Each block's priority is its base chains' plus {}: the same place relative to conntrack and NAT, and it can be applied while they are loaded (the kernel refuses a BPF hook at a priority another function holds).",
            lower::PRIORITY_STEP
        ));
    }
    h
}
