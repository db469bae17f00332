//! What every command shares, in leaf modules below the commands: the global settings,
//! reading inputs and writing outputs, compiling with diagnostics printed, the JSON
//! envelope, the one writer of standard output and the lines for people on standard
//! error (both escaping what sockc did not write), privileges, the install store's
//! flags, tables, times, the spinner, the installed rules, the semantic diff's text,
//! what installing a compiled file takes besides the runtime (`apply` and `watch`), an
//! install's systemd drop-in files,
//! commit-confirmed changes and their probes, the process's memory and its start.
//!
//! Invariant: no module here uses a command module (`crate::commands`) or the command
//! line's definition (`crate::cli`); what two commands share moves down here
//! (`tests/architecture/modules.rs` checks the layers).

pub mod build;
pub mod confirmation;
pub mod input;
pub mod installed;
pub mod installing;
pub mod json;
// Only where its symbol version is known to exist (x86_64 glibc since 2.29) and the
// library is loaded dynamically: anywhere else the binary links libm as usual.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    target_arch = "x86_64",
    not(target_feature = "crt-static")
))]
pub mod libm;
pub mod memory;
pub mod output;
pub mod privileges;
pub mod probe;
pub mod progress;
pub mod residual;
pub mod semantic_diff;
pub mod settings;
pub mod socket_install;
// Only where `main.rs` starts the process itself (Linux with glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod start;
pub mod stderr;
pub mod stdout;
pub mod store;
pub mod systemd;
pub mod table;
pub mod time;
