//! The entries of an address set's maps, one map per family: keys `{u32 prefixlen
//! (little endian); address}`, every value 1, and whether every element is a whole
//! address (which makes the map a hash map, `maps::set_map_type`). A set may hold a
//! million elements, so each key is made whole as an array and pushed once, in one
//! pass over the prefixes that also finds whether they are whole addresses.
//!
//! Invariant: key `i` is element `i`'s prefix length and network address, in the
//! set's order; the keys and values are whole (as many values as keys).

use ipnet::{Ipv4Net, Ipv6Net};

use super::entries::Entries;

/// The entries of a set's IPv4 elements, and whether all of them are /32s.
pub(crate) fn v4_entries(nets: &[Ipv4Net]) -> (Entries, bool) {
    entries(nets, |n| {
        (
            lpm_key::<4, 8>(n.prefix_len(), n.network().octets()),
            n.prefix_len() == 32,
        )
    })
}

/// The entries of a set's IPv6 elements, and whether all of them are /128s.
pub(crate) fn v6_entries(nets: &[Ipv6Net]) -> (Entries, bool) {
    entries(nets, |n| {
        (
            lpm_key::<16, 20>(n.prefix_len(), n.network().octets()),
            n.prefix_len() == 128,
        )
    })
}

/// The entries of `nets` keyed by `key` (an element's key and whether it is a whole
/// address), and whether all of them are. The keys are pushed as arrays into a vector
/// sized once and flattened without a copy: one store a key, where appending its
/// length and its address to a byte vector took two, each with its length checked
/// against the room left.
fn entries<N, const K: usize>(nets: &[N], key: impl Fn(&N) -> ([u8; K], bool)) -> (Entries, bool) {
    let mut keys: Vec<[u8; K]> = Vec::with_capacity(nets.len());
    let mut whole = true;
    for n in nets {
        let (k, w) = key(n);
        keys.push(k);
        whole &= w;
    }
    let entries = Entries::from_parts(K, 1, keys.into_flattened(), vec![1; nets.len()])
        .expect("as many whole keys as values");
    (entries, whole)
}

/// The key `{u32 prefixlen (little endian); addr}` of a prefix of length `plen` at
/// `addr`; `K` is 4 + `N` (a mismatch panics at the first set compiled, in the tests).
fn lpm_key<const N: usize, const K: usize>(plen: u8, addr: [u8; N]) -> [u8; K] {
    let mut key = [0u8; K];
    key[..4].copy_from_slice(&u32::from(plen).to_le_bytes());
    key[4..].copy_from_slice(&addr);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys are the prefix length (little endian) and the address, in the set's
    /// order, one value 1 each; whole addresses are told apart from shorter prefixes.
    #[test]
    fn set_keys_are_length_then_address_in_order() {
        let v4: Vec<Ipv4Net> = ["10.0.0.1/32", "192.0.2.0/24", "10.0.0.0/8"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (e, whole) = v4_entries(&v4);
        assert!(!whole);
        assert_eq!(e.len(), 3);
        let keys: Vec<&[u8]> = e
            .iter()
            .map(|(k, v)| {
                assert_eq!(v, [1]);
                k
            })
            .collect();
        assert_eq!(
            keys,
            [
                &[32, 0, 0, 0, 10, 0, 0, 1][..],
                &[24, 0, 0, 0, 192, 0, 2, 0],
                &[8, 0, 0, 0, 10, 0, 0, 0]
            ]
        );
        assert!(v4_entries(&v4[..1]).1);
        let v6: Vec<Ipv6Net> = ["2001:db8::1/128"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (e, whole) = v6_entries(&v6);
        assert!(whole);
        let mut want = vec![128, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8];
        want.extend([0; 11]);
        want.push(1);
        assert_eq!(e.iter().next().unwrap().0, &want[..]);
        let (e, whole) = v4_entries(&[]);
        assert!(e.is_empty() && whole);
    }
}
