//! Searches of short texts (a rule file's lines, a rule's text) for a byte or a short
//! string, made without asking the CPU which instructions it has: with SSE2 on x86_64
//! (every x86_64 CPU has it), with `memchr`'s own searchers elsewhere (none of which
//! detects anything at run time outside x86_64). `memchr`'s entry points on x86_64
//! pick AVX2 after the standard library's feature detection, whose `cpuid`s trap to
//! the hypervisor on a virtual machine: about 60 µs of every command's first search (2%
//! of a 1k-rule re-apply, on its critical path), more than AVX2 gains over SSE2 on
//! lines of tens of bytes. Set files (megabytes of lines) keep `memchr`'s own.
//!
//! Invariant: every answer is the one `memchr::memchr` or `memchr::memmem::find`
//! gives for the same arguments (the tests compare them); [`count_byte`]'s is the
//! number of hits `memchr::memchr_iter` gives.

/// The first `needle` in `haystack`, as `memchr::memchr(needle, haystack)`.
pub fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(needle) {
        return one.find(haystack);
    }
    memchr::arch::all::memchr::One::new(needle).find(haystack)
}

/// How many `needle`s `haystack` holds, counted 224 bytes at a time into a byte (a
/// loop the compiler makes vector code of, about a quarter of an instruction a
/// byte; no chunk holds more than 255 of them, so its byte does not wrap), where a
/// search newline by newline costs tens of instructions a line.
pub fn count_byte(needle: u8, haystack: &[u8]) -> usize {
    haystack
        .chunks(224)
        .map(|chunk| {
            let n = chunk
                .iter()
                .fold(0u8, |n, &b| n.wrapping_add(u8::from(b == needle)));
            usize::from(n)
        })
        .sum()
}

/// A string searched for in many texts, set up once (as `memchr::memmem::Finder`).
#[derive(Clone, Debug)]
pub struct Substring {
    needle: &'static [u8],
    #[cfg(target_arch = "x86_64")]
    sse2: Option<memchr::arch::x86_64::sse2::packedpair::Finder>,
    #[cfg(not(target_arch = "x86_64"))]
    finder: memchr::memmem::Finder<'static>,
}

impl Substring {
    pub fn new(needle: &'static str) -> Substring {
        let needle = needle.as_bytes();
        Substring {
            needle,
            #[cfg(target_arch = "x86_64")]
            sse2: memchr::arch::x86_64::sse2::packedpair::Finder::new(needle),
            #[cfg(not(target_arch = "x86_64"))]
            finder: memchr::memmem::Finder::new(needle),
        }
    }

    /// Where the string first begins in `haystack`, as `memchr::memmem::find`.
    pub fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        {
            match (self.sse2, self.needle) {
                (Some(f), _) if haystack.len() >= f.min_haystack_len() => {
                    f.find(haystack, self.needle)
                }
                (_, []) => Some(0),
                (_, &[b]) => find_byte(b, haystack),
                // Shorter than a vector and then some: a few comparisons.
                (_, needle) => haystack.windows(needle.len()).position(|w| w == needle),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self.finder.find(haystack)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts of every length up to past two vectors, the needle nowhere, at every
    /// place, twice, and cut off at the end.
    fn haystacks(needle: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for len in 0..80usize {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 7) as u8).collect();
            out.push(base.clone());
            for at in 0..=len.saturating_sub(needle.len()) {
                let mut h = base.clone();
                if at + needle.len() <= len {
                    h[at..at + needle.len()].copy_from_slice(needle);
                    out.push(h.clone());
                    if at + 2 * needle.len() + 3 <= len {
                        let again = at + needle.len() + 3;
                        h[again..again + needle.len()].copy_from_slice(needle);
                        out.push(h);
                    }
                }
            }
            // The needle's first bytes at the very end only.
            if len >= needle.len() && needle.len() > 1 {
                let mut h = base.clone();
                h[len - needle.len() + 1..].copy_from_slice(&needle[..needle.len() - 1]);
                out.push(h);
            }
        }
        out
    }

    #[test]
    fn bytes_are_found_where_memchr_finds_them() {
        for needle in [b'\n', b'g', 0, 0xff] {
            for h in haystacks(&[needle]) {
                assert_eq!(find_byte(needle, &h), memchr::memchr(needle, &h), "{h:?}");
            }
        }
    }

    #[test]
    fn bytes_are_counted_as_memchr_finds_them() {
        let mut long = vec![b'\n'; 16 * 300 + 7];
        long[16 * 255] = b'a';
        for needle in [b'\n', b'g', 0, 0xff] {
            for h in haystacks(&[needle]).iter().chain([&long]) {
                let want = memchr::memchr_iter(needle, h).count();
                assert_eq!(count_byte(needle, h), want, "{h:?}");
            }
        }
    }

    #[test]
    fn strings_are_found_where_memmem_finds_them() {
        for needle in ["  ", "log", "g", "abcabd", ""] {
            let s = Substring::new(needle);
            for h in haystacks(needle.as_bytes()) {
                let want = memchr::memmem::find(&h, needle.as_bytes());
                assert_eq!(s.find(&h), want, "{needle:?} in {h:?}");
            }
        }
    }
}
