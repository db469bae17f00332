//! Rate limits as the language writes them (`limit 10/s burst 20`, `limit over 1
//! mbytes/second`, `limit 3/minute per source`) and the token bucket each one is:
//! [`Limit::bucket`] turns the written rate into the GCRA constants the bytecode, the
//! evaluator and the docs share.
//!
//! The bucket is kept as one "theoretical arrival time" (TAT, in ns of
//! `bpf_ktime_get_ns`): a packet of cost `C` ns fits when `max(TAT, now) + C - now ≤
//! depth`, and a packet that fits moves TAT to `max(TAT, now) + C`. A fresh bucket
//! (TAT 0) holds `depth` ns of credit: `burst` packets, or `burst` bytes.
//!
//! Invariant: every constant [`Bucket`] holds is small enough that the bytecode's
//! 64-bit arithmetic cannot overflow: `cost` of one packet (or of 2^20 bytes) and
//! `depth` are below 2^62 ns, so `now + depth` and `TAT + cost` stay below 2^63 for
//! any uptime under 73 years.

/// One `limit` match as written, rates already in packets or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Packets (or bytes, with `bytes`) per [`Limit::unit_secs`].
    pub rate: u64,
    pub bytes: bool,
    /// 1, 60, 3600 or 86400.
    pub unit_secs: u64,
    /// Packets (or bytes) the bucket holds; `None`: the default.
    pub burst: Option<u64>,
    /// One bucket per source address (`per source`).
    pub per_source: bool,
    /// `limit over`: the rule matches the packets that do not fit.
    pub over: bool,
}

/// A byte limit counts a packet as at most this many bytes (no frame is larger; the
/// bound keeps `len × cost_q16` below 2^63).
pub const MAX_COUNTED_LEN: u64 = 1 << 20;
/// The default burst of a packet limit (iptables' and nft's).
pub const DEFAULT_BURST: u64 = 5;
/// The fastest packet limit: one packet per 100 ns (10,000,000/s), so rounding the
/// interval to whole ns is off by at most 1%.
pub const MIN_INTERVAL_NS: u64 = 100;
/// The fastest byte limit, in bytes per second (a byte costs at least 1 ns, so a
/// 64-byte frame's cost rounds by at most 1/64).
pub const MAX_BYTES_PER_SEC: u64 = 1_000_000_000;
const Q16_MAX: u64 = 1 << 43;
const DEPTH_MAX: u128 = 1 << 62;

/// The GCRA constants of one limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// A packet limit: ns per packet. A byte limit: ns per byte × 65536 (a frame of
    /// `len` bytes costs `⌈min(len, MAX_COUNTED_LEN) × cost / 65536⌉` ns).
    pub cost: u64,
    pub bytes: bool,
    /// The credit a full bucket holds, in ns.
    pub depth: u64,
}

impl Bucket {
    /// The cost in ns of a frame of `len` bytes.
    pub fn cost_of(&self, len: u64) -> u64 {
        if self.bytes {
            (len.min(MAX_COUNTED_LEN) * self.cost).div_ceil(1 << 16)
        } else {
            self.cost
        }
    }

    /// Whether a frame of `len` bytes fits a bucket whose TAT is `tat` at time `now`,
    /// and the TAT it leaves (unchanged when it does not fit).
    pub fn admit(&self, tat: u64, now: u64, len: u64) -> (bool, u64) {
        let next = tat.max(now) + self.cost_of(len);
        if next - now <= self.depth {
            (true, next)
        } else {
            (false, tat)
        }
    }
}

/// Why a written limit has no bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitError {
    RateZero,
    BurstZero,
    /// Faster than [`MIN_INTERVAL_NS`] or [`MAX_BYTES_PER_SEC`].
    TooFast,
    /// A byte rate so slow that one large frame's cost would overflow.
    TooSlow,
    /// The burst's credit does not fit 2^62 ns.
    BurstTooLarge,
}

impl LimitError {
    pub fn message(self) -> &'static str {
        match self {
            LimitError::RateZero => "a limit of 0 never lets a packet through",
            LimitError::BurstZero => "a burst of 0 never lets a packet through",
            LimitError::TooFast => {
                "the rate is faster than a limit can count (at most 10,000,000 packets or \
                 1,000,000,000 bytes per second)"
            }
            LimitError::TooSlow => {
                "a byte rate this slow cannot be counted (at least 8 bytes per second)"
            }
            LimitError::BurstTooLarge => "the burst is too large for the rate",
        }
    }
}

impl Limit {
    fn unit_ns(&self) -> u128 {
        u128::from(self.unit_secs) * 1_000_000_000
    }

    /// The bucket's constants, or why the limit cannot be one.
    pub fn bucket(&self) -> Result<Bucket, LimitError> {
        if self.rate == 0 {
            return Err(LimitError::RateZero);
        }
        if self.burst == Some(0) {
            return Err(LimitError::BurstZero);
        }
        let rate = u128::from(self.rate);
        let cost = if self.bytes {
            if rate * 1_000_000_000 > u128::from(MAX_BYTES_PER_SEC) * self.unit_ns() {
                return Err(LimitError::TooFast);
            }
            let q16 = (self.unit_ns() << 16).div_ceil(rate);
            if q16 >= u128::from(Q16_MAX) {
                return Err(LimitError::TooSlow);
            }
            q16 as u64
        } else {
            let interval = self.unit_ns() / rate;
            if interval < u128::from(MIN_INTERVAL_NS) {
                return Err(LimitError::TooFast);
            }
            interval as u64
        };
        // A byte limit's default burst is one unit's worth of bytes (as nft's).
        let burst = self
            .burst
            .unwrap_or(if self.bytes { self.rate } else { DEFAULT_BURST });
        // A packet limit's credit is whole intervals, so `burst` packets fit exactly.
        let depth = if self.bytes {
            u128::from(burst)
                .checked_mul(self.unit_ns())
                .map(|d| d / rate)
        } else {
            u128::from(burst).checked_mul(u128::from(cost))
        };
        let depth = depth
            .filter(|&d| d < DEPTH_MAX)
            .ok_or(LimitError::BurstTooLarge)?;
        Ok(Bucket {
            cost,
            bytes: self.bytes,
            depth: depth as u64,
        })
    }

    /// The unit's name as written in canonical form.
    pub fn unit_name(&self) -> &'static str {
        match self.unit_secs {
            60 => "minute",
            3600 => "hour",
            86400 => "day",
            _ => "second",
        }
    }

    /// Seconds of a time unit as the grammar names it.
    pub fn unit_secs_of(name: &str) -> u64 {
        match name {
            "minute" => 60,
            "hour" => 3600,
            "day" => 86400,
            _ => 1,
        }
    }

    /// Bytes of a byte unit as the grammar names it.
    pub fn bytes_of(name: &str) -> u64 {
        match name {
            "kbytes" => 1024,
            "mbytes" => 1024 * 1024,
            _ => 1,
        }
    }
}

impl std::fmt::Display for Limit {
    /// As written, in canonical form: `limit over 10/second burst 20 per source`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("limit ")?;
        if self.over {
            f.write_str("over ")?;
        }
        let bytes = if self.bytes { " bytes" } else { "" };
        write!(f, "{}{bytes}/{}", self.rate, self.unit_name())?;
        if let Some(b) = self.burst {
            write!(f, " burst {b}{bytes}")?;
        }
        if self.per_source {
            f.write_str(" per source")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(rate: u64, unit_secs: u64, burst: Option<u64>) -> Limit {
        Limit {
            rate,
            bytes: false,
            unit_secs,
            burst,
            per_source: false,
            over: false,
        }
    }

    #[test]
    fn a_fresh_bucket_admits_the_burst_then_the_rate() {
        let b = packets(1000, 1, Some(5)).bucket().unwrap();
        assert_eq!((b.cost, b.depth), (1_000_000, 5_000_000));
        let now = 1_000_000_000_000;
        let (mut tat, mut admitted) = (0, 0);
        for _ in 0..100 {
            let (ok, t) = b.admit(tat, now, 60);
            tat = t;
            admitted += u32::from(ok);
        }
        assert_eq!(admitted, 5);
        // 3 ms later, 3 more fit; 1 s later, the burst again (credit never exceeds it).
        for (later, total) in [(3_000_000, 8), (1_000_000_000, 13)] {
            for _ in 0..100 {
                let (ok, t) = b.admit(tat, now + later, 60);
                tat = t;
                admitted += u32::from(ok);
            }
            assert_eq!(admitted, total);
        }
    }

    #[test]
    fn byte_limits_cost_by_length() {
        let l = Limit {
            rate: 1024 * 1024,
            bytes: true,
            ..packets(1, 1, None)
        };
        let b = l.bucket().unwrap();
        // One second of bytes: a 1500-byte frame fits a fresh bucket, 700 of them do not.
        let (ok, _) = b.admit(0, 1 << 40, 1500);
        assert!(ok);
        let (mut tat, mut n) = (0, 0);
        for _ in 0..1000 {
            let (ok, t) = b.admit(tat, 1 << 40, 1500);
            tat = t;
            n += u32::from(ok);
        }
        assert_eq!(n, 699, "1 MiB holds 699 frames of 1500 bytes");
    }

    #[test]
    fn the_checker_refuses_what_cannot_be_counted() {
        assert_eq!(packets(0, 1, None).bucket(), Err(LimitError::RateZero));
        assert_eq!(packets(1, 1, Some(0)).bucket(), Err(LimitError::BurstZero));
        assert_eq!(
            packets(20_000_000, 1, None).bucket(),
            Err(LimitError::TooFast)
        );
        assert!(packets(10_000_000, 1, None).bucket().is_ok());
        assert_eq!(
            packets(1, 86400, Some(u64::MAX)).bucket(),
            Err(LimitError::BurstTooLarge)
        );
        let bytes = |rate, unit_secs| Limit {
            rate,
            bytes: true,
            ..packets(1, unit_secs, None)
        };
        assert_eq!(bytes(2_000_000_000, 1).bucket(), Err(LimitError::TooFast));
        assert_eq!(bytes(4, 1).bucket(), Err(LimitError::TooSlow));
        assert!(bytes(8, 1).bucket().is_ok());
        assert!(bytes(1_000_000, 86400).bucket().is_ok());
    }
}
