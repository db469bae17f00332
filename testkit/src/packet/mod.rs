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

mod parse;

use std::fmt;
use std::net::IpAddr;

pub use parse::parse_packet;

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
/// Ethertype of ARP.
pub const ETH_P_ARP: u16 = 0x0806;

/// IP protocol numbers used by [`L4`].
pub const IPPROTO_ICMP: u8 = 1;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// Length of an Ethernet/IPv4 ARP message.
pub const ARP_LEN: usize = 28;

/// Largest VLAN id (12 bits).
pub const MAX_VLAN_ID: u16 = 4095;
/// Largest number of 4-byte IPv4 option words (IHL is at most 15).
pub const MAX_IPV4_OPTION_WORDS: u8 = 10;
/// Largest IPv4 fragment offset (13 bits, in 8-byte units).
pub const MAX_FRAGMENT_OFFSET: u16 = 0x1FFF;

/// The shortest frame `BPF_PROG_TEST_RUN` takes (net/bpf/test_run.c,
/// `bpf_test_init`): an Ethernet header. Shorter ones get EINVAL at every hook.
pub const MIN_TEST_FRAME: usize = 14;

/// The longest frame the packet syntax accepts: what an XDP program sees whole.
/// `BPF_PROG_TEST_RUN` gives an XDP program at most one page less its headroom and
/// tail room — 4096 − XDP_PACKET_HEADROOM (256) − SKB_DATA_ALIGN(sizeof(struct
/// skb_shared_info)) (320 on x86-64) = 3,520 bytes — of linear data and puts the rest
/// in fragments, which a program that is not `xdp.frags` never sees (its `data_end`
/// stops there, so a 4,054-byte frame counts 3,520 bytes); TC takes up to 4096 −
/// NET_SKB_PAD (64) − 320 = 3,712 bytes and refuses longer frames (EINVAL). Frames
/// up to this length run whole at both hooks.
pub const MAX_TEST_FRAME: usize = 3520;

/// Why `BPF_PROG_TEST_RUN` refuses `frame` at a TC hook (`SCHED_CLS`), if it does:
/// the kernel checks that an IPv4 or IPv6 EtherType frame holds the fixed IP header
/// (net/bpf/test_run.c, `bpf_prog_test_run_skb`). XDP takes every frame of
/// [`MIN_TEST_FRAME`] to [`MAX_TEST_FRAME`] bytes.
pub fn tc_test_run_refuses(frame: &[u8]) -> Option<String> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (family, need) = match ethertype {
        ETH_P_IP => ("IPv4", ETH_HLEN + IPV4_HLEN),
        ETH_P_IPV6 => ("IPv6", ETH_HLEN + IPV6_HLEN),
        _ => return None,
    };
    (frame.len() < need).then(|| {
        format!(
            "the kernel's BPF_PROG_TEST_RUN refuses an {family} frame shorter than {need} \
             bytes at TC hooks (this one is {})",
            frame.len()
        )
    })
}

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

/// Most IPv6 extension headers a packet spec may carry (more than the BPF prologue
/// walks, so tests can cross its limit).
pub const MAX_IPV6_EXT: usize = 8;
/// Largest length of a hop-by-hop, routing or destination-options header the spec
/// writes, in 8-byte units (its PadN option fills it: at most 255 bytes of padding).
pub const MAX_IPV6_EXT_UNITS: u8 = 32;

/// One IPv6 extension header of a crafted packet, in the order they follow the fixed
/// header. Options headers are filled with one PadN option; a routing header is of an
/// unassigned type with no segments left (which every node skips); an AH header is
/// 16 bytes (a 4-byte ICV of zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ext6 {
    /// Hop-by-hop options (next header 0), this many 8-byte units long.
    HopByHop(u8),
    /// Routing header (43), this many 8-byte units long.
    Routing(u8),
    /// Destination options (60), this many 8-byte units long.
    DestOpts(u8),
    /// Fragment header (44): offset and M flag from the spec's `fragment_offset` and
    /// `more_fragments`.
    Fragment,
    /// Authentication header (51).
    Auth,
}

impl Ext6 {
    /// The next-header number naming this header.
    pub fn number(self) -> u8 {
        match self {
            Ext6::HopByHop(_) => 0,
            Ext6::Routing(_) => 43,
            Ext6::DestOpts(_) => 60,
            Ext6::Fragment => 44,
            Ext6::Auth => 51,
        }
    }

    /// Length in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Ext6::HopByHop(n) | Ext6::Routing(n) | Ext6::DestOpts(n) => 8 * usize::from(n),
            Ext6::Fragment => 8,
            Ext6::Auth => 16,
        }
    }

    /// Its word in the packet syntax (`hbh`, `rt/2`, `dst`, `fh`, `ah`).
    pub fn text(self) -> String {
        let sized = |name: &str, n: u8| {
            if n == 1 {
                name.to_string()
            } else {
                format!("{name}/{n}")
            }
        };
        match self {
            Ext6::HopByHop(n) => sized("hbh", n),
            Ext6::Routing(n) => sized("rt", n),
            Ext6::DestOpts(n) => sized("dst", n),
            Ext6::Fragment => "fh".to_string(),
            Ext6::Auth => "ah".to_string(),
        }
    }

    /// The header's bytes, followed by `next`.
    fn write(self, next: u8, spec: &PacketSpec, f: &mut Vec<u8>) {
        let start = f.len();
        match self {
            Ext6::HopByHop(n) | Ext6::DestOpts(n) => {
                let pad = self.bytes() - 4;
                f.extend_from_slice(&[next, n - 1, 1, pad as u8]); // PadN
            }
            Ext6::Routing(n) => f.extend_from_slice(&[next, n - 1, 253, 0]),
            Ext6::Fragment => {
                let frag = (spec.fragment_offset & MAX_FRAGMENT_OFFSET) << 3
                    | u16::from(spec.more_fragments);
                f.extend_from_slice(&[next, 0]);
                f.extend_from_slice(&frag.to_be_bytes());
            }
            Ext6::Auth => f.extend_from_slice(&[next, 2, 0, 0]),
        }
        f.resize(start + self.bytes(), 0);
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
    /// which carries only the payload (no L4 header). For IPv6, the offset of the
    /// fragment header in `ipv6_ext` (0 without one).
    pub fragment_offset: u16,
    /// The "more fragments" flag (IPv4, or the IPv6 fragment header).
    pub more_fragments: bool,
    /// IPv6 extension headers between the fixed header and the L4 header; empty for
    /// IPv4.
    pub ipv6_ext: Vec<Ext6>,
    /// Bytes after the L4 header.
    pub payload: Vec<u8>,
    /// Cut the final frame to this many bytes (no effect if the frame is shorter).
    pub truncate_to: Option<usize>,
    /// The frame's EtherType instead of the IP one: [`ETH_P_ARP`] makes an ARP request
    /// from `src` for `dst` (IPv4), any other value carries the IP packet's bytes
    /// under that type.
    pub ether_type: Option<u16>,
    /// The IPv4 TTL or IPv6 hop limit (64 unless the text says `ttl N`).
    pub ttl: u8,
    /// The IPv4 TOS byte or IPv6 traffic class (0 unless the text says `dscp N` or
    /// `ecn N`, which set its top six and low two bits).
    pub tos: u8,
    /// The IP packet's length as netfilter's length match reads it (the IPv4 total
    /// length, the IPv6 payload length plus 40), when the text says `length N`. Longer
    /// than the packet's own: zero bytes after the payload make it so (the frame cut
    /// at [`MAX_TEST_FRAME`], what XDP reads of it anyway); shorter: the length field
    /// says `N` and the headers stay whole (a field XDP and TC may receive; the
    /// kernel's IP layer drops such a packet before netfilter).
    pub length: Option<u32>,
}

/// The TTL or hop limit of a test packet that names none.
pub const DEFAULT_TTL: u8 = 64;

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
            ipv6_ext: Vec::new(),
            payload: Vec::new(),
            truncate_to: None,
            ether_type: None,
            ttl: DEFAULT_TTL,
            tos: 0,
            length: None,
        }
    }

    /// Whether this is an IPv6 packet (decided by `src`).
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// Whether the bytes after the IP header are the bare payload because this
    /// is a non-first fragment.
    fn is_non_first_fragment(&self) -> bool {
        self.fragment_offset > 0 && (!self.is_ipv6() || self.ipv6_ext.contains(&Ext6::Fragment))
    }

    /// Whether this packet is a fragment: IPv4 with MF or an offset, IPv6 with a
    /// fragment header.
    pub fn is_fragment(&self) -> bool {
        if self.is_ipv6() {
            self.ipv6_ext.contains(&Ext6::Fragment)
        } else {
            self.more_fragments || self.fragment_offset > 0
        }
    }

    /// Offset of the IP header in the frame (14, or 18 with a VLAN tag).
    pub fn l3_offset(&self) -> usize {
        ETH_HLEN + if self.vlan.is_some() { VLAN_HLEN } else { 0 }
    }

    /// Length of the IP header (IPv4 with options, or the fixed IPv6 header and its
    /// extension headers).
    pub fn l3_header_len(&self) -> usize {
        if self.is_ipv6() {
            IPV6_HLEN + self.ipv6_ext.iter().map(|e| e.bytes()).sum::<usize>()
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
        if self.is_arp() {
            return self.l3_offset() + ARP_LEN;
        }
        self.l4_offset() + self.l4_header_len() + self.payload.len() + self.padding()
    }

    /// The IP packet's own length, as [`Self::length`] counts it: headers and payload.
    pub fn natural_length(&self) -> usize {
        self.l3_header_len() + self.l4_header_len() + self.payload.len()
    }

    /// The zero bytes after the payload that make the packet [`Self::length`] long.
    fn padding(&self) -> usize {
        self.length
            .map_or(0, |n| (n as usize).saturating_sub(self.natural_length()))
    }

    /// Where the frame is cut: at `len`, and at [`MAX_TEST_FRAME`] when padding
    /// makes it longer.
    fn cut(&self) -> Option<usize> {
        let padded = self.padding() > 0 && self.untruncated_len() > MAX_TEST_FRAME;
        match (self.truncate_to, padded) {
            (Some(n), true) => Some(n.min(MAX_TEST_FRAME)),
            (None, true) => Some(MAX_TEST_FRAME),
            (n, false) => n,
        }
    }

    /// An ARP request rather than an IP packet.
    pub fn is_arp(&self) -> bool {
        self.ether_type == Some(ETH_P_ARP)
    }

    /// Length of the frame [`build`](Self::build) makes.
    pub fn frame_len(&self) -> usize {
        let full = self.untruncated_len();
        self.cut().map_or(full, |n| n.min(full))
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
        if self.is_arp() && self.is_ipv6() {
            return Err("ARP carries IPv4 addresses".to_string());
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
            self.validate_ext()?;
        } else {
            if !self.ipv6_ext.is_empty() {
                return Err("IPv6 extension headers on an IPv4 packet".to_string());
            }
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
        self.validate_length()?;
        // IPv4 total length counts the IP header; IPv6 payload length counts the
        // extension headers but not the fixed header.
        let counted = self.natural_length() - if self.is_ipv6() { IPV6_HLEN } else { 0 };
        if counted > usize::from(u16::MAX) {
            return Err(format!(
                "packet too long: {} bytes of payload do not fit the IP length field",
                self.payload.len()
            ));
        }
        Ok(())
    }

    /// `length N`: an IP packet's, within its family's lengths.
    fn validate_length(&self) -> Result<(), String> {
        let Some(n) = self.length else {
            return Ok(());
        };
        let (lo, hi) = if self.is_ipv6() {
            (IPV6_HLEN as u32, u32::from(u16::MAX) + IPV6_HLEN as u32)
        } else {
            (0, u32::from(u16::MAX))
        };
        if self.is_arp() {
            return Err("an ARP request has no IP length".to_string());
        }
        if !(lo..=hi).contains(&n) {
            return Err(format!(
                "length {n} out of range ({lo}..={hi} for {})",
                family_name(&self.src)
            ));
        }
        Ok(())
    }

    /// IPv6: at most [`MAX_IPV6_EXT`] headers of 1..=[`MAX_IPV6_EXT_UNITS`] units,
    /// one fragment header at most, and fragment fields only with one.
    fn validate_ext(&self) -> Result<(), String> {
        if self.ipv6_ext.len() > MAX_IPV6_EXT {
            return Err(format!(
                "{} extension headers; a packet spec has at most {MAX_IPV6_EXT}",
                self.ipv6_ext.len()
            ));
        }
        for e in &self.ipv6_ext {
            if let Ext6::HopByHop(n) | Ext6::Routing(n) | Ext6::DestOpts(n) = *e {
                if !(1..=MAX_IPV6_EXT_UNITS).contains(&n) {
                    return Err(format!(
                        "extension header length {n} out of range (1..={MAX_IPV6_EXT_UNITS} \
                         units of 8 bytes)"
                    ));
                }
            }
        }
        let frags = self
            .ipv6_ext
            .iter()
            .filter(|e| **e == Ext6::Fragment)
            .count();
        if frags > 1 {
            return Err("more than one fragment header".to_string());
        }
        if frags == 0 && (self.fragment_offset != 0 || self.more_fragments) {
            return Err(
                "frag or mf on an IPv6 packet without a fragment header (`ext fh`)".to_string(),
            );
        }
        if self.fragment_offset > MAX_FRAGMENT_OFFSET {
            return Err(format!(
                "fragment offset {} out of range (0..={MAX_FRAGMENT_OFFSET})",
                self.fragment_offset
            ));
        }
        Ok(())
    }

    /// Build the frame, or say why the spec is invalid.
    pub fn try_build(&self) -> Result<Vec<u8>, String> {
        self.validate()?;
        let pad = self.padding();
        if pad == 0 {
            return Ok(self.build_unchecked());
        }
        // The padding is payload: the transport checksum and UDP length count it.
        let mut padded = self.clone();
        padded.payload.resize(self.payload.len() + pad, 0);
        padded.truncate_to = self.cut();
        Ok(padded.build_unchecked())
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
        f.extend_from_slice(&self.ether_type.unwrap_or(ethertype).to_be_bytes());
        if self.is_arp() {
            self.arp_request(&mut f);
            if let Some(n) = self.truncate_to {
                f.truncate(n);
            }
            return f;
        }

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
                // Checked by validate.
                let total = self.length.unwrap_or((hlen + segment.len()) as u32) as u16;
                let frag = (u16::from(self.more_fragments) << 13)
                    | (self.fragment_offset & MAX_FRAGMENT_OFFSET);
                let start = f.len();
                f.push(0x40 | (hlen / 4) as u8);
                f.push(self.tos); // DSCP/ECN
                f.extend_from_slice(&total.to_be_bytes());
                f.extend_from_slice(&[0, 0]); // identification
                f.extend_from_slice(&frag.to_be_bytes());
                f.push(self.ttl); // TTL
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
                let ext_len = self.l3_header_len() - IPV6_HLEN;
                let own = (ext_len + segment.len()) as u32;
                // Checked by validate.
                let payload_len = self.length.map_or(own, |n| n - IPV6_HLEN as u32) as u16;
                // version, traffic class (DSCP/ECN), flow label
                f.extend_from_slice(&[0x60 | self.tos >> 4, self.tos << 4, 0, 0]);
                f.extend_from_slice(&payload_len.to_be_bytes());
                f.push(self.ipv6_ext.first().map_or(proto, |e| e.number()));
                f.push(self.ttl); // hop limit
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                for (i, e) in self.ipv6_ext.iter().enumerate() {
                    let next = self.ipv6_ext.get(i + 1).map_or(proto, |n| n.number());
                    e.write(next, self, &mut f);
                }
            }
            _ => unreachable!("validate rejects mixed families"),
        }

        f.extend_from_slice(&segment);
        if let Some(n) = self.truncate_to {
            f.truncate(n);
        }
        f
    }

    /// An Ethernet/IPv4 ARP request: who has `dst`, tell `src`.
    fn arp_request(&self, f: &mut Vec<u8>) {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src, self.dst) else {
            unreachable!("validate refuses ARP with IPv6 addresses");
        };
        f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, request
        f.extend_from_slice(&SRC_MAC);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&dst.octets());
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
        if self.is_arp() {
            write!(f, "arp {} -> {}", self.src, self.dst)?;
            if let Some(id) = self.vlan {
                write!(f, " vlan {id}")?;
            }
            if let Some(n) = self.truncate_to {
                write!(f, " len {n}")?;
            }
            return Ok(());
        }
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
        if !self.ipv6_ext.is_empty() {
            let words: Vec<String> = self.ipv6_ext.iter().map(|e| e.text()).collect();
            write!(f, " ext {}", words.join(","))?;
        }
        if self.fragment_offset != 0 {
            write!(f, " frag {}", self.fragment_offset)?;
        }
        if self.more_fragments {
            f.write_str(" mf")?;
        }
        if !self.payload.is_empty() {
            f.write_str(" payload ")?;
            for b in &self.payload {
                write!(f, "{b:02x}")?;
            }
        }
        if let Some(t) = self.ether_type {
            write!(f, " ether {t:#06x}")?;
        }
        if self.ttl != DEFAULT_TTL {
            write!(f, " ttl {}", self.ttl)?;
        }
        if self.tos >> 2 != 0 {
            write!(f, " dscp {}", self.tos >> 2)?;
        }
        if self.tos & 3 != 0 {
            write!(f, " ecn {}", self.tos & 3)?;
        }
        if let Some(n) = self.length {
            write!(f, " length {n}")?;
        }
        if let Some(n) = self.truncate_to {
            write!(f, " len {n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
