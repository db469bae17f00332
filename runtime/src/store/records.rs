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

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    bulk::{self, BulkRefs},
    error::StoreError,
    journal::Journal,
    manifest::{Manifest, BULK_FORMAT, MANIFEST_FORMAT, PROGRAMS_BULK_FORMAT},
    memo,
    pinned_record::{parse_record, read_record, write_record},
    Store,
};

impl Store {
    /// The committed manifest, its bulk read back; remembered for this command's later
    /// reads, and a copy of it returned.
    pub fn manifest(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        let path = self.dir(name).join("manifest");
        if let Some(m) = self.manifest_memo.get(&path) {
            return Ok(Some(m));
        }
        let before = memo::RecordMemo::<Manifest>::id(&path);
        let Some(m) = self.read_manifest(name, &path)? else {
            return Ok(None);
        };
        self.manifest_memo.put(&path, before, m.clone());
        Ok(Some(m))
    }

    /// `f` of the committed manifest ([`Store::manifest`]), lent from what this
    /// command remembers of it (read and remembered first if need be), not copied.
    pub fn with_manifest<R>(
        &self,
        name: &str,
        f: impl FnOnce(&Manifest) -> R,
    ) -> Result<Option<R>, StoreError> {
        let path = self.dir(name).join("manifest");
        let mut f = Some(f);
        let mut lend = |m: &Manifest| (f.take().expect("called once"))(m);
        if let Some(r) = self.manifest_memo.with(&path, &mut lend) {
            return Ok(Some(r));
        }
        let before = memo::RecordMemo::<Manifest>::id(&path);
        let Some(m) = self.read_manifest(name, &path)? else {
            return Ok(None);
        };
        let r = lend(&m);
        self.manifest_memo.put(&path, before, m);
        Ok(Some(r))
    }

    /// The committed manifest ([`Store::manifest`]) for a reader that keeps it: moved
    /// out of what this command remembers (a later read reads the pin again), or read
    /// and not remembered. A copy of 100,000 rules is what reading them costs.
    pub fn take_manifest(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        let path = self.dir(name).join("manifest");
        match self.manifest_memo.take(&path) {
            Some(m) => Ok(Some(m)),
            None => self.read_manifest(name, &path),
        }
    }

    /// The manifest pinned at `path` and its bulk, parsed.
    fn read_manifest(&self, name: &str, path: &Path) -> Result<Option<Manifest>, StoreError> {
        let Some(bytes) = read_record(path, "manifest")? else {
            return Ok(None);
        };
        let mut m = parse_manifest(&bytes, path)?;
        self.fill_bulk(name, &bytes, path, &mut m)?;
        Ok(Some(m))
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
    pub fn write_manifest_recorded(
        &self,
        m: &mut Manifest,
        recorded: Option<&BulkRefs>,
    ) -> Result<(), StoreError> {
        let dir = self.ensure_install_dir(&m.name)?;
        let json = if m.format < BULK_FORMAT {
            // Kept in the format it has (an install an older sockc made, updated
            // without a new generation): its bulk stays inline, where that sockc reads it.
            inline_json(m)
        } else {
            let refs = put_bulk(&dir, m, recorded)?;
            with_programs_lent(m, |m| manifest_json(m, &refs))
        };
        write_record(&dir, "manifest", &json)?;
        Ok(())
    }

    /// Keeps `m`, the manifest just written, for this command's later reads
    /// ([`Store::manifest`]) while its pin is the one written: moved in, as a copy of
    /// 100,000 rules would cost what reading them back does.
    pub fn remember_manifest(&self, m: Manifest) {
        let path = self.dir(&m.name).join("manifest");
        self.manifest_memo.put(&path, None, m);
    }

    /// Writes the bulk records of `m` (those its format has) and returns their
    /// references, for a journal or manifest of `m` to name
    /// ([`Store::write_journal`]'s `recorded`).
    pub fn write_bulk(&self, m: &Manifest) -> Result<BulkRefs, StoreError> {
        put_bulk(&self.ensure_install_dir(&m.name)?, m, None)
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
            self.fill_bulk(name, &bytes, &path, target)?;
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

    /// Puts the bulk the record `bytes` names ([`bulk`]) into `m`: its map contents
    /// and rule text. A record of a format before bulk records holds them itself.
    fn fill_bulk(
        &self,
        name: &str,
        bytes: &[u8],
        path: &Path,
        m: &mut Manifest,
    ) -> Result<(), StoreError> {
        let refs = parse_record::<bulk::WithBulk>(bytes, "bulk references of", path)?.bulk;
        if refs == bulk::BulkRefs::default() {
            return Ok(());
        }
        let bulk = bulk::get(&self.dir(name), &refs)?;
        m.snapshot.map_contents = bulk.contents;
        m.source_text = bulk.source;
        if let Some(programs) = bulk.programs {
            m.snapshot.programs = programs;
        }
        Ok(())
    }

    /// Records `j` as the install's work in flight, in one `rename`. Returns the
    /// references to the bulk records of its target, which a later journal or the
    /// manifest committing that same target can name as they are (`recorded`,
    /// [`Store::write_manifest_recorded`]). The target's programs are lent to the store
    /// while it writes.
    pub fn write_journal(
        &self,
        name: &str,
        j: &mut Journal,
        recorded: Option<&BulkRefs>,
    ) -> Result<BulkRefs, StoreError> {
        let dir = self.ensure_install_dir(name)?;
        let refs = match j.op.target() {
            Some(t) => put_bulk(&dir, t, recorded)?,
            None => bulk::BulkRefs::default(),
        };
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

/// Writes the bulk records of `m` (of a format that has them) into `dir`, or takes
/// `recorded`, the references a journal of this same target got, as they are.
fn put_bulk(dir: &Path, m: &Manifest, recorded: Option<&BulkRefs>) -> Result<BulkRefs, StoreError> {
    let programs = (m.format >= PROGRAMS_BULK_FORMAT).then_some(&m.snapshot.programs[..]);
    let put = || {
        bulk::put(
            dir,
            &m.snapshot.map_contents,
            m.source_text.as_deref(),
            programs,
        )
    };
    match recorded {
        Some(refs) => {
            debug_assert_eq!(
                Some(refs),
                put().ok().as_ref(),
                "the records are this manifest's"
            );
            Ok(refs.clone())
        }
        None => put(),
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
