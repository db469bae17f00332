//! Flat rules → sockc rules: each flat rule of a place becomes the sockc rules that
//! say it (see [`cube`]), or a comment saying why it cannot, with its status:
//! exact, approximate (always stricter than netfilter, and says how) or unsupported
//! (left out, and says what the language needs and which way leaving it out errs).
//!
//! Invariant: a rule written is exactly its flat rule, or stricter where its status
//! says so (a `reject` written as `drop` where the language cannot answer, a `log`
//! written as `count`, a placement [`Mark::Stricter`]), or, for a rate limit, the same
//! rate and burst with one bucket per rule whose timing is the language's (approximate,
//! see [`limit`]); nothing more permissive is ever written, and every flat rule has an
//! [`Entry`].

pub mod cgroup;
pub mod ct;
pub mod ct_entry;
pub mod cube;
pub mod iface;
pub mod limit;
pub mod mark;
pub mod owner;
pub mod sets;
pub mod write;

use cube::{CubeWriter, Refusal};
use limit::LimitPlan;
use sets::SetTable;

use crate::{
    algebra::{Cube, Dim, Ivs},
    features::Feature,
    model::{NfHook, RejectWith, RuleId, Ruleset},
    semantics::{
        atoms::Atoms,
        flatten::{FlatAction, FlatRule, Origin},
        runtime_sets::writes_state,
        Mark, Place, Placed,
    },
    status::Status,
};

/// What became of one flat rule.
#[derive(Clone, Debug)]
pub struct Entry {
    pub status: Status,
    pub reasons: Vec<String>,
    /// The features it needs, to blame on the rules that brought them in.
    pub needs: Vec<Feature>,
    /// The sockc rules it became (match words and action, as text).
    pub rules: Vec<String>,
    /// The reasons that made it unsupported (while it is being lowered).
    unsupported_reasons: Vec<String>,
    /// Filled by the writer: the lines of `rules` in the output.
    pub lines: Vec<u32>,
}

/// One sockc block: its head and, per flat rule of its place, what became of it.
#[derive(Clone, Debug)]
pub struct Block {
    /// Comment lines above the head (a netfilter block's base chains).
    pub about: Vec<String>,
    pub head: String,
    /// Rules before the entries' (each with the comment above it): the rule that lets
    /// through what the residual decided.
    pub lead: Vec<(String, String)>,
    pub place: Place,
    pub entries: Vec<Entry>,
}

/// Which program kind runs a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Xdp,
    Tc,
    Netfilter,
}

/// Lowers one place's list.
pub fn lower(
    rs: &Ruleset,
    atoms: &Atoms,
    placed: &Placed,
    program: Program,
    limits: &LimitPlan,
    table: &mut SetTable,
) -> Block {
    let target = Target {
        program,
        place: &placed.place,
        limits,
    };
    let entries = placed
        .list
        .rules
        .iter()
        .zip(&placed.marks)
        .map(|(r, mark)| lower_rule(rs, atoms, r, mark.as_ref(), &target, table))
        .collect();
    Block {
        about: about(rs, &placed.place),
        head: head(&placed.place, program),
        lead: Vec::new(),
        place: placed.place.clone(),
        entries,
    }
}

/// How far after its source's base chains a netfilter block runs: one, so that it
/// keeps their place relative to every other function of the hook (conntrack at
/// -200, NAT at -100 and 100, mangle at -150, the other tables' chains), since the
/// kernel's own functions sit at multiples of 25 and chains at neighbouring
/// priorities are rare; and so that it can be applied while the source's chains are
/// still loaded (a BPF hook at a priority another function holds is `EBUSY`), for a
/// migration that never leaves the host unfiltered.
pub const PRIORITY_STEP: i32 = 1;

/// The priority of the block for base chains at `source` (the kernel refuses
/// `i32::MAX` and `i32::MIN`).
pub fn block_priority(source: i32) -> i32 {
    source.saturating_add(PRIORITY_STEP).min(i32::MAX - 1)
}

fn head(place: &Place, program: Program) -> String {
    match (place, program) {
        (Place::Ingress(i), Program::Xdp) => format!("xdp on {}", iface(i)),
        (Place::Ingress(i), _) => format!("tc ingress on {}", iface(i)),
        (Place::Egress(i), _) => format!("tc egress on {}", iface(i)),
        (Place::Netfilter { hook, priority }, _) => {
            format!("netfilter {hook} priority {}", block_priority(*priority))
        }
    }
}

/// What a netfilter block replaces: its base chains, each with its table, priority
/// and policy.
fn about(rs: &Ruleset, place: &Place) -> Vec<String> {
    let Place::Netfilter { hook, priority } = place else {
        return Vec::new();
    };
    let (stages, _) = crate::semantics::netfilter_stages(rs, *hook, *priority);
    stages
        .iter()
        .map(|s| {
            let t = &rs.tables[s.table];
            let c = &t.chains[s.chain];
            let policy = match c.base.as_ref().map(|b| b.policy) {
                Some(crate::model::Policy::Drop) => "drop",
                _ => "accept",
            };
            format!(
                "chain {} (table {} {}, line {}): hook {hook} priority {priority}, policy {policy}",
                c.name,
                t.family.name(),
                t.name,
                c.span.line
            )
        })
        .collect()
}

/// An interface name as the language takes it: bare when it can be, quoted otherwise.
pub fn iface(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c))
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', ""))
    }
}

/// What a rule is lowered for: the program, its place, and the limits it may write.
struct Target<'a> {
    program: Program,
    place: &'a Place,
    limits: &'a LimitPlan,
}

fn lower_rule(
    rs: &Ruleset,
    atoms: &Atoms,
    r: &FlatRule,
    mark: Option<&Mark>,
    target: &Target<'_>,
    table: &mut SetTable,
) -> Entry {
    let program = target.program;
    let mut e = Entry {
        status: Status::Exact,
        reasons: Vec::new(),
        needs: Vec::new(),
        rules: Vec::new(),
        unsupported_reasons: Vec::new(),
        lines: Vec::new(),
    };
    let action = action_word(&mut e, r, target);
    match mark {
        Some(Mark::Stricter(why)) => e.approximate(format!("{why} (stricter)")),
        Some(Mark::Needs(f, why)) => e.unsupported(*f, format!("{why}: needs {f}")),
        None => {}
    }
    let hint = match r.origin {
        Origin::Rule(id) => format!("line{}", rs.rules[id].span.line),
        Origin::Policy { .. } => "policy".to_string(),
    };
    let set_mark = table.mark();
    let mut writer = CubeWriter {
        atoms,
        sets: &rs.sets,
        table,
        hint,
        limits: target.limits,
        devices: match target.place {
            Place::Netfilter { hook, .. } => Some([
                matches!(hook, NfHook::Prerouting | NfHook::Input | NfHook::Forward),
                matches!(hook, NfHook::Forward | NfHook::Output | NfHook::Postrouting),
            ]),
            _ => None,
        },
        owner: matches!(
            target.place,
            Place::Netfilter {
                hook: NfHook::Output | NfHook::Postrouting,
                ..
            }
        ),
        nf_hook: match target.place {
            Place::Netfilter { hook, .. } => Some(*hook),
            _ => None,
        },
        ct_entry: matches!(target.place, Place::Netfilter { .. }),
        mark: program == Program::Netfilter,
        left_out: Vec::new(),
    };
    let written = match ct_split(&mut e, r, program) {
        Some(cubes) => write_all(&mut writer, &cubes).and_then(|w| one_bucket(&mut e, w)),
        None => Ok(Vec::new()),
    };
    if by_index(rs, r)
        && matches!(&written, Ok(w) if w.iter().flatten().any(|x| x.contains(" on ")))
    {
        e.approximate(
            "nft's `iif`/`oif` compare the interface index fixed when the rule was loaded, \
             `in on`/`out on` the name: they differ once the interface is deleted and \
             created again (the name still matches, the old index does not)"
                .into(),
        );
    }
    let mut left_out = std::mem::take(&mut writer.left_out);
    left_out.dedup();
    for piece in left_out {
        let why = format!("{piece} cannot be matched: left out");
        match action.word {
            "allow" => e.approximate(format!("{why} (stricter)")),
            "count" => e.approximate(format!("{why} (counted less)")),
            _ => e.unsupported(
                Feature::IpHeader,
                format!("{why}: needs {}", Feature::IpHeader),
            ),
        }
    }
    match written {
        Ok(rules) if e.status != Status::Unsupported => {
            let log = match &r.log {
                Some(_) if action.word != "count" => " log",
                _ => "",
            };
            // `with` closes a reject rule, after its matches
            let with = action
                .with
                .map(|w| format!(" with {w}"))
                .unwrap_or_default();
            let action = action.word;
            e.rules = rules
                .into_iter()
                .map(|w| {
                    if w.is_empty() {
                        format!("{action}{with}{log}")
                    } else {
                        format!("{action} {}{with}{log}", w.join(" "))
                    }
                })
                .collect();
        }
        Ok(_) => {}
        Err(Refusal::Never(why)) => e.reasons.push(format!("never matches ({why})")),
        Err(Refusal::Needs(list)) => {
            for (f, detail) in list {
                e.unsupported(f, format!("{detail}: needs {f}"));
            }
        }
    }
    if e.rules.is_empty() {
        table.rollback(set_mark);
    }
    if e.status == Status::Unsupported {
        // what was said about how it would have been written no longer applies
        e.reasons.retain(|r| e.unsupported_reasons.contains(r));
        e.reasons.push(left_out_effect(rs, r).to_string());
    }
    e.unsupported_reasons.clear();
    e
}

/// The cubes a flat rule is written as, each with the words it adds (`ct state`: at
/// xdp and tc see [`ct`]; at netfilter the program reads conntrack's own state, so
/// the states are written as they are); `None` when it is left out (noted on `e`).
fn ct_split(e: &mut Entry, r: &FlatRule, program: Program) -> Option<Vec<(Cube, Vec<String>)>> {
    if !Feature::CtState.available() {
        return Some(vec![(r.cube.clone(), Vec::new())]);
    }
    if program == Program::Netfilter {
        // The states with a conntrack entry apart from those without (`ct_entry`);
        // the entry's words imply the first, so they need no `ct state` of their own.
        let parts = ct_entry::split(&r.cube).into_iter().map(|c| {
            if ct_entry::tests_entry(&c) && ct_entry::implied(c.get(Dim::CtState)) {
                (c.without_dim(Dim::CtState), Vec::new())
            } else {
                ct::exact(&c)
            }
        });
        return Some(parts.collect());
    }
    match ct::write(&r.cube, &r.action) {
        None => Some(vec![(r.cube.clone(), Vec::new())]),
        Some(ct::CtWrite::Written(cubes, why)) => {
            e.approximate(why);
            Some(cubes)
        }
        Some(ct::CtWrite::LeftOut(why)) => {
            e.unsupported(Feature::CtState, why);
            None
        }
    }
}

/// A limit written keeps netfilter's one bucket per rule only when its rule becomes
/// one sockc rule; its timing is the language's, so the rule is approximate.
fn one_bucket(e: &mut Entry, rules: Vec<Vec<String>>) -> Result<Vec<Vec<String>>, Refusal> {
    let limited = rules
        .iter()
        .filter(|w| w.iter().any(|x| x.starts_with("limit ")))
        .count();
    if limited == 0 {
        return Ok(rules);
    }
    if rules.len() > 1 {
        return Err(Refusal::Needs(vec![(
            Feature::Limit,
            format!(
                "a rate limit over {} sockc rules (one bucket each, netfilter has one)",
                rules.len()
            ),
        )]));
    }
    e.approximate(
        "rate limit: one bucket for the rule as in netfilter, but GCRA timing, refilled when the programs are replaced (not compared by single probes)"
            .into(),
    );
    if rules[0].first().is_some_and(|w| w == "any") {
        e.approximate("rate limit: the bucket also takes non-IP frames (ARP) at this hook".into());
    }
    Ok(rules)
}

/// Whether a source rule that shaped `r` (its own, a jump to it, an exclusion that
/// split it) matches nft's `iif`/`oif`, an interface by index.
fn by_index(rs: &Ruleset, r: &FlatRule) -> bool {
    use crate::model::{Key, Rhs, Value};
    fn walk(m: &crate::model::Match) -> bool {
        match &m.kind {
            crate::model::MatchKind::Test { keys, rhs } => {
                keys.iter().any(|k| matches!(k, Key::Iif | Key::Oif))
                    && match rhs {
                        // `lo` and numbers are written as the index itself.
                        Rhs::Elements(els) => els.iter().flatten().any(|v| {
                            matches!(v, Value::Name(n)
                                if crate::semantics::atoms::known_index(n).is_none())
                        }),
                        _ => true,
                    }
            }
            crate::model::MatchKind::Any(alts) => alts.iter().flatten().any(walk),
            crate::model::MatchKind::Opaque { .. } | crate::model::MatchKind::Cgroup(_) => false,
        }
    }
    let own = match r.origin {
        Origin::Rule(id) => Some(id),
        Origin::Policy { .. } => None,
    };
    own.into_iter()
        .chain(r.path.iter().copied())
        .chain(r.after.iter().copied())
        .any(|id| rs.rules[id].matches.iter().any(walk))
}

/// The match words of every rule `cubes` become, in order, each with its extra words.
fn write_all(
    writer: &mut CubeWriter<'_>,
    cubes: &[(Cube, Vec<String>)],
) -> Result<Vec<Vec<String>>, Refusal> {
    let mut out = Vec::new();
    let mut never = None;
    for (cube, extra) in cubes {
        match writer.write(cube) {
            Ok(rules) => out.extend(rules.into_iter().map(|mut w| {
                if w.first().is_some_and(|x| x == "any") && !extra.is_empty() {
                    w.remove(0);
                }
                w.extend(extra.iter().cloned());
                w
            })),
            Err(Refusal::Never(why)) => never = Some(why),
            Err(needs) => return Err(needs),
        }
    }
    match never {
        Some(why) if out.is_empty() => Err(Refusal::Never(why)),
        _ => Ok(out),
    }
}

/// A rule's action word, and the answer a `reject` gives.
struct Action {
    word: &'static str,
    with: Option<&'static str>,
}

impl Action {
    fn plain(word: &'static str) -> Action {
        Action { word, with: None }
    }
}

/// The sockc action for a flat rule's action, noting on `e` what it changes.
fn action_word(e: &mut Entry, r: &FlatRule, target: &Target<'_>) -> Action {
    match &r.action {
        FlatAction::Accept => Action::plain("allow"),
        FlatAction::Drop => Action::plain("drop"),
        FlatAction::Reject(with) => reject_action(e, r, with, target),
        FlatAction::Count => Action::plain("count"),
        FlatAction::Log { .. } => {
            e.approximate(
                "logged by netfilter; counted here (sockc logs only rules that decide)".into(),
            );
            Action::plain("count")
        }
        FlatAction::Effect { feature, text } => {
            e.unsupported(*feature, format!("`{text}` needs {feature}"));
            Action::plain("count")
        }
        FlatAction::Other { feature, text } => {
            e.unsupported(*feature, format!("`{text}` needs {feature}"));
            Action::plain("drop")
        }
    }
}

/// `reject with ...` where the language answers as netfilter does (an ingress block),
/// else `drop`, approximate, saying why.
fn reject_action(e: &mut Entry, r: &FlatRule, with: &RejectWith, target: &Target<'_>) -> Action {
    let answer = match with {
        RejectWith::TcpReset => "TCP reset",
        _ => "ICMP error",
    };
    let why = match (target.program, target.place) {
        (Program::Xdp | Program::Tc, Place::Ingress(_)) => match reject_words(with) {
            Some("tcp-reset")
                if r.cube.get(Dim::Proto) != Some(&Ivs::from_ranges(vec![(6, 6)])) =>
            {
                "a TCP reset for a rule that does not match only TCP".to_string()
            }
            Some(words) => {
                return Action {
                    word: "reject",
                    with: Some(words),
                }
            }
            None => format!("the language has no `{}` answer", reject_name(with)),
        },
        (_, Place::Egress(_)) => {
            "tc egress cannot reject (no interface to answer through toward the sender)".into()
        }
        (_, Place::Netfilter { .. }) => {
            "a netfilter block can only accept or drop (the verdict is the same, the answer is missing)".into()
        }
        _ => format!("{}", Feature::Reject),
    };
    e.approximate(format!(
        "{why}: dropped instead of rejected (stricter: the sender gets no {answer})"
    ));
    Action::plain("drop")
}

/// The language's `with` words for a netfilter reject (iptables' `--reject-with`
/// names, nft's `icmp`/`icmpv6`/`icmpx` types; the default is ICMP port unreachable
/// in both tools, never a TCP reset), or `None` when it has no such answer.
pub fn reject_words(with: &RejectWith) -> Option<&'static str> {
    let name = match with {
        RejectWith::Default => return Some("icmp port-unreachable"),
        RejectWith::TcpReset => return Some("tcp-reset"),
        RejectWith::Icmp(x) => x.rsplit(' ').next().unwrap_or(x),
    };
    Some(match name {
        "icmp-port-unreachable" | "icmp6-port-unreachable" | "port-unreachable" => {
            "icmp port-unreachable"
        }
        "icmp-host-unreachable"
        | "icmp6-addr-unreachable"
        | "host-unreachable"
        | "addr-unreachable" => "icmp host-unreachable",
        "icmp-net-unreachable" | "icmp6-no-route" | "net-unreachable" | "no-route" => {
            "icmp net-unreachable"
        }
        "icmp-admin-prohibited" | "icmp6-adm-prohibited" | "admin-prohibited" => {
            "icmp admin-prohibited"
        }
        _ => return None,
    })
}

fn reject_name(with: &RejectWith) -> &str {
    match with {
        RejectWith::Default => "port-unreachable",
        RejectWith::TcpReset => "tcp-reset",
        RejectWith::Icmp(x) => x,
    }
}

/// Which way leaving a rule out errs.
fn left_out_effect(rs: &Ruleset, r: &FlatRule) -> &'static str {
    let stateful = matches!(r.origin, Origin::Rule(id) if writes_state(&rs.rules[id]));
    match &r.action {
        FlatAction::Count if stateful => {
            "left out: it changes state that later lookups decide by (a set, a meter, a \
             `recent` list), so their verdicts differ"
        }
        FlatAction::Effect { .. } => {
            "left out: what it does besides deciding is lost, and rules that read it may \
             decide otherwise"
        }
        FlatAction::Drop | FlatAction::Reject(_) | FlatAction::Other { .. } => {
            "left out: the packets it would drop go on to the next rules (more permissive)"
        }
        FlatAction::Accept => {
            "left out: the packets it would accept go on to the next rules (stricter)"
        }
        _ => "left out (verdicts are the same)",
    }
}

impl Entry {
    /// Leaves the entry to the residual: not written, netfilter decides its packets
    /// (the reasons say why sockc could not).
    pub fn to_residual(&mut self, why: Option<&str>) {
        self.status = Status::Residual;
        self.rules.clear();
        if let Some(w) = why {
            self.reasons.insert(0, w.to_string());
        }
        self.reasons.retain(|r| !r.starts_with("left out"));
    }

    fn approximate(&mut self, why: String) {
        if self.status == Status::Exact {
            self.status = Status::Approximate;
        }
        if !self.reasons.contains(&why) {
            self.reasons.push(why);
        }
    }

    fn unsupported(&mut self, f: Feature, why: String) {
        self.status = Status::Unsupported;
        if !self.needs.contains(&f) {
            self.needs.push(f);
        }
        if !self.reasons.contains(&why) {
            self.unsupported_reasons.push(why.clone());
            self.reasons.push(why);
        }
    }
}

/// The rules a flat rule names: its own and the jumps that led to it.
pub fn flat_sources(r: &FlatRule) -> (Option<RuleId>, &[RuleId]) {
    match r.origin {
        Origin::Rule(id) => (Some(id), &r.path),
        Origin::Policy { .. } => (None, &r.path),
    }
}
