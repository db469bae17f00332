//! The token decoders both parse paths share (the pest path's builder and the fast
//! scanner): a `prefix4`/`prefix6` token's prefix, a verdict, a protocol name, a TCP
//! flag name.
//!
//! Invariant: one decoder per token, so both paths accept and refuse exactly the same
//! texts.

use std::net::IpAddr;

use ipnet::IpNet;

use super::ast::Verdict;

/// Why the text of a `prefix4`/`prefix6` token is not a usable prefix.
pub(super) enum BadPrefix<'a> {
    /// The address part (given) does not parse.
    Address(&'a str),
    /// The length (given) is above the family's maximum (given).
    Length(&'a str, u8),
    /// Bits are set below the length.
    HostBits(IpNet),
    Invalid,
}

/// Decodes the text of a `prefix4` or `prefix6` token: an address with an optional
/// `/length`. Shared by the pest path and the fast scanner, so both accept and refuse
/// exactly the same texts.
pub(super) fn decode_prefix(text: &str) -> Result<IpNet, BadPrefix<'_>> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| BadPrefix::Address(addr_text))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_text {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(BadPrefix::Length(l, max)),
        },
    };
    let net = IpNet::new(addr, len).map_err(|_| BadPrefix::Invalid)?;
    if net.trunc() != net {
        return Err(BadPrefix::HostBits(net));
    }
    Ok(net)
}

pub(super) fn verdict(s: &str) -> Verdict {
    match s {
        "drop" => Verdict::Drop,
        "pass" => Verdict::Pass,
        _ => Verdict::Allow,
    }
}

/// Protocol numbers of the named protocols (IANA).
pub(crate) fn proto_by_name(s: &str) -> Option<u8> {
    match s {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "icmpv6" => Some(58),
        _ => None,
    }
}

/// TCP header flag bits (RFC 9293, RFC 3168).
pub(crate) fn tcp_flag_bit(s: &str) -> u8 {
    match s {
        "fin" => 0x01,
        "syn" => 0x02,
        "rst" => 0x04,
        "psh" => 0x08,
        "ack" => 0x10,
        "urg" => 0x20,
        "ece" => 0x40,
        _ => 0x80, // cwr
    }
}
