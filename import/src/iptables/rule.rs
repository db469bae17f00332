//! One rule's words → its matches, effects and verdict. The words are grouped as
//! iptables groups them: the built-in options (`-s -d -p -i -o -f`), one group per
//! `-m NAME` (options belong to the last module named; a protocol's options may come
//! without `-m` after `-p`), then `-j TARGET` (or `-g CHAIN`) and its options.
//!
//! Invariant: every word of the rule is read by exactly one group; an extension the
//! import does not interpret still yields an opaque match (or effect) carrying its
//! text, so the rule is kept and reported, never silently shortened.

use super::{
    args::{Opt, Parsed, RuleError},
    ext,
    lex::Word,
};
use crate::{
    features::Feature,
    model::{Effect, IpVersion, Key, Match, RejectWith, Verdict},
    values,
};

/// Options that take no value.
fn flag_only(name: &str) -> bool {
    matches!(
        name,
        "--syn"
            | "-f"
            | "--fragment"
            | "--rsource"
            | "--rdest"
            | "--set"
            | "--update"
            | "--rcheck"
            | "--remove"
            | "--rttl"
            | "--reap"
            | "--log-tcp-sequence"
            | "--log-tcp-options"
            | "--log-ip-options"
            | "--log-uid"
            | "--log-macdecode"
            | "--random"
            | "--random-fully"
            | "--persistent"
            | "--clamp-mss-to-pmtu"
            | "--transparent"
            | "--nowildcard"
            | "--restore-skmark"
            | "--fragfirst"
            | "--fragmore"
            | "--fraglast"
            | "--fragres"
            | "--ahres"
            | "--invert"
            | "--loose"
            | "--validmark"
            | "--accept-local"
            | "--queue-bypass"
            | "--queue-cpu-fanout"
            | "--kerneltz"
            | "--contiguous"
            | "--return-nomatch"
            | "--update-counters"
            | "--update-subcounters"
            | "--physdev-is-in"
            | "--physdev-is-out"
            | "--physdev-is-bridged"
            | "--sack-perm"
            | "--timestamp"
            | "--ecn-tcp-cwr"
            | "--ecn-tcp-ece"
            | "--strict"
            | "--next"
            | "--ecn-tcp-remove"
            | "--save-mark"
            | "--restore-mark"
            | "--restore"
            | "--save"
            | "--ctevents"
            | "--notrack"
            | "--exist"
    )
}

/// Options that take two values.
fn two_values(name: &str) -> bool {
    matches!(
        name,
        "--tcp-flags" | "--match-set" | "--set-counters" | "-c"
    )
}

/// The groups of a rule.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    pub base: Vec<Opt>,
    pub modules: Vec<(String, Vec<Opt>)>,
    /// Target name, whether it was `-g`, its options, and the offset of `-j`/`-g`.
    pub target: Option<(String, bool, Vec<Opt>, usize)>,
}

/// Groups the words of a rule (everything after `-A CHAIN`).
pub fn group(words: &[Word]) -> Result<Groups, RuleError> {
    let mut g = Groups::default();
    let mut i = 0;
    let mut negate = false;
    while i < words.len() {
        let w = &words[i];
        if w.is_bang() {
            negate = true;
            i += 1;
            continue;
        }
        if !w.is_option() {
            // a further value of the option before (extensions with options of
            // several values: `--chunk-types all DATA,INIT`)
            let last = match (&mut g.target, g.modules.last_mut()) {
                (Some((_, _, opts, _)), _) => opts.last_mut(),
                (None, Some((_, opts))) => opts.last_mut(),
                (None, None) => g.base.last_mut(),
            };
            match last {
                Some(o) if !negate => {
                    o.args.push(w.text.clone());
                    i += 1;
                    continue;
                }
                _ => {
                    return Err(RuleError(
                        w.start,
                        format!("expected an option, found `{}`", w.text),
                    ))
                }
            }
        }
        let name = long_name(&w.text).to_string();
        let n = if flag_only(&name) {
            0
        } else if two_values(&name) {
            2
        } else {
            usize::from(
                words
                    .get(i + 1)
                    .is_some_and(|x| !x.is_bang() && !x.is_option()),
            )
        };
        let args: Vec<String> = words[i + 1..]
            .iter()
            .take(n)
            .map(|x| x.text.clone())
            .collect();
        if args.len() < n {
            return Err(RuleError(w.start, format!("{} needs {n} values", w.text)));
        }
        let opt = Opt {
            name: name.clone(),
            negated: std::mem::take(&mut negate),
            args,
            at: w.start,
        };
        i += 1 + n;
        match name.as_str() {
            "-m" => g.modules.push((opt.arg(0)?.to_string(), Vec::new())),
            "-j" | "-g" => {
                g.target = Some((opt.arg(0)?.to_string(), name == "-g", Vec::new(), opt.at))
            }
            "-c" => {}
            // The built-in matches are iptables' own options wherever they stand (no
            // extension defines them): after a `-m` they are not that module's.
            "-s" | "-d" | "-p" | "-i" | "-o" | "-f" if g.target.is_none() => g.base.push(opt),
            _ => match (&mut g.target, g.modules.last_mut()) {
                (Some((_, _, opts, _)), _) => opts.push(opt),
                (None, Some((_, opts))) => opts.push(opt),
                (None, None) => g.base.push(opt),
            },
        }
    }
    Ok(g)
}

/// Long built-in option names as their short forms.
fn long_name(name: &str) -> &str {
    match name {
        "--source" | "--src" => "-s",
        "--destination" | "--dst" => "-d",
        "--protocol" => "-p",
        "--in-interface" => "-i",
        "--out-interface" => "-o",
        "--fragment" => "-f",
        "--jump" => "-j",
        "--goto" => "-g",
        "--match" => "-m",
        "--set-counters" => "-c",
        other => other,
    }
}

/// Interprets the groups of a rule of a table of IP version `v`.
pub fn interpret(g: Groups, v: IpVersion) -> Result<Parsed, RuleError> {
    let mut out = Parsed {
        matches: Vec::new(),
        effects: Vec::new(),
        verdict: Verdict::Continue,
        comment: None,
        ipsets: Vec::new(),
    };
    let mut proto: Option<u8> = None;
    let mut implicit = Vec::new();
    for o in &g.base {
        match o.name.as_str() {
            "-s" | "-d" => out.matches.push(address(o, v)?),
            "-p" => {
                let name = o.arg(0)?;
                if name == "all" || name == "0" {
                    continue;
                }
                let p = crate::names::protocol(name)
                    .ok_or_else(|| RuleError(o.at, format!("unknown protocol `{name}`")))?;
                if !o.negated {
                    proto = Some(p);
                }
                out.matches
                    .push(Match::one(Key::L4Proto, p as u128, p as u128).negate(o.negated));
            }
            "-i" | "-o" => {
                let key = if o.name == "-i" {
                    Key::Iifname
                } else {
                    Key::Oifname
                };
                let arg = crate::names::iptables_iface(o.arg(0)?);
                let name = crate::model::Value::Name(arg);
                out.matches.push(
                    Match::test(vec![key], crate::model::Rhs::Elements(vec![vec![name]]))
                        .negate(o.negated),
                );
            }
            "-f" => out
                .matches
                .push(Match::opaque(Feature::IpHeader, "fragment").negate(o.negated)),
            // an option of the protocol's match given without `-m` (`-p tcp --dport 22`)
            _ => implicit.push(o.clone()),
        }
    }
    let mut modules = g.modules;
    if !implicit.is_empty() {
        let name = match (proto, v) {
            (Some(6), _) => "tcp",
            (Some(17), _) => "udp",
            (Some(1), _) => "icmp",
            (Some(58), _) => "icmp6",
            (Some(132), _) => "sctp",
            (Some(33), _) => "dccp",
            _ => {
                return Err(RuleError(
                    implicit[0].at,
                    format!("unknown option {}", implicit[0].name),
                ))
            }
        };
        modules.insert(0, (name.to_string(), implicit));
    }
    for (name, opts) in &modules {
        ext::module(name, opts, v, proto, &mut out)?;
    }
    if let Some((name, goto, opts, _)) = g.target {
        target(&name, goto, &opts, v, &mut out)?;
    }
    Ok(out)
}

/// `-s`/`-d`: a prefix; an address with a mask that is not a prefix stays opaque.
fn address(o: &Opt, v: IpVersion) -> Result<Match, RuleError> {
    let text = o.arg(0)?;
    let Some((lo, hi, ver)) = values::prefix(text) else {
        if values::masked(text).is_some() {
            let key = format!("{} {text}", o.name);
            return Ok(Match::opaque(Feature::IpHeader, key).negate(o.negated));
        }
        return Err(RuleError(o.at, format!("`{text}` is not an address")));
    };
    if ver != v {
        let fam = if v == IpVersion::V4 { "IPv4" } else { "IPv6" };
        return Err(RuleError(o.at, format!("`{text}` is not an {fam} address")));
    }
    let key = if o.name == "-s" {
        Key::Saddr(v)
    } else {
        Key::Daddr(v)
    };
    Ok(Match::one(key, lo, hi).negate(o.negated))
}

fn target(
    name: &str,
    goto: bool,
    opts: &[Opt],
    v: IpVersion,
    out: &mut Parsed,
) -> Result<(), RuleError> {
    let find = |n: &str| opts.iter().find(|o| o.name == n);
    let text = || {
        let mut s = format!("-j {name}");
        for o in opts {
            s.push(' ');
            s.push_str(&o.text());
        }
        s
    };
    if goto {
        out.verdict = Verdict::Goto(name.to_string());
        return Ok(());
    }
    out.verdict = match name {
        "ACCEPT" => Verdict::Accept,
        "DROP" => Verdict::Drop,
        "RETURN" => Verdict::Return,
        "REJECT" => Verdict::Reject(match find("--reject-with").map(|o| o.arg(0)).transpose()? {
            None => RejectWith::Default,
            Some("tcp-reset" | "tcp-rst") => RejectWith::TcpReset,
            Some(x) if x == "icmp-port-unreachable" && v == IpVersion::V4 => RejectWith::Default,
            Some(x) if x == "icmp6-port-unreachable" && v == IpVersion::V6 => RejectWith::Default,
            Some(x) => RejectWith::Icmp(x.to_string()),
        }),
        "LOG" | "NFLOG" | "ULOG" => {
            let p = find("--log-prefix")
                .or_else(|| find("--nflog-prefix"))
                .map(|o| o.arg(0))
                .transpose()?;
            out.effects.push(Effect::Log {
                prefix: p.map(str::to_string),
            });
            Verdict::Continue
        }
        "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP" => Verdict::Other {
            feature: Feature::Nat,
            text: text(),
        },
        "NFQUEUE" | "QUEUE" => Verdict::Other {
            feature: Feature::Queue,
            text: text(),
        },
        "TPROXY" | "SYNPROXY" => Verdict::Other {
            feature: Feature::Other,
            text: text(),
        },
        "MARK" | "CONNMARK" | "CONNSECMARK" | "SECMARK" => {
            out.effects.push(Effect::Other {
                feature: Feature::Mark,
                text: text(),
            });
            Verdict::Continue
        }
        "NOTRACK" | "CT" => {
            out.effects.push(Effect::Other {
                feature: Feature::Conntrack,
                text: text(),
            });
            Verdict::Continue
        }
        "TCPMSS" | "TOS" | "TTL" | "HL" | "DSCP" | "ECN" | "CHECKSUM" | "CLASSIFY"
        | "TCPOPTSTRIP" => {
            out.effects.push(Effect::Other {
                feature: Feature::Mangle,
                text: text(),
            });
            Verdict::Continue
        }
        "TEE" | "TRACE" | "AUDIT" | "IDLETIMER" | "LED" | "RATEEST" | "SET" => {
            out.effects.push(Effect::Other {
                feature: Feature::Other,
                text: text(),
            });
            Verdict::Continue
        }
        // a target the import does not know (chains take no options)
        _ if !opts.is_empty() => Verdict::Other {
            feature: Feature::Other,
            text: text(),
        },
        chain => Verdict::Jump(chain.to_string()),
    };
    Ok(())
}
