//! The object writer: turns finished programs and map definitions into a BPF ELF
//! relocatable object (`bpfel`, ELF64) that both libbpf (≥ 1.0) and aya load, with
//! BTF-defined maps in `.maps`, a `license` section, and sockc's own metadata in a
//! non-loaded `.sockc` section that [`read_metadata`] reads back.
//!
//! Invariant: [`write_object`] validates the whole [`ObjectImage`] before emitting a
//! byte — names are C identifiers and unique, every map relocation points at the first
//! slot of an `ld_imm64` and names a defined map, key/value types obey the kernel's
//! per-map-type BTF rules — so an object it returns never carries a dangling reference,
//! and the `.maps` symbol table, the `.maps` section and the BTF `DATASEC` always agree
//! on every map's offset and size (all three come from one `MapSlot` layout).

mod btf;
mod elf;
mod raw;

pub use raw::{raw_program, RawProgram, RAW_SECTIONS};

use std::collections::HashSet;

use aya_obj::generated::{bpf_map_type, BPF_F_NO_PREALLOC};

use crate::bpf::{
    insn::Insn,
    maps::{BtfType, MapDef},
};

/// Name of the section that carries [`ObjectImage::metadata`].
pub const METADATA_SECTION: &str = ".sockc";
/// Name of the section that carries [`ObjectImage::tables`].
pub const TABLES_SECTION: &str = ".sockc.tables";
/// Name of the global symbol marking the `license` string.
pub(crate) const LICENSE_SYMBOL: &str = "_license";
/// Longest program name the kernel keeps (`BPF_OBJ_NAME_LEN - 1`).
pub(crate) const MAX_PROGRAM_NAME: usize = 15;

/// One program: a global function symbol inside its section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramImage {
    /// Symbol name, a C identifier of at most [`MAX_PROGRAM_NAME`] characters.
    pub name: String,
    /// ELF section, which also tells the loaders the program type: `"xdp"`,
    /// `"classifier"`, `"sk_lookup"`, ... Several programs may share one section.
    pub section: String,
    pub insns: Vec<Insn>,
    /// `(index of the first slot of an ld_imm64, map name)`: where the loader must patch
    /// in a map fd.
    pub map_relocs: Vec<(usize, String)>,
}

/// Everything that goes into one object file (the bulk sections borrowed: they are
/// copied once, into the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectImage<'a> {
    pub programs: Vec<ProgramImage>,
    pub maps: Vec<MapDef>,
    /// License string (e.g. `"GPL"`), written NUL-terminated into `license`.
    pub license: String,
    /// Stored verbatim in the non-loaded `.sockc` section.
    pub metadata: &'a [u8],
    /// Stored verbatim in the non-loaded `.sockc.tables` section (omitted when empty):
    /// bulk map contents that the metadata points into.
    pub tables: &'a [u8],
}

/// Why an object could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ObjError {
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("duplicate symbol name {0:?}")]
    DuplicateName(String),
    #[error("program {0:?} has no instructions")]
    EmptyProgram(String),
    #[error("program {program:?}: map relocation at instruction {index}: {reason}")]
    BadMapReloc {
        program: String,
        index: usize,
        reason: String,
    },
    #[error("map {map:?}: {reason}")]
    InvalidMap { map: String, reason: String },
    #[error("license must be a non-empty string without NUL bytes")]
    InvalidLicense,
    #[error("writing ELF: {0}")]
    Write(#[from] object::write::Error),
    #[error("reading ELF: {0}")]
    Read(#[from] object::read::Error),
}

/// Where one map's definition lives inside `.maps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MapSlot {
    pub offset: u32,
    pub size: u32,
}

/// Writes `img` as a BPF ELF object.
pub fn write_object(img: &ObjectImage<'_>) -> Result<Vec<u8>, ObjError> {
    let slots = validate(img)?;
    let btf = btf::encode_maps(&img.maps, &slots);
    elf::write(img, &slots, btf)
}

/// The bytes of the `.sockc` section of an object written by [`write_object`], or
/// `None` if the object has no such section.
pub(crate) fn read_metadata(elf: &[u8]) -> Result<Option<Vec<u8>>, ObjError> {
    read_section(elf, METADATA_SECTION)
}

/// Where each program's code starts in the object file: `(symbol, file offset)`, for
/// every function symbol in a section with data. The runtime writes per-install
/// immediates there before loading ([`crate::bpf::buffer::Code::socket_slots`]).
pub fn program_offsets(elf: &[u8]) -> Result<Vec<(String, usize)>, ObjError> {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};
    let file = object::read::File::parse(elf)?;
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text {
            continue;
        }
        let Some(index) = sym.section_index() else {
            continue;
        };
        let section = file.section_by_index(index)?;
        let Some((start, _)) = section.file_range() else {
            continue;
        };
        let at = start
            .checked_add(sym.address())
            .and_then(|a| usize::try_from(a).ok());
        if let (Ok(name), Some(at)) = (sym.name(), at) {
            out.push((name.to_string(), at));
        }
    }
    Ok(out)
}

/// How many 8-byte instruction slots each program's function symbol spans:
/// `(symbol, slots)` (a 64-bit immediate load takes two), what `BPF_PROG_LOAD` counts
/// against its limit.
pub fn program_sizes(elf: &[u8]) -> Result<Vec<(String, usize)>, ObjError> {
    use object::{Object as _, ObjectSymbol as _, SymbolKind};
    let file = object::read::File::parse(elf)?;
    Ok(file
        .symbols()
        .filter(|sym| sym.kind() == SymbolKind::Text)
        .filter_map(|sym| {
            let name = sym.name().ok()?;
            Some((name.to_string(), usize::try_from(sym.size()).ok()? / 8))
        })
        .collect())
}

/// The bytes of a section, or `None` if the object has no such section.
pub fn read_section(elf: &[u8], name: &str) -> Result<Option<Vec<u8>>, ObjError> {
    Ok(section_bytes(elf, name)?.map(<[u8]>::to_vec))
}

/// [`read_section`] without the copy: the section's bytes inside `elf` (a classifier
/// tables section is megabytes with many rules).
pub fn section_bytes<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, ObjError> {
    use object::{Object as _, ObjectSection as _};
    let file = object::read::File::parse(elf)?;
    match file.section_by_name(name) {
        Some(section) => Ok(Some(section.data()?)),
        None => Ok(None),
    }
}

fn check_identifier(what: &'static str, name: &str) -> Result<(), ObjError> {
    let bad = |reason| ObjError::InvalidName {
        what,
        name: name.to_owned(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(bad("empty")),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(bad("must start with a letter or '_'"))
        }
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad("only ASCII letters, digits and '_' are allowed"));
    }
    Ok(())
}

/// Section names with a fixed meaning to libbpf/aya, or ones this writer emits itself.
fn is_reserved_section(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with("license")
        || name.starts_with("version")
        || name.starts_with("maps")
}

fn check_type(map: &str, t: &BtfType) -> Result<(), ObjError> {
    let bad = |reason: String| ObjError::InvalidMap {
        map: map.to_owned(),
        reason,
    };
    match t {
        BtfType::U8 | BtfType::U16 | BtfType::U32 | BtfType::U64 => Ok(()),
        BtfType::Array { elem, .. } => check_type(map, elem),
        BtfType::Struct { name, members } => {
            check_identifier("struct", name)?;
            if members.is_empty() {
                return Err(bad(format!("struct {name} has no members")));
            }
            if members.len() > 0xffff {
                return Err(bad(format!("struct {name} has too many members")));
            }
            let mut seen = HashSet::new();
            for (mname, mty) in members {
                check_identifier("struct member", mname)?;
                if !seen.insert(mname.as_str()) {
                    return Err(bad(format!("struct {name} repeats member {mname}")));
                }
                check_type(map, mty)?;
            }
            Ok(())
        }
    }
}

/// `__uint(field, n)` is an `int[n]`: its byte size must fit the kernel's u32 limit.
const MAX_UINT_FIELD: u32 = u32::MAX / 4;

fn check_map(map: &MapDef) -> Result<(), ObjError> {
    check_identifier("map", &map.name)?;
    let bad = |reason: String| ObjError::InvalidMap {
        map: map.name.clone(),
        reason,
    };
    let typed: &[(&str, &BtfType)] = if map.has_key_value() {
        &[("key", &map.key), ("value", &map.value)]
    } else {
        &[]
    };
    for &(what, t) in typed {
        check_type(&map.name, t)?;
        match t.checked_size() {
            Some(0) => return Err(bad(format!("{what} type has size 0"))),
            None => return Err(bad(format!("{what} type is too large"))),
            Some(_) => {}
        }
    }
    for (what, v) in [
        ("map type", map.map_type),
        ("max_entries", map.max_entries),
        ("flags", map.flags),
    ] {
        if v > MAX_UINT_FIELD {
            return Err(bad(format!("{what} {v} is too large to encode in BTF")));
        }
    }
    let ty = map.map_type;
    if ty == bpf_map_type::BPF_MAP_TYPE_ARRAY as u32
        || ty == bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32
    {
        // array_map_check_btf(): the key must be a 32-bit INT.
        if map.key != BtfType::U32 {
            return Err(bad("array map keys must be a 4-byte integer (U32)".into()));
        }
    }
    if ty == bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32 {
        // trie_check_btf(): the key must be a STRUCT; trie_alloc() wants NO_PREALLOC.
        if !matches!(map.key, BtfType::Struct { .. }) {
            return Err(bad("LPM trie keys must be a struct".into()));
        }
        if map.flags & BPF_F_NO_PREALLOC == 0 {
            return Err(bad("LPM trie maps need the BPF_F_NO_PREALLOC flag".into()));
        }
    }
    if ty == bpf_map_type::BPF_MAP_TYPE_HASH as u32 {
        // htab_map_alloc_check(): room for an entry, and a key a program can build on
        // its stack (MAX_BPF_STACK).
        if map.max_entries == 0 {
            return Err(bad("hash maps need max_entries of at least 1".into()));
        }
        if map.key.checked_size().is_some_and(|n| n > 512) {
            return Err(bad("hash map keys must be at most 512 bytes".into()));
        }
    }
    Ok(())
}

/// Checks everything the writer relies on and lays out `.maps`.
fn validate(img: &ObjectImage<'_>) -> Result<Vec<MapSlot>, ObjError> {
    if img.license.is_empty() || img.license.contains('\0') {
        return Err(ObjError::InvalidLicense);
    }
    let mut names: HashSet<&str> = HashSet::from([LICENSE_SYMBOL]);
    for map in &img.maps {
        check_map(map)?;
        if !names.insert(&map.name) {
            return Err(ObjError::DuplicateName(map.name.clone()));
        }
    }
    if img.maps.len() > 0xffff {
        return Err(ObjError::InvalidMap {
            map: img.maps[0xffff].name.clone(),
            reason: "too many maps in one object".into(),
        });
    }
    for prog in &img.programs {
        check_identifier("program", &prog.name)?;
        if prog.name.len() > MAX_PROGRAM_NAME {
            return Err(ObjError::InvalidName {
                what: "program",
                name: prog.name.clone(),
                reason: "longer than 15 characters",
            });
        }
        if !names.insert(&prog.name) {
            return Err(ObjError::DuplicateName(prog.name.clone()));
        }
        if prog.section.is_empty()
            || prog.section.contains('\0')
            || is_reserved_section(&prog.section)
        {
            return Err(ObjError::InvalidName {
                what: "program section",
                name: prog.section.clone(),
                reason: "empty, or reserved for data (starts with '.', license, version, maps)",
            });
        }
        if prog.insns.is_empty() {
            return Err(ObjError::EmptyProgram(prog.name.clone()));
        }
        let mut patched = HashSet::new();
        for (index, map) in &prog.map_relocs {
            let bad = |reason: &str| ObjError::BadMapReloc {
                program: prog.name.clone(),
                index: *index,
                reason: reason.to_owned(),
            };
            if !img.maps.iter().any(|m| &m.name == map) {
                return Err(bad(&format!("unknown map {map:?}")));
            }
            if *index + 1 >= prog.insns.len() {
                return Err(bad("no room for a 16-byte ld_imm64"));
            }
            if !prog.insns[*index].is_ld_imm64() {
                return Err(bad("not the first slot of an ld_imm64"));
            }
            if !patched.insert(*index) {
                return Err(bad("relocated twice"));
            }
        }
    }
    // Each definition is a struct of 8-byte pointers, so offsets stay 8-aligned.
    let mut offset = 0u32;
    let mut slots = Vec::with_capacity(img.maps.len());
    for map in &img.maps {
        let members = 2 + if map.has_key_value() { 2 } else { 0 } + u32::from(map.flags != 0);
        let size = members * 8;
        slots.push(MapSlot { offset, size });
        offset += size;
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::{op, Reg, Size};
    use aya_obj::generated::bpf_func_id;
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

    const XDP_PASS: i32 = 2;

    fn lpm_v4() -> BtfType {
        BtfType::Struct {
            name: "lpm_v4".into(),
            members: vec![
                ("prefixlen".into(), BtfType::U32),
                (
                    "addr".into(),
                    BtfType::Array {
                        elem: Box::new(BtfType::U8),
                        len: 4,
                    },
                ),
            ],
        }
    }

    fn counter() -> BtfType {
        BtfType::Struct {
            name: "counter".into(),
            members: vec![
                ("packets".into(), BtfType::U64),
                ("bytes".into(), BtfType::U64),
            ],
        }
    }

    fn maps() -> Vec<MapDef> {
        vec![
            MapDef {
                name: "counters".into(),
                map_type: bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
                key: BtfType::U32,
                value: counter(),
                max_entries: 4,
                flags: 0,
            },
            MapDef {
                name: "set_v4".into(),
                map_type: bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32,
                key: lpm_v4(),
                value: BtfType::U32,
                max_entries: 1024,
                flags: BPF_F_NO_PREALLOC,
            },
        ]
    }

    /// `r1 = map; r2 = fp - 4; *(u32 *)(fp - 4) = 0; call map_lookup_elem; r0 = PASS`.
    fn xdp_count() -> ProgramImage {
        let mut insns = Insn::ld_map_fd(Reg::R1).to_vec();
        insns.extend([
            Insn::mov64_reg(Reg::R2, Reg::FP),
            Insn::alu64_imm(op::ADD, Reg::R2, -4),
            Insn::st_imm(Size::W, Reg::FP, -4, 0),
            Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32),
            Insn::mov64_imm(Reg::R0, XDP_PASS),
            Insn::exit(),
        ]);
        ProgramImage {
            name: "xdp_count".into(),
            section: "xdp".into(),
            insns,
            map_relocs: vec![(0, "counters".into())],
        }
    }

    /// Looks 127.0.0.1/32 up in `set_v4`; the ld_imm64 is not the first instruction.
    fn xdp_lpm() -> ProgramImage {
        let mut insns = vec![
            Insn::st_imm(Size::W, Reg::FP, -8, 32),
            Insn::st_imm(Size::W, Reg::FP, -4, 0x0100_007f),
            Insn::mov64_reg(Reg::R2, Reg::FP),
            Insn::alu64_imm(op::ADD, Reg::R2, -8),
        ];
        insns.extend(Insn::ld_map_fd(Reg::R1));
        insns.extend([
            Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32),
            Insn::mov64_imm(Reg::R0, XDP_PASS),
            Insn::exit(),
        ]);
        ProgramImage {
            name: "xdp_lpm".into(),
            section: "xdp".into(),
            insns,
            map_relocs: vec![(4, "set_v4".into())],
        }
    }

    fn tc_pass() -> ProgramImage {
        ProgramImage {
            name: "tc_pass".into(),
            section: "classifier".into(),
            insns: vec![Insn::mov64_imm(Reg::R0, 0), Insn::exit()],
            map_relocs: vec![],
        }
    }

    fn image() -> ObjectImage<'static> {
        ObjectImage {
            programs: vec![xdp_count(), tc_pass(), xdp_lpm()],
            maps: maps(),
            license: "GPL".into(),
            metadata: br#"{"sockc":1}"#,
            tables: &[],
        }
    }

    #[test]
    fn btf_type_sizes_and_offsets() {
        assert_eq!(BtfType::U8.size(), 1);
        assert_eq!(BtfType::U16.size(), 2);
        assert_eq!(BtfType::U32.size(), 4);
        assert_eq!(BtfType::U64.size(), 8);
        assert_eq!(lpm_v4().size(), 8);
        assert_eq!(lpm_v4().member_offsets(), vec![0, 4]);
        assert_eq!(counter().size(), 16);
        let mixed = BtfType::Struct {
            name: "mixed".into(),
            members: vec![
                ("a".into(), BtfType::U8),
                ("b".into(), BtfType::U64),
                ("c".into(), BtfType::U16),
                ("d".into(), lpm_v4()),
                ("e".into(), BtfType::U8),
            ],
        };
        assert_eq!(mixed.member_offsets(), vec![0, 8, 16, 20, 28]);
        assert_eq!(mixed.align(), 8);
        assert_eq!(mixed.size(), 32);
        let small = BtfType::Struct {
            name: "small".into(),
            members: vec![("a".into(), BtfType::U8), ("b".into(), BtfType::U16)],
        };
        assert_eq!((small.size(), small.member_offsets()), (4, vec![0, 2]));
        let arr = BtfType::Array {
            elem: Box::new(small.clone()),
            len: 3,
        };
        assert_eq!((arr.size(), arr.align()), (12, 2));
        let huge = BtfType::Array {
            elem: Box::new(BtfType::U64),
            len: u32::MAX,
        };
        assert_eq!(huge.size(), u32::MAX);
        assert!(huge.checked_size().is_none());
    }

    #[test]
    fn elf_has_expected_sections_symbols_and_relocations() {
        let bytes = write_object(&image()).unwrap();
        let file = object::read::File::parse(&*bytes).unwrap();
        assert_eq!(file.architecture(), object::Architecture::Bpf);
        assert!(file.is_little_endian());
        assert!(file.is_64());
        assert_eq!(file.kind(), object::ObjectKind::Relocatable);

        let flags = |name: &str| match file.section_by_name(name).unwrap().flags() {
            object::SectionFlags::Elf { sh_flags } => sh_flags as u32,
            f => panic!("{f:?}"),
        };
        let alloc_exec = object::elf::SHF_ALLOC | object::elf::SHF_EXECINSTR;
        let alloc_write = object::elf::SHF_ALLOC | object::elf::SHF_WRITE;
        assert_eq!(flags("xdp"), alloc_exec);
        assert_eq!(flags("classifier"), alloc_exec);
        assert_eq!(flags("license"), alloc_write);
        assert_eq!(flags(".maps"), alloc_write);
        assert_eq!(flags(".BTF"), 0);
        assert_eq!(flags(".sockc"), 0);

        let xdp = file.section_by_name("xdp").unwrap();
        assert_eq!(xdp.align(), 8);
        let (n1, n2) = (xdp_count().insns.len(), xdp_lpm().insns.len());
        assert_eq!(xdp.size() as usize, (n1 + n2) * 8);
        assert_eq!(
            &xdp.data().unwrap()[..8],
            &Insn::ld_map_fd(Reg::R1)[0].to_bytes()
        );
        assert_eq!(
            file.section_by_name("license").unwrap().data().unwrap(),
            b"GPL\0"
        );
        let maps_sec = file.section_by_name(".maps").unwrap();
        assert_eq!(maps_sec.data().unwrap(), &[0u8; 32 + 40][..]);
        let sockc = file.section_by_name(".sockc").unwrap();
        assert_eq!(sockc.data().unwrap(), br#"{"sockc":1}"#);
        match sockc.flags() {
            object::SectionFlags::Elf { .. } => {}
            f => panic!("{f:?}"),
        }

        let sym = |name: &str| file.symbols().find(|s| s.name() == Ok(name)).unwrap();
        let check = |name: &str, section: &str, kind, value, size| {
            let s = sym(name);
            assert!(s.is_global(), "{name}");
            assert_eq!(s.kind(), kind, "{name}");
            assert_eq!((s.address(), s.size()), (value, size), "{name}");
            let idx = s.section_index().unwrap();
            assert_eq!(file.section_by_index(idx).unwrap().name(), Ok(section));
        };
        use object::SymbolKind::{Data, Text};
        check("xdp_count", "xdp", Text, 0, n1 as u64 * 8);
        check("xdp_lpm", "xdp", Text, n1 as u64 * 8, n2 as u64 * 8);
        check("tc_pass", "classifier", Text, 0, 16);
        check("_license", "license", Data, 0, 4);
        check("counters", ".maps", Data, 0, 32);
        check("set_v4", ".maps", Data, 32, 40);

        let relocs: Vec<(u64, String, u32)> = xdp
            .relocations()
            .map(|(off, r)| {
                let object::RelocationTarget::Symbol(i) = r.target() else {
                    panic!("{r:?}")
                };
                let name = file.symbol_by_index(i).unwrap().name().unwrap().to_owned();
                let object::RelocationFlags::Elf { r_type } = r.flags() else {
                    panic!("{r:?}")
                };
                (off, name, r_type)
            })
            .collect();
        let r64 = object::elf::R_BPF_64_64;
        assert_eq!(
            relocs,
            vec![
                (0, "counters".to_owned(), r64),
                ((n1 as u64 + 4) * 8, "set_v4".to_owned(), r64)
            ]
        );
        assert_eq!(
            file.section_by_name("classifier")
                .unwrap()
                .relocations()
                .count(),
            0
        );
    }

    #[test]
    fn aya_parses_btf() {
        use aya_obj::btf::{Btf, BtfKind};
        let bytes = write_object(&image()).unwrap();
        let file = object::read::File::parse(&*bytes).unwrap();
        let data = file
            .section_by_name(".BTF")
            .unwrap()
            .data()
            .unwrap()
            .to_vec();
        let btf = Btf::parse(&data, object::Endianness::default()).unwrap();
        for (name, kind) in [
            ("int", BtfKind::Int),
            ("unsigned int", BtfKind::Int),
            ("lpm_v4", BtfKind::Struct),
            ("counter", BtfKind::Struct),
            ("counters", BtfKind::Var),
            ("set_v4", BtfKind::Var),
            (".maps", BtfKind::DataSec),
        ] {
            btf.id_by_type_name_kind(name, kind)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // String section starts with NUL, header is the 24-byte v1 header.
        assert_eq!(&data[..4], &[0x9f, 0xeb, 1, 0]);
        let str_off = 24 + u32::from_le_bytes(data[16..20].try_into().unwrap()) as usize;
        assert_eq!(data[str_off], 0);
        assert_eq!(*data.last().unwrap(), 0);
    }

    #[test]
    fn aya_parses_object_and_relocates_shared_section() {
        use aya_obj::programs::XdpAttachType;
        use aya_obj::ProgramSection;
        let bytes = write_object(&image()).unwrap();
        let mut obj = aya_obj::Object::parse(&bytes).unwrap();
        assert_eq!(obj.license.to_str().unwrap(), "GPL");

        let mut names: Vec<_> = obj.programs.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["tc_pass", "xdp_count", "xdp_lpm"]);
        for name in ["xdp_count", "xdp_lpm"] {
            assert!(
                matches!(
                    obj.programs[name].section,
                    ProgramSection::Xdp {
                        frags: false,
                        attach_type: XdpAttachType::Interface
                    }
                ),
                "{name}: {:?}",
                obj.programs[name].section
            );
        }
        assert!(matches!(
            obj.programs["tc_pass"].section,
            ProgramSection::SchedClassifier
        ));

        assert_eq!(obj.maps.len(), 2);
        let counters = &obj.maps["counters"];
        assert_eq!(
            (
                counters.map_type(),
                counters.key_size(),
                counters.value_size(),
                counters.max_entries(),
                counters.map_flags()
            ),
            (bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32, 4, 16, 4, 0)
        );
        let set = &obj.maps["set_v4"];
        assert_eq!(
            (
                set.map_type(),
                set.key_size(),
                set.value_size(),
                set.max_entries(),
                set.map_flags()
            ),
            (
                bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32,
                8,
                4,
                1024,
                BPF_F_NO_PREALLOC
            )
        );

        // What aya's EbpfLoader does before loading, minus the syscalls.
        let features =
            aya_obj::btf::BtfFeatures::new(true, true, true, true, true, true, true, true);
        obj.fixup_and_sanitize_btf(&features).unwrap().unwrap();
        let maps = obj.maps.clone();
        let fds = [("counters", 100), ("set_v4", 101)];
        let text = std::collections::HashSet::new();
        obj.relocate_maps(fds.iter().map(|&(n, fd)| (n, fd, &maps[n])), &text)
            .unwrap();
        obj.relocate_calls(&text).unwrap();
        let by_name = |name: &str| obj.functions.values().find(|f| f.name == name).unwrap();
        let f = by_name("xdp_count");
        assert_eq!(f.instructions.len(), xdp_count().insns.len());
        assert_eq!(
            (f.instructions[0].src_reg(), f.instructions[0].imm),
            (1, 100)
        );
        let f = by_name("xdp_lpm");
        assert_eq!(f.instructions.len(), xdp_lpm().insns.len());
        assert_eq!(
            (f.instructions[4].src_reg(), f.instructions[4].imm),
            (1, 101)
        );
        assert_eq!(by_name("tc_pass").instructions.len(), 2);
    }

    #[test]
    fn metadata_round_trips() {
        let mut img = image();
        let all_bytes: Vec<u8> = (0..=255).collect();
        img.metadata = &all_bytes;
        let bytes = write_object(&img).unwrap();
        assert_eq!(read_metadata(&bytes).unwrap(), Some(all_bytes.clone()));
        img.metadata = &[];
        img.maps.clear();
        img.programs = vec![tc_pass()];
        let bytes = write_object(&img).unwrap();
        assert_eq!(read_metadata(&bytes).unwrap(), Some(vec![]));
        assert!(read_metadata(b"not an elf").is_err());

        let mut plain = object::write::Object::new(
            object::BinaryFormat::Elf,
            object::Architecture::Bpf,
            object::Endianness::Little,
        );
        plain.add_section(vec![], b"xdp".to_vec(), object::SectionKind::Text);
        assert_eq!(read_metadata(&plain.write().unwrap()).unwrap(), None);
    }

    #[test]
    fn rejects_invalid_images() {
        let err = |f: &dyn Fn(&mut ObjectImage)| {
            let mut img = image();
            f(&mut img);
            write_object(&img).unwrap_err()
        };
        assert!(matches!(
            err(&|i| i.maps[0].key = BtfType::U64),
            ObjError::InvalidMap { .. }
        ));
        assert!(matches!(
            err(&|i| i.maps[1].flags = 0),
            ObjError::InvalidMap { .. }
        ));
        assert!(matches!(
            err(&|i| i.maps[1].key = BtfType::U64),
            ObjError::InvalidMap { .. }
        ));
        assert!(matches!(
            err(&|i| i.maps[1].max_entries = u32::MAX),
            ObjError::InvalidMap { .. }
        ));
        // A set of whole addresses is a hash map of the same key.
        let hash =
            |i: &mut ObjectImage| i.maps[1].map_type = bpf_map_type::BPF_MAP_TYPE_HASH as u32;
        let mut img = image();
        hash(&mut img);
        write_object(&img).expect("a hash map of the set key");
        assert!(matches!(
            err(&|i| {
                hash(i);
                i.maps[1].max_entries = 0;
            }),
            ObjError::InvalidMap { .. }
        ));
        assert!(matches!(
            err(&|i| {
                hash(i);
                i.maps[1].key = BtfType::Array {
                    elem: Box::new(BtfType::U8),
                    len: 513,
                };
            }),
            ObjError::InvalidMap { .. }
        ));
        assert!(matches!(
            err(&|i| i.maps[1].name = "set-v4".into()),
            ObjError::InvalidName { .. }
        ));
        assert!(matches!(
            err(&|i| i.maps[1].name = "counters".into()),
            ObjError::DuplicateName(_)
        ));
        assert!(matches!(
            err(&|i| i.programs[1].name = "counters".into()),
            ObjError::DuplicateName(_)
        ));
        assert!(matches!(
            err(&|i| i.programs[1].name = "a_very_long_program_name".into()),
            ObjError::InvalidName { .. }
        ));
        assert!(matches!(
            err(&|i| i.programs[1].section = ".text".into()),
            ObjError::InvalidName { .. }
        ));
        assert!(matches!(
            err(&|i| i.programs[1].insns.clear()),
            ObjError::EmptyProgram(_)
        ));
        assert!(matches!(
            err(&|i| i.programs[0].map_relocs[0].0 = 2),
            ObjError::BadMapReloc { .. }
        ));
        assert!(matches!(
            err(&|i| i.programs[0].map_relocs[0].1 = "nope".into()),
            ObjError::BadMapReloc { .. }
        ));
        assert!(matches!(
            err(&|i| i.license = "G\0PL".into()),
            ObjError::InvalidLicense
        ));
    }

    // ---- kernel check (root only) --------------------------------------------------

    fn is_root() -> bool {
        use std::os::unix::fs::MetadataExt;
        // /proc/self is owned by the effective uid of the reading process.
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    fn bpftool() -> Option<std::path::PathBuf> {
        ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool"]
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.exists())
    }

    fn run(cmd: &mut std::process::Command) -> (bool, String, String) {
        let out = cmd.output().expect("spawn");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Removes the pin directories and object file even if an assertion fails.
    struct Cleanup(Vec<std::path::PathBuf>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
            }
        }
    }

    #[test]
    fn kernel_accepts_object_via_bpftool() {
        let required = std::env::var("SOCKC_KERNEL_TESTS").as_deref() == Ok("require");
        let tool = bpftool();
        if !is_root() || tool.is_none() {
            let why = if is_root() {
                "bpftool not found"
            } else {
                "not root"
            };
            assert!(!required, "SOCKC_KERNEL_TESTS=require but {why}");
            eprintln!("skipping kernel_accepts_object_via_bpftool: {why}");
            return;
        }
        let tool = tool.unwrap();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        if !mounts
            .lines()
            .any(|l| l.split(' ').nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf "))
        {
            let (ok, _, err) =
                run(std::process::Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]));
            assert!(ok, "mounting bpffs: {err}");
        }

        let pid = std::process::id();
        let file = std::env::temp_dir().join(format!("sockc_objtest_{pid}.o"));
        let progs = std::path::PathBuf::from(format!("/sys/fs/bpf/sockc_objtest_{pid}"));
        let maps = std::path::PathBuf::from(format!("/sys/fs/bpf/sockc_objtest_{pid}_maps"));
        let _cleanup = Cleanup(vec![progs.clone(), maps.clone(), file.clone()]);
        std::fs::write(&file, write_object(&image()).unwrap()).unwrap();

        let (ok, out, err) = run(std::process::Command::new(&tool)
            .args(["btf", "dump", "file"])
            .arg(&file));
        assert!(ok, "bpftool btf dump failed:\n{out}\n{err}");
        for needle in [
            "DATASEC '.maps'",
            "VAR 'counters'",
            "VAR 'set_v4'",
            "STRUCT 'lpm_v4'",
        ] {
            assert!(out.contains(needle), "{needle} missing from:\n{out}");
        }

        let (ok, out, err) = run(std::process::Command::new(&tool)
            .args(["-d", "prog", "loadall"])
            .arg(&file)
            .arg(&progs)
            .arg("pinmaps")
            .arg(&maps));
        assert!(ok, "bpftool prog loadall failed:\n{out}\n{err}");
        // libbpf falls back to BTF-less maps if the kernel rejects the BTF; that is a failure here.
        for bad in [
            "retrying without BTF",
            "Error loading .BTF",
            "failed to load BTF",
        ] {
            assert!(!err.contains(bad), "{bad}:\n{err}");
        }
        for prog in ["xdp_count", "xdp_lpm", "tc_pass"] {
            assert!(progs.join(prog).exists(), "{prog} not pinned");
        }
        for (map, ty) in [("counters", "\"percpu_array\""), ("set_v4", "\"lpm_trie\"")] {
            let (ok, out, err) = run(std::process::Command::new(&tool)
                .args(["-j", "map", "show", "pinned"])
                .arg(maps.join(map)));
            assert!(ok, "map show {map}: {err}");
            assert!(
                out.contains(ty) && out.contains("\"btf_id\""),
                "{map}: {out}"
            );
        }
    }
}
