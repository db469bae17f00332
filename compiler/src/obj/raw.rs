//! Programs the object carries for the runtime to load itself: those in a section
//! aya-obj 0.3 cannot parse as a program (`netfilter`), written as read-only data so
//! that aya skips the section (and its relocations) instead of refusing the object.
//! [`raw_program`] reads one back: its instructions and its map relocations, which
//! the loader resolves to map descriptors itself.
//!
//! Invariant: the instructions and relocations read back are exactly those
//! [`super::write_object`] wrote for the symbol (same code, same `(instruction
//! index, map name)` pairs), whatever section kind carries them.

use super::ObjError;

/// Sections whose programs the runtime loads with its own `BPF_PROG_LOAD`.
pub const RAW_SECTIONS: &[&str] = &["netfilter"];

/// One program as the object stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawProgram {
    /// The instructions, 8 bytes each, as in the file.
    pub insns: Vec<u8>,
    /// `(instruction index, map name)` of every `ld_imm64` that loads a map.
    pub map_relocs: Vec<(usize, String)>,
}

/// The program whose function symbol is `symbol`, or `None` when there is none.
pub fn raw_program(elf: &[u8], symbol: &str) -> Result<Option<RawProgram>, ObjError> {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _, RelocationTarget};
    let file = object::read::File::parse(elf)?;
    let Some(sym) = file.symbols().find(|s| s.name() == Ok(symbol)) else {
        return Ok(None);
    };
    let Some(index) = sym.section_index() else {
        return Ok(None);
    };
    let section = file.section_by_index(index)?;
    let data = section.data()?;
    let (start, size) = (sym.address(), sym.size());
    let range = usize::try_from(start)
        .ok()
        .zip(usize::try_from(start + size).ok());
    let Some(insns) = range.and_then(|(a, b)| data.get(a..b)) else {
        return Ok(None);
    };
    let mut map_relocs = Vec::new();
    for (offset, rel) in section.relocations() {
        if offset < start || offset >= start + size {
            continue;
        }
        let RelocationTarget::Symbol(target) = rel.target() else {
            continue;
        };
        let name = file.symbol_by_index(target)?.name()?.to_string();
        map_relocs.push((((offset - start) / 8) as usize, name));
    }
    map_relocs.sort();
    Ok(Some(RawProgram {
        insns: insns.to_vec(),
        map_relocs,
    }))
}
