//! An error and its causes as one line of text, the way every message of the CLI and
//! the runtime shows a chain of errors.
//!
//! Invariant: a cause whose text the line already holds is not repeated (transparent
//! wrappers, and aya's errors, which put the errno in both the message and the source).

/// An error with its causes, `: `-separated (aya puts the errno in the source); a
/// cause whose text the message already shows (transparent wrappers) is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
