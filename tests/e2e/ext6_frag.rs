//! IPv6 extension headers and `frag` in the kernel, seen from the other end of a veth
//! pair: B sends crafted frames (an AF_PACKET socket in B's namespace) to A, whose XDP
//! and then TC ingress block counts them with rules that need the upper-layer
//! protocol and ports (TCP behind a destination-options header, behind hop-by-hop plus
//! destination options), `frag` (an IPv6 later fragment, an IPv4 first fragment) and
//! a chain longer than the walk (protocol 60, no ports). The counters must rise by
//! exactly what was sent. Needs root; skips otherwise (see `tests/common`).

use crate::common;
use crate::netns;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use netns::{in_netns, Lab};
use serde_json::Value;
use sockc_testkit::packet::parse_packet;

/// Frames per packet kind.
const EACH: u64 = 5;

/// What B sends: (packet text, the rule that must count it).
const SENT: [(&str, &str); 6] = [
    (
        "tcp [fd00::2]:1000 -> [fd00::1]:22 syn ext dst",
        "count tcp to *:22",
    ),
    (
        "tcp [fd00::2]:1000 -> [fd00::1]:23 syn ext hbh,dst/2",
        "count tcp to *:23",
    ),
    (
        "udp [fd00::2]:1000 -> [fd00::1]:22 ext fh frag 8",
        "count frag",
    ),
    ("udp 10.9.0.2:1000 -> 10.9.0.1:53 mf", "count frag"),
    (
        "tcp [fd00::2]:1000 -> [fd00::1]:22 ext dst,dst,dst,dst,dst,dst,dst",
        "count ip6 proto 60",
    ),
    (
        "tcp [fd00::2]:1000 -> [fd00::1]:22 ext dst,dst,dst,dst,dst,dst",
        "count tcp to *:22",
    ),
];

const RULES: &str = "  count tcp to *:22\n  count tcp to *:23\n  count frag\n  count ip6 proto 60\n  default allow\n";

fn packets(stats: &Value, text: &str) -> u64 {
    let hits: Vec<&Value> = stats["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["text"] == text)
        .collect();
    assert_eq!(hits.len(), 1, "one rule `{text}` in {stats:#}");
    hits[0]["packets"].as_u64().expect("packets")
}

/// Sends every frame of [`SENT`] `EACH` times from B's end of the veth.
fn send_all(lab: &Lab) {
    let frames: Vec<Vec<u8>> = SENT
        .iter()
        .map(|(t, _)| parse_packet(t).expect(t).build())
        .collect();
    let dev = lab.if_b.clone();
    in_netns(&lab.ns_b, move || {
        let fd = packet_socket(&dev);
        for _ in 0..EACH {
            for f in &frames {
                // SAFETY: send reads `f`.
                let n = unsafe { libc::send(fd.as_raw_fd(), f.as_ptr().cast(), f.len(), 0) };
                assert_eq!(
                    n,
                    f.len() as isize,
                    "send: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    });
}

/// An AF_PACKET socket bound to `dev` (in the calling thread's namespace).
pub(crate) fn packet_socket(dev: &str) -> OwnedFd {
    let name = std::ffi::CString::new(dev).unwrap();
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(ifindex, 0, "no interface {dev}");
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(all)) };
    assert!(
        raw >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: all-zero is a valid sockaddr_ll; the fields needed are set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = all;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: bind reads a sockaddr_ll of the size given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    fd
}

fn check_counts(lab: &Lab, hook: &str) {
    let before = lab.stats();
    send_all(lab);
    // The frames are counted synchronously on B's send (veth), but give the stats a
    // moment in case of a busy machine.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after = lab.stats();
    for rule in [
        "count tcp to *:22",
        "count tcp to *:23",
        "count frag",
        "count ip6 proto 60",
    ] {
        let want = EACH * SENT.iter().filter(|(_, r)| *r == rule).count() as u64;
        let got = packets(&after, rule) - packets(&before, rule);
        assert_eq!(
            got, want,
            "{hook}: `{rule}` counted {got}, sent {want}\n{after:#}"
        );
    }
}

#[test]
fn ports_behind_extension_headers_and_fragments_at_xdp_and_tc() {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new("ext6", 97);
    let a = lab.if_a.clone();
    let xdp = lab.rules("xdp.sk", &format!("xdp on {a} {{\n{RULES}}}\n"));
    lab.apply_ok(&xdp);
    check_counts(&lab, "xdp");
    let tc = lab.rules("tc.sk", &format!("tc ingress on {a} {{\n{RULES}}}\n"));
    lab.apply_ok(&tc);
    check_counts(&lab, "tc ingress");
}
