//! The texts a person reviews in a plan: rule listings and bytecode, and the unified
//! diffs between an installed file's and a new one's.
//!
//! Invariant: a bytecode diff compares instructions alone (no pcs, no source line
//! numbers), so a rule moved down a line changes nothing it shows; a diff is aligned
//! with bounded work ([`sockc_compiler::align`]: correct, not always minimal, on large lists), and is
//! cut past a number of lines, saying how many were cut.

use std::{fmt::Write, hash::Hash};

use similar::{group_diff_ops, udiff::UnifiedHunkHeader, DiffTag};

use sockc_compiler::metadata::RuleMeta;

use super::{program_label, ProgramSnapshot};

/// Lines of unchanged context around each change in a diff.
const CONTEXT: usize = 3;

/// Bytecode diffs longer than this are cut, with a line saying how much was cut.
pub const MAX_DIFF_LINES: usize = 400;

/// The instruction lines of a disassembly: notes (`; ...`) are comments.
pub(super) fn code_lines(asm: &str) -> impl Iterator<Item = &str> {
    asm.lines().filter(|l| !l.starts_with(';'))
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

/// Lines a diff prints, by index: a slice of [`Line`]s, or the rules of one program
/// under its label ([`Labeled`]), which are not copied into lines first.
pub(super) trait Lines {
    fn count(&self) -> usize;
    /// Line `i`'s length in bytes, as printed.
    fn width(&self, i: usize) -> usize;
    fn push_to(&self, i: usize, out: &mut String);
}

impl<L: Line> Lines for [L] {
    fn count(&self) -> usize {
        self.len()
    }

    fn width(&self, i: usize) -> usize {
        self[i].width()
    }

    fn push_to(&self, i: usize, out: &mut String) {
        self[i].push_to(out);
    }
}

/// Unified diff hunks (no file header) between `old` and `new`, aligned on the keys
/// and printed with the original lines. Empty when the keys are equal.
pub(super) fn unified_hunks<O: Lines + ?Sized, N: Lines + ?Sized, K: Hash + Eq>(
    old: &O,
    new: &N,
    old_keys: &[K],
    new_keys: &[K],
) -> String {
    let ops = sockc_compiler::align::diff_ops(old_keys, new_keys);
    if ops.iter().all(|op| op.tag() == DiffTag::Equal) {
        return String::new();
    }
    // Room for every line once with its mark (a first install's diff is all of them).
    let mut out = String::with_capacity(widths(old) + widths(new) + 64);
    for group in group_diff_ops(ops, CONTEXT) {
        let _ = writeln!(out, "{}", UnifiedHunkHeader::new(&group));
        for op in &group {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => new_range.for_each(|j| push_line(&mut out, ' ', new, j)),
                DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                    old_range.for_each(|i| push_line(&mut out, '-', old, i));
                    new_range.for_each(|j| push_line(&mut out, '+', new, j));
                }
            }
        }
    }
    out
}

/// The bytes of every line of `lines`, each with its mark and newline.
fn widths<L: Lines + ?Sized>(lines: &L) -> usize {
    (0..lines.count()).map(|i| lines.width(i) + 2).sum()
}

/// Line `i` of `lines` appended with its mark, not formatted: a first install's diff
/// has a line per rule.
fn push_line<L: Lines + ?Sized>(out: &mut String, mark: char, lines: &L, i: usize) {
    out.push(mark);
    lines.push_to(i, out);
    out.push('\n');
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
        let mut lines = Vec::with_capacity(self.count());
        for (label, p) in &self.programs {
            lines.extend(p.rules.iter().map(|r| RuleLine {
                label,
                text: &r.text,
            }));
        }
        lines
    }

    /// Its rules, in all programs.
    fn count(&self) -> usize {
        self.programs.iter().map(|(_, p)| p.rules.len()).sum()
    }

    /// The listing's one program with its label, when it has one.
    fn only(&self) -> Option<Labeled<'_>> {
        match self.programs.as_slice() {
            [(label, p)] => Some(Labeled {
                label,
                rules: &p.rules,
            }),
            _ => None,
        }
    }
}

/// The rules of one program under its label: the lines of a listing of one program,
/// read in place ([`Lines`]).
#[derive(Clone, Copy)]
struct Labeled<'a> {
    label: &'a str,
    rules: &'a [RuleMeta],
}

impl Labeled<'_> {
    fn line(&self, i: usize) -> RuleLine<'_> {
        RuleLine {
            label: self.label,
            text: &self.rules[i].text,
        }
    }

    /// The rules as keys that compare (and hash) by text alone: where both listings
    /// are one program each under the same label, two lines are equal exactly when
    /// their texts are, so the lines need not be made (two lists of 100,000 lines,
    /// 6.4 MB of fresh memory at every large re-apply's plan) to be aligned.
    fn keys(&self) -> &[ByText] {
        ByText::slice(self.rules)
    }
}

impl Lines for Labeled<'_> {
    fn count(&self) -> usize {
        self.rules.len()
    }

    fn width(&self, i: usize) -> usize {
        self.line(i).width()
    }

    fn push_to(&self, i: usize, out: &mut String) {
        self.line(i).push_to(out);
    }
}

/// A rule entry compared and hashed by its text alone.
#[repr(transparent)]
struct ByText(RuleMeta);

impl ByText {
    fn slice(rules: &[RuleMeta]) -> &[ByText] {
        // SAFETY: `ByText` is `repr(transparent)` over `RuleMeta`: the same size,
        // alignment and layout, so a slice of one is a slice of the other, with the
        // same length and lifetime.
        unsafe { &*(rules as *const [RuleMeta] as *const [ByText]) }
    }
}

impl PartialEq for ByText {
    fn eq(&self, other: &Self) -> bool {
        self.0.text == other.0.text
    }
}

impl Eq for ByText {}

impl Hash for ByText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.text.hash(state);
    }
}

/// What a unified diff (hunks without the `---`/`+++` header) holds: lines added and
/// removed (hunk headers aside), and its lines, hunk headers included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HunkCounts {
    pub added: usize,
    pub removed: usize,
    pub lines: usize,
}

impl HunkCounts {
    pub(super) fn of(diff: &str) -> HunkCounts {
        let mut c = HunkCounts {
            added: 0,
            removed: 0,
            lines: 0,
        };
        for l in diff.lines() {
            c.lines += 1;
            if l.starts_with("@@") {
                continue;
            }
            c.added += usize::from(l.starts_with('+'));
            c.removed += usize::from(l.starts_with('-'));
        }
        c
    }
}

/// The diff of two rule listings ([`Plan::rule_diff`](super::Plan::rule_diff)):
/// unified hunks without the `---`/`+++` header, with the counts a summary and the
/// apply's choice between listing and counting read, taken once when it is made. A
/// diff whose old side lists no rule (a first install) adds every new rule: it keeps
/// the rules and writes its text only when that is read ([`RuleDiff::text`]), as
/// [`unified_hunks`] writes it — an apply of 100,000 rules that prints counts does not
/// write (8 MB) and count them three times.
///
/// Invariant: the counts are those of [`RuleDiff::text`], whichever form it has.
#[derive(Clone, Debug, Default)]
pub struct RuleDiff {
    form: Form,
    added: usize,
    removed: usize,
    /// Lines of the text, hunk headers included.
    lines: usize,
}

#[derive(Clone, Debug)]
enum Form {
    /// Written out (empty: the listings are equal).
    Text(String),
    /// Every rule of these programs (their labels and rule texts) added to an empty
    /// listing.
    AllAdded(Vec<(String, Vec<std::sync::Arc<str>>)>),
}

impl Default for Form {
    fn default() -> Self {
        Form::Text(String::new())
    }
}

impl RuleDiff {
    /// The diff of listing `old` to `new`.
    pub(super) fn of(old: &Listing<'_>, new: &Listing<'_>) -> RuleDiff {
        let new_count = new.count();
        if old.count() == 0 && new_count > 0 {
            let rules = new
                .programs
                .iter()
                .map(|(label, p)| {
                    (
                        label.clone(),
                        p.rules.iter().map(|r| r.text.clone()).collect(),
                    )
                })
                .collect();
            return RuleDiff {
                form: Form::AllAdded(rules),
                added: new_count,
                removed: 0,
                // One hunk: a header, then every line.
                lines: new_count + 1,
            };
        }
        if let Some((o, n)) = (old.only())
            .zip(new.only())
            .filter(|(o, n)| o.label == n.label)
        {
            return Self::counted(unified_hunks(&o, &n, o.keys(), n.keys()));
        }
        let (old_lines, new_lines) = (old.lines(), new.lines());
        Self::counted(unified_hunks(
            &old_lines[..],
            &new_lines[..],
            &old_lines,
            &new_lines,
        ))
    }

    /// `text` (unified hunks) with its counts.
    pub(super) fn counted(text: String) -> RuleDiff {
        let HunkCounts {
            added,
            removed,
            lines,
        } = HunkCounts::of(&text);
        RuleDiff {
            form: Form::Text(text),
            added,
            removed,
            lines,
        }
    }

    /// The hunks' text (written out now when the diff adds every rule).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match &self.form {
            Form::Text(t) => t.as_str().into(),
            Form::AllAdded(programs) => {
                let new: Vec<RuleLine<'_>> = programs
                    .iter()
                    .flat_map(|(label, rules)| {
                        rules.iter().map(move |text| RuleLine { label, text })
                    })
                    .collect();
                let none: [RuleLine<'_>; 0] = [];
                unified_hunks(&none[..], &new[..], &none, &new).into()
            }
        }
    }

    /// True when the listings are equal.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Lines added and removed (hunk headers aside).
    pub fn plus_minus(&self) -> (usize, usize) {
        (self.added, self.removed)
    }

    /// Lines of [`RuleDiff::text`], hunk headers included.
    pub fn line_count(&self) -> usize {
        self.lines
    }
}

impl PartialEq for RuleDiff {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for RuleDiff {}

impl PartialEq<&str> for RuleDiff {
    fn eq(&self, other: &&str) -> bool {
        self.text() == *other
    }
}
