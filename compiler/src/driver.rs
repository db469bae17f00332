//! The pipeline in one call: source → AST → IR → optimized IR → bytecode → object
//! image, plus the metadata the runtime needs. Each stage's work lives in its module;
//! this file only runs them in order and carries diagnostics between them.
//!
//! Invariant: [`compile`] returns a [`Compiled`] only when no stage reported an error;
//! warnings travel with it. Nothing here touches the kernel.

use std::time::{Duration, Instant};

use crate::{
    bpf::{
        buffer::{Code, SrcLoc},
        lower::{
            lower_program, sk_lookup_register::lower as lower_registrar, sockmap::lower_companion,
        },
        maps::{self, MapDef, Sizing},
    },
    diag::{self, Diagnostic, Span},
    hooks::HookKind,
    ir::{
        slots::{keep_slots, InstalledSlots, Numbering},
        sockmap::{Companion, SockmapGroup},
        verify::VerifyError,
        Module, ProgId, Program, Registrar, Rule, Step,
    },
    limits::Limit,
    metadata::{Metadata, ProgramMeta, METADATA_FORMAT},
    obj::{ObjError, ObjectImage, ProgramImage},
    opt::{Lints, OptLevel},
    sema,
    syntax::{self, ast},
};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub sema: sema::Options,
    pub opt: OptLevel,
    /// Whether the optimizer's lints run: the output is the same either way, only
    /// the warnings differ.
    pub lints: Lints,
}

/// One lowered program.
#[derive(Clone, Debug)]
pub struct CompiledProgram {
    pub symbol: String,
    pub section: &'static str,
    pub code: Code,
}

/// A compiled file: IR, bytecode, maps and what goes into them.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub module: Module,
    pub programs: Vec<CompiledProgram>,
    pub maps: Vec<MapDef>,
    pub metadata: Metadata,
    /// Classifier map contents; [`Metadata::tables`] says which bytes fill which map.
    pub tables: Vec<u8>,
    /// How long each stage took, in order (`sockc compile --timings`). Stages may
    /// overlap (the anomaly lints run beside classify): they need not add up to
    /// [`Compiled::compile_time`].
    pub timings: Vec<(&'static str, Duration)>,
    /// The whole of [`compile`], parse to maps (zero when lowered on its own).
    pub compile_time: Duration,
    /// The level it was compiled at.
    pub level: OptLevel,
    /// Compiled fitted to an installed generation ([`finish_fitted`]): the counter
    /// slots sema gave, to lower it again as [`finish`] would have ([`Compiled::unfitted`]).
    pub fitted: Option<Numbering>,
    /// [`Compiled::shed_lowering`] ran: the module no longer lowers.
    shed: bool,
}

/// What a re-apply keeps of an installed generation: its counter slots and map sizes
/// (see [`Compiled::refit`]), and its programs' symbols, under which their hooks'
/// links are pinned (`sema::symbols::fit`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refit {
    pub slots: Vec<InstalledSlots>,
    pub sizing: Sizing,
    /// Each installed program's hook, attach point and symbol.
    pub symbols: Vec<(HookKind, String, String)>,
}

/// Compiles `src`. Returns the result when there are no errors, and all diagnostics
/// (errors and warnings) either way.
pub fn compile(src: &str, opts: &Options) -> (Option<Compiled>, Vec<Diagnostic>) {
    match check(src, opts) {
        Ok(checked) => finish(checked, opts),
        Err(diags) => (None, diags),
    }
}

/// [`compile`] after the front end: `ast` is what a front end built from `src` (the
/// `.sk` parser, or an importer of another rule language; its spans index `src`), and
/// `diags` what it reported. `start` is when the front end began (the `parse` timing
/// runs from it to here).
pub fn compile_ast(
    ast: ast::File,
    diags: Vec<Diagnostic>,
    src: &str,
    opts: &Options,
    start: Instant,
) -> (Option<Compiled>, Vec<Diagnostic>) {
    match check_ast(ast, diags, src, opts, start) {
        Ok(checked) => finish(checked, opts),
        Err(diags) => (None, diags),
    }
}

/// A file through the front end and sema with no error so far: what [`finish`]
/// compiles. Its IR already says which programs go on which hooks, so a caller can act
/// on that (an install makes those hooks ready) while the rest compiles.
#[derive(Debug)]
pub struct Checked {
    pub module: Module,
    diags: Vec<Diagnostic>,
    timings: Vec<(&'static str, Duration)>,
    start: Instant,
}

impl Checked {
    /// How long each stage took so far (parse, sema).
    pub fn timings(&self) -> &[(&'static str, Duration)] {
        &self.timings
    }
}

/// The first half of [`compile`]: parse and sema. `Err` holds the diagnostics of a
/// file with errors. Sema checks each statement as the scanner reads it
/// (`sema::check_streamed`: one timing, `parse and sema`), and a file that cannot be
/// read so is parsed whole and then checked.
pub fn check(src: &str, opts: &Options) -> Result<Checked, Vec<Diagnostic>> {
    let start = Instant::now();
    if let Some((diags, module, sema_diags)) = sema::check_streamed(src, &opts.sema) {
        let timings = vec![("parse and sema", start.elapsed())];
        return checked(module, diags, sema_diags, timings, opts, start);
    }
    let (ast, diags) = syntax::parse_with(src, &opts.sema.limits);
    check_ast(ast, diags, src, opts, start)
}

/// [`check`] after the front end (see [`compile_ast`]).
pub fn check_ast(
    ast: ast::File,
    diags: Vec<Diagnostic>,
    src: &str,
    opts: &Options,
    start: Instant,
) -> Result<Checked, Vec<Diagnostic>> {
    let parsed = Instant::now();
    // Sema consumes the AST (freed as it goes, before the optimizer's peak).
    let (module, sema_diags) = sema::check(ast, src, &opts.sema);
    let timings = vec![("parse", parsed - start), ("sema", parsed.elapsed())];
    checked(module, diags, sema_diags, timings, opts, start)
}

/// What sema made of a file, with the front end's diagnostics and sema's.
fn checked(
    module: Option<Module>,
    mut diags: Vec<Diagnostic>,
    sema_diags: Vec<Diagnostic>,
    timings: Vec<(&'static str, Duration)>,
    opts: &Options,
    start: Instant,
) -> Result<Checked, Vec<Diagnostic>> {
    let max_diagnostics = opts.sema.limits.count(Limit::Diagnostics);
    diags.extend(sema_diags);
    // Parser and sema diagnostics in one order, by position in the file, within the
    // diagnostics limit.
    let diags = crate::diag::cap(diags, max_diagnostics);
    match module.filter(|_| !crate::diag::has_errors(&diags)) {
        Some(module) => Ok(Checked {
            module,
            diags,
            timings,
            start,
        }),
        None => Err(diags),
    }
}

/// The second half of [`compile`]: optimize and lower what [`check`] checked.
pub fn finish(checked: Checked, opts: &Options) -> (Option<Compiled>, Vec<Diagnostic>) {
    finish_with(checked, opts, || None, None)
}

/// [`finish`] for an install that will not lower the file again (a first one): what
/// [`finish`] followed by [`Compiled::shed_lowering`] gives, byte for byte, but shed as
/// the compile goes, so the dropped parts are never all live at once: each program's
/// steps (its classifier tries) once the tables are encoded, before the metadata is
/// made; its rules but those `keep` keeps once the metadata is made.
pub fn finish_shed(
    checked: Checked,
    opts: &Options,
    keep: &dyn Fn(&Rule) -> bool,
) -> (Option<Compiled>, Vec<Diagnostic>) {
    finish_with(checked, opts, || None, Some(keep))
}

/// [`finish`] fitted to an installed generation: what [`Compiled::refit`] of its result
/// would give (the installed counter slots and map sizes), lowered once instead of
/// twice. When the fitted module fails the IR check or does not lower, it is lowered
/// as [`finish`] lowers it; [`Compiled::fitted`] says which was done.
pub fn finish_fitted(
    checked: Checked,
    opts: &Options,
    installed: &Refit,
) -> (Option<Compiled>, Vec<Diagnostic>) {
    finish_with(checked, opts, || Some(installed), None)
}

/// [`finish_fitted`] to what `installed` gives, or [`finish`] when it gives nothing,
/// asked for only once the optimizer's passes have run (the classifiers built): what
/// to fit to may be read meanwhile, on another thread, while the second core is idle.
pub fn finish_fitted_when<'r>(
    checked: Checked,
    opts: &Options,
    installed: impl FnOnce() -> Option<&'r Refit>,
) -> (Option<Compiled>, Vec<Diagnostic>) {
    finish_with(checked, opts, installed, None)
}

/// Optimizes `checked`, then lowers it fitted to what `installed` gives (asked for
/// only then), or as it is.
fn finish_with<'r>(
    checked: Checked,
    opts: &Options,
    installed: impl FnOnce() -> Option<&'r Refit>,
    shed: Shed,
) -> (Option<Compiled>, Vec<Diagnostic>) {
    let Checked {
        mut module,
        mut diags,
        mut timings,
        start,
    } = checked;
    let max_diagnostics = opts.sema.limits.count(Limit::Diagnostics);
    let (opt_diags, pass_times) = crate::opt::optimize_timed(&mut module, opts.opt, opts.lints);
    timings.extend(pass_times);
    if !opt_diags.is_empty() {
        diags.extend(opt_diags);
        diags = crate::diag::cap(diags, max_diagnostics);
    }
    let lowered = match installed() {
        Some(refit) => lower_fitted(module, opts.opt, refit),
        None => lower_module_or_back(module, opts.opt, None, shed).map_err(|(_, e)| e),
    };
    match lowered {
        Ok(mut c) => {
            timings.append(&mut c.timings);
            c.timings = timings;
            c.compile_time = start.elapsed();
            (Some(c), diags)
        }
        Err(LowerFailure::Internal(span, msg)) => {
            diags.push(
                Diagnostic::new(diag::Code::Internal, msg).label(span, "while compiling this"),
            );
            (None, diags)
        }
        Err(LowerFailure::Limits(d)) => {
            diags.extend(d);
            (None, diags)
        }
    }
}

/// `module` lowered with `installed`'s counter slots and map sizes, else (it fails the
/// IR check or does not lower so) as it is.
fn lower_fitted(
    mut module: Module,
    level: OptLevel,
    installed: &Refit,
) -> Result<Compiled, LowerFailure> {
    crate::sema::symbols::fit(&mut module, &installed.symbols);
    let sema_slots = Numbering::of(&module);
    keep_slots(&mut module, &installed.slots);
    if crate::ir::verify::renumbered(&module).is_ok() {
        match lower_module_or_back(module, level, Some(&installed.sizing), None) {
            Ok(mut c) => {
                c.fitted = Some(sema_slots);
                return Ok(c);
            }
            Err((back, _)) => module = *back,
        }
    }
    sema_slots.restore(&mut module);
    lower_module(module, level, None)
}

/// A file read through sema and the passes a semantic reading needs
/// ([`analyze`]): its IR, rules as written and sets normalized, with no code planned.
#[derive(Debug)]
pub struct Analyzed {
    pub module: Module,
    /// Parse, sema and the passes run, in order (`sockc diff --timings`).
    pub timings: Vec<(&'static str, Duration)>,
}

/// The other second half of [`compile`], for what reads only the rules (`sockc
/// diff`'s semantic diff): `normalize` and the lints of [`finish`], but neither
/// `classify`, `thread`, lowering nor the maps. Its warnings are [`finish`]'s lints;
/// what only lowering finds (a program over the kernel's limits) it does not look for.
pub fn analyze(checked: Checked, opts: &Options) -> (Analyzed, Vec<Diagnostic>) {
    let Checked {
        mut module,
        mut diags,
        mut timings,
        start: _,
    } = checked;
    let (opt_diags, pass_times) = crate::opt::analyze_timed(&mut module, opts.opt, opts.lints);
    timings.extend(pass_times);
    if !opt_diags.is_empty() {
        diags.extend(opt_diags);
        diags = crate::diag::cap(diags, opts.sema.limits.count(Limit::Diagnostics));
    }
    (Analyzed { module, timings }, diags)
}

/// The compiler's own reference check ([`crate::bpf::refcheck`]) on one lowered
/// program: a socket reference that some path does not release is a compiler bug,
/// reported at the rule whose code made the lookup (the instruction's source
/// location), before the kernel sees the program.
fn check_references(p: &Program, code: &Code) -> Result<(), (Span, String)> {
    let Err(e) = crate::bpf::refcheck::check_code(code) else {
        return Ok(());
    };
    let at = e.acquire.unwrap_or(e.insn);
    let rule = match code.srcloc_at(at) {
        Some(SrcLoc::Rule(i)) => Some(&p.rules[i]),
        _ => None,
    };
    Err(match rule {
        Some(r) => (
            r.span,
            format!(
                "compiler bug: the code of line {} (`{}`) fails the socket reference check: {e}",
                r.line, r.text
            ),
        ),
        None => (
            p.span,
            format!(
                "compiler bug: program `{}` fails the socket reference check: {e}",
                p.symbol
            ),
        ),
    })
}

/// Lowers program `id`. At `-O2` the program is also lowered with its linear runs laid
/// out one rule after another (the `-O0` layout), and the threaded code is kept only
/// if it is not larger, so `-O2` is never larger than `-O0` (see `opt::thread`). That
/// second lowering reads the program with its runs' plans taken out for the while, not
/// a copy of it: its rules and classifier tries are most of a large file's memory.
fn lower(
    module: &mut Module,
    id: ProgId,
    level: OptLevel,
    sizing: &Sizing,
) -> Result<Code, (Span, String)> {
    let lower = |module: &Module| {
        let p = &module.programs[id];
        lower_program(module, p, sizing).map_err(|e| (p.span, e.to_string()))
    };
    let code = lower(module)?;
    let threaded = module.programs[id]
        .steps
        .iter()
        .any(|s| matches!(s, Step::Linear { plan: Some(_), .. }));
    if level < OptLevel::O2 || !threaded {
        return Ok(code);
    }
    let plans = take_plans(&mut module.programs[id]);
    let linear = lower(module);
    put_plans(&mut module.programs[id], plans);
    let linear = linear?;
    Ok(if code.insns.len() <= linear.insns.len() {
        code
    } else {
        linear
    })
}

/// Takes every linear run's plan out of `p` (leaving the `-O0` layout), one per step in
/// order, for [`put_plans`] to put back.
fn take_plans(p: &mut Program) -> Vec<Option<crate::ir::linear::Plan>> {
    let plan = |s: &mut Step| match s {
        Step::Linear { plan, .. } => plan.take(),
        Step::Classify(_) => None,
    };
    p.steps.iter_mut().map(plan).collect()
}

/// Puts back what [`take_plans`] took out of `p`.
fn put_plans(p: &mut Program, plans: Vec<Option<crate::ir::linear::Plan>>) {
    for (step, taken) in p.steps.iter_mut().zip(plans) {
        if let Step::Linear { plan, .. } = step {
            *plan = taken;
        }
    }
}

/// Why a module did not lower.
enum LowerFailure {
    /// A compiler bug, at a span.
    Internal(Span, String),
    /// Programs the kernel would refuse: one error per program.
    Limits(Vec<Diagnostic>),
}

/// Why [`Compiled::refit`] could not lower a file again to an installed generation's
/// counter slots and map sizes (the file can still be installed as compiled).
#[derive(Debug, thiserror::Error)]
pub enum RefitError {
    /// The IR with the installed slots fails the IR check.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A compiler bug while lowering.
    #[error("{0}")]
    Internal(String),
    /// What lowering reads was dropped ([`Compiled::shed_lowering`]).
    #[error("the file's rules for lowering were dropped once it was compiled")]
    Shed,
    /// With the installed sizes, programs the kernel would refuse (their messages,
    /// joined by `; `).
    #[error("{}", .0.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; "))]
    Limits(Vec<Diagnostic>),
}

impl RefitError {
    fn from_lowering(e: LowerFailure) -> RefitError {
        match e {
            LowerFailure::Internal(_, msg) => RefitError::Internal(msg),
            LowerFailure::Limits(d) => RefitError::Limits(d),
        }
    }
}

/// A program of the object that sockc adds to the blocks' own (which come first, in
/// block order; the object's order is the attach order): the programs around each
/// cgroup's sockmap blocks (see `hooks::HookSpec::companions`), then the registrars,
/// last because they fill the socket map the others read.
#[derive(Clone, Copy)]
enum Unit<'m> {
    Companion(&'m SockmapGroup, &'m Companion),
    Registrar(&'m Registrar),
}

impl<'m> Unit<'m> {
    /// Every program sockc adds to `module`'s blocks, in order.
    fn added(module: &'m Module) -> impl Iterator<Item = Unit<'m>> {
        let companions = module
            .sockmaps
            .iter()
            .flat_map(|g| g.companions.iter().map(move |c| Unit::Companion(g, c)));
        let registrars = module.registrars.iter().map(Unit::Registrar);
        companions.chain(registrars)
    }

    fn symbol(self) -> &'m str {
        match self {
            Unit::Companion(_, c) => &c.symbol,
            Unit::Registrar(r) => &r.symbol,
        }
    }

    fn hook(self) -> HookKind {
        match self {
            Unit::Companion(_, c) => c.hook,
            Unit::Registrar(_) => HookKind::SkLookupRegister,
        }
    }

    /// Where a compiler bug in its lowering is reported: a block of the companion's
    /// group, the registrar's first declaration.
    fn span(self, module: &Module) -> Span {
        match self {
            Unit::Companion(g, _) => g
                .send
                .or(g.receive)
                .map_or(Span::default(), |p| module.programs[p].span),
            Unit::Registrar(r) => r.span,
        }
    }
}

/// Lowers every program of `module` ([`lower_units`]); a block's program goes through
/// the reference check and the kernel's limits on the way. `installed`: the map sizes
/// to keep where the new contents fit ([`Sizing::of`]).
fn lower_module(
    module: Module,
    level: OptLevel,
    installed: Option<&Sizing>,
) -> Result<Compiled, LowerFailure> {
    lower_module_or_back(module, level, installed, None).map_err(|(_, e)| e)
}

/// Which rules [`finish_shed`] keeps; `None`: the compile sheds nothing.
type Shed<'k> = Option<&'k dyn Fn(&Rule) -> bool>;

/// [`lower_module`], giving the module back when it does not lower (so that a module
/// fitted to an installed generation can be lowered again as it was); shedding as it
/// goes when `shed` says which rules to keep ([`finish_shed`]).
fn lower_module_or_back(
    mut module: Module,
    level: OptLevel,
    installed: Option<&Sizing>,
    shed: Shed,
) -> Result<Compiled, (Box<Module>, LowerFailure)> {
    let start = Instant::now();
    let sizing = Sizing::of(&module, installed);
    let programs = match lower_units(&mut module, level, &sizing) {
        Ok(p) => p,
        Err(e) => return Err((Box::new(module), e)),
    };
    let lowered = Instant::now();
    let mut layout = maps::layout(&module, &sizing);
    // Large tables are hashed on the other core while the metadata is made (both only
    // read what the layout and the module hold); small ones here, as a thread would
    // cost more than it saves.
    let (table_data, tables) = (&mut layout.table_data, &layout.tables);
    let metas = std::thread::scope(|s| {
        let hashed = if tables.len() >= HASH_BESIDE_MIN {
            crate::beside::beside(s, move || maps::hash_tables(table_data, tables))
        } else {
            maps::hash_tables(table_data, tables);
            crate::beside::Beside::Done(())
        };
        if shed.is_some() {
            // The tries are in the tables now; the metadata reads only the rules.
            for p in module.programs.values_mut() {
                p.steps = Vec::new();
            }
        }
        let metas = program_metas(&module, &programs);
        hashed.join();
        metas
    });
    let metadata = Metadata {
        format: METADATA_FORMAT,
        programs: metas,
        map_contents: layout.contents,
        counters: layout.counters,
        tables: layout.table_data,
        sockets: crate::metadata::SocketMeta::of(&module),
        durable_maps: layout.durable,
        answers: layout.answers_limited.then_some(module.answers),
        cgroups: module.cgroups.clone(),
    };
    let mut compiled = Compiled {
        module,
        programs,
        maps: layout.defs,
        metadata,
        tables: layout.tables,
        timings: vec![("lower", lowered - start), ("maps", lowered.elapsed())],
        compile_time: Duration::ZERO,
        level,
        fitted: None,
        shed: false,
    };
    if let Some(keep) = shed {
        compiled.shed_lowering(keep);
    }
    Ok(compiled)
}

/// Tables of at least this many bytes are hashed on a thread beside the metadata
/// ([`lower_module_or_back`]).
const HASH_BESIDE_MIN: usize = 1 << 20;

/// Every program of `module`, lowered: each block's, in block order, then those
/// sockc adds ([`Unit::added`]); a block's program goes through the reference check
/// and the kernel's limits on the way. The module is lent mutably only for
/// [`lower`]'s second layout, and comes back as it was.
fn lower_units(
    module: &mut Module,
    level: OptLevel,
    sizing: &Sizing,
) -> Result<Vec<CompiledProgram>, LowerFailure> {
    let mut programs = Vec::new();
    let mut refused = Vec::new();
    let ids: Vec<ProgId> = module.programs.keys().collect();
    for id in ids {
        if let Some(code) = lower_block(module, id, level, sizing, &mut refused)? {
            let p = &module.programs[id];
            programs.push(CompiledProgram {
                symbol: p.symbol.clone(),
                section: p.hook.spec().section,
                code,
            });
        }
    }
    // A refused block ends the lowering here: the file does not compile.
    if !refused.is_empty() {
        return Err(LowerFailure::Limits(refused));
    }
    let module: &Module = module;
    for unit in Unit::added(module) {
        let code = match unit {
            Unit::Companion(g, c) => lower_companion(g, c),
            Unit::Registrar(r) => lower_registrar(module, r),
        }
        .map_err(|e| LowerFailure::Internal(unit.span(module), e.to_string()))?;
        programs.push(CompiledProgram {
            symbol: unit.symbol().to_string(),
            section: unit.hook().spec().section,
            code,
        });
    }
    Ok(programs)
}

/// A block's program, or `None` when the kernel would refuse it (a limit known before
/// lowering, a classifier table too large, or a limit of the lowered code; added to
/// `refused`); `Err` for a compiler bug.
fn lower_block(
    module: &mut Module,
    id: ProgId,
    level: OptLevel,
    sizing: &Sizing,
    refused: &mut Vec<Diagnostic>,
) -> Result<Option<Code>, LowerFailure> {
    let p = &module.programs[id];
    if let Some(d) = crate::bpf::limits::diagnose_early(module, p) {
        refused.push(d);
        return Ok(None);
    }
    let too_large: Vec<_> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Classify(c) => crate::bpf::classify::table_limit(p, c),
            _ => None,
        })
        .collect();
    if !too_large.is_empty() {
        refused.extend(too_large);
        return Ok(None);
    }
    let internal = |(span, msg)| LowerFailure::Internal(span, msg);
    let code = lower(module, id, level, sizing).map_err(internal)?;
    let p = &module.programs[id];
    check_references(p, &code).map_err(internal)?;
    // The kernel's limits, before the kernel: a program that breaks one is refused
    // here with the rules responsible (bpf::limits).
    let usage = crate::bpf::limits::measure(&code);
    match crate::bpf::limits::diagnose(p, &code, &usage) {
        Some(d) => {
            refused.push(d);
            Ok(None)
        }
        None => Ok(Some(code)),
    }
}

/// The metadata of every program, in the object's order (`programs`, lowered by
/// [`lower_module`]): each block's, with the socket slots of its code; the
/// companions of each sockmap group (which also give the group's blocks their
/// program array); the registrars'.
fn program_metas(module: &Module, programs: &[CompiledProgram]) -> Vec<ProgramMeta> {
    let mut metas: Vec<ProgramMeta> = module
        .programs
        .values()
        .zip(programs)
        .map(|(p, c)| ProgramMeta {
            socket_slots: c.code.socket_slots.clone(),
            kernel_refs: c.code.kernel_refs.clone(),
            ..ProgramMeta::of(module, p)
        })
        .collect();
    let mut companions = Vec::new();
    for g in &module.sockmaps {
        companions.extend(ProgramMeta::of_group(g, &mut metas));
    }
    metas.extend(companions);
    let registrars = &programs[programs.len() - module.registrars.len()..];
    for (r, c) in module.registrars.iter().zip(registrars) {
        metas.push(ProgramMeta::of_registrar(r, &c.code));
    }
    metas
}

impl Compiled {
    /// This file lowered again with an installed generation's counter slots (rules
    /// matched by text, see [`crate::ir::slots`]) and map sizes (where the new
    /// contents fit): when the files differ only in classifier tables or set
    /// contents, the result has the installed code and map shapes, so its tables can
    /// replace the installed ones in place.
    pub fn refit(&self, installed: &Refit) -> Result<Compiled, RefitError> {
        if self.shed {
            return Err(RefitError::Shed);
        }
        let mut module = self.module.clone();
        crate::sema::symbols::fit(&mut module, &installed.symbols);
        keep_slots(&mut module, &installed.slots);
        crate::ir::verify::renumbered(&module)?;
        lower_module(module, self.level, Some(&installed.sizing)).map_err(RefitError::from_lowering)
    }

    /// This file with its programs' symbols fitted to an installed generation's
    /// (`installed`: each program's hook, attach point and symbol, under which its
    /// hook's link is pinned; `sema::symbols::fit`), when any changes: the code is the
    /// same, the names in the module, the object and the metadata are the installed
    /// generation's. `None` when every symbol fits already.
    pub fn with_symbols_fitted(
        &self,
        installed: &[(HookKind, String, String)],
    ) -> Option<Compiled> {
        // Checked on the names alone: the file (megabytes at 100k rules) is copied only
        // when one changes, and once.
        if !crate::sema::symbols::misfit(&self.module, installed) {
            return None;
        }
        let mut fitted = self.clone();
        let renamed = crate::sema::symbols::fit(&mut fitted.module, installed);
        let to = |s: &String| {
            renamed
                .iter()
                .find(|(before, _)| before == s)
                .map(|(_, after)| after.clone())
        };
        for p in &mut fitted.programs {
            if let Some(new) = to(&p.symbol) {
                p.symbol = new;
            }
        }
        for p in &mut fitted.metadata.programs {
            if let Some(new) = to(&p.symbol) {
                p.symbol = new;
            }
        }
        Some(fitted)
    }

    /// This file lowered as [`finish`] lowers it, when it was compiled fitted to an
    /// installed generation ([`finish_fitted`]); `None` when it was not.
    pub fn unfitted(&self) -> Option<Result<Compiled, RefitError>> {
        let sema_slots = self.fitted.as_ref()?;
        if self.shed {
            return Some(Err(RefitError::Shed));
        }
        let mut module = self.module.clone();
        sema_slots.restore(&mut module);
        Some(lower_module(module, self.level, None).map_err(RefitError::from_lowering))
    }

    /// Drops what only lowering the file again reads ([`Compiled::refit`],
    /// [`Compiled::unfitted`]), for an install that will not (a first one): every
    /// program's steps, whose classifier tries are in [`Compiled::tables`] already,
    /// and its rules but those `keep` keeps (what the caller still reads of them).
    /// The code, maps, tables and metadata stay as they are; refit and unfitted fail
    /// ([`RefitError::Shed`]) from now on.
    pub fn shed_lowering(&mut self, keep: impl Fn(&Rule) -> bool) {
        for p in self.module.programs.values_mut() {
            p.steps = Vec::new();
            p.rules.retain(|r| keep(r));
            p.rules.shrink_to_fit();
        }
        self.shed = true;
    }

    /// The ELF object.
    pub fn to_elf(&self) -> Result<Vec<u8>, ObjError> {
        let metadata = serde_json::to_vec(&self.metadata).expect("metadata serializes");
        self.object(&metadata, &self.tables)
    }

    /// The ELF object with empty `.sockc` and `.sockc.tables` sections: all a loader
    /// that holds [`Compiled::metadata`] and [`Compiled::tables`] itself reads (the
    /// runtime's `load_described`, handed the tables in its options), without the
    /// metadata's JSON, which is most of the object with many rules (about 10 MB at
    /// 100k) and would be serialized only to be thrown away, nor a copy of the
    /// classifier tables (3.5 MB at 10k ClassBench rules).
    pub fn to_loadable_elf(&self) -> Result<Vec<u8>, ObjError> {
        self.object(&[], &[])
    }

    /// The ELF object carrying `metadata` in its `.sockc` section and `tables` in its
    /// `.sockc.tables` section.
    fn object(&self, metadata: &[u8], tables: &[u8]) -> Result<Vec<u8>, ObjError> {
        let img = ObjectImage {
            programs: self
                .programs
                .iter()
                .map(|p| ProgramImage {
                    name: p.symbol.clone(),
                    section: p.section.to_string(),
                    insns: p.code.insns.clone(),
                    map_relocs: p.code.map_relocs.clone(),
                })
                .collect(),
            maps: self.maps.clone(),
            license: "GPL".into(),
            metadata,
            tables,
        };
        crate::obj::write_object(&img)
    }

    /// Disassembly of every program, each under a header naming it.
    pub fn asm(&self) -> String {
        let mut out = String::new();
        for (p, meta) in self.programs.iter().zip(&self.metadata.programs) {
            out.push_str(&format!(
                "{}: {} {} section {} ({} insns)\n",
                p.symbol,
                meta.hook,
                if meta.attach_to.is_empty() {
                    "-"
                } else {
                    &meta.attach_to
                },
                p.section,
                p.code.insns.len()
            ));
            out.push_str(&crate::disasm::disassemble(
                &p.code.insns,
                &p.code.map_relocs,
                &p.code.notes,
            ));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::{Insn, Reg};
    use aya_obj::generated::bpf_func_id;

    /// A lowered program whose lookup is not released is refused with a diagnostic
    /// at the rule that made the lookup.
    #[test]
    fn an_unreleased_reference_names_its_rule() {
        let src = "xdp on eth0 {\n    drop udp to *:53\n    allow tcp to 1.1.1.0/24:53 if socket exists\n    default drop\n}\n";
        let (compiled, _) = compile(src, &Options::default());
        let compiled = compiled.expect("compiles");
        let prog = compiled.module.programs.values().next().unwrap();
        let mut code = compiled.programs[0].code.clone();
        assert_eq!(check_references(prog, &code), Ok(()));
        let release = Insn::call(bpf_func_id::BPF_FUNC_sk_release as u32);
        let at = code.insns.iter().position(|i| *i == release).unwrap();
        code.insns[at] = Insn::mov64_imm(Reg::R0, 0);
        let (span, msg) = check_references(prog, &code).unwrap_err();
        assert_eq!(
            &src[span.start..span.end],
            "allow tcp to 1.1.1.0/24:53 if socket exists"
        );
        assert!(
            msg.contains("line 3") && msg.contains("still held"),
            "{msg}"
        );
    }
    /// Without the lints a compile reports no anomaly but builds the same object,
    /// byte for byte; other warnings stay.
    #[test]
    fn skipping_the_lints_drops_their_warnings_and_nothing_else() {
        let src = "xdp on eth0 {\n    drop tcp to *:22\n    drop tcp to *:22\n    allow udp to 2001:db8::1:53\n    default allow\n}\n";
        let codes = |d: &[Diagnostic]| d.iter().map(|d| d.code.to_string()).collect::<Vec<_>>();
        let skip = Options {
            lints: Lints::Skip,
            ..Options::default()
        };
        let (linted, all) = compile(src, &Options::default());
        let (skipped, fewer) = compile(src, &skip);
        assert!(
            codes(&all).contains(&"sockc::shadowed".to_string()),
            "{:?}",
            codes(&all)
        );
        assert!(codes(&fewer)
            .iter()
            .all(|c| c != "sockc::shadowed" && c != "sockc::redundant"));
        assert!(
            codes(&fewer).contains(&"sockc::ipv6-port".to_string()),
            "{:?}",
            codes(&fewer)
        );
        let (linted, skipped) = (linted.unwrap(), skipped.unwrap());
        assert_eq!(linted.to_elf().unwrap(), skipped.to_elf().unwrap());
    }

    /// Shedding as the compile goes gives what shedding after it gives: the same
    /// object, metadata and module, and neither refits.
    #[test]
    fn a_shed_compile_is_a_compile_then_shed() {
        let mut src = String::from("set web = { 80, 443, 8000-8080 }\nxdp on eth0 {\n");
        for i in 0..120 {
            let verdict = ["allow", "drop"][i % 2];
            src.push_str(&format!(
                "    {verdict} ip4 tcp from 10.{}.{}.0/24 to *:{}\n",
                i / 200,
                i % 200,
                1000 + i
            ));
        }
        src.push_str("    drop ip4 tcp to 192.0.2.1:@web\n    allow udp from *:@web\n");
        src.push_str("    default allow\n}\n");
        let keep = |r: &Rule| r.text.contains('@');
        let opts = Options::default();
        let (whole, _) = finish(check(&src, &opts).unwrap(), &opts);
        let (shed, _) = finish_shed(check(&src, &opts).unwrap(), &opts, &keep);
        let (mut whole, shed) = (whole.unwrap(), shed.unwrap());
        assert!(whole
            .module
            .programs
            .values()
            .any(|p| p.steps.iter().any(|s| matches!(s, Step::Classify(_)))));
        whole.shed_lowering(keep);
        assert_eq!(whole.to_elf().unwrap(), shed.to_elf().unwrap());
        assert_eq!(whole.metadata, shed.metadata);
        assert_eq!(format!("{:?}", whole.module), format!("{:?}", shed.module));
        assert_eq!(shed.module.programs.values().next().unwrap().rules.len(), 2);
        assert!(matches!(
            shed.refit(&Refit::default()),
            Err(RefitError::Shed)
        ));
    }

    /// The metadata a loaded object is given is the whole one with every program's
    /// rules left out: sockets, registrars and their places to patch kept.
    #[test]
    fn metadata_without_rules_is_the_metadata_but_its_rules() {
        let src = include_str!("../../rules/sk_lookup/register.sk");
        let (compiled, diags) = compile(src, &Options::default());
        let whole = compiled.unwrap_or_else(|| panic!("{diags:?}")).metadata;
        let shown = whole.without_rules();
        let mut expected = whole.clone();
        for p in &mut expected.programs {
            p.rules = Vec::new().into();
        }
        assert_eq!(shown, expected);
        assert!(whole.programs.iter().all(|p| !p.rules.is_empty()));
        assert!(whole.programs.iter().any(|p| !p.netns_cookie.is_empty()));
        assert!(whole.programs.iter().any(|p| !p.socket_slots.is_empty()));
        assert!(!whole.sockets.is_empty());
    }

    /// The loadable object is the object with an empty metadata section: the same
    /// programs, maps and tables.
    #[test]
    fn the_loadable_object_leaves_out_only_the_metadata() {
        let src =
            "xdp on eth0 {\n    drop tcp to 10.0.0.0/8:22\n    allow udp\n    default drop\n}\n";
        let compiled = compile(src, &Options::default()).0.expect("compiles");
        let (full, loadable) = (
            compiled.to_elf().unwrap(),
            compiled.to_loadable_elf().unwrap(),
        );
        assert!(loadable.len() < full.len());
        let section =
            |elf: &[u8]| crate::obj::read_section(elf, crate::obj::METADATA_SECTION).unwrap();
        assert_eq!(section(&loadable), Some(Vec::new()));
        assert!(crate::metadata::read(&full).is_ok_and(|m| m == compiled.metadata));
        let raw = |elf: &[u8]| crate::obj::raw_program(elf, &compiled.programs[0].symbol).unwrap();
        assert_eq!(format!("{:?}", raw(&full)), format!("{:?}", raw(&loadable)));
        assert_eq!(
            crate::obj::read_section(&full, crate::obj::TABLES_SECTION).unwrap(),
            crate::obj::read_section(&loadable, crate::obj::TABLES_SECTION).unwrap()
        );
    }

    /// Every classifier table's digest is `maps::table_digest` of its bytes, whether
    /// the table was hashed beside the metadata (1 MiB or more) or in place, and for a
    /// first install's shed compile as for a whole one.
    #[test]
    fn table_digests_are_their_bytes() {
        let mut big = String::from("xdp on eth0 {\n");
        for i in 0..20_000u32 {
            let (a, b) = (i / 250, i % 250);
            big.push_str(&format!(
                "    drop ip4 tcp from 10.{a}.{b}.0/24 to 192.0.2.{b}:{}\n",
                1 + i % 999
            ));
        }
        big.push_str("    default allow\n}\n");
        let small = "xdp on eth0 {\n".to_string()
            + &(0..40)
                .map(|i| format!("    drop ip4 udp to 198.51.100.{i}:53\n"))
                .collect::<String>()
            + "    default allow\n}\n";
        let mut sizes = Vec::new();
        for src in [&big, &small] {
            let (compiled, diags) = compile(src, &Options::default());
            let compiled = compiled.unwrap_or_else(|| panic!("{diags:?}"));
            let checked = check(src, &Options::default()).unwrap_or_else(|d| panic!("{d:?}"));
            let (shed, _) = finish_shed(checked, &Options::default(), &|_| true);
            for c in [&compiled, &shed.expect("compiles")] {
                assert!(!c.metadata.tables.is_empty());
                for t in &c.metadata.tables {
                    let bytes = &c.tables[t.offset as usize..(t.offset + t.stored) as usize];
                    assert_eq!(t.digest, maps::table_digest(bytes), "{}", t.map);
                }
            }
            sizes.push(compiled.tables.len());
        }
        assert!(
            sizes[0] >= HASH_BESIDE_MIN && sizes[1] < HASH_BESIDE_MIN,
            "{sizes:?}"
        );
    }
}
