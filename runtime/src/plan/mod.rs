//! Change plans: what installing a new rule file over an installed one would do.
//!
//! A [`Snapshot`] is the comparable part of a compiled file — per-program bytecode
//! text, rule listings, map shapes, set contents and classifier table hashes — and
//! [`plan`] compares two of them the way `sockc diff` and `sockc apply` need: which
//! programs attach, detach, reload or stay; whether set contents and classifier tables
//! can be replaced in place without loading a new object ([`ApplyPath`]); the rule
//! and bytecode diffs a human reviews; and which counter slots carry over.
//! [`plan_compiled`] first refits the new file to the installed generation (its
//! counter slots and map sizes, `Compiled::refit`), so that a rule changed inside a
//! classified run compiles to the installed code and only its tables differ. Programs
//! are matched by (hook, interface), never by symbol. Invariant: the plan depends
//! only on the two snapshots (no kernel, no clock), and "code"
//! means the instructions alone: source line numbers in the disassembly's notes are
//! not code, so moving rules down a line reloads nothing.
//!
//! Beside this file: `carry.rs` (which counters a re-apply carries), `sets.rs` (how
//! set maps' entries change, an entry in words), `port_sets.rs` (how port sets,
//! compiled into the code, change), `diff.rs` (rule listings and bytecode, and their
//! diffs), `render.rs` (a plan in words). The line
//! alignment those diffs and the carried counters are made from, in bounded work, is
//! the compiler's [`sockc_compiler::align`] (the semantic diff's too).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sockc_compiler::{
    bpf::{
        counters::SlotLayout,
        maps::{DurableMap, MapContents, MapDef, MapShape, Sizing, COUNTERS_MAP},
    },
    driver::Refit,
    hooks::HookKind,
    ir::slots::InstalledSlots,
    metadata::{RuleMeta, SocketMeta},
    slot_set::SlotSet,
    Compiled,
};

use carry::carry_counters;
use diff::{asm_diff_key, code_lines, insn_count, rule_listing, truncate_lines, unified_hunks};

pub use diff::{RuleDiff, MAX_DIFF_LINES};
pub(crate) use sets::set_changes;
pub use sets::{describe_entry, SetChange, SetReshape};

/// The comparable state of one compiled rule file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub programs: Vec<ProgramSnapshot>,
    pub maps: Vec<MapShape>,
    /// Never serialized with the snapshot: an install's store keeps each map's
    /// contents in a binary record of its own; read from the JSON of manifests before
    /// that.
    #[serde(default, skip_serializing)]
    pub map_contents: Vec<MapContents>,
    /// Classifier tables (map name and digest of its contents, `TableData::digest`),
    /// sorted by map. With the same code and map shapes, changed tables are written
    /// into the halves no packet reads and switched in with one word (`table_update`).
    /// A manifest of an older sockc has SHA-256s here, in bare hex, which no digest
    /// equals: its tables read as changed, and the next change writes them all (the
    /// same rules and code alone change nothing: [`Plan::has_changes`] does not count
    /// tables, which the installed code reads as made for those rules).
    #[serde(default)]
    pub tables: Vec<(String, String)>,
    /// Per table map, the node reads the code unrolls per trie: a re-apply keeps them
    /// where its tries are no deeper (`Compiled::refit`). Empty in manifests from
    /// before.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub table_steps: std::collections::BTreeMap<String, Vec<u32>>,
    /// Maps every generation shares (sockmap groups): taken over, never created
    /// afresh, by a new generation of the install.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub durable: Vec<DurableMap>,
    /// Port sets the rules use, with the ranges compiled into the code
    /// ([`port_sets`]); `None` in manifests written before sockc recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_sets: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// The declared sockets (sk_lookup redirect targets), in declaration order. A
    /// change loads a new object; the install keeps each name's socket map slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sockets: Vec<SocketMeta>,
    /// The cgroups `cgroup "PATH"` matches name, by slot of the `cgroups` map
    /// (`crate::cgroup_refs`): `status` compares each slot with its path now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramSnapshot {
    pub symbol: String,
    /// Serialized as written: `xdp`, `tc ingress`, `tc egress`.
    pub hook: HookKind,
    pub attach_to: String,
    /// The rules in order, the default last, as in [`sockc_compiler::metadata::ProgramMeta`]
    /// (shared with it).
    pub rules: std::sync::Arc<[RuleMeta]>,
    /// The program's disassembly ([`sockc_compiler::disasm::disassemble`]), notes included.
    pub asm: String,
}

impl Snapshot {
    /// Rules of every program, defaults included.
    pub fn rule_count(&self) -> usize {
        self.programs.iter().map(|p| p.rules.len()).sum()
    }

    pub fn of(c: &Compiled) -> Snapshot {
        // Whether a rule names a set with `@`: only then are the rules scanned for
        // port sets.
        let mut named_sets = false;
        let programs = c
            .programs
            .iter()
            .zip(&c.metadata.programs)
            .map(|(p, meta)| ProgramSnapshot {
                symbol: meta.symbol.clone(),
                hook: meta.hook,
                attach_to: meta.attach_to.clone(),
                rules: shared_rules(&meta.rules, &mut named_sets),
                asm: sockc_compiler::disasm::disassemble(
                    &p.code.insns,
                    &p.code.map_relocs,
                    &p.code.notes,
                ),
            })
            .collect();
        Snapshot {
            programs,
            maps: c.maps.iter().map(MapDef::shape).collect(),
            map_contents: c.metadata.map_contents.clone(),
            tables: {
                let mut t: Vec<(String, String)> = c
                    .metadata
                    .tables
                    .iter()
                    .map(|t| (t.map.clone(), t.digest.clone()))
                    .collect();
                t.sort();
                t
            },
            table_steps: c
                .metadata
                .tables
                .iter()
                .filter(|t| !t.steps.is_empty())
                .map(|t| (t.map.clone(), t.steps.clone()))
                .collect(),
            durable: c.metadata.durable_maps.clone(),
            sockets: c.metadata.sockets.clone(),
            cgroups: c.metadata.cgroups.clone(),
            port_sets: Some(match named_sets || !lists_every_rule(c) {
                true => port_sets::of(c),
                false => Default::default(),
            }),
        }
    }
}

/// A program's rule entries, shared with the compiled file's metadata (a copy was 5.6
/// MB and about 1,400 page faults of a 100,000-rule re-apply's plan, on its critical
/// path); `named_sets` set when a rule's text holds `@` (the texts read up to the
/// first that does).
fn shared_rules(
    rules: &std::sync::Arc<[RuleMeta]>,
    named_sets: &mut bool,
) -> std::sync::Arc<[RuleMeta]> {
    // Once one program's text has an `@`, no other's is read for it.
    *named_sets = *named_sets
        || (rules.iter())
            .any(|r| sockc_compiler::byte_search::find_byte(b'@', r.text.as_bytes()).is_some());
    rules.clone()
}

/// Whether `c`'s metadata lists every rule of its IR, as `driver::program_metas` makes
/// it: its first programs are the IR's, in order, each listing at least the IR's
/// rules. Then a port set is named (`port_sets::of` finds one only in a text with `@`)
/// only if a text [`shared_rules`] read holds `@`.
fn lists_every_rule(c: &Compiled) -> bool {
    c.metadata.programs.len() >= c.module.programs.len()
        && (c.module.programs.values())
            .zip(&c.metadata.programs)
            .all(|(p, meta)| p.symbol == meta.symbol && meta.rules.len() >= p.rules.len())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramAction {
    /// A hook that is not installed yet.
    Attach,
    /// An installed hook the new file no longer has.
    Detach,
    /// The instructions changed.
    Reload,
    /// Identical instructions, but a new object is loaded (it brings new maps, which
    /// the old program does not use), so this program is swapped too.
    ReloadSameCode,
    /// Nothing to do.
    Unchanged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramPlan {
    /// The new symbol (the old one for [`ProgramAction::Detach`]).
    pub symbol: String,
    pub hook: HookKind,
    pub attach_to: String,
    pub action: ProgramAction,
    /// Instruction slots of the installed program, if there is one.
    pub old_insns: Option<usize>,
    /// Instruction slots of the new program, if there is one.
    pub new_insns: Option<usize>,
}

/// How one port set's ranges change (see [`port_sets`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSetChange {
    pub set: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// A rule (or default) that is the same in both files: its counters move from
/// `old_slot` of the installed `counters` map to `new_slot` of the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterCarry {
    /// The new program's symbol, one text shared by all of its rules' entries (a
    /// re-apply of 100,000 rules copied it 100,000 times); serialized as a string.
    pub symbol: std::sync::Arc<str>,
    pub old_slot: u32,
    pub new_slot: u32,
}

/// What installing `new` over `old` does; see [`plan`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every program of either side, ordered by interface, then hook (xdp first).
    pub programs: Vec<ProgramPlan>,
    /// True when something changed but no program's code and no map's shape did: only
    /// set contents, classifier tables (or rule text that compiles to the same code)
    /// differ. The runtime then applies `set_changes` to the installed maps, switches
    /// in `table_changes`, and reloads nothing. False when nothing changed at all (see
    /// [`Plan::has_changes`]) and on first install.
    pub maps_only: bool,
    /// Per map whose entries differ. When a new object is loaded these are for
    /// reading only: the new maps are filled from the new file's metadata.
    pub set_changes: Vec<SetChange>,
    /// Set maps whose definition changes (kind or capacity): why a set change loads a
    /// new object and reloads the programs instead of updating the maps in place.
    pub set_reshapes: Vec<SetReshape>,
    /// Classifier table maps whose contents change. With `maps_only`, the runtime
    /// writes the new tables into the halves no packet reads and switches to them.
    pub table_changes: Vec<String>,
    /// With `maps_only`: counter slots the new file gives to rules that had none
    /// before (they may hold a removed rule's counts and are zeroed first).
    pub fresh_slots: Vec<u32>,
    /// Unified diff hunks (no `---`/`+++` header; [`Plan::render`] adds it) of the
    /// rule listing: one `HOOK on IFACE: RULE` line per rule, defaults included.
    pub rule_diff: RuleDiff,
    /// (symbol, unified diff hunks of its disassembly) for each program present in
    /// both whose code changed; cut after [`MAX_DIFF_LINES`] lines.
    pub bytecode_diffs: Vec<(String, String)>,
    /// Counters of rules that are the same in both files survive a reload through
    /// this table: rule texts of each program present in both are aligned by a
    /// longest-common-subsequence diff, and every aligned pair keeps its counters.
    /// When nothing reloads the slots map to themselves.
    pub counter_carry: Vec<CounterCarry>,
    /// Declared sockets added (`+ NAME = tcp ADDR`), removed (`-`) or changed (`~`,
    /// old and new declaration): a redirect's socket slot follows its name.
    pub socket_changes: Vec<String>,
    /// Port sets whose ranges changed. They are compiled into the code, so such a
    /// change always reloads the programs that use them (never a map update).
    pub port_set_changes: Vec<PortSetChange>,
    /// Whether an installed snapshot was given.
    pub installed: bool,
    /// Rules in the new file, defaults included (what `counter_carry` is out of).
    pub new_rule_count: usize,
}

/// (hook, interface, occurrence): how programs are matched across files. The
/// occurrence only matters if a file ever has two programs on one hook.
type ProgramKey<'a> = (HookKind, &'a str, usize);

fn keyed(programs: &[ProgramSnapshot]) -> HashMap<ProgramKey<'_>, &ProgramSnapshot> {
    let mut seen: HashMap<(HookKind, &str), usize> = HashMap::new();
    programs
        .iter()
        .map(|p| {
            let n = seen.entry((p.hook, &p.attach_to)).or_default();
            *n += 1;
            ((p.hook, p.attach_to.as_str(), *n - 1), p)
        })
        .collect()
}

/// By attach point, then in the hooks' packet-path order (xdp before tc ingress;
/// egress last).
fn sort_key<'a>(k: &ProgramKey<'a>) -> (&'a str, u8, usize) {
    (k.1, k.0.spec().path_order, k.2)
}

/// `xdp on eth0`, or just the hook for hooks without an attach point.
fn program_label(hook: HookKind, attach_to: &str) -> String {
    hook.spec().label(attach_to)
}

/// A program of the installed snapshot and its counterpart in the new one, matched by
/// (hook, attach point, occurrence); either side may be missing.
type Pair<'a> = (Option<&'a ProgramSnapshot>, Option<&'a ProgramSnapshot>);

/// Compares the installed snapshot (`None`: nothing installed) with a new one.
pub fn plan(old: Option<&Snapshot>, new: &Snapshot) -> Plan {
    plan_with(old, new, PARALLEL_RULES)
}

/// [`plan`], its rule diff made on a thread of its own from `parallel_from` rules
/// (both snapshots together).
fn plan_with(old: Option<&Snapshot>, new: &Snapshot, parallel_from: usize) -> Plan {
    let nothing = Snapshot::default();
    let installed = old.is_some();
    let old = old.unwrap_or(&nothing);
    let old_keyed = keyed(&old.programs);
    let new_keyed = keyed(&new.programs);
    let mut keys: Vec<ProgramKey> = new_keyed.keys().chain(old_keyed.keys()).copied().collect();
    keys.sort_by_key(sort_key);
    keys.dedup();
    let pairs: Vec<Pair> = keys
        .iter()
        .map(|k| (old_keyed.get(k).copied(), new_keyed.get(k).copied()))
        .collect();

    let same_programs = pairs.iter().all(|pair| match pair {
        (Some(o), Some(n)) => !code_changed(o, n),
        _ => false,
    });
    let sorted_shapes = |maps: &[MapShape]| {
        let mut v = maps.to_vec();
        v.sort();
        v
    };
    let same_shapes = sorted_shapes(&old.maps) == sorted_shapes(&new.maps);
    let socket_changes = socket_changes(&old.sockets, &new.sockets);
    // The same code may test other cgroups (another path, or the slots in another
    // order): the `cgroups` map is filled when an object is loaded, so such a change
    // loads one, and each program swaps to its own ids at once.
    let cgroups_changed = old.cgroups != new.cgroups;
    let new_object = !installed
        || !same_programs
        || !same_shapes
        || !socket_changes.is_empty()
        || cgroups_changed;
    let old_tables: HashMap<&str, &str> = old
        .tables
        .iter()
        .map(|(m, h)| (m.as_str(), h.as_str()))
        .collect();
    let table_changes: Vec<String> = new
        .tables
        .iter()
        .filter(|(m, h)| old_tables.get(m.as_str()) != Some(&h.as_str()))
        .map(|(m, _)| m.clone())
        .collect();

    let old_listing = rule_listing(pairs.iter().filter_map(|(o, _)| *o));
    let new_listing = rule_listing(pairs.iter().filter_map(|(_, n)| *n));
    let (rule_diff, (programs, bytecode_diffs, counter_carry)) = beside(
        old.rule_count() + new.rule_count() >= parallel_from,
        || RuleDiff::of(&old_listing, &new_listing),
        || program_plans(&pairs, new_object),
    );
    let set_changes = set_changes(&old.map_contents, &new.map_contents);
    let port_set_changes = match (&old.port_sets, &new.port_sets) {
        (Some(o), Some(n)) => port_sets::changes(o, n)
            .into_iter()
            .map(|(set, added, removed)| PortSetChange {
                set,
                added,
                removed,
            })
            .collect(),
        _ => Vec::new(),
    };
    let maps_only = installed
        && !new_object
        && (!set_changes.is_empty() || !rule_diff.is_empty() || !table_changes.is_empty());
    Plan {
        programs,
        maps_only,
        set_changes,
        set_reshapes: sets::set_reshapes(&old.maps, &new.maps),
        table_changes: if maps_only { table_changes } else { Vec::new() },
        fresh_slots: if maps_only {
            fresh_slots(&counter_carry, new)
        } else {
            Vec::new()
        },
        socket_changes,
        port_set_changes,
        rule_diff,
        bytecode_diffs,
        counter_carry,
        installed,
        new_rule_count: new.rule_count(),
    }
}

/// From this many rules (both snapshots together) the rule diff is made on a thread
/// of its own beside the programs' plans and carried counters ([`beside`]): two
/// alignments of every rule's text, each a few milliseconds at 100,000 rules, where
/// a thread costs tens of microseconds.
const PARALLEL_RULES: usize = 10_000;

/// `a()` and `b()`, `a` on a thread of its own when `parallel` (and one can be
/// started), `b` here. Either way the same answers: the two only read what they
/// share. Also on a thread that keeps its work to itself (a small file's apply,
/// `beside::keep_to_this_thread`): `parallel` counts the installed generation's
/// rules too, and replacing 100,000 installed rules with 1,000 planned 17 ms longer
/// in turn.
fn beside<A: Send, B>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B,
) -> (A, B) {
    if !parallel {
        return (a(), b());
    }
    std::thread::scope(|scope| {
        let a = sockc_compiler::beside::on_a_thread(scope, a);
        let b = b();
        (a.join(), b)
    })
}

/// Whether a program's instructions changed (not merely its notes).
fn code_changed(o: &ProgramSnapshot, n: &ProgramSnapshot) -> bool {
    // Compared line by line as they are read: two lists of every line cost more
    // than the comparison (~1% of a 1k re-apply).
    o.asm != n.asm && !code_lines(&o.asm).eq(code_lines(&n.asm))
}

/// What happens to each program (a new object reloads even those whose code is the
/// same), with the bytecode diff of each reloaded one and the counters kept of each
/// program on both sides.
fn program_plans(
    pairs: &[Pair],
    new_object: bool,
) -> (Vec<ProgramPlan>, Vec<(String, String)>, Vec<CounterCarry>) {
    let mut programs = Vec::new();
    let mut bytecode_diffs = Vec::new();
    let mut counter_carry = Vec::new();
    for (old_prog, new_prog) in pairs {
        let action = match (old_prog, new_prog) {
            (None, Some(_)) => ProgramAction::Attach,
            (Some(_), None) => ProgramAction::Detach,
            (Some(o), Some(n)) if code_changed(o, n) => ProgramAction::Reload,
            _ if new_object => ProgramAction::ReloadSameCode,
            _ => ProgramAction::Unchanged,
        };
        if let (Some(o), Some(n)) = (old_prog, new_prog) {
            let carried = carry_counters(o, n);
            // The first program's taken as it is, not copied (a block's 100,000).
            if counter_carry.is_empty() {
                counter_carry = carried;
            } else {
                counter_carry.extend(carried);
            }
            if action == ProgramAction::Reload {
                let (old_asm, new_asm): (Vec<&str>, Vec<&str>) =
                    (o.asm.lines().collect(), n.asm.lines().collect());
                let old_keys: Vec<&str> = old_asm.iter().map(|l| asm_diff_key(l)).collect();
                let new_keys: Vec<&str> = new_asm.iter().map(|l| asm_diff_key(l)).collect();
                let diff = unified_hunks(&old_asm[..], &new_asm[..], &old_keys, &new_keys);
                bytecode_diffs.push((n.symbol.clone(), truncate_lines(diff, MAX_DIFF_LINES)));
            }
        }
        let shown = new_prog.or(*old_prog).expect("a pair has a side");
        programs.push(ProgramPlan {
            symbol: shown.symbol.clone(),
            hook: shown.hook,
            attach_to: shown.attach_to.clone(),
            action,
            old_insns: old_prog.map(|p| insn_count(&p.asm)),
            new_insns: new_prog.map(|p| insn_count(&p.asm)),
        });
    }
    (programs, bytecode_diffs, counter_carry)
}

/// The counter slots of `new`'s rules that start at zero when the maps are updated in
/// place (a slot keeps its counts there): those no carried counter stays in.
fn fresh_slots(counter_carry: &[CounterCarry], new: &Snapshot) -> Vec<u32> {
    let rules: usize = new.programs.iter().map(|p| p.rules.len()).sum();
    let mut carried = SlotSet::below(2 * rules);
    for c in counter_carry.iter().filter(|c| c.old_slot == c.new_slot) {
        carried.insert(c.new_slot);
    }
    let mut fresh: Vec<u32> = new
        .programs
        .iter()
        .flat_map(|p| p.rules.iter().map(|r| r.counter))
        .filter(|&s| !carried.contains(s))
        .collect();
    fresh.sort_unstable();
    fresh.dedup();
    fresh
}

/// What a re-apply keeps of the generation `old` describes: its counter slots, map
/// sizes (table halves, counter slots) and programs' symbols.
pub fn refit_of(old: &Snapshot) -> Refit {
    let slots = old
        .programs
        .iter()
        // A block's program lists its rules and default last; the programs sockc adds
        // (sockmap companions, registrars) list none and keep no slots.
        .filter_map(|p| {
            let (default, rules) = p.rules.split_last()?;
            Some(InstalledSlots {
                hook: p.hook,
                attach_to: p.attach_to.clone(),
                rules: rules.iter().map(|r| (r.text.clone(), r.counter)).collect(),
                default: default.counter,
            })
        })
        .collect();
    let tables: HashSet<&str> = old.tables.iter().map(|(m, _)| m.as_str()).collect();
    let mut sizing = Sizing::default();
    for m in &old.maps {
        if tables.contains(m.name.as_str()) {
            sizing.tables.insert(m.name.clone(), m.value_size);
        } else if m.name == COUNTERS_MAP {
            // Slots, in whichever layout the installed map has (`bpf::counters`).
            sizing.counters = SlotLayout::of_value_size(m.value_size).capacity(m.max_entries);
        }
    }
    sizing.steps = old.table_steps.clone();
    Refit {
        slots,
        sizing,
        symbols: symbols_of(old),
    }
}

/// Each program of the generation `old` describes, by hook and attach point, with its
/// symbol, under which its hook's link is pinned: a hook a re-apply keeps keeps it
/// (`Compiled::with_symbols_fitted`).
pub fn symbols_of(old: &Snapshot) -> Vec<(HookKind, String, String)> {
    old.programs
        .iter()
        .map(|p| (p.hook, p.attach_to.clone(), p.symbol.clone()))
        .collect()
}

/// A plan for installing `new` over `old`, the file refitted to the installed
/// generation when that is what makes the plan an update in place (then the runtime
/// installs the refitted file: its counter slots are the installed ones), and the
/// snapshot of the file the plan installs (what the manifest then records).
///
/// A file that differs from the installed one only in counter slots (what a fresh
/// compile of a file applied in place gives) refits to the installed generation: its
/// plan changes nothing, and the refitted file is what the manifest keeps, so that it
/// goes on naming the slots the kernel counts in.
pub fn plan_compiled(old: Option<&Snapshot>, new: &Compiled) -> (Plan, Option<Compiled>, Snapshot) {
    let snapshot = Snapshot::of(new);
    let Some(installed) = old else {
        return (plan(None, &snapshot), None, snapshot);
    };
    // With the installed tables, the direct plan decides: refitting compiles the file
    // again, not needed when the plan already updates in place (same code, same sizes,
    // same slots: every change to set contents alone) or changes nothing. With other
    // tables the file is always refitted, and the direct plan is only made when the
    // refitted one does not update in place (a plan of 100k rules made once, not twice).
    let direct = if installed.tables == snapshot.tables {
        let d = plan(old, &snapshot);
        if d.maps_only || !d.has_changes() {
            return (d, None, snapshot);
        }
        Some(d)
    } else {
        None
    };
    if let Ok(fitted) = new.refit(&refit_of(installed)) {
        let fitted_snapshot = Snapshot::of(&fitted);
        let p = plan(old, &fitted_snapshot);
        if p.maps_only || !p.has_changes() {
            return (p, Some(fitted), fitted_snapshot);
        }
    }
    let direct = direct.unwrap_or_else(|| plan(old, &snapshot));
    (direct, None, snapshot)
}

/// [`plan_compiled`] of a file compiled fitted to the installed generation `old`
/// (`driver::finish_fitted`): what refitting would give is in hand, so nothing is
/// lowered a second time when its plan updates in place or changes nothing. Otherwise
/// the file lowered as it would have been unfitted ([`Compiled::unfitted`]) is
/// planned and returned, to be installed instead, as [`plan_compiled`] would.
pub fn plan_fitted(old: &Snapshot, fitted: &Compiled) -> (Plan, Option<Compiled>, Snapshot) {
    plan_fitted_with(old, fitted, |snapshot| plan(Some(old), snapshot))
}

/// [`plan_fitted`], the plan of the fitted file's snapshot made by `plan_of` (which
/// may start other work on the snapshot beside it).
pub fn plan_fitted_with(
    old: &Snapshot,
    fitted: &Compiled,
    plan_of: impl FnOnce(&Snapshot) -> Plan,
) -> (Plan, Option<Compiled>, Snapshot) {
    let snapshot = Snapshot::of(fitted);
    let p = plan_of(&snapshot);
    if p.maps_only || !p.has_changes() {
        return (p, None, snapshot);
    }
    match fitted.unfitted() {
        Some(Ok(direct)) => {
            let direct_snapshot = Snapshot::of(&direct);
            (
                plan(Some(old), &direct_snapshot),
                Some(direct),
                direct_snapshot,
            )
        }
        // Not fitted after all, or it lowers only fitted: installed as it is.
        _ => (p, None, snapshot),
    }
}

/// Whether a plan of `new` over `old` will likely switch classifier tables in place: a
/// table changed, and the programs (by symbol and instructions, in order) and map
/// shapes are the same. A guess made before the plan, cheap (no rule is looked at),
/// of whether work the update in place needs is worth starting beside it: the plan
/// decides what is done.
pub fn tables_likely_in_place(old: &Snapshot, new: &Snapshot) -> bool {
    old.tables != new.tables
        && old.maps == new.maps
        && old.programs.len() == new.programs.len()
        && old
            .programs
            .iter()
            .zip(&new.programs)
            .all(|(o, n)| o.symbol == n.symbol && !code_changed(o, n))
}

/// Sockets added, removed and re-declared, by name.
fn socket_changes(old: &[SocketMeta], new: &[SocketMeta]) -> Vec<String> {
    let mut out = Vec::new();
    for n in new {
        match old.iter().find(|o| o.name == n.name) {
            None => out.push(format!("+ {} = {}", n.name, n.declaration())),
            Some(o) if o != n => out.push(format!(
                "~ {} = {} (was {})",
                n.name,
                n.declaration(),
                o.declaration()
            )),
            Some(_) => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)) {
        out.push(format!("- {} = {}", o.name, o.declaration()));
    }
    out
}

/// How a plan is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyPath {
    /// Nothing changes.
    Nothing,
    /// Nothing is installed: everything is loaded and attached.
    FirstInstall,
    /// Set entries (and rule text that compiles to the same code) change in place.
    SetsInPlace,
    /// Classifier tables (and maybe sets) change in place behind one switch.
    TablesInPlace,
    /// A new object is loaded and the changed hooks swap to it.
    Reload,
}

impl ApplyPath {
    pub fn describe(self) -> &'static str {
        match self {
            ApplyPath::Nothing => "nothing to do",
            ApplyPath::FirstInstall => "first install: load, verify and attach",
            ApplyPath::SetsInPlace => "map update in place: set entries change, nothing reloads",
            ApplyPath::TablesInPlace => {
                "map update in place: classifier tables are written into the halves no \
                 packet reads and switched in at once, nothing reloads, counters kept"
            }
            ApplyPath::Reload => "reload: a new object is verified and the hooks swap to it",
        }
    }
}

impl Plan {
    /// Which way the runtime carries the plan out.
    pub fn path(&self) -> ApplyPath {
        if !self.has_changes() {
            ApplyPath::Nothing
        } else if !self.installed {
            ApplyPath::FirstInstall
        } else if self.maps_only && !self.table_changes.is_empty() {
            ApplyPath::TablesInPlace
        } else if self.maps_only {
            ApplyPath::SetsInPlace
        } else {
            ApplyPath::Reload
        }
    }

    pub fn has_changes(&self) -> bool {
        self.programs
            .iter()
            .any(|p| p.action != ProgramAction::Unchanged)
            || !self.set_changes.is_empty()
            || !self.rule_diff.is_empty()
            || !self.socket_changes.is_empty()
            || !self.port_set_changes.is_empty()
    }

    /// Whether the runtime loads a new object (new maps, programs swapped).
    pub fn loads_new_object(&self) -> bool {
        self.has_changes() && !self.maps_only
    }

    /// The plan as data; `has_changes` and `maps_only` say what the runtime will do.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "has_changes": self.has_changes(),
            "installed": self.installed,
            "maps_only": self.maps_only,
            "path": self.path(),
            "loads_new_object": self.loads_new_object(),
            "table_changes": self.table_changes,
            "fresh_slots": self.fresh_slots,
            "programs": self.programs,
            "set_changes": self
                .set_changes
                .iter()
                .map(SetChange::to_json)
                .collect::<Vec<_>>(),
            "set_reshapes": self
                .set_reshapes
                .iter()
                .map(SetReshape::to_json)
                .collect::<Vec<_>>(),
            "port_set_changes": self.port_set_changes,
            "socket_changes": self.socket_changes,
            "rule_diff": self.rule_diff.text(),
            "bytecode_diffs": self
                .bytecode_diffs
                .iter()
                .map(|(symbol, diff)| serde_json::json!({ "symbol": symbol, "diff": diff }))
                .collect::<Vec<_>>(),
            "counter_carry": self.counter_carry,
            "new_rule_count": self.new_rule_count,
        })
    }
}

mod carry;
mod diff;
pub mod port_sets;
mod render;
mod sets;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod thread_tests;
