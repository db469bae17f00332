//! The mark's pairs built: a rule's `mark VALUE[/MASK]` and the file's `residual FORMAT
//! file "PATH" mark BIT` declaration (`syntax::mark` says what they mean).
//!
//! Invariant: a number past 32 bits, or a value with bits outside its mask, is
//! reported at its span and the match left out, never cut down.

use pest::iterators::Pair;

use super::Builder;
use crate::diag::Code;
use crate::syntax::{
    ast::{Match, ResidualDecl},
    grammar::Rule,
    mark::{parse_mark, MarkTest, ResidualFormat},
};

impl Builder {
    /// `mark VALUE[/MASK]`.
    pub(super) fn mark_match(&mut self, pair: Pair<'_, Rule>) -> Option<Match> {
        let sp = self.span(&pair);
        let values: Vec<_> = pair
            .into_inner()
            .filter(|q| q.as_rule() == Rule::mark_value)
            .collect();
        let value = self.mark_number(values.first()?)?;
        let mask = match values.get(1) {
            Some(m) => self.mark_number(m)?,
            None => u32::MAX,
        };
        if value & !mask != 0 {
            self.err(
                Code::Mark,
                format!("mark {value:#x} has bits outside its mask {mask:#x}: it never matches"),
                sp,
                "never matches",
            );
            return None;
        }
        Some(Match::Mark(MarkTest { value, mask }, sp))
    }

    pub(super) fn mark_number(&mut self, p: &Pair<'_, Rule>) -> Option<u32> {
        let n = parse_mark(p.as_str());
        if n.is_none() {
            let sp = self.span(p);
            self.err(
                Code::Mark,
                "a mark is a 32-bit number",
                sp,
                "more than 32 bits",
            );
        }
        n
    }

    /// `residual FORMAT file "PATH" mark BIT`.
    pub(super) fn residual_decl(&mut self, pair: Pair<'_, Rule>) -> Option<ResidualDecl> {
        let span = self.span(&pair);
        let mut format = None;
        let mut path = None;
        let mut mark = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::residual_format => format = ResidualFormat::from_word(p.as_str()),
                Rule::string => {
                    let sp = self.span(&p);
                    path = Some((Self::string(p), sp));
                }
                Rule::mark_value => {
                    let sp = self.span(&p);
                    mark = Some((self.mark_number(&p)?, sp));
                }
                _ => {}
            }
        }
        let ((path, path_span), (mark, mark_span)) = (path?, mark?);
        Some(ResidualDecl {
            format: format?,
            path,
            path_span,
            mark,
            mark_span,
            span,
        })
    }
}
