//! What an nft relational expression means, shared by the text and JSON readers:
//! a selector (`ip saddr`, `meta l4proto`, `ct state`, ...) compared with a right-hand
//! side (a value, range, prefix, list of flags, anonymous set, `@set`) becomes the
//! model's [`Match`], together with the dependencies nft adds itself (`ip saddr`
//! implies `meta nfproto ipv4` in an inet table, `tcp dport` implies `meta l4proto
//! tcp`), which stay positive when the comparison is `!=`.
//!
//! Invariant: a selector or value the import does not interpret yields an opaque match
//! with the expression's text, never a narrower or wider test.

use sockc_compiler::syntax::ipfield::Field;

use crate::{
    features::Feature,
    model::{IpVersion, Key, Match, NamedSet, Rhs, SetContent, Value},
    names, values,
};

/// A right-hand side, as both readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rv {
    /// A word, number or string as printed (`22`, `echo-request`, `10.0.0.0/8`,
    /// `"eth0"` unquoted, `1-5`).
    Text(String),
    Range(Box<Rv>, Box<Rv>),
    Prefix(String, u32),
    Concat(Vec<Rv>),
    /// A comma list of flags (`established,related`, `fin,syn`).
    List(Vec<Rv>),
    /// An anonymous set; map entries carry their value.
    Set(Vec<(Rv, Option<Rv>)>),
    SetRef(String),
    /// `value / mask` (flags) or `& mask == value` (given as the mask and value).
    Masked {
        value: Box<Rv>,
        mask: Box<Rv>,
    },
}

/// The relational operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// No operator written: equality, set membership, or "any of these bits" on flags.
    Implicit,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    /// `!` on flags: none of these bits is set (`tcp flags ! fin,rst`, as nft 1.0
    /// lists `tcp flags & (fin|rst) == 0`).
    NoBits,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "==" | "eq" => Op::Eq,
            "!=" | "ne" => Op::Ne,
            "<" | "lt" => Op::Lt,
            ">" | "gt" => Op::Gt,
            "<=" | "le" => Op::Le,
            ">=" | "ge" => Op::Ge,
            "in" => Op::Implicit,
            "!" => Op::NoBits,
            _ => return None,
        })
    }
}

/// A selector the import interprets: its key and the matches nft adds for it.
pub fn selector(words: &[&str], table_v: Option<IpVersion>) -> Option<(Key, Vec<Match>)> {
    let l4 = |p: u8| vec![Match::one(Key::L4Proto, p as u128, p as u128)];
    let nfp = |v: IpVersion| -> Vec<Match> {
        if table_v == Some(v) {
            Vec::new()
        } else {
            let n = if v == IpVersion::V4 { 4 } else { 6 };
            vec![Match::one(Key::NfProto, n, n)]
        }
    };
    let icmp = |v: IpVersion, p: u8| [nfp(v), l4(p)].concat();
    let port_proto = |w: &str| -> Option<u8> {
        Some(match w {
            "tcp" => 6,
            "udp" => 17,
            "udplite" => 136,
            "sctp" => 132,
            "dccp" => 33,
            _ => return None,
        })
    };
    Some(match words {
        ["ip", "saddr"] => (Key::Saddr(IpVersion::V4), nfp(IpVersion::V4)),
        ["ip", "daddr"] => (Key::Daddr(IpVersion::V4), nfp(IpVersion::V4)),
        ["ip", "protocol"] => (Key::IpProtocol, nfp(IpVersion::V4)),
        ["ip6", "saddr"] => (Key::Saddr(IpVersion::V6), nfp(IpVersion::V6)),
        ["ip6", "daddr"] => (Key::Daddr(IpVersion::V6), nfp(IpVersion::V6)),
        // `ip6 nexthdr` is the fixed header's field, the first extension header's
        // number when there is one (nft loads it `@ network header + 6`): not the
        // protocol sockc reads after them, so it is not read here (an IP header field).
        ["meta", "l4proto"] | ["l4proto"] => (Key::L4Proto, Vec::new()),
        ["meta", "nfproto"] | ["nfproto"] => (Key::NfProto, Vec::new()),
        ["meta", "iifname"] | ["iifname"] => (Key::Iifname, Vec::new()),
        ["meta", "oifname"] | ["oifname"] => (Key::Oifname, Vec::new()),
        ["meta", "iif"] | ["iif"] => (Key::Iif, Vec::new()),
        ["meta", "oif"] | ["oif"] => (Key::Oif, Vec::new()),
        ["ct", "state"] => (Key::CtState, Vec::new()),
        ["ct", "status"] => (Key::CtStatus, vec![crate::model::ct_tracked()]),
        ["ct", "direction"] => (Key::CtDirection, vec![crate::model::ct_tracked()]),
        ["ct", "mark"] => (Key::CtMark, vec![crate::model::ct_tracked()]),
        ["meta", "mark"] | ["mark"] => (Key::Mark, Vec::new()),
        ["meta", "skuid"] | ["skuid"] => (Key::SkUid, Vec::new()),
        ["meta", "skgid"] | ["skgid"] => (Key::SkGid, Vec::new()),
        [p, "sport"] if port_proto(p).is_some() => (Key::Sport(port_proto(p)), l4(port_proto(p)?)),
        [p, "dport"] if port_proto(p).is_some() => (Key::Dport(port_proto(p)), l4(port_proto(p)?)),
        ["th", "sport"] => (Key::Sport(None), Vec::new()),
        ["th", "dport"] => (Key::Dport(None), Vec::new()),
        ["tcp", "flags"] => (Key::TcpFlags, l4(6)),
        // nft's dependency is the family and the protocol (`meta nfproto ipv6 meta
        // l4proto 58` for `icmpv6 type` in an inet table, as `nft --debug=netlink`
        // shows): `icmpv6 type != 137` never matches an IPv4 packet of protocol 58.
        ["icmp", "type"] => (Key::IcmpType(IpVersion::V4), icmp(IpVersion::V4, 1)),
        ["icmp", "code"] => (Key::IcmpCode(IpVersion::V4), icmp(IpVersion::V4, 1)),
        ["icmpv6", "type"] => (Key::IcmpType(IpVersion::V6), icmp(IpVersion::V6, 58)),
        ["icmpv6", "code"] => (Key::IcmpCode(IpVersion::V6), icmp(IpVersion::V6, 58)),
        ["ip", "ttl"] => (Key::HopLimit(IpVersion::V4), nfp(IpVersion::V4)),
        ["ip6", "hoplimit"] => (Key::HopLimit(IpVersion::V6), nfp(IpVersion::V6)),
        ["ip", "dscp"] => (Key::Dscp(IpVersion::V4), nfp(IpVersion::V4)),
        ["ip6", "dscp"] => (Key::Dscp(IpVersion::V6), nfp(IpVersion::V6)),
        ["ip", "ecn"] => (Key::Ecn(IpVersion::V4), nfp(IpVersion::V4)),
        ["ip6", "ecn"] => (Key::Ecn(IpVersion::V6), nfp(IpVersion::V6)),
        // skb->len, which at the netfilter hooks of ip, ip6 and inet tables is the IP
        // packet (the IP layer has trimmed it to its header's length): sockc's `length`.
        ["meta", "length"] => (Key::Length(None), Vec::new()),
        ["ip", "length"] => (Key::Length(Some(IpVersion::V4)), nfp(IpVersion::V4)),
        ["ip6", "length"] => (Key::Ip6PayloadLength, nfp(IpVersion::V6)),
        _ => return None,
    })
}

/// The feature an uninterpreted selector needs.
pub fn selector_feature(words: &[&str]) -> Feature {
    match words.first().copied().unwrap_or("") {
        "ct" if words == ["ct", "state"] => Feature::CtState,
        "ct" => Feature::Conntrack,
        "meta" | "mark" if words.contains(&"mark") => Feature::Mark,
        "mark" => Feature::Mark,
        "fib" => Feature::AddrType,
        "ip" | "ip6" | "hbh" | "rt" | "frag" | "dst" | "mh" | "srh" | "exthdr" | "length" => {
            Feature::IpHeader
        }
        "tcp" | "udp" | "sctp" | "dccp" | "ah" | "esp" | "comp" | "th" | "udplite" | "icmp"
        | "icmpv6" | "igmp" => Feature::L4Header,
        "ether" | "vlan" | "arp" | "pkttype" | "iiftype" | "oiftype" | "ibrname" | "obrname" => {
            Feature::LinkLayer
        }
        "skuid" | "skgid" | "cgroup" | "socket" => Feature::Owner,
        "iifgroup" | "oifgroup" => Feature::Interface,
        _ => Feature::Other,
    }
}

/// The level of a `socket cgroupv2 level N` selector (`Some(None)`: not a number).
pub fn cgroupv2_level(sels: &[Vec<String>]) -> Option<Option<u32>> {
    match sels {
        [s] => match s.as_slice() {
            [a, b, c, n] if [a, b, c] == ["socket", "cgroupv2", "level"] => Some(n.parse().ok()),
            _ => None,
        },
        _ => None,
    }
}

/// `socket cgroupv2 level N [op] RHS` (`level`: `None` when the JSON form leaves it
/// out), `text` as written: a cgroup test per path (a set: any of them); `!=` is the
/// `outside` test, refused when it is resolved ([`crate::semantics::cgroups`]); other
/// operators and named sets stay opaque.
pub fn cgroupv2(level: Option<u32>, op: Op, rhs: &Rv, text: &str) -> Match {
    use crate::model::{CgroupSource, CgroupTest, MatchKind};
    let test = |path: &str| Match {
        negated: false,
        kind: MatchKind::Cgroup(CgroupTest {
            text: text.to_string(),
            path: path.to_string(),
            source: CgroupSource::Nft(level),
            outside: op == Op::Ne,
            dir: Err("not resolved".into()),
        }),
    };
    let paths: Option<Vec<&str>> = match rhs {
        Rv::Text(p) => Some(vec![p.as_str()]),
        Rv::Set(elems) => elems
            .iter()
            .map(|e| match e {
                (Rv::Text(p), None) => Some(p.as_str()),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    match (op, paths.as_deref()) {
        (Op::Implicit | Op::Eq | Op::Ne, Some([one])) => test(one),
        (Op::Implicit | Op::Eq, Some(many)) if !many.is_empty() => Match {
            negated: false,
            kind: MatchKind::Any(many.iter().map(|p| vec![test(p)]).collect()),
        },
        _ => Match::opaque(Feature::Owner, text),
    }
}

/// Reads a value of `key` from text.
pub fn value(key: &Key, rv: &Rv) -> Result<Value, String> {
    match rv {
        Rv::Range(a, b) => {
            let (Value::Range(lo, _), Value::Range(_, hi)) = (value(key, a)?, value(key, b)?)
            else {
                return Err("a range of names".into());
            };
            Ok(Value::Range(lo, hi))
        }
        Rv::Prefix(a, len) if matches!(key, Key::CtMark | Key::Mark) => {
            mark_prefix(a, &len.to_string())
        }
        Rv::Prefix(a, len) => {
            let (lo, hi, _) = values::prefix(&format!("{a}/{len}"))
                .ok_or_else(|| format!("`{a}/{len}` is not a prefix"))?;
            Ok(Value::Range(lo, hi))
        }
        Rv::Text(t) => text_value(key, t),
        _ => Err("a value of an unexpected shape".into()),
    }
}

fn text_value(key: &Key, t: &str) -> Result<Value, String> {
    let bad = || format!("`{t}` is not a value of {}", key.describe());
    let single = |n: u128| Ok(Value::Range(n, n));
    match key {
        Key::Iifname | Key::Oifname | Key::Iif | Key::Oif => Ok(Value::Name(t.to_string())),
        Key::Saddr(_) | Key::Daddr(_) => {
            let (lo, hi, _) = values::prefix(t)
                .or_else(|| values::addr_range(t))
                .ok_or_else(bad)?;
            Ok(Value::Range(lo, hi))
        }
        Key::Sport(_) | Key::Dport(_) => {
            match values::port_range(t).or_else(|| service(t).map(|p| (p, p))) {
                Some((lo, hi)) => Ok(Value::Range(lo, hi)),
                None => Err(bad()),
            }
        }
        Key::L4Proto | Key::IpProtocol => single(names::protocol(t).ok_or_else(bad)? as u128),
        Key::NfProto => match t {
            "ipv4" | "ip" => single(4),
            "ipv6" | "ip6" => single(6),
            _ => Err(bad()),
        },
        Key::TcpFlags => match values::number(t) {
            Some(n) if n < 256 => single(n),
            _ => single(names::tcp_flag(t).ok_or_else(bad)? as u128),
        },
        Key::IcmpType(v) => {
            if let Some(n) = values::number(t).filter(|n| *n < 256) {
                return single(n);
            }
            let named = if *v == IpVersion::V6 {
                names::icmp6(t)
            } else {
                names::icmp4(t)
            };
            match named {
                Some((ty, None)) => single(ty as u128),
                _ => Err(bad()),
            }
        }
        Key::IcmpCode(v) => {
            single(names::icmp_code(*v == IpVersion::V6, t).ok_or_else(bad)? as u128)
        }
        Key::CtState => single(names::ct_state(t).ok_or_else(bad)?),
        Key::HopLimit(_) => single(values::number(t).filter(|n| *n < 256).ok_or_else(bad)?),
        // nft's names for both are sockc's (`nft describe ip dscp`, `ip ecn`).
        Key::Dscp(_) => single(u128::from(Field::Dscp.value(t).ok_or_else(bad)?)),
        Key::Ecn(_) => single(u128::from(Field::Ecn.value(t).ok_or_else(bad)?)),
        Key::Length(_) => single(values::number(t).filter(|n| *n <= 0xffff).ok_or_else(bad)?),
        // The payload length read as the packet's: 40 more.
        Key::Ip6PayloadLength => {
            single(values::number(t).filter(|n| *n <= 0xffff).ok_or_else(bad)? + 40)
        }
        Key::CtStatus => single(ct_status_bits(t)?),
        Key::CtDirection => match t {
            "original" | "0" => single(0),
            "reply" | "1" => single(1),
            _ => Err(bad()),
        },
        Key::CtMark | Key::Mark if t.contains('/') => {
            let (a, len) = t.split_once('/').unwrap_or((t, ""));
            mark_prefix(a, len)
        }
        Key::CtMark | Key::Mark => match values::number(t) {
            Some(n) if n <= u32::MAX as u128 => single(n),
            _ => Err(bad()),
        },
        Key::SkUid | Key::SkGid => match values::number(t) {
            Some(n) if n < crate::model::NO_OWNER => single(n),
            // nft prints the names of the host it runs on: not this one's to read.
            _ => Err(format!(
                "`{t}` is a user or group name, which only the host the ruleset comes from \
                 can resolve (`nft -n list ruleset` prints the numbers)"
            )),
        },
    }
}

/// Port numbers by service name (nft prints numbers unless told otherwise; these are
/// the names scripts use most).
fn service(name: &str) -> Option<u128> {
    Some(match name {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "http" | "www" => 80,
        "pop3" => 110,
        "ntp" => 123,
        "imap" | "imap2" => 143,
        "snmp" => 161,
        "ldap" => 389,
        "https" => 443,
        "submission" => 587,
        "imaps" => 993,
        "pop3s" => 995,
        "mysql" => 3306,
        "postgresql" => 5432,
        _ => return None,
    })
}

/// Whether `keys & MASK == VALUE` is read (flags, the ct status and mark); other
/// masks stay opaque.
pub fn maskable(keys: &[Key]) -> bool {
    matches!(
        keys,
        [Key::TcpFlags] | [Key::CtState] | [Key::CtStatus] | [Key::CtMark] | [Key::Mark]
    )
}

/// `ct mark 0x01000000/8`, as nft prints `ct mark & 0xff000000 == 0x01000000`.
fn mark_prefix(a: &str, len: &str) -> Result<Value, String> {
    let bad = || format!("`{a}/{len}` is not a ct mark prefix");
    let lo = values::number(a)
        .filter(|n| *n <= u32::MAX as u128)
        .ok_or_else(bad)?;
    let host = len
        .parse::<u32>()
        .ok()
        .and_then(|l| 32u32.checked_sub(l))
        .ok_or_else(bad)?;
    let span = (1u128 << host) - 1;
    Ok(Value::Range(lo & !span, (lo & !span) | span))
}

/// `ct mark & MASK == VALUE` (or `meta mark`) as the marks it admits (the narrow masks
/// of `sockc_compiler::syntax::mark::MarkTest::intervals`).
fn mark_masked(key: &Key, value: &Rv, mask: &Rv) -> Result<Match, String> {
    let num = |rv: &Rv| match value_of_mark(rv) {
        Some(n) => Ok(n),
        None => Err("a ct mark mask that is not a number".to_string()),
    };
    let t = sockc_compiler::syntax::mark::MarkTest {
        value: num(value)?,
        mask: num(mask)?,
    };
    if t.value & !t.mask != 0 {
        return Ok(Match::test(vec![key.clone()], Rhs::Elements(Vec::new())));
    }
    let iv = t
        .intervals()
        .ok_or_else(|| format!("the ct mark mask {:#x} takes too many ranges", t.mask))?;
    let elems = iv
        .into_iter()
        .map(|(lo, hi)| vec![Value::Range(lo.into(), hi.into())])
        .collect();
    Ok(Match::test(vec![key.clone()], Rhs::Elements(elems)))
}

fn value_of_mark(rv: &Rv) -> Option<u32> {
    match rv {
        Rv::Text(t) => values::number(t).and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

/// The packed [`Key::CtStatus`] bits of a status name or number.
fn ct_status_bits(t: &str) -> Result<u128, String> {
    let kernel = match values::number(t) {
        Some(n) => n,
        None => sockc_compiler::syntax::ct_entry::status_bit(t)
            .map(u128::from)
            .ok_or_else(|| format!("`{t}` is not a ct status sockc names"))?,
    };
    crate::model::ct_status_packed(kernel)
        .ok_or_else(|| format!("`{t}` has ct status bits sockc does not name"))
}

/// The bits of a flag value or list (`tcp flags`, `ct state` as nft's bits).
fn bits(key: &Key, rv: &Rv) -> Result<u128, String> {
    match rv {
        Rv::List(items) => items.iter().try_fold(0, |acc, x| Ok(acc | bits(key, x)?)),
        Rv::Text(t) if *key == Key::CtState => match values::number(t) {
            Some(n) => Ok(n),
            None => Ok(names::ct_state_bit(
                names::ct_state(t).ok_or_else(|| format!("`{t}` is not a conntrack state"))?,
            )),
        },
        _ => match value(key, rv)? {
            Value::Range(n, m) if n == m => Ok(n),
            _ => Err("a flag range".into()),
        },
    }
}

/// The conntrack states whose bit is in `mask`.
fn states_of(mask: u128) -> Vec<Vec<Value>> {
    (0..=crate::model::CT_UNTRACKED)
        .filter(|s| names::ct_state_bit(*s) & mask != 0)
        .map(|s| vec![Value::Range(s, s)])
        .collect()
}

/// `keys op rhs` as matches (dependencies first). `sets` is the table's sets, for
/// `@name`; `set_ids[i]` is the model id of `sets[i]`.
pub fn relation(
    keys: &[Key],
    op: Op,
    rhs: &Rv,
    sets: &[(usize, &NamedSet)],
) -> Result<Match, String> {
    let negate = op == Op::Ne;
    let flags = matches!(keys, [Key::TcpFlags] | [Key::CtState] | [Key::CtStatus]);
    if keys == [Key::CtStatus] && matches!(op, Op::Eq | Op::Ne) && !matches!(rhs, Rv::Masked { .. })
    {
        // `ct status == dnat` compares the whole word, bits sockc does not name too.
        return Err(
            "`ct status ==`/`!=` compares every status bit (write `ct status dnat` \
                    or `ct status ! dnat` for one bit)"
                .into(),
        );
    }
    let m = match (rhs, op) {
        (Rv::Masked { value, mask }, Op::Implicit | Op::Eq | Op::Ne)
            if matches!(keys, [Key::CtMark] | [Key::Mark]) =>
        {
            mark_masked(&keys[0], value, mask)?
        }
        (Rv::SetRef(name), Op::Implicit | Op::Eq | Op::Ne) => {
            let (id, set) = sets
                .iter()
                .find(|(_, s)| s.name == *name)
                .ok_or_else(|| format!("set @{name} does not exist"))?;
            check_set_type(keys, set)?;
            Match::test(keys.to_vec(), Rhs::Set(*id))
        }
        // nft reads a one-element anonymous set of flags without an operator as its
        // element alone, any of its bits: `tcp flags { rst }` loads as `tcp flags & rst
        // != 0` and lists back as `tcp flags rst` (nft 1.0.6; `==` and `!=` compare).
        (Rv::Set(elems), Op::Implicit) if flags && matches!(elems[..], [(_, None)]) => {
            ct_or_flags(keys, Rhs::AnyBit(bits(&keys[0], &elems[0].0)?))
        }
        (Rv::Set(elems), Op::Implicit | Op::Eq | Op::Ne) => {
            let mut out = Vec::with_capacity(elems.len());
            for (e, _) in elems {
                out.push(element(keys, e)?);
            }
            Match::test(keys.to_vec(), Rhs::Elements(out))
        }
        (Rv::Masked { value, mask }, Op::Implicit | Op::Eq | Op::Ne) if flags => {
            let (mask, value) = (bits(&keys[0], mask)?, bits(&keys[0], value)?);
            ct_or_flags(keys, Rhs::Masked { mask, value })
        }
        (rv, Op::Implicit) if flags => ct_or_flags(keys, Rhs::AnyBit(bits(&keys[0], rv)?)),
        (rv, Op::NoBits) if flags => ct_or_flags(
            keys,
            Rhs::Masked {
                mask: bits(&keys[0], rv)?,
                value: 0,
            },
        ),
        (_, Op::NoBits) => return Err("`!` on a value that is not a set of flags".into()),
        (rv, Op::Eq | Op::Ne) if flags => {
            let b = bits(&keys[0], rv)?;
            ct_or_flags(
                keys,
                Rhs::Masked {
                    mask: u128::MAX,
                    value: b,
                },
            )
        }
        (rv, Op::Implicit | Op::Eq | Op::Ne) => {
            Match::test(keys.to_vec(), Rhs::Elements(vec![element(keys, rv)?]))
        }
        (rv, Op::Lt | Op::Gt | Op::Le | Op::Ge) => {
            let [key] = keys else {
                return Err("an order on a concatenation".into());
            };
            let Value::Range(n, _) = value(key, rv)? else {
                return Err("an order on names".into());
            };
            let (lo, hi) = match op {
                Op::Lt if n == 0 => {
                    return Ok(Match::test(keys.to_vec(), Rhs::Elements(Vec::new())))
                }
                Op::Lt => (0, n - 1),
                Op::Le => (0, n),
                Op::Gt => (n.saturating_add(1), u128::MAX),
                _ => (n, u128::MAX),
            };
            Match::one(key.clone(), lo, hi)
        }
    };
    Ok(m.negate(negate))
}

/// `ct state` bit tests become state lists (one state bit is set at a time).
fn ct_or_flags(keys: &[Key], rhs: Rhs) -> Match {
    if keys != [Key::CtState] {
        return Match::test(keys.to_vec(), rhs);
    }
    let states = match rhs {
        Rhs::AnyBit(mask) => states_of(mask),
        Rhs::Masked { mask, value } => (0..=crate::model::CT_UNTRACKED)
            .filter(|s| names::ct_state_bit(*s) & mask == value & mask)
            .map(|s| vec![Value::Range(s, s)])
            .collect(),
        other => return Match::test(keys.to_vec(), other),
    };
    Match::test(keys.to_vec(), Rhs::Elements(states))
}

/// One element of a set or a single value, one value per key.
pub fn element(keys: &[Key], rv: &Rv) -> Result<Vec<Value>, String> {
    match (keys, rv) {
        ([key], Rv::List(_)) if *key == Key::TcpFlags => {
            let b = bits(key, rv)?;
            Ok(vec![Value::Range(b, b)])
        }
        ([key], rv) => Ok(vec![value(key, rv)?]),
        (keys, Rv::Concat(parts)) if parts.len() == keys.len() => {
            keys.iter().zip(parts).map(|(k, p)| value(k, p)).collect()
        }
        _ => Err("an element that does not fit the concatenation".into()),
    }
}

/// The nft data type of `key`'s values (`ipv4_addr`, `inet_service`, ...), as a set's
/// `type` names it.
fn key_type(key: &Key) -> &'static str {
    match key {
        Key::NfProto => "nf_proto",
        Key::L4Proto | Key::IpProtocol => "inet_proto",
        Key::Saddr(IpVersion::V4) | Key::Daddr(IpVersion::V4) => "ipv4_addr",
        Key::Saddr(IpVersion::V6) | Key::Daddr(IpVersion::V6) => "ipv6_addr",
        Key::Sport(_) | Key::Dport(_) => "inet_service",
        Key::TcpFlags => "tcp_flag",
        Key::IcmpType(IpVersion::V4) => "icmp_type",
        Key::IcmpType(IpVersion::V6) => "icmpv6_type",
        Key::IcmpCode(IpVersion::V4) => "icmp_code",
        Key::IcmpCode(IpVersion::V6) => "icmpv6_code",
        Key::CtState => "ct_state",
        Key::Iifname | Key::Oifname => "ifname",
        Key::Iif | Key::Oif => "iface_index",
        // nft types `ip ttl` and `ip6 hoplimit` as plain 8-bit integers.
        Key::HopLimit(_) => "integer",
        Key::Dscp(_) => "dscp",
        Key::Ecn(_) => "ecn",
        Key::Length(_) | Key::Ip6PayloadLength => "integer",
        Key::SkUid => "uid",
        Key::SkGid => "gid",
        Key::CtStatus => "ct_status",
        Key::CtDirection => "ct_dir",
        Key::CtMark | Key::Mark => "mark",
    }
}

/// `keys @set` is refused, as nft refuses it ("datatype mismatch"), when the set's
/// type is one the import reads and differs from the keys': the set's values would
/// otherwise be read as values of another field (an IPv6 set as IPv4 addresses).
fn check_set_type(keys: &[Key], set: &NamedSet) -> Result<(), String> {
    let set_type = set.type_text.split(" : ").next().unwrap_or("").trim();
    if set_keys(set_type).is_none() {
        return Ok(());
    }
    let want: Vec<&str> = keys.iter().map(key_type).collect();
    let want = want.join(" . ");
    if want == set_type {
        return Ok(());
    }
    Err(format!(
        "datatype mismatch: set @{} holds {set_type}, the expression is {want}",
        set.name
    ))
}

/// A named set's elements, read with the keys of its type.
pub fn set_keys(type_text: &str) -> Option<Vec<Key>> {
    type_text
        .split(" . ")
        .map(|t| {
            Some(match t.trim() {
                "ipv4_addr" => Key::Saddr(IpVersion::V4),
                "ipv6_addr" => Key::Saddr(IpVersion::V6),
                "inet_service" => Key::Dport(Some(6)),
                "inet_proto" => Key::L4Proto,
                "ifname" => Key::Iifname,
                "icmp_type" => Key::IcmpType(IpVersion::V4),
                "icmpv6_type" => Key::IcmpType(IpVersion::V6),
                "icmp_code" => Key::IcmpCode(IpVersion::V4),
                "icmpv6_code" => Key::IcmpCode(IpVersion::V6),
                "ct_state" => Key::CtState,
                "tcp_flag" => Key::TcpFlags,
                "nf_proto" => Key::NfProto,
                _ => return None,
            })
        })
        .collect()
}

/// Why a named set's elements `elems` could not be read, for the report.
pub fn unreadable_elements(elems: &[(Rv, Option<Rv>)]) -> String {
    if elems.iter().any(|(k, _)| *k == Rv::Text("*".into())) {
        "a catch-all element `*`".into()
    } else {
        "elements the import cannot read".into()
    }
}

/// A named set's contents from its element texts, read with `keys`; `None` if some
/// element cannot be read (the set is then kept with unknown contents).
pub fn set_content(keys: &[Key], elems: &[Rv]) -> SetContent {
    let read: Result<Vec<Vec<Value>>, String> = elems.iter().map(|e| element(keys, e)).collect();
    match read {
        Ok(v) => SetContent::Known(v),
        Err(_) => SetContent::External,
    }
}
