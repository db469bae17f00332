//! The bulk of a manifest kept out of its JSON: each map's recorded contents (a set of
//! a million addresses is nine megabytes of keys), the recorded rule text and (from
//! manifest format 6) the programs' rules and disassembly, each in a record of its own
//! (`bulk_<SHA-256 of its bytes>`), which the manifest and the journal name by digest
//! ([`BulkRefs`]). An update then reads the old entries in binary and writes a record
//! only for what changed; nothing is hex-encoded or JSON-escaped; an apply serializes
//! its rules' metadata once, though it writes three journals and a manifest naming it
//! (at 100,000 rules that is megabytes each time). From format 9 each program has a
//! record of its own, in binary (`super::program_record`): a program whose rules and
//! code did not change is found by its record's name and not written again, and a
//! record is read and written as a copy rather than parsed and serialized as JSON.
//!
//! Invariants: a record is named by the digest of its bytes, so it is never rewritten
//! in place: it is pinned under a temporary name relative to the install's directory
//! (opened without following links; a pin fails rather than replace anything) and
//! renamed into place, and
//! the records of the committed and the journaled generation live side by side until
//! neither names them ([`collect`]); a record is used only after its digest is checked
//! again — hashed, or for a record this store sealed (frozen when written, so it
//! cannot have changed since) read from its trailer and compared with its name — so
//! a missing, torn, changed or swapped record (or a symbolic link or anything else in
//! its place) is an error naming it, never contents taken on trust;
//! a record about to be written where something that is not a pin has its name (a
//! directory, a link) replaces it, so no apply commits a name it cannot read back.

use std::{
    collections::HashSet,
    ffi::CString,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::Path,
};

use serde::{Deserialize, Serialize};
use sockc_compiler::bpf::maps::{Entries, MapContents};

use super::set_delta::{self, SetDelta};
use super::{
    error::{io_err, StoreError},
    pinned_record::{
        open_dir, pin_record, read_record_digested, sealable_record, write_record_at,
        write_sealed_with, RecordBytes,
    },
    pins::{remove_tree, unlink, Stuck},
    program_record,
    record_writer::RecordWriter,
    record_writer::{digest_bytes, sha256, Digesting, CHUNK, TRAILER},
};
use crate::plan::ProgramSnapshot;

/// The name every bulk record starts with.
pub const PREFIX: &str = "bulk_";

/// What a manifest keeps of its bulk: the digest of each record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkRefs {
    /// Per map with recorded contents, in the snapshot's order: the map and the
    /// SHA-256 (hex) of its record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map_contents: Vec<(String, String)>,
    /// The SHA-256 of the recorded rule text's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_text: Option<String>,
    /// The SHA-256 of the record of the snapshot's programs (their rules and
    /// disassembly, JSON), in manifest formats 6 to 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programs: Option<String>,
    /// From manifest format 9: per program of the snapshot, in its order, the SHA-256
    /// of its record (binary, `super::program_record`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub program_records: Vec<String>,
    /// The records of `map_contents` that are deltas over another record (from
    /// manifest format 8, `set_delta`): each one's base and run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_deltas: Vec<SetDelta>,
}

/// What the writer of a record (manifest, journal) knows of its bulk already.
#[derive(Clone, Copy, Debug)]
pub enum Known<'a> {
    /// Nothing: each bulk record is hashed, and written when no record has its digest.
    Nothing,
    /// The references a journal of this same target got: its records are written, and
    /// are named as they are.
    Written(&'a BulkRefs),
    /// The SHA-256 (hex) of the rule text the record keeps, which the caller hashed
    /// already: that record is named by it (and written when new) without hashing the
    /// text again; the others as with [`Known::Nothing`].
    SourceDigest(&'a str),
    /// A set update in place ([`Against`]): a large set map's record may be written as
    /// a delta over the committed one's; the rule text as with [`Known::SourceDigest`]
    /// when its digest is given; the programs' records made ahead, when they were
    /// ([`Prepared`]).
    InPlace(Option<&'a str>, Against<'a>, Option<&'a Prepared>),
}

/// What a set update's records are written against: the committed manifest's
/// references, and for each set map the update changes, how many entries its old and
/// new contents share at their head and at their tail (`plan::SetChange::shared`).
#[derive(Clone, Copy, Debug)]
pub struct Against<'a> {
    pub old: &'a BulkRefs,
    pub shared: &'a [(&'a str, (usize, usize))],
}

impl<'a> From<Option<&'a BulkRefs>> for Known<'a> {
    fn from(recorded: Option<&'a BulkRefs>) -> Self {
        recorded.map_or(Known::Nothing, Known::Written)
    }
}

impl BulkRefs {
    fn digests(&self) -> impl Iterator<Item = &str> {
        self.map_contents
            .iter()
            .map(|(_, d)| d.as_str())
            .chain(self.source_text.as_deref())
            .chain(self.programs.as_deref())
            .chain(self.program_records.iter().map(String::as_str))
            .chain(self.set_deltas.iter().map(|d| d.base.as_str()))
    }
}

/// A record's bulk, as read back from the records its [`BulkRefs`] name.
pub(super) struct Bulk {
    pub contents: Vec<MapContents>,
    pub source: Option<String>,
    /// `None` when the record keeps its programs in its own JSON (before format 6).
    pub programs: Option<Vec<ProgramSnapshot>>,
}

/// A record (manifest, journal) as the store reads its bulk references: every other
/// field is skipped.
#[derive(Default, Deserialize)]
pub(super) struct WithBulk {
    #[serde(default)]
    pub bulk: BulkRefs,
}

/// A record as the store writes it: its own fields (whose bulk does not serialize)
/// and the references to its bulk.
#[derive(Serialize)]
pub(super) struct Stored<'a, T> {
    #[serde(flatten)]
    pub record: &'a T,
    #[serde(skip_serializing_if = "is_empty")]
    pub bulk: &'a BulkRefs,
}

fn is_empty(refs: &&BulkRefs) -> bool {
    **refs == BulkRefs::default()
}

/// How the programs' record (JSON) is made: [`Json::Streamed`] serializes it twice and
/// never holds it whole, for the records written while the verifier runs (a first
/// apply's peak); [`Json::Buffered`] serializes and hashes it once, held whole for the
/// moment it is written (a journal or manifest written after the load, or without one:
/// a re-apply in place, where the second pass was a fifth of its journal's cost). A
/// binary program record is never held whole either way ([`put_program`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Json {
    Streamed,
    Buffered,
}

/// How a record keeps its programs, by its manifest's format.
#[derive(Clone, Copy, Debug)]
pub(super) enum Programs<'a> {
    /// In its own JSON (formats before 6): no record.
    Inline,
    /// In one record, JSON (formats 6 to 8).
    OneJson(&'a [ProgramSnapshot]),
    /// In a record per program, binary (from format 9), with those made ahead of the
    /// record naming them ([`Prepared`]), when they were.
    Each(&'a [ProgramSnapshot], Option<&'a Prepared>),
}

/// Program records made ahead of the journal that names them (a re-apply in place
/// makes them beside its plan, where the second core is idle): each program's record
/// ([`program_record`]) encoded into a new map and hashed on the way, as a first
/// install's are ([`sealed_program`]), and sealed with its digest, but not pinned. Pinned by [`put`] when a journal of those very programs
/// names them; dropped unpinned, a map goes with its descriptor, so nothing of an
/// apply that then refuses, changes nothing or loads anew is left on bpffs.
#[derive(Debug)]
pub struct Prepared {
    /// Per program, in the snapshot's order: its record's digest and sealed map.
    records: Vec<(String, OwnedFd)>,
}

impl Prepared {
    /// The records of `programs`, `None` when one cannot be made (the journal then
    /// writes them itself, and says what failed).
    pub fn programs(programs: &[ProgramSnapshot]) -> Option<Prepared> {
        let records = programs
            .iter()
            .map(|p| sealed_program(p).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Prepared { records })
    }

    /// Program `i`'s record, as its digest and a descriptor of its own of the map
    /// (`None` when there is none: then it is written as usual).
    fn record(&self, i: usize) -> Option<(&str, OwnedFd)> {
        let (digest, fd) = self.records.get(i)?;
        Some((digest, fd.try_clone().ok()?))
    }
}

/// Writes the records of `contents`, `source` and `programs` into `dir` (each only if
/// a record by its digest is not there yet) and says how to find them; `source_digest`
/// is the SHA-256 (hex) of `source` when the caller has it already (not checked again
/// but in debug builds: the caller hashed these very bytes). With `against`, a set
/// map's record may be a delta over the committed one's ([`put_delta`]).
pub(super) fn put(
    dir: &Path,
    (contents, against): (&[MapContents], Option<&Against<'_>>),
    (source, source_digest): (Option<&str>, Option<&str>),
    programs: Programs<'_>,
    json: Json,
) -> Result<BulkRefs, StoreError> {
    let at = open_dir(dir)?;
    let mut refs = BulkRefs::default();
    for c in contents {
        let delta = match against {
            Some(a) => put_delta(dir, &at, c, a, &mut refs.set_deltas)?,
            None => None,
        };
        let digest = match delta {
            Some(d) => d,
            None => {
                let (head, keys, values) = c.entries.binary_parts();
                put_one(dir, &at, &[&head, keys, values])?
            }
        };
        refs.map_contents.push((c.map.clone(), digest));
    }
    // A journal or manifest written whole (a re-apply in place: nothing else runs
    // then) writes the rule text's record on another thread while it writes the
    // programs' (the text's 6 MB at 100,000 rules beside the rules' 8 MB); a first
    // apply's records, written beside its loads, and a counted run (`fault`) one
    // after the other.
    let text = || {
        source
            .map(|t| put_text(dir, &at, t, source_digest))
            .transpose()
    };
    let beside = json == Json::Buffered
        && source.is_some_and(|t| t.len() >= HASHED_BESIDE_FROM)
        && !matches!(programs, Programs::Inline)
        && !crate::fault::counting();
    let (text, written) = if beside {
        // On a thread when one starts; else here first, as a counted run does.
        std::thread::scope(|s| {
            let text = sockc_compiler::beside::beside(s, text);
            let written = put_programs(dir, &at, programs, json, &mut refs);
            (text.join(), written)
        })
    } else {
        // One after the other: a text that fails stops here, as before the thread
        // (a counted run's fault points keep their order).
        let text = text()?;
        (Ok(text), put_programs(dir, &at, programs, json, &mut refs))
    };
    refs.source_text = text?;
    written?;
    Ok(refs)
}

/// The record of the rule text `text` ([`put_digested`]), named by `digest` when the
/// caller hashed it already; its digest. A record named by the caller's digest is
/// not sealed: only a digest this module computed from the bytes it writes may be
/// trusted at read-back without hashing, so a caller's wrong digest is refused there
/// (as before records were sealed) rather than taken on trust.
fn put_text(
    dir: &Path,
    at: &OwnedFd,
    text: &str,
    digest: Option<&str>,
) -> Result<String, StoreError> {
    let Some(d) = digest else {
        return put_digested(dir, at, &[text.as_bytes()], sha256(&[text.as_bytes()]));
    };
    if needs_writing(dir, at, d)? {
        write_record_at(dir, at, &format!("{PREFIX}{d}"), &[text.as_bytes()])?;
    }
    Ok(d.to_string())
}

/// The records of `programs` (as their format keeps them), named in `refs`.
fn put_programs(
    dir: &Path,
    at: &OwnedFd,
    programs: Programs<'_>,
    json: Json,
    refs: &mut BulkRefs,
) -> Result<(), StoreError> {
    match programs {
        Programs::Inline => {}
        Programs::OneJson(programs) => {
            refs.programs = Some(match json {
                Json::Streamed => put_json(dir, at, programs)?,
                Json::Buffered => {
                    let mut bytes = Vec::with_capacity(json_room(programs));
                    serde_json::to_writer(&mut bytes, programs).expect("records serialize");
                    put_one(dir, at, &[&bytes])?
                }
            });
        }
        Programs::Each(programs, prepared) => {
            // Records made ahead are used only when made of as many programs.
            let prepared = prepared.filter(|r| r.records.len() == programs.len());
            for (i, p) in programs.iter().enumerate() {
                let digest = match prepared.and_then(|r| r.record(i)) {
                    Some((digest, fd)) => put_prepared(dir, at, p, (digest, fd))?,
                    None => put_program(dir, at, p, json)?,
                };
                refs.program_records.push(digest);
            }
        }
    }
    Ok(())
}

/// Pins the record of program `p` made ahead ([`Prepared`]), sealed with `digest`,
/// unless a record of that digest is there already (then the map is dropped), as
/// [`put_one`] pins the map it fills; its digest.
fn put_prepared(
    dir: &Path,
    at: &OwnedFd,
    p: &ProgramSnapshot,
    (digest, fd): (&str, OwnedFd),
) -> Result<String, StoreError> {
    debug_assert_eq!(
        digest,
        sha256(&[&program_record::to_vec(p)]),
        "a record made ahead is of the program it is named for"
    );
    if needs_writing(dir, at, digest)? {
        pin_record(dir, at, &format!("{PREFIX}{digest}"), fd)?;
    }
    Ok(digest.to_string())
}

/// [`put_one`] of program `p`'s record ([`program_record`]), never held whole: when
/// `json` says [`Json::Buffered`], hashed first and encoded into its map only when no
/// record of that digest is there ([`put_encoded`]); when [`Json::Streamed`], encoded
/// once into a new record map and hashed as it goes ([`sealed_program`]), the map
/// pinned under its digest unless a record of that digest is there already
/// ([`pin_unless_there`]).
fn put_program(
    dir: &Path,
    at: &OwnedFd,
    p: &ProgramSnapshot,
    json: Json,
) -> Result<String, StoreError> {
    match json {
        Json::Buffered => put_encoded(dir, at, p),
        Json::Streamed => {
            let sealed = sealed_program(p).map_err(io_err(&dir.join(format!("{PREFIX}new"))));
            pin_unless_there(dir, at, sealed?)
        }
    }
}

/// Program `p`'s record written when no record of its digest is there: hashed on the
/// way through a small buffer ([`encode_gathered`]), then (when new) encoded again
/// into its map the same way, which takes exactly [`program_record::encoded_len`]
/// bytes ([`RecordWriter::finish`] refuses any other length). Where the record was
/// held whole to be hashed and copied (`program_record::to_vec`: 95 KB, 23 fresh pages
/// of heap at 1,000 rules), it is encoded twice, which copies no more bytes; not
/// hashed twice (a SHA-256 pass costs more than the pages): [`program_record::encode`]
/// is a function of the program it borrows alone, so both passes give the same bytes.
fn put_encoded(dir: &Path, at: &OwnedFd, p: &ProgramSnapshot) -> Result<String, StoreError> {
    // A sink takes every write: what fails is a field over 4 GiB, said as the
    // streamed path says it.
    let mut digesting = Digesting::new(std::io::sink());
    encode_gathered(p, &mut digesting).map_err(io_err(&dir.join(format!("{PREFIX}new"))))?;
    let digest = digesting.hex();
    if needs_writing(dir, at, &digest)? {
        let name = format!("{PREFIX}{digest}");
        let len = program_record::encoded_len(p);
        write_sealed_with(dir, at, (&name, &trailer(&digest)), len, |w| {
            encode_gathered(p, w)
        })?;
    }
    Ok(digest)
}

/// Bytes [`encode_gathered`] gathers before it passes them on: a record's fields of a
/// few bytes each reach the hash or the record map a kilobyte at a time (a call per
/// field cost 400k instructions at 1,000 rules), in a block small enough to sit on a
/// page mimalloc's small sizes already touched (a record element's 16 KiB would be
/// placed on pages of its own).
const GATHER: usize = 1024;

/// Program `p`'s record ([`program_record::encode`]) written to `w` in pieces of up
/// to [`GATHER`] bytes.
fn encode_gathered<W: std::io::Write>(p: &ProgramSnapshot, w: W) -> std::io::Result<()> {
    let mut gathered = std::io::BufWriter::with_capacity(GATHER, w);
    program_record::encode(p, &mut gathered)?;
    std::io::Write::flush(&mut gathered)
}

/// Program `p`'s record ([`program_record`]) in a new record map, encoded into it
/// once and hashed on the way ([`sealed_streamed`]): never held whole.
fn sealed_program(p: &ProgramSnapshot) -> std::io::Result<(String, OwnedFd)> {
    sealed_streamed(program_record::encoded_len(p), |w| {
        let mut buffered = std::io::BufWriter::with_capacity(CHUNK, w);
        program_record::encode(p, &mut buffered)?;
        std::io::Write::flush(&mut buffered)
    })
}

/// A new record map of exactly `len` bytes, which `write` gives, written in one pass
/// and hashed on the way, then sealed with that digest; not pinned: its digest and
/// the map ([`pin_unless_there`] pins it). Where [`put_twice`] writes twice (once to
/// hash, once to fill the map), a program record of 100,000 rules (7.8 MB) is
/// encoded and hashed once, a chunk at a time ([`CHUNK`]), each hashed while it is in
/// the cache: never held whole, where a record encoded whole first was faulted in,
/// copied and read twice. The price, when the record is there already (a program
/// whose rules and code a new generation keeps), is a map filled for nothing, about
/// what a pass of hashing costs.
fn sealed_streamed(
    len: usize,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<(String, OwnedFd)> {
    let mut digesting = Digesting::new(RecordWriter::create_sealable(len)?);
    write(&mut digesting)?;
    let (w, digest) = digesting.into_parts();
    let fd = w.seal(&trailer(&digest))?;
    Ok((digest, fd))
}

/// Pins the sealed record map `fd` of `digest` under its name ([`pin_record`])
/// unless a record of that digest is there already (then the map is dropped); the
/// digest.
fn pin_unless_there(
    dir: &Path,
    at: &OwnedFd,
    (digest, fd): (String, OwnedFd),
) -> Result<String, StoreError> {
    if needs_writing(dir, at, &digest)? {
        pin_record(dir, at, &format!("{PREFIX}{digest}"), fd)?;
    }
    Ok(digest)
}

/// Writes `c`'s record as a delta over the base of the committed record of its map,
/// when `against` says how much of it the update left alike and that is most of a
/// large set ([`set_delta::worth_a_delta`]); the delta's digest, with its entry pushed
/// to `deltas`, or `None` (the whole record is for the caller to write).
fn put_delta(
    dir: &Path,
    at: &OwnedFd,
    c: &MapContents,
    against: &Against<'_>,
    deltas: &mut Vec<SetDelta>,
) -> Result<Option<String>, StoreError> {
    let Some(&(_, shared)) = against.shared.iter().find(|(m, _)| *m == c.map) else {
        return Ok(None);
    };
    let Some((_, old)) = against.old.map_contents.iter().find(|(m, _)| *m == c.map) else {
        return Ok(None);
    };
    let old_delta = against.old.set_deltas.iter().find(|d| d.delta == *old);
    let base = old_delta.map_or(old, |d| &d.base);
    let old_run = old_delta
        .and_then(|d| Some((usize::try_from(d.head).ok()?, usize::try_from(d.tail).ok()?)));
    let (head, tail) = set_delta::run_over_base(old_run, shared);
    let Some(header) = set_delta::header(base, head, tail) else {
        return Ok(None);
    };
    if !set_delta::worth_a_delta(&c.entries, (head, tail)) {
        return Ok(None);
    }
    let middle = c.entries.range(head, c.entries.len() - tail);
    let (h, keys, values) = middle.binary_parts();
    let digest = put_one(dir, at, &[&header, &h, keys, values])?;
    deltas.push(SetDelta {
        delta: digest.clone(),
        base: base.clone(),
        head: head as u64,
        tail: tail as u64,
    });
    Ok(Some(digest))
}

/// Room for the JSON of `programs` held whole, taken once: more than it needs (a rule
/// serializes to its text and about 40 bytes more, escapes aside), as memory never
/// written is never faulted in, where a buffer grown by doubling copied megabytes
/// (about a tenth of a 100k-rule re-apply's journal).
fn json_room(programs: &[ProgramSnapshot]) -> usize {
    let rule = |r: &sockc_compiler::metadata::RuleMeta| 2 * r.text.len() + 128;
    programs
        .iter()
        .map(|p| 2 * p.asm.len() + 256 + p.rules.iter().map(rule).sum::<usize>())
        .sum()
}

fn put_one(dir: &Path, at: &OwnedFd, parts: &[&[u8]]) -> Result<String, StoreError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len < HASHED_BESIDE_FROM {
        return put_digested(dir, at, parts, sha256(parts));
    }
    // A large record (a set's) is hashed on another thread while this one fills its
    // map, which is then pinned only if no record of its digest is there yet.
    let (digest, filled) = hashed_and_filled(parts);
    let name = format!("{PREFIX}{digest}");
    if needs_writing(dir, at, &digest)? {
        let fd = filled
            .and_then(|w| w.seal(&trailer(&digest)))
            .map_err(io_err(&dir.join(format!("{name}_new"))))?;
        pin_record(dir, at, &name, fd)?;
    }
    Ok(digest)
}

/// The SHA-256 (hex) of `parts` and a new record map filled with them, to be sealed
/// with it: hashed on a thread when one starts (else here, before the map is filled)
/// while this one fills the map.
fn hashed_and_filled(parts: &[&[u8]]) -> (String, std::io::Result<RecordWriter>) {
    std::thread::scope(|s| {
        let hasher = sockc_compiler::beside::beside(s, || sha256(parts));
        let filled = sealable_record(parts);
        (hasher.join(), filled)
    })
}

/// [`put_one`] of `parts` whose SHA-256 (hex) is `digest`.
fn put_digested(
    dir: &Path,
    at: &OwnedFd,
    parts: &[&[u8]],
    digest: String,
) -> Result<String, StoreError> {
    if needs_writing(dir, at, &digest)? {
        let name = format!("{PREFIX}{digest}");
        let len = parts.iter().map(|p| p.len()).sum();
        let fill = |w: &mut RecordWriter| {
            parts
                .iter()
                .try_for_each(|p| std::io::Write::write_all(w, p))
        };
        write_sealed_with(dir, at, (&name, &trailer(&digest)), len, fill)?;
    }
    Ok(digest)
}

/// Bytes of a record from which [`put_one`] hashes it on another thread while it
/// fills its map: a megabyte, where a thread's start is a thousandth of the work.
const HASHED_BESIDE_FROM: usize = 1 << 20;

/// [`put_one`] of `value`'s JSON, serialized twice (for its digest and length, then
/// into the record) instead of held whole: the rules' JSON is about 100 bytes a rule,
/// and held whole it added its 10 MB to the peak of a 100k-rule first apply (the
/// records are written while the verifier runs). Each pass goes through a buffer of
/// one record element: the serializer writes a token at a time, and hashing or
/// copying a few bytes per call cost more than the serializing.
fn put_json<T: Serialize + ?Sized>(
    dir: &Path,
    at: &OwnedFd,
    value: &T,
) -> Result<String, StoreError> {
    put_twice(dir, at, |w| json_through_buffer(w, value))
}

/// [`put_one`] of the bytes `write` writes, written twice (for their digest and
/// length, then into the record) instead of held whole; the second time must give
/// the same bytes.
fn put_twice(
    dir: &Path,
    at: &OwnedFd,
    write: impl Fn(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<String, StoreError> {
    let mut sized = Digesting::new(std::io::sink());
    write(&mut sized).expect("records serialize");
    let len = sized.len;
    let digest = sized.hex();
    if needs_writing(dir, at, &digest)? {
        let name = format!("{PREFIX}{digest}");
        write_sealed_with(dir, at, (&name, &trailer(&digest)), len, |w| {
            let mut again = Digesting::new(w);
            write(&mut again)?;
            match again.hex() == digest {
                true => Ok(()),
                false => Err(std::io::Error::other("the record came out different twice")),
            }
        })?;
    }
    Ok(digest)
}

/// `value`'s JSON written to `w` in pieces of up to a record element.
fn json_through_buffer<W: std::io::Write + ?Sized, T: Serialize + ?Sized>(
    w: &mut W,
    value: &T,
) -> std::io::Result<()> {
    let mut buffered = std::io::BufWriter::with_capacity(CHUNK, w);
    serde_json::to_writer(&mut buffered, value)?;
    std::io::Write::flush(&mut buffered)
}

/// The trailer a record named by `digest` (a SHA-256 in hex, as the store names
/// records) is sealed with ([`RecordWriter::seal`]).
fn trailer(digest: &str) -> [u8; TRAILER] {
    digest_bytes(digest).expect("the store names records by a SHA-256 in lowercase hex")
}

/// Whether the record of `digest` must be written: not when a pin of its name is
/// there (checked against its digest when read).
fn needs_writing(dir: &Path, at: &OwnedFd, digest: &str) -> Result<bool, StoreError> {
    let name = format!("{PREFIX}{digest}");
    match kind(at, &name).map_err(io_err(&dir.join(&name)))? {
        Kind::Pin => Ok(false),
        // Never a record (a directory, a link): it goes, and the record takes its
        // place (kept, the manifest would name it and every later read refuse it).
        Kind::Other => remove_tree(&dir.join(&name)).map(|()| true),
        Kind::Absent => Ok(true),
    }
}

/// The map contents, rule text (unless `text` is false: then `source` is `None`) and
/// programs `refs` names, read from `dir` and checked against their digests, the
/// contents in the order the references list them.
pub(super) fn get(dir: &Path, refs: &BulkRefs, text: bool) -> Result<Bulk, StoreError> {
    let at = open_dir(dir)?;
    let mut contents = Vec::with_capacity(refs.map_contents.len());
    for (map, digest) in &refs.map_contents {
        let entries = get_entries(dir, &at, digest)?;
        contents.push(MapContents {
            map: map.clone(),
            entries,
        });
    }
    let source = match &refs.source_text {
        Some(digest) if text => Some(get_text(dir, &at, digest)?),
        _ => None,
    };
    let programs = match &refs.programs {
        _ if !refs.program_records.is_empty() => Some(get_programs(dir, &at, refs)?),
        Some(digest) => {
            let bytes = get_one(dir, &at, digest)?;
            Some(serde_json::from_slice(&bytes).map_err(|e| {
                bad_record(dir, digest, format!("is not a record of programs ({e})"))
            })?)
        }
        None => None,
    };
    Ok(Bulk {
        contents,
        source,
        programs,
    })
}

/// The programs of `refs.program_records`, each read from `dir`, checked against its
/// digest and decoded.
fn get_programs(
    dir: &Path,
    at: &OwnedFd,
    refs: &BulkRefs,
) -> Result<Vec<ProgramSnapshot>, StoreError> {
    let program = |digest: &String| {
        let bytes = get_in_place(dir, at, digest)?;
        program_record::decode(&bytes).map_err(|problem| bad_record(dir, digest, problem))
    };
    refs.program_records.iter().map(program).collect()
}

/// The entries the record `digest` keeps: its own, or for a delta ([`set_delta`]) its
/// base's with its run replaced; each record checked against its digest, and read
/// where it lies (a sealed record's mapped pages), each entry copied once.
fn get_entries(dir: &Path, at: &OwnedFd, digest: &str) -> Result<Entries, StoreError> {
    let bytes = get_in_place(dir, at, digest)?;
    let bad = |problem: &str| bad_record(dir, digest, problem);
    match set_delta::parse(&bytes) {
        None => Entries::from_binary(&bytes).ok_or_else(|| bad("is not a record of map entries")),
        Some(Err(why)) => Err(bad(why)),
        Some(Ok(delta)) => {
            let base = get_in_place(dir, at, &delta.base)?;
            delta
                .entries_over(&base)
                .ok_or_else(|| bad("is a set delta record that does not fit its base"))
        }
    }
}

/// The rule text recorded as `digest`, read from `dir` and checked against it.
pub(super) fn get_text(dir: &Path, at: &OwnedFd, digest: &str) -> Result<String, StoreError> {
    let bytes = get_one(dir, at, digest)?;
    String::from_utf8(bytes).map_err(|_| bad_record(dir, digest, "is not UTF-8 text"))
}

/// The error of the record `digest` in `dir`: what is wrong with it.
fn bad_record(dir: &Path, digest: &str, problem: impl Into<String>) -> StoreError {
    StoreError::Bulk {
        path: dir.join(format!("{PREFIX}{digest}")),
        problem: problem.into(),
    }
}

fn get_one(dir: &Path, at: &OwnedFd, digest: &str) -> Result<Vec<u8>, StoreError> {
    get_in_place(dir, at, digest).map(RecordBytes::into_vec)
}

/// The record `digest` in `dir`, checked against it: its map's own pages when the
/// record is sealed in a mappable map, where [`get_one`] copies them into a vector
/// of their own (a program record of 100,000 rules is eight megabytes, which a
/// re-apply only decodes).
fn get_in_place(dir: &Path, at: &OwnedFd, digest: &str) -> Result<RecordBytes, StoreError> {
    let path = dir.join(format!("{PREFIX}{digest}"));
    let bad = |problem: &str| bad_record(dir, digest, problem);
    match kind(at, &format!("{PREFIX}{digest}")).map_err(io_err(&path))? {
        Kind::Pin => {}
        Kind::Absent => return Err(bad("is missing")),
        Kind::Other => return Err(bad("is not a pinned record (a link or another file)")),
    }
    let (bytes, hex) =
        read_record_digested(&path, "bulk", Some(digest))?.ok_or_else(|| bad("is missing"))?;
    if hex.as_deref() != Some(digest) {
        return Err(bad(
            "does not hold the bytes its name's digest says (torn or changed)",
        ));
    }
    Ok(bytes)
}

/// Removes the bulk records in `dir` that `keep` does not name; returns their names,
/// and those that could not be removed (each tried: one that stays is garbage, which
/// keeps no other from going).
pub(super) fn collect<'a>(
    dir: &Path,
    keep: impl IntoIterator<Item = &'a BulkRefs>,
) -> Result<(Vec<String>, Vec<Stuck>), StoreError> {
    let kept: HashSet<&str> = keep.into_iter().flat_map(BulkRefs::digests).collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let (mut removed, mut stuck) = (Vec::new(), Vec::new());
    for e in entries {
        let e = e.map_err(io_err(dir))?;
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(digest) = file.strip_prefix(PREFIX) else {
            continue;
        };
        // A directory is nothing the store wrote (bpffs has no tree of records), and
        // unlinking it would fail every command that collects: it is stepped around
        // (a record it stands in for is refused by name when read; a flush removes it).
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if !kept.contains(digest) && !digest.ends_with("_new") {
            match unlink(&e.path()) {
                Ok(()) => removed.push(file),
                Err(err) => stuck.push(Stuck::new(file, e.path(), &err)),
            }
        }
    }
    Ok((removed, stuck))
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Absent,
    /// A regular file, which is what a pinned map is on bpffs.
    Pin,
    /// A symbolic link, a directory, a FIFO: never read as a record.
    Other,
}

/// What `name` is in the directory `at` is open on, without following a link.
fn kind(at: &OwnedFd, name: &str) -> std::io::Result<Kind> {
    let c =
        CString::new(name).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a zeroed stat is valid for fstatat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated, `st` lives across the call, `at` is open.
    let rc = unsafe {
        libc::fstatat(
            at.as_fd().as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return match e.kind() {
            std::io::ErrorKind::NotFound => Ok(Kind::Absent),
            _ => Err(e),
        };
    }
    Ok(if st.st_mode & libc::S_IFMT == libc::S_IFREG {
        Kind::Pin
    } else {
        Kind::Other
    })
}

#[cfg(test)]
mod tests;
