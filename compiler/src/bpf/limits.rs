//! What a lowered program asks of the kernel's limits ([`crate::kernel_limits`]),
//! measured on the code before the kernel sees it ([`measure`]):
//!
//! * **instructions**: the slots of the program (`ld_imm64` takes two), exactly.
//! * **jump sequence**: the most conditional jumps whose other side the verifier has
//!   pending on one path. It walks a conditional jump's fall-through first and pushes
//!   the jump target, so the count along a path goes up by one at each conditional
//!   jump it falls through; over all paths of our forward-only code that is a longest
//!   path ([`Usage::jump_sequence`]), an upper bound. A branch that the tracked
//!   constants below decide (a family test after the family is known) pushes nothing,
//!   as in the verifier; tests of other flow-record fields always count (the record
//!   is written a byte or a word at a time, so the verifier does not carry what one
//!   test learnt to the next load: a chain of 2,000 rules on one address and its
//!   flags was refused with 8,193 pending jumps).
//! * **processed instructions**: an estimate of the verifier's walk. What makes it
//!   visit an instruction more than once in our code is the bytes of the flow record
//!   that hold constants the verifier tracks — the family (`L3`: 0, 4, 6), whether the
//!   L4 header is there (`L4_OK`: 0, 1) and the socket fact (`SOCK`: 0 to 4) — so the
//!   estimate is, summed over instructions, how many combinations of those reach each
//!   one (stores set them, tests on their loaded bytes split them, paths merge them).
//!   It is calibrated against the kernel's own count ([`PROCESSED_PER_STATE`] times
//!   the pairs; `tests/kernel/limits.rs` checks it stays above what the kernel reports), and
//!   the compiler keeps a fifth of the kernel's limit as a margin
//!   ([`crate::kernel_limits::PROCESSED_BUDGET`]). Since the packet prologue's paths
//!   converge for the verifier (`bpf::packet`), the kernel walks a packet program's
//!   rules about once, so the estimate is well above its count there (still a bound;
//!   not recalibrated).
//! * **stack**: the deepest frame-pointer offset used, exactly.
//! * **maps**: the distinct maps the code names, exactly.
//!
//! Each measure also says which instructions it comes from (`blame`), so the driver
//! can name the rules responsible. Invariant: the measures depend only on the code.

use std::collections::BTreeSet;

use super::{
    buffer::Code,
    flow::{self, at},
    insn::{op, Insn},
};
use crate::kernel_limits::Limit;

/// The estimate of the verifier's walk counts each (instruction, state) pair this many
/// times: on the corpus and ClassBench files `tests/kernel/limits.rs` loads, the kernel
/// processed at most 1.9 times as many instructions as there are pairs.
pub(crate) const PROCESSED_PER_STATE: usize = 2;

/// One program's demands on the kernel's limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub insns: usize,
    pub jump_sequence: usize,
    pub processed: usize,
    pub stack: usize,
    pub maps: usize,
    /// Slots of the conditional jumps on a path of [`Usage::jump_sequence`] jumps.
    pub jump_path: Vec<usize>,
    /// Per slot, the states the processed estimate counted there.
    pub states: Vec<u8>,
}

impl Usage {
    /// The measure of one limit.
    pub fn of(&self, limit: Limit) -> usize {
        match limit {
            Limit::Insns => self.insns,
            Limit::JumpSequence => self.jump_sequence,
            Limit::Processed => self.processed,
            Limit::Stack => self.stack,
            Limit::Maps => self.maps,
        }
    }

    /// The limits the program breaks.
    pub(crate) fn exceeded(&self) -> Vec<Limit> {
        [
            Limit::Insns,
            Limit::JumpSequence,
            Limit::Processed,
            Limit::Stack,
            Limit::Maps,
        ]
        .into_iter()
        .filter(|&l| self.of(l) > l.max())
        .collect()
    }

    /// How much each slot adds to a limit's measure (for naming the rules behind it).
    pub(crate) fn blame(&self, limit: Limit, code: &Code) -> Vec<usize> {
        let n = code.insns.len();
        match limit {
            Limit::Insns | Limit::Stack | Limit::Maps => vec![1; n],
            Limit::Processed => self
                .states
                .iter()
                .map(|&s| PROCESSED_PER_STATE * usize::from(s))
                .collect(),
            Limit::JumpSequence => {
                let mut v = vec![0; n];
                for &i in &self.jump_path {
                    v[i] += 1;
                }
                v
            }
        }
    }
}

/// The target slot of a jump at `i`.
fn target(i: usize, insn: Insn) -> usize {
    let off = if insn.class() == op::JMP32 && insn.code & 0xf0 == op::JA {
        insn.imm as i64
    } else {
        i64::from(insn.off)
    };
    (i as i64 + 1 + off) as usize
}

fn is_exit(insn: Insn) -> bool {
    insn.class() == op::JMP && insn.code & 0xf0 == op::EXIT
}

fn is_call(insn: Insn) -> bool {
    insn.class() == op::JMP && insn.code & 0xf0 == op::CALL
}

fn is_goto(insn: Insn) -> bool {
    insn.is_jump() && insn.code & 0xf0 == op::JA
}

/// Measures `code`.
pub fn measure(code: &Code) -> Usage {
    let insns = &code.insns;
    let (states, one_sided) = states(insns);
    let (mut jump_sequence, jump_path) = jump_sequence(insns, &one_sided);
    if jump_sequence > crate::kernel_limits::MAX_JUMP_SEQUENCE {
        // Over the bound: the simulation of the verifier's walk decides, against its
        // own (tighter) budget, reported on the limit's scale.
        let simulated = simulated_jump_sequence(insns);
        if simulated <= SIMULATED_JUMP_BUDGET {
            jump_sequence = simulated;
        }
    }
    Usage {
        insns: insns.len(),
        jump_sequence,
        processed: processed_estimate(insns, &states),
        stack: stack(insns),
        maps: code
            .map_relocs
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        jump_path,
        states,
    }
}

/// The longest path by conditional jumps fallen through, and those jumps' slots; a
/// jump whose outcome the tracked constants decide (`one_sided`) pushes nothing.
fn jump_sequence(insns: &[Insn], one_sided: &[bool]) -> (usize, Vec<usize>) {
    let n = insns.len();
    // (count from here, whether the best path falls through here).
    let mut best = vec![(0usize, false); n + 2];
    for i in (0..n).rev() {
        let insn = insns[i];
        best[i] = if i > 0 && insns[i - 1].is_ld_imm64() {
            (0, false) // the second slot of an ld_imm64 is never reached
        } else if insn.is_ld_imm64() {
            (best[i + 2].0, false)
        } else if is_exit(insn) {
            (0, false)
        } else if is_goto(insn) {
            (best[target(i, insn)].0, false)
        } else if insn.is_jump() {
            let fall = usize::from(!one_sided[i]) + best[i + 1].0;
            let jump = best[target(i, insn)].0;
            if fall >= jump {
                (fall, true)
            } else {
                (jump, false)
            }
        } else {
            (best[i + 1].0, false)
        };
    }
    let mut path = Vec::new();
    let mut i = 0;
    while i < n {
        let insn = insns[i];
        if insn.is_ld_imm64() {
            i += 2;
        } else if is_exit(insn) {
            break;
        } else if is_goto(insn) {
            i = target(i, insn);
        } else if insn.is_jump() {
            if best[i].1 {
                if !one_sided[i] {
                    path.push(i);
                }
                i += 1;
            } else {
                i = target(i, insn);
            }
        } else {
            i += 1;
        }
    }
    (best.first().map_or(0, |b| b.0), path)
}

/// Per slot, for a conditional jump comparing a flow-record field (loaded in the same
/// straight-line stretch) with a constant: the field's byte offset in the record and
/// whether it jumps on equality; other compares are `None`.
fn field_tests(insns: &[Insn]) -> Vec<Option<(u32, bool)>> {
    let n = insns.len();
    let mut is_target = vec![false; n + 1];
    for (i, &insn) in insns.iter().enumerate() {
        if insn.is_jump() {
            is_target[target(i, insn).min(n)] = true;
        }
    }
    let mut holds: [Option<u32>; 11] = [None; 11];
    let mut out = vec![None; n];
    for (i, &insn) in insns.iter().enumerate() {
        if is_target[i] {
            holds = [None; 11];
        }
        let class = insn.class();
        let dst = usize::from(insn.dst).min(10);
        if insn.is_jump() {
            let opcode = insn.code & 0xf0;
            if insn.code & 0x08 == op::K && (opcode == op::JEQ || opcode == op::JNE) {
                out[i] = holds[dst].map(|f| (f, opcode == op::JEQ));
            }
        } else if is_call(insn) {
            holds[..6].fill(None);
        } else if class == op::LDX || class == op::ALU || class == op::ALU64 || insn.is_ld_imm64() {
            let mem = insn.code & 0xe0 == op::MEM;
            holds[dst] =
                (class == op::LDX && mem && width_of(insn) == 1 && usize::from(insn.src) == 10)
                    .then(|| flow_offset(insn.off))
                    .flatten();
        }
    }
    out
}

fn width_of(insn: Insn) -> i16 {
    match insn.code & 0x18 {
        x if x == op::B => 1,
        x if x == op::H => 2,
        x if x == op::W => 4,
        _ => 8,
    }
}

/// The byte offset in the flow record of a frame-pointer offset, if it is in it.
fn flow_offset(off: i16) -> Option<u32> {
    (flow::FLOW..flow::FLOW + flow::SIZE)
        .contains(&off)
        .then(|| (off - flow::FLOW) as u32)
}

/// The deepest stack byte the code addresses: memory operands on `r10` or on a
/// register holding `r10` plus a constant (helper arguments, variable reads of the
/// scratch area at their base).
fn stack(insns: &[Insn]) -> usize {
    let mut deepest = 0i64;
    // Registers known to hold r10 + offset.
    let mut fp: [Option<i64>; 11] = [None; 11];
    fp[10] = Some(0);
    for insn in insns {
        let class = insn.class();
        let (dst, src) = (usize::from(insn.dst).min(10), usize::from(insn.src).min(10));
        let mem = insn.code & 0xe0 == op::MEM;
        let base = match class {
            _ if !mem => None,
            c if c == op::LDX => fp[src],
            c if c == op::ST || c == op::STX => fp[dst],
            _ => None,
        };
        if let Some(b) = base {
            deepest = deepest.min(b + i64::from(insn.off));
        }
        if dst == 10 || !(class == op::ALU64 || class == op::ALU || class == op::LDX) {
            if is_call(*insn) {
                fp[..6].fill(None);
            }
            continue;
        }
        let alu = insn.code & 0xf0;
        fp[dst] = match (class, alu, insn.code & 0x08) {
            (c, a, x) if c == op::ALU64 && a == op::MOV && x == op::X => fp[src],
            (c, a, x) if c == op::ALU64 && a == op::ADD && x == op::K => {
                fp[dst].map(|b| b + i64::from(insn.imm))
            }
            // A variable offset keeps the base (reads through it are checked against it
            // as the scratch area's start).
            (c, a, x) if c == op::ALU64 && a == op::ADD && x == op::X => fp[dst],
            _ => None,
        };
        if let Some(b) = fp[dst] {
            deepest = deepest.min(b);
        }
    }
    (-deepest) as usize
}

/// What the IPv6 extension-header walk (`bpf::ext6`) costs the verifier beyond one
/// state per instruction: at each header the three kinds of header (options, fragment,
/// AH) reach the offset update with different lengths, so the verifier walks that
/// tail and the offset's round trip about three times before the states meet again.
/// Counted per round trip of the offset (a 2-byte store of `r3` to `SPORT` read back
/// at once), [`EXT6_EXTRA_PER_LEVEL`] each; measured on the corpus by
/// `tests/kernel/limits.rs`.
fn ext6_walk_extra(insns: &[Insn]) -> usize {
    let sport = at(flow::SPORT);
    let levels = insns
        .windows(2)
        .filter(|w| {
            w[0].class() == op::STX
                && w[0].off == sport
                && w[0].src == 3
                && w[1].class() == op::LDX
                && w[1].off == sport
                && w[1].dst == 3
        })
        .count();
    EXT6_EXTRA_PER_LEVEL * levels
}

/// See [`ext6_walk_extra`].
const EXT6_EXTRA_PER_LEVEL: usize = 120;

/// The instructions the verifier processes: [`PROCESSED_PER_STATE`] per state of each
/// instruction, and the extension-header walk's own cost. A program with the walk
/// reaches its rules in more states than [`FIELDS`] tell apart (measured: up to 32% more
/// for 1,000 linear ClassBench rules at -O0), so their count is raised by a third:
/// an estimate may be high (a `check` that refuses a program the kernel would take
/// near the limit), never low.
fn processed_estimate(insns: &[Insn], states: &[u8]) -> usize {
    let per_state = PROCESSED_PER_STATE * states.iter().map(|&s| usize::from(s)).sum::<usize>();
    let walk = ext6_walk_extra(insns);
    if walk == 0 {
        per_state
    } else {
        per_state + per_state / 3 + walk
    }
}

/// The flow-record bytes whose constants split the verifier's states, with the
/// values they take.
const FIELDS: [(i16, &[u8]); 3] = [
    (at(flow::L3), &[0, 4, 6]),
    (at(flow::L4_OK), &[0, 1]),
    (at(flow::SOCK), &[0, 1, 2, 3, 4]),
];

/// A combination of values of [`FIELDS`], as (index of each field's value).
fn decode(s: u32) -> [usize; 3] {
    [(s / 10) as usize, ((s / 5) % 2) as usize, (s % 5) as usize]
}

fn encode(v: [usize; 3]) -> u32 {
    (v[0] * 10 + v[1] * 5 + v[2]) as u32
}

const ALL: u32 = (1 << 30) - 1;

/// The set with field `f` set to value index `v` (`None`: any value).
fn set_field(set: u32, f: usize, v: Option<usize>) -> u32 {
    let mut out = 0;
    for s in (0..30).filter(|s| set & (1 << s) != 0) {
        let mut idx = decode(s);
        match v {
            Some(v) => {
                idx[f] = v;
                out |= 1 << encode(idx);
            }
            None => {
                for v in 0..FIELDS[f].1.len() {
                    idx[f] = v;
                    out |= 1 << encode(idx);
                }
            }
        }
    }
    out
}

/// Per slot, how many combinations of the fields' constants reach it; and per slot,
/// whether it is a conditional jump that those constants decide (one way only).
fn states(insns: &[Insn]) -> (Vec<u8>, Vec<bool>) {
    let n = insns.len();
    let mut is_target = vec![false; n + 1];
    for (i, &insn) in insns.iter().enumerate() {
        if insn.is_jump() {
            is_target[target(i, insn).min(n)] = true;
        }
    }
    let mut reach = vec![0u32; n + 2];
    reach[0] = ALL;
    // Registers holding a field's byte, loaded since the last merge point.
    let mut holds: [Option<usize>; 11] = [None; 11];
    let mut out = vec![0u8; n];
    let mut one_sided = vec![false; n];
    let mut i = 0;
    while i < n {
        let insn = insns[i];
        if is_target[i] {
            holds = [None; 11];
        }
        let set = reach[i];
        out[i] = set.count_ones() as u8;
        let class = insn.class();
        let dst = usize::from(insn.dst).min(10);
        if insn.is_ld_imm64() {
            holds[dst] = None;
            reach[i + 2] |= set;
            i += 2;
            continue;
        }
        if is_exit(insn) {
            i += 1;
            continue;
        }
        if is_goto(insn) {
            reach[target(i, insn)] |= set;
            i += 1;
            continue;
        }
        if insn.is_jump() {
            let t = target(i, insn);
            let field = (insn.code & 0x08 == op::K).then_some(holds[dst]).flatten();
            let (taken, fall) = match field {
                Some(f) => split(set, f, insn),
                None => (set, set),
            };
            reach[t] |= taken;
            reach[i + 1] |= fall;
            one_sided[i] = taken == 0 || fall == 0;
            i += 1;
            continue;
        }
        let mut next = set;
        let mem = insn.code & 0xe0 == op::MEM;
        let width = match insn.code & 0x18 {
            x if x == op::B => 1,
            x if x == op::H => 2,
            x if x == op::W => 4,
            _ => 8,
        };
        if mem && (class == op::ST || class == op::STX) && dst == 10 {
            for (f, &(off, values)) in FIELDS.iter().enumerate() {
                if !(insn.off..insn.off + width).contains(&off) {
                    continue;
                }
                let v = if class == op::ST {
                    let byte = (i64::from(insn.imm) >> (8 * (off - insn.off))) as u8;
                    values.iter().position(|&x| x == byte)
                } else {
                    None
                };
                next = set_field(next, f, v);
            }
        }
        if is_call(insn) {
            for r in holds.iter_mut().take(6) {
                *r = None;
            }
        } else if class == op::LDX || class == op::ALU || class == op::ALU64 {
            holds[dst] = (class == op::LDX && mem && width == 1 && usize::from(insn.src) == 10)
                .then(|| FIELDS.iter().position(|&(off, _)| off == insn.off))
                .flatten();
        }
        reach[i + 1] |= next;
        i += 1;
    }
    (out, one_sided)
}

/// The states where a conditional jump on field `f`'s byte is taken, and where not.
fn split(set: u32, f: usize, insn: Insn) -> (u32, u32) {
    let k = i64::from(insn.imm);
    let (mut taken, mut fall) = (0, 0);
    for s in (0..30).filter(|s| set & (1 << s) != 0) {
        let v = i64::from(FIELDS[f].1[decode(s)[f]]);
        let holds = match insn.code & 0xf0 {
            x if x == op::JEQ => v == k,
            x if x == op::JNE => v != k,
            x if x == op::JGT => v > k,
            x if x == op::JGE => v >= k,
            x if x == op::JLT => v < k,
            x if x == op::JLE => v <= k,
            x if x == op::JSET => v & k != 0,
            // Signed compares and anything else: either way.
            _ => {
                taken |= 1 << s;
                fall |= 1 << s;
                continue;
            }
        };
        if holds {
            taken |= 1 << s;
        } else {
            fall |= 1 << s;
        }
    }
    (taken, fall)
}

/// What to change when a program breaks `limit`.
fn advice(limit: Limit) -> &'static str {
    match limit {
        Limit::Insns | Limit::Processed | Limit::JumpSequence => {
            "the code grows with the rules the classifier cannot take: a run of 32 or \
             more allow/drop rules without socket conditions or ICMP type/code becomes \
             one table walk, and so does a run of 32 or more count rules no two of which \
             match one packet; move such rules together, drop identical count rules, or \
             split the block's rules over several hooks or files"
        }
        Limit::Stack => "this is a compiler bug: please report the rule file",
        Limit::Maps => {
            "each address set a block uses takes two maps and each classified run one: \
             merge sets, or split the block's rules over several hooks"
        }
    }
}

/// An error for each limit `usage` breaks, at the rules whose code adds most to it
/// (up to three), saying what to change; `None` when the program fits.
pub(crate) fn diagnose(
    p: &crate::ir::Program,
    code: &Code,
    usage: &Usage,
) -> Option<crate::diag::Diagnostic> {
    use super::buffer::SrcLoc;
    use crate::diag::Diagnostic;
    let limit = *usage.exceeded().first()?;
    let blame = usage.blame(limit, code);
    // Per rule (the default as `rules.len()`), what its instructions add.
    let mut per_rule = vec![0usize; p.rules.len() + 1];
    for (slot, &b) in blame.iter().enumerate() {
        match code.srcloc_at(slot) {
            Some(SrcLoc::Rule(i)) => per_rule[i] += b,
            Some(SrcLoc::Rules { first, .. }) => per_rule[first] += b,
            Some(SrcLoc::Default) => per_rule[p.rules.len()] += b,
            None => {}
        }
    }
    let mut top: Vec<(usize, usize)> = per_rule.iter().copied().enumerate().collect();
    top.sort_by_key(|&(i, b)| (std::cmp::Reverse(b), i));
    let rules_with = per_rule.iter().filter(|&&b| b > 0).count();
    let what = match limit {
        Limit::Insns => "instructions",
        Limit::JumpSequence => "conditional jumps on one path",
        Limit::Processed => "verifier steps (estimated)",
        Limit::Stack => "bytes of stack",
        Limit::Maps => "maps",
    };
    let mut d = Diagnostic::new(
        crate::diag::Code::KernelLimit,
        format!(
            "program `{}` needs {} {what}, more than the kernel's {}; the kernel would \
             refuse it",
            p.symbol,
            usage.of(limit),
            limit.name()
        ),
    );
    for &(i, b) in top.iter().take(3).filter(|(_, b)| *b > 0) {
        let span = if i == p.rules.len() {
            p.default_span
        } else {
            p.rules[i].span
        };
        d = d.label(span, format!("{b} of them here"));
    }
    if top.first().is_none_or(|t| t.1 == 0) {
        d = d.label(p.span, "in this block");
    }
    Some(d.help(format!("{} rules add to it. {}", rules_with, advice(limit))))
}

/// The fewest instructions lowering `p`'s linear runs can take (a rule that can match
/// at least records its counter slot and, for `count`, bumps it: 13 instructions;
/// otherwise it sets a verdict and jumps: 3), so that a program far past the
/// instruction limit is refused before its code is built (1,000,000 `count` rules
/// would be 14,000,000 instructions).
pub(crate) fn fewest_insns(module: &crate::ir::Module, p: &crate::ir::Program) -> usize {
    use crate::ir::Action;
    linear_rules(p)
        .filter(|&i| module.can_match(&p.rules[i].m))
        .map(|i| {
            if p.rules[i].action == Action::Count {
                13
            } else {
                3
            }
        })
        .sum()
}

/// The rules of `p`'s linear steps, in order.
fn linear_rules(p: &crate::ir::Program) -> impl Iterator<Item = usize> + '_ {
    use crate::ir::Step;
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Linear { rules, .. } => Some(rules.clone()),
            Step::Classify(_) => None,
        })
        .flatten()
}

/// The error for a program whose linear rules alone take more than four times the
/// instruction limit ([`fewest_insns`]): refused before lowering, at the first and
/// last such rule.
pub(crate) fn diagnose_early(
    module: &crate::ir::Module,
    p: &crate::ir::Program,
) -> Option<crate::diag::Diagnostic> {
    use crate::diag::Diagnostic;
    let fewest = fewest_insns(module, p);
    if fewest <= 4 * Limit::Insns.max() {
        return None;
    }
    let linear: Vec<usize> = linear_rules(p).collect();
    let (first, last) = (linear[0], linear[linear.len() - 1]);
    Some(
        Diagnostic::new(
            crate::diag::Code::KernelLimit,
            format!(
                "program `{}` needs at least {fewest} instructions, more than the \
                 kernel's {}; the kernel would refuse it",
                p.symbol,
                Limit::Insns.name()
            ),
        )
        .label(p.rules[first].span, "from this rule")
        .label(p.rules[last].span, "to this one, tested one after another")
        .help(format!(
            "{} rules add to it. {}",
            linear.len(),
            advice(Limit::Insns)
        )),
    )
}

/// Pending jumps as the verifier's own walk would have them, on the tracked constants
/// only: depth first, fall-through first, each jump target with two feasible sides
/// pushed, an (instruction, state) pair seen before pruned (our code's merge points —
/// a rule's start, a classifier's end — see the same constants from every path, and
/// the registers and scratch stack there are dead). Used when the longest-path bound
/// ([`jump_sequence`]) is over the limit: a chain of classifiers costs what each
/// classifier's first path pushes, not the sum of their worst paths. It is a
/// simulation, not a bound, so the compiler keeps it under half the limit
/// ([`SIMULATED_JUMP_BUDGET`]).
pub fn simulated_jump_sequence(insns: &[Insn]) -> usize {
    let n = insns.len();
    let tests = field_tests(insns);
    let mut visited = vec![0u128; n + 1];
    let mut pending: Vec<(usize, usize)> = Vec::new();
    let mut deepest = 0usize;
    let mut cur = Some((0usize, Known::encode([0, 0, 0])));
    while let Some((mut i, mut s)) = cur.take().or_else(|| pending.pop()) {
        loop {
            if i >= n || visited[i] & (1 << s) != 0 {
                break;
            }
            visited[i] |= 1 << s;
            let insn = insns[i];
            if insn.is_ld_imm64() {
                i += 2;
                continue;
            }
            if is_exit(insn) {
                break;
            }
            if is_goto(insn) {
                i = target(i, insn);
                continue;
            }
            if insn.is_jump() {
                let t = target(i, insn);
                match Known::branch(insn, tests[i], s) {
                    (Some(f), Some(tk)) => {
                        pending.push((t, tk));
                        deepest = deepest.max(pending.len());
                        s = f;
                        i += 1;
                    }
                    (Some(f), None) => {
                        s = f;
                        i += 1;
                    }
                    (None, Some(tk)) => {
                        s = tk;
                        i = t;
                    }
                    (None, None) => break,
                }
                continue;
            }
            s = Known::store(insn, s);
            i += 1;
        }
    }
    deepest
}

/// The state of [`simulated_jump_sequence`]'s walk: per tracked field ([`FIELDS`]) the
/// index of its known value, the field's number of values meaning "unknown", packed
/// into one number (below 128, one bit of a `u128` per instruction).
struct Known;

impl Known {
    /// States of field `f`: its values and "unknown".
    fn per(f: usize) -> usize {
        FIELDS[f].1.len() + 1
    }

    fn encode(v: [usize; 3]) -> usize {
        (v[0] * Self::per(1) + v[1]) * Self::per(2) + v[2]
    }

    fn decode(s: usize) -> [usize; 3] {
        let v2 = s % Self::per(2);
        let r = s / Self::per(2);
        [r / Self::per(1), r % Self::per(1), v2]
    }

    /// The states on the (fall-through, taken) sides of conditional jump `insn` from
    /// state `s`, `None` for a side the state rules out; `test` is the flow field the
    /// jump compares, if it is one ([`field_tests`]). An equality test of a tracked
    /// field decides on a known value and teaches its equal side an unknown one.
    fn branch(insn: Insn, test: Option<(u32, bool)>, s: usize) -> (Option<usize>, Option<usize>) {
        let (mut taken, mut fall) = (Some(s), Some(s));
        let Some((f, _)) = test.and_then(|(off, eq)| {
            FIELDS
                .iter()
                .position(|&(o, _)| flow_offset(o) == Some(off))
                .map(|f| (f, eq))
        }) else {
            return (fall, taken);
        };
        let v = Self::decode(s);
        let values = FIELDS[f].1;
        let k = i64::from(insn.imm);
        let known = values.get(v[f]).map(|&x| i64::from(x));
        let opcode = insn.code & 0xf0;
        match known {
            Some(x) if opcode == op::JEQ || opcode == op::JNE => {
                let eq = x == k;
                let jumps = if opcode == op::JEQ { eq } else { !eq };
                if jumps {
                    fall = None;
                } else {
                    taken = None;
                }
            }
            None if opcode == op::JEQ || opcode == op::JNE => {
                // The equal side learns the value.
                let mut learnt = v;
                if let Some(idx) = values.iter().position(|&x| i64::from(x) == k) {
                    learnt[f] = idx;
                }
                if opcode == op::JEQ {
                    taken = Some(Self::encode(learnt));
                } else {
                    fall = Some(Self::encode(learnt));
                }
            }
            _ => {}
        }
        (fall, taken)
    }

    /// The state after `insn` (not a jump) from state `s`: a store into a tracked
    /// field makes it the stored constant (if it is one of the field's values) or
    /// unknown; so does a register store elsewhere in the field's 8-byte stack slot
    /// that does not start the slot, after which the kernel knows the whole slot only
    /// as data (what the packet prologue's runt exit relies on, `bpf::packet`).
    fn store(insn: Insn, s: usize) -> usize {
        let class = insn.class();
        if !(insn.code & 0xe0 == op::MEM && (class == op::ST || class == op::STX) && insn.dst == 10)
        {
            return s;
        }
        let width = match insn.code & 0x18 {
            x if x == op::B => 1,
            x if x == op::H => 2,
            x if x == op::W => 4,
            _ => 8,
        };
        let mut v = Self::decode(s);
        let forgets_slot = |off: i16| {
            class == op::STX && insn.off % 8 != 0 && insn.off.div_euclid(8) == off.div_euclid(8)
        };
        for (f, &(off, values)) in FIELDS.iter().enumerate() {
            if !(insn.off..insn.off + width).contains(&off) {
                if forgets_slot(off) {
                    v[f] = values.len();
                }
            } else {
                v[f] = if class == op::ST {
                    let byte = (i64::from(insn.imm) >> (8 * (off - insn.off))) as u8;
                    values
                        .iter()
                        .position(|&x| x == byte)
                        .unwrap_or(values.len())
                } else {
                    values.len()
                };
            }
        }
        Self::encode(v)
    }
}

/// Half the kernel's pending-jump limit: the most the compiler lets its simulation of
/// the verifier's walk reach. On chains of linear `count` rules the kernel's count
/// was 1.25 times the simulation's (1,500 rules load with 6,014 simulated; 1,700 rules,
/// 6,814 simulated, are refused with "The sequence of 8193 jumps"), so half leaves a
/// factor of two.
pub(crate) const SIMULATED_JUMP_BUDGET: usize = crate::kernel_limits::MAX_JUMP_SEQUENCE / 2;

#[cfg(test)]
mod tests {
    use super::simulated_jump_sequence;
    use crate::{opt::OptLevel, Options};

    /// The simulated walk of `rules` at -O0 in an XDP program.
    fn simulated(rules: &str) -> usize {
        let opts = Options {
            opt: OptLevel::O0,
            ..Options::default()
        };
        let src = format!("xdp on eth0 {{\n{rules}    default allow\n}}\n");
        let (c, diags) = crate::compile(&src, &opts);
        let c = c.unwrap_or_else(|| panic!("{diags:#?}"));
        simulated_jump_sequence(&c.programs[0].code.insns)
    }

    /// The kernel first walks the rules from the packet prologue's runt exit, which
    /// leaves the flow record unknown to it (`bpf::packet`), so a rule's test of
    /// `L4_OK` pushes its other side as its protocol and port tests do: 2 more pending
    /// per `tcp to *:PORT` rule of a chain, not 1 as with `L4_OK` known to be 0.
    #[test]
    fn the_simulation_walks_the_rules_with_the_record_unknown() {
        let rule = |i: usize| format!("    drop tcp to *:{i}\n");
        let one: String = (1..=1).map(rule).collect();
        let many: String = (1..=41).map(rule).collect();
        let added = simulated(&many) - simulated(&one);
        assert!(added >= 70, "{added} more pending jumps for 40 more rules");
    }
}
