//! Each rule of a program as the searches read it ([`Prep`]): its class (action, and
//! whether it has a socket condition), its index keys, the families it may match and
//! its quick form ([`Entry`]); and what actions mean for anomalies: which rules always
//! end the program, which may decide otherwise than another, which agree with the
//! default.
//!
//! Invariant: a rule's class is [`NO_CLASS`] exactly when it never ends the program
//! (a `count` rule, or one that matches nothing); the quick tests of an [`Entry`] are
//! necessary conditions of the exact ones, so they only ever rule candidates out.

use super::keys::{key, Key};
use crate::{
    ir::{Action, Rule},
    space::{Addr, AddrSets, MatchShape},
    syntax::ast::Verdict,
};

pub(super) fn terminates(r: &Rule) -> bool {
    r.action != Action::Count && !conditional(r)
}

/// A rule whose match depends on more than the packet's headers: a socket condition,
/// or a `ct state` (not a dimension of the header space yet, so a `ct state` rule is
/// treated like a conditioned one: it never shadows another). So is a `route` class
/// (no dimension either) and a `limit` (its answer depends on the traffic before),
/// and so is a device match (`in on`, `out on`), a `mark` (what earlier hooks did)
/// an `owner` or a `comm` (who sent it or calls), a `cgroup` (where its socket was made) and a test of the conntrack entry (`ct status`, ...).
pub(super) fn conditional(r: &Rule) -> bool {
    r.cond.is_some()
        || r.m.ct.is_some()
        || r.m.rare().limit.is_some()
        || r.m.route.is_some()
        || r.m.tests_device()
        || r.m.rare().mark.is_some()
        || r.m.rare().ct_entry.is_some()
        // An IP header field (`ttl`, `hoplimit`): the anomaly search's quick form has
        // no such dimension, so such a rule is treated like a conditioned one too.
        || !r.m.rare().fields.is_empty()
        || r.m.rare().owner.is_some()
        || r.m.rare().cgroup.is_some()
        || r.m.rare().comm.is_some()
}

/// True when a rule with this action and condition, matching, may end the program
/// otherwise than `action` would.
pub(super) fn decides_otherwise(a: Action, cond: bool, action: Action) -> bool {
    a != Action::Count && (cond || a.is_redirect() || a != action)
}

pub(super) fn same_as_default(a: Action, v: Verdict) -> bool {
    matches!(
        (a, v),
        (Action::Allow, Verdict::Allow)
            | (Action::Drop, Verdict::Drop)
            | (Action::Pass, Verdict::Pass)
    )
}

/// Class of a rule that is not in the index (a `count` rule, or one matching nothing).
pub(super) const NO_CLASS: u16 = u16::MAX;

/// What the searches need of every rule.
pub(super) struct Prep<'m> {
    pub(super) rules: &'m [Rule],
    /// Per rule, its IPv4 keys (source, destination) packed as (network << 8 | length).
    pub(super) keys4: Vec<[u64; 2]>,
    /// Per rule, its IPv6 keys (empty when no rule has IPv6).
    pub(super) keys6: Vec<[Key; 2]>,
    /// Families it may match (0: matches nothing).
    pub(super) fams: Vec<u8>,
    /// Its quick form; the class (index into `classes`: action, has a condition) is
    /// [`NO_CLASS`] unless the rule may end the program.
    pub(super) quick: Vec<Entry>,
    pub(super) classes: Vec<(Action, bool)>,
    /// Per class, the classes (below 64) whose rules decide otherwise, as bits.
    block_masks: Vec<u64>,
    /// What it matches ([`MatchShape::NOTHING`] when it matches nothing): made once
    /// here, compared many times by the searches.
    pub(super) shapes: Vec<MatchShape<'m>>,
}

impl<'m> Prep<'m> {
    pub(super) fn new(sets: &AddrSets, rules: &'m [Rule]) -> Prep<'m> {
        let n = rules.len();
        let mut classes: Vec<(Action, bool)> = Vec::new();
        let mut keys4: Vec<[u64; 2]> = Vec::with_capacity(n);
        let mut keys6: Vec<[Key; 2]> = Vec::new();
        let mut shapes = Vec::with_capacity(n);
        let quick: Vec<Entry> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let Some(s) = sets.shape(&r.m) else {
                    keys4.push([0; 2]);
                    shapes.push(MatchShape::NOTHING);
                    return Entry::new(i as u32, NO_CLASS, &MatchShape::NOTHING);
                };
                let k4 = |a: &Addr| {
                    let k = key(sets, a, 0);
                    ((k.net as u64) << 8) | u64::from(k.len)
                };
                keys4.push(if s.fams & 1 != 0 {
                    [k4(&s.src), k4(&s.dst)]
                } else {
                    [0; 2]
                });
                if s.fams & 2 != 0 {
                    keys6.resize(n, [Key::ROOT; 2]);
                    keys6[i] = [key(sets, &s.src, 1), key(sets, &s.dst, 1)];
                }
                let entry = Entry::new(i as u32, class_of(&mut classes, r), &s);
                shapes.push(s);
                entry
            })
            .collect();
        let block_masks = classes
            .iter()
            .map(|&(own, _)| {
                classes
                    .iter()
                    .take(64)
                    .enumerate()
                    .filter(|(_, &(a, cond))| decides_otherwise(a, cond, own))
                    .fold(0u64, |m, (c, _)| m | 1 << c)
            })
            .collect();
        Prep {
            rules,
            keys4,
            keys6,
            block_masks,
            fams: quick.iter().map(Entry::fams).collect(),
            quick,
            classes,
            shapes,
        }
    }

    /// True when a rule of class `c`, matching, may end the program otherwise than
    /// one of class `own` would.
    pub(super) fn blocks(&self, own: u16, c: u16) -> bool {
        match self.block_masks.get(own as usize) {
            Some(mask) if c < 64 => mask >> c & 1 != 0,
            _ => {
                let (a, cond) = self.classes[c as usize];
                decides_otherwise(a, cond, self.classes[own as usize].0)
            }
        }
    }

    /// The class of rule `i` if it always ends the program when it matches.
    pub(super) fn terminating(&self, i: u32) -> u16 {
        let c = self.quick[i as usize].class;
        if c != NO_CLASS && !self.classes[c as usize].1 {
            c
        } else {
            NO_CLASS
        }
    }
}

/// The class of `r` in `classes` (added if new), or [`NO_CLASS`] for a `count` rule.
fn class_of(classes: &mut Vec<(Action, bool)>, r: &Rule) -> u16 {
    let c = (r.action, conditional(r));
    if r.action == Action::Count {
        NO_CLASS
    } else {
        match classes.iter().position(|x| *x == c) {
            Some(k) => k as u16,
            None => {
                classes.push(c);
                (classes.len() - 1) as u16
            }
        }
    }
}

/// A rule in the index, with what a quick test needs so that most candidates are
/// ruled out without looking at the rule. For a *plain* rule (literal prefixes or
/// `*`, at most one range per port match, no TCP flags, no ICMP fields, not `frag`,
/// not the empty match) it is the whole rule apart from its addresses, which the index
/// itself compares exactly (a plain rule's keys are its addresses).
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub(super) rule: u32,
    pub(super) class: u16,
    /// The protocol, or [`ANY_PROTO`].
    pub(super) proto: u16,
    /// The smallest ranges holding its port ranges (the whole range for any port).
    sport: (u16, u16),
    pub(super) dport: (u16, u16),
    /// [`PLAIN`], [`SPORT`], [`DPORT`], and the families it may match times [`FAMS`].
    bits: u8,
}

pub(super) const ANY_PROTO: u16 = 0x100;
const PLAIN: u8 = 1;
/// Has a source port match.
const SPORT: u8 = 2;
/// Has a destination port match.
const DPORT: u8 = 4;
const FAMS: u8 = 8;

impl Entry {
    pub(super) fn new(rule: u32, class: u16, s: &MatchShape) -> Entry {
        let hull = |p: Option<&[(u16, u16)]>| match p {
            Some(r) if !r.is_empty() => (r[0].0, r[r.len() - 1].1),
            _ => (0, u16::MAX),
        };
        let plain = !s.all
            && s.ether.is_none()
            && s.vlan.is_none()
            && !matches!(s.src, Addr::Set(_))
            && !matches!(s.dst, Addr::Set(_))
            && s.sport.is_none_or(|r| r.len() == 1)
            && s.dport.is_none_or(|r| r.len() == 1)
            && s.flags.is_none()
            && !s.frag
            && !s.needs_icmp();
        Entry {
            rule,
            class,
            proto: s.proto.map_or(ANY_PROTO, u16::from),
            sport: hull(s.sport),
            dport: hull(s.dport),
            bits: u8::from(plain) * PLAIN
                + u8::from(s.sport.is_some()) * SPORT
                + u8::from(s.dport.is_some()) * DPORT
                + s.fams * FAMS,
        }
    }

    pub(super) fn fams(&self) -> u8 {
        self.bits / FAMS
    }

    pub(super) fn plain(&self, b: &Entry) -> bool {
        self.bits & b.bits & PLAIN != 0
    }

    /// False when `self` cannot cover `b` (a necessary condition of [`AddrSets::covers`]);
    /// exact when both are plain and `self`'s addresses hold `b`'s.
    pub(super) fn may_cover(&self, b: &Entry) -> bool {
        let port = |bit: u8, a: (u16, u16), x: (u16, u16)| {
            self.bits & bit == 0 || (b.bits & bit != 0 && a.0 <= x.0 && x.1 <= a.1)
        };
        (self.proto == ANY_PROTO || self.proto == b.proto)
            && b.fams() & !self.fams() == 0
            && port(SPORT, self.sport, b.sport)
            && port(DPORT, self.dport, b.dport)
    }

    /// False when `self` and `b` cannot overlap (a necessary condition of
    /// [`AddrSets::overlaps`]); exact when both are plain and their addresses overlap
    /// in a family both have.
    pub(super) fn may_meet(&self, b: &Entry) -> bool {
        let ports = |e: &Entry| e.bits & (SPORT | DPORT) != 0;
        let tcp_udp = |p: u16| p == ANY_PROTO || p == 6 || p == 17;
        (self.proto == ANY_PROTO || b.proto == ANY_PROTO || self.proto == b.proto)
            && (!ports(self) || tcp_udp(b.proto))
            && (!ports(b) || tcp_udp(self.proto))
            && self.sport.0 <= b.sport.1
            && b.sport.0 <= self.sport.1
            && self.dport.0 <= b.dport.1
            && b.dport.0 <= self.dport.1
    }
}
