//! The texts a person reviews in a plan: rule listings and bytecode, and the unified
//! diffs between an installed file's and a new one's.
//!
//! Invariant: a bytecode diff compares instructions alone (no pcs, no source line
//! numbers), so a rule moved down a line changes nothing it shows; a diff is aligned
//! with bounded work ([`sockc_compiler::align`]: correct, not always minimal, on large lists), and is
//! cut past a number of lines, saying how many were cut.

use std::fmt::Write;

use similar::{group_diff_ops, udiff::UnifiedHunkHeader, DiffTag};

use super::{program_label, ProgramSnapshot};

/// Lines of unchanged context around each change in a diff.
const CONTEXT: usize = 3;

/// Bytecode diffs longer than this are cut, with a line saying how much was cut.
pub const MAX_DIFF_LINES: usize = 400;

/// The instruction lines of a disassembly: notes (`; ...`) are comments.
pub(super) fn code_lines(asm: &str) -> Vec<&str> {
    asm.lines().filter(|l| !l.starts_with(';')).collect()
}

/// Instruction slots of a disassembly: the last instruction's pc plus its width
/// (`ld_imm64`, opcode 0x18, takes two slots).
pub(super) fn insn_count(asm: &str) -> usize {
    let Some(last) = asm.lines().rev().find(|l| !l.starts_with(';')) else {
        return 0;
    };
    let pc = last
        .split(':')
        .next()
        .and_then(|s| s.trim().parse::<usize>().ok());
    let wide = last.contains(": (18) ");
    pc.map_or(0, |pc| pc + if wide { 2 } else { 1 })
}

/// What a disassembly line is compared as in a bytecode diff: without its pc (an
/// inserted instruction shifts every later pc) and without source line numbers in
/// notes, so the diff shows the instructions that changed and nothing else.
pub(super) fn asm_diff_key(line: &str) -> &str {
    if let Some(note) = line.strip_prefix("; line ") {
        return note.split_once(": ").map_or(line, |(_, text)| text);
    }
    if line.starts_with(';') {
        return line;
    }
    line.split_once(": ").map_or(line, |(_, insn)| insn)
}

/// Unified diff hunks (no file header) between `old` and `new`, aligned on the keys
/// and printed with the original lines. Empty when the keys are equal.
pub(super) fn unified_hunks(
    old: &[&str],
    new: &[&str],
    old_keys: &[&str],
    new_keys: &[&str],
) -> String {
    let ops = sockc_compiler::align::diff_ops(old_keys, new_keys);
    // Room for every line once with its mark (a first install's diff is all of them).
    let lines: usize = old.iter().chain(new).map(|l| l.len() + 2).sum();
    let mut out = String::with_capacity(lines + 64);
    for group in group_diff_ops(ops, CONTEXT) {
        let _ = writeln!(out, "{}", UnifiedHunkHeader::new(&group));
        for op in &group {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            // Appended, not formatted: a first install's diff has a line per rule.
            let mut line = |mark: char, text: &str| {
                out.push(mark);
                out.push_str(text);
                out.push('\n');
            };
            match tag {
                DiffTag::Equal => new_range.for_each(|j| line(' ', new[j])),
                DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                    old_range.for_each(|i| line('-', old[i]));
                    new_range.for_each(|j| line('+', new[j]));
                }
            }
        }
    }
    out
}

/// Keeps the first `max` lines, then says how many were cut.
pub(super) fn truncate_lines(text: String, max: usize) -> String {
    let total = text.lines().count();
    if total <= max {
        return text;
    }
    let mut out: String = text.lines().take(max).flat_map(|l| [l, "\n"]).collect();
    let _ = writeln!(
        out,
        "... {} more diff lines cut (`sockc compile --emit asm` shows the whole program)",
        total - max
    );
    out
}

/// One `HOOK on IFACE: RULE` line per rule, programs in the order given (the
/// programs sockc adds have counters but no rules the user wrote: not listed), in one
/// string: a 10k-rule file's listing is one allocation, not 10k.
pub(super) fn rule_listing<'a>(programs: impl Iterator<Item = &'a ProgramSnapshot>) -> Listing {
    let mut out = Listing::default();
    for p in programs.filter(|p| p.hook.spec().block) {
        let label = program_label(p.hook, &p.attach_to);
        let bytes: usize = p.rules.iter().map(|r| label.len() + r.text.len() + 2).sum();
        out.text.reserve(bytes);
        out.ends.reserve(p.rules.len());
        // Appended, not formatted: one line per rule of every program.
        for r in &p.rules {
            out.text.push_str(&label);
            out.text.push_str(": ");
            out.text.push_str(&r.text);
            out.ends.push(out.text.len());
        }
    }
    out
}

/// Lines kept end to end in one string, each ending where `ends` says.
#[derive(Default)]
pub(super) struct Listing {
    text: String,
    ends: Vec<usize>,
}

impl Listing {
    pub(super) fn lines(&self) -> Vec<&str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
            .collect()
    }
}
