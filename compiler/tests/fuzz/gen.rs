//! Grammar-aware inputs: rule files built from the grammar's own shapes (sets, sockets,
//! hook blocks of every kind, rules with every match, condition and target, defaults),
//! most of them well-formed, then marred the ways people and tools mar them — typos,
//! words from nftables and iptables, a missing `}`, a declaration inside a block,
//! stray or invisible characters, lines far too long, blocks repeated.

use super::rng::Rng;

const IFACES: &[&str] = &[
    "eth0",
    "lo",
    "veth-a",
    "\"eth1\"",
    "\"et\0h\"",
    "\"\"",
    "this-name-is-far-too-long",
    "a/b",
    "\"sp ace\"",
];
const V4: &[&str] = &[
    "10.0.0.0/8",
    "192.0.2.1",
    "0.0.0.0/0",
    "1.2.3.4/32",
    "10.0.0.1/8",
    "300.1.1.1",
    "1.2.3.4/33",
    "010.1.1.1",
];
const V6: &[&str] = &[
    "2001:db8::/32",
    "::1",
    "::/0",
    "2001:db8::1:53",
    "fe80::1/129",
    "ece::/16",
    "2001:db8::1",
    "1:2:3:4:5:6:7:8",
    "::ffff:10.0.0.1",
];
const PORTS: &[&str] = &[
    "53",
    "0",
    "65535",
    "65536",
    "1024-65535",
    "90-80",
    "*",
    "@web",
    "@nets",
    "ssh",
    "99999999999",
];
const FLAGS: &[&str] = &[
    "syn", "ack", "!ack", "fin", "rst", "psh", "urg", "ece", "cwr", "! syn",
];
const ICMP_TYPES: &[&str] = &["8", "echo-request", "echo-reply", "no-such-type", "300"];
const CONDS: &[&str] = &[
    "if socket exists",
    "if no socket",
    "if listening",
    "if established",
    "if",
    "if socket",
];
const FOREIGN: &[&str] = &[
    "accept",
    "reject",
    "dport 22",
    "sport 53",
    "counter",
    "ip saddr",
    "ct state established",
    "-p tcp",
    "--dport 80",
    "policy accept",
    "ACCEPT",
    "log",
    "jump x",
    "iifname eth0",
];
const TYPOS: &[(&str, &str)] = &[
    ("drop", "dorp"),
    ("allow", "alow"),
    ("default", "defualt"),
    ("ingress", "ingres"),
    ("xdp", "xpd"),
    ("tcp", "tpc"),
    ("from", "frm"),
    ("established", "establised"),
];
/// Characters that have no place in a rule file.
const ODD: &[&str] = &[
    "\0",
    "\u{feff}",
    "\u{1b}[2J",
    "\u{7f}",
    "\r",
    "\u{202e}",
    "\u{200b}",
    "é",
    "€",
    "𝄞",
    "\u{2013}",
    "\u{201c}",
    "\t",
    "\u{a0}",
];

/// Builds one rule file (as text) and, now and then, mars it.
pub fn file(rng: &mut Rng) -> String {
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..rng.below(7) {
        match rng.below(10) {
            0..=2 => lines.push(set_decl(rng)),
            3 => lines.push(socket_decl(rng)),
            _ => hook_block(rng, &mut lines),
        }
    }
    if rng.one_in(3) {
        mar(rng, &mut lines);
    }
    let sep = if rng.one_in(8) { "\r\n" } else { "\n" };
    let mut text = lines.join(sep);
    if !rng.one_in(6) {
        text.push_str(sep);
    }
    text
}

fn addr(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => "*".into(),
        1 => format!("@{}", rng.pick(&["nets", "web", "nope", "file_set"])),
        2 | 3 => rng.pick(V6).to_string(),
        _ => rng.pick(V4).to_string(),
    }
}

fn endpoint(rng: &mut Rng) -> String {
    let a = addr(rng);
    let port = rng.pick(PORTS);
    match rng.below(4) {
        0 => a,
        1 if a.contains(':') => format!("[{a}]:{port}"),
        _ if a.contains(':') => a,
        _ => format!("{a}:{port}"),
    }
}

fn set_decl(rng: &mut Rng) -> String {
    let name = rng.pick(&["nets", "web", "file_set", "x", "nets"]);
    if rng.one_in(4) {
        let path = rng.pick(&[
            "good.txt",
            "bad.txt",
            "long.txt",
            "outside.txt",
            "missing.txt",
            "../good.txt",
            "/etc/passwd",
            "sub/../good.txt",
            "fifo",
            "\0",
        ]);
        return format!("set {name} = file \"{path}\"");
    }
    let elems: Vec<String> = (0..rng.below(6))
        .map(|_| {
            if rng.one_in(3) {
                rng.pick(PORTS).to_string()
            } else {
                addr(rng)
            }
        })
        .collect();
    let sep = if rng.one_in(3) { ",\n  " } else { ", " };
    format!("set {name} = {{ {} }}", elems.join(sep))
}

fn socket_decl(rng: &mut Rng) -> String {
    let name = rng.pick(&["proxy", "dns", "proxy"]);
    let proto = rng.pick(&["tcp", "udp", "icmp"]);
    match rng.below(3) {
        0 => format!("socket {name} = {proto}"),
        1 => format!("socket {name} = {proto} 127.0.0.1:8080"),
        _ => format!("socket {name} = {proto} [::1]:53"),
    }
}

fn head(rng: &mut Rng) -> String {
    match rng.below(8) {
        0..=2 => format!("xdp on {}", rng.pick(IFACES)),
        3 | 4 => format!(
            "tc {} on {}",
            rng.pick(&["ingress", "egress", "sideways"]),
            rng.pick(IFACES)
        ),
        5 => "sk_lookup".into(),
        6 => "sockmap cgroup \"/sys/fs/cgroup/app\"".into(),
        _ => format!("xdp {}", rng.pick(IFACES)),
    }
}

fn rule(rng: &mut Rng) -> String {
    let mut parts: Vec<String> = vec![rng
        .pick(&["allow", "drop", "count", "pass", "redirect"])
        .to_string()];
    for _ in 0..rng.below(6) {
        parts.push(match rng.below(9) {
            0 => rng
                .pick(&[
                    "tcp",
                    "udp",
                    "icmp",
                    "icmpv6",
                    "any",
                    "proto 47",
                    "proto 300",
                ])
                .to_string(),
            1 => rng.pick(&["ip4", "ip6"]).to_string(),
            2 => format!("from {}", endpoint(rng)),
            3 | 4 => format!("to {}", endpoint(rng)),
            5 => rng.pick(FLAGS).to_string(),
            6 => format!("type {}", rng.pick(ICMP_TYPES)),
            7 => format!("code {}", rng.below(300)),
            _ => endpoint(rng),
        });
    }
    if rng.one_in(4) {
        parts.push(rng.pick(CONDS).to_string());
    }
    if rng.one_in(6) {
        parts.push(
            rng.pick(&["to sock proxy", "local", "to sock nope"])
                .to_string(),
        );
    }
    parts.join(" ")
}

fn hook_block(rng: &mut Rng, lines: &mut Vec<String>) {
    let head = head(rng);
    let mut stmts: Vec<String> = (0..rng.below(12)).map(|_| rule(rng)).collect();
    if rng.one_in(4) && !stmts.is_empty() {
        // A duplicated rule.
        let i = rng.below(stmts.len());
        stmts.insert(i, stmts[i].clone());
    }
    if !rng.one_in(8) {
        stmts.push(format!(
            "default {}",
            rng.pick(&["allow", "drop", "pass", "accept"])
        ));
    }
    if rng.one_in(5) {
        // All on one line.
        lines.push(format!("{head} {{ {} }}", stmts.join("; ")));
        return;
    }
    lines.push(format!("{head} {{"));
    for s in stmts {
        let indent = rng.pick(&["    ", "\t", "", "  "]);
        let comment = if rng.one_in(6) { "   # note" } else { "" };
        lines.push(format!("{indent}{s}{comment}"));
    }
    lines.push("}".into());
}

/// One or a few of the mistakes people and tools make.
fn mar(rng: &mut Rng, lines: &mut Vec<String>) {
    for _ in 0..1 + rng.below(3) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = rng.below(lines.len());
        match rng.below(11) {
            // A block that never closes.
            0 => {
                if let Some(j) = lines.iter().position(|l| l == "}") {
                    lines.remove(j);
                }
            }
            1 => {
                let (good, bad) = *rng.pick(TYPOS);
                lines[i] = lines[i].replacen(good, bad, 1);
            }
            2 => lines.insert(i, format!("    {} tcp", rng.pick(FOREIGN))),
            3 => {
                let odd = rng.pick(ODD);
                let at = floor(&lines[i], rng.below(lines[i].len() + 1));
                lines[i].insert_str(at, odd);
            }
            // A declaration inside a block.
            4 => lines.insert(i, set_decl(rng)),
            // A very long line, or a line of many braces.
            5 => {
                let n = [100, 1_000, 70_000][rng.below(3)];
                lines.insert(
                    i,
                    match rng.below(3) {
                        0 => format!("set wide = {{ 10.0.0.1,{}10.0.0.1 }}", " ".repeat(n)),
                        1 => "{".repeat(n),
                        _ => format!("xdp on eth0 {{ drop to {} }}", "1.2.3.4 ".repeat(n / 8)),
                    },
                );
            }
            6 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            7 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            8 => {
                let at = floor(&lines[i], rng.below(lines[i].len() + 1));
                lines[i].truncate(at);
            }
            9 => lines.insert(0, "\u{feff}".into()),
            _ => lines.insert(i, rule(rng)),
        }
    }
}

fn floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
