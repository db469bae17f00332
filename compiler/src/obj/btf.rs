//! A small hand-written BTF encoder: it emits exactly the types that describe
//! sockc's BTF-defined maps, laid out the way clang lays out
//! `struct { __uint(type, ..); __uint(max_entries, ..); __type(key, K); __type(value, V);
//! __uint(map_flags, ..); } name SEC(".maps");`, followed by one `VAR` per map and a
//! `DATASEC ".maps"` listing them.
//!
//! Invariant: type ids are handed out 1, 2, 3, ... in emission order and every type
//! refers only to ids emitted before it; the string section starts with `"\0"`, every
//! name offset points at a NUL-terminated string inside it, and reference kinds (`PTR`,
//! `ARRAY`) are nameless, so the blob passes the kernel's BTF verifier as well as
//! libbpf's and aya's parsers. Names are validated by the caller (`super::validate`).

use std::collections::HashMap;

use aya_obj::generated as k;

use super::{BtfType, MapDef, MapSlot};

/// `BTF_MAGIC` from `include/uapi/linux/btf.h` (not part of aya-obj's generated bindings).
const BTF_MAGIC: u16 = 0xeb9f;
const BTF_VERSION: u8 = 1;
/// `sizeof(struct btf_header)`.
const BTF_HEADER_LEN: u32 = 24;

/// The `info` word of a `struct btf_type`: vlen in bits 0..16, kind in bits 24..29.
fn info(kind: u32, vlen: usize) -> u32 {
    debug_assert!(vlen <= 0xffff, "vlen is checked by validate()");
    ((kind & 0x1f) << 24) | (vlen as u32 & 0xffff)
}

/// Accumulates the type and string sections of one BTF blob.
struct Writer {
    types: Vec<u8>,
    strings: Vec<u8>,
    string_offsets: HashMap<String, u32>,
    /// Number of types emitted so far; the next type gets id `count + 1`.
    count: u32,
    /// Key/value types already emitted (structural dedup, like clang within one CU).
    value_ids: HashMap<BtfType, u32>,
    /// Pointee id -> id of the `PTR` to it.
    ptr_ids: HashMap<u32, u32>,
    /// `nelems` -> id of `PTR -> ARRAY(int, nelems)`.
    int_array_ptrs: HashMap<u32, u32>,
    int_id: Option<u32>,
    array_index_id: Option<u32>,
}

impl Writer {
    fn new() -> Self {
        let mut string_offsets = HashMap::new();
        string_offsets.insert(String::new(), 0);
        Writer {
            types: Vec::new(),
            strings: vec![0],
            string_offsets,
            count: 0,
            value_ids: HashMap::new(),
            ptr_ids: HashMap::new(),
            int_array_ptrs: HashMap::new(),
            int_id: None,
            array_index_id: None,
        }
    }

    fn string(&mut self, s: &str) -> u32 {
        if let Some(&off) = self.string_offsets.get(s) {
            return off;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.string_offsets.insert(s.to_owned(), off);
        off
    }

    fn word(&mut self, v: u32) {
        self.types.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes the common `struct btf_type` header and returns the new type's id.
    /// The caller appends the kind-specific trailer right after.
    fn header(&mut self, name_off: u32, kind: u32, vlen: usize, size_or_type: u32) -> u32 {
        self.word(name_off);
        self.word(info(kind, vlen));
        self.word(size_or_type);
        self.count += 1;
        self.count
    }

    fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let name_off = self.string(name);
        let id = self.header(name_off, k::BTF_KIND_INT, 0, size);
        let encoding = if signed { k::BTF_INT_SIGNED } else { 0 };
        // encoding in bits 24..28, bit offset (0) in bits 16..24, bit width in 0..8.
        self.word((encoding << 24) | (size * 8));
        id
    }

    fn ptr(&mut self, target: u32) -> u32 {
        if let Some(&id) = self.ptr_ids.get(&target) {
            return id;
        }
        let id = self.header(0, k::BTF_KIND_PTR, 0, target);
        self.ptr_ids.insert(target, id);
        id
    }

    fn array(&mut self, elem: u32, nelems: u32) -> u32 {
        let index = self.array_index_type();
        let id = self.header(0, k::BTF_KIND_ARRAY, 0, 0);
        self.word(elem);
        self.word(index);
        self.word(nelems);
        id
    }

    /// `members`: (name offset, type id, bit offset).
    fn structure(&mut self, name_off: u32, size: u32, members: &[(u32, u32, u32)]) -> u32 {
        let id = self.header(name_off, k::BTF_KIND_STRUCT, members.len(), size);
        for &(name, ty, bit_off) in members {
            self.word(name);
            self.word(ty);
            self.word(bit_off);
        }
        id
    }

    fn var(&mut self, name: &str, ty: u32) -> u32 {
        let name_off = self.string(name);
        let id = self.header(name_off, k::BTF_KIND_VAR, 0, ty);
        self.word(k::BTF_VAR_GLOBAL_ALLOCATED);
        id
    }

    /// `entries`: (VAR id, offset, size).
    fn datasec(&mut self, name: &str, size: u32, entries: &[(u32, u32, u32)]) -> u32 {
        let name_off = self.string(name);
        let id = self.header(name_off, k::BTF_KIND_DATASEC, entries.len(), size);
        for &(ty, off, sz) in entries {
            self.word(ty);
            self.word(off);
            self.word(sz);
        }
        id
    }

    /// The signed 4-byte `int` used as the element of the `__uint(...)` arrays.
    fn int_type(&mut self) -> u32 {
        if let Some(id) = self.int_id {
            return id;
        }
        let id = self.int("int", 4, true);
        self.int_id = Some(id);
        id
    }

    /// The array index type; clang names it `__ARRAY_SIZE_TYPE__` (unsigned, 4 bytes).
    fn array_index_type(&mut self) -> u32 {
        if let Some(id) = self.array_index_id {
            return id;
        }
        let id = self.int("__ARRAY_SIZE_TYPE__", 4, false);
        self.array_index_id = Some(id);
        id
    }

    /// `PTR -> ARRAY(int, n)`: how `__uint(field, n)` encodes the number `n`.
    fn uint_field(&mut self, n: u32) -> u32 {
        if let Some(&id) = self.int_array_ptrs.get(&n) {
            return id;
        }
        let int = self.int_type();
        let arr = self.array(int, n);
        let id = self.ptr(arr);
        self.int_array_ptrs.insert(n, id);
        id
    }

    /// The id of a key/value type, emitting it (and its parts) on first use.
    fn value_type(&mut self, t: &BtfType) -> u32 {
        if let Some(&id) = self.value_ids.get(t) {
            return id;
        }
        let id = match t {
            BtfType::U8 => self.int("unsigned char", 1, false),
            BtfType::U16 => self.int("unsigned short", 2, false),
            BtfType::U32 => self.int("unsigned int", 4, false),
            BtfType::U64 => self.int("unsigned long long", 8, false),
            BtfType::Array { elem, len } => {
                let elem = self.value_type(elem);
                self.array(elem, *len)
            }
            BtfType::Struct { name, members } => {
                let offsets = t.member_offsets();
                let mut encoded = Vec::with_capacity(members.len());
                for ((mname, mty), off) in members.iter().zip(offsets) {
                    let ty = self.value_type(mty);
                    let name_off = self.string(mname);
                    encoded.push((name_off, ty, off * 8));
                }
                let name_off = self.string(name);
                self.structure(name_off, t.size(), &encoded)
            }
        };
        self.value_ids.insert(t.clone(), id);
        id
    }

    fn finish(self) -> Vec<u8> {
        let type_len = self.types.len() as u32;
        let str_len = self.strings.len() as u32;
        let mut out = Vec::with_capacity((BTF_HEADER_LEN + type_len + str_len) as usize);
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(BTF_VERSION);
        out.push(0); // flags
        out.extend_from_slice(&BTF_HEADER_LEN.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // type_off (relative to header end)
        out.extend_from_slice(&type_len.to_le_bytes());
        out.extend_from_slice(&type_len.to_le_bytes()); // str_off
        out.extend_from_slice(&str_len.to_le_bytes());
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// Encodes the `.BTF` section for `maps`, whose definitions sit at `slots` inside the
/// `.maps` section (`slots[i]` belongs to `maps[i]`; offsets ascending).
pub(crate) fn encode_maps(maps: &[MapDef], slots: &[MapSlot]) -> Vec<u8> {
    debug_assert_eq!(maps.len(), slots.len());
    let mut w = Writer::new();
    let mut entries = Vec::with_capacity(maps.len());
    for (map, slot) in maps.iter().zip(slots) {
        let type_field = w.uint_field(map.map_type);
        let max_entries = w.uint_field(map.max_entries);
        let mut fields = vec![("type", type_field), ("max_entries", max_entries)];
        if map.has_key_value() {
            let key = w.value_type(&map.key);
            let key = w.ptr(key);
            let value = w.value_type(&map.value);
            let value = w.ptr(value);
            fields.push(("key", key));
            fields.push(("value", value));
        }
        if map.flags != 0 {
            fields.push(("map_flags", w.uint_field(map.flags)));
        }
        debug_assert_eq!(fields.len() as u32 * 8, slot.size);
        let members: Vec<(u32, u32, u32)> = fields
            .iter()
            .enumerate()
            .map(|(i, &(name, ty))| (w.string(name), ty, i as u32 * 64))
            .collect();
        let def = w.structure(0, slot.size, &members);
        let var = w.var(&map.name, def);
        entries.push((var, slot.offset, slot.size));
    }
    if !entries.is_empty() {
        let total = slots.last().map_or(0, |s| s.offset + s.size);
        w.datasec(".maps", total, &entries);
    }
    w.finish()
}
