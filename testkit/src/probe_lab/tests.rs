use super::*;

#[test]
fn probes_parse_and_print_back() {
    for text in [
        "input tcp 198.51.100.7:40000 -> 192.0.2.1:22 syn",
        "forward udp 198.51.100.7:53 -> 192.0.2.2:40000",
        "input reply tcp [2001:db8::7]:443 -> [2001:db8::1]:40000 syn,ack",
        "input related udp 198.51.100.7:53 -> 192.0.2.1:40000",
        "loopback tcp 127.0.0.1:40000 -> 127.0.0.1:22 syn",
        "output udp 192.0.2.1:40000 -> 198.51.100.7:53",
        "input icmpv6 fe80::1 -> 2001:db8::1 type 135 code 0 hl 255",
    ] {
        let p = Probe::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(p.to_string(), text);
        assert_eq!(Probe::parse(&p.to_string()), Ok(p));
    }
    let p = Probe::parse("udp 10.0.0.1:1 -> 10.0.0.2:2").unwrap();
    assert_eq!(
        (p.path, p.origin, p.hop_limit),
        (Path::Input, Origin::New, 64)
    );
}

#[test]
fn probes_the_lab_cannot_send_are_refused() {
    for (text, why) in [
        (
            "loopback reply udp 127.0.0.1:1 -> 127.0.0.1:2",
            "are new packets",
        ),
        (
            "output reply udp 10.0.0.1:1 -> 10.0.0.2:2",
            "are new packets",
        ),
        ("output udp 10.0.0.1:1 -> 224.0.0.1:2", "unicast"),
        (
            "reply icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0",
            "ICMP echo reply",
        ),
        (
            "related icmp 10.0.0.1 -> 10.0.0.2 type 0 code 0",
            "TCP or UDP",
        ),
        (
            "udp 10.0.0.1:1 -> 10.0.0.1:2",
            "the source is the destination",
        ),
        ("reply udp 255.255.255.255:1 -> 10.0.0.1:2", "unicast"),
        ("loopback udp 10.0.0.1:1 -> 224.0.0.1:2", "unicast"),
        (
            "forward reply udp [fe80::1]:1 -> [2001:db8::1]:2",
            "link-local",
        ),
        ("udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 5", "VLAN"),
        ("udp 10.0.0.1:1 -> 10.0.0.2:2 hl x", "hop limit"),
    ] {
        let e = Probe::parse(text).expect_err(text);
        assert!(e.contains(why), "{text}: {e}");
    }
}

#[test]
fn outcomes_read_plainly() {
    let o = Outcome {
        delivered: false,
        answer: Answer::IcmpError { ty: 3, code: 3 },
        opener_left: Some(false),
    };
    assert_eq!(
        o.to_string(),
        "not delivered, icmp error 3/3 (opener did not leave)"
    );
}

/// A ruleset that names lengths gets probes of those lengths (and their neighbours),
/// each as long as its headers and tag at least: the length a new probe (or reply)
/// sends is the one it says (a related probe's is its connection's, which the ICMP
/// error it sends quotes).
#[test]
fn named_lengths_make_probes_of_those_lengths() {
    let values = scan::Interesting::scan("\t\tmeta length { 100, 1400 } drop\n");
    let probes = generate::generate(
        &values,
        &generate::Generator::new(200, &[Path::Input], &[4, 6]),
    );
    let mut lengths: Vec<usize> = probes
        .iter()
        .filter(|p| p.packet.length.is_some() && p.origin != Origin::Related)
        .map(|p| {
            let sent = p.wire_length();
            assert_eq!(Some(sent as u32), p.packet.length, "{p}");
            sent
        })
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    assert!(
        [99, 100, 101, 1399, 1400, 1401]
            .iter()
            .all(|l| lengths.contains(l)),
        "{lengths:?}"
    );
}

/// A ruleset that names ICMP's protocol gets probes of the other IP version's packets
/// of that number (an IPv6 packet whose next header is 1, an IPv4 one of protocol 58,
/// which `meta l4proto icmp` admits); one that names only TCP gets none.
#[test]
fn named_icmp_protocols_make_probes_of_the_other_version() {
    let others = |text: &str| {
        let values = scan::Interesting::scan(text);
        let probes = generate::generate(
            &values,
            &generate::Generator::new(200, &[Path::Input], &[4, 6]),
        );
        let mut found: Vec<(bool, u8)> = probes
            .iter()
            .filter_map(|p| match p.packet.l4 {
                L4::Other { proto } => Some((p.packet.is_ipv6(), proto)),
                _ => None,
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    };
    let both = [(false, 58), (true, 1)];
    assert_eq!(
        others("\t\tmeta l4proto { icmp, ipv6-icmp } accept\n"),
        both
    );
    assert_eq!(others("-A INPUT -p icmp -j ACCEPT\n"), both);
    assert_eq!(others("\t\tmeta l4proto tcp accept\n"), []);
}
