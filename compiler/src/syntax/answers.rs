//! How many ICMP errors a file's `reject` rules send: `reject answers RATE [burst N]`
//! (one bucket for the whole install), `reject answers RATE [burst N] per
//! destination` (one per address answered), `reject answers unlimited`; without
//! them, the kernel's own limits, read from the install's network namespace when it
//! is applied (`net.ipv4.icmp_msgs_per_sec`, `icmp_msgs_burst`, `icmp_ratelimit`,
//! `icmp_ratemask`, `net.ipv6.icmp.ratelimit`, `ratemask`). TCP resets are never
//! limited, as the kernel's are not.
//!
//! The buckets are the kernel's own algorithms (`net/ipv4/icmp.c`,
//! `net/ipv4/inetpeer.c`), in ns of `bpf_ktime_get_ns` instead of jiffies:
//!
//! * the host-wide bucket is `icmp_global_allow` and `icmp_global_consume`: a packet
//!   may be answered while the credit is above zero; at zero or below, the bucket is
//!   refilled when at least [`MIN_REFILL_NS`] passed since the last refill (by
//!   `elapsed / interval` answers, the elapsed time taken at most
//!   [`HostBucket::cap_ns`], up to the burst), and the packet is answered if the
//!   refill added something;
//!   an answer sent takes 0, 1 or 2 credits at random (1 on average: the kernel's
//!   defence against reading the bucket from outside), so the credit may go below
//!   zero;
//! * the bucket of each destination is `inet_peer_xrlim_allow`: a token bucket of
//!   `burst` answers (the kernel's `XRLIM_BURST_FACTOR`, [`PEER_BURST`], by default)
//!   refilled at one answer per interval, full for an address not seen before; it is
//!   a GCRA word ([`Bucket`]), which is the same bucket;
//! * in that order, as the kernel has them since 6.12 ("icmp: change the order of
//!   rate limits"): the host-wide bucket is asked first without taking from it, then
//!   the destination's takes its answer, then the host-wide one takes its credits; an
//!   answer the destination's bucket refuses takes nothing from the host-wide one.
//!
//! Invariant: [`Config`] is the one place the settings become the numbers the
//! bytecode reads (`bpf::answers` reads its words by the offsets [`Config::to_bytes`]
//! writes), so the compiler, the runtime (which resolves the kernel's settings at
//! load) and the tests agree on what a setting means.

use super::limit::{Bucket, Limit};

/// One of the two buckets as a file sets it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// The kernel's, read from the install's network namespace when it is applied.
    Kernel,
    /// No limit.
    Unlimited,
    /// `RATE/UNIT [burst N]`, packets only.
    Rate {
        rate: u64,
        unit_secs: u64,
        /// `None`: [`HOST_BURST`] or [`PEER_BURST`].
        burst: Option<u64>,
    },
}

/// The limits of a file's answers: the host-wide bucket and the per-destination one.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AnswerLimits {
    pub host: Setting,
    pub peer: Setting,
}

impl Default for AnswerLimits {
    fn default() -> Self {
        AnswerLimits {
            host: Setting::Kernel,
            peer: Setting::Kernel,
        }
    }
}

/// The default burst of a host-wide rate written in a file (the kernel's default
/// `icmp_msgs_burst`).
pub const HOST_BURST: u64 = 50;
/// The default burst of a per-destination rate, and the kernel's always
/// (`XRLIM_BURST_FACTOR`).
pub const PEER_BURST: u64 = 6;
/// The shortest time between two refills of the host-wide bucket (the kernel's
/// `HZ / 50`).
pub const MIN_REFILL_NS: u64 = 20_000_000;
/// The longest time one refill counts (the kernel's `HZ`), unless an answer's
/// interval is longer.
pub const REFILL_CAP_NS: u64 = 1_000_000_000;
/// The credit word of the host-wide bucket holds `credit + CREDIT_BIAS`, so that the
/// bytecode compares it unsigned ("above zero" is "above the bias").
pub const CREDIT_BIAS: u64 = 1 << 62;
/// The most credit a burst may give (far below the bias).
pub const MAX_BURST: u64 = 1 << 40;
/// ICMP type 3 (destination unreachable) and ICMPv6 type 1: the bits of the kernel's
/// rate masks that say whether `reject`'s answers are limited at all.
const ICMP_DEST_UNREACH: u32 = 3;
const ICMPV6_DEST_UNREACH: u32 = 1;

/// The kernel's answer limits in one network namespace, as its sysctls say them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sysctls {
    /// `net.ipv4.icmp_msgs_per_sec` (shared by ICMP and ICMPv6).
    pub msgs_per_sec: u64,
    /// `net.ipv4.icmp_msgs_burst`.
    pub msgs_burst: u64,
    /// `net.ipv4.icmp_ratelimit`, ms between answers to one destination.
    pub ratelimit_ms: u64,
    /// `net.ipv4.icmp_ratemask` has destination unreachable (type 3).
    pub v4_masked: bool,
    /// `net.ipv6.icmp.ratelimit`, ms.
    pub v6_ratelimit_ms: u64,
    /// `net.ipv6.icmp.ratemask` has destination unreachable (type 1).
    pub v6_masked: bool,
}

impl Sysctls {
    /// A new network namespace's values (Linux 6.12 and later; IPv6's per-destination
    /// interval 100 ms since Linux 6.19, backported to stable kernels, 1 s before).
    pub const DEFAULTS: Sysctls = Sysctls {
        msgs_per_sec: 1000,
        msgs_burst: 50,
        ratelimit_ms: 1000,
        v4_masked: true,
        v6_ratelimit_ms: 100,
        v6_masked: true,
    };

    /// Whether `net.ipv4.icmp_ratemask` (a number) limits destination unreachable.
    pub fn v4_mask_limits(mask: u64) -> bool {
        mask >> ICMP_DEST_UNREACH & 1 == 1
    }

    /// Whether `net.ipv6.icmp.ratemask` (a list of ranges, `0-1,3-127`) limits
    /// destination unreachable; `None` when the text is not such a list.
    pub fn v6_mask_limits(mask: &str) -> Option<bool> {
        let mut limits = false;
        for part in mask.trim().split(',').filter(|p| !p.is_empty()) {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let (lo, hi): (u32, u32) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
            limits |= (lo..=hi).contains(&ICMPV6_DEST_UNREACH);
        }
        Some(limits)
    }
}

/// What the bytecode reads: the two buckets' constants, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The host-wide bucket (shared by both families): `None` is no limit.
    pub host: Option<HostBucket>,
    /// Whether it limits ICMP answers and ICMPv6 answers (the kernel's bucket only
    /// those its rate mask names).
    pub host4: bool,
    pub host6: bool,
    /// The per-destination buckets of IPv4 and IPv6 destinations: `None` is no limit
    /// (the kernel's with a zero interval, or a family its rate mask leaves out).
    pub peer4: Option<Bucket>,
    pub peer6: Option<Bucket>,
}

/// The host-wide bucket's constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostBucket {
    /// ns per answer; `u64::MAX` when the rate is 0 (never refilled).
    pub interval_ns: u64,
    /// The most credit a refill leaves.
    pub burst: u64,
    /// The longest time one refill counts.
    pub cap_ns: u64,
}

impl HostBucket {
    /// The kernel's bucket: `msgs_per_sec` answers a second, at most `burst` of credit,
    /// a refill counting at most one second (so after a pause it gives
    /// `min(msgs_per_sec, burst)`, as the kernel's does).
    fn kernel(msgs_per_sec: u64, burst: u64) -> HostBucket {
        HostBucket {
            interval_ns: match msgs_per_sec {
                0 => u64::MAX,
                r => 1_000_000_000 / r.min(1_000_000_000),
            },
            burst: burst.min(MAX_BURST),
            cap_ns: REFILL_CAP_NS,
        }
    }

    /// A rate a file writes (checked by sema: at least one per unit, an interval of at
    /// least 100 ns): a refill counts up to the whole burst's time, so a bucket left
    /// alone gives its burst whatever the rate (the kernel's one second would give a
    /// slow rate a single answer).
    fn written(rate: u64, unit_secs: u64, burst: u64) -> HostBucket {
        let unit_ns = u128::from(unit_secs) * 1_000_000_000;
        let interval_ns = u64::try_from(unit_ns / u128::from(rate.max(1))).unwrap_or(u64::MAX);
        let burst = burst.min(MAX_BURST);
        HostBucket {
            interval_ns,
            burst,
            cap_ns: interval_ns.saturating_mul(burst).max(REFILL_CAP_NS),
        }
    }
}

/// The per-destination bucket of `burst` answers, one per `interval_ns` (0: none).
fn peer_bucket(interval_ns: u64, burst: u64) -> Option<Bucket> {
    (interval_ns != 0).then(|| Bucket {
        cost: interval_ns,
        bytes: false,
        depth: interval_ns.saturating_mul(burst.max(1)),
    })
}

impl AnswerLimits {
    /// No limit at all: no bucket, no code.
    pub fn unlimited(&self) -> bool {
        self.host == Setting::Unlimited && self.peer == Setting::Unlimited
    }

    /// Whether the numbers come (partly) from the kernel when the file is applied.
    pub fn reads_kernel(&self) -> bool {
        self.host == Setting::Kernel || self.peer == Setting::Kernel
    }

    /// The constants the bytecode reads, with the kernel's settings `k` where the file
    /// has none. A rate mask leaves a family out of the kernel's buckets only: a rate
    /// the file writes limits every answer.
    pub fn config(&self, k: &Sysctls) -> Config {
        let masked = |s: Setting, family_masked: bool| s != Setting::Kernel || family_masked;
        let host = match self.host {
            Setting::Unlimited => None,
            Setting::Kernel => Some(HostBucket::kernel(k.msgs_per_sec, k.msgs_burst)),
            Setting::Rate {
                rate,
                unit_secs,
                burst,
            } => Some(HostBucket::written(
                rate,
                unit_secs,
                burst.unwrap_or(HOST_BURST),
            )),
        };
        let ms = |v: u64| v.saturating_mul(1_000_000);
        let (peer4, peer6) = match self.peer {
            Setting::Unlimited => (None, None),
            Setting::Kernel => (
                peer_bucket(ms(k.ratelimit_ms), PEER_BURST),
                peer_bucket(ms(k.v6_ratelimit_ms), PEER_BURST),
            ),
            Setting::Rate {
                rate,
                unit_secs,
                burst,
            } => {
                let b = peer_limit(rate, unit_secs, burst).bucket().ok();
                (b, b)
            }
        };
        Config {
            host,
            host4: masked(self.host, k.v4_masked),
            host6: masked(self.host, k.v6_masked),
            peer4: peer4.filter(|_| masked(self.peer, k.v4_masked)),
            peer6: peer6.filter(|_| masked(self.peer, k.v6_masked)),
        }
    }
}

/// A per-destination rate as the `limit` bucket it is (checked by sema).
pub fn peer_limit(rate: u64, unit_secs: u64, burst: Option<u64>) -> Limit {
    Limit {
        rate,
        bytes: false,
        unit_secs,
        burst: Some(burst.unwrap_or(PEER_BURST)),
        per_source: true,
        over: false,
    }
}

/// A host-wide rate as a `limit` (its checks: a rate of at least 1 per unit, at most
/// 10,000,000 a second, a burst of at least 1).
pub fn host_limit(rate: u64, unit_secs: u64, burst: Option<u64>) -> Limit {
    Limit {
        per_source: false,
        burst: Some(burst.unwrap_or(HOST_BURST)),
        ..peer_limit(rate, unit_secs, None)
    }
}

/// Byte offsets of [`Config::to_bytes`]'s words (each a `u64`).
pub mod word {
    /// Which buckets limit which family's answers: [`HOST4`], [`HOST6`], [`PEER4`],
    /// [`PEER6`].
    pub const FLAGS: i16 = 0;
    pub const HOST_INTERVAL: i16 = 8;
    pub const HOST_BURST: i16 = 16;
    pub const HOST_CAP: i16 = 24;
    pub const PEER4_COST: i16 = 32;
    pub const PEER4_DEPTH: i16 = 40;
    pub const PEER6_COST: i16 = 48;
    pub const PEER6_DEPTH: i16 = 56;
    /// The size of the value.
    pub const SIZE: u32 = 64;

    pub const HOST4: i32 = 1;
    pub const HOST6: i32 = 2;
    pub const PEER4: i32 = 4;
    pub const PEER6: i32 = 8;
}

impl Config {
    /// The configuration element of the answers map: eight little-endian `u64`s at
    /// the offsets of [`word`].
    pub fn to_bytes(&self) -> [u8; word::SIZE as usize] {
        let h = self.host.unwrap_or(HostBucket {
            interval_ns: u64::MAX,
            burst: 0,
            cap_ns: REFILL_CAP_NS,
        });
        let bit = |on: bool, b: i32| if on { b as u64 } else { 0 };
        let flags = bit(self.host.is_some() && self.host4, word::HOST4)
            | bit(self.host.is_some() && self.host6, word::HOST6)
            | bit(self.peer4.is_some(), word::PEER4)
            | bit(self.peer6.is_some(), word::PEER6);
        let (c4, d4) = self.peer4.map_or((0, 0), |b| (b.cost, b.depth));
        let (c6, d6) = self.peer6.map_or((0, 0), |b| (b.cost, b.depth));
        let words = [flags, h.interval_ns, h.burst, h.cap_ns, c4, d4, c6, d6];
        let mut out = [0u8; word::SIZE as usize];
        for (i, w) in words.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Whether any answer is limited.
    pub fn limits(&self) -> bool {
        self.to_bytes()[..8] != [0; 8]
    }

    /// The host-wide bucket's state when the object loads at `now` (ns of the
    /// monotonic clock `bpf_ktime_get_ns` reads): the credit the kernel's first
    /// refill gives (`min(rate × refill cap, burst)`, a written rate's whole burst)
    /// and that refill's time, so the next refill waits its interval.
    pub fn initial_state(&self, now: u64) -> [u8; word::SIZE as usize] {
        let credit = self
            .host
            .map_or(0, |h| (h.cap_ns / h.interval_ns.max(1)).min(h.burst));
        let mut out = [0u8; word::SIZE as usize];
        out[..8].copy_from_slice(&(CREDIT_BIAS + credit).to_le_bytes());
        out[8..16].copy_from_slice(&now.to_le_bytes());
        out
    }
}

impl std::fmt::Display for Setting {
    /// As written after `reject answers` (the kernel's: `kernel`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Kernel => f.write_str("kernel"),
            Setting::Unlimited => f.write_str("unlimited"),
            Setting::Rate {
                rate,
                unit_secs,
                burst,
            } => {
                let unit = host_limit(*rate, *unit_secs, *burst).unit_name();
                write!(f, "{rate}/{unit}")?;
                if let Some(b) = burst {
                    write!(f, " burst {b}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for AnswerLimits {
    /// `reject answers kernel; reject answers 1/second burst 6 per destination`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unlimited() {
            return f.write_str("reject answers unlimited");
        }
        write!(
            f,
            "reject answers {}; reject answers {} per destination",
            self.host, self.peer
        )
    }
}

#[cfg(test)]
mod tests;
