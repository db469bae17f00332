//! The bounds sockc keeps on what it reads and what it reports, in one place: each
//! with its default, the command-line flag and the environment variable that change
//! it, and the words a message uses to name it.
//!
//! Invariant: every message that refuses input because of a bound names the bound and
//! says how to change it ([`Limit::how_to_change`]), and nothing sockc reads or
//! reports grows past these bounds whatever the input holds.

use std::fmt;

/// One bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Bytes of a rule file.
    SourceBytes,
    /// Bytes of the `file "..."` sets of a rule file, all together.
    SetFileBytes,
    /// Elements of the sets of a rule file (inline or file), all together.
    SetElements,
    /// Errors, and separately warnings, kept and shown per file; the rest are counted.
    Diagnostics,
    /// Bytes of a `sockc test --packets` file.
    PacketsFileBytes,
    /// Work of a semantic diff per block pair (`semdiff::Budget`): its steps, and with
    /// them its cap of boxes and its listing allowance.
    DiffWork,
}

/// [`Limit::DiffWork`]'s default: about a second of a release build
/// (`semdiff::MAX_WORK`, docs/diff.md).
pub const DIFF_WORK: u64 = 50_000_000;

impl Limit {
    pub const ALL: [Limit; 6] = [
        Limit::SourceBytes,
        Limit::SetFileBytes,
        Limit::SetElements,
        Limit::Diagnostics,
        Limit::PacketsFileBytes,
        Limit::DiffWork,
    ];

    /// The command-line flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Limit::SourceBytes => "--max-source-bytes",
            Limit::SetFileBytes => "--max-set-file-bytes",
            Limit::SetElements => "--max-set-elements",
            Limit::Diagnostics => "--max-diagnostics",
            Limit::PacketsFileBytes => "--max-packets-file-bytes",
            Limit::DiffWork => "--max-diff-work",
        }
    }

    /// The environment variable that sets it when the flag is not given.
    pub fn env(self) -> &'static str {
        match self {
            Limit::SourceBytes => "SOCKC_MAX_SOURCE_BYTES",
            Limit::SetFileBytes => "SOCKC_MAX_SET_FILE_BYTES",
            Limit::SetElements => "SOCKC_MAX_SET_ELEMENTS",
            Limit::Diagnostics => "SOCKC_MAX_DIAGNOSTICS",
            Limit::PacketsFileBytes => "SOCKC_MAX_PACKETS_FILE_BYTES",
            Limit::DiffWork => "SOCKC_MAX_DIFF_WORK",
        }
    }

    /// The default value. A rule file is text a person writes (big address lists
    /// belong in `file` sets); the set files hold up to the element limit of IPv6
    /// prefixes; each set becomes a kernel map, so the element limit bounds their
    /// total size. The two set limits count all the sets of a rule file together, so
    /// that many sets cannot add up to unbounded work. A semantic diff's work bounds its
    /// time and memory whatever the two files hold.
    pub fn default_value(self) -> u64 {
        match self {
            Limit::SourceBytes => 16 << 20,
            Limit::SetFileBytes => 64 << 20,
            Limit::SetElements => 1 << 20,
            Limit::Diagnostics => 100,
            Limit::PacketsFileBytes => 64 << 20,
            Limit::DiffWork => DIFF_WORK,
        }
    }

    /// "raise it with --max-source-bytes N (or SOCKC_MAX_SOURCE_BYTES=N)".
    pub(crate) fn how_to_change(self) -> String {
        format!("change it with {} N (or {}=N)", self.flag(), self.env())
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::SourceBytes => "rule file size limit",
            Limit::SetFileBytes => "set file size limit",
            Limit::SetElements => "set element limit",
            Limit::Diagnostics => "diagnostics limit",
            Limit::PacketsFileBytes => "packets file size limit",
            Limit::DiffWork => "semantic diff work limit",
        })
    }
}

/// The values of every bound for one invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub source_bytes: u64,
    pub set_file_bytes: u64,
    pub set_elements: u64,
    pub diagnostics: u64,
    pub packets_file_bytes: u64,
    pub diff_work: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            source_bytes: Limit::SourceBytes.default_value(),
            set_file_bytes: Limit::SetFileBytes.default_value(),
            set_elements: Limit::SetElements.default_value(),
            diagnostics: Limit::Diagnostics.default_value(),
            packets_file_bytes: Limit::PacketsFileBytes.default_value(),
            diff_work: Limit::DiffWork.default_value(),
        }
    }
}

impl Limits {
    pub fn get(&self, limit: Limit) -> u64 {
        match limit {
            Limit::SourceBytes => self.source_bytes,
            Limit::SetFileBytes => self.set_file_bytes,
            Limit::SetElements => self.set_elements,
            Limit::Diagnostics => self.diagnostics,
            Limit::PacketsFileBytes => self.packets_file_bytes,
            Limit::DiffWork => self.diff_work,
        }
    }

    pub fn set(&mut self, limit: Limit, value: u64) {
        let slot = match limit {
            Limit::SourceBytes => &mut self.source_bytes,
            Limit::SetFileBytes => &mut self.set_file_bytes,
            Limit::SetElements => &mut self.set_elements,
            Limit::Diagnostics => &mut self.diagnostics,
            Limit::PacketsFileBytes => &mut self.packets_file_bytes,
            Limit::DiffWork => &mut self.diff_work,
        };
        *slot = value;
    }

    /// [`Limits::get`] as a count in memory (saturating on 32-bit hosts).
    pub fn count(&self, limit: Limit) -> usize {
        usize::try_from(self.get(limit)).unwrap_or(usize::MAX)
    }
}

/// "16777216 bytes (16 MiB)" for byte limits, the number otherwise.
pub(crate) fn amount(limit: Limit, value: u64) -> String {
    match limit {
        Limit::SourceBytes | Limit::SetFileBytes | Limit::PacketsFileBytes => {
            if value >= 1 << 20 && value.is_multiple_of(1 << 20) {
                format!("{value} bytes ({} MiB)", value >> 20)
            } else {
                format!("{value} bytes")
            }
        }
        Limit::SetElements | Limit::Diagnostics | Limit::DiffWork => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags and variables are how users change bounds: they must be distinct and
    /// follow one pattern, and the default values must round-trip through `Limits`.
    #[test]
    fn every_limit_has_its_own_flag_and_variable() {
        let mut flags = std::collections::HashSet::new();
        let mut vars = std::collections::HashSet::new();
        let mut limits = Limits::default();
        for l in Limit::ALL {
            assert!(flags.insert(l.flag()) && vars.insert(l.env()), "{l:?}");
            assert_eq!(
                l.env(),
                format!("SOCKC_{}", l.flag()[2..].replace('-', "_").to_uppercase())
            );
            assert_eq!(limits.get(l), l.default_value());
            limits.set(l, 7);
            assert_eq!(limits.get(l), 7);
            assert!(l.how_to_change().contains(l.flag()));
        }
        assert_eq!(
            amount(Limit::SourceBytes, 16 << 20),
            "16777216 bytes (16 MiB)"
        );
        assert_eq!(amount(Limit::Diagnostics, 100), "100");
    }
}
