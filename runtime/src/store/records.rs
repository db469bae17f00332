//! The install's records read and written: the manifest (what is committed), the
//! journal (what is in flight) and the socket registry, as JSON in pinned records
//! ([`pinned_record`](super::pinned_record)), their bulk (set entries, rule text,
//! rules) in records of its own named by digest ([`bulk`](super::bulk)).
//!
//! Invariants: a record is replaced by one `rename`, so a reader sees the old or the
//! new one; a manifest or journal of a format past this sockc's is refused by its
//! format, before it is parsed as this sockc's (its parts might be missing, and be
//! committed so); a manifest keeps the shape an older sockc needs to refuse it by
//! its format rather than fail on a missing field.

use std::{path::Path, sync::Arc};

use serde::{Deserialize, Serialize};

use super::{
    bulk::{self, BulkRefs, Known},
    error::StoreError,
    journal::Journal,
    manifest::{
        Manifest, BULK_FORMAT, MANIFEST_FORMAT, PROGRAMS_BULK_FORMAT, PROGRAM_RECORDS_FORMAT,
    },
    memo,
    pinned_record::{parse_record, read_record, write_record},
    set_delta::SET_DELTA_FORMAT,
    Store,
};

impl Store {
    /// The committed manifest, its bulk read back; remembered for this command's later
    /// reads, and a copy of it returned.
    pub fn manifest(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        let path = self.dir(name).join("manifest");
        if let Some(r) = self.manifest_memo.get(&path) {
            return self.with_text(name, r).map(Some);
        }
        let before = memo::RecordMemo::<Remembered>::id(&path);
        let Some(r) = self.read_manifest(name, &path, true)? else {
            return Ok(None);
        };
        self.manifest_memo.put(&path, before, r.clone());
        Ok(Some(r.manifest))
    }

    /// `f` of the committed manifest ([`Store::manifest`]), lent from what this
    /// command remembers of it (read and remembered first if need be), not copied.
    pub fn with_manifest<R>(
        &self,
        name: &str,
        f: impl FnOnce(&Manifest) -> R,
    ) -> Result<Option<R>, StoreError> {
        self.lend_manifest(name, true, f)
    }

    /// [`Store::with_manifest`] for a reader of everything but the recorded rule text
    /// (`source_text` may be `None` in what `f` is lent): that record, megabytes with
    /// many rules, is read only when a reader asks for it ([`Store::manifest`],
    /// [`Store::take_manifest`] read it then).
    pub fn with_manifest_but_text<R>(
        &self,
        name: &str,
        f: impl FnOnce(&Manifest) -> R,
    ) -> Result<Option<R>, StoreError> {
        self.lend_manifest(name, false, f)
    }

    /// `f` of the remembered manifest, read (with its rule text when `text`) and
    /// remembered first if need be; with `text`, a remembered one without it gets it.
    fn lend_manifest<R>(
        &self,
        name: &str,
        text: bool,
        f: impl FnOnce(&Manifest) -> R,
    ) -> Result<Option<R>, StoreError> {
        let path = self.dir(name).join("manifest");
        let mut f = Some(f);
        let mut lend = |r: &Remembered| (f.take().expect("called once"))(&r.manifest);
        let complete = |r: &Remembered| !text || r.unread_text.is_none();
        if let Some(Some(r)) = self
            .manifest_memo
            .with(&path, |r| complete(r).then(|| lend(r)))
        {
            return Ok(Some(r));
        }
        let before = memo::RecordMemo::<Remembered>::id(&path);
        let r = match self.manifest_memo.take(&path) {
            Some(r) => Remembered::complete(self.with_text(name, r)?),
            None => match self.read_manifest(name, &path, text)? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let out = lend(&r);
        self.manifest_memo.put(&path, before, r);
        Ok(Some(out))
    }

    /// The committed manifest ([`Store::manifest`]) for a reader that keeps it: moved
    /// out of what this command remembers (a later read reads the pin again), or read
    /// and not remembered. A copy of 100,000 rules is what reading them costs.
    pub fn take_manifest(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        match self.take_manifest_but_text(name)? {
            Some(r) => self.with_text(name, r).map(Some),
            None => Ok(None),
        }
    }

    /// [`Store::take_manifest`] without reading the recorded rule text if it is not read
    /// yet: the manifest, and the digest of the rule text's record when its
    /// `source_text` was left `None` for that reason ([`Store::with_text`] reads it).
    pub fn take_manifest_but_text(&self, name: &str) -> Result<Option<Remembered>, StoreError> {
        let path = self.dir(name).join("manifest");
        match self.manifest_memo.take(&path) {
            Some(r) => Ok(Some(r)),
            None => self.read_manifest(name, &path, false),
        }
    }

    /// `r`'s manifest with its rule text, read from its record if it was left unread.
    pub fn with_text(&self, name: &str, r: Remembered) -> Result<Manifest, StoreError> {
        let Remembered {
            mut manifest,
            unread_text,
        } = r;
        if let Some(digest) = unread_text {
            let dir = self.dir(name);
            let at = super::pinned_record::open_dir(&dir)?;
            manifest.source_text = Some(Arc::new(bulk::get_text(&dir, &at, &digest)?));
        }
        Ok(manifest)
    }

    /// The manifest pinned at `path` and its bulk (the rule text only when `text`),
    /// parsed.
    /// Its bulk references are remembered beside it ([`Store::remember_refs`]), for
    /// this command's later collections of bulk records, which read them only.
    fn read_manifest(
        &self,
        name: &str,
        path: &Path,
        text: bool,
    ) -> Result<Option<Remembered>, StoreError> {
        let before = memo::RecordMemo::<BulkRefs>::id(path);
        let Some((r, refs)) = read_manifest_in(&self.dir(name), path, text)? else {
            return Ok(None);
        };
        self.remember_refs(path, before, refs);
        Ok(Some(r))
    }

    /// Whether install `name` has a manifest (a committed generation), without reading
    /// it: what [`Store::manifest`] finds something at.
    pub fn has_manifest(&self, name: &str) -> bool {
        self.dir(name).join("manifest").exists()
    }

    /// The manifest without its bulk (map contents and rule text empty): what taking
    /// an install off needs, readable when a bulk record is damaged.
    pub fn manifest_without_bulk(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        let path = self.dir(name).join("manifest");
        let Some(bytes) = read_record(&path, "manifest")? else {
            return Ok(None);
        };
        parse_manifest(&bytes, &path).map(Some)
    }

    /// Replaces the manifest in one `rename`.
    pub fn write_manifest(&self, m: &mut Manifest) -> Result<(), StoreError> {
        self.write_manifest_recorded(m, None)
    }

    /// [`Store::write_manifest`], naming the bulk records `recorded` (what
    /// [`Store::write_journal`] returned for a journal whose target is `m`) instead of
    /// serializing and hashing `m`'s bulk again. `m`'s programs are lent to the store
    /// while it writes (from format 6 they are a bulk record, not part of the JSON).
    pub fn write_manifest_recorded<'k>(
        &self,
        m: &mut Manifest,
        recorded: impl Into<Known<'k>>,
    ) -> Result<(), StoreError> {
        let dir = self.ensure_install_dir(&m.name)?;
        let (json, refs) = if m.format < BULK_FORMAT {
            // Kept in the format it has (an install an older sockc made, updated
            // without a new generation): its bulk stays inline, where that sockc reads it
            // (and the references read back from it are none).
            (inline_json(m), BulkRefs::default())
        } else {
            let refs = put_bulk(&dir, m, recorded.into(), bulk::Json::Buffered)?;
            (with_programs_lent(m, |m| manifest_json(m, &refs)), refs)
        };
        write_record(&dir, "manifest", &json)?;
        self.remember_refs(&dir.join("manifest"), None, refs);
        Ok(())
    }

    /// Keeps `m`, the manifest just written, for this command's later reads
    /// ([`Store::manifest`]) while its pin is the one written: moved in, as a copy of
    /// 100,000 rules would cost what reading them back does.
    pub fn remember_manifest(&self, m: Manifest) {
        let path = self.dir(&m.name).join("manifest");
        self.manifest_memo.put(&path, None, Remembered::complete(m));
    }

    /// Remembers `refs` as the bulk references of the manifest pinned at `path` now
    /// (`before`: the pin's identity taken before its bytes were read, `None` after a
    /// write), for [`Store::manifest_refs`].
    pub(super) fn remember_refs(&self, path: &Path, before: Option<memo::PinId>, refs: BulkRefs) {
        self.manifest_refs.put(path, before, refs);
    }

    /// The bulk references of install `name`'s manifest, what the bulk collection
    /// keeps: those remembered of its last read or write while its pin is still that
    /// one (one `statx`), else read from the pin (without its bulk); `None` when there
    /// is no manifest.
    pub(super) fn manifest_refs(&self, name: &str) -> Result<Option<BulkRefs>, StoreError> {
        let path = self.dir(name).join("manifest");
        if let Some(refs) = self.manifest_refs.get(&path) {
            return Ok(Some(refs));
        }
        let Some(bytes) = read_record(&path, "manifest")? else {
            return Ok(None);
        };
        Ok(Some(
            parse_record::<bulk::WithBulk>(&bytes, "manifest", &path)?.bulk,
        ))
    }

    /// Writes the bulk records of `m` (those its format has) and returns their
    /// references, for a journal or manifest of `m` to name
    /// ([`Store::write_journal`]'s `recorded`); `source_digest` is the SHA-256 (hex)
    /// of `m`'s rule text when the caller hashed it already ([`Known::SourceDigest`]).
    /// Written while the verifier runs: the programs' JSON is streamed, never held
    /// whole.
    pub fn write_bulk(
        &self,
        m: &Manifest,
        source_digest: Option<&str>,
    ) -> Result<BulkRefs, StoreError> {
        let known = source_digest.map_or(Known::Nothing, Known::SourceDigest);
        put_bulk(
            &self.ensure_install_dir(&m.name)?,
            m,
            known,
            bulk::Json::Streamed,
        )
    }

    pub fn journal(&self, name: &str) -> Result<Option<Journal>, StoreError> {
        let path = self.dir(name).join("journal");
        let Some(bytes) = read_record(&path, "journal")? else {
            return Ok(None);
        };
        // Its format first: a newer sockc's target may parse as this one's with parts
        // missing (its rules kept where this sockc does not look), and be committed so.
        let found = journal_target_format(&bytes, &path)?;
        if found > MANIFEST_FORMAT {
            return Err(StoreError::JournalFormat { path, found });
        }
        let mut j: Journal = parse_record(&bytes, "journal", &path)?;
        if let Some(target) = j.op.target_mut() {
            fill_bulk(&self.dir(name), &bytes, &path, target, true)?;
        }
        Ok(Some(j))
    }

    /// The journal without its target's bulk (map contents, rule text and, from format
    /// 6, the rules empty): what undoing or giving up the work in flight needs,
    /// readable when a bulk record its target names is damaged.
    pub fn journal_without_bulk(&self, name: &str) -> Result<Option<Journal>, StoreError> {
        let path = self.dir(name).join("journal");
        let Some(bytes) = read_record(&path, "journal")? else {
            return Ok(None);
        };
        parse_record(&bytes, "journal", &path).map(Some)
    }

    /// The references to the bulk records the committed manifest names (none when
    /// there is no manifest): what a set update writes its records against
    /// ([`Known::InPlace`]). Read from the pin, not from what this command remembers.
    pub fn committed_bulk_refs(&self, name: &str) -> Result<BulkRefs, StoreError> {
        let path = self.dir(name).join("manifest");
        match read_record(&path, "manifest")? {
            Some(bytes) => Ok(parse_record::<bulk::WithBulk>(&bytes, "manifest", &path)?.bulk),
            None => Ok(BulkRefs::default()),
        }
    }

    /// Records `j` as the install's work in flight, in one `rename`. Returns the
    /// references to the bulk records of its target, which a later journal or the
    /// manifest committing that same target can name as they are (`recorded`,
    /// [`Store::write_manifest_recorded`]). The target's programs are lent to the store
    /// while it writes.
    pub fn write_journal<'k>(
        &self,
        name: &str,
        j: &mut Journal,
        recorded: impl Into<Known<'k>>,
    ) -> Result<BulkRefs, StoreError> {
        let dir = self.ensure_install_dir(name)?;
        let refs = match j.op.target() {
            Some(t) => put_bulk(&dir, t, recorded.into(), bulk::Json::Buffered)?,
            None => bulk::BulkRefs::default(),
        };
        if let Some(t) = j.op.target_mut().filter(|_| !refs.set_deltas.is_empty()) {
            // A sockc that does not read set deltas refuses the target by its format.
            t.format = t.format.max(SET_DELTA_FORMAT);
        }
        let lent = j.op.target_mut().and_then(lend_programs);
        let json = stored_json(j, &refs);
        if let (Some(t), Some(programs)) = (j.op.target_mut(), lent) {
            t.snapshot.programs = programs;
        }
        write_record(&dir, "journal", &json)?;
        Ok(refs)
    }

    /// The install's socket registry (who registered which socket; `install::slot_registry`),
    /// empty when there is none.
    pub fn registry<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, StoreError> {
        let path = self.dir(name).join("registry");
        let Some(bytes) = read_record(&path, "registry")? else {
            return Ok(T::default());
        };
        serde_json::from_slice(&bytes).map_err(|source| StoreError::RecordJson {
            what: "registry",
            path,
            source,
        })
    }

    /// Replaces the socket registry in one `rename`.
    pub fn write_registry<T: Serialize>(&self, name: &str, r: &T) -> Result<(), StoreError> {
        let dir = self.ensure_install_dir(name)?;
        let json = serde_json::to_vec(r).expect("registry serializes");
        write_record(&dir, "registry", &json)
    }
}

/// The manifest pinned at `path` in the install directory `dir` and its bulk (the
/// rule text only when `text`), parsed.
pub(super) fn read_manifest_in(
    dir: &Path,
    path: &Path,
    text: bool,
) -> Result<Option<(Remembered, BulkRefs)>, StoreError> {
    let Some(bytes) = read_record(path, "manifest")? else {
        return Ok(None);
    };
    let mut manifest = parse_manifest(&bytes, path)?;
    let (unread_text, refs) = fill_bulk(dir, &bytes, path, &mut manifest, text)?;
    let r = Remembered {
        manifest,
        unread_text,
    };
    Ok(Some((r, refs)))
}

/// Puts the bulk the record `bytes` names ([`bulk`]) into `m`: its map contents,
/// programs and rule text. A record of a format before bulk records holds them
/// itself. Without `text`, the rule text's record is not read: its digest is returned
/// (`None` when it was read, or there is none). Then the references themselves.
fn fill_bulk(
    dir: &Path,
    bytes: &[u8],
    path: &Path,
    m: &mut Manifest,
    text: bool,
) -> Result<(Option<String>, BulkRefs), StoreError> {
    let refs = parse_record::<bulk::WithBulk>(bytes, "bulk references of", path)?.bulk;
    if refs == bulk::BulkRefs::default() {
        return Ok((None, refs));
    }
    let bulk = bulk::get(dir, &refs, text)?;
    m.snapshot.map_contents = bulk.contents;
    m.source_text = bulk.source.map(Arc::new);
    if let Some(programs) = bulk.programs {
        m.snapshot.programs = programs;
    }
    Ok((refs.source_text.clone().filter(|_| !text), refs))
}

/// A manifest as read or remembered: whole, or with its rule text's record left
/// unread for a reader that does not need it (`unread_text`: that record's digest,
/// and the manifest's `source_text` `None`). Only [`Store::with_text`] makes it whole;
/// a manifest without its text is never written back as it is (it would record none).
#[derive(Clone, Debug)]
pub struct Remembered {
    pub manifest: Manifest,
    pub unread_text: Option<String>,
}

impl Remembered {
    fn complete(manifest: Manifest) -> Remembered {
        Remembered {
            manifest,
            unread_text: None,
        }
    }
}

/// A manifest's JSON as the store writes it ([`stored_json`]), with an empty
/// `map_contents` list in its snapshot: a sockc of formats 1 to 3 needs that field to
/// parse the manifest at all, and then refuses it for its format (by name: "format 4,
/// this sockc reads 1 to 3") instead of failing on a missing field. Never in a
/// journal: an older sockc does not check a journal's format, and would act on it.
fn manifest_json(m: &Manifest, refs: &bulk::BulkRefs) -> Vec<u8> {
    let json = stored_json(m, refs);
    // The first `"snapshot":{` is the manifest's own field: inside a string a quote
    // is escaped (`\"`), and no field serialized before the snapshot has one of that
    // name. Spliced into the bytes rather than through a `serde_json::Value`, which
    // would copy every rule and instruction of a large snapshot twice more.
    const KEY: &[u8] = b"\"snapshot\":{";
    let Some(at) = json.windows(KEY.len()).position(|w| w == KEY) else {
        return json;
    };
    let at = at + KEY.len();
    let mut out = Vec::with_capacity(json.len() + 20);
    out.extend_from_slice(&json[..at]);
    out.extend_from_slice(b"\"map_contents\":[]");
    if json[at] != b'}' {
        out.push(b',');
    }
    out.extend_from_slice(&json[at..]);
    out
}

/// Writes the bulk records of `m` (of a format that has them) into `dir`, or takes the
/// references `known` has ([`Known`]); `json` says how the programs' record is made
/// when it is written.
fn put_bulk(
    dir: &Path,
    m: &Manifest,
    known: Known<'_>,
    json: bulk::Json,
) -> Result<BulkRefs, StoreError> {
    let programs = match m.format {
        f if f >= PROGRAM_RECORDS_FORMAT => {
            let prepared = match known {
                Known::InPlace(_, _, prepared) => prepared,
                _ => None,
            };
            bulk::Programs::Each(&m.snapshot.programs, prepared)
        }
        f if f >= PROGRAMS_BULK_FORMAT => bulk::Programs::OneJson(&m.snapshot.programs),
        _ => bulk::Programs::Inline,
    };
    let put = |digest, against| {
        let source = (m.source_text.as_deref().map(String::as_str), digest);
        let contents = (&m.snapshot.map_contents[..], against);
        bulk::put(dir, contents, source, programs, json)
    };
    match known {
        Known::Written(refs) => {
            // Deltas are written against a committed record, which is not the same
            // after the commit: only whole records are checked again.
            debug_assert!(
                !refs.set_deltas.is_empty() || Some(refs) == put(None, None).ok().as_ref(),
                "the records are this manifest's"
            );
            Ok(refs.clone())
        }
        Known::SourceDigest(d) => put(Some(d), None),
        Known::InPlace(d, against, _) => put(d, Some(&against)),
        Known::Nothing => put(None, None),
    }
}

/// Takes `m`'s programs out when its format keeps them in a bulk record (their JSON
/// is not repeated in the manifest's or journal's own); `None`, leaving them in
/// place, otherwise.
fn lend_programs(m: &mut Manifest) -> Option<Vec<crate::plan::ProgramSnapshot>> {
    (m.format >= PROGRAMS_BULK_FORMAT).then(|| std::mem::take(&mut m.snapshot.programs))
}

/// `f` of `m` with its programs lent out ([`lend_programs`]), then given back.
fn with_programs_lent<R>(m: &mut Manifest, f: impl FnOnce(&Manifest) -> R) -> R {
    let lent = lend_programs(m);
    let out = f(m);
    if let Some(programs) = lent {
        m.snapshot.programs = programs;
    }
    out
}

/// A record's JSON as the store writes it: `record`'s own fields and the references
/// to its bulk ([`bulk::Stored`]).
fn stored_json<T: Serialize>(record: &T, refs: &bulk::BulkRefs) -> Vec<u8> {
    serde_json::to_vec(&bulk::Stored { record, bulk: refs }).expect("records serialize")
}

/// A manifest of a format before bulk records, as those formats write it: the map
/// contents in its snapshot and the rule text beside them.
fn inline_json(m: &Manifest) -> Vec<u8> {
    let mut v = serde_json::to_value(m).expect("manifests serialize");
    v["snapshot"]["map_contents"] =
        serde_json::to_value(&m.snapshot.map_contents).expect("map contents serialize");
    if let Some(text) = &m.source_text {
        v["source_text"] = text.as_str().into();
    }
    serde_json::to_vec(&v).expect("manifests serialize")
}

/// A manifest's JSON, its format checked first: one a newer sockc wrote may not fit
/// [`Manifest`] at all, and is reported as a format this sockc does not read rather
/// than as a JSON error.
fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest, StoreError> {
    #[derive(Deserialize)]
    struct FormatOnly {
        #[serde(default)]
        format: u32,
    }
    let found = parse_record::<FormatOnly>(bytes, "manifest", path)?.format;
    if found == 0 || found > MANIFEST_FORMAT {
        return Err(StoreError::ManifestFormat {
            path: path.to_path_buf(),
            found,
        });
    }
    parse_record(bytes, "manifest", path)
}

/// The format of the manifest a journal's operation commits (0 for a flush).
fn journal_target_format(bytes: &[u8], path: &Path) -> Result<u32, StoreError> {
    #[derive(Deserialize)]
    struct OpOnly {
        op: serde_json::Value,
    }
    let op = parse_record::<OpOnly>(bytes, "journal", path)?.op;
    let format = op
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v.get("target")?.get("format")?.as_u64());
    Ok(format.map_or(0, |f| u32::try_from(f).unwrap_or(u32::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{read_ahead::tests::manifest, DEFAULT_LOCK_TIMEOUT};

    /// The bulk references of a manifest pinned whole, written past the store (as
    /// another command writes it: what this command remembers is not told).
    fn pin_manifest_with(store: &Store, m: &Manifest, refs: &BulkRefs) {
        let dir = store.dir(&m.name);
        write_record(&dir, "manifest", &manifest_json(m, refs)).unwrap();
    }

    /// The references the bulk collection keeps of a manifest are its pin's: those
    /// remembered of this command's write or read while the pin is that one, and read
    /// again once another pin has replaced it.
    #[test]
    fn remembered_bulk_references_are_the_pins_while_it_is_the_same() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        let bpffs = Path::new("/sys/fs/bpf");
        let name = format!("refs-test-{}", std::process::id());
        let store = Store::open(bpffs, DEFAULT_LOCK_TIMEOUT).unwrap();
        let mut m = manifest(&name, 1, "xdp on lo { drop }");
        store.write_manifest(&mut m).unwrap();
        let reads = || crate::store::pinned_record::tests::READS.with(|n| n.get());
        let before = reads();
        let written = store.manifest_refs(&name).unwrap().expect("a manifest");
        assert!(written.source_text.is_some(), "{written:?}");
        assert_eq!(reads(), before, "remembered of the write, not read back");

        // Replaced past this store: what it remembered is another pin's.
        let other = BulkRefs {
            source_text: Some("00".repeat(32)),
            ..BulkRefs::default()
        };
        pin_manifest_with(&store, &m, &other);
        assert_eq!(store.manifest_refs(&name).unwrap(), Some(other.clone()));

        // Read through the store (taken, as an apply takes it): remembered, and still
        // the pin's after the manifest itself was taken.
        pin_manifest_with(&store, &m, &written);
        let taken = store.take_manifest_but_text(&name).unwrap().expect("read");
        assert_eq!(taken.manifest.generation, 1);
        let before = reads();
        assert_eq!(store.manifest_refs(&name).unwrap(), Some(written));
        assert_eq!(reads(), before, "remembered of the read, not read again");
        pin_manifest_with(&store, &m, &other);
        assert_eq!(store.manifest_refs(&name).unwrap(), Some(other));

        crate::store::pins::remove_tree(&store.dir(&name)).unwrap();
        assert_eq!(store.manifest_refs(&name).unwrap(), None, "removed");
    }
}
