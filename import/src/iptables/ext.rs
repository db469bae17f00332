//! The match extensions (`-m NAME ...`): the ones that test fields sockc reads
//! (tcp, udp, sctp, dccp ports, TCP flags, icmp, icmp6, multiport, iprange, set,
//! addrtype MULTICAST, ttl, hl, dscp, tos, ecn's IP codepoint) become tests of those
//! fields; conntrack, state and connmark become tests of the conntrack state and
//! entry (`super::conntrack`); comment is kept as the rule's comment; every other extension (and
//! any option of these the import does not interpret) becomes an opaque match whose
//! feature says what it would need.
//!
//! Invariant: an option is never ignored: it is interpreted exactly, or the match it
//! belongs to is opaque (and the rule reported).

use super::args::{Opt, Parsed, RuleError};
use sockc_compiler::syntax::ipfield::Field;

use crate::{
    features::Feature,
    model::{IpVersion, Key, Match, MatchKind, Rhs, Value},
    names, values,
};

/// Interprets module `name` with its options, adding to `out`.
pub fn module(
    name: &str,
    opts: &[Opt],
    v: IpVersion,
    proto: Option<u8>,
    out: &mut Parsed,
) -> Result<(), RuleError> {
    if name == "limit" {
        out.matches
            .push(Match::opaque(Feature::Limit, limit_key(opts)));
        return Ok(());
    }
    if name == "hashlimit" {
        if let Some(key) = hashlimit_key(opts, v) {
            out.matches.push(Match::opaque(Feature::Hashlimit, key));
            return Ok(());
        }
    }
    if name == "cgroup" {
        out.matches.push(cgroup(opts));
        return Ok(());
    }
    if let Some(f) = opaque_module(name) {
        let text: Vec<String> = opts.iter().map(Opt::text).collect();
        let key = format!("-m {name} {}", text.join(" "))
            .trim_end()
            .to_string();
        out.matches.push(Match::opaque(f, key));
        return Ok(());
    }
    for o in opts {
        match name {
            "conntrack" | "state" => out
                .matches
                .extend(super::conntrack::conntrack_option(o, opts)?),
            "connmark" => out.matches.extend(super::conntrack::connmark_option(o)?),
            "mark" => out.matches.extend(super::conntrack::mark_option(o)?),
            _ => option(name, o, v, proto, out)?,
        }
    }
    Ok(())
}

/// The feature a module the import keeps opaque as a whole needs (`None`: the module
/// is interpreted option by option).
fn opaque_module(name: &str) -> Option<Feature> {
    Some(match name {
        "tcp" | "udp" | "sctp" | "dccp" | "udplite" | "icmp" | "icmp6" | "multiport"
        | "iprange" | "conntrack" | "state" | "comment" | "addrtype" | "set" | "ttl" | "hl"
        | "owner" | "connmark" | "mark" | "dscp" | "tos" | "ecn" | "length" | "cgroup" => {
            return None
        }
        "hashlimit" => Feature::Hashlimit,
        "recent" => Feature::Recent,
        "string" => Feature::StringMatch,
        "mac" | "physdev" | "pkttype" | "devgroup" => Feature::LinkLayer,
        "frag" | "hbh" | "dst" | "rt" | "ipv6header" | "mh" | "srh" => Feature::IpHeader,
        "ah" | "esp" | "ipcomp" | "tcpmss" => Feature::L4Header,
        "connbytes" | "connlimit" | "connlabel" | "helper" => Feature::Conntrack,
        _ => Feature::Other,
    })
}

/// One option of an interpreted module.
fn option(
    name: &str,
    o: &Opt,
    v: IpVersion,
    proto: Option<u8>,
    out: &mut Parsed,
) -> Result<(), RuleError> {
    let m = match name {
        "tcp" | "udp" | "sctp" | "dccp" | "udplite" => {
            let p = match name {
                "tcp" => 6,
                "udp" => 17,
                "sctp" => 132,
                "dccp" => 33,
                _ => 136,
            };
            l4_option(name, p, o, opaque_one(name, o))?
        }
        "icmp" | "icmp6" if matches!(o.name.as_str(), "--icmp-type" | "--icmpv6-type") => {
            let m = icmp_type(name == "icmp6", o.arg(0)?)
                .ok_or_else(|| RuleError(o.at, format!("unknown ICMP type `{}`", o.args[0])))?;
            match m {
                Some(m) => m.negate(o.negated),
                None => return Ok(()),
            }
        }
        "multiport" => multiport(o, proto).negate(o.negated),
        "iprange" => match iprange(o, v)? {
            Some(m) => m,
            None => opaque_one(name, o),
        },
        "comment" => {
            out.comment = Some(o.arg(0)?.to_string());
            return Ok(());
        }
        "addrtype" => addrtype(o, v).unwrap_or_else(|| opaque_one(name, o)),
        "ttl" | "hl" => hop_limit(name, o)?,
        "length" if o.name == "--length" => length(o, v)?,
        "dscp" => dscp(o, v)?,
        "tos" if o.name == "--tos" => tos(o, v)?,
        "ecn" if o.name == "--ecn-ip-ect" => ecn(o, v)?,
        // `--ecn-tcp-cwr`, `--ecn-tcp-ece`: TCP header bits.
        "ecn" if o.name.starts_with("--ecn-tcp-") => {
            Match::opaque(Feature::L4Header, format!("-m ecn {}", o.text()))
        }
        "set" => return set_option(o, v, out),
        "owner" => owner(o)?,
        _ => opaque_one(name, o),
    };
    out.matches.push(m);
    Ok(())
}

/// `--sports`, `--dports`, `--ports` (source or destination) of `-m multiport`.
fn multiport(o: &Opt, proto: Option<u8>) -> Match {
    let Some(list) = o.args.first().and_then(|a| ports(a)) else {
        return opaque_one("multiport", o);
    };
    let key = |src: bool| match (src, proto) {
        (true, p) => Key::Sport(p),
        (false, p) => Key::Dport(p),
    };
    let test = |k: Key| Match::test(vec![k], Rhs::Elements(list.clone()));
    match o.name.as_str() {
        "--sports" | "--source-ports" => test(key(true)),
        "--dports" | "--destination-ports" => test(key(false)),
        "--ports" => Match {
            negated: false,
            kind: MatchKind::Any(vec![vec![test(key(true))], vec![test(key(false))]]),
        },
        _ => opaque_one("multiport", o),
    }
}

/// `-m ttl --ttl-eq|--ttl-lt|--ttl-gt N` (IPv4) and `-m hl --hl-eq|--hl-lt|--hl-gt N`
/// (IPv6), `!` before `--ttl-eq`/`--hl-eq` for "not equal".
fn hop_limit(module: &str, o: &Opt) -> Result<Match, RuleError> {
    let v = if module == "ttl" {
        IpVersion::V4
    } else {
        IpVersion::V6
    };
    let n = values::number(o.arg(0)?)
        .filter(|n| *n < 256)
        .ok_or_else(|| RuleError(o.at, format!("`{}` is not a TTL or hop limit", o.args[0])))?;
    let op = o.name.rsplit('-').next().unwrap_or("");
    let (lo, hi) = match op {
        "eq" => (n, n),
        "lt" if n == 0 => return Ok(Match::test(vec![Key::HopLimit(v)], Rhs::Elements(vec![]))),
        "lt" => (0, n - 1),
        "gt" if n == 255 => return Ok(Match::test(vec![Key::HopLimit(v)], Rhs::Elements(vec![]))),
        "gt" => (n + 1, 255),
        _ => return Ok(opaque_one(module, o)),
    };
    Ok(Match::one(Key::HopLimit(v), lo, hi).negate(o.negated))
}

/// `-m length --length MIN[:MAX]` (`:MAX` from 0, `MIN:` to 65535), `!` for "not":
/// xt_length compares the IPv4 total length, or the IPv6 payload length plus 40 as a
/// 16-bit number — which wraps, so an IPv6 packet of 65536 to 65575 bytes has the
/// length 0 to 39 there; sockc's `length` does not wrap, and the import writes both.
fn length(o: &Opt, v: IpVersion) -> Result<Match, RuleError> {
    let arg = o.arg(0)?;
    let bad = || RuleError(o.at, format!("`{arg}` is not a length or range of lengths"));
    let num = |s: &str, empty: u128| match s {
        "" => Some(empty),
        s => values::number(s).filter(|n| *n <= 0xffff),
    };
    let (lo, hi) = match arg.split_once(':') {
        Some((a, b)) => (num(a, 0), num(b, 0xffff)),
        None => (num(arg, 0), num(arg, 0)),
    };
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Err(bad());
    };
    let mut ranges = vec![(lo, hi)];
    if v == IpVersion::V6 && lo < 40 {
        // The wrapped lengths: 65536 + lo and up, to the longest IPv6 packet.
        ranges.push((lo + 65536, (hi + 65536).min(65575)));
    }
    let elements = ranges
        .into_iter()
        .filter(|(a, b)| a <= b)
        .map(|(a, b)| vec![Value::Range(a, b)])
        .collect();
    let key = Key::Length(Some(v));
    Ok(Match::test(vec![key], Rhs::Elements(elements)).negate(o.negated))
}

/// `-m dscp --dscp N` (decimal or `0x` hex, 0 to 63) or `--dscp-class NAME` (`CS0`
/// .. `CS7`, `BE`, `AF11` .. `AF43`, `EF`, any case), `!` for "not": xt_dscp reads the
/// DSCP of the IPv4 TOS byte or the IPv6 traffic class.
fn dscp(o: &Opt, v: IpVersion) -> Result<Match, RuleError> {
    let arg = o.arg(0)?;
    let n = match o.name.as_str() {
        "--dscp" => values::number(arg).filter(|n| *n <= 63),
        "--dscp-class" => Field::Dscp
            .value(&arg.to_ascii_lowercase())
            .filter(|_| !arg.starts_with(|c: char| c.is_ascii_digit()))
            .map(u128::from),
        _ => return Ok(opaque_one("dscp", o)),
    };
    let n = n.ok_or_else(|| RuleError(o.at, format!("`{arg}` is not a DSCP value or class")))?;
    Ok(Match::one(Key::Dscp(v), n, n).negate(o.negated))
}

/// `-m tos --tos VALUE[/MASK]` (a mask of 0xff by default; a symbolic name such as
/// `Minimize-Delay` has 0x3f, as iptables-save prints it): xt_tos tests
/// `(tos & mask) == value` on the whole byte, which is the DSCP test and the ECN
/// test of the mask's two parts (a part the mask leaves out tests nothing).
fn tos(o: &Opt, v: IpVersion) -> Result<Match, RuleError> {
    let arg = o.arg(0)?;
    let bad = || RuleError(o.at, format!("`{arg}` is not a TOS value"));
    let (value, mask) = match arg.split_once('/') {
        Some((a, m)) => (values::number(a), values::number(m)),
        None => match tos_symbol(arg) {
            Some(t) => (Some(t), Some(0x3f)),
            None => (values::number(arg), Some(0xff)),
        },
    };
    let (value, mask) = match (value, mask) {
        (Some(a), Some(m)) if a <= 0xff && m <= 0xff => (a, m),
        _ => return Err(bad()),
    };
    let mut parts = Vec::new();
    for (key, shift, bits) in [(Key::Dscp(v), 2, 0x3f), (Key::Ecn(v), 0, 0x3)] {
        let (m, x) = ((mask >> shift) & bits, (value >> shift) & bits);
        if m != 0 || x != 0 {
            parts.push(Match::test(vec![key], Rhs::Masked { mask: m, value: x }));
        }
    }
    Ok(Match {
        negated: o.negated,
        kind: MatchKind::Any(vec![parts]),
    })
}

/// The TOS names of RFC 1349 iptables' `--tos` takes.
fn tos_symbol(name: &str) -> Option<u128> {
    Some(match name {
        "Minimize-Delay" => 0x10,
        "Maximize-Throughput" => 0x08,
        "Maximize-Reliability" => 0x04,
        "Minimize-Cost" => 0x02,
        "Normal-Service" => 0x00,
        _ => return None,
    })
}

/// `-m ecn --ecn-ip-ect N` (0 to 3): the ECN codepoint of the IP header.
fn ecn(o: &Opt, v: IpVersion) -> Result<Match, RuleError> {
    let arg = o.arg(0)?;
    let n = values::number(arg)
        .filter(|n| *n <= 3)
        .ok_or_else(|| RuleError(o.at, format!("`{arg}` is not an ECN codepoint (0 to 3)")))?;
    Ok(Match::one(Key::Ecn(v), n, n).negate(o.negated))
}

/// `--src-range a-b`, `--dst-range a-b` (`None`: another option).
fn iprange(o: &Opt, v: IpVersion) -> Result<Option<Match>, RuleError> {
    let key = match o.name.as_str() {
        "--src-range" => Key::Saddr(v),
        "--dst-range" => Key::Daddr(v),
        _ => return Ok(None),
    };
    let (lo, hi, ver) = values::addr_range(o.arg(0)?)
        .ok_or_else(|| RuleError(o.at, format!("`{}` is not an address range", o.args[0])))?;
    if ver != v {
        return Err(RuleError(
            o.at,
            "an address range of the other IP version".into(),
        ));
    }
    Ok(Some(Match::one(key, lo, hi).negate(o.negated)))
}

/// `--match-set NAME src|dst`: a lookup in an ipset (other forms stay opaque).
fn set_option(o: &Opt, v: IpVersion, out: &mut Parsed) -> Result<(), RuleError> {
    let key = match (o.name.as_str(), o.args.get(1).map(String::as_str)) {
        ("--match-set", Some("src")) => Key::Saddr(v),
        ("--match-set", Some("dst")) => Key::Daddr(v),
        _ => {
            let m = Match::opaque(Feature::SetMatch, format!("-m set {}", o.text()));
            out.matches.push(m);
            return Ok(());
        }
    };
    // the set's id is given by the reader, which keeps the ipsets
    out.ipsets.push((out.matches.len(), o.arg(0)?.to_string()));
    out.matches
        .push(Match::test(vec![key], Rhs::Set(0)).negate(o.negated));
    Ok(())
}

fn opaque_one(module: &str, o: &Opt) -> Match {
    Match::opaque(Feature::Other, format!("-m {module} {}", o.text()))
}

/// A tcp/udp/sctp/dccp option.
fn l4_option(module: &str, p: u8, o: &Opt, unknown: Match) -> Result<Match, RuleError> {
    let bad = |what: &str| {
        RuleError(
            o.at,
            format!(
                "`{}` is not {what}",
                o.args.first().map_or("", |s| s.as_str())
            ),
        )
    };
    Ok(match o.name.as_str() {
        "--sport" | "--source-port" | "--dport" | "--destination-port" => {
            let (lo, hi) = values::port_range(o.arg(0)?).ok_or_else(|| bad("a port or range"))?;
            let key = if o.name.starts_with("--s") {
                Key::Sport(Some(p))
            } else {
                Key::Dport(Some(p))
            };
            Match::one(key, lo, hi).negate(o.negated)
        }
        "--tcp-flags" if module == "tcp" => {
            let mask = flags(o.arg(0)?).ok_or_else(|| bad("a list of TCP flags"))?;
            let set = flags(o.arg(1)?).ok_or_else(|| bad("a list of TCP flags"))?;
            Match::test(
                vec![Key::TcpFlags],
                Rhs::Masked {
                    mask: mask as u128,
                    value: (set & mask) as u128,
                },
            )
            .negate(o.negated)
        }
        "--syn" if module == "tcp" => {
            // SYN set, RST, ACK and FIN clear
            Match::test(
                vec![Key::TcpFlags],
                Rhs::Masked {
                    mask: 0x17,
                    value: 0x02,
                },
            )
            .negate(o.negated)
        }
        "--tcp-option" | "--chunk-types" | "--dccp-types" | "--dccp-option" => {
            Match::opaque(Feature::L4Header, format!("-m {module} {}", o.text()))
        }
        _ => unknown,
    })
}

/// `SYN,ACK`, `ALL`, `NONE`.
fn flags(list: &str) -> Option<u8> {
    list.split(',')
        .try_fold(0u8, |acc, f| names::tcp_flag(f).map(|b| acc | b))
}

/// `80,443,8000:8080` (multiport).
fn ports(list: &str) -> Option<Vec<Vec<Value>>> {
    list.split(',')
        .map(|p| values::port_range(p).map(|(lo, hi)| vec![Value::Range(lo, hi)]))
        .collect()
}

/// An ICMP type as iptables prints it: a number, `type/code`, or a name; `any` is
/// every type (a test all the same: it never matches a later fragment,
/// `semantics::transport_fragments`).
pub fn icmp_type(v6: bool, text: &str) -> Option<Option<Match>> {
    let ver = if v6 { IpVersion::V6 } else { IpVersion::V4 };
    if text == "any" {
        return Some(Some(Match::one(Key::IcmpType(ver), 0, 255)));
    }
    let (t, code) = match text.split_once('/') {
        Some((t, c)) => (t.parse::<u8>().ok()?, Some(c.parse::<u8>().ok()?)),
        None => match text.parse::<u8>() {
            Ok(t) => (t, None),
            Err(_) => {
                if v6 {
                    names::icmp6(text)?
                } else {
                    names::icmp4(text)?
                }
            }
        },
    };
    Some(Some(match code {
        None => Match::one(Key::IcmpType(ver), t as u128, t as u128),
        Some(c) => Match::test(
            vec![Key::IcmpType(ver), Key::IcmpCode(ver)],
            Rhs::Elements(vec![vec![
                Value::Range(t as u128, t as u128),
                Value::Range(c as u128, c as u128),
            ]]),
        ),
    }))
}

/// `-m owner --uid-owner ID[-ID]` / `--gid-owner ...` as xt_owner compares them (a
/// name is the source host's to resolve); `--socket-exists` and `--suppl-groups`
/// (which widens `--gid-owner` to the supplementary groups) stay opaque, so a rule
/// with them is not written.
fn owner(o: &Opt) -> Result<Match, RuleError> {
    let key = match o.name.as_str() {
        "--uid-owner" => Key::SkUid,
        "--gid-owner" => Key::SkGid,
        _ => {
            return Ok(Match::opaque(
                Feature::Owner,
                format!("-m owner {}", o.text()),
            ))
        }
    };
    let text = o.arg(0)?;
    let id = |t: &str| values::number(t).filter(|n| *n < crate::model::NO_OWNER);
    let range = match text.split_once('-') {
        Some((lo, hi)) => id(lo).zip(id(hi)).filter(|(lo, hi)| lo <= hi),
        None => id(text).map(|n| (n, n)),
    };
    Ok(match range {
        Some((lo, hi)) => Match::one(key, lo, hi).negate(o.negated),
        None => Match::opaque(Feature::Owner, format!("-m owner {}", o.text())).negate(o.negated),
    })
}

/// `-m cgroup [!] --path P` (xt_cgroup revisions 1 and 2): a full socket of the
/// hook's namespace below cgroup v2 directory P, or (`!`) not below it; a packet
/// without one passes neither. `--cgroup ID` (net_cls's classid, cgroup v1), or both
/// options in one match (then the kernel tests the path alone), stay opaque.
fn cgroup(opts: &[Opt]) -> Match {
    let text: Vec<String> = opts.iter().map(Opt::text).collect();
    let text = format!("-m cgroup {}", text.join(" "));
    match opts {
        [o] if o.name == "--path" && o.args.len() == 1 => Match {
            negated: false,
            kind: MatchKind::Cgroup(crate::model::CgroupTest {
                text,
                path: o.args[0].clone(),
                source: crate::model::CgroupSource::Xt,
                outside: o.negated,
                dir: Err("not resolved".into()),
            }),
        },
        [o] if o.name == "--cgroup" => Match::opaque(
            Feature::Owner,
            format!("{text}: net_cls's classid, a cgroup v1 controller sockc does not read"),
        ),
        _ => Match::opaque(Feature::Owner, text),
    }
}

/// `--dst-type MULTICAST` is a prefix; the other address types depend on the host.
fn addrtype(o: &Opt, v: IpVersion) -> Option<Match> {
    let key = match o.name.as_str() {
        "--src-type" => Key::Saddr(v),
        "--dst-type" => Key::Daddr(v),
        _ => return None,
    };
    if o.args.first().map(String::as_str) != Some("MULTICAST") {
        return Some(Match::opaque(
            Feature::AddrType,
            format!("-m addrtype {}", o.text()),
        ));
    }
    let (lo, hi, _) = match v {
        IpVersion::V4 => values::prefix("224.0.0.0/4")?,
        IpVersion::V6 => values::prefix("ff00::/8")?,
    };
    Some(Match::one(key, lo, hi).negate(o.negated))
}

/// A per-source bucket (`--hashlimit-mode srcip`, full-length source mask) as the
/// language's `limit ... per source`, with the table's name after it (rules that
/// name one table share its buckets); `None` for other keys, masks or options.
/// `--hashlimit-htable-*` only size and age the table: the language's table has its
/// own size, so those rules are approximate anyway.
fn hashlimit_key(opts: &[Opt], v: IpVersion) -> Option<String> {
    let arg = |name: &str| {
        opts.iter()
            .find(|o| o.name == name && !o.negated)
            .and_then(|o| o.args.first())
            .map(String::as_str)
    };
    let full_mask = match v {
        IpVersion::V4 => "32",
        IpVersion::V6 => "128",
    };
    let known = opts.iter().all(|o| {
        !o.negated
            && (matches!(
                o.name.as_str(),
                "--hashlimit-upto"
                    | "--hashlimit"
                    | "--hashlimit-above"
                    | "--hashlimit-burst"
                    | "--hashlimit-mode"
                    | "--hashlimit-name"
                    | "--hashlimit-srcmask"
            ) || o.name.starts_with("--hashlimit-htable-"))
    });
    let mask_ok = arg("--hashlimit-srcmask").is_none_or(|m| m == full_mask);
    if !known || !mask_ok || arg("--hashlimit-mode") != Some("srcip") {
        return None;
    }
    let (over, rate) = match arg("--hashlimit-above") {
        Some(r) => (true, r),
        None => (false, arg("--hashlimit-upto").or(arg("--hashlimit"))?),
    };
    let key = names::limit_key(rate, arg("--hashlimit-burst").unwrap_or("5"));
    let head = if over { "limit over" } else { "limit" };
    Some(format!(
        "{} per source (hashlimit {})",
        key.replacen("limit", head, 1),
        arg("--hashlimit-name")?
    ))
}

/// A normalized key for a token bucket (iptables' default rate is 3/hour, burst 5).
fn limit_key(opts: &[Opt]) -> String {
    let rate = opts
        .iter()
        .find(|o| o.name == "--limit")
        .and_then(|o| o.args.first())
        .map_or("3/hour", |s| s.as_str());
    let burst = opts
        .iter()
        .find(|o| o.name == "--limit-burst")
        .and_then(|o| o.args.first())
        .map_or("5", |s| s.as_str());
    names::limit_key(rate, burst)
}
