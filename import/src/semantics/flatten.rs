//! Chains → one first-match list of flat rules, for the base chains netfilter runs in
//! sequence at one place (a [`Stage`] each, in priority order).
//!
//! # The algorithm
//!
//! A flat rule is a cube (the packets it admits, see [`crate::algebra`]) and an
//! action; the list is tried in order and the first terminal action decides, exactly
//! as a sockc block is. Each chain is walked with a *context* cube (the packets that
//! reach it) and a list of *exclusions* (packets that left the chain earlier):
//!
//! - A rule's pieces are `(context ∧ its region) minus the exclusions`, as disjoint
//!   cubes. `drop`, `reject` and other terminal verdicts emit their pieces as flat
//!   rules; a rule without a verdict emits `count` (or `log`) pieces.
//! - `jump C`: each piece becomes the context of a walk of `C` (inlined where the
//!   jump is). Packets that fall off the end of `C` come back and meet the caller's
//!   next rules, which the first-match order already gives: nothing to add.
//! - `return`: its pieces are added to the current chain's exclusions, so the rules
//!   after it in this chain (and in chains it jumps to later) do not see those
//!   packets; they meet the caller's next rules. A `return` whose region is not one
//!   cube (a negation, a list) or that shares no field with a later rule costs
//!   nothing; otherwise a later rule splits into at most one piece per field of the
//!   return's cube. The return's atoms (a rate limit, an interface) split later rules
//!   by the atom's negation, and such pieces are reported with the feature the
//!   negated atom needs: the import never drops a `return` it cannot express, and
//!   never lets the rules after it apply to packets it would have returned.
//! - `goto C`: a jump whose packets then never come back: the walk of `C`, then its
//!   pieces are excluded from the rest of the current chain.
//! - In a base chain, `return` (and falling off a `goto`) leads to the policy: the
//!   chain's exclusions apply to its rules, not to its policy.
//! - `accept` ends the base chain: in the last stage it is a flat `accept`; in an
//!   earlier stage (nftables runs every base chain of a hook; iptables' raw, mangle,
//!   nat, filter tables likewise) its pieces become stage-wide exclusions (for the
//!   stage's later rules and its policy) and the packets go on to the next stage. A
//!   `drop` anywhere is final.
//! - Verdict maps are their entries in order (their keys are disjoint), each a rule
//!   of its own verdict.
//!
//! Loops (the kernel refuses them) and jumps deeper than [`MAX_DEPTH`] (nftables refuses
//! more than 16 levels; iptables-legacy allows as many as there are chains) are
//! reported on the jump rule and not followed. A rule whose pieces would take more than
//! [`MAX_CUBES`] cubes or a weight over [`MAX_WEIGHT`] is reported too complex. The
//! whole walk is bounded by a [`Budget`]: flat rules emitted, the weight of every cube
//! kept (flat rules and exclusions: what bounds memory) and steps of work (rule visits
//! and cube comparisons: what bounds time, e.g. jumps that fan out at every level of a
//! deep chain of chains). Past any of them the import fails with an [`Overflow`]
//! naming the bound and the rule it was at, rather than grow without bound or write
//! half a list.

use std::rc::Rc;

use super::{
    atoms::Atoms,
    cond::{intersect, Converter, TooComplex, MAX_CUBES},
};
use crate::{
    algebra::{weight_of, Cube, Dim, Ivs, MAX_WEIGHT},
    features::Feature,
    model::{Effect, IpVersion, NfHook, Policy, RejectWith, RuleId, Ruleset, Value, Verdict},
};

/// Jumps deeper than this are not followed: nftables refuses more than 16 levels
/// (`-EMLINK`), so only an iptables-legacy dump can reach it.
pub const MAX_DEPTH: usize = 64;

/// One base chain in a sequence.
#[derive(Clone, Debug)]
pub struct Stage {
    pub table: usize,
    pub chain: usize,
    pub hook: NfHook,
}

/// Where a flat rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Rule(RuleId),
    /// The policy of base chain (table, chain).
    Policy {
        table: usize,
        chain: usize,
    },
}

/// What a flat rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlatAction {
    Accept,
    Drop,
    Reject(RejectWith),
    /// No verdict: counted, evaluation goes on.
    Count,
    /// No verdict: logged, evaluation goes on.
    Log {
        prefix: Option<String>,
    },
    /// No verdict, with a side effect the import cannot carry.
    Effect {
        feature: Feature,
        text: String,
    },
    /// A verdict the import cannot carry (queueing, NAT in a filter chain ...).
    Other {
        feature: Feature,
        text: String,
    },
}

impl FlatAction {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            FlatAction::Accept
                | FlatAction::Drop
                | FlatAction::Reject(_)
                | FlatAction::Other { .. }
        )
    }
}

#[derive(Clone, Debug)]
pub struct FlatRule {
    pub cube: Cube,
    pub action: FlatAction,
    /// A `log` statement on the same rule as the verdict (nft `log ... drop`).
    pub log: Option<Option<String>>,
    pub origin: Origin,
    /// The jump and goto rules it was reached through, outermost first.
    pub path: Vec<RuleId>,
    /// The return, goto and accept rules whose exclusions split it.
    pub after: Vec<RuleId>,
    /// The hook of the stage it comes from.
    pub hook: NfHook,
}

/// Something about one rule that the report must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Its region could not be built.
    TooComplex(String),
    /// A jump or goto to a chain that does not exist, loops, or nests too deep.
    BadJump(String),
}

/// The result of flattening one place.
#[derive(Clone, Debug, Default)]
pub struct FlatList {
    pub rules: Vec<FlatRule>,
    /// How many pieces each rule (by id) had, over all the places it was reached.
    pub reached: Vec<usize>,
    pub notes: Vec<(RuleId, Note)>,
}

/// The bounds of one walk (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Flat rules emitted.
    pub rules: usize,
    /// The total [`Cube::weight`] of the cubes kept: flat rules and exclusions.
    pub weight: usize,
    /// Rule visits plus cube comparisons (weighted by the size of the cube compared).
    pub steps: u64,
}

/// Which bound of a [`Budget`] ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Rules,
    Weight,
    Steps,
}

/// Why flattening stopped: `bound` reached `limit` while the walk was at `rule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    pub bound: Bound,
    pub limit: u64,
    pub rule: Option<RuleId>,
}

pub struct Flattener<'a> {
    rs: &'a Ruleset,
    atoms: &'a mut Atoms,
    iif: Option<String>,
    oif: Option<String>,
    budget: Budget,
    /// What the walk has used of `budget.weight` and `budget.steps`.
    weight: usize,
    steps: u64,
    /// The rule being walked, for [`Overflow`].
    at: Option<RuleId>,
    /// Each rule's region at this place, computed once (shared by every call site).
    regions: Vec<Option<Result<Rc<Vec<Cube>>, TooComplex>>>,
    out: FlatList,
    final_stage: bool,
    hook: NfHook,
    stage_excl: Vec<(Cube, RuleId)>,
}

/// The chain-local state of one walk.
struct Walk {
    excl: Vec<(Cube, RuleId)>,
    path: Vec<RuleId>,
    stack: Vec<(usize, usize)>,
}

impl<'a> Flattener<'a> {
    /// A flattener for a place where the input interface is `iif` and the output
    /// interface `oif` (`None`: not known there), within `budget`.
    pub fn new(
        rs: &'a Ruleset,
        atoms: &'a mut Atoms,
        iif: Option<String>,
        oif: Option<String>,
        budget: Budget,
    ) -> Self {
        let n = rs.rules.len();
        Flattener {
            rs,
            atoms,
            iif,
            oif,
            budget,
            weight: 0,
            steps: 0,
            at: None,
            regions: vec![None; n],
            out: FlatList {
                reached: vec![0; n],
                ..FlatList::default()
            },
            final_stage: true,
            hook: NfHook::Input,
            stage_excl: Vec::new(),
        }
    }

    /// Flattens `stages` in order (see the module docs).
    pub fn run(mut self, stages: &[Stage]) -> Result<FlatList, Overflow> {
        let last = stages.iter().rposition(|s| self.stage_matters(s));
        for (i, stage) in stages.iter().enumerate() {
            self.final_stage = Some(i) >= last;
            self.hook = stage.hook;
            self.stage_excl.clear();
            let family = table_cube(self.rs.tables[stage.table].family.ip_versions());
            let mut walk = Walk {
                excl: Vec::new(),
                path: Vec::new(),
                stack: vec![(stage.table, stage.chain)],
            };
            self.chain(stage.table, stage.chain, &family, &mut walk, 0)?;
            let base = self.rs.tables[stage.table].chains[stage.chain]
                .base
                .as_ref();
            if base.is_some_and(|b| b.policy == Policy::Drop) {
                self.at = None;
                let (pieces, after) = self.exclude(vec![family], &[])?.unwrap_or_default();
                let origin = Origin::Policy {
                    table: stage.table,
                    chain: stage.chain,
                };
                self.emit(pieces, FlatAction::Drop, None, origin, &[], after)?;
            }
        }
        Ok(self.out)
    }

    /// A stage matters for finality if it can end a packet's way: a drop policy, or a
    /// rule (in it or in a chain it reaches) that drops, rejects or decides otherwise.
    fn stage_matters(&self, s: &Stage) -> bool {
        let t = &self.rs.tables[s.table];
        if t.chains[s.chain]
            .base
            .as_ref()
            .is_some_and(|b| b.policy == Policy::Drop)
        {
            return true;
        }
        let mut seen = vec![false; t.chains.len()];
        let mut todo = vec![s.chain];
        while let Some(c) = todo.pop() {
            if std::mem::replace(&mut seen[c], true) {
                continue;
            }
            for id in &t.chains[c].rules {
                if final_verdict(&self.rs.rules[*id].verdict, t, &mut todo) {
                    return true;
                }
            }
        }
        false
    }

    /// The region of rule `id` with what this place knows about interfaces applied.
    fn region(&mut self, id: RuleId) -> Result<Rc<Vec<Cube>>, TooComplex> {
        if let Some(r) = &self.regions[id] {
            return r.clone();
        }
        let rule = &self.rs.rules[id];
        let mut conv = Converter {
            atoms: self.atoms,
            sets: &self.rs.sets,
        };
        let r = conv
            .conjunction(&rule.matches)
            .map(|cubes| Rc::new(self.decide(cubes)));
        self.regions[id] = Some(r.clone());
        r
    }

    /// Applies what this place knows (interfaces) to `cubes`.
    fn decide(&self, cubes: Vec<Cube>) -> Vec<Cube> {
        let mut out = Vec::with_capacity(cubes.len());
        'cubes: for mut c in cubes {
            for (a, want) in c.atoms().to_vec() {
                match self
                    .atoms
                    .decide(a, self.iif.as_deref(), self.oif.as_deref())
                {
                    Some(v) if v == want => c = c.without_atom(a),
                    Some(_) => continue 'cubes,
                    None => {}
                }
            }
            out.push(c);
        }
        out
    }

    fn chain(
        &mut self,
        table: usize,
        chain: usize,
        ctx: &Cube,
        walk: &mut Walk,
        depth: usize,
    ) -> Result<(), Overflow> {
        let outer_excl = std::mem::take(&mut walk.excl);
        let rules = self.rs.tables[table].chains[chain].rules.clone();
        for id in rules {
            self.at = Some(id);
            self.spend(1)?;
            let region = match self.region(id) {
                Ok(r) => r,
                Err(TooComplex(why)) => {
                    self.out.notes.push((id, Note::TooComplex(why)));
                    continue;
                }
            };
            self.spend((ctx.weight() * region.len()) as u64)?;
            let Ok(cubes) = intersect(std::slice::from_ref(ctx), &region) else {
                self.out.notes.push((id, too_complex()));
                continue;
            };
            let excl = std::mem::take(&mut walk.excl);
            let excluded = self.exclude(cubes, &excl);
            walk.excl = excl;
            let Some((pieces, after)) = excluded? else {
                self.out.notes.push((id, too_complex()));
                continue;
            };
            if pieces.is_empty() {
                continue;
            }
            self.out.reached[id] += pieces.len();
            let whole = pieces.len() == 1 && pieces[0] == *ctx;
            let rule = &self.rs.rules[id];
            let log = self.effects(id, &pieces, &after, walk)?;
            let verdict = rule.verdict.clone();
            let terminal = self.verdict(&verdict, id, pieces, after, log, table, walk, depth)?;
            if terminal && whole {
                break;
            }
        }
        walk.excl = outer_excl;
        Ok(())
    }

    /// Emits the rule's side effects; returns the `log` to attach to its verdict.
    fn effects(
        &mut self,
        id: RuleId,
        pieces: &[Cube],
        after: &[RuleId],
        walk: &Walk,
    ) -> Result<Option<Option<String>>, Overflow> {
        let rule = &self.rs.rules[id];
        let decides = !matches!(rule.verdict, Verdict::Continue);
        let mut log = None;
        let effects = rule.effects.clone();
        for e in &effects {
            let action = match e {
                Effect::Counter => continue,
                Effect::Log { prefix } if decides => {
                    log = Some(prefix.clone());
                    continue;
                }
                Effect::Log { prefix } => FlatAction::Log {
                    prefix: prefix.clone(),
                },
                Effect::Other { feature, text } => FlatAction::Effect {
                    feature: *feature,
                    text: text.clone(),
                },
            };
            self.emit(
                pieces.to_vec(),
                action,
                None,
                Origin::Rule(id),
                &walk.path,
                after.to_vec(),
            )?;
        }
        if !decides && !effects.iter().any(|e| !matches!(e, Effect::Counter)) {
            self.emit(
                pieces.to_vec(),
                FlatAction::Count,
                None,
                Origin::Rule(id),
                &walk.path,
                after.to_vec(),
            )?;
        }
        Ok(log)
    }

    /// Carries out `verdict` for `pieces`; returns whether it ends the chain for them.
    #[allow(clippy::too_many_arguments)]
    fn verdict(
        &mut self,
        verdict: &Verdict,
        id: RuleId,
        pieces: Vec<Cube>,
        after: Vec<RuleId>,
        log: Option<Option<String>>,
        table: usize,
        walk: &mut Walk,
        depth: usize,
    ) -> Result<bool, Overflow> {
        let origin = Origin::Rule(id);
        let path = walk.path.clone();
        match verdict {
            Verdict::Continue => return Ok(false),
            Verdict::Accept if self.final_stage => {
                self.emit(pieces, FlatAction::Accept, log, origin, &path, after)?
            }
            Verdict::Accept => {
                self.keep(&pieces)?;
                self.stage_excl.extend(pieces.into_iter().map(|c| (c, id)))
            }
            Verdict::Drop => self.emit(pieces, FlatAction::Drop, log, origin, &path, after)?,
            Verdict::Reject(with) => self.emit(
                pieces,
                FlatAction::Reject(with.clone()),
                log,
                origin,
                &path,
                after,
            )?,
            Verdict::Other { feature, text } => {
                let action = FlatAction::Other {
                    feature: *feature,
                    text: text.clone(),
                };
                self.emit(pieces, action, log, origin, &path, after)?
            }
            Verdict::Return => {
                self.keep(&pieces)?;
                walk.excl.extend(pieces.into_iter().map(|c| (c, id)))
            }
            Verdict::Jump(name) | Verdict::Goto(name) => {
                let Some(target) = self.rs.tables[table].chain(name) else {
                    self.out
                        .notes
                        .push((id, Note::BadJump(format!("chain {name} does not exist"))));
                    return Ok(false);
                };
                if walk.stack.contains(&(table, target)) || depth >= MAX_DEPTH {
                    let why = if depth >= MAX_DEPTH {
                        "nests too deep"
                    } else {
                        "loops back"
                    };
                    self.out.notes.push((
                        id,
                        Note::BadJump(format!("the jump to {name} {why}; not followed")),
                    ));
                    return Ok(false);
                }
                walk.path.push(id);
                walk.stack.push((table, target));
                for piece in &pieces {
                    self.chain(table, target, piece, walk, depth + 1)?;
                }
                walk.stack.pop();
                walk.path.pop();
                if matches!(verdict, Verdict::Goto(_)) {
                    self.keep(&pieces)?;
                    walk.excl.extend(pieces.into_iter().map(|c| (c, id)));
                }
            }
            Verdict::Map { keys, entries } => {
                for (values, v) in entries {
                    let Some(sub) = self.map_entry(id, &pieces, keys, values) else {
                        continue;
                    };
                    if sub.is_empty() {
                        continue;
                    }
                    self.verdict(v, id, sub, after.clone(), log.clone(), table, walk, depth)?;
                }
                return Ok(false);
            }
        }
        Ok(!matches!(verdict, Verdict::Return | Verdict::Jump(_)))
    }

    /// The pieces of a verdict map's entry: `pieces` where the keys equal `values`.
    fn map_entry(
        &mut self,
        id: RuleId,
        pieces: &[Cube],
        keys: &[crate::model::Key],
        values: &[Value],
    ) -> Option<Vec<Cube>> {
        let m = crate::model::Match::test(
            keys.to_vec(),
            crate::model::Rhs::Elements(vec![values.to_vec()]),
        );
        let mut conv = Converter {
            atoms: self.atoms,
            sets: &self.rs.sets,
        };
        let region = match conv.conjunction(std::slice::from_ref(&m)) {
            Ok(r) => self.decide(r),
            Err(TooComplex(why)) => {
                self.out.notes.push((id, Note::TooComplex(why)));
                return None;
            }
        };
        intersect(pieces, &region).ok()
    }

    /// `cubes` minus the chain's and the stage's exclusions, and the rules whose
    /// exclusions took something away; `None` past [`MAX_CUBES`] pieces or
    /// [`MAX_WEIGHT`]; an [`Overflow`] when the comparisons exhaust the steps.
    #[allow(clippy::type_complexity)]
    fn exclude(
        &mut self,
        cubes: Vec<Cube>,
        excl: &[(Cube, RuleId)],
    ) -> Result<Option<(Vec<Cube>, Vec<RuleId>)>, Overflow> {
        let mut cur = cubes;
        let mut after = Vec::new();
        let stage_excl = std::mem::take(&mut self.stage_excl);
        let mut result = Ok(());
        for (e, rid) in excl.iter().chain(&stage_excl) {
            result = self.spend((cur.len() * e.weight()) as u64);
            if result.is_err() {
                break;
            }
            if !cur.iter().any(|c| c.intersects(e)) {
                continue;
            }
            if !after.contains(rid) {
                after.push(*rid);
            }
            cur = cur.iter().flat_map(|c| c.subtract(e)).collect();
            if cur.len() > MAX_CUBES || weight_of(&cur) > MAX_WEIGHT {
                self.stage_excl = stage_excl;
                return Ok(None);
            }
        }
        self.stage_excl = stage_excl;
        result.map(|()| Some((cur, after)))
    }

    /// Counts `n` steps of work.
    fn spend(&mut self, n: u64) -> Result<(), Overflow> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.budget.steps {
            return Err(self.overflow(Bound::Steps, self.budget.steps));
        }
        Ok(())
    }

    /// Counts `cubes` as kept until the walk ends.
    fn keep(&mut self, cubes: &[Cube]) -> Result<(), Overflow> {
        self.weight = self.weight.saturating_add(weight_of(cubes));
        if self.weight > self.budget.weight {
            return Err(self.overflow(Bound::Weight, self.budget.weight as u64));
        }
        Ok(())
    }

    fn overflow(&self, bound: Bound, limit: u64) -> Overflow {
        Overflow {
            bound,
            limit,
            rule: self.at,
        }
    }

    fn emit(
        &mut self,
        pieces: Vec<Cube>,
        action: FlatAction,
        log: Option<Option<String>>,
        origin: Origin,
        path: &[RuleId],
        after: Vec<RuleId>,
    ) -> Result<(), Overflow> {
        self.keep(&pieces)?;
        self.weight = self
            .weight
            .saturating_add(pieces.len() * (path.len() + after.len()));
        for cube in pieces {
            if self.out.rules.len() >= self.budget.rules {
                return Err(self.overflow(Bound::Rules, self.budget.rules as u64));
            }
            self.out.rules.push(FlatRule {
                cube,
                action: action.clone(),
                log: log.clone(),
                origin,
                path: path.to_vec(),
                after: after.clone(),
                hook: self.hook,
            });
        }
        Ok(())
    }
}

fn too_complex() -> Note {
    Note::TooComplex(format!(
        "it takes more than {MAX_CUBES} cubes or {MAX_WEIGHT} ranges"
    ))
}

/// Whether `v` can end a packet's way (not accept, which only ends a stage); chains it
/// jumps to are added to `todo`.
fn final_verdict(v: &Verdict, t: &crate::model::Table, todo: &mut Vec<usize>) -> bool {
    match v {
        Verdict::Drop | Verdict::Reject(_) | Verdict::Other { .. } => true,
        Verdict::Jump(c) | Verdict::Goto(c) => {
            todo.extend(t.chain(c));
            false
        }
        Verdict::Map { entries, .. } => entries.iter().any(|(_, v)| final_verdict(v, t, todo)),
        _ => false,
    }
}

/// The cube of the IP versions a table sees (no constraint for both).
pub fn table_cube(versions: &[IpVersion]) -> Cube {
    if versions.len() == 2 {
        return Cube::all();
    }
    let vals: Vec<(u128, u128)> = versions
        .iter()
        .map(|v| match v {
            IpVersion::V4 => (4, 4),
            IpVersion::V6 => (6, 6),
        })
        .collect();
    Cube::all()
        .with(Dim::Family, &Ivs::from_ranges(vals))
        .unwrap_or_default()
}
