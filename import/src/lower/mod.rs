//! Flat rules → sockc rules: each flat rule of a place becomes the sockc rules that
//! say it (see [`cube`]), or a comment saying why it cannot, with its status:
//! exact, approximate (always stricter than netfilter, and says how) or unsupported
//! (left out, and says what the language needs and which way leaving it out errs).
//!
//! Invariant: a rule written is exactly its flat rule, or stricter where its status
//! says so (a `reject` written as `drop`, a `log` written as `count`, a placement
//! [`Mark::Stricter`]); nothing more permissive is ever written, and every flat rule
//! has an [`Entry`].

pub mod ct;
pub mod cube;
pub mod sets;
pub mod write;

use cube::{CubeWriter, Refusal};
use sets::SetTable;

use crate::{
    algebra::Cube,
    features::Feature,
    model::{RejectWith, RuleId, Ruleset},
    semantics::{
        atoms::Atoms,
        flatten::{FlatAction, FlatRule, Origin},
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
    pub head: String,
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
    table: &mut SetTable,
) -> Block {
    let entries = placed
        .list
        .rules
        .iter()
        .zip(&placed.marks)
        .map(|(r, mark)| lower_rule(rs, atoms, r, mark.as_ref(), program, table))
        .collect();
    Block {
        head: head(&placed.place, program),
        place: placed.place.clone(),
        entries,
    }
}

fn head(place: &Place, program: Program) -> String {
    match (place, program) {
        (Place::Ingress(i), Program::Xdp) => format!("xdp on {}", iface(i)),
        (Place::Ingress(i), _) => format!("tc ingress on {}", iface(i)),
        (Place::Egress(i), _) => format!("tc egress on {}", iface(i)),
        (Place::Netfilter(h), _) => format!("netfilter {h}"),
    }
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

fn lower_rule(
    rs: &Ruleset,
    atoms: &Atoms,
    r: &FlatRule,
    mark: Option<&Mark>,
    program: Program,
    table: &mut SetTable,
) -> Entry {
    let mut e = Entry {
        status: Status::Exact,
        reasons: Vec::new(),
        needs: Vec::new(),
        rules: Vec::new(),
        unsupported_reasons: Vec::new(),
        lines: Vec::new(),
    };
    let action = action_word(&mut e, &r.action);
    match mark {
        Some(Mark::Stricter(why)) => e.approximate(format!("{why} (stricter)")),
        Some(Mark::Needs(f, why)) => e.unsupported(*f, format!("{why}: needs {f}")),
        None => {}
    }
    if program == Program::Netfilter {
        e.unsupported(
            Feature::NetfilterHook,
            format!(
                "needs {}; import with --hook xdp or --hook tc today",
                Feature::NetfilterHook
            ),
        );
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
    };
    let written = match ct_split(&mut e, r, program) {
        Some(cubes) => write_all(&mut writer, &cubes),
        None => Ok(Vec::new()),
    };
    match written {
        Ok(rules) if e.status != Status::Unsupported => {
            let log = match &r.log {
                Some(_) if action != "count" => " log",
                _ => "",
            };
            e.rules = rules
                .into_iter()
                .map(|w| {
                    if w.is_empty() {
                        format!("{action}{log}")
                    } else {
                        format!("{action} {}{log}", w.join(" "))
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
        e.reasons.push(left_out_effect(&r.action).to_string());
    }
    e.unsupported_reasons.clear();
    e
}

/// The cubes a flat rule is written as, each with the words it adds (`ct state` at
/// xdp and tc, see [`ct`]); `None` when it is left out (noted on `e`).
fn ct_split(e: &mut Entry, r: &FlatRule, program: Program) -> Option<Vec<(Cube, Vec<String>)>> {
    if program == Program::Netfilter || !Feature::CtState.available() {
        return Some(vec![(r.cube.clone(), Vec::new())]);
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
                if w == ["any"] && !extra.is_empty() {
                    w.clear();
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

/// The sockc action for a flat rule's action, noting on `e` what it changes.
fn action_word(e: &mut Entry, action: &FlatAction) -> &'static str {
    match action {
        FlatAction::Accept => "allow",
        FlatAction::Drop => "drop",
        FlatAction::Reject(with) => {
            e.approximate(format!(
                "{}: dropped instead of rejected (stricter: the sender gets no {})",
                Feature::Reject,
                match with {
                    RejectWith::TcpReset => "TCP reset",
                    _ => "ICMP error",
                }
            ));
            "drop"
        }
        FlatAction::Count => "count",
        FlatAction::Log { .. } => {
            e.approximate(
                "logged by netfilter; counted here (sockc logs only rules that decide)".into(),
            );
            "count"
        }
        FlatAction::Effect { feature, text } => {
            e.unsupported(*feature, format!("`{text}` needs {feature}"));
            "count"
        }
        FlatAction::Other { feature, text } => {
            e.unsupported(*feature, format!("`{text}` needs {feature}"));
            "drop"
        }
    }
}

/// Which way leaving a rule out errs.
fn left_out_effect(action: &FlatAction) -> &'static str {
    match action {
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
