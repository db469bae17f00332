//! Per-CPU arrays made ahead of the load. The kernel allocates each element of a
//! per-CPU array on its own (the rule counters of 10k rules: ~6 ms, more than the
//! verifier), so a first install starts making them on another thread as soon as it
//! knows it will load, while it plans; the load then takes them instead of making its
//! own ([`Premade::take`]).
//!
//! Invariant: a map is taken only if it was made with exactly the shape the load
//! asks for (type, key and value size, entries, flags) and under its name; anything
//! else is made by the load as before, so a premade map can make a load faster, never
//! different. What is not taken is closed when the [`Premade`] is dropped, without
//! waiting for the thread.

use std::os::fd::OwnedFd;

use sockc_compiler::bpf::maps::{MapDef, MapShape};

use crate::ahead::Ahead;

/// A map made ahead, or why it could not be (then the load makes it and reports).
type Made = (MapShape, std::io::Result<OwnedFd>);

/// The per-CPU arrays of an object, being made on another thread.
#[derive(Debug)]
pub struct Premade(Ahead<Made>);

impl Premade {
    /// Starts making every per-CPU array of `defs` on another thread.
    pub fn start(defs: &[MapDef]) -> Premade {
        let per_cpu = aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32;
        let shapes: Vec<MapShape> = defs
            .iter()
            .filter(|d| d.map_type == per_cpu)
            .map(MapDef::shape)
            .collect();
        Premade(Ahead::spawn(move || shapes.into_iter().map(make).collect()))
    }

    /// The map made ahead with exactly `shape`, if there is one (waiting for the
    /// thread the first time); each is taken once.
    pub fn take(&self, shape: &MapShape) -> Option<OwnedFd> {
        self.0
            .take(|(s, fd)| s == shape && fd.is_ok())
            .and_then(|(_, fd)| fd.ok())
    }
}

fn make(shape: MapShape) -> Made {
    let _t = crate::stages::stage("create per-CPU maps ahead (another thread)");
    let fd = crate::sys::create_map_described(
        shape.map_type,
        &shape.name,
        shape.key_size,
        shape.value_size,
        shape.max_entries,
        shape.flags,
        None,
    );
    (shape, fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockc_compiler::bpf::maps::{BtfType, MapDef};

    fn counters(entries: u32) -> MapDef {
        MapDef {
            name: "counters".into(),
            map_type: aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
            key: BtfType::U32,
            value: BtfType::U64,
            max_entries: entries,
            flags: 0,
        }
    }

    fn shape(entries: u32) -> MapShape {
        counters(entries).shape()
    }

    #[test]
    fn only_the_exact_shape_is_taken_and_only_once() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        let premade = Premade::start(&[counters(64)]);
        assert!(
            premade.take(&shape(65)).is_none(),
            "another size is not taken"
        );
        assert!(premade.take(&shape(64)).is_some());
        assert!(premade.take(&shape(64)).is_none(), "taken once");
    }
}
