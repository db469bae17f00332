//! pest pairs → AST: the [`Builder`] both parse paths share (the pest path for a
//! whole file, and the fast scanner for what it hands to pest), and the token decoders
//! the scanner uses too (prefixes, verdicts, protocol names, TCP flags), so both paths
//! accept and refuse exactly the same texts. The grammar's recovery rules (`bad_*`,
//! `unclosed_block`, `misplaced_decl`) become diagnostics here ([`super::hints`] says
//! what each syntax error means).
//!
//! Invariant: every node gets the span of its pair, moved by the base of the text pest
//! parsed, so spans always index the whole file.
//!
//! The builder is one type over several files, one per kind of construct: `decls.rs`
//! (`set`, `socket` and `reject answers` declarations), `blocks.rs` (hook blocks, their heads and
//! statements, and the blocks that do not close), `rules.rs` (a rule and its matches),
//! `values.rs` (numbers, ports, rates and bursts, checked against their bounds). The
//! token decoders the scanner shares are in [`super::decode`].

use pest::{iterators::Pair, Parser};

use super::{
    ast::*,
    grammar::{Rule, SockcParser},
    hints,
};
use crate::diag::{Code, Diagnostic, Sink, Span};

mod blocks;
mod ct_entry;
mod decls;
mod ipfield;
mod mark;
mod rules;
mod values;

/// Turns pest pairs into AST nodes. Pairs from a parse of `src[base..]` (the fast
/// scanner's hand-overs) get their spans moved by `base`.
pub(super) struct Builder {
    pub(super) diags: Sink,
    base: usize,
    /// Items and statements parsed by pest for the fast scanner (tests watch it).
    pub(super) handovers: usize,
}

/// Converts a pest error on `text` (which starts at byte `base` of the file) into a
/// diagnostic pointing at the exact spot and saying what was found there.
pub(super) fn pest_error(
    e: &pest::error::Error<Rule>,
    base: usize,
    text: &str,
    code: Code,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p.min(text.len()),
    };
    let (message, help, skip, len) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            // Failing on its first token, a line rule is reported as itself: say what
            // may start it instead.
            let starts: Vec<Rule> = positives
                .iter()
                .flat_map(|r| match r {
                    Rule::rule_line => vec![Rule::action, Rule::kw_default],
                    Rule::item_line | Rule::file => {
                        vec![
                            Rule::set_decl,
                            Rule::socket_decl,
                            Rule::answers_decl,
                            Rule::hook_block,
                        ]
                    }
                    Rule::head_line => vec![Rule::hook_block],
                    r => vec![*r],
                })
                .collect();
            let x = hints::explain(text, pos, &starts);
            (x.message, x.help, x.skip, x.len)
        }
        ErrorVariant::CustomError { message } => (format!("syntax error: {message}"), None, 0, 1),
    };
    let pos = (pos + skip).min(text.len());
    // A label of at least one byte where there is one (at the end of the text pest
    // points one past it; keep spans inside it).
    let end = (pos + len.max(1)).min(text.len());
    let mut d =
        Diagnostic::new(code, message).label(Span::new(base + pos, base + end.max(pos)), "here");
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

impl Builder {
    pub(super) fn new(max_diagnostics: usize) -> Self {
        Builder {
            diags: Sink::new(max_diagnostics),
            base: 0,
            handovers: 0,
        }
    }

    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }

    /// Parses one top-level item at `src[pos..]` with pest, as `file` would there, and
    /// adds it to `items`. Returns where the item ends, or `None` when no item parses
    /// there (then the whole file is an error).
    pub(super) fn item_at(
        &mut self,
        src: &str,
        pos: usize,
        items: &mut Vec<Item>,
    ) -> Option<usize> {
        let pair = SockcParser::parse(Rule::item_entry, &src[pos..])
            .ok()?
            .next()?
            .into_inner()
            .next()?;
        let end = pos + pair.as_span().end();
        self.handovers += 1;
        self.base = pos;
        self.item(pair, items);
        self.base = 0;
        Some(end)
    }

    /// Parses one statement of a hook block at `src[pos..]` with pest, as `hook_block`
    /// would there, and adds it to `stmts`. Returns where the statement ends.
    pub(super) fn stmt_at(
        &mut self,
        src: &str,
        pos: usize,
        stmts: &mut Vec<Stmt>,
    ) -> Option<usize> {
        let pair = SockcParser::parse(Rule::stmt_entry, &src[pos..])
            .ok()?
            .next()?
            .into_inner()
            .next()?;
        let end = pos + pair.as_span().end();
        self.handovers += 1;
        self.base = pos;
        self.stmt(pair, stmts);
        self.base = 0;
        Some(end)
    }

    fn err(&mut self, code: Code, msg: impl Into<String>, at: Span, label: &str) {
        self.diags
            .push(Diagnostic::new(code, msg).label(at, label.to_string()));
    }

    /// Re-parses a line that the recovering grammar skipped, to report what was
    /// expected there. (Past the diagnostics limit the line is only counted: the
    /// re-parse is the costly part.)
    fn bad_line(&mut self, pair: Pair<'_, Rule>, line_rule: Rule) {
        if !self.diags.has_room(Code::Syntax.severity()) {
            self.diags.count(Code::Syntax.severity());
            return;
        }
        let sp = self.span(&pair);
        let text = pair.as_str();
        match SockcParser::parse(line_rule, text) {
            Err(e) => self
                .diags
                .push(pest_error(&e, sp.start, text, Code::Syntax)),
            // Parses on its own but not in context, e.g. a rule outside a hook block.
            Ok(_) => {
                let what = match line_rule {
                    Rule::item_line => {
                        "expected a declaration (`set`, `socket`, `reject answers`, `residual`) or a hook block here"
                    }
                    Rule::head_line => "this block head is not followed by its block",
                    _ => "this line is not a rule",
                };
                self.err(Code::Syntax, format!("syntax error: {what}"), sp, "here");
            }
        }
    }

    pub(super) fn file(&mut self, pair: Pair<'_, Rule>) -> File {
        let mut items = Vec::new();
        for p in pair.into_inner() {
            self.item(p, &mut items);
        }
        File { items }
    }

    fn item(&mut self, p: Pair<'_, Rule>, items: &mut Vec<Item>) {
        match p.as_rule() {
            Rule::set_decl => {
                if let Some(s) = self.set_decl(p) {
                    items.push(Item::Set(s));
                }
            }
            Rule::socket_decl => {
                if let Some(s) = self.socket_decl(p) {
                    items.push(Item::Socket(s));
                }
            }
            Rule::answers_decl => {
                if let Some(a) = self.answers_decl(p) {
                    items.push(Item::Answers(a));
                }
            }
            Rule::residual_decl => {
                if let Some(r) = self.residual_decl(p) {
                    items.push(Item::Residual(r));
                }
            }
            Rule::hook_block => items.push(Item::Hook(self.hook_block(p, true))),
            Rule::unclosed_block => {
                let block = self.hook_block(p.clone(), false);
                self.unclosed(&p, &block);
                items.push(Item::Hook(block));
            }
            Rule::bad_block => {
                // The head says nothing usable; the statements are still checked
                // (their syntax), but they belong to no hook.
                let mut stmts = Vec::new();
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::bad_head => self.bad_line(q, Rule::head_line),
                        _ => self.stmt(q, &mut stmts),
                    }
                }
                for st in stmts {
                    if let Stmt::Decl(d) = st {
                        items.push(match d {
                            Decl::Set(s) => Item::Set(s),
                            Decl::Socket(s) => Item::Socket(s),
                            Decl::Answers(a) => Item::Answers(a),
                        });
                    }
                }
            }
            Rule::bad_item => {
                // A rule written outside any hook block is a common slip.
                if SockcParser::parse(Rule::rule_line, p.as_str().trim()).is_ok() {
                    let sp = self.span(&p);
                    self.err(
                        Code::RuleOutsideHook,
                        "rule outside a hook block",
                        sp,
                        "this rule is not inside `xdp on IF { ... }` or another hook block",
                    );
                } else {
                    self.bad_line(p, Rule::item_line);
                }
            }
            _ => {}
        }
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn string(p: Pair<'_, Rule>) -> String {
        p.into_inner()
            .next()
            .map(|i| i.as_str().to_string())
            .unwrap_or_default()
    }
}
