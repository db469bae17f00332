//! Numbers of a rule or declaration built from their tokens: ports and port ranges,
//! bytes, EtherTypes, `limit` rates and bursts with their units.
//!
//! Invariant: every number is checked against its bound before it is scaled or
//! narrowed, and one out of bounds is a diagnostic naming the bound, never a wrapped
//! value.

use pest::iterators::Pair;

use super::Builder;
use crate::{
    diag::{Code, Span},
    syntax::{ast::*, grammar::Rule, limit},
};

impl Builder {
    pub(super) fn number(&mut self, p: &Pair<'_, Rule>, max: u64, what: &str) -> Option<u64> {
        match p.as_str().parse::<u64>() {
            Ok(n) if n <= max => Some(n),
            _ => {
                self.err(
                    Code::OutOfRange,
                    format!("{what} `{}` is out of range (0 to {max})", p.as_str()),
                    self.span(p),
                    "out of range",
                );
                None
            }
        }
    }

    /// A `limit` pair: rates in packets or bytes (`kbytes` are 1024 bytes), the burst
    /// in the rate's own amount (a unit written on it must be a byte unit exactly when
    /// the rate's is).
    pub(super) fn limit(&mut self, p: Pair<'_, Rule>) -> Option<limit::Limit> {
        use limit::Limit;
        let mut l = Limit {
            rate: 0,
            bytes: false,
            unit_secs: 1,
            burst: None,
            per_source: false,
            over: false,
        };
        let mut scale = 1;
        let sp = self.span(&p);
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::kw_over => l.over = true,
                Rule::number => l.rate = self.number(&q, u64::MAX, "rate")?,
                Rule::byte_unit => {
                    l.bytes = true;
                    scale = Limit::bytes_of(q.as_str());
                }
                Rule::time_unit => l.unit_secs = Limit::unit_secs_of(q.as_str()),
                Rule::limit_burst => l.burst = Some(self.burst(q, l.bytes)?),
                Rule::per_source => l.per_source = true,
                _ => {}
            }
        }
        l.rate = self.scaled(l.rate, scale, "rate", sp)?;
        Some(l)
    }

    pub(super) fn burst(&mut self, p: Pair<'_, Rule>, bytes: bool) -> Option<u64> {
        let sp = self.span(&p);
        let mut n = 0;
        let mut unit = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::number => n = self.number(&q, u64::MAX, "burst")?,
                Rule::byte_unit => unit = Some(limit::Limit::bytes_of(q.as_str())),
                _ => {}
            }
        }
        if unit.is_some() && !bytes {
            self.err(
                Code::Limit,
                "a packet limit's burst is a number of packets",
                sp,
                "no byte unit here",
            );
            return None;
        }
        self.scaled(n, unit.unwrap_or(1), "burst", sp)
    }

    fn scaled(&mut self, n: u64, scale: u64, what: &str, sp: Span) -> Option<u64> {
        let scaled = n.checked_mul(scale);
        if scaled.is_none() {
            self.err(
                Code::OutOfRange,
                format!("the {what} overflows 64 bits in bytes"),
                sp,
                "too large",
            );
        }
        scaled
    }

    /// An EtherType: hexadecimal (`0x88cc`), decimal, or one of the names.
    pub(super) fn ether_type(&mut self, p: Pair<'_, Rule>) -> Option<u16> {
        match p.as_rule() {
            Rule::ether_name => Some(ether_type_by_name(p.as_str())),
            Rule::number => self.number(&p, 65535, "EtherType").map(|n| n as u16),
            _ => match u16::from_str_radix(&p.as_str()[2..], 16) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err(
                        Code::OutOfRange,
                        format!("EtherType `{}` is out of range (0x0 to 0xffff)", p.as_str()),
                        self.span(&p),
                        "out of range",
                    );
                    None
                }
            },
        }
    }

    pub(super) fn number_u8(&mut self, p: Pair<'_, Rule>, what: &str) -> Option<u8> {
        self.number(&p, 255, what).map(|n| n as u8)
    }

    pub(super) fn port_number(&mut self, p: Pair<'_, Rule>) -> Option<u16> {
        let n = if p.as_rule() == Rule::number {
            p
        } else {
            p.into_inner().next()?
        };
        self.number(&n, 65535, "port").map(|n| n as u16)
    }

    pub(super) fn port_range(&mut self, p: Pair<'_, Rule>) -> Option<(u16, u16)> {
        let sp = self.span(&p);
        let mut nums = p.into_inner();
        let lo = nums.next()?;
        let hi = nums.next()?;
        let lo = self.number(&lo, 65535, "port")? as u16;
        let hi = self.number(&hi, 65535, "port")? as u16;
        if lo > hi {
            self.err(
                Code::EmptyRange,
                format!("port range {lo}-{hi} is empty: the low end is above the high end"),
                sp,
                "empty range",
            );
            return None;
        }
        Some((lo, hi))
    }
}
