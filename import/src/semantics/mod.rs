//! Netfilter semantics: which base chains run where, in which order, and what a sockc
//! block placed there must do — the per-place first-match lists of flat rules
//! ([`flatten`]) and what each place cannot tell apart ([`Mark`]).
//!
//! Places:
//! - [`Place::Netfilter`]: one netfilter hook and priority: the base chains registered
//!   there (all tables of the ip, ip6 and inet families) in input order. The kernel
//!   runs the functions of a hook one after another by priority, an accept ending
//!   only its own function and a drop ending the packet's way, so one sockc block per
//!   hook and priority composes exactly as the source's base chains do. Exact by
//!   construction.
//! - [`Place::Ingress`]: an XDP or TC ingress program on one interface sees what
//!   prerouting sees, before routing decides between input and forward. It runs the
//!   prerouting and input base chains with the input interface known. What forward
//!   would decide differently is marked: where forward accepts everything, an input
//!   `drop` also drops forwarded packets (stricter, reported approximate); where
//!   forward decides, an input `accept` would also accept forwarded packets it might
//!   drop — more permissive, so it is left out until the language can tell local
//!   from forwarded traffic — and forward's own rules are reported as needing that.
//! - [`Place::Egress`]: TC egress, the same with output and postrouting, the output
//!   interface known.
//!
//! Invariant: a place's list is exactly what netfilter does for the packets that place
//! sees, except where a [`Mark`] says otherwise, and every mark is stricter than the
//! original or names what the language needs; `nat` chains never take part (their
//! rules are reported), and tables of other families (arp, bridge, netdev) are out
//! of scope.

pub mod atoms;
pub mod cgroups;
pub mod cond;
pub mod flatten;
pub mod input_fragments;
pub mod loops;
pub mod runtime_sets;
pub mod transport_fragments;
pub mod written_marks;

use atoms::Atoms;
use flatten::{FlatAction, FlatList, Flattener, Origin, Overflow, Stage};

use crate::{
    features::Feature,
    model::{ChainType, NfHook, RuleId, Ruleset},
};

/// Where a sockc block runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The base chains at this hook and (source) priority.
    Netfilter { hook: NfHook, priority: i32 },
    /// XDP or TC ingress on this interface.
    Ingress(String),
    /// TC egress on this interface.
    Egress(String),
}

/// What a place changes about a flat rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Stricter than netfilter, for this reason.
    Stricter(String),
    /// Left out: the language needs `Feature` to place it exactly.
    Needs(Feature, String),
}

/// One place's list.
#[derive(Clone, Debug)]
pub struct Placed {
    pub place: Place,
    pub list: FlatList,
    /// One per flat rule of `list`.
    pub marks: Vec<Option<Mark>>,
    /// Rules of chains this place cannot run, and why.
    pub left_out: Vec<(RuleId, Feature, String)>,
    /// Remarks for the report (several chains at one priority, ...).
    pub remarks: Vec<String>,
}

/// The base chains at `hooks` that can decide a filter verdict, in the order
/// netfilter runs them: by hook in the order given, then by priority, then, between
/// equal priorities, the chain registered last first (`nf_hook_entries_grow` in
/// net/netfilter/core.c inserts a new hook before the first one whose priority is not
/// lower). A ruleset loaded with `nft -f` registers its chains in input order, so the
/// later chain in the input runs first; a listing of chains added over time may not
/// show their registration order, which the report says in a remark.
pub fn stages(rs: &Ruleset, hooks: &[NfHook]) -> (Vec<Stage>, Vec<String>) {
    let mut found = Vec::new();
    for (ti, t) in rs.tables.iter().enumerate() {
        if t.family.ip_versions().is_empty() {
            continue;
        }
        for (ci, c) in t.chains.iter().enumerate() {
            let Some(b) = &c.base else { continue };
            let Some(hi) = hooks.iter().position(|h| *h == b.hook) else {
                continue;
            };
            if matches!(b.kind, ChainType::Nat | ChainType::Other(_)) {
                continue;
            }
            found.push((hi, b.priority, ti, ci, b.hook));
        }
    }
    found.sort_by_key(|&(hi, prio, ti, ci, _)| (hi, prio, std::cmp::Reverse((ti, ci))));
    let mut remarks = Vec::new();
    for w in found.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (ca, cb) = (&rs.tables[a.2].chains[a.3], &rs.tables[b.2].chains[b.3]);
        if a.0 == b.0 && a.1 == b.1 && !ca.rules.is_empty() && !cb.rules.is_empty() {
            remarks.push(format!(
                "chains {late} and {early} run at the same hook and priority ({} {}): netfilter runs the one registered last first, so the import runs {late} (later in the input) before {early}, as `nft -f` of this file registers them",
                a.4,
                a.1,
                late = format!("{} {}", rs.tables[a.2].name, ca.name),
                early = format!("{} {}", rs.tables[b.2].name, cb.name),
            ));
        }
    }
    let stages = found
        .into_iter()
        .map(|(_, _, table, chain, hook)| Stage { table, chain, hook })
        .collect();
    (stages, remarks)
}

/// The hooks a netfilter block can run at, in the order a packet meets them.
pub const NETFILTER_HOOKS: [NfHook; 5] = [
    NfHook::Prerouting,
    NfHook::Input,
    NfHook::Forward,
    NfHook::Output,
    NfHook::Postrouting,
];

/// Every hook and priority with a base chain that can decide a filter verdict, by
/// hook (in [`NETFILTER_HOOKS`] order) then priority: one netfilter place each.
pub fn netfilter_places(rs: &Ruleset) -> Vec<Place> {
    let (all, _) = stages(rs, &NETFILTER_HOOKS);
    let mut places: Vec<Place> = Vec::new();
    for s in all {
        let place = Place::Netfilter {
            hook: s.hook,
            priority: priority_of(rs, &s),
        };
        if places.last() != Some(&place) {
            places.push(place);
        }
    }
    places
}

/// The base chains at `hook` and `priority`, in input order, and the remarks on them.
pub fn netfilter_stages(rs: &Ruleset, hook: NfHook, priority: i32) -> (Vec<Stage>, Vec<String>) {
    let (all, remarks) = stages(rs, &[hook]);
    let st = all
        .into_iter()
        .filter(|s| priority_of(rs, s) == priority)
        .collect();
    (st, remarks)
}

fn priority_of(rs: &Ruleset, s: &Stage) -> i32 {
    rs.tables[s.table].chains[s.chain]
        .base
        .as_ref()
        .map_or(0, |b| b.priority)
}

/// The list for `place` (see the module docs), within `budget`.
pub fn place(
    rs: &Ruleset,
    atoms: &mut Atoms,
    place: &Place,
    budget: flatten::Budget,
) -> Result<Placed, Overflow> {
    match place {
        Place::Netfilter { hook, priority } => {
            let (st, remarks) = netfilter_stages(rs, *hook, *priority);
            let list = Flattener::new(rs, atoms, None, None, budget).run(&st)?;
            let marks = vec![None; list.rules.len()];
            Ok(Placed {
                place: place.clone(),
                list,
                marks,
                left_out: Vec::new(),
                remarks,
            })
        }
        Place::Ingress(iface) => {
            let dirs = Directions {
                shared: NfHook::Prerouting,
                local: NfHook::Input,
                iif: Some(iface.clone()),
                oif: None,
            };
            split_place(rs, atoms, place, &dirs, budget)
        }
        Place::Egress(iface) => {
            let dirs = Directions {
                shared: NfHook::Postrouting,
                local: NfHook::Output,
                iif: None,
                oif: Some(iface.clone()),
            };
            split_place(rs, atoms, place, &dirs, budget)
        }
    }
}

/// The hooks an ingress or egress place sees: one shared by local and forwarded
/// traffic, one only local traffic takes, and forward.
struct Directions {
    shared: NfHook,
    local: NfHook,
    iif: Option<String>,
    oif: Option<String>,
}

fn order(dirs: &Directions, other: NfHook) -> [NfHook; 2] {
    // Prerouting comes before input/forward; output/forward before postrouting.
    if dirs.shared == NfHook::Prerouting {
        [dirs.shared, other]
    } else {
        [other, dirs.shared]
    }
}

fn split_place(
    rs: &Ruleset,
    atoms: &mut Atoms,
    place: &Place,
    dirs: &Directions,
    budget: flatten::Budget,
) -> Result<Placed, Overflow> {
    let (local_stages, mut remarks) = stages(rs, &order(dirs, dirs.local));
    let (fwd_stages, more) = stages(rs, &order(dirs, NfHook::Forward));
    remarks.extend(
        more.into_iter()
            .filter(|r| !remarks.contains(r))
            .collect::<Vec<_>>(),
    );
    let list =
        Flattener::new(rs, atoms, dirs.iif.clone(), dirs.oif.clone(), budget).run(&local_stages)?;
    let fwd =
        Flattener::new(rs, atoms, dirs.iif.clone(), dirs.oif.clone(), budget).run(&fwd_stages)?;
    let fwd_decides = fwd.rules.iter().any(|r| {
        r.hook == NfHook::Forward
            && matches!(
                r.action,
                FlatAction::Drop | FlatAction::Reject(_) | FlatAction::Other { .. }
            )
    });
    let (here, local_name) = match place {
        Place::Egress(_) => ("egress", "output"),
        _ => ("ingress", "input"),
    };
    let marks = list
        .rules
        .iter()
        .map(|r| {
            if r.hook != dirs.local {
                return None;
            }
            match &r.action {
                FlatAction::Drop | FlatAction::Reject(_) | FlatAction::Other { .. } => {
                    Some(Mark::Stricter(format!(
                        "at {here} it also drops forwarded packets, which forward {}",
                        if fwd_decides { "decides" } else { "accepts" }
                    )))
                }
                FlatAction::Accept if fwd_decides => Some(Mark::Needs(
                    Feature::LocalForwarded,
                    format!(
                        "at {here} it would also accept forwarded packets, which forward may drop"
                    ),
                )),
                _ => None,
            }
        })
        .collect();
    let mut left_out = Vec::new();
    for r in fwd.rules.iter().filter(|r| r.hook == NfHook::Forward) {
        let why = format!(
            "a forward rule: at {here}, forwarded traffic cannot be told from {local_name} traffic"
        );
        for id in origin_rules(r.origin, &r.path) {
            left_out.push((id, Feature::LocalForwarded, why.clone()));
        }
    }
    left_out.sort_by_key(|x| x.0);
    left_out.dedup_by_key(|x| x.0);
    Ok(Placed {
        place: place.clone(),
        list,
        marks,
        left_out,
        remarks,
    })
}

fn origin_rules(origin: Origin, path: &[RuleId]) -> Vec<RuleId> {
    let mut v = path.to_vec();
    if let Origin::Rule(id) = origin {
        v.push(id);
    }
    v
}
