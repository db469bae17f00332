//! The entries of one map, packed: every key `key_len` bytes and every value
//! `value_len` bytes, keys back to back in one buffer and values in another, so a
//! million set elements are two allocations, written to the kernel in batches
//! straight from the buffers, hashed and compared without decoding anything.
//!
//! Kept in binary by the install's store (a header, the keys, the values:
//! [`Entries::binary_parts`], [`Entries::from_binary`]), and serialized (the object's
//! metadata, manifests of earlier versions) as the two sizes and each buffer as one
//! lowercase hex string; read from that form or from the form
//! before it, a list of `[key, value]` hex pairs, which objects and manifests written
//! by earlier versions hold. Invariant: `keys.len() == len * key_len` and
//! `values.len() == len * value_len`, whichever way the entries were made. The
//! buffers are shared between clones and copied only when a clone is appended to.

use std::sync::Arc;

use serde::{
    de::{self, MapAccess, SeqAccess, Visitor},
    ser::SerializeStruct,
    Deserialize, Deserializer, Serialize, Serializer,
};

/// Bytes of the binary form's header ([`Entries::binary_parts`]).
pub const BINARY_HEADER: usize = 20;
/// The binary form's first bytes: what a set record in the store starts with.
const BINARY_MAGIC: &[u8; 4] = b"SKE1";

/// Packed (key, value) entries of one map; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entries {
    key_len: usize,
    value_len: usize,
    // Shared (copy on write): a manifest holding a million entries is cloned by the
    // store's memo and the journal, which then costs nothing.
    keys: Arc<Vec<u8>>,
    values: Arc<Vec<u8>>,
}

impl Entries {
    /// No entries yet, room for `n`.
    pub fn with_capacity(key_len: usize, value_len: usize, n: usize) -> Entries {
        Entries {
            key_len,
            value_len,
            keys: Arc::new(Vec::with_capacity(n * key_len)),
            values: Arc::new(Vec::with_capacity(n * value_len)),
        }
    }

    /// Entries of these sizes from two packed buffers; `None` unless both hold the
    /// same whole number of keys and values.
    pub fn from_parts(
        key_len: usize,
        value_len: usize,
        keys: Vec<u8>,
        values: Vec<u8>,
    ) -> Option<Entries> {
        let n = keys.len().checked_div(key_len).unwrap_or(0);
        let whole = key_len > 0 && keys.len() == n * key_len && values.len() == n * value_len;
        (whole || (keys.is_empty() && values.is_empty())).then_some(Entries {
            key_len,
            value_len,
            keys: Arc::new(keys),
            values: Arc::new(values),
        })
    }

    /// Appends one entry; false (nothing appended) when its sizes are not the map's.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> bool {
        if key.len() != self.key_len || value.len() != self.value_len {
            return false;
        }
        Arc::make_mut(&mut self.keys).extend_from_slice(key);
        Arc::make_mut(&mut self.values).extend_from_slice(value);
        true
    }

    pub fn len(&self) -> usize {
        self.keys.len().checked_div(self.key_len).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn key_len(&self) -> usize {
        self.key_len
    }

    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// Keys `at..end`, back to back.
    pub fn keys(&self, at: usize, end: usize) -> &[u8] {
        &self.keys[at * self.key_len..end * self.key_len]
    }

    /// Values `at..end`, back to back.
    pub fn values(&self, at: usize, end: usize) -> &[u8] {
        &self.values[at * self.value_len..end * self.value_len]
    }

    pub fn key(&self, i: usize) -> &[u8] {
        self.keys(i, i + 1)
    }

    pub fn value(&self, i: usize) -> &[u8] {
        self.values(i, i + 1)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        (0..self.len()).map(|i| (self.key(i), self.value(i)))
    }

    /// Entries `at..end` as entries of their own: the same buffers when that is all of
    /// them (a first install's whole set costs no copy), else a copy of the range.
    pub fn range(&self, at: usize, end: usize) -> Entries {
        if (at, end) == (0, self.len()) {
            return self.clone();
        }
        Entries {
            key_len: self.key_len,
            value_len: self.value_len,
            keys: Arc::new(self.keys(at, end).to_vec()),
            values: Arc::new(self.values(at, end).to_vec()),
        }
    }

    /// The same keys, each with `value` (an array's removed entries go back to zero).
    pub fn with_value(&self, value: &[u8]) -> Entries {
        Entries {
            key_len: self.key_len,
            value_len: value.len(),
            keys: self.keys.clone(),
            values: Arc::new(value.repeat(self.len())),
        }
    }

    /// From `(key, value)` hex pairs, every one of the sizes of the first; `None` for
    /// text that is not hex or entries of different sizes.
    pub fn from_hex_pairs<'a>(
        pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Entries> {
        let n = pairs.len();
        let mut out: Option<Entries> = None;
        let (mut k, mut v) = (Vec::new(), Vec::new());
        for (key, value) in pairs {
            k.clear();
            v.clear();
            if !(unhex_into(key, &mut k) && unhex_into(value, &mut v)) {
                return None;
            }
            let e = out.get_or_insert_with(|| Entries::with_capacity(k.len(), v.len(), n));
            if !e.push(&k, &v) {
                return None;
            }
        }
        Some(out.unwrap_or_default())
    }

    /// Every entry as a `(key, value)` hex pair.
    pub fn to_hex_pairs(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (hex(k), hex(v))).collect()
    }

    /// The binary form's header ([`Entries::binary_parts`]): magic, key and value
    /// sizes (u32 LE) and the entry count (u64 LE).
    fn binary_header(&self) -> [u8; BINARY_HEADER] {
        let mut h = [0u8; BINARY_HEADER];
        h[..4].copy_from_slice(BINARY_MAGIC);
        h[4..8].copy_from_slice(&(self.key_len as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(self.value_len as u32).to_le_bytes());
        h[12..].copy_from_slice(&(self.len() as u64).to_le_bytes());
        h
    }

    /// The binary form (a store's record of a set) as three slices to write one after
    /// the other, so a million entries are never copied into one more buffer: the
    /// header, the keys, the values.
    pub fn binary_parts(&self) -> ([u8; BINARY_HEADER], &[u8], &[u8]) {
        (self.binary_header(), &self.keys, &self.values)
    }

    /// The key length, value length and entry count a binary form's header gives
    /// (its magic unchecked); `None` when `record` is shorter than a header or the
    /// count does not fit in memory.
    fn binary_sizes(record: &[u8]) -> Option<(usize, usize, usize)> {
        let head = record.get(..BINARY_HEADER)?;
        let word = |at: usize| u32::from_le_bytes(head[at..at + 4].try_into().expect("4 bytes"));
        let n = u64::from_le_bytes(head[12..].try_into().expect("8 bytes"));
        Some((word(4) as usize, word(8) as usize, usize::try_from(n).ok()?))
    }

    /// Entries from their binary form; `None` unless it is exactly one header and
    /// the whole number of keys and values it announces (a torn or foreign record).
    /// `bytes` may be a record's mapped pages: the keys and the values are copied out
    /// once each, with no copy of the whole record first.
    pub fn from_binary(bytes: &[u8]) -> Option<Entries> {
        let (key_len, value_len, n) = Self::binary_whole(bytes)?;
        let (keys, values) = bytes[BINARY_HEADER..].split_at(n * key_len);
        Entries::from_parts(key_len, value_len, keys.to_vec(), values.to_vec())
    }

    /// The key length, value length and entry count of `record` when it is exactly a
    /// binary form: its magic, then the whole number of keys and values its header
    /// announces (`None` for a torn or foreign record).
    pub fn binary_whole(record: &[u8]) -> Option<(usize, usize, usize)> {
        let (head, rest) = record.split_at_checked(BINARY_HEADER)?;
        if &head[..4] != BINARY_MAGIC {
            return None;
        }
        let (key_len, value_len, n) = Self::binary_sizes(head)?;
        let keys_end = n.checked_mul(key_len)?;
        let end = keys_end.checked_add(n.checked_mul(value_len)?)?;
        (rest.len() == end && (n == 0 || key_len > 0)).then_some((key_len, value_len, n))
    }
}

impl Serialize for Entries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Entries", 4)?;
        st.serialize_field("key_len", &self.key_len)?;
        st.serialize_field("value_len", &self.value_len)?;
        st.serialize_field("keys", &hex(&self.keys))?;
        st.serialize_field("values", &hex(&self.values))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        d.deserialize_any(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("packed map entries, or a list of [key, value] hex pairs")
    }

    /// The earlier form: `[["<key hex>", "<value hex>"], ...]`.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(p) = seq.next_element()? {
            pairs.push(p);
        }
        Entries::from_hex_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .ok_or_else(|| de::Error::custom("map entries: not hex, or of different sizes"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let (mut key_len, mut value_len) = (None, None);
        let (mut keys, mut values) = (None, None);
        while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match field.as_ref() {
                "key_len" => key_len = Some(map.next_value::<usize>()?),
                "value_len" => value_len = Some(map.next_value::<usize>()?),
                "keys" => keys = Some(unhex_field::<A>(map.next_value()?)?),
                "values" => values = Some(unhex_field::<A>(map.next_value()?)?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let missing = |f| de::Error::missing_field(f);
        Entries::from_parts(
            key_len.ok_or_else(|| missing("key_len"))?,
            value_len.ok_or_else(|| missing("value_len"))?,
            keys.ok_or_else(|| missing("keys"))?,
            values.ok_or_else(|| missing("values"))?,
        )
        .ok_or_else(|| de::Error::custom("map entries: buffers are not whole entries"))
    }
}

fn unhex_field<'de, A: MapAccess<'de>>(
    text: std::borrow::Cow<'de, str>,
) -> Result<Vec<u8>, A::Error> {
    let mut out = Vec::with_capacity(text.len() / 2);
    if unhex_into(&text, &mut out) {
        Ok(out)
    } else {
        Err(de::Error::custom("map entries: not hex"))
    }
}

/// Lowercase hex, the text form of map keys and values in map contents and set changes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// The inverse of [`hex`]; `None` for text that is not pairs of hex digits.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 2);
    unhex_into(s, &mut out).then_some(out)
}

/// [`unhex`] appending to `out` (a million set entries decode into one buffer, not a
/// million vectors); false, with `out` partly extended, for text that is not pairs of
/// hex digits.
pub fn unhex_into(s: &str, out: &mut Vec<u8>) -> bool {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return false;
    }
    out.reserve(bytes.len() / 2);
    for pair in bytes.chunks_exact(2) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entries {
        let mut e = Entries::with_capacity(8, 1, 2);
        assert!(e.push(&[24, 0, 0, 0, 203, 0, 113, 0], &[1]));
        assert!(e.push(&[32, 0, 0, 0, 198, 51, 100, 7], &[1]));
        assert!(
            !e.push(&[1, 2, 3], &[1]),
            "a key of another size is refused"
        );
        e
    }

    #[test]
    fn packed_form_round_trips() {
        let e = sample();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"key_len":8,"value_len":1,"keys":"18000000cb00710020000000c6336407","values":"0101"}"#
        );
        assert_eq!(serde_json::from_str::<Entries>(&json).unwrap(), e);
    }

    #[test]
    fn earlier_pair_form_reads_the_same() {
        let old = r#"[["18000000cb007100","01"],["20000000c6336407","01"]]"#;
        assert_eq!(serde_json::from_str::<Entries>(old).unwrap(), sample());
        assert_eq!(
            serde_json::from_str::<Entries>("[]").unwrap(),
            Entries::default()
        );
        assert!(serde_json::from_str::<Entries>(r#"[["18","01"],["1800","01"]]"#).is_err());
        assert!(serde_json::from_str::<Entries>(r#"[["zz","01"]]"#).is_err());
    }

    #[test]
    fn binary_form_round_trips_and_refuses_torn_records() {
        let e = sample();
        let (head, keys, values) = e.binary_parts();
        let bytes = [&head[..], keys, values].concat();
        assert_eq!(bytes.len(), BINARY_HEADER + 2 * 9);
        assert_eq!(Entries::from_binary(&bytes), Some(e.clone()));
        let short = &bytes[..bytes.len() - 1];
        assert_eq!(Entries::from_binary(short), None, "one byte short");
        assert_eq!(Entries::from_binary(&[&bytes[..], &[0]].concat()), None);
        assert_eq!(Entries::from_binary(&bytes[..BINARY_HEADER - 1]), None);
        let mut foreign = bytes.clone();
        foreign[0] = b'X';
        assert_eq!(Entries::from_binary(&foreign), None, "not our magic");
        let mut huge = bytes;
        huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Entries::from_binary(&huge), None, "a count that overflows");
        let empty = Entries::default();
        let (h, k, v) = empty.binary_parts();
        assert_eq!(Entries::from_binary(&[&h[..], k, v].concat()), Some(empty));
    }

    #[test]
    fn a_range_is_those_entries() {
        let e = sample();
        assert_eq!(e.range(0, 2), e);
        assert_eq!(e.range(1, 2).to_hex_pairs(), [e.to_hex_pairs()[1].clone()]);
        assert_eq!(e.range(1, 1).len(), 0);
        assert_eq!(e.range(1, 1).key_len(), 8);
    }

    #[test]
    fn torn_buffers_are_refused() {
        let bad = r#"{"key_len":8,"value_len":1,"keys":"18000000cb007100","values":"0101"}"#;
        assert!(serde_json::from_str::<Entries>(bad).is_err());
        assert_eq!(sample().to_hex_pairs()[1].0, "20000000c6336407");
    }
}
