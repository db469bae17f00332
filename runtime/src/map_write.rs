//! Many raw entries written into, or deleted from, one map: decoded from the hex text
//! of the metadata into one contiguous buffer, then written in batches of [`BATCH`]
//! elements (`BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH`), one syscall per batch
//! instead of one per element. A map kind whose kernel has no batch commands gets one
//! update or delete per element, decided once per map by the first batch's answer.
//!
//! Invariants: every element is checked against the map's key and value sizes (read
//! once per map) before anything is written; a delete of an absent key is not an
//! error, so a delete run again after a kill finishes what the first began; an error
//! names the element it stopped at, and every element before it is written.

use std::{io, os::fd::BorrowedFd};

use sockc_compiler::bpf::maps::unhex_into;

use crate::{fault::point, sys};

/// Elements per batch syscall: large enough that the syscalls cost nothing next to
/// the kernel's own work per element, small enough that a fault point between batches
/// still falls inside a large update.
pub const BATCH: usize = 65_536;

/// Entries decoded for one map: keys and values back to back, every key `key_len`
/// bytes and every value `value_len` bytes.
pub struct Packed {
    pub key_len: usize,
    pub value_len: usize,
    keys: Vec<u8>,
    values: Vec<u8>,
}

/// Why an entry could not be decoded or written: the index of the element in the
/// list given, and what went wrong.
#[derive(Debug)]
pub enum WriteFault {
    /// The text is not hex (`key` says which half).
    BadHex { index: usize, key: bool },
    /// The entry has other sizes (key, value) than the map's.
    Size {
        index: usize,
        got: (usize, usize),
        want: (usize, usize),
    },
    /// The kernel refused the element.
    Kernel { index: usize, source: io::Error },
}

impl Packed {
    /// Decodes `(key, value)` hex pairs for a map of these sizes; a `value_len` of
    /// zero takes no values (deletes).
    pub fn decode<'a>(
        entries: impl ExactSizeIterator<Item = (&'a str, Option<&'a str>)>,
        key_len: usize,
        value_len: usize,
    ) -> Result<Packed, WriteFault> {
        let n = entries.len();
        let mut out = Packed {
            key_len,
            value_len,
            keys: Vec::with_capacity(n * key_len),
            values: Vec::with_capacity(n * value_len),
        };
        for (index, (k, v)) in entries.enumerate() {
            if !unhex_into(k, &mut out.keys) {
                return Err(WriteFault::BadHex { index, key: true });
            }
            if let Some(v) = v {
                if !unhex_into(v, &mut out.values) {
                    return Err(WriteFault::BadHex { index, key: false });
                }
            }
            let value = v.map_or(0, |_| out.values.len() - index * value_len);
            let key = out.keys.len() - index * key_len;
            if key != key_len || (v.is_some() && value != value_len) {
                return Err(WriteFault::Size {
                    index,
                    got: (key, value),
                    want: (key_len, value_len),
                });
            }
        }
        Ok(out)
    }

    /// `n` copies of one value for these keys (an array's removed entries go back to
    /// zero).
    pub fn with_value(keys: Packed, value: &[u8]) -> Packed {
        let n = keys.len();
        Packed {
            key_len: keys.key_len,
            value_len: value.len(),
            keys: keys.keys,
            values: value.repeat(n),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len() / self.key_len.max(1)
    }

    fn key(&self, i: usize) -> &[u8] {
        &self.keys[i * self.key_len..(i + 1) * self.key_len]
    }

    fn value(&self, i: usize) -> &[u8] {
        &self.values[i * self.value_len..(i + 1) * self.value_len]
    }
}

/// Writes every entry of `p` into `map` (`BPF_ANY`); `what` names the step at each
/// fault point (one per batch).
pub fn update(map: BorrowedFd<'_>, p: &Packed, what: &str) -> Result<(), WriteFault> {
    let mut batched = true;
    let mut at = 0;
    while at < p.len() {
        let end = (at + BATCH).min(p.len());
        point(what);
        if batched {
            let keys = &p.keys[at * p.key_len..end * p.key_len];
            let values = &p.values[at * p.value_len..end * p.value_len];
            match sys::map_update_batch(map, keys, values, p.key_len) {
                Ok(_) => {
                    at = end;
                    continue;
                }
                Err((0, e)) if sys::batch_unsupported(&e) => batched = false,
                Err((done, source)) => {
                    return Err(WriteFault::Kernel {
                        index: at + done,
                        source,
                    })
                }
            }
        }
        for i in at..end {
            sys::map_update(map, p.key(i), p.value(i), 0)
                .map_err(|source| WriteFault::Kernel { index: i, source })?;
        }
        at = end;
    }
    Ok(())
}

/// Deletes every key of `p` from `map`; absent keys are skipped.
pub fn delete(map: BorrowedFd<'_>, p: &Packed, what: &str) -> Result<(), WriteFault> {
    let mut batched = true;
    let mut at = 0;
    while at < p.len() {
        let end = (at + BATCH).min(p.len());
        point(what);
        if batched {
            let keys = &p.keys[at * p.key_len..end * p.key_len];
            match sys::map_delete_batch(map, keys, p.key_len) {
                Ok(_) => {
                    at = end;
                    continue;
                }
                // The kernel stops at an absent key: skip it and go on from the next.
                Err((done, e)) if e.raw_os_error() == Some(libc::ENOENT) => {
                    at += done + 1;
                    continue;
                }
                Err((0, e)) if sys::batch_unsupported(&e) => batched = false,
                Err((done, source)) => {
                    return Err(WriteFault::Kernel {
                        index: at + done,
                        source,
                    })
                }
            }
        }
        for i in at..end {
            sys::map_delete(map, p.key(i))
                .map_err(|source| WriteFault::Kernel { index: i, source })?;
        }
        at = end;
    }
    Ok(())
}
