//! `reject` and its `with` clause as the language names them: what answer a rejected
//! packet gets (a TCP reset or an ICMP/ICMPv6 destination unreachable with a code),
//! and the word a rejecting rule leaves in the program's verdict register for the
//! shared count-and-exit tail ([`RejectWith::mark`]), which `log` records and
//! `sockc trace` reads back.
//!
//! Invariant: one table ([`RejectWith::ALL`]) gives each kind its index, its name, and
//! its ICMP code per family, so the lowering, the evaluator and the trace reader agree
//! on what a kind sends without knowing each other.

/// What a `reject` rule answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectWith {
    /// `reject`: a TCP reset for TCP, ICMP (ICMPv6) port unreachable otherwise.
    Default,
    /// `reject with tcp-reset` (TCP-only rules).
    TcpReset,
    /// `reject with icmp admin-prohibited`: ICMP code 13, ICMPv6 code 1.
    AdminProhibited,
    /// `reject with icmp host-unreachable`: ICMP code 1, ICMPv6 code 3 (address unreachable).
    HostUnreachable,
    /// `reject with icmp net-unreachable`: ICMP code 0, ICMPv6 code 0 (no route).
    NetUnreachable,
    /// `reject with icmp port-unreachable`: ICMP code 3, ICMPv6 code 4.
    PortUnreachable,
}

/// The verdict-register word of [`RejectWith::Default`]; the other kinds follow it.
/// Far from every hook's return codes (XDP's 0–4, TC's -1–8), so the tail can tell a
/// reject from a verdict.
pub const MARK: i32 = 0x5e00;

/// ICMP "destination unreachable" (type 3) and ICMPv6's (type 1).
pub const ICMP_DEST_UNREACH: u8 = 3;
pub const ICMPV6_DEST_UNREACH: u8 = 1;

impl RejectWith {
    pub const ALL: [RejectWith; 6] = [
        RejectWith::Default,
        RejectWith::TcpReset,
        RejectWith::AdminProhibited,
        RejectWith::HostUnreachable,
        RejectWith::NetUnreachable,
        RejectWith::PortUnreachable,
    ];

    /// The words after `reject` (empty for the default).
    pub fn text(self) -> &'static str {
        match self {
            RejectWith::Default => "",
            RejectWith::TcpReset => "with tcp-reset",
            RejectWith::AdminProhibited => "with icmp admin-prohibited",
            RejectWith::HostUnreachable => "with icmp host-unreachable",
            RejectWith::NetUnreachable => "with icmp net-unreachable",
            RejectWith::PortUnreachable => "with icmp port-unreachable",
        }
    }

    /// The kind `with icmp NAME` names (the grammar admits only these names).
    pub fn from_icmp_name(name: &str) -> Option<RejectWith> {
        Self::ALL[2..]
            .iter()
            .copied()
            .find(|k| k.text().strip_prefix("with icmp ") == Some(name))
    }

    /// Position in [`Self::ALL`].
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The verdict-register word of a rule rejecting this way.
    pub fn mark(self) -> i32 {
        MARK + i32::from(self.index())
    }

    /// The kind whose word is `word`, if it is one.
    pub fn from_mark(word: i32) -> Option<RejectWith> {
        let i = usize::try_from(word.checked_sub(MARK)?).ok()?;
        Self::ALL.get(i).copied()
    }

    /// Whether a packet of protocol `proto` gets a TCP reset (otherwise an ICMP error).
    pub fn resets(self, proto: u8) -> bool {
        proto == 6 && matches!(self, RejectWith::Default | RejectWith::TcpReset)
    }

    /// The ICMP (`v6`: ICMPv6) destination-unreachable code of the answer when it is
    /// not a reset.
    pub fn icmp_code(self, v6: bool) -> u8 {
        let (v4, v6c) = match self {
            RejectWith::Default | RejectWith::TcpReset | RejectWith::PortUnreachable => (3, 4),
            RejectWith::AdminProhibited => (13, 1),
            RejectWith::HostUnreachable => (1, 3),
            RejectWith::NetUnreachable => (0, 0),
        };
        if v6 {
            v6c
        } else {
            v4
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_stay_clear_of_verdicts() {
        for k in RejectWith::ALL {
            assert_eq!(RejectWith::from_mark(k.mark()), Some(k));
        }
        for code in -1..=8 {
            assert_eq!(RejectWith::from_mark(code), None);
        }
        assert_eq!(RejectWith::from_mark(MARK + 6), None);
        assert_eq!(
            RejectWith::from_icmp_name("admin-prohibited"),
            Some(RejectWith::AdminProhibited)
        );
        assert_eq!(RejectWith::from_icmp_name("tcp-reset"), None);
    }

    /// RFC 792 and RFC 4443 codes, as nft's `reject with icmp(v6) type` sends them.
    #[test]
    fn codes_are_the_rfc_ones() {
        let v4: Vec<u8> = RejectWith::ALL.iter().map(|k| k.icmp_code(false)).collect();
        let v6: Vec<u8> = RejectWith::ALL.iter().map(|k| k.icmp_code(true)).collect();
        assert_eq!(v4, [3, 3, 13, 1, 0, 3]);
        assert_eq!(v6, [4, 4, 1, 3, 0, 4]);
        assert!(RejectWith::Default.resets(6) && !RejectWith::Default.resets(17));
        assert!(!RejectWith::PortUnreachable.resets(6));
    }
}
