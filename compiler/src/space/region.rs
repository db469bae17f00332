//! Boxes and regions: a [`HeaderBox`] is a product of one [`ValueSet`] per dimension,
//! a [`Region`] a finite union of pairwise disjoint, non-empty boxes; intersection,
//! subtraction, union, emptiness, covering, overlap and a witness point.
//!
//! Invariant: the boxes of a region are non-empty and pairwise disjoint. Subtraction
//! splits along the dimensions in [`Dim::ALL`] order, so boxes that constrain a
//! dimension only where it is relevant keep doing so (see the module docs of
//! [`super`]). Operations that can fragment (subtraction, and what is built on it)
//! take the most boxes their result may have and fail with [`TooFragmented`] past it.

use std::{fmt, hash::BuildHasher};

use foldhash::fast::FixedState;

use super::{
    dims::{frame, Dim, Point, DIMS, NDIMS},
    set::ValueSet,
};

/// A product of one value set per dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderBox([ValueSet; NDIMS]);

impl HeaderBox {
    /// Every point.
    pub fn full() -> HeaderBox {
        HeaderBox(Dim::ALL.map(|d| ValueSet::full(d.max_value())))
    }

    pub fn get(&self, d: Dim) -> &ValueSet {
        &self.0[d.index()]
    }

    /// The box with dimension `d` replaced by `values` (cut to the domain).
    pub fn with(mut self, d: Dim, values: ValueSet) -> HeaderBox {
        let domain = ValueSet::full(d.max_value());
        self.0[d.index()] = values.intersect(&domain, &mut 0);
        self
    }

    /// True when some dimension holds no value.
    pub fn is_empty(&self) -> bool {
        self.0.iter().any(ValueSet::is_empty)
    }

    pub fn contains(&self, p: &Point) -> bool {
        Dim::ALL.iter().all(|&d| self.get(d).contains(p[d]))
    }

    /// The common points, if any.
    pub fn intersect(&self, other: &HeaderBox, work: &mut u32) -> Option<HeaderBox> {
        let mut out = self.clone();
        for (mine, theirs) in out.0.iter_mut().zip(&other.0) {
            *mine = mine.intersect(theirs, work);
            if mine.is_empty() {
                return None;
            }
        }
        Some(out)
    }

    /// Whether every point of `other` is in `self` (true for an empty `other`).
    pub fn covers(&self, other: &HeaderBox, work: &mut u32) -> bool {
        other.is_empty() || self.0.iter().zip(&other.0).all(|(a, b)| a.covers(b, work))
    }

    pub fn overlaps(&self, other: &HeaderBox, work: &mut u32) -> bool {
        self.0
            .iter()
            .zip(&other.0)
            .all(|(a, b)| a.overlaps(b, work))
    }

    /// `self \ other` as at most [`NDIMS`] pairwise disjoint boxes: for each dimension
    /// `d` in order, the part of `self` that agrees with `other` on the dimensions
    /// before `d` and leaves it on `d`.
    pub fn subtract(&self, other: &HeaderBox, work: &mut u32) -> Vec<HeaderBox> {
        if self.is_empty() {
            return Vec::new();
        }
        if !self.overlaps(other, work) {
            return vec![self.clone()];
        }
        let mut pieces = Vec::new();
        let mut rest = self.clone();
        for d in 0..NDIMS {
            let outside = rest.0[d].subtract(&other.0[d], work);
            if !outside.is_empty() {
                let mut piece = rest.clone();
                piece.0[d] = outside;
                pieces.push(piece);
            }
            rest.0[d] = rest.0[d].intersect(&other.0[d], work);
        }
        pieces
    }

    /// The dimensions (by index, ascending) where the box does not hold the whole
    /// domain: the only ones [`HeaderBox::split_on`] needs to look at.
    pub fn constrained_dims(&self) -> Vec<usize> {
        Dim::ALL
            .iter()
            .filter(|d| !self.get(**d).is_full(d.max_value()))
            .map(|d| d.index())
            .collect()
    }

    /// Whether the boxes meet, looking only at `dims`, which must hold every
    /// dimension where `other` is not whole (then the others always meet).
    pub fn overlaps_on(&self, other: &HeaderBox, dims: &[usize], work: &mut u32) -> bool {
        dims.iter().all(|&d| self.0[d].overlaps(&other.0[d], work))
    }

    /// `self ∩ other` and `self \ other` in one pass, `None` when they do not meet;
    /// the outside pieces are those of [`HeaderBox::subtract`]. Only `dims` are looked
    /// at: they must be ascending and hold every dimension where `other` is not whole
    /// (as [`HeaderBox::constrained_dims`] gives), so a rule that constrains a few
    /// dimensions costs those few, not [`NDIMS`].
    pub fn split_on(
        &self,
        other: &HeaderBox,
        dims: &[usize],
        work: &mut u32,
    ) -> Option<(HeaderBox, Vec<HeaderBox>)> {
        if !self.overlaps_on(other, dims, work) {
            return None;
        }
        let mut outside = Vec::new();
        let mut inside = self.clone();
        for &d in dims {
            let out = inside.0[d].subtract(&other.0[d], work);
            if !out.is_empty() {
                let mut piece = inside.clone();
                piece.0[d] = out;
                outside.push(piece);
            }
            inside.0[d] = inside.0[d].intersect(&other.0[d], work);
        }
        Some((inside, outside))
    }

    /// The values on dimension number `d` (as [`Dim::index`] numbers them).
    pub fn dim(&self, d: usize) -> &ValueSet {
        &self.0[d]
    }

    /// The union of `self` and `other`, which must agree on every dimension but `d`
    /// (then the union is a box: theirs on the others, the union of theirs on `d`).
    pub fn join_on(mut self, other: &HeaderBox, d: usize, work: &mut u32) -> HeaderBox {
        debug_assert!((0..NDIMS).all(|e| e == d || self.0[e] == other.0[e]));
        self.0[d] = self.0[d].union(&other.0[d], work);
        self
    }

    /// `boxes` with every two that agree on all dimensions but one joined into one
    /// (the union of their values there), until no two agree so: the same points in
    /// as many or fewer boxes, each the union of some of the boxes given. Pairwise
    /// disjoint boxes stay so (a join holds only the points of the two joined). Boxes
    /// are grouped by a hash of the dimensions they must agree on, so a pass costs
    /// about the boxes times [`NDIMS`], not every pair.
    pub fn coalesce(mut boxes: Vec<HeaderBox>, work: &mut u32) -> Vec<HeaderBox> {
        let mut hashes: Vec<[u64; NDIMS]> = boxes.iter().map(HeaderBox::dim_hashes).collect();
        let mut joined = true;
        while joined && boxes.len() > 1 {
            joined = false;
            for d in 0..NDIMS {
                joined |= join_on(&mut boxes, &mut hashes, d, work);
            }
        }
        boxes
    }

    /// A hash of each dimension's values, mixed with the dimension's number.
    fn dim_hashes(&self) -> [u64; NDIMS] {
        std::array::from_fn(|d| FixedState::default().hash_one((d, &self.0[d])))
    }

    /// One point of the box, `None` when it is empty: in each dimension the first value
    /// of its [`DimSpec::prefer`](super::dims::DimSpec::prefer) list the box holds, else
    /// the lowest (the lowest address or port of the box: a readable example packet).
    pub fn witness(&self) -> Option<Point> {
        if self.is_empty() {
            return None;
        }
        let mut p = Point([0; NDIMS]);
        for d in Dim::ALL {
            let set = self.get(d);
            // The family's own ICMP; the conntrack state the packet has without an
            // entry (so the example need not name one).
            let own: Option<u128> = match (d, p[Dim::Frame]) {
                (Dim::Proto, frame::V4) => Some(1),
                (Dim::Proto, frame::V6) => Some(58),
                (Dim::Ct, _) => Some(p.ct_without_entry()),
                _ => None,
            };
            if matches!(d, Dim::InDev | Dim::OutDev) {
                // A device `sockc test` can name: none when the box allows it, but
                // for an outgoing device a rule tests, the loopback a test run gives
                // the kernel.
                let tested = !set.is_full(u128::MAX);
                let lo = (d == Dim::OutDev && tested).then(super::dev::loopback);
                // (A set of no nameable device, which no rule makes, takes its lowest.)
                p[d] = super::dev::readable(set, lo.or(Some(0))).or(set.lowest())?;
                continue;
            }
            let prefer = DIMS[d.index()].prefer;
            let first_preferred = prefer[..prefer.len().min(2)]
                .iter()
                .chain(own.as_slice())
                .chain(prefer)
                .find(|&&v| set.contains(v));
            p[d] = first_preferred.copied().or(set.lowest())?;
        }
        Some(p)
    }
}

impl fmt::Display for HeaderBox {
    /// The dimensions that are not whole, as `name=lo-hi,...`; `*` for the full box.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for d in Dim::ALL {
            let set = self.get(d);
            if set.is_full(d.max_value()) {
                continue;
            }
            let parts: Vec<String> = set
                .intervals()
                .iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        format!("{lo:#x}")
                    } else {
                        format!("{lo:#x}-{hi:#x}")
                    }
                })
                .collect();
            write!(
                f,
                "{}{}={}",
                if any { " " } else { "" },
                d.spec().name,
                parts.join(",")
            )?;
            any = true;
        }
        if !any {
            f.write_str("*")?;
        }
        Ok(())
    }
}

/// One pass of [`HeaderBox::coalesce`] on dimension `d`: each box joined with all the
/// later boxes equal to it off `d` (their values on `d` unioned at once); true when
/// any were.
fn join_on(
    boxes: &mut Vec<HeaderBox>,
    hashes: &mut Vec<[u64; NDIMS]>,
    d: usize,
    work: &mut u32,
) -> bool {
    let off_d = |h: &[u64; NDIMS]| {
        h.iter()
            .enumerate()
            .filter(|&(e, _)| e != d)
            .fold(0u64, |acc, (_, x)| acc.wrapping_add(*x))
    };
    let mut order: Vec<(u64, usize)> = hashes.iter().map(off_d).zip(0..).collect();
    order.sort_unstable();
    let mut gone = vec![false; boxes.len()];
    for run in order
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
    {
        for (i, &(_, a)) in run.iter().enumerate() {
            if gone[a] {
                continue;
            }
            let agree = |b: usize| (0..NDIMS).all(|e| e == d || boxes[a].0[e] == boxes[b].0[e]);
            let class: Vec<usize> = run[i + 1..]
                .iter()
                .map(|&(_, b)| b)
                .filter(|&b| !gone[b] && agree(b))
                .collect();
            if class.is_empty() {
                continue;
            }
            let values = class
                .iter()
                .flat_map(|&b| boxes[b].0[d].intervals().iter().copied());
            let all: Vec<_> = boxes[a].0[d]
                .intervals()
                .iter()
                .copied()
                .chain(values)
                .collect();
            *work = work.saturating_add(u32::try_from(all.len()).unwrap_or(u32::MAX));
            boxes[a].0[d] = ValueSet::from_intervals(all);
            hashes[a] = boxes[a].dim_hashes();
            for b in class {
                gone[b] = true;
            }
        }
    }
    if !gone.contains(&true) {
        return false;
    }
    let mut keep = gone.iter().map(|g| !g);
    boxes.retain(|_| keep.next().unwrap());
    let mut keep = gone.iter().map(|g| !g);
    hashes.retain(|_| keep.next().unwrap());
    true
}

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
    /// dropped).
    pub fn from_disjoint(boxes: impl IntoIterator<Item = HeaderBox>) -> Region {
        Region(boxes.into_iter().filter(|b| !b.is_empty()).collect())
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
