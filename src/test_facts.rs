//! The `over-limit` and `route CLASS` options of `sockc test` packets: inputs of the
//! evaluator that the frame does not carry, like `ct STATE`. `over-limit` says every
//! `limit` bucket is empty (without it, every bucket is full, as at load); `route`
//! gives the class the host's routing would give the packet (without it, `local`).
//!
//! The kernel side runs what it can reproduce: each packet against full buckets (the
//! runner refills them before every run) or, for `over-limit`, empty ones (the runner
//! empties them; a `per source` bucket only exists once its source sent, so a program
//! with one runs `over-limit` packets in the evaluator alone) and, for programs with a
//! `route` test, in a
//! fresh namespace, where no device forwards and the FIB lookup says `local` for every
//! packet. A packet that names anything else is run by the evaluator alone.
//!
//! Invariant: the options are taken out of the packet text before the packet parser
//! sees it, so the frame is the same with or without them.

use sockc_compiler::syntax::route::RouteClass;

/// What a packet's text says beyond its frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtraFacts {
    pub over_limit: bool,
    pub route: Option<RouteClass>,
}

/// `text` without its `over-limit` and `route CLASS` options, and what they said.
pub fn split_facts(text: &str) -> Result<(String, ExtraFacts), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = ExtraFacts::default();
    let mut rest = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "over-limit" => out.over_limit = true,
            "route" => {
                let name = words.get(i + 1).copied().unwrap_or("");
                out.route = Some(RouteClass::from_name(name).ok_or_else(|| {
                    format!("`route` takes local, forward or unroutable, not `{name}`")
                })?);
                i += 1;
            }
            w => rest.push(w),
        }
        i += 1;
    }
    if out == ExtraFacts::default() {
        return Ok((text.to_string(), out));
    }
    Ok((rest.join(" "), out))
}

/// Why the kernel does not run a packet with these facts in a program that tests
/// them (`per_source`: whether it has a `per source` limit, `routes`: a `route`
/// test); `None` when it can.
pub fn not_run(f: ExtraFacts, per_source: bool, routes: bool) -> Option<String> {
    if f.over_limit && per_source {
        return Some(
            "the packet is `over-limit` and a `per source` limit has no bucket for its \
             source yet, so a test run cannot empty it"
                .into(),
        );
    }
    f.route
        .filter(|c| routes && *c != RouteClass::Local)
        .map(|c| {
            format!(
                "the packet is `route {}`, which a test run cannot give the kernel (it runs in \
                 a namespace that does not forward)",
                c.name()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_come_out_of_the_text() {
        let (t, f) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 over-limit route forward").unwrap();
        assert_eq!(t, "udp 10.0.0.1:1 -> 10.0.0.2:2");
        assert_eq!(
            f,
            ExtraFacts {
                over_limit: true,
                route: Some(RouteClass::Forward)
            }
        );
        let (t, f) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2").unwrap();
        assert_eq!(
            (t.as_str(), f),
            ("udp 10.0.0.1:1 -> 10.0.0.2:2", ExtraFacts::default())
        );
        assert!(split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 route sideways").is_err());
        assert!(not_run(f, true, true).is_none());
        let over = ExtraFacts {
            over_limit: true,
            route: None,
        };
        assert!(not_run(over, true, false).is_some());
        assert!(not_run(over, false, true).is_none());
    }
}
