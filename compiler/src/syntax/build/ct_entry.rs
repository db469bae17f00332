//! `ct status ...`, `ct direction ...` and `ct mark ...` pairs built
//! (`syntax::ct_entry` says what they mean).
//!
//! Invariant: a number past 32 bits, a range whose end is below its start, or a mask
//! value with bits outside its mask is reported at its span and the match left out,
//! never cut down.

use pest::iterators::Pair;

use super::Builder;
use crate::diag::Code;
use crate::syntax::{
    ct_entry::{
        normalize_ranges, status_bit, CtDir, CtEntryTest, CtMarkTest, MarkValues, StatusTest,
    },
    grammar::Rule,
    mark::{parse_mark, MarkTest},
};

impl Builder {
    /// `ct status|direction|mark ...`.
    pub(super) fn ct_entry(&mut self, pair: Pair<'_, Rule>) -> Option<CtEntryTest> {
        let p = pair.into_inner().find(|q| {
            matches!(
                q.as_rule(),
                Rule::ct_status | Rule::ct_direction | Rule::ct_mark
            )
        })?;
        match p.as_rule() {
            Rule::ct_status => Some(CtEntryTest::Status(ct_status(p))),
            Rule::ct_direction => {
                let name = p.into_inner().find(|q| q.as_rule() == Rule::ct_dir_name)?;
                Some(CtEntryTest::Direction(CtDir::from_name(name.as_str())?))
            }
            _ => self.ct_mark(p).map(CtEntryTest::Mark),
        }
    }

    fn ct_mark(&mut self, pair: Pair<'_, Rule>) -> Option<CtMarkTest> {
        let sp = self.span(&pair);
        let negated = pair
            .clone()
            .into_inner()
            .any(|q| q.as_rule() == Rule::ct_neg);
        let values: Vec<_> = pair
            .clone()
            .into_inner()
            .filter(|q| q.as_rule() == Rule::mark_value)
            .collect();
        let values = if let [v, m] = values.as_slice() {
            let (value, mask) = (self.mark_number(v)?, self.mark_number(m)?);
            if value & !mask != 0 {
                let msg = format!("ct mark {value:#x} has bits outside its mask {mask:#x}");
                self.err(Code::Mark, msg, sp, "never matches");
                return None;
            }
            MarkValues::Masked(MarkTest { value, mask })
        } else {
            let mut ranges = Vec::new();
            for r in pair
                .into_inner()
                .filter(|q| q.as_rule() == Rule::ct_mark_range)
            {
                ranges.push(self.mark_range(&r)?);
            }
            MarkValues::Ranges(normalize_ranges(ranges))
        };
        Some(CtMarkTest { values, negated })
    }

    /// `N` or `N-M`.
    fn mark_range(&mut self, p: &Pair<'_, Rule>) -> Option<(u32, u32)> {
        let sp = self.span(p);
        let text = p.as_str();
        let (lo, hi) = text.split_once('-').unwrap_or((text, text));
        let (Some(lo), Some(hi)) = (parse_mark(lo), parse_mark(hi)) else {
            self.err(
                Code::Mark,
                "a mark is a 32-bit number",
                sp,
                "more than 32 bits",
            );
            return None;
        };
        if hi < lo {
            let msg = format!("the mark range {text} ends below its start");
            self.err(Code::Mark, msg, sp, "write the lower mark first");
            return None;
        }
        Some((lo, hi))
    }
}

/// The bits of a `ct_status` pair (the grammar admits only their names).
fn ct_status(p: Pair<'_, Rule>) -> StatusTest {
    let mut t = StatusTest {
        bits: 0,
        negated: false,
    };
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::ct_neg => t.negated = true,
            Rule::ct_status_name => t.bits |= status_bit(q.as_str()).unwrap_or(0),
            _ => {}
        }
    }
    t
}
