//! Crafting test packets: turns a [`PacketSpec`] (built in code or parsed from
//! the one-line textual form used by `sockc test --packet "tcp 10.0.0.1:1234 ->
//! 1.1.1.1:53 syn"`) into a complete Ethernet frame, ready to be fed to
//! `BPF_PROG_TEST_RUN` on XDP/TC programs. The invariant it keeps: every frame
//! produced by [`PacketSpec::build`] from a valid spec is the prefix (of length
//! `truncate_to`, if given) of a well-formed frame — all length fields (IPv4
//! total length and IHL, IPv6 payload length, UDP length) describe the whole
//! untruncated packet and all checksums (IPv4 header, TCP/UDP/ICMPv6
//! pseudo-header, ICMPv4) verify over it — so a
//! program under test only ever sees the malformation the spec asked for
//! (truncation, fragmentation, options, VLAN tag). In the other direction,
//! [`parse_packet`] never panics and `Display` prints the canonical text that
//! parses back to an equal spec.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Destination MAC address of every crafted frame.
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Source MAC address of every crafted frame.
pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

/// Ethertype of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETH_P_IPV6: u16 = 0x86DD;
/// Ethertype (TPID) of an 802.1Q VLAN tag.
pub const ETH_P_8021Q: u16 = 0x8100;

/// IP protocol numbers used by [`L4`].
pub const IPPROTO_ICMP: u8 = 1;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// Largest VLAN id (12 bits).
pub const MAX_VLAN_ID: u16 = 4095;
/// Largest number of 4-byte IPv4 option words (IHL is at most 15).
pub const MAX_IPV4_OPTION_WORDS: u8 = 10;
/// Largest IPv4 fragment offset (13 bits, in 8-byte units).
pub const MAX_FRAGMENT_OFFSET: u16 = 0x1FFF;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const TCP_HLEN: usize = 20;
const UDP_HLEN: usize = 8;
const ICMP_HLEN: usize = 8;

/// TCP flag bits: FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// Textual names in bit order (the order `Display` prints them in).
    pub const NAMES: [(&str, u8); 8] = [
        ("fin", FIN),
        ("syn", SYN),
        ("rst", RST),
        ("psh", PSH),
        ("ack", ACK),
        ("urg", URG),
        ("ece", ECE),
        ("cwr", CWR),
    ];

    /// The bit for a (case-insensitive) flag name, if it is one.
    pub fn from_name(name: &str) -> Option<u8> {
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, bit)| bit)
    }
}

/// The transport layer of a crafted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4 {
    /// 20-byte TCP header (data offset 5, seq/ack 0, window 65535).
    Tcp { sport: u16, dport: u16, flags: u8 },
    /// 8-byte UDP header.
    Udp { sport: u16, dport: u16 },
    /// 8-byte ICMP header: ICMPv4 for IPv4 addresses, ICMPv6 for IPv6 ones.
    Icmp { ty: u8, code: u8 },
    /// Any other IP protocol: no L4 header, the payload follows the IP header.
    Other { proto: u8 },
}

impl L4 {
    /// The IPv4 protocol / IPv6 next-header value for this L4 in the given family.
    pub fn protocol(&self, ipv6: bool) -> u8 {
        match *self {
            L4::Tcp { .. } => IPPROTO_TCP,
            L4::Udp { .. } => IPPROTO_UDP,
            L4::Icmp { .. } if ipv6 => IPPROTO_ICMPV6,
            L4::Icmp { .. } => IPPROTO_ICMP,
            L4::Other { proto } => proto,
        }
    }

    /// Length of the L4 header this crate writes (0 for [`L4::Other`]).
    pub fn header_len(&self) -> usize {
        match self {
            L4::Tcp { .. } => TCP_HLEN,
            L4::Udp { .. } => UDP_HLEN,
            L4::Icmp { .. } => ICMP_HLEN,
            L4::Other { .. } => 0,
        }
    }
}

/// Description of one test packet; [`PacketSpec::build`] turns it into an
/// Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketSpec {
    /// Source address; must be the same family as `dst`.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport layer.
    pub l4: L4,
    /// One 802.1Q tag (TPID 0x8100) with this VLAN id (0..=4095).
    pub vlan: Option<u16>,
    /// Number of 4-byte words of IPv4 options (0..=10): NOPs ending with EOL.
    /// Must be 0 for IPv6.
    pub ipv4_options: u8,
    /// IPv4 fragment offset in 8-byte units; > 0 makes a non-first fragment,
    /// which carries only the payload (no L4 header). Ignored for IPv6.
    pub fragment_offset: u16,
    /// IPv4 "more fragments" flag. Ignored for IPv6.
    pub more_fragments: bool,
    /// Bytes after the L4 header.
    pub payload: Vec<u8>,
    /// Cut the final frame to this many bytes (no effect if the frame is shorter).
    pub truncate_to: Option<usize>,
}

impl PacketSpec {
    /// A plain packet: no VLAN, options, fragmentation, payload or truncation.
    pub fn new(src: IpAddr, dst: IpAddr, l4: L4) -> Self {
        PacketSpec {
            src,
            dst,
            l4,
            vlan: None,
            ipv4_options: 0,
            fragment_offset: 0,
            more_fragments: false,
            payload: Vec::new(),
            truncate_to: None,
        }
    }

    /// Whether this is an IPv6 packet (decided by `src`).
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// Whether the bytes after the IP header are the bare payload because this
    /// is a non-first IPv4 fragment.
    fn is_non_first_fragment(&self) -> bool {
        !self.is_ipv6() && self.fragment_offset > 0
    }

    /// Offset of the IP header in the frame (14, or 18 with a VLAN tag).
    pub fn l3_offset(&self) -> usize {
        ETH_HLEN + if self.vlan.is_some() { VLAN_HLEN } else { 0 }
    }

    /// Length of the IP header (IPv4 with options, or the fixed IPv6 header).
    pub fn l3_header_len(&self) -> usize {
        if self.is_ipv6() {
            IPV6_HLEN
        } else {
            IPV4_HLEN + 4 * usize::from(self.ipv4_options)
        }
    }

    /// Offset of the L4 header (or of the payload for [`L4::Other`] and
    /// non-first fragments) in the frame.
    pub fn l4_offset(&self) -> usize {
        self.l3_offset() + self.l3_header_len()
    }

    /// Length of the L4 header actually written (0 for non-first fragments).
    fn l4_header_len(&self) -> usize {
        if self.is_non_first_fragment() {
            0
        } else {
            self.l4.header_len()
        }
    }

    /// Length of the frame before truncation.
    pub fn untruncated_len(&self) -> usize {
        self.l4_offset() + self.l4_header_len() + self.payload.len()
    }

    /// Check that the spec describes a frame [`build`](Self::build) can write.
    pub fn validate(&self) -> Result<(), String> {
        if self.src.is_ipv6() != self.dst.is_ipv6() {
            return Err(format!(
                "address family mismatch: source {} is {} but destination {} is {}",
                self.src,
                family_name(&self.src),
                self.dst,
                family_name(&self.dst)
            ));
        }
        if let Some(id) = self.vlan {
            if id > MAX_VLAN_ID {
                return Err(format!("VLAN id {id} out of range (0..={MAX_VLAN_ID})"));
            }
        }
        if self.is_ipv6() {
            if self.ipv4_options != 0 {
                return Err("IPv4 options on an IPv6 packet".to_string());
            }
        } else {
            if self.ipv4_options > MAX_IPV4_OPTION_WORDS {
                return Err(format!(
                    "{} words of IPv4 options out of range (0..={MAX_IPV4_OPTION_WORDS})",
                    self.ipv4_options
                ));
            }
            if self.fragment_offset > MAX_FRAGMENT_OFFSET {
                return Err(format!(
                    "fragment offset {} out of range (0..={MAX_FRAGMENT_OFFSET})",
                    self.fragment_offset
                ));
            }
        }
        // IPv4 total length counts the IP header; IPv6 payload length does not.
        let counted = self.l4_header_len()
            + self.payload.len()
            + if self.is_ipv6() {
                0
            } else {
                self.l3_header_len()
            };
        if counted > usize::from(u16::MAX) {
            return Err(format!(
                "packet too long: {} bytes of payload do not fit the IP length field",
                self.payload.len()
            ));
        }
        Ok(())
    }

    /// Build the frame, or say why the spec is invalid.
    pub fn try_build(&self) -> Result<Vec<u8>, String> {
        self.validate()?;
        Ok(self.build_unchecked())
    }

    /// Build the Ethernet frame.
    ///
    /// # Panics
    /// If the spec is invalid (see [`validate`](Self::validate)); use
    /// [`try_build`](Self::try_build) for specs that did not come from
    /// [`parse_packet`].
    pub fn build(&self) -> Vec<u8> {
        match self.try_build() {
            Ok(frame) => frame,
            Err(e) => panic!("invalid packet spec `{self}`: {e}"),
        }
    }

    fn build_unchecked(&self) -> Vec<u8> {
        let ipv6 = self.is_ipv6();
        let mut f = Vec::with_capacity(self.untruncated_len());

        // Ethernet (+ 802.1Q).
        f.extend_from_slice(&DST_MAC);
        f.extend_from_slice(&SRC_MAC);
        let ethertype = if ipv6 { ETH_P_IPV6 } else { ETH_P_IP };
        if let Some(id) = self.vlan {
            f.extend_from_slice(&ETH_P_8021Q.to_be_bytes());
            f.extend_from_slice(&(id & 0x0FFF).to_be_bytes()); // PCP 0, DEI 0
        }
        f.extend_from_slice(&ethertype.to_be_bytes());

        // L4 segment (header + payload), checksummed against the pseudo-header.
        let proto = self.l4.protocol(ipv6);
        let segment = if self.is_non_first_fragment() {
            self.payload.clone()
        } else {
            self.l4_segment(proto)
        };

        // IP header.
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let hlen = self.l3_header_len();
                let total = (hlen + segment.len()) as u16; // checked by validate
                let frag = (u16::from(self.more_fragments) << 13)
                    | (self.fragment_offset & MAX_FRAGMENT_OFFSET);
                let start = f.len();
                f.push(0x40 | (hlen / 4) as u8);
                f.push(0); // DSCP/ECN
                f.extend_from_slice(&total.to_be_bytes());
                f.extend_from_slice(&[0, 0]); // identification
                f.extend_from_slice(&frag.to_be_bytes());
                f.push(64); // TTL
                f.push(proto);
                f.extend_from_slice(&[0, 0]); // checksum, filled below
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                let opts = hlen - IPV4_HLEN;
                if opts > 0 {
                    f.extend(std::iter::repeat_n(0x01u8, opts - 1)); // NOP
                    f.push(0x00); // EOL
                }
                let csum = checksum(&f[start..]);
                f[start + 10..start + 12].copy_from_slice(&csum.to_be_bytes());
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                f.extend_from_slice(&[0x60, 0, 0, 0]); // version, TC, flow label
                f.extend_from_slice(&(segment.len() as u16).to_be_bytes());
                f.push(proto);
                f.push(64); // hop limit
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
            }
            _ => unreachable!("validate rejects mixed families"),
        }

        f.extend_from_slice(&segment);
        if let Some(n) = self.truncate_to {
            f.truncate(n);
        }
        f
    }

    /// L4 header + payload with the checksum filled in.
    fn l4_segment(&self, proto: u8) -> Vec<u8> {
        let mut s = Vec::with_capacity(self.l4.header_len() + self.payload.len());
        let csum_at = match self.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
            } => {
                s.extend_from_slice(&sport.to_be_bytes());
                s.extend_from_slice(&dport.to_be_bytes());
                s.extend_from_slice(&[0; 4]); // seq
                s.extend_from_slice(&[0; 4]); // ack
                s.push(5 << 4); // data offset 5
                s.push(flags);
                s.extend_from_slice(&u16::MAX.to_be_bytes()); // window
                s.extend_from_slice(&[0, 0]); // checksum
                s.extend_from_slice(&[0, 0]); // urgent pointer
                Some(16)
            }
            L4::Udp { sport, dport } => {
                let len = (UDP_HLEN + self.payload.len()) as u16;
                s.extend_from_slice(&sport.to_be_bytes());
                s.extend_from_slice(&dport.to_be_bytes());
                s.extend_from_slice(&len.to_be_bytes());
                s.extend_from_slice(&[0, 0]); // checksum
                Some(6)
            }
            L4::Icmp { ty, code } => {
                s.extend_from_slice(&[ty, code, 0, 0, 0, 0, 0, 0]);
                Some(2)
            }
            L4::Other { .. } => None,
        };
        s.extend_from_slice(&self.payload);
        if let Some(at) = csum_at {
            let pseudo = match (self.l4, self.src, self.dst) {
                // ICMPv4 is checksummed over the ICMP message alone.
                (L4::Icmp { .. }, IpAddr::V4(_), _) => Vec::new(),
                (_, src, dst) => pseudo_header(src, dst, proto, s.len()),
            };
            let mut csum = checksum_parts(&[&pseudo, &s]);
            if csum == 0 && matches!(self.l4, L4::Udp { .. }) {
                csum = 0xFFFF; // 0 means "no checksum" for UDP
            }
            s[at..at + 2].copy_from_slice(&csum.to_be_bytes());
        }
        s
    }
}

fn family_name(a: &IpAddr) -> &'static str {
    if a.is_ipv6() {
        "IPv6"
    } else {
        "IPv4"
    }
}

fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.push(0);
            p.push(proto);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => {}
    }
    p
}

/// Internet checksum (RFC 1071) of `data`: the ones' complement of the ones'
/// complement sum of its big-endian 16-bit words (odd length padded with 0).
pub fn checksum(data: &[u8]) -> u16 {
    checksum_parts(&[data])
}

/// Internet checksum over the concatenation of `parts` (each but the last
/// must have even length, as pseudo-headers and headers do).
fn checksum_parts(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for w in &mut chunks {
            sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

// ---------------------------------------------------------------------------
// Textual form
// ---------------------------------------------------------------------------

fn fmt_endpoint(f: &mut fmt::Formatter<'_>, addr: &IpAddr, port: Option<u16>) -> fmt::Result {
    match (addr, port) {
        (IpAddr::V4(a), Some(p)) => write!(f, "{a}:{p}"),
        (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
        (a, None) => write!(f, "{a}"),
    }
}

impl fmt::Display for PacketSpec {
    /// The canonical textual form accepted by [`parse_packet`], e.g.
    /// `tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn,ack vlan 100 len 40`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ipv6 = self.is_ipv6();
        let (sport, dport) = match self.l4 {
            L4::Tcp { sport, dport, .. } => {
                f.write_str("tcp ")?;
                (Some(sport), Some(dport))
            }
            L4::Udp { sport, dport } => {
                f.write_str("udp ")?;
                (Some(sport), Some(dport))
            }
            L4::Icmp { .. } => {
                f.write_str(if ipv6 { "icmpv6 " } else { "icmp " })?;
                (None, None)
            }
            L4::Other { proto } => {
                write!(f, "proto {proto} ")?;
                (None, None)
            }
        };
        fmt_endpoint(f, &self.src, sport)?;
        f.write_str(" -> ")?;
        fmt_endpoint(f, &self.dst, dport)?;
        match self.l4 {
            L4::Tcp { flags, .. } if flags != 0 => {
                let mut sep = " ";
                for (name, bit) in tcp_flags::NAMES {
                    if flags & bit != 0 {
                        write!(f, "{sep}{name}")?;
                        sep = ",";
                    }
                }
            }
            L4::Icmp { ty, code } => write!(f, " type {ty} code {code}")?,
            _ => {}
        }
        if let Some(id) = self.vlan {
            write!(f, " vlan {id}")?;
        }
        if self.ipv4_options != 0 {
            write!(f, " ipopts {}", self.ipv4_options)?;
        }
        // Fragmentation is ignored for IPv6, so it is not printed there.
        if !ipv6 && self.fragment_offset != 0 {
            write!(f, " frag {}", self.fragment_offset)?;
        }
        if !ipv6 && self.more_fragments {
            f.write_str(" mf")?;
        }
        if !self.payload.is_empty() {
            f.write_str(" payload ")?;
            for b in &self.payload {
                write!(f, "{b:02x}")?;
            }
        }
        if let Some(n) = self.truncate_to {
            write!(f, " len {n}")?;
        }
        Ok(())
    }
}

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
        } else if t.eq_ignore_ascii_case("proto") {
            Kind::Other(self.number("IP protocol number", 255)? as u8)
        } else {
            return Err(self.err_at(
                tok,
                "unknown protocol; expected tcp, udp, icmp, icmpv6 or proto N",
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
/// ```
///
/// followed by any of the options `vlan ID`, `ipopts WORDS`, `frag OFFSET`,
/// `mf` (more fragments), `payload HEX` and `len BYTES` (truncate the frame).
/// Keywords are case-insensitive; tokens are separated by whitespace or commas.
/// Errors name the offending column and token.
pub fn parse_packet(text: &str) -> Result<PacketSpec, String> {
    let mut p = Parser {
        input: text,
        toks: tokenize(text),
        next: 0,
    };
    let kind = p.kind()?;
    let with_port = matches!(kind, Kind::Tcp | Kind::Udp);

    let (src, sport) = p.endpoint("source", with_port)?;
    let arrow = p.expect("'->' between source and destination")?;
    if arrow.text != "->" {
        return Err(p.err_at(arrow, "expected '->' between source and destination"));
    }
    let dst_tok = p.peek();
    let (dst, dport) = p.endpoint("destination", with_port)?;
    if src.is_ipv6() != dst.is_ipv6() {
        let msg = format!(
            "address family mismatch: source is {} but destination is {}",
            family_name(&src),
            family_name(&dst)
        );
        return Err(match dst_tok {
            Some(t) => p.err_at(t, msg),
            None => p.err_end(msg),
        });
    }
    let ipv6 = src.is_ipv6();
    if kind == Kind::Icmpv6 && !ipv6 {
        return Err(p.err_at(p.toks[0], "icmpv6 needs IPv6 addresses (use icmp for IPv4)"));
    }

    let mut flags = 0u8;
    let mut ty: Option<u8> = None;
    let mut code: Option<u8> = None;
    let mut spec = PacketSpec::new(src, dst, L4::Other { proto: 0 });
    let mut seen: Vec<String> = Vec::new();

    while let Some(tok) = p.bump() {
        let word = tok.text.to_ascii_lowercase();
        if kind == Kind::Tcp {
            if let Some(bit) = tcp_flags::from_name(&word) {
                flags |= bit;
                continue;
            }
        }
        let is_icmp = matches!(kind, Kind::Icmp | Kind::Icmpv6);
        let known = matches!(
            word.as_str(),
            "vlan" | "ipopts" | "frag" | "mf" | "payload" | "len"
        ) || (is_icmp && matches!(word.as_str(), "type" | "code"));
        if !known {
            let msg = match kind {
                Kind::Tcp => {
                    "unknown TCP flag or option (flags: fin syn rst psh ack urg ece cwr; \
                              options: vlan ipopts frag mf payload len)"
                }
                Kind::Icmp | Kind::Icmpv6 => {
                    "unknown option (expected type, code, vlan, ipopts, frag, mf, payload or len)"
                }
                _ => "unknown option (expected vlan, ipopts, frag, mf, payload or len)",
            };
            return Err(p.err_at(tok, msg));
        }
        if seen.contains(&word) {
            return Err(p.err_at(tok, format!("'{word}' given twice")));
        }
        seen.push(word.clone());
        if ipv6 && matches!(word.as_str(), "ipopts" | "frag" | "mf") {
            return Err(p.err_at(tok, format!("'{word}' applies to IPv4 packets only")));
        }
        match word.as_str() {
            "type" => {
                // A number, or a name as in the rule language (`type echo-request`).
                let named = p.peek().and_then(|t| {
                    sockc_compiler::sema::icmp_type_by_name(
                        &t.text.to_ascii_lowercase(),
                        kind == Kind::Icmpv6,
                    )
                });
                ty = Some(match named {
                    Some(n) => {
                        p.bump();
                        n
                    }
                    None => {
                        p.number("ICMP type (a number or a name like echo-request)", 255)? as u8
                    }
                });
            }
            "code" => code = Some(p.number("ICMP code", 255)? as u8),
            "vlan" => spec.vlan = Some(p.number("VLAN id", u64::from(MAX_VLAN_ID))? as u16),
            "ipopts" => {
                spec.ipv4_options =
                    p.number("IPv4 option words", u64::from(MAX_IPV4_OPTION_WORDS))? as u8
            }
            "frag" => {
                spec.fragment_offset =
                    p.number("fragment offset", u64::from(MAX_FRAGMENT_OFFSET))? as u16
            }
            "mf" => spec.more_fragments = true,
            "len" => spec.truncate_to = Some(p.number("frame length", usize::MAX as u64)? as usize),
            "payload" => {
                let t = p.expect("payload bytes in hex")?;
                let h = t.text.strip_prefix("0x").unwrap_or(t.text);
                if h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(p.err_at(t, "payload must be an even number of hex digits"));
                }
                spec.payload = h
                    .as_bytes()
                    .chunks_exact(2)
                    .map(|pair| {
                        let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                        hex(pair[0]) << 4 | hex(pair[1])
                    })
                    .collect();
            }
            _ => unreachable!("keyword list checked above"),
        }
    }

    spec.l4 = match kind {
        Kind::Tcp => L4::Tcp {
            sport: sport.unwrap_or(0),
            dport: dport.unwrap_or(0),
            flags,
        },
        Kind::Udp => L4::Udp {
            sport: sport.unwrap_or(0),
            dport: dport.unwrap_or(0),
        },
        Kind::Icmp | Kind::Icmpv6 => L4::Icmp {
            ty: ty.unwrap_or(if ipv6 { 128 } else { 8 }),
            code: code.unwrap_or(0),
        },
        Kind::Other(proto) => L4::Other { proto },
    };
    spec.validate().map_err(|e| p.err_end(e))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    /// Independent ones' complement sum (no final complement), folded to 16 bits.
    fn ones_sum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i < bytes.len() {
            let hi = u32::from(bytes[i]) << 8;
            let lo = bytes.get(i + 1).map_or(0, |&b| u32::from(b));
            sum += hi | lo;
            sum = (sum & 0xffff) + (sum >> 16);
            i += 2;
        }
        sum as u16
    }

    fn be16(f: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([f[at], f[at + 1]])
    }

    /// Pseudo-header built independently of the module's helper.
    fn pseudo(f: &[u8], l3: usize, l4_len: usize) -> Vec<u8> {
        let mut p = Vec::new();
        if f[l3] >> 4 == 4 {
            p.extend_from_slice(&f[l3 + 12..l3 + 20]);
            p.extend_from_slice(&[0, f[l3 + 9]]);
            p.extend_from_slice(&(l4_len as u16).to_be_bytes());
        } else {
            p.extend_from_slice(&f[l3 + 8..l3 + 40]);
            p.extend_from_slice(&(l4_len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, f[l3 + 6]]);
        }
        p
    }

    fn l4_checksum_ok(f: &[u8], l3: usize, l4: usize) -> bool {
        let mut all = pseudo(f, l3, f.len() - l4);
        all.extend_from_slice(&f[l4..]);
        if all.len() % 2 == 1 {
            all.push(0);
        }
        ones_sum(&all) == 0xffff
    }

    #[test]
    fn ipv4_tcp_syn_byte_exact() {
        let spec = PacketSpec::new(
            v4("10.0.0.1"),
            v4("1.1.1.1"),
            L4::Tcp {
                sport: 1234,
                dport: 53,
                flags: tcp_flags::SYN,
            },
        );
        let f = spec.build();
        #[rustfmt::skip]
        let expected: [u8; 54] = [
            // Ethernet
            0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
            // IPv4: v4 IHL5, tos, len 40, id 0, flags/frag 0, ttl 64, tcp, csum
            0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06, 0x6e, 0xce,
            10, 0, 0, 1, 1, 1, 1, 1,
            // TCP: 1234 -> 53, seq 0, ack 0, doff 5, SYN, win 65535, csum, urg 0
            0x04, 0xd2, 0x00, 0x35, 0, 0, 0, 0, 0, 0, 0, 0,
            0x50, 0x02, 0xff, 0xff, 0x9e, 0xd9, 0x00, 0x00,
        ];
        assert_eq!(f, expected);
        // Recompute independently: sum over a header including its checksum is 0xffff.
        assert_eq!(ones_sum(&f[14..34]), 0xffff);
        assert!(l4_checksum_ok(&f, 14, 34));
        assert_eq!(spec.l3_offset(), 14);
        assert_eq!(spec.l4_offset(), 34);
        assert_eq!(spec.untruncated_len(), 54);
    }

    #[test]
    fn ipv6_udp_checksum() {
        let mut spec = PacketSpec::new(
            v6("2001:db8::1"),
            v6("2001:db8::2"),
            L4::Udp {
                sport: 5000,
                dport: 53,
            },
        );
        spec.payload = b"hello".to_vec(); // odd length
        let f = spec.build();
        assert_eq!(f.len(), 14 + 40 + 8 + 5);
        assert_eq!(be16(&f, 12), 0x86DD);
        assert_eq!(f[14] >> 4, 6);
        assert_eq!(be16(&f, 18), 13); // payload length
        assert_eq!(f[20], IPPROTO_UDP);
        assert_eq!(f[21], 64);
        assert_eq!(&f[22..38], &v6_octets("2001:db8::1"));
        assert_eq!(&f[38..54], &v6_octets("2001:db8::2"));
        assert_eq!(be16(&f, 54), 5000);
        assert_eq!(be16(&f, 56), 53);
        assert_eq!(be16(&f, 58), 13); // UDP length
        assert_ne!(be16(&f, 60), 0);
        assert!(l4_checksum_ok(&f, 14, 54));
        assert_eq!(&f[62..], b"hello");
    }

    fn v6_octets(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn icmp_checksums() {
        let mut spec = PacketSpec::new(v4("10.0.0.1"), v4("10.0.0.2"), L4::Icmp { ty: 8, code: 0 });
        spec.payload = vec![1, 2, 3];
        let f = spec.build();
        assert_eq!(f[23], IPPROTO_ICMP);
        assert_eq!(&f[34..36], &[8, 0]);
        assert_eq!(&f[38..42], &[0, 0, 0, 0]);
        assert_eq!(ones_sum(&f[34..]), 0xffff); // no pseudo-header for ICMPv4

        let spec6 = PacketSpec::new(v6("fe80::1"), v6("ff02::1"), L4::Icmp { ty: 128, code: 0 });
        let f = spec6.build();
        assert_eq!(f[20], IPPROTO_ICMPV6);
        assert_eq!(f[54], 128);
        assert!(l4_checksum_ok(&f, 14, 54)); // ICMPv6 uses the pseudo-header
        assert_ne!(ones_sum(&f[54..]), 0xffff);
    }

    #[test]
    fn other_protocol_has_no_l4_header() {
        let mut spec = PacketSpec::new(v4("10.0.0.1"), v4("10.0.0.2"), L4::Other { proto: 47 });
        spec.payload = vec![0xaa, 0xbb];
        let f = spec.build();
        assert_eq!(f[23], 47);
        assert_eq!(be16(&f, 16), 22);
        assert_eq!(&f[34..], &[0xaa, 0xbb]);
    }

    #[test]
    fn vlan_layout() {
        let mut spec = PacketSpec::new(
            v4("10.0.0.1"),
            v4("1.1.1.1"),
            L4::Tcp {
                sport: 1,
                dport: 2,
                flags: 0,
            },
        );
        spec.vlan = Some(100);
        let f = spec.build();
        assert_eq!(f.len(), 58);
        assert_eq!(&f[0..12], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        assert_eq!(be16(&f, 12), 0x8100);
        assert_eq!(be16(&f, 14), 100);
        assert_eq!(be16(&f, 16), 0x0800);
        assert_eq!(f[18], 0x45);
        assert_eq!(spec.l3_offset(), 18);
        assert_eq!(spec.l4_offset(), 38);
        assert_eq!(be16(&f, 38), 1);
        assert_eq!(ones_sum(&f[18..38]), 0xffff);
        assert!(l4_checksum_ok(&f, 18, 38));

        spec.vlan = Some(4095);
        spec.src = v6("::1");
        spec.dst = v6("::2");
        let f = spec.build();
        assert_eq!(be16(&f, 14), 4095);
        assert_eq!(be16(&f, 16), 0x86DD);
        assert_eq!(f[18] >> 4, 6);
    }

    #[test]
    fn ipv4_options_shift_l4() {
        let mut spec = PacketSpec::new(
            v4("10.0.0.1"),
            v4("1.1.1.1"),
            L4::Udp { sport: 7, dport: 9 },
        );
        spec.ipv4_options = 2;
        let f = spec.build();
        assert_eq!(f[14], 0x47);
        assert_eq!(be16(&f, 16), 28 + 8);
        assert_eq!(&f[34..42], &[1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(ones_sum(&f[14..42]), 0xffff);
        assert_eq!(spec.l4_offset(), 42);
        assert_eq!(be16(&f, 42), 7);
        assert_eq!(be16(&f, 44), 9);
        assert!(l4_checksum_ok(&f, 14, 42));

        spec.ipv4_options = 10;
        let f = spec.build();
        assert_eq!(f[14], 0x4f);
        assert_eq!(f.len(), 14 + 60 + 8);
        assert_eq!(ones_sum(&f[14..74]), 0xffff);

        spec.ipv4_options = 11;
        assert!(spec.try_build().is_err());
    }

    #[test]
    fn truncation() {
        let mut spec = PacketSpec::new(
            v4("10.0.0.1"),
            v4("1.1.1.1"),
            L4::Tcp {
                sport: 1234,
                dport: 53,
                flags: tcp_flags::SYN,
            },
        );
        let full = spec.build();
        spec.truncate_to = Some(40);
        let f = spec.build();
        assert_eq!(f.len(), 40);
        assert_eq!(&f[..], &full[..40]);
        // Length fields still describe the untruncated packet.
        assert_eq!(be16(&f, 16), 40);
        spec.truncate_to = Some(1000);
        assert_eq!(spec.build(), full);
        spec.truncate_to = Some(0);
        assert!(spec.build().is_empty());
    }

    #[test]
    fn fragments() {
        let mut spec = PacketSpec::new(
            v4("10.0.0.1"),
            v4("1.1.1.1"),
            L4::Tcp {
                sport: 1234,
                dport: 53,
                flags: tcp_flags::SYN,
            },
        );
        spec.fragment_offset = 10;
        spec.more_fragments = true;
        spec.payload = vec![0xde, 0xad, 0xbe, 0xef];
        let f = spec.build();
        assert_eq!(f.len(), 14 + 20 + 4);
        assert_eq!(be16(&f, 16), 24);
        assert_eq!(be16(&f, 20), 0x2000 | 10);
        assert_eq!(f[23], IPPROTO_TCP);
        assert_eq!(ones_sum(&f[14..34]), 0xffff);
        assert_eq!(&f[34..], &[0xde, 0xad, 0xbe, 0xef]);

        // First fragment: L4 header present, MF set, offset 0.
        spec.fragment_offset = 0;
        let f = spec.build();
        assert_eq!(be16(&f, 20), 0x2000);
        assert_eq!(f.len(), 14 + 20 + 20 + 4);
        assert_eq!(be16(&f, 34), 1234);

        // Last fragment: offset, no MF, DF never set.
        spec.fragment_offset = MAX_FRAGMENT_OFFSET;
        spec.more_fragments = false;
        let f = spec.build();
        assert_eq!(be16(&f, 20), 0x1fff);
        spec.fragment_offset = MAX_FRAGMENT_OFFSET + 1;
        assert!(spec.try_build().is_err());

        // IPv6 ignores fragmentation.
        let mut s6 = PacketSpec::new(v6("::1"), v6("::2"), L4::Udp { sport: 1, dport: 2 });
        let plain = s6.build();
        s6.fragment_offset = 5;
        s6.more_fragments = true;
        assert_eq!(s6.build(), plain);
    }

    #[test]
    fn validation() {
        let s = PacketSpec::new(v4("10.0.0.1"), v6("::1"), L4::Other { proto: 0 });
        assert!(s.try_build().unwrap_err().contains("mismatch"));
        let mut s = PacketSpec::new(v6("::1"), v6("::2"), L4::Other { proto: 0 });
        s.ipv4_options = 1;
        assert!(s.try_build().is_err());
        let mut s = PacketSpec::new(v4("1.2.3.4"), v4("1.2.3.5"), L4::Udp { sport: 0, dport: 0 });
        s.vlan = Some(4096);
        assert!(s.try_build().is_err());
        s.vlan = None;
        s.payload = vec![0; 65535 - 28];
        assert!(s.try_build().is_ok());
        s.payload.push(0);
        assert!(s.try_build().is_err());
        let mut s = PacketSpec::new(v6("::1"), v6("::2"), L4::Udp { sport: 0, dport: 0 });
        s.payload = vec![0; 65535 - 8];
        assert!(s.try_build().is_ok());
        s.payload.push(0);
        assert!(s.try_build().is_err());
    }

    #[test]
    fn parse_forms() {
        let s = parse_packet("tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn").unwrap();
        assert_eq!(
            s,
            PacketSpec::new(
                v4("10.0.0.1"),
                v4("1.1.1.1"),
                L4::Tcp {
                    sport: 1234,
                    dport: 53,
                    flags: tcp_flags::SYN
                }
            )
        );
        let s = parse_packet("tcp 10.0.0.1:1->1.1.1.1:2 SYN, ack cwr,ece").unwrap();
        assert_eq!(
            s.l4,
            L4::Tcp {
                sport: 1,
                dport: 2,
                flags: tcp_flags::SYN | tcp_flags::ACK | tcp_flags::CWR | tcp_flags::ECE
            }
        );
        let s = parse_packet("udp [2001:db8::1]:5000 -> [2001:db8::2]:53").unwrap();
        assert_eq!(s.src, v6("2001:db8::1"));
        assert_eq!(
            s.l4,
            L4::Udp {
                sport: 5000,
                dport: 53
            }
        );
        let s = parse_packet("icmp 10.0.0.1 -> 10.0.0.2 type 0 code 3").unwrap();
        assert_eq!(s.l4, L4::Icmp { ty: 0, code: 3 });
        let s = parse_packet("icmp 10.0.0.1 -> 10.0.0.2").unwrap();
        assert_eq!(s.l4, L4::Icmp { ty: 8, code: 0 });
        let s = parse_packet("icmpv6 2001:db8::1 -> [2001:db8::2]").unwrap();
        assert_eq!(s.l4, L4::Icmp { ty: 128, code: 0 });
        assert_eq!(s.dst, v6("2001:db8::2"));
        let s = parse_packet("icmpv6 ::1 -> ::2 code 4").unwrap();
        assert_eq!(s.l4, L4::Icmp { ty: 128, code: 4 });
        let s = parse_packet("proto 47 10.0.0.1 -> 10.0.0.2").unwrap();
        assert_eq!(s.l4, L4::Other { proto: 47 });
        let s = parse_packet(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 100 ipopts 2 frag 10 mf payload 0a0B len 40",
        )
        .unwrap();
        assert_eq!(s.vlan, Some(100));
        assert_eq!(s.ipv4_options, 2);
        assert_eq!(s.fragment_offset, 10);
        assert!(s.more_fragments);
        assert_eq!(s.payload, vec![0x0a, 0x0b]);
        assert_eq!(s.truncate_to, Some(40));
        assert_eq!(
            "tcp 1.2.3.4:0 -> 1.2.3.4:65535"
                .parse::<PacketSpec>()
                .unwrap()
                .l4,
            L4::Tcp {
                sport: 0,
                dport: 65535,
                flags: 0
            }
        );
    }

    #[test]
    fn display_round_trip() {
        let cases = [
            "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn",
            "tcp 10.0.0.1:1234 -> 1.1.1.1:53",
            "tcp 10.0.0.1:1234 -> 1.1.1.1:53 fin,syn,rst,psh,ack,urg,ece,cwr",
            "tcp [::1]:1 -> [::2]:2 syn,ack vlan 7",
            "udp [2001:db8::1]:5000 -> [2001:db8::2]:53",
            "udp 10.0.0.1:5000 -> 10.0.0.2:53 payload 00ff10",
            "icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0",
            "icmp 10.0.0.1 -> 10.0.0.2 type 3 code 4 vlan 1",
            "icmpv6 2001:db8::1 -> 2001:db8::2 type 128 code 0",
            "icmpv6 ::ffff:1.2.3.4 -> fe80::1 type 135 code 0",
            "proto 47 10.0.0.1 -> 10.0.0.2",
            "proto 59 ::1 -> ::2 len 54",
            "tcp 10.0.0.1:1 -> 10.0.0.2:2 syn vlan 4095 ipopts 10 frag 8191 mf payload ab len 40",
        ];
        for text in cases {
            let spec = parse_packet(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let shown = spec.to_string();
            assert_eq!(shown, text, "canonical form");
            assert_eq!(parse_packet(&shown).unwrap(), spec, "round trip of {text}");
        }
        // Non-canonical inputs normalise and then round-trip.
        for text in [
            "TCP 10.0.0.1:1->1.1.1.1:53 ack syn",
            "icmp 10.0.0.1 -> 10.0.0.2",
            "icmp ::1 -> ::2",
            "icmp6 [::1] -> [::2] code 1 type 2",
            "proto 0x2f 10.0.0.1 -> 10.0.0.2 len 0x20",
        ] {
            let spec = parse_packet(text).unwrap();
            assert_eq!(parse_packet(&spec.to_string()).unwrap(), spec, "{text}");
        }
        assert_eq!(
            parse_packet("icmp ::1 -> ::2").unwrap().to_string(),
            "icmpv6 ::1 -> ::2 type 128 code 0"
        );
        assert_eq!(
            parse_packet("TCP 10.0.0.1:1->1.1.1.1:53 ack syn")
                .unwrap()
                .to_string(),
            "tcp 10.0.0.1:1 -> 1.1.1.1:53 syn,ack"
        );
    }

    fn err(text: &str) -> String {
        parse_packet(text).expect_err(text)
    }

    #[test]
    fn parse_errors() {
        let e = err("tcp 10.0.0.256:1 -> 1.1.1.1:53");
        assert!(
            e.contains("invalid IPv4 source address") && e.contains("column 5"),
            "{e}"
        );
        let e = err("tcp 10.0.0.1:1 -> 1.1.1:53");
        assert!(
            e.contains("invalid IPv4 destination") && e.contains("column 19"),
            "{e}"
        );
        let e = err("udp [2001:db8::g]:1 -> [::1]:2");
        assert!(e.contains("invalid IPv6 source"), "{e}");
        let e = err("tcp 10.0.0.1:1 1.1.1.1:53");
        assert!(
            e.contains("expected '->'") && e.contains("column 16"),
            "{e}"
        );
        let e = err("tcp 10.0.0.1:1");
        assert!(e.contains("end of input") && e.contains("'->'"), "{e}");
        let e = err("tcp 10.0.0.1:1 -> 1.1.1.1:53 syn foo");
        assert!(e.contains("unknown TCP flag") && e.contains("'foo'"), "{e}");
        let e = err("tcp 10.0.0.1:1 -> [::1]:53");
        assert!(e.contains("mismatch") && e.contains("column 19"), "{e}");
        let e = err("icmp ::1 -> 10.0.0.1");
        assert!(e.contains("mismatch"), "{e}");
        let e = err("tcp 10.0.0.1:70000 -> 1.1.1.1:53");
        assert!(
            e.contains("port 70000 out of range") && e.contains("column 14"),
            "{e}"
        );
        let e = err("udp 10.0.0.1:1 -> 1.1.1.1:99999999999999999999999");
        assert!(e.contains("out of range"), "{e}");
        let e = err("udp 10.0.0.1 -> 1.1.1.1:53");
        assert!(e.contains("missing source port"), "{e}");
        let e = err("udp 2001:db8::1:5000 -> [2001:db8::2]:53");
        assert!(e.contains("missing source port"), "{e}");
        let e = err("icmp 10.0.0.1:5 -> 10.0.0.2");
        assert!(e.contains("takes no port"), "{e}");
        let e = err("icmpv6 10.0.0.1 -> 10.0.0.2");
        assert!(e.contains("icmpv6 needs IPv6"), "{e}");
        let e = err("sctp 10.0.0.1:1 -> 10.0.0.2:2");
        assert!(
            e.contains("unknown protocol") && e.contains("column 1"),
            "{e}"
        );
        let e = err("proto 256 10.0.0.1 -> 10.0.0.2");
        assert!(e.contains("out of range"), "{e}");
        let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 syn");
        assert!(e.contains("unknown option"), "{e}");
        let e = err("icmp 10.0.0.1 -> 10.0.0.2 type");
        assert!(e.contains("end of input") && e.contains("ICMP type"), "{e}");
        let e = err("icmp 10.0.0.1 -> 10.0.0.2 type 8 type 9");
        assert!(e.contains("twice"), "{e}");
        let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 4096");
        assert!(e.contains("VLAN id 4096 out of range"), "{e}");
        let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 ipopts 11");
        assert!(e.contains("out of range"), "{e}");
        let e = err("udp [::1]:1 -> [::2]:2 ipopts 1");
        assert!(e.contains("IPv4 packets only"), "{e}");
        let e = err("udp [::1]:1 -> [::2]:2 frag 1");
        assert!(e.contains("IPv4 packets only"), "{e}");
        let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 frag 8192");
        assert!(e.contains("out of range"), "{e}");
        let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 payload abc");
        assert!(e.contains("hex"), "{e}");
        let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 len -1");
        assert!(e.contains("number"), "{e}");
        let e = err("");
        assert!(e.contains("expected a protocol"), "{e}");
        let e = err("udp [::1:1 -> [::2]:2");
        assert!(e.contains("missing ']'"), "{e}");
        let e = err("udp [::1]x -> [::2]:2");
        assert!(e.contains("':PORT'"), "{e}");
        let e = err("tcp -> 1.1.1.1:1");
        assert!(e.contains("source address before '->'"), "{e}");
        let e = err("tcp é 10.0.0.1:1 -> 1.1.1.1:2");
        assert!(e.contains("column 5"), "{e}"); // columns count characters
        let e = err(&format!(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 payload {}",
            "00".repeat(70000)
        ));
        assert!(e.contains("too long"), "{e}");
    }

    #[test]
    fn odd_inputs_never_panic() {
        let odd = [
            "",
            " ",
            "->",
            "-> ->",
            ",,,",
            "tcp",
            "tcp ->",
            "tcp [",
            "tcp []",
            "tcp [:]:",
            "tcp [::1]:",
            "tcp 1.2.3.4:",
            "tcp :",
            ":::",
            "tcp 1.2.3.4:1 -> 1.2.3.4:1 -",
            "tcp 1.2.3.4:1 -> 1.2.3.4:1 -->",
            "proto",
            "proto x",
            "proto 0x",
            "proto 0x1g",
            "icmp 1.1.1.1 -> 1.1.1.1 code",
            "udp 1.1.1.1:0x -> 1.1.1.1:1",
            "udp 1.1.1.1:+1 -> 1.1.1.1:1",
            "udp 1.1.1.1:1 -> 1.1.1.1:1 payload",
            "udp 1.1.1.1:1 -> 1.1.1.1:1 payload 0x",
            "udp 1.1.1.1:1 -> 1.1.1.1:1 payload éé",
            "tcp ]::1[:1 -> 1.1.1.1:1",
            "\u{0}\u{ffff}",
            "tcp 1.1.1.1:1 ->1.1.1.1:1 syn,,ack",
            "😀 -> 😀",
            "tcp [😀]:1 -> [::1]:1",
            "udp 1.1.1.1:1 -> 1.1.1.1:1 len 99999999999",
            "udp 1.1.1.1:1\t->\n1.1.1.1:1",
        ];
        for s in odd {
            if let Ok(spec) = parse_packet(s) {
                let _ = spec.build();
                assert_eq!(parse_packet(&spec.to_string()).as_ref(), Ok(&spec));
            }
        }
        // Deterministic pseudo-random mutations of valid inputs.
        let seeds = [
            "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn vlan 100 len 40",
            "udp [2001:db8::1]:5000 -> [2001:db8::2]:53 payload 00ff",
            "icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0 ipopts 2 frag 10 mf",
        ];
        let alphabet: Vec<char> = "0123456789abcdefx:[]->., \u{e9}".chars().collect();
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for seed in seeds {
            for _ in 0..2000 {
                let mut chars: Vec<char> = seed.chars().collect();
                for _ in 0..1 + rnd(4) {
                    let i = rnd(chars.len() + 1);
                    match rnd(3) {
                        0 if i < chars.len() => {
                            chars.remove(i);
                        }
                        1 if i < chars.len() => chars[i] = alphabet[rnd(alphabet.len())],
                        _ => chars.insert(i, alphabet[rnd(alphabet.len())]),
                    }
                }
                let s: String = chars.into_iter().collect();
                if let Ok(spec) = parse_packet(&s) {
                    let f = spec.build();
                    assert!(f.len() <= spec.untruncated_len());
                    assert_eq!(parse_packet(&spec.to_string()).as_ref(), Ok(&spec), "{s}");
                }
            }
        }
    }

    #[test]
    fn icmp_types_may_be_named_as_in_the_rule_language() {
        let named = |t: &str| match parse_packet(t).unwrap().l4 {
            L4::Icmp { ty, .. } => ty,
            other => panic!("{other:?}"),
        };
        assert_eq!(named("icmp 10.0.0.1 -> 10.0.0.2 type echo-request"), 8);
        assert_eq!(named("icmpv6 ::1 -> ::2 type echo-request"), 128);
        assert_eq!(
            named("icmpv6 ::1 -> ::2 type NEIGHBOR-SOLICITATION code 0"),
            135
        );
        // A name that has no ICMPv4 number is an error, not a silent default.
        let e = parse_packet("icmp 10.0.0.1 -> 10.0.0.2 type packet-too-big").unwrap_err();
        assert!(e.contains("a number or a name"), "{e}");
    }
}
