//! The pieces of one iptables rule as the reader passes them between the grouping
//! of words ([`super::rule`]) and the extensions ([`super::ext`]): an option with its
//! values, a problem at a place in the line, and what the rule says so far.

use crate::model::{Effect, Match, Verdict};

/// One option with its arguments.
#[derive(Clone, Debug)]
pub struct Opt {
    pub name: String,
    pub negated: bool,
    pub args: Vec<String>,
    /// Byte offset of the option in the line.
    pub at: usize,
}

impl Opt {
    pub fn arg(&self, i: usize) -> Result<&str, RuleError> {
        self.args
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| RuleError(self.at, format!("{} needs a value", self.name)))
    }

    /// The option as text, for opaque keys.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.negated {
            s.push_str("! ");
        }
        s.push_str(&self.name);
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// A problem at a byte offset of the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError(pub usize, pub String);

/// What a rule says.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub matches: Vec<Match>,
    pub effects: Vec<Effect>,
    pub verdict: Verdict,
    pub comment: Option<String>,
    /// Matches (by index) that look up an ipset, and its name.
    pub ipsets: Vec<(usize, String)>,
}
