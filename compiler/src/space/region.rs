//! Regions: a [`Region`] is a finite union of pairwise disjoint, non-empty boxes
//! ([`HeaderBox`]); intersection, subtraction, union, emptiness, covering, overlap and
//! a witness point.
//!
//! Invariant: the boxes of a region are non-empty and pairwise disjoint. Operations
//! that can fragment (subtraction, and what is built on it) take the most boxes their
//! result may have and fail with [`TooFragmented`] past it.

use std::fmt;

use super::{dims::Point, header_box::HeaderBox};

/// A fragmenting operation would have made more boxes than its caller allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooFragmented {
    /// The boxes it had when it stopped (more than the cap).
    pub boxes: usize,
}

impl fmt::Display for TooFragmented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the region fragments into more than {} boxes",
            self.boxes - 1
        )
    }
}

impl std::error::Error for TooFragmented {}

/// At most this many boxes to come: [`Region::from_disjoint`] makes room for exactly
/// that many (what `collect` makes room for at the least).
const FEW: usize = 4;

/// A finite union of pairwise disjoint, non-empty boxes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Region(Vec<HeaderBox>);

impl Region {
    pub fn empty() -> Region {
        Region(Vec::new())
    }

    pub fn full() -> Region {
        Region(vec![HeaderBox::full()])
    }

    /// The region of one box (empty if the box is).
    pub fn from_box(b: HeaderBox) -> Region {
        Region(if b.is_empty() { Vec::new() } else { vec![b] })
    }

    /// The union of boxes the caller knows to be pairwise disjoint (empty ones are
    /// dropped). Room for as many boxes as the iterator may give when that is a few:
    /// a filtered iterator's `collect` makes room for four, and a rule's region is
    /// one box most often (a box is 416 bytes, so at 100k rules the three spare
    /// boxes of each rule's region were 125 MB of a diff's peak per file).
    pub fn from_disjoint(boxes: impl IntoIterator<Item = HeaderBox>) -> Region {
        let boxes = boxes.into_iter().filter(|b| !b.is_empty());
        let mut out = match boxes.size_hint() {
            (_, Some(most)) if most <= FEW => Vec::with_capacity(most),
            _ => Vec::new(),
        };
        out.extend(boxes);
        Region(out)
    }

    /// How many boxes it has room for without growing.
    #[cfg(test)]
    pub(super) fn room(&self) -> usize {
        self.0.capacity()
    }

    pub fn boxes(&self) -> &[HeaderBox] {
        &self.0
    }

    pub fn into_boxes(self) -> Vec<HeaderBox> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, p: &Point) -> bool {
        self.0.iter().any(|b| b.contains(p))
    }

    /// The points of both: at most `|self| · |other|` boxes, each the intersection of
    /// one box of each (disjoint because the boxes of each side are).
    pub fn intersect(
        &self,
        other: &Region,
        max_boxes: usize,
        work: &mut u32,
    ) -> Result<Region, TooFragmented> {
        let mut out = Vec::new();
        for a in &self.0 {
            for b in &other.0 {
                if let Some(x) = a.intersect(b, work) {
                    out.push(x);
                    if out.len() > max_boxes {
                        return Err(TooFragmented { boxes: out.len() });
                    }
                }
            }
        }
        Ok(Region(out))
    }

    /// The points of `self` not in `other`, subtracting `other`'s boxes one after
    /// another. Each subtracted box splits a box into at most [`NDIMS`] (in practice,
    /// into as many as the dimensions where the two differ), so subtracting `m` boxes
    /// from `n` can make up to `n · NDIMS^m` boxes in the worst case: the result may
    /// have at most `max_boxes`.
    pub fn subtract(
        &self,
        other: &Region,
        max_boxes: usize,
        work: &mut u32,
    ) -> Result<Region, TooFragmented> {
        let mut cur = self.0.clone();
        for b in &other.0 {
            let mut next = Vec::with_capacity(cur.len());
            for a in &cur {
                next.extend(a.subtract(b, work));
                if next.len() > max_boxes {
                    return Err(TooFragmented { boxes: next.len() });
                }
            }
            cur = next;
            if cur.is_empty() {
                break;
            }
        }
        Ok(Region(cur))
    }

    /// The points of either: `self` and the part of `other` outside it.
    pub fn union(
        &self,
        other: &Region,
        max_boxes: usize,
        work: &mut u32,
    ) -> Result<Region, TooFragmented> {
        let budget = max_boxes.saturating_sub(self.0.len());
        let extra = other.subtract(self, budget, work)?;
        let mut out = self.0.clone();
        out.extend(extra.0);
        Ok(Region(out))
    }

    /// Whether every point of `other` is in `self`. A box of `other` inside one box of
    /// `self` costs no subtraction; the others are subtracted.
    pub fn covers(
        &self,
        other: &Region,
        max_boxes: usize,
        work: &mut u32,
    ) -> Result<bool, TooFragmented> {
        for b in &other.0 {
            if self.0.iter().any(|a| a.covers(b, work)) {
                continue;
            }
            let left = Region(vec![b.clone()]).subtract(self, max_boxes, work)?;
            if !left.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub fn overlaps(&self, other: &Region, work: &mut u32) -> bool {
        self.0
            .iter()
            .any(|a| other.0.iter().any(|b| a.overlaps(b, work)))
    }

    /// A point of the region (of its first box), `None` when it is empty.
    pub fn witness(&self) -> Option<Point> {
        self.0.first().and_then(HeaderBox::witness)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("{}");
        }
        for (i, b) in self.0.iter().enumerate() {
            write!(f, "{}{b}", if i > 0 { " | " } else { "" })?;
        }
        Ok(())
    }
}
