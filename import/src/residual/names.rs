//! The names the residual gives its tables and chains, shared by the writers, `sockc
//! check` and `sockc apply` (which find the dispatching chains by them): the install's
//! part of a name is the placeholder [`TOKEN`], which `apply` replaces
//! ([`substitute`]) so that each install's residual has tables (nft) or chains
//! (iptables) of its own.
//!
//! Invariant: every name a writer makes comes from a function here, and a residual
//! whose source already holds [`TOKEN`] or a name of sockc's shape is refused
//! ([`clashes`]), so replacing the token changes only the names sockc made.

/// The placeholder of the install's part of every name (ten characters: the length of
/// the iptables tag that replaces it, [`iptables_tag`]).
pub const TOKEN: &str = "SOCKCRESID";

/// What the residual's own names start with, in the source's spelling (a chain or
/// table of the source named so would be mistaken for sockc's).
pub const PREFIXES: [&str; 2] = ["sockc_", "SOCKCRESID"];

/// The longest name nft loads for a table, chain, set or map: `NFT_NAME_MAXLEN` (256)
/// with its NUL.
pub const NFT_NAME_MAX: usize = 255;

/// The longest install name `sockc apply` takes (`valid_name` in the CLI's
/// `src/shared/store.rs`), which replaces [`TOKEN`] in nft names.
pub const INSTALL_NAME_MAX: usize = 64;

/// The longest source names whose residual names nft loads for any install, as (table,
/// chain, set or map): each kind's longest prefix taken away from [`NFT_NAME_MAX`].
pub fn nft_source_name_max() -> (usize, usize, usize) {
    let install = INSTALL_NAME_MAX - TOKEN.len();
    let prefixes = [nft::min(""), nft::full(""), nft::kept(""), nft::whole("")];
    let chain = prefixes.iter().map(String::len).max().unwrap_or(0);
    let set = Copy::Kept.name("").len().max(Copy::Whole.name("").len());
    (
        NFT_NAME_MAX - nft_table("").len() - install,
        NFT_NAME_MAX - chain,
        NFT_NAME_MAX - set,
    )
}

/// An nft table of the residual: `sockc_<install>_<the source's name>`.
pub fn nft_table(source: &str) -> String {
    format!("sockc_{TOKEN}_{source}")
}

/// The comment that marks a residual table as sockc's.
pub fn nft_table_comment() -> String {
    format!("sockc residual of install {TOKEN}")
}

/// nft chains of a dispatching base chain `base` and the copies of a chain `c`.
pub mod nft {
    /// The chain the dispatcher goes to while sockc's block runs beside it.
    pub fn min(base: &str) -> String {
        format!("sockc_min_{base}")
    }
    /// The chain it goes to while the whole ruleset runs in netfilter alone.
    pub fn full(base: &str) -> String {
        format!("sockc_full_{base}")
    }
    /// The copy of chain `c` holding the rules that stay in netfilter.
    pub fn kept(c: &str) -> String {
        format!("sockc_m_{c}")
    }
    /// The copy of chain `c` holding every rule.
    pub fn whole(c: &str) -> String {
        format!("sockc_f_{c}")
    }
    /// The chain a kept `accept` jumps to: it marks the packet, then accepts.
    pub const ACCEPTED: &str = "sockc_accepted";
}

/// Which copy of a chain (or verdict map) an nft residual's object is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copy {
    /// As the source has it (places netfilter runs alone).
    Same,
    /// The rules sockc does not run ([`nft::kept`]).
    Kept,
    /// Every rule ([`nft::whole`]).
    Whole,
}

impl Copy {
    /// The copy's name of the source's chain or map `source`.
    pub fn name(self, source: &str) -> String {
        match self {
            Copy::Same => source.to_string(),
            Copy::Kept => nft::kept(source),
            Copy::Whole => nft::whole(source),
        }
    }
}

/// iptables chains (at most 28 characters; the source's names are replaced by
/// numbers, a comment in the file says which is which).
pub mod iptables {
    use super::TOKEN;

    /// The chain a built-in chain jumps to (`apply` adds the jump).
    pub fn hook(builtin: &str) -> String {
        format!("{TOKEN}-{builtin}")
    }
    pub fn min(builtin: &str) -> String {
        format!("{TOKEN}-min-{builtin}")
    }
    pub fn full(builtin: &str) -> String {
        format!("{TOKEN}-full-{builtin}")
    }
    /// The copy of chain number `n` (of its table) with the rules that stay.
    pub fn kept(n: usize) -> String {
        format!("{TOKEN}-m{n}")
    }
    /// The copy of chain number `n` with every rule.
    pub fn whole(n: usize) -> String {
        format!("{TOKEN}-f{n}")
    }
    /// Chain number `n` as the source has it, for the places netfilter runs alone.
    pub fn same(n: usize) -> String {
        format!("{TOKEN}-o{n}")
    }
    pub fn accepted() -> String {
        format!("{TOKEN}-accept")
    }
}

/// The tag that stands for install `name` in iptables chain names: `sk` and eight hex
/// digits of its 64-bit FNV-1a hash (chain names are at most 28 characters; install
/// names up to 64).
pub fn iptables_tag(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("sk{:08x}", (h ^ (h >> 32)) as u32)
}

/// The residual text for install `name`: [`TOKEN`] replaced by the install's name (nft)
/// or its tag (iptables, [`iptables_tag`]).
pub fn substitute(text: &str, iptables: bool, name: &str) -> String {
    let with = if iptables {
        iptables_tag(name)
    } else {
        name.to_string()
    };
    text.replace(TOKEN, &with)
}

/// Whether the source text holds the token or a name of sockc's shape, which the
/// residual could not tell from its own.
pub fn clashes(source: &str) -> Option<&'static str> {
    if source.contains(TOKEN) {
        return Some(TOKEN);
    }
    [
        "sockc_min_",
        "sockc_full_",
        "sockc_m_",
        "sockc_f_",
        "sockc_accepted",
    ]
    .into_iter()
    .find(|p| source.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_as_long_as_a_tag_and_tags_fit_iptables() {
        assert_eq!(TOKEN.len(), iptables_tag("x").len());
        let longest = format!("{}-full-POSTROUTING", iptables_tag(&"n".repeat(64)));
        assert!(longest.len() <= 28, "{longest}");
        assert_ne!(iptables_tag("a"), iptables_tag("b"));
    }

    #[test]
    fn the_longest_source_names_fit_nft_with_the_longest_install() {
        let (table, chain, set) = nft_source_name_max();
        assert_eq!((table, chain, set), (184, 244, 247));
        let install = "n".repeat(INSTALL_NAME_MAX);
        let named = |n: String| substitute(&n, false, &install).len();
        assert_eq!(named(nft_table(&"t".repeat(table))), NFT_NAME_MAX);
        assert_eq!(named(nft::full(&"c".repeat(chain))), NFT_NAME_MAX);
        assert_eq!(named(Copy::Kept.name(&"s".repeat(set))), NFT_NAME_MAX);
    }

    #[test]
    fn substitution_names_the_install() {
        let t = format!("table inet {} {{ }}", nft_table("filter"));
        assert_eq!(
            substitute(&t, false, "web"),
            "table inet sockc_web_filter { }"
        );
        assert!(substitute(&iptables::kept(3), true, "web").starts_with("sk"));
    }
}
