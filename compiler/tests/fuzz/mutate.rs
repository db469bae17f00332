//! Byte mutations of the rule corpus: every file under `rules/` (rule files, set
//! files, packet lists), changed a few times over by the classic mutations — bits
//! flipped, bytes set, ranges deleted, duplicated or spliced from another file,
//! tokens of the language and hostile bytes inserted, lines repeated — with no regard
//! for UTF-8, so the decoding of the file is exercised too.

use super::rng::Rng;

/// Tokens worth inserting: the language's punctuation and keywords, numbers at the
/// edges of their ranges, and bytes that have no place in a rule file.
const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b";",
    b"\n",
    b"\r\n",
    b":",
    b"/",
    b"@",
    b"*",
    b"-",
    b"[",
    b"]",
    b"!",
    b"\"",
    b"#",
    b" ",
    b"0",
    b"65535",
    b"65536",
    b"99999999999999999999",
    b"::",
    b"1.2.3.4",
    b"2001:db8::1:53",
    b"/129",
    b"/33",
    b"tcp",
    b"udp",
    b"icmp",
    b"to",
    b"from",
    b"if",
    b"socket",
    b"exists",
    b"default",
    b"allow",
    b"drop",
    b"count",
    b"redirect",
    b"sock",
    b"local",
    b"xdp on e {",
    b"tc ingress on e {",
    b"sk_lookup {",
    b"set",
    b"file",
    b"set s = file \"good.txt\"",
    b"set s = file \"/etc/passwd\"",
    b"type",
    b"code",
    b"accept",
    b"dport",
    b"\0",
    b"\xef\xbb\xbf",
    b"\x1b[2J",
    b"\x7f",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xae",
    b"\xe2\x80\x93",
];

/// A mutated copy of one corpus file, sometimes spliced with another.
pub fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut s = rng.pick(corpus).clone();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(s.len() + 1);
        match rng.below(10) {
            0 if !s.is_empty() => {
                let i = at.min(s.len() - 1);
                s[i] ^= 1 << rng.below(8);
            }
            1 if !s.is_empty() => {
                let i = at.min(s.len() - 1);
                s[i] = rng.next() as u8;
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(s.len());
                s.drain(at.min(end)..end);
            }
            3 => {
                let from = rng.below(s.len() + 1);
                let len = rng.below(32).min(s.len() - from);
                let chunk = s[from..from + len].to_vec();
                s.splice(at..at, chunk);
            }
            4 => {
                let other = rng.pick(corpus);
                let from = rng.below(other.len() + 1);
                let len = rng.below(64).min(other.len() - from);
                s.splice(at..at, other[from..from + len].iter().copied());
            }
            // A line repeated many times (not on inputs already large: repeated
            // mutations would grow them past what one input should cost).
            5 if s.len() < 64 << 10 => {
                let start = s[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = s[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(s.len(), |i| at + i);
                let line = s[start..end].to_vec();
                // At most about a MiB more.
                let times = [2, 10, 300][rng.below(3)].min((1 << 20) / (line.len() + 1));
                for _ in 0..times {
                    s.splice(end..end, line.iter().copied().chain([b'\n']));
                }
            }
            6 => s.truncate(at),
            _ => {
                let token = rng.pick(DICTIONARY);
                s.splice(at..at, token.iter().copied());
            }
        }
    }
    s
}
