//! The imported file as text: a header saying what was imported, the set
//! declarations, then one block per place, each flat rule under a comment quoting the
//! source rule (and the jumps that led to it) and, when it is not exact, why.
//!
//! Invariant: every line written is a comment, a set declaration, a block head or
//! end, a rule of an [`Entry`] (whose `lines` get its line number), or the block's
//! default; comments never contain a line break, so the source's text cannot end a
//! comment and inject a rule.

use std::fmt::Write as _;

use super::{
    sets::{SetBody, SetTable},
    Block,
};
use crate::{
    model::Ruleset,
    semantics::{flatten::Origin, Place, Placed},
    status::Status,
};

/// The longest source text quoted in a comment.
const QUOTE_MAX: usize = 200;

/// Text safe inside a comment: one line (line breaks and tabs become spaces), bounded,
/// other invisible characters escaped (`\x1b`, `\u{202e}`: a bidirectional override
/// in a comment could make the rules around it read otherwise).
pub fn comment_text(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut out = sockc_compiler::diag::escaped(&spaced).into_owned();
    if out.chars().count() > QUOTE_MAX {
        out = out.chars().take(QUOTE_MAX).collect::<String>() + " ...";
    }
    out
}

struct Out {
    text: String,
    line: u32,
}

impl Out {
    fn line(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.text.push('\n');
        self.line += 1;
        self.line
    }

    fn comment(&mut self, indent: &str, s: &str) {
        self.line(&format!("{indent}# {}", comment_text(s)));
    }
}

/// Writes the file's body, which starts at line `first_line + 1` (after a header of
/// `first_line` lines); fills every entry's `lines`.
pub fn write(
    rs: &Ruleset,
    first_line: usize,
    sets: &SetTable,
    blocks: &mut [(&Placed, Block)],
) -> String {
    let mut out = Out {
        text: String::new(),
        line: first_line as u32,
    };
    if !sets.decls.is_empty() {
        out.line("");
    }
    for d in &sets.decls {
        out.comment("", &d.comment);
        match &d.body {
            SetBody::Elements(e) => {
                out.line(&format!("set {} = {{ {} }}", d.name, e.join(", ")));
            }
            SetBody::File(path) => {
                out.line(&format!(
                    "set {} = file \"{}\"",
                    d.name,
                    path.replace('"', "")
                ));
            }
        }
    }
    for (placed, block) in blocks.iter_mut() {
        out.line("");
        write_block(rs, placed, block, &mut out);
    }
    out.text
}

fn write_block(rs: &Ruleset, placed: &Placed, block: &mut Block, out: &mut Out) {
    const IN: &str = "    ";
    for a in &block.about {
        out.comment("", a);
    }
    out.line(&format!("{} {{", block.head));
    for (rule, about) in &block.lead {
        out.comment(IN, about);
        out.line(&format!("{IN}{rule}"));
    }
    let netfilter = matches!(block.place, Place::Netfilter { .. });
    let default_drop = netfilter && ends_in_policy_drop(placed, block);
    let mut last: Option<(Origin, Vec<usize>)> = None;
    let mut last_note: Option<(Status, Vec<String>)> = None;
    for (r, e) in placed.list.rules.iter().zip(block.entries.iter_mut()) {
        let here = (r.origin, r.path.clone());
        if last.as_ref() != Some(&here) {
            match r.origin {
                Origin::Rule(id) => {
                    let rule = &rs.rules[id];
                    out.comment(IN, &format!("line {}: {}", rule.span.line, rule.source));
                }
                Origin::Policy { table, chain } => {
                    let t = &rs.tables[table];
                    let c = &t.chains[chain];
                    out.comment(
                        IN,
                        &format!(
                            "policy of chain {} (table {} {}, line {}): drop",
                            c.name,
                            t.family.name(),
                            t.name,
                            c.span.line
                        ),
                    );
                }
            }
            if !r.path.is_empty() {
                let via: Vec<String> = r
                    .path
                    .iter()
                    .map(|id| format!("line {}", rs.rules[*id].span.line))
                    .collect();
                out.comment(IN, &format!("  via {}", via.join(", ")));
            }
            last = Some(here);
            last_note = None;
        }
        let note = (e.status, e.reasons.clone());
        if !e.reasons.is_empty() && last_note.as_ref() != Some(&note) {
            let tag = match e.status {
                Status::Exact => "",
                Status::Residual => "IN NETFILTER (the residual): ",
                Status::Approximate => "APPROXIMATE: ",
                Status::Unsupported => "UNSUPPORTED: ",
            };
            out.comment(IN, &format!("  {tag}{}", e.reasons.join("; ")));
            last_note = Some(note);
        }
        if default_drop && matches!(r.origin, Origin::Policy { .. }) {
            break;
        }
        for rule in &e.rules {
            let n = out.line(&format!("{IN}{rule}"));
            e.lines.push(n);
        }
    }
    let mut default = String::new();
    let _ = write!(
        default,
        "{IN}{}",
        match (netfilter, default_drop) {
            (true, true) => "default drop",
            (true, false) => "default allow    # what no base chain here drops goes on to the hook's next function, as after netfilter's accept",
            (false, _) => "default allow    # what no base chain drops, netfilter accepts; frames that are not IP never reach its ip/ip6/inet tables",
        }
    );
    out.line(&default);
    out.line("}");
}

/// Whether a netfilter block's last flat rule is its chain's drop policy for every
/// packet, exactly: then it is the block's `default drop` (a netfilter program sees
/// only IP packets, so `drop any` and `default drop` are the same).
fn ends_in_policy_drop(placed: &Placed, block: &Block) -> bool {
    let (Some(r), Some(e)) = (placed.list.rules.last(), block.entries.last()) else {
        return false;
    };
    matches!(r.origin, Origin::Policy { .. })
        && r.log.is_none()
        && e.status == Status::Exact
        && e.rules == ["drop any"]
}
