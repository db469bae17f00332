//! What the loaded programs count and keep, read or reset from user space: the rule
//! counters (packed 256 slots to an element of the per-CPU `counters` map, read by
//! [`counter_map`]), the `limit` buckets and the answer limits' buckets `sockc test`
//! refills before each packet, the answers those limits refused, and the sk_lookup
//! redirects that dropped per declared socket.
//!
//! Invariant: a read sums over CPUs and goes through the map's descriptor only; a
//! map the object does not have is an error naming it, except where having no such
//! map means having nothing to do (no `limit`, no socket).

use std::os::fd::AsFd;

use aya::maps::{Map, MapData, PerCpuArray};
use sockc_compiler::{
    bpf::maps::{SOCKETS_MAP, SOCKET_DROPS_MAP},
    syntax::answers::CREDIT_BIAS,
};

use super::{LoadedObject, MapFault, RuntimeError};
use crate::{counter_map, slot_map, sys};

impl LoadedObject {
    /// Packets and bytes of every counter slot, summed over CPUs: one batch lookup
    /// for the whole map (one lookup per element where the kernel has no batch
    /// lookup).
    pub fn counters(&self) -> Result<Vec<(u64, u64)>, RuntimeError> {
        self.counter_map()?
            .read_all(self.meta.counters)
            .map_err(|e| counters_error(MapFault::Read(e)))
    }

    /// Packets and bytes of one counter slot, summed over CPUs (one syscall, for
    /// callers that know which slot should have moved).
    pub fn counter(&self, slot: u32) -> Result<(u64, u64), RuntimeError> {
        self.counter_map()?
            .read(slot)
            .map_err(|e| counters_error(MapFault::Read(e)))
    }

    /// Fills every `limit` bucket again (`sockc test` runs each packet against full
    /// buckets, which is what its evaluator assumes): the rules' buckets are zeroed
    /// (TAT 0) and the sources' buckets removed; and the answer limits' buckets: the
    /// host-wide one has one answer's credit, every destination a full bucket. Nothing
    /// to do without limits.
    pub fn refill_limits(&self) -> Result<(), RuntimeError> {
        use sockc_compiler::bpf::{
            answers::PEERS_MAP,
            limit::{LIMITS_MAP, SOURCES_MAP},
        };
        if let Some(fd) = self.map_fd(LIMITS_MAP) {
            for slot in 0..self.meta.counters {
                sys::map_update(fd, &slot.to_ne_bytes(), &[0; 8], 0)
                    .map_err(|e| fault(LIMITS_MAP, MapFault::Fill(e)))?;
            }
        }
        self.set_answer_credit(CREDIT_BIAS + 1, 0)?;
        for map in [SOURCES_MAP, PEERS_MAP] {
            let Some(fd) = self.map_fd(map) else {
                continue;
            };
            while let Some(key) =
                sys::map_next_key(fd, None, 24).map_err(|e| fault(map, MapFault::Read(e)))?
            {
                sys::map_delete(fd, &key).map_err(|e| fault(map, MapFault::Fill(e)))?;
            }
        }
        Ok(())
    }

    /// Empties the host-wide bucket of `reject`'s answers only (no answer limits:
    /// nothing to do), as [`Self::empty_limits`] does with every bucket.
    pub fn empty_answer_limits(&self) -> Result<(), RuntimeError> {
        self.set_answer_credit(CREDIT_BIAS, 1 << 63)
    }

    /// The host-wide answer bucket's state (no answer limits: nothing to do): `credit`
    /// (biased, `syntax::answers::CREDIT_BIAS` is zero) and the last refill's time.
    fn set_answer_credit(&self, credit: u64, stamp: u64) -> Result<(), RuntimeError> {
        use sockc_compiler::{bpf::answers, syntax::answers::word};
        let Some(fd) = self.map_fd(answers::ANSWERS_MAP) else {
            return Ok(());
        };
        let mut state = [0u8; word::SIZE as usize];
        state[answers::CREDIT as usize..][..8].copy_from_slice(&credit.to_ne_bytes());
        state[answers::STAMP as usize..][..8].copy_from_slice(&stamp.to_ne_bytes());
        sys::map_update(fd, &0u32.to_ne_bytes(), &state, 0)
            .map_err(|e| fault(answers::ANSWERS_MAP, MapFault::Fill(e)))
    }

    /// Answers the answer limits refused since the object was loaded, summed over
    /// CPUs: (by the host-wide bucket, by a destination's); zeros without limits.
    pub fn answers_limited(&self) -> Result<[u64; 2], RuntimeError> {
        use sockc_compiler::bpf::answers::LIMITED_MAP;
        let Some(map) = self.map(LIMITED_MAP) else {
            return Ok([0; 2]);
        };
        let err = |source: MapFault| fault(LIMITED_MAP, source);
        let arr: PerCpuArray<&MapData, [u64; 2]> =
            PerCpuArray::try_from(map).map_err(|e| err(e.into()))?;
        let mut out = [0; 2];
        for (i, o) in out.iter_mut().enumerate() {
            let per_cpu = arr.get(&(i as u32), 0).map_err(|e| err(e.into()))?;
            *o = per_cpu.iter().map(|v| v[0]).sum();
        }
        Ok(out)
    }

    /// Empties every `limit` bucket (a test's stand-in for "a flood just drained
    /// it"): each rule's bucket and the buckets of the `sources` given (keys of
    /// `limit_sources`, `{slot u32, family u32, address [16]}`) get a theoretical
    /// arrival time 2^62 ns ahead, past any bucket's depth, so no packet fits; the
    /// host-wide answer bucket gets no credit and a last refill far ahead, so no
    /// answer is sent.
    pub fn empty_limits(&self, sources: &[[u8; 24]]) -> Result<(), RuntimeError> {
        use sockc_compiler::bpf::limit::{LIMITS_MAP, SOURCES_MAP};
        let fault = |map: &str, e| fault(map, MapFault::Fill(e));
        self.empty_answer_limits()?;
        let far = (1u64 << 62).to_ne_bytes();
        if let Some(fd) = self.map_fd(LIMITS_MAP) {
            for slot in 0..self.meta.counters {
                sys::map_update(fd, &slot.to_ne_bytes(), &far, 0)
                    .map_err(|e| fault(LIMITS_MAP, e))?;
            }
        }
        if let Some(fd) = self.map_fd(SOURCES_MAP) {
            for key in sources {
                sys::map_update(fd, key, &far, 0).map_err(|e| fault(SOURCES_MAP, e))?;
            }
        }
        Ok(())
    }

    fn counter_map(&self) -> Result<counter_map::Counters<'_>, RuntimeError> {
        let fd = self
            .map_fd(sockc_compiler::bpf::maps::COUNTERS_MAP)
            .ok_or_else(|| counters_error(MapFault::Missing))?;
        counter_map::Counters::of(fd).map_err(|e| counters_error(MapFault::Read(e)))
    }

    /// The object's socket map (the install's, when loaded with one), if its programs
    /// redirect to sockets.
    pub fn socket_map(&self) -> Option<slot_map::SlotMap> {
        let data = match self.map(SOCKETS_MAP)? {
            Map::SockHash(d) | Map::SockMap(d) => d,
            _ => return None,
        };
        let fd = data.fd().as_fd().try_clone_to_owned().ok()?;
        Some(slot_map::SlotMap::from_fd(fd))
    }

    /// Redirects that dropped, per declared socket (in metadata order): (no socket
    /// registered, refused by the kernel), summed over CPUs. Empty when no program
    /// redirects to sockets.
    pub fn socket_drops(&self) -> Result<Vec<(u64, u64)>, RuntimeError> {
        if self.meta.sockets.is_empty() {
            return Ok(Vec::new());
        }
        let err = |source: MapFault| RuntimeError::Map {
            map: SOCKET_DROPS_MAP.into(),
            source,
        };
        let map = self
            .map(SOCKET_DROPS_MAP)
            .ok_or_else(|| err(MapFault::Missing))?;
        let arr: PerCpuArray<&MapData, [u64; 2]> =
            PerCpuArray::try_from(map).map_err(|e| err(e.into()))?;
        let slot = |i: u32| -> Result<u64, RuntimeError> {
            let per_cpu = arr.get(&i, 0).map_err(|e| err(e.into()))?;
            Ok(per_cpu.iter().map(|v| v[0]).sum())
        };
        (0..self.meta.sockets.len() as u32)
            .map(|i| Ok((slot(2 * i)?, slot(2 * i + 1)?)))
            .collect()
    }
}

fn fault(map: &str, source: MapFault) -> RuntimeError {
    RuntimeError::Map {
        map: map.into(),
        source,
    }
}

fn counters_error(source: MapFault) -> RuntimeError {
    RuntimeError::Map {
        map: "counters".into(),
        source,
    }
}
