//! Connection-tracking states as the language names them (`ct state new,established`):
//! a set of [`CtState`]s kept as a bit mask, and the one byte a packet's state is
//! stored as in the flow record and in `sockc test`'s packets.
//!
//! Invariant: the bit of a state is `1 << (its value - 1)`, and a state's value is the
//! byte the lowering stores (0 there means "not derived yet"), so [`CtStates::holds`]
//! is the same test for the evaluator, the header space and the bytecode.

/// One connection-tracking state, as nftables names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CtState {
    New = 1,
    Established = 2,
    Related = 3,
    Invalid = 4,
    Untracked = 5,
}

impl CtState {
    pub const ALL: [CtState; 5] = [
        CtState::New,
        CtState::Established,
        CtState::Related,
        CtState::Invalid,
        CtState::Untracked,
    ];

    /// The word the language (and `sockc test`) uses.
    pub fn name(self) -> &'static str {
        match self {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid => "invalid",
            CtState::Untracked => "untracked",
        }
    }

    pub fn from_name(s: &str) -> Option<CtState> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The byte stored for a packet in this state.
    pub fn value(self) -> u8 {
        self as u8
    }

    pub fn from_value(v: u8) -> Option<CtState> {
        Self::ALL.into_iter().find(|c| c.value() == v)
    }

    fn bit(self) -> u8 {
        1 << (self.value() - 1)
    }
}

/// A set of states (`ct state established,related`); never empty once parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtStates(pub u8);

impl CtStates {
    pub fn with(self, s: CtState) -> CtStates {
        CtStates(self.0 | s.bit())
    }

    pub fn contains(self, s: CtState) -> bool {
        self.0 & s.bit() != 0
    }

    /// Whether a packet whose stored state byte is `v` is in the set (an unknown
    /// byte is in none).
    pub fn holds(self, v: u8) -> bool {
        CtState::from_value(v).is_some_and(|s| self.contains(s))
    }

    pub fn iter(self) -> impl Iterator<Item = CtState> {
        CtState::ALL.into_iter().filter(move |&s| self.contains(s))
    }

    /// As written: `new,established`.
    pub fn names(self) -> String {
        self.iter().map(CtState::name).collect::<Vec<_>>().join(",")
    }
}

/// `enum ip_conntrack_info`'s `IP_CT_IS_REPLY`: the reply direction's infos are the
/// original direction's plus this.
pub const IP_CT_IS_REPLY: u64 = 3;
/// `IP_CT_UNTRACKED`: the info of a packet with no entry on purpose (`notrack`).
pub const IP_CT_UNTRACKED: u64 = 7;

/// The state of a packet whose `sk_buff._nfct` is `nfct`, as `nft_ct_get_eval` reads
/// it at a netfilter hook after conntrack: the low 3 bits are the `ip_conntrack_info`,
/// the rest the `nf_conn` pointer. With an entry, the info modulo `IP_CT_IS_REPLY`
/// names the state (`NF_CT_STATE_BIT`); without one, `IP_CT_UNTRACKED` is `untracked`
/// and anything else (0 in a test run, or where conntrack is off) `invalid`.
pub fn from_nfct(nfct: u64) -> CtState {
    let (ct, info) = (nfct & !7, nfct & 7);
    if ct == 0 {
        return if info == IP_CT_UNTRACKED {
            CtState::Untracked
        } else {
            CtState::Invalid
        };
    }
    match info % IP_CT_IS_REPLY {
        0 => CtState::Established,
        1 => CtState::Related,
        _ => CtState::New,
    }
}

/// TCP flag bits as the flow record keeps them.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The state of an IP packet for which conntrack has no entry, as conntrack would
/// classify it (`tcp_new`, `icmp_new`, `nf_conntrack_icmpv6_error`): `proto` its
/// protocol (ICMP and ICMPv6 by their numbers, whatever the family), `l4_complete` whether its TCP/UDP/ICMP header is there in
/// full (false too for a later fragment), then its TCP flags or ICMP type.
///
/// This is what a lookup at XDP or TC ingress gives for the first packet of every
/// flow (conntrack creates the entry after those hooks), and what `sockc test` gives
/// when the packet names no state. ICMP errors are `invalid` here: they are `related`
/// only when the flow they quote has an entry (`bpf::ct` looks it up).
pub fn without_entry(proto: u8, l4_complete: bool, flags: u8, icmp_type: u8) -> CtState {
    let tracked_l4 = matches!(proto, 6 | 17 | 1 | 58);
    if tracked_l4 && !l4_complete {
        return CtState::Invalid;
    }
    match proto {
        // From "no state" conntrack starts a TCP connection at a SYN, or picks one up
        // mid-stream at an ACK (`nf_conntrack_tcp_loose`, on by default); a RST, FIN,
        // SYN-ACK or no flags at all is invalid.
        6 if flags & (RST | FIN) != 0 => CtState::Invalid,
        6 if flags & (SYN | ACK) == SYN || flags & (SYN | ACK) == ACK => CtState::New,
        6 => CtState::Invalid,
        // ICMP errors (about a flow without an entry) and unknown types are invalid.
        1 if matches!(icmp_type, 3 | 4 | 5 | 11 | 12) || icmp_type > 18 => CtState::Invalid,
        // Neighbour discovery and MLD are never tracked; errors are invalid.
        58 if matches!(icmp_type, 130..=136 | 143) => CtState::Untracked,
        58 if icmp_type < 128 => CtState::Invalid,
        _ => CtState::New,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip_conntrack_info` by value: established, related, new, then the replies.
    #[test]
    fn nfct_reads_as_nft_reads_it() {
        let entry = 0xffff_8880_1234_5600_u64;
        let states = [
            CtState::Established,
            CtState::Related,
            CtState::New,
            CtState::Established,
            CtState::Related,
        ];
        for (info, s) in states.into_iter().enumerate() {
            assert_eq!(from_nfct(entry | info as u64), s, "ctinfo {info}");
        }
        assert_eq!(from_nfct(IP_CT_UNTRACKED), CtState::Untracked);
        assert_eq!(from_nfct(0), CtState::Invalid);
        assert_eq!(
            from_nfct(2),
            CtState::Invalid,
            "no entry, whatever the info"
        );
    }

    #[test]
    fn states_round_trip_through_names_values_and_bits() {
        let mut all = CtStates::default();
        for s in CtState::ALL {
            assert_eq!(CtState::from_name(s.name()), Some(s));
            assert_eq!(CtState::from_value(s.value()), Some(s));
            all = all.with(s);
        }
        assert_eq!(all.iter().count(), 5);
        let er = CtStates::default()
            .with(CtState::Related)
            .with(CtState::Established);
        assert_eq!(er.names(), "established,related");
        assert!(er.holds(CtState::Established.value()));
        assert!(!er.holds(CtState::New.value()));
        assert!(!er.holds(0), "not derived yet is in no set");
    }

    #[test]
    fn packets_without_an_entry_get_what_conntrack_would_say() {
        use CtState::*;
        let tcp = |flags| without_entry(6, true, flags, 0);
        assert_eq!(tcp(SYN), New);
        assert_eq!(tcp(ACK), New, "mid-stream pickup");
        assert_eq!(tcp(ACK | 0x08), New);
        for f in [SYN | ACK, RST, RST | ACK, FIN | ACK, 0] {
            assert_eq!(tcp(f), Invalid, "flags {f:#x}");
        }
        assert_eq!(without_entry(17, true, 0, 0), New);
        assert_eq!(without_entry(17, false, 0, 0), Invalid);
        assert_eq!(without_entry(1, true, 0, 8), New);
        assert_eq!(without_entry(1, true, 0, 3), Invalid);
        assert_eq!(without_entry(1, true, 0, 40), Invalid);
        assert_eq!(without_entry(58, true, 0, 135), Untracked);
        assert_eq!(without_entry(58, true, 0, 128), New);
        assert_eq!(without_entry(58, true, 0, 1), Invalid);
        assert_eq!(without_entry(47, false, 0, 0), New);
    }
}
