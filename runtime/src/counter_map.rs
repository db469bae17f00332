//! Rule counters in a `counters` map, read and written slot by slot whatever its
//! layout (`sockc_compiler::bpf::counters`): elements of many slots (this sockc's),
//! or one slot an element (installs an older sockc made, until they are applied again).
//! Every reader and writer of rule counters goes through [`Counters`]: `stats`, the
//! test runs' counts, a reset, the counts a re-apply carries over, the slots new rules
//! take over in place.
//!
//! Invariant: a write replaces a whole element, every CPU's copy of it (the kernel
//! takes a per-CPU value from user space only whole), after reading it, so counts a
//! program adds to that element between the read and the write are lost — for a reset
//! as for any reset of a per-CPU counter, and for the other slots of the element when
//! counts are carried over or zeroed while programs run; writes are grouped so that
//! each element is read and written once.

use std::{io, os::fd::BorrowedFd};

use sockc_compiler::bpf::counters::{SlotLayout, SLOT_BYTES};

/// A `counters` map, by descriptor.
pub struct Counters<'a> {
    fd: BorrowedFd<'a>,
    layout: SlotLayout,
    /// Bytes of one CPU's copy of an element (the value size, rounded up to 8).
    per_cpu: usize,
    cpus: usize,
    max_entries: u32,
}

/// Every element read at once ([`Counters::read_elements`]).
pub struct Elements<'c> {
    counters: &'c Counters<'c>,
    bytes: Vec<u8>,
}

impl<'a> Counters<'a> {
    /// The counters map `fd`; its layout is told by its value size.
    pub fn of(fd: BorrowedFd<'a>) -> io::Result<Counters<'a>> {
        let info = crate::sys::map_info(fd)?;
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        Ok(Counters {
            fd,
            layout: SlotLayout::of_value_size(info.value_size),
            per_cpu: (info.value_size as usize).next_multiple_of(8),
            cpus,
            max_entries: info.max_entries,
        })
    }

    /// Bytes of one element with every CPU's copy.
    fn element_bytes(&self) -> usize {
        self.per_cpu * self.cpus
    }

    /// Every element: one batch lookup (one lookup an element where the kernel has no
    /// batch lookup).
    pub fn read_elements(&self) -> io::Result<Elements<'_>> {
        let len = self.element_bytes();
        let bytes = match crate::sys::map_lookup_batch(self.fd, self.max_entries, len) {
            Err(e) if crate::sys::batch_unsupported(&e) => {
                let mut all = Vec::with_capacity(len * self.max_entries as usize);
                for e in 0..self.max_entries {
                    all.extend(self.element(e)?);
                }
                all
            }
            other => other?,
        };
        Ok(Elements {
            counters: self,
            bytes,
        })
    }

    /// One element, every CPU's copy.
    fn element(&self, e: u32) -> io::Result<Vec<u8>> {
        crate::sys::map_lookup(self.fd, &e.to_ne_bytes(), self.element_bytes())?
            .ok_or_else(|| io::Error::other(format!("counters: no element {e}")))
    }

    /// Packets and bytes of every slot below `slots`, summed over CPUs.
    pub fn read_all(&self, slots: u32) -> io::Result<Vec<(u64, u64)>> {
        let all = self.read_elements()?;
        Ok((0..slots).map(|s| all.sum(s)).collect())
    }

    /// Packets and bytes of `slot`, summed over CPUs (one lookup).
    pub fn read(&self, slot: u32) -> io::Result<(u64, u64)> {
        let (e, _) = self.layout.place(slot);
        let one = Elements {
            counters: self,
            bytes: self.element(e)?,
        };
        Ok(one.sum_in(0, slot))
    }

    /// Calls `change` with every CPU's `[packets, bytes]` of each slot of `slots`, and
    /// writes what it leaves: each element read once and written once.
    pub fn update(
        &self,
        slots: &[u32],
        mut change: impl FnMut(u32, &mut [[u64; 2]]),
    ) -> io::Result<()> {
        let mut by_element: Vec<(u32, usize, u32)> = slots
            .iter()
            .map(|&s| {
                let (e, off) = self.layout.place(s);
                (e, off, s)
            })
            .collect();
        by_element.sort_unstable();
        for group in by_element.chunk_by(|a, b| a.0 == b.0) {
            let e = group[0].0;
            let mut bytes = self.element(e)?;
            for &(_, off, slot) in group {
                let mut values: Vec<[u64; 2]> =
                    (0..self.cpus).map(|c| self.get(&bytes, c, off)).collect();
                change(slot, &mut values);
                for (c, v) in values.iter().enumerate() {
                    self.put(&mut bytes, c, off, *v);
                }
            }
            crate::sys::map_update(self.fd, &e.to_ne_bytes(), &bytes, 0)?;
        }
        Ok(())
    }

    /// Zeroes `slots` (every CPU's count).
    pub fn zero(&self, slots: &[u32]) -> io::Result<()> {
        self.update(slots, |_, values| values.fill([0, 0]))
    }

    /// CPU `cpu`'s `[packets, bytes]` at byte `off` of an element's copies `bytes`
    /// (zeros past their end: a slot the map has no room for counts nothing).
    fn get(&self, bytes: &[u8], cpu: usize, off: usize) -> [u64; 2] {
        let at = cpu * self.per_cpu + off;
        let word = |i: usize| {
            bytes
                .get(i..i + 8)
                .map_or(0, |w| u64::from_ne_bytes(w.try_into().expect("8 bytes")))
        };
        [word(at), word(at + 8)]
    }

    fn put(&self, bytes: &mut [u8], cpu: usize, off: usize, v: [u64; 2]) {
        let at = cpu * self.per_cpu + off;
        bytes[at..at + 8].copy_from_slice(&v[0].to_ne_bytes());
        bytes[at + 8..at + 16].copy_from_slice(&v[1].to_ne_bytes());
    }

    /// Slots the map has room for.
    pub fn capacity(&self) -> u32 {
        self.layout.capacity(self.max_entries)
    }
}

impl Elements<'_> {
    /// Every CPU's `[packets, bytes]` of `slot`.
    pub fn per_cpu(&self, slot: u32) -> Vec<[u64; 2]> {
        let c = self.counters;
        let (e, off) = c.layout.place(slot);
        let base = (e as usize * c.element_bytes()).min(self.bytes.len());
        (0..c.cpus)
            .map(|cpu| c.get(&self.bytes[base..], cpu, off))
            .collect()
    }

    /// Packets and bytes of `slot`, summed over CPUs.
    pub fn sum(&self, slot: u32) -> (u64, u64) {
        let (e, _) = self.counters.layout.place(slot);
        self.sum_in(e as usize * self.counters.element_bytes(), slot)
    }

    /// [`Elements::sum`] in the element that starts at byte `base`.
    fn sum_in(&self, base: usize, slot: u32) -> (u64, u64) {
        let c = self.counters;
        let (_, off) = c.layout.place(slot);
        let base = base.min(self.bytes.len());
        (0..c.cpus)
            .map(|cpu| c.get(&self.bytes[base..], cpu, off))
            .fold((0, 0), |(p, b), v| (p + v[0], b + v[1]))
    }
}

const _: () = assert!(SLOT_BYTES == 16, "a slot is [u64; 2]");

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, OwnedFd};

    use sockc_compiler::bpf::counters::SLOTS_PER_ELEMENT;

    use super::*;

    fn per_cpu_array(value_size: u32, max_entries: u32) -> OwnedFd {
        let per_cpu = aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32;
        crate::sys::create_map_described(per_cpu, "counters", 4, value_size, max_entries, 0, None)
            .expect("per-CPU array")
    }

    /// Slots written through [`Counters::update`] read back, summed and per CPU, in the
    /// packed layout and in the one-slot-an-element layout of older installs, and
    /// writing one slot leaves its neighbours in the same element alone.
    #[test]
    fn both_layouts_read_back_what_was_written() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        let packed = per_cpu_array(SLOTS_PER_ELEMENT * SLOT_BYTES, 3);
        let one = per_cpu_array(SLOT_BYTES, 700);
        for (fd, capacity) in [(packed.as_fd(), 3 * SLOTS_PER_ELEMENT), (one.as_fd(), 700)] {
            let c = Counters::of(fd).unwrap();
            assert_eq!(c.capacity(), capacity);
            let slots = [0, 1, 255, 256, 600];
            c.update(&slots, |s, v| v[0] = [u64::from(s) + 1, 100 * u64::from(s)])
                .unwrap();
            c.update(&[1], |_, v| v.fill([0, 0])).unwrap();
            let all = c.read_all(601).unwrap();
            for (s, want) in [(0, (1, 0)), (1, (0, 0)), (2, (0, 0)), (255, (256, 25_500))] {
                assert_eq!(all[s], want, "slot {s}");
            }
            assert_eq!(c.read(256).unwrap(), (257, 25_600));
            assert_eq!(c.read(600).unwrap(), (601, 60_000));
            let elements = c.read_elements().unwrap();
            assert_eq!(elements.per_cpu(600)[0], [601, 60_000]);
            assert_eq!(elements.sum(599), (0, 0));
        }
    }
}
