//! The one-line text form of a test packet (`tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn`,
//! `udp [2001:db8::1]:5353 -> [2001:db8::2]:53 payload 0102`, ...): a tokenizer and
//! a small recursive-descent parser that says which token is wrong and why.
//! Invariant: [`parse_packet`] never panics, and what it returns passed
//! [`PacketSpec::validate`] and makes a frame of [`MIN_TEST_FRAME`] to
//! [`MAX_TEST_FRAME`] bytes, so [`PacketSpec::build`] makes a frame from it that
//! `BPF_PROG_TEST_RUN` runs whole at XDP.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use super::*;

impl FromStr for PacketSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_packet(s)
    }
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    /// Byte offset in the input.
    pos: usize,
}

/// Split on ASCII whitespace and commas; `->` is always a token of its own,
/// even when written without spaces around it.
fn tokenize<'a>(s: &'a str) -> Vec<Tok<'a>> {
    let b = s.as_bytes();
    let mut toks = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    // Every split point is at an ASCII byte, hence a char boundary.
    let flush = |toks: &mut Vec<Tok<'a>>, start: &mut Option<usize>, end: usize| {
        if let Some(st) = start.take() {
            toks.push(Tok {
                text: &s[st..end],
                pos: st,
            });
        }
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || c == b',' {
            flush(&mut toks, &mut start, i);
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'>') {
            flush(&mut toks, &mut start, i);
            toks.push(Tok {
                text: &s[i..i + 2],
                pos: i,
            });
            i += 2;
        } else {
            start.get_or_insert(i);
            i += 1;
        }
    }
    flush(&mut toks, &mut start, b.len());
    toks
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Other(u8),
    /// An ARP request (`arp SRC -> DST`).
    Arp,
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Tok<'a>>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn err_at(&self, tok: Tok<'_>, msg: impl fmt::Display) -> String {
        let col = self.input[..tok.pos].chars().count() + 1;
        format!("column {col} ('{}'): {msg}", tok.text)
    }

    fn err_end(&self, msg: impl fmt::Display) -> String {
        format!("at end of input: {msg}")
    }

    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.next).copied()
    }

    fn bump(&mut self) -> Option<Tok<'a>> {
        let t = self.peek();
        if t.is_some() {
            self.next += 1;
        }
        t
    }

    fn expect(&mut self, what: &str) -> Result<Tok<'a>, String> {
        self.bump()
            .ok_or_else(|| self.err_end(format!("expected {what}")))
    }

    /// A decimal (or `0x` hexadecimal) number no larger than `max`.
    fn number(&mut self, what: &str, max: u64) -> Result<u64, String> {
        let tok = self.expect(what)?;
        self.number_of(tok, what, max)
    }

    fn number_of(&self, tok: Tok<'_>, what: &str, max: u64) -> Result<u64, String> {
        let t = tok.text;
        let (digits, radix) = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) => (h, 16),
            None => (t, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(self.err_at(tok, format!("expected {what}, a number")));
        }
        match u64::from_str_radix(digits, radix) {
            Ok(v) if v <= max => Ok(v),
            _ => Err(self.err_at(tok, format!("{what} {t} out of range (0..={max})"))),
        }
    }

    fn kind(&mut self) -> Result<Kind, String> {
        let tok = self.expect("a protocol (tcp, udp, icmp, icmpv6 or proto N)")?;
        let t = tok.text;
        Ok(if t.eq_ignore_ascii_case("tcp") {
            Kind::Tcp
        } else if t.eq_ignore_ascii_case("udp") {
            Kind::Udp
        } else if t.eq_ignore_ascii_case("icmp") {
            Kind::Icmp
        } else if t.eq_ignore_ascii_case("icmpv6") || t.eq_ignore_ascii_case("icmp6") {
            Kind::Icmpv6
        } else if t.eq_ignore_ascii_case("arp") {
            Kind::Arp
        } else if t.eq_ignore_ascii_case("proto") {
            Kind::Other(self.number("IP protocol number", 255)? as u8)
        } else {
            return Err(self.err_at(
                tok,
                "unknown protocol; expected tcp, udp, icmp, icmpv6, arp or proto N",
            ));
        })
    }

    /// `A.B.C.D`, `A.B.C.D:PORT`, `V6`, `[V6]` or `[V6]:PORT`.
    fn endpoint(&mut self, which: &str, with_port: bool) -> Result<(IpAddr, Option<u16>), String> {
        let tok = self.expect(&format!("{which} address"))?;
        let t = tok.text;
        if t == "->" {
            return Err(self.err_at(tok, format!("expected {which} address before '->'")));
        }
        let (addr, port): (IpAddr, Option<&str>) = if let Some(rest) = t.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(self.err_at(tok, "missing ']' after IPv6 address"));
            };
            let a = Ipv6Addr::from_str(&rest[..close])
                .map_err(|_| self.err_at(tok, format!("invalid IPv6 {which} address")))?;
            let after = &rest[close + 1..];
            let port = if after.is_empty() {
                None
            } else if let Some(p) = after.strip_prefix(':') {
                Some(p)
            } else {
                return Err(self.err_at(tok, "expected ':PORT' after ']'"));
            };
            (IpAddr::V6(a), port)
        } else if t.matches(':').count() >= 2 {
            let a = Ipv6Addr::from_str(t).map_err(|_| {
                self.err_at(
                    tok,
                    format!("invalid IPv6 {which} address (write [ADDR]:PORT to give a port)"),
                )
            })?;
            (IpAddr::V6(a), None)
        } else {
            let (a, p) = match t.split_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => (t, None),
            };
            let a = Ipv4Addr::from_str(a)
                .map_err(|_| self.err_at(tok, format!("invalid IPv4 {which} address")))?;
            (IpAddr::V4(a), p)
        };
        let port = match (port, with_port) {
            (Some(p), true) => {
                let ptok = Tok {
                    text: p,
                    pos: tok.pos + (t.len() - p.len()),
                };
                Some(self.number_of(ptok, "port", u64::from(u16::MAX))? as u16)
            }
            (None, true) => {
                return Err(self.err_at(
                    tok,
                    format!("missing {which} port (write ADDR:PORT or [IPV6]:PORT)"),
                ))
            }
            (Some(_), false) => {
                return Err(self.err_at(tok, "this protocol takes no port"));
            }
            (None, false) => None,
        };
        Ok((addr, port))
    }
}

/// Parse the textual form used on the command line:
///
/// ```text
/// tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn          (flags: zero or more of syn ack fin
///                                               rst psh urg ece cwr, space/comma separated)
/// udp [2001:db8::1]:5000 -> [2001:db8::2]:53
/// icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0      (also icmpv6; type/code optional,
///                                               default echo request: 8 for v4, 128 for v6)
/// proto 47 10.0.0.1 -> 10.0.0.2
/// arp 10.0.0.1 -> 10.0.0.2                     (an ARP request: who has .2, tell .1)
/// ```
///
/// followed by any of the options `vlan ID`, `ipopts WORDS` (IPv4), `ext HDR,...`
/// (IPv6 extension headers in order: `hbh`, `rt`, `dst`, each optionally `/UNITS` of
/// 8 bytes, `fh` for a fragment header and `ah`), `frag OFFSET`, `mf` (more
/// fragments; on IPv6 they fill the `fh` header), `payload HEX`, `ether TYPE` (the
/// frame's EtherType, the same bytes after it), `ttl N`, `dscp N`, `ecn N`, `length
/// BYTES` (the IP packet's length as `length` reads it: padded with zeros, or a
/// length field shorter than the headers) and `len BYTES` (truncate the frame);
/// `arp` takes only `vlan` and `len`.
/// Keywords are case-insensitive; tokens are separated by whitespace or commas.
/// Errors name the offending column and token.
pub fn parse_packet(text: &str) -> Result<PacketSpec, String> {
    let mut p = Parser {
        input: text,
        toks: tokenize(text),
        next: 0,
    };
    let kind = p.kind()?;
    let ends = p.endpoints(kind)?;
    let ipv6 = ends.src.is_ipv6();
    let mut spec = PacketSpec::new(ends.src, ends.dst, L4::Other { proto: 0 });
    let header = p.options(kind, ipv6, &mut spec)?;
    spec.l4 = match kind {
        Kind::Tcp => L4::Tcp {
            sport: ends.sport.unwrap_or(0),
            dport: ends.dport.unwrap_or(0),
            flags: header.flags,
        },
        Kind::Udp => L4::Udp {
            sport: ends.sport.unwrap_or(0),
            dport: ends.dport.unwrap_or(0),
        },
        Kind::Icmp | Kind::Icmpv6 => L4::Icmp {
            ty: header.ty.unwrap_or(if ipv6 { 128 } else { 8 }),
            code: header.code.unwrap_or(0),
        },
        Kind::Other(proto) => L4::Other { proto },
        Kind::Arp => {
            spec.ether_type = Some(ETH_P_ARP);
            L4::Other { proto: 0 }
        }
    };
    spec.validate().map_err(|e| p.err_end(e))?;
    p.check_frame_len(spec.frame_len())?;
    Ok(spec)
}

/// The source and destination of a packet, ports for TCP and UDP.
struct Ends {
    src: IpAddr,
    sport: Option<u16>,
    dst: IpAddr,
    dport: Option<u16>,
}

/// The L4 header fields the options after the addresses give: TCP flags, ICMP type
/// and code.
#[derive(Default)]
struct HeaderWords {
    flags: u8,
    ty: Option<u8>,
    code: Option<u8>,
}

impl Parser<'_> {
    /// `SRC -> DST`, both of one address family (and IPv6 for icmpv6).
    fn endpoints(&mut self, kind: Kind) -> Result<Ends, String> {
        let with_port = matches!(kind, Kind::Tcp | Kind::Udp);
        let (src, sport) = self.endpoint("source", with_port)?;
        let arrow = self.expect("'->' between source and destination")?;
        if arrow.text != "->" {
            return Err(self.err_at(arrow, "expected '->' between source and destination"));
        }
        let dst_tok = self.peek();
        let (dst, dport) = self.endpoint("destination", with_port)?;
        if src.is_ipv6() != dst.is_ipv6() {
            let msg = format!(
                "address family mismatch: source is {} but destination is {}",
                family_name(&src),
                family_name(&dst)
            );
            return Err(match dst_tok {
                Some(t) => self.err_at(t, msg),
                None => self.err_end(msg),
            });
        }
        if kind == Kind::Icmpv6 && !src.is_ipv6() {
            return Err(self.err_at(
                self.toks[0],
                "icmpv6 needs IPv6 addresses (use icmp for IPv4)",
            ));
        }
        Ok(Ends {
            src,
            sport,
            dst,
            dport,
        })
    }

    /// TCP flags and the options to the end of the input, each at most once: the
    /// frame's into `spec`, the L4 header's returned.
    fn options(
        &mut self,
        kind: Kind,
        ipv6: bool,
        spec: &mut PacketSpec,
    ) -> Result<HeaderWords, String> {
        let mut header = HeaderWords::default();
        let mut seen: Vec<String> = Vec::new();
        while let Some(tok) = self.bump() {
            let word = tok.text.to_ascii_lowercase();
            if kind == Kind::Tcp {
                if let Some(bit) = tcp_flags::from_name(&word) {
                    header.flags |= bit;
                    continue;
                }
            }
            self.check_option(tok, &word, kind)?;
            if seen.contains(&word) {
                return Err(self.err_at(tok, format!("'{word}' given twice")));
            }
            seen.push(word.clone());
            if ipv6 && word == "ipopts" {
                return Err(self.err_at(tok, format!("'{word}' applies to IPv4 packets only")));
            }
            if !ipv6 && word == "ext" {
                return Err(self.err_at(tok, format!("'{word}' applies to IPv6 packets only")));
            }
            match word.as_str() {
                "type" => header.ty = Some(self.icmp_type(kind)?),
                "code" => header.code = Some(self.number("ICMP code", 255)? as u8),
                "payload" => spec.payload = self.payload()?,
                _ => self.frame_option(&word, spec)?,
            }
        }
        Ok(header)
    }

    /// Refuses a word that is no option of this protocol, listing the ones it has.
    fn check_option(&self, tok: Tok<'_>, word: &str, kind: Kind) -> Result<(), String> {
        let is_icmp = matches!(kind, Kind::Icmp | Kind::Icmpv6);
        let known = matches!(word, "vlan" | "len")
            || (kind != Kind::Arp
                && matches!(
                    word,
                    "ipopts"
                        | "ext"
                        | "frag"
                        | "mf"
                        | "payload"
                        | "ether"
                        | "ttl"
                        | "dscp"
                        | "ecn"
                        | "length"
                ))
            || (is_icmp && matches!(word, "type" | "code"));
        if known {
            return Ok(());
        }
        let msg = match kind {
            Kind::Tcp => {
                "unknown TCP flag or option (flags: fin syn rst psh ack urg ece cwr; \
                          options: vlan ipopts ext frag mf payload ttl dscp ecn length len)"
            }
            Kind::Icmp | Kind::Icmpv6 => {
                "unknown option (expected type, code, vlan, ipopts, ext, frag, mf, payload, ttl, dscp, ecn, length or len)"
            }
            Kind::Arp => "unknown option (expected vlan or len)",
            _ => "unknown option (expected vlan, ipopts, ext, frag, mf, payload, ether, ttl, dscp, ecn, length or len)",
        };
        Err(self.err_at(tok, msg))
    }

    /// `type`'s value: a number, or a name as in the rule language (`echo-request`).
    fn icmp_type(&mut self, kind: Kind) -> Result<u8, String> {
        let named = self.peek().and_then(|t| {
            sockc_compiler::sema::icmp_type_by_name(
                &t.text.to_ascii_lowercase(),
                kind == Kind::Icmpv6,
            )
        });
        match named {
            Some(n) => {
                self.bump();
                Ok(n)
            }
            None => Ok(self.number("ICMP type (a number or a name like echo-request)", 255)? as u8),
        }
    }

    /// `payload`'s value: an even number of hex digits (`0x` allowed before them).
    fn payload(&mut self) -> Result<Vec<u8>, String> {
        let t = self.expect("payload bytes in hex")?;
        let h = t.text.strip_prefix("0x").unwrap_or(t.text);
        if h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err_at(t, "payload must be an even number of hex digits"));
        }
        Ok(h.as_bytes()
            .chunks_exact(2)
            .map(|pair| {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                hex(pair[0]) << 4 | hex(pair[1])
            })
            .collect())
    }

    /// The options that shape the frame around the L4 header: `vlan`, `ipopts`,
    /// `frag`, `mf`, `len`.
    fn frame_option(&mut self, word: &str, spec: &mut PacketSpec) -> Result<(), String> {
        match word {
            "vlan" => spec.vlan = Some(self.number("VLAN id", u64::from(MAX_VLAN_ID))? as u16),
            "ipopts" => {
                spec.ipv4_options =
                    self.number("IPv4 option words", u64::from(MAX_IPV4_OPTION_WORDS))? as u8
            }
            "frag" => {
                spec.fragment_offset =
                    self.number("fragment offset", u64::from(MAX_FRAGMENT_OFFSET))? as u16
            }
            "mf" => spec.more_fragments = true,
            "ext" => spec.ipv6_ext = self.ext_list()?,
            "ether" => {
                spec.ether_type = Some(self.number("EtherType", u64::from(u16::MAX))? as u16)
            }
            "ttl" => spec.ttl = self.number("TTL or hop limit", u64::from(u8::MAX))? as u8,
            "dscp" => {
                let d = self.number("DSCP", 63)? as u8;
                spec.tos = (spec.tos & 3) | d << 2;
            }
            "ecn" => spec.tos = (spec.tos & !3) | self.number("ECN", 3)? as u8,
            "length" => spec.length = Some(self.number("IP packet length", 65575)? as u32),
            "len" => {
                spec.truncate_to = Some(self.number("frame length", usize::MAX as u64)? as usize)
            }
            _ => unreachable!("keyword list checked in check_option"),
        }
        Ok(())
    }

    /// `ext`'s value: IPv6 extension headers in order, `hbh`, `rt`, `dst` (each
    /// optionally `/N`, its length in 8-byte units), `fh` (fragment) and `ah`.
    fn ext_list(&mut self) -> Result<Vec<Ext6>, String> {
        let mut list = Vec::new();
        while let Some(tok) = self.peek() {
            let word = tok.text.to_ascii_lowercase();
            let (name, units) = match word.split_once('/') {
                Some((name, n)) => (name.to_string(), Some(n.to_string())),
                None => (word, None),
            };
            let sized = matches!(name.as_str(), "hbh" | "rt" | "dst");
            if !sized && !matches!(name.as_str(), "fh" | "ah") {
                break;
            }
            self.bump();
            let n = match units {
                Some(_) if !sized => {
                    return Err(self.err_at(tok, format!("'{name}' has a fixed length")))
                }
                Some(n) => n
                    .parse::<u8>()
                    .ok()
                    .filter(|n| (1..=MAX_IPV6_EXT_UNITS).contains(n))
                    .ok_or_else(|| {
                        self.err_at(
                            tok,
                            format!("length must be 1..={MAX_IPV6_EXT_UNITS} units of 8 bytes"),
                        )
                    })?,
                None => 1,
            };
            list.push(match name.as_str() {
                "hbh" => Ext6::HopByHop(n),
                "rt" => Ext6::Routing(n),
                "dst" => Ext6::DestOpts(n),
                "fh" => Ext6::Fragment,
                _ => Ext6::Auth,
            });
        }
        if list.is_empty() {
            return Err(
                self.err_end("expected extension headers after 'ext' (hbh, rt, dst, fh, ah)")
            );
        }
        Ok(list)
    }

    /// A frame of `len` bytes is one `BPF_PROG_TEST_RUN` runs whole at XDP.
    fn check_frame_len(&self, len: usize) -> Result<(), String> {
        if len < MIN_TEST_FRAME {
            return Err(self.err_end(format!(
                "the frame would be {len} bytes; a test frame has at least {MIN_TEST_FRAME} \
                 (an Ethernet header): BPF_PROG_TEST_RUN refuses shorter ones"
            )));
        }
        if len > MAX_TEST_FRAME {
            return Err(self.err_end(format!(
                "the frame would be {len} bytes; a test frame has at most {MAX_TEST_FRAME}: \
                 BPF_PROG_TEST_RUN shows an XDP program only that much of one page (the rest \
                 goes into fragments it does not read) — use a shorter payload or `len`"
            )));
        }
        Ok(())
    }
}
