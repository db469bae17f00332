//! A rule's IP header field test built: `ttl [OP] V[,V...]`, `hoplimit ...`,
//! `dscp ...`, `ecn ...` (`syntax::ipfield` says what they mean; a value is a number,
//! decimal or `0x` hexadecimal, or a name the field has).
//!
//! Invariant: a value past the field's bounds, a range written high to low, an order
//! operator (`<`, `>`, ...) with more than one plain number, or a test no value passes
//! is reported at its span and the match left out, never cut down.

use pest::iterators::Pair;

use super::Builder;
use crate::diag::Code;
use crate::syntax::{
    ast::Match,
    grammar::Rule,
    ipfield::{Cmp, Field, FieldTest},
};

impl Builder {
    /// `ipfield_match = { ipfield_name ~ ipfield_cmp? ~ ipfield_range ~ ("," ~ ipfield_range)* }`.
    pub(super) fn ipfield_match(&mut self, pair: Pair<'_, Rule>) -> Option<Match> {
        let sp = self.span(&pair);
        let (mut field, mut cmp, mut values, mut ok) = (None, Cmp::In, Vec::new(), true);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ipfield_name => field = Field::from_name(p.as_str()),
                Rule::ipfield_cmp => cmp = Cmp::from_word(p.as_str())?,
                Rule::ipfield_range => match self.field_range(&p, field?) {
                    Some(r) => values.push(r),
                    None => ok = false,
                },
                _ => {}
            }
        }
        let field = field?;
        if !ok {
            return None;
        }
        if cmp.is_order() && (values.len() != 1 || values[0].0 != values[0].1) {
            self.err(
                Code::Conflict,
                format!(
                    "`<`, `<=`, `>` and `>=` compare `{}` with one number",
                    field.name()
                ),
                sp,
                "one number after the operator",
            );
            return None;
        }
        let Some(t) = FieldTest::new(field, cmp, &values) else {
            self.err(
                Code::Conflict,
                format!(
                    "no `{}` value passes this test: it never matches",
                    field.name()
                ),
                sp,
                "never matches",
            );
            return None;
        };
        Some(Match::IpField(t, sp))
    }

    /// `N` or `N-M` (numbers or names), within the field's bounds.
    fn field_range(&mut self, p: &Pair<'_, Rule>, field: Field) -> Option<(u32, u32)> {
        let text = p.as_str();
        let max = field.max();
        let num = |s: &str| field.value(s);
        let (lo, hi) = match text.split_once('-').filter(|_| text != "not-ect") {
            Some((a, b)) => (num(a), num(b)),
            None => (num(text), num(text)),
        };
        let sp = self.span(p);
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
            (Some(_), Some(_)) => {
                self.err(
                    Code::OutOfRange,
                    format!("the range `{text}` runs backwards"),
                    sp,
                    "write the lower end first",
                );
                None
            }
            _ if field.names().is_empty() => {
                self.err(
                    Code::OutOfRange,
                    format!("{} `{text}` is out of range (0 to {max})", field.name()),
                    sp,
                    "out of range",
                );
                None
            }
            _ => {
                let names: Vec<&str> = field.names().iter().map(|n| n.0).collect();
                self.err(
                    Code::OutOfRange,
                    format!(
                        "{} `{text}` is neither a number from 0 to {max} nor one of its names ({})",
                        field.name(),
                        names.join(", ")
                    ),
                    sp,
                    "not a value of this field",
                );
                None
            }
        }
    }
}
