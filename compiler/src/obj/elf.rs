//! ELF assembly for a validated [`ObjectImage`]: a little-endian ELF64 relocatable
//! object for `EM_BPF`, built with `object::write::Object`.
//!
//! Invariant: every program is a global `STT_FUNC` symbol whose value/size cover exactly
//! its instructions inside its (possibly shared) `SHF_ALLOC|SHF_EXECINSTR` section;
//! every map reference is one `R_BPF_64_64` relocation at the first slot of an
//! `ld_imm64`, against the global `STT_OBJECT` symbol of that map in `.maps`, whose
//! offset and size equal the map's `VAR` entry in the `.BTF` `DATASEC ".maps"`.
//! Non-loadable data (`.BTF`, `.sockc`) is never `SHF_ALLOC`.

use std::collections::HashMap;

use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};

use super::{MapSlot, ObjError, ObjectImage, LICENSE_SYMBOL, METADATA_SECTION, TABLES_SECTION};

const INSN_SIZE: u64 = 8;

/// A global, default-visibility symbol (clang's binding for programs, maps, `_license`).
fn global_symbol(
    name: &str,
    kind: SymbolKind,
    section: SectionId,
    value: u64,
    size: u64,
) -> Symbol {
    Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size,
        kind,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    }
}

/// Writes the object. `slots[i]` is where `img.maps[i]` lives in `.maps`; `btf` is the
/// encoded `.BTF` section (ignored when there are no maps). Sections come in a fixed
/// order: programs, `license`, `.maps` and `.BTF`, `.sockc`, `.sockc.tables`.
pub(crate) fn write(
    img: &ObjectImage,
    slots: &[MapSlot],
    btf: Vec<u8>,
) -> Result<Vec<u8>, ObjError> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let placed = add_programs(&mut obj, img);
    add_license(&mut obj, img);
    let map_syms = add_maps(&mut obj, img, slots, btf);
    // Map relocations (validated: each index is an ld_imm64 and the map exists).
    for (prog, &(section, offset)) in img.programs.iter().zip(&placed) {
        for (index, map) in &prog.map_relocs {
            let symbol = map_syms[map.as_str()];
            obj.add_relocation(
                section,
                Relocation {
                    offset: offset + *index as u64 * INSN_SIZE,
                    symbol,
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            )?;
        }
    }
    add_sockc_sections(&mut obj, img);
    Ok(obj.write()?)
}

/// Program sections, in order of first use (programs sharing a section name are
/// concatenated in declaration order), and each program's symbol; returns where each
/// program went (section, byte offset).
fn add_programs(obj: &mut Object<'_>, img: &ObjectImage) -> Vec<(SectionId, u64)> {
    let mut sections: Vec<(SectionId, Vec<u8>)> = Vec::new();
    let mut section_by_name: HashMap<&str, usize> = HashMap::new();
    let mut placed = Vec::with_capacity(img.programs.len()); // (section slot, byte offset)
    for prog in &img.programs {
        let slot = *section_by_name
            .entry(prog.section.as_str())
            .or_insert_with(|| {
                // A section aya cannot parse as a program is data to it (skipped);
                // the runtime loads its programs itself (`raw_program`).
                let kind = if super::RAW_SECTIONS.contains(&prog.section.as_str()) {
                    SectionKind::ReadOnlyData
                } else {
                    SectionKind::Text
                };
                let id = obj.add_section(Vec::new(), prog.section.as_bytes().to_vec(), kind);
                sections.push((id, Vec::new()));
                sections.len() - 1
            });
        let data = &mut sections[slot].1;
        let offset = data.len() as u64;
        for insn in &prog.insns {
            data.extend_from_slice(&insn.to_bytes());
        }
        placed.push((slot, offset));
    }
    for (id, data) in &mut sections {
        obj.set_section_data(*id, std::mem::take(data), INSN_SIZE);
    }
    for (prog, &(slot, offset)) in img.programs.iter().zip(&placed) {
        let size = prog.insns.len() as u64 * INSN_SIZE;
        let sym = global_symbol(&prog.name, SymbolKind::Text, sections[slot].0, offset, size);
        obj.add_symbol(sym);
    }
    placed
        .into_iter()
        .map(|(slot, offset)| (sections[slot].0, offset))
        .collect()
}

/// `license`: NUL-terminated string plus the `_license` object symbol.
fn add_license(obj: &mut Object<'_>, img: &ObjectImage) {
    let license_sec = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut license = img.license.as_bytes().to_vec();
    license.push(0);
    let license_len = license.len() as u64;
    obj.set_section_data(license_sec, license, 1);
    obj.add_symbol(global_symbol(
        LICENSE_SYMBOL,
        SymbolKind::Data,
        license_sec,
        0,
        license_len,
    ));
}

/// `.maps` (zero-filled map definitions, a symbol each) and the `.BTF` that
/// describes them, when there are maps; returns each map's symbol by name.
fn add_maps<'i>(
    obj: &mut Object<'_>,
    img: &'i ObjectImage,
    slots: &[MapSlot],
    btf: Vec<u8>,
) -> HashMap<&'i str, SymbolId> {
    let mut map_syms: HashMap<&str, SymbolId> = HashMap::new();
    if img.maps.is_empty() {
        return map_syms;
    }
    let total = slots.last().map_or(0, |s| s.offset + s.size);
    let maps_sec = obj.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
    obj.set_section_data(maps_sec, vec![0u8; total as usize], 8);
    for (map, slot) in img.maps.iter().zip(slots) {
        let sym = global_symbol(
            &map.name,
            SymbolKind::Data,
            maps_sec,
            u64::from(slot.offset),
            u64::from(slot.size),
        );
        map_syms.insert(map.name.as_str(), obj.add_symbol(sym));
    }
    let btf_sec = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Other);
    obj.set_section_data(btf_sec, btf, 4);
    map_syms
}

/// `.sockc` (compiler metadata) and, with classifiers, `.sockc.tables` (their map
/// contents, copied into the maps by the runtime): not loaded (SHT_PROGBITS, no
/// flags).
fn add_sockc_sections<'d>(obj: &mut Object<'d>, img: &ObjectImage<'d>) {
    let meta_sec = obj.add_section(
        Vec::new(),
        METADATA_SECTION.as_bytes().to_vec(),
        SectionKind::Other,
    );
    obj.set_section_data(meta_sec, img.metadata, 1);
    if !img.tables.is_empty() {
        let tables = obj.add_section(
            Vec::new(),
            TABLES_SECTION.as_bytes().to_vec(),
            SectionKind::Other,
        );
        obj.set_section_data(tables, img.tables, 8);
    }
}
