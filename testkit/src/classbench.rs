//! ClassBench filter sets and header traces (Taylor and Turner's packet-classification
//! benchmark) read into data and converted to sockc source: [`parse_filters`],
//! [`parse_trace`] and [`parse_expected`] read the `.rules`, `.rules_trace` and
//! `.rules_trace.expected` files, [`to_sk`] writes one hook block with one rule per
//! filter, and [`first_match`] is a brute-force classifier with ClassBench semantics to
//! cross-check against. The invariant it keeps: every [`Filter`] that [`parse_filters`]
//! returns converts to exactly one sockc rule that matches exactly the IPv4 headers the
//! filter matches (ports read from TCP and UDP only), and rule `i` of the block [`to_sk`] writes is filter `i`, so a
//! ClassBench first-match index is also the index of the first sockc rule that matches.
//! Filters sockc cannot express exactly (a port range on a protocol other than TCP or
//! UDP, a partial protocol mask) are rejected by [`parse_filters`] with their line; none
//! occur in the published data.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::Ipv4Net;

use crate::packet::{PacketSpec, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, L4};

/// The whole port space: a range equal to this constrains nothing.
const ANY_PORT: (u16, u16) = (0, u16::MAX);

/// One ClassBench filter. Its priority is its position in the file (first is highest);
/// its TCP flags are ignored, as in the published expected results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Source prefix, canonical (no host bits set).
    pub src: Ipv4Net,
    /// Destination prefix, canonical.
    pub dst: Ipv4Net,
    /// Inclusive source port range.
    pub sport: (u16, u16),
    /// Inclusive destination port range.
    pub dport: (u16, u16),
    /// The protocol; `None` is the wildcard (mask 0x00).
    pub proto: Option<u8>,
    /// 1-based line in the `.rules` file.
    pub line: usize,
}

/// One header of a ClassBench trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

/// A line of a ClassBench file that could not be read, or a filter sockc cannot express.
#[derive(Debug, thiserror::Error)]
pub enum ClassbenchError {
    #[error("line {line}: expected {expected} tab-separated fields, found {found}: `{text}`")]
    FieldCount {
        line: usize,
        expected: usize,
        found: usize,
        text: String,
    },
    #[error("line {line}: bad {field}: `{text}`")]
    BadField {
        line: usize,
        field: &'static str,
        text: String,
    },
    #[error("line {line}: filter cannot be expressed in sockc ({reason}): `{text}`")]
    Unexpressible {
        line: usize,
        reason: String,
        text: String,
    },
}

impl ClassbenchError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            ClassbenchError::FieldCount { line, .. }
            | ClassbenchError::BadField { line, .. }
            | ClassbenchError::Unexpressible { line, .. } => *line,
        }
    }
}

/// Non-blank lines with their 1-based line numbers (blank lines, such as a trailing
/// one, are skipped but still counted so errors point at the right line).
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// Tab-separated fields, without the empty field a trailing tab leaves (`.rules` lines
/// end with one).
fn fields(line_text: &str) -> Vec<&str> {
    let mut fields: Vec<&str> = line_text.split('\t').map(str::trim).collect();
    while fields.last() == Some(&"") {
        fields.pop();
    }
    fields
}

fn bad(line: usize, field: &'static str, text: &str) -> ClassbenchError {
    ClassbenchError::BadField {
        line,
        field,
        text: text.to_string(),
    }
}

/// Reads a `.rules` file: `@SA/len  DA/len  SPlo : SPhi  DPlo : DPhi  0xPP/0xMM
/// 0xFFFF/0xMMMM`, tab separated. The flags field must be well formed but is ignored.
pub fn parse_filters(text: &str) -> Result<Vec<Filter>, ClassbenchError> {
    numbered_lines(text)
        .map(|(line, line_text)| parse_filter(line, line_text))
        .collect()
}

fn parse_filter(line: usize, line_text: &str) -> Result<Filter, ClassbenchError> {
    let f = fields(line_text);
    let [src, dst, sport, dport, proto, flags] = f[..] else {
        return Err(ClassbenchError::FieldCount {
            line,
            expected: 6,
            found: f.len(),
            text: line_text.to_string(),
        });
    };
    let src_text = src
        .strip_prefix('@')
        .ok_or_else(|| bad(line, "source prefix (must start with `@`)", src))?;
    let filter = Filter {
        src: parse_prefix(line, "source prefix", src_text)?,
        dst: parse_prefix(line, "destination prefix", dst)?,
        sport: parse_port_range(line, "source port range", sport)?,
        dport: parse_port_range(line, "destination port range", dport)?,
        proto: parse_proto(line, line_text, proto)?,
        line,
    };
    parse_value_mask(flags, 0xFFFF).ok_or_else(|| bad(line, "TCP flags", flags))?;
    let has_ports = filter.sport != ANY_PORT || filter.dport != ANY_PORT;
    if has_ports && !matches!(filter.proto, Some(IPPROTO_TCP | IPPROTO_UDP)) {
        // sockc reads ports of TCP and UDP only (a port match without a protocol means
        // TCP or UDP), while ClassBench would compare any protocol's "port" fields.
        return Err(ClassbenchError::Unexpressible {
            line,
            reason: match filter.proto {
                Some(p) => format!("port range on protocol {p}"),
                None => "port range with a wildcard protocol".to_string(),
            },
            text: line_text.to_string(),
        });
    }
    Ok(filter)
}

/// `A.B.C.D/LEN`, canonicalized: the published sets have no host bits set beyond the
/// length (checked over all nine), but the generator does not promise it, and sockc
/// rejects a prefix with host bits set.
fn parse_prefix(line: usize, field: &'static str, text: &str) -> Result<Ipv4Net, ClassbenchError> {
    // ipnet accepts a bare address as a /32; ClassBench always writes the length.
    if !text.contains('/') {
        return Err(bad(line, field, text));
    }
    Ipv4Net::from_str(text)
        .map(|net| net.trunc())
        .map_err(|_| bad(line, field, text))
}

/// `LO : HI`, inclusive, LO ≤ HI.
fn parse_port_range(
    line: usize,
    field: &'static str,
    text: &str,
) -> Result<(u16, u16), ClassbenchError> {
    let (lo, hi) = text.split_once(':').ok_or_else(|| bad(line, field, text))?;
    match (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) {
        (Ok(lo), Ok(hi)) if lo <= hi => Ok((lo, hi)),
        _ => Err(bad(line, field, text)),
    }
}

/// `0xPP/0xMM`: mask 0xFF is an exact protocol, mask 0x00 (value 0) the wildcard.
fn parse_proto(line: usize, line_text: &str, text: &str) -> Result<Option<u8>, ClassbenchError> {
    let (value, mask) = parse_value_mask(text, 0xFF).ok_or_else(|| bad(line, "protocol", text))?;
    match (value, mask) {
        (v, 0xFF) => Ok(Some(v as u8)), // v <= 0xFF: parse_value_mask checked it
        (0, 0x00) => Ok(None),
        _ => Err(ClassbenchError::Unexpressible {
            line,
            reason: format!("protocol mask {mask:#04x} with value {value:#04x}"),
            text: line_text.to_string(),
        }),
    }
}

/// `0xVALUE/0xMASK` in hexadecimal, both at most `max`.
fn parse_value_mask(text: &str, max: u32) -> Option<(u32, u32)> {
    let hex = |part: &str| {
        let digits = part
            .strip_prefix("0x")
            .or_else(|| part.strip_prefix("0X"))?;
        u32::from_str_radix(digits, 16).ok().filter(|&n| n <= max)
    };
    let (value, mask) = text.split_once('/')?;
    Some((hex(value)?, hex(mask)?))
}

/// Reads a `.rules_trace` file: `SA DA SP DP PROTO FLAGS GEN`, 7 tab-separated
/// decimals (addresses as 32-bit integers). FLAGS and GEN must be decimals but are
/// ignored: FLAGS is not a packet value and GEN is not the expected match.
pub fn parse_trace(text: &str) -> Result<Vec<TraceHeader>, ClassbenchError> {
    numbered_lines(text)
        .map(|(line, line_text)| {
            let f = fields(line_text);
            let [src, dst, sport, dport, proto, flags, generator] = f[..] else {
                return Err(ClassbenchError::FieldCount {
                    line,
                    expected: 7,
                    found: f.len(),
                    text: line_text.to_string(),
                });
            };
            let number = |field: &'static str, text: &str| {
                text.parse::<u64>().map_err(|_| bad(line, field, text))
            };
            number("flags", flags)?;
            number("generating filter", generator)?;
            Ok(TraceHeader {
                src: Ipv4Addr::from(
                    src.parse::<u32>()
                        .map_err(|_| bad(line, "source address", src))?,
                ),
                dst: Ipv4Addr::from(
                    dst.parse::<u32>()
                        .map_err(|_| bad(line, "destination address", dst))?,
                ),
                sport: sport.parse().map_err(|_| bad(line, "source port", sport))?,
                dport: dport
                    .parse()
                    .map_err(|_| bad(line, "destination port", dport))?,
                proto: proto.parse().map_err(|_| bad(line, "protocol", proto))?,
            })
        })
        .collect()
}

/// Reads a `.rules_trace.expected` file: one 0-based filter index per trace line, `-1`
/// (no filter matches) as `None`.
pub fn parse_expected(text: &str) -> Result<Vec<Option<usize>>, ClassbenchError> {
    numbered_lines(text)
        .map(|(line, line_text)| match line_text.trim() {
            "-1" => Ok(None),
            index => index
                .parse::<usize>()
                .map(Some)
                .map_err(|_| bad(line, "filter index", line_text)),
        })
        .collect()
}

/// How a conversion assigns actions, since ClassBench filters carry none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionPolicy {
    /// Filter `i` allows if `i` is even and drops if it is odd, so neighbouring rules
    /// rarely share an action (which makes grouping them harder for the compiler).
    Alternate,
    /// Filter `i` drops if `i` is even and allows if it is odd: alternating, with the
    /// first filter dropping (a packet the first rule decides is dropped there).
    AlternateDropFirst,
    AllAllow,
    AllDrop,
}

/// Action of filter `index` (0-based) under `policy`: `"allow"` or `"drop"`.
pub fn action_of(policy: ActionPolicy, index: usize) -> &'static str {
    match policy {
        ActionPolicy::Alternate if index.is_multiple_of(2) => "allow",
        ActionPolicy::Alternate => "drop",
        ActionPolicy::AlternateDropFirst if index.is_multiple_of(2) => "drop",
        ActionPolicy::AlternateDropFirst => "allow",
        ActionPolicy::AllAllow => "allow",
        ActionPolicy::AllDrop => "drop",
    }
}

/// What [`to_sk`] writes around the rules.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// The block header without the brace, e.g. `xdp on eth0` or `tc ingress on eth0`.
    pub hook: String,
    pub policy: ActionPolicy,
    /// The block's default verdict: `"allow"` or `"drop"`.
    pub default: &'static str,
}

/// The first `n` filters of set `set`'s vendored 1k file (`bench/classbench/`) as one
/// `xdp on eth0` block, verdicts alternating, default `drop`: the rule file the
/// compiler's own tests take from ClassBench.
pub fn vendored_1k_sk(set: &str, n: usize) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = crate::classbench_data::dir(None, &root);
    let text =
        crate::classbench_data::read(&dir, &crate::classbench_data::file_name(set, 1000, ""))
            .unwrap_or_else(|e| panic!("{e}"));
    let filters = parse_filters(&text).expect("filters parse");
    let opts = ConvertOptions {
        hook: "xdp on eth0".to_string(),
        policy: ActionPolicy::Alternate,
        default: "drop",
    };
    to_sk(&filters[..n.min(filters.len())], &opts)
}

/// The sockc source text: a comment header naming the origin, then one hook block with
/// exactly one rule per filter, in filter order, so rule i (0-based) of the block is
/// filter i, then `default ...`.
pub fn to_sk(filters: &[Filter], opts: &ConvertOptions) -> String {
    let policy = match opts.policy {
        ActionPolicy::Alternate => "filter i allows if i is even, drops if odd",
        ActionPolicy::AlternateDropFirst => "filter i drops if i is even, allows if odd",
        ActionPolicy::AllAllow => "every filter allows",
        ActionPolicy::AllDrop => "every filter drops",
    };
    let mut out = format!(
        "# Converted from a ClassBench filter set (Taylor and Turner's packet-classification\n\
         # benchmark) by sockc's classbench module: {} filters, TCP flags ignored.\n\
         # Rule i (0-based) of the block is filter i (0-based) of the .rules file.\n\
         # Actions: {policy}.\n\
         {} {{\n",
        filters.len(),
        opts.hook,
    );
    for (index, filter) in filters.iter().enumerate() {
        out.push_str("    ");
        out.push_str(&filter.rule_text(action_of(opts.policy, index)));
        out.push('\n');
    }
    out.push_str(&format!("    default {}\n}}\n", opts.default));
    out
}

impl Filter {
    /// The sockc rule for this filter: `ACTION ip4 [PROTO] from SRC to DST`. `ip4` is
    /// always there because a rule with no match at all would also match non-IP frames.
    fn rule_text(&self, action: &str) -> String {
        let proto = match self.proto {
            None => String::new(),
            Some(IPPROTO_TCP) => " tcp".to_string(),
            Some(IPPROTO_UDP) => " udp".to_string(),
            Some(IPPROTO_ICMP) => " icmp".to_string(),
            Some(n) => format!(" proto {n}"),
        };
        format!(
            "{action} ip4{proto} from {} to {}",
            endpoint(self.src, self.sport),
            endpoint(self.dst, self.dport)
        )
    }

    /// ClassBench semantics: both prefixes contain the addresses, both ports lie in
    /// their inclusive ranges, and the protocol is equal unless it is the wildcard.
    pub fn matches(&self, h: &TraceHeader) -> bool {
        let in_range = |port: u16, (lo, hi): (u16, u16)| lo <= port && port <= hi;
        self.src.contains(&h.src)
            && self.dst.contains(&h.dst)
            && in_range(h.sport, self.sport)
            && in_range(h.dport, self.dport)
            && self.proto.is_none_or(|p| p == h.proto)
    }
}

/// `ADDRESS[:PORT]`: `*` for /0; the port as `N` or `LO-HI`, left out when it is any.
fn endpoint(net: Ipv4Net, (lo, hi): (u16, u16)) -> String {
    let address = if net.prefix_len() == 0 {
        "*".to_string()
    } else {
        net.to_string()
    };
    match (lo, hi) {
        ANY_PORT => address,
        (lo, hi) => format!("{address}:{}", sockc_compiler::ir::port_range_text(lo, hi)),
    }
}

/// Index of the first filter that matches `h`, by trying them all in order.
pub fn first_match(filters: &[Filter], h: &TraceHeader) -> Option<usize> {
    filters.iter().position(|f| f.matches(h))
}

impl TraceHeader {
    /// A packet with this header: TCP (flags 0) and UDP carry the ports, ICMP is an
    /// echo request, any other protocol has no L4 header.
    ///
    /// Ports of a header whose protocol is neither TCP nor UDP cannot be carried in a
    /// real packet and are dropped. That keeps first-match results: no ClassBench filter
    /// constrains ports for such protocols (checked over all nine published sets: none of
    /// the 60,860 filters whose protocol is neither TCP nor UDP, the wildcard included,
    /// has a port range other than 0-65535), and [`parse_filters`] rejects any that would.
    pub fn packet(&self) -> PacketSpec {
        let l4 = match self.proto {
            IPPROTO_TCP => L4::Tcp {
                sport: self.sport,
                dport: self.dport,
                flags: 0,
            },
            IPPROTO_UDP => L4::Udp {
                sport: self.sport,
                dport: self.dport,
            },
            IPPROTO_ICMP => L4::Icmp { ty: 8, code: 0 },
            proto => L4::Other { proto },
        };
        PacketSpec::new(IpAddr::V4(self.src), IpAddr::V4(self.dst), l4)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use sockc_compiler::diag::Severity;
    use sockc_compiler::ir::{AddrMatch, PortMatch};

    // Real lines from the published 1k sets.
    const ACL1_LINE_1: &str =
        "@22.213.33.126/32\t249.158.184.110/32\t0 : 65535\t1526 : 1526\t0x06/0xFF\t0x0000/0x0200\t";
    const FW1_LINE_1: &str =
        "@171.25.247.240/29\t171.25.246.192/28\t750 : 750\t80 : 80\t0x11/0xFF\t0x0000/0x0000\t";
    const FW1_LINE_715: &str =
        "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t22 : 22\t0x06/0xFF\t0x0200/0x1200\t";
    const IPC1_LINE_463: &str =
        "@243.108.202.56/32\t135.30.116.136/32\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t";

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    fn filter(
        src: &str,
        dst: &str,
        sport: (u16, u16),
        dport: (u16, u16),
        proto: Option<u8>,
    ) -> Filter {
        Filter {
            src: net(src),
            dst: net(dst),
            sport,
            dport,
            proto,
            line: 1,
        }
    }

    #[test]
    fn parses_real_filter_lines() {
        let text = format!("{ACL1_LINE_1}\n{FW1_LINE_1}\n{FW1_LINE_715}\n{IPC1_LINE_463}\n");
        let filters = parse_filters(&text).unwrap();
        assert_eq!(
            filters,
            vec![
                Filter {
                    line: 1,
                    ..filter(
                        "22.213.33.126/32",
                        "249.158.184.110/32",
                        ANY_PORT,
                        (1526, 1526),
                        Some(6)
                    )
                },
                Filter {
                    line: 2,
                    ..filter(
                        "171.25.247.240/29",
                        "171.25.246.192/28",
                        (750, 750),
                        (80, 80),
                        Some(17)
                    )
                },
                Filter {
                    line: 3,
                    ..filter("0.0.0.0/0", "0.0.0.0/0", ANY_PORT, (22, 22), Some(6))
                },
                Filter {
                    line: 4,
                    ..filter(
                        "243.108.202.56/32",
                        "135.30.116.136/32",
                        ANY_PORT,
                        ANY_PORT,
                        None
                    )
                },
            ]
        );
    }

    #[test]
    fn canonicalizes_host_bits() {
        let text = "@10.1.2.3/8\t192.168.1.77/24\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t";
        let f = &parse_filters(text).unwrap()[0];
        assert_eq!((f.src, f.dst), (net("10.0.0.0/8"), net("192.168.1.0/24")));
    }

    #[test]
    fn parses_real_trace_and_expected_lines() {
        // acl1_1000.rules_trace lines 1-2 and fw1_1000.rules_trace line 1.
        let trace = "383068160\t4294967295\t0\t0\t255\t4294967295\t947\n\
                     3950190079\t1879048192\t0\t0\t6\t268439552\t926\n\
                     0\t2870605524\t65535\t113\t17\t0\t559\n";
        let headers = parse_trace(trace).unwrap();
        assert_eq!(
            headers[0],
            TraceHeader {
                src: Ipv4Addr::new(22, 213, 40, 0),
                dst: Ipv4Addr::new(255, 255, 255, 255),
                sport: 0,
                dport: 0,
                proto: 255,
            }
        );
        assert_eq!(headers[2].src, Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            (headers[2].sport, headers[2].dport, headers[2].proto),
            (65535, 113, 17)
        );
        assert_eq!(
            parse_expected("947\n-1\n0\n").unwrap(),
            vec![Some(947), None, Some(0)]
        );
    }

    #[test]
    fn errors_name_the_line_and_text() {
        let cases: [(&str, usize, &str); 7] = [
            // A missing field on line 2 (blank line 1 still counts).
            (
                "\n@1.2.3.0/24\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF",
                2,
                "0x06/0xFF",
            ),
            (&FW1_LINE_1.replacen('@', "", 1), 1, "171.25.247.240/29"),
            (&FW1_LINE_1.replace("750 : 750", "750 : 70"), 1, "750 : 70"),
            (&FW1_LINE_1.replace("/28", "/33"), 1, "171.25.246.192/33"),
            (
                &FW1_LINE_1.replace("0x11/0xFF", "0x11/0x0F"),
                1,
                "mask 0x0f",
            ),
            (
                &FW1_LINE_1.replace("0x11/0xFF", "0x01/0xFF"),
                1,
                "port range on protocol 1",
            ),
            (
                &IPC1_LINE_463.replacen("0 : 65535", "53 : 53", 1),
                1,
                "port range with a wildcard protocol",
            ),
        ];
        for (text, line, needle) in cases {
            let err = parse_filters(text).unwrap_err();
            assert_eq!(err.line(), line, "{err}");
            assert!(err.to_string().contains(needle), "`{err}` lacks `{needle}`");
        }
        let err = parse_trace("1\t2\t3\t4\t6\t0\t0\n1\t2\t3\t70000\t6\t0\t0\n").unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(
            err.to_string().contains("destination port: `70000`"),
            "{err}"
        );
        let err = parse_trace("1\t2\t3\t4\t6\t0\n").unwrap_err();
        assert!(matches!(
            err,
            ClassbenchError::FieldCount {
                line: 1,
                expected: 7,
                found: 6,
                ..
            }
        ));
        let err = parse_expected("3\n-2\n").unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.to_string().contains("`-2`"), "{err}");
    }

    #[test]
    fn rule_text_for_each_shape() {
        let cases = [
            (
                filter("0.0.0.0/0", "0.0.0.0/0", ANY_PORT, ANY_PORT, None),
                "allow ip4 from * to *",
            ),
            (
                filter(
                    "10.0.0.0/8",
                    "1.2.3.0/24",
                    (1024, 65535),
                    (0, 1023),
                    Some(6),
                ),
                "allow ip4 tcp from 10.0.0.0/8:1024-65535 to 1.2.3.0/24:0-1023",
            ),
            (
                filter("0.0.0.0/0", "1.2.3.4/32", ANY_PORT, (53, 53), Some(17)),
                "allow ip4 udp from * to 1.2.3.4/32:53",
            ),
            (
                filter("1.2.3.4/32", "0.0.0.0/0", ANY_PORT, ANY_PORT, Some(1)),
                "allow ip4 icmp from 1.2.3.4/32 to *",
            ),
            (
                filter("0.0.0.0/0", "0.0.0.0/0", ANY_PORT, ANY_PORT, Some(47)),
                "allow ip4 proto 47 from * to *",
            ),
        ];
        for (f, text) in cases {
            assert_eq!(f.rule_text("allow"), text);
        }
    }

    #[test]
    fn to_sk_writes_one_block_in_filter_order() {
        let filters = parse_filters(&format!(
            "{ACL1_LINE_1}\n{FW1_LINE_1}\n{FW1_LINE_715}\n{IPC1_LINE_463}\n"
        ))
        .unwrap();
        let opts = ConvertOptions {
            hook: "tc ingress on eth0".into(),
            policy: ActionPolicy::Alternate,
            default: "allow",
        };
        let text = to_sk(&filters, &opts);
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            body,
            [
                "tc ingress on eth0 {",
                "    allow ip4 tcp from 22.213.33.126/32 to 249.158.184.110/32:1526",
                "    drop ip4 udp from 171.25.247.240/29:750 to 171.25.246.192/28:80",
                "    allow ip4 tcp from * to *:22",
                "    drop ip4 from 243.108.202.56/32 to 135.30.116.136/32",
                "    default allow",
                "}",
            ]
        );
        assert_eq!(
            [ActionPolicy::AllAllow, ActionPolicy::AllDrop].map(|p| action_of(p, 1)),
            ["allow", "drop"]
        );
    }

    #[test]
    fn packets_carry_the_header() {
        let header = |proto| TraceHeader {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            sport: 1234,
            dport: 80,
            proto,
        };
        let l4 = |proto| header(proto).packet().l4;
        assert_eq!(
            l4(6),
            L4::Tcp {
                sport: 1234,
                dport: 80,
                flags: 0
            }
        );
        assert_eq!(
            l4(17),
            L4::Udp {
                sport: 1234,
                dport: 80
            }
        );
        assert_eq!(l4(1), L4::Icmp { ty: 8, code: 0 });
        assert_eq!(l4(0), L4::Other { proto: 0 });
        let packet = header(6).packet();
        assert_eq!(packet.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(packet.validate().is_ok());
    }

    /// The 1k sets vendored in the repository (bench/classbench/).
    fn classbench_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/classbench")
    }

    /// For every ~1k set: the parsers agree with the published first-match reference,
    /// and the converted text compiles to one IR rule per filter with the filter's
    /// protocol, prefixes and ports.
    #[test]
    fn classbench_1k_sets_match_reference_and_compile() {
        let dir = classbench_dir();
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("ClassBench data at {}: {e}", dir.display()));
        let mut rule_files: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_str().is_some_and(|s| s.ends_with("_1000.rules")))
            .collect();
        rule_files.sort();
        assert!(
            !rule_files.is_empty(),
            "no *_1000.rules in {}",
            dir.display()
        );
        for rules_path in rule_files {
            let read = |suffix: &str| {
                let path = format!("{}{suffix}", rules_path.display());
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
            };
            let name = rules_path.display();
            let filters = parse_filters(&read("")).unwrap();
            let trace = parse_trace(&read("_trace")).unwrap();
            let expected = parse_expected(&read("_trace.expected")).unwrap();
            assert_eq!(trace.len(), expected.len(), "{name}");
            for (i, (header, want)) in trace.iter().zip(&expected).enumerate() {
                let got = first_match(&filters, header);
                assert_eq!(got, *want, "{name}: trace line {}", i + 1);
                // Ports of a header without ports never decide the match (see `packet`).
                if !matches!(header.proto, IPPROTO_TCP | IPPROTO_UDP) {
                    let portless = TraceHeader {
                        sport: 0,
                        dport: 0,
                        ..*header
                    };
                    assert_eq!(
                        first_match(&filters, &portless),
                        got,
                        "{name}: trace line {}",
                        i + 1
                    );
                }
            }

            let opts = ConvertOptions {
                hook: "xdp on eth0".into(),
                policy: ActionPolicy::Alternate,
                default: "drop",
            };
            let text = to_sk(&filters, &opts);
            let (compiled, diags) = sockc_compiler::driver::compile(&text, &Default::default());
            let errors: Vec<_> = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            let compiled = compiled.expect("no errors, so compiled");
            let programs: Vec<_> = compiled.module.programs.values().collect();
            assert_eq!(programs.len(), 1, "{name}");
            let rules = &programs[0].rules;
            assert_eq!(rules.len(), filters.len(), "{name}");
            for (i, (rule, f)) in rules.iter().zip(&filters).enumerate() {
                let prefix = |n: Ipv4Net| match n.prefix_len() {
                    0 => AddrMatch::Any,
                    _ => AddrMatch::Prefix(n.into()),
                };
                let ports = |range: (u16, u16)| match range {
                    ANY_PORT => PortMatch::Any,
                    r => PortMatch::Ranges(Box::new([r])),
                };
                let m = &rule.m;
                let what = format!("{name}: filter {i} (line {}) -> `{}`", f.line, rule.text);
                assert_eq!(m.proto, f.proto, "{what}");
                assert_eq!((&m.src, &m.dst), (&prefix(f.src), &prefix(f.dst)), "{what}");
                assert_eq!(
                    (&m.sport, &m.dport),
                    (&ports(f.sport), &ports(f.dport)),
                    "{what}"
                );
                assert!(m.ip_only, "{what}");
            }
            println!(
                "{name}: {} filters, {} headers agree, compiled",
                filters.len(),
                trace.len()
            );
        }
    }
}
