//! Seeded netfilter rulesets for the import's tests (issue 48, "no silent change"):
//! [`nft_ruleset`] writes `nft list ruleset`-style text — tables of each family, base
//! chains at several hooks and priorities, user chains reached by jumps and gotos
//! (only forward, so never a loop), returns, named, dynamic and catch-all sets,
//! verdict maps, concatenations, NAT, and constructs sockc's language lacks — and
//! [`iptables_ruleset`] `iptables-save` / `ip6tables-save` text with its `# Generated
//! by` line. The same seed gives the same rulesets ([`crate::rng`]).
//!
//! Invariant: what they write is what the import must read (no syntax error); most of
//! it `nft -f` / `iptables-restore` load too, but not all (a `reject` in a prerouting
//! chain, say): a test that loads them into the kernel checks each first.

use crate::rng::Rng;

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    Ip,
    Ip6,
    Inet,
}

/// A match that fits a table of family `f`; `sets` are the table's set names (with
/// their element type: 4 or 6 addresses, `p` ports).
fn nft_match(rng: &mut Rng, f: Fam, sets: &[(String, char)]) -> String {
    let v4 = [
        "ip saddr 10.0.0.0/8",
        "ip daddr 192.0.2.1",
        "ip saddr != 172.16.0.0/12",
        "ip protocol icmp",
        "icmp type echo-request",
        "ip daddr . tcp dport { 10.0.0.1 . 22, 10.0.0.2 . 80 }",
        "ip ttl 64",
        "ip dscp { ef, af41 }",
        "ip ecn ce ip dscp != cs0",
        "ip length > 1400",
        "ip length { 28-84, 1500 }",
        "ip protocol ipv6-icmp",
        "fib daddr type local",
    ];
    let v6 = [
        "ip6 saddr 2001:db8::/32",
        "ip6 daddr ::1",
        "icmpv6 type { echo-request, nd-neighbor-solicit }",
        "ip6 hoplimit 255",
        "ip6 dscp 0x08-0x0f",
        "ip6 ecn { ect0, ect1 }",
        "ip6 length < 8",
        "ip6 length != 1240",
        "meta l4proto ipv6-icmp",
        "ip6 nexthdr icmp",
    ];
    let any = [
        "tcp dport 22",
        "tcp dport { 80, 443 }",
        "meta length < 28",
        "meta length { 40-44, 60-64 }",
        "meta length > 65530",
        "udp dport 53",
        "tcp sport 1024-65535",
        "th dport 8080",
        "meta l4proto { tcp, udp }",
        "meta l4proto { icmp, ipv6-icmp }",
        "meta l4proto icmp",
        "iifname \"eth0\"",
        "iifname \"lo\"",
        "oifname \"wg*\"",
        "iif \"lo\"",
        "meta iif != \"lo\"",
        "oif \"lo\"",
        "iif 7",
        "oif { \"lo\", 9 }",
        "ct state established,related",
        "ct state new",
        "ct state invalid",
        "ct status dnat",
        "tcp flags syn / syn,ack",
        "tcp flags ! fin,rst",
        "meta mark 0x1",
        "limit rate 5/second",
        "limit rate 1 kbytes / second",
        "meta pkttype broadcast",
        "meta nfproto ipv6",
        "meta nfproto ipv4",
        "socket cgroupv2 level 1 \"app\"",
        "socket cgroupv2 level 2 { \"system.slice/a.service\", \"system.slice/b.service\" }",
        "socket cgroupv2 level 1 != \"app\"",
        "socket cgroupv2 level 3 \"system.slice/a.service\"",
    ];
    let r = rng.below(10);
    if r == 0 && !sets.is_empty() {
        let (name, kind) = &sets[rng.below(sets.len())];
        return match kind {
            '4' if f != Fam::Ip6 => format!("ip saddr @{name}"),
            '6' if f != Fam::Ip => format!("ip6 daddr @{name}"),
            'p' => format!("tcp dport @{name}"),
            _ => "tcp dport 22".into(),
        };
    }
    match (f, r) {
        (Fam::Ip, 1..=3) | (Fam::Inet, 1..=2) => pick(rng, &v4).into(),
        (Fam::Ip6, 1..=3) | (Fam::Inet, 3..=4) => pick(rng, &v6).into(),
        _ => {
            let m = pick(rng, &any);
            // a family test contrary to the table's family is legal but dull; keep it
            match (f, m) {
                (Fam::Ip, "meta nfproto ipv6") | (Fam::Ip6, "meta nfproto ipv4") => {
                    "tcp dport 22".into()
                }
                _ => m.into(),
            }
        }
    }
}

/// A verdict for a rule of chain `chain` (user chains `users`, those after it
/// reachable without a loop), or a statement with no verdict.
fn nft_verdict(
    rng: &mut Rng,
    users: &[String],
    user_from: usize,
    in_user: bool,
    dynamic: Option<&str>,
) -> String {
    let later = &users[user_from.min(users.len())..];
    match rng.below(14) {
        0..=3 => "accept".into(),
        4..=5 => "drop".into(),
        6 => "reject".into(),
        7 => "counter".into(),
        8 if !later.is_empty() => format!("jump {}", later[rng.below(later.len())]),
        9 if !later.is_empty() => format!("goto {}", later[rng.below(later.len())]),
        10 if in_user => "return".into(),
        11 => "tcp dport vmap { 22 : accept, 23 : drop }".into(),
        12 => match dynamic {
            Some(d) => format!("add @{d} {{ ip saddr }}"),
            None => "log prefix \"x \" drop".into(),
        },
        13 => "meta mark set 0x2".into(),
        _ => "accept".into(),
    }
}

pub fn nft_ruleset(rng: &mut Rng) -> String {
    let mut out = String::new();
    let tables = 1 + rng.below(2);
    for t in 0..tables {
        let f = [Fam::Ip, Fam::Ip6, Fam::Inet][rng.below(3)];
        let fam = match f {
            Fam::Ip => "ip",
            Fam::Ip6 => "ip6",
            Fam::Inet => "inet",
        };
        out += &format!("table {fam} t{t} {{\n");
        let mut sets: Vec<(String, char)> = Vec::new();
        let mut dynamic = None;
        if f != Fam::Ip6 && rng.below(3) == 0 {
            let flags = pick(
                rng,
                &["", "flags interval\n", "flags dynamic\n", "flags timeout\n"],
            );
            let elems = pick(
                rng,
                &[
                    "elements = { 192.0.2.1, 198.51.100.0/24 }\n",
                    "elements = { 192.0.2.7, * }\n",
                    "",
                ],
            );
            let elems = if flags.is_empty() && elems.contains('/') {
                "elements = { 192.0.2.1, 192.0.2.9 }\n"
            } else {
                elems
            };
            out += &format!("\tset a4 {{\n\t\ttype ipv4_addr\n\t\t{flags}\t\t{elems}\t}}\n");
            sets.push(("a4".into(), '4'));
            if flags.contains("dynamic") || flags.contains("timeout") {
                dynamic = Some("a4");
            }
        }
        if rng.below(3) == 0 {
            out += "\tset ports {\n\t\ttype inet_service\n\t\telements = { 22, 443 }\n\t}\n";
            sets.push(("ports".into(), 'p'));
        }
        if f != Fam::Ip && rng.below(4) == 0 {
            out += "\tset a6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { 2001:db8::/48 }\n\t}\n";
            sets.push(("a6".into(), '6'));
        }
        let users: Vec<String> = (0..rng.below(3)).map(|i| format!("u{i}")).collect();
        let bases = 1 + rng.below(3);
        for b in 0..bases {
            let hook = pick(rng, &["input", "input", "forward", "output", "prerouting"]);
            let prio = pick(
                rng,
                &[
                    "filter",
                    "filter - 5",
                    "filter + 10",
                    "0",
                    "-150",
                    "raw",
                    "10",
                ],
            );
            let policy = pick(rng, &["accept", "drop"]);
            out += &format!(
                "\tchain b{b} {{\n\t\ttype filter hook {hook} priority {prio}; policy {policy};\n"
            );
            for _ in 0..rng.below(6) {
                out += &nft_rule(rng, f, &sets, &users, 0, false, dynamic);
            }
            out += "\t}\n";
        }
        for (i, u) in users.iter().enumerate() {
            out += &format!("\tchain {u} {{\n");
            for _ in 0..rng.below(5) {
                out += &nft_rule(rng, f, &sets, &users, i + 1, true, dynamic);
            }
            out += "\t}\n";
        }
        if f != Fam::Ip6 && rng.below(5) == 0 {
            out += "\tchain nat_pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tip daddr 192.0.2.1 tcp dport 8080 dnat ip to 10.0.0.2:80\n\t}\n";
        }
        out += "}\n";
    }
    out
}

fn nft_rule(
    rng: &mut Rng,
    f: Fam,
    sets: &[(String, char)],
    users: &[String],
    user_from: usize,
    in_user: bool,
    dynamic: Option<&str>,
) -> String {
    let matches: Vec<String> = (0..rng.below(3)).map(|_| nft_match(rng, f, sets)).collect();
    let verdict = nft_verdict(rng, users, user_from, in_user, dynamic);
    let mut words = matches.join(" ");
    if !words.is_empty() {
        words.push(' ');
    }
    // `add @set { ip saddr }` needs an IPv4 packet: nft adds the dependency itself
    format!("\t\t{words}{verdict}\n")
}

pub fn iptables_ruleset(rng: &mut Rng) -> String {
    let v6 = rng.below(3) == 0;
    let (tool, a, b) = if v6 {
        ("ip6tables-save", "2001:db8::/32", "::1/128")
    } else {
        ("iptables-save", "10.0.0.0/8", "192.0.2.1/32")
    };
    let mut out = format!("# Generated by {tool} v1.8.9\n*filter\n");
    let users: Vec<String> = (0..rng.below(3)).map(|i| format!("U{i}")).collect();
    for c in ["INPUT", "FORWARD", "OUTPUT"] {
        out += &format!(":{c} {} [0:0]\n", pick(rng, &["ACCEPT", "DROP"]));
    }
    for u in &users {
        out += &format!(":{u} - [0:0]\n");
    }
    // `-f` (a later fragment) is IPv4's alone.
    let frag = if v6 { "-p udp" } else { "-f" };
    let not_frag = if v6 { "! -p udp" } else { "! -f" };
    let ms = [
        frag.into(),
        not_frag.into(),
        format!("-s {a}"),
        format!("-d {b}"),
        format!("! -s {a}"),
        "-p tcp -m tcp --dport 22".into(),
        "-p udp -m udp --dport 53".into(),
        "-p tcp -m multiport --dports 80,443".into(),
        "-i eth0".into(),
        "-o lo".into(),
        "-m conntrack --ctstate RELATED,ESTABLISHED".into(),
        "-m conntrack --ctstate NEW".into(),
        "-m state --state INVALID".into(),
        "-p tcp -m tcp --tcp-flags SYN,RST,ACK SYN".into(),
        "-m limit --limit 5/sec".into(),
        "-m mark --mark 0x1".into(),
        "-m addrtype --dst-type LOCAL".into(),
        "-p tcp -m tcp --dport 1000 -m recent --set --name k --rsource".into(),
        "-p tcp -m tcp --dport 22 -m recent --rcheck --seconds 30 --name k --rsource".into(),
        "-m comment --comment \"x\"".into(),
        "-m dscp --dscp 0x2e".into(),
        "-m tos ! --tos 0x10/0x3f".into(),
        "-m ecn --ecn-ip-ect 3".into(),
        "-m length --length 0:27".into(),
        "-m length ! --length 28:1500".into(),
        "-m length --length 1200:".into(),
        "-p icmp".into(),
        "-p ipv6-icmp".into(),
        "-m cgroup --path app".into(),
        "-m cgroup ! --path \"/system.slice/a.service/\"".into(),
        "-m cgroup --cgroup 0x100001".into(),
    ];
    let chains: Vec<(String, usize, bool)> = ["INPUT", "FORWARD", "OUTPUT"]
        .iter()
        .map(|c| (c.to_string(), 0, false))
        .chain(
            users
                .iter()
                .enumerate()
                .map(|(i, u)| (u.clone(), i + 1, true)),
        )
        .collect();
    for (c, from, user) in &chains {
        for _ in 0..rng.below(6) {
            let m: Vec<&str> = (0..rng.below(3))
                .map(|_| ms[rng.below(ms.len())].as_str())
                .collect();
            let later = &users[(*from).min(users.len())..];
            let target = match rng.below(10) {
                0..=3 => "-j ACCEPT".to_string(),
                4..=5 => "-j DROP".to_string(),
                6 => "-j REJECT".to_string(),
                7 if !later.is_empty() => format!("-j {}", later[rng.below(later.len())]),
                8 if *user => "-j RETURN".to_string(),
                9 => "-j LOG --log-prefix \"x \"".to_string(),
                _ => String::new(),
            };
            out += &format!("-A {c} {} {target}\n", m.join(" "));
        }
    }
    out += "COMMIT\n";
    if !v6 && rng.below(4) == 0 {
        out += "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 192.0.2.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80\n-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE\nCOMMIT\n";
    }
    out
}
