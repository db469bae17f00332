//! The `ct STATE` option of `sockc test` packets: the packet's connection-tracking
//! state as conntrack's table would give it, an input fact of the evaluator like
//! `--socket`. The kernel cannot be given a conntrack entry in a test run, so a packet
//! that names a state is run by the evaluator alone in programs that test `ct state`.
//!
//! Invariant: the option is taken out of the packet text before the packet parser
//! sees it, so the frame is the same with or without it.

use sockc_compiler::syntax::ct::CtState;

/// `text` without its `ct STATE` option, and the state (`None`: no entry, the state
/// a packet without one gets).
pub fn split_ct(text: &str) -> Result<(String, Option<CtState>), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(at) = words.iter().position(|w| *w == "ct") else {
        return Ok((text.to_string(), None));
    };
    let name = words.get(at + 1).copied().unwrap_or("");
    let state = CtState::from_name(name).ok_or_else(|| {
        format!(
            "`ct` takes a conntrack state (new, established, related, invalid, untracked), \
             not `{name}`"
        )
    })?;
    let rest: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != at && i != at + 1)
        .map(|(_, w)| *w)
        .collect();
    Ok((rest.join(" "), Some(state)))
}

/// Why the kernel does not run a packet that names conntrack state `s` in a program
/// that tests one.
pub fn not_run(s: CtState) -> String {
    format!(
        "the packet is `ct {}`, a state a test run cannot give the kernel (its lookup finds \
         no entry)",
        s.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_comes_out_of_the_text() {
        let (t, s) = split_ct("tcp 10.0.0.1:1 -> 10.0.0.2:2 ack ct established").unwrap();
        assert_eq!(
            (t.as_str(), s),
            (
                "tcp 10.0.0.1:1 -> 10.0.0.2:2 ack",
                Some(CtState::Established)
            )
        );
        let (t, s) = split_ct("udp 10.0.0.1:1 -> 10.0.0.2:2").unwrap();
        assert_eq!((t.as_str(), s), ("udp 10.0.0.1:1 -> 10.0.0.2:2", None));
        assert!(split_ct("udp 10.0.0.1:1 -> 10.0.0.2:2 ct establihsed").is_err());
        assert!(split_ct("udp 10.0.0.1:1 -> 10.0.0.2:2 ct").is_err());
    }
}
