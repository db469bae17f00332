//! Probes for a ruleset, from its [`Interesting`] values: for every address range
//! the addresses just below, at, and just above each end, as source and as
//! destination; for every port range the same four ports, as destination port of TCP
//! and UDP and as source port; every ICMP and ICMPv6 type (and the next type up), at
//! the default hop limit and at each interesting one (half of every kind with a TOS
//! byte the ruleset names or one next to it, when it names any); replies and related
//! ICMP errors
//! for connections the inside opened; then seeded random probes, half their fields
//! drawn from the interesting values. The fields a boundary probe does not fix are
//! random too. Invariant: the same values and the same [`Generator`] give the same
//! probes, in the same order, on every machine; no probe is made twice, and at most
//! [`Generator::count`] are (boundary probes are sampled, with the seed, when they
//! would take more than three quarters of them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The links' MTU (the veth default): the longest IP packet a probe may be.
const MTU: u32 = 1500;

use super::{echo_reply, link_local_v6, scan::Interesting, unicast, Origin, Path, Probe};
use crate::{
    packet::{tcp_flags, PacketSpec, L4},
    rng::Rng,
};

/// The probe count when `SOCKC_PROBES` is not set: small, for CI.
pub const DEFAULT_PROBE_COUNT: usize = 160;

/// The number of probes per ruleset: `SOCKC_PROBES`, or [`DEFAULT_PROBE_COUNT`].
pub fn probe_count() -> usize {
    std::env::var("SOCKC_PROBES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_PROBE_COUNT)
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Generator {
    /// Seed of the random fields, the random probes and the sample.
    pub seed: u64,
    /// The most probes.
    pub count: usize,
    /// The paths the probes take, in turn.
    pub paths: Vec<Path>,
    /// The address families probed: 4, 6 or both.
    pub families: Vec<u8>,
}

impl Generator {
    /// `count` probes over `paths` and `families`, with a fixed seed.
    pub fn new(count: usize, paths: &[Path], families: &[u8]) -> Generator {
        Generator {
            seed: 0x5eed_0f9b_0b35,
            count,
            paths: paths.to_vec(),
            families: families.to_vec(),
        }
    }
}

/// The probes for `values` (module docs).
pub fn generate(values: &Interesting, g: &Generator) -> Vec<Probe> {
    if g.count == 0 || g.paths.is_empty() || g.families.is_empty() {
        return Vec::new();
    }
    let mut m = Maker {
        values,
        g,
        rng: Rng::seeded(g.seed),
        turn: 0,
    };
    let mut boundary = m.boundary_probes();
    dedup(&mut boundary);
    let share = (g.count * 3 / 4).max(1);
    if boundary.len() > share {
        boundary = m.sample(boundary, share);
    }
    let mut out = boundary;
    let mut tries = 0;
    while out.len() < g.count && tries < g.count * 4 {
        let p = m.random_probe();
        if !out.contains(&p) {
            out.push(p);
        }
        tries += 1;
    }
    out
}

fn dedup(probes: &mut Vec<Probe>) {
    let mut seen = std::collections::HashSet::new();
    probes.retain(|p| seen.insert(p.clone()));
}

struct Maker<'a> {
    values: &'a Interesting,
    g: &'a Generator,
    rng: Rng,
    /// Which path the next probe takes.
    turn: usize,
}

/// Whether a probe can be made an answer to a connection the inside opened.
fn can_answer(p: &Probe) -> bool {
    let (src, dst) = (p.packet.src, p.packet.dst);
    matches!(p.path, Path::Input | Path::Forward)
        && unicast(src)
        && unicast(dst)
        && !(p.path == Path::Forward && (link_local_v6(src) || link_local_v6(dst)))
}

/// The address numbered `n` in a family.
fn addr(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    }
}

/// Just below, at, and just above each end of `lo..=hi` (nothing for the whole space).
fn edges(lo: u128, hi: u128, max: u128) -> Vec<u128> {
    if lo == 0 && hi == max {
        return Vec::new();
    }
    let mut v = vec![lo, hi];
    if lo > 0 {
        v.push(lo - 1);
    }
    if hi < max {
        v.push(hi + 1);
    }
    v.sort();
    v.dedup();
    v
}

impl Maker<'_> {
    fn below(&mut self, n: usize) -> usize {
        self.rng.below(n)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn path(&mut self) -> Path {
        let p = self.g.paths[self.turn % self.g.paths.len()];
        self.turn += 1;
        p
    }

    fn family(&mut self) -> bool {
        let f = self.g.families[self.below(self.g.families.len())];
        f == 6
    }

    fn ranges(&self, v6: bool) -> Vec<(u128, u128)> {
        if v6 {
            self.values
                .v6
                .iter()
                .map(|&(a, b)| (u128::from(a), u128::from(b)))
                .collect()
        } else {
            self.values
                .v4
                .iter()
                .map(|&(a, b)| (u128::from(u32::from(a)), u128::from(u32::from(b))))
                .collect()
        }
    }

    /// An address: half the time one at, next to or inside an interesting range,
    /// else a random global unicast one.
    fn address(&mut self, v6: bool) -> IpAddr {
        let ranges = self.ranges(v6);
        if !ranges.is_empty() && self.chance(50) {
            let (lo, hi) = ranges[self.below(ranges.len())];
            let n = match self.below(3) {
                0 => lo,
                1 => hi,
                _ => lo + (u128::from(self.rng.next()) % (hi - lo).saturating_add(1).max(1)),
            };
            return addr(n, v6);
        }
        if v6 {
            let hi = u128::from(self.rng.next()) << 64 | u128::from(self.rng.next());
            // 2000::/3, global unicast.
            return addr((hi & !(0b111 << 125)) | (0b001 << 125), true);
        }
        loop {
            let a = Ipv4Addr::from(self.rng.next() as u32);
            let o = a.octets();
            let special = matches!(o[0], 0 | 127 | 224..=255) || (o[0] == 169 && o[1] == 254);
            if !special {
                return IpAddr::V4(a);
            }
        }
    }

    /// A port: half the time one from an interesting range, else an ephemeral one.
    fn port(&mut self) -> u16 {
        let ports = &self.values.ports;
        if !ports.is_empty() && self.chance(50) {
            let (lo, hi) = ports[self.below(ports.len())];
            return lo + (self.below(usize::from(hi - lo) + 1) as u16);
        }
        1024 + self.below(64512) as u16
    }

    fn flags(&mut self) -> u8 {
        use tcp_flags::*;
        const CHOICES: [u8; 5] = [ACK, SYN | ACK, RST | ACK, FIN | ACK, FIN];
        if self.chance(70) {
            SYN
        } else {
            CHOICES[self.below(CHOICES.len())]
        }
    }

    fn icmp(&mut self, v6: bool) -> L4 {
        let types = if v6 {
            &self.values.icmpv6_types
        } else {
            &self.values.icmp_types
        };
        let ty = if !types.is_empty() && self.chance(50) {
            types[self.below(types.len())]
        } else if v6 {
            [1, 2, 3, 4, 128, 129, 135, 136][self.below(8)]
        } else {
            [0, 3, 8, 11, 12, 13][self.below(6)]
        };
        L4::Icmp { ty, code: 0 }
    }

    /// A TCP, UDP or ICMP header with random fields.
    fn l4(&mut self, v6: bool) -> L4 {
        match self.below(4) {
            0 | 1 => L4::Tcp {
                sport: self.port(),
                dport: self.port(),
                flags: self.flags(),
            },
            2 => L4::Udp {
                sport: self.port(),
                dport: self.port(),
            },
            _ => self.icmp(v6),
        }
    }

    /// A new probe of `l4` between `src` and `dst` (random where `None`).
    fn probe(&mut self, v6: bool, l4: L4, src: Option<IpAddr>, dst: Option<IpAddr>) -> Probe {
        let path = self.path();
        let src = src.unwrap_or_else(|| self.address(v6));
        let mut dst = dst.unwrap_or_else(|| self.address(v6));
        let usable = |dst: IpAddr| match path {
            Path::Loopback => unicast(dst) || dst.is_loopback(),
            Path::Output => unicast(dst),
            Path::Input | Path::Forward => true,
        };
        while dst == src || !usable(dst) {
            dst = self.address(v6);
        }
        let mut packet = PacketSpec::new(src, dst, l4);
        // A ruleset that names no TOS byte draws nothing here: its probes stay the
        // same whatever this adds.
        if !self.values.tos.is_empty() && self.chance(50) {
            packet.tos = self.tos();
        }
        // Likewise for lengths: one the ruleset names or a neighbour, as long as the
        // packet and its tag at least, and no longer than the links' MTU.
        let mut probe = Probe::new(path, Origin::New, packet);
        if !self.values.lengths.is_empty() && self.chance(50) {
            let own = probe.wire_length() as u32;
            let l = self.values.lengths[self.below(self.values.lengths.len())];
            let l = match self.below(3) {
                0 => l.saturating_sub(1),
                1 => l + 1,
                _ => l,
            };
            probe.packet.length = Some(l.clamp(own, MTU));
        }
        probe
    }

    /// A TOS byte: one the ruleset names, its DSCP's neighbour, or one with another ECN.
    fn tos(&mut self) -> u8 {
        let t = self.values.tos[self.below(self.values.tos.len())];
        match self.below(4) {
            0 => t.wrapping_add(4),
            1 => t.wrapping_sub(4),
            2 => (t & !3) | self.below(4) as u8,
            _ => t,
        }
    }

    fn boundary_probes(&mut self) -> Vec<Probe> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            if !self.g.families.contains(&if v6 { 6 } else { 4 }) {
                continue;
            }
            let max = if v6 { u128::MAX } else { u128::from(u32::MAX) };
            for (lo, hi) in self.ranges(v6) {
                for n in edges(lo, hi, max) {
                    let a = Some(addr(n, v6));
                    let l4 = self.l4(v6);
                    out.push(self.probe(v6, l4, a, None));
                    let l4 = self.l4(v6);
                    out.push(self.probe(v6, l4, None, a));
                }
            }
            self.icmp_probes(v6, &mut out);
            if self.values.icmp_numbers {
                // ICMP's number in the other version: `ip6 proto 1`, `ip4 proto 58`.
                let proto = if v6 { 1 } else { 58 };
                for _ in 0..4 {
                    out.push(self.probe(v6, L4::Other { proto }, None, None));
                }
            }
        }
        self.port_probes(&mut out);
        self.stateful_probes(&mut out);
        out
    }

    fn port_probes(&mut self, out: &mut Vec<Probe>) {
        for (lo, hi) in self.values.ports.clone() {
            for n in edges(u128::from(lo), u128::from(hi), 65535) {
                let port = n as u16;
                if port == 0 {
                    continue;
                }
                let v6 = self.family();
                let (sport, flags) = (self.port(), self.flags());
                out.push(self.probe(
                    v6,
                    L4::Tcp {
                        sport,
                        dport: port,
                        flags,
                    },
                    None,
                    None,
                ));
                let sport = self.port();
                out.push(self.probe(v6, L4::Udp { sport, dport: port }, None, None));
                let dport = self.port();
                let l4 = if self.chance(50) {
                    L4::Udp { sport: port, dport }
                } else {
                    L4::Tcp {
                        sport: port,
                        dport,
                        flags: tcp_flags::SYN,
                    }
                };
                out.push(self.probe(v6, l4, None, None));
            }
        }
    }

    fn icmp_probes(&mut self, v6: bool, out: &mut Vec<Probe>) {
        let types = if v6 {
            self.values.icmpv6_types.clone()
        } else {
            self.values.icmp_types.clone()
        };
        let mut hop_limits = vec![64];
        hop_limits.extend(&self.values.hop_limits);
        for &ty in &types {
            let mut tys = vec![ty];
            if ty < u8::MAX && !types.contains(&(ty + 1)) {
                tys.push(ty + 1);
            }
            for t in tys {
                for &hl in &hop_limits {
                    let mut p = self.probe(v6, L4::Icmp { ty: t, code: 0 }, None, None);
                    p.hop_limit = hl;
                    out.push(p);
                }
            }
        }
    }

    /// Replies and related errors for connections the inside opened: to each
    /// interesting port's first value, and one echo per family.
    fn stateful_probes(&mut self, out: &mut Vec<Probe>) {
        for (lo, _) in self.values.ports.clone() {
            let v6 = self.family();
            let dport = 32768 + self.below(28232) as u16;
            let l4 = if self.chance(50) {
                L4::Tcp {
                    sport: lo,
                    dport,
                    flags: tcp_flags::SYN | tcp_flags::ACK,
                }
            } else {
                L4::Udp { sport: lo, dport }
            };
            let mut p = self.probe(v6, l4, None, None);
            if can_answer(&p) {
                p.origin = if self.chance(25) {
                    Origin::Related
                } else {
                    Origin::Reply
                };
            }
            out.push(p);
        }
        for &f in &self.g.families.clone() {
            let v6 = f == 6;
            let mut p = self.probe(
                v6,
                L4::Icmp {
                    ty: echo_reply(v6),
                    code: 0,
                },
                None,
                None,
            );
            if can_answer(&p) {
                p.origin = Origin::Reply;
            }
            out.push(p);
        }
    }

    fn random_probe(&mut self) -> Probe {
        let v6 = self.family();
        let l4 = self.l4(v6);
        let mut p = self.probe(v6, l4, None, None);
        if !self.values.hop_limits.is_empty() && self.chance(10) {
            p.hop_limit = self.values.hop_limits[self.below(self.values.hop_limits.len())];
        }
        if can_answer(&p) && self.chance(20) {
            match p.packet.l4 {
                L4::Tcp { ref mut flags, .. } => {
                    *flags = tcp_flags::SYN | tcp_flags::ACK;
                    p.origin = Origin::Reply;
                }
                L4::Udp { .. } => {
                    p.origin = if self.chance(30) {
                        Origin::Related
                    } else {
                        Origin::Reply
                    }
                }
                _ => {}
            }
        }
        p
    }

    /// `n` of `probes`, chosen with the seed, in their original order.
    fn sample(&mut self, probes: Vec<Probe>, n: usize) -> Vec<Probe> {
        let mut idx: Vec<usize> = (0..probes.len()).collect();
        for i in (1..idx.len()).rev() {
            let j = self.below(i + 1);
            idx.swap(i, j);
        }
        idx.truncate(n);
        idx.sort();
        idx.into_iter().map(|i| probes[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Interesting {
        Interesting::scan(
            "-A INPUT -s 192.168.0.0/16 -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -s 2001:db8::/32 -p udp --dports 34,35:39 -j ACCEPT\n\
             -A INPUT -p ipv6-icmp --icmpv6-type 135 -m hl --hl-eq 255 -j ACCEPT\n",
        )
    }

    #[test]
    fn the_same_generator_gives_the_same_probes() {
        let g = Generator::new(200, &[Path::Input, Path::Forward], &[4, 6]);
        let a = generate(&values(), &g);
        assert_eq!(a, generate(&values(), &g));
        assert!(a.len() <= 200 && a.len() > 100, "{} probes", a.len());
        let other = Generator { seed: 7, ..g };
        assert_ne!(a, generate(&values(), &other));
    }

    #[test]
    fn every_boundary_is_probed_when_the_count_allows() {
        let g = Generator::new(1000, &[Path::Input], &[4, 6]);
        let probes = generate(&values(), &g);
        let has = |f: &dyn Fn(&Probe) -> bool| probes.iter().any(f);
        for a in [
            "192.167.255.255",
            "192.168.0.0",
            "192.168.255.255",
            "192.169.0.0",
        ] {
            let a: IpAddr = a.parse().unwrap();
            assert!(has(&|p| p.packet.src == a), "{a} as source");
            assert!(has(&|p| p.packet.dst == a), "{a} as destination");
        }
        for port in [21, 22, 23, 33, 34, 35, 39, 40] {
            assert!(
                has(&|p| matches!(p.packet.l4, L4::Tcp { dport, .. } if dport == port)),
                "TCP to port {port}"
            );
        }
        assert!(has(
            &|p| matches!(p.packet.l4, L4::Icmp { ty: 135, .. }) && p.hop_limit == 255
        ));
        assert!(has(&|p| matches!(p.packet.l4, L4::Icmp { ty: 136, .. })));
        assert!(has(&|p| p.origin == Origin::Reply));
        for p in &probes {
            p.check().unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn every_probe_can_be_sent_on_every_path() {
        let paths = [Path::Input, Path::Forward, Path::Loopback, Path::Output];
        for seed in 1..20 {
            let g = Generator {
                seed,
                ..Generator::new(300, &paths, &[4, 6])
            };
            for p in generate(&values(), &g) {
                p.check()
                    .unwrap_or_else(|e| panic!("seed {seed}: {p}: {e}"));
            }
        }
    }

    #[test]
    fn the_count_bounds_the_probes_and_keeps_a_random_share() {
        let g = Generator::new(20, &[Path::Input], &[4, 6]);
        let probes = generate(&values(), &g);
        assert_eq!(probes.len(), 20);
        let paths: Vec<Path> = generate(
            &values(),
            &Generator::new(9, &[Path::Input, Path::Forward], &[4]),
        )
        .iter()
        .map(|p| p.path)
        .collect();
        assert!(paths.contains(&Path::Input) && paths.contains(&Path::Forward));
    }
}
