//! A cube's packet-mark tests (`-m mark --mark V[/M]`, nft `meta mark`) as the
//! language's `mark VALUE/MASK`, in netfilter blocks, which read `skb->mark` where
//! the original's chain does (a TC program sees the mark before netfilter's mangle
//! chains set it; docs/language.md, "Marks"). The marks a cube admits are sorted ranges;
//! each range is cut into aligned blocks, and each block is one `mark V/M` whose mask
//! keeps the block's fixed high bits — a mask the language keeps exactly. A set of
//! marks or a range is then several rules, one per block.
//!
//! Invariant: the rules written admit exactly the cube's marks, or the cube is
//! refused with [`Feature::Mark`] (outside netfilter blocks, or past [`MAX_BLOCKS`] blocks: a negated
//! mark, or a low-bit mask, whose marks are many ranges).

use crate::{
    algebra::{Cube, Dim, Ivs},
    features::Feature,
};

/// The most `mark` rules one cube becomes.
pub const MAX_BLOCKS: usize = 16;

/// The `mark V/M` words of each rule `cube` becomes (one empty list when it tests no
/// mark); `readable`: the block's hook reads the packet's mark.
pub fn words(cube: &Cube, readable: bool) -> Result<Vec<Vec<String>>, (Feature, String)> {
    let all = Ivs::range(0, u32::MAX as u128);
    let Some(marks) = cube.get(Dim::Mark).filter(|v| **v != all) else {
        return Ok(vec![Vec::new()]);
    };
    if !readable {
        return Err((
            Feature::Mark,
            "the packet's mark outside netfilter blocks".into(),
        ));
    }
    let mut out = Vec::new();
    for &(lo, hi) in marks.ranges() {
        for (value, mask) in blocks(lo, hi) {
            out.push(vec![format!("mark {value:#x}/{mask:#x}")]);
            if out.len() > MAX_BLOCKS {
                let why = format!("marks that take more than {MAX_BLOCKS} `mark V/M` rules");
                return Err((Feature::Mark, why));
            }
        }
    }
    Ok(out)
}

/// `lo..=hi` as aligned blocks `(value, mask)`: each admits `mark & mask == value`.
fn blocks(mut lo: u128, hi: u128) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    while lo <= hi {
        let mut size = 1u128;
        while lo.is_multiple_of(size * 2) && lo + size * 2 - 1 <= hi && size < (1 << 32) {
            size *= 2;
        }
        let mask = !((size - 1) as u32);
        out.push((lo as u32, mask));
        lo += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_aligned_blocks() {
        assert_eq!(blocks(0x10, 0x10), vec![(0x10, u32::MAX)]);
        assert_eq!(
            blocks(0x0100_0000, 0x01ff_ffff),
            vec![(0x0100_0000, 0xff00_0000)]
        );
        assert_eq!(blocks(5, 9), vec![(5, !0), (6, !1), (8, !1)]);
        assert_eq!(blocks(0, u32::MAX as u128), vec![(0, 0)]);
    }
}
