//! A small deterministic random generator (xorshift64) for tests and rule-file
//! generators: a seed gives the same sequence on every run and machine, so whatever
//! is generated from it can be reproduced from the seed alone. Not for anything that
//! needs unpredictability.

/// xorshift64 (shifts 13, 7, 17); the state must not start at 0.
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number of the sequence.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `xs` (not empty).
    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
}

/// xorshift64* (shifts 12, 25, 27, then a multiply): better low bits than
/// [`XorShift`]; the fuzzers, the scanner's random files and the index tests use it.
/// The state must not start at 0.
#[derive(Clone, Debug)]
pub struct XorShiftStar(pub u64);

impl XorShiftStar {
    /// The next number of the sequence.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One of `xs` (not empty).
    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
}
