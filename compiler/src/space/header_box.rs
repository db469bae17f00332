//! Boxes: a [`HeaderBox`] is a product of one [`ValueSet`] per dimension, with
//! intersection, subtraction, covering, overlap, joins and a witness point.
//!
//! A box stores the value sets of the dimensions where it is not the whole domain
//! (a rule constrains a few of the [`NDIMS`]), so it is copied, moved and compared at
//! the cost of those few; the others read as the whole domain.
//!
//! Invariant: a box's `narrow` bits are exactly the dimensions whose set is not the
//! whole domain, and `sets` holds those sets in ascending dimension order (so equal
//! boxes have equal fields, and [`Ord`] is that of the [`NDIMS`] sets in order).
//! Subtraction splits along the dimensions in [`Dim::ALL`] order, so boxes that
//! constrain a dimension only where it is relevant keep doing so (see the module docs
//! of [`super`]).

use std::{
    cmp::Ordering,
    fmt,
    hash::{BuildHasher, Hash, Hasher},
    sync::LazyLock,
};

use foldhash::fast::FixedState;
use smallvec::SmallVec;

use super::{
    dims::{frame, Dim, Point, DIMS, NDIMS},
    set::ValueSet,
};

/// Each dimension's whole domain, which a box reads where it stores no set.
static WHOLE: LazyLock<[ValueSet; NDIMS]> =
    LazyLock::new(|| Dim::ALL.map(|d| ValueSet::full(d.max_value())));

/// The dimensions of `bits` (bit `d` for dimension number `d`), ascending.
pub fn dims_of(bits: u32) -> impl Iterator<Item = usize> {
    let mut left = bits;
    std::iter::from_fn(move || {
        let d = left.trailing_zeros() as usize;
        left &= left.checked_sub(1)?;
        Some(d)
    })
}

/// Sets stored in a box without allocating: ClassBench-like rules constrain the
/// frame, protocol, transport header, two addresses and two ports.
const INLINE: usize = 8;

/// A product of one value set per dimension; see the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderBox {
    /// Bit `d` set: dimension number `d` is not the whole domain.
    narrow: u32,
    /// The sets of the `narrow` dimensions, by ascending dimension.
    sets: SmallVec<[ValueSet; INLINE]>,
}

const _: () = assert!(NDIMS <= 32, "a dimension is a bit of a u32");

impl HeaderBox {
    /// Every point.
    pub fn full() -> HeaderBox {
        HeaderBox {
            narrow: 0,
            sets: SmallVec::new(),
        }
    }

    pub fn get(&self, d: Dim) -> &ValueSet {
        self.dim(d.index())
    }

    /// The values on dimension number `d` (as [`Dim::index`] numbers them).
    pub fn dim(&self, d: usize) -> &ValueSet {
        if self.narrow & (1 << d) != 0 {
            &self.sets[self.rank(d)]
        } else {
            &WHOLE[d]
        }
    }

    /// The values on each dimension of `dims` (bits, which must hold every dimension
    /// the box constrains), ascending: [`HeaderBox::dim`] without finding each set.
    fn sets_on(&self, dims: u32) -> impl Iterator<Item = &ValueSet> {
        debug_assert_eq!(dims & self.narrow, self.narrow);
        let (whole, mut stored) = (&*WHOLE, self.sets.iter());
        dims_of(dims).map(move |d| match self.narrow & (1 << d) {
            0 => &whole[d],
            _ => stored.next().expect("a set per narrow dimension"),
        })
    }

    /// The dimensions where either box is not whole, each with both boxes' values.
    fn side_by_side<'a>(
        &'a self,
        other: &'a HeaderBox,
    ) -> impl Iterator<Item = (usize, &'a ValueSet, &'a ValueSet)> {
        let either = self.narrow | other.narrow;
        let pairs = self.sets_on(either).zip(other.sets_on(either));
        dims_of(either).zip(pairs).map(|(d, (a, b))| (d, a, b))
    }

    /// Where dimension `d`'s set is (or would be) in `sets`.
    fn rank(&self, d: usize) -> usize {
        (self.narrow & ((1u32 << d) - 1)).count_ones() as usize
    }

    /// Sets dimension `d` to `values`, which lie in its domain.
    fn put(&mut self, d: usize, values: ValueSet) {
        let (bit, at) = (1u32 << d, self.rank(d));
        let whole = values.is_full(DIMS[d].max);
        match (self.narrow & bit != 0, whole) {
            (true, true) => {
                self.sets.remove(at);
                self.narrow &= !bit;
            }
            (true, false) => self.sets[at] = values,
            (false, true) => {}
            (false, false) => {
                self.sets.insert(at, values);
                self.narrow |= bit;
            }
        }
    }

    /// The box with dimension `d` replaced by `values` (cut to the domain).
    pub fn with(mut self, d: Dim, values: ValueSet) -> HeaderBox {
        self.put(d.index(), values.intersect(&WHOLE[d.index()], &mut 0));
        self
    }

    /// True when some dimension holds no value.
    pub fn is_empty(&self) -> bool {
        self.sets.iter().any(ValueSet::is_empty)
    }

    pub fn contains(&self, p: &Point) -> bool {
        Dim::ALL.iter().all(|&d| self.get(d).contains(p[d]))
    }

    /// The common points, if any.
    pub fn intersect(&self, other: &HeaderBox, work: &mut u32) -> Option<HeaderBox> {
        let narrow = self.narrow | other.narrow;
        let mut sets = SmallVec::with_capacity(narrow.count_ones() as usize);
        for d in dims_of(narrow) {
            let bit = 1 << d;
            let values = if self.narrow & other.narrow & bit != 0 {
                self.dim(d).intersect(other.dim(d), work)
            } else if self.narrow & bit != 0 {
                self.dim(d).clone()
            } else {
                other.dim(d).clone()
            };
            if values.is_empty() {
                return None;
            }
            sets.push(values);
        }
        Some(HeaderBox { narrow, sets })
    }

    /// Whether every point of `other` is in `self` (true for an empty `other`).
    pub fn covers(&self, other: &HeaderBox, work: &mut u32) -> bool {
        other.is_empty() || dims_of(self.narrow).all(|d| self.dim(d).covers(other.dim(d), work))
    }

    pub fn overlaps(&self, other: &HeaderBox, work: &mut u32) -> bool {
        dims_of(self.narrow | other.narrow).all(|d| self.dim(d).overlaps(other.dim(d), work))
    }

    /// `self \ other` as at most [`NDIMS`] pairwise disjoint boxes: for each dimension
    /// `d` in order, the part of `self` that agrees with `other` on the dimensions
    /// before `d` and leaves it on `d` (none where `other` is whole).
    pub fn subtract(&self, other: &HeaderBox, work: &mut u32) -> Vec<HeaderBox> {
        if self.is_empty() {
            return Vec::new();
        }
        if !self.overlaps(other, work) {
            return vec![self.clone()];
        }
        let (dims, mut outside) = (other.constrained_dims(), Vec::new());
        self.cut(other, &dims, work, &mut outside);
        outside
    }

    /// The dimensions (by index, ascending) where the box does not hold the whole
    /// domain: the only ones [`HeaderBox::split_on`] needs to look at.
    pub fn constrained_dims(&self) -> Vec<usize> {
        dims_of(self.narrow).collect()
    }

    /// [`HeaderBox::constrained_dims`] as bits (bit `d` for dimension number `d`).
    pub fn constrained_bits(&self) -> u32 {
        self.narrow
    }

    /// Whether the boxes meet, looking only at `dims`, which must hold every
    /// dimension where `other` is not whole (then the others always meet).
    pub fn overlaps_on(&self, other: &HeaderBox, dims: &[usize], work: &mut u32) -> bool {
        dims.iter()
            .all(|&d| self.dim(d).overlaps(other.dim(d), work))
    }

    /// `self ∩ other`, `None` when they do not meet; else `self \ other` is added to
    /// `outside` in the same pass, as the pieces of [`HeaderBox::subtract`] (the
    /// caller's list: the walk splits a hundred thousand boxes). Only `dims` are looked
    /// at: they must be ascending and hold every dimension where `other` is not whole
    /// (as [`HeaderBox::constrained_dims`] gives), so a rule that constrains a few
    /// dimensions costs those few, not [`NDIMS`].
    pub fn split_on(
        &self,
        other: &HeaderBox,
        dims: &[usize],
        work: &mut u32,
        outside: &mut Vec<HeaderBox>,
    ) -> Option<HeaderBox> {
        if !self.overlaps_on(other, dims, work) {
            return None;
        }
        Some(self.cut(other, dims, work, outside))
    }

    /// The inside of [`HeaderBox::split_on`], its outside pieces added to `outside`,
    /// for boxes that meet.
    fn cut(
        &self,
        other: &HeaderBox,
        dims: &[usize],
        work: &mut u32,
        outside: &mut Vec<HeaderBox>,
    ) -> HeaderBox {
        let mut inside = self.clone();
        for &d in dims {
            let out = inside.dim(d).subtract(other.dim(d), work);
            if !out.is_empty() {
                let mut piece = inside.clone();
                piece.put(d, out);
                outside.push(piece);
            }
            let within = inside.dim(d).intersect(other.dim(d), work);
            inside.put(d, within);
        }
        inside
    }

    /// Whether the boxes hold the same values on every dimension but number `d`.
    pub fn agrees_off(&self, other: &HeaderBox, d: usize) -> bool {
        let off = !(1u32 << d);
        self.narrow & off == other.narrow & off
            && self.side_by_side(other).all(|(e, a, b)| e == d || a == b)
    }

    /// The one dimension (by number) where the boxes hold different values, `None`
    /// when they differ on none or on more than one.
    pub fn differs_only_on(&self, other: &HeaderBox) -> Option<usize> {
        let mut differ = self.side_by_side(other).filter(|(_, a, b)| a != b);
        let (d, _, _) = differ.next()?;
        differ.next().is_none().then_some(d)
    }

    /// The union of `self` and `other`, which must agree on every dimension but `d`
    /// (then the union is a box: theirs on the others, the union of theirs on `d`).
    pub fn join_on(mut self, other: &HeaderBox, d: usize, work: &mut u32) -> HeaderBox {
        debug_assert!(self.agrees_off(other, d));
        let joined = self.dim(d).union(other.dim(d), work);
        self.put(d, joined);
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
        std::array::from_fn(|d| FixedState::default().hash_one((d, self.dim(d))))
    }

    /// The sets of all [`NDIMS`] dimensions, in order.
    fn all(&self) -> [&ValueSet; NDIMS] {
        std::array::from_fn(|d| self.dim(d))
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
                // The length of the packet the fields before it make.
                (Dim::Length, _) => p.packet().ip.map(|ip| {
                    let base = if ip.src.is_ipv6() { 40 } else { 0 };
                    u128::from(ip.natural_length() - base)
                }),
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

impl Ord for HeaderBox {
    /// The order of the [`NDIMS`] sets compared one after another (the dimensions
    /// both boxes hold whole compare equal, so only the others are looked at).
    fn cmp(&self, other: &HeaderBox) -> Ordering {
        self.side_by_side(other)
            .map(|(_, a, b)| a.cmp(b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for HeaderBox {
    fn partial_cmp(&self, other: &HeaderBox) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for HeaderBox {
    /// The dimensions that are not whole and their sets (which equal boxes share).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.narrow.hash(state);
        self.sets[..].hash(state);
    }
}

impl fmt::Debug for HeaderBox {
    /// As the array of the [`NDIMS`] sets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeaderBox").field(&self.all()).finish()
    }
}

impl fmt::Display for HeaderBox {
    /// The dimensions that are not whole, as `name=lo-hi,...`; `*` for the full box.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in dims_of(self.narrow).enumerate() {
            let parts: Vec<String> = self
                .dim(d)
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
            let space = if i > 0 { " " } else { "" };
            write!(f, "{space}{}={}", DIMS[d].name, parts.join(","))?;
        }
        if self.narrow == 0 {
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
            let class: Vec<usize> = run[i + 1..]
                .iter()
                .map(|&(_, b)| b)
                .filter(|&b| !gone[b] && boxes[a].agrees_off(&boxes[b], d))
                .collect();
            if class.is_empty() {
                continue;
            }
            let values = class
                .iter()
                .flat_map(|&b| boxes[b].dim(d).intervals().iter().copied());
            let all: Vec<_> = boxes[a]
                .dim(d)
                .intervals()
                .iter()
                .copied()
                .chain(values)
                .collect();
            *work = work.saturating_add(u32::try_from(all.len()).unwrap_or(u32::MAX));
            boxes[a].put(d, ValueSet::from_intervals(all));
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
