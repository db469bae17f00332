//! Classifier tables behind one switch: filling a new object's table maps, and
//! replacing the tables of a live generation without loading anything.
//!
//! Each classifier's table map has two halves (array values 0 and 1) of the same
//! capacity, and the module's `tables_live` word says which half every program walks;
//! a program reads it once per packet (`bpf::classify::emit_select`). A fresh object
//! gets the same tables in both halves ([`fill_both_halves`]). An update writes the
//! new tables into the half no packet reads ([`write_unread_half`], [`write_pinned`])
//! — every table map of the object, changed or not, so the half is whole — and then
//! ([`switch_to`], [`Unswitched::switch`]) stores the other half's number into the
//! live word in one aligned 32-bit store, after every table byte (release order): a
//! packet that starts before the store walks the old tables, one that starts after
//! walks the new ones, in every classifier at once. The two steps are apart so that
//! an install can write the half beside its journal and switch only once the journal
//! names the update.
//!
//! Invariant: nothing a packet can read, nor any counter, changes until the switch;
//! the half written is the one the live word does not name, and the switch stores
//! only if the word still names the other one. The caller guarantees the new tables fit
//! the live maps (same names and capacities, which `plan` checks) and that no update
//! runs concurrently (the install lock); a packet's walk takes microseconds, so the
//! half it used is not rewritten while it runs (the next update comes after a whole
//! apply).

use std::{
    io,
    os::fd::BorrowedFd,
    time::{Duration, Instant},
};

use sockc_compiler::bpf::{
    classify::{word_runs, WordRun, LIVE_MAP},
    maps::{TableData, COUNTERS_MAP},
};

use crate::{map_window::Windows, sys::MapMemory};

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
    #[error("map `tables_live`: it moved while the new tables were written")]
    Moved,
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

/// The bytes between `offset` and `stored` of the object's tables blob, if they are
/// inside it.
pub(crate) fn stored_bytes<'a>(blob: &'a [u8], t: &TableData) -> Option<&'a [u8]> {
    usize::try_from(t.offset)
        .ok()
        .zip(usize::try_from(t.stored).ok())
        .and_then(|(at, len)| blob.get(at..at.checked_add(len)?))
}

/// [`stored_bytes`], or the error that names the table.
fn stored<'a>(blob: &'a [u8], t: &TableData) -> Result<&'a [u8], TableUpdateError> {
    stored_bytes(blob, t).ok_or_else(|| TableUpdateError::Outside { map: t.map.clone() })
}

/// The live word's map, mapped.
fn map_live_word(live_word: BorrowedFd<'_>) -> Result<MapMemory, TableUpdateError> {
    MapMemory::map(live_word, 4).map_err(map_error(LIVE_MAP, "map"))
}

/// The half the programs walk now: the live word's low bit.
fn live_half(live: &MapMemory) -> u32 {
    live.load_u32(0) & 1
}

/// The map pinned as `dir/map_<name>`.
fn open_pinned(dir: &std::path::Path, name: &str) -> Result<aya::maps::MapData, TableUpdateError> {
    aya::maps::MapData::from_pin(dir.join(format!("map_{name}"))).map_err(|e| {
        TableUpdateError::Map {
            map: name.to_string(),
            what: "open the pinned map",
            source: io::Error::other(e),
        }
    })
}

/// Decodes `t`'s stored bytes into half `half` of the map's value area (values
/// `round_up(value_size, 8)` bytes apart) and zeroes the rest of that half, through
/// windows of the map ([`Windows`]: a table is never mapped whole).
fn write_half(
    mem: &mut Windows<'_>,
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
    let decode = || TableUpdateError::Decode {
        map: t.map.clone(),
        len: t.len,
    };
    let mut to = 0usize;
    for run in word_runs(encoded) {
        let run = run.ok_or_else(decode)?;
        if to + run.len() > len {
            return Err(decode());
        }
        match run {
            WordRun::Fill { words, value } => mem.fill(at + to, words, value),
            WordRun::Copy(bytes) => mem.write(at + to, bytes),
        }
        .map_err(map_error(&t.map, "write"))?;
        to += run.len();
    }
    if to != len {
        return Err(decode());
    }
    mem.zero(at + len, cap - len)
        .map_err(map_error(&t.map, "write"))
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
    let mut mem = Windows::new(fd, 2 * stride);
    // Each half decoded on its own: a copy of half 0 would need it mapped whole.
    write_half(&mut mem, t, encoded, 0)?;
    write_half(&mut mem, t, encoded, 1)
}

/// New tables written into the halves no packet reads, not yet live: what
/// [`switch_to`] makes live.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    /// The half packets walk (the live word's), and the half written.
    from: u32,
    to: u32,
    bytes: u64,
    started: Instant,
}

/// Writes every table of the new object (`tables`, their bytes in `blob`) into the
/// half of its live map that no packet reads. Nothing a packet can read changes:
/// a kill or an error here leaves the live half as it was, and the next update
/// writes the unread half whole again.
pub fn write_unread_half<'f>(
    tables: &[TableData],
    blob: &[u8],
    live_word: BorrowedFd<'f>,
    open: &dyn Fn(&str) -> Option<BorrowedFd<'f>>,
) -> Result<Written, TableUpdateError> {
    let started = Instant::now();
    let from = live_half(&map_live_word(live_word)?);
    let to = 1 - from;
    let mut bytes = 0u64;
    for t in tables {
        let fd = open(&t.map).ok_or_else(|| TableUpdateError::Map {
            map: t.map.clone(),
            what: "open",
            source: io::Error::from(io::ErrorKind::NotFound),
        })?;
        let stride = (t.value_size as usize).next_multiple_of(8);
        // Windows of the written half only (the other one is not mapped at all).
        let mut mem = Windows::from(fd, 2 * stride, to as usize * stride);
        write_half(&mut mem, t, stored(blob, t)?, to as usize)?;
        bytes += t.len;
    }
    Ok(Written {
        from,
        to,
        bytes,
        started,
    })
}

/// Switches the live word to the half `written` filled, in one aligned 32-bit store
/// after every table byte (release order) — if the word still names the half the
/// tables were written beside (nothing else writes it under the install lock; a
/// word that moved would make the written half the live one).
pub fn switch_to(
    live_word: BorrowedFd<'_>,
    written: Written,
) -> Result<Switched, TableUpdateError> {
    let mut live = map_live_word(live_word)?;
    if live_half(&live) != written.from {
        return Err(TableUpdateError::Moved);
    }
    live.store_u32(0, written.to);
    Ok(Switched {
        from: written.from,
        to: written.to,
        bytes: written.bytes,
        took: written.started.elapsed(),
    })
}

/// [`write_unread_half`], then [`switch_to`] it.
pub fn switch_tables<'f>(
    tables: &[TableData],
    blob: &[u8],
    live_word: BorrowedFd<'f>,
    open: &dyn Fn(&str) -> Option<BorrowedFd<'f>>,
) -> Result<Switched, TableUpdateError> {
    let written = write_unread_half(tables, blob, live_word, open)?;
    switch_to(live_word, written)
}

/// The half every program of a pinned generation (maps pinned as `dir/map_<name>`)
/// walks now: what a journal records before a switch, so recovery can tell whether
/// the switch (its last step) happened.
pub fn live_half_pinned(dir: &std::path::Path) -> Result<u32, TableUpdateError> {
    use std::os::fd::AsFd;
    Ok(live_half(&map_live_word(
        open_pinned(dir, LIVE_MAP)?.fd().as_fd(),
    )?))
}

/// Zeroes counter slots of a per-CPU `counters` map, every CPU's count
/// ([`crate::counter_map`]: one write per element they are in): new rules' slots here,
/// every rule's for `stats --reset`.
pub(crate) fn zero_slots(counters: BorrowedFd<'_>, slots: &[u32]) -> io::Result<()> {
    if slots.is_empty() {
        return Ok(());
    }
    crate::counter_map::Counters::of(counters)?.zero(slots)
}

/// [`zero_slots`] for the slots new rules take over.
fn zero_counters(counters: BorrowedFd<'_>, slots: &[u32]) -> Result<(), TableUpdateError> {
    zero_slots(counters, slots).map_err(|source| TableUpdateError::Map {
        map: COUNTERS_MAP.into(),
        what: "zero new rules' counters",
        source,
    })
}

/// The new tables of a pinned generation (its maps pinned as `dir/map_<name>`)
/// written into the halves no packet reads ([`write_pinned`]), and the maps their
/// switch writes: [`Unswitched::switch`] makes them live.
pub struct Unswitched {
    live: aya::maps::MapData,
    counters: aya::maps::MapData,
    written: Written,
}

/// Writes `new`'s tables into the halves of a pinned generation's table maps that no
/// packet reads. What a packet reads and what the committed generation owns (its
/// counters) are untouched until [`Unswitched::switch`]: this may run before the
/// journal names the update (`install::update::in_place`).
pub fn write_pinned(
    dir: &std::path::Path,
    new: &sockc_compiler::Compiled,
) -> Result<Unswitched, TableUpdateError> {
    use std::{collections::HashMap, os::fd::AsFd};
    let open = |name: &str| open_pinned(dir, name);
    let counters = open(COUNTERS_MAP)?;
    let live = open(LIVE_MAP)?;
    let maps: HashMap<&str, aya::maps::MapData> = new
        .metadata
        .tables
        .iter()
        .map(|t| Ok((t.map.as_str(), open(&t.map)?)))
        .collect::<Result<_, TableUpdateError>>()?;
    let written = write_unread_half(
        &new.metadata.tables,
        &new.tables,
        live.fd().as_fd(),
        &|name| maps.get(name).map(|m| m.fd().as_fd()),
    )?;
    Ok(Unswitched {
        live,
        counters,
        written,
    })
}

impl Unswitched {
    /// Switches every classifier to the written halves, then zeroes the counter slots
    /// `fresh` (new rules). Not before: a new rule may take the slot of a rule the
    /// installed tables still decide, which counts into it until the switch (and on,
    /// if the switch fails). A kill between the switch and the zeroing leaves the new
    /// rule with the old one's count (recovery rolls forward without zeroing: by then
    /// the slot has the new rule's packets too).
    pub fn switch(self, fresh: &[u32]) -> Result<Switched, TableUpdateError> {
        use std::os::fd::AsFd;
        let switched = switch_to(self.live.fd().as_fd(), self.written)?;
        zero_counters(self.counters.fd().as_fd(), fresh)?;
        Ok(switched)
    }
}

/// The maps of an object by name: what [`switch_loaded`] needs of a loaded object
/// (`LoadedObject` implements it; this module sits beside the loader, which fills the
/// tables through it, and does not name it).
pub trait ObjectMaps {
    /// The descriptor of the object's map `name`.
    fn map_fd(&self, name: &str) -> Option<BorrowedFd<'_>>;
}

/// The same on a loaded (not installed) object: what `sockc bench` and the tests
/// time and check.
pub fn switch_loaded(
    obj: &impl ObjectMaps,
    new: &sockc_compiler::Compiled,
    fresh: &[u32],
) -> Result<Switched, TableUpdateError> {
    let missing = |map: &str| TableUpdateError::Map {
        map: map.to_string(),
        what: "find in the loaded object",
        source: io::Error::from(io::ErrorKind::NotFound),
    };
    let counters = obj
        .map_fd(COUNTERS_MAP)
        .ok_or_else(|| missing(COUNTERS_MAP))?;
    let live = obj.map_fd(LIVE_MAP).ok_or_else(|| missing(LIVE_MAP))?;
    let switched = switch_tables(&new.metadata.tables, &new.tables, live, &|name| {
        obj.map_fd(name)
    })?;
    zero_counters(counters, fresh)?;
    Ok(switched)
}
