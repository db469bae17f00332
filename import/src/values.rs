//! Addresses, prefixes, ranges and numbers as both tools print them, as the integer
//! ranges the model keeps.
//!
//! Invariant: a parsed prefix is the whole range of addresses it covers (host bits,
//! if the text has any, are ignored as the kernel ignores them); a mask that is not
//! a prefix is refused rather than approximated.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::model::IpVersion;

/// An address or prefix: (first, last, version).
pub fn prefix(text: &str) -> Option<(u128, u128, IpVersion)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    if let Ok(a) = addr.parse::<Ipv4Addr>() {
        let a = u32::from(a) as u128;
        let len = match len {
            None => 32,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if n <= 32 => n,
                Ok(_) => return None,
                Err(_) => mask_len(u32::from(l.parse::<Ipv4Addr>().ok()?) as u128, 32)?,
            },
        };
        let (lo, hi) = block(a, len, 32);
        return Some((lo, hi, IpVersion::V4));
    }
    let a = u128::from(addr.parse::<Ipv6Addr>().ok()?);
    let len = match len {
        None => 128,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if n <= 128 => n,
            Ok(_) => return None,
            Err(_) => mask_len(u128::from(l.parse::<Ipv6Addr>().ok()?), 128)?,
        },
    };
    let (lo, hi) = block(a, len, 128);
    Some((lo, hi, IpVersion::V6))
}

/// `address/mask` with any mask (iptables prints masks that are not prefixes in full):
/// the address, the mask and the version.
pub fn masked(text: &str) -> Option<(u128, u128, IpVersion)> {
    let (a, m) = text.split_once('/')?;
    if let (Ok(a), Ok(m)) = (a.parse::<Ipv4Addr>(), m.parse::<Ipv4Addr>()) {
        return Some((u32::from(a) as u128, u32::from(m) as u128, IpVersion::V4));
    }
    let (a, m) = (a.parse::<Ipv6Addr>().ok()?, m.parse::<Ipv6Addr>().ok()?);
    Some((u128::from(a), u128::from(m), IpVersion::V6))
}

/// The prefix length of a contiguous mask of `bits` bits.
fn mask_len(mask: u128, bits: u32) -> Option<u32> {
    let ones = mask.count_ones();
    let expect = if ones == 0 {
        0
    } else {
        (((1u128 << ones) - 1) << (bits - ones)) & full(bits)
    };
    (mask == expect).then_some(ones)
}

fn full(bits: u32) -> u128 {
    if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The range of `len`-bit prefix `a` in a `bits`-bit space.
pub fn block(a: u128, len: u32, bits: u32) -> (u128, u128) {
    let host = bits - len;
    let hostmask = if host == 0 { 0 } else { full(host) };
    let lo = a & !hostmask & full(bits);
    (lo, lo | hostmask)
}

/// `a-b` of addresses (one version): (first, last, version).
pub fn addr_range(text: &str) -> Option<(u128, u128, IpVersion)> {
    let (a, b) = text.split_once('-')?;
    let (lo, _, va) = prefix(a)?;
    let (hi, _, vb) = prefix(b)?;
    (va == vb && !a.contains('/') && !b.contains('/')).then_some((lo, hi, va))
}

/// A number: decimal or `0x` hex.
pub fn number(text: &str) -> Option<u128> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A port or port range, `a:b` (iptables) or `a-b` (nft); an open end (`:b`, `a:`)
/// is 0 or 65535.
pub fn port_range(text: &str) -> Option<(u128, u128)> {
    let (a, b) = match text.split_once(':').or_else(|| text.split_once('-')) {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let lo = if a.is_empty() {
        0
    } else {
        a.parse::<u16>().ok()? as u128
    };
    let hi = if b.is_empty() {
        65535
    } else {
        b.parse::<u16>().ok()? as u128
    };
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_masks_and_ranges() {
        assert_eq!(
            prefix("10.0.0.0/8"),
            Some((0x0a00_0000, 0x0aff_ffff, IpVersion::V4))
        );
        assert_eq!(
            prefix("10.1.2.3/8"),
            Some((0x0a00_0000, 0x0aff_ffff, IpVersion::V4))
        );
        assert_eq!(prefix("10.0.0.0/255.0.0.0"), prefix("10.0.0.0/8"));
        assert_eq!(prefix("10.0.0.0/255.0.255.0"), None);
        assert_eq!(
            prefix("0.0.0.0/0"),
            Some((0, u32::MAX as u128, IpVersion::V4))
        );
        assert_eq!(prefix("::/0"), Some((0, u128::MAX, IpVersion::V6)));
        assert_eq!(prefix("fe80::/10").map(|p| p.2), Some(IpVersion::V6));
        assert_eq!(prefix("1.2.3.4/33"), None);
        assert_eq!(
            addr_range("10.0.0.1-10.0.0.9"),
            Some((0x0a00_0001, 0x0a00_0009, IpVersion::V4))
        );
        assert_eq!(port_range("1024:"), Some((1024, 65535)));
        assert_eq!(port_range("80"), Some((80, 80)));
        assert_eq!(port_range("90:80"), None);
        assert_eq!(number("0x4000"), Some(0x4000));
    }
}
