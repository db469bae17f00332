//! sk_lookup rule sets and lookups for the differential test: random blocks of
//! `redirect`, `drop`, `pass` and `count` rules over a small pool of prefixes and
//! ports, against four declared sockets (an IPv4 TCP listener, an IPv4 UDP socket, a
//! dual-stack TCP listener on `[::]`, an IPv6-only UDP socket), some of them
//! registered; lookups drawn at the pool's edges in both families and protocols. The
//! kernel (`BPF_PROG_TEST_RUN` with a `struct bpf_sk_lookup`) must return the
//! evaluator's verdict, select the registered socket it names (by cookie), raise
//! exactly its rule counters, and count a redirect to an unregistered socket in that
//! socket's drop slot.

use std::{
    collections::BTreeSet,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use proptest::prelude::*;
use sockc_compiler::{hooks::HookKind, ir::Action, syntax::ast::Verdict, Compiled};
use sockc_runtime::{attach::sk_lookup::context, LoadedObject};
use sockc_testkit::eval::{evaluate_lookup, Facts, Lookup, Outcome};

/// The declared sockets: (name, declaration, protocol, IPv4 traffic, IPv6 traffic).
pub const SOCKETS: [(&str, &str, u8, bool, bool); 4] = [
    ("t4", "tcp 127.0.0.1:1001", 6, true, false),
    ("u4", "udp 127.0.0.1:1002", 17, true, false),
    ("t6", "tcp [::]:1003", 6, true, true),
    ("u6", "udp [::1]:1004", 17, false, true),
];

const V4: [&str; 5] = [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3",
    "192.0.2.0/24",
];
const V6: [&str; 4] = [
    "2001:db8::/32",
    "2001:db8:1::/48",
    "2001:db8:1::1",
    "fd00::/8",
];
const PORTS: [&str; 6] = ["53", "80", "1-1023", "1024-65535", "8000-8999", "443"];

#[derive(Clone, Debug)]
pub enum Act {
    Redirect(usize),
    Drop,
    Pass,
    Count,
}

#[derive(Clone, Debug)]
pub struct SkRule {
    act: Act,
    /// `None`: no protocol word (a redirect then takes its socket's).
    proto: Option<u8>,
    /// Index into the family's prefix pool; `None`: any address.
    from: Option<(bool, usize)>,
    to: Option<(bool, usize)>,
    sport: Option<usize>,
    dport: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct SkSet {
    rules: Vec<SkRule>,
    default_drop: bool,
    /// Which of [`SOCKETS`] have a socket registered.
    registered: [bool; 4],
}

fn prefix(v6: bool, i: usize) -> String {
    if v6 {
        format!("[{}]", V6[i % V6.len()])
    } else {
        V4[i % V4.len()].to_string()
    }
}

fn endpoint(addr: Option<(bool, usize)>, port: Option<usize>) -> String {
    let a = addr.map_or("*".to_string(), |(v6, i)| prefix(v6, i));
    match port {
        Some(p) => format!("{a}:{}", PORTS[p % PORTS.len()]),
        None => a,
    }
}

impl fmt::Display for SkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, decl, ..) in SOCKETS {
            writeln!(f, "socket {name} = {decl}")?;
        }
        writeln!(f, "sk_lookup {{")?;
        for r in &self.rules {
            let act = match r.act {
                Act::Redirect(_) => "redirect",
                Act::Drop => "drop",
                Act::Pass => "pass",
                Act::Count => "count",
            };
            write!(f, "    {act}")?;
            match r.proto {
                Some(6) => write!(f, " tcp")?,
                Some(_) => write!(f, " udp")?,
                None => {}
            }
            if r.from.is_some() || r.sport.is_some() {
                write!(f, " from {}", endpoint(r.from, r.sport))?;
            }
            if r.to.is_some() || r.dport.is_some() {
                write!(f, " to {}", endpoint(r.to, r.dport))?;
            }
            if let Act::Redirect(s) = r.act {
                write!(f, " to sock {}", SOCKETS[s].0)?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "    default {}\n}}",
            if self.default_drop { "drop" } else { "pass" }
        )
    }
}

fn rule() -> impl Strategy<Value = SkRule> {
    (
        prop_oneof![
            4 => (0..4usize).prop_map(Act::Redirect),
            2 => Just(Act::Drop),
            1 => Just(Act::Pass),
            1 => Just(Act::Count),
        ],
        prop_oneof![2 => Just(None), 1 => Just(Some(6u8)), 1 => Just(Some(17u8))],
        any::<bool>(),
        proptest::option::of(0..8usize),
        proptest::option::of(0..8usize),
        proptest::option::weighted(0.2, 0..6usize),
        proptest::option::weighted(0.6, 0..6usize),
    )
        .prop_map(|(act, proto, v6, from, to, sport, dport)| {
            // A redirect's protocol and family must be ones its socket takes (sema
            // refuses others); other rules take what they drew.
            let (proto, v6) = match act {
                Act::Redirect(s) => {
                    let (_, _, p, v4ok, v6ok) = SOCKETS[s];
                    let v6 = if v4ok && v6ok { v6 } else { v6ok };
                    (proto.map(|_| p), v6)
                }
                _ => (proto, v6),
            };
            let ports = proto.is_some() || matches!(act, Act::Redirect(_));
            SkRule {
                act,
                proto,
                from: from.map(|i| (v6, i)),
                to: to.map(|i| (v6, i)),
                sport: sport.filter(|_| ports),
                dport: dport.filter(|_| ports),
            }
        })
}

/// The rules of a long block as the classifier takes them, so that they form runs:
/// no `count` rule (it ends a run), and a `drop` or `pass` rule without addresses
/// (both families, which the classifier leaves linear) given a destination.
fn classifiable(rules: Vec<SkRule>) -> Vec<SkRule> {
    rules
        .into_iter()
        .filter(|r| !matches!(r.act, Act::Count))
        .map(|mut r| {
            if !matches!(r.act, Act::Redirect(_)) && r.from.is_none() && r.to.is_none() {
                r.to = Some((false, 0));
            }
            r
        })
        .collect()
}

/// Blocks of 1 to 13 rules, and one in three of 32 to 90 (which `-O2` classifies:
/// runs of 32 or more redirect, drop and pass rules become one trie walk whose
/// matches go to their socket's redirect).
pub fn sk_set() -> impl Strategy<Value = SkSet> {
    (
        prop_oneof![
            2 => proptest::collection::vec(rule(), 1..14),
            1 => proptest::collection::vec(rule(), 32..90).prop_map(classifiable),
        ],
        any::<bool>(),
        any::<[bool; 4]>(),
    )
        .prop_map(|(rules, default_drop, registered)| SkSet {
            rules,
            default_drop,
            registered,
        })
}

/// Lookups at the pools' edges: each prefix's first and last address and one past,
/// each port range's ends and one past, both protocols.
pub fn lookup() -> impl Strategy<Value = Lookup> {
    let addr = |v6: bool| {
        (0..8usize, 0..4u8).prop_map(move |(i, edge)| {
            let text = if v6 {
                V6[i % V6.len()]
            } else {
                V4[i % V4.len()]
            };
            let net: ipnet::IpNet = text
                .parse()
                .or_else(|_| format!("{text}/{}", if v6 { 128 } else { 32 }).parse())
                .unwrap();
            let step = |a: IpAddr, up: bool| -> IpAddr {
                match a {
                    IpAddr::V4(a) => {
                        let n = u32::from(a);
                        Ipv4Addr::from(if up {
                            n.wrapping_add(1)
                        } else {
                            n.wrapping_sub(1)
                        })
                        .into()
                    }
                    IpAddr::V6(a) => {
                        let n = u128::from(a);
                        Ipv6Addr::from(if up {
                            n.wrapping_add(1)
                        } else {
                            n.wrapping_sub(1)
                        })
                        .into()
                    }
                }
            };
            match edge {
                0 => net.network(),
                1 => net.broadcast(),
                2 => step(net.broadcast(), true),
                _ => step(net.network(), false),
            }
        })
    };
    let port = (0..6usize, 0..3u8).prop_map(|(i, edge)| {
        let text = PORTS[i];
        let (lo, hi) = match text.split_once('-') {
            Some((a, b)) => (a.parse::<u16>().unwrap(), b.parse::<u16>().unwrap()),
            None => (text.parse().unwrap(), text.parse().unwrap()),
        };
        match edge {
            0 => lo,
            1 => hi,
            _ => hi.wrapping_add(1),
        }
    });
    (
        prop_oneof![Just(6u8), Just(17u8)],
        any::<bool>().prop_flat_map(move |v6| (Just(v6), addr(v6), addr(v6))),
        port.clone(),
        port,
    )
        .prop_map(|(proto, (_, remote, local), sport, dport)| Lookup {
            proto,
            remote: SocketAddr::new(remote, sport),
            local: SocketAddr::new(local, dport),
        })
}

/// Sockets of this process standing in for the declared ones.
pub struct Stand {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
}

impl Stand {
    pub fn new() -> Stand {
        Stand {
            tcp: vec![
                TcpListener::bind("127.0.0.1:0").unwrap(),
                // net.ipv6.bindv6only is 0: [::] takes IPv4 too.
                TcpListener::bind("[::]:0").unwrap(),
            ],
            udp: vec![
                UdpSocket::bind("127.0.0.1:0").unwrap(),
                UdpSocket::bind("[::1]:0").unwrap(),
            ],
        }
    }

    fn fd(&self, socket: usize) -> BorrowedFd<'_> {
        match socket {
            0 => self.tcp[0].as_fd(),
            1 => self.udp[0].as_fd(),
            2 => self.tcp[1].as_fd(),
            _ => self.udp[1].as_fd(),
        }
    }
}

fn cookie(fd: BorrowedFd<'_>) -> u64 {
    let mut v: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            &mut v as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(rc, 0, "SO_COOKIE");
    v
}

/// Loads `compiled`, registers the set's sockets, runs every lookup and compares.
pub fn check(
    set: &SkSet,
    compiled: &Compiled,
    lookups: &[Lookup],
    stand: &Stand,
) -> Result<usize, String> {
    let elf = compiled.to_elf().map_err(|e| e.to_string())?;
    let obj = LoadedObject::load(&elf).map_err(|e| format!("load: {e}"))?;
    // No socket map when no rule redirects.
    let map = obj.socket_map();
    let module = &compiled.module;
    let mut facts = Facts::default();
    for (i, (name, ..)) in SOCKETS.iter().enumerate() {
        let (slot, (id, _)) = module
            .sockets
            .iter()
            .enumerate()
            .find(|(_, (_, s))| s.name == *name)
            .ok_or("socket missing")?;
        if let (true, Some(map)) = (set.registered[i], &map) {
            map.insert(slot as u32, stand.fd(i))
                .map_err(|e| e.to_string())?;
            facts.registered.insert(id);
        }
    }
    let prog = module.programs.values().next().ok_or("no program")?;
    let symbol = &prog.symbol;
    let spec = HookKind::SkLookup.spec();
    let mut compared = 0;
    for l in lookups {
        let e = evaluate_lookup(module, prog, l, &facts);
        let (want_ret, want_sock) = match e.outcome {
            Outcome::Redirect(Action::Redirect(Some(s))) => {
                let i = SOCKETS
                    .iter()
                    .position(|x| x.0 == module.sockets[s].name)
                    .unwrap();
                (spec.verdicts.pass, Some(cookie(stand.fd(i))))
            }
            Outcome::Verdict(Verdict::Pass) => (spec.verdicts.pass, None),
            Outcome::Verdict(_) => (spec.verdicts.drop, None),
            Outcome::Redirect(_) | Outcome::Reject(_) => return Err("unexpected outcome".into()),
        };
        let before = (obj.counters().unwrap(), obj.socket_drops().unwrap());
        let r = obj
            .test_run(symbol, &context(l.proto, l.remote, l.local), 1)
            .map_err(|e| format!("test_run: {e}"))?;
        let after = (obj.counters().unwrap(), obj.socket_drops().unwrap());
        let want_slots: BTreeSet<u32> = e.counter_slots(prog).into_iter().collect();
        let mut errs = Vec::new();
        if (r.retval as i32, r.selected) != (want_ret.unwrap(), want_sock) {
            errs.push(format!(
                "kernel returned {} selecting {:?}, evaluator {:?} selecting {want_sock:?}",
                r.retval, r.selected, e.outcome
            ));
        }
        for (slot, (a, b)) in after.0.iter().zip(&before.0).enumerate() {
            let want = u64::from(want_slots.contains(&(slot as u32)));
            if a.0 - b.0 != want {
                errs.push(format!("counter {slot}: +{} (want +{want})", a.0 - b.0));
            }
        }
        for (i, (a, b)) in after.1.iter().zip(&before.1).enumerate() {
            let want_missing = u64::from(e.socket_drop == Some(2 * i as u32));
            if (a.0 - b.0, a.1 - b.1) != (want_missing, 0) {
                errs.push(format!(
                    "drops of socket {i}: +{:?} (want +({want_missing}, 0))",
                    (a.0 - b.0, a.1 - b.1)
                ));
            }
        }
        if !errs.is_empty() {
            return Err(format!(
                "{} {} -> {}: {}\n(evaluator: line {}, registered {:?})",
                if l.proto == 6 { "tcp" } else { "udp" },
                l.remote,
                l.local,
                errs.join("; "),
                e.line(prog),
                set.registered
            ));
        }
        compared += 1;
    }
    Ok(compared)
}
