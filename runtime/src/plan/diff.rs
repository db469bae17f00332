//! The texts a person reviews in a plan: rule listings and bytecode, and the unified
//! diffs between an installed file's and a new one's.
//!
//! Invariant: a bytecode diff compares instructions alone (no pcs, no source line
//! numbers), so a rule moved down a line changes nothing it shows; a diff is aligned
//! with bounded work ([`sockc_compiler::align`]: correct, not always minimal, on large lists), and is
//! cut past a number of lines, saying how many were cut.

use std::{fmt::Write, hash::Hash};

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

/// A line a diff prints: a line of bytecode, or a rule's [`RuleLine`].
pub(super) trait Line {
    /// Its length in bytes, as printed.
    fn width(&self) -> usize;
    fn push_to(&self, out: &mut String);
}

impl Line for &str {
    fn width(&self) -> usize {
        self.len()
    }

    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

/// Unified diff hunks (no file header) between `old` and `new`, aligned on the keys
/// and printed with the original lines. Empty when the keys are equal.
pub(super) fn unified_hunks<L: Line, K: Hash + Eq>(
    old: &[L],
    new: &[L],
    old_keys: &[K],
    new_keys: &[K],
) -> String {
    let ops = sockc_compiler::align::diff_ops(old_keys, new_keys);
    if ops.iter().all(|op| op.tag() == DiffTag::Equal) {
        return String::new();
    }
    // Room for every line once with its mark (a first install's diff is all of them).
    let lines: usize = old.iter().chain(new).map(|l| l.width() + 2).sum();
    let mut out = String::with_capacity(lines + 64);
    for group in group_diff_ops(ops, CONTEXT) {
        let _ = writeln!(out, "{}", UnifiedHunkHeader::new(&group));
        for op in &group {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            // Appended, not formatted: a first install's diff has a line per rule.
            let mut line = |mark: char, text: &L| {
                out.push(mark);
                text.push_to(&mut out);
                out.push('\n');
            };
            match tag {
                DiffTag::Equal => new_range.for_each(|j| line(' ', &new[j])),
                DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                    old_range.for_each(|i| line('-', &old[i]));
                    new_range.for_each(|j| line('+', &new[j]));
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

/// A rule's line in a listing, `HOOK on IFACE: RULE`, kept as its two parts and
/// compared part by part: a listing of 100k rules is not copied into one text (12 MB
/// written and faulted in, both sides, at every plan).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct RuleLine<'a> {
    label: &'a str,
    text: &'a str,
}

impl Line for RuleLine<'_> {
    fn width(&self) -> usize {
        self.label.len() + 2 + self.text.len()
    }

    fn push_to(&self, out: &mut String) {
        out.push_str(self.label);
        out.push_str(": ");
        out.push_str(self.text);
    }
}

/// The rules of `programs`, in the order given, as their programs' labels and their
/// rules (the programs sockc adds have counters but no rules the user wrote: not
/// listed).
pub(super) fn rule_listing<'a>(programs: impl Iterator<Item = &'a ProgramSnapshot>) -> Listing<'a> {
    let programs: Vec<(String, &ProgramSnapshot)> = programs
        .filter(|p| p.hook.spec().block)
        .map(|p| (program_label(p.hook, &p.attach_to), p))
        .collect();
    Listing { programs }
}

/// Rule listings' programs, each with its label ([`rule_listing`]).
pub(super) struct Listing<'a> {
    programs: Vec<(String, &'a ProgramSnapshot)>,
}

impl Listing<'_> {
    /// One line per rule of every program, borrowed.
    pub(super) fn lines(&self) -> Vec<RuleLine<'_>> {
        let count = self.programs.iter().map(|(_, p)| p.rules.len()).sum();
        let mut lines = Vec::with_capacity(count);
        for (label, p) in &self.programs {
            lines.extend(p.rules.iter().map(|r| RuleLine {
                label,
                text: &r.text,
            }));
        }
        lines
    }
}
