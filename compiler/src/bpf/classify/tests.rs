//! Tests of the classifier tables' encoding and the walk's code.

use super::{tables::*, walk::*, words::*, *};
use crate::{
    hooks::HookSpec,
    ir::classifier::{Dim, MAX_DIMS},
    syntax::ast::Family,
};

/// Runs of repeated words and literal words come back as written; short repeats
/// join the literal around them; an encoding that does not fill the output, or
/// runs past its end, is refused.
#[test]
fn words_round_trip() {
    let mut enc = Vec::new();
    let mut w = Words::new(&mut enc);
    w.literal(&[1, 2]);
    w.repeat(2, 7);
    w.repeat(300, 9);
    w.literal(&[3]);
    w.repeat(0, 5);
    w.finish();
    let mut expect: Vec<u32> = vec![1, 2, 7, 7];
    expect.extend(std::iter::repeat_n(9, 300));
    expect.push(3);
    let bytes: Vec<u8> = expect.iter().flat_map(|v| v.to_le_bytes()).collect();
    // literal(4) + 4 words, repeat(2 words), literal(1) + 1 word.
    assert_eq!(enc.len(), 4 * (1 + 4 + 2 + 1 + 1));
    let mut out = vec![0u8; bytes.len()];
    assert_eq!(decode_words(&enc, &mut out), Some(()));
    assert_eq!(out, bytes);
    let mut short = vec![0u8; bytes.len() + 4];
    assert_eq!(decode_words(&enc, &mut short), None);
    let mut long = vec![0u8; bytes.len() - 4];
    assert_eq!(decode_words(&enc, &mut long), None);
    assert_eq!(decode_words(&enc[..enc.len() - 2], &mut out), None);
}

/// The tables as they were encoded before the records were written in place: a
/// literal word at a time after the header and nodes.
fn tables_word_by_word(spec: &HookSpec, p: &Program, c: &Classifier) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = header_and_nodes(c, &mut out);
    for t in &c.tries {
        let nd = t.dims.len();
        let mut rec = vec![0u32; record_size(nd) / 4];
        let (fl, ct) = (flags_offset(nd) / 4, counter_offset(nd) / 4);
        let outcomes = outcomes(spec, p, t);
        for &i in t.leaves.ids() {
            let e = &t.entries.get(i as usize);
            write_ranges(t.family, e, &mut rec);
            rec[fl] = u32::from_le_bytes([e.tcp_flags.0, e.tcp_flags.1, u8::from(e.needs_l4), 0]);
            [rec[ct], rec[ct + 1]] = outcomes[i as usize];
            rec[ct + 2] = e.rule;
            w.literal(&rec);
        }
    }
    w.finish();
    out
}

/// The records written in place, whole or in halves cut anywhere, give the bytes
/// the encoder gave a word at a time: on the ClassBench 1k files (three tries,
/// the cut inside each of them and between), with both families, and with a
/// counting classifier.
#[test]
fn records_in_place_and_in_halves_encode_as_word_by_word() {
    let mut srcs: Vec<String> = ["acl1", "fw1", "ipc1"]
        .iter()
        .map(|set| sockc_testkit::classbench::vendored_1k_sk(set, usize::MAX))
        .collect();
    srcs.push(forty_src(
        "xdp on eth0",
        "    drop ip6 udp to 2001:db8::/32\n",
    ));
    srcs.push(forty_src("xdp on eth0", "").replace("drop tcp", "count tcp"));
    let mut halved = 0;
    for src in &srcs {
        let (c, d) = crate::compile(src, &Default::default());
        let c = c.unwrap_or_else(|| panic!("{d:?}"));
        for p in c.module.programs.values() {
            let spec = crate::hooks::spec(p.hook);
            for cl in p.steps.iter().filter_map(|s| match s {
                crate::ir::Step::Classify(cl) => Some(cl),
                _ => None,
            }) {
                let expect = tables_word_by_word(spec, p, cl);
                let records = records_bytes(cl);
                // Whole, then halved at once (the cut at the middle), then with the
                // tries' sizes made to move the middle across each trie's records.
                for min in [usize::MAX, 0] {
                    let mut out = Vec::new();
                    tables_halved_from(spec, p, cl, &mut out, min);
                    assert_eq!(out, expect, "halved from {min}");
                    let (first, second) = record_halves(cl, records, min);
                    if min == 0 && !second.is_empty() {
                        halved += 1;
                        let cut = parts_bytes(cl, &first);
                        assert!(cut.abs_diff(records / 2) <= record_size(MAX_DIMS));
                        assert_eq!(cut + parts_bytes(cl, &second), records);
                    }
                }
            }
        }
    }
    assert!(halved >= 4, "only {halved} classifiers halved");
}

/// The halves of a classifier's records (an IPv4 and an IPv6 trie, records of
/// two sizes) cut at every record boundary put each record in exactly one half, in
/// order, and write the same bytes.
#[test]
fn records_cut_anywhere_write_the_same_bytes() {
    let src = forty_src("xdp on eth0", "    drop ip6 udp to 2001:db8::/32\n");
    let (c, d) = crate::compile(&src, &Default::default());
    let c = c.unwrap_or_else(|| panic!("{d:?}"));
    let p = c.module.programs.values().next().unwrap();
    let spec = crate::hooks::spec(p.hook);
    let crate::ir::Step::Classify(cl) = &p.steps[0] else {
        panic!("not classified: {:?}", p.steps);
    };
    let records = records_bytes(cl);
    let mut whole = vec![0u8; records];
    write_records(spec, p, cl, &mut whole, usize::MAX);
    assert!(cl.tries.len() >= 2, "{} tries", cl.tries.len());
    for bytes in (0..=2 * records).step_by(4) {
        let (first, second) = record_halves(cl, bytes, 0);
        let ids = |parts: &[Part]| -> Vec<(usize, usize)> {
            parts
                .iter()
                .flat_map(|(k, r)| r.clone().map(move |i| (*k, i)))
                .collect()
        };
        let mut all = ids(&first);
        all.extend(ids(&second));
        let expect: Vec<(usize, usize)> = cl
            .tries
            .iter()
            .enumerate()
            .flat_map(|(k, t)| (0..t.leaves.total()).map(move |i| (k, i)))
            .collect();
        assert_eq!(all, expect, "cut for {bytes} bytes");
        let mut out = vec![0u8; records];
        let (a, b) = out.split_at_mut(parts_bytes(cl, &first));
        write_parts(spec, p, cl, &first, a);
        write_parts(spec, p, cl, &second, b);
        assert_eq!(out, whole, "cut for {bytes} bytes");
    }
}

/// A block of 40 classifiable rules (one run), then `more` lines, compiled.
fn forty_rules(more: &str) -> crate::Compiled {
    forty_rules_at("xdp on eth0", more)
}

fn forty_rules_at(head: &str, more: &str) -> crate::Compiled {
    let src = forty_src(head, more);
    let (c, d) = crate::compile(&src, &Default::default());
    c.unwrap_or_else(|| panic!("{d:?}"))
}

/// [`forty_rules_at`]'s source.
fn forty_src(head: &str, more: &str) -> String {
    let mut src = format!("{head} {{\n");
    for i in 0..40 {
        src.push_str(&format!(
            "    drop tcp from 10.0.{i}.0/24 to *:{}\n",
            1000 + i
        ));
    }
    src.push_str(more);
    src.push_str("    default allow\n}\n");
    src
}

/// A classified match goes straight to the count tail only where the kernel takes
/// any return code (XDP, TC); a cgroup_skb program's is checked at exit, so there
/// the verdict word read from the table goes through the dispatch that turns it
/// into its constant (the verifier refused 1,000 ClassBench rules at cgroup egress:
/// "R0 has smin=-2147483648 smax=2147483647 should have been in [0, 3]").
#[test]
fn a_classified_verdict_is_a_constant_where_the_verifier_checks_it() {
    let dispatched = |c: &crate::Compiled| {
        c.programs[0]
            .code
            .notes
            .iter()
            .any(|(_, n)| n.starts_with("classified match"))
    };
    assert!(!dispatched(&forty_rules("")));
    assert!(!dispatched(&forty_rules_at("tc egress on eth0", "")));
    for head in [
        "cgroup egress \"/sys/fs/cgroup/a\"",
        "cgroup ingress \"/sys/fs/cgroup/a\"",
    ] {
        let c = forty_rules_at(head, "");
        let prog = c.module.programs.values().next().unwrap();
        assert!(
            prog.steps
                .iter()
                .any(|s| matches!(s, crate::ir::Step::Classify(_))),
            "{head}"
        );
        assert!(dispatched(&c), "{head}");
    }
}

/// An IPv6 trie's leaves compare address halves as 64-bit ranges: the checks of
/// a run of `/64` sources with ports are the source's first half, the port and
/// the protocol, and a record holds each half as (lo, hi) little-endian `u64`s
/// with the half's first word the more significant.
#[test]
fn ipv6_leaves_compare_address_halves() {
    let mut src = String::from("xdp on eth0 {\n");
    for i in 0..40 {
        src.push_str(&format!(
            "    drop ip6 tcp from 2001:db8:0:{i:x}::/64 to *:{}\n",
            1000 + i
        ));
    }
    src.push_str("    default allow\n}\n");
    let (c, d) = crate::compile(&src, &Default::default());
    let c = c.unwrap_or_else(|| panic!("{d:?}"));
    let prog = c.module.programs.values().next().unwrap();
    let crate::ir::Step::Classify(cl) = &prog.steps[0] else {
        panic!("not classified: {:?}", prog.steps);
    };
    let t = &cl.tries[0];
    assert_eq!(t.family, Family::V6);
    assert_eq!(checks(t), [Check::Half(0), Check::Word(9), Check::Word(10)]);
    let e = &t.entries.get(0);
    let mut rec = vec![0u32; record_size(t.dims.len()) / 4];
    write_ranges(t.family, e, &mut rec);
    let u64_at = |w: usize| u64::from(rec[w]) | u64::from(rec[w + 1]) << 32;
    let half = 0x2001_0db8_0000_0000u64 | u64::from(e.lo[1]);
    assert_eq!((u64_at(0), u64_at(2)), (half, half), "source half 0");
    assert_eq!((u64_at(4), u64_at(6)), (0, u64::MAX), "source half 1: any");
    assert_eq!((rec[18], rec[19]), (e.lo[9], e.hi[9]), "port as a word");
    // The key keeps each half's words swapped, so its u64 is the same number.
    assert_eq!((Dim::slot(Family::V6, 0), Dim::slot(Family::V6, 1)), (1, 0));
    assert_eq!(Dim::slot(Family::V6, 9), 9);
    assert_eq!(Dim::slot(Family::V4, 1), 1);
}

/// A table past [`MAX_TABLE_BYTES`] is refused by name (its leaf references would
/// wrap), one at the bound is not: a real classifier with its first trie's node
/// list padded to the size.
#[test]
fn a_table_over_the_reference_range_is_refused() {
    let c = forty_rules("");
    let prog = c.module.programs.values().next().unwrap();
    let crate::ir::Step::Classify(cl) = &prog.steps[0] else {
        panic!("not classified: {:?}", prog.steps);
    };
    assert!(table_limit(prog, cl).is_none());
    let mut big = cl.clone();
    let pad = (MAX_TABLE_BYTES - table_size(cl)) / NODE_SIZE;
    let node = big.tries[0].nodes[0].clone();
    let node_copy = node.clone();
    big.tries[0].nodes.extend(std::iter::repeat_n(node, pad));
    assert!(table_size(&big) <= MAX_TABLE_BYTES);
    assert!(table_limit(prog, &big).is_none(), "at the bound");
    big.tries[0].nodes.push(node_copy);
    let d = table_limit(prog, &big).expect("refused past the bound");
    assert_eq!(d.code, "sockc::table-limit");
    assert!(d.message.contains("lines 2-41"), "{}", d.message);
}

/// The table of a classified run decodes to `table_size` bytes whose header
/// carries the format mark and a root per trie, and whose references stay inside
/// the table.
#[test]
fn tables_decode_to_their_layout() {
    let c = forty_rules("    drop ip6 udp to 2001:db8::/32\n");
    let t = &c.metadata.tables[0];
    let mut out = vec![0u8; t.len as usize];
    let stored = &c.tables[t.offset as usize..(t.offset + t.stored) as usize];
    assert_eq!(decode_words(stored, &mut out), Some(()));
    let word = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
    assert_eq!(word(0), FORMAT);
    let prog = c.module.programs.values().next().unwrap();
    let crate::ir::Step::Classify(cl) = &prog.steps[0] else {
        panic!("not classified: {:?}", prog.steps);
    };
    assert_eq!(t.len as usize, table_size(cl));
    for (k, trie) in cl.tries.iter().enumerate() {
        assert_eq!(word(root_at(k) + 4), trie.entries.rule(0));
        let root = word(root_at(k));
        let inside = if root & LEAF_BIT != 0 {
            4 * (root & 0x0fff_ffff) as usize <= out.len()
        } else {
            HEADER + NODE_SIZE * (root & 0x00ff_ffff) as usize + NODE_SIZE <= out.len()
        };
        assert!(inside, "root {root:#x} of trie {k}");
    }
}
