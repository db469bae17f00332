//! Which rule of the import decides a probe, read from the import's own first-match
//! lists, and what the packet alone cannot settle (conntrack states, rate limits,
//! address types, unknown set members): the model the comparison in the parent module
//! holds the kernel's outcomes to.

use super::*;

/// Whether a flat rule admits a packet: surely, surely not, or it depends on what
/// the packet alone does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Truth {
    Yes,
    No,
    Maybe,
}

/// What decides a probe in one block, by the import's own list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// A flat rule with this status; `accept` when its verdict is accept (which at a
    /// netfilter hook ends only its own block).
    Rule { status: Status, accept: bool },
    /// No rule: the block's `default allow`.
    Default,
    /// A rule whose truth the packet does not settle comes first.
    Unsettled,
}

pub(super) fn decided_by(
    list: &FlatList,
    statuses: &[Status],
    atoms: &Atoms,
    sets: &[NamedSet],
    p: &Packet,
    on: &Known,
) -> Decision {
    for (r, status) in list.rules.iter().zip(statuses) {
        if !r.action.is_terminal() {
            continue;
        }
        match admits(&r.cube, atoms, sets, p, on) {
            Truth::No => continue,
            Truth::Maybe => return Decision::Unsettled,
            Truth::Yes => {
                return Decision::Rule {
                    status: *status,
                    accept: r.action == FlatAction::Accept,
                }
            }
        }
    }
    Decision::Default
}

/// Whether a terminal rule other than an accept may admit `p` before an accept
/// surely does (a nat rule that may rewrite it).
pub(super) fn may_touch(
    list: &FlatList,
    atoms: &Atoms,
    sets: &[NamedSet],
    p: &Packet,
    on: &Known,
) -> bool {
    for r in list.rules.iter().filter(|r| r.action.is_terminal()) {
        match (admits(&r.cube, atoms, sets, p, on), &r.action) {
            (Truth::No, _) | (Truth::Maybe, FlatAction::Accept) => continue,
            (Truth::Yes, FlatAction::Accept) => return false,
            _ => return true,
        }
    }
    false
}

/// The lists outside the ingress place's that a probe meets in netfilter: the nat
/// prerouting chains (in priority order), and whether forward decides anything.
pub(super) struct Outside {
    /// Whether the ruleset has nat chains at any hook.
    pub(super) any_nat: bool,
    pub(super) nat: FlatList,
    pub(super) forward_decides: bool,
}

impl Outside {
    pub(super) fn new(rs: &Model, atoms: &mut Atoms, iface: &str) -> Outside {
        let mut nat: Vec<(i32, Stage)> = Vec::new();
        for (table, t) in rs.tables.iter().enumerate() {
            for (chain, c) in t.chains.iter().enumerate() {
                if let Some(b) = c
                    .base
                    .as_ref()
                    .filter(|b| b.hook == NfHook::Prerouting && b.kind == ChainType::Nat)
                {
                    let hook = b.hook;
                    nat.push((b.priority, Stage { table, chain, hook }));
                }
            }
        }
        nat.sort_by_key(|(prio, _)| *prio);
        let nat: Vec<Stage> = nat.into_iter().map(|(_, s)| s).collect();
        let budget = flat_budget(rs.rules.len());
        let iif = Some(iface.to_string());
        let nat = Flattener::new(rs, atoms, iif.clone(), None, budget)
            .run(&nat)
            .expect("nat chains flatten");
        let (fwd_stages, _) = stages(rs, &[NfHook::Prerouting, NfHook::Forward]);
        let fwd = Flattener::new(rs, atoms, iif, None, budget)
            .run(&fwd_stages)
            .expect("forward chains flatten");
        let forward_decides = fwd.rules.iter().any(|r| {
            r.hook == NfHook::Forward && r.action.is_terminal() && r.action != FlatAction::Accept
        });
        let any_nat = rs.tables.iter().any(|t| {
            t.chains
                .iter()
                .any(|c| c.base.as_ref().is_some_and(|b| b.kind == ChainType::Nat))
        });
        Outside {
            any_nat,
            nat,
            forward_decides,
        }
    }
}

/// Whether `cube` admits `p`, on `path`, whose conntrack state is `ct` when it is
/// certain.
pub(super) fn admits(
    cube: &Cube,
    atoms: &Atoms,
    sets: &[NamedSet],
    p: &Packet,
    on: &Known,
) -> Truth {
    let ct = on.ct;
    let mut truth = Truth::Yes;
    for (d, v) in cube.dims() {
        if *d == Dim::CtState && ct.is_none() {
            match (CT_NEW..=CT_UNTRACKED).filter(|s| v.contains(*s)).count() {
                0 => return Truth::No,
                5 => continue,
                _ => truth = Truth::Maybe,
            }
            continue;
        }
        if !p.field(*d).is_some_and(|x| v.contains(x)) {
            return Truth::No;
        }
    }
    for (a, want) in cube.atoms() {
        let kind = atoms.kind(*a);
        let holds = match kind {
            AtomKind::Iif(_) | AtomKind::Oif(_) => Some(atom_holds(kind, sets, p)),
            // The lab's devices' indexes are the kernel's: only the loopback's (1) is
            // known, and no other device has it.
            AtomKind::IifIndex(n) | AtomKind::OifIndex(n) => {
                let dev = if matches!(kind, AtomKind::IifIndex(_)) {
                    &p.iif
                } else {
                    &p.oif
                };
                (dev == "lo" || *n == 1).then(|| dev == "lo" && *n == 1)
            }
            AtomKind::InSet { set, .. } => matches!(sets[*set].content, SetContent::Known(_))
                .then(|| atom_holds(kind, sets, p)),
            AtomKind::Opaque { key, .. } => in_the_lab(key, p, on),
            // A probe meets a socket (the lab's own, attached by early demux) only at
            // input, and which cgroup that is depends on where the test runs.
            AtomKind::Cgroup(_) => None,
        };
        match holds {
            None => truth = Truth::Maybe,
            Some(h) if h != *want => return Truth::No,
            Some(_) => {}
        }
    }
    truth
}

/// Whether `cube` tests a rate: its truth follows the traffic's timing.
pub(super) fn rate_limited(cube: &Cube, atoms: &Atoms) -> bool {
    use sockc_import::features::Feature;
    cube.atoms().iter().any(|(a, _)| {
        matches!(
            atoms.kind(*a),
            AtomKind::Opaque {
                feature: Feature::Limit
                    | Feature::Hashlimit
                    | Feature::NetfilterLimit
                    | Feature::Recent,
                ..
            }
        )
    })
}

/// What the lab knows of a probe beyond its packet.
pub(super) struct Known {
    /// Its conntrack state, when it is sure.
    pub(super) ct: Option<u128>,
    pub(super) path: Path,
    /// Whether the ruleset has nat chains (without them no connection is DNATed).
    pub(super) nat: bool,
}

/// The truth in the lab of the few opaque matches the corpus puts in front of exact
/// rules, where the lab's routes settle it; `None` for everything else. No probe
/// carries an IPv6 routing header. No connection is DNATed by a ruleset without nat
/// chains. Every probe's source other than a link-local one is routed back through
/// the ingress while it is sent, so firewalld's reverse-path check (`fib saddr . mark
/// . iif oif missing`) finds a route for it. An input probe's IPv4 destination is, by
/// `inet_addr_type`, broadcast in 0.0.0.0/8 and at 255.255.255.255, multicast in
/// 224.0.0.0/4, unicast at the lab's two gateway addresses (routes of their own in
/// the local table), and local everywhere else (the lab routes `local 0.0.0.0/0`
/// while it sends input probes).
pub(super) fn in_the_lab(key: &str, p: &Packet, on: &Known) -> Option<bool> {
    match key {
        "-m rt --rt-type 0" => return Some(false),
        "ct status dnat" if !on.nat => return Some(false),
        "fib saddr . mark . iif oif missing" => {
            let src = if p.family == 4 {
                IpAddr::from(std::net::Ipv4Addr::from(p.src as u32))
            } else {
                IpAddr::from(std::net::Ipv6Addr::from(p.src))
            };
            let link_local = p.family == 6 && (p.src >> 118) == 0x3fa;
            return (!link_local && !src.is_unspecified() && !src.is_multicast()).then_some(false);
        }
        _ => {}
    }
    if p.family != 4 || on.path != Path::Input {
        return None;
    }
    let dst = std::net::Ipv4Addr::from(p.dst as u32);
    let broadcast = dst.octets()[0] == 0 || dst.is_broadcast();
    let gateway = ["169.254.0.1", "169.254.1.1"].contains(&dst.to_string().as_str());
    match key {
        "-m addrtype --dst-type LOCAL" => Some(!broadcast && !dst.is_multicast() && !gateway),
        "-m addrtype --dst-type BROADCAST" => Some(broadcast),
        "-m addrtype --dst-type MULTICAST" => Some(!broadcast && dst.is_multicast()),
        _ => None,
    }
}

pub(super) fn addr(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The conntrack state a probe surely arrives in, when it is sure: the first packet
/// of a connection the sender opens (a TCP SYN, a UDP datagram, an ICMP echo
/// request) is new. Anything else depends on conntrack's own judgement (a TCP
/// segment without SYN may be picked up mid-stream or be invalid; an ICMP error
/// about nothing is invalid; a reply whose opener was seen is established).
pub(super) fn sure_ct_state(probe: &Probe) -> Option<u128> {
    if probe.origin != Origin::New {
        return None;
    }
    match probe.packet.l4 {
        L4::Tcp { flags, .. } if flags == tcp_flags::SYN => Some(CT_NEW),
        L4::Udp { .. } => Some(CT_NEW),
        L4::Icmp { ty: 8, .. } if !probe.packet.is_ipv6() => Some(CT_NEW),
        L4::Icmp { ty: 128, .. } if probe.packet.is_ipv6() => Some(CT_NEW),
        _ => None,
    }
}

/// The packet the receiver's ingress sees for a probe (a related probe is the ICMP
/// error about its connection).
pub(super) fn packet_of(probe: &Probe, iface: &str, oif: &str) -> Packet {
    let s = &probe.packet;
    let v6 = s.is_ipv6();
    let mut p = Packet {
        family: if v6 { 6 } else { 4 },
        proto: s.l4.protocol(v6),
        src: addr(s.src),
        dst: addr(s.dst),
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
        ct_state: CT_NEW as u8,
        hop_limit: probe.hop_limit,
        tos: s.tos,
        // As sent: its tag and padding count.
        length: Some(probe.wire_length() as u32),
        iif: iface.to_string(),
        oif: oif.to_string(),
        seed: 0,
    };
    match s.l4 {
        L4::Tcp {
            sport,
            dport,
            flags,
        } => (p.sport, p.dport, p.tcp_flags) = (sport, dport, flags),
        L4::Udp { sport, dport } => (p.sport, p.dport) = (sport, dport),
        L4::Icmp { ty, code } => (p.icmp_type, p.icmp_code) = (ty, code),
        L4::Other { .. } => {}
    }
    if probe.origin == Origin::Related {
        p.proto = if v6 { 58 } else { 1 };
        (p.icmp_type, p.icmp_code) = if v6 { (1, 4) } else { (3, 3) };
        (p.sport, p.dport, p.tcp_flags) = (0, 0, 0);
    }
    p
}
