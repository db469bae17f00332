//! One program of a snapshot ([`ProgramSnapshot`]: where it attaches, its rules and its
//! disassembly) as the bytes of a bulk record of its own, from manifest format 9
//! (`super::bulk`). Before, every program was one JSON array in one record: 100 bytes
//! a rule, serialized, escaped, hashed and written again at every re-apply, and parsed
//! at every read. Here a rule is its counter, its line and its text, each behind its
//! length, so writing a record is copying and reading it is copying and checking UTF-8.
//!
//! ```text
//! "sockc-program\0" u32 version (1)
//! u32 len, JSON {"symbol","hook","attach_to"}      where it attaches (a few dozen bytes)
//! u64 len, disassembly (UTF-8)
//! u64 rules, then per rule: u32 counter, u64 line, u32 len + text, u32 socket
//!            (0: none; else 1 + len of the name, then the name)
//! ```
//!
//! Integers are little-endian. Invariant: [`decode`] gives back exactly what
//! [`encode`] was given, and refuses (rather than misreads) bytes of any other shape:
//! a wrong magic or version, a length past the end, text that is not UTF-8, bytes left
//! over. [`encoded_len`] is the exact length [`encode`] writes, so a record can be
//! sized before it is written and streamed without being held whole.

use std::{
    io::{self, Write},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use sockc_compiler::{hooks::HookKind, metadata::RuleMeta};

use crate::plan::ProgramSnapshot;

/// What every program record starts with: never the first byte of JSON (`[`), so a
/// record of programs in the JSON of formats 6 to 8 is never taken for one.
pub const MAGIC: &[u8] = b"sockc-program\0";
const VERSION: u32 = 1;

/// Where the program attaches: the record's one piece of JSON (the hook as its
/// serialized name, as the manifest writes it).
#[derive(Serialize, Deserialize)]
struct Head<'a> {
    symbol: std::borrow::Cow<'a, str>,
    hook: HookKind,
    attach_to: std::borrow::Cow<'a, str>,
}

fn head_json(p: &ProgramSnapshot) -> Vec<u8> {
    serde_json::to_vec(&Head {
        symbol: p.symbol.as_str().into(),
        hook: p.hook,
        attach_to: p.attach_to.as_str().into(),
    })
    .expect("a program's head serializes")
}

/// The exact number of bytes [`encode`] writes for `p`.
pub fn encoded_len(p: &ProgramSnapshot) -> usize {
    let rule =
        |r: &RuleMeta| 4 + 8 + 4 + r.text.len() + 4 + r.socket.as_ref().map_or(0, String::len);
    MAGIC.len()
        + 4
        + 4
        + head_json(p).len()
        + 8
        + p.asm.len()
        + 8
        + p.rules.iter().map(rule).sum::<usize>()
}

/// Writes `p`'s record to `w`, in pieces of a field each (give it a buffered writer).
pub fn encode<W: Write>(p: &ProgramSnapshot, w: &mut W) -> io::Result<()> {
    let head = head_json(p);
    w.write_all(MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    w.write_all(&len32(head.len())?.to_le_bytes())?;
    w.write_all(&head)?;
    w.write_all(&(p.asm.len() as u64).to_le_bytes())?;
    w.write_all(p.asm.as_bytes())?;
    w.write_all(&(p.rules.len() as u64).to_le_bytes())?;
    for r in p.rules.iter() {
        w.write_all(&r.counter.to_le_bytes())?;
        w.write_all(&(r.line as u64).to_le_bytes())?;
        w.write_all(&len32(r.text.len())?.to_le_bytes())?;
        w.write_all(r.text.as_bytes())?;
        match &r.socket {
            None => w.write_all(&0u32.to_le_bytes())?,
            Some(s) => {
                w.write_all(&(len32(s.len())? + 1).to_le_bytes())?;
                w.write_all(s.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// `p`'s record held whole, in a buffer sized once.
pub fn to_vec(p: &ProgramSnapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(p));
    encode(p, &mut out).expect("a Vec takes every write");
    debug_assert_eq!(out.len(), encoded_len(p), "encoded_len is exact");
    out
}

fn len32(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::other("a program's field is over 4 GiB"))
}

/// The program a record holds; `Err` says what is wrong with its bytes.
pub fn decode(bytes: &[u8]) -> Result<ProgramSnapshot, String> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(MAGIC.len())? != MAGIC {
        return Err("is not a program record".into());
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!(
            "is a program record of version {version} (this sockc reads {VERSION})"
        ));
    }
    let head_len = r.u32()? as usize;
    let head: Head<'_> = serde_json::from_slice(r.take(head_len)?)
        .map_err(|e| format!("has a program head that is not this sockc's ({e})"))?;
    let asm_len = r.len64()?;
    let asm = r.text(asm_len)?.to_string();
    let n = r.len64()?;
    // Each rule takes 20 bytes at least: a count past that is a damaged record, not
    // room to reserve.
    if n > (bytes.len() - r.at) / 20 {
        return Err("counts more rules than its bytes hold".into());
    }
    // Made in place in the one block the snapshot keeps (collected from an iterator
    // of a known length): a `Vec` turned into an `Arc<[_]>` was copied whole, 56 bytes
    // a rule (5.6 MB of fresh pages at 100,000 rules, each re-apply).
    // After a rule fails, the rest stand in as copies of one placeholder (no block
    // each), and the record is refused.
    let mut failed = None;
    let empty: Arc<str> = Arc::from("");
    let rules: Arc<[RuleMeta]> = std::iter::repeat_with(|| match failed {
        Some(_) => placeholder(&empty),
        None => r.rule().unwrap_or_else(|e| {
            failed = Some(e);
            placeholder(&empty)
        }),
    })
    .take(n)
    .collect();
    if let Some(e) = failed {
        return Err(e);
    }
    if r.at != bytes.len() {
        return Err("has bytes past its last rule".into());
    }
    Ok(ProgramSnapshot {
        symbol: head.symbol.into_owned(),
        hook: head.hook,
        attach_to: head.attach_to.into_owned(),
        rules,
        asm,
    })
}

/// What stands for a rule after one failed to decode (the whole record is refused).
fn placeholder(empty: &Arc<str>) -> RuleMeta {
    RuleMeta {
        counter: 0,
        line: 0,
        text: Arc::clone(empty),
        socket: None,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end =
            end.ok_or_else(|| "ends inside a field (torn or not a program record)".to_string())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// One rule: its counter, line, text and socket.
    fn rule(&mut self) -> Result<RuleMeta, String> {
        let counter = self.u32()?;
        let line = usize::try_from(self.u64()?)
            .map_err(|_| "has a line past this machine's".to_string())?;
        let text_len = self.u32()? as usize;
        let text = self.text(text_len)?.into();
        let socket = match self.u32()? {
            0 => None,
            n => Some(self.text(n as usize - 1)?.to_string()),
        };
        Ok(RuleMeta {
            counter,
            line,
            text,
            socket,
        })
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn len64(&mut self) -> Result<usize, String> {
        usize::try_from(self.u64()?).map_err(|_| "has a length past this machine's".to_string())
    }

    fn text(&mut self, n: usize) -> Result<&'a str, String> {
        let bytes = self.take(n)?;
        // A rule is nearly always ASCII, which is checked a word at a time: on a text
        // of a few dozen bytes a third less than `from_utf8`'s walk (100,000 texts
        // when a re-apply reads its installed program back); any other is checked
        // in full.
        if bytes.is_ascii() {
            // SAFETY: bytes that are all ASCII are valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        std::str::from_utf8(bytes).map_err(|_| "holds text that is not UTF-8".to_string())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A program of `rules` rules (texts with escapes and multibyte characters).
    pub(in crate::store) fn program(rules: usize) -> ProgramSnapshot {
        ProgramSnapshot {
            symbol: "xdp_eth0".into(),
            hook: HookKind::Xdp,
            attach_to: "eth0".into(),
            rules: (0..rules)
                .map(|i| RuleMeta {
                    counter: i as u32 * 3,
                    line: i + 2,
                    text: format!("drop tcp from 10.0.{i}.0/24 \"ü\" \\").into(),
                    socket: (i % 3 == 1).then(|| format!("sock{i}")),
                })
                .collect(),
            asm: "0: r0 = 2\n1: exit\n".into(),
        }
    }

    #[test]
    fn a_record_reads_back_as_written_and_its_length_is_known_before() {
        for n in [0, 1, 7, 1000] {
            let p = program(n);
            let bytes = to_vec(&p);
            assert_eq!(bytes.len(), encoded_len(&p));
            assert_eq!(decode(&bytes).unwrap(), p, "{n} rules");
        }
    }

    #[test]
    fn every_hook_reads_back() {
        for hook in [HookKind::Xdp, HookKind::TcIngress, HookKind::TcEgress] {
            let p = ProgramSnapshot { hook, ..program(2) };
            assert_eq!(decode(&to_vec(&p)).unwrap().hook, hook);
        }
    }

    #[test]
    fn bytes_of_another_shape_are_refused_not_misread() {
        let bytes = to_vec(&program(5));
        // Cut anywhere: refused.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).unwrap_err().contains("past its last rule"));
        // The JSON of formats 6 to 8 is not a program record.
        let json = serde_json::to_vec(&[program(1)]).unwrap();
        assert!(decode(&json).unwrap_err().contains("not a program record"));
        let mut newer = bytes.clone();
        newer[MAGIC.len()] = 2;
        assert!(decode(&newer).unwrap_err().contains("version 2"));
        // A rule count past what the bytes can hold: refused before any room is taken.
        let mut huge = to_vec(&program(0));
        let n = huge.len() - 8;
        huge[n..].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
        // Text that is not UTF-8.
        let p = program(1);
        let mut bad = to_vec(&p);
        let text_at = bad.len() - 4 - p.rules[0].text.len();
        bad[text_at] = 0xff;
        assert!(decode(&bad).unwrap_err().contains("UTF-8"));
    }

    /// ASCII texts, texts with characters of two to four bytes anywhere, and texts
    /// that are ASCII but for one byte that begins, continues or cuts a character:
    /// read back, or refused as not UTF-8, as `from_utf8` says.
    #[test]
    fn a_text_reads_back_exactly_when_it_is_utf8() {
        let ascii = "drop ip4 tcp from 104.134.169.66/32 to 142.127.0.66/32:1526";
        let mut texts: Vec<Vec<u8>> = vec![Vec::new(), ascii.into(), b"x".into()];
        for c in ["é", "€", "😀"] {
            for at in [0, 7, 8, 31, ascii.len()] {
                let mut t = ascii.to_string();
                t.insert_str(at, c);
                texts.push(t.into_bytes());
            }
        }
        for byte in [0x80, 0xc3, 0xe2, 0xf0, 0xff] {
            for at in [0, 7, 8, 16, ascii.len() - 1] {
                let mut t = ascii.as_bytes().to_vec();
                t[at] = byte;
                texts.push(t);
            }
        }
        let p = program(1);
        let rule_at = to_vec(&p).len() - 4 - p.rules[0].text.len() - 4;
        for t in texts {
            let mut bytes = to_vec(&p)[..rule_at].to_vec();
            bytes.extend_from_slice(&(t.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&t);
            bytes.extend_from_slice(&0u32.to_le_bytes());
            match (std::str::from_utf8(&t), decode(&bytes)) {
                (Ok(s), Ok(d)) => assert_eq!(&*d.rules[0].text, s),
                (Err(_), Err(e)) => assert!(e.contains("UTF-8"), "{e}"),
                (want, got) => panic!("{t:?}: {want:?}, decoded {got:?}"),
            }
        }
    }
}
