//! Frame matches and the lockout check: `arp`, `ether type N` and `vlan N` folded into
//! a rule's match (packet hooks only, never mixed with an IP header match they
//! contradict), and the warning for a packet-hook block whose `default drop` would
//! cut the host off its neighbours (ARP, IPv6 neighbour discovery) because no rule
//! before it lets them through.
//!
//! Invariant: a frame match never makes a rule IP-only by itself (`arp` matches
//! frames that have no IP header); a rule that names a non-IP EtherType and an IP
//! header field is an error, so a rule that sema lets through can match something.

use std::net::{IpAddr, Ipv6Addr};

use super::Checker;
use crate::{
    diag::{Code, Diagnostic, Span},
    hooks::HookSpec,
    ir::{Action, AddrMatch, PortMatch, Program, Rule, RuleMatch},
    syntax::ast::{
        ether_type_text, Family, Match, Verdict, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    },
};

/// EtherType values below this are IEEE 802.3 frame lengths, not types.
const ETHERTYPE_MIN: u16 = 0x0600;

/// The neighbour discovery messages (RFC 4861) a host needs: router solicitation and
/// advertisement, neighbour solicitation and advertisement, redirect.
const ND_TYPES: [u8; 5] = [133, 134, 135, 136, 137];
/// The hop limit every neighbour discovery message is sent (and must arrive) with.
const ND_HOP_LIMIT: u32 = 255;

/// Where a rule's frame matches are, for the checks that point at them.
#[derive(Default)]
pub(super) struct FrameSpans {
    ether: Option<Span>,
    vlan: Option<Span>,
    /// The first match that is about the IP header.
    ip: Option<Span>,
}

impl FrameSpans {
    /// Whether the rule tests anything in the IP header or above.
    pub(super) fn ip_only(&self) -> bool {
        self.ip.is_some()
    }
}

impl Checker<'_> {
    /// Records a frame match in `m`; `false` for a match that is not about the frame
    /// (its span is kept as the rule's first IP match).
    pub(super) fn fold_frame_match(
        &mut self,
        item: &Match,
        m: &mut RuleMatch,
        seen: &mut FrameSpans,
    ) -> bool {
        let (slot, sp, value, new) = match item {
            Match::EtherType(t, sp) => (&mut seen.ether, *sp, &mut m.rare_mut().ether_type, *t),
            Match::Vlan(v, sp) => (&mut seen.vlan, *sp, &mut m.rare_mut().vlan, *v),
            // A limit counts any frame; only a per-source one reads the IP header.
            Match::Limit(l, _) if !l.per_source => return false,
            other => {
                seen.ip.get_or_insert(match_span(other));
                return false;
            }
        };
        if let Some(prev) = *slot {
            self.diags.push(
                Diagnostic::new(
                    Code::Conflict,
                    "a frame has one EtherType and one outer VLAN tag",
                )
                .label(sp, "second one")
                .label(prev, "first one"),
            );
            return true;
        }
        *slot = Some(sp);
        *value = Some(new);
        true
    }

    /// What the frame matches of a rule allow: a hook with frames, an EtherType that
    /// is one, and no IP header match beside a non-IP EtherType. An IP EtherType with
    /// IP header matches limits the rule to that family (the same packets).
    pub(super) fn check_frames(
        &mut self,
        m: &RuleMatch,
        seen: &FrameSpans,
        spec: &HookSpec,
        family: &mut Option<(Family, Span)>,
    ) {
        let first = seen.ether.or(seen.vlan);
        if let (Some(sp), false) = (first, spec.caps.frames) {
            self.diags.push(
                Diagnostic::new(
                    Code::HookCannotMatch,
                    format!("{} hooks see no Ethernet frames", spec.name),
                )
                .label(sp, "not available in this hook")
                .help("`arp`, `ether type` and `vlan` work in xdp and tc blocks"),
            );
            return;
        }
        let (Some(t), Some(sp)) = (m.rare().ether_type, seen.ether) else {
            return;
        };
        if t < ETHERTYPE_MIN {
            self.diags.push(
                Diagnostic::new(
                    Code::OutOfRange,
                    format!("EtherType {t:#06x} is an 802.3 frame length, not a type"),
                )
                .label(sp, "below 0x0600")
                .help("EtherTypes are 0x0600 (1536) or more: ip is 0x0800, arp 0x0806, ip6 0x86dd"),
            );
            return;
        }
        let Some(ip) = seen.ip else {
            return;
        };
        match t {
            ETHERTYPE_IPV4 => self.constrain_family(family, Family::V4, sp),
            ETHERTYPE_IPV6 => self.constrain_family(family, Family::V6, sp),
            _ => self.diags.push(
                Diagnostic::new(
                    Code::Conflict,
                    format!(
                        "`ether type {}` frames have no IP header to match",
                        ether_type_text(t)
                    ),
                )
                .label(ip, "an IP header match")
                .label(sp, "not an IP frame")
                .help("write the frame match and the IP matches as two rules"),
            ),
        }
    }

    /// Warns when a packet-hook block drops by default and no rule before the default
    /// lets ARP or IPv6 neighbour discovery through: the host would lose its
    /// neighbours (and its remote users) within the neighbour cache's lifetime. Hooks
    /// without frames (cgroup blocks) never see ARP, and neighbour discovery goes
    /// through them only from the kernel's own socket, in the root cgroup.
    /// `probes` is what the block's rules decide ([`Probes`], kept as they were made).
    pub(super) fn check_lockout(&mut self, prog: &Program, spec: &HookSpec, probes: Probes) {
        if prog.default != Verdict::Drop || !spec.caps.frames {
            return;
        }
        let [arp, nd @ ..] = probes.allowed();
        let mut missing = Vec::new();
        if !arp {
            missing.push("`allow arp` (IPv4 neighbours)".to_string());
        }
        let types: Vec<String> = ND_TYPES
            .iter()
            .zip(nd)
            .filter(|&(_, allowed)| !allowed)
            .map(|(t, _)| t.to_string())
            .collect();
        if !types.is_empty() {
            missing.push(format!(
                "`allow icmpv6` (IPv6 neighbour discovery; or `allow icmpv6 type T` for each \
                 missing T: {}; multicast listener discovery, 130-132 and 143, matters where \
                 switches snoop it)",
                types.join(", ")
            ));
        }
        if missing.is_empty() {
            return;
        }
        self.diags.push(
            Diagnostic::new(
                Code::Lockout,
                "this default drops the host's neighbour traffic: it becomes unreachable once its neighbour caches expire",
            )
            .label(prog.default_span, "drops ARP or neighbour discovery")
            .help(format!("add before it: {}", missing.join("; "))),
        );
    }

    /// `probes` after rule `r`, the next of its block: a rule decides the probes it
    /// matches that no rule before it decided (a `count` decides none). Asked of every
    /// rule of a packet hook's block as it is made, while it is in the cache: a scan
    /// of the block at its end read 16 MB of IR again at 100k rules, on the calling
    /// thread alone (the rules of a block's second half are made on another thread).
    pub(super) fn note_probes(&self, probes: &mut Probes, r: &Rule) {
        if probes.open == 0 || r.action == Action::Count {
            return;
        }
        let decides = self.probes_matched(r) & probes.open;
        if r.action == Action::Allow {
            probes.allowed |= decides;
        }
        probes.open &= !decides;
    }

    /// Which probe packets a rule matches, bit k for probe k: an untagged ARP request
    /// (bit 0), and a neighbour discovery message of each of [`ND_TYPES`] (bits 1 to 5)
    /// from a link-local address to a multicast group.
    fn probes_matched(&self, r: &Rule) -> u8 {
        let (m, rare) = (&r.m, r.m.rare());
        // A rate-limited rule lets only some of them through.
        if rare.vlan.is_some() || r.cond.is_some() || rare.limit.is_some() {
            return 0;
        }
        let arp = !m.ip_only && rare.ether_type.is_none_or(|t| t == ETHERTYPE_ARP);
        let (src, dst) = nd_addresses();
        let nd = rare.ether_type.is_none_or(|t| t == ETHERTYPE_IPV6)
            && m.family != Some(Family::V4)
            && m.proto.is_none_or(|p| p == 58)
            && m.sport == PortMatch::Any
            && m.dport == PortMatch::Any
            && m.tcp_flags.is_none()
            && m.icmp_code.is_none_or(|c| c == 0)
            // RFC 4861: every neighbour discovery message has hop limit 255.
            && rare.fields.iter().all(|t| t.matches(ND_HOP_LIMIT))
            && self.address_holds(&m.src, src)
            && self.address_holds(&m.dst, dst);
        let mut matched = u8::from(arp);
        if nd {
            for (k, ty) in ND_TYPES.into_iter().enumerate() {
                matched |= u8::from(m.icmp_type.is_none_or(|t| t == ty)) << (k + 1);
            }
        }
        matched
    }

    fn address_holds(&self, a: &AddrMatch, addr: Ipv6Addr) -> bool {
        match a {
            AddrMatch::Any => true,
            AddrMatch::Prefix(net) => net.contains(&IpAddr::V6(addr)),
            AddrMatch::Set(s) => self.module.sets[*s].v6.iter().any(|n| n.contains(&addr)),
        }
    }
}

/// The packets the lockout check asks a block about: ARP, then a neighbour discovery
/// message of each of [`ND_TYPES`].
const PROBES: usize = 1 + ND_TYPES.len();

/// What a run of a block's rules decides of the lockout check's probe packets, bit k
/// for probe k (ARP, then each of [`ND_TYPES`]), as if no rule came before it: those
/// no rule of the run decides (`open`), and of the others, those the first rule that
/// decides them allows. Two runs' answers make the answer of the two in a row
/// ([`Probes::then`]), so the two halves of a long block, made on two threads, are
/// each noted on their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Probes {
    open: u8,
    allowed: u8,
}

impl Default for Probes {
    /// No rule yet: every probe open.
    fn default() -> Self {
        Probes {
            open: (1u8 << PROBES) - 1,
            allowed: 0,
        }
    }
}

impl Probes {
    /// The answer of this run followed by `later`: a probe this run left open is
    /// decided as `later` decides it.
    pub(super) fn then(self, later: Probes) -> Probes {
        Probes {
            open: self.open & later.open,
            allowed: self.allowed | (later.allowed & self.open),
        }
    }

    /// For each probe, whether the first rule that decides it allows it (`false`
    /// when none does).
    fn allowed(self) -> [bool; PROBES] {
        std::array::from_fn(|k| self.allowed & (1 << k) != 0)
    }
}

/// A neighbour solicitation's addresses: from a link-local address to a
/// solicited-node multicast group.
fn nd_addresses() -> (Ipv6Addr, Ipv6Addr) {
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1),
    )
}

fn match_span(m: &Match) -> Span {
    match m {
        Match::Proto(_, s, _)
        | Match::Family(_, s)
        | Match::IcmpType(_, s)
        | Match::IcmpCode(_, s)
        | Match::EtherType(_, s)
        | Match::Vlan(_, s) => *s,
        Match::Flag { span, .. }
        | Match::Iface { span, .. }
        | Match::Owner { span, .. }
        | Match::Cgroup { span, .. }
        | Match::Comm { span, .. } => *span,
        Match::Frag(s)
        | Match::CtState(_, s)
        | Match::CtEntry(_, s)
        | Match::Limit(_, s)
        | Match::Route(_, s)
        | Match::Mark(_, s)
        | Match::IpField(_, s) => *s,
        Match::Src(e) | Match::Dst(e) => e.span,
    }
}

#[cfg(test)]
mod tests {
    use sockc_testkit::rng::Rng;

    use super::*;
    use crate::{sema::Options, syntax};

    /// Rule lines that decide some probes or none, allow or drop them, or skip them
    /// (`count`, a limit, a tag, a condition on the hop limit or a source).
    const LINES: &[&str] = &[
        "allow arp",
        "drop arp",
        "count arp",
        "allow arp vlan 20",
        "drop ip4 from * to *",
        "allow ip4 tcp to *:22",
        "allow icmpv6",
        "drop icmpv6",
        "count icmpv6",
        "allow icmpv6 type 133",
        "drop icmpv6 type 134",
        "allow icmpv6 type 135",
        "drop icmpv6 type 136",
        "allow icmpv6 type 137",
        "allow icmpv6 type 135 limit 10/second",
        "allow icmpv6 from fe80::/10",
        "drop icmpv6 from 2001:db8::/32",
        "allow ip6 to ff02::/16",
        "allow ip6 hoplimit 255",
        "allow icmpv6 hoplimit 64",
        "drop udp to *:53",
        "allow from * to *",
    ];

    /// A packet the lockout check asks a block about.
    enum Probe {
        Arp,
        /// An ICMPv6 neighbour discovery message of this type.
        Nd(u8),
    }

    /// Whether a rule matches the probe packet, one probe at a time (the check's
    /// predicate before its probes shared a rule's tests).
    fn probe_matches(c: &Checker, r: &Rule, probe: &Probe) -> bool {
        let m = &r.m;
        if m.rare().vlan.is_some() || r.cond.is_some() || m.rare().limit.is_some() {
            return false;
        }
        let Probe::Nd(ty) = *probe else {
            return !m.ip_only && m.rare().ether_type.is_none_or(|t| t == ETHERTYPE_ARP);
        };
        let (src, dst) = nd_addresses();
        m.rare().ether_type.is_none_or(|t| t == ETHERTYPE_IPV6)
            && m.family != Some(Family::V4)
            && m.proto.is_none_or(|p| p == 58)
            && m.sport == PortMatch::Any
            && m.dport == PortMatch::Any
            && m.tcp_flags.is_none()
            && m.icmp_type.is_none_or(|t| t == ty)
            && m.icmp_code.is_none_or(|c| c == 0)
            && m.rare().fields.iter().all(|t| t.matches(ND_HOP_LIMIT))
            && c.address_holds(&m.src, src)
            && c.address_holds(&m.dst, dst)
    }

    /// Each probe's answer as a scan of its own finds it: the first rule that is not
    /// a `count` and matches it.
    fn one_scan_each(c: &Checker, prog: &Program) -> Vec<bool> {
        let probes = [Probe::Arp].into_iter().chain(ND_TYPES.map(Probe::Nd));
        probes
            .map(|probe| {
                prog.rules
                    .iter()
                    .find(|r| r.action != Action::Count && probe_matches(c, r, &probe))
                    .is_some_and(|r| r.action == Action::Allow)
            })
            .collect()
    }

    /// The probes `rules` decide, noted one rule after another as sema notes them.
    fn noted(c: &Checker, rules: &[Rule]) -> Probes {
        let mut probes = Probes::default();
        for r in rules {
            c.note_probes(&mut probes, r);
        }
        probes
    }

    /// The one pass over a block's rules answers every probe as a scan per probe does,
    /// on blocks of lines drawn at random from [`LINES`] (it fails when a later rule
    /// may overwrite a probe's answer, when the pass stops before every probe is
    /// decided, or when the shared tests leave one out).
    #[test]
    fn the_one_pass_answers_each_probe_as_a_scan_of_its_own() {
        let mut rng = Rng::seeded(50);
        let opts = Options::default();
        let mut answered = [[0usize; 2]; PROBES];
        for _ in 0..400 {
            let n = 1 + rng.below(8);
            let body: Vec<&str> = (0..n).map(|_| rng.pick(LINES)).collect();
            let src = format!(
                "xdp on eth0 {{\n    {}\n    default drop\n}}\n",
                body.join("\n    ")
            );
            let (file, _) = syntax::parse(&src);
            let (module, diags) = super::super::check(file, &src, &opts);
            let module = module.unwrap_or_else(|| panic!("{src}: {diags:#?}"));
            let mut c = Checker::new(&src, &opts);
            c.module.sets = module.sets.clone();
            let prog = module.programs.values().next().expect("one block");
            let whole = noted(&c, &prog.rules);
            let pass = whole.allowed();
            assert_eq!(pass.to_vec(), one_scan_each(&c, prog), "{src}");
            // The block's two parts noted apart (as two threads do) and put together.
            for at in 0..=prog.rules.len() {
                let (first, second) = prog.rules.split_at(at);
                assert_eq!(
                    noted(&c, first).then(noted(&c, second)),
                    whole,
                    "{src} at {at}"
                );
            }
            // Sema's own notes, as the block's rules were made, give its warning.
            let warned = diags.iter().any(|d| d.code == Code::Lockout);
            assert_eq!(warned, !pass.iter().all(|&a| a), "{src}: {diags:#?}");
            for (seen, allowed) in answered.iter_mut().zip(pass) {
                seen[usize::from(allowed)] += 1;
            }
        }
        // Every probe was both allowed and not in some block.
        assert!(
            answered.iter().all(|s| s[0] > 0 && s[1] > 0),
            "{answered:?}"
        );
    }
}
