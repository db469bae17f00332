//! The same ClassBench filters written for every contender: a sockc rule file per hook
//! (the testkit's converter), nftables one rule per filter in a netdev ingress chain,
//! nftables as layered interval verdict maps ([`super::layers`]), and an
//! `iptables-restore` file for the raw table's PREROUTING chain (loaded by both
//! iptables backends).
//!
//! Invariant: every form gives filter `i` the verdict [`POLICY`] gives it (even
//! filters drop, odd ones accept), keeps ClassBench's first match (a filter's ports
//! are only tested for TCP and UDP, where the converter writes them; no published
//! filter constrains ports on another protocol), and accepts what no filter matches.

use std::fmt::Write as _;

use sockc_testkit::classbench::{self, ActionPolicy, ConvertOptions, Filter};

use super::layers;

/// Filter `i` drops if `i` is even: the first rule drops.
pub const POLICY: ActionPolicy = ActionPolicy::AlternateDropFirst;

/// Whether filter `index` accepts.
pub fn accepts(index: usize) -> bool {
    classbench::action_of(POLICY, index) == "allow"
}

/// The sockc rule file for `hook` (`xdp on IF`, `tc ingress on IF`).
pub fn sockc(filters: &[Filter], hook: &str) -> String {
    classbench::to_sk(
        filters,
        &ConvertOptions {
            hook: hook.into(),
            policy: POLICY,
            default: "allow",
        },
    )
}

const NFT_TABLE: &str = "sockc_peer";

/// The chain header every nft form shares: a netdev ingress base chain on `device`.
fn nft_chain_header(device: &str) -> String {
    format!(
        "    chain ingress {{\n        type filter hook ingress device \"{device}\" priority 0; policy accept;\n"
    )
}

/// nftables as a user writes it: one rule per filter, in order.
pub fn nft_linear(filters: &[Filter], device: &str) -> String {
    let mut out = format!("table netdev {NFT_TABLE} {{\n{}", nft_chain_header(device));
    for (i, f) in filters.iter().enumerate() {
        let _ = writeln!(out, "        {} {}", nft_match(f), nft_verdict(i));
    }
    out.push_str("    }\n}\n");
    out
}

/// The match of one filter as nft expressions (`meta protocol ip` when nothing
/// else says the packet is IPv4).
pub(crate) fn nft_match(f: &Filter) -> String {
    let mut parts = Vec::new();
    if f.src.prefix_len() > 0 {
        parts.push(format!("ip saddr {}", nft_prefix(f.src)));
    }
    if f.dst.prefix_len() > 0 {
        parts.push(format!("ip daddr {}", nft_prefix(f.dst)));
    }
    let l4 = match f.proto {
        Some(6) => Some("tcp"),
        Some(17) => Some("udp"),
        _ => None,
    };
    match (f.proto, l4) {
        (Some(_), Some(name)) => {
            let mut any_port = true;
            for (field, range) in [("sport", f.sport), ("dport", f.dport)] {
                if range != (0, u16::MAX) {
                    parts.push(format!("{name} {field} {}", nft_range(range)));
                    any_port = false;
                }
            }
            if any_port {
                parts.push(format!("ip protocol {name}"));
            }
        }
        (Some(p), None) => parts.push(format!("ip protocol {p}")),
        (None, _) => {}
    }
    if parts.is_empty() {
        parts.push("meta protocol ip".into());
    }
    parts.join(" ")
}

pub(crate) fn nft_verdict(index: usize) -> &'static str {
    if accepts(index) {
        "accept"
    } else {
        "drop"
    }
}

fn nft_prefix(net: ipnet::Ipv4Net) -> String {
    if net.prefix_len() == 32 {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

fn nft_range((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// nftables as an expert writes it: one interval verdict map per layer of
/// [`layers::assign`], looked up in layer order; the map key is the whole 5-tuple.
/// Also returns the number of layers.
pub fn nft_sets(filters: &[Filter], device: &str) -> (String, usize) {
    let layer = layers::assign(filters, accepts);
    let count = layer.iter().max().map_or(0, |m| *m as usize + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, l) in layer.iter().enumerate() {
        members[*l as usize].push(i);
    }
    let mut out = format!("table netdev {NFT_TABLE} {{\n");
    for (n, m) in members.iter().enumerate() {
        let _ = write!(
            out,
            "    map layer{n} {{\n        type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service : verdict\n        flags interval\n        elements = {{\n"
        );
        let elements: Vec<String> = m
            .iter()
            .map(|&i| {
                format!(
                    "            {} : {}",
                    nft_element(&filters[i]),
                    nft_verdict(i)
                )
            })
            .collect();
        out.push_str(&elements.join(",\n"));
        out.push_str("\n        }\n    }\n");
    }
    out.push_str(&nft_chain_header(device));
    for n in 0..count {
        let _ = writeln!(
            out,
            "        ip saddr . ip daddr . meta l4proto . th sport . th dport vmap @layer{n}"
        );
    }
    out.push_str("    }\n}\n");
    (out, count)
}

/// One map element: prefixes, the protocol (`0-255` for any), the port ranges (the
/// whole range for protocols other than TCP and UDP, whose first four transport bytes
/// are then not ports and must not be constrained).
fn nft_element(f: &Filter) -> String {
    let proto = f.proto.map_or("0-255".to_string(), |p| p.to_string());
    format!(
        "{} . {} . {proto} . {} . {}",
        f.src,
        f.dst,
        nft_range(f.sport),
        nft_range(f.dport)
    )
}

/// The `iptables-restore` input: the raw table, one PREROUTING rule per filter.
pub fn iptables(filters: &[Filter]) -> String {
    let mut out = String::from("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for (i, f) in filters.iter().enumerate() {
        out.push_str("-A PREROUTING");
        if f.src.prefix_len() > 0 {
            let _ = write!(out, " -s {}", f.src);
        }
        if f.dst.prefix_len() > 0 {
            let _ = write!(out, " -d {}", f.dst);
        }
        if let Some(p) = f.proto {
            let name = match p {
                6 => "tcp".to_string(),
                17 => "udp".to_string(),
                n => n.to_string(),
            };
            let _ = write!(out, " -p {name}");
            if p == 6 || p == 17 {
                let ports: Vec<String> = [("sport", f.sport), ("dport", f.dport)]
                    .into_iter()
                    .filter(|(_, r)| *r != (0, u16::MAX))
                    .map(|(field, (lo, hi))| {
                        if lo == hi {
                            format!("--{field} {lo}")
                        } else {
                            format!("--{field} {lo}:{hi}")
                        }
                    })
                    .collect();
                if !ports.is_empty() {
                    let _ = write!(out, " -m {name} {}", ports.join(" "));
                }
            }
        }
        let _ = writeln!(out, " -j {}", if accepts(i) { "ACCEPT" } else { "DROP" });
    }
    out.push_str("COMMIT\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters() -> Vec<Filter> {
        classbench::parse_filters(
            "@22.213.33.126/32\t249.158.184.110/32\t0 : 65535\t1526 : 1526\t0x06/0xFF\t0x0000/0x0200\t\n\
             @0.0.0.0/1\t160.0.0.0/7\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t\n\
             @10.0.0.0/8\t0.0.0.0/0\t1 : 1023\t0 : 65535\t0x11/0xFF\t0x0000/0x0000\t\n\
             @0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x01/0xFF\t0x0000/0x0000\t\n\
             @0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t\n",
        )
        .unwrap()
    }

    #[test]
    fn every_form_writes_one_rule_per_filter_in_order() {
        let f = filters();
        assert_eq!(
            nft_linear(&f, "pb0"),
            "table netdev sockc_peer {\n    chain ingress {\n        type filter hook ingress device \"pb0\" priority 0; policy accept;\n\
             \x20       ip saddr 22.213.33.126 ip daddr 249.158.184.110 tcp dport 1526 drop\n\
             \x20       ip saddr 0.0.0.0/1 ip daddr 160.0.0.0/7 accept\n\
             \x20       ip saddr 10.0.0.0/8 udp sport 1-1023 drop\n\
             \x20       ip protocol 1 accept\n\
             \x20       meta protocol ip drop\n    }\n}\n"
        );
        assert_eq!(
            iptables(&f),
            "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A PREROUTING -s 22.213.33.126/32 -d 249.158.184.110/32 -p tcp -m tcp --dport 1526 -j DROP\n\
             -A PREROUTING -s 0.0.0.0/1 -d 160.0.0.0/7 -j ACCEPT\n\
             -A PREROUTING -s 10.0.0.0/8 -p udp -m udp --sport 1:1023 -j DROP\n\
             -A PREROUTING -p 1 -j ACCEPT\n\
             -A PREROUTING -j DROP\nCOMMIT\n"
        );
        let sk = sockc(&f, "xdp on pb0");
        assert_eq!(sk.lines().filter(|l| l.contains(" ip4")).count(), 5);
        assert!(sk.contains("    drop ip4 tcp from 22.213.33.126/32 to 249.158.184.110/32:1526\n"));
    }

    #[test]
    fn the_set_form_orders_overlapping_filters_by_layer() {
        let (text, layers) = nft_sets(&filters(), "pb0");
        // 0 and 1 are disjoint; 2 (drop) comes after 1 (accept), which it overlaps;
        // 3 (accept) shares a verdict with 1 but overlaps it; 4 (drop) overlaps 3.
        assert_eq!(layers, 3);
        assert!(text.contains(
            "            22.213.33.126/32 . 249.158.184.110/32 . 6 . 0-65535 . 1526 : drop"
        ));
        assert!(
            text.contains("            0.0.0.0/0 . 0.0.0.0/0 . 0-255 . 0-65535 . 0-65535 : drop")
        );
        assert!(text.ends_with(
            "vmap @layer1\n        ip saddr . ip daddr . meta l4proto . th sport . th dport vmap @layer2\n    }\n}\n"
        ));
    }
}
