//! The residual: the part of the original ruleset sockc's programs do not run, kept in
//! netfilter beside them, in the source's own format (nft text, nft JSON,
//! iptables-restore), so that the two together decide every packet as the original
//! does. docs/import.md ("The residual") gives the construction and why it is exact.
//!
//! - [`plan`]: which place sockc shares with netfilter, which flat rules sockc's
//!   blocks write, what the residual does with each source rule;
//! - [`layout`]: which copies of each chain the residual holds (dispatchers at the
//!   shared places, with a `min` and a `full` mode);
//! - [`mark`]: the packet-mark bit by which the residual tells sockc's block "decided";
//! - [`names`]: the names it gives tables and chains;
//! - one writer per format: [`nft_text`], [`nft_json`], [`iptables`].
//!
//! Invariant: the residual holds every rule of the source that sockc's blocks do not
//! run exactly, and nothing the source does not have but the dispatchers, their mode
//! chains and the chain that marks an accept.

pub mod iptables;
pub mod layout;
pub mod mark;
pub mod names;
pub mod nft_json;
pub mod nft_text;
pub mod plan;
mod rewrites;

use layout::Layout;
use plan::{Fate, Plan};

use crate::{
    detect::Format,
    model::{Effect, RuleId, Ruleset, Verdict},
};

/// The IPv6 extension headers sockc's programs and netfilter both walk past
/// (hop-by-hop, routing, fragment, AH, destination options): a dispatcher's `min`
/// chain sends every IPv6 packet whose fixed header names one of them to its `full`
/// chain, so netfilter decides it by the original's rules, behind any number of them
/// or a chain cut short (sockc's walk takes at most six, `bpf::ext6::EXT_MAX`).
pub const EXT_HEADERS: [u8; 5] = [0, 43, 44, 51, 60];

/// Whether table `ti` of `rs` sees IPv6 packets (family ip6 or inet).
pub fn sees_ipv6(rs: &Ruleset, ti: usize) -> bool {
    rs.tables[ti]
        .family
        .ip_versions()
        .contains(&crate::model::IpVersion::V6)
}

/// How a copy's rule keeps its verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictMode {
    /// As the source has them (the `full` copies, chains netfilter runs alone).
    Same,
    /// As the source has them, an accept marking the packet first (kept rules).
    Keep,
    /// Accepts and drops made an accept that does not mark (sockc decides).
    Defer,
}

/// A base chain the residual turned into a dispatcher: `sockc apply` points it at its
/// `min` or `full` mode chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatcher {
    /// nft: the table's family (`ip`, `inet` ...); iptables: `ip` or `ip6`.
    pub family: String,
    /// nft: the residual's table; iptables: the table (`filter`, `raw` ...).
    pub table: String,
    /// nft: the base chain; iptables: the built-in chain (`INPUT` ...).
    pub chain: String,
}

/// A written residual.
#[derive(Clone, Debug, Default)]
pub struct Built {
    pub text: String,
    pub dispatchers: Vec<Dispatcher>,
}

/// The residual of an import.
#[derive(Clone, Debug)]
pub struct Residual {
    pub format: Format,
    /// The file's text ([`names::TOKEN`] standing for the install).
    pub text: String,
    /// The mark bit (one bit set) the residual sets on what it decides.
    pub mark: u32,
    pub dispatchers: Vec<Dispatcher>,
    /// The ipsets its rules match (`-m set --match-set NAME`): netfilter reads them,
    /// so they must exist in the install's namespace when `sockc apply` installs it
    /// (iptables-restore refuses the residual otherwise, and nothing is installed).
    pub ipsets: Vec<String>,
}

/// Why no exact residual could be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidualError(pub String);

/// The line of the first rule of an nft ruleset that holds an `xt` expression (the
/// compat match or target iptables-nft leaves in its tables): nft lists it but
/// refuses to load it, so a residual in nft's formats cannot hold it.
fn compat_line(rs: &Ruleset, format: Format) -> Option<u32> {
    let xt = |t: &str| t.starts_with("xt ") || t.starts_with("{\"xt\"");
    let holds = |r: &crate::model::Rule| {
        r.effects
            .iter()
            .any(|e| matches!(e, Effect::Other { text, .. } if xt(text)))
            || r.matches
                .iter()
                .any(|m| matches!(&m.kind, crate::model::MatchKind::Opaque { key, .. } if xt(key)))
    };
    let nft = matches!(format, Format::Nft | Format::NftJson);
    nft.then(|| rs.rules.iter().find(|r| holds(r)).map(|r| r.span.line))
        .flatten()
}

/// Why an nft residual of `rs` could not be loaded: a table, chain, set or map whose
/// name, with the prefix the residual gives it ([`names`]), is longer than nft loads.
fn overlong_nft_name(rs: &Ruleset, format: Format) -> Option<String> {
    if !matches!(format, Format::Nft | Format::NftJson) {
        return None;
    }
    let (table, chain, set) = names::nft_source_name_max();
    let tables = rs.tables.iter().map(|t| ("table", &t.name, table));
    let chains = rs
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| ("chain", &c.name, chain));
    let sets = rs.sets.iter().map(|s| ("set", &s.name, set));
    let (kind, name, max) = tables
        .chain(chains)
        .chain(sets)
        .find(|(_, name, max)| name.len() > *max)?;
    Some(format!(
        "the {kind} `{name}` has {} bytes, and with the residual's prefix its name would be \
         longer than the {} nft loads: at most {max} (rename it)",
        name.len(),
        names::NFT_NAME_MAX
    ))
}

/// Writes the residual of `text` (read as `rs` in `format`) for `plan`.
pub fn build(
    text: &str,
    format: Format,
    rs: &Ruleset,
    placed: &[crate::semantics::Placed],
    plan: &Plan,
) -> Result<Residual, ResidualError> {
    if let Some(name) = names::clashes(text) {
        return Err(ResidualError(format!(
            "the ruleset already names something `{name}`, which the residual's own names \
             would be confused with"
        )));
    }
    if let Some(why) = overlong_nft_name(rs, format) {
        return Err(ResidualError(why));
    }
    if let Some(line) = compat_line(rs, format) {
        return Err(ResidualError(format!(
            "the rule at line {line} holds an xtables compat expression (`xt ...`), which \
             only iptables-nft writes and nft cannot load back: import the ruleset's \
             `iptables-save` output instead of its nft listing"
        )));
    }
    let mark = mark::choose(rs).ok_or_else(|| {
        ResidualError(
            "every bit of the packet mark from bit 23 up may be set by the ruleset: no bit \
             is left for the residual to tell sockc's blocks what it decided"
                .into(),
        )
    })?;
    let layout = Layout::new(rs, placed, plan);
    let built = match format {
        Format::Nft => nft_text::write(text, rs, plan, &layout, mark),
        Format::NftJson => nft_json::write(text, rs, plan, &layout, mark),
        Format::Iptables => iptables::write(rs, plan, &layout, mark),
    }
    .ok_or_else(|| {
        ResidualError("the ruleset's structure could not be copied rule by rule".into())
    })?;
    let ipsets = ipsets_matched(&built.text);
    Ok(Residual {
        format,
        text: built.text,
        mark,
        dispatchers: built.dispatchers,
        ipsets,
    })
}

/// The ipsets an iptables-restore text matches (`--match-set NAME`), each once.
fn ipsets_matched(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("-A ")) {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "--match-set" {
                if let Some(name) = words.next().filter(|n| !out.iter().any(|o| o == n)) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// What a kept copy does with rule `id`: `None` when it is not there (sockc runs it
/// and nothing it matches reaches a kept rule). A deferred rule whose verdict is not a
/// plain accept or drop (a reject, a queue ...) or that looks up a named verdict map
/// (whose elements a kept rule may share) is kept as it is instead: keeping is exact
/// for every rule, deferring is only shorter.
pub fn kept_mode(plan: &Plan, rs: &Ruleset, id: RuleId, named_vmap: bool) -> Option<VerdictMode> {
    match plan.fate[id] {
        Fate::Remove => None,
        Fate::Keep => Some(VerdictMode::Keep),
        Fate::Defer if deferrable(&rs.rules[id].verdict) && !named_vmap => Some(VerdictMode::Defer),
        Fate::Defer => Some(VerdictMode::Keep),
    }
}

fn deferrable(v: &Verdict) -> bool {
    match v {
        Verdict::Accept | Verdict::Drop | Verdict::Jump(_) | Verdict::Goto(_) => true,
        Verdict::Return | Verdict::Continue => true,
        Verdict::Map { entries, .. } => entries.iter().all(|(_, v)| deferrable(v)),
        Verdict::Reject(_) | Verdict::Other { .. } => false,
    }
}
