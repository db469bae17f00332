//! Netfilter rulesets in the lab's receiver: loading one with the tool its format
//! belongs to (`iptables-nft-restore`, `ip6tables-nft-restore`, their `-legacy-`
//! twins, `nft -f`, `nft -j -f`), run inside the receiver's namespace, and flushing
//! whatever was loaded. Invariant: [`Topology::load`] flushes before it loads, so the
//! receiver only ever holds the ruleset last loaded, and [`Topology::flush`] leaves
//! it with no netfilter rule at all (nf_tables and, if a legacy file was loaded,
//! x_tables), so that what runs there next (sockc's programs) is alone.

use std::{path::Path as FsPath, process::Command};

use super::{
    topology::{run_with_stdin, Topology},
    LabError,
};

/// How a ruleset is written, which names the tool that loads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `iptables-save` output, loaded with `iptables-nft-restore` (the nf_tables
    /// backend, which the corpus was dumped with).
    Iptables,
    /// `ip6tables-save` output, `ip6tables-nft-restore`.
    Ip6tables,
    /// `iptables-save` output, loaded into the legacy x_tables backend.
    IptablesLegacy,
    /// `ip6tables-save` output, legacy backend.
    Ip6tablesLegacy,
    /// `nft list ruleset` text (or an `nft -f` script), `nft -f`.
    Nft,
    /// `nft -j list ruleset` JSON, `nft -j -f`.
    NftJson,
}

impl Format {
    /// The format a corpus file's name says: `*.iptables`, `*.ip6tables`, `*.nft`,
    /// `*.json`.
    pub fn of_file_name(name: &str) -> Option<Format> {
        let ext = FsPath::new(name).extension()?.to_str()?;
        Some(match ext {
            "iptables" => Format::Iptables,
            "ip6tables" => Format::Ip6tables,
            "nft" => Format::Nft,
            "json" => Format::NftJson,
            _ => return None,
        })
    }

    /// The command that loads this format from its standard input.
    fn loader(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Format::Iptables => ("iptables-nft-restore", &[]),
            Format::Ip6tables => ("ip6tables-nft-restore", &[]),
            Format::IptablesLegacy => ("iptables-legacy-restore", &[]),
            Format::Ip6tablesLegacy => ("ip6tables-legacy-restore", &[]),
            Format::Nft => ("nft", &["-f", "/dev/stdin"]),
            Format::NftJson => ("nft", &["-j", "-f", "/dev/stdin"]),
        }
    }

    fn is_legacy(self) -> bool {
        matches!(self, Format::IptablesLegacy | Format::Ip6tablesLegacy)
    }
}

/// A netfilter ruleset: its text and how it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    pub format: Format,
    pub text: String,
}

impl Ruleset {
    pub fn new(format: Format, text: impl Into<String>) -> Ruleset {
        Ruleset {
            format,
            text: text.into(),
        }
    }

    /// Reads a file whose name says its format ([`Format::of_file_name`]).
    pub fn read(path: &FsPath) -> Result<Ruleset, LabError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let format = Format::of_file_name(name).ok_or_else(|| {
            LabError::Config(format!(
                "{}: the name does not say the format (.iptables, .ip6tables, .nft, .json)",
                path.display()
            ))
        })?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| LabError::io(format!("read {}", path.display()), e))?;
        Ok(Ruleset::new(format, text))
    }
}

impl Topology {
    /// Flushes the receiver's netfilter rules, then loads `ruleset` there. Loading
    /// again also restarts the rules' own state (rate limits, `recent` lists).
    pub fn load(&self, ruleset: &Ruleset) -> Result<(), LabError> {
        self.flush()?;
        let (tool, args) = ruleset.format.loader();
        let cgroup2 = self.config().cgroup2.as_ref();
        let mut cmd = match cgroup2 {
            Some(root) if tool == "nft" && ruleset.text.contains("cgroupv2") => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", self.receiver()))
                    .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
                    .arg(r#"mount --bind "$1" /sys/fs/cgroup && shift && exec "$@""#)
                    .arg("sh")
                    .arg(root)
                    .arg(tool);
                c
            }
            _ => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", self.receiver(), tool]);
                c
            }
        };
        run_with_stdin(cmd.args(args), &ruleset.text)?;
        if ruleset.format.is_legacy() {
            self.legacy_tables
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((tool, empty_tables(&ruleset.text)));
        }
        Ok(())
    }

    /// Removes every netfilter rule from the receiver: `nft flush ruleset` (which
    /// also empties the iptables-nft tables), and the legacy tables a load filled
    /// restored empty with ACCEPT policies.
    pub fn flush(&self) -> Result<(), LabError> {
        run_with_stdin(
            Command::new("ip").args(["netns", "exec", self.receiver(), "nft", "flush", "ruleset"]),
            "",
        )?;
        let legacy =
            std::mem::take(&mut *self.legacy_tables.lock().unwrap_or_else(|e| e.into_inner()));
        for (tool, empty) in legacy {
            run_with_stdin(
                Command::new("ip").args(["netns", "exec", self.receiver(), tool]),
                &empty,
            )?;
        }
        Ok(())
    }
}

/// An `iptables-restore` input that empties every table `text` names: its built-in
/// chains (those declared with a policy) at ACCEPT, no rules, no user chains.
fn empty_tables(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('*') || line == "COMMIT" {
            out.push_str(line);
            out.push('\n');
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut words = decl.split_whitespace();
            if let (Some(chain), Some(policy)) = (words.next(), words.next()) {
                if policy != "-" {
                    out.push_str(&format!(":{chain} ACCEPT [0:0]\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_file_names() {
        assert_eq!(
            Format::of_file_name("01-ufw.iptables"),
            Some(Format::Iptables)
        );
        assert_eq!(Format::of_file_name("x.ip6tables"), Some(Format::Ip6tables));
        assert_eq!(Format::of_file_name("x.nft"), Some(Format::Nft));
        assert_eq!(Format::of_file_name("x.json"), Some(Format::NftJson));
        assert_eq!(Format::of_file_name("x.txt"), None);
    }

    #[test]
    fn legacy_tables_are_emptied_with_their_builtin_chains_only() {
        let text = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [1:2]\n:ufw-x - [0:0]\n\
                    -A INPUT -j ufw-x\nCOMMIT\n*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
        assert_eq!(
            empty_tables(text),
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n\
             *raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"
        );
    }
}
