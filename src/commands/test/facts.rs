//! The `over-limit` and `route CLASS` options of `sockc test` packets: inputs of the
//! evaluator that the frame does not carry, like `ct STATE`. `over-limit` says every
//! `limit` bucket is empty (without it, every bucket is full, as at load);
//! `over-limit:SPEC[#N]` says it of the buckets made as SPEC says (the `N`-th rule of
//! the block with that bucket; `sockc_compiler::syntax::limit_fact`), as the semantic
//! diff's examples name them, and is answered by the evaluator alone; `route`
//! gives the class the host's routing would give the packet (without it, `local`).
//! `over-limit:reject` says the limits of `reject`'s answers have no room for the
//! packet's answer (`over-limit` says it too): an ICMP answer is refused, a drop; the
//! kernel side empties the host-wide answer bucket before the run.
//!
//! The kernel side runs what it can reproduce: each packet against full buckets (the
//! runner refills them before every run) or, for `over-limit`, empty ones (the runner
//! empties them; a `per source` bucket only exists once its source sent, so a program
//! with one runs `over-limit` packets in the evaluator alone) and, for programs with a
//! `route` test, in a
//! fresh namespace, where no device forwards and the FIB lookup says `local` for every
//! packet. A packet that names anything else is run by the evaluator alone.
//!
//! `in IFACE` and `out IFACE` name the devices the packet came in on and goes out of
//! (netfilter hooks; without them, none). A test run gives a netfilter program no
//! incoming device and the loopback device as the outgoing one, so a packet naming
//! anything else is run by the evaluator alone in a program that tests that device.
//!
//! `mark N` gives the packet's mark (TC and netfilter hooks; without it, 0). A test run's
//! socket buffer has mark 0, so a packet naming another is run by the evaluator
//! alone in a program that tests the mark.
//!
//! `uid N` and `gid N` give the user and group owning the socket that sent the packet
//! (`owner` tests; without them, no socket owns it). A netfilter test run's socket
//! buffer has no socket, and a TC test run's has the kernel's stand-in socket of uid
//! 0 (`bpf_prog_test_run_skb`), so in a program that tests the owner the kernel runs
//! the packets naming no owner at netfilter and those of `uid 0` at TC; the evaluator
//! alone answers the others.
//!
//! `cgroup PATH` gives the cgroup v2 directory of the packet's socket (`cgroup`
//! tests; without it, no socket). A netfilter test run's packet has no socket, and a
//! TC or cgroup test run's comes from the kernel's stand-in socket, which belongs to
//! the cgroup of the process running `sockc test`: in a program that tests the cgroup
//! the kernel runs the packets that say so (no `cgroup` at netfilter, this process's
//! own cgroup elsewhere), and the evaluator alone answers the others.
//!
//! `ct-status NAMES`, `ct-direction reply` and `ct-mark N` say what the packet's
//! conntrack entry holds (`ct status`, `ct direction`, `ct mark` tests; without them,
//! a fresh entry's: no status bit, original, 0), when its state (`ct STATE`) says it
//! has one. A netfilter test run has no entry, so the kernel runs only the packets
//! the evaluator calls `invalid` in a program that tests the entry (`ct::kernel_cannot_run`).
//!
//! `comm NAME` gives the command name of the process making a socket call (`comm`
//! tests of `cgroup connect|sendmsg|bind` blocks, which only the evaluator answers;
//! without it, the empty name, which no `comm` rule names).
//!
//! Invariant: the options are taken out of the packet text before the packet parser
//! sees it, so the frame is the same with or without them.

use sockc_compiler::{
    ir::Program,
    syntax::{
        ct_entry::{status_bit, CtDir, CtEntry},
        iface::{DevName, LOOPBACK_IFINDEX, MAX_IFINDEX},
        limit_fact::{ordinals, BucketKey, OverLimit},
        route::RouteClass,
    },
};

/// The option that says the limits of `reject`'s answers have no room for the
/// packet's answer (`sockc_compiler::syntax::answers`).
pub const ANSWERS_OVER: &str = "over-limit:reject";

/// What a packet's text says beyond its frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraFacts {
    pub over_limit: bool,
    /// `over-limit:reject`: the answer limits (only) have no room.
    pub answers_over: bool,
    /// `over-limit:SPEC[#N]`: these buckets (only) have no room.
    pub over: Vec<OverLimit>,
    pub route: Option<RouteClass>,
    pub iif: Option<DevName>,
    pub oif: Option<DevName>,
    /// `in-index N`, `out-index N`: the devices' indexes (else `lo`'s is 1, any other's
    /// 0: `syntax::iface::index_of`).
    pub iif_index: Option<u32>,
    pub oif_index: Option<u32>,
    /// `mark N`.
    pub mark: u32,
    /// `uid N`, `gid N`: the owner of the packet's socket.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `cgroup PATH`: the cgroup v2 directory of the packet's socket (of the calling
    /// process, for a socket call).
    pub cgroup: Option<String>,
    /// `ct-status NAMES`, `ct-direction reply`, `ct-mark N`: the packet's conntrack
    /// entry, when its state says it has one.
    pub ct_entry: CtEntry,
    /// `comm NAME`: the command name of the process making a socket call.
    pub comm: Option<sockc_compiler::syntax::comm::Comm>,
}

/// The words of a packet's text: split at whitespace, but a `"..."` is one word
/// (without its quotes; `\"` and `\\` inside stand for `"` and `\`), so that a
/// process name with a space (`comm "Web Content"`, as a diff's example prints it)
/// is one.
fn fact_words(text: &str) -> Result<Vec<String>, String> {
    let (mut words, mut word, mut quoted, mut chars) =
        (Vec::new(), None::<String>, false, text.chars());
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            '\\' if quoted => word.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quoted {
        return Err("a `\"` in the packet's text is not closed".into());
    }
    words.extend(word);
    Ok(words)
}

/// `text` without its `over-limit` and `route CLASS` options, and what they said.
pub fn split_facts(text: &str) -> Result<(String, ExtraFacts), String> {
    let words = fact_words(text)?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut out = ExtraFacts::default();
    let mut rest = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "over-limit" => out.over_limit = true,
            ANSWERS_OVER => out.answers_over = true,
            w if w.starts_with("over-limit:") => out.over.push(OverLimit::parse(w)?),
            "route" => {
                let name = words.get(i + 1).copied().unwrap_or("");
                out.route = Some(RouteClass::from_name(name).ok_or_else(|| {
                    format!("`route` takes local, forward or unroutable, not `{name}`")
                })?);
                i += 1;
            }
            "mark" => {
                let n = words.get(i + 1).copied().unwrap_or("");
                out.mark = sockc_compiler::syntax::mark::parse_mark(n)
                    .ok_or_else(|| format!("`mark` takes a 32-bit number, not `{n}`"))?;
                i += 1;
            }
            kind @ ("uid" | "gid") => {
                let n = words.get(i + 1).copied().unwrap_or("");
                let id = n
                    .parse::<u32>()
                    .ok()
                    .filter(|&id| id != sockc_compiler::syntax::owner::NO_OWNER)
                    .ok_or_else(|| {
                        format!("`{kind}` takes a number below 4294967295, not `{n}`")
                    })?;
                *(if kind == "uid" {
                    &mut out.uid
                } else {
                    &mut out.gid
                }) = Some(id);
                i += 1;
            }
            "cgroup" => {
                let path = words.get(i + 1).copied().unwrap_or("");
                let path = path.trim_matches('"');
                if !path.starts_with('/') || path.split('/').any(|c| c == "." || c == "..") {
                    return Err(format!(
                        "`cgroup` takes the absolute path of a cgroup v2 directory, not `{path}`"
                    ));
                }
                let tidy = path.trim_end_matches('/');
                out.cgroup = Some(if tidy.is_empty() { "/" } else { tidy }.to_string());
                i += 1;
            }
            "comm" => {
                let name = words.get(i + 1).copied().unwrap_or("");
                out.comm = Some(sockc_compiler::syntax::comm::comm_of(name).ok_or_else(|| {
                    format!("`comm` takes a process name of 1 to 15 bytes, not `{name}`")
                })?);
                i += 1;
            }
            "ct-status" | "ct-direction" | "ct-mark" => {
                split_ct_entry(words[i], words.get(i + 1).copied(), &mut out.ct_entry)?;
                i += 1;
            }
            dir @ ("in-index" | "out-index") => {
                let arg = words.get(i + 1).copied().unwrap_or("");
                let n = arg
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_IFINDEX).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "`{dir}` takes an interface index of 1 to {MAX_IFINDEX}, not `{arg}`"
                        )
                    })?;
                *(if dir == "in-index" {
                    &mut out.iif_index
                } else {
                    &mut out.oif_index
                }) = Some(n);
                i += 1;
            }
            dir @ ("in" | "out") => {
                let name = words.get(i + 1).copied().unwrap_or("");
                let dev = DevName::new(name).ok_or_else(|| {
                    format!("`{dir}` takes an interface name of 1 to 15 bytes, not `{name}`")
                })?;
                *(if dir == "in" {
                    &mut out.iif
                } else {
                    &mut out.oif
                }) = Some(dev);
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
pub fn not_run(f: &ExtraFacts, per_source: bool, routes: bool) -> Option<String> {
    if !f.over.is_empty() {
        return Some(
            "the packet names single `limit` buckets out of room, and a test run can only \
             empty all of them"
                .into(),
        );
    }
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

/// One `ct-status NAMES`, `ct-direction original|reply` or `ct-mark N` fact.
fn split_ct_entry(word: &str, arg: Option<&str>, e: &mut CtEntry) -> Result<(), String> {
    let arg = arg.unwrap_or("");
    match word {
        "ct-status" => {
            for name in arg.split(',') {
                e.status |= status_bit(name).ok_or_else(|| {
                    format!(
                        "`ct-status` takes status names (expected, seen-reply, assured, \
                         confirmed, snat, dnat, dying), not `{name}`"
                    )
                })?;
            }
        }
        "ct-direction" => {
            let d = CtDir::from_name(arg)
                .ok_or_else(|| format!("`ct-direction` takes original or reply, not `{arg}`"))?;
            e.reply = d == CtDir::Reply;
        }
        _ => {
            e.mark = sockc_compiler::syntax::mark::parse_mark(arg)
                .ok_or_else(|| format!("`ct-mark` takes a 32-bit number, not `{arg}`"))?;
        }
    }
    Ok(())
}

/// Why the kernel does not run a packet with these devices in a program that tests
/// the incoming (`tests_in`) or outgoing (`tests_out`) one; `None` when it can. A test
/// run's hook state has no incoming device and loopback as the outgoing one.
pub fn device_not_run(f: &ExtraFacts, tests_in: bool, tests_out: bool) -> Option<String> {
    let lo = DevName::new("lo");
    if tests_in && (f.iif.is_some() || f.iif_index.is_some()) {
        return Some(
            "the packet names an incoming device, and a test run gives the program none".into(),
        );
    }
    if tests_out && (f.oif != lo || f.oif_index.is_some_and(|n| n != LOOPBACK_IFINDEX)) {
        return Some(
            "a test run's outgoing device is always `lo`, and the packet names another".into(),
        );
    }
    None
}

/// Why the kernel does not run a packet with this mark in a program that tests the
/// mark (`tests_mark`): a test run's socket buffer has mark 0.
pub fn mark_not_run(f: &ExtraFacts, tests_mark: bool) -> Option<String> {
    (tests_mark && f.mark != 0)
        .then(|| "the packet has a mark, and a test run's socket buffer has none".into())
}

/// Why the kernel does not run a packet with this socket's cgroup in a program that
/// tests it (`tests_cgroup`): a test run's packet has no socket at netfilter
/// (`run_cgroup` `None`), and at TC and cgroup hooks the kernel's stand-in socket,
/// made in the cgroup of the process that runs the test (`run_cgroup`).
pub fn cgroup_not_run(
    f: &ExtraFacts,
    tests_cgroup: bool,
    run_cgroup: Option<&str>,
) -> Option<String> {
    if !tests_cgroup || f.cgroup.as_deref() == run_cgroup {
        return None;
    }
    Some(match run_cgroup {
        None => "the packet names its socket's cgroup, and a netfilter test run's packet \
                 has no socket"
            .into(),
        Some(own) => format!(
            "a test run's packet comes from a socket of this process's cgroup ({own}), and \
             the packet names another (or none)"
        ),
    })
}

/// Why the kernel does not run a packet with these owners in a program that tests the
/// owner (`tests_owner`; `at_tc`: a TC program, which reads the uid only): a
/// netfilter test run's packet has no socket, a TC test run's a socket of uid 0.
pub fn owner_not_run(f: &ExtraFacts, tests_owner: bool, at_tc: bool) -> Option<String> {
    if !tests_owner {
        return None;
    }
    if at_tc {
        return (f.uid != Some(0)).then(|| {
            "a TC test run's packet comes from a socket of uid 0, and the packet names \
             another owner"
                .into()
        });
    }
    (f.uid.is_some() || f.gid.is_some()).then(|| {
        "the packet names the owner of its socket, and a test run's socket buffer has no \
         socket"
            .into()
    })
}

/// An `over-limit:SPEC[#N]` of `f` that names no bucket of any of `programs` (a rate
/// written differently from the file's, or `#N` past the rules with that bucket), said
/// with the buckets the programs have, as they are named: such a fact changes no
/// answer, and a typo in it would otherwise go unseen. (Not an error: a semantic
/// diff's example may name a bucket that only the other file has.)
pub fn unnamed_bucket(f: &ExtraFacts, programs: &[&Program]) -> Option<String> {
    let buckets: Vec<OverLimit> = programs.iter().flat_map(|p| named_buckets(p)).collect();
    let missing = f
        .over
        .iter()
        .find(|o| !buckets.iter().any(|b| o.names(b.key, b.nth.unwrap_or(0))))?;
    // `#N` only where a program has more than one rule with that bucket.
    let shown = |b: &OverLimit| {
        let alone = buckets.iter().filter(|o| o.key == b.key).count() == 1;
        let nth = if alone { None } else { b.nth };
        OverLimit { nth, ..*b }.to_string()
    };
    let mut have: Vec<String> = buckets.iter().map(shown).collect();
    have.sort();
    have.dedup();
    Some(if have.is_empty() {
        format!("`{missing}` names a `limit` bucket, and the programs tested have no `limit`")
    } else {
        format!(
            "`{missing}` names no `limit` bucket of the programs tested; theirs are {}",
            have.join(", ")
        )
    })
}

/// Every bucket of `p`'s rules, named with its ordinal (`#N`) among the rules with
/// the same bucket.
fn named_buckets(p: &Program) -> Vec<OverLimit> {
    let limits: Vec<_> = p.rules.iter().map(|r| r.m.limit()).collect();
    let nths = ordinals(
        limits
            .iter()
            .map(|l| l.map(|l| BucketKey::new(l.bucket, l.limit.per_source))),
    );
    limits
        .iter()
        .zip(nths)
        .filter_map(|(l, nth)| {
            let l = l.as_ref()?;
            Some(OverLimit {
                written: l.limit,
                key: BucketKey::new(l.bucket, l.limit.per_source),
                nth: Some(nth),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process name with a space, a quote or a backslash is one quoted word, as a
    /// diff's example prints it (it could not be asked about: "unknown TCP flag").
    #[test]
    fn a_quoted_comm_is_one_name() {
        use sockc_compiler::syntax::comm::{comm_of, name_of};
        for name in ["Web Content", "a\"b", "x\\y", "two  spaces"] {
            assert!(comm_of(name).is_some());
            let word = sockc_compiler::space::packet_word(name);
            let packet = format!("tcp 10.0.0.1:1 -> 10.0.0.2:2 comm {word}");
            let (rest, f) = split_facts(&packet).unwrap();
            assert_eq!(
                f.comm.map(|c| name_of(&c)).as_deref(),
                Some(name),
                "{packet}"
            );
            assert_eq!(rest, "tcp 10.0.0.1:1 -> 10.0.0.2:2", "{packet}");
        }
        assert!(split_facts("tcp 10.0.0.1:1 -> 10.0.0.2:2 comm \"Web").is_err());
    }

    #[test]
    fn a_cgroup_fact_is_an_absolute_path_and_runs_where_the_test_run_has_that_socket() {
        let (t, f) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 cgroup /sys/fs/cgroup/a/").unwrap();
        assert_eq!(t, "udp 10.0.0.1:1 -> 10.0.0.2:2");
        assert_eq!(f.cgroup.as_deref(), Some("/sys/fs/cgroup/a"));
        for bad in ["cgroup a/b", "cgroup /a/../b", "cgroup"] {
            assert!(split_facts(&format!("udp 10.0.0.1:1 -> 10.0.0.2:2 {bad}")).is_err());
        }
        let none = ExtraFacts::default();
        // Netfilter: a test run has no socket, so only packets without a cgroup run.
        assert!(cgroup_not_run(&none, true, None).is_none());
        assert!(cgroup_not_run(&f, true, None).is_some());
        assert!(cgroup_not_run(&f, false, None).is_none());
        // TC and cgroup hooks: the stand-in socket is in the test's own cgroup.
        assert!(cgroup_not_run(&f, true, Some("/sys/fs/cgroup/a")).is_none());
        assert!(cgroup_not_run(&none, true, Some("/sys/fs/cgroup/a")).is_some());
    }

    #[test]
    fn the_options_come_out_of_the_text() {
        let (t, f) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 over-limit route forward").unwrap();
        assert_eq!(t, "udp 10.0.0.1:1 -> 10.0.0.2:2");
        assert_eq!(
            f,
            ExtraFacts {
                over_limit: true,
                route: Some(RouteClass::Forward),
                ..ExtraFacts::default()
            }
        );
        let (t, f) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2").unwrap();
        assert_eq!(
            (t.as_str(), f.clone()),
            ("udp 10.0.0.1:1 -> 10.0.0.2:2", ExtraFacts::default())
        );
        assert!(split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 route sideways").is_err());
        assert!(not_run(&f, true, true).is_none());
        let over = ExtraFacts {
            over_limit: true,
            ..ExtraFacts::default()
        };
        assert!(not_run(&over, true, false).is_some());
        assert!(not_run(&over, false, true).is_none());
    }

    #[test]
    fn the_answer_limits_are_a_fact_of_their_own() {
        let (t, f) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 over-limit:reject").unwrap();
        assert_eq!(t, "udp 10.0.0.1:1 -> 10.0.0.2:2");
        assert!(f.answers_over && !f.over_limit && f.over.is_empty());
        assert!(not_run(&f, true, true).is_none(), "the kernel side runs it");
    }

    #[test]
    fn single_buckets_are_named_by_their_limit() {
        let (t, f) =
            split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 over-limit:10/second,burst=3#2").unwrap();
        assert_eq!(t, "udp 10.0.0.1:1 -> 10.0.0.2:2");
        assert_eq!(f.over.len(), 1);
        assert_eq!(f.over[0].to_string(), "over-limit:10/second,burst=3#2");
        assert!(!f.over_limit);
        assert!(not_run(&f, false, false).is_some());
        assert!(split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 over-limit:10/fortnight").is_err());
    }

    #[test]
    fn devices_come_out_of_the_text_and_decide_what_the_kernel_runs() {
        let (t, f) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 in eth0 out lo").unwrap();
        assert_eq!(t, "udp 10.0.0.1:1 -> 10.0.0.2:2");
        assert_eq!(f.iif, DevName::new("eth0"));
        assert_eq!(f.oif, DevName::new("lo"));
        assert!(split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 in 0123456789abcdef").is_err());
        assert!(device_not_run(&f, true, false).is_some());
        assert!(device_not_run(&f, false, true).is_none());
        let none = ExtraFacts::default();
        assert!(device_not_run(&none, true, false).is_none());
        assert!(device_not_run(&none, false, true).is_some());
        assert!(device_not_run(&none, false, false).is_none());
        let (_, ix) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 out lo out-index 1").unwrap();
        assert_eq!(ix.oif_index, Some(1));
        assert!(device_not_run(&ix, false, true).is_none());
        let (_, ix) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 out lo out-index 3").unwrap();
        assert!(device_not_run(&ix, false, true).is_some());
        let (_, ix) = split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 in-index 2").unwrap();
        assert_eq!((ix.iif, ix.iif_index), (None, Some(2)));
        assert!(device_not_run(&ix, true, false).is_some());
        assert!(split_facts("udp 10.0.0.1:1 -> 10.0.0.2:2 in-index 0").is_err());
    }
}
