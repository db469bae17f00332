//! An import called exact stays exact behind any number of IPv6 extension headers.
//! sockc's programs walk at most six (`bpf::ext6::EXT_MAX`), netfilter any number
//! (`ipv6_find_hdr`), and ip6tables drops a chain cut short where a rule tests the
//! protocol. So the residual's `min` chain sends every IPv6 packet with an extension
//! header to its `full` chain, where netfilter decides it by the original's rules
//! (docs/import.md, "The residual"). Here, for `-p tcp --dport 22 -j DROP` as
//! ip6tables-save, nft `ip6` and nft `inet` text, B sends crafted frames to A (an
//! AF_PACKET socket) — a SYN to port 22 behind 0, 6, 7 and 8 destination-options
//! headers, one whose eighth header is cut short, and a SYN to port 80 behind seven —
//! first under the original ruleset, then under its import applied with `sockc
//! apply`, and each frame must pass A's input hook, or not, alike.

use crate::common;
use crate::ext6_frag::packet_socket;
use crate::netns;

use std::{os::fd::AsRawFd, process::Command, time::Duration};

use netns::{in_netns, run, sockc, Lab};
use sockc_testkit::packet::{parse_packet, DST_MAC};

/// Frames per probe.
const EACH: u64 = 3;
const DST_HEADERS: &str = "dst,dst,dst,dst,dst,dst,dst,dst";

/// The probes: (name, packet text, frame length to cut the packet to).
fn probes() -> Vec<(String, String, Option<usize>)> {
    let tcp = |port: u16, headers: usize| {
        let mut t = format!("tcp [fd00:67::2]:1000 -> [fd00:67::1]:{port} syn");
        if headers > 0 {
            t.push_str(" ext ");
            t.push_str(&DST_HEADERS[..headers * 4 - 1]);
        }
        t
    };
    let mut out: Vec<(String, String, Option<usize>)> = [0, 1, 6, 7, 8]
        .into_iter()
        .map(|n| (format!("port 22 behind {n}"), tcp(22, n), None))
        .collect();
    // Seven whole headers and the first byte of the eighth: netfilter cannot find the
    // protocol (ip6tables drops it for a `-p` rule), sockc's walk stops at header 60.
    let cut = 14 + 40 + 7 * 8 + 1;
    out.push((
        "port 22, 8th header cut short".into(),
        tcp(22, 8),
        Some(cut),
    ));
    out.push(("port 80 behind 7".into(), tcp(80, 7), None));
    out
}

/// The frames of [`probes`]: a cut one keeps its IPv6 payload length true to what is
/// left, so that it reaches the hooks (ip6_rcv drops a frame shorter than its length).
fn frames() -> Vec<(String, Vec<u8>)> {
    probes()
        .into_iter()
        .map(|(name, text, cut)| {
            let mut f = parse_packet(&text).expect(&text).build();
            if let Some(n) = cut {
                f.truncate(n);
                let payload = (n - 14 - 40) as u16;
                f[18..20].copy_from_slice(&payload.to_be_bytes());
            }
            (name, f)
        })
        .collect()
}

/// Packets that got past A's input hook: delivered to a protocol, or refused by one
/// for a bad header (the cut-short chain, which only the destination-options handler,
/// after the hook, finds broken). Nothing else reaches A: B's IPv6 is off.
fn past_input(ns: &str) -> u64 {
    let out = run(Command::new("ip").args(["netns", "exec", ns, "cat", "/proc/net/snmp6"]));
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .filter(|(k, _)| matches!(*k, "Ip6InDelivers" | "Ip6InHdrErrors"))
        .map(|(_, v)| v.trim().parse::<u64>().expect("counter"))
        .sum()
}

/// Per probe, whether its frames got past A's input hook ([`EACH`] of them, or none).
fn outcomes(lab: &Lab) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for (name, frame) in frames() {
        let before = past_input(&lab.ns_a);
        let dev = lab.if_b.clone();
        in_netns(&lab.ns_b, move || {
            let fd = packet_socket(&dev);
            for _ in 0..EACH {
                // SAFETY: send reads `frame`.
                let n =
                    unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
                assert_eq!(
                    n,
                    frame.len() as isize,
                    "send: {}",
                    std::io::Error::last_os_error()
                );
            }
        });
        std::thread::sleep(Duration::from_millis(150));
        let passed = past_input(&lab.ns_a) - before;
        assert!(
            passed == 0 || passed == EACH,
            "{name}: {passed} of {EACH} passed"
        );
        out.push((name, passed == EACH));
    }
    out
}

/// A's veth takes the crafted frames' destination MAC and an IPv6 address; B's end
/// sends no IPv6 of its own (router solicitations, MLD) that A would count, and A
/// knows B's MAC: a neighbour it could not resolve would send A, for every reset it
/// answers a SYN with, an "address unreachable" error seconds later, counted then.
fn ipv6_lab() -> Lab {
    let lab = Lab::new("iext6", 67);
    let mac = DST_MAC.map(|b| format!("{b:02x}")).join(":");
    netns::ip(&[
        "-n", &lab.ns_a, "link", "set", "dev", &lab.if_a, "address", &mac,
    ]);
    netns::ip(&[
        "-n",
        &lab.ns_a,
        "addr",
        "add",
        "fd00:67::1/64",
        "dev",
        &lab.if_a,
        "nodad",
    ]);
    let src = sockc_testkit::packet::SRC_MAC
        .map(|b| format!("{b:02x}"))
        .join(":");
    netns::ip(&[
        "-n",
        &lab.ns_a,
        "neigh",
        "add",
        "fd00:67::2",
        "lladdr",
        &src,
        "dev",
        &lab.if_a,
        "nud",
        "permanent",
    ]);
    let off = format!("net.ipv6.conf.{}.disable_ipv6=1", lab.if_b);
    let r = run(Command::new("ip").args(["netns", "exec", &lab.ns_b, "sysctl", "-w", &off]));
    assert_eq!(r.code, 0, "{r}");
    lab
}

fn in_a(lab: &Lab, args: &[&str]) {
    let r = run(Command::new("ip")
        .args(["netns", "exec", &lab.ns_a])
        .args(args));
    assert_eq!(r.code, 0, "{r}");
}

/// The original `text` (loaded with `load`) and its import decide every probe alike.
fn alike(lab: &Lab, file: &str, text: &str, load: &[&str]) {
    in_a(lab, &["nft", "flush", "ruleset"]);
    let path = lab.rules(file, text);
    let mut cmd = load.to_vec();
    cmd.push(path.to_str().unwrap());
    in_a(lab, &cmd);
    let want = outcomes(lab);
    let by_name = |name: &str| want.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(
        !by_name("port 22 behind 8") && by_name("port 80 behind 7"),
        "{file}: netfilter itself: {want:?}"
    );
    in_a(lab, &["nft", "flush", "ruleset"]);
    let sk = lab.dir.join(format!("{file}.sk"));
    let import = sockc(&["import", path.to_str().unwrap(), "-o", sk.to_str().unwrap()]);
    assert_eq!(import.code, 0, "{import}");
    assert!(import.stderr.contains("1 exact"), "{import}");
    lab.apply_ok(&sk);
    let got = outcomes(lab);
    sockc(&["flush", "--name", &lab.name]).ok();
    let differ: Vec<String> = want
        .iter()
        .zip(&got)
        .filter(|(w, g)| w.1 != g.1)
        .map(|(w, _)| format!("{} (netfilter passed: {})", w.0, w.1))
        .collect();
    assert!(
        differ.is_empty(),
        "{file}: the import decides otherwise: {differ:?}"
    );
}

#[test]
fn the_import_decides_like_netfilter_behind_any_number_of_extension_headers() {
    if !common::kernel() {
        return;
    }
    let lab = ipv6_lab();
    let saved = "# Generated by ip6tables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n\
                 :FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n";
    alike(&lab, "ext6.rules", saved, &["ip6tables-restore"]);
    for family in ["ip6", "inet"] {
        let nft = format!(
            "table {family} f {{\n\tchain input {{\n\t\ttype filter hook input priority 0; \
             policy accept;\n\t\ttcp dport 22 drop\n\t}}\n}}\n"
        );
        alike(&lab, &format!("ext6-{family}.nft"), &nft, &["nft", "-f"]);
    }
}
