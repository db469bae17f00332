//! The probe lab (`sockc_testkit::probe_lab`) against the kernel's own netfilter, on
//! the import corpus (`tests/import-corpus/rulesets/`, copied from the shared corpus with its
//! SOURCES.md and manifest.json): each ruleset is loaded into the lab's receiver with
//! the tool of its format, and hand-picked probes, whose verdicts follow from reading
//! the ruleset (the comment above each says which rule decides), must come out
//! exactly so — delivered or not, and what the sender got back (each case reads
//! `PROBE => OUTCOME`, in the syntax of `Probe::parse` and `Outcome`'s `Display`). Then every file is
//! probed twice with generated probes (`SOCKC_PROBES`, default 160), reloaded in
//! between, and both runs must agree probe for probe; the timings are printed.
//!
//! These are kernel tests: they need root (namespaces, netfilter) and the `nft`,
//! `iptables-nft-restore` and `ip6tables-nft-restore` tools. Without root they print
//! `SKIP (not root)` and pass, unless `SOCKC_KERNEL_TESTS=require`.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::Value;
use sockc_testkit::probe_lab::{
    generate, probe_count, Format, Generator, Interesting, LabConfig, Outcome, Path, Probe,
    Ruleset, Topology,
};

use crate::common;

fn corpus() -> PathBuf {
    common::root().join("tests/import-corpus/rulesets")
}

/// The entries of manifest.json, one per corpus file.
fn manifest_entries() -> Vec<Value> {
    let text = std::fs::read_to_string(corpus().join("manifest.json")).expect("manifest.json");
    let all: Value = serde_json::from_str(&text).expect("manifest is JSON");
    all.as_array().expect("a list").clone()
}

/// The manifest's entry for a corpus file.
fn manifest(file: &str) -> Value {
    manifest_entries()
        .into_iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} is not in the manifest"))
}

/// The files manifest.json lists.
fn manifest_files() -> std::collections::BTreeSet<String> {
    manifest_entries()
        .iter()
        .map(|e| e["file"].as_str().expect("a file name").to_string())
        .collect()
}

/// The egress interface name the ruleset's FORWARD rules expect.
fn egress(file: &str) -> &'static str {
    if file.contains("docker") {
        "bridge1"
    } else if file.contains("openwrt") || file.contains("home-router") || file.contains("ct-router")
    {
        "br-lan"
    } else if file.contains("wireguard") {
        "eth1"
    } else {
        "fwd0"
    }
}

/// A lab for `file` (ingress named as the manifest says) with the file loaded.
fn lab(file: &str) -> (Topology, Ruleset) {
    let entry = manifest(file);
    let config = LabConfig {
        ingress: entry["iface"].as_str().expect("iface").to_string(),
        egress: egress(file).to_string(),
        cgroup2: sockc_runtime::cgroup::cgroup2_root(),
    };
    let lab = Topology::new(&config).unwrap_or_else(|e| panic!("lab for {file}: {e}"));
    let ruleset = Ruleset::read(&corpus().join(file)).expect("ruleset");
    lab.load(&ruleset)
        .unwrap_or_else(|e| panic!("load {file}: {e}"));
    (lab, ruleset)
}

/// Loads `file` and checks every case of `cases`; all are sent in one run.
fn check(file: &str, cases: &[&str]) {
    if !common::kernel() {
        return;
    }
    let (lab, _) = lab(file);
    expect(&lab, file, cases);
}

/// Probes whatever `lab` holds with `cases` (`PROBE => OUTCOME`); every outcome must
/// be the expected one.
fn expect(lab: &Topology, what: &str, cases: &[&str]) {
    let cases: Vec<(Probe, &str)> = cases
        .iter()
        .map(|c| {
            let (p, want) = c.split_once(" => ").expect("PROBE => OUTCOME");
            (Probe::parse(p).unwrap_or_else(|e| panic!("{p}: {e}")), want)
        })
        .collect();
    let probes: Vec<Probe> = cases.iter().map(|(p, _)| p.clone()).collect();
    let outcomes = lab.probe(&probes).unwrap_or_else(|e| panic!("{what}: {e}"));
    let wrong: Vec<String> = cases
        .iter()
        .zip(&outcomes)
        .filter(|((_, want), got)| got.to_string() != *want)
        .map(|((p, want), got)| format!("  {p}\n    expected: {want}\n    got:      {got}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: {} of {} probes disagree with the ruleset:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// ufw's IPv4 rules (`ufw allow 22/tcp`, `limit 13/tcp`, `deny out on eth0`, ...).
const UFW_IPV4: &[&str] = &[
    // ufw-user-input: tcp dport 22 ACCEPT; the stack resets (no listener).
    "input tcp 198.51.100.7:40000 -> 192.0.2.1:22 syn => delivered, tcp reset",
    // A closed port falls through every chain to INPUT's DROP policy.
    "input tcp 198.51.100.7:40000 -> 192.0.2.1:23 syn => not delivered",
    // udp dport 53 ACCEPT; port unreachable leaves as RELATED.
    "input udp 198.51.100.7:5000 -> 192.0.2.1:53 => delivered, icmp error 3/3",
    // multiport --dports 34,35:39: inside and just outside the range.
    "input udp 198.51.100.7:5000 -> 192.0.2.1:39 => delivered, icmp error 3/3",
    "input udp 198.51.100.7:5000 -> 192.0.2.1:40 => not delivered",
    // -s 192.168.0.1 -d 10.0.0.1 udp --sport 80 ACCEPT, and the next source.
    "input udp 192.168.0.1:80 -> 10.0.0.1:5000 => delivered, icmp error 3/3",
    "input udp 192.168.0.2:80 -> 10.0.0.1:5000 => not delivered",
    // tcp dport 113 REJECT --reject-with tcp-reset.
    "input tcp 198.51.100.7:40000 -> 192.0.2.1:113 syn => not delivered, tcp reset",
    // -d 192.168.0.0/16 multiport 80,443 ACCEPT: inside and outside the prefix.
    "input tcp 198.51.100.7:40000 -> 192.168.255.255:443 syn => delivered, tcp reset",
    "input tcp 198.51.100.7:40000 -> 192.169.0.0:443 syn => not delivered",
    // icmp-type 8 ACCEPT; an ICMP error about nothing is INVALID: DROP.
    "input icmp 198.51.100.7 -> 192.0.2.1 type 8 code 0 => delivered, echo reply",
    "input icmp 198.51.100.7 -> 192.0.2.1 type 3 code 3 => not delivered",
    // mDNS to 224.0.0.251:5353 ACCEPT (ufw-not-local lets multicast through).
    "input udp 198.51.100.7:5353 -> 224.0.0.251:5353 => delivered",
    "input udp 198.51.100.7:5353 -> 224.0.0.252:5353 => not delivered",
    // The receiver's own opener is dropped by `-o eth0 -j DROP` (ufw deny out on
    // eth0), so the reply finds no connection: a NEW packet to a closed port.
    "input reply udp 198.51.100.7:53 -> 192.0.2.1:40000 => not delivered (opener did not leave)",
    // -i lo -j ACCEPT (and -o lo on the way out).
    "loopback tcp 127.0.0.1:40000 -> 127.0.0.1:23 syn => delivered",
    // FORWARD: icmp-type 8 ACCEPT; the echo reply comes back as ESTABLISHED.
    "forward icmp 198.51.100.7 -> 203.0.113.9 type 8 code 0 => delivered, echo reply",
    // FORWARD policy DROP for the rest.
    "forward tcp 198.51.100.7:40000 -> 203.0.113.9:22 syn => not delivered",
    // OUTPUT: ufw-user-output -o eth0 -j DROP.
    "output tcp 192.0.2.1:40000 -> 198.51.100.7:443 syn => not delivered",
];

#[test]
fn ufw_ipv4() {
    check("01-ufw-ipv4.iptables", UFW_IPV4);
}

/// The same file through the legacy x_tables backend (`iptables-legacy-restore`)
/// gives the same outcomes; and after a flush, of either backend, nothing filters.
#[test]
fn legacy_backend_and_flush() {
    if !common::kernel() {
        return;
    }
    let lab = Topology::new(&LabConfig::default()).expect("lab");
    let text = std::fs::read_to_string(corpus().join("01-ufw-ipv4.iptables")).expect("ufw");
    let unfiltered = [
        "input tcp 198.51.100.7:40000 -> 192.0.2.1:23 syn => delivered, tcp reset",
        "forward tcp 198.51.100.7:40000 -> 203.0.113.9:22 syn => delivered, tcp reset",
        "input reply udp 198.51.100.7:53 -> 192.0.2.1:40000 => delivered, icmp error 3/3",
        "output tcp 192.0.2.1:40000 -> 198.51.100.7:443 syn => delivered",
    ];
    for format in [Format::Iptables, Format::IptablesLegacy] {
        lab.load(&Ruleset::new(format, text.clone()))
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        expect(&lab, &format!("ufw through {format:?}"), UFW_IPV4);
        lab.flush().expect("flush");
        expect(&lab, &format!("after flushing {format:?}"), &unfiltered);
    }
}

#[test]
fn ufw_ipv6() {
    check("02-ufw-ipv6.ip6tables", &[
        "input tcp [2001:db9::7]:40000 -> [2001:db8:ffff::1]:22 syn => delivered, tcp reset",
        "input tcp [2001:db9::7]:40000 -> [2001:db8:ffff::1]:23 syn => not delivered",
        // -s 2001:db8::/32 -j ACCEPT, and the prefix's last address.
        "input tcp [2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:40000 -> [2001:db8:ffff::1]:23 syn => delivered, tcp reset",
        // ... but first: -s 2001:db8::/32 -d 2001:db8:3:4:5:6:7:8 udp --sport 80 DROP.
        "input udp [2001:db8:5::7]:80 -> [2001:db8:3:4:5:6:7:8]:5000 => not delivered",
        // -d 2001:db8:85a3:8d3:1319:8a2e:370:7341 multiport --dports 13,80:83.
        "input tcp [2001:db9::7]:40000 -> [2001:db8:85a3:8d3:1319:8a2e:370:7341]:83 syn => delivered, tcp reset",
        "input tcp [2001:db9::7]:40000 -> [2001:db8:85a3:8d3:1319:8a2e:370:7341]:84 syn => not delivered",
        // Neighbour solicitation: untracked, accepted only with hop limit 255.
        "input icmpv6 fe80::7 -> fe80::1 type 135 code 0 hl 255 => delivered",
        "input icmpv6 fe80::7 -> fe80::1 type 135 code 0 => not delivered",
        // MLD query: accepted from fe80::/10 only.
        "input icmpv6 fe80::7 -> ff02::1 type 130 code 0 hl 1 => delivered",
        "input icmpv6 2001:db9::7 -> ff02::1 type 130 code 0 hl 1 => not delivered",
        // Replies to the receiver's own connections: RELATED,ESTABLISHED ACCEPT.
        "input reply udp [2001:db9::7]:53 -> [2001:db8:ffff::1]:40000 => delivered, icmp error 1/4",
        "input reply tcp [2001:db9::7]:443 -> [2001:db8:ffff::1]:40001 syn,ack => delivered, tcp reset",
        "input related udp [2001:db9::7]:53 -> [2001:db8:ffff::1]:40002 => delivered",
        // The same ICMPv6 error about no connection is INVALID: DROP.
        "input icmpv6 2001:db9::7 -> 2001:db8:ffff::1 type 1 code 4 => not delivered",
        // FORWARD: echo request ACCEPT, the rest DROP.
        "forward icmpv6 2001:db9::7 -> 2001:db8:ffff::9 type 128 code 0 => delivered, echo reply",
        "forward udp [2001:db9::7]:5000 -> [2001:db8:ffff::9]:53 => not delivered",
        // OUTPUT: no deny-out rule here; ufw6-track-output accepts new TCP.
        "output tcp [2001:db8:ffff::1]:40000 -> [2001:db9::7]:443 syn => delivered",
    ]);
}

#[test]
fn fail2ban_iptables() {
    check(
        "03-fail2ban-sshd.iptables",
        &[
            // f2b-sshd: -s 203.0.113.7 REJECT icmp-port-unreachable, and the next address.
            "input tcp 203.0.113.7:40000 -> 192.0.2.1:22 syn => not delivered, icmp error 3/3",
            "input tcp 203.0.113.8:40000 -> 192.0.2.1:22 syn => delivered, tcp reset",
            // Banned for sshd only: port 80 goes through f2b-nginx-http-auth and returns.
            "input tcp 203.0.113.66:40000 -> 192.0.2.1:80 syn => delivered, tcp reset",
            "input tcp 198.51.100.23:40000 -> 192.0.2.1:443 syn => not delivered, icmp error 3/3",
            // -p tcp only: UDP from a banned address is delivered (and its closed port
            // answers with the same ICMP error a REJECT would).
            "input udp 203.0.113.7:40000 -> 192.0.2.1:22 => delivered, icmp error 3/3",
        ],
    );
}

#[test]
fn fail2ban_ip6tables() {
    check("04-fail2ban-sshd.ip6tables", &[
        "input tcp [2001:db8:dead::beef]:40000 -> [2001:db8::1]:22 syn => not delivered, icmp error 1/4",
        "input tcp [2001:db8:dead::bef0]:40000 -> [2001:db8::1]:22 syn => delivered, tcp reset",
        "input tcp [2001:db8:ffff::1]:40000 -> [2001:db8::1]:80 syn => delivered, tcp reset",
        "input tcp [2001:db8:1::66]:40000 -> [2001:db8::1]:443 syn => not delivered, icmp error 1/4",
    ]);
}

#[test]
fn fail2ban_nft() {
    check("05-fail2ban-sshd.nft", &[
        // addr-set-sshd holds 203.0.113.64/26: its ends and just outside.
        "input tcp 203.0.113.64:40000 -> 192.0.2.1:22 syn => not delivered, icmp error 3/3",
        "input tcp 203.0.113.127:40000 -> 192.0.2.1:22 syn => not delivered, icmp error 3/3",
        "input tcp 203.0.113.128:40000 -> 192.0.2.1:22 syn => delivered, tcp reset",
        "input tcp 203.0.113.100:40000 -> 192.0.2.1:23 syn => delivered, tcp reset",
        // addr6-set-sshd holds 2001:db8:1::/64.
        "input tcp [2001:db8:1::ffff]:40000 -> [2001:db8::1]:22 syn => not delivered, icmp error 1/4",
        "input tcp [2001:db8:2::1]:40000 -> [2001:db8::1]:22 syn => delivered, tcp reset",
    ]);
}

/// Docker's iptables FORWARD rules, with the container network behind `bridge1`.
#[test]
fn docker_iptables() {
    check(
        "06-docker-bridge.iptables",
        &[
            // DOCKER: -d 192.0.2.2 ! -i bridge1 -o bridge1 tcp dport 80 ACCEPT.
            "forward tcp 198.51.100.7:40000 -> 192.0.2.2:80 syn => delivered, tcp reset",
            // DOCKER: ! -i bridge1 -o bridge1 DROP for every other port and address.
            "forward tcp 198.51.100.7:40000 -> 192.0.2.2:81 syn => not delivered",
            "forward tcp 198.51.100.7:40000 -> 192.0.2.3:80 syn => not delivered",
            // The container's own connection: out through -i bridge1 ! -o bridge1 ACCEPT,
            // its reply in through -o bridge1 RELATED,ESTABLISHED ACCEPT.
            "forward reply tcp 198.51.100.7:443 -> 192.0.2.2:40000 syn,ack => delivered, tcp reset",
            "forward reply udp 198.51.100.7:53 -> 192.0.2.2:40001 => delivered, icmp error 3/3",
            // INPUT is empty with policy ACCEPT.
            "input udp 198.51.100.7:5000 -> 192.0.2.1:53 => delivered, icmp error 3/3",
        ],
    );
}

/// Docker's nftables rules (the same network), as nft text and as nft JSON.
const DOCKER_NFT: &[&str] = &[
    // raw-PREROUTING: ip daddr 192.0.2.2 iifname != "bridge1" drop ("DROP DIRECT
    // ACCESS"), before any FORWARD rule.
    "forward tcp 198.51.100.7:40000 -> 192.0.2.2:80 syn => not delivered",
    // filter-forward-in__bridge1: the final drop ("UNPUBLISHED PORT DROP").
    "forward tcp 198.51.100.7:40000 -> 192.0.2.3:80 syn => not delivered",
    // The container's connection: out through filter-forward-out__bridge1 and
    // masqueraded to the receiver's address, the reply in as established.
    "forward reply tcp 198.51.100.7:443 -> 192.0.2.2:40000 syn,ack => delivered, tcp reset",
    "forward related udp 198.51.100.7:53 -> 192.0.2.2:40001 => delivered",
    // No INPUT chain.
    "input udp 198.51.100.7:5000 -> 192.0.2.1:53 => delivered, icmp error 3/3",
];

#[test]
fn docker_nft() {
    check("07-docker-bridge.nft", DOCKER_NFT);
}

#[test]
fn docker_nft_json() {
    check("12-docker-bridge.json", DOCKER_NFT);
}

#[test]
fn kube_proxy() {
    check(
        "08-kube-proxy-filter.iptables",
        &[
            // KUBE-PROXY-FIREWALL: -d 5.6.7.8 tcp dport 80 DROP (NEW only).
            "input tcp 198.51.100.7:40000 -> 5.6.7.8:80 syn => not delivered",
            "input tcp 198.51.100.7:40000 -> 5.6.7.9:80 syn => delivered, tcp reset",
            // KUBE-EXTERNAL-SERVICES: addrtype LOCAL tcp dport 3001 DROP.
            "input tcp 198.51.100.7:40000 -> 192.0.2.1:3001 syn => not delivered",
            "input tcp 198.51.100.7:40000 -> 192.0.2.1:3002 syn => delivered, tcp reset",
            // KUBE-SERVICES (FORWARD): -d 172.30.0.46 tcp dport 80 REJECT.
            "forward tcp 198.51.100.7:40000 -> 172.30.0.46:80 syn => not delivered, icmp error 3/3",
            "forward tcp 198.51.100.7:40000 -> 172.30.0.46:81 syn => delivered, tcp reset",
            // KUBE-FORWARD: ctstate INVALID DROP (an ICMP error about nothing).
            "forward icmp 198.51.100.7 -> 203.0.113.9 type 3 code 3 => not delivered",
        ],
    );
}

/// OpenWrt's default firewall, the WAN on `pppoe-wan` and the LAN behind `br-lan`.
const OPENWRT: &[&str] = &[
    // input_wan has no TCP rule: reject_from_wan, handle_reject's tcp reset.
    "input tcp 198.51.100.7:40000 -> 192.0.2.1:22 syn => not delivered, tcp reset",
    // Allow-DHCP-Renew (IPv4 udp dport 68), and the next port rejected (icmpx).
    "input udp 198.51.100.7:67 -> 192.0.2.1:68 => delivered, icmp error 3/3",
    "input udp 198.51.100.7:67 -> 192.0.2.1:69 => not delivered, icmp error 3/3",
    // Allow-Ping (icmp type echo-request), Allow-ICMPv6-Input (echo-request).
    "input icmp 198.51.100.7 -> 192.0.2.1 type 8 code 0 => delivered, echo reply",
    "input icmpv6 2001:db9::7 -> 2001:db8::1 type 128 code 0 => delivered, echo reply",
    // Allow-DHCPv6: saddr and daddr in fc00::/6, udp dport 546.
    "input udp [fc00::7]:547 -> [fc00::1]:546 => delivered, icmp error 1/4",
    "input udp [2001:db9::7]:547 -> [fc00::1]:546 => not delivered, icmp error 1/4",
    // Allow-IGMP (meta l4proto igmp); ESP from the WAN is rejected.
    "input proto 2 198.51.100.7 -> 192.0.2.1 => delivered",
    "input proto 50 198.51.100.7 -> 192.0.2.1 => not delivered, icmp error 3/3",
    // The router's own connection out of the WAN (masqueraded), its reply in.
    "input reply udp 198.51.100.7:53 -> 192.0.2.1:40000 => delivered, icmp error 3/3",
    // forward_wan: Allow-ISAKMP (udp dport 500) and Allow-IPSec-ESP to the LAN.
    "forward udp 198.51.100.7:5000 -> 192.168.1.10:500 => delivered, icmp error 3/3",
    "forward proto 50 198.51.100.7 -> 192.168.1.10 => delivered",
    // Anything else from the WAN is rejected (handle_reject from the forward chain).
    "forward tcp 198.51.100.7:40000 -> 192.168.1.10:22 syn => not delivered, tcp reset",
    // A LAN host's connection: out through accept_to_wan and masqueraded, the reply
    // in as established.
    "forward reply tcp 198.51.100.7:443 -> 192.168.1.10:40000 syn,ack => delivered, tcp reset",
    // OUTPUT: output_wan's accept_to_wan (masqueraded on the way out).
    "output udp 192.0.2.1:40000 -> 198.51.100.7:53 => delivered",
];

#[test]
fn openwrt_nft() {
    check("09-openwrt-fw4.nft", OPENWRT);
}

#[test]
fn openwrt_nft_json() {
    check("10-openwrt-fw4.json", OPENWRT);
}

#[test]
fn debian_workstation() {
    check(
        "11-debian-workstation.nft",
        &[
            // The final `counter drop`.
            "input tcp 198.51.100.7:40000 -> 192.0.2.1:22 syn => not delivered",
            "input icmp 198.51.100.7 -> 192.0.2.1 type 8 code 0 => not delivered",
            // meta nfproto ipv6 icmpv6 type { ... echo-request ... } accept.
            "input icmpv6 2001:db9::7 -> 2001:db8::1 type 128 code 0 => delivered, echo reply",
            "input icmpv6 2001:db9::7 -> 2001:db8::1 type 135 code 0 => delivered",
            // ip6 saddr fe80::/10 icmpv6 type { 130, ... } accept.
            "input icmpv6 fe80::7 -> ff02::1 type 130 code 0 hl 1 => delivered",
            "input icmpv6 2001:db9::7 -> ff02::1 type 130 code 0 hl 1 => not delivered",
            // ct state established,related accept.
            "input reply tcp 198.51.100.7:443 -> 192.0.2.1:40000 syn,ack => delivered, tcp reset",
            "input reply udp [2001:db9::7]:53 -> [2001:db8::1]:40000 => delivered, icmp error 1/4",
            // iif lo accept.
            "loopback udp 127.0.0.1:5000 -> 127.0.0.1:53 => delivered",
            // No forward or output chain: neither is filtered.
            "forward tcp 198.51.100.7:40000 -> 203.0.113.9:22 syn => delivered, tcp reset",
            "output tcp 192.0.2.1:40000 -> 198.51.100.7:22 syn => delivered",
        ],
    );
}

/// Every corpus file, probed twice with generated probes and reloaded in between:
/// both runs give the same outcome for every probe. Prints the figures.
///
/// A probe's outcome may depend on the probes before it through the ruleset's own
/// state: a rate limit whose burst a run exhausts (OpenWrt's `limit rate 25/second
/// burst 50 packets` in front of its SYN handling) decides by the clock, and then
/// which of two runs' probes get through it differs. Such a probe must be
/// reproducible on its own: every probe whose outcome differs is sent again alone,
/// twice, each time after a reload, and must come out the same both times.
#[test]
fn generated_probes_give_the_same_answers_twice() {
    if !common::kernel() {
        return;
    }
    // the cgroups files 37 and 38 name, while they load
    let _cgroups = common::corpus_cgroups::CorpusCgroups::make(
        &common::corpus_cgroups::CorpusCgroups::manifest(),
    );
    let files: Vec<String> = std::fs::read_dir(corpus())
        .expect("corpus")
        .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8"))
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()) && !n.ends_with(".sh"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Every file the manifest lists is on disk and probed (a literal count here went
    // stale when the corpus grew).
    let listed: std::collections::BTreeSet<String> = manifest_files();
    assert_eq!(
        files
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        listed,
        "the corpus directory and manifest.json list the same files"
    );
    println!(
        "file                            probes  delivered  setup, run 1, run 2 (load + probe)"
    );
    for file in &files {
        twice(file, probe_count());
    }
}

fn twice(file: &str, count: usize) {
    let started = Instant::now();
    let (lab, ruleset) = lab(file);
    let setup = started.elapsed();
    let families: Vec<u8> = manifest(file)["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| f.as_u64().expect("4 or 6") as u8)
        .collect();
    let paths = [
        Path::Input,
        Path::Input,
        Path::Forward,
        Path::Loopback,
        Path::Output,
    ];
    let probes = generate(
        &Interesting::scan(&ruleset.text),
        &Generator::new(count, &paths, &families),
    );
    let run = |probes: &[Probe]| -> (Vec<Outcome>, Duration) {
        let t = Instant::now();
        lab.load(&ruleset).expect("reload");
        let out = lab.probe(probes).unwrap_or_else(|e| panic!("{file}: {e}"));
        (out, t.elapsed())
    };
    let (first, t1) = run(&probes);
    let (second, t2) = run(&probes);
    let differ: Vec<&Probe> = probes
        .iter()
        .zip(first.iter().zip(&second))
        .filter(|(_, (a, b))| a != b)
        .map(|(p, _)| p)
        .collect();
    assert!(
        differ.len() <= 50,
        "{file}: {} of {} probes differ between two runs",
        differ.len(),
        probes.len()
    );
    // A ruleset that chooses at random (kube-proxy's `-m statistic --mode random`
    // between a service's endpoints, nft's `numgen random`) may send one probe two
    // ways in two runs, alone too: only its other probes must repeat.
    let by_chance = ["--mode random", "numgen random"]
        .iter()
        .any(|w| ruleset.text.contains(w));
    for p in differ.iter().filter(|_| !by_chance) {
        let alone = [(*p).clone()];
        let (a, b) = (run(&alone).0, run(&alone).0);
        assert_eq!(a, b, "{file}: `{p}` differs between two runs, also alone");
    }
    let delivered = first.iter().filter(|o| o.delivered).count();
    println!(
        "{file:<32}{:>6}{delivered:>11}  {:.2}s, {:.2}s, {:.2}s{}",
        probes.len(),
        setup.as_secs_f64(),
        t1.as_secs_f64(),
        t2.as_secs_f64(),
        if differ.is_empty() {
            String::new()
        } else {
            format!(
                " ({} decided by the ruleset's state{})",
                differ.len(),
                if by_chance {
                    " or by its random choice"
                } else {
                    ", the same alone"
                }
            )
        }
    );
}

/// The scan finds the same values in a ruleset's nft text and its nft JSON, and the
/// values the hand-picked probes above test (not a kernel test).
#[test]
fn the_scan_reads_text_and_json_alike() {
    let scan = |file: &str| {
        let text = std::fs::read_to_string(corpus().join(file)).expect("corpus file");
        Interesting::scan(&text)
    };
    for (text, json) in [
        ("09-openwrt-fw4.nft", "10-openwrt-fw4.json"),
        ("07-docker-bridge.nft", "12-docker-bridge.json"),
    ] {
        assert_eq!(scan(text), scan(json), "{text} and {json}");
    }
    let ufw = scan("01-ufw-ipv4.iptables");
    for ports in [(22, 22), (35, 39), (113, 113), (8080, 8089)] {
        assert!(ufw.ports.contains(&ports), "{ports:?} in {:?}", ufw.ports);
    }
    assert!(ufw.icmp_types.contains(&8), "{:?}", ufw.icmp_types);
    let f2b = scan("05-fail2ban-sshd.nft");
    let set: (std::net::Ipv4Addr, std::net::Ipv4Addr) = (
        "203.0.113.64".parse().unwrap(),
        "203.0.113.127".parse().unwrap(),
    );
    assert!(f2b.v4.contains(&set), "{:?}", f2b.v4);
    let ufw6 = scan("02-ufw-ipv6.ip6tables");
    assert_eq!(ufw6.hop_limits, vec![1, 255]);
    assert!(ufw6.icmpv6_types.contains(&135), "{:?}", ufw6.icmpv6_types);
}
