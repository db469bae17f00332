//! The one seeded generator of the tests, the benchmarks' inputs and the rule-file
//! generators: `fastrand`'s wyrand behind the three operations they use. A seed gives
//! the same sequence on every run and machine (the lock file pins the generator's
//! version), so whatever is generated from it is reproduced from the seed alone. Not
//! for anything that needs unpredictability.

/// A seeded generator; any seed (0 too) is a valid start.
#[derive(Clone, Debug)]
pub struct Rng(fastrand::Rng);

impl Rng {
    /// The generator whose sequence `seed` names.
    pub fn seeded(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// The next number of the sequence (all 64 bits uniform).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// A number below `n`, uniform (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n.max(1))
    }

    /// One of `xs` (not empty).
    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }

    /// `buf` filled with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// The same seed gives the same sequence; another seed another one.
    #[test]
    fn a_seed_names_its_sequence() {
        let take = |seed| {
            let mut r = Rng::seeded(seed);
            (0..8).map(|_| r.next()).collect::<Vec<_>>()
        };
        assert_eq!(take(7), take(7));
        assert_ne!(take(7), take(8));
        assert!(take(0).iter().any(|&x| x != 0), "seed 0 is a valid start");
    }

    /// `below` stays below its bound and reaches both ends of a small range.
    #[test]
    fn below_covers_its_range() {
        let mut r = Rng::seeded(1);
        let seen: std::collections::BTreeSet<usize> = (0..200).map(|_| r.below(5)).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(r.below(0), 0);
    }
}
