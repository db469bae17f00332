//! How the agent installs a compiled rule file, for a round and for a rollback
//! alike: the runtime's `install::apply` into the store, then the conntrack anchor,
//! the steps `apply` takes (`crate::shared::installing`); what the runtime recovered
//! and its notices become event lines.
//!
//! Invariant: the same request as `sockc apply FILE --name NAME [--netns NS]` with
//! the default attach mode, never a dry run, never a file without hook blocks.

use sockc_compiler::Compiled;
use sockc_runtime::{
    install::{self, ApplyReport, ApplyRequest, InstallError},
    store::Store,
};

use super::report::log;
use crate::shared::{installing, memory::release_freed_memory, store::Target};

/// Where the agent installs: the store (`--bpffs`, `--lock-timeout`) and the network
/// namespace it entered, as manifests record it.
pub struct Installer {
    pub target: Target,
    pub netns: Option<String>,
}

impl Installer {
    /// Installs `compiled` (whose text is `source`, recorded as read from
    /// `source_file`) as the install `name`; `instance` names a first install (the one
    /// its armed confirmation expects).
    pub fn install(
        &self,
        store: &Store,
        name: &str,
        (compiled, source, source_file): (&Compiled, &str, &str),
        instance: Option<&str>,
    ) -> Result<ApplyReport, InstallError> {
        let req = ApplyRequest {
            compiled,
            name,
            source_file,
            source,
            shared_source: None,
            netns: self.netns.as_deref(),
            dry_run: false,
            attach: Default::default(),
            allow_empty: false,
            ahead: None,
            release_freed_memory,
            label: None,
            instance,
            residual: crate::shared::residual::record(compiled, name)
                .map_err(|e| InstallError::Residual(std::io::Error::other(e)))?,
            fitted_to: None,
            source_sha256: None,
        };
        let mut report = install::apply(store, &req)?;
        let warn = |why: &str| {
            log(&format!(
                "{name}: conntrack could not be switched on: {why}"
            ))
        };
        installing::switch_conntrack(name, compiled, &mut report, &warn);
        if let Some(r) = &report.recovered {
            log(&format!("{name}: {r}"));
        }
        for n in &report.notices {
            log(&format!("{name}: notice: {n}"));
        }
        Ok(report)
    }
}
