//! A large set map's record written as the change from another record instead of
//! whole: an update in place that adds or removes a few elements of a million-element
//! set writes a record of those few entries and where they go (a kilobyte), not a new
//! nine-megabyte record (whose array map the kernel allocates and zeroes: the largest
//! part of that update's journal). The contents it stands for are its base record's
//! entries with one run replaced: `base[..head] ++ middle ++ base[len - tail..]`.
//!
//! Invariants: a delta's base is a whole record (never another delta), named in the
//! delta's own bytes and in the references ([`SetDelta`]), so that the records a
//! manifest or journal needs are all named and none is collected while one names it;
//! both records are checked against their digests when read, and a delta whose run
//! does not fit its base is an error naming it; an older sockc reads a delta as a
//! record that is not map entries (its magic is another) and refuses it — and it
//! never reaches one, since a manifest that names one has [`SET_DELTA_FORMAT`].

use serde::{Deserialize, Serialize};
// A whole record's header: magic, key and value sizes (u32 LE), the entry count (u64 LE).
use sockc_compiler::bpf::{entries::BINARY_HEADER as BASE_HEADER, maps::Entries};

/// The first manifest format whose set records may be deltas.
pub const SET_DELTA_FORMAT: u32 = 8;

/// A delta record's first bytes.
const MAGIC: &[u8; 4] = b"SKD1";
/// Bytes of a SHA-256 in hex.
const DIGEST: usize = 64;
/// Bytes before the delta's middle entries: magic, base digest, head, tail.
const HEADER: usize = 4 + DIGEST + 16;

/// A set record no smaller than this may be replaced by a delta: below it a whole
/// record costs little, and is what every earlier sockc reads.
pub const DELTA_FROM_BYTES: usize = 1 << 20;

/// A delta is written only while its middle holds at most this fraction (1/N) of the
/// set's entries; past it the whole record is written again, which later deltas are
/// made against (so the changes of many updates never add up to a record as large as
/// the set).
pub const DELTA_AT_MOST_ONE_IN: usize = 16;

/// A map's record that is a delta, as the references name it: its digest (also the
/// map's in `map_contents`), its base's, and its run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetDelta {
    pub delta: String,
    pub base: String,
    pub head: u64,
    pub tail: u64,
}

/// A delta record read: its base's digest and the run that replaces part of it.
pub(super) struct Delta {
    pub base: String,
    head: usize,
    tail: usize,
    middle: Entries,
}

/// The delta record's bytes before `middle`'s binary form
/// (`Entries::binary_parts`): magic, `base`'s digest, `head` and `tail`.
pub(super) fn header(base: &str, head: usize, tail: usize) -> Option<Vec<u8>> {
    if base.len() != DIGEST || !base.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(base.as_bytes());
    h.extend_from_slice(&(head as u64).to_le_bytes());
    h.extend_from_slice(&(tail as u64).to_le_bytes());
    Some(h)
}

/// `bytes` read as a delta record: `None` when it is not one (its magic is another's);
/// `Some(Err(why))` when it says it is one but is not whole.
pub(super) fn parse(bytes: &[u8]) -> Option<Result<Delta, &'static str>> {
    if !bytes.starts_with(MAGIC) {
        return None;
    }
    let Some((head, rest)) = bytes.split_at_checked(HEADER) else {
        return Some(Err("is a set delta record cut short"));
    };
    let base = &head[4..4 + DIGEST];
    if !base.iter().all(u8::is_ascii_hexdigit) {
        return Some(Err("is a set delta record naming no base"));
    }
    let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    let run = |w: u64| usize::try_from(w).ok();
    let (Some(head_n), Some(tail_n)) = (run(word(4 + DIGEST)), run(word(12 + DIGEST))) else {
        return Some(Err("is a set delta record with a run past memory"));
    };
    let Some(middle) = Entries::from_binary(rest) else {
        return Some(Err("is a set delta record whose entries are not whole"));
    };
    Some(Ok(Delta {
        base: String::from_utf8_lossy(base).into_owned(),
        head: head_n,
        tail: tail_n,
        middle,
    }))
}

impl Delta {
    /// The entries this delta stands for, read from its base's binary form `base`
    /// (a record's mapped pages): the base's keys and values around the run and the
    /// delta's own in it, each copied once into the entries' buffers (no copy of the
    /// whole record first, no moves within it after). `None` when `base` is not a
    /// whole record of entries or the run does not fit it (its head and tail overlap
    /// or pass the base's end, or its entries are of other sizes).
    pub fn entries_over(&self, base: &[u8]) -> Option<Entries> {
        let (key_len, value_len, n) = Entries::binary_whole(base)?;
        let mid = &self.middle;
        let sizes_fit = mid.is_empty() || (mid.key_len(), mid.value_len()) == (key_len, value_len);
        let kept = self.head.checked_add(self.tail)?;
        if !sizes_fit || kept > n {
            return None;
        }
        let (removed, added) = (n - kept, mid.len());
        let (keys, values) = base[BASE_HEADER..].split_at(n * key_len);
        let spliced = |old: &[u8], len: usize, run: &[u8]| {
            let (before, after) = (self.head * len, (self.head + removed) * len);
            let mut out = Vec::with_capacity(old.len() - (after - before) + run.len());
            out.extend_from_slice(&old[..before]);
            out.extend_from_slice(run);
            out.extend_from_slice(&old[after..]);
            out
        };
        Entries::from_parts(
            key_len,
            value_len,
            spliced(keys, key_len, mid.keys(0, added)),
            spliced(values, value_len, mid.values(0, added)),
        )
    }
}

/// The run a delta of `new` against a base replaces, from what the old contents
/// shared with the base (`old_run`: head and tail; `None` when the old record is the
/// base itself) and with `new` (`shared`): the head and tail `new` and the base
/// share at least — the lesser of each, as the old contents lie between them.
pub(super) fn run_over_base(
    old_run: Option<(usize, usize)>,
    shared: (usize, usize),
) -> (usize, usize) {
    match old_run {
        Some((head, tail)) => (head.min(shared.0), tail.min(shared.1)),
        None => shared,
    }
}

/// Whether `new`'s entries outside a shared `head` and `tail` are few enough for a
/// delta ([`DELTA_AT_MOST_ONE_IN`]), in a record large enough to want one
/// ([`DELTA_FROM_BYTES`]).
pub(super) fn worth_a_delta(new: &Entries, (head, tail): (usize, usize)) -> bool {
    let bytes = new.len() * (new.key_len() + new.value_len());
    let middle = new.len().saturating_sub(head + tail);
    bytes >= DELTA_FROM_BYTES && middle.saturating_mul(DELTA_AT_MOST_ONE_IN) <= new.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: impl IntoIterator<Item = u32>) -> Entries {
        let mut e = Entries::with_capacity(4, 1, 0);
        for k in keys {
            e.push(&k.to_be_bytes(), &[k as u8]);
        }
        e
    }

    fn record(base: &str, head: usize, tail: usize, middle: &Entries) -> Vec<u8> {
        let (h, k, v) = middle.binary_parts();
        let mut out = header(base, head, tail).unwrap();
        out.extend_from_slice(&h);
        out.extend_from_slice(k);
        out.extend_from_slice(v);
        out
    }

    fn applied(d: &Delta, base: &Entries) -> Option<Entries> {
        let (h, k, v) = base.binary_parts();
        d.entries_over(&[&h[..], k, v].concat())
    }

    const BASE: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_delta_is_its_base_with_its_run_replaced() {
        let base = entries(0..10);
        // 4 and 5 replaced by 40, 41 and 42.
        let bytes = record(BASE, 4, 4, &entries([40, 41, 42]));
        let d = parse(&bytes).unwrap().unwrap();
        assert_eq!(d.base, BASE);
        let got = applied(&d, &base).unwrap();
        assert_eq!(got, entries([0, 1, 2, 3, 40, 41, 42, 6, 7, 8, 9]));
        // Nothing in the middle: a removal; nothing around it: all of it replaced.
        let d = parse(&record(BASE, 3, 6, &Entries::default()))
            .unwrap()
            .unwrap();
        assert_eq!(
            applied(&d, &base).unwrap(),
            entries([0, 1, 2, 4, 5, 6, 7, 8, 9])
        );
        let d = parse(&record(BASE, 0, 0, &entries([7]))).unwrap().unwrap();
        assert_eq!(applied(&d, &base).unwrap(), entries([7]));
    }

    #[test]
    fn a_delta_that_does_not_fit_its_base_or_is_torn_is_refused() {
        let base = entries(0..10);
        let over = parse(&record(BASE, 6, 5, &entries([1]))).unwrap().unwrap();
        assert!(applied(&over, &base).is_none(), "head and tail overlap");
        let mut other = Entries::with_capacity(8, 1, 0);
        other.push(&[0; 8], &[0]);
        let sizes = parse(&record(BASE, 1, 1, &other)).unwrap().unwrap();
        assert!(applied(&sizes, &base).is_none(), "entries of other sizes");
        let (h, k, v) = base.binary_parts();
        let torn = [&h[..], k, &v[1..]].concat();
        assert!(sizes.entries_over(&torn).is_none(), "a torn base");
        let whole = record(BASE, 1, 1, &entries([5]));
        assert!(parse(&whole[..whole.len() - 1]).unwrap().is_err());
        assert!(parse(&whole[..10]).unwrap().is_err());
        let (h, k, v) = base.binary_parts();
        assert!(parse(&[&h[..], k, v].concat()).is_none(), "a whole record");
        assert!(header("not a digest", 0, 0).is_none());
    }

    #[test]
    fn a_run_over_the_base_is_what_both_changes_leave_alike() {
        assert_eq!(run_over_base(None, (5, 7)), (5, 7));
        assert_eq!(run_over_base(Some((3, 9)), (5, 7)), (3, 7));
        // The base [0..10], old = base with 4 -> 40, new = old with 8 -> 80: new and
        // the base share what the run says.
        let base: Vec<u32> = (0..10).collect();
        let new = [0, 1, 2, 3, 40, 5, 6, 7, 80, 9];
        let (head, tail) = run_over_base(Some((4, 5)), (8, 1));
        assert_eq!(base[..head], new[..head]);
        assert_eq!(base[10 - tail..], new[10 - tail..]);
    }

    #[test]
    fn only_a_large_set_with_a_small_change_takes_a_delta() {
        let n = DELTA_FROM_BYTES / 5 + 1;
        let large = entries(0..n as u32);
        assert!(worth_a_delta(&large, (n / 2, n / 2 - 1)));
        assert!(!worth_a_delta(&large, (0, n / 2)), "half of it changed");
        assert!(!worth_a_delta(&entries(0..1000), (500, 499)), "a small set");
    }
}
