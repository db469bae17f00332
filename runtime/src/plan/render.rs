//! A plan in words, as `sockc diff` and `sockc apply --dry-run` print it: a summary
//! line, the path the runtime takes, what happens to each program, then the rule
//! diff, the set changes, the declared sockets, the bytecode diffs and what becomes of
//! the counters. The summary form replaces every listing by its counts.
//!
//! Invariant: the text is a function of the plan alone, section by section in this
//! fixed order, so two runs over the same files print the same bytes.

use std::fmt::Write;

use super::{
    diff::HunkCounts, program_label, sets::described, ApplyPath, Plan, ProgramAction, ProgramPlan,
};

/// Set entries listed per map and direction by [`Plan::render`]; JSON has them all.
const MAX_LISTED_ENTRIES: usize = 50;

impl Plan {
    /// The plan for a person; `old_name`/`new_name` head the diffs (`installed`,
    /// `new.sk`, ...).
    pub fn render(&self, old_name: &str, new_name: &str) -> String {
        self.render_with(old_name, new_name, false)
    }

    /// [`Plan::render`] without listings: per program what happens, counts of rules
    /// added and removed, of set entries per set (and the path each takes), of changed
    /// bytecode lines; for changes too large to read line by line.
    pub fn render_summary(&self, old_name: &str, new_name: &str) -> String {
        self.render_with(old_name, new_name, true)
    }

    /// The lines of listing [`Plan::render`] prints beyond [`Plan::render_summary`]:
    /// the rule and bytecode diffs (each with its two header lines) and the set entries
    /// listed. Counted, not rendered: `apply` asks it to choose between the two.
    pub fn listing_lines(&self) -> usize {
        if !self.has_changes() {
            return 0;
        }
        let diff = |d: &str| {
            if d.is_empty() {
                0
            } else {
                d.lines().count() + 2
            }
        };
        let ports: usize = self
            .port_set_changes
            .iter()
            .map(|s| s.added.len() + s.removed.len())
            .sum();
        let listed = |n: usize| n.min(MAX_LISTED_ENTRIES) + usize::from(n > MAX_LISTED_ENTRIES);
        let maps: usize = self
            .set_changes
            .iter()
            .map(|s| listed(s.added.len()) + listed(s.removed.len()))
            .sum();
        let bytecode: usize = self.bytecode_diffs.iter().map(|(_, d)| diff(d)).sum();
        let rules = match self.rule_diff.line_count() {
            0 => 0,
            n => n + 2,
        };
        rules + ports + maps + bytecode
    }

    fn render_with(&self, old_name: &str, new_name: &str, summary: bool) -> String {
        let mut out = String::new();
        if !self.has_changes() {
            let n_programs = count(self.programs.len(), "program", "programs");
            let _ = writeln!(out, "no changes ({n_programs} unchanged)");
            return out;
        }
        self.render_head(&mut out);
        self.render_programs(&mut out, new_name);
        let names = (old_name, new_name);
        if self.rule_diff.is_empty() {
            let _ = writeln!(out, "rules: unchanged");
        } else if summary {
            let (a, r) = self.rule_diff.plus_minus();
            let _ = writeln!(out, "rules: +{a} -{r}");
        } else {
            let _ = writeln!(out, "rules:");
            diff_listing(&mut out, names, &self.rule_diff.text());
        }
        self.render_sets(&mut out, summary);
        if !self.socket_changes.is_empty() {
            let _ = writeln!(out, "sockets:");
            for c in &self.socket_changes {
                let _ = writeln!(out, "  {c}");
            }
        }
        for (symbol, diff) in &self.bytecode_diffs {
            if summary {
                let HunkCounts {
                    added: a,
                    removed: r,
                    ..
                } = HunkCounts::of(diff);
                let _ = writeln!(out, "bytecode {symbol}: +{a} -{r} lines");
            } else {
                let _ = writeln!(out, "bytecode {symbol}:");
                diff_listing(&mut out, names, diff);
            }
        }
        if !self.table_changes.is_empty() {
            let _ = writeln!(
                out,
                "tables: {} switched in place",
                self.table_changes.join(", ")
            );
        }
        self.render_counters(&mut out);
        out
    }

    /// The summary line (programs by action, and whether maps change in place) and
    /// the path. Only for a plan with changes.
    fn render_head(&self, out: &mut String) {
        let tally = |pred: &dyn Fn(ProgramAction) -> bool| {
            self.programs.iter().filter(|p| pred(p.action)).count()
        };
        let parts: Vec<String> = [
            (tally(&|a| a == ProgramAction::Attach), "to attach"),
            (
                tally(&|a| matches!(a, ProgramAction::Reload | ProgramAction::ReloadSameCode)),
                "to reload",
            ),
            (tally(&|a| a == ProgramAction::Detach), "to detach"),
            (tally(&|a| a == ProgramAction::Unchanged), "unchanged"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        // Changes were found, so the path is one of the four with work.
        let path = self.path();
        let mode = match path {
            ApplyPath::Nothing | ApplyPath::FirstInstall => "nothing installed yet",
            ApplyPath::TablesInPlace => "classifier tables switched in place, nothing reloads",
            ApplyPath::SetsInPlace => "set maps updated in place: yes, nothing reloads",
            ApplyPath::Reload => {
                "set maps updated in place: no (a new object with new maps is loaded)"
            }
        };
        let n_programs = count(self.programs.len(), "program", "programs");
        let _ = writeln!(out, "plan: {} ({n_programs}); {mode}", parts.join(", "));
        let _ = writeln!(out, "path: {}", path.describe());
    }

    /// One line per program: its hook and attach point, and what happens to it.
    fn render_programs(&self, out: &mut String, new_name: &str) {
        let labels: Vec<String> = self
            .programs
            .iter()
            .map(|p| program_label(p.hook, &p.attach_to))
            .collect();
        let rows = self
            .programs
            .iter()
            .zip(labels)
            .map(|(p, label)| [label, program_action(p, new_name)]);
        for line in crate::table::lines(&crate::table::headless(rows), "  ") {
            let _ = writeln!(out, "{line}");
        }
    }

    /// Port sets (compiled into the code) and set maps: per set the entries added and
    /// removed, and the way they go in.
    fn render_sets(&self, out: &mut String, summary: bool) {
        if self.set_changes.is_empty()
            && self.port_set_changes.is_empty()
            && self.set_reshapes.is_empty()
        {
            let _ = writeln!(out, "sets: unchanged");
            return;
        }
        let _ = writeln!(out, "sets:");
        let how = match self.path() {
            ApplyPath::Nothing | ApplyPath::FirstInstall => "filled at load",
            ApplyPath::TablesInPlace | ApplyPath::SetsInPlace => "map update in place, no reload",
            ApplyPath::Reload => "new maps filled at load, programs reload",
        };
        for s in &self.port_set_changes {
            let _ = writeln!(
                out,
                "  {} (ports, compiled into the code: reload): +{} -{}",
                s.set,
                s.added.len(),
                s.removed.len()
            );
            for (sign, entries) in [('+', &s.added), ('-', &s.removed)] {
                for e in entries.iter().filter(|_| !summary) {
                    let _ = writeln!(out, "    {sign} {e}");
                }
            }
        }
        for s in &self.set_changes {
            let _ = writeln!(
                out,
                "  {} ({how}): +{} -{}",
                s.map,
                s.added.len(),
                s.removed.len()
            );
            if let Some(r) = self.set_reshapes.iter().find(|r| r.map == s.map) {
                let why = r.describe();
                let _ = writeln!(out, "    new map: {why}, so the programs reload");
            }
            if summary {
                continue;
            }
            // Only the entries listed are made readable: a million-element set costs
            // its counts here, not a million strings.
            for (sign, entries) in [('+', &s.added), ('-', &s.removed)] {
                let n = entries.len();
                for text in described(&s.map, entries).take(MAX_LISTED_ENTRIES) {
                    let _ = writeln!(out, "    {sign} {text}");
                }
                if n > MAX_LISTED_ENTRIES {
                    let _ = writeln!(out, "    {sign} ... and {} more", n - MAX_LISTED_ENTRIES);
                }
            }
        }
        // A map whose definition changes while its entries do not (a file installed
        // when every set was a trie).
        for r in &self.set_reshapes {
            if !self.set_changes.iter().any(|s| s.map == r.map) {
                let why = r.describe();
                let _ = writeln!(out, "  {}: new map: {why}, so the programs reload", r.map);
            }
        }
    }

    /// What becomes of the rule counters: kept in place, carried over to the new
    /// object, or (first install) nothing to say.
    fn render_counters(&self, out: &mut String) {
        if self.maps_only && !self.fresh_slots.is_empty() {
            let _ = writeln!(
                out,
                "counters: kept in place; {} at zero",
                count(self.fresh_slots.len(), "new rule starts", "new rules start")
            );
        } else if self.maps_only {
            let _ = writeln!(out, "counters: all kept (nothing reloads)");
        } else if self.installed {
            let kept = self.counter_carry.len();
            let fresh = self.new_rule_count.saturating_sub(kept);
            let _ = match fresh {
                0 => writeln!(out, "counters: kept for all {kept} rules"),
                _ => writeln!(
                    out,
                    "counters: kept for {kept} of {}, {}",
                    count(self.new_rule_count, "rule", "rules"),
                    count(fresh, "starts at zero", "start at zero"),
                ),
            };
        }
    }
}

/// What happens to program `p`, in words.
fn program_action(p: &ProgramPlan, new_name: &str) -> String {
    let insns = |n: Option<usize>| n.unwrap_or(0);
    match p.action {
        ProgramAction::Attach => format!("attach (new program, {} insns)", insns(p.new_insns)),
        ProgramAction::Detach => format!("detach (not in {new_name})"),
        ProgramAction::Reload => format!(
            "reload (code changed, {} -> {} insns)",
            insns(p.old_insns),
            insns(p.new_insns)
        ),
        ProgramAction::ReloadSameCode => {
            "reload (same code, swapped with the new maps)".to_string()
        }
        ProgramAction::Unchanged => "unchanged".to_string(),
    }
}

/// A diff under its `---`/`+++` header, indented.
fn diff_listing(out: &mut String, (old_name, new_name): (&str, &str), diff: &str) {
    let _ = writeln!(out, "  --- {old_name}\n  +++ {new_name}");
    // Appended, not formatted: a first install lists every rule.
    out.reserve(diff.len() + 3 * diff.len() / 64);
    for line in diff.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
