//! Hook blocks built from their pairs: the head (hook, attach point, options), the
//! statements (rules, declarations, `default`), and what the recovering grammar made
//! of a block that never closes or a line it skipped.
//!
//! Invariant: a block that never closes still yields the statements it holds, and
//! exactly one diagnostic at its head says so.

use pest::iterators::Pair;

use super::Builder;
use crate::{
    diag::{quote, Code, Diagnostic, Span},
    syntax::{ast::*, decode::verdict, grammar::Rule},
};

impl Builder {
    /// Reports a block whose `}` never came, at its head and where it was cut.
    pub(super) fn unclosed(&mut self, pair: &Pair<'_, Rule>, block: &HookBlock) {
        let input = pair.get_input();
        let local_end = pair.as_span().end();
        // Point at the next block's first word, past the blanks before it.
        let blanks =
            input[local_end..].len() - input[local_end..].trim_start_matches([' ', '\t']).len();
        let cut = self.base + local_end + blanks;
        let at_end = local_end + blanks >= input.len();
        let head_text = &input[block.head_span.start - self.base..block.head_span.end - self.base];
        self.diags.push(
            Diagnostic::new(
                Code::UnclosedBlock,
                format!("the block `{}` is never closed", quote(head_text.trim())),
            )
            .label(block.head_span, "this block's `{` has no matching `}`")
            .label(
                Span::new(cut, cut),
                if at_end {
                    "the file ends here"
                } else {
                    "the next block starts here"
                },
            )
            .help(if at_end {
                "add `}` after the block's last line"
            } else {
                "add `}` after the block's last line, before the next block"
            }),
        );
    }

    pub(super) fn hook_block(&mut self, pair: Pair<'_, Rule>, closed: bool) -> HookBlock {
        let sp = self.span(&pair);
        let mut head = HookHead::SkLookup;
        let mut head_span = sp;
        let mut stmts = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::xdp_head
                | Rule::tc_head
                | Rule::sk_lookup_head
                | Rule::sockmap_head
                | Rule::netfilter_head
                | Rule::cgroup_head => {
                    head_span = self.span(&p);
                    head = self.hook_head(p);
                }
                _ => self.stmt(p, &mut stmts),
            }
        }
        HookBlock {
            head,
            head_span,
            stmts,
            span: sp,
            closed,
        }
    }

    pub(super) fn stmt(&mut self, p: Pair<'_, Rule>, stmts: &mut Vec<Stmt>) {
        match p.as_rule() {
            Rule::default_stmt => {
                let s = self.span(&p);
                let inner: Vec<_> = p.into_inner().flatten().collect();
                let v = inner
                    .iter()
                    .find(|q| q.as_rule() == Rule::verdict)
                    .map(|q| verdict(q.as_str()))
                    .unwrap_or(Verdict::Allow);
                let log = match inner.iter().find(|q| q.as_rule() == Rule::log_opt) {
                    Some(l) => {
                        let Some(rate) = self.log_rate(l.clone()) else {
                            return;
                        };
                        Some((rate, self.span(l)))
                    }
                    None => None,
                };
                stmts.push(Stmt::Default(v, s, log));
            }
            Rule::rule_def => {
                if let Some(r) = self.rule(p) {
                    stmts.push(Stmt::Rule(r));
                }
            }
            Rule::misplaced_decl => {
                let sp = self.span(&p);
                for q in p.into_inner() {
                    let (decl, what) = match q.as_rule() {
                        Rule::set_decl => (self.set_decl(q).map(Decl::Set), "set"),
                        Rule::socket_decl => (self.socket_decl(q).map(Decl::Socket), "socket"),
                        Rule::answers_decl => {
                            (self.answers_decl(q).map(Decl::Answers), "reject answers")
                        }
                        _ => continue,
                    };
                    self.diags.push(
                        Diagnostic::new(
                            Code::DeclarationInBlock,
                            format!("a `{what}` declaration inside a hook block"),
                        )
                        .label(sp, "declarations go outside hook blocks")
                        .help("move it above the block (or is the `}` of the block above it missing?)"),
                    );
                    if let Some(d) = decl {
                        stmts.push(Stmt::Decl(d));
                    }
                }
            }
            Rule::bad_stmt => {
                let sp = self.span(&p);
                // A `default` that did not parse still says the block has one.
                let text = p.as_str().as_bytes();
                if text.starts_with(b"default")
                    && !text
                        .get(7)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
                {
                    stmts.push(Stmt::BadDefault(sp));
                }
                self.bad_line(p, Rule::rule_line)
            }
            _ => {}
        }
    }

    fn hook_head(&mut self, pair: Pair<'_, Rule>) -> HookHead {
        let head_rule = pair.as_rule();
        let mut iface = String::new();
        let mut egress = false;
        let mut receive = false;
        let mut call = None;
        let mut nf = (NfHook::Input, None);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::nf_hook => nf.0 = NfHook::from_word(p.as_str()).unwrap_or(NfHook::Input),
                // Digits past i64 saturate: sema refuses anything outside i32 anyway.
                Rule::nf_priority => {
                    nf.1 = Some(
                        p.as_str()
                            .parse()
                            .unwrap_or(if p.as_str().starts_with('-') {
                                i64::MIN
                            } else {
                                i64::MAX
                            }),
                    )
                }
                Rule::iface => iface = p.as_str().to_string(),
                Rule::string => iface = Self::string(p),
                Rule::cgroup_unit => {
                    let name = p
                        .into_inner()
                        .find(|q| q.as_rule() == Rule::string)
                        .map(Self::string)
                        .unwrap_or_default();
                    iface = format!("{}{name}", crate::syntax::ast::UNIT_PREFIX);
                }
                Rule::tc_dir | Rule::cgroup_dir => egress = p.as_str().starts_with("egress"),
                Rule::sockmap_side => receive = p.as_str().starts_with("receive"),
                Rule::cgroup_call => {
                    call = Some(match p.as_str() {
                        "connect" => SockCall::Connect,
                        "sendmsg" => SockCall::Sendmsg,
                        _ => SockCall::Bind,
                    })
                }
                _ => {}
            }
        }
        match head_rule {
            Rule::xdp_head => HookHead::Xdp { iface },
            Rule::tc_head => HookHead::Tc { egress, iface },
            Rule::sockmap_head => HookHead::Sockmap {
                cgroup: iface,
                receive,
            },
            Rule::netfilter_head => HookHead::Netfilter {
                hook: nf.0,
                priority: nf.1,
            },
            Rule::cgroup_head => match call {
                Some(call) => HookHead::CgroupCall { call, path: iface },
                None => HookHead::Cgroup {
                    egress,
                    path: iface,
                },
            },
            _ => HookHead::SkLookup,
        }
    }
}
