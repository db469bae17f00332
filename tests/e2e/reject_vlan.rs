//! `reject` answers a VLAN-tagged frame, and the answer keeps the tag. At tc ingress
//! the kernel has taken the outer tag out of the frame (`skb->vlan_tci`); the program
//! builds its answer in the untagged frame and redirects it out of the same interface,
//! where the skb's tag goes with it. At XDP the tag is in the frame: the program takes
//! it out, builds the answer, and puts it back before `XDP_TX` (a pass-everything XDP
//! program on B's end gives the veth the NAPI `XDP_TX` needs, as in
//! `tests/e2e/reject.rs`).
//!
//! B sends tagged frames by hand through an AF_PACKET socket (the kernel here has no
//! VLAN devices): a UDP datagram and a TCP SYN to ports A rejects. A's own stack never
//! answers them (no VLAN device takes the tag), so an answer can only come from the
//! program. B captures on its veth with `PACKET_AUXDATA`, which reports the tag the
//! receiving kernel took out of each frame, and must see, within 100 ms, an ICMP port
//! unreachable and a TCP reset to its address carrying the same VLAN id.
//!
//! Needs root; skips otherwise.

use crate::common;
use crate::netns;

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use netns::{in_netns, promptly, Lab, PROMPT};
use sockc_testkit::packet::parse_packet;

const UDP_PORT: u16 = 7321;
const TCP_PORT: u16 = 7322;
const VLAN_ID: u16 = 42;
/// `SOL_PACKET` / `PACKET_AUXDATA`, and `TP_STATUS_VLAN_VALID` in the auxdata.
const PACKET_AUXDATA: libc::c_int = 8;
const TP_STATUS_VLAN_VALID: u32 = 0x10;

/// An AF_PACKET socket bound to `dev`, reporting each frame's removed VLAN tag.
fn packet_socket(dev: &str) -> OwnedFd {
    let name = std::ffi::CString::new(dev).unwrap();
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(ifindex, 0, "no interface {dev}");
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(all)) };
    assert!(raw >= 0, "AF_PACKET: {}", std::io::Error::last_os_error());
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let on: libc::c_int = 1;
    // SAFETY: an int option and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_AUXDATA,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "PACKET_AUXDATA: {}", std::io::Error::last_os_error());
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

/// One captured frame (as received, the tag taken out) and the VLAN id the kernel
/// reported for it, if any; `None` when nothing came before `deadline`.
fn capture(fd: &OwnedFd, deadline: Instant) -> Option<(Vec<u8>, Option<u16>)> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return None;
    }
    let tv = libc::timeval {
        tv_sec: left.as_secs() as libc::time_t,
        tv_usec: left.subsec_micros().max(1) as libc::suseconds_t,
    };
    // SAFETY: a timeval and its size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let mut buf = [0u8; 2048];
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid msghdr; the buffers are set below and outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: recvmsg into the buffers above.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return None;
    }
    let mut tag = None;
    // SAFETY: walking the control messages recvmsg wrote, with the libc macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                let data = libc::CMSG_DATA(c);
                let word = |at: usize| std::ptr::read_unaligned(data.add(at).cast::<u32>());
                let tci = std::ptr::read_unaligned(data.add(16).cast::<u16>());
                if word(0) & TP_STATUS_VLAN_VALID != 0 {
                    tag = Some(tci & 0x0fff);
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((buf[..n as usize].to_vec(), tag))
}

/// What an answer frame from A to B is: "icmp" for a port unreachable, "rst" for a
/// TCP reset; `None` for anything else.
fn answer_kind(frame: &[u8], a: [u8; 4], b: [u8; 4]) -> Option<&'static str> {
    if frame.len() < 54 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    if frame[26..30] != a || frame[30..34] != b {
        return None;
    }
    match frame[23] {
        1 if frame[34] == 3 && frame[35] == 3 => Some("icmp"),
        6 if frame[47] & 0x04 != 0 => Some("rst"),
        _ => None,
    }
}

fn tagged_frames_are_answered_with_their_tag(tag: &str, subnet: u8, hook: &str) {
    if !common::kernel() {
        return;
    }
    let lab = Lab::new(tag, subnet);
    if hook == "xdp" {
        lab.xdp_pass_on_peer();
    }
    let text = format!(
        "{hook} on {} {{\n    reject udp to *:{UDP_PORT}\n    reject tcp to *:{TCP_PORT}\n    \
         default allow\n}}\n",
        lab.if_a
    );
    lab.apply_ok(&lab.rules("reject.sk", &text));
    lab.status_attached();
    let (a, b) = (lab.addr_a, lab.addr_b);
    let frames: Vec<Vec<u8>> = [
        format!("udp {b}:40000 -> {a}:{UDP_PORT} vlan {VLAN_ID}"),
        format!("tcp {b}:40001 -> {a}:{TCP_PORT} syn vlan {VLAN_ID}"),
    ]
    .iter()
    .map(|t| parse_packet(t).expect(t).build())
    .collect();
    let took = promptly(
        || answers(&lab, &frames),
        |seen| {
            assert_eq!(
                seen[..],
                [("icmp", Some(VLAN_ID)), ("rst", Some(VLAN_ID))],
                "{hook}: the answers, with the VLAN id each carried"
            )
        },
    );
    assert!(took < PROMPT, "{hook}: both answers took {took:?}");
}

/// Sends `frames` from B's end and returns the answers seen, each with its VLAN tag
/// (sorted), and how long they took to come.
fn answers(lab: &Lab, frames: &[Vec<u8>]) -> (Vec<(&'static str, Option<u16>)>, Duration) {
    let (dev, frames) = (lab.if_b.clone(), frames.to_vec());
    let (a, b) = (lab.addr_a, lab.addr_b);
    let (mut seen, took) = in_netns(&lab.ns_b, move || {
        let fd = packet_socket(&dev);
        let start = Instant::now();
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
        let mut seen = Vec::new();
        let deadline = start + Duration::from_secs(2);
        while seen.len() < 2 {
            let Some((frame, tag)) = capture(&fd, deadline) else {
                break;
            };
            if let Some(kind) = answer_kind(&frame, a.octets(), b.octets()) {
                seen.push((kind, tag));
            }
        }
        (seen, start.elapsed())
    });
    seen.sort();
    (seen, took)
}

#[test]
fn tc_rejects_a_vlan_tagged_frame_and_keeps_the_tag() {
    tagged_frames_are_answered_with_their_tag("rjvlant", 195, "tc ingress");
}

#[test]
fn xdp_rejects_a_vlan_tagged_frame_and_keeps_the_tag() {
    tagged_frames_are_answered_with_their_tag("rjvlanx", 196, "xdp");
}
