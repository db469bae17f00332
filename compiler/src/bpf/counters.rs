//! Where a rule's counter lives in the per-CPU `counters` map: slots of 16 bytes
//! (`{u64 packets, u64 bytes}`), [`SLOTS_PER_ELEMENT`] of them in each element, so that
//! slot `s` is at byte `(s % SLOTS_PER_ELEMENT) * 16` of element `s / SLOTS_PER_ELEMENT`.
//!
//! Why elements of many slots: the kernel allocates each element of a per-CPU array
//! on its own, and 11k elements of 16 bytes (10k rules) took 5 ms to create, 112k
//! (100k rules) 65 ms — longer than compiling them, and slowing whatever else ran then
//! —, where 6 or 55 elements of 32 KiB took 0.1-0.3 ms. Elements of 4 KiB keep nearly
//! all of that gain and keep small what a write from user space can race with: it
//! replaces a whole element, so an increment the kernel makes between the read and the
//! write of another slot in it is lost (zeroing a rule's counter in a live map).
//!
//! Invariant: the lowering (`emit::emit_count`), the map's definition (`maps`) and
//! every reader and writer of counters in user space place a slot with [`place`]. A
//! `counters` map whose value is one slot (16 bytes) is the layout of installs an
//! older sockc made, and readers still take it (`SlotLayout::of_value_size`).

/// Bytes of one counter slot: packets, then bytes, both `u64`.
pub const SLOT_BYTES: u32 = 16;

/// Counter slots in one element of the `counters` map (4 KiB).
pub const SLOTS_PER_ELEMENT: u32 = 256;

/// `log2(SLOTS_PER_ELEMENT)`: the shift from a slot to its element.
pub const ELEMENT_SHIFT: u32 = SLOTS_PER_ELEMENT.trailing_zeros();

/// `log2(SLOT_BYTES)`: the shift from a slot within its element to its byte offset.
pub const SLOT_SHIFT: u32 = SLOT_BYTES.trailing_zeros();

/// Elements of a `counters` map with room for `slots` slots.
pub fn elements(slots: u32) -> u32 {
    slots.div_ceil(SLOTS_PER_ELEMENT).max(1)
}

/// How a `counters` map lays its slots out, told by its value size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotLayout {
    /// [`SLOTS_PER_ELEMENT`] slots an element (this sockc's).
    Packed,
    /// One slot an element (the installs of a sockc before the packed layout).
    OnePerElement,
}

impl SlotLayout {
    /// The layout of a `counters` map whose values are `value_size` bytes.
    pub fn of_value_size(value_size: u32) -> SlotLayout {
        if value_size == SLOT_BYTES {
            SlotLayout::OnePerElement
        } else {
            SlotLayout::Packed
        }
    }

    /// The element and the byte offset in it of slot `slot`.
    pub fn place(self, slot: u32) -> (u32, usize) {
        match self {
            SlotLayout::Packed => place(slot),
            SlotLayout::OnePerElement => (slot, 0),
        }
    }

    /// Slots a map of `max_entries` elements has room for.
    pub fn capacity(self, max_entries: u32) -> u32 {
        match self {
            SlotLayout::Packed => max_entries.saturating_mul(SLOTS_PER_ELEMENT),
            SlotLayout::OnePerElement => max_entries,
        }
    }
}

/// The element of the packed layout that holds slot `slot`, and the slot's byte offset
/// in it.
pub fn place(slot: u32) -> (u32, usize) {
    (
        slot >> ELEMENT_SHIFT,
        ((slot & (SLOTS_PER_ELEMENT - 1)) << SLOT_SHIFT) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fill_elements_in_order() {
        assert_eq!(SLOTS_PER_ELEMENT * SLOT_BYTES, 4 * 1024);
        assert_eq!(place(0), (0, 0));
        assert_eq!(place(1), (0, 16));
        assert_eq!(place(255), (0, 255 * 16));
        assert_eq!(place(256), (1, 0));
        assert_eq!(place(11_071), (43, 63 * 16));
        assert_eq!(elements(0), 1);
        assert_eq!(elements(256), 1);
        assert_eq!(elements(257), 2);
        assert_eq!(SlotLayout::of_value_size(16).place(9), (9, 0));
        assert_eq!(SlotLayout::of_value_size(4 * 1024).capacity(44), 11_264);
    }
}
