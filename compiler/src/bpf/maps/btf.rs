//! [`BtfType`]: a map's key or value type as a C type, its size and alignment laid out
//! as a C compiler for BPF would.
//!
//! Invariant: a size or offset too large to describe saturates at `u32::MAX`, never wraps.

/// A BTF type description for map keys and values.
///
/// Structs are laid out in declaration order with natural alignment (each member at the
/// next multiple of its own alignment; the size is rounded up to the largest member
/// alignment), exactly like a C compiler for BPF would.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BtfType {
    U8,
    U16,
    U32,
    U64,
    Array {
        elem: Box<BtfType>,
        len: u32,
    },
    Struct {
        name: String,
        members: Vec<(String, BtfType)>,
    },
}

fn round_up(v: u64, align: u64) -> u64 {
    v.div_ceil(align) * align
}

impl BtfType {
    /// Size in bytes. Saturates at `u32::MAX` for types too large to describe
    /// ([`crate::obj::write_object`] rejects those).
    pub fn size(&self) -> u32 {
        self.checked_size()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(u32::MAX)
    }

    /// Natural alignment in bytes (1 for an empty struct).
    pub(crate) fn align(&self) -> u32 {
        match self {
            BtfType::U8 => 1,
            BtfType::U16 => 2,
            BtfType::U32 => 4,
            BtfType::U64 => 8,
            BtfType::Array { elem, .. } => elem.align(),
            BtfType::Struct { members, .. } => {
                members.iter().map(|(_, t)| t.align()).max().unwrap_or(1)
            }
        }
    }

    /// Byte offset of each member of a struct, in declaration order (empty for
    /// non-structs).
    pub(crate) fn member_offsets(&self) -> Vec<u32> {
        match self {
            BtfType::Struct { members, .. } => {
                let mut off = 0u64;
                members
                    .iter()
                    .map(|(_, t)| {
                        off = round_up(off, u64::from(t.align()));
                        let this = off;
                        off += u64::from(t.size());
                        u32::try_from(this).unwrap_or(u32::MAX)
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Size in bytes, or `None` if it does not fit in 32 bits.
    pub(crate) fn checked_size(&self) -> Option<u64> {
        let size = match self {
            BtfType::U8 => 1,
            BtfType::U16 => 2,
            BtfType::U32 => 4,
            BtfType::U64 => 8,
            BtfType::Array { elem, len } => elem.checked_size()?.checked_mul(u64::from(*len))?,
            BtfType::Struct { members, .. } => {
                let mut off = 0u64;
                for (_, t) in members {
                    off = round_up(off, u64::from(t.align())) + t.checked_size()?;
                    if off > u64::from(u32::MAX) {
                        return None;
                    }
                }
                round_up(off, u64::from(self.align()))
            }
        };
        (size <= u64::from(u32::MAX)).then_some(size)
    }
}
