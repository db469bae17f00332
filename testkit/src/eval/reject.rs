//! What a `reject` sends for one frame, read from the frame itself: a TCP reset, an
//! ICMP (ICMPv6) destination unreachable with its code, or nothing (the packet is
//! dropped) where the kernel never answers. The list of what is never answered is
//! the one `docs/language.md` ("reject") gives and the lowering
//! (`bpf::lower::reject`) tests, written here independently from the raw bytes.

use sockc_compiler::syntax::reject::{RejectWith, ICMPV6_DEST_UNREACH, ICMP_DEST_UNREACH};

/// A reject's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// A TCP reset back to the sender.
    TcpReset,
    /// ICMP (`v6`: ICMPv6) destination unreachable with this code.
    Unreachable { v6: bool, code: u8 },
    /// Not answered, so dropped: why.
    Dropped(&'static str),
}

impl Answer {
    /// How `sockc test` says it.
    pub fn describe(self) -> String {
        match self {
            Answer::TcpReset => "sends a TCP reset".into(),
            Answer::Unreachable { v6: false, code } => {
                format!("sends ICMP destination unreachable (type {ICMP_DEST_UNREACH} code {code})")
            }
            Answer::Unreachable { v6: true, code } => format!(
                "sends ICMPv6 destination unreachable (type {ICMPV6_DEST_UNREACH} code {code})"
            ),
            Answer::Dropped(why) => format!("drops without an answer: {why}"),
        }
    }

    pub fn sent(self) -> bool {
        !matches!(self, Answer::Dropped(_))
    }
}

/// IPv6 extension headers (hop-by-hop, routing, fragment, AH, destination options).
const EXT_HEADERS: [u8; 5] = [0, 43, 44, 51, 60];
/// ICMP types that are errors (RFC 1122: never answered with an ICMP error).
const ICMP_ERRORS: [u8; 5] = [3, 4, 5, 11, 12];
const RST: u8 = 0x04;

/// The answer to `frame` (an Ethernet frame) of a rule rejecting `with`.
pub fn answer(frame: &[u8], with: RejectWith) -> Answer {
    use Answer::Dropped;
    let len = frame.len();
    if len < 14 {
        return Dropped("frame too short");
    }
    if frame[0] & 1 != 0 {
        return Dropped("broadcast or multicast Ethernet destination");
    }
    let v6 = match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0800 => false,
        0x86dd => true,
        _ => return Dropped("not an untagged IP frame"),
    };
    let (l4, proto) = if v6 {
        match ipv6(frame) {
            Ok(p) => (54, p),
            Err(why) => return Dropped(why),
        }
    } else {
        match ipv4(frame) {
            Ok(p) => (34, p),
            Err(why) => return Dropped(why),
        }
    };
    match proto {
        6 if len < l4 + 20 => return Dropped("TCP header cut short"),
        6 if frame[l4 + 13] & RST != 0 => return Dropped("a TCP reset is never answered"),
        1 | 58 if len < l4 + 4 => return Dropped("ICMP header cut short"),
        1 if !v6 && ICMP_ERRORS.contains(&frame[l4]) => {
            return Dropped("an ICMP error is never answered")
        }
        58 if v6 && frame[l4] < 128 => return Dropped("an ICMPv6 error is never answered"),
        _ => {}
    }
    if with.resets(proto) {
        return Answer::TcpReset;
    }
    if len < l4 + 8 {
        return Dropped("fewer than 8 bytes after the IP header to quote");
    }
    Answer::Unreachable {
        v6,
        code: with.icmp_code(v6),
    }
}

/// The protocol of an IPv4 packet that may be answered.
fn ipv4(frame: &[u8]) -> Result<u8, &'static str> {
    if frame.len() < 34 || frame[14] >> 4 != 4 || frame[14] & 0x0f < 5 {
        return Err("no IPv4 header");
    }
    if frame[14] != 0x45 {
        return Err("IPv4 options (not answered)");
    }
    if u16::from_be_bytes([frame[20], frame[21]]) & 0x1fff != 0 {
        return Err("a non-first fragment is never answered");
    }
    let (src, dst) = (&frame[26..30], &frame[30..34]);
    if dst[0] >= 224 {
        return Err("broadcast, multicast or class E destination");
    }
    if src[0] >= 224 || src == [0, 0, 0, 0] {
        return Err("source not a unicast address");
    }
    Ok(frame[23])
}

/// The protocol of an IPv6 packet that may be answered.
fn ipv6(frame: &[u8]) -> Result<u8, &'static str> {
    if frame.len() < 54 || frame[14] >> 4 != 6 {
        return Err("no IPv6 header");
    }
    let next = frame[20];
    if EXT_HEADERS.contains(&next) {
        return Err("IPv6 extension headers (not answered)");
    }
    let (src, dst) = (&frame[22..38], &frame[38..54]);
    if dst[0] == 0xff {
        return Err("multicast destination");
    }
    if src[0] == 0xff || src.iter().all(|&b| b == 0) {
        return Err("source not a unicast address");
    }
    Ok(next)
}
