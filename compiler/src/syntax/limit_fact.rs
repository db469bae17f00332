//! One `limit` bucket named from outside a rule file: `over-limit:10/second,burst=20`
//! in a `sockc test` packet says that bucket has no room for the packet, and the
//! semantic diff names the buckets its example packets need over their limit this way.
//!
//! A bucket is named by what makes it ([`BucketKey`]: the token bucket's constants and
//! whether it is kept per source), not by a rule's line, so one name means the same
//! bucket in two versions of a file. Two rules of one block with the same key have
//! two buckets: `#N` names the `N`-th rule with that key in the block (counted from 1,
//! [`ordinals`]); without it, the name covers every rule with that key.
//!
//! Invariant: [`OverLimit::parse`] reads what [`OverLimit`]'s `Display` writes, and a
//! spec written two ways with the same bucket (`60/minute` and `1/second`) has one key.

use super::limit::{Bucket, Limit};

/// What makes a bucket: its constants and whether there is one per source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketKey {
    pub cost: u64,
    pub bytes: bool,
    pub depth: u64,
    pub per_source: bool,
}

impl BucketKey {
    pub fn new(bucket: Bucket, per_source: bool) -> BucketKey {
        BucketKey {
            cost: bucket.cost,
            bytes: bucket.bytes,
            depth: bucket.depth,
            per_source,
        }
    }

    /// The key of a written limit (`None` when it is no bucket).
    pub fn of(limit: &Limit) -> Option<BucketKey> {
        Some(BucketKey::new(limit.bucket().ok()?, limit.per_source))
    }
}

/// For each rule (its limit's key, if any), its ordinal among the rules with that key
/// so far (from 1; 0 for a rule without a limit).
pub fn ordinals(keys: impl IntoIterator<Item = Option<BucketKey>>) -> Vec<u32> {
    let mut seen: Vec<(BucketKey, u32)> = Vec::new();
    keys.into_iter()
        .map(|k| {
            let Some(k) = k else { return 0 };
            match seen.iter_mut().find(|(s, _)| *s == k) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    seen.push((k, 1));
                    1
                }
            }
        })
        .collect()
}

/// `over-limit:SPEC[#N]`: the bucket(s) SPEC makes have no room for the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OverLimit {
    /// The limit as one of the files writes it (its `over` is not read).
    pub written: Limit,
    pub key: BucketKey,
    /// The `N`-th rule with this key in the block; `None`: every one.
    pub nth: Option<u32>,
}

impl OverLimit {
    pub fn new(written: Limit, nth: Option<u32>) -> Option<OverLimit> {
        Some(OverLimit {
            written,
            key: BucketKey::of(&written)?,
            nth,
        })
    }

    /// Whether this names the bucket of the `nth` rule with `key`.
    pub fn names(&self, key: BucketKey, nth: u32) -> bool {
        self.key == key && self.nth.is_none_or(|n| n == nth)
    }

    /// Reads `over-limit:RATE[bytes]/UNIT[,burst=N][,per-source][#N]`.
    pub fn parse(word: &str) -> Result<OverLimit, String> {
        let bad = || {
            format!(
                "`{word}`: a limit is named `over-limit:RATE/UNIT[,burst=N][,per-source][#N]` \
                 (RATE with `bytes` for a byte rate; UNIT second, minute, hour or day)"
            )
        };
        let spec = word.strip_prefix("over-limit:").ok_or_else(bad)?;
        let (spec, nth) = match spec.split_once('#') {
            Some((s, n)) => (
                s,
                Some(n.parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(bad)?),
            ),
            None => (spec, None),
        };
        let mut parts = spec.split(',');
        let (rate, unit) = parts
            .next()
            .and_then(|r| r.split_once('/'))
            .ok_or_else(bad)?;
        let (rate, bytes) = match rate.strip_suffix("bytes") {
            Some(r) => (r, true),
            None => (rate, false),
        };
        if !matches!(unit, "second" | "minute" | "hour" | "day") {
            return Err(bad());
        }
        let mut written = Limit {
            rate: rate.parse().map_err(|_| bad())?,
            bytes,
            unit_secs: Limit::unit_secs_of(unit),
            burst: None,
            per_source: false,
            over: false,
        };
        for p in parts {
            match p.split_once('=') {
                Some(("burst", n)) => written.burst = Some(n.parse().map_err(|_| bad())?),
                None if p == "per-source" => written.per_source = true,
                _ => return Err(bad()),
            }
        }
        let key = BucketKey::of(&written)
            .ok_or_else(|| format!("`{word}`: {}", written.bucket().unwrap_err().message()))?;
        Ok(OverLimit { written, key, nth })
    }
}

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = &self.written;
        let bytes = if w.bytes { "bytes" } else { "" };
        write!(f, "over-limit:{}{bytes}/{}", w.rate, w.unit_name())?;
        if let Some(b) = w.burst {
            write!(f, ",burst={b}")?;
        }
        if w.per_source {
            f.write_str(",per-source")?;
        }
        if let Some(n) = self.nth {
            write!(f, "#{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_reads_back() {
        for text in [
            "over-limit:10/second",
            "over-limit:3/minute,burst=7,per-source",
            "over-limit:1000bytes/second,burst=4000#2",
        ] {
            let o = OverLimit::parse(text).unwrap();
            assert_eq!(o.to_string(), text);
        }
        for bad in [
            "over-limit",
            "over-limit:10",
            "over-limit:10/fortnight",
            "over-limit:0/second",
            "over-limit:10/second#0",
            "over-limit:10/second,bogus",
        ] {
            assert!(OverLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_bucket_written_two_ways_is_one_key() {
        let a = OverLimit::parse("over-limit:60/minute,burst=5").unwrap();
        let b = OverLimit::parse("over-limit:1/second").unwrap();
        assert_eq!(a.key, b.key);
        assert!(a.names(b.key, 3));
        let second = OverLimit::parse("over-limit:1/second#2").unwrap();
        assert!(second.names(a.key, 2) && !second.names(a.key, 1));
    }

    #[test]
    fn ordinals_count_each_key_on_its_own() {
        let k = |r| BucketKey::of(&OverLimit::parse(r).unwrap().written);
        let keys = [
            k("over-limit:1/second"),
            None,
            k("over-limit:2/second"),
            k("over-limit:1/second"),
        ];
        assert_eq!(ordinals(keys), vec![1, 0, 1, 2]);
    }
}
