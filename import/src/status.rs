//! How well one rule was imported: exact (sockc runs it), residual (it stays in
//! netfilter, in the residual beside sockc's programs: the pair is exact),
//! approximate (sockc runs it stricter than netfilter, and says how; only with
//! `--approximate`) or unsupported (left out, and says what the language needs).
//! Ordered from best to worst, so a rule's status is the worst of what happened to it.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Exact,
    Residual,
    Approximate,
    Unsupported,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Exact => "exact",
            Status::Residual => "residual",
            Status::Approximate => "approximate",
            Status::Unsupported => "unsupported",
        }
    }
}
