//! How well one rule was imported: exact, approximate (stricter than netfilter, and
//! says how) or unsupported (left out, and says what the language needs). Ordered
//! from best to worst, so a rule's status is the worst of what happened to it.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Exact,
    Approximate,
    Unsupported,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Exact => "exact",
            Status::Approximate => "approximate",
            Status::Unsupported => "unsupported",
        }
    }
}
