//! The running kernel's BTF (`/sys/kernel/btf/vmlinux`), read for the numbers a
//! program's kernel references need ([`KernelRef`]): the type id of a kernel function
//! (a kfunc call's immediate), the byte offset of a struct member (a load's offset)
//! and the type id of a struct (`bpf_rdonly_cast`'s argument, an immediate). A reader of the format's header, string section and type records, nothing
//! more: aya-obj keeps struct members private.
//!
//! Invariant: a name resolves only to a record of the kind asked for (`FUNC`,
//! `STRUCT`), and a member offset only from a member found by name at byte
//! granularity; anything else is an error naming what was missing, never a guess.

use std::sync::OnceLock;

use sockc_compiler::bpf::kernel_ref::KernelRef;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

/// One type record: its kind, name offset, `info` word and where its trailing data
/// starts in the type section.
#[derive(Clone, Copy)]
struct Record {
    kind: u32,
    name: u32,
    info: u32,
    data: usize,
}

/// The parsed BTF: raw bytes, where the sections are, and every record by id - 1.
pub struct KernelBtf {
    bytes: Vec<u8>,
    strings: usize,
    strings_len: usize,
    records: Vec<Record>,
}

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read {VMLINUX}: {0}")]
    Read(#[source] std::io::Error),
    #[error("{VMLINUX} is not BTF this reader understands ({0})")]
    Format(&'static str),
    #[error("the running kernel's BTF has no {0}")]
    Missing(String),
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, BtfError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
        .ok_or(BtfError::Format("truncated"))
}

impl KernelBtf {
    /// The running kernel's BTF, read once per process.
    pub fn running() -> Result<&'static KernelBtf, BtfError> {
        static BTF: OnceLock<Result<KernelBtf, String>> = OnceLock::new();
        BTF.get_or_init(|| {
            std::fs::read(VMLINUX)
                .map_err(BtfError::Read)
                .and_then(KernelBtf::parse)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| BtfError::Missing(format!("usable BTF: {e}")))
    }

    pub fn parse(bytes: Vec<u8>) -> Result<KernelBtf, BtfError> {
        if bytes.len() < 24 || u16::from_le_bytes([bytes[0], bytes[1]]) != MAGIC {
            return Err(BtfError::Format("bad magic (or not little-endian)"));
        }
        let hdr_len = u32_at(&bytes, 4)? as usize;
        let types = hdr_len + u32_at(&bytes, 8)? as usize;
        let types_end = types + u32_at(&bytes, 12)? as usize;
        let strings = hdr_len + u32_at(&bytes, 16)? as usize;
        let strings_len = u32_at(&bytes, 20)? as usize;
        if types_end > bytes.len() || strings + strings_len > bytes.len() {
            return Err(BtfError::Format("sections outside the file"));
        }
        let mut records = Vec::new();
        let mut at = types;
        while at < types_end {
            let name = u32_at(&bytes, at)?;
            let info = u32_at(&bytes, at + 4)?;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let data = at + 12;
            let extra = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC => 12 * vlen,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                KIND_ENUM64 => 12 * vlen,
                0..=19 => 0,
                _ => return Err(BtfError::Format("unknown type kind")),
            };
            records.push(Record {
                kind,
                name,
                info,
                data,
            });
            at = data + extra;
        }
        Ok(KernelBtf {
            bytes,
            strings,
            strings_len,
            records,
        })
    }

    fn name(&self, off: u32) -> &[u8] {
        let off = off as usize;
        if off >= self.strings_len {
            return b"";
        }
        let s = &self.bytes[self.strings + off..self.strings + self.strings_len];
        &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
    }

    /// Id of the first record of `kind` named `name`.
    fn find(&self, kind: u32, name: &str) -> Option<(u32, Record)> {
        self.records
            .iter()
            .enumerate()
            .find(|(_, r)| r.kind == kind && self.name(r.name) == name.as_bytes())
            .map(|(i, r)| (i as u32 + 1, *r))
    }

    /// The BTF id of kernel function `name`.
    pub fn func_id(&self, name: &str) -> Result<u32, BtfError> {
        self.find(KIND_FUNC, name)
            .map(|(id, _)| id)
            .ok_or_else(|| BtfError::Missing(format!("kernel function {name}")))
    }

    /// The byte offset of `member` in `struct strukt`, also when it sits in an
    /// anonymous struct or union member (`sk_buff.mark` does); a member at a bit
    /// offset that is not a whole byte, a bitfield, is refused.
    pub fn member_offset(&self, strukt: &str, member: &str) -> Result<u32, BtfError> {
        let bits = self.member_bit_offset(strukt, member)?;
        if bits % 8 == 0 {
            Ok(bits / 8)
        } else {
            Err(BtfError::Missing(format!("struct {strukt}.{member}")))
        }
    }

    /// The bit offset of `member` in `struct strukt`, also in an anonymous struct or
    /// union member, and a bitfield's too.
    pub fn member_bit_offset(&self, strukt: &str, member: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::Missing(format!("struct {strukt}.{member}"));
        let (_, r) = self.find(KIND_STRUCT, strukt).ok_or_else(missing)?;
        self.member_bits(r, member, 0)?.ok_or_else(missing)
    }

    /// The bit offset of `member` in struct or union record `r`, looking into its
    /// anonymous members (at most `depth` 8 levels down).
    fn member_bits(&self, r: Record, member: &str, depth: usize) -> Result<Option<u32>, BtfError> {
        let bitfield_encoding = r.info & (1 << 31) != 0;
        let mut anonymous = Vec::new();
        for i in 0..(r.info & 0xffff) as usize {
            let m = r.data + 12 * i;
            let raw = u32_at(&self.bytes, m + 8)?;
            let bits = if bitfield_encoding {
                raw & 0xff_ffff
            } else {
                raw
            };
            let name = self.name(u32_at(&self.bytes, m)?);
            if name == member.as_bytes() {
                return Ok(Some(bits));
            }
            if name.is_empty() {
                anonymous.push((u32_at(&self.bytes, m + 4)?, bits));
            }
        }
        if depth >= 8 {
            return Ok(None);
        }
        for (ty, bits) in anonymous {
            let Some(inner) = self.aggregate(ty) else {
                continue;
            };
            if let Some(b) = self.member_bits(inner, member, depth + 1)? {
                return Ok(Some(bits + b));
            }
        }
        Ok(None)
    }

    /// The struct or union record type `id` is, through typedefs and qualifiers.
    fn aggregate(&self, mut id: u32) -> Option<Record> {
        for _ in 0..16 {
            let r = *self.records.get((id as usize).checked_sub(1)?)?;
            match r.kind {
                KIND_STRUCT | KIND_UNION => return Some(r),
                // typedef, volatile, const, restrict, type tag: their `info`'s type
                8..=11 | 18 => id = u32_at(&self.bytes, r.data - 4).ok()?,
                _ => return None,
            }
        }
        None
    }

    /// The number `what` stands for in this kernel.
    pub fn resolve(&self, what: &KernelRef) -> Result<u32, BtfError> {
        match what {
            KernelRef::Kfunc { name } => self.func_id(name),
            KernelRef::Field { strukt, member } | KernelRef::Offset { strukt, member } => {
                self.member_offset(strukt, member)
            }
            // A bitfield's byte and bit (little-endian: bit `b` of the struct is bit
            // `b % 8` of its byte `b / 8`).
            KernelRef::BitByte { strukt, member } => {
                Ok(self.member_bit_offset(strukt, member)? / 8)
            }
            KernelRef::BitMask { strukt, member } => {
                Ok(1 << (self.member_bit_offset(strukt, member)? % 8))
            }
            KernelRef::Type { name } => self
                .find(KIND_STRUCT, name)
                .map(|(id, _)| id)
                .ok_or_else(|| BtfError::Missing(format!("struct {name}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernel truth: what this reader finds equals bpftool's dump of the same BTF.
    #[test]
    fn ids_and_offsets_match_bpftool() {
        let Ok(btf) = KernelBtf::running() else {
            assert!(
                std::env::var("SOCKC_KERNEL_TESTS").as_deref() != Ok("require"),
                "no readable {VMLINUX} and SOCKC_KERNEL_TESTS=require"
            );
            eprintln!("SKIP: no readable {VMLINUX}");
            return;
        };
        let out = std::process::Command::new("bpftool")
            .args(["btf", "dump", "file", VMLINUX, "format", "raw"])
            .output();
        let Ok(out) = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()) else {
            eprintln!("SKIP: no bpftool");
            return;
        };
        for f in [
            "bpf_xdp_ct_lookup",
            "bpf_skb_ct_lookup",
            "bpf_ct_release",
            "bpf_rdonly_cast",
        ] {
            let id = btf.func_id(f).unwrap();
            assert!(
                out.contains(&format!("[{id}] FUNC '{f}'")),
                "{f} is not id {id} in bpftool's dump"
            );
        }
        for (strukt, member) in [
            ("nf_conn", "status"),
            ("sk_buff", "_nfct"),
            ("nf_hook_state", "in"),
            ("nf_hook_state", "out"),
            ("net_device", "name"),
        ] {
            let offset = btf.member_offset(strukt, member).unwrap();
            let start = out
                .find(&format!("STRUCT '{strukt}' "))
                .expect("the struct in the dump");
            let line = out[start..]
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("'{member}'")))
                .expect("the member in the dump");
            assert!(
                line.contains(&format!("bits_offset={}", offset * 8)),
                "{strukt}.{member}: {line} vs offset {offset}"
            );
        }
        // The type `owner` casts a request socket's listener to.
        let sock = btf
            .resolve(&KernelRef::Type {
                name: "sock".into(),
            })
            .unwrap();
        assert!(
            out.contains(&format!("[{sock}] STRUCT 'sock' ")),
            "struct sock is not id {sock} in bpftool's dump"
        );
        assert!(btf.member_offset("nf_conn", "no_such_member").is_err());
        assert!(btf.func_id("no_such_function_anywhere").is_err());
    }
}
