//! A rule file's `residual`: the netfilter ruleset an import left beside its netfilter
//! blocks (docs/import.md, "The residual"), checked with the import's own readers —
//! the compiler reads the file, it knows no netfilter syntax — and turned into what
//! the runtime installs: the text for one install (`sockc_import::residual::names`'s
//! token replaced), the tables or chains it owns, and its dispatching chains.
//!
//! Invariant: a residual that does not parse in its declared format, or that holds a
//! table (nft) or chain (iptables) not named as sockc's residual names its own, is
//! refused by every command that compiles the file (`check`, `apply`, `diff`, ...),
//! at the declaration: nothing installs a residual `check` would refuse.

use sockc_compiler::{
    diag::{Code, Diagnostic},
    ir,
    syntax::mark::ResidualFormat,
};
use sockc_import::{
    model::Ruleset,
    residual::names::{self, TOKEN},
    Format,
};

/// The import's format for a declared one.
pub fn format(f: ResidualFormat) -> Format {
    match f {
        ResidualFormat::Nft => Format::Nft,
        ResidualFormat::NftJson => Format::NftJson,
        ResidualFormat::Iptables => Format::Iptables,
    }
}

/// The error for residual `r`, when it is not one sockc installs.
pub fn check(r: &ir::Residual) -> Option<Diagnostic> {
    let refuse = |why: String| {
        Some(
            Diagnostic::new(
                Code::Residual,
                format!("the residual file \"{}\" {why}", r.path),
            )
            .label(r.span, "declared here")
            .help("write it again with `sockc import` (a residual is the import's output)"),
        )
    };
    let rs = match sockc_import::read(&r.text, format(r.format)) {
        Ok(rs) => rs,
        Err(e) => {
            let why = match e {
                sockc_import::ImportError::Syntax(d) => d
                    .first()
                    .map(|d| {
                        format!(
                            "at line {}, column {}: {}",
                            d.span.line, d.span.column, d.message
                        )
                    })
                    .unwrap_or_default(),
                other => other.to_string(),
            };
            return refuse(format!("does not parse as {} ({why})", r.format.word()));
        }
    };
    foreign(&rs, r.format).and_then(|name| {
        refuse(format!(
            "holds {name}, which is not one of the residual's own (they are named `{}`)",
            own_prefix(r.format)
        ))
    })
}

/// What the residual's own tables (nft) or chains (iptables) start with.
fn own_prefix(f: ResidualFormat) -> String {
    match f {
        ResidualFormat::Iptables => format!("{TOKEN}-"),
        _ => names::nft_table(""),
    }
}

/// A table or chain of `rs` that is not named as the residual's own.
fn foreign(rs: &Ruleset, f: ResidualFormat) -> Option<String> {
    let prefix = own_prefix(f);
    for t in &rs.tables {
        if f != ResidualFormat::Iptables {
            if !t.name.starts_with(&prefix) {
                return Some(format!("table {} {}", t.family.name(), t.name));
            }
            continue;
        }
        // iptables: the built-in chains exist in every table; the residual adds no
        // rule to them (`apply` adds the one jump to its chain).
        for c in &t.chains {
            let builtin = c.base.is_some();
            if (builtin && !c.rules.is_empty()) || (!builtin && !c.name.starts_with(&prefix)) {
                return Some(format!("chain {} of table {}", c.name, t.name));
            }
        }
    }
    None
}

/// The residual of an install: its text for install `name`, what `apply` needs to
/// install, switch and remove it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForInstall {
    pub format: ResidualFormat,
    pub text: String,
    pub mark: u32,
    /// nft: the tables (`family name`); iptables: `family table chain` of every chain.
    pub owned: Vec<String>,
    /// The dispatching chains: nft `family table chain`, iptables `family table
    /// BUILTIN`.
    pub dispatchers: Vec<String>,
    /// iptables: the built-in chains that jump to the residual (`family table
    /// BUILTIN`).
    pub hooked: Vec<String>,
}

/// The residual `r` (checked by [`check`]) made for install `name`.
pub fn for_install(r: &ir::Residual, name: &str) -> Result<ForInstall, String> {
    let iptables = r.format == ResidualFormat::Iptables;
    let text = names::substitute(&r.text, iptables, name);
    let rs = sockc_import::read(&text, format(r.format)).map_err(|e| e.to_string())?;
    let mut out = ForInstall {
        format: r.format,
        text,
        mark: r.mark,
        owned: Vec::new(),
        dispatchers: Vec::new(),
        hooked: Vec::new(),
    };
    for t in &rs.tables {
        let family = t.family.name();
        if !iptables {
            out.owned.push(format!("{family} {}", t.name));
            for c in t.chains.iter().filter(|c| c.base.is_some()) {
                if t.chain(&names::nft::min(&c.name)).is_some() {
                    out.dispatchers
                        .push(format!("{family} {} {}", t.name, c.name));
                }
            }
            continue;
        }
        let tag = names::iptables_tag(name);
        for c in &t.chains {
            out.owned.push(format!("{family} {} {}", t.name, c.name));
            let Some(rest) = c.name.strip_prefix(&format!("{tag}-")) else {
                continue;
            };
            let builtin = |s: &str| !s.is_empty() && s.chars().all(|ch| ch.is_ascii_uppercase());
            if builtin(rest) {
                out.hooked.push(format!("{family} {} {rest}", t.name));
            } else if let Some(b) = rest.strip_prefix("min-").filter(|b| builtin(b)) {
                out.dispatchers.push(format!("{family} {} {b}", t.name));
            }
        }
    }
    Ok(out)
}

/// The residual of compiled file `c` as install `name` records it (`None`: the file
/// has none).
pub fn record(
    c: &sockc_compiler::Compiled,
    name: &str,
) -> Result<Option<sockc_runtime::store::ResidualRecord>, String> {
    let Some(r) = &c.module.residual else {
        return Ok(None);
    };
    let f = for_install(r, name)?;
    Ok(Some(sockc_runtime::store::ResidualRecord {
        format: f.format.word().to_string(),
        text: f.text,
        mark: f.mark,
        owned: f.owned,
        dispatchers: f.dispatchers,
        hooked: f.hooked,
        digest: String::new(),
    }))
}
