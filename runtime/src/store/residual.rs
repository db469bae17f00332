//! The residual as an install records it: the netfilter ruleset an import left beside
//! the install's netfilter programs (docs/import.md, "The residual"), made for this
//! install (its names), with what installing, switching and removing it needs, and
//! the digest of what the kernel held once it was installed (for drift).
//!
//! Invariant: the record holds everything the residual's removal needs, so a flush
//! after the rule file and the residual file are gone still removes it whole.

use serde::{Deserialize, Serialize};

/// A residual as recorded in the manifest (and in an apply's journal).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidualRecord {
    /// `nft`, `nft-json` or `iptables`.
    pub format: String,
    /// The text installed, made for this install (its names).
    pub text: String,
    /// The one bit it sets on what it decided.
    pub mark: u32,
    /// What it owns: nft `family table`; iptables `family table chain`.
    pub owned: Vec<String>,
    /// Its dispatching chains: nft `family table chain`; iptables `family table
    /// BUILTIN`.
    pub dispatchers: Vec<String>,
    /// iptables: the built-in chains (`family table BUILTIN`) that jump to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooked: Vec<String>,
    /// The digest of its rules as the kernel listed them once installed (empty until
    /// then): `status` compares the live one with it.
    #[serde(default)]
    pub digest: String,
}

impl ResidualRecord {
    pub fn iptables(&self) -> bool {
        self.format == "iptables"
    }

    pub fn json(&self) -> bool {
        self.format == "nft-json"
    }
}
