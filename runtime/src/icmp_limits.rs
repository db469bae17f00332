//! The kernel's limits on ICMP errors in the calling thread's network namespace, as
//! `reject`'s answers take them by default (`sockc_compiler::syntax::answers`): the
//! sysctls under `/proc/sys/net`, which show the namespace of the task that opens
//! them (so a thread that entered an install's namespace reads that namespace's).
//!
//! Invariant: a value that cannot be read or parsed is an error naming the file,
//! except the IPv6 ones in a namespace without IPv6 (no `net/ipv6` directory), which
//! take a new namespace's values (no ICMPv6 is sent there anyway).

use std::{io, path::Path};

use sockc_compiler::syntax::answers::Sysctls;

const IPV4: &str = "/proc/sys/net/ipv4";
const IPV6: &str = "/proc/sys/net/ipv6/icmp";

/// A sysctl that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the kernel's ICMP rate limit {path}: {source}")]
pub struct SysctlError {
    path: String,
    #[source]
    source: io::Error,
}

/// The namespace's limits (see the module docs).
pub fn read() -> Result<Sysctls, SysctlError> {
    let number = |dir: &str, name: &str| -> Result<u64, SysctlError> {
        let path = format!("{dir}/{name}");
        let text = std::fs::read_to_string(&path).map_err(|source| SysctlError {
            path: path.clone(),
            source,
        })?;
        // `int` sysctls; a negative one limits as zero does
        let v: i64 = text.trim().parse().map_err(|_| SysctlError {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, format!("{:?}", text.trim())),
        })?;
        Ok(v.max(0) as u64)
    };
    let mut k = Sysctls {
        msgs_per_sec: number(IPV4, "icmp_msgs_per_sec")?,
        msgs_burst: number(IPV4, "icmp_msgs_burst")?,
        ratelimit_ms: number(IPV4, "icmp_ratelimit")?,
        v4_masked: Sysctls::v4_mask_limits(number(IPV4, "icmp_ratemask")?),
        ..Sysctls::DEFAULTS
    };
    if Path::new(IPV6).is_dir() {
        k.v6_ratelimit_ms = number(IPV6, "ratelimit")?;
        let path = format!("{IPV6}/ratemask");
        let text = std::fs::read_to_string(&path).map_err(|source| SysctlError {
            path: path.clone(),
            source,
        })?;
        k.v6_masked = Sysctls::v6_mask_limits(&text).ok_or_else(|| SysctlError {
            path,
            source: io::Error::new(io::ErrorKind::InvalidData, format!("{:?}", text.trim())),
        })?;
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    /// The test's own namespace has readable limits, and a new namespace's values are
    /// what `Sysctls::DEFAULTS` says unless someone changed them here.
    #[test]
    fn the_namespace_limits_read() {
        let k = super::read().expect("sysctls");
        assert!(k.msgs_burst > 0 || k.msgs_per_sec > 0, "{k:?}");
    }
}
