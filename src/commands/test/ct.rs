//! The `ct STATE` option of `sockc test` packets: the packet's connection-tracking
//! state as conntrack's table would give it, an input fact of the evaluator like
//! `--socket`. The kernel cannot be given a conntrack entry in a test run, so in
//! programs that test `ct state` a packet the kernel would answer otherwise (one that
//! names a state at XDP and TC; one that is not `invalid` at netfilter hooks, where a
//! test run's `_nfct` is 0) is run by the evaluator alone.
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

/// Why the kernel does not run a packet in a program that tests `ct state`, if it
/// does not: `given` is the packet's `ct` option, `state` the state the evaluator
/// gives it. At XDP and TC the program looks the packet up and a test run's lookup
/// finds no entry, so a packet that names a state is the evaluator's alone. A
/// netfilter program reads `sk_buff._nfct`, which is 0 in a test run, so the kernel
/// answers `invalid` for every IP packet: it runs exactly the packets the evaluator
/// also calls `invalid` (and those that are not IP).
pub fn kernel_cannot_run(
    netfilter: bool,
    given: Option<CtState>,
    state: Option<CtState>,
) -> Option<String> {
    if !netfilter {
        return given.map(|s| {
            format!(
                "the packet is `ct {}`, a state a test run cannot give the kernel (its lookup \
                 finds no entry)",
                s.name()
            )
        });
    }
    state.filter(|&s| s != CtState::Invalid).map(|s| {
        format!(
            "the packet is `ct {}`, and a netfilter test run gives the kernel no conntrack \
             entry (`_nfct` is 0: every packet is `invalid` there)",
            s.name()
        )
    })
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

    #[test]
    fn netfilter_runs_what_a_zero_nfct_answers() {
        use CtState::*;
        assert!(kernel_cannot_run(false, None, Some(New)).is_none());
        assert!(kernel_cannot_run(false, Some(Invalid), Some(Invalid)).is_some());
        assert!(kernel_cannot_run(true, None, Some(Invalid)).is_none());
        assert!(kernel_cannot_run(true, Some(Invalid), Some(Invalid)).is_none());
        assert!(kernel_cannot_run(true, None, None).is_none(), "not IP");
        let why = kernel_cannot_run(true, None, Some(New)).expect("a SYN is new");
        assert!(why.contains("`ct new`"), "{why}");
        assert!(kernel_cannot_run(true, Some(Established), Some(Established)).is_some());
    }
}
