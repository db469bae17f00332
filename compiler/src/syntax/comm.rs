//! `comm "curl"`, `comm { "curl", "wget" }`, `comm !"curl"`: a socket-call rule's test
//! of the calling task's command name (`task->comm`, what `bpf_get_current_comm`
//! copies, `ps -o comm` prints and `prctl(PR_SET_NAME)` sets), compared exactly.
//!
//! Invariant: a name is 1 to [`MAX_NAME`] bytes without a NUL, held as the 16 bytes
//! the kernel gives (NUL-padded, [`COMM_LEN`]); [`CommMatch::matches`] on those bytes
//! is the one test the lowering (two 8-byte compares per name), the evaluator and the
//! header space (one `u128` per name, [`CommMatch::values`]) share.

use std::fmt;

/// `TASK_COMM_LEN`: the bytes `bpf_get_current_comm` writes (the name, NUL-padded).
pub const COMM_LEN: usize = 16;
/// The longest name a task can have (the last byte is always a NUL).
pub const MAX_NAME: usize = COMM_LEN - 1;

/// A command name as the kernel holds it: NUL-padded to [`COMM_LEN`] bytes.
pub type Comm = [u8; COMM_LEN];

/// `name` as the kernel holds it, or `None` when no task can have it (empty, longer
/// than [`MAX_NAME`] bytes, or holding a NUL).
pub fn comm_of(name: &str) -> Option<Comm> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > MAX_NAME || b.contains(&0) {
        return None;
    }
    let mut c = [0; COMM_LEN];
    c[..b.len()].copy_from_slice(b);
    Some(c)
}

/// The name of `comm` (its bytes up to the first NUL).
pub fn name_of(comm: &Comm) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

/// A comm as one number: its 16 bytes big-endian (the header space's value).
pub fn value(comm: &Comm) -> u128 {
    u128::from_be_bytes(*comm)
}

/// The comm whose number is `v` ([`value`]).
pub fn from_value(v: u128) -> Comm {
    v.to_be_bytes()
}

/// A rule's `comm` test: the call's task has one of `names` (with `negated`: none of
/// them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommMatch {
    /// Sorted, without duplicates.
    pub names: Vec<Comm>,
    pub negated: bool,
}

impl CommMatch {
    pub fn new(mut names: Vec<Comm>, negated: bool) -> CommMatch {
        names.sort_unstable();
        names.dedup();
        CommMatch { names, negated }
    }

    /// Whether a task named `comm` matches.
    pub fn matches(&self, comm: &Comm) -> bool {
        self.names.contains(comm) != self.negated
    }

    /// The names as numbers ([`value`]), ascending.
    pub fn values(&self) -> impl Iterator<Item = u128> + '_ {
        self.names.iter().map(value)
    }
}

impl fmt::Display for CommMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.negated { "comm !" } else { "comm " })?;
        let quoted: Vec<String> = self
            .names
            .iter()
            .map(|c| format!("\"{}\"", name_of(c)))
            .collect();
        match quoted.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "{{ {} }}", many.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_as_the_kernel_holds_them() {
        let c = comm_of("curl").unwrap();
        assert_eq!(&c[..5], b"curl\0");
        assert_eq!(name_of(&c), "curl");
        assert_eq!(from_value(value(&c)), c);
        assert!(comm_of("").is_none());
        assert!(comm_of("a\0b").is_none());
        assert!(comm_of(&"x".repeat(15)).is_some());
        assert!(comm_of(&"x".repeat(16)).is_none());
    }

    #[test]
    fn a_match_is_exact_and_negation_takes_the_rest() {
        let m = CommMatch::new(
            vec![comm_of("wget").unwrap(), comm_of("curl").unwrap()],
            false,
        );
        assert!(m.matches(&comm_of("curl").unwrap()));
        assert!(!m.matches(&comm_of("curl2").unwrap()));
        assert!(!m.matches(&comm_of("cur").unwrap()));
        let n = CommMatch::new(m.names.clone(), true);
        assert!(!n.matches(&comm_of("wget").unwrap()));
        assert!(n.matches(&comm_of("python3").unwrap()));
        assert_eq!(m.to_string(), "comm { \"curl\", \"wget\" }");
        assert_eq!(n.to_string(), "comm !{ \"curl\", \"wget\" }");
    }
}
