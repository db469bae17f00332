//! The object's maps made in the kernel by the runtime itself, from the definitions
//! aya-obj reads out of the object (aya's `EbpfLoader` is not used: it parses the
//! kernel's whole BTF, ~100 ms and ~20 MB, and probes features first).
//!
//! Invariant: a map an install shares between generations (the socket map, a sockmap
//! group's maps: [`LoadOptions`]) is opened from its pin when it is there, never made
//! again, so what it holds survives the new generation; the object's own small BTF is
//! loaded only for a map the kernel makes only with it (socket storage).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use aya::maps::{Map, MapData};
use sockc_compiler::bpf::maps::SOCKETS_MAP;

use super::{LoadOptions, MapFault, RuntimeError};
use crate::{slot_map, sys};

/// Creates (or opens, where `opts` reuses a pinned one) every map of the object, in
/// name order.
pub(super) fn create_maps(
    elf: &[u8],
    opts: &LoadOptions<'_>,
    redirects_to_sockets: bool,
) -> Result<Vec<(String, Map)>, RuntimeError> {
    if let (Some(path), true) = (opts.socket_map, redirects_to_sockets) {
        // Created here with the shape checked, so that it is only opened below.
        slot_map::SlotMap::open_or_create(path)?;
    }
    let object = aya_obj::Object::parse(elf).map_err(RuntimeError::Object)?;
    let btf = object_btf_if_needed(elf, &object)?;
    let btf = btf.as_ref().map(|b| b.as_fd());
    let pin_of = |name: &str| {
        opts.reuse
            .iter()
            .find(|(m, _)| *m == name)
            .map(|(_, p)| p.as_path())
            .or(opts
                .socket_map
                .filter(|_| redirects_to_sockets && name == SOCKETS_MAP))
    };
    let mut maps = object
        .maps
        .into_iter()
        .map(|(name, def)| {
            let pin = pin_of(&name);
            create_one(name, def, pin, btf)
        })
        .collect::<Result<Vec<_>, _>>()?;
    maps.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(maps)
}

/// Map `name` of the object: opened from `pin` if one is there, else created from
/// `def` (and pinned at `pin` when given).
fn create_one(
    name: String,
    def: aya_obj::Map,
    pin: Option<&std::path::Path>,
    btf: Option<BorrowedFd<'_>>,
) -> Result<(String, Map), RuntimeError> {
    let fault = |source: MapFault| RuntimeError::Map {
        map: name.clone(),
        source,
    };
    let data = match pin {
        Some(path) if path.exists() => {
            MapData::from_pin(path).map_err(|e| fault(MapFault::Aya(e)))?
        }
        _ => {
            let described = match (btf, &def) {
                (Some(btf), aya_obj::Map::Btf(m)) if needs_btf(def.map_type()) => {
                    Some(sys::MapBtf {
                        btf,
                        key_type_id: m.def.btf_key_type_id,
                        value_type_id: m.def.btf_value_type_id,
                    })
                }
                _ => None,
            };
            let fd = sys::create_map_described(
                def.map_type(),
                &name,
                def.key_size(),
                def.value_size(),
                def.max_entries(),
                def.map_flags(),
                described,
            )
            .map_err(|source| RuntimeError::MapCreate {
                map: name.clone(),
                source,
            })?;
            let data = MapData::from_fd(fd).map_err(|e| fault(MapFault::Aya(e)))?;
            if let Some(path) = pin {
                data.pin(path)
                    .map_err(|e| fault(MapFault::Pin(Box::new(e))))?;
            }
            data
        }
    };
    let map = Map::from_map_data(data).map_err(|e| fault(MapFault::Aya(e)))?;
    Ok((name, map))
}

/// Whether the kernel creates maps of `map_type` only with BTF for key and value
/// (socket storage: the kernel checks the value's layout).
fn needs_btf(map_type: u32) -> bool {
    map_type == aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_SK_STORAGE as u32
}

/// The object's own BTF (`.BTF`: only its maps' types, a few hundred bytes) loaded
/// into the kernel when a map needs it; otherwise nothing is loaded.
fn object_btf_if_needed(
    elf: &[u8],
    object: &aya_obj::Object,
) -> Result<Option<OwnedFd>, RuntimeError> {
    if !object.maps.values().any(|m| needs_btf(m.map_type())) {
        return Ok(None);
    }
    let bytes = sockc_compiler::obj::read_section(elf, ".BTF")
        .map_err(RuntimeError::Tables)?
        .unwrap_or_default();
    sys::btf_load(&bytes)
        .map(Some)
        .map_err(|source| RuntimeError::MapCreate {
            map: ".BTF".into(),
            source,
        })
}
