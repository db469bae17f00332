//! The values of a ruleset worth probing at: address ranges (prefixes, hosts,
//! intervals), port ranges, ICMP and ICMPv6 types, hop limits, TOS bytes (DSCP and
//! ECN). An importer that has the ruleset as data fills an [`Interesting`] exactly;
//! until then [`Interesting::scan`] finds them in a ruleset's text — `iptables-save`
//! options (`-s`, `--dport`, `--dports 34,35:39`, `--icmp-type`, `--hl-eq`, `--dscp`,
//! `--tos`, `--ecn-ip-ect`), nft text (`saddr`, `dport { 22, 80-83 }`, `icmpv6 type {
//! … }`, set elements, `hoplimit`, `dscp { ef, cs1 }`, `ecn ce`)
//! and nft JSON (`match` expressions on payload fields, `prefix`, `range`, `set`).
//! It is a scan, not a parser: it may find a value no rule tests or miss one, which
//! changes which probes are made but never what a probe's verdict is. Invariant: the
//! lists are sorted and without duplicates (see [`Interesting::normalize`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;
use sockc_compiler::syntax::ipfield::Field;

/// Values a ruleset tests, each an inclusive range (a single value is `(v, v)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interesting {
    pub v4: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub v6: Vec<(Ipv6Addr, Ipv6Addr)>,
    pub ports: Vec<(u16, u16)>,
    pub icmp_types: Vec<u8>,
    pub icmpv6_types: Vec<u8>,
    pub hop_limits: Vec<u8>,
    /// TOS bytes (DSCP << 2 | ECN) a rule names: a DSCP with ECN 0, an ECN with DSCP 0.
    pub tos: Vec<u8>,
    /// IP packet lengths a rule names (`--length`, `meta length`, `ip length`; an
    /// `ip6 length`, the payload length, gives its value and the packet's, 40 more).
    pub lengths: Vec<u32>,
    /// A rule names ICMP's or ICMPv6's protocol (`meta l4proto icmp`, `ip6 nexthdr
    /// icmp`, `-p icmp`, and their nft JSON `match`es), which the other IP version's
    /// packets of that number may pass: probe them too.
    pub icmp_numbers: bool,
}

/// Whether a line of nft text or `iptables-save` tests ICMP's or ICMPv6's protocol:
/// `meta l4proto`, `ip6 nexthdr`, `ip protocol` (an operator, then one name or a `{
/// ... }` set) or `-p` before `icmp`, `ipv6-icmp`, `icmpv6`, 1 or 58.
fn line_names_icmp_protocol(line: &str) -> bool {
    ["l4proto ", "nexthdr ", "protocol ", "-p "]
        .iter()
        .any(|k| {
            line.match_indices(k).any(|(at, _)| {
                let rest = line[at + k.len()..].trim_start();
                let rest = ["!=", "==", "!"]
                    .iter()
                    .find_map(|op| rest.strip_prefix(op))
                    .unwrap_or(rest)
                    .trim_start();
                let value = match rest.strip_prefix('{') {
                    Some(set) => set.split('}').next().unwrap_or_default(),
                    None => rest.split_whitespace().next().unwrap_or_default(),
                };
                value
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .any(|w| matches!(w, "icmp" | "ipv6-icmp" | "icmpv6" | "1" | "58"))
            })
        })
}

/// Whether an nft JSON ruleset has a `match` of `meta l4proto`, `ip6 nexthdr` or `ip
/// protocol` against ICMP's or ICMPv6's protocol (alone or in a set).
fn names_icmp_protocol(v: &Value) -> bool {
    let icmp = |r: &Value| match r {
        Value::String(s) => matches!(s.as_str(), "icmp" | "ipv6-icmp" | "icmpv6"),
        Value::Number(n) => matches!(n.as_u64(), Some(1 | 58)),
        _ => false,
    };
    match v {
        Value::Object(o) => {
            if let Some(m) = o.get("match") {
                let left = &m["left"];
                let protocol = left["meta"]["key"] == "l4proto"
                    || matches!(
                        left["payload"]["field"].as_str(),
                        Some("nexthdr" | "protocol")
                    );
                let right = &m["right"];
                let named =
                    icmp(right) || right["set"].as_array().is_some_and(|s| s.iter().any(icmp));
                if protocol && named {
                    return true;
                }
            }
            o.values().any(names_icmp_protocol)
        }
        Value::Array(a) => a.iter().any(names_icmp_protocol),
        _ => false,
    }
}

/// ICMP type names as iptables and nft print them.
const ICMP_NAMES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
];

/// ICMPv6 type names as ip6tables and nft print them.
const ICMPV6_NAMES: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("mld-listener-reduction", 132),
    ("nd-router-solicit", 133),
    ("nd-router-advert", 134),
    ("nd-neighbor-solicit", 135),
    ("nd-neighbor-advert", 136),
    ("nd-redirect", 137),
    ("router-renumbering", 138),
    ("ind-neighbor-solicit", 141),
    ("ind-neighbor-advert", 142),
    ("mld2-listener-report", 143),
];

fn icmp_type(word: &str, v6: bool) -> Option<u8> {
    let names = if v6 { ICMPV6_NAMES } else { ICMP_NAMES };
    // `3/1` (type/code) in iptables' --icmp-type.
    let word = word.split('/').next().unwrap_or(word);
    word.parse()
        .ok()
        .or_else(|| names.iter().find(|(n, _)| *n == word).map(|&(_, t)| t))
}

impl Interesting {
    /// Scans a ruleset in any of the three forms (JSON when it parses as JSON).
    pub fn scan(text: &str) -> Interesting {
        let mut found = Interesting::default();
        match serde_json::from_str::<Value>(text) {
            Ok(json) => {
                found.icmp_numbers = names_icmp_protocol(&json);
                found.scan_json(&json, None)
            }
            Err(_) => text.lines().for_each(|l| found.scan_line(l)),
        }
        found.normalize();
        found
    }

    /// Sorts and deduplicates every list.
    pub fn normalize(&mut self) {
        fn tidy<T: Ord>(v: &mut Vec<T>) {
            v.sort();
            v.dedup();
        }
        tidy(&mut self.v4);
        tidy(&mut self.v6);
        tidy(&mut self.ports);
        tidy(&mut self.icmp_types);
        tidy(&mut self.icmpv6_types);
        tidy(&mut self.hop_limits);
        tidy(&mut self.tos);
        tidy(&mut self.lengths);
    }

    /// Adds the ends of a length or range of lengths (`N`, `N-M`, `N:M`, `N:`), if
    /// `word` is one; `payload` adds them 40 higher too.
    fn add_lengths(&mut self, word: &str, payload: bool) -> bool {
        let ends: Vec<&str> = word.split([':', '-']).filter(|e| !e.is_empty()).collect();
        let values: Option<Vec<u32>> = ends.iter().map(|e| e.parse().ok()).collect();
        let Some(values) = values.filter(|v| !v.is_empty()) else {
            return false;
        };
        for v in values {
            self.lengths.push(v);
            if payload {
                self.lengths.push(v + 40);
            }
        }
        true
    }

    /// Adds the TOS byte of a DSCP or ECN value (a number, `0x` hex, or a name), if
    /// `word` is one; `-` ranges give both ends.
    fn add_tos(&mut self, field: Field, word: &str) -> bool {
        let shift = if field == Field::Dscp { 2 } else { 0 };
        let ends: Vec<&str> = match word.split_once('-').filter(|_| word != "not-ect") {
            Some((a, b)) => vec![a, b],
            None => vec![word],
        };
        let values: Option<Vec<u32>> = ends
            .iter()
            .map(|w| field.value(&w.to_ascii_lowercase()))
            .collect();
        let Some(values) = values else { return false };
        self.tos
            .extend(values.into_iter().map(|v| (v << shift) as u8));
        true
    }

    /// Adds an address, a prefix (`a/len`) or an interval (`a-b`), if `word` is one.
    pub fn add_address(&mut self, word: &str) -> bool {
        if let Some((a, b)) = word.split_once('-') {
            return match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
                (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) => {
                    self.v4.push((a.min(b), a.max(b)));
                    true
                }
                (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) => {
                    self.v6.push((a.min(b), a.max(b)));
                    true
                }
                _ => false,
            };
        }
        match word.parse::<ipnet::IpNet>() {
            Ok(ipnet::IpNet::V4(n)) => self.v4.push((n.network(), n.broadcast())),
            Ok(ipnet::IpNet::V6(n)) => self.v6.push((n.network(), n.broadcast())),
            Err(_) => match word.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => self.v4.push((a, a)),
                Ok(IpAddr::V6(a)) => self.v6.push((a, a)),
                Err(_) => return false,
            },
        }
        true
    }

    /// Adds a port (`22`) or range (`8080:8089`, `80-83`), if `word` is one.
    pub fn add_ports(&mut self, word: &str) -> bool {
        let (a, b) = word
            .split_once(':')
            .or_else(|| word.split_once('-'))
            .unwrap_or((word, word));
        match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) => {
                self.ports.push((a.min(b), a.max(b)));
                true
            }
            _ => false,
        }
    }

    /// One line of `iptables-save` output or nft text.
    fn scan_line(&mut self, line: &str) {
        let line = line.split('#').next().unwrap_or_default();
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}' | ';' | '"' | '\''))
            .filter(|w| !w.is_empty())
            .collect();
        let v6_line = line.contains("icmpv6") || line.contains("ipv6-icmp");
        self.icmp_numbers |= line_names_icmp_protocol(line);
        for (i, w) in words.iter().enumerate() {
            let after = |n: usize| words.get(i + n).copied().unwrap_or_default();
            match *w {
                "--dport"
                | "--sport"
                | "--dports"
                | "--sports"
                | "--destination-port"
                | "--source-port"
                | "--destination-ports"
                | "--source-ports" => {
                    // `--dports 34,35:39` was split at the commas: take what follows.
                    words[i + 1..]
                        .iter()
                        .take_while(|w| !w.starts_with('-') && self.add_ports(w))
                        .count();
                }
                "dport" | "sport" => {
                    words[i + 1..]
                        .iter()
                        .skip_while(|w| matches!(**w, "!=" | "==" | "<" | ">" | "<=" | ">="))
                        .take_while(|w| self.add_ports(w))
                        .count();
                }
                "--icmp-type" | "--icmpv6-type" => {
                    let v6 = *w == "--icmpv6-type";
                    if let Some(t) = icmp_type(after(1), v6) {
                        self.push_icmp(t, v6);
                    }
                }
                "--hl-eq" | "--ttl-eq" | "hoplimit" | "ttl" => {
                    if let Ok(h) = after(1).parse() {
                        self.hop_limits.push(h);
                    }
                }
                "length" | "--length" => {
                    let payload = i > 0 && words[i - 1] == "ip6";
                    words[i + 1..]
                        .iter()
                        .skip_while(|w| matches!(**w, "!=" | "==" | "!" | "<" | ">" | "<=" | ">="))
                        .take_while(|w| self.add_lengths(w, payload))
                        .count();
                }
                "dscp" | "ecn" | "--dscp" | "--dscp-class" | "--ecn-ip-ect" => {
                    let field = if w.contains("dscp") {
                        Field::Dscp
                    } else {
                        Field::Ecn
                    };
                    words[i + 1..]
                        .iter()
                        .skip_while(|w| matches!(**w, "!=" | "==" | "!"))
                        .take_while(|w| self.add_tos(field, w))
                        .count();
                }
                "--tos" => {
                    // `VALUE/MASK`: the value is a byte the rule matches.
                    let v = after(1).split('/').next().unwrap_or_default();
                    let v = v.strip_prefix("0x").map(|h| u8::from_str_radix(h, 16));
                    if let Some(Ok(t)) = v {
                        self.tos.push(t);
                    }
                }
                _ => {
                    if !self.add_address(w) {
                        self.scan_icmp_word(&words, i, v6_line);
                    }
                }
            }
        }
    }

    /// A word of an nft line: an ICMP type name, or a number right after
    /// `icmp type` / `icmpv6 type` (and each element of the set that follows).
    fn scan_icmp_word(&mut self, words: &[&str], i: usize, v6_line: bool) {
        let w = words[i];
        if w.parse::<u8>().is_err() {
            if let Some(t) = icmp_type(w, v6_line) {
                if w.contains('-') {
                    self.push_icmp(t, v6_line);
                }
            }
            return;
        }
        let type_keyword = words[..i]
            .iter()
            .rposition(|x| *x == "type")
            .filter(|&k| k > 0 && matches!(words[k - 1], "icmp" | "icmpv6"));
        let Some(k) = type_keyword else { return };
        // Only set elements and the value itself, not `. code` parts or later matches.
        let between = &words[k + 1..i];
        if between
            .iter()
            .all(|x| x.parse::<u8>().is_ok() || icmp_type(x, v6_line).is_some())
        {
            let t = w.parse().expect("checked");
            self.push_icmp(t, words[k - 1] == "icmpv6");
        }
    }

    fn push_icmp(&mut self, t: u8, v6: bool) {
        if v6 {
            self.icmpv6_types.push(t);
        } else {
            self.icmp_types.push(t);
        }
    }

    /// Walks nft JSON; `field` is the payload field (`dport`, `type`, …) and whether
    /// its protocol is ICMPv6, when `v` is the right side of a match on one.
    fn scan_json(&mut self, v: &Value, field: Option<(&str, bool)>) {
        match v {
            Value::String(s) => {
                if let Some(("dscp" | "ecn", _)) = field {
                    let f = if field.is_some_and(|f| f.0 == "dscp") {
                        Field::Dscp
                    } else {
                        Field::Ecn
                    };
                    self.add_tos(f, s);
                    return;
                }
                let icmp = match field {
                    Some(("type", v6)) => icmp_type(s, v6).map(|t| (t, v6)),
                    _ => None,
                };
                if !self.add_address(s) {
                    if let Some((t, v6)) = icmp {
                        self.push_icmp(t, v6);
                    }
                }
            }
            Value::Number(n) => self.json_number(n.as_u64(), field),
            Value::Array(items) => items.iter().for_each(|x| self.scan_json(x, field)),
            Value::Object(map) => {
                if let Some(m) = map.get("match") {
                    let f = match_field(&m["left"]);
                    self.scan_json(&m["right"], f.as_ref().map(|(f, v6)| (f.as_str(), *v6)));
                    return;
                }
                if let Some(p) = map.get("prefix") {
                    if let (Some(a), Some(l)) = (p["addr"].as_str(), p["len"].as_u64()) {
                        self.add_address(&format!("{a}/{l}"));
                    }
                    return;
                }
                if let Some(Value::Array(r)) = map.get("range") {
                    if let [Value::String(a), Value::String(b)] = r.as_slice() {
                        self.add_address(&format!("{a}-{b}"));
                    } else if let [Value::Number(a), Value::Number(b)] = r.as_slice() {
                        if matches!(field, Some(("dport" | "sport", _))) {
                            self.add_ports(&format!("{a}-{b}"));
                        }
                    }
                    return;
                }
                if let Some(Value::Array(parts)) = map.get("concat") {
                    // `icmpv6 type . icmpv6 code`: the first part is the type.
                    if let Some(first) = parts.first() {
                        self.scan_json(first, field);
                    }
                    return;
                }
                map.values().for_each(|x| self.scan_json(x, field));
            }
            _ => {}
        }
    }

    fn json_number(&mut self, n: Option<u64>, field: Option<(&str, bool)>) {
        let Some(n) = n else { return };
        match field {
            Some(("dport" | "sport", _)) => {
                if let Ok(p) = u16::try_from(n) {
                    self.ports.push((p, p));
                }
            }
            Some(("type", v6)) => {
                if let Ok(t) = u8::try_from(n) {
                    self.push_icmp(t, v6);
                }
            }
            Some(("hoplimit" | "ttl", _)) => {
                if let Ok(h) = u8::try_from(n) {
                    self.hop_limits.push(h);
                }
            }
            Some((f @ ("dscp" | "ecn"), _)) => {
                let f = if f == "dscp" { Field::Dscp } else { Field::Ecn };
                self.add_tos(f, &n.to_string());
            }
            _ => {}
        }
    }
}

/// The payload field a JSON match tests (`{"payload": {"protocol": "tcp", "field":
/// "dport"}}`), and whether its protocol is ICMPv6; for a concatenation, its first
/// part's.
fn match_field(left: &Value) -> Option<(String, bool)> {
    if let Some(Value::Array(parts)) = left.get("concat") {
        return match_field(parts.first()?);
    }
    let p = left.get("payload")?;
    let field = p.get("field")?.as_str()?.to_string();
    let v6 = p.get("protocol").and_then(Value::as_str) == Some("icmpv6");
    Some((field, v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_matches_give_lengths() {
        let i = Interesting::scan(
            "-A INPUT -m length --length 0:27 -j DROP\n\
             -A INPUT -m length ! --length 1200: -j DROP\n\
             \t\tmeta length { 40-44, 60 } drop\n\
             \t\tudp dport 443 ip6 length >= 1200 accept\n",
        );
        assert_eq!(i.lengths, vec![0, 27, 40, 44, 60, 1200, 1240]);
    }

    #[test]
    fn dscp_ecn_and_tos_give_tos_bytes() {
        let i = Interesting::scan(
            "-A INPUT -m dscp --dscp 0x2e -j ACCEPT\n\
             -A INPUT -m dscp ! --dscp-class AF41 -j DROP\n\
             -A INPUT -m tos --tos 0x10/0x3f -j DROP\n\
             -A INPUT -m ecn --ecn-ip-ect 3 -j DROP\n\
             \t\tip dscp { cs1, 0x30-0x3f } ip ecn not-ect drop\n",
        );
        assert_eq!(
            i.tos,
            vec![0, 3, 0x10, 32, 34 << 2, 46 << 2, 48 << 2, 63 << 2]
        );
        let j = Interesting::scan(
            r#"{"nftables": [{"rule": {"expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "dscp"}}, "right": {"set": ["af41", 10]}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "ecn"}}, "right": "ce"}}]}}]}"#,
        );
        assert_eq!(j.tos, vec![3, 10 << 2, 34 << 2]);
    }

    #[test]
    fn iptables_options_give_addresses_ports_types_and_hop_limits() {
        let i = Interesting::scan(
            "-A ufw-user-input -s 192.168.0.1/32 -d 10.0.0.0/8 -p udp -m multiport --dports 34,35:39 -j ACCEPT\n\
             -A x -p tcp -m tcp --sport 80 --dport 13 -j ACCEPT\n\
             -A y -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255 -j ACCEPT\n\
             -A z -p icmp -m icmp --icmp-type 3/1 -j ACCEPT\n\
             -A w -s fe80::/10 -j ACCEPT\n",
        );
        assert_eq!(
            i.v4,
            vec![
                (
                    "10.0.0.0".parse().unwrap(),
                    "10.255.255.255".parse().unwrap()
                ),
                (
                    "192.168.0.1".parse().unwrap(),
                    "192.168.0.1".parse().unwrap()
                ),
            ]
        );
        assert_eq!(
            i.v6,
            vec![(
                "fe80::".parse().unwrap(),
                "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()
            )]
        );
        assert_eq!(i.ports, vec![(13, 13), (34, 34), (35, 39), (80, 80)]);
        assert_eq!(i.icmpv6_types, vec![135]);
        assert_eq!(i.icmp_types, vec![3]);
        assert_eq!(i.hop_limits, vec![255]);
    }

    #[test]
    fn nft_text_gives_sets_intervals_and_icmp_names() {
        let i = Interesting::scan(
            "elements = { 192.0.2.201, 203.0.113.64/26 }\n\
             tcp dport { 22, 80-83 } accept\n\
             icmpv6 type { nd-neighbor-solicit, 148 } accept\n\
             icmpv6 type . icmpv6 code { packet-too-big . no-route } accept\n\
             icmp type echo-request accept\n\
             ip6 hoplimit 1 drop\n",
        );
        assert_eq!(i.ports, vec![(22, 22), (80, 83)]);
        assert_eq!(i.icmpv6_types, vec![2, 135, 148]);
        assert_eq!(i.icmp_types, vec![8]);
        assert_eq!(i.hop_limits, vec![1]);
        assert_eq!(i.v4.len(), 2);
    }

    #[test]
    fn nft_json_gives_the_same_values() {
        let json = r#"{"nftables": [{"rule": {"expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, {"range": [80, 83]}]}}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "203.0.113.64", "len": 26}}}},
            {"match": {"op": "==", "left": {"concat": [{"payload": {"protocol": "icmpv6", "field": "type"}}, {"payload": {"protocol": "icmpv6", "field": "code"}}]},
                       "right": {"set": [{"concat": ["packet-too-big", "no-route"]}, {"concat": [135, 0]}]}}}
        ]}}]}"#;
        let i = Interesting::scan(json);
        assert_eq!(i.ports, vec![(22, 22), (80, 83)]);
        assert_eq!(
            i.v4,
            vec![(
                "203.0.113.64".parse().unwrap(),
                "203.0.113.127".parse().unwrap()
            )]
        );
        assert_eq!(i.icmpv6_types, vec![2, 135]);
    }
}
