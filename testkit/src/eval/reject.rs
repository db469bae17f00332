//! What a `reject` sends for one frame, read from the frame itself: a TCP reset, an
//! ICMP (ICMPv6) destination unreachable with its code, or nothing (the packet is
//! dropped) where the kernel never answers. (Whether the answer limits let an ICMP
//! answer go is a fact of the traffic before it: `super::evaluate_rules` turns an
//! answer they refuse into a drop, [`LIMITED`].) The list of what is never answered is
//! the one `docs/language.md` ("reject") gives and the lowering
//! (`bpf::lower::reject`) tests, written here independently from the raw bytes.

use sockc_compiler::syntax::reject::{RejectWith, ICMPV6_DEST_UNREACH, ICMP_DEST_UNREACH};

use super::headers::IPV6_EXT_MAX;

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

/// Why an ICMP answer the rule would send is not: the limits of `reject`'s answers
/// (`reject answers ...`, by default the kernel's) had no room for it.
pub const LIMITED: &str = "over the limit of reject's answers";

/// IPv6 extension headers (hop-by-hop, routing, fragment, AH, destination options).
const EXT_HEADERS: [u8; 5] = [0, 43, 44, 51, 60];
/// The longest ICMPv6 quote answered (IPv6 header, extension headers, 8 bytes), as the
/// lowering bounds it.
const QUOTE6_MAX: usize = 128;
/// ICMP types that are errors (RFC 1122: never answered with an ICMP error).
const ICMP_ERRORS: [u8; 5] = [3, 4, 5, 11, 12];
/// The last ICMP type the kernel knows (`NR_ICMP_TYPES`): one past it, `__icmp_send`
/// takes for an error.
const NR_ICMP_TYPES: u8 = 18;
const RST: u8 = 0x04;

/// The answer to `frame` (an Ethernet frame) of a rule rejecting `with`, at XDP
/// (`xdp`: one VLAN tag in the frame is taken out and put back on the answer) or at
/// tc ingress (a tag still in the frame is not answered; the one the kernel takes out
/// before tc, which the answer keeps, a test frame never has).
pub fn answer(frame: &[u8], with: RejectWith, xdp: bool) -> Answer {
    use Answer::Dropped;
    let tagged = frame.len() >= 18 && matches!(frame[12..14], [0x81, 0x00] | [0x88, 0xa8]);
    if xdp && tagged {
        let untagged = [&frame[..12], &frame[16..]].concat();
        return answer(&untagged, with, false);
    }
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
    let (l4, proto) = match if v6 { ipv6(frame) } else { ipv4(frame) } {
        Ok(found) => found,
        Err(why) => return Dropped(why),
    };
    match proto {
        6 if len < l4 + 20 => return Dropped("TCP header cut short"),
        6 if frame[l4 + 13] & RST != 0 => return Dropped("a TCP reset is never answered"),
        1 | 58 if len < l4 + 4 => return Dropped("ICMP header cut short"),
        1 if !v6 && (ICMP_ERRORS.contains(&frame[l4]) || frame[l4] > NR_ICMP_TYPES) => {
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
    if v6 && l4 - 14 + 8 > QUOTE6_MAX {
        return Dropped("extension headers too long to quote");
    }
    Answer::Unreachable {
        v6,
        code: with.icmp_code(v6),
    }
}

/// Where the upper-layer header of an IPv4 packet that may be answered starts (after
/// the options), and its protocol.
fn ipv4(frame: &[u8]) -> Result<(usize, u8), &'static str> {
    if frame.len() < 34 || frame[14] >> 4 != 4 || frame[14] & 0x0f < 5 {
        return Err("no IPv4 header");
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
    Ok((14 + 4 * usize::from(frame[14] & 0x0f), frame[23]))
}

/// Where the upper-layer header of an IPv6 packet that may be answered starts (after
/// its extension headers) and its protocol.
fn ipv6(frame: &[u8]) -> Result<(usize, u8), &'static str> {
    if frame.len() < 54 || frame[14] >> 4 != 6 {
        return Err("no IPv6 header");
    }
    let upper = upper_layer(frame).ok_or("the upper layer is not reached")?;
    let (src, dst) = (&frame[22..38], &frame[38..54]);
    if dst[0] == 0xff {
        return Err("multicast destination");
    }
    if src[0] == 0xff || src.iter().all(|&b| b == 0) {
        return Err("source not a unicast address");
    }
    Ok(upper)
}

/// The upper-layer header's offset and number, walking extension headers as the
/// prologue does (`bpf::ext6`: at most [`IPV6_EXT_MAX`] of them, each present for at
/// least its first 8 bytes); `None` behind a non-first fragment or a chain the walk
/// cannot pass.
fn upper_layer(frame: &[u8]) -> Option<(usize, u8)> {
    let (mut next, mut at) = (frame[20], 54usize);
    for _ in 0..IPV6_EXT_MAX {
        if !EXT_HEADERS.contains(&next) {
            return Some((at, next));
        }
        let h = frame.get(at..at + 8)?;
        if next == 44 && u16::from_be_bytes([h[2], h[3]]) & 0xfff8 != 0 {
            return None;
        }
        let len = match next {
            44 => 8,
            51 => (usize::from(h[1]) + 2) * 4,
            _ => (usize::from(h[1]) + 1) * 8,
        };
        (next, at) = (h[0], at + len);
    }
    (!EXT_HEADERS.contains(&next)).then_some((at, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse_packet;

    fn answer_to(text: &str) -> Answer {
        answer(
            &parse_packet(text).unwrap().build(),
            RejectWith::Default,
            false,
        )
    }

    #[test]
    fn options_and_extension_headers_are_answered_from_the_upper_layer() {
        let tcp4 = "tcp 10.0.0.1:1 -> 10.0.0.2:80 syn";
        assert_eq!(answer_to(&format!("{tcp4} ipopts 10")), Answer::TcpReset);
        assert!(
            !answer_to(&format!("{tcp4} ipopts 3 len 65")).sent(),
            "cut TCP header"
        );
        let udp4 = answer_to("udp 10.0.0.1:1 -> 10.0.0.2:53 ipopts 3");
        assert_eq!(udp4, Answer::Unreachable { v6: false, code: 3 });
        let udp6 = "udp [2001:db8::1]:1 -> [2001:db8::2]:53";
        assert!(answer_to(&format!("{udp6} ext hbh,dst/2")).sent());
        assert!(
            answer_to(&format!("{udp6} ext hbh/10")).sent(),
            "a 128-byte quote"
        );
        assert_eq!(
            answer_to(&format!("{udp6} ext hbh/11")),
            Answer::Dropped("extension headers too long to quote")
        );
        let tcp6 = "tcp [2001:db8::1]:1 -> [2001:db8::2]:80 syn";
        assert_eq!(answer_to(&format!("{tcp6} ext hbh/11")), Answer::TcpReset);
        assert!(!answer_to(&format!("{tcp6} ext hbh,dst,dst,dst,dst,dst,dst")).sent());
        assert!(
            !answer_to(&format!("{udp6} ext fh frag 8")).sent(),
            "non-first fragment"
        );
    }

    /// The kernel answers no ICMP type past 18, which it takes for an error it does not
    /// know (`__icmp_send`); types up to 18 that are not errors are answered.
    #[test]
    fn icmp_types_the_kernel_takes_for_errors_are_never_answered() {
        for ty in [3, 11, 19, 40, 255] {
            let a = answer_to(&format!("icmp 10.0.0.1 -> 10.0.0.2 type {ty}"));
            assert!(!a.sent(), "type {ty}: {a:?}");
        }
        for ty in [0, 8, 13, 18] {
            let a = answer_to(&format!("icmp 10.0.0.1 -> 10.0.0.2 type {ty}"));
            assert!(a.sent(), "type {ty}: {a:?}");
        }
    }

    #[test]
    fn a_tag_in_the_frame_is_answered_at_xdp_only() {
        let frame = parse_packet("udp 10.0.0.1:1 -> 10.0.0.2:53 vlan 7")
            .unwrap()
            .build();
        let unreachable = Answer::Unreachable { v6: false, code: 3 };
        assert_eq!(answer(&frame, RejectWith::Default, true), unreachable);
        assert!(!answer(&frame, RejectWith::Default, false).sent());
    }
}
