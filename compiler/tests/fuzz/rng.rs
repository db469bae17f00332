//! The testkit's seeded generator, one per input: deterministic, so every input is reproduced from its seed and index.

pub struct Rng(sockc_testkit::rng::Rng);

impl Rng {
    /// The generator for input `index` of a run seeded `seed`: inputs do not depend
    /// on each other, so any one of them can be run alone.
    pub fn for_input(seed: u64, index: u64) -> Rng {
        Rng(sockc_testkit::rng::Rng::seeded(
            seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ))
    }

    pub fn next(&mut self) -> u64 {
        self.0.next()
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }

    /// True once in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
}
