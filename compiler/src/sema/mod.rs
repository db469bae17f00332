//! Checking: AST → IR plus diagnostics.
//!
//! Resolves names (sets, sockets), checks every rule against its hook's row in the
//! hook table (matches, actions, conditions), checks sets (empty, mixed, overlapping),
//! and requires one `default` per hook block. Invariant: all errors of a file are
//! reported in one run (sema never stops at the first), and an IR [`Module`] is
//! returned only when there is no error at all.

mod cgroup_match;
mod comm;
mod ct;
mod ct_entry;
pub(crate) mod frames;
mod header;
pub(crate) mod ids;
pub(crate) mod iface;
mod limit;
mod mark;
mod netfilter;
mod owner;
mod redirect;
pub(crate) mod register;
mod reject;
mod residual;
pub(crate) mod rules;
mod set_lines;
pub(crate) mod sets;
pub(crate) mod sockmap;
mod stream;
pub(crate) mod symbols;

pub use rules::{icmp_type_by_name, ICMP_TYPES};
pub(crate) use stream::check_streamed;

use std::{collections::HashMap, path::PathBuf};

use crate::{
    diag::{quote, Code, Diagnostic, Sink, Span},
    hooks::{self, HookKind},
    ir::{Module, Program, SetId, SockId, Socket},
    limits::{Limit, Limits},
    syntax::ast::{self, Decl, HookHead, Item, Stmt},
};

/// Inputs sema needs beyond the AST.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Directory that `file "..."` set paths are relative to (the rule file's); the
    /// current directory when `None`. Set files must lie in this directory's tree
    /// (or in one of `set_dirs`): see [`sets`].
    pub base_dir: Option<PathBuf>,
    /// More directories whose trees set files may come from (`--set-dir`). Lines of
    /// files read from there are never quoted in diagnostics.
    pub set_dirs: Vec<PathBuf>,
    pub limits: Limits,
    /// The elements of `file` sets as an install recorded them, by set name: such a
    /// set takes them instead of reading its file (what `apply --dry-run` compares
    /// with: a million recorded elements are not written out as text to be parsed
    /// again). A set this does not name, or names with no elements, reads its file.
    pub recorded_sets: Option<std::sync::Arc<RecordedLists>>,
    /// Called as sema opens a set file of a megabyte or more, before reading it (again
    /// for each such file): what the caller would do beside a long read starts then
    /// (an apply of a small rule file reads its installed generation ahead only once
    /// it meets a large set file, `apply`'s `compile_and_install`).
    pub on_large_set_file: Option<Hook>,
    /// Called once the thread that reads a long block's second half (`stream`) is
    /// done, on that thread: the second core is then idle until the front end ends
    /// and the classifiers' builds start, and what the caller would do beside them
    /// starts then (an apply of a large file reads its installed generation). Not
    /// called where no block is split.
    pub on_second_core_free: Option<Hook>,
}

/// A call of [`Options::on_large_set_file`] or [`Options::on_second_core_free`].
#[derive(Clone)]
pub struct Hook(pub std::sync::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// IPv4 and IPv6 prefixes of `file` sets, by set name ([`Options::recorded_sets`]).
pub type RecordedLists =
    std::collections::BTreeMap<String, (Vec<ipnet::Ipv4Net>, Vec<ipnet::Ipv6Net>)>;

/// What a set name resolved to.
#[derive(Clone, Debug)]
pub(crate) enum SetKind {
    Addr(SetId),
    Ports(Vec<(u16, u16)>),
    /// The declaration had errors; uses of it are not reported again.
    Broken,
}

pub(crate) struct Checker<'a> {
    pub src: &'a str,
    pub lines: LineCursor<'a>,
    pub opts: &'a Options,
    pub diags: Sink,
    pub module: Module,
    pub sets: HashMap<String, (SetKind, Span)>,
    pub sockets: HashMap<String, (SockId, Span)>,
    /// Set elements and set-file bytes taken so far: the set limits count all the
    /// sets of a file together, so many sets cannot add up to unbounded work.
    pub set_elements: u64,
    pub set_file_bytes: u64,
    /// Sockets whose declaration was refused (past the limit): uses are not errors.
    pub refused_sockets: std::collections::HashSet<String>,
    /// Sockets declared with `cgroup "PATH"` (their registrars are built last).
    pub self_registered: Vec<(SockId, String, Span)>,
    /// The file's first `ct state` was told that conntrack must be on.
    pub ct_warned: bool,
    /// The `reject answers` lines seen.
    pub answers_seen: reject::AnswersSeen,
    /// The next counter slot (one per rule, then the block's default).
    pub counter: u32,
    /// Each hook and attach point's first block head.
    pub seen_hooks: HashMap<(HookKind, String), Span>,
    /// Hook blocks begun, refused ones included ([`MAX_BLOCKS`]).
    pub blocks_begun: usize,
}

/// Most hook blocks one file may hold. Each block is a program, compiled and then
/// loaded and attached: a 2.5 MB file of 80,000 one-line blocks took 45 s and 2 GB to
/// check, where no host attaches that many programs from one file. Blocks past it are
/// refused, once, and not compiled.
pub const MAX_BLOCKS: usize = 4096;

/// Checks a parsed file. The module is `Some` only when no error was found. The AST
/// is consumed as it is read: each rule's is freed once its IR is made, so the two
/// are not held whole at once (at 100k rules they were the peak of a compile).
pub fn check(file: ast::File, src: &str, opts: &Options) -> (Option<Module>, Vec<Diagnostic>) {
    let mut c = Checker::new(src, opts);
    // Declarations first, so a rule may use a set declared further down. Those
    // written inside a block (the parser reported them) are declared too, so that
    // their uses are not reported again.
    for item in &file.items {
        c.declare(item);
        if let Item::Hook(h) = item {
            for st in &h.stmts {
                match st {
                    Stmt::Decl(Decl::Set(s)) => c.declare_set(s),
                    Stmt::Decl(Decl::Socket(s)) => c.declare_socket(s),
                    _ => {}
                }
            }
        }
    }
    for item in file.items {
        if let Item::Hook(h) = item {
            c.whole_block(h);
        }
    }
    c.finish()
}

impl<'a> Checker<'a> {
    pub(crate) fn new(src: &'a str, opts: &'a Options) -> Checker<'a> {
        Checker {
            src,
            lines: LineCursor::new(src),
            opts,
            diags: Sink::new(opts.limits.count(Limit::Diagnostics)),
            module: Module::default(),
            sets: HashMap::new(),
            sockets: HashMap::new(),
            set_elements: 0,
            set_file_bytes: 0,
            self_registered: Vec::new(),
            refused_sockets: Default::default(),
            ct_warned: false,
            answers_seen: Default::default(),
            counter: 0,
            seen_hooks: HashMap::new(),
            blocks_begun: 0,
        }
    }

    /// A file-level declaration (a hook block declares nothing here).
    pub(crate) fn declare(&mut self, item: &Item) {
        match item {
            Item::Set(s) => self.declare_set(s),
            Item::Socket(s) => self.declare_socket(s),
            Item::Answers(a) => self.declare_answers(a),
            Item::Residual(r) => self.declare_residual(r),
            Item::Hook(_) => {}
        }
    }

    /// A whole hook block, its statements dropped one by one as they are read.
    pub(crate) fn whole_block(&mut self, h: ast::HookBlock) {
        let mut b = self.begin_block(&h.head, h.head_span, h.stmts.len());
        for stmt in h.stmts {
            self.block_stmt(&mut b, stmt, &mut Vec::new());
        }
        self.end_block(b, h.span, h.closed);
    }

    /// What is left once every block is read: the `reject answers` check, the
    /// programs sockc adds, the symbols. The module is `Some` only without errors.
    pub(crate) fn finish(mut self) -> (Option<Module>, Vec<Diagnostic>) {
        self.check_answers_used();
        // sockmap blocks: one group per cgroup, with the programs sockc adds.
        let mut counter = self.counter;
        self.sockmap_groups(&mut counter);
        // sk_lookup: one registrar per cgroup that `socket` declarations name.
        self.registrars(&mut counter);
        symbols::assign(&mut self.module);
        let module = (!self.diags.has_errors()).then_some(self.module);
        (module, self.diags.finish())
    }
}

impl Checker<'_> {
    /// False (reported, `help` as the way out) when the rule already has a match of
    /// `kind` at `*seen`; otherwise records `sp` there. Every match a rule may have
    /// once (`ct state`, `limit`, `route`, `mark`, `owner`, `in on`, `out on`) is
    /// checked here, in the same words.
    fn first_of_kind(&mut self, seen: &mut Option<Span>, sp: Span, kind: &str, help: &str) -> bool {
        if let Some(prev) = *seen {
            self.diags.push(
                Diagnostic::new(Code::Conflict, format!("more than one `{kind}` in a rule"))
                    .label(sp, "second one")
                    .label(prev, "first one")
                    .help(help.to_string()),
            );
            return false;
        }
        *seen = Some(sp);
        true
    }

    fn declare_socket(&mut self, s: &ast::SocketDecl) {
        if let Some((_, prev)) = self.sockets.get(&s.name.name) {
            let prev = *prev;
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateName,
                    format!("socket `{}` is declared twice", quote(&s.name.name)),
                )
                .label(s.name.span, "declared again here")
                .label(prev, "first declared here"),
            );
            return;
        }
        let max = crate::ir::SOCKETS_MAX as usize;
        if self.module.sockets.len() == max {
            self.diags.push(
                Diagnostic::new(
                    Code::TooManySockets,
                    format!("more than {max} sockets declared"),
                )
                .label(s.name.span, format!("socket number {}", max + 1))
                .help(format!("the socket map has {max} slots")),
            );
            self.refused_sockets.insert(s.name.name.clone());
            return;
        }
        self.check_socket_address(s);
        let cgroup_ok = self.check_socket_cgroup(s);
        let owner = self.socket_owner(s);
        let id = self.module.sockets.push(Socket {
            name: s.name.name.clone(),
            proto: s.proto,
            addr: s.addr,
            cgroup: s
                .cgroup
                .as_ref()
                .map(|(path, _)| sockmap::normalize_cgroup(path)),
            owner,
        });
        self.sockets.insert(s.name.name.clone(), (id, s.name.span));
        if let (Some((path, span)), true) = (&s.cgroup, cgroup_ok) {
            self.self_registered
                .push((id, sockmap::normalize_cgroup(path), *span));
        }
    }

    /// A hook block begins: its head checked (and against the blocks before it), room
    /// for about `stmts` rules.
    pub(crate) fn begin_block(&mut self, head: &HookHead, head_span: Span, stmts: usize) -> Block {
        let kind = HookKind::of(head);
        self.blocks_begun += 1;
        if self.blocks_begun > MAX_BLOCKS {
            return self.refused_block(kind, head_span);
        }
        let attach_to = match head {
            HookHead::Xdp { iface } | HookHead::Tc { iface, .. } => iface.clone(),
            HookHead::Sockmap { cgroup, .. }
            | HookHead::Cgroup { path: cgroup, .. }
            | HookHead::CgroupCall { path: cgroup, .. } => sockmap::normalize_cgroup(cgroup),
            HookHead::SkLookup => String::new(),
            HookHead::Netfilter { priority, .. } => priority
                .unwrap_or(hooks::NF_DEFAULT_PRIORITY.into())
                .to_string(),
        };
        if let Some(prev) = self.seen_hooks.insert((kind, attach_to.clone()), head_span) {
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateHook,
                    format!(
                        "a second `{}` block for the same attach point",
                        kind.block_spec().name
                    ),
                )
                .label(head_span, "second block")
                .label(prev, "first block here")
                .help(
                    "merge the two blocks: rules of one hook run in one program, first match wins",
                ),
            );
        }
        self.check_hook_head(head_span, kind.block_spec(), &attach_to);
        Block::new(kind, attach_to, head_span, Vec::with_capacity(stmts))
    }

    /// A block past [`MAX_BLOCKS`]: said once (at the first), its statements dropped
    /// as they are read, no program made.
    fn refused_block(&mut self, kind: HookKind, head_span: Span) -> Block {
        if self.blocks_begun == MAX_BLOCKS + 1 {
            self.diags.push(
                Diagnostic::new(
                    Code::TooManyBlocks,
                    format!("more than {MAX_BLOCKS} hook blocks in one file"),
                )
                .label(head_span, format!("block number {}", MAX_BLOCKS + 1))
                .help("merge blocks of one hook, or split the file between installs"),
            );
        }
        Block {
            refused: true,
            ..Block::new(kind, String::new(), head_span, Vec::new())
        }
    }

    /// The next statement of block `b`, dropped once read.
    /// One statement of block `b`; a rule's match list is left in `spare`, emptied,
    /// for the scanner to fill again ([`crate::syntax::Sink::stmt`]).
    pub(crate) fn block_stmt(&mut self, b: &mut Block, stmt: Stmt, spare: &mut Vec<ast::Match>) {
        if b.refused {
            return;
        }
        let spec = b.kind.block_spec();
        match stmt {
            Stmt::Default(v, sp, log) => {
                if let Some((_, prev)) = b.default {
                    self.diags.push(
                        Diagnostic::new(Code::DuplicateDefault, "a second `default` in one block")
                            .label(sp, "second default")
                            .label(prev, "first default here"),
                    );
                    return;
                }
                self.check_default_verdict(spec, v, sp);
                b.default = Some((v, sp));
                b.default_log = log;
            }
            Stmt::Rule(r) => {
                if let Some(rule) = self.rule(&r, spec, self.counter) {
                    self.note_rule(b, rule);
                }
                self.counter += 1;
                *spare = emptied(r.matches);
            }
            // Reported by the parser.
            Stmt::Decl(_) => {}
            Stmt::BadDefault(_) => b.broken_default = true,
        }
    }

    /// A rule of block `b` checked: into its list, and its part in the lockout
    /// check noted (packet hooks only: the others never warn).
    fn note_rule(&self, b: &mut Block, rule: crate::ir::Rule) {
        if b.kind.block_spec().caps.frames {
            self.note_probes(&mut b.probes, &rule);
        }
        b.rules.push(rule);
    }

    /// Block `b` ends at `span` (`closed`: its `}` came): one `default`, and its program
    /// (and its IPv6 twin) into the module.
    pub(crate) fn end_block(&mut self, b: Block, span: Span, closed: bool) {
        if b.refused {
            return;
        }
        let spec = b.kind.block_spec();
        // A block cut short, or whose `default` did not parse, was reported already.
        if b.default.is_none() && (b.broken_default || !closed) {
            return;
        }
        let Some((default, default_span)) = b.default else {
            self.report_missing_default(b.head_span, spec);
            return;
        };
        let default_counter = self.counter;
        self.counter += 1;
        if let Some((rate, sp)) = b.default_log {
            self.log_option(spec, false, rate, sp, default_counter);
        }
        let p = Program {
            hook: b.kind,
            attach_to: b.attach_to,
            symbol: String::new(),
            steps: Program::unoptimized_steps(b.rules.len()),
            rules: b.rules,
            default,
            default_line: self.lines.line(default_span),
            default_span,
            default_counter,
            span,
        };
        self.check_lockout(&p, spec, b.probes);
        let mut counter = self.counter;
        let twin = b.kind.ipv6_twin().map(|k| self.twin(&p, k, &mut counter));
        self.counter = counter;
        self.module.programs.push(p);
        if let Some(twin) = twin {
            self.module.programs.push(twin);
        }
    }

    /// The IPv6 program of a socket-call block whose IPv4 program is `prog`: the same
    /// rules (an IPv4 rule matches there the IPv4-mapped addresses an IPv6 socket
    /// connects to), each with a counter slot of its own, so that each family's calls
    /// are counted where they are decided.
    fn twin(&mut self, prog: &Program, kind: HookKind, counter: &mut u32) -> Program {
        let mut next = || {
            *counter += 1;
            *counter - 1
        };
        let mut twin = prog.clone();
        twin.hook = kind;
        for r in &mut twin.rules {
            r.counter = next();
            if let Some(l) = r.m.limit_mut() {
                l.slot = r.counter;
            }
        }
        twin.default_counter = next();
        let logs: Vec<(u32, u32)> = prog
            .rules
            .iter()
            .map(|r| r.counter)
            .chain([prog.default_counter])
            .zip(
                twin.rules
                    .iter()
                    .map(|r| r.counter)
                    .chain([twin.default_counter]),
            )
            .filter_map(|(old, new)| self.module.logs.get(&old).map(|rate| (new, *rate)))
            .collect();
        self.module.logs.extend(logs);
        twin
    }

    /// A block's head: a hook that can be compiled, on a valid interface name or
    /// cgroup where it attaches to one.
    fn check_hook_head(&mut self, head_span: Span, spec: &hooks::HookSpec, attach_to: &str) {
        if let Some(why) = spec.unsupported {
            self.diags.push(
                Diagnostic::new(Code::Unsupported, why.to_string())
                    .label(head_span, "this hook cannot be compiled yet"),
            );
        }
        if spec.target == hooks::Target::Interface && !valid_interface_name(attach_to) {
            self.diags.push(
                Diagnostic::new(
                    Code::BadInterface,
                    format!("`{}` is not a valid interface name", quote(attach_to)),
                )
                .label(
                    head_span,
                    "interface names are 1 to 15 characters, without `/`, `:`, blanks or \
                     control characters",
                ),
            );
        }
        if matches!(spec.target, hooks::Target::TailCall | hooks::Target::Cgroup) {
            self.check_cgroup(head_span, attach_to);
        }
        if spec.target == hooks::Target::Netfilter {
            self.check_nf_priority(head_span, attach_to);
        }
    }

    /// `default v` (at `sp`) must be a verdict of the hook.
    fn check_default_verdict(&mut self, spec: &hooks::HookSpec, v: ast::Verdict, sp: Span) {
        if spec.defaults.contains(&v) {
            return;
        }
        let allowed: Vec<_> = spec
            .defaults
            .iter()
            .map(|v| crate::ir::verdict_name(*v))
            .collect();
        self.diags.push(
            Diagnostic::new(
                Code::BadVerdict,
                format!(
                    "`default {}` is not a verdict of {} hooks",
                    crate::ir::verdict_name(v),
                    spec.name
                ),
            )
            .label(sp, "not allowed here")
            .help(format!(
                "use one of: default {}",
                allowed.join(", default ")
            )),
        );
    }

    fn report_missing_default(&mut self, head_span: Span, spec: &hooks::HookSpec) {
        let allowed: Vec<_> = spec
            .defaults
            .iter()
            .map(|v| crate::ir::verdict_name(*v))
            .collect();
        self.diags.push(
            Diagnostic::new(
                Code::MissingDefault,
                format!("`{}` block has no `default`", spec.name),
            )
            .label(
                head_span,
                "every hook block must say what happens when no rule matches",
            )
            .help(format!(
                "add `default {}` as the last line of the block",
                allowed.join("` or `default ")
            )),
        );
    }

    pub(crate) fn set_by_name(&mut self, id: &ast::Ident) -> Option<SetKind> {
        match self.sets.get(&id.name) {
            Some((k, _)) => Some(k.clone()),
            None => {
                let mut d = Diagnostic::new(
                    Code::UnknownSet,
                    format!("no set named `{}`", quote(&id.name)),
                )
                .label(id.span, "not declared");
                if let Some(near) = closest(&id.name, self.sets.keys()) {
                    d = d.help(format!("did you mean `@{near}`?"));
                } else {
                    d = d.help(format!("declare it: set {} = {{ ... }}", quote(&id.name)));
                }
                self.diags.push(d);
                None
            }
        }
    }
}

/// A rule's match list emptied (its items dropped, its room kept), for the scanner to
/// fill again.
pub(crate) fn emptied(mut list: Vec<ast::Match>) -> Vec<ast::Match> {
    list.clear();
    list
}

/// Line numbers of spans, for spans asked about roughly in file order (sema walks the
/// rules in order): it counts the newlines between one question and the next, so a
/// whole file costs one pass and no index. The answers are [`crate::diag::LineIndex`]'s.
pub(crate) struct LineCursor<'a> {
    src: &'a [u8],
    pos: usize,
    /// 1-based line of `pos`.
    line: usize,
}

impl<'a> LineCursor<'a> {
    fn new(src: &'a str) -> Self {
        LineCursor {
            src: src.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// 1-based line of the span's start.
    pub(crate) fn line(&mut self, span: Span) -> usize {
        let at = span.start.min(self.src.len());
        // Newline by newline (a rule's line has one): a count of every byte was about
        // five instructions a byte, a fifth of sema's work per rule at 1k rules.
        let newlines = |s: &[u8]| {
            let (mut n, mut at) = (0, 0);
            while let Some(k) = crate::byte_search::find_byte(b'\n', &s[at..]) {
                n += 1;
                at += k + 1;
            }
            n
        };
        if at >= self.pos {
            self.line += newlines(&self.src[self.pos..at]);
        } else {
            self.line -= newlines(&self.src[at..self.pos]);
        }
        self.pos = at;
        self.line
    }
}

/// The most similar known name, if one is close enough to be a likely typo.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    known
        .map(|k| (strsim::osa_distance(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

/// What the kernel accepts as an interface name (`dev_valid_name`): 1 to 15 bytes
/// (IFNAMSIZ is 16 with the NUL), not `.` or `..`, no `/`, `:`, blanks or control
/// characters (a NUL would cut the name short in the kernel).
fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || crate::diag::is_invisible(c))
}

/// A hook block being read ([`Checker::begin_block`]): its head, the rules so far and
/// its `default`.
pub(crate) struct Block {
    kind: HookKind,
    attach_to: String,
    head_span: Span,
    rules: Vec<crate::ir::Rule>,
    /// What `rules` decide of the lockout check's probes, noted as each was made.
    probes: frames::Probes,
    default: Option<(ast::Verdict, Span)>,
    default_log: Option<(Option<u32>, Span)>,
    broken_default: bool,
    /// Past [`MAX_BLOCKS`]: its statements are dropped.
    refused: bool,
}

impl Block {
    /// A block begun at `head_span`, with no statement read yet.
    fn new(
        kind: HookKind,
        attach_to: String,
        head_span: Span,
        rules: Vec<crate::ir::Rule>,
    ) -> Block {
        Block {
            kind,
            attach_to,
            head_span,
            rules,
            probes: frames::Probes::default(),
            default: None,
            default_log: None,
            broken_default: false,
            refused: false,
        }
    }
}

#[cfg(test)]
mod line_tests {
    use super::LineCursor;
    use crate::diag::{LineIndex, Span};

    /// The cursor counts newlines between questions (one search per newline): its
    /// answers are the index's, for spans asked forward, backward, at newlines, at
    /// the end, and across runs of empty lines.
    #[test]
    fn the_line_cursor_answers_as_the_index() {
        let src = "a\n\nbb\r\n   ccc\n\n\n# x\nd;e\n\nlast";
        let index = LineIndex::new(src);
        let mut cursor = LineCursor::new(src);
        let mut at: Vec<usize> = (0..=src.len()).collect();
        at.extend((0..=src.len()).rev());
        at.extend([3, 30, 0, 17, 17, 2, src.len(), 1]);
        for start in at {
            let span = Span::new(start, start);
            assert_eq!(cursor.line(span), index.line(span), "at {start}");
        }
    }
}
