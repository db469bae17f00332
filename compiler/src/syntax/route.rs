//! `route local` / `route forward`: where the host's routing decides an IP packet
//! goes, as the one byte the flow record, the evaluator and `sockc test` keep it in.
//!
//! The lowering asks the FIB (`bpf_fib_lookup` with `BPF_FIB_LOOKUP_SKIP_NEIGH`, the
//! ingress device's view) and sorts its answer into three classes: `Local` (delivered
//! to this host: its own addresses, broadcast and multicast; also a packet the stack
//! will drop for want of a route, and every packet that comes in on a device that does
//! not forward, since the kernel refuses to forward before it looks), `Forward`
//! (routed out again: `SUCCESS`, `NO_NEIGH`, `FRAG_NEEDED`), and `Unroutable`
//! (blackhole, unreachable and prohibit routes: the stack drops it; neither class
//! matches).
//!
//! Invariant: a class's value is the byte the lowering stores (0 there means "not
//! looked up yet"), so [`RouteClass::from_value`] is the same reading for the
//! evaluator, the optimiser's knowledge and the bytecode.

/// Where routing sends an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteClass {
    Local = 1,
    Forward = 2,
    /// A blackhole, unreachable or prohibit route: matched by neither word.
    Unroutable = 3,
}

impl RouteClass {
    pub const ALL: [RouteClass; 3] = [
        RouteClass::Local,
        RouteClass::Forward,
        RouteClass::Unroutable,
    ];

    /// The word the language (and `sockc test`'s `route` option) uses.
    pub fn name(self) -> &'static str {
        match self {
            RouteClass::Local => "local",
            RouteClass::Forward => "forward",
            RouteClass::Unroutable => "unroutable",
        }
    }

    pub fn from_name(s: &str) -> Option<RouteClass> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The byte stored for a packet of this class.
    pub fn value(self) -> u8 {
        self as u8
    }

    pub fn from_value(v: u8) -> Option<RouteClass> {
        Self::ALL.into_iter().find(|c| c.value() == v)
    }

    /// The class of a `bpf_fib_lookup` return code (`BPF_FIB_LKUP_RET_*`).
    pub fn of_fib_result(ret: u32) -> RouteClass {
        match ret {
            // SUCCESS, UNSUPP_LWT (a tunnel route), NO_NEIGH, FRAG_NEEDED: the packet
            // has a next hop.
            0 | 6 | 7 | 8 => RouteClass::Forward,
            // BLACKHOLE, UNREACHABLE, PROHIBIT
            1..=3 => RouteClass::Unroutable,
            // NOT_FWDED (local, broadcast, multicast, no route), FWD_DISABLED and
            // anything newer: the stack does not forward it.
            _ => RouteClass::Local,
        }
    }
}
