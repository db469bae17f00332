//! The `.sockc` section: what the runtime needs to know about a compiled file that the
//! programs and map definitions do not say — each program's hook and attach point, its
//! rules by counter slot (for `sockc stats` and plans), the entries to insert into
//! maps, and which bytes of `.sockc.tables` fill which map. The driver writes it as
//! JSON; the runtime reads it back with [`read`].
//!
//! Invariant: [`METADATA_FORMAT`] changes whenever a field changes meaning, so a
//! runtime never installs an object whose metadata it would misread.

use serde::{Deserialize, Serialize};

use crate::{
    bpf::maps::{MapContents, TableData},
    hooks::HookKind,
    ir::{self, Program},
    obj::{self, ObjError},
};

/// Version of the `.sockc` metadata format.
pub const METADATA_FORMAT: u32 = 2;

/// Contents of the `.sockc` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: u32,
    pub programs: Vec<ProgramMeta>,
    /// Entries the runtime inserts after creating the maps.
    pub map_contents: Vec<MapContents>,
    /// Slots of the `counters` map.
    pub counters: u32,
    /// Array maps filled from the object's `.sockc.tables` section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableData>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramMeta {
    pub symbol: String,
    /// Serialized as written: `xdp`, `tc ingress`, `tc egress`.
    pub hook: HookKind,
    pub attach_to: String,
    pub rules: Vec<RuleMeta>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMeta {
    pub counter: u32,
    pub line: usize,
    /// The rule as written; `default VERDICT` for the default.
    pub text: String,
}

impl ProgramMeta {
    /// A program's entry: its rules in order, the default last.
    pub fn of(p: &Program) -> ProgramMeta {
        let mut rules: Vec<RuleMeta> = p
            .rules
            .iter()
            .map(|r| RuleMeta {
                counter: r.counter,
                line: r.line,
                text: r.text.clone(),
            })
            .collect();
        rules.push(RuleMeta {
            counter: p.default_counter,
            line: p.default_line,
            text: format!("default {}", ir::verdict_name(p.default)),
        });
        ProgramMeta {
            symbol: p.symbol.clone(),
            hook: p.hook,
            attach_to: p.attach_to.clone(),
            rules,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("not an object sockc can read")]
    Object(#[from] ObjError),
    #[error("no .sockc section")]
    Missing,
    #[error("bad .sockc metadata")]
    Json(#[from] serde_json::Error),
    #[error(".sockc metadata format {found} (this sockc reads {METADATA_FORMAT})")]
    Format { found: u32 },
}

/// Reads the metadata back from an object the driver wrote.
pub fn read(elf: &[u8]) -> Result<Metadata, MetadataError> {
    let bytes = obj::read_metadata(elf)?.ok_or(MetadataError::Missing)?;
    let meta: Metadata = serde_json::from_slice(&bytes)?;
    if meta.format != METADATA_FORMAT {
        return Err(MetadataError::Format { found: meta.format });
    }
    Ok(meta)
}
