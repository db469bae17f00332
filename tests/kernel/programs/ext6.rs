//! IPv6 extension headers and `frag` through the real verifier and
//! `BPF_PROG_TEST_RUN`, at XDP and TC ingress: ports behind each kind of extension
//! header, the walk's limit (6 headers pass, a 7th stops it), chains cut short, first
//! and later fragments in both families.

use super::*;

const RULES: &str = "\
HOOK {
    drop tcp to *:22
    drop frag
    count ip6 proto 60
    drop udp to *:53
    default allow
}
";

const P60: &str = "count ip6 proto 60";

fn cases() -> Vec<Case> {
    use V::{Allow, Drop};
    let ssh = "drop tcp to *:22";
    let frag = "drop frag";
    let dns = "drop udp to *:53";
    let d = "default";
    vec![
        c("tcp [2001:db8::1]:1 -> [2001:db8::2]:22", Drop, ssh, &[]),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext dst",
            Drop,
            ssh,
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext hbh",
            Drop,
            ssh,
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext rt/2",
            Drop,
            ssh,
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext ah",
            Drop,
            ssh,
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext hbh/32,dst/3,rt,ah,dst",
            Drop,
            ssh,
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:23 ext hbh,dst",
            Allow,
            d,
            &[],
        ),
        // Six headers are walked; a seventh stops the walk at protocol 60.
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53 ext dst,dst,dst,dst,dst,dst",
            Drop,
            dns,
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:53 ext dst,dst,dst,dst,dst,dst,dst",
            Allow,
            d,
            &[P60],
        ),
        // A chain cut inside its second header: that header's number, no ports.
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext hbh,dst len 66",
            Allow,
            d,
            &[P60],
        ),
        // The upper-layer header cut short behind the chain: no ports.
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext dst len 80",
            Allow,
            d,
            &[],
        ),
        // Fragments: the first keeps its ports (and the earlier port rule decides),
        // a later one has none.
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext fh mf",
            Drop,
            ssh,
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:9 ext fh mf",
            Drop,
            frag,
            &[],
        ),
        c(
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext dst,fh frag 8",
            Drop,
            frag,
            &[],
        ),
        c(
            "udp [2001:db8::1]:1 -> [2001:db8::2]:9 ext fh",
            Drop,
            frag,
            &[],
        ),
        c("tcp 10.0.0.1:1 -> 10.0.0.2:22 mf", Drop, ssh, &[]),
        c("udp 10.0.0.1:1 -> 10.0.0.2:9 mf", Drop, frag, &[]),
        c("tcp 10.0.0.1:1 -> 10.0.0.2:22 frag 3", Drop, frag, &[]),
        c("udp 10.0.0.1:1 -> 10.0.0.2:9", Allow, d, &[]),
    ]
}

#[test]
fn extension_headers_and_fragments_at_xdp_and_tc() {
    if !kernel() {
        return;
    }
    for (head, kind) in [
        ("xdp on lo", HookKind::Xdp),
        ("tc ingress on lo", HookKind::TcIngress),
    ] {
        load_and_run(&RULES.replace("HOOK", head), kind, &cases());
    }
}
