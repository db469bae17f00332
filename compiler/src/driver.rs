//! The pipeline in one call: source → AST → IR → bytecode → object image, plus the
//! metadata the runtime needs (rules per counter slot, set contents to insert).
//!
//! Invariant: [`compile`] returns a [`Compiled`] only when no stage reported an error;
//! warnings travel with it. Nothing here touches the kernel.

use serde::{Deserialize, Serialize};

use crate::{
    bpf::{
        buffer::Code,
        lower::{lower_program, set_map_name, COUNTERS_MAP},
    },
    diag::{Diagnostic, Span},
    hooks,
    ir::{AddrMatch, Module},
    obj::{BtfType, MapDef, ObjError, ObjectImage, ProgramImage},
    sema,
    syntax::{self, ast::Family},
};

/// Version of the `.sockc` metadata format.
pub const METADATA_FORMAT: u32 = 1;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub sema: sema::Options,
    pub opt: crate::opt::OptLevel,
}

/// One lowered program.
#[derive(Clone, Debug)]
pub struct CompiledProgram {
    pub symbol: String,
    pub section: &'static str,
    pub code: Code,
}

/// A compiled file: IR, bytecode, maps and what goes into them.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub module: Module,
    pub programs: Vec<CompiledProgram>,
    pub maps: Vec<MapDef>,
    pub metadata: Metadata,
    /// Classifier map contents; [`Metadata::tables`] says which bytes fill which map.
    pub tables: Vec<u8>,
}

/// Contents of the `.sockc` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: u32,
    pub programs: Vec<ProgramMeta>,
    /// Entries the runtime inserts after creating the maps.
    pub map_contents: Vec<MapContents>,
    /// Slots of the `counters` map.
    pub counters: u32,
    /// Array maps filled from the object's `.sockc.tables` section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableData>,
}

/// The contents of one array map: `len` bytes at `offset` of `.sockc.tables`, one
/// value after the other from index 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableData {
    pub map: String,
    pub offset: u64,
    pub len: u64,
    pub value_size: u32,
    /// SHA-256 of the bytes, so plans can tell changed contents apart.
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramMeta {
    pub symbol: String,
    /// Serialized as written: `xdp`, `tc ingress`, `tc egress`.
    pub hook: hooks::HookKind,
    pub attach_to: String,
    pub rules: Vec<RuleMeta>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMeta {
    pub counter: u32,
    pub line: usize,
    /// The rule as written; `default VERDICT` for the default.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapContents {
    pub map: String,
    /// (key, value) as lowercase hex.
    pub entries: Vec<(String, String)>,
}

/// Compiles `src`. Returns the result when there are no errors, and all diagnostics
/// (errors and warnings) either way.
pub fn compile(src: &str, opts: &Options) -> (Option<Compiled>, Vec<Diagnostic>) {
    let (ast, mut diags) = syntax::parse(src);
    let (module, sema_diags) = sema::check(&ast, src, &opts.sema);
    diags.extend(sema_diags);
    // Parser and sema diagnostics in one order: by position in the file.
    diags.sort_by_key(|d| d.labels.first().map(|l| l.span.start).unwrap_or(0));
    let Some(mut module) = module.filter(|_| !crate::diag::has_errors(&diags)) else {
        return (None, diags);
    };
    let opt_diags = crate::opt::optimize(&mut module, opts.opt);
    if !opt_diags.is_empty() {
        diags.extend(opt_diags);
        diags.sort_by_key(|d| d.labels.first().map(|l| l.span.start).unwrap_or(0));
    }
    match lower_module(module, opts.opt) {
        Ok(c) => (Some(c), diags),
        Err((span, msg)) => {
            diags.push(
                Diagnostic::error("sockc::internal", msg).label(span, "while compiling this"),
            );
            (None, diags)
        }
    }
}

/// The compiler's own reference check ([`crate::bpf::refcheck`]) on one lowered
/// program: a socket reference that some path does not release is a compiler bug,
/// reported at the rule whose code made the lookup (the last `line N:` note at or
/// before it), before the kernel sees the program.
fn check_references(
    p: &crate::ir::Program,
    code: &crate::bpf::buffer::Code,
) -> Result<(), (Span, String)> {
    let Err(e) = crate::bpf::refcheck::check(&code.insns) else {
        return Ok(());
    };
    let at = e.acquire.unwrap_or(e.insn);
    let line = code
        .notes
        .iter()
        .take_while(|(slot, _)| *slot <= at)
        .filter_map(|(_, text)| {
            text.strip_prefix("line ")?
                .split(':')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .last();
    let rule = line.and_then(|l| p.rules.iter().find(|r| r.line == l));
    Err(match rule {
        Some(r) => (
            r.span,
            format!(
                "compiler bug: the code of line {} (`{}`) fails the socket reference check: {e}",
                r.line, r.text
            ),
        ),
        None => (
            p.span,
            format!(
                "compiler bug: program `{}` fails the socket reference check: {e}",
                p.symbol
            ),
        ),
    })
}

fn lower_module(module: Module, level: crate::opt::OptLevel) -> Result<Compiled, (Span, String)> {
    let mut programs = Vec::new();
    let mut meta_programs = Vec::new();
    let mut counters = 0u32;
    let mut used_sets = std::collections::BTreeSet::new();
    for (_, p) in &module.programs {
        let code = lower_program(&module, p, level).map_err(|e| (p.span, e.to_string()))?;
        check_references(p, &code)?;
        let spec = hooks::spec(p.hook);
        programs.push(CompiledProgram {
            symbol: p.symbol.clone(),
            section: spec.section,
            code,
        });
        let mut rules: Vec<RuleMeta> = p
            .rules
            .iter()
            .map(|r| RuleMeta {
                counter: r.counter,
                line: r.line,
                text: r.text.clone(),
            })
            .collect();
        rules.push(RuleMeta {
            counter: p.default_counter,
            line: p.default_line,
            text: format!("default {}", crate::ir::verdict_name(p.default)),
        });
        counters = counters.max(p.default_counter + 1);
        for r in &p.rules {
            counters = counters.max(r.counter + 1);
            for a in [&r.m.src, &r.m.dst] {
                if let AddrMatch::Set(s) = a {
                    used_sets.insert(*s);
                }
            }
        }
        meta_programs.push(ProgramMeta {
            symbol: p.symbol.clone(),
            hook: p.hook,
            attach_to: p.attach_to.clone(),
            rules,
        });
    }
    let mut maps = vec![MapDef {
        name: COUNTERS_MAP.into(),
        map_type: aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::Struct {
            name: "rule_counter".into(),
            members: vec![
                ("packets".into(), BtfType::U64),
                ("bytes".into(), BtfType::U64),
            ],
        },
        max_entries: counters.max(1),
        flags: 0,
    }];
    let mut map_contents = Vec::new();
    let mut tables = Vec::new();
    let mut table_data = Vec::new();
    for (_, p) in &module.programs {
        let spec = hooks::spec(p.hook);
        for step in &p.steps {
            if let crate::ir::Step::Classify(c) = step {
                for (k, t) in c.trees.iter().enumerate() {
                    for (map, value_size, bytes) in table_bytes(spec, p, c, k, t) {
                        let count = bytes.len() / value_size;
                        maps.push(MapDef {
                            name: map.clone(),
                            map_type: aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
                            key: BtfType::U32,
                            value: BtfType::Array {
                                elem: Box::new(BtfType::U32),
                                len: (value_size / 4) as u32,
                            },
                            max_entries: count.max(1) as u32,
                            flags: aya_obj::generated::BPF_F_MMAPABLE,
                        });
                        table_data.push(TableData {
                            map,
                            offset: tables.len() as u64,
                            len: bytes.len() as u64,
                            value_size: value_size as u32,
                            sha256: sha256_hex(&bytes),
                        });
                        tables.extend_from_slice(&bytes);
                        tables.resize(tables.len().next_multiple_of(8), 0);
                    }
                }
            }
        }
    }
    for set in used_sets {
        let s = &module.sets[set];
        let families: [(Family, PrefixList); 2] = [
            (
                Family::V4,
                s.v4.iter()
                    .map(|n| (n.prefix_len(), n.network().octets().to_vec()))
                    .collect(),
            ),
            (
                Family::V6,
                s.v6.iter()
                    .map(|n| (n.prefix_len(), n.network().octets().to_vec()))
                    .collect(),
            ),
        ];
        for (family, entries) in families {
            if entries.is_empty() {
                continue;
            }
            let name = set_map_name(&module, set, family);
            let addr_len = if family == Family::V4 { 4 } else { 16 };
            maps.push(MapDef {
                name: name.clone(),
                map_type: aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32,
                key: BtfType::Struct {
                    name: if family == Family::V4 {
                        "lpm_key_v4".into()
                    } else {
                        "lpm_key_v6".into()
                    },
                    members: vec![
                        ("prefixlen".into(), BtfType::U32),
                        (
                            "addr".into(),
                            BtfType::Array {
                                elem: Box::new(BtfType::U8),
                                len: addr_len,
                            },
                        ),
                    ],
                },
                value: BtfType::U8,
                max_entries: set_capacity(entries.len()),
                flags: aya_obj::generated::BPF_F_NO_PREALLOC,
            });
            map_contents.push(MapContents {
                map: name,
                entries: entries
                    .into_iter()
                    .map(|(plen, addr)| {
                        let mut key = u32::from(plen).to_le_bytes().to_vec();
                        key.extend(addr);
                        (hex(&key), "01".to_string())
                    })
                    .collect(),
            });
        }
    }
    Ok(Compiled {
        module,
        programs,
        maps,
        metadata: Metadata {
            format: METADATA_FORMAT,
            programs: meta_programs,
            map_contents,
            counters: counters.max(1),
            tables: table_data,
        },
        tables,
    })
}

/// The node and entry records of a classifier tree: `(map, value size, bytes)`, in
/// the layout `bpf::classify` reads.
fn table_bytes(
    spec: &hooks::HookSpec,
    p: &crate::ir::Program,
    c: &crate::opt::classify::Classifier,
    k: usize,
    t: &crate::opt::classify::Tree,
) -> [(String, usize, Vec<u8>); 2] {
    use crate::opt::classify::Node;
    let (nodes_map, rules_map) = crate::bpf::classify::map_names(c, k);
    let node_size = crate::opt::classify::Tree::NODE_SIZE;
    let mut nodes = vec![0u8; node_size * t.nodes.len()];
    for (n, rec) in t.nodes.iter().zip(nodes.chunks_mut(node_size)) {
        let mut put = |at: usize, v: u32| rec[at..at + 4].copy_from_slice(&v.to_le_bytes());
        match n {
            Node::Leaf { start, len } => {
                put(0, len + 1);
                put(4, *start);
            }
            Node::Inner {
                dim,
                threshold,
                left,
                right,
            } => {
                put(4, 4 * *dim as u32);
                put(8, *threshold);
                put(12, *left);
                put(16, *right);
            }
        }
    }
    let entry_size = t.entry_size();
    let (flags_at, counter_at) = (t.entry_flags_offset(), t.entry_counter_offset());
    let mut entries = vec![0u8; entry_size * t.leaf_entries.len()];
    for (&e, rec) in t.leaf_entries.iter().zip(entries.chunks_mut(entry_size)) {
        let e = &t.entries[e as usize];
        let rule = &p.rules[e.rule as usize];
        for d in 0..t.dims.len() {
            rec[8 * d..8 * d + 4].copy_from_slice(&e.lo[d].to_le_bytes());
            rec[8 * d + 4..8 * d + 8].copy_from_slice(&e.hi[d].to_le_bytes());
        }
        rec[flags_at] = e.tcp_flags.0;
        rec[flags_at + 1] = e.tcp_flags.1;
        rec[flags_at + 2] = u8::from(e.needs_l4);
        rec[counter_at..counter_at + 4].copy_from_slice(&rule.counter.to_le_bytes());
        let verdict = crate::bpf::lower::verdict(spec, rule.action);
        rec[counter_at + 4..counter_at + 8].copy_from_slice(&verdict.to_le_bytes());
        rec[counter_at + 8..counter_at + 12].copy_from_slice(&e.rule.to_le_bytes());
    }
    [
        (nodes_map, node_size, nodes),
        (rules_map, entry_size, entries),
    ]
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

/// Room for a set to grow in place: `sockc apply` updates the entries of a live map
/// when only set contents change, which needs the new contents to fit the old map.
/// The tries are not preallocated, so unused capacity costs no memory.
pub fn set_capacity(elements: usize) -> u32 {
    (elements.max(1) * 2).next_power_of_two().max(1024) as u32
}

/// (prefix length, network-order address bytes).
type PrefixList = Vec<(u8, Vec<u8>)>;

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The inverse of [`hex`]; `None` for text that is not pairs of hex digits.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Compiled {
    /// The ELF object.
    pub fn to_elf(&self) -> Result<Vec<u8>, ObjError> {
        let img = ObjectImage {
            programs: self
                .programs
                .iter()
                .map(|p| ProgramImage {
                    name: p.symbol.clone(),
                    section: p.section.to_string(),
                    insns: p.code.insns.clone(),
                    map_relocs: p.code.map_relocs.clone(),
                })
                .collect(),
            maps: self.maps.clone(),
            license: "GPL".into(),
            metadata: serde_json::to_vec(&self.metadata).expect("metadata serializes"),
            tables: self.tables.clone(),
        };
        crate::obj::write_object(&img)
    }

    /// Disassembly of every program, each under a header naming it.
    pub fn asm(&self) -> String {
        let mut out = String::new();
        for (p, meta) in self.programs.iter().zip(&self.metadata.programs) {
            out.push_str(&format!(
                "{}: {} {} section {} ({} insns)\n",
                p.symbol,
                meta.hook,
                if meta.attach_to.is_empty() {
                    "-"
                } else {
                    &meta.attach_to
                },
                p.section,
                p.code.insns.len()
            ));
            out.push_str(&crate::disasm::disassemble(
                &p.code.insns,
                &p.code.map_relocs,
                &p.code.notes,
            ));
            out.push('\n');
        }
        out
    }
}

/// Reads the metadata back from an object written by [`Compiled::to_elf`].
pub fn read_metadata(elf: &[u8]) -> Result<Option<Metadata>, String> {
    let Some(bytes) = crate::obj::read_metadata(elf).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("bad .sockc metadata: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::{Insn, Reg};
    use aya_obj::generated::bpf_func_id;

    /// A lowered program whose lookup is not released is refused with a diagnostic
    /// at the rule that made the lookup.
    #[test]
    fn an_unreleased_reference_names_its_rule() {
        let src = "xdp on eth0 {\n    drop udp to *:53\n    allow tcp to 1.1.1.0/24:53 if socket exists\n    default drop\n}\n";
        let (compiled, _) = compile(src, &Options::default());
        let compiled = compiled.expect("compiles");
        let prog = compiled.module.programs.values().next().unwrap();
        let mut code = compiled.programs[0].code.clone();
        assert_eq!(check_references(prog, &code), Ok(()));
        let release = Insn::call(bpf_func_id::BPF_FUNC_sk_release as u32);
        let at = code.insns.iter().position(|i| *i == release).unwrap();
        code.insns[at] = Insn::mov64_imm(Reg::R0, 0);
        let (span, msg) = check_references(prog, &code).unwrap_err();
        assert_eq!(
            &src[span.start..span.end],
            "allow tcp to 1.1.1.0/24:53 if socket exists"
        );
        assert!(
            msg.contains("line 3") && msg.contains("still held"),
            "{msg}"
        );
    }
}
