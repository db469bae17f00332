//! The bindings of the sk_lookup table: (TCP, prefix, port or every port) → one of
//! [`SOCKETS`] sockets, like tubular's, as sockc rules and as the lookups that hit
//! them. Invariant: the bindings' prefixes are disjoint, so first match (sockc) and
//! tubular's precedence (longest prefix, then the specific port) pick the same socket.

use std::net::SocketAddr;

/// Sockets the bindings point at.
pub const SOCKETS: usize = 4;

/// One binding: prefix `10.a.b.0/24` (or `/32` for every third), a port or every
/// port (every fourth), socket `i % 4`. Distinct `i` below 65,536 give disjoint
/// prefixes.
pub struct Binding {
    pub net: [u8; 4],
    pub plen: u8,
    pub port: Option<u16>,
    pub socket: usize,
}

/// `n` bindings; see [`Binding`].
pub fn bindings(n: usize) -> Vec<Binding> {
    (0..n)
        .map(|i| {
            let (a, b) = ((i / 256 % 256) as u8, (i % 256) as u8);
            let host = i % 3 == 0;
            Binding {
                net: [10, a, b, if host { 7 } else { 0 }],
                plen: if host { 32 } else { 24 },
                port: (i % 4 != 0).then_some(1000 + (i % 5000) as u16),
                socket: i % SOCKETS,
            }
        })
        .collect()
}

/// The bindings as sockc rules: `redirect tcp to PREFIX:PORT to sock S` (`:*` for
/// every port), socket `sK` declared for each destination.
pub fn sockc_source(bs: &[Binding]) -> String {
    let mut s = String::new();
    for k in 0..SOCKETS {
        s.push_str(&format!("socket s{k} = tcp 127.0.0.1:{}\n", 1001 + k));
    }
    s.push_str("sk_lookup {\n");
    for b in bs {
        let [a, x, y, z] = b.net;
        let port = b.port.map_or("*".to_string(), |p| p.to_string());
        s.push_str(&format!(
            "    redirect tcp to {a}.{x}.{y}.{z}/{}:{port} to sock s{}\n",
            b.plen, b.socket
        ));
    }
    s.push_str("    default pass\n}\n");
    s
}

/// A lookup that hits binding `b` (from 192.0.2.1:40000).
pub fn lookup_of(b: &Binding) -> (SocketAddr, SocketAddr) {
    let [a, x, y, _] = b.net;
    let host = if b.plen == 32 { b.net[3] } else { 9 };
    (
        "192.0.2.1:40000".parse().unwrap(),
        SocketAddr::from(([a, x, y, host], b.port.unwrap_or(4242))),
    )
}
