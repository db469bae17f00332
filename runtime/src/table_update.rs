//! Classifier tables behind one switch: filling a new object's table maps, and
//! replacing the tables of a live generation without loading anything.
//!
//! Each classifier's table map has two halves (array values 0 and 1) of the same
//! capacity, and the module's `tables_live` word says which half every program walks;
//! a program reads it once per packet (`bpf::classify::emit_select`). A fresh object
//! gets the same tables in both halves ([`fill_both_halves`]). An update
//! ([`switch_tables`]) writes the new tables into the half no packet reads — every
//! table map of the object, changed or not, so the half is whole — and then stores
//! the other half's number into the live word in one aligned 32-bit store, after
//! every table byte (release order): a packet that starts before the store walks the
//! old tables, one that starts after walks the new ones, in every classifier at once.
//!
//! Invariant: nothing a packet can read changes until the switch; the half written
//! is the one the live word does not name. The caller guarantees the new tables fit
//! the live maps (same names and capacities, which `plan` checks) and that no update
//! runs concurrently (the install lock); a packet's walk takes microseconds, so the
//! half it used is not rewritten while it runs (the next update comes after a whole
//! apply).

use std::{
    io,
    os::fd::BorrowedFd,
    time::{Duration, Instant},
};

use sockc_compiler::bpf::{classify::decode_words, maps::TableData};

use crate::sys::MapMemory;

#[derive(Debug, thiserror::Error)]
pub enum TableUpdateError {
    #[error("map `{map}`: {what}")]
    Map {
        map: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("map `{map}`: the new tables do not decode to {len} bytes")]
    Decode { map: String, len: u64 },
    #[error("map `{map}`: {len} bytes of tables do not fit a half of {capacity}")]
    TooLarge {
        map: String,
        len: u64,
        capacity: u32,
    },
    #[error("map `{map}`: its contents lie outside the object's tables")]
    Outside { map: String },
}

/// What a switch did.
#[derive(Clone, Copy, Debug)]
pub struct Switched {
    /// The half packets walked before, and walk now.
    pub from: u32,
    pub to: u32,
    /// Table bytes written (decoded), over all maps.
    pub bytes: u64,
    /// From the first write to the switch.
    pub took: Duration,
}

/// The bytes between `offset` and `stored` of the object's tables blob.
fn stored<'a>(blob: &'a [u8], t: &TableData) -> Result<&'a [u8], TableUpdateError> {
    usize::try_from(t.offset)
        .ok()
        .zip(usize::try_from(t.stored).ok())
        .and_then(|(at, len)| blob.get(at..at.checked_add(len)?))
        .ok_or_else(|| TableUpdateError::Outside { map: t.map.clone() })
}

/// Decodes `t`'s stored bytes into half `half` of the mapped map (values
/// `round_up(value_size, 8)` bytes apart) and zeroes the rest of that half.
fn write_half(
    mem: &mut MapMemory,
    t: &TableData,
    encoded: &[u8],
    half: usize,
) -> Result<(), TableUpdateError> {
    let (len, cap) = (t.len as usize, t.value_size as usize);
    if len > cap {
        return Err(TableUpdateError::TooLarge {
            map: t.map.clone(),
            len: t.len,
            capacity: t.value_size,
        });
    }
    let at = half * cap.next_multiple_of(8);
    let bytes = mem.bytes_mut();
    decode_words(encoded, &mut bytes[at..at + len]).ok_or_else(|| TableUpdateError::Decode {
        map: t.map.clone(),
        len: t.len,
    })?;
    bytes[at + len..at + cap].fill(0);
    Ok(())
}

fn map_error<'a>(
    map: &'a str,
    what: &'static str,
) -> impl FnOnce(io::Error) -> TableUpdateError + 'a {
    move |source| TableUpdateError::Map {
        map: map.to_string(),
        what,
        source,
    }
}

/// Fills both halves of a new table map with `t`'s contents (`encoded`: its stored
/// bytes), before any program can run.
pub fn fill_both_halves(
    fd: BorrowedFd<'_>,
    t: &TableData,
    encoded: &[u8],
) -> Result<(), TableUpdateError> {
    let stride = (t.value_size as usize).next_multiple_of(8);
    let mut mem = MapMemory::map(fd, 2 * stride).map_err(map_error(&t.map, "map"))?;
    write_half(&mut mem, t, encoded, 0)?;
    write_half(&mut mem, t, encoded, 1)
}

/// Writes every table of the new object (`tables`, their bytes in `blob`) into the
/// half of its live map that no packet reads, then switches the live word to it.
/// `open` gives the live map of a name (a table map or `tables_live`).
pub fn switch_tables<'f>(
    tables: &[TableData],
    blob: &[u8],
    live_word: BorrowedFd<'f>,
    open: &dyn Fn(&str) -> Option<BorrowedFd<'f>>,
) -> Result<Switched, TableUpdateError> {
    const LIVE: &str = sockc_compiler::bpf::classify::LIVE_MAP;
    let start = Instant::now();
    let mut live = MapMemory::map(live_word, 4).map_err(map_error(LIVE, "map"))?;
    let from = live.load_u32(0) & 1;
    let to = 1 - from;
    let mut bytes = 0u64;
    for t in tables {
        let fd = open(&t.map).ok_or_else(|| TableUpdateError::Map {
            map: t.map.clone(),
            what: "open",
            source: io::Error::from(io::ErrorKind::NotFound),
        })?;
        let stride = (t.value_size as usize).next_multiple_of(8);
        let mut mem = MapMemory::map(fd, 2 * stride).map_err(map_error(&t.map, "map"))?;
        write_half(&mut mem, t, stored(blob, t)?, to as usize)?;
        bytes += t.len;
    }
    live.store_u32(0, to);
    Ok(Switched {
        from,
        to,
        bytes,
        took: start.elapsed(),
    })
}
